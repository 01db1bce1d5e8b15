"""Decisions: known answers, point posteriors, EVPI, and the experiment-value estimate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import point_fit

import bayes_scaling as bs
from bayes_scaling.data import RunsValidationError
from bayes_scaling.decide import allocate, evaluate_experiment, rank_actions
from bayes_scaling.prediction import band_table
from bayes_scaling.simulate import law_loss

TRUTH = pd.DataFrame(
    {
        "distribution": ["small_gap", "large_gap"],
        "E": [1.5, 1.8],
        "A": [1.0e4, 1.0e4],
        "alpha": [0.3, 0.3],
        "beta": [0.35, 0.35],
        "G": [0.01, 300.0],
    }
)
STATE = (1e10, 1e6)


def actions_for(distribution: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "action": ["pretrain_10x", "finetune_10x"],
            "distribution": distribution,
            "add_pretrain_tokens": [9 * STATE[0], 0.0],
            "add_finetune_tokens": [0.0, 9 * STATE[1]],
        }
    )


def test_large_gap_ranks_fine_tuning_first():
    fit = point_fit(TRUTH, jitter=0.05)
    table = rank_actions(
        fit, actions_for("large_gap"), pretrain_price=1e-6, finetune_price=1e-3, weights={"large_gap": 1.0}
    )
    assert table.action[0] == "finetune_10x"
    assert table.p_best[0] == 1.0


def test_no_gap_and_cheap_pretraining_ranks_pretraining_first():
    fit = point_fit(TRUTH, jitter=0.05)
    # per unit cost: pre-training 1e5x cheaper per token than fine-tuning
    table = rank_actions(
        fit,
        actions_for("small_gap"),
        pretrain_price=1e-8,
        finetune_price=1e-3,
        sort_by="reduction_per_cost",
        weights={"small_gap": 1.0},
    )
    assert table.action[0] == "pretrain_10x"


def _portfolio_loss(truth: pd.DataFrame, add_pretrain: float, add_finetune: dict, weights: dict) -> float:
    """The weighted portfolio loss after an action, from the law itself (no posterior)."""
    params = truth.set_index("distribution")
    total = 0.0
    for name, weight in weights.items():
        total += weight * float(
            law_loss(
                "transfer_gap",
                {
                    "pretrain_tokens": np.array([STATE[0] + add_pretrain]),
                    "finetune_tokens": np.array([STATE[1] + add_finetune.get(name, 0.0)]),
                },
                {k: params.loc[[name], k].to_numpy() for k in ("E", "A", "alpha", "beta", "G")},
            )[0]
        )
    return total


def test_point_posterior_ranks_as_the_deterministic_portfolio_law():
    """Pre-training tokens lower both distributions' losses; fine-tuning only its own."""
    fit = point_fit(TRUTH, jitter=0.0)
    actions = pd.DataFrame(
        {
            "action": ["pre", "small", "large", "both", "both"],
            "distribution": ["*", "small_gap", "large_gap", "small_gap", "large_gap"],
            "add_pretrain_tokens": [9e10, 0.0, 0.0, 1e10, 0.0],
            "add_finetune_tokens": [0.0, 1e6, 3e6, 1e6, 2e6],
        }
    )
    weights = {"small_gap": 0.25, "large_gap": 0.75}
    table = rank_actions(fit, actions, pretrain_price=1e-6, finetune_price=1e-3, weights=weights).set_index(
        "action"
    )
    expected = {
        "pre": _portfolio_loss(TRUTH, 9e10, {}, weights),
        "small": _portfolio_loss(TRUTH, 0.0, {"small_gap": 1e6}, weights),
        "large": _portfolio_loss(TRUTH, 0.0, {"large_gap": 3e6}, weights),
        "both": _portfolio_loss(TRUTH, 1e10, {"small_gap": 1e6, "large_gap": 2e6}, weights),
    }
    for action, loss in expected.items():
        assert table.loc[action, "expected_loss"] == pytest.approx(loss, rel=1e-10)
    assert table.loc["both", "distribution"] == "small_gap+large_gap"
    assert table.loc["pre", "distribution"] == "*"
    # the rows of one action add up: tokens and cost
    assert table.loc["both", "add_finetune_tokens"] == 3e6
    assert table.loc["both", "cost"] == pytest.approx(1e10 * 1e-6 + 3e6 * 1e-3)
    assert set(table.p_best) == {0.0, 1.0}
    np.testing.assert_allclose(table.loss_q, table.expected_loss)
    np.testing.assert_allclose(table.loss_cvar, table.expected_loss)


