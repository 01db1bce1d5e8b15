"""The PyMC model: the partial centring chosen by fit() changes coordinates, never the prior."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest
from scipy import stats

import bayes_scaling as bs
from bayes_scaling.model import build_model, centring_name, partial_centring


def prior_draws(centring: float, seed: int) -> dict[str, np.ndarray]:
    spec = bs.load_spec("transfer_gap")
    runs = bs.validate_runs(bs.load_example())
    model = build_model(spec, runs)
    names = [p.name for p in spec.parameters.values() if p.pooling == "hierarchical"]
    with model:
        pm.set_data({centring_name(n): np.full(len(runs.distributions), centring) for n in names})
        prior = pm.sample_prior_predictive(draws=4000, random_seed=seed, var_names=names)
    return {n: np.log(prior.prior[n].values[0, :, 0]) for n in names}


def test_partial_centring_leaves_the_prior_unchanged():
    """Prior draws of each hierarchical parameter agree (two-sample KS) whether the model
    is written centred (1), non-centred (0) or half-way, so fit() may pick any."""
    reference = prior_draws(1.0, seed=1)
    for centring, seed in ((0.0, 2), (0.5, 3)):
        other = prior_draws(centring, seed)
        for name, values in reference.items():
            assert stats.ks_2samp(values, other[name]).pvalue > 0.01, (name, centring)
    # and the draws are not trivially equal: different seeds, different numbers
    assert not np.allclose(reference["E"][:10], other["E"][:10])


@pytest.mark.parametrize(
    ("variance", "tau_squared", "expected"),
    [(0.01, 1.0, 0.99), (0.5, 1.0, 0.5), (1.0, 1.0, 0.0), (2.0, 1.0, 0.0)],
)
def test_centring_follows_how_much_the_data_say(variance, tau_squared, expected):
    # posterior variance v against the population's tau^2: 1 - v / tau^2, clipped to [0, 1]
    assert partial_centring(np.array([variance]), tau_squared)[0] == pytest.approx(expected)


def test_fit_records_the_centring_it_chose(example_fit):
    centring = example_fit.idata["centring"].to_dataset()
    assert set(centring.data_vars) == {"E", "A", "G"}
    for values in centring.data_vars.values():
        assert values.dims == ("distribution",)
        assert ((values >= 0) & (values <= 1)).all()
    # the example's runs pin each distribution's gap down well: mostly centred
    assert float(centring["G"].mean()) > 0.5
