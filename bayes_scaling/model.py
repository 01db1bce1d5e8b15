"""The PyMC model: a law, a spec and validated runs, turned into a hierarchical model.

Inputs are normalised by their geometric means (the references are kept with the fit);
each positive law parameter is sampled on the log scale with the pooling its spec chooses,
a hierarchical one with a partial centring per distribution (a pilot run sets it, see
:mod:`bayes_scaling.inference.policy`; with one distribution the population mean is
integrated out). A spec with ``coordinates = "reference_loss"`` has the sampler see a law's
terms and exponents through the loss at the reference inputs, its split into terms and its
slopes there instead (the map has Jacobian 1, and the spec's priors are added on the
parameters). The likelihood is a
Student-t on log loss, each run weighted (1 in a fit, 0 for a run a refit holds out).

A model may be built for more distributions than its table has: the extra ones have no runs
(they sample their prior, and their draws are dropped), so that one compiled model serves
every table with up to that many distributions (see :mod:`engine`); the number of runs is
not part of a compiled model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pymc as pm
import pytensor.scalar as ps
import pytensor.tensor as pt
from pytensor.compile.ops import ViewOp
from pytensor.graph.replace import graph_replace
from pytensor.graph.traversal import ancestors
from pytensor.tensor.elemwise import Elemwise
from pytensor.tensor.subtensor import AdvancedSubtensor

from .data import DISTRIBUTION, Runs
from .laws.base import ReferenceTerms, log_sum_exp
from .spec import ModelSpec, ParameterSpec, Prior

RUN = "run"
OBSERVED = "log_loss"
RUN_WEIGHT = "run_weight"
# Reference-loss coordinates sample each distribution's log loss at the reference inputs as
# a shift from its runs' mean log loss, a datum: chains then start from the table's own
# losses whichever table the compiled model was first built for.
REFERENCE_SHIFT = "log_reference_loss_shift"
MEAN_LOG_LOSS = "mean_log_loss"
PADDING_LABEL = "(padding {})"  # the labels of distributions that pad a model's shape


@dataclass(frozen=True)
class Normalisation:
    """Log reference scale of each input: log of the geometric mean of its positive values."""

    log_refs: dict[str, float]

    @classmethod
    def from_runs(cls, runs: Runs, inputs: tuple[str, ...]) -> Normalisation:
        refs = {}
        for name in inputs:
            values = runs.column(name)
            refs[name] = float(np.mean(np.log(values[values > 0])))
        return cls(refs)

    def log_inputs(self, values: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        """log(x / x_ref) for each input, in the given order; log 0 is -inf on purpose."""
        with np.errstate(divide="ignore"):
            return [np.log(np.asarray(v, dtype=float)) - self.log_refs[k] for k, v in values.items()]


def run_data(spec: ModelSpec, runs: Runs, normalisation: Normalisation) -> dict[str, np.ndarray]:
    """Per-run arrays of the model, unpadded: each run's distribution, its normalised log
    inputs and its observed log loss."""
    law = spec.law
    log_inputs = normalisation.log_inputs({k: runs.column(k) for k in law.inputs})
    return {
        "distribution_index": runs.distribution_index,
        **{f"log_{k}": v for k, v in zip(law.inputs, log_inputs, strict=True)},
        f"{OBSERVED}_observed": np.log(runs.column("loss")),
    }


def model_data(
    spec: ModelSpec,
    runs: Runs,
    normalisation: Normalisation,
    distributions: int | None = None,
    *,
    centring: Mapping[str, np.ndarray] | None = None,
    run_weight: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """The value of every ``pm.Data`` of the model of ``runs`` built for ``distributions``
    (default: the table's own number).

    Distributions past the table's have no runs and are non-centred (centring 0), the exact
    form of a parameter no run says anything of. ``centring`` (by :func:`centring_name`, one
    value per distribution of the table) defaults to the spec's flag; ``run_weight`` (per
    run) to 1.
    """
    own = len(runs.distributions)
    distributions = own if distributions is None else distributions
    if distributions < own:
        raise ValueError(f"a model for {distributions} distributions cannot hold a table of {own}")
    padding = np.zeros(distributions - own)
    data = run_data(spec, runs, normalisation)
    data[RUN_WEIGHT] = np.ones(runs.n_runs) if run_weight is None else np.asarray(run_weight, dtype=float)
    given = dict(centring or {})
    for name in centred_parameters(spec, distributions):
        flag = float(spec.parameters[name].centred)
        data[centring_name(name)] = np.concatenate(
            [given.get(centring_name(name), np.full(own, flag)), padding]
        )
    if sampled_through_reference(spec):
        index, log_loss = runs.distribution_index, np.log(runs.column("loss"))
        mean = np.bincount(index, weights=log_loss, minlength=own) / np.bincount(index, minlength=own)
        data[MEAN_LOG_LOSS] = np.concatenate([mean, padding + log_loss.mean()])
    return data


def padded_labels(runs: Runs, distributions: int) -> list[str]:
    """The table's distributions, then one label per padding distribution."""
    pad = distributions - len(runs.distributions)
    return list(runs.distributions) + [PADDING_LABEL.format(i) for i in range(pad)]


