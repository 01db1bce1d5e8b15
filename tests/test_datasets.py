"""Shipped run tables: shape, schema, provenance, and units that reach every output."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling.cli import main


def test_catalog_lists_the_example_and_the_real_table():
    table = bs.list_datasets()
    assert table.name.tolist() == ["example", "mikami2021"]
    assert {"units", "loss_unit", "model", "source", "licence"} <= set(table.columns)
    # each names a shipped spec whose priors suit its units
    assert table.set_index("name").model.to_dict() == {
        "example": "transfer_gap",
        "mikami2021": "transfer_gap_error_rate",
    }
    assert set(table.model) <= set(bs.available_models())


def test_mikami2021_is_the_real_transfer_table():
    runs = bs.load_dataset("mikami2021")
    assert runs.shape == (161, 8)
    assert runs.distribution.nunique() == 8
    assert runs.groupby("distribution").size().min() == 14
    assert not runs.isna().any().any()
    assert ((runs.loss > 0) & (runs.loss < 1)).all()  # an error rate
    assert set(runs.pretrain_tokens) == {1000.0 * 2**k for k in range(7)}
    assert runs.finetune_tokens.min() == pytest.approx(0.01 * 1_281_167, abs=1)
    assert runs.attrs["units"] == "images" and runs.attrs["loss_unit"].startswith("test error")
    assert "0a2a47ef15450ed337862188409bb4e098444a7e" in runs.attrs["source"]
    licence = bs.datasets.dataset_path("mikami2021").replace("mikami2021.csv", "mikami2021_LICENSE.txt")
    assert "Permission is hereby granted, free of charge" in Path(licence).read_text()
    # the validated table carries the units on
    valid = bs.validate_runs(runs)
    assert (valid.units, valid.loss_unit) == ("images", runs.attrs["loss_unit"])


def test_unknown_data_set_is_a_clear_error(capsys):
    with pytest.raises(bs.BayesScalingError, match="unknown data set 'nope'; shipped: example, mikami2021"):
        bs.load_dataset("nope")
    assert main(["dataset", "nope"]) == 2


def test_units_of_a_data_set_reach_the_fit_tables_and_plots(tmp_path, capsys):
    runs = bs.load_dataset("mikami2021")
    # five distributions: the model of eight that the mikami2021 tests compile serves them
    subset = runs[runs.distribution.isin(runs.distribution.unique()[:4].tolist() + ["objdet-r50"])]
    subset.attrs = runs.attrs
    quick = {"draws": 100, "tune": 100, "chains": 2, "seed": 1, "progress": False, "warn": False}
    fit = bs.fit(subset, "transfer_gap_error_rate", **quick)
    assert (fit.units, fit.loss_unit) == ("images", "test error (1 - top-1 accuracy)")
    path = fit.save(tmp_path / "fit.nc")
    assert bs.load_fit(path).loss_unit == fit.loss_unit
    grid = tmp_path / "grid.csv"
    pd.DataFrame({"distribution": ["objdet-r50"], "pretrain_tokens": [1e5], "finetune_tokens": [1e5]}).to_csv(
        grid, index=False
    )
    assert main(["predict", str(path), str(grid)]) == 0
    assert "expected loss, test error (1 - top-1 accuracy)" in capsys.readouterr().out
    assert main(["gaps", str(path)]) == 0
    assert "p and f in images" in capsys.readouterr().out
    figure = bs.curve_plot(fit)
    assert figure.axes[0].get_ylabel() == "loss (test error (1 - top-1 accuracy))"
    assert "images" in figure.axes[0].get_xlabel()
    # CLI: units given by flags for a CSV, which has no attrs
    csv = tmp_path / "runs.csv"
    subset.to_csv(csv, index=False)
    out = tmp_path / "flags.nc"
    argv = ["fit", str(csv), "-o", str(out), "--units", "images", "--loss-unit", "error rate"]
    argv += ["--model", "transfer_gap_error_rate"]
    assert main([*argv, "--draws", "50", "--tune", "50", "--chains", "1", "--quiet"]) == 0
    assert bs.load_fit(out).loss_unit == "error rate"
    assert main(["dataset", "mikami2021"]) == 0
    written = pd.read_csv(io.StringIO(capsys.readouterr().out))
    np.testing.assert_allclose(written.loss, runs.loss)


def test_backtest_of_a_shipped_table_uses_the_model_for_its_units(monkeypatch, capsys):
    chosen = []

    def record(runs, model, **options):
        chosen.append(model)
        raise bs.BayesScalingError("recorded")

    monkeypatch.setattr(bs, "backtest", record)
    holdout = ["--holdout-largest", "pretrain_tokens:0.3"]
    assert main(["backtest", "mikami2021", *holdout]) == 2
    assert main(["backtest", "mikami2021", *holdout, "--model", "transfer_gap"]) == 2
    assert chosen == ["transfer_gap_error_rate", "transfer_gap"]
    assert "model: transfer_gap_error_rate" in capsys.readouterr().err
