"""One error hierarchy and the package's warning classes.

Every error raised on purpose by ca125kinetics derives from :class:`Ca125KineticsError`.
Errors about bad input also derive from :class:`ValueError`, so ordinary ``except
ValueError`` code keeps working. Messages say what is wrong, where (file, row, patient,
column), and how to fix it.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import re
import threading

__all__ = [
    "Ca125KineticsError",
    "InvalidInputError",
    "InsufficientDataError",
    "NoMarkerDataError",
    "MissingDependencyError",
    "ModelIntegrityError",
    "ModelNotFoundError",
    "Ca125KineticsWarning",
    "DataQualityWarning",
    "SyntheticModelWarning",
    "location",
    "caused_by_interrupt",
    "stop_requested",
    "check_stop",
    "hide_password",
]


class Ca125KineticsError(Exception):
    """Base class of every error ca125kinetics raises on purpose."""


class InvalidInputError(Ca125KineticsError, ValueError):
    """Input does not meet the data contract (missing column, bad value, duplicate day...).

    Attributes
    ----------
    source, row, patient_id, column : optional
        Where the problem is, when known. ``row`` is 1-based counting the header as row 1
        for CSV files (the record: what a spreadsheet shows, except that blank lines are not
        counted), 0-based position for Parquet files, the index label for DataFrames (the
        0-based position for a default index; a tuple for a MultiIndex).
    """

    def __init__(self, message: str, *, source=None, row=None, patient_id=None, column=None):
        self.message = message      # without the location
        self.source = source
        self.row = row
        self.patient_id = patient_id
        self.column = column
        where = location(source=source, row=row, patient_id=patient_id, column=column)
        super().__init__(f"{where}: {message}" if where else message)


class InsufficientDataError(Ca125KineticsError, ValueError):
    """Valid input that holds too little information for the requested computation."""


class NoMarkerDataError(InvalidInputError):
    """A FHIR bundle or OMOP database holds no usable value of the marker asked for.

    The message says what was found instead (other markers, skipped rows and their reasons).
    """


class MissingDependencyError(Ca125KineticsError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


class ModelIntegrityError(Ca125KineticsError):
    """A model directory failed its SHA-256 manifest check, or carries unknown files."""


class ModelNotFoundError(Ca125KineticsError, LookupError):
    """No model at the given path or URI."""


class Ca125KineticsWarning(UserWarning):
    """Base class of the package's warnings."""


class DataQualityWarning(Ca125KineticsWarning):
    """Input was usable but questionable (assay change, value beyond day 100, ...)."""


class SyntheticModelWarning(Ca125KineticsWarning):
    """The model in use was trained on synthetic data: not for clinical decisions."""


#: How refusals name the arguments (and settings) of the package's functions: by their Python
#: names, unless a caller that takes them under other names says so (:func:`arguments_named`:
#: the ``ca125`` command names its options, ``--n-jobs`` for ``n_jobs``).
_ARGUMENT_NAMES: contextvars.ContextVar[dict] = contextvars.ContextVar("argument_names", default={})


def argument_name(name: str, python: str | None = None) -> str:
    """How a refusal names ``name``, an argument or setting of the package's functions: as the
    caller calls it (``--n-jobs`` under the ``ca125`` command), else as the Python message words
    it, ``python`` (e.g. ``"setting 'uln'"``), else ``name`` itself."""
    shown = _ARGUMENT_NAMES.get().get(name)
    if shown is not None:
        return shown
    return name if python is None else python


@contextlib.contextmanager
def arguments_named(names: dict):
    """Within the block, refusals call the arguments by ``names`` (argument -> the caller's name
    for it, e.g. ``{"n_jobs": "--n-jobs"}``); an argument not in it keeps its Python name."""
    token = _ARGUMENT_NAMES.set(dict(names))
    try:
        yield
    finally:
        _ARGUMENT_NAMES.reset(token)