def _prior(name: str, prior: Prior, **kwargs) -> pt.TensorVariable:
    return getattr(pm, prior.dist)(name, **prior.args, **kwargs)


def _prior_dist(prior: Prior):
    return getattr(pm, prior.dist).dist(**prior.args)


def ratio_name(name: str) -> str:
    """The sampled log ratio of a term to the law's first term, at the reference inputs."""
    return f"log_{name}_ratio"


def slope_name(name: str) -> str:
    """The sampled log slope, -dL/dlog x at the reference inputs, that stands for exponent ``name``."""
    return f"log_{name}_slope"


def sampled_through_reference(spec: ModelSpec) -> frozenset[str]:
    """Every parameter of :func:`through_reference`, terms and exponents alike."""
    return frozenset().union(*through_reference(spec))


def through_reference(spec: ModelSpec) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The term parameters and the exponents the sampler sees through the loss at the
    reference inputs (spec ``coordinates = "reference_loss"``), or two empty tuples."""
    terms = spec.law.reference_terms
    if spec.coordinates != "reference_loss" or terms is None:
        return (), ()
    slopes = tuple(name for name in terms.slopes if spec.parameters[name].pooling != "shared")
    return terms.parameters, slopes


def log_values_from_reference(
    terms: ReferenceTerms,
    log_reference_loss,
    log_ratios: Mapping,
    log_slopes: Mapping,
    other_log_values: Mapping,
) -> dict:
    """Log values of the term parameters and of the exponents given by slopes, from the log
    loss at the reference inputs, the log ratio of each later term to the first, and the log
    slopes; numpy or PyTensor.

    Each step adds to a log value only quantities sampled before it, so the map from these
    coordinates to the log parameters is triangular with a unit diagonal: its Jacobian is 1
    and the spec's prior, put on the log parameters, is the prior of the model.
    """
    first, *rest = terms.parameters
    ratios = {first: 0.0 * log_reference_loss}
    for name in rest:
        ratios[name] = log_ratios[name]
        exponent = terms.term_exponents.get(name)
        if exponent in other_log_values:  # shared: the sampled ratio is that of the term's slope
            ratios[name] = ratios[name] - other_log_values[exponent]
    total = log_sum_exp(*ratios.values())
    shifts = terms.shift(other_log_values)
    out = {name: log_reference_loss + ratio - total + shifts.get(name, 0.0) for name, ratio in ratios.items()}
    for name, log_slope in log_slopes.items():
        out[name] = log_slope - terms.slopes[name]({**other_log_values, **out})
    return out


def _prior_log_density(spec: ParameterSpec, log_value, n_distributions: int):
    """log p(log theta) under the spec's pooling, for a parameter not sampled as itself."""
    name = spec.name
    if spec.pooling == "independent":
        return pm.logp(_prior_dist(spec.prior), log_value)
    tau = _prior(f"{name}_tau", spec.tau)
    if mu_integrated_out(spec, n_distributions):
        return pm.logp(pm.Normal.dist(*integrated_prior(spec, tau)), log_value)
    mu = _prior(f"{name}_mu", spec.mu)
    return pm.logp(pm.Normal.dist(mu, tau), log_value)


