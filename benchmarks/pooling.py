"""Compare pooling/parameterisation variants of the transfer-gap spec on simulated data.

This is how the defaults in models/transfer_gap.toml were chosen. Prints, per variant:
compile and sampling seconds, leapfrog steps per draw, tree depth, divergences, and the
parameter with the lowest bulk ESS.

    .venv/bin/python benchmarks/pooling.py [--seed 1] [--adaptation diag|low_rank]
"""

import argparse
import time

import arviz_stats as azs
import nutpie

from bayes_scaling.data import validate_runs
from bayes_scaling.engine import ADAPTATIONS
from bayes_scaling.model import build_model
from bayes_scaling.simulate import DEFAULT_GRID, draw_truth, simulate_runs
from bayes_scaling.spec import load_spec, spec_from_dict

INDEPENDENT_BETA = {"pooling": "independent", "prior": {"dist": "Normal", "mu": -1.2, "sigma": 0.6}}
HIERARCHICAL_BETA = {
    "pooling": "hierarchical",
    "mu": {"dist": "Normal", "mu": -1.2, "sigma": 0.6},
    "tau": {"dist": "HalfNormal", "sigma": 0.3},
}
VARIANTS = {
    "all hierarchical, non-centred": {k: {"centred": False} for k in "EAG"} | {"beta": HIERARCHICAL_BETA},
    "E, A, beta, G centred": {k: {"centred": True} for k in "EAG"}
    | {"beta": HIERARCHICAL_BETA | {"centred": True}},
    "E, A centred; beta independent": {k: {"centred": True} for k in "EA"}
    | {"G": {"centred": False}, "beta": INDEPENDENT_BETA},
    "E, A, G centred; beta independent (default)": {},
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--adaptation", choices=ADAPTATIONS, default="diag")
    args = parser.parse_args()
    truth = draw_truth(8, seed=args.seed)
    runs = validate_runs(simulate_runs(truth, DEFAULT_GRID, runs_per_distribution=25, seed=2))
    base = load_spec("transfer_gap").to_dict()
    print(f"{'variant':<46} {'compile':>8} {'sample':>7} {'steps':>6} {'depth':>6} {'div':>4}  min ESS")
    for name, change in VARIANTS.items():
        params = {k: v | change.get(k, {}) for k, v in base["parameters"].items()}
        spec = spec_from_dict(base | {"parameters": params})
        start = time.perf_counter()
        compiled = nutpie.compile_pymc_model(build_model(spec, runs), backend="numba")
        compiled_at = time.perf_counter()
        tree = nutpie.sample(
            compiled,
            draws=1000,
            tune=1000,
            chains=4,
            cores=2,
            seed=1,
            progress_bar=False,
            adaptation=args.adaptation,
            target_accept=0.95,
        )
        sampled_at = time.perf_counter()
        stats = tree.sample_stats.to_dataset()
        post = tree.posterior.to_dataset()
        post = post[[v for v in post.data_vars if not v.endswith("_z")]]
        ess = {k: float(v.min()) for k, v in azs.ess(post).data_vars.items()}
        worst = min(ess, key=ess.get)
        print(
            f"{name:<46} {compiled_at - start:8.1f} {sampled_at - compiled_at:7.1f} "
            f"{float(stats['n_steps'].mean()):6.0f} {float(stats['depth'].mean()):6.1f} "
            f"{int(stats['diverging'].sum()):4d}  {ess[worst]:.0f} ({worst})"
        )


if __name__ == "__main__":
    main()
