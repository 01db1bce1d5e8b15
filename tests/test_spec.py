"""Model specs: shipped as data, checked when read, round-tripped with fits."""

from __future__ import annotations

import pytest

from bayes_scaling.spec import SpecError, list_models, load_spec, models_dir, spec_from_dict


def test_shipped_transfer_gap_spec():
    spec = load_spec("transfer_gap")
    assert "transfer_gap" in list_models()
    assert spec.parameters["G"].pooling == "hierarchical"
    assert all(p.why for p in spec.parameters.values())  # every pooling choice says why
    assert spec.likelihood.nu == 5


def test_shipped_specs_come_from_the_top_level_models_folder():
    assert (models_dir() / "transfer_gap.toml").read_text() == (
        models_dir().parent / "models" / "transfer_gap.toml"
    ).read_text()


def test_spec_round_trips_through_plain_data():
    spec = load_spec("transfer_gap")
    assert spec_from_dict(spec.to_dict()).to_dict() == spec.to_dict()


def test_error_rate_spec_changes_only_the_prior_on_E():
    base, error_rate = load_spec("transfer_gap"), load_spec("transfer_gap_error_rate")
    assert error_rate.name == "transfer_gap_error_rate"
    assert error_rate.parameters["E"].mu.args == {"mu": -2.3, "sigma": 1.0}
    # what it does not say comes from transfer_gap.toml: E's pooling and tau, every other parameter
    assert error_rate.parameters["E"].tau == base.parameters["E"].tau and error_rate.parameters["E"].centred
    assert {n: p for n, p in error_rate.parameters.items() if n != "E"} == {
        n: p for n, p in base.parameters.items() if n != "E"
    }
    assert (error_rate.likelihood, error_rate.discrepancy, error_rate.coordinates) == (
        base.likelihood,
        base.discrepancy,
        base.coordinates,
    )
    # and what its loss is: an error rate, never above 1 (a cross-entropy has no such bound)
    assert (error_rate.loss.unit, error_rate.loss.upper) == ("error rate", 1.0)
    assert (base.loss.unit, base.loss.upper) == (None, None)
    assert spec_from_dict(error_rate.to_dict()).loss == error_rate.loss  # saved with every fit
    assert load_spec("few_shot_error_rate").loss == error_rate.loss  # what extends it keeps it


def test_a_spec_extends_another_beside_it(tmp_path):
    (tmp_path / "mine.toml").write_text(
        'extends = "transfer_gap"\n[parameters.G]\ntau = { dist = "HalfNormal", sigma = 0.5 }\n'
        "[discrepancy]\ndraws = 100\n"
    )
    (tmp_path / "child.toml").write_text('extends = "mine.toml"\n[likelihood]\nnu = 7\n')
    spec = load_spec(tmp_path / "child.toml")
    assert spec.name == "child" and spec.likelihood.nu == 7
    assert spec.parameters["G"].tau.args == {"sigma": 0.5}
    assert spec.parameters["G"].mu == load_spec("transfer_gap").parameters["G"].mu
    assert spec.discrepancy.draws == 100 and spec.discrepancy.method == "leave_future_out"
    (tmp_path / "loop.toml").write_text('extends = "loop.toml"\n')
    with pytest.raises(SpecError, match="extends it back"):
        load_spec(tmp_path / "loop.toml")
    (tmp_path / "lost.toml").write_text('extends = "transfer_gapp"\n')
    with pytest.raises(SpecError, match="neither a shipped model nor a file beside it"):
        load_spec(tmp_path / "lost.toml")


def test_unknown_model_lists_the_shipped_ones():
    with pytest.raises(SpecError, match="unknown model 'transfer_gapp'.*transfer_gap"):
        load_spec("transfer_gapp")


def test_edited_spec_from_a_path(tmp_path):
    text = (
        (models_dir() / "transfer_gap.toml")
        .read_text()
        .replace('pooling = "independent"', 'pooling = "shared"')
    )
    path = tmp_path / "mine.toml"
    path.write_text(text)
    spec = load_spec(path)
    assert spec.name == "mine" and spec.parameters["beta"].pooling == "shared"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["parameters"]["G"].update(pooling="pooled"), "pooling must be one of"),
        (lambda d: d["parameters"]["G"].pop("tau"), "hierarchical pooling needs mu and tau"),
        (lambda d: d["parameters"]["G"]["mu"].update(dist="Cauchy"), "unknown prior family 'Cauchy'"),
        (lambda d: d["parameters"]["G"]["mu"].update(scale=1.0), "unexpected scale"),
        (lambda d: d["parameters"].pop("E"), r"missing \[parameters.E\]"),
        (lambda d: d.update(law="moore"), "unknown law 'moore'"),
        (lambda d: d.update(coordinates="whitened"), "coordinates must be one of parameters, reference_loss"),
        (lambda d: d["discrepancy"].update(adaptation="dense"), "adaptation must be 'diag' or 'low_rank'"),
        (lambda d: d["discrepancy"].update(refits=3), "unexpected refits"),
        (lambda d: d.update(loss={"upper": 0}), r"\[loss\] upper must be a positive number"),
        (lambda d: d.update(loss={"upper": True}), r"\[loss\] upper must be a positive number"),
        (lambda d: d.update(loss={"lower": 0}), r"\[loss\] takes unit and upper; unexpected lower"),
        (
            lambda d: (
                d.update(coordinates="reference_loss")
                or d["parameters"]["A"].update(
                    pooling="shared", prior={"dist": "Normal", "mu": 0, "sigma": 1}
                )
            ),
            "samples E, A, G per distribution, but A is shared",
        ),
    ],
)
def test_malformed_specs_fail_when_read(change, message):
    raw = load_spec("transfer_gap").to_dict()
    change(raw)
    with pytest.raises(SpecError, match=message):
        spec_from_dict(raw)
