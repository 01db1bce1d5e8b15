"""Run tables: the shipped example and the real tables fetched on first use; shape, schema,
provenance, what happens without network, and units that reach every output."""

from __future__ import annotations

import io
import time

import numpy as np
import pandas as pd
import pytest
from conftest import no_discrepancy, real_table

import bayes_scaling as bs
from bayes_scaling.cli import main
from bayes_scaling.data import validate_runs
from bayes_scaling.datasets import CATALOG, upstream


def test_catalog_lists_the_example_and_the_real_tables():
    table = bs.list_datasets()
    sldbench = ["farseer", "data_constrained", "lr_bsz"]
    assert table.name.tolist() == ["example", "mikami2021", "alabdulmohsin2022", *sldbench]
    assert {"units", "loss_unit", "model", "source", "licence", "fetched"} <= set(table.columns)
    assert table.fetched.tolist() == [False, True, True, True, True, True]
    # each names a shipped spec whose priors suit its units
    assert table.set_index("name").model.to_dict() == {
        "example": "transfer_gap",
        "mikami2021": "transfer_gap_error_rate",
        "alabdulmohsin2022": "few_shot_error_rate",
        "farseer": "size_dependent_data",
        "data_constrained": "chinchilla",
        "lr_bsz": "chinchilla",
    }
    assert set(table.model) <= set(bs.list_models())
    # real tables are pinned: a commit in the URL and a sha256
    pinned = [("mikami2021",) * 2, ("alabdulmohsin2022",) * 2, *[(name, "sldbench") for name in sldbench]]
    for name, folder in pinned:
        sources = CATALOG[name]["upstream"]
        for source in sources if isinstance(sources, list) else [sources]:
            assert len(source["sha256"]) == 64 and source["file"].startswith(f"{folder}/")
            assert any(len(part) == 40 for part in source["url"].split("/"))


def test_no_real_table_is_committed():
    from importlib import resources

    shipped = {p.name for p in resources.files("bayes_scaling.datasets").iterdir()}
    assert not {name for name in shipped if "mikami" in name or "alabdulmohsin" in name or "farseer" in name}


def test_mikami2021_is_the_real_transfer_table():
    runs = real_table("mikami2021")
    assert runs.shape == (161, 8)
    assert runs.distribution.nunique() == 8
    assert runs.groupby("distribution").size().min() == 14
    assert not runs.isna().any().any()
    assert ((runs.loss > 0) & (runs.loss < 1)).all()  # an error rate
    assert set(runs.pretrain_tokens) == {1000.0 * 2**k for k in range(7)}
    assert runs.finetune_tokens.min() == pytest.approx(0.01 * 1_281_167, abs=1)
    assert runs.attrs["units"] == "images" and runs.attrs["loss_unit"].startswith("test error")
    assert "0a2a47ef15450ed337862188409bb4e098444a7e" in runs.attrs["source"]
    assert runs.attrs["licence"].startswith("MIT")
    # the validated table carries the units on
    valid = validate_runs(runs)
    assert (valid.units, valid.loss_unit) == ("images", runs.attrs["loss_unit"])


def test_farseer_is_one_pretraining_set_whose_test_split_lies_past_the_rest():
    runs = real_table("farseer")
    assert runs.split.value_counts().to_dict() == {"train": 404, "test": 7}
    assert runs.distribution.unique().tolist() == ["farseer"]
    train, test = runs[runs.split == "train"], runs[runs.split == "test"]
    assert train.flops.max() < 4e21 < test.flops.min()  # the backtest's cut-off is the split
    np.testing.assert_allclose(runs.flops, 6 * runs.params * runs.pretrain_tokens)
    validate_runs(runs, ("params", "pretrain_tokens"))


def test_data_constrained_keeps_the_runs_on_fresh_data_and_its_split_lies_past_the_rest():
    runs = real_table("data_constrained")
    assert runs.split.value_counts().to_dict() == {"train": 27, "test": 2}
    assert (runs.pretrain_tokens <= runs.unique_tokens).all()  # no token seen twice
    train, test = runs[runs.split == "train"], runs[runs.split == "test"]
    assert train.flops.max() < 1e21 < test.flops.min()
    validate_runs(runs, ("params", "pretrain_tokens"))


def test_lr_bsz_keeps_the_best_run_of_each_sweep_cell():
    runs = real_table("lr_bsz")
    assert len(runs) == 42 and runs.split.value_counts().to_dict() == {"train": 41, "test": 1}
    assert runs.duplicated(["params", "pretrain_tokens"]).sum() == 0
    assert runs.sweep_runs.sum() == 2702 + 117  # every run of the task stands behind a cell
    train, test = runs[runs.split == "train"], runs[runs.split == "test"]
    assert train.flops.max() < 4e20 < test.flops.min()
    assert test.loss.iloc[0] == pytest.approx(2.0762)  # the test cell's best of 117 settings


def test_alabdulmohsin2022_is_few_shot_transfer_with_f_shots_times_classes():
    runs = real_table("alabdulmohsin2022")
    assert runs.distribution.nunique() == 24  # 4 downstream data sets x 6 architectures
    assert "cifar100 ViT/B/16" in set(runs.distribution)
    np.testing.assert_array_equal(
        runs.groupby("downstream").finetune_tokens.unique().map(sorted).to_dict()["imagenet"],
        [5000.0, 10000.0, 25000.0],
    )
    per_curve = runs.groupby(["distribution", "shots_per_class"]).size()
    assert per_curve.max() == upstream.CHECKPOINTS_PER_CURVE and per_curve.min() >= 10
    assert ((runs.loss > 0) & (runs.loss < 1)).all() and runs.attrs["units"] == "examples"
    validate_runs(runs)


