"""Forms of the law's misfit past the data, compared on the same refits (issue 27).

    .venv/bin/python benchmarks/misfit_variants.py record [--only ...] [--out DIR]
    .venv/bin/python benchmarks/misfit_variants.py score [--out DIR]

``record`` runs the backtests of ``benchmarks/misfit.py`` and keeps, for each, what every
form of misfit needs: the leave-future-out refits' draws of the law at their held-out runs
(and the noise scale's), and the backtest's refit's draws at the runs it predicts, with
each run's observed log loss and its distances past the data along every direction. Files
go to ``DIR`` (default ``/tmp/bayes-scaling-misfit-variants``): they derive from the
development tables and stay out of the repository.

``score`` learns each form from the leave-future-out draws, as ``learn_discrepancy`` does,
and scores the 90% bands it gives the backtest's held-out runs (draws of the law, plus the
fit's Student-t noise, plus Normal(0, law error) on log loss), so forms are compared on the
same fits without refitting. The form ``additive`` is the package's; its coverage here
matches ``misfit.py``'s up to Monte Carlo error.
"""

from __future__ import annotations

import argparse
import importlib
import pickle
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from misfit import FIT_OPTIONS, cases  # noqa: I001  (run from benchmarks/)
from scipy import optimize, stats

import bayes_scaling as bs
from bayes_scaling import discrepancy
from bayes_scaling.discrepancy import (
    GROWTH_POWERS,
    directions,
    distances_beyond,
    evidence_weight,
    fitted_ranges,
    gain_threshold,
)
from bayes_scaling.model import OBSERVED
from bayes_scaling.predict import _distances_beyond, predict

fit_module = importlib.import_module("bayes_scaling.fit")  # the module, not bs.fit
OUT = Path("/tmp/bayes-scaling-misfit-variants")
RECORDED: dict = {}


def _recording_heldout_errors(posterior, spec, data, held):
    """discrepancy._heldout_errors, keeping the law's draws and the noise's at the held runs."""
    index = data["distribution_index"][held]

    def per_run(name):
        value = posterior[name].stack(sample=("chain", "draw")).transpose("sample", ...).values
        return value[:, index] if value.ndim == 2 else value[:, None]

    log_inputs = [data[f"log_{name}"][held][None, :] for name in spec.law.inputs]
    law = spec.law.log_loss(*log_inputs, **{name: per_run(name) for name in spec.law.parameters})
    RECORDED.setdefault("calls", []).append(
        {
            "held": held.copy(),
            "index": index,
            "law": law.astype(np.float32),
            "sigma": per_run("sigma").astype(np.float32),
            "observed": data[f"{OBSERVED}_observed"][held],
        }
    )
    return _HELDOUT_ERRORS(posterior, spec, data, held)


_HELDOUT_ERRORS = discrepancy._heldout_errors
_LEARN = fit_module.learn_discrepancy


def _recording_learn(spec, runs, *args, **kwargs):
    RECORDED["table"] = runs.table.copy()
    RECORDED["inputs"] = spec.law.inputs
    RECORDED["nu"] = spec.likelihood.nu
    RECORDED["distributions"] = np.asarray(runs.distributions).astype(str)
    return _LEARN(spec, runs, *args, **kwargs)


def record(only: list[str], simulated_seeds: int, out: Path) -> None:
    discrepancy._heldout_errors = _recording_heldout_errors
    fit_module.learn_discrepancy = _recording_learn
    out.mkdir(parents=True, exist_ok=True)
    warnings.simplefilter("ignore", bs.SamplingWarning)
    for number, (table, load, model, holdout) in enumerate(cases(only, simulated_seeds)):
        RECORDED.clear()
        result = bs.backtest(load(), model, seed=0, **holdout, **FIT_OPTIONS.get(table, {}))
        fit = result.fit
        inputs = RECORDED["inputs"]
        training = RECORDED["table"]
        cuts = discrepancy.leave_future_out_cuts(training, inputs, max(fit.spec.min_runs_per_distribution, 2))
        refits = []
        for (direction, held), call in zip(cuts.items(), RECORDED["calls"][1:], strict=True):
            assert (held == call["held"]).all()
            ranges = fitted_ranges(training[~held], inputs)
            refits.append(
                call
                | {
                    "direction": direction,
                    "beyond": distances_beyond(training[held], ranges, inputs),
                    "labels": RECORDED["distributions"][call["index"]],
                }
            )
        grid = result.runs[[*inputs, "distribution"]].reset_index(drop=True)
        plain = predict(fit, grid, discrepancy=False, seed=0)
        law = np.log(plain["loss"].values)
        case = {
            "table": table,
            "held_out": result.holdout,
            "inputs": inputs,
            "nu": RECORDED["nu"],
            "misfit": dict(fit.discrepancy.misfit),
            "misfit_gains": dict(fit.discrepancy.misfit_gains),
            "refits": refits,
            "labels": grid["distribution"].astype(str).to_numpy(),
            "law": law.astype(np.float32),
            "noise": (np.log(plain["loss_observed"].values) - law).astype(np.float32),
            "observed": np.log(result.runs["loss"].to_numpy(float)),
            "beyond": _distances_beyond(fit, grid),
            "package": result.summary.set_index("distribution").loc["all"].to_dict(),
        }
        with open(out / f"{number:02d}.pkl", "wb") as handle:
            pickle.dump(case, handle)
        print(
            f"{table} ({result.holdout}): recorded {len(refits)} refits, {len(grid)} held-out runs",
            flush=True,
        )


