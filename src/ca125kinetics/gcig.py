"""GCIG CA-125 response and progression, and the combined RECIST 1.1 + CA-125 response.

Second step of the pipeline (read and validate -> **GCIG rules** -> kinetics -> ...).
Implements sections 1-3 of ``docs/clinical-rules.md``:

* :func:`gcig_response` - CA-125 response in the relapse setting (evaluable, confirmed,
  CR/PR), with a machine-readable ``status`` and a human-readable ``reason``;
* :func:`gcig_progression` - CA-125 progression, groups A, B and C;
* :func:`combined_response` - the combined RECIST 1.1 + CA-125 category, from a data table
  (``ca125kinetics/data/combined_response.csv``) implemented from the text of Rustin 2011;
* :func:`gcig_cohort` - all of the above for every patient of a canonical markers frame.

References
----------
Rustin GJS, Vergote I, Eisenhauer E, et al. Definitions for response and progression in
ovarian cancer clinical trials incorporating RECIST 1.1 and CA 125 agreed by the
Gynecological Cancer Intergroup (GCIG). Int J Gynecol Cancer 2011;21:419-423 (PMID 21270624).
GCIG CA 125 definitions agreed in November 2005.

Conventions (each a **Decision** where the literature is silent)
-----------------------------------------------------------------
Time is ``day`` relative to the first dose (day 0); pretreatment samples have ``day <= 0``.
CA-125 is in U/mL. Every comparison at a threshold is inclusive where the rule says
"at least" / "at most" and allows a relative floating-point slack of ``1e-9``, so that a
decimal value exactly at a threshold counts as at the threshold (binary floating point gives
``1.10 * 180 = 198.00000000000003``); this slack is far below any assay resolution.

**Decision (censored values).** A value reported as ``"<x"`` is passed as ``x`` with
``censored=True``; ``x`` is treated as an *upper bound* of the true value. Tests of the form
"value <= limit" (50 % fall, normal range, nadir) use ``x``, which is sound because the true
value is below ``x``. Tests of the form "value >= limit" (baseline >= 2 x ULN, progression
threshold) are never met by a censored value, because a value known only to be below ``x``
cannot be shown to be at or above anything. In the 10 % rule the previous sample enters with
its upper bound ``x``.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as _dt
import functools
import io as _io
import itertools
import math
from dataclasses import dataclass
from importlib import resources
from numbers import Integral, Real
from typing import Any

from .errors import InvalidInputError, ModelIntegrityError
from .markers import MARKERS, require_gcig_marker
from .settings import EVENT_KINDS, HAMA_EVENT, GcigSettings

__all__ = [
    "gcig_response",
    "gcig_progression",
    "combined_response",
    "combined_response_table",
    "gcig_cohort",
    "GcigResponse",
    "GcigProgression",
    "CombinedResponse",
    "EVENT_KINDS",
    "RESPONSE_STATUSES",
    "PROGRESSION_STATUSES",
    "COHORT_COLUMNS",
]


#: Values of :attr:`GcigResponse.status`.
RESPONSE_STATUSES = ("response", "unconfirmed", "not_confirmed", "no_response", "not_evaluable")
#: Values of :attr:`GcigProgression.status`.
PROGRESSION_STATUSES = ("progression", "no_progression", "not_evaluable")

#: Columns of :func:`gcig_cohort`, in order; ``recist`` and ``combined_category`` follow when
#: the clinical frame has a ``recist`` column.
COHORT_COLUMNS = (
    "patient_id", "uln", "n_samples", "n_excluded", "baseline_day", "baseline_value",
    "evaluable", "responded", "category", "response_day", "confirmation_day", "status",
    "reason", "progressed", "progression_group", "progression_day", "progression_status",
    "progression_reason",
)
_COMBINED_COLUMNS = ("recist", "combined_category")

# Relative floating-point slack at thresholds (module docstring).
_RTOL = 1e-9


def _le(a: float, b: float) -> bool:
    """``a <= b`` up to the relative floating-point slack."""
    return a <= b + _RTOL * abs(b)


def _ge(a: float, b: float) -> bool:
    """``a >= b`` up to the relative floating-point slack."""
    return a >= b - _RTOL * abs(b)


def _num(x: float) -> str:
    """Compact number for reasons: 70.0 -> '70', 198.00000000000003 -> '198'."""
    return f"{x:.6g}"


def _factor(x: float) -> str:
    """A multiplier as the spec writes it: 1.1 -> '1.10', 2.0 -> '2'."""
    if float(x).is_integer():
        return f"{x:g}"
    two = f"{x:.2f}"
    return two if float(two) == x else f"{x:g}"


# --------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------


class _ResultMixin:
    """``to_dict`` / ``to_frame`` shared by the result dataclasses."""

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of every field; ``settings`` as a dict, ``excluded`` as a list of lists."""
        out: dict[str, Any] = {}
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, field.name)
            if field.name == "settings":
                value = value.to_dict()
            elif field.name == "excluded":
                value = [list(item) for item in value]
            out[field.name] = value
        return out

    def to_frame(self):
        """One-row :class:`pandas.DataFrame`, one column per field in field order.

        ``excluded`` becomes ``n_excluded`` (its length) and ``settings`` a JSON string, so
        every cell is a scalar.
        """
        import pandas as pd

        row: dict[str, Any] = {}
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, field.name)
            if field.name == "settings":
                value = value.to_json()
            elif field.name == "excluded":
                row["n_excluded"] = len(value)
                continue
            row[field.name] = value
        return pd.DataFrame([row])


@dataclass(frozen=True)
class GcigResponse(_ResultMixin):
    """GCIG CA-125 response of one patient (see :func:`gcig_response`).

    Attributes
    ----------
    evaluable : bool
        A baseline exists and is >= ``evaluable_factor`` x ULN, with one assay throughout.
    responded : bool
        Confirmed GCIG response (``status == "response"``).
    category : {"CR", "PR"} or None
        CR when the confirming value is <= ULN, PR otherwise; None without a confirmed response.
    status : str
        One of :data:`RESPONSE_STATUSES`: ``"response"``; ``"unconfirmed"`` (a 50 % fall,
        no sample yet >= 28 days later); ``"not_confirmed"`` (the fall was broken before
        confirmation); ``"no_response"``; ``"not_evaluable"``.
    reason : str
        Human-readable explanation of ``status``.
    baseline_day, baseline_value : int, float or None
        The baseline sample (latest with ``-14 <= day <= 0``).
    response_day, response_value : int, float or None
        The first on-treatment sample <= 50 % of baseline (the date of response when
        confirmed; also reported for ``unconfirmed`` and ``not_confirmed``).
    confirmation_day, confirmation_value : int, float or None
        The confirming sample (first one >= 28 days after the response day).
    last_day, last_value : int, float or None
        The latest sample used (after exclusions); used to judge "CA-125 normal" in
        :func:`combined_response`.
    uln : float
        The ULN used, U/mL.
    n_samples : int
        Samples used by the rules (after same-day aggregation and exclusions).
    excluded : tuple of (int, str)
        ``(day, reason)`` of every excluded sample.
    settings : GcigSettings
        The rule settings used (``settings.uln`` equals ``uln``).
    """

    evaluable: bool
    responded: bool
    category: str | None
    status: str
    reason: str
    baseline_day: int | None
    baseline_value: float | None
    response_day: int | None
    response_value: float | None
    confirmation_day: int | None
    confirmation_value: float | None
    last_day: int | None
    last_value: float | None
    uln: float
    n_samples: int
    excluded: tuple[tuple[int, str], ...]
    settings: GcigSettings


