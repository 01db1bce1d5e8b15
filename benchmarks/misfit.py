"""Honest bands when the law is wrong (issue 27): backtests on every development table.

    .venv/bin/python benchmarks/misfit.py [--only mikami2021 lin2024 porian2024
        porian2024-sets alabdulmohsin2022 farseer simulated] [--simulated-seeds 12] [--csv OUT.csv]

Each case refits without the far end of a table (along pre-training or compute, the largest
third, and along fine-tuning where the table has it) and scores the 90% bands of new runs on
the held-out runs, default fit settings. The development tables are read from
``../shared/data`` (see its README); a case whose table is absent is skipped with a message.
Simulated cases draw runs from the transfer-gap law itself (the example's truth, 1% noise)
and hold out pre-training above 5e9 tokens (10-20x past the data): there the bands with the
law's misfit should be no more than ~10% wider than the parameter-and-noise ones.

Columns: coverage of the 90% bands with the misfit model (``cover90``) and without it
(``law_only``), median relative width of each, the median |log error|, the refit's
divergences and max r_hat, and the seconds the case took (fit, refits and bands).
"""

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from arviz_stats import loo_pit
from arviz_stats.ecdf_utils import ecdf_pit
from backtest_real import lin2024_runs  # noqa: I001  (run from benchmarks/)
from results import record
from shared_data import SHARED_DATA

import bayes_scaling as bs
from bayes_scaling.datasets import CATALOG
from bayes_scaling.draws import flat
from bayes_scaling.model import OBSERVED
from bayes_scaling.prediction import predict
from bayes_scaling.simulate import DEFAULT_GRID, simulate_runs


def mikami2021() -> pd.DataFrame:
    return bs.load_dataset("mikami2021")


def porian2024(datasets: tuple[str, ...] = ("refinedweb",)) -> pd.DataFrame:
    """One recipe (chinchilla decay, validation loss), one distribution per pre-training set:
    88 runs each (16 sizes x up to 12 budgets)."""
    raw = pd.read_csv(SHARED_DATA / "porian2024" / "isoflop_points.csv")
    clean = raw[raw.train_dataset.isin(datasets)].query("decay == 'chinchilla' and loss_kind == 'val_loss'")
    runs = pd.DataFrame(
        {
            "distribution": clean.train_dataset,
            "params": clean.params.astype(float),
            "pretrain_tokens": clean.train_tokens.astype(float),
            "loss": clean.loss.astype(float),
            "flops": clean.flops_budget.astype(float),
        }
    ).reset_index(drop=True)
    runs.attrs = {"units": "tokens", "loss_unit": "validation loss (nats/token)"}
    return runs


def alabdulmohsin2022(architecture: str = "ViT/B/16") -> pd.DataFrame:
    """The package's table (25 log-spaced checkpoints per curve), one architecture: one
    distribution per downstream data set, f = shots x classes, loss = error rate."""
    runs = bs.load_dataset("alabdulmohsin2022")
    chosen = runs[runs.architecture == architecture].reset_index(drop=True)
    chosen.attrs = runs.attrs
    return chosen


def simulated(seed: int) -> pd.DataFrame:
    return simulate_runs(
        bs.datasets.example_truth(), DEFAULT_GRID, runs_per_distribution=30, noise=0.01, seed=seed
    )


def pit_check(fit: bs.Fit, prob: float = 0.95) -> tuple[int, int]:
    """In-sample calibration: the LOO-PIT of every run (PSIS-LOO weights from the fit's
    pointwise log likelihood; the predictive of a new run with the misfit the bands include),
    and how many of the PIT ECDF's points lie outside arviz-stats' simultaneous ``prob``
    uniformity band (0: calibrated), of how many points."""
    draws = flat(predict(fit, fit.runs)["loss_observed"])  # (chain x draw, run), same order
    tree = fit.idata.copy()
    chains, per_chain = tree.posterior.sizes["chain"], tree.posterior.sizes["draw"]
    observed = tree.observed_data[OBSERVED]
    predictive = np.log(draws).reshape(chains, per_chain, -1)
    tree["posterior_predictive"] = xr.DataTree(
        xr.Dataset({OBSERVED: (("chain", "draw", *observed.dims), predictive)}, coords=observed.coords)
    )
    values = np.asarray(loo_pit(tree, var_names=[OBSERVED])[OBSERVED]).ravel()
    _, ecdf, lower, upper = ecdf_pit(values, prob, n_simulations=1000, rng=np.random.default_rng(0))
    return int(((ecdf < lower) | (ecdf > upper)).sum()), len(ecdf)


