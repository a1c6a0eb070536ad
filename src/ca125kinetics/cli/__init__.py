"""The ``ca125`` command line.

Every subcommand imports what it needs lazily, so ``ca125 --help`` and scoring stay fast.
Errors of the package (bad input, missing model, integrity failure) and operating-system errors
(an ``--out`` path inside a file, no permission, a full disk) become one clear line on stderr
and exit code 2; they never print a traceback.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import importlib
import os
import sys
import warnings
from typing import Any

from ..errors import (Ca125KineticsError, Ca125KineticsWarning, InvalidInputError, arguments_named, caused_by_interrupt,
                      require_rows, stop_requested)

__all__ = ["main", "build_parser", "add_format_arguments", "format_options", "markers_options"]

EXIT_USAGE_ERROR = 2
#: Exit code after Ctrl-C or SIGTERM (128 + SIGINT, as a shell reports Ctrl-C).
EXIT_INTERRUPTED = 130


# ----------------------------------------------------------------------------- input format options


def add_duplicates_argument(parser, default: str | None = "error", default_text: str = "default") -> None:
    """``--duplicates``: how two samples on one day are read (``GcigSettings.duplicates``,
    ``read_markers(duplicates=...)``), one option for every command that reads a markers table
    by it (gcig, screen, kinetics); ``default_text`` says what the default is."""
    from ..settings import AGGREGATIONS

    parser.add_argument("--duplicates", default=default,
                        choices=["error", *AGGREGATIONS],
                        help=f"two samples on one day: a data error ({default_text}) or an explicit aggregation "
                        "(a '<x' among them makes it an upper bound when it could be lower; two assays on one "
                        "day are refused)")


def add_format_arguments(parser, codes: bool = True) -> None:
    """Add the options that say how input tables are written (``ca125 score``, ``validate``,
    ``gcig``, ``kinetics``, ``train``): ``--date-format``, ``--sep``, ``--decimal``,
    ``--thousands``, ``--rename`` (and ``--drug-code`` and ``--event-code`` unless ``codes``
    is False: a command that reads no FHIR bundle or OMOP database).
    :func:`format_options` turns them into reader keyword arguments."""
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
    if codes:
        add_code_arguments(group)


#: Where the codes of :func:`add_code_arguments` are read by the file commands.
CODES_READ_IN_FILES = ("a FHIR bundle (.json) read as the markers, or the source of ca125 extract (FHIR or OMOP; "
                       "a table is refused with it)")


def add_code_arguments(parser, read_in: str = CODES_READ_IN_FILES) -> None:
    """The ``--drug-code RXNORM=NAME`` option (repeatable): further RxNorm codes whose records
    are doses of the line in a FHIR bundle or an OMOP database (:func:`drug_codes_option`),
    and the ``--event-code SNOMED=KIND`` option (repeatable): further SNOMED CT procedure
    codes read there as exclusion events (:func:`event_codes_option`). ``read_in`` opens
    their help: where the command reads them (``ca125 serve``: the bundles it is sent)."""
    parser.add_argument("--drug-code", action="append", default=None, metavar="RXNORM=NAME",
                        help=f"{read_in}: a further RxNorm code whose records are doses of the "
                        "line, beside the carboplatin and cisplatin ingredients, e.g. a clinical drug: "
                        "597195=carboplatin (repeat for several)")
    parser.add_argument("--event-code", action="append", default=None, metavar="SNOMED=KIND",
                        help=f"{read_in}: a further SNOMED CT procedure code read as an "
                        "exclusion event of the GCIG rules, beside paracentesis 61515000 and thoracentesis "
                        "91602002, e.g. a surgical procedure: 387713003=surgery (KIND: paracentesis, surgery, "
                        "thoracentesis or mouse_antibody; repeat for several)")


def add_progress_argument(parser) -> None:
    """The ``--no-progress`` option of the commands that may show a progress bar on stderr
    (``ca125 train``, ``validate --bootstrap``, and ``gcig``, ``kinetics`` and ``score`` of a
    file read in chunks, on a terminal only): none, e.g. under cron or in a script's log."""
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bar on stderr (none is drawn when stderr is not a terminal either)")


