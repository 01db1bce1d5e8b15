"""Fitting: NUTS over the model, diagnostics, and a result that saves to one file.

nutpie is the default engine: the model is compiled once (numba) and all chains run in
one call. A compiled model is cached per model structure and data shape, so refitting the
same spec to new data of the same shape (cross-validation, calibration studies, tests)
swaps the data instead of recompiling. PyMC's own NUTS is the alternative engine.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from .data import BayesScalingError, Runs, validate_runs
from .diagnostics import Diagnostics, PriorWarning, check_floor_prior, check_sampling
from .discrepancy import (
    MIN_LEVELS,
    Discrepancy,
    distances_beyond,
    fitted_ranges,
    gain_threshold,
    learn_scale,
    leave_future_out_cuts,
)
from .model import (
    DISTRIBUTION,
    OBSERVED,
    RUN,
    RUN_WEIGHT,
    Normalisation,
    build_model,
    centred_parameters,
    centring_name,
    draw_integrated_mu,
    hierarchical_with_mu,
    log_values,
    mu_integrated_out,
    partial_centring,
)
from .spec import ModelSpec, load_spec, spec_from_json

Sampler = Literal["nutpie", "pymc"]
SAMPLERS = ("nutpie", "pymc")
Adaptation = Literal["diag", "low_rank"]
ADAPTATIONS = ("diag", "low_rank")
Centring = Literal["pilot", "spec"]
CENTRINGS = ("pilot", "spec")
# Tuning draws per chain by engine. nutpie's adaptation (gradient-based mass matrix, early
# window) needs few: 300 instead of 1,000 left health the same over seeds 0-7 on the example,
# mikami2021, simulated Chinchilla-law runs and lin2024's curves, and at 16-256 simulated
# distributions, and cut sampling time by ~35% (benchmarks/RESULTS.md). PyMC's NUTS keeps
# PyMC's default.
DEFAULT_TUNE = {"nutpie": 300, "pymc": 1000}
# the pilot run that sets each hierarchical parameter's centring (see _learn_centring)
PILOT_DRAWS = 200
PILOT_CHAINS = 2
PILOT_SEED_OFFSET = 1000
# Reference-loss coordinates write a law's term parameters centred. Where the pilot finds one
# of them barely pinned by the runs (mean partial centring below this), or diverges at all,
# the fit samples the parameters themselves instead. Measured on lin2024's curves
# (benchmarks/RESULTS.md): E's mean centring is 0.47-0.56 on the full FLAN and Gigaword
# tables, whose pilots never diverged and which sample cleanly; 0.0 on FLAN cut at 3e5
# examples, where centred E diverged (E_tau funnel); 0.37-0.43 on Gigaword cut there, whose
# pilots diverged in 2 seeds of 6 and whose fits had up to 7 divergences, where the parameters
# themselves mix E_tau no better (r_hat up to 1.087 at ~920 steps): no threshold helps there.
MIN_TERM_CENTRING = 0.25
# The other way: a spec that starts in the parameters' own coordinates moves to the reference
# loss only where the pilot finds every term pinned in every distribution (centring at least
# this in each) and no divergence. The example's pilots leave one distribution's A at 0.0
# (its runs say little of A), and there reference-loss coordinates left an isolated
# divergence in 2 of 8 seeds; 16 simulated distributions have every term at 0.63 or more.
MIN_TERM_CENTRING_TO_SWITCH = 0.5
# ...and only where that saves more time than compiling a second model costs. Per effective
# draw of the slowest parameter (the shared alpha, which mixes more slowly there), sampling
# in reference-loss coordinates took 32% less time than in the parameters at 16 simulated
# distributions (38 steps per draw against 117, but half alpha's ESS) and 59% less at 256
# (98 against 255), so the saving is taken as 0.3 of the time the parameters would need,
# estimated from the pilot's. Compiling took 8-13 s per model here (benchmarks/RESULTS.md);
# moving it there cut the cold min ESS/s at 16 distributions from 3.6x to 1.6-1.8x the
# hand-written model's, where at 256 it took the fit from 698 s to 400 s.
REFERENCE_SAVING = 0.3
# The pilot's time is a rough guide (its warm-up, with a step size still small, is half its
# draws), so the saving must repay the compilation this often.
COMPILE_PAYBACK = 2.0
# From this many distributions on, the pilot itself runs in reference-loss coordinates. At 64
# and 256 simulated distributions the pilot in the parameters moved every fit there (the
# saving repaid a second compilation several times over), and at 256 that pilot, at 255
# leapfrog steps per draw against 98, was ~75 s of the 400 (benchmarks/RESULTS.md).
REFERENCE_PILOT_DISTRIBUTIONS = 64
# NUTS's target acceptance, chosen from the pilot unless the caller sets it. 0.9 took 15-40%
# fewer leapfrog steps than 0.95 and kept 0 divergences, r_hat <= 1.009 and ESS >= 666 over
# seeds 0-7 on the example, simulated Chinchilla-law runs, lin2024's FLAN and Gigaword curves
# and 16 simulated distributions (on a subset of the example, r_hat 1.010-1.012 in 2 of 8
# seeds, against <= 1.007 at 0.95). On mikami2021, where two fine-tuning sizes leave E and A
# barely pinned in every distribution, it gave r_hat up to 1.42 (ESS 8) and divergences
# (benchmarks/RESULTS.md). So the run keeps 0.95 where the pilot diverged or finds more than
# LOOSE_SHARE of the hierarchy's (distribution, parameter) pairs barely pinned (partial
# centring below LOOSE_CENTRING): 67% on mikami2021 and 33% on FLAN cut at 3e5 examples,
# against 0-4% on the tables above. Large tables keep 0.95 as well, judged by effective
# draws per second of the slowest parameter (the shared alpha), not by wall time: on
# simulated distributions 0.9 gave more of them at 16, 32, 48 and 56 distributions (32: 46-69
# per s against 40-51; 56: 42 with the model reused against 30-32, 124 leapfrog steps per
# draw against 178-193; these fits ran in the parameters' coordinates), fewer at 64 and
# 128, where every fit starts in reference-loss coordinates (REFERENCE_PILOT_DISTRIBUTIONS;
# 64: 32-44 against 49-51; its shorter trajectories, 43 steps against 170, no longer cross
# alpha's direction, whose ESS fell from ~3,000 to ~790 of 4,000 and r_hat rose to 1.008),
# and at 256 it made trajectories longer (249 and 261 against 97). So it stops where those
# coordinates start; from 64 on a fit takes ~2x the wall time of 0.9 for ~4x alpha's
# effective draws.
TARGET_ACCEPT_PINNED = 0.9
TARGET_ACCEPT_LOOSE = 0.95
LOOSE_CENTRING = 0.1
LOOSE_SHARE = 0.1
PINNED_MAX_DISTRIBUTIONS = REFERENCE_PILOT_DISTRIBUTIONS - 1
# Draws kept per chain, by default. Where the pilot finds the runs loose (as above), the
# posterior's ridges leave the slowest parameters ~500 effective draws in 4,000, and r_hat,
# an estimate with noise of that order, went over 1.01 in 2 of 8 seeds on mikami2021 at
# 1,000 draws (1.012-1.013, G and E of two distributions) and in none at 2,000 (r_hat
# 1.003-1.006, min ESS 858-1,349; benchmarks/RESULTS.md). So a loose table keeps twice the
# draws: its run takes twice as long, where a fit that warns would send the user to rerun it.
DEFAULT_DRAWS = 1000
LOOSE_DRAWS = 2000
COMPILE_SECONDS = 10.0  # a guess of one compilation's cost where none was timed in this process
POINTWISE_BLOCK = 500_000  # values of the pointwise log likelihood computed at once
FORMAT_VERSION = 1

# Compiled nutpie models by (spec, data shape); see the module docstring.
_COMPILED: dict[tuple, Any] = {}


@dataclass
class Fit:
    """A fitted model: the ArviZ DataTree plus what prediction needs.

    ``idata`` holds the groups ``posterior`` (parameters in normalised units),
    ``sample_stats``, ``log_likelihood``, ``observed_data``, ``constant_data`` and ``runs``
    (the validated input table, every column kept).
    """

    idata: xr.DataTree
    spec: ModelSpec
    normalisation: Normalisation
    distributions: tuple[str, ...]
    units: str = "tokens"  # what the input columns count
    loss_unit: str = "nats/token"  # what the loss measures
    diagnostics: Diagnostics | None = field(default=None)
    discrepancy: Discrepancy = field(default_factory=Discrepancy)  # how wrong the law may be past the data

    @property
    def law(self):
        return self.spec.law

    @property
    def runs(self) -> pd.DataFrame:
        """The input table as validated (all columns, original order)."""
        return self.idata["runs"].to_dataset().to_dataframe().reset_index(drop=True)

    def parameters(self, units: Literal["raw", "normalised"] = "raw") -> xr.Dataset:
        """Posterior draws of every law parameter, dims (chain, draw, distribution).

        Shared parameters are broadcast over distributions. ``raw`` gives the units of the
        law as written (token counts as in the data); ``normalised`` the sampler's units.
        """
        post = self.idata.posterior.to_dataset()
        dist = xr.DataArray(list(self.distributions), dims=DISTRIBUTION)
        values = {}
        for name in self.law.parameters:
            value = post[name]
            if DISTRIBUTION not in value.dims:
                value = value.expand_dims({DISTRIBUTION: dist}, axis=-1)
            values[name] = value.assign_coords({DISTRIBUTION: dist})
        if units == "raw":
            values = self.law.to_raw_units(values, self.normalisation.log_refs)
        return xr.Dataset(values)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the whole fit to one netCDF file, atomically (no half-written file)."""
        tree = self.idata.copy()
        tree.attrs.update(
            {
                "bayes_scaling_format": FORMAT_VERSION,
                "spec": self.spec.to_json(),
                "log_refs": json.dumps(self.normalisation.log_refs),
                "distributions": json.dumps(list(self.distributions)),
                "units": self.units,
                "loss_unit": self.loss_unit,
                "discrepancy": json.dumps(self.discrepancy.to_dict()),
                "diagnostics": json.dumps(self.diagnostics.to_dict()) if self.diagnostics else "{}",
            }
        )
        return write_atomically(path, lambda tmp: tree.to_netcdf(tmp, engine="h5netcdf"))

    @classmethod
    def load(cls, path: str | os.PathLike) -> Fit:
        """Read a fit written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise BayesScalingError(f"{path}: no such fit file")
        try:
            with xr.open_datatree(path, engine="h5netcdf") as tree:
                tree = tree.load()
        except Exception as err:  # h5py/netCDF raise many types for a foreign file
            raise BayesScalingError(f"{path}: not a bayes-scaling fit file ({err})") from None
        attrs = tree.attrs
        if "spec" not in attrs:
            raise BayesScalingError(f"{path}: a netCDF file, but not one written by bayes-scaling")
        diag = json.loads(attrs.get("diagnostics", "{}"))
        return cls(
            idata=tree,
            spec=spec_from_json(attrs["spec"]),
            normalisation=Normalisation(json.loads(attrs["log_refs"])),
            distributions=tuple(json.loads(attrs["distributions"])),
            units=attrs.get("units", "tokens"),
            loss_unit=attrs.get("loss_unit", "nats/token"),
            discrepancy=Discrepancy.from_dict(json.loads(attrs.get("discrepancy", "{}"))),
            diagnostics=Diagnostics.from_dict(diag) if diag else None,
        )


def write_atomically(path: str | os.PathLike, write) -> Path:
    """Call ``write(tmp_path)`` then move the result into place; nothing left on failure."""
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise BayesScalingError(f"{path}: folder {path.parent} does not exist")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def _compiled_key(spec: ModelSpec, runs: Runs, weighted: bool) -> tuple:
    """What a compiled model depends on: the spec and the data's shapes, not their values."""
    return (spec.to_json(), runs.n_runs, len(runs.distributions), weighted)


