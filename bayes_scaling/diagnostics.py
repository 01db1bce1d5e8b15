"""Sampling diagnostics, part of every fit: r_hat, ESS, divergences, E-BFMI, tree depth.

Each problem becomes a :class:`SamplingWarning` that says what to do about it; none is
silenced. The numbers come from arviz-stats.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field

import arviz_stats as azs
import numpy as np
import xarray as xr

from .data import BayesScalingWarning, Runs
from .model import REFERENCE_SHIFT, prior_log_value_draws, ratio_name, slope_name
from .spec import ModelSpec

RHAT_MAX = 1.01
ESS_MIN = 400
BFMI_MIN = 0.3


class SamplingWarning(BayesScalingWarning):
    """The sampler's output should not be trusted as it is; the message says what to try."""


class PriorWarning(BayesScalingWarning):
    """The spec's prior contradicts the runs before any sampling; the message says what to change."""


# The least prior mass the law's floor (E) may leave below a distribution's smallest loss.
# transfer_gap.toml's prior on E, for nats per token, leaves 1-10% below mikami2021's error
# rates (0.23-0.51) and 20-40% below the example's losses (1.1 nats/token and up).
FLOOR_PRIOR_MIN_MASS = 0.1


def check_floor_prior(spec: ModelSpec, runs: Runs, n_draws: int = 4000) -> str | None:
    """Why the prior on the law's floor contradicts the runs, or None where it does not.

    Every loss lies above the floor (E), so a prior with little mass below a distribution's
    smallest loss presses E against it, where the posterior is most curved (on mikami2021,
    ~370 leapfrog steps per draw against ~170 with a prior for error rates)."""
    name = spec.law.floor
    if not name:
        return None
    log_floor = np.sort(prior_log_value_draws(spec.parameters[name], n_draws))
    smallest = np.full(len(runs.distributions), np.inf)
    np.minimum.at(smallest, runs.distribution_index, runs.column("loss"))
    mass = np.searchsorted(log_floor, np.log(smallest)) / n_draws
    low = np.flatnonzero(mass < FLOOR_PRIOR_MIN_MASS)
    if not len(low):
        return None
    worst = low[np.argsort(mass[low])][:3]
    shown = ", ".join(f"{runs.distributions[d]}: {mass[d]:.0%} below {smallest[d]:.3g}" for d in worst)
    instead = " (for error rates: model 'transfer_gap_error_rate')" if spec.law.name == "transfer_gap" else ""
    return (
        f"{spec.name}: the prior on {name}, the floor every loss lies above, puts under "
        f"{FLOOR_PRIOR_MIN_MASS:.0%} of its mass below the smallest loss ({runs.loss_unit}) of "
        f"{len(low)} of {len(runs.distributions)} distributions ({shown}): it presses {name} up "
        f"against the runs, which slows sampling and biases {name}. Give {name} a prior for these "
        f'losses{instead}, e.g. a spec with extends = "{spec.name}" and a new [parameters.{name}] prior'
    )


@dataclass(frozen=True)
class Diagnostics:
    """Summary of sampling health. ``problems`` is empty when all is well."""

    divergences: int
    max_rhat: float
    min_ess_bulk: float
    min_ess_tail: float
    min_bfmi: float
    mean_tree_depth: float
    mean_steps_per_draw: float
    draws: int
    chains: int
    seconds: float
    worst_rhat_parameter: str = ""
    worst_ess_parameter: str = ""
    problems: list[str] = field(default_factory=list)
    compile_seconds: float = 0.0  # part of ``seconds``; 0 when a compiled model was reused
    adaptation: str = ""  # nutpie's mass-matrix adaptation used ("pymc" for PyMC's NUTS)
    tune: int | None = None  # tuning draws per chain before the ``draws`` (None: not recorded)
    target_accept: float | None = None  # NUTS's target acceptance in the run (None: not recorded)
    rerun: str = ""  # why the fit ran a second time, with a loose table's settings ("": it did not)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict) -> Diagnostics:
        return cls(**raw)

    def summary_line(self) -> str:
        """One line of numbers: run length, time, and every health statistic."""
        return (
            f"{self.chains} chains x {self.draws} draws{self._after_tuning} in {self.seconds:.1f} s "
            f"({self.compile_seconds:.1f} s of it compiling; {self.adaptation} mass matrix"
            f"{self._target}): "
            f"{self.divergences} divergences, " + self._rhat + ", "
            f"min bulk ESS {self.min_ess_bulk:.0f} ({self.worst_ess_parameter}), "
            f"min tail ESS {self.min_ess_tail:.0f}, min E-BFMI {self.min_bfmi:.2f}, "
            f"tree depth {self.mean_tree_depth:.1f}, {self.mean_steps_per_draw:.0f} leapfrog steps/draw"
            + (f"; {self.rerun}" if self.rerun else "")
        )

    @property
    def _rhat(self) -> str:
        if np.isnan(self.max_rhat):  # too few draws per chain for r_hat to be computed
            return "max r_hat not computable (too few draws per chain)"
        return f"max r_hat {self.max_rhat:.3f} ({self.worst_rhat_parameter})"

    @property
    def _target(self) -> str:
        return f", target acceptance {self.target_accept:g}" if self.target_accept else ""

    @property
    def _after_tuning(self) -> str:
        return f" (after {self.tune} tuning)" if self.tune else ""

    def __str__(self) -> str:
        return "\n".join([self.summary_line()] + [f"warning: {p}" for p in self.problems])


