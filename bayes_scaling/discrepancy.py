"""How wrong the law may be, inside the data and past it: the misfit the bands include.

Real runs never follow a law exactly. Posterior bands count parameter and noise uncertainty
only, so where the law misfits and past the data they are overconfident. We add, on the
log-loss scale, a discrepancy

    log L_true(x) = log L_law(x) + delta(x),
    delta(x) ~ Normal(0, m_d^2 + max_k (s_k * d_k(x)^q_k)^2),

- m_d, the misfit inside the data of x's distribution d: a law that misfits a distribution
  does so systematically (the runs at one fine-tuning size off the curve together), seen in
  the fit's residuals per level of each input (:func:`learn_misfit`);
- d_k(x), the log-distance (natural log) of x beyond its distribution's fitted range along
  direction k (:func:`directions`: each input, and their product, the direction in which
  compute grows); 0 inside the range. The **extrapolation distance** reported with
  predictions is the largest d_k;
- s_k and q_k, the scale and growth power along k, learned by leave-future-out refits within
  the runs: refit without each distribution's largest levels along k, predict the held-out
  runs, and choose the scale (and then the power) that makes their errors, given the refit's
  own parameter and noise uncertainty, most likely. Each direction has its own because a law
  can hold along one input and break along another.

The same refits weigh a second form along each direction: the posterior too sure of its
parameters when it extrapolates, so that past the data the spread of log L_law over the
parameters' draws is widened by a factor k_k (:func:`learn_spread`). Where the held-out runs
favour it, it takes that direction's place of s_k; a point past the data along several
directions takes the largest factor.

A distribution's misfit inside the data is kept only where a likelihood-ratio test at the
5% level says so. Past the data, each direction's scale or factor is weighed by its evidence
against none, with even odds at that test's threshold (:func:`evidence_weight`), so that
bands move with the evidence instead of jumping at a threshold, and where the law holds they
are (nearly) the parameter-and-noise ones. This module holds that arithmetic and, in
:func:`learn_discrepancy`, the refits.
"""

from __future__ import annotations

import sys
import time
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
# The gain of a likelihood-ratio test at the 5% level, shared between the directions tested
# (Bonferroni), sets the prior odds of a misfit past the data: even odds where the held-out
# errors would reject "no discrepancy" at that level (see :func:`evidence_weight`). The
# scale sits on the boundary (0) under that hypothesis, so twice the log-likelihood gain
# follows a 50:50 mixture of chi2_0 and chi2_1 (Self and Liang 1987): with one input tested
# the 95% point is 2.71, a gain of 1.35; with two, 3.84, a gain of 1.92.
TEST_LEVEL = 0.05


def gain_threshold(tests: int = 1) -> float:
    """The log-likelihood gain a scale must pass when ``tests`` inputs are tested."""
    return float(stats.chi2.isf(2 * TEST_LEVEL / max(tests, 1), df=1)) / 2


MIN_LOG_LIKELIHOOD_GAIN = gain_threshold(1)  # 1.35


def evidence_weight(gain: float, threshold: float = MIN_LOG_LIKELIHOOD_GAIN) -> float:
    """The weight a misfit past the data gets in the bands: its posterior probability
    against none, 1 / (1 + exp(threshold - gain)), with prior odds exp(-threshold) and the
    likelihood ratio exp(gain) at its best scale. Even odds at the test's threshold, ~1 well
    above it; 0 at no gain, where the best scale is 0 too.

    Weighed, not kept or dropped at the threshold: on mikami2021's fine-tuning backtest a
    gain of 2.31 against a threshold of 2.26 kept a scale (bands 103% wide, covering every
    held-out run) and a gain of 2.22, from refits of 400 draws instead of 600, dropped it
    (49.7%, covering 0.675): Monte Carlo noise decided. Weighed, the bands move with the
    evidence, not across a cliff (benchmarks/RESULTS.md, issue 27)."""
    return float(1.0 / (1.0 + np.exp(threshold - gain))) if gain > 0 else 0.0


