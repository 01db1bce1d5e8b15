"""Run tables shipped with the package: the SYNTHETIC example and real public data.

Each table is a CSV in this folder; what it is, its units and where it came from are in
``CATALOG`` below (data, not code). A table loaded with :func:`load_dataset` carries its
units in ``DataFrame.attrs``, and :func:`bayes_scaling.fit` labels the fit with them.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

from ..data import BayesScalingError

CATALOG: dict[str, dict[str, str]] = {
    "example": {
        "file": "example_runs.csv",
        "description": "SYNTHETIC transfer runs of 8 distributions drawn from the transfer-gap law "
        "(scripts/make_example_data.py); true gaps 1.5 to 150",
        "units": "tokens",
        "loss_unit": "nats/token",
        "model": "transfer_gap",
        "source": "simulated by scripts/make_example_data.py",
        "licence": "MIT (this package)",
    },
    "mikami2021": {
        "file": "mikami2021.csv",
        "description": "Real synthetic-to-real transfer: ResNets pre-trained on rendered images "
        "(4 tasks x 5 backbones), fine-tuned on ImageNet; 161 runs, 8 distributions "
        "(pre-training task-backbone); p = pre-training images, f = fine-tuning images, "
        "loss = ImageNet test error",
        "units": "images",
        "loss_unit": "test error (1 - top-1 accuracy)",
        # error rates: transfer_gap.toml's prior on E is for nats per token
        "model": "transfer_gap_error_rate",
        "source": "Mikami et al. 2021, arXiv:2108.11018; pfnet-research/cg-transfer, "
        "results/results_finetune.csv at commit 0a2a47ef15450ed337862188409bb4e098444a7e "
        "(64k pool), derived by scripts/make_mikami2021.py",
        "licence": "MIT, mikami2021_LICENSE.txt beside the table",
    },
}


def list_datasets() -> pd.DataFrame:
    """The shipped run tables: ``name, description, units, loss_unit, model, source, licence``
    (``model``: the shipped spec whose priors suit the table's units)."""
    rows = [
        {"name": name, **{k: v for k, v in entry.items() if k != "file"}} for name, entry in CATALOG.items()
    ]
    return pd.DataFrame(rows)


def dataset_path(name: str) -> str:
    """Path of a shipped run table (CSV) inside the installed package."""
    if name not in CATALOG:
        raise BayesScalingError(f"unknown data set {name!r}; shipped: {', '.join(CATALOG)}")
    return str(resources.files(__package__) / CATALOG[name]["file"])


def load_dataset(name: str) -> pd.DataFrame:
    """A shipped run table, with its units in ``attrs`` (``units``, ``loss_unit``, ``source``)
    and the spec that suits them (``model``)."""
    table = pd.read_csv(dataset_path(name))
    entry = CATALOG[name]
    kept = ("units", "loss_unit", "model", "source", "licence")
    table.attrs.update({k: entry[k] for k in kept} | {"name": name})
    return table


def example_path() -> str:
    """Path of the example run table (CSV) inside the installed package."""
    return dataset_path("example")


def load_example() -> pd.DataFrame:
    """Synthetic transfer runs of 8 distributions whose true gaps span 1.5 to 150."""
    return load_dataset("example")


def example_truth() -> pd.DataFrame:
    """The parameters (raw units) the example was simulated from, one row per distribution."""
    return pd.read_csv(resources.files(__package__) / "example_truth.csv")
