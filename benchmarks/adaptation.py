"""nutpie's mass-matrix adaptations on the default model, sampling time only (compiled once).

    .venv/bin/python benchmarks/adaptation.py SIZE ADAPTATION:TUNE:DRAWS ...
    .venv/bin/python benchmarks/adaptation.py 64 low_rank:1000:1000 diag:1000:1000 low_rank:1000:100

SIZE is "example" or a number of simulated distributions (30 runs each, as in speed.py).
Prints, per setting: sampling seconds, min bulk ESS, ESS per second, leapfrog steps per
draw and divergences. nutpie's default target acceptance (0.8) is used, so that the
adaptations are compared as nutpie ships them. This is how the default in fit() was chosen.
"""

from __future__ import annotations

import sys
import time
import warnings

import nutpie
from speed import data_for, min_ess  # noqa: I001  (run from benchmarks/)

import bayes_scaling as bs
from bayes_scaling.model import build_model


def main() -> None:
    warnings.simplefilter("ignore")
    size, settings = sys.argv[1], sys.argv[2:]
    runs = bs.validate_runs(data_for(size))
    compiled = nutpie.compile_pymc_model(build_model(bs.load_spec("transfer_gap"), runs), backend="numba")
    for setting in settings:
        adaptation, tune, draws = setting.split(":")
        start = time.perf_counter()
        tree = nutpie.sample(compiled, draws=int(draws), tune=int(tune), chains=4, cores=2, seed=0,
                             progress_bar=False, adaptation=adaptation)
        seconds = time.perf_counter() - start
        ess = min_ess(tree.posterior.to_dataset())
        stats = tree.sample_stats
        print(f"{size} {setting}: sampling {seconds:.1f} s, min bulk ESS {ess:.0f}, "
              f"ESS/s {ess / seconds:.1f}, "
              f"{float(stats.n_steps.mean()):.0f} steps/draw, {int(stats.diverging.sum())} divergences",
              flush=True)


if __name__ == "__main__":
    main()
