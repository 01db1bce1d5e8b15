"""The sampling policy: how a fit samples, chosen from a short pilot run.

The pilot (2 chains, 200 + 200 draws, on the same compiled model as the run) measures how
much each distribution's runs pin down each hierarchical parameter. From it come, in
:func:`plan`: the partial centring of every hierarchical parameter per distribution, the
coordinates (the parameters' own or the loss at the reference inputs), NUTS's target
acceptance and the number of draws. :func:`run` then samples with that plan. Each setting's
constant below gives the measurement it rests on (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import xarray as xr

from . import engine
from .data import Runs
from .diagnostics import ESS_MIN, RHAT_MAX, Diagnostics
from .engine import Adaptation, Sampler
from .model import (
    DISTRIBUTION,
    Normalisation,
    centred_parameters,
    centring_name,
    draw_integrated_mu,
    hierarchical_with_mu,
    mu_integrated_out,
    partial_centring,
)
from .spec import ModelSpec

# Tuning draws per chain by engine. nutpie's adaptation (gradient-based mass matrix, early
# window) needs few: 300 instead of 1,000 left health the same over seeds 0-7 on the example,
# mikami2021, simulated Chinchilla-law runs and lin2024's curves, and at 16-256 simulated
# distributions, and cut sampling time by ~35% (benchmarks/RESULTS.md). PyMC's NUTS keeps
# PyMC's default.
DEFAULT_TUNE = {"nutpie": 300, "pymc": 1000}
# the pilot run that sets each hierarchical parameter's centring (see _learn_centring)
PILOT_DRAWS = 200
PILOT_CHAINS = 2
PILOT_SEED_OFFSET = 1000
# Reference-loss coordinates write a law's term parameters centred. Where the pilot finds one
# of them barely pinned by the runs (mean partial centring below this), or diverges at all,
# the fit samples the parameters themselves instead. Measured on lin2024's curves
# (benchmarks/RESULTS.md): E's mean centring is 0.47-0.56 on the full FLAN and Gigaword
# tables, whose pilots never diverged and which sample cleanly; 0.0 on FLAN cut at 3e5
# examples, where centred E diverged (E_tau funnel); 0.37-0.43 on Gigaword cut there, whose
# pilots diverged in 2 seeds of 6 and whose fits had up to 7 divergences, where the parameters
# themselves mix E_tau no better (r_hat up to 1.087 at ~920 steps): no threshold helps there.
MIN_TERM_CENTRING = 0.25
# The other way: a spec that starts in the parameters' own coordinates moves to the reference
# loss only where the pilot finds every term pinned in every distribution (centring at least
# this in each) and no divergence. The example's pilots leave one distribution's A at 0.0
# (its runs say little of A), and there reference-loss coordinates left an isolated
# divergence in 2 of 8 seeds; 16 simulated distributions have every term at 0.63 or more.
MIN_TERM_CENTRING_TO_SWITCH = 0.5
# ...and only where that saves more time than compiling a second model costs. Per effective
# draw of the slowest parameter (the shared alpha, which mixes more slowly there), sampling
# in reference-loss coordinates took 32% less time than in the parameters at 16 simulated
# distributions (38 steps per draw against 117, but half alpha's ESS) and 59% less at 256
# (98 against 255), so the saving is taken as 0.3 of the time the parameters would need,
# estimated from the pilot's. Compiling took 8-13 s per model here (benchmarks/RESULTS.md);
# moving it there cut the cold min ESS/s at 16 distributions from 3.6x to 1.6-1.8x the
# hand-written model's, where at 256 it took the fit from 698 s to 400 s.
REFERENCE_SAVING = 0.3
# The pilot's time is a rough guide (its warm-up, with a step size still small, is half its
# draws), so the saving must repay the compilation this often.
COMPILE_PAYBACK = 2.0
# From this many distributions on, the pilot itself runs in reference-loss coordinates. At 64
# and 256 simulated distributions the pilot in the parameters moved every fit there (the
# saving repaid a second compilation several times over), and at 256 that pilot, at 255
# leapfrog steps per draw against 98, was ~75 s of the 400 (benchmarks/RESULTS.md).
REFERENCE_PILOT_DISTRIBUTIONS = 64
# NUTS's target acceptance, chosen from the pilot unless the caller sets it. 0.9 took 15-40%
# fewer leapfrog steps than 0.95 and kept 0 divergences, r_hat <= 1.009 and ESS >= 666 over
# seeds 0-7 on the example, simulated Chinchilla-law runs, lin2024's FLAN and Gigaword curves
# and 16 simulated distributions (on a subset of the example, r_hat 1.010-1.012 in 2 of 8
# seeds, against <= 1.007 at 0.95). On mikami2021, where two fine-tuning sizes leave E and A
# barely pinned in every distribution, it gave r_hat up to 1.42 (ESS 8) and divergences
# (benchmarks/RESULTS.md). So the run keeps 0.95 where the pilot diverged or finds more than
# LOOSE_SHARE of the hierarchy's (distribution, parameter) pairs barely pinned (partial
# centring below LOOSE_CENTRING): 67% on mikami2021 and 33% on FLAN cut at 3e5 examples,
# against 0-4% on the tables above. Large tables keep 0.95 as well, judged by effective
# draws per second of the slowest parameter (the shared alpha), not by wall time: on
# simulated distributions 0.9 gave more of them at 16, 32, 48 and 56 distributions (32: 46-69
# per s against 40-51; 56: 42 with the model reused against 30-32, 124 leapfrog steps per
# draw against 178-193; these fits ran in the parameters' coordinates), fewer at 64 and
# 128, where every fit starts in reference-loss coordinates (REFERENCE_PILOT_DISTRIBUTIONS;
# 64: 32-44 against 49-51; its shorter trajectories, 43 steps against 170, no longer cross
# alpha's direction, whose ESS fell from ~3,000 to ~790 of 4,000 and r_hat rose to 1.008),
# and at 256 it made trajectories longer (249 and 261 against 97). So it stops where those
# coordinates start; from 64 on a fit takes ~2x the wall time of 0.9 for ~4x alpha's
# effective draws.
TARGET_ACCEPT_PINNED = 0.9
TARGET_ACCEPT_LOOSE = 0.95
LOOSE_CENTRING = 0.1
LOOSE_SHARE = 0.1
PINNED_MAX_DISTRIBUTIONS = REFERENCE_PILOT_DISTRIBUTIONS - 1
# Draws kept per chain, by default. Where the pilot finds the runs loose (as above), the
# posterior's ridges leave the slowest parameters ~500 effective draws in 4,000, and r_hat,
# an estimate with noise of that order, went over 1.01 in 2 of 8 seeds on mikami2021 at
# 1,000 draws (1.012-1.013, G and E of two distributions) and in none at 2,000 (r_hat
# 1.003-1.006, min ESS 858-1,349; benchmarks/RESULTS.md). So a loose table keeps twice the
# draws: its run takes twice as long, where a fit that warns would send the user to rerun it.
DEFAULT_DRAWS = 1000
LOOSE_DRAWS = 2000
# The pilot's verdict is a short look, and it can be wrong: on alabdulmohsin2022 (few-shot
# error rates, four distributions, fitted without a ceiling) it found every term pinned, and
# at its 0.9 and 1,000 draws r_hat went over 1.01 in 5 of 8 seeds (0.95 and 2,000 draws:
# <= 1.007 in all 8); a one-distribution table has no pilot at all (porian2024's
# Chinchilla-law runs: r_hat 1.0105 and 1.0112 in 2 of 8 seeds). So a run whose settings
# the caller left to the fit, and which fails its checks (a divergence, r_hat over RHAT_MAX,
# bulk ESS under ESS_MIN), is run once more, on the same compiled model, as a loose table's:
# target TARGET_ACCEPT_LOOSE and LOOSE_DRAWS. What its warning would have told the user to
# do, done for them; the second run's draws are the fit's, and its diagnostics say why it
# was run.
RERUN_SEED_OFFSET = 2000
COMPILE_SECONDS = 10.0  # a guess of one compilation's cost where none was timed in this process


@dataclass(frozen=True)
class Plan:
    """How the run samples: what the pilot chose (or the caller set)."""

    spec: ModelSpec  # in the coordinates the run samples in
    centring: dict[str, np.ndarray]  # by centring_name, one value per distribution; {}: the spec's flags
    target_accept: float
    draws: int
    pilot_compile_seconds: float = 0.0


def plan(
    spec: ModelSpec,
    runs: Runs,
    normalisation: Normalisation,
    *,
    draws: int | None,
    tune: int,
    chains: int,
    seed: int,
    sampler: Sampler,
    adaptation: Adaptation,
    target_accept: float | None,
    centring_from: str,
) -> Plan:
    """The run's plan. With ``centring_from="spec"`` the spec's as it stands (target 0.95
    unless given, DEFAULT_DRAWS unless given); with ``"pilot"``, what a pilot run finds (see
    the constants above): the centring, the coordinates, the target and the draws."""
    target = TARGET_ACCEPT_LOOSE if target_accept is None else target_accept
    if centring_from != "pilot":  # no centring given: the model takes the spec's flags
        return Plan(spec, {}, target, draws or DEFAULT_DRAWS)
    asked = spec
    if _pilot_in_reference(spec, runs):
        spec = dataclasses.replace(spec, coordinates="reference_loss")
    # never longer than the run it prepares (a quick look with 30 draws gets a 30-draw pilot)
    pilot = {"draws": min(PILOT_DRAWS, draws or DEFAULT_DRAWS), "tune": min(PILOT_DRAWS, tune)}
    settings = {"sampler": sampler, "adaptation": adaptation, "target_accept": target}
    start = time.perf_counter()
    centring, compile_seconds, divergences = _learn_centring(
        spec, runs, normalisation, seed=seed, **pilot, **settings
    )
    loose = _pilot_found_loose(centring, divergences)
    if target_accept is None:
        target = _target_from_pilot(loose, len(runs.distributions))
    if draws is None:
        draws = LOOSE_DRAWS if loose else DEFAULT_DRAWS
    # a large table's pilot already in reference-loss coordinates is judged by the rule for
    # a spec in the parameters' own: it stays only where every term is pinned
    coordinates = _coordinates_from_pilot(asked, centring, divergences)
    if coordinates != spec.coordinates:
        moved = dataclasses.replace(spec, coordinates=coordinates)
        timing = {
            "pilot_seconds": time.perf_counter() - start - compile_seconds,
            "pilot_compile_seconds": compile_seconds,
        }
        # back to the parameters always; into reference-loss ones where that repays compiling
        if coordinates == "parameters" or _move_repays_compiling(
            moved, runs, pilot, **timing, chains=chains, draws=draws, tune=tune
        ):
            spec = moved
    wanted = {centring_name(n) for n in centred_parameters(spec, len(runs.distributions))}
    centring = {k: v for k, v in centring.items() if k in wanted}
    return Plan(spec, centring, target, draws, compile_seconds)


def rerun_plan(chosen: Plan, diagnostics: Diagnostics) -> Plan | None:
    """The plan of a second run where the first failed its checks and a loose table's
    settings would change something (see RERUN_SEED_OFFSET); None otherwise. For a plan
    whose target and draws the fit chose, not the caller."""
    failed = diagnostics.divergences or diagnostics.max_rhat > RHAT_MAX or diagnostics.min_ess_bulk < ESS_MIN
    target = max(chosen.target_accept, TARGET_ACCEPT_LOOSE)
    draws = max(chosen.draws, LOOSE_DRAWS)
    if not failed or (target, draws) == (chosen.target_accept, chosen.draws):
        return None
    return dataclasses.replace(chosen, target_accept=target, draws=draws, pilot_compile_seconds=0.0)


def run(
    chosen: Plan,
    runs: Runs,
    normalisation: Normalisation,
    *,
    tune: int,
    chains: int,
    seed: int,
    progress: bool,
    sampler: Sampler,
    adaptation: Adaptation,
) -> tuple[xr.DataTree, float]:
    """Sample with the plan: the posterior (mu put back where it was integrated out) and the
    seconds spent compiling, the pilot's included."""
    tree, compile_seconds = engine.sample(
        chosen.spec,
        runs,
        normalisation,
        centring=chosen.centring,
        sampler=sampler,
        adaptation=adaptation,
        target_accept=chosen.target_accept,
        draws=chosen.draws,
        tune=tune,
        chains=chains,
        seed=seed,
        progress=progress,
    )
    return _add_integrated_mu(tree, chosen.spec, seed), compile_seconds + chosen.pilot_compile_seconds


