"""What people do today, for side-by-side benchmarks (not part of the package).

- ``handwritten_pymc``: the transfer-gap law as a PyMC user would first write it: raw token
  counts, centred hierarchies, a Normal likelihood on the loss, ``pm.sample()`` defaults.
- ``least_squares_bootstrap``: per-distribution L-BFGS on a Huber loss of log residuals
  (exact gradients), with a bootstrap over runs for intervals.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pymc as pm
from scipy import optimize

from bayes_scaling.laws import get_law

LAW = get_law("transfer_gap")


def handwritten_model(runs: pd.DataFrame) -> pm.Model:
    names = list(pd.unique(runs.distribution))
    index = pd.Categorical(runs.distribution, categories=names).codes
    p, f, loss = (runs[c].to_numpy(float) for c in ("pretrain_tokens", "finetune_tokens", "loss"))
    with pm.Model(coords={"distribution": names}) as model:
        E = pm.LogNormal("E", pm.Normal("E_mu", 0.5, 1.0), pm.HalfNormal("E_sigma", 1.0), dims="distribution")
        A = pm.LogNormal("A", pm.Normal("A_mu", 8.0, 3.0), pm.HalfNormal("A_sigma", 1.0), dims="distribution")
        G = pm.LogNormal("G", pm.Normal("G_mu", 2.0, 3.0), pm.HalfNormal("G_sigma", 2.0), dims="distribution")
        beta = pm.LogNormal(
            "beta", pm.Normal("beta_mu", -1.0, 1.0), pm.HalfNormal("beta_sigma", 0.5), dims="distribution"
        )
        alpha = pm.HalfNormal("alpha", 1.0)
        mean = E[index] + (A[index] * p**-alpha + G[index]) * f ** -beta[index]
        pm.Normal("loss", mean, pm.HalfNormal("sigma", 0.5), observed=loss)
    return model


def handwritten_pymc(
    runs: pd.DataFrame,
    *,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    seed: int = 0,
    progress: bool = False,
):
    with handwritten_model(runs):
        return pm.sample(
            draws=draws,
            tune=tune,
            chains=chains,
            random_seed=seed,
            progressbar=progress,
            compute_convergence_checks=False,
        )


HUBER_DELTA = 0.01  # Huber on log residuals: quadratic within 1%, linear beyond


# Where L-BFGS starts, in raw units, per law (its parameters' order)
STARTS = {
    "transfer_gap": np.log([1.5, 1e4, 0.3, 0.3, 10.0]),
    "chinchilla": np.log([1.5, 400.0, 0.3, 400.0, 0.3]),
    # the Chinchilla start's terms near 1e9 parameters and tokens, the exponent shrinking slowly
    "size_dependent_data": np.log([0.3, 4.0, 0.1, 1.0, 1e8, 3.0, 0.1]),
}


@functools.cache
def _objective_and_gradient(law_name: str = "transfer_gap"):
    """Huber loss of log residuals and its gradient in log parameters, compiled once per law.

    Built from the law's one formula through PyTensor, so L-BFGS gets exact gradients
    instead of finite differences (5x fewer evaluations); same objective as before.
    """
    import pytensor
    import pytensor.tensor as pt

    law = get_law(law_name)
    theta, log_loss = pt.dvector("theta"), pt.dvector()
    log_inputs = [pt.dvector() for _ in law.inputs]
    params = {name: pt.exp(theta[j]) for j, name in enumerate(law.parameters)}
    residual = pt.abs(law.log_loss(*log_inputs, **params) - log_loss)
    huber = pt.switch(
        residual <= HUBER_DELTA, 0.5 * residual**2, HUBER_DELTA * (residual - 0.5 * HUBER_DELTA)
    ).sum()
    return pytensor.function([theta, *log_inputs, log_loss], [huber, pt.grad(huber, theta)])


def _fit_one(p, f, loss, start, law_name: str = "transfer_gap"):
    objective = _objective_and_gradient(law_name)
    logs = (np.log(p), np.log(f), np.log(loss))
    return optimize.minimize(lambda theta: objective(theta, *logs), start, jac=True, method="L-BFGS-B").x


def least_squares_bootstrap(
    runs: pd.DataFrame, *, resamples: int = 1000, seed: int = 0, prob: float = 0.9
) -> pd.DataFrame:
    """Point fit and percentile bootstrap interval of every parameter, per distribution."""
    rng = np.random.default_rng(seed)
    start = STARTS["transfer_gap"]
    rows = []
    for name, group in runs.groupby("distribution", sort=False):
        p, f, loss = (group[c].to_numpy(float) for c in ("pretrain_tokens", "finetune_tokens", "loss"))
        best = _fit_one(p, f, loss, start)
        draws = np.array(
            [
                _fit_one(p[i], f[i], loss[i], best)
                for i in (rng.integers(0, len(p), len(p)) for _ in range(resamples))
            ]
        )
        tail = (1 - prob) / 2
        lower, upper = np.quantile(np.exp(draws), [tail, 1 - tail], axis=0)
        for j, param in enumerate(LAW.parameters):
            rows.append(
                {
                    "distribution": name,
                    "parameter": param,
                    "estimate": float(np.exp(best[j])),
                    "lower": lower[j],
                    "upper": upper[j],
                }
            )
    return pd.DataFrame(rows)


def least_squares_bands(
    kept: pd.DataFrame,
    held: pd.DataFrame,
    *,
    resamples: int = 200,
    seed: int = 0,
    prob: float = 0.9,
    law_name: str = "transfer_gap",
) -> pd.DataFrame:
    """The peer's bands of a new run: per distribution, the law (one of :data:`STARTS`)
    fitted by least squares to a bootstrap resample of its kept runs, plus one of that fit's
    own log residuals drawn at random (the run's noise); the central ``prob`` interval of
    these predictions at each held-out run. Rows in ``held``'s order: ``lower``, ``median``,
    ``upper``."""
    law = get_law(law_name)
    rng = np.random.default_rng(seed)
    out = pd.DataFrame(index=held.index, columns=["lower", "median", "upper"], dtype=float)
    tail = (1 - prob) / 2
    first, second = law.inputs
    for name, target in held.groupby("distribution", sort=False):
        group = kept[kept.distribution == name]
        x, y, loss = (group[c].to_numpy(float) for c in (first, second, "loss"))
        log_x, log_y = (np.log(target[c].to_numpy(float)) for c in (first, second))
        best = _fit_one(x, y, loss, STARTS[law_name], law_name)
        predictions = []
        for _ in range(resamples):
            rows = rng.integers(0, len(x), len(x))
            theta = _fit_one(x[rows], y[rows], loss[rows], best, law_name)
            params = {k: np.exp(theta[j]) for j, k in enumerate(law.parameters)}
            residual = np.log(loss[rows]) - law.log_loss(np.log(x[rows]), np.log(y[rows]), **params)
            noise = rng.choice(residual, len(target))
            predictions.append(law.log_loss(log_x, log_y, **params) + noise)
        q = np.exp(np.quantile(np.array(predictions), [tail, 0.5, 1 - tail], axis=0))
        out.loc[target.index] = q.T
    return out