@dataclass(frozen=True)
class GcigProgression(_ResultMixin):
    """GCIG CA-125 progression of one patient (see :func:`gcig_progression`).

    Attributes
    ----------
    progressed : bool
        Confirmed GCIG CA-125 progression.
    group : {"A", "B", "C"} or None
        Group of the progression; without progression the group the patient is in at the
        last sample (A if CA-125 ever normalised on treatment, B otherwise, C if the baseline
        was normal); None when not evaluable.
    status : str
        One of :data:`PROGRESSION_STATUSES`.
    reason : str
        Human-readable explanation of ``status``.
    progression_day, progression_value : int, float or None
        The first of the two qualifying samples (the date of progression).
    confirmation_day, confirmation_value : int, float or None
        The confirming sample (first one >= 7 days after the progression day).
    threshold : float or None
        ``progression_factor`` x ULN (groups A and C) or x nadir (group B); without
        progression, the threshold in force after the last sample.
    nadir : float or None
        Lowest value from baseline up to the progression day (or the last sample).
    baseline_day, baseline_value : int, float or None
        The baseline sample (latest with ``-14 <= day <= 0``).
    uln, n_samples, excluded, settings
        As in :class:`GcigResponse`.
    """

    progressed: bool
    group: str | None
    status: str
    reason: str
    progression_day: int | None
    progression_value: float | None
    confirmation_day: int | None
    confirmation_value: float | None
    threshold: float | None
    nadir: float | None
    baseline_day: int | None
    baseline_value: float | None
    uln: float
    n_samples: int
    excluded: tuple[tuple[int, str], ...]
    settings: GcigSettings


@dataclass(frozen=True)
class CombinedResponse(_ResultMixin):
    """Combined RECIST 1.1 + CA-125 category of one patient (see :func:`combined_response`).

    Attributes
    ----------
    category : {"CR", "PR", "SD", "PD"}
        The combined category.
    reason : str
        Which table row fired and on what inputs.
    rule : int
        ``rule`` id of the row of ``combined_response.csv`` that fired (first match wins).
    basis : str
        The row's ``basis`` cell: the spec/paper text it implements, or the Decision.
    recist : str
        RECIST 1.1 category given.
    new_lesion : bool
        Whether a new lesion was reported.
    ca125_progression, ca125_response, ca125_normal : {"yes", "no", "unknown"}
        The CA-125 inputs as the table saw them (``ca125_response`` counts a *confirmed*
        GCIG response only).
    """

    category: str
    reason: str
    rule: int
    basis: str
    recist: str
    new_lesion: bool
    ca125_progression: str
    ca125_response: str
    ca125_normal: str


# --------------------------------------------------------------------------------------
# Input preparation
# --------------------------------------------------------------------------------------


class _Series:
    """A patient's samples after validation, sorting, same-day aggregation and exclusions."""

    __slots__ = ("day", "value", "censored", "assay", "excluded", "uln", "settings", "problem")

    def __init__(self, day, value, censored, assay, excluded, uln, settings, problem):
        self.day: list[int] = day
        self.value: list[float] = value
        self.censored: list[bool] = censored
        self.assay: list[str | None] = assay
        self.excluded: tuple[tuple[int, str], ...] = excluded
        self.uln: float = uln
        self.settings: GcigSettings = settings
        self.problem: str | None = problem  # a not-evaluable reason found in the data


def _as_list(x, name: str) -> list:
    """Sequence-like input (list, tuple, numpy array, pandas Series) as a Python list."""
    if x is None or isinstance(x, (str, bytes)) or not hasattr(x, "__iter__"):
        raise InvalidInputError(f"{name} must be a sequence (list, array or Series), got {type(x).__name__}")
    dtype = getattr(x, "dtype", None)
    if dtype is not None and getattr(dtype, "kind", "") == "M":
        return list(x)  # datetime64 elements stay datetimes (tolist() would give integers)
    tolist = getattr(x, "tolist", None)
    return tolist() if tolist is not None else list(x)


def _to_date(x, what: str) -> _dt.date:
    """A calendar date from a date, datetime, pandas Timestamp, numpy datetime64 or ISO string."""
    if isinstance(x, str):
        try:
            return _dt.datetime.fromisoformat(x.strip()).date()
        except ValueError:
            raise InvalidInputError(f"{what} {x!r} is not an ISO date; write it as YYYY-MM-DD") from None
    if type(x).__name__ == "datetime64":
        import pandas as pd

        x = pd.Timestamp(x)
    if isinstance(x, _dt.datetime):
        if x != x:  # NaT
            raise InvalidInputError(f"{what} is missing (NaT); give a date or drop the sample")
        return x.date()
    if isinstance(x, _dt.date):
        return x
    raise InvalidInputError(f"{what} {x!r} is not a date; give dates, datetimes or ISO strings")


def _to_day(x, treatment_start: _dt.date | None, what: str) -> int:
    """Day relative to the first dose.

    **Decision:** with ``treatment_start`` both ends are reduced to calendar dates before
    subtracting, so the time of day never shifts a sample by one day.
    """
    if treatment_start is not None:
        if isinstance(x, (Real, bool)) and not isinstance(x, _dt.date):
            raise InvalidInputError(
                f"{what} {x!r} is a number but treatment_start was given; give dates "
                "(or integer days without treatment_start)"
            )
        return (_to_date(x, what) - treatment_start).days
    if isinstance(x, bool) or not isinstance(x, Real):
        raise InvalidInputError(
            f"{what} {x!r} is not an integer day; give integer days from the first dose, "
            "or dates together with treatment_start"
        )
    if isinstance(x, Integral):
        return int(x)
    if math.isfinite(x) and float(x).is_integer():
        return int(x)
    raise InvalidInputError(f"{what} {x!r} is not a whole number of days")


