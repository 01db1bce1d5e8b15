"""The prior predictive: loss curves drawn from a spec's priors, before the losses are seen."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from .data import validate_runs
from .draws import flat
from .model import Normalisation, build_model
from .spec import ModelSpec, load_spec


def sample_prior_predictive(
    runs: pd.DataFrame | str | os.PathLike,
    model: str | os.PathLike | ModelSpec = "transfer_gap",
    *,
    draws: int = 500,
    seed: int = 0,
    span: float = 100.0,
    points: int = 30,
    columns: Mapping[str, str] | None = None,
) -> xr.Dataset:
    """Loss curves drawn from the prior, before the losses are seen (nats/token).

    Parameters are drawn from the spec's priors (for the first distribution of the runs);
    the law is evaluated along its curve input from ``1/span`` x the smallest to ``span`` x
    the largest value in the runs, the other inputs at their geometric means. Returns a
    Dataset with ``loss`` (chain, draw, point) and the inputs as ``point`` coordinates.
    """
    spec = load_spec(model)
    valid = validate_runs(runs, spec.law.inputs, columns=columns, allow_zero=spec.law.zero_allowed)
    normalisation = Normalisation.from_runs(valid, spec.law.inputs)
    # the same prior in either coordinates; only the parameters' own can be drawn forward
    natural = dataclasses.replace(spec, coordinates="parameters")
    quiet = logging.getLogger("pymc.sampling.forward")  # its "Sampling: [A_mu, ...]" line says nothing here
    level = quiet.level
    quiet.setLevel(logging.WARNING)
    try:
        with build_model(natural, valid, normalisation):
            prior = pm.sample_prior_predictive(
                draws=draws, random_seed=seed, var_names=list(spec.law.parameters)
            )
    finally:
        quiet.setLevel(level)
    prior = prior["prior"].to_dataset()
    x = spec.law.x_input
    values = valid.column(x)
    inputs = {}
    for name in spec.law.inputs:
        if name == x:
            positive = values[values > 0]
            inputs[name] = np.geomspace(positive.min() / span, positive.max() * span, points)
        else:
            inputs[name] = np.full(points, np.exp(normalisation.log_refs[name]))
    params = {}
    for name in spec.law.parameters:
        value = flat(prior[name])
        params[name] = (value[:, 0] if value.ndim == 2 else value)[:, None]
    log_inputs = [v[None, :] for v in normalisation.log_inputs(inputs)]
    loss = spec.law.loss(*log_inputs, **params).reshape(prior.sizes["chain"], prior.sizes["draw"], points)
    coords = {"chain": prior["chain"].values, "draw": prior["draw"].values}
    return xr.Dataset(
        {"loss": (("chain", "draw", "point"), loss)},
        coords=coords | {k: ("point", v) for k, v in inputs.items()},
    )