def _coordinates_from_pilot(spec: ModelSpec, centring: Mapping[str, np.ndarray], divergences: int) -> str:
    """The coordinates to sample in, from the pilot run (made in the spec's coordinates).

    Reference-loss coordinates write each of the law's terms centred: they suit terms the
    runs pin down in every distribution, and put a funnel where they do not."""
    terms = spec.law.reference_terms.parameters if spec.law.reference_terms else ()
    if not terms:
        return spec.coordinates
    values = [centring.get(centring_name(name)) for name in terms]
    if spec.coordinates == "reference_loss":
        loose = any(v is not None and v.mean() < MIN_TERM_CENTRING for v in values)
        # the runs barely pin a term down, or centred terms already diverge in the pilot
        return "parameters" if loose or divergences else "reference_loss"
    pinned = all(v is not None and v.min() >= MIN_TERM_CENTRING_TO_SWITCH for v in values)
    return "reference_loss" if pinned and not divergences else "parameters"


def _pilot_found_loose(centring: Mapping[str, np.ndarray], divergences: int) -> bool:
    """Whether the pilot diverged or found more than LOOSE_SHARE of the hierarchy's
    (distribution, parameter) pairs barely pinned by the runs (partial centring below
    LOOSE_CENTRING): a posterior with ridges, which gets the higher target and more draws."""
    values = np.concatenate([np.ravel(v) for v in centring.values()]) if centring else np.zeros(0)
    share = float(np.mean(values < LOOSE_CENTRING)) if values.size else 0.0
    return bool(divergences) or share > LOOSE_SHARE


