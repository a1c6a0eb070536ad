"""The scoring engine: every public scoring function ends in :func:`_score_columns` (columnar)."""

from __future__ import annotations

import json
import re
from functools import partial
from collections.abc import Iterable
from typing import Any, Mapping

import numpy as np
import pandas as pd

from .._columns import is_arrow, labels_text, repeated_text
from ..errors import InvalidInputError, _invalid_reason
from ..io import (CLINICAL_FACTORS, CLINICAL_PREDICTORS, FIGO_STAGES, READ_OPTIONS, RECURRENCE_PATTERNS,
                  given_cells, read_clinical)
from ..settings import RECIST_CATEGORIES
from ..io import NOTES_ATTR, PatientBatch
from .._design import CATEGORICAL_FEATURES
from .decision import REQUIRED_PREDICTORS, _decisions, _name_lists, _warnings, unseen_text
from .inputs import _flagged, _read_inputs, _record
from .loading import load_model
from .result import (
    _KIND, _PUBLISHED_COLUMNS, SCORE_COLUMNS, TASK_SCORE_COLUMNS, Prediction, _column, _frame, _prediction_from_row,
    _rows,
)
from .trajectory import DeferredTrajectories


def score_frame(bundle, frame, clinical=None, *, allow_imputed: bool = False,
                columns: dict[str, str] | None = None, date_format: str | None = None, decimal: str = ".",
                thousands: str | None = None, sep: str | None = None) -> pd.DataFrame:
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
        Decide even when clinical predictors are unknown, or the kinetics have no CA-125
        after the first dose (see *Decision rule*, rule 5); by default such a patient gets
        status ``insufficient`` and no decision.
    columns : dict, optional
        Renaming of either table's columns to data-contract names, e.g. ``{"ECOG": "ecog"}``
        (a near miss of a contract column is refused otherwise).
    date_format, decimal, thousands : optional
        How dates and numbers given as text are written in either table, as in
        :func:`~ca125kinetics.io.read_markers` (default: ISO ``YYYY-MM-DD`` dates and ``.``
        decimals, no thousands separator; other writings are flagged, never guessed).
    sep : str, optional
        The CSV separator of either table given as a file (default: ``,``, or detected).

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

    _check_allow_imputed(allow_imputed)
    task = bundle_task(bundle)
    formats = {"date_format": date_format, "decimal": decimal, "thousands": thousands, "sep": sep}
    if not task.is_default:
        return _score_task(bundle, task, frame, clinical, formats, allow_imputed, columns)
    gs = bundle.gcig_settings
    markers, clin, problems = _read_inputs(frame, clinical, gs, columns, **formats)
    return _score(bundle, markers, clin, problems, allow_imputed)


