"""Posterior prediction: loss at any inputs, for fitted or new distributions.

Works on posterior draws and the law in numpy, never on the PyMC model: the law is
evaluated with raw-unit parameters at raw token counts, vectorised over (sample, point) in
the core, and returned labelled (chain, draw, point), as ArviZ reads draws.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from .data import DISTRIBUTION, BayesScalingError, RunsValidationError, rows_where
from .discrepancy import combined_distance, distances_beyond
from .draws import SAMPLE_DIMS, check_prob, flat, per_run, summarise_draws

if TYPE_CHECKING:
    from .result import Fit

POINT = "point"
Kind = Literal["expected", "observation"]
KIND_VARIABLE = {"expected": "loss", "observation": "loss_observed"}


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


def _prior_draws(prior, size: int, rng: np.random.Generator) -> np.ndarray:
    dist = getattr(pm, prior.dist).dist(**prior.args)
    return np.asarray(pm.draw(dist, draws=size, random_seed=rng))


def population_draws(fit: Fit, seed: int = 0) -> dict[str, np.ndarray]:
    """Raw-unit parameters of one new distribution per posterior sample, each (sample,).

    Hierarchical parameters come from the fitted population (mu, tau); shared ones are the
    shared value; independent ones, having no population, come from their prior.
    """
    rng = np.random.default_rng(seed)
    post = fit.idata.posterior.to_dataset()
    n = post.sizes["chain"] * post.sizes["draw"]
    values = {}
    for name in fit.law.parameters:
        spec = fit.spec.parameters[name]
        if spec.pooling == "shared":
            values[name] = flat(post[name])
        elif spec.pooling == "hierarchical":
            z = rng.standard_normal(n)
            values[name] = np.exp(flat(post[f"{name}_mu"]) + flat(post[f"{name}_tau"]) * z)
        else:
            values[name] = np.exp(_prior_draws(spec.prior, n, rng))
    raw = fit.law.to_raw_units(values, fit.normalisation.log_refs)
    return {k: np.asarray(v) for k, v in raw.items()}


def _distribution_index(fit: Fit, labels: np.ndarray) -> np.ndarray:
    return pd.Index(fit.distributions).get_indexer(labels)


def observation_noise(fit: Fit, labels: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """Observation noise per (sample, point): shared, or of the point's distribution."""
    sigma = fit.idata.posterior["sigma"]
    if DISTRIBUTION not in sigma.dims:
        return flat(sigma)[:, None]
    draws = flat(sigma)
    if labels is None:  # a new distribution: the noise level of a random fitted one
        pick = rng.integers(0, draws.shape[1], draws.shape[0])
        return draws[np.arange(draws.shape[0]), pick][:, None]
    return per_run(sigma, _distribution_index(fit, labels))


def point_parameters(
    fit: Fit, grid: pd.DataFrame, new_distribution: bool = False, seed: int = 0
) -> dict[str, np.ndarray]:
    """Raw-unit parameter draws for each grid row, arrays of shape (sample, point)."""
    n_points = len(grid)
    if new_distribution:
        pop = population_draws(fit, seed)
        return {k: np.repeat(pop[k][:, None], n_points, axis=1) for k in fit.law.parameters}
    params = fit.parameters("raw")
    index = _distribution_index(fit, grid[DISTRIBUTION].astype(str).to_numpy())
    return {k: per_run(params[k], index) for k in fit.law.parameters}


