"""The scoring engine: every public scoring function ends in :func:`_score_patients`."""

from __future__ import annotations

import json
from functools import partial
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..errors import InvalidInputError
from ..io import CLINICAL_FACTORS
from .decision import (REQUIRED_PREDICTORS, _decide, _entry_met, _entry_undetermined_reason, _insufficient_reason,
                       _warnings)
from .inputs import _read_inputs, _record
from .loading import load_model
from .result import (
    _PUBLISHED_COLUMNS, SCORE_COLUMNS, TASK_SCORE_COLUMNS, Prediction, _clean, _clean_row, _is_missing,
    _prediction_from_row, _typed,
)
from .trajectory import DeferredTrajectories


def score_frame(bundle, frame, clinical=None, *, allow_imputed: bool = False,
                columns: dict[str, str] | None = None) -> pd.DataFrame:
    """Score every patient of a markers table with a trained model (the single code path).

    Parameters
    ----------
    bundle : ModelBundle
        A loaded model (:func:`load_model`).
    frame : DataFrame, str or Path
        Either the long markers table (data contract; read and validated with
        ``io.read_markers(on_error="flag")``), with ``clinical`` separately; or the pyfunc
        input: long markers rows with the clinical columns (``age``, ``ecog``, ...,
        ``recist``) repeated on each row of a patient.
    clinical : DataFrame, str or Path, optional
        One row per patient (``io.read_clinical``; only ``patient_id`` is required, missing
        predictors are unknown and the model imputes them).
    allow_imputed : bool
        Decide even when clinical predictors are unknown (see *Decision rule*); by default
        such a patient gets status ``insufficient`` and no decision.
    columns : dict, optional
        Renaming of either table's columns to data-contract names, e.g. ``{"ECOG": "ecog"}``
        (a near miss of a contract column is refused otherwise).

    Returns
    -------
    pandas.DataFrame
        One row per patient, sorted by ``patient_id``, columns :data:`SCORE_COLUMNS` (module
        docstring). A patient whose data break the contract gets ``status="invalid_input"``
        with the reason; nobody is dropped.

    Raises
    ------
    InvalidInputError
        The table as a whole cannot be read (not a table, a required column missing).
    """
    from ..task import bundle_task

    task = bundle_task(bundle)
    if not task.is_default:
        return _score_task(bundle, task, frame, clinical)
    gs = bundle.gcig_settings
    markers, clin, problems = _read_inputs(frame, clinical, gs, columns)
    return _score(bundle, markers, clin, problems, allow_imputed)


def _score_task(bundle, task, frame, clinical) -> pd.DataFrame:
    """Score a model of another task: the same readers, patient frame and bundle as training.

    One row per patient (sorted), columns :data:`TASK_SCORE_COLUMNS`; ``decision`` is
    ``probability >= threshold``; a patient whose input is invalid gets ``invalid_input``
    and the reason, with no probability.
    """
    import os

    from ..features import build_patient_frame
    from ..io import read_clinical, read_markers
    from .inputs import _split_input

    if not isinstance(frame, (pd.DataFrame, str, os.PathLike)):
        raise InvalidInputError(
            f"markers must be a DataFrame or a path to a .csv/.parquet file, got {type(frame).__name__}")
    problems: dict[str, str] = {}
    if isinstance(frame, pd.DataFrame):
        frame, clinical, problems = _split_input(frame, clinical, task.predictors)
    clin = None
    if clinical is not None:
        clin = read_clinical(clinical, on_error="flag", require=("patient_id",))
        for column in task.predictors:          # unknown predictors are imputed by the model
            if column not in clin.columns:
                clin[column] = None
    markers = read_markers(frame, clinical=clin, on_error="flag", marker=task.marker)
    patient = build_patient_frame(markers, clin, kinetics_settings=bundle.kinetics_settings, task=task)
    for table in (markers, clin):
        if table is not None:
            for pid, problem in table.loc[table["problem"].notna(), ["patient_id", "problem"]].itertuples(index=False):
                problems.setdefault(str(pid), str(problem))
    ids = patient["patient_id"].astype(str)
    bad = ids.isin(problems).to_numpy() | patient["problem"].notna().to_numpy()
    p = pd.DataFrame({"p": np.nan, "p_low": np.nan, "p_high": np.nan}, index=patient.index)
    if (~bad).any():
        p.loc[~bad] = bundle.predict_proba(patient.loc[~bad]).to_numpy()
    reason = [("invalid input: " + problems.get(i) if i in problems else f"invalid input: {pr}") if b
              else "scored" for i, pr, b in zip(ids, patient["problem"], bad)]
    out = pd.DataFrame({
        "patient_id": ids.to_numpy(dtype=object),
        "status": np.where(bad, "invalid_input", "ok").astype(object),
        "reason": pd.Series(reason, dtype=object),
        "probability": p["p"].to_numpy(dtype=float), "p_low": p["p_low"].to_numpy(dtype=float),
        "p_high": p["p_high"].to_numpy(dtype=float), "threshold": float(bundle.threshold),
    })
    out["decision"] = pd.array(np.where(bad, None, out["probability"] >= bundle.threshold), dtype="boolean")
    out["task"], out["outcome"], out["marker"] = task.name, task.outcome, task.marker
    out["model_name"], out["model_version"] = bundle.name, bundle.version
    out["model_family"], out["trained_on_synthetic"] = bundle.model_family, bool(bundle.trained_on_synthetic)
    return out[list(TASK_SCORE_COLUMNS)]


