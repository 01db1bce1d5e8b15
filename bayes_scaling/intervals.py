"""Credible intervals of posterior draws: the one summary every table in the package uses.

Kept below prediction, decisions and reports so that each can summarise draws without
importing the others.
"""

from __future__ import annotations

import xarray as xr

from .data import BayesScalingError

SAMPLE_DIMS = ("chain", "draw")


def check_prob(prob: float) -> float:
    """``prob`` as a float, or a clear error when it is not strictly between 0 and 1."""
    if not 0 < prob < 1:
        raise BayesScalingError(f"prob must be between 0 and 1 (e.g. 0.9), got {prob!r}")
    return float(prob)


def summarise_draws(
    draws: xr.DataArray, prob: float = 0.9, sample_dims: tuple[str, ...] = SAMPLE_DIMS
) -> xr.Dataset:
    """Mean, median and the central (equal-tailed) ``prob`` interval over the sample dims."""
    prob = check_prob(prob)
    tail = (1 - prob) / 2
    q = draws.quantile([tail, 0.5, 1 - tail], dim=list(sample_dims))
    return xr.Dataset(
        {
            "mean": draws.mean(list(sample_dims)),
            "median": q.isel(quantile=1, drop=True),
            "lower": q.isel(quantile=0, drop=True),
            "upper": q.isel(quantile=2, drop=True),
        }
    )
