"""Cost of one log-density gradient: bayes-scaling's model (a) against the hand-written one (b).

    .venv/bin/python benchmarks/gradient_cost.py [--sizes example 16 64]
        [--coordinates parameters reference_loss]

Wall time per draw is leapfrog steps per draw x cost per gradient; speed.py reports the
first, this the second: one core, at the origin of the unconstrained space, called from
Python (both columns include the same few µs of call overhead).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
import warnings

import numpy as np
import nutpie
from baselines import handwritten_model  # noqa: I001  (run from benchmarks/)
from speed import data_for

import bayes_scaling as bs
from bayes_scaling.model import build_model


def microseconds_per_gradient(model, evals: int) -> float:
    """Median over 5 repeats of the time of one log density + gradient call (numba)."""
    compiled = nutpie.compile_pymc_model(model, backend="numba")
    function = compiled.logp_func
    function.trust_input = True  # skip input checks: closer to what the sampler pays
    point = np.zeros(compiled.n_dim)  # unconstrained space: every positive parameter at 1
    function(point)
    repeats = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(evals):
            function(point)
        repeats.append((time.perf_counter() - start) / evals)
    return 1e6 * float(np.median(repeats))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", nargs="+", default=["example", "16", "64"])
    parser.add_argument("--evals", type=int, default=5000)
    parser.add_argument(
        "--coordinates",
        nargs="+",
        default=["parameters"],
        choices=["parameters", "reference_loss"],
        help="the coordinates of model (a); the pilot picks one or the other in a fit",
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    spec = bs.load_spec("transfer_gap")
    print("| data | runs | (a) coordinates | (a) µs per gradient | (b) µs per gradient | a / b |")
    print("| --- | --- | --- | --- | --- | --- |")
    for size in args.sizes:
        runs = data_for(size)
        theirs = microseconds_per_gradient(handwritten_model(runs), args.evals)
        for coordinates in args.coordinates:
            ours_spec = dataclasses.replace(spec, coordinates=coordinates)
            ours = microseconds_per_gradient(build_model(ours_spec, bs.validate_runs(runs)), args.evals)
            cells = f"{size} | {len(runs)} | {coordinates} | {ours:.1f} | {theirs:.1f} | {ours / theirs:.2f}"
            print(f"| {cells} |", flush=True)


if __name__ == "__main__":
    main()
