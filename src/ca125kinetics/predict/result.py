"""The result of scoring: :class:`Prediction` (one patient), the columns of the score frame,
and their JSON and text forms (what ``ca125 score`` prints).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidInputError
from .._columns import probability_text, threshold_text
from ..io import json_value

#: Statuses of a patient the model scored (a probability): ``"ok"``, and ``"insufficient"``
#: (scored, the decision withheld: a clinical predictor unknown, no CA-125 after the first dose
#: for the kinetics, or the entry criterion undetermined). ``"invalid_input"`` and
#: ``"not_scored"`` patients have no probability.
SCORED_STATUSES = ("ok", "insufficient")


_GCIG_COLUMNS = (
    "gcig_evaluable", "gcig_responded", "gcig_category", "gcig_status", "gcig_reason", "gcig_uln",
    "gcig_baseline_day", "gcig_baseline_value", "gcig_response_day", "gcig_confirmation_day",
)


_PROGRESSION_COLUMNS = (
    "progressed", "progression_group", "progression_day", "progression_status", "progression_reason",
)


_PUBLISHED_COLUMNS = (
    "ago_positive", "ago_status", "ago_reason",
    "imodel_points", "imodel_low_risk", "imodel_status", "imodel_reason",
    "mskcc_recommendation", "mskcc_status", "mskcc_reason",
)


DISCLAIMER = "Research software, not a medical device."


SYNTHETIC_NOTE = "Model trained on synthetic data."


def _notice(synthetic: bool) -> str:
    """What every output of a model says about it: :data:`DISCLAIMER`, and
    :data:`SYNTHETIC_NOTE` when it was trained on synthetic data."""
    return DISCLAIMER + (" " + SYNTHETIC_NOTE if synthetic else "")


_KINETICS_COLUMNS = (
    "k", "half_life_days", "kelim_score", "c0", "floor", "kinetics_n_samples", "kinetics_status",
    "kinetics_reason",
)


#: Columns of :func:`score_frame`, in order (see the module docstring).
SCORE_COLUMNS = (
    "patient_id", "status", "reason",
    "probability", "p_low", "p_high", "threshold", "decision", "rule", "recommendation",
    *_KINETICS_COLUMNS,
    *_GCIG_COLUMNS,
    *_PROGRESSION_COLUMNS,
    "recist", "combined_category",
    *_PUBLISHED_COLUMNS,
    "warnings",
    "model_name", "model_version", "model_family", "trained_on_synthetic", "settings_json",
)

#: Columns of :func:`score_frame` for a model of a task other than the default
#: (:mod:`ca125kinetics.task`): no GCIG rule or ovarian score applies.
#: ``uln`` and ``post_uln`` are the ULNs (marker units) the patient's values were read by: the
#: baseline sample's and the last used on-treatment sample's (NaN without one), each its row's
#: ``uln`` or the marker's default, as the response features read them.
TASK_SCORE_COLUMNS = ("patient_id", "status", "reason", "probability", "p_low", "p_high", "threshold",
                      "decision", "warnings", "task", "outcome", "marker", "uln", "post_uln", "model_name",
                      "model_version", "model_family", "trained_on_synthetic")



@dataclass(frozen=True)
class Prediction:
    """Score of one patient (see :func:`predict`); one row of :func:`score_frame`.

    Attributes
    ----------
    patient_id, status, reason : str, str, str or None
        As in :data:`SCORE_COLUMNS`. ``status`` is ``"ok"``, ``"insufficient"`` (decision
        withheld: model inputs missing, or the entry criterion undetermined),
        ``"invalid_input"`` or ``"not_scored"``.
    probability, p_low, p_high : float
        Probability of complete resection and its interval (NaN when not scored).
    threshold : float
        The model's decision threshold.
    decision, rule, recommendation : str
        Which rule of the decision rule fired (:data:`DECISIONS`), in words, and the
        plain-language recommendation.
    kinetics : dict
        ``k``, ``half_life_days``, ``kelim_score``, ``c0``, ``floor``, ``n_samples``,
        ``status``, ``reason``.
    gcig : dict
        GCIG response: ``evaluable``, ``responded``, ``category``, ``status``, ``reason``,
        ``uln``, ``baseline_day``, ``baseline_value``, ``response_day``,
        ``confirmation_day``.
    progression : dict
        GCIG progression: ``progressed``, ``group``, ``day``, ``status``, ``reason``.
    recist, combined_category : str or None
        RECIST category given and the combined RECIST + CA-125 category.
    published_scores : dict
        The three published scores, always all of them: ``ago_positive``, ``imodel_points``,
        ``imodel_low_risk``, ``mskcc_recommendation`` (None unless the score's inputs decide
        it, status ``ok`` or ``ok_with_missing``), and for each score ``*_status`` and
        ``*_reason`` (``missing_input`` naming the missing inputs, ``not_applicable``,
        ``invalid_input``), as the columns of ``predict_cohort``.
    warnings : tuple of str
        Per-patient warnings (data quality, out-of-range inputs).
    model : dict
        ``name``, ``version``, ``family``, ``trained_on_synthetic``, ``threshold``,
        ``gcig_settings``, ``kinetics_settings``.
    series : tuple of dict
        The observed samples ``{"day", "ca125", "censored", "event"}`` (for a plot).
    curve : tuple of (float, float)
        Fitted curve ``(day, CA-125)`` points (:func:`curve_points`); empty when the
        kinetics fit failed.
    """

    patient_id: str
    status: str
    reason: str | None
    probability: float
    p_low: float
    p_high: float
    threshold: float
    decision: str
    rule: str
    recommendation: str
    kinetics: dict
    gcig: dict
    progression: dict
    recist: str | None
    combined_category: str | None
    published_scores: dict
    warnings: tuple[str, ...]
    model: dict
    series: tuple = ()
    curve: tuple = ()
    _trajectory: Any = field(default=None, repr=False, compare=False)
    _row: Any = field(default=None, repr=False, compare=False)

    @property
    def trajectory(self):
        """The decision after every landmark reached (day 35, after cycles 2, 3, 4): each
        landmark model's probability and interval on the series truncated at the landmark
        (with the sample days used and the model's AUC), each landmark not reached with why,
        then the full series, and whether the decision has been stable
        (:class:`ca125kinetics.landmarks.Trajectory`; its ``status`` says why there is no
        decision: a model without landmark models, no landmark reached, clinical predictors
        unknown, not scored). Computed on first
        access (for the results of one ``predict_many`` call, all at once) and kept: it costs
        a scoring pass of the truncated series, which a caller who only needs the probability
        does not pay."""
        value = self._trajectory
        if callable(value):
            value = value()
            object.__setattr__(self, "_trajectory", value)
        return value

    @property
    def resectable(self) -> bool | None:
        """True when the decision is ``resectable``, False for the other scored decisions,
        None when not scored or when the decision was withheld (``insufficient_information``)."""
        if self.decision in ("invalid_input", "not_scored", "insufficient_information"):
            return None
        return self.decision == "resectable"

    def to_frame(self) -> pd.DataFrame:
        """One-row DataFrame with the columns of :data:`SCORE_COLUMNS` (the dtypes of
        :func:`score_frame`)."""
        if isinstance(self._row, dict):
            return _frame(_columns_from_rows([self._row]))
        raise InvalidInputError("this Prediction was not built by the scoring code and has no frame form")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN -> None, tuples -> lists); the web API returns it. Its ``notice``
        is what every recommendation ends with ("Research software, not a medical device.",
        and "Model trained on synthetic data." for such a model), a field of its own for a
        client that shows only the probability and the decision."""
        out = {
            "patient_id": self.patient_id, "notice": _notice(bool(self.model.get("trained_on_synthetic"))),
            "status": self.status, "reason": self.reason,
            "probability": self.probability, "p_low": self.p_low, "p_high": self.p_high,
            "threshold": self.threshold, "decision": self.decision, "rule": self.rule,
            "recommendation": self.recommendation, "kinetics": dict(self.kinetics),
            "gcig": dict(self.gcig), "progression": dict(self.progression), "recist": self.recist,
            "combined_category": self.combined_category,
            "published_scores": dict(self.published_scores), "warnings": list(self.warnings),
            "model": dict(self.model), "series": [dict(s) for s in self.series],
            "curve": [{"day": d, "ca125": v} for d, v in self.curve],
            "trajectory": None if self.trajectory is None else self.trajectory.to_dict(),
        }
        return json_value(out)

    def to_text(self) -> str:
        """A short report readable by a clinician (what ``ca125 score`` prints)."""
        return _format_text(self)


def _is_missing(value) -> bool:
    kind = type(value)
    if kind is str or kind is int or kind is bool:
        return False
    if kind is float:
        return value != value
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, (float, np.floating)):
        return bool(np.isnan(value))
    return False


