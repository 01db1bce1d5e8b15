"""Time ranking 1,000 actions over 4,000 posterior draws, against a per-action loop.

    .venv/bin/python benchmarks/rank_speed.py

Fits the embedded example once (default settings, 4 x 1000 draws), then times
`rank_actions` (vectorised over draws x actions) and, side by side, the same expected
losses computed one action at a time in a Python loop, the way a first attempt looks.
"""

import time
import warnings

import numpy as np
import pandas as pd

import bayes_scaling as bs
from bayes_scaling.decide import current_state
from bayes_scaling.predict import point_parameters

N_ACTIONS = 1000


def main() -> None:
    warnings.simplefilter("ignore", bs.SamplingWarning)
    fit = bs.fit(bs.load_example(), progress=False)
    rng = np.random.default_rng(0)
    actions = pd.DataFrame(
        {
            "action": [f"a{i}" for i in range(N_ACTIONS)],
            "distribution": rng.choice(fit.distributions, N_ACTIONS),
            "add_pretrain_tokens": 10 ** rng.uniform(9, 12, N_ACTIONS),
            "add_finetune_tokens": 10 ** rng.uniform(5, 9, N_ACTIONS),
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
    loop = []
    for row in actions.itertuples():
        params = point_parameters(fit, pd.DataFrame({"distribution": [row.distribution]}))
        p = state.loc[row.distribution, "pretrain_tokens"] + row.add_pretrain_tokens
        f = state.loc[row.distribution, "finetune_tokens"] + row.add_finetune_tokens
        loop.append(fit.law.loss(np.log(p), np.log(f), **params).mean())
    looped = time.perf_counter() - start
    check = table.set_index("action").loc[actions.action, "expected_loss"].to_numpy()
    np.testing.assert_allclose(check, loop, rtol=1e-10)

    print(
        f"rank_actions: {N_ACTIONS} actions x {draws} draws in {best * 1000:.0f} ms "
        f"(best of 5, all statistics)"
    )
    print(
        f"per-action loop (expected loss only): {looped * 1000:.0f} ms; "
        f"ratio loop / vectorised = {looped / best:.1f}x"
    )


if __name__ == "__main__":
    main()
