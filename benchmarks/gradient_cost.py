"""Cost of one log-density gradient: bayes-scaling's model (a) against the hand-written one (b).

    .venv/bin/python benchmarks/gradient_cost.py [--sizes example 16 64]
        [--coordinates parameters reference_loss] [--gathered-logs]

Wall time per draw is leapfrog steps per draw x cost per gradient; speed.py reports the
first, this the second: one core, at the origin of the unconstrained space, called from
Python (both columns include the same few µs of call overhead). ``--gathered-logs`` times
instead (a) against itself without ``model._gathered_logs`` (each run logging exp(log theta)
again), the two graphs called in turn so that a busy machine slows both alike.
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
import bayes_scaling.model as model_module
from bayes_scaling.model import build_model


def gradient_function(model):
    """The compiled log density + gradient (numba) and the point it is timed at."""
    compiled = nutpie.compile_pymc_model(model, backend="numba")
    function = compiled.logp_func
    function.trust_input = True  # skip input checks: closer to what the sampler pays
    point = np.zeros(compiled.n_dim)  # unconstrained space: every positive parameter at 1
    function(point)
    return function, point


def microseconds_per_gradient(*models, evals: int, repeats: int = 5) -> list[float]:
    """Median over repeats of the time of one call of each model's gradient, called in turn."""
    functions = [gradient_function(model) for model in models]
    times = [[] for _ in models]
    for _ in range(repeats):
        for (function, point), taken in zip(functions, times, strict=True):
            start = time.perf_counter()
            for _ in range(evals):
                function(point)
            taken.append((time.perf_counter() - start) / evals)
    return [1e6 * float(np.median(taken)) for taken in times]


def compare_gathered_logs(sizes: list[str], coordinates: list[str], evals: int) -> None:
    spec = bs.load_spec("transfer_gap")
    print("| data | runs | coordinates | µs per gradient: log of gathered exp | gathered log | ratio |")
    print("| --- | --- | --- | --- | --- | --- |")
    gathered = model_module._gathered_logs
    for size in sizes:
        runs = bs.validate_runs(data_for(size))
        for name in coordinates:
            ours_spec = dataclasses.replace(spec, coordinates=name)
            new = build_model(ours_spec, runs, weighted=True)
            model_module._gathered_logs = lambda log_loss: log_loss
            try:
                old = build_model(ours_spec, runs, weighted=True)
            finally:
                model_module._gathered_logs = gathered
            old_time, new_time = microseconds_per_gradient(old, new, evals=evals, repeats=7)
            ratio = new_time / old_time
            cells = f"{size} | {runs.n_runs} | {name} | {old_time:.1f} | {new_time:.1f} | {ratio:.3f}"
            print(f"| {cells} |", flush=True)


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
    parser.add_argument("--gathered-logs", action="store_true", help="time (a) with and without them")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    if args.gathered_logs:
        compare_gathered_logs(args.sizes, args.coordinates, evals=min(args.evals, 300))
        return
    spec = bs.load_spec("transfer_gap")
    print("| data | runs | (a) coordinates | (a) µs per gradient | (b) µs per gradient | a / b |")
    print("| --- | --- | --- | --- | --- | --- |")
    for size in args.sizes:
        runs = data_for(size)
        (theirs,) = microseconds_per_gradient(handwritten_model(runs), evals=args.evals)
        for coordinates in args.coordinates:
            ours_spec = dataclasses.replace(spec, coordinates=coordinates)
            (ours,) = microseconds_per_gradient(
                build_model(ours_spec, bs.validate_runs(runs)), evals=args.evals
            )
            cells = f"{size} | {len(runs)} | {coordinates} | {ours:.1f} | {theirs:.1f} | {ours / theirs:.2f}"
            print(f"| {cells} |", flush=True)


if __name__ == "__main__":
    main()
