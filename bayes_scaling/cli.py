"""The ``bayes-scaling`` command: parses arguments, calls the public API, formats output.

No statistics here. Bad input exits with status 2 and one readable message on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np

import bayes_scaling as bs
from bayes_scaling.prediction import band_table
from bayes_scaling.report import format_table, to_markdown

GAP_COLUMNS = ["distribution", "mean", "median", "lower", "upper"]


def _gap_table(fitted: bs.Fit, prob: float):
    """The transfer gap G per distribution: its summary's interval columns."""
    return bs.summary(fitted, ["G"], prob=prob)[GAP_COLUMNS]


def _fit(args: argparse.Namespace) -> int:
    if Path(args.output).suffix != ".nc":
        raise bs.BayesScalingError(
            f"--output {args.output}: a fit is saved as netCDF; give a file name ending in .nc"
        )
    spec = bs.load_spec(args.model) if args.model else None  # an unknown model fails first
    runs = _read_runs(args.runs, args.units, args.loss_unit)
    spec = spec or bs.load_spec(runs.attrs.get("model", "transfer_gap"))
    print(spec.describe(), file=sys.stderr)
    fitted = bs.fit(
        runs, spec, draws=args.draws, tune=args.tune, chains=args.chains, seed=args.seed,
        target_accept=args.target_accept, sampler=args.sampler, progress=not args.quiet,
        columns=_columns(args.columns),
    )  # fmt: skip
    print(f"inputs in {fitted.units}, loss in {fitted.loss_unit}", file=sys.stderr)
    print(fitted.diagnostics.summary_line(), file=sys.stderr)
    fitted.save(args.output)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


def _emit(table, as_csv: bool, title: str) -> None:
    """A table on stdout: CSV for programs, or fixed-width under a title for people."""
    if as_csv:
        table.to_csv(sys.stdout, index=False)
    else:
        print(format_table(table, title))


def _gaps(args: argparse.Namespace) -> int:
    fitted = bs.Fit.load(args.fit)
    table = _gap_table(fitted, args.prob)
    _emit(
        table,
        args.csv,
        f"transfer gap G ({args.prob:.0%} credible interval; "
        f"L = E + (A p^-alpha + G) f^-beta, p and f in {fitted.units})",
    )
    return 0


def _summary(args: argparse.Namespace) -> int:
    fitted = bs.Fit.load(args.fit)
    table = bs.summary(fitted, prob=args.prob)
    _emit(
        table,
        args.csv,
        f"{fitted.spec.name}: {fitted.law.description}, inputs in {fitted.units} "
        f"({args.prob:.0%} credible interval; distribution * = shared by all)",
    )
    return 0


def _dataset(args: argparse.Namespace) -> int:
    if args.name is None:
        listed = bs.list_datasets()
        print(
            format_table(
                listed[["name", "units", "loss_unit", "model"]], "run tables (real ones fetched on first use)"
            )
        )
        for row in listed.itertuples():  # the descriptions below, wrapped for a terminal
            print(
                textwrap.fill(row.description, 96, initial_indent=f"\n{row.name}: ", subsequent_indent="  ")
            )
        return 0
    table = bs.load_dataset(args.name)
    if args.output:
        bs.data.write_runs_csv(table, args.output)
        print(
            f"wrote {args.output}: {len(table)} runs, inputs in {table.attrs['units']}, "
            f"loss = {table.attrs['loss_unit']} (said in its first lines, which fit and backtest read); "
            f"fit it with: bayes-scaling fit {args.output} -o fit.nc",
            file=sys.stderr,
        )
    else:
        sys.stdout.write(bs.data.write_runs_csv(table))
    return 0