def _score_task(bundle, task, frame, clinical, formats, allow_imputed: bool = False,
                columns: dict[str, str] | None = None) -> pd.DataFrame:
    """Score a model of another task: the same readers, patient frame and bundle as training
    (``formats``: the readers' ``date_format``, ``decimal``, ``thousands`` and ``sep``;
    ``columns``: renames of either table's columns to data-contract names).

    One row per patient (sorted), columns :data:`TASK_SCORE_COLUMNS`; ``decision`` is
    ``probability >= threshold``; a patient whose input is invalid gets ``invalid_input``
    and the reason, with no probability. As for the default task (rule 5), a patient whose
    model inputs are imputed -- a clinical predictor unknown, or no marker decline to measure
    (no pretreatment sample or none after the first dose among those the response features
    use: ``post_pre_ratio`` undefined) -- gets status ``insufficient`` and no decision,
    unless ``allow_imputed``. ``warnings`` names values outside the training range
    (``ModelBundle.feature_ranges``) and categories the model never saw.
    """
    import os

    from ..features import build_patient_frame
    from ..io import read_clinical, read_markers
    from ..markers import get_marker
    from .inputs import _cohort_rows, _split_input

    if not isinstance(frame, (pd.DataFrame, str, os.PathLike)):
        raise InvalidInputError(
            f"markers must be a DataFrame or a path to a .csv/.parquet file, got {type(frame).__name__}")
    problems: dict[str, str] = {}
    if isinstance(frame, pd.DataFrame):
        frame, clinical, problems = _split_input(_cohort_rows(frame, columns), clinical, task.predictors)
    clin = None
    if clinical is not None:
        clin = read_clinical(clinical, on_error="flag", require=("patient_id",), columns=columns, **formats)
        for column in task.predictors:          # unknown predictors are imputed by the model
            if column not in clin.columns:
                clin[column] = None
    markers = read_markers(frame, clinical=clin, on_error="flag", marker=task.marker, factors=task.predictors,
                           columns=columns, **formats)
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
    levels = _task_levels(bundle, task)
    imputed = _task_imputed(patient, task, levels)
    withheld = ~bad & (imputed != "") & (not allow_imputed)
    label = get_marker(task.marker).label
    reason = [_invalid_reason(problems[i] if i in problems else pr) if b
              else (f"insufficient information: give {what}; the probability shown was computed with them imputed, "
                    "so no decision is made (allow_imputed=True, ca125 score --allow-imputed, decides on it anyway)"
                    if w else f"scored with {what} imputed (allowed by the caller)" if what else "scored")
              for i, pr, b, w, what in zip(ids, patient["problem"], bad, withheld,
                                           (_imputed_text(x, label) for x in imputed))]
    out = pd.DataFrame({
        "patient_id": ids.to_numpy(dtype=object),
        "status": np.where(bad, "invalid_input", np.where(withheld, "insufficient", "ok")).astype(object),
        "reason": pd.Series(reason, dtype=object),
        "probability": p["p"].to_numpy(dtype=float), "p_low": p["p_low"].to_numpy(dtype=float),
        "p_high": p["p_high"].to_numpy(dtype=float), "threshold": float(bundle.threshold),
    })
    out["decision"] = pd.array(np.where(bad | withheld, None, out["probability"] >= bundle.threshold),
                               dtype="boolean")
    out["warnings"] = np.where(bad, "", _task_warnings(bundle, patient, task, levels,
                                                       markers.attrs.get(NOTES_ATTR))).astype(object)
    out["task"], out["outcome"], out["marker"] = task.name, task.outcome, task.marker
    out["uln"], out["post_uln"] = _task_ulns(patient, bad)
    out["model_name"], out["model_version"] = bundle.name, bundle.version
    out["model_family"], out["trained_on_synthetic"] = bundle.model_family, bool(bundle.trained_on_synthetic)
    return out[list(TASK_SCORE_COLUMNS)]


