"""How the table commands print a table or write it to a file."""

from __future__ import annotations

import sys

import pandas as pd

__all__ = ["emit", "text_table", "format_for_out", "check_table_out", "summary_stream"]


def counts(values: pd.Series) -> pd.Series:
    """How many rows hold each value, the most frequent first and equal counts by value: a
    summary's lines do not depend on the order of the rows (``value_counts`` put equal counts
    in order of first appearance, and a file grouped but not sorted by patient and read in
    chunks writes its rows in another order than the whole table)."""
    found = values.value_counts()
    return found.sort_index(kind="stable").sort_values(ascending=False, kind="stable")


#: The files :func:`emit` writes a table to (``io.write_table``), by suffix.
TABLE_SUFFIXES = {".csv": "csv", ".json": "json", ".parquet": "parquet", ".pq": "parquet"}


def format_for_out(out: str | None, given: str | None, suffixes: dict[str, str], default: str = "text", *,
                   option: str = "--out") -> str:
    """The output format: ``given`` (``--format``) when stated, else the one ``out``'s suffix
    names (``suffixes``: suffix -> format), else ``default`` without ``--out``. An ``--out``
    whose suffix names no format the command writes, without ``--format``, is refused (a
    text table had been written into ``x.xlsx``, and a report into ``x.csv``); so is one whose
    suffix names another format than ``--format`` (CSV had been written into ``x.parquet``; a
    FHIR bundle is JSON, ``.json`` names it too)."""
    from pathlib import Path

    from ..errors import InvalidInputError

    suffix = Path(out).suffix.lower() if out else ""
    if given:
        named = suffixes.get(suffix) if suffix else None
        if named is not None and named != given and not (given == "fhir" and named == "json"):
            raise InvalidInputError(f"{option} {out} names a {named} file but --format {given} was given: name "
                                    f"the file for the format (or leave --format out to write what the suffix names)")
        return given
    if not out:
        return default
    if suffix not in suffixes:
        kinds = ", ".join(s for s in sorted(set(suffixes)) if s)
        raise InvalidInputError(f"{option} {out}: the command writes {kinds} files, not "
                                f"{suffix or 'a file without a suffix'}; name the file with one of them"
                                + (", or state the format with --format" if option == "--out" else ""))
    return suffixes[suffix]


def check_table_out(out: str | None, fmt: str | None) -> None:
    """Refuse, before the work, an ``--out`` that :func:`emit` would refuse after it: a suffix
    naming no table format, unless ``fmt`` (``--format`` csv/json) states one."""
    format_for_out(out, fmt if fmt != "text" else None, TABLE_SUFFIXES)


def emit(frame, out: str | None, fmt: str | None, *, text=None) -> None:
    """Write ``frame`` to ``out`` (by suffix or ``fmt``), or print it to stdout."""
    if out:
        from ..io import write_table

        path = write_table(frame, out, fmt=fmt if fmt and fmt != "text" else None)
        print(f"wrote {len(frame)} row(s) to {path}", file=sys.stderr)
        return
    if fmt == "csv":
        frame.to_csv(sys.stdout, index=False)
    elif fmt == "json":
        from ..io import json_records

        sys.stdout.write(json_records(frame) + "\n")
    else:
        sys.stdout.write((text if text is not None else text_table(frame)) + "\n")


def summary_stream(out: str | None):
    """Where ``ca125 gcig`` and ``kinetics`` print their summary: stdout beside a table written
    to the file ``out``; stderr when the table itself is on stdout (``--format csv/json``
    without ``--out``, or an ``--out`` that is stdout: ``/dev/stdout``, ``/dev/fd/1``), so that
    stdout holds the table only (the summary had been written into it, over its first bytes
    when stdout was a file)."""
    return sys.stdout if out and not _is_stdout(out) else sys.stderr


def _is_stdout(path) -> bool:
    """Whether ``path`` is the file, pipe or terminal this process's stdout writes to."""
    import os

    try:
        named, stdout = os.stat(path), os.fstat(sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):    # no such file; a stdout without a descriptor
        return False
    return os.path.samestat(named, stdout)


def max_rows_option(text: str) -> int:
    """``--max-rows``: a whole number >= 0, 0 meaning every row (one meaning for every command)."""
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative; give the rows to show, or 0 for all")
    return value


def written_whole(args) -> bool:
    """Whether ``ca125 gcig``/``kinetics`` write their table whole (``--out``, or csv/json on
    stdout) rather than show the text table."""
    return bool(args.out) or args.format in ("csv", "json")


def shown_rows(args, *, text: bool, default: int) -> int:
    """The ``--max-rows`` of a command's text table: ``default`` when the option is left out;
    refused when ``text`` is false (the output is a table written whole, csv/json/parquet, to
    a file or stdout), where it would be read and ignored."""
    if args.max_rows is None:
        return default
    if not text:
        from ..errors import InvalidInputError

        raise InvalidInputError(f"--max-rows {args.max_rows} limits the rows of the text table; this output is a "
                                "table written whole (--out or --format csv/json/parquet): leave --max-rows out")
    return args.max_rows


def text_table(frame, max_rows: int | None = None) -> str:
    """``frame`` as a text table (at most ``max_rows`` rows, then a line saying how many more;
    None or 0: every row). A missing value is shown as ``-`` whatever its column's type."""
    truncated = bool(max_rows) and len(frame) > max_rows
    shown = frame.head(max_rows) if truncated else frame.copy(deep=False)
    # na_rep reaches only float NaN: None in an object column printed 'None' and pd.NA in a
    # nullable column '<NA>', so one table wrote a missing value three ways; such a column is
    # shown as objects with '-' (a float column keeps its formatting and na_rep)
    for i in range(shown.shape[1]):
        col = shown.iloc[:, i]
        if not pd.api.types.is_float_dtype(col.dtype) and col.isna().any():
            shown.isetitem(i, col.astype(object).where(col.notna(), "-"))
    with pd.option_context("display.max_rows", None, "display.max_columns", None,
                           "display.width", 250, "display.max_colwidth", 90):
        text = shown.to_string(index=False, na_rep="-")
    if truncated:
        text += f"\n... {len(frame) - len(shown)} more row(s); use --out FILE for the full table"
    return text
