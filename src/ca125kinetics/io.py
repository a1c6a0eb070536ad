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

Extra columns of the input are kept after these.

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
"""

from __future__ import annotations

import csv
import datetime as _dt
import difflib
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import DataQualityWarning, InvalidInputError
from .markers import MARKERS, MarkerSpec, get_marker

__all__ = [
    "read_markers",
    "marker_columns",
    "read_clinical",
    "write_table",
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
EVENT_KINDS = ("paracentesis", "thoracentesis", "surgery", "mouse_antibody")
RECURRENCE_PATTERNS = ("single", "multiple", "carcinomatosis")
RECIST_CATEGORIES = ("CR", "PR", "SD", "PD")
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

#: Columns the readers themselves write (a canonical frame read again keeps them).
_DERIVED_COLUMNS = ("figo_stage_raw", "problem")

# ---- screening columns (optional; read by ca125kinetics.eligibility, see docs/data-contract.md)
#: Histology codes: epithelial ovarian/tubal/peritoneal types, then the rectal ones.
HISTOLOGY_CODES = (
    "high_grade_serous", "low_grade_serous", "endometrioid", "clear_cell", "mucinous",
    "mixed_epithelial", "other_epithelial", "borderline", "non_epithelial",
    "adenocarcinoma", "neuroendocrine", "squamous", "other",
)
#: Primary tumour site codes (ovarian trials; rectal trials, site seen on endoscopy).
TUMOUR_SITES = (
    "ovary", "fallopian_tube", "peritoneum",
    "upper_rectum", "rectosigmoid", "mid_rectum", "low_rectum", "colon", "other",
)
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
#: are seen in practice; a larger number is a unit or typing error).
CA125_MAX = 1_000_000.0
#: Largest assay upper limit of normal accepted, U/mL (assays use about 20-40 U/mL).
ULN_MAX = 1000.0
_AGGREGATIONS = ("mean", "median", "max", "min", "first", "last")
_MAX_LISTED = 5
_CENSORED_RE = re.compile(r"^\s*<\s*=?\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*$")
_STAGE_RE = re.compile(r"^\s*(?:FIGO\s*)?(IV|III|II|I)\s*([A-C]?[0-9]?)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class _Problem:
    row: Any
    patient_id: Any
    column: str | None
    message: str


class _Collector:
    """Collects per-row problems so one call can report all of them at once."""

    def __init__(self, source: str, rows: pd.Series, patients: pd.Series):
        self.source = source
        self.rows = rows
        self.patients = patients
        self.problems: list[_Problem] = []

    def add(self, mask, column: str | None, message) -> None:
        """Record ``message`` (a string, or a callable of the row position) where ``mask``."""
        positions = np.flatnonzero(np.asarray(mask, dtype=bool))
        for pos in positions:
            text = message(pos) if callable(message) else message
            self.problems.append(
                _Problem(self.rows.iloc[pos], self.patients.iloc[pos], column, text)
            )

    def error(self) -> InvalidInputError:
        first = self.problems[0]
        lines = [f"{first.message}"]
        extra = [
            f"  also: row {p.row}, patient {p.patient_id!r}"
            + (f", column {p.column!r}" if p.column else "")
            + f": {p.message}"
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
            where = f"row {p.row}" + (f", column {p.column!r}" if p.column else "")
            out.setdefault(str(p.patient_id), []).append(f"{where}: {p.message}")
        return {pid: "invalid input: " + "; ".join(msgs) for pid, msgs in out.items()}


# --------------------------------------------------------------------------- loading


def _load(source, what: str, sep: str | None = None, marker: str = "ca125") -> tuple[pd.DataFrame, str, pd.Series]:
    """Load a table as strings where possible; return (frame, source label, row labels).

    ``sep`` is the CSV separator (None: ``","``, or detected with a note, see
    :func:`_detect_sep`). A header naming a column twice is refused (:func:`_check_header`).
    """
    if sep is not None and (not isinstance(sep, str) or len(sep) != 1 or sep in ('"', "\n")):
        raise InvalidInputError(f"sep must be one character such as ',', ';' or a tab, got {sep!r}")
    if isinstance(source, pd.DataFrame):
        label = f"{what} DataFrame"
        _check_header(source.columns, label)
        frame = source.copy()
        rows = pd.Series(frame.index, index=frame.index)
        frame = frame.reset_index(drop=True)
        rows = rows.reset_index(drop=True)
        return frame, label, rows
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
        return _load_fhir(path, marker)
    try:
        if suffix in (".csv", ".csv.gz", ".txt", ".tsv"):
            if sep is None:
                sep = "\t" if suffix == ".tsv" else _detect_sep(path, label)
            _check_header(_header_names(path, sep), label)
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], sep=sep)
        elif suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
            _check_header(frame.columns, label)
        else:
            raise InvalidInputError(
                f"unsupported file type {path.suffix!r}; use .csv or .parquet"
                + (" (or a .json FHIR bundle for markers)" if what == "markers" else ""), source=label
            )
    except InvalidInputError:
        raise
    except Exception as exc:  # pandas/pyarrow parse errors become one clear message
        raise InvalidInputError(
            f"could not be read as a {what} table ({type(exc).__name__}: {exc}); "
            "check that it is a valid CSV or Parquet file", source=label
        ) from exc
    # rows as a spreadsheet shows them: header is row 1
    rows = pd.Series(np.arange(len(frame)) + 2 if suffix != ".parquet" else np.arange(len(frame)))
    return frame.reset_index(drop=True), label, rows


def _load_fhir(path: Path, marker: str = "ca125") -> tuple[pd.DataFrame, str, pd.Series]:
    """A ``.json`` markers file is a FHIR R4 bundle: its markers table, rows named by resource.

    Records the FHIR reader skipped are reported in one :class:`DataQualityWarning`
    (``ca125 extract fhir`` writes the full list).
    """
    from .sources.fhir import read_fhir

    result = read_fhir(path, marker=marker)
    if len(result.skipped):
        warnings.warn(f"{result.summary()}; 'ca125 extract fhir {path.name} --out FILE' lists every "
                      "skipped record with its reason", DataQualityWarning, stacklevel=4)
    frame = result.markers.reset_index(drop=True)
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
                ok = exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
            kind += " (it is not UTF-8 text: binary data, or another encoding; save it as UTF-8 CSV)"
    if not ok:
        raise InvalidInputError(
            f"this file is not {kind}, judged from its first {min(len(head), _SNIFF_BYTES)} bytes; give the "
            f"{what} table as a UTF-8 .csv or a .parquet file", source=label)


def _strip_columns(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.rename(columns=lambda c: str(c).strip())


def _require(frame: pd.DataFrame, columns, source: str, what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidInputError(
            f"missing required column(s) {missing}; the {what} table needs {list(columns)} "
            f"(found {list(frame.columns)}). Rename or add the column(s).",
            source=source, column=missing[0],
        )


def _as_text(series: pd.Series) -> pd.Series:
    """Strings with surrounding space removed; missing stays missing."""
    out = series.astype(object).where(series.notna(), None)
    return out.map(lambda v: v.strip() if isinstance(v, str) else v).map(
        lambda v: None if (v is None or (isinstance(v, str) and v == "")) else v
    )


def _ids(series: pd.Series) -> pd.Series:
    """Patient identifiers as strings; whole floats from a numeric column lose their '.0'."""

    def one(v):
        # pd.NA / NaT (nullable and Parquet columns) are missing too, never a patient "<NA>"
        if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and np.isnan(v)):
            return None
        if isinstance(v, (float, np.floating)) and float(v).is_integer():
            return str(int(v))
        return str(v).strip() or None

    return series.astype(object).map(one)


def _require_ids(pid: pd.Series, rows: pd.Series, source: str, how: str) -> None:
    """An empty identifier cannot be attributed to a patient, so it always raises."""
    empty = np.flatnonzero(pid.isna().to_numpy())
    if len(empty):
        listed = ", ".join(str(rows.iloc[i]) for i in empty[:_MAX_LISTED])
        raise InvalidInputError(
            f"patient_id is empty in {len(empty)} row(s) ({listed}); {how}",
            source=source, row=rows.iloc[empty[0]], column="patient_id",
        )


def _numeric(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce").astype(float)


# --------------------------------------------------------------------------- format rules
# Each rule below reads one kind of cell or header the same way for every entry point (the
# readers, predict, the command line and the web API all go through the readers): what the
# caller stated is applied, ISO/plain forms are read, anything ambiguous is refused.

#: Values accepted in a ``censored`` column (lower case, after stripping).
CENSORED_TRUE = ("true", "1", "1.0", "yes")
CENSORED_FALSE = ("false", "0", "0.0", "no")

_ISO_DATE_RE = re.compile(
    r"^\s*(\d{4}-\d{2}-\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)?\s*$")


def _first_line(path: Path) -> str:
    import gzip

    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rt", encoding="utf-8-sig", newline="", errors="replace") as handle:
        return handle.readline(1 << 16)


def _header_names(path: Path, sep: str) -> list[str]:
    """The raw header of a CSV file (before pandas renames duplicates to ``x.1``)."""
    return [name.strip() for name in next(csv.reader([_first_line(path)], delimiter=sep), [])]


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
                DataQualityWarning, stacklevel=4)
            return sep
    return ","


def _check_header(names, source: str) -> None:
    """Refuse a header that names a column twice (pandas would silently rename ``x.1``)."""
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
    n = _norm_name(name)
    if not n:
        return []
    by_norm = {_norm_name(k): k for k in known if k != name}
    out = [k for nk, k in by_norm.items() if nk == n or (len(n) >= 3 and nk.startswith(n))]
    # a close spelling keeps the first letter: dfs_months (disease-free survival) is another
    # endpoint, not a misspelt pfs_months
    out += [by_norm[m] for m in difflib.get_close_matches(n, list(by_norm), n=3, cutoff=0.8) if m[0] == n[0]]
    return list(dict.fromkeys(out))


def _resolve_columns(frame: pd.DataFrame, known, mapping, source: str) -> pd.DataFrame:
    """Apply the caller's column mapping, then refuse columns that look like known ones.

    Parameters
    ----------
    frame : DataFrame
        The table with stripped column names.
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
    if mapping:
        if not isinstance(mapping, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                    for k, v in mapping.items()):
            raise InvalidInputError(
                "columns must map column names of the table to data-contract names, e.g. "
                "{'ECOG': 'ecog'}", source=source)
        mapping = {k: v for k, v in mapping.items() if k in frame.columns}
        clash = [v for k, v in mapping.items() if v in frame.columns and v not in mapping and k != v]
        if clash:
            raise InvalidInputError(
                f"the column mapping renames onto {clash}, which the table already has; map only "
                "one column to each name", source=source, column=clash[0])
        frame = frame.rename(columns=mapping)
        _check_header(frame.columns, source)
    present = set(frame.columns)
    problems = []
    for name in frame.columns:
        if name in known or name in _DERIVED_COLUMNS:
            continue
        targets = [t for t in _suggest_columns(name, known) if t not in present]
        if targets:
            problems.append((name, targets))
    if problems:
        name, targets = problems[0]
        listed = "; ".join(f"{n!r} looks like {' or '.join(map(repr, t))}" for n, t in problems)
        raise InvalidInputError(
            f"column name(s) not in the data contract: {listed}. Such a column would be ignored "
            f"silently, so it is refused: rename it (e.g. {name!r} -> {targets[0]!r}), or map it "
            f"explicitly with columns={{{name!r}: {targets[0]!r}}} (command line: --rename "
            f"'{name}={targets[0]}'); to keep it as an extra column, rename it to something unlike "
            "a known column", source=source, column=name)
    return frame


