"""The PyMC model: the partial centring chosen by fit(), and the reference-loss coordinates a
spec may choose, change the sampler's coordinates, never the prior or the posterior."""

from __future__ import annotations

import dataclasses

import numpy as np
import pymc as pm
import pytest
from scipy import stats

import bayes_scaling as bs
from bayes_scaling.data import validate_runs
from bayes_scaling.inference.policy import partial_centring
from bayes_scaling.model import build_model, centred_parameters, centring_name


def prior_draws(centring: float, seed: int) -> dict[str, np.ndarray]:
    spec = bs.load_spec("transfer_gap")
    runs = validate_runs(bs.load_dataset("example"))
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


def _softplus(x):
    return np.logaddexp(0.0, x)


def _to_reference_coordinates(law: str, log: dict) -> dict:
    """The reference-loss coordinates of log parameters, written out from each law's formula
    at normalised inputs 1 (not from the package's own map)."""
    if law == "rectified":  # L(1) = E + B / (1 + D_l); -dL/dlog f there = beta B / (1 + D_l)^2
        log_reducible = log["B"] - _softplus(log["D_l"])
        return {
            "log_reference_loss": np.logaddexp(log["E"], log_reducible),
            "log_B_ratio": log_reducible - log["E"],
            "log_beta_slope": log["beta"] + log["B"] - 2 * _softplus(log["D_l"]),
        }
    # transfer gap: L(1, 1) = E + A + G; -dL/dlog f there = beta (A + G); alpha is shared, so
    # A is sampled through its slope -dL/dlog p = alpha A, as a ratio to E
    return {
        "log_reference_loss": np.logaddexp(np.logaddexp(log["E"], log["A"]), log["G"]),
        "log_A_ratio": log["alpha"] + log["A"] - log["E"],
        "log_G_ratio": log["G"] - log["E"],
        "log_beta_slope": log["beta"] + np.logaddexp(log["A"], log["G"]),
    }


@pytest.mark.parametrize("law", ["rectified", "transfer_gap"])
def test_reference_loss_coordinates_change_no_density(law):
    """At random points, the model in reference-loss coordinates and the model in the
    parameters themselves give the same log density up to one constant: same prior, same
    likelihood, Jacobian 1."""
    natural = dataclasses.replace(bs.load_spec(law), coordinates="parameters")
    reference = dataclasses.replace(natural, coordinates="reference_loss")
    runs = validate_runs(bs.load_dataset("example"), natural.law.inputs)
    n = len(runs.distributions)
    natural_model, reference_model = build_model(natural, runs), build_model(reference, runs)
    for spec, model in ((natural, natural_model), (reference, reference_model)):
        with model:  # centred, so that each z_d is log theta_d itself
            pm.set_data({centring_name(p): np.ones(n) for p in centred_parameters(spec, n)})
    natural_logp, reference_logp = natural_model.compile_logp(), reference_model.compile_logp()
    mean_log_loss = reference_model["mean_log_loss"].get_value()
    rng = np.random.default_rng(0)
    start = natural_model.initial_point()
    differences, values = [], []
    for _ in range(5):
        point = {k: v + rng.normal(0.0, 0.5, np.shape(v)) for k, v in start.items()}
        log = {}
        for name, p in natural.parameters.items():
            log[name] = point[f"{name}_z"] if p.pooling == "hierarchical" else point[f"log_{name}"]
        moved = {k: v for k, v in point.items() if k in reference_model.initial_point()}
        moved.update(_to_reference_coordinates(law, log))
        # the model samples that loss as a shift from each distribution's mean log loss
        moved["log_reference_loss_shift"] = moved.pop("log_reference_loss") - mean_log_loss
        assert set(moved) == set(reference_model.initial_point())
        values.append(natural_logp(point))
        differences.append(reference_logp(moved) - values[-1])
    assert np.ptp(values) > 1.0  # the points differ in density...
    assert np.ptp(differences) < 1e-6  # ...and both models agree on by how much


@pytest.mark.parametrize("coordinates", ["parameters", "reference_loss"])
def test_gathered_parameters_enter_the_law_as_their_logs(coordinates):
    """The law logs A and G after the model gathers each run's exp(log theta); the model
    gives it log theta gathered instead, one log fewer per run and parameter: the same log
    density at random points, two fewer logs in the graph."""
    import pytensor.scalar as ps
    from pytensor.graph.traversal import ancestors
    from pytensor.tensor.elemwise import Elemwise

    spec = dataclasses.replace(bs.load_spec("transfer_gap"), coordinates=coordinates)
    runs = validate_runs(bs.load_dataset("example"))
    rewritten = build_model(spec, runs, weighted=True)
    plain = build_model(spec, runs, weighted=True, gathered_logs=False)

    def logs(model) -> int:
        return sum(
            isinstance(v.owner.op, Elemwise) and isinstance(v.owner.op.scalar_op, ps.Log)
            for v in ancestors([model.logp()])
            if v.owner is not None
        )

    assert logs(plain) - logs(rewritten) == 2  # log A and log G per run
    rng = np.random.default_rng(1)
    start = plain.initial_point()
    rewritten_logp, plain_logp = rewritten.compile_logp(), plain.compile_logp()
    values = []
    for _ in range(4):
        point = {k: v + rng.normal(0.0, 0.5, np.shape(v)) for k, v in start.items()}
        values.append(plain_logp(point))
        assert rewritten_logp(point) == pytest.approx(values[-1], rel=1e-12, abs=1e-9)
    assert np.ptp(values) > 1.0
