"""Figures: fitted curves with bands past the data, posterior predictive checks, prior
predictive curves, backtests, forests of a parameter, and rankings of actions.

Each function takes results (fits, tables, draws), returns the
matplotlib figure, and saves it when given ``path``; the numbers come from the public API.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .data import DISTRIBUTION
from .draws import flat
from .prediction import band_table

if TYPE_CHECKING:
    from .result import Fit


def _save(fig, path: str | Path | None):
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


def _plain_log_ticks(ax, axes: str = "xy") -> None:
    """Log axes labelled in plain numbers (0.3, 2, 5e+06), minor ticks too: where the data
    span less than a decade, matplotlib's default labels read 2x10^0, or no label at all."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    plain = FuncFormatter(lambda value, _: f"{value:.3g}")
    for name in axes:
        axis = ax.xaxis if name == "x" else ax.yaxis
        low, high = ax.get_xlim() if name == "x" else ax.get_ylim()
        if high / low > 30:  # more than a decade and a half: the decades label themselves
            continue
        subs = np.arange(1.0, 10.0) if high / low <= 5 else (1.0, 2.0, 3.0, 5.0)
        axis.set_minor_locator(LogLocator(subs=subs))
        axis.set_minor_formatter(plain)
        axis.set_major_formatter(plain)


def _levels(values: pd.Series, most: int = 3) -> np.ndarray:
    unique = np.unique(values.to_numpy(float))
    if len(unique) <= most:
        return unique
    return unique[np.linspace(0, len(unique) - 1, most).round().astype(int)]


