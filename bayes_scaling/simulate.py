"""Synthetic run tables drawn from a law with known parameters.

One simulator serves the embedded example (``scripts/make_example_data.py``), the tests and
the benchmarks, so all three agree on what "data from the law" means. Parameters are in the
units of the law as written (raw token counts), not normalised.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .laws import Law, get_law


def law_loss(
    law: Law | str, inputs: Mapping[str, np.ndarray], params: Mapping[str, np.ndarray]
) -> np.ndarray:
    """Loss (nats/token) of ``law`` at raw ``inputs`` with raw-unit ``params`` (numpy)."""
    law = get_law(law) if isinstance(law, str) else law
    with np.errstate(divide="ignore"):
        log_inputs = [np.log(np.asarray(inputs[k], dtype=float)) for k in law.inputs]
    return np.exp(law.log_loss(*log_inputs, **{k: np.asarray(params[k]) for k in law.parameters}))


def simulate_runs(
    truth: pd.DataFrame,
    grid: Mapping[str, Sequence[float]],
    *,
    law: Law | str = "transfer_gap",
    runs_per_distribution: int | Mapping[str, int] | None = None,
    noise: float = 0.01,
    outlier_fraction: float = 0.0,
    outlier_scale: float = 0.15,
    seed: int = 0,
) -> pd.DataFrame:
    """Runs of every distribution in ``truth`` on a grid of inputs, with noise.

    Parameters
    ----------
    truth
        One row per distribution: a ``distribution`` column and one column per law parameter
        in raw units.
    grid
        Values of each law input; every combination is a candidate run.
    runs_per_distribution
        Keep a random subset of this many grid points per distribution (all when None).
    noise
        Standard deviation of Gaussian noise on log loss (0.01 = 1% relative error).
    outlier_fraction, outlier_scale
        Share of runs whose log loss is shifted up by ``outlier_scale`` (a diverged run).
    """
    law = get_law(law) if isinstance(law, str) else law
    rng = np.random.default_rng(seed)
    mesh = np.meshgrid(*(np.asarray(grid[k], dtype=float) for k in law.inputs), indexing="ij")
    points = {k: m.ravel() for k, m in zip(law.inputs, mesh, strict=True)}
    n_points = len(next(iter(points.values())))
    frames = []
    for row in truth.itertuples(index=False):
        name = row.distribution
        count = runs_per_distribution
        if isinstance(count, Mapping):
            count = count.get(name)
        keep = np.sort(rng.choice(n_points, size=count, replace=False)) if count else np.arange(n_points)
        inputs = {k: v[keep] for k, v in points.items()}
        params = {k: getattr(row, k) for k in law.parameters}
        log_loss = np.log(law_loss(law, inputs, params)) + rng.normal(0.0, noise, len(keep))
        bad = rng.random(len(keep)) < outlier_fraction
        log_loss[bad] += outlier_scale
        frame = pd.DataFrame({"distribution": name, **inputs, "loss": np.exp(log_loss)})
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def draw_truth(
    n_distributions: int,
    *,
    seed: int = 0,
    gap_range: tuple[float, float] = (1.0, 100.0),
    alpha: float = 0.3,
) -> pd.DataFrame:
    """Per-distribution transfer-gap parameters of realistic size, raw units.

    Gaps are log-uniform over ``gap_range`` (two orders of magnitude by default); E, A and
    beta vary around values that give losses of 1-5 nats/token for pre-training 1e8-1e11 and
    fine-tuning 1e5-1e8 tokens.
    """
    rng = np.random.default_rng(seed)
    n = n_distributions
    return pd.DataFrame(
        {
            "distribution": [f"dist_{i:03d}" for i in range(n)],
            "E": rng.uniform(1.4, 2.4, n),
            "A": np.exp(rng.normal(np.log(1e4), 0.3, n)),
            "alpha": np.full(n, alpha),
            "beta": rng.uniform(0.3, 0.4, n),
            "G": np.exp(rng.uniform(np.log(gap_range[0]), np.log(gap_range[1]), n)),
        }
    )


# The grid of the embedded example and of most simulations: pre-training 1e8-1e11 tokens,
# fine-tuning 1e5-1e8 tokens, half-decade steps.
DEFAULT_GRID = {
    "pretrain_tokens": np.logspace(8, 11, 7),
    "finetune_tokens": np.logspace(5, 8, 7),
}
