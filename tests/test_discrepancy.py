"""The law's own error past the data: distances, leave-future-out cuts, the learned scale,
and what it does (and does not do) to prediction bands."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling.discrepancy import (
    Discrepancy,
    extrapolation_distance,
    fitted_ranges,
    learn_scale,
    leave_future_out_cuts,
)

INPUTS = ("pretrain_tokens", "finetune_tokens")


def _runs() -> pd.DataFrame:
    rows = [("a", p, f) for p in (1e8, 1e9, 1e10) for f in (1e5, 1e6)] + [("b", 1e9, 1e6), ("b", 1e10, 1e7)]
    return pd.DataFrame(rows, columns=["distribution", *INPUTS]).assign(loss=2.0)


def test_distance_is_zero_inside_and_log_distance_outside():
    ranges = fitted_ranges(_runs(), INPUTS)
    grid = pd.DataFrame(
        {
            "distribution": ["a", "a", "a", "b", "a"],
            "pretrain_tokens": [1e9, 1e11, 1e11, 1e9, 1e7],
            "finetune_tokens": [3e5, 1e6, 1e8, 1e6, 1e6],
        }
    )
    distance = extrapolation_distance(grid, ranges, INPUTS)
    np.testing.assert_allclose(
        distance, [0.0, np.log(10), np.hypot(np.log(10), np.log(100)), 0.0, np.log(10)]
    )
    # a new distribution is judged by the range of all runs: f up to 1e7 there
    new = extrapolation_distance(grid.iloc[[2]], ranges, INPUTS, labels=np.array(["*"]))
    np.testing.assert_allclose(new, [np.hypot(np.log(10), np.log(10))])


def test_leave_future_out_holds_out_the_largest_third_of_levels():
    rows = [("many", p, 1e6) for p in 10.0 ** np.arange(7, 14)] + [("two", p, 1e6) for p in (1e8, 1e9)]
    runs = pd.DataFrame(rows, columns=["distribution", *INPUTS])
    cuts = leave_future_out_cuts(runs, INPUTS, min_runs=2)
    assert list(cuts) == ["pretrain_tokens"]  # one fine-tuning level: nothing to hold out along f
    held = runs[cuts["pretrain_tokens"]]
    assert held.distribution.unique().tolist() == ["many"]  # two levels are too few
    assert sorted(held.pretrain_tokens) == [1e12, 1e13]  # 7 levels: the largest 2
    assert leave_future_out_cuts(runs, INPUTS, min_runs=6) == {}


def test_the_scale_is_recovered_when_there_is_one_and_zero_when_there_is_none():
    rng = np.random.default_rng(0)
    distance = rng.uniform(0.5, 2.5, 400)
    variance = np.full(400, 0.01**2)
    wrong = rng.normal(0.0, np.sqrt(variance + (0.05 * distance) ** 2))
    scale, gain = learn_scale(wrong, variance, distance, nu=30)
    assert scale == pytest.approx(0.05, rel=0.15) and gain > 100
    exact = rng.normal(0.0, np.sqrt(variance))
    assert learn_scale(exact, variance, distance, nu=30)[0] == 0.0


def test_a_scale_the_held_out_runs_cannot_tell_from_none_is_none():
    """A few runs a little off: the best scale beats none, but not by a 5% likelihood-ratio
    test (gain <= 1.35), so bands are left as they are; the gain is reported either way."""
    distance, variance = np.full(8, 1.0), np.full(8, 0.01**2)
    # 1.4 predictive standard deviations off, each: a gain of ~0.87 (the old rule kept > 0.5)
    scale, gain = learn_scale(np.array([0.014, -0.014] * 4), variance, distance, nu=5)
    assert scale == 0.0 and 0.5 < gain <= 1.35
    # 1.6 off: the gain (~1.79) passes, and the scale is what the excess says, sqrt(1.6^2 - 1) 0.01
    scale, gain = learn_scale(np.array([0.016, -0.016] * 4), variance, distance, nu=5)
    assert gain > 1.35 and scale == pytest.approx(0.0125, rel=0.1)


def test_bands_widen_past_the_data_only(example_fit):
    wrong = dataclasses.replace(example_fit, discrepancy=Discrepancy(scale=0.05))
    grid = pd.DataFrame(
        {"distribution": ["code", "code"], "pretrain_tokens": [1e10, 1e12], "finetune_tokens": [1e6, 1e6]}
    )
    table = bs.prediction_table(wrong, grid, kind="observation", law_only_beside=True)
    np.testing.assert_allclose(table.extrapolation_distance, [0.0, np.log(10)])
    assert table.extrapolation.tolist() == [False, True]
    width = table.loss_upper - table.loss_lower
    law_only = table.loss_upper_law_only - table.loss_lower_law_only
    assert width[0] == pytest.approx(law_only[0])  # inside the data: unchanged
    assert width[1] > 1.5 * law_only[1]  # 10x past: 5% x log 10 more spread on log loss
    # the example's own fit (law exact) learned no discrepancy: bands past the data unchanged
    assert example_fit.discrepancy.scale == 0.0 and example_fit.discrepancy.heldout_runs > 0
    plain = bs.prediction_table(example_fit, grid, kind="observation", law_only_beside=True)
    np.testing.assert_allclose(plain.loss_upper, plain.loss_upper_law_only)


def test_spec_can_turn_it_off_and_rejects_a_bad_method(recovery_runs, tmp_path):
    from bayes_scaling.spec import models_dir

    text = (models_dir() / "transfer_gap.toml").read_text()
    off = tmp_path / "off.toml"
    off.write_text(text.replace('method = "leave_future_out"', 'method = "none"'))
    fit = bs.fit(recovery_runs, off, draws=100, tune=100, chains=2, seed=1, progress=False, warn=False)
    assert fit.discrepancy.scale == 0.0 and "'none'" in fit.discrepancy.note
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('method = "leave_future_out"', 'method = "gp"'))
    with pytest.raises(bs.SpecError, match="method must be 'leave_future_out' or 'none'"):
        bs.load_spec(bad)