#: Score columns of each kind (the others are text, None when missing). In the columns the
#: engine builds (:func:`_frame`, :func:`_rows`) every non-text column is float64 with NaN
#: for missing: whole numbers for the ``int`` ones, 1.0/0.0 for the ``bool`` ones.
_FLOAT_COLUMNS = ("probability", "p_low", "p_high", "threshold", "k", "half_life_days", "kelim_score", "c0",
                  "floor", "gcig_uln", "gcig_baseline_value", "imodel_points")
_INT_COLUMNS = ("kinetics_n_samples", "gcig_baseline_day", "gcig_response_day", "gcig_confirmation_day",
                "progression_day")
_BOOL_COLUMNS = ("gcig_evaluable", "gcig_responded", "progressed", "ago_positive", "imodel_low_risk",
                 "trained_on_synthetic")
_KIND = {**dict.fromkeys(_FLOAT_COLUMNS, "float"), **dict.fromkeys(_INT_COLUMNS, "int"),
         **dict.fromkeys(_BOOL_COLUMNS, "bool"),
         "kinetics_n_on": "int"}      # the engine's count of used on-treatment samples (no score column)


def _column(values, name: str) -> np.ndarray:
    """``values`` (a sequence, numpy or pandas array) as the engine holds column ``name``:
    float64 with NaN for a number, whole number or flag, an object array with None for text."""
    if isinstance(values, (pd.Series, pd.api.extensions.ExtensionArray)):
        values = pd.Series(values)
        if name in _KIND:
            return values.to_numpy(dtype=float, na_value=np.nan)
        values = values.to_numpy(dtype=object, na_value=None)
    if isinstance(values, np.ndarray) and len(values) > 64:     # a column: whole-array operations
        if name in _KIND:
            if values.dtype.kind in "fiub":
                return values.astype(float)
            return np.where(pd.isna(values), np.nan, values).astype(float)
        out = values.astype(object)
        missing = pd.isna(out)
        if missing.any():
            out = out.copy() if out is values else out
            out[missing] = None
        return out
    if name in _KIND:
        if isinstance(values, np.ndarray) and values.dtype.kind in "fiub":
            return values.astype(float)
        items = values.tolist() if isinstance(values, np.ndarray) else values
        return np.array([np.nan if _is_missing(v) else float(v) for v in items], dtype=float)
    items = values.tolist() if isinstance(values, np.ndarray) else values
    out = np.empty(len(items), dtype=object)
    out[:] = [None if _is_missing(v) else v for v in items]
    return out