# Fit settings a table needs beyond the defaults: none since a run that fails its checks is
# run again as a loose table's (alabdulmohsin2022 took target 0.95 and 2,000 draws here).
FIT_OPTIONS: dict[str, dict] = {}


TABLES = [
    "mikami2021",
    "lin2024",
    "porian2024",
    "porian2024-sets",
    "alabdulmohsin2022",
    "farseer",
    "data_constrained",
    "lr_bsz",
    "simulated",
]


def r_squared(loss: np.ndarray, median: np.ndarray) -> float:
    """R^2 of the median on the held-out runs, clipped to [-1, 1] as SLDBench reports it
    (undefined for one run)."""
    if len(loss) < 2:
        return float("nan")
    return float(max(1 - ((loss - median) ** 2).sum() / ((loss - loss.mean()) ** 2).sum(), -1.0))


def peer_scores(runs: pd.DataFrame, model: str, holdout: dict) -> dict[str, float]:
    """Coverage and interval score of the least-squares bootstrap's 90% bands of new runs
    (baselines.least_squares_bands) on the same held-out runs: the peer people use today."""
    from baselines import least_squares_bands

    from bayes_scaling.backtesting import holdout_mask, interval_score

    table = bs.data.validate_runs(runs, bs.load_spec(model).law.inputs).table
    held = holdout_mask(
        table, above=holdout.get("holdout_above"), largest=holdout.get("holdout_largest"),
        min_runs=bs.load_spec(model).min_runs_per_distribution,
    )  # fmt: skip
    bands = least_squares_bands(table[~held], table[held], law_name=bs.load_spec(model).law.name)
    observed = table.loss[held]
    inside = (observed >= bands.lower) & (observed <= bands.upper)
    score = interval_score(observed, bands.lower, bands.upper, 0.1)
    return {"peer_cover90": float(inside.mean()), "peer_interval_score": float(np.mean(score))}


