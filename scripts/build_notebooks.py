"""Run the tutorial notebooks from their percent-format sources and write them with outputs.

Each notebook is kept twice in notebooks/: ``NN_name.py`` (jupytext's percent format, the
source to edit, diff and lint) and ``NN_name.ipynb`` (the same cells with the outputs of a
full run, for reading on the web). This script makes the second from the first:

    .venv/bin/python scripts/build_notebooks.py                   # all
    .venv/bin/python scripts/build_notebooks.py 04_your_own_data  # one
    .venv/bin/python scripts/build_notebooks.py --no-run          # cells only, no outputs

The test suite runs each notebook's cells with BAYES_SCALING_FAST=1 (fewer draws) in its own
process (tests/test_notebooks.py), and checks that each .ipynb holds the cells of its .py.
"""

import argparse
from pathlib import Path

import jupytext
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--no-run", action="store_true", help="write the cells without running them")
    parser.add_argument("names", nargs="*", help="notebook names (default: all)")
    args = parser.parse_args()
    for source in sorted(NOTEBOOKS.glob("[0-9]*.py")):
        if args.names and source.stem not in args.names:
            continue
        notebook = jupytext.read(source)
        if not args.no_run:
            NotebookClient(notebook, timeout=900, resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
        target = source.with_suffix(".ipynb")
        jupytext.write(notebook, target)
        print(f"wrote {target}")


if __name__ == "__main__":
    main()