def _reference_parameters(spec: ModelSpec, mean_log_loss: pt.TensorVariable, others: Mapping) -> dict:
    """The term parameters and exponents of :func:`through_reference`, sampled as the log loss
    at the reference inputs (a shift from each distribution's mean log loss), log ratios and
    log slopes, with the spec's prior on each parameter added as a potential (the Jacobian
    is 1)."""
    terms, slopes = through_reference(spec)
    n_distributions = len(pm.modelcontext(None).coords[DISTRIBUTION])
    # flat coordinates: the density comes from the spec's priors on the parameters below
    zeros = np.zeros(n_distributions)
    log_reference = mean_log_loss + pm.Flat(REFERENCE_SHIFT, dims=DISTRIBUTION, initval=zeros)
    ratios = {name: pm.Flat(ratio_name(name), dims=DISTRIBUTION, initval=zeros) for name in terms[1:]}
    log_slopes = {name: pm.Flat(slope_name(name), dims=DISTRIBUTION, initval=zeros - 1.0) for name in slopes}
    other_logs = {name: pt.log(value) for name, value in others.items()}
    law_terms = spec.law.reference_terms
    log_thetas = log_values_from_reference(law_terms, log_reference, ratios, log_slopes, other_logs)
    values = {}
    for name, log_theta in log_thetas.items():
        density = _prior_log_density(spec.parameters[name], log_theta, n_distributions)
        pm.Potential(f"{name}_prior", density.sum())
        values[name] = pm.Deterministic(name, pt.exp(log_theta), dims=DISTRIBUTION)
    return values


def centring_name(name: str) -> str:
    """The ``pm.Data`` holding a hierarchical parameter's centring, one value per distribution."""
    return f"{name}_centring"


def _parameter(spec: ParameterSpec, data: Mapping[str, np.ndarray]) -> pt.TensorVariable:
    """The parameter, positive, as a scalar (shared) or a vector over distributions."""
    name = spec.name
    if spec.pooling == "shared":
        log_value = _prior(f"log_{name}", spec.prior)
        return pm.Deterministic(name, pt.exp(log_value))
    if spec.pooling == "independent":
        log_value = _prior(f"log_{name}", spec.prior, dims=DISTRIBUTION)
        return pm.Deterministic(name, pt.exp(log_value), dims=DISTRIBUTION)
    n_distributions = len(pm.modelcontext(None).coords[DISTRIBUTION])
    if mu_integrated_out(spec, n_distributions):
        # One distribution: with mu ~ Normal(m, s) integrated out, log theta ~ Normal(m,
        # sqrt(s^2 + tau^2)), the same prior; sampling mu and tau beside a theta the data
        # pin down would be a funnel with nothing to learn. fit() draws mu afterwards from
        # its exact conditional (see draw_integrated_mu).
        tau = _prior(f"{name}_tau", spec.tau)
        log_value = pm.Normal(f"log_{name}", *integrated_prior(spec, tau), dims=DISTRIBUTION)
        return pm.Deterministic(name, pt.exp(log_value), dims=DISTRIBUTION)
    mu = _prior(f"{name}_mu", spec.mu)
    tau = _prior(f"{name}_tau", spec.tau)
    # Partial centring, per distribution: z_d ~ Normal(c_d mu, tau^c_d) and
    # log theta_d = mu + tau^(1 - c_d) (z_d - c_d mu), the same prior for any c_d in [0, 1].
    # c_d = 1 is the centred form, which suits a parameter the distribution's runs pin down
    # (the non-centred one would tie mu, tau and z along a curved ridge); c_d = 0 is the
    # non-centred form, which keeps the funnel out of the sampler's way where they say
    # little. The spec's choice is the start; a short pilot run sets c_d (see inference/policy.py).
    centring = pm.Data(centring_name(name), data[centring_name(name)], dims=DISTRIBUTION)
    z = pm.Normal(f"{name}_z", centring * mu, tau**centring, dims=DISTRIBUTION)
    return pm.Deterministic(name, pt.exp(log_value_from_coordinate(z, mu, tau, centring)), dims=DISTRIBUTION)


def log_value_from_coordinate(z, mu, tau, centring):
    """log theta = mu + tau^(1 - c) (z - c mu), from the partially centred coordinate z:
    numpy or PyTensor (fit() completes the posterior with it, see ``log_values``)."""
    return mu + tau ** (1.0 - centring) * (z - centring * mu)