def _is_compiled(spec: ModelSpec, runs: Runs) -> bool:
    """Whether this process already holds the fit's (weighted) compiled model for ``spec``."""
    return _compiled_key(spec, runs, weighted=True) in _COMPILED


def _nutpie_sample(
    model: pm.Model,
    spec: ModelSpec,
    runs: Runs,
    data: Mapping[str, np.ndarray],
    *,
    draws: int,
    tune: int,
    chains: int,
    seed: int,
    progress: bool,
    target_accept: float,
    adaptation: Adaptation,
) -> tuple[xr.DataTree, float]:
    """Posterior draws and the seconds spent compiling (0 when a cached model was reused)."""
    import nutpie

    key = _compiled_key(spec, runs, weighted=RUN_WEIGHT in data)
    compiled = _COMPILED.get(key)
    start = time.perf_counter()
    if compiled is None:
        compiled = nutpie.compile_pymc_model(model, backend="numba", var_names=stored_variables(model))
        _COMPILED[key] = compiled
    compiled = compiled.with_data(**data)
    compile_seconds = time.perf_counter() - start
    tree = nutpie.sample(
        compiled,
        draws=draws,
        tune=tune,
        chains=chains,
        cores=min(chains, os.cpu_count() or 1),
        seed=seed,
        save_warmup=False,
        progress_bar=progress,
        adaptation=adaptation,
        target_accept=target_accept,
    )
    return complete_posterior(tree, spec, data), compile_seconds