#: Text columns of the model that scored the rows: one value in every row of an engine's
#: table (``engine._score_columns`` fills them with one string), held as one repeated text.
_MODEL_TEXT = ("model_name", "model_version", "model_family", "settings_json")


def _frame(columns: dict) -> pd.DataFrame:
    """The score frame of the engine's columns: fixed dtypes whatever the mix of patients
    (float64; nullable ``Int64`` and ``boolean``; ``trained_on_synthetic`` bool; text as
    pandas types text: an Arrow string array of the engine taken without a copy)."""
    from .._columns import constant_text, is_arrow, text_column

    out = {}
    for name in SCORE_COLUMNS:
        v = columns[name]
        kind = _KIND.get(name)
        if name in _MODEL_TEXT and len(v) and isinstance(v[0], str) and bool((v == v[0]).all()):
            out[name] = constant_text(v[0], len(v))     # one model: one value in every row
            continue
        if kind is None and name != "patient_id" and (is_arrow(v) or (isinstance(v, np.ndarray) and v.dtype == object)):
            # text converted by pyarrow, not string by string; text also without a value in
            # any row (a chunk of patients without markers)
            out[name] = text_column(v, text=True)
            continue
        if kind is None or kind == "float":
            out[name] = v
            continue
        missing = np.isnan(v)
        if name == "trained_on_synthetic":
            out[name] = v == 1.0
        elif kind == "int":
            out[name] = pd.arrays.IntegerArray(np.where(missing, 0, v).astype(np.int64), missing)
        else:
            out[name] = pd.arrays.BooleanArray(v == 1.0, missing)
    # identifiers stay objects: the DataFrame would read an object array as text (pandas >= 3)
    out["patient_id"] = pd.Series(out["patient_id"], dtype=object)
    return pd.DataFrame(out, columns=list(SCORE_COLUMNS))


