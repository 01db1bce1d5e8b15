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
# # 1. Fitting the transfer gap
#
# **Question:** for each downstream distribution, how large is the transfer gap G, and how sure
# are we? We fit the transfer-gap law
#
# $$L(p, f) = E + (A\,p^{-\alpha} + G)\,f^{-\beta}$$
#
# to the embedded example: **synthetic** runs of 8 distributions (see
# `scripts/make_example_data.py`), pre-training p from 1e8 to 1e11 tokens and fine-tuning f from
# 1e5 to 1e8 tokens.

# %%
import pandas as pd

import bayes_scaling as bs

pd.set_option("display.precision", 3)
SAMPLING = {}  # run lengths: the defaults, 4 x (300 + 1000)

# %% tags=["remove-cell"]
# Hidden in the docs: the test suite sets BAYES_SCALING_FAST=1 to run every notebook with short runs.
import os  # noqa: E402
import warnings  # noqa: E402

if os.environ.get("BAYES_SCALING_FAST") == "1":
    SAMPLING = {"draws": 100, "tune": 100, "chains": 2}
    warnings.simplefilter("ignore", bs.BayesScalingWarning)

# %% [markdown]
# The run table has one row per evaluated run. Extra columns (here `run_id`) are kept.

# %%
runs = bs.load_dataset("example")
runs.head()

# %%
runs.groupby("distribution").agg(runs=("loss", "size"), min_loss=("loss", "min"), max_loss=("loss", "max"))

# %% [markdown]
# ## The model, and what it believes before the data
#
# The shipped spec `models/transfer_gap.toml` partially pools E, A and G across distributions,
# gives each its own beta and shares alpha; each choice has its reason written in the file.

# %%
spec = bs.load_spec("transfer_gap")
print(spec.describe())

# %% [markdown]
# Before fitting, check that the priors produce plausible loss curves: nearly all values
# should lie between 0.1 and 20 nats/token, even far outside the data.

# %%
prior = bs.sample_prior_predictive(runs, spec, draws=300)
inside = float(((prior.loss > 0.1) & (prior.loss < 20)).mean())
print(f"{inside:.1%} of prior predictive losses in 0.1-20 nats/token (100x beyond the data both sides)")
fig = bs.plot_prior_predictive(prior, x_input="pretrain_tokens")

# %% [markdown]
# ## Fit
#
# NUTS through nutpie; the model is compiled once (~8 s), then all chains run.

# %%
fit = bs.fit(runs, spec, seed=1, progress=False, **SAMPLING)
print(fit.diagnostics)

# %% [markdown]
# Diagnostics come with the fit: r_hat near 1, bulk ESS over 400, no divergences. Any
# problem would have been raised as a `SamplingWarning` saying what to try.

# %% [markdown]
# ## Credible intervals of the transfer gap

# %%
gaps = bs.summary(fit, ["G"], prob=0.9)
truth = bs.datasets.example_truth()[["distribution", "G"]].rename(columns={"G": "true G"})
gaps.merge(truth, on="distribution")

# %%
fig = bs.plot_forest(
    gaps.merge(truth.rename(columns={"true G": "truth"}), on="distribution"),
    label="transfer gap G (f in tokens)",
)

# %% [markdown]
# ## What the gaps mean
#
# With unlimited pre-training the loss tends to the floor E + G f^-beta. The derived table
# gives that floor at today's fine-tuning data, next to today's loss: where they are close,
# more pre-training cannot help much and fine-tuning data is the lever.

# %%
state = runs.groupby("distribution", sort=False)[["pretrain_tokens", "finetune_tokens"]].max().reset_index()
derived = bs.summary(bs.predict(fit, state), ["loss_floor", "exchange_rate"])
today = bs.summary(bs.predict(fit, state))
pd.DataFrame(
    {
        "distribution": state.distribution,
        "loss now": today.loss_median,
        "floor with unlimited pre-training": derived.loss_floor_median,
        "pre-training tokens worth one fine-tuning token": derived.exchange_rate_median,
    }
)

# %% [markdown]
# Distributions with a large gap (poetry, low-resource language) sit close to their floor:
# their loss falls only with fine-tuning data. For code or wiki text, more pre-training still
# pays. The fitted curves, with the region past the data in grey:

# %%
fig = bs.plot_curves(fit)
