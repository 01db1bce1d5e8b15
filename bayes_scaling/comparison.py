"""Model comparison by PSIS-LOO (arviz-stats) across laws or specs fitted to the same runs."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING

import arviz_stats as azs
import numpy as np
import pandas as pd

from .data import BayesScalingError, BayesScalingWarning
from .model import OBSERVED

if TYPE_CHECKING:
    from .result import Fit


class LooWarning(BayesScalingWarning):
    """PSIS-LOO is unreliable for some runs (high Pareto k); the message says what to do."""


def compare(fits: Mapping[str, Fit]) -> pd.DataFrame:
    """Rank fits of the same runs by expected log predictive density (PSIS-LOO).

    Returns arviz-stats' comparison table (``elpd``, ``elpd_diff``, ``dse``, ``weight``, ...)
    plus ``law``, ``n_high_pareto_k`` and ``max_pareto_k`` per fit. Higher elpd is better;
    a difference small against ``dse`` is no evidence either way.
    """
    if len(fits) < 2:
        raise BayesScalingError("compare needs at least two fits")
    observed = [np.asarray(f.idata.observed_data[OBSERVED]) for f in fits.values()]
    if any(o.shape != observed[0].shape or not np.allclose(o, observed[0]) for o in observed[1:]):
        raise BayesScalingError(
            "LOO compares fits of the same runs; these fits were made from different run tables"
        )
    extra = {}
    for name, fit in fits.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # reported below, once, with advice
            loo = azs.loo(fit.idata)
        k = np.asarray(loo.pareto_k).ravel()
        high = int((k > loo.good_k).sum())
        extra[name] = {"law": fit.law.name, "n_high_pareto_k": high, "max_pareto_k": float(k.max())}
        if high:
            warnings.warn(
                f"{name}: {high} run(s) with Pareto k > {loo.good_k:.2f}, where PSIS-LOO is "
                "unreliable (often diverged or outlying runs). Inspect them, or use K-fold "
                "cross-validation (arviz_stats.loo_kfold) for this comparison",
                LooWarning,
                stacklevel=2,
            )
    table = azs.compare({name: fit.idata for name, fit in fits.items()})
    return table.join(pd.DataFrame(extra).T)