def reported_variables(posterior: xr.Dataset, spec: ModelSpec) -> list[str]:
    """The variables whose health is diagnosed: the law's parameters, the populations' mu
    and tau, the likelihood's scale; not the coordinates the sampler moved in for them.

    Those coordinates (a partially centred parameter's z, the log of a parameter the
    posterior also holds, the loss at the reference inputs and its ratios and slopes) are
    what users do not read, and the parameters are functions of them. Bulk and tail ESS are
    the same for a parameter and its log (they are rank-based); at 256 distributions the
    coordinates were half the ~2,000 variables, and of the diagnostics' ~7 s.
    """
    names = set(posterior.data_vars)
    law = spec.law.parameters
    coordinates = {REFERENCE_SHIFT} | {f(n) for n in law for f in (ratio_name, slope_name)}
    coordinates |= {v for v in names if v.endswith("_z")}
    coordinates |= {f"log_{n}" for n in names}
    return [v for v in posterior.data_vars if v not in coordinates]


def _worst(values: xr.Dataset, pick) -> tuple[float, str]:
    best_value, best_name = None, ""
    for name, arr in values.data_vars.items():
        flat = np.asarray(arr).ravel()
        flat = flat[np.isfinite(flat)]
        if flat.size == 0:
            continue
        value = float(pick(flat))
        if best_value is None or pick([value, best_value]) == value:
            best_value, best_name = value, name
    return (float("nan") if best_value is None else best_value), best_name


def _run_length(tune: int | None, draws: int) -> str:
    return f"tune={tune}, draws={draws}" if tune else f"draws={draws}"


def _more_draws(draws: int, min_ess: float) -> int:
    """Draws per chain that would bring the smallest ESS to the target, ESS growing with draws."""
    if not np.isfinite(min_ess) or min_ess <= 0:
        return 4 * draws
    return int(np.ceil(draws * ESS_MIN / min_ess / 100) * 100)


# Where divergences sit at a hierarchical parameter's smallest population spreads, that
# parameter barely differs across distributions and its hierarchy is a funnel. On
# porian2024's two pre-training sets (chinchilla.toml) the divergent draws' tau sat at mean
# quantiles 0.33-0.36 of all draws for A and B (whose values were the same in both sets) and
# 0.46 for E (which differed); issue 27, in git history (docs/records.md).
FUNNEL_QUANTILE = 0.4
FUNNEL_MIN_DIVERGENCES = 10


def funnel_parameters(posterior: xr.Dataset, diverging: np.ndarray, names: list[str]) -> list[str]:
    """The hierarchical parameters whose divergent draws sit at small population spreads
    (mean quantile of their ``{name}_tau`` among all draws under FUNNEL_QUANTILE), the
    lowest first; none where there are too few divergences to tell."""
    diverging = np.asarray(diverging, dtype=bool).ravel()
    if diverging.sum() < FUNNEL_MIN_DIVERGENCES:
        return []
    quantiles = {}
    for name in names:
        if f"{name}_tau" not in posterior:
            continue
        tau = np.asarray(posterior[f"{name}_tau"]).ravel()
        if tau.size != diverging.size:
            continue
        ranks = np.argsort(np.argsort(tau)) / max(tau.size - 1, 1)
        quantiles[name] = float(ranks[diverging].mean())
    return sorted((n for n, q in quantiles.items() if q < FUNNEL_QUANTILE), key=quantiles.get)


