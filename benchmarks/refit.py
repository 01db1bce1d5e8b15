"""Refits in one session, as a notebook user iterates on tables (issue 26).

    .venv/bin/python benchmarks/refit.py [--seed 0] [--exact]

In one fresh process, with the default fit (leave-future-out refits included):
1. the example (8 distributions, 164 runs);
2. a table of the same law with 6 of its distributions and 61 of their 144 runs (a random
   sample, seed 0);
3. a larger table: 12 simulated distributions (20 runs each, the example's law and grid);
4. that table less one distribution (11 distributions).
Prints each fit's wall time, the seconds of it spent compiling, its distribution bucket, and its
health, and the ratio of the second fit's time to the first's. ``--exact`` turns the
padding off (each number of distributions compiles its own model), for the same fits
side by side.
"""

from __future__ import annotations

import argparse
import time
import warnings

import bayes_scaling as bs
from bayes_scaling import engine
from bayes_scaling.simulate import DEFAULT_GRID, draw_truth, simulate_runs


def tables() -> dict[str, object]:
    example = bs.load_example()
    six = example[example.distribution.isin(example.distribution.unique()[:6])]
    six = six.sample(n=61, random_state=0).sort_index()
    twelve = simulate_runs(draw_truth(12, seed=12), DEFAULT_GRID, runs_per_distribution=20, seed=12)
    eleven = twelve[twelve.distribution != twelve.distribution.iloc[0]]
    return {"example": example, "six of it": six, "12 simulated": twelve, "11 of them": eleven}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--exact", action="store_true", help="no padding: one model per number of distributions"
    )
    args = parser.parse_args()
    if args.exact:
        engine.padded_distributions = lambda n: n
    first = None
    print(
        "| table | distributions | runs | bucket | wall s | compiling s | divergences | max r_hat | steps |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for label, table in tables().items():
        runs = bs.validate_runs(table)
        bucket = engine.padded_distributions(len(runs.distributions))
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = bs.fit(table, seed=args.seed, progress=False)
        wall = time.perf_counter() - start
        first = first or wall
        d = fit.diagnostics
        print(
            f"| {label} | {len(runs.distributions)} | {runs.n_runs} | {bucket} "
            f"| {wall:.1f} ({wall / first:.0%}) | {d.compile_seconds:.1f} | {d.divergences} "
            f"| {d.max_rhat:.3f} | {d.mean_steps_per_draw:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
