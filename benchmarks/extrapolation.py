"""Extrapolation: fit simulated runs with pre-training below 5e9 tokens, predict the runs above.

    .venv/bin/python benchmarks/extrapolation.py [--seeds 4]

Per seed (a new truth and new runs): coverage of the 90% bands of new observations over the
held-out runs (10x to 20x past the data), median relative error of the median, divergences.
tests/test_predict.py checks one seed of this in the suite, with fewer draws.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np

import bayes_scaling as bs
from bayes_scaling.predict import prediction_table
from bayes_scaling.simulate import DEFAULT_GRID, draw_truth, simulate_runs

CUT = 5e9


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=4)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    for seed in range(args.seeds):
        truth = draw_truth(8, seed=seed)
        runs = simulate_runs(truth, DEFAULT_GRID, runs_per_distribution=30, seed=101 + seed)
        train, test = runs[runs.pretrain_tokens < CUT], runs[runs.pretrain_tokens >= CUT]
        fit = bs.fit(train, warn=False, progress=False)
        table = prediction_table(fit, test, kind="observation", prob=0.9)
        covered = ((table.loss >= table.loss_lower) & (table.loss <= table.loss_upper)).mean()
        error = np.median(np.abs(table.loss_median / table.loss - 1))
        print(
            f"seed {seed}: 90% band coverage {covered:.2f}, median relative error {error:.4f}, "
            f"{fit.diagnostics.divergences} divergences",
            flush=True,
        )


if __name__ == "__main__":
    main()
