"""Established selection scores for complete resection at secondary cytoreduction.

Three published rules, scored per patient (``ago_score``, ``imodel_score``,
``mskcc_category``) or for a whole canonical clinical frame at once (``published_scores``,
vectorised: no per-patient Python loop), so that trained models can be compared with them on
the same data and the same metrics (``score_for_auc``).

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
    an input breaks the data contract (only in ``published_scores``; the per-patient
    functions raise :class:`~ca125kinetics.errors.InvalidInputError` instead).

Three-valued logic for missing inputs. A result is reported whenever the present inputs
already decide it. AGO: one failed criterion makes the score negative whatever the missing
inputs are (ECOG 1 with unknown ascites -> negative, ``"ok_with_missing"``); all present
criteria met but one missing -> NA. iMODEL: a missing item could add 0 or its points, so the
total lies in ``[points_min, points_max]``; the total itself is NA (it is not a number we
know), but the risk group is reported when the whole range lies on one side of 4.7
(``points_max <= 4.7`` -> low risk, ``points_min > 4.7`` -> high risk). MSKCC: the
recommendation is reported when every value of the missing input gives the same cell (e.g.
unknown pattern with DFI > 30 months -> "offer"); an unknown DFI always leaves it NA, because
the DFI could be < 6 months.

Decisions (also fields of :class:`ScoreSettings`, logged with every run):

* AGO: ``ascites_ml`` is the estimated volume on imaging at recurrence; 499 mL is < 500 mL
  (positive), 500 mL is not.
* iMODEL: ECOG 4 is not covered by the paper (ECOG 2-3 scores 2.4). **Decision**:
  ``imodel_ecog4="poor"`` counts ECOG 4 with 2-3 (2.4 points); ``"not_applicable"`` declines
  to score it. Ascites "present" means ``ascites_ml > 0``. The paper's progression-free
  interval is taken as ``pfi_months`` (the contract's platinum-free interval; the two coincide
  for a first recurrence after platinum-based first-line treatment). PFI of exactly 16 months
  scores 0 ("< 16"); CA-125 of exactly 105 U/mL scores 0 ("> 105"). Points are summed in
  tenths (integers), so 0.8 + 1.5 + 2.4 is exactly 4.7 (low risk).
* MSKCC: **Decision** ``dfi_column="pfi_months"``: the disease-free interval is taken as the
  platinum-free interval. Groups: DFI < 6 -> not applicable; 6 <= DFI <= 12 -> "6-12";
  12 < DFI <= 30 -> "12-30"; DFI > 30 -> ">30". **Decision** ``mskcc_month_12_group="6-12"``:
  exactly 12 months belongs to 6-12 (the paper's groups overlap at 12 months);
  ``"12-30"`` moves it up. Exactly 30 months is in 12-30 (the paper's top group is "> 30").

``score_for_auc`` ranks patients by each score, higher = more likely complete resection:
AGO positive 1 / negative 0; iMODEL ``-points``; MSKCC offer 2 / consider 1 / no 0. NA where
the score is NA (including iMODEL ``"ok_with_missing"``, whose total is unknown).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from typing import Any, ClassVar, Mapping

import numpy as np
import pandas as pd

from .errors import InvalidInputError
from .io import _STAGE_RE, RECURRENCE_PATTERNS
from .settings import _SettingsMixin

__all__ = [
    "ScoreSettings",
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
        return np.nan if self.points is None else -self.points

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
    """One input column, parsed: values (NaN/None where absent), masks and messages."""

    values: np.ndarray
    missing: np.ndarray  # empty in the input
    invalid: np.ndarray  # present but breaking the contract
    message: np.ndarray  # object: "" or why the value is invalid

    @property
    def absent(self) -> np.ndarray:
        return self.missing | self.invalid


_FIX = "; correct it, or leave it empty if unknown"

# kind -> (whole number?, lower bound, upper bound, rule)
_NUMERIC_RULES = {
    "ecog": (True, 0.0, 4.0, "ECOG performance status must be a whole number 0-4"),
    "ascites_ml": (False, 0.0, np.inf, "ascites must be a volume in mL >= 0 (0 if none)"),
    "primary_residual_disease": (
        True, 0.0, 1.0, "use 0 (complete resection at primary surgery) or 1 (any residual disease)"),
    "pfi_months": (False, 0.0, np.inf, "the interval must be a number of months >= 0"),
    "ca125_at_recurrence": (False, 0.0, np.inf, "CA-125 at recurrence must be a number >= 0 U/mL"),
}


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
            values = np.full(len(raw), np.nan)
        else:
            values = pd.to_numeric(text.where(~missing), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(values) | (values < lo) | (values > hi)
        if integer:
            bad |= np.floor(values) != values
    invalid = ~missing & bad
    values = np.where(missing | invalid, np.nan, values)
    return _Parsed(values, missing, invalid, _messages(invalid, column, raw, rule))


def _parse_stage(raw: pd.Series, column: str = "figo_stage") -> _Parsed:
    text, missing = _as_text(raw)
    stage = text.str.extract(_STAGE_RE.pattern, flags=_STAGE_RE.flags)[0].str.upper()
    invalid = ~missing & stage.isna().to_numpy(dtype=bool)
    values = stage.astype(object).where(~(missing | invalid), None).to_numpy(dtype=object)
    rule = "unknown FIGO stage; use I, II, III or IV (substages such as IIIC accepted)"
    return _Parsed(values, missing, invalid, _messages(invalid, column, raw, rule))


def _parse_pattern(raw: pd.Series, column: str = "recurrence_pattern") -> _Parsed:
    text, missing = _as_text(raw)
    pattern = text.str.lower()
    invalid = ~missing & ~pattern.isin(RECURRENCE_PATTERNS).fillna(False).to_numpy(dtype=bool)
    values = pattern.astype(object).where(~(missing | invalid), None).to_numpy(dtype=object)
    rule = f"unknown recurrence pattern; use one of {list(RECURRENCE_PATTERNS)}"
    return _Parsed(values, missing, invalid, _messages(invalid, column, raw, rule))


def _parse(raw: pd.Series, column: str, kind: str) -> _Parsed:
    if kind in ("figo_stage", "recurrence_pattern"):
        # text work once per distinct value (a cohort has a handful), broadcast back by code
        codes, distinct = pd.factorize(raw, use_na_sentinel=True)
        parser = _parse_stage if kind == "figo_stage" else _parse_pattern
        return _take(parser(pd.Series(distinct, dtype=object), column), codes)
    return _parse_numeric(raw, column, kind)


def _take(parsed: _Parsed, codes: np.ndarray) -> _Parsed:
    """Rows of a parse of distinct values; code -1 (NA) picks an appended 'missing' entry."""
    def take(values, fill):
        return np.append(values, np.array([fill], dtype=values.dtype))[codes]

    return _Parsed(take(parsed.values, None), take(parsed.missing, True), take(parsed.invalid, False),
                   take(parsed.message, ""))


# --------------------------------------------------------------------------- string helpers


def _join(fragments, sep: str) -> np.ndarray:
    """Join per-row text fragments ('' = absent) with ``sep``, column by column."""
    out = np.full(len(fragments[0]), "", dtype=object)
    for fragment in fragments:
        fragment = np.asarray(fragment, dtype=object)
        out = np.where(fragment == "", out, np.where(out == "", fragment, out + sep + fragment))
    return out


def _fmt(values: np.ndarray, spec: str = "%g") -> np.ndarray:
    """Numbers as text ("nan" where missing), formatted once per distinct value."""
    codes, distinct = pd.factorize(np.asarray(values, dtype=float), use_na_sentinel=True)
    return np.append(np.char.mod(spec, distinct).astype(object), "nan")[codes]


def _where(mask, text, other="") -> np.ndarray:
    return np.where(mask, text, other).astype(object)


def _missing_names(parsed: Mapping[str, _Parsed]) -> np.ndarray:
    return _join([_where(p.missing, name) for name, p in parsed.items()], ", ")


def _invalid_override(parsed: Mapping[str, _Parsed]) -> tuple[np.ndarray, np.ndarray]:
    invalid = np.logical_or.reduce([p.invalid for p in parsed.values()])
    reason = "invalid input: " + _join([p.message for p in parsed.values()], "; ")
    return invalid, reason


def _three_valued(true_mask, false_mask) -> np.ndarray:
    return np.where(true_mask, True, np.where(false_mask, False, None)).astype(object)


# --------------------------------------------------------------------------- cores (vectorised)


def _ago_core(parsed: Mapping[str, _Parsed]) -> dict[str, np.ndarray]:
    """AGO score for arrays of parsed inputs (keys ecog, ascites_ml, primary_residual_disease)."""
    ecog, ascites, residual = (parsed[c] for c in ("ecog", "ascites_ml", "primary_residual_disease"))
    fail_ecog = ~ecog.absent & (ecog.values != 0)
    fail_ascites = ~ascites.absent & (ascites.values >= AGO_ASCITES_LIMIT_ML)
    fail_residual = ~residual.absent & (residual.values != 0)
    negative = fail_ecog | fail_ascites | fail_residual
    any_missing = ecog.missing | ascites.missing | residual.missing
    known_positive = ~negative & ~any_missing

    failed = _join([
        _where(fail_ecog, "ECOG " + _fmt(ecog.values) + " (needs 0)"),
        _where(fail_ascites, "ascites " + _fmt(ascites.values) + f" mL (needs < {AGO_ASCITES_LIMIT_ML:g} mL)"),
        _where(fail_residual, "residual disease after primary surgery (needs complete resection)"),
    ], "; ")
    missing = _missing_names(parsed)
    reason = np.select(
        [known_positive, negative & ~any_missing, negative],
        [
            "AGO positive: ECOG 0, ascites " + _fmt(ascites.values)
            + f" mL < {AGO_ASCITES_LIMIT_ML:g} mL, complete resection at primary surgery",
            "AGO negative: " + failed,
            "AGO negative: " + failed + "; missing " + missing + " cannot change a negative score",
        ],
        "AGO unknown: missing " + missing + "; every criterion present is met, so the missing value(s) decide",
    ).astype(object)
    status = np.select(
        [negative & any_missing, negative | known_positive], [STATUS_OK_WITH_MISSING, STATUS_OK], STATUS_MISSING
    ).astype(object)
    positive = _three_valued(known_positive, negative)

    invalid, invalid_reason = _invalid_override(parsed)
    return {
        "ago_positive": np.where(invalid, None, positive),
        "ago_status": np.where(invalid, STATUS_INVALID, status),
        "ago_reason": np.where(invalid, invalid_reason, reason),
    }


def _imodel_conditions(parsed: Mapping[str, _Parsed]) -> dict[str, np.ndarray]:
    """Whether each iMODEL item scores (meaningful only where its input is present)."""
    stage = parsed["figo_stage"].values
    with np.errstate(invalid="ignore"):
        return {
            "figo_stage": (stage == "III") | (stage == "IV"),
            "primary_residual_disease": parsed["primary_residual_disease"].values == 1,
            "pfi_months": parsed["pfi_months"].values < IMODEL_PFI_CUT_MONTHS,
            "ecog": parsed["ecog"].values >= 2,  # ECOG 4: see ScoreSettings.imodel_ecog4
            "ca125_at_recurrence": parsed["ca125_at_recurrence"].values > IMODEL_CA125_CUT,
            "ascites_ml": parsed["ascites_ml"].values > 0,
        }


def _imodel_core(parsed: Mapping[str, _Parsed], settings: ScoreSettings) -> dict[str, np.ndarray]:
    """iMODEL for arrays of parsed inputs (keys: the columns of ``IMODEL_ITEMS``)."""
    conditions = _imodel_conditions(parsed)
    awarded = {item.column: np.where(conditions[item.column] & ~parsed[item.column].absent, item.tenths, 0)
               for item in IMODEL_ITEMS}
    # integer tenths keep sums exact: 0.8 + 1.5 + 2.4 is 47 tenths, not 4.699999...
    lo = np.sum(list(awarded.values()), axis=0)
    hi = lo + np.sum([np.where(parsed[i.column].missing, i.tenths, 0) for i in IMODEL_ITEMS], axis=0)
    complete = ~np.logical_or.reduce([parsed[i.column].missing for i in IMODEL_ITEMS])
    low = hi <= _LOW_RISK_MAX_TENTHS
    high = lo > _LOW_RISK_MAX_TENTHS
    ecog4_excluded = (settings.imodel_ecog4 == "not_applicable") & (parsed["ecog"].values == 4)

    items = _join([_where(awarded[i.column] > 0, f"{i.criterion} {i.points:.1f}") for i in IMODEL_ITEMS], " + ")
    items = np.where(items == "", "no risk item", items)
    group = np.where(low, f"<= {IMODEL_LOW_RISK_MAX:g}: low risk", f"> {IMODEL_LOW_RISK_MAX:g}: high risk")
    missing = _missing_names(parsed)
    reason = np.select(
        [ecog4_excluded, complete, low | high],
        [
            "ECOG 4 is outside iMODEL's ECOG range (settings.imodel_ecog4 = 'not_applicable')",
            "iMODEL " + _fmt(lo / 10, "%.1f") + " = " + items + "; " + group,
            "iMODEL total unknown: missing " + missing + "; total between " + _fmt(lo / 10, "%.1f")
            + " and " + _fmt(hi / 10, "%.1f") + ", " + group + " whatever the missing items",
        ],
        "iMODEL unknown: missing " + missing + "; total between " + _fmt(lo / 10, "%.1f") + " and "
        + _fmt(hi / 10, "%.1f") + ", on both sides of " + f"{IMODEL_LOW_RISK_MAX:g}",
    ).astype(object)
    status = np.select(
        [ecog4_excluded, complete, low | high],
        [STATUS_NOT_APPLICABLE, STATUS_OK, STATUS_OK_WITH_MISSING], STATUS_MISSING,
    ).astype(object)
    points = np.where(complete & ~ecog4_excluded, lo / 10, np.nan)
    low_risk = np.where(ecog4_excluded, None, _three_valued(low, high))

    invalid, invalid_reason = _invalid_override(parsed)
    applicable = ~invalid & ~ecog4_excluded
    return {
        "imodel_points": np.where(invalid, np.nan, points),
        "imodel_low_risk": np.where(invalid, None, low_risk),
        "imodel_status": np.where(invalid, STATUS_INVALID, status),
        "imodel_reason": np.where(invalid, invalid_reason, reason),
        "imodel_points_min": np.where(applicable, lo / 10, np.nan),
        "imodel_points_max": np.where(applicable, hi / 10, np.nan),
        "imodel_items": {i.column: np.where(parsed[i.column].absent, np.nan, awarded[i.column] / 10)
                         for i in IMODEL_ITEMS},
    }


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


def _dfi_group_index(dfi: np.ndarray, settings: ScoreSettings) -> np.ndarray:
    """Index in ``_ALL_DFI_GROUPS`` of each DFI (months); -1 where missing."""
    with np.errstate(invalid="ignore"):
        upper_6_12 = (dfi <= 12) if settings.mskcc_month_12_group == "6-12" else (dfi < 12)
        return np.select([np.isnan(dfi), dfi < 6, upper_6_12, dfi <= 30], [-1, 0, 1, 2], 3)


def _mskcc_core(parsed: Mapping[str, _Parsed], dfi_column: str, settings: ScoreSettings) -> dict[str, np.ndarray]:
    """MSKCC recommendation for arrays of parsed inputs (keys ``dfi_column``, recurrence_pattern)."""
    dfi, pattern = parsed[dfi_column], parsed["recurrence_pattern"]
    table = _mskcc_table()
    group_index = _dfi_group_index(dfi.values, settings)
    pattern_index = np.select([pattern.values == p for p in RECURRENCE_PATTERNS], range(len(RECURRENCE_PATTERNS)), -1)
    group = np.array(_ALL_DFI_GROUPS + (None,), dtype=object)[group_index]  # index -1 -> None

    # every value a missing input could take; the result is known where all candidates agree
    outcomes = [
        table[np.where(dfi.absent, g, group_index), np.where(pattern.absent, p, pattern_index)]
        for g in range(len(_ALL_DFI_GROUPS)) for p in range(len(RECURRENCE_PATTERNS))
    ]
    first = outcomes[0]
    decided = np.logical_and.reduce([o == first for o in outcomes]) & ~dfi.invalid & ~pattern.invalid
    not_applicable = decided & (first == STATUS_NOT_APPLICABLE)
    any_missing = dfi.missing | pattern.missing

    words = np.select([first == k for k in _MSKCC_WORDS], list(_MSKCC_WORDS.values()), "").astype(object)
    dfi_text = "DFI " + _fmt(dfi.values) + f" months (from {dfi_column})"
    missing = _missing_names(parsed)
    reason = np.select(
        [not_applicable, decided & ~any_missing, decided],
        [
            dfi_text + " is < 6: platinum-resistant recurrence, outside the MSKCC guideline",
            "MSKCC: " + words + ": " + dfi_text + " in group " + group.astype(str).astype(object) + ", "
            + pattern.values.astype(str).astype(object) + " recurrence",
            "MSKCC: " + words + "; missing " + missing + " cannot change it",
        ],
        "MSKCC unknown: missing " + missing + "; the recommendation depends on it",
    ).astype(object)
    status = np.select(
        [not_applicable, decided & ~any_missing, decided],
        [STATUS_NOT_APPLICABLE, STATUS_OK, STATUS_OK_WITH_MISSING], STATUS_MISSING,
    ).astype(object)
    recommendation = np.where(decided & ~not_applicable, first, None).astype(object)

    invalid, invalid_reason = _invalid_override(parsed)
    return {
        "mskcc_recommendation": np.where(invalid, None, recommendation),
        "mskcc_dfi_group": np.where(dfi.absent, None, group),
        "mskcc_status": np.where(invalid, STATUS_INVALID, status),
        "mskcc_reason": np.where(invalid, invalid_reason, reason),
    }


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
        parsed[column] = _parse(pd.Series([value]), column, kinds[column])
    bad = [c for c, p in parsed.items() if p.invalid[0]]
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
    out = _ago_core(parsed)
    return AgoResult(_na_to_none(out["ago_positive"][0]), out["ago_status"][0], out["ago_reason"][0], inputs)


def imodel_score(figo_stage, primary_residual_disease, pfi_months, ecog, ca125_at_recurrence, ascites_ml,
                 *, patient_id=None, settings: ScoreSettings | None = None) -> ImodelResult:
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
    out = _imodel_core(parsed, settings)
    first = {k: v[0] for k, v in out.items() if k != "imodel_items"}
    return ImodelResult(
        points=_na_to_none(float(first["imodel_points"])),
        low_risk=_na_to_none(first["imodel_low_risk"]),
        status=first["imodel_status"],
        reason=first["imodel_reason"],
        points_min=_na_to_none(float(first["imodel_points_min"])),
        points_max=_na_to_none(float(first["imodel_points_max"])),
        items={c: _na_to_none(float(v[0])) for c, v in out["imodel_items"].items()},
        inputs=inputs,
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
    out = _mskcc_core(parsed, "dfi_months", settings)
    return MskccResult(
        recommendation=_na_to_none(out["mskcc_recommendation"][0]),
        dfi_group=_na_to_none(out["mskcc_dfi_group"][0]),
        status=out["mskcc_status"][0],
        reason=out["mskcc_reason"][0],
        inputs=inputs,
    )


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
        clinical column ``ca125_at_recurrence`` is used if present, else CA-125 is missing.
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
    parsed = {column: _parse(frame[column], column, kind) for column, kind in kinds.items()}
    parsed["ca125_at_recurrence"] = _parse(
        _ca125_column(frame, ca125_at_recurrence), "ca125_at_recurrence", "ca125_at_recurrence")

    ago = _ago_core({c: parsed[c] for c in ("ecog", "ascites_ml", "primary_residual_disease")})
    imodel = _imodel_core({i.column: parsed[i.column] for i in IMODEL_ITEMS}, settings)
    mskcc = _mskcc_core({settings.dfi_column: parsed[settings.dfi_column],
                         "recurrence_pattern": parsed["recurrence_pattern"]}, settings.dfi_column, settings)
    columns = {"patient_id": frame["patient_id"].to_numpy(dtype=object), **ago, **imodel, **mskcc}
    if "problem" in frame.columns:
        problem, problem_missing = _as_text(frame["problem"])
        flagged = ~problem_missing
        reason = "invalid patient data: " + problem.fillna("").to_numpy(dtype=object)
        fills = {"status": STATUS_INVALID, "reason": reason, "points": np.nan}
        for column in PUBLISHED_SCORE_COLUMNS[1:]:
            columns[column] = np.where(flagged, fills.get(column.split("_", 1)[1]), columns[column])
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
    """
    needed = ["patient_id", "ago_positive", "imodel_points", "mskcc_recommendation"]
    absent = [c for c in needed if c not in getattr(published, "columns", [])]
    if absent:
        raise InvalidInputError(
            f"score_for_auc needs the output of published_scores(); missing column(s) {absent}",
            column=absent[0],
        )
    ago = published["ago_positive"].astype("boolean")
    return pd.DataFrame({
        "patient_id": published["patient_id"].to_numpy(dtype=object),
        "ago": ago.astype("Float64").to_numpy(dtype=float, na_value=np.nan),
        "imodel": -published["imodel_points"].to_numpy(dtype=float),
        "mskcc": published["mskcc_recommendation"].map(_MSKCC_ORDINAL).to_numpy(dtype=float),
    })
