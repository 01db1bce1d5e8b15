"""Decisions under uncertainty: rank data-collection actions, allocate a budget, and pick
the experiment that would teach us most.

Everything here is arrays over posterior draws (design §6): the law is evaluated once for
all (draw, action) pairs with numpy; the PyMC model is never rebuilt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .data import DISTRIBUTION, BayesScalingError, RunsValidationError, rows_where
from .predict import observation_noise, point_parameters

if TYPE_CHECKING:
    from .fit import Fit

PRETRAIN, FINETUNE = "pretrain_tokens", "finetune_tokens"
ADD_PRETRAIN, ADD_FINETUNE = "add_pretrain_tokens", "add_finetune_tokens"
RANK_COLUMNS = (
    "expected_loss",
    "loss_q",
    "expected_reduction",
    "reduction_per_cost",
    "p_best",
    "expected_regret",
)
FRAGILE_P_BEST = 0.8  # the most likely best action wins in fewer draws than this: fragile


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


def _loss(fit: Fit, pretrain: np.ndarray, finetune: np.ndarray, params: dict) -> np.ndarray:
    return fit.law.loss(np.log(pretrain), np.log(finetune), **params)


def _check_actions(
    fit: Fit, actions: pd.DataFrame, pretrain_price: float | None, finetune_price: float | None
) -> pd.DataFrame:
    actions = actions.reset_index(drop=True).copy()
    problems = []
    for column in ("action", DISTRIBUTION, ADD_PRETRAIN, ADD_FINETUNE):
        if column not in actions:
            problems.append(f"missing column {column!r}")
    if problems:
        raise RunsValidationError(problems, "actions")
    unknown = sorted(set(actions[DISTRIBUTION].astype(str)) - set(fit.distributions))
    if unknown:
        problems.append(
            f"distribution(s) {', '.join(map(repr, unknown))} not in the fit "
            f"(fitted: {', '.join(fit.distributions)})"
        )
    for column in (ADD_PRETRAIN, ADD_FINETUNE):
        values = pd.to_numeric(actions[column], errors="coerce")
        bad = values.isna() | ~np.isfinite(values) | (values < 0)
        if bad.any():
            problems.append(f"{rows_where(bad)}: column {column!r} must be a number >= 0")
        actions[column] = values
    if "cost" in actions:
        cost = pd.to_numeric(actions["cost"], errors="coerce")
        bad = cost.isna() | (cost <= 0)
        if bad.any():
            problems.append(f"{rows_where(bad)}: column 'cost' must be a number > 0")
        actions["cost"] = cost
    elif pretrain_price is None or finetune_price is None:
        problems.append(
            "no 'cost' column: give one, or prices per pre-training and per "
            "fine-tuning token (--pretrain-price, --finetune-price)"
        )
    elif pretrain_price < 0 or finetune_price < 0:
        problems.append("prices must be >= 0")
    else:
        actions["cost"] = actions[ADD_PRETRAIN] * pretrain_price + actions[ADD_FINETUNE] * finetune_price
    if actions["action"].duplicated().any():
        problems.append(f"action names repeat: {sorted(set(actions.action[actions.action.duplicated()]))}")
    if problems:
        raise RunsValidationError(problems, "actions")
    actions[DISTRIBUTION] = actions[DISTRIBUTION].astype(str)
    return actions


def action_losses(
    fit: Fit, actions: pd.DataFrame, state: pd.DataFrame | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Loss per (draw, action) after each action, and before it (nats/token)."""
    start = current_state(fit, state).set_index(DISTRIBUTION)
    origin = start.loc[actions[DISTRIBUTION]]
    p0, f0 = origin[PRETRAIN].to_numpy(float), origin[FINETUNE].to_numpy(float)
    params = point_parameters(fit, actions)
    after = _loss(
        fit, p0 + actions[ADD_PRETRAIN].to_numpy(float), f0 + actions[ADD_FINETUNE].to_numpy(float), params
    )
    # the loss before depends only on the distribution: evaluate once per distribution
    names = list(fit.distributions)
    now = _loss(
        fit,
        start.loc[names, PRETRAIN].to_numpy(float),
        start.loc[names, FINETUNE].to_numpy(float),
        point_parameters(fit, pd.DataFrame({DISTRIBUTION: names})),
    )
    before = now[:, pd.Index(names).get_indexer(actions[DISTRIBUTION])]
    return after, before


