"""Speed, side by side in one run: bayes-scaling's default fit (a; sampling only, without
the leave-future-out refits that learn the discrepancy) against the hand-written
PyMC model a user would write (b) and least squares with a 1,000-resample bootstrap (c).

    .venv/bin/python benchmarks/speed.py [--sizes example 4 16 64 256] [--methods a b c]
        [--skip-handwritten 256] [--skip-bootstrap 256]

Every measurement runs in a fresh Python process, as a user's script would: numba compiles
part of nutpie's wrapper once per process (about 3 s), and a method measured second in a
shared process would get that for free. Reports wall time including compilation (and how
much of it was compilation), minimum bulk ESS per second over all reported parameters
(per-distribution parameters and hyperparameters), divergences, leapfrog steps per draw,
and the ratios a/b (min ESS/s) and c/a (wall time). The row "(a) refit" is a second fit
of the same data in the same process, which reuses the compiled model, as notebooks,
calibration studies and experiment loops do.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from results import record

HERE = Path(__file__).resolve().parent


def min_ess(posterior) -> float:
    import arviz_stats as azs

    post = posterior[[v for v in posterior.data_vars if not v.endswith("_z")]]
    return float(min(float(v.min()) for v in azs.ess(post).data_vars.values()))


def data_for(size: str):
    import bayes_scaling as bs
    from bayes_scaling.simulate import DEFAULT_GRID, draw_truth, simulate_runs

    if size == "example":
        return bs.load_dataset("example")
    n = int(size)
    return simulate_runs(draw_truth(n, seed=n), DEFAULT_GRID, runs_per_distribution=30, seed=n)


def measure(method: str, size: str) -> list[dict]:
    """Time one method on one data size in this (fresh) process."""
    runs = data_for(size)
    if method == "a":
        import dataclasses

        import bayes_scaling as bs

        # Sampling is what is compared: (b) learns no discrepancy, so (a) does not either
        # (the leave-future-out refits of the default fit are timed in backtest_real.py).
        spec = bs.load_spec("transfer_gap")
        spec = dataclasses.replace(spec, discrepancy=dataclasses.replace(spec.discrepancy, method="none"))
        rows = []
        for label, seed in (("(a) bayes-scaling", 0), ("(a) refit, compiled model reused", 1)):
            start = time.perf_counter()
            fit = bs.fit(runs, spec, progress=False, warn=False, seed=seed)
            wall = time.perf_counter() - start
            d = fit.diagnostics
            rows.append(
                {
                    "method": label,
                    "wall": wall,
                    "compile": d.compile_seconds,
                    "ess": d.min_ess_bulk,
                    "divergences": d.divergences,
                    "steps": d.mean_steps_per_draw,
                }
            )
        return rows
    from baselines import handwritten_pymc, least_squares_bootstrap  # run from benchmarks/

    start = time.perf_counter()
    if method == "b":
        tree = handwritten_pymc(runs)
        wall = time.perf_counter() - start
        stats = tree.sample_stats.to_dataset()
        return [
            {
                "method": "(b) hand-written PyMC",
                "wall": wall,
                "compile": None,
                "ess": min_ess(tree.posterior.to_dataset()),
                "divergences": int(stats["diverging"].sum()),
                "steps": float(stats["n_steps"].mean()),
            }
        ]
    least_squares_bootstrap(runs)
    return [{"method": "(c) least squares + 1000 bootstrap", "wall": time.perf_counter() - start}]


def in_fresh_process(method: str, size: str) -> list[dict]:
    done = subprocess.run(
        [sys.executable, __file__, "--measure", method, "--size", size],
        cwd=HERE,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"measuring {method} at {size} failed:\n{done.stderr[-3000:]}")
    return [json.loads(line) for line in lines]


def row(size: str, n_runs, r: dict) -> str:
    if "ess" not in r:
        return f"| {size} | {n_runs} | {r['method']} | {r['wall']:.1f} | | n/a | n/a | n/a | n/a |"
    compile_s = "" if r["compile"] is None else f"{r['compile']:.1f}"
    return (
        f"| {size} | {n_runs} | {r['method']} | {r['wall']:.1f} | {compile_s} | {r['ess']:.0f} | "
        f"{r['ess'] / r['wall']:.1f} | {r['divergences']} | {r['steps']:.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", nargs="+", default=["example", "4", "16", "64", "256"])
    parser.add_argument(
        "--skip-handwritten",
        nargs="*",
        default=[],
        help="sizes where the hand-written model is not run (too slow)",
    )
    parser.add_argument(
        "--skip-bootstrap", nargs="*", default=[], help="sizes where the bootstrap is not run (too slow)"
    )
    parser.add_argument("--methods", nargs="+", default=["a", "b", "c"], choices=["a", "b", "c"])
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--size", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        warnings.simplefilter("ignore")
        np.seterr(all="ignore")
        for r in measure(args.measure, args.size):
            print(json.dumps(r), flush=True)
        return

    print(
        "| data | runs | method | wall s | of which compiling | min bulk ESS | min ESS/s "
        "| divergences | steps/draw |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")

    def measured(size, n_runs, r) -> None:
        print(row(size, n_runs, r), flush=True)
        figures = {"runs": n_runs, "wall_seconds": r["wall"], "compile_seconds": r.get("compile")}
        if "ess" in r:  # the bootstrap has none
            figures |= {
                "min_ess_bulk": r["ess"],
                "divergences": r["divergences"],
                "steps_per_draw": r["steps"],
            }
        record("speed", case=f"{size}: {r['method']}", figures=figures)

    def ratio_of(size, label, ratio) -> None:
        print(f"| {size} | | ratio {label} | **{ratio:.1f}x** | | | | | |", flush=True)
        record("speed", case=f"{size}: ratio {label}", figures={"ratio": ratio})

    for size in args.sizes:
        n_runs = len(data_for(size))
        ours = None
        if "a" in args.methods:
            ours, refit = in_fresh_process("a", size)
            measured(size, n_runs, ours)
            measured(size, n_runs, refit)
        if "b" in args.methods and size not in args.skip_handwritten:
            (theirs,) = in_fresh_process("b", size)
            measured(size, n_runs, theirs)
            for r, label in ((ours, "a/b, min ESS/s"), (refit, "a refit/b, min ESS/s")) if ours else ():
                ratio_of(size, label, (r["ess"] / r["wall"]) / max(theirs["ess"] / theirs["wall"], 1e-9))
        if "c" in args.methods and size not in args.skip_bootstrap:
            (boot,) = in_fresh_process("c", size)
            measured(size, n_runs, boot)
            if ours:
                ratio_of(size, "c/a, wall time", boot["wall"] / ours["wall"])


if __name__ == "__main__":
    main()
