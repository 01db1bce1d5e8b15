"""The rectified fine-tuning law (Lin et al. 2024).

    L(f) = E + B / (D_l + f^beta)

f fine-tuning tokens. D_l is the "pre-learned data": how much of the distribution the
pre-trained model already knows, in units of f^beta; it bends the curve flat at small f.
"""

from __future__ import annotations

from collections.abc import Mapping

from .base import Array, Law, ReferenceTerms, array_namespace, log_sum_exp


def log_loss(log_finetune: Array, *, E, B, D_l, beta) -> Array:
    xp = array_namespace(log_finetune, E, B, D_l, beta)
    return log_sum_exp(xp.log(E), xp.log(B) - log_sum_exp(xp.log(D_l), beta * log_finetune))


def to_raw_units(params: Mapping[str, Array], log_refs: Mapping[str, float]) -> dict[str, Array]:
    # B / (D_l + (f / f_ref)^beta) = B f_ref^beta / (D_l f_ref^beta + f^beta)
    xp = array_namespace(*params.values())
    scale = xp.exp(params["beta"] * log_refs["finetune_tokens"])
    return {**params, "B": params["B"] * scale, "D_l": params["D_l"] * scale}


def reducible_shift(log_params: Mapping[str, Array]) -> dict[str, Array]:
    """At f = 1 the reducible term is B / (D_l + 1): log B less log(1 + D_l)."""
    xp = array_namespace(*log_params.values())
    return {"B": xp.logaddexp(0.0, log_params["D_l"])}


def slope_per_beta(log_params: Mapping[str, Array]) -> Array:
    """-dL/dlog f at f = 1 is beta B / (1 + D_l)^2: its log less log beta."""
    xp = array_namespace(*log_params.values())
    return log_params["B"] - 2.0 * xp.logaddexp(0.0, log_params["D_l"])


RECTIFIED = Law(
    name="rectified",
    inputs=("finetune_tokens",),
    parameters=("E", "B", "D_l", "beta"),
    log_loss=log_loss,
    to_raw_units=to_raw_units,
    description="L(f) = E + B / (D_l + f^beta)",
    floor="E",
    references="Lin et al. (2024), Selecting large language model to fine-tune via rectified scaling law",
    reference_terms=ReferenceTerms(("E", "B"), shift=reducible_shift, slopes={"beta": slope_per_beta}),
)