def predict(
    fit: Fit, grid: pd.DataFrame, *, new_distribution: bool = False, seed: int = 0, discrepancy: bool = True
) -> xr.Dataset:
    """Posterior predictive draws at each row of ``grid``, dims (chain, draw, point), in the
    fit's loss unit.

    ``loss`` is the expected loss, the law's curve; ``loss_observed`` a new run's measured
    loss (with the fitted Student-t noise on log loss); the law's derived quantities (for
    ``transfer_gap``: ``loss_floor``, the loss reachable with unlimited pre-training at this
    f, and ``exchange_rate``, the pre-training tokens one fine-tuning token is worth) beside
    them. The grid's columns label ``point``, and so does ``extrapolation_distance``, the
    row's largest log-distance beyond its distribution's fitted range along any direction
    (each input and their product; 0 inside).

    Both losses include the law's own error (``discrepancy=True``, see
    :mod:`bayes_scaling.discrepancy`): Normal(0, m^2 + max over directions of (s d^k)^2) on
    log loss, m the distribution's misfit inside the data, d the distance past it along each
    direction, s and k that direction's learned scale and power; where the held-out runs
    favoured it instead, the law's spread over the parameters' draws is widened by that
    direction's learned factor past the data. Summarise with :func:`bayes_scaling.summary`.
    """
    grid = _check_grid(fit, grid, new_distribution)
    rng = np.random.default_rng(seed)
    params = point_parameters(fit, grid, new_distribution, seed)
    with np.errstate(divide="ignore"):  # log 0 marks from-scratch runs
        log_inputs = [np.log(grid[k].to_numpy(dtype=float))[None, :] for k in fit.law.inputs]
    log_loss = fit.law.log_loss(*log_inputs, **params)
    labels = None if new_distribution else grid[DISTRIBUTION].astype(str).to_numpy()
    sigma = observation_noise(fit, labels, rng)
    noise = sigma * rng.standard_t(fit.spec.likelihood.nu, size=log_loss.shape)
    beyond = _distances_beyond(fit, grid, new_distribution)
    standard = rng.standard_normal(log_loss.shape)  # drawn either way: the same noise draws
    if discrepancy:
        log_loss = with_law_error(log_loss, *_law_error_beyond(fit, beyond, labels, grid), standard)
        log_loss = log_loss + law_offset(fit, grid, new_distribution)
    values = {"loss": np.exp(log_loss), "loss_observed": np.exp(log_loss + noise)}
    values = {name: within_loss_bounds(fit, value) for name, value in values.items()}
    values |= {name: function(*log_inputs, **params) for name, function in fit.law.derived.items()}
    return _labelled(fit, values, grid, combined_distance(beyond))


def within_loss_bounds(fit: Fit, loss: np.ndarray) -> np.ndarray:
    """Loss draws kept inside what such a loss can be (the spec's ``[loss] upper``: 1 for an
    error rate). Noise and misfit act on log loss, which keeps a loss above 0 but not below
    1: a draw past the bound is at the bound, so no band leaves it."""
    upper = fit.spec.loss.upper
    return loss if upper is None else np.minimum(loss, upper)


def _labelled(
    fit: Fit, values: dict[str, np.ndarray], grid: pd.DataFrame, distance: np.ndarray
) -> xr.Dataset:
    """(sample, point) arrays as a Dataset (chain, draw, point), the grid's columns as labels."""
    posterior = fit.idata.posterior
    shape = (posterior.sizes["chain"], posterior.sizes["draw"], len(grid))
    coords = {"chain": posterior["chain"].values, "draw": posterior["draw"].values}
    # a grid column named as a variable (a run table's measured ``loss``) keeps a name of its own
    coords |= {_label(column, values): (POINT, grid[column].to_numpy()) for column in grid.columns}
    coords["extrapolation_distance"] = (POINT, distance)
    per_sample = {name: np.broadcast_to(v, (shape[0] * shape[1], shape[2])) for name, v in values.items()}
    return xr.Dataset(
        {name: ((*SAMPLE_DIMS, POINT), v.reshape(shape)) for name, v in per_sample.items()}, coords=coords
    )


