"""The embedded example: SYNTHETIC transfer runs made by scripts/make_example_data.py."""

from __future__ import annotations

from importlib import resources

import pandas as pd


def example_path() -> str:
    """Path of the example run table (CSV) inside the installed package."""
    return str(resources.files(__package__) / "example_runs.csv")


def load_example() -> pd.DataFrame:
    """Synthetic transfer runs of 8 distributions whose true gaps span 1.5 to 150."""
    return pd.read_csv(example_path())


def example_truth() -> pd.DataFrame:
    """The parameters (raw units) the example was simulated from, one row per distribution."""
    return pd.read_csv(resources.files(__package__) / "example_truth.csv")
