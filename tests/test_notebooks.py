"""The tutorial notebooks run, cell by cell, in fast mode (fewer draws): a cell that raises
fails the suite.

They run in this process, not each in a Jupyter kernel of its own, so that their fits
reuse the models the rest of the suite compiled (see ``engine``): five kernels compiled
five sets of models, ~10-20 s each. What runs is each notebook's source
(``notebooks/NN.py``, whose cells ``test_layout`` checks the ``.ipynb`` holds), with the
last expression of each cell turned into text as a notebook would display it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import matplotlib
import pytest
from conftest import real_table

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SOURCES = sorted(NOTEBOOKS.glob("[0-9]*.py"))
# the notebooks on real tables, and the table each needs (skipped, saying why, without it);
# run by test_notebooks_real_data.py, so that the suite's two workers share the notebooks
REAL_TABLES = {"05_real_data": "mikami2021", "06_next_runs": "farseer"}
ON_EXAMPLES = [source for source in SOURCES if source.stem not in REAL_TABLES]


def run_cell(source: str, namespace: dict, label: str) -> None:
    """Run one code cell; display its last expression (repr), as a notebook would."""
    tree = ast.parse(source, filename=label)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    exec(compile(tree, label, "exec"), namespace)
    if last is not None:
        value = eval(compile(ast.Expression(last.value), label, "eval"), namespace)
        repr(value)


@pytest.mark.parametrize("source", ON_EXAMPLES, ids=[s.stem for s in ON_EXAMPLES])
def test_notebook_runs(source, monkeypatch):
    run_notebook(source, monkeypatch)


def run_notebook(source: Path, monkeypatch) -> None:
    import jupytext
    import matplotlib.pyplot as plt

    matplotlib.use("Agg")
    monkeypatch.setenv("BAYES_SCALING_FAST", "1")
    if source.stem in REAL_TABLES:
        real_table(REAL_TABLES[source.stem])  # skipped, saying why, when the table cannot be had
    monkeypatch.chdir(NOTEBOOKS)  # a notebook's working folder is its own
    namespace: dict = {"__name__": "__main__"}
    cells = [c for c in jupytext.read(source).cells if c.cell_type == "code"]
    assert cells, f"{source.name} has no code cell"
    try:
        for number, cell in enumerate(cells, start=1):
            run_cell(cell.source, namespace, f"{source.name}, code cell {number}")
    finally:
        plt.close("all")
