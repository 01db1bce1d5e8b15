"""Posterior prediction: loss at any inputs, for fitted or new distributions.

Works on posterior draws and the law in numpy, never on the PyMC model: the law is
evaluated with raw-unit parameters at raw token counts, vectorised over (sample, point).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from .data import DISTRIBUTION, BayesScalingError, RunsValidationError, rows_where
from .discrepancy import combined_distance, distances_beyond
from .intervals import check_prob, summarise_draws

if TYPE_CHECKING:
    from .fit import Fit

SAMPLE = "sample"
POINT = "point"
Kind = Literal["expected", "observation"]


def _check_grid(fit: Fit, grid: pd.DataFrame, new_distribution: bool) -> pd.DataFrame:
    """Inputs present, finite, positive; distributions known unless asked for as new."""
    grid = grid.reset_index(drop=True).copy()
    problems = []
    for name in fit.law.inputs:
        if name not in grid:
            problems.append(f"missing column {name!r}, needed by law {fit.law.name!r}")
            continue
        values = pd.to_numeric(grid[name], errors="coerce").to_numpy(dtype=float)
        low = 0.0 if name in fit.law.zero_allowed else np.finfo(float).tiny
        bad = ~np.isfinite(values) | (values < low)
        if bad.any():
            problems.append(f"{rows_where(bad)}: column {name!r} must be a finite number > 0")
        grid[name] = values
    if not new_distribution:
        if DISTRIBUTION not in grid:
            problems.append("missing column 'distribution' (or ask for a new distribution)")
        else:
            unknown = sorted(set(grid[DISTRIBUTION].astype(str)) - set(fit.distributions))
            if unknown:
                problems.append(
                    f"distribution(s) {', '.join(map(repr, unknown))} not in the fit (fitted: "
                    f"{', '.join(fit.distributions)}); to predict a distribution the fit has not "
                    "seen, ask for a new distribution (--new-distribution / new_distribution=True)"
                )
    if problems:
        raise RunsValidationError(problems, "prediction grid")
    return grid


def _stacked(data: xr.Dataset | xr.DataArray):
    return data.stack({SAMPLE: ("chain", "draw")}).transpose(SAMPLE, ...)


def _prior_draws(prior, size: int, rng: np.random.Generator) -> np.ndarray:
    dist = getattr(pm, prior.dist).dist(**prior.args)
    return np.asarray(pm.draw(dist, draws=size, random_seed=rng))


def population_draws(fit: Fit, seed: int = 0) -> xr.Dataset:
    """Raw-unit parameters of one new distribution per posterior sample, dims (sample,).

    Hierarchical parameters come from the fitted population (mu, tau); shared ones are the
    shared value; independent ones, having no population, come from their prior.
    """
    rng = np.random.default_rng(seed)
    post = _stacked(fit.idata.posterior.to_dataset())
    n = post.sizes[SAMPLE]
    values = {}
    for name in fit.law.parameters:
        spec = fit.spec.parameters[name]
        if spec.pooling == "shared":
            values[name] = post[name].values
        elif spec.pooling == "hierarchical":
            z = rng.standard_normal(n)
            values[name] = np.exp(post[f"{name}_mu"].values + post[f"{name}_tau"].values * z)
        else:
            values[name] = np.exp(_prior_draws(spec.prior, n, rng))
    raw = fit.law.to_raw_units(values, fit.normalisation.log_refs)
    return xr.Dataset({k: (SAMPLE, np.asarray(v)) for k, v in raw.items()})


def observation_noise(fit: Fit, labels: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """Observation noise per (sample, point): shared, or of the point's distribution."""
    sigma = _stacked(fit.idata.posterior["sigma"])
    if DISTRIBUTION not in sigma.dims:
        return sigma.values[:, None]
    if labels is None:  # a new distribution: the noise level of a random fitted one
        pick = rng.integers(0, sigma.sizes[DISTRIBUTION], sigma.sizes[SAMPLE])
        return sigma.values[np.arange(sigma.sizes[SAMPLE]), pick][:, None]
    return sigma.sel({DISTRIBUTION: xr.DataArray(labels, dims=POINT)}).values


