"""Reports read results: tables of posterior summaries and figures, nothing computed here
that the API does not also return as data."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import xarray as xr

from .data import BayesScalingError

if TYPE_CHECKING:
    from .fit import Fit

SAMPLE_DIMS = ("chain", "draw")


def check_prob(prob: float) -> float:
    if not 0 < prob < 1:
        raise BayesScalingError(f"prob must be between 0 and 1 (e.g. 0.9), got {prob!r}")
    return float(prob)


def summarise_draws(
    draws: xr.DataArray, prob: float = 0.9, sample_dims: tuple[str, ...] = SAMPLE_DIMS
) -> xr.Dataset:
    """Mean, median and the central ``prob`` interval over the sample dims."""
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
    """Drop in loss each action buys, mean and 90% interval, in the table's order (top first).

    The drop is on the action's own distribution, so actions on different distributions
    compare on one axis.
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
    ax.set_xlabel("drop in loss on the action's distribution (nats/token)")
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
    ax.set_ylabel("loss (nats/token)")
    ax.legend(fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    return fig