#: Set when the process is asked to stop (Ctrl-C or SIGTERM) under the ``ca125`` command's
#: handler of those signals (:func:`ca125kinetics.cli._workers.stop_signals_as_interrupt`).
_STOP = threading.Event()


def stop_requested() -> bool:
    """Whether this process was asked to stop (Ctrl-C or SIGTERM, under the ``ca125``
    command's handler), even when the :class:`KeyboardInterrupt` the request raised was lost.

    A signal's handler raises where the main thread happens to be, and a library's compiled
    code that calls back into Python there may clear any error it meets: pyarrow's conversion
    of a pandas column looks up an attribute of the Series, pandas answers that look-up in
    Python, and the interruption raised in it was cleared; ``ca125 score`` then finished and
    renamed its output as if never stopped. The request is recorded apart from the exception,
    so the places that must not finish a stopped job (:func:`check_stop`) see it."""
    return _STOP.is_set()


def check_stop() -> None:
    """Raise :class:`KeyboardInterrupt` when this process was asked to stop
    (:func:`stop_requested`): called where a job commits what it made (a chunk written,
    the output renamed into place) and between its items."""
    if _STOP.is_set():
        raise KeyboardInterrupt("stop requested")


def caused_by_interrupt(exc: BaseException) -> bool:
    """Whether ``exc`` is an interruption (Ctrl-C, or SIGTERM taken as one), or was raised
    while one was being handled (in its ``__context__`` chain).

    An interruption can land inside a library's own machinery and turn into another error
    there: arriving while loky started its executor thread, it made joblib's abort raise
    ``RuntimeError: cannot join thread before it is started``. That error is still the
    interruption the user asked for, not a failure to report with a traceback.
    """
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def _invalid_reason(problem) -> str:
    """The reason of a patient whose input is invalid: its ``problem`` text (which the readers
    already begin with ``"invalid input: "``), with that prefix added only when missing."""
    text = str(problem)
    return text if text.startswith("invalid input: ") else f"invalid input: {text}"


def location(*, source=None, row=None, patient_id=None, column=None) -> str:
    """Format where a problem is, e.g. ``"markers.csv, row 12, patient '007', column 'ca125'"``."""
    parts = []
    if source is not None:
        parts.append(str(source))
    if row is not None:
        parts.append(f"row {row}")
    if patient_id is not None:
        parts.append(f"patient {patient_id!r}")
    if column is not None:
        parts.append(f"column {column!r}")
    return ", ".join(parts)


def not_a_file(path) -> str:
    """Why ``path`` (a ``pathlib.Path``) cannot be read as a file, said first in a refusal: it
    is a directory, or there is nothing there."""
    return "is a directory" if path.is_dir() else "file not found"


def require_rows(table, source, what: str = "markers") -> None:
    """Refuse a table without rows (an empty export, a filter that kept nothing; a header-only
    file): a command would otherwise report on no patients as if it had assessed a cohort.
    ``source`` is named when it is a file (a path), ``what`` is ``"markers"`` or ``"clinical"``.
    One refusal, in the same words, for every command (gcig, kinetics, score, screen, validate)."""
    if len(table) == 0:
        name = str(source) if isinstance(source, (str, os.PathLike)) else None
        raise InvalidInputError(f"the {what} table has no rows (a header only, or nothing left after a filter); "
                                "give the table with its patients' rows", source=name)


#: ``scheme://user:password@`` in a text (a database or tracking URL a message names)
_URL_PASSWORD = re.compile(r"(://[^:/@\s'\"]*):[^/\s'\"]*@")


def hide_password(text: str) -> str:
    """``text`` with the password of every URL in it shown as ``***`` (``user:***@host``), as
    SQLAlchemy renders a URL with ``hide_password``: a message names the URL, never its
    password, also when the URL could not be parsed."""
    return _URL_PASSWORD.sub(r"\1:***@", str(text))