def progress_wanted(args) -> bool:
    """Whether a command draws its progress bar: not ``--no-progress``, and stderr a terminal
    (:func:`ca125kinetics.cohort.bar_wanted`)."""
    from ..cohort import bar_wanted

    return bar_wanted(not args.no_progress)


def add_kelim_cutoff_argument(parser) -> None:
    """The ``--kelim-cutoff`` option: the cut-off of the KELIM-like groups, a setting of
    :data:`ca125kinetics.settings.KELIM_CUTOFFS` or a number
    (:func:`ca125kinetics.settings.kelim_cutoff` reads it)."""
    from ..settings import KELIM_CUTOFFS

    settings = ", ".join(f"{name} ({value:g})" for name, value in KELIM_CUTOFFS.items())
    parser.add_argument("--kelim-cutoff", default=None, metavar="SETTING|NUMBER",
                        help=f"standardized KELIM-like score k / k_ref at or above which it is called favourable: "
                        f"a treatment setting, {settings}, or a number (default first_line)")


def drug_codes_option(args) -> dict[str, str] | None:
    """``--drug-code RXNORM=NAME`` options as the readers' ``drug_codes`` (None when none).
    The codes and names are checked by the readers
    (:func:`ca125kinetics.sources._codes.line_drugs`); here only the option's form."""
    return _code_pairs(getattr(args, "drug_code", None), "--drug-code", "RXNORM=NAME", "597195=carboplatin",
                       "RxNorm")


def event_codes_option(args) -> dict[str, str] | None:
    """``--event-code SNOMED=KIND`` options as the readers' ``event_codes`` (None when none),
    checked by the readers (:func:`ca125kinetics.sources._codes.exclusion_events`)."""
    return _code_pairs(getattr(args, "event_code", None), "--event-code", "SNOMED=KIND", "387713003=surgery",
                       "SNOMED CT")


def source_codes_options(args) -> dict[str, dict[str, str]]:
    """The readers' ``drug_codes`` and ``event_codes`` of the command's options, those given."""
    given = {"drug_codes": drug_codes_option(args), "event_codes": event_codes_option(args)}
    return {k: v for k, v in given.items() if v}


def _code_pairs(pairs, option: str, form: str, example: str, vocabulary: str) -> dict[str, str] | None:
    out: dict[str, str] = {}
    for pair in pairs or ():
        code, sep, name = pair.partition("=")
        if not sep or "=" in name:
            raise InvalidInputError(f"{option} {pair!r}: give {form}, e.g. {example}")
        code, name = code.strip(), name.strip()
        if out.setdefault(code, name) != name:
            raise InvalidInputError(f"{option}: {vocabulary} {code} is given as {out[code]!r} and as {name!r}")
    return out or None


def _rename_pair(text: str) -> tuple[str, str]:
    old, sep, new = str(text).partition("=")
    if not sep or not old.strip() or not new.strip():
        raise argparse.ArgumentTypeError(f"--rename takes OLD=NEW (e.g. ECOG=ecog), got {text!r}")
    return old.strip(), new.strip()


def format_options(args) -> dict[str, Any]:
    """Reader keyword arguments (``date_format``, ``sep``, ``decimal``, ``thousands``,
    ``columns``) from the options of :func:`add_format_arguments`."""
    renames = list(getattr(args, "rename", None) or [])
    for what, names in (("column", [old for old, _ in renames]), ("target", [new for _, new in renames])):
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise InvalidInputError(f"--rename names the {what} {twice[0]!r} twice; rename each column once, "
                                    "to a different data-contract column")
    sep = getattr(args, "sep", None)
    if sep in ("\\t", "tab", "TAB"):
        sep = "\t"
    return {"date_format": getattr(args, "date_format", None), "sep": sep,
            "decimal": getattr(args, "decimal", "."), "thousands": getattr(args, "thousands", None),
            "columns": dict(renames) or None}


def markers_options(args) -> dict[str, Any]:
    """``read_markers`` keyword arguments from the command's options: :func:`format_options`,
    and ``drug_codes`` / ``event_codes`` when ``--drug-code`` / ``--event-code`` are given
    (read from a FHIR bundle; a table given with them is refused by the reader)."""
    return {**format_options(args), **source_codes_options(args)}


