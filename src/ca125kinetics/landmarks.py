"""Landmark predictions: a decision after every cycle, from the samples drawn by then.

A patient at first platinum-sensitive recurrence receives 3-4 cycles of 21 days before
secondary cytoreduction is decided. The shipped model (``ca125 train``) scores the whole
CA-125 series; a *landmark* model scores the series as it stood at a fixed point of
treatment, so that a decision can be read after every cycle (RESCUE, NCT07295132), at week
5 (PRESELECT-I, NCT07023484, draws an extra CA-125 then) or after 3 cycles (NACT-KELIM ID,
NCT07382479).

Landmarks (**Decision**, :class:`LandmarkSettings`)
---------------------------------------------------
Days count from the first dose (day 0), as everywhere in the package. With
``cycle_days`` = 21 and ``cycle_window_days`` = 7 (``KineticsSettings``, the window the
kinetics already uses for "the sample before cycle c"):

* **after cycle c** (``cycles``, default 2, 3, 4) is the visit before cycle ``c + 1``,
  nominal day ``D = c * cycle_days`` (42, 63, 84). The sample of that visit may be drawn
  ``cycle_window_days`` early or late, so the landmark's window is ``[D - w, D + w]``
  (35-49, 56-70, 77-91);
* **early** landmarks (``early_days``, default 35: PRESELECT-I's week-5 sample) are a
  fixed day ``D`` with window ``[D - early_window_days, D + early_window_days]``
  (default 0: exactly day 35).

A landmark's prediction uses only the samples with ``day <= D + w`` (:attr:`Landmark.last_day`,
**strict truncation** by :func:`truncate_markers`, the one function training and
prediction both use): no later sample can change it. A patient has **reached** the landmark
when her latest CA-125 sample is on or after ``D - w`` (:attr:`Landmark.first_day`): the
landmark's sample has been drawn. Until day ``D + w`` a further sample inside the window can
still enter that landmark's prediction (the visit may be late); after it, the landmark's
prediction is fixed. Event rows (paracentesis, ...) after ``D + w`` are cut too: an event that
has not happened yet cannot exclude a sample.

The clinical factors are known at baseline, except the **RECIST** category: the data contract
has no date for it, and imaging response is usually assessed after 3 cycles. **Decision**: a
landmark whose nominal day is before ``recist_from_cycle * cycle_days`` (default cycle 3,
day 63) treats RECIST as unknown (:func:`clinical_at`), in training and prediction alike;
later landmarks use the category given.

Landmark models (**Decision**)
------------------------------
One model per landmark, trained on the truncated series with the same machinery as the
shipped model, because the distribution of the kinetics features changes with truncation (at
day 35 most patients have two samples, too few for ``k``; the percent declines of later
cycles are not known yet): the **selected family with its hyperparameters** (no second
family search), the same patient frame (:func:`ca125kinetics.features.build_patient_frame`
on the truncated markers: GCIG response as of the landmark, CA-125 at recurrence), the same
bootstrap interval ensemble. Two things are held at those of the shipped model: the
**kinetics population prior** (the distribution of ``log k`` and ``log B`` learned on the
development patients' full series, a property of the patients that truncated series of two
or three samples cannot estimate; it is used as a fixed prior, ``KineticsFeatures(population=...)``)
and the decision **threshold**. The landmark classifier is not recalibrated (recalibration
needs out-of-fold predictions, i.e. a cross-validation per landmark); its calibration on the
evaluation patients is reported instead.

Each landmark model is fitted (by ``ca125 train``: ``train._fit_landmark_models``) on the
development patients who reached the landmark and evaluated on the evaluation patients who
reached it (held-out set; without one, the pooled
out-of-fold predictions of the first cross-validation repeat, each fold's model with the
population learned on that fold's training patients as prior), the population a landmark serves. Reported per landmark: AUC with
DeLong 95 % CI, Brier, calibration-in-the-large and slope with Wald CIs, and the
**agreement** of the landmark decision (``p >= threshold``) with the final decision (the
shipped model on the full series, same threshold), with a Wilson 95 % CI.

Prediction
----------
``predict`` returns the trajectory (``Prediction.trajectory``, a :class:`Trajectory`):
for every landmark reached, the landmark model's probability and interval on the truncated
series, the decision, the days of the samples used, and the model's own evaluation (AUC,
agreement) and synthetic-data flag; for every landmark not reached, why; and whether the
decision has been stable (**Decision**: said only from two landmarks scored on different
samples). Only unknown model inputs withhold the landmark decisions, as they withhold the
patient's (rule 5 of the decision rule: clinical predictors, or no CA-125 after the first dose
among the samples the kinetics use); a recommendation withheld because the entry criterion cannot be judged yet (no
RECIST before cycle 3) does not: the landmark decision is the probability against the
threshold. Models trained before landmarks existed carry none: the trajectory then says so and
is empty.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ._columns import probability_text, threshold_text
from .errors import InvalidInputError
from .settings import KineticsSettings, _SettingsMixin

__all__ = [
    "Landmark",
    "LandmarkSettings",
    "LandmarkModel",
    "landmark_mask",
    "truncate_markers",
    "clinical_at",
    "last_sample_days",
    "LANDMARK_COLUMNS",
    "Trajectory",
    "TrajectoryPoint",
    "build_trajectory",
    "latest_sample_day",
    "reached",
    "TRAJECTORY_COLUMNS",
    "MIN_OUTCOMES",
]

#: A landmark model needs at least this many development patients of each outcome who
#: reached the landmark; otherwise it is not fitted (status ``not_fitted``, with the reason).
MIN_OUTCOMES = 10

#: Columns of the per-landmark table (``TrainingResult.landmarks``), in order.
LANDMARK_COLUMNS = (
    "landmark", "label", "day", "first_day", "last_day", "status", "reason",
    "n_fit", "n_fit_events", "n", "n_events", "auc", "auc_ci_low", "auc_ci_high", "brier",
    "citl", "citl_ci_low", "citl_ci_high", "calibration_slope", "calibration_slope_ci_low",
    "calibration_slope_ci_high", "agreement", "agreement_ci_low", "agreement_ci_high", "n_agree",
)
#: Landmark metrics logged to MLflow as ``landmark.<key>.<metric>``.
LOGGED_METRICS = ("n", "n_events", "auc", "auc_ci_low", "auc_ci_high", "brier", "citl",
                  "calibration_slope", "agreement", "agreement_ci_low", "agreement_ci_high")


# ============================================================================ settings


@dataclass(frozen=True)
class Landmark:
    """One landmark: when it is reached and which samples it uses.

    Attributes
    ----------
    key : str
        ``"cycle<c>"`` or ``"day<D>"`` (MLflow metric prefix ``landmark.<key>.``).
    label : str
        In words, e.g. ``"after cycle 2 (day 42)"``.
    day : int
        Nominal day ``D`` (from the first dose).
    first_day, last_day : int
        The landmark's window ``[D - w, D + w]``: reached when the patient's latest sample
        is on or after ``first_day``; uses the samples with ``day <= last_day``.
    cycle : int or None
        The cycle after which the landmark falls (None for an early landmark).
    uses_recist : bool
        Whether the RECIST category is known at the landmark (:func:`clinical_at`).
    """

    key: str
    label: str
    day: int
    first_day: int
    last_day: int
    cycle: int | None = None
    uses_recist: bool = True

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data) -> Landmark:
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls)})


def _int_tuple(name: str, values) -> tuple[int, ...]:
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise InvalidInputError(f"setting {name!r} must be a list of positive integers, got {values!r}")
    out = tuple(values)
    if any(not isinstance(v, int) or isinstance(v, bool) or v < 1 for v in out) or len(set(out)) != len(out):
        raise InvalidInputError(f"setting {name!r} must be a list of distinct positive integers, got {list(out)!r}")
    return out


@dataclass(frozen=True)
class LandmarkSettings(_SettingsMixin):
    """Which landmarks are trained and predicted (module docstring: the day rule).

    Parameters
    ----------
    cycles : tuple of int
        Landmarks after these cycles (default 2, 3, 4): nominal day ``c * cycle_days``,
        window ``+/- cycle_window_days`` (both from ``KineticsSettings``).
    early_days : tuple of int
        Early landmarks at these days (default 35, PRESELECT-I's week-5 CA-125).
    early_window_days : int
        Window of an early landmark, ``+/-`` days around it (default 0: the exact day).
    recist_from_cycle : int
        RECIST is known from the landmark after this cycle on (nominal day
        ``recist_from_cycle * cycle_days`` or later; default 3); earlier landmarks treat it
        as unknown.

    An empty ``cycles`` and ``early_days`` means no landmark models.
    """

    kind: ClassVar[str] = "landmarks"

    cycles: tuple[int, ...] = (2, 3, 4)
    early_days: tuple[int, ...] = (35,)
    early_window_days: int = 0
    recist_from_cycle: int = 3

    def __post_init__(self):
        object.__setattr__(self, "cycles", _int_tuple("cycles", self.cycles))
        object.__setattr__(self, "early_days", _int_tuple("early_days", self.early_days))
        w = self.early_window_days
        if not isinstance(w, int) or isinstance(w, bool) or w < 0:
            raise InvalidInputError(f"setting 'early_window_days' must be a non-negative integer, got {w!r}")
        c = self.recist_from_cycle
        if not isinstance(c, int) or isinstance(c, bool) or c < 0:
            raise InvalidInputError(f"setting 'recist_from_cycle' must be a non-negative integer, got {c!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"cycles": list(self.cycles), "early_days": list(self.early_days),
                "early_window_days": self.early_window_days, "recist_from_cycle": self.recist_from_cycle}

    def landmarks(self, kinetics: KineticsSettings | None = None) -> tuple[Landmark, ...]:
        """The landmarks under ``kinetics`` (cycle length and window), ordered by ``last_day``.

        Raises
        ------
        InvalidInputError
            Two landmarks end on the same day, a window starts before day 1, or a landmark
            ends after the kinetics window (``window_days``: later samples are not used).
        """
        ks = kinetics if kinetics is not None else KineticsSettings()
        recist_day = self.recist_from_cycle * ks.cycle_days
        out = [Landmark(f"day{d}", f"day {d} (early)", d, d - self.early_window_days,
                        d + self.early_window_days, None, d >= recist_day) for d in self.early_days]
        for c in self.cycles:
            day = c * ks.cycle_days
            out.append(Landmark(f"cycle{c}", f"after cycle {c} (day {day})", day, day - ks.cycle_window_days,
                                day + ks.cycle_window_days, c, day >= recist_day))
        out.sort(key=lambda lm: (lm.last_day, lm.day))
        ends = [lm.last_day for lm in out]
        if len(set(ends)) != len(ends):
            raise InvalidInputError(f"landmarks {[lm.key for lm in out]} end on days {ends}: two end on the same "
                                    "day; drop one of them from [landmarks]")
        for lm in out:
            if lm.first_day < 1:
                raise InvalidInputError(f"landmark {lm.key} starts on day {lm.first_day}: a landmark must fall "
                                        "after the first dose (day >= 1)")
            if lm.last_day > ks.window_days:
                raise InvalidInputError(
                    f"landmark {lm.key} ends on day {lm.last_day}, after the kinetics window (window_days = "
                    f"{ks.window_days}): samples after it are not used, so the landmark would equal the full "
                    "series; drop it or widen kinetics.window_days")
        return tuple(out)


# ============================================================================ truncation


def landmark_mask(days, last_day: int) -> np.ndarray:
    """Which rows a landmark ending on ``last_day`` keeps: ``day <= last_day``.

    The one truncation rule, used by training (:func:`truncate_markers`) and prediction.
    A row without a day (NaN; only in a flagged, invalid patient) is kept, so that the
    patient's problem is carried to the landmark rather than silently cut away.
    """
    d = np.asarray(days, dtype=float)
    return ~(d > float(last_day))


def truncate_markers(markers: pd.DataFrame, landmark: Landmark | int) -> pd.DataFrame:
    """The rows of a canonical markers frame known at ``landmark`` (a :class:`Landmark` or
    the last day, an int): samples and events with ``day <= last_day``, in the same order."""
    if not isinstance(markers, pd.DataFrame) or "day" not in markers.columns:
        raise InvalidInputError("truncate_markers needs a markers DataFrame with a 'day' column "
                                "(ca125kinetics.read_markers)", column="day")
    from .io import _check_header

    _check_header(markers.columns, "markers DataFrame")
    last = landmark.last_day if isinstance(landmark, Landmark) else landmark
    if not isinstance(last, (int, np.integer)) or isinstance(last, bool):
        raise InvalidInputError(f"landmark must be a Landmark or an integer day, got {landmark!r}")
    kind = markers["day"].dtype.kind
    if kind in "mMb" or isinstance(markers["day"].dtype, pd.DatetimeTZDtype):
        # as numbers, dates are nanoseconds since 1970 (every row past any landmark, all cut
        # away) and True/False 1/0: no row is cut by a day that is not a number of days
        raise InvalidInputError(
            f"column 'day' holds {markers['day'].dtype} values, not days from the first dose; read the markers "
            "with ca125kinetics.read_markers (dates in a 'date' column, with treatment_start)", column="day")
    return markers.loc[landmark_mask(pd.to_numeric(markers["day"], errors="coerce"), int(last))]


def clinical_at(clinical, landmark: Landmark):
    """The clinical factors known at ``landmark``: RECIST blanked (unknown) when the landmark
    does not use it (:attr:`Landmark.uses_recist`). ``clinical`` is a clinical DataFrame, a
    mapping of one patient's factors, or None; a copy is returned, the input is unchanged."""
    if clinical is None or landmark.uses_recist:
        return clinical
    if isinstance(clinical, pd.DataFrame):
        return clinical.assign(recist=None) if "recist" in clinical.columns else clinical
    return {**clinical, "recist": None} if "recist" in clinical else clinical


def last_sample_days(markers: pd.DataFrame) -> pd.Series:
    """Per patient (index ``patient_id`` as str), :func:`latest_sample_day` of its rows: the
    day of the latest row with a CA-125 value (NaN for a patient with event rows only)."""
    value = pd.to_numeric(markers["ca125"], errors="coerce").tolist()
    day = pd.to_numeric(markers["day"], errors="coerce").tolist()
    rows: dict[str, tuple[list, list]] = {}
    for pid, d, v in zip(markers["patient_id"].astype(str).tolist(), day, value):
        days, values = rows.setdefault(pid, ([], []))
        days.append(d)
        values.append(v)
    return pd.Series({pid: latest_sample_day(d, v) for pid, (d, v) in rows.items()}, dtype=float)


# ============================================================================ models


@dataclass(frozen=True)
class LandmarkModel:
    """A landmark with its model and its evaluation (shipped in ``ModelBundle.landmarks``).

    Attributes
    ----------
    landmark : Landmark
    status : {"ok", "not_fitted"}
    reason : str or None
        Why the model was not fitted (too few patients reached the landmark, ...).
    metrics : dict
        The landmark's row of :data:`LANDMARK_COLUMNS` (evaluation), JSON-ready.
    model : ModelBundle, ScoringModel or None
        Scores the truncated series (None when not fitted).
    """

    landmark: Landmark
    status: str
    reason: str | None
    metrics: dict
    model: Any = None

    def to_dict(self) -> dict[str, Any]:
        """Metadata (no fitted object)."""
        return {"landmark": self.landmark.to_dict(), "status": self.status, "reason": self.reason,
                "metrics": dict(self.metrics)}


def landmark_metrics(table: pd.DataFrame | None) -> dict[str, float]:
    """``{"landmark.<key>.<metric>": value}`` of the fitted landmarks (finite values only),
    the names logged to MLflow."""
    out: dict[str, float] = {}
    if table is None:
        return out
    for row in table.to_dict(orient="records"):
        for m in LOGGED_METRICS:
            v = row.get(m)
            if v is not None and not pd.isna(v) and math.isfinite(float(v)):
                out[f"landmark.{row['landmark']}.{m}"] = float(v)
    return out


# ============================================================================ trajectory

#: Statuses of a :class:`Trajectory`.
TRAJECTORY_STATUSES = ("ok", "no_landmark_models", "none_reached", "withheld", "not_scored")
#: Columns of :meth:`Trajectory.to_frame`, in order.
TRAJECTORY_COLUMNS = ("landmark", "label", "day", "last_day", "n_samples", "sample_days", "status", "reason",
                      "probability", "p_low", "p_high", "decision", "threshold", "auc", "auc_ci_low", "auc_ci_high",
                      "n_evaluated", "agreement", "trained_on_synthetic")


@dataclass(frozen=True)
class TrajectoryPoint:
    """One point of a patient's trajectory: a landmark (reached or not), or the full series.

    Attributes
    ----------
    landmark : str
        The landmark key (``"day35"``, ``"cycle2"``, ...) or ``"final"`` (all samples, the
        shipped model).
    label : str
    day : int
        Nominal day of the landmark (for ``"final"``: the day of the latest sample).
    last_day : int
        Samples up to this day were used (``D + w``; for ``"final"`` the latest sample).
    n_samples : int
        CA-125 values up to ``last_day`` (0 for a landmark not reached).
    sample_days : tuple of int
        Their days: the samples the point used (empty for a landmark not reached).
    status : {"ok", "not_reached", "no_visit_sample", "not_candidate", "not_fitted", "not_scored", "insufficient"}
        ``not_reached``: the patient's latest sample is before the landmark's window;
        ``no_visit_sample``: the patient is past the landmark but its window holds no
        CA-125 sample (the visit's sample was not drawn, or not recorded): the probability
        (shown) is the landmark model's on the earlier samples, and no decision is given, as
        it would rest on a visit that has no sample;
        ``not_fitted``: the model has no fitted model for this landmark (training had too few
        patients who reached it); ``not_scored``: the landmark model returned no probability;
        ``insufficient``: no CA-125 after the first dose up to ``last_day`` that the kinetics
        can use, so the probability (shown) was computed with the kinetics imputed and no
        decision is given (rule 5 of the decision rule; ``allow_imputed=True`` decides);
        ``not_candidate``: the samples up to ``last_day`` (for ``"final"``: all of them) show
        GCIG CA-125 progression, or RECIST progressive disease is known by then: the
        probability is shown, and no decision, as the decision rule puts that first.
    reason : str or None
        Why there is no probability, or no decision (None when ``status == "ok"``).
    probability, p_low, p_high : float
        NaN unless ``status`` is ``"ok"``, ``"insufficient"``, ``"no_visit_sample"`` or
        ``"not_candidate"``.
    decision : {"resectable", "not_resectable"} or None
        ``probability >= threshold`` or not (None unless ``status == "ok"``).
    threshold : float or None
        The threshold of the point's own model (None without a model).
    auc, auc_ci_low, auc_ci_high : float or None
        The point's model's AUC with its DeLong 95 % CI on the evaluation patients of its
        training run (those who reached the landmark; for ``"final"`` the shipped model's);
        None when the model does not carry it (one built by hand without a training
        summary; a scoring file written before it held the summary).
    n_evaluated : int or None
        How many evaluation patients that AUC is from.
    agreement : float or None
        Share of the evaluation patients whose landmark decision equalled the final decision
        (None for ``"final"`` and without a model).
    trained_on_synthetic : bool or None
        Whether the point's model was trained on synthetic data (None without a model).
    """

    landmark: str
    label: str
    day: int
    last_day: int
    n_samples: int
    status: str
    probability: float = math.nan
    p_low: float = math.nan
    p_high: float = math.nan
    decision: str | None = None
    sample_days: tuple = ()
    reason: str | None = None
    threshold: float | None = None
    auc: float | None = None
    auc_ci_low: float | None = None
    auc_ci_high: float | None = None
    n_evaluated: int | None = None
    agreement: float | None = None
    trained_on_synthetic: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
               for k, v in dataclasses.asdict(self).items()}
        out["sample_days"] = list(self.sample_days)
        return out