def stored_variables(model: pm.Model) -> list[str]:
    """What nutpie stores per draw: the sampled variables and the shared parameters. Each
    distribution's parameters are computed from them afterwards in numpy
    (:func:`complete_posterior`): nutpie compiles a function for what it stores, and with
    the partially centred parameters in it that took 4 s more per process."""
    shared = [v.name for v in model.deterministics if not model.named_vars_to_dims.get(v.name)]
    return [v.name for v in model.free_RVs] + shared


def complete_posterior(tree: xr.DataTree, spec: ModelSpec, data: Mapping[str, np.ndarray]) -> xr.DataTree:
    """Add each distribution's law parameters to a posterior of :func:`stored_variables`."""
    posterior = tree.posterior.to_dataset()
    missing = [n for n in spec.law.parameters if n not in posterior]
    if not missing:
        return tree
    flat = posterior.stack(sample=("chain", "draw")).transpose("sample", ...)
    draws = {name: flat[name].values for name in flat.data_vars}
    shape = (posterior.sizes["chain"], posterior.sizes["draw"], posterior.sizes[DISTRIBUTION])
    values = log_values(spec, draws, data)
    added = {n: (("chain", "draw", DISTRIBUTION), np.exp(values[n]).reshape(shape)) for n in missing}
    tree["posterior"] = xr.DataTree(posterior.assign(added))
    return tree


