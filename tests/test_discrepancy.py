"""The law's misfit, inside the data and past it: distances, leave-future-out cuts, the learned
scales and misfit, and what they do (and do not do) to prediction bands."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling.discrepancy import Discrepancy
from bayes_scaling.discrepancy.distance import (
    distances_beyond,
    extrapolation_distance,
    fitted_ranges,
    leave_future_out_cuts,
)
from bayes_scaling.discrepancy.evidence import (
    evidence_weight,
    gain_threshold,
    learn_growth,
    learn_misfit,
    learn_scale,
    learn_spread,
)
from bayes_scaling.discrepancy.learn import spread_speaks_for
from bayes_scaling.prediction import band_table
from bayes_scaling.spec import SpecError

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
    # the largest distance along p, f and their product (p f up to 1e16 in "a")
    np.testing.assert_allclose(distance, [0.0, np.log(10), np.log(1000), 0.0, np.log(10)])
    # a new distribution is judged by the range of all runs: f up to 1e7, p f up to 1e17 there
    new = extrapolation_distance(grid.iloc[[2]], ranges, INPUTS, labels=np.array(["*"]))
    np.testing.assert_allclose(new, [np.log(100)])


def test_a_corner_past_a_diagonal_band_is_far_along_the_product_though_inside_each_range():
    """Runs along a diagonal (big models with many tokens): a run with the largest model and
    the most tokens lies inside both ranges but past every run's compute."""
    runs = pd.DataFrame(
        {"distribution": "a", "pretrain_tokens": [1e8, 1e9, 1e10], "finetune_tokens": [1e7, 1e6, 1e5]}
    )
    corner = pd.DataFrame({"distribution": ["a"], "pretrain_tokens": [1e10], "finetune_tokens": [1e7]})
    beyond = distances_beyond(corner, fitted_ranges(runs, INPUTS), INPUTS)
    np.testing.assert_allclose(beyond, [[0.0, 0.0, np.log(100)]])


def test_leave_future_out_holds_out_the_largest_third_of_levels():
    rows = [("many", p, 1e6) for p in 10.0 ** np.arange(7, 14)] + [("two", p, 1e6) for p in (1e8, 1e9)]
    runs = pd.DataFrame(rows, columns=["distribution", *INPUTS])
    cuts = leave_future_out_cuts(runs, INPUTS, min_runs=2)
    # one fine-tuning level: nothing to hold out along f; along p f, the same runs as along p
    assert list(cuts) == ["pretrain_tokens", "product"]
    np.testing.assert_array_equal(cuts["product"], cuts["pretrain_tokens"])
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
    assert learn_scale(exact, variance, distance, nu=30)[0] < 0.001


def test_a_posterior_too_sure_of_its_parameters_gets_its_spread_widened_and_an_honest_one_none():
    """Held-out errors k times the refit's parameter spread (plus noise): the factor is
    recovered; errors of the refit's own spread leave it at 1, whatever the noise."""
    rng = np.random.default_rng(2)
    parameter_variance = rng.uniform(0.005, 0.03, 400) ** 2
    noise = np.full(400, 0.005**2)
    wrong = rng.normal(0.0, np.sqrt(3.0**2 * parameter_variance + noise))
    factor, gain = learn_spread(wrong, parameter_variance, noise, nu=30)
    assert factor == pytest.approx(3.0, rel=0.15) and gain > 100
    honest = rng.normal(0.0, np.sqrt(parameter_variance + noise))
    assert learn_spread(honest, parameter_variance, noise, nu=30)[0] < 1.02
    # errors that grow with distance, not with the parameters' spread, favour a scale
    distance = rng.uniform(0.2, 3.0, 400)
    flat = np.full(400, 0.01**2)
    growing = rng.normal(0.0, np.sqrt(flat + noise + (0.05 * distance) ** 2))
    assert (
        learn_spread(growing, flat, noise, nu=30)[1] < learn_scale(growing, flat + noise, distance, nu=30)[1]
    )


def test_a_spread_factor_is_learned_only_from_runs_of_half_the_distributions_or_more():
    """A factor on the parameters' spread, learned from one distribution of eight (as on
    mikami2021's fine-tuning backtest), would widen seven spreads it never saw."""
    labels = np.array([f"d{k}" for k in range(8) for _ in range(5)])
    one_of_eight = labels == "d0"
    assert not spread_speaks_for(labels[one_of_eight], labels)
    assert spread_speaks_for(labels[np.isin(labels, ["d0", "d1", "d2", "d3"])], labels)
    assert spread_speaks_for(labels[:3], labels[:5])  # a table of one distribution