def _kinetics_of(bundle, patients: list, problems: Mapping[str, str]):
    """Kinetics of the patients with markers under the model's fitted kinetics step.

    Returns ``(index, d, status_text, reasons, features, problem)``: ``index`` maps a patient
    position to its column in the arrays; ``d`` the estimates of
    ``kinetics._score``; ``features`` the ``kinetics.FEATURE_NAMES`` block; ``problem``
    per column the reason the kinetics step found the input invalid (None if valid).
    Patients with a known problem are not fitted (status ``invalid_input``).
    """
    from .. import kinetics as K

    step = _kinetics_step(bundle)
    s = step.settings_ if step is not None else bundle.kinetics_settings
    index = {i: j for j, i in enumerate(i for i, p in enumerate(patients) if p.day)}
    chosen = [patients[i] for i in index]
    sizes = np.fromiter((len(p.day) for p in chosen), dtype=np.int64, count=len(chosen))
    codes = np.repeat(np.arange(len(chosen), dtype=np.int64), sizes)

    def flat(attr):
        return [v for p in chosen for v in getattr(p, attr)]

    day = np.asarray(flat("day"), dtype=float)
    value = np.asarray(flat("ca125"), dtype=float)
    cens = np.asarray([bool(c) if not _is_missing(c) else False for c in flat("censored")], dtype=bool)
    uln = np.asarray([np.nan if _is_missing(u) else float(u) for u in flat("uln")], dtype=float)
    uln = np.where(np.isnan(uln), s.uln, uln)
    ev_rows, ev_kind, pr_rows, pr_text = [], [], [], []
    row = 0
    for p in chosen:
        known = problems.get(p.patient_id)
        for e in p.event:
            if e is not None:
                ev_rows.append(row)
                ev_kind.append(str(e))
            text = known if known is not None else p.problem
            if text is not None:
                pr_rows.append(row)
                pr_text.append(text)
            row += 1
    ids = np.array([p.patient_id for p in chosen], dtype=object)
    r = K._classify_rows(ids, codes, True, day, value, cens, uln, np.asarray(ev_rows, dtype=np.int64),
                         np.asarray(ev_kind, dtype=object), np.asarray(pr_rows, dtype=np.int64),
                         np.asarray(pr_text, dtype=object), s, check=False)   # records: io checked them
    batch = K._batch_from_rows(r)
    method = step.method if step is not None else "population"
    population = getattr(step, "population_", None) if method == "population" else None
    d = K._score(batch, method, population, s)
    status = np.asarray(K.STATUSES, dtype=object)[d["status"]]
    reasons = K._reasons(d["status"], d, batch, s, method)
    return index, d, status, reasons, K._features(d), batch.problem