def _prepare(days, values, *, uln, settings, censored, events, assays, treatment_start) -> _Series:
    """Validate and convert the public-API inputs (any sequence types) to a :class:`_Series`."""
    if settings is None:
        settings = GcigSettings()
    elif not isinstance(settings, GcigSettings):
        raise InvalidInputError(f"settings must be a GcigSettings, got {type(settings).__name__}")
    start = None if treatment_start is None else _to_date(treatment_start, "treatment_start")
    day_list = _as_list(days, "days")
    value_list = _as_list(values, "values")
    n = len(value_list)
    if len(day_list) != n:
        raise InvalidInputError(f"days has {len(day_list)} entries but values has {n}; give one day per value")
    day_list = [_to_day(d, start, f"days[{i}]") for i, d in enumerate(day_list)]
    if censored is None:
        cens_list = [False] * n
    else:
        cens_list = _as_list(censored, "censored")
        if len(cens_list) != n:
            raise InvalidInputError(f"censored has {len(cens_list)} entries but values has {n}; give one flag per value")
        for i, c in enumerate(cens_list):
            if c not in (True, False):  # also admits numpy bools and 0/1
                raise InvalidInputError(f"censored[{i}] = {c!r} is not a boolean")
        cens_list = [bool(c) for c in cens_list]
    if assays is None:
        assay_list = [None] * n
    else:
        assay_list = _as_list(assays, "assays")
        if len(assay_list) != n:
            raise InvalidInputError(f"assays has {len(assay_list)} entries but values has {n}; give one assay per value")
    event_list = []
    if events is not None:
        for i, event in enumerate(_as_list(events, "events")):
            if isinstance(event, (str, bytes)) or not hasattr(event, "__len__") or len(event) != 2:
                raise InvalidInputError(
                    f"events[{i}] = {event!r} is not a (day_or_date, kind) pair; kind is one of {EVENT_KINDS}"
                )
            event_list.append((_to_day(event[0], start, f"events[{i}] day"), event[1]))
    _check_series(day_list, value_list, event_list, settings)
    return _build(day_list, value_list, cens_list, assay_list, event_list, _resolve_uln(uln, settings), settings)


def _resolve_uln(uln, settings: GcigSettings) -> float:
    if uln is None:
        return float(settings.uln)
    if isinstance(uln, bool) or not isinstance(uln, Real) or not math.isfinite(uln) or uln <= 0:
        raise InvalidInputError(f"uln must be a positive finite number (U/mL), got {uln!r}")
    return float(uln)


def _settings_for(settings: GcigSettings, uln: float) -> GcigSettings:
    """The settings actually used: ``settings`` with its ``uln`` set to the ULN used."""
    return settings if settings.uln == uln else settings.replace(uln=uln)


def _assay_name(x) -> str | None:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    text = str(x).strip()
    return text or None


def _aggregate(values: list[float], censored: list[bool], how: str) -> tuple[float, bool]:
    """Same-day samples merged as ``settings.duplicates`` asks.

    **Decision:** ``first``/``last``/``min``/``max`` keep the chosen sample's censoring flag;
    ``mean``/``median`` are censored when any contributing sample is (an aggregate of upper
    bounds is an upper bound).
    """
    if how in ("first", "last", "min", "max"):
        pick = {"first": 0, "last": len(values) - 1,
                "min": values.index(min(values)), "max": values.index(max(values))}[how]
        return values[pick], censored[pick]
    ordered = sorted(values)
    if how == "mean":
        value = math.fsum(values) / len(values)
    else:  # median
        mid = len(ordered) // 2
        value = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    return value, any(censored)


def _check_series(day_list, value_list, event_list, settings, *, patient_id=None) -> None:
    """The checks of a series that did not come from ``ca125kinetics.io`` (the public
    functions' lists and frames that were not read with ``io.read_markers``): numeric,
    finite, non-negative values; no two samples on one day unless an aggregation is chosen;
    known event kinds. A :class:`~ca125kinetics.io.PatientRecord` has passed io's rules and
    goes straight to :func:`_build`."""
    for i, v in enumerate(value_list):
        if type(v) is not float and (isinstance(v, bool) or not isinstance(v, Real)):
            raise InvalidInputError(
                f"CA-125 value {v!r} (sample {i}) is not a number; give '<5' as 5 with censored=True",
                patient_id=patient_id, column="ca125",
            )
        if not 0 <= v < math.inf:  # also false for NaN
            raise InvalidInputError(
                f"CA-125 value {v!r} on day {day_list[i]} must be finite and >= 0 U/mL; "
                "correct or remove the sample",
                patient_id=patient_id, column="ca125",
            )
    if settings.duplicates == "error":
        order = sorted(range(len(value_list)), key=day_list.__getitem__)
        for d, group in itertools.groupby(order, key=day_list.__getitem__):
            idx = list(group)
            if len(idx) > 1:
                shown = " and ".join(f"{_num(value_list[i])} U/mL" for i in idx)
                raise InvalidInputError(
                    f"{len(idx)} samples on day {d} ({shown}); GCIG treats same-day samples as a data "
                    "error: remove all but one, or choose an aggregation with "
                    "GcigSettings(duplicates='mean'|'median'|'max'|'min'|'first'|'last')",
                    patient_id=patient_id, column="day",
                )
    for d, kind in event_list:
        k = kind.strip().lower() if isinstance(kind, str) else kind
        if k not in EVENT_KINDS:
            raise InvalidInputError(
                f"event {kind!r} on day {d} is not one of {EVENT_KINDS}", patient_id=patient_id, column="event"
            )


def _build(day_list, value_list, cens_list, assay_list, event_list, uln, settings, *, problem=None) -> _Series:
    """Sort, merge same-day samples (an aggregation chosen in the settings), apply the
    exclusion windows. The series is valid (:func:`_check_series`, or io's rules)."""
    n = len(value_list)
    order = sorted(range(n), key=day_list.__getitem__)  # stable: input order within a day
    any_assay = any(a is not None for a in assay_list)
    day: list[int] = []
    value: list[float] = []
    cens: list[bool] = []
    assay: list[str | None] = []
    for d, group in itertools.groupby(order, key=day_list.__getitem__):
        idx = list(group)
        names = {_assay_name(assay_list[i]) for i in idx} - {None} if any_assay else set()
        if len(names) > 1 and problem is None:
            problem = (f"not evaluable: samples of day {d} come from different assays "
                       f"({', '.join(sorted(names))}); GCIG requires the same assay throughout")
        if len(idx) == 1:
            v, c = float(value_list[idx[0]]), cens_list[idx[0]]
        else:
            v, c = _aggregate([float(value_list[i]) for i in idx], [cens_list[i] for i in idx],
                              settings.duplicates)
        day.append(d)
        value.append(v)
        cens.append(c)
        assay.append(min(names) if names else None)

    interference: list[tuple[int, str]] = []
    hama: int | None = None
    for d, kind in event_list:
        k = kind.strip().lower() if isinstance(kind, str) else kind
        if k == HAMA_EVENT:
            hama = d if hama is None else min(hama, d)
        else:
            interference.append((d, k))
    excluded: list[tuple[int, str]] = []
    if interference or hama is not None:
        interference.sort()
        window = settings.interference_window_days
        keep = []
        for i, d in enumerate(day):
            why = None
            if hama is not None and d >= hama:
                why = (f"drawn on or after mouse antibody administration on day {hama} "
                       "(GCIG: not evaluable after mouse antibodies, HAMA)")
            else:
                for e, k in interference:
                    if 0 <= d - e <= window:
                        why = f"drawn {d - e} days after {k} on day {e} (within the {window}-day interference window)"
                        break
            if why is None:
                keep.append(i)
            else:
                excluded.append((d, why))
        day = [day[i] for i in keep]
        value = [value[i] for i in keep]
        cens = [cens[i] for i in keep]
        assay = [assay[i] for i in keep]
    return _Series(day, value, cens, assay, tuple(excluded), uln, _settings_for(settings, uln), problem)


