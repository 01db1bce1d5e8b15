"""Prototype, not part of the package: a Kennedy-O'Hagan discrepancy on lin2024's log loss.

An HSGP (ExpQuad, written out the way ``pm.gp.HSGP.prior_linearized`` writes it) over
normalised log fine-tuning tokens, one function per curve, with the amplitude and length
scale shared by all curves. It is added to the law's log loss inside the package's own
model by wrapping ``bayes_scaling.model._gathered_logs``, a private function. That is why
this is a prototype and not a spec option.

With ``--project K``, each basis function has its least-squares fit by a polynomial of
degree K on the fitted runs removed (an orthogonal discrepancy, Plumlee 2017). The GP then
cannot mimic the law's own level and slope, so it does not trade off against B and D_l.

It backtests the largest third of fine-tuning and prints coverage, width, error and health.

    cd benchmarks && ../.venv/bin/python hsgp_prototype.py flan --basis 8 --project 2
    cd benchmarks && ../.venv/bin/python hsgp_prototype.py gigaword --no-gp   # law only

Results: RESULTS.md, "The HSGP discrepancy with a basis the law cannot mimic".
"""

from __future__ import annotations

import argparse
import dataclasses
import time
import warnings

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
from backtest_real import lin2024_runs

import bayes_scaling as bs
import bayes_scaling.model as model_module
from bayes_scaling.backtest import holdout_mask


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("table", choices=["flan", "gigaword"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--basis", type=int, default=15, help="HSGP basis functions")
    parser.add_argument("--project", type=int, default=0, help="degree of the polynomial removed (0: none)")
    parser.add_argument("--no-gp", action="store_true", help="the law alone, for the baseline")
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    runs = lin2024_runs(args.table)
    spec = bs.load_spec("rectified")
    spec = dataclasses.replace(spec, discrepancy=dataclasses.replace(spec.discrepancy, method="none"))
    held = holdout_mask(runs, largest=("finetune_tokens", 0.34))
    kept, future = runs[~held].reset_index(drop=True), runs[held].reset_index(drop=True)
    column = spec.law.inputs[0]
    reference = float(np.mean(np.log(kept[column][kept[column] > 0])))
    half_width = 1.3 * np.abs(np.log(runs[column].to_numpy(float)) - reference).max()
    frequencies = np.pi * np.arange(1, args.basis + 1) / (2 * half_width)

    def polynomial(x, lib=np):
        return lib.stack([x**k for k in range(args.project + 1)], axis=1)

    def raw_basis(x, lib=np):
        return lib.sin(frequencies[None, :] * (x[:, None] + half_width)) / np.sqrt(half_width)

    fitted_x = np.log(kept[column].to_numpy(float)) - reference
    removed = (
        np.linalg.lstsq(polynomial(fitted_x), raw_basis(fitted_x), rcond=None)[0] if args.project else None
    )

    def basis(x, lib=np):
        return raw_basis(x, lib) - polynomial(x, lib) @ removed if args.project else raw_basis(x, lib)

    def sqrt_spectral_density(amplitude, length_scale, lib=np):
        return amplitude * lib.sqrt(
            np.sqrt(2 * np.pi) * length_scale * lib.exp(-0.5 * (length_scale * frequencies) ** 2)
        )

    law_only = model_module._gathered_logs

    def with_discrepancy(log_loss):
        model = pm.modelcontext(None)
        amplitude = pm.HalfNormal("gp_amplitude", 0.05)
        length_scale = pm.LogNormal("gp_length_scale", np.log(3.0), 0.5)
        coefficients = pm.Normal(
            "gp_z", 0, 1, shape=(len(model.coords[model_module.DISTRIBUTION]), args.basis)
        )
        phi = basis(model[f"log_{column}"], pt)
        weights = sqrt_spectral_density(amplitude, length_scale, pt)[None, :]
        return law_only(log_loss) + (phi * weights * coefficients[model["distribution_index"]]).sum(axis=1)

    if not args.no_gp:
        model_module._gathered_logs = with_discrepancy
    start = time.perf_counter()
    fit = bs.fit(kept, spec, seed=args.seed, warn=False, progress=False)
    seconds = time.perf_counter() - start
    assert abs(fit.normalisation.log_refs[column] - reference) < 1e-9  # the basis's coordinates are the fit's

    log_predicted = np.log(
        bs.predict(fit, future.drop(columns="loss"), discrepancy=False)["loss_observed"].values
    )
    learned = ""
    if not args.no_gp:
        posterior = fit.idata.posterior
        amplitude = posterior["gp_amplitude"].values.reshape(-1)
        length_scale = posterior["gp_length_scale"].values.reshape(-1)
        coefficients = posterior["gp_z"].values.reshape(len(amplitude), -1, args.basis)
        curve = pd.Index(fit.distributions).get_indexer(future.distribution.astype(str))
        weights = sqrt_spectral_density(amplitude[:, None], length_scale[:, None])
        phi = basis(np.log(future[column].to_numpy(float)) - reference)
        log_predicted = log_predicted + np.einsum("pm,sm,spm->sp", phi, weights, coefficients[:, curve, :])
        learned = f"amplitude {np.median(amplitude):.4f}, length scale {np.median(length_scale):.2f} e-folds"
    # scored as bayes_scaling.backtest.score_bands scores the package's bands, so that the
    # figures stand beside benchmarks/misfit.py's: width (upper - lower) / median
    lower, median, upper = np.exp(np.quantile(log_predicted, [0.05, 0.5, 0.95], axis=0))
    observed = future.loss.to_numpy(float)
    cover = np.mean((lower <= observed) & (observed <= upper))
    width = np.median((upper - lower) / median)
    error = np.median(np.abs(np.log(observed / median)))
    what = "law only" if args.no_gp else f"HSGP {args.basis} functions, degree {args.project} removed"
    print(
        f"{args.table}, {what}, seed {args.seed}: cover90 {cover:.3f}, width {width:.1%}, "
        f"median error {error:.1%}, {seconds:.0f} s; {learned}\n{fit.diagnostics}"
    )


if __name__ == "__main__":
    main()
