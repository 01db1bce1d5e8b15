"""Backtests: hold out the far end of the runs, refit on the rest, and score the bands.

The check that matters on real data (design §5): fit on small runs, predict the largest,
and count how often the bands of new runs cover them. Hold-outs split the way extrapolation
happens, along one scale axis: every run above a cut-off (``holdout_above``), or each
distribution's largest levels of an input (``holdout_largest``). A rolling backtest runs
one independent fit per cut-off on Dask (a local cluster by default, any scheduler by
address).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .data import DISTRIBUTION, BayesScalingError, validate_runs
from .discrepancy.growth_prior import learn_growth_prior, log_likelihood_on_grid
from .fitting import fit
from .prediction import band_table, predict
from .result import Fit
from .spec import GrowthPrior, ModelSpec, load_spec

ALL = "all"  # the summary row over every held-out run
SUMMARY_COLUMNS = (
    "held_out",
    "coverage_50",
    "coverage_90",
    "coverage_90_law_only",
    "median_abs_log_error",
    "median_width_90",
    "median_width_90_law_only",
    "interval_score_90",
    "median_extrapolation_distance",
)


@dataclass
class Backtest:
    """What a backtest found.

    ``runs``: one row per held-out run with its bands (``lower_50/upper_50``,
    ``lower_90/upper_90`` with the law's misfit (inside the data and past it), ``lower_90_law_only/
    upper_90_law_only`` from parameters and noise alone), ``median`` and
    ``extrapolation_distance``. ``summary``: per distribution and ``all``, see
    :func:`score_bands`. ``fit`` is the refit on the kept runs.
    """

    holdout: str
    runs: pd.DataFrame
    summary: pd.DataFrame
    fit: Fit | None = None


Holdout = tuple[str, float] | str  # ("pretrain_tokens", 1e10), or "pretrain_tokens=1e10"


def parse_holdout(value: Holdout | None, example: str) -> tuple[str, float] | None:
    """``(column, number)`` from a tuple or from text ``COLUMN=NUMBER``."""
    if value is None or isinstance(value, tuple):
        return value
    column, found, number = str(value).partition("=")
    try:
        if found:
            return column.strip(), float(number)
    except ValueError:
        pass
    raise BayesScalingError(f"hold-out {value!r}: write COLUMN=NUMBER, e.g. {example}")


def holdout_mask(
    table: pd.DataFrame,
    *,
    above: tuple[str, float] | None = None,
    largest: tuple[str, float] | None = None,
    min_runs: int = 1,
) -> np.ndarray:
    """Runs to hold out: every run with ``column > value`` (``above``), or in each
    distribution the runs at its largest distinct values of ``column`` making up at most
    ``fraction`` of its runs, at least its largest value (``largest``). Errors name each
    distribution that would keep fewer than ``min_runs`` runs."""
    if (above is None) == (largest is None):
        raise BayesScalingError(
            "give exactly one hold-out: above=(column, value) or largest=(column, fraction)"
        )
    column = (above or largest)[0]
    if column not in table:
        raise BayesScalingError(f"hold-out column {column!r} is not in the runs ({', '.join(table.columns)})")
    values = table[column].to_numpy(float)
    if above is not None:
        held = values > above[1]
    else:
        fraction = largest[1]
        if not 0 < fraction < 1:
            raise BayesScalingError(f"hold-out fraction must be between 0 and 1, got {fraction!r}")
        held = np.zeros(len(table), dtype=bool)
        for _, part in table.groupby(DISTRIBUTION, sort=False):
            levels = np.sort(part[column].unique())[::-1]
            chosen = [levels[0]]
            for level in levels[1:]:
                if part[column].isin([*chosen, level]).sum() > fraction * len(part):
                    break
                chosen.append(level)
            held[part.index.to_numpy()[part[column].isin(chosen).to_numpy()]] = True
    if not held.any():
        raise BayesScalingError(f"the hold-out keeps every run: no run has {column} above the cut-off")
    kept = pd.Series(~held, index=table.index).groupby(table[DISTRIBUTION].to_numpy()).sum()
    short = kept[kept < min_runs]
    if len(short):
        listed = ", ".join(f"{name!r} keeps {int(n)}" for name, n in short.items())
        raise BayesScalingError(
            f"the hold-out leaves too few runs to fit: {listed}; the model needs {min_runs} per "
            "distribution. Hold out less, or drop those distributions"
        )
    return held


def interval_score(observed, lower, upper, alpha: float) -> np.ndarray:
    """The interval score of central (1 - alpha) bands on log loss (Gneiting and Raftery 2007,
    a proper score; lower is better): the band's log width, plus 2 / alpha times how far the
    run falls outside it."""
    observed, lower, upper = (np.log(np.asarray(v, dtype=float)) for v in (observed, lower, upper))
    below, above = np.maximum(lower - observed, 0.0), np.maximum(observed - upper, 0.0)
    return (upper - lower) + (2.0 / alpha) * (below + above)


def score_bands(runs: pd.DataFrame) -> pd.DataFrame:
    """Per distribution and over all (``all``): how many runs were held out, the share inside
    their 50% and 90% bands (and the law-only 90% band), the median |log(observed /
    median prediction)|, the median relative width of the 90% bands ((upper - lower) /
    median), the mean interval score of the 90% bands on log loss (:func:`interval_score`:
    lower is better; coverage alone rewards bands too wide) and the median extrapolation
    distance.

    ``runs`` needs ``distribution, loss, median, lower_50, upper_50, lower_90, upper_90,
    lower_90_law_only, upper_90_law_only, extrapolation_distance``.
    """

    def score(part: pd.DataFrame) -> dict[str, float]:
        loss = part["loss"]
        return {
            "held_out": len(part),
            "coverage_50": float(((loss >= part.lower_50) & (loss <= part.upper_50)).mean()),
            "coverage_90": float(((loss >= part.lower_90) & (loss <= part.upper_90)).mean()),
            "coverage_90_law_only": float(
                ((loss >= part.lower_90_law_only) & (loss <= part.upper_90_law_only)).mean()
            ),
            "median_abs_log_error": float(np.median(np.abs(np.log(loss / part["median"])))),
            "median_width_90": float(np.median((part.upper_90 - part.lower_90) / part["median"])),
            "median_width_90_law_only": float(
                np.median((part.upper_90_law_only - part.lower_90_law_only) / part["median"])
            ),
            "interval_score_90": float(np.mean(interval_score(loss, part.lower_90, part.upper_90, 0.1))),
            "median_extrapolation_distance": float(np.median(part.extrapolation_distance)),
        }

    rows = {name: score(part) for name, part in runs.groupby(DISTRIBUTION, sort=False)}
    rows[ALL] = score(runs)
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis(DISTRIBUTION).reset_index()


def backtest(
    runs: pd.DataFrame | str | os.PathLike,
    model: str | os.PathLike | ModelSpec = "transfer_gap",
    *,
    holdout_above: Holdout | None = None,
    holdout_largest: Holdout | None = None,
    columns: Mapping[str, str] | None = None,
    seed: int = 0,
    **fit_options,
) -> Backtest:
    """Refit without the held-out runs and score the bands of new runs on them.

    ``holdout_above=("pretrain_tokens", 1e10)`` holds out every run above the cut-off;
    ``holdout_largest=("finetune_tokens", 0.25)`` each distribution's largest quarter (by
    distinct values); text works too (``"pretrain_tokens=1e10"``, ``"finetune_tokens=0.25"``).
    ``fit_options`` go to :func:`fit` (draws, tune, chains, ...).
    """
    holdout_above = parse_holdout(holdout_above, "pretrain_tokens=1e10")
    holdout_largest = parse_holdout(holdout_largest, "finetune_tokens=0.25")
    spec = load_spec(model)
    valid = validate_runs(
        runs, spec.law.inputs, columns=columns, allow_zero=spec.law.zero_allowed, source=None
    )
    table = valid.table.reset_index(drop=True)
    table.attrs = {"units": valid.units, "loss_unit": valid.loss_unit}
    held = holdout_mask(
        table, above=holdout_above, largest=holdout_largest, min_runs=spec.min_runs_per_distribution
    )
    label = (
        f"{holdout_above[0]} > {holdout_above[1]:g}"
        if holdout_above
        else f"largest {holdout_largest[1]:.0%} of {holdout_largest[0]} per distribution"
    )
    kept = table[~held].reset_index(drop=True)
    kept.attrs = table.attrs
    refit = fit(kept, spec, seed=seed, **{"progress": False, **fit_options})
    heldout = table[held & table[DISTRIBUTION].isin(refit.distributions).to_numpy()].reset_index(drop=True)
    return scored(refit, heldout, label, seed)


def scored(refit: Fit, heldout: pd.DataFrame, label: str, seed: int = 0) -> Backtest:
    """The backtest of ``refit``'s bands on the ``heldout`` runs (described by ``label``): how
    :func:`backtest` scores, and how a refit given another growth prior
    (``Fit.with_growth_prior``) is scored again without refitting."""
    bands = {}
    for prob in (0.5, 0.9):
        bands[prob] = band_table(
            refit, heldout, prob=prob, kind="observation", seed=seed, law_only_beside=prob == 0.9
        )
    result = heldout.copy()
    result["median"] = bands[0.9]["loss_median"]
    for prob, name in ((0.5, "50"), (0.9, "90")):
        result[f"lower_{name}"], result[f"upper_{name}"] = (
            bands[prob]["loss_lower"],
            bands[prob]["loss_upper"],
        )
    result["lower_90_law_only"] = bands[0.9]["loss_lower_law_only"]
    result["upper_90_law_only"] = bands[0.9]["loss_upper_law_only"]
    result["extrapolation_distance"] = bands[0.9]["extrapolation_distance"]
    summary = score_bands(result)
    summary.attrs["holdout"] = label
    return Backtest(holdout=label, runs=result, summary=summary, fit=refit)


def heldout_errors(result: Backtest) -> pd.DataFrame:
    """What a backtest's held-out runs say of how the law's error grows past the data: per
    run, ``residual`` (log loss minus the refit's mean law-only prediction, shifted by any
    level offset the refit learned), ``variance`` (the refit's predictive variance of it from
    parameters, noise and the misfit inside the data, nothing past the data) and
    ``distance`` (its extrapolation distance). The input of
    :func:`growth_prior_from_backtests`."""
    refit, heldout = result.fit, result.runs
    draws = np.log(predict(refit, heldout, discrepancy=False)["loss_observed"].values)
    draws = draws.reshape(-1, len(heldout))
    labels = heldout[DISTRIBUTION].astype(str).to_numpy()
    points = {name: heldout[name].to_numpy(float) for name in refit.law.inputs}
    offset, inside = refit.discrepancy.at_levels(labels, points, len(heldout))
    return pd.DataFrame(
        {
            DISTRIBUTION: labels,
            "residual": np.log(heldout["loss"].to_numpy(float)) - draws.mean(axis=0) - offset,
            "variance": draws.var(axis=0) + inside**2,
            "distance": heldout["extrapolation_distance"].to_numpy(float),
        }
    )


def growth_prior_from_backtests(
    backtests: Mapping[str, Sequence[Backtest]], source: str = "", fixed_weight: float | None = None
) -> GrowthPrior:
    """The prior of how fast a law's error grows past the data, learned from backtests of
    several tables (``backtests``: table name -> its backtests; two tables or more) by
    empirical Bayes (:func:`bayes_scaling.discrepancy.growth_prior.learn_growth_prior`). Put
    it in a spec's ``[discrepancy.growth_prior]`` to use it in every fit, or apply it to a
    fit with ``Fit.with_growth_prior``. ``source`` says where it came from."""
    curves = {}
    for table, results in backtests.items():
        parts = [growth_curve(result) for result in results]
        curves[table] = (sum(part[0] for part in parts), sum(part[1] for part in parts))
    return learn_growth_prior(curves, source=source, fixed_weight=fixed_weight)


def growth_curve(result: Backtest) -> tuple[np.ndarray, float]:
    """A backtest's held-out errors as a log likelihood over the scale grid and at 0
    (:func:`bayes_scaling.discrepancy.growth_prior.log_likelihood_on_grid`)."""
    errors = heldout_errors(result)
    return log_likelihood_on_grid(
        errors.residual, errors.variance, errors.distance, result.fit.spec.likelihood.nu
    )


def _one_cutoff(runs: pd.DataFrame, model, column: str, cutoff: float, options: dict) -> pd.DataFrame:
    result = backtest(runs, model, holdout_above=(column, cutoff), **options)
    diagnostics = result.fit.diagnostics
    # how long the refit took, and how much of it compiling: 0 where the process (a Dask
    # worker, or this one) had already compiled the model of its distribution bucket
    return result.summary.assign(
        cutoff=cutoff, fit_seconds=diagnostics.seconds, compile_seconds=diagnostics.compile_seconds
    )


def rolling_backtest(
    runs: pd.DataFrame | str | os.PathLike,
    model: str | os.PathLike | ModelSpec = "transfer_gap",
    *,
    column: str,
    cutoffs: Sequence[float],
    scheduler: str | None = None,
    workers: int = 2,
    **options,
) -> pd.DataFrame:
    """One backtest per cut-off (runs above it held out), run in parallel on Dask.

    ``scheduler``: ``None`` starts a local cluster of ``workers`` processes; an address
    (``tcp://host:8786``) uses a running scheduler; ``"serial"`` runs them one after another
    in this process (the same numbers, for checking). Returns the summaries stacked, with a
    ``cutoff`` column and the refit's ``fit_seconds`` and ``compile_seconds`` (each worker
    process keeps the models it compiled, so refits of one distribution bucket compile once per
    worker).
    """
    spec = load_spec(model)
    table = runs if isinstance(runs, pd.DataFrame) else validate_runs(runs, spec.law.inputs).table
    if scheduler == "serial":
        parts = [_one_cutoff(table, spec, column, float(c), options) for c in cutoffs]
    else:
        from dask.distributed import Client, LocalCluster

        if scheduler is None:
            with (
                LocalCluster(n_workers=workers, threads_per_worker=1, processes=True) as cluster,
                Client(cluster) as client,
            ):
                parts = _gather(client, table, spec, column, cutoffs, options)
        else:
            with Client(scheduler) as client:
                parts = _gather(client, table, spec, column, cutoffs, options)
    return pd.concat(parts, ignore_index=True)


def _gather(client, table, spec, column, cutoffs, options) -> list[pd.DataFrame]:
    futures = [
        client.submit(_one_cutoff, table, spec, column, float(c), options, pure=False) for c in cutoffs
    ]
    return client.gather(futures)