def _baseline(s: _Series) -> tuple[int | None, str | None]:
    """Index of the baseline sample, or a not-evaluable reason.

    **Decision:** the baseline is the latest sample (after exclusions) with
    ``-baseline_window_days <= day <= 0``. The one-assay rule is checked over the samples the
    rules use, i.e. from the baseline on.
    """
    if s.problem is not None:
        return None, s.problem
    window = s.settings.baseline_window_days
    b = None
    for i, d in enumerate(s.day):
        if d > 0:
            break
        if d >= -window:
            b = i
    if b is None:
        held = " (after exclusions)" if s.excluded else ""
        return None, (f"not evaluable: no pretreatment sample{held} within {window} days before the "
                      f"first dose (day -{window} to day 0)")
    first_name, first_day = None, None
    for i in range(b, len(s.day)):
        name = s.assay[i]
        if name is None:
            continue
        if first_name is None:
            first_name, first_day = name, s.day[i]
        elif name != first_name:
            return None, (f"not evaluable: assay changed from {first_name!r} (day {first_day}) to "
                          f"{name!r} (day {s.day[i]}); GCIG requires the same assay throughout")
    return b, None


# --------------------------------------------------------------------------------------
# Response
# --------------------------------------------------------------------------------------


def _assess_response(s: _Series) -> GcigResponse:
    st = s.settings
    uln = s.uln
    n = len(s.day)
    fields: dict[str, Any] = dict(
        evaluable=False, responded=False, category=None, baseline_day=None, baseline_value=None,
        response_day=None, response_value=None, confirmation_day=None, confirmation_value=None,
        last_day=s.day[-1] if n else None, last_value=s.value[-1] if n else None,
        uln=uln, n_samples=n, excluded=s.excluded, settings=st,
    )
    b, why = _baseline(s)
    if b is None:
        return GcigResponse(status="not_evaluable", reason=why, **fields)
    base, base_day = s.value[b], s.day[b]
    fields.update(baseline_day=base_day, baseline_value=base)
    need = st.evaluable_factor * uln
    f_txt = _factor(st.evaluable_factor)
    if s.censored[b]:
        return GcigResponse(status="not_evaluable", reason=(
            f"not evaluable: baseline reported as <{_num(base)} U/mL on day {base_day} cannot be shown "
            f">= {f_txt} x ULN ({_num(need)} U/mL)"), **fields)
    if not _ge(base, need):
        return GcigResponse(status="not_evaluable", reason=(
            f"not evaluable: baseline {_num(base)} U/mL < {f_txt} x ULN ({_num(need)} U/mL)"), **fields)
    fields["evaluable"] = True

    thr = st.response_fraction * base
    pct = f"{st.response_fraction * 100:g} %"
    base_txt = f"baseline {_num(base)} U/mL on day {base_day}"
    first = next((i for i in range(b + 1, n) if _le(s.value[i], thr)), None)
    if first is None:
        if b + 1 == n:
            why = f"no on-treatment sample (day > 0) yet; {base_txt}"
        else:
            low = min(s.value[b + 1:])
            why = (f"no on-treatment sample <= {pct} of {base_txt} ({_num(thr)} U/mL); "
                   f"lowest {_num(low)} U/mL")
        return GcigResponse(status="no_response", reason=f"no GCIG response: {why}", **fields)

    fall_day, fall_value = s.day[first], s.value[first]
    fields.update(response_day=fall_day, response_value=fall_value)
    fall_txt = f"fall to {_num(fall_value)} U/mL on day {fall_day} (<= {pct} of {base_txt}: {_num(thr)} U/mL)"
    confirm = next((j for j in range(first, n) if s.day[j] - fall_day >= st.confirmation_days), None)
    tol = st.assay_tolerance
    for k in range(first, n if confirm is None else confirm + 1):
        v, prev = s.value[k], s.value[k - 1]
        broken = None
        if not _le(v, thr):
            broken = f"{_num(v)} U/mL > {pct} of baseline ({_num(thr)} U/mL)"
        elif not _le(v, tol * prev) and not (_le(v, uln) and _le(prev, uln)):
            broken = (f"{_num(v)} U/mL > {_factor(tol)} x previous {_num(prev)} U/mL "
                      f"({_num(tol * prev)} U/mL) and not within the normal range")
        if broken:
            return GcigResponse(status="not_confirmed", reason=(
                f"GCIG response not confirmed: {fall_txt} broken on day {s.day[k]}: {broken}"), **fields)
    if confirm is None:
        return GcigResponse(status="unconfirmed", reason=(
            f"GCIG response unconfirmed: {fall_txt}; no sample yet >= {st.confirmation_days} days later "
            f"(last sample day {s.day[-1]})"), **fields)
    c_day, c_value = s.day[confirm], s.value[confirm]
    category = "CR" if _le(c_value, uln) else "PR"
    normal = "<=" if category == "CR" else ">"
    fields.update(responded=True, category=category, confirmation_day=c_day, confirmation_value=c_value)
    return GcigResponse(
        status="response", **fields,
        reason=(f"GCIG response confirmed on day {c_day} ({category}): {fall_txt}; confirming sample "
                f"{_num(c_value)} U/mL on day {c_day} ({c_day - fall_day} days later, {normal} ULN "
                f"{_num(uln)} U/mL); every sample in between <= {pct} of baseline and <= "
                f"{_factor(tol)} x the previous one (or within the normal range)"),
    )


