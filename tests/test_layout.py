"""The house as the design card draws it: no import circles, specs shipped in the wheel."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "bayes_scaling"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Package modules imported anywhere in a file, function-level imports included."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            found.add(".".join(base + ([node.module] if node.module else [])))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bayes_scaling"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("bayes_scaling")}
    return found


def test_no_module_imports_one_that_imports_it_back():
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {
        name: {dep for dep in _imports(path) if dep in modules and dep != name}
        for name, path in modules.items()
        # the package's __init__ files re-export; the CLI sits on top of everything
        if path.name != "__init__.py" and name != "bayes_scaling.cli"
    }

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for dep in graph.get(start, ()):
            if dep == goal or (dep not in seen and reaches(dep, goal, seen | {dep})):
                return True
        return False

    circles = sorted(name for name in graph if reaches(name, name, {name}))
    assert circles == [], f"modules in an import circle: {circles}"
    # the direction of the pipeline: results are read by reports, never the other way
    assert "bayes_scaling.report" not in graph["bayes_scaling.fitting"]
    assert "bayes_scaling.report" not in graph["bayes_scaling.prediction"]
    # the sampling policy reads data, never the sampler's state
    assert (
        not {"bayes_scaling.inference.compiled", "bayes_scaling.inference.posterior"}
        & graph["bayes_scaling.inference.policy"]
    )


def test_the_public_api_is_small_and_says_what_it_does():
    """At most 25 names at the top level; plots are plot_*; no function shadows a module."""
    import bayes_scaling as bs

    assert len(bs.__all__) <= 25
    plots = [name for name in bs.__all__ if "plot" in name]
    assert plots and all(name.startswith("plot_") for name in plots)
    modules = {p.stem for p in PACKAGE.glob("*.py")} | {p.name for p in PACKAGE.iterdir() if p.is_dir()}
    assert not set(bs.__all__) & modules, set(bs.__all__) & modules


def test_fit_reads_as_the_pipeline():
    """fit() is at most 40 lines of code (its docstring aside), and at most two functions in
    the package are over 60 (the CLI's parser may be one)."""
    long = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = node.body[1:] if ast.get_docstring(node) else node.body
                code = {n.lineno for stmt in body for n in ast.walk(stmt) if hasattr(n, "lineno")}
                long[f"{_module_name(path)}.{node.name}"] = len(code)
    assert long["bayes_scaling.fitting.fit"] <= 40, long["bayes_scaling.fitting.fit"]
    over = sorted(name for name, count in long.items() if count > 60)
    assert len(over) <= 2, over


def test_package_is_at_the_root_not_under_src():
    assert (ROOT / "bayes_scaling" / "__init__.py").is_file()
    assert not (ROOT / "src").exists()


def test_the_wheel_ships_the_specs_and_finds_them_once_installed(tmp_path):
    """Build the wheel, install it alone into a fresh venv that sees our dependencies, and
    load a spec from the installed copy, not the checkout."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)], check=True
    )
    (wheel,) = tmp_path.glob("bayes_scaling-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "bayes_scaling/models/transfer_gap.toml" in names
    venv = tmp_path / "venv"
    # no pip of its own (ensurepip is 4 of this test's seconds): ours installs into it
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)], check=True
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            venv / "bin" / "python",
            "install",
            "-q",
            "--no-deps",
            str(wheel),
        ],
        check=True,
    )
    site = subprocess.run(
        [sys.executable, "-c", "import numpy, os; print(os.path.dirname(os.path.dirname(numpy.__file__)))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    code = (
        "import sys; sys.path.append(sys.argv[1]); import bayes_scaling as bs, bayes_scaling.spec as s;"
        "print(s.models_dir()); print(bs.load_spec('transfer_gap').name)"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # nothing may point at the checkout
    done = subprocess.run(
        [venv / "bin" / "python", "-c", code, site],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env=env,
    )
    models_dir, name = done.stdout.split()
    assert name == "transfer_gap"
    assert str(venv) in models_dir and str(ROOT) not in models_dir


def test_each_notebook_holds_the_cells_of_its_source():
    """notebooks/NN.ipynb (with outputs) is made from NN.py by scripts/build_notebooks.py;
    an edit to one that did not reach the other fails here."""
    import jupytext

    sources = sorted((ROOT / "notebooks").glob("[0-9]*.py"))
    assert len(sources) >= 4
    for source in sources:
        built = source.with_suffix(".ipynb")
        assert built.is_file(), f"{built.name} missing: run scripts/build_notebooks.py {source.stem}"
        want = [(cell.cell_type, cell.source) for cell in jupytext.read(source).cells]
        have = [(cell.cell_type, cell.source) for cell in jupytext.read(built).cells]
        assert have == want, f"{built.name} is stale: run scripts/build_notebooks.py {source.stem}"
        # each figure stored once: a cell whose last expression is a Figure would store it
        # twice (its result and the inline backend's display)
        for number, cell in enumerate(jupytext.read(built).cells):
            images = [o for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
            assert len(images) <= 1, f"{built.name}, cell {number}: {len(images)} copies of a figure"


def test_the_files_sent_to_one_test_process_exist():
    """A renamed test file would silently leave the group that shares its compiled models."""
    from conftest import SHARED_MODELS

    tests = Path(__file__).resolve().parent
    missing = [name for name in SHARED_MODELS if not (tests / name).is_file()]
    assert not missing, f"SHARED_MODELS in tests/conftest.py names files that are gone: {missing}"
