"""The transfer-gap law (Barnett 2024): where pre-training stops helping.

    L(p, f) = E + (A * p^-alpha + G) * f^-beta

p pre-training tokens, f fine-tuning tokens on the distribution. E is the irreducible loss;
A and alpha the pre-training term; beta the fine-tuning exponent; G the transfer gap, the
part of the fine-tuning term that no amount of pre-training removes: as p -> infinity the
loss tends to E + G * f^-beta.
"""

from __future__ import annotations

from collections.abc import Mapping

from .base import Array, Law, ReferenceTerms, array_namespace, log_sum_exp


def log_loss(log_pretrain: Array, log_finetune: Array, *, E, A, alpha, beta, G) -> Array:
    xp = array_namespace(log_pretrain, log_finetune, E, A, alpha, beta, G)
    finetune_part = beta * log_finetune  # once: numpy does not share subexpressions as PyTensor does
    pretrain_term = xp.log(A) - alpha * log_pretrain - finetune_part
    gap_term = xp.log(G) - finetune_part
    # Each term is the log of a loss contribution in nats, so exponentiating it cannot
    # overflow for any loss a model can reach; one log of a sum costs half the exp/log1p
    # work of a log-sum-exp, and this formula is most of the cost of a gradient
    # (2.9x cheaper at 64 distributions, measured with the gradient-cost study in git history).
    return xp.log(E + xp.exp(pretrain_term) + xp.exp(gap_term))


def to_raw_units(params: Mapping[str, Array], log_refs: Mapping[str, float]) -> dict[str, Array]:
    # (p / p_ref)^-alpha (f / f_ref)^-beta = p_ref^alpha f_ref^beta p^-alpha f^-beta
    xp = array_namespace(*params.values())
    log_p_ref, log_f_ref = log_refs["pretrain_tokens"], log_refs["finetune_tokens"]
    raw = dict(params)
    raw["A"] = params["A"] * xp.exp(params["alpha"] * log_p_ref + params["beta"] * log_f_ref)
    raw["G"] = params["G"] * xp.exp(params["beta"] * log_f_ref)
    return raw


def loss_floor(log_pretrain: Array, log_finetune: Array, *, E, A, alpha, beta, G) -> Array:
    """E + G f^-beta: the loss reachable with unlimited pre-training at this f."""
    xp = array_namespace(log_finetune, E, G, beta)
    return xp.exp(log_sum_exp(xp.log(E), xp.log(G) - beta * log_finetune))


def exchange_rate(log_pretrain: Array, log_finetune: Array, *, E, A, alpha, beta, G) -> Array:
    """Pre-training tokens one fine-tuning token is worth at (p, f): (dL/df) / (dL/dp).

    Give raw log token counts and raw-unit parameters for an answer in tokens per token.
    """
    xp = array_namespace(log_pretrain, log_finetune, E, A, alpha, beta, G)
    # dL/dp = -alpha A p^-alpha-1 f^-beta; dL/df = -beta (A p^-alpha + G) f^-beta-1
    pretrain_part = A * xp.exp(-alpha * log_pretrain)
    ratio = beta * (pretrain_part + G) / (alpha * pretrain_part)
    return ratio * xp.exp(log_pretrain - log_finetune)


def pretrain_slope_per_alpha(log_params: Mapping[str, Array]) -> Array:
    """-dL/dlog p at p = f = 1 is alpha A: its log less log alpha."""
    return log_params["A"]


def finetune_slope_per_beta(log_params: Mapping[str, Array]) -> Array:
    """-dL/dlog f at p = f = 1 is beta (A + G): its log less log beta."""
    xp = array_namespace(*log_params.values())
    return xp.logaddexp(log_params["A"], log_params["G"])


TRANSFER_GAP = Law(
    name="transfer_gap",
    inputs=("pretrain_tokens", "finetune_tokens"),
    parameters=("E", "A", "alpha", "beta", "G"),
    log_loss=log_loss,
    to_raw_units=to_raw_units,
    description="L(p, f) = E + (A p^-alpha + G) f^-beta",
    references="Barnett (2024), an empirical study of scaling laws for transfer",
    derived={"loss_floor": loss_floor, "exchange_rate": exchange_rate},
    floor="E",
    reference_terms=ReferenceTerms(
        ("E", "A", "G"),
        slopes={"alpha": pretrain_slope_per_alpha, "beta": finetune_slope_per_beta},
        term_exponents={"A": "alpha"},
    ),
)