def fit(
    runs: pd.DataFrame | str | os.PathLike | Runs,
    model: str | os.PathLike | ModelSpec = "transfer_gap",
    *,
    columns: Mapping[str, str] | None = None,
    draws: int | None = None,
    tune: int | None = None,
    chains: int = 4,
    seed: int = 0,
    sampler: Sampler = "nutpie",
    target_accept: float | None = None,
    adaptation: Adaptation = "diag",
    centring_from: Centring = "pilot",
    progress: bool = True,
    units: str | None = None,
    loss_unit: str | None = None,
    warn: bool = True,
) -> Fit:
    """Sample the posterior of a scaling-law model of a run table.

    Parameters
    ----------
    runs
        Run table (DataFrame or CSV path, see :func:`validate_runs`) or validated ``Runs``.
    model
        Shipped model name (``"transfer_gap"``) or path of a TOML spec, or a ``ModelSpec``.
    draws, tune, chains, seed
        NUTS settings; the same seed gives the same draws. ``draws`` (kept per chain)
        defaults to 1000, or 2000 where the pilot finds the runs loose (see LOOSE_DRAWS:
        the slowest parameters then need twice the draws for r_hat <= 1.01). ``tune``
        defaults to the engine's (see DEFAULT_TUNE): 300 with nutpie, 1000 with PyMC's NUTS.
    sampler
        ``"nutpie"`` (default, compiled once) or ``"pymc"``.
    adaptation
        nutpie's mass-matrix adaptation, ``"diag"`` (default) or ``"low_rank"``. Measured
        (benchmarks/RESULTS.md): low-rank takes 4-8x fewer leapfrog steps per draw, but
        its draws are more autocorrelated (on the example across 8 seeds, min bulk ESS
        133-699 against diag's 644-1012, r_hat up to 1.037) and its tuning cost grows
        steeply with the number of parameters (at 64 distributions its 1,000 tuning steps
        alone took longer than the whole diagonal run).
    centring_from
        How each hierarchical parameter is written for the sampler, per distribution:
        ``"pilot"`` (default) sets its partial centring from a short pilot run (2 chains x
        200 + 200 draws, fewer if the run itself is shorter, on the same compiled model),
        centred where the distribution's runs pin it down and non-centred where they say
        little; ``"spec"`` uses the spec's ``centred`` flag as it stands. The pilot also
        picks the coordinates (``fit.spec.coordinates``): a spec in reference-loss ones
        leaves them where a term is barely pinned; a spec in the parameters' own moves to
        reference-loss ones where every term is pinned in every distribution and the
        saving in sampling outweighs compiling a second model (many distributions; from 64
        distributions on the pilot itself runs there, and the fit goes back to the
        parameters only where a term is loose or the pilot diverged); ``"spec"`` keeps the
        spec's. Both are the same model with the same prior. Measured on mikami2021 over seeds 0-7
        (benchmarks/RESULTS.md): 0 divergences with the pilot, 14-34 with the spec's choice.
    target_accept
        NUTS's target acceptance rate. By default the pilot chooses it: 0.9, or 0.95 where
        the pilot diverged or finds many of the law's terms barely pinned by the runs, and
        from 64 distributions on (see TARGET_ACCEPT_PINNED); 0.95 without a pilot
        (``centring_from="spec"``).
    units, loss_unit
        What the inputs count and what the loss measures (defaults ``tokens`` and
        ``nats/token``, or the data set's own for a table from :func:`load_dataset`).
    warn
        Emit a :class:`SamplingWarning` for each diagnostic problem found, and a
        :class:`PriorWarning` where the prior on the law's floor (E) sits above the runs'
        losses (a spec for nats per token fitted to error rates).

    Returns
    -------
    Fit
        Posterior, diagnostics and everything prediction needs; ``Fit.save`` writes it.
    """
    spec = load_spec(model)
    if sampler not in SAMPLERS:
        raise BayesScalingError(f"unknown sampler {sampler!r}; use one of {', '.join(SAMPLERS)}")
    if adaptation not in ADAPTATIONS:
        raise BayesScalingError(f"unknown adaptation {adaptation!r}; use one of {', '.join(ADAPTATIONS)}")
    if centring_from not in CENTRINGS:
        raise BayesScalingError(f"unknown centring_from {centring_from!r}; use one of {', '.join(CENTRINGS)}")
    if tune is None:  # the sampler is known by now
        tune = DEFAULT_TUNE[sampler]
    draws_asked = draws
    if draws is None:  # the pilot may choose more (see LOOSE_DRAWS)
        draws = DEFAULT_DRAWS
    for name, value, least in (("draws", draws, 1), ("tune", tune, 1), ("chains", chains, 1)):
        if int(value) != value or value < least:
            raise BayesScalingError(f"{name} must be a whole number >= {least}, got {value!r}")
    if target_accept is not None and not 0 < target_accept < 1:
        raise BayesScalingError(f"target_accept must lie between 0 and 1 (e.g. 0.95), got {target_accept!r}")
    if not isinstance(runs, Runs):
        runs = validate_runs(
            runs,
            spec.law.inputs,
            columns=columns,
            allow_zero=spec.law.zero_allowed,
            min_runs_per_distribution=spec.min_runs_per_distribution,
            units=units,
            loss_unit=loss_unit,
        )
    if warn and (conflict := check_floor_prior(spec, runs)):
        warnings.warn(conflict, PriorWarning, stacklevel=2)
    normalisation = Normalisation.from_runs(runs, spec.law.inputs)
    # the pilot runs at the safer target; the run's is chosen from what it finds
    target = TARGET_ACCEPT_LOOSE if target_accept is None else target_accept
    settings = {"target_accept": target, "adaptation": adaptation, "sampler": sampler}
    start = time.perf_counter()
    centring: dict[str, np.ndarray] = {}
    pilot_compile_seconds = 0.0
    asked = spec
    if centring_from == "pilot" and _pilot_in_reference(spec, runs):
        spec = dataclasses.replace(spec, coordinates="reference_loss")
    # weighted (all weights 1 here), so the leave-future-out refits reuse its compiled model
    model_ = build_model(spec, runs, normalisation, weighted=True)
    data = _data_of(model_)
    if centring_from == "pilot":
        # never longer than the run it prepares (a quick look with 30 draws gets a 30-draw pilot)
        pilot = {"draws": min(PILOT_DRAWS, draws), "tune": min(PILOT_DRAWS, tune)}
        centring, pilot_compile_seconds, pilot_divergences = _learn_centring(
            model_, spec, runs, data, seed=seed, **pilot, **settings
        )
        pilot_sampling = time.perf_counter() - start - pilot_compile_seconds
        loose = _pilot_found_loose(centring, pilot_divergences)
        if target_accept is None:
            settings["target_accept"] = _target_from_pilot(loose, len(runs.distributions))
        if draws_asked is None and loose:
            draws = LOOSE_DRAWS
        # a large table's pilot already in reference-loss coordinates is judged by the rule
        # for a spec in the parameters' own: it stays only where every term is pinned
        coordinates = _coordinates_from_pilot(asked, centring, pilot_divergences)
        if coordinates != spec.coordinates:
            moved = dataclasses.replace(spec, coordinates=coordinates)
            timing = {"pilot_seconds": pilot_sampling, "pilot_compile_seconds": pilot_compile_seconds}
            length = {"chains": chains, "draws": draws, "tune": tune}
            # back to the parameters always; into reference-loss ones where that repays compiling
            if coordinates == "parameters" or _move_repays_compiling(moved, runs, pilot, **timing, **length):
                spec = moved
                model_ = build_model(spec, runs, normalisation, weighted=True)
                data = _data_of(model_)
        wanted = {centring_name(n) for n in centred_parameters(spec, len(runs.distributions))}
        centring = {k: v for k, v in centring.items() if k in wanted}
        data = {**data, **centring}
    idata, compile_seconds = _sample(
        model_,
        spec,
        runs,
        data,
        draws=draws,
        tune=tune,
        chains=chains,
        seed=seed,
        progress=progress,
        **settings,
    )
    compile_seconds += pilot_compile_seconds
    used = adaptation if sampler == "nutpie" else "pymc"
    idata = _attach_data(idata, model_, runs, spec)
    idata = _add_integrated_mu(idata, spec, seed)
    hierarchical = centred_parameters(spec, len(runs.distributions))
    if hierarchical:  # the coordinates the draws were made in, for the curious and for refits
        idata["centring"] = xr.DataTree(
            xr.Dataset(
                {name: (DISTRIBUTION, data[centring_name(name)]) for name in hierarchical},
                coords={DISTRIBUTION: list(runs.distributions)},
            )
        )
    discrepancy = Discrepancy(note="not learned: the spec's [discrepancy] method is 'none'")
    if spec.discrepancy.method == "leave_future_out":
        # like the pilot, never longer than the run itself: a quick look gets quick refits
        how = spec.discrepancy
        length = {
            "draws": min(how.draws, draws),
            "tune": min(how.tune, tune),
            "chains": min(how.chains, chains),
        }
        discrepancy = _learn_discrepancy(model_, spec, runs, centring, seed=seed, **length, **settings)
    # wall time of the whole fit: compilation, sampling and the leave-future-out refits
    elapsed = time.perf_counter() - start

    diagnostics = check_sampling(
        idata,
        spec,
        elapsed_seconds=elapsed,
        warn=warn,
        compile_seconds=compile_seconds,
        adaptation=used,
        target_accept=settings["target_accept"],
        tune=tune,
        centring_from=centring_from,
    )
    return Fit(
        idata=idata,
        spec=spec,
        normalisation=normalisation,
        distributions=runs.distributions,
        units=runs.units,
        loss_unit=runs.loss_unit,
        diagnostics=diagnostics,
        discrepancy=discrepancy,
    )