def point_parameters(
    fit: Fit, grid: pd.DataFrame, new_distribution: bool = False, seed: int = 0
) -> dict[str, np.ndarray]:
    """Raw-unit parameter draws for each grid row, arrays of shape (sample, point)."""
    n_points = len(grid)
    if new_distribution:
        pop = population_draws(fit, seed)
        return {k: np.repeat(pop[k].values[:, None], n_points, axis=1) for k in fit.law.parameters}
    params = _stacked(fit.parameters("raw"))
    labels = xr.DataArray(grid[DISTRIBUTION].astype(str).to_numpy(), dims=POINT)
    chosen = params.sel({DISTRIBUTION: labels})
    return {k: chosen[k].transpose(SAMPLE, POINT).values for k in fit.law.parameters}


def predict(
    fit: Fit, grid: pd.DataFrame, *, new_distribution: bool = False, seed: int = 0, discrepancy: bool = True
) -> xr.Dataset:
    """Posterior predictive loss draws at each row of ``grid``, in the fit's loss unit.

    Returns a Dataset with dims (sample, point): ``loss`` is the expected loss, the law's
    curve; ``loss_observed`` a new run's measured loss (with the fitted Student-t noise on
    log loss). Both include the law's own error (``discrepancy=True``, see
    :mod:`bayes_scaling.discrepancy`): Normal(0, m^2 + max over directions of (s d^k)^2)
    on log loss, m the distribution's misfit inside the data, d the point's log-distance
    beyond the fitted range along each direction (each input and their product), s and k
    that direction's learned scale and power; where the held-out runs favoured it instead,
    the spread of the law over the parameters' draws is widened by that direction's learned
    factor past the data. The largest d is the coordinate
    ``extrapolation_distance`` (0 inside the range).
    """
    grid = _check_grid(fit, grid, new_distribution)
    rng = np.random.default_rng(seed)
    params = point_parameters(fit, grid, new_distribution, seed)
    with np.errstate(divide="ignore"):
        log_inputs = [np.log(grid[k].to_numpy(dtype=float))[None, :] for k in fit.law.inputs]
    log_loss = fit.law.log_loss(*log_inputs, **params)
    labels = None if new_distribution else grid[DISTRIBUTION].astype(str).to_numpy()
    sigma = observation_noise(fit, labels, rng)
    noise = sigma * rng.standard_t(fit.spec.likelihood.nu, size=log_loss.shape)
    beyond = _distances_beyond(fit, grid, new_distribution)
    distance = combined_distance(beyond)
    standard = rng.standard_normal(log_loss.shape)  # drawn either way: the same noise draws
    if discrepancy:
        log_loss = with_law_error(log_loss, *_law_error_beyond(fit, beyond, labels), standard)
    return xr.Dataset(
        {
            "loss": ((SAMPLE, POINT), np.exp(log_loss)),
            "loss_observed": ((SAMPLE, POINT), np.exp(log_loss + noise)),
        },
        coords={"extrapolation_distance": (POINT, distance)},
    )