# In ``Discrepancy.scales``, a scale for every input: how fits saved before the scales were
# per input (one scale on the combined distance) are read back, unchanged in meaning.
EVERY_INPUT = "*"
# The direction in which every input grows together (their product: compute, for params x
# tokens), measured beside each input's own (see :func:`directions`).
PRODUCT = "product"
# Powers of the distance a misfit may grow with past the data: levelling off (1/2), linear,
# accelerating (2). A few values, not a continuum: held-out runs at two or three distances
# tell these apart and little more.
GROWTH_POWERS = (0.5, 1.0, 2.0)
NORMAL_NU = 1e6  # a Student-t this heavy is the Normal
# The share of the distributions a direction's held-out runs must come from for a widened
# parameter spread to be learned there (see :func:`_spread_speaks_for`)
MIN_SPREAD_DISTRIBUTIONS = 0.5
# Levels of an input with fewer runs say nothing of a misfit shared by a level's runs (where
# every run has its own input values, as in the example, there are none)
MIN_RUNS_PER_LEVEL = 3


@dataclass(frozen=True)
class Discrepancy:
    """The law's learned misfit and how it was measured.

    Past the data: a scale per direction tested (log loss per unit of log-distance beyond the
    fitted range along it; 0 for the rest) and the power of the distance it grows with.
    Inside the data: each distribution's misfit (sd on log loss; 0 for the rest)."""

    scales: Mapping[str, float] = field(default_factory=dict)
    log_likelihood_gains: Mapping[str, float] = field(default_factory=dict)  # each best scale's over none
    heldout_runs: int = 0
    cuts: tuple[str, ...] = ()
    note: str = ""
    threshold: float = MIN_LOG_LIKELIHOOD_GAIN  # the gain a scale had to pass to be kept
    powers: Mapping[str, float] = field(default_factory=dict)  # growth with distance; 1 unless learned
    misfit: Mapping[str, float] = field(default_factory=dict)  # per distribution, inside the data
    misfit_gains: Mapping[str, float] = field(default_factory=dict)
    misfit_threshold: float = 0.0
    # per direction, the factor by which the parameters' spread of the law is widened past the
    # data, where the held-out runs favoured that form over a scale (1 for the rest)
    spread_factors: Mapping[str, float] = field(default_factory=dict)

    def scale(self, name: str) -> float:
        """The scale along one direction (0 where none was learned)."""
        fallback = 0.0 if name == PRODUCT else self.scales.get(EVERY_INPUT, 0.0)
        return float(self.scales.get(name, fallback))

    def power(self, name: str) -> float:
        """The power of the distance the misfit grows with along one direction."""
        return float(self.powers.get(name, 1.0))

    def spread_factor(self, name: str) -> float:
        """The factor widening the parameters' spread past the data along one direction."""
        return float(self.spread_factors.get(name, 1.0))

    @property
    def learned(self) -> bool:
        """Whether any misfit was learned: bands are wider than the law's alone somewhere."""
        widened = any(value > 1 for value in self.spread_factors.values())
        return widened or any(value > 0 for value in (*self.scales.values(), *self.misfit.values()))

    def parameter_spread(self, beyond: np.ndarray, inputs: tuple[str, ...]) -> np.ndarray:
        """Factor by which each row's spread of the law over the parameters' draws is widened:
        the largest spread factor of the directions along which the row lies past the data
        (``beyond``: rows x :func:`directions`), 1 inside the range."""
        names = directions(inputs)[: beyond.shape[-1]]
        factors = np.array([self.spread_factor(name) for name in names])
        return np.where(beyond > 0, factors, 1.0).max(axis=-1, initial=1.0)

    def distribution_misfit(self, labels: np.ndarray | None, rows: int) -> np.ndarray:
        """Each row's misfit sd inside the data: its distribution's (0 where none was kept),
        or for a new distribution (``labels=None``) the root mean square over the
        distributions fitted, a new one being as likely to stray as a fitted one."""
        if labels is None:
            values = np.array([*self.misfit.values(), *[0.0] * (len(self.misfit_gains) - len(self.misfit))])
            return np.full(rows, np.sqrt((values**2).mean()) if len(values) else 0.0)
        return np.array([self.misfit.get(str(label), 0.0) for label in labels])

    def law_error_sd(
        self, beyond: np.ndarray, inputs: tuple[str, ...], labels: np.ndarray | None = None
    ) -> np.ndarray:
        """Standard deviation of the law's error on log loss at rows lying ``beyond`` (rows x
        :func:`directions` of ``inputs``, see :func:`distances_beyond`) their fitted ranges,
        of distributions ``labels`` (None: a new distribution)."""
        names = directions(inputs)[: beyond.shape[-1]]
        scales = np.array([self.scale(name) for name in names])
        powers = np.array([self.power(name) for name in names])
        # the largest direction's, not their sum: each scale was learned alone, as all of the
        # error of runs held out along it, and those runs lie past the data along the other
        # directions too (a corner past the fine-tuning sizes is past the product as well).
        # Summing counted that error twice: bands 1.4x too wide on alabdulmohsin2022, whose
        # pre-training and product scales are alike (benchmarks/RESULTS.md, issue 27).
        past = (scales * beyond**powers).max(axis=-1, initial=0.0)
        return np.sqrt(past**2 + self.distribution_misfit(labels, len(beyond)) ** 2)

    def to_dict(self) -> dict:
        return asdict(self) | {
            name: dict(getattr(self, name))
            for name in (
                "scales",
                "log_likelihood_gains",
                "powers",
                "misfit",
                "misfit_gains",
                "spread_factors",
            )
        }

    def describe(self) -> str:
        """One phrase: the misfit learned and the evidence for it, or why there is none."""
        inside = (
            "misfit inside the data: "
            + (
                ", ".join(f"{name} {value:.3g}" for name, value in self.misfit.items())
                if self.misfit
                else "none"
            )
            + (f" (kept where the gain passes {self.misfit_threshold:.2f})" if self.misfit_gains else "")
        )
        if self.note:
            return f"{self.note}; {inside}"
        each = "; ".join(
            (
                f"{name} parameter spread x{_factor(self.spread_factor(name))}"
                if self.spread_factor(name) > 1
                else f"{name} {self.scale(name):.3g}"
                + (f" x d^{self.power(name):g}" if self.power(name) != 1 else "")
            )
            + f" (gain {self.log_likelihood_gains.get(name, 0.0):.2f})"
            for name in self.scales
        )
        return (
            f"past the fitted range, from {self.heldout_runs} held-out runs, a scale per unit "
            f"log-distance or a widening of the parameters' spread: {each} (each weighed by its "
            f"evidence against none, even odds at a log-likelihood gain of {self.threshold:.2f}); "
            f"{inside}"
        )

    @classmethod
    def from_dict(cls, raw: Mapping) -> Discrepancy:
        raw = dict(raw)
        if "scale" in raw:  # saved with one scale for the combined distance
            raw["scales"] = {EVERY_INPUT: raw.pop("scale")}
            raw["log_likelihood_gains"] = {EVERY_INPUT: raw.pop("log_likelihood_gain", 0.0)}
            raw.setdefault("threshold", MIN_LOG_LIKELIHOOD_GAIN)
        return cls(**{**raw, "cuts": tuple(raw.get("cuts", ()))})


