"""Fitting: parameter recovery, diagnostics, reproducibility and save/load."""

from __future__ import annotations

import dataclasses
import os
import re

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from conftest import FAST, RecordingCache, no_discrepancy, real_table

import bayes_scaling as bs
from bayes_scaling.data import validate_runs
from bayes_scaling.diagnostics import PriorWarning, SamplingWarning
from bayes_scaling.inference.settings import SamplingPolicy
from bayes_scaling.simulate import simulate_runs


def gap_vs_truth(fit: bs.Fit, truth: pd.DataFrame) -> pd.DataFrame:
    table = bs.summary(fit, ["G"], prob=0.9).merge(truth, on="distribution")
    table["covered"] = (table.lower <= table.G) & (table.upper >= table.G)
    table["log_width"] = np.log(table.upper / table.lower)
    return table


def test_gap_intervals_cover_the_true_gaps(recovery_fit, recovery_truth):
    table = gap_vs_truth(recovery_fit, recovery_truth)
    assert table.covered.sum() >= 7, table


def test_intervals_are_narrower_where_data_are_richer(recovery_fit, recovery_truth):
    table = gap_vs_truth(recovery_fit, recovery_truth)
    rich = table[table.runs == table.runs.max()].log_width.mean()
    poor = table[table.runs == table.runs.min()].log_width.mean()
    assert rich < 0.7 * poor, table


def test_posterior_medians_order_distributions_as_the_truth(recovery_fit, recovery_truth):
    table = gap_vs_truth(recovery_fit, recovery_truth)
    rich = table[table.runs == table.runs.max()]
    assert list(rich.sort_values("median").distribution) == list(rich.sort_values("G").distribution)
    rank_corr = table["median"].rank().corr(table["G"].rank())
    assert rank_corr >= 0.85, table


def test_default_fit_of_the_example_is_healthy_and_reuse_keeps_its_draws(example_fit):
    """The demo's fit (the session's ``example_fit``), then the same fit again on the compiled
    model it left: reuse compiles nothing and must not change the draws; the fit must be
    healthy. (A cold compilation is checked in test_engine, the example's cold time in
    benchmarks/speed.py.)

    The draws also depend on whether numba compiled the model's code afresh or loaded it
    from its disk cache (same seed, different floating point): with the spec's centring
    that left 1 divergence in 4 of 16 fits (seeds 0-7, both cache states); with the pilot's
    partial centring, none.
    """
    cold = example_fit
    reused = bs.fit(bs.load_dataset("example"), progress=False, warn=False)
    assert reused.diagnostics.compile_seconds < 1
    xr.testing.assert_equal(cold.idata.posterior["G"], reused.idata.posterior["G"])
    diag = cold.diagnostics
    assert (diag.chains, diag.draws, diag.tune) == (4, 1000, 300)  # nutpie's tuning: see DEFAULT_TUNE
    assert "4 chains x 1000 draws (after 300 tuning)" in diag.summary_line()
    # the pilot finds the example's terms pinned (but one distribution's A): the lower target
    assert diag.target_accept == 0.9 and "target acceptance 0.9)" in diag.summary_line()
    assert diag.divergences == 0
    assert diag.max_rhat <= 1.01
    assert diag.min_ess_bulk >= 400
    assert diag.min_bfmi >= 0.3
    assert diag.problems == []
    # the centring and target the pilot picks keep trees short: ~62 steps, depth 6 (all
    # non-centred at target 0.95: 8.8)
    assert diag.mean_tree_depth < 7
    assert diag.adaptation == "diag"
    assert diag.compile_seconds < diag.seconds