def _backtest(args: argparse.Namespace) -> int:
    runs = _read_runs(args.runs, args.units, args.loss_unit)
    # a shipped table names the spec whose priors suit its units
    model = args.model or runs.attrs.get("model", "transfer_gap")
    print(f"model: {model}", file=sys.stderr)
    options = {
        "draws": args.draws,
        "tune": args.tune,
        "chains": args.chains,
        "seed": args.seed,
        "target_accept": args.target_accept,
        "columns": _columns(args.columns),
    }
    if args.holdout_above is not None and "," in args.holdout_above:
        column, _, values = args.holdout_above.partition("=")
        try:
            cutoffs = [float(v) for v in values.split(",")]
        except ValueError:
            raise bs.BayesScalingError(
                f"--holdout-above {args.holdout_above}: write COLUMN=V1,V2,... with numbers"
            ) from None
        where = args.scheduler or f"a local Dask cluster of {args.workers} workers"
        print(f"rolling backtest: {len(cutoffs)} cut-offs of {column} on {where}", file=sys.stderr)
        table = bs.backtesting.rolling_backtest(
            runs, model, column=column, cutoffs=cutoffs, scheduler=args.scheduler, workers=args.workers,
            **options,
        )  # fmt: skip
        unit = runs.attrs.get("loss_unit", "nats/token")
        title = f"rolling backtest over {column} cut-offs (bands of new runs, loss in {unit})"
    else:
        where = {"holdout_above": args.holdout_above, "holdout_largest": args.holdout_largest}
        result = bs.backtest(runs, model, **where, **options)
        print(result.fit.diagnostics.summary_line(), file=sys.stderr)
        table = result.summary
        held, unit = int(table["held_out"].iloc[-1]), result.fit.loss_unit
        title = f"backtest: {held} runs held out ({result.holdout}); bands of new runs, loss in {unit}"
        print("the law's misfit in the refit:\n" + result.fit.discrepancy.describe(), file=sys.stderr)
        if args.plot:
            bs.plot_backtest(result, path=args.plot)
            print(f"wrote {args.plot}", file=sys.stderr)
        if args.runs_csv:
            result.runs.to_csv(args.runs_csv, index=False)
            print(f"wrote {args.runs_csv}", file=sys.stderr)
    _emit(table, args.csv, title)
    return 0


def _read_runs(source: str, units: str | None, loss_unit: str | None):
    """A CSV path, or the name of a catalogued data set (which carries its units). Says so
    where neither the file nor the options give the units, so that the defaults are seen."""
    if not Path(source).exists() and source in bs.datasets.CATALOG:
        table = bs.load_dataset(source)
    else:
        table = bs.data.read_runs_csv(source)
    table.attrs.update({k: v for k, v in (("units", units), ("loss_unit", loss_unit)) if v})
    unsaid = [
        option
        for key, option in (("units", "--units"), ("loss_unit", "--loss-unit"))
        if key not in table.attrs
    ]
    if unsaid:
        print(
            f"note: {source} does not say what its inputs count or what its loss measures, so they are "
            "read as tokens and in the spec's loss unit (nats/token unless the spec names one, as an "
            f"error-rate spec does); give {' and '.join(unsaid)}, or lines such as '# units = images' "
            "above the CSV's header",
            file=sys.stderr,
        )
    return table


def _columns(pairs: list[str] | None) -> dict[str, str] | None:
    """--columns OLD=NEW (repeatable, or comma-separated) as a rename mapping."""
    if not pairs:
        return None
    renames = {}
    for pair in (item for text in pairs for item in text.split(",") if item.strip()):
        old, sep, new = pair.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise bs.BayesScalingError(
                f"--columns {pair}: write YOUR_NAME=EXPECTED_NAME, e.g. --columns D_ft=finetune_tokens"
            )
        renames[old.strip()] = new.strip()
    return renames


def _predict(args: argparse.Namespace) -> int:
    fitted = bs.Fit.load(args.fit)
    grid = bs.data.read_runs_csv(args.grid)
    table = band_table(
        fitted,
        grid,
        prob=args.prob,
        new_distribution=args.new_distribution,
        kind="observation" if args.observations else "expected",
        law_only_beside=args.law_only_beside,
        seed=args.seed,
    )
    what = "a new run's loss" if args.observations else "expected loss"
    _emit(table, args.csv, f"{what}, {fitted.loss_unit} ({args.prob:.0%} credible interval)")
    return 0


def _rank(args: argparse.Namespace) -> int:
    fitted = bs.Fit.load(args.fit)
    actions = bs.data.read_runs_csv(args.actions)
    table = bs.rank_actions(
        fitted,
        actions,
        weights=args.weights,
        quantile=args.quantile,
        sort_by=args.sort_by,
        pretrain_price=args.pretrain_price,
        finetune_price=_finetune_price(args),
    )
    weights = ", ".join(f"{d} {w:.3g}" for d, w in table.attrs["weights"].items() if w > 0)
    _emit(
        table,
        args.csv,
        f"actions ranked by the expected portfolio loss sum_d w_d L_d (weights: {weights}; "
        f"loss in {fitted.loss_unit}; loss_q = {args.quantile:.0%} quantile, loss_cvar = mean beyond it)",
    )
    if table.attrs.get("note"):
        print(f"note: {table.attrs['note']}", file=sys.stderr)
    return 0


