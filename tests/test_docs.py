"""The documentation site builds without a warning (Sphinx, warnings as errors), with every
page, the CLI reference from the parser, and every notebook rendered from their stored
outputs (none executed)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_docs_build_without_warnings(tmp_path):
    out = tmp_path / "html"
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q"]
    command += ["-d", str(tmp_path / "doctrees"), str(ROOT / "docs"), str(out)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    pages = {p.stem for p in out.glob("*.html")}
    assert {
        "index",
        "getting_started",
        "model",
        "data",
        "decisions",
        "cli",
        "api",
        "benchmarks",
        "records",
    } <= pages
    notebooks = sorted(p.stem for p in (out / "notebooks").glob("*.html"))
    sources = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9]*.py"))
    assert notebooks == sources and notebooks[0] == "01_fit_transfer_gap"  # every notebook is a page
    cli = (out / "cli.html").read_text()
    assert "--holdout-largest" in cli and "allocate" in cli  # generated from the parser
    api = (out / "api.html").read_text()
    assert "bayes_scaling.fit" in api and "plot_curves" in api and "SamplingPolicy" in api
    # nothing a page shows needs a network: no script or style from another host, and the
    # math written as MathML (drawn by the browser), not left as TeX for a script from a CDN
    for page in [*out.glob("*.html"), *(out / "notebooks").glob("*.html")]:
        text = page.read_text()
        remote = re.findall(r"<(?:script|link|img)[^>]*(?:src|href)=\"(?:https?:)?//[^\"]*\"", text)
        assert not remote, (page.name, remote[:3])
    model = (out / "model.html").read_text()
    assert model.count("<math") >= 2 and "\\[" not in model and "$$" not in model
    assert "<math" in (out / "notebooks" / "01_fit_transfer_gap.html").read_text()
    # no empty "Section Navigation" sidebar on a page without a section; the test harness
    # cell of each notebook (tagged remove-cell) is not shown
    assert "Section Navigation" not in model
    assert "BAYES_SCALING_FAST" not in (out / "notebooks" / "01_fit_transfer_gap.html").read_text()
