"""A fitted model: the ArviZ DataTree plus what prediction needs, saved to one file."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd
import xarray as xr

from .data import DISTRIBUTION, BayesScalingError
from .diagnostics import Diagnostics
from .discrepancy import Discrepancy, fitted_ranges
from .inference.settings import SamplerConfig
from .model import Normalisation
from .spec import GrowthPrior, ModelSpec, spec_from_json

FORMAT_VERSION = 1


@dataclass
class Fit:
    """A fitted model: the ArviZ DataTree plus what prediction needs.

    ``idata`` holds the groups ``posterior`` (parameters in normalised units),
    ``sample_stats``, ``log_likelihood``, ``observed_data``, ``constant_data`` and ``runs``
    (the validated input table, every column kept).
    """

    idata: xr.DataTree
    spec: ModelSpec
    normalisation: Normalisation
    distributions: tuple[str, ...]
    units: str = "tokens"  # what the input columns count
    loss_unit: str = "nats/token"  # what the loss measures
    diagnostics: Diagnostics | None = field(default=None)
    discrepancy: Discrepancy = field(default_factory=Discrepancy)  # how wrong the law may be past the data
    sampler: SamplerConfig = field(default_factory=SamplerConfig)  # how it was sampled

    @property
    def law(self):
        return self.spec.law

    @property
    def runs(self) -> pd.DataFrame:
        """The input table as validated (all columns, original order)."""
        return self.idata["runs"].to_dataset().to_dataframe().reset_index(drop=True)

    @functools.cached_property
    def fitted_ranges(self) -> pd.DataFrame:
        """Each distribution's range of the runs along every direction, and all runs' (``*``):
        what distances past the data are measured from (:func:`discrepancy.fitted_ranges`).
        Kept once made: ranking asks for it once per distribution."""
        return fitted_ranges(self.runs, self.law.inputs)

    def with_growth_prior(self, prior: GrowthPrior) -> Fit:
        """This fit with its misfit past the data taken from another corpus prior of its
        growth, updated by this fit's own leave-future-out errors, with no refit (see
        :meth:`Discrepancy.with_growth_prior`); its spec says the new prior."""
        spec = dataclasses.replace(
            self.spec, discrepancy=dataclasses.replace(self.spec.discrepancy, growth_prior=prior)
        )
        return dataclasses.replace(self, spec=spec, discrepancy=self.discrepancy.with_growth_prior(prior))

    def parameters(self, units: Literal["raw", "normalised"] = "raw") -> xr.Dataset:
        """Posterior draws of every law parameter, dims (chain, draw, distribution).

        Shared parameters are broadcast over distributions. ``raw`` gives the units of the
        law as written (token counts as in the data); ``normalised`` the sampler's units.
        """
        post = self.idata.posterior.to_dataset()
        dist = xr.DataArray(list(self.distributions), dims=DISTRIBUTION)
        values = {}
        for name in self.law.parameters:
            value = post[name]
            if DISTRIBUTION not in value.dims:
                value = value.expand_dims({DISTRIBUTION: dist}, axis=-1)
            values[name] = value.assign_coords({DISTRIBUTION: dist})
        if units == "raw":
            values = self.law.to_raw_units(values, self.normalisation.log_refs)
        return xr.Dataset(values)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the whole fit to one netCDF file, atomically (no half-written file)."""
        tree = self.idata.copy()
        tree.attrs.update(
            {
                "bayes_scaling_format": FORMAT_VERSION,
                "spec": self.spec.to_json(),
                "log_refs": json.dumps(self.normalisation.log_refs),
                "distributions": json.dumps(list(self.distributions)),
                "units": self.units,
                "loss_unit": self.loss_unit,
                "discrepancy": json.dumps(self.discrepancy.to_dict()),
                "sampler": json.dumps(dataclasses.asdict(self.sampler)),
                "diagnostics": json.dumps(self.diagnostics.to_dict()) if self.diagnostics else "{}",
            }
        )
        return write_atomically(path, lambda tmp: tree.to_netcdf(tmp, engine="h5netcdf"))

    @classmethod
    def load(cls, path: str | os.PathLike) -> Fit:
        """Read a fit written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise BayesScalingError(f"{path}: no such fit file")
        try:
            with xr.open_datatree(path, engine="h5netcdf") as tree:
                tree = tree.load()
        except Exception as err:  # h5py/netCDF raise many types for a foreign file
            raise BayesScalingError(f"{path}: not a bayes-scaling fit file ({err})") from None
        attrs = tree.attrs
        if "spec" not in attrs:
            raise BayesScalingError(f"{path}: a netCDF file, but not one written by bayes-scaling")
        diag = json.loads(attrs.get("diagnostics", "{}"))
        return cls(
            idata=tree,
            spec=spec_from_json(attrs["spec"]),
            normalisation=Normalisation(json.loads(attrs["log_refs"])),
            distributions=tuple(json.loads(attrs["distributions"])),
            units=attrs.get("units", "tokens"),
            loss_unit=attrs.get("loss_unit", "nats/token"),
            discrepancy=Discrepancy.from_dict(json.loads(attrs.get("discrepancy", "{}"))),
            diagnostics=Diagnostics.from_dict(diag) if diag else None,
            sampler=SamplerConfig(**json.loads(attrs.get("sampler", "{}"))),
        )


def write_atomically(path: str | os.PathLike, write) -> Path:
    """Call ``write(tmp_path)`` then move the result into place; nothing left on failure."""
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise BayesScalingError(f"{path}: folder {path.parent} does not exist")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        # mkstemp makes the file private (0600); a saved fit gets the mode any new file gets
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path
