"""The evidence for a misfit: maximum-likelihood scales, growth powers, spread factors and
each distribution's misfit inside the data, each weighed by its evidence against none.

Numbers in, numbers out (residuals, variances, distances): no model, no sampler.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import optimize, stats

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
    evidence, not across a cliff (docs/records.md, "Misfit weighed by evidence")."""
    return float(1.0 / (1.0 + np.exp(threshold - gain))) if gain > 0 else 0.0


# Powers of the distance a misfit may grow with past the data: levelling off (1/2), linear,
# accelerating (2). A few values, not a continuum: held-out runs at two or three distances
# tell these apart and little more.
GROWTH_POWERS = (0.5, 1.0, 2.0)
NORMAL_NU = 1e6  # a Student-t this heavy is the Normal
# Levels of an input with fewer runs say nothing of a misfit shared by a level's runs (where
# every run has its own input values, as in the example, there are none)
MIN_RUNS_PER_LEVEL = 3


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
    0.87 instead of 0.81), on porian2024's tokens a scale (docs/records.md, "Misfit weighed by evidence");
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
) -> tuple[dict[str, float], dict[str, float], float, dict[str, dict]]:
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
    kept values, every distribution's best gain, the threshold used, and each kept
    distribution's level offsets (:func:`level_offsets`) along the input where its misfit
    shows most.
    """
    names = pd.unique(labels)
    groupings = dict(levels) if levels else {"run": np.arange(len(labels))}
    threshold = gain_threshold(len(names) * len(groupings))
    misfit, gains, offsets = {}, {}, {}
    for name in names:
        mine = labels == name
        best = (0.0, 0.0, "")
        for column, values in groupings.items():
            if levels:
                _, residual_at, variance_at = _level_medians(residual[mine], variance[mine], values[mine])
                nu_at = NORMAL_NU
            else:
                residual_at, variance_at, nu_at = residual[mine], variance[mine], nu
            if len(residual_at) < 2:  # one level: its offset is what the fit pinned, not a misfit
                continue
            scale, _, gain = _best_growth(residual_at, variance_at, np.ones(len(residual_at)), nu_at, (1.0,))
            best = max(best, (gain, scale, column))
        gains[str(name)] = best[0]
        if best[0] > threshold:
            misfit[str(name)] = best[1]
            if levels:
                offsets[str(name)] = level_offsets(
                    residual[mine], variance[mine], levels[best[2]][mine], best[1]
                )
                offsets[str(name)]["input"] = best[2]
    return misfit, gains, threshold, offsets


def level_offsets(residual: np.ndarray, variance: np.ndarray, values: np.ndarray, misfit: float) -> dict:
    """Where a distribution's runs at one level of an input sit off the curve together, the
    curve there is shifted, not only widened: a variance cannot move the centre. Each level's
    offset on log loss is its median residual shrunk towards 0 by the misfit's share of its
    variance, m^2 / (m^2 + v_g) (the posterior mean of a Normal(0, m^2) level effect seen
    through noise of variance v_g), and what is left of the misfit there is the posterior sd
    sqrt(m^2 v_g / (m^2 + v_g)). Only levels of :data:`MIN_RUNS_PER_LEVEL` runs or more
    (docs/records.md, "Level offsets")."""
    levels, median, level_variance = _level_medians(residual, variance, values)
    share = misfit**2 / (misfit**2 + level_variance)
    return {
        "levels": [float(v) for v in levels],
        "offsets": [float(v) for v in share * median],
        "sds": [float(v) for v in np.sqrt(share * level_variance)],
    }


def _level_medians(
    residual: np.ndarray, variance: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per level (distinct value in ``values``) with :data:`MIN_RUNS_PER_LEVEL` runs or more:
    the level, the median residual and its variance (pi/2 x mean variance / runs). The
    median, so that one diverged run is not taken for a level off the curve."""
    frame = pd.DataFrame({"r": residual, "v": variance, "level": values})
    grouped = frame.groupby("level").agg(r=("r", "median"), v=("v", "mean"), n=("r", "size"))
    grouped = grouped[grouped.n >= MIN_RUNS_PER_LEVEL]
    return grouped.index.to_numpy(), grouped.r.to_numpy(), (np.pi / 2 * grouped.v / grouped.n).to_numpy()
