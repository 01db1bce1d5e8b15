"""Decisions under uncertainty over a portfolio of distributions: rank data-collection
actions, allocate a budget, and value the next experiment by what it would change.

Pre-training is shared, fine-tuning is not (design §6): pre-training tokens feed the one
pre-trained model every distribution is fine-tuned from, so they move every distribution's
loss; fine-tuning tokens move only their own distribution's. The objective is the portfolio
loss sum_d w_d L_d with explicit weights. Everything is arrays over posterior draws: the law
is evaluated with numpy for all (draw, action) pairs; the PyMC model is never rebuilt.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .data import ALL_DISTRIBUTIONS, DISTRIBUTION, BayesScalingError, RunsValidationError, rows_where
from .draws import equal_tailed
from .prediction import (
    law_error,
    law_offset,
    observation_noise,
    point_parameters,
    with_law_error,
    within_loss_bounds,
)

if TYPE_CHECKING:
    from .result import Fit

PRETRAIN, FINETUNE = "pretrain_tokens", "finetune_tokens"
ADD_PRETRAIN, ADD_FINETUNE = "add_pretrain_tokens", "add_finetune_tokens"
ALL = ALL_DISTRIBUTIONS  # the distribution of a pure pre-training row: every distribution at once
RANK_COLUMNS = (
    "expected_loss",
    "loss_q",
    "loss_cvar",
    "expected_reduction",
    "reduction_per_cost",
    "p_best",
    "expected_regret",
)
DRAW_BLOCK = 256  # draws per block when evaluating the law over (draw, action) pairs
# The law's error (its learned misfit, see prediction.law_error) in a distribution's losses is
# one standard normal draw per posterior draw, shared by every action on that distribution:
# the law errs alike at nearby inputs, so actions differ by how far past the data they go,
# not by independent noise. Seeded per distribution, so rankings are reproducible.
LAW_ERROR_SEED = 27
FRAGILE_P_BEST = 0.8  # the most likely best action wins in fewer draws than this: fragile

# a portfolio's weights, or per-distribution prices: a mapping, a table or a CSV path
PerDistribution = Mapping[str, float] | pd.DataFrame | str | os.PathLike


def _require_transfer_inputs(fit: Fit) -> None:
    if set(fit.law.inputs) != {PRETRAIN, FINETUNE}:
        raise BayesScalingError(
            f"decisions act on pre-training and fine-tuning tokens; law {fit.law.name!r} takes "
            f"{', '.join(fit.law.inputs)}"
        )


def current_state(fit: Fit, state: pd.DataFrame | None = None) -> pd.DataFrame:
    """Where each distribution stands: ``distribution, pretrain_tokens, finetune_tokens``.

    By default the largest pre-training and the largest fine-tuning set seen in its runs
    (the model and data one already has); pass ``state`` to say otherwise.
    """
    if state is None:
        state = fit.runs.groupby(DISTRIBUTION, sort=False)[[PRETRAIN, FINETUNE]].max().reset_index()
    missing = [c for c in (DISTRIBUTION, PRETRAIN, FINETUNE) if c not in state]
    if missing:
        raise RunsValidationError([f"state: missing column {c!r}" for c in missing], "state")
    return state.set_index(DISTRIBUTION).reindex(list(fit.distributions)).reset_index()


def per_distribution(
    fit: Fit, values: PerDistribution, column: str, what: str, *, allow_zero: bool = True
) -> pd.Series:
    """A number per fitted distribution from a mapping, a table or a CSV ``distribution,<column>``.

    Distributions left out are missing (NaN); unknown ones, and values that are missing,
    negative (or zero where ``allow_zero`` is false), are one error naming each row.
    """
    if isinstance(values, Mapping):
        table = pd.DataFrame({DISTRIBUTION: list(values), column: list(values.values())})
    elif isinstance(values, pd.DataFrame):
        table = values
    else:
        try:
            table = pd.read_csv(values)
        except (OSError, ValueError, UnicodeDecodeError) as err:
            raise BayesScalingError(f"{what}: cannot read {values}: {err}") from None
    problems = [f"missing column {c!r}" for c in (DISTRIBUTION, column) if c not in table]
    if problems:
        raise RunsValidationError(problems + [f"expected columns: {DISTRIBUTION},{column}"], what)
    table = table.reset_index(drop=True)
    names = table[DISTRIBUTION].astype(str)
    number = pd.to_numeric(table[column], errors="coerce")
    unknown = ~names.isin(fit.distributions)
    if unknown.any():
        problems.append(
            f"{rows_where(unknown)}: distribution(s) {', '.join(map(repr, sorted(set(names[unknown]))))} "
            f"not in the fit (fitted: {', '.join(fit.distributions)})"
        )
    bad = number.isna() | ~np.isfinite(number) | (number < 0 if allow_zero else number <= 0)
    if bad.any():
        problems.append(
            f"{rows_where(bad)}: column {column!r} must be a number {'>=' if allow_zero else '>'} 0"
        )
    if names.duplicated().any():
        problems.append(f"distribution(s) listed twice: {sorted(set(names[names.duplicated()]))}")
    if problems:
        raise RunsValidationError(problems, what)
    return pd.Series(number.to_numpy(float), index=names.to_numpy()).reindex(list(fit.distributions))


def portfolio_weights(fit: Fit, weights: PerDistribution | None = None) -> pd.Series:
    """Weight of each fitted distribution in the objective sum_d w_d L_d.

    Default: equal weights 1/D, so the objective is the mean loss over distributions.
    Given weights are used as they are (not rescaled); a distribution left out has weight 0.
    """
    if weights is None:
        return pd.Series(1.0 / len(fit.distributions), index=list(fit.distributions))
    w = per_distribution(fit, weights, "weight", "weights").fillna(0.0)
    if not (w > 0).any():
        raise BayesScalingError("weights: no distribution has a weight > 0; the portfolio would be empty")
    return w


def finetune_prices(fit: Fit, finetune_price: float | PerDistribution | None) -> pd.Series | None:
    """Price per fine-tuning token of each distribution (one number for all, or per distribution)."""
    if finetune_price is None:
        return None
    if isinstance(finetune_price, (int, float)):
        if not np.isfinite(finetune_price) or finetune_price < 0:
            raise BayesScalingError(f"finetune price must be a number >= 0, got {finetune_price!r}")
        return pd.Series(float(finetune_price), index=list(fit.distributions))
    return per_distribution(fit, finetune_price, "finetune_price", "finetune prices")


@dataclass(frozen=True)
class Actions:
    """Candidate actions, one entry per action name (its rows summed).

    ``add_pretrain`` (A,) pre-training tokens for the shared model; ``add_finetune`` (A, D)
    fine-tuning tokens per fitted distribution; ``cost`` (A,); ``touched`` a label of the
    distributions whose fine-tuning data each action buys (``*`` for pre-training only).
    """

    names: list[str]
    add_pretrain: np.ndarray
    add_finetune: np.ndarray
    cost: np.ndarray
    touched: list[str]


def check_actions(
    fit: Fit,
    actions: pd.DataFrame,
    pretrain_price: float | None = None,
    finetune_price: float | PerDistribution | None = None,
) -> Actions:
    """Validate an action table and sum each action's rows.

    Rows: ``action, distribution, add_pretrain_tokens, add_finetune_tokens[, cost]``.
    ``distribution`` may be ``*`` or empty on a row that buys only pre-training tokens.
    Several rows with one action name make one action; its cost is the sum of its rows'
    costs, each row's from its ``cost`` cell when given, else from the prices.
    """
    actions = actions.reset_index(drop=True).copy()
    problems = [
        f"missing column {c!r}"
        for c in ("action", DISTRIBUTION, ADD_PRETRAIN, ADD_FINETUNE)
        if c not in actions
    ]
    if problems:
        raise RunsValidationError(problems, "actions")
    if actions.empty:
        raise RunsValidationError(["no actions: the table has no rows"], "actions")
    label = actions[DISTRIBUTION].fillna(ALL).astype(str).str.strip().replace("", ALL)
    pooled = label == ALL
    unknown = ~pooled & ~label.isin(fit.distributions)
    if unknown.any():
        problems.append(
            f"{rows_where(unknown)}: distribution(s) "
            f"{', '.join(map(repr, sorted(set(label[unknown]))))} not in the fit "
            f"(fitted: {', '.join(fit.distributions)}; use '*' for a pre-training-only row)"
        )
    numbers = {}
    for column in (ADD_PRETRAIN, ADD_FINETUNE):
        values = pd.to_numeric(actions[column], errors="coerce")
        bad = values.isna() | ~np.isfinite(values) | (values < 0)
        if bad.any():
            problems.append(f"{rows_where(bad)}: column {column!r} must be a number >= 0")
        numbers[column] = values.fillna(0.0).to_numpy(float)
    orphan = pooled & (numbers[ADD_FINETUNE] > 0)
    if orphan.any():
        problems.append(f"{rows_where(orphan)}: fine-tuning tokens need a distribution, not '*' or empty")
    name = actions["action"].astype(str)
    given = (
        pd.to_numeric(actions["cost"], errors="coerce")
        if "cost" in actions
        else pd.Series(np.nan, index=actions.index)
    )
    if "cost" in actions:
        bad = actions["cost"].notna() & (given.isna() | (given < 0))
        if bad.any():
            problems.append(f"{rows_where(bad)}: column 'cost' must be a number >= 0 (or empty: priced)")
    prices = finetune_prices(fit, finetune_price)
    needs_price = given.isna().to_numpy()
    if needs_price.any():
        if pretrain_price is None and (numbers[ADD_PRETRAIN][needs_price] > 0).any():
            problems.append(
                f"{rows_where(needs_price & (numbers[ADD_PRETRAIN] > 0))}: no cost and no price per "
                "pre-training token: give a 'cost' or --pretrain-price"
            )
        elif pretrain_price is not None and (not np.isfinite(pretrain_price) or pretrain_price < 0):
            problems.append(f"pretrain price must be a number >= 0, got {pretrain_price!r}")
        buys = needs_price & (numbers[ADD_FINETUNE] > 0)
        unpriced = buys & (label.map(prices).isna().to_numpy() if prices is not None else True)
        if unpriced.any():
            problems.append(
                f"{rows_where(unpriced)}: no cost and no price per fine-tuning token of "
                f"{', '.join(sorted(set(label[unpriced])))}: give a 'cost', --finetune-price "
                "or --finetune-prices"
            )
    if problems:
        raise RunsValidationError(problems, "actions")
    fine_price = label.map(prices).fillna(0.0).to_numpy(float) if prices is not None else 0.0
    priced = numbers[ADD_PRETRAIN] * (pretrain_price or 0.0) + numbers[ADD_FINETUNE] * fine_price
    row_cost = np.where(needs_price, priced, given.to_numpy(float))

    order = list(dict.fromkeys(name))  # first appearance
    index = pd.Index(order).get_indexer(name)
    columns = pd.Index(fit.distributions).get_indexer(label.where(~pooled, fit.distributions[0]))
    add_finetune = np.zeros((len(order), len(fit.distributions)))
    np.add.at(add_finetune, (index, columns), np.where(pooled, 0.0, numbers[ADD_FINETUNE]))
    add_pretrain = np.bincount(index, weights=numbers[ADD_PRETRAIN], minlength=len(order))
    cost = np.bincount(index, weights=row_cost, minlength=len(order))
    names = np.asarray(fit.distributions)
    touched = ["+".join(names[row > 0]) or ALL for row in add_finetune]
    return Actions(order, add_pretrain, add_finetune, cost, touched)


def portfolio_losses(
    fit: Fit,
    add_pretrain: np.ndarray,
    add_finetune: np.ndarray,
    weights: pd.Series,
    state: pd.DataFrame | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted portfolio loss per (draw, action) after each action, and per draw before.

    ``add_pretrain`` (A,) goes to every distribution (the shared pre-trained model);
    ``add_finetune`` (A, D) to each distribution's own data. Each distribution's loss is
    evaluated once per distinct (pre-training, fine-tuning) pair among the actions; the
    distributions are split between threads (numpy releases the GIL in its loops), each
    summing into its own array.
    """
    start = current_state(fit, state).set_index(DISTRIBUTION)
    names = [name for name in fit.distributions if weights[name] > 0]
    columns = pd.Index(fit.distributions).get_indexer(names)
    params = point_parameters(fit, pd.DataFrame({DISTRIBUTION: names}))  # (S, portfolio) each
    n_draws = next(iter(params.values())).shape[0]

    def evaluate(part: list[int]) -> tuple[np.ndarray, np.ndarray]:
        after, before = np.zeros((n_draws, len(add_pretrain))), np.zeros(n_draws)
        for j in part:
            name, p0, f0 = names[j], start.loc[names[j], PRETRAIN], start.loc[names[j], FINETUNE]
            pairs, inverse = np.unique(
                np.column_stack([add_pretrain, add_finetune[:, columns[j]]]), axis=0, return_inverse=True
            )
            column = {k: v[:, j : j + 1] for k, v in params.items()}
            log_p, log_f = np.log(p0 + pairs[:, 0])[None], np.log(f0 + pairs[:, 1])[None]
            inverse = inverse.ravel()
            pretrain, finetune = np.append(p0 + pairs[:, 0], p0), np.append(f0 + pairs[:, 1], f0)
            if (error := _law_error_where_learned(fit, name, pretrain, finetune)) is not None:
                spread, sd, offset = error  # the law's misfit, as predict draws it
                log_all = [np.log(pretrain)[None], np.log(finetune)[None]]
                standard = np.random.default_rng([LAW_ERROR_SEED, columns[j]]).standard_normal((n_draws, 1))
                centre = None
                if (spread > 1).any():  # the draws' mean, about which their spread is widened
                    centre = (
                        sum(
                            fit.law.log_loss(
                                *log_all, **{k: v[b : b + DRAW_BLOCK] for k, v in column.items()}
                            ).sum(axis=0)
                            for b in range(0, n_draws, DRAW_BLOCK)
                        )
                        / n_draws
                    )
                for block in range(0, n_draws, DRAW_BLOCK):
                    rows = slice(block, block + DRAW_BLOCK)
                    log_loss = fit.law.log_loss(*log_all, **{k: v[rows] for k, v in column.items()})
                    log_loss = with_law_error(log_loss, spread, sd, standard[rows], centre) + offset
                    loss = within_loss_bounds(fit, np.exp(log_loss))
                    after[rows] += weights[name] * loss[:, :-1][:, inverse]
                    before[rows] += weights[name] * loss[:, -1]
                continue
            # blocks of draws keep each step of the law's arithmetic inside the CPU cache
            for block in range(0, n_draws, DRAW_BLOCK):
                rows = slice(block, block + DRAW_BLOCK)
                loss = within_loss_bounds(
                    fit, fit.law.loss(log_p, log_f, **{k: v[rows] for k, v in column.items()})
                )
                after[rows] += weights[name] * loss[:, inverse]
            before += weights[name] * within_loss_bounds(
                fit, fit.law.loss(np.log(p0), np.log(f0), **{k: v[:, 0] for k, v in column.items()})
            )
        return after, before

    workers = max(1, min(os.cpu_count() or 1, len(names)))
    parts = [list(range(k, len(names), workers)) for k in range(workers)]
    if workers == 1:
        return evaluate(parts[0])
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(evaluate, parts))
    return sum(r[0] for r in results), sum(r[1] for r in results)


