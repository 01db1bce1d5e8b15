"""Stacking laws by their PSIS-LOO weights, scored past the data (issue 27).

    .venv/bin/python benchmarks/stacking.py [--only mikami2021 alabdulmohsin2022] [--seed 0]

Where several laws fit a table, their predictions can be mixed in proportion to their
stacking weights (arviz-stats' ``compare``, as ``bs.compare_fits`` returns them: the weights
that maximise the leave-one-out log score of the mixture). Each case refits every candidate
law without the table's far end (``bs.backtest``, the same hold-out as
``benchmarks/misfit.py``), takes the stacking weights of those refits (their in-sample LOO,
the only evidence a user has), and scores on the held-out runs the 90% bands of new runs of
each law alone and of the mixture (each posterior sample drawn from one law, chosen with the
weights' probabilities). The bands include each law's learned misfit.

Candidates are the development tables where more than one law in the catalogue fits:
mikami2021 (error rates: the error-rate spec, and the same under a ceiling of 1) and
alabdulmohsin2022's ViT/B/16 table (its few-shot spec under the ceiling, and the error-rate
spec without it).
"""

import argparse
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from misfit import alabdulmohsin2022, mikami2021  # noqa: I001  (run from benchmarks/)

import bayes_scaling as bs
from bayes_scaling.predict import predict

# transfer_gap_error_rate under the ceiling, with few_shot_error_rate's sharpness prior
# (the one-off spec measured in RESULTS, "The ceiling on mikami2021")
ERROR_RATE_CEILING = """
extends = "transfer_gap_error_rate"
law = "transfer_gap_ceiling"
description = "transfer_gap_error_rate under a ceiling of 1 (benchmark only)"

[parameters.sharpness]
pooling = "shared"
why = "How abruptly error rates leave chance."
prior = { dist = "Normal", mu = 0.7, sigma = 0.7 }
"""


def cases(only: list[str], ceiling_spec: Path):
    """(table, loader, {law name: spec}, hold-out) for each case."""
    if "mikami2021" in only:
        laws = {"error rate": "transfer_gap_error_rate", "error rate, ceiling": ceiling_spec}
        yield "mikami2021", mikami2021, laws, {"holdout_largest": ("pretrain_tokens", 0.34)}
        yield "mikami2021", mikami2021, laws, {"holdout_largest": ("finetune_tokens", 0.5)}
    if "alabdulmohsin2022" in only:
        laws = {"few-shot, ceiling": "few_shot_error_rate", "error rate": "transfer_gap_error_rate"}
        yield "alabdulmohsin2022", alabdulmohsin2022, laws, {"holdout_largest": ("pretrain_tokens", 0.3)}


def score(draws: np.ndarray, observed: np.ndarray) -> dict[str, float]:
    """90% coverage, median relative width and median |log error| of the median."""
    lower, median, upper = np.quantile(draws, [0.05, 0.5, 0.95], axis=0)
    return {
        "cover90": float(np.mean((observed >= lower) & (observed <= upper))),
        "width": float(np.median((upper - lower) / median)),
        "error": float(np.median(np.abs(np.log(observed / median)))),
    }


def mixture(draws: dict[str, np.ndarray], weights: pd.Series, rng: np.random.Generator) -> np.ndarray:
    """Each sample of the mixture from one law, chosen with the weights' probabilities."""
    names = list(draws)
    samples = min(d.shape[0] for d in draws.values())
    chosen = rng.choice(len(names), size=samples, p=weights[names].to_numpy() / weights[names].sum())
    stacked = np.stack([draws[name][:samples] for name in names])  # (law, sample, run)
    return stacked[chosen, np.arange(samples)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", nargs="*", default=["mikami2021", "alabdulmohsin2022"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    warnings.simplefilter("ignore", bs.SamplingWarning)
    warnings.simplefilter("ignore", bs.LooWarning)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        ceiling_spec = Path(folder) / "error_rate_ceiling.toml"
        ceiling_spec.write_text(ERROR_RATE_CEILING)
        for table, load, laws, holdout in cases(args.only, ceiling_spec):
            runs = load()
            results = {
                name: bs.backtest(runs, spec, seed=args.seed, **holdout) for name, spec in laws.items()
            }
            comparison = bs.compare_fits({name: result.fit for name, result in results.items()})
            weights = comparison["weight"].astype(float)
            first = next(iter(results.values()))
            heldout, label = first.runs, first.holdout
            for result in results.values():  # the laws predict the same runs
                assert result.runs[["distribution", "loss"]].equals(heldout[["distribution", "loss"]])
            observed = heldout["loss"].to_numpy()
            draws = {
                name: predict(result.fit, heldout, seed=args.seed)["loss_observed"].values
                for name, result in results.items()
            }
            for name, result in results.items():
                diagnostics = result.fit.diagnostics
                rows.append(
                    {
                        "table": table,
                        "held_out": label,
                        "law": name,
                        "weight": weights[name],
                        "elpd_loo": float(comparison.loc[name, "elpd"]),
                        "elpd_diff": float(comparison.loc[name, "elpd_diff"]),
                        "dse": float(comparison.loc[name, "dse"]),
                        **score(draws[name], observed),
                        "divergences": diagnostics.divergences,
                        "rhat": diagnostics.max_rhat,
                    }
                )
            stacked = mixture(draws, weights, np.random.default_rng(args.seed))
            rows.append(
                {
                    "table": table,
                    "held_out": label,
                    "law": "stacked",
                    "weight": 1.0,
                    **score(stacked, observed),
                }
            )
            print(
                pd.DataFrame(rows[-len(laws) - 1 :]).to_string(
                    index=False, float_format=lambda v: f"{v:.3f}"
                ),
                flush=True,
            )
    print()
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