def _rows(columns: dict, names=SCORE_COLUMNS) -> list[dict]:
    """The engine's columns as one dict per patient of plain Python values (None missing)."""
    from .._columns import text_list

    plain = {}
    for name in names:
        v = columns[name]
        kind = _KIND.get(name)
        if kind is None:
            plain[name] = text_list(v)
            continue
        values = v.tolist()
        if kind == "int":
            values = [None if x != x else int(x) for x in values]
        elif kind == "bool":
            values = [None if x != x else x == 1.0 for x in values]
        else:
            values = [None if x != x else x for x in values]
        plain[name] = values
    return [dict(zip(plain, row)) for row in zip(*plain.values())]


def _columns_from_rows(rows: list[dict], names=SCORE_COLUMNS) -> dict:
    """Rows of plain values (:func:`_rows`) back as the engine's columns."""
    return {name: _column([r.get(name) for r in rows], name) for name in names}


def curve_points(k, floor, c0, *, first_day: int = 0, last_day: int = 100, n: int = 51) -> tuple:
    """Fitted KELIM-like curve ``C(t) = B + (C0 - B) exp(-k t)`` on a day grid, for plotting.

    Parameters
    ----------
    k : float
        Elimination rate constant (per day), as fitted by the kinetics step.
    floor, c0 : float
        Floor ``B`` and CA-125 at day 0 ``C0`` (U/mL).
    first_day, last_day : int
        Grid range; days before 0 take ``C0`` (no decline before the first dose).
    n : int
        Number of grid points (evenly spaced, ends included).

    Returns
    -------
    tuple of (float, float)
        ``(day, CA-125)`` pairs, rounded to 0.01 day and 0.001 U/mL; empty when an input is
        missing or not finite.
    """
    values = [k, floor, c0]
    if any(_is_missing(v) for v in values) or not all(math.isfinite(float(v)) for v in values):
        return ()
    k, floor, c0 = float(k), float(floor), float(c0)
    if last_day <= first_day or n < 2:
        return ()
    days = np.linspace(first_day, last_day, n)
    t = np.clip(days, 0.0, None)
    level = floor + (c0 - floor) * np.exp(-k * t)
    return tuple((round(float(d), 2), round(float(v), 3)) for d, v in zip(days, level))


#: The published scores of a Prediction: score -> its value fields (with ``<score>_status`` and
#: ``<score>_reason`` always present, so an undetermined score says why).
_PUBLISHED_VALUES = (("ago", ("ago_positive",)), ("imodel", ("imodel_points", "imodel_low_risk")),
                     ("mskcc", ("mskcc_recommendation",)))


def _is_nan(value) -> bool:
    return isinstance(value, float) and value != value


