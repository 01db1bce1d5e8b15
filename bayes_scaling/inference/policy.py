"""The sampling policy: from a short pilot run to the run's plan, as pure functions.

The pilot (:class:`Pilot`, made by :func:`.posterior.run_pilot`) measures how much each
distribution's runs pin down each hierarchical parameter (its partial centring), whether it
diverged, and how many leapfrog steps a draw took. :func:`plan` turns that and the policy's
thresholds (:class:`~.settings.SamplingPolicy`) into the run's centring, coordinates, target
acceptance and draws. It reads nothing else: no clock, no core count, no cache of compiled
models, so the same table, spec and seed give the same plan, and the same draws, on any
machine and in any process.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from ..model import centred_parameters, centring_name, hierarchical_with_mu
from ..spec import ModelSpec
from .settings import SamplerConfig, SamplingPolicy


@dataclass(frozen=True)
class Pilot:
    """What the pilot run found: each hierarchical parameter's partial centring per
    distribution (by :func:`~bayes_scaling.model.centring_name`), its divergences, and its
    mean leapfrog steps per draw (in the coordinates it ran in)."""

    centring: Mapping[str, np.ndarray] = field(default_factory=dict)
    divergences: int = 0
    steps_per_draw: float = 0.0


@dataclass(frozen=True)
class Plan:
    """How the run samples: what the pilot chose, or the caller set."""

    spec: ModelSpec  # in the coordinates the run samples in
    centring: Mapping[str, np.ndarray]  # by centring_name, one value per distribution; {}: the spec's flags
    target_accept: float
    draws: int


def partial_centring(posterior_variance: np.ndarray, tau_squared: float) -> np.ndarray:
    """The centring c_d under which z_d is a posteriori independent of (mu, tau).

    In a normal hierarchy whose data alone would give log theta_d a variance s_d^2, the
    posterior variance v_d satisfies 1/v_d = 1/s_d^2 + 1/tau^2, and the best centring is
    tau^2 / (tau^2 + s_d^2) = 1 - v_d / tau^2 (Papaspiliopoulos, Roberts and Skold 2007):
    1 where the data pin theta_d down, 0 where they say nothing beyond the population.
    """
    return np.clip(1.0 - np.asarray(posterior_variance, dtype=float) / tau_squared, 0.0, 1.0)


def pilot_verdict(posterior: xr.Dataset, sample_stats: xr.Dataset, spec: ModelSpec) -> Pilot:
    """The :class:`Pilot` of a pilot run's draws: centring from each hierarchical parameter's
    posterior variance against its population's tau^2."""
    centring = {}
    for name in hierarchical_with_mu(spec, posterior.sizes.get("distribution", 1)):
        variance = np.log(posterior[name]).var(dim=("chain", "draw")).values
        tau_squared = float((posterior[f"{name}_tau"] ** 2).mean())
        centring[centring_name(name)] = partial_centring(variance, tau_squared)
    divergences = int(sample_stats["diverging"].sum()) if "diverging" in sample_stats else 0
    steps = float(sample_stats["n_steps"].mean()) if "n_steps" in sample_stats else 0.0
    return Pilot(centring, divergences, steps)


def needs_pilot(spec: ModelSpec, n_distributions: int, config: SamplerConfig) -> bool:
    """Whether the fit runs a pilot: asked for, and some hierarchical parameter has a mu."""
    return config.centring_from == "pilot" and bool(hierarchical_with_mu(spec, n_distributions))


def pilot_spec(spec: ModelSpec, n_distributions: int, policy: SamplingPolicy) -> ModelSpec:
    """The spec the pilot runs: in reference-loss coordinates on a table so large that the fit
    moves there whenever the runs pin every term (a pilot in the parameters would cost a
    second compilation and ~2.5x the leapfrog steps for nothing), else the spec itself."""
    large = n_distributions >= policy.reference_pilot_distributions
    if spec.coordinates == "parameters" and spec.law.reference_terms is not None and large:
        return dataclasses.replace(spec, coordinates="reference_loss")
    return spec


def pilot_length(config: SamplerConfig, policy: SamplingPolicy) -> tuple[int, int]:
    """(draws, tune) of the pilot: the policy's, never longer than the run it prepares."""
    return min(policy.pilot_draws, config.draws or policy.default_draws), min(
        policy.pilot_draws, config.tuning
    )