def _target_from_pilot(loose: bool, n_distributions: int) -> float:
    """The run's target acceptance (see TARGET_ACCEPT_PINNED): the lower one where the pilot
    found the runs pinned and the table is not large."""
    pinned = not loose and n_distributions <= PINNED_MAX_DISTRIBUTIONS
    return TARGET_ACCEPT_PINNED if pinned else TARGET_ACCEPT_LOOSE


def _pilot_in_reference(spec: ModelSpec, runs: Runs) -> bool:
    """Whether the pilot of a spec in the parameters' own coordinates runs in reference-loss
    ones instead: on a table so large (see REFERENCE_PILOT_DISTRIBUTIONS) that the fit moves
    there whenever the runs pin every term, so a pilot in the parameters would cost a second
    compilation and its own ~2.5x the leapfrog steps for nothing."""
    return (
        spec.coordinates == "parameters"
        and spec.law.reference_terms is not None
        and len(runs.distributions) >= REFERENCE_PILOT_DISTRIBUTIONS
    )


def _move_repays_compiling(
    reference: ModelSpec,
    runs: Runs,
    pilot: Mapping[str, int],
    pilot_seconds: float,
    pilot_compile_seconds: float,
    *,
    chains: int,
    draws: int,
    tune: int,
) -> bool:
    """Whether sampling in ``reference``'s coordinates saves more than compiling its model costs
    (see REFERENCE_SAVING): the run's time in the parameters is estimated from the pilot's."""
    cores = os.cpu_count() or 1
    rounds = (chains * (draws + tune) / min(chains, cores)) / (
        PILOT_CHAINS * sum(pilot.values()) / min(PILOT_CHAINS, cores)
    )
    # (a pilot on a model compiled earlier in this process timed only its lookup)
    compiling = 0.0 if engine.is_compiled(reference, runs) else max(pilot_compile_seconds, COMPILE_SECONDS)
    return REFERENCE_SAVING * pilot_seconds * rounds >= COMPILE_PAYBACK * compiling