MANY_SMALL_GAPS = pd.DataFrame(
    {
        "distribution": [f"d{i}" for i in range(6)],
        "E": 1.5,
        "A": 1.0e4,
        "alpha": 0.3,
        "beta": 0.35,
        "G": [0.01, 0.02, 0.05, 0.01, 0.03, 0.02],
    }
)


def _same_cost_actions(names: list[str]) -> pd.DataFrame:
    """10x pre-training, or as much fine-tuning data for one distribution, at one cost (900)."""
    rows = [("pretrain_10x", "*", 9 * STATE[0], 0.0, 900.0)]
    rows += [(f"finetune_{d}", d, 0.0, 9 * STATE[1], 900.0) for d in names]
    return pd.DataFrame(
        rows, columns=["action", "distribution", "add_pretrain_tokens", "add_finetune_tokens", "cost"]
    )


def test_shared_pretraining_beats_fine_tuning_over_many_small_gaps():
    fit = point_fit(MANY_SMALL_GAPS, jitter=0.05)
    table = rank_actions(fit, _same_cost_actions(list(MANY_SMALL_GAPS.distribution)))
    assert table.action[0] == "pretrain_10x"
    assert table.p_best[0] > 0.95
    # scored by one distribution alone, as before, fine-tuning that distribution would win
    alone = rank_actions(fit, _same_cost_actions(["d0"]), weights={"d0": 1.0})
    assert alone.action[0] == "finetune_d0"


def test_one_heavily_weighted_large_gap_makes_its_fine_tuning_win():
    truth = pd.concat([MANY_SMALL_GAPS, TRUTH.iloc[[1]]], ignore_index=True)
    fit = point_fit(truth, jitter=0.05)
    weights = {d: 0.02 for d in MANY_SMALL_GAPS.distribution} | {"large_gap": 0.88}
    table = rank_actions(fit, _same_cost_actions(list(truth.distribution)), weights=weights)
    assert table.action[0] == "finetune_large_gap"
    assert table.p_best[0] > 0.95


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({"mars": 1.0}, "'mars' not in the fit"),
        ({"small_gap": -1.0}, "column 'weight' must be a number >= 0"),
        ({"small_gap": float("nan")}, "column 'weight' must be a number >= 0"),
        ({"small_gap": 0.0, "large_gap": 0.0}, "no distribution has a weight > 0"),
        (pd.DataFrame({"distribution": ["small_gap"]}), "missing column 'weight'"),
    ],
)
def test_bad_weights_are_clear_errors(weights, message):
    with pytest.raises(bs.BayesScalingError, match=message):
        rank_actions(
            point_fit(TRUTH),
            actions_for("large_gap"),
            pretrain_price=1.0,
            finetune_price=1.0,
            weights=weights,
        )


def test_weights_and_prices_read_from_csv(tmp_path):
    weights = tmp_path / "weights.csv"
    weights.write_text("distribution,weight\nlarge_gap,3\nsmall_gap,1\n")
    prices = tmp_path / "prices.csv"
    prices.write_text("distribution,finetune_price\nlarge_gap,0.01\nsmall_gap,0.001\n")
    table = rank_actions(
        point_fit(TRUTH),
        actions_for("large_gap"),
        pretrain_price=1e-9,
        finetune_price=prices,
        weights=weights,
    ).set_index("action")
    assert table.loc["finetune_10x", "cost"] == pytest.approx(9e6 * 0.01)
    assert table.attrs["weights"] == {"small_gap": 1.0, "large_gap": 3.0}
    bad = tmp_path / "bad_prices.csv"
    bad.write_text("distribution,finetune_price\nlarge_gap,-1\n")
    with pytest.raises(RunsValidationError, match="row 1: column 'finetune_price' must be a number >= 0"):
        rank_actions(point_fit(TRUTH), actions_for("large_gap"), pretrain_price=1.0, finetune_price=bad)
    no_price = prices.with_name("partial.csv")
    no_price.write_text("distribution,finetune_price\nsmall_gap,0.001\n")
    with pytest.raises(RunsValidationError, match="no price per fine-tuning token of large_gap"):
        rank_actions(point_fit(TRUTH), actions_for("large_gap"), pretrain_price=1.0, finetune_price=no_price)


