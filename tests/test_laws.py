"""Laws: one formula, numpy and PyTensor alike, numerically stable."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt

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
        assert "known laws are: chinchilla, effective_data, rectified, transfer_gap" in str(err)
    else:
        raise AssertionError("unknown law accepted")