def gcig_response(days, values, *, uln=None, settings=None, censored=None, events=None, assays=None,
                  treatment_start=None, marker="ca125") -> GcigResponse:
    """GCIG CA-125 response in the relapse setting (Rustin 2011; GCIG 2005).

    The rules are defined for CA-125 only: ``marker`` other than ``"ca125"`` (e.g.
    ``"cea"``) raises :class:`InvalidInputError` (:func:`ca125kinetics.markers.require_gcig_marker`).

    Rules, with the defaults of :class:`~ca125kinetics.settings.GcigSettings`:

    * **Baseline** ``C_b``: the latest sample with ``-14 <= day <= 0`` (**Decision**; GCIG says
      "within 2 weeks before treatment"; a sample on day 0 counts, day -14 counts, day -15 does
      not). **Evaluable** iff ``C_b >= 2 x ULN`` (exactly 2 x ULN is evaluable).
    * **Response date** ``t_r``: the *first* on-treatment sample (``day > 0``) with
      ``C <= 0.5 x C_b`` (exactly 50 % counts).
    * **Confirmation**: the first sample drawn ``>= 28`` days after ``t_r`` (exactly 28 days
      confirms). Every sample ``k`` from the first fall up to and including the confirming one
      must satisfy ``C_k <= 0.5 x C_b`` and ``C_k <= 1.10 x C_{k-1}`` (10 % assay variability),
      except that a rise with both ``C_k`` and ``C_{k-1}`` ``<= ULN`` never breaks it.
      **Decision (strict reading):** the assessment is anchored on the first fall; a broken fall
      gives ``status="not_confirmed"`` and is not restarted from a later fall.
    * **CR** if the confirming value is ``<= ULN``, else **PR**.
    * **Exclusions** (each listed in ``excluded`` with its reason): samples with
      ``0 <= day - event_day <= 28`` after paracentesis, thoracentesis or surgery (**Decision**:
      the event day itself is excluded); after ``mouse_antibody`` every later sample, the same
      day included (HAMA). Excluded samples are removed before any rule is applied.
    * **One assay**: a change of assay name from the baseline on makes the patient not
      evaluable.

    Worked reading (spec section 1, ULN 35): 400 on day 0, 180 on day 21, 195 on day 42, 150 on
    day 63 -> response on day 21 confirmed on day 63, PR (195 <= 1.10 x 180 = 198, <= 200). With
    199 on day 42 -> ``not_confirmed`` (199 > 198).

    Parameters
    ----------
    days : sequence
        Integer days from the first dose (day 0), or dates / datetimes / ISO strings when
        ``treatment_start`` is given (day = calendar-date difference to ``treatment_start``).
        Unsorted input is sorted by day.
    values : sequence of float
        CA-125, U/mL, finite and >= 0. For a value reported as ``"<x"`` give ``x`` and set the
        matching ``censored`` flag.
    uln : float, optional
        Upper limit of normal, U/mL; overrides ``settings.uln`` (default 35). Recorded in the
        result (``uln`` and ``settings.uln``).
    settings : GcigSettings, optional
        Rule settings; ``settings.duplicates`` decides what two samples on one day do
        (default: :class:`~ca125kinetics.errors.InvalidInputError`).
    censored : sequence of bool, optional
        True where the value was reported as ``"<x"``: the value holds ``x`` and ``x`` is
        treated as an **upper bound** of the true value (module docstring: a censored value
        satisfies "<=" tests through its bound, never ">=" tests).
    events : iterable of (day_or_date, kind), optional
        ``kind`` in ``paracentesis``, ``thoracentesis``, ``surgery``, ``mouse_antibody``.
    assays : sequence of str, optional
        Assay name per sample (None/empty = unknown, never counted as a change).
    treatment_start : date, datetime or ISO string, optional
        First dose; required when ``days`` holds dates.

    Returns
    -------
    GcigResponse

    Raises
    ------
    InvalidInputError
        Lengths differ, a value is not a finite non-negative number, a day is not an integer
        (or not a date with ``treatment_start``), an unknown event kind, two samples on one day
        with ``settings.duplicates == "error"``.

    References
    ----------
    Rustin GJS et al. Int J Gynecol Cancer 2011;21:419-423. GCIG CA 125 definitions, 2005.
    """
    require_gcig_marker(marker)
    return _assess_response(_prepare(days, values, uln=uln, settings=settings, censored=censored,
                                     events=events, assays=assays, treatment_start=treatment_start))


# --------------------------------------------------------------------------------------
# Progression
# --------------------------------------------------------------------------------------


def _assess_progression(s: _Series) -> GcigProgression:
    st = s.settings
    uln = s.uln
    n = len(s.day)
    fields: dict[str, Any] = dict(
        progressed=False, group=None, progression_day=None, progression_value=None,
        confirmation_day=None, confirmation_value=None, threshold=None, nadir=None,
        baseline_day=None, baseline_value=None, uln=uln, n_samples=n, excluded=s.excluded, settings=st,
    )
    b, why = _baseline(s)
    if b is None:
        return GcigProgression(status="not_evaluable", reason=why, **fields)
    base, base_day = s.value[b], s.day[b]
    fields.update(baseline_day=base_day, baseline_value=base)
    normal_baseline = _le(base, uln)
    if s.censored[b] and not normal_baseline:
        return GcigProgression(status="not_evaluable", reason=(
            f"not evaluable: baseline reported as <{_num(base)} U/mL on day {base_day} with a limit above "
            f"the ULN ({_num(uln)} U/mL): cannot tell a raised from a normal baseline"), **fields)
    factor, gap = st.progression_factor, st.progression_gap_days
    f_txt = _factor(factor)
    normalised = False
    nadir = base
    pending = None
    for k in range(b + 1, n):
        v = s.value[k]
        if normal_baseline:
            group, thr, basis = "C", factor * uln, f"{f_txt} x ULN {_num(uln)} U/mL"
        elif normalised:
            group, thr, basis = "A", factor * uln, f"{f_txt} x ULN {_num(uln)} U/mL"
        else:
            group, thr, basis = "B", factor * nadir, f"{f_txt} x nadir {_num(nadir)} U/mL"
        if not s.censored[k] and _ge(v, thr) and not _le(v, uln):
            confirm = next((m for m in range(k + 1, n) if s.day[m] - s.day[k] >= gap), None)
            if confirm is None:
                pending = (k, thr, basis)
                break
            if all(not s.censored[q] and _ge(s.value[q], thr) for q in range(k + 1, confirm + 1)):
                c_day, c_value = s.day[confirm], s.value[confirm]
                fields.update(progressed=True, group=group, progression_day=s.day[k], progression_value=v,
                              confirmation_day=c_day, confirmation_value=c_value, threshold=thr, nadir=nadir)
                return GcigProgression(status="progression", reason=(
                    f"GCIG CA-125 progression (group {group}) on day {s.day[k]}: {_num(v)} U/mL, confirmed on "
                    f"day {c_day} ({c_day - s.day[k]} days later) by {_num(c_value)} U/mL, all >= {basis} "
                    f"({_num(thr)} U/mL); {_describe_group(group)}"), **fields)
        if _le(v, uln):
            normalised = True
        nadir = min(nadir, v)
    group = "C" if normal_baseline else ("A" if normalised else "B")
    thr = factor * (nadir if group == "B" else uln)
    fields.update(group=group, threshold=thr, nadir=nadir)
    if pending is not None:
        k, p_thr, basis = pending
        why = (f"candidate on day {s.day[k]} ({_num(s.value[k])} U/mL >= {basis} = {_num(p_thr)} U/mL) "
               f"awaits confirmation: no sample yet >= {gap} days later")
    elif group == "B":
        why = f"no two samples >= {f_txt} x nadir {_num(nadir)} U/mL ({_num(thr)} U/mL) at least {gap} days apart"
    else:
        why = f"no two samples >= {f_txt} x ULN ({_num(thr)} U/mL) at least {gap} days apart"
    return GcigProgression(status="no_progression", reason=(
        f"no GCIG CA-125 progression (group {group}): {why}; {_describe_group(group)}"), **fields)


def _describe_group(group: str) -> str:
    return {
        "A": "group A: raised before treatment, normalised on treatment",
        "B": "group B: raised before treatment, never normalised",
        "C": "group C: normal before treatment",
    }[group]


