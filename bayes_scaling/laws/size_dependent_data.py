"""The Chinchilla law with a data exponent that shrinks with model size, after Farseer (Li et
al. 2025), for pre-training runs.

    L(N, D) = E + A N^-alpha + B (D_c / D)^(beta N^-kappa)

N model parameters, D pre-training tokens. E irreducible loss; A, alpha the model-size
term; the data term is B at D = D_c and falls with an exponent beta N^-kappa that shrinks as
models grow, so a larger model gains less per e-fold of data. kappa = 0 is the Chinchilla
law (with its B = this B D_c^beta).

Farseer writes the exponent and the data term's scale as exp(a N^gamma + c) each, with
signed a and c and nine parameters in all. Here the exponent is a power of N and the scale's
dependence on N comes through the same power (D_c), so that every parameter is positive, as
the package's priors need, and the law is closed under a change of the units N and D are
counted in (D_c scales with D's unit; Farseer's form is not closed). On farseer's 404 fitted
runs, least squares on log loss gives this law a root-mean-square error of 0.0019 (the
Chinchilla law's 0.0085, Farseer's nine parameters 0.0016) and an R^2 of 0.98 on the task's
7 larger runs (Chinchilla's -1.8, Farseer's 0.94; docs/records.md, "Size-dependent data
exponent").
"""

from __future__ import annotations

from collections.abc import Mapping

from .base import Array, Law, array_namespace, log_sum_exp


def log_loss(log_params: Array, log_pretrain: Array, *, E, A, alpha, B, D_c, beta, kappa) -> Array:
    xp = array_namespace(log_params, log_pretrain, E, A, alpha, B, D_c, beta, kappa)
    data_exponent = beta * xp.exp(-kappa * log_params)
    return log_sum_exp(
        xp.log(E), xp.log(A) - alpha * log_params, xp.log(B) + data_exponent * (xp.log(D_c) - log_pretrain)
    )


def to_raw_units(params: Mapping[str, Array], log_refs: Mapping[str, float]) -> dict[str, Array]:
    # N~ = N / N_ref, D~ = D / D_ref: A N~^-alpha = (A N_ref^alpha) N^-alpha,
    # beta N~^-kappa = (beta N_ref^kappa) N^-kappa and D_c / D~ = (D_c D_ref) / D
    xp = array_namespace(*params.values())
    raw = dict(params)
    raw["A"] = params["A"] * xp.exp(params["alpha"] * log_refs["params"])
    raw["beta"] = params["beta"] * xp.exp(params["kappa"] * log_refs["params"])
    raw["D_c"] = params["D_c"] * xp.exp(log_refs["pretrain_tokens"])
    return raw


SIZE_DEPENDENT_DATA = Law(
    name="size_dependent_data",
    inputs=("params", "pretrain_tokens"),
    parameters=("E", "A", "alpha", "B", "D_c", "beta", "kappa"),
    log_loss=log_loss,
    to_raw_units=to_raw_units,
    description="L(N, D) = E + A N^-alpha + B (D_c / D)^(beta N^-kappa)",
    floor="E",
    references="Li et al. (2025), Farseer: a refined scaling law in large language models",
)