def test_ranking_from_a_fitted_posterior_agrees_with_the_true_law():
    """Fit simulated runs, rank 7 portfolio actions; Kendall tau against the truth >= 0.8.
    Five distributions, two of them outside the portfolio: the model then has the recovery
    fit's bucket of 8 and is compiled once for both (a bucket of 4 cost ~14 s more)."""
    from scipy.stats import kendalltau

    from bayes_scaling.simulate import DEFAULT_GRID, simulate_runs

    truth = pd.DataFrame(
        {
            "distribution": ["a", "b", "c", "d", "e"],
            "E": [1.5, 1.8, 1.2, 1.6, 1.4],
            "A": 1.0e4,
            "alpha": 0.3,
            "beta": [0.33, 0.35, 0.37, 0.34, 0.36],
            "G": [0.5, 20.0, 150.0, 5.0, 50.0],
        }
    )
    runs = simulate_runs(truth, DEFAULT_GRID, runs_per_distribution=30, noise=0.01, seed=2)
    fit = bs.fit(runs, draws=300, tune=300, chains=2, seed=4, progress=False, warn=False)
    state = runs.groupby("distribution")[["pretrain_tokens", "finetune_tokens"]].max().reset_index()
    weights = {"a": 0.5, "b": 0.3, "c": 0.2}
    rows = [
        ("pre_3x", "*", 2.0, 0.0),
        ("pre_30x", "*", 29.0, 0.0),
        ("a_10x", "a", 0.0, 9.0),
        ("b_10x", "b", 0.0, 9.0),
        ("c_10x", "c", 0.0, 9.0),
        ("c_3x", "c", 0.0, 2.0),
        ("mixed", "b", 2.0, 2.0),
    ]
    p_now, f_now = state.pretrain_tokens.max(), state.finetune_tokens.max()
    actions = pd.DataFrame(
        [(name, d, p * p_now, f * f_now, 1.0) for name, d, p, f in rows],
        columns=["action", "distribution", "add_pretrain_tokens", "add_finetune_tokens", "cost"],
    )
    table = rank_actions(fit, actions, weights=weights, state=state).set_index("action")
    true_loss = {}
    for name, d, p, f in rows:
        total = 0.0
        params = truth.set_index("distribution")
        for dist, w in weights.items():
            here = state.set_index("distribution").loc[dist]
            loss = law_loss(
                "transfer_gap",
                {
                    "pretrain_tokens": np.array([here.pretrain_tokens + p * p_now]),
                    "finetune_tokens": np.array([here.finetune_tokens + (f * f_now if dist == d else 0.0)]),
                },
                {k: params.loc[[dist], k].to_numpy() for k in ("E", "A", "alpha", "beta", "G")},
            )
            total += w * float(loss[0])
        true_loss[name] = total
    names = [r[0] for r in rows]
    tau = kendalltau([true_loss[n] for n in names], table.loc[names, "expected_loss"]).statistic
    assert tau >= 0.8, (tau, true_loss, table.expected_loss.to_dict())


def test_allocation_matches_a_brute_force_grid_over_two_distributions():
    """Joint split over pre-training and two distributions' fine-tuning, against a grid."""
    fit = point_fit(TRUTH, jitter=0.1, draws=200)
    weights = {"small_gap": 0.5, "large_gap": 0.5}
    prices = {"small_gap": 1e-5, "large_gap": 3e-5}
    result = allocate(fit, 20.0, 1e-9, prices, weights=weights)
    from bayes_scaling.prediction import point_parameters

    params = point_parameters(fit, pd.DataFrame({"distribution": ["small_gap", "large_gap"]}))
    step = 0.01
    best, best_loss = None, np.inf
    for s_small in np.arange(0, 1 + 1e-9, step):
        for s_large in np.arange(0, 1 - s_small + 1e-9, step):
            p = STATE[0] + (1 - s_small - s_large) * 20.0 / 1e-9
            f = np.array([STATE[1] + s_small * 20.0 / 1e-5, STATE[1] + s_large * 20.0 / 3e-5])
            loss = fit.law.loss(np.log(p), np.log(f)[None, :], **params)  # (S, 2)
            value = float((loss * 0.5).sum(axis=1).mean())
            if value < best_loss:
                best, best_loss = (s_small, s_large), value
    assert result.expected_loss <= best_loss + 1e-12
    assert result.finetune_share["small_gap"] == pytest.approx(best[0], abs=step)
    assert result.finetune_share["large_gap"] == pytest.approx(best[1], abs=step)


