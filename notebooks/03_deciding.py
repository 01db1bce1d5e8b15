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
import numpy as np
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

# %%
fit = bs.fit(bs.load_dataset("example"), seed=1, progress=False, **SAMPLING)
bs.summary(fit, ["G"])

# %% [markdown]
# ## The portfolio
#
# A team serves several distributions at once, some more than others. The weights (traffic
# shares here) say how much each distribution's loss counts: the objective is the portfolio
# loss $\sum_d w_d L_d$, and losses of different distributions are only ever added through
# these weights. Fine-tuning data has a price per distribution: labelled legal or medical text
# costs far more than scraped code.

# %%
weights = pd.read_csv("../docs/demo/weights.csv")
prices = pd.read_csv("../docs/demo/finetune_prices.csv")
weights.merge(prices, on="distribution")

# %% [markdown]
# ## Rank candidate actions
#
# Pre-training tokens feed the one pre-trained model every distribution is fine-tuned from, so
# they lower every distribution's loss at once; fine-tuning tokens lower only their own
# distribution's. Each row of the action table adds tokens; `*` marks a pre-training-only row,
# and rows with the same action name make one action (its cost is the sum of its rows).

# %%
actions = pd.read_csv("../docs/demo/actions.csv")
actions

# %%
ranking = bs.rank_actions(fit, actions, weights=weights, pretrain_price=1e-9, finetune_price=prices)
print(ranking.attrs["note"] or "decision is robust across draws")
ranking[
    [
        "action",
        "distribution",
        "cost",
        "expected_loss",
        "loss_cvar",
        "expected_reduction",
        "reduction_per_cost",
        "p_best",
        "expected_regret",
    ]
]

# %% [markdown]
# Scored by one distribution at a time, as if pre-training served only the distribution named
# on its row, the same pre-training action looks far weaker than it is. Here is what code
# alone would say:

# %%
only_code = bs.rank_actions(fit, actions, weights={"code": 1.0}, pretrain_price=1e-9, finetune_price=prices)
only_code[["action", "expected_reduction", "reduction_per_cost", "p_best"]]

# %%
fig = bs.plot_ranking(ranking, title="Portfolio of code, chat, legal and medical")

# %% [markdown]
# ## Allocate a budget
#
# Split 1000 (cost units) jointly between pre-training and each portfolio distribution's
# fine-tuning data, at each distribution's own price. Candidate splits are scored over all
# posterior draws at once, and the best is refined by a constrained optimiser. `draw_optima`
# shows how the total fine-tuning share would move if we knew the parameters; EVPI says
# whether knowing them would be worth more experiments first.

# %%
alloc = bs.allocate(fit, budget=1000, pretrain_price=1e-10, finetune_price=prices, weights=weights)
print(
    f"pre-training: {1 - sum(alloc.finetune_share.values()):.0%} of the budget; "
    f"portfolio loss {alloc.expected_loss:.4f} (CVaR {alloc.loss_cvar:.4f}); "
    f"per-draw optima 5-95%: {np.quantile(alloc.draw_optima, [0.05, 0.95]).round(2)}; "
    f"EVPI {alloc.evpi:.2g} nats/token"
)
alloc.summary()

# %% [markdown]
# For one distribution the frontier is a curve: expected loss and its band for every split.

# %%
code_only = bs.allocate(fit, budget=1000, pretrain_price=1e-10, finetune_price=1e-6, distributions=["code"])
fig = bs.plot_frontier(code_only.frontier, code_only.finetune_share["code"])

# %% [markdown]
# ## Which experiment next?
#
# For candidate runs, what would each teach us? `evaluate_experiment` simulates each run from the
# posterior and reweights the draws (no refit; checked against refits in
# `tests/test_slow_validation.py`). Given the actions and the portfolio, it scores each run by
# how much it would lower the expected regret of this decision (the value of sample
# information), beside how much it would narrow the posterior of log G.

# %%
candidates = pd.DataFrame(
    {
        "distribution": ["chat", "chat", "code", "poetry"],
        "pretrain_tokens": [1e12, 1e8, 1e12, 1e12],
        "finetune_tokens": [1e5, 1e8, 1e5, 1e5],
    }
)
bs.evaluate_experiment(
    fit,
    candidates,
    actions=actions,
    weights=weights,
    pretrain_price=1e-9,
    finetune_price=prices,
    simulations=100,
)
