"""A fit names a level of a distribution whose runs fall outside their own bands by more than
chance (bayes_scaling.calibration), and keeps quiet where the law is right; an error rate's
bands stay inside [0, 1]."""

import numpy as np
import pandas as pd
from conftest import point_fit

import bayes_scaling as bs
from bayes_scaling.calibration import describe_misfit, level_misfits

TRUTH = pd.DataFrame(
    {
        "distribution": ["code", "legal", "poetry"],
        "E": [1.6, 1.9, 2.2],
        "A": 1e4,
        "alpha": 0.3,
        "beta": [0.3, 0.35, 0.4],
        "G": [1.0, 10.0, 50.0],
    }
)
GRID = {"pretrain_tokens": [1e9, 3e9, 1e10, 3e10, 1e11], "finetune_tokens": [1e5, 1e6, 1e7]}


def runs(noise: float = 0.01, seed: int = 2) -> pd.DataFrame:
    return bs.simulate_runs(TRUTH, GRID, noise=noise, seed=seed)


def test_no_level_is_named_where_the_law_is_right():
    for seed in range(5):
        table = runs(seed=seed)
        assert level_misfits(point_fit(TRUTH, draws=400, runs=table), seed=seed).empty, seed


def test_a_level_the_law_misses_is_named_with_its_side_and_size():
    table = runs()
    smallest = table.finetune_tokens == 1e5
    table.loc[smallest & (table.distribution == "legal"), "loss"] *= 0.9  # 10% below its curve
    found = level_misfits(point_fit(TRUTH, draws=400, runs=table))
    assert {"code", "poetry"}.isdisjoint(found.distribution)  # the others stay quiet
    row = found[(found.distribution == "legal") & (found.input == "finetune_tokens")].iloc[0]
    assert row.level == 1e5 and row.runs == 5 and row.outside_90 == 5
    assert row.z < 0 and row.mean_pit < 0.05
    assert np.isclose(row.median_miss, -0.1, atol=0.02)
    words = describe_misfit(row, "nats/token")
    assert "legal at finetune_tokens = 100000: 5 of its 5 runs lie outside their 90% bands" in words
    assert "below the fitted curve (median 10.2% below" in words


def test_a_level_scattered_on_both_sides_is_named_as_noise():
    table = runs()
    rng = np.random.default_rng(0)
    poetry = table.distribution == "poetry"
    table.loc[poetry, "loss"] *= np.exp(0.08 * rng.choice([-1, 1], poetry.sum()))  # 8% either way
    found = level_misfits(point_fit(TRUTH, draws=400, runs=table))
    assert set(found.distribution) == {"poetry"} and (found.outside_90 >= 4).all()
    words = describe_misfit(found.iloc[0], "nats/token")
    assert "on both sides of the fitted curve" in words and 'sigma_pooling = "per_distribution"' in words


def test_error_rate_bands_stay_inside_zero_and_one():
    # a distribution whose curve sits at 0.97 with 20% noise: unbounded, bands pass 1
    truth = TRUTH.assign(E=[0.95, 0.5, 0.3], G=[1e-3, 1.0, 1.0])
    grid = pd.DataFrame({"distribution": ["code"] * 3, "pretrain_tokens": 1e3, "finetune_tokens": 1e5})
    fit = point_fit(truth, draws=400, model="transfer_gap_error_rate", sigma=0.2)
    assert fit.spec.loss.upper == 1.0
    draws = bs.predict(fit, grid)
    assert float(draws.loss_observed.max()) <= 1.0 and float(draws.loss.max()) <= 1.0
    assert float((draws.loss_observed == 1.0).mean()) > 0.2  # the bound is reached, not avoided
    unbounded = bs.predict(point_fit(truth, draws=400, sigma=0.2), grid)
    assert float(unbounded.loss_observed.max()) > 1.0  # nats per token have no such bound
