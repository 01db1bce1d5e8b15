"""A compiled model, and the cache that holds compiled models.

Compiling a model with nutpie costs ~9-13 s per process (most of it numba compiling nutpie's
logp callback, which no disk cache reaches), most of a small fit's time. A compiled model
takes new data of any number of runs (its data are not frozen into it), but its number of
distributions is the number of its parameters. So a table's distributions are padded up to
a bucket (:func:`padded_distributions`) with distributions that have no runs: they sample
their prior, and their draws are dropped. :class:`ModelCache` keeps one compiled model per
spec graph and bucket; any later table of that bucket (a distribution dropped, runs added,
the runs a backtest keeps, a leave-future-out refit) only swaps the data.

Every model is compiled from a template table (:func:`template_runs`), never from the first
table seen, so the same table and seed give the same draws whether the cache was empty or
full: the cache changes the time a fit takes, never its draws, and no policy reads it.
PyMC's own NUTS is the alternative engine (it builds and compiles on every call).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from ..data import DISTRIBUTION, Runs, validate_runs
from ..model import (
    PADDING_LABEL,
    Normalisation,
    build_model,
    draw_integrated_mu,
    log_values,
    model_data,
    mu_integrated_out,
)
from ..spec import ModelSpec
from .settings import SamplerConfig

# Distributions pad to the next power of two up to this many (2, 4, 8, 16); one stays one
# (its population mean is integrated out) and larger tables are not padded: where a fit
# takes a minute or more, a second compilation costs less than padding (decision record
# "Padding").
PADDED_DISTRIBUTIONS_MAX = 16
INTEGRATED_MU_STREAM = 0x6D75  # the random stream mu is drawn from where it was integrated out


def padded_distributions(n_distributions: int, most: int = PADDED_DISTRIBUTIONS_MAX) -> int:
    """The number of distributions the model of a table of ``n_distributions`` is built for
    (padded up to ``most``)."""
    if 1 < n_distributions <= most:
        return 1 << (n_distributions - 1).bit_length()
    return n_distributions


def model_key(spec: ModelSpec, distributions: int) -> tuple[str, int]:
    """What a compiled model depends on: the law, the priors, pooling and centring flags, the
    likelihood, the coordinates and the number of distributions; not the spec's name, texts,
    discrepancy or sampling settings, so specs differing only there share one model."""
    plain = spec.to_dict()
    graph = {key: plain[key] for key in ("law", "likelihood", "coordinates")}
    graph["parameters"] = {
        name: {k: v for k, v in entry.items() if k != "why"} for name, entry in plain["parameters"].items()
    }
    return json.dumps(graph, sort_keys=True), distributions


def template_runs(spec: ModelSpec, distributions: int) -> Runs:
    """The table a model is compiled from: one run per distribution at inputs 1, loss 1.

    A compiled model's initial point comes from the data it was compiled with (a partially
    centred parameter starts at its centring times mu): compiled from the first table seen,
    the same table and seed drew differently after another table than after itself."""
    labels = [PADDING_LABEL.format(i) for i in range(distributions)]
    table = pd.DataFrame({DISTRIBUTION: labels, **{name: 1.0 for name in spec.law.inputs}, "loss": 1.0})
    return validate_runs(table, spec.law.inputs, allow_zero=spec.law.zero_allowed)


def stored_variables(model: pm.Model) -> list[str]:
    """What nutpie stores per draw: the sampled variables and the shared parameters. Each
    distribution's parameters are computed from them afterwards in numpy
    (:meth:`CompiledModel.complete`): with them stored, nutpie compiled 4 s more per process."""
    shared = [v.name for v in model.deterministics if not model.named_vars_to_dims.get(v.name)]
    return [v.name for v in model.free_RVs] + shared


@dataclass
class CompiledModel:
    """The model of one spec for one bucket of distributions, compiled once.

    :meth:`sample` swaps in a table's data (padding it to the bucket), samples, and
    :meth:`complete` returns the posterior as the spec reads it: each distribution's law
    parameters, the table's distributions only, labelled, and mu drawn back where it was
    integrated out.
    """

    spec: ModelSpec
    distributions: int
    sampler: str = "nutpie"
    compile_seconds: float = 0.0  # what building this object cost (0 for PyMC's engine)
    _nutpie_model: Any = field(default=None, repr=False)
    # told of each call of sample_each: (this model, the config, draws per chain, the trees)
    on_sample: Callable[[CompiledModel, SamplerConfig, int, list[xr.DataTree]], None] | None = field(
        default=None, repr=False, compare=False
    )

    @classmethod
    def build(cls, spec: ModelSpec, distributions: int, sampler: str = "nutpie") -> CompiledModel:
        if sampler != "nutpie":  # PyMC's NUTS compiles inside pm.sample, each call
            return cls(spec, distributions, sampler)
        import nutpie

        start = time.perf_counter()
        model = build_model(spec, template_runs(spec, distributions), weighted=True)
        compiled = nutpie.compile_pymc_model(model, backend="numba", var_names=stored_variables(model))
        return cls(spec, distributions, sampler, time.perf_counter() - start, compiled)

    def data(
        self,
        runs: Runs,
        normalisation: Normalisation,
        centring: Mapping[str, np.ndarray] | None = None,
        run_weight: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """The model's data for ``runs``, padded to this model's distributions."""
        return model_data(
            self.spec, runs, normalisation, self.distributions, centring=centring, run_weight=run_weight
        )

    def sample(
        self,
        runs: Runs,
        normalisation: Normalisation,
        config: SamplerConfig,
        *,
        seed: int,
        draws: int,
        target_accept: float,
        centring: Mapping[str, np.ndarray] | None = None,
        run_weight: np.ndarray | None = None,
        progress: bool | None = None,
    ) -> xr.DataTree:
        """Posterior draws of the model of ``runs`` (see :meth:`complete`)."""
        return self.sample_each(
            runs, normalisation, config, [run_weight], [seed], draws=draws, target_accept=target_accept,
            centring=centring, progress=config.progress if progress is None else progress,
        )[0]  # fmt: skip

    def sample_each(
        self,
        runs: Runs,
        normalisation: Normalisation,
        config: SamplerConfig,
        run_weights: Sequence[np.ndarray | None],
        seeds: Sequence[int],
        *,
        draws: int,
        target_accept: float,
        centring: Mapping[str, np.ndarray] | None = None,
        progress: bool = False,
    ) -> list[xr.DataTree]:
        """Posterior draws under each of ``run_weights`` (one seed each): nutpie runs them side
        by side; each draws exactly what it would draw alone. PyMC's engine runs them in turn."""
        # one run blocks, so that nutpie shows its progress; several start side by side
        blocking = len(seeds) == 1
        started = []
        for weight, seed in zip(run_weights, seeds, strict=True):
            data = self.data(runs, normalisation, centring=centring, run_weight=weight)
            settings = {"draws": draws, "tune": config.tuning, "chains": config.chains, "seed": seed}
            if self.sampler == "nutpie":
                handle = self._nutpie(data, config, target_accept, progress, blocking, **settings)
            else:
                handle = self._pymc(runs, normalisation, data, target_accept, progress, **settings)
            started.append((data, handle))
        trees = [handle if blocking or self.sampler != "nutpie" else handle.wait() for _, handle in started]
        trees = [
            self.complete(tree, data, runs, seed)
            for tree, (data, _), seed in zip(trees, started, seeds, strict=True)
        ]
        if self.on_sample is not None:
            self.on_sample(self, config, draws, trees)
        return trees

    def _nutpie(
        self, data, config: SamplerConfig, target_accept, progress, blocking, *, draws, tune, chains, seed
    ):
        import nutpie

        cores = config.cores or min(chains, os.cpu_count() or 1)
        return nutpie.sample(
            self._nutpie_model.with_data(**data), draws=draws, tune=tune, chains=chains, seed=seed,
            cores=min(cores, chains), save_warmup=False, progress_bar=progress,
            adaptation=config.adaptation, target_accept=target_accept, blocking=blocking,
        )  # fmt: skip

    def _pymc(self, runs, normalisation, data, target_accept, progress, *, draws, tune, chains, seed):
        with build_model(self.spec, runs, normalisation, weighted=True, distributions=self.distributions):
            pm.set_data(data)
            return pm.sample(
                draws=draws, tune=tune, chains=chains, random_seed=seed, nuts_sampler="pymc",
                progressbar=progress, target_accept=target_accept, compute_convergence_checks=False,
            )  # fmt: skip

    def complete(
        self, tree: xr.DataTree, data: Mapping[str, np.ndarray], runs: Runs, seed: int
    ) -> xr.DataTree:
        """The posterior as the spec reads it: each distribution's law parameters computed from
        the sampled variables, the padding distributions dropped, the table's labels, and mu
        drawn from its exact conditional where it was integrated out (one distribution)."""
        posterior = tree.posterior.to_dataset()
        spec = self.spec
        missing = [n for n in spec.law.parameters if n not in posterior]
        if missing:
            flat = posterior.stack(sample=("chain", "draw")).transpose("sample", ...)
            values = log_values(spec, {name: flat[name].values for name in flat.data_vars}, data)
            shape = (posterior.sizes["chain"], posterior.sizes["draw"], posterior.sizes[DISTRIBUTION])
            posterior = posterior.assign(
                {n: (("chain", "draw", DISTRIBUTION), np.exp(values[n]).reshape(shape)) for n in missing}
            )
        labels = list(runs.distributions)
        posterior = posterior.isel({DISTRIBUTION: slice(0, len(labels))}).assign_coords(
            {DISTRIBUTION: labels}
        )
        rng = np.random.default_rng([seed, INTEGRATED_MU_STREAM])
        for p in spec.parameters.values():
            if mu_integrated_out(p, len(labels)):
                log_value = np.log(posterior[p.name].isel({DISTRIBUTION: 0}))
                mu = draw_integrated_mu(p, log_value.values, posterior[f"{p.name}_tau"].values, rng)
                posterior = posterior.assign({f"{p.name}_mu": (("chain", "draw"), mu)})
        tree["posterior"] = xr.DataTree(posterior)
        return tree


