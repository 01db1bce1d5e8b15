"""What padding a table up to its distribution bucket costs in sampling, and what it changes.

    .venv/bin/python benchmarks/padding.py [--data example six sim12 sim24 mikami2021] [--seeds 2]

For each table and seed, the default fit's sampling alone ([discrepancy] method "none"),
once on a model of the table's own distributions and once padded to its bucket
(``engine.padded_distributions``: distributions without runs), in one process.
Compilation is left out of the comparison (each model is compiled before it is timed):
this measures what a padded model costs per fit once it is compiled. Prints sampling
seconds, leapfrog steps per draw, min bulk ESS, min ESS per second, divergences, and how
far apart the two fits put each distribution's transfer gap: the largest difference of the
posterior mean of log G over its Monte Carlo standard error (both fits' together), which
Monte Carlo error alone keeps below ~3-4.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
import warnings

import arviz_stats as azs
import numpy as np
import shared_data  # noqa: F401, I001  (run from benchmarks/; the real tables offline)
from health import runs_for  # noqa: I001  (run from benchmarks/)

import bayes_scaling as bs
from bayes_scaling import engine

PADDED = engine.padded_distributions


def table(name: str):
    if name == "six":  # six of the example's distributions, 61 of their runs: 6 -> 8
        example = bs.load_example()
        six = example[example.distribution.isin(example.distribution.unique()[:6])]
        return six.sample(n=61, random_state=0).sort_index()
    return runs_for(name)


def one_fit(runs, spec, seed: int, padded: bool):
    engine.padded_distributions = PADDED if padded else (lambda n: n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bs.fit(runs, spec, seed=seed, draws=10, tune=10, chains=1, progress=False, centring_from="spec")
        start = time.perf_counter()
        fit = bs.fit(runs, spec, seed=seed, progress=False)
    return fit, time.perf_counter() - start - fit.diagnostics.compile_seconds


def log_gap_moments(fit) -> tuple[np.ndarray, np.ndarray]:
    log_gap = np.log(fit.idata.posterior["G"]).to_dataset(name="G")
    return log_gap["G"].mean(("chain", "draw")).values, azs.mcse(log_gap)["G"].values


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", nargs="+", default=["six", "sim5", "sim12", "sim24"])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument(
        "--pad-distributions-max", type=int, default=engine.PADDED_DISTRIBUTIONS_MAX,
        help="pad distributions up to this many (to measure a bound other than the package's)",
    )  # fmt: skip
    args = parser.parse_args()
    engine.PADDED_DISTRIBUTIONS_MAX = args.pad_distributions_max
    columns = "table | seed | distributions | sampling s | steps/draw | min ESS | ESS/s | divergences"
    print(f"| {columns} | max dG/MCSE |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in args.data:
        runs = table(name)
        if runs is None:
            print(f"| {name} | skipped: data absent |")
            continue
        model = "transfer_gap_error_rate" if name == "mikami2021" else "transfer_gap"
        spec = bs.load_spec(model)
        spec = dataclasses.replace(spec, discrepancy=dataclasses.replace(spec.discrepancy, method="none"))
        valid = bs.validate_runs(runs)
        for seed in range(args.seeds):
            fits = {}
            for padded in (False, True):
                fit, seconds = one_fit(runs, spec, seed, padded)
                fits[padded] = fit
                n = len(valid.distributions)
                shape = f"{n} -> {PADDED(n)}" if padded else f"{n}"
                d = fit.diagnostics
                ess_rate = d.min_ess_bulk / seconds
                apart = ""
                if padded:
                    (mean_a, se_a), (mean_b, se_b) = log_gap_moments(fits[False]), log_gap_moments(fit)
                    apart = f"{np.max(np.abs(mean_a - mean_b) / np.hypot(se_a, se_b)):.2f}"
                print(
                    f"| {name} | {seed} | {shape} | {seconds:.1f} "
                    f"| {d.mean_steps_per_draw:.0f} | {d.min_ess_bulk:.0f} | {ess_rate:.0f} "
                    f"| {d.divergences} | {apart} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