def _prediction_from_row(row: dict, samples: tuple, bundle, trajectory=None) -> Prediction:
    last = max((d for d, *_ in samples), default=0)
    first = min((d for d, *_ in samples), default=0)
    curve = curve_points(row["k"], row["floor"], row["c0"], first_day=min(first, 0),
                         last_day=max(last, bundle.kinetics_settings.window_days if last > 0 else 0))
    published = {}
    for score, value_cols in _PUBLISHED_VALUES:
        decided = row[f"{score}_status"] in ("ok", "ok_with_missing")
        for c in value_cols:
            published[c] = row[c] if decided and not _is_nan(row[c]) else None
        published[f"{score}_status"] = row[f"{score}_status"]
        published[f"{score}_reason"] = row[f"{score}_reason"]
    nan = float("nan")
    return Prediction(
        patient_id=row["patient_id"], status=row["status"], reason=row["reason"],
        probability=nan if row["probability"] is None else row["probability"],
        p_low=nan if row["p_low"] is None else row["p_low"],
        p_high=nan if row["p_high"] is None else row["p_high"],
        threshold=row["threshold"], decision=row["decision"], rule=row["rule"],
        recommendation=row["recommendation"],
        kinetics={"k": row["k"], "half_life_days": row["half_life_days"], "kelim_score": row["kelim_score"],
                  "c0": row["c0"], "floor": row["floor"], "n_samples": row["kinetics_n_samples"],
                  "status": row["kinetics_status"], "reason": row["kinetics_reason"]},
        gcig={"evaluable": row["gcig_evaluable"], "responded": row["gcig_responded"],
              "category": row["gcig_category"], "status": row["gcig_status"], "reason": row["gcig_reason"],
              "uln": row["gcig_uln"], "baseline_day": row["gcig_baseline_day"],
              "baseline_value": row["gcig_baseline_value"], "response_day": row["gcig_response_day"],
              "confirmation_day": row["gcig_confirmation_day"]},
        progression={"progressed": row["progressed"], "group": row["progression_group"],
                     "day": row["progression_day"], "status": row["progression_status"],
                     "reason": row["progression_reason"]},
        recist=row["recist"], combined_category=row["combined_category"],
        published_scores=published,
        warnings=tuple(w for w in (row["warnings"] or "").split("; ") if w),
        model={"name": row["model_name"], "version": row["model_version"], "family": row["model_family"],
               "trained_on_synthetic": row["trained_on_synthetic"], "threshold": row["threshold"],
               **json.loads(row["settings_json"])},
        series=tuple({"day": d, "ca125": v, "censored": c, "event": e} for d, v, c, e in samples),
        curve=curve,
        _trajectory=trajectory,
        _row=dict(row),
    )


def _fmt(value, spec: str = "g", unit: str = "") -> str:
    if _is_missing(value):
        return "-"
    if isinstance(value, (float, int)) and not isinstance(value, bool):
        return f"{value:{spec}}{unit}"
    return f"{value}{unit}"


def _imputed_note(p: Prediction) -> str:
    """What the probability line adds when the probability rests on imputed inputs: withheld
    for them (rule 5), or decided on them because the caller allowed it (the recommendation
    names them); nothing otherwise."""
    if p.status == "insufficient" and "imputed" in (p.reason or ""):
        return " -- computed with unknown factors imputed"
    row = p._row or {}
    if p.status == "ok" and (row.get("predictors_imputed") or row.get("kinetics_n_on") == 0):
        return " -- computed with unknown factors imputed (allowed by the caller)"
    return ""


def _favourable_text() -> str:
    """The KELIM cut-off a single patient's report applies, with its setting named (a cut-off
    per setting, ``settings.KELIM_CUTOFFS``): ``favourable >= 1.0, the first_line cut-off;
    relapse 1.08``."""
    from ..settings import KELIM_CUTOFFS, KELIM_FAVOURABLE_SCORE

    used = next((name for name, value in KELIM_CUTOFFS.items() if value == KELIM_FAVOURABLE_SCORE), None)
    others = "; ".join(f"{name} {value:g}" for name, value in KELIM_CUTOFFS.items() if name != used)
    return (f"favourable >= {KELIM_FAVOURABLE_SCORE:g}" + (f", the {used} cut-off" if used else "")
            + (f"; {others}" if others else ""))


