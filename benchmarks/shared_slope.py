"""Prototype (issue 41, not adopted; docs/records.md, "Shared slope"): the law's error past
the data as a slope common to a distribution's runs plus a wandering part, instead of each
run's error its own, with the slope's posterior mean carried to the prediction as a shift
of the curve.

    cd benchmarks && ../.venv/bin/python corpus.py --cache /tmp/corpus.pkl   # the refits, once
    cd benchmarks && ../.venv/bin/python shared_slope.py --cache /tmp/corpus.pkl --shared 0 0.5 0.9
    cd benchmarks && ../.venv/bin/python shared_slope.py --cache /tmp/corpus.pkl --shared 0.5 0.9 --legacy-scale

Each corpus table's refit is scored leave-one-table-out (the prior learned from the other
shipped tables, as corpus.py does) under each share of the growth that is a shared slope.
``--legacy-scale``: the scale's posterior from the shipped rule (each run's error its own,
Student-t), only the shift from the shared slope; ``--carry K`` multiplies the shift.
Prints the 90% interval score, coverage and median |log error| per case and share.
"""

from __future__ import annotations

import argparse
import dataclasses
import warnings
from pathlib import Path

import cloudpickle
import numpy as np
import pandas as pd
from corpus import SHIPPED, scores, with_labels  # noqa: I001  (run from benchmarks/)

from bayes_scaling.backtesting import growth_curve_of, heldout_errors, scored
from bayes_scaling.discrepancy.growth_prior import _population, learn_growth_prior, log_likelihood_on_grid


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--shared", nargs="*", type=float, default=[0.0, 0.5, 0.9])
    parser.add_argument("--legacy-scale", action="store_true")
    parser.add_argument("--carry", type=float, default=1.0)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    done = [(t, m, with_labels(r), *rest) for t, m, r, *rest in cloudpickle.loads(args.cache.read_bytes())]
    by_table: dict[str, list] = {}
    for table, _, result, *_ in done:
        by_table.setdefault(table, []).append(heldout_errors(result))
    shipped = [t for t in SHIPPED if t in by_table]

    def learn(tables, shared):
        curves = {}
        for table in tables:
            if args.legacy_scale:
                parts = [
                    log_likelihood_on_grid(
                        e.residual.to_numpy(), e.variance.to_numpy(), e.distance.to_numpy(), 5
                    )
                    for e in by_table[table]
                ]
            else:
                parts = [growth_curve_of(e, shared) for e in by_table[table]]
            curves[table] = (sum(p[0] for p in parts), sum(p[1] for p in parts))
        if args.legacy_scale:
            return dataclasses.replace(learn_growth_prior(curves), shared=shared)
        return _population(curves, "", None, shared)[0]

    rows = []
    for shared in args.shared:
        whole = learn(shipped, shared)
        print(f"shared {shared}: the whole corpus's prior {whole}", flush=True)
        for table, _, result, _, _ in done:
            prior = whole if table not in shipped else learn([t for t in shipped if t != table], shared)
            discrepancy = result.fit.discrepancy
            if args.legacy_scale:
                own = {
                    k: {n: v for n, v in e.items() if n != "labels"} for k, e in discrepancy.evidence.items()
                }
                scale = dataclasses.replace(discrepancy, evidence=own).with_growth_prior(prior)
                slope = discrepancy.with_growth_prior(prior)
                drifts = {k: {g: args.carry * b for g, b in v.items()} for k, v in slope.drifts.items()}
                discrepancy = dataclasses.replace(scale, drifts=drifts)
            else:
                discrepancy = discrepancy.with_growth_prior(prior)
            fit = dataclasses.replace(result.fit, discrepancy=discrepancy)
            heldout = result.runs[[c for c in result.runs.columns if c in result.fit.runs.columns]]
            figures = scores(scored(fit, heldout, result.holdout, 0))
            rows.append(
                {"shared": shared, "case": f"{table}, {result.holdout}", "interval_score": figures["interval_score"],
                 "cover90": figures["cover90"], "error": figures["error"]}
            )  # fmt: skip
    frame = pd.DataFrame(rows)
    with pd.option_context("display.width", 200):
        for value in ("interval_score", "cover90", "error"):
            print(
                f"\n{value}\n"
                + frame.pivot(index="case", columns="shared", values=value).round(3).to_string()
            )


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