def _number_hint(text, decimal: str, thousands: str | None) -> str:
    """How to state the number format, for a cell that did not parse."""
    if not isinstance(text, str):
        return ""
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


def _parse_numbers(series: pd.Series, decimal: str = ".", thousands: str | None = None) -> pd.Series:
    """Numbers from a column of numbers or text; NaN where a cell is empty or does not parse.

    With the defaults (``decimal="."``, no thousands separator) text is read by
    ``pandas.to_numeric``. With a stated format, text must be a plain number written that
    way: ``1.200,5`` with ``decimal=","`` and ``thousands="."``; a thousands separator must
    group three digits; with ``decimal=","`` and no thousands separator a ``.`` is ambiguous
    and the cell does not parse.
    """
    if not (series.dtype == object or pd.api.types.is_string_dtype(series.dtype)):
        return pd.to_numeric(series, errors="coerce").astype(float)
    text = _as_text(series)
    if decimal == "." and thousands is None:
        return _numeric(text)
    d, t = re.escape(decimal), re.escape(thousands) if thousands else None
    plain = rf"[+-]?(?:\d+(?:{d}\d*)?|{d}\d+)(?:[eE][+-]?\d+)?"
    grouped = rf"[+-]?\d{{1,3}}(?:{t}\d{{3}})+(?:{d}\d*)?" if t else None
    pattern = re.compile(rf"^(?:{plain}|{grouped})$" if grouped else rf"^{plain}$")

    def one(v):
        if not isinstance(v, str):
            return v
        if not pattern.match(v):
            return np.nan
        if thousands:
            v = v.replace(thousands, "")
        return v.replace(decimal, ".")

    return _numeric(text.map(one))


