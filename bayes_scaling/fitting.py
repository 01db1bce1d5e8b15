"""Fitting, the pipeline: validate the runs, sample the posterior, attach the data, learn the
law's misfit, diagnose, and return a :class:`~bayes_scaling.result.Fit`.

Each step is one call: how the posterior is sampled is :mod:`bayes_scaling.inference`, the
misfit :mod:`bayes_scaling.discrepancy`, the DataTree's groups :mod:`bayes_scaling.idata`.
A fit is a function of its table, spec and seed: the cache of compiled models changes its
time, never its draws.
"""

from __future__ import annotations

import dataclasses
import os
import time
import warnings
from collections.abc import Mapping

import pandas as pd

from .calibration import MisfitWarning, describe_misfit, level_misfits
from .data import Runs, validate_runs
from .diagnostics import PriorWarning, SamplingWarning, check_floor_prior
from .discrepancy import learn_discrepancy
from .idata import attach_data
from .inference.compiled import DEFAULT_CACHE, ModelCache
from .inference.posterior import Job, sample_posterior
from .inference.refits import refits_for
from .inference.settings import Adaptation, Centring, Sampler, SamplerConfig, SamplingPolicy
from .model import Normalisation
from .result import Fit
from .spec import ModelSpec, load_spec


def fit(
    runs: pd.DataFrame | str | os.PathLike | Runs,
    model: str | os.PathLike | ModelSpec = "transfer_gap",
    *,
    seed: int = 0,
    draws: int | None = None,
    tune: int | None = None,
    chains: int = 4,
    sampler: Sampler = "nutpie",
    target_accept: float | None = None,
    adaptation: Adaptation = "diag",
    centring_from: Centring = "pilot",
    progress: bool = True,
    cores: int | None = None,
    columns: Mapping[str, str] | None = None,
    units: str | None = None,
    loss_unit: str | None = None,
    policy: SamplingPolicy | None = None,
    cache: ModelCache | None = None,
    warn: bool = True,
) -> Fit:
    """Sample the posterior of a scaling-law model of a run table.

    Parameters
    ----------
    runs
        Run table (DataFrame or CSV path, see :func:`bayes_scaling.data.validate_runs`), or
        validated ``Runs``.
    model
        Shipped model name (``"transfer_gap"``), path of a TOML spec, or a ``ModelSpec``.
    seed
        The same table, spec and seed give the same draws, in any process, on any machine.
    draws, tune, chains, sampler, target_accept, adaptation, centring_from
        NUTS settings (:class:`~bayes_scaling.inference.settings.SamplerConfig`). ``draws``
        (per chain) and ``target_accept`` left unset are chosen by a short pilot run:
        1,000 draws at target 0.9 where it finds the runs pinned, 2,000 at 0.95 where it
        finds them loose; a run whose settings were left to the fit and that fails its
        checks is run once more as a loose table's, or at target 0.99 where it had a loose
        table's settings already (``fit.diagnostics.rerun`` says why).
        ``tune`` defaults to the engine's (300 with nutpie, 1,000 with PyMC's NUTS).
        ``centring_from="spec"`` skips the pilot and samples the spec as written.
    progress
        Show the sampler's progress, and what the leave-future-out refits are doing.
    cores
        Chains run at once (default: the machine's cores, up to ``chains``): the time
        changes, never the draws.
    columns, units, loss_unit
        Rename columns (``{"D_ft": "finetune_tokens"}``); what the inputs count and what the
        loss measures (default ``tokens`` and ``nats/token``, or a data set's own).
    policy
        The sampling policy's thresholds (default: the spec's ``[sampling]`` table over
        the defaults, :class:`~bayes_scaling.inference.settings.SamplingPolicy`).
    cache
        Where compiled models are kept (default: one per process). It changes the time a fit
        takes, never its draws.
    warn
        Emit a ``SamplingWarning`` per diagnostic problem, and a ``PriorWarning`` where the
        prior on the law's floor sits above the runs' losses.

    Returns
    -------
    Fit
        Posterior, diagnostics and everything prediction needs; ``Fit.save`` writes it.
    """
    spec = load_spec(model)
    config = SamplerConfig(
        sampler, draws, tune, chains, target_accept, adaptation, centring_from, progress, cores
    )
    runs = runs if isinstance(runs, Runs) else _validated(runs, spec, columns, units, loss_unit)
    if warn and (conflict := check_floor_prior(spec, runs)):
        warnings.warn(conflict, PriorWarning, stacklevel=2)
    normalisation = Normalisation.from_runs(runs, spec.law.inputs)
    job = Job(runs, normalisation, config, DEFAULT_CACHE if cache is None else cache, seed)
    start, compiled_before = time.perf_counter(), job.cache.compile_seconds
    sampled = sample_posterior(spec, job, policy or spec.sampling)
    idata = attach_data(sampled.idata, runs, sampled.plan, normalisation)
    refits = None
    if spec.discrepancy.method == "leave_future_out":
        refits = refits_for(sampled.plan, job)
    discrepancy = learn_discrepancy(
        sampled.plan.spec, runs, normalisation, idata.posterior.to_dataset(), refits
    )
    diagnostics = dataclasses.replace(  # the timings: compiling, the pilot, sampling, the refits
        sampled.diagnostics, seconds=time.perf_counter() - start,
        compile_seconds=job.cache.compile_seconds - compiled_before,
    )  # fmt: skip
    fitted = Fit(
        idata=idata, spec=sampled.plan.spec, normalisation=normalisation, distributions=runs.distributions,
        units=runs.units, loss_unit=runs.loss_unit, diagnostics=diagnostics, discrepancy=discrepancy,
        sampler=config,
    )  # fmt: skip
    if warn:
        _warn_of(fitted, seed)
    return fitted


def _warn_of(fitted: Fit, seed: int) -> None:
    """A SamplingWarning per diagnostic problem, a MisfitWarning per level of a distribution
    whose runs fall outside their bands by more than chance (:mod:`bayes_scaling.calibration`)."""
    name = fitted.spec.name
    for problem in fitted.diagnostics.problems:
        warnings.warn(f"{name}: {problem}", SamplingWarning, stacklevel=3)
    for _, row in level_misfits(fitted, seed).iterrows():
        warnings.warn(f"{name}: {describe_misfit(row, fitted.loss_unit)}", MisfitWarning, stacklevel=3)


def _validated(runs, spec: ModelSpec, columns, units, loss_unit) -> Runs:
    return validate_runs(
        runs, spec.law.inputs, columns=columns, allow_zero=spec.law.zero_allowed,
        min_runs_per_distribution=spec.min_runs_per_distribution, units=units, loss_unit=loss_unit,
        default_loss_unit=spec.loss.unit or "nats/token",
    )  # fmt: skip
