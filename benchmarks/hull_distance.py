"""Distance past the data in its own geometry (issue 27): does a convex hull see runs far out
that the package's distances (per input, and along the product of the inputs) call near?

    .venv/bin/python benchmarks/hull_distance.py [--only mikami2021 lin2024 porian2024 ...]

No fitting: for each backtest of ``benchmarks/misfit.py``, each held-out run's distance
past the runs kept in its distribution, in e-folds of the log inputs, measured three ways:

- ``per_input``: the largest distance beyond an input's fitted range (the box);
- ``package``: the package's (:func:`bayes_scaling.discrepancy.extrapolation_distance`), the
  largest along each input and along their product (the direction of compute);
- ``hull``: the Euclidean distance to the convex hull of the kept runs' log inputs.

A "corner" run lies past the hull (by more than 0.1 e-fold) while the package's distance
calls it inside: the case the issue's first point describes, where a distance measured per
input misses runs past a diagonal band of data.
"""

import argparse

import numpy as np
import pandas as pd
from misfit import TABLES, cases  # noqa: I001  (run from benchmarks/)
from scipy.optimize import nnls

import bayes_scaling as bs
from bayes_scaling.backtest import holdout_mask
from bayes_scaling.data import DISTRIBUTION
from bayes_scaling.discrepancy import combined_distance, distances_beyond, fitted_ranges, log_coordinates

CORNER = 0.1  # e-folds past the hull that count as outside it
SUM_WEIGHT = 1e4  # weight of the row that makes NNLS's weights sum to one


def hull_distance(points: np.ndarray, hull_of: np.ndarray) -> np.ndarray:
    """Euclidean distance from each row of ``points`` to the convex hull of the rows of
    ``hull_of``: the smallest |x - sum(w_i p_i)| over weights w >= 0 summing to one, as a
    non-negative least-squares problem with one heavily weighted row for the sum."""
    system = np.vstack([hull_of.T, np.full(len(hull_of), SUM_WEIGHT)])
    distances = []
    for point in points:
        weights, _ = nnls(system, np.r_[point, SUM_WEIGHT], maxiter=10_000)
        distances.append(np.linalg.norm(hull_of.T @ weights - point))
    return np.asarray(distances)


def measure(runs: pd.DataFrame, law_name: str, holdout: dict) -> dict:
    spec = bs.load_spec(law_name)
    inputs = spec.law.inputs
    (kind, value), *_ = holdout.items()
    held = holdout_mask(runs, **{kind.removeprefix("holdout_"): value})
    kept, future = runs[~held], runs[held]
    beyond = distances_beyond(future, fitted_ranges(kept, inputs), inputs)
    per_input = combined_distance(beyond[:, : len(inputs)])  # the product's column left out
    package = combined_distance(beyond)
    if len(inputs) > 1:
        logs = pd.DataFrame(log_coordinates(runs, inputs))[list(inputs)].to_numpy()
        finite = np.isfinite(logs).all(axis=1)  # an input at 0 (no fine-tuning) has no log
        hull = package.copy()  # such runs keep the package's distance
        for name, part in future.groupby(DISTRIBUTION, sort=False):
            rows = future.index.get_indexer(part.index)
            rows = rows[finite[held][rows]]
            inside = (runs[DISTRIBUTION] == name).to_numpy() & ~held & finite
            hull[rows] = hull_distance(logs[held][rows], logs[inside])
    else:
        hull = per_input
    corner = (hull > CORNER) & (package <= CORNER)
    return {
        "held_out": len(future),
        "median_per_input": np.median(per_input),
        "median_package": np.median(package),
        "median_hull": np.median(hull),
        "inside_box": np.mean(per_input <= CORNER),
        "inside_package": np.mean(package <= CORNER),
        "corner": int(corner.sum()),
        "hull_over_package": np.median(hull[package > CORNER] / package[package > CORNER])
        if (package > CORNER).any()
        else np.nan,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", nargs="*", default=TABLES)
    args = parser.parse_args()
    rows = []
    for table, load, law_name, holdout in cases(args.only, simulated_seeds=1):
        try:
            runs = load().reset_index(drop=True)
        except FileNotFoundError as error:
            print(f"{table}: skipped, {error}")
            continue
        (kind, value), *_ = holdout.items()
        rows.append(
            {
                "table": table,
                "held_out_by": f"{kind.removeprefix('holdout_')} {value}",
                **measure(runs, law_name, holdout),
            }
        )
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.2f}"))


if __name__ == "__main__":
    main()