def cases(only: list[str], simulated_seeds: int):
    """(table, data, law, hold-out) for each case."""
    if "mikami2021" in only:
        yield (
            "mikami2021",
            mikami2021,
            "transfer_gap_error_rate",
            {"holdout_largest": ("pretrain_tokens", 0.34)},
        )
        yield (
            "mikami2021",
            mikami2021,
            "transfer_gap_error_rate",
            {"holdout_largest": ("finetune_tokens", 0.5)},
        )
    if "lin2024" in only:
        for name in ("flan", "gigaword"):
            yield (
                f"lin2024 {name}",
                lambda name=name: lin2024_runs(name),
                "rectified",
                {"holdout_largest": ("finetune_tokens", 0.34)},
            )
    if "porian2024" in only:
        yield "porian2024", porian2024, "chinchilla", {"holdout_above": ("flops", 1.6e18)}
        yield "porian2024", porian2024, "chinchilla", {"holdout_largest": ("pretrain_tokens", 0.34)}
        yield "porian2024", porian2024, "chinchilla", {"holdout_largest": ("params", 0.34)}
    if "porian2024-sets" in only:
        # two pre-training sets, one distribution each, E partially pooled (chinchilla.toml's
        # A and B per set made a funnel here: issue 27, docs/records.md)
        both = lambda: porian2024(("refinedweb", "openwebtext2"))  # noqa: E731
        for holdout in (
            {"holdout_above": ("flops", 1.6e18)},
            {"holdout_largest": ("pretrain_tokens", 0.34)},
            {"holdout_largest": ("params", 0.34)},
        ):
            yield "porian2024, 2 sets", both, "chinchilla_shared_terms", holdout
    if "alabdulmohsin2022" in only:
        yield (
            "alabdulmohsin2022",
            alabdulmohsin2022,
            "few_shot_error_rate",
            {"holdout_largest": ("pretrain_tokens", 0.3)},
        )
    # the SLDBench tasks' own splits: their test runs lie past the others' compute (6ND above
    # 4e21 for farseer's 7 of 411, 1e21 and 4e20 for the others)
    # each under the law its catalogue entry names (farseer's: size_dependent_data)
    for name, cutoff in (("farseer", 4e21), ("data_constrained", 1e21), ("lr_bsz", 4e20)):
        if name in only:
            load = lambda name=name: bs.load_dataset(name)  # noqa: E731
            yield name, load, CATALOG[name]["model"], {"holdout_above": ("flops", cutoff)}
    if "simulated" in only:
        for seed in range(simulated_seeds):
            yield (
                f"simulated {seed}",
                lambda seed=seed: simulated(seed),
                "transfer_gap",
                {"holdout_above": ("pretrain_tokens", 5e9)},
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", nargs="*", default=TABLES)
    parser.add_argument("--simulated-seeds", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--csv", type=Path, help="also write the rows here")
    parser.add_argument(
        "--pit",
        action="store_true",
        help="fit each whole table instead: its LOO-PIT, health, misfit and gaps (no backtests)",
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore", bs.BayesScalingWarning)
    if args.pit:
        seen = set()
        for table, load, model, _ in cases(args.only, args.simulated_seeds):
            if table in seen:
                continue
            seen.add(table)
            fit = bs.fit(load(), model, seed=args.seed, progress=False, **FIT_OPTIONS.get(table, {}))
            outside, points = pit_check(fit)
            print(f"{table}: {fit.diagnostics}; misfit: {fit.discrepancy.describe()}")
            if "G" in fit.law.parameters:
                print(bs.summary(fit, ["G"]).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
            print(
                f"{table} ({model}): LOO-PIT ECDF outside the 95% uniform band at {outside}/{points} points"
            )
        return
    rows = []
    for table, load, model, holdout in cases(args.only, args.simulated_seeds):
        try:
            runs = load()
        except FileNotFoundError as error:
            print(f"{table}: skipped, {error}")
            continue
        start = time.perf_counter()
        result = bs.backtest(runs, model, seed=args.seed, **holdout, **FIT_OPTIONS.get(table, {}))
        seconds = time.perf_counter() - start
        summary = result.summary.set_index("distribution").loc["all"]
        diagnostics = result.fit.diagnostics
        row = {
            "table": table,
            "law": model,
            "held_out": result.holdout,
            "runs": int(summary.held_out),
            "cover90": summary.coverage_90,
            "law_only": summary.coverage_90_law_only,
            "width": summary.median_width_90,
            "width_law_only": summary.median_width_90_law_only,
            "error": summary.median_abs_log_error,
            "interval_score": summary.interval_score_90,
            "divergences": diagnostics.divergences,
            "rhat": diagnostics.max_rhat,
            "seconds": seconds,
        }
        if model == "transfer_gap" or model == "transfer_gap_error_rate":
            row |= peer_scores(runs, model, holdout)  # the least-squares bootstrap's, same hold-out
        rows.append(row)
        record("misfit", case=f"{table}, {model}, {result.holdout}", figures={
            k: v for k, v in row.items() if k not in ("table", "law", "held_out")
        })  # fmt: skip
        print(
            " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row.values()),
            f"| {result.fit.discrepancy.describe()}",
            flush=True,
        )
    frame = pd.DataFrame(rows)
    print("\n" + frame.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    simulated_rows = frame[frame.table.str.startswith("simulated")]
    if len(simulated_rows):
        print(
            f"\nsimulated, {len(simulated_rows)} seeds: mean coverage {simulated_rows.cover90.mean():.3f}, "
            f"median width ratio {np.median(simulated_rows.width / simulated_rows.width_law_only):.3f}"
        )
    if args.csv:
        frame.to_csv(args.csv, index=False)


if __name__ == "__main__":
    main()
