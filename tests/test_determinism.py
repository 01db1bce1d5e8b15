"""A fit is a function of its table, spec and seed: the same draws in a fresh process, after
other fits in the same process, with a cold cache of compiled models, and on any number of
cores. (On the branch where the pilot weighs moving coordinates, tests/test_policy.py shows
the verdict reads counts, not clocks.)"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap

import numpy as np
from conftest import no_discrepancy

import bayes_scaling as bs

QUICK = {"draws": 100, "tune": 100, "chains": 2, "seed": 3, "progress": False, "warn": False}


def draws_digest(fit: bs.Fit) -> str:
    """A digest of every posterior variable's draws, bit for bit."""
    posterior = fit.idata.posterior.to_dataset()
    digest = hashlib.sha256()
    for name in sorted(posterior.data_vars):
        digest.update(name.encode() + np.ascontiguousarray(posterior[name].values).tobytes())
    return digest.hexdigest()


def test_a_fit_draws_the_same_in_a_fresh_process_with_a_cold_cache_and_on_one_core(example_fit):
    """The example after this process's other fits (its compiled model reused) against the
    same fit in a second Python process (its own imports, its own compilation) on one
    core: bit-identical draws. One fresh process checks all three, as two tests did at twice
    the cost (a compilation each)."""
    here = bs.fit(bs.load_dataset("example"), no_discrepancy("transfer_gap"), **QUICK)
    code = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        import bayes_scaling as bs
        from conftest import no_discrepancy
        from test_determinism import QUICK, draws_digest
        fit = bs.fit(bs.load_dataset("example"), no_discrepancy("transfer_gap"), cores=1, **QUICK)
        print(fit.diagnostics.compile_seconds, draws_digest(fit))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    compile_seconds, digest = done.stdout.strip().splitlines()[-1].split()
    assert float(compile_seconds) > 1 > here.diagnostics.compile_seconds  # both paths taken
    assert digest == draws_digest(here)