def test_a_prior_on_the_floor_above_the_runs_is_named_before_sampling():
    """transfer_gap.toml's prior on E is for nats per token (median 1.6): fitted to
    mikami2021's error rates (0.23-0.90) it leaves 2-10% of its mass below each
    distribution's smallest error, and the fit says so, and what to use, before sampling."""
    from bayes_scaling.diagnostics import check_floor_prior

    mikami = real_table("mikami2021")
    runs = validate_runs(mikami)  # a catalogued table brings its loss unit
    message = check_floor_prior(bs.load_spec("transfer_gap"), runs)
    assert "8 of 8 distributions" in message and "mulclass-r50: 2% below 0.229" in message
    assert "test error" in message and "transfer_gap_error_rate" in message
    assert check_floor_prior(bs.load_spec("transfer_gap_error_rate"), runs) is None
    example = validate_runs(bs.load_dataset("example"), ("pretrain_tokens", "finetune_tokens"))
    assert check_floor_prior(bs.load_spec("transfer_gap"), example) is None

    class Sampled(Exception):
        pass

    with pytest.warns(PriorWarning, match="transfer_gap_error_rate"), pytest.raises(Sampled):
        bs.fit(mikami, "transfer_gap", progress=False, cache=RecordingCache(refuse=Sampled))


def test_one_distribution_fits_cleanly_with_mu_integrated_out():
    """200 simulated runs of one distribution (the Chinchilla law's ranges, 2% noise): a
    hierarchy over one distribution made a funnel of mu and tau (63-223 divergences); with
    mu integrated out there are none, and mu is back in the posterior, drawn from its
    exact conditional."""
    chinchilla = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}  # Hoffmann et al.'s fit
    truth = pd.DataFrame([{"distribution": "c", **chinchilla}])
    grid = {"params": np.geomspace(5.7e7, 1.3e10, 20), "pretrain_tokens": np.geomspace(2.5e8, 1.4e11, 20)}
    runs = simulate_runs(truth, grid, law="chinchilla", runs_per_distribution=200, noise=0.02, seed=0)
    fit = bs.fit(runs, no_discrepancy("chinchilla"), progress=False, warn=False)
    diag = fit.diagnostics
    assert diag.divergences == 0, diag
    assert diag.max_rhat <= 1.01, diag
    assert diag.min_ess_bulk >= 400, diag
    posterior = fit.idata.posterior
    assert {"E_mu", "A_mu", "B_mu"} <= set(posterior.data_vars)
    # mu | log E, tau sits between the prior's centre and log E, never beyond either
    log_e, mu = float(np.log(posterior["E"]).mean()), float(posterior["E_mu"].mean())
    prior_centre = bs.load_spec("chinchilla").parameters["E"].mu.args["mu"]
    assert min(prior_centre, log_e) - 0.05 < mu < max(prior_centre, log_e) + 0.05
    # and the fit still finds the law: E within 10% of the truth
    assert abs(float(fit.parameters()["E"].median()) / 1.69 - 1) < 0.1


def set_centring(model, fit: bs.Fit) -> None:
    """Give a freshly built model the centring the fit's pilot chose."""
    from bayes_scaling.model import centring_name

    for name, values in fit.idata["centring"].to_dataset().data_vars.items():
        model.set_data(centring_name(name), values.values)


def test_stored_log_likelihood_is_the_models(example_fit):
    """The numpy log likelihood kept for LOO equals PyMC's from the model itself, given only
    the sampled variables (so the per-distribution parameters fit() computes in numpy from
    them agree with the model's too)."""
    import pymc as pm

    from bayes_scaling.model import build_model

    runs = validate_runs(example_fit.runs)
    model = build_model(example_fit.spec, runs, example_fit.normalisation)
    set_centring(model, example_fit)
    # only what was sampled: E, A and G come from the model, not from fit()'s numpy completion
    posterior = example_fit.idata.posterior.to_dataset().isel(draw=slice(0, 20))[
        [v.name for v in model.free_RVs]
    ]
    expected = pm.compute_log_likelihood(
        xr.DataTree.from_dict({"posterior": posterior}),
        model=model,
        extend_inferencedata=False,
        progressbar=False,
    )["log_loss"]
    ours = example_fit.idata.log_likelihood["log_loss"].isel(draw=slice(0, 20))
    assert ours.dims == expected.dims
    # atol: the stored E, A, G are exp(log value) from numba with fastmath
    np.testing.assert_allclose(ours.values, expected.values, rtol=0, atol=1e-7)


