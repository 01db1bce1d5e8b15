"""Leave-future-out refits on the fit's compiled model, as a sampling wrapper.

Shaped like arviz-stats' ``SamplingWrapper`` (``sel_observations``, ``sample``,
``get_inference_data``): the statistics that learn the law's misfit past the data
(:func:`bayes_scaling.discrepancy.learn_discrepancy`) ask this object for refits without
some runs and read their posteriors; they never reach into the sampler. A refit holds runs
out by a weight of 0 on their log likelihood, so every refit shares the fit's compiled model.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import xarray as xr

from ..data import Runs
from ..model import Normalisation
from ..spec import ModelSpec
from .compiled import CompiledModel
from .policy import Plan
from .posterior import Job
from .settings import SamplerConfig


@dataclass(frozen=True)
class LeaveFutureOutRefits:
    """Refits of one table's model without given runs (see the module's docstring)."""

    model: CompiledModel
    runs: Runs
    normalisation: Normalisation
    config: SamplerConfig  # the refits' own: shorter than the fit's, see :func:`refits_for`
    draws: int
    target_accept: float
    centring: Mapping[str, np.ndarray]
    seed: int
    progress: bool = False

    def sel_observations(self, held: np.ndarray) -> np.ndarray:
        """The run weights of a refit without the ``held`` runs (1 kept, 0 held out)."""
        return (~np.asarray(held, dtype=bool)).astype(float)

    def sample(self, run_weights: Sequence[np.ndarray]) -> list[xr.DataTree]:
        """One refit per weight vector, side by side; refit k draws with seed + 1 + k."""
        seeds = [self.seed + 1 + k for k in range(len(run_weights))]
        return self.model.sample_each(
            self.runs, self.normalisation, self.config, run_weights, seeds, draws=self.draws,
            target_accept=self.target_accept, centring=self.centring,
        )  # fmt: skip

    def get_inference_data(self, fitted: Sequence[xr.DataTree]) -> list[xr.Dataset]:
        """The refits' posteriors, each distribution's law parameters included."""
        return [tree.posterior.to_dataset() for tree in fitted]

    def refit(self, held_out: Mapping[str, np.ndarray]) -> dict[str, xr.Dataset]:
        """The posterior of a refit without each named set of runs, saying on stderr what the
        wait is for where progress is shown (the refits have no bars of their own)."""
        name = self.model.spec.name
        if self.progress:
            print(
                f"{name}: learning the law's misfit past the data from {len(held_out)} leave-future-out "
                f"refit{'s side by side' if len(held_out) > 1 else ''}, along {', '.join(held_out)}",
                file=sys.stderr, flush=True,
            )  # fmt: skip
        start = time.perf_counter()
        fitted = self.sample([self.sel_observations(held) for held in held_out.values()])
        if self.progress:
            print(f"{name}: refits done in {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
        return dict(zip(held_out, self.get_inference_data(fitted), strict=True))


def refits_for(chosen: Plan, job: Job) -> LeaveFutureOutRefits:
    """The refits of a fit that sampled with ``chosen``: on its compiled model, centring and
    target, with the spec's ``[discrepancy]`` run length, never longer than the fit's own,
    and its mass-matrix adaptation where it sets one (nutpie only)."""
    how: ModelSpec = chosen.spec
    lengths, config = how.discrepancy, job.config
    adaptation = (
        lengths.adaptation if lengths.adaptation and config.sampler == "nutpie" else config.adaptation
    )
    short = replace(
        config, tune=min(lengths.tune, config.tuning), chains=min(lengths.chains, config.chains),
        adaptation=adaptation, progress=False, draws=None, target_accept=None,
    )  # fmt: skip
    return LeaveFutureOutRefits(
        model=job.model(chosen.spec), runs=job.runs, normalisation=job.normalisation, config=short,
        draws=min(lengths.draws, chosen.draws), target_accept=chosen.target_accept,
        centring=chosen.centring, seed=job.seed, progress=config.progress,
    )  # fmt: skip
