"""The Chinchilla law (Hoffmann et al. 2022), for pre-training runs.

    L(N, D) = E + A N^-alpha + B D^-beta

N model parameters, D pre-training tokens. E irreducible loss; A, alpha the model-size
term; B, beta the data term.
"""

from __future__ import annotations

from collections.abc import Mapping

from .base import Array, Law, ReferenceTerms, array_namespace, log_sum_exp


def log_loss(log_params: Array, log_pretrain: Array, *, E, A, alpha, B, beta) -> Array:
    xp = array_namespace(log_params, log_pretrain, E, A, alpha, B, beta)
    return log_sum_exp(xp.log(E), xp.log(A) - alpha * log_params, xp.log(B) - beta * log_pretrain)


def to_raw_units(params: Mapping[str, Array], log_refs: Mapping[str, float]) -> dict[str, Array]:
    xp = array_namespace(*params.values())
    raw = dict(params)
    raw["A"] = params["A"] * xp.exp(params["alpha"] * log_refs["params"])
    raw["B"] = params["B"] * xp.exp(params["beta"] * log_refs["pretrain_tokens"])
    return raw


def size_slope_per_alpha(log_params: Mapping[str, Array]) -> Array:
    """-dL/dlog N at N = D = 1 is alpha A: its log less log alpha."""
    return log_params["A"]


def data_slope_per_beta(log_params: Mapping[str, Array]) -> Array:
    """-dL/dlog D at N = D = 1 is beta B: its log less log beta."""
    return log_params["B"]


CHINCHILLA = Law(
    name="chinchilla",
    inputs=("params", "pretrain_tokens"),
    parameters=("E", "A", "alpha", "B", "beta"),
    log_loss=log_loss,
    to_raw_units=to_raw_units,
    description="L(N, D) = E + A N^-alpha + B D^-beta",
    floor="E",
    references="Hoffmann et al. (2022), Training compute-optimal large language models",
    reference_terms=ReferenceTerms(
        ("E", "A", "B"), slopes={"alpha": size_slope_per_alpha, "beta": data_slope_per_beta}
    ),
)