def _factor(value: float) -> str:
    """A spread factor for reading: 3 significant figures, more where it is barely above 1."""
    return f"{value:.3g}" if value >= 1.01 else f"{value:.4f}"


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
    groups = [(name, part) for name, part in table.groupby(DISTRIBUTION, sort=False)] + [("*", table)]
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
    0.88; benchmarks/RESULTS.md, issue 27).
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


def _t_log_likelihood(residual: np.ndarray, variance: np.ndarray, nu: float) -> float:
    return float(stats.t.logpdf(residual, nu, scale=np.sqrt(variance)).sum())


def learn_scale(
    residual: np.ndarray,
    variance: np.ndarray,
    distance: np.ndarray,
    nu: float,
    threshold: float = MIN_LOG_LIKELIHOOD_GAIN,
) -> tuple[float, float]:
    """The scale s maximising sum_i log t_nu(residual_i; 0, sqrt(variance_i + (s d_i)^2)),
    weighed by its evidence, and that maximum's log-likelihood gain over s = 0.

    ``residual`` is the held-out run's log loss minus the refit's mean prediction,
    ``variance`` the refit's predictive variance of it (parameters and noise). The scale
    returned is sqrt(w) s, w = :func:`evidence_weight` (gain, ``threshold``): the variance
    of the mixture of "misfit s" and "none" by their posterior odds. Held-out runs no worse
    than the refit expects, or too few to tell, leave bands past the data nearly as they
    are. ``threshold`` is the gain at even odds (see :func:`gain_threshold` where several
    inputs are tested); -inf gives the best scale itself.
    """
    scale, _, gain = _best_growth(residual, variance, distance, nu, powers=(1.0,))
    return scale * np.sqrt(evidence_weight(gain, threshold)), gain


