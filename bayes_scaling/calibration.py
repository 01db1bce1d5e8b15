"""In-sample calibration: do a distribution's runs at one level of an input fall inside their
own bands as often as chance allows?

A robust (Student-t) likelihood forgives the odd bad run, which is what it is for; but it
forgives a whole level of one distribution just as quietly, when the law cannot follow that
level (mikami2021's mulclass-r50 at its smallest fine-tuning size: the curve passes above
all seven of its runs). :func:`level_misfits` finds such levels from each run's predictive
PIT (the share of draws of a new run's loss below the run's own, with the law's misfit as
the bands include it): where the law is right, a run falls outside its central 90% band
with chance 0.1, so the count of a level's n runs outside is about Binomial(n, 0.1). A level
is named where that count is larger than a test at ``alpha`` allows over every level tested
(Bonferroni); its mean PIT (about 1/2 give or take sqrt(1 / (12 n)) where the law is right)
says on which side of the curve it sits. In-sample PITs crowd towards 1/2 (the fit saw these
runs), which makes the test conservative. A level whose runs sit off the curve but inside
their bands (alabdulmohsin2022's few-shot curves, 2-5% above theirs) is not named: the bands
already say that much (docs/records.md, "In-sample level check"). :func:`bayes_scaling.fit`
warns of each level named.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from .data import DISTRIBUTION, LOSS, BayesScalingWarning
from .draws import flat
from .prediction import predict

if TYPE_CHECKING:
    from .result import Fit

MIN_RUNS_PER_LEVEL = 4  # fewer runs cannot tell a level's misfit from the noise
ALPHA = 0.01  # chance of naming any level of a table the law fits, at most
POINTS_PER_BLOCK = 512  # runs predicted at once: keeps draws x runs small on large tables
# draws the PITs are computed from: a tail share of 0.05 to +-0.007, at a quarter of the cost
# of every draw of a default fit (4 x 1,000)
MAX_DRAWS = 1000
LEVEL_COLUMNS = [
    "distribution", "input", "level", "runs", "mean_pit", "z", "outside_90", "median_miss",
]  # fmt: skip


class MisfitWarning(BayesScalingWarning):
    """Runs of one distribution at one input level fall outside their bands by more than chance."""


def run_pit(fit: Fit, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Each fitted run's predictive PIT: the share of draws of a new run's loss at its inputs
    below its measured loss (ties counted half), with the law's misfit as the bands have it;
    and each run's miss against the median curve (measured / predicted - 1)."""
    runs = fit.runs
    posterior = fit.idata.posterior
    step = -(-posterior.sizes["chain"] * posterior.sizes["draw"] // MAX_DRAWS)  # ceiling
    if step > 1:  # every step-th draw of each chain
        tree = fit.idata.copy()
        tree["posterior"] = xr.DataTree(posterior.to_dataset().isel(draw=slice(None, None, step)))
        fit = dataclasses.replace(fit, idata=tree)
    pits, misses = [], []
    for start in range(0, len(runs), POINTS_PER_BLOCK):
        block = runs.iloc[start : start + POINTS_PER_BLOCK]
        draws = predict(fit, block[[DISTRIBUTION, *fit.law.inputs]], seed=seed + start)
        new_run = flat(draws["loss_observed"])  # (sample, point)
        measured = block[LOSS].to_numpy(dtype=float)[None, :]
        pits.append((new_run < measured).mean(axis=0) + 0.5 * (new_run == measured).mean(axis=0))
        misses.append(measured[0] / np.median(flat(draws["loss"]), axis=0) - 1)
    return np.concatenate(pits), np.concatenate(misses)


def level_misfits(fit: Fit, seed: int = 0, alpha: float = ALPHA) -> pd.DataFrame:
    """The (distribution, input, level) groups with more runs outside their central 90% bands
    of new runs than chance allows (see the module's docstring), one row each: how many
    runs, their mean PIT and its z-score against 1/2, how many fall outside, and the median
    miss of the runs against the median curve (measured / predicted - 1). Empty where every
    level is as calibrated as chance allows."""
    runs = fit.runs
    pit, miss = run_pit(fit, seed)
    groups = []
    for name in fit.law.inputs:
        for (label, level), rows in runs.groupby([DISTRIBUTION, name], sort=False).indices.items():
            if len(rows) >= MIN_RUNS_PER_LEVEL and runs[name].nunique() > 1:
                groups.append((label, name, level, rows))
    if not groups:
        return pd.DataFrame(columns=LEVEL_COLUMNS)
    found = []
    for label, name, level, rows in groups:
        outside = int(((pit[rows] < 0.05) | (pit[rows] > 0.95)).sum())
        # P(at least this many outside | n runs, each outside with chance 0.1)
        if stats.binom.sf(outside - 1, len(rows), 0.1) < alpha / len(groups):
            z = (pit[rows].mean() - 0.5) / np.sqrt(1 / (12 * len(rows)))
            found.append(
                (label, name, level, len(rows), pit[rows].mean(), z, outside, float(np.median(miss[rows])))
            )
    return pd.DataFrame(found, columns=LEVEL_COLUMNS)


SIDE_Z = 2.0  # a level's mean PIT this many standard errors from 1/2 sits on one side


def describe_misfit(row: pd.Series, loss_unit: str) -> str:
    """One warning's words: where, how far, and what to do. A level off the curve to one
    side is a misfit of the law; one whose runs fall outside on both sides scatter more than
    the fit's noise scale says."""
    where = f"{row['distribution']} at {row['input']} = {row['level']:g}"
    outside = (
        f"{where}: {row['outside_90']} of its {row['runs']} runs lie outside their 90% bands of "
        "new runs, more than chance allows"
    )
    if abs(row["z"]) < SIDE_Z:
        return (
            f"{outside}, on both sides of the fitted curve (mean PIT {row['mean_pit']:.2f}): they "
            "scatter more than the fit's noise scale allows, so its bands are too narrow there. "
            f"Check those runs ({loss_unit}); if they are right, give each distribution its own "
            'noise scale (a spec with [likelihood] sigma_pooling = "per_distribution")'
        )
    side = "below" if row["z"] < 0 else "above"
    return (
        f"{outside}, {side} the fitted curve (median {abs(row['median_miss']):.1%} {side}; mean "
        f"PIT {row['mean_pit']:.2f}, z = {row['z']:.1f}): the law does not follow this level of "
        "this distribution, and the robust likelihood is treating its runs as outliers. Check "
        f"those runs ({loss_unit}); if they are right, predictions near {where} are off by about "
        "that much: fit a spec that can follow them (e.g. the distribution's own exponents), or "
        "fit that level as a distribution of its own"
    )
