"""A fit is a function of its table, spec and seed: the same draws (a digest of every posterior
variable, bit for bit) in a fresh process, after other fits in the same process, with a cold
cache of compiled models and on one core.

    cd benchmarks && ../.venv/bin/python determinism.py [--tables example sim16 flan]

``sim16``: 16 simulated distributions whose pilot finds every term pinned, the branch where
the policy weighs moving to reference-loss coordinates. ``flan``: lin2024's FLAN curves
under ``rectified`` (read from ../shared/data).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pandas as pd
from results import record

import bayes_scaling as bs
from bayes_scaling.inference.compiled import ModelCache

HERE = Path(__file__).resolve().parent
SETTINGS = {"seed": 0, "progress": False, "warn": False}


def table(name: str) -> tuple[pd.DataFrame, str]:
    if name == "example":
        return bs.load_dataset("example"), "transfer_gap"
    if name == "sim16":
        truth = pd.DataFrame({"distribution": [f"d{i}" for i in range(16)], "E": 1.5, "A": 2e4, "alpha": 0.3})
        grid = {"pretrain_tokens": [1e9, 3e9, 1e10, 3e10], "finetune_tokens": [1e5, 1e6, 1e7]}
        return bs.simulate_runs(truth.assign(beta=0.3, G=3.0), grid, noise=0.01, seed=0), "transfer_gap"
    from backtest_real import lin2024_runs

    return lin2024_runs("flan"), "rectified"


def digest(name: str, **options) -> str:
    from test_determinism import draws_digest

    runs, model = table(name)
    return draws_digest(bs.fit(runs, model, **SETTINGS, **options))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tables", nargs="+", default=["example", "sim16"])
    parser.add_argument("--digest", help=argparse.SUPPRESS)  # the fresh process's own call
    args = parser.parse_args()
    sys.path.insert(0, str(HERE.parent / "tests"))
    if args.digest:
        print(digest(args.digest))
        return
    for name in args.tables:
        fresh = subprocess.run(
            [sys.executable, __file__, "--digest", name], capture_output=True, text=True, check=True, cwd=HERE
        ).stdout.split()[-1]
        first = digest(name)
        for other in (n for n in ("example", "sim16") if n != name):
            digest(other, draws=100, tune=100)  # other fits in this process first
        after = digest(name)
        cold = digest(name, cache=ModelCache(), cores=1)
        same = fresh == first == after == cold
        print(f"{name}: fresh process {fresh[:12]}, in process {first[:12]}, after other fits {after[:12]}, "
              f"cold cache on one core {cold[:12]}: {'identical' if same else 'DIFFERENT'}")  # fmt: skip
        record(
            "determinism", case=name,
            figures={"identical": same, "digest": first[:12]},
        )  # fmt: skip


if __name__ == "__main__":
    main()
