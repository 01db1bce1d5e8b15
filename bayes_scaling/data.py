"""Training-run tables: loading and validation, once, at the door.

A run table has one row per evaluated training run (design §1). Validation knows the schema
and which columns a law needs; it knows nothing about models. Every problem in a table is
collected and reported in one :class:`RunsValidationError`, naming rows (1-based, as a
spreadsheet or a CSV reader counts data rows), columns, values and what is expected.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

DISTRIBUTION = "distribution"
LOSS = "loss"
# the label that stands for every distribution at once: a shared parameter's row in tables,
# a pure pre-training action, the range of all runs (which a new distribution is judged by)
ALL_DISTRIBUTIONS = "*"
TOKEN_COLUMNS = ("pretrain_tokens", "finetune_tokens", "params")

# How many problems of one kind are listed by row before the rest are counted only.
_MAX_ROWS_LISTED = 10
# What a run table's CSV may say of itself in lines "# key = value" above its header, read
# into DataFrame.attrs: its units travel with the file (see write_runs_csv).
CSV_ATTRS = ("units", "loss_unit", "model", "source")


class BayesScalingError(ValueError):
    """Base class of the errors this package raises for bad input."""


class BayesScalingWarning(UserWarning):
    """Base of the package's warnings (sampling health, priors against the runs, PSIS-LOO):
    filter this to silence them all."""


class RunsValidationError(BayesScalingError):
    """A run table failed validation; ``problems`` lists each problem as one line."""

    def __init__(self, problems: list[str], source: str = "runs") -> None:
        self.problems = problems
        header = f"{source}: {len(problems)} problem(s) found"
        super().__init__(header + ":\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class Runs:
    """A validated run table plus what the model needs from it.

    ``table`` keeps every input column (extra ones are carried through); ``distributions``
    are the group labels in order of first appearance; ``distribution_index`` maps each row
    to its position in ``distributions``.
    """

    table: pd.DataFrame
    distributions: tuple[str, ...]
    distribution_index: np.ndarray
    units: str = "tokens"  # what the input columns count (tokens, images, examples)
    loss_unit: str = "nats/token"  # what the loss column measures (an error rate, a perplexity)

    def column(self, name: str) -> np.ndarray:
        return self.table[name].to_numpy(dtype=float)

    @property
    def n_runs(self) -> int:
        return len(self.table)


def _rows(mask: np.ndarray | pd.Series) -> list[int]:
    """1-based data-row numbers where mask is true."""
    return [int(i) + 1 for i in np.flatnonzero(np.asarray(mask))]


def rows_where(mask: np.ndarray | pd.Series) -> str:
    """'rows 3, 7 and 2 more' for the (0-based) positions where mask is true."""
    return _describe_rows(_rows(mask))


def _first_row(problem: str) -> int:
    """The first row number a problem names (0 for one that names none)."""
    words = problem.split(maxsplit=2)
    if len(words) > 1 and words[0] in ("row", "rows"):
        return int(words[1].rstrip(",:"))
    return 0


def _describe_rows(rows: list[int]) -> str:
    shown = ", ".join(str(r) for r in rows[:_MAX_ROWS_LISTED])
    more = len(rows) - _MAX_ROWS_LISTED
    return f"row{'s' if len(rows) > 1 else ''} {shown}" + (f" and {more} more" if more > 0 else "")


def write_runs_csv(table: pd.DataFrame, path: str | os.PathLike | None = None) -> str | None:
    """Write a run table as CSV, its units (``attrs``) first as lines ``# units = images``,
    so that :func:`read_runs_csv` gives them back. Returns the text where ``path`` is None."""
    header = "".join(
        f"# {key} = {table.attrs[key]}\n" for key in CSV_ATTRS if str(table.attrs.get(key, "")).strip()
    )
    text = header + table.to_csv(index=False)
    if path is None:
        return text
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return None


def _csv_attrs(head: bytes) -> tuple[dict[str, str], int]:
    """The ``# key = value`` lines at the top of a CSV (see :func:`write_runs_csv`), and how
    many lines they take."""
    attrs, lines = {}, 0
    for line in head.decode("utf-8", errors="replace").splitlines():
        if not line.startswith("#"):
            break
        lines += 1
        key, sep, value = line[1:].partition("=")
        if sep and key.strip() in CSV_ATTRS:
            attrs[key.strip()] = value.strip()
    return attrs, lines


def read_runs_csv(path: str | os.PathLike) -> pd.DataFrame:
    """Read a CSV run table, turning unreadable files into one clear error. Lines
    ``# units = ...``, ``# loss_unit = ...`` above the header go into ``attrs``."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise BayesScalingError(f"{path}: no such file")
    if os.path.isdir(path):
        raise BayesScalingError(f"{path}: is a directory, expected a CSV file of runs")
    with open(path, "rb") as handle:
        head = handle.read(65536)
    try:
        if b"\x00" in head:
            raise UnicodeDecodeError("utf-8", head, 0, 1, "NUL byte")
        head.decode("utf-8")
    except UnicodeDecodeError as err:
        if err.end < len(head) - 4:  # not merely a multi-byte character cut at the edge
            raise BayesScalingError(
                f"{path}: not a text CSV file (binary content, not UTF-8 text); expected a CSV "
                "with a header row such as distribution,pretrain_tokens,finetune_tokens,loss"
            ) from None
    attrs, comment_lines = _csv_attrs(head)
    try:
        table = pd.read_csv(path, skiprows=comment_lines)
    except UnicodeDecodeError:
        raise BayesScalingError(f"{path}: not a text CSV file (it could not be decoded as UTF-8)") from None
    except pd.errors.EmptyDataError:
        raise BayesScalingError(f"{path}: the file is empty; expected a CSV with a header row") from None
    except pd.errors.ParserError as err:
        raise BayesScalingError(f"{path}: not a readable CSV file ({err})") from None
    if table.shape[1] < 2:
        raise BayesScalingError(
            f"{path}: found {table.shape[1]} column(s) ({', '.join(map(str, table.columns))}); "
            "not a CSV run table. Expected comma-separated columns such as "
            "distribution,pretrain_tokens,finetune_tokens,loss"
        )
    table.attrs.update(attrs)
    return table