def _score_patients(bundle, patients: list, problems: Mapping[str, str], allow_imputed: bool = False) -> list[dict]:
    """Score validated patients: the one code path behind every public scoring function.

    ``allow_imputed``: decide even when clinical predictors are unknown (imputed by the
    model); otherwise such a patient's decision is withheld (status ``insufficient``).

    ``problems`` maps a patient to why its input is invalid (the readers' reasons); the
    kinetics step may add one (a value it cannot log-transform). The combined RECIST +
    CA-125 category is reported for patients with a RECIST value.
    """
    from .. import kinetics as K
    from ..features import ca125_at_recurrence
    from ..gcig import records_gcig
    from ..scores import published_scores_arrays

    gs = bundle.gcig_settings
    n = len(patients)
    problems = {**{p.patient_id: p.reason for p in patients if p.reason is not None}, **problems}

    # --- GCIG response and progression (all patients in one call, as columns)
    gcig_columns = records_gcig(patients, gs)
    gcig = [dict(zip(gcig_columns, values)) for values in zip(*gcig_columns.values())]

    # --- kinetics (all patients with markers at once); its problems make a patient invalid
    index, d, k_status, k_reason, feats, k_problem = _kinetics_of(bundle, patients, problems)
    for i, j in index.items():
        if k_problem[j] is not None:
            problems.setdefault(patients[i].patient_id, str(k_problem[j]))

    # --- patient-level inputs of the model and of the published scores
    clinical = [p.clinical or {} for p in patients]
    ca125_rec = np.array([ca125_at_recurrence(g.get("baseline_value"), p.day, p.ca125)
                          for p, g in zip(patients, gcig)], dtype=float)
    invalid = np.array([p.patient_id in problems for p in patients], dtype=bool)
    has_markers = np.array([bool(p.day) for p in patients], dtype=bool)

    # --- the model, on the valid patients with markers
    prob = np.full((n, 3), np.nan)
    valid = np.flatnonzero(~invalid & has_markers)
    if len(valid):
        cols: dict[str, Any] = {"patient_id": np.array([patients[i].patient_id for i in valid], dtype=object)}
        for c in ("age", "ecog", "ascites_ml", "primary_residual_disease", "pfi_months"):
            cols[c] = np.array([np.nan if clinical[i].get(c) is None else float(clinical[i][c]) for i in valid])
        for c in ("figo_stage", "recurrence_pattern", "recist"):
            cols[c] = np.array([clinical[i].get(c) for i in valid], dtype=object)
        cols["ca125_at_recurrence"] = ca125_rec[valid]
        for c, src in (("gcig_evaluable", "evaluable"), ("gcig_responded", "responded"),
                       ("gcig_category", "category"), ("gcig_status", "status")):
            cols[c] = np.array([gcig[i].get(src) for i in valid], dtype=object)
        cols_idx = np.array([index[i] for i in valid], dtype=np.intp)
        for r, name in enumerate(K.FEATURE_NAMES):
            cols[name] = feats[r, cols_idx]
        p, low, high = bundle.predict_head(cols, len(valid))
        prob[valid] = np.column_stack([p, low, high])

    # --- published scores
    pub_cols = {c: [clinical[i].get(c) for i in range(n)]
                for c in ("ecog", "ascites_ml", "figo_stage", "primary_residual_disease", "pfi_months",
                          "recurrence_pattern")}
    pub_cols["ca125_at_recurrence"] = [None if np.isnan(v) else float(v) for v in ca125_rec]
    pub = published_scores_arrays(pub_cols, problem=[problems.get(p.patient_id) for p in patients])

    threshold = float(bundle.threshold)
    synthetic = bool(getattr(bundle, "trained_on_synthetic", False))
    settings_json = _settings_json(bundle)
    ranges = dict(getattr(bundle, "feature_ranges", None) or {})
    model_info = dict(model_name=str(getattr(bundle, "name", "")), model_version=str(getattr(bundle, "version", "")),
                      model_family=str(getattr(bundle, "model_family", "")), trained_on_synthetic=synthetic,
                      settings_json=settings_json)
    rows = []
    for i, patient in enumerate(patients):
        pid = patient.patient_id
        g = gcig[i]
        row: dict[str, Any] = {"patient_id": pid}
        if invalid[i]:
            status, reason = "invalid_input", problems[pid]
        elif not has_markers[i]:
            status, reason = "not_scored", "no CA-125 markers for this patient (only a clinical row)"
        elif not np.isfinite(prob[i, 0]):
            status, reason = "not_scored", "the model returned no probability for this patient"
        else:
            status, reason = "ok", None
        if status == "ok":
            row.update(probability=float(prob[i, 0]), p_low=_clean(prob[i, 1]), p_high=_clean(prob[i, 2]))
        else:
            row.update(probability=None, p_low=None, p_high=None)
        row.update(status=status, reason=reason, threshold=threshold)
        j = index.get(i)
        fitted = j is not None and status != "invalid_input" and has_markers[i]
        for c, src in (("k", "k"), ("half_life_days", "half_life_days"), ("kelim_score", "kelim_score"),
                       ("c0", "c0"), ("floor", "floor"), ("kinetics_n_samples", "n_samples")):
            row[c] = _clean(d[src][j]) if fitted else None
        row["kinetics_status"] = k_status[j] if fitted else None
        row["kinetics_reason"] = _clean(k_reason[j]) if fitted else None
        row.update(
            gcig_evaluable=_clean(g.get("evaluable")), gcig_responded=_clean(g.get("responded")),
            gcig_category=_clean(g.get("category")), gcig_status=_clean(g.get("status")),
            gcig_reason=_clean(g.get("reason")), gcig_uln=_clean(g.get("uln")),
            gcig_baseline_day=_clean(g.get("baseline_day")), gcig_baseline_value=_clean(g.get("baseline_value")),
            gcig_response_day=_clean(g.get("response_day")),
            gcig_confirmation_day=_clean(g.get("confirmation_day")),
            progressed=_clean(g.get("progressed")), progression_group=_clean(g.get("progression_group")),
            progression_day=_clean(g.get("progression_day")),
            progression_status=_clean(g.get("progression_status")),
            progression_reason=_clean(g.get("progression_reason")),
            recist=_clean(clinical[i].get("recist")),
            combined_category=_clean(g.get("combined_category")),
        )
        for c in _PUBLISHED_COLUMNS:
            row[c] = _clean(pub[c][i])
        missing = [c for c in REQUIRED_PREDICTORS if _is_missing(clinical[i].get(c))]
        decision, rule, text = _decide(row, threshold, synthetic, missing=missing, allow_imputed=allow_imputed)
        row.update(decision=decision, rule=rule, recommendation=text)
        if decision == "insufficient_information":
            row.update(status="insufficient", reason=_insufficient_reason(missing) if _entry_met(row)
                       else _entry_undetermined_reason(row))
        frame_row = {c: clinical[i].get(c) for c in CLINICAL_FACTORS}
        frame_row["ca125_at_recurrence"] = _clean(ca125_rec[i])
        row["warnings"] = "; ".join(_warnings(row, frame_row, patient.samples(), bundle, ranges))
        row.update(model_info)
        rows.append(row)
    return rows


