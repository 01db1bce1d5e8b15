"""A ceiling for laws of error rates: no error rate exceeds 1.

    L_ceiling = (L^-k + 1)^(-1/k)

L is the wrapped law's loss and k > 0 its sharpness. Where L is well below 1 the ceiling
changes little (k = 2.8, as alabdulmohsin2022's few-shot errors have it: L = 0.3 becomes
1.3% lower, L = 0.1 0.06%); where L grows past 1 (little pre-training: a few-shot
classifier near chance) the curve bends flat at 1 instead of rising without bound; k says
how abruptly it leaves the ceiling. A power law falling to a floor cannot start flat, so
without a ceiling the first runs of a curve that starts at chance pull its exponent down,
and the fit misses where the curve is heading (alabdulmohsin2022's few-shot error rates
start at 0.97-0.99). For many classes chance is close to 1 (0.99 for 100). For few (a
binary task's chance is 0.5) the ceiling at 1 only keeps error rates at most 1: it does
not bend curves flat at chance.

In logs, as the package's laws are written: log L_ceiling = log L - softplus(k log L) / k.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from .base import Array, Law, array_namespace

SHARPNESS = "sharpness"


def under_ceiling(log_loss: Array, sharpness: Array) -> Array:
    """log (L^-k + 1)^(-1/k) from log L, for numpy or PyTensor values."""
    xp = array_namespace(log_loss, sharpness)
    return log_loss - xp.logaddexp(0.0, sharpness * log_loss) / sharpness


def with_ceiling(law: Law, name: str, loss_valued: tuple[str, ...] = ("loss_floor",)) -> Law:
    """``law`` under a ceiling of 1, with one more parameter, its sharpness.

    ``loss_valued`` names the derived quantities that are losses (the ceiling applies to
    them); the others (ratios of slopes, such as an exchange rate) are unchanged by a
    monotone map of the loss and are the wrapped law's.
    """

    def log_loss(*log_inputs: Array, sharpness: Array, **params: Array) -> Array:
        return under_ceiling(law.log_loss(*log_inputs, **params), sharpness)

    def to_raw_units(params: Mapping[str, Array], log_refs: Mapping[str, float]) -> dict[str, Array]:
        wrapped = {key: value for key, value in params.items() if key != SHARPNESS}
        return {**law.to_raw_units(wrapped, log_refs), SHARPNESS: params[SHARPNESS]}

    def derived(function: Callable[..., Array], is_loss: bool) -> Callable[..., Array]:
        def quantity(*log_inputs: Array, sharpness: Array, **params: Array) -> Array:
            value = function(*log_inputs, **params)
            if not is_loss:
                return value
            xp = array_namespace(value, sharpness)
            return xp.exp(under_ceiling(xp.log(value), sharpness))

        return quantity

    return Law(
        name=name,
        inputs=law.inputs,
        parameters=(*law.parameters, SHARPNESS),
        log_loss=log_loss,
        to_raw_units=to_raw_units,
        description=f"L = (L0^-k + 1)^(-1/k), L0 = {law.description.split(' = ', 1)[-1]}, k = sharpness",
        references=f"{law.references}; a ceiling at chance, as in Alabdulmohsin et al. (2022)",
        zero_allowed=law.zero_allowed,
        derived={key: derived(function, key in loss_valued) for key, function in law.derived.items()},
        curve_input=law.curve_input,
        # The loss at the reference inputs is no longer the sum of the law's terms.
        reference_terms=None,
        floor=law.floor,
    )
