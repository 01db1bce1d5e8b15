"""The notebooks on real tables run in fast mode, as test_notebooks.py runs the others: a
file of their own, so that the suite's two workers (one file each at a time) share the
notebooks' time."""

from __future__ import annotations

import pytest
from test_notebooks import REAL_TABLES, SOURCES, run_notebook

ON_REAL_TABLES = [source for source in SOURCES if source.stem in REAL_TABLES]


@pytest.mark.parametrize("source", ON_REAL_TABLES, ids=[s.stem for s in ON_REAL_TABLES])
def test_notebook_on_a_real_table_runs(source, monkeypatch):
    run_notebook(source, monkeypatch)