class ModelCache:
    """Compiled models by spec graph and bucket of distributions (see :func:`model_key`).

    One is owned by the module (:data:`DEFAULT_CACHE`) and used where a caller passes none;
    pass your own to keep models apart (or :meth:`clear` it). What it holds changes how long
    a fit takes, never what it draws, and the sampling policy never looks in it.
    ``padded_max``: tables of up to this many distributions are padded to a power of two
    (1: no padding, a model of each table's own size). ``lend_from``: another cache whose
    models this one hands out (compiled there, once; counted there). ``on_sample``: told of
    every sampling call of the models handed out, to record what ran (tests, benchmarks).
    """

    def __init__(
        self,
        padded_max: int = PADDED_DISTRIBUTIONS_MAX,
        *,
        lend_from: ModelCache | None = None,
        on_sample: Callable[[CompiledModel, SamplerConfig, int, list[xr.DataTree]], None] | None = None,
    ) -> None:
        self.padded_max = padded_max
        self.lend_from = lend_from
        self.on_sample = on_sample
        self._models: dict[tuple[tuple[str, int], str], CompiledModel] = {}
        self._compile_seconds = 0.0

    @property
    def compile_seconds(self) -> float:
        """Seconds spent compiling the models held, or lent (reported, never decided on)."""
        lent = 0.0 if self.lend_from is None else self.lend_from.compile_seconds
        return self._compile_seconds + lent

    def model(self, spec: ModelSpec, n_distributions: int, sampler: str = "nutpie") -> CompiledModel:
        """The compiled model a table of ``n_distributions`` samples on, compiled once."""
        if self.lend_from is not None:
            held = self.lend_from.model(spec, n_distributions, sampler)
        else:
            distributions = padded_distributions(n_distributions, self.padded_max)
            key = (model_key(spec, distributions), sampler)
            if key not in self._models:
                self._models[key] = CompiledModel.build(spec, distributions, sampler)
                self._compile_seconds += self._models[key].compile_seconds
            held = self._models[key]
        # a spec that shares the graph may differ in name or settings: sample with the caller's
        if held.spec != spec:
            held = replace(held, spec=spec, compile_seconds=0.0)
        return held if self.on_sample is None else replace(held, on_sample=self.on_sample)

    def __len__(self) -> int:
        return len(self._models)

    def clear(self) -> None:
        self._models.clear()


DEFAULT_CACHE = ModelCache()
