"""Prediction: extrapolation bands, new distributions, derived quantities, bad grids."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import FAST

import bayes_scaling as bs
from bayes_scaling.data import RunsValidationError
from bayes_scaling.prediction import band_table, predict
from bayes_scaling.simulate import DEFAULT_GRID, draw_truth, simulate_runs

CUT = 5e9  # fit on pre-training below, predict the runs above


@pytest.fixture(scope="module")
def split():
    truth = draw_truth(8, seed=1)
    runs = simulate_runs(truth, DEFAULT_GRID, runs_per_distribution=30, seed=101)
    train, test = runs[runs.pretrain_tokens < CUT], runs[runs.pretrain_tokens >= CUT]
    return truth, bs.fit(train, warn=False, **FAST), test


def test_bands_cover_held_out_larger_runs(split):
    _, fit, test = split
    table = band_table(fit, test, kind="observation", prob=0.9)
    covered = (table.loss >= table.loss_lower) & (table.loss <= table.loss_upper)
    assert 0.8 <= covered.mean() <= 0.99, covered.mean()
    assert np.median(np.abs(table.loss_median / table.loss - 1)) < 0.02
    assert table.extrapolation.all()  # every held-out run lies past its distribution's data


def test_expected_curve_is_narrower_than_new_observations(split):
    _, fit, test = split
    expected = band_table(fit, test.head(20), kind="expected")
    observed = band_table(fit, test.head(20), kind="observation")
    assert ((expected.loss_upper - expected.loss_lower) < (observed.loss_upper - observed.loss_lower)).all()


def test_new_distribution_is_wider_and_covers_held_out_truth(recovery_runs, recovery_truth):
    held = "d2"
    fit = bs.fit(recovery_runs[recovery_runs.distribution != held], warn=False, **FAST)
    runs = recovery_runs[recovery_runs.distribution == held]
    new = band_table(fit, runs.drop(columns="distribution"), new_distribution=True, kind="observation")
    covered = (new.loss >= new.loss_lower) & (new.loss <= new.loss_upper)
    assert covered.mean() >= 0.9
    known = band_table(fit, runs.assign(distribution="d0"), kind="observation")
    assert ((new.loss_upper - new.loss_lower) > (known.loss_upper - known.loss_lower)).all()


def test_loss_floor_and_exchange_rate_match_the_law(example_fit):
    grid = pd.DataFrame(
        {"distribution": ["code", "poetry"], "pretrain_tokens": [1e10, 1e10], "finetune_tokens": [1e6, 1e6]}
    )
    table = bs.summary(predict(example_fit, grid), ["loss_floor", "exchange_rate"], prob=0.9)
    params = example_fit.parameters("raw").median(("chain", "draw"))
    for row in table.itertuples():
        p = params.sel(distribution=row.distribution)
        floor = p.E + p.G * row.finetune_tokens**-p.beta
        assert row.loss_floor_lower < float(floor) < row.loss_floor_upper
        assert row.exchange_rate_median > 0
    # a large gap makes fine-tuning tokens worth more pre-training tokens
    assert table.exchange_rate_median[1] > table.exchange_rate_median[0]
    # the floor is below the loss at any finite pre-training
    losses = band_table(example_fit, grid)
    assert (table.loss_floor_median < losses.loss_median).all()


def test_prediction_draws_are_labelled_and_reproducible(example_fit):
    grid = pd.DataFrame({"distribution": ["code"], "pretrain_tokens": [1e12], "finetune_tokens": [1e9]})
    first = predict(example_fit, grid, seed=3)
    assert first["loss"].dims == ("chain", "draw", "point")
    assert (first.sizes["chain"], first.sizes["draw"]) == (4, 1000)
    assert first["distribution"].values.tolist() == ["code"]  # the grid labels its points
    # arviz-stats reads them as draws: one ESS per point, of the order of the draws
    import arviz_stats as azs

    assert 1000 < float(azs.ess(first["loss"]).squeeze()) < 8000
    np.testing.assert_array_equal(first["loss_observed"], predict(example_fit, grid, seed=3)["loss_observed"])


def test_unknown_distribution_without_new_is_a_clear_error(example_fit):
    grid = pd.DataFrame({"distribution": ["klingon"], "pretrain_tokens": [1e9], "finetune_tokens": [1e6]})
    with pytest.raises(RunsValidationError, match="'klingon' not in the fit.*new distribution"):
        band_table(example_fit, grid)
    with pytest.raises(RunsValidationError, match="'finetune_tokens' must be a finite number > 0"):
        band_table(example_fit, grid.assign(distribution="code", finetune_tokens=-1))
