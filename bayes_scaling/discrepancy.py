"""How wrong the law may be past the data: extrapolation distance and the discrepancy scales.

Real runs never follow a law exactly, and the misfit grows with the distance from the runs
a curve was fitted on. Posterior bands count parameter and noise uncertainty only, so past
the data they are overconfident. We add, on the log-loss scale, a discrepancy

    log L_true(x) = log L_law(x) + delta(x),   delta(x) ~ Normal(0, sum_i (scale_i * d_i(x))^2),

where d_i(x) is the log-distance (natural log) of x beyond its distribution's fitted range
of input i; d_i = 0 inside the range, so bands there do not change. The
**extrapolation distance** reported with predictions is sqrt(sum_i d_i^2). Each input has
its own scale because a law can hold along one input and break along another (mikami2021
follows the law in pre-training images but not past 10% of ImageNet in fine-tuning images).
Each scale is learned from the data by a leave-future-out fit within the runs: refit without
each distribution's largest levels of that input, predict the held-out runs, and choose the
scale that makes their errors, given the refit's own parameter and noise uncertainty, most
likely. This module holds that arithmetic and, in :func:`learn_discrepancy`, the refits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import xarray as xr
from scipy import optimize, stats

from . import engine
from .data import DISTRIBUTION, Runs
from .model import OBSERVED, Normalisation, run_data
from .spec import ModelSpec

MIN_LEVELS = 3  # an input needs this many distinct values in a distribution to hold one out
LEVEL_SHARE = 3  # leave-future-out holds out the largest 1/LEVEL_SHARE of an input's values
# A scale is kept only when the held-out errors reject "no discrepancy" by a likelihood-ratio
# test at the 5% level, shared between the inputs tested (Bonferroni), so that a law that
# holds along every input gets a spurious scale in at most ~5% of tables. The scale sits on
# the boundary (0) under that hypothesis, so twice the log-likelihood gain follows a 50:50
# mixture of chi2_0 and chi2_1 (Self and Liang 1987): with one input tested the 95% point is
# 2.71, a gain of 1.35; with two, 3.84, a gain of 1.92.
TEST_LEVEL = 0.05


def gain_threshold(tests: int = 1) -> float:
    """The log-likelihood gain a scale must pass when ``tests`` inputs are tested."""
    return float(stats.chi2.isf(2 * TEST_LEVEL / max(tests, 1), df=1)) / 2


MIN_LOG_LIKELIHOOD_GAIN = gain_threshold(1)  # 1.35


# In ``Discrepancy.scales``, a scale for every input: how fits saved before the scales were
# per input (one scale on the combined distance) are read back, unchanged in meaning.
EVERY_INPUT = "*"


@dataclass(frozen=True)
class Discrepancy:
    """The learned scales (log loss per unit of log-distance beyond the fitted range, one
    per input tested; 0 for the rest) and how they were measured."""

    scales: Mapping[str, float] = field(default_factory=dict)
    log_likelihood_gains: Mapping[str, float] = field(default_factory=dict)  # each best scale's over none
    heldout_runs: int = 0
    cuts: tuple[str, ...] = ()
    note: str = ""
    threshold: float = MIN_LOG_LIKELIHOOD_GAIN  # the gain a scale had to pass to be kept

    def scale(self, name: str) -> float:
        """The scale of one input (0 where none was learned)."""
        return float(self.scales.get(name, self.scales.get(EVERY_INPUT, 0.0)))

    @property
    def learned(self) -> bool:
        """Whether any input has a scale above 0: bands past the data are wider than the law's."""
        return any(value > 0 for value in self.scales.values())

    def law_error_sd(self, beyond: np.ndarray, inputs: tuple[str, ...]) -> np.ndarray:
        """Standard deviation of the law's error on log loss at rows lying ``beyond`` (rows x
        inputs, see :func:`distances_beyond`) their fitted ranges."""
        scales = np.array([self.scale(name) for name in inputs])
        return np.sqrt(((beyond * scales) ** 2).sum(axis=-1))

    def to_dict(self) -> dict:
        return asdict(self) | {
            "scales": dict(self.scales),
            "log_likelihood_gains": dict(self.log_likelihood_gains),
        }

    def describe(self) -> str:
        """One phrase: the scales and the evidence for them, or why there are none."""
        if self.note:
            return self.note
        each = "; ".join(
            f"{name} {self.scale(name):.3g} (gain {self.log_likelihood_gains.get(name, 0.0):.2f})"
            for name in self.scales
        )
        return (
            f"scale per unit log-distance beyond the fitted range, from {self.heldout_runs} held-out "
            f"runs: {each} (a scale is kept where its log-likelihood gain over none passes "
            f"{self.threshold:.2f})"
        )

    @classmethod
    def from_dict(cls, raw: Mapping) -> Discrepancy:
        raw = dict(raw)
        if "scale" in raw:  # saved with one scale for the combined distance
            raw["scales"] = {EVERY_INPUT: raw.pop("scale")}
            raw["log_likelihood_gains"] = {EVERY_INPUT: raw.pop("log_likelihood_gain", 0.0)}
            raw.setdefault("threshold", MIN_LOG_LIKELIHOOD_GAIN)
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