def gcig_progression(days, values, *, uln=None, settings=None, censored=None, events=None, assays=None,
                     treatment_start=None, marker="ca125") -> GcigProgression:
    """GCIG CA-125 progression (Rustin 2011; GCIG 2005). CA-125 only: another ``marker``
    raises :class:`InvalidInputError`.

    Progression is CA-125 at or above the threshold on **two occasions at least 7 days apart**;
    the date of progression is the first of the two. With ``C_b`` the baseline (as in
    :func:`gcig_response`: latest sample with ``-14 <= day <= 0``):

    * **Group C** (``C_b <= ULN``): threshold ``2 x ULN``.
    * Otherwise the on-treatment samples (``day > 0``) are read chronologically. A candidate is
      **group A** when an earlier on-treatment value was ``<= ULN`` (threshold ``2 x ULN``,
      counted only after the first normal value), else **group B** (threshold ``2 x nadir``;
      **Decision**: the nadir is the lowest value from the baseline up to the candidate).
    * A candidate must be ``>= threshold`` and ``> ULN`` (a rise within the normal range is
      never progression). It is confirmed by the first later sample drawn ``>= 7`` days after
      it (exactly 7 days counts); that sample and every sample in between must also be
      ``>= threshold``. Otherwise the scan goes on with the next sample.
    * Without progression, ``group`` is the patient's group after the last sample (A if CA-125
      ever normalised on treatment, else B; C if the baseline was normal) and ``threshold``
      the one then in force.
    * No baseline, or a change of assay -> ``status="not_evaluable"``. Exclusions and censored
      values as in :func:`gcig_response` (a censored value never reaches a threshold).

    Parameters
    ----------
    days, values, uln, settings, censored, events, assays, treatment_start
        As in :func:`gcig_response`.

    Returns
    -------
    GcigProgression

    Raises
    ------
    InvalidInputError
        As in :func:`gcig_response`.

    References
    ----------
    Rustin GJS et al. Int J Gynecol Cancer 2011;21:419-423. GCIG CA 125 definitions, 2005.
    """
    require_gcig_marker(marker)
    return _assess_progression(_prepare(days, values, uln=uln, settings=settings, censored=censored,
                                        events=events, assays=assays, treatment_start=treatment_start))


# --------------------------------------------------------------------------------------
# Combined RECIST 1.1 + CA-125 response (data-driven table)
# --------------------------------------------------------------------------------------

_TABLE_FILE = "combined_response.csv"
_RECIST = ("CR", "PR", "SD", "PD")
_TRI = ("yes", "no", "unknown")
_TABLE_INPUTS = {
    "recist": _RECIST,
    "new_lesion": ("yes", "no"),
    "ca125_progression": _TRI,
    "ca125_response": _TRI,
    "ca125_normal": _TRI,
}
_TABLE_COLUMNS = ("rule", *_TABLE_INPUTS, "combined", "basis")


@dataclass(frozen=True)
class _Rule:
    rule: int
    accepts: tuple[frozenset, ...]  # one set of accepted states per _TABLE_INPUTS key
    combined: str
    basis: str

    def matches(self, states: tuple[str, ...]) -> bool:
        return all(state in accepted for state, accepted in zip(states, self.accepts))


@functools.lru_cache(maxsize=1)
def _combined_rules() -> tuple[_Rule, ...]:
    """Rows of ``data/combined_response.csv``, validated (complete, well-formed)."""
    text = resources.files("ca125kinetics").joinpath("data").joinpath(_TABLE_FILE).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    reader = csv.DictReader(_io.StringIO("\n".join(lines)))
    if tuple(reader.fieldnames or ()) != _TABLE_COLUMNS:
        raise ModelIntegrityError(f"{_TABLE_FILE}: columns {reader.fieldnames} differ from {list(_TABLE_COLUMNS)}")
    rules = []
    for row in reader:
        accepts = []
        for name, states in _TABLE_INPUTS.items():
            cell = row[name].strip()
            got = frozenset(states) if cell == "*" else frozenset(p.strip() for p in cell.split("|"))
            if not got or not got <= set(states):
                raise ModelIntegrityError(f"{_TABLE_FILE}, rule {row['rule']}: {name}={cell!r}; use '*' or "
                                          f"'|'-separated values from {states}")
            accepts.append(got)
        if row["combined"] not in _RECIST:
            raise ModelIntegrityError(f"{_TABLE_FILE}, rule {row['rule']}: combined={row['combined']!r}")
        rules.append(_Rule(int(row["rule"]), tuple(accepts), row["combined"], row["basis"].strip()))
    for states in itertools.product(*_TABLE_INPUTS.values()):
        if not any(r.matches(states) for r in rules):
            raise ModelIntegrityError(f"{_TABLE_FILE} has no row for {dict(zip(_TABLE_INPUTS, states))}")
    return tuple(rules)


def combined_response_table():
    """The combined RECIST 1.1 + CA-125 table as a :class:`pandas.DataFrame` (first match wins).

    Columns: ``rule``, ``recist``, ``new_lesion``, ``ca125_progression``, ``ca125_response``,
    ``ca125_normal`` (``*`` = any; ``a|b`` = either), ``combined``, ``basis``.
    """
    import pandas as pd

    rows = []
    for r in _combined_rules():
        row = {"rule": r.rule}
        for (name, states), accepted in zip(_TABLE_INPUTS.items(), r.accepts):
            row[name] = "*" if accepted == frozenset(states) else "|".join(s for s in states if s in accepted)
        rows.append({**row, "combined": r.combined, "basis": r.basis})
    return pd.DataFrame(rows, columns=list(_TABLE_COLUMNS))


def _tri(flag) -> str:
    return "unknown" if flag is None else ("yes" if flag else "no")


def _flag(x, name: str) -> bool | None:
    if x is None:
        return None
    if x in (True, False) and not isinstance(x, (str, float)):
        return bool(x)
    raise InvalidInputError(f"{name} must be True, False or None, got {x!r}")