# -- forms of the misfit past the data ------------------------------------------------------


def _t_loglik(residual, variance, nu):
    return stats.t.logpdf(residual, nu, scale=np.sqrt(variance)).sum()


def _moments(call, misfit):
    """Residual of each held-out run from the refit's mean, its parameter variance and noise."""
    law = call["law"].astype(float)
    nu = call["nu"]
    residual = call["observed"] - law.mean(axis=0)
    noise = (call["sigma"].astype(float) ** 2).mean(axis=0) * nu / (nu - 2)
    return residual, law.var(axis=0), noise + misfit


def _fit_scale(residual, variance_of, threshold, nu):
    """Best positive scale c for variance_of(c) by t likelihood, and its gain over c = 0."""
    at_zero = _t_loglik(residual, variance_of(0.0), nu)
    result = optimize.minimize_scalar(
        lambda log_c: -_t_loglik(residual, variance_of(np.exp(log_c)), nu),
        bounds=(np.log(1e-6), np.log(100.0)),
        method="bounded",
    )
    gain = max(-result.fun - at_zero, 0.0)
    return (float(np.exp(result.x)) if gain > threshold else 0.0), gain


def _additive(residual, base, distance, threshold, nu, powers, with_gain=False):
    """(scale, power) of an additive misfit s d^q over the variance ``base``; 0 unless it passes."""
    scale, gain = _fit_scale(residual, lambda c, b=base, d=distance: b + (c * d) ** 2, threshold, nu)
    power, best = 1.0, gain
    if scale > 0:
        best = -np.inf
        for q in powers:
            s, g = _fit_scale(residual, lambda c, q=q, b=base, d=distance: b + (c * d**q) ** 2, -1, nu)
            if g > best:
                best, scale, power = g, s, q
    return (scale, power, best) if with_gain else (scale, power)


def learn(case, form: str, verbose: bool = False) -> list[tuple[str, str, float, float]]:
    """The form's parameters, (direction, kind, scale, power) each, learned from the
    leave-future-out refits."""
    names = directions(case["inputs"])
    threshold = gain_threshold(len(case["refits"]))
    nu = case["nu"]
    learned = []
    for refit in case["refits"]:
        misfit = np.array([case["misfit"].get(str(d), 0.0) ** 2 for d in refit["labels"]])
        residual, parameter_var, other_var = _moments(refit | {"nu": nu}, misfit)
        distance = refit["beyond"][:, names.index(refit["direction"])]
        factor = 0.0
        # the held-out runs come from under half the distributions: a widened spread learned
        # from them is no measure of the table's (those of the backtest's stand for all)
        few = 2 * len(set(map(str, refit["labels"]))) < len(set(case["labels"]))
        if form == "soft":  # every gain weighs in, by its posterior odds against none
            inflation, inflation_gain = _fit_scale(
                residual, lambda c, p=parameter_var, o=other_var: (1 + c) ** 2 * p + o, -1, nu
            )
            base = parameter_var + other_var
            scale, power = _additive(residual, base, distance, -1, nu, GROWTH_POWERS)
            gain = _fit_scale(residual, lambda c, b=base, d=distance: b + (c * d) ** 2, -1, nu)[1]
            if inflation_gain > gain and not few:
                weight = evidence_weight(inflation_gain, threshold)
                effective = np.sqrt(weight * (1 + inflation) ** 2 + 1 - weight) - 1
                learned.append((refit["direction"], "inflation", effective, 1.0))
            else:
                weight = evidence_weight(gain, threshold)
                learned.append((refit["direction"], "additive", np.sqrt(weight) * scale, power))
            continue
        if form.startswith("chosen"):  # additive or inflation, whichever the held-out runs favour
            inflation, inflation_gain = _fit_scale(
                residual, lambda c, p=parameter_var, o=other_var: (1 + c) ** 2 * p + o, threshold, nu
            )
            scale, power, gain = _additive(
                residual, parameter_var + other_var, distance, threshold, nu, GROWTH_POWERS, True
            )
            # chosen+M: the widened spread must beat the scale by M in log likelihood
            margin = float(form.partition("+")[2] or 0.0)
            if verbose:
                share = parameter_var.sum() / (residual**2).sum()
                print(
                    f"  {case['table']} {refit['direction']}: additive gain {gain:.2f} (scale {scale:.3f}"
                    f" d^{power}), spread gain {inflation_gain:.2f} (x{1 + inflation:.2f}),"
                    f" parameter variance / squared error {share:.2f}, {len(residual)} runs of"
                    f" {len(set(map(str, refit['labels'])))} distributions"
                )
            few = few and form == "chosen_half"  # the other chosen forms take the spread anywhere
            if inflation_gain > gain + margin and not few:
                learned.append((refit["direction"], "inflation", inflation, 1.0))
            else:
                learned.append((refit["direction"], "additive", scale, power))
            continue
        if form == "joint":  # inflation and additive growth at once, by maximum likelihood
            at_zero = _t_loglik(residual, parameter_var + other_var, nu)
            best = (-np.inf, 0.0, 0.0, 1.0)
            for q in GROWTH_POWERS:

                def negative(x, q=q, p=parameter_var, o=other_var, d=distance, r=residual):
                    c, a = np.exp(x)
                    return -_t_loglik(r, (1 + c) ** 2 * p + o + (a * d**q) ** 2, nu)

                result = optimize.minimize(negative, x0=[np.log(0.5), np.log(0.02)], method="Nelder-Mead")
                if -result.fun > best[0]:
                    best = (-result.fun, *np.exp(result.x), q)
            if best[0] - at_zero > threshold:
                learned.append((refit["direction"], "inflation", best[1], 1.0))
                learned.append((refit["direction"], "additive", best[2], best[3]))
            continue
        if form in ("inflation", "inflation+additive"):  # parameter variance times (1 + c)^2
            factor, _ = _fit_scale(
                residual, lambda c, p=parameter_var, o=other_var: (1 + c) ** 2 * p + o, threshold, nu
            )
            learned.append((refit["direction"], "inflation", factor, 1.0))
        if form in ("additive", "additive_linear", "inflation+additive"):
            powers = (1.0,) if form == "additive_linear" else GROWTH_POWERS
            base = (1 + factor) ** 2 * parameter_var + other_var
            scale, power = _additive(residual, base, distance, threshold, nu, powers)
            learned.append((refit["direction"], "additive", scale, power))
    return learned


