"""The PyMC model: a law, a spec and validated runs, turned into a hierarchical model.

Inputs are normalised by their geometric means (the references are kept with the fit);
each positive law parameter is sampled on the log scale with the pooling its spec chooses;
the likelihood is a Student-t on log loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from .data import Runs
from .spec import ModelSpec, ParameterSpec, Prior

RUN = "run"
DISTRIBUTION = "distribution"
OBSERVED = "log_loss"
RUN_WEIGHT = "run_weight"


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

    def log_inputs(self, values: dict[str, np.ndarray]) -> list[np.ndarray]:
        """log(x / x_ref) for each input, in the given order; log 0 is -inf on purpose."""
        with np.errstate(divide="ignore"):
            return [np.log(np.asarray(v, dtype=float)) - self.log_refs[k] for k, v in values.items()]


def _prior(name: str, prior: Prior, **kwargs) -> pt.TensorVariable:
    return getattr(pm, prior.dist)(name, **prior.args, **kwargs)


def _parameter(spec: ParameterSpec) -> pt.TensorVariable:
    """The parameter, positive, as a scalar (shared) or a vector over distributions."""
    name = spec.name
    if spec.pooling == "shared":
        log_value = _prior(f"log_{name}", spec.prior)
        return pm.Deterministic(name, pt.exp(log_value))
    if spec.pooling == "independent":
        log_value = _prior(f"log_{name}", spec.prior, dims=DISTRIBUTION)
        return pm.Deterministic(name, pt.exp(log_value), dims=DISTRIBUTION)
    mu = _prior(f"{name}_mu", spec.mu)
    tau = _prior(f"{name}_tau", spec.tau)
    if spec.centred:
        # centred suits parameters each distribution's data pin down well: the non-centred
        # form would then tie mu, tau and z along a curved ridge
        log_value = pm.Normal(f"log_{name}", mu, tau, dims=DISTRIBUTION)
        return pm.Deterministic(name, pt.exp(log_value), dims=DISTRIBUTION)
    # non-centred: log theta_d = mu + tau * z_d keeps the funnel out of the sampler's way
    # when the data say little about a distribution
    z = pm.Normal(f"{name}_z", 0.0, 1.0, dims=DISTRIBUTION)
    return pm.Deterministic(name, pt.exp(mu + tau * z), dims=DISTRIBUTION)


def build_model(
    spec: ModelSpec, runs: Runs, normalisation: Normalisation | None = None, *, weighted: bool = False
) -> pm.Model:
    """The PyMC model of ``runs`` under ``spec``.

    Data enter as ``pm.Data`` so a compiled model can be reused for new data of the same shape.
    ``weighted`` adds a ``run_weight`` per run (1 counts the run, 0 leaves it out).
    """
    law = spec.law
    normalisation = normalisation or Normalisation.from_runs(runs, law.inputs)
    coords = {DISTRIBUTION: list(runs.distributions), RUN: np.arange(runs.n_runs)}
    log_inputs = normalisation.log_inputs({k: runs.column(k) for k in law.inputs})
    with pm.Model(coords=coords) as model:
        index = pm.Data("distribution_index", runs.distribution_index, dims=RUN)
        inputs = [pm.Data(f"log_{k}", v, dims=RUN) for k, v in zip(law.inputs, log_inputs, strict=True)]
        params = {}
        for name in law.parameters:
            value = _parameter(spec.parameters[name])
            params[name] = value if spec.parameters[name].pooling == "shared" else value[index]
        lik = spec.likelihood
        if lik.sigma_pooling == "shared":
            sigma = _prior("sigma", lik.sigma)
        else:
            sigma = _prior("sigma", lik.sigma, dims=DISTRIBUTION)[index]
        mean = law.log_loss(*inputs, **params)
        observed = pm.Data(f"{OBSERVED}_observed", np.log(runs.column("loss")), dims=RUN)
        if not weighted:
            pm.StudentT(OBSERVED, nu=lik.nu, mu=mean, sigma=sigma, observed=observed, dims=RUN)
        else:
            # Each run's log likelihood counts with its weight, 0 for a run held out by a
            # leave-future-out refit, so the refits of every subset share one compiled model.
            # Kept apart from the fit's own model: identical in value, but not in floating
            # point, and the fit's draws should not depend on whether refits follow.
            weight = pm.Data(RUN_WEIGHT, np.ones(runs.n_runs), dims=RUN)
            density = pm.logp(pm.StudentT.dist(nu=lik.nu, mu=mean, sigma=sigma), observed)
            pm.Potential(OBSERVED, (weight * density).sum())
    return model
