"""Write the tutorial notebooks from the cells below, then run them in full mode so that
the committed notebooks carry real outputs.

    .venv/bin/python scripts/build_notebooks.py            # write and execute all
    .venv/bin/python scripts/build_notebooks.py --no-run   # write only

The test suite re-executes them with BAYES_SCALING_FAST=1 (fewer draws) through nbmake.
"""

import argparse
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1] / "notebooks"

SETUP = """\
import os
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import bayes_scaling as bs

# The test suite sets BAYES_SCALING_FAST=1 to re-run every notebook quickly.
FAST = os.environ.get("BAYES_SCALING_FAST") == "1"
SAMPLING = {"draws": 200, "tune": 200, "chains": 2} if FAST else {"draws": 1000, "tune": 1000, "chains": 4}
warnings.simplefilter("ignore", bs.SamplingWarning) if FAST else None
pd.set_option("display.precision", 3)"""

NOTEBOOKS = {
    "01_fit_transfer_gap.ipynb": [
        (
            "md",
            """# 1. Fitting the transfer gap

**Question:** for each downstream distribution, how large is the transfer gap G, and how sure
are we? We fit the transfer-gap law

$$L(p, f) = E + (A\\,p^{-\\alpha} + G)\\,f^{-\\beta}$$

to the embedded example: **synthetic** runs of 8 distributions (see
`scripts/make_example_data.py`), pre-training p from 1e8 to 1e11 tokens and fine-tuning f from
1e5 to 1e8 tokens.""",
        ),
        ("code", SETUP),
        ("md", "The run table has one row per evaluated run. Extra columns (here `run_id`) are kept."),
        (
            "code",
            """runs = bs.load_example()
runs.head()""",
        ),
        (
            "code",
            """runs.groupby("distribution").agg(runs=("loss", "size"), min_loss=("loss", "min"), max_loss=("loss", "max"))""",
        ),
        (
            "md",
            """## The model, and what it believes before the data

The shipped spec `models/transfer_gap.toml` partially pools E, A and G across distributions,
gives each its own beta and shares alpha; each choice has its reason written in the file.""",
        ),
        (
            "code",
            """spec = bs.load_spec("transfer_gap")
print(spec.describe())""",
        ),
        (
            "md",
            """Before fitting, check that the priors produce plausible loss curves: nearly all values
should lie between 0.1 and 20 nats/token, even far outside the data.""",
        ),
        (
            "code",
            """prior = bs.prior_predictive(runs, spec, draws=300)
inside = float(((prior.loss > 0.1) & (prior.loss < 20)).mean())
print(f"{inside:.1%} of prior predictive losses in 0.1-20 nats/token (100x beyond the data both sides)")
bs.prior_curve_plot(prior, x_input="pretrain_tokens");""",
        ),
        (
            "md",
            """## Fit

NUTS through nutpie; the model is compiled once (~8 s), then all chains run.""",
        ),
        (
            "code",
            """fit = bs.fit(runs, spec, seed=1, progress=False, **SAMPLING)
print(fit.diagnostics)""",
        ),
        (
            "md",
            """Diagnostics come with the fit: r_hat near 1, bulk ESS over 400, no divergences. Any
problem would have been raised as a `SamplingWarning` saying what to try.""",
        ),
        ("md", "## Credible intervals of the transfer gap"),
        (
            "code",
            """gaps = bs.gap_table(fit, prob=0.9)
truth = bs.example_truth()[["distribution", "G"]].rename(columns={"G": "true G"})
gaps.merge(truth, on="distribution")""",
        ),
        (
            "code",
            """bs.forest_plot(gaps.merge(truth.rename(columns={"true G": "truth"}), on="distribution"),
               label="transfer gap G (f in tokens)");""",
        ),
        (
            "md",
            """## What the gaps mean

With unlimited pre-training the loss tends to the floor E + G f^-beta. The derived table
gives that floor at today's fine-tuning data, next to today's loss: where they are close,
more pre-training cannot help much and fine-tuning data is the lever.""",
        ),
        (
            "code",
            """state = runs.groupby("distribution", sort=False)[["pretrain_tokens", "finetune_tokens"]].max().reset_index()
derived = bs.derived_table(fit, state)
today = bs.prediction_table(fit, state)
pd.DataFrame({
    "distribution": state.distribution,
    "loss now": today.loss_median,
    "floor with unlimited pre-training": derived.loss_floor_median,
    "pre-training tokens worth one fine-tuning token": derived.exchange_rate_median,
})""",
        ),
        (
            "md",
            """Distributions with a large gap (poetry, low-resource language) sit close to their floor:
their loss falls only with fine-tuning data. For code or wiki text, more pre-training still
pays. The fitted curves, with the region past the data in grey:""",
        ),
        ("code", """bs.curve_plot(fit);"""),
    ],
    "02_extrapolation.ipynb": [
        (
            "md",
            """# 2. Extrapolation: how far can we trust the curves?

**Question:** if we fit small runs, do the credible bands cover the large runs we have not
used? We hold out every run with pre-training of 3e10 tokens or more, fit the rest, and
predict the held-out runs.""",
        ),
        ("code", SETUP),
        (
            "code",
            """runs = bs.load_example()
small, large = runs[runs.pretrain_tokens < 3e10], runs[runs.pretrain_tokens >= 3e10]
print(f"fit on {len(small)} runs, hold out {len(large)} larger ones")
fit = bs.fit(small, seed=2, progress=False, **SAMPLING)
print(fit.diagnostics)""",
        ),
        (
            "md",
            """Bands for a *new run* (with observation noise), since held-out runs are measured with
noise too. The `extrapolation` column flags inputs past a distribution's fitted runs.""",
        ),
        (
            "code",
            """pred = bs.prediction_table(fit, large, kind="observation", prob=0.9)
covered = (pred.loss >= pred.loss_lower) & (pred.loss <= pred.loss_upper)
print(f"90% bands cover {covered.mean():.0%} of held-out runs; "
      f"median relative error of the median {np.median(np.abs(pred.loss_median / pred.loss - 1)):.1%}")
pred[["distribution", "pretrain_tokens", "finetune_tokens", "loss", "loss_lower", "loss_upper", "extrapolation"]].head(8)""",
        ),
        (
            "code",
            """fig, ax = plt.subplots(figsize=(5, 4.5))
ax.errorbar(pred.loss_median, pred.loss, xerr=[pred.loss_median - pred.loss_lower, pred.loss_upper - pred.loss_median],
            fmt="o", ms=3, alpha=0.6)
ax.plot([1, 5], [1, 5], color="0.5", lw=0.8)
ax.set(xscale="log", yscale="log", xlabel="predicted loss, held-out run (nats/token)",
       ylabel="observed loss (nats/token)", title="Held-out larger runs against 90% bands");""",
        ),
        (
            "md",
            """## A distribution we have not measured

Leave one distribution out, fit the others, and predict it from the fitted population (the
hierarchy): its bands are wider than a fitted distribution's, as they should be.""",
        ),
        (
            "code",
            """held = "legal"
fit_without = bs.fit(runs[runs.distribution != held], seed=3, progress=False, **SAMPLING)
legal_runs = runs[runs.distribution == held]
new = bs.prediction_table(fit_without, legal_runs.drop(columns="distribution"), new_distribution=True, kind="observation")
known = bs.prediction_table(fit, small[small.distribution == held], kind="observation")
print(f"new-distribution bands: median width {np.median(new.loss_upper - new.loss_lower):.2f} nats/token, "
      f"cover {((new.loss >= new.loss_lower) & (new.loss <= new.loss_upper)).mean():.0%} of its runs")
print(f"fitted-distribution bands: median width {np.median(known.loss_upper - known.loss_lower):.3f} nats/token")""",
        ),
        (
            "md",
            """With a few of its own runs, refit with them included: partial pooling shrinks the new
distribution toward the population while its runs pull it toward its own values.""",
        ),
        (
            "code",
            """few = legal_runs.sort_values("pretrain_tokens").head(4)
fit_few = bs.fit(pd.concat([runs[runs.distribution != held], few]), seed=4, progress=False, **SAMPLING)
bs.gap_table(fit_few).query("distribution == @held")""",
        ),
        (
            "md",
            """## Which law?

The rectified law ignores pre-training; on runs that vary pre-training it should lose
clearly to the transfer-gap law. PSIS-LOO says by how much (elpd_diff against its standard
error dse); a warning flags runs where LOO is unreliable (the simulated diverged runs).""",
        ),
        (
            "code",
            """rectified = bs.fit(runs, "rectified", seed=5, progress=False, **SAMPLING)
transfer = bs.fit(runs, "transfer_gap", seed=5, progress=False, **SAMPLING)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", bs.LooWarning)
    table = bs.compare_fits({"transfer_gap": transfer, "rectified": rectified})
table[["law", "rank", "elpd", "elpd_diff", "dse", "weight", "n_high_pareto_k"]]""",
        ),
    ],
    "03_deciding.ipynb": [
        (
            "md",
            """# 3. Deciding where the next tokens go

**Question:** with a budget to spend, should it buy pre-training tokens or fine-tuning data,
and for which distribution? Decisions use the posterior draws directly: every action is
evaluated under every draw.""",
        ),
        ("code", SETUP),
        (
            "code",
            """fit = bs.fit(bs.load_example(), seed=1, progress=False, **SAMPLING)
bs.gap_table(fit)""",
        ),
        (
            "md",
            """## Rank candidate actions

Each action adds tokens to one distribution's current state (its largest runs). Prices: a
fine-tuning token costs 1000x a pre-training token.""",
        ),
        (
            "code",
            """actions = pd.DataFrame({
    "action": ["pretrain 10x (code)", "finetune 10x (code)", "pretrain 10x (poetry)", "finetune 10x (poetry)",
               "finetune 3x (legal)"],
    "distribution": ["code", "code", "poetry", "poetry", "legal"],
    "add_pretrain_tokens": [9e11, 0, 9e11, 0, 0],
    "add_finetune_tokens": [0, 9e8, 0, 9e8, 2e8],
})
ranking = bs.rank_actions(fit, actions, pretrain_price=1e-9, finetune_price=1e-6)
print(ranking.attrs["note"] or "decision is robust across draws")
ranking[["action", "cost", "expected_loss", "expected_reduction", "reduction_per_cost", "p_best", "expected_regret"]]""",
        ),
        ("code", """bs.ranking_plot(ranking);"""),
        (
            "md",
            """## Allocate a budget

Split 1000 (cost units) between pre-training and code fine-tuning data. The frontier shows
expected loss and its band for every split; EVPI says whether knowing the true parameters
would change the choice enough to be worth more experiments first.""",
        ),
        (
            "code",
            """alloc = bs.allocate(fit, budget=1000, pretrain_price=1e-10, finetune_price=1e-6, distributions=["code"])
print(f"spend {alloc.finetune_share['code']:.0%} on fine-tuning; expected loss {alloc.expected_loss:.4f}; "
      f"per-draw optima 5-95%: {np.quantile(alloc.draw_optima, [0.05, 0.95]).round(2)}; EVPI {alloc.evpi:.2g} nats/token")
bs.frontier_plot(alloc.frontier, alloc.finetune_share["code"]);""",
        ),
        (
            "md",
            "Across several distributions, pre-training serves all of them while fine-tuning data serves one:",
        ),
        (
            "code",
            """multi = bs.allocate(fit, budget=1000, pretrain_price=1e-10, finetune_price=1e-6,
                    distributions=["code", "legal", "poetry"])
multi.summary().assign(add_pretrain_tokens=multi.add_pretrain_tokens)""",
        ),
        (
            "md",
            """## Which experiment next?

For candidate runs, how much would each shrink the posterior sd of log G? Estimated by
simulating the run from the posterior and reweighting the draws (no refit); checked against
refits in `tests/test_slow_validation.py`.""",
        ),
        (
            "code",
            """candidates = pd.DataFrame({
    "distribution": ["low_resource_lang", "low_resource_lang", "code"],
    "pretrain_tokens": [1e11, 1e8, 1e11],
    "finetune_tokens": [1e5, 1e8, 1e5],
})
bs.experiment_value(fit, candidates, simulations=100)""",
        ),
    ],
    "04_your_own_data.ipynb": [
        (
            "md",
            """# 4. Bringing your own data

**Question:** how do I fit my runs, with my column names, and my own priors? A CSV with one
row per evaluated run is all that is needed.""",
        ),
        ("code", SETUP),
        ("md", "Your table may name columns differently; map them with `columns=`."),
        (
            "code",
            """mine = bs.load_example().rename(columns={"pretrain_tokens": "D_pt", "finetune_tokens": "D_ft", "loss": "val_loss"})
mapping = {"D_pt": "pretrain_tokens", "D_ft": "finetune_tokens", "val_loss": "loss"}
bs.validate_runs(mine, columns=mapping).table.head(3)""",
        ),
        ("md", "Bad rows are reported all at once, by row and column, before anything is fitted:"),
        (
            "code",
            """broken = mine.copy()
broken.loc[2, "val_loss"] = np.nan
broken.loc[5, "D_ft"] = 0
try:
    bs.validate_runs(broken, columns=mapping)
except bs.RunsValidationError as err:
    print(err)""",
        ),
        (
            "md",
            """## Editing a model spec

Copy a spec from `models/`, edit it, and pass its path. Here: a tighter prior on the gap's
population mean and a shared (not per-distribution) beta.""",
        ),
        (
            "code",
            """import tempfile
from pathlib import Path

from bayes_scaling.spec import models_dir

text = (models_dir() / "transfer_gap.toml").read_text()
text = text.replace('pooling = "independent"', 'pooling = "shared"')
text = text.replace('mu = { dist = "Normal", mu = -2.0, sigma = 2.0 }', 'mu = { dist = "Normal", mu = -1.0, sigma = 1.0 }')
path = Path(tempfile.mkdtemp()) / "my_transfer_gap.toml"
path.write_text(text)
spec = bs.load_spec(path)
print(spec.describe())""",
        ),
        (
            "code",
            """fit = bs.fit(mine, spec, columns=mapping, seed=1, progress=False, **SAMPLING)
print(fit.diagnostics)
bs.gap_table(fit)""",
        ),
        ("md", "Save the fit to one file and load it later, or from the CLI (`bayes-scaling gaps fit.nc`):"),
        (
            "code",
            """out = Path(tempfile.mkdtemp()) / "fit.nc"
fit.save(out)
bs.load_fit(out).gap_table().equals(fit.gap_table())""",
        ),
    ],
}


def build(name: str, cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell(src) if kind == "md" else nbformat.v4.new_code_cell(src)
        for kind, src in cells
    ]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-run", action="store_true")
    parser.add_argument("names", nargs="*")
    args = parser.parse_args()
    ROOT.mkdir(exist_ok=True)
    for name, cells in NOTEBOOKS.items():
        if args.names and name not in args.names:
            continue
        notebook = build(name, cells)
        if not args.no_run:
            NotebookClient(notebook, timeout=900, resources={"metadata": {"path": str(ROOT)}}).execute()
        nbformat.write(notebook, ROOT / name)
        print(f"wrote {ROOT / name}")


if __name__ == "__main__":
    main()