def plan(
    spec: ModelSpec,
    pilot: Pilot | None,
    policy: SamplingPolicy,
    config: SamplerConfig,
    *,
    n_distributions: int,
    n_runs: int,
) -> Plan:
    """The run's plan. Without a pilot, the spec as it stands (target 0.95 and the default
    draws unless the caller set them); with one, what it finds (see the policy's fields): the
    centring, the coordinates, the target and the draws."""
    target = policy.target_accept_loose if config.target_accept is None else config.target_accept
    if pilot is None:  # no centring given: the model takes the spec's flags
        return Plan(spec, {}, target, config.draws or policy.default_draws)
    loose = found_loose(pilot, policy)
    if config.target_accept is None:
        pinned = not loose and n_distributions <= policy.pinned_max_distributions
        target = policy.target_accept_pinned if pinned else policy.target_accept_loose
    draws = config.draws or (policy.loose_draws if loose else policy.default_draws)
    # a large table's pilot already in reference-loss coordinates is judged by the rule for a
    # spec in the parameters' own: it stays only where every term is pinned
    ran = pilot_spec(spec, n_distributions, policy)
    coordinates = coordinates_from_pilot(spec, pilot, policy)
    if coordinates != ran.coordinates:
        moved = dataclasses.replace(ran, coordinates=coordinates)
        # back to the parameters always; into reference-loss ones where that repays compiling
        if coordinates == "parameters" or move_repays_compiling(pilot, policy, config, draws, n_runs):
            ran = moved
    wanted = {centring_name(n) for n in centred_parameters(ran, n_distributions)}
    centring = {k: v for k, v in pilot.centring.items() if k in wanted}
    return Plan(ran, centring, target, draws)


def rerun_plan(chosen: Plan, failed: bool, policy: SamplingPolicy) -> Plan | None:
    """The plan of a second run where the first ``failed`` its checks: a loose table's
    settings, or where the first had them already, the last target (smaller steps, the one
    remedy NUTS has left); None where nothing would change. For a plan whose target and
    draws the policy chose, not the caller."""
    target = max(chosen.target_accept, policy.target_accept_loose)
    draws = max(chosen.draws, policy.loose_draws)
    if (target, draws) == (chosen.target_accept, chosen.draws):
        target = max(target, policy.target_accept_last)
    if not failed or (target, draws) == (chosen.target_accept, chosen.draws):
        return None
    return dataclasses.replace(chosen, target_accept=target, draws=draws)


def found_loose(pilot: Pilot, policy: SamplingPolicy) -> bool:
    """Whether the pilot diverged or found more than ``loose_share`` of the hierarchy's
    (distribution, parameter) pairs barely pinned (centring below ``loose_centring``): a
    posterior with ridges, which gets the higher target and more draws."""
    values = [np.ravel(v) for v in pilot.centring.values()]
    values = np.concatenate(values) if values else np.zeros(0)
    share = float(np.mean(values < policy.loose_centring)) if values.size else 0.0
    return bool(pilot.divergences) or share > policy.loose_share


def coordinates_from_pilot(spec: ModelSpec, pilot: Pilot, policy: SamplingPolicy) -> str:
    """The coordinates the pilot's verdict favours for a spec in ``spec.coordinates``.

    Reference-loss coordinates write each of the law's terms centred: they suit terms the
    runs pin down in every distribution, and put a funnel where they do not."""
    terms = spec.law.reference_terms.parameters if spec.law.reference_terms else ()
    if not terms:
        return spec.coordinates
    values = [pilot.centring.get(centring_name(name)) for name in terms]
    if spec.coordinates == "reference_loss":
        loose = any(v is not None and v.mean() < policy.min_term_centring for v in values)
        return "parameters" if loose or pilot.divergences else "reference_loss"
    pinned = all(v is not None and v.min() >= policy.min_term_centring_to_switch for v in values)
    return "reference_loss" if pinned and not pilot.divergences else "parameters"


def move_repays_compiling(
    pilot: Pilot, policy: SamplingPolicy, config: SamplerConfig, draws: int, n_runs: int
) -> bool:
    """Whether sampling in reference-loss coordinates saves more than compiling their model
    costs: ``reference_saving`` of the run's time in the parameters, estimated from the
    pilot's leapfrog steps per draw and the gradient's measured cost at ``n_runs`` runs,
    against ``compile_payback`` compilations. Counts, not clocks: no machine's speed, core
    count or cache enters."""
    steps = config.chains * (draws + config.tuning) * pilot.steps_per_draw
    run_seconds = steps * (policy.step_seconds + policy.step_seconds_per_run * n_runs)
    return policy.reference_saving * run_seconds >= policy.compile_payback * policy.compile_seconds