def _next(args: argparse.Namespace) -> int:
    fitted = bs.Fit.load(args.fit)
    candidates = bs.data.read_runs_csv(args.candidates)
    if args.actions is None and args.target is None:
        raise bs.BayesScalingError(
            "give --target GRID.csv (what to predict) or --actions ACTIONS.csv (what to decide)"
        )
    table = bs.next_runs(
        fitted,
        candidates,
        None if args.target is None else bs.data.read_runs_csv(args.target),
        k=args.k,
        cost=args.cost_column,
        objective="prediction" if args.actions is None else "decision",
        actions=None if args.actions is None else bs.data.read_runs_csv(args.actions),
        weights=args.weights,
        pretrain_price=args.pretrain_price,
        finetune_price=_finetune_price(args),
        seed=args.seed,
    )
    attrs = table.attrs
    cost = args.cost_column or "compute (6ND, or the tokens trained on)"
    _emit(
        table,
        args.csv,
        f"the next {len(table)} runs, first chosen first, by value per unit of {cost}; value = the drop "
        f"of the {attrs['score']} ({attrs['score_before']:.4g} now, {attrs['score_after']:.4g} "
        "expected after)",
    )
    if attrs["min_weight_ess"] < 50:
        print(
            f"note: the importance weights' smallest effective sample size is {attrs['min_weight_ess']:.0f}: "
            "these values are rough; refit with the chosen runs to check",
            file=sys.stderr,
        )
    return 0


def _finetune_price(args: argparse.Namespace):
    if args.finetune_price is not None and args.finetune_prices is not None:
        raise bs.BayesScalingError(
            "give --finetune-price (one for all) or --finetune-prices (a CSV), not both"
        )
    return args.finetune_prices if args.finetune_prices is not None else args.finetune_price


def _add_portfolio_options(parser: argparse.ArgumentParser, prices_required: bool = False) -> None:
    parser.add_argument(
        "--weights",
        help="CSV distribution,weight: the portfolio (default: equal weights over all distributions)",
    )
    parser.add_argument(
        "--pretrain-price", type=float, required=prices_required, help="cost per pre-training token"
    )
    parser.add_argument("--finetune-price", type=float, help="cost per fine-tuning token, every distribution")
    parser.add_argument(
        "--finetune-prices", help="CSV distribution,finetune_price: cost per fine-tuning token of each"
    )


def _allocate(args: argparse.Namespace) -> int:
    fitted = bs.Fit.load(args.fit)
    result = bs.allocate(
        fitted,
        args.budget,
        args.pretrain_price,
        _finetune_price(args),
        weights=args.weights,
        distributions=args.distribution,
        quantile=args.quantile,
    )
    share = sum(result.finetune_share.values())
    optima = np.quantile(result.draw_optima, [0.05, 0.5, 0.95])
    print(
        f"budget {args.budget:g}: spend {share:.0%} on fine-tuning data "
        f"(objective: {result.objective} of the loss)"
    )
    print(f"  add pre-training tokens (every distribution): {result.add_pretrain_tokens:.4g}")
    for name, tokens in result.add_finetune_tokens.items():
        print(
            f"  add fine-tuning tokens for {name}: {tokens:.4g} "
            f"({result.finetune_share[name]:.0%} of the budget)"
        )
    q = args.quantile or 0.9
    print(
        f"  portfolio loss at this split: mean {result.expected_loss:.4g}, {q:.0%} quantile "
        f"{result.loss_quantile:.4g}, CVaR {result.loss_cvar:.4g} {fitted.loss_unit}"
    )
    print(
        f"  share on fine-tuning each posterior draw would pick: median {optima[1]:.0%}, "
        f"90% range {optima[0]:.0%} to {optima[2]:.0%}"
    )
    print(
        f"  expected value of perfect information: {result.evpi:.3g} {fitted.loss_unit}"
        + (" (more runs before deciding could pay)" if result.evpi > 1e-3 else "")
    )
    if args.plot:
        fig = bs.plot_frontier(result.frontier, share if len(result.finetune_share) == 1 else None)
        fig.savefig(args.plot, dpi=120)
        print(f"wrote {args.plot}")
    return 0


