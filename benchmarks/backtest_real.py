"""Backtests on real and simulated runs: do bands fitted on small runs cover the large ones?

    .venv/bin/python benchmarks/backtest_real.py [--only mikami2021 lin2024 simulated dask]
        [--simulated-seeds 4]

- mikami2021 (shipped): hold out each distribution's largest pre-training sizes (1 and 2
  levels), then its largest fine-tuning fractions;
- lin2024 (../shared/data/lin2024, no licence: read in place, never copied; skipped with a
  message when absent): the rectified law on the FLAN and Gigaword fine-tuning curves,
  holding out the largest fine-tuning sizes;
- simulated runs where the law is exact: hold out pre-training above 5e9 tokens (10-20x past
  the data); the bands with the learned discrepancy against parameter-and-noise-only bands;
- dask: a rolling backtest of mikami2021 over 3 pre-training cut-offs, serially and on a
  local Dask cluster of 2 workers, numbers and wall time side by side, with each refit's
  seconds and how many of them it spent compiling (0 where its process had compiled the
  model already).
Every figure is for the bands of new runs (observations), default fit settings.
"""

import argparse
import time
import warnings

import numpy as np
import pandas as pd
from results import record  # noqa: I001  (run from benchmarks/)
from shared_data import SHARED_DATA  # sets BAYES_SCALING_DATA_DIR

import bayes_scaling as bs
from bayes_scaling.backtesting import SUMMARY_COLUMNS
from bayes_scaling.prediction import band_table
from bayes_scaling.simulate import DEFAULT_GRID, simulate_runs

LIN2024 = SHARED_DATA / "lin2024"
COLUMNS = ["distribution", *SUMMARY_COLUMNS]
# mikami2021's losses are error rates: the spec with a prior on E for them
MIKAMI_MODEL = "transfer_gap_error_rate"


def report(name: str, runs: pd.DataFrame, model: str = "transfer_gap", **holdout) -> None:
    start = time.perf_counter()
    result = bs.backtest(runs, model, **holdout)
    seconds = time.perf_counter() - start
    fit = result.fit
    print(f"\n## {name}: held out {result.holdout} ({seconds:.0f} s)")
    print(
        f"refit: {fit.diagnostics.divergences} divergences, max r_hat {fit.diagnostics.max_rhat:.3f}, "
        f"{fit.diagnostics.mean_steps_per_draw:.0f} steps/draw at target {fit.diagnostics.target_accept}; "
        f"discrepancy: {fit.discrepancy.describe()}"
    )
    print(result.summary[COLUMNS].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    every = result.summary.set_index("distribution").loc["all"]
    figures = {column: float(every[column]) for column in COLUMNS if column != "distribution"}
    record("backtest_real", case=f"{name}, {model}: {result.holdout}", figures=figures | {"seconds": seconds})


def lin2024_runs(name: str) -> pd.DataFrame:
    wide = pd.read_csv(LIN2024 / f"{name}.csv")
    sizes = [c for c in wide.columns if c.isdigit() and int(c) > 0]
    long = wide.melt(id_vars=["config name"], value_vars=sizes, var_name="finetune_tokens", value_name="loss")
    runs = pd.DataFrame(
        {
            "distribution": long["config name"],
            "finetune_tokens": long.finetune_tokens.astype(float),
            "loss": long.loss.astype(float),
        }
    )
    runs.attrs = {"units": "examples", "loss_unit": "nats/token (test loss)"}
    return runs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", nargs="*", default=["mikami2021", "lin2024", "simulated", "dask"])
    parser.add_argument("--simulated-seeds", type=int, default=4, help="law-exact data sets, seeds 0..N-1")
    args = parser.parse_args()
    only = args.only
    warnings.simplefilter("ignore", bs.BayesScalingWarning)
    mikami = bs.load_dataset("mikami2021")
    if "mikami2021" in only:
        report("mikami2021", mikami, MIKAMI_MODEL, holdout_largest=("pretrain_tokens", 0.15))
        report("mikami2021", mikami, MIKAMI_MODEL, holdout_largest=("pretrain_tokens", 0.3))
        report("mikami2021", mikami, MIKAMI_MODEL, holdout_largest=("finetune_tokens", 0.5))
        report("mikami2021", mikami, MIKAMI_MODEL, holdout_above=("finetune_tokens", 3e5))
    if "lin2024" in only:
        if not LIN2024.is_dir():
            print(f"\n## lin2024: skipped, {LIN2024} is absent (it has no licence and is not shipped)")
        else:
            for name in ("flan", "gigaword"):
                report(f"lin2024 {name}, rectified law", lin2024_runs(name), "rectified",
                       holdout_above=("finetune_tokens", 3e5))  # fmt: skip
    if "simulated" in only:
        truth = bs.datasets.example_truth()
        for seed in range(args.simulated_seeds):
            runs = simulate_runs(truth, DEFAULT_GRID, runs_per_distribution=30, noise=0.01, seed=seed)
            report(f"simulated (law exact), seed {seed}", runs, holdout_above=("pretrain_tokens", 5e9))
        fit = bs.fit(
            simulate_runs(truth, DEFAULT_GRID, runs_per_distribution=30, noise=0.01, seed=0), progress=False
        )
        grid = fit.runs.groupby("distribution")[["pretrain_tokens", "finetune_tokens"]].max().reset_index()
        for factor in (1.0, 10.0):
            at = grid.assign(pretrain_tokens=grid.pretrain_tokens * factor)
            table = band_table(fit, at, kind="observation", law_only_beside=True)
            ratio = (table.loss_upper - table.loss_lower) / (
                table.loss_upper_law_only - table.loss_lower_law_only
            )
            print(
                f"simulated seed 0, full fit, at {factor:g}x the largest pre-training: 90% band width / "
                f"law-only width: median {np.median(ratio):.3f}, max {ratio.max():.3f} "
                f"(pre-training scale {fit.discrepancy.scale('pretrain_tokens'):.4f})"
            )
    if "dask" in only:
        cutoffs = [8e3, 1.6e4, 3.2e4]
        timings = {}
        for scheduler in ("serial", None):
            start = time.perf_counter()
            table = bs.rolling_backtest(
                mikami, MIKAMI_MODEL, column="pretrain_tokens", cutoffs=cutoffs, scheduler=scheduler
            )
            timings[scheduler or "dask"] = (time.perf_counter() - start, table.query("distribution == 'all'"))
        print("\n## rolling backtest of mikami2021, pre-training cut-offs 8k, 16k, 32k images")
        for name, (seconds, table) in timings.items():
            print(f"{name}: {seconds:.0f} s")
            shown = table[["cutoff", *COLUMNS[1:], "fit_seconds", "compile_seconds"]]
            print(shown.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        print(f"serial / dask wall time: {timings['serial'][0] / timings['dask'][0]:.2f}x")


if __name__ == "__main__":
    main()
