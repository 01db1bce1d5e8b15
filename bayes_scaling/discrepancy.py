"""How wrong the law may be past the data: extrapolation distance and the discrepancy scale.

Real runs never follow a law exactly, and the misfit grows with the distance from the runs
a curve was fitted on. Posterior bands count parameter and noise uncertainty only, so past
the data they are overconfident. We add, on the log-loss scale, a discrepancy

    log L_true(x) = log L_law(x) + delta(x),   delta(x) ~ Normal(0, (scale * d(x))^2),

where d(x) is the **extrapolation distance**: the log-distance (natural log, summed in
quadrature over the law's inputs) of x beyond its distribution's fitted range; d = 0 inside
the range, so bands there do not change. The scale is learned from the data by
leave-future-out fits within the runs: refit without each distribution's largest level of
one input, predict the held-out runs, and choose the scale that makes their errors, given
the refit's own parameter and noise uncertainty, most likely. This module holds the pure
arithmetic; ``fit.py`` runs the refits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats

from .data import DISTRIBUTION

MIN_LEVELS = 3  # an input needs this many distinct values in a distribution to hold one out
LEVEL_SHARE = 3  # leave-future-out holds out the largest 1/LEVEL_SHARE of an input's values
# A scale is kept only when the held-out errors reject "no discrepancy" by a likelihood-ratio
# test at the 5% level. The scale sits on the boundary (0) under that hypothesis, so twice the
# log-likelihood gain follows a 50:50 mixture of chi2_0 and chi2_1 (Self and Liang 1987),
# whose 95% point is 2.71: a gain of 1.35.
MIN_LOG_LIKELIHOOD_GAIN = 1.35


@dataclass(frozen=True)
class Discrepancy:
    """The learned scale (log loss per unit of log-distance) and how it was measured."""

    scale: float = 0.0
    heldout_runs: int = 0
    cuts: tuple[str, ...] = ()
    note: str = ""
    log_likelihood_gain: float = 0.0  # of the best scale over none, on the held-out runs

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        """One phrase: the scale and the evidence for it, or why there is none."""
        if self.note:
            return self.note
        return (
            f"scale {self.scale:.3g} per unit log-distance, from {self.heldout_runs} held-out runs "
            f"(log-likelihood gain {self.log_likelihood_gain:.2f} over none; kept above "
            f"{MIN_LOG_LIKELIHOOD_GAIN})"
        )

    @classmethod
    def from_dict(cls, raw: Mapping) -> Discrepancy:
        return cls(**{**raw, "cuts": tuple(raw.get("cuts", ()))})


def fitted_ranges(table: pd.DataFrame, inputs: tuple[str, ...]) -> pd.DataFrame:
    """Smallest and largest positive value of each input per distribution (``<input>_min/_max``),
    plus a row ``*`` for all runs together (the range a new distribution is judged by)."""
    rows = {}
    groups = [(name, part) for name, part in table.groupby(DISTRIBUTION, sort=False)] + [("*", table)]
    for name, part in groups:
        row = {}
        for column in inputs:
            positive = part[column][part[column] > 0]
            row[f"{column}_min"], row[f"{column}_max"] = positive.min(), positive.max()
        rows[name] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def extrapolation_distance(
    grid: pd.DataFrame, ranges: pd.DataFrame, inputs: tuple[str, ...], labels: np.ndarray | None = None
) -> np.ndarray:
    """Log-distance of each grid row beyond its distribution's fitted range (0 inside it).

    ``labels`` are the distributions the rows are judged by (default the grid's
    ``distribution`` column; ``*`` for the range of all runs).
    """
    labels = grid[DISTRIBUTION].astype(str).to_numpy() if labels is None else labels
    bounds = ranges.reindex(labels)
    squared = np.zeros(len(grid))
    for column in inputs:
        with np.errstate(divide="ignore"):
            x = np.log(grid[column].to_numpy(float))
        low, high = (
            np.log(bounds[f"{column}_min"].to_numpy(float)),
            np.log(bounds[f"{column}_max"].to_numpy(float)),
        )
        beyond = np.where(np.isfinite(x), np.maximum(x - high, 0.0) + np.maximum(low - x, 0.0), 0.0)
        squared += beyond**2
    return np.sqrt(squared)


def leave_future_out_cuts(
    table: pd.DataFrame, inputs: tuple[str, ...], min_runs: int
) -> dict[str, np.ndarray]:
    """For each input, the runs a leave-future-out refit holds out: in each distribution with
    at least ``MIN_LEVELS`` distinct values of the input, the runs at its largest third of
    those values (at least the largest one), as long as 2 values and ``min_runs`` runs
    remain. Several levels, not one, so the held-out runs reach a distance past the rest
    like the one predictions are asked for. Inputs where no distribution qualifies are left out."""
    cuts = {}
    for column in inputs:
        held = np.zeros(len(table), dtype=bool)
        for _, part in table.groupby(DISTRIBUTION, sort=False):
            values = part[column]
            levels = np.sort(values[values > 0].unique())
            if len(levels) < MIN_LEVELS:
                continue
            top = (values >= levels[-max(1, len(levels) // LEVEL_SHARE)]).to_numpy()
            if (~top).sum() >= min_runs:
                held[part.index.to_numpy()[top]] = True
        if held.any():
            cuts[column] = held
    return cuts


def learn_scale(
    residual: np.ndarray, variance: np.ndarray, distance: np.ndarray, nu: float
) -> tuple[float, float]:
    """The scale s maximising sum_i log t_nu(residual_i; 0, sqrt(variance_i + (s d_i)^2)),
    and that maximum's log-likelihood gain over s = 0.

    ``residual`` is the held-out run's log loss minus the refit's mean prediction,
    ``variance`` the refit's predictive variance of it (parameters and noise). The scale is 0
    unless the gain passes ``MIN_LOG_LIKELIHOOD_GAIN``: held-out runs no worse than the refit
    expects, or too few to tell, leave bands past the data as they are.
    """

    def negative_log_likelihood(log_scale: float) -> float:
        total = variance + (np.exp(log_scale) * distance) ** 2
        return -float(stats.t.logpdf(residual, nu, scale=np.sqrt(total)).sum())

    result = optimize.minimize_scalar(
        negative_log_likelihood, bounds=(np.log(1e-6), np.log(10.0)), method="bounded"
    )
    at_zero = -float(stats.t.logpdf(residual, nu, scale=np.sqrt(variance)).sum())
    gain = max(at_zero - float(result.fun), 0.0)
    return (float(np.exp(result.x)) if gain > MIN_LOG_LIKELIHOOD_GAIN else 0.0), gain