def learn_growth(
    residual: np.ndarray, variance: np.ndarray, distance: np.ndarray, nu: float
) -> tuple[float, float]:
    """Scale s and power k of a misfit growing as s d^k past the data, by maximum likelihood
    as in :func:`learn_scale` (unweighed), k among :data:`GROWTH_POWERS`. Where the misfit
    levels off (k < 1) bands far past the data widen less than linear growth would make
    them; where it accelerates, more. The evidence for a misfit is weighed with k = 1
    (:func:`learn_scale`), so the choice of k adds no false alarms."""
    scale, power, _ = _best_growth(residual, variance, distance, nu, powers=GROWTH_POWERS)
    return scale, power


def _most_likely(residual, variance_of, nu: float, largest: float) -> tuple[float, float]:
    """The c in (1e-6, ``largest``) maximising the Student-t likelihood of ``residual`` with
    variance ``variance_of(c)``, and that maximum's log-likelihood gain over c = 0."""
    at_zero = _t_log_likelihood(residual, variance_of(0.0), nu)
    result = optimize.minimize_scalar(
        lambda log_c: -_t_log_likelihood(residual, variance_of(np.exp(log_c)), nu),
        bounds=(np.log(1e-6), np.log(largest)),
        method="bounded",
    )
    return float(np.exp(result.x)), max(-float(result.fun) - at_zero, 0.0)


def _best_growth(residual, variance, distance, nu, powers) -> tuple[float, float, float]:
    """(scale, power, log-likelihood gain over no misfit) at the best power of ``powers``."""
    best = (0.0, 1.0, -np.inf)
    for power in powers:
        spread = distance**power
        scale, gain = _most_likely(residual, lambda c, spread=spread: variance + (c * spread) ** 2, nu, 10.0)
        if gain > best[2]:
            best = (scale, power, gain)
    return best


def learn_spread(
    residual: np.ndarray,
    parameter_variance: np.ndarray,
    other_variance: np.ndarray,
    nu: float,
    threshold: float = MIN_LOG_LIKELIHOOD_GAIN,
) -> tuple[float, float]:
    """The factor k >= 1 maximising sum_i log t_nu(residual_i; 0, sqrt(k^2 v_i + w_i)), v_i
    the refit's variance from its parameters and w_i from noise and misfit, weighed by its
    evidence, and its log-likelihood gain over k = 1. Weighed as in :func:`learn_scale`: the
    factor returned is sqrt(p k^2 + 1 - p), p = :func:`evidence_weight` (gain,
    ``threshold``), the spread of the mixture of "widened by k" and "as it is".

    The other form of misfit past the data: a posterior too sure of its parameters when it
    extrapolates, by a factor. It widens bands in proportion to the law's own
    extrapolation uncertainty, so it grows past the data with the shape the law gives it,
    and shrinks where a fit has more runs than the refit it was learned from. On lin2024's
    curves the held-out runs favoured it over a scale x distance^q (FLAN's backtest covered
    0.87 instead of 0.81), on porian2024's tokens a scale (benchmarks/RESULTS.md, issue 27);
    :func:`learn_discrepancy` keeps, per direction, whichever of the two gains more, the
    factor only where its held-out runs come from half the distributions or more.
    """
    excess, gain = _most_likely(
        residual, lambda c: (1.0 + c) ** 2 * parameter_variance + other_variance, nu, 100.0
    )
    weight = evidence_weight(gain, threshold)
    return float(np.sqrt(weight * (1.0 + excess) ** 2 + 1.0 - weight)), gain