def _data_of(model: pm.Model) -> dict[str, np.ndarray]:
    """The values of every ``pm.Data`` of ``model``, by name (what nutpie's ``with_data`` takes)."""
    return {v.name: v.get_value() for v in model.data_vars}


def _sample(
    model: pm.Model,
    spec: ModelSpec,
    runs: Runs,
    data: Mapping[str, np.ndarray],
    *,
    sampler: Sampler,
    **options,
) -> tuple[xr.DataTree, float]:
    """Posterior draws of ``model`` given ``data`` and the seconds spent compiling.

    ``options``: draws, tune, chains, seed, progress, target_accept, adaptation.
    """
    if sampler == "nutpie":
        return _nutpie_sample(model, spec, runs, data, **options)
    with model:
        pm.set_data(data)
        idata = pm.sample(
            draws=options["draws"],
            tune=options["tune"],
            chains=options["chains"],
            random_seed=options["seed"],
            nuts_sampler="pymc",
            progressbar=options["progress"],
            target_accept=options["target_accept"],
            compute_convergence_checks=False,
        )
    return idata, 0.0


def _coordinates_from_pilot(spec: ModelSpec, centring: Mapping[str, np.ndarray], divergences: int) -> str:
    """The coordinates to sample in, from the pilot run (made in the spec's coordinates).

    Reference-loss coordinates write each of the law's terms centred: they suit terms the
    runs pin down in every distribution, and put a funnel where they do not."""
    terms = spec.law.reference_terms.parameters if spec.law.reference_terms else ()
    if not terms:
        return spec.coordinates
    values = [centring.get(centring_name(name)) for name in terms]
    if spec.coordinates == "reference_loss":
        loose = any(v is not None and v.mean() < MIN_TERM_CENTRING for v in values)
        # the runs barely pin a term down, or centred terms already diverge in the pilot
        return "parameters" if loose or divergences else "reference_loss"
    pinned = all(v is not None and v.min() >= MIN_TERM_CENTRING_TO_SWITCH for v in values)
    return "reference_loss" if pinned and not divergences else "parameters"


