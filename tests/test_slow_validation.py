"""Slow statistical checks, run by hand with `make test-slow` (not in `make test`)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling.decide import experiment_value
from bayes_scaling.simulate import law_loss

pytestmark = pytest.mark.slow


def test_experiment_value_agrees_with_refitting(recovery_runs, recovery_truth):
    """The importance-reweighted estimate of how much a run shrinks sd(log G) should match,
    in order and roughly in size, what refitting with that run (simulated from the truth)
    actually does."""
    warnings.simplefilter("ignore", bs.SamplingWarning)
    fit = bs.fit(recovery_runs, draws=1000, tune=1000, seed=1, progress=False)
    poor = recovery_runs.distribution.value_counts().idxmin()
    candidates = pd.DataFrame(
        {"distribution": poor, "pretrain_tokens": [1e12, 1e8, 1e10], "finetune_tokens": [1e4, 1e8, 1e6]}
    )
    estimate = experiment_value(fit, candidates, simulations=300).set_index("pretrain_tokens")
    truth = recovery_truth.set_index("distribution").loc[poor]
    actual = {}
    for row in candidates.itertuples():
        loss = law_loss(
            "transfer_gap",
            {"pretrain_tokens": row.pretrain_tokens, "finetune_tokens": row.finetune_tokens},
            truth,
        )
        extra = pd.DataFrame(
            {
                "distribution": [poor],
                "pretrain_tokens": [row.pretrain_tokens],
                "finetune_tokens": [row.finetune_tokens],
                "loss": [float(loss)],
            }
        )
        refit = bs.fit(
            pd.concat([recovery_runs, extra], ignore_index=True),
            draws=1000,
            tune=1000,
            seed=1,
            progress=False,
        )
        log_gap = np.log(refit.parameters()["G"].sel(distribution=poor))
        actual[row.pretrain_tokens] = float(log_gap.std())
    sd_now = estimate.sd_now.iloc[0]
    predicted = estimate.expected_sd_reduction
    realised = pd.Series({p: sd_now - sd for p, sd in actual.items()})
    print(pd.DataFrame({"predicted": predicted, "realised": realised}))
    assert predicted.idxmax() == realised.idxmax()
    assert abs(predicted.max() - realised.max()) < 0.5 * sd_now
