"""The NUTS engines and the compiled models they run: one per spec and distribution bucket.

Compiling a model with nutpie costs ~9-13 s per process (most of it numba compiling nutpie's
logp callback, which no disk cache reaches), most of a small fit's time. A compiled model
takes new data of any number of runs (its data are not frozen into it), but its number of
distributions is the number of its parameters. So a table's distributions are padded up to
a bucket (:func:`padded_distributions`) with distributions that have no runs: they sample
their prior, and their draws are dropped. The compiled model is kept per spec and bucket for
the life of the process, and any later table of that bucket (a distribution dropped, runs
added, the runs a backtest keeps, a leave-future-out refit) only swaps the data. The bucket
depends on the table alone, and every model is compiled from a template table
(:func:`template_runs`), never from the first table seen, so the same table and seed give
the same draws in a fresh process and in a long-lived one. PyMC's own NUTS is the
alternative engine (it compiles on every call).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from .data import Runs, validate_runs
from .model import DISTRIBUTION, PADDING_LABEL, Normalisation, build_model, log_values, model_data
from .spec import ModelSpec

Sampler = Literal["nutpie", "pymc"]
SAMPLERS = ("nutpie", "pymc")
Adaptation = Literal["diag", "low_rank"]
ADAPTATIONS = ("diag", "low_rank")

# Distributions pad to the next power of two up to this many (2, 4, 8, 16); one stays one
# (its population mean is integrated out) and larger tables are not padded. A padding
# distribution adds its parameters, sampled from the prior, to every step; where a fit takes
# a minute or more, a second compilation (~10 s) costs less than that (benchmarks/padding.py,
# benchmarks/RESULTS.md).
PADDED_DISTRIBUTIONS_MAX = 16

# Compiled nutpie models by (spec, distributions), for the life of the process.
_COMPILED: dict[tuple[str, int], Any] = {}


def padded_distributions(n_distributions: int) -> int:
    """The number of distributions the model of a table of ``n_distributions`` is built for."""
    if 1 < n_distributions <= PADDED_DISTRIBUTIONS_MAX:
        return 1 << (n_distributions - 1).bit_length()
    return n_distributions


def model_key(spec: ModelSpec, distributions: int) -> tuple[str, int]:
    """What a compiled model depends on: the law, the priors, pooling and centring flags (the
    template's centring sets the initial point), the likelihood, the coordinates and the
    number of distributions; not the spec's name, texts or discrepancy settings, so that
    specs differing only there share one compiled model."""
    plain = spec.to_dict()
    graph = {key: plain[key] for key in ("law", "likelihood", "coordinates")}
    graph["parameters"] = {
        name: {k: v for k, v in entry.items() if k != "why"} for name, entry in plain["parameters"].items()
    }
    return json.dumps(graph, sort_keys=True), distributions


def template_runs(spec: ModelSpec, distributions: int) -> Runs:
    """The table a model is compiled from: one run per distribution at inputs 1, loss 1.

    A compiled model takes any table's data, but its initial point comes from the data it
    was compiled with (a partially centred parameter starts at its centring times mu, and a
    padded table's padding is non-centred): compiled from the table first seen, the same
    table and seed drew differently after the example than after itself. Compiled from this
    template, a model is the same whatever table came first, and so are the draws."""
    labels = [PADDING_LABEL.format(i) for i in range(distributions)]
    table = pd.DataFrame({DISTRIBUTION: labels, **{name: 1.0 for name in spec.law.inputs}, "loss": 1.0})
    return validate_runs(table, spec.law.inputs, allow_zero=spec.law.zero_allowed)


def is_compiled(spec: ModelSpec, runs: Runs) -> bool:
    """Whether this process already holds the compiled model that ``runs`` would sample on."""
    return model_key(spec, padded_distributions(len(runs.distributions))) in _COMPILED


def sample(
    spec: ModelSpec,
    runs: Runs,
    normalisation: Normalisation,
    *,
    sampler: Sampler,
    draws: int,
    tune: int,
    chains: int,
    seed: int,
    progress: bool,
    target_accept: float,
    adaptation: Adaptation,
    centring: Mapping[str, np.ndarray] | None = None,
    run_weight: np.ndarray | None = None,
) -> tuple[xr.DataTree, float]:
    """Posterior draws of the model of ``runs`` and the seconds spent compiling (0 when a
    compiled model was reused).

    The posterior holds the table's distributions only, labelled, with every law parameter.
    ``centring`` and ``run_weight`` set the model's data (see :func:`model.model_data`).
    """
    distributions = padded_distributions(len(runs.distributions))
    data = model_data(spec, runs, normalisation, distributions, centring=centring, run_weight=run_weight)
    start = time.perf_counter()
    if sampler == "nutpie":
        compiled = _compiled(spec, distributions).with_data(**data)
        compile_seconds = time.perf_counter() - start
        tree = _nutpie_sample(compiled, draws, tune, chains, seed, progress, target_accept, adaptation)
    else:
        with build_model(spec, runs, normalisation, weighted=True, distributions=distributions):
            pm.set_data(data)
            tree = pm.sample(
                draws=draws,
                tune=tune,
                chains=chains,
                random_seed=seed,
                nuts_sampler="pymc",
                progressbar=progress,
                target_accept=target_accept,
                compute_convergence_checks=False,
            )
        compile_seconds = 0.0
    return _the_tables_distributions(complete_posterior(tree, spec, data), runs), compile_seconds


def sample_each(
    spec: ModelSpec,
    runs: Runs,
    normalisation: Normalisation,
    run_weights: Sequence[np.ndarray],
    seeds: Sequence[int],
    *,
    sampler: Sampler,
    draws: int,
    tune: int,
    chains: int,
    target_accept: float,
    adaptation: Adaptation,
    centring: Mapping[str, np.ndarray] | None = None,
) -> list[xr.DataTree]:
    """Posterior draws of the model of ``runs`` under each of ``run_weights`` (one seed
    each), as :func:`sample` gives them: the leave-future-out refits.

    nutpie runs them side by side, each on as many cores as it has chains: where the machine
    has cores for all of them, the refits take the time of one (on two cores, the time of
    all, as one after another). Each draws exactly what it would draw alone. PyMC's sampler
    runs them one after another."""
    if sampler != "nutpie":
        return [
            sample(spec, runs, normalisation, sampler=sampler, draws=draws, tune=tune, chains=chains,
                   seed=seed, progress=False, target_accept=target_accept, adaptation=adaptation,
                   centring=centring, run_weight=weight)[0]
            for weight, seed in zip(run_weights, seeds, strict=True)
        ]  # fmt: skip
    distributions = padded_distributions(len(runs.distributions))
    compiled = _compiled(spec, distributions)
    started = []
    for weight, seed in zip(run_weights, seeds, strict=True):
        data = model_data(spec, runs, normalisation, distributions, centring=centring, run_weight=weight)
        model = compiled.with_data(**data)
        handle = _nutpie_sample(
            model, draws, tune, chains, seed, False, target_accept, adaptation, blocking=False
        )
        started.append((data, handle))
    trees = [complete_posterior(handle.wait(), spec, data) for data, handle in started]
    return [_the_tables_distributions(tree, runs) for tree in trees]


def _compiled(spec: ModelSpec, distributions: int) -> Any:
    """The nutpie model of ``spec`` for ``distributions``, compiled once per process."""
    import nutpie

    key = model_key(spec, distributions)
    if key not in _COMPILED:
        model = build_model(spec, template_runs(spec, distributions), weighted=True)
        _COMPILED[key] = nutpie.compile_pymc_model(model, backend="numba", var_names=stored_variables(model))
    return _COMPILED[key]


def _nutpie_sample(compiled, draws, tune, chains, seed, progress, target_accept, adaptation, blocking=True):
    import nutpie

    return nutpie.sample(
        compiled,
        draws=draws,
        tune=tune,
        chains=chains,
        seed=seed,
        cores=min(chains, os.cpu_count() or 1),
        save_warmup=False,
        progress_bar=progress,
        adaptation=adaptation,
        target_accept=target_accept,
        blocking=blocking,
    )


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


def _the_tables_distributions(tree: xr.DataTree, runs: Runs) -> xr.DataTree:
    """The posterior without the padding distributions, labelled with the table's own (a
    compiled model carries the labels of the table it was compiled for)."""
    labels = list(runs.distributions)
    posterior = tree.posterior.to_dataset().isel({DISTRIBUTION: slice(0, len(labels))})
    tree["posterior"] = xr.DataTree(posterior.assign_coords({DISTRIBUTION: labels}))
    return tree