def _pilot_found_loose(centring: Mapping[str, np.ndarray], divergences: int) -> bool:
    """Whether the pilot diverged or found more than LOOSE_SHARE of the hierarchy's
    (distribution, parameter) pairs barely pinned by the runs (partial centring below
    LOOSE_CENTRING): a posterior with ridges, which gets the higher target and more draws."""
    values = np.concatenate([np.ravel(v) for v in centring.values()]) if centring else np.zeros(0)
    share = float(np.mean(values < LOOSE_CENTRING)) if values.size else 0.0
    return bool(divergences) or share > LOOSE_SHARE


def _target_from_pilot(loose: bool, n_distributions: int) -> float:
    """The run's target acceptance (see TARGET_ACCEPT_PINNED): the lower one where the pilot
    found the runs pinned and the table is not large."""
    pinned = not loose and n_distributions <= PINNED_MAX_DISTRIBUTIONS
    return TARGET_ACCEPT_PINNED if pinned else TARGET_ACCEPT_LOOSE


def _pilot_in_reference(spec: ModelSpec, runs: Runs) -> bool:
    """Whether the pilot of a spec in the parameters' own coordinates runs in reference-loss
    ones instead: on a table so large (see REFERENCE_PILOT_DISTRIBUTIONS) that the fit moves
    there whenever the runs pin every term, so a pilot in the parameters would cost a second
    compilation and its own ~2.5x the leapfrog steps for nothing."""
    return (
        spec.coordinates == "parameters"
        and spec.law.reference_terms is not None
        and len(runs.distributions) >= REFERENCE_PILOT_DISTRIBUTIONS
    )


def _move_repays_compiling(
    reference: ModelSpec,
    runs: Runs,
    pilot: Mapping[str, int],
    pilot_seconds: float,
    pilot_compile_seconds: float,
    *,
    chains: int,
    draws: int,
    tune: int,
) -> bool:
    """Whether sampling in ``reference``'s coordinates saves more than compiling its model costs
    (see REFERENCE_SAVING): the run's time in the parameters is estimated from the pilot's."""
    cores = os.cpu_count() or 1
    rounds = (chains * (draws + tune) / min(chains, cores)) / (
        PILOT_CHAINS * sum(pilot.values()) / min(PILOT_CHAINS, cores)
    )
    # (a pilot on a model compiled earlier in this process timed only its lookup)
    compiling = 0.0 if _is_compiled(reference, runs) else max(pilot_compile_seconds, COMPILE_SECONDS)
    return REFERENCE_SAVING * pilot_seconds * rounds >= COMPILE_PAYBACK * compiling


def _learn_centring(
    model: pm.Model,
    spec: ModelSpec,
    runs: Runs,
    data: Mapping[str, np.ndarray],
    *,
    draws: int,
    tune: int,
    seed: int,
    **settings,
) -> tuple[dict[str, np.ndarray], float, int]:
    """Centring of each hierarchical parameter per distribution (see
    :func:`model.partial_centring`) from a short pilot run in the spec's parameterisation,
    on the same compiled model; the seconds spent compiling it; the pilot's divergences."""
    # every hierarchical parameter with a sampled mu, including those the reference-loss
    # coordinates write centred: their centring says whether those coordinates suit the data
    hierarchical = hierarchical_with_mu(spec, len(runs.distributions))
    if not hierarchical:
        return {}, 0.0, 0
    idata, compile_seconds = _sample(
        model, spec, runs, data, draws=draws, tune=tune, chains=PILOT_CHAINS,
        seed=seed + PILOT_SEED_OFFSET, progress=False, **settings,
    )  # fmt: skip
    posterior = idata.posterior.to_dataset()
    centring = {}
    for name in hierarchical:
        variance = np.log(posterior[name]).var(dim=("chain", "draw")).values
        tau_squared = float((posterior[f"{name}_tau"] ** 2).mean())
        centring[centring_name(name)] = partial_centring(variance, tau_squared)
    stats = idata.sample_stats.to_dataset()
    divergences = int(stats["diverging"].sum()) if "diverging" in stats else 0
    return centring, compile_seconds, divergences


