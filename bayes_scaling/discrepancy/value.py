"""The learned misfit as a value: what the bands add to the law's own uncertainty."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from ..spec import GrowthPrior
from .distance import PRODUCT, directions
from .evidence import MIN_LOG_LIKELIHOOD_GAIN
from .growth_prior import scales_from_prior

# In ``Discrepancy.scales``, a scale for every input: how fits saved before the scales were
# per input (one scale on the combined distance) are read back, unchanged in meaning.
EVERY_INPUT = "*"


@dataclass(frozen=True)
class Discrepancy:
    """The law's learned misfit and how it was measured.

    Past the data: a scale per direction tested (log loss per unit of log-distance beyond the
    fitted range along it; 0 for the rest) and the power of the distance it grows with.
    Inside the data: each distribution's misfit (sd on log loss; 0 for the rest)."""

    scales: Mapping[str, float] = field(default_factory=dict)
    log_likelihood_gains: Mapping[str, float] = field(default_factory=dict)  # each best scale's over none
    heldout_runs: int = 0
    cuts: tuple[str, ...] = ()
    note: str = ""
    threshold: float = MIN_LOG_LIKELIHOOD_GAIN  # the gain a scale had to pass to be kept
    powers: Mapping[str, float] = field(default_factory=dict)  # growth with distance; 1 unless learned
    misfit: Mapping[str, float] = field(default_factory=dict)  # per distribution, inside the data
    misfit_gains: Mapping[str, float] = field(default_factory=dict)
    misfit_threshold: float = 0.0
    # per direction, the factor by which the parameters' spread of the law is widened past the
    # data, where the held-out runs favoured that form over a scale (1 for the rest)
    spread_factors: Mapping[str, float] = field(default_factory=dict)
    # per distribution with a misfit kept: the input along which it shows, and each of that
    # input's levels' offset on log loss and the misfit sd left there (evidence.level_offsets)
    level_offsets: Mapping[str, Mapping] = field(default_factory=dict)
    # per direction: the errors of the runs its refits held out (residual, variance, distance,
    # nu), kept so that another growth prior can be applied without refitting
    evidence: Mapping[str, Mapping] = field(default_factory=dict)
    # the corpus prior of the scales past the data (GrowthPrior's fields; empty: none), and
    # each direction's posterior probability of a misfit under it
    growth_prior: Mapping[str, object] = field(default_factory=dict)
    misfit_probabilities: Mapping[str, float] = field(default_factory=dict)
    directions: tuple[str, ...] = ()  # every direction past the data (distance.directions)

    def scale(self, name: str) -> float:
        """The scale along one direction (0 where none was learned)."""
        fallback = 0.0 if name == PRODUCT else self.scales.get(EVERY_INPUT, 0.0)
        return float(self.scales.get(name, fallback))

    def power(self, name: str) -> float:
        """The power of the distance the misfit grows with along one direction."""
        return float(self.powers.get(name, 1.0))

    def spread_factor(self, name: str) -> float:
        """The factor widening the parameters' spread past the data along one direction."""
        return float(self.spread_factors.get(name, 1.0))

    @property
    def learned(self) -> bool:
        """Whether any misfit was learned: bands are wider than the law's alone somewhere."""
        widened = any(value > 1 for value in self.spread_factors.values())
        return widened or any(value > 0 for value in (*self.scales.values(), *self.misfit.values()))

    def parameter_spread(self, beyond: np.ndarray, inputs: tuple[str, ...]) -> np.ndarray:
        """Factor by which each row's spread of the law over the parameters' draws is widened:
        the largest spread factor of the directions along which the row lies past the data
        (``beyond``: rows x :func:`directions`), 1 inside the range."""
        names = directions(inputs)[: beyond.shape[-1]]
        factors = np.array([self.spread_factor(name) for name in names])
        return np.where(beyond > 0, factors, 1.0).max(axis=-1, initial=1.0)

    def distribution_misfit(self, labels: np.ndarray | None, rows: int) -> np.ndarray:
        """Each row's misfit sd inside the data: its distribution's (0 where none was kept),
        or for a new distribution (``labels=None``) the root mean square over the
        distributions fitted, a new one being as likely to stray as a fitted one."""
        if labels is None:
            values = np.array([*self.misfit.values(), *[0.0] * (len(self.misfit_gains) - len(self.misfit))])
            return np.full(rows, np.sqrt((values**2).mean()) if len(values) else 0.0)
        return np.array([self.misfit.get(str(label), 0.0) for label in labels])

    def at_levels(
        self, labels: np.ndarray | None, points: Mapping[str, np.ndarray], rows: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each row's offset on log loss and misfit sd inside the data: at a fitted level of
        its distribution's misfit input (``points``: input -> each row's value), that level's
        offset and the sd left there; elsewhere 0 and the distribution's misfit."""
        offset, sd = np.zeros(rows), self.distribution_misfit(labels, rows)
        if labels is None or not self.level_offsets:
            return offset, sd
        labels = np.asarray(labels).astype(str)
        for name, entry in self.level_offsets.items():
            mine = labels == name
            if not mine.any() or entry["input"] not in points:
                continue
            values = np.asarray(points[entry["input"]], dtype=float)
            for level, shift, left in zip(entry["levels"], entry["offsets"], entry["sds"], strict=True):
                at = mine & np.isclose(values, level, rtol=1e-6, atol=0.0)
                offset[at], sd[at] = shift, left
        return offset, sd

    def law_error_sd(
        self,
        beyond: np.ndarray,
        inputs: tuple[str, ...],
        labels: np.ndarray | None = None,
        points: Mapping[str, np.ndarray] | None = None,
    ) -> np.ndarray:
        """Standard deviation of the law's error on log loss at rows lying ``beyond`` (rows x
        :func:`directions` of ``inputs``, see :func:`distances_beyond`) their fitted ranges,
        of distributions ``labels`` (None: a new distribution), at inputs ``points`` (where
        given, a fitted level's own sd replaces its distribution's misfit, see
        :meth:`at_levels`)."""
        names = directions(inputs)[: beyond.shape[-1]]
        scales = np.array([self.scale(name) for name in names])
        powers = np.array([self.power(name) for name in names])
        # the largest direction's, not their sum: each scale was learned alone, as all of the
        # error of runs held out along it, and those runs lie past the data along the other
        # directions too (a corner past the fine-tuning sizes is past the product as well).
        # Summing counted that error twice: bands 1.4x too wide on alabdulmohsin2022, whose
        # pre-training and product scales are alike (docs/records.md, "Largest direction, not the sum").
        past = (scales * beyond**powers).max(axis=-1, initial=0.0)
        inside = self.at_levels(labels, points or {}, len(beyond))[1]
        return np.sqrt(past**2 + inside**2)

    def with_growth_prior(self, prior: GrowthPrior | None) -> Discrepancy:
        """The same misfit with the scales past the data taken from ``prior`` and this fit's
        own held-out errors (:func:`~.growth_prior.scales_from_prior`; no refit): how a fit is
        scored under a prior learned from another corpus. ``None``: the scales as the runs
        alone give them, which needs a refit, so it is refused where they were replaced."""
        if prior is None:
            if self.growth_prior:
                raise ValueError("the runs' own scales were replaced by a prior's; refit without one")
            return self
        names = self.directions or tuple(self.scales)
        skip = tuple(self.spread_factors)
        scales, probabilities = scales_from_prior(prior, self.evidence, names, skip=skip)
        scales |= {name: 0.0 for name in self.spread_factors}
        return replace(
            self, scales=scales, powers={}, misfit_probabilities=probabilities, growth_prior=asdict(prior)
        )

    def to_dict(self) -> dict:
        return asdict(self) | {
            name: dict(getattr(self, name))
            for name in (
                "scales",
                "log_likelihood_gains",
                "powers",
                "misfit",
                "misfit_gains",
                "spread_factors",
                "level_offsets",
                "evidence",
                "growth_prior",
                "misfit_probabilities",
            )
        }

    def describe(self) -> str:
        """A few lines: the misfit learned past the data and inside it, and the evidence."""
        inside = (
            ", ".join(f"{name} {value:.3g}" for name, value in self.misfit.items()) if self.misfit else "none"
        )
        inside = f"inside the data (sd on log loss, per distribution): {inside}"
        for name, entry in self.level_offsets.items():
            shifts = ", ".join(
                f"{level:g} {np.expm1(shift):+.1%}"
                for level, shift in zip(entry["levels"], entry["offsets"], strict=True)
            )
            inside += f"\n  {name}'s curve shifted at its levels of {entry['input']}: {shifts}"
        if self.note and not self.growth_prior:
            return f"{self.note}\n{inside}"
        if self.growth_prior:
            prior = self.growth_prior
            lines = [
                self.note
                or f"past the data, the corpus prior updated by {self.heldout_runs} runs that the fit's own "
                "leave-future-out refits held out",
                f"  prior: median {prior['median']:.3g} per unit of log-distance, "
                f"log sd {prior['log_sd']:.2f}, P(misfit) {prior['weight']:.2f}",
            ]
            if prior.get("source"):
                lines.append(f"  learned from {prior['source']}")
        else:
            lines = [
                f"past the data, learned from {self.heldout_runs} runs that the fit's own leave-future-out "
                "refits held out (growth per unit of log-distance past the fitted range; a misfit is kept "
                f"where its log-likelihood gain over none passes {self.threshold:.2f}, even odds):"
            ]
        for name in self.scales:
            gain = self.log_likelihood_gains.get(name)
            if self.spread_factor(name) > 1:
                learned = f"the parameters' spread widened x{_factor(self.spread_factor(name))}"
            elif self.scale(name) > 0:
                power = self.power(name)
                learned = f"sd {self.scale(name):.3g}" + (f" x d^{power:g}" if power != 1 else " x d")
            else:
                learned = "none"
            said = [] if gain is None else [f"gain {gain:.2f}"]
            if name in self.misfit_probabilities:
                said.append(f"P(misfit) {self.misfit_probabilities[name]:.2f}")
            lines.append(f"  along {name}: {learned}" + (f" ({', '.join(said)})" if said else ""))
        return "\n".join([*lines, inside])

    @classmethod
    def from_dict(cls, raw: Mapping) -> Discrepancy:
        raw = dict(raw)
        if "scale" in raw:  # saved with one scale for the combined distance
            raw["scales"] = {EVERY_INPUT: raw.pop("scale")}
            raw["log_likelihood_gains"] = {EVERY_INPUT: raw.pop("log_likelihood_gain", 0.0)}
            raw.setdefault("threshold", MIN_LOG_LIKELIHOOD_GAIN)
        tuples = {name: tuple(raw.get(name, ())) for name in ("cuts", "directions")}
        return cls(**{**raw, **tuples})


def _factor(value: float) -> str:
    """A spread factor for reading: 3 significant figures, more where it is barely above 1."""
    return f"{value:.3g}" if value >= 1.01 else f"{value:.4f}"
