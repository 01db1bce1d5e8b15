"""Learning the law's misfit from the runs: inside the data from the fit's residuals, past
it from leave-future-out refits that a sampling wrapper makes (see
:class:`bayes_scaling.inference.refits.LeaveFutureOutRefits`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Protocol

import numpy as np
import pandas as pd
import xarray as xr

from ..data import Runs
from ..draws import per_run
from ..model import OBSERVED, Normalisation, run_data
from ..spec import ModelSpec
from .distance import MIN_LEVELS, directions, distances_beyond, fitted_ranges, leave_future_out_cuts
from .evidence import evidence_weight, gain_threshold, learn_growth, learn_misfit, learn_scale, learn_spread
from .growth_prior import scales_from_prior
from .value import Discrepancy

# The share of the distributions a direction's held-out runs must come from for a widened
# parameter spread to be learned there (see :func:`spread_speaks_for`)
MIN_SPREAD_DISTRIBUTIONS = 0.5


class Refits(Protocol):
    """What learning the misfit needs of a sampler: posteriors of refits without given runs."""

    def refit(self, held_out: Mapping[str, np.ndarray]) -> dict[str, xr.Dataset]: ...


def learn_discrepancy(
    spec: ModelSpec,
    runs: Runs,
    normalisation: Normalisation,
    posterior: xr.Dataset | None,
    refits: Refits | None,
) -> Discrepancy:
    """The law's misfit, learned from the runs.

    Inside the data, from the fit's ``posterior``: each distribution's misfit
    (:func:`~.evidence.learn_misfit`). Past the data, from ``refits`` (without which none is
    learned): for each direction, drop every distribution's largest levels along it, predict
    the dropped runs, and learn that direction's scale from their errors and their distances
    along it, then its growth power (:func:`~.evidence.learn_growth`); each weighed by its
    evidence against none, even odds at the gain of a 5% test shared between the directions
    (:func:`~.evidence.evidence_weight`, :func:`~.evidence.gain_threshold`). Where the held-out
    runs favour it, a widened parameter spread takes a direction's scale's place
    (:func:`~.evidence.learn_spread`)."""
    if refits is None:
        return Discrepancy(note="not learned: the spec's [discrepancy] method is 'none'")
    inputs = spec.law.inputs
    data = run_data(spec, runs, normalisation)
    labels = np.asarray(runs.distributions)[data["distribution_index"]]
    misfit, misfit_gains, misfit_threshold, offsets = {}, {}, 0.0, {}
    if posterior is not None:
        residual, parameter_variance, noise = _heldout_errors(
            posterior, spec, data, np.ones(len(labels), dtype=bool)
        )
        levels = {column: runs.table[column].to_numpy() for column in inputs}
        misfit, misfit_gains, misfit_threshold, offsets = learn_misfit(
            residual, parameter_variance + noise, labels, spec.likelihood.nu, levels
        )
    inside = {"misfit": misfit, "misfit_gains": misfit_gains, "misfit_threshold": misfit_threshold}
    inside["level_offsets"] = offsets
    prior = spec.discrepancy.growth_prior
    along_all = directions(inputs)
    cuts = leave_future_out_cuts(runs.table, inputs, max(spec.min_runs_per_distribution, 2))
    if not cuts:
        unheld = f"no distribution has {MIN_LEVELS}+ distinct values along any input ({', '.join(inputs)})"
        if prior is not None:
            scales, probabilities = scales_from_prior(prior, {}, along_all)
            return Discrepancy(
                **inside, scales=scales, misfit_probabilities=probabilities, growth_prior=asdict(prior),
                directions=along_all,
                note=f"past the data from the corpus prior alone: {unheld} to hold out",
            )  # fmt: skip
        return Discrepancy(
            **inside,
            note=f"not learned past the data: {unheld}; bands past the data count parameters, noise "
            "and the misfit inside the data only",
        )  # fmt: skip
    threshold = gain_threshold(len(cuts))
    scales, gains, powers, spread_factors, evidence = {}, {}, {}, {}, {}
    nu = spec.likelihood.nu
    for direction, refit_posterior in refits.refit(cuts).items():
        held = cuts[direction]
        residual, parameter_variance, noise = _heldout_errors(refit_posterior, spec, data, held)
        other = noise + np.array([misfit.get(name, 0.0) for name in labels[held]]) ** 2
        variance = parameter_variance + other
        along = distances_beyond(runs.table[held], fitted_ranges(runs.table[~held], inputs), inputs)
        distance = along[:, along_all.index(direction)]
        evidence[direction] = {"residual": residual.tolist(), "variance": variance.tolist()}
        evidence[direction] |= {"distance": distance.tolist(), "nu": nu}
        scales[direction], gains[direction] = learn_scale(residual, variance, distance, nu, threshold)
        factor, spread_gain = learn_spread(residual, parameter_variance, other, nu, threshold)
        if factor > 1 and spread_gain > gains[direction] and spread_speaks_for(labels[held], labels):
            scales[direction], gains[direction], spread_factors[direction] = 0.0, spread_gain, factor
        elif scales[direction] > 0 and prior is None:
            # the best power's scale, weighed by the evidence for a misfit at all (k = 1)
            scale, powers[direction] = learn_growth(residual, variance, distance, nu)
            scales[direction] = scale * np.sqrt(evidence_weight(gains[direction], threshold))
    learned = Discrepancy(
        scales=scales, log_likelihood_gains=gains, powers=powers,
        heldout_runs=int(sum(h.sum() for h in cuts.values())), cuts=tuple(cuts), threshold=threshold,
        spread_factors=spread_factors, evidence=evidence, directions=along_all, **inside,
    )  # fmt: skip
    return learned if prior is None else learned.with_growth_prior(prior)


def spread_speaks_for(held_labels: np.ndarray, labels: np.ndarray) -> bool:
    """Whether the runs held out along a direction come from at least
    :data:`MIN_SPREAD_DISTRIBUTIONS` of the distributions.

    A factor on the parameters' spread is learned from the spreads of the distributions whose
    runs were held out, and widens every distribution's. Spreads differ by orders of
    magnitude between distributions (a distribution with one fine-tuning size left has its
    fine-tuning exponent from the prior alone), so a factor learned on a few is no measure
    of the others: on mikami2021's fine-tuning backtest, a factor of 4.6 learned from one
    distribution's seven runs made bands 202% wide where a scale per log-distance, whose
    error does not depend on a distribution's spread, made them 103% (both covered every run;
    docs/records.md, "Spread or scale"). There the scale is kept."""
    return len(pd.unique(held_labels)) >= MIN_SPREAD_DISTRIBUTIONS * len(pd.unique(labels))


def _heldout_errors(
    posterior: xr.Dataset, spec: ModelSpec, data: Mapping[str, np.ndarray], held: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each held-out run's log loss minus the refit's mean prediction, and the refit's
    predictive variance of it from the parameters and from the noise."""
    index = data["distribution_index"][held]
    per_run_draws = {name: per_run(posterior[name], index) for name in (*spec.law.parameters, "sigma")}
    log_inputs = [data[f"log_{name}"][held][None, :] for name in spec.law.inputs]
    sigma = per_run_draws.pop("sigma")
    mean = spec.law.log_loss(*log_inputs, **per_run_draws)
    nu = spec.likelihood.nu
    noise = (sigma**2).mean(axis=0) * nu / (nu - 2)
    residual = data[f"{OBSERVED}_observed"][held] - mean.mean(axis=0)
    return residual, mean.var(axis=0), noise
