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

from .distance import PRODUCT, combined_distance, directions, distances_beyond, fitted_ranges
from .learn import learn_discrepancy
from .value import Discrepancy

__all__ = [
    "PRODUCT",
    "Discrepancy",
    "combined_distance",
    "directions",
    "distances_beyond",
    "fitted_ranges",
    "learn_discrepancy",
]