def log_values(spec: ModelSpec, draws: Mapping[str, np.ndarray], data: Mapping[str, np.ndarray]) -> dict:
    """log theta of every per-distribution parameter from the sampled variables alone
    (draws with a leading sample axis) and the model's data (:func:`model_data`: each
    parameter's centring and, in reference-loss coordinates, the mean log losses)."""
    out = {}
    through = sampled_through_reference(spec)
    for name in spec.law.parameters:
        p = spec.parameters[name]
        if p.pooling == "shared" or name in through:
            continue
        if f"log_{name}" in draws:  # independent, or hierarchical with mu integrated out
            out[name] = draws[f"log_{name}"]
        else:
            mu, tau = draws[f"{name}_mu"][:, None], draws[f"{name}_tau"][:, None]
            out[name] = log_value_from_coordinate(draws[f"{name}_z"], mu, tau, data[centring_name(name)])
    if through:
        terms, slopes = through_reference(spec)
        ratios = {name: draws[ratio_name(name)] for name in terms[1:]}
        log_slopes = {name: draws[slope_name(name)] for name in slopes}
        shared = {n: np.log(draws[n])[:, None] for n, p in spec.parameters.items() if p.pooling == "shared"}
        log_reference = data[MEAN_LOG_LOSS] + draws[REFERENCE_SHIFT]
        out.update(
            log_values_from_reference(
                spec.law.reference_terms, log_reference, ratios, log_slopes, {**shared, **out}
            )
        )
    return out


def mu_integrated_out(spec: ParameterSpec, n_distributions: int) -> bool:
    """Whether a hierarchical parameter's mu is integrated out of the model (one distribution)."""
    return spec.pooling == "hierarchical" and n_distributions == 1 and spec.mu.dist == "Normal"


def hierarchical_with_mu(spec: ModelSpec, n_distributions: int) -> list[str]:
    """Hierarchical parameters whose population mean mu is sampled (not integrated out)."""
    return [
        p.name
        for p in spec.parameters.values()
        if p.pooling == "hierarchical" and not mu_integrated_out(p, n_distributions)
    ]


def centred_parameters(spec: ModelSpec, n_distributions: int) -> list[str]:
    """Hierarchical parameters written with a partial centring (a ``*_centring`` datum): those
    with a sampled mu, less those the reference-loss coordinates write centred."""
    through = sampled_through_reference(spec)
    return [n for n in hierarchical_with_mu(spec, n_distributions) if n not in through]


def integrated_prior(spec: ParameterSpec, tau):
    """Mean and sd of log theta's prior with mu ~ Normal(m, s) integrated out: (m, sqrt(s^2 + tau^2))."""
    centre, spread = spec.mu.args["mu"], spec.mu.args["sigma"]
    return centre, pt.sqrt(spread**2 + tau**2)


def prior_log_value_draws(spec: ParameterSpec, n_draws: int, seed: int = 0) -> np.ndarray:
    """Draws of one distribution's log theta from the spec's prior (through its population,
    for a hierarchical parameter): what the prior says before any run is seen."""
    if spec.pooling != "hierarchical":
        return np.asarray(pm.draw(_prior_dist(spec.prior), draws=n_draws, random_seed=seed))
    mu, tau = pm.draw([_prior_dist(spec.mu), _prior_dist(spec.tau)], draws=n_draws, random_seed=seed)
    return mu + np.abs(tau) * np.random.default_rng(seed).standard_normal(n_draws)


