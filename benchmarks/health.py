"""Sampling health and speed of the default fit on real and simulated tables, across seeds.

    .venv/bin/python benchmarks/health.py [--data example mikami2021 chinchilla flan gigaword]
        [--seeds 8] [--centring pilot spec] [--target-accept 0.95 0.9] [--tune 1000 300]
        [--adaptation diag low_rank] [--draws 1000 2000] [--model SPEC]
        [--coordinates parameters|reference_loss]

For each data set, each way of choosing how hierarchical parameters are centred (``pilot``: the default,
partial centring per distribution from a pilot run; ``spec``: the spec's centred flags) and
each seed: divergences, max r_hat, min bulk ESS (and where), leapfrog steps per draw, wall
seconds of the fit including compilation and the pilot, and how much of it was compiling.
All fits of one data set run in one process, so the first compiles and the rest reuse the
compiled model (the "cold" and "reused" of issue 14). The leave-future-out refits are
turned off ([discrepancy] method = "none") so that sampling alone is measured.

Data: ``example`` (shipped), ``mikami2021`` (shipped), ``chinchilla`` (200 simulated runs of
one distribution from the Chinchilla law, params 5.7e7-1.3e10, tokens 2.5e8-1.4e11, 2% noise),
``sim4`` ... ``sim256`` (that many simulated transfer-gap distributions, as in speed.py)
``flan`` / ``gigaword``: the rectified law on the 30 fine-tuning curves of
../shared/data/lin2024 (no licence: read in place, never copied; skipped when absent);
``porian2024`` and ``alabdulmohsin2022`` as ``benchmarks/misfit.py`` reads them.

Each line also gives the pilot's smallest bulk ESS per draw kept (over the variables the
diagnostics judge), what the run's choice of draws can be read from.

``--misfit``: the fits as the package makes them by default, the spec's [discrepancy] kept
(its leave-future-out refits and the corpus prior), each beside the same fit with method
"none" (the law alone) in the same process, to check issue 41's "a fit takes at most 1.5x
the law-only time" and the refits' own health: the refits' divergences, and the time
ratio with compiling left out (``ratio_warm``) and with one compilation counted in both
(``ratio_cold``: what a first fit in a fresh process pays; the compilation is the table's
first fit's, none where a table before it in the same process compiled the same model, so
run a table first, or alone, to read it).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import time
import warnings

import numpy as np
import pandas as pd
from arviz_stats import ess
from backtest_real import LIN2024, lin2024_runs  # noqa: I001  (run from benchmarks/)
from results import record

import bayes_scaling as bs
from bayes_scaling.diagnostics import reported_variables
from bayes_scaling.inference.compiled import DEFAULT_CACHE, ModelCache
from bayes_scaling.inference.settings import SamplingPolicy
from bayes_scaling.simulate import simulate_runs

PILOT_ESS_PER_DRAW: list[float] = []  # the last pilot's smallest bulk ESS per draw kept


SAMPLING_CALLS: list[tuple[int, int]] = []  # (draws, divergences) of each sampling call


def note_pilot(model, config, draws, trees) -> None:
    """Note each pilot's smallest bulk ESS per draw kept (the pilot runs the policy's pilot
    chains, one run at a time), and each sampling call's draws and divergences."""
    SAMPLING_CALLS.append((draws, sum(int(t.sample_stats["diverging"].sum()) for t in trees)))
    if config.chains == SamplingPolicy().pilot_chains and len(trees) == 1:
        posterior = trees[0].posterior.to_dataset()
        posterior = posterior[reported_variables(posterior, model.spec)]
        kept = posterior.sizes["chain"] * posterior.sizes["draw"]
        PILOT_ESS_PER_DRAW.append(min(float(v.min()) for v in ess(posterior, method="bulk").values()) / kept)


CACHE = ModelCache(lend_from=DEFAULT_CACHE, on_sample=note_pilot)


MODELS = {"example": "transfer_gap", "mikami2021": "transfer_gap_error_rate", "chinchilla": "chinchilla"}
MODELS |= {"porian2024": "chinchilla", "alabdulmohsin2022": "few_shot_error_rate"}
MODELS |= {f"sim{n}": "transfer_gap" for n in (4, 16, 32, 48, 56, 64, 128, 256)}