def _add_integrated_mu(idata: xr.DataTree, spec: ModelSpec, seed: int) -> xr.DataTree:
    """Put back mu for the hierarchical parameters it was integrated out of (one
    distribution), drawn from its exact conditional, so the posterior reads as the spec's."""
    posterior = idata.posterior.to_dataset()
    n_distributions = posterior.sizes.get(DISTRIBUTION, 1)
    rng = np.random.default_rng([seed, 0x6D75])
    added = {}
    for p in spec.parameters.values():
        if mu_integrated_out(p, n_distributions):
            log_value = np.log(posterior[p.name].isel({DISTRIBUTION: 0}))
            mu = draw_integrated_mu(p, log_value.values, posterior[f"{p.name}_tau"].values, rng)
            added[f"{p.name}_mu"] = (("chain", "draw"), mu)
    if added:
        idata["posterior"] = xr.DataTree(posterior.assign(added))
    return idata


def _learn_discrepancy(
    model: pm.Model,
    spec: ModelSpec,
    runs: Runs,
    centring: Mapping[str, np.ndarray],
    *,
    draws: int,
    tune: int,
    chains: int,
    seed: int,
    **settings,
) -> Discrepancy:
    """Leave-future-out refits within the runs (see :mod:`discrepancy`): for each input, drop
    every distribution's largest levels of it (weight 0 in the weighted ``model``, compiled
    once for all the cuts), predict the dropped runs, and learn that input's discrepancy
    scale from their errors and their distances along it, each tested at the 5% level shared
    between the inputs (see :func:`discrepancy.gain_threshold`)."""
    inputs = spec.law.inputs
    data = {**_data_of(model), **centring}
    cuts = leave_future_out_cuts(runs.table, inputs, max(spec.min_runs_per_distribution, 2))
    if not cuts:
        return Discrepancy(
            note=f"not learned: no distribution has {MIN_LEVELS}+ distinct values of any input "
            f"({', '.join(inputs)}); bands past the data count parameters and noise only"
        )
    threshold = gain_threshold(len(cuts))
    scales, gains = {}, {}
    for k, (column, held) in enumerate(cuts.items()):
        subset = {**data, RUN_WEIGHT: (~held).astype(float)}
        idata, _ = _sample(
            model, spec, runs, subset, draws=draws, tune=tune, chains=chains,
            seed=seed + 1 + k, progress=False, **settings,
        )  # fmt: skip
        posterior = idata.posterior.to_dataset()
        log_inputs = [data[f"log_{name}"][held] for name in inputs]
        index = runs.distribution_index[held]
        params = {}
        for name in spec.law.parameters:
            value = posterior[name].stack(sample=("chain", "draw")).transpose("sample", ...).values
            params[name] = value[:, index] if value.ndim == 2 else value[:, None]
        mean = spec.law.log_loss(*[x[None, :] for x in log_inputs], **params)  # (S, held)
        sigma = posterior["sigma"].stack(sample=("chain", "draw")).transpose("sample", ...).values
        sigma = sigma[:, index] if sigma.ndim == 2 else sigma[:, None]
        noise = (sigma**2).mean(axis=0) * spec.likelihood.nu / (spec.likelihood.nu - 2)
        residual = data[f"{OBSERVED}_observed"][held] - mean.mean(axis=0)
        ranges = fitted_ranges(runs.table[~held], inputs)
        along = distances_beyond(runs.table[held], ranges, inputs)[:, inputs.index(column)]
        scales[column], gains[column] = learn_scale(
            residual, mean.var(axis=0) + noise, along, spec.likelihood.nu, threshold
        )
    return Discrepancy(
        scales=scales,
        log_likelihood_gains=gains,
        heldout_runs=int(sum(h.sum() for h in cuts.values())),
        cuts=tuple(cuts),
        threshold=threshold,
    )


