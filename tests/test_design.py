"""Which runs next: next_runs picks the runs worth most per unit of cost, without refitting."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling.cli import main
from bayes_scaling.design import default_cost


def far_target(fit: bs.Fit, name: str) -> pd.DataFrame:
    """One distribution's loss at 30x its largest pre-training size."""
    runs = fit.runs[fit.runs.distribution == name]
    return pd.DataFrame(
        {
            "distribution": [name],
            "pretrain_tokens": [30 * runs.pretrain_tokens.max()],
            "finetune_tokens": [1e6],
        }
    )


def test_a_run_of_the_targets_own_distribution_near_it_is_worth_most(recovery_fit):
    poor = recovery_fit.runs.distribution.value_counts().idxmin()
    other = next(d for d in recovery_fit.distributions if d != poor)
    biggest = recovery_fit.runs.pretrain_tokens.max()
    candidates = pd.DataFrame(
        {
            "distribution": [other, poor, poor, other],
            "pretrain_tokens": [10 * biggest, 10 * biggest, 1e8, 1e8],
            "finetune_tokens": [1e6, 1e6, 1e6, 1e6],
            "note": ["far, other", "far, own", "small, own", "small, other"],
            "gpu_hours": 1.0,
        }
    )
    chosen = bs.next_runs(recovery_fit, candidates, far_target(recovery_fit, poor), k=2, cost="gpu_hours")
    assert chosen.note[0] == "far, own"
    assert list(chosen.columns) == [*candidates.columns, "cost", "value", "value_per_cost"]
    assert chosen.value[0] > 0 and chosen.value[0] > 3 * chosen.value[1]
    assert chosen.attrs["score_after"] < chosen.attrs["score_before"]
    np.testing.assert_allclose(chosen.value_per_cost, chosen.value / chosen.cost)


def test_a_run_twice_is_worth_less_the_second_time_and_the_choice_is_seeded(recovery_fit):
    poor = recovery_fit.runs.distribution.value_counts().idxmin()
    run = {"distribution": poor, "pretrain_tokens": 3 * recovery_fit.runs.pretrain_tokens.max()}
    candidates = pd.DataFrame([{**run, "finetune_tokens": 1e6}] * 2)
    target = far_target(recovery_fit, poor)
    chosen = bs.next_runs(recovery_fit, candidates, target, k=2)
    assert chosen.value[1] < chosen.value[0]  # the batch's picks are not redundant
    again = bs.next_runs(recovery_fit, candidates, target, k=2)
    pd.testing.assert_frame_equal(chosen, again)


def test_a_budget_caps_what_the_picks_cost_together(recovery_fit):
    poor = recovery_fit.runs.distribution.value_counts().idxmin()
    biggest = recovery_fit.runs.pretrain_tokens.max()
    candidates = pd.DataFrame(
        {
            "distribution": poor,
            "pretrain_tokens": biggest * np.array([2.0, 4.0, 8.0, 16.0]),
            "finetune_tokens": 1e6,
        }
    )
    chosen = bs.next_runs(recovery_fit, candidates, far_target(recovery_fit, poor), k=4, budget=13 * biggest)
    assert 0 < len(chosen) < 4 and chosen.cost.sum() <= 13 * biggest
    with pytest.raises(bs.BayesScalingError, match="buys no candidate"):
        bs.next_runs(recovery_fit, candidates, far_target(recovery_fit, poor), budget=biggest)


def test_the_default_cost_is_the_runs_compute():
    chinchilla, transfer = bs.load_spec("chinchilla").law, bs.load_spec("transfer_gap").law
    runs = pd.DataFrame({"params": [1e9], "pretrain_tokens": [2e10], "finetune_tokens": [1e6]})
    assert default_cost(chinchilla, runs)[0] == pytest.approx(6 * 1e9 * 2e10)
    assert default_cost(transfer, runs)[0] == pytest.approx(2e10 + 1e6)


def test_a_decision_values_runs_by_the_regret_they_remove(recovery_fit):
    poor = recovery_fit.runs.distribution.value_counts().idxmin()
    other = next(d for d in recovery_fit.distributions if d != poor)
    candidates = pd.DataFrame(
        {"distribution": [other, poor], "pretrain_tokens": [1e12, 1e12], "finetune_tokens": [1e4, 1e4]}
    )
    actions = pd.DataFrame(
        {
            "action": ["pre", "fine"],
            "distribution": ["*", poor],
            "add_pretrain_tokens": [1e11, 0.0],
            # a close call (fine-tuning best in ~3 of 4 draws), so a run can change it
            "add_finetune_tokens": [0.0, 3e6],
            "cost": [1.0, 1.0],
        }
    )
    chosen = bs.next_runs(
        recovery_fit, candidates, k=1, objective="decision", actions=actions, weights={poor: 1.0}
    )
    assert chosen.distribution[0] == poor  # the run of the distribution the decision is about
    assert chosen.value[0] > 0
    assert chosen.attrs["score"].startswith("expected regret")


def test_bad_candidates_costs_and_targets_are_refused_with_the_row(recovery_fit):
    name = recovery_fit.distributions[0]
    good = pd.DataFrame({"distribution": [name], "pretrain_tokens": [1e12], "finetune_tokens": [1e6]})
    target = far_target(recovery_fit, name)
    cases = [
        (dict(candidates=good.drop(columns="finetune_tokens"), target=target), "missing column"),
        (dict(candidates=good.assign(distribution="nope"), target=target), "row 0: distribution 'nope'"),
        (dict(candidates=good.assign(pretrain_tokens=-1.0), target=target), "column 'pretrain_tokens'"),
        (
            dict(candidates=good.assign(c=-2.0), target=target, cost="c"),
            "column 'c': -2.0 is not above 0; a run's cost",
        ),
        (dict(candidates=good, target=target, cost="price"), "cost column 'price' is not in"),
        (dict(candidates=good, target=recovery_fit.runs.iloc[[3]]), "target row 0: its inputs are those of"),
        (dict(candidates=good, target=target, k=2), "k must be between 1 and the 1 candidates"),
        (dict(candidates=good), "needs a target grid"),
        (dict(candidates=good, objective="decision"), "needs actions"),
    ]
    for arguments, message in cases:
        with pytest.raises(bs.BayesScalingError, match=message):
            bs.next_runs(recovery_fit, **{"k": 1, **arguments})


def test_next_from_the_command_line(example_fit, tmp_path, capsys):
    fit_path = example_fit.save(tmp_path / "fit.nc")
    candidates, target = tmp_path / "candidates.csv", tmp_path / "target.csv"
    pd.DataFrame(
        {
            "distribution": ["code", "code", "math"],
            "pretrain_tokens": [1e10, 3e11, 3e11],
            "finetune_tokens": [1e6, 1e6, 1e6],
        }
    ).to_csv(candidates, index=False)
    pd.DataFrame({"distribution": ["code"], "pretrain_tokens": [1e13], "finetune_tokens": [1e6]}).to_csv(
        target, index=False
    )
    assert main(["next", str(fit_path), str(candidates), "--target", str(target), "-k", "2", "--csv"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert len(table) == 2 and {"value", "value_per_cost", "cost"} <= set(table.columns)
    assert main(["next", str(fit_path), str(candidates)]) == 2
    assert "give --target" in capsys.readouterr().err