def law_error(fit: Fit, grid: pd.DataFrame, new_distribution: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The fit's learned misfit at each grid row: the factor widening the parameters'
    spread of the law (1 inside the data) and the standard deviation of the law's error on
    log loss (see :mod:`bayes_scaling.discrepancy`). Prediction and every decision use it, so
    they see the same bands."""
    labels = None if new_distribution else grid[DISTRIBUTION].astype(str).to_numpy()
    return _law_error_beyond(fit, _distances_beyond(fit, grid, new_distribution), labels)


def _law_error_beyond(
    fit: Fit, beyond: np.ndarray, labels: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    spread = fit.discrepancy.parameter_spread(beyond, fit.law.inputs)
    return spread, fit.discrepancy.law_error_sd(beyond, fit.law.inputs, labels)


def with_law_error(
    log_loss: np.ndarray,
    spread: np.ndarray,
    sd: np.ndarray,
    standard: np.ndarray,
    centre: np.ndarray | None = None,
) -> np.ndarray:
    """Draws of log loss (draw, point) with the law's error: the spread over the draws
    widened by ``spread`` about each point's mean over the draws (``centre`` where the draws
    come in blocks), plus ``sd`` times the standard normal draws ``standard`` (broadcast
    against the draws)."""
    if (spread > 1).any():
        centre = log_loss.mean(axis=0, keepdims=True) if centre is None else centre
        log_loss = centre + spread * (log_loss - centre)
    return log_loss + sd * standard


def _distances_beyond(fit: Fit, grid: pd.DataFrame, new_distribution: bool = False) -> np.ndarray:
    """Log-distance of each row beyond its distribution's fitted range along each direction
    (all runs' range for a new distribution), rows x directions; 0 inside it."""
    labels = np.full(len(grid), "*") if new_distribution else None
    return distances_beyond(grid, fit.fitted_ranges, fit.law.inputs, labels)


def prediction_table(
    fit: Fit,
    grid: pd.DataFrame,
    *,
    prob: float = 0.9,
    kind: Kind = "expected",
    new_distribution: bool = False,
    seed: int = 0,
    law_only_beside: bool = False,
) -> pd.DataFrame:
    """The grid's columns plus ``loss_mean,loss_median,loss_lower,loss_upper``,
    ``extrapolation_distance`` (log-distance beyond the distribution's fitted range) and
    ``extrapolation`` (True where it is > 0).

    ``kind="expected"`` bands the law's curve; ``"observation"`` bands a new run's loss. Past
    the data the bands include the law's own error (the fit's learned discrepancy);
    ``law_only_beside=True`` adds ``loss_lower_law_only,loss_upper_law_only``, the bands
    from parameter (and noise) uncertainty alone, for comparison.
    """
    prob = check_prob(prob)
    if kind not in ("expected", "observation"):
        raise BayesScalingError(f"kind must be 'expected' or 'observation', got {kind!r}")
    variable = "loss" if kind == "expected" else "loss_observed"
    draws = predict(fit, grid, new_distribution=new_distribution, seed=seed)
    summary = summarise_draws(draws[variable], prob, sample_dims=(SAMPLE,))
    table = grid.reset_index(drop=True).copy()
    for stat in ("mean", "median", "lower", "upper"):
        table[f"loss_{stat}"] = summary[stat].values
    if law_only_beside:
        plain = predict(fit, grid, new_distribution=new_distribution, seed=seed, discrepancy=False)
        plain = summarise_draws(plain[variable], prob, sample_dims=(SAMPLE,))
        table["loss_lower_law_only"], table["loss_upper_law_only"] = (
            plain["lower"].values,
            plain["upper"].values,
        )
    table["extrapolation_distance"] = draws["extrapolation_distance"].values
    table["extrapolation"] = table["extrapolation_distance"].to_numpy() > 0
    return table


def derived_table(
    fit: Fit, grid: pd.DataFrame, *, prob: float = 0.9, new_distribution: bool = False, seed: int = 0
) -> pd.DataFrame:
    """Posterior summaries of the law's derived quantities at each grid row.

    For ``transfer_gap``: ``loss_floor`` (E + G f^-beta, the loss reachable with unlimited
    pre-training at this f, nats/token) and ``exchange_rate`` (pre-training tokens one
    fine-tuning token is worth at (p, f)).
    """
    if not fit.law.derived:
        raise BayesScalingError(f"law {fit.law.name!r} defines no derived quantities")
    grid = _check_grid(fit, grid, new_distribution)
    params = point_parameters(fit, grid, new_distribution, seed)
    with np.errstate(divide="ignore"):  # log 0 marks from-scratch runs
        log_inputs = [np.log(grid[k].to_numpy(dtype=float))[None, :] for k in fit.law.inputs]
    table = grid.copy()
    for name, function in fit.law.derived.items():
        draws = xr.DataArray(function(*log_inputs, **params), dims=(SAMPLE, POINT))
        summary = summarise_draws(draws, prob, sample_dims=(SAMPLE,))
        for stat in ("mean", "median", "lower", "upper"):
            table[f"{name}_{stat}"] = summary[stat].values
    return table
