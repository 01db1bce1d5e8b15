"""Sampling health of the example's default fit across seeds, for sampler settings.

    .venv/bin/python benchmarks/seeds.py [--seeds 8] [--settings diag:0.95 low_rank:0.9]

Prints, per setting (adaptation:target_accept) and seed: divergences, max r_hat, min bulk
ESS. Health varies from seed to seed, so settings are compared over several.
"""

from __future__ import annotations

import argparse
import warnings

import bayes_scaling as bs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--settings", nargs="+", default=["diag:0.95", "diag:0.9", "low_rank:0.9"])
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    runs = bs.load_example()
    for setting in args.settings:
        adaptation, target = setting.split(":")
        rows = []
        for seed in range(args.seeds):
            d = bs.fit(
                runs,
                seed=seed,
                adaptation=adaptation,
                target_accept=float(target),
                progress=False,
                warn=False,
            ).diagnostics
            rows.append(f"{d.divergences}/{d.max_rhat:.3f}/{d.min_ess_bulk:.0f}")
        print(f"{setting}: divergences/max r_hat/min bulk ESS by seed: {' '.join(rows)}", flush=True)


if __name__ == "__main__":
    main()