def _attach_data(idata: xr.DataTree, model: pm.Model, runs: Runs, spec: ModelSpec) -> xr.DataTree:
    """Add observed and constant data, the pointwise log likelihood and the run table."""
    keep = [g for g in ("posterior", "sample_stats") if g in idata.children]
    tree = xr.DataTree.from_dict({g: idata[g].to_dataset() for g in keep})
    # a cached compiled model carries the labels of the data it was compiled with
    tree["posterior"] = tree.posterior.to_dataset().assign_coords({DISTRIBUTION: list(runs.distributions)})
    coords = {RUN: np.arange(runs.n_runs)}
    tree["observed_data"] = xr.DataTree(
        xr.Dataset({OBSERVED: (RUN, model[f"{OBSERVED}_observed"].get_value())}, coords=coords)
    )
    tree["constant_data"] = xr.DataTree(
        xr.Dataset(
            {
                v.name: (RUN, v.get_value())
                for v in model.data_vars
                if v.name not in (f"{OBSERVED}_observed", RUN_WEIGHT)
                and model.named_vars_to_dims.get(v.name) == (RUN,)
            },
            coords=coords,
        )
    )
    tree["log_likelihood"] = xr.DataTree(
        xr.Dataset(
            {
                OBSERVED: pointwise_log_likelihood(
                    tree.posterior.to_dataset(),
                    tree.constant_data.to_dataset(),
                    tree.observed_data[OBSERVED],
                    spec,
                )
            }
        )
    )
    table = runs.table.copy()
    for column in table.columns:
        if table[column].dtype == object or str(table[column].dtype) in ("string", "str"):
            table[column] = table[column].astype(str)
    tree["runs"] = xr.DataTree(xr.Dataset.from_dataframe(table.rename_axis(RUN)))
    return tree


def pointwise_log_likelihood(
    posterior: xr.Dataset, constant_data: xr.Dataset, observed: xr.DataArray, spec: ModelSpec
) -> xr.DataArray:
    """log p(log loss of each run | draw), dims (chain, draw, run), for PSIS-LOO.

    The same likelihood as the model (Student-t on log loss around the law), evaluated in
    numpy from the law's one formula: no second PyTensor compilation after sampling.
    """
    index = constant_data["distribution_index"].values.astype(int)
    shape = (posterior.sizes["chain"], posterior.sizes["draw"])
    draws = {}
    for name in (*spec.law.parameters, "sigma"):  # (sample, distribution) or (sample, 1)
        value = posterior[name].transpose("chain", "draw", ...).values
        draws[name] = value.reshape(shape[0] * shape[1], -1)
    per_distribution = {name for name in draws if DISTRIBUTION in posterior[name].dims}
    inputs = [constant_data[f"log_{name}"].values for name in spec.law.inputs]
    log_density = np.empty((shape[0] * shape[1], len(index)))
    # In blocks of draws that stay in the processor's cache: at 7,680 runs x 4,000 draws the
    # whole array at once took 4x as long (the memory traffic of each elementwise step).
    block = max(1, POINTWISE_BLOCK // len(index))
    for start in range(0, len(log_density), block):
        part = slice(start, start + block)
        per_run = {k: v[part][:, index] if k in per_distribution else v[part] for k, v in draws.items()}
        sigma = per_run.pop("sigma")
        mean = spec.law.log_loss(*inputs, **per_run)
        log_density[part] = spec.likelihood.log_density(observed.values, mean, sigma)
    return xr.DataArray(
        log_density.reshape(*shape, len(index)),
        dims=("chain", "draw", RUN),
        coords={"chain": posterior.chain, "draw": posterior.draw},
    )


def prior_predictive(
    runs: pd.DataFrame | str | os.PathLike,
    model: str | os.PathLike | ModelSpec = "transfer_gap",
    *,
    draws: int = 500,
    seed: int = 0,
    span: float = 100.0,
    points: int = 30,
    columns: Mapping[str, str] | None = None,
) -> xr.Dataset:
    """Loss curves drawn from the prior, before the losses are seen (nats/token).

    Parameters are drawn from the spec's priors (for the first distribution of the runs);
    the law is evaluated along its curve input from ``1/span`` x the smallest to ``span`` x
    the largest value in the runs, the other inputs at their geometric means. Returns a
    Dataset with ``loss`` (sample, point) and the input columns (point,).
    """
    spec = load_spec(model)
    valid = validate_runs(runs, spec.law.inputs, columns=columns, allow_zero=spec.law.zero_allowed)
    normalisation = Normalisation.from_runs(valid, spec.law.inputs)
    # the same prior in either coordinates; only the parameters' own can be drawn forward
    natural = dataclasses.replace(spec, coordinates="parameters")
    with build_model(natural, valid, normalisation):
        prior = pm.sample_prior_predictive(draws=draws, random_seed=seed, var_names=list(spec.law.parameters))
    prior = prior["prior"].to_dataset()
    x = spec.law.x_input
    values = valid.column(x)
    inputs = {}
    for name in spec.law.inputs:
        if name == x:
            positive = values[values > 0]
            inputs[name] = np.geomspace(positive.min() / span, positive.max() * span, points)
        else:
            inputs[name] = np.full(points, np.exp(normalisation.log_refs[name]))
    params = {}
    for name in spec.law.parameters:
        value = prior[name].stack(sample=("chain", "draw")).transpose("sample", ...).values
        params[name] = (value[:, 0] if value.ndim == 2 else value)[:, None]
    log_inputs = [v[None, :] for v in normalisation.log_inputs(inputs)]
    loss = spec.law.loss(*log_inputs, **params)
    return xr.Dataset({"loss": (("sample", "point"), loss), **{k: ("point", v) for k, v in inputs.items()}})
