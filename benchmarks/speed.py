"""Speed, side by side in one run: bayes-scaling's default fit (a) against the hand-written
PyMC model a user would write (b) and least squares with a 1,000-resample bootstrap (c).

    .venv/bin/python benchmarks/speed.py [--sizes example 4 16 64 256] [--skip-bootstrap]

Reports wall time including compilation, minimum bulk ESS per second over all reported
parameters (per-distribution parameters and hyperparameters), divergences, leapfrog steps
per draw, and the ratios a/b (min ESS/s) and c/a (wall time).
"""

from __future__ import annotations

import argparse
import time
import warnings

import arviz_stats as azs
import numpy as np
from baselines import handwritten_pymc, least_squares_bootstrap  # noqa: I001  (run from benchmarks/)

import bayes_scaling as bs
from bayes_scaling.simulate import DEFAULT_GRID, draw_truth, simulate_runs


def min_ess(posterior) -> float:
    post = posterior[[v for v in posterior.data_vars if not v.endswith("_z")]]
    return float(min(float(v.min()) for v in azs.ess(post).data_vars.values()))


def data_for(size: str):
    if size == "example":
        return bs.load_example()
    n = int(size)
    return simulate_runs(draw_truth(n, seed=n), DEFAULT_GRID, runs_per_distribution=30, seed=n)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", nargs="+", default=["example", "4", "16", "64", "256"])
    parser.add_argument("--skip-bootstrap", action="store_true")
    parser.add_argument("--skip-handwritten", nargs="*", default=[],
                        help="sizes where the hand-written model is not run (too slow)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    print("| data | runs | method | wall s | min bulk ESS | min ESS/s | divergences | steps/draw |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for size in args.sizes:
        runs = data_for(size)
        start = time.perf_counter()
        ours = bs.fit(runs, progress=False, warn=False)
        wall_a = time.perf_counter() - start
        ess_a = min_ess(ours.idata.posterior.to_dataset())
        d = ours.diagnostics
        print(f"| {size} | {len(runs)} | (a) bayes-scaling | {wall_a:.1f} | {ess_a:.0f} | "
              f"{ess_a / wall_a:.1f} | {d.divergences} | {d.mean_steps_per_draw:.0f} |", flush=True)
        if size not in args.skip_handwritten:
            start = time.perf_counter()
            tree = handwritten_pymc(runs)
            wall_b = time.perf_counter() - start
            post = tree.posterior.to_dataset()
            ess_b = min_ess(post)
            stats = tree.sample_stats.to_dataset()
            print(f"| {size} | {len(runs)} | (b) hand-written PyMC | {wall_b:.1f} | {ess_b:.0f} | "
                  f"{ess_b / wall_b:.2f} | {int(stats['diverging'].sum())} | "
                  f"{float(stats['n_steps'].mean()):.0f} |", flush=True)
            ratio = (ess_a / wall_a) / max(ess_b / wall_b, 1e-9)
            print(f"| {size} | | ratio a/b, min ESS/s | **{ratio:.1f}x** | | | | |", flush=True)
        if not args.skip_bootstrap:
            start = time.perf_counter()
            least_squares_bootstrap(runs)
            wall_c = time.perf_counter() - start
            print(f"| {size} | {len(runs)} | (c) least squares + 1000 bootstrap | {wall_c:.1f} | n/a "
                  "| n/a | n/a | n/a |", flush=True)
            print(f"| {size} | | ratio c/a, wall time | **{wall_c / wall_a:.1f}x** | | | | |", flush=True)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
