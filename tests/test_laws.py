"""Laws: one formula, numpy and PyTensor alike, numerically stable."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from bayes_scaling.laws import LAWS, get_law
from bayes_scaling.simulate import law_loss

PARAMS = {"E": 1.7, "A": 1.0e4, "alpha": 0.3, "beta": 0.35, "G": 20.0}


def test_transfer_gap_matches_the_formula_as_written():
    p, f = np.array([1e8, 1e10]), np.array([1e5, 1e7])
    expected = 1.7 + (1.0e4 * p**-0.3 + 20.0) * f**-0.35
    np.testing.assert_allclose(
        law_loss("transfer_gap", {"pretrain_tokens": p, "finetune_tokens": f}, PARAMS), expected
    )


def test_numpy_and_pytensor_give_the_same_log_loss():
    law = get_law("transfer_gap")
    log_p, log_f = np.log([1e8, 3e9, 1e11]), np.log([1e5, 1e6, 1e8])
    x, y = pt.dvector("x"), pt.dvector("y")
    graph = law.log_loss(x, y, **{k: pt.constant(v, dtype="float64") for k, v in PARAMS.items()})
    symbolic = pytensor.function([x, y], graph)(log_p, log_f)
    np.testing.assert_allclose(symbolic, law.log_loss(log_p, log_f, **PARAMS), rtol=1e-12)


def random_parameters(law, seed: int) -> dict[str, float]:
    """Each of the law's parameters drawn uniformly from [0.2, 3]."""
    values = np.random.default_rng(seed).uniform(0.2, 3.0, len(law.parameters))
    return {k: float(v) for k, v in zip(law.parameters, values, strict=True)}


@pytest.mark.parametrize("name", sorted(LAWS))
def test_every_law_is_one_formula_for_numpy_and_pytensor(name):
    """Each law's one formula gives numpy (prediction, decisions) and PyTensor (the model)
    the same log loss, at inputs spanning six orders of magnitude."""
    law = get_law(name)
    params = random_parameters(law, seed=0)
    inputs = [np.log(np.geomspace(1e3, 1e9, 5)) + 0.1 * i for i in range(len(law.inputs))]
    symbols = [pt.dvector(f"x{i}") for i in range(len(law.inputs))]
    graph = law.log_loss(*symbols, **{k: pt.constant(v, dtype="float64") for k, v in params.items()})
    symbolic = pytensor.function(symbols, graph)(*inputs)
    numeric = law.log_loss(*inputs, **params)
    assert np.isfinite(numeric).all()
    np.testing.assert_allclose(symbolic, numeric, rtol=1e-10)


@pytest.mark.parametrize("name", sorted(LAWS))
def test_every_law_gives_the_same_loss_in_raw_units(name):
    """Parameters mapped to raw units by ``to_raw_units`` give, at the raw inputs, the loss the
    normalised parameters give at the normalised inputs: predictions and decisions work in
    raw units, the model in normalised ones."""
    law = get_law(name)
    params = random_parameters(law, seed=1)
    log_refs = {k: float(v) for k, v in zip(law.inputs, np.log([2e9, 5e10, 3e7]), strict=False)}
    raw_logs = [np.log(np.geomspace(1e7, 1e11, 5)) + 0.3 * i for i in range(len(law.inputs))]
    normalised = [x - log_refs[k] for x, k in zip(raw_logs, law.inputs, strict=True)]
    np.testing.assert_allclose(
        law.log_loss(*raw_logs, **law.to_raw_units(params, log_refs)),
        law.log_loss(*normalised, **params),
        rtol=1e-10,
        atol=1e-12,  # a loss at a ceiling of 1 has log 0
    )


def test_size_dependent_data_is_chinchilla_when_the_exponent_does_not_shrink():
    n, d = np.log([1e8, 1e9, 1e10]), np.log([1e9, 1e10, 1e12])
    params = {"E": 0.4, "A": 50.0, "alpha": 0.3, "B": 2.0, "D_c": 1e6, "beta": 0.28}
    nested = get_law("size_dependent_data").log_loss(n, d, **params, kappa=0.0)
    chinchilla = {"E": 0.4, "A": 50.0, "alpha": 0.3, "B": 2.0 * 1e6**0.28, "beta": 0.28}
    np.testing.assert_allclose(nested, get_law("chinchilla").log_loss(n, d, **chinchilla), rtol=1e-12)
    # with kappa > 0 the larger model's loss falls more slowly along D
    shrinking = get_law("size_dependent_data").log_loss
    slope = lambda log_n: (  # noqa: E731
        shrinking(log_n, np.log(2e10), **params, kappa=0.1)
        - shrinking(log_n, np.log(1e10), **params, kappa=0.1)
    )
    assert slope(np.log(1e10)) > slope(np.log(1e8))


