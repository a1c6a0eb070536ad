"""Established selection scores for complete resection at secondary cytoreduction.

Three published rules, scored per patient (``ago_score``, ``imodel_score``,
``mskcc_category``) or for a whole canonical clinical frame at once (``published_scores``), so
that trained models can be compared with them on the same data and the same metrics
(``score_for_auc``). All of them run one engine, ``published_scores_arrays``: inputs are parsed
column by column (without pandas for one patient's values as ``read_clinical`` produces
them), then each rule scores in plain Python once per distinct combination of its inputs, so
one patient takes about 0.1 ms and a cohort of 3,000 patients some 30 ms.

AGO score
    Harter P et al., Ann Surg Oncol 2006 (DESKTOP I); validated prospectively in DESKTOP II
    (Harter P et al., Int J Gynecol Cancer 2011; PPV for complete resection 76 %); selection rule
    of DESKTOP III (Harter P et al., N Engl J Med 2021). Positive iff
    ``ECOG == 0 and ascites_ml < 500 and primary_residual_disease == 0``.
iMODEL
    Tian WJ et al., Ann Surg Oncol 2012;19:597-604 (1,075 patients). Points (``IMODEL_ITEMS``):
    FIGO III-IV 0.8; residual disease after primary surgery 1.5; progression-free interval
    < 16 months 2.4; ECOG 2-3 2.4; CA-125 at recurrence > 105 U/mL 1.8; ascites at
    recurrence 3.0. Total 0-11.9; **low risk iff total <= 4.7** (complete resection 53.4 % vs
    20.1 %; external AUC 0.68).
MSKCC guideline
    Chi DS et al., Cancer 2006;106:1933-1939. Recommendation (offer / consider / no secondary
    cytoreduction) by disease-free interval (6-12, 12-30, > 30 months) and recurrence pattern
    (single site, multiple sites without carcinomatosis, carcinomatosis), looked up in
    ``data/mskcc_guideline.csv`` (its header records the source and what was verified).

Conventions
-----------
Statuses (columns ``*_status``; the same vocabulary for the three scores):

``"ok"``
    every input present; the result is computed.
``"ok_with_missing"``
    some inputs are missing, but no value they could take changes the result (see below).
``"missing_input"``
    a missing input could change the result: the result is NA and the reason names it.
``"not_applicable"``
    the rule does not apply (MSKCC with DFI < 6 months: platinum-resistant, outside the
    guideline; iMODEL with ECOG 4 when ``ScoreSettings.imodel_ecog4 == "not_applicable"``).
``"invalid_input"``
    an input breaks the data contract (only in ``published_scores`` and
    ``published_scores_arrays``; the per-patient functions raise
    :class:`~ca125kinetics.errors.InvalidInputError` instead).

Three-valued logic for missing inputs. A result is reported whenever the present inputs
already decide it. AGO: one failed criterion makes the score negative whatever the missing
inputs are (ECOG 1 with unknown ascites -> negative, ``"ok_with_missing"``); all present
criteria met but one missing -> NA. iMODEL: a missing item could add 0 or its points, so the
total lies in ``[points_min, points_max]``; the total itself is NA (it is not a number we
know), but the risk group is reported when the whole range lies on one side of 4.7
(``points_max <= 4.7`` -> low risk, ``points_min > 4.7`` -> high risk), except that with
``imodel_ecog4="not_applicable"`` an unknown ECOG leaves it NA (ECOG 4 would leave the
patient unscored). MSKCC: the
recommendation is reported when every value of the missing input gives the same cell (e.g.
unknown pattern with DFI > 30 months -> "offer"); an unknown DFI always leaves it NA, because
the DFI could be < 6 months.

Decisions (also fields of :class:`ScoreSettings`, logged with every run):

* AGO: ``ascites_ml`` is the estimated volume on imaging at recurrence; 499 mL is < 500 mL
  (positive), 500 mL is not.
* iMODEL: ECOG 4 is not covered by the paper (ECOG 2-3 scores 2.4). **Decision**:
  ``imodel_ecog4="poor"`` counts ECOG 4 with 2-3 (2.4 points; the reason names it "ECOG 4
  counted as ECOG 2-3"); ``"not_applicable"`` declines to score it. Ascites "present" means
  ``ascites_ml > 0``. The paper's progression-free interval is taken as ``pfi_months`` (the contract's platinum-free interval; the two coincide
  for a first recurrence after platinum-based first-line treatment). PFI of exactly 16 months
  scores 0 ("< 16"); CA-125 of exactly 105 U/mL scores 0 ("> 105"). Points are summed in
  tenths (integers), so 0.8 + 1.5 + 2.4 is exactly 4.7 (low risk).
* MSKCC: **Decision** ``dfi_column="pfi_months"``: the disease-free interval is taken as the
  platinum-free interval. Groups: DFI < 6 -> not applicable; 6 <= DFI <= 12 -> "6-12";
  12 < DFI <= 30 -> "12-30"; DFI > 30 -> ">30". **Decision** ``mskcc_month_12_group="6-12"``:
  exactly 12 months belongs to 6-12 (6-12 and 12-30, as the groups are usually written, share
  12; the paper's abstract, "between 13 months and 30 months", puts 12 in 6-12);
  ``"12-30"`` moves it up. Exactly 30 months is in 12-30 (the paper's top group is "> 30").

``score_for_auc`` ranks patients by each score, higher = more likely complete resection:
AGO positive 1 / negative 0; iMODEL ``-points``; MSKCC offer 2 / consider 1 / no 0. NA where
the score is NA (including iMODEL ``"ok_with_missing"``, whose total is unknown).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np
import pandas as pd

from .errors import InvalidInputError
from .io import _STAGE_RE, CA125_MAX, CLINICAL_NUMBERS, RECURRENCE_PATTERNS, _boolean_word, _parse_censored_flags
from .settings import _SettingsMixin, with_provenance

__all__ = [
    "ScoreSettings",
    "with_model_provenance",
    "AgoResult",
    "ImodelResult",
    "MskccResult",
    "ImodelItem",
    "ago_score",
    "imodel_score",
    "mskcc_category",
    "published_scores",
    "score_for_auc",
    "AGO_ASCITES_LIMIT_ML",
    "IMODEL_ITEMS",
    "IMODEL_PFI_CUT_MONTHS",
    "IMODEL_CA125_CUT",
    "IMODEL_LOW_RISK_MAX",
    "MSKCC_RECOMMENDATIONS",
    "MSKCC_DFI_GROUPS",
    "PUBLISHED_SCORE_COLUMNS",
    "STATUSES",
]

# --------------------------------------------------------------------------- constants

STATUS_OK = "ok"
STATUS_OK_WITH_MISSING = "ok_with_missing"
STATUS_MISSING = "missing_input"
STATUS_NOT_APPLICABLE = "not_applicable"
STATUS_INVALID = "invalid_input"
STATUSES = (STATUS_OK, STATUS_OK_WITH_MISSING, STATUS_MISSING, STATUS_NOT_APPLICABLE, STATUS_INVALID)

#: AGO: ascites must be strictly below this volume (mL) for a positive score (Harter 2006).
AGO_ASCITES_LIMIT_ML = 500.0


@dataclass(frozen=True)
class ImodelItem:
    """One iMODEL risk item: the clinical column it reads, its points and its criterion."""

    column: str
    points: float
    criterion: str

    @property
    def tenths(self) -> int:
        return round(self.points * 10)


#: iMODEL items and points (Tian WJ et al., Ann Surg Oncol 2012;19:597-604).
IMODEL_ITEMS = (
    ImodelItem("figo_stage", 0.8, "FIGO III-IV"),
    ImodelItem("primary_residual_disease", 1.5, "residual disease after primary surgery"),
    ImodelItem("pfi_months", 2.4, "PFI < 16 months"),
    ImodelItem("ecog", 2.4, "ECOG 2-3"),
    ImodelItem("ca125_at_recurrence", 1.8, "CA-125 > 105 U/mL"),
    ImodelItem("ascites_ml", 3.0, "ascites present"),
)
IMODEL_PFI_CUT_MONTHS = 16.0  # PFI strictly below scores
IMODEL_CA125_CUT = 105.0  # CA-125 strictly above scores
IMODEL_LOW_RISK_MAX = 4.7  # total <= 4.7 is low risk
_LOW_RISK_MAX_TENTHS = round(IMODEL_LOW_RISK_MAX * 10)
_IMODEL_MAX_POINTS = sum(item.tenths for item in IMODEL_ITEMS) / 10   # 11.9

MSKCC_RECOMMENDATIONS = ("offer", "consider", "no")
MSKCC_DFI_GROUPS = ("6-12", "12-30", ">30")
_MSKCC_NOT_APPLICABLE_GROUP = "<6"
_ALL_DFI_GROUPS = (_MSKCC_NOT_APPLICABLE_GROUP,) + MSKCC_DFI_GROUPS
_MSKCC_ORDINAL = {"offer": 2.0, "consider": 1.0, "no": 0.0}
_MSKCC_WORDS = {
    "offer": "offer secondary cytoreduction",
    "consider": "consider secondary cytoreduction",
    "no": "no secondary cytoreduction",
}
_MSKCC_TABLE_FILE = "mskcc_guideline.csv"
_PATTERN_INDEX = {pattern: i for i, pattern in enumerate(RECURRENCE_PATTERNS)}

PUBLISHED_SCORE_COLUMNS = (
    "patient_id",
    "ago_positive", "ago_status", "ago_reason",
    "imodel_points", "imodel_low_risk", "imodel_status", "imodel_reason",
    "mskcc_recommendation", "mskcc_status", "mskcc_reason",
)


@dataclass(frozen=True)
class ScoreSettings(_SettingsMixin):
    """Decisions taken where the published scores are silent (see the module docstring).

    Parameters
    ----------
    imodel_ecog4 : {"poor", "not_applicable"}
        iMODEL gives 2.4 points for ECOG 2-3 and says nothing of ECOG 4. **Decision**: "poor"
        counts ECOG 4 with 2-3; "not_applicable" gives such patients status
        ``"not_applicable"``.
    mskcc_month_12_group : {"6-12", "12-30"}
        MSKCC DFI group of a DFI of exactly 12 months. **Decision**: "6-12".
    dfi_column : str
        Clinical column used as the MSKCC disease-free interval, in months. **Decision**:
        ``"pfi_months"`` (the platinum-free interval as a proxy).
    """

    kind: ClassVar[str] = "scores"

    imodel_ecog4: str = "poor"
    mskcc_month_12_group: str = "6-12"
    dfi_column: str = "pfi_months"

    def __post_init__(self):
        if self.imodel_ecog4 not in ("poor", "not_applicable"):
            raise InvalidInputError(
                f"setting 'imodel_ecog4' must be 'poor' or 'not_applicable', got {self.imodel_ecog4!r}"
            )
        if self.mskcc_month_12_group not in ("6-12", "12-30"):
            raise InvalidInputError(
                "setting 'mskcc_month_12_group' must be '6-12' or '12-30', "
                f"got {self.mskcc_month_12_group!r}"
            )
        if not isinstance(self.dfi_column, str) or not self.dfi_column:
            raise InvalidInputError(f"setting 'dfi_column' must be a column name, got {self.dfi_column!r}")


_DEFAULT_SETTINGS = ScoreSettings()

# --------------------------------------------------------------------------- results


def _na_to_none(value):
    return None if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)) else value


def _result_frame(values: dict[str, Any], inputs: Mapping[str, Any], booleans=()) -> pd.DataFrame:
    frame = pd.DataFrame([{**values, **inputs}])
    for column in booleans:
        frame[column] = frame[column].astype("boolean")
    return frame


@dataclass(frozen=True)
class AgoResult:
    """AGO score of one patient.

    Attributes
    ----------
    positive : bool or None
        True/False, or None when a missing input could change the answer.
    status : str
        ``"ok"``, ``"ok_with_missing"`` or ``"missing_input"`` (see module docstring).
    reason : str
        Human-readable explanation (which criterion failed, which input is missing).
    inputs : dict
        The inputs as given.
    """

    positive: bool | None
    status: str
    reason: str
    inputs: dict

    @property
    def score_for_auc(self) -> float:
        """1.0 if positive, 0.0 if negative, NaN if unknown (higher = likelier complete resection)."""
        return np.nan if self.positive is None else float(self.positive)

    def to_frame(self) -> pd.DataFrame:
        """One row: ``ago_positive`` (boolean), ``ago_status``, ``ago_reason``, then the inputs."""
        return _result_frame(
            {"ago_positive": self.positive, "ago_status": self.status, "ago_reason": self.reason},
            self.inputs, booleans=("ago_positive",),
        )


@dataclass(frozen=True)
class ImodelResult:
    """iMODEL score of one patient.

    Attributes
    ----------
    points : float or None
        Total points (0-11.9, one decimal), None when an item is missing or not applicable.
    low_risk : bool or None
        ``points <= 4.7``; also known with missing items when the whole possible range lies on
        one side of 4.7; else None.
    status, reason : str
        See the module docstring.
    points_min, points_max : float or None
        Range of the total given the missing items (equal when nothing is missing; None when
        not applicable).
    items : dict
        Points awarded per item (column name -> 0.0 or the item's points; None if missing).
    inputs : dict
        The inputs as given.
    """

    points: float | None
    low_risk: bool | None
    status: str
    reason: str
    points_min: float | None
    points_max: float | None
    items: dict
    inputs: dict

    @property
    def score_for_auc(self) -> float:
        """``-points`` (higher = likelier complete resection), NaN if the total is unknown."""
        return np.nan if self.points is None else 0.0 - self.points     # 0 points: 0.0, not -0.0

    def to_frame(self) -> pd.DataFrame:
        """One row: ``imodel_points``, ``imodel_low_risk`` (boolean), ``imodel_status``,
        ``imodel_reason``, ``imodel_points_min``, ``imodel_points_max``, then the inputs."""
        return _result_frame(
            {
                "imodel_points": np.nan if self.points is None else self.points,
                "imodel_low_risk": self.low_risk,
                "imodel_status": self.status,
                "imodel_reason": self.reason,
                "imodel_points_min": np.nan if self.points_min is None else self.points_min,
                "imodel_points_max": np.nan if self.points_max is None else self.points_max,
            },
            self.inputs, booleans=("imodel_low_risk",),
        )


@dataclass(frozen=True)
class MskccResult:
    """MSKCC guideline category of one patient.

    Attributes
    ----------
    recommendation : str or None
        ``"offer"``, ``"consider"`` or ``"no"`` (secondary cytoreduction); None when not
        applicable or undetermined.
    dfi_group : str or None
        ``"<6"``, ``"6-12"``, ``"12-30"``, ``">30"``; None if the DFI is missing.
    status, reason : str
        See the module docstring.
    inputs : dict
        The inputs as given.
    """

    recommendation: str | None
    dfi_group: str | None
    status: str
    reason: str
    inputs: dict

    @property
    def score_for_auc(self) -> float:
        """Ordinal offer 2 / consider 1 / no 0 (higher = likelier complete resection), else NaN."""
        return _MSKCC_ORDINAL.get(self.recommendation, np.nan)

    def to_frame(self) -> pd.DataFrame:
        """One row: ``mskcc_recommendation``, ``mskcc_dfi_group``, ``mskcc_status``,
        ``mskcc_reason``, then the inputs."""
        return _result_frame(
            {
                "mskcc_recommendation": self.recommendation,
                "mskcc_dfi_group": self.dfi_group,
                "mskcc_status": self.status,
                "mskcc_reason": self.reason,
            },
            self.inputs,
        )


# --------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class _Parsed:
    """One input column, parsed: one entry per patient in each sequence (list or array).

    ``values`` is either a float64 array, NaN where absent, with no message anywhere (the
    route of :func:`_parse_numeric_array`), or a list or object array of floats (numbers) or
    str (stage "I".."IV", pattern), None where absent. ``codes``, when the parse knows them
    (the text route), are integers per patient: patients with the same code have the same
    value, missing flag and message (:func:`_row_codes`)."""

    values: Sequence  # float (numbers) or str (stage "I".."IV", pattern); None where absent
    missing: Sequence  # bool: empty in the input
    message: Sequence  # str: "" or why the value is invalid (present but breaking the contract)
    codes: np.ndarray | None = field(default=None, compare=False)

    @classmethod
    def from_arrays(cls, values: np.ndarray, missing: np.ndarray, invalid: np.ndarray,
                    message: np.ndarray) -> _Parsed:
        absent = (missing | invalid).tolist()
        return cls([None if a else v for v, a in zip(values.tolist(), absent)], missing.tolist(), message.tolist())


_FIX = "; correct it, or leave it empty if unknown"

# kind -> (whole number?, lower bound, upper bound, rule): the bounds are the data contract's,
# the ones read_clinical applies (io.CLINICAL_NUMBERS; CA-125 io.CA125_MAX), so that a value
# read_clinical refuses is never scored here, nor the reverse
_NUMERIC_RULES = {
    "ecog": (True, CLINICAL_NUMBERS["ecog"].low, CLINICAL_NUMBERS["ecog"].high,
             "ECOG performance status must be a whole number %g-%g"),
    "ascites_ml": (False, CLINICAL_NUMBERS["ascites_ml"].low, CLINICAL_NUMBERS["ascites_ml"].high,
                   "ascites must be a volume in mL, %g-%g (0 if none)"),
    "primary_residual_disease": (
        True, 0.0, 1.0, "use 0 (complete resection at primary surgery) or 1 (any residual disease)"),
    "pfi_months": (False, CLINICAL_NUMBERS["pfi_months"].low, CLINICAL_NUMBERS["pfi_months"].high,
                   "the interval must be a number of months, %g-%g"),
    "ca125_at_recurrence": (False, 0.0, CA125_MAX, "CA-125 at recurrence must be a number of U/mL, %g-%g"),
}
_NUMERIC_RULES = {kind: (whole, float(lo), float(hi), rule % (lo, hi) if "%g" in rule else rule)
                  for kind, (whole, lo, hi, rule) in _NUMERIC_RULES.items()}
#: 0/1 flags: true/false and yes/no (any case) and booleans read as 1/0, as read_clinical reads them
_FLAG_KINDS = frozenset({"primary_residual_disease"})

# The reference parse, with pandas: any value of any type. A typed (numeric) column is read as
# numbers; an object column value by value as text, so "12" and " 12 " count as 12.


def _as_text(raw: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Stripped strings and the missing mask (None, NaN, NA or blank)."""
    text = raw.astype("string").str.strip()
    missing = (raw.isna() | (text == "").fillna(True)).to_numpy(dtype=bool)
    return text, missing


def _messages(invalid: np.ndarray, column: str, raw: pd.Series, rule: str) -> np.ndarray:
    if not invalid.any():
        return np.full(len(invalid), "", dtype=object)
    shown = raw.astype("string").str.strip().fillna("").to_numpy(dtype=object).astype(str).astype(object)
    return np.where(invalid, f"{column} = " + shown + f": {rule}{_FIX}", "")


def _parse_numeric(raw: pd.Series, column: str, kind: str) -> _Parsed:
    integer, lo, hi, rule = _NUMERIC_RULES[kind]
    if pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype):
        values = raw.to_numpy(dtype=float, na_value=np.nan)
        missing = np.isnan(values)
    else:  # text (e.g. a CSV read without types): numbers written as text are accepted
        text, missing = _as_text(raw)
        if pd.api.types.is_bool_dtype(raw.dtype):
            values = (raw.to_numpy(dtype=float, na_value=np.nan) if kind in _FLAG_KINDS
                      else np.full(len(raw), np.nan))
        else:
            values = pd.to_numeric(text.where(~missing), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            if kind in _FLAG_KINDS:   # the words (and booleans, as text) read_clinical reads as 1/0
                words = text.where(~missing).map(_boolean_word, na_action="ignore")
                values = np.where(np.isnan(values), words.to_numpy(dtype=float, na_value=np.nan), values)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(values) | (values < lo) | (values > hi)
        if integer:
            bad |= np.floor(values) != values
    invalid = ~missing & bad
    return _Parsed.from_arrays(values, missing, invalid, _messages(invalid, column, raw, rule))


def _parse_stage(raw: pd.Series, column: str = "figo_stage") -> _Parsed:
    text, missing = _as_text(raw)
    stage = text.str.extract(_STAGE_RE.pattern, flags=_STAGE_RE.flags)[0].str.upper()
    invalid = ~missing & stage.isna().to_numpy(dtype=bool)
    values = stage.astype(object).to_numpy(dtype=object)
    rule = "unknown FIGO stage; use I, II, III or IV (substages such as IIIC accepted)"
    return _Parsed.from_arrays(values, missing, invalid, _messages(invalid, column, raw, rule))


def _parse_pattern(raw: pd.Series, column: str = "recurrence_pattern") -> _Parsed:
    text, missing = _as_text(raw)
    pattern = text.str.lower()
    invalid = ~missing & ~pattern.isin(RECURRENCE_PATTERNS).fillna(False).to_numpy(dtype=bool)
    values = pattern.astype(object).to_numpy(dtype=object)
    rule = f"unknown recurrence pattern; use one of {list(RECURRENCE_PATTERNS)}"
    return _Parsed.from_arrays(values, missing, invalid, _messages(invalid, column, raw, rule))


_TEXT_PARSERS = {"figo_stage": _parse_stage, "recurrence_pattern": _parse_pattern}

# The fast route for what read_clinical produces: numbers of plain types checked in Python (a
# long float64 array as a whole), text parsed once per distinct string (by the reference parse,
# cached; the distinct strings of a long column found by pandas' hashing, of a short one in
# Python, so that one patient is scored without pandas). It
# gives what the reference gives for an object column of the same values; a value it cannot
# vouch for (a number written as text, a bool, a number in a text column, an invalid number,
# whose message the reference writes) sends its whole column to the reference.
_INT_TYPES = frozenset({int, np.int64, np.int32, np.int16, np.int8, np.uint64, np.uint32, np.uint16, np.uint8})
_EXACT_INT = 2**53  # beyond, an integer may round differently through text
_MANY_DISTINCT = 64  # more distinct text values than this: the reference parses the column
_SHORT = 64  # a column of at most this many values is looked at without pandas (one patient)
_NA = pd.NA
_ARRAYS = (pd.Series, np.ndarray)  # columns that carry a type


def _is_na(value) -> bool:
    return value is None or value is _NA or (isinstance(value, float) and value != value)


def _parse_numeric_fast(values: list, kind: str) -> _Parsed | None:
    numbers, missing = [], []
    for value in values:
        if type(value) is float or type(value) is np.float64:
            value = None if value != value else float(value)  # NaN: missing
        elif value is None or value is _NA:
            value = None
        elif type(value) in _INT_TYPES and -_EXACT_INT < value < _EXACT_INT:
            value = float(value)
        else:
            return None
        numbers.append(value)
        missing.append(value is None)
    if _out_of_rule(np.array([math.nan if v is None else v for v in numbers], dtype=float), kind).any():
        return None
    return _Parsed(numbers, missing, [""] * len(numbers))


def _out_of_rule(values: np.ndarray, kind: str) -> np.ndarray:
    """Where a float64 column (NaN missing) holds a value the ``kind``'s rule refuses (outside
    its range, infinite, or not whole where it must be): the pre-checks accept a column
    only when this is nowhere true; the reference parse then says why."""
    integer, lo, hi, _ = _NUMERIC_RULES[kind]
    present = ~np.isnan(values)
    with np.errstate(invalid="ignore"):
        bad = present & ~((values >= lo) & (values <= hi) & (values != math.inf))
        if integer:
            bad |= present & (np.floor(values) != values)
    return bad


@functools.lru_cache(maxsize=1024)
def _parse_text_value(column: str, kind: str, value: str) -> tuple:
    """(value, missing, message) of one text value, by the reference parse."""
    parsed = _TEXT_PARSERS[kind](pd.Series([value], dtype=object), column)
    return parsed.values[0], parsed.missing[0], parsed.message[0]


_MISSING_ENTRY = (None, True, "")
_NO_MESSAGE = np.array("", dtype=object)


def _object_codes(values) -> tuple[list | np.ndarray, list]:
    """``(codes, distinct)`` of a sequence of values: ``distinct`` its present values in order
    of first appearance (equal values, e.g. ``1`` and ``1.0``, are one), ``codes`` per value
    the index in ``distinct``, -1 where the value is missing (None, NaN or NA; on a long
    column pandas' missing values, which also count NaT and a Decimal NaN). A short column is
    looked at value by value in Python (no pandas: the one-patient route; ``codes`` a list);
    a long one hashed by ``pandas.factorize``, without a Python step per value (``codes`` an
    int64 array)."""
    if len(values) <= _SHORT:
        lookup: dict = {}
        values = values.tolist() if isinstance(values, _ARRAYS) else values
        return [-1 if _is_na(value) else lookup.setdefault(value, len(lookup)) for value in values], list(lookup)
    codes, distinct = pd.factorize(_as_objects(values))
    return codes.astype(np.int64, copy=False), distinct.tolist()


def _parse_text_fast(values, column: str, kind: str) -> _Parsed | None:
    codes, distinct = _object_codes(values)
    if len(distinct) > _MANY_DISTINCT or any(type(value) is not str for value in distinct):
        return None
    # each distinct text parsed once; code -1 (missing) takes the entry appended last
    entries = [_parse_text_value(column, kind, value) for value in distinct] + [_MISSING_ENTRY]
    if len(codes) <= _SHORT:    # a few patients: lists cost less than arrays
        rows = [entries[code] for code in codes]
        return _Parsed(*([row[k] for row in rows] for k in range(3)), codes=codes)
    values, missing, message = (_objects([entry[k] for entry in entries])[codes] for k in range(3))
    return _Parsed(values, missing.astype(bool), message, codes=codes)


def _parse_numeric_array(values: np.ndarray, kind: str) -> _Parsed | None:
    """:func:`_parse_numeric_fast` of a float64 array (NaN missing), without a Python step per value."""
    if _out_of_rule(values, kind).any():
        return None
    return _Parsed(values, np.isnan(values), np.broadcast_to(_NO_MESSAGE, values.shape))  # "" everywhere, not copied


def _parse(raw, column: str, kind: str) -> _Parsed:
    """Parse one input column: a sequence of values, a numpy array or a pandas Series."""
    if isinstance(raw, np.ndarray) and raw.dtype == np.float64 and len(raw) > _SHORT and kind not in _TEXT_PARSERS:
        fast = _parse_numeric_array(raw, kind)
        return fast if fast is not None else _parse_numeric(pd.Series(raw), column, kind)
    if kind in _TEXT_PARSERS and isinstance(raw, np.ndarray) and raw.dtype == object:
        values = raw       # its items are what tolist() gives: no copy
    else:
        values = raw.tolist() if isinstance(raw, _ARRAYS) else list(raw)
    if kind in _TEXT_PARSERS:
        fast = _parse_text_fast(values, column, kind)
    else:
        fast = _parse_numeric_fast(values, kind)
    if fast is not None:
        return fast
    if not isinstance(raw, pd.Series):  # a typed numpy array keeps its type, like a typed column
        raw = pd.Series(raw) if isinstance(raw, np.ndarray) else pd.Series(values, dtype=object)
    if kind in _TEXT_PARSERS:
        return _TEXT_PARSERS[kind](raw, column)
    return _parse_numeric(raw, column, kind)


_FLAG_RULE = "use true or false (also yes/no, 1/0), or leave it empty if the value was measured"


def _censored_flags(censored) -> tuple[np.ndarray, list[str]]:
    """``(flags, messages)`` of the ``ca125_at_recurrence_censored`` values: True where the
    value was reported below the assay's limit. Read by the readers' rule of a ``censored``
    column (:func:`ca125kinetics.io._parse_censored_flags`: a bool, 0 or 1, or the words
    true/false, yes/no, 1/0 in any case; empty is not censored). Any other value is not
    guessed: its message says why."""
    if isinstance(censored, np.ndarray) and censored.dtype == bool:
        return censored, [""] * len(censored)
    given = censored.tolist() if isinstance(censored, _ARRAYS) else list(censored)
    values = np.empty(len(given), dtype=object)
    values[:] = given
    flags, bad, _ = _parse_censored_flags(values)
    return flags, [f"ca125_at_recurrence_censored = {v}: {_FLAG_RULE}" if b else "" for v, b in zip(given, bad)]


def _below_limit(parsed: _Parsed, censored, n: int) -> _Parsed:
    """CA-125 at recurrence reported below the assay's limit (``"<200"``, ``censored`` true):
    the value is an upper bound. Below a limit of 105 U/mL or less it is not above 105 (the
    iMODEL item scores 0, as the limit itself gives); below a higher limit it may be either,
    so the value is unknown (missing), never read as the limit. A flag that is neither true
    nor false (:func:`_censored_flags`) makes the value invalid, with the flag's message."""
    flags, flag_messages = _censored_flags(censored)
    if len(flags) != n:
        raise InvalidInputError(f"ca125_at_recurrence_censored must hold one flag per patient ({n}), "
                                f"got {len(flags)}", column="ca125_at_recurrence_censored")
    values = parsed.values if _by_value(parsed) else np.array(
        [math.nan if v is None else v for v in parsed.values], dtype=float)
    with np.errstate(invalid="ignore"):
        unknown = flags & (values > IMODEL_CA125_CUT)
    bad = np.array([bool(m) for m in flag_messages], dtype=bool)
    if not unknown.any() and not bad.any():
        return parsed
    missing = np.asarray(parsed.missing, dtype=bool) | unknown
    if _by_value(parsed) and not bad.any():     # a float64 array carries no message
        return _Parsed(np.where(unknown, np.nan, values), missing, parsed.message)
    messages = ["; ".join([m for m in (own, flag) if m]) for own, flag in zip(list(parsed.message), flag_messages)]
    return _Parsed([None if u or b or v != v else v
                    for v, u, b in zip(values.tolist(), unknown.tolist(), bad.tolist())], missing.tolist(), messages)


def _unknown(n: int) -> _Parsed:
    """A column absent from the input: every value missing."""
    return _Parsed([None] * n, [True] * n, [""] * n)


# --------------------------------------------------------------------------- rules (one patient)
# Each rule scores one patient from its parsed inputs: ``names`` (the input columns, in order),
# ``values`` (None where absent), ``missing`` and ``messages`` (invalid inputs). Plain Python:
# one patient scores in microseconds, a cohort of thousands in tens of milliseconds.


def _g(number: float) -> str:
    """A number as "%g" text; -0.0 reads "0"."""
    return "%g" % (number + 0.0)


def _missing_names(names, missing) -> str:
    return ", ".join([name for name, absent in zip(names, missing) if absent]) if any(missing) else ""


def _invalid_reason(messages) -> str:
    """'' if every input is valid, else 'invalid input: ' and each reason."""
    return "invalid input: " + "; ".join([m for m in messages if m]) if any(messages) else ""


def _ago_rule(names, values, missing, messages) -> tuple:
    """(positive, status, reason); inputs ecog, ascites_ml, primary_residual_disease."""
    invalid = _invalid_reason(messages)
    if invalid:
        return None, STATUS_INVALID, invalid
    ecog, ascites, residual = values
    failed = []
    if ecog is not None and ecog != 0:
        failed.append(f"ECOG {_g(ecog)} (needs 0)")
    if ascites is not None and ascites >= AGO_ASCITES_LIMIT_ML:
        failed.append(f"ascites {_g(ascites)} mL (needs < {AGO_ASCITES_LIMIT_ML:g} mL)")
    if residual is not None and residual != 0:
        failed.append("residual disease after primary surgery (needs complete resection)")
    lacking = _missing_names(names, missing)
    if failed:  # one failed criterion is enough, whatever the missing inputs
        reason = "AGO negative: " + "; ".join(failed)
        if lacking:
            return False, STATUS_OK_WITH_MISSING, f"{reason}; missing {lacking} cannot change a negative score"
        return False, STATUS_OK, reason
    if lacking:
        return None, STATUS_MISSING, (f"AGO unknown: missing {lacking}; every criterion present is met, "
                                      "so the missing value(s) decide")
    return True, STATUS_OK, (f"AGO positive: ECOG 0, ascites {_g(ascites)} mL < {AGO_ASCITES_LIMIT_ML:g} mL, "
                             "complete resection at primary surgery")


# whether each iMODEL item scores, given its (present) value
_IMODEL_SCORES = {
    "figo_stage": lambda stage: stage in ("III", "IV"),
    "primary_residual_disease": lambda residual: residual == 1,
    "pfi_months": lambda pfi: pfi < IMODEL_PFI_CUT_MONTHS,
    "ecog": lambda ecog: ecog >= 2,  # ECOG 4: see ScoreSettings.imodel_ecog4
    "ca125_at_recurrence": lambda ca125: ca125 > IMODEL_CA125_CUT,
    "ascites_ml": lambda ascites: ascites > 0,
}
_IMODEL_TENTHS = tuple(item.tenths for item in IMODEL_ITEMS)
_ECOG4_SCORED = "ECOG 4 counted as ECOG 2-3 (settings.imodel_ecog4 = 'poor')"


def _imodel_rule(names, values, missing, messages, settings: ScoreSettings) -> tuple:
    """(points, low_risk, status, reason, points_min, points_max, item points); inputs in the
    order of ``IMODEL_ITEMS``."""
    scoring = tuple(None if value is None else _IMODEL_SCORES[item.column](value)
                    for item, value in zip(IMODEL_ITEMS, values))
    ecog = values[names.index("ecog")]
    ecog4_excluded = settings.imodel_ecog4 == "not_applicable" and ecog == 4
    ecog4_possible = settings.imodel_ecog4 == "not_applicable" and ecog is None
    ecog4_scored = settings.imodel_ecog4 == "poor" and ecog == 4
    return _imodel_outcome(names, scoring, missing, messages, ecog4_excluded, ecog4_possible, ecog4_scored)


@functools.lru_cache(maxsize=4096)  # the values matter only through `scoring`: few combinations
def _imodel_outcome(names, scoring, missing, messages, ecog4_excluded: bool, ecog4_possible: bool = False,
                    ecog4_scored: bool = False) -> tuple:
    """iMODEL from whether each item scores (True / False, None where absent). With
    ``ecog4_possible`` (ECOG unknown, ECOG 4 not applicable) no risk group is certain: the
    patient may be outside the score. With ``ecog4_scored`` (ECOG 4, counted with 2-3) the
    reason says so: the paper's item is ECOG 2-3."""
    # integer tenths keep sums exact: 0.8 + 1.5 + 2.4 is 47 tenths, not 4.699999...
    awarded = [tenths if scores else 0 for tenths, scores in zip(_IMODEL_TENTHS, scoring)]
    items = tuple(np.nan if scores is None else tenths / 10 for scores, tenths in zip(scoring, awarded))
    lo = sum(awarded)
    hi = lo + sum(tenths for tenths, absent in zip(_IMODEL_TENTHS, missing) if absent)
    invalid = _invalid_reason(messages)
    if invalid:
        return np.nan, None, STATUS_INVALID, invalid, np.nan, np.nan, items
    if ecog4_excluded:
        return (np.nan, None, STATUS_NOT_APPLICABLE,
                "ECOG 4 is outside iMODEL's ECOG range (settings.imodel_ecog4 = 'not_applicable')",
                np.nan, np.nan, items)
    low, high = hi <= _LOW_RISK_MAX_TENTHS, lo > _LOW_RISK_MAX_TENTHS
    group = f"<= {IMODEL_LOW_RISK_MAX:g}: low risk" if low else f"> {IMODEL_LOW_RISK_MAX:g}: high risk"
    lacking = _missing_names(names, missing)
    if not lacking:
        scored = " + ".join([f"{_ECOG4_SCORED if ecog4_scored and item.column == 'ecog' else item.criterion} "
                             f"{item.points:.1f}" for item, tenths in zip(IMODEL_ITEMS, awarded) if tenths]) or "no risk item"
        return lo / 10, low, STATUS_OK, "iMODEL %.1f = %s; %s" % (lo / 10, scored, group), lo / 10, hi / 10, items
    between = "total between %.1f and %.1f" % (lo / 10, hi / 10)
    if ecog4_possible:
        return (np.nan, None, STATUS_MISSING,
                f"iMODEL unknown: missing {lacking}; {between}, but ECOG 4 would leave the patient unscored "
                "(settings.imodel_ecog4 = 'not_applicable')", lo / 10, hi / 10, items)
    if low or high:  # the whole range lies on one side of 4.7
        return (np.nan, low, STATUS_OK_WITH_MISSING,
                f"iMODEL total unknown: missing {lacking}; {between}, {group} whatever the missing items",
                lo / 10, hi / 10, items)
    return (np.nan, None, STATUS_MISSING,
            f"iMODEL unknown: missing {lacking}; {between}, on both sides of {IMODEL_LOW_RISK_MAX:g}",
            lo / 10, hi / 10, items)


@functools.lru_cache(maxsize=1)
def _mskcc_table() -> np.ndarray:
    """Outcome by (index in ``_ALL_DFI_GROUPS``, index in ``RECURRENCE_PATTERNS``), read from the
    packaged table and checked for completeness; the "<6" row is "not_applicable"."""
    path = resources.files("ca125kinetics") / "data" / _MSKCC_TABLE_FILE
    with resources.as_file(path) as file:
        table = pd.read_csv(file, comment="#", dtype=str, keep_default_na=False)
    expected = {(g, p) for g in MSKCC_DFI_GROUPS for p in RECURRENCE_PATTERNS}
    cells = list(zip(table["dfi_group"], table["recurrence_pattern"]))
    if (sorted(cells) != sorted(expected)
            or not table["recommendation"].isin(MSKCC_RECOMMENDATIONS).all()):
        raise InvalidInputError(
            f"the MSKCC table must have one row per DFI group {list(MSKCC_DFI_GROUPS)} and pattern "
            f"{list(RECURRENCE_PATTERNS)}, each with a recommendation in {list(MSKCC_RECOMMENDATIONS)}; "
            "reinstall the package to restore the shipped table",
            source=str(path),
        )
    out = np.full((len(_ALL_DFI_GROUPS), len(RECURRENCE_PATTERNS)), STATUS_NOT_APPLICABLE, dtype=object)
    for (group, pattern), recommendation in zip(cells, table["recommendation"]):
        out[_ALL_DFI_GROUPS.index(group), RECURRENCE_PATTERNS.index(pattern)] = recommendation
    return out


@functools.lru_cache(maxsize=1)
def _mskcc_outcomes() -> tuple[tuple, ...]:
    """``_mskcc_table`` with an extra last group and pattern meaning "unknown": the outcome on
    which every cell the unknown input could pick agrees, else None (undecided)."""
    table = _mskcc_table()
    groups, patterns = table.shape
    out = []
    for g in range(groups + 1):
        row = []
        for p in range(patterns + 1):
            cells = set(table[slice(g, g + 1) if g < groups else slice(None),
                              slice(p, p + 1) if p < patterns else slice(None)].ravel().tolist())
            row.append(cells.pop() if len(cells) == 1 else None)
        out.append(tuple(row))
    return tuple(out)


def _dfi_group_index(dfi: float, settings: ScoreSettings) -> int:
    """Index in ``_ALL_DFI_GROUPS`` of a DFI in months."""
    if dfi < 6:
        return 0
    if dfi < 12 or (dfi == 12 and settings.mskcc_month_12_group == "6-12"):
        return 1
    return 2 if dfi <= 30 else 3


def _mskcc_rule(names, values, missing, messages, settings: ScoreSettings) -> tuple:
    """(recommendation, DFI group, status, reason); inputs the DFI column, recurrence_pattern."""
    dfi, pattern = values
    group = None if dfi is None else _dfi_group_index(dfi, settings)
    group_name = None if group is None else _ALL_DFI_GROUPS[group]
    invalid = _invalid_reason(messages)
    if invalid:
        return None, group_name, STATUS_INVALID, invalid
    # an unknown input takes the last index: the outcome if all its possible values agree
    outcome = _mskcc_outcomes()[-1 if group is None else group][-1 if pattern is None else _PATTERN_INDEX[pattern]]
    lacking = _missing_names(names, missing)
    if outcome is None:
        return None, group_name, STATUS_MISSING, f"MSKCC unknown: missing {lacking}; the recommendation depends on it"
    dfi_text = f"DFI {_g(dfi)} months (from {names[0]})"  # decided: the DFI is known (< 6 differs)
    if outcome == STATUS_NOT_APPLICABLE:
        return (None, group_name, STATUS_NOT_APPLICABLE,
                f"{dfi_text} is < 6: platinum-resistant recurrence, outside the MSKCC guideline")
    words = _MSKCC_WORDS[outcome]
    if lacking:
        return outcome, group_name, STATUS_OK_WITH_MISSING, f"MSKCC: {words}; missing {lacking} cannot change it"
    return outcome, group_name, STATUS_OK, f"MSKCC: {words}: {dfi_text} in group {group_name}, {pattern} recurrence"


def _objects(items: list) -> np.ndarray:
    """A 1-d object array of the items (np.array would nest sequences)."""
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


def _as_objects(items) -> np.ndarray:
    """:func:`_objects` of a sequence; an object array as it is (not copied)."""
    return items if isinstance(items, np.ndarray) and items.dtype == object else _objects(items)


def _distinct(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(first, codes)`` of a numeric array: ``codes`` numbers its distinct values 0..k-1
    (NaN equals NaN, -0.0 equals 0.0) and ``first[c]`` is the first row holding code ``c``.
    A long column is hashed (``pandas.factorize``, codes in order of first appearance); a
    short one sorted by numpy, which costs less for a few rows and keeps the one-patient
    route free of pandas."""
    if len(values) <= _SHORT:
        _, first, codes = np.unique(values, return_index=True, return_inverse=True)
        return first, codes.reshape(-1).astype(np.int64, copy=False)
    codes, _ = pd.factorize(values, use_na_sentinel=False)
    first = np.flatnonzero(np.diff(np.maximum.accumulate(codes), prepend=-1) > 0)    # a code not seen before
    return first, codes.astype(np.int64, copy=False)


def _codes(column: np.ndarray) -> tuple[np.ndarray, int]:
    """``(codes, k)``: the same code 0..k-1 for equal values of one column (numbers as
    :func:`_distinct` compares them; other values as :func:`_object_codes` does, the missing
    ones (None, NaN, NA) one value: a parsed column holds None only)."""
    if column.dtype == bool:
        return column.astype(np.int64), 2
    if column.dtype != object:
        first, codes = _distinct(column)
        return codes, len(first)
    codes, distinct = _object_codes(column)
    return np.asarray(codes, dtype=np.int64) % (len(distinct) + 1), len(distinct) + 1     # missing (-1) takes the last code


def _column_codes(columns: Sequence[tuple[np.ndarray, int]]) -> np.ndarray | None:
    """One code per row, equal for rows equal in every one of ``columns`` (``(codes, k)``
    pairs, as :func:`_codes` returns them)."""
    code, size = None, 1
    for c, k in columns:
        if code is None:
            code, size = c, k
            continue
        if size * k >= 2**62:     # keep the combined code small: renumber it
            first, code = _distinct(code)
            size = len(first)
        code, size = code * k + c, size * k
    return code


def _by_value(parsed: _Parsed) -> bool:
    """The column is a float64 array (NaN where absent, no message): its values alone tell
    its patients apart."""
    return isinstance(parsed.values, np.ndarray) and parsed.values.dtype == np.float64


def _row_codes(parsed: _Parsed) -> tuple[np.ndarray, int]:
    """``(codes, k)`` of a parsed column: the same code 0..k-1 for patients with the same
    value, missing flag and message (the codes the parse found, when it did)."""
    if parsed.codes is not None:
        first, codes = _distinct(parsed.codes)
    elif _by_value(parsed):
        first, codes = _distinct(parsed.values)
    else:
        first, codes = _distinct(_column_codes([_codes(_as_objects(parsed.values)),
                                                _codes(np.asarray(parsed.missing, dtype=bool)),
                                                _codes(_as_objects(parsed.message))]))
    return codes, len(first)


def _rule_columns(rule, parsed: Mapping[str, _Parsed], *args, key=None,
                  keep: Sequence[int] | None = None) -> list[tuple[list, np.ndarray]]:
    """``rule`` applied to every patient of the parsed columns (the inputs of the rule), as
    ``(values, codes)`` per output of the rule (``keep``: only the outputs at these
    positions), patient ``i``'s value ``values[codes[i]]`` (``codes`` one array shared by the
    outputs). The rule runs once per distinct combination of its inputs (``key()``:
    ``(codes, k)`` pairs that determine its result; by default the codes of each parsed
    column, :func:`_row_codes`), so a cohort costs about as many calls as it has distinct
    inputs."""
    names = tuple(parsed)
    values = [p.values if isinstance(p.values, np.ndarray) else _objects(p.values) for p in parsed.values()]
    missing = [np.asarray(p.missing, dtype=bool) for p in parsed.values()]
    messages = [_as_objects(p.message) for p in parsed.values()]
    n = len(missing[0]) if missing else 0
    if n <= 1:     # one patient: nothing to share
        first = code = np.arange(n)
    else:
        first, code = _distinct(_column_codes(key() if key is not None else [_row_codes(p) for p in parsed.values()]))
    plain = [[None if v != v else v for v in column[first].tolist()] if column.dtype != object
             else column[first].tolist() for column in values]
    rows = [rule(names, tuple(v), tuple(m), tuple(msg), *args) for v, m, msg in
            zip(zip(*plain), zip(*[m[first].tolist() for m in missing]),
                zip(*[m[first].tolist() for m in messages]))]
    outputs = list(zip(*rows))
    return [(list(outputs[k]), code) for k in (range(len(outputs)) if keep is None else keep)] if rows else []


def _score_all(rule, parsed: Mapping[str, _Parsed], *args, key=None) -> list[tuple]:
    """:func:`_rule_columns` as one tuple per patient."""
    return list(zip(*[_objects(values)[code] for values, code in _rule_columns(rule, parsed, *args, key=key)]))


def _imodel_key(parsed: Mapping[str, _Parsed]) -> list[tuple[np.ndarray, int]]:
    """``(codes, k)`` pairs that determine the iMODEL result (``_imodel_rule`` uses the values
    only through whether each item scores, and ECOG 4): per item, whether it scores (or is
    absent), with its missing flag and message; each worked out once per distinct parsed entry
    where the column is not a float64 array."""
    key = []
    for item in IMODEL_ITEMS:
        p, scores = parsed[item.column], _IMODEL_SCORES[item.column]
        if _by_value(p):    # absent is NaN (missing, no message): 2; else 1 if the item scores
            with np.errstate(invalid="ignore"):
                key.append((np.where(np.isnan(p.values), 2, np.asarray(scores(p.values), dtype=np.int64)), 3))
            continue
        codes, k = _row_codes(p)
        first = np.zeros(k, dtype=np.intp)
        first[codes] = np.arange(len(codes))    # a patient of each code (any one: they are equal)
        entries: dict = {}
        state = [entries.setdefault((None if v is None else bool(scores(v)), m, msg), len(entries)) for v, m, msg in
                 zip(_as_objects(p.values)[first].tolist(), np.asarray(p.missing, dtype=bool)[first].tolist(),
                     _as_objects(p.message)[first].tolist())]
        key.append((np.array(state, dtype=np.int64)[codes], len(entries)))
    # ECOG 4: not applicable, or scored with 2-3 and named so in the reason
    ecog = parsed["ecog"].values
    key.append((np.asarray(ecog == 4 if _by_value(parsed["ecog"]) else [x == 4 for x in ecog], dtype=np.int64), 2))
    return key


# --------------------------------------------------------------------------- per patient


def _parse_one(values: Mapping[str, Any], kinds: Mapping[str, str], patient_id) -> dict[str, _Parsed]:
    """Parse one patient's inputs; raise InvalidInputError naming the first bad column."""
    parsed = {}
    for column, value in values.items():
        if not pd.api.types.is_scalar(value):
            raise InvalidInputError(
                f"{column} must be a single value, got {type(value).__name__}; "
                "use published_scores() to score a cohort",
                patient_id=patient_id, column=column,
            )
        parsed[column] = _parse([value], column, kinds[column])
    bad = [c for c, p in parsed.items() if p.message[0]]
    if bad:
        raise InvalidInputError(
            "; ".join(parsed[c].message[0] for c in bad), patient_id=patient_id, column=bad[0]
        )
    return parsed


def ago_score(ecog, ascites_ml, primary_residual_disease, *, patient_id=None) -> AgoResult:
    """AGO score (DESKTOP) of one patient: positive iff ECOG 0, ascites < 500 mL and complete
    resection at primary surgery.

    Parameters
    ----------
    ecog : int or None
        ECOG performance status at recurrence, 0-4.
    ascites_ml : float or None
        Estimated ascites volume at recurrence in mL (0 if none).
    primary_residual_disease : int or None
        0 = complete resection at primary surgery, 1 = any residual disease.
    patient_id : str, optional
        Only used to say where an input error is.

    Returns
    -------
    AgoResult
        ``positive`` is True/False, or None when a missing input could change the answer.
        A failed criterion makes the score negative whatever the missing inputs are
        (status ``"ok_with_missing"``).

    Raises
    ------
    InvalidInputError
        ECOG outside 0-4 or not whole, negative or non-numeric ascites, residual not 0/1.

    References
    ----------
    Harter P et al., Ann Surg Oncol 2006 (DESKTOP I); Int J Gynecol Cancer 2011 (DESKTOP II);
    N Engl J Med 2021 (DESKTOP III).
    """
    inputs = {"ecog": ecog, "ascites_ml": ascites_ml, "primary_residual_disease": primary_residual_disease}
    parsed = _parse_one(inputs, {c: c for c in inputs}, patient_id)
    positive, status, reason = _score_all(_ago_rule, parsed)[0]
    return AgoResult(positive, status, reason, inputs)


def imodel_score(figo_stage, primary_residual_disease, pfi_months, ecog, ca125_at_recurrence, ascites_ml,
                 *, ca125_at_recurrence_censored: bool = False, patient_id=None,
                 settings: ScoreSettings | None = None) -> ImodelResult:
    """iMODEL (Tian 2012) of one patient.

    ``points = 0.8 [FIGO III-IV] + 1.5 [primary residual] + 2.4 [PFI < 16 months]
    + 2.4 [ECOG 2-3] + 1.8 [CA-125 > 105 U/mL] + 3.0 [ascites > 0 mL]``, 0-11.9;
    low risk iff ``points <= 4.7``.

    Parameters
    ----------
    figo_stage : str or None
        FIGO stage at diagnosis, I-IV (substages such as IIIC accepted).
    primary_residual_disease : int or None
        0 = complete resection at primary surgery, 1 = any residual disease.
    pfi_months : float or None
        Progression/platinum-free interval in months.
    ecog : int or None
        ECOG performance status at recurrence, 0-4 (ECOG 4: ``settings.imodel_ecog4``).
    ca125_at_recurrence : float or None
        CA-125 at recurrence, U/mL.
    ascites_ml : float or None
        Ascites volume at recurrence in mL (0 if none).
    ca125_at_recurrence_censored : bool
        True when ``ca125_at_recurrence`` is an assay limit the value was reported below
        (``"<200"``): above 105 U/mL such a limit leaves the CA-125 item unknown.
    patient_id : str, optional
        Only used to say where an input error is.
    settings : ScoreSettings, optional
        Decisions; defaults to ``ScoreSettings()``.

    Returns
    -------
    ImodelResult
        With missing items the total is None, ``points_min``/``points_max`` bound it and the
        risk group is given when the bounds agree (status ``"ok_with_missing"``).

    Raises
    ------
    InvalidInputError
        Unknown stage, ECOG outside 0-4, negative ascites, PFI or CA-125, residual not 0/1.

    References
    ----------
    Tian WJ et al. A risk model for secondary cytoreductive surgery in recurrent ovarian
    cancer: an evidence-based proposal for patient selection. Ann Surg Oncol 2012;19:597-604.
    """
    settings = settings or _DEFAULT_SETTINGS
    inputs = {"figo_stage": figo_stage, "primary_residual_disease": primary_residual_disease,
              "pfi_months": pfi_months, "ecog": ecog, "ca125_at_recurrence": ca125_at_recurrence,
              "ascites_ml": ascites_ml}
    parsed = _parse_one(inputs, {c: c for c in inputs}, patient_id)
    if ca125_at_recurrence_censored not in (True, False):
        raise InvalidInputError(f"ca125_at_recurrence_censored must be True or False, got "
                                f"{ca125_at_recurrence_censored!r}", patient_id=patient_id,
                                column="ca125_at_recurrence_censored")
    parsed["ca125_at_recurrence"] = _below_limit(parsed["ca125_at_recurrence"], [ca125_at_recurrence_censored], 1)
    points, low_risk, status, reason, lo, hi, items = _score_all(
        _imodel_rule, {i.column: parsed[i.column] for i in IMODEL_ITEMS}, settings)[0]
    return ImodelResult(
        points=_na_to_none(points), low_risk=low_risk, status=status, reason=reason,
        points_min=_na_to_none(lo), points_max=_na_to_none(hi),
        items={i.column: _na_to_none(v) for i, v in zip(IMODEL_ITEMS, items)}, inputs=inputs,
    )


def mskcc_category(dfi_months, recurrence_pattern, *, patient_id=None,
                   settings: ScoreSettings | None = None) -> MskccResult:
    """MSKCC guideline (Chi 2006) recommendation for secondary cytoreduction of one patient.

    Looks up ``data/mskcc_guideline.csv`` by DFI group (6-12, 12-30, > 30 months) and
    recurrence pattern (single, multiple, carcinomatosis). DFI < 6 months -> status
    ``"not_applicable"`` (platinum-resistant, outside the guideline). A DFI of exactly 12
    months is in 6-12 (``settings.mskcc_month_12_group``), exactly 30 in 12-30.

    Parameters
    ----------
    dfi_months : float or None
        Disease-free interval in months (``published_scores`` passes ``pfi_months``).
    recurrence_pattern : str or None
        ``"single"``, ``"multiple"`` (no carcinomatosis) or ``"carcinomatosis"``.
    patient_id : str, optional
        Only used to say where an input error is.
    settings : ScoreSettings, optional
        Decisions; defaults to ``ScoreSettings()``.

    Returns
    -------
    MskccResult

    Raises
    ------
    InvalidInputError
        Negative or non-numeric DFI, unknown pattern.

    References
    ----------
    Chi DS et al. Guidelines and selection criteria for secondary cytoreductive surgery in
    patients with recurrent, platinum-sensitive epithelial ovarian carcinoma. Cancer
    2006;106:1933-1939.
    """
    settings = settings or _DEFAULT_SETTINGS
    inputs = {"dfi_months": dfi_months, "recurrence_pattern": recurrence_pattern}
    parsed = _parse_one(inputs, {"dfi_months": "pfi_months", "recurrence_pattern": "recurrence_pattern"},
                        patient_id)
    recommendation, group, status, reason = _score_all(_mskcc_rule, parsed, settings)[0]
    return MskccResult(recommendation, group, status, reason, inputs)


# --------------------------------------------------------------------------- cohort


def _ca125_column(clinical: pd.DataFrame, ca125_at_recurrence) -> pd.Series:
    """CA-125 at recurrence per clinical row: the argument (by patient_id), else the column."""
    ids = clinical["patient_id"].astype(object)
    if ca125_at_recurrence is None:
        if "ca125_at_recurrence" in clinical.columns:
            return clinical["ca125_at_recurrence"].reset_index(drop=True)
        return pd.Series([None] * len(clinical), dtype=object)
    if isinstance(ca125_at_recurrence, pd.Series):
        given = ca125_at_recurrence
    elif isinstance(ca125_at_recurrence, Mapping):
        given = pd.Series(dict(ca125_at_recurrence), dtype=object)
    else:
        raise InvalidInputError(
            f"ca125_at_recurrence must be a pandas Series or a mapping indexed by patient_id, got "
            f"{type(ca125_at_recurrence).__name__}", column="ca125_at_recurrence",
        )
    keys = given.index.astype(str)
    if keys.has_duplicates:
        dup = sorted(set(keys[keys.duplicated()]))[:5]
        raise InvalidInputError(
            f"ca125_at_recurrence has more than one value for patient(s) {dup}; give one value per patient",
            column="ca125_at_recurrence",
        )
    unknown = sorted(set(keys) - set(ids.astype(str)))
    if unknown:
        raise InvalidInputError(
            f"ca125_at_recurrence has values for {len(unknown)} patient(s) absent from the clinical "
            f"frame, e.g. {unknown[:5]}; index it by the clinical patient_id (strings, leading zeros kept)",
            column="ca125_at_recurrence",
        )
    lookup = pd.Series(given.to_numpy(), index=keys)
    return ids.astype(str).map(lookup).reset_index(drop=True)


# input column -> parse kind (the DFI column of ScoreSettings is parsed like pfi_months)
_INPUT_KINDS = {
    "ecog": "ecog", "ascites_ml": "ascites_ml", "figo_stage": "figo_stage",
    "primary_residual_disease": "primary_residual_disease", "pfi_months": "pfi_months",
    "recurrence_pattern": "recurrence_pattern", "ca125_at_recurrence": "ca125_at_recurrence",
}


def _problem_text(problem) -> np.ndarray:
    """Stripped problem text per patient; '' where there is none (None, NaN, NA or blank).
    Each distinct value is looked at once (a cohort has few: mostly None)."""
    codes, distinct = _object_codes(problem)
    if all(type(value) is str for value in distinct):
        text = [value.strip() for value in distinct] + [""]     # missing (-1): the last
        return _objects([text[code] for code in codes]) if len(codes) <= _SHORT else _objects(text)[codes]
    text, missing = _as_text(pd.Series(_objects(list(problem)), dtype=object))
    return np.where(missing, "", text.fillna("").to_numpy(dtype=object)).astype(object)


def published_scores_arrays(columns: Mapping[str, Sequence], *, problem: Sequence | None = None,
                            settings: ScoreSettings | None = None) -> dict[str, np.ndarray]:
    """AGO, iMODEL and MSKCC of n patients from plain columns of values.

    The engine of :func:`published_scores` (same rules, same parse, same results), for callers
    that hold one patient's values and need the scores in well under a millisecond.

    Parameters
    ----------
    columns : mapping of str to sequence
        Input column name -> n values (list, tuple, numpy array or pandas Series), one per
        patient: ``ecog``, ``ascites_ml``, ``figo_stage``, ``primary_residual_disease``,
        ``pfi_months`` (and ``settings.dfi_column``), ``recurrence_pattern``,
        ``ca125_at_recurrence``, and ``ca125_at_recurrence_censored`` (true where that value
        was reported below the assay's limit, ``"<200"``: an upper bound, so a limit above
        105 U/mL leaves the iMODEL CA-125 item unknown; a bool, 0/1 or true/false, yes/no in
        any case, empty = not censored; any other flag makes that patient's iMODEL
        ``"invalid_input"``). An absent column means unknown for every patient (not censored,
        for the flag); other keys are ignored. Values as :func:`~ca125kinetics.io.read_clinical` produces them
        (int/float or None/NaN/NA; text for stage and pattern, parsed once per distinct
        string) take a fast route (without pandas for up to 64 patients; for more, pandas
        only finds the distinct values). Any other value (a number written as text,
        a bool, a number in a text column, an invalid number) sends its column through the
        pandas parse of ``published_scores``, with the result ``published_scores`` gives for
        an object column holding these values; a numeric-typed numpy array or Series is read
        like a typed DataFrame column.
    problem : sequence, optional
        Per patient None (or blank) or the reason the patient's data is invalid; a reason makes
        all three scores ``"invalid_input"`` with reason ``"invalid patient data: <reason>"``.
    settings : ScoreSettings, optional
        Decisions; defaults to ``ScoreSettings()``.

    Returns
    -------
    dict of str to numpy.ndarray
        The columns of ``PUBLISHED_SCORE_COLUMNS`` except ``patient_id``, each of length n:
        ``ago_positive`` and ``imodel_low_risk`` object arrays of True / False / None
        (unknown); ``imodel_points`` float64 (NaN unknown); the others object arrays of str
        (``mskcc_recommendation``: ``"offer"`` / ``"consider"`` / ``"no"`` or None). n is the
        common length of the given columns and ``problem``; with none given, n = 1 (one
        patient, everything unknown).

    Raises
    ------
    InvalidInputError
        The given columns and ``problem`` do not all have the same length.
    """
    coded = _published_codes(columns, problem, settings)
    out = {column: _objects(values)[codes] for column, (values, codes) in coded.items()}
    out["imodel_points"] = out["imodel_points"].astype(float)
    return out


def _published_codes(columns: Mapping[str, Sequence], problem, settings) -> dict[str, tuple[list, np.ndarray]]:
    """:func:`published_scores_arrays` with each column as ``(values, codes)``, patient
    ``i``'s value ``values[codes[i]]`` (None missing): the few distinct results of the rules,
    from which the scoring engine builds its columns (the texts as ``_columns.labels_text``,
    an Arrow string array for a large batch, never a Python string a patient)."""
    settings = settings or _DEFAULT_SETTINGS
    dfi_column = settings.dfi_column
    given = {c: v if isinstance(v, _ARRAYS) else list(v)
             for c, v in columns.items() if c in _INPUT_KINDS or c == dfi_column}
    if problem is not None and not isinstance(problem, _ARRAYS):
        problem = list(problem)
    lengths = {c: len(v) for c, v in given.items()}
    if problem is not None:
        lengths["problem"] = len(problem)
    n = next(iter(lengths.values()), 1)
    if any(length != n for length in lengths.values()):
        raise InvalidInputError(
            f"the input columns must all hold one value per patient, got lengths {lengths}",
            column=next(c for c, length in lengths.items() if length != n),
        )
    parsed = {c: _parse(given[c], c, kind) if c in given else _unknown(n) for c, kind in _INPUT_KINDS.items()}
    if columns.get("ca125_at_recurrence_censored") is not None:
        parsed["ca125_at_recurrence"] = _below_limit(parsed["ca125_at_recurrence"],
                                                     columns["ca125_at_recurrence_censored"], n)
    if dfi_column != "pfi_months":  # the MSKCC DFI is read as an interval, whichever column holds it
        dfi = _parse(given[dfi_column], dfi_column, "pfi_months") if dfi_column in given else _unknown(n)
    else:
        dfi = parsed["pfi_months"]

    imodel = {i.column: parsed[i.column] for i in IMODEL_ITEMS}
    results = {
        ("ago_positive", "ago_status", "ago_reason"): _rule_columns(
            _ago_rule, {c: parsed[c] for c in ("ecog", "ascites_ml", "primary_residual_disease")}),
        ("imodel_points", "imodel_low_risk", "imodel_status", "imodel_reason"): _rule_columns(
            _imodel_rule, imodel, settings, key=lambda: _imodel_key(imodel), keep=(0, 1, 2, 3)),
        ("mskcc_recommendation", "mskcc_status", "mskcc_reason"): _rule_columns(
            _mskcc_rule, {dfi_column: dfi, "recurrence_pattern": parsed["recurrence_pattern"]}, settings,
            keep=(0, 2, 3)),
    }
    out = {}
    for names, columns in results.items():  # the outputs the published columns show
        out.update({name: column if columns else ([None], np.zeros(n, dtype=np.int64))
                    for name, column in zip(names, columns or [None] * len(names))})
    if problem is not None:
        problems = _problem_text(problem)
        flagged = np.flatnonzero(problems != "")
        if flagged.size:  # e.g. read_clinical(on_error="flag") found these patients' data invalid
            fills = {"status": STATUS_INVALID, "points": np.nan}
            for column, (values, codes) in out.items():
                what = column.split("_", 1)[1]
                codes = codes.copy()        # (shared by the outputs of a rule)
                codes[flagged] = len(values) + (np.arange(flagged.size) if what == "reason" else 0)
                values = values + (("invalid patient data: " + problems[flagged]).tolist() if what == "reason"
                                   else [fills.get(what)])    # None for the results
                out[column] = (values, codes)
    return {column: out[column] for column in PUBLISHED_SCORE_COLUMNS[1:]}


def published_scores(clinical: pd.DataFrame, *, ca125_at_recurrence=None,
                     settings: ScoreSettings | None = None) -> pd.DataFrame:
    """AGO, iMODEL and MSKCC for every patient of a canonical clinical frame (vectorised).

    Parameters
    ----------
    clinical : pandas.DataFrame
        One row per patient (``read_clinical`` output) with ``patient_id``, ``ecog``,
        ``ascites_ml``, ``figo_stage``, ``primary_residual_disease``, ``pfi_months`` (or
        ``settings.dfi_column``) and ``recurrence_pattern``; values may be empty (unknown).
        A non-empty ``problem`` column (``read_clinical(on_error="flag")``) makes all three
        scores ``"invalid_input"`` with that reason.
    ca125_at_recurrence : pandas.Series or mapping, optional
        CA-125 at recurrence (U/mL) indexed by ``patient_id`` (the training code passes the
        pretreatment baseline); patients absent from it count as missing. Without it the
        clinical column ``ca125_at_recurrence`` is used if present (with the flag column
        ``ca125_at_recurrence_censored`` of ``build_patient_frame`` when present: a value
        reported as ``"<200"`` is an upper bound, and with a limit above 105 U/mL the iMODEL
        CA-125 item is unknown; the flag is read as ``published_scores_arrays`` says), else
        CA-125 is missing.
    settings : ScoreSettings, optional
        Decisions; defaults to ``ScoreSettings()``.

    Returns
    -------
    pandas.DataFrame
        One row per clinical row, same order, RangeIndex, columns ``PUBLISHED_SCORE_COLUMNS``:
        ``patient_id``; ``ago_positive`` (boolean, NA unknown), ``ago_status``, ``ago_reason``;
        ``imodel_points`` (float64, NaN unknown), ``imodel_low_risk`` (boolean),
        ``imodel_status``, ``imodel_reason``; ``mskcc_recommendation`` (offer / consider /
        no or None), ``mskcc_status``, ``mskcc_reason``. A patient with an invalid input
        gets status ``"invalid_input"`` and the reason for the scores that use that input;
        the other scores are computed. No patient is dropped.

    Raises
    ------
    InvalidInputError
        ``clinical`` is not a DataFrame or lacks a required column; ``ca125_at_recurrence``
        names patients absent from ``clinical`` or repeats one.
    """
    settings = settings or _DEFAULT_SETTINGS
    if not isinstance(clinical, pd.DataFrame):
        raise InvalidInputError(
            f"clinical must be a pandas DataFrame (e.g. from read_clinical), got {type(clinical).__name__}"
        )
    kinds = {"ecog": "ecog", "ascites_ml": "ascites_ml", "figo_stage": "figo_stage",
             "primary_residual_disease": "primary_residual_disease", "pfi_months": "pfi_months",
             settings.dfi_column: "pfi_months", "recurrence_pattern": "recurrence_pattern"}
    absent = [c for c in ["patient_id", *kinds] if c not in clinical.columns]
    if absent:
        raise InvalidInputError(
            f"clinical frame lacks column(s) {absent}, needed by the published scores; add them "
            "(empty values are allowed and mean unknown)", column=absent[0],
        )
    frame = clinical.reset_index(drop=True)
    columns = {column: frame[column] for column in kinds}
    if ca125_at_recurrence is not None or "ca125_at_recurrence" in frame.columns:
        columns["ca125_at_recurrence"] = _ca125_column(frame, ca125_at_recurrence)
    if ca125_at_recurrence is None and "ca125_at_recurrence_censored" in frame.columns:
        columns["ca125_at_recurrence_censored"] = frame["ca125_at_recurrence_censored"]
    problem = frame["problem"] if "problem" in frame.columns else None
    columns = {"patient_id": frame["patient_id"].to_numpy(dtype=object),
               **published_scores_arrays(columns, problem=problem, settings=settings)}
    # object Series for text: keeps pandas from converting each text column to its string dtype
    dtypes = {"ago_positive": "boolean", "imodel_low_risk": "boolean", "imodel_points": float}
    return pd.DataFrame({c: pd.Series(columns[c], dtype=dtypes.get(c, object)) for c in PUBLISHED_SCORE_COLUMNS})


def score_for_auc(published: pd.DataFrame) -> pd.DataFrame:
    """Numeric forms of the published scores for ranking and AUC (higher = likelier complete
    resection).

    Parameters
    ----------
    published : pandas.DataFrame
        Output of :func:`published_scores`.

    Returns
    -------
    pandas.DataFrame
        ``patient_id``; ``ago`` (1.0 positive, 0.0 negative); ``imodel`` (``-points``);
        ``mskcc`` (offer 2.0, consider 1.0, no 0.0); float64, NaN where the score is NA
        (missing, not applicable or invalid input). Same rows and order as ``published``.

    Raises
    ------
    InvalidInputError
        A column is absent, or holds a value ``published_scores`` never writes (an
        ``ago_positive`` other than True/False/empty, ``imodel_points`` outside 0-11.9, a
        recommendation other than offer/consider/no): it is refused, never ranked as unknown.
    """
    needed = ["patient_id", "ago_positive", "imodel_points", "mskcc_recommendation"]
    absent = [c for c in needed if c not in getattr(published, "columns", [])]
    if absent:
        raise InvalidInputError(
            f"score_for_auc needs the output of published_scores(); missing column(s) {absent}",
            column=absent[0],
        )
    given = {c: published[c].reset_index(drop=True) for c in needed[1:]}
    present = {c: ~column.isna().to_numpy(dtype=bool) for c, column in given.items()}
    ago = given["ago_positive"].map(lambda v: float(v) if v in (True, False) and not isinstance(v, str) else np.nan,
                                    na_action="ignore").to_numpy(dtype=float, na_value=np.nan)
    points = pd.to_numeric(given["imodel_points"].astype(object), errors="coerce").to_numpy(dtype=float)
    mskcc = given["mskcc_recommendation"].map(_MSKCC_ORDINAL).to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        bad = {"ago_positive": present["ago_positive"] & np.isnan(ago),
               "imodel_points": present["imodel_points"] & ~((points >= 0) & (points <= _IMODEL_MAX_POINTS)),
               "mskcc_recommendation": present["mskcc_recommendation"] & np.isnan(mskcc)}
    for column, wanted in (("ago_positive", "True, False or empty"),
                           ("imodel_points", f"a number of points 0-{_IMODEL_MAX_POINTS:g} or empty"),
                           ("mskcc_recommendation", f"one of {list(MSKCC_RECOMMENDATIONS)} or empty")):
        if bad[column].any():
            rows = np.flatnonzero(bad[column])
            raise InvalidInputError(
                f"score_for_auc: {column} must be {wanted}, as published_scores() writes it; got "
                f"'{given[column].iloc[rows[0]]}' in {rows.size} row(s), e.g. position {rows[0]}", column=column)
    return pd.DataFrame({
        "patient_id": published["patient_id"].to_numpy(dtype=object),
        "ago": ago,
        "imodel": 0.0 - points,     # 0 points ranks as 0.0, not -0.0
        "mskcc": mskcc,
    })


# ----------------------------------------------------------------------------- provenance


def with_model_provenance(frame, model):
    """:func:`ca125kinetics.settings.with_provenance` for a table a model produced: the model's
    GCIG and kinetics settings, the published-score settings, the model's name and version and
    its threshold.

    ``model`` is a :class:`~ca125kinetics.ModelBundle` (or the scoring-only model of
    ``load_model(..., scoring_only=True)``): anything with ``gcig_settings``,
    ``kinetics_settings``, ``name``, ``version`` and ``threshold``.
    """
    return with_provenance(frame, model.gcig_settings, model.kinetics_settings, ScoreSettings(),
                           model=f"{model.name} {model.version}", threshold=float(model.threshold))
