"""bayes-scaling: hierarchical Bayesian transfer scaling laws.

Given a table of training runs, fit posteriors of a scaling law with per-distribution
parameters partially pooled, report credible intervals of the transfer gap, predict past the
data with bands that include the law's own misfit, and rank where the next data budget goes.

The pipeline, one module (or package) each, each importing only those before it:
data -> laws -> spec -> model -> inference -> fitting -> prediction -> decide -> design ->
report/plots.
"""

from .backtesting import backtest
from .comparison import compare
from .data import BayesScalingError, BayesScalingWarning
from .datasets import list_datasets, load_dataset
from .decide import allocate, evaluate_experiment, rank_actions
from .design import next_runs
from .fitting import fit
from .plots import (
    plot_backtest,
    plot_curves,
    plot_forest,
    plot_frontier,
    plot_ppc,
    plot_prior_predictive,
    plot_ranking,
)
from .prediction import predict
from .prior import sample_prior_predictive
from .report import summary
from .result import Fit
from .simulate import simulate_runs
from .spec import list_models, load_spec

__all__ = [
    "BayesScalingError",
    "BayesScalingWarning",
    "Fit",
    "allocate",
    "backtest",
    "compare",
    "evaluate_experiment",
    "fit",
    "list_datasets",
    "list_models",
    "load_dataset",
    "load_spec",
    "next_runs",
    "plot_backtest",
    "plot_curves",
    "plot_forest",
    "plot_frontier",
    "plot_ppc",
    "plot_prior_predictive",
    "plot_ranking",
    "predict",
    "rank_actions",
    "sample_prior_predictive",
    "simulate_runs",
    "summary",
]
__version__ = "0.1.0"