def test_log_loss_is_finite_far_outside_the_data():
    law = get_law("transfer_gap")
    # tiny token counts make p^-alpha huge; log-sum-exp keeps log loss finite
    out = law.log_loss(np.log(1e-300), np.log(1e-300), **PARAMS)
    assert np.isfinite(out)
    # with unlimited pre-training the loss tends to the floor E + G f^-beta
    far = law.loss(np.log(1e300), np.log(1e6), **PARAMS)
    np.testing.assert_allclose(far, 1.7 + 20.0 * 1e6**-0.35)


def test_registry_names_match_and_unknown_law_is_clear():
    assert all(name == law.name for name, law in LAWS.items())
    try:
        get_law("nope")
    except ValueError as err:
        assert (
            "known laws are: chinchilla, effective_data, rectified, size_dependent_data, transfer_gap, "
            "transfer_gap_ceiling" in str(err)
        )
    else:
        raise AssertionError("unknown law accepted")


CEILING = {**PARAMS, "E": 0.1, "A": 1.6e5, "alpha": 0.6, "beta": 0.17, "G": 0.65, "sharpness": 2.5}


def test_the_ceiling_bends_an_error_rate_flat_at_one_and_leaves_small_errors_alone():
    under, law = get_law("transfer_gap_ceiling"), get_law("transfer_gap")
    plain = {k: v for k, v in CEILING.items() if k != "sharpness"}
    log_p, log_f = np.log([1e2, 1e7, 1e10, 1e14]), np.log([1e3] * 4)
    uncapped, capped = law.loss(log_p, log_f, **plain), under.loss(log_p, log_f, **CEILING)
    np.testing.assert_allclose(capped, (uncapped**-2.5 + 1.0) ** (-1 / 2.5))
    assert uncapped[0] > 100 and 0.99 < capped[0] < 1.0  # far below the data: at the ceiling, not past it
    assert np.all(capped < 1.0) and np.all(capped < uncapped)
    np.testing.assert_allclose(capped[-1], uncapped[-1], rtol=0.02)  # an error of 0.3: within 2%
    # numpy and PyTensor agree, and nothing overflows where the wrapped law is huge
    x, y = pt.dvector("x"), pt.dvector("y")
    graph = under.log_loss(x, y, **{k: pt.constant(v, dtype="float64") for k, v in CEILING.items()})
    np.testing.assert_allclose(
        pytensor.function([x, y], graph)(log_p, log_f), under.log_loss(log_p, log_f, **CEILING), atol=1e-12
    )
    assert np.isfinite(under.log_loss(np.log(1e-300), np.log(1e-300), **CEILING))


def test_the_ceiling_caps_the_loss_floor_and_keeps_the_exchange_rate():
    under, law = get_law("transfer_gap_ceiling"), get_law("transfer_gap")
    plain = {k: v for k, v in CEILING.items() if k != "sharpness"}
    log_p, log_f = np.log([1e8, 1e9]), np.log([1e3, 1e4])
    floor = law.derived["loss_floor"](log_p, log_f, **plain)
    np.testing.assert_allclose(
        under.derived["loss_floor"](log_p, log_f, **CEILING), (floor**-2.5 + 1.0) ** (-1 / 2.5)
    )
    np.testing.assert_allclose(
        under.derived["exchange_rate"](log_p, log_f, **CEILING),
        law.derived["exchange_rate"](log_p, log_f, **plain),
    )
    raw = under.to_raw_units(CEILING, {"pretrain_tokens": 10.0, "finetune_tokens": 5.0})
    assert (
        raw["sharpness"] == 2.5
        and raw["G"] == law.to_raw_units(plain, {"pretrain_tokens": 10.0, "finetune_tokens": 5.0})["G"]
    )
