"""``ca125 gcig``: the GCIG CA-125 response and progression rules (Rustin 2011) for every patient."""

from __future__ import annotations

import sys

from ..gcig import gcig_cohort, preload_compiled
from ..io import read_clinical, read_markers, setting_uln
from ..markers import require_gcig_marker
from ..settings import PROGRESSION_CONFIRMATIONS, RESPONSE_FALLS, GcigSettings, with_provenance
from . import (add_chunk_arguments, add_duplicates_argument, add_format_arguments, add_progress_argument,
               cohort_stream, format_options, markers_options, progress_wanted, require_rows)
from ._output import (check_table_out, counts as counts_of, emit, max_rows_option, shown_rows, summary_stream,
                      text_table, written_whole)


def add_gcig_arguments(parser) -> None:
    """Arguments of ``ca125 gcig``."""
    parser.description = (
        "Apply the GCIG CA-125 response and progression rules (Rustin 2011) to every patient of a"
        " markers table and print or write one row per patient."
    )
    parser.add_argument("markers", help="markers table (.csv or .parquet) or a FHIR R4 bundle (.json)")
    parser.add_argument("--clinical", help="clinical table (needed for dates, RECIST and the combined category)")
    parser.add_argument("--uln", type=float, default=None,
                        help="assay upper limit of normal, U/mL, for samples that state none (default 35; a FHIR "
                        "bundle's samples with a reference range given only as text are read with --uln only)")
    add_duplicates_argument(parser)
    parser.add_argument("--progression-confirmation", default="sustained", choices=list(PROGRESSION_CONFIRMATIONS),
                        help="which later sample confirms a progression candidate: 'sustained' (default) the first "
                        "drawn at least 7 days later, which with every sample in between must be at/above the "
                        "threshold; 'any' any later sample at least 7 days later at/above it, whatever lies between "
                        "(the literal reading of 'two occasions')")
    parser.add_argument("--response-fall", default="first", choices=list(RESPONSE_FALLS),
                        help="which fall a response is assessed from: 'first' (default) the first sample at/below "
                        "50 %% of baseline, and a broken first fall is not confirmed; 'restart' the next fall after "
                        "the sample that broke one is assessed anew, and so on (the reason names the broken falls)")
    parser.add_argument("--marker", default="ca125", choices=["ca125", "cea"],
                        help="the GCIG rules are defined for CA-125 only; any other marker is refused")
    parser.add_argument("--out", help="write the table to this .csv/.json/.parquet file")
    parser.add_argument("--format", choices=["text", "csv", "json"], default=None, help="stdout format")
    parser.add_argument("--max-rows", type=max_rows_option, default=None,
                        help="rows shown in the text table (default 40; 0 = all; refused with --out or --format "
                        "csv/json, which write every row)")
    add_format_arguments(parser)
    add_chunk_arguments(parser)
    add_progress_argument(parser)
    # the process ends without freeing its modules once the table is written (cli.main)
    parser.set_defaults(exit_without_teardown=True)


def cli_gcig(args) -> int:
    """Handler of ``ca125 gcig``; returns the exit code."""
    require_gcig_marker(args.marker)     # GCIG rules are CA-125's: refuse before reading
    check_table_out(args.out, args.format)
    max_rows = shown_rows(args, text=not written_whole(args), default=40)
    # the GCIG rules read only patient_id, treatment_start (dates) and recist (combined
    # category): the predictors (ECOG, ascites, ...) are validated if present, never required
    fmt = format_options(args)
    # a large markers file (read in chunks) is assessed by the compiled rules: they load in
    # the background while the clinical table is read
    stream = cohort_stream(args)
    if stream is not None:
        preload_compiled()
    clinical = read_clinical(args.clinical, on_error="flag", require=("patient_id",), **fmt) if args.clinical else None
    if clinical is not None:
        require_rows(clinical, args.clinical, "clinical")
    settings = GcigSettings(duplicates=args.duplicates, progression_confirmation=args.progression_confirmation,
                            response_fall=args.response_fall, **({} if args.uln is None else {"uln": args.uln}))
    if stream is None:
        markers = read_markers(args.markers, clinical=clinical, uln=setting_uln(args.markers, settings.uln, args.uln),
                               on_error="flag", duplicates=args.duplicates, **markers_options(args))
        require_rows(markers, args.markers)
        table = with_provenance(gcig_cohort(markers, clinical, settings=settings), settings)
    else:  # a large file: read in patient-complete chunks, each chunk as a whole table is read
        from ..cohort import chunked_format, iter_gcig, run_gcig, write_chunks

        options = dict(settings=settings, read_options=fmt, progress=progress_wanted(args),
                       finish=lambda table: with_provenance(table, settings))
        out_format = chunked_format(args.out, args.format)
        if out_format is not None:  # a big result goes to its file chunk by chunk
            n, kept = write_chunks(iter_gcig(stream, clinical, **options), args.out, out_format,
                                   ("status", "category", "progressed"))
            print(f"wrote {n} row(s) to {args.out}", file=sys.stderr)
            print(_gcig_summary(kept, settings), file=summary_stream(args.out))
            return 0
        table = run_gcig(stream, clinical, **options)
    summary = _gcig_summary(table, settings)
    if written_whole(args):
        emit(table, args.out, args.format)
        print(summary, file=summary_stream(args.out))
    else:
        cols = [c for c in ("patient_id", "uln", "n_samples", "baseline_value", "status", "category",
                            "response_day", "confirmation_day", "progression_group",
                            "progression_day", "reason") if c in table.columns]
        print(text_table(table[cols], max_rows=max_rows))
        print()
        print(summary)
    return 0


def _gcig_summary(table, settings) -> str:
    counts = counts_of(table["status"])
    lines = [f"GCIG CA-125 response (Rustin 2011), {len(table)} patient(s), "
             f"ULN default {settings.uln:g} U/mL (per-sample ULN used where given):"]
    for status, n in counts.items():
        lines.append(f"  {status:<16} {n:>7}  ({100 * n / len(table):.1f} %)")
    if "category" in table.columns:
        cat = counts_of(table["category"])
        lines.append("  confirmed responses: " + (", ".join(f"{k} {v}" for k, v in cat.items()) or "none"))
    if "progressed" in table.columns:
        lines.append(f"  CA-125 progression: {int(table['progressed'].fillna(False).astype(bool).sum())}")
    return "\n".join(lines)