def curve_grid(fit: Fit, extend: float = 30.0, points: int = 40) -> pd.DataFrame:
    """Grid for curve plots: the x input from its smallest value to ``extend`` x its largest,
    the other inputs at up to three observed levels, per distribution."""
    runs, x = fit.runs, fit.law.x_input
    others = [k for k in fit.law.inputs if k != x]
    frames = []
    for name, group in runs.groupby(DISTRIBUTION, sort=False):
        positive = group[x][group[x] > 0]
        xs = np.geomspace(positive.min(), positive.max() * extend, points)
        level_sets = [_levels(group[k]) for k in others]
        for combo in np.array(np.meshgrid(*level_sets)).reshape(len(others), -1).T if others else [()]:
            frame = pd.DataFrame({DISTRIBUTION: name, x: xs})
            for k, v in zip(others, combo, strict=True):
                frame[k] = v
            frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def plot_curves(fit: Fit, *, prob: float = 0.9, extend: float = 30.0, path=None):
    """Observed runs and fitted curves with credible bands, one panel per distribution,
    extrapolated ``extend`` x past the largest run; the shaded area is past the data."""
    import matplotlib.pyplot as plt

    grid = curve_grid(fit, extend)
    table = band_table(fit, grid, prob=prob, kind="expected")
    runs, x = fit.runs, fit.law.x_input
    others = [k for k in fit.law.inputs if k != x]
    names = list(fit.distributions)
    cols = min(4, len(names))
    rows = int(np.ceil(len(names) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    for ax, name in zip(axes.ravel(), names, strict=False):
        part, seen = table[table[DISTRIBUTION] == name], runs[runs[DISTRIBUTION] == name]
        keys = part[others].drop_duplicates().itertuples(index=False) if others else [()]
        for i, key in enumerate(keys):
            mask = (
                np.all([part[k] == v for k, v in zip(others, key, strict=True)], axis=0)
                if others
                else np.ones(len(part), bool)
            )
            curve = part[mask]
            label = ", ".join(f"{k.split('_')[0]} {v:.0e}" for k, v in zip(others, key, strict=True))
            ax.fill_between(curve[x], curve.loss_lower, curve.loss_upper, color=f"C{i}", alpha=0.2)
            ax.plot(curve[x], curve.loss_median, color=f"C{i}", lw=1.2, label=label or None)
            near = (
                np.all([np.isclose(seen[k], v, rtol=0.25) for k, v in zip(others, key, strict=True)], axis=0)
                if others
                else np.ones(len(seen), bool)
            )
            ax.plot(seen[x][near], seen.loss[near], "o", color=f"C{i}", ms=3)
        ax.axvspan(seen[x][seen[x] > 0].max(), part[x].max(), color="0.9", zorder=0)
        ax.set_xscale("log")
        ax.set_title(name, fontsize=11)
        ax.set_xlabel(f"{x} ({fit.units})", fontsize=9)
        ax.set_ylabel(f"loss ({fit.loss_unit})", fontsize=9)
        ax.tick_params(labelsize=8)
        if others:  # each panel its own: distributions differ in their levels
            ax.legend(fontsize=7, loc="upper right")
    for ax in axes.ravel()[len(names) :]:
        ax.set_visible(False)
    fig.suptitle(
        f"{fit.spec.name}: median and {prob:.0%} band of the expected loss; grey = past the data", fontsize=11
    )
    fig.tight_layout()
    return _save(fig, path)


def plot_ppc(fit: Fit, *, prob: float = 0.9, path=None):
    """Posterior predictive check: each run's observed loss against the band a new run with
    its inputs would fall in. Points off the diagonal band are misfit or outlying runs."""
    import matplotlib.pyplot as plt

    runs = fit.runs
    table = band_table(fit, runs, prob=prob, kind="observation")
    outside = (table.loss < table.loss_lower) | (table.loss > table.loss_upper)
    fig, ax = plt.subplots(figsize=(5, 4.6))
    ax.errorbar(
        table.loss_median,
        table.loss,
        xerr=[table.loss_median - table.loss_lower, table.loss_upper - table.loss_median],
        fmt="o",
        ms=3,
        color="C0",
        ecolor="C0",
        alpha=0.5,
        lw=0.8,
        label=f"{prob:.0%} predictive interval",
    )
    ax.plot(
        table.loss_median[outside],
        table.loss[outside],
        "o",
        color="C3",
        ms=4,
        label=f"outside the band: {outside.sum()} of {len(table)}",
    )
    lims = [table[["loss", "loss_lower"]].min().min(), table[["loss", "loss_upper"]].max().max()]
    ax.plot(lims, lims, color="0.5", lw=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    _plain_log_ticks(ax)
    ax.set_xlabel(f"predicted loss of a new run ({fit.loss_unit})")
    ax.set_ylabel(f"observed loss ({fit.loss_unit})")
    ax.legend(fontsize=8)
    ax.set_title(f"Posterior predictive check ({fit.spec.name})", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def plot_prior_predictive(draws, *, x_input: str, path=None, max_curves: int = 200):
    """Prior predictive loss curves (from :func:`bayes_scaling.sample_prior_predictive`): before
    seeing the losses, what the model thinks curves look like. The grey band marks 0.1-20
    nats/token, where nearly all curves should be."""
    import matplotlib.pyplot as plt

    loss = flat(draws["loss"])  # (sample, point)
    x = draws[x_input].values
    order = np.argsort(x)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.axhspan(0.1, 20, color="0.92", zorder=0, label="plausible: 0.1-20 nats/token")
    for curve in loss[:max_curves]:
        ax.plot(x[order], curve[order], color="C0", alpha=0.08, lw=0.8)
    inside = float(((loss > 0.1) & (loss < 20)).mean())
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(x_input)
    ax.set_ylabel("loss (nats/token)")
    ax.set_title(f"Prior predictive curves: {inside:.1%} of values in 0.1-20 nats/token", fontsize=10)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return _save(fig, path)


def plot_backtest(result, *, path=None):
    """Each held-out run against the 90% band of a new run's loss from the refit without it:
    the band with the law's misfit (dark) and from parameters and noise
    alone (light); runs outside the dark band are red."""
    import matplotlib.pyplot as plt

    runs = result.runs.sort_values(["distribution", "median"]).reset_index(drop=True)
    fit = result.fit
    unit = fit.loss_unit if fit is not None else "loss"
    inputs = [c for c in (fit.law.inputs if fit is not None else ()) if c in runs]
    fig, ax = plt.subplots(figsize=(8, 0.3 * len(runs) + 2.0))
    y = np.arange(len(runs))
    ax.hlines(y, runs.lower_90, runs.upper_90, color="C0", lw=3, alpha=0.45, label="90% band")
    ax.hlines(
        y,
        runs.lower_90_law_only,
        runs.upper_90_law_only,
        color="C0",
        lw=1.2,
        label="parameters and noise only",
    )
    inside = (runs.loss >= runs.lower_90) & (runs.loss <= runs.upper_90)
    ax.plot(runs.loss[inside], y[inside], "o", color="k", ms=3.5, label="held-out run")
    ax.plot(runs.loss[~inside], y[~inside], "o", color="C3", ms=4.5, label="outside its band")
    # each row: the distribution, the run's inputs, and how far past the fitted runs it lies
    labels = [
        f"{row.distribution}  "
        + "  ".join(f"{_short(name)} {getattr(row, name):.3g}" for name in inputs)
        + f"  d={row.extrapolation_distance:.1f}"
        for row in runs.itertuples()
    ]
    ax.set_yticks(y, labels)
    ax.tick_params(axis="y", labelsize=8)
    ax.invert_yaxis()
    coverage = result.summary.set_index("distribution").loc["all", "coverage_90"]
    held = f"90% bands cover {coverage:.0%} of {len(runs)} held-out runs"
    ax.set_title(f"{textwrap.fill(f'Backtest, {result.holdout}:', 70)}\n{held}", fontsize=10)
    ax.set_xlabel(
        f"loss ({unit})\nd: how far past its distribution's fitted runs a run lies (natural-log units)"
    )
    ax.legend(fontsize=8, loc="best")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


def _short(column: str) -> str:
    """A run's input in a row label: ``p`` for pre-training, ``f`` for fine-tuning."""
    return {"pretrain_tokens": "p", "finetune_tokens": "f"}.get(column, column)


def plot_forest(
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
        _plain_log_ticks(ax, "x")
    ax.set_xlabel(label)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title or f"Posterior of {label} per distribution")
    fig.tight_layout()
    return fig


def plot_ranking(table: pd.DataFrame, *, title: str = "Candidate actions"):
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


def plot_frontier(
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