def test_pointwise_log_likelihood_does_not_depend_on_its_blocks(example_fit):
    """It is computed in blocks of draws (for the cache); blocks of 7 draws, cutting
    across chains and draws, give the same values, and the likelihood's numpy density is
    scipy's Student-t."""
    from scipy import stats

    from bayes_scaling.idata import pointwise_log_likelihood

    tree = example_fit.idata
    arguments = (
        tree.posterior.to_dataset(),
        tree.constant_data.to_dataset(),
        tree.observed_data["log_loss"],
        example_fit.spec,
    )
    blocked = pointwise_log_likelihood(*arguments, block=7 * len(example_fit.runs))
    np.testing.assert_array_equal(blocked.values, tree.log_likelihood["log_loss"].values)
    rng = np.random.default_rng(0)
    x, mean, sigma = rng.normal(size=50), rng.normal(size=50), rng.uniform(0.01, 1.0, 50)
    likelihood = example_fit.spec.likelihood
    np.testing.assert_allclose(
        likelihood.log_density(x, mean, sigma), stats.t.logpdf(x, likelihood.nu, mean, sigma), rtol=1e-12
    )


def test_weighted_model_drops_exactly_the_held_out_runs(example_fit):
    """The leave-future-out refits' model: with every weight 1 its likelihood term is the sum
    of the stored pointwise log likelihood; a weight of 0 removes exactly that run's term."""
    from bayes_scaling.model import OBSERVED, RUN_WEIGHT, build_model

    runs = validate_runs(example_fit.runs)
    model = build_model(example_fit.spec, runs, example_fit.normalisation, weighted=True)
    set_centring(model, example_fit)
    term = model.compile_fn(model[OBSERVED], inputs=model.free_RVs, on_unused_input="ignore")
    posterior = example_fit.idata.posterior.to_dataset()
    ours = example_fit.idata.log_likelihood["log_loss"].isel(chain=0, draw=750)
    point = {rv.name: posterior[rv.name].isel(chain=0, draw=750).values for rv in model.free_RVs}
    full = float(term(point))
    np.testing.assert_allclose(float(ours.sum()), full, rtol=0, atol=1e-5)
    weights = np.ones(runs.n_runs)
    weights[3] = 0.0
    model.set_data(RUN_WEIGHT, weights)
    np.testing.assert_allclose(full - float(term(point)), float(ours.isel(run=3)), atol=1e-7)


def test_low_rank_adaptation_is_available_and_recorded(recovery_runs):
    fit = bs.fit(
        recovery_runs, draws=20, tune=20, chains=2, progress=False, warn=False, adaptation="low_rank"
    )
    assert fit.diagnostics.adaptation == "low_rank"
    with pytest.raises(bs.BayesScalingError, match="unknown adaptation 'dense'; use one of diag"):
        bs.fit(recovery_runs, adaptation="dense")


def test_raw_units_reproduce_the_normalised_law(example_fit):
    """Raw-unit parameters at raw tokens give the same loss as normalised ones at p/p_ref."""
    law, refs = example_fit.law, example_fit.normalisation.log_refs
    norm = example_fit.parameters("normalised").isel(chain=0, draw=slice(0, 5))
    raw = example_fit.parameters("raw").isel(chain=0, draw=slice(0, 5))
    p, f = 3.0e9, 2.0e6
    a = law.log_loss(
        np.log(p) - refs["pretrain_tokens"],
        np.log(f) - refs["finetune_tokens"],
        **{k: norm[k] for k in law.parameters},
    )
    b = law.log_loss(np.log(p), np.log(f), **{k: raw[k] for k in law.parameters})
    np.testing.assert_allclose(a, b, rtol=1e-10)