def _format_text(p: Prediction) -> str:
    lines = [f"Patient {p.patient_id}", ""]
    if p.status in SCORED_STATUSES:
        lines.append(f"  Probability of complete resection: {probability_text(p.probability, p.threshold)} "
                     f"(interval {_fmt(p.p_low, '.2f')} to {_fmt(p.p_high, '.2f')}; "
                     f"threshold {threshold_text(p.threshold)})"
                     + _imputed_note(p))
        if p.status == "insufficient":
            lines.append(f"  Decision withheld: {p.reason}")
    else:
        lines.append(f"  Not scored ({p.status}): {p.reason}")
    g = p.gcig
    verdict = {"response": f"response ({g['category']}), fall on day {g['response_day']}, "
                           f"confirmed on day {g['confirmation_day']}"}.get(g["status"], g["status"] or "-")
    lines.append(f"  GCIG CA-125 response: {verdict}")
    if g["reason"]:
        lines.append(f"    {g['reason']}")
    pr = p.progression
    if pr["progressed"]:
        lines.append(f"  GCIG CA-125 progression: group {pr['group']}, day {pr['day']}")
    else:
        lines.append(f"  GCIG CA-125 progression: {pr['status'] or '-'}")
    if p.status != "invalid_input":
        category = p.combined_category or "undetermined (RECIST unknown: give recist)"
        lines.append(f"  RECIST: {p.recist or 'unknown'}; combined RECIST + CA-125 category: {category}")
    k = p.kinetics
    ks = p.model.get("kinetics") or {}
    lines.append(f"  KELIM-like k: {_fmt(k['k'], '.4f', '/day')}, half-life {_fmt(k['half_life_days'], '.1f', ' days')}, "
                 f"standardized score {_fmt(k['kelim_score'], '.2f')} ({_favourable_text()})")
    lines.append(f"    score = k / k_ref, k_ref {_fmt(ks.get('k_ref'), '.4g', '/day')} "
                 f"({ks.get('k_ref_source') or 'source not recorded'})")
    if p.published_scores:
        ps = p.published_scores
        parts = []
        if ps.get("ago_positive") is not None:
            parts.append(f"AGO {'positive' if ps['ago_positive'] else 'negative'}")
        if ps.get("imodel_low_risk") is not None:
            pts = ps.get("imodel_points")
            parts.append(f"iMODEL {'low' if ps['imodel_low_risk'] else 'high'} risk"
                         + (f" ({pts:.1f} points)" if pts is not None else ""))
        if ps.get("mskcc_recommendation"):
            parts.append(f"MSKCC: {ps['mskcc_recommendation']} secondary cytoreduction")
        for score, name in (("ago", "AGO"), ("imodel", "iMODEL"), ("mskcc", "MSKCC")):
            if ps.get(f"{score}_status") not in (None, "ok", "ok_with_missing"):
                parts.append(f"{name} not determined ({ps[f'{score}_reason']})")
        lines.append("  Published scores: " + "; ".join(parts))
    if p.trajectory is not None:
        lines.append("")
        lines.extend("  " + line for line in p.trajectory.to_text().splitlines())
    lines.append("")
    lines.append(f"  Recommendation: {p.recommendation}")
    lines.append(f"  Rule: {p.rule}")
    if p.warnings:
        lines.append("")
        lines.append("  Warnings:")
        lines.extend(f"    - {w}" for w in p.warnings)
    m = p.model
    lines.append("")
    # the model's ULN fills a sample without one; the patient's own ULN, where it differs, is said
    own = (p.gcig or {}).get("uln")
    uln = f"ULN {m['gcig']['uln']:g} U/mL" + (
        f" (where a sample states none; this patient's samples: {own:g} U/mL)"
        if isinstance(own, (int, float)) and math.isfinite(own) and own != m["gcig"]["uln"] else "")
    lines.append(f"  Model: {m['name']} {m['version']} ({m['family']}); {uln}, "
                 f"k_ref {m['kinetics']['k_ref']:g}/day"
                 + ("; trained on synthetic data" if m["trained_on_synthetic"] else ""))
    return "\n".join(lines)