def law_error(case, learned):
    """(law error sd past the data, parameter spread factor) per held-out run."""
    names = directions(case["inputs"])
    beyond = case["beyond"]
    sd = np.zeros(len(beyond))
    factor = np.ones(len(beyond))
    for direction, kind, scale, power in learned:
        distance = beyond[:, names.index(direction)]
        if kind == "additive":
            sd = np.maximum(sd, scale * distance**power)
        else:
            factor = np.maximum(factor, np.where(distance > 0, 1 + scale, 1.0))
    return sd, factor


def score(case, learned, rng):
    law = case["law"].astype(float)
    sd, factor = law_error(case, learned)
    misfit = np.array([case["misfit"].get(str(d), 0.0) for d in case["labels"]])
    mean = law.mean(axis=0)
    draws = mean + factor * (law - mean) + case["noise"]
    draws = draws + np.sqrt(sd**2 + misfit**2) * rng.standard_normal(draws.shape)
    lower, median, upper = np.quantile(draws, [0.05, 0.5, 0.95], axis=0)
    covered = (case["observed"] >= lower) & (case["observed"] <= upper)
    return covered.mean(), np.median((np.exp(upper) - np.exp(lower)) / np.exp(median))


FORMS = (
    "additive",
    "additive_linear",
    "inflation",
    "inflation+additive",
    "chosen",
    "joint",
    "chosen+1",
    "chosen+2",
    "chosen_half",
    "soft",
)


def score_all(out: Path, forms: tuple[str, ...] = FORMS) -> None:
    rows = []
    for path in sorted(out.glob("*.pkl")):
        with open(path, "rb") as handle:
            case = pickle.load(handle)
        row = {"table": case["table"], "held_out": case["held_out"][:30]}
        row["package"] = f"{case['package']['coverage_90']:.3f}/{case['package']['median_width_90']:.3f}"
        for form in forms:
            learned = learn(case, form, verbose=form == "chosen")  # each refit's gains, once
            coverage, width = score(case, learned, np.random.default_rng(0))
            row[form] = f"{coverage:.3f}/{width:.3f}"
        rows.append(row)
        print(" | ".join(rows[-1].values()), flush=True)
    print(pd.DataFrame(rows).to_string(index=False))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("action", choices=["record", "score"])
    parser.add_argument(
        "--only", nargs="*", default=["mikami2021", "lin2024", "porian2024", "alabdulmohsin2022", "simulated"]
    )
    parser.add_argument("--simulated-seeds", type=int, default=12)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--forms", nargs="*", default=list(FORMS), choices=FORMS)
    args = parser.parse_args()
    if args.action == "record":
        record(args.only, args.simulated_seeds, args.out)
    else:
        score_all(args.out, tuple(args.forms))


if __name__ == "__main__":
    main()
