"""Where a benchmark writes its figures: one JSON line per measurement, stamped with the
commit, the package versions, the machine's cores and the date, appended to
``benchmarks/results/<benchmark>.jsonl``. ``scripts/benchmarks_page.py`` renders the latest
line of each (benchmark, case) as the docs page ``docs/benchmarks.md``.

    from results import record
    record("rank_speed", case="1000 actions", figures={"seconds": 0.41}, command="python rank_speed.py")
"""

from __future__ import annotations

import datetime
import json
import os
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
PACKAGES = ("bayes-scaling", "pymc", "nutpie", "arviz-stats", "numpy", "pytensor")


def stamp() -> dict:
    """The commit (with ``+dirty`` for uncommitted changes), versions, cores and date."""
    root = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") + (
        "+dirty" if git("status", "--porcelain", "bayes_scaling") else ""
    )
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "commit": commit,
        "versions": versions,
        "cores": os.cpu_count(),
        "date": datetime.date.today().isoformat(),
    }


def record(benchmark: str, *, case: str, figures: dict, command: str | None = None) -> dict:
    """Append one measurement of ``case`` (its figures: plain numbers or strings) and return it.
    ``command``: what measured it (default: this process's own command line)."""
    command = command or "cd benchmarks && ../.venv/bin/python " + " ".join(map(shlex.quote, sys.argv))
    line = {"benchmark": benchmark, "case": case, "command": command, "figures": figures, **stamp()}
    RESULTS.mkdir(exist_ok=True)
    with open(RESULTS / f"{benchmark}.jsonl", "a") as out:
        out.write(json.dumps(line) + "\n")
    return line
