"""Reports read results: tables of posterior summaries, and their text and markdown forms."""

from __future__ import annotations

import arviz_stats as azs
import numpy as np
import pandas as pd
import xarray as xr

from .data import ALL_DISTRIBUTIONS, BayesScalingError
from .draws import summarise_draws
from .prediction import POINT, point_summary
from .result import Fit


def summary(data: Fit | xr.Dataset, var_names: list[str] | None = None, prob: float = 0.9) -> pd.DataFrame:
    """Posterior summaries as a table: of a fit's parameters, or of :func:`predict`'s draws.

    For a :class:`Fit`: every law parameter and the noise scale sigma (or those in
    ``var_names``, e.g. ``["G"]`` for the transfer gap), in the units of the law as written
    (inputs in the data's units), one row per parameter and distribution (``distribution``
    is ``"*"`` for a parameter shared by all): ``parameter, distribution, mean, median,
    lower, upper, r_hat, ess_bulk, ess_tail``. ``lower``/``upper`` bound the central
    ``prob`` credible interval; r_hat and the effective sample sizes come from arviz-stats,
    computed on the draws of the reported (raw-unit) quantity itself.

    For predictions (dims chain, draw, point): one row per point, the grid's columns, then
    ``<name>_mean, _median, _lower, _upper`` for each of ``var_names`` (default ``loss``;
    ``loss_observed`` bands a new run's loss), ``extrapolation_distance`` and
    ``extrapolation``.
    """
    if isinstance(data, xr.Dataset) and POINT in data.dims:
        return point_summary(data, var_names, prob)
    if not isinstance(data, Fit):
        raise BayesScalingError(
            f"summary takes a Fit or the draws of bayes_scaling.predict, got {type(data).__name__}"
        )
    return _parameter_summary(data, var_names, prob)


def _parameter_summary(fit: Fit, var_names: list[str] | None, prob: float) -> pd.DataFrame:
    known = [*fit.law.parameters, "sigma"]
    unknown = [name for name in var_names or () if name not in known]
    if unknown:
        gap = " (this law has no transfer gap G)" if "G" in unknown else ""
        raise BayesScalingError(
            f"unknown parameter {', '.join(map(repr, unknown))}{gap}; the {fit.law.name} law has "
            f"{', '.join(fit.law.parameters)}, and the noise scale sigma"
        )
    wanted = var_names or known
    raw = fit.parameters(units="raw")
    values = {}
    for name in (n for n in fit.law.parameters if n in wanted):
        draws = raw[name]
        # a shared parameter can still vary by distribution in raw units (its conversion may
        # involve a per-distribution exponent); only a truly common value gets one row
        if fit.spec.parameters[name].pooling == "shared" and bool(
            (draws == draws.isel({"distribution": 0})).all()
        ):
            draws = draws.isel({"distribution": 0}, drop=True)
        values[name] = draws
    posterior = fit.idata.posterior.to_dataset()
    if "sigma" in posterior and "sigma" in wanted:
        sigma = posterior["sigma"]
        if "distribution" in sigma.dims:
            sigma = sigma.assign_coords(distribution=list(fit.distributions))
        values["sigma"] = sigma
    draws = xr.Dataset(values)
    stats = xr.Dataset(
        {name: summarise_draws(value, prob).to_array("statistic") for name, value in values.items()}
    )
    diagnostics = azs.summary(draws, kind="diagnostics", fmt="xarray", round_to="none")
    rows = []
    for name in values:
        stat = stats[name]
        diag = diagnostics[name]
        labels = list(stat["distribution"].values) if "distribution" in stat.dims else [ALL_DISTRIBUTIONS]
        for i, label in enumerate(labels):
            pick = {"distribution": i} if "distribution" in stat.dims else {}
            row = {"parameter": name, "distribution": label}
            row |= {k: float(stat.sel(statistic=k).isel(pick)) for k in ("mean", "median", "lower", "upper")}
            row |= {k: float(diag.sel(summary=k).isel(pick)) for k in ("r_hat", "ess_bulk", "ess_tail")}
            rows.append(row)
    return pd.DataFrame(rows)


def format_table(table: pd.DataFrame, title: str = "") -> str:
    """A readable fixed-width table for a terminal."""
    text = table.to_string(index=False, float_format=lambda v: f"{v:.4g}")
    return f"{title}\n{text}" if title else text


def to_markdown(table: pd.DataFrame) -> str:
    """A GitHub-flavoured markdown table (numbers to 4 significant digits)."""

    def cell(value) -> str:
        return f"{value:.4g}" if isinstance(value, (float, np.floating)) else str(value)

    lines = [
        "| " + " | ".join(map(str, table.columns)) + " |",
        "|" + "|".join(" --- " for _ in table.columns) + "|",
    ]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines) + "\n"