def test_same_seed_gives_same_draws(recovery_runs):
    settings = {**FAST, "draws": 50, "tune": 50}
    first = bs.fit(recovery_runs, warn=False, **settings).idata.posterior["G"].values
    again = bs.fit(recovery_runs, warn=False, **settings).idata.posterior["G"].values
    other = bs.fit(recovery_runs, warn=False, **{**settings, "seed": 12}).idata.posterior["G"].values
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_saved_fit_gives_the_same_gap_table(example_fit, tmp_path):
    path = example_fit.save(tmp_path / "fit.nc")
    loaded = bs.Fit.load(path)
    pd.testing.assert_frame_equal(
        bs.summary(loaded, ["G"], prob=0.8), bs.summary(example_fit, ["G"], prob=0.8)
    )
    assert loaded.distributions == example_fit.distributions
    assert loaded.spec.to_dict() == example_fit.spec.to_dict()
    assert loaded.diagnostics == example_fit.diagnostics
    # the run table, extra columns included, travels with the fit
    pd.testing.assert_frame_equal(loaded.runs, example_fit.runs)
    assert "run_id" in loaded.runs
    # written as any new file is (the umask's mode), not private as a temporary file is
    umask = os.umask(0o022)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_fit_keeps_what_loo_and_prediction_need(example_fit):
    groups = set(example_fit.idata.children)
    assert {"posterior", "sample_stats", "log_likelihood", "observed_data", "runs"} <= groups
    assert example_fit.idata.log_likelihood["log_loss"].shape == (4, 1000, len(example_fit.runs))


def test_pymc_sampler_is_an_option(recovery_runs):
    fit = bs.fit(
        recovery_runs,
        no_discrepancy("transfer_gap"),  # PyMC's own NUTS runs in Python: no refits
        sampler="pymc",
        draws=10,  # that it runs, not how well: its Python NUTS took 13 s at 30 + 30, 5 s here
        tune=10,
        chains=1,
        seed=1,
        progress=False,
        warn=False,
    )
    assert fit.idata.posterior["G"].shape == (1, 10, 8)


def test_sampling_problems_warn_with_advice(recovery_runs):
    with pytest.warns(SamplingWarning, match="Run more than 2 chains x 20 draws"):
        bs.fit(recovery_runs, **{**FAST, "draws": 20, "tune": 20, "chains": 2})


def _diverging_draws(divergences: int) -> xr.DataTree:
    rng = np.random.default_rng(0)
    diverging = np.zeros((4, 500), dtype=bool)
    diverging[0, :divergences] = True
    return xr.DataTree.from_dict(
        {
            "posterior": xr.Dataset({"E": (("chain", "draw"), rng.normal(size=(4, 500)))}),
            "sample_stats": xr.Dataset({"diverging": (("chain", "draw"), diverging)}),
        }
    )


def test_diagnostics_judge_the_parameters_not_the_samplers_coordinates():
    """r_hat and ESS are of the law's parameters, mu, tau and sigma: a coordinate the sampler
    moved in for them (z, the log of a stored parameter, the reference loss, its ratios and
    slopes) is left out, so its poor mixing alone neither warns nor is reported."""
    from bayes_scaling.diagnostics import check_sampling, reported_variables

    rng = np.random.default_rng(0)
    good = rng.normal(size=(4, 500))
    stuck = np.repeat(np.arange(4.0), 500).reshape(4, 500) + 0.01 * good  # chains disagree
    names = ["E", "E_mu", "E_tau", "sigma", "alpha", "log_alpha", "E_z", "log_reference_loss_shift"]
    names += ["log_A_ratio", "log_beta_slope"]
    coordinates = {"log_alpha", "E_z", "log_reference_loss_shift", "log_A_ratio", "log_beta_slope"}
    posterior = xr.Dataset(
        {n: (("chain", "draw"), stuck if n in coordinates else good + i) for i, n in enumerate(names)}
    )
    spec = bs.load_spec("transfer_gap")
    assert reported_variables(posterior, spec) == ["E", "E_mu", "E_tau", "sigma", "alpha"]
    stats = xr.Dataset({"diverging": (("chain", "draw"), good > 9)})

    def diagnose(posterior):
        tree = xr.DataTree.from_dict({"posterior": posterior, "sample_stats": stats})
        return check_sampling(tree, spec, elapsed_seconds=1, warn=False)

    diagnostics = diagnose(posterior)
    assert diagnostics.max_rhat < 1.01 and diagnostics.ok, diagnostics
    # a stuck parameter itself is reported
    diagnostics = diagnose(posterior.assign(alpha=(("chain", "draw"), stuck)))
    assert diagnostics.worst_rhat_parameter == "alpha" and not diagnostics.ok