def rank_actions(
    fit: Fit,
    actions: pd.DataFrame,
    *,
    quantile: float = 0.9,
    pretrain_price: float | None = None,
    finetune_price: float | None = None,
    weights: dict[str, float] | None = None,
    state: pd.DataFrame | None = None,
    sort_by: str | None = None,
) -> pd.DataFrame:
    """Rank candidate actions by what they do to the loss, over posterior draws.

    Columns added to ``actions``: ``expected_loss`` (mean loss of the action's distribution
    after it), ``loss_q`` (its ``quantile``), ``expected_reduction`` (mean drop in loss),
    ``reduction_per_cost``, ``p_best`` (share of draws where the action is best) and
    ``expected_regret`` (mean shortfall against the best action of each draw).

    Actions on different distributions are compared by the weighted total loss
    sum_d w_d L_d (weights default to 1): an action changes only its own distribution's
    term. The default order is by expected loss when every action is on one distribution,
    else by expected regret. ``table.attrs["note"]`` says when the decision is fragile.
    """
    _require_transfer_inputs(fit)
    if not 0 < quantile < 1:
        raise BayesScalingError(f"quantile must be between 0 and 1, got {quantile!r}")
    actions = _check_actions(fit, actions, pretrain_price, finetune_price)
    after, before = action_losses(fit, actions, state)
    weight = np.array([(weights or {}).get(d, 1.0) for d in actions[DISTRIBUTION]])
    gain = weight * (before - after)  # lowering of the weighted total, per (draw, action)
    best = gain.argmax(axis=1)
    table = actions.copy()
    table["expected_loss"] = after.mean(axis=0)
    table["loss_q"] = np.quantile(after, quantile, axis=0)
    table["expected_reduction"] = (before - after).mean(axis=0)
    table["reduction_lower"], table["reduction_upper"] = np.quantile(before - after, [0.05, 0.95], axis=0)
    table["reduction_per_cost"] = table["expected_reduction"] / table["cost"]
    table["p_best"] = np.bincount(best, minlength=len(actions)) / after.shape[0]
    table["expected_regret"] = (gain.max(axis=1, keepdims=True) - gain).mean(axis=0)
    if sort_by is None:
        sort_by = "expected_loss" if table[DISTRIBUTION].nunique() == 1 else "expected_regret"
    if sort_by not in table:
        raise BayesScalingError(f"cannot sort by {sort_by!r}; use one of {', '.join(RANK_COLUMNS)}")
    ascending = sort_by in ("expected_loss", "loss_q", "expected_regret", "cost")
    table = table.sort_values(sort_by, ascending=ascending, kind="stable").reset_index(drop=True)
    leader = table.loc[table.p_best.idxmax()]
    table.attrs["note"] = (
        f"fragile: the most likely best action, {leader.action!r}, is best in only "
        f"{leader.p_best:.0%} of posterior draws; more runs may change the decision"
        if leader.p_best < FRAGILE_P_BEST
        else ""
    )
    return table


