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
    residual: np.ndarray, variance: np.ndarray, distance: np.ndarray, nu: float
) -> tuple[np.ndarray, float]:
    """The log likelihood of held-out errors under each grid scale, and under s = 0:
    sum_i log t_nu(residual_i; 0, sqrt(variance_i + (s distance_i)^2)), ``variance`` the
    prediction's own (parameters, noise, the misfit inside the data)."""
    residual, variance, distance = (np.asarray(v, dtype=float) for v in (residual, variance, distance))
    scales = np.exp(LOG_SCALE_GRID)[:, None]

    def total(var: np.ndarray) -> np.ndarray:
        return stats.t.logpdf(residual, nu, scale=np.sqrt(var)).sum(axis=-1)

    return total(variance + (scales * distance) ** 2), float(total(variance[None, :])[0])


@dataclass(frozen=True)
class ScalePosterior:
    """What a prior and a table's own held-out errors say of s: its posterior root mean
    square (what the bands use), the posterior probability of a misfit, its median given a
    misfit."""

    scale: float
    misfit_probability: float
    median: float


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
    )


def learn_growth_prior(
    curves: Mapping[str, tuple[np.ndarray, float]], source: str = "", fixed_weight: float | None = None
) -> GrowthPrior:
    """The population prior that makes the tables' held-out errors most likely (empirical
    Bayes): each table has its own s, drawn from the prior, and ``curves`` holds each table's
    :func:`log_likelihood_on_grid` (summed over its backtests). The median and the log sd (at
    least :data:`MIN_LOG_SD`) maximise sum over tables of log(w E_prior[L_T(s)] + (1 - w)
    L_T(0)); the weight w is then the posterior mean of a misfit's share under a uniform
    prior (Laplace's rule of succession), (1 + sum_T P_T(misfit)) / (2 + tables), not its
    maximum likelihood: where every table of a corpus misfits, that is 1, and a table whose
    law holds past its runs could not say so (``fixed_weight`` sets it instead)."""
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
    return GrowthPrior(
        median=float(np.exp(median_log)), log_sd=float(log_sd), weight=float(weight), source=source
    )


def _unpack(theta: np.ndarray, fixed_weight: float | None) -> tuple[float, float, float]:
    median_log = float(np.clip(theta[0], LOG_SCALE_GRID[0], LOG_SCALE_GRID[-1]))
    log_sd = MIN_LOG_SD + float(np.exp(np.clip(theta[1], -10, 3)))
    weight = fixed_weight if fixed_weight is not None else float(special.expit(theta[2]))
    return median_log, log_sd, min(max(weight, 1e-3), 1.0)


def scales_from_prior(
    prior: GrowthPrior, evidence: Mapping[str, Mapping], names: Sequence[str], skip: Sequence[str] = ()
) -> tuple[dict[str, float], dict[str, float]]:
    """Each direction's scale past the data (posterior root mean square) and posterior
    probability of a misfit, from the ``prior`` and a fit's own held-out errors along it
    (``evidence``: direction -> ``residual``, ``variance``, ``distance``, ``nu``). A direction
    no refit held runs out along takes every direction's errors together: they speak of the
    same law. ``skip``: directions whose misfit takes another form (a widened spread)."""
    curves = {
        name: log_likelihood_on_grid(entry["residual"], entry["variance"], entry["distance"], entry["nu"])
        for name, entry in evidence.items()
    }
    scales, probabilities = {}, {}
    for name in names:
        if name in skip:
            continue
        posterior = posterior_scale(prior, [curves[name]] if name in curves else list(curves.values()))
        scales[name], probabilities[name] = posterior.scale, posterior.misfit_probability
    return scales, probabilities
