"""Real run tables, fetched on first use from their public source and derived here.

The project carries no data from other repositories. Each real table names its upstream
file (a URL pinned at a commit, and its sha256); :func:`upstream_file` finds it in the folder
named by ``BAYES_SCALING_DATA_DIR`` (the offline layout, ``<table>/<file>``: nothing is
downloaded) or downloads it once with pooch into the user's cache, checking the checksum
either way. The ``derive_*`` functions turn the upstream file into a run table (one row per
run: ``distribution``, the law's inputs, ``loss``) with the package's own code.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ..data import BayesScalingError

DATA_DIR_VARIABLE = "BAYES_SCALING_DATA_DIR"
# a download that has not begun within this many seconds is taken for no network
DOWNLOAD_TIMEOUT_SECONDS = 15
IMAGENET_TRAIN_IMAGES = 1_281_167
# classes of the downstream data sets of alabdulmohsin2022 (TFDS versions; caltech101's 102
# include the background class), so that f = shots per class x classes
FEW_SHOT_CLASSES = {"bird": 200, "c": 100, "cal": 102, "inet": 1000}
FEW_SHOT_NAMES = {"bird": "birds_cub200", "c": "cifar100", "cal": "caltech101", "inet": "imagenet"}
# pre-training checkpoints kept per learning curve: log-spaced, so every decade of
# pre-training counts alike and a fit sees hundreds of runs, not 19,000
CHECKPOINTS_PER_CURVE = 25


def upstream_file(source: Mapping[str, str]) -> Path:
    """The upstream file of a table (``source``: its ``file`` in the offline layout, ``url``
    and ``sha256``), from ``BAYES_SCALING_DATA_DIR`` when set, else downloaded once."""
    folder = os.environ.get(DATA_DIR_VARIABLE)
    if folder:
        path = Path(folder) / source["file"]
        if not path.is_file():
            raise BayesScalingError(
                f"{DATA_DIR_VARIABLE}={folder} holds no {source['file']}: put the upstream file "
                f"there (from {source['url']}), or unset {DATA_DIR_VARIABLE} to download it"
            )
        found = hashlib.sha256(path.read_bytes()).hexdigest()
        if found != source["sha256"]:
            raise BayesScalingError(
                f"{path} is not the pinned upstream file: sha256 {found}, expected {source['sha256']} "
                f"(download it again from {source['url']})"
            )
        return path
    return _download(source)


def _download(source: Mapping[str, str]) -> Path:
    import pooch  # imported here: only a first use without the offline folder needs it

    folder, name = source["file"].rsplit("/", 1)
    try:
        return Path(
            pooch.retrieve(
                source["url"],
                known_hash=f"sha256:{source['sha256']}",
                fname=name,
                path=pooch.os_cache("bayes-scaling") / folder,
                downloader=pooch.HTTPDownloader(timeout=DOWNLOAD_TIMEOUT_SECONDS, progressbar=False),
            )
        )
    except Exception as error:  # no network, a proxy, a changed file: one message says what to do
        # a hash mismatch says what it found; a network error's text is a wall of URL
        reason = f"ValueError: {str(error)[:300]}" if isinstance(error, ValueError) else type(error).__name__
        raise BayesScalingError(
            f"could not fetch {source['file']} from {source['url']} ({reason}). Without network, "
            f"put that file at $BAYES_SCALING_DATA_DIR/{source['file']} and set "
            f"{DATA_DIR_VARIABLE} to that folder"
        ) from None


def derive_mikami2021(path: Path) -> pd.DataFrame:
    """mikami2021's runs from the authors' ``results_finetune.csv``.

    Kept: the 64k pre-training pool, fine-tuning on ImageNet, pre-training on the default
    renderer (``pdata == "bop"``) with p > 0 (the law needs p > 0; these settings have a grid
    of pre-training sizes for every backbone and task). One distribution per pre-training
    task x backbone; p = pre-training images, f = fine-tuning images (``fratio`` percent of
    ImageNet's 1,281,167), loss = test error = 1 - the best score over the evaluation
    points, as the authors fit it."""
    raw = pd.read_csv(path)
    kept = raw[
        (raw.pscale == "64k") & (raw.fdata == "imagenet") & (raw.pdata == "bop") & (raw["pretrain.data"] > 0)
    ]
    keys = ["ptask", "model", "nparam", "pretrain.data", "fratio"]
    best = kept.groupby(keys, as_index=False)["value"].max()
    table = pd.DataFrame(
        {
            "distribution": best.ptask + "-" + best.model,
            "pretrain_tokens": best["pretrain.data"].astype(float),
            "finetune_tokens": (best.fratio / 100 * IMAGENET_TRAIN_IMAGES).round().astype(float),
            "loss": 1.0 - best.value,
            "pretrain_task": best.ptask,
            "backbone": best.model,
            "backbone_params_millions": best.nparam,
            "finetune_percent": best.fratio,
        }
    )
    return table.sort_values(["distribution", "finetune_tokens", "pretrain_tokens"]).reset_index(drop=True)


def derive_alabdulmohsin2022(path: Path) -> pd.DataFrame:
    """alabdulmohsin2022's few-shot transfer runs from ``benchmark.vision.csv``.

    p = pre-training examples seen (JFT), f = labelled downstream examples (shots per class
    x classes), one distribution per downstream data set and architecture (``cifar100 ViT/B/16``),
    loss = few-shot test error rate. Each learning curve (data set x shots x architecture)
    keeps :data:`CHECKPOINTS_PER_CURVE` log-spaced checkpoints."""
    raw = pd.read_csv(path)
    task = raw.Task.str.rsplit("_", n=1)
    code, shots = task.str[0], task.str[1].astype(int)
    table = pd.DataFrame(
        {
            "distribution": code.map(FEW_SHOT_NAMES) + " " + raw.Model,
            "pretrain_tokens": raw["Seen Examples"].astype(float),
            "finetune_tokens": (shots * code.map(FEW_SHOT_CLASSES)).astype(float),
            "loss": raw.Loss.astype(float),
            "downstream": code.map(FEW_SHOT_NAMES),
            "architecture": raw.Model,
            "shots_per_class": shots,
            "upstream_training_split": raw.Training,
        }
    )
    kept = []
    for _, curve in table.groupby(["distribution", "shots_per_class"], sort=True):
        curve = curve.sort_values("pretrain_tokens")
        seen = curve.pretrain_tokens.to_numpy()
        targets = np.geomspace(seen[0], seen[-1], CHECKPOINTS_PER_CURVE)
        nearest = np.abs(np.log(seen)[None, :] - np.log(targets)[:, None]).argmin(axis=1)
        kept.append(curve.iloc[np.unique(nearest)])
    return pd.concat(kept).reset_index(drop=True)


def _sldbench_splits(train: Path, test: Path) -> pd.DataFrame:
    """One SLDBench task's two files as one table, with a ``split`` column (train, or test:
    the task's larger runs)."""
    parts = [pd.read_parquet(path).assign(split=split) for path, split in ((train, "train"), (test, "test"))]
    return pd.concat(parts, ignore_index=True)


def _chinchilla_table(table: pd.DataFrame, name: str, extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """``distribution, params, pretrain_tokens, loss, flops`` (6 N D, the direction the test
    split lies along), then ``extra`` columns and ``split``."""
    table = table.assign(distribution=name, flops=6.0 * table.params * table.pretrain_tokens)
    return table[["distribution", "params", "pretrain_tokens", "loss", "flops", *extra, "split"]].reset_index(
        drop=True
    )


def derive_sldbench_farseer(train: Path, test: Path) -> pd.DataFrame:
    """Farseer's runs as one distribution of the Chinchilla law: ``params`` (N),
    ``pretrain_tokens`` (D), ``loss``, the task's ``split`` and ``flops`` = 6 N D, along which
    the test split lies past the rest."""
    table = _sldbench_splits(train, test).rename(columns={"N": "params", "D": "pretrain_tokens"})
    return _chinchilla_table(table, "farseer")


def derive_sldbench_data_constrained(train: Path, test: Path) -> pd.DataFrame:
    """Muennighoff et al.'s runs that saw each token at most once (``tokens <= unique_tokens``)
    as one distribution of the Chinchilla law; runs on repeated data are left out, since the
    law has no term for repetition."""
    table = _sldbench_splits(train, test).rename(columns={"tokens": "pretrain_tokens"})
    table = table[table.pretrain_tokens <= table.unique_tokens]
    return _chinchilla_table(table, "data_constrained", extra=("unique_tokens",))


def derive_sldbench_lr_bsz(train: Path, test: Path) -> pd.DataFrame:
    """Per model size (non-embedding parameters) and token count, the best loss over the
    learning-rate and batch-size sweep, as one distribution of the Chinchilla law: the law
    describes a well-tuned run, and the sweep's worse settings are not runs of it.
    ``sweep_runs`` counts the runs of each cell."""
    raw = _sldbench_splits(train, test)
    best = raw.loc[raw.groupby(["non_embedding_param_size", "data_size", "split"]).lm_loss.idxmin()]
    sizes = raw.groupby(["non_embedding_param_size", "data_size", "split"]).size().rename("sweep_runs")
    best = best.join(sizes, on=["non_embedding_param_size", "data_size", "split"])
    table = best.rename(
        columns={"non_embedding_param_size": "params", "data_size": "pretrain_tokens", "lm_loss": "loss"}
    )
    return _chinchilla_table(table, "lr_bsz", extra=("lr", "bsz", "sweep_runs"))
