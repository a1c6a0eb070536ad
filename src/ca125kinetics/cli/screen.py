"""``ca125 screen``: screen a clinical table against a trial's eligibility criteria
(``docs/screening.md``). The command writes what :func:`ca125kinetics.eligibility.screen`
returns: ``to_dict()`` as JSON, ``to_frame()`` as CSV, or the text report."""

from __future__ import annotations

import sys
from pathlib import Path

from ..eligibility import format_screening, screen
from ._output import max_rows_option, shown_rows


def add_screen_arguments(parser) -> None:
    """Options of ``ca125 screen``."""
    parser.add_argument("--trial", default="rescue",
                        help="trial: 'rescue', 'reset' or the path of a .toml criteria file (default rescue)")
    parser.add_argument("--clinical", required=True, help="clinical table (.csv or .parquet)")
    parser.add_argument("--markers", help="CA-125 markers table, for the GCIG response criterion")
    parser.add_argument("--uln", type=float, default=None,
                        help="assay upper limit of normal of the --markers table, U/mL (default 35)")
    from . import add_duplicates_argument

    add_duplicates_argument(parser)
    parser.add_argument("--format", choices=["text", "csv", "json", "parquet"], default=None,
                        help="text: one line per patient and a summary; csv (or parquet): one row per patient; "
                        "json: every criterion of every patient (default: text, or by the --out suffix)")
    parser.add_argument("--out", help="write to this file instead of stdout (.txt, .csv, .json or .parquet)")
    parser.add_argument("--max-rows", type=max_rows_option, default=None,
                        help="patients listed in the text report (default 0 = all; refused with a csv, json or parquet "
                        "output, which lists every patient)")
    from . import add_format_arguments

    add_format_arguments(parser)


def cli_screen(args) -> int:
    """``ca125 screen``: screen a clinical table against a trial's criteria."""
    import json

    from ..settings import GcigSettings
    from . import markers_options

    from ._output import format_for_out

    fmt = format_for_out(args.out, args.format, {".txt": "text", ".csv": "csv", ".json": "json", ".parquet": "parquet"})
    if fmt == "parquet" and not args.out:
        from ..errors import InvalidInputError

        raise InvalidInputError("--format parquet writes a file: give --out FILE.parquet")
    max_rows = shown_rows(args, text=fmt == "text", default=0)
    for given, option in ((args.uln is not None, "--uln"), (args.duplicates != "error", "--duplicates")):
        if given and args.markers is None:
            from ..errors import InvalidInputError

            raise InvalidInputError(f"{option} says how the CA-125 markers table (--markers) is read for the GCIG "
                                    "response criterion; no markers were given, so it would be ignored: leave it out")
    gcig_settings = GcigSettings(duplicates=args.duplicates, **({} if args.uln is None else {"uln": args.uln}))
    result = screen(args.clinical, args.markers, trial=args.trial, gcig_settings=gcig_settings,
                    read_options=markers_options(args))
    if fmt == "json":
        text = json.dumps(result.to_dict(), indent=2)
    elif fmt == "csv":
        text = result.to_frame().to_csv(index=False, lineterminator="\n")
    elif fmt == "text":
        text = format_screening(result, max_rows=max_rows)
    # parquet (written to --out only, checked above) is the frame itself, not a text
    if args.out:
        from .._atomic import atomic_file, write_file

        path = Path(args.out)
        if fmt == "parquet":
            with atomic_file(path) as handle:
                result.to_frame().to_parquet(handle, index=False)
        else:
            write_file(path, text if text.endswith("\n") else text + "\n")
        counts = ", ".join(f"{row.status} {row.n}" for row in result.summary().itertuples())
        print(f"wrote the {result.trial.name} screen of {len(result.patients)} patient(s) to {path} ({counts})",
              file=sys.stderr)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0