def _learn_centring(
    spec: ModelSpec,
    runs: Runs,
    normalisation: Normalisation,
    *,
    draws: int,
    tune: int,
    seed: int,
    **settings,
) -> tuple[dict[str, np.ndarray], float, int]:
    """Centring of each hierarchical parameter per distribution (see
    :func:`model.partial_centring`) from a short pilot run in the spec's parameterisation,
    on the same compiled model as the run; the seconds spent compiling it; the pilot's
    divergences."""
    # every hierarchical parameter with a sampled mu, including those the reference-loss
    # coordinates write centred: their centring says whether those coordinates suit the data
    hierarchical = hierarchical_with_mu(spec, len(runs.distributions))
    if not hierarchical:
        return {}, 0.0, 0
    idata, compile_seconds = engine.sample(
        spec, runs, normalisation, draws=draws, tune=tune, chains=PILOT_CHAINS,
        seed=seed + PILOT_SEED_OFFSET, progress=False, **settings,
    )  # fmt: skip
    posterior = idata.posterior.to_dataset()
    centring = {}
    for name in hierarchical:
        variance = np.log(posterior[name]).var(dim=("chain", "draw")).values
        tau_squared = float((posterior[f"{name}_tau"] ** 2).mean())
        centring[centring_name(name)] = partial_centring(variance, tau_squared)
    stats = idata.sample_stats.to_dataset()
    divergences = int(stats["diverging"].sum()) if "diverging" in stats else 0
    return centring, compile_seconds, divergences


def _add_integrated_mu(idata: xr.DataTree, spec: ModelSpec, seed: int) -> xr.DataTree:
    """Put back mu for the hierarchical parameters it was integrated out of (one
    distribution), drawn from its exact conditional, so the posterior reads as the spec's."""
    posterior = idata.posterior.to_dataset()
    n_distributions = posterior.sizes.get(DISTRIBUTION, 1)
    rng = np.random.default_rng([seed, 0x6D75])
    added = {}
    for p in spec.parameters.values():
        if mu_integrated_out(p, n_distributions):
            log_value = np.log(posterior[p.name].isel({DISTRIBUTION: 0}))
            mu = draw_integrated_mu(p, log_value.values, posterior[f"{p.name}_tau"].values, rng)
            added[f"{p.name}_mu"] = (("chain", "draw"), mu)
    if added:
        idata["posterior"] = xr.DataTree(posterior.assign(added))
    return idata
