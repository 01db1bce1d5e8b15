"""Reports read results: tables of posterior summaries and figures, nothing computed here
that the API does not also return as data."""

from __future__ import annotations

import arviz_stats as azs
import numpy as np
import pandas as pd
import xarray as xr

from .data import BayesScalingError
from .fit import Fit
from .intervals import summarise_draws

# label of a shared parameter's row in tables with one row per distribution
ALL_DISTRIBUTIONS = "*"


def parameter_table(fit: Fit, parameter: str = "G", prob: float = 0.9, units: str = "raw") -> pd.DataFrame:
    """One row per distribution: ``distribution,mean,median,lower,upper`` of a parameter.

    For ``G`` in raw units this is the transfer gap in the law as written, with p and f in
    the data's token units. ``lower``/``upper`` bound the central ``prob`` credible interval.
    """
    params = fit.parameters(units=units)
    if parameter not in params:
        raise BayesScalingError(
            f"unknown parameter {parameter!r}; the law has {', '.join(fit.law.parameters)}"
        )
    table = summarise_draws(params[parameter], prob).to_dataframe().reset_index()
    return table[["distribution", "mean", "median", "lower", "upper"]]


def gap_table(fit: Fit, prob: float = 0.9) -> pd.DataFrame:
    """Transfer gap G per distribution: ``distribution,mean,median,lower,upper``.

    G is in the units of the law as written, L = E + (A p^-alpha + G) f^-beta with p and f
    in the data's input units; ``lower``/``upper`` bound the central ``prob`` interval.
    Laws without a G raise an error that points to :func:`summary`.
    """
    if "G" not in fit.law.parameters:
        raise BayesScalingError(
            f"the {fit.law.name} law has no transfer gap G (its parameters: "
            f"{', '.join(fit.law.parameters)}); use summary (`bayes-scaling summary FIT.nc`) instead"
        )
    return parameter_table(fit, "G", prob=prob)


def summary(fit: Fit, prob: float = 0.9) -> pd.DataFrame:
    """Every law parameter and the noise scale sigma, in the units of the law as written.

    One row per parameter and distribution (``distribution`` is ``"*"`` for a parameter
    shared by all distributions): ``parameter,distribution,mean,median,lower,upper,r_hat,
    ess_bulk,ess_tail``. ``lower``/``upper`` bound the central ``prob`` credible interval;
    r_hat and the effective sample sizes come from arviz-stats, computed on the draws of
    the reported (raw-unit) quantity itself.
    """
    raw = fit.parameters(units="raw")
    values = {}
    for name in fit.law.parameters:
        draws = raw[name]
        # a shared parameter can still vary by distribution in raw units (its conversion may
        # involve a per-distribution exponent); only a truly common value gets one row
        if fit.spec.parameters[name].pooling == "shared" and bool(
            (draws == draws.isel({"distribution": 0})).all()
        ):
            draws = draws.isel({"distribution": 0}, drop=True)
        values[name] = draws
    posterior = fit.idata.posterior.to_dataset()
    if "sigma" in posterior:
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


def forest_plot(
    table: pd.DataFrame,
    *,
    label: str = "transfer gap G",
    prob: float = 0.9,
    title: str = "",
    log_scale: bool = True,
):
    """Median and credible interval per distribution, one row each; returns the figure."""
    import matplotlib.pyplot as plt

    order = table.sort_values("median").reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(order) + 1.4))
    y = np.arange(len(order))
    ax.hlines(y, order["lower"], order["upper"], color="C0", lw=2.5, label=f"{prob:.0%} credible interval")
    ax.plot(order["median"], y, "o", color="C0", ms=6, label="posterior median")
    if "truth" in order:
        ax.plot(order["truth"], y, "x", color="C3", ms=8, mew=2, label="true value (simulated)")
    ax.set_yticks(y, order["distribution"])
    if log_scale:
        ax.set_xscale("log")
    ax.set_xlabel(label)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title or f"Posterior of {label} per distribution")
    fig.tight_layout()
    return fig


def ranking_plot(table: pd.DataFrame, *, title: str = "Candidate actions"):
    """Drop in the portfolio loss each action buys, mean and 90% interval, in the table's
    order (top first): the weighted loss over every distribution, so pre-training (which
    lowers all of them) and fine-tuning actions compare on one axis.
    """
    import matplotlib.pyplot as plt

    order = table.iloc[::-1].reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(order) + 1.6))
    y = np.arange(len(order))
    ax.hlines(
        y,
        order["reduction_lower"],
        order["reduction_upper"],
        color="C0",
        lw=3,
        alpha=0.6,
        label="90% interval",
    )
    ax.plot(order["expected_reduction"], y, "o", color="C0", label="expected drop in loss")
    labels = [
        f"{a}\nP(best) {p:.0%}, cost {c:.3g}"
        for a, p, c in zip(order["action"], order["p_best"], order["cost"], strict=True)
    ]
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel(f"drop in the weighted portfolio loss ({table.attrs.get('loss_unit', 'nats/token')})")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def frontier_plot(
    frontier: pd.DataFrame, chosen_share: float | None = None, *, title: str = "Budget allocation frontier"
):
    """Expected loss and 90% band against the share of budget spent on fine-tuning data
    (single-distribution allocations)."""
    import matplotlib.pyplot as plt

    share = 1 - frontier["pretrain_share"]
    order = np.argsort(share.to_numpy())
    x = share.to_numpy()[order]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.fill_between(
        x,
        frontier["loss_lower"].to_numpy()[order],
        frontier["loss_upper"].to_numpy()[order],
        alpha=0.25,
        color="C0",
        label="90% band",
    )
    ax.plot(x, frontier["expected_loss"].to_numpy()[order], color="C0", label="expected loss")
    if chosen_share is not None:
        ax.axvline(chosen_share, color="C3", ls="--", label=f"chosen: {chosen_share:.0%} on fine-tuning")
    ax.set_xlabel("share of budget spent on fine-tuning tokens")
    ax.set_ylabel(f"loss ({frontier.attrs.get('loss_unit', 'nats/token')})")
    ax.legend(fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    return fig
