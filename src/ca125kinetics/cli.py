"""The ``ca125`` command line.

Every subcommand imports what it needs lazily, so ``ca125 --help`` and scoring stay fast.
Errors of the package (bad input, missing model, integrity failure) and operating-system errors
(an ``--out`` path inside a file, no permission, a full disk) become one clear line on stderr
and exit code 2; they never print a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import warnings

from .errors import Ca125KineticsError, Ca125KineticsWarning

__all__ = ["main", "build_parser", "add_format_arguments", "format_options"]

EXIT_USAGE_ERROR = 2


# ----------------------------------------------------------------------------- helpers


def _emit(frame, out: str | None, fmt: str | None, *, text=None) -> None:
    """Write ``frame`` to ``out`` (by suffix or ``fmt``), or print it to stdout."""
    from .io import write_table

    if out:
        path = write_table(frame, out, fmt=fmt if fmt and fmt != "text" else None)
        print(f"wrote {len(frame)} row(s) to {path}", file=sys.stderr)
        return
    if fmt == "csv":
        frame.to_csv(sys.stdout, index=False)
    elif fmt == "json":
        sys.stdout.write(frame.to_json(orient="records", date_format="iso", indent=2) + "\n")
    else:
        sys.stdout.write((text if text is not None else _text_table(frame)) + "\n")


def _text_table(frame, max_rows: int | None = None) -> str:
    import pandas as pd

    shown = frame if max_rows is None or len(frame) <= max_rows else frame.head(max_rows)
    with pd.option_context("display.max_rows", None, "display.max_columns", None,
                           "display.width", 250, "display.max_colwidth", 90):
        text = shown.to_string(index=False, na_rep="-")
    if shown is not frame:
        text += f"\n... {len(frame) - len(shown)} more row(s); use --out FILE for the full table"
    return text


# ----------------------------------------------------------------------------- input format options


def add_format_arguments(parser) -> None:
    """Add the options that say how input tables are written (``ca125 score``, ``validate``,
    ``gcig``, ``kinetics``): ``--date-format``, ``--sep``, ``--decimal``, ``--thousands``,
    ``--rename``. :func:`format_options` turns them into reader keyword arguments."""
    group = parser.add_argument_group("how the input tables are written")
    group.add_argument("--date-format", default=None, metavar="FMT",
                       help="strftime format of dates, e.g. '%%d/%%m/%%Y' (default: ISO YYYY-MM-DD only; "
                       "other dates are refused, never guessed)")
    group.add_argument("--sep", default=None, metavar="CHAR",
                       help="CSV separator, e.g. ';' (default ','; a header with only semicolons is read "
                       "as semicolon-separated, with a note)")
    group.add_argument("--decimal", default=".", choices=[".", ","], help="decimal mark of numbers (default '.')")
    group.add_argument("--thousands", default=None, metavar="CHAR",
                       help="thousands separator, e.g. '.' with --decimal ',' (default: none; 1,200 is refused)")
    group.add_argument("--rename", action="append", default=[], metavar="OLD=NEW", type=_rename_pair,
                       help="read column OLD as the data-contract column NEW, e.g. --rename ECOG=ecog "
                       "(repeatable; applies to every input table that has OLD)")


def _rename_pair(text: str) -> tuple[str, str]:
    import argparse

    old, sep, new = str(text).partition("=")
    if not sep or not old.strip() or not new.strip():
        raise argparse.ArgumentTypeError(f"--rename takes OLD=NEW (e.g. ECOG=ecog), got {text!r}")
    return old.strip(), new.strip()


def format_options(args) -> dict[str, Any]:
    """Reader keyword arguments (``date_format``, ``sep``, ``decimal``, ``thousands``,
    ``columns``) from the options of :func:`add_format_arguments`."""
    sep = getattr(args, "sep", None)
    if sep in ("\\t", "tab", "TAB"):
        sep = "\t"
    return {"date_format": getattr(args, "date_format", None), "sep": sep,
            "decimal": getattr(args, "decimal", "."), "thousands": getattr(args, "thousands", None),
            "columns": dict(getattr(args, "rename", None) or []) or None}


# ----------------------------------------------------------------------------- subcommands


def _cmd_gcig(args) -> int:
    from .gcig import gcig_cohort
    from .io import read_clinical, read_markers
    from .markers import require_gcig_marker
    from .settings import GcigSettings, with_provenance

    require_gcig_marker(args.marker)     # GCIG rules are CA-125's: refuse before reading
    # the GCIG rules read only patient_id, treatment_start (dates) and recist (combined
    # category): the predictors (ECOG, ascites, ...) are validated if present, never required
    fmt = format_options(args)
    clinical = read_clinical(args.clinical, on_error="flag", require=("patient_id",), **fmt) if args.clinical else None
    markers = read_markers(args.markers, clinical=clinical, uln=args.uln, on_error="flag",
                           duplicates=args.duplicates, **fmt)
    settings = GcigSettings(uln=args.uln, duplicates=args.duplicates)
    table = with_provenance(gcig_cohort(markers, clinical, settings=settings), settings)
    summary = _gcig_summary(table, settings)
    if args.out or args.format in ("csv", "json"):
        _emit(table, args.out, args.format)
        print(summary, file=sys.stderr if not args.out else sys.stdout)
    else:
        cols = [c for c in ("patient_id", "uln", "n_samples", "baseline_value", "status", "category",
                            "response_day", "confirmation_day", "progression_group",
                            "progression_day", "reason") if c in table.columns]
        print(_text_table(table[cols], max_rows=args.max_rows))
        print()
        print(summary)
    return 0


def _gcig_summary(table, settings) -> str:
    counts = table["status"].value_counts()
    lines = [f"GCIG CA-125 response (Rustin 2011), {len(table)} patient(s), "
             f"ULN default {settings.uln:g} U/mL (per-sample ULN used where given):"]
    for status, n in counts.items():
        lines.append(f"  {status:<16} {n:>7}  ({100 * n / len(table):.1f} %)")
    if "category" in table.columns:
        cat = table["category"].value_counts()
        lines.append("  confirmed responses: " + ", ".join(f"{k} {v}" for k, v in cat.items()))
    if "progressed" in table.columns:
        lines.append(f"  CA-125 progression: {int(table['progressed'].fillna(False).astype(bool).sum())}")
    return "\n".join(lines)


def _cmd_synth(args) -> int:
    from .synth import write_synthetic

    path = write_synthetic(args.n, args.seed, args.out, format=args.format)
    print(f"wrote a synthetic cohort of {args.n} patient(s) (seed {args.seed}) to {path}")
    return 0


def _kinetics_settings_and_population(args, spec=None):
    """(settings, population, method) of ``ca125 kinetics``: the model's with ``--model``
    (its k_ref, rules and fitted population, so the scores equal those of ``ca125 score``),
    else the package defaults; ``--uln`` and ``--k-ref`` override, and the source of k_ref
    is recorded either way."""
    from .settings import KineticsSettings

    population, method = None, args.method
    if args.model is not None:
        from .predict import _kinetics_step, load_model

        bundle = load_model(args.model, scoring_only=True)
        step = _kinetics_step(bundle)
        settings = step.settings_ if step is not None else bundle.kinetics_settings
        settings = settings.replace(k_ref_source=f"model {getattr(bundle, 'name', '')} "
                                    f"{getattr(bundle, 'version', '')}: {settings.k_ref_source}")
        if step is not None and getattr(step, "method", None) == "population" and method == "population":
            population = getattr(step, "population_", None)
    else:   # the package defaults, with the marker's ULN (CA-125: KineticsSettings() itself)
        settings = KineticsSettings() if spec is None or spec.name == "ca125" else KineticsSettings(uln=spec.default_uln)
    if args.uln is not None:
        settings = settings.replace(uln=args.uln)
    if args.k_ref is not None:
        settings = settings.replace(k_ref=args.k_ref, k_ref_source="given on the command line (--k-ref)")
    return settings, population, method


def _cmd_kinetics(args) -> int:
    from .io import read_markers
    from .kinetics import fit_kinetics
    from .markers import get_marker
    from .settings import ResponseSettings, with_provenance

    spec = get_marker(args.marker)
    settings, population, method = _kinetics_settings_and_population(args, spec)
    markers = read_markers(args.markers, uln=settings.uln, on_error="flag", marker=spec, **format_options(args))
    table = fit_kinetics(markers, method=method, population=population, settings=settings, marker=spec)
    # the standardized score depends on k_ref: each row says which one and where it came from
    table = table.assign(k_ref=settings.k_ref, k_ref_source=settings.k_ref_source)
    summary = _kinetics_summary(table, settings, spec)
    rules = [settings]
    if args.response or spec.name != "ca125":
        from .response import response_features

        response = ResponseSettings(clearance_r2_threshold=args.clearance_r2)
        rules.append(response)
        features = response_features(markers, marker=spec, settings=settings, response=response)
        table = table.merge(features.drop(columns=["uln", "n_samples", "baseline_value", "baseline_day"]),
                            on="patient_id", how="left", validate="one_to_one")
        summary += "\n" + _response_summary(features, response)
    text = _text_table(table, max_rows=args.max_rows) + "\n\n" + summary
    marker = {} if spec.name == "ca125" else {"marker": spec.name}
    _emit(with_provenance(table, *rules, method=method, **marker), args.out, args.format, text=text)
    if args.out:
        print(summary)
    return 0


def _response_summary(features, response) -> str:
    ratio = features["post_pre_ratio"].dropna()
    norm = features["normalised"].dropna()
    clear = features["exponential_clearance"].dropna()
    return (f"  response: median post/pre ratio {ratio.median():.3g} ({len(ratio)} patient(s)); "
            f"normalised {int(norm.sum())} of {len(norm)} with a raised baseline; exponential "
            f"clearance (R^2 > {response.clearance_r2_threshold:g}) {int(clear.sum())} of {len(clear)}")


def _kinetics_summary(table, settings, spec=None) -> str:
    from .settings import KELIM_FAVOURABLE_SCORE

    ok = table[table["status"] == "ok"]
    marker = "" if spec is None or spec.name == "ca125" else f"{spec.label} "
    lines = [f"KELIM-like {marker}kinetics ({table['method'].iloc[0] if len(table) else '-'}), "
             f"{len(table)} patient(s), {len(ok)} scored; standardized score = k / k_ref with k_ref "
             f"{settings.k_ref:g}/day ({settings.k_ref_source})"
             + (f"; ULN {settings.uln:g} {spec.unit}" if marker else "")]
    if len(ok):
        lines.append(f"  median k {ok['k'].median():.4f}/day, median half-life "
                     f"{ok['half_life_days'].median():.1f} days, favourable score "
                     f"(>= {KELIM_FAVOURABLE_SCORE:g}): {int((ok['kelim_score'] >= KELIM_FAVOURABLE_SCORE).sum())}")
    for status, n in table["status"].value_counts().items():
        if status != "ok":
            lines.append(f"  not scored, {status}: {n}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- parser


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line, like package errors."""

    def error(self, message):  # noqa: D102 - argparse hook
        self.exit(EXIT_USAGE_ERROR, f"ca125: error: {message} (see '{self.prog} --help')\n")


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The ``ca125`` parser; with ``argv``, only the chosen lazy subcommand loads its module."""
    parser = _Parser(
        prog="ca125",
        description="CA-125 kinetics prediction models for recurrent ovarian cancer. "
        "Research software, not a medical device.",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"ca125kinetics {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("gcig", help="apply the GCIG CA-125 response/progression rules to every patient",
                       description="Apply the GCIG CA-125 response and progression rules (Rustin 2011) "
                       "to every patient of a markers table and print or write one row per patient.")
    p.add_argument("markers", help="markers table (.csv or .parquet) or a FHIR R4 bundle (.json)")
    p.add_argument("--clinical", help="clinical table (needed for dates, RECIST and the combined category)")
    p.add_argument("--uln", type=float, default=35.0, help="assay upper limit of normal, U/mL (default 35)")
    p.add_argument("--duplicates", default="error",
                   choices=["error", "mean", "median", "max", "min", "first", "last"],
                   help="two samples on one day: a data error (default) or an explicit aggregation")
    p.add_argument("--marker", default="ca125", choices=["ca125", "cea"],
                   help="the GCIG rules are defined for CA-125 only; any other marker is refused")
    p.add_argument("--out", help="write the table to this .csv/.json/.parquet file")
    p.add_argument("--format", choices=["text", "csv", "json"], default=None, help="stdout format")
    p.add_argument("--max-rows", type=int, default=40, help="rows shown in the text table (default 40)")
    add_format_arguments(p)
    p.set_defaults(func=_cmd_gcig)

    p = sub.add_parser("synth", help="generate a seeded synthetic cohort",
                       description="Write markers.csv, clinical.csv and truth.csv of a seeded synthetic "
                       "cohort (synthetic data: not patients).")
    p.add_argument("--n", type=int, default=3000, help="number of patients (default 3000)")
    p.add_argument("--seed", type=int, default=20261121, help="random seed (default 20261121)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--format", choices=["csv", "parquet"], default="csv")
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser("kinetics", help="fit KELIM-like marker elimination rates (CA-125, CEA)",
                       description="Fit the KELIM-like floor model C(t) = B + (C0 - B) exp(-k t) to every "
                       "patient (population empirical-Bayes by default) and report k, half-life, score "
                       "and descriptors.")
    p.add_argument("markers", help="markers table (.csv or .parquet) or a FHIR R4 bundle (.json)")
    p.add_argument("--method", choices=["population", "per-patient", "loglinear"], default="population")
    p.add_argument("--marker", default="ca125", choices=["ca125", "cea"],
                   help="marker of the table, named by its value column (default ca125; cea for CEA)")
    p.add_argument("--uln", type=float, default=None,
                   help="assay upper limit of normal in the marker's unit (default: the model's with --model, "
                   "else 35 U/mL for CA-125, 5 ng/mL for CEA)")
    p.add_argument("--k-ref", type=float, default=None,
                   help="k_ref of the standardized score k / k_ref (default: the model's with --model, "
                   "else the package default 0.05/day)")
    p.add_argument("--model", default=None,
                   help="take k_ref, the kinetics rules and the fitted population of this model (exported "
                   "directory or MLflow URI), so the scores equal those of 'ca125 score --model'")
    p.add_argument("--response", action="store_true",
                   help="add the response features (post/pre ratio, normalisation, clearance R^2); "
                   "always added for markers other than CA-125")
    p.add_argument("--clearance-r2", type=float, default=0.9,
                   help="R^2 threshold of exponential clearance (default 0.9, FOWARC)")
    p.add_argument("--out", help="write the table to this .csv/.json/.parquet file")
    p.add_argument("--format", choices=["text", "csv", "json"], default=None)
    p.add_argument("--max-rows", type=int, default=40)
    add_format_arguments(p)
    p.set_defaults(func=_cmd_kinetics)

    wanted = _first_word(argv)
    for name, help_text, module, add_name, run_name in _LAZY_COMMANDS:
        p = sub.add_parser(name, help=help_text, description=help_text)
        if argv is None or wanted == name:
            # the module (and what it imports) is loaded only for the command being run
            mod = importlib.import_module(module, __package__)
            getattr(mod, add_name)(p)
            p.set_defaults(func=getattr(mod, run_name))
    return parser


#: Subcommands whose code lives in their own module: (name, help, module, add-arguments
#: function, handler). Their modules are imported only when that command runs, so that
#: ``ca125 --help`` and ``ca125 score`` stay fast.
_LAZY_COMMANDS = [
    ("train", "train and compare complete-resection classifiers, tracked in MLflow",
     ".train", "add_train_arguments", "cli_train"),
    ("score", "score patients' marker series with a trained model (GCIG rule applied)",
     ".predict", "add_score_arguments", "cli_score"),
    ("serve", "serve the scoring web page and JSON API", ".web", "add_serve_arguments", "cli_serve"),
    ("validate", "validate a frozen model on a cohort and write an HTML report",
     ".validation.report", "add_validate_arguments", "cli_validate"),
    ("demo", "run the main job end to end on the embedded synthetic defaults",
     ".demo", "add_demo_arguments", "cli_demo"),
    ("design", "trial design: events, patients, detectable HR, selection-trial power, non-inferiority analysis",
     ".design", "add_design_arguments", "cli_design"),
    ("screen", "screen patients against a trial's eligibility criteria (rescue, reset or a criteria file)",
     ".eligibility", "add_screen_arguments", "cli_screen"),
    ("extract", "read CA-125/CEA from a FHIR R4 bundle or an OMOP CDM database into a markers table",
     ".sources.extract", "add_extract_arguments", "cli_extract"),
]


def _first_word(argv: list[str] | None) -> str | None:
    words = sys.argv[1:] if argv is None else argv
    return next((w for w in words if not w.startswith("-")), None)


@contextlib.contextmanager
def _package_warnings_as_notes():
    """The package's own warnings (e.g. a separator detected in a CSV) as one line on stderr,
    ``ca125: note: ...``, instead of Python's two-line form with a source location."""
    default = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, Ca125KineticsWarning):
            print(f"ca125: note: {message}", file=sys.stderr)
        else:
            default(message, category, filename, lineno, file, line)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ca125`` console script."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USAGE_ERROR
    try:
        with _package_warnings_as_notes():
            return int(args.func(args) or 0)
    except Ca125KineticsError as exc:
        message = str(exc).splitlines()
        extra = f" (+{len(message) - 1} more line(s))" if len(message) > 1 and not os.environ.get("CA125_VERBOSE") else ""
        text = "\n".join(message) if os.environ.get("CA125_VERBOSE") else message[0] + extra
        print(f"ca125: error: {text}", file=sys.stderr)
        return EXIT_USAGE_ERROR
    except KeyboardInterrupt:
        print("ca125: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:  # --out in a non-directory, a full disk, no permission, ...
        print(f"ca125: error: {_os_error_line(exc)}", file=sys.stderr)
        return EXIT_USAGE_ERROR


def _os_error_line(exc: OSError) -> str:
    """One line for an operating-system error: what failed, on which path, and a hint."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    paths = " -> ".join(str(p) for p in (exc.filename, exc.filename2) if p is not None)
    hints = {
        NotADirectoryError: "a part of the path is a file, not a directory",
        IsADirectoryError: "give a file name, not a directory",
        PermissionError: "check the permissions, or choose another path",
        FileNotFoundError: "check the path",
        FileExistsError: "a file is in the way; remove it or choose another path",
    }
    hint = next((text for kind, text in hints.items() if isinstance(exc, kind)), None)
    return f"{reason}{': ' + paths if paths else ''}" + (f" ({hint})" if hint else "")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