@dataclass(frozen=True)
class Trajectory:
    """The decision after every landmark a patient has reached (``Prediction.trajectory``).

    Attributes
    ----------
    status : {"ok", "no_landmark_models", "none_reached", "withheld", "not_scored"}
        ``ok``: at least one landmark reached; ``no_landmark_models``: the model was trained
        without landmarks (e.g. before they existed); ``none_reached``: the latest sample is
        before the first landmark's window; ``withheld``: the patient's decision is withheld
        because model inputs are unknown (clinical predictors, or no CA-125 after the first
        dose for the kinetics; ``allow_imputed=True`` gives both), so are
        the landmark decisions; ``not_scored``: the patient was not scored. A
        recommendation withheld for another reason (the entry criterion undetermined before
        RECIST is assessed) or not a candidate does not withhold the landmark decisions,
        which are the models' probabilities against the threshold only: the summary then
        says what the recommendation is.
    threshold : float
    points : tuple of TrajectoryPoint
        Every landmark of the model in order, reached or not (a landmark not reached has
        status ``not_reached`` and says why), then the full series (``"final"``) when
        ``status == "ok"``; with ``none_reached`` the landmarks only; otherwise empty.
    stable : bool or None
        Whether the decision (``p >= threshold``) is the same at every point scored; None
        unless at least two landmarks were scored on different samples (one landmark and the
        full series, or day 35 and after cycle 2 on the same samples, are one look at the
        series, not a trajectory; the same samples are those the rules use, a sample set
        aside after a procedure or mouse antibodies being no new look).
    summary : str
        One sentence for people: whether the decision has been stable, or why there is no
        trajectory.
    trained_on_synthetic : bool or None
        Whether a model behind the points was trained on synthetic data (None: no model
        scored the patient).
    """

    status: str
    threshold: float
    points: tuple = ()
    stable: bool | None = None
    summary: str = ""
    trained_on_synthetic: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``points`` as a list of dicts, NaN -> None)."""
        return {"status": self.status, "threshold": self.threshold, "stable": self.stable,
                "summary": self.summary, "trained_on_synthetic": self.trained_on_synthetic,
                "points": [p.to_dict() for p in self.points]}

    def to_text(self) -> str:
        """The trajectory for people: one line per point, then :attr:`summary`."""
        if self.status != "ok":
            return self.summary
        lines = [f"Decision after every landmark (threshold {threshold_text(self.threshold)}):"]
        width = max(len(p.label) for p in self.points)
        for p in self.points:
            if p.status == "not_reached":
                lines.append(f"  {p.label:<{width}}  {p.reason}")
                continue
            if p.status == "insufficient" and _recist_point(p):
                shown = (f"{probability_text(p.probability, self.threshold)}  no decision: RECIST unknown, "
                         "which this model uses (imputed)")
            elif p.status == "insufficient" and not _own_inputs_point(p):
                shown = (f"{probability_text(p.probability, self.threshold)}  no decision: no CA-125 decline to "
                         "measure to this day (kinetics imputed)")
            elif p.status in ("no_visit_sample", "not_candidate", "insufficient"):    # the reason says why
                shown = f"{probability_text(p.probability, self.threshold)}  {p.reason}"
            elif p.decision is None:
                shown = "no landmark model" if p.status == "not_fitted" else p.reason or "not scored"
            else:
                interval = (f" ({p.p_low:.2f} to {p.p_high:.2f})" if math.isfinite(p.p_low) and math.isfinite(p.p_high)
                            else "")
                ci = (f" ({p.auc_ci_low:.2f} to {p.auc_ci_high:.2f})"
                      if p.auc_ci_low is not None and p.auc_ci_high is not None else "")
                auc = f"  [model AUC {p.auc:.2f}{ci}, n {p.n_evaluated}]" if p.auc is not None else ""
                shown = (f"{probability_text(p.probability, self.threshold)}{interval}  "
                         f"{_WORDS[p.decision]}{auc}")
            days = ", ".join(str(d) for d in p.sample_days)
            lines.append(f"  {p.label:<{width}}  {p.n_samples} sample{'s' if p.n_samples != 1 else ' '} "
                         f"to day {p.last_day:<3}  {shown}" + (f"\n  {'':<{width}}  (days {days})" if days else ""))
        lines.append(self.summary)
        if self.trained_on_synthetic:
            lines.append("The landmark models were trained on synthetic data: their AUCs describe the simulator, "
                         "not patients.")
        return "\n".join(lines)

    def to_frame(self) -> pd.DataFrame:
        """One row per point, columns :data:`TRAJECTORY_COLUMNS`."""
        rows = [{c: getattr(p, c) for c in TRAJECTORY_COLUMNS} for p in self.points]
        return pd.DataFrame(rows, columns=list(TRAJECTORY_COLUMNS))


def latest_sample_day(days, values) -> float:
    """Day of a patient's latest row with a CA-125 value (NaN when none): the clock of
    :func:`reached`."""
    d = np.asarray(days, dtype=float)
    if not d.size:
        return math.nan
    has_value = np.array([v is not None and not (isinstance(v, float) and math.isnan(v)) for v in values],
                         dtype=bool)
    d = d[has_value & ~np.isnan(d)]
    return float(d.max()) if d.size else math.nan


def reached(last_day, landmark: Landmark):
    """Whether a patient whose latest sample is on ``last_day`` has reached ``landmark``
    (``last_day >= landmark.first_day``: the landmark's sample has been drawn; NaN: no).
    A bool for a number, a boolean array for an array of days."""
    last = np.asarray(last_day, dtype=float)
    out = np.isfinite(last) & (np.nan_to_num(last, nan=-np.inf) >= landmark.first_day)
    return bool(out) if out.ndim == 0 else out


#: Decisions of the decision rule that make a patient not a candidate whatever the probability,
#: and how a trajectory point says it (status ``not_candidate``).
_NOT_CANDIDATE = {"not_candidate_progression": "GCIG CA-125 progression",
                  "not_candidate_recist_pd": "RECIST progressive disease"}


def _decision(p: float, threshold: float) -> str | None:
    if not math.isfinite(p):
        return None
    return "resectable" if p >= threshold else "not_resectable"


_WORDS = {"resectable": "predicted completely resectable", "not_resectable": "predicted not completely resectable"}


def build_trajectory(landmark_models, *, days, values, threshold: float, final: tuple | None,
                     score_at, withheld: str | None = None, model=None,
                     recommendation: tuple[str, str] | None = None, allow_imputed: bool = False,
                     excluded=None, unknown_recist: bool = False, imputed_inputs: str | None = None) -> Trajectory:
    """A patient's trajectory from the model's landmark models.

    Parameters
    ----------
    landmark_models : list of LandmarkModel or None
        ``ModelBundle.landmarks["models"]`` (None: the model has no landmarks).
    days, values : sequences
        The patient's markers rows (day, CA-125 value; None/NaN on event rows).
    excluded : sequence of bool, optional
        The rows the rules set aside (after a procedure or mouse antibodies:
        :func:`ca125kinetics.kinetics.excluded_by_events`): such a sample is not a landmark
        visit's sample (``no_visit_sample``).
    threshold : float
        The model's decision threshold.
    final : (p, p_low, p_high) or None
        The full-series prediction of the shipped model (None when not scored).
    score_at : callable
        ``score_at(landmark_model) -> (p, p_low, p_high[, reason[, n_on[, decision[, unknown]]]])``: the
        landmark model on the rows of ``days`` kept by :func:`landmark_mask` (the caller
        truncates; NaN when not scored, with the reason; ``n_on`` the CA-125 samples after the
        first dose the kinetics used; ``decision`` the decision rule's on those rows); called
        only for the fitted landmarks the patient has reached (:func:`reached`). A point with
        ``n_on == 0`` gets no decision (status ``insufficient``: its kinetics are imputed, rule
        5 of the decision rule) unless ``allow_imputed``; a point whose rows make the patient
        not a candidate (GCIG progression, RECIST PD: the rule's first steps) gets none
        either (status ``not_candidate``); nor does a point whose model meets inputs it does
        not know and rule 5 would not impute (``unknown``, e.g. a level the landmark's model
        never learned), unless ``allow_imputed``.
    withheld : str, optional
        Why the patient's decision is withheld because model inputs are unknown
        (``predict``'s status ``insufficient``, rule "withheld"): then no landmark decision
        is given either.
    model : ModelBundle or ScoringModel, optional
        The shipped model: the full-series point reports its AUC (``training_summary``) and
        whether it was trained on synthetic data.
    recommendation : (decision, rule), optional
        The full series' recommendation when it is not the probability against the threshold
        (not a candidate, or withheld because the entry criterion is undetermined): the
        summary says so, since the points compare the probabilities with the threshold only.
    unknown_recist : bool
        The patient's RECIST is unknown (and it is the only clinical predictor unknown): a
        point whose model uses RECIST, i.e. did not learn it unknown (a landmark before RECIST
        is assessed did), computes its probability with RECIST imputed and gets no decision
        (status ``insufficient``) unless ``allow_imputed``; so does the full-series point.
    imputed_inputs : str, optional
        The model inputs unknown and imputed by the caller's leave (``allow_imputed``), e.g.
        ``"ecog, recist"``: the summary says that every decision rests on them, as the
        patient's recommendation does.
    """
    if withheld is not None:
        return Trajectory("withheld", threshold, summary=f"No trajectory: the decision is withheld ({withheld}).")
    if final is None or not math.isfinite(float(final[0])):
        return Trajectory("not_scored", threshold, summary="No trajectory: the patient was not scored.")
    if not landmark_models:
        return Trajectory("no_landmark_models", threshold, summary=(
            "No trajectory: this model carries no landmark models (trained without them, or before they "
            "existed); retrain it with ca125 train to get a decision after every cycle."))
    d = np.asarray(days, dtype=float)
    has_value = np.array([v is not None and not (isinstance(v, float) and math.isnan(v)) for v in values],
                         dtype=bool) if len(d) else np.zeros(0, dtype=bool)
    sample_days = np.sort(d[has_value & ~np.isnan(d)])
    set_aside = np.zeros(len(d), dtype=bool) if excluded is None else np.asarray(excluded, dtype=bool)
    usable_days = np.sort(d[has_value & ~set_aside & ~np.isnan(d)])
    last = latest_sample_day(days, values)
    points, guessed = [], []     # guessed: landmarks decided on imputed kinetics (allow_imputed)
    for m in landmark_models:
        lm = m.landmark
        if not reached(last, m.landmark):
            latest = "there is no CA-125 sample" if math.isnan(last) else f"the latest CA-125 sample is on day {last:g}"
            points.append(TrajectoryPoint(lm.key, lm.label, lm.day, lm.last_day, 0, "not_reached", reason=(
                f"not reached: {latest}, before this landmark's window opens on day {lm.first_day}")))
            continue
        used = tuple(int(x) for x in sample_days[landmark_mask(sample_days, lm.last_day)])
        about = _model_facts(m)
        if m.status != "ok" or m.model is None:
            points.append(TrajectoryPoint(lm.key, lm.label, lm.day, lm.last_day, len(used), "not_fitted",
                                          sample_days=used, reason=f"no landmark model: {m.reason}", **about))
            continue
        if not used:    # reached by a later sample, none drawn by its last day: nothing to score
            points.append(TrajectoryPoint(lm.key, lm.label, lm.day, lm.last_day, 0, "not_scored", reason=(
                f"not scored: no CA-125 sample drawn up to day {lm.last_day}; the first is on day "
                f"{int(sample_days[0])}"), **about))
            continue
        got = tuple(score_at(m))
        p, low, high = (float(x) if x is not None else math.nan for x in got[:3])
        status = "ok" if math.isfinite(p) else "not_scored"
        why = got[3] if len(got) > 3 and got[3] else "the landmark model returned no probability"
        reason = None if status == "ok" else f"not scored: {why}"
        visit = usable_days[(usable_days >= lm.first_day) & (usable_days <= lm.last_day)]
        drawn = sample_days[(sample_days >= lm.first_day) & (sample_days <= lm.last_day)]
        if status == "ok" and len(got) > 5 and got[5] in _NOT_CANDIDATE:
            # RECIST is imaging (undated, read from recist_from_cycle on), not "in the samples"
            shown = (f" in the samples up to day {lm.last_day}" if got[5] == "not_candidate_progression" else
                     f", the category read as known by day {lm.last_day}")
            status, reason = "not_candidate", (
                f"no decision: {_NOT_CANDIDATE[got[5]]}{shown}: not a candidate "
                "for secondary cytoreduction, whatever the probability (shown for information only)")
        elif status == "ok" and len(got) > 4 and got[4] == 0 and not allow_imputed:
            status, reason = "insufficient", (
                f"no decision: no CA-125 decline up to day {lm.last_day} for the kinetics to measure (no CA-125 "
                "after the first dose that they can use: none drawn yet, or every one excluded after a procedure "
                "or mouse antibodies; or no pretreatment CA-125 in their window), so the probability was computed "
                "with the kinetics imputed (allow_imputed=True decides on it anyway)")
        elif status == "ok" and unknown_recist and not allow_imputed and not _learned_recist(m.model):
            status, reason = "insufficient", _RECIST_IMPUTED.format(model="this landmark's model")
        elif status == "ok" and len(got) > 6 and got[6] and not allow_imputed:
            # inputs this landmark's model does not know (a level it never learned: it was fitted
            # on the patients who reached the landmark), which rule 5 does not impute
            status, reason = "insufficient", (
                f"{_OWN_INPUTS} ({got[6]}), which it would impute (allow_imputed=True decides on them anyway)")
        elif status == "ok" and not visit.size:     # past the landmark, its visit's sample not drawn
            # the latest sample before the window that the rules use: one set aside after a
            # procedure or mouse antibodies is named as such, not as the sample the point rests on
            earlier = usable_days[usable_days < lm.first_day]
            skipped = sample_days[(sample_days < lm.first_day)
                                  & (sample_days > (earlier[-1] if earlier.size else -math.inf))]
            before = ((f"the latest sample before it that the rules use is on day {int(earlier[-1])}" if earlier.size
                       else "there is no sample before it that the rules use") + f" ({_set_aside(skipped)})"
                      if skipped.size else
                      f"the latest sample before it is on day {int(earlier[-1])}" if earlier.size
                      else "there is no sample before it")
            # nothing after the window is named: the point is what was known by its last day
            status, reason = "no_visit_sample", (
                f"no decision: no CA-125 sample in this landmark's window (days {lm.first_day} to {lm.last_day})"
                + (f" that the rules use ({_set_aside(drawn)})" if drawn.size else "")
                + f"; {before}: the probability is the landmark model's on the earlier samples")
        if status == "ok" and len(got) > 4 and got[4] == 0:
            guessed.append(lm.label)
        points.append(TrajectoryPoint(lm.key, lm.label, lm.day, lm.last_day, len(used), status, p, low, high,
                                      _decision(p, threshold) if status == "ok" else None, sample_days=used,
                                      reason=reason, **about))
    if all(pt.status == "not_reached" for pt in points):
        first = min(landmark_models, key=lambda m: m.landmark.first_day).landmark
        return Trajectory("none_reached", threshold, tuple(points), summary=(
            f"No landmark reached yet: the latest CA-125 sample is on day {last:g}, before the window of the "
            f"first landmark, {first.label}, which opens on day {first.first_day}."),
            trained_on_synthetic=_synthetic(model))
    p, low, high = (float(x) if x is not None else math.nan for x in final)
    ruled_out = recommendation is not None and recommendation[0] in _NOT_CANDIDATE
    imputed = not ruled_out and unknown_recist and not allow_imputed and not _learned_recist(model)
    points.append(TrajectoryPoint("final", f"all samples (to day {last:g})", int(last), int(last),
                                  int(sample_days.size),
                                  "not_candidate" if ruled_out else "insufficient" if imputed else "ok", p, low, high,
                                  None if ruled_out or imputed else _decision(p, threshold),
                                  sample_days=tuple(int(x) for x in sample_days),
                                  reason=(f"no decision: {_NOT_CANDIDATE[recommendation[0]]}: not a candidate for "
                                          "secondary cytoreduction, whatever the probability (shown for "
                                          "information only)") if ruled_out else
                                  _RECIST_IMPUTED.format(model="the model") if imputed else None,
                                  **_shipped_facts(model)))
    reached_points = [pt for pt in points if pt.status != "not_reached"]
    scored = [pt for pt in reached_points if pt.decision is not None]
    # a look at the series is the samples the rules use: a sample set aside after a procedure
    # or mouse antibodies is given to the model but changes nothing, so it is no new look
    looks = {pt.landmark: tuple(int(x) for x in usable_days[landmark_mask(usable_days, pt.last_day)])
             for pt in scored}
    times = {looks[pt.landmark] for pt in scored if pt.landmark != "final"}
    stable = None if len(times) < 2 else len({pt.decision for pt in scored}) == 1
    summary = _summary(reached_points, scored, stable, threshold, looks)
    recist_given = not unknown_recist and "recist" not in (imputed_inputs or "").split(", ")
    if recist_given:
        summary += _recist_enters(scored, {**{m.landmark.key: m.landmark.uses_recist for m in landmark_models},
                                           "final": True})
    if imputed_inputs and scored:
        summary += _imputed_note(scored, imputed_inputs.split(", "), {
            **{m.landmark.key: _learned_recist(m.model) for m in landmark_models if m.model is not None},
            "final": _learned_recist(model)})
    if guessed:
        summary += (f" The decision{'s' if len(guessed) > 1 else ''} at {', '.join(guessed)} "
                    f"rest{'' if len(guessed) > 1 else 's'} on imputed kinetics (no CA-125 decline to measure by "
                    "then: no usable CA-125 after the first dose, or none before it; allow_imputed=True).")
    if recommendation is not None:
        summary += (" The landmark decisions compare the models' probabilities with the threshold only; the "
                    f"recommendation, which applies the eligibility rules to the full series, is "
                    f"{recommendation[0]}: {recommendation[1]}.")
    synthetic = [pt.trained_on_synthetic for pt in points if pt.trained_on_synthetic is not None]
    return Trajectory("ok", threshold, tuple(points), stable, summary,
                      trained_on_synthetic=any(synthetic) if synthetic else None)


def _set_aside(days) -> str:
    """``"day 33: set aside after a procedure or mouse antibodies"`` for samples the rules set aside."""
    return (f"day{'s' if len(days) > 1 else ''} {', '.join(str(int(x)) for x in days)}: set aside after a procedure "
            "or mouse antibodies")


def _imputed_note(scored, names: list[str], learned_recist: dict) -> str:
    """The sentence that says which decisions rest on imputed inputs (``allow_imputed``): an
    unknown RECIST is no imputation for a model that learned it unknown (the early landmarks)."""
    rests = [(pt.label, [n for n in names if not (n == "recist" and learned_recist.get(pt.landmark))])
             for pt in scored]
    rests = [(label, kept) for label, kept in rests if kept]
    if not rests:
        return ""
    if len(rests) == len(scored) and len({tuple(kept) for _, kept in rests}) == 1:
        return f" Every decision above rests on imputed {', '.join(rests[0][1])} (allow_imputed=True)."
    return (" Decisions resting on imputed inputs (allow_imputed=True): "
            + "; ".join(f"{label}: {', '.join(kept)}" for label, kept in rests) + ".")


#: Why a point whose model uses RECIST gets no decision when RECIST is unknown.
_RECIST_IMPUTED = ("no decision: RECIST unknown, and {model} uses it (it learned RECIST as assessed, after cycle "
                   "3), so the probability was computed with it imputed (give recist, or allow_imputed=True "
                   "decides on it anyway)")


def _learned_recist(model) -> bool:
    """Whether ``model`` learned RECIST unknown (``ModelBundle.learned_unknown``); False when
    it cannot tell."""
    learned = getattr(model, "learned_unknown", None)
    return bool(learned is not None and learned("recist"))


def _model_facts(m) -> dict[str, Any]:
    """The landmark model's own threshold, evaluation (AUC with CI, patients, agreement) and
    whether it was trained on synthetic data, for its trajectory point."""
    metrics = m.metrics or {}

    n = metrics.get("n")
    threshold = getattr(m.model, "threshold", None)
    return {"threshold": _number(threshold),
            "auc": _number(metrics.get("auc")), "auc_ci_low": _number(metrics.get("auc_ci_low")),
            "auc_ci_high": _number(metrics.get("auc_ci_high")),
            "n_evaluated": None if _number(n) is None else int(n),
            "agreement": _number(metrics.get("agreement")), "trained_on_synthetic": _synthetic(m.model)}


def _number(v) -> float | None:
    """A finite number as float, else None (a metric that was not computed)."""
    return float(v) if v is not None and math.isfinite(float(v)) else None


def _synthetic(model) -> bool | None:
    flag = getattr(model, "trained_on_synthetic", None)
    return None if flag is None else bool(flag)


def _shipped_facts(model) -> dict[str, Any]:
    """The shipped model's threshold, AUC with CI on its evaluation patients
    (``training_summary``, also in the scoring file) and the synthetic flag."""
    if model is None:
        return {}
    summary = getattr(model, "training_summary", None) or {}
    ci = summary.get("auc_ci") or (None, None)
    n = summary.get("n_holdout") if summary.get("evaluation_set") == "held-out" else summary.get("n")
    return {"threshold": _number(model.threshold), "auc": _number(summary.get("auc")),
            "auc_ci_low": _number(ci[0]), "auc_ci_high": _number(ci[1]),
            "n_evaluated": None if _number(n) is None else int(n), "trained_on_synthetic": _synthetic(model)}


def _recist_point(pt) -> bool:
    return (pt.reason or "").startswith("no decision: RECIST unknown")


def _own_inputs_point(pt) -> bool:
    return (pt.reason or "").startswith(_OWN_INPUTS)


#: How a point withheld on inputs its landmark's model does not know begins its reason.
_OWN_INPUTS = "no decision: model inputs unknown to this landmark's model"


def _summary(points, scored, stable, threshold: float, looks: dict) -> str:
    landmarks = [pt for pt in scored if pt.landmark != "final"]
    missing = [pt.label for pt in points if pt.status == "not_fitted"]
    unscored = [f"{pt.label} ({(pt.reason or '').removeprefix('not scored: ')})"
                for pt in points if pt.status == "not_scored"]
    early = [pt.label for pt in points if pt.status == "insufficient" and not _recist_point(pt)
             and not _own_inputs_point(pt)]
    recist = [pt.label for pt in points if pt.status == "insufficient" and _recist_point(pt)]
    own = [pt.label for pt in points if pt.status == "insufficient" and _own_inputs_point(pt)]
    unsampled = [pt.label for pt in points if pt.status == "no_visit_sample"]
    excluded = [pt.label for pt in points if pt.status == "not_candidate"]
    tail = (f" No landmark model for: {', '.join(missing)}." if missing else "") + (
        f" Not scored: {'; '.join(unscored)}." if unscored else "") + (
        f" No decision at {', '.join(early)}: no CA-125 decline to measure by then (kinetics imputed)."
        if early else "") + (
        f" No decision at {', '.join(recist)}: RECIST unknown, which that model uses (imputed)." if recist else "") + (
        f" No decision at {', '.join(own)}: model inputs that landmark's model does not know (imputed)." if own
        else "") + (
        f" No decision at {', '.join(unsampled)}: no CA-125 sample in the visit's window that the rules use."
        if unsampled else "") + (
        f" No decision at {', '.join(excluded)}: not a candidate for secondary cytoreduction (GCIG CA-125 "
        "progression or RECIST progressive disease by then)." if excluded else "")
    if stable is None:
        if not landmarks:
            return "Only the full-series decision is available: no landmark gave a decision." + tail
        lead = ("only one landmark scored" if len(landmarks) == 1 else
                f"the {len(landmarks)} landmarks scored used the same samples ({_look(landmarks, looks)})")
        each = "; ".join(f"{pt.label}: {_WORDS[pt.decision]} (p {probability_text(pt.probability, threshold)})"
                         for pt in scored)
        return (f"Too early to say whether the decision is stable: {lead}. {each}; "
                f"threshold {threshold_text(threshold)}."
                + _disagreements(scored, threshold, looks) + tail)
    n = len(landmarks)
    if stable:
        return (f"Decision stable: {_WORDS[scored[0].decision]} (threshold {threshold_text(threshold)}) at each "
                "of the "
                f"{n} landmark{'s' if n != 1 else ''} with a decision"
                + (" and with all samples." if any(pt.landmark == "final" for pt in scored) else ".") + tail)
    path = " -> ".join(f"{pt.label}: {'>=' if pt.decision == 'resectable' else '<'} threshold "
                       f"(p {probability_text(pt.probability, threshold)})" for pt in scored)
    # a change is a new decision on new samples; two models that disagree on the same samples
    # are a patient near the threshold, not a change over time
    changes = sum(a.decision != b.decision and looks[a.landmark] != looks[b.landmark]
                  for a, b in zip(scored, scored[1:]))
    lead = (f"Decision not stable: it changed {changes} time{'s' if changes != 1 else ''} across the landmarks "
            f"reached" if changes else "Decision not settled: no new sample changed it, but the models disagree")
    return (f"{lead} ({path}); latest: {_WORDS[scored[-1].decision]}." + _disagreements(scored, threshold, looks)
            + tail)


def _recist_enters(scored, uses_recist: dict) -> str:
    """The sentence that says a decision changed where the RECIST category entered the models:
    the landmarks before it is assessed treat it as unknown (:func:`clinical_at`), so the
    change need not come from the CA-125 samples alone."""
    at = [b.label for a, b in zip(scored, scored[1:])
          if a.decision != b.decision and not uses_recist[a.landmark] and uses_recist[b.landmark]]
    return "".join(f" The decision changed at {label}, the first point whose model is given the RECIST category "
                   "(the landmarks before it treat RECIST as unknown, not yet assessed then): the change need not "
                   "come from the CA-125 samples alone." for label in at)


def _look(points, looks: dict) -> str:
    """``"days -3, 21, 35"``: the samples the rules use that ``points`` (one look) share, and
    those listed among their samples but set aside after a procedure or mouse antibodies."""
    used = looks[points[0].landmark]
    aside = sorted({d for pt in points for d in pt.sample_days} - set(used))
    return f"days {', '.join(str(d) for d in used)}" + (f"; {_set_aside(aside)}" if aside else "")


def _disagreements(scored, threshold: float, looks: dict) -> str:
    """The pairs of consecutive points that used the same samples and decide differently:
    their models disagree about one series (its probabilities lie on both sides of the
    threshold), which is no change of the patient's course."""
    pairs = [(a, b) for a, b in zip(scored, scored[1:])
             if a.decision != b.decision and looks[a.landmark] == looks[b.landmark]]
    return "".join(
        f" {a.label} and {b.label} used the same samples ({_look([a, b], looks)}) and "
        f"their models disagree (p {probability_text(a.probability, threshold)} and "
        f"{probability_text(b.probability, threshold)}, on either side of the threshold {threshold_text(threshold)})."
        for a, b in pairs)
