"""Simulation-based calibration of the transfer-gap model, next to the bootstrap baseline.

    .venv/bin/python benchmarks/calibration.py [--datasets 100] [--address tcp://host:8786]

For each setting (few and many runs per distribution), draws parameters *and* losses from
the model's prior predictive over a fixed design, fits each simulated data set, and
reports the coverage of the central 50% and 90% intervals of every G_d (and of E, alpha,
beta), with rank histograms, and the coverage of the least-squares bootstrap's 90%
intervals of G on the same data. The fits run in parallel on Dask: a local cluster by
default, any cluster by --address.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from results import record

SETTINGS = {"few runs (8 per distribution)": 8, "many runs (30 per distribution)": 30}
N_DISTRIBUTIONS = 8
PARAMETERS = ("G", "E", "alpha", "beta")


def design(runs_per_distribution: int, seed: int = 0) -> pd.DataFrame:
    from bayes_scaling.simulate import DEFAULT_GRID

    rng = np.random.default_rng(seed)
    mesh = np.meshgrid(DEFAULT_GRID["pretrain_tokens"], DEFAULT_GRID["finetune_tokens"])
    grid = np.array(mesh).reshape(2, -1).T
    frames = []
    for d in range(N_DISTRIBUTIONS):
        pick = grid[rng.choice(len(grid), runs_per_distribution, replace=False)]
        frames.append(
            pd.DataFrame(
                {
                    "distribution": f"d{d}",
                    "pretrain_tokens": pick[:, 0],
                    "finetune_tokens": pick[:, 1],
                    "loss": 2.0,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def prior_datasets(runs_per_distribution: int, count: int, seed: int):
    """(truth in normalised units, loss tables) drawn from the prior predictive."""
    import pymc as pm

    import bayes_scaling as bs
    from bayes_scaling.data import validate_runs
    from bayes_scaling.model import build_model

    spec = bs.load_spec("transfer_gap")
    runs = validate_runs(design(runs_per_distribution))
    with build_model(spec, runs):
        prior = pm.sample_prior_predictive(draws=count, random_seed=seed)
    params = prior.prior.to_dataset()
    log_loss = prior.prior_predictive.to_dataset()["log_loss"].values[0]  # (count, run)
    tables = [runs.table.assign(loss=np.exp(row)) for row in log_loss]
    return params, tables


def fit_one(table: pd.DataFrame, seed: int, bootstrap_resamples: int) -> dict:
    """Runs on a Dask worker: fit, then ranks and intervals of the truth's parameters."""
    import warnings

    import bayes_scaling as bs

    warnings.simplefilter("ignore")
    fit = bs.fit(table, seed=seed, progress=False, warn=False)
    post = fit.idata.posterior.to_dataset()
    out = {
        "draws": {k: post[k].stack(s=("chain", "draw")).transpose("s", ...).values for k in PARAMETERS},
        "divergences": fit.diagnostics.divergences,
    }
    if bootstrap_resamples:
        from baselines import least_squares_bootstrap

        boot = least_squares_bootstrap(table, resamples=bootstrap_resamples, seed=seed)
        out["bootstrap_G"] = boot[boot.parameter == "G"][["lower", "upper"]].to_numpy()
        out["G_raw_truth_scale"] = fit.normalisation.log_refs["finetune_tokens"]
    return out


def summarise(name: str, params, results: list[dict]) -> None:
    print(f"\n### {name}: {len(results)} data sets\n")
    print("| parameter | coverage 50% | coverage 90% | binomial sd (90%) | rank histogram (10 bins) |")
    print("| --- | --- | --- | --- | --- |")
    for key in PARAMETERS:
        inside50, inside90, ranks = [], [], []
        for i, res in enumerate(results):
            truth = np.atleast_1d(params[key].values[0, i])
            draws = res["draws"][key].reshape(len(res["draws"][key]), -1)
            q = np.quantile(draws, [0.05, 0.25, 0.75, 0.95], axis=0)
            inside90 += list((q[0] <= truth) & (truth <= q[3]))
            inside50 += list((q[1] <= truth) & (truth <= q[2]))
            ranks += list((draws < truth).mean(axis=0))
        hist = np.histogram(ranks, bins=10, range=(0, 1))[0]
        n = len(inside90)
        print(
            f"| {key} | {np.mean(inside50):.3f} | {np.mean(inside90):.3f} | {np.sqrt(0.09 / n):.3f} "
            f"| {' '.join(map(str, hist))} |"
        )
        record("calibration", case=f"{name}: {key}", figures={
            "datasets": len(results), "coverage_50": float(np.mean(inside50)),
            "coverage_90": float(np.mean(inside90)), "binomial_sd_90": float(np.sqrt(0.09 / n)),
            "rank_histogram": " ".join(map(str, hist)),
        })  # fmt: skip
    if "bootstrap_G" in results[0]:
        covered = []
        for i, res in enumerate(results):
            g = params["G"].values[0, i]
            beta = params["beta"].values[0, i]
            raw = g * np.exp(beta * res["G_raw_truth_scale"])  # raw units, as the bootstrap fits
            covered += list((res["bootstrap_G"][:, 0] <= raw) & (raw <= res["bootstrap_G"][:, 1]))
        sd = np.sqrt(0.09 / len(covered))
        print(f"| G, least squares + bootstrap | | {np.mean(covered):.3f} | {sd:.3f} | |")
        record("calibration", case=f"{name}: G, least squares + bootstrap", figures={
            "datasets": len(results), "coverage_90": float(np.mean(covered)), "binomial_sd_90": sd,
        })  # fmt: skip
    print(
        f"\ndivergent transitions per fit: median {np.median([r['divergences'] for r in results]):.0f}, "
        f"max {max(r['divergences'] for r in results)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", type=int, default=100)
    parser.add_argument("--address", default=None, help="Dask scheduler; a local cluster if absent")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--bootstrap-resamples", type=int, default=200)
    args = parser.parse_args()
    from dask.distributed import Client, LocalCluster

    client = (
        Client(args.address)
        if args.address
        else Client(LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True))
    )
    client.upload_file(str(__import__("pathlib").Path(__file__).with_name("baselines.py")))
    for name, runs in SETTINGS.items():
        start = time.perf_counter()
        params, tables = prior_datasets(runs, args.datasets, seed=runs)
        futures = client.map(
            fit_one, tables, range(len(tables)), [args.bootstrap_resamples] * len(tables), pure=False
        )
        results = client.gather(futures)
        summarise(name, params, results)
        print(f"\n{time.perf_counter() - start:.0f} s for this setting")
    client.close()


if __name__ == "__main__":
    main()
