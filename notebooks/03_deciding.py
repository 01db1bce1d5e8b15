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
# # 3. Deciding where the next tokens go
#
# **Question:** with a budget to spend, should it buy pre-training tokens or fine-tuning data,
# and for which distribution? Decisions use the posterior draws directly: every action is
# evaluated under every draw.

# %%
import os
import warnings

import numpy as np
import pandas as pd

import bayes_scaling as bs

# The test suite sets BAYES_SCALING_FAST=1 to re-run every notebook quickly.
FAST = os.environ.get("BAYES_SCALING_FAST") == "1"
SAMPLING = {"draws": 200, "tune": 200, "chains": 2} if FAST else {"draws": 1000, "tune": 1000, "chains": 4}
warnings.simplefilter("ignore", bs.SamplingWarning) if FAST else None
pd.set_option("display.precision", 3)

# %%
fit = bs.fit(bs.load_example(), seed=1, progress=False, **SAMPLING)
bs.gap_table(fit)

# %% [markdown]
# ## Rank candidate actions
#
# Each action adds tokens to one distribution's current state (its largest runs). Prices: a
# fine-tuning token costs 1000x a pre-training token.

# %%
actions = pd.DataFrame(
    {
        "action": [
            "pretrain 10x (code)",
            "finetune 10x (code)",
            "pretrain 10x (poetry)",
            "finetune 10x (poetry)",
            "finetune 3x (legal)",
        ],
        "distribution": ["code", "code", "poetry", "poetry", "legal"],
        "add_pretrain_tokens": [9e11, 0, 9e11, 0, 0],
        "add_finetune_tokens": [0, 9e8, 0, 9e8, 2e8],
    }
)
ranking = bs.rank_actions(fit, actions, pretrain_price=1e-9, finetune_price=1e-6)
print(ranking.attrs["note"] or "decision is robust across draws")
ranking[
    [
        "action",
        "cost",
        "expected_loss",
        "expected_reduction",
        "reduction_per_cost",
        "p_best",
        "expected_regret",
    ]
]

# %%
bs.ranking_plot(ranking)

# %% [markdown]
# ## Allocate a budget
#
# Split 1000 (cost units) between pre-training and code fine-tuning data. The frontier shows
# expected loss and its band for every split; EVPI says whether knowing the true parameters
# would change the choice enough to be worth more experiments first.

# %%
alloc = bs.allocate(fit, budget=1000, pretrain_price=1e-10, finetune_price=1e-6, distributions=["code"])
print(
    f"spend {alloc.finetune_share['code']:.0%} on fine-tuning; expected loss {alloc.expected_loss:.4f}; "
    f"per-draw optima 5-95%: {np.quantile(alloc.draw_optima, [0.05, 0.95]).round(2)}; EVPI {alloc.evpi:.2g} nats/token"
)
bs.frontier_plot(alloc.frontier, alloc.finetune_share["code"])

# %% [markdown]
# Across several distributions, pre-training serves all of them while fine-tuning data serves one:

# %%
multi = bs.allocate(
    fit, budget=1000, pretrain_price=1e-10, finetune_price=1e-6, distributions=["code", "legal", "poetry"]
)
multi.summary().assign(add_pretrain_tokens=multi.add_pretrain_tokens)

# %% [markdown]
# ## Which experiment next?
#
# For candidate runs, how much would each shrink the posterior sd of log G? Estimated by
# simulating the run from the posterior and reweighting the draws (no refit); checked against
# refits in `tests/test_slow_validation.py`.

# %%
candidates = pd.DataFrame(
    {
        "distribution": ["low_resource_lang", "low_resource_lang", "code"],
        "pretrain_tokens": [1e11, 1e8, 1e11],
        "finetune_tokens": [1e5, 1e8, 1e5],
    }
)
bs.experiment_value(fit, candidates, simulations=100)