def learn_misfit(
    residual: np.ndarray,
    variance: np.ndarray,
    labels: np.ndarray,
    nu: float,
    levels: Mapping[str, np.ndarray] | None = None,
) -> tuple[dict[str, float], dict[str, float], float]:
    """Each distribution's misfit inside the data: the standard deviation m on log loss by
    which its runs stray from the fitted law beyond what parameters and the shared noise
    explain.

    A law that misfits does so systematically: the runs at one level of an input (one
    fine-tuning size, say) lie off the curve together. So the residuals are summarised by
    their median within each level of each input (``levels``: input name -> each run's
    value; levels of :data:`MIN_RUNS_PER_LEVEL` runs or more), noise averaging down and the
    systematic part staying, and m maximises sum_g log Normal(median residual_g; 0,
    sqrt(v_g + m^2)), v_g the median's variance from parameters and noise, over the levels g
    of the input where the misfit shows most (without ``levels``, over single runs, with the
    likelihood's Student-t).
    Normal, not Student-t, for the level means: one level far off the curve is the misfit
    the bands must hold, not an outlier to forgive. A distribution the law fits badly
    gets wide bands everywhere, inside the data and past it. m is kept only where its gain
    over m = 0 passes the test level shared between the distributions and inputs
    (:func:`gain_threshold`), so that where the law holds bands are as before. Returns the
    kept values, every distribution's best gain, and the threshold used.
    """
    names = pd.unique(labels)
    groupings = dict(levels) if levels else {"run": np.arange(len(labels))}
    threshold = gain_threshold(len(names) * len(groupings))
    misfit, gains = {}, {}
    for name in names:
        mine = labels == name
        best = (0.0, 0.0)
        for values in groupings.values():
            if levels:
                residual_at, variance_at = _level_medians(residual[mine], variance[mine], values[mine])
                nu_at = NORMAL_NU
            else:
                residual_at, variance_at, nu_at = residual[mine], variance[mine], nu
            if len(residual_at) < 2:  # one level: its offset is what the fit pinned, not a misfit
                continue
            scale, _, gain = _best_growth(residual_at, variance_at, np.ones(len(residual_at)), nu_at, (1.0,))
            best = max(best, (gain, scale))
        gains[str(name)] = best[0]
        if best[0] > threshold:
            misfit[str(name)] = best[1]
    return misfit, gains, threshold