def law_error(fit: Fit, grid: pd.DataFrame, new_distribution: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The fit's learned misfit at each grid row: the factor widening the parameters'
    spread of the law (1 inside the data) and the standard deviation of the law's error on
    log loss (see :mod:`bayes_scaling.discrepancy`). Prediction and every decision use it, so
    they see the same bands."""
    labels = None if new_distribution else grid[DISTRIBUTION].astype(str).to_numpy()
    return _law_error_beyond(fit, _distances_beyond(fit, grid, new_distribution), labels, grid)


def law_offset(fit: Fit, grid: pd.DataFrame, new_distribution: bool = False) -> np.ndarray:
    """The fit's shift of the curve on log loss at each grid row: a level of a distribution's
    input whose runs sat off the law together (0 elsewhere; see
    :func:`bayes_scaling.discrepancy.evidence.level_offsets`). Prediction and every decision
    add it, as they add the law's error."""
    labels = None if new_distribution else grid[DISTRIBUTION].astype(str).to_numpy()
    return fit.discrepancy.at_levels(labels, _points(fit, grid), len(grid))[0]


def _points(fit: Fit, grid: pd.DataFrame) -> dict[str, np.ndarray]:
    return {name: grid[name].to_numpy(dtype=float) for name in fit.law.inputs if name in grid}


def _law_error_beyond(
    fit: Fit, beyond: np.ndarray, labels: np.ndarray | None, grid: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    spread = fit.discrepancy.parameter_spread(beyond, fit.law.inputs)
    return spread, fit.discrepancy.law_error_sd(beyond, fit.law.inputs, labels, _points(fit, grid))


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


GRID_SUFFIX = "_in_grid"


def _label(column: str, variables) -> str:
    return f"{column}{GRID_SUFFIX}" if column in variables else column


def point_summary(draws: xr.Dataset, var_names: list[str] | None = None, prob: float = 0.9) -> pd.DataFrame:
    """One row per point of :func:`predict`'s draws: the grid's columns, then for each variable
    (default ``loss``) ``<name>_mean, _median, _lower, _upper`` (the central ``prob`` interval),
    ``extrapolation_distance`` and ``extrapolation`` (True where it is > 0)."""
    prob = check_prob(prob)
    names = var_names or ["loss"]
    unknown = [name for name in names if name not in draws.data_vars]
    if unknown:
        raise BayesScalingError(
            f"no variable {', '.join(map(repr, unknown))} in the predictions; they hold "
            f"{', '.join(map(str, draws.data_vars))}"
        )
    labels = [name for name in draws[POINT].coords if name not in (POINT, "extrapolation_distance")]
    table = pd.DataFrame({name.removesuffix(GRID_SUFFIX): draws[name].values for name in labels})
    for name in names:
        summary = summarise_draws(draws[name], prob)
        for stat in ("mean", "median", "lower", "upper"):
            table[f"{name}_{stat}"] = summary[stat].values
    table["extrapolation_distance"] = draws["extrapolation_distance"].values
    table["extrapolation"] = table["extrapolation_distance"].to_numpy() > 0
    return table


def band_table(
    fit: Fit,
    grid: pd.DataFrame,
    *,
    prob: float = 0.9,
    kind: Kind = "expected",
    new_distribution: bool = False,
    seed: int = 0,
    law_only_beside: bool = False,
) -> pd.DataFrame:
    """The grid's columns plus ``loss_mean, loss_median, loss_lower, loss_upper`` of the
    expected loss (``kind="expected"``) or of a new run's (``"observation"``),
    ``extrapolation_distance`` and ``extrapolation``; with ``law_only_beside``,
    ``loss_lower_law_only, loss_upper_law_only`` from parameter (and noise) uncertainty alone.
    What plots, backtests and the CLI show."""
    if kind not in KIND_VARIABLE:
        raise BayesScalingError(f"kind must be 'expected' or 'observation', got {kind!r}")
    variable = KIND_VARIABLE[kind]
    draws = predict(fit, grid, new_distribution=new_distribution, seed=seed)
    table = point_summary(draws, [variable], prob).rename(
        columns={f"{variable}_{stat}": f"loss_{stat}" for stat in ("mean", "median", "lower", "upper")}
    )
    if law_only_beside:
        plain = predict(fit, grid, new_distribution=new_distribution, seed=seed, discrepancy=False)
        plain = summarise_draws(plain[variable], prob)
        table["loss_lower_law_only"], table["loss_upper_law_only"] = (
            plain["lower"].values,
            plain["upper"].values,
        )
    return table
