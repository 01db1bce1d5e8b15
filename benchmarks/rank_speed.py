"""Time ranking 1,000 portfolio actions over 4,000 posterior draws of 16 distributions,
against a per-action loop.

    .venv/bin/python benchmarks/rank_speed.py [--distributions 16]

Fits simulated runs of 16 distributions once (default settings, 4 x 1000 draws), then times
`rank_actions` (vectorised over draws x actions, each distribution evaluated once per
distinct (pre-training, fine-tuning) pair) and, side by side, the same expected portfolio
losses computed one action at a time in a Python loop, the way a first attempt looks.
Actions: a third pre-training only, a third fine-tuning one distribution, a third both.
"""

import argparse
import dataclasses
import time
import warnings

import numpy as np
import pandas as pd
from results import record

import bayes_scaling as bs
from bayes_scaling.decide import current_state
from bayes_scaling.discrepancy import Discrepancy
from bayes_scaling.prediction import point_parameters
from bayes_scaling.simulate import DEFAULT_GRID, simulate_runs

N_ACTIONS = 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--distributions", type=int, default=16)
    n = parser.parse_args().distributions
    warnings.simplefilter("ignore", bs.BayesScalingWarning)
    rng = np.random.default_rng(0)
    truth = pd.DataFrame(
        {
            "distribution": [f"d{i:02d}" for i in range(n)],
            "E": rng.uniform(1.2, 2.2, n),
            "A": 1e4,
            "alpha": 0.3,
            "beta": rng.uniform(0.3, 0.4, n),
            "G": np.geomspace(1, 100, n),
        }
    )
    fit = bs.fit(simulate_runs(truth, DEFAULT_GRID, runs_per_distribution=20, seed=1), progress=False)
    kind = rng.integers(0, 3, N_ACTIONS)  # 0 pre-training, 1 fine-tuning, 2 both
    actions = pd.DataFrame(
        {
            "action": [f"a{i}" for i in range(N_ACTIONS)],
            "distribution": np.where(kind == 0, "*", rng.choice(fit.distributions, N_ACTIONS)),
            "add_pretrain_tokens": np.where(kind == 1, 0.0, 10 ** rng.uniform(9, 12, N_ACTIONS)),
            "add_finetune_tokens": np.where(kind == 0, 0.0, 10 ** rng.uniform(5, 9, N_ACTIONS)),
        }
    )
    draws = fit.idata.posterior.sizes["chain"] * fit.idata.posterior.sizes["draw"]

    best = np.inf
    for _ in range(5):
        start = time.perf_counter()
        table = bs.rank_actions(fit, actions, pretrain_price=1e-9, finetune_price=1e-6)
        best = min(best, time.perf_counter() - start)

    start = time.perf_counter()
    state = current_state(fit).set_index("distribution")
    params = point_parameters(fit, pd.DataFrame({"distribution": list(fit.distributions)}))
    loop = []
    for row in actions.itertuples():
        total = 0.0
        for d, name in enumerate(fit.distributions):
            p = state.loc[name, "pretrain_tokens"] + row.add_pretrain_tokens
            f = state.loc[name, "finetune_tokens"] + (
                row.add_finetune_tokens if row.distribution == name else 0.0
            )
            total = total + fit.law.loss(np.log(p), np.log(f), **{k: v[:, d] for k, v in params.items()}) / n
        loop.append(total.mean())
    looped = time.perf_counter() - start
    check = table.set_index("action").loc[actions.action, "expected_loss"].to_numpy()
    np.testing.assert_allclose(check, loop, rtol=1e-10)

    print(
        f"rank_actions: {N_ACTIONS} actions x {draws} draws x {n} distributions in {best * 1000:.0f} ms "
        f"(best of 5, all statistics)"
    )
    print(
        f"per-action loop (expected loss only): {looped * 1000:.0f} ms; "
        f"ratio loop / vectorised = {looped / best:.1f}x"
    )
    # the same ranking where the fit learned a misfit (a scale along pre-training, a widened
    # spread along fine-tuning, a misfit inside the data of every distribution): every
    # action's losses carry the law's error, as predict's bands do
    misfit = Discrepancy(
        scales={"pretrain_tokens": 0.05},
        spread_factors={"finetune_tokens": 2.0},
        misfit=dict.fromkeys(fit.distributions, 0.01),
    )
    wrong = dataclasses.replace(fit, discrepancy=misfit)
    with_misfit = np.inf
    for _ in range(5):
        start = time.perf_counter()
        bs.rank_actions(wrong, actions, pretrain_price=1e-9, finetune_price=1e-6)
        with_misfit = min(with_misfit, time.perf_counter() - start)
    print(
        f"with a learned misfit: {with_misfit * 1000:.0f} ms (best of 5); "
        f"ratio to without = {with_misfit / best:.2f}x"
    )
    record(
        "rank_speed", case=f"{N_ACTIONS} actions x {draws} draws x {n} distributions",
        figures={
            "rank_ms": best * 1000, "loop_ms": looped * 1000, "loop_over_rank": looped / best,
            "with_misfit_ms": with_misfit * 1000, "misfit_over_plain": with_misfit / best,
        },
    )  # fmt: skip


if __name__ == "__main__":
    main()
