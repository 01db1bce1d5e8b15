"""Which run next, replayed on real tables (issue 42): choose runs by next_runs and by the
ways people choose today, reveal their losses, refit, and score the target region at each
share of the compute.

    cd benchmarks && ../.venv/bin/python replay.py [--only farseer porian2024 lr_bsz data_constrained]
        [--random-seeds 3] [--budgets 0.01 0.05 0.1]

Each table has candidate runs (the ones it publishes below its target region) and a target
region (its larger runs: the task's own test split, or porian2024's compute above 1.6e18).
A replay starts from the cheapest 8 candidates, and at each step spends up to the next
budget (a share of all candidates' compute, 6ND): a strategy orders the remaining
candidates, and runs are taken in that order while they fit in the step's budget. Steps end
at 0.25%, 0.5% and then each budget. After each step the law is refitted (the compiled model
reused) as the package fits by default, its misfit learned by leave-future-out refits and
the corpus prior (``--misfit prior``: law-only fits with the corpus prior's misfit alone,
minutes instead of an hour), and scored by its 90% bands of new runs at the target. Scored
at each budget: the median |log error| and R^2 of the median at the target, its 90%
coverage and interval score, and the interval score the fit expects there.

Strategies, each under the same budget: ``next_runs`` (this package: the expected interval
score at the target per unit of compute, greedy within the step's budget, at most 48 runs a
step), ``random`` (several seeds), ``cheapest`` first,
``grid`` (space-filling: the candidate farthest in log inputs from every run chosen), and
greedy D- and V-optimal designs on the law linearised at the current posterior mean (the
gain in log det of the information, or the drop of the trace of the target's predictive
variance, per unit of compute).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from misfit import porian2024, r_squared
from results import record

import bayes_scaling as bs
from bayes_scaling.backtesting import interval_score
from bayes_scaling.datasets import CATALOG
from bayes_scaling.design import default_cost, target_score
from bayes_scaling.discrepancy import Discrepancy, directions
from bayes_scaling.inference.compiled import ModelCache
from bayes_scaling.prediction import band_table

START_RUNS = 8
STEPS = (0.0025, 0.005)
FIT = {"draws": 300, "tune": 300, "chains": 2, "progress": False, "warn": False}


def table(name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(candidates, target) of a table."""
    if name == "porian2024":
        runs = porian2024()
        return runs[runs.flops <= 1.6e18].reset_index(drop=True), runs[runs.flops > 1.6e18].reset_index(
            drop=True
        )
    runs = bs.load_dataset(name)
    return (
        runs[runs.split == "train"].reset_index(drop=True),
        runs[runs.split == "test"].reset_index(drop=True),
    )


MISFIT = {"learned": "own"}  # "own": the package's defaults; "prior": the corpus prior alone


def spec(name: str):
    """The law its catalogue entry names for a table (farseer's: size_dependent_data), the
    Chinchilla law for porian2024."""
    model = bs.load_spec(CATALOG[name]["model"] if name in CATALOG else "chinchilla")
    if MISFIT["learned"] == "own":
        return model
    return dataclasses.replace(model, discrepancy=dataclasses.replace(model.discrepancy, method="none"))


def with_corpus_prior(fit: bs.Fit) -> bs.Fit:
    """With ``--misfit prior``, the law-only fit with its spec's corpus prior of the misfit
    past the data (no refits of its own); else the fit as it is."""
    if MISFIT["learned"] == "own":
        return fit
    prior = fit.spec.discrepancy.growth_prior
    bare = Discrepancy(directions=directions(fit.law.inputs))
    return dataclasses.replace(fit, discrepancy=bare.with_growth_prior(prior))


def score(fit: bs.Fit, target: pd.DataFrame) -> dict[str, float]:
    fit = with_corpus_prior(fit)
    bands = band_table(fit, target, prob=0.9, kind="observation")
    loss, median = target.loss.to_numpy(), bands.loss_median.to_numpy()
    lower, upper = bands.loss_lower.to_numpy(), bands.loss_upper.to_numpy()
    return {
        "error": float(np.median(np.abs(np.log(loss / median)))),
        "r2": r_squared(loss, median),
        "cover90": float(((loss >= lower) & (loss <= upper)).mean()),
        "interval_score": float(np.mean(interval_score(loss, lower, upper, 0.1))),
        # what the fit expects its interval score there to be: what next_runs lowers
        "expected_interval_score": target_score(fit, target[["distribution", *fit.law.inputs]]),
    }