def _check_number_format(decimal: str, thousands: str | None) -> None:
    if decimal not in (".", ","):
        raise InvalidInputError(f"decimal must be '.' or ',', got {decimal!r}")
    if thousands is not None and (thousands not in (".", ",", " ", "'", "\u00a0") or thousands == decimal):
        raise InvalidInputError(
            f"thousands must be None or one of '.', ',', a space or an apostrophe, and differ from decimal; "
            f"got {thousands!r}")


def _parse_dates(series: pd.Series, date_format: str | None, what: str) -> tuple[pd.Series, np.ndarray, Any]:
    """Calendar dates of a column: ``(dates, bad, message)``.

    ``dates`` is datetime64 at midnight (a time of day is dropped: days count calendar days;
    a timezone offset is dropped too, keeping the local date as written); ``bad`` marks
    present cells that are not a date; ``message(raw)`` says why and how to fix it.

    Without ``date_format`` text must be ISO 8601 (``YYYY-MM-DD``, optionally followed by a
    time): ``01/03/2024`` is refused, never guessed (pandas would take the order of day and
    month from the first value). With ``date_format`` (``strftime`` codes, e.g.
    ``"%d/%m/%Y"``) every text cell must match it. Date and datetime objects (a Parquet
    timestamp column) are taken as they are.
    """
    if date_format is not None and (not isinstance(date_format, str) or "%" not in date_format):
        raise InvalidInputError(
            f"date_format must be a strftime format such as '%d/%m/%Y', got {date_format!r}")
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        values = series
        if getattr(values.dt, "tz", None) is not None:
            values = values.dt.tz_localize(None)
        return values.dt.normalize().astype("datetime64[ns]"), np.zeros(len(series), dtype=bool), None

    def one(v):
        if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and np.isnan(v)):
            return None
        if isinstance(v, pd.Timestamp):
            return (v.tz_localize(None) if v.tz is not None else v).normalize()
        if isinstance(v, _dt.datetime):
            return pd.Timestamp(v.replace(tzinfo=None)).normalize()
        if isinstance(v, _dt.date):
            return pd.Timestamp(v)
        if not isinstance(v, str) or not v.strip():
            return pd.NaT if not (isinstance(v, str)) else None
        if date_format is None:
            m = _ISO_DATE_RE.match(v)
            if m is None:
                return pd.NaT
            return pd.to_datetime(m.group(1), format="%Y-%m-%d", errors="coerce")
        ts = pd.to_datetime(v.strip(), format=date_format, errors="coerce")
        if ts is pd.NaT:
            return pd.NaT
        return (ts.tz_localize(None) if ts.tz is not None else ts).normalize()

    parsed = [one(v) for v in series.astype(object)]
    bad = np.array([v is pd.NaT for v in parsed], dtype=bool)
    dates = pd.Series(pd.to_datetime([None if v is pd.NaT else v for v in parsed]).astype("datetime64[ns]"),
                      index=series.index)

    def message(raw) -> str:
        if date_format is not None:
            return (f"{what} {raw!r} does not match date_format {date_format!r}; correct the value or "
                    "the format")
        return (f"{what} {raw!r} is not an ISO date (YYYY-MM-DD, optionally with a time); a date such "
                "as 01/03/2024 is ambiguous (1 March or 3 January), so it is never guessed: write "
                "YYYY-MM-DD, or state the format with date_format='%d/%m/%Y' (command line "
                "--date-format '%d/%m/%Y')")

    return dates, bad, message