def _divergence_advice(
    spec: ModelSpec,
    target_accept: float | None,
    centring_from: str = "spec",
    funnels: list[str] | None = None,
) -> str:
    """A next step the fit has not already taken: a higher target, or which parameter to change."""
    if funnels:
        # the measured cause first; a higher target only narrows a funnel's neck (0.99 left
        # 80 divergences where 0.95 left 196, sharing left none)
        names = ", ".join(funnels)
        advice = (
            f"The divergences sit where the spread of {names} across distributions is smallest: "
            f"the distributions' {names} barely differ, a spread that few distributions cannot "
            f'measure. In a copy of the model spec make {names} shared (pooling = "shared")'
        )
        if spec.law.name == "chinchilla" and {"A", "B"} & set(funnels):
            advice += "; models/chinchilla_shared_terms.toml shares the Chinchilla law's A and B"
        return advice
    steps = []
    if target_accept is None:
        steps.append("Raise target_accept (e.g. to 0.99)")
    elif target_accept < 0.99:
        higher = 0.99 if target_accept >= 0.95 else 0.95
        steps.append(
            f"Raise target_accept from {target_accept:g} to {higher:g} "
            f"(fit(target_accept={higher:g}), --target-accept {higher:g})"
        )
    hierarchical = [p.name for p in spec.parameters.values() if p.pooling == "hierarchical"]
    centred = [p.name for p in spec.parameters.values() if p.pooling == "hierarchical" and p.centred]
    if spec.coordinates == "reference_loss":
        # those coordinates write the law's terms centred, whatever the pilot found
        steps.append('in a copy of the model spec set coordinates = "parameters"')
    if hierarchical and centring_from == "pilot":
        # the pilot already chose centred or not per distribution: the spec's flag is moot
        steps.append(
            f"in a copy of the model spec tighten the tau prior of whichever of {', '.join(hierarchical)} "
            "barely differs across distributions, or make it shared"
        )
    elif centred:
        names = ", ".join(centred)
        steps.append(
            f"in a copy of the model spec set centred = false for whichever of {names} barely "
            "differs across distributions (or make it shared), or tighten its tau prior"
        )
    else:
        steps.append(
            "in a copy of the model spec tighten the priors of the parameters the data pin down least"
        )
    return "; ".join(steps)


def check_sampling(
    idata: xr.DataTree,
    spec: ModelSpec,
    *,
    elapsed_seconds: float = 0.0,
    warn: bool = True,
    compile_seconds: float = 0.0,
    adaptation: str = "",
    target_accept: float | None = None,
    tune: int | None = None,
    centring_from: str = "spec",
    rerun: str = "",
) -> Diagnostics:
    """Compute diagnostics of a sampled DataTree and warn about each problem."""
    posterior = idata.posterior.to_dataset()
    posterior = posterior[reported_variables(posterior, spec)]
    stats = idata.sample_stats.to_dataset()
    rhat = azs.rhat(posterior)
    ess_bulk = azs.ess(posterior, method="bulk")
    ess_tail = azs.ess(posterior, method="tail")
    max_rhat, worst_rhat = _worst(rhat, np.max)
    min_bulk, worst_ess = _worst(ess_bulk, np.min)
    min_tail, _ = _worst(ess_tail, np.min)
    divergences = int(stats["diverging"].sum()) if "diverging" in stats else 0
    min_bfmi = float(azs.bfmi(stats[["energy"]])["energy"].min()) if "energy" in stats else np.nan
    # nutpie names them depth / n_steps, PyMC tree_depth / n_steps
    depth_name = "depth" if "depth" in stats else "tree_depth"
    depth = float(stats[depth_name].mean()) if depth_name in stats else np.nan
    steps = float(stats["n_steps"].mean()) if "n_steps" in stats else np.nan
    chains, draws = posterior.sizes["chain"], posterior.sizes["draw"]

    problems = []
    if divergences:
        hierarchical = [p.name for p in spec.parameters.values() if p.pooling == "hierarchical"]
        funnels = funnel_parameters(idata.posterior.to_dataset(), stats["diverging"].values, hierarchical)
        problems.append(
            f"{divergences} divergent transitions: the posterior has regions the sampler cannot "
            f"follow. {_divergence_advice(spec, target_accept, centring_from, funnels)}"
        )
    if max_rhat > RHAT_MAX:
        problems.append(
            f"r_hat up to {max_rhat:.3f} (for {worst_rhat}) > {RHAT_MAX}: chains disagree. "
            f"Run longer than {_run_length(tune, draws)} (e.g. {_run_length(tune and 2 * tune, 2 * draws)}) "
            "or check for several modes"
        )
    if min_bulk < ESS_MIN:
        problems.append(
            f"bulk ESS as low as {min_bulk:.0f} (for {worst_ess}) < {ESS_MIN}: too few "
            f"effective draws for stable intervals. Run more than {chains} chains x {draws} draws "
            f"(e.g. draws={_more_draws(draws, min_bulk)})"
        )
    if np.isfinite(min_bfmi) and min_bfmi < BFMI_MIN:
        problems.append(
            f"E-BFMI {min_bfmi:.2f} < {BFMI_MIN}: the sampler explores the energy poorly, "
            "typical of funnels. Reparameterise (share a parameter) or tighten tau priors"
        )
    diagnostics = Diagnostics(
        divergences=divergences,
        max_rhat=max_rhat,
        min_ess_bulk=min_bulk,
        min_ess_tail=min_tail,
        min_bfmi=min_bfmi,
        mean_tree_depth=depth,
        mean_steps_per_draw=steps,
        draws=draws,
        chains=chains,
        seconds=elapsed_seconds,
        worst_rhat_parameter=worst_rhat,
        worst_ess_parameter=worst_ess,
        problems=problems,
        compile_seconds=compile_seconds,
        adaptation=adaptation,
        tune=tune,
        target_accept=target_accept,
        rerun=rerun,
    )
    if warn:
        for problem in problems:
            warnings.warn(f"{spec.name}: {problem}", SamplingWarning, stacklevel=3)
    return diagnostics
