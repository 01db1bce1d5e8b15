"""How fast a law's error grows past the data, as a prior learned from many scaling studies.

One table's runs can rarely tell how its law's misfit grows past them: its leave-future-out
refits hold out a few levels at a short distance, and where those fit, the scale learned is
0 and the bands past the data are the law's alone. Yet in every public scaling study the
error of an extrapolation grows with distance, at a rate of one order across unrelated
studies (issue 41). So the scale s of the misfit past the data (sd of the error on log loss
per unit of natural-log distance beyond the fitted range) gets a population prior,

    s = 0 with probability 1 - weight (the law holds past the data),
    log s ~ Normal(log median, log_sd^2) otherwise,

learned by empirical Bayes from corpus tables (:func:`learn_growth_prior`, the command in
``scripts/learn_growth_prior.py``) and stated in each shipped spec's
``[discrepancy.growth_prior]`` with its provenance. A fit's own leave-future-out errors then
update it (:func:`posterior_scale`): bands past the data use the posterior root mean square
of s. Numbers in, numbers out: no model, no sampler; the scale grid is
:data:`LOG_SCALE_GRID`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special, stats

from ..spec import GrowthPrior

# The shares of the growth's variance that are a slope common to a distribution's runs,
# tried when a prior is learned (learn_shared_growth_prior)
SHARED_GRID = (0.0, 0.25, 0.5, 0.75, 0.9)
# Scales from 1e-4 (0.01% of log loss per e-fold) to 1: the corpus's lie near 1e-2
LOG_SCALE_GRID = np.linspace(np.log(1e-4), np.log(1.0), 241)
# A handful of tables cannot pin their spread: its maximum likelihood sits at 0 (as a
# hierarchy's tau does with few groups), which would let no table's own runs move its scale.
# 0.5, a factor 1.65 either way at one sd, is the least the corpus's tables do not rule out
# (docs/records.md, "Growth prior").
MIN_LOG_SD = 0.5


def prior_log_density(prior: GrowthPrior) -> np.ndarray:
    """Log prior mass of each grid scale, given a misfit (sums to 1 over the grid)."""
    density = stats.norm.logpdf(LOG_SCALE_GRID, np.log(prior.median), prior.log_sd)
    return density - special.logsumexp(density)


def log_likelihood_on_grid(
    residual: np.ndarray,
    variance: np.ndarray,
    distance: np.ndarray,
    nu: float,
    groups: np.ndarray | None = None,
    shared: float = 0.0,
) -> tuple[np.ndarray, float]:
    """The log likelihood of held-out errors under each grid scale, and under s = 0.

    Without ``groups`` (fits saved before errors kept their distributions), each run's error
    its own: sum_i log t_nu(residual_i; 0, sqrt(variance_i + (s distance_i)^2)), ``variance``
    the prediction's own (parameters, noise, the misfit inside the data). With ``groups``
    (each run's distribution), the structured form :func:`structured_log_likelihood`, a share
    ``shared`` of the growth a slope common to a group's runs."""
    residual, variance, distance = (np.asarray(v, dtype=float) for v in (residual, variance, distance))
    if groups is not None:
        return structured_log_likelihood(residual, variance, distance, groups, shared)
    scales = np.exp(LOG_SCALE_GRID)[:, None]

    def total(var: np.ndarray) -> np.ndarray:
        return stats.t.logpdf(residual, nu, scale=np.sqrt(var)).sum(axis=-1)

    return total(variance + (scales * distance) ** 2), float(total(variance[None, :])[0])


def _group_sums(
    residual: np.ndarray, variance: np.ndarray, distance: np.ndarray, groups: np.ndarray, shared: float
) -> tuple[np.ndarray, ...]:
    """Per grid scale (rows; the last is s = 0) and group (columns): d'S^-1 d, d'S^-1 r,
    r'S^-1 r and log det S of the group's covariance without its slope, S = V + (1 - shared)
    s^2 min(d d', ...)^2 (the prediction's own variance V, diagonal, and the wandering part
    of the law's error), then the runs per group, the slope's prior variance c = shared s^2
    per scale, and the groups' labels. One eigendecomposition per group serves every scale:
    with W = V^-1/2, S = W^-1 U (I + (1 - shared) s^2 Lambda) U' W^-1, where U Lambda U' =
    W min(d_i, d_j)^2 W."""
    labels, index = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    squares = np.append(np.exp(LOG_SCALE_GRID), 0.0) ** 2
    sums = np.zeros((4, len(squares), len(labels)))
    for column in range(len(labels)):
        mine = index == column
        weight = 1.0 / np.sqrt(variance[mine])
        reach = distance[mine] ** 2
        eigen, basis = np.linalg.eigh(weight[:, None] * np.minimum.outer(reach, reach) * weight[None, :])
        along = basis.T @ (weight * distance[mine])
        seen = basis.T @ (weight * residual[mine])
        spread = 1.0 + (1.0 - shared) * squares[:, None] * np.maximum(eigen, 0.0)[None, :]
        sums[0, :, column] = (along**2 / spread).sum(axis=1)
        sums[1, :, column] = (along * seen / spread).sum(axis=1)
        sums[2, :, column] = (seen**2 / spread).sum(axis=1)
        sums[3, :, column] = np.log(spread).sum(axis=1) + np.log(variance[mine]).sum()
    runs = np.bincount(index, minlength=len(labels)).astype(float)
    return (*sums, runs, shared * squares[:, None], labels)


def structured_log_likelihood(
    residual: np.ndarray, variance: np.ndarray, distance: np.ndarray, groups: np.ndarray, shared: float
) -> tuple[np.ndarray, float]:
    """The log likelihood of held-out errors on the scale grid and at s = 0, where the law's
    error past the data, at a run of group g (its distribution) at log-distance d past the
    refit's edge, is b_g d + w_g(d): a slope b_g ~ Normal(0, shared s^2) common to the
    group's runs, and a wandering part w_g, a Brownian motion in d^2 with variance (1 -
    shared) (s d)^2 (a Gaussian process with kernel (1 - shared) s^2 min(d, d')^2). Either
    way the error's sd at distance d is s d, as the scale has always meant; on top comes
    the prediction's own ``variance``.

    Counted as independent, a table's hundred runs a short way past its edge, each close to
    its curve, ruled out any scale the corpus has seen; but they share the law's systematic
    error, and tell of its growth about as much as the few distances they lie at
    (docs/records.md, "Shared slope"). Gaussian: each group's errors are Normal(0, S + c d
    d'), by the matrix determinant lemma and Sherman-Morrison (:func:`_group_sums`)."""
    residual, variance, distance = (np.asarray(v, dtype=float) for v in (residual, variance, distance))
    dd, dr, rr, logdet, runs, c, _ = _group_sums(residual, variance, distance, groups, shared)
    lift = 1.0 + c * dd
    quadratic = rr - c * dr**2 / lift
    total = -0.5 * (runs * np.log(2 * np.pi) + logdet + np.log(lift) + quadratic).sum(axis=1)
    return total[:-1], float(total[-1])


def slope_moments(
    residual: np.ndarray, variance: np.ndarray, distance: np.ndarray, groups: np.ndarray, shared: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each group's posterior mean and variance of its slope b_g (per unit of log-distance)
    given its held-out errors, at each grid scale (rows; the last is s = 0), and the groups'
    labels: the Gaussian update of b_g ~ Normal(0, shared s^2) by errors b_g d + w_g(d)
    (:func:`structured_log_likelihood`).

    Only the slope carries over to a prediction: the wandering part's level at the refit's
    edge is absorbed by the full fit, whose runs reach past it, so past the full fit's edge
    a fresh one starts (variance (1 - shared) (s d)^2)."""
    residual, variance, distance = (np.asarray(v, dtype=float) for v in (residual, variance, distance))
    dd, dr, _, _, _, c, labels = _group_sums(residual, variance, distance, groups, shared)
    lift = 1.0 + c * dd
    return c * dr / lift, c / lift, labels


@dataclass(frozen=True)
class ScalePosterior:
    """What a prior and a table's own held-out errors say of s: its posterior root mean
    square (what the bands use), the posterior probability of a misfit, its median given a
    misfit, and the posterior mass of each grid scale and of s = 0 (last)."""

    scale: float
    misfit_probability: float
    median: float
    weights: np.ndarray | None = None


def posterior_scale(prior: GrowthPrior, curves: Sequence[tuple[np.ndarray, float]] = ()) -> ScalePosterior:
    """The posterior of s given the ``prior`` and held-out errors, each summarised by
    :func:`log_likelihood_on_grid` (none: the prior itself). The root mean square, so that
    Normal(0, (scale d)^2) has the variance of the posterior mixture over s."""
    on_grid = prior_log_density(prior) + np.log(prior.weight)
    on_grid = on_grid + sum((c[0] for c in curves), np.zeros(len(LOG_SCALE_GRID)))
    at_zero = (np.log1p(-prior.weight) if prior.weight < 1 else -np.inf) + sum(c[1] for c in curves)
    total = np.logaddexp(special.logsumexp(on_grid), at_zero)
    weights = np.exp(on_grid - total)
    scales = np.exp(LOG_SCALE_GRID)
    probability = float(weights.sum())
    cumulative = np.cumsum(weights) / max(probability, 1e-300)
    return ScalePosterior(
        scale=float(np.sqrt((weights * scales**2).sum())),
        misfit_probability=probability,
        median=float(scales[np.searchsorted(cumulative, 0.5)]),
        weights=np.append(weights, 1.0 - probability),
    )


def learn_growth_prior(
    curves: Mapping[str, tuple[np.ndarray, float]],
    source: str = "",
    fixed_weight: float | None = None,
    shared: float = 0.0,
) -> GrowthPrior:
    """The population prior that makes the tables' held-out errors most likely (empirical
    Bayes): each table has its own s, drawn from the prior, and ``curves`` holds each table's
    :func:`log_likelihood_on_grid` (summed over its backtests, with the prior's ``shared``).
    The median and the log sd (at least :data:`MIN_LOG_SD`) maximise sum over tables of
    log(w E_prior[L_T(s)] + (1 - w) L_T(0)); the weight w is then the posterior mean of a
    misfit's share under a uniform prior (Laplace's rule of succession), (1 + sum_T
    P_T(misfit)) / (2 + tables), not its maximum likelihood: where every table of a corpus
    misfits, that is 1, and a table whose law holds past its runs could not say so
    (``fixed_weight`` sets it instead)."""
    return _population(curves, source, fixed_weight, shared)[0]


def learn_shared_growth_prior(
    curves: Mapping[float, Mapping[str, tuple[np.ndarray, float]]],
    source: str = "",
    fixed_weight: float | None = None,
) -> GrowthPrior:
    """:func:`learn_growth_prior` with the share of the growth that is a slope common to a
    distribution's runs learned too: ``curves`` holds the tables' curves at each share
    tried (:data:`SHARED_GRID`), and the share whose best prior makes the tables' errors
    most likely is kept (its profile likelihood)."""
    fitted = [_population(by_table, source, fixed_weight, shared) for shared, by_table in curves.items()]
    return max(fitted, key=lambda pair: pair[1])[0]


def _population(
    curves: Mapping[str, tuple[np.ndarray, float]], source: str, fixed_weight: float | None, shared: float
) -> tuple[GrowthPrior, float]:
    """:func:`learn_growth_prior` and the tables' log marginal likelihood at its optimum."""
    if len(curves) < 2:
        raise ValueError(f"a population prior needs two tables or more, got {len(curves)}")
    on_grid = np.stack([np.asarray(c[0], dtype=float) for c in curves.values()])
    at_zero = np.array([c[1] for c in curves.values()])

    def per_table(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each table's log marginal likelihood given a misfit, and given none (with w)."""
        median_log, log_sd, weight = _unpack(theta, fixed_weight)
        density = stats.norm.logpdf(LOG_SCALE_GRID, median_log, log_sd)
        density -= special.logsumexp(density)
        misfit = special.logsumexp(on_grid + density, axis=1) + np.log(weight)
        return misfit, at_zero + (np.log1p(-weight) if weight < 1 else -np.inf)

    def negative(theta: np.ndarray) -> float:
        return -float(np.logaddexp(*per_table(theta)).sum())

    start = np.array([np.log(0.01), np.log(1.0 - MIN_LOG_SD), 2.0])
    best = optimize.minimize(negative, start, method="Nelder-Mead", options={"xatol": 1e-4, "fatol": 1e-6})
    median_log, log_sd, weight = _unpack(best.x, fixed_weight)
    if fixed_weight is None:
        misfit, none = per_table(best.x)
        misfits = np.exp(misfit - np.logaddexp(misfit, none))
        weight = (1.0 + misfits.sum()) / (2.0 + len(misfits))
    prior = GrowthPrior(
        median=float(np.exp(median_log)), log_sd=float(log_sd), weight=float(weight), source=source,
        shared=float(shared),
    )  # fmt: skip
    return prior, -float(best.fun)


def _unpack(theta: np.ndarray, fixed_weight: float | None) -> tuple[float, float, float]:
    median_log = float(np.clip(theta[0], LOG_SCALE_GRID[0], LOG_SCALE_GRID[-1]))
    log_sd = MIN_LOG_SD + float(np.exp(np.clip(theta[1], -10, 3)))
    weight = fixed_weight if fixed_weight is not None else float(special.expit(theta[2]))
    return median_log, log_sd, min(max(weight, 1e-3), 1.0)


@dataclass(frozen=True)
class ScalesPast:
    """The misfit past the data along each direction, from a prior and a fit's own errors:
    the scale (posterior root mean square of s, for a distribution with no held-out runs
    along it, or a new one), the posterior probability of a misfit, and per distribution
    with held-out runs its slope's posterior mean (``drifts``: the curve's shift per unit of
    log-distance) and the sd per unit of log-distance left about it (``group_scales``)."""

    scales: dict[str, float]
    probabilities: dict[str, float]
    drifts: dict[str, dict[str, float]]
    group_scales: dict[str, dict[str, float]]


def scales_from_prior(
    prior: GrowthPrior, evidence: Mapping[str, Mapping], names: Sequence[str], skip: Sequence[str] = ()
) -> ScalesPast:
    """Each direction's misfit past the data (:class:`ScalesPast`) from the ``prior`` and a
    fit's own held-out errors along it (``evidence``: direction -> ``residual``,
    ``variance``, ``distance``, ``nu`` and, in fits since the shared slope, ``labels``). A
    direction no refit held runs out along takes every direction's errors together: they
    speak of the same law. ``skip``: directions whose misfit takes another form (a widened
    spread)."""

    def groups(entry: Mapping) -> np.ndarray | None:
        return None if "labels" not in entry else np.asarray(entry["labels"])

    curves = {
        name: log_likelihood_on_grid(
            entry["residual"], entry["variance"], entry["distance"], entry["nu"], groups(entry), prior.shared
        )
        for name, entry in evidence.items()
    }
    past = ScalesPast({}, {}, {}, {})
    for name in names:
        if name in skip:
            continue
        posterior = posterior_scale(prior, [curves[name]] if name in curves else list(curves.values()))
        past.scales[name], past.probabilities[name] = posterior.scale, posterior.misfit_probability
        entry = evidence.get(name, {})
        if prior.shared > 0 and groups(entry) is not None:
            past.drifts[name], past.group_scales[name] = _slopes(entry, prior.shared, posterior.weights)
    return past


def _slopes(entry: Mapping, shared: float, weights: np.ndarray) -> tuple[dict[str, float], dict[str, float]]:
    """Per group of held-out runs: the posterior mean of its slope, mixed over the posterior
    of s, and the sd per unit of log-distance about it (the slope's own posterior variance,
    the part of the growth that is each run's own, and the spread of the slope's mean over s)."""
    means, variances, labels = slope_moments(
        entry["residual"], entry["variance"], entry["distance"], entry["labels"], shared
    )
    squares = np.append(np.exp(LOG_SCALE_GRID), 0.0)[:, None] ** 2
    mean = weights @ means
    second = weights @ (variances + (1.0 - shared) * squares + means**2)
    sd = np.sqrt(np.maximum(second - mean**2, 0.0))
    return dict(zip(labels, mean.tolist(), strict=True)), dict(zip(labels, sd.tolist(), strict=True))