def _plot(args: argparse.Namespace) -> int:
    fitted = bs.Fit.load(args.fit)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "curves.png", out / "ppc.png"]
    bs.plot_curves(fitted, prob=args.prob, path=written[0])
    bs.plot_ppc(fitted, prob=args.prob, path=written[1])
    if "G" in fitted.law.parameters:
        table = _gap_table(fitted, args.prob)
        bs.plot_forest(table, prob=args.prob, label=f"transfer gap G (f in {fitted.units})").savefig(
            out / "gap_forest.png", dpi=120
        )
        written.append(out / "gap_forest.png")
    print("wrote:\n" + "\n".join(f"  {p}" for p in written))
    return 0


def _compare(args: argparse.Namespace) -> int:
    fits = {Path(path).stem: bs.Fit.load(path) for path in args.fits}
    if len(fits) < len(args.fits):
        raise bs.BayesScalingError("give fit files with different names; they label the table")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", bs.BayesScalingWarning)
        table = bs.compare(fits)
    columns = ["law", "rank", "elpd", "elpd_diff", "dse", "weight", "n_high_pareto_k"]
    print(
        format_table(
            table[columns].reset_index(names="fit"),
            "PSIS-LOO comparison (higher elpd is better; elpd_diff against dse)",
        )
    )
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)
    return 0


def _demo(args: argparse.Namespace) -> int:
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    print(
        "bayes-scaling demo: fitting the embedded example (SYNTHETIC runs of 8 "
        f"distributions) with {args.chains} chains" + (f" x {args.draws} draws" if args.draws else ""),
        file=sys.stderr,
    )
    fitted = bs.fit(
        bs.datasets.example_path(),
        "transfer_gap",
        draws=args.draws,
        tune=args.tune,
        chains=args.chains,
        seed=args.seed,
        target_accept=args.target_accept,
        progress=not args.quiet,
    )
    print(fitted.diagnostics.summary_line(), file=sys.stderr)
    written = [fitted.save(out / "fit.nc")]
    table = _gap_table(fitted, 0.9)
    table.to_csv(out / "gaps.csv", index=False)
    (out / "gaps.md").write_text(
        "Transfer gap G per distribution, 90% credible interval (synthetic example data).\n\n"
        + to_markdown(table)
    )
    truth = bs.datasets.example_truth()[["distribution", "G"]].rename(columns={"G": "truth"})
    fig = bs.plot_forest(
        table.merge(truth, on="distribution"),
        prob=0.9,
        label=f"transfer gap G (f in {fitted.units})",
        title="Transfer gap per distribution (synthetic example)",
    )
    fig.savefig(out / "gap_forest.png", dpi=120)
    written += [out / "gaps.csv", out / "gaps.md", out / "gap_forest.png"]
    print(format_table(table, "transfer gap G (90% credible interval)"))

    actions = example_actions()
    ranking = bs.rank_actions(fitted, actions, pretrain_price=1e-9, finetune_price=1e-6)
    ranking.to_csv(out / "ranking.csv", index=False)
    bs.plot_ranking(
        ranking,
        title="Example actions, equal-weight portfolio of 8 distributions\n(price per token: "
        "pre-training 1e-9, fine-tuning 1e-6; every action costs 900)",
    ).savefig(out / "ranking.png", dpi=120)
    written += [out / "ranking.csv", out / "ranking.png"]
    bs.plot_curves(fitted, path=out / "curves.png")
    bs.plot_ppc(fitted, path=out / "ppc.png")
    written += [out / "curves.png", out / "ppc.png"]
    print()
    print(
        format_table(
            ranking[
                [
                    "action",
                    "distribution",
                    "cost",
                    "expected_loss",
                    "loss_cvar",
                    "expected_reduction",
                    "reduction_per_cost",
                    "p_best",
                    "expected_regret",
                ]
            ],
            "example actions ranked by the expected mean loss over all 8 distributions (nats/token)",
        )
    )
    print("\nwrote:\n" + "\n".join(f"  {p}" for p in written))
    return 0


def example_actions():
    """Actions on the example at one cost each (prices 1e-9 per pre-training token, 1e-6 per
    fine-tuning token): 10x the shared pre-training, or 10x one distribution's fine-tuning data."""
    import pandas as pd

    rows = [("pretrain_10x", "*", 9e11, 0.0)]
    rows += [(f"finetune_10x_{name}", name, 0.0, 9e8) for name in ("code", "legal", "poetry")]
    return pd.DataFrame(
        rows, columns=["action", "distribution", "add_pretrain_tokens", "add_finetune_tokens"]
    )


