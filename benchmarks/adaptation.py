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
import warnings

from speed import data_for  # noqa: I001  (run from benchmarks/)

import bayes_scaling as bs

NUTPIE_TARGET_ACCEPT = 0.8


def main() -> None:
    warnings.simplefilter("ignore")
    size, settings = sys.argv[1], sys.argv[2:]
    runs = data_for(size)
    for setting in settings:
        adaptation, tune, draws = setting.split(":")
        # fit() reuses its compiled model after the first setting; the diagnostics say how
        # much of the time was compiling, and that part is left out
        d = bs.fit(
            runs,
            draws=int(draws),
            tune=int(tune),
            adaptation=adaptation,
            target_accept=NUTPIE_TARGET_ACCEPT,
            progress=False,
            warn=False,
        ).diagnostics
        seconds = d.seconds - d.compile_seconds
        print(
            f"{size} {setting}: sampling {seconds:.1f} s, min bulk ESS {d.min_ess_bulk:.0f}, "
            f"ESS/s {d.min_ess_bulk / seconds:.1f}, "
            f"{d.mean_steps_per_draw:.0f} steps/draw, {d.divergences} divergences",
            flush=True,
        )


if __name__ == "__main__":
    main()
