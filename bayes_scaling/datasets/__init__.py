"""Run tables: the SYNTHETIC example shipped with the package, and real public tables
fetched on first use from their source (see :mod:`.upstream`).

What each table is, its units and where it comes from are in ``CATALOG`` below (data, not
code). A table loaded with :func:`load_dataset` carries its units in ``DataFrame.attrs``, and
:func:`bayes_scaling.fit` labels the fit with them.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

from ..data import BayesScalingError
from . import upstream

SLDBENCH_COMMIT = "e0a58ffde4f6fdfb20880d47d6d180fdbcb1440d"
# each task's two parquet files (train, test) at that commit of PlanarG/active-sl
SLDBENCH_SHA256 = {
    "farseer": (
        "98c4167b4b111814bcf8450bef0ec975239da067dd4f42ef6b71f4c1667705bc",
        "f886cce70555fed73c6ecbdc6588edc0cb0947a00db36e15c8795afcba280f3d",
    ),
    "data_constrained": (
        "d0e6f059e657c7476f8f2636110e391d086c78bd826a50c4cc62f06e73c7b020",
        "acdc55ff3bffb3020b365007d2b18bc0bf0ec3e359b2ceb3e09abe2bbb94cc2e",
    ),
    "lr_bsz": (
        "3e8bf513e7c7da2b82e3d324c19643256e3f5cc5770aa4d0dcbc0aa3c38768e5",
        "ed6c33d124562015805d3715f9f01a58e5d27befcd63d30be23a94eedc9caa68",
    ),
}


def _sldbench(task: str, *, description: str, loss_unit: str, derive, model: str = "chinchilla") -> dict:
    """A catalogue entry for one SLDBench task mapped onto a pre-training law (``model``)."""
    folder = f"{task}_scaling_law"
    return {
        "description": description,
        "units": "parameters and tokens",
        "loss_unit": loss_unit,
        "model": model,
        "source": "Li et al. 2026 (ScaleBench) and Lin et al. (SLDBench); PlanarG/active-sl, "
        f"benchmark/dataset/{folder}/{{train,test}}-00000-of-00001.parquet at commit "
        f"{SLDBENCH_COMMIT}, fetched on first use and derived by bayes_scaling.datasets.upstream",
        "licence": "MIT (upstream repository; dataset card CC-BY-4.0)",
        "upstream": [
            {
                "file": f"sldbench/{folder}/{split}-00000-of-00001.parquet",
                "url": f"https://raw.githubusercontent.com/PlanarG/active-sl/{SLDBENCH_COMMIT}/"
                f"benchmark/dataset/{folder}/{split}-00000-of-00001.parquet",
                "sha256": sha256,
            }
            for split, sha256 in zip(("train", "test"), SLDBENCH_SHA256[task], strict=True)
        ],
        "derive": derive,
    }


CATALOG: dict[str, dict] = {
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
        "(64k pool), fetched on first use and derived by bayes_scaling.datasets.upstream",
        "licence": "MIT (upstream repository)",
        "upstream": {
            "file": "mikami2021/results_finetune.csv",
            "url": "https://raw.githubusercontent.com/pfnet-research/cg-transfer/"
            "0a2a47ef15450ed337862188409bb4e098444a7e/results/results_finetune.csv",
            "sha256": "f5757c36b2aa4336f7c0e0098f557d10906491c8befff582ec03b6212617052b",
        },
        "derive": upstream.derive_mikami2021,
    },
    "alabdulmohsin2022": {
        "description": "Real few-shot transfer after JFT pre-training: 4 downstream data sets x "
        "6 architectures (24 distributions), 5/10/25 shots per class, 25 log-spaced "
        "pre-training checkpoints per curve; p = pre-training examples seen, f = shots x "
        "classes, loss = few-shot error rate",
        "units": "examples",
        "loss_unit": "few-shot test error rate",
        # three fine-tuning sizes per distribution: one few-shot exponent for all
        "model": "few_shot_error_rate",
        "source": "Alabdulmohsin, Neyshabur and Zhai 2022, arXiv:2209.06640; "
        "google-research/google-research, revisiting_neural_scaling_laws/data/"
        "benchmark.vision.csv at commit 9853680c781781bd8d3de20aa61c7373ce059913, fetched on "
        "first use and derived by bayes_scaling.datasets.upstream",
        "licence": "Apache-2.0 (upstream repository)",
        "upstream": {
            "file": "alabdulmohsin2022/benchmark.vision.csv",
            "url": "https://raw.githubusercontent.com/google-research/google-research/"
            "9853680c781781bd8d3de20aa61c7373ce059913/revisiting_neural_scaling_laws/data/"
            "benchmark.vision.csv",
            "sha256": "23b00692d71e58aa5a2a941e831d57688e0977fdcf5f5125ff7b64283b5d9e83",
        },
        "derive": upstream.derive_alabdulmohsin2022,
    },
    "farseer": _sldbench(
        "farseer",
        description="Real pre-training runs of one data set (Farseer, via ScaleBench/SLDBench): "
        "411 runs, 1 distribution, model sizes N 1e8-2.5e10 and tokens D 1e9-5e11; the 7 "
        "runs of the task's own test split (split == 'test') lie past the others' compute "
        "(6ND above 4e21); p = params, tokens = training tokens, loss as published",
        loss_unit="loss as published by Farseer (SLDBench)",
        derive=upstream.derive_sldbench_farseer,
        # its data exponent shrinks with model size (docs/records.md, "Size-dependent data exponent")
        model="size_dependent_data",
    ),
    "data_constrained": _sldbench(
        "data_constrained",
        description="Real pre-training runs of Muennighoff et al. 2023 (via SLDBench), the 29 "
        "that saw each token at most once (tokens <= unique tokens), where the Chinchilla law "
        "applies; repeated data needs a data-constrained law the package does not have. The 2 "
        "of the task's test split lie past the others' compute (6ND above 1e21)",
        loss_unit="validation loss as published (SLDBench)",
        derive=upstream.derive_sldbench_data_constrained,
    ),
    "lr_bsz": _sldbench(
        "lr_bsz",
        description="Real pre-training runs of a learning-rate and batch-size sweep (StepLaw, "
        "via SLDBench): per model size and token count, the best loss over the sweep (2,819 "
        "runs, 42 cells); the one cell of the task's test split lies past the others' "
        "compute (6ND above 4e20)",
        loss_unit="language-model loss as published (SLDBench)",
        derive=upstream.derive_sldbench_lr_bsz,
    ),
}

DESCRIBED = ("description", "units", "loss_unit", "model", "source", "licence")


def list_datasets() -> pd.DataFrame:
    """The run tables: ``name, description, units, loss_unit, model, source, licence,
    fetched`` (``model``: the shipped spec whose priors suit the table's units; ``fetched``:
    whether the table comes from its upstream source on first use)."""
    rows = [
        {"name": name, **{k: entry[k] for k in DESCRIBED}, "fetched": "upstream" in entry}
        for name, entry in CATALOG.items()
    ]
    return pd.DataFrame(rows)


def _entry(name: str) -> dict:
    if name not in CATALOG:
        raise BayesScalingError(f"unknown data set {name!r}; known: {', '.join(CATALOG)}")
    return CATALOG[name]


def dataset_path(name: str) -> str:
    """Path of a run table's file: the CSV inside the package for the example, the upstream
    file (fetched on first use, see :func:`.upstream.upstream_file`) for a real table (its
    first, where it has several)."""
    return _paths(name)[0]


def _paths(name: str) -> list[str]:
    entry = _entry(name)
    if "upstream" in entry:
        sources = entry["upstream"] if isinstance(entry["upstream"], list) else [entry["upstream"]]
        return [str(upstream.upstream_file(source)) for source in sources]
    return [str(resources.files(__package__) / entry["file"])]


def load_dataset(name: str) -> pd.DataFrame:
    """A run table, with its units in ``attrs`` (``units``, ``loss_unit``, ``source``) and the
    spec that suits them (``model``).

    Real tables are fetched from their pinned source on first use and cached (or read from
    the folder named by ``BAYES_SCALING_DATA_DIR``, where nothing is downloaded), then
    derived by this package's code; a clear error names the file and that variable when
    neither works."""
    entry = _entry(name)
    paths = _paths(name)
    table = entry["derive"](*paths) if "derive" in entry else pd.read_csv(paths[0])
    table.attrs.update({k: entry[k] for k in DESCRIBED if k != "description"} | {"name": name})
    return table


def example_path() -> str:
    """Path of the example run table (CSV) inside the installed package."""
    return dataset_path("example")


def example_truth() -> pd.DataFrame:
    """The parameters (raw units) the example was simulated from, one row per distribution."""
    return pd.read_csv(resources.files(__package__) / "example_truth.csv")