def draw_integrated_mu(
    spec: ParameterSpec, log_value: np.ndarray, tau: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Draws of mu given log theta and tau, where mu was integrated out of the model.

    mu ~ Normal(m, s) and log theta | mu ~ Normal(mu, tau) give mu | log theta, tau ~
    Normal((tau^2 m + s^2 log theta) / (s^2 + tau^2), s tau / sqrt(s^2 + tau^2)).
    """
    centre, spread = spec.mu.args["mu"], spec.mu.args["sigma"]
    total = spread**2 + tau**2
    mean = (tau**2 * centre + spread**2 * log_value) / total
    return mean + spread * tau / np.sqrt(total) * rng.standard_normal(np.shape(mean))


def _gathered_logs(log_loss):
    """``log_loss`` with every log(exp(v)[index]) written v[index].

    A law takes positive parameters and logs those it needs (transfer_gap: A and G); the
    model gathers each distribution's exp(log theta) per run. The log of that gather is the
    gather of log theta, exactly, but PyTensor does not see through the gather: left alone,
    each run pays a log (and its gradient a division) per such parameter."""
    replacements = {}
    for variable in ancestors([log_loss]):
        node = variable.owner
        if node is None or not _is_elemwise(node.op, ps.Log):
            continue
        gather = node.inputs[0].owner
        if gather is None or not isinstance(gather.op, AdvancedSubtensor):
            continue
        source = gather.inputs[0].owner
        if source is not None and isinstance(source.op, ViewOp):  # a pm.Deterministic
            source = source.inputs[0].owner
        if source is not None and _is_elemwise(source.op, ps.Exp):
            replacements[variable] = gather.op(source.inputs[0], *gather.inputs[1:])
    return graph_replace(log_loss, replacements, strict=False) if replacements else log_loss


def _is_elemwise(op, scalar_op: type) -> bool:
    return isinstance(op, Elemwise) and isinstance(op.scalar_op, scalar_op)


def build_model(
    spec: ModelSpec,
    runs: Runs,
    normalisation: Normalisation | None = None,
    *,
    weighted: bool = False,
    distributions: int | None = None,
    gathered_logs: bool = True,
) -> pm.Model:
    """The PyMC model of ``runs`` under ``spec``.

    Data enter as ``pm.Data`` (see :func:`model_data`), so a compiled model can be reused for
    new data, of any number of runs. ``weighted`` adds a ``run_weight`` per run (1 counts
    the run, 0 leaves it out); ``distributions`` pads the table's with distributions
    without runs. ``gathered_logs=False`` leaves out an exact rewrite of the law's graph
    (the log of each gathered parameter taken as the gather of its log; see
    :func:`_gathered_logs`), for checking it.
    """
    law = spec.law
    normalisation = normalisation or Normalisation.from_runs(runs, law.inputs)
    distributions = distributions or len(runs.distributions)
    data = model_data(spec, runs, normalisation, distributions)
    coords = {DISTRIBUTION: padded_labels(runs, distributions), RUN: np.arange(runs.n_runs)}
    with pm.Model(coords=coords) as model:
        index = pm.Data("distribution_index", data["distribution_index"], dims=RUN)
        inputs = [pm.Data(f"log_{k}", data[f"log_{k}"], dims=RUN) for k in law.inputs]
        through = sampled_through_reference(spec)
        values = {
            name: _parameter(spec.parameters[name], data) for name in law.parameters if name not in through
        }
        if through:
            mean_log_loss = pm.Data(MEAN_LOG_LOSS, data[MEAN_LOG_LOSS], dims=DISTRIBUTION)
            values.update(_reference_parameters(spec, mean_log_loss, values))
        params = {}
        for name in law.parameters:
            value = values[name]
            params[name] = value if spec.parameters[name].pooling == "shared" else value[index]
        lik = spec.likelihood
        if lik.sigma_pooling == "shared":
            sigma = _prior("sigma", lik.sigma)
        else:
            sigma = _prior("sigma", lik.sigma, dims=DISTRIBUTION)[index]
        mean = law.log_loss(*inputs, **params)
        mean = _gathered_logs(mean) if gathered_logs else mean
        observed = pm.Data(f"{OBSERVED}_observed", data[f"{OBSERVED}_observed"], dims=RUN)
        if not weighted:
            pm.StudentT(OBSERVED, nu=lik.nu, mu=mean, sigma=sigma, observed=observed, dims=RUN)
        else:
            # Each run's log likelihood counts with its weight, 0 for a run held out by a
            # leave-future-out refit, so the fit and the refits of every subset share one
            # compiled model: a second one cost ~3-4 s per process.
            weight = pm.Data(RUN_WEIGHT, data[RUN_WEIGHT], dims=RUN)
            density = pm.logp(pm.StudentT.dist(nu=lik.nu, mu=mean, sigma=sigma), observed)
            pm.Potential(OBSERVED, (weight * density).sum())
    return model
