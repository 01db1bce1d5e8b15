"""Distances past the data: the directions they are measured along, each distribution's
fitted range, and the runs a leave-future-out refit holds out along each direction."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..data import ALL_DISTRIBUTIONS, DISTRIBUTION

MIN_LEVELS = 3  # an input needs this many distinct values in a distribution to hold one out
LEVEL_SHARE = 3  # leave-future-out holds out the largest 1/LEVEL_SHARE of an input's values
# The direction in which every input grows together (their product: compute, for params x
# tokens), measured beside each input's own (see :func:`directions`).
PRODUCT = "product"


def directions(inputs: tuple[str, ...]) -> tuple[str, ...]:
    """The directions distance is measured along: each input, and with two or more inputs
    their product (:data:`PRODUCT`), the direction future runs take (compute, for params x
    tokens). Runs in a diagonal band of the inputs are far along it in the corner past the
    band, though inside each input's own range."""
    return (*inputs, PRODUCT) if len(inputs) > 1 else tuple(inputs)


def log_coordinates(table: pd.DataFrame, inputs: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Each direction's natural-log coordinate of the rows (-inf where an input is 0)."""
    with np.errstate(divide="ignore"):
        logs = {column: np.log(table[column].to_numpy(float)) for column in inputs}
    if len(inputs) > 1:
        logs[PRODUCT] = np.sum(list(logs.values()), axis=0)
    return logs


def fitted_ranges(table: pd.DataFrame, inputs: tuple[str, ...]) -> pd.DataFrame:
    """Smallest and largest log coordinate along each direction (``log_<direction>_min/_max``,
    see :func:`directions`; zeros left out) per distribution, plus a row ``*`` for all runs
    together (the range a new distribution is judged by)."""
    rows = {}
    groups = [(name, part) for name, part in table.groupby(DISTRIBUTION, sort=False)] + [
        (ALL_DISTRIBUTIONS, table)
    ]
    for name, part in groups:
        row = {}
        for direction, values in log_coordinates(part, inputs).items():
            finite = values[np.isfinite(values)]
            row[f"log_{direction}_min"], row[f"log_{direction}_max"] = finite.min(), finite.max()
        rows[name] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def distances_beyond(
    grid: pd.DataFrame, ranges: pd.DataFrame, inputs: tuple[str, ...], labels: np.ndarray | None = None
) -> np.ndarray:
    """Log-distance of each grid row beyond its distribution's fitted range along each
    direction (rows x :func:`directions`; 0 inside, and 0 where an input is 0).

    ``labels`` are the distributions the rows are judged by (default the grid's
    ``distribution`` column; ``*`` for the range of all runs). In e-folds, not in widths of
    the range: on lin2024's curves, distances in range widths (a longer lever past a narrow
    range) learned scales that left held-out runs uncovered (0.59 and 0.77 against 0.81 and
    0.88; docs/records.md, "Distances in e-folds").
    """
    labels = grid[DISTRIBUTION].astype(str).to_numpy() if labels is None else labels
    bounds = ranges.reindex(labels)
    coordinates = log_coordinates(grid, inputs)
    beyond = np.zeros((len(grid), len(coordinates)))
    for i, (direction, x) in enumerate(coordinates.items()):
        low = bounds[f"log_{direction}_min"].to_numpy(float)
        high = bounds[f"log_{direction}_max"].to_numpy(float)
        beyond[:, i] = np.where(np.isfinite(x), np.maximum(x - high, 0.0) + np.maximum(low - x, 0.0), 0.0)
    return beyond


def combined_distance(beyond: np.ndarray) -> np.ndarray:
    """The extrapolation distance of rows lying ``beyond`` (rows x directions, see
    :func:`distances_beyond`) their fitted ranges: the largest distance along any direction."""
    return beyond.max(axis=-1, initial=0.0)


def extrapolation_distance(
    grid: pd.DataFrame, ranges: pd.DataFrame, inputs: tuple[str, ...], labels: np.ndarray | None = None
) -> np.ndarray:
    """Log-distance of each grid row beyond its distribution's fitted range: the largest of
    its distances along the directions (:func:`distances_beyond`); 0 inside the range."""
    return combined_distance(distances_beyond(grid, ranges, inputs, labels))


def leave_future_out_cuts(
    table: pd.DataFrame, inputs: tuple[str, ...], min_runs: int
) -> dict[str, np.ndarray]:
    """For each direction (:func:`directions`), the runs a leave-future-out refit holds out:
    in each distribution with at least ``MIN_LEVELS`` distinct values along it, the runs at
    its largest third of those values (at least the largest one), as long as 2 values and
    ``min_runs`` runs remain. Several levels, not one, so the held-out runs reach a distance
    past the rest like the one predictions are asked for. Directions where no distribution
    qualifies are left out."""
    cuts = {}
    for direction, coordinate in log_coordinates(table, inputs).items():
        # rounded: a product's logs from different inputs must match where the values do
        coordinate = pd.Series(np.round(coordinate, 9), index=table.index)
        held = np.zeros(len(table), dtype=bool)
        for _, part in coordinate.groupby(table[DISTRIBUTION].to_numpy(), sort=False):
            levels = np.sort(part[np.isfinite(part)].unique())
            if len(levels) < MIN_LEVELS:
                continue
            top = (part >= levels[-max(1, len(levels) // LEVEL_SHARE)]).to_numpy()
            if (~top).sum() >= min_runs:
                held[part.index.to_numpy()[top]] = True
        if held.any():
            cuts[direction] = held
    return cuts
