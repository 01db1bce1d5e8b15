"""Sphinx configuration: pydata-sphinx-theme, pages in Markdown (MyST), the notebooks with
their stored outputs (myst-nb, never executed here), the API from the docstrings and the
CLI from its argparse parser. ``make docs`` builds it into docs/_build/html."""

import shutil
from pathlib import Path

from docutils import nodes

import bayes_scaling

ROOT = Path(__file__).resolve().parents[1]

project = "bayes-scaling"
author = "bayes-scaling developers"
release = getattr(bayes_scaling, "__version__", "0.1.0")

extensions = [
    "myst_nb",  # Markdown pages and the .ipynb notebooks
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",  # numpydoc-style docstrings
    "sphinx.ext.autosummary",
    "sphinxarg.ext",  # the CLI reference, from bayes_scaling.cli.make_parser
]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "demo/*.md"]
nb_execution_mode = "off"  # the notebooks carry the outputs of a full run
myst_enable_extensions = ["dollarmath"]
# '(... )' headings and the notebooks' own level jumps are not errors here
suppress_warnings = ["myst.header", "mystnb.unknown_mime_type", "misc.highlighting_failure"]
autodoc_typehints = "description"
autodoc_member_order = "bysource"
napoleon_numpy_docstring = True
html_theme = "pydata_sphinx_theme"
html_title = "bayes-scaling"
html_theme_options = {"show_toc_level": 2, "navigation_with_keys": False}
# The left sidebar lists a section's pages; only the notebooks have a section of their own.
# Elsewhere it would be an empty "Section Navigation" heading.
html_sidebars = {"*": [], "notebooks/*": ["sidebar-nav-bs"]}


def _copy_notebooks(app) -> None:
    """The notebooks live in notebooks/ at the repository's top; Sphinx reads only its own
    folder, so each build copies them (with their stored outputs) into docs/notebooks/."""
    target = Path(app.srcdir) / "notebooks"
    target.mkdir(exist_ok=True)
    for notebook in sorted((ROOT / "notebooks").glob("[0-9]*.ipynb")):
        shutil.copy2(notebook, target / notebook.name)


# Math as MathML, written into the pages at build time and drawn by the browser itself: no
# MathJax from a CDN, so the model and notebook pages read the same without a network.
html_math_renderer = "mathml"


def _math(display: str):
    from latex2mathml.converter import convert

    def visit(self, node) -> None:
        # a block's equations are in node["latex"]; an inline one's in its text
        latex = node.get("latex") or node.astext()
        self.body.append(convert(latex, display=display))
        raise nodes.SkipNode

    return visit, None


def setup(app):
    app.connect("builder-inited", _copy_notebooks)
    app.add_html_math_renderer("mathml", inline_renderers=_math("inline"), block_renderers=_math("block"))