# --- the strategies: each returns the remaining candidates' indices in the order to take them


def order_next_runs(fit, chosen, left, candidates, target, costs, rng, budget):
    if not left or costs[left].min() > budget:
        return []
    picks = bs.next_runs(
        with_corpus_prior(fit), candidates.iloc[left], target[["distribution", *fit.law.inputs]],
        k=min(48, len(left)), budget=budget, seed=0,
    )  # fmt: skip
    # map the picks back to candidate indices (rows are unique in the law's inputs here)
    key = lambda frame: list(zip(frame.params, frame.pretrain_tokens, strict=True))  # noqa: E731
    position = {row: i for i, row in zip(left, key(candidates.iloc[left]), strict=True)}
    return [position[row] for row in key(picks)]


def order_random(fit, chosen, left, candidates, target, costs, rng, budget):
    return list(rng.permutation(left))


def order_cheapest(fit, chosen, left, candidates, target, costs, rng, budget):
    return list(np.array(left)[np.argsort(costs[left], kind="stable")])


def order_grid(fit, chosen, left, candidates, target, costs, rng, budget):
    """Space-filling: repeatedly the candidate farthest (in log inputs) from every chosen run."""
    points = np.log(candidates[list(fit.law.inputs)].to_numpy(float))
    taken, order, left = list(chosen), [], list(left)
    while left:
        distance = np.min(np.linalg.norm(points[left][:, None] - points[taken][None], axis=-1), axis=1)
        best = left[int(np.argmax(distance))]
        order.append(best)
        taken.append(best)
        left.remove(best)
    return order


def _jacobian(fit: bs.Fit, rows: pd.DataFrame, log_theta: dict[str, float]) -> np.ndarray:
    """d log L / d log theta at the rows (rows x parameters), by central differences."""
    log_inputs = [np.log(rows[name].to_numpy(float)) for name in fit.law.inputs]
    columns = []
    for name in fit.law.parameters:
        step = 1e-4
        up = {k: np.exp(v + (step if k == name else 0.0)) for k, v in log_theta.items()}
        down = {k: np.exp(v - (step if k == name else 0.0)) for k, v in log_theta.items()}
        columns.append(
            (fit.law.log_loss(*log_inputs, **up) - fit.law.log_loss(*log_inputs, **down)) / (2 * step)
        )
    return np.column_stack(columns)


def _optimal(kind: str):
    def order(fit, chosen, left, candidates, target, costs, rng, budget):
        draws = fit.parameters("raw").isel(distribution=0)
        logs = {name: np.log(draws[name].values.ravel()) for name in fit.law.parameters}
        log_theta = {name: float(v.mean()) for name, v in logs.items()}
        covariance = np.cov(np.array([logs[name] for name in fit.law.parameters]))
        sigma = float(fit.idata.posterior["sigma"].mean())
        precision = np.linalg.inv(covariance + 1e-12 * np.eye(len(covariance)))
        rows, at_target = _jacobian(fit, candidates, log_theta), _jacobian(fit, target, log_theta)
        information, order, left = precision.copy(), [], list(left)

        def criterion(matrix):
            if kind == "D":
                return np.linalg.slogdet(matrix)[1]
            return -np.trace(at_target @ np.linalg.solve(matrix, at_target.T))

        while left:
            now = criterion(information)
            gains = np.array(
                [criterion(information + np.outer(rows[i], rows[i]) / sigma**2) - now for i in left]
            )
            best = left[int(np.argmax(gains / costs[left]))]
            information = information + np.outer(rows[best], rows[best]) / sigma**2
            order.append(best)
            left.remove(best)
        return order

    return order


STRATEGIES = {
    "next_runs": order_next_runs,
    "cheapest": order_cheapest,
    "grid": order_grid,
    "D-optimal": _optimal("D"),
    "V-optimal": _optimal("V"),
    "random": order_random,
}


