"""Model specs as data: law + priors + pooling + likelihood, read from TOML.

The shipped specs live in the repository's top-level ``models/`` folder, which the wheel
installs as ``bayes_scaling/models``. A user copies one, edits priors or pooling, and passes
its path wherever a model name is accepted; or writes only what changes, under
``extends = "transfer_gap"`` (as ``models/transfer_gap_error_rate.toml`` does).

Priors are on the *log* of each (positive) law parameter, in normalised units (inputs
divided by their geometric mean), so they read the same whatever the units of the data.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import asdict, dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
from scipy import special

from .data import BayesScalingError
from .inference.settings import SamplingPolicy, SettingsError
from .laws import Law, get_law

Pooling = Literal["shared", "hierarchical", "independent"]
POOLINGS = ("shared", "hierarchical", "independent")
# How the sampler sees the law's parameters: as themselves (log scale, hierarchical ones
# partially centred), or through the loss at the reference inputs, its split into the law's
# terms and its slopes there (see bayes_scaling.laws.base.ReferenceTerms); the prior is the same.
Coordinates = Literal["parameters", "reference_loss"]
COORDINATES = ("parameters", "reference_loss")

# The distributions a prior may name, with the arguments each takes. A short list keeps
# specs portable and lets a typo fail when the spec is read, not deep inside PyMC.
PRIOR_FAMILIES: dict[str, tuple[str, ...]] = {
    "Normal": ("mu", "sigma"),
    "StudentT": ("nu", "mu", "sigma"),
    "HalfNormal": ("sigma",),
    "HalfStudentT": ("nu", "sigma"),
    "Exponential": ("lam",),
    "Gamma": ("alpha", "beta"),
    "LogNormal": ("mu", "sigma"),
    "TruncatedNormal": ("mu", "sigma", "lower", "upper"),
    "Uniform": ("lower", "upper"),
}


class SpecError(BayesScalingError):
    """A model spec is malformed or cannot be found."""


@dataclass(frozen=True)
class Prior:
    """A prior distribution by name and arguments, e.g. ``Prior("Normal", {"mu": 0, "sigma": 1})``."""

    dist: str
    args: dict[str, float]

    @classmethod
    def from_dict(cls, raw: Any, where: str) -> Prior:
        if not isinstance(raw, dict) or "dist" not in raw:
            raise SpecError(
                f"{where}: a prior is a table with 'dist' and its arguments, "
                f'e.g. {{ dist = "Normal", mu = 0.0, sigma = 1.0 }}; got {raw!r}'
            )
        args = {k: v for k, v in raw.items() if k != "dist"}
        dist = raw["dist"]
        if dist not in PRIOR_FAMILIES:
            raise SpecError(f"{where}: unknown prior family {dist!r}; use one of {', '.join(PRIOR_FAMILIES)}")
        allowed = PRIOR_FAMILIES[dist]
        unknown = sorted(set(args) - set(allowed))
        if unknown:
            raise SpecError(f"{where}: {dist} takes {', '.join(allowed)}; unexpected {', '.join(unknown)}")
        for key, value in args.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise SpecError(f"{where}: {dist} argument {key} must be a number, got {value!r}")
        return cls(dist, {k: float(v) for k, v in args.items()})

    def to_dict(self) -> dict[str, Any]:
        return {"dist": self.dist, **self.args}

    def __str__(self) -> str:
        return f"{self.dist}({', '.join(f'{k}={v:g}' for k, v in self.args.items())})"


@dataclass(frozen=True)
class ParameterSpec:
    """Pooling and priors of one law parameter (priors on its log).

    ``shared`` and ``independent`` use ``prior``; ``hierarchical`` uses ``mu`` (population
    mean of the log) and ``tau`` (population spread of the log); ``centred`` is the
    parameterisation the fit's pilot run starts from (it then chooses a partial centring per
    distribution, see :func:`bayes_scaling.model.partial_centring`)."""

    name: str
    pooling: Pooling
    prior: Prior | None = None
    mu: Prior | None = None
    tau: Prior | None = None
    centred: bool = False
    why: str = ""


@dataclass(frozen=True)
class LossSpec:
    """What the loss is, where a table does not say: its unit, and the bounds no loss of this
    kind can leave (an error rate lies in [0, 1]). Bands are kept inside the bounds."""

    unit: str | None = None  # None: the table's own, else nats/token
    upper: float | None = None  # None: unbounded above (a cross-entropy); 1 for an error rate


@dataclass(frozen=True)
class LikelihoodSpec:
    """Student-t on log loss, robust to the odd bad run."""

    nu: float = 5.0
    sigma_pooling: Literal["shared", "per_distribution"] = "shared"
    sigma: Prior = field(default_factory=lambda: Prior("HalfNormal", {"sigma": 0.1}))

    def log_density(self, log_loss, mean, sigma) -> np.ndarray:
        """log Student-t(log_loss; nu, mean, sigma) in numpy, broadcast: the model's likelihood
        for pointwise log likelihoods and decisions. Written out because scipy.stats.t.logpdf
        took 7 s for the 30 million values of a fit of 7,680 runs, this 0.2 s."""
        nu = self.nu
        z = (np.asarray(log_loss) - mean) / sigma
        const = special.gammaln((nu + 1) / 2) - special.gammaln(nu / 2) - 0.5 * np.log(nu * np.pi)
        return const - np.log(sigma) - (nu + 1) / 2 * np.log1p(z * z / nu)


@dataclass(frozen=True)
class GrowthPrior:
    """The population prior of the scale of the law's misfit past the data: s = 0 with
    probability 1 - ``weight``, else log s ~ Normal(log ``median``, ``log_sd``^2), s the sd of
    the error on log loss per unit of natural-log distance beyond the fitted range. Learned
    from a corpus of scaling tables (``source`` says which, by which command, at which
    commit; :mod:`bayes_scaling.discrepancy.growth_prior`); a fit's own leave-future-out
    errors update it."""

    median: float
    log_sd: float
    weight: float = 1.0
    source: str = ""

    def __post_init__(self) -> None:
        numbers = (self.median, self.log_sd, self.weight)
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in numbers) or not (
            self.median > 0 and self.log_sd > 0 and 0 < self.weight <= 1
        ):
            raise SpecError(
                "[discrepancy.growth_prior] needs median > 0, log_sd > 0 and 0 < weight <= 1; got "
                f"median {self.median!r}, log_sd {self.log_sd!r}, weight {self.weight!r}"
            )

    def describe(self) -> str:
        weight = "" if self.weight == 1 else f", P(misfit) {self.weight:.2f}"
        return f"median {self.median:.3g} per unit of log-distance, log sd {self.log_sd:.2f}{weight}"


@dataclass(frozen=True)
class DiscrepancySpec:
    """How the law's misfit, inside the data and past it, is learned (see :mod:`bayes_scaling.discrepancy`).

    ``leave_future_out`` refits without each distribution's largest level of each input
    (``draws``/``tune``/``chains`` per refit, or the fit's own where fewer) and learns the
    scale from the held-out errors; ``none`` leaves bands past the data with parameter and
    noise uncertainty only. ``adaptation`` is nutpie's mass-matrix adaptation in the refits
    (``"diag"`` or ``"low_rank"``); unset, the fit's own. Low rank halves the refits' time
    where the posterior's parameters are strongly correlated (alabdulmohsin2022, ~92 leapfrog
    steps per draw) and learns the same misfit; on tables of many distributions its tuning
    costs more than it saves (docs/records.md; the study in git history).
    """

    method: Literal["leave_future_out", "none"] = "leave_future_out"
    draws: int = 300
    tune: int = 300
    chains: int = 2
    adaptation: Literal["diag", "low_rank"] | None = None
    # the corpus prior of the misfit's growth past the data; None: learned from the runs alone
    growth_prior: GrowthPrior | None = None


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to build a model, apart from the data."""

    name: str
    law: Law
    parameters: dict[str, ParameterSpec]
    likelihood: LikelihoodSpec
    description: str = ""
    min_runs_per_distribution: int = 1
    source: str = ""
    discrepancy: DiscrepancySpec = field(default_factory=DiscrepancySpec)
    coordinates: Coordinates = "parameters"
    # the sampling policy's thresholds: the defaults, with what a [sampling] table overrides
    sampling: SamplingPolicy = field(default_factory=SamplingPolicy)
    loss: LossSpec = field(default_factory=LossSpec)

    def to_dict(self) -> dict[str, Any]:
        """Plain data, the same shape as the TOML file; saved with every fit."""
        params = {}
        for p in self.parameters.values():
            entry: dict[str, Any] = {"pooling": p.pooling}
            for key in ("prior", "mu", "tau"):
                prior = getattr(p, key)
                if prior is not None:
                    entry[key] = prior.to_dict()
            if p.centred:
                entry["centred"] = True
            if p.why:
                entry["why"] = p.why
            params[p.name] = entry
        lik = self.likelihood
        return {
            "name": self.name,
            "law": self.law.name,
            "description": self.description,
            "min_runs_per_distribution": self.min_runs_per_distribution,
            "likelihood": {"nu": lik.nu, "sigma_pooling": lik.sigma_pooling, "sigma": lik.sigma.to_dict()},
            "discrepancy": asdict(self.discrepancy),
            "coordinates": self.coordinates,
            "sampling": self.sampling.overrides(),
            "loss": {k: v for k, v in asdict(self.loss).items() if v is not None},
            "parameters": params,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def describe(self) -> str:
        """A few lines a user can read: law, pooling and priors of each parameter."""
        lines = [f"model {self.name!r}: {self.law.description}"]
        for p in self.parameters.values():
            if p.pooling == "hierarchical":
                priors = f"log {p.name}_d = mu + tau z_d, mu ~ {p.mu}, tau ~ {p.tau}"
            else:
                priors = f"log {p.name} ~ {p.prior}"
            lines.append(f"  {p.name:<6} {p.pooling:<12} {priors}")
        lik = self.likelihood
        lines.append(f"  log loss ~ StudentT(nu={lik.nu:g}, sigma {lik.sigma_pooling} ~ {lik.sigma})")
        if self.coordinates == "reference_loss":
            terms = self.law.reference_terms
            slopes = [name for name in terms.slopes if self.parameters[name].pooling != "shared"]
            lines.append(
                "  sampled as: the loss at the reference inputs, its split into "
                + ", ".join(terms.parameters)
                + (f", and the slope there for {', '.join(slopes)}" if slopes else "")
                + " (same prior)"
            )
        if self.discrepancy.method == "leave_future_out":
            lines.append(
                "  misfit: + Normal(0, m_d^2 + max_k (s_k d_k^q_k)^2) on log loss, m_d per distribution from "
                "the residuals, s_k and q_k past the data from leave-future-out refits (or, where those "
                "favour it, the parameters' spread widened by a factor k_k)"
            )
            if (prior := self.discrepancy.growth_prior) is not None:
                lines.append(f"  s_k's prior, from a corpus of scaling tables: {prior.describe()}")
                if prior.source:
                    lines.append(f"    learned from {prior.source}")
        return "\n".join(lines)


def models_dir() -> Path:
    """Folder of the shipped specs: inside the installed package, else the source tree's."""
    packaged = Path(str(resources.files("bayes_scaling"))) / "models"
    if packaged.is_dir():
        return packaged
    # editable install / running from a checkout: the one source at the repository root
    return Path(__file__).resolve().parents[1] / "models"


def list_models() -> list[str]:
    """Names of the shipped model specs."""
    return sorted(p.stem for p in models_dir().glob("*.toml"))


def _parameters(raw_params: dict[str, Any], law: Law, source: str) -> dict[str, ParameterSpec]:
    """Each law parameter's pooling, priors and centring flag, checked."""
    params: dict[str, ParameterSpec] = {}
    for name in law.parameters:
        entry = raw_params[name]
        where = f"{source}: [parameters.{name}]"
        pooling = entry.get("pooling")
        if pooling not in POOLINGS:
            raise SpecError(f"{where}: pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
        needed = ("mu", "tau") if pooling == "hierarchical" else ("prior",)
        absent = [k for k in needed if k not in entry]
        if absent:
            raise SpecError(
                f"{where}: {pooling} pooling needs {' and '.join(needed)}; missing {', '.join(absent)}"
            )
        priors = {k: Prior.from_dict(entry[k], f"{where}.{k}") for k in needed}
        centred = entry.get("centred", False)
        if not isinstance(centred, bool):
            raise SpecError(f"{where}: centred must be true or false, got {centred!r}")
        params[name] = ParameterSpec(
            name=name, pooling=pooling, centred=centred, why=entry.get("why", ""), **priors
        )
    return params


def _likelihood(lik_raw: dict[str, Any], source: str) -> LikelihoodSpec:
    sigma_pooling = lik_raw.get("sigma_pooling", "shared")
    if sigma_pooling not in ("shared", "per_distribution"):
        raise SpecError(
            f"{source}: [likelihood] sigma_pooling must be 'shared' or "
            f"'per_distribution', got {sigma_pooling!r}"
        )
    nu = lik_raw.get("nu", 5.0)
    if not isinstance(nu, (int, float)) or nu <= 0:
        raise SpecError(f"{source}: [likelihood] nu must be a positive number, got {nu!r}")
    return LikelihoodSpec(
        nu=float(nu),
        sigma_pooling=sigma_pooling,
        sigma=Prior.from_dict(
            lik_raw.get("sigma", {"dist": "HalfNormal", "sigma": 0.1}), f"{source}: [likelihood].sigma"
        ),
    )


def _loss(loss_raw: dict[str, Any], source: str) -> LossSpec:
    unknown = sorted(set(loss_raw) - {"unit", "upper"})
    if unknown:
        raise SpecError(f"{source}: [loss] takes unit and upper; unexpected {', '.join(unknown)}")
    unit, upper = loss_raw.get("unit"), loss_raw.get("upper")
    if unit is not None and (not isinstance(unit, str) or not unit.strip()):
        raise SpecError(f"{source}: [loss] unit must be a text such as 'error rate', got {unit!r}")
    if upper is not None and (isinstance(upper, bool) or not isinstance(upper, (int, float)) or upper <= 0):
        # a bool is an int to Python, never a bound
        raise SpecError(
            f"{source}: [loss] upper must be a positive number (1 for an error rate), got {upper!r}"
        )
    return LossSpec(unit=unit, upper=None if upper is None else float(upper))


def _discrepancy(disc_raw: dict[str, Any], source: str) -> DiscrepancySpec:
    keys = [declared.name for declared in fields(DiscrepancySpec)]
    unknown = sorted(set(disc_raw) - set(keys))
    if unknown:
        raise SpecError(f"{source}: [discrepancy] takes {', '.join(keys)}; unexpected {', '.join(unknown)}")
    if disc_raw.get("adaptation") not in (None, "diag", "low_rank"):
        raise SpecError(
            f"{source}: [discrepancy] adaptation must be 'diag' or 'low_rank' (or left out: the "
            f"fit's own), got {disc_raw['adaptation']!r}"
        )
    if disc_raw.get("method", "leave_future_out") not in ("leave_future_out", "none"):
        raise SpecError(
            f"{source}: [discrepancy] method must be 'leave_future_out' or 'none', got {disc_raw['method']!r}"
        )
    for key in ("draws", "tune", "chains"):
        if key in disc_raw and (not isinstance(disc_raw[key], int) or disc_raw[key] < 1):
            raise SpecError(
                f"{source}: [discrepancy] {key} must be a whole number >= 1, got {disc_raw[key]!r}"
            )
    prior = disc_raw.pop("growth_prior", None)
    if prior is not None:
        names = [declared.name for declared in fields(GrowthPrior)]
        if not isinstance(prior, dict) or sorted(set(prior) - set(names)) or "median" not in prior:
            raise SpecError(
                f"{source}: [discrepancy.growth_prior] takes {', '.join(names)} (median and log_sd "
                f"required); got {prior!r}"
            )
        try:
            prior = GrowthPrior(**prior)
        except (SpecError, TypeError) as error:
            raise SpecError(f"{source}: {error}") from None
    return DiscrepancySpec(**disc_raw, growth_prior=prior)


def spec_from_dict(raw: dict[str, Any], source: str = "<dict>") -> ModelSpec:
    """Build and check a spec from plain data (a parsed TOML file or a saved fit)."""
    if "law" not in raw:
        raise SpecError(f"{source}: missing 'law' (one of the registered laws, e.g. 'transfer_gap')")
    try:
        law = get_law(raw["law"])
    except BayesScalingError as err:
        raise SpecError(f"{source}: {err}") from None
    raw_params = raw.get("parameters", {})
    missing = [name for name in law.parameters if name not in raw_params]
    extra = [name for name in raw_params if name not in law.parameters]
    if missing or extra:
        raise SpecError(
            f"{source}: law {law.name!r} has parameters {', '.join(law.parameters)}; "
            + (f"missing [parameters.{'], ['.join(missing)}] " if missing else "")
            + (f"unknown {', '.join(extra)}" if extra else "")
        )
    params = _parameters(raw_params, law, source)
    likelihood = _likelihood(raw.get("likelihood", {}), source)
    discrepancy = _discrepancy(dict(raw.get("discrepancy", {})), source)
    coordinates = raw.get("coordinates", "parameters")
    if coordinates not in COORDINATES:
        raise SpecError(f"{source}: coordinates must be one of {', '.join(COORDINATES)}, got {coordinates!r}")
    if coordinates == "reference_loss":
        if law.reference_terms is None:
            raise SpecError(
                f"{source}: coordinates = 'reference_loss' needs a law written as a sum of terms; "
                f"law {law.name!r} is not: use 'parameters'"
            )
        shared = [name for name in law.reference_terms.parameters if params[name].pooling == "shared"]
        if shared:
            raise SpecError(
                f"{source}: coordinates = 'reference_loss' samples "
                f"{', '.join(law.reference_terms.parameters)} per distribution, but "
                f"{', '.join(shared)} is shared: make it hierarchical or independent, "
                "or use coordinates = 'parameters'"
            )
    loss = _loss(dict(raw.get("loss", {})), source)
    try:
        sampling = SamplingPolicy.from_dict(dict(raw.get("sampling", {})), f"{source}: [sampling]")
    except SettingsError as err:
        raise SpecError(str(err)) from None
    return ModelSpec(
        name=raw.get("name", law.name),
        law=law,
        parameters=params,
        likelihood=likelihood,
        description=raw.get("description", ""),
        min_runs_per_distribution=int(raw.get("min_runs_per_distribution", 1)),
        source=source,
        discrepancy=discrepancy,
        coordinates=coordinates,
        sampling=sampling,
        loss=loss,
    )


def load_spec(model: str | os.PathLike | ModelSpec = "transfer_gap") -> ModelSpec:
    """A model spec by shipped name (``"transfer_gap"``) or by path to a TOML file."""
    if isinstance(model, ModelSpec):
        return model
    text = os.fspath(model)
    path = Path(text)
    if not (path.suffix == ".toml" or os.sep in text or path.exists()):
        path = models_dir() / f"{text}.toml"
        if not path.exists():
            raise SpecError(
                f"unknown model {text!r}; shipped models are: "
                f"{', '.join(list_models())}, or give the path of a .toml spec"
            )
    raw = _read_spec_file(path, seen=())
    raw.setdefault("name", path.stem)
    return spec_from_dict(raw, source=str(path))


def _read_spec_file(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    """A spec file's table, with what it ``extends`` (a shipped name or a path beside it)
    filled in underneath: a spec that changes one prior says only that."""
    if not path.is_file():
        raise SpecError(f"{path}: no such model spec file")
    try:
        raw = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise SpecError(f"{path}: not a valid TOML model spec ({err})") from None
    base = raw.pop("extends", None)
    if base is None:
        return raw
    if not isinstance(base, str):
        raise SpecError(f"{path}: extends must name a spec (e.g. 'transfer_gap'), got {base!r}")
    base_path = path.parent / base if base.endswith(".toml") else models_dir() / f"{base}.toml"
    if not base_path.is_file():
        raise SpecError(f"{path}: extends {base!r}, which is neither a shipped model nor a file beside it")
    if base_path.resolve() in seen:
        raise SpecError(f"{path}: extends {base!r}, which extends it back (a loop)")
    return _merged(_read_spec_file(base_path, (*seen, path.resolve())), raw)


# a prior is replaced whole: merging Normal(mu, sigma) into StudentT(nu, mu, sigma) would mix them
_WHOLE_TABLES = frozenset({"mu", "tau", "prior", "sigma"})


def _merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``override`` written over it, tables merged key by key."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key not in _WHOLE_TABLES:
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


def spec_from_json(text: str) -> ModelSpec:
    return spec_from_dict(json.loads(text), source="saved fit")


__all__ = ["ModelSpec", "ParameterSpec", "Prior", "SpecError", "list_models", "load_spec", "models_dir"]