def test_the_growth_power_is_recovered_where_the_misfit_levels_off_or_accelerates():
    rng = np.random.default_rng(1)
    distance = rng.uniform(0.2, 4.0, 400)
    variance = np.full(400, 0.01**2)
    for power in (0.5, 2.0):
        wrong = rng.normal(0.0, np.sqrt(variance + (0.05 * distance**power) ** 2))
        scale, learned = learn_growth(wrong, variance, distance, nu=30)
        assert learned == power and scale == pytest.approx(0.05, rel=0.2)


def test_a_distribution_off_its_curve_gets_a_misfit_and_the_others_none():
    """The runs of "bad" at each fine-tuning level stray together, by 5% (sd) beyond noise
    of 1%: its misfit is ~0.05; the others, within noise, get none, and a new distribution
    gets their root mean square."""
    rng = np.random.default_rng(2)
    labels = np.repeat(["good", "bad", "fine"], 40)
    level = np.tile(np.repeat([1e5, 1e6, 1e7, 1e8], 10), 3)
    offset = dict(zip([1e5, 1e6, 1e7, 1e8], rng.normal(0.0, 0.05, 4), strict=True))
    residual = rng.normal(0.0, 0.01, 120) + np.where(labels == "bad", [offset[v] for v in level], 0.0)
    variance = np.full(120, 0.01**2)
    levels = {"finetune_tokens": level, "pretrain_tokens": np.arange(120) % 10}
    misfit, gains, threshold, offsets = learn_misfit(residual, variance, labels, nu=5, levels=levels)
    assert list(misfit) == ["bad"] and misfit["bad"] == pytest.approx(
        np.sqrt(np.mean([*offset.values()]) ** 2 + np.var([*offset.values()])), rel=0.3
    )
    assert gains["bad"] > threshold == pytest.approx(gain_threshold(6)) and set(gains) == {
        "good",
        "bad",
        "fine",
    }
    law = Discrepancy(misfit=misfit, misfit_gains=gains)
    inside = np.zeros((3, 3))
    np.testing.assert_allclose(
        law.law_error_sd(inside, INPUTS, np.array(["good", "bad", "fine"])), [0.0, misfit["bad"], 0.0]
    )
    np.testing.assert_allclose(law.law_error_sd(inside, INPUTS), misfit["bad"] / np.sqrt(3))
    assert law.learned and Discrepancy.from_dict(law.to_dict()) == law
    # the curve of "bad" is shifted at each fine-tuning level by about that level's offset
    # (10 runs a level, noise 1%: shrunk by less than 5%), and its sd there is what is left
    assert list(offsets) == ["bad"] and offsets["bad"]["input"] == "finetune_tokens"
    np.testing.assert_allclose(offsets["bad"]["levels"], [1e5, 1e6, 1e7, 1e8])
    np.testing.assert_allclose(offsets["bad"]["offsets"], [*offset.values()], atol=0.006)
    assert max(offsets["bad"]["sds"]) < 0.005
    shifted = Discrepancy(misfit=misfit, misfit_gains=gains, level_offsets=offsets)
    points = {"finetune_tokens": np.array([1e5, 1e5, 3e5]), "pretrain_tokens": np.ones(3)}
    shift, sd = shifted.at_levels(np.array(["bad", "good", "bad"]), points, 3)
    assert shift[0] == offsets["bad"]["offsets"][0] and shift[1] == shift[2] == 0.0  # its own level only
    assert sd[0] == offsets["bad"]["sds"][0] and sd[2] == misfit["bad"] and sd[1] == 0.0
    assert Discrepancy.from_dict(shifted.to_dict()) == shifted
    # per run, with the likelihood's heavy tails, the same strays pass too
    assert list(learn_misfit(residual, variance, labels, nu=5)[0]) == ["bad"]