def _numeric_column(raw: pd.Series, name: str, zero_allowed: bool, problems: list[str]) -> pd.Series:
    """The column as numbers; each kind of bad value (not a number, missing, infinite, below
    its floor) adds one problem naming its rows."""
    allow_zero = {name} if zero_allowed else set()
    values = pd.to_numeric(raw, errors="coerce")
    not_numeric = values.isna() & raw.notna()
    if not_numeric.any():
        rows = _rows(not_numeric)
        example = raw[not_numeric].iloc[0]
        problems.append(
            f"{_describe_rows(rows)}: column {name!r} is not a number "
            f"(e.g. {example!r}); expected a positive number"
        )
    empty = raw.isna()
    if empty.any():
        problems.append(
            f"{_describe_rows(_rows(empty))}: column {name!r} is missing (NaN); expected a positive number"
        )
    infinite = np.isinf(values.to_numpy(dtype=float, na_value=np.nan))
    if infinite.any():
        problems.append(
            f"{_describe_rows(_rows(infinite))}: column {name!r} is infinite; "
            "expected a finite positive number"
        )
    finite = values.notna() & ~infinite
    floor_ok = values >= 0 if name in allow_zero else values > 0
    bad = finite & ~floor_ok
    if bad.any():
        rows = _rows(bad)
        example = values[bad].iloc[0]
        expected = ">= 0" if name in allow_zero else "> 0"
        problems.append(
            f"{_describe_rows(rows)}: column {name!r} is {example:g}; expected a number {expected}"
        )

    return values


def _renamed(data, columns: Mapping[str, str] | None, source: str) -> pd.DataFrame:
    """The table read (a CSV path) or copied (a DataFrame), its columns renamed by ``columns``."""
    if isinstance(data, (str, os.PathLike)):
        table = read_runs_csv(data)
    elif isinstance(data, pd.DataFrame):
        table = data.copy()
    else:
        raise BayesScalingError(f"runs must be a pandas DataFrame or a CSV path, got {type(data).__name__}")
    if columns:
        unknown = [c for c in columns if c not in table.columns]
        if unknown:
            raise RunsValidationError(
                [
                    f"column mapping names {c!r}, which is not in the table "
                    f"(columns are: {', '.join(map(str, table.columns))})"
                    for c in unknown
                ],
                source,
            )
        attrs = dict(table.attrs)
        table = table.rename(columns=dict(columns))
        table.attrs = attrs
    return table.reset_index(drop=True)


