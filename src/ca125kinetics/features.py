"""The patient frame: the single place where the raw tables become model input.

Fourth step of the pipeline (read and validate -> GCIG rules -> kinetics -> **features and
scores** -> models -> ...). :func:`build_patient_frame` turns the canonical markers frame
(``io.read_markers``) and the clinical frame (``io.read_clinical``) into **one row per
patient**. Training (``train.py``), prediction (``predict.score_frame``) and the MLflow pyfunc
model all call it, so a model always sees its input built the same way.

The frame keeps the CA-125 series *unfitted*, in the wide form of
:func:`ca125kinetics.kinetics.series_to_wide`: the kinetics population is learned by the first
step of each model pipeline (``KineticsFeatures(method="population")``), inside each training
fold of cross-validation, never on the patients it is evaluated on. Everything else here is a
per-patient rule with no parameter learned from a cohort (GCIG response, CA-125 at
recurrence), so computing it once for the whole cohort leaks nothing between folds.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .errors import InvalidInputError
from .io import CLINICAL_PREDICTORS
from .settings import GcigSettings, KineticsSettings

__all__ = ["build_patient_frame", "ca125_at_recurrence", "ca125_at_recurrence_censored", "CLINICAL_PREDICTORS", "DERIVED_COLUMNS",
           "RESPONSE_PREDICTORS"]

#: Clinical predictor columns copied from the clinical frame (NA where unknown or absent).
# CLINICAL_PREDICTORS (the clinical factors and RECIST) is the data contract's (io).
#: Columns derived from the markers by per-patient rules (no cohort parameter).
DERIVED_COLUMNS = ("ca125_at_recurrence", "gcig_evaluable", "gcig_responded", "gcig_category",
                   "gcig_status")
#: Response features (:mod:`ca125kinetics.response`) in the patient frame of a task other than
#: the default (per-patient rules: no cohort parameter).
RESPONSE_PREDICTORS = ("post_pre_ratio", "normalised", "exponential_clearance", "clearance_r2")
# GCIG cohort column -> patient frame column
_GCIG_COLUMNS = {"evaluable": "gcig_evaluable", "responded": "gcig_responded",
                 "category": "gcig_category", "status": "gcig_status"}
_NULLABLE = {"age": "float64", "ecog": "Int64", "ascites_ml": "float64", "figo_stage": object,
             "primary_residual_disease": "Int64", "pfi_months": "float64",
             "recurrence_pattern": object, "recist": object}


def build_patient_frame(markers: pd.DataFrame, clinical: pd.DataFrame | None = None, *,
                        gcig_settings: GcigSettings | None = None,
                        kinetics_settings: KineticsSettings | None = None, task=None,
                        censored_flag: bool = False) -> pd.DataFrame:
    """One row per patient: clinical predictors, GCIG response, CA-125 at recurrence, series.

    Parameters
    ----------
    markers : pandas.DataFrame
        Canonical long markers frame (``io.read_markers``; ``on_error="flag"`` frames are
        accepted and their ``problem`` is carried over).
    clinical : pandas.DataFrame, optional
        Canonical clinical frame (``io.read_clinical``), one row per patient; only
        ``patient_id`` is required. ``None``: every clinical predictor is NA.
    gcig_settings : GcigSettings, optional
        Rules of the GCIG response (default ``GcigSettings()``).
    kinetics_settings : KineticsSettings, optional
        Window and event exclusions of the wide series (default ``KineticsSettings()``).
    task : TaskSpec, optional
        The prediction task (:mod:`ca125kinetics.task`); default the ovarian
        complete-resection task, whose frame is described below. For another task the frame
        has ``patient_id``, the task's declared clinical predictors (``numeric`` as float64,
        ``categorical`` as str or None), :data:`RESPONSE_PREDICTORS` (``normalised`` and
        ``exponential_clearance`` as 1.0/0.0/NaN), the wide series of the task's marker
        (``cea_1..``) and ``problem``; no GCIG column (the GCIG rules are CA-125's).
    censored_flag : bool
        Add ``ca125_at_recurrence_censored`` after ``ca125_at_recurrence`` (default task
        only): that value was reported below the assay's limit (``"<200"``), so it is an
        upper bound, which :func:`ca125kinetics.scores.published_scores` reads as one. It is
        not a model input (a fitted model expects the frame without it): training asks for
        it to score the published scores, then drops it.

    Returns
    -------
    pandas.DataFrame
        RangeIndex, one row per patient of ``markers`` or ``clinical``, sorted by
        ``patient_id``. Columns, in order:

        * ``patient_id`` (str);
        * :data:`CLINICAL_PREDICTORS` -- ``age``, ``ascites_ml``, ``pfi_months`` (float64),
          ``ecog``, ``primary_residual_disease`` (Int64), ``figo_stage`` (``"I"``..``"IV"``),
          ``recurrence_pattern``, ``recist`` (str); NA where unknown or absent;
        * ``ca125_at_recurrence`` (U/mL): the GCIG baseline (latest sample within
          ``baseline_window_days`` before the first dose, after event exclusions), else the
          latest pretreatment value from :data:`RECURRENCE_LOOKBACK_DAYS` days before the
          first dose (``-42 <= day <= 0``), else NaN. A censored value enters at its limit;
        * with ``censored_flag``, ``ca125_at_recurrence_censored`` (bool): that value was
          reported below the assay's limit (:func:`ca125_at_recurrence_censored`);
        * ``gcig_evaluable``, ``gcig_responded`` (boolean; NA when unknown: status
          ``awaiting``, no usable sample after the first dose), ``gcig_category``
          (CR/PR/None), ``gcig_status`` -- from :func:`ca125kinetics.gcig.gcig_cohort`;
        * the wide series of :func:`ca125kinetics.kinetics.series_to_wide`: ``day_1..``,
          ``ca125_1..``, ``censored_1..``, ``uln_1..`` (used samples, NaN-padded), ``uln``, ``last_uln``,
          ``n_excluded``, ``n_outside_window`` (a patient without markers has no samples);
        * ``problem``: None, or why the patient's input is invalid (from the markers or the
          clinical frame read with ``on_error="flag"``, first non-empty reason).

    Raises
    ------
    InvalidInputError
        ``markers`` is not a markers frame, or ``clinical`` lacks ``patient_id`` or repeats a
        patient.

    Notes
    -----
    The outcome (``complete_resection``) is deliberately *not* a column: the frame is model
    input, identical at training and at prediction time.
    """
    from .gcig import gcig_cohort
    from .kinetics import series_to_wide

    if task is not None and not task.is_default:
        return _task_frame(markers, clinical, task, kinetics_settings)
    gs = gcig_settings if gcig_settings is not None else GcigSettings()
    ks = kinetics_settings if kinetics_settings is not None else KineticsSettings()
    if not isinstance(gs, GcigSettings) or not isinstance(ks, KineticsSettings):
        raise InvalidInputError("gcig_settings must be a GcigSettings and kinetics_settings a "
                                "KineticsSettings (ca125kinetics.settings)")
    markers = _check_markers(markers)
    clinical = _check_clinical(clinical)

    marker_ids = markers["patient_id"].astype(str)
    ids = pd.Index(sorted(set(marker_ids) | set(clinical["patient_id"] if clinical is not None else ())),
                   dtype=object)
    out = pd.DataFrame({"patient_id": pd.Series(ids.to_numpy(dtype=object), dtype=object)})

    by_id = clinical.set_index("patient_id").reindex(ids) if clinical is not None else None
    for column, dtype in _NULLABLE.items():
        if by_id is not None and column in by_id.columns:
            values = by_id[column]
        else:
            values = pd.Series([None] * len(ids), index=ids, dtype=object)
        out[column] = _as_dtype(values.to_numpy(dtype=object), dtype)

    gcig = gcig_cohort(markers, clinical, settings=gs).set_index("patient_id")
    gcig.index = gcig.index.astype(str)
    gcig = gcig.reindex(ids)
    baseline = gcig["baseline_value"].to_numpy(dtype=float, na_value=np.nan)
    rows = _day_value_rows(markers)
    out["ca125_at_recurrence"] = np.array([ca125_at_recurrence(b, *rows.get(pid, ((), ())))
                                           for b, pid in zip(baseline, ids)], dtype=float)
    if censored_flag:
        out["ca125_at_recurrence_censored"] = _censored_at_recurrence(
            markers, ids, gcig["baseline_day"].to_numpy(dtype=float, na_value=np.nan))
    for source, column in _GCIG_COLUMNS.items():
        values = gcig[source].reset_index(drop=True)
        if source in ("evaluable", "responded"):
            out[column] = values.astype("boolean")
        else:
            out[column] = _as_dtype(values.to_numpy(dtype=object), object)

    wide = series_to_wide(markers, settings=ks) if len(markers) else pd.DataFrame(index=pd.Index([], dtype=object))
    wide.index = wide.index.astype(str)
    wide = wide.reindex(ids)
    series = [c for c in wide.columns if c != "problem"]
    for column in series:
        out[column] = wide[column].to_numpy()
    if "n_excluded" in out.columns:
        out["n_excluded"] = out["n_excluded"].fillna(0).astype(np.int64)
    if "n_outside_window" in out.columns:
        out["n_outside_window"] = out["n_outside_window"].fillna(0).astype(np.int64)

    problem = _first_text(wide["problem"] if "problem" in wide.columns else None,
                          by_id["problem"] if by_id is not None and "problem" in by_id.columns else None,
                          len(ids))
    out["problem"] = problem
    return out


def _task_frame(markers, clinical, task, kinetics_settings) -> pd.DataFrame:
    """The patient frame of a task other than the default (see :func:`build_patient_frame`)."""
    from .kinetics import series_to_wide
    from .markers import get_marker
    from .response import response_features

    spec = get_marker(task.marker)
    ks = kinetics_settings if kinetics_settings is not None else KineticsSettings(uln=spec.default_uln)
    if not isinstance(ks, KineticsSettings):
        raise InvalidInputError("kinetics_settings must be a KineticsSettings (ca125kinetics.settings)")
    markers = _check_markers(markers, spec.name)
    clinical = _check_clinical(clinical)
    ids = pd.Index(sorted(set(markers["patient_id"].astype(str))
                          | set(clinical["patient_id"] if clinical is not None else ())), dtype=object)
    out = pd.DataFrame({"patient_id": pd.Series(ids.to_numpy(dtype=object), dtype=object)})
    by_id = clinical.set_index("patient_id").reindex(ids) if clinical is not None else None
    for column in task.predictors:
        if by_id is None or column not in by_id.columns:
            raise InvalidInputError(f"the clinical table has no {column!r} column, a predictor of task "
                                    f"{task.name!r}; add it or remove it from [task]", column=column)
        raw = by_id[column]
        if column in task.numeric:
            values = pd.to_numeric(raw, errors="coerce")
            bad = values.isna() & raw.notna() & (raw.astype(object).map(lambda v: str(v).strip()) != "")
            if bad.any():
                raise InvalidInputError(
                    f"{column!r} is a numeric predictor of task {task.name!r} but patient "
                    f"{bad.index[bad.to_numpy()][0]!r} has {raw[bad].iloc[0]!r}; give a number or declare "
                    "the column categorical", column=column)
            out[column] = values.to_numpy(dtype=float)
        else:
            out[column] = _as_dtype(raw.astype(object).to_numpy(dtype=object), object).map(
                lambda v: None if v is None else str(v))
    if len(markers):
        response = response_features(markers, marker=spec, settings=ks).set_index("patient_id").reindex(ids)
        wide = series_to_wide(markers, settings=ks, marker=spec)
    else:
        response = pd.DataFrame(index=ids, columns=list(RESPONSE_PREDICTORS), dtype=float)
        wide = pd.DataFrame(index=pd.Index([], dtype=object))
    for column in RESPONSE_PREDICTORS:
        out[column] = pd.to_numeric(response[column].astype("Float64"), errors="coerce").to_numpy(
            dtype=float, na_value=np.nan)
    wide.index = wide.index.astype(str)
    wide = wide.reindex(ids)
    for column in (c for c in wide.columns if c != "problem"):
        out[column] = wide[column].to_numpy()
    for column in ("n_excluded", "n_outside_window"):
        if column in out.columns:
            out[column] = out[column].fillna(0).astype(np.int64)
    out["problem"] = _first_text(wide["problem"] if "problem" in wide.columns else None,
                                 by_id["problem"] if by_id is not None and "problem" in by_id.columns else None,
                                 len(ids))
    return out


def _check_markers(markers, value_column: str = "ca125") -> pd.DataFrame:
    if not isinstance(markers, pd.DataFrame):
        raise InvalidInputError(f"markers must be a pandas DataFrame (ca125kinetics.read_markers), "
                                f"got {type(markers).__name__}")
    missing = [c for c in ("patient_id", "day", value_column) if c not in markers.columns]
    if missing:
        raise InvalidInputError(f"markers lack column(s) {missing}; read the table with "
                                "ca125kinetics.read_markers", column=missing[0])
    return markers


def _check_clinical(clinical) -> pd.DataFrame | None:
    if clinical is None:
        return None
    if not isinstance(clinical, pd.DataFrame) or "patient_id" not in clinical.columns:
        raise InvalidInputError("clinical must be a pandas DataFrame with a 'patient_id' column "
                                "(ca125kinetics.read_clinical)", column="patient_id")
    clinical = clinical.assign(patient_id=clinical["patient_id"].astype(str))
    dup = clinical["patient_id"].duplicated()
    if dup.any():
        raise InvalidInputError(
            f"clinical repeats patient(s) {sorted(set(clinical.loc[dup, 'patient_id']))[:5]}; keep one "
            "row per patient", column="patient_id")
    return clinical


def _as_dtype(values: np.ndarray, dtype) -> pd.Series:
    missing = pd.isna(values)
    if dtype is object:
        return pd.Series(np.where(missing, None, values), dtype=object)
    if dtype == "Int64":
        return pd.Series(pd.array(np.where(missing, None, values), dtype="Float64")).astype("Int64")
    return pd.Series(np.where(missing, np.nan, values).astype(float), dtype=dtype)


#: **Decision**: without a GCIG baseline, the CA-125 at recurrence (iMODEL's item, a model
#: input) is the latest pretreatment sample at most this many days before the first dose
#: (six weeks: the work-up of a recurrence before its treatment starts). An older sample
#: may predate the recurrence (a value from remission read as "at recurrence" scored the
#: iMODEL low risk): the value is unknown then, as without any sample.
RECURRENCE_LOOKBACK_DAYS = 42


def ca125_at_recurrence(baseline_value, days, values) -> float:
    """CA-125 at recurrence of one patient (U/mL): the GCIG baseline value when there is one,
    else the latest pretreatment value from :data:`RECURRENCE_LOOKBACK_DAYS` days before the
    first dose on (``-42 <= day <= 0``), else NaN (an older sample may predate the recurrence).

    ``days``/``values`` are the patient's markers rows (a value of None or NaN -- an
    event-only or flagged row -- is skipped). The rule of :func:`build_patient_frame`, also
    used by ``predict`` (for many patients at once: :func:`ca125_at_recurrence_arrays`).
    """
    if not pd.isna(baseline_value):
        return float(baseline_value)
    values = np.array([math.nan if pd.isna(v) else float(v) for v in values], dtype=float)
    days = np.asarray(days, dtype=float).reshape(-1)
    return float(ca125_at_recurrence_arrays(np.array([math.nan]), np.array([0, len(values)]), days, values)[0])


def ca125_at_recurrence_arrays(baseline_value: np.ndarray, offsets: np.ndarray, days: np.ndarray,
                               values: np.ndarray) -> np.ndarray:
    """:func:`ca125_at_recurrence` of n patients whose markers rows lie one patient after the
    other (rows ``offsets[i]:offsets[i+1]`` are patient ``i``'s): ``baseline_value`` (n,
    NaN where none), ``days`` and ``values`` (per row, NaN skipped). Of several pretreatment
    rows on the latest day, the last one counts, as in :func:`ca125_at_recurrence`."""
    out = np.asarray(baseline_value, dtype=float).copy()
    row = _recurrence_rows(np.where(np.isnan(out), np.nan, 1.0), offsets, days, values, use_baseline=False)
    chosen = np.isnan(out) & (row >= 0)
    out[chosen] = values[row[chosen]]
    return out


def ca125_at_recurrence_censored(baseline_day: np.ndarray, offsets: np.ndarray, days: np.ndarray,
                                 values: np.ndarray, censored: np.ndarray) -> np.ndarray:
    """Whether the CA-125 at recurrence of each of n patients (the value of
    :func:`ca125_at_recurrence_arrays`) was reported below the assay's limit (``"<200"``): the
    flag of the row it comes from, the GCIG baseline's row (the last row with a value on
    ``baseline_day``, NaN where there is no baseline) else the latest pretreatment row within
    :data:`RECURRENCE_LOOKBACK_DAYS`. Such a
    value is an upper bound, not a measurement; the published scores read it as one
    (:mod:`ca125kinetics.scores`)."""
    row = _recurrence_rows(np.asarray(baseline_day, dtype=float), offsets, days, values, use_baseline=True)
    flags = np.asarray(censored, dtype=bool)
    return np.where(row >= 0, flags[np.maximum(row, 0)] if len(flags) else False, False)


def _recurrence_rows(baseline: np.ndarray, offsets: np.ndarray, days: np.ndarray, values: np.ndarray,
                     *, use_baseline: bool) -> np.ndarray:
    """Per patient the markers row its CA-125 at recurrence comes from (-1: none; the one rule
    of :func:`ca125_at_recurrence_arrays` and :func:`ca125_at_recurrence_censored`): with a
    baseline (``baseline`` not NaN) the last row with a value on the baseline day when
    ``use_baseline`` (else none: the caller holds the baseline's value), otherwise the last
    row of the latest day from ``-RECURRENCE_LOOKBACK_DAYS`` to 0 with a value."""
    out = np.full(len(baseline), -1, dtype=np.int64)
    codes = np.repeat(np.arange(len(out)), np.diff(offsets))
    has_base = ~np.isnan(baseline)[codes]
    days = np.asarray(days)
    recent = (days <= 0) & (days >= -RECURRENCE_LOOKBACK_DAYS)
    if use_baseline:
        on_day = days == np.where(has_base, baseline[codes], 0)
        eligible = np.where(has_base, on_day, recent) & ~np.isnan(values)
    else:
        eligible = ~has_base & recent & ~np.isnan(values)
    rows = np.flatnonzero(eligible)
    if rows.size:
        # the last row of the largest day per patient: sort by (patient, day, position)
        order = rows[np.lexsort((rows, days[rows], codes[rows]))]
        last = np.append(codes[order][1:] != codes[order][:-1], True)
        out[codes[order][last]] = order[last]
    return out


def _censored_at_recurrence(markers: pd.DataFrame, ids: pd.Index, baseline_day: np.ndarray) -> np.ndarray:
    """:func:`ca125_at_recurrence_censored` of the patients ``ids`` (every markers patient among
    them) from a markers frame in any row order."""
    at = ids.get_indexer(markers["patient_id"].astype(str))
    order = np.argsort(at, kind="stable")      # rows grouped by patient, in the order of ids
    offsets = np.searchsorted(at[order], np.arange(len(ids) + 1))
    days = pd.to_numeric(markers["day"], errors="coerce").to_numpy(dtype=float)[order]
    values = pd.to_numeric(markers["ca125"], errors="coerce").to_numpy(dtype=float)[order]
    flags = (markers["censored"].fillna(False).to_numpy(dtype=bool) if "censored" in markers.columns
             else np.zeros(len(markers), dtype=bool))[order]
    return ca125_at_recurrence_censored(baseline_day, offsets, days, values, flags)


def _day_value_rows(markers: pd.DataFrame) -> dict[str, tuple[list, list]]:
    """Per patient: its markers' days and CA-125 values, in the frame's order."""
    out: dict[str, tuple[list, list]] = {}
    for pid, day, value in zip(markers["patient_id"].astype(str).tolist(),
                               pd.to_numeric(markers["day"], errors="coerce").tolist(),
                               pd.to_numeric(markers["ca125"], errors="coerce").tolist()):
        days, values = out.setdefault(pid, ([], []))
        days.append(day)
        values.append(value)
    return out


def _first_text(first, second, n: int) -> np.ndarray:
    """Element-wise first non-empty text of two aligned optional Series (else None)."""
    out = np.full(n, None, dtype=object)
    for series in (second, first):  # later assignment wins: markers' reason first
        if series is None:
            continue
        values = series.to_numpy(dtype=object)
        present = np.array([v is not None and not (isinstance(v, float) and np.isnan(v)) and str(v) != ""
                            for v in values], dtype=bool)
        out[present] = [str(v) for v in values[present]]
    return out
