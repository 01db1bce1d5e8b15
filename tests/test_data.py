"""Validation at the door: every problem reported at once, by row and column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayes_scaling.data import BayesScalingError, RunsValidationError, validate_runs


def table(**changes) -> pd.DataFrame:
    base = pd.DataFrame(
        {
            "distribution": ["a", "a", "a", "b", "b", "b"],
            "pretrain_tokens": [1e8, 1e9, 1e10, 1e8, 1e9, 1e10],
            "finetune_tokens": [1e5, 1e6, 1e7, 1e5, 1e6, 1e7],
            "loss": [3.0, 2.5, 2.1, 3.2, 2.7, 2.2],
            "seed": [1, 2, 3, 4, 5, 6],
        }
    )
    for column, (row, value) in changes.items():
        base.loc[row, column] = value
    return base


def test_clean_table_gives_arrays_and_labels():
    runs = validate_runs(table())
    assert runs.distributions == ("a", "b")
    assert list(runs.distribution_index) == [0, 0, 0, 1, 1, 1]
    assert "seed" in runs.table  # extra columns are carried through


def test_missing_column_names_the_column_and_the_mapping():
    with pytest.raises(RunsValidationError, match="missing column 'finetune_tokens'.*columns="):
        validate_runs(table().drop(columns="finetune_tokens"))


def test_problems_are_listed_in_the_order_of_their_rows():
    bad = table().assign(
        loss=["x", 2.0, None, 2.0, -1.0, 2.0], pretrain_tokens=[1.0, 0.0, 1.0, 1.0, 1.0, 1.0]
    )
    with pytest.raises(RunsValidationError) as caught:
        validate_runs(bad)
    firsts = [int(p.split()[1].rstrip(",:")) for p in caught.value.problems]
    assert firsts == sorted(firsts) == [1, 2, 3, 5], caught.value.problems


def test_units_travel_with_a_csv(tmp_path):
    from bayes_scaling.data import read_runs_csv, write_runs_csv

    frame = table()
    frame.attrs = {"units": "images", "loss_unit": "test error (1 - top-1 accuracy)", "model": "x"}
    write_runs_csv(frame, tmp_path / "runs.csv")
    back = read_runs_csv(tmp_path / "runs.csv")
    assert back.attrs == frame.attrs
    pd.testing.assert_frame_equal(back, frame)
    runs = validate_runs(tmp_path / "runs.csv")
    assert (runs.units, runs.loss_unit) == ("images", "test error (1 - top-1 accuracy)")


def test_column_mapping_renames_first():
    runs = validate_runs(
        table().rename(columns={"finetune_tokens": "D_ft"}), columns={"D_ft": "finetune_tokens"}
    )
    assert runs.n_runs == 6


def test_mapping_an_absent_column_is_an_error():
    with pytest.raises(RunsValidationError, match="'D_ft', which is not in the table"):
        validate_runs(table(), columns={"D_ft": "finetune_tokens"})


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("loss", np.nan, "row 3: column 'loss' is missing"),
        ("loss", np.inf, "row 3: column 'loss' is infinite"),
        ("loss", -1.0, "row 3: column 'loss' is -1; expected a number > 0"),
        ("pretrain_tokens", 0.0, "row 3: column 'pretrain_tokens' is 0; expected a number > 0"),
        ("finetune_tokens", -5.0, "row 3: column 'finetune_tokens' is -5; expected a number > 0"),
        ("finetune_tokens", "lots", "row 3: column 'finetune_tokens' is not a number"),
        ("distribution", np.nan, "row 3: column 'distribution' is empty"),
    ],
)
def test_bad_values_name_row_column_and_expectation(column, value, message):
    bad = table()
    bad[column] = bad[column].astype(object)
    bad.loc[2, column] = value
    with pytest.raises(RunsValidationError) as err:
        validate_runs(bad)
    assert message in str(err.value)


def test_all_problems_are_listed_in_one_error():
    bad = table()
    bad.loc[0, "loss"] = np.nan
    bad.loc[4, "pretrain_tokens"] = -1
    with pytest.raises(RunsValidationError) as err:
        validate_runs(bad)
    assert len(err.value.problems) == 2
    assert "row 1" in str(err.value) and "row 5" in str(err.value)


def test_too_few_runs_per_distribution():
    with pytest.raises(RunsValidationError, match="distribution 'b' has 3 run.*at least 4"):
        validate_runs(table(), min_runs_per_distribution=4)


def test_zero_allowed_only_where_the_law_says():
    bad = table()
    bad.loc[0, "pretrain_tokens"] = 0
    assert validate_runs(bad, allow_zero=["pretrain_tokens"]).n_runs == 6


def test_a_file_that_is_not_a_csv(tmp_path):
    binary = tmp_path / "runs.csv"
    binary.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(BayesScalingError, match="not a text CSV file"):
        validate_runs(binary)
    prose = tmp_path / "notes.csv"
    prose.write_text("these are my notes\nnothing tabular here\n")
    with pytest.raises(BayesScalingError, match="not a CSV run table"):
        validate_runs(prose)
    with pytest.raises(BayesScalingError, match="no such file"):
        validate_runs(tmp_path / "absent.csv")