def test_unknown_data_set_is_a_clear_error(capsys):
    with pytest.raises(bs.BayesScalingError, match="unknown data set 'nope'; known: example, mikami2021"):
        bs.load_dataset("nope")
    assert main(["dataset", "nope"]) == 2


def test_the_offline_folder_must_hold_the_pinned_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(upstream.DATA_DIR_VARIABLE, str(tmp_path))
    with pytest.raises(bs.BayesScalingError, match=r"holds no mikami2021/results_finetune.csv.*unset"):
        bs.load_dataset("mikami2021")
    (tmp_path / "mikami2021").mkdir()
    (tmp_path / "mikami2021" / "results_finetune.csv").write_text("not the file\n")
    with pytest.raises(bs.BayesScalingError, match="is not the pinned upstream file: sha256"):
        bs.load_dataset("mikami2021")


def test_without_network_or_folder_one_clear_error_fast(tmp_path, monkeypatch, capsys):
    """Nothing listens on port 9 of this machine: the download fails at once, and the error
    names the URL, the file and the variable; the CLI prints it without a traceback."""
    monkeypatch.delenv(upstream.DATA_DIR_VARIABLE, raising=False)
    monkeypatch.setattr("pooch.os_cache", lambda project: tmp_path)
    source = dict(CATALOG["mikami2021"]["upstream"], url="http://127.0.0.1:9/results_finetune.csv")
    monkeypatch.setitem(CATALOG["mikami2021"], "upstream", source)
    start = time.perf_counter()
    with pytest.raises(bs.BayesScalingError) as error:
        bs.load_dataset("mikami2021")
    assert time.perf_counter() - start < 30
    message = str(error.value)
    for part in (
        "http://127.0.0.1:9/results_finetune.csv",
        "mikami2021/results_finetune.csv",
        "BAYES_SCALING_DATA_DIR",
    ):
        assert part in message
    assert main(["dataset", "mikami2021"]) == 2
    err = capsys.readouterr().err
    assert "BAYES_SCALING_DATA_DIR" in err and "Traceback" not in err


def test_units_of_a_data_set_reach_the_fit_tables_and_plots(tmp_path, capsys):
    runs = real_table("mikami2021")
    # five distributions: the model of eight that the mikami2021 tests compile serves them
    subset = runs[runs.distribution.isin(runs.distribution.unique()[:4].tolist() + ["objdet-r50"])]
    subset.attrs = runs.attrs
    quick = {"draws": 100, "tune": 100, "chains": 2, "seed": 1, "progress": False, "warn": False}
    fit = bs.fit(subset, no_discrepancy("transfer_gap_error_rate"), **quick)  # units, refits aside
    assert (fit.units, fit.loss_unit) == ("images", "test error (1 - top-1 accuracy)")
    path = fit.save(tmp_path / "fit.nc")
    assert bs.Fit.load(path).loss_unit == fit.loss_unit
    grid = tmp_path / "grid.csv"
    pd.DataFrame({"distribution": ["objdet-r50"], "pretrain_tokens": [1e5], "finetune_tokens": [1e5]}).to_csv(
        grid, index=False
    )
    assert main(["predict", str(path), str(grid)]) == 0
    assert "expected loss, test error (1 - top-1 accuracy)" in capsys.readouterr().out
    assert main(["gaps", str(path)]) == 0
    assert "p and f in images" in capsys.readouterr().out
    figure = bs.plot_curves(fit)
    assert figure.axes[0].get_ylabel() == "loss (test error (1 - top-1 accuracy))"
    assert "images" in figure.axes[0].get_xlabel()
    csv, out = tmp_path / "runs.csv", tmp_path / "flags.nc"
    assert main(["dataset", "mikami2021"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("# units = images\n# loss_unit = test error (1 - top-1 accuracy)\n")
    np.testing.assert_allclose(pd.read_csv(io.StringIO(text), comment="#").loss, runs.loss)
    # the CSV route keeps them: a CSV written as `dataset -o` writes it, fitted with no flags
    # (and no --model: the CSV names its spec) is in images and test error, not nats/token
    bs.data.write_runs_csv(subset, csv)
    argv = ["fit", str(csv), "-o", str(out), "--draws", "50", "--tune", "50", "--chains", "1", "--quiet"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "model 'transfer_gap_error_rate'" in err and "note:" not in err
    assert "inputs in images, loss in test error (1 - top-1 accuracy)" in err
    assert (bs.Fit.load(out).units, bs.Fit.load(out).spec.name) == ("images", "transfer_gap_error_rate")


def test_backtest_of_a_catalogued_table_uses_the_model_for_its_units(monkeypatch, capsys):
    real_table("mikami2021")
    chosen = []

    def record(runs, model, **options):
        chosen.append(model)
        raise bs.BayesScalingError("recorded")

    monkeypatch.setattr(bs, "backtest", record)
    holdout = ["--holdout-largest", "pretrain_tokens=0.3"]
    assert main(["backtest", "mikami2021", *holdout]) == 2
    assert main(["backtest", "mikami2021", *holdout, "--model", "transfer_gap"]) == 2
    assert chosen == ["transfer_gap_error_rate", "transfer_gap"]
    assert "model: transfer_gap_error_rate" in capsys.readouterr().err