def chinchilla_runs() -> pd.DataFrame:
    truth = pd.DataFrame(
        [{"distribution": "chinchilla", "E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}]
    )
    grid = {"params": np.geomspace(5.7e7, 1.3e10, 20), "pretrain_tokens": np.geomspace(2.5e8, 1.4e11, 20)}
    return simulate_runs(truth, grid, law="chinchilla", runs_per_distribution=200, noise=0.02, seed=0)


def runs_for(name: str) -> pd.DataFrame | None:
    if name == "example":
        return bs.load_dataset("example")
    if name == "mikami2021":
        return bs.load_dataset(name)
    if name == "chinchilla":
        return chinchilla_runs()
    if name in ("porian2024", "alabdulmohsin2022"):  # as benchmarks/misfit.py reads them
        import misfit

        try:
            return getattr(misfit, name)()
        except (FileNotFoundError, bs.BayesScalingError):
            return None
    if name.startswith("sim"):  # simulated transfer-gap distributions, as benchmarks/speed.py makes them
        from speed import data_for

        return data_for(name.removeprefix("sim"))
    return lin2024_runs(name) if (LIN2024 / f"{name}.csv").is_file() else None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--data", nargs="+", default=["example", "mikami2021", "chinchilla", "flan", "gigaword"]
    )
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--centring", nargs="+", default=["pilot"])
    parser.add_argument(
        "--target-accept",
        type=float,
        nargs="+",
        default=[None],
        help="default: the fit's (chosen by the pilot)",
    )
    parser.add_argument(
        "--tune", type=int, nargs="+", default=[None], help="tuning draws per chain (default: the fit's)"
    )
    parser.add_argument(
        "--draws", type=int, nargs="+", default=[None], help="draws per chain kept (default: the fit's)"
    )
    parser.add_argument("--model", help="a spec name or .toml path instead of the data set's own")
    parser.add_argument("--adaptation", nargs="+", default=["diag"], choices=["diag", "low_rank"])
    parser.add_argument(
        "--coordinates", choices=["parameters", "reference_loss"], help="override the spec's coordinates"
    )
    parser.add_argument(
        "--misfit", action="store_true", help="the default fit (its misfit learned) beside the law-only one"
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    if args.misfit:
        return with_misfit(args)
    for label, runs, _, spec in tables(args):
        if args.coordinates:
            spec = dataclasses.replace(spec, coordinates=args.coordinates)
        for centring, target, adaptation, tune, draws in itertools.product(
            args.centring, args.target_accept, args.adaptation, args.tune, args.draws
        ):
            for seed in range(args.seeds):
                start = time.perf_counter()
                PILOT_ESS_PER_DRAW.clear()
                fit = bs.fit(
                    runs,
                    spec,
                    seed=seed,
                    centring_from=centring,
                    target_accept=target,
                    adaptation=adaptation,
                    tune=tune,
                    draws=draws,
                    progress=False,
                    warn=False,
                    cache=CACHE,
                )
                wall = time.perf_counter() - start
                d = fit.diagnostics
                health = (
                    f"{d.divergences} divergences, max r_hat {d.max_rhat:.3f} ({d.worst_rhat_parameter}), "
                    f"min bulk ESS {d.min_ess_bulk:.0f} ({d.worst_ess_parameter})"
                )
                speed = f"{d.mean_steps_per_draw:.0f} steps/draw, {wall:.1f} s wall"
                speed += f" ({d.min_ess_bulk / wall:.1f} min ESS/s)"
                speed += f" ({d.compile_seconds:.1f} s compiling; sampled in {fit.spec.coordinates})"
                chosen = f"{d.target_accept}" + ("" if target is not None else " (pilot's)")
                setting = f"{label} {centring} target {chosen} {adaptation} tune {d.tune} draws {d.draws}"
                setting += f" seed {seed}"
                if d.rerun:
                    health += f" ({d.rerun})"
                if PILOT_ESS_PER_DRAW:
                    health += f", pilot's min ESS per draw {PILOT_ESS_PER_DRAW[-1]:.3f}"
                print(f"{setting}: {health}, {speed}", flush=True)
                record(
                    "health", case=setting,
                    figures={
                        "divergences": d.divergences, "max_rhat": d.max_rhat, "min_ess_bulk": d.min_ess_bulk,
                        "steps_per_draw": d.mean_steps_per_draw, "wall_seconds": wall,
                        "compile_seconds": d.compile_seconds,
                        "coordinates": fit.spec.coordinates,
                    },
                )  # fmt: skip


def tables(args):
    """(label, runs, the spec, the spec without its misfit) of each table asked for; the
    label names the spec where ``--model`` chose it."""
    for name in args.data:
        runs = runs_for(name)
        if runs is None:
            print(f"{name}: skipped, its table is absent (lin2024 has no licence and is not shipped)")
            continue
        spec = bs.load_spec(args.model or MODELS.get(name, "rectified"))
        yield (
            f"{name} ({args.model})" if args.model else name,
            runs,
            spec,
            dataclasses.replace(spec, discrepancy=dataclasses.replace(spec.discrepancy, method="none")),
        )


def with_misfit(args) -> None:
    """Each table and seed: the law-only fit, then the default fit (see the docstring)."""
    for label, runs, spec, law_only in tables(args):
        compiled = 0.0
        for seed in range(args.seeds):
            walls, fits = {}, {}
            for kind, how in (("law only", law_only), ("default", spec)):
                SAMPLING_CALLS.clear()
                start = time.perf_counter()
                fits[kind] = bs.fit(runs, how, seed=seed, progress=False, warn=False, cache=CACHE)
                walls[kind] = time.perf_counter() - start
                compiled = max(compiled, fits[kind].diagnostics.compile_seconds)
            d = fits["default"].diagnostics
            # SAMPLING_CALLS now holds the default fit's calls: pilot, fit (and any rerun), then
            # the refits, which sample fewer draws than the fit ([discrepancy] draws = 300)
            main_fit = max(i for i, (draws, _) in enumerate(SAMPLING_CALLS) if draws == d.draws)
            refit_divergences = sum(divergences for _, divergences in SAMPLING_CALLS[main_fit + 1 :])
            warm = {k: walls[k] - fits[k].diagnostics.compile_seconds for k in walls}
            figures = {
                "divergences": d.divergences, "max_rhat": d.max_rhat, "min_ess_bulk": d.min_ess_bulk,
                "refit_divergences": refit_divergences,
                "law_only_divergences": fits["law only"].diagnostics.divergences,
                "law_only_max_rhat": fits["law only"].diagnostics.max_rhat,
                "seconds": walls["default"], "law_only_seconds": walls["law only"],
                "ratio_warm": warm["default"] / warm["law only"],
                "ratio_cold": (warm["default"] + compiled) / (warm["law only"] + compiled),
            }  # fmt: skip
            case = f"{label} defaults seed {seed}"
            print(f"{case}: " + ", ".join(f"{k} {v:.4g}" for k, v in figures.items()), flush=True)
            record("health_misfit", case=case, figures=figures)


if __name__ == "__main__":
    main()