def _add_sampling_options(parser: argparse.ArgumentParser, sampler: bool = False) -> None:
    if sampler:
        parser.add_argument("--sampler", default="nutpie", choices=["nutpie", "pymc"])
    parser.add_argument(
        "--draws",
        type=int,
        help="draws kept per chain (default 1000, or 2000 where the pilot finds the runs leave terms loose)",
    )
    parser.add_argument(
        "--tune",
        type=int,
        help="tuning steps per chain (default 300"
        + (" with nutpie, 1000 with --sampler pymc)" if sampler else ")"),
    )
    parser.add_argument("--chains", type=int, default=4, help="chains (default 4)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--target-accept",
        type=float,
        default=None,
        help=(
            "NUTS target acceptance rate (default 0.9, or 0.95 where the pilot finds terms barely "
            "pinned and from 64 distributions on)"
        ),
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_columns_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--columns",
        action="append",
        metavar="YOUR_NAME=NAME",
        help="rename a column of the CSV to the name the law expects (repeat, or separate by commas), "
        "e.g. --columns D_ft=finetune_tokens",
    )


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bayes-scaling",
        description="Hierarchical Bayesian transfer scaling laws: posteriors over the "
        "transfer gap of each distribution.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("fit", help="fit a model to a CSV of runs and save the posterior")
    p.add_argument(
        "runs",
        help="CSV with distribution,pretrain_tokens,finetune_tokens,loss, or a data set name (mikami2021)",
    )
    p.add_argument("--output", "-o", required=True, help="fit file to write (.nc)")
    p.add_argument(
        "--model",
        help="shipped model name or path of a TOML spec (default: a shipped table's own, e.g. "
        "transfer_gap_error_rate for mikami2021; else transfer_gap)",
    )
    _add_columns_option(p)
    p.add_argument("--units", default=None, help="what the input columns count (default tokens)")
    p.add_argument(
        "--loss-unit", default=None, help="what the loss measures, e.g. 'test error' (default nats/token)"
    )
    _add_sampling_options(p, sampler=True)
    p.set_defaults(run=_fit)

    p = sub.add_parser("gaps", help="credible intervals of the transfer gap per distribution")
    p.add_argument("fit", help="fit file written by `bayes-scaling fit`")
    p.add_argument("--prob", type=float, default=0.9, help="interval probability (default 0.9)")
    p.add_argument("--csv", action="store_true", help="CSV on stdout")
    p.set_defaults(run=_gaps)

    p = sub.add_parser(
        "summary", help="every parameter of any law: intervals, r_hat and ESS per distribution"
    )
    p.add_argument("fit", help="fit file written by `bayes-scaling fit`")
    p.add_argument("--prob", type=float, default=0.9, help="interval probability (default 0.9)")
    p.add_argument("--csv", action="store_true", help="CSV on stdout")
    p.set_defaults(run=_summary)

    p = sub.add_parser(
        "dataset",
        help="list the run tables, or write one as CSV (real tables are fetched on first use; "
        "BAYES_SCALING_DATA_DIR names an offline folder of their upstream files)",
    )
    p.add_argument("name", nargs="?", help="data set name (e.g. mikami2021); none lists them")
    p.add_argument("--output", "-o", help="CSV file to write (default: stdout)")
    p.set_defaults(run=_dataset)

    p = sub.add_parser(
        "backtest", help="hold out the largest runs, refit on the rest, score the bands on them"
    )
    p.add_argument("runs", help="CSV of runs, or a data set name (mikami2021)")
    p.add_argument(
        "--model",
        help="model name or spec path (default: a shipped table's own, e.g. transfer_gap_error_rate "
        "for mikami2021; else transfer_gap)",
    )
    hold = p.add_mutually_exclusive_group(required=True)
    hold.add_argument(
        "--holdout-above",
        help="COLUMN=VALUE: hold out every run above VALUE; several values (COLUMN=V1,V2,...) "
        "run a rolling backtest on Dask",
    )
    hold.add_argument(
        "--holdout-largest", help="COLUMN=FRACTION: hold out each distribution's largest FRACTION of runs"
    )
    p.add_argument(
        "--scheduler", help="Dask scheduler address for a rolling backtest (default: a local cluster)"
    )
    p.add_argument("--workers", type=int, default=2, help="workers of the local Dask cluster (default 2)")
    _add_columns_option(p)
    p.add_argument("--plot", help="PNG: held-out runs against their bands")
    p.add_argument("--runs-csv", help="CSV: every held-out run with its bands")
    p.add_argument("--units", default=None, help="what the input columns count (default tokens)")
    p.add_argument("--loss-unit", default=None, help="what the loss measures (default nats/token)")
    p.add_argument("--csv", action="store_true", help="CSV on stdout")
    _add_sampling_options(p)
    p.set_defaults(run=_backtest)

    p = sub.add_parser("predict", help="posterior predictive loss at the rows of a CSV grid")
    p.add_argument("fit", help="fit file written by `bayes-scaling fit`")
    p.add_argument("grid", help="CSV with the law's input columns (and distribution)")
    p.add_argument("--prob", type=float, default=0.9, help="interval probability (default 0.9)")
    p.add_argument(
        "--new-distribution",
        action="store_true",
        help="predict a distribution the fit has not seen, from the fitted population",
    )
    p.add_argument(
        "--observations",
        action="store_true",
        help="bands for a new run's measured loss (with noise), not the expected curve",
    )
    p.add_argument(
        "--law-only-beside",
        action="store_true",
        help="add the bands without the law's misfit (parameters and noise only)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--csv", action="store_true", help="CSV on stdout")
    p.set_defaults(run=_predict)

    p = sub.add_parser(
        "next", help="the next training runs to pay for, by what they are worth per unit of cost"
    )
    p.add_argument("fit", help="fit file written by `bayes-scaling fit`")
    p.add_argument("candidates", help="CSV of runs that could be trained: distribution and the law's inputs")
    p.add_argument("--target", help="CSV grid whose predictions matter: distribution and the law's inputs")
    p.add_argument(
        "--actions", help="instead of --target: CSV of actions (as `rank` takes them) whose decision matters"
    )
    p.add_argument("-k", type=int, default=4, help="how many runs to choose (default 4)")
    p.add_argument(
        "--cost-column", help="column of the candidates holding each run's cost (default: compute)"
    )
    _add_portfolio_options(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--csv", action="store_true", help="CSV on stdout")
    p.set_defaults(run=_next)

    p = sub.add_parser("rank", help="rank data-collection actions by the expected portfolio loss")
    p.add_argument("fit", help="fit file written by `bayes-scaling fit`")
    p.add_argument(
        "actions",
        help="CSV: action,distribution,add_pretrain_tokens,add_finetune_tokens[,cost]; distribution '*' "
        "on a pre-training-only row; rows with one action name make one action",
    )
    p.add_argument("--quantile", type=float, default=0.9, help="risk quantile (default 0.9)")
    _add_portfolio_options(p)
    p.add_argument("--sort-by", default=None, help="column to sort by (default expected_loss)")
    p.add_argument("--csv", action="store_true", help="CSV on stdout")
    p.set_defaults(run=_rank)

    p = sub.add_parser(
        "allocate", help="split a budget across pre-training and each distribution's fine-tuning data"
    )
    p.add_argument("fit", help="fit file written by `bayes-scaling fit`")
    p.add_argument(
        "--distribution",
        action="append",
        help="distribution to serve (repeat; equal weights) instead of --weights",
    )
    p.add_argument("--budget", type=float, required=True)
    _add_portfolio_options(p, prices_required=True)
    p.add_argument(
        "--quantile", type=float, default=None, help="minimise this quantile of the loss instead of its mean"
    )
    p.add_argument("--plot", help="write the allocation frontier to this PNG")
    p.set_defaults(run=_allocate)

    p = sub.add_parser("plot", help="curves with bands, posterior predictive check, gap forest")
    p.add_argument("fit", help="fit file written by `bayes-scaling fit`")
    p.add_argument("--output", "-o", required=True, help="folder for the PNG files")
    p.add_argument("--prob", type=float, default=0.9, help="band probability (default 0.9)")
    p.set_defaults(run=_plot)

    p = sub.add_parser("compare", help="compare fits of the same runs by PSIS-LOO")
    p.add_argument("fits", nargs="+", help="two or more fit files")
    p.set_defaults(run=_compare)

    p = sub.add_parser("demo", help="fit the embedded example; write tables and plots")
    p.add_argument("--output", "-o", default="demo-output", help="folder (default demo-output)")
    _add_sampling_options(p)
    p.set_defaults(run=_demo)
    return parser


def _print_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Show a warning as one line of words: a user of the command has no use for our source line."""
    print(f"warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _print_warning
            return args.run(args)
    except bs.BayesScalingError as err:
        print(f"bayes-scaling {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"bayes-scaling {args.command}: interrupted; nothing was written", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of stdout left (`| head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