def _score(bundle, markers: pd.DataFrame, clin: pd.DataFrame | None, problems: dict[str, str],
           allow_imputed: bool = False) -> pd.DataFrame:
    """:func:`_score_patients` on canonical frames, as the typed frame of :data:`SCORE_COLUMNS`."""
    from ..io import records_from_frames

    rows = _score_patients(bundle, records_from_frames(markers, clin), problems, allow_imputed)
    return _typed(pd.DataFrame(rows, columns=list(SCORE_COLUMNS)))


def _kinetics_step(bundle):
    """The fitted ``KineticsFeatures`` step of the bundle's pipeline (None if it has none)."""
    if getattr(bundle, "kinetics_step", None) is not None:     # a ScoringModel
        return bundle.kinetics_step
    from ..kinetics import KineticsFeatures

    steps = getattr(getattr(bundle, "pipeline", None), "steps", None) or []
    for _, step in steps:
        if isinstance(step, KineticsFeatures):
            return step
    return None


def _settings_json(bundle) -> str:
    cached = getattr(bundle, "__dict__", {}).get("_settings_json")
    if cached is not None and cached[0] == (bundle.gcig_settings, bundle.kinetics_settings, bundle.threshold):
        return cached[1]
    text = json.dumps({
        "gcig": bundle.gcig_settings.to_dict(),
        "kinetics": bundle.kinetics_settings.to_dict(),
        "threshold": float(bundle.threshold),
    }, sort_keys=True)
    if hasattr(bundle, "__dict__"):
        bundle.__dict__["_settings_json"] = ((bundle.gcig_settings, bundle.kinetics_settings, bundle.threshold), text)
    return text