def test_evpi_is_zero_when_draws_agree_and_positive_when_they_disagree():
    agreed = allocate(
        point_fit(TRUTH), budget=10.0, pretrain_price=1e-9, finetune_price=1e-5, distributions=["large_gap"]
    )
    assert agreed.evpi == pytest.approx(0.0, abs=1e-12)
    assert np.all(agreed.draw_optima == agreed.draw_optima[0])
    unsure = allocate(
        point_fit(TRUTH, jitter=0.6, draws=400),
        budget=10.0,
        pretrain_price=1e-9,
        finetune_price=1e-5,
        distributions=["large_gap"],
    )
    assert unsure.evpi > 1e-4
    assert unsure.draw_optima.std() > 0


def test_allocation_moves_to_fine_tuning_with_the_gap():
    small = allocate(point_fit(TRUTH), 10.0, 1e-9, 1e-5, distributions=["small_gap"])
    large = allocate(point_fit(TRUTH), 10.0, 1e-9, 1e-5, distributions=["large_gap"])
    assert large.finetune_share["large_gap"] > small.finetune_share["small_gap"]
    # the chosen split is the minimum of the frontier it reports
    assert large.expected_loss == pytest.approx(large.frontier.expected_loss.min())


def test_allocation_across_distributions_spends_where_the_gap_is():
    result = allocate(point_fit(TRUTH), 10.0, 1e-9, 1e-5, distributions=["small_gap", "large_gap"])
    assert result.finetune_share["large_gap"] > result.finetune_share["small_gap"]
    shares = result.frontier.filter(like="share").sum(axis=1)
    np.testing.assert_allclose(shares, 1.0)


def test_fragile_decision_is_flagged():
    fit = point_fit(TRUTH, jitter=0.5, draws=400)
    actions = pd.DataFrame(
        {
            "action": ["a", "b"],
            "distribution": "small_gap",
            "add_pretrain_tokens": [0.0, 0.0],
            "add_finetune_tokens": [1e6, 1e6 + 1],
            "cost": [1.0, 1.0],
        }
    )
    only_small = {"small_gap": 1.0}
    table = rank_actions(fit, actions, weights=only_small)
    assert table.attrs["note"] == ""  # b always adds one more token: never fragile
    # on the small gap, 10x pre-training and 4.5x fine-tuning lower the loss about equally
    actions["add_pretrain_tokens"] = [9e10, 0.0]
    actions["add_finetune_tokens"] = [0.0, 3.5e6]
    assert "fragile" in rank_actions(fit, actions, weights=only_small).attrs["note"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: a.assign(distribution="mars"), "'mars' not in the fit"),
        (lambda a: a.assign(add_finetune_tokens=-1.0), "'add_finetune_tokens' must be a number >= 0"),
        (lambda a: a.drop(columns="action"), "missing column 'action'"),
        (lambda a: a.assign(distribution="*"), "fine-tuning tokens need a distribution"),
        (lambda a: a.assign(cost=[1.0, -2.0]), "row 2: column 'cost' must be a number >= 0"),
    ],
)
def test_bad_actions_are_clear_errors(change, message):
    with pytest.raises(RunsValidationError, match=message):
        rank_actions(
            point_fit(TRUTH), change(actions_for("large_gap")), pretrain_price=1.0, finetune_price=1.0
        )


def test_missing_costs_are_a_clear_error():
    with pytest.raises(RunsValidationError, match="no cost and no price per pre-training token"):
        rank_actions(point_fit(TRUTH), actions_for("large_gap"))
    with pytest.raises(RunsValidationError, match="no cost and no price per fine-tuning token of large_gap"):
        rank_actions(point_fit(TRUTH), actions_for("large_gap"), pretrain_price=1.0)