def _level_medians(
    residual: np.ndarray, variance: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per level (distinct value in ``values``) with :data:`MIN_RUNS_PER_LEVEL` runs or more,
    the median residual and its variance (pi/2 x mean variance / runs). The median, so that
    one diverged run is not taken for a level off the curve."""
    frame = pd.DataFrame({"r": residual, "v": variance, "level": values})
    grouped = frame.groupby("level").agg(r=("r", "median"), v=("v", "mean"), n=("r", "size"))
    grouped = grouped[grouped.n >= MIN_RUNS_PER_LEVEL]
    return grouped.r.to_numpy(), (np.pi / 2 * grouped.v / grouped.n).to_numpy()


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
    posterior: xr.Dataset | None = None,
    progress: bool = False,
    **settings,
) -> Discrepancy:
    """The law's misfit, learned from the runs.

    Inside the data, from the fit's ``posterior``: each distribution's misfit
    (:func:`learn_misfit`). Past the data, by leave-future-out refits within the runs: for
    each direction, drop every distribution's largest levels along it (weight 0, on the
    fit's own compiled model), predict the dropped runs, and learn that direction's scale
    from their errors and their distances along it, then its growth power
    (:func:`learn_growth`); each weighed by its evidence against none, even odds at the gain
    of a 5% test shared between the directions (:func:`evidence_weight`,
    :func:`gain_threshold`). The refits run side by side (:func:`engine.sample_each`, which
    ``settings`` go to: sampler, adaptation, target_accept)."""
    inputs = spec.law.inputs
    data = run_data(spec, runs, normalisation)
    labels = np.asarray(runs.distributions)[data["distribution_index"]]
    misfit, misfit_gains, misfit_threshold = {}, {}, 0.0
    if posterior is not None:
        residual, parameter_variance, noise = _heldout_errors(
            posterior, spec, data, np.ones(len(labels), dtype=bool)
        )
        variance = parameter_variance + noise
        levels = {column: runs.table[column].to_numpy() for column in inputs}
        misfit, misfit_gains, misfit_threshold = learn_misfit(
            residual, variance, labels, spec.likelihood.nu, levels
        )
    cuts = leave_future_out_cuts(runs.table, inputs, max(spec.min_runs_per_distribution, 2))
    if not cuts:
        return Discrepancy(
            misfit=misfit, misfit_gains=misfit_gains, misfit_threshold=misfit_threshold,
            note=f"not learned past the data: no distribution has {MIN_LEVELS}+ distinct values "
            f"along any input ({', '.join(inputs)}); bands past the data count parameters, noise "
            "and the misfit inside the data only",
        )  # fmt: skip
    threshold = gain_threshold(len(cuts))
    scales, gains, powers, spread_factors = {}, {}, {}, {}
    along_all = directions(inputs)
    if progress:  # the refits show no bars of their own: say what the wait is for
        print(
            f"{spec.name}: learning the law's misfit past the data from {len(cuts)} leave-future-out "
            f"refit{'s side by side' if len(cuts) > 1 else ''}, along {', '.join(cuts)}",
            file=sys.stderr,
            flush=True,
        )
    start = time.perf_counter()
    refits = engine.sample_each(
        spec, runs, normalisation, [(~held).astype(float) for held in cuts.values()],
        [seed + 1 + k for k in range(len(cuts))], centring=centring, draws=draws, tune=tune,
        chains=chains, **settings,
    )  # fmt: skip
    if progress:
        print(f"{spec.name}: refits done in {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
    for idata, (direction, held) in zip(refits, cuts.items(), strict=True):
        residual, parameter_variance, noise = _heldout_errors(idata.posterior.to_dataset(), spec, data, held)
        other = noise + np.array([misfit.get(name, 0.0) for name in labels[held]]) ** 2
        variance = parameter_variance + other
        along = distances_beyond(runs.table[held], fitted_ranges(runs.table[~held], inputs), inputs)
        distance = along[:, along_all.index(direction)]
        nu = spec.likelihood.nu
        scales[direction], gains[direction] = learn_scale(residual, variance, distance, nu, threshold)
        factor, spread_gain = learn_spread(residual, parameter_variance, other, nu, threshold)
        if factor > 1 and spread_gain > gains[direction] and _spread_speaks_for(labels[held], labels):
            scales[direction], gains[direction], spread_factors[direction] = 0.0, spread_gain, factor
        elif scales[direction] > 0:
            # the best power's scale, weighed by the evidence for a misfit at all (k = 1)
            scale, powers[direction] = learn_growth(residual, variance, distance, nu)
            scales[direction] = scale * np.sqrt(evidence_weight(gains[direction], threshold))
    return Discrepancy(
        scales=scales,
        log_likelihood_gains=gains,
        powers=powers,
        heldout_runs=int(sum(h.sum() for h in cuts.values())),
        cuts=tuple(cuts),
        threshold=threshold,
        misfit=misfit,
        misfit_gains=misfit_gains,
        misfit_threshold=misfit_threshold,
        spread_factors=spread_factors,
    )


def _spread_speaks_for(held_labels: np.ndarray, labels: np.ndarray) -> bool:
    """Whether the runs held out along a direction come from at least
    :data:`MIN_SPREAD_DISTRIBUTIONS` of the distributions.

    A factor on the parameters' spread is learned from the spreads of the distributions whose
    runs were held out, and widens every distribution's. Spreads differ by orders of
    magnitude between distributions (a distribution with one fine-tuning size left has its
    fine-tuning exponent from the prior alone), so a factor learned on a few is no measure
    of the others: on mikami2021's fine-tuning backtest, a factor of 4.6 learned from one
    distribution's seven runs made bands 202% wide where a scale per log-distance, whose
    error does not depend on a distribution's spread, made them 103% (both covered every run;
    benchmarks/RESULTS.md, issue 27). There the scale is kept."""
    return len(pd.unique(held_labels)) >= MIN_SPREAD_DISTRIBUTIONS * len(pd.unique(labels))


def _heldout_errors(
    posterior: xr.Dataset, spec: ModelSpec, data: Mapping[str, np.ndarray], held: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each held-out run's log loss minus the refit's mean prediction, and the refit's
    predictive variance of it from the parameters and from the noise."""
    index = data["distribution_index"][held]

    def per_run(name: str) -> np.ndarray:  # (sample, held run)
        value = posterior[name].stack(sample=("chain", "draw")).transpose("sample", ...).values
        return value[:, index] if value.ndim == 2 else value[:, None]

    log_inputs = [data[f"log_{name}"][held][None, :] for name in spec.law.inputs]
    mean = spec.law.log_loss(*log_inputs, **{name: per_run(name) for name in spec.law.parameters})
    nu = spec.likelihood.nu
    noise = (per_run("sigma") ** 2).mean(axis=0) * nu / (nu - 2)
    residual = data[f"{OBSERVED}_observed"][held] - mean.mean(axis=0)
    return residual, mean.var(axis=0), noise
