"""Shared fixtures: simulated data and fits, made once per session (fits compile once)."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling.inference.compiled import DEFAULT_CACHE, ModelCache, model_key
from bayes_scaling.simulate import DEFAULT_GRID, simulate_runs
from bayes_scaling.spec import ModelSpec

# Small but honest sampling settings for tests: fixed seeds, fewer draws, two chains (one
# per core on CI's machine; four cost the 2-core suite ~40 s more).
FAST = {"draws": 500, "tune": 300, "chains": 2, "seed": 11, "progress": False}


# make test runs two test processes (pytest-xdist, --dist loadfile), each taking whole files.
# A compiled model lives in its process, so files that fit the same models go to the same
# process: these compile the Chinchilla law for one and four distributions, the rectified law
# for four and the error-rate spec for eight. (xdist_group marks would say the same, but
# pytest 9.2 drops them silently: pytest-dev/pytest-xdist#1386. docs/records.md, "Test
# processes".)
SHARED_MODELS = frozenset(
    {"test_fit.py", "test_law_recovery.py", "test_cli.py", "test_notebooks_real_data.py", "test_datasets.py"}
)


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist: unknown where it is not loaded
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """--dist loadfile, with the files of ``SHARED_MODELS`` sent to one process together."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedModelScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]  # whole files, as --dist loadfile
            return "shared models" if path.rsplit("/", 1)[-1] in SHARED_MODELS else path

    return SharedModelScheduling(config, log)


@functools.cache
def _fetch(name: str) -> pd.DataFrame | str:
    try:
        return bs.load_dataset(name)
    except bs.BayesScalingError as error:
        return str(error)


def real_table(name: str) -> pd.DataFrame:
    """A real run table (a copy), or skip the test saying why when it cannot be had: no
    ``BAYES_SCALING_DATA_DIR`` and no network. Tests never need ``../shared``; ``make test``
    points the variable there when the folder exists. Tried once per session."""
    found = _fetch(name)
    if isinstance(found, str):
        pytest.skip(f"real table {name} unavailable: {found}")
    table = found.copy()
    table.attrs = dict(found.attrs)
    return table


def no_discrepancy(model: str) -> ModelSpec:
    """The shipped spec without leave-future-out refits, for tests of sampling alone."""
    spec = bs.load_spec(model)
    return dataclasses.replace(spec, discrepancy=dataclasses.replace(spec.discrepancy, method="none"))


@pytest.fixture(scope="session")
def recovery_truth() -> pd.DataFrame:
    """8 distributions with gaps log-spaced over 1..100; even ones rich in runs, odd ones poor."""
    n = 8
    gaps = np.geomspace(1.0, 100.0, n)
    order = np.random.default_rng(3).permutation(n)  # gap size unrelated to data richness
    return pd.DataFrame(
        {
            "distribution": [f"d{i}" for i in range(n)],
            "E": np.linspace(1.5, 2.2, n),
            "A": np.full(n, 1.0e4),
            "alpha": 0.3,
            "beta": np.linspace(0.32, 0.38, n),
            "G": gaps[order],
            "runs": [36 if i % 2 == 0 else 12 for i in range(n)],
        }
    )


@pytest.fixture(scope="session")
def recovery_runs(recovery_truth) -> pd.DataFrame:
    counts = dict(zip(recovery_truth.distribution, recovery_truth.runs, strict=True))
    return simulate_runs(recovery_truth, DEFAULT_GRID, runs_per_distribution=counts, noise=0.01, seed=5)


@pytest.fixture(scope="session")
def recovery_fit(recovery_runs) -> bs.Fit:
    """The recovery table's posterior; no leave-future-out refits (the tests that use it
    check parameters and decisions, and give a misfit of their own where they need one)."""
    # four chains: the decision and gap-interval tests that share this posterior read its
    # tails, and with two, G's r_hat reached 1.013 and an experiment's value drowned in
    # Monte Carlo noise
    return bs.fit(recovery_runs, no_discrepancy("transfer_gap"), **{**FAST, "chains": 4})


@pytest.fixture(scope="session")
def example_fit() -> bs.Fit:
    """The embedded example with the default settings, as `bayes-scaling demo` fits it."""
    return bs.fit(bs.load_dataset("example"), progress=False)


def point_fit(
    truth: pd.DataFrame,
    *,
    draws: int = 100,
    jitter: float = 0.0,
    seed: int = 0,
    state: tuple[float, float] = (1e10, 1e6),
    runs: pd.DataFrame | None = None,
    model: str = "transfer_gap",
    sigma: float = 0.01,
) -> bs.Fit:
    """A Fit whose posterior is the given raw-unit parameters (plus optional log-normal
    jitter per draw): decisions can then be checked against the deterministic law. Its runs
    are one per distribution at ``state`` unless given."""
    import xarray as xr

    from bayes_scaling.model import Normalisation
    from bayes_scaling.spec import load_spec

    spec = load_spec(model)
    rng = np.random.default_rng(seed)
    names = list(truth.distribution)
    post = {}
    for name in spec.law.parameters:
        values = np.broadcast_to(truth[name].to_numpy(float), (1, draws, len(names)))
        values = values * np.exp(jitter * rng.standard_normal(values.shape))
        if spec.parameters[name].pooling == "shared":
            post[name] = (("chain", "draw"), values[..., 0])
        else:
            post[name] = (("chain", "draw", "distribution"), values)
    post["sigma"] = (("chain", "draw"), np.full((1, draws), sigma))
    if runs is None:
        runs = pd.DataFrame(
            {"distribution": names, "pretrain_tokens": state[0], "finetune_tokens": state[1], "loss": 2.0}
        )
    tree = xr.DataTree.from_dict(
        {
            "posterior": xr.Dataset(
                post, coords={"chain": [0], "draw": np.arange(draws), "distribution": names}
            ),
            "runs": xr.Dataset.from_dataframe(runs.rename_axis("run")),
        }
    )
    # log_refs of 0: normalised units are raw units
    return bs.Fit(
        idata=tree,
        spec=spec,
        normalisation=Normalisation({"pretrain_tokens": 0.0, "finetune_tokens": 0.0}),
        distributions=tuple(names),
    )


class RecordingCache(ModelCache):
    """A model cache that lends the process's compiled models (nothing compiled twice) and
    records each sampling call: (coordinates, draws, tune, chains, adaptation, runs side by
    side). What a test passes to ``bs.fit(cache=...)`` instead of patching the engine;
    ``refuse``: an exception raised where a model is asked for (nothing may be sampled)."""

    def __init__(self, refuse: type[Exception] | None = None) -> None:
        super().__init__(lend_from=DEFAULT_CACHE, on_sample=self._record)
        self.calls: list[tuple] = []
        self.models: list[tuple] = []
        self.refuse = refuse

    def model(self, spec, n_distributions, sampler="nutpie"):
        if self.refuse is not None:
            raise self.refuse
        held = super().model(spec, n_distributions, sampler)
        self.models.append(model_key(spec, held.distributions))
        return held

    def _record(self, model, config, draws, trees):
        self.calls.append(
            (model.spec.coordinates, draws, config.tuning, config.chains, config.adaptation, len(trees))
        )