def _law_error_where_learned(
    fit: Fit, name: str, pretrain: np.ndarray, finetune: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """:func:`prediction.law_error` and :func:`prediction.law_offset` of distribution ``name``
    at these inputs, or None where the fit learned no misfit that reaches them (the fast
    path: the law alone)."""
    if not fit.discrepancy.learned:
        return None
    points = pd.DataFrame({DISTRIBUTION: name, PRETRAIN: pretrain, FINETUNE: finetune})
    spread, sd = law_error(fit, points)
    offset = law_offset(fit, points)
    return (spread, sd, offset) if (spread > 1).any() or (sd > 0).any() or offset.any() else None


def _tail(values: np.ndarray, quantile: float) -> tuple[np.ndarray, np.ndarray]:
    """The ``quantile`` of each column over draws and the mean beyond it (CVaR), one partition."""
    k = min(int(np.floor(quantile * values.shape[0])), values.shape[0] - 1)
    part = np.partition(values, k, axis=0)
    return part[k], part[k:].mean(axis=0)


def rank_actions(
    fit: Fit,
    actions: pd.DataFrame,
    *,
    weights: PerDistribution | None = None,
    quantile: float = 0.9,
    pretrain_price: float | None = None,
    finetune_price: float | PerDistribution | None = None,
    state: pd.DataFrame | None = None,
    sort_by: str | None = None,
) -> pd.DataFrame:
    """Rank candidate actions by the portfolio loss sum_d w_d L_d after each, over draws.

    An action's pre-training tokens lower every distribution's loss (one shared pre-trained
    model); its fine-tuning tokens lower their own distribution's. One row per action:
    ``action, distribution`` (those whose data it buys, ``*`` for none), the tokens it adds,
    ``cost``, ``expected_loss`` (expected portfolio loss after it), ``loss_q`` (its
    ``quantile`` over draws), ``loss_cvar`` (mean of the worst 1 - ``quantile`` of draws),
    ``expected_reduction`` with a 90% interval (``reduction_lower``, ``reduction_upper``),
    ``reduction_per_cost``, ``p_best`` (share of draws where it is best) and
    ``expected_regret`` (mean shortfall against each draw's best action). Losses are in the
    fit's loss units, weighted (default weights 1/D: the mean over distributions). Sorted by
    expected loss; ``table.attrs["note"]`` says when the decision is fragile.
    """
    _require_transfer_inputs(fit)
    if not 0 < quantile < 1:
        raise BayesScalingError(f"quantile must be between 0 and 1, got {quantile!r}")
    weight = portfolio_weights(fit, weights)
    chosen = check_actions(fit, actions, pretrain_price, finetune_price)
    after, before = portfolio_losses(fit, chosen.add_pretrain, chosen.add_finetune, weight, state)
    reduction = before[:, None] - after
    best = after.argmin(axis=1)
    table = pd.DataFrame(
        {
            "action": chosen.names,
            DISTRIBUTION: chosen.touched,
            ADD_PRETRAIN: chosen.add_pretrain,
            ADD_FINETUNE: chosen.add_finetune.sum(axis=1),
            "cost": chosen.cost,
            "expected_loss": after.mean(axis=0),
        }
    )
    table["loss_q"], table["loss_cvar"] = _tail(after, quantile)
    table["expected_reduction"] = reduction.mean(axis=0)
    table["reduction_lower"], table["reduction_upper"] = equal_tailed(reduction, 0.9)
    with np.errstate(divide="ignore", invalid="ignore"):
        table["reduction_per_cost"] = table["expected_reduction"] / table["cost"]
    table["p_best"] = np.bincount(best, minlength=len(chosen.names)) / after.shape[0]
    table["expected_regret"] = (after - after.min(axis=1, keepdims=True)).mean(axis=0)
    sort_by = sort_by or "expected_loss"
    if sort_by not in table:
        raise BayesScalingError(f"cannot sort by {sort_by!r}; use one of {', '.join(RANK_COLUMNS)}")
    ascending = sort_by in ("expected_loss", "loss_q", "loss_cvar", "expected_regret", "cost")
    table = table.sort_values(sort_by, ascending=ascending, kind="stable").reset_index(drop=True)
    leader = table.loc[table.p_best.idxmax()]
    table.attrs["note"] = (
        f"fragile: the most likely best action, {leader.action!r}, is best in only "
        f"{leader.p_best:.0%} of posterior draws; more runs may change the decision"
        if leader.p_best < FRAGILE_P_BEST
        else ""
    )
    table.attrs["weights"] = weight.to_dict()
    table.attrs["loss_unit"] = fit.loss_unit
    return table


@dataclass
class Allocation:
    """Best split of a budget across pre-training and each distribution's fine-tuning data.

    ``finetune_share`` is the share of the budget spent on each distribution's fine-tuning
    tokens (the rest buys pre-training tokens); ``loss_draws`` the portfolio loss per draw at
    that split; ``frontier`` the expected loss and its 90% band per candidate split;
    ``draw_optima`` the total fine-tuning share each posterior draw would pick; ``evpi`` the
    expected value of perfect information, E[L(x*)] - E[min_x L_s(x)], in loss units.
    """

    budget: float
    finetune_share: dict[str, float]
    add_pretrain_tokens: float
    add_finetune_tokens: dict[str, float]
    expected_loss: float
    loss_quantile: float
    loss_cvar: float
    loss_draws: np.ndarray
    draw_optima: np.ndarray
    evpi: float
    frontier: pd.DataFrame
    objective: str

    def summary(self) -> pd.DataFrame:
        rows = [
            {"distribution": d, "finetune_share": s, "add_finetune_tokens": self.add_finetune_tokens[d]}
            for d, s in self.finetune_share.items()
        ]
        table = pd.DataFrame(rows)
        table.attrs.update(add_pretrain_tokens=self.add_pretrain_tokens, evpi=self.evpi)
        return table


def _simplex_grid(k: int, steps: int, rng: np.random.Generator, n_random: int = 4000) -> np.ndarray:
    """Candidate shares (n, k + 1) summing to 1: pre-training share first, then fine-tuning."""
    if k == 1:
        x = np.linspace(0.0, 1.0, steps)
        return np.column_stack([1 - x, x])
    vertices = np.eye(k + 1)
    return np.vstack([vertices, rng.dirichlet(np.ones(k + 1), size=n_random)])


def allocate(
    fit: Fit,
    budget: float,
    pretrain_price: float,
    finetune_price: float | PerDistribution,
    *,
    weights: PerDistribution | None = None,
    distributions: list[str] | None = None,
    quantile: float | None = None,
    state: pd.DataFrame | None = None,
    steps: int = 201,
    seed: int = 0,
) -> Allocation:
    """Split ``budget`` jointly across pre-training and every portfolio distribution's
    fine-tuning data to minimise the expected portfolio loss (or its ``quantile``).

    The portfolio is ``weights`` (default equal), or equal weights over ``distributions``.
    Pre-training tokens serve every distribution; fine-tuning tokens, at each distribution's
    own price, serve one. Candidate splits are scored over all posterior draws at once; the
    best is then refined by a constrained optimiser (SLSQP) over the mean of the draws.
    """
    _require_transfer_inputs(fit)
    if distributions is not None and weights is None:
        weights = {d: 1.0 / len(distributions) for d in distributions}
    weight = portfolio_weights(fit, weights)
    names = list(weight.index[weight > 0])
    prices = finetune_prices(fit, finetune_price)
    if not (budget > 0 and pretrain_price > 0) or prices[names].isna().any() or (prices[names] <= 0).any():
        raise BayesScalingError(
            "budget, the pre-training price and the fine-tuning price of each portfolio "
            "distribution must be > 0"
        )
    if quantile is not None and not 0 < quantile < 1:
        raise BayesScalingError(f"quantile must be between 0 and 1, got {quantile!r}")
    columns = pd.Index(fit.distributions).get_indexer(names)
    fine_price = prices[names].to_numpy(float)

    def tokens(shares: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        add_f = np.zeros((len(shares), len(fit.distributions)))
        add_f[:, columns] = shares[:, 1:] * budget / fine_price
        return shares[:, 0] * budget / pretrain_price, add_f

    def losses(shares: np.ndarray) -> np.ndarray:
        return portfolio_losses(fit, *tokens(shares), weight, state)[0]  # (S, n)

    def score(total: np.ndarray) -> np.ndarray:
        return total.mean(axis=0) if quantile is None else np.quantile(total, quantile, axis=0)

    shares = _simplex_grid(len(names), steps, np.random.default_rng(seed))
    total = losses(shares)
    best_share = shares[int(score(total).argmin())]
    if quantile is None:
        best_share = _refine(lambda x: float(losses(x[None])[:, 0].mean()), best_share)
    best_total = losses(best_share[None])[:, 0]
    add_p, add_f = tokens(best_share[None])
    frontier = pd.DataFrame(
        {
            "pretrain_share": shares[:, 0],
            "expected_loss": total.mean(axis=0),
            "loss_lower": np.quantile(total, 0.05, axis=0),
            "loss_upper": np.quantile(total, 0.95, axis=0),
        }
    )
    for j, name in enumerate(names):
        frontier[f"finetune_share_{name}"] = shares[:, 1 + j]
    frontier.attrs["loss_unit"] = fit.loss_unit
    q = quantile or 0.9
    loss_q, loss_cvar = _tail(best_total[:, None], q)
    return Allocation(
        budget=budget,
        finetune_share={d: float(best_share[1 + j]) for j, d in enumerate(names)},
        add_pretrain_tokens=float(add_p[0]),
        add_finetune_tokens={d: float(add_f[0, c]) for d, c in zip(names, columns, strict=True)},
        expected_loss=float(best_total.mean()),
        loss_quantile=float(loss_q[0]),
        loss_cvar=float(loss_cvar[0]),
        loss_draws=best_total,
        draw_optima=1 - shares[total.argmin(axis=1), 0],
        evpi=float(max(best_total.mean() - total.min(axis=1).mean(), 0.0)),
        frontier=frontier,
        objective="mean" if quantile is None else f"quantile {quantile:g}",
    )


def _refine(objective, start: np.ndarray) -> np.ndarray:
    """Polish the best candidate split on the simplex (shares >= 0, summing to 1)."""
    from scipy.optimize import minimize

    scale = abs(objective(start)) or 1.0
    result = minimize(
        lambda x: objective(x) / scale,
        start,
        method="SLSQP",
        bounds=[(0.0, 1.0)] * len(start),
        constraints=[{"type": "eq", "fun": lambda x: x.sum() - 1.0}],
        options={"ftol": 1e-12, "maxiter": 200},
    )
    refined = np.clip(result.x, 0.0, 1.0)
    refined[refined < 1e-9] = 0.0  # the optimiser's round-off, not a purchase
    refined /= refined.sum()
    return refined if objective(refined) <= objective(start) else start


def evaluate_experiment(
    fit: Fit,
    candidates: pd.DataFrame,
    *,
    actions: pd.DataFrame | None = None,
    weights: PerDistribution | None = None,
    pretrain_price: float | None = None,
    finetune_price: float | PerDistribution | None = None,
    state: pd.DataFrame | None = None,
    parameter: str = "G",
    simulations: int = 200,
    seed: int = 0,
) -> pd.DataFrame:
    """What each candidate new run would teach us, without refitting.

    For each candidate (``distribution, pretrain_tokens, finetune_tokens``) its loss is
    simulated from the posterior predictive ``simulations`` times and, for each outcome,
    the posterior draws are reweighted by the outcome's likelihood (importance weights).
    Columns: ``sd_now`` / ``sd_after`` / ``expected_sd_reduction`` of log ``parameter``, and
    ``min_weight_ess`` (below about 100 the estimate is rough: refit to check). With
    ``actions`` (and the portfolio ``weights``) also ``value_of_information``: the expected
    drop in the regret of the decision among those actions, E_y[E[L(a_now) | y] -
    min_a E[L(a) | y]] in portfolio loss units (the value of sample information), and the
    table is sorted by it.
    """
    candidates = candidates.reset_index(drop=True)
    params = point_parameters(fit, candidates)  # (S, c)
    if parameter not in params:
        raise BayesScalingError(
            f"unknown parameter {parameter!r}; the law has {', '.join(fit.law.parameters)}"
        )
    after = None
    if actions is not None:
        chosen = check_actions(fit, actions, pretrain_price, finetune_price)
        weight = portfolio_weights(fit, weights)
        after = portfolio_losses(fit, chosen.add_pretrain, chosen.add_finetune, weight, state)[0]  # (S, A)
        now = int(after.mean(axis=0).argmin())
    rng = np.random.default_rng(seed)
    log_mean = fit.law.log_loss(
        *(np.log(candidates[k].to_numpy(float))[None, :] for k in fit.law.inputs), **params
    )  # (S, c)
    # with the law's misfit, as wide as predict's bands have it: each draw carries its own law
    # error, and reweighting by an outcome learns about both. A widened parameter spread
    # counts here as that much more error independent of the parameters: widening the draws'
    # own spread would make an outcome tell them apart more easily, not less.
    spread, sd = law_error(fit, candidates)
    sd = np.sqrt(sd**2 + (spread**2 - 1) * log_mean.var(axis=0))
    log_mean = log_mean + law_offset(fit, candidates)
    log_mean = log_mean + sd * np.random.default_rng(seed + 1).standard_normal(log_mean.shape)
    labels = candidates[DISTRIBUTION].astype(str).to_numpy()
    sigma = np.broadcast_to(observation_noise(fit, labels, rng), log_mean.shape)
    nu = fit.spec.likelihood.nu
    n_draws = log_mean.shape[0]
    target = np.log(params[parameter])  # (S, c)
    rows = []
    for c in range(len(candidates)):
        source = rng.integers(0, n_draws, simulations)
        outcome = log_mean[source, c] + sigma[source, c] * rng.standard_t(nu, simulations)  # (M,)
        log_w = fit.spec.likelihood.log_density(
            outcome[:, None], log_mean[None, :, c], sigma[None, :, c]
        )  # (M, S)
        log_w -= log_w.max(axis=1, keepdims=True)
        w = np.exp(log_w)
        w /= w.sum(axis=1, keepdims=True)
        mean = w @ target[:, c]
        var = w @ target[:, c] ** 2 - mean**2
        row = {
            "sd_now": float(target[:, c].std()),
            "sd_after": float(np.sqrt(np.clip(var, 0, None)).mean()),
            "min_weight_ess": float((1.0 / (w**2).sum(axis=1)).min()),
        }
        if after is not None:
            expected = w @ after  # (M, A): expected loss of each action once the run is seen
            row["value_of_information"] = float((expected[:, now] - expected.min(axis=1)).mean())
        rows.append(row)
    table = pd.concat([candidates, pd.DataFrame(rows)], axis=1)
    table["expected_sd_reduction"] = table.sd_now - table.sd_after
    key = "value_of_information" if after is not None else "expected_sd_reduction"
    return table.sort_values(key, ascending=False).reset_index(drop=True)