def replay(name: str, strategy: str, budgets: list[float], seed: int, cache: ModelCache) -> list[dict]:
    candidates, target = table(name)
    law = spec(name)
    costs = default_cost(law.law, candidates)
    total = costs.sum()
    chosen = list(np.argsort(costs, kind="stable")[:START_RUNS])
    rng = np.random.default_rng(seed)
    rows, spent = [], costs[chosen].sum()
    for budget in sorted({*STEPS, *budgets}):
        fit = bs.fit(candidates.iloc[chosen], law, seed=seed, cache=cache, **FIT)
        left = [i for i in range(len(candidates)) if i not in chosen]
        start = time.perf_counter()
        room = budget * total - spent
        order = STRATEGIES[strategy](fit, chosen, left, candidates, target, costs, rng, room)
        choosing = time.perf_counter() - start
        for i in order:
            if spent + costs[i] <= budget * total:
                chosen.append(i)
                spent += costs[i]
        if budget in budgets:
            fit = bs.fit(candidates.iloc[chosen], law, seed=seed, cache=cache, **FIT)
            rows.append(
                {"table": name, "strategy": strategy, "seed": seed, "budget": budget, "spent": spent / total,
                 "runs": len(chosen), "choose_seconds": choosing, **score(fit, target)}
            )  # fmt: skip
            print(
                " | ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in rows[-1].values()),
                flush=True,
            )
    return rows


def check_values(name: str, count: int, cache: ModelCache) -> dict[str, float]:
    """next_runs' predicted value of single runs against the value measured by refitting with
    each: the drop of the expected 90% interval score at the target (the same score,
    computed on the refit's posterior with the same misfit prior), over ``count`` candidates
    drawn at random, from a fit to the cheapest candidates making up 1% of the compute."""
    from scipy import stats

    from bayes_scaling.design import target_score

    candidates, target = table(name)
    law = spec(name)
    costs = default_cost(law.law, candidates)
    order = np.argsort(costs, kind="stable")
    chosen = list(order[np.cumsum(costs[order]) <= 0.01 * costs.sum()])
    fit = with_corpus_prior(bs.fit(candidates.iloc[chosen], law, seed=0, cache=cache, **FIT))
    grid = target[["distribution", *law.law.inputs]]
    before = target_score(fit, grid)
    rng = np.random.default_rng(1)
    left = [i for i in range(len(candidates)) if i not in chosen]
    predicted, measured = [], []
    for i in rng.choice(left, count, replace=False):
        predicted.append(float(bs.next_runs(fit, candidates.iloc[[i]], grid, k=1).value[0]))
        refit = with_corpus_prior(bs.fit(candidates.iloc[[*chosen, i]], law, seed=0, cache=cache, **FIT))
        measured.append(before - target_score(refit, grid))
    rho = stats.spearmanr(predicted, measured).statistic
    return {"candidates": count, "spearman": float(rho), "median_predicted": float(np.median(predicted)),
            "median_measured": float(np.median(measured))}  # fmt: skip


def timing() -> dict[str, float]:
    """Seconds next_runs takes to pick 4 of 200 candidates after a fit of the example (8
    distributions, 2 x 300 draws), its own compile excluded."""
    runs = bs.load_dataset("example")
    fit = bs.fit(runs, seed=0, progress=False, draws=300, tune=300, chains=2)
    rng = np.random.default_rng(0)
    candidates = pd.DataFrame(
        {
            "distribution": rng.choice(fit.distributions, 200),
            "pretrain_tokens": np.exp(rng.uniform(np.log(1e8), np.log(3e11), 200)),
            "finetune_tokens": np.exp(rng.uniform(np.log(1e5), np.log(1e8), 200)),
        }
    )
    target = pd.DataFrame(
        {"distribution": list(fit.distributions), "pretrain_tokens": 1e12, "finetune_tokens": 1e7}
    )
    start = time.perf_counter()
    bs.next_runs(fit, candidates, target, k=4)
    return {"seconds": time.perf_counter() - start}