# ----------------------------------------------------------------------------- registry-size files


def add_chunk_arguments(parser) -> None:
    """The ``--chunk-rows`` option of the cohort commands (gcig, kinetics, score)."""
    parser.add_argument("--chunk-rows", type=int, default=None, metavar="N",
                        help="a markers file of more than N rows (default 250000) is read in "
                        "patient-complete chunks of about N rows; its rows must be grouped by patient "
                        "(sorted by patient_id when a clinical table is given); one chunk per usable CPU, "
                        "at most 4, is computed at once: lower N to use less memory")


def cohort_stream(args):
    """The markers file of a cohort command opened for chunks (:mod:`ca125kinetics.cohort`),
    or None when it is one chunk (then the whole table is read at once). The file is checked
    and its header read with the command's ``--sep`` and ``--rename``."""
    from ..cohort import DEFAULT_CHUNK_ROWS, checked_chunk_rows, stream_markers

    given = getattr(args, "chunk_rows", None)
    chunk_rows = checked_chunk_rows(DEFAULT_CHUNK_ROWS if given is None else given)
    if not isinstance(args.markers, str) or source_codes_options(args):
        # drug and event codes are read from a FHIR bundle, read whole; a table is refused with them
        return None
    fmt = format_options(args)
    # notes of the file check (a detected separator) are given once: here when the file is
    # streamed, else by the whole-table reader, which checks the file again
    with warnings.catch_warnings(record=True) as notes:
        warnings.simplefilter("always")
        stream = stream_markers(args.markers, chunk_rows=chunk_rows,
                                sep=fmt["sep"], columns=fmt["columns"])
        if stream.fits_one_chunk():
            return None
    for note in notes:
        warnings.warn_explicit(note.message, note.category, note.filename, note.lineno)
    _streaming_allocator()
    return stream


def _streaming_allocator() -> None:
    """Arrow's memory of a streamed run from the C library's allocator rather than pyarrow's
    default, mimalloc, unless the user chose one (``ARROW_DEFAULT_MEMORY_POOL``). mimalloc
    hands the memory of each chunk's freed tables back to the system at once, and the next
    chunk's tables fault it in again: on 1,000,000 patients that was 1-1.5 s of system time
    (``ca125 gcig`` 4.6-5.1 -> 4.2-4.4 s wall, ``ca125 score`` 13.4 -> 12.2 s). Buffers made
    before the switch go back to the pool that made them. The C library's allocator then also
    keeps to :data:`STREAM_MALLOC_ARENAS` arenas (:func:`_limit_malloc_arenas`)."""
    _limit_malloc_arenas()
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return
    import pyarrow as pa

    pa.set_memory_pool(pa.system_memory_pool())


#: Arenas of glibc's allocator in a streamed run (its default: 8 per CPU). With one arena
#: per thread, the chunks computed by two threads at once and written by a third are freed
#: into arenas that hand their memory back to the system and fault it in again: on
#: 1,000,000 patients, 2 cores, ``ca125 score`` to CSV took 6.6-10.3 s system time and
#: 15.5-19.7 s wall (2.5-2.9 s and 11.3-12.0 s with one computing thread); with 2 arenas
#: 3.5-3.7 s and 12.6-12.9 s (to Parquet 7.4-8.3 s wall and peak memory 1.30-1.41 GB,
#: against 7.8-7.9 s and 1.71-1.75 GB).
STREAM_MALLOC_ARENAS = 2
_M_ARENA_MAX = -8      # glibc's mallopt parameter number


def _limit_malloc_arenas() -> bool:
    """Limit glibc's malloc arenas of this process to :data:`STREAM_MALLOC_ARENAS` unless the
    user chose a number (``MALLOC_ARENA_MAX``); True when glibc took it (not on another C
    library or system, where nothing is changed)."""
    if os.environ.get("MALLOC_ARENA_MAX") or not sys.platform.startswith("linux"):
        return False
    import ctypes
    import platform

    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(_M_ARENA_MAX, STREAM_MALLOC_ARENAS) == 1


