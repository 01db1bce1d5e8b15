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
# # 4. Bringing your own data
#
# **Question:** how do I fit my runs, with my column names, and my own priors? A CSV with one
# row per evaluated run is all that is needed.

# %%
import matplotlib.pyplot as plt
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

# %% [markdown]
# Your table may name columns differently; map them with `columns=`.

# %%
mine = bs.load_dataset("example").rename(
    columns={"pretrain_tokens": "D_pt", "finetune_tokens": "D_ft", "loss": "val_loss"}
)
mapping = {"D_pt": "pretrain_tokens", "D_ft": "finetune_tokens", "val_loss": "loss"}
bs.data.validate_runs(mine, columns=mapping).table.head(3)

# %% [markdown]
# Bad rows are reported all at once, by row and column, before anything is fitted:

# %%
broken = mine.copy()
broken.loc[2, "val_loss"] = np.nan
broken.loc[5, "D_ft"] = 0
try:
    bs.data.validate_runs(broken, columns=mapping)
except bs.BayesScalingError as err:
    print(err)

# %% [markdown]
# ## Editing a model spec
#
# Copy a spec from `models/`, edit it, and pass its path. Here: a tighter prior on the gap's
# population mean and a shared (not per-distribution) beta.

# %%
import tempfile
from pathlib import Path

from bayes_scaling.spec import models_dir

text = (models_dir() / "transfer_gap.toml").read_text()
text = text.replace('pooling = "independent"', 'pooling = "shared"')
text = text.replace(
    'mu = { dist = "Normal", mu = -2.0, sigma = 2.0 }', 'mu = { dist = "Normal", mu = -1.0, sigma = 1.0 }'
)
path = Path(tempfile.mkdtemp()) / "my_transfer_gap.toml"
path.write_text(text)
spec = bs.load_spec(path)
print(spec.describe())

# %%
fit = bs.fit(mine, spec, columns=mapping, seed=1, progress=False, **SAMPLING)
print(fit.diagnostics)
bs.summary(fit, ["G"])

# %% [markdown]
# If the fit warns (too few effective draws, r_hat over 1.01, divergences), its message says
# what to try first, such as more draws.
#
# Your runs against the fitted curves, with 90% bands of the expected loss, one panel per
# distribution; the grey area is past your largest run, where the bands are extrapolation.
# A curve that misses its own runs is the first thing to look for.

# %%
fig = bs.plot_curves(fit)
plt.show()

# %% [markdown]
# And each run against the band a new run with its inputs would fall in (posterior predictive
# check): runs far outside their band are ones the law does not explain.

# %%
fig = bs.plot_ppc(fit)
plt.show()

# %% [markdown]
# Save the fit to one file and load it later, or from the CLI (`bayes-scaling gaps fit.nc`):

# %%
out = Path(tempfile.mkdtemp()) / "fit.nc"
fit.save(out)
bs.summary(bs.Fit.load(out), ["G"]).equals(bs.summary(fit, ["G"]))
