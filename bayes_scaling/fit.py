"""Fitting, the pipeline: validate the runs, plan and sample, attach the data, learn the
law's discrepancy past the data, diagnose, and return a :class:`Fit` that saves to one file.

How the sampler is set up (pilot, centring, coordinates, target acceptance, draws) is
:mod:`sampling`; the compiled models and the NUTS engines are :mod:`engine`; the
leave-future-out refits are :mod:`discrepancy`.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import tempfile
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from . import sampling
from .data import BayesScalingError, Runs, validate_runs
from .diagnostics import Diagnostics, PriorWarning, SamplingWarning, check_floor_prior, check_sampling
from .discrepancy import Discrepancy, fitted_ranges, learn_discrepancy
from .engine import ADAPTATIONS, SAMPLERS, Adaptation, Sampler
from .model import (
    DISTRIBUTION,
    OBSERVED,
    RUN,
    Normalisation,
    build_model,
    centred_parameters,
    centring_name,
    model_data,
    run_data,
)
from .sampling import DEFAULT_TUNE
from .spec import ModelSpec, load_spec, spec_from_json

Centring = Literal["pilot", "spec"]
CENTRINGS = ("pilot", "spec")
POINTWISE_BLOCK = 500_000  # values of the pointwise log likelihood computed at once
FORMAT_VERSION = 1


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

    @functools.cached_property
    def fitted_ranges(self) -> pd.DataFrame:
        """Each distribution's range of the runs along every direction, and all runs' (``*``):
        what distances past the data are measured from (:func:`discrepancy.fitted_ranges`).
        Kept once made: ranking asks for it once per distribution."""
        return fitted_ranges(self.runs, self.law.inputs)

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
        defaults to 1000, or 2000 where the pilot finds the runs loose (the slowest
        parameters then need twice the draws for r_hat <= 1.01). Where neither ``draws``
        nor ``target_accept`` is given and the run fails its checks (a divergence, r_hat
        over 1.01, bulk ESS under 400), it is run once more as a loose table's (target
        0.95, 2,000 draws), and ``fit.diagnostics.rerun`` says why. ``tune`` defaults to the
        engine's: 300 with nutpie, 1000 with PyMC's NUTS (see :mod:`sampling`).
    sampler
        ``"nutpie"`` (default, compiled once per process and distribution bucket, see
        :mod:`engine`) or ``"pymc"``.
    adaptation
        nutpie's mass-matrix adaptation, ``"diag"`` (default) or ``"low_rank"`` (4-8x
        fewer leapfrog steps per draw, but more autocorrelated draws and a tuning cost
        that grows steeply with the number of parameters; benchmarks/RESULTS.md).
    centring_from
        ``"pilot"`` (default): a short pilot run on the same compiled model sets each
        hierarchical parameter's partial centring per distribution (centred where the
        runs pin it down, non-centred where they say little), the coordinates
        (``fit.spec.coordinates``), the target acceptance and the draws (see
        :mod:`sampling`). ``"spec"``: the spec's ``centred`` flags and coordinates as they
        stand. Both are the same model with the same prior; on mikami2021 the pilot left
        0 divergences over seeds 0-7, the spec's choice 14-34.
    target_accept
        NUTS's target acceptance rate. By default the pilot chooses it: 0.9, or 0.95 where
        the pilot diverged or finds many of the law's terms barely pinned by the runs, and
        from 64 distributions on; 0.95 without a pilot (``centring_from="spec"``).
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
    _check_settings(sampler, adaptation, centring_from, draws, tune, chains, target_accept)
    tune = DEFAULT_TUNE[sampler] if tune is None else tune
    if not isinstance(runs, Runs):
        runs = validate_runs(
            runs, spec.law.inputs, columns=columns, allow_zero=spec.law.zero_allowed,
            min_runs_per_distribution=spec.min_runs_per_distribution, units=units, loss_unit=loss_unit,
        )  # fmt: skip
    if warn and (conflict := check_floor_prior(spec, runs)):
        warnings.warn(conflict, PriorWarning, stacklevel=2)
    normalisation = Normalisation.from_runs(runs, spec.law.inputs)
    engine_settings = {"sampler": sampler, "adaptation": adaptation}
    length = {"tune": tune, "chains": chains, "seed": seed}
    start = time.perf_counter()
    chosen = sampling.plan(
        spec, runs, normalisation, draws=draws, target_accept=target_accept, centring_from=centring_from,
        **length, **engine_settings,
    )  # fmt: skip
    checks = {
        "warn": False, "adaptation": adaptation if sampler == "nutpie" else "pymc", "tune": tune,
        "centring_from": centring_from,
    }  # fmt: skip
    idata, compile_seconds = sampling.run(
        chosen, runs, normalisation, progress=progress, **length, **engine_settings
    )
    diagnostics = check_sampling(
        idata, chosen.spec, elapsed_seconds=0.0, target_accept=chosen.target_accept, **checks
    )
    rerun = sampling.rerun_plan(chosen, diagnostics) if draws is None and target_accept is None else None
    if rerun is not None:  # the pilot's settings failed: once more as a loose table's
        why = (
            f"run again at target {rerun.target_accept:g} with {rerun.draws} draws: the first run "
            f"(target {chosen.target_accept:g}, {chosen.draws} draws) had {diagnostics.divergences} "
            f"divergent transitions, r_hat {diagnostics.max_rhat:.3f}, "
            f"bulk ESS {diagnostics.min_ess_bulk:.0f}"
        )
        chosen = rerun
        rerun_length = length | {"seed": seed + sampling.RERUN_SEED_OFFSET}
        idata, _ = sampling.run(
            chosen, runs, normalisation, progress=progress, **rerun_length, **engine_settings
        )
        diagnostics = check_sampling(
            idata, chosen.spec, elapsed_seconds=0.0, target_accept=chosen.target_accept, **checks
        )
        diagnostics.rerun = why
    idata = _attach_data(idata, runs, chosen, normalisation)
    discrepancy = _discrepancy(
        chosen, runs, normalisation, idata.posterior.to_dataset(), progress=progress, **length,
        **engine_settings,
    )  # fmt: skip
    # compiling, the pilot, sampling (both runs) and the refits
    diagnostics.seconds = time.perf_counter() - start
    diagnostics.compile_seconds = compile_seconds
    if warn:
        for problem in diagnostics.problems:
            warnings.warn(f"{chosen.spec.name}: {problem}", SamplingWarning, stacklevel=2)
    return Fit(
        idata=idata,
        spec=chosen.spec,
        normalisation=normalisation,
        distributions=runs.distributions,
        units=runs.units,
        loss_unit=runs.loss_unit,
        diagnostics=diagnostics,
        discrepancy=discrepancy,
    )


def _check_settings(sampler, adaptation, centring_from, draws, tune, chains, target_accept) -> None:
    """One clear error for a sampler setting out of its range."""
    for name, value, allowed in (
        ("sampler", sampler, SAMPLERS),
        ("adaptation", adaptation, ADAPTATIONS),
        ("centring_from", centring_from, CENTRINGS),
    ):
        if value not in allowed:
            raise BayesScalingError(f"unknown {name} {value!r}; use one of {', '.join(allowed)}")
    for name, value in (("draws", draws), ("tune", tune), ("chains", chains)):
        if value is not None and (int(value) != value or value < 1):
            raise BayesScalingError(f"{name} must be a whole number >= 1, got {value!r}")
    if target_accept is not None and not 0 < target_accept < 1:
        raise BayesScalingError(f"target_accept must lie between 0 and 1 (e.g. 0.95), got {target_accept!r}")


def _discrepancy(
    chosen: sampling.Plan, runs: Runs, normalisation: Normalisation, posterior: xr.Dataset, **settings
) -> Discrepancy:
    """The law's discrepancy past the data, learned as the spec's ``[discrepancy]`` says."""
    how = chosen.spec.discrepancy
    if how.method != "leave_future_out":
        return Discrepancy(note="not learned: the spec's [discrepancy] method is 'none'")
    # like the pilot, never longer than the run itself: a quick look gets quick refits
    for name in ("tune", "chains"):
        settings[name] = min(getattr(how, name), settings[name])
    if how.adaptation is not None and settings.get("sampler") == "nutpie":
        settings["adaptation"] = how.adaptation
    return learn_discrepancy(
        chosen.spec, runs, normalisation, chosen.centring, draws=min(how.draws, chosen.draws),
        target_accept=chosen.target_accept, posterior=posterior, **settings,
    )  # fmt: skip


def _attach_data(
    idata: xr.DataTree, runs: Runs, chosen: sampling.Plan, normalisation: Normalisation
) -> xr.DataTree:
    """Add observed and constant data, the pointwise log likelihood, the run table and the
    centring the draws were made in."""
    spec = chosen.spec
    keep = [g for g in ("posterior", "sample_stats") if g in idata.children]
    tree = xr.DataTree.from_dict({g: idata[g].to_dataset() for g in keep})
    data = run_data(spec, runs, normalisation)
    observed = data.pop(f"{OBSERVED}_observed")
    coords = {RUN: np.arange(runs.n_runs)}
    tree["observed_data"] = xr.DataTree(xr.Dataset({OBSERVED: (RUN, observed)}, coords=coords))
    tree["constant_data"] = xr.DataTree(xr.Dataset({k: (RUN, v) for k, v in data.items()}, coords=coords))
    log_likelihood = pointwise_log_likelihood(
        tree.posterior.to_dataset(), tree.constant_data.to_dataset(), tree.observed_data[OBSERVED], spec
    )
    tree["log_likelihood"] = xr.DataTree(xr.Dataset({OBSERVED: log_likelihood}))
    table = runs.table.copy()
    for column in table.columns:
        if table[column].dtype == object or str(table[column].dtype) in ("string", "str"):
            table[column] = table[column].astype(str)
    tree["runs"] = xr.DataTree(xr.Dataset.from_dataframe(table.rename_axis(RUN)))
    centred = centred_parameters(spec, len(runs.distributions))
    if centred:  # the coordinates the draws were made in, for the curious and for refits
        used = model_data(spec, runs, normalisation, centring=chosen.centring)  # the spec's where none given
        centring = {name: (DISTRIBUTION, used[centring_name(name)]) for name in centred}
        tree["centring"] = xr.DataTree(xr.Dataset(centring, coords={DISTRIBUTION: list(runs.distributions)}))
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
