"""Model specs: shipped as data, checked when read, round-tripped with fits."""

from __future__ import annotations

import pytest

from bayes_scaling import SpecError, available_models, load_spec
from bayes_scaling.spec import models_dir, spec_from_dict


def test_shipped_transfer_gap_spec():
    spec = load_spec("transfer_gap")
    assert "transfer_gap" in available_models()
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
