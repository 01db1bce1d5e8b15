"""Which runs to pay for next: candidate runs ranked by what they are worth per unit of cost.

A run is worth what seeing its loss would change: the predictive uncertainty at a target
grid (``objective="prediction"``: the expected 90% interval score of the bands of new runs
there, the law's misfit included), or the regret of a decision among actions
(``objective="decision"``, the value of sample information, as
:func:`bayes_scaling.decide.evaluate_experiment` computes it for one run). Neither refits:
each candidate's loss is imagined in ``scenarios`` ways from the posterior predictive (a
draw taken as the truth, its law, misfit and noise), and the posterior draws are
reweighted by how likely each imagined outcome is under them (importance weights). A run
also moves the edge of the data: targets past it come nearer, and the misfit past the data
the bands include shrinks with the distance (:mod:`bayes_scaling.discrepancy`).

A batch of k is chosen greedily, each pick's value given the earlier picks with their
outcomes imagined in the same scenarios (a run beside one already chosen adds little), so
the k are not redundant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
from scipy import special, stats

from .data import DISTRIBUTION, BayesScalingError
from .decide import check_actions, portfolio_losses, portfolio_weights
from .discrepancy.distance import directions, log_coordinates
from .laws import Law
from .prediction import law_error, law_offset, observation_noise, point_parameters

if TYPE_CHECKING:
    from .decide import PerDistribution
    from .result import Fit

# E[interval score] of a central 90% Normal band per unit of its sd: 2 z + (2 / alpha) x
# E[distance outside] = 2(1.645) + 20 x 2(phi(z) - z(1 - Phi(z))) = 4.125
INTERVAL_SCORE_PER_SD = float(
    2 * stats.norm.isf(0.05) + 20 * 2 * (stats.norm.pdf(stats.norm.isf(0.05)) - stats.norm.isf(0.05) * 0.05)
)
NEXT_COLUMNS = ("cost", "value", "value_per_cost")


def default_cost(law: Law, table: pd.DataFrame) -> np.ndarray:
    """A run's compute under ``law``: 6 N D for a law with model size (``params``) and tokens
    (D the sum of its token inputs), else the tokens it trains on (pre-training plus
    fine-tuning)."""
    tokens = sum(table[name].to_numpy(float) for name in law.inputs if name != "params")
    return 6.0 * table["params"].to_numpy(float) * tokens if "params" in law.inputs else tokens


def next_runs(
    fit: Fit,
    candidates: pd.DataFrame,
    target: pd.DataFrame | None = None,
    *,
    k: int = 4,
    cost: str | None = None,
    budget: float | None = None,
    objective: Literal["prediction", "decision"] = "prediction",
    actions: pd.DataFrame | None = None,
    weights: PerDistribution | None = None,
    pretrain_price: float | None = None,
    finetune_price: float | PerDistribution | None = None,
    scenarios: int = 64,
    max_draws: int = 500,
    seed: int = 0,
) -> pd.DataFrame:
    """The ``k`` candidate runs worth most per unit of cost, first chosen first.

    ``candidates``: one row per run that could be trained (``distribution`` and the law's
    inputs; other columns are kept). ``target``: the grid whose predictions matter
    (``distribution`` and the law's inputs), for ``objective="prediction"``; ``actions``
    (with ``weights`` and prices, as :func:`bayes_scaling.rank_actions` takes them) for
    ``objective="decision"``. ``cost``: a column of ``candidates`` (default
    :func:`default_cost`, the run's compute). ``budget``: the most the picks may cost
    together (fewer than ``k`` are chosen when no candidate left fits). Returns the chosen
    rows with ``cost``,
    ``value`` (what the pick adds given the earlier ones: the expected drop of the mean 90%
    interval score on log loss at the target, or of the decision's expected regret in
    portfolio loss units) and ``value_per_cost``; ``attrs`` hold the score before and after
    and the smallest effective sample size of the importance weights (below ~50 the values
    are rough: refit to check).
    """
    candidates = _checked_rows(fit, candidates, "candidates")
    if k < 1 or k > len(candidates):
        raise BayesScalingError(f"k must be between 1 and the {len(candidates)} candidates, got {k}")
    costs = _costs(fit, candidates, cost)
    if budget is not None and not budget >= costs.min():
        raise BayesScalingError(f"budget {budget:g} buys no candidate: the cheapest costs {costs.min():g}")
    rng = np.random.default_rng(seed)
    draws = _thinned(fit, max_draws, rng)
    outcomes = _imagined_outcomes(fit, candidates, draws, scenarios, rng)  # (J, S, C) log densities
    if objective == "prediction":
        if target is None:
            raise BayesScalingError(
                "objective 'prediction' needs a target grid (distribution and the law's inputs)"
            )
        score = _PredictionScore(fit, _checked_rows(fit, target, "target", in_data_allowed=False), draws)
    elif objective == "decision":
        if actions is None:
            raise BayesScalingError("objective 'decision' needs actions (as rank_actions takes them)")
        chosen_actions = check_actions(fit, actions, pretrain_price, finetune_price)
        losses = portfolio_losses(
            fit, chosen_actions.add_pretrain, chosen_actions.add_finetune, portfolio_weights(fit, weights)
        )[0][draws]
        score = _DecisionScore(losses)
    else:
        raise BayesScalingError(f"objective must be 'prediction' or 'decision', got {objective!r}")
    picked, values, least_ess = [], [], np.inf
    base = np.zeros(outcomes.shape[:2])
    before = current = score(base[:1], [])
    spent = 0.0
    for _ in range(k):
        left = [c for c in range(len(candidates)) if c not in picked]
        if budget is not None:
            left = [c for c in left if spent + costs[c] <= budget]
            if not left:
                break
        trial = np.array([score(base + outcomes[:, :, c], [*picked, c], candidates) for c in left])
        gains = current - trial
        best = int(np.argmax(gains / costs[left]))
        picked.append(left[best])
        spent += costs[left[best]]
        values.append(float(gains[best]))
        current = float(trial[best])
        base = base + outcomes[:, :, left[best]]
        least_ess = min(least_ess, _ess(base))
    chosen = candidates.iloc[picked].reset_index(drop=True)
    chosen["cost"] = costs[picked]
    chosen["value"] = values
    chosen["value_per_cost"] = chosen.value / chosen.cost
    chosen.attrs = {
        "objective": objective,
        "score_before": float(before),
        "score_after": float(current),
        "min_weight_ess": float(least_ess),
        "score": "mean 90% interval score on log loss at the target"
        if objective == "prediction"
        else "expected regret of the decision (portfolio loss)",
    }
    return chosen


def target_score(fit: Fit, target: pd.DataFrame, *, max_draws: int = 500, seed: int = 0) -> float:
    """The score ``next_runs`` lowers, as the fit stands: the mean expected 90% interval score
    on log loss of new runs' bands at the ``target`` rows (4.125 times the predictive sd,
    misfit and noise included). A refit's score against the fit's says what runs were worth."""
    target = _checked_rows(fit, target, "target")
    draws = _thinned(fit, max_draws, np.random.default_rng(seed))
    return _PredictionScore(fit, target, draws)(np.zeros((1, len(draws))), [])


def _checked_rows(fit: Fit, table: pd.DataFrame, what: str, in_data_allowed: bool = True) -> pd.DataFrame:
    """``table`` with a known ``distribution`` and positive law inputs on every row; errors
    name the row and the column."""
    needed = [DISTRIBUTION, *fit.law.inputs]
    missing = [name for name in needed if name not in table]
    if missing:
        raise BayesScalingError(
            f"{what}: missing column(s) {', '.join(missing)}; the law needs {', '.join(needed)}"
        )
    table = table.reset_index(drop=True)
    unknown = ~table[DISTRIBUTION].astype(str).isin(fit.distributions)
    if unknown.any():
        row = int(np.flatnonzero(unknown)[0])
        raise BayesScalingError(
            f"{what} row {row}: distribution {table[DISTRIBUTION].iloc[row]!r} is not in the fit "
            f"({', '.join(fit.distributions)})"
        )
    for name in fit.law.inputs:
        _positive(table, name, what, "runs are described by the law's inputs, each above 0")
    if not in_data_allowed:
        inside = _in_data(fit, table)
        if inside.any():
            row = int(np.flatnonzero(inside)[0])
            raise BayesScalingError(
                f"{what} row {row}: its inputs are those of a fitted run of "
                f"{table[DISTRIBUTION].iloc[row]!r}; a target is where the runs are not yet"
            )
    return table


def _in_data(fit: Fit, table: pd.DataFrame) -> np.ndarray:
    """Whether each row has the distribution and inputs (to 9 significant figures) of a fitted run."""

    def keys(frame: pd.DataFrame) -> pd.DataFrame:
        rounded = {name: np.round(np.log(frame[name].to_numpy(float)), 9) for name in fit.law.inputs}
        return pd.DataFrame({DISTRIBUTION: frame[DISTRIBUTION].astype(str).to_numpy(), **rounded})

    seen = keys(fit.runs).drop_duplicates().assign(_fitted=True)
    return keys(table).merge(seen, how="left")["_fitted"].fillna(False).to_numpy(bool)


def _costs(fit: Fit, candidates: pd.DataFrame, column: str | None) -> np.ndarray:
    if column is None:
        return default_cost(fit.law, candidates)
    if column not in candidates:
        raise BayesScalingError(
            f"cost column {column!r} is not in the candidates ({', '.join(candidates.columns)})"
        )
    return _positive(candidates, column, "candidates", "a run's cost must be a number above 0")


def _positive(table: pd.DataFrame, column: str, what: str, why: str) -> np.ndarray:
    """The column as numbers, or an error naming the first row where one is not above 0."""
    values = pd.to_numeric(table[column], errors="coerce").to_numpy(float)
    bad = ~np.isfinite(values) | (values <= 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise BayesScalingError(
            f"{what} row {row}, column {column!r}: {table[column].iloc[row]} is not above 0; {why}"
        )
    return values


def _thinned(fit: Fit, most: int, rng: np.random.Generator) -> np.ndarray:
    total = _total(fit)
    return np.sort(rng.choice(total, most, replace=False)) if total > most else np.arange(total)


def _imagined_outcomes(
    fit: Fit, candidates: pd.DataFrame, draws: np.ndarray, scenarios: int, rng: np.random.Generator
) -> np.ndarray:
    """log p(outcome_jc | draw s) for each scenario j, draw s and candidate c: in scenario j
    a draw taken as the truth gives every candidate its loss (law, misfit, noise)."""
    params = {name: value[draws] for name, value in point_parameters(fit, candidates).items()}
    log_inputs = [np.log(candidates[name].to_numpy(float))[None, :] for name in fit.law.inputs]
    log_mean = fit.law.log_loss(*log_inputs, **params)  # (S, C)
    # each draw carries its own law error, as in evaluate_experiment: an outcome then tells
    # about the law's parameters and its misfit together
    spread, sd = law_error(fit, candidates)
    sd = np.sqrt(sd**2 + (spread**2 - 1) * log_mean.var(axis=0))
    log_mean = log_mean + law_offset(fit, candidates) + sd * rng.standard_normal(log_mean.shape)
    labels = candidates[DISTRIBUTION].astype(str).to_numpy()
    sigma = np.broadcast_to(observation_noise(fit, labels, rng), (_total(fit), len(candidates)))[draws]
    truth = rng.integers(0, len(draws), scenarios)
    nu = fit.spec.likelihood.nu
    outcome = log_mean[truth] + sigma[truth] * rng.standard_t(nu, (scenarios, len(candidates)))  # (J, C)
    return fit.spec.likelihood.log_density(outcome[:, None, :], log_mean[None], sigma[None])


def _total(fit: Fit) -> int:
    posterior = fit.idata.posterior
    return posterior.sizes["chain"] * posterior.sizes["draw"]


def _weights(log_weights: np.ndarray) -> np.ndarray:
    return np.exp(log_weights - special.logsumexp(log_weights, axis=1, keepdims=True))


def _ess(log_weights: np.ndarray) -> float:
    weights = _weights(log_weights)
    return float((1.0 / (weights**2).sum(axis=1)).min())


class _PredictionScore:
    """The expected mean 90% interval score at the target once the picked runs are seen:
    the reweighted spread of the law there (widened past the data where the fit learned so),
    the noise, and the misfit past the data, measured from the fitted range extended by the
    picked runs."""

    def __init__(self, fit: Fit, target: pd.DataFrame, draws: np.ndarray) -> None:
        self.fit, self.target = fit, target
        params = {name: value[draws] for name, value in point_parameters(fit, target).items()}
        log_inputs = [np.log(target[name].to_numpy(float))[None, :] for name in fit.law.inputs]
        self.log_law = fit.law.log_loss(*log_inputs, **params)  # (S, T)
        labels = target[DISTRIBUTION].astype(str).to_numpy()
        sigma = observation_noise(fit, labels, np.random.default_rng(0))
        nu = fit.spec.likelihood.nu
        self.noise = np.broadcast_to(sigma**2, (sigma.shape[0], len(target))).mean(axis=0) * nu / (nu - 2)
        self.labels = labels
        self.names = directions(fit.law.inputs)
        coordinates = log_coordinates(target, fit.law.inputs)
        self.coordinates = np.column_stack([coordinates[name] for name in self.names])  # (T, K)
        ranges = fit.fitted_ranges.reindex(labels)
        self.low = np.column_stack([ranges[f"log_{name}_min"].to_numpy(float) for name in self.names])
        self.high = np.column_stack([ranges[f"log_{name}_max"].to_numpy(float) for name in self.names])
        self.points = {name: target[name].to_numpy(float) for name in fit.law.inputs}

    def _misfit(self, picked: list[int], candidates: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray]:
        low, high = self.low.copy(), self.high.copy()
        if picked:
            rows = candidates.iloc[picked]
            coordinates = log_coordinates(rows, self.fit.law.inputs)
            added = np.column_stack([coordinates[name] for name in self.names])
            for label, point in zip(rows[DISTRIBUTION].astype(str), added, strict=True):
                mine = self.labels == label
                low[mine] = np.minimum(low[mine], point)
                high[mine] = np.maximum(high[mine], point)
        x = self.coordinates
        beyond = np.where(np.isfinite(x), np.maximum(x - high, 0.0) + np.maximum(low - x, 0.0), 0.0)
        discrepancy, inputs = self.fit.discrepancy, self.fit.law.inputs
        spread = discrepancy.parameter_spread(beyond, inputs)
        return spread, discrepancy.law_error_sd(beyond, inputs, self.labels, self.points)

    def __call__(
        self, log_weights: np.ndarray, picked: list[int], candidates: pd.DataFrame | None = None
    ) -> float:
        weights = _weights(log_weights)  # (J, S)
        mean = weights @ self.log_law
        variance = np.clip(weights @ self.log_law**2 - mean**2, 0.0, None)  # (J, T)
        spread, sd = self._misfit(picked, candidates)
        total = spread**2 * variance + self.noise + sd**2
        return INTERVAL_SCORE_PER_SD * float(np.sqrt(total).mean())


class _DecisionScore:
    """The expected regret of the decision taken now, once the picked runs are seen: E_y[E[L(a_now) | y]
    - min_a E[L(a) | y]] is what seeing them is worth; the score is the regret left, the
    prior regret minus that."""

    def __init__(self, losses: np.ndarray) -> None:
        self.losses = losses  # (S, A)
        self.now = int(losses.mean(axis=0).argmin())
        self.prior_regret = float((losses[:, self.now] - losses.min(axis=1)).mean())

    def __call__(
        self, log_weights: np.ndarray, picked: list[int], candidates: pd.DataFrame | None = None
    ) -> float:
        expected = _weights(log_weights) @ self.losses  # (J, A)
        worth = float((expected[:, self.now] - expected.min(axis=1)).mean())
        return self.prior_regret - worth
