"""Fine-tuning as effective data transferred (Hernandez et al. 2021).

From scratch on the distribution:  L_s(N, D) = ((N_c / N)^(a_N / a_D) + D_c / D)^a_D
Fine-tuned after pre-training:     L(N, f) = L_s(N, f + D_T),  D_T = k f^a N^b

N model parameters, f fine-tuning tokens; D_T is the data the pre-training is worth on
this distribution. Rows with pretrain_tokens = 0 are from-scratch runs (D_T = 0);
pretrain_tokens is otherwise used only as that marker, as in the paper.
"""

from __future__ import annotations

from collections.abc import Mapping

from .base import Array, Law, array_namespace, log_sum_exp


def log_transferred(log_params: Array, log_finetune: Array, *, k, a, b) -> Array:
    """log D_T = log k + a log f + b log N."""
    xp = array_namespace(log_params, log_finetune, k, a, b)
    return xp.log(k) + a * log_finetune + b * log_params


def log_loss(
    log_params: Array, log_finetune: Array, log_pretrain: Array, *, N_c, D_c, a_N, a_D, k, a, b
) -> Array:
    xp = array_namespace(log_params, log_finetune, log_pretrain, N_c, D_c, a_N, a_D, k, a, b)
    transferred = log_sum_exp(log_finetune, log_transferred(log_params, log_finetune, k=k, a=a, b=b))
    # log 0 = -inf marks a from-scratch run: no data transferred
    from_scratch = xp.isinf(log_pretrain)
    log_data = xp.where(from_scratch, log_finetune, transferred)
    size_term = (a_N / a_D) * (xp.log(N_c) - log_params)
    return a_D * log_sum_exp(size_term, xp.log(D_c) - log_data)


def to_raw_units(params: Mapping[str, Array], log_refs: Mapping[str, float]) -> dict[str, Array]:
    # N~ = N / N_ref, f~ = f / f_ref and D = f_ref D~, so D_c and N_c scale with their
    # references and k~ f~^a N~^b f_ref = k~ f_ref^(1-a) N_ref^-b f^a N^b
    xp = array_namespace(*params.values())
    log_n, log_f = log_refs["params"], log_refs["finetune_tokens"]
    return {
        **params,
        "N_c": params["N_c"] * xp.exp(log_n),
        "D_c": params["D_c"] * xp.exp(log_f),
        "k": params["k"] * xp.exp((1 - params["a"]) * log_f - params["b"] * log_n),
    }


def transferred_data(log_params: Array, log_finetune: Array, log_pretrain: Array, **params) -> Array:
    """D_T = k f^a N^b, the data pre-training is worth (tokens)."""
    xp = array_namespace(log_params, log_finetune)
    return xp.exp(log_transferred(log_params, log_finetune, k=params["k"], a=params["a"], b=params["b"]))


def finetune_fraction(log_params: Array, log_finetune: Array, log_pretrain: Array, **params) -> Array:
    """f / (f + D_T): the share of effective data that is the fine-tuning data itself."""
    xp = array_namespace(log_params, log_finetune)
    log_t = log_transferred(log_params, log_finetune, k=params["k"], a=params["a"], b=params["b"])
    return xp.exp(log_finetune - log_sum_exp(log_finetune, log_t))


EFFECTIVE_DATA = Law(
    name="effective_data",
    inputs=("params", "finetune_tokens", "pretrain_tokens"),
    parameters=("N_c", "D_c", "a_N", "a_D", "k", "a", "b"),
    log_loss=log_loss,
    to_raw_units=to_raw_units,
    description="L = ((N_c/N)^(a_N/a_D) + D_c/(f + k f^a N^b))^a_D",
    references="Hernandez et al. (2021), Scaling laws for transfer",
    zero_allowed=("pretrain_tokens",),
    derived={"transferred_data": transferred_data, "finetune_fraction": finetune_fraction},
    curve_input="finetune_tokens",
)