def test_divergence_advice_names_a_step_not_yet_taken():
    """The advice says which target_accept is in use and what to raise it to, and names the
    centred parameters a user could un-centre; at 0.99 it no longer offers a higher target."""
    from bayes_scaling.diagnostics import check_sampling

    spec = bs.load_spec("transfer_gap")
    problems = check_sampling(
        _diverging_draws(3), spec, elapsed_seconds=1, warn=False, target_accept=0.95
    ).problems
    advice = next(p for p in problems if "divergent" in p)
    assert advice.startswith("3 divergent transitions")
    assert "Raise target_accept from 0.95 to 0.99" in advice
    assert "centred = false for whichever of E, A, G" in advice

    problems = check_sampling(
        _diverging_draws(3), spec, elapsed_seconds=1, warn=False, target_accept=0.99
    ).problems
    advice = next(p for p in problems if "divergent" in p)
    assert "target_accept" not in advice and "E, A, G" in advice

    # the default fit's pilot already chose the centring: the advice does not send users to it
    problems = check_sampling(
        _diverging_draws(3), spec, elapsed_seconds=1, warn=False, target_accept=0.95, centring_from="pilot"
    ).problems
    advice = next(p for p in problems if "divergent" in p)
    assert "centred = false" not in advice
    assert "tighten the tau prior of whichever of E, A, G" in advice
    assert "coordinates" not in advice

    # a fit in reference-loss coordinates is pointed to the parameters' own
    rectified = bs.load_spec("rectified")
    problems = check_sampling(
        _diverging_draws(3),
        rectified,
        elapsed_seconds=1,
        warn=False,
        target_accept=0.95,
        centring_from="pilot",
    ).problems
    assert 'set coordinates = "parameters"' in next(p for p in problems if "divergent" in p)


def test_divergences_at_small_spreads_name_the_parameter_to_share():
    """Divergences among a hierarchical parameter's smallest population spreads (a funnel)
    name that parameter and tell the user to share it; divergences spread evenly over tau,
    or too few to tell, name none."""
    from bayes_scaling.diagnostics import check_sampling, funnel_parameters

    rng = np.random.default_rng(0)
    shape = (4, 500)
    posterior = xr.Dataset({f"{n}_tau": (("chain", "draw"), rng.lognormal(-2, 1, shape)) for n in "EAB"})
    at_small_b = (posterior["B_tau"] < posterior["B_tau"].quantile(0.1)).values & (rng.random(shape) < 0.5)
    names = ["E", "A", "B"]
    assert funnel_parameters(posterior, at_small_b, names) == ["B"]
    evenly = rng.random(shape) < 0.05
    assert funnel_parameters(posterior, evenly, names) == []
    assert funnel_parameters(posterior, at_small_b & (np.arange(500) < 10), names) == []  # too few

    spec = bs.load_spec("chinchilla")
    posterior = posterior.assign(sigma=(("chain", "draw"), rng.lognormal(-4, 0.1, shape)))
    tree = xr.DataTree.from_dict(
        {"posterior": posterior, "sample_stats": xr.Dataset({"diverging": (("chain", "draw"), at_small_b)})}
    )
    problems = check_sampling(tree, spec, elapsed_seconds=1, warn=False, target_accept=0.95).problems
    advice = next(p for p in problems if "divergent" in p)
    assert "spread of B across distributions is smallest" in advice
    assert 'make B shared (pooling = "shared")' in advice
    assert "chinchilla_shared_terms.toml" in advice


def test_bad_sampler_settings_are_clear_errors(recovery_runs):
    with pytest.raises(bs.BayesScalingError, match="draws must be a whole number >= 1"):
        bs.fit(recovery_runs, draws=0)
    with pytest.raises(bs.BayesScalingError, match="unknown sampler 'hmc'"):
        bs.fit(recovery_runs, sampler="hmc")
    with pytest.raises(bs.BayesScalingError, match="target_accept must lie between 0 and 1"):
        bs.fit(recovery_runs, target_accept=95)