def test_experiment_value_prefers_informative_runs(recovery_fit):
    """On a fitted posterior, a run at unlimited-looking pre-training and small f (where
    the loss is E + G f^-beta) tells more about G than one deep inside dense data."""
    runs = recovery_fit.runs
    poor = runs.distribution.value_counts().idxmin()
    candidates = pd.DataFrame(
        {
            "distribution": [poor, poor],
            "pretrain_tokens": [1e12, 1e8],
            "finetune_tokens": [1e4, 1e8],
        }
    )
    table = evaluate_experiment(recovery_fit, candidates, simulations=100)
    assert (table.sd_after <= table.sd_now + 1e-9).all()
    assert table.pretrain_tokens[0] == 1e12  # the informative candidate ranks first
    assert table.expected_sd_reduction[0] > 0.05


def test_experiment_value_scores_runs_by_the_regret_they_remove(recovery_fit):
    """Value of sample information for a decision between fine-tuning two distributions: a
    run of a distribution no action touches cannot change the decision much; the values are
    non-negative and the table is sorted by them."""
    runs = recovery_fit.runs
    poor = runs.distribution.value_counts().idxmin()
    other = next(d for d in recovery_fit.distributions if d != poor)
    candidates = pd.DataFrame(
        {"distribution": [poor, other], "pretrain_tokens": [1e12, 1e12], "finetune_tokens": [1e4, 1e4]}
    )
    actions = pd.DataFrame(
        {
            "action": ["pre", "fine"],
            "distribution": ["*", poor],
            "add_pretrain_tokens": [1e11, 0.0],
            "add_finetune_tokens": [0.0, 3e7],
            "cost": [1.0, 1.0],
        }
    )
    table = evaluate_experiment(
        recovery_fit, candidates, actions=actions, weights={poor: 1.0}, simulations=100
    )
    assert (table.value_of_information >= 0).all()
    assert table.value_of_information.is_monotonic_decreasing
    assert table.distribution[0] == poor


@pytest.mark.parametrize(
    "misfit",
    [{"scales": {"pretrain_tokens": 0.1}}, {"spread_factors": {"pretrain_tokens": 3.0}}],
    ids=["scale", "spread"],
)
def test_decisions_see_the_bands_prediction_sees(recovery_fit, misfit):
    """With a learned misfit along pre-training, ranking and prediction draw the same law
    error: one distribution's loss after 100x pre-training has the quantile predict's band
    gives there, wider than without the misfit; an action inside the data is unchanged."""
    import dataclasses

    from bayes_scaling.discrepancy import Discrepancy

    name = recovery_fit.distributions[0]
    state = (
        recovery_fit.runs.groupby("distribution")[["pretrain_tokens", "finetune_tokens"]].max().reset_index()
    )
    p0, f0 = state.set_index("distribution").loc[name, ["pretrain_tokens", "finetune_tokens"]]
    actions = pd.DataFrame(
        {
            "action": ["far", "inside"],
            "distribution": name,
            "add_pretrain_tokens": [99 * p0, 0.0],
            "add_finetune_tokens": [0.0, 0.0],
            "cost": [1.0, 1.0],
        }
    )
    wrong = dataclasses.replace(recovery_fit, discrepancy=Discrepancy(**misfit))
    ranked = {
        label: rank_actions(f, actions, weights={name: 1.0}, state=state, quantile=0.95).set_index("action")
        for label, f in (("plain", recovery_fit), ("wrong", wrong))
    }
    grid = pd.DataFrame({"distribution": [name], "pretrain_tokens": [100 * p0], "finetune_tokens": [f0]})
    band = band_table(wrong, grid, kind="expected", prob=0.9)
    assert ranked["wrong"].loss_q["far"] == pytest.approx(band.loss_upper[0], rel=0.04)  # Monte Carlo
    spread = {label: table.loss_q["far"] - table.expected_loss["far"] for label, table in ranked.items()}
    assert spread["wrong"] > 1.5 * spread["plain"]
    assert ranked["wrong"].loss_q["inside"] == pytest.approx(ranked["plain"].loss_q["inside"])
    # and an experiment past the data teaches less about G once the law may err there
    candidate = grid.assign(finetune_tokens=f0)
    sd_after = {
        label: evaluate_experiment(f, candidate, simulations=100).sd_after[0]
        for label, f in (("plain", recovery_fit), ("wrong", wrong))
    }
    assert sd_after["wrong"] > sd_after["plain"]
