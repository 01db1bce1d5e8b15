"""The sampler's configuration and the sampling policy's thresholds, as data.

:class:`SamplerConfig` is what a caller sets (engine, run length, target acceptance, mass
matrix); :class:`SamplingPolicy` holds every threshold the pilot's verdict is judged by, each
with the measurement it rests on (docs/records.md names the record). Both are frozen and
plain, so a spec's ``[sampling]`` table can override the policy's fields and a fit saves
both. Nothing here imports the rest of the package.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Literal

from ..data import BayesScalingError

Sampler = Literal["nutpie", "pymc"]
SAMPLERS = ("nutpie", "pymc")
Adaptation = Literal["diag", "low_rank"]
ADAPTATIONS = ("diag", "low_rank")
Centring = Literal["pilot", "spec"]
CENTRINGS = ("pilot", "spec")

# Tuning draws per chain by engine. nutpie's adaptation (gradient-based mass matrix, early
# window) needs few: 300 instead of 1,000 left health the same over seeds 0-7 and cut
# sampling time by ~35% (decision record "Tuning"). PyMC's NUTS keeps PyMC's default.
DEFAULT_TUNE = {"nutpie": 300, "pymc": 1000}


class SettingsError(BayesScalingError):
    """A sampler setting or a policy threshold out of its range."""


@dataclass(frozen=True)
class SamplerConfig:
    """How to sample: the engine and the run's length. ``None`` leaves a setting to the policy
    (``draws``, ``target_accept``) or to the engine (``tune``).

    ``cores`` is how many chains run at once (default: as many as the machine has, up to
    ``chains``). It changes the time, never the draws: each chain has its own seed.
    """

    sampler: Sampler = "nutpie"
    draws: int | None = None
    tune: int | None = None
    chains: int = 4
    target_accept: float | None = None
    adaptation: Adaptation = "diag"
    centring_from: Centring = "pilot"
    progress: bool = True
    cores: int | None = None

    def __post_init__(self) -> None:
        for name, allowed in (
            ("sampler", SAMPLERS),
            ("adaptation", ADAPTATIONS),
            ("centring_from", CENTRINGS),
        ):
            if getattr(self, name) not in allowed:
                raise SettingsError(
                    f"unknown {name} {getattr(self, name)!r}; use one of {', '.join(allowed)}"
                )
        for name in ("draws", "tune", "chains", "cores"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or int(value) != value or value < 1):
                raise SettingsError(f"{name} must be a whole number >= 1, got {value!r}")
        if self.target_accept is not None and not 0 < self.target_accept < 1:
            raise SettingsError(
                f"target_accept must lie between 0 and 1 (e.g. 0.95), got {self.target_accept!r}"
            )

    @property
    def tuning(self) -> int:
        """Tuning draws per chain: the caller's, or the engine's default."""
        return DEFAULT_TUNE[self.sampler] if self.tune is None else int(self.tune)

    @property
    def policy_sets_length(self) -> bool:
        """Whether the policy may choose draws and target (and so rerun a failed run)."""
        return self.draws is None and self.target_accept is None


@dataclass(frozen=True)
class SamplingPolicy:
    """The thresholds by which the pilot's verdict becomes a plan (see :func:`.policy.plan`).

    Every field is a number measured on the development tables; the decision record named in
    each comment (docs/records.md) says what was measured and what it chose.
    """

    # The pilot: 2 chains of 200 + 200 draws, on the run's compiled model ("Pilot").
    pilot_draws: int = 200
    pilot_chains: int = 2
    # Reference-loss coordinates write a law's term parameters centred: a spec in them goes
    # back to the parameters where a term's mean partial centring is below this or the pilot
    # diverged (FLAN cut at 3e5 examples: E's centring 0.0, centred E diverged; "Coordinates").
    min_term_centring: float = 0.25
    # The other way: only where every term is pinned in every distribution (centring at least
    # this in each) and the pilot did not diverge ("Coordinates").
    min_term_centring_to_switch: float = 0.5
    # ...and only where the move saves more than compiling a second model costs: sampling in
    # reference-loss coordinates took 32-59% less time per effective draw at 16-256 simulated
    # distributions, taken as this share of the run's estimated time in the parameters
    # ("Coordinates").
    reference_saving: float = 0.3
    # The run's time is estimated from the pilot's leapfrog steps per draw and the measured
    # cost of one gradient (13.9 us at 164 runs, 27.9 at 480, 85.4 at 1,920,
    # 353 at 7,680 on the 2-core reference machine, so ~6.5 us + 0.045 us per run), never
    # from a clock: the same table and seed plan alike on any machine ("Coordinates").
    step_seconds: float = 6.5e-6
    step_seconds_per_run: float = 4.5e-8
    # A compilation is taken to cost this (8-13 s measured), whether or not this process
    # compiled the model before, and the saving must repay it this often ("Coordinates").
    compile_seconds: float = 10.0
    compile_payback: float = 2.0
    # From this many distributions on, the pilot itself runs in reference-loss coordinates
    # (at 64 and 256 the pilot in the parameters always moved the fit; "Coordinates").
    reference_pilot_distributions: int = 64
    # NUTS's target acceptance: 0.9 where the pilot finds the runs pinned and the table is not
    # large, 0.95 where it diverged or finds more than loose_share of the (distribution,
    # parameter) pairs barely pinned (centring below loose_centring): mikami2021 67%, FLAN
    # cut at 3e5 33%, other development tables 0-4% ("Target acceptance").
    target_accept_pinned: float = 0.9
    target_accept_loose: float = 0.95
    loose_centring: float = 0.1
    loose_share: float = 0.1
    # Draws per chain; a loose table keeps twice as many: on mikami2021 r_hat went over 1.01
    # in 2 of 8 seeds at 1,000 draws and in none at 2,000 ("Draws").
    default_draws: int = 1000
    loose_draws: int = 2000
    # A run whose settings were left to the fit and that fails its checks is run once more as
    # a loose table's (alabdulmohsin2022: r_hat > 1.01 in 5 of 8 seeds at the pilot's choice;
    # "Rerun"), or, where it already had a loose table's settings, at this target (mikami2021:
    # a divergence, or a chain stuck apart, in 2 of 16 fits at 0.95; none at 0.99, "Rerun").
    # Seed offsets keep the pilot's, the rerun's and the refits' draws apart.
    target_accept_last: float = 0.99
    pilot_seed_offset: int = 1000
    rerun_seed_offset: int = 2000

    def __post_init__(self) -> None:
        for declared in fields(self):
            value = getattr(self, declared.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise SettingsError(f"sampling policy: {declared.name} must be a number, got {value!r}")
            if value < 0:
                raise SettingsError(f"sampling policy: {declared.name} must be >= 0, got {value!r}")

    @property
    def pinned_max_distributions(self) -> int:
        """The largest table that may get the lower target: below where pilots move to
        reference-loss coordinates (there 0.9 gave fewer effective draws per second)."""
        return self.reference_pilot_distributions - 1

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "[sampling]") -> SamplingPolicy:
        """A policy with the fields of ``raw`` overriding the defaults; unknown keys are an error."""
        names = [declared.name for declared in fields(cls)]
        unknown = sorted(set(raw) - set(names))
        if unknown:
            raise SettingsError(f"{source} takes {', '.join(names)}; unexpected {', '.join(unknown)}")
        return cls(**raw)

    def overrides(self) -> dict[str, Any]:
        """The fields that differ from the defaults (what a spec's ``[sampling]`` table says)."""
        default = SamplingPolicy()
        return {
            declared.name: getattr(self, declared.name)
            for declared in fields(self)
            if getattr(self, declared.name) != getattr(default, declared.name)
        }
