"""bayes-scaling: hierarchical Bayesian transfer scaling laws.

Given a table of training runs, fit posteriors of a scaling law with per-distribution
parameters partially pooled, report credible intervals of the transfer gap, and save the
fit to one file. The pipeline, one module each: data -> laws -> spec/model -> fit -> predict -> decide
-> report; each module imports only modules before it.
"""

from . import data, datasets
from .backtest import Backtest, backtest, rolling_backtest
from .compare import LooWarning, compare_fits
from .data import BayesScalingError, Runs, RunsValidationError, validate_runs
from .datasets import example_truth, list_datasets, load_dataset, load_example
from .decide import Allocation, allocate, experiment_value, rank_actions
from .diagnostics import Diagnostics, PriorWarning, SamplingWarning
from .fit import Fit, fit, prior_predictive
from .laws import LAWS, Law, get_law
from .plots import backtest_plot, curve_plot, ppc_plot, prior_curve_plot
from .predict import derived_table, predict, prediction_table
from .report import forest_plot, frontier_plot, gap_table, parameter_table, ranking_plot, summary
from .simulate import simulate_runs
from .spec import ModelSpec, SpecError, available_models, load_spec

load_fit = Fit.load


__all__ = [
    "Backtest",
    "backtest",
    "rolling_backtest",
    "data",
    "datasets",
    "LAWS",
    "BayesScalingError",
    "Diagnostics",
    "Fit",
    "Law",
    "ModelSpec",
    "Runs",
    "RunsValidationError",
    "PriorWarning",
    "SamplingWarning",
    "SpecError",
    "available_models",
    "curve_plot",
    "backtest_plot",
    "ppc_plot",
    "prior_curve_plot",
    "prior_predictive",
    "compare_fits",
    "LooWarning",
    "Allocation",
    "allocate",
    "experiment_value",
    "rank_actions",
    "frontier_plot",
    "ranking_plot",
    "example_truth",
    "fit",
    "forest_plot",
    "gap_table",
    "get_law",
    "load_example",
    "list_datasets",
    "load_dataset",
    "load_fit",
    "load_spec",
    "parameter_table",
    "predict",
    "prediction_table",
    "derived_table",
    "simulate_runs",
    "summary",
    "validate_runs",
]
__version__ = "0.1.0"
