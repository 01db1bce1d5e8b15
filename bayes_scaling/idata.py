"""What a fit's DataTree holds beside the draws: observed and constant data, the pointwise
log likelihood (for PSIS-LOO), the run table and the centring the draws were made in."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .data import DISTRIBUTION, Runs
from .draws import flat, gather
from .inference.policy import Plan
from .model import OBSERVED, RUN, Normalisation, centred_parameters, centring_name, model_data, run_data
from .spec import ModelSpec

POINTWISE_BLOCK = 500_000  # values of the pointwise log likelihood computed at once


def attach_data(idata: xr.DataTree, runs: Runs, chosen: Plan, normalisation: Normalisation) -> xr.DataTree:
    """Add observed and constant data, the pointwise log likelihood, the run table and the
    centring the draws were made in."""
    spec = chosen.spec
    keep = [g for g in ("posterior", "sample_stats") if g in idata.children]
    tree = xr.DataTree.from_dict({g: idata[g].to_dataset() for g in keep})
    data = run_data(spec, runs, normalisation)
    observed = data.pop(f"{OBSERVED}_observed")
    coords = {RUN: np.arange(runs.n_runs)}
    tree["observed_data"] = xr.DataTree(xr.Dataset({OBSERVED: (RUN, observed)}, coords=coords))
    tree["constant_data"] = xr.DataTree(xr.Dataset({k: (RUN, v) for k, v in data.items()}, coords=coords))
    log_likelihood = pointwise_log_likelihood(
        tree.posterior.to_dataset(), tree.constant_data.to_dataset(), tree.observed_data[OBSERVED], spec
    )
    tree["log_likelihood"] = xr.DataTree(xr.Dataset({OBSERVED: log_likelihood}))
    table = runs.table.copy()
    for column in table.columns:
        if table[column].dtype == object or str(table[column].dtype) in ("string", "str"):
            table[column] = table[column].astype(str)
    tree["runs"] = xr.DataTree(xr.Dataset.from_dataframe(table.rename_axis(RUN)))
    centred = centred_parameters(spec, len(runs.distributions))
    if centred:  # the coordinates the draws were made in, for the curious and for refits
        used = model_data(spec, runs, normalisation, centring=chosen.centring)  # the spec's where none given
        centring = {name: (DISTRIBUTION, used[centring_name(name)]) for name in centred}
        tree["centring"] = xr.DataTree(xr.Dataset(centring, coords={DISTRIBUTION: list(runs.distributions)}))
    return tree


def pointwise_log_likelihood(
    posterior: xr.Dataset,
    constant_data: xr.Dataset,
    observed: xr.DataArray,
    spec: ModelSpec,
    block: int = POINTWISE_BLOCK,
) -> xr.DataArray:
    """log p(log loss of each run | draw), dims (chain, draw, run), for PSIS-LOO.

    The same likelihood as the model (Student-t on log loss around the law), evaluated in
    numpy from the law's one formula: no second PyTensor compilation after sampling.
    ``block``: values computed at once (the result does not depend on it).
    """
    index = constant_data["distribution_index"].values.astype(int)
    shape = (posterior.sizes["chain"], posterior.sizes["draw"])
    names = (*spec.law.parameters, "sigma")
    draws = {name: flat(posterior[name]) for name in names}
    indices = {name: index if DISTRIBUTION in posterior[name].dims else None for name in names}
    inputs = [constant_data[f"log_{name}"].values for name in spec.law.inputs]
    log_density = np.empty((shape[0] * shape[1], len(index)))
    # In blocks of draws that stay in the processor's cache: at 7,680 runs x 4,000 draws the
    # whole array at once took 4x as long (the memory traffic of each elementwise step).
    block = max(1, block // len(index))
    for start in range(0, len(log_density), block):
        part = slice(start, start + block)
        at_runs = {name: gather(draws[name][part], indices[name]) for name in names}
        sigma = at_runs.pop("sigma")
        mean = spec.law.log_loss(*inputs, **at_runs)
        log_density[part] = spec.likelihood.log_density(observed.values, mean, sigma)
    return xr.DataArray(
        log_density.reshape(*shape, len(index)),
        dims=("chain", "draw", RUN),
        coords={"chain": posterior.chain, "draw": posterior.draw},
    )