# ----------------------------------------------------------------------------- parser


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line, like package errors, reads an option
    only by its whole name, and refuses an option given twice. With abbreviations, ``--marker
    cea`` on a command without ``--marker`` was read as ``--markers cea`` (scoring CA-125 from
    a file named 'cea', or silently ignoring the marker asked for); an option given twice
    (``design events --hr 0.6 --hr 0.9``) was read as its last value, the first dropped
    without a word. The options meant to repeat (``append``: ``--rename``, ``--drug-code``,
    ``--event-code``, ``--drug-type``) and flags, which take no value, may be repeated."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def parse_known_args(self, args=None, namespace=None):  # noqa: D102 - argparse hook
        # each parser (the command's, a subcommand's) is given the words that follow its name
        words = sys.argv[1:] if args is None else list(args)
        given: set[argparse.Action] = set()
        for word in words:
            if word == "--":               # what follows is not options
                break
            action = self._option_string_actions.get(word.split("=", 1)[0]) if word.startswith("--") else None
            if action is None or action.nargs == 0 or isinstance(action, argparse._AppendAction):
                continue
            if action in given:
                self.error(f"{'/'.join(action.option_strings)} is given twice; give it once")
            given.add(action)
        return super().parse_known_args(args, namespace)

    def error(self, message):  # noqa: D102 - argparse hook
        self.exit(EXIT_USAGE_ERROR, f"ca125: error: {message} (see '{self.prog} --help')\n")


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The ``ca125`` parser; with ``argv``, only the chosen lazy subcommand loads its module."""
    parser = _Parser(
        prog="ca125",
        description="CA-125 kinetics prediction models for recurrent ovarian cancer. "
        "Research software, not a medical device.",
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"ca125kinetics {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    wanted = _first_word(argv)
    for name, help_text, module, add_name, run_name in _LAZY_COMMANDS:
        p = sub.add_parser(name, help=help_text, description=help_text)
        if argv is None or wanted == name:
            # the module (and what it imports) is loaded only for the command being run
            mod = importlib.import_module(module, "ca125kinetics")
            getattr(mod, add_name)(p)
            p.set_defaults(func=getattr(mod, run_name))
    return parser


#: Every subcommand: (name, help, module relative to the ``ca125kinetics`` package,
#: add-arguments function, handler). A module is imported only when its command runs, so
#: that ``ca125 --help`` and ``ca125 score`` stay fast. A new command is one line here.
_LAZY_COMMANDS = [
    ("gcig", "apply the GCIG CA-125 response/progression rules to every patient",
     ".cli.gcig", "add_gcig_arguments", "cli_gcig"),
    ("synth", "generate a seeded synthetic cohort", ".cli.synth", "add_synth_arguments", "cli_synth"),
    ("kinetics", "fit KELIM-like marker elimination rates (CA-125, CEA)", ".cli.kinetics", "add_kinetics_arguments",
     "cli_kinetics"),
    ("train", "train and compare complete-resection classifiers, tracked in MLflow",
     ".cli.train", "add_train_arguments", "cli_train"),
    ("score", "score patients' marker series with a trained model (GCIG rule applied)",
     ".cli.score", "add_score_arguments", "cli_score"),
    ("serve", "serve the scoring web page and JSON API", ".cli.serve", "add_serve_arguments", "cli_serve"),
    ("validate", "validate a frozen model on a cohort and write an HTML report",
     ".cli.validate", "add_validate_arguments", "cli_validate"),
    ("demo", "run the main job end to end on the embedded synthetic defaults",
     ".cli.demo", "add_demo_arguments", "cli_demo"),
    ("design", "trial design: events, patients, detectable HR, selection-trial power, non-inferiority analysis",
     ".cli.design", "add_design_arguments", "cli_design"),
    ("screen", "screen patients against a trial's eligibility criteria (rescue, reset or a criteria file)",
     ".cli.screen", "add_screen_arguments", "cli_screen"),
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
    """Entry point of the ``ca125`` console script.

    Run as the process itself (``argv`` None: the console script, ``python -m``), a command
    whose parser sets ``exit_without_teardown`` (``ca125 kinetics``, ``gcig``, ``score``) runs
    with fewer garbage collections (:func:`_fewer_collections`) and ends the process as soon
    as its output is written and flushed and its exit handlers have run (:func:`_exit_now`).
    Run as the process, every command but ``ca125 serve`` (the server stops gracefully by
    itself) takes SIGTERM as Ctrl-C (:func:`._workers.stop_signals_as_interrupt`): its clean-up
    runs and it exits with 130, at once (:func:`_exit_now`, without the exit handlers); so it
    does when the interruption was lost inside a library (the request to stop is recorded).
    """
    process = argv is None
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USAGE_ERROR
    whole_process = process and getattr(args, "exit_without_teardown", False)
    if whole_process:
        _fewer_collections()
    # the package's refusals name the arguments the command's options give by those options
    # (``--n-jobs must be ...``, not ``n_jobs``)
    with arguments_named(_option_names(parser, args)):
        if process and args.command != "serve":   # the server handles SIGTERM itself: a graceful stop
            from ._workers import stop_signals_as_interrupt

            try:
                with stop_signals_as_interrupt():
                    code = _run(args)
                    if code != EXIT_INTERRUPTED and stop_requested():
                        code = _interrupted()   # asked to stop, and the interruption was lost on the way
            except KeyboardInterrupt:           # a signal after the command's own handling
                code = _interrupted()
        else:
            code = _run(args)
    if process and code == EXIT_INTERRUPTED:
        # after an interruption, no interpreter teardown and no exit handlers: they would join
        # what the interruption left half made (an executor thread never started, a worker
        # never registered)
        _exit_now(code)
    if whole_process:
        _exit_now(code, exit_handlers=True)
    return code


#: Allocations between two collections of Python's youngest generation, and collections of
#: a generation between two of the next (Python's defaults: 700, 10, 10).
GC_THRESHOLDS = (50_000, 20, 20)


def _fewer_collections() -> None:
    """Collect reference cycles less often for the rest of the process (:data:`GC_THRESHOLDS`).

    A registry-scale command's data are numpy and Arrow buffers, freed by reference
    counting as soon as a chunk is done. Its imports (pandas, pyarrow, numba, statsmodels)
    create millions of long-lived objects, and at Python's default thresholds they set off
    full collections that walk all of them. On the 1M-patient ``ca125 kinetics``, four
    such collections took 0.23-0.44 s, holding the interpreter lock that the reading,
    fitting and writing threads share. With these thresholds the collector takes under
    0.1 s, and the peak memory is the same (measured).
    """
    import gc

    gc.set_threshold(*GC_THRESHOLDS)


def _exit_now(code: int, *, exit_handlers: bool = False) -> None:
    """End the process with ``code`` once stdout and stderr are flushed, without the
    interpreter's teardown: freeing every module and object, which after a registry-scale
    run with the compiled engine and statsmodels loaded takes about 0.4 s and changes
    nothing (the command's files are closed and its threads joined when it returns).
    ``exit_handlers``: the ``atexit`` handlers run first, as at a normal exit (e.g. the
    removal of the temporary copy of a model that MLflow downloaded)."""
    if exit_handlers:
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):   # a closed pipe or stream: nothing more can be said there
            pass
    os._exit(code)


def _option_names(parser: argparse.ArgumentParser, args) -> dict[str, str]:
    """The options of the command being run (and of its subcommand: ``design events``,
    ``extract omop``) by the argument each gives (argparse's dest): ``{"n_jobs": "--n-jobs"}``.
    An option's dest is the name of the argument or setting it gives (``--k-ref``: ``k_ref``)."""
    names: dict[str, str] = {}
    while parser is not None:
        chosen = None
        for action in parser._actions:     # noqa: SLF001 - argparse keeps no public list of them
            if isinstance(action, argparse._SubParsersAction):   # noqa: SLF001
                chosen = action.choices.get(getattr(args, action.dest, None))
            elif action.option_strings:
                names[action.dest] = next((o for o in action.option_strings if o.startswith("--")),
                                          action.option_strings[0])
        parser = chosen
    return names


@contextlib.contextmanager
def _whole_writes_to_stdout():
    """Within the block, an unbuffered stdout (``python -u``, ``PYTHONUNBUFFERED=1``, as many
    container images set) is written through a buffer, flushed at each line's end.

    Unbuffered, Python hands a text to the file in one write and does not check that the
    system took all of it: a file that can take only part (a full disk under ``> report.txt``)
    kept the first part and the command ended with exit 0. A buffer writes on until every
    byte is taken or the system refuses, an error the command reports (exit 2). Its writes go
    through a copy of stdout's descriptor, closed when the block ends."""
    import io

    text = sys.stdout
    raw = getattr(text, "buffer", None)
    if not isinstance(raw, io.FileIO) or raw.closed:    # buffered (the default), or not a file
        yield
        return
    text.flush()
    checked = io.TextIOWrapper(io.BufferedWriter(io.FileIO(os.dup(raw.fileno()), "wb")), encoding=text.encoding,
                               errors=text.errors, line_buffering=True)
    sys.stdout = checked
    try:
        yield
        checked.flush()     # the last bytes: their error is the command's
    finally:
        if sys.stdout is checked:
            sys.stdout = text
        with contextlib.suppress(OSError, ValueError):  # after an error, what is left is not written again
            checked.close()


def _run(args) -> int:
    """The chosen command's handler; package errors and interruptions as one line and an
    exit code."""
    try:
        _refuse_output_over_input(args)
        with _whole_writes_to_stdout():
            with _package_warnings_as_notes():
                code = int(args.func(args) or 0)
            if sys.stdout is not None:
                # the output's last bytes, still in the buffer: a failure to write them (a full
                # disk under a redirected stdout) is the command's error, not an exit's unchecked flush
                sys.stdout.flush()
        return code
    except Ca125KineticsError as exc:
        message = str(exc).splitlines()
        extra = f" (+{len(message) - 1} more line(s))" if len(message) > 1 and not os.environ.get("CA125_VERBOSE") else ""
        text = "\n".join(message) if os.environ.get("CA125_VERBOSE") else message[0] + extra
        print(f"ca125: error: {text}", file=sys.stderr)
        return EXIT_USAGE_ERROR
    except KeyboardInterrupt:
        return _interrupted()
    except BrokenPipeError:
        return 0
    except OSError as exc:  # --out in a non-directory, a full disk, no permission, ...
        if caused_by_interrupt(exc):
            return _interrupted()
        print(f"ca125: error: {_os_error_line(exc)}", file=sys.stderr)
        return EXIT_USAGE_ERROR
    except Exception as exc:
        if caused_by_interrupt(exc):   # e.g. joblib's abort failing when Ctrl-C landed inside it
            return _interrupted()
        raise


#: The options of each command that name a file it reads, and those naming a file it writes
#: (``design --predictions`` is read, ``validate --predictions`` written).
_FILES = {
    "validate": (("markers", "clinical"), ("out", "predictions")),
    "score": (("markers", "clinical"), ("out",)),
    "gcig": (("markers", "clinical"), ("out",)),
    "kinetics": (("markers",), ("out",)),
    "screen": (("clinical", "markers", "trial"), ("out",)),
    "design": (("predictions", "data"), ("out", "plot")),
    "extract": (("bundle", "person_ids"), ("out",)),
}
#: Options given without a name on the command line (``ca125 gcig MARKERS``).
_POSITIONAL = {"gcig": ("markers",), "kinetics": ("markers",), "extract": ("bundle",)}


def _refuse_output_over_input(args) -> None:
    """Refuse, before any work, a file to write that is one of the files the command reads
    (``validate --predictions clinical.csv`` replaced the clinical table by the predictions):
    the same file by any path (a link, ``./``), compared with :func:`os.path.samefile`."""
    command = getattr(args, "command", None)
    inputs, outputs = _FILES.get(command, ((), ()))
    for out in outputs:
        path = getattr(args, out, None)
        if not path or not os.path.isfile(str(path)):
            continue
        for option in inputs:
            given = getattr(args, option, None)
            if given and os.path.isfile(str(given)) and os.path.samefile(str(path), str(given)):
                read_as = option if option in _POSITIONAL.get(command, ()) else "--" + option.replace("_", "-")
                raise InvalidInputError(f"--{out} {str(path)!r} is the file read as {read_as}; writing it would "
                                        "replace that input: give another file name")


def _interrupted() -> int:
    """Ctrl-C or SIGTERM (or an error raised while one was handled): one line, code 130."""
    print("ca125: interrupted", file=sys.stderr)
    return EXIT_INTERRUPTED


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
