"""Scaling laws, one module each, and the registry that names them.

Adding a law: write a module with its formula and a :class:`Law`, add it to ``LAWS`` below,
and put its default spec in ``models/``. Nothing else in the package changes.
"""

from __future__ import annotations

from ..data import BayesScalingError
from .base import Law, array_namespace, log_sum_exp
from .ceiling import with_ceiling
from .chinchilla import CHINCHILLA
from .effective_data import EFFECTIVE_DATA
from .rectified import RECTIFIED
from .size_dependent_data import SIZE_DEPENDENT_DATA
from .transfer_gap import TRANSFER_GAP

# Error rates that start at chance: the transfer-gap law under a ceiling of 1 (laws/ceiling.py).
TRANSFER_GAP_CEILING = with_ceiling(TRANSFER_GAP, "transfer_gap_ceiling")

LAWS: dict[str, Law] = {
    law.name: law
    for law in (
        TRANSFER_GAP,
        TRANSFER_GAP_CEILING,
        EFFECTIVE_DATA,
        CHINCHILLA,
        SIZE_DEPENDENT_DATA,
        RECTIFIED,
    )
}


def get_law(name: str) -> Law:
    """The registered law called ``name``."""
    try:
        return LAWS[name]
    except KeyError:
        raise BayesScalingError(f"unknown law {name!r}; known laws are: {', '.join(sorted(LAWS))}") from None


__all__ = ["LAWS", "Law", "array_namespace", "get_law", "log_sum_exp"]