def combined_response(recist, *, ca125_response=None, ca125_progression=None, new_lesion=False,
                      ca125_normal=None) -> CombinedResponse:
    """Combined RECIST 1.1 + CA-125 response category (Rustin 2011), from a data table.

    The table ``ca125kinetics/data/combined_response.csv`` (see
    :func:`combined_response_table`) is read top-down and the first matching row fires. It was
    implemented from the text of Rustin et al., IJGC 2011, as summarised in spec section 3:
    RECIST PD or a new lesion -> PD; RECIST CR with normal CA-125 -> CR; RECIST CR with a CA-125
    response but not normal -> PR; RECIST PR -> PR unless CA-125 PD -> PD; RECIST SD with a
    confirmed CA-125 response -> PR; otherwise SD. Each row's ``basis`` says which sentence it
    implements or which Decision fills a gap:

    * **Decision (rule 3):** a confirmed GCIG CA-125 progression gives PD whatever the RECIST
      category (the spec states it for RECIST PR; GCIG 2011 counts CA-125 progression as
      progression, so it is applied to CR and SD as well).
    * **Decision (rule 6):** RECIST CR with CA-125 known not normal and no confirmed CA-125
      response -> PR (CR requires a normal CA-125, as a non-normalised non-target lesion would
      under RECIST 1.1).
    * **Decision (rule 7):** RECIST CR with CA-125 normality unknown -> CR (the combined
      category is downgraded only on evidence).
    * Only a *confirmed* GCIG response counts as a CA-125 response; ``unconfirmed`` and
      ``not_confirmed`` count as "no", ``not_evaluable`` as "unknown".

    Parameters
    ----------
    recist : {"CR", "PR", "SD", "PD"}
        RECIST 1.1 category (case-insensitive).
    ca125_response : GcigResponse, bool or None
        CA-125 response; None = unknown.
    ca125_progression : GcigProgression, bool or None
        Confirmed GCIG CA-125 progression; None = unknown (a ``not_evaluable`` progression
        result is also unknown).
    new_lesion : bool
        A new lesion was seen.
    ca125_normal : bool or None
        CA-125 within the normal range at the assessment. **Decision:** when None and
        ``ca125_response`` is a :class:`GcigResponse`, it is "latest sample used <= ULN"
        (``last_value``); otherwise unknown.

    Returns
    -------
    CombinedResponse

    Raises
    ------
    InvalidInputError
        Unknown RECIST category or a flag that is not a boolean.
    ModelIntegrityError
        The packaged table is malformed or leaves a combination of inputs without a row.
    """
    code = recist.strip().upper() if isinstance(recist, str) else recist
    if code not in _RECIST:
        raise InvalidInputError(f"recist must be one of {_RECIST} (RECIST 1.1), got {recist!r}", column="recist")
    if isinstance(ca125_response, GcigResponse):
        response = None if ca125_response.status == "not_evaluable" else ca125_response.responded
        if ca125_normal is None and ca125_response.last_value is not None:
            ca125_normal = _le(ca125_response.last_value, ca125_response.uln)
    else:
        response = _flag(ca125_response, "ca125_response")
    if isinstance(ca125_progression, GcigProgression):
        progression = None if ca125_progression.status == "not_evaluable" else ca125_progression.progressed
    else:
        progression = _flag(ca125_progression, "ca125_progression")
    lesion = _flag(new_lesion, "new_lesion")
    if lesion is None:
        raise InvalidInputError("new_lesion must be True or False, got None")
    normal = _flag(ca125_normal, "ca125_normal")
    states = (code, _tri(lesion), _tri(progression), _tri(response), _tri(normal))
    rule = next(r for r in _combined_rules() if r.matches(states))  # complete: checked at load
    return CombinedResponse(
        category=rule.combined,
        reason=(f"{rule.combined}: rule {rule.rule} of the combined RECIST 1.1 + CA-125 table ({rule.basis}); "
                f"RECIST {code}, new lesion {states[1]}, CA-125 progression {states[2]}, confirmed CA-125 "
                f"response {states[3]}, CA-125 normal {states[4]}"),
        rule=rule.rule, basis=rule.basis, recist=code, new_lesion=lesion,
        ca125_progression=states[2], ca125_response=states[3], ca125_normal=states[4],
    )


# --------------------------------------------------------------------------------------
# Cohort
# --------------------------------------------------------------------------------------


def _missing(x) -> bool:
    """None, NaN, pandas NA or NaT (cells of a DataFrame column turned into a list)."""
    if x is None:
        return True
    if isinstance(x, float):
        return x != x
    return type(x).__name__ in ("NAType", "NaTType")


def _invalid_values(reason: str, uln) -> dict[str, Any]:
    return dict(uln=uln, status="invalid_input", reason=reason, progression_status="invalid_input",
                progression_reason=reason)


def _with_combined(values: dict[str, Any], recist, response=None, progression=None) -> dict[str, Any]:
    """``values`` with ``combined_category`` from a RECIST value (invalid RECIST -> invalid)."""
    if _missing(recist):
        return values
    try:
        values["combined_category"] = combined_response(
            recist, ca125_response=response, ca125_progression=progression).category
    except InvalidInputError as exc:
        return _invalid_values(f"clinical {exc}; use CR, PR, SD or PD, or leave it empty", values.get("uln"))
    return values


def no_markers_values() -> dict[str, Any]:
    """The :data:`COHORT_COLUMNS` values (without ``patient_id``) of a patient with a clinical
    row but no CA-125 markers (status ``"no_markers"``)."""
    reason = "no CA-125 markers for this patient in the markers table"
    return dict(status="no_markers", reason=reason, progression_status="no_markers", progression_reason=reason,
                n_samples=0, n_excluded=0)


def patient_gcig(patient, day, ca125, cens, ulns, assay, event, problem, settings: GcigSettings,
                 settings_cache: dict | None = None, *, check: bool = True):
    """GCIG response and progression of one patient of a canonical markers frame.

    The per-patient step of :func:`gcig_cohort` (also used by ``predict``): the arguments are
    the patient's rows, in the frame's order, as sequences (``ca125`` NaN on event-only rows;
    ``event``, ``assay``, ``problem``, ``ulns`` None where empty). With ``check=False`` the
    rows are those of an ``io.PatientRecord``, already valid under io's rules, and are not
    checked again.

    Returns
    -------
    (dict, GcigResponse or None, GcigProgression or None)
        The values of the :data:`COHORT_COLUMNS` (without ``patient_id``), and the response
        and progression (None when the patient's input is invalid).
    """
    if settings_cache is None:
        settings_cache = {}
    uln_values = [u for u in ulns if not _missing(u)]
    uln = float(uln_values[0]) if uln_values else float(settings.uln)
    flagged = next((p for p in problem if not _missing(p)), None)
    if flagged is not None:
        return _invalid_values(str(flagged), uln), None, None
    uln_problem = None
    if len(set(uln_values)) > 1:
        shown = ", ".join(_num(u) for u in sorted(set(uln_values)))
        uln_problem = (f"not evaluable: the ULN differs within the patient ({shown} U/mL); GCIG requires "
                       "the same assay (and ULN) throughout")
    d_list, v_list, c_list, a_list, e_list = [], [], [], [], []
    for i in range(len(day)):
        if not _missing(event[i]):
            e_list.append((day[i], event[i]))
            if _missing(ca125[i]):
                continue
        d_list.append(day[i])
        v_list.append(ca125[i])
        c_list.append(bool(cens[i]) if not _missing(cens[i]) else False)
        a_list.append(assay[i])
    try:
        for i, d in enumerate(d_list):
            if type(d) is not int:
                d_list[i] = _to_day(d, None, "day")
        for j, (d, _) in enumerate(e_list):
            e_list[j] = (_to_day(d, None, "event day"), e_list[j][1])
        if uln not in settings_cache:
            settings_cache[uln] = _settings_for(settings, _resolve_uln(uln, settings))
        if check:
            _check_series(d_list, v_list, e_list, settings, patient_id=patient)
        series = _build(d_list, v_list, c_list, a_list, e_list, uln, settings_cache[uln], problem=uln_problem)
        res = _assess_response(series)
        prog = _assess_progression(series)
    except InvalidInputError as exc:
        return _invalid_values(str(exc), uln), None, None
    values = dict(
        uln=uln, n_samples=res.n_samples, n_excluded=len(res.excluded), baseline_day=res.baseline_day,
        baseline_value=res.baseline_value, evaluable=res.evaluable, responded=res.responded,
        category=res.category, response_day=res.response_day, confirmation_day=res.confirmation_day,
        status=res.status, reason=res.reason, progressed=prog.progressed, progression_group=prog.group,
        progression_day=prog.progression_day, progression_status=prog.status,
        progression_reason=prog.reason,
    )
    return values, res, prog