def predict(markers, clinical=None, *, model=None, allow_imputed: bool = False,
            columns: dict[str, str] | None = None) -> Prediction:
    """Score one patient: probability of complete resection with the GCIG rule applied.

    Parameters
    ----------
    markers : DataFrame, str, Path, mapping or sequence
        The patient's CA-125 series: a long markers frame or file (data contract; one
        patient), a mapping of columns such as ``{"day": [-3, 21, 42], "ca125": [400, 180,
        150]}`` (optionally ``patient_id``, ``censored``, ``uln``, ``assay``, ``event``,
        ``date``), or a sequence of ``(day, ca125)`` pairs.
    clinical : mapping, Series, DataFrame, str or Path, optional
        The patient's clinical factors (``age``, ``ecog``, ``ascites_ml``, ``figo_stage``,
        ``primary_residual_disease``, ``pfi_months``, ``recurrence_pattern``, ``recist``,
        ``treatment_start``); unknown ones may be left out.
    model : None, str, Path or ModelBundle, optional
        See :func:`load_model`; None uses the shipped default model.
    allow_imputed : bool
        Decide even when clinical predictors are unknown. By default the decision is
        withheld (status ``insufficient``, decision ``insufficient_information``) and the
        probability, computed with the unknown factors imputed, is shown for information.
    columns : dict, optional
        Renaming of input column (or clinical key) names to data-contract names.

    Returns
    -------
    Prediction
        Frozen result: probability with interval, kinetics, GCIG response and progression,
        published scores, decision and recommendation, warnings, model and settings.

    Raises
    ------
    InvalidInputError
        The input holds more than one patient, or cannot be read. Invalid values of one
        patient are reported in the result (``status="invalid_input"``) rather than raised,
        as in :func:`predict_cohort`.
    ModelNotFoundError, ModelIntegrityError
        See :func:`load_model`.
    """
    bundle = load_model(model)
    record, problems = _record(markers, clinical, bundle.gcig_settings, columns)
    rows = _score_patients(bundle, [record], problems, allow_imputed)
    later = DeferredTrajectories(bundle, [record], problems, rows, score=_score_patients,
                                 kinetics_step=_kinetics_step)
    return _prediction_from_row(_clean_row(rows[0]), record.samples(), bundle, partial(later.get, 0))


def predict_many(items, *, model=None, allow_imputed: bool = False) -> list[Prediction]:
    """Score several single-patient inputs at once: ``[predict(m, c) for m, c in items]``.

    The same result as calling :func:`predict` on each item, computed in one
    :func:`score_frame` pass (the scoring steps are vectorised over patients, so a batch
    costs little more than one patient). The web server batches concurrent requests this way.

    Parameters
    ----------
    items : sequence of (markers, clinical)
        As the arguments of :func:`predict` (mappings or DataFrames; one patient each).
        The patient identifiers must differ between items.
    model : None, str, Path or ModelBundle, optional
        See :func:`load_model`.
    allow_imputed : bool
        As in :func:`predict`, for every item.

    Returns
    -------
    list of Prediction
        In the order of ``items``.

    Raises
    ------
    InvalidInputError
        An item is not one patient, or two items share a patient identifier.
    """
    bundle = load_model(model)
    records, problems = [], {}
    for m, c in items:
        record, found = _record(m, c, bundle.gcig_settings)
        records.append(record)
        problems.update(found)
    if len({r.patient_id for r in records}) != len(records):
        raise InvalidInputError("predict_many needs a different patient_id for every item", column="patient_id")
    if not records:
        return []
    rows = _score_patients(bundle, records, problems, allow_imputed)
    later = DeferredTrajectories(bundle, records, problems, rows, score=_score_patients, kinetics_step=_kinetics_step)
    return [_prediction_from_row(_clean_row(row), record.samples(), bundle, partial(later.get, i))
            for i, (row, record) in enumerate(zip(rows, records))]


def predict_cohort(markers, clinical=None, model=None, *, allow_imputed: bool = False,
                   columns: dict[str, str] | None = None) -> pd.DataFrame:
    """Score many patients: one row per patient with the columns of :data:`SCORE_COLUMNS`.

    Parameters
    ----------
    markers : DataFrame, str or Path
        Long markers table (data contract) or the pyfunc input form (clinical columns
        repeated on each row).
    clinical : DataFrame, str or Path, optional
        One row per patient.
    model : None, str, Path or ModelBundle, optional
        See :func:`load_model`.
    allow_imputed, columns
        As in :func:`score_frame`.

    Returns
    -------
    pandas.DataFrame
        As :func:`score_frame`; bad patients get ``status="invalid_input"`` and a reason.
    """
    return score_frame(load_model(model), markers, clinical, allow_imputed=allow_imputed, columns=columns)