def plot_replays(misfit: str = "own") -> list[Path]:
    """One figure per table from the latest replay results in ``results/replay.jsonl``: the
    median error, the interval score and the coverage at the target against the compute
    spent, a line per strategy. Written to ``docs/figures/replay_<table>.png``."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    latest = {}
    for line in (Path(__file__).parent / "results" / "replay.jsonl").read_text().splitlines():
        entry = json.loads(line)
        parts = entry["case"].split(", ")
        if len(parts) == 4 and parts[3] == f"misfit {misfit}":
            latest[entry["case"]] = (parts[0], parts[1], float(parts[2].split("%")[0]), entry["figures"])
    frame = pd.DataFrame(
        [{"table": t, "strategy": s, "budget": b, **f} for t, s, b, f in latest.values()]
    ).sort_values("budget")
    out = Path(__file__).resolve().parents[1] / "docs" / "figures"
    out.mkdir(exist_ok=True)
    written = []
    for name, part in frame.groupby("table"):
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
        for strategy, rows in part.groupby("strategy"):
            style = {"lw": 2.5, "color": "k"} if strategy == "next_runs" else {"alpha": 0.8}
            for axis, column in zip(axes, ("error", "interval_score", "cover90"), strict=True):
                axis.plot(rows.budget, rows[column], "o-", label=strategy, **style)
        labels = (
            "median |log error| at the target",
            "90% interval score at the target",
            "90% coverage at the target",
        )
        for axis, label in zip(axes, labels, strict=True):
            axis.set_xscale("log")
            axis.set_xlabel("compute spent (% of the candidates' 6ND)")
            axis.set_title(label, fontsize=10)
        axes[1].set_yscale("log")
        axes[2].legend(fontsize=8)
        fig.suptitle(f"{name}: replays, fits at the defaults (misfit {misfit})")
        fig.tight_layout()
        path = out / f"replay_{name}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)
    return written


def medians(rows: list[dict]) -> pd.DataFrame:
    """Each (table, strategy, budget)'s figures, the median over random seeds."""
    columns = ["runs", "error", "r2", "cover90", "interval_score", "expected_interval_score"]
    return pd.DataFrame(rows).groupby(["table", "strategy", "budget"])[columns].median().reset_index()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", nargs="*", default=["farseer", "porian2024", "lr_bsz", "data_constrained"])
    parser.add_argument("--strategies", nargs="*", default=list(STRATEGIES))
    parser.add_argument("--random-seeds", type=int, default=3)
    parser.add_argument("--budgets", nargs="*", type=float, default=[0.01, 0.05, 0.1])
    parser.add_argument(
        "--misfit", choices=("own", "prior"), default="own",
        help="own: fits as the package makes them (leave-future-out refits, the corpus prior updated); "
        "prior: law-only fits with the corpus prior's misfit alone (minutes, not an hour)",
    )  # fmt: skip
    parser.add_argument("--check-values", type=int, default=0, help="check N single-run values on farseer")
    parser.add_argument("--timing", action="store_true", help="time picking 4 of 200 candidates")
    parser.add_argument("--plot", action="store_true", help="only draw the figures from the recorded results")
    args = parser.parse_args()
    MISFIT["learned"] = args.misfit
    if args.plot:
        print("\n".join(f"wrote {path}" for path in plot_replays(args.misfit)))
        return
    warnings.simplefilter("ignore")
    cache = ModelCache()
    if args.timing:
        figures = timing()
        record("replay", case="next_runs: 4 of 200 candidates after a fit of the example", figures=figures)
        print(figures)
    if args.check_values:
        figures = check_values("farseer", args.check_values, cache)
        record(
            "replay",
            case=f"farseer: predicted against refitted value of single runs, misfit {args.misfit}",
            figures=figures,
        )
        print(figures)
    if args.timing or args.check_values:
        return
    rows = []
    for name in args.only:
        for strategy in args.strategies:
            done = []
            for seed in range(args.random_seeds if strategy == "random" else 1):
                done += replay(name, strategy, args.budgets, seed, cache)
            rows += done
            # recorded as each strategy ends: a replay stopped part way keeps what it measured
            for row in medians(done).to_dict("records"):
                share = f"{row['budget']:.0%} of compute"
                case = f"{row['table']}, {row['strategy']}, {share}, misfit {args.misfit}"
                record("replay", case=case, figures={
                    k: v for k, v in row.items() if k not in ("table", "strategy", "budget")
                })  # fmt: skip
    summary = medians(rows)
    with pd.option_context("display.width", 200):
        print("\n" + summary.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    plot_replays(args.misfit)


if __name__ == "__main__":
    main()