def validate_runs(
    data: pd.DataFrame | str | os.PathLike,
    required: Iterable[str] = ("pretrain_tokens", "finetune_tokens"),
    *,
    columns: Mapping[str, str] | None = None,
    allow_zero: Iterable[str] = (),
    min_runs_per_distribution: int = 1,
    units: str | None = None,
    loss_unit: str | None = None,
    source: str | None = None,
    default_loss_unit: str = "nats/token",
) -> Runs:
    """Check a run table against the schema and return clean arrays and labels.

    Parameters
    ----------
    data
        A DataFrame or the path of a CSV file.
    required
        Input columns the law needs besides ``distribution`` and ``loss``.
    columns
        Renames applied first, ``{"name in your table": "name we expect"}``.
    allow_zero
        Input columns where 0 is meaningful (``pretrain_tokens`` for from-scratch runs
        under the ``effective_data`` law).
    min_runs_per_distribution
        Fewest runs a distribution needs for its own parameters to be fitted.
    units, loss_unit
        What the input columns count (default ``tokens``) and what the loss measures
        (default ``default_loss_unit``); stored with the fit and echoed in tables and plots.
        A DataFrame from :func:`load_dataset`, or a CSV written by :func:`write_runs_csv`,
        carries its own (``attrs``), used when these are not given.
    default_loss_unit
        What the loss measures where neither ``loss_unit`` nor the table says: a spec's own
        (an error-rate spec's is ``error rate``), else ``nats/token``.

    Raises
    ------
    RunsValidationError
        Listing every problem found, not only the first.
    """
    if isinstance(data, (str, os.PathLike)):
        source = source or os.fspath(data)
    table = _renamed(data, columns, source or "runs")
    source, attrs = source or "runs", dict(table.attrs)
    required = tuple(required)
    allow_zero = set(allow_zero)
    problems: list[str] = []

    needed = (DISTRIBUTION, *required, LOSS)
    missing = [c for c in needed if c not in table.columns]
    for name in missing:
        hint = (
            f" (name yours so: columns={{'your_name': '{name}'}} in Python, "
            f"--columns your_name={name} on the command line)"
        )
        why = "needed by this law" if name in TOKEN_COLUMNS else "always needed"
        problems.append(f"missing column {name!r}, {why}{hint}")
    if table.empty:
        problems.append("the table has no rows")
    if problems:
        raise RunsValidationError(problems, source)

    labels = table[DISTRIBUTION]
    blank = labels.isna() | (labels.astype(str).str.strip() == "")
    if blank.any():
        problems.append(
            f"{_describe_rows(_rows(blank))}: column 'distribution' is empty; "
            "every run needs the name of its distribution"
        )

    for name in (*required, LOSS):
        table[name] = _numeric_column(table[name], name, name in allow_zero, problems)
    problems.sort(key=_first_row)  # by the first row each names, as a reader goes down the file

    if not blank.all():
        labels = labels[~blank].astype(str)
        counts = labels.value_counts()
        few = counts[counts < min_runs_per_distribution]
        for label, count in few.items():
            problems.append(
                f"distribution {label!r} has {count} run(s); this model fits its own parameters "
                f"and needs at least {min_runs_per_distribution}. Add runs, drop it, or share "
                "its parameters across distributions in the model spec"
            )
    if problems:
        raise RunsValidationError(problems, source)

    table[DISTRIBUTION] = table[DISTRIBUTION].astype(str)
    distributions = tuple(pd.unique(table[DISTRIBUTION]))
    index = pd.Categorical(table[DISTRIBUTION], categories=distributions).codes.astype(np.int64)
    return Runs(
        table=table,
        distributions=distributions,
        distribution_index=index,
        units=units or attrs.get("units") or "tokens",
        loss_unit=loss_unit or attrs.get("loss_unit") or default_loss_unit,
    )
