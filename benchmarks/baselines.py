"""What people do today, for side-by-side benchmarks (not part of the package).

- ``handwritten_pymc``: the transfer-gap law as a PyMC user would first write it: raw token
  counts, centred hierarchies, a Normal likelihood on the loss, ``pm.sample()`` defaults.
- ``least_squares_bootstrap``: per-distribution L-BFGS on a Huber loss of log residuals,
  with a bootstrap over runs for intervals.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pymc as pm
from scipy import optimize, special

from bayes_scaling.laws import get_law

LAW = get_law("transfer_gap")


def handwritten_pymc(runs: pd.DataFrame, *, draws: int = 1000, tune: int = 1000, chains: int = 4,
                     seed: int = 0, progress: bool = False):
    names = list(pd.unique(runs.distribution))
    index = pd.Categorical(runs.distribution, categories=names).codes
    p, f, loss = (runs[c].to_numpy(float) for c in ("pretrain_tokens", "finetune_tokens", "loss"))
    with pm.Model(coords={"distribution": names}):
        E = pm.LogNormal("E", pm.Normal("E_mu", 0.5, 1.0), pm.HalfNormal("E_sigma", 1.0), dims="distribution")
        A = pm.LogNormal("A", pm.Normal("A_mu", 8.0, 3.0), pm.HalfNormal("A_sigma", 1.0), dims="distribution")
        G = pm.LogNormal("G", pm.Normal("G_mu", 2.0, 3.0), pm.HalfNormal("G_sigma", 2.0), dims="distribution")
        beta = pm.LogNormal("beta", pm.Normal("beta_mu", -1.0, 1.0), pm.HalfNormal("beta_sigma", 0.5),
                            dims="distribution")
        alpha = pm.HalfNormal("alpha", 1.0)
        mean = E[index] + (A[index] * p ** -alpha + G[index]) * f ** -beta[index]
        pm.Normal("loss", mean, pm.HalfNormal("sigma", 0.5), observed=loss)
        return pm.sample(draws=draws, tune=tune, chains=chains, random_seed=seed, progressbar=progress,
                         compute_convergence_checks=False)


def _fit_one(p, f, loss, start):
    def objective(theta):
        params = dict(zip(LAW.parameters, np.exp(theta), strict=True))
        residual = LAW.log_loss(np.log(p), np.log(f), **params) - np.log(loss)
        return special.huber(0.01, residual).sum()  # Huber on log residuals, delta 1%

    return optimize.minimize(objective, start, method="L-BFGS-B").x


def least_squares_bootstrap(runs: pd.DataFrame, *, resamples: int = 1000, seed: int = 0,
                            prob: float = 0.9) -> pd.DataFrame:
    """Point fit and percentile bootstrap interval of every parameter, per distribution."""
    rng = np.random.default_rng(seed)
    start = np.log([1.5, 1e4, 0.3, 0.3, 10.0])
    rows = []
    for name, group in runs.groupby("distribution", sort=False):
        p, f, loss = (group[c].to_numpy(float) for c in ("pretrain_tokens", "finetune_tokens", "loss"))
        best = _fit_one(p, f, loss, start)
        draws = np.array([_fit_one(p[i], f[i], loss[i], best)
                          for i in (rng.integers(0, len(p), len(p)) for _ in range(resamples))])
        tail = (1 - prob) / 2
        lower, upper = np.quantile(np.exp(draws), [tail, 1 - tail], axis=0)
        for j, param in enumerate(LAW.parameters):
            rows.append({"distribution": name, "parameter": param, "estimate": float(np.exp(best[j])),
                         "lower": lower[j], "upper": upper[j]})
    return pd.DataFrame(rows)