@dataclass
class Allocation:
    """Best split of a budget, with its uncertainty.

    ``finetune_share`` is the share of the budget spent on fine-tuning tokens (per
    distribution when several); ``frontier`` has, per share on a grid, the expected loss and
    its band; ``draw_optima`` the share each posterior draw would pick; ``evpi`` the expected
    value of perfect information, E[L(x*)] - E[min_x L_s(x)] in nats/token.
    """

    budget: float
    finetune_share: dict[str, float]
    add_pretrain_tokens: float
    add_finetune_tokens: dict[str, float]
    expected_loss: float
    loss_quantile: float
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
    finetune_price: float,
    *,
    distributions: list[str] | None = None,
    weights: dict[str, float] | None = None,
    quantile: float | None = None,
    state: pd.DataFrame | None = None,
    steps: int = 201,
    seed: int = 0,
) -> Allocation:
    """Split ``budget`` between pre-training and fine-tuning tokens to minimise expected loss.

    Pre-training tokens serve every distribution (one pre-trained model); fine-tuning
    tokens serve one. With several ``distributions`` the objective is the weighted total
    loss. ``quantile`` (e.g. 0.9) minimises that quantile of the loss instead of its mean.
    """
    _require_transfer_inputs(fit)
    names = list(distributions or fit.distributions[:1])
    unknown = [d for d in names if d not in fit.distributions]
    if unknown:
        raise BayesScalingError(
            f"distribution(s) {unknown} not in the fit (fitted: {', '.join(fit.distributions)})"
        )
    if budget <= 0 or pretrain_price <= 0 or finetune_price <= 0:
        raise BayesScalingError("budget and prices must be > 0")
    rng = np.random.default_rng(seed)
    shares = _simplex_grid(len(names), steps, rng)  # (n, k + 1)
    start = current_state(fit, state).set_index(DISTRIBUTION).loc[names]
    params = point_parameters(fit, pd.DataFrame({DISTRIBUTION: names}))  # (S, k)
    add_p = shares[:, 0] * budget / pretrain_price  # (n,)
    add_f = shares[:, 1:] * budget / finetune_price  # (n, k)
    p = start[PRETRAIN].to_numpy(float)[None, :] + add_p[:, None]
    f = start[FINETUNE].to_numpy(float)[None, :] + add_f
    w = np.array([(weights or {}).get(d, 1.0) for d in names])
    # (S, n, k) -> weighted total loss per (draw, candidate)
    loss = _loss(fit, p[None], f[None], {k: v[:, None, :] for k, v in params.items()})
    total = (loss * w).sum(axis=2)
    score = total.mean(axis=0) if quantile is None else np.quantile(total, quantile, axis=0)
    best = int(score.argmin())
    per_draw = total.argmin(axis=1)
    evpi = float(total[:, best].mean() - total.min(axis=1).mean())
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
    return Allocation(
        budget=budget,
        finetune_share={d: float(shares[best, 1 + j]) for j, d in enumerate(names)},
        add_pretrain_tokens=float(add_p[best]),
        add_finetune_tokens={d: float(add_f[best, j]) for j, d in enumerate(names)},
        expected_loss=float(total[:, best].mean()),
        loss_quantile=float(np.quantile(total[:, best], quantile or 0.9)),
        loss_draws=total[:, best],
        draw_optima=1 - shares[per_draw, 0],
        evpi=evpi,
        frontier=frontier,
        objective="mean" if quantile is None else f"quantile {quantile:g}",
    )


def experiment_value(
    fit: Fit, candidates: pd.DataFrame, *, parameter: str = "G", simulations: int = 200, seed: int = 0
) -> pd.DataFrame:
    """How much each candidate new run would narrow the posterior of ``parameter``.

    For each candidate (``distribution, pretrain_tokens, finetune_tokens``) we simulate its
    loss from the posterior predictive ``simulations`` times and, for each outcome, reweight
    the posterior draws by the outcome's likelihood (importance reweighting: no refit). The
    result has the posterior sd of log ``parameter`` now, its expected value after the run,
    the expected reduction, and the smallest effective sample size of the weights (below
    about 100 the estimate is rough; refit to check).
    """
    from scipy import stats

    candidates = candidates.reset_index(drop=True)
    params = point_parameters(fit, candidates)  # (S, c)
    if parameter not in params:
        raise BayesScalingError(
            f"unknown parameter {parameter!r}; the law has {', '.join(fit.law.parameters)}"
        )
    rng = np.random.default_rng(seed)
    log_mean = fit.law.log_loss(
        *(np.log(candidates[k].to_numpy(float))[None, :] for k in fit.law.inputs), **params
    )  # (S, c)
    labels = candidates[DISTRIBUTION].astype(str).to_numpy()
    sigma = np.broadcast_to(observation_noise(fit, labels, rng), log_mean.shape)
    nu = fit.spec.likelihood.nu
    n_draws = log_mean.shape[0]
    target = np.log(params[parameter])  # (S, c)
    rows = []
    for c in range(len(candidates)):
        source = rng.integers(0, n_draws, simulations)
        outcome = log_mean[source, c] + sigma[source, c] * rng.standard_t(nu, simulations)  # (M,)
        log_w = stats.t.logpdf(
            outcome[:, None], nu, loc=log_mean[None, :, c], scale=sigma[None, :, c]
        )  # (M, S)
        log_w -= log_w.max(axis=1, keepdims=True)
        w = np.exp(log_w)
        w /= w.sum(axis=1, keepdims=True)
        mean = w @ target[:, c]
        var = w @ target[:, c] ** 2 - mean**2
        ess = 1.0 / (w**2).sum(axis=1)
        rows.append(
            {
                "sd_now": float(target[:, c].std()),
                "sd_after": float(np.sqrt(np.clip(var, 0, None)).mean()),
                "min_weight_ess": float(ess.min()),
            }
        )
    table = pd.concat([candidates, pd.DataFrame(rows)], axis=1)
    table["expected_sd_reduction"] = table.sd_now - table.sd_after
    return table.sort_values("expected_sd_reduction", ascending=False).reset_index(drop=True)