def distances_beyond(
    grid: pd.DataFrame, ranges: pd.DataFrame, inputs: tuple[str, ...], labels: np.ndarray | None = None
) -> np.ndarray:
    """Log-distance of each grid row beyond its distribution's fitted range of each input
    (rows x inputs; 0 inside).

    ``labels`` are the distributions the rows are judged by (default the grid's
    ``distribution`` column; ``*`` for the range of all runs).
    """
    labels = grid[DISTRIBUTION].astype(str).to_numpy() if labels is None else labels
    bounds = ranges.reindex(labels)
    beyond = np.zeros((len(grid), len(inputs)))
    for i, column in enumerate(inputs):
        with np.errstate(divide="ignore"):
            x = np.log(grid[column].to_numpy(float))
        low, high = (
            np.log(bounds[f"{column}_min"].to_numpy(float)),
            np.log(bounds[f"{column}_max"].to_numpy(float)),
        )
        beyond[:, i] = np.where(np.isfinite(x), np.maximum(x - high, 0.0) + np.maximum(low - x, 0.0), 0.0)
    return beyond


def combined_distance(beyond: np.ndarray) -> np.ndarray:
    """The extrapolation distance of rows lying ``beyond`` (rows x inputs, see
    :func:`distances_beyond`) their fitted ranges: the inputs' distances in quadrature."""
    return np.sqrt((beyond**2).sum(axis=-1))


def extrapolation_distance(
    grid: pd.DataFrame, ranges: pd.DataFrame, inputs: tuple[str, ...], labels: np.ndarray | None = None
) -> np.ndarray:
    """Log-distance of each grid row beyond its distribution's fitted range, the inputs'
    distances (:func:`distances_beyond`) combined in quadrature; 0 inside the range."""
    return combined_distance(distances_beyond(grid, ranges, inputs, labels))


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
    residual: np.ndarray,
    variance: np.ndarray,
    distance: np.ndarray,
    nu: float,
    threshold: float = MIN_LOG_LIKELIHOOD_GAIN,
) -> tuple[float, float]:
    """The scale s maximising sum_i log t_nu(residual_i; 0, sqrt(variance_i + (s d_i)^2)),
    and that maximum's log-likelihood gain over s = 0.

    ``residual`` is the held-out run's log loss minus the refit's mean prediction,
    ``variance`` the refit's predictive variance of it (parameters and noise). The scale is 0
    unless the gain passes ``threshold``: held-out runs no worse than the refit
    expects, or too few to tell, leave bands past the data as they are. ``threshold`` is the
    gain to pass (see :func:`gain_threshold` where several inputs are tested).
    """

    def negative_log_likelihood(log_scale: float) -> float:
        total = variance + (np.exp(log_scale) * distance) ** 2
        return -float(stats.t.logpdf(residual, nu, scale=np.sqrt(total)).sum())

    result = optimize.minimize_scalar(
        negative_log_likelihood, bounds=(np.log(1e-6), np.log(10.0)), method="bounded"
    )
    at_zero = -float(stats.t.logpdf(residual, nu, scale=np.sqrt(variance)).sum())
    gain = max(at_zero - float(result.fun), 0.0)
    return (float(np.exp(result.x)) if gain > threshold else 0.0), gain


def learn_discrepancy(
    spec: ModelSpec,
    runs: Runs,
    normalisation: Normalisation,
    centring: Mapping[str, np.ndarray],
    *,
    draws: int,
    tune: int,
    chains: int,
    seed: int,
    **settings,
) -> Discrepancy:
    """Leave-future-out refits within the runs: for each input, drop every distribution's
    largest levels of it (weight 0, on the fit's own compiled model), predict the dropped
    runs, and learn that input's discrepancy scale from their errors and their distances
    along it, each tested at the 5% level shared between the inputs (:func:`gain_threshold`).
    ``settings`` go to :func:`engine.sample` (sampler, adaptation, target_accept)."""
    inputs = spec.law.inputs
    cuts = leave_future_out_cuts(runs.table, inputs, max(spec.min_runs_per_distribution, 2))
    if not cuts:
        return Discrepancy(
            note=f"not learned: no distribution has {MIN_LEVELS}+ distinct values of any input "
            f"({', '.join(inputs)}); bands past the data count parameters and noise only"
        )
    data = run_data(spec, runs, normalisation)
    threshold = gain_threshold(len(cuts))
    scales, gains = {}, {}
    for k, (column, held) in enumerate(cuts.items()):
        idata, _ = engine.sample(
            spec, runs, normalisation, centring=centring, run_weight=(~held).astype(float),
            draws=draws, tune=tune, chains=chains, seed=seed + 1 + k, progress=False, **settings,
        )  # fmt: skip
        residual, variance = _heldout_errors(idata.posterior.to_dataset(), spec, data, held)
        along = distances_beyond(runs.table[held], fitted_ranges(runs.table[~held], inputs), inputs)
        scales[column], gains[column] = learn_scale(
            residual, variance, along[:, inputs.index(column)], spec.likelihood.nu, threshold
        )
    return Discrepancy(
        scales=scales,
        log_likelihood_gains=gains,
        heldout_runs=int(sum(h.sum() for h in cuts.values())),
        cuts=tuple(cuts),
        threshold=threshold,
    )


def _heldout_errors(
    posterior: xr.Dataset, spec: ModelSpec, data: Mapping[str, np.ndarray], held: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each held-out run's log loss minus the refit's mean prediction, and the refit's
    predictive variance of it (parameters and noise)."""
    index = data["distribution_index"][held]

    def per_run(name: str) -> np.ndarray:  # (sample, held run)
        value = posterior[name].stack(sample=("chain", "draw")).transpose("sample", ...).values
        return value[:, index] if value.ndim == 2 else value[:, None]

    log_inputs = [data[f"log_{name}"][held][None, :] for name in spec.law.inputs]
    mean = spec.law.log_loss(*log_inputs, **{name: per_run(name) for name in spec.law.parameters})
    nu = spec.likelihood.nu
    noise = (per_run("sigma") ** 2).mean(axis=0) * nu / (nu - 2)
    residual = data[f"{OBSERVED}_observed"][held] - mean.mean(axis=0)
    return residual, mean.var(axis=0) + noise
