"""The growth prior of the law's misfit past the data, learned from a corpus of scaling
tables and scored leave-one-table-out (issue 41).

    cd benchmarks && ../.venv/bin/python corpus.py [--only TABLE ...] [--simulated-seeds 4] [--cache FILE]

With ``--cache``, the backtests are kept in FILE and scored again from it; ``--only`` with a
cache that exists backtests those tables again and keeps the others' from it.

Each case backtests one table along the direction its larger runs take (the table's own
split where it has one), with the misfit learned from the runs alone (the package without a
prior). Its held-out errors, against the law-only predictive, give the table's likelihood of
the growth scale s (``bayes_scaling.backtesting.growth_curve``). Then, for each table, the
prior is learned by empirical Bayes from the *other* tables of the shipped corpus (those the
package fetches, with a licence that allows it: mikami2021, alabdulmohsin2022, farseer,
data_constrained, lr_bsz) and the table's refit is scored again under it, no refit
(``Fit.with_growth_prior``). lin2024 (no licence) and porian2024 (development only) are
scored with the prior of the whole shipped corpus and never enter it. Simulated runs from
the exact law check that the prior leaves bands where the law holds nearly as they are.

Printed and recorded per case: R^2 of the median (beside SLDBench's published figures,
``../shared/data/README.md``), 90% coverage and interval score (on log loss, lower is
better) with the prior, with the runs alone, with the law alone, and of the least-squares
bootstrap (the peer, for the laws it fits), the median |log error| and widths. Last, the
prior of the whole shipped corpus as a spec's ``[discrepancy.growth_prior]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import time
import warnings
from pathlib import Path

import cloudpickle
import numpy as np
import pandas as pd
from baselines import STARTS
from misfit import cases as misfit_cases  # noqa: I001  (run from benchmarks/)
from misfit import peer_scores, r_squared
from results import record

import bayes_scaling as bs
from bayes_scaling.backtesting import growth_prior_from_backtests, interval_score, scored

SHIPPED = ("mikami2021", "alabdulmohsin2022", "farseer", "data_constrained", "lr_bsz")


CORPUS = ("mikami2021", "alabdulmohsin2022", "farseer", "data_constrained", "lr_bsz", "lin2024", "porian2024")


def cases(only: list[str], simulated_seeds: int):
    """(table, data, spec, hold-out) per case, as misfit.py backtests them; a table may have
    several (porian2024's refinedweb set along compute, tokens and parameters)."""
    yield from misfit_cases(only or [*CORPUS, "simulated"], simulated_seeds)


def without_prior(model: str) -> bs.spec.ModelSpec:
    spec = bs.load_spec(model)
    return dataclasses.replace(spec, discrepancy=dataclasses.replace(spec.discrepancy, growth_prior=None))


def scores(result) -> dict[str, float]:
    summary = result.summary.set_index("distribution").loc["all"]
    runs = result.runs
    law_only = interval_score(runs.loss, runs.lower_90_law_only, runs.upper_90_law_only, 0.1)
    return {
        "r2": r_squared(runs.loss.to_numpy(float), runs["median"].to_numpy(float)),
        "cover90": summary.coverage_90,
        "interval_score": summary.interval_score_90,
        "width": summary.median_width_90,
        "error": summary.median_abs_log_error,
        "law_only_cover90": summary.coverage_90_law_only,
        "law_only_interval_score": float(np.mean(law_only)),
        "law_only_width": summary.median_width_90_law_only,
    }


def commit() -> str:
    return subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", nargs="*", default=[])
    parser.add_argument("--simulated-seeds", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--cache", type=Path, help="keep the backtests here (pickle) and score again from them: no refit"
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore", bs.BayesScalingWarning)
    if args.cache and args.cache.exists():
        done = cloudpickle.loads(args.cache.read_bytes())
        if args.only:  # backtest these tables again, keep the cache's others
            done = [case for case in done if case[0] not in args.only] + backtests(args)
            args.cache.write_bytes(cloudpickle.dumps(done))
    else:
        done = backtests(args)
        if args.cache:
            args.cache.write_bytes(cloudpickle.dumps(done))
    score_leave_one_table_out(done, args.seed)


def backtests(args) -> list[tuple]:
    """(table, model, backtest, seconds, peer's scores) per case, the misfit from the runs alone."""
    done = []
    for table, load, model, holdout in cases(args.only, args.simulated_seeds):
        try:
            runs = load()
        except FileNotFoundError as error:
            print(f"{table}: skipped, {error}")
            continue
        start = time.perf_counter()
        result = bs.backtest(runs, without_prior(model), seed=args.seed, **holdout)
        seconds = time.perf_counter() - start
        peer = peer_scores(runs, model, holdout) if result.fit.law.name in STARTS else {}
        done.append((table, model, result, seconds, peer))
        print(f"{table}, {result.holdout}: {seconds:.0f} s; runs alone {scores(result)}", flush=True)
    return done


def score_leave_one_table_out(done: list[tuple], seed: int) -> None:
    """Each table scored under the prior of the other shipped tables (see the docstring)."""
    by_table: dict[str, list] = {}
    for table, _, result, *_ in done:
        by_table.setdefault(table, []).append(result)
    shipped = [table for table in SHIPPED if table in by_table]
    source = f"benchmarks/corpus.py at {commit()}: {', '.join(shipped)}"
    learn = lambda tables, source="": growth_prior_from_backtests({t: by_table[t] for t in tables}, source)  # noqa: E731
    whole = learn(shipped, source) if len(shipped) > 1 else None
    rows = []
    for table, model, result, seconds, peer in done:
        others = [t for t in shipped if t != table]
        if len(others) < 2:
            continue
        prior = whole if table not in shipped else learn(others)
        heldout = result.runs[[c for c in result.runs.columns if c in result.fit.runs.columns]]
        rescored = scored(result.fit.with_growth_prior(prior), heldout, result.holdout, seed)
        alone = scores(result)
        row = {"table": table, "held_out": result.holdout, "runs": len(result.runs)}
        row |= scores(rescored)
        row |= {"alone_cover90": alone["cover90"], "alone_interval_score": alone["interval_score"]}
        row |= peer | {
            "prior_median": prior.median,
            "prior_log_sd": prior.log_sd,
            "prior_weight": prior.weight,
        }
        row |= {"seconds": seconds, "divergences": result.fit.diagnostics.divergences}
        row["rhat"] = result.fit.diagnostics.max_rhat
        rows.append(row)
        figures = {k: v for k, v in row.items() if k not in ("table", "held_out")}
        record("corpus", case=f"{table}, {model}, {result.holdout}", figures=figures)
    frame = pd.DataFrame(rows)
    with pd.option_context("display.width", 250, "display.max_columns", 40):
        print("\n" + frame.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if whole is not None:
        print(f"\nthe whole shipped corpus's prior ({source}):")
        print(
            f"[discrepancy.growth_prior]\nmedian = {whole.median:.4g}\nlog_sd = {whole.log_sd:.3g}\n"
            f"weight = {whole.weight:.3g}\nsource = {whole.source!r}"
        )


if __name__ == "__main__":
    main()
