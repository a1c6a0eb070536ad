"""Read and validate the two tables of the data contract: markers and clinical.

Both readers accept a path to a CSV or Parquet file (markers also a FHIR R4 bundle, ``.json``),
or a pandas DataFrame, and return a
canonical DataFrame (documented below) or raise :class:`~ca125kinetics.errors.InvalidInputError`
naming the file, row, patient and column, and saying how to fix the problem.

With ``on_error="flag"`` a reader never raises for a bad patient: the patient is kept, as a
single row whose ``problem`` column holds every reason found, so that batch scoring can give
that patient a status and a reason while the others are scored. Nothing is silently dropped.

Canonical markers frame (sorted by ``patient_id``, ``day``; RangeIndex)
------------------------------------------------------------------------
=========== ========= =====================================================================
column      dtype     meaning
=========== ========= =====================================================================
patient_id  object    identifier, always a string (leading zeros kept)
day         int64     days from the first dose of the line (day 0); pretreatment <= 0
ca125       float64   the marker's value, in the marker's unit (U/mL for CA-125); for a
                      censored ``"<5"`` value this holds 5.0, the limit; NaN only on an
                      event-only row. **The column keeps the marker's name**: ``ca125``
                      for CA-125 (the default), ``cea`` (ng/mL) for
                      ``read_markers(..., marker="cea")``; the kinetics functions take the
                      same ``marker=``.
censored    bool      True when the value was reported as ``"<x"`` (true value below x)
uln         float64   assay upper limit of normal (``uln`` argument filled in where absent)
assay       object    assay name or None
event       object    None or paracentesis / thoracentesis / surgery / mouse_antibody
problem     object    None, or (``on_error="flag"``) why this patient's data is invalid
=========== ========= =====================================================================

Extra columns of the input are kept after these; the single row of a patient flagged invalid
holds the first value the patient's rows give in each (the clinical factors of the pyfunc
form: a patient refused for its markers keeps its clinical values, as when the table is split
as a DataFrame).

Never guessed
-------------
How the table is written is read as stated, or refused (each rule is one function, used by
both readers): dates are ISO ``YYYY-MM-DD`` (a time of day or offset is dropped: calendar
days) unless ``date_format`` says otherwise (:func:`_parse_dates`); numbers follow
``decimal``/``thousands``, and ``1,200`` is refused when they are not stated
(:func:`_parse_numbers`); a CSV header with semicolons only is read as such with a
:class:`~ca125kinetics.errors.DataQualityWarning`; a header naming a column twice is refused
(:func:`_check_header`); a column that is a near miss of a data-contract column (``ECOG``,
``pfi``) is refused with the suggestion unless ``columns=`` maps it (:func:`_resolve_columns`);
a ``censored`` flag other than true/false/1/0/yes/no/empty is refused
(:func:`_parse_censored_flags`); a null identifier (None, NaN, ``pd.NA``) is refused like an
empty one; CA-125 above :data:`CA125_MAX` and ULN above :data:`ULN_MAX` are invalid.

Column-wise
-----------
The rules are applied to whole columns. A text column held by Arrow (what pandas 3 reads
from Parquet and CSV) stays in Arrow form (:class:`_Text`): cells that need no judgement
(no surrounding space, plain decimals, ISO dates) go through Arrow and numpy kernels, every
other cell through the element-wise rule once per distinct value; the results and messages
are those of the element-wise rules (tested cell by cell). Messages are formatted only for
rows with a problem.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import difflib
import functools
import gzip
import math
import numbers
import os
import re
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import DataQualityWarning, InvalidInputError, argument_name, caused_by_interrupt, check_stop, location
from .markers import MARKERS, MarkerSpec, get_marker
from .settings import AGGREGATIONS as _AGGREGATIONS
from .settings import DEFAULT_ULN, EVENT_KINDS, RECIST_CATEGORIES, _refuse_single, check_uln_argument, event_kind

__all__ = [
    "read_markers",
    "marker_columns",
    "read_clinical",
    "patient_record",
    "records_from_frames",
    "PatientBatch",
    "PatientRecord",
    "write_table",
    "json_records",
    "MARKER_COLUMNS",
    "CLINICAL_COLUMNS",
    "EVENT_KINDS",
    "RECURRENCE_PATTERNS",
    "CLINICAL_NUMBERS",
    "CLINICAL_CATEGORIES",
    "CLINICAL_OUTCOMES",
    "CA125_MAX",
    "ULN_MAX",
]

MARKER_COLUMNS = ("patient_id", "day", "ca125", "censored", "uln", "assay", "event", "problem")
RECURRENCE_PATTERNS = ("single", "multiple", "carcinomatosis")
#: FIGO stages at diagnosis as the readers write them (substages read as their stage).
FIGO_STAGES = ("I", "II", "III", "IV")
#: Trial arms: a RESCUE-like trial (secondary cytoreduction or not), a RESET-like trial (margins).
ARMS = ("surgery", "no_surgery", "reduced", "conventional")
CLINICAL_REQUIRED = (
    "patient_id", "age", "ecog", "ascites_ml", "figo_stage", "primary_residual_disease",
    "pfi_months", "recurrence_pattern",
)
CLINICAL_OPTIONAL = (
    "recist", "treatment_start", "complete_resection", "arm", "pfs_months", "pfs_event",
)
CLINICAL_COLUMNS = CLINICAL_REQUIRED + CLINICAL_OPTIONAL
#: Clinical factors at recurrence that the models use (the required columns but the id).
CLINICAL_FACTORS = CLINICAL_REQUIRED[1:]
#: Clinical values a :class:`PatientRecord` carries: the factors and the RECIST category.
CLINICAL_PREDICTORS = CLINICAL_FACTORS + ("recist",)
#: Clinical columns that the pyfunc input form may repeat on every markers row
#: (``treatment_start`` is needed when the markers carry dates).
CLINICAL_INPUT_COLUMNS = CLINICAL_PREDICTORS + ("treatment_start",)

#: Columns the readers themselves write (a canonical frame read again keeps them).
_DERIVED_COLUMNS = ("figo_stage_raw", "problem")

# ---- screening columns (optional; read by ca125kinetics.eligibility, see docs/data-contract.md)
#: Histology codes: epithelial ovarian/tubal/peritoneal types, then the rectal ones.
HISTOLOGY_CODES = (
    "high_grade_serous", "low_grade_serous", "endometrioid", "clear_cell", "mucinous",
    "mixed_epithelial", "other_epithelial", "borderline", "non_epithelial",
    "adenocarcinoma", "neuroendocrine", "squamous", "other",
)
#: The ovarian/tubal/peritoneal histology codes (contradicted by a rectal or colonic site).
_OVARIAN_HISTOLOGY = HISTOLOGY_CODES[:9]
#: Primary tumour site codes (ovarian trials; rectal trials, site seen on endoscopy).
TUMOUR_SITES = (
    "ovary", "fallopian_tube", "peritoneum",
    "upper_rectum", "rectosigmoid", "mid_rectum", "low_rectum", "colon", "other",
)
#: The rectal and colonic sites.
_BOWEL_SITES = ("upper_rectum", "rectosigmoid", "mid_rectum", "low_rectum", "colon")
T_STAGES = ("T0", "Tis", "T1", "T2", "T3", "T4", "T4a", "T4b")
N_STAGES = ("N0", "N1", "N1a", "N1b", "N1c", "N2", "N2a", "N2b")
M_STAGES = ("M0", "M1", "M1a", "M1b", "M1c")
MMR_STATUSES = ("pMMR", "dMMR")
MSI_STATUSES = ("MSS", "MSI-L", "MSI-H")
NEOADJUVANT_REGIMENS = ("chemotherapy", "tnt", "chemoradiotherapy", "immunotherapy", "other", "none")
BOWEL_OBSTRUCTION = ("none", "relieved_by_colostomy", "unrelieved")
#: Screening flags, 0/1 (1 = the named fact holds), in the order of docs/data-contract.md.
SCREENING_FLAGS = {
    "consent": "1 = signed consent (including to data transfer where the trial asks)",
    "surgeon_r0_judgement": "1 = judged completely resectable (R0) by an experienced surgeon",
    "platinum_refractory": "1 = platinum-refractory disease",
    "second_malignancy": "1 = a second malignancy treated by laparotomy, or another neoplasm "
                         "expected to interfere with treatment or prognosis",
    "palliative_surgery_only": "1 = only palliative surgery is possible",
    "unresectable_on_imaging": "1 = imaging suggests completely unresectable metastasis",
    "comorbidity_precludes_treatment": "1 = comorbidity precludes surgery or chemotherapy",
    "high_risk_surgical_history": "1 = a history carrying excessive surgical risk",
    "surgical_risk_medication": "1 = medication with a significant surgical risk (oral anticoagulants, bevacizumab)",
    "archived_tissue": "1 = evaluable archived tumour tissue is available",
    "above_peritoneal_reflection": "1 = tumour above the peritoneal reflection on imaging",
    "prior_colorectal_surgery": "1 = previous colorectal surgery",
    "prior_chemoradiotherapy": "1 = chemotherapy or radiotherapy before the neoadjuvant therapy under study",
    "prior_systemic_agents": "1 = prior biologic, immunotherapy or investigational agents (endocrine therapy does not count)",
    "history_colorectal_cancer": "1 = history of a malignant colorectal tumour",
    "emergency_surgery": "1 = emergency surgery needed (obstruction, bleeding)",
    "adjacent_organ_invasion": "1 = primary tumour invades adjacent organs so that R0 resection is impossible",
    "multifocal_primary": "1 = multifocal primary tumours",
    "other_active_malignancy": "1 = another active malignancy",
    "recent_trial": "1 = took part in another trial within the last 4 weeks",
    "organ_dysfunction": "1 = severe hepatic, renal, cardiopulmonary or coagulation dysfunction",
    "psychiatric_disorder": "1 = severe psychiatric disorder",
    "pregnant_or_lactating": "1 = pregnant or lactating",
    "uncontrolled_infection": "1 = uncontrolled infection",
    "investigator_unsuitable": "1 = another condition judged unsuitable by the investigator",
}
#: Columns that record what happened after the screen (outcomes): eligibility criteria never read them.
CLINICAL_OUTCOMES = ("complete_resection", "arm", "pfs_months", "pfs_event", "ypt_stage", "ypn_stage")

#: Plausible day range relative to the first dose (about one year before, five years after).
DAY_RANGE = (-366, 1830)
#: Largest CA-125 value accepted, U/mL: no assay reports more (values of a few 10,000 U/mL
#: are seen in practice; a larger number is a unit or typing error). Stated once, as the
#: CA-125 specification's ``plausible_max`` (:mod:`ca125kinetics.markers`).
CA125_MAX = MARKERS["ca125"].plausible_max
#: Largest CA-125 assay upper limit of normal accepted, U/mL (assays use about 20-40 U/mL):
#: the CA-125 specification's ``uln_max`` (each marker has its own).
ULN_MAX = MARKERS["ca125"].uln_max
_MAX_LISTED = 5
_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
#: A FIGO stage at diagnosis of ovarian cancer, with its substage if any (FIGO 2014: IA, IB,
#: IC1-IC3, IIA, IIB, IIIA1 (with its (i) or (ii)), IIIA2, IIIB, IIIC, IVA, IVB; and IC, IIC, IIIA of
#: FIGO 1988), after ``FIGO``, ``stage`` or ``FIGO stage`` if written: group 1 the stage, group 2
#: the substage. Any other substage (IA9, IVC, IIIB(i)) is refused, not dropped.
#: The web API's request model uses the same pattern.
_STAGE_RE = re.compile(
    r"(?i)^(?=\s*(?:FIGO\s*)?(?:stage\s*)?(?:IV\s*[AB]?|III\s*(?:A(?:1\s*(?:\(\s*i{1,2}\s*\))?|2)?|[BC])?"
    r"|II\s*[A-C]?|I\s*(?:[AB]|C[1-3]?)?)\s*$)"
    r"\s*(?:FIGO\s*)?(?:stage\s*)?(IV|III|II|I)\s*([A-C]?[0-9]?)\s*(?:\(\s*i{1,2}\s*\))?\s*$")


@dataclass(frozen=True)
class _Problem:
    row: Any
    patient_id: Any
    column: str | None
    message: str


class _Collector:
    """Collects per-row problems so one call can report all of them at once.

    ``rows`` (row labels as the user sees them, e.g. an int64 array of a file's rows) and
    ``patients`` are aligned 1-D arrays; a message is formatted only for a row with a problem,
    so a valid table of millions of rows costs nothing here. ``table`` (``"markers"`` or
    ``"clinical"``) is named in a flagged patient's reason, whose row is a row of that table.
    """

    def __init__(self, source: str, rows, patients, table: str):
        self.source = source
        self.table = table
        self.rows = np.asarray(rows)
        self.patients = np.asarray(patients, dtype=object)
        self.problems: list[_Problem] = []

    def add(self, mask, column: str | None, message) -> None:
        """Record ``message`` (a string, or a callable of the row position) where ``mask``."""
        positions = np.flatnonzero(np.asarray(mask, dtype=bool))
        for pos in positions:
            text = message(pos) if callable(message) else message
            self.problems.append(_Problem(_shown(self.rows[pos]), self.patients[pos], column, text))

    def error(self) -> InvalidInputError:
        first = self.problems[0]
        lines = [f"{first.message}"]
        extra = [
            f"  also: {location(row=p.row, patient_id=p.patient_id, column=p.column or None)}: {p.message}"
            for p in self.problems[1:_MAX_LISTED]
        ]
        more = len(self.problems) - _MAX_LISTED
        if extra:
            lines.extend(extra)
        if more > 0:
            lines.append(f"  ... and {more} more problem(s); pass on_error='flag' to score the valid patients")
        return InvalidInputError(
            "\n".join(lines), source=self.source, row=first.row,
            patient_id=first.patient_id, column=first.column,
        )

    def reasons_by_patient(self) -> dict[str, str]:
        out: dict[str, list[str]] = {}
        for p in self.problems:
            where = location(source=f"{self.table} table", row=p.row, column=p.column or None)  # row None: not named
            out.setdefault(str(p.patient_id), []).append(f"{where}: {p.message}")
        return {pid: "invalid input: " + "; ".join(msgs) for pid, msgs in out.items()}


def unnumbered(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every row labelled None (its index replaced in place; the frame is
    returned): the readers' messages then name no row.

    For rows that have no position a user could look up (a Spark partition's rows, in an
    order Spark chose): a message names the patient, the column and the value instead of a
    row number that would point at another row of the user's table."""
    frame.index = pd.Index(np.full(len(frame), None, dtype=object), dtype=object)
    return frame


# --------------------------------------------------------------------------- loading
#
# Every input form becomes the same thing before validation: a dict of 1-D numpy arrays
# (one per column) and the row labels the messages name. The validators below work on those
# arrays only (no pandas per operation), so one patient validates in well under a
# millisecond and a million-row table stays vectorised.


def _load(source, what: str, sep: str | None = None, marker: str = "ca125",
          codes: Mapping[str, Any] | None = None, uln: float | None = None) -> tuple[pd.DataFrame, str, pd.Series]:
    """Load a table as strings where possible; return (frame, source label, row labels).

    ``sep`` is the CSV separator (None: ``","``, or detected with a note, see
    :func:`_detect_sep`). A header naming a column twice is refused (:func:`_check_header`).
    A DataFrame's index gives the row labels (a MultiIndex its tuples); a frame that is a piece of a file read in
    chunks (:func:`_table_pieces`) names that file in messages. ``codes`` (``drug_codes``,
    ``event_codes``) are read from a FHIR bundle only (:func:`_load_fhir`); given with a
    table, they are refused before it is read. ``uln`` (given by the caller, else None) is a
    FHIR bundle's ULN for samples without a reference range (a table's empty ``uln`` cells
    are filled by the markers reader).
    """
    if isinstance(source, pd.DataFrame):
        _check_sep(sep)
        label = source.attrs.get("ca125_source") or f"{what} DataFrame"
        _fhir_only(codes, label)
        _check_header(source.columns, label)
        # a MultiIndex (``set_index(["patient_id", "day"])``) names a row by its tuple of labels
        return source, label, pd.Series(source.index.to_flat_index())
    table = table_file(source, what, sep)
    if table.kind == "fhir":
        return _load_fhir(table.path, marker, codes, uln)
    _fhir_only(codes, table.label)
    with _read_errors(what, table.label, table.sep):
        if table.kind == "csv":
            frame = _csv_fields(pd.read_csv(table.path, **_csv_options(table.sep)), table.first_row, table.label)
            frame.attrs["ca125_sep"] = table.sep
        else:
            frame = pd.read_parquet(table.path)
            _check_header(frame.columns, table.label)
    rows = pd.Series(np.arange(len(frame)) + table.first_row)
    return frame.reset_index(drop=True), table.label, rows


def _check_sep(sep) -> None:
    if sep is not None and (not isinstance(sep, str) or len(sep) != 1 or sep in ('"', "\n")):
        raise InvalidInputError(f"sep must be one character such as ',', ';' or a tab, got {sep!r}")


@dataclass(frozen=True)
class TableFile:
    """A table file checked before it is parsed (:func:`table_file`).

    Attributes
    ----------
    path : Path
    label : str
        Its name in messages.
    kind : {"csv", "parquet", "fhir"}
        How it is parsed (``"fhir"``: a ``.json`` FHIR R4 bundle of markers).
    sep : str or None
        The CSV separator (stated or detected); None for other kinds.
    """

    path: Path
    label: str
    kind: str
    sep: str | None = None

    @property
    def first_row(self) -> int:
        """Label of the first data row in messages: CSV records counted from the header's 1 (data
        start at 2; blank lines, which the parser skips, are not counted), positions from 0
        for Parquet."""
        return 2 if self.kind == "csv" else 0


def table_file(source, what: str, sep: str | None = None) -> TableFile:
    """Check a table path before it is parsed, as every reader does: the file exists, its
    suffix is a known kind, its first bytes match that kind (:func:`_sniff`), a CSV's
    separator is stated or detected (:func:`_detect_sep`) and its header names no column
    twice (:func:`_check_header`). Used by :func:`_load` (whole table) and
    :func:`_table_pieces` (the same table in chunks)."""
    _check_sep(sep)
    if not isinstance(source, (str, Path)):
        raise InvalidInputError(
            f"cannot read {what} from a {type(source).__name__}; pass a path to a .csv or "
            ".parquet file, or a pandas DataFrame"
        )
    path = Path(source)
    label = str(path)
    if not path.exists():
        raise InvalidInputError(f"file not found; check the path of the {what} table", source=label)
    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix.lower() == ".gz" else path.suffix.lower()
    _sniff(path, suffix, what)
    if suffix == ".json" and what == "markers":
        return TableFile(path, label, "fhir")
    if suffix in (".csv", ".csv.gz", ".txt", ".tsv"):
        with _read_errors(what, label):
            if not _first_line(path):    # one refusal, whether the file is read whole or in chunks
                raise InvalidInputError(f"the file is empty (no header, no rows); give the {what} table with "
                                        "its header row", source=label)
            if sep is None:
                sep = "\t" if suffix == ".tsv" else _detect_sep(path, label)
            _check_header(_header_names(path, sep), label)
        return TableFile(path, label, "csv", sep)
    if suffix in (".parquet", ".pq"):
        return TableFile(path, label, "parquet")
    raise InvalidInputError(
        f"unsupported file type {path.suffix!r}; use .csv or .parquet"
        + (" (or a .json FHIR bundle for markers)" if what == "markers" else ""), source=label
    )


def _csv_options(sep: str) -> dict[str, Any]:
    """How every CSV table is parsed: all cells as text (leading zeros kept), only an empty
    cell is missing."""
    return {"dtype": str, "keep_default_na": False, "na_values": [""], "sep": sep}


def _csv_fields(frame: pd.DataFrame, first_row: int, label: str) -> pd.DataFrame:
    """``frame`` as parsed from CSV rows that have exactly the header's fields.

    When every data row has more fields than the header, pandas takes the first fields as
    the index and shifts every column by them: a row ``001,0,1,200`` under ``patient_id,day,
    ca125`` (an unquoted ``1,200``) would become patient ``0`` on day 1. (Rows of unequal
    length are refused by the parser itself.) Extra fields that are empty in every row are
    trailing separators, which some exports write: the columns are put back under their
    names. Any other extra field is refused, naming the first row that has one."""
    if isinstance(frame.index, pd.RangeIndex):
        return frame
    header, extra = list(frame.columns), frame.index.nlevels
    whole = frame.reset_index()
    whole.columns = [*header, *(f"\0extra{i}" for i in range(extra))]
    filled = whole.iloc[:, len(header):].notna().any(axis=1).to_numpy()
    if filled.any():
        raise _too_many_fields(first_row + int(np.argmax(filled)), len(header) + extra, header, label)
    return whole.iloc[:, :len(header)]


def _too_many_fields(row: int, fields: int, header: Sequence[str], label: str) -> InvalidInputError:
    """The refusal of a CSV row with more fields than its header names."""
    return InvalidInputError(
        f"row {row} has {fields} fields but the header names {len(header)} "
        f"({', '.join(header)}): a value with an unquoted separator (e.g. 1,200 for 1200), or a column "
        "without a name; quote such values or write them without the separator, or name every column",
        source=label)


def _csv_records(path: Path, sep: str) -> Iterator[tuple[int, int | None, list[str]]]:
    """The records of a CSV file after its header, each as (its number in the parser's own
    messages, its row as every message numbers rows or None for a blank line, its fields).
    The parser counts records and blank lines, the header as 0; rows count the header as 1,
    blank lines not at all. Read only to say where the parser stopped."""
    with _open_text_file(path, "rt", encoding="utf-8-sig", newline="", errors="replace") as handle:
        records = csv.reader(handle, delimiter=sep)
        next(records, None)
        row = 1
        for number, record in enumerate(records, start=1):
            blank = len(record) <= 1 and not "".join(record).strip()
            row += not blank
            yield number, None if blank else row, record


def _parser_error(exc: Exception, label: str, sep: str) -> InvalidInputError | None:
    """The refusal of a CSV file the parser stopped on, naming the row as every message
    does (the parser's "line"/"row" count blank lines and not the lines inside quotes);
    None when the place cannot be found."""
    path = Path(label)
    header = _header_names(path, sep)
    for _, row, record in _csv_records(path, sep):
        if row is not None and len(record) > len(header):
            return _too_many_fields(row, len(record), header, label)
    opened = re.search(r"EOF inside string starting at row (\d+)", str(exc))
    if opened:
        start = int(opened.group(1))
        rows = [row for number, row, _ in _csv_records(path, sep) if number == start and row is not None]
        if rows:
            return InvalidInputError(
                f"row {rows[0]} opens a quoted cell that is never closed (a \" without its pair): "
                "close the quote, or write the cell without quotes", source=label)
    return None


@contextlib.contextmanager
def _read_errors(what: str, label: str, sep: str | None = None):
    """pandas/pyarrow parse errors become one clear package error. ``sep``: ``label`` is the
    path of a CSV file read with this separator (a row with too many fields is then named as
    every message names rows)."""
    try:
        yield
    except InvalidInputError:
        raise
    except pd.errors.ParserError as exc:
        refusal = _parser_error(exc, label, sep) if sep is not None else None
        raise refusal or InvalidInputError(
            f"could not be read as a {what} table ({type(exc).__name__}: {str(exc).strip()}); "
            "check that it is a valid CSV or Parquet file", source=label) from exc
    except UnicodeDecodeError as exc:   # past the first bytes _sniff checks (e.g. a Latin-1 name)
        if Path(label).suffix.lower() in (".parquet", ".pq"):
            raise InvalidInputError(f"could not be read as a {what} table ({exc})", source=label) from exc
        raise _not_utf8(label, exc) from exc
    except Exception as exc:
        # an interruption (or a stop request) that a library turned into its own error is not
        # a damaged file: it goes on as the interruption it is
        if caused_by_interrupt(exc):
            raise
        check_stop()
        raise InvalidInputError(
            f"could not be read as a {what} table ({type(exc).__name__}: {exc}); "
            "check that it is a valid CSV or Parquet file", source=label
        ) from exc


def _not_utf8(label: str, exc: UnicodeDecodeError) -> InvalidInputError:
    """The refusal of a text table that is not UTF-8, naming its first such line: from the
    bytes :func:`_sniff` looks at before parsing, or found by the parser further on."""
    line = _undecodable_line(Path(label))
    return InvalidInputError(
        f"{'a line' if line is None else f'line {line}'} is not UTF-8 text ({exc.reason}: "
        f"{exc.object[exc.start:exc.start + 1]!r}; another encoding, e.g. Latin-1 or Windows-1252): "
        "save it as UTF-8 CSV", source=label)


def _undecodable_line(path: Path) -> int | None:
    """The first line of a text file (1 = the header; a .gz file's text) that is not UTF-8,
    or None when it cannot be found."""
    try:
        with _open_text_file(path, "rb") as handle:
            for number, line in enumerate(handle, start=1):
                try:
                    line.decode("utf-8-sig" if number == 1 else "utf-8")
                except UnicodeDecodeError:
                    return number
    except OSError:
        pass
    return None


def _table_pieces(table: TableFile, chunk_rows: int, what: str) -> Iterator[pd.DataFrame]:
    """The raw table of :func:`_load` in pieces of ``chunk_rows`` rows, parsed the same way,
    index = the rows' labels in messages (:class:`TableFile`), the file named in messages
    when a piece is read (:func:`_load` of a DataFrame)."""
    if table.kind not in ("csv", "parquet"):
        raise InvalidInputError(f"a {table.kind} file cannot be read in chunks; read it whole",
                                source=table.label)
    offset = table.first_row

    def labelled(frame: pd.DataFrame) -> pd.DataFrame:
        nonlocal offset
        frame.index = pd.RangeIndex(offset, offset + len(frame))
        frame.attrs["ca125_source"] = table.label
        frame.attrs["ca125_sep"] = table.sep if table.kind == "csv" else None
        offset += len(frame)
        return frame

    with _read_errors(what, table.label, table.sep):
        if table.kind == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            with pq.ParquetFile(table.path) as reader:
                _check_header(reader.schema_arrow.names, table.label)
                for batch in reader.iter_batches(batch_size=chunk_rows):
                    # what pandas.read_parquet does with a whole file, batch by batch
                    yield labelled(pa.Table.from_batches([batch]).to_pandas())
        else:
            with pd.read_csv(table.path, chunksize=chunk_rows, **_csv_options(table.sep)) as reader:
                for frame in reader:
                    yield labelled(_csv_fields(frame, offset, table.label))


#: The FHIR-only codes of ``read_markers``: their checks, and why a table cannot take them.
_FHIR_CODES = {
    "drug_codes": ("line_drugs", "--drug-code", "the line's drugs",
                   "whose days come from its day or date and treatment_start columns"),
    "event_codes": ("exclusion_events", "--event-code", "the exclusion events' procedures",
                    "whose events are its event column"),
}


def _fhir_only(codes, label: str) -> None:
    """Refuse ``drug_codes`` or ``event_codes`` for a source that is not a FHIR bundle: a
    table's days come from its own ``day`` or ``date`` and ``treatment_start`` columns and its
    events from its ``event`` column, and codes that cannot be applied must not look as if
    they had been. (An empty mapping adds no code.)"""
    from .sources import _codes

    for name, given in (codes or {}).items():
        if given is None:
            continue
        check, option, what, table_has = _FHIR_CODES[name]
        getattr(_codes, check)(given)          # a malformed argument gets its own message
        if given:
            raise InvalidInputError(f"{name} ({option}) name {what} in a FHIR R4 bundle (.json); {label} is a "
                                    f"table, {table_has}: leave the {name.replace('_', ' ')} out")


def _load_fhir(path: Path, marker: str = "ca125", codes: Mapping[str, Any] | None = None,
               uln: float | None = None) -> tuple[pd.DataFrame, str, pd.Series]:
    """A ``.json`` markers file is a FHIR R4 bundle: its markers table, rows named by resource.

    Records the FHIR reader skipped are reported in one :class:`DataQualityWarning`
    (``ca125 extract fhir`` writes the full list). ``codes`` (``drug_codes``, ``event_codes``)
    as :func:`ca125kinetics.sources.fhir.read_fhir` takes them.
    """
    from .sources.fhir import read_fhir

    result = read_fhir(path, marker=marker, uln=uln, **{k: v for k, v in (codes or {}).items() if v is not None})
    if len(result.skipped):
        warnings.warn(f"{result.summary()}; 'ca125 extract fhir {path.name} --out FILE' lists every "
                      "skipped record with its reason", DataQualityWarning, stacklevel=4)
    frame = result.markers.reset_index(drop=True)
    if result.notes:   # times written in several UTC offsets: the patient's scored result says it
        frame.attrs[NOTES_ATTR] = _FrameNotes({pid: (note,) for pid, note in result.notes.items()})
    return frame, str(path), frame["resource_id"].copy()


#: Bytes looked at by :func:`_sniff` before a table is parsed.
_SNIFF_BYTES = 64 * 1024


def _sniff(path: Path, suffix: str, what: str) -> None:
    """Refuse, from its first bytes, a file that cannot be the table its suffix announces.

    A text table (.csv, .tsv, .txt) must start with UTF-8 text without NUL bytes; a .gz file
    with the gzip signature; a Parquet file with ``PAR1``. Without this, a large binary file
    named ``.csv`` (an image, a database, a disk image) would be read whole by the CSV parser
    before failing, or, worse, be read as one garbled column. An unreadable path (a directory,
    no permission) is refused here too, with the reason.
    """
    label = str(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError as exc:
        raise InvalidInputError(
            f"cannot open the {what} table ({exc.strerror or type(exc).__name__}); give the path of a "
            "readable .csv or .parquet file", source=label) from exc
    if suffix.endswith(".gz"):
        ok, kind = head[:2] == b"\x1f\x8b", "a gzip file"
    elif suffix in (".parquet", ".pq"):
        ok, kind = head[:4] == b"PAR1", "a Parquet file (it does not start with 'PAR1')"
    else:
        ok, kind = b"\x00" not in head, "a text table"
        if ok:
            try:  # a multi-byte character may be cut at the end of the sample
                head.decode("utf-8")
            except UnicodeDecodeError as exc:
                if not (exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"):
                    # text in another encoding (a Latin-1 name): its line, as further into the file
                    raise _not_utf8(label, exc) from None
    if not ok:
        raise InvalidInputError(
            f"this file is not {kind}, judged from its first {min(len(head), _SNIFF_BYTES)} bytes; give the "
            f"{what} table as a UTF-8 .csv or a .parquet file", source=label)


#: Integers from this magnitude on are not all held exactly by a float64.
_EXACT_INTEGERS = 2 ** 53


def _array(values) -> np.ndarray:
    """One column as a 1-D numpy array: numbers as float/int, anything else as objects.

    Pandas extension arrays (nullable integers, strings, booleans) become float (NA -> NaN)
    or object arrays; Python lists become object arrays unless every item is a plain number.
    """
    if isinstance(values, (pd.Series, pd.Index)):
        values = values.array
    if isinstance(values, np.ndarray):
        return values if values.ndim == 1 else np.asarray(values, dtype=object).ravel()
    if isinstance(values, pd.api.extensions.ExtensionArray):
        if (pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype)
                and values.dtype.kind != "c"):      # complex: objects, refused cell by cell
            # single precision stays single: the readers refuse it (_check_column_types)
            single = getattr(values.dtype, "numpy_dtype", None) in (np.float32, np.float16)
            floats = values.to_numpy(dtype=values.dtype.numpy_dtype if single else float, na_value=np.nan)
            if values.dtype.kind in "iu" and (np.abs(floats) >= _EXACT_INTEGERS).any():
                # a float would round them: two integer identifiers 2**53 + 1 apart became one
                return values.to_numpy(dtype=object, na_value=None)
            return floats
        if isinstance(values.dtype, pd.DatetimeTZDtype) or values.dtype.kind == "M":
            return values.to_numpy()
        return values.to_numpy(dtype=object)
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


def _frame_columns(frame: pd.DataFrame, take: np.ndarray | None = None, *, arrow: bool = False) -> dict:
    """The columns of a DataFrame as arrays (only the rows at positions ``take`` if given),
    names stripped of surrounding space.

    With ``arrow``, a text column held by Arrow (what ``pandas.read_parquet`` and
    ``pandas.read_csv`` give with pandas >= 3, or a ``string[pyarrow]`` column) stays in Arrow
    form as a :class:`_Text`, which the validators read column-wise (:func:`read_markers`,
    :func:`read_clinical`); any other column is a numpy array (:func:`_array`).
    """
    if take is None:
        return {str(c).strip(): (_Text.of(values.array) if arrow else None) or _array(values)
                for c, values in frame.items()}
    return {str(c).strip(): _array(values.array[take]) for c, values in frame.items()}


def _np(values):
    """A column as the numpy array of :func:`_array` (a :class:`_Text` converted)."""
    return values.numpy() if isinstance(values, _Text) else values


#: First and last bytes of a text cell that need no stripping: ASCII letters, digits and
#: punctuation (``str.strip`` removes whitespace only; a non-ASCII end is left to Python).
_GRAPHIC = (0x21, 0x7E)
#: Longest plain decimal text read by Arrow's parser (:meth:`_Text.numbers`); the longer
#: (and any other) text is read by :func:`_parse_numbers`' rules, once per distinct value.
_PLAIN_DIGITS = 17


class _Text:
    """A text column in Arrow form, read column-wise with the rules of the numpy columns.

    Each rule gives the result the element-wise rule gives on the same cells (the column as
    :func:`_array` would return it, :meth:`numpy`): cells that need no Python at all (text
    without surrounding space; plain decimal numbers) are handled by Arrow kernels; every
    other cell is handed to the element-wise rule once per distinct value, and the results
    are taken back to the rows. A million-row column thus costs a few Arrow passes.

    Parameters
    ----------
    source : pandas ExtensionArray
        An Arrow-backed string array (kept: :meth:`numpy` converts it as :func:`_array` does).
    arrow : pyarrow.Array
        Its values as one string or large_string array.
    """

    __slots__ = ("source", "arrow", "_stripped", "_codes", "_ids")

    def __init__(self, source, arrow):
        self.source, self.arrow = source, arrow
        self._stripped = self._codes = self._ids = None

    @classmethod
    def of(cls, values) -> _Text | None:
        """A :class:`_Text` of a pandas array held by Arrow as strings, else None."""
        if not hasattr(values, "__arrow_array__") or not isinstance(values, pd.api.extensions.ExtensionArray):
            return None
        kind = getattr(values.dtype, "storage", None)
        pa_type = getattr(values.dtype, "pyarrow_dtype", None)
        if kind not in ("pyarrow", "pyarrow_numpy") and pa_type is None:
            return None
        import pyarrow as pa

        chunked = values.__arrow_array__()
        if not (pa.types.is_string(chunked.type) or pa.types.is_large_string(chunked.type)):
            return None
        arrow = chunked.combine_chunks() if isinstance(chunked, pa.ChunkedArray) else chunked
        return cls(values, arrow)

    def __len__(self) -> int:
        return len(self.arrow)

    def __getitem__(self, i):
        """One cell as the numpy column holds it (for messages)."""
        return self.source[int(i)]

    def numpy(self) -> np.ndarray:
        """The column as :func:`_array` returns it (an object array)."""
        return _array(self.source)

    def missing(self) -> np.ndarray:
        """:func:`_missing` of the column: cells that hold nothing (an empty string is not)."""
        return self.arrow.is_null().to_numpy(zero_copy_only=False)

    def stripped(self):
        """:func:`_text` in Arrow form: surrounding space removed; empty or missing -> null."""
        if self._stripped is None:
            # surrounding space, a non-ASCII end, or empty: stripped by Python
            self._stripped = self._fixed(~_graphic_ends(self.arrow))
        return self._stripped

    def _fixed(self, odd: np.ndarray):
        """The column with the cells at ``odd`` stripped by ``str.strip`` (empty -> null)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        arr = self.arrow
        if arr.null_count:
            odd &= ~self.missing()
        if not odd.any():
            return arr
        offsets, _ = _buffers(arr)
        if arr.offset == 0 and not (odd & (offsets[1:] > offsets[:-1])).any():
            # only empty cells (e.g. the value of event rows): they become missing, the
            # column's buffers are kept (replace_with_mask would copy every cell)
            valid = pa.array(~odd & ~self.missing() if arr.null_count else ~odd)
            return pa.Array.from_buffers(arr.type, len(arr), [valid.buffers()[1], *arr.buffers()[1:]],
                                         null_count=int(odd.sum()) + arr.null_count)
        fixed = [v.strip() or None for v in arr.filter(pa.array(odd)).to_pylist()]
        return pc.replace_with_mask(arr, pa.array(odd), pa.array(fixed, type=arr.type))

    def codes(self) -> tuple[np.ndarray, np.ndarray]:
        """``(index, values)``: the distinct stripped texts (an object array) and, per row,
        the index of its text, -1 where it is missing (so ``np.append(f(values), m)[index]``
        maps a function ``f`` of the texts to the rows, ``m`` on missing cells)."""
        if self._codes is None:
            self._codes = _distinct(self.stripped())
        return self._codes

    def text(self) -> np.ndarray:
        """:func:`_text` of the column (an object array, None where missing or empty)."""
        index, values = self.codes()
        return np.append(values, None)[index]

    def mapped(self, fn, missing, dtype=object) -> np.ndarray:
        """``fn`` of every stripped text (computed once per distinct text), ``missing`` where
        the cell is missing or empty."""
        index, _ = self.codes()
        return np.append(self.labels(fn, dtype), np.array(missing, dtype=dtype))[index]

    def labels(self, fn, dtype=object) -> np.ndarray:
        """``fn`` of each distinct stripped text, in the order of :meth:`codes`' values."""
        _, values = self.codes()
        out = np.empty(len(values), dtype=dtype)
        out[:] = [fn(v) for v in values]
        return out

    def numbers(self, decimal: str, thousands: str | None, parse) -> tuple[np.ndarray, ...]:
        """``parse`` (:func:`_parse_numbers` or :func:`_parse_values`) of the column.

        Plain decimal texts (ASCII digits with at most one ``decimal`` mark, at most
        :data:`_PLAIN_DIGITS` characters), which every number format reads the same way, are
        parsed by Arrow (correctly rounded, as pandas and Python read them); the other texts
        by ``parse`` itself, once per distinct text. Returns ``parse``'s arrays.
        """
        import pyarrow as pa
        import pyarrow.compute as pc

        text = self.stripped()
        n = len(text)
        valid = text.is_valid().to_numpy(zero_copy_only=False) if text.null_count else np.ones(n, dtype=bool)
        plain = valid & _plain_decimals(text, decimal)
        if thousands == _DOT_AMBIGUOUS and plain.any():   # 1.200: read by ``parse``, which refuses it
            grouped = pc.match_substring_regex(text, f"^{_DOT_GROUPED}$")
            plain &= ~grouped.to_numpy(zero_copy_only=False).astype(bool)
        value = np.full(n, np.nan)
        if plain.all() and decimal == ".":
            value = pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False)
        elif plain.any():
            cells = text.filter(pa.array(plain))
            if decimal != ".":
                cells = pc.replace_substring(cells, decimal, ".", max_replacements=1)
            value[plain] = pc.cast(cells, pa.float64()).to_numpy(zero_copy_only=False)
        out = [value] + [np.zeros(n, dtype=bool) for _ in range(1 if parse is _parse_numbers else 2)]
        rest = valid & ~plain
        if rest.any():
            index, values = _distinct(text.filter(pa.array(rest)))
            parsed = parse(values, decimal, thousands)
            for target, result in zip(out, parsed if isinstance(parsed, tuple) else (parsed,)):
                target[rest] = result[index]
        return tuple(out)

    def iso_dates(self) -> np.ndarray | None:
        """The column as datetime64[ns] when every cell present is a plain ISO date
        (``YYYY-MM-DD``, :data:`_ISO_DATE`) that Arrow reads, else None (then the cells are read
        one by one, :func:`_date_values`). A missing cell is NaT, as the cell rules give."""
        import pyarrow as pa
        import pyarrow.compute as pc

        arr = self.arrow
        if arr.null_count == len(arr):
            return None
        if not pc.all(pc.match_substring_regex(arr, _ISO_DATE.pattern)).as_py():
            return None
        try:
            days = pc.cast(pc.cast(arr, pa.date32()), pa.timestamp("ns"))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None
        return np.asarray(days.to_numpy(zero_copy_only=False), dtype="datetime64[ns]")

    def ids(self) -> tuple[np.ndarray, np.ndarray]:
        """``(codes, uniques)`` of identifiers: the distinct stripped texts sorted (as Python
        sorts strings), and each row's position among them (-1 where missing)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if self._ids is not None:
            return self._ids
        # _id_array: a text with a space (" ") at an end is stripped, any other kept as it is
        first, last, full = _byte_ends(self.arrow)
        text = self._fixed(~full | (first == 0x20) | (last == 0x20))
        self._ids = self._factorise(text)
        return self._ids

    @staticmethod
    def _factorise(text) -> tuple[np.ndarray, np.ndarray]:
        import pyarrow as pa
        import pyarrow.compute as pc

        if len(text) > 1 and text.null_count == 0:
            head, tail = text.slice(0, len(text) - 1), text.slice(1)
            if pc.all(pc.less_equal(head, tail)).as_py():      # sorted (a registry export)
                change = pc.not_equal(head, tail).to_numpy(zero_copy_only=False)
                starts = np.flatnonzero(np.concatenate([[True], change]))
                codes = np.cumsum(np.concatenate([[0], change]), dtype=np.int64)
                uniques = text.take(pa.array(starts)).to_numpy(zero_copy_only=False)
                return codes, np.asarray(uniques, dtype=object)
        index, values = _distinct(text)
        # UTF-8 byte order is code point order, the order of Python's string comparison
        order = pc.sort_indices(pa.array(values, type=pa.large_string())).to_numpy(zero_copy_only=False)
        rank = np.empty(len(values) + 1, dtype=np.int64)
        rank[order] = np.arange(len(values))
        rank[-1] = -1
        return rank[index], values[order]


def _distinct(arr) -> tuple[np.ndarray, np.ndarray]:
    """``(index, values)`` of an Arrow array: its distinct values (an object array) and each
    cell's position among them, -1 where null."""
    encoded = arr.dictionary_encode()
    indices = encoded.indices
    if indices.null_count:
        indices = indices.fill_null(-1)
    index = indices.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    return index, np.asarray(encoded.dictionary.to_numpy(zero_copy_only=False), dtype=object)


def _plain_decimals(arr, decimal: str) -> np.ndarray:
    """Cells of an Arrow string array written as plain decimals: 1 to :data:`_PLAIN_DIGITS`
    bytes, ASCII digits and at most one ``decimal`` mark, at least one digit (counted per cell
    on the array's byte buffer; null cells may come out either way)."""
    offsets, data = _buffers(arr)
    start, length = offsets[:-1], np.diff(offsets)
    plain = (length > 0) & (length <= _PLAIN_DIGITS)
    if not plain.any():
        return plain
    # weight of each byte: digit 0, decimal mark 1, anything else 64 (> any plain cell's
    # marks); a cell's weight, from cumulative sums, is then 0 or 1 for a plain decimal
    weight = np.full(256, 64, dtype=np.uint8)
    weight[ord("0"):ord("9") + 1] = 0
    weight[ord(decimal)] = 1
    data = data[:offsets[-1]]
    total = np.zeros(len(data) + 1, dtype=np.int32 if len(data) < 2**31 // 64 else np.int64)
    np.cumsum(weight[data], out=total[1:])
    cell = total[offsets[1:]] - total[start]
    return plain & (cell <= 1) & (length > cell)


def _buffers(arr) -> tuple[np.ndarray, np.ndarray]:
    """``(offsets, data)`` of an Arrow string array: its cells' offsets (length + 1) into its
    byte buffer, as numpy views."""
    import pyarrow as pa

    n = len(arr)
    buffers = arr.buffers()
    kind = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    offsets = np.frombuffer(buffers[1], dtype=kind)[arr.offset:arr.offset + n + 1] if n else np.zeros(1, kind)
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(0, np.uint8)
    return offsets, data


def _byte_ends(arr) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(first, last, full)`` of an Arrow string array, read from its buffers: each cell's
    first and last byte (uint8; meaningless where empty) and whether it is non-empty."""
    n = len(arr)
    offsets, data = _buffers(arr)
    if not len(data):
        return np.zeros(n, dtype=np.uint8), np.zeros(n, dtype=np.uint8), np.zeros(n, dtype=bool)
    return (data.take(offsets[:-1], mode="clip"), data.take(offsets[1:] - 1, mode="clip"),
            offsets[1:] > offsets[:-1])


def _graphic_ends(arr) -> np.ndarray:
    """Cells of an Arrow string array that are not empty and whose first and last bytes are
    ASCII letters, digits or punctuation (:data:`_GRAPHIC`): ``str.strip`` leaves them as
    they are."""
    lo, hi = _GRAPHIC
    first, last, full = _byte_ends(arr)
    return full & ((first - lo) <= (hi - lo)) & ((last - lo) <= (hi - lo))


def _require(columns, required, source: str, what: str) -> None:
    missing = [c for c in required if c not in columns]
    if missing:
        raise InvalidInputError(
            f"missing required column(s) {missing}; the {what} table needs {list(required)} "
            f"(found {list(columns)}). Rename or add the column(s); a column of another name is read as one "
            "of these with columns={'OLD': 'NEW'} (command line: --rename OLD=NEW).",
            source=source, column=missing[0],
        )


def _text(values: np.ndarray) -> np.ndarray:
    """Strings with surrounding space removed; missing (None, NaN, NA, '') becomes None."""
    if isinstance(values, _Text):
        return values.text()
    out = np.empty(len(values), dtype=object)
    out[:] = [v.strip() if type(v) is str else v for v in values]
    out[pd.isna(out)] = None
    out[out == ""] = None
    return out


def _is_text(values: np.ndarray) -> bool:
    return values.dtype == object or values.dtype.kind in "USO"


def _shown(v):
    """A cell as messages show it (``21.5``, not ``np.float64(21.5)``)."""
    return v.item() if isinstance(v, np.generic) else v


def refuse_factors_twice(cols: Mapping[str, Any], label: str = "markers",
                         names: Sequence[str] = CLINICAL_PREDICTORS) -> None:
    """Refuse clinical factors (``names``; a model of another task names its own) given with
    values on the markers rows when a clinical table is given as well (``cols``: the markers'
    columns by name): which value counts would be a guess. The one rule of every reader
    (``read_markers(..., clinical=...)``, and the DataFrame forms of ``predict`` and
    ``predict_cohort``); ``treatment_start`` may repeat."""
    given = [c for c in names if c != "treatment_start" and c in cols and _has_values(cols[c])]
    if given:
        raise InvalidInputError(
            f"clinical factor(s) {given} on the markers and a clinical row as well: which value counts "
            "would be a guess; give each factor in one place (drop the column(s) from the markers, or "
            "leave out the clinical row)", source=label, column=given[0])


def _has_values(values) -> bool:
    """Whether a column holds any value (:func:`given_cells`)."""
    return bool(given_cells(_np(values)).any())


def given_cells(values) -> np.ndarray:
    """The cells of a column that give a value: neither missing nor text of spaces."""
    arr = np.asarray(values)
    present = ~np.asarray(pd.isna(arr), dtype=bool)
    if arr.dtype != object or not present.any():
        return present
    at = np.flatnonzero(present)
    present[at] = (pd.Series(arr[at], dtype=object).astype(str).str.strip() != "").to_numpy()
    return present


def _missing(values: np.ndarray) -> np.ndarray:
    """Cells that hold nothing (None, NaN, NA); an empty string is not missing here."""
    if isinstance(values, _Text):
        return values.missing()
    return np.asarray(pd.isna(values), dtype=bool)


def _id(v) -> str | None:
    # pd.NA / NaT (nullable and Parquet columns) are missing too, never a patient "<NA>"
    if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, (float, np.floating)) and np.isnan(v)):
        return None
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    if isinstance(v, np.integer):
        return str(int(v))
    return str(v).strip() or None


def _id_array(values: np.ndarray) -> np.ndarray:
    """Patient identifiers as strings; whole floats from a numeric column lose their '.0'."""
    out = np.empty(len(values), dtype=object)
    out[:] = [v if type(v) is str and v and v[0] != " " and v[-1] != " " else _id(v) for v in values]
    return out


def _patient_ids(values) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """``(ids, codes, uniques)``: :func:`_id_array` of a column and, for a :class:`_Text`
    column, its factorisation (:meth:`_Text.ids`; None otherwise, see :func:`_factorised`)."""
    if isinstance(values, _Text):
        codes, uniques = values.ids()
        return np.append(uniques, None)[codes], codes, uniques
    return _id_array(values), None, None


def _factorised(ids: np.ndarray, codes=None, uniques=None) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, uniques)`` of identifiers (no missing one): ``uniques`` sorted,
    ``ids == uniques[codes]``; ``codes``/``uniques`` already known are returned."""
    if codes is not None:
        return codes, uniques
    codes, uniques = pd.factorize(ids, sort=True)
    return codes.astype(np.int64, copy=False), np.asarray(uniques, dtype=object)


def _ids(series: pd.Series) -> pd.Series:
    """Patient identifiers of a column as a Series of strings (None where empty)."""
    return pd.Series(_id_array(_array(series)), index=series.index, dtype=object)


def _row_labels(rows: pd.Series) -> np.ndarray:
    """Row labels of a loaded table as the messages name them: a file's row numbers stay
    an integer array (a number is made for a row with a problem only), other labels objects."""
    return rows.to_numpy() if rows.dtype.kind in "iu" else rows.to_numpy(dtype=object)


#: How the note of :func:`_partial_uln` starts (a frame read again drops it once the patient's
#: samples have one ULN: the caller has given the missing ones).
_NO_ULN_NOTE = "no ULN given for "


def _partial_uln(uln_v: np.ndarray, empty: np.ndarray, pid: np.ndarray, codes, rows: np.ndarray,
                 day: np.ndarray, label: str, default: float, unit: str) -> dict[str, str]:
    """Samples without a ULN (``empty``: an empty ``uln`` cell on a row with a value) of
    patients whose other samples give one. The reader fills the default into those cells, as
    documented, so such a patient has two ULNs, and the GCIG rules find it not evaluable when
    both are used ("the ULN changed"); this says where that came from.

    Returns each such patient's note (``patient_id -> text``, naming the samples by day), which
    the reader keeps with the patient so that the scored result says it
    (``PatientRecord.notes``; the web server's answer carries it, its log does not). A
    :class:`DataQualityWarning` also says it, for the whole table, to Python callers."""
    given = ~np.isnan(uln_v)
    if not (empty.any() and given.any()):
        return {}
    if codes is None:
        codes = pd.factorize(pid)[0]
    k = int(codes.max()) + 1
    both = (np.bincount(codes[given], minlength=k) > 0) & (np.bincount(codes[empty], minlength=k) > 0)
    mixed = np.flatnonzero(empty & both[codes])
    if not len(mixed):
        return {}
    labels = [str(rows[i]) for i in mixed[:_MAX_LISTED] if rows[i] is not None]
    listed = f" ({', '.join(labels)}{', ...' if len(mixed) > len(labels) else ''})" if labels else ""
    patients = len(np.unique(codes[mixed]))
    # a patient whose given ULNs are all the default has one ULN once the cells are filled: the
    # GCIG rules are not hindered, and the note must not say they are
    with np.errstate(invalid="ignore"):
        differs = np.bincount(codes[given & (uln_v != default)], minlength=k) > 0
    consequence = ("so the patient's ULN differs between samples and the GCIG rules find it not evaluable when "
                   "both ULNs are used (from the baseline on)" if differs[codes[mixed]].any() else
                   "the ULN the patients' other samples give, so none differs (an assumption)")
    warnings.warn(
        f"{label}: uln is empty in {len(mixed)} sample row(s){listed} of {patients} patient(s) whose other "
        f"samples give a ULN (first: patient {pid[mixed[0]]!r}); those samples are read with the default "
        f"{default:g} {unit}, {consequence}: give every sample of a patient its assay's ULN",
        DataQualityWarning, stacklevel=5)
    notes: dict[str, str] = {}
    mixed = mixed[np.argsort(codes[mixed], kind="stable")]    # each patient's samples together, in row order
    cuts = np.flatnonzero(np.diff(codes[mixed])) + 1
    for at in np.split(mixed, cuts):
        days = [f"day {d:g}" if d == d else f"row {rows[i]}" for i, d in zip(at.tolist(), day[at].tolist())]
        shown = ", ".join(days[:_MAX_LISTED]) + (", ..." if len(days) > _MAX_LISTED else "")
        consequence = ("so the ULN differs between samples and the GCIG rules find the response not evaluable "
                       "when both ULNs are used (from the baseline on)" if differs[codes[at[0]]] else
                       "the ULN the other samples give, so none differs (an assumption)")
        notes[str(pid[at[0]])] = (
            f"{_NO_ULN_NOTE}{len(at)} sample(s) ({shown}) while the patient's other samples give one: those "
            f"are read with the default ULN {default:g} {unit}, {consequence}: give every sample its assay's ULN")
    return notes


#: How to mend a markers row without a patient identifier (the readers' refusal).
_NO_SAMPLE_ID = "give every sample its patient's identifier"


def require_sample_ids(ids: pd.Series, source: str) -> None:
    """Refuse markers rows without a patient identifier as :func:`read_markers` does: ``ids``
    is the identifier column of a piece of a markers file, indexed by row number (None: a
    row without a position). Nothing happens when every row has one."""
    rows = np.asarray(ids.index, dtype=object)
    _require_ids(_id_array(_array(ids)), rows, source, _NO_SAMPLE_ID)


def _require_ids(pid: np.ndarray, rows: np.ndarray, source: str, how: str, codes=None, uniques=None) -> None:
    """An empty identifier cannot be attributed to a patient, so it always raises
    (``codes`` of :func:`_patient_ids`, when known, say where one is empty: -1); so does an
    identifier written as a missing value (:data:`_MISSING_IDS`: R's ``NA``, ``.``,
    ``unknown``), which would make the rows of every patient without one a single patient
    (``uniques``, when known, are the distinct identifiers)."""
    empty = np.flatnonzero(pd.isna(pid) if codes is None else codes < 0)
    if len(empty):
        labels = [str(rows[i]) for i in empty[:_MAX_LISTED] if rows[i] is not None]   # None: unnumbered
        listed = f" ({', '.join(labels)})" if labels else ""
        raise InvalidInputError(
            f"patient_id is empty in {len(empty)} row(s){listed}; {how}",
            source=source, row=_shown(rows[empty[0]]), column="patient_id",
        )
    distinct = pd.unique(pid) if uniques is None else uniques
    marks = [u for u in distinct.tolist() if written_missing_id(u)]
    if marks:
        at = np.flatnonzero(np.isin(pid, np.array(marks, dtype=object)))
        labels = [str(rows[i]) for i in at[:_MAX_LISTED] if rows[i] is not None]
        listed = f" ({', '.join(labels)})" if labels else ""
        raise InvalidInputError(
            f"patient_id {marks[0]!r} in {len(at)} row(s){listed} is how a missing value is written (R's NA, "
            "SAS's '.', 'unknown'), not a patient's identifier: the rows of every patient without one would be "
            f"read as one patient; {how} (an identifier that is missing is an empty cell, and refused so too)",
            source=source, row=_shown(rows[at[0]]), column="patient_id",
        )


def written_missing_id(value) -> bool:
    """Whether a patient identifier is a missing value written as text (:data:`_MISSING_IDS`:
    R's ``NA``, SAS's ``.``, ``unknown``; any case, surrounding spaces), which the readers refuse."""
    return isinstance(value, str) and value.strip().lower() in _MISSING_IDS


def _check_arguments(on_error: str, duplicates: str | None = None, uln=None, unit: str = "U/mL",
                     uln_max: float = ULN_MAX, uln_min: float = MARKERS["ca125"].uln_min) -> None:
    if on_error not in ("raise", "flag"):
        raise InvalidInputError(f"on_error must be 'raise' or 'flag', got {on_error!r}")
    if duplicates is not None and duplicates not in ("error", *_AGGREGATIONS):
        raise InvalidInputError(
            f"duplicates must be 'error' or one of {_AGGREGATIONS}, got {duplicates!r}"
        )
    check_uln_argument(uln, unit, uln_max, uln_min)


# --------------------------------------------------------------------------- format rules
# Each rule below reads one kind of cell or header the same way for every entry point (the
# readers, predict, the command line and the web API all go through the readers): what the
# caller stated is applied, ISO/plain forms are read, anything ambiguous is refused.

#: Values accepted in a ``censored`` column (lower case, after stripping).
CENSORED_TRUE = ("true", "1", "1.0", "yes")
CENSORED_FALSE = ("false", "0", "0.0", "no")

# the time and offset are dropped, but must be a time of day: 24:00 is the next day's midnight
_ISO_DATE_RE = re.compile(
    r"^\s*(\d{4}-\d{2}-\d{2})(?:[T ](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:[.,]\d+)?)?)?\s*"
    r"(?:Z|[+-](?:0\d|1[0-4])(?::?[0-5]\d)?)?\s*$")
#: The start of an ISO date followed by a time (whether valid or not), for the message.
_ISO_DATE_TIMED = re.compile(r"^\s*\d{4}-\d{2}-\d{2}[T ]\d")


def _open_text_file(path: Path, mode: str, **kwargs):
    """``open`` of a text table, or ``gzip.open`` of a ``.gz`` one (its text)."""
    return (gzip.open if path.suffix.lower() == ".gz" else open)(path, mode, **kwargs)


def _first_line(path: Path) -> str:
    with _open_text_file(path, "rt", encoding="utf-8-sig", newline="", errors="replace") as handle:
        return handle.readline(1 << 16)


def _header_names(path: Path, sep: str) -> list[str]:
    """The raw header of a CSV file (before pandas renames duplicates to ``x.1``), names as
    pandas gives them (not stripped: the readers strip them)."""
    return next(csv.reader([_first_line(path)], delimiter=sep), [])


def _detect_sep(path: Path, label: str) -> str:
    """The separator of a CSV file whose caller did not state one.

    A header with commas is comma-separated (the data contract's form). A header with
    semicolons and no comma (the usual European spreadsheet export) or with tabs only is read
    with that separator, and a :class:`DataQualityWarning` says so.
    """
    header = _first_line(path)
    if "," in header:
        return ","
    for sep, name in ((";", "semicolon"), ("\t", "tab")):
        if sep in header:
            warnings.warn(
                f"{label}: the header has {name}s and no commas, so the table is read as "
                f"{name}-separated; pass sep={sep!r} (command line --sep) to state it",
                DataQualityWarning, stacklevel=5)
            return sep
    return ","


def _check_header(names, source: str) -> None:
    """Refuse a header that names a column twice (pandas would silently rename ``x.1``), or
    names columns by several levels (a MultiIndex: which level is the contract's name is not
    said)."""
    if isinstance(names, pd.MultiIndex):
        example = f", e.g. {names[0]!r}" if len(names) else ""
        raise InvalidInputError(
            f"the columns have {names.nlevels} levels (a MultiIndex{example}); give one name per "
            "column: flatten them, e.g. frame.columns = frame.columns.get_level_values(-1), or join the "
            "levels and map the names with columns=", source=source)
    stripped = [str(n).strip() for n in names]
    seen: dict[str, int] = {}
    dup = []
    for name in stripped:
        seen[name] = seen.get(name, 0) + 1
        if seen[name] == 2:
            dup.append(name)
    if dup:
        raise InvalidInputError(
            f"the header names column(s) {dup} more than once; which one holds the data is "
            "ambiguous: rename or remove the duplicate(s)", source=source, column=dup[0])


def _norm_name(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", str(name).lower())


def _suggest_columns(name: str, known) -> list[str]:
    """Known column names that ``name`` is probably meant to be.

    Matches, on names lower-cased with spaces and punctuation removed: equal names
    (``ECOG``, ``Figo Stage``), abbreviations of at least three letters (``pfi`` for
    ``pfi_months``, ``ascites`` for ``ascites_ml``, ``FIGO`` for ``figo_stage``) and close
    spellings with the same first letter (``difflib`` ratio >= 0.8, e.g. ``recurence_pattern``;
    not ``dfs_months``, another endpoint).
    """
    return list(_suggestions(str(name), tuple(known)))


#: Names that exports give the clinical factors, normalised as :func:`_norm_name` does, and the
#: contract column each stands for (which no spelling rule finds: ``stage`` for
#: ``figo_stage``, ``performance_status`` for ``ecog``). Beside the contract column's absence
#: such a column is refused: the model would otherwise impute a factor the table gives. (No
#: ``residual``: a residual disease column may be the secondary surgery's outcome, and a hint
#: to rename it the primary surgery's would lead the outcome into the predictors.)
_COLUMN_ALIASES = {
    "ageyears": "age", "ageatrecurrence": "age",
    "ps": "ecog", "ecogps": "ecog", "ecogperformancestatus": "ecog", "performancestatus": "ecog", "whops": "ecog", "whoperformancestatus": "ecog",
    "stage": "figo_stage", "initialstage": "figo_stage",
    "platinumfreeinterval": "pfi_months", "platinumfreeintervalmonths": "pfi_months", "pfidays": "pfi_months",
    "pfiweeks": "pfi_months", "tfip": "pfi_months", "tfipmonths": "pfi_months",     # TFIp: GCIG 2019's name
    "pattern": "recurrence_pattern", "recurrencesites": "recurrence_pattern",
    "recistresponse": "recist", "recistcategory": "recist", "recist11": "recist",
}

#: Of :data:`_COLUMN_ALIASES`, the names that carry another unit than their contract column's:
#: renaming is not enough, the values must be converted.
_ALIAS_UNITS = {"pfidays": "days", "pfiweeks": "weeks"}


@functools.lru_cache(maxsize=1024)
def _suggestions(name: str, known: tuple) -> tuple:
    """:func:`_suggest_columns`, remembered (the same extra column is seen on every call)."""
    n = _norm_name(name)
    if not n:
        return ()
    by_norm = {_norm_name(k): k for k in known if k != name}
    out = [k for nk, k in by_norm.items() if nk == n or (len(n) >= 3 and nk.startswith(n))]
    out += [k for k in known if k == _COLUMN_ALIASES.get(n) and k != name]
    # a close spelling keeps the first letter: dfs_months (disease-free survival) is another
    # endpoint, not a misspelt pfs_months
    out += [by_norm[m] for m in difflib.get_close_matches(n, list(by_norm), n=3, cutoff=0.8) if m[0] == n[0]]
    return tuple(dict.fromkeys(out))


def check_column_mapping(mapping, source: str | None = None) -> None:
    """Refuse a ``columns=`` renaming that is not a dict of names to names (None or empty: none)."""
    if mapping and not (isinstance(mapping, dict) and all(isinstance(k, str) and isinstance(v, str)
                                                          for k, v in mapping.items())):
        raise InvalidInputError(
            "columns must map column names of the table to data-contract names, e.g. "
            f"{{'ECOG': 'ecog'}}; got {type(mapping).__name__}", source=source)


def _resolve_columns(table, known, mapping, source: str):
    """Apply the caller's column mapping, then refuse columns that look like known ones.

    Parameters
    ----------
    table : DataFrame or dict
        The table with stripped column names: a DataFrame, or the dict of column arrays the
        validators take (every input form becomes one); the same type is returned.
    known : iterable of str
        Column names with a meaning for this table.
    mapping : mapping of str to str, optional
        Explicit renaming ``{name in the file: data-contract name}`` (``columns=`` of the
        readers, ``--rename old=new`` on the command line). Entries naming a column this
        table does not have are skipped, so one mapping serves the markers and the clinical
        table (a misspelt entry cannot hide a column: the column is then refused below).
    source : str
        Where the table comes from (for messages).

    Raises
    ------
    InvalidInputError
        A mapping entry renames onto a column the table already has; or a
        column is a case, space or close-spelling variant of a known column that is absent
        (``ECOG`` for ``ecog``): it would otherwise be ignored silently.
    """
    known = tuple(known)
    names = list(table.columns if isinstance(table, pd.DataFrame) else table)
    check_column_mapping(mapping, source)
    if mapping:
        mapping = {k: v for k, v in mapping.items() if k in names}
        clash = [v for k, v in mapping.items() if v in names and v not in mapping and k != v]
        if clash:
            raise InvalidInputError(
                f"the column mapping renames onto {clash}, which the table already has; map only "
                "one column to each name", source=source, column=clash[0])
        names = [mapping.get(n, n) for n in names]
        _check_header(names, source)
        if isinstance(table, pd.DataFrame):
            table = table.rename(columns=mapping)
        else:
            table = {mapping.get(k, k): v for k, v in table.items()}
    present = set(names)
    known_set = frozenset(known)
    _check_spellings(names, present & known_set, source)
    problems = []
    for name in names:
        if name in known_set or name in _DERIVED_COLUMNS:
            continue
        targets = [t for t in _suggest_columns(name, known) if t not in present]
        if targets:
            problems.append((name, targets))
    _check_column_types(table, present & known_set, source)
    if problems:
        listed = "; ".join(f"{n!r} looks like {' or '.join(map(repr, t))}" for n, t in problems)
        # 'pfi_days' renamed 'pfi_months' would read days as months
        name, targets = next((p for p in problems if _norm_name(p[0]) in _ALIAS_UNITS), problems[0])
        unit = _ALIAS_UNITS.get(_norm_name(name))
        if unit is not None:
            raise InvalidInputError(
                f"column name(s) not in the data contract: {listed}. Such a column would be ignored "
                f"silently, so it is refused: {name!r} holds {unit} and {targets[0]!r} is in months; "
                f"convert the values to months and name the column {targets[0]!r} (renaming alone "
                f"would read {unit} as months); to keep it as an extra column, rename it to something "
                "unlike a known column", source=source, column=name)
        raise InvalidInputError(
            f"column name(s) not in the data contract: {listed}. Such a column would be ignored "
            f"silently, so it is refused: rename it (e.g. {name!r} -> {targets[0]!r}), or map it "
            f"explicitly with columns={{{name!r}: {targets[0]!r}}} (command line: --rename "
            f"'{name}={targets[0]}'); to keep it as an extra column, rename it to something unlike "
            "a known column", source=source, column=name)
    return table


def _check_column_types(table, present_known, source: str) -> None:
    """Refuse a contract column whose type says what its values were only approximately:
    single-precision numbers (float32, float16: ``21.2`` is held as 21.2000007629..., so which
    value the laboratory wrote is not known, and a value at a rule's limit may fall on either
    side of it), and identifiers given as bytes (their text encoding is unknown: ``b'007'``
    would be read as the patient ``"b'007'"``). The message says how to read it instead.

    A column of Python values (a list, records, a mapping) holding a numpy float32 or float16
    (``[400.2, np.float32(200.1)]``) is refused as a column of them is: it would be read as its
    widening, 200.1000061."""
    for name in sorted(present_known):
        values = table[name]
        dtype = getattr(values, "dtype", None)
        if dtype is not None and dtype.kind == "O":
            dtype = _single_cells(values) or dtype
        if dtype is not None and getattr(dtype, "numpy_dtype", dtype) in (np.float32, np.float16):
            raise InvalidInputError(
                f"column {name!r} holds single-precision numbers ({dtype}): 21.2 is held as "
                "21.2000007629..., so the value written is not known exactly; give the column in double "
                f"precision or as text (write the file with float64, or read the source with "
                f"dtype={{{name!r}: 'float64'}} or str; converting float32 to float64 keeps the error)",
                source=source, column=name)
        if name == "patient_id" and dtype is not None and dtype.kind == "O" and _holds_bytes(values):
            raise InvalidInputError(
                "column 'patient_id' holds bytes, whose text encoding is unknown (b'007' would be read "
                "as the patient \"b'007'\"); decode them first, e.g. .str.decode('utf-8')",
                source=source, column=name)


def _single_cells(values) -> np.dtype | None:
    """The type of the first single-precision number among the cells of an object column, or
    None: pandas' C type inference settles a column of text (or of whole numbers, dates...)
    at once; only a column it finds to hold floats, or a mixture, has its cells' types listed."""
    from pandas.api.types import infer_dtype

    if infer_dtype(values, skipna=True) not in ("floating", "mixed", "mixed-integer-float"):
        return None
    types = set(map(type, values))          # (in C: a tenth of a loop's time)
    return next((np.dtype(t) for t in (np.float32, np.float16) if t in types), None)


def _holds_bytes(values: np.ndarray) -> bool:
    """Whether an object column holds a bytes (or bytearray) cell: pandas' C type inference
    settles a column of text, about 10 times faster than a Python loop over a registry's
    identifiers; any other column is looked at cell by cell."""
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        return False
    return any(isinstance(v, (bytes, bytearray)) for v in values)


def _check_spellings(names, present_known, source: str) -> None:
    """Refuse a column that is a contract column of the table written another way.

    ``ECOG`` beside ``ecog``, ``CA_125`` beside ``ca125`` (equal once lower-cased and
    stripped of spaces and punctuation): the table gives the value twice, possibly different,
    and reading one while ignoring the other would be a guess. Close spellings and
    abbreviations (``ascites`` beside ``ascites_ml``) may be other data and stay extra columns.
    """
    by_norm = {_norm_name(k): k for k in present_known}
    twice = [(n, by_norm[_norm_name(n)]) for n in names
             if n not in present_known and n not in _DERIVED_COLUMNS and _norm_name(n) in by_norm]
    if twice:
        name, column = twice[0]
        listed = "; ".join(f"{n!r} and {c!r}" for n, c in twice)
        raise InvalidInputError(
            f"the table names the same column twice, written differently: {listed}; which one holds "
            f"the data is ambiguous: remove or rename one of them (e.g. drop {name!r})",
            source=source, column=name)


def _date_hint(value) -> str:
    """For a ``day`` cell that holds a date: where a date goes."""
    if isinstance(value, (_dt.date, np.datetime64)) or (isinstance(value, str) and _ISO_DATE_RE.match(value.strip())):
        return ("; it is a date: give dates in a 'date' column together with the first dose (treatment_start, "
                "of the clinical table or the markers rows, or gcig_response's treatment_start=)")
    return ""


#: The number format of a semicolon-separated CSV read with the default format (a point as
#: the decimal mark, no thousands separator stated), in place of ``thousands=None``
#: (:func:`_table_number_format`): such exports (European spreadsheets) often write a point
#: between thousands, so a cell such as ``1.200`` could be 1200 or 1.2 and is refused, as
#: ``1,200`` is in any table; ``12.5`` or ``1200`` are read as usual.
_DOT_AMBIGUOUS = "dot-ambiguous"
#: A number written with points grouping three digits (``1.200``, ``12.000.000``).
_DOT_GROUPED = r"[+-]?\d{1,3}(?:\.\d{3})+"


def _table_number_format(frame: pd.DataFrame, decimal: str, thousands: str | None) -> str | None:
    """``thousands`` for the numbers of ``frame``: :data:`_DOT_AMBIGUOUS` for a CSV read as
    semicolon-separated (stated or detected, :func:`_load`) with the default format; else
    ``thousands`` as given."""
    if thousands is None and decimal == "." and frame.attrs.get("ca125_sep") == ";":
        return _DOT_AMBIGUOUS
    return thousands


#: How statistics packages and spreadsheets write a missing value (R ``NA``, SAS and Stata
#: ``.``, ...): never read as missing (the readers' missing value is an empty cell), but named
#: as such in the refusal, so that an unknown fact is not mended into a number such as 0.
_MISSING_MARKS = frozenset({"na", "n/a", "n.a.", "nan", "null", "none", "missing", "unknown", "nd", "n.d.", ".",
                            "-", "--", "?"})
#: Of :data:`_MISSING_MARKS`, those refused as a patient identifier: not a lab's "not done"
#: (``ND``), which is also two initials.
_MISSING_IDS = _MISSING_MARKS - {"nd", "n.d."}


def _number_hint(text, decimal: str, thousands: str | None) -> str:
    """How to state the number format, for a cell that did not parse."""
    if not isinstance(text, str):
        return ""
    if text.strip().lower() in _MISSING_MARKS:
        return (f"; {text.strip()!r} is not read as a missing value: an unknown value is an empty cell (R: "
                "write.csv(..., na = \"\")), never a number written in its place")
    if text.strip()[:1] in (">", "\u2265"):
        return ("; a value above the assay's measuring range ('>x') is not a measurement: the true value is "
                "unknown (no lower bound is read as one); ask the laboratory for the diluted result")
    if thousands == _DOT_AMBIGUOUS:
        if re.fullmatch(_DOT_GROUPED, text.strip().lstrip("<").strip()):
            return (f"; in a semicolon-separated table {text.strip()!r} could be a point between thousands or a "
                    "decimal point (1.200 is 1200 or 1.2): state the format, decimal=',' thousands='.' if the "
                    "point separates thousands, thousands=',' if it is the decimal point (command line "
                    "--decimal , --thousands . / --thousands ,)")
        thousands = None
    if decimal == "." and thousands is None and "," in text:
        return (f"; {text.strip()!r} could be a decimal comma or a thousands separator (1,200 is 1.2 or "
                "1200): state the format with decimal=',' or thousands=',' (command line --decimal "
                "/ --thousands)")
    if decimal == "," and thousands is None and "." in text:
        return (f"; with decimal=',' the '.' in {text.strip()!r} is ambiguous (thousands separator or "
                "decimal point): pass thousands='.' if it separates thousands, or correct the value")
    if thousands is not None and thousands in text:
        return f"; thousands separators must group three digits (1{thousands}200)"
    return ""


def _parse_numbers(values, decimal: str = ".", thousands: str | None = None, *, booleans: bool = False):
    """Numbers from a column of numbers or text; NaN where a cell is empty or does not parse.

    True/False is not a number (NaN: the caller reports it), unless ``booleans`` (a 0/1
    flag such as ``pfs_event``, where True is 1 and False 0, and the texts a ``censored``
    column takes, :data:`CENSORED_TRUE` / :data:`CENSORED_FALSE` in any case, read the same
    way: a boolean frame reads alike in memory and from the CSV pandas writes of it); nor is
    a complex number.

    ``values`` is a column array (what the validators take) or a Series; a float array, or
    a float Series with the same index, is returned. With the defaults (``decimal="."``, no
    thousands separator) text is read by ``pandas.to_numeric``. With a stated format, text
    must be a plain number written that way: ``1.200,5`` with ``decimal=","`` and
    ``thousands="."``; a thousands separator must group three digits; with ``decimal=","``
    and no thousands separator a ``.`` is ambiguous and the cell does not parse.
    """
    if isinstance(values, pd.Series):
        return pd.Series(_parse_numbers(_array(values), decimal, thousands, booleans=booleans),
                         index=values.index, dtype=float)
    if isinstance(values, _Text):
        out = values.numbers(decimal, thousands, _parse_numbers)[0]
        if booleans:
            words = values.mapped(_boolean_word, np.nan, float)
            out = np.where(np.isnan(out), words, out)
        return out
    if values.dtype.kind == "b" and not booleans:   # never a day, a value or an age of 1/0
        return np.full(len(values), np.nan)
    if values.dtype.kind in "iufb":
        return values.astype(float)
    text = _text(values)
    if not len(text):
        return np.zeros(0)
    # True/False (unless booleans) and complex numbers (numpy would drop the imaginary part)
    # are not numbers: the caller reports them
    unread = (complex, np.complexfloating) if booleans else (bool, np.bool_, complex, np.complexfloating)
    flags = [i for i, v in enumerate(text) if isinstance(v, unread)]
    if flags:
        text[flags] = None
    if booleans:
        for i, v in enumerate(text):
            if type(v) is str and not np.isnan(word := _boolean_word(v)):
                text[i] = word
    if decimal != "." or thousands is not None:
        pattern = _number_pattern(decimal, thousands)
        for i, v in enumerate(text):
            if type(v) is str:
                if pattern.match(v):
                    text[i] = (v.replace(thousands, "") if thousands and thousands != _DOT_AMBIGUOUS
                               else v).replace(decimal, ".")
                else:                   # not a number written this way (the caller reports it)
                    text[i] = None
    return np.asarray(pd.to_numeric(text, errors="coerce"), dtype=float)


def _boolean_word(text: str) -> float:
    """1.0 / 0.0 for a text a ``censored`` column reads as true / false (any case), else NaN."""
    word = text.strip().lower()
    return 1.0 if word in CENSORED_TRUE else 0.0 if word in CENSORED_FALSE else np.nan


@functools.lru_cache(maxsize=16)
def _number_pattern(decimal: str, thousands: str | None) -> re.Pattern:
    """The regular expression of a number written with ``decimal`` and ``thousands``
    (:data:`_DOT_AMBIGUOUS`: a plain number with a decimal point, not grouped by points)."""
    d, t = re.escape(decimal), re.escape(thousands) if thousands else None
    plain = rf"[+-]?(?:\d+(?:{d}\d*)?|{d}\d+)(?:[eE][+-]?\d+)?"
    if thousands == _DOT_AMBIGUOUS:
        return re.compile(rf"^(?!{_DOT_GROUPED}$){plain}$")
    grouped = rf"[+-]?\d{{1,3}}(?:{t}\d{{3}})+(?:{d}\d*)?" if t else None
    return re.compile(rf"^(?:{plain}|{grouped})$" if grouped else rf"^{plain}$")


def _check_number_format(decimal: str, thousands: str | None) -> None:
    if decimal not in (".", ","):
        raise InvalidInputError(f"decimal must be '.' or ',', got {decimal!r}")
    if thousands is not None and (thousands not in (".", ",", " ", "'", "\u00a0") or thousands == decimal):
        raise InvalidInputError(
            f"thousands must be None or one of '.', ',', a space or an apostrophe, and differ from decimal; "
            f"got {thousands!r}")


def _parse_dates(values, date_format: str | None, what: str):
    """Calendar dates of a column: ``(dates, bad, message)``.

    ``values`` is a column array (what the validators take) or a Series. ``dates`` is
    datetime64[ns] at midnight (an array, or a Series with the same index; a time of day is
    dropped: days count calendar days; a timezone offset is dropped too, keeping the local
    date as written); ``bad`` marks present cells that are not a date; ``message(raw)`` says
    why and how to fix it.

    Without ``date_format`` text must be ISO 8601 (``YYYY-MM-DD``, optionally followed by a
    time): ``01/03/2024`` is refused, never guessed (pandas would take the order of day and
    month from the first value). With ``date_format`` (``strftime`` codes, e.g.
    ``"%d/%m/%Y"``) every text cell must match it. Date and datetime objects (a Parquet
    timestamp column) are taken as they are.
    """
    if date_format is not None:
        _check_date_format(date_format)
    if isinstance(values, pd.Series):
        dates, bad, message = _parse_dates(_array(values), date_format, what)
        return pd.Series(dates, index=values.index), bad, message
    dates, bad = _date_values(values, date_format)

    def message(raw) -> str:
        if _outside_dates(raw, date_format):
            return (f"{what} {raw!r} is outside the dates read ({_FIRST_DATE} to {_LAST_DATE}): a typo in the "
                    "year? correct the value")
        if date_format is not None:
            return (f"{what} {raw!r} does not match date_format {date_format!r}; correct the value or "
                    "the format")
        serial = _spreadsheet_serial(raw)
        if serial or isinstance(raw, (int, float, np.number)) and not isinstance(raw, bool):
            hint = (" (a spreadsheet's serial day number? format the column as dates, YYYY-MM-DD, before "
                    "exporting: day numbers are never converted, as spreadsheets count them from different "
                    "origins, 1900 or 1904)") if serial else ""
            return (f"{what} {raw!r} is a number, not a date{hint}; with a treatment_start, days are read from "
                    "dates: give dates, or whole days from the first dose in 'day' without treatment_start")
        if isinstance(raw, str) and _ISO_DATE_RE.match(raw):      # the form is right, the day is not
            return (f"{what} {raw!r} is written as YYYY-MM-DD but no such day exists (a month 01-12 and "
                    "a day that month has); correct the value")
        if isinstance(raw, str) and _ISO_DATE_TIMED.match(raw):   # the date is right, the time is not
            return (f"{what} {raw!r} has no valid time of day or offset after its date (hours 00-23, "
                    "minutes and seconds 00-59, offset at most 14 hours; 24:00 is the next day's 00:00); "
                    "correct the value, or give the date alone")
        return (f"{what} {raw!r} is not an ISO date (YYYY-MM-DD, optionally with a time); a date such "
                "as 01/03/2024 is ambiguous (1 March or 3 January), so it is never guessed: write "
                "YYYY-MM-DD, or state the format with date_format='%d/%m/%Y' (command line "
                "--date-format '%d/%m/%Y')")

    return dates, bad, message


#: The serial day numbers a spreadsheet gives its dates (Excel's 1900 system: 10000 is
#: 1927-05-18, 2958465 is 9999-12-31), which a date column exported unformatted holds; a number
#: of four digits or fewer is more likely a year (2024) than a day of 1900-1927.
_SERIAL_DAYS = (10_000, 2_958_465)


def _spreadsheet_serial(raw) -> bool:
    """Whether a date cell that is not a date is a whole number a spreadsheet could have written
    for a date (text ``'45672'`` or a number), said in the refusal; never read as one."""
    if isinstance(raw, str):
        raw = raw.strip()
        if not raw.isascii() or not raw.isdigit():
            return False
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, (int, float, np.number)) or raw != raw:
        return False
    return float(raw).is_integer() and _SERIAL_DAYS[0] <= raw <= _SERIAL_DAYS[1]


def _check_date_format(date_format) -> None:
    """Refuse a ``date_format`` that is no strftime format: not text, no ``%`` code, or a code
    the parser does not know (``'%Q'``, a stray ``%``), which pandas raised as a bare
    ValueError in the middle of reading (a traceback on the command line)."""
    if not isinstance(date_format, str) or "%" not in date_format:
        raise InvalidInputError(f"date_format must be a strftime format {_DATE_FORMAT_HINT}, got {date_format!r}")
    problem = _date_format_problem(date_format)
    if problem:
        raise InvalidInputError(f"date_format {date_format!r} (command line --date-format) is not a strftime "
                                f"format ({problem}); give one {_DATE_FORMAT_HINT}")


_DATE_FORMAT_HINT = "such as '%d/%m/%Y' (codes: %d day, %m month, %Y year, %H:%M time)"


@functools.lru_cache(maxsize=16)
def _date_format_problem(date_format: str) -> str | None:
    """Why the date parser refuses ``date_format`` (None when it takes it); cached, as a
    format is checked at every read of a date column."""
    try:
        pd.to_datetime(["0"], format=date_format, errors="coerce")
    except ValueError as exc:
        return str(exc)
    return None


#: The first and last calendar dates read (those datetime64[ns] holds whole); any other is refused.
_FIRST_DATE, _LAST_DATE = np.datetime64("1678-01-01", "D"), np.datetime64("2261-12-31", "D")


def _outside_dates(raw, date_format: str | None = None) -> bool:
    """Whether ``raw`` is a real calendar date (text ``YYYY-MM-DD...`` or in ``date_format``,
    or a date object) outside :data:`_FIRST_DATE`..:data:`_LAST_DATE`."""
    if isinstance(raw, str):
        m = _ISO_DATE_RE.match(raw) if date_format is None else None
        try:
            raw = (_dt.date.fromisoformat(m.group(1)) if m is not None
                   else _dt.datetime.strptime(raw.strip(), date_format).date() if date_format is not None else None)
        except ValueError:
            return False
        if raw is None:
            return False
    if isinstance(raw, np.datetime64) and not np.isnat(raw):
        return not _FIRST_DATE <= raw.astype("datetime64[D]") <= _LAST_DATE
    if isinstance(raw, _dt.date):
        return not _FIRST_DATE <= np.datetime64(raw.isoformat()[:10], "D") <= _LAST_DATE
    return False


def _date_values(values: np.ndarray, date_format: str | None) -> tuple[np.ndarray, np.ndarray]:
    """``(dates, bad)`` of :func:`_parse_dates` on a column array."""
    n = len(values)
    if isinstance(values, _Text):
        dates = values.iso_dates() if date_format is None else None
        if dates is not None:
            return dates, np.zeros(n, dtype=bool)
        values = values.numpy()                 # any other text: the rules below, cell by cell
    if values.dtype.kind == "M":                         # a datetime column: midnight of its day
        days = values.astype("datetime64[D]")
        outside = (days < _FIRST_DATE) | (days > _LAST_DATE)
        return np.where(outside, np.datetime64("NaT", "D"), days).astype("datetime64[ns]"), outside
    if date_format is None and all(v is None or (type(v) is str and _ISO_DATE.match(v)) for v in values):
        try:   # plain ISO dates: numpy reads them directly (pandas costs ~1 ms per call)
            days = np.array(["NaT" if v is None else v for v in values], dtype="datetime64[D]")
        except ValueError:                               # 2024-02-30: the cell path says which
            pass
        else:
            outside = (days < _FIRST_DATE) | (days > _LAST_DATE)     # NaT compares False
            return np.where(outside, np.datetime64("NaT", "D"), days).astype("datetime64[ns]"), outside
    nat = np.datetime64("NaT")

    def one(v):
        if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and np.isnan(v)):
            return None
        if isinstance(v, np.datetime64):
            return None if np.isnat(v) else pd.Timestamp(v).normalize()
        if isinstance(v, pd.Timestamp):
            return (v.tz_localize(None) if v.tz is not None else v).normalize()
        if isinstance(v, _dt.datetime):
            return pd.Timestamp(v.replace(tzinfo=None)).normalize()
        if isinstance(v, _dt.date):
            return pd.Timestamp(v)
        if not isinstance(v, str):
            return nat
        if not v.strip():
            return None
        if date_format is None:
            m = _ISO_DATE_RE.match(v)
            if m is None:
                return nat
            ts = pd.to_datetime(m.group(1), format="%Y-%m-%d", errors="coerce")
            return nat if ts is pd.NaT else ts
        ts = pd.to_datetime(v.strip(), format=date_format, errors="coerce")
        if ts is pd.NaT:
            return nat
        return (ts.tz_localize(None) if ts.tz is not None else ts).normalize()

    parsed = [one(v) for v in values]
    # a date nanoseconds cannot hold (a year typed 0224 or 9999) is not a date read here: it
    # had wrapped around into a day such as -16904.05
    parsed = [nat if v is not None and v is not nat and not _FIRST_DATE <= np.datetime64(v.date(), "D") <= _LAST_DATE
              else v for v in parsed]
    bad = np.fromiter((v is nat for v in parsed), dtype=bool, count=n)
    dates = np.array([nat if v is None or v is nat else np.datetime64(v.to_datetime64(), "ns") for v in parsed],
                     dtype="datetime64[ns]")
    return dates, bad


def _parse_censored_flags(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(flag, bad, empty)`` of a ``censored`` column: true/false, 1/0, yes/no or empty (= false).

    ``empty``: cells that state nothing (null, or blank text), so a ``'<x'`` beside them is
    read as censored rather than refused as a contradiction."""
    if values.dtype.kind == "b":
        return values.astype(bool), np.zeros(len(values), dtype=bool), np.zeros(len(values), dtype=bool)

    def one(v):     # True, False, None (not a documented value) or "" (the cell states nothing)
        if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
            return ""
        if isinstance(v, (bool, np.bool_)):
            return bool(v)
        if isinstance(v, (int, float, np.integer, np.floating)):
            return {1: True, 0: False}.get(v) if v in (0, 1) else None
        text = str(v)
        if not text.strip():
            return ""
        word = _boolean_word(text)
        return None if np.isnan(word) else word == 1.0

    parsed = [one(v) for v in values]
    bad = np.fromiter((v is None for v in parsed), dtype=bool, count=len(parsed))
    empty = np.fromiter((v == "" for v in parsed), dtype=bool, count=len(parsed))
    return np.fromiter((v is True for v in parsed), dtype=bool, count=len(parsed)), bad, empty


# --------------------------------------------------------------------------- markers


_LIMIT_RE = re.compile(r"^\s*<\s*=?\s*(.*?)\s*$")


def _parse_values(raw: np.ndarray, decimal: str = ".", thousands: str | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (value, censored, bad) arrays from numbers or ``"<x"`` strings.

    The number (and the limit ``x`` of ``"<x"``) is read by :func:`_parse_numbers` with the
    stated ``decimal`` and ``thousands``.
    """
    if isinstance(raw, _Text):
        return raw.numbers(decimal, thousands, _parse_values)
    if raw.dtype.kind == "b":          # True/False is not a number (:func:`_parse_numbers`)
        return np.full(len(raw), np.nan), np.zeros(len(raw), dtype=bool), np.ones(len(raw), dtype=bool)
    if not _is_text(raw):
        value = raw.astype(float)
        return value, np.zeros(len(raw), dtype=bool), np.zeros(len(raw), dtype=bool)
    text = _text(raw)
    body = text.copy()
    censored = np.zeros(len(raw), dtype=bool)
    for i, v in enumerate(text):
        if type(v) is str and v[:1] == "<":
            body[i] = _LIMIT_RE.match(v).group(1)
            censored[i] = True
    value = _parse_numbers(body, decimal, thousands)
    bad = ~_missing(text) & np.isnan(value)
    return value, censored, bad


@dataclass
class _MarkerRows:
    """Validated markers columns (input order) and the problems found (internal)."""

    patient_id: np.ndarray
    day: np.ndarray
    ca125: np.ndarray
    censored: np.ndarray
    uln: np.ndarray
    assay: np.ndarray
    event: np.ndarray
    row: np.ndarray
    extra: dict
    problems: _Collector
    value_name: str = "ca125"      # the marker's value column (the ``ca125`` field holds its values)
    codes: np.ndarray | None = None     # patient_id factorised (:func:`_factorised`), when known
    uniques: np.ndarray | None = None
    order: np.ndarray | None = None     # stable order of all rows by (codes, day), when computed
    aggregated: bool = False            # same-day samples were aggregated (duplicates=...)
    notes: dict = field(default_factory=dict)   # patient_id -> the reader's data-quality note

    def factorised(self) -> tuple[np.ndarray, np.ndarray]:
        """``(codes, uniques)`` of ``patient_id`` (``uniques`` sorted)."""
        if self.codes is None:
            self.codes, self.uniques = _factorised(self.patient_id)
        return self.codes, self.uniques


def _no_clinical_row(pid, padded: dict) -> str:
    """Why patient ``pid`` of the markers is refused: no clinical row. When the clinical table
    holds the same number with leading zeros (``'2'`` against ``'000002'``: one table read with
    its ids as numbers; ``padded`` is :func:`_padded_ids` of its ids), the refusal says so and
    how to read them (the ids are never matched by their numbers: 7 and 007 may be two patients)."""
    text = str(pid)
    twin = padded.get(text.lstrip("0")) if text.isascii() and text.isdigit() else None
    hint = (f" (the clinical table has {twin!r}: a table read with its ids as numbers loses their leading "
            "zeros; read patient_id as text, e.g. pandas.read_csv(..., dtype={'patient_id': str}))"
            if twin is not None and twin != text else "")
    return (f"patient {pid!r} has markers but no clinical row{hint}; add the patient to the clinical table or "
            "remove the markers")


def _padded_ids(ids) -> dict:
    """The ids made of digits, by their number written without leading zeros (``'2'`` ->
    ``'000002'``), for :func:`_no_clinical_row`."""
    return {c.lstrip("0"): c for c in ids if isinstance(c, str) and c.isascii() and c.isdigit()}


def _known(uniques: np.ndarray, known_ids) -> np.ndarray:
    """Whether each of the distinct patients ``uniques`` is one of ``known_ids`` (set
    membership; a missing id, None or NaN, is looked up as the set holds it)."""
    if len(uniques) == len(known_ids) and (np.asarray(list(known_ids), dtype=object) == uniques).all():
        return np.ones(len(uniques), dtype=bool)   # the same patients (a chunk of a sorted registry)
    known = known_ids if isinstance(known_ids, (set, frozenset)) else set(known_ids)
    return np.fromiter((p in known for p in uniques.tolist()), dtype=bool, count=len(uniques))


def _validate_markers(columns: dict, rows: np.ndarray, label: str, *, uln: float, duplicates: str,
                      day_range: tuple[int, int], known_ids=None, starts=None,
                      clinical_given: bool = False, date_format: str | None = None, decimal: str = ".",
                      thousands: str | None = None, spec: MarkerSpec | None = None) -> _MarkerRows:
    """Every markers rule of the data contract, on the columns of any input form.

    ``spec`` is the marker (default CA-125): its name is the value column, its label and unit
    are in the messages, values above its plausible maximum are invalid.

    ``known_ids`` (a collection) are the patients of the clinical table, when one was given;
    ``starts`` maps a patient to its ``treatment_start`` from the clinical table (None when
    that table has no such column). ``date_format``, ``decimal`` and ``thousands`` say how
    dates and numbers are written (:func:`_parse_dates`, :func:`_parse_numbers`). Problems
    are collected (not raised): the caller raises or flags them.
    """
    spec = get_marker(spec)
    vc, what, unit = spec.name, spec.label, spec.unit
    value_max = spec.plausible_max
    if "day" not in columns and "date" in columns:
        _require(columns, ("patient_id", vc, "date"), label, "markers")
    else:
        _require(columns, ("patient_id", vc, "day"), label, "markers")
    n = len(rows)
    fast = ("patient_id", vc, "day", "uln", "assay", "event", "date", "treatment_start")  # column-wise if _Text
    columns = {k: (v if k in fast else _np(v)) for k, v in columns.items()}
    pid, codes, uniques = _patient_ids(columns["patient_id"])
    _require_ids(pid, rows, label, _NO_SAMPLE_ID, codes, uniques)
    col = _Collector(label, rows, pid, "markers")

    # ---- day (or date relative to treatment_start)
    if "day" in columns:
        raw_day = columns["day"]
        day_f = _parse_numbers(raw_day, decimal, thousands)
        empty_day = _missing(raw_day)
        col.add(np.isnan(day_f) & ~empty_day, "day",
                lambda i: f"day {_shown(raw_day[i])!r} is not a number; give whole days from the first dose (day 0)"
                + (_date_hint(raw_day[i]) or _number_hint(raw_day[i], decimal, thousands)))
        col.add(empty_day, "day", "day is empty; give whole days from the first dose (day 0)")
        if "date" in columns:
            _check_day_against_date(day_f, columns, pid, starts, col, clinical_given, date_format)
    else:
        day_f = _days_from_dates(columns, pid, starts, col, clinical_given, date_format)
    known_day = ~np.isnan(day_f)
    col.add(known_day & (np.floor(day_f) != day_f), "day",
            lambda i: f"day {float(day_f[i])!r} is not a whole number of days")
    lo, hi = day_range
    col.add(known_day & ((day_f < lo) | (day_f > hi)), "day",
            lambda i: f"day {day_f[i]:g} is outside the plausible range {lo}..{hi}; "
            "days count from the first dose of the chemotherapy line (day 0)")

    # ---- event
    if "event" in columns:
        raw_event = columns["event"]
        if isinstance(raw_event, _Text):
            event = raw_event.mapped(event_kind, None)
            known = raw_event.mapped(lambda v: event_kind(v) in EVENT_KINDS, True, bool)
        else:
            event = _text(raw_event)
            event[:] = [event_kind(v) if type(v) is str else v for v in event]
            known = np.fromiter((v is None or v in EVENT_KINDS for v in event), dtype=bool, count=n)
        col.add(~known, "event",
                lambda i: f"unknown event {_shown(raw_event[i])!r}; use one of {list(EVENT_KINDS)} or leave it empty")
    else:
        event = np.full(n, None, dtype=object)
    no_event = np.equal(event, None)

    # ---- the marker's value
    raw_value = columns[vc]
    value, censored, bad_value = _parse_values(raw_value, decimal, thousands)
    if "censored" in columns:  # a canonical frame written out and read back keeps its flags
        raw_flag = columns["censored"]
        flag, bad_flag, empty_flag = _parse_censored_flags(raw_flag)
        col.add(bad_flag, "censored",
                lambda i: f"censored {_shown(raw_flag[i])!r} is not a documented value; use "
                f"true/false (also {'/'.join(CENSORED_TRUE[1:])} and {'/'.join(CENSORED_FALSE[1:])}) or "
                f"leave it empty (= false), or write the value as '<x' in the {vc} column")
        said_false = ~flag & ~bad_flag & ~empty_flag
        col.add(censored & said_false, "censored",
                lambda i: f"{what} value {_shown(raw_value[i])!r} is written as below the assay's limit "
                f"but censored is {_shown(raw_flag[i])!r}; correct one of them (or leave censored empty)")
        censored = censored | flag
    col.add(bad_value, vc,
            lambda i: f"{what} value {_shown(raw_value[i])!r} is not a number; give {unit} as a number, "
            "or '<x' for a value below the assay's limit" + _number_hint(raw_value[i], decimal, thousands))
    col.add(~bad_value & (value < 0), vc,
            lambda i: f"{what} value {value[i]:g} is negative; {what} in {unit} cannot be below 0")
    col.add(~bad_value & censored & (value == 0), vc,
            lambda i: f"{what} value {_shown(raw_value[i])!r} is censored at 0: below a limit of 0 is no value; "
            "give the assay's limit of quantification" + BELOW_LIMIT_ADVICE)
    # no assay measures 0: an export's 0 stands for a value below the limit, or for none; read
    # as a measurement it made a GCIG fall and CR while the log-scale kinetics refused it
    col.add(~bad_value & ~censored & (value == 0), vc,
            lambda i: f"{what} value {_shown(raw_value[i])!r}: no assay measures 0 {unit}; give the value "
            "below the assay's limit" + BELOW_LIMIT_ADVICE + EMPTY_CELL_ADVICE)
    col.add(~bad_value & np.isinf(value), vc, f"{what} value is infinite; give a finite {unit} value")
    col.add(~bad_value & np.isfinite(value) & (value > value_max), vc,
            lambda i: f"{what} value {value[i]:g} {unit} is beyond what any assay reports (at most "
            f"{value_max:,.0f} {unit}); check the value and its unit")
    empty_value = np.isnan(value) & ~bad_value
    col.add(empty_value & no_event, vc,
            f"{what} value is empty; give the value, or remove the row (only event rows may omit it)")
    if "unit" in columns:   # optional: the values' unit, stated; it must be the marker's (no conversion)
        raw_unit = _text(columns["unit"])
        unit_text = [None if u is None else str(u) for u in raw_unit]
        named = {u: u is None or spec.names_unit(u) for u in set(unit_text)}
        col.add(np.fromiter((not named[u] for u in unit_text), dtype=bool, count=n), "unit",
                lambda i: f"unit {_shown(raw_unit[i])!r} is not the unit of {what} ({unit}, or "
                f"{' or '.join(spec.unit_aliases)}, the same number); convert the value to {unit}, or check "
                "that the row is a " + what + " measurement")

    # ---- uln and assay
    if "uln" in columns:
        uln_raw = columns["uln"]
        uln_v = _parse_numbers(uln_raw, decimal, thousands)
        col.add(np.isnan(uln_v) & ~_missing(uln_raw), "uln",
                lambda i: f"ULN {_shown(uln_raw[i])!r} is not a number; give the assay's upper limit of normal in "
                f"{unit}" + _number_hint(uln_raw[i], decimal, thousands))
        col.add(~np.isnan(uln_v) & ~(uln_v > 0), "uln", f"ULN must be a positive number of {unit}")
        typical = ("assays use about 20-40 U/mL; " if vc == "ca125" else
                   f"{what} assays use {', '.join(f'{u:g}' for u in spec.uln_alternatives)} {unit}; ")
        col.add(~np.isnan(uln_v) & (uln_v > spec.uln_max), "uln",
                lambda i: f"ULN {uln_v[i]:g} {unit} is implausible for {what} ({typical}at most "
                f"{spec.uln_max:g}); check the value and its unit (another marker's ULN?)")
        col.add(~np.isnan(uln_v) & (uln_v > 0) & (uln_v < spec.uln_min), "uln",
                lambda i: f"ULN {uln_v[i]:g} {unit} is implausible for {what} ({typical}at least "
                f"{spec.uln_min:g}); check the value and its unit (another marker's ULN?)")
        notes = _partial_uln(uln_v, _missing(uln_raw) & ~np.isnan(value), pid, codes, rows, day_f, label,
                             float(uln), unit)
        uln_v = np.where(np.isnan(uln_v), float(uln), uln_v)
    else:
        uln_v = np.full(n, float(uln))
        notes = {}
    assay = _text(columns["assay"]) if "assay" in columns else np.full(n, None, dtype=object)

    canonical = marker_columns(spec)
    # a column read column-wise (``treatment_start``) is kept as its cells, not its reader
    extra = {c: (v.numpy() if isinstance(v, _Text) else v) for c, v in columns.items()
             if c not in canonical and c != "date"}
    out = _MarkerRows(pid, day_f, np.where(bad_value, np.nan, value), censored, uln_v, assay, event,
                      np.asarray(rows), extra, col, vc, codes, uniques)
    out = _handle_duplicates(out, duplicates)
    out.notes = notes

    if known_ids is not None:
        codes, uniques = out.factorised()
        orphan = ~_known(uniques, known_ids)[codes]
        col.rows, col.patients = out.row, out.patient_id
        if orphan.any():
            padded = _padded_ids(known_ids)
            col.add(orphan, "patient_id", lambda i: _no_clinical_row(out.patient_id[i], padded))
    return out


def _treatment_starts(clinical, date_format: str | None = None) -> dict[str, Any] | None:
    """``patient_id -> treatment_start`` of a clinical table (for markers that carry dates);
    None when the table has no ``treatment_start`` column.

    A canonical frame (:func:`read_clinical`) is used as it is; anything else is read with
    :func:`read_clinical` (dates as ``date_format`` says, never guessed).
    """
    if isinstance(clinical, pd.DataFrame) and "treatment_start" in clinical.columns and \
            pd.api.types.is_datetime64_any_dtype(clinical["treatment_start"].dtype):
        clin = clinical
    else:
        clin = read_clinical(clinical, require=("patient_id",), date_format=date_format)
    if "treatment_start" not in clin.columns:
        return None
    starts, _, _ = _parse_dates(_array(clin["treatment_start"]), None, "treatment_start")
    ids = _id_array(_array(clin["patient_id"]))
    out = _Starts()
    for p, t in zip(ids, starts):
        out.setdefault(p, t)
    if "problem" in clin.columns:   # a flagged row: the reader's reason for a date it refused
        for p, t, why in zip(ids, starts, _array(clin["problem"])):
            if np.isnat(t) and isinstance(why, str) and "column 'treatment_start'" in why:
                out.refused.setdefault(p, why)
    return out


class _Starts(dict):
    """``patient_id -> treatment_start`` (:func:`_treatment_starts`), and ``refused``: for a
    patient whose start the clinical reader refused (a table read with ``on_error="flag"``),
    its reason, which the markers' "no treatment_start" message then quotes instead of asking
    for a date that was given."""

    def __init__(self):
        super().__init__()
        self.refused: dict[str, str] = {}


def _no_treatment_start() -> InvalidInputError:
    return InvalidInputError(
        "markers carry dates, so the clinical table needs a 'treatment_start' column "
        "(date of the first dose)", column="treatment_start",
    )


def _days_from_dates(columns: dict, pid: np.ndarray, starts, col: _Collector, clinical_given: bool,
                     date_format: str | None = None) -> np.ndarray:
    """Days from the first dose: dates minus ``treatment_start`` of the clinical table
    (``starts``), or of the markers rows themselves (a FHIR bundle or OMOP extract carries it
    per row). Where both give one, they must agree. Calendar days: times of day are dropped
    from both (:func:`_parse_dates`)."""
    own = "treatment_start" in columns
    if not clinical_given and not own:
        raise InvalidInputError(
            "markers carry 'date' but no 'day'; give each row its 'treatment_start' (first dose of the "
            "line) in a column of the markers table, or a clinical table with it (clinical=..., command line "
            "--clinical where the command takes one), or add a 'day' column", source=col.source, column="date",
        )
    if clinical_given and starts is None and not own:
        raise _no_treatment_start()
    nat = np.datetime64("NaT", "ns")
    start = np.full(len(pid), nat, dtype="datetime64[ns]")
    if own:
        raw_start = columns["treatment_start"]
        start, bad_start, start_message = _parse_dates(raw_start, date_format, "treatment_start")
        col.add(bad_start, "treatment_start", lambda i: start_message(_shown(raw_start[i])))
    if starts is not None:
        given = np.array([starts.get(p, nat) for p in pid], dtype="datetime64[ns]")
        differ = ~np.isnat(given) & ~np.isnat(start) & (given != start)
        col.add(differ, "treatment_start",
                lambda i: f"treatment_start {pd.Timestamp(start[i]).date()} of the markers differs from "
                f"{pd.Timestamp(given[i]).date()} in the clinical table; correct one of them")
        start = np.where(np.isnat(given), start, given)
    raw = columns["date"]
    dates, bad, message = _parse_dates(raw, date_format, "date")
    col.add(bad, "date", lambda i: message(_shown(raw[i])))
    col.add(np.isnat(dates) & ~bad, "date", "date is empty; give the date of the sample")
    no_start = ~np.isnat(dates) & np.isnat(start) & ~pd.isna(pid)
    refused = getattr(starts, "refused", {})
    col.add(no_start, "treatment_start",
            lambda i: f"patient {pid[i]!r} has no usable treatment_start: "
            f"{refused[pid[i]].removeprefix('invalid input: ')}" if pid[i] in refused else
            f"patient {pid[i]!r} has no treatment_start in the clinical table"
            + (" or the markers" if own else "") + "; add the date of the first dose")
    return (dates - start) / np.timedelta64(1, "D")


def _check_day_against_date(day: np.ndarray, columns: dict, pid: np.ndarray, starts, col: _Collector,
                            clinical_given: bool, date_format: str | None) -> None:
    """Markers carrying both ``day`` and ``date``: the day is what the rules read, so each
    row's date must give the same day from the first dose (:func:`_days_from_dates`); a row
    where they differ is a problem. Without a ``treatment_start`` (of the clinical table or of
    the markers rows) the date cannot be checked, and the table is refused rather than one of
    the two columns being ignored."""
    if "treatment_start" not in columns and starts is None:
        raise InvalidInputError(
            "markers carry both 'day' and 'date', and there is no treatment_start to check one "
            "against the other; drop one of the two columns, or give the clinical table's "
            "treatment_start (first dose of the line)", source=col.source, column="date")
    from_dates = _days_from_dates(columns, pid, starts, col, clinical_given, date_format)
    raw = columns["date"]
    differ = ~np.isnan(day) & ~np.isnan(from_dates) & (day != from_dates)
    col.add(differ, "date",
            lambda i: f"day {day[i]:g} but date {_shown(raw[i])} is day {from_dates[i]:g} from the first "
            "dose (treatment_start); correct one of them, or drop one of the two columns")


def _duplicate_rows(m: _MarkerRows) -> np.ndarray:
    """Rows with a value whose (patient, day) another valued row shares.

    An infinite day is already reported (outside the plausible range); it is no sample day.
    """
    valued = ~np.isnan(m.ca125) & np.isfinite(m.day)
    dup = np.zeros(len(m.row), dtype=bool)
    if valued.sum() < 2:
        return dup
    codes, day = m.factorised()[0], m.day
    has_value = None                          # every row has a value
    if not valued.all():
        has_value = np.flatnonzero(valued)
        codes, day = codes[has_value], day[has_value]
    step, gap = np.diff(codes), np.diff(day)
    if ((step > 0) | ((step == 0) & (gap >= 0))).all():     # already sorted by patient and day
        same = (step == 0) & (gap == 0)
        order = np.arange(len(codes)) if same.any() else None
    else:
        order = np.lexsort((day, codes))
        same = (np.diff(codes[order]) == 0) & (np.diff(day[order]) == 0)
        if has_value is None:
            m.order = order                   # the canonical frame's order, when no patient is flagged
    if has_value is None:
        has_value = np.arange(len(codes)) if same.any() else None
    if same.any():
        dup[has_value[order[1:][same]]] = True
        dup[has_value[order[:-1][same]]] = True
    return dup


def _sort_order(codes: np.ndarray, day: np.ndarray) -> np.ndarray | None:
    """Stable order of rows by (``codes``, ``day``), or None when they are in that order."""
    if len(codes) < 2:
        return None
    step = np.diff(codes)
    if ((step > 0) | ((step == 0) & (np.diff(day) >= 0))).all():
        return None
    return np.lexsort((day, codes))


#: Advice of the markers reader written for a table; the JSON API gives it in a request's terms
#: (``web.app._request_terms``), so each is written once, here.
BELOW_LIMIT_ADVICE = " as the report states it (e.g. '<5')"
EMPTY_CELL_ADVICE = ", or leave the cell empty if none was measured (only event rows may omit it)"
AGGREGATE_ADVICE = (", or aggregate them explicitly with duplicates='mean' (or median/max/min/first/last) where the "
                    "reader takes it (read_markers, ca125 gcig --duplicates, GcigSettings(duplicates=...) for "
                    "gcig_response: a model scores with the setting it was trained with)")


def aggregate_advice() -> str:
    """How the caller aggregates same-day samples, in its own terms: the command's own
    ``--duplicates`` option (``ca125 gcig``, ``kinetics``, ``screen``); the model's setting
    and the training configuration's ``[gcig] duplicates`` under a command that scores with a
    model (``score``, ``validate``) or trains one (``train --config``); else the Python
    arguments (:data:`AGGREGATE_ADVICE`, which the JSON API rewrites in its own terms)."""
    choices = "mean (or median/max/min/first/last)"
    option = argument_name("duplicates")
    if option.startswith("-"):
        return f", or aggregate them explicitly with {option} {choices}"
    config = 'the training configuration\'s [gcig] duplicates = "mean" (or median/max/min/first/last)'
    if argument_name("model").startswith("-"):
        return (f"; the model ({argument_name('model')}) reads same-day samples with the rule it was trained with, "
                f"here GCIG's (an error): to aggregate them, use a model trained with {config}")
    if argument_name("config").startswith("-"):
        return f", or aggregate them explicitly with {config} ({argument_name('config')})"
    return AGGREGATE_ADVICE


def _handle_duplicates(m: _MarkerRows, duplicates: str) -> _MarkerRows:
    dup = _duplicate_rows(m)
    if not dup.any():
        return m
    col = m.problems
    if duplicates == "error":
        label = get_marker(m.value_name).label      # the marker read, not always CA-125
        advice = aggregate_advice()
        col.add(dup, "day",
                lambda i: f"two or more {label} samples on day {int(m.day[i])}; "
                + ("GCIG treats this" if label == "CA-125" else "this is treated")
                + " as a data error: remove the extra sample(s)" + advice)
        return m
    # explicit aggregation: one row per (patient, day), at the first duplicate's place
    out = _rows_frame(m)
    vc = m.value_name
    dup_index = out.index[dup]
    group = out.loc[dup_index]
    label = get_marker(vc).label
    _refuse_mixed(group, "assay", col, len(out),
                  lambda d, seen: f"{label} samples of two assays ({seen}) on day {d} cannot be aggregated into one "
                  "value: give one assay's sample for that day (the GCIG rules need one assay throughout)")
    _refuse_mixed(group, "uln", col, len(out),
                  lambda d, seen: f"{label} samples with two ULNs ({seen}) on day {d} cannot be aggregated into one "
                  "value: give the samples of that day one assay and its ULN")
    # a day's values aggregated in the order of their size, not of the rows (but for first
    # and last), each day's rows together: a mean summed in row order differed in its last
    # bit between two orders of one table's rows (Spark's rows have none), and so did k and
    # the probability; pandas averages a day whose rows are not together otherwise again
    sized = group
    if duplicates not in ("first", "last"):
        days = group.groupby(["patient_id", "day"], sort=False).ngroup().to_numpy()
        sized = group.iloc[np.lexsort((group[vc].to_numpy(dtype=float), days))]
    by = sized.groupby(["patient_id", "day"], sort=False)
    value = by[vc].agg(duplicates)
    keep_first = group.loc[~group.duplicated(["patient_id", "day"], keep="first")].copy()
    keep_first = keep_first.set_index(["patient_id", "day"])
    keep_first[vc] = value
    keep_first["censored"] = _merged_censored(sized, by, vc, duplicates)
    keep_first["assay"] = by["assay"].first()        # the one assay named that day, if any
    keep_first["event"] = None                       # the day's events follow as rows of their own
    keep_first = keep_first.reset_index()
    events = group.loc[group["event"].notna()].assign(**{vc: np.nan, "censored": False})
    out = pd.concat([out.drop(index=dup_index), keep_first[out.columns], events[out.columns]], ignore_index=True)
    extra = {c: out[c].to_numpy() for c in m.extra}
    return _MarkerRows(out["patient_id"].to_numpy(dtype=object), out["day"].to_numpy(dtype=float),
                       out[vc].to_numpy(dtype=float), out["censored"].to_numpy(dtype=bool),
                       out["uln"].to_numpy(dtype=float), _none_missing(out["assay"].to_numpy(dtype=object)),
                       _none_missing(out["event"].to_numpy(dtype=object)), out["_row"].to_numpy(dtype=object), extra, col,
                       m.value_name, aggregated=True)


def _merged_censored(group: pd.DataFrame, by, vc: str, how: str) -> pd.Series:
    """Whether each aggregate of same-day samples is censored (**Decision**, one rule for
    every reader of a series). A censored ``"<x"`` sample is an upper bound (the level was
    in ``[0, x)``) and enters the aggregate at its limit, so the aggregate is an upper bound
    too. It is censored exactly when lowering the censored samples could lower it; every
    aggregation named (mean, median, max, min, first, last) is monotone, so that is when the
    aggregate with the censored samples at 0, their lowest level, is below the aggregate
    with them at their limits. So ``mean(<5, 10)`` and ``min(<5, 3)`` are censored,
    ``max(<5, 5)`` and ``median(<10, 10, 12)`` are exact, and ``first``/``last`` take the
    chosen sample's flag.
    """
    lowest = group[vc].where(~group["censored"].astype(bool), 0.0)
    lowered = lowest.groupby([group["patient_id"], group["day"]], sort=False).agg(how)
    return lowered < by[vc].agg(how)


def _refuse_mixed(group: pd.DataFrame, column: str, col, n_rows: int, message) -> None:
    """Flag the same-day samples whose ``column`` (assay, ULN) names two values: they cannot
    be aggregated into one value of one assay, so the patient is refused with
    ``message(day, "a, b")`` rather than given the first sample's."""
    keys = [group["patient_id"], group["day"]]
    two = (group[column].groupby(keys, sort=False).transform("nunique") > 1).to_numpy()
    if not two.any():
        return
    rows = group.index.to_numpy()[two]
    flags = np.zeros(n_rows, dtype=bool)
    flags[rows] = True
    seen = group.loc[two].groupby(keys, sort=False)[column].agg(
        lambda v: ", ".join(f"{x:g}" if isinstance(x, float) else str(x) for x in sorted(v.dropna().unique())))
    text = {r: message(int(d), seen[(p, d)]) for r, p, d in
            zip(rows.tolist(), group.loc[two, "patient_id"].tolist(), group.loc[two, "day"].tolist())}
    col.add(flags, column, lambda i: text[i])


def _rows_frame(m: _MarkerRows) -> pd.DataFrame:
    out = pd.DataFrame({
        "patient_id": m.patient_id, "day": m.day, m.value_name: m.ca125, "censored": m.censored,
        "uln": m.uln, "assay": m.assay, "event": m.event, "_row": m.row,
    })
    for c, v in m.extra.items():
        out[c] = v
    return out


def read_markers(
    source,
    *,
    clinical=None,
    uln: float | None = None,
    duplicates: str = "error",
    on_error: str = "raise",
    day_range: tuple[int, int] = DAY_RANGE,
    marker: str | MarkerSpec | None = None,
    date_format: str | None = None,
    sep: str | None = None,
    decimal: str = ".",
    thousands: str | None = None,
    columns: dict[str, str] | None = None,
    drug_codes: Mapping[str, str] | None = None,
    event_codes: Mapping[str, str] | None = None,
    factors: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Read and validate a tumour-marker table (long format, one row per sample).

    Parameters
    ----------
    source : str, Path or DataFrame
        A ``.csv`` or ``.parquet`` file, or a DataFrame, with columns ``patient_id``,
        the value column named after the marker (``ca125``, or ``cea`` with
        ``marker="cea"``) and ``day`` (or ``date`` together with ``treatment_start``, in the
        clinical table or on the markers rows), optionally ``uln``, ``assay``, ``event``.
        A ``.json`` file is read as a FHIR R4 bundle
        (:func:`ca125kinetics.sources.fhir.read_fhir`, CA-125; its skipped records are
        counted in a :class:`DataQualityWarning`).
    clinical : str, Path or DataFrame, optional
        The clinical table. Needed when markers carry dates; when given, every patient with
        markers must have a clinical row.
    uln : float
        ULN filled in where the ``uln`` column is absent or empty, in the marker's unit
        (default the marker's ``default_uln``: 35 U/mL for CA-125, 5 ng/mL for CEA).
    duplicates : str
        Two samples of one patient on the same day are a data error (``"error"``, the
        default) unless an aggregation is chosen explicitly: ``mean``, ``median``, ``max``,
        ``min``, ``first``, ``last``. A censored value takes part with its limit; the
        aggregate is censored when lowering a censored sample could lower it
        (:func:`_merged_censored`); samples of two assays on one day are not aggregated (the
        patient is refused). The GCIG functions read their input with
        ``GcigSettings.duplicates`` here: this is the one rule for same-day samples.
    on_error : {"raise", "flag"}
        ``"raise"``: raise one :class:`InvalidInputError` listing the problems.
        ``"flag"``: keep every patient; a patient with problems becomes one row
        (day 0, ca125 NaN) whose ``problem`` column holds the reasons.
    day_range : (int, int)
        Plausible inclusive range of ``day``; values outside are errors.
    marker : str or MarkerSpec, optional
        The marker of the table (``"ca125"``, the default, or ``"cea"``;
        :func:`ca125kinetics.markers.get_marker`). Its name is the value column read and
        written; values above its ``plausible_max`` are invalid. **Decision** (never guess):
        a table without the marker's column but with another marker's (e.g. only ``cea``
        read as CA-125) is refused with an error saying to pass ``marker=``; so is a table
        whose ``marker`` column (written by ``ca125 extract``, values in ``ca125``) names
        another marker. An extract's ``ca125`` column is read as the marker its ``marker``
        column names.
    date_format : str, optional
        ``strftime`` format of the ``date`` column (and of the clinical table's
        ``treatment_start`` when it is read here), e.g. ``"%d/%m/%Y"``. Without it dates must
        be ISO ``YYYY-MM-DD`` (a time of day is dropped); anything else is refused, never
        guessed.
    sep : str, optional
        CSV separator. Default: ``","``; a header with semicolons and no comma is read as
        semicolon-separated, with a :class:`~ca125kinetics.errors.DataQualityWarning`.
    decimal, thousands : str
        How numbers are written: ``decimal=","`` and ``thousands="."`` read ``1.200,5`` as
        1200.5. Without a stated thousands separator, ``1,200`` (decimal ``"."``) and
        ``1.200`` (decimal ``","``) are ambiguous and refused.
    columns : dict, optional
        Explicit renaming of the table's columns to data-contract names, e.g.
        ``{"Patient": "patient_id", "CA125 (U/mL)": "ca125"}``. A column that is a case,
        space or close-spelling variant of a data-contract column is refused otherwise.
    drug_codes : mapping of str to str, optional
        For a FHIR bundle (``.json``): further RxNorm codes whose administrations are doses
        of the line, e.g. ``{"597195": "carboplatin"}`` (as
        :func:`ca125kinetics.sources.fhir.read_fhir`). A table's days come from its own
        columns, so ``drug_codes`` with any other source is refused.
    event_codes : mapping of str to str, optional
        For a FHIR bundle: further SNOMED CT procedure codes read as exclusion events (code ->
        event kind), e.g. ``{"387713003": "surgery"}``, beside paracentesis and thoracentesis
        (as :func:`ca125kinetics.sources.fhir.read_fhir`). A table's events are its ``event``
        column, so ``event_codes`` with any other source is refused.
    factors : sequence of str, optional
        The clinical factors that may sit on the markers rows (the pyfunc form) or in the
        ``clinical`` table, not both: given with values on the rows while a clinical table is
        given, they are refused (which value counts would be a guess). Default: the ovarian
        model's predictors (:data:`CLINICAL_PREDICTORS`) for CA-125, none for another marker;
        a model of another task names its own.

    Returns
    -------
    pandas.DataFrame
        The canonical markers frame described in the module docstring.

    See Also
    --------
    patient_record : the same rules for one patient given in any form.
    """
    spec = get_marker(marker)
    given_uln, uln = uln, spec.default_uln if uln is None else uln
    _check_arguments(on_error, duplicates, uln, spec.unit, spec.uln_max, spec.uln_min)
    _check_number_format(decimal, thousands)
    if isinstance(source, pd.DataFrame):
        _refuse_id_in_index(source, columns, "markers")
    frame, label, rows = _load(source, "markers", sep, spec.name,
                               codes={"drug_codes": drug_codes, "event_codes": event_codes}, uln=given_uln)
    frame = _without_unstated_uln(frame, uln)
    _check_aggregation(frame, duplicates, label)
    thousands = _table_number_format(frame, decimal, thousands)
    cols = _value_column(_resolve_columns(_frame_columns(frame, arrow=True), MARKERS_KNOWN, columns, label),
                         spec, label)
    starts = known = None
    if clinical is not None:
        refuse_factors_twice(cols, label, CLINICAL_PREDICTORS if factors is None and spec.name == "ca125"
                             else factors or ())
        known = _clinical_ids(clinical, date_format)
        if "date" in cols:
            starts = _treatment_starts(clinical, date_format)
    m = _validate_markers(cols, _row_labels(rows), label, uln=float(uln), duplicates=duplicates,
                          day_range=day_range, known_ids=known, starts=starts,
                          clinical_given=clinical is not None, date_format=date_format, decimal=decimal,
                          thousands=thousands, spec=spec)
    # the reasons of a frame this reader flagged (never a "problem" column of the user's own):
    # its invalid patient is one row without a value there, which read again is "value is empty"
    given = _given_reasons(cols.get("problem"), m.patient_id) if frame.attrs.get(_MARKERS_READ_ATTR) else {}
    if given and on_error == "raise":
        pid, reason = next(iter(given.items()))
        raise InvalidInputError(f"patient {pid!r} was flagged by an earlier reading: {reason}", source=label,
                                patient_id=pid, column="problem")
    if m.problems.problems and on_error == "raise":
        raise m.problems.error()
    aggregated = m.aggregated or frame.attrs.get(AGGREGATED_ATTR) == duplicates
    # the ULN filled in by default (no uln column, none given): no statement of the table's
    # (a frame read so before, read again, keeps the mark)
    defaulted = given_uln is None and ("uln" not in cols or filled_uln(frame) == uln)
    # the notes of the FHIR reader, or of an earlier reading (read again, its filled-in ULNs no
    # longer show the gap), then this reading's
    notes = {pid: tuple(texts) for pid, texts in (frame.attrs.get(NOTES_ATTR) or {}).items()}
    for pid, text in m.notes.items():
        notes[pid] = notes.get(pid, ()) + (() if text in notes.get(pid, ()) else (text,))
    frame = _finish_markers(m, float(uln), given)
    frame.attrs[_MARKERS_READ_ATTR] = True
    _drop_settled_uln_notes(notes, frame, m.value_name, set(m.notes), float(uln))
    if notes:
        frame.attrs[NOTES_ATTR] = _FrameNotes(notes)
    if aggregated:
        frame.attrs[AGGREGATED_ATTR] = duplicates
    if defaulted:
        frame.attrs[FILLED_ULN_ATTR] = float(uln)
    if spec.name == "ca125":
        _remember(frame, day_range)
    return frame


def _drop_settled_uln_notes(notes: dict, frame: pd.DataFrame, value: str, fresh: set, default: float) -> None:
    """Drop from ``notes`` the carried note of samples without a ULN (an earlier reading's,
    not among ``fresh``, this reading's patients with such a note; ``value`` the value column)
    of a patient whose samples in ``frame`` now have one ULN other than the ``default`` the
    note says was filled in: the caller gave those samples their ULN after that reading, and
    the note would be false. (Samples that all hold the default are as the earlier reading
    left them: the filled-in cells cannot be told from the given ones, and the note stays.)"""
    carried = [pid for pid, texts in notes.items() if pid not in fresh and any(t.startswith(_NO_ULN_NOTE) for t in texts)]
    if not carried:
        return
    rows = frame[frame["patient_id"].isin(carried)]
    samples = rows[rows[value].notna()]      # the ULNs of the samples (not of event rows)
    ulns = samples.groupby("patient_id", sort=False)["uln"].agg(["nunique", "first"])
    settled = ulns.index[(ulns["nunique"] == 1) & (ulns["first"] != default)]
    for pid in settled.tolist():
        kept = tuple(t for t in notes[pid] if not t.startswith(_NO_ULN_NOTE))
        if kept:
            notes[pid] = kept
        else:
            del notes[pid]


#: The ``attrs`` key of a frame :func:`read_markers` returned with its ``uln`` column filled
#: by its default (the table had none, the caller gave no ``uln=``): the ULN filled in.
FILLED_ULN_ATTR = "ca125_uln_filled"


def setting_uln(source, uln: float | None, stated: float | None = None) -> float | None:
    """The ``uln=`` to read ``source`` with: ``stated`` when a ULN was stated for it (``--uln``),
    else the setting ``uln`` (a model's, the package's default), but None for a FHIR bundle
    (a ``.json`` path).
    A bundle's samples carry their laboratory's reference range; one given only as text, or
    none for CEA, is refused unless a ULN is stated for it (``read_markers(uln=)`` by the
    caller, ``--uln``), and a setting passed on would fill it in unseen (``ca125 gcig
    bundle.json`` read a range '< 30 U/mL' as 35 and confirmed a response that 30 does not)."""
    if stated is not None:
        return stated
    if isinstance(source, (str, os.PathLike)) and str(source).lower().endswith(".json"):
        return None
    return uln


def filled_uln(frame) -> float | None:
    """The ULN :func:`read_markers` filled into every row of ``frame``'s ``uln`` column by its
    default (the table stated none and the caller gave no ``uln=``), while the column holds
    only it; else None. Such a ULN is no statement: a consumer with a ULN setting of its own
    (``GcigSettings.uln``, ``KineticsSettings.uln``) applies that one instead."""
    value = frame.attrs.get(FILLED_ULN_ATTR) if isinstance(frame, pd.DataFrame) else None
    if value is None or "uln" not in frame.columns:
        return None
    column = pd.to_numeric(frame["uln"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return float(value) if bool(np.all((column == value) | np.isnan(column))) else None


#: The ``attrs`` key of a frame :func:`read_markers` returned with notes on its patients:
#: ``patient_id -> tuple of text``, what the readers noticed without refusing the patient (the
#: ``PatientRecord.notes`` of a table: samples without a ULN beside samples with one; a FHIR
#: bundle's times written in several UTC offsets), which :meth:`PatientBatch.from_frames`
#: carries to the scored result's ``warnings``.
NOTES_ATTR = "ca125_notes"


class _FrameNotes(Mapping):
    """The notes a frame carries (:data:`NOTES_ATTR`): ``patient_id -> tuple of text``, read-only.

    pandas deep-copies a frame's ``attrs`` into the result of nearly every operation (a
    filter, a column, a merge); a plain dict of one entry per noted patient made each such
    operation cost time in proportion to the table (0.3 s on a 60,000-patient chunk whose
    every patient was noted). The notes never change once read, so a copy is the object
    itself: carrying them costs nothing whatever their number.
    """

    __slots__ = ("_notes",)

    def __init__(self, notes: Mapping[str, tuple] = ()):
        self._notes = {str(pid): tuple(texts) for pid, texts in dict(notes).items()}

    def __getitem__(self, pid):
        return self._notes[pid]

    def __iter__(self):
        return iter(self._notes)

    def __len__(self) -> int:
        return len(self._notes)

    def __eq__(self, other) -> bool:
        return other is self or (isinstance(other, Mapping) and dict(self.items()) == dict(other.items()))

    __hash__ = None

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __reduce__(self):
        return (_FrameNotes, (self._notes,))

    def __repr__(self) -> str:
        return f"_FrameNotes({len(self._notes)} patient(s))"


#: The ``attrs`` key of a frame :func:`read_markers` returned with same-day samples
#: aggregated: the aggregation (``"mean"``, ...). The frame is read again only with it.
AGGREGATED_ATTR = "ca125_duplicates"


def _without_unstated_uln(frame, uln: float):
    """``frame`` without its ``uln`` column when that holds only a default this reader filled
    in earlier (:func:`filled_uln`) other than ``uln``: no statement of the table's, so the
    ULN the reader is given now applies (a ``GcigSettings.uln``, a model's)."""
    if filled_uln(frame) not in (None, float(uln)):
        return frame.drop(columns="uln")
    return frame


def _check_aggregation(frame, duplicates: str, label: str) -> None:
    """Refuse a frame whose same-day samples :func:`read_markers` aggregated with another
    setting than ``duplicates`` (e.g. ``mean`` read again with a model's ``error``): its
    aggregates would pass for measured samples, and the result would state the other
    setting."""
    done = frame.attrs.get(AGGREGATED_ATTR) if isinstance(frame, pd.DataFrame) else None
    if done is not None and done != duplicates:
        raise InvalidInputError(
            f"these markers hold same-day samples aggregated by read_markers(duplicates={done!r}), but they are "
            f"read now with duplicates={duplicates!r} (a model scores, and the GCIG rules read, with the setting "
            f"they were given or trained with): pass the samples as measured, or read them with "
            f"duplicates={duplicates!r} in the first place", source=label, column="day")


# The frames read_markers returned, as long as they live and are not changed: a consumer of
# canonical frames (gcig_cohort) validates any other frame with read_markers itself, and these
# not again. A frame is held by a weak reference; a shallow copy shares its column arrays, so
# that pandas' copy-on-write gives the frame new arrays on any change of a cell (a column
# array pandas hands out is read-only), which :func:`read_unchanged` sees.
_READ: dict[int, tuple[Any, pd.DataFrame, tuple[int, int]]] = {}


def _remember(frame: pd.DataFrame, day_range: tuple[int, int]) -> None:
    import weakref

    key = id(frame)
    _READ[key] = (weakref.ref(frame, lambda _, key=key: _READ.pop(key, None)), frame.copy(deep=False),
                  tuple(day_range))


def _buffer(values) -> int:
    return np.asarray(values).__array_interface__["data"][0]


def _copy_on_write() -> bool:
    """Whether pandas gives a frame new arrays whenever a cell is set (copy-on-write: always
    from pandas 3; an option before, off by default)."""
    if int(pd.__version__.split(".")[0]) >= 3:
        return True
    try:
        return pd.get_option("mode.copy_on_write") is True
    except (KeyError, AttributeError, pd.errors.OptionError):
        return False


def read_unchanged(frame, day_range: tuple[int, int] = DAY_RANGE, duplicates: str = "error",
                   uln: float | None = None) -> bool:
    """Whether ``frame`` is a CA-125 markers frame :func:`read_markers` returned (with
    ``day_range``, its same-day samples left as they are or aggregated by ``duplicates``, and,
    given ``uln``, no default ULN filled in but that one), unchanged since: no cell set, no column
    replaced, added or removed. Such a frame meets every rule of the reader; any other frame
    (built by hand, sliced, sorted, edited) is to be read with :func:`read_markers`.

    A change is seen through copy-on-write (a set cell gives the frame new arrays). Without
    it (pandas 2 with ``mode.copy_on_write`` off, its default) a cell set in place keeps the
    array, so no frame counts as unchanged there: every frame is read again."""
    if not _copy_on_write():
        return False
    entry = _READ.get(id(frame))
    if entry is None or entry[0]() is not frame or entry[2] != tuple(day_range):
        return False
    if frame.attrs.get(AGGREGATED_ATTR, duplicates) != duplicates:
        return False
    if uln is not None and filled_uln(frame) not in (None, float(uln)):
        return False
    kept = entry[1]
    if len(frame) != len(kept) or list(frame.columns) != list(kept.columns):
        return False
    return all(_buffer(frame[c].array) == _buffer(kept[c].array) for c in kept.columns)


def _finish_markers(m: _MarkerRows, uln: float, given: dict[str, str] | None = None) -> pd.DataFrame:
    """The canonical frame: the rows of valid patients, then one placeholder row (day 0, no
    value) per invalid patient holding its reasons, sorted by patient and day (stable).
    ``given``: the reasons an earlier reading wrote (patient -> reason), which come first."""
    vc = m.value_name
    col = m.problems
    codes, uniques = m.factorised()
    reasons = col.reasons_by_patient() if col.problems else {}
    reasons = {**reasons, **(given or {})}
    bad = np.zeros(len(uniques), dtype=bool)
    if reasons:
        bad = np.fromiter((str(u) in reasons for u in uniques), dtype=bool, count=len(uniques))
    good = ~bad[codes] if reasons else np.ones(len(codes), dtype=bool)
    flagged = np.flatnonzero(bad)                     # sorted: uniques are
    n_good, n_bad = int(good.sum()), len(flagged)

    def rows(values, fill, dtype=None):
        part = values if n_good == len(values) else values[good]
        if not n_bad:
            return part if dtype is None else part.astype(dtype, copy=False)
        return np.concatenate([part.astype(dtype, copy=False) if dtype else part,
                               np.full(n_bad, fill, dtype=dtype or part.dtype)])

    key = rows(codes, 0)
    if n_bad:
        key[n_good:] = flagged
    day = rows(m.day, 0, np.int64)
    order = m.order if m.order is not None and not n_bad and n_good == len(codes) else _sort_order(key, day)

    def column(values, dtype=None):
        values = values if order is None else values[order]
        return pd.Series(values, dtype=dtype, copy=False)

    problem = np.full(n_good + n_bad, None, dtype=object)
    problem[n_good:] = [reasons[str(u)] for u in uniques[flagged]]
    result = pd.DataFrame({
        "patient_id": column(uniques[key], object),
        "day": column(day),
        vc: column(rows(m.ca125, np.nan, float)),
        "censored": column(rows(m.censored, False, bool)),
        "uln": column(rows(m.uln, uln, float)),
        "assay": column(rows(m.assay, None, object), object),
        "event": column(rows(m.event, None, object), object),
        "problem": column(problem, object),
    }, copy=False)
    if m.extra:      # extra columns as pandas concatenates them (their dtype is theirs)
        extra = pd.DataFrame(index=pd.RangeIndex(len(codes)))
        for c, v in m.extra.items():
            extra[c] = v
        whole = extra
        extra = extra[good] if n_good < len(codes) else extra
        if n_bad:
            # an invalid patient's row keeps the first value its rows give in each extra column
            # (the clinical factors of the pyfunc form: its RECIST category is reported for
            # invalid input too), as the same table split as a DataFrame gives it
            bad_rows = np.flatnonzero(bad[codes])
            slot = np.searchsorted(flagged, codes[bad_rows])
            placeholders = pd.DataFrame(index=pd.RangeIndex(n_bad))
            for c in m.extra:
                values = whole[c].iloc[bad_rows].to_numpy(dtype=object)   # those rows only: a file may be long
                at = np.flatnonzero(given_cells(values))
                first = np.full(n_bad, None, dtype=object)
                if at.size:
                    firsts = at[np.unique(slot[at], return_index=True)[1]]
                    first[slot[firsts]] = values[firsts]
                placeholders[c] = pd.Series(first, dtype=object)
            extra = pd.concat([extra, placeholders], ignore_index=True)
        extra = (extra if order is None else extra.iloc[order]).reset_index(drop=True)
        result = pd.concat([result, extra], axis=1)
    return result


#: Rows from which a text column is made from its distinct values (:func:`_coded`).
_CODED_MIN_ROWS = 1000


def _coded(n_rows: int, n_distinct: int) -> bool:
    """Whether a text column of ``n_rows`` holding ``n_distinct`` texts (missing cells aside)
    is made from its distinct texts taken by code: long, with few distinct texts (a category
    column of a million rows has a handful), and not all missing."""
    return n_rows >= _CODED_MIN_ROWS and 0 < n_distinct <= n_rows // 10


def _inferred(values):
    """A column as pandas infers it when it is assigned to a frame (pandas 3: text as ``str``),
    inferred once per distinct value: a category column of a million rows has a handful."""
    if not isinstance(values, np.ndarray) or values.dtype != object or len(values) < _CODED_MIN_ROWS:
        return values
    codes, uniques = pd.factorize(values)                  # missing cells: code -1
    if not _coded(len(values), len(uniques)):
        return values
    inferred = pd.Series(uniques).array                    # text only: other values stay as they are
    if not isinstance(inferred.dtype, pd.StringDtype):
        return values
    return inferred.take(codes, allow_fill=True)


def _inferred_coded(index: np.ndarray, labels: np.ndarray, values: np.ndarray):
    """:func:`_inferred` of ``values``, a text column known by its codes (``values`` is
    ``labels`` plus None, taken at ``index``; -1 is None): the column is made from the few
    labels, not by hashing every row. ``labels`` are text or None, and may repeat."""
    if not _coded(len(values), len({label for label in labels if label is not None})):
        return values
    from ._columns import coded_text

    return coded_text([*labels, None], np.where(index < 0, len(labels), index))


def _none_missing(values: np.ndarray) -> np.ndarray:
    """An object column with None for every missing cell (NaN, NA)."""
    missing = pd.isna(values)
    if missing.any():
        values = values.copy()
        values[missing] = None
    return values


def marker_columns(marker: str | MarkerSpec | None = None) -> tuple[str, ...]:
    """Columns of the canonical markers frame of ``marker``: :data:`MARKER_COLUMNS` with
    ``ca125`` replaced by the marker's name (``cea`` for CEA)."""
    name = get_marker(marker).name
    return tuple(name if c == "ca125" else c for c in MARKER_COLUMNS)


def _value_column(columns: dict, spec: MarkerSpec, label: str) -> dict:
    """The columns with the value column named ``spec.name``, or a typed error (never a guess).

    A ``marker`` column (``ca125 extract`` writes one, values in ``ca125``) must name
    ``spec`` on every row; its ``ca125`` column is then the marker's value. A table with
    another marker's value column and not ``spec``'s is refused, naming ``marker=``.
    """
    if "marker" in columns:
        text = _text(_np(columns["marker"]))
        named = {str(v).lower() for v in text if v is not None}
        others = sorted(named - {spec.name})
        if others:
            raise InvalidInputError(
                f"the table's 'marker' column names {others}, not {spec.name!r} ({spec.label}); "
                f"read it as that marker where it applies: marker={others[0]!r} (ca125 kinetics --marker "
                f"{others[0]}), or a model trained for it (ca125 score --model ...); the GCIG rules, the shipped "
                "model and the screen are defined for CA-125 only",
                source=label, column="marker")
        if spec.name not in columns and "ca125" in columns:
            columns = {(spec.name if k == "ca125" else k): v for k, v in columns.items()}
        return columns
    if spec.name not in columns:
        found = [m for m in MARKERS if m in columns]
        if found:
            raise InvalidInputError(
                f"the table has no {spec.name!r} ({spec.label}) column but has {found}: it holds "
                f"another marker. Read as {found[0]!r} where that marker applies: marker={found[0]!r} "
                f"(ca125 kinetics --marker {found[0]}), or a model trained for it (ca125 score "
                "--model ...); the GCIG rules and the shipped model are defined for CA-125 only",
                source=label, column=spec.name)
    return columns



# --------------------------------------------------------------------------- clinical


def _clinical_ids(clinical, date_format: str | None = None) -> list[str]:
    if isinstance(clinical, pd.DataFrame):
        _check_header(clinical.columns, "clinical DataFrame")
        if "patient_id" not in clinical.columns:
            raise InvalidInputError("clinical table has no 'patient_id' column", column="patient_id")
        ids = _Text.of(clinical["patient_id"].array)
        if ids is not None:                  # the distinct identifiers (used as a set)
            return ids.ids()[1].tolist()
        return [p for p in _id_array(_array(clinical["patient_id"])) if p is not None]
    return list(read_clinical(clinical, on_error="flag", require=("patient_id",),
                              date_format=date_format)["patient_id"])


def normalise_stage(value) -> str | None:
    """FIGO stage at diagnosis as ``"I"``..``"IV"`` (substages such as IIIC accepted)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    m = _STAGE_RE.match(str(value))
    return m.group(1).upper() if m else "?"


@dataclass(frozen=True)
class _NumberRule:
    low: float
    high: float
    what: str                           # how to fix a bad value
    integer: bool = False
    choices: tuple | None = None        # allowed values (instead of the range)


@dataclass(frozen=True)
class _CategoryRule:
    label: str
    normalise: Any                      # str -> str, applied after stripping
    allowed: tuple
    fix: str


def _snake(value: str) -> str:
    """``"High grade serous"`` -> ``"high_grade_serous"``: codes are lower case with underscores."""
    return re.sub(r"[\s\-]+", "_", value.strip().lower())


def _tnm_rule(label: str, prefix: str, allowed: tuple) -> _CategoryRule:
    """A TNM stage column: ``"T3"``, ``"t3"`` or with the column's own prefix (``"cT3"``,
    ``"ycT3"``, ``"ypT3"``). Another prefix is an error: clinical and pathological staging
    are different columns."""
    letter = allowed[0][0]
    pattern = re.compile(rf"^(?:{prefix})?({letter})(is|[0-4])([a-c]?)$", re.IGNORECASE)
    others = ", ".join(f"{p}{letter}" for p in ("c", "yc", "yp") if p != prefix)

    def normalise(value: str) -> str:
        m = pattern.match(value.replace(" ", ""))
        if not m:
            return value
        number = m.group(2).lower()
        return f"{letter}{number}{m.group(3).lower()}"

    return _CategoryRule(label, normalise, allowed,
                         f"use one of {list(allowed)} (a '{prefix}' prefix is accepted), or leave empty "
                         f"if not assessed; {others} stages belong in their own columns")


#: Numeric clinical columns and their validation (read_clinical, patient_record).
CLINICAL_NUMBERS = {
    "age": _NumberRule(0, 120, "give age in years"),
    "ecog": _NumberRule(0, 4, "ECOG performance status is 0-4", integer=True),
    "ascites_ml": _NumberRule(0, 50_000, "give the estimated ascites volume in mL (0 if none)"),
    "primary_residual_disease": _NumberRule(
        0, 1, "use 0 (complete resection at primary surgery), 1 (any residual) or leave empty if unknown",
        integer=True, choices=(0, 1)),
    "pfi_months": _NumberRule(0, 600, "give the platinum-free interval in months"),
    "complete_resection": _NumberRule(0, 1, "use 1 (no macroscopic residual at secondary cytoreduction) or 0",
                                      integer=True, choices=(0, 1)),
    "pfs_months": _NumberRule(0, 600, "give progression-free survival in months"),
    "pfs_event": _NumberRule(0, 1, "use 1 (progression or death) or 0 (censored)", integer=True, choices=(0, 1)),
    # screening columns (optional)
    "recurrence_number": _NumberRule(0, 50, "give the number of the recurrence being treated "
                                     "(1 = first recurrence, 0 = no recurrence)", integer=True),
    "asa": _NumberRule(1, 6, "ASA physical status is 1-6 (I-VI as a number)", integer=True),
    "mmr_proteins_lost": _NumberRule(0, 4, "give how many of the four MMR proteins (MLH1, MSH2, MSH6, "
                                     "PMS2) are lost on immunohistochemistry, 0-4", integer=True),
    **{name: _NumberRule(0, 1, f"use {meaning}, 0 if not, or leave empty if unknown",
                         integer=True, choices=(0, 1))
       for name, meaning in SCREENING_FLAGS.items()},
}

#: Text clinical columns with a closed set of values (read_clinical, patient_record).
CLINICAL_CATEGORIES = {
    "recurrence_pattern": _CategoryRule("recurrence pattern", str.lower, RECURRENCE_PATTERNS,
                                        f"use one of {list(RECURRENCE_PATTERNS)}"),
    "recist": _CategoryRule("RECIST category", str.upper, RECIST_CATEGORIES,
                            f"use one of {list(RECIST_CATEGORIES)} or leave empty"),
    "arm": _CategoryRule("arm", lambda v: v.lower().replace(" ", "_").replace("-", "_"), ARMS,
                         "use 'surgery' or 'no_surgery' (cytoreduction trials), 'reduced' or "
                         "'conventional' (margin trials)"),
    # screening columns (optional)
    "histology": _CategoryRule("histology", _snake, HISTOLOGY_CODES,
                               f"use one of {list(HISTOLOGY_CODES)} or leave empty"),
    "tumour_site": _CategoryRule("tumour site", _snake, TUMOUR_SITES,
                                 f"use one of {list(TUMOUR_SITES)} or leave empty"),
    "ct_stage": _tnm_rule("clinical T stage at baseline", "c", T_STAGES),
    "cn_stage": _tnm_rule("clinical N stage at baseline", "c", N_STAGES),
    "cm_stage": _tnm_rule("clinical M stage at baseline", "c", M_STAGES),
    "yct_stage": _tnm_rule("clinical T stage at restaging", "yc", T_STAGES),
    "ycn_stage": _tnm_rule("clinical N stage at restaging", "yc", N_STAGES),
    "ycm_stage": _tnm_rule("clinical M stage at restaging", "yc", M_STAGES),
    "ypt_stage": _tnm_rule("pathological T stage after neoadjuvant therapy", "yp", T_STAGES),
    "ypn_stage": _tnm_rule("pathological N stage after neoadjuvant therapy", "yp", N_STAGES),
    "mmr_status": _CategoryRule("MMR status", lambda v: {"pmmr": "pMMR", "dmmr": "dMMR"}.get(v.lower(), v),
                                MMR_STATUSES, "use 'pMMR' (all four MMR proteins expressed), 'dMMR' "
                                "(loss of one or more) or leave empty"),
    "msi_status": _CategoryRule("MSI status", lambda v: v.upper().replace("_", "-").replace(" ", "-"),
                                MSI_STATUSES, f"use one of {list(MSI_STATUSES)} or leave empty"),
    "neoadjuvant_regimen": _CategoryRule("neoadjuvant regimen", _snake, NEOADJUVANT_REGIMENS,
                                         f"use one of {list(NEOADJUVANT_REGIMENS)} or leave empty"),
    "bowel_obstruction": _CategoryRule("bowel obstruction", _snake, BOWEL_OBSTRUCTION,
                                       f"use one of {list(BOWEL_OBSTRUCTION)} or leave empty"),
}


#: Column names with a meaning in a clinical table (data contract, and what read_clinical
#: writes); a near miss of one of these is refused (:func:`_resolve_columns`).
CLINICAL_KNOWN = tuple(dict.fromkeys(CLINICAL_COLUMNS + tuple(CLINICAL_NUMBERS) + tuple(CLINICAL_CATEGORIES)))
#: The same for a markers table, which may repeat the clinical columns on every row (the
#: pyfunc input form of ``predict``).
MARKERS_KNOWN = (tuple(c for c in MARKER_COLUMNS if c != "problem") + ("date", "unit") + CLINICAL_KNOWN
                 + tuple(m for m in MARKERS if m != "ca125") + ("marker",))


@dataclass
class _ClinicalRows:
    """Validated clinical columns (input order) and the problems found (internal)."""

    patient_id: np.ndarray
    values: dict                 # column -> canonical array (numbers float, text object)
    duplicated: np.ndarray
    problems: _Collector
    #: text columns of ``values`` read from an Arrow column, by the codes they were made of:
    #: column -> ``(index, labels)`` with ``values[column] == labels + [None]`` taken at
    #: ``index`` (-1: None); read_clinical builds its column from them without hashing every row
    coded: dict = field(default_factory=dict)


def _among(values: np.ndarray, allowed) -> np.ndarray:
    """Which cells of an object array (text or None) are one of ``allowed``: each distinct
    value looked up once (a registry's column has a few; ``astype(str)`` then ``np.isin``
    made a text copy of every cell and sorted it)."""
    codes, distinct = pd.factorize(values)
    return np.append([v in allowed for v in distinct.tolist()], False).astype(bool)[codes]


def _validate_clinical(columns: dict, rows: np.ndarray, label: str, require, *, date_format: str | None = None,
                       decimal: str = ".", thousands: str | None = None, read_before: bool = False) -> _ClinicalRows:
    """Every clinical rule of the data contract, on the columns of any input form.

    ``read_before``: the columns are those of a frame :func:`read_clinical` returned (its
    mark), whose ``figo_stage_raw`` holds the stage as first written.

    ``date_format``, ``decimal`` and ``thousands`` say how dates and numbers are written
    (:func:`_parse_dates`, :func:`_parse_numbers`).
    """
    _require(columns, require, label, "clinical")
    fast = ("patient_id", "figo_stage", "treatment_start", *CLINICAL_NUMBERS, *CLINICAL_CATEGORIES)  # column-wise
    columns = {k: (v if k in fast else _np(v)) for k, v in columns.items()}
    pid, codes, uniques = _patient_ids(columns["patient_id"])
    _require_ids(pid, rows, label, "every clinical row needs the patient's identifier", codes, uniques)
    col = _Collector(label, rows, pid, "clinical")
    n = len(pid)
    dup = np.zeros(n, dtype=bool)
    if n > 1:
        codes, _ = _factorised(pid, codes, uniques)
        dup = np.bincount(codes, minlength=1)[codes] > 1
        col.add(dup, "patient_id",
                lambda i: f"patient {pid[i]!r} has more than one clinical row; keep one row per patient")
    out: dict[str, np.ndarray] = {}
    coded: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    for name, rule in CLINICAL_NUMBERS.items():
        if name not in columns:
            continue
        raw = columns[name]
        v = _parse_numbers(raw, decimal, thousands, booleans=rule.choices == (0, 1))
        if isinstance(raw, _Text):
            present = raw.stripped().is_valid().to_numpy(zero_copy_only=False)
        else:
            present = ~_missing(_text(raw)) if _is_text(raw) else ~_missing(raw)
        col.add(present & np.isnan(v), name, lambda i, name=name, raw=raw, rule=rule:
                f"{name} {_shown(raw[i])!r} is not a number; {rule.what}"
                + _number_hint(raw[i], decimal, thousands))
        ok = ~np.isnan(v)
        if rule.integer:
            col.add(ok & (np.floor(v) != v), name, lambda i, name=name, raw=raw, rule=rule:
                    f"{name} {_shown(raw[i])!r} must be a whole number; {rule.what}")
        if rule.choices is not None:
            col.add(ok & ~np.logical_or.reduce([v == c for c in rule.choices]), name, lambda i, name=name, raw=raw, rule=rule:
                    f"{name} {_shown(raw[i])!r} is not allowed; {rule.what}")
        else:
            col.add(ok & ((v < rule.low) | (v > rule.high)), name, lambda i, name=name, v=v, rule=rule:
                    f"{name} {v[i]:g} is outside {rule.low}..{rule.high}; {rule.what}")
        # an integer column holds whole numbers; a value outside its range (already reported,
        # e.g. 1e308, which no integer holds) or not whole (reported: 0.5 is no 0 or 1) is unknown
        out[name] = (np.where((v >= rule.low) & (v <= rule.high) & (np.floor(v) == v), v, np.nan) if rule.integer
                     else v)

    if "figo_stage" in columns:
        raw = _text(columns["figo_stage"])
        # a frame this reader returned, read again, keeps the stage as first written (its
        # figo_stage is the normalised one): the same table reads the same
        kept = read_before and "figo_stage_raw" in columns
        if isinstance(columns["figo_stage"], _Text):
            index, texts = columns["figo_stage"].codes()
            labels = columns["figo_stage"].labels(normalise_stage)
            stage = np.append(labels, normalise_stage(None))[index]
            coded["figo_stage"] = (index, np.where(labels == "?", None, labels))
            if not kept:
                coded["figo_stage_raw"] = (index, texts)
        else:
            stage = np.empty(n, dtype=object)
            stage[:] = [normalise_stage(v) for v in raw]
        unknown = stage == "?"
        col.add(unknown, "figo_stage",
                lambda i: f"unknown FIGO stage {_shown(raw[i])!r}; use I, II, III or IV (substages such as IIIC accepted)")
        stage[unknown] = None
        out["figo_stage"] = stage
        out["figo_stage_raw"] = _text(columns["figo_stage_raw"]) if kept else raw

    for name, rule in CLINICAL_CATEGORIES.items():
        if name not in columns:
            continue
        if isinstance(columns[name], _Text):
            index, texts = columns[name].codes()
            labels = columns[name].labels(rule.normalise)
            known = np.fromiter((label in rule.allowed for label in labels), dtype=bool, count=len(labels))
            value, allowed = np.append(labels, None)[index], np.append(known, True)[index]
            coded[name] = (index, np.where(known, labels, None))
            cell = (lambda i, index=index, texts=texts: texts[index[i]])    # a refused cell holds text
        else:
            raw = _text(columns[name])
            value = np.empty(n, dtype=object)
            value[:] = [rule.normalise(v) if type(v) is str else v for v in raw]
            allowed = np.fromiter((v is None or v in rule.allowed for v in value), dtype=bool, count=n)
            cell = raw.__getitem__
        col.add(~allowed, name, lambda i, cell=cell, rule=rule: f"unknown {rule.label} {_shown(cell(i))!r}; {rule.fix}")
        value[~allowed] = None
        out[name] = value

    if "histology" in out and "tumour_site" in out:
        # an ovarian/tubal/peritoneal histology code at a rectal or colonic site contradicts the
        # site: a rectal mucinous adenocarcinoma is coded 'adenocarcinoma', and read as
        # 'mucinous' the RESET screen found it 'not adenocarcinoma', silently
        histology, site = out["histology"], out["tumour_site"]
        col.add(_among(histology, _OVARIAN_HISTOLOGY) & _among(site, _BOWEL_SITES),
                "histology",
                lambda i: f"histology {histology[i]!r} is an ovarian/tubal/peritoneal code but tumour_site is "
                          f"{site[i]!r}; a rectal or colonic adenocarcinoma (mucinous and signet-ring included) is "
                          "coded 'adenocarcinoma': correct the one in error")

    if "mmr_status" in out and "mmr_proteins_lost" in out:
        # pMMR = all four proteins expressed, dMMR = one or more lost: a count that says
        # otherwise contradicts the status, and neither can be trusted over the other
        status, lost = out["mmr_status"], out["mmr_proteins_lost"]
        col.add(((status == "pMMR") & (lost >= 1)) | ((status == "dMMR") & (lost == 0)), "mmr_status",
                lambda i: f"mmr_status {status[i]!r} contradicts mmr_proteins_lost {lost[i]:g} (pMMR means "
                          "all four MMR proteins expressed, dMMR the loss of one or more); correct one of "
                          "them, or leave the one in doubt empty")

    if "treatment_start" in columns:
        raw = columns["treatment_start"]
        ts, bad, message = _parse_dates(raw, date_format, "treatment_start")
        col.add(bad, "treatment_start", lambda i: message(_shown(raw[i])))
        out["treatment_start"] = ts
    return _ClinicalRows(pid, out, dup, col, coded)


def read_clinical(source, *, on_error: str = "raise", require: tuple[str, ...] = CLINICAL_REQUIRED,
                  date_format: str | None = None, sep: str | None = None, decimal: str = ".",
                  thousands: str | None = None, columns: dict[str, str] | None = None) -> pd.DataFrame:
    """Read and validate the clinical table (one row per patient).

    Parameters
    ----------
    source : str, Path or DataFrame
        CSV/Parquet file or DataFrame with the data-contract columns.
    on_error : {"raise", "flag"}
        ``"raise"`` raises one :class:`InvalidInputError` listing the problems; ``"flag"``
        keeps every patient and writes the reasons in a ``problem`` column.
    require : tuple of str
        Columns that must be present (values may be empty = unknown). Defaults to the
        contract's predictor columns.
    date_format, sep, decimal, thousands, columns
        How the table is written, as in :func:`read_markers`: ``treatment_start`` is ISO
        ``YYYY-MM-DD`` unless ``date_format`` says otherwise (never guessed; a time of day is
        dropped); numbers use ``decimal``/``thousands``; ``columns`` renames columns to
        data-contract names (``{"ECOG": "ecog"}``), and a near miss of a contract column is
        refused otherwise.

    Returns
    -------
    pandas.DataFrame
        One row per patient: ``patient_id`` (str), ``age``, ``ascites_ml``, ``pfi_months``,
        ``pfs_months`` (float), ``ecog``, ``primary_residual_disease``,
        ``complete_resection``, ``pfs_event`` (Int64, NA = unknown), ``figo_stage``
        (``"I"``..``"IV"``; the original in ``figo_stage_raw``), ``recurrence_pattern``
        (lower case), ``recist`` (upper case), ``arm``, ``treatment_start`` (datetime64),
        ``problem`` (None or reasons), then any extra columns. The optional screening
        columns of ``docs/data-contract.md`` (flags, ``recurrence_number``, ``asa``,
        ``histology``, TNM stages, MMR/MSI status, ...) are validated by the same rule tables
        (:data:`CLINICAL_NUMBERS`, :data:`CLINICAL_CATEGORIES`) when present.
    """
    _check_arguments(on_error)
    _check_number_format(decimal, thousands)
    if isinstance(source, pd.DataFrame):
        _refuse_id_in_index(source, columns, "clinical")
    frame, label, rows = _load(source, "clinical", sep)
    thousands = _table_number_format(frame, decimal, thousands)
    cols = _resolve_columns(_frame_columns(frame, arrow=True), CLINICAL_KNOWN, columns, label)
    flagged = bool(frame.attrs.get(_CLINICAL_READ_ATTR))   # a frame this reader returned and flagged
    del frame
    c = _validate_clinical(cols, _row_labels(rows), label, require, date_format=date_format, read_before=flagged,
                           decimal=decimal, thousands=thousands)
    if c.problems.problems and on_error == "raise":
        raise c.problems.error()
    # the reasons of a frame this reader flagged (never a "problem" column of the user's own)
    given = _given_reasons(cols.get("problem"), c.patient_id) if flagged else {}
    if given and on_error == "raise":
        pid, reason = next(iter(given.items()))
        raise InvalidInputError(f"patient {pid!r} was flagged by an earlier reading: {reason}", source=label,
                                patient_id=pid, column="problem")
    # the columns outside the contract are kept as read; the others are read from c from here
    # on, so the arrays of the read table can be freed before the frame is built
    extra = {name: values for name, values in cols.items()
             if name not in c.values and name not in ("patient_id", "problem")}
    del cols
    out = pd.DataFrame({"patient_id": c.patient_id})
    for name, values in c.values.items():
        rule = CLINICAL_NUMBERS.get(name)
        if rule is not None and rule.integer:
            out[name] = pd.array(values, dtype="Float64").astype("Int64")
        else:
            out[name] = _inferred(values) if name not in c.coded else _inferred_coded(*c.coded[name], values)
    for name, values in extra.items():
        out[name] = _np(values)
    reasons = c.problems.reasons_by_patient() if c.problems.problems else {}
    reasons = {**reasons, **given}     # a reason an earlier reading wrote comes first, as it did there
    out["problem"] = [reasons.get(str(p)) for p in c.patient_id] if reasons else np.full(len(out), None, dtype=object)
    if on_error == "flag" and c.duplicated.any():
        out = out[~out["patient_id"].duplicated(keep="first")]
    out = out.reset_index(drop=True)
    out.attrs[_CLINICAL_READ_ATTR] = True
    return out


#: How the tables are written, as every reader takes it: the ``read_options`` of the functions
#: that read tables on the caller's behalf (``train``, ``eligibility.screen``).
READ_OPTIONS = ("sep", "decimal", "thousands", "date_format", "columns")
#: The readers' default of the :data:`READ_OPTIONS` that have one other than None: the data
#: contract's way of writing a table.
READ_DEFAULTS = {"decimal": "."}


def checked_read_options(read_options, extra: tuple[str, ...] = ()) -> dict:
    """``read_options`` as reader keyword arguments: a dict of :data:`READ_OPTIONS` (and
    ``extra``, e.g. ``drug_codes`` and ``event_codes`` where markers may be a FHIR bundle),
    with only what changes the reading from the data contract's: values that read as the
    default (None, :data:`READ_DEFAULTS`, an empty mapping) left out, so that one reading
    is recorded one way (``ca125 train`` gives ``decimal="."``, ``train()`` nothing); anything
    else is refused."""
    allowed = (*READ_OPTIONS, *extra)
    if read_options is None:
        return {}
    if not isinstance(read_options, dict):
        raise InvalidInputError(f"read_options must be a dict of the readers' options {list(allowed)}, got "
                                f"{type(read_options).__name__}")
    unknown = sorted(set(read_options) - set(allowed))
    if unknown:
        raise InvalidInputError(f"read_options: unknown key(s) {unknown}; valid: {list(allowed)}")
    return {k: v for k, v in read_options.items() if not _reads_as_default(k, v)}


def _reads_as_default(option: str, value) -> bool:
    """True when ``value`` of a read option reads a table as the option left out does."""
    if value is None or (isinstance(value, dict) and not value):
        return True
    return option in READ_DEFAULTS and value == READ_DEFAULTS[option]


#: The ``attrs`` key of a frame :func:`read_clinical` returned: read again, its ``problem``
#: column holds that reader's reasons (a table's own ``problem`` column is not read).
_CLINICAL_READ_ATTR = "ca125_clinical_read"
#: The same mark on a frame :func:`read_markers` returned.
_MARKERS_READ_ATTR = "ca125_markers_read"


# --------------------------------------------------------------------------- one patient


@dataclass(frozen=True)
class PatientRecord:
    """One patient's validated input: what GCIG rules, kinetics and scoring consume.

    Built by :func:`patient_record` (one patient in any input form) or
    :func:`records_from_frames` (the canonical frames of :func:`read_markers` and
    :func:`read_clinical`); the rules are those of the readers, so every form gives the same
    record.

    Attributes
    ----------
    patient_id : str
    day, ca125, censored, uln, assay, event : tuple
        One item per row of the canonical markers frame, sorted by day: whole days from the
        first dose; CA-125 in U/mL (the limit for a censored ``"<x"`` value; NaN on an
        event-only row); censored flags; the assay's ULN; assay name or None; exclusion
        event (:data:`EVENT_KINDS`) or None. A patient whose markers break the contract has
        one placeholder row (day 0, CA-125 NaN) and ``problem`` says why.
    problem : str or None
        Why the patient's markers are invalid (every reason found), or None.
    clinical : dict or None
        Canonical clinical values (:data:`CLINICAL_PREDICTORS`; None when unknown), or None
        when the patient has no clinical row.
    clinical_problem : str or None
        Why the patient's clinical row is invalid, or None.
    notes : tuple of str
        What the reader noticed about the patient's data without refusing it (samples without
        a ULN beside samples with one, read with the default); the scored result's warnings
        say it.
    """

    patient_id: str
    day: tuple = ()
    ca125: tuple = ()
    censored: tuple = ()
    uln: tuple = ()
    assay: tuple = ()
    event: tuple = ()
    problem: str | None = None
    clinical: dict | None = field(default=None, compare=True)
    clinical_problem: str | None = None
    notes: tuple = ()

    @property
    def reason(self) -> str | None:
        """Why the patient is invalid (the clinical row's problems first), or None."""
        return self.clinical_problem or self.problem

    def samples(self) -> tuple:
        """``(day, ca125, censored, event)`` of every row (empty when the markers are invalid);
        ``ca125`` is None on an event-only row."""
        if self.problem is not None:
            return ()
        return tuple((d, None if v != v else v, c, e)
                     for d, v, c, e in zip(self.day, self.ca125, self.censored, self.event))




def _plain(v):
    """A cell as a plain Python value (None for any missing value)."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, (float, np.floating)):
        return None if v != v else float(v)
    if isinstance(v, np.generic):
        return v.item()
    return v


def _clinical_values(c: _ClinicalRows, j: int) -> dict:
    out = {}
    for name in CLINICAL_PREDICTORS:
        values = c.values.get(name)
        out[name] = _canonical(name, None if values is None else values[j])
    return out


def _canonical(name: str, v):
    """A clinical cell as a plain value: whole numbers of integer columns as int."""
    v = _plain(v)
    rule = CLINICAL_NUMBERS.get(name)
    if rule is not None and rule.integer and isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def _placeholder(pid: str, uln: float, problem: str) -> PatientRecord:
    return PatientRecord(pid, (0,), (math.nan,), (False,), (uln,), (None,), (None,), problem)


def _record_markers(m: _MarkerRows, j: np.ndarray, pid: str, uln: float, problem: str | None):
    if problem is not None:
        return _placeholder(pid, uln, problem)
    j = j[np.argsort(m.day[j], kind="stable")]
    return PatientRecord(
        pid, tuple(int(d) for d in m.day[j]), tuple(float(v) for v in m.ca125[j]),
        tuple(bool(c) for c in m.censored[j]), tuple(float(u) for u in m.uln[j]),
        tuple(m.assay[j].tolist()), tuple(m.event[j].tolist()),
        notes=(m.notes[pid],) if pid in m.notes else ())


_MARKER_FORMS = ("markers must be a DataFrame, a file path, a mapping of columns ({'day': [...], "
                 "'ca125': [...]}), a sequence of records (mappings) or a sequence of (day, ca125) pairs")


#: Columns of a markers mapping that hold one value per sample: a single value is not
#: copied to every sample (a patient's per-patient columns, ``patient_id``, ``uln``, ``assay``,
#: ``unit`` or a clinical factor, are; a missing value, None, gives nothing to copy).
_PER_SAMPLE = ("day", "date", "censored", "event") + tuple(MARKERS)


def _marker_columns(markers, mapping=None, notes: dict | None = None) -> tuple[dict, np.ndarray, str]:
    """(columns, row labels, source label) of one patient's markers in any accepted form;
    ``notes``, when given, receives the notes a table or bundle carries (:data:`NOTES_ATTR`).

    A name given twice (after stripping spaces) is refused, as in a table's header. In a
    mapping, a single value beside columns of samples applies to every sample, except in a
    column of :data:`_PER_SAMPLE` (named so, or by ``mapping``, the ``columns=`` renaming),
    where it would make up samples: refused unless there is exactly one sample.
    """
    if isinstance(markers, (pd.DataFrame, str, Path)):
        frame, label, rows = _load(markers, "markers")
        rows = rows.to_numpy(dtype=object)
        if notes is not None:
            notes.update(frame.attrs.get(NOTES_ATTR) or {})
        return _one_value_per_cell(_frame_columns(frame), label, rows), rows, label
    if isinstance(markers, os.PathLike):
        return _marker_columns(Path(markers), notes=notes)
    if isinstance(markers, Mapping):
        columns: dict[str, np.ndarray] = {}
        markers = {key: _mapping_column(key, values) for key, values in markers.items()}
        _same_index(markers)
        _refuse_id_in_series_index(markers, mapping)
        lengths = {len(v) for v in markers.values() if isinstance(v, _COLUMN_FORMS)}
        if len(lengths) > 1:
            raise InvalidInputError(f"the markers columns have different lengths {sorted(lengths)}; give "
                                    "one value per sample in every column", source="markers mapping")
        n = lengths.pop() if lengths else 1
        _check_header(markers.keys(), "markers mapping")
        renamed = mapping if isinstance(mapping, dict) else {}
        for key, values in markers.items():
            name = str(key).strip()
            if (n != 1 and not isinstance(values, _COLUMN_FORMS) and renamed.get(name, name) in _PER_SAMPLE
                    and not _missing(np.array([values, None], dtype=object)[:1])[0]):   # None: nothing given
                raise InvalidInputError(
                    f"the column gives one value ({_shown(values)!r}) beside columns of {n} samples; "
                    "give one value per sample (a list as long as the other columns): a single value is "
                    "copied to every sample only in a per-patient column (patient_id, uln, assay, unit, a "
                    "clinical factor)", source="markers mapping", column=name)
            if isinstance(values, _COLUMN_FORMS):
                columns[str(key).strip()] = _array(values)
            else:                               # a scalar (e.g. the patient_id) applies to every row
                columns[str(key).strip()] = np.empty(n, dtype=object)
                columns[str(key).strip()][:] = [values] * n
        return _one_value_per_cell(columns, "markers mapping"), np.arange(n, dtype=object), "markers mapping"
    if isinstance(markers, Sequence) and not isinstance(markers, (str, bytes)) and not markers:
        # no sample: the same as a mapping of empty columns (records or pairs alike)
        return {"day": _array([]), "ca125": _array([])}, np.zeros(0, dtype=object), "markers records"
    if isinstance(markers, Sequence) and not isinstance(markers, (str, bytes)):
        if all(isinstance(r, Mapping) for r in markers):
            keys = list(dict.fromkeys(k for r in markers for k in r))
            _check_header(keys, "markers records")
            columns = {str(k).strip(): _array([r.get(k) for r in markers]) for k in keys}
            return _one_value_per_cell(columns, "markers records"), np.arange(len(markers), dtype=object), \
                "markers records"
        if all(isinstance(r, (tuple, list)) and len(r) == 2 for r in markers):
            return (_one_value_per_cell({"day": _array([r[0] for r in markers]), "ca125": _array([r[1] for r in markers])},
                                        "markers pairs"), np.arange(len(markers), dtype=object), "markers pairs")
    raise InvalidInputError(f"{_MARKER_FORMS}; got {type(markers).__name__}")


_CONTAINERS = (list, tuple, dict, set, frozenset, np.ndarray, pd.Series, pd.DataFrame)

#: What a mapping of columns may give as one column (one value per sample, in order).
_COLUMN_FORMS = (list, tuple, range, np.ndarray, pd.Series, pd.Index, pd.api.extensions.ExtensionArray)


def _same_index(columns: Mapping) -> None:
    """Refuse Series columns of a mapping whose indexes differ: the columns are read by
    position, as a list is, while pandas pairs Series by label; which value goes with which day
    would be a guess (a Series sorted on its own gave another patient's curve)."""
    series = [(key, v) for key, v in columns.items() if isinstance(v, pd.Series)]
    for key, v in series[1:]:
        if not v.index.equals(series[0][1].index):
            raise InvalidInputError(
                f"the Series of columns {str(series[0][0])!r} and {str(key)!r} have different indexes, so "
                "which value goes with which sample is not known (a list or array pairs by position, "
                "pandas by index label); give the columns as one DataFrame, or as arrays in the samples' "
                "order (series.to_numpy())", source="markers mapping", column=str(key))


def _refuse_id_in_series_index(columns: Mapping, mapping) -> None:
    """Refuse a markers mapping without a ``patient_id`` key whose Series hold the identifier in
    their index (``m = markers.set_index('patient_id').loc['A']; {'day': m['day'], ...}``), as a
    DataFrame so indexed is refused (:func:`_refuse_id_in_index`): read without it, the samples
    would be given to whichever patient the clinical row names."""
    for key, v in columns.items():
        if isinstance(v, pd.Series) and _id_only_in_index(columns, v.index, mapping):
            raise InvalidInputError(
                "the Series of the markers mapping hold patient_id in their index, not in a key: give the "
                "patient's identifier as a 'patient_id' key, or pass the markers as a DataFrame with it as a "
                "column (markers.reset_index()), so that the samples are known to be that patient's",
                source="markers mapping", column=str(key))


def _mapping_column(key, values):
    """One value of a markers mapping: a column (:data:`_COLUMN_FORMS`, 1-D), or one value
    (a 0-d numpy array is one); any other collection is refused, never read as one cell's text
    nor flattened: a 2-D array, a set (no order), a generator or a dict view."""
    if isinstance(values, np.ndarray) and values.ndim != 1:
        if values.ndim == 0:
            return values[()]
        raise InvalidInputError(
            f"the column is a {values.ndim}-D array of shape {values.shape}; give one value per sample in a "
            "1-D list or array (e.g. array.ravel() if that is the samples' order)", source="markers mapping",
            column=str(key))
    if isinstance(values, _COLUMN_FORMS) or isinstance(values, (str, bytes, Mapping)):
        return values
    if isinstance(values, (set, frozenset)) or (
            isinstance(values, Iterable) and not isinstance(values, (pd.DataFrame, _dt.date))):
        raise InvalidInputError(
            f"the column is a {type(values).__name__}, not a list: give the samples' values as a list, tuple, "
            "numpy array or Series, in the order of the other columns" + (
                " (a set has no order)" if isinstance(values, (set, frozenset)) else ""),
            source="markers mapping", column=str(key))
    return values


def _one_value_per_cell(columns: dict, label: str, rows=None) -> dict:
    """``columns`` (of a mapping or records) when every cell holds one value; else a typed error.

    A list, set, dict or array in a cell is neither a value nor text: the validators would read
    it as text (a list as an assay name, a dict as a patient identifier) or fail on it.
    ``rows`` are the row labels of the messages (default: positions).
    """
    for name, values in columns.items():
        if values.dtype != object:
            continue
        for i, v in enumerate(values.tolist()):
            if isinstance(v, _CONTAINERS):
                raise InvalidInputError(
                    f"the cell holds a {type(v).__name__} ({str(v)[:40]}), not one value: a list, set, dict or "
                    "array is never read as a number or text; give one number, text or date per cell",
                    source=label, row=i if rows is None else rows[i], column=str(name))
    return columns


def _row_name(label):
    """The label of a clinical row without a ``patient_id`` entry when it may be the patient's
    identifier: text (``clinical.loc['B']`` of a table indexed by patient_id), or a tuple holding
    text (a row of a MultiIndex table, ``loc[('B', 'x')]``); None otherwise, since a whole number
    names a position (``iloc``) as often as a patient."""
    if isinstance(label, str):
        return label if _id(label) else None
    if isinstance(label, tuple) and any(isinstance(v, str) for v in label):
        return tuple(v.item() if isinstance(v, np.generic) else v for v in label)
    return None


def _refuse_other_row(name, pid: str | None, what: str, fix: str) -> None:
    """Refuse a clinical row named by another patient's identifier (:func:`_row_name`) beside
    patient ``pid``'s markers: the other patient's factors would score this one. A tuple name
    is the patient's when one of its labels reads as ``pid``."""
    if name is None or pid is None:
        return
    labels = {_id(v) for v in name} if isinstance(name, tuple) else {_id(name)}
    if pid in labels:
        return
    raise InvalidInputError(
        f"the {what} {name!r} (the row label of patient {name!r}?), but the markers are patient {pid!r}'s: pass "
        f"patient {pid!r}'s row (clinical.loc[{pid!r}]), or {fix}")


def _clinical_columns(clinical, pid: str | None, mapping=None, *, markers_named: bool = True
                      ) -> tuple[dict, np.ndarray, str]:
    """(columns, row labels, source label) of the clinical row(s) of patient ``pid``.

    A table of many patients is cut to the patient's row(s) before validation; ``mapping``
    (``columns=`` of :func:`patient_record`) may name its identifier column. The names are
    resolved (:func:`_resolve_columns`) here. A row without an identifier labelled by another
    patient's (:func:`_row_name`) is refused when the markers name theirs (``markers_named``).
    """
    if isinstance(clinical, pd.DataFrame):
        _refuse_id_in_index(clinical, mapping, "clinical")
    own = pid if markers_named else None
    named = [(mapping or {}).get(str(c).strip(), str(c).strip()) for c in (*clinical.columns, *clinical.index.names)] \
        if isinstance(clinical, pd.DataFrame) and len(clinical) == 1 else ["patient_id"]
    if not any(n == "patient_id" or "patient_id" in _suggest_columns(n, CLINICAL_KNOWN) for n in named):
        # (an index named like patient_id, 'PatientID', a near miss, holds the row's identifier,
        # perhaps another patient's: the row is then a table, read and refused as such; an index
        # named patient_id itself is refused above)
        _check_header(clinical.columns, "clinical DataFrame")
        _refuse_other_row(_row_name(clinical.index[0]), own, "clinical DataFrame's row is labelled",
                          "give the row a patient_id column")
        clinical = clinical.assign(patient_id=pid)  # the patient's one row without an identifier, as a Series is
    named_row = None      # the text a Series is named by: the row's label in its table
    if isinstance(clinical, pd.Series):
        _check_header(clinical.index, "clinical Series")     # to_dict() would keep one of two 'age'
        named_row = _row_name(clinical.name)
        clinical = clinical.to_dict()
    if isinstance(clinical, Mapping):
        _check_header(clinical.keys(), "clinical mapping")
        # (a single-precision number is refused by the column check, as in a table)
        columns = _one_value_per_cell({str(k).strip(): _array([v]) for k, v in clinical.items()}, "clinical mapping")
        columns = _resolve_columns(columns, CLINICAL_KNOWN, mapping, "clinical mapping")
        # (an empty patient_id entry is refused by the validator, as in a table: the row of a
        # patient whose identifier is missing is no patient's known row)
        unnamed = "patient_id" not in columns
        if unnamed:
            _refuse_other_row(named_row, own, "clinical Series is named", "give the Series a patient_id entry")
            columns["patient_id"] = np.array([pid], dtype=object)
        return columns, np.zeros(1, dtype=object), "clinical mapping"
    if isinstance(clinical, (pd.DataFrame, str, os.PathLike)):
        frame, label, rows = _load(Path(clinical) if isinstance(clinical, os.PathLike) else clinical, "clinical")
        renamed = [(mapping or {}).get(str(c).strip(), str(c).strip()) for c in frame.columns]
        ids = [j for j, c in enumerate(renamed) if c == "patient_id"]
        if len(ids) == 1 and len(frame) > 1:      # cut first: converting every column costs
            hit = _rows_of(_array(frame.iloc[:, ids[0]]), pid)
            rows = rows.to_numpy(dtype=object)[hit]
            return (_resolve_columns(_one_value_per_cell(_frame_columns(frame, hit), label, rows), CLINICAL_KNOWN,
                                     mapping, label), rows, label)
        rows = rows.to_numpy(dtype=object)
        return (_resolve_columns(_one_value_per_cell(_frame_columns(frame), label, rows), CLINICAL_KNOWN, mapping,
                                 label), rows, label)
    raise InvalidInputError(
        f"clinical must be a mapping, a Series, a DataFrame or a file path, got {type(clinical).__name__}")


def _rows_of(ids: np.ndarray, pid: str) -> np.ndarray:
    """Positions of patient ``pid`` in an identifier column: every row whose identifier reads
    as ``pid`` (``" p "``, ``7`` and ``7.0`` are ``"p"`` and ``"7"``, as :func:`read_clinical`
    reads them), so that a second row written otherwise is seen as a second row, never left out."""
    if ids.dtype.kind in "iuf":
        try:
            hit = np.flatnonzero(ids == float(pid))
        except ValueError:
            return np.zeros(0, dtype=np.int64)
        return hit[_id_array(ids[hit]) == pid] if len(hit) else hit
    return np.flatnonzero(_id_array(ids) == pid)


def _given_reasons(problem, patient_id: np.ndarray) -> dict[str, str]:
    """Patient -> the reason a previous reader wrote in the ``problem`` column of a frame it
    returned (``on_error="flag"``), the first per patient. Read again, such a frame keeps its
    reasons: its refused cells are empty there, and would pass for unknown values."""
    if problem is None:
        return {}
    text = _text(problem)
    at = np.flatnonzero(~_missing(text))
    out: dict[str, str] = {}
    for i in at.tolist():
        out.setdefault(str(patient_id[i]), str(text[i]))
    return out


def _flagged(columns: dict) -> str | None:
    """The reason a previous reader wrote in a ``problem`` column (validated frames)."""
    problem = columns.get("problem")
    if problem is None:
        return None
    text = _text(problem)
    found = text[~_missing(text)]
    return str(found[0]) if len(found) else None


def _one_patient_id(columns: dict, rows: np.ndarray, label: str, clinical) -> str:
    """The patient of one patient's markers: its ``patient_id``, else the clinical row's (a
    Series without one: the text it is named by, its label in a table indexed by patient). No
    sample at all is refused without a clinical row (there is no patient to score); with one,
    the patient is the clinical row's (scored as a patient with only a clinical row is)."""
    if not len(rows) and clinical is None:
        raise InvalidInputError("the markers hold no sample: give the patient's samples (a day and a value "
                                "each)", source=label)
    if "patient_id" in columns and len(rows):
        pid = _id_array(columns["patient_id"])
        _require_ids(pid, rows, label, _NO_SAMPLE_ID)
        ids = sorted(set(pid))
        if len(ids) != 1:
            raise InvalidInputError(
                f"predict scores one patient, but the input holds {len(ids)} ({', '.join(ids[:5])}); "
                "use predict_cohort for several patients", source=label, column="patient_id")
        return ids[0]
    if isinstance(clinical, (Mapping, pd.Series)) and not _missing(_array([clinical.get("patient_id")]))[0]:
        return _id(clinical.get("patient_id"))
    if isinstance(clinical, pd.Series) and isinstance(_row_name(clinical.name), str):
        return _id(clinical.name)       # clinical.loc['B'] of a table indexed by patient_id: patient B
    if isinstance(clinical, pd.DataFrame) and "patient_id" in clinical.columns and len(clinical) == 1:
        return _id(clinical["patient_id"].iloc[0]) or "patient"
    if isinstance(clinical, pd.DataFrame) and len(clinical) == 1 and isinstance(_row_name(clinical.index[0]), str):
        return _id(clinical.index[0])   # a one-row frame labelled by text, as a Series named so
    return "patient"


def _id_only_in_index(names, index: pd.Index, mapping) -> bool:
    """Whether ``index`` is named ``patient_id`` while none of the column ``names`` (as
    ``mapping``, the ``columns=`` renaming, reads them) is: the rows' identifier is their index."""
    renamed = mapping if isinstance(mapping, dict) else {}
    if any(renamed.get(str(c).strip(), str(c).strip()) == "patient_id" for c in names):
        return False
    return "patient_id" in {str(n).strip() for n in index.names if n is not None}


def _refuse_id_in_index(frame: pd.DataFrame, mapping, what: str) -> None:
    """Refuse a ``frame`` whose identifier is its index (``set_index('patient_id')``) rather
    than a column: a table is refused without the column anyway (this says why and how to
    mend it), and one patient's markers read without it would be given to whichever patient
    the clinical row names."""
    if _id_only_in_index(frame.columns, frame.index, mapping):
        raise InvalidInputError(
            f"the {what} DataFrame holds patient_id in its index, not in a column: give it as a column "
            f"({what}.reset_index()), so that each row is known to be its patient's")


def patient_record(markers, clinical=None, *, uln: float = DEFAULT_ULN, duplicates: str = "error",
                   day_range: tuple[int, int] = DAY_RANGE, on_error: str = "flag", date_format: str | None = None,
                   decimal: str = ".", thousands: str | None = None,
                   columns: dict[str, str] | None = None, source: str | None = None,
                   rows: Sequence | None = None) -> PatientRecord:
    """Validate one patient given in any form and return its :class:`PatientRecord`.

    The rules and messages are those of :func:`read_markers` and :func:`read_clinical`
    (the same validators run), whatever the form.

    Parameters
    ----------
    markers : DataFrame, str, Path, mapping or sequence
        The patient's CA-125 series: a markers table or file (data contract; one patient,
        e.g. a slice of a larger table), a mapping of columns such as ``{"day": [-3, 21,
        42], "ca125": [400, 180, 150]}`` (``patient_id`` may be a scalar; any other contract
        column may be given; extra keys are kept and ignored), a sequence of records
        (``{"day": 0, "ca125": 400}``) or of ``(day, ca125)`` pairs. Values may be Python,
        numpy or pandas scalars. Without ``patient_id``, the clinical row's is used.
    clinical : mapping, Series, DataFrame, str or Path, optional
        The patient's clinical row (a mapping may have extra keys), or a clinical table of
        many patients, from which the patient's row is taken.
    uln, duplicates, day_range, date_format, decimal, thousands, columns
        As in :func:`read_markers` and :func:`read_clinical` (dates never guessed, numbers as
        stated, near misses of contract column names refused unless ``columns`` maps them;
        ``columns`` applies to the markers and the clinical row).
    source, rows : optional
        How messages name the markers and their rows (default: the form, e.g. ``"markers
        mapping"``, and the rows' positions or a table's index); a caller that holds the
        series in other terms names them so, e.g. ``rows=["days[0]/values[0]", ...]``.
    on_error : {"flag", "raise"}
        ``"flag"`` (default): a patient whose values break the contract gets a record whose
        ``problem``/``clinical_problem`` holds every reason. ``"raise"``: raise one
        :class:`InvalidInputError` instead, as the readers do.

    Returns
    -------
    PatientRecord

    Raises
    ------
    InvalidInputError
        Input that cannot be attributed to one patient: not a table, a required column
        missing, an empty identifier, several patients, or a clinical table without the
        patient's row; with ``on_error="raise"`` also any invalid value.
    """
    _check_arguments(on_error, duplicates, uln)
    _check_number_format(decimal, thousands)
    mapping = columns
    named = rows
    if isinstance(markers, pd.DataFrame):
        _refuse_id_in_index(markers, mapping, "markers")
        markers = _without_unstated_uln(markers, uln)
    carried: dict = {}      # the notes of a bundle's reader, or of a frame read before
    columns, rows, label = _marker_columns(markers, mapping, notes=carried)
    label = label if source is None else source
    _check_aggregation(markers, duplicates, label)
    if named is not None:
        if len(named) != len(rows):
            raise InvalidInputError(f"rows names {len(named)} rows but the markers have {len(rows)}")
        rows = np.empty(len(named), dtype=object)
        rows[:] = list(named)
    columns = _value_column(_resolve_columns(columns, MARKERS_KNOWN, mapping, label), get_marker(None), label)
    pid = _one_patient_id(columns, rows, label, clinical)
    markers_named = "patient_id" in columns and len(rows) > 0
    columns.setdefault("patient_id", np.full(len(rows), pid, dtype=object))
    clin = record_clinical = clinical_problem = starts = None
    if clinical is not None:
        c_cols, c_rows, c_label = _clinical_columns(clinical, pid, mapping,
                                                    markers_named=markers_named)
        if not len(c_rows):
            try:        # the table's ids, for the refusal's hint only
                known = [] if isinstance(clinical, (Mapping, pd.Series)) or mapping else _clinical_ids(clinical)
            except InvalidInputError:
                known = []
            raise InvalidInputError(_no_clinical_row(pid, _padded_ids(known)), source=c_label, patient_id=pid,
                                    column="patient_id")
        clin = _validate_clinical(c_cols, c_rows, c_label, ("patient_id",), date_format=date_format,
                                  decimal=decimal, thousands=thousands)
        if on_error == "raise" and clin.problems.problems:
            raise clin.problems.error()
        if "treatment_start" in clin.values:
            starts = {p: t for p, t in zip(clin.patient_id, clin.values["treatment_start"])}
        reasons = clin.problems.reasons_by_patient()
        clinical_problem = _flagged(c_cols) or reasons.get(pid)
        record_clinical = _clinical_values(clin, 0)
    known = None if clin is None else set(clin.patient_id)
    m = _validate_markers(columns, rows, label, uln=float(uln), duplicates=duplicates, day_range=day_range,
                          known_ids=known, starts=starts, clinical_given=clin is not None,
                          date_format=date_format, decimal=decimal, thousands=thousands)
    if on_error == "raise" and m.problems.problems:
        raise m.problems.error()
    problem = _flagged(columns) or m.problems.reasons_by_patient().get(pid)
    record = _record_markers(m, np.arange(len(m.row)), pid, float(uln), problem)
    earlier = tuple(carried.get(pid, ()))
    return replace(record, clinical=record_clinical, clinical_problem=clinical_problem,
                   notes=earlier + tuple(t for t in record.notes if t not in earlier))


def records_from_frames(markers: pd.DataFrame, clinical: pd.DataFrame | None = None) -> list[PatientRecord]:
    """The :class:`PatientRecord` of every patient of canonical frames, sorted by ``patient_id``.

    ``markers`` and ``clinical`` are frames returned by :func:`read_markers` and
    :func:`read_clinical` (``on_error="flag"`` keeps invalid patients, with their reasons).
    A patient of either frame gets a record (a clinical row without markers: no samples).
    The frames become patients in one place, :meth:`PatientBatch.from_frames`; this gives the
    batch's patients back as records.
    """
    batch = PatientBatch.from_frames(markers, clinical)
    return [batch.record(i) for i in range(batch.n)]


# --------------------------------------------------------------------------- patients as columns
#
# Validated patients as columns: what the scoring engine consumes.
#
# :class:`PatientBatch` holds the same information as a list of ``io.PatientRecord`` (one per
# patient, sorted by ``patient_id``) as flat arrays: the markers rows of every patient one after
# the other (``offsets`` delimits them) and one entry per patient for the rest. A cohort read by
# ``io.read_markers``/``io.read_clinical`` becomes a batch without a Python object per patient
# (:meth:`PatientBatch.from_frames`); the records of :func:`~ca125kinetics.predict.predict` and
# ``predict_many`` become one too (:meth:`PatientBatch.from_records`), so every scoring call
# runs the same columnar engine. :meth:`PatientBatch.record` gives a patient's record back
# (the landmark trajectory truncates records).

#: Clinical predictors held as numbers (NaN unknown); the others are text (None unknown).
BATCH_NUMERIC_PREDICTORS = tuple(c for c in CLINICAL_PREDICTORS if c in CLINICAL_NUMBERS)
_BATCH_INTEGER_PREDICTORS = frozenset(c for c in BATCH_NUMERIC_PREDICTORS if CLINICAL_NUMBERS[c].integer)


def _batch_objects(values) -> np.ndarray:
    """A 1-d object array of ``values`` with None for every missing value (None, NaN, NA, NaT)."""
    if isinstance(values, (pd.Series, pd.api.extensions.ExtensionArray)):
        if isinstance(values.dtype, pd.StringDtype):   # text: each distinct text made a Python str once
            codes, uniques = pd.factorize(values)        # a missing cell: code -1, the None appended
            return np.append(np.asarray(uniques, dtype=object), None)[codes]
        return pd.Series(values).to_numpy(dtype=object, na_value=None)
    if isinstance(values, np.ndarray):
        out = values.astype(object)          # a copy
    else:
        out = np.empty(len(values), dtype=object)
        out[:] = list(values)
    missing = pd.isna(out)
    if missing.any():
        out[missing] = None
    return out


def _batch_numbers(values) -> np.ndarray:
    """``values`` as float64, NaN for every missing value."""
    if isinstance(values, (pd.Series, pd.api.extensions.ExtensionArray)):
        return pd.Series(values).to_numpy(dtype=float, na_value=np.nan)
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiub":
        return values.astype(float)
    cells = _batch_objects(values)
    return np.where(pd.isna(cells), np.nan, cells).astype(float)


def _frame_notes(markers: pd.DataFrame, ids: np.ndarray) -> np.ndarray | None:
    """Per patient of ``ids`` the notes :func:`read_markers` kept on the frame
    (:data:`NOTES_ATTR`), as ``PatientBatch.notes``; None when it kept none for them."""
    notes = markers.attrs.get(NOTES_ATTR) or {}
    if not notes:
        return None
    each = [tuple(notes.get(str(pid), ())) for pid in ids.tolist()]
    return _notes_array(each) if any(each) else None


def _notes_array(notes: list) -> np.ndarray:
    """Per patient a tuple of text, as one object array (numpy would read the tuples as rows)."""
    out = np.empty(len(notes), dtype=object)
    for i, each in enumerate(notes):
        out[i] = tuple(each)
    return out


@dataclass(frozen=True, eq=False)
class PatientBatch:
    """Validated patients, sorted by ``patient_id``, as columns.

    Attributes
    ----------
    ids : ndarray of str
        The n patient identifiers, sorted.
    offsets : ndarray of int64
        ``n + 1`` bounds: the markers rows of patient ``i`` are ``offsets[i]:offsets[i+1]``
        (none for a patient with only a clinical row).
    day, ca125, censored, uln, assay, event : ndarray
        One entry per markers row, as in ``io.PatientRecord`` (day int64; CA-125 float, NaN
        on an event-only or placeholder row; ULN float; assay and event object, None empty).
    problem : ndarray of object
        Per patient why the markers are invalid, or None.
    clinical : dict of str to ndarray
        Per clinical predictor (``io.CLINICAL_PREDICTORS``) one value per patient: float64
        (NaN unknown) for the numeric ones (:data:`BATCH_NUMERIC_PREDICTORS`), object (None unknown)
        for the others.
    has_clinical : ndarray of bool
        Whether the patient has a clinical row.
    clinical_problem : ndarray of object
        Per patient why the clinical row is invalid, or None.
    notes : ndarray of object, optional
        Per patient the reader's notes (``io.PatientRecord.notes``, a tuple of text), or None
        when no patient has one (a batch of frames: ``from_frames``).
    """

    ids: np.ndarray
    offsets: np.ndarray
    day: np.ndarray
    ca125: np.ndarray
    censored: np.ndarray
    uln: np.ndarray
    assay: np.ndarray
    event: np.ndarray
    problem: np.ndarray
    clinical: dict
    has_clinical: np.ndarray
    clinical_problem: np.ndarray
    notes: np.ndarray | None = None

    @property
    def n(self) -> int:
        return len(self.ids)

    @property
    def sizes(self) -> np.ndarray:
        """Markers rows per patient."""
        return np.diff(self.offsets)

    @property
    def codes(self) -> np.ndarray:
        """Per markers row, the position of its patient."""
        return np.repeat(np.arange(self.n, dtype=np.int64), self.sizes)

    @property
    def reason(self) -> np.ndarray:
        """Per patient why the input is invalid (the clinical row's problems first), or None:
        ``io.PatientRecord.reason``."""
        return np.where(pd.isna(self.clinical_problem), self.problem, self.clinical_problem)

    @classmethod
    def from_frames(cls, markers: pd.DataFrame, clinical: pd.DataFrame | None = None) -> PatientBatch:
        """The batch of canonical frames (``io.read_markers``/``io.read_clinical``, typically
        ``on_error="flag"``): the patients of ``io.records_from_frames``, as columns.

        Every patient of either frame is in the batch (a clinical row without markers: no
        rows); a patient's markers rows keep the frame's order, and its ``problem`` is the
        first flagged row's.
        """
        pid = markers["patient_id"].to_numpy(dtype=object)
        order = np.argsort(pid, kind="stable") if len(pid) and not (pid[1:] >= pid[:-1]).all() else None
        take = (lambda a: a) if order is None else (lambda a: a[order])
        pid = take(pid)
        n_rows = len(pid)
        first = np.flatnonzero(np.concatenate([[True], pid[1:] != pid[:-1]])) if n_rows else np.zeros(0, np.int64)
        m_ids = np.array([str(p) for p in pid[first]], dtype=object) if n_rows else np.zeros(0, dtype=object)
        sizes = np.diff(np.append(first, n_rows))
        rows = dict(
            day=take(markers["day"].to_numpy()).astype(np.int64, copy=False),
            ca125=take(markers["ca125"].to_numpy(dtype=float)),
            censored=take(markers["censored"].to_numpy(dtype=bool)),
            uln=take(markers["uln"].to_numpy(dtype=float)),
            assay=_batch_objects(take(markers["assay"].to_numpy(dtype=object))),
            event=_batch_objects(take(markers["event"].to_numpy(dtype=object))),
        )
        m_problem = np.full(len(m_ids), None, dtype=object)
        if "problem" in markers.columns and n_rows:
            flagged = take(markers["problem"].notna().to_numpy())
            if flagged.any():
                text = take(markers["problem"].to_numpy(dtype=object))
                codes = np.repeat(np.arange(len(m_ids)), sizes)
                rows_flagged = np.flatnonzero(flagged)
                # the first flagged row of each patient
                patients, at = np.unique(codes[rows_flagged], return_index=True)
                m_problem[patients] = text[rows_flagged[at]]
        if clinical is None:
            n = len(m_ids)
            return cls(m_ids, np.append(first, n_rows).astype(np.int64), **rows, problem=m_problem,
                       clinical={c: (np.full(n, np.nan) if c in BATCH_NUMERIC_PREDICTORS else np.full(n, None, dtype=object))
                                 for c in CLINICAL_PREDICTORS},
                       has_clinical=np.zeros(n, dtype=bool), clinical_problem=np.full(n, None, dtype=object),
                       notes=_frame_notes(markers, m_ids))
        c_ids = clinical["patient_id"].astype(str).to_numpy(dtype=object)
        if len(m_ids) == len(c_ids) and (m_ids == c_ids).all() and (m_ids[1:] > m_ids[:-1]).all():
            ids = m_ids   # the same sorted patients (a chunk of a sorted registry): their union
            at_m = at_c = np.arange(len(m_ids))
        else:   # the patients of both frames, sorted as numpy sorts text (each id converted once)
            m_text, c_text = m_ids.astype(str), c_ids.astype(str)
            ids_text = np.union1d(m_text, c_text) if len(c_ids) else m_text
            at_m = np.searchsorted(ids_text, m_text) if len(m_ids) else np.zeros(0, np.int64)
            at_c = np.searchsorted(ids_text, c_text)
            ids = ids_text.astype(object) if len(c_ids) else m_ids
        n = len(ids)
        all_sizes = np.zeros(n, dtype=np.int64)
        all_sizes[at_m] = sizes
        problem = np.full(n, None, dtype=object)
        problem[at_m] = m_problem
        values = {}
        for c in CLINICAL_PREDICTORS:
            if c in BATCH_NUMERIC_PREDICTORS:
                out = np.full(n, np.nan)
                if c in clinical.columns:
                    out[at_c] = _batch_numbers(clinical[c])
            else:
                out = np.full(n, None, dtype=object)
                if c in clinical.columns:
                    out[at_c] = _batch_objects(clinical[c])
            values[c] = out
        has_clinical = np.zeros(n, dtype=bool)
        has_clinical[at_c] = True
        c_problem = np.full(n, None, dtype=object)
        if "problem" in clinical.columns:
            c_problem[at_c] = _batch_objects(clinical["problem"].to_numpy(dtype=object))
        return cls(ids, np.concatenate([[0], np.cumsum(all_sizes)]).astype(np.int64), **rows, problem=problem,
                   clinical=values, has_clinical=has_clinical, clinical_problem=c_problem,
                   notes=_frame_notes(markers, ids))

    @classmethod
    def from_records(cls, records: list) -> PatientBatch:
        """The batch of ``io.PatientRecord`` objects (in their order)."""
        n = len(records)
        sizes = np.fromiter((len(r.day) for r in records), dtype=np.int64, count=n)

        def flat(attr, dtype):
            return np.array([v for r in records for v in getattr(r, attr)], dtype=dtype)

        values = {}
        for c in CLINICAL_PREDICTORS:
            given = [None if r.clinical is None else r.clinical.get(c) for r in records]
            values[c] = _batch_numbers(_batch_objects(given)) if c in BATCH_NUMERIC_PREDICTORS else _batch_objects(given)
        return cls(
            np.array([r.patient_id for r in records], dtype=object),
            np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
            day=flat("day", np.int64), ca125=flat("ca125", float),
            censored=np.array([bool(v) if v is not None else False for r in records for v in r.censored], dtype=bool),
            uln=_batch_numbers(_batch_objects([v for r in records for v in r.uln])),
            assay=_batch_objects([v for r in records for v in r.assay]),
            event=_batch_objects([v for r in records for v in r.event]),
            problem=_batch_objects([r.problem for r in records]),
            clinical=values,
            has_clinical=np.array([r.clinical is not None for r in records], dtype=bool),
            clinical_problem=_batch_objects([r.clinical_problem for r in records]),
            notes=_notes_array([r.notes for r in records]) if any(r.notes for r in records) else None,
        )

    def record(self, i: int) -> PatientRecord:
        """Patient ``i`` as an ``io.PatientRecord`` (the values of the records it came from)."""
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        clinical = None
        if self.has_clinical[i]:
            clinical = {}
            for c in CLINICAL_PREDICTORS:
                v = self.clinical[c][i]
                if c in BATCH_NUMERIC_PREDICTORS:
                    v = None if v != v else (int(v) if c in _BATCH_INTEGER_PREDICTORS and float(v).is_integer() else float(v))
                clinical[c] = v
        return PatientRecord(
            str(self.ids[i]), tuple(self.day[a:b].tolist()), tuple(self.ca125[a:b].tolist()),
            tuple(self.censored[a:b].tolist()), tuple(self.uln[a:b].tolist()), tuple(self.assay[a:b].tolist()),
            tuple(self.event[a:b].tolist()), self.problem[i], clinical, self.clinical_problem[i],
            () if self.notes is None else tuple(self.notes[i]))

    def samples(self, i: int) -> tuple:
        """``io.PatientRecord.samples`` of patient ``i``."""
        if self.problem[i] is not None:
            return ()
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        return tuple((d, None if v != v else v, c, e) for d, v, c, e in
                     zip(self.day[a:b].tolist(), self.ca125[a:b].tolist(), self.censored[a:b].tolist(),
                         self.event[a:b].tolist()))


# --------------------------------------------------------------------------- writing


def json_value(value):
    """``value`` with JSON types only, recursively: NaN, infinities and pandas NA/NaT become
    None, numpy scalars Python scalars, tuples lists, dates and paths strings."""
    kind = type(value)
    if value is None or kind is str or kind is int or kind is bool:   # the common cases, first
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
        return json_value(value) if type(value) is float else value
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, (_dt.date, Path)):
        return str(value)
    return value


def json_records(frame: pd.DataFrame) -> str:
    """The rows of ``frame`` as a JSON array of objects (pandas ``orient="records"``, dates in
    ISO 8601, indent 2), every number written so that it reads back as the same float.

    pandas' encoder keeps 10 decimal places: a probability of 3e-11 was written as 0.0 and
    0.6553339997429298 as 0.6553339997 (CSV and Parquet keep every digit). Here pandas
    encodes the frame and each float cell is then replaced by :func:`json_value` of it, which
    Python's ``json`` writes as the shortest text that reads back as the same float; a
    missing or non-finite number is ``null``.
    """
    import json

    records = json.loads(frame.to_json(orient="records", date_format="iso"))
    for j, name in enumerate(frame.columns):
        column = frame.iloc[:, j]
        if column.dtype.kind == "f":    # a float column: its numbers at once, NaN and infinities null
            numbers = column.to_numpy(dtype=float, na_value=np.nan)
            values = numbers.tolist()
            for i in np.flatnonzero(~np.isfinite(numbers)).tolist():
                values[i] = None
        elif column.dtype == object:    # floats among other values: each one
            values = [json_value(v) if isinstance(v, (float, np.floating)) else r.get(str(name))
                      for v, r in zip(column.to_numpy(dtype=object), records)]
        else:                           # whole numbers, flags, text, dates: pandas' text is exact
            continue
        for record, value in zip(records, values):
            record[str(name)] = value
    return json.dumps(records, indent=2, allow_nan=False)


def write_table(frame: pd.DataFrame, path, *, fmt: str | None = None) -> Path:
    """Write a result table as CSV, Parquet or JSON (records, :func:`json_records`), chosen by
    suffix or ``fmt``, whole or not at all (:func:`ca125kinetics._atomic.atomic_file`: a
    failure or a stop on the way leaves the file already at ``path`` as it was)."""
    from ._atomic import atomic_file

    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".") or "csv").lower()
    if fmt not in ("csv", "parquet", "pq", "json"):
        raise InvalidInputError(f"unknown output format {fmt!r}; use .csv, .parquet or .json", source=str(path))
    with atomic_file(path) as handle:
        if fmt == "csv":
            frame.to_csv(handle, index=False, encoding="utf-8")
        elif fmt == "json":
            handle.write(json_records(frame).encode("utf-8"))
        else:
            import pyarrow.parquet as pq

            pq.write_table(parquet_table(frame), handle)
    return path


def parquet_table(frame: pd.DataFrame, schema=None) -> "pyarrow.Table":
    """``frame`` as the Arrow table a result is written to Parquet as: every text column
    (pandas' text, Python strings, or a column without a value, which Arrow types as null)
    as ``large_string``, whatever its values, so that a column's type does not depend on the
    rows written: a table written whole (:func:`write_table`) and in chunks
    (:class:`ca125kinetics.cohort.ChunkWriter`, each chunk cast to ``schema``, the first
    chunk's) have the same schema."""
    import pyarrow as pa

    table = pa.Table.from_pandas(frame, preserve_index=False)
    if schema is None:
        text = (pa.types.is_null, pa.types.is_string, pa.types.is_large_string)
        schema = pa.schema([f.with_type(pa.large_string()) if any(t(f.type) for t in text) else f
                            for f in table.schema], metadata=table.schema.metadata)
    return table.cast(schema)
