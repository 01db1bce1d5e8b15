"""The rectified fine-tuning law (Lin et al. 2024).

    L(f) = E + B / (D_l + f^beta)

f fine-tuning tokens. D_l is the "pre-learned data": how much of the distribution the
pre-trained model already knows, in units of f^beta; it bends the curve flat at small f.
"""

from __future__ import annotations

from collections.abc import Mapping

from .base import Array, Law, array_namespace, log_sum_exp


def log_loss(log_finetune: Array, *, E, B, D_l, beta) -> Array:
    xp = array_namespace(log_finetune, E, B, D_l, beta)
    return log_sum_exp(xp.log(E), xp.log(B) - log_sum_exp(xp.log(D_l), beta * log_finetune))


def to_raw_units(params: Mapping[str, Array], log_refs: Mapping[str, float]) -> dict[str, Array]:
    # B / (D_l + (f / f_ref)^beta) = B f_ref^beta / (D_l f_ref^beta + f^beta)
    xp = array_namespace(*params.values())
    scale = xp.exp(params["beta"] * log_refs["finetune_tokens"])
    return {**params, "B": params["B"] * scale, "D_l": params["D_l"] * scale}


RECTIFIED = Law(
    name="rectified",
    inputs=("finetune_tokens",),
    parameters=("E", "B", "D_l", "beta"),
    log_loss=log_loss,
    to_raw_units=to_raw_units,
    description="L(f) = E + B / (D_l + f^beta)",
    references="Lin et al. (2024), Selecting large language model to fine-tune via rectified scaling law",
)