def _cell(value):
    """A cell as a plain Python value, for messages (``2``, not ``np.int64(2)``)."""
    return value.item() if isinstance(value, np.generic) else value


def _parse_censored_flags(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``(flag, bad)`` of a ``censored`` column: true/false, 1/0, yes/no or empty (= false)."""

    def one(v):
        if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
            return False
        if isinstance(v, (bool, np.bool_)):
            return bool(v)
        if isinstance(v, (int, float, np.integer, np.floating)):
            return {1: True, 0: False}.get(v) if v in (0, 1) else None
        text = str(v).strip().lower()
        if text == "":
            return False
        return True if text in CENSORED_TRUE else False if text in CENSORED_FALSE else None

    parsed = series.astype(object).map(one)
    bad = parsed.isna().to_numpy(dtype=bool)
    return parsed.where(~bad, False).to_numpy(dtype=bool), bad


# --------------------------------------------------------------------------- markers


_LIMIT_RE = re.compile(r"^\s*<\s*=?\s*(.*?)\s*$")


def _parse_values(raw: pd.Series, decimal: str = ".", thousands: str | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (value, censored, bad) arrays from numbers or ``"<x"`` strings.

    The number (and the limit ``x`` of ``"<x"``) is read by :func:`_parse_numbers` with the
    stated ``decimal`` and ``thousands``.
    """
    text = _as_text(raw)
    censored = np.zeros(len(raw), dtype=bool)
    body = text.copy()
    is_str = text.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
    if is_str.any():
        idx = np.flatnonzero(is_str)
        match = [_LIMIT_RE.match(v) for v in text.iloc[idx]]
        hit = np.array([m is not None for m in match], dtype=bool)
        censored[idx[hit]] = True
        body.iloc[idx[hit]] = [m.group(1) for m in match if m is not None]
    value = _parse_numbers(body, decimal, thousands)
    bad = text.notna().to_numpy() & value.isna().to_numpy()
    return value.to_numpy(dtype=float), censored, bad


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
        aggregate is censored only if every aggregated value is.
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

    Returns
    -------
    pandas.DataFrame
        The canonical markers frame described in the module docstring.
    """
    if on_error not in ("raise", "flag"):
        raise InvalidInputError(f"on_error must be 'raise' or 'flag', got {on_error!r}")
    if duplicates not in ("error", *_AGGREGATIONS):
        raise InvalidInputError(
            f"duplicates must be 'error' or one of {_AGGREGATIONS}, got {duplicates!r}"
        )
    spec = get_marker(marker)
    vc, what, unit = spec.name, spec.label, spec.unit
    value_max = CA125_MAX if vc == "ca125" else spec.plausible_max
    uln = spec.default_uln if uln is None else uln
    if not (isinstance(uln, (int, float)) and np.isfinite(uln) and 0 < uln <= ULN_MAX):
        raise InvalidInputError(f"uln must be a positive number of {unit} (at most {ULN_MAX:g}), got {uln!r}")

    _check_number_format(decimal, thousands)
    frame, label, rows = _load(source, "markers", sep, spec.name)
    frame = _strip_columns(frame)
    _check_header(frame.columns, label)
    frame = _resolve_columns(frame, MARKERS_KNOWN, columns, label)
    frame = _value_column(frame, spec, label)
    if "day" not in frame.columns and "date" in frame.columns:
        _require(frame, ("patient_id", vc, "date"), label, "markers")
    else:
        _require(frame, ("patient_id", vc, "day"), label, "markers")

    pid = _ids(frame["patient_id"])
    _require_ids(pid, rows, label, "give every sample its patient's identifier")
    col = _Collector(label, rows, pid)

    # ---- day (or date relative to treatment_start)
    if "day" in frame.columns:
        day_f = _parse_numbers(frame["day"], decimal, thousands)
        raw_day = frame["day"]
        col.add(day_f.isna() & raw_day.notna(), "day",
                lambda i: f"day {raw_day.iloc[i]!r} is not a number; give whole days from the first dose (day 0)"
                + _number_hint(raw_day.iloc[i], decimal, thousands))
        col.add(raw_day.isna(), "day", "day is empty; give whole days from the first dose (day 0)")
    else:
        day_f = _days_from_dates(frame, pid, clinical, col, date_format)
    whole = day_f.notna() & (np.floor(day_f) != day_f)
    col.add(whole, "day", lambda i: f"day {day_f.iloc[i]!r} is not a whole number of days")
    lo, hi = day_range
    col.add(day_f.notna() & ((day_f < lo) | (day_f > hi)), "day",
            lambda i: f"day {day_f.iloc[i]:g} is outside the plausible range {lo}..{hi}; "
            "days count from the first dose of the chemotherapy line (day 0)")

    # ---- event
    if "event" in frame.columns:
        event = _as_text(frame["event"]).map(lambda v: v.lower().replace(" ", "_") if isinstance(v, str) else v)
        bad_event = event.notna() & ~event.isin(EVENT_KINDS)
        col.add(bad_event, "event",
                lambda i: f"unknown event {frame['event'].iloc[i]!r}; use one of {list(EVENT_KINDS)} or leave it empty")
    else:
        event = pd.Series([None] * len(frame), dtype=object)

    # ---- the marker's value
    value, censored, bad_value = _parse_values(frame[vc], decimal, thousands)
    if "censored" in frame.columns:  # a canonical frame written out and read back keeps its flags
        flag, bad_flag = _parse_censored_flags(frame["censored"])
        col.add(bad_flag, "censored",
                lambda i: f"censored {_cell(frame['censored'].iloc[i])!r} is not a documented value; use "
                f"true/false (also {'/'.join(CENSORED_TRUE[1:])} and {'/'.join(CENSORED_FALSE[1:])}) or "
                f"leave it empty (= false), or write the value as '<x' in the {vc} column")
        censored = censored | flag
    raw_value = frame[vc]
    col.add(bad_value, vc,
            lambda i: f"{what} value {raw_value.iloc[i]!r} is not a number; give {unit} as a number, "
            "or '<x' for a value below the assay's limit" + _number_hint(raw_value.iloc[i], decimal, thousands))
    col.add(~bad_value & (value < 0), vc,
            lambda i: f"{what} value {value[i]:g} is negative; {what} in {unit} cannot be below 0")
    col.add(~bad_value & np.isinf(value), vc, f"{what} value is infinite; give a finite {unit} value")
    col.add(~bad_value & np.isfinite(value) & (value > value_max), vc,
            lambda i: f"{what} value {value[i]:g} {unit} is beyond what any assay reports (at most "
            f"{value_max:,.0f} {unit}); check the value and its unit")
    empty_value = np.isnan(value) & ~bad_value
    col.add(empty_value & event.isna().to_numpy(), vc,
            f"{what} value is empty; give the value, or remove the row (only event rows may omit it)")

    # ---- uln and assay
    if "uln" in frame.columns:
        uln_raw = frame["uln"]
        uln_v = _parse_numbers(uln_raw, decimal, thousands)
        col.add(uln_v.isna() & uln_raw.notna(), "uln",
                lambda i: f"ULN {uln_raw.iloc[i]!r} is not a number; give the assay's upper limit of normal in {unit}"
                + _number_hint(uln_raw.iloc[i], decimal, thousands))
        col.add(uln_v.notna() & ~(uln_v > 0), "uln", f"ULN must be a positive number of {unit}")
        typical = "assays use about 20-40 U/mL; " if vc == "ca125" else ""
        col.add(uln_v.notna() & (uln_v > ULN_MAX), "uln",
                lambda i: f"ULN {uln_v.iloc[i]:g} {unit} is implausible ({typical}at most "
                f"{ULN_MAX:g}); check the value and its unit")
        uln_v = uln_v.fillna(float(uln))
    else:
        uln_v = pd.Series(np.full(len(frame), float(uln)))
    assay = _as_text(frame["assay"]) if "assay" in frame.columns else pd.Series([None] * len(frame), dtype=object)

    extra = [c for c in frame.columns if c not in marker_columns(spec) and c not in ("date",)]
    out = pd.DataFrame({
        "patient_id": pid,
        "day": day_f,
        vc: np.where(bad_value, np.nan, value),
        "censored": censored,
        "uln": uln_v.to_numpy(dtype=float),
        "assay": assay,
        "event": event,
        "_row": rows,
    })
    for c in extra:
        out[c] = frame[c].to_numpy()

    out = _handle_duplicates(out, duplicates, col, spec)

    if clinical is not None:
        known = set(_clinical_ids(clinical, date_format))
        orphan = out["patient_id"].notna() & ~out["patient_id"].isin(known)
        col.rows, col.patients = out["_row"], out["patient_id"]
        col.add(orphan.to_numpy(), "patient_id",
                lambda i: f"patient {out['patient_id'].iloc[i]!r} has markers but no clinical row; "
                "add the patient to the clinical table or remove the markers")

    if col.problems and on_error == "raise":
        raise col.error()
    return _finish_markers(out, col, float(uln), extra, spec)


def _days_from_dates(frame, pid, clinical, col: _Collector, date_format: str | None = None) -> pd.Series:
    """Days from the first dose: dates minus ``treatment_start`` of the clinical table, or of
    the markers rows themselves (a FHIR bundle or OMOP extract carries it per row). Where
    both give one, they must agree. Calendar days: times of day are dropped from both
    (:func:`_parse_dates`)."""
    own = "treatment_start" in frame.columns
    if clinical is None and not own:
        raise InvalidInputError(
            "markers carry 'date' but no 'day'; pass clinical=... with a 'treatment_start' "
            "column (first dose of the line), or add a 'day' column", source=col.source, column="date",
        )
    start = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    if own:
        raw_start = frame["treatment_start"]
        start, bad_start, start_message = _parse_dates(raw_start, date_format, "treatment_start")
        col.add(bad_start, "treatment_start", lambda i: start_message(raw_start.iloc[i]))
    if clinical is not None:
        if isinstance(clinical, pd.DataFrame) and "treatment_start" in clinical.columns and \
                pd.api.types.is_datetime64_any_dtype(clinical["treatment_start"].dtype):
            clin = clinical                     # already read (canonical clinical frame)
        else:
            clin = read_clinical(clinical, require=("patient_id",), date_format=date_format)
        if "treatment_start" not in clin.columns and not own:
            raise InvalidInputError(
                "markers carry dates, so the clinical table needs a 'treatment_start' column "
                "(date of the first dose)", column="treatment_start",
            )
        if "treatment_start" in clin.columns:
            start_dates, _, _ = _parse_dates(clin["treatment_start"], None, "treatment_start")
            starts = pd.Series(start_dates.to_numpy(), index=_ids(clin["patient_id"]).to_numpy())
            starts = starts[~starts.index.duplicated()]
            given = pd.to_datetime(pid.map(starts))
            differ = (given.notna() & start.notna() & (given != start)).to_numpy()
            col.add(differ, "treatment_start",
                    lambda i: f"treatment_start {start.iloc[i].date()} of the markers differs from "
                    f"{given.iloc[i].date()} in the clinical table; correct one of them")
            start = given.where(given.notna(), start)
    raw = frame["date"]
    dates, bad, message = _parse_dates(raw, date_format, "date")
    col.add(bad, "date", lambda i: message(raw.iloc[i]))
    col.add(dates.isna().to_numpy() & ~bad, "date", "date is empty; give the date of the sample")
    no_start = dates.notna() & start.isna() & pid.notna()
    col.add(no_start.to_numpy(), "treatment_start",
            lambda i: f"patient {pid.iloc[i]!r} has no treatment_start in the clinical table"
            + (" or the markers" if own else "") + "; add the date of the first dose")
    return (dates - start).dt.days.astype(float)


def _handle_duplicates(out: pd.DataFrame, duplicates: str, col: _Collector, spec: MarkerSpec) -> pd.DataFrame:
    vc = spec.name
    # an infinite day is already reported (outside the plausible range); it is no sample day
    has_value = out[vc].notna() & out["patient_id"].notna() & np.isfinite(out["day"].astype(float))
    key = out.loc[has_value, ["patient_id", "day"]]
    dup = key.duplicated(keep=False)
    if not dup.any():
        return out
    dup_index = key.index[dup.to_numpy()]
    if duplicates == "error":
        mask = out.index.isin(dup_index)
        col.rows, col.patients = out["_row"], out["patient_id"]
        col.add(mask, "day",
                lambda i: f"two or more CA-125 samples on day {int(out['day'].iloc[i])}; GCIG treats "
                "this as a data error: remove the extra sample(s) or pass duplicates='mean' "
                "(or median/max/min/first/last) to aggregate explicitly")
        return out
    group = out.loc[dup_index]
    agg = group.groupby(["patient_id", "day"], sort=False).agg(
        **{vc: (vc, duplicates)},
        censored=("censored", "all"),
    )
    keep_first = group.loc[~group.duplicated(["patient_id", "day"], keep="first")].copy()
    keep_first = keep_first.set_index(["patient_id", "day"])
    keep_first[vc] = agg[vc]
    keep_first["censored"] = agg["censored"]
    keep_first = keep_first.reset_index()
    rest = out.drop(index=dup_index)
    return pd.concat([rest, keep_first[out.columns]], ignore_index=True)


def _finish_markers(out: pd.DataFrame, col: _Collector, uln: float, extra: list[str],
                    spec: MarkerSpec) -> pd.DataFrame:
    vc = spec.name
    reasons = col.reasons_by_patient() if col.problems else {}
    bad_ids = set(reasons)
    good = out[~out["patient_id"].isin(bad_ids)].copy()
    good["day"] = good["day"].astype("int64")
    good["problem"] = None
    placeholders = pd.DataFrame({
        "patient_id": sorted(bad_ids),
        "day": np.zeros(len(bad_ids), dtype="int64"),
        vc: np.nan,
        "censored": False,
        "uln": uln,
        "assay": None,
        "event": None,
        "problem": [reasons[p] for p in sorted(bad_ids)],
    })
    for c in extra:
        placeholders[c] = None
    result = pd.concat([good.drop(columns="_row"), placeholders], ignore_index=True) if len(placeholders) else good.drop(columns="_row")
    result = result.sort_values(["patient_id", "day"], kind="stable").reset_index(drop=True)
    result["patient_id"] = result["patient_id"].astype(object)
    result["day"] = result["day"].astype("int64")
    result[vc] = result[vc].astype(float)
    result["censored"] = result["censored"].astype(bool)
    result["uln"] = result["uln"].astype(float)
    for c in ("assay", "event", "problem"):
        result[c] = result[c].astype(object).where(result[c].notna(), None)
    return result[list(marker_columns(spec)) + extra]


def marker_columns(marker: str | MarkerSpec | None = None) -> tuple[str, ...]:
    """Columns of the canonical markers frame of ``marker``: :data:`MARKER_COLUMNS` with
    ``ca125`` replaced by the marker's name (``cea`` for CEA)."""
    name = get_marker(marker).name
    return tuple(name if c == "ca125" else c for c in MARKER_COLUMNS)


def _value_column(frame: pd.DataFrame, spec: MarkerSpec, label: str) -> pd.DataFrame:
    """The frame with the value column named ``spec.name``, or a typed error (never a guess).

    A ``marker`` column (``ca125 extract`` writes one, values in ``ca125``) must name
    ``spec`` on every row; its ``ca125`` column is then the marker's value. A table with
    another marker's value column and not ``spec``'s is refused, naming ``marker=``.
    """
    if "marker" in frame.columns:
        named = {str(v).strip().lower() for v in frame["marker"].dropna().unique()}
        others = sorted(named - {spec.name})
        if others:
            raise InvalidInputError(
                f"the table's 'marker' column names {others}, not {spec.name!r} ({spec.label}); "
                f"read it with marker={others[0]!r} (ca125 ... --marker {others[0]})",
                source=label, column="marker")
        if spec.name not in frame.columns and "ca125" in frame.columns:
            frame = frame.rename(columns={"ca125": spec.name})
        return frame
    if spec.name not in frame.columns:
        found = [m for m in MARKERS if m in frame.columns]
        if found:
            raise InvalidInputError(
                f"the table has no {spec.name!r} ({spec.label}) column but has {found}: it holds "
                f"another marker; pass marker={found[0]!r} (on the command line --marker {found[0]}) "
                "to read it", source=label, column=spec.name)
    return frame


# --------------------------------------------------------------------------- clinical


def _clinical_ids(clinical, date_format: str | None = None) -> list[str]:
    if isinstance(clinical, pd.DataFrame):
        if "patient_id" not in clinical.columns:
            raise InvalidInputError("clinical table has no 'patient_id' column", column="patient_id")
        return [p for p in _ids(clinical["patient_id"]) if p is not None]
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


#: Numeric clinical columns and their validation (read_clinical; predict's fast reader).
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

#: Text clinical columns with a closed set of values (read_clinical; predict's fast reader).
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
MARKERS_KNOWN = (tuple(c for c in MARKER_COLUMNS if c != "problem") + ("date",) + CLINICAL_KNOWN
                 + tuple(m for m in MARKERS if m != "ca125") + ("marker",))

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
    if on_error not in ("raise", "flag"):
        raise InvalidInputError(f"on_error must be 'raise' or 'flag', got {on_error!r}")
    _check_number_format(decimal, thousands)
    frame, label, rows = _load(source, "clinical", sep)
    frame = _strip_columns(frame)
    _check_header(frame.columns, label)
    frame = _resolve_columns(frame, CLINICAL_KNOWN, columns, label)
    _require(frame, require, label, "clinical")
    pid = _ids(frame["patient_id"])
    _require_ids(pid, rows, label, "every clinical row needs the patient's identifier")
    col = _Collector(label, rows, pid)
    dup = pid.notna() & pid.duplicated(keep=False)
    col.add(dup, "patient_id",
            lambda i: f"patient {pid.iloc[i]!r} has more than one clinical row; keep one row per patient")

    out = pd.DataFrame({"patient_id": pid})

    def number(name, lo, hi, what, integer=False, choices=None):
        if name not in frame.columns:
            return
        raw = frame[name]
        v = _parse_numbers(raw, decimal, thousands)
        present = raw.notna() & (raw.astype(str).str.strip() != "")
        col.add(present & v.isna(), name, lambda i: f"{name} {raw.iloc[i]!r} is not a number; {what}"
                + _number_hint(raw.iloc[i], decimal, thousands))
        ok = v.notna()
        if integer:
            col.add(ok & (np.floor(v) != v), name, lambda i: f"{name} {raw.iloc[i]!r} must be a whole number; {what}")
        if choices is not None:
            col.add(ok & ~v.isin(choices), name, lambda i: f"{name} {raw.iloc[i]!r} is not allowed; {what}")
        else:
            col.add(ok & ((v < lo) | (v > hi)), name,
                    lambda i: f"{name} {v.iloc[i]:g} is outside {lo}..{hi}; {what}")
        if integer:   # values outside the range are reported above; they cannot be cast (1e308)
            v = v.where((v >= lo) & (v <= hi)).round().astype("Int64")
        out[name] = v

    for name, rule in CLINICAL_NUMBERS.items():
        number(name, rule.low, rule.high, rule.what, integer=rule.integer, choices=rule.choices)

    if "figo_stage" in frame.columns:
        raw = _as_text(frame["figo_stage"])
        stage = raw.map(normalise_stage)
        col.add((stage == "?").to_numpy(), "figo_stage",
                lambda i: f"unknown FIGO stage {raw.iloc[i]!r}; use I, II, III or IV (substages such as IIIC accepted)")
        out["figo_stage"] = stage.where(stage != "?", None)
        out["figo_stage_raw"] = raw
    def category(name, label, normalise, allowed, fix):
        """Normalise a text column, flag values outside ``allowed``, keep the valid ones."""
        if name not in frame.columns:
            return
        raw = _as_text(frame[name])
        value = raw.map(lambda v: normalise(v) if isinstance(v, str) else v)
        col.add((value.notna() & ~value.isin(allowed)).to_numpy(), name,
                lambda i: f"unknown {label} {raw.iloc[i]!r}; {fix}")
        out[name] = value.where(value.isin(allowed), None)

    for name, rule in CLINICAL_CATEGORIES.items():
        category(name, rule.label, rule.normalise, rule.allowed, rule.fix)
    if "treatment_start" in frame.columns:
        raw = frame["treatment_start"]
        ts, bad, message = _parse_dates(raw, date_format, "treatment_start")
        col.add(bad, "treatment_start", lambda i: message(raw.iloc[i]))
        out["treatment_start"] = ts

    for c in frame.columns:
        if c not in out.columns and c != "problem":
            out[c] = frame[c].to_numpy()

    if col.problems and on_error == "raise":
        raise col.error()
    reasons = col.reasons_by_patient() if col.problems else {}
    out["problem"] = out["patient_id"].map(lambda p: reasons.get(str(p)))
    if on_error == "flag" and dup.any():
        out = out[~out["patient_id"].duplicated(keep="first")]
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------- writing


def write_table(frame: pd.DataFrame, path, *, fmt: str | None = None) -> Path:
    """Write a result table as CSV, Parquet or JSON (records), chosen by suffix or ``fmt``."""
    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".") or "csv").lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt in ("parquet", "pq"):
        frame.to_parquet(path, index=False)
    elif fmt == "json":
        path.write_text(frame.to_json(orient="records", date_format="iso", indent=2))
    else:
        raise InvalidInputError(f"unknown output format {fmt!r}; use .csv, .parquet or .json", source=str(path))
    return path