def test_a_scale_is_weighed_by_its_evidence_so_bands_move_with_it_and_jump_nowhere():
    """A few runs a little off: the best scale beats none, but with odds under even (gain
    under the 5% test's 1.35), so it enters the bands weighed by its posterior probability
    against none; as the evidence grows the weight goes to 1, with no step at the threshold
    (where mikami2021's fine-tuning bands jumped between 50% and 103% wide with Monte Carlo
    noise). The gain is reported either way."""
    distance, variance = np.full(8, 1.0), np.full(8, 0.01**2)
    assert evidence_weight(1.35, 1.35) == pytest.approx(0.5) and evidence_weight(0.0) == 0.0
    # 1.4 predictive standard deviations off, each: a gain of ~0.87, odds against a misfit
    few = np.array([0.014, -0.014] * 4)
    weighed, gain = learn_scale(few, variance, distance, nu=5)
    best = learn_scale(few, variance, distance, nu=5, threshold=-np.inf)[0]
    assert 0.5 < gain <= 1.35 and weighed == pytest.approx(best * np.sqrt(evidence_weight(gain)))
    assert 0.2 * best < weighed < np.sqrt(0.5) * best
    # 1.6 off: the gain (~1.79) passes, and the best scale is what the excess says,
    # sqrt(1.6^2 - 1) 0.01, weighed by odds above even
    scale, gain = learn_scale(np.array([0.016, -0.016] * 4), variance, distance, nu=5)
    best = learn_scale(np.array([0.016, -0.016] * 4), variance, distance, nu=5, threshold=-np.inf)[0]
    assert gain > 1.35 and best == pytest.approx(0.0125, rel=0.1)
    assert np.sqrt(0.5) * best < scale < best
    # just under and just over the threshold, the bands' scale differs by the evidence's
    # small step, not by all of it
    offsets = np.linspace(0.0150, 0.0156, 7)
    learned = [learn_scale(np.array([o, -o] * 4), variance, distance, nu=5) for o in offsets]
    scales, gains = np.array(learned).T
    assert min(gains) < 1.35 < max(gains)
    assert np.all(np.diff(scales) > 0) and np.max(np.diff(scales)) < 0.1 * scales[-1]


def test_distances_beyond_are_per_input_and_the_law_error_is_the_largest_directions():
    """Each direction's scale was learned as all of its held-out runs' error, and those runs
    lie past the data along other directions too: the error past the data is the largest
    direction's, not the sum (which counted it twice where two scales are alike)."""
    ranges = fitted_ranges(_runs(), INPUTS)
    grid = pd.DataFrame(
        {"distribution": ["a", "a"], "pretrain_tokens": [1e11, 1e12], "finetune_tokens": [1e8, 1e6]}
    )
    beyond = distances_beyond(grid, ranges, INPUTS)
    np.testing.assert_allclose(
        beyond, [[np.log(10), np.log(100), np.log(1000)], [np.log(100), 0.0, np.log(100)]]
    )
    np.testing.assert_allclose(extrapolation_distance(grid, ranges, INPUTS), beyond.max(axis=1))
    law = Discrepancy(scales={"pretrain_tokens": 0.0, "finetune_tokens": 0.05})
    np.testing.assert_allclose(law.law_error_sd(beyond, INPUTS), [0.05 * np.log(100), 0.0])
    both = Discrepancy(scales={"pretrain_tokens": 0.02, "finetune_tokens": 0.05})
    np.testing.assert_allclose(
        both.law_error_sd(beyond, INPUTS),
        [max(0.02 * np.log(10), 0.05 * np.log(100)), 0.02 * np.log(100)],
    )


def test_a_fit_saved_with_one_scale_reads_back_as_that_scale_for_every_input():
    old = {
        "scale": 0.03,
        "heldout_runs": 12,
        "cuts": ["pretrain_tokens"],
        "note": "",
        "log_likelihood_gain": 4.0,
    }
    read = Discrepancy.from_dict(old)
    assert read.scale("pretrain_tokens") == read.scale("finetune_tokens") == 0.03 and read.learned
    beyond = np.array([[np.log(10), np.log(100)]])
    np.testing.assert_allclose(read.law_error_sd(beyond, INPUTS), 0.03 * np.log(100))
    new = Discrepancy(
        scales={"finetune_tokens": 0.1, "product": 0.02},
        log_likelihood_gains={"finetune_tokens": 7.0, "product": 3.0},
        powers={"finetune_tokens": 0.5},
        cuts=("finetune_tokens", "product"),
    )
    assert Discrepancy.from_dict(new.to_dict()) == new
    assert "along finetune_tokens: sd 0.1 x d^0.5 (gain 7.00)" in new.describe().splitlines()[1]
    # grows as s d^k: f's error at d = 4 is 0.1 x 2, the product's 0.02 x 4, and at 100 the
    # product's (2.0) passes f's (1.0)
    np.testing.assert_allclose(new.law_error_sd(np.array([[0.0, 4.0, 4.0]]), INPUTS), 0.2)
    np.testing.assert_allclose(new.law_error_sd(np.array([[0.0, 100.0, 100.0]]), INPUTS), 2.0)
    # the misfit inside the data adds to it in quadrature
    inside_too = dataclasses.replace(new, misfit={"a": 0.15}, misfit_gains={"a": 9.0})
    np.testing.assert_allclose(
        inside_too.law_error_sd(np.array([[0.0, 4.0, 4.0]]), INPUTS, np.array(["a"])), 0.25
    )
    assert read.scale("product") == 0.0  # a fit saved before the product was measured