def test_reference_loss_coordinates_give_way_where_the_runs_barely_pin_a_term():
    """The rectified spec samples each curve through its loss at f_ref, which writes E
    centred. Curves that never flatten say little about E (the pilot's centring of E is
    near 0), and there the fit samples the parameters themselves; curves that flatten keep
    the reference-loss coordinates."""
    from test_law_recovery import CASES

    unflattened = pd.DataFrame(
        {"distribution": [f"m{i}" for i in range(4)], "E": 0.3, "B": np.geomspace(20, 80, 4), "D_l": 1.0}
    ).assign(beta=0.3)
    short = {"draws": 200, "tune": 200, "chains": 2, "seed": 0, "progress": False, "warn": False}
    loose = simulate_runs(
        # four curves cut at 1e4, well before they flatten: E's mean centring 0 (six cut at
        # 3e4 gave ~0.07, four cut there 0.18; at 1e5 it was 0.18-0.32 from one floating-point
        # rounding to another, too near the threshold). Four, so that both fits share the
        # bucket of 4 and its compiled models
        unflattened,
        {"finetune_tokens": np.geomspace(1e3, 1e4, 8)},
        law="rectified",
        seed=0,
    )
    spec = no_discrepancy("rectified")  # the coordinates are the pilot's choice, refits aside
    fit = bs.fit(loose, spec, **short)
    assert fit.spec.coordinates == "parameters"
    assert float(fit.idata["centring"]["E"].mean()) < 0.25  # E is now partially centred
    truth, grid = CASES["rectified"]
    pinned = bs.fit(simulate_runs(truth, grid, law="rectified", noise=0.01, seed=0), spec, **short)
    assert pinned.spec.coordinates == "reference_loss"
    assert "log_reference_loss_shift" in pinned.idata.posterior


def test_a_large_tables_pilot_runs_in_reference_loss_coordinates(recovery_runs):
    """From the policy's reference_pilot_distributions on, the pilot of a spec in the
    parameters' coordinates runs in reference-loss ones: where the pilot's verdict keeps
    them, the fit samples on the pilot's model (one model); where it does not, the fit goes
    back to the parameters with the centring that pilot learned. The verdict is steered by
    the policy's thresholds, passed as data."""
    spec = no_discrepancy("transfer_gap")
    quick = {"draws": 50, "tune": 50, "chains": 1, "seed": 0, "progress": False, "warn": False}
    small = SamplingPolicy(reference_pilot_distributions=2)  # the recovery table's 8 are "large"
    verdicts = {
        "reference_loss": dataclasses.replace(small, min_term_centring_to_switch=0.0),  # every term pinned
        "parameters": dataclasses.replace(small, min_term_centring_to_switch=1.5),  # none can be
    }
    for verdict, policy in verdicts.items():
        cache = RecordingCache()
        fit = bs.fit(recovery_runs, spec, policy=policy, cache=cache, **quick)
        assert fit.spec.coordinates == verdict
        # the pilot (2 chains), then the fit
        assert [(c[0], c[3]) for c in cache.calls] == [("reference_loss", 2), (verdict, 1)]
        assert len(set(cache.models)) == (1 if verdict == "reference_loss" else 2)
    # back in the parameters, each hierarchical parameter keeps the centring the pilot learned
    assert {"E", "A", "G"} <= set(fit.idata["centring"].to_dataset().data_vars)


