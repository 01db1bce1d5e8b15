"""The array core of posterior draws: one gather per run, one equal-tailed interval.

numpy functions on plain arrays (a leading sample axis), and the thin xarray layer over
them that carries ``chain`` and ``draw`` labels (arviz-stats' pattern). Fitting, the misfit,
prediction and decisions all read draws through these.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .data import DISTRIBUTION, BayesScalingError

SAMPLE_DIMS = ("chain", "draw")


def check_prob(prob: float) -> float:
    """``prob`` as a float, or a clear error when it is not strictly between 0 and 1."""
    if not 0 < prob < 1:
        raise BayesScalingError(f"prob must be between 0 and 1 (e.g. 0.9), got {prob!r}")
    return float(prob)


def flat(value: xr.DataArray) -> np.ndarray:
    """A variable's draws with chain and draw merged into one leading sample axis (chain-major,
    as ``stack(sample=("chain", "draw"))`` orders them), its other dims after in their order."""
    ordered = value.transpose(*SAMPLE_DIMS, ...)
    return ordered.values.reshape(-1, *ordered.shape[2:])


def gather(draws: np.ndarray, index: np.ndarray | None) -> np.ndarray:
    """(sample, distribution) draws at each run's distribution ``index``, (sample, run); with
    ``index`` None, a shared parameter's (sample,) draws as (sample, 1), broadcasting over runs."""
    return draws.reshape(len(draws), 1) if index is None else draws[:, index]


def per_run(value: xr.DataArray, index: np.ndarray) -> np.ndarray:
    """Draws of a parameter at each run (or grid row), (sample, run): gathered at each run's
    distribution (``index``) where it has one value per distribution, else shared."""
    return gather(flat(value), index if DISTRIBUTION in value.dims else None)


def equal_tailed(values: np.ndarray, prob: float, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The central (equal-tailed) ``prob`` interval of ``values`` along ``axis``: its lower and
    upper (1 -/+ prob) / 2 quantiles."""
    tail = (1 - check_prob(prob)) / 2
    lower, upper = np.quantile(values, [tail, 1 - tail], axis=axis)
    return lower, upper


def summarise_draws(
    draws: xr.DataArray, prob: float = 0.9, sample_dims: tuple[str, ...] = SAMPLE_DIMS
) -> xr.Dataset:
    """Mean, median and the central ``prob`` interval (:func:`equal_tailed`) over the sample
    dims, labelled by the draws' other dims."""
    stacked = draws.stack(__sample__=sample_dims).transpose("__sample__", ...)
    lower, upper = equal_tailed(stacked.values, prob)
    template = stacked.isel(__sample__=0, drop=True).drop_vars(list(sample_dims), errors="ignore")
    return xr.Dataset(
        {
            "mean": template.copy(data=stacked.values.mean(axis=0)),
            "median": template.copy(data=np.median(stacked.values, axis=0)),
            "lower": template.copy(data=lower),
            "upper": template.copy(data=upper),
        }
    )
