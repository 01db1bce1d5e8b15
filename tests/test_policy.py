"""The sampling policy as data: plan() is a pure function of the pilot and the policy, and
a spec's [sampling] table overrides the policy's thresholds."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import bayes_scaling as bs
from bayes_scaling.inference.policy import (
    Pilot,
    coordinates_from_pilot,
    found_loose,
    move_repays_compiling,
    pilot_length,
    pilot_spec,
    plan,
    rerun_plan,
)
from bayes_scaling.inference.settings import SamplerConfig, SamplingPolicy
from bayes_scaling.spec import SpecError, spec_from_dict

POLICY = SamplingPolicy()
EXAMPLE_LIKE = {"E_centring": np.ones(8), "A_centring": np.r_[np.full(7, 0.8), 0.0], "G_centring": np.ones(8)}


def test_the_pilot_finds_a_table_loose_where_it_diverged_or_many_terms_are_barely_pinned():
    """Loose: the pilot diverged, or more than 10% of the hierarchy's (distribution,
    parameter) pairs are barely pinned (centring < 0.1)."""
    assert not found_loose(Pilot(EXAMPLE_LIKE), POLICY)  # 1 of 24 loose
    assert found_loose(Pilot(EXAMPLE_LIKE, divergences=1), POLICY)
    # mikami2021's pilots: E and A at 0 in all 8 distributions (16 of 24)
    mikami_like = {"E_centring": np.zeros(8), "A_centring": np.zeros(8), "G_centring": np.full(8, 0.6)}
    assert found_loose(Pilot(mikami_like), POLICY)
    # 3 of 24 (12.5%) is over the share; no hierarchy (one distribution) is nothing loose
    three_loose = {**EXAMPLE_LIKE, "G_centring": np.r_[np.ones(6), 0.0, 0.05]}
    assert found_loose(Pilot(three_loose), POLICY)
    assert not found_loose(Pilot({}), POLICY)
    # the share is the policy's: a stricter one calls the example loose
    assert found_loose(Pilot(EXAMPLE_LIKE), dataclasses.replace(POLICY, loose_share=0.01))


def test_the_plan_takes_target_and_draws_from_the_pilot_unless_the_caller_set_them():
    spec = bs.load_spec("transfer_gap")
    config = SamplerConfig()
    pinned = plan(spec, Pilot(EXAMPLE_LIKE), POLICY, config, n_distributions=8, n_runs=164)
    assert (pinned.target_accept, pinned.draws) == (0.9, 1000)
    loose = plan(spec, Pilot(EXAMPLE_LIKE, divergences=1), POLICY, config, n_distributions=8, n_runs=164)
    assert (loose.target_accept, loose.draws) == (0.95, 2000)
    asked = SamplerConfig(draws=300, target_accept=0.8)
    kept = plan(spec, Pilot(EXAMPLE_LIKE, divergences=1), POLICY, asked, n_distributions=8, n_runs=164)
    assert (kept.target_accept, kept.draws) == (0.8, 300)
    # from 64 distributions on (reference-loss coordinates) 0.9 gave fewer effective draws per
    # second; at 32-56 more
    for n, target in ((56, 0.9), (63, 0.9), (64, 0.95), (256, 0.95)):
        pilot = Pilot({k: np.ones(n) for k in EXAMPLE_LIKE})
        assert plan(spec, pilot, POLICY, config, n_distributions=n, n_runs=30 * n).target_accept == target
    # without a pilot: the spec as it stands, the loose target, the default draws
    spec_only = plan(spec, None, POLICY, config, n_distributions=8, n_runs=164)
    assert (spec_only.spec, spec_only.centring, spec_only.target_accept, spec_only.draws) == (
        spec,
        {},
        0.95,
        1000,
    )


def test_the_pilot_moves_a_fit_into_reference_loss_coordinates_only_where_every_term_is_pinned():
    transfer_gap, rectified = bs.load_spec("transfer_gap"), bs.load_spec("rectified")
    assert (transfer_gap.coordinates, rectified.coordinates) == ("parameters", "reference_loss")
    pinned = {"E_centring": np.ones(8), "A_centring": np.full(8, 0.9), "G_centring": np.full(8, 0.7)}
    assert coordinates_from_pilot(transfer_gap, Pilot(pinned), POLICY) == "reference_loss"
    assert coordinates_from_pilot(transfer_gap, Pilot(pinned, divergences=1), POLICY) == "parameters"
    # one distribution whose runs say nothing of A (the example's pilots) keeps the parameters
    one_loose = {**pinned, "A_centring": np.r_[np.full(7, 0.9), 0.0]}
    assert coordinates_from_pilot(transfer_gap, Pilot(one_loose), POLICY) == "parameters"
    # a term the pilot could not judge (no centring: not hierarchical) never moves a fit
    assert coordinates_from_pilot(transfer_gap, Pilot({"E_centring": np.ones(8)}), POLICY) == "parameters"
    # a spec that starts in reference-loss coordinates leaves them only for a loose term on
    # average, or a divergence
    curves = {"E_centring": np.r_[np.full(29, 0.5), 0.1], "B_centring": np.ones(30)}
    assert coordinates_from_pilot(rectified, Pilot(curves), POLICY) == "reference_loss"
    assert coordinates_from_pilot(rectified, Pilot({**curves, "E_centring": np.full(30, 0.2)}), POLICY) == (
        "parameters"
    )
    assert coordinates_from_pilot(rectified, Pilot(curves, divergences=2), POLICY) == "parameters"
    assert coordinates_from_pilot(bs.load_spec("effective_data"), Pilot({}), POLICY) == "parameters"


def test_a_move_must_repay_compiling_by_counts_not_clocks():
    """The saving is estimated from the pilot's leapfrog steps per draw and the measured
    gradient cost at the table's size: at 16 simulated distributions (480 runs, 117 steps
    per draw) a move does not repay a second compilation; at 64 (1,920 runs, 223 steps) it
    does. The same inputs give the same answer whatever the machine."""
    config = SamplerConfig()
    assert not move_repays_compiling(Pilot(steps_per_draw=117), POLICY, config, 1000, 480)
    assert move_repays_compiling(Pilot(steps_per_draw=223), POLICY, config, 1000, 1920)
    # a free compilation in the policy makes every move pay; a dear one none
    assert move_repays_compiling(
        Pilot(steps_per_draw=117), dataclasses.replace(POLICY, compile_seconds=0), config, 1000, 480
    )
    assert not move_repays_compiling(
        Pilot(steps_per_draw=223), dataclasses.replace(POLICY, compile_seconds=1e4), config, 1000, 1920
    )
    spec = bs.load_spec("transfer_gap")
    pinned = {"E_centring": np.ones(16), "A_centring": np.ones(16), "G_centring": np.ones(16)}
    stays = plan(spec, Pilot(pinned, steps_per_draw=117), POLICY, config, n_distributions=16, n_runs=480)
    assert stays.spec.coordinates == "parameters"
    free = dataclasses.replace(POLICY, compile_seconds=0)
    moves = plan(spec, Pilot(pinned, steps_per_draw=117), free, config, n_distributions=16, n_runs=480)
    assert moves.spec.coordinates == "reference_loss"
    assert moves.centring == {}  # reference-loss coordinates write the terms centred


def test_a_large_tables_pilot_runs_where_its_fit_will():
    spec = bs.load_spec("transfer_gap")
    assert pilot_spec(spec, 64, POLICY).coordinates == "reference_loss"
    assert pilot_spec(spec, 8, POLICY) is spec
    assert pilot_spec(bs.load_spec("effective_data"), 64, POLICY).coordinates == "parameters"
    # judged by the rule for the parameters: back there, with the pilot's centring, unless pinned
    loose = {"E_centring": np.r_[np.ones(63), 0.0], "A_centring": np.ones(64), "G_centring": np.ones(64)}
    back = plan(spec, Pilot(loose), POLICY, SamplerConfig(), n_distributions=64, n_runs=1920)
    assert back.spec.coordinates == "parameters" and set(back.centring) == set(loose)


def test_pilot_and_tuning_lengths():
    """nutpie's adaptation needs 300 tuning draws where PyMC's NUTS keeps PyMC's 1,000; the
    pilot is never longer than the run it prepares."""
    assert [SamplerConfig(sampler=s).tuning for s in ("nutpie", "pymc")] == [300, 1000]
    assert SamplerConfig(sampler="pymc", tune=50).tuning == 50
    assert pilot_length(SamplerConfig(), POLICY) == (200, 200)
    assert pilot_length(SamplerConfig(draws=30, tune=40), POLICY) == (30, 40)
    with pytest.raises(bs.BayesScalingError, match="tune must be a whole number >= 1"):
        SamplerConfig(tune=0)


def test_only_a_failed_run_whose_settings_would_change_is_run_again():
    spec, config = bs.load_spec("transfer_gap"), SamplerConfig()
    pinned = plan(spec, Pilot(EXAMPLE_LIKE), POLICY, config, n_distributions=8, n_runs=164)
    assert rerun_plan(pinned, failed=False, policy=POLICY) is None
    again = rerun_plan(pinned, failed=True, policy=POLICY)
    assert (again.target_accept, again.draws, again.centring) == (0.95, 2000, pinned.centring)
    # a loose table's settings failed too: the last target, the same draws, then nothing more
    last = rerun_plan(again, failed=True, policy=POLICY)
    assert (last.target_accept, last.draws, last.centring) == (0.99, 2000, pinned.centring)
    assert rerun_plan(last, failed=True, policy=POLICY) is None


def test_a_specs_sampling_table_overrides_the_policy_and_travels_with_it():
    raw = bs.load_spec("transfer_gap").to_dict()
    spec = spec_from_dict({**raw, "sampling": {"loose_draws": 3000, "target_accept_pinned": 0.85}})
    assert (spec.sampling.loose_draws, spec.sampling.target_accept_pinned) == (3000, 0.85)
    assert spec.sampling.default_draws == POLICY.default_draws
    assert spec.to_dict()["sampling"] == {"loose_draws": 3000, "target_accept_pinned": 0.85}
    assert spec_from_dict(spec.to_dict()).sampling == spec.sampling
    with pytest.raises(SpecError, match=r"\[sampling\] takes pilot_draws, .*; unexpected loose_drawz"):
        spec_from_dict({**raw, "sampling": {"loose_drawz": 3000}})
    with pytest.raises(SpecError, match="loose_draws must be a number"):
        spec_from_dict({**raw, "sampling": {"loose_draws": "many"}})