def test_pilot_and_refits_are_never_longer_than_the_fit(recovery_runs):
    """The pilot and the leave-future-out refits take the fit's own draws, tune and chains
    where those are fewer than their own settings (a quick look stays quick), and their own
    where the spec asks for fewer; the refits adapt as the fit does unless the spec's
    [discrepancy] says otherwise."""
    quick = {"draws": 30, "tune": 40, "chains": 1, "seed": 0, "progress": False, "warn": False}
    cache = RecordingCache()
    fit = bs.fit(recovery_runs, cache=cache, **quick)
    refits = len(fit.discrepancy.cuts)
    assert refits >= 2
    # pilot (2 chains: it needs two to compare), main fit, then the refits side by side
    lengths = [c[1:] for c in cache.calls]
    assert lengths == [(30, 40, 2, "diag", 1), (30, 40, 1, "diag", 1), (30, 40, 1, "diag", refits)]

    spec = bs.load_spec("transfer_gap")
    short_refits = dataclasses.replace(
        spec, discrepancy=dataclasses.replace(spec.discrepancy, draws=20, tune=25, chains=2)
    )
    cache = RecordingCache()
    bs.fit(recovery_runs, short_refits, cache=cache, **{**quick, "draws": 60, "tune": 60, "chains": 3})
    assert cache.calls[2][1:] == (20, 25, 2, "diag", refits)
    # few_shot_error_rate.toml: low rank
    low_rank = dataclasses.replace(
        short_refits, discrepancy=dataclasses.replace(short_refits.discrepancy, adaptation="low_rank")
    )
    cache = RecordingCache()
    bs.fit(recovery_runs, low_rank, cache=cache, **quick)
    assert [c[4] for c in cache.calls] == ["diag", "diag", "low_rank"]
    assert bs.load_spec("few_shot_error_rate").discrepancy.adaptation == "low_rank"


def test_the_refits_say_what_the_wait_is_for_when_progress_is_shown(recovery_runs, capsys):
    """The main run shows nutpie's progress bar; the leave-future-out refits after it show
    none (three bars side by side would garble), so the fit says what it is doing and how
    long it took, on stderr, and nothing when progress is off."""
    quick = {"draws": 30, "tune": 40, "chains": 1, "seed": 0, "warn": False}
    bs.fit(recovery_runs, progress=True, **quick)
    said = capsys.readouterr().err
    assert (
        "transfer_gap: learning the law's misfit past the data from 3 leave-future-out refits side by "
        "side, along pretrain_tokens, finetune_tokens, product" in said
    )
    assert re.search(r"transfer_gap: refits done in \d+\.\d s", said)
    bs.fit(recovery_runs, progress=False, **quick)
    assert "misfit" not in capsys.readouterr().err


def test_a_loose_table_keeps_more_draws_and_a_failed_run_is_run_again(recovery_runs):
    """The run keeps the policy's default draws, its loose draws where the pilot finds the
    table loose; draws the caller gives are kept either way. Where the caller left target
    and draws to the fit and the pilot's choice (0.9, the default draws) fails a check (here
    the bulk ESS of 30 draws on one chain), the fit runs once more at the loose table's 0.95
    and loose draws, and says why; where the loose table's settings fail, once more at 0.99."""
    quick = {"tune": 30, "chains": 1, "seed": 0, "progress": False, "warn": False}
    spec = no_discrepancy("transfer_gap")
    short = SamplingPolicy(default_draws=30, loose_draws=40)
    everything_loose = dataclasses.replace(short, loose_centring=1.5)
    loose = bs.fit(recovery_runs, spec, policy=everything_loose, **quick)
    assert (loose.diagnostics.draws, loose.diagnostics.target_accept) == (40, 0.99)
    first = "run again at target 0.99 with 40 draws: the first run (target 0.95, 40"
    assert loose.diagnostics.rerun.startswith(first)
    kept = bs.fit(recovery_runs, spec, draws=30, policy=everything_loose, **quick)
    assert (kept.diagnostics.draws, kept.diagnostics.target_accept) == (30, 0.95)

    nothing_loose = dataclasses.replace(short, loose_share=1.0)
    fit = bs.fit(recovery_runs, spec, policy=nothing_loose, **quick)
    assert (fit.diagnostics.draws, fit.diagnostics.target_accept) == (40, 0.95)
    assert fit.idata.posterior.sizes["draw"] == 40
    assert fit.diagnostics.rerun.startswith(
        "run again at target 0.95 with 40 draws: the first run (target 0.9, 30"
    )
    assert "bulk ESS" in fit.diagnostics.rerun and fit.diagnostics.rerun in fit.diagnostics.summary_line()
    for asked in ({"draws": 30}, {"target_accept": 0.9}):
        kept = bs.fit(recovery_runs, spec, policy=nothing_loose, **quick, **asked)
        assert (kept.diagnostics.draws, kept.diagnostics.target_accept, kept.diagnostics.rerun) == (
            30,
            0.9,
            "",
        )