def _task_ulns(patient: pd.DataFrame, bad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per patient the ULN of the baseline sample (the wide form's ``uln``) and of the last used
    on-treatment sample (its ``last_uln`` when the last used sample is after day 0, the post
    sample of the response features), NaN for invalid input and where there is no such sample."""
    n = len(patient)
    uln = patient["uln"].to_numpy(dtype=float) if "uln" in patient.columns else np.full(n, np.nan)
    last = patient["last_uln"].to_numpy(dtype=float) if "last_uln" in patient.columns else np.full(n, np.nan)
    days = [c for c in patient.columns if re.fullmatch(r"day_[0-9]+", c)]
    with np.errstate(invalid="ignore"):
        last_day = (np.nanmax(patient[days].to_numpy(dtype=float), axis=1, initial=-np.inf) if days
                    else np.full(n, -np.inf))
    post = np.where(last_day > 0, last, np.nan)
    return np.where(bad, np.nan, uln), np.where(bad, np.nan, post)


#: The marker decline a task model measures: named where it is imputed (rule 5).
_NO_DECLINE = "marker_decline"


def _task_imputed(patient: pd.DataFrame, task, levels: dict[str, set]) -> np.ndarray:
    """Per patient, the ``", "``-joined model inputs that are imputed: the task's clinical
    predictors that are unknown (but a categorical one whose unknown the model learned as a
    level, ``"missing"`` among ``levels``), then :data:`_NO_DECLINE` when the response
    features find no pretreatment sample or none after the first dose (``post_pre_ratio``
    undefined), so that the marker's decline -- what the model predicts from -- is imputed."""
    names = [c for c in task.predictors if c in patient.columns and "missing" not in levels.get(c, ())]
    unknown = np.column_stack([patient[c].isna().to_numpy() | _task_unseen(patient, c, task, levels) for c in names] +
                              [patient["post_pre_ratio"].isna().to_numpy() if "post_pre_ratio" in patient.columns
                               else np.ones(len(patient), dtype=bool)]) if len(patient) else np.zeros((0, 1), bool)
    labels = [*names, _NO_DECLINE]
    return np.array([", ".join(n for n, m in zip(labels, row) if m) for row in unknown.tolist()], dtype=object)


def _task_unseen(patient: pd.DataFrame, c: str, task, levels: dict[str, set]) -> np.ndarray:
    """Per patient, a known value of the task's categorical predictor ``c`` that its model never
    learned (read as no level at all, so counted as unknown, as for the default task)."""
    if c not in task.categorical or c not in levels:
        return np.zeros(len(patient), dtype=bool)
    values = patient[c]
    learned = values.astype(str).isin(sorted(levels[c] - {"missing"})).to_numpy()
    return given_cells(values.to_numpy(dtype=object)) & ~learned


def _imputed_text(imputed: str, label: str) -> str:
    """:func:`_task_imputed`'s names for people (the decline said in words)."""
    return imputed.replace(_NO_DECLINE, f"the {label} decline (a pretreatment {label} and one after the first dose, "
                                        "day > 0, in the response window)")


def _task_levels(bundle, task) -> dict[str, set]:
    """The categories the task model's one-hot encoding learned, per categorical predictor
    (``ModelBundle.learned_levels``; those it cannot tell are left out)."""
    levels = {c: bundle.learned_levels(c) for c in task.categorical}
    return {c: set(v) for c, v in levels.items() if v is not None}


def _task_warnings(bundle, patient: pd.DataFrame, task, levels: dict[str, set],
                   notes: dict[str, tuple] | None = None) -> np.ndarray:
    """Per patient, ``"; "``-joined: clinical values outside the training range (the default
    task's rule, :func:`decision._range_pieces`), categories the model never saw (read as
    no category at all), and what the markers reader noted about the patient without refusing
    it (``notes``, ``io.NOTES_ATTR``: samples without a ULN beside samples with one)."""
    from .decision import _joined, _range_pieces, _notes_text

    def value_of(c):
        if c not in task.predictors or c not in patient.columns:
            return None
        return pd.to_numeric(patient[c], errors="coerce").to_numpy(dtype=float)

    n = len(patient)
    pieces = _range_pieces(dict(getattr(bundle, "feature_ranges", None) or {}), value_of, np.ones(n, dtype=bool))
    for c in levels:
        if c in task.categorical and c in patient.columns:
            at = np.flatnonzero(_task_unseen(patient, c, task, levels))
            pieces.append((at, np.array([unseen_text(c, v) for v in patient[c].to_numpy()[at].tolist()],
                                        dtype=object)))
    if notes:
        ids = patient["patient_id"].astype(str).tolist()
        at = np.array([i for i, pid in enumerate(ids) if pid in notes], dtype=np.int64)
        pieces.append((at, np.array([_notes_text(notes[ids[i]]) for i in at.tolist()], dtype=object)))
    return _joined(n, pieces)


#: The GCIG values the engine reports (``gcig.COHORT_COLUMNS`` and ``combined_category``),
#: with the score column each goes to.
_GCIG_OUTPUT = {
    "evaluable": "gcig_evaluable", "responded": "gcig_responded", "category": "gcig_category",
    "status": "gcig_status", "reason": "gcig_reason", "uln": "gcig_uln", "baseline_day": "gcig_baseline_day",
    "baseline_value": "gcig_baseline_value", "response_day": "gcig_response_day",
    "confirmation_day": "gcig_confirmation_day", "progressed": "progressed",
    "progression_group": "progression_group", "progression_day": "progression_day",
    "progression_status": "progression_status", "progression_reason": "progression_reason",
    "combined_category": "combined_category",
    "n_excluded": "gcig_n_excluded",     # for the warnings only (not a score column)
    "progression_candidate_day": "gcig_progression_candidate_day",     # for the warnings only
}


def _gcig_of(batch: PatientBatch, gs) -> dict[str, np.ndarray]:
    """GCIG response and progression, and the combined RECIST + CA-125 category, of every
    patient of ``batch``: the score columns of :data:`_GCIG_OUTPUT` (``result._column``
    form), from one run of the GCIG kernel (``gcig.batch_gcig``). The one place the engine
    calls the GCIG rules.

    Text columns stay in the form the GCIG module builds them (``_columns``): the reasons an
    Arrow string array for a large batch; the labels (few distinct values) taken by code, as
    an Arrow array for a large batch except :data:`_READ_LABELS`, which the model and the
    decision rule read as Python strings."""
    from ..gcig import _Labels, batch_gcig

    columns = batch_gcig(batch, gs)

    def column(values, name):
        if hasattr(values, "mask"):     # an integer or boolean column with its missing mask
            return np.where(values.mask, np.nan, np.asarray(values.values, dtype=float))
        if isinstance(values, _Labels):
            if name in _READ_LABELS:
                return np.asarray(values.names, dtype=object)[values.codes]
            return labels_text(values.names, values.codes)
        if is_arrow(values) or (isinstance(values, np.ndarray) and values.dtype == object):
            return values               # text (a _columns text column): already the engine's form
        return _column(values, name)

    return {name: column(columns[k], name) for k, name in _GCIG_OUTPUT.items()}


#: GCIG labels read as Python strings: by the model (its design) and by the decision rule.
_READ_LABELS = ("gcig_category", "gcig_status")


def _kinetics_of(bundle, batch: PatientBatch, problem: np.ndarray):
    """Kinetics of the patients with markers under the model's fitted kinetics step.

    ``problem`` is per patient the reason its input is invalid (None if valid): such a
    patient is not fitted (status ``invalid_input``). Returns ``(fitted, d, status, reasons,
    features, problem)``: ``fitted`` the positions of the patients with markers, in the
    order of the arrays; ``d`` the estimates of ``kinetics._score``; ``status`` and
    ``reasons`` the texts of each fitted patient as ``(texts, codes)`` (its text
    ``texts[codes[i]]``); ``features`` the ``kinetics.FEATURE_NAMES`` block; ``problem`` per
    fitted patient the reason the kinetics step found the input invalid (None if valid).
    """
    from .. import kinetics as K

    step = _kinetics_step(bundle)
    s = step.settings_ if step is not None else bundle.kinetics_settings
    sizes = batch.sizes
    fitted = np.flatnonzero(sizes > 0)
    codes = np.repeat(np.arange(fitted.size, dtype=np.int64), sizes[fitted])
    uln = np.where(np.isnan(batch.uln), s.uln, batch.uln)
    ev_rows = np.flatnonzero(~pd.isna(batch.event))
    known = problem[fitted]
    pr_rows = np.flatnonzero(~pd.isna(known)[codes])
    r = K._classify_rows(batch.ids[fitted], codes, True, batch.day.astype(float), batch.ca125, batch.censored, uln,
                         ev_rows.astype(np.int64), batch.event[ev_rows].astype(str).astype(object),
                         pr_rows.astype(np.int64), known[codes[pr_rows]], s,
                         check=False)   # records: io checked them
    kinetics = K._batch_from_rows(r)
    method = step.method if step is not None else "population"
    population = getattr(step, "population_", None) if method == "population" else None
    d = K._score(kinetics, method, population, s)
    reasons = K._reasons(d["status"], d, kinetics, s, method)
    return fitted, d, (list(K.STATUSES), d["status"]), reasons, K._features(d), kinetics.problem


#: The columns of a prediction's row: the score columns and what its trajectory needs.
_PREDICT_NAMES = (*SCORE_COLUMNS, "predictors_unknown", "predictors_imputed", "kinetics_n_on")


def _score_patients(bundle, patients: list, problems: Mapping[str, str], allow_imputed: bool = False,
                    names=SCORE_COLUMNS) -> list[dict]:
    """:func:`_score_columns` of ``io.PatientRecord`` objects, as one dict of plain values
    per patient (None missing), in their order, with the columns ``names``: score columns,
    and ``"kinetics_n_on"`` if asked for (the CA-125 samples after the first dose the
    kinetics used, rule 5's count; no score column)."""
    return _rows(_score_columns(bundle, PatientBatch.from_records(patients), problems, allow_imputed), names)


def _check_allow_imputed(allow_imputed) -> None:
    """``allow_imputed`` is True or False: any other value (``"no"``, ``1``, None) would be
    read by its truth value, and a decision made on imputed factors must be asked for."""
    if not isinstance(allow_imputed, (bool, np.bool_)):
        raise InvalidInputError(
            f"allow_imputed must be True or False, got {allow_imputed!r} ({type(allow_imputed).__name__})")


def _score_columns(bundle, batch: PatientBatch, problems: Mapping[str, str],
                   allow_imputed: bool = False) -> dict[str, np.ndarray]:
    """Score validated patients: the one code path behind every public scoring function.

    Columnar: every step runs on arrays over all patients (no Python call per patient
    except inside the GCIG rules, :func:`_gcig_of`). Returns the :data:`SCORE_COLUMNS` in
    the engine's form (``result._column``: float64 with NaN for numbers, whole numbers and
    flags; text as a ``_columns`` text column: an object array with None missing, or from
    ``_columns.ARROW_MIN`` patients an Arrow string array, built by Arrow where the texts
    come from Arrow or from a few distinct texts, and taken into the score frame without a
    copy), one entry per patient of ``batch``.

    ``allow_imputed``: decide even when clinical predictors are unknown, or the kinetics have
    no CA-125 after the first dose (imputed by the model); otherwise such a patient's decision
    is withheld (status ``insufficient``).

    ``problems`` maps a patient to why its input is invalid (the readers' reasons; they take
    precedence over the batch's own); the kinetics step may add one (a value it cannot
    log-transform). The combined RECIST + CA-125 category (``gcig.gcig_cohort``) is reported
    for every valid patient: with RECIST unknown it is PD on a confirmed GCIG progression and
    missing (undetermined) otherwise.
    """
    from .. import kinetics as K
    from ..features import ca125_at_recurrence_arrays, ca125_at_recurrence_censored
    from ..scores import _published_codes

    _check_allow_imputed(allow_imputed)
    n = batch.n
    problem = batch.reason
    if problems:
        at = pd.Index(batch.ids).get_indexer(list(problems))
        given = np.asarray(list(problems.values()), dtype=object)
        problem = problem.copy()
        problem[at[at >= 0]] = given[at >= 0]
    clinical = batch.clinical

    gcig = _gcig_of(batch, bundle.gcig_settings)

    # --- kinetics (all patients with markers at once); its problems make a patient invalid
    fitted, d, k_status, k_reason, feats, k_problem = _kinetics_of(bundle, batch, problem)
    more = fitted[~pd.isna(k_problem)]
    more = more[pd.isna(problem[more])]
    if more.size:
        problem = problem.copy()
        problem[more] = k_problem[np.searchsorted(fitted, more)].astype(str)

    # --- patient-level inputs of the model and of the published scores
    ca125_rec = ca125_at_recurrence_arrays(gcig["gcig_baseline_value"], batch.offsets, batch.day, batch.ca125)
    invalid = ~pd.isna(problem)
    has_markers = batch.sizes > 0

    # --- the model, on the valid patients with markers
    prob = np.full((3, n), np.nan)
    valid = np.flatnonzero(~invalid & has_markers)
    column_of = np.full(n, -1, dtype=np.intp)
    column_of[fitted] = np.arange(fitted.size)
    if valid.size:
        cols: dict[str, Any] = {"patient_id": batch.ids[valid]}
        for c in ("age", "ecog", "ascites_ml", "primary_residual_disease", "pfi_months",
                  "figo_stage", "recurrence_pattern", "recist"):
            cols[c] = clinical[c][valid]
        cols["ca125_at_recurrence"] = ca125_rec[valid]
        for c in ("gcig_evaluable", "gcig_responded", "gcig_category", "gcig_status"):
            cols[c] = gcig[c][valid]       # the flags as 1.0/0.0/NaN, which _design reads as they are
        block = feats[:, column_of[valid]]
        for r, name in enumerate(K.FEATURE_NAMES):
            cols[name] = block[r]
        prob[:, valid] = np.vstack(bundle.predict_head(cols, len(valid)))

    # --- published scores
    pub_cols = {c: clinical[c] for c in ("ecog", "ascites_ml", "figo_stage", "primary_residual_disease",
                                         "pfi_months", "recurrence_pattern")}
    pub_cols["ca125_at_recurrence"] = ca125_rec
    pub_cols["ca125_at_recurrence_censored"] = ca125_at_recurrence_censored(
        gcig["gcig_baseline_day"], batch.offsets, batch.day, batch.ca125, batch.censored)
    pub = _published_codes(pub_cols, problem, None)

    # --- status, kinetics, then the decision rule and the warnings
    status = _STATUSES[np.where(invalid, 2, np.where(~has_markers | ~np.isfinite(prob[0]), 1, 0))]
    reason = np.where(invalid, problem,
                      np.where(~has_markers, "no CA-125 markers for this patient (only a clinical row)",
                               np.where(status == "not_scored", "the model returned no probability for this patient",
                                        None))).astype(object)
    ok = status == "ok"
    out: dict[str, np.ndarray] = {"patient_id": batch.ids, "status": status, "reason": reason,
                                  "probability": np.where(ok, prob[0], np.nan),
                                  "p_low": np.where(ok, prob[1], np.nan), "p_high": np.where(ok, prob[2], np.nan),
                                  "threshold": np.full(n, float(bundle.threshold))}
    show = (column_of >= 0) & ~invalid
    j = column_of[show]
    for c, src in (("k", "k"), ("half_life_days", "half_life_days"), ("kelim_score", "kelim_score"),
                   ("c0", "c0"), ("floor", "floor"), ("kinetics_n_samples", "n_samples")):
        out[c] = np.full(n, np.nan)
        out[c][show] = d[src][j]
    for c, (texts, codes) in (("kinetics_status", k_status), ("kinetics_reason", k_reason)):
        at = np.full(n, len(texts), dtype=np.int64)     # not shown: missing
        at[show] = codes[j]
        out[c] = labels_text([*texts, None], at)
    n_excluded = gcig.pop("gcig_n_excluded")
    candidate_day = gcig.pop("gcig_progression_candidate_day")
    out.update(gcig)
    out["recist"] = clinical["recist"]
    for c in _PUBLISHED_COLUMNS:      # built from the few distinct results of the rules
        values, codes = pub[c]
        out[c] = labels_text(values, codes) if c not in _KIND else _column(values, c)[codes]
    unknown = np.column_stack([pd.isna(clinical[c]) for c in REQUIRED_PREDICTORS])
    unknown[:, REQUIRED_PREDICTORS.index("recist")] &= ~_learned_unknown(bundle, "recist", batch.ids)
    # a level the model never learned (a category absent from its training patients) is read
    # by its one-hot encoding as no level at all: the model knows it no better than an unknown
    unseen = {c: _unseen(bundle, c, clinical[c], batch.ids) for c in CATEGORICAL_FEATURES if c in REQUIRED_PREDICTORS}
    for c, mask in unseen.items():
        unknown[:, REQUIRED_PREDICTORS.index(c)] |= mask
    missing, n_missing = _name_lists(unknown, REQUIRED_PREDICTORS)
    odd = np.zeros(n, dtype=bool)
    for mask in unseen.values():
        odd |= mask
    for i in np.flatnonzero(odd).tolist():      # "give recurrence_pattern" would say it was not given
        missing[i] = ", ".join(f"{c} (a level the model never learned)" if c in unseen and unseen[c][i] else c
                               for c, u in zip(REQUIRED_PREDICTORS, unknown[i].tolist()) if u)
    # rule 5: no CA-125 decline for the kinetics to measure -- no CA-125 after the first dose
    # among the samples they use (the fit's count of used samples with day > 0), or no
    # pretreatment CA-125 to measure it from (counted as none): the KELIM-like features are imputed
    no_baseline = np.zeros(n, dtype=bool)
    no_baseline[show] = np.isnan(d["baseline_value"][j])
    n_on = np.full(n, -1, dtype=np.int64)
    n_on[show] = np.where(no_baseline[show], 0, d["n_on"][j])
    no_kinetics = ok & (n_on == 0)
    no_baseline &= no_kinetics
    # no score column: what the trajectory needs to withhold a landmark's decision by the same rule
    out["kinetics_n_on"] = np.where(n_on >= 0, n_on, np.nan).astype(float)
    synthetic = bool(getattr(bundle, "trained_on_synthetic", False))
    out.update(_decisions(out, float(bundle.threshold), synthetic, missing=missing, n_missing=n_missing,
                          no_kinetics=no_kinetics, no_baseline=no_baseline, allow_imputed=allow_imputed,
                          pretreatment_window_days=bundle.kinetics_settings.pretreatment_window_days))
    ranges = dict(getattr(bundle, "feature_ranges", None) or {})
    inputs = {**{c: clinical[c] for c in CLINICAL_FACTORS}, "ca125_at_recurrence": ca125_rec}
    out["warnings"] = _warnings(batch, out, inputs, bundle, ranges, (missing, n_missing), n_excluded,
                                {c: (mask, clinical[c]) for c, mask in unseen.items()}, candidate_day)
    for c, value in (("model_name", str(getattr(bundle, "name", ""))),
                     ("model_version", str(getattr(bundle, "version", ""))),
                     ("model_family", str(getattr(bundle, "model_family", ""))),
                     ("settings_json", _settings_json(bundle))):
        out[c] = repeated_text(value, n)
    out["trained_on_synthetic"] = np.full(n, float(synthetic))
    return out


#: The engine's statuses before the decision rule, taken by code: one string object each, not
#: one per patient (numpy's fixed-width text made into objects would create 60,000 of them).
_STATUSES = np.array(["ok", "not_scored", "invalid_input"], dtype=object)


def _score_read(bundle, markers: pd.DataFrame, clinical: pd.DataFrame | None,
                allow_imputed: bool = False, read_options: Mapping | None = None) -> pd.DataFrame:
    """:func:`predict_cohort` of frames the package readers produced with the model's settings
    (``io.read_markers(..., uln=gcig_settings.uln, duplicates=gcig_settings.duplicates,
    on_error="flag")`` and ``io.read_clinical(..., on_error="flag")``), without reading them a
    second time: what ``ca125 score`` runs on each chunk of a file (a model of another task
    is scored by :func:`score_frame`). Without a clinical table, clinical factors on the
    markers rows (the pyfunc form) are split off and read with ``read_options`` (the format
    options the markers were read with), as :func:`predict_cohort` reads them."""
    from ..task import bundle_task

    if not bundle_task(bundle).is_default:
        return score_frame(bundle, markers, clinical, allow_imputed=allow_imputed)
    problems: dict[str, str] = {}
    if clinical is None and any(c in markers.columns for c in CLINICAL_PREDICTORS):
        from .inputs import _split_input

        markers, rows, problems = _split_input(markers, None)
        # the names were resolved when the markers were read: only how values are written
        options = {k: v for k, v in (read_options or {}).items() if k in READ_OPTIONS and k != "columns"}
        clinical = read_clinical(rows, on_error="flag", require=("patient_id",), **options)
    # the clinical row's reason first, as a PatientRecord's (io.PatientRecord.reason)
    return _score(bundle, markers, clinical, _flagged((clinical, markers), problems), allow_imputed)


def _score(bundle, markers: pd.DataFrame, clin: pd.DataFrame | None, problems: dict[str, str],
           allow_imputed: bool = False) -> pd.DataFrame:
    """:func:`_score_columns` on canonical frames, as the typed frame of :data:`SCORE_COLUMNS`."""
    return _frame(_score_columns(bundle, PatientBatch.from_frames(markers, clin), problems, allow_imputed))


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


def _learned_unknown(bundle, name: str, ids) -> np.ndarray:
    """Per patient, whether the model that scores it learned the categorical predictor
    ``name`` unknown (``ModelBundle.learned_unknown``; per row for the landmark models of a
    trajectory): then an unknown value is no imputation. A model that cannot tell: False."""
    rows = getattr(bundle, "learned_unknown_rows", None)
    if rows is not None:
        return np.asarray(rows(name, ids), dtype=bool)
    learned = getattr(bundle, "learned_unknown", None)
    return np.full(len(ids), bool(learned is not None and learned(name)))


#: The codes the clinical reader gives each categorical predictor: a model that learned them
#: all meets no level it never saw.
_READABLE_CODES = {"figo_stage": FIGO_STAGES, "recurrence_pattern": RECURRENCE_PATTERNS, "recist": RECIST_CATEGORIES}


def _unseen(bundle, name: str, values: np.ndarray, ids) -> np.ndarray:
    """Per patient, whether its value of the categorical predictor ``name`` is known but not a
    level the model that scores it learned (``ModelBundle.learned_levels``; per row for the
    landmark models of a trajectory). A model that cannot tell: False; nor one that learned
    the predictor unknown throughout (``{"missing"}``: trained without it, it does not use it)."""
    readable = set(_READABLE_CODES[name])
    rows = getattr(bundle, "learned_levels_rows", None)
    if rows is not None:
        levels, which = rows(name, ids)
    else:
        learned = getattr(bundle, "learned_levels", None)
        levels, which = [learned(name) if learned is not None else None], np.zeros(len(values), dtype=np.intp)
    out = np.zeros(len(values), dtype=bool)
    checked = [k for k, learned_levels in enumerate(levels)        # a model that learned every code
               if learned_levels is not None and not readable <= learned_levels   # the readers give: none
               and learned_levels - {"missing"}]
    if not checked:
        return out
    values = np.asarray(values, dtype=object)
    known = ~pd.isna(values)
    for k in checked:
        learned_levels = levels[k]
        at = np.flatnonzero((which == k) & known)
        out[at] = ~pd.Series(values[at], dtype=object).isin(sorted(learned_levels - {"missing"})).to_numpy()
    return out


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
            columns: dict[str, str] | None = None, date_format: str | None = None, decimal: str = ".",
            thousands: str | None = None) -> Prediction:
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
        Decide even when clinical predictors are unknown, or the kinetics have no CA-125
        after the first dose (rule 5 of the *Decision rule*). By default the decision is
        withheld (status ``insufficient``, decision ``insufficient_information``) and the
        probability, computed with the unknown inputs imputed, is shown for information.
    columns : dict, optional
        Renaming of input column (or clinical key) names to data-contract names.
    date_format, decimal, thousands : optional
        How dates and numbers given as text are written, as in :func:`~ca125kinetics.io.read_markers`
        (default: ISO ``YYYY-MM-DD`` dates and ``.`` decimals, no thousands separator; other
        writings are refused, never guessed).

    Returns
    -------
    Prediction
        Frozen result: probability with interval, kinetics, GCIG response and progression,
        published scores, decision and recommendation, warnings, model and settings.

    Raises
    ------
    InvalidInputError
        The input holds more than one patient, or cannot be read (a list, set, dict or array
        in a cell; a column written twice in different spellings, ``ECOG`` beside ``ecog``;
        clinical factors given on the markers and in ``clinical`` as well). Invalid values of
        one patient are reported in the result (``status="invalid_input"``) rather than
        raised, as in :func:`predict_cohort`.
    ModelNotFoundError, ModelIntegrityError
        See :func:`load_model`.
    """
    bundle = load_model(model)
    _require_default_task(bundle, "predict")
    record, problems = _record(markers, clinical, bundle.gcig_settings, columns,
                               date_format=date_format, decimal=decimal, thousands=thousands)
    rows = _score_patients(bundle, [record], problems, allow_imputed, names=_PREDICT_NAMES)
    later = DeferredTrajectories(bundle, [record], problems, rows, allow_imputed=allow_imputed, score=_score_patients,
                                 kinetics_step=_kinetics_step)
    return _prediction_from_row(rows[0], record.samples(), bundle, partial(later.get, 0))


def _require_default_task(bundle, name: str) -> None:
    """:func:`predict` and :func:`predict_many` build Predictions of the complete-resection task
    (GCIG rules, decision rule, trajectory): a model of another task is refused, naming what
    scores it (:func:`score_frame`)."""
    from ..task import require_default_task

    require_default_task(bundle, f"{name} gives the Prediction (GCIG rules, decision rule, trajectory) of")


def _pairs(items) -> list[tuple]:
    """The ``(markers, clinical)`` items of :func:`predict_many`, or a typed error naming the
    item: a mapping or a bare markers input would be unpacked into its keys, read as paths."""
    if isinstance(items, (str, bytes, Mapping, pd.DataFrame)) or not isinstance(items, Iterable):
        raise InvalidInputError(f"predict_many takes a sequence of (markers, clinical) pairs, got "
                                f"{type(items).__name__}; to score one patient, use predict(markers, clinical)")
    pairs = list(items)
    for i, item in enumerate(pairs):
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            got = f"a {type(item).__name__}" + (f" of {len(item)}" if isinstance(item, (tuple, list)) else "")
            raise InvalidInputError(f"predict_many item {i} must be a (markers, clinical) pair (clinical may be "
                                    f"None), got {got}")
    return pairs


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
        ``items`` is not a sequence of ``(markers, clinical)`` pairs (a tuple or list of two;
        a mapping is refused, not unpacked into its keys), an item is not one patient, or two
        items share a patient identifier.
    """
    bundle = load_model(model)
    _require_default_task(bundle, "predict_many")
    records, problems = [], {}
    for m, c in _pairs(items):
        record, found = _record(m, c, bundle.gcig_settings)
        records.append(record)
        problems.update(found)
    if len({r.patient_id for r in records}) != len(records):
        raise InvalidInputError("predict_many needs a different patient_id for every item", column="patient_id")
    if not records:
        return []
    rows = _score_patients(bundle, records, problems, allow_imputed, names=_PREDICT_NAMES)
    later = DeferredTrajectories(bundle, records, problems, rows, allow_imputed=allow_imputed, score=_score_patients,
                                 kinetics_step=_kinetics_step)
    return [_prediction_from_row(row, record.samples(), bundle, partial(later.get, i))
            for i, (row, record) in enumerate(zip(rows, records))]


def predict_cohort(markers, clinical=None, model=None, *, allow_imputed: bool = False,
                   columns: dict[str, str] | None = None, date_format: str | None = None, decimal: str = ".",
                   thousands: str | None = None) -> pd.DataFrame:
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
    allow_imputed, columns, date_format, decimal, thousands
        As in :func:`score_frame`.

    Returns
    -------
    pandas.DataFrame
        As :func:`score_frame`; bad patients get ``status="invalid_input"`` and a reason.
    """
    return score_frame(load_model(model), markers, clinical, allow_imputed=allow_imputed, columns=columns,
                       date_format=date_format, decimal=decimal, thousands=thousands)
