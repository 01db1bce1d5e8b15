"""The posterior of a table: the pilot, the plan and the run, one after another.

:func:`sample_posterior` runs the pilot on the compiled model the run will use
(:mod:`.compiled`), asks the policy for a plan (:func:`.policy.plan`), samples, checks the
draws, and where a run whose settings were left to the policy fails its checks, samples once
more with a loose table's settings, or at the last target where it had them
(:func:`.policy.rerun_plan`).
"""

from __future__ import annotations

from dataclasses import dataclass

import xarray as xr

from ..data import Runs
from ..diagnostics import ESS_MIN, RHAT_MAX, Diagnostics, check_sampling
from ..model import Normalisation
from ..spec import ModelSpec
from .compiled import CompiledModel, ModelCache
from .policy import Pilot, Plan, needs_pilot, pilot_length, pilot_spec, pilot_verdict, plan, rerun_plan
from .settings import SamplerConfig, SamplingPolicy


@dataclass(frozen=True)
class Job:
    """What every run of one fit shares: its table, how the inputs are normalised, the
    caller's sampler settings, where compiled models are kept, and the seed."""

    runs: Runs
    normalisation: Normalisation
    config: SamplerConfig
    cache: ModelCache
    seed: int

    def model(self, spec: ModelSpec) -> CompiledModel:
        return self.cache.model(spec, len(self.runs.distributions), self.config.sampler)


@dataclass(frozen=True)
class Sampled:
    """A run's posterior, the plan it followed, and its health (timings not yet counted)."""

    idata: xr.DataTree
    plan: Plan
    diagnostics: Diagnostics


def run_pilot(spec: ModelSpec, job: Job, policy: SamplingPolicy) -> Pilot:
    """A short run (the policy's pilot length and chains) on the compiled model the fit will
    sample on, read by :func:`.policy.pilot_verdict`."""
    spec = pilot_spec(spec, len(job.runs.distributions), policy)
    config = job.config
    draws, tune = pilot_length(config, policy)
    short = SamplerConfig(
        sampler=config.sampler, tune=tune, chains=policy.pilot_chains, adaptation=config.adaptation,
        progress=False, cores=config.cores,
    )  # fmt: skip
    target = policy.target_accept_loose if config.target_accept is None else config.target_accept
    idata = job.model(spec).sample(
        job.runs, job.normalisation, short, seed=job.seed + policy.pilot_seed_offset, draws=draws,
        target_accept=target,
    )  # fmt: skip
    return pilot_verdict(idata.posterior.to_dataset(), idata.sample_stats.to_dataset(), spec)


def sample_posterior(spec: ModelSpec, job: Job, policy: SamplingPolicy) -> Sampled:
    """Pilot, plan, run and, where the policy chose the settings and the run failed its
    checks, a second run with a loose table's, or at the last target where it had them (its
    draws are the fit's; ``rerun`` says why)."""
    n_distributions = len(job.runs.distributions)
    pilot = run_pilot(spec, job, policy) if needs_pilot(spec, n_distributions, job.config) else None
    chosen = plan(spec, pilot, policy, job.config, n_distributions=n_distributions, n_runs=job.runs.n_runs)
    idata, diagnostics = _run(chosen, job, job.seed)
    failed = (
        bool(diagnostics.divergences) or diagnostics.max_rhat > RHAT_MAX or diagnostics.min_ess_bulk < ESS_MIN
    )
    again = rerun_plan(chosen, failed, policy) if job.config.policy_sets_length else None
    if again is None:
        return Sampled(idata, chosen, diagnostics)
    why = (
        f"run again at target {again.target_accept:g} with {again.draws} draws: the first run "
        f"(target {chosen.target_accept:g}, {chosen.draws} draws) had {diagnostics.divergences} "
        f"divergent transitions, r_hat {diagnostics.max_rhat:.3f}, bulk ESS {diagnostics.min_ess_bulk:.0f}"
    )
    idata, diagnostics = _run(again, job, job.seed + policy.rerun_seed_offset, why)
    return Sampled(idata, again, diagnostics)


def _run(chosen: Plan, job: Job, seed: int, rerun: str = "") -> tuple[xr.DataTree, Diagnostics]:
    config = job.config
    idata = job.model(chosen.spec).sample(
        job.runs, job.normalisation, config, seed=seed, draws=chosen.draws,
        target_accept=chosen.target_accept, centring=chosen.centring,
    )  # fmt: skip
    diagnostics = check_sampling(
        idata, chosen.spec, warn=False, target_accept=chosen.target_accept, tune=config.tuning,
        adaptation=config.adaptation if config.sampler == "nutpie" else "pymc",
        centring_from=config.centring_from, rerun=rerun,
    )  # fmt: skip
    return idata, diagnostics
