"""Each law recovers its known parameters from data simulated from it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import FAST, no_discrepancy

import bayes_scaling as bs
from bayes_scaling.draws import summarise_draws
from bayes_scaling.simulate import simulate_runs

CASES = {
    "chinchilla": (
        pd.DataFrame(
            {
                "distribution": ["web", "books", "code"],
                "E": [1.7, 1.9, 1.1],
                "A": [400.0, 500.0, 300.0],
                "alpha": 0.34,
                "B": [410.0, 600.0, 300.0],
                "beta": 0.28,
            }
        ),
        {"params": np.geomspace(1e7, 1e10, 6), "pretrain_tokens": np.geomspace(1e8, 1e11, 6)},
    ),
    "rectified": (
        pd.DataFrame(
            {
                "distribution": ["m1", "m2", "m3", "m4"],
                "E": [1.2, 1.5, 1.0, 1.4],
                "B": [40.0, 80.0, 20.0, 60.0],
                "D_l": [5.0, 50.0, 2.0, 20.0],
                "beta": [0.3, 0.35, 0.3, 0.32],
            }
        ),
        {"finetune_tokens": np.geomspace(1e3, 1e8, 14)},
    ),
    "effective_data": (
        # text -> code, with the paper's python values (k 1.9e4, a 0.18, b 0.38) for python
        pd.DataFrame(
            {
                "distribution": ["python", "java", "go", "rust"],
                "N_c": 8.8e13,
                "D_c": [5.4e13, 3.0e13, 4.0e13, 6.0e13],
                "a_N": 0.076,
                "a_D": 0.095,
                "k": [1.9e4, 5.0e3, 1.0e4, 3.0e3],
                "a": 0.18,
                "b": 0.38,
            }
        ),
        {
            "params": np.geomspace(1e6, 1e9, 5),
            "finetune_tokens": np.geomspace(1e5, 1e9, 6),
            "pretrain_tokens": [0.0, 1e11],
        },
    ),
    "size_dependent_data": (
        # Chinchilla's case with a data exponent of 0.38 at N = 1e8 falling to 0.24 at 1e10
        pd.DataFrame(
            {
                "distribution": ["web", "books", "code"],
                "E": [1.7, 1.9, 1.1],
                "A": [400.0, 500.0, 300.0],
                "alpha": 0.34,
                "B": [4.0, 5.0, 3.0],
                "D_c": 1e7,
                "beta": 2.4,
                "kappa": 0.1,
            }
        ),
        {"params": np.geomspace(1e7, 1e10, 6), "pretrain_tokens": np.geomspace(1e8, 1e11, 6)},
    ),
    "chinchilla_shared_terms": (
        # two pre-training sets of one model family: floors apart, size and data terms common
        pd.DataFrame(
            {
                "distribution": ["web", "books"],
                "E": [1.7, 1.9],
                "A": 400.0,
                "alpha": 0.34,
                "B": 410.0,
                "beta": 0.28,
            }
        ),
        {"params": np.geomspace(1e7, 1e10, 6), "pretrain_tokens": np.geomspace(1e8, 1e11, 6)},
    ),
    "few_shot_error_rate": (
        # few-shot error rates that start near chance, as in alabdulmohsin2022
        pd.DataFrame(
            {
                "distribution": ["birds", "cifar", "caltech", "imagenet"],
                "E": [0.1, 0.15, 0.05, 0.2],
                "A": [1.6e5, 4.0e4, 3.0e4, 2.0e5],
                "alpha": [0.6, 0.5, 0.55, 0.62],
                "beta": 0.17,
                "G": [0.65, 0.4, 0.3, 0.5],
                "sharpness": 2.5,
            }
        ),
        {"pretrain_tokens": np.geomspace(1e6, 1e10, 12), "finetune_tokens": [500.0, 1000.0, 2500.0]},
    ),
}
# the law of each shipped spec, where its name is not the spec's
LAWS = {"few_shot_error_rate": "transfer_gap_ceiling", "chinchilla_shared_terms": "chinchilla"}


# effective_data's and size_dependent_data's recoveries (16-30 s each) run with `make
# test-slow`, to keep the suite within its 6 minutes on CI's 2 cores; test_laws.py checks
# their formulas (numpy and PyTensor alike, raw units) either way
SLOW = ("effective_data", "size_dependent_data")


@pytest.mark.parametrize(
    "model",
    [pytest.param(name, marks=pytest.mark.slow) if name in SLOW else name for name in sorted(CASES)],
)
def test_law_recovers_known_parameters(model):
    truth, grid = CASES[model]
    law = LAWS.get(model, model)
    runs = simulate_runs(truth, grid, law=law, noise=0.01, seed=7)
    # parameters only: the leave-future-out refits of the misfit model are tested elsewhere
    fit = bs.fit(runs, no_discrepancy(model), warn=False, **FAST)
    assert fit.diagnostics.divergences == 0, fit.diagnostics
    params = fit.parameters("raw")
    covered = []
    for name in fit.law.parameters:
        band = summarise_draws(params[name], prob=0.9)
        true = truth.set_index("distribution")[name].reindex(fit.distributions).to_numpy()
        covered += list((band.lower.values <= true) & (true <= band.upper.values))
    assert np.mean(covered) >= 0.85, (model, np.mean(covered))