def test_the_test_level_is_shared_between_the_inputs_tested():
    """5% for one input (a gain of 1.35: the 50:50 chi2_0/chi2_1 mixture's 95% point over 2),
    2.5% each for two (1.92), so a law that holds along both gets a spurious scale in ~5% of tables."""
    assert gain_threshold(1) == pytest.approx(2.706 / 2, abs=1e-3)
    assert gain_threshold(2) == pytest.approx(3.841 / 2, abs=1e-3)
    residual, variance, distance = np.array([0.016, -0.016] * 4), np.full(8, 0.01**2), np.full(8, 1.0)
    scale, gain = learn_scale(residual, variance, distance, nu=5)
    assert 1.35 < gain < 1.92  # over even odds alone, under them when two inputs share the level
    shared = learn_scale(residual, variance, distance, nu=5, threshold=gain_threshold(2))[0]
    assert shared / scale == pytest.approx(
        np.sqrt(evidence_weight(gain, gain_threshold(2)) / evidence_weight(gain, gain_threshold(1)))
    )
    assert evidence_weight(gain, gain_threshold(2)) < 0.5 < evidence_weight(gain, gain_threshold(1))


def test_bands_widen_past_the_data_only_and_along_the_inputs_with_a_scale(example_fit):
    wrong = dataclasses.replace(example_fit, discrepancy=Discrepancy(scales={"pretrain_tokens": 0.05}))
    grid = pd.DataFrame(
        {"distribution": ["code", "code"], "pretrain_tokens": [1e10, 1e12], "finetune_tokens": [1e6, 1e6]}
    )
    table = band_table(wrong, grid, kind="observation", law_only_beside=True)
    np.testing.assert_allclose(table.extrapolation_distance, [0.0, np.log(10)])
    assert table.extrapolation.tolist() == [False, True]
    width = table.loss_upper - table.loss_lower
    law_only = table.loss_upper_law_only - table.loss_lower_law_only
    assert width[0] == pytest.approx(law_only[0])  # inside the data: unchanged
    assert width[1] > 1.5 * law_only[1]  # 10x past: 5% x log 10 more spread on log loss
    # a scale along fine-tuning only leaves bands 10x past the pre-training data as they are
    along_f = dataclasses.replace(example_fit, discrepancy=Discrepancy(scales={"finetune_tokens": 0.05}))
    table_f = band_table(along_f, grid, kind="observation", law_only_beside=True)
    np.testing.assert_allclose(table_f.loss_upper, table_f.loss_upper_law_only)
    # a widened spread of the parameters along pre-training: past the data only, by its factor
    spread = dataclasses.replace(
        example_fit, discrepancy=Discrepancy(spread_factors={"pretrain_tokens": 3.0})
    )
    table_s = band_table(spread, grid, kind="expected", law_only_beside=True)
    width_s = np.log(table_s.loss_upper / table_s.loss_lower)
    law_only_s = np.log(table_s.loss_upper_law_only / table_s.loss_lower_law_only)
    assert width_s[0] == pytest.approx(law_only_s[0])
    assert width_s[1] == pytest.approx(3.0 * law_only_s[1], rel=0.05)
    assert (
        spread.discrepancy.learned
        and "along pretrain_tokens: the parameters' spread widened x3"
        in Discrepancy(scales={"pretrain_tokens": 0.0}, spread_factors={"pretrain_tokens": 3.0}).describe()
    )
    assert Discrepancy.from_dict(spread.discrepancy.to_dict()) == spread.discrepancy
    # the example's own fit (law exact): its refits' errors turn the corpus prior of a misfit
    # past the data off, so bands past the data are (nearly) the law's own
    assert example_fit.discrepancy.heldout_runs > 0 and example_fit.discrepancy.growth_prior
    assert max(example_fit.discrepancy.misfit_probabilities.values()) < 0.05
    plain = band_table(example_fit, grid, kind="observation", law_only_beside=True)
    np.testing.assert_allclose(plain.loss_upper, plain.loss_upper_law_only, rtol=0.003)


def test_spec_can_turn_it_off_and_rejects_a_bad_method(recovery_runs, tmp_path):
    from bayes_scaling.spec import models_dir

    text = (models_dir() / "transfer_gap.toml").read_text()
    off = tmp_path / "off.toml"
    off.write_text(text.replace('method = "leave_future_out"', 'method = "none"'))
    fit = bs.fit(recovery_runs, off, draws=100, tune=100, chains=2, seed=1, progress=False, warn=False)
    assert not fit.discrepancy.learned and "'none'" in fit.discrepancy.note
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('method = "leave_future_out"', 'method = "gp"'))
    with pytest.raises(SpecError, match="method must be 'leave_future_out' or 'none'"):
        bs.load_spec(bad)
