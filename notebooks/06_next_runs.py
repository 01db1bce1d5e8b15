# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---


# %% [markdown]
# # 6. Which runs next? Spending compute where the bands need it
#
# **Question:** we have trained some small models and want to predict the loss of much larger
# ones. Which runs should we pay for next, so that the bands at the large ones shrink fastest
# per unit of compute?
#
# The table is Farseer's pre-training runs as ScaleBench publishes them (`farseer`, MIT; fetched
# on first use, pinned and checked): 404 runs of model size N and tokens D, and 7 larger ones,
# the task's own test split, which play the target we want to predict. We pretend we have
# trained only the cheapest runs making up 1% of the compute (6ND) of the 404, and replay
# the rest as runs we could train: `bs.next_runs` asks which four are worth most per unit of
# compute, we "train" them (reveal their losses), refit, and ask again.
#
# The law: Farseer's runs have a data exponent that shrinks as models grow, which the
# Chinchilla law cannot follow (fitted to all 404 runs it over-predicts every larger one by
# 2-3.5%), so we fit `size_dependent_data`, L = E + A N^-alpha + B (D_c / D)^(beta N^-kappa).
# A choice of runs is only as good as the law's bands at the target.

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import bayes_scaling as bs
from bayes_scaling.design import default_cost, target_score

pd.set_option("display.precision", 3)
SAMPLING = {}  # run lengths: the defaults (the pilot chooses)
ROUNDS = 3
MODEL = "size_dependent_data"

# %% tags=["remove-cell"]
# Hidden in the docs: the test suite sets BAYES_SCALING_FAST=1 to run every notebook with short runs.
import os  # noqa: E402
import warnings  # noqa: E402

if os.environ.get("BAYES_SCALING_FAST") == "1":
    SAMPLING = {"draws": 100, "tune": 100, "chains": 2}
    ROUNDS = 1
    # the Chinchilla law, which the suite's other tests compile already (tests/conftest.py,
    # SHARED_MODELS): a third of a minute less; test_laws.py and the recovery test check the law
    MODEL = "chinchilla"
    warnings.simplefilter("ignore", bs.BayesScalingWarning)

# %%
runs = bs.load_dataset("farseer")
candidates = runs[runs.split == "train"].reset_index(drop=True)
target = runs[runs.split == "test"].reset_index(drop=True)
spec = bs.load_spec(MODEL)
compute = default_cost(spec.law, candidates)  # 6 N D
order = np.argsort(compute, kind="stable")
trained = list(order[np.cumsum(compute[order]) <= 0.01 * compute.sum()])
print(f"{len(trained)} runs trained, {compute[trained].sum() / compute.sum():.1%} of the compute; target:")
target[["params", "pretrain_tokens", "flops", "loss"]]

# %% [markdown]
# Fit the runs we have, and look at the bands at the target: the law's parameters and noise,
# and its misfit past the data, which grows with the distance from the runs (the prior of
# that growth was learned from a corpus of scaling studies, `fit.discrepancy` says which; this
# table's own split is one of them, so these bands are a demonstration, not a test: the
# benchmarks score each table under a prior learned from the others).

# %%
fit = bs.fit(candidates.iloc[trained], spec, seed=0, progress=False, **SAMPLING)
print(fit.discrepancy.describe())
grid = target[["distribution", "params", "pretrain_tokens"]]
bs.predict(fit, grid).pipe(bs.summary).assign(observed=target.loss.to_numpy())

# %% [markdown]
# Ask for the next four runs among those not trained. `value` is what each pick lowers the
# expected 90% interval score at the target by (on log loss; it counts both the width of the
# bands and how far they would miss), given the picks before it; `value_per_cost` divides it
# by the run's compute. No refit happens here: each candidate's loss is imagined from the
# posterior, and the posterior's draws are reweighted by it.

# %%
left = [i for i in range(len(candidates)) if i not in trained]
picks = bs.next_runs(fit, candidates.iloc[left], grid, k=4, seed=0)
picks[["params", "pretrain_tokens", "flops", "cost", "value", "value_per_cost"]]

# %% [markdown]
# Now train them (here: reveal their losses), refit, and repeat. The compiled model is reused,
# so each refit costs its sampling only. We keep the expected score at the target and the
# compute spent after each round.

# %%
history = [{"compute": compute[trained].sum() / compute.sum(), "score": target_score(fit, grid)}]
for _ in range(ROUNDS):
    left = [i for i in range(len(candidates)) if i not in trained]
    picks = bs.next_runs(fit, candidates.iloc[left], grid, k=4, seed=0)
    keys = set(zip(picks.params, picks.pretrain_tokens, strict=True))
    trained += [i for i in left if (candidates.params[i], candidates.pretrain_tokens[i]) in keys]
    fit = bs.fit(candidates.iloc[trained], spec, seed=0, progress=False, **SAMPLING)
    history.append({"compute": compute[trained].sum() / compute.sum(), "score": target_score(fit, grid)})
history = pd.DataFrame(history)
history

# %% [markdown]
# The score at the target against the compute spent, and the bands at the target after the
# last round against the losses the larger runs really had.

# %%
bands = bs.predict(fit, grid).pipe(bs.summary)
fig, (left_axis, right_axis) = plt.subplots(1, 2, figsize=(11, 4))
left_axis.plot(history.compute * 100, history.score, "o-")
left_axis.set_xlabel("compute spent (% of the 404 runs' 6ND)")
left_axis.set_ylabel("expected 90% interval score at the target")
right_axis.errorbar(
    target.flops,
    bands.loss_median,
    yerr=[bands.loss_median - bands.loss_lower, bands.loss_upper - bands.loss_median],
    fmt="o",
    label="90% band",
)
right_axis.plot(target.flops, target.loss, "kx", label="observed")
right_axis.set_xscale("log")
right_axis.set_xlabel("compute of the target runs (6ND)")
right_axis.set_ylabel(runs.attrs["loss_unit"])
right_axis.legend()
fig.tight_layout()

# %% [markdown]
# How this choice compares with choosing at random, the cheapest first, a space-filling grid
# and D- and V-optimal designs, under the same budgets (1%, 5% and 10% of the compute), is on
# the [benchmarks page](../benchmarks.md) (`benchmarks/replay.py`). From the command line:
#
# ```
# bayes-scaling fit runs.csv --model size_dependent_data -o fit.nc
# bayes-scaling next fit.nc candidates.csv --target target.csv -k 4
# ```
