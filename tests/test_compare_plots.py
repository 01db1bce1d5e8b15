"""Model comparison by LOO, and the figures."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from conftest import FAST, no_discrepancy

import bayes_scaling as bs
from bayes_scaling.cli import main
from bayes_scaling.comparison import LooWarning


@pytest.fixture(scope="module")
def rival_fits(recovery_runs, recovery_fit):
    """The true law and a wrong one (rectified ignores pre-training) on the same runs."""
    # LOO reads the posterior alone: the rival needs no leave-future-out refits
    rival = bs.fit(recovery_runs, no_discrepancy("rectified"), warn=False, **FAST)
    return {"transfer_gap": recovery_fit, "rectified": rival}


def test_loo_picks_the_true_law(rival_fits):
    table = bs.compare(rival_fits)
    assert table.index[0] == "transfer_gap"
    # the wrong law is behind by many standard errors of the difference
    assert abs(table.loc["rectified", "elpd_diff"]) > 4 * table.loc["rectified", "dse"]
    assert {"law", "n_high_pareto_k", "weight"} <= set(table.columns)


def test_compare_refuses_fits_of_different_runs(recovery_fit, example_fit):
    with pytest.raises(bs.BayesScalingError, match="same runs"):
        bs.compare({"a": recovery_fit, "b": example_fit})


def test_high_pareto_k_warns(example_fit):
    # the example has a few simulated diverged runs, which LOO cannot leave out safely
    with pytest.warns(LooWarning, match="Pareto k"):
        bs.compare({"one": example_fit, "two": example_fit})


def test_compare_from_the_command_line(rival_fits, tmp_path, capsys):
    paths = [str(fit.save(tmp_path / f"{name}.nc")) for name, fit in rival_fits.items()]
    assert main(["compare", *paths]) == 0
    out = capsys.readouterr().out
    assert out.index("transfer_gap") < out.index("rectified")


def test_plots_return_figures_and_save(example_fit, tmp_path, capsys):
    fig = bs.plot_curves(example_fit, path=tmp_path / "curves.png")
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 8
    assert (tmp_path / "curves.png").stat().st_size > 10_000
    fig = bs.plot_ppc(example_fit)
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any(t.startswith("outside the band") for t in texts), texts
    assert main(["plot", str(example_fit.save(tmp_path / "fit.nc")), "--output", str(tmp_path / "figs")]) == 0
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == [
        "curves.png",
        "gap_forest.png",
        "ppc.png",
    ]


def test_prior_predictive_puts_its_mass_on_plausible_losses(recovery_runs):
    draws = bs.sample_prior_predictive(recovery_runs, draws=400, span=1.0)
    inside = float(((draws.loss > 0.1) & (draws.loss < 20)).mean())
    assert inside > 0.95, inside
    fig = bs.plot_prior_predictive(draws, x_input="pretrain_tokens")
    assert "Prior predictive" in fig.axes[0].get_title()
    assert np.isfinite(draws.loss).all()
