"""The corpus prior of the misfit's growth past the data: its arithmetic, its place in a
spec, and a fit's bands under it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bayes_scaling.discrepancy import Discrepancy
from bayes_scaling.discrepancy.growth_prior import (
    learn_growth_prior,
    log_likelihood_on_grid,
    posterior_scale,
    scales_from_prior,
)
from bayes_scaling.spec import GrowthPrior, SpecError, load_spec, spec_from_dict

PRIOR = GrowthPrior(median=0.01, log_sd=0.5, weight=0.8, source="a test")


def errors(scale: float, runs: int = 20, seed: int = 0, distance: float = 2.0):
    """Held-out errors of runs at ``distance`` whose law misfits with sd ``scale`` x distance."""
    rng = np.random.default_rng(seed)
    variance, at = np.full(runs, 1e-4), np.full(runs, distance)
    residual = rng.normal(0.0, np.sqrt(variance + (scale * at) ** 2))
    return residual, variance, at


def test_without_evidence_the_scale_is_the_priors_root_mean_square():
    posterior = posterior_scale(PRIOR)
    # a log-normal's E[s^2] = median^2 exp(2 log_sd^2), times the probability of a misfit
    expected = np.sqrt(PRIOR.weight * PRIOR.median**2 * np.exp(2 * PRIOR.log_sd**2))
    assert posterior.scale == pytest.approx(expected, rel=0.01)
    assert posterior.misfit_probability == pytest.approx(PRIOR.weight)
    assert posterior.median == pytest.approx(PRIOR.median, rel=0.05)


def test_a_tables_own_errors_update_the_prior_both_ways():
    clean = posterior_scale(PRIOR, [log_likelihood_on_grid(*errors(0.0), nu=5)])
    assert clean.misfit_probability < 0.1  # the law held past these runs: nearly no misfit
    assert clean.scale < 0.2 * PRIOR.median
    wide = GrowthPrior(median=0.01, log_sd=2.0, weight=0.8)
    off = posterior_scale(wide, [log_likelihood_on_grid(*errors(0.05), nu=5)])
    assert off.misfit_probability > 0.99
    assert 0.035 < off.median < 0.07  # 20 runs 5% per unit of distance off: the runs win


def test_the_population_prior_is_recovered_from_many_tables():
    rng = np.random.default_rng(1)
    scales = np.exp(rng.normal(np.log(0.02), 0.4, size=16))
    curves = {
        f"table {i}": log_likelihood_on_grid(*errors(s, runs=12, seed=i, distance=1.5), nu=5)
        for i, s in enumerate(scales)
    }
    learned = learn_growth_prior(curves, source="simulated tables")
    assert learned.median == pytest.approx(0.02, rel=0.25)
    assert learned.weight > 0.9  # every table misfits
    assert learned.source == "simulated tables"
    with pytest.raises(ValueError, match="two tables or more"):
        learn_growth_prior({"one": curves["table 0"]})


def test_a_direction_without_its_own_refits_takes_every_directions_errors():
    residual, variance, distance = errors(0.0)
    evidence = {
        "pretrain_tokens": {"residual": residual, "variance": variance, "distance": distance, "nu": 5}
    }
    names = ("pretrain_tokens", "finetune_tokens", "product")
    scales, probabilities = scales_from_prior(PRIOR, evidence, names, skip=("product",))
    assert set(scales) == {"pretrain_tokens", "finetune_tokens"}
    assert scales["finetune_tokens"] == pytest.approx(scales["pretrain_tokens"])
    assert probabilities["pretrain_tokens"] < 0.1


def test_a_discrepancy_takes_another_prior_without_a_refit_and_survives_a_round_trip():
    residual, variance, distance = errors(0.03)
    learned = Discrepancy(
        scales={"pretrain_tokens": 0.02, "finetune_tokens": 0.0, "product": 0.0},
        evidence={"pretrain_tokens": {"residual": list(residual), "variance": list(variance),
                                      "distance": list(distance), "nu": 5}},
        spread_factors={"finetune_tokens": 2.0},
        directions=("pretrain_tokens", "finetune_tokens", "product"),
    )  # fmt: skip
    under = learned.with_growth_prior(PRIOR)
    assert under.scale("finetune_tokens") == 0.0  # its misfit is a widened spread
    assert under.spread_factor("finetune_tokens") == 2.0
    assert under.scale("product") > 0  # from the prior and the pre-training refits' errors
    assert under.growth_prior["source"] == "a test"
    again = Discrepancy.from_dict(under.to_dict())
    assert again == dataclasses.replace(under, evidence=again.evidence)
    assert again.with_growth_prior(PRIOR).scales == pytest.approx(under.scales)
    assert "prior: median 0.01" in under.describe() and "P(misfit)" in under.describe()
    with pytest.raises(ValueError, match="refit without one"):
        under.with_growth_prior(None)


def test_a_spec_states_its_prior_and_bad_ones_are_refused():
    raw = load_spec("chinchilla").to_dict()
    raw["discrepancy"]["growth_prior"] = {"median": 0.02, "log_sd": 0.4, "weight": 0.9, "source": "x"}
    spec = spec_from_dict(raw)
    assert spec.discrepancy.growth_prior == GrowthPrior(0.02, 0.4, 0.9, "x")
    assert "s_k's prior, from a corpus of scaling tables: median 0.02" in spec.describe()
    assert spec_from_dict(spec.to_dict()) == spec  # as saved in a fit
    for bad, message in (
        ({"median": -1.0, "log_sd": 0.4}, "median > 0"),
        ({"median": 0.02, "log_sd": 0.4, "weight": 1.5}, "0 < weight <= 1"),
        ({"median": 0.02, "log_sd": 0.4, "width": 1}, "takes median, log_sd, weight, source"),
        ({"log_sd": 0.4}, "median and log_sd required"),
    ):
        raw["discrepancy"]["growth_prior"] = bad
        with pytest.raises(SpecError, match=message):
            spec_from_dict(raw, source="my.toml")
