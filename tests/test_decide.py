"""Decisions: known answers, point posteriors, EVPI, and the experiment-value estimate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import point_fit

import bayes_scaling as bs
from bayes_scaling.decide import allocate, experiment_value, rank_actions
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
    table = rank_actions(fit, actions_for("large_gap"), pretrain_price=1e-6, finetune_price=1e-3)
    assert table.action[0] == "finetune_10x"
    assert table.p_best[0] == 1.0


def test_no_gap_and_cheap_pretraining_ranks_pretraining_first():
    fit = point_fit(TRUTH, jitter=0.05)
    # per unit cost: pre-training 1e5x cheaper per token than fine-tuning
    table = rank_actions(
        fit, actions_for("small_gap"), pretrain_price=1e-8, finetune_price=1e-3, sort_by="reduction_per_cost"
    )
    assert table.action[0] == "pretrain_10x"


def test_point_posterior_ranks_as_the_deterministic_law():
    fit = point_fit(TRUTH, jitter=0.0)
    actions = pd.concat([actions_for("small_gap"), actions_for("large_gap")], ignore_index=True)
    actions["action"] = [f"a{i}" for i in range(4)]
    actions["add_finetune_tokens"] = [0.0, 1e6, 0.0, 3e6]
    table = rank_actions(fit, actions, pretrain_price=1e-6, finetune_price=1e-3)
    params = TRUTH.set_index("distribution").loc[table.distribution]
    after = law_loss(
        "transfer_gap",
        {
            "pretrain_tokens": STATE[0] + table.add_pretrain_tokens,
            "finetune_tokens": STATE[1] + table.add_finetune_tokens,
        },
        {k: params[k].to_numpy() for k in ("E", "A", "alpha", "beta", "G")},
    )
    np.testing.assert_allclose(table.expected_loss, after, rtol=1e-10)
    assert set(table.p_best) == {0.0, 1.0}
    np.testing.assert_allclose(table.loss_q, table.expected_loss)


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
    table = rank_actions(fit, actions)
    assert table.attrs["note"] == ""  # b always adds one more token: never fragile
    # on the small gap, 10x pre-training and 4.5x fine-tuning lower the loss about equally
    actions["add_pretrain_tokens"] = [9e10, 0.0]
    actions["add_finetune_tokens"] = [0.0, 3.5e6]
    assert "fragile" in rank_actions(fit, actions).attrs["note"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: a.assign(distribution="mars"), "'mars' not in the fit"),
        (lambda a: a.assign(add_finetune_tokens=-1.0), "'add_finetune_tokens' must be a number >= 0"),
        (lambda a: a.drop(columns="action"), "missing column 'action'"),
    ],
)
def test_bad_actions_are_clear_errors(change, message):
    with pytest.raises(bs.RunsValidationError, match=message):
        rank_actions(
            point_fit(TRUTH), change(actions_for("large_gap")), pretrain_price=1.0, finetune_price=1.0
        )


def test_missing_costs_are_a_clear_error():
    with pytest.raises(bs.RunsValidationError, match="no 'cost' column"):
        rank_actions(point_fit(TRUTH), actions_for("large_gap"))


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
    table = experiment_value(recovery_fit, candidates, simulations=100)
    assert (table.sd_after <= table.sd_now + 1e-9).all()
    assert table.pretrain_tokens[0] == 1e12  # the informative candidate ranks first
    assert table.expected_sd_reduction[0] > 0.05
