"""What a scaling law is, in this package: a formula plus the names around it.

A law is written once, as a function of arrays that works unchanged with numpy (prediction
and decisions over posterior draws) and with PyTensor (inside the PyMC model). It knows
numbers and array operations only: no PyMC, no pandas, no files.

Conventions every law follows:
- inputs arrive as logs of *normalised* inputs, log(x / x_ref), so that parameters and
  priors do not depend on the units tokens are counted in;
- every parameter is positive, and the formula returns log loss, built from the log of each
  term (a loss contribution in nats) so that nothing large is ever exponentiated: either
  log-sum-exp of the terms, or, where the gradient's cost matters (transfer_gap), the log of
  the sum of their exps, which cannot overflow because each is a loss contribution.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

Array = Any  # a numpy array or a PyTensor variable


def array_namespace(*values: Array) -> ModuleType:
    """``pytensor.tensor`` when any value is a PyTensor variable, else ``numpy``.

    Checked by module name so that numpy-only callers never import PyTensor.
    """
    for value in values:
        if type(value).__module__.startswith("pytensor"):
            import pytensor.tensor as pt

            return pt
    return np


def log_sum_exp(*terms: Array) -> Array:
    """log(exp(t1) + exp(t2) + ...) without overflow, for numpy or PyTensor terms."""
    xp = array_namespace(*terms)
    total = terms[0]
    for term in terms[1:]:
        total = xp.logaddexp(total, term)
    return total


def no_shift(log_params: Mapping[str, Array]) -> dict[str, Array]:
    return {}


@dataclass(frozen=True)
class ReferenceTerms:
    """The law at its reference inputs (every normalised input 1) as a sum of positive terms.

    Term k there is ``exp(log theta_k - shift_k)`` for the parameter theta_k named in
    ``parameters``; ``shift`` gives each shift from the *other* parameters' log values
    (none: the parameter is the term itself). Because a shift never depends on the terms'
    own parameters, sampling the log loss at the reference inputs and the log ratios of the
    terms instead of the log parameters changes no density: the Jacobian is 1. The data pin
    the loss at the reference down far better than how it splits into terms.

    ``term_exponents`` names, for a later term, the exponent of the input it decays in.
    Where that exponent is shared by all distributions (so not sampled through a slope), the
    term's log ratio is sampled plus the exponent's log: the ratio of the term's slope
    (exponent x term) to the first term. The data pin that slope, where the term itself
    trades off with the shared exponent in every distribution at once (a direction a
    diagonal mass matrix cannot follow). The exponent is sampled first: the Jacobian stays 1.
    """

    parameters: tuple[str, ...]
    shift: Callable[[Mapping[str, Array]], Mapping[str, Array]] = no_shift
    slopes: Mapping[str, Callable[[Mapping[str, Array]], Array]] = field(default_factory=dict)
    term_exponents: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Law:
    """One scaling law.

    Attributes
    ----------
    name
        Registry key, also the default model spec's file name in ``models/``.
    inputs
        Run-table columns the formula takes, in the order ``log_loss`` takes them.
    parameters
        Parameter names, all positive, in the order shown to users.
    log_loss
        ``log_loss(*log_normalised_inputs, **parameters) -> log loss``.
    to_raw_units
        Maps parameters in normalised units to the units of the law as written in the
        literature, given ``log_refs`` (the log reference scale of each input).
    zero_allowed
        Inputs where 0 is a valid value (e.g. from-scratch runs); their log is -inf and the
        formula must handle it.
    derived
        Extra quantities reported with the posterior, ``name -> function(inputs, params)``.
    curve_input
        The input on the x axis of curve plots (the others are held at observed levels).
    reference_terms
        How the loss at the reference inputs splits into the parameters' terms, for
        sampling in coordinates the data pin down (see :class:`ReferenceTerms`).
    floor
        The parameter every loss lies above (the irreducible loss), if the law has one:
        a fit warns when its prior sits above the runs' losses.
    """

    name: str
    inputs: tuple[str, ...]
    parameters: tuple[str, ...]
    log_loss: Callable[..., Array]
    to_raw_units: Callable[[Mapping[str, Array], Mapping[str, float]], dict[str, Array]]
    description: str = ""
    references: str = ""
    zero_allowed: tuple[str, ...] = ()
    derived: Mapping[str, Callable[..., Array]] = field(default_factory=dict)
    curve_input: str = ""
    reference_terms: ReferenceTerms | None = None
    floor: str = ""

    @property
    def x_input(self) -> str:
        return self.curve_input or self.inputs[0]

    def loss(self, *log_inputs: Array, **params: Array) -> Array:
        """Loss, in the runs' loss unit (exp of ``log_loss``); numpy or PyTensor."""
        xp = array_namespace(*log_inputs, *params.values())
        return xp.exp(self.log_loss(*log_inputs, **params))