def gcig_cohort(markers, clinical=None, *, settings=None, marker="ca125"):
    """GCIG response, progression (and combined category) for every patient of a cohort.

    CA-125 only: another ``marker``, or a markers frame holding another marker's values
    (a ``cea`` column and no ``ca125``), raises :class:`InvalidInputError`.

    Parameters
    ----------
    markers : pandas.DataFrame
        The canonical markers frame (``ca125kinetics.io.read_markers``): columns
        ``patient_id``, ``day``, ``ca125`` and optionally ``censored``, ``uln``, ``assay``,
        ``event``, ``problem``; extra columns are ignored. A row with an ``event`` adds that
        event for its patient (an event-only row has ``ca125`` NaN).
    clinical : pandas.DataFrame, optional
        One row per patient with ``patient_id``; when it has a ``recist`` column, the
        combined category is added. Patients in ``clinical`` without markers get a row with
        status ``"no_markers"`` (their combined category comes from RECIST alone).
    settings : GcigSettings, optional
        Rule settings. The ULN of each patient comes from the markers ``uln`` column when
        present (else ``settings.uln``).

    Returns
    -------
    pandas.DataFrame
        One row per patient, sorted by ``patient_id``, with the columns of
        :data:`COHORT_COLUMNS` in that order, then ``recist`` and ``combined_category`` when
        ``clinical`` has ``recist``. ``status`` / ``progression_status`` are the values of
        :func:`gcig_response` / :func:`gcig_progression`, or ``"invalid_input"`` (the patient's
        rows carry ``problem``, or its data fail validation: the reason says why) or
        ``"no_markers"``. Day columns are nullable ``Int64``; ``evaluable``, ``responded`` and
        ``progressed`` are nullable ``boolean`` (NA for ``invalid_input`` / ``no_markers``).

    Notes
    -----
    **Decision:** if the ``uln`` column differs within a patient, the patient is not evaluable
    (like an assay change), with a reason; the first row's ULN is reported. A ``recist`` value
    outside CR/PR/SD/PD makes the patient ``invalid_input``. Nothing is dropped: every patient
    of ``markers`` and of ``clinical`` has exactly one row.

    Raises
    ------
    InvalidInputError
        ``markers`` lacks a required column, or ``clinical`` lacks ``patient_id`` or repeats a
        patient.
    """
    import numpy as np
    import pandas as pd

    require_gcig_marker(marker)
    if isinstance(markers, pd.DataFrame) and "ca125" not in markers.columns:
        for other in MARKERS:
            if other in markers.columns:
                require_gcig_marker(other)
    if settings is None:
        settings = GcigSettings()
    elif not isinstance(settings, GcigSettings):
        raise InvalidInputError(f"settings must be a GcigSettings, got {type(settings).__name__}")
    if not isinstance(markers, pd.DataFrame):
        raise InvalidInputError(f"markers must be a pandas DataFrame, got {type(markers).__name__}")
    missing = [c for c in ("patient_id", "day", "ca125") if c not in markers.columns]
    if missing:
        raise InvalidInputError(f"markers lacks column(s) {missing}; read it with ca125kinetics.io.read_markers",
                                column=missing[0])
    recist_of: dict[str, Any] = {}
    clinical_ids: list[str] = []
    has_recist = False
    if clinical is not None:
        if not isinstance(clinical, pd.DataFrame) or "patient_id" not in clinical.columns:
            raise InvalidInputError("clinical must be a pandas DataFrame with a 'patient_id' column",
                                    column="patient_id")
        clinical_ids = [str(p) for p in clinical["patient_id"].tolist()]
        dup = pd.Index(clinical_ids)
        if dup.has_duplicates:
            raise InvalidInputError(f"clinical repeats patient(s) {sorted(set(dup[dup.duplicated()]))}; "
                                    "keep one row per patient", column="patient_id")
        has_recist = "recist" in clinical.columns
        if has_recist:
            recist_of = dict(zip(clinical_ids, clinical["recist"].tolist()))

    frame = markers
    pid_text = frame["patient_id"].astype(str)
    if not pid_text.is_monotonic_increasing:
        order = np.argsort(pid_text.to_numpy(), kind="stable")
        frame, pid_text = frame.iloc[order], pid_text.iloc[order]
    n_rows = len(frame)
    pid = pid_text.to_numpy()
    day = frame["day"].tolist()
    ca125 = frame["ca125"].tolist()

    def column(name, default):
        return frame[name].tolist() if name in frame.columns else [default] * n_rows

    cens = column("censored", False)
    ulns = column("uln", None)
    assay = column("assay", None)
    event = column("event", None)
    problem = column("problem", None)
    starts = np.flatnonzero(np.r_[True, pid[1:] != pid[:-1]]) if n_rows else np.array([], dtype=int)
    bounds = zip(starts.tolist(), [*starts[1:].tolist(), n_rows])

    out: dict[str, list] = {c: [] for c in COHORT_COLUMNS}
    if has_recist:
        out.update({c: [] for c in _COMBINED_COLUMNS})
    settings_cache: dict[float, GcigSettings] = {}

    def add(patient, values: dict[str, Any]):
        out["patient_id"].append(patient)
        for c in COHORT_COLUMNS[1:]:
            out[c].append(values.get(c))
        if has_recist:
            recist = recist_of.get(patient)
            recist = None if _missing(recist) else recist
            out["recist"].append(recist)
            out["combined_category"].append(values.get("combined_category"))

    def add_with_combined(patient, values: dict[str, Any], response=None, progression=None):
        if has_recist:
            values = _with_combined(values, recist_of.get(patient), response, progression)
        add(patient, values)

    seen = set()
    for lo, hi in bounds:
        patient = pid[lo]
        seen.add(patient)
        values, res, prog = patient_gcig(patient, day[lo:hi], ca125[lo:hi], cens[lo:hi], ulns[lo:hi],
                                         assay[lo:hi], event[lo:hi], problem[lo:hi], settings, settings_cache)
        if res is None:
            add(patient, values)
        else:
            add_with_combined(patient, values, res, prog)

    for patient in clinical_ids:
        if patient in seen:
            continue
        add_with_combined(patient, no_markers_values())

    result = pd.DataFrame(out)
    result = result.astype({
        "patient_id": object, "uln": "float64", "n_samples": "Int64", "n_excluded": "Int64",
        "baseline_day": "Int64", "baseline_value": "float64", "evaluable": "boolean",
        "responded": "boolean", "response_day": "Int64", "confirmation_day": "Int64",
        "progressed": "boolean", "progression_day": "Int64",
    })
    return result.sort_values("patient_id", kind="stable").reset_index(drop=True)
