"""The ``bayes-scaling`` command: parses arguments, calls the public API, formats output.

No statistics here. Bad input exits with status 2 and one readable message on stderr.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import bayes_scaling as bs
from bayes_scaling.report import format_table, to_markdown


def _fit(args: argparse.Namespace) -> int:
    if Path(args.output).suffix != ".nc":
        raise bs.BayesScalingError(f"--output {args.output}: a fit is saved as netCDF; "
                                   "give a file name ending in .nc")
    spec = bs.load_spec(args.model)  # unknown model fails before the data are read
    print(spec.describe(), file=sys.stderr)
    fitted = bs.fit(args.runs, spec, draws=args.draws, tune=args.tune, chains=args.chains,
                    seed=args.seed, sampler=args.sampler, progress=not args.quiet,
                    units=args.units)
    print(fitted.diagnostics, file=sys.stderr)
    fitted.save(args.output)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


def _gaps(args: argparse.Namespace) -> int:
    fitted = bs.load_fit(args.fit)
    table = fitted.gap_table(prob=args.prob)
    if args.csv:
        table.to_csv(sys.stdout, index=False)
    else:
        print(format_table(table, f"transfer gap G ({args.prob:.0%} credible interval; "
                                  f"L = E + (A p^-alpha + G) f^-beta, p and f in {fitted.units})"))
    return 0


def _predict(args: argparse.Namespace) -> int:
    fitted = bs.load_fit(args.fit)
    grid = bs.data.read_runs_csv(args.grid)
    table = bs.prediction_table(fitted, grid, prob=args.prob, new_distribution=args.new_distribution,
                                kind="observation" if args.observations else "expected",
                                seed=args.seed)
    if args.csv:
        table.to_csv(sys.stdout, index=False)
    else:
        what = "a new run's loss" if args.observations else "expected loss"
        print(format_table(table, f"{what}, nats/token ({args.prob:.0%} credible interval)"))
    return 0


def _demo(args: argparse.Namespace) -> int:
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    print("bayes-scaling demo: fitting the embedded example (SYNTHETIC runs of 8 "
          f"distributions) with {args.chains} chains x {args.draws} draws", file=sys.stderr)
    fitted = bs.fit(bs.datasets.example_path(), "transfer_gap", draws=args.draws, tune=args.tune,
                    chains=args.chains, seed=args.seed, progress=not args.quiet)
    print(fitted.diagnostics, file=sys.stderr)
    written = [fitted.save(out / "fit.nc")]
    table = fitted.gap_table(prob=0.9)
    table.to_csv(out / "gaps.csv", index=False)
    (out / "gaps.md").write_text(
        "Transfer gap G per distribution, 90% credible interval (synthetic example data).\n\n"
        + to_markdown(table))
    truth = bs.example_truth()[["distribution", "G"]].rename(columns={"G": "truth"})
    fig = bs.forest_plot(table.merge(truth, on="distribution"), prob=0.9,
                         label=f"transfer gap G (f in {fitted.units})",
                         title="Transfer gap per distribution (synthetic example)")
    fig.savefig(out / "gap_forest.png", dpi=120)
    written += [out / "gaps.csv", out / "gaps.md", out / "gap_forest.png"]
    print(format_table(table, "transfer gap G (90% credible interval)"))
    print("\nwrote:\n" + "\n".join(f"  {p}" for p in written))
    return 0


def _add_sampling_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--draws", type=int, default=1000, help="draws per chain (default 1000)")
    parser.add_argument("--tune", type=int, default=1000, help="tuning steps per chain (default 1000)")
    parser.add_argument("--chains", type=int, default=4, help="chains (default 4)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bayes-scaling",
        description="Hierarchical Bayesian transfer scaling laws: posteriors over the "
                    "transfer gap of each distribution.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("fit", help="fit a model to a CSV of runs and save the posterior")
    p.add_argument("runs", help="CSV with distribution,pretrain_tokens,finetune_tokens,loss")
    p.add_argument("--output", "-o", required=True, help="fit file to write (.nc)")
    p.add_argument("--model", default="transfer_gap",
                   help="shipped model name or path of a TOML spec (default transfer_gap)")
    p.add_argument("--sampler", default="nutpie", choices=["nutpie", "pymc"])
    p.add_argument("--units", default="tokens", help="unit of the token columns (default tokens)")
    _add_sampling_options(p)
    p.set_defaults(run=_fit)

    p = sub.add_parser("gaps", help="credible intervals of the transfer gap per distribution")
    p.add_argument("fit", help="fit file written by `bayes-scaling fit`")
    p.add_argument("--prob", type=float, default=0.9, help="interval probability (default 0.9)")
    p.add_argument("--csv", action="store_true", help="CSV on stdout")
    p.set_defaults(run=_gaps)

    p = sub.add_parser("predict", help="posterior predictive loss at the rows of a CSV grid")
    p.add_argument("fit", help="fit file written by `bayes-scaling fit`")
    p.add_argument("grid", help="CSV with the law's input columns (and distribution)")
    p.add_argument("--prob", type=float, default=0.9, help="interval probability (default 0.9)")
    p.add_argument("--new-distribution", action="store_true",
                   help="predict a distribution the fit has not seen, from the fitted population")
    p.add_argument("--observations", action="store_true",
                   help="bands for a new run's measured loss (with noise), not the expected curve")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--csv", action="store_true", help="CSV on stdout")
    p.set_defaults(run=_predict)

    p = sub.add_parser("demo", help="fit the embedded example; write tables and plots")
    p.add_argument("--output", "-o", default="demo-output", help="folder (default demo-output)")
    _add_sampling_options(p)
    p.set_defaults(run=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    try:
        return args.run(args)
    except bs.BayesScalingError as err:
        print(f"bayes-scaling {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"bayes-scaling {args.command}: interrupted; nothing was written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    warnings.simplefilter("default")
    sys.exit(main())
