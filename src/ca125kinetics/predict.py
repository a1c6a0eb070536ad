"""Score patients with a trained model, with the GCIG CA-125 rules applied.

Seventh step of the pipeline (read and validate -> GCIG rules -> kinetics -> features and
scores -> models -> tracking -> **predict** -> validation -> command line and web).

One code path. Every public scoring function ends in :func:`_score_patients`, which scores
validated patients (:class:`_Patient`): :func:`score_frame` and :func:`predict_cohort` (many
patients, a DataFrame), :func:`predict` and :func:`predict_many` (one patient each, a frozen
:class:`Prediction`), the MLflow pyfunc model (``ca125kinetics.bundle.Ca125PyfuncModel.predict``),
``mlflow models serve``, the ``ca125 score`` command and the web API (``ca125 serve``); so they
return the same numbers for the same input. Input reaches it in one of two ways: through the
package readers (``io.read_markers``/``io.read_clinical`` with ``on_error="flag"``), or, for
one patient given as plain values (the usual ``predict`` call), through a fast reader
(:func:`_fast_patient`) that accepts only input it can prove valid under the same rules and
hands everything else to the package readers; a test checks that both give the same
patient. A patient's result does not depend on the other patients scored with it (the
kinetics fit stops each patient where it converged), so scoring a patient alone, in a
cohort or in a batch of web requests gives the same numbers (to the last bits; a cohort of
20,000 patients or more is fitted by the compiled kinetics engine, which agrees with the
numpy engine of smaller batches within the fit tolerance).

Output of :func:`score_frame` (:data:`SCORE_COLUMNS`, one row per patient, sorted by
``patient_id``)
---------------------------------------------------------------------------------------
========================= ================================================================
column                    meaning
========================= ================================================================
patient_id                identifier (str)
status                    ``"ok"`` (scored), ``"insufficient"`` (scored, but clinical
                          predictors the model needs are missing, so the decision is
                          withheld; ``reason`` names them), ``"invalid_input"`` (the
                          patient's data break the data contract; ``reason`` says where) or
                          ``"not_scored"`` (valid data, but the model cannot score the patient)
reason                    None when ``status == "ok"``, else why not
probability               predicted probability of complete resection at secondary
                          cytoreduction (NaN when not scored; with ``status ==
                          "insufficient"`` computed with the missing predictors imputed)
p_low, p_high             interval of the probability (the bundle's method; see
                          ``bundle.ModelBundle.predict_proba``)
threshold                 the model's decision threshold on the probability
decision                  which branch of the decision rule fired (:data:`DECISIONS`)
rule                      that rule, in words
recommendation            plain-language recommendation (see *Decision rule* below)
k, half_life_days,        KELIM-like elimination rate (per day), ``ln 2 / k`` and the
kelim_score               standardized score ``k / k_ref`` from the model's fitted kinetics
                          step (population empirical-Bayes estimate)
c0, floor                 fitted CA-125 at day 0 and floor B of ``C(t) = B + (C0 - B) e^{-kt}``
                          (U/mL); the fitted curve (:func:`curve_points`) is drawn from them
kinetics_n_samples        samples used by the kinetics fit
kinetics_status,          status and reason of the kinetics fit
kinetics_reason
gcig_*                    GCIG CA-125 response (Rustin 2011): ``gcig_evaluable``,
                          ``gcig_responded``, ``gcig_category`` (CR/PR), ``gcig_status``,
                          ``gcig_reason``, ``gcig_uln``, ``gcig_baseline_day``,
                          ``gcig_baseline_value``, ``gcig_response_day``,
                          ``gcig_confirmation_day``
progressed,               GCIG CA-125 progression: flag, group (A/B/C), day (the first of
progression_group,        the two qualifying samples), status and reason
progression_day,
progression_status,
progression_reason
recist, combined_category RECIST 1.1 category given, and the combined RECIST + CA-125
                          category (Rustin 2011) when RECIST is given
ago_*, imodel_*, mskcc_*  published selection scores (``scores.published_scores``): AGO,
                          iMODEL, MSKCC with status and reason each
warnings                  ``"; "``-joined per-patient warnings (empty string if none)
model_name,               the model used
model_version,
model_family,
trained_on_synthetic
settings_json             JSON of the rule settings the prediction used: GCIG settings,
                          kinetics settings and the threshold
========================= ================================================================

Decision rule (**Decision**, documented here and in the ``rule`` column)
-------------------------------------------------------------------------
Applied in this order; the first that applies fires:

1. ``invalid_input`` / ``not_scored``: no recommendation, the reason is given.
2. ``not_candidate_progression``: GCIG CA-125 progression during the neoadjuvant cycles ->
   not a candidate for secondary cytoreduction.
3. ``not_candidate_recist_pd``: RECIST progressive disease -> not a candidate (the combined
   RECIST + CA-125 category is PD, Rustin 2011).
4. ``not_eligible_no_response``: neither RECIST CR/PR/SD nor a confirmed GCIG CA-125
   response (the RESCUE trial, NCT07295132, admits patients with RECIST CR/PR/SD **or** a
   GCIG CA-125 response); the probability is reported for information only.
5. ``insufficient_information``: response, but clinical predictors the model needs
   (:data:`REQUIRED_PREDICTORS`) are unknown: the probability (computed with them imputed)
   is shown for information only and the decision is withheld -- "insufficient
   information: give ecog, ascites_ml, ..." -- with status ``insufficient``, unless the
   caller opts in with ``allow_imputed=True`` (``ca125 score --allow-imputed``, REST field
   ``allow_imputed``); then rules 6-7 decide and say which factors were imputed.
6. ``resectable``: response (GCIG or RECIST CR/PR/SD) and ``probability >= threshold`` ->
   "predicted completely resectable".
7. ``not_resectable``: response and ``probability < threshold`` -> "predicted not
   completely resectable".

Every recommendation ends with "Research software, not a medical device." and, when the
model was trained on synthetic data, "Model trained on synthetic data."

Per-patient warnings (never Python warnings): fewer than ``min_samples`` CA-125 values in
the kinetics window, values beyond the kinetics window (day 100), pretreatment value below
2 x ULN or absent (GCIG not evaluable), censored values, samples excluded by GCIG rules,
unknown clinical predictors, and inputs outside the range seen in training
(``ModelBundle.feature_ranges``).
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from .errors import InvalidInputError, ModelIntegrityError, ModelNotFoundError

__all__ = [
    "predict",
    "predict_cohort",
    "predict_many",
    "score_frame",
    "load_model",
    "clear_model_cache",
    "curve_points",
    "Prediction",
    "SCORE_COLUMNS",
    "DECISIONS",
    "DISCLAIMER",
    "SYNTHETIC_NOTE",
    "REQUIRED_PREDICTORS",
    "default_model_dir",
    "add_score_arguments",
    "cli_score",
]

#: Values of the ``decision`` column, in the order the rules are tried.
DECISIONS = (
    "invalid_input",
    "not_scored",
    "not_candidate_progression",
    "not_candidate_recist_pd",
    "not_eligible_no_response",
    "insufficient_information",
    "resectable",
    "not_resectable",
)

DISCLAIMER = "Research software, not a medical device."
SYNTHETIC_NOTE = "Model trained on synthetic data."

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

#: Clinical predictor columns (data contract) that may be repeated on every markers row of a
#: pyfunc input; ``treatment_start`` is needed when the markers carry dates.
_CLINICAL_INPUT_COLUMNS = (
    "age", "ecog", "ascites_ml", "figo_stage", "primary_residual_disease", "pfi_months",
    "recurrence_pattern", "recist", "treatment_start",
)
_CLINICAL_PREDICTORS = (
    "age", "ecog", "ascites_ml", "figo_stage", "primary_residual_disease", "pfi_months",
    "recurrence_pattern",
)
_RESPONSE_RECIST = ("CR", "PR", "SD")
#: Clinical predictors the model needs for a decision: when one is unknown the model imputes
#: it, and the decision is withheld unless the caller allows imputed values (``allow_imputed``).
REQUIRED_PREDICTORS = _CLINICAL_PREDICTORS


# --------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prediction:
    """Score of one patient (see :func:`predict`); one row of :func:`score_frame`.

    Attributes
    ----------
    patient_id, status, reason : str, str, str or None
        As in :data:`SCORE_COLUMNS`. ``status`` is ``"ok"``, ``"insufficient"`` (decision
        withheld: clinical predictors missing), ``"invalid_input"`` or ``"not_scored"``.
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
        Published scores whose inputs are present enough to decide them (status ``ok`` or
        ``ok_with_missing``): keys among ``ago_positive``, ``imodel_points``,
        ``imodel_low_risk``, ``mskcc_recommendation``, each with ``*_status`` and ``*_reason``.
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
    trajectory : ca125kinetics.landmarks.Trajectory or None
        The decision after every landmark reached (day 35, after cycles 2, 3, 4): each
        landmark model's probability and interval on the series truncated at the landmark,
        then the full series, and whether the decision has been stable
        (:mod:`ca125kinetics.landmarks`). Its ``status`` says why it is empty (a model
        without landmark models, no landmark reached, not scored). Computed on first access
        (a property; for the results of one :func:`predict_many` call, all at once): it costs
        a scoring pass of the truncated series, which a caller who only needs the
        probability does not pay.
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
        """See the class docstring (computed on first access, then kept)."""
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
            return _typed(pd.DataFrame([self._row], columns=list(SCORE_COLUMNS)))
        raise InvalidInputError("this Prediction was not built by the scoring code and has no frame form")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN -> None, tuples -> lists); the web API returns it."""
        out = {
            "patient_id": self.patient_id, "status": self.status, "reason": self.reason,
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
        return _jsonable(out)

    def to_text(self) -> str:
        """A short report readable by a clinician (what ``ca125 score`` prints)."""
        return _format_text(self)


def _jsonable(value):
    """Recursively turn NaN/NA into None and numpy scalars into Python scalars."""
    kind = type(value)
    if value is None or kind is str or kind is int or kind is bool:   # the common cases, first
        return value
    if kind is float:
        return None if value != value else value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if _is_missing(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


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


def _clean(value):
    """A scalar cell as a plain Python value (None for any missing marker)."""
    if _is_missing(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


# --------------------------------------------------------------------------------------
# Loading models
# --------------------------------------------------------------------------------------

_CACHE: dict[str, tuple[Any, Any]] = {}
_CACHE_LOCK = threading.Lock()
_URI_SCHEMES = ("models:/", "runs:/", "mlflow-artifacts:/", "s3://", "gs://", "wasbs://", "hdfs://",
                "dbfs:/", "http://", "https://")


def default_model_dir() -> Path:
    """Directory of the default model: ``$CA125_MODEL_DIR`` if set, else ``models/default``
    at the repository root (next to ``src/``)."""
    env = os.environ.get("CA125_MODEL_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "models" / "default"


def clear_model_cache() -> None:
    """Forget every loaded model (the next :func:`load_model` verifies and loads again)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def _is_bundle(obj) -> bool:
    from ._compiled import ScoringModel

    return isinstance(obj, ScoringModel) or all(
        hasattr(obj, a) for a in ("pipeline", "predict_proba", "kinetics_features", "threshold"))


def load_model(model=None, *, scoring_only: bool = False):
    """Resolve, verify and load a trained model (a ``ModelBundle``), with caching.

    Parameters
    ----------
    model : None, str, Path or ModelBundle
        * None: the default model, ``default_model_dir()`` (``models/default`` at the
          repository root; the environment variable ``CA125_MODEL_DIR`` overrides it).
        * An exported model directory (``bundle.export_model``): its ``MANIFEST.sha256`` is
          verified before anything is unpickled.
        * A directory holding ``bundle.joblib`` and ``MANIFEST.sha256`` (``save_bundle``), or
          the path of such a ``bundle.joblib``: the manifest of its directory is verified.
        * An MLflow model URI (``models:/name@champion``, ``models:/name/3``, ``runs:/<id>/model``,
          ...): mlflow is imported only then; the artifacts are downloaded and their manifest
          verified before loading.
        * A ``ModelBundle`` object: returned as is.
    scoring_only : bool
        For a local model whose bundle directory holds ``scorer.json``, return a
        ``_compiled.ScoringModel`` read from it (after the same manifest check): the same
        scores, no unpickling and no scikit-learn import, so a command that only scores
        starts fast (``ca125 score`` uses it). It has no ``pipeline``.

    Returns
    -------
    ModelBundle (or ScoringModel)

    Raises
    ------
    ModelNotFoundError
        Nothing at that path or URI.
    ModelIntegrityError
        The manifest is missing, or a file changed, is missing or is unknown. joblib/pickle
        runs code on load, so an unverifiable model is never loaded.

    Notes
    -----
    Loaded bundles are cached per resolved location. For a local directory the cache entry is
    reused only while every listed file keeps its size and modification time (otherwise the
    manifest is verified again); an MLflow URI is resolved once per process
    (:func:`clear_model_cache` forgets it, e.g. after moving an alias).
    """
    if model is not None and not isinstance(model, (str, os.PathLike)):
        if _is_bundle(model):
            return model
        raise InvalidInputError(
            f"model must be None, a path, an MLflow model URI or a ModelBundle, got {type(model).__name__}")
    if model is None:
        location = default_model_dir()
        if not location.exists():
            raise ModelNotFoundError(
                f"no default model at {str(location)!r}; train and export one (ca125 train ... "
                "--out models/default), set CA125_MODEL_DIR, or pass model=<directory or MLflow URI>")
        return _load_local(location, scoring_only)
    text = os.fspath(model)
    if isinstance(model, str) and text.startswith(_URI_SCHEMES):
        return _load_uri(text)
    return _load_local(Path(text), scoring_only)


def _bundle_root(path: Path) -> tuple[Path, Path]:
    """(directory whose manifest covers the bundle, path of bundle.joblib) for a local path."""
    if not path.exists():
        raise ModelNotFoundError(
            f"no model at {str(path)!r}; give an exported model directory, a bundle.joblib path "
            "or an MLflow model URI such as models:/ca125-complete-resection@champion")
    if path.is_file():
        # a bundle.joblib: the nearest enclosing directory with a manifest covers it
        for parent in path.resolve().parents:
            if (parent / "MANIFEST.sha256").is_file():
                return parent, path.resolve()
        raise ModelIntegrityError(
            f"{str(path)!r} is not covered by any MANIFEST.sha256 in its directory or above: it "
            "cannot be verified, so it is not loaded (unpickling runs code); re-export the model")
    candidates = [path / "bundle.joblib"] if (path / "bundle.joblib").is_file() else sorted(
        path.rglob("bundle.joblib"))
    if not candidates:
        raise ModelNotFoundError(
            f"no bundle.joblib under {str(path)!r}; give an exported model directory "
            "(ca125 train ... --out DIR)")
    return path.resolve(), candidates[0].resolve()


def _stamp(root: Path) -> tuple:
    """Sizes and modification times of every file under ``root`` (cheap change detection)."""
    out = []
    for p in sorted(root.rglob("*")):
        if p.is_file():
            st = p.stat()
            out.append((p.relative_to(root).as_posix(), st.st_size, st.st_mtime_ns))
    return tuple(out)


def _load_local(path: Path, scoring_only: bool = False):
    from ._compiled import SCORER_FILE
    from .integrity import verify_manifest

    root, bundle_path = _bundle_root(path)
    scorer = bundle_path.parent / SCORER_FILE
    scoring_only = scoring_only and scorer.is_file()
    key = f"{'scorer' if scoring_only else 'file'}:{bundle_path}"
    stamp = _stamp(root)
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
        if cached is not None and cached[1] == stamp:
            return cached[0]
        verify_manifest(root)  # raises ModelIntegrityError before anything is unpickled
        bundle = _read_scorer(scorer) if scoring_only else _unpickle(bundle_path)
        _CACHE[key] = (bundle, stamp)
        return bundle


def _read_scorer(path: Path):
    from ._compiled import ScoringModel

    try:
        return ScoringModel(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelIntegrityError(f"{str(path)!r} is not a readable scoring file ({exc}); re-export the model") \
            from exc


def _unpickle(bundle_path: Path):
    from .bundle import load_bundle_file

    return load_bundle_file(bundle_path)


def _load_uri(uri: str):
    from .integrity import verify_manifest

    key = f"uri:{uri}"
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            return cached[0]
        try:
            import mlflow.artifacts
        except ImportError as exc:  # pragma: no cover - mlflow is a dependency
            raise ModelNotFoundError(f"cannot resolve {uri!r}: mlflow is not installed") from exc
        try:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri))
        except Exception as exc:  # mlflow raises its own exception types
            raise ModelNotFoundError(
                f"could not resolve the MLflow model URI {uri!r} ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''}); check the name/alias/version and "
                "MLFLOW_TRACKING_URI") from exc
        root = local if local.is_dir() else local.parent
        manifests = sorted(root.rglob("MANIFEST.sha256"))
        if not manifests:
            raise ModelIntegrityError(
                f"the MLflow model {uri!r} carries no MANIFEST.sha256: it cannot be verified, so it "
                "is not loaded (unpickling runs code); log it with ca125kinetics (ca125 train)")
        bundles = sorted(root.rglob("bundle.joblib"))
        if not bundles:
            raise ModelNotFoundError(f"the MLflow model {uri!r} holds no bundle.joblib")
        for manifest in manifests:
            verify_manifest(manifest.parent)
        covered = [b for b in bundles if any(m.parent in b.parents for m in manifests)]
        if not covered:
            raise ModelIntegrityError(
                f"the bundle of the MLflow model {uri!r} is not covered by its MANIFEST.sha256")
        bundle = _unpickle(covered[0])
        _CACHE[key] = (bundle, None)
        return bundle


# --------------------------------------------------------------------------------------
# Input normalisation
# --------------------------------------------------------------------------------------


def _split_input(frame: pd.DataFrame, clinical, columns=None):
    """Split a pyfunc-style frame (markers rows with clinical columns repeated) in two.

    Returns (markers, clinical, problems) where ``problems`` maps patient_id to a reason when
    the repeated clinical values differ within a patient.
    """
    problems: dict[str, str] = {}
    repeated = [c for c in (_CLINICAL_INPUT_COLUMNS if columns is None else columns) if c in frame.columns]
    if clinical is not None or not repeated or "patient_id" not in frame.columns:
        return frame, clinical, problems
    markers = frame.drop(columns=repeated)
    pid = frame["patient_id"].map(lambda v: None if _is_missing(v) else str(v).strip())
    rows = []
    for patient, idx in frame.groupby(pid, sort=True, dropna=False).groups.items():
        row = {"patient_id": patient}
        for column in repeated:
            values = frame.loc[idx, column]
            present = [v for v in values.tolist() if not _is_missing(v) and not (isinstance(v, str) and not v.strip())]
            distinct = {str(v).strip() for v in present}
            if len(distinct) > 1:
                problems[str(patient)] = (
                    f"invalid input: column {column!r} differs between rows of the patient "
                    f"({sorted(distinct)[:3]}); clinical values must be constant within a patient")
            row[column] = present[0] if present else None
        rows.append(row)
    clin = pd.DataFrame(rows, columns=["patient_id", *repeated])
    return markers, clin, problems


def _censored_as_text(frame: pd.DataFrame, value: str = "ca125") -> pd.DataFrame:
    """Canonical frames carry ``censored`` beside a numeric ``ca125``; the reader reads the
    ``"<x"`` text form, so write censored values back as ``"<x"`` (exact ``repr`` of x)
    before validation (otherwise re-reading a canonical frame would drop the flag)."""
    if "censored" not in frame.columns or value not in frame.columns:
        return frame
    flag = frame["censored"].map(lambda v: v is True or (isinstance(v, (np.bool_, int, float)) and not _is_missing(v) and bool(v)))
    flag = flag.to_numpy(dtype=bool)
    if not flag.any():
        return frame.drop(columns="censored")
    values = frame[value].astype(object).to_numpy().copy()
    for i in np.flatnonzero(flag):
        v = values[i]
        if isinstance(v, (int, float, np.integer, np.floating)) and not _is_missing(v):
            values[i] = f"<{float(v)!r}"
        elif isinstance(v, str) and _DECIMAL_RE.match(v.strip()):   # a number written as text
            values[i] = f"<{float(v.strip())!r}"
    return frame.drop(columns="censored").assign(**{value: values})


def _read_inputs(frame, clinical, gcig_settings, columns=None):
    """Canonical (markers, clinical) frames through the package readers (flagging bad patients).

    ``columns`` maps column names of either table to data-contract names (``io.read_markers``).
    """
    from .io import MARKERS_KNOWN, _check_header, _resolve_columns, read_clinical, read_markers

    if not isinstance(frame, (pd.DataFrame, str, os.PathLike)):
        raise InvalidInputError(
            f"markers must be a DataFrame or a path to a .csv/.parquet file, got {type(frame).__name__}")
    problems: dict[str, str] = {}
    if isinstance(frame, pd.DataFrame):
        # the clinical columns repeated on markers rows are split off by name: resolve the
        # names first, so that 'ECOG' is mapped or refused rather than left on the markers
        _check_header(frame.columns, "markers DataFrame")
        frame = _resolve_columns(frame.rename(columns=lambda c: str(c).strip()), MARKERS_KNOWN, columns,
                                 "markers DataFrame")
        frame, clinical, problems = _split_input(frame, clinical)
        # a canonical frame read with on_error="flag" keeps its reasons (re-reading its
        # placeholder rows would only say "CA-125 value is empty")
        for table in (frame, clinical):
            if isinstance(table, pd.DataFrame) and {"patient_id", "problem"} <= set(table.columns):
                flagged = table.loc[table["problem"].notna(), ["patient_id", "problem"]]
                for patient, problem in flagged.itertuples(index=False):
                    problems.setdefault(str(patient), str(problem))
        frame = _censored_as_text(frame)
    clin = None
    if clinical is not None:
        clin = read_clinical(clinical, on_error="flag", require=("patient_id",), columns=columns)
    uln = float(gcig_settings.uln) if gcig_settings is not None else 35.0
    markers = read_markers(frame, clinical=clin, uln=uln, on_error="flag",
                           duplicates=getattr(gcig_settings, "duplicates", "error"), columns=columns)
    if clin is not None:
        for patient, problem in zip(clin["patient_id"], clin["problem"]):
            if not _is_missing(problem):
                problems.setdefault(str(patient), str(problem))
    for patient, problem in markers.loc[markers["problem"].notna(), ["patient_id", "problem"]].itertuples(index=False):
        problems.setdefault(str(patient), str(problem))
    return markers, clin, problems


# --------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------


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
    from .task import bundle_task

    task = bundle_task(bundle)
    if not task.is_default:
        return _score_task(bundle, task, frame, clinical)
    gs = bundle.gcig_settings
    markers, clin, problems = _read_inputs(frame, clinical, gs, columns)
    return _score(bundle, markers, clin, problems, allow_imputed)


#: Columns of :func:`score_frame` for a model of a task other than the default
#: (:mod:`ca125kinetics.task`): no GCIG rule or ovarian score applies.
TASK_SCORE_COLUMNS = ("patient_id", "status", "reason", "probability", "p_low", "p_high", "threshold",
                      "decision", "task", "outcome", "marker", "model_name", "model_version", "model_family",
                      "trained_on_synthetic")


def _score_task(bundle, task, frame, clinical) -> pd.DataFrame:
    """Score a model of another task: the same readers, patient frame and bundle as training.

    One row per patient (sorted), columns :data:`TASK_SCORE_COLUMNS`; ``decision`` is
    ``probability >= threshold``; a patient whose input is invalid gets ``invalid_input``
    and the reason, with no probability.
    """
    from .features import build_patient_frame
    from .io import read_clinical, read_markers

    if not isinstance(frame, (pd.DataFrame, str, os.PathLike)):
        raise InvalidInputError(
            f"markers must be a DataFrame or a path to a .csv/.parquet file, got {type(frame).__name__}")
    problems: dict[str, str] = {}
    if isinstance(frame, pd.DataFrame):
        frame, clinical, problems = _split_input(frame, clinical, task.predictors)
        frame = _censored_as_text(frame, task.marker)
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


@dataclass
class _Patient:
    """One patient's validated input: canonical markers rows and clinical values.

    The markers lists are the patient's rows of the canonical markers frame
    (``io.read_markers``), in its order (by day); ``ca125`` is NaN on event-only rows and
    ``row_problem`` holds the frame's ``problem`` column. ``clinical`` maps the clinical
    predictors (:data:`features.CLINICAL_PREDICTORS`) to canonical values (None when
    unknown), or is None when the patient has no clinical row.
    """

    patient_id: str
    day: list = field(default_factory=list)
    ca125: list = field(default_factory=list)
    censored: list = field(default_factory=list)
    uln: list = field(default_factory=list)
    assay: list = field(default_factory=list)
    event: list = field(default_factory=list)
    row_problem: list = field(default_factory=list)
    clinical: dict | None = None

    def samples(self) -> tuple:
        """``(day, ca125, censored, event)`` of every row (empty for a flagged patient)."""
        if any(not _is_missing(p) for p in self.row_problem):
            return ()
        return tuple((int(d), _clean(v), bool(c), _clean(e))
                     for d, v, c, e in zip(self.day, self.ca125, self.censored, self.event))


def _patients_from_frames(markers: pd.DataFrame, clin: pd.DataFrame | None) -> list[_Patient]:
    """The patients of canonical markers and clinical frames, sorted by ``patient_id``
    (every patient of either frame, as ``features.build_patient_frame`` does)."""
    from .features import CLINICAL_PREDICTORS

    n = len(markers)
    pid = markers["patient_id"].astype(str).tolist()

    def column(name, default):
        return markers[name].tolist() if name in markers.columns else [default] * n

    cols = (markers["day"].tolist(), markers["ca125"].astype(float).tolist(), column("censored", False),
            column("uln", None), column("assay", None), column("event", None), column("problem", None))
    patients: dict[str, _Patient] = {}
    for i, patient in enumerate(pid):
        rec = patients.get(patient)
        if rec is None:
            rec = patients[patient] = _Patient(patient)
        for target, values in zip((rec.day, rec.ca125, rec.censored, rec.uln, rec.assay, rec.event,
                                   rec.row_problem), cols):
            target.append(values[i])
    if clin is not None:
        present = [c for c in CLINICAL_PREDICTORS if c in clin.columns]
        values = {c: clin[c].tolist() for c in present}
        for j, patient in enumerate(clin["patient_id"].astype(str).tolist()):
            rec = patients.get(patient)
            if rec is None:
                rec = patients[patient] = _Patient(patient)
            rec.clinical = {c: (_clean(values[c][j]) if c in values else None) for c in CLINICAL_PREDICTORS}
    return [patients[k] for k in sorted(patients)]


def _kinetics_of(bundle, patients: list[_Patient], problems: Mapping[str, str]):
    """Kinetics of the patients with markers under the model's fitted kinetics step.

    Returns ``(index, d, status_text, reasons, features, problem)``: ``index`` maps a patient
    position to its column in the arrays; ``d`` the estimates of
    ``kinetics._score``; ``features`` the ``kinetics.FEATURE_NAMES`` block; ``problem``
    per column the reason the kinetics step found the input invalid (None if valid).
    Patients with a known problem are not fitted (status ``invalid_input``).
    """
    from . import kinetics as K

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
        for e, problem in zip(p.event, p.row_problem):
            if not _is_missing(e):
                ev_rows.append(row)
                ev_kind.append(str(e))
            text = known if known is not None else (None if _is_missing(problem) else str(problem))
            if text is not None:
                pr_rows.append(row)
                pr_text.append(text)
            row += 1
    ids = np.array([p.patient_id for p in chosen], dtype=object)
    r = K._classify_rows(ids, codes, True, day, value, cens, uln, np.asarray(ev_rows, dtype=np.int64),
                         np.asarray(ev_kind, dtype=object), np.asarray(pr_rows, dtype=np.int64),
                         np.asarray(pr_text, dtype=object), s)
    batch = K._batch_from_rows(r)
    method = step.method if step is not None else "population"
    population = getattr(step, "population_", None) if method == "population" else None
    d = K._score(batch, method, population, s)
    status = np.asarray(K.STATUSES, dtype=object)[d["status"]]
    reasons = K._reasons(d["status"], d, batch, s, method)
    return index, d, status, reasons, K._features(d), batch.problem


def _score_patients(bundle, patients: list[_Patient], problems: Mapping[str, str],
                    allow_imputed: bool = False) -> list[dict]:
    """Score validated patients: the one code path behind every public scoring function.

    ``allow_imputed``: decide even when clinical predictors are unknown (imputed by the
    model); otherwise such a patient's decision is withheld (status ``insufficient``).

    ``problems`` maps a patient to why its input is invalid (the readers' reasons); the
    kinetics step may add one (a value it cannot log-transform). The combined RECIST +
    CA-125 category is reported for patients with a RECIST value.
    """
    from . import kinetics as K
    from .features import ca125_at_recurrence
    from .gcig import _with_combined, no_markers_values, patient_gcig
    from .scores import published_scores_arrays

    gs = bundle.gcig_settings
    n = len(patients)
    problems = dict(problems)

    # --- GCIG response and progression (per patient)
    cache: dict = {}
    gcig = []
    for p in patients:
        recist = (p.clinical or {}).get("recist")
        if p.day:
            values, res, prog = patient_gcig(p.patient_id, p.day, p.ca125, p.censored, p.uln, p.assay, p.event,
                                             p.row_problem, gs, cache)
            if res is not None:
                values = _with_combined(values, recist, res, prog)
        else:
            values = _with_combined(no_markers_values(), recist)
        gcig.append(values)

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
            row.update(status="insufficient", reason=_insufficient_reason(missing))
        frame_row = {c: clinical[i].get(c) for c in _CLINICAL_PREDICTORS}
        frame_row["ca125_at_recurrence"] = _clean(ca125_rec[i])
        row["warnings"] = "; ".join(_warnings(row, frame_row, patient.samples(), bundle, ranges))
        row.update(model_info)
        rows.append(row)
    return rows


def _score(bundle, markers: pd.DataFrame, clin: pd.DataFrame | None, problems: dict[str, str],
           allow_imputed: bool = False) -> pd.DataFrame:
    """:func:`_score_patients` on canonical frames, as the typed frame of :data:`SCORE_COLUMNS`."""
    rows = _score_patients(bundle, _patients_from_frames(markers, clin), problems, allow_imputed)
    return _typed(pd.DataFrame(rows, columns=list(SCORE_COLUMNS)))


def _kinetics_step(bundle):
    """The fitted ``KineticsFeatures`` step of the bundle's pipeline (None if it has none)."""
    if getattr(bundle, "kinetics_step", None) is not None:     # a ScoringModel
        return bundle.kinetics_step
    from .kinetics import KineticsFeatures

    steps = getattr(getattr(bundle, "pipeline", None), "steps", None) or []
    for _, step in steps:
        if isinstance(step, KineticsFeatures):
            return step
    return None


def _typed(out: pd.DataFrame) -> pd.DataFrame:
    """Fixed dtypes of the score frame, whatever the mix of scored and unscored patients."""
    floats = ("probability", "p_low", "p_high", "threshold", "k", "half_life_days", "kelim_score", "c0",
              "floor", "gcig_uln", "gcig_baseline_value", "imodel_points")
    for c in floats:
        out[c] = pd.to_numeric(out[c], errors="coerce").astype("float64")
    for c in ("kinetics_n_samples", "gcig_baseline_day", "gcig_response_day", "gcig_confirmation_day",
              "progression_day"):
        out[c] = pd.array([None if _is_missing(v) else int(v) for v in out[c]], dtype="Int64")
    for c in ("gcig_evaluable", "gcig_responded", "progressed", "ago_positive", "imodel_low_risk"):
        out[c] = pd.array([None if _is_missing(v) else bool(v) for v in out[c]], dtype="boolean")
    out["trained_on_synthetic"] = out["trained_on_synthetic"].astype(bool)
    out["patient_id"] = out["patient_id"].astype(object)
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


# --------------------------------------------------------------------------------------
# Decision rule and warnings
# --------------------------------------------------------------------------------------


def _fmt_p(p: float) -> str:
    return f"{p:.2f}"


def _insufficient_reason(missing: Sequence[str]) -> str:
    return (f"insufficient information: give {', '.join(missing)}; the probability shown was computed "
            "with them imputed, so no decision is made (allow_imputed=True, ca125 score "
            "--allow-imputed or the API field allow_imputed decides on it anyway)")


def _decide(row: Mapping[str, Any], threshold: float, synthetic: bool, *, missing: Sequence[str] = (),
            allow_imputed: bool = False) -> tuple[str, str, str]:
    """(decision, rule, recommendation) for one scored row (module docstring, Decision rule).

    ``missing``: the :data:`REQUIRED_PREDICTORS` that are unknown (imputed by the model).
    """
    tail = DISCLAIMER + (" " + SYNTHETIC_NOTE if synthetic else "")
    status = row["status"]
    if status == "invalid_input":
        return ("invalid_input", "input breaks the data contract",
                f"Not scored: {row['reason']}. {tail}")
    if status == "not_scored":
        return ("not_scored", "the model could not score the patient",
                f"No prediction: {row['reason']}. {tail}")
    p = float(row["probability"])
    recist = row.get("recist")
    if row.get("progressed"):
        day = row.get("progression_day")
        group = row.get("progression_group")
        text = (f"Not a candidate for secondary cytoreduction: GCIG CA-125 progression"
                f"{f' (group {group})' if group else ''}{f' on day {day}' if day is not None else ''}. "
                f"Predicted probability {_fmt_p(p)} shown for information only. {tail}")
        return "not_candidate_progression", "GCIG CA-125 progression -> not a candidate", text
    if recist == "PD":
        text = (f"Not a candidate for secondary cytoreduction: RECIST progressive disease "
                f"(combined RECIST + CA-125 category PD). Predicted probability {_fmt_p(p)} shown for "
                f"information only. {tail}")
        return "not_candidate_recist_pd", "RECIST PD -> not a candidate", text
    gcig_response = bool(row.get("gcig_responded"))
    if gcig_response:
        basis = (f"GCIG CA-125 response ({row.get('gcig_category')}) confirmed on day "
                 f"{row.get('gcig_confirmation_day')} (fall on day {row.get('gcig_response_day')})")
    elif recist in _RESPONSE_RECIST:
        basis = f"RECIST {recist} (no confirmed GCIG CA-125 response: {row.get('gcig_reason')})"
    else:
        why = row.get("gcig_reason") or "GCIG response not assessed"
        text = (f"Not eligible by the RESCUE entry criteria: no RECIST CR/PR/SD recorded and no "
                f"confirmed GCIG CA-125 response ({why}). Predicted probability {_fmt_p(p)} "
                f"(threshold {_fmt_p(threshold)}) shown for information only. {tail}")
        return ("not_eligible_no_response",
                "no RECIST CR/PR/SD and no GCIG CA-125 response -> not eligible (RESCUE)", text)
    if missing and not allow_imputed:
        text = (f"Insufficient information: give {', '.join(missing)}. {basis[0].upper() + basis[1:]}; the "
                f"predicted probability {_fmt_p(p)} (threshold {_fmt_p(threshold)}) was computed with "
                f"{'this factor' if len(missing) == 1 else 'these factors'} imputed and is shown for "
                f"information only: no decision. {tail}")
        return ("insufficient_information",
                "response, but clinical predictors unknown -> decision withheld (insufficient information)", text)
    if missing:
        basis += f"; computed with {', '.join(missing)} imputed (allowed by the caller)"
    if p >= threshold:
        text = (f"Predicted completely resectable: {basis}; predicted probability {_fmt_p(p)} >= "
                f"threshold {_fmt_p(threshold)}. {tail}")
        return "resectable", "response and probability >= threshold -> predicted completely resectable", text
    text = (f"Predicted not completely resectable: {basis}; predicted probability {_fmt_p(p)} < "
            f"threshold {_fmt_p(threshold)}. {tail}")
    return "not_resectable", "response and probability < threshold -> predicted not completely resectable", text


def _warnings(row: Mapping[str, Any], patient: Mapping[str, Any], samples: tuple, bundle, ranges: Mapping) -> list[str]:
    """Per-patient warnings (strings; never Python warnings)."""
    if row["status"] == "invalid_input":
        return []
    ks, gs = bundle.kinetics_settings, bundle.gcig_settings
    out: list[str] = []
    valued = [(d, v, c) for d, v, c, _ in samples if v is not None]
    window = [s for s in valued if -ks.pretreatment_window_days <= s[0] <= ks.window_days]
    if len(window) < ks.min_samples:
        out.append(f"only {len(window)} CA-125 value(s) between day {-ks.pretreatment_window_days} and "
                   f"day {ks.window_days}; the KELIM-like k needs at least {ks.min_samples} "
                   "(the estimate leans on the population prior)")
    late = [d for d, _, _ in valued if d > ks.window_days]
    if late:
        out.append(f"{len(late)} value(s) beyond day {ks.window_days} (day {', '.join(map(str, late[:5]))}) "
                   "are not used by the kinetics fit")
    uln = row.get("gcig_uln") or gs.uln
    base = row.get("gcig_baseline_value")
    limit = gs.evaluable_factor * uln
    if base is None:
        out.append(f"no pretreatment CA-125 within {gs.baseline_window_days} days before the first dose: "
                   "GCIG response not evaluable")
    elif base < limit:
        out.append(f"pretreatment CA-125 {base:g} U/mL is below {gs.evaluable_factor:g} x ULN "
                   f"({limit:g} U/mL): GCIG response not evaluable")
    n_cens = sum(1 for _, _, c in valued if c)
    if n_cens:
        out.append(f"{n_cens} value(s) reported below the assay limit ('<x'), used as upper bounds")
    missing = [c for c in _CLINICAL_PREDICTORS if c in patient and _is_missing(patient[c])]
    if missing:
        out.append(f"clinical factor(s) unknown: {', '.join(missing)} (the model imputes them)")
    for feature, bounds in ranges.items():
        value = row.get(feature) if feature in row else patient.get(feature)
        if _is_missing(value) or isinstance(value, str):
            continue
        try:
            lo, hi = float(bounds[0]), float(bounds[1])
            v = float(value)
        except (TypeError, ValueError, IndexError):
            continue
        if v < lo or v > hi:
            out.append(f"{feature} {v:.4g} is outside the training range {lo:.4g}..{hi:.4g} "
                       "(extrapolation: interpret with care)")
    return out


# --------------------------------------------------------------------------------------
# Fitted curve
# --------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------------------


def _trajectories(bundle, patients: list[_Patient], problems: Mapping[str, str], rows: list[dict]) -> list:
    """The landmark trajectory of each patient (:func:`ca125kinetics.landmarks.build_trajectory`).

    The rows of every scored patient kept by :func:`ca125kinetics.landmarks.landmark_mask`
    (strict truncation, the rule training used), with the clinical factors known then
    (``landmarks.clinical_at``), are scored by :func:`_score_patients` -- every landmark the
    patient reached, in one pass when the landmark models share their rule settings and
    kinetics population (as training makes them: :class:`_LandmarkScorer`).
    """
    from itertools import compress

    from .landmarks import build_trajectory, clinical_at, landmark_mask, latest_sample_day, reached

    marks = [m for m in (getattr(bundle, "landmarks", None) or {}).get("models") or () if m.model is not None]
    scored = [i for i, r in enumerate(rows) if r["status"] == "ok"]
    pairs = [(k, i) for i in scored for k, m in enumerate(marks)
             if reached(latest_sample_day(patients[i].day, patients[i].ca125), m.landmark)]
    at: dict = {}
    if pairs:
        cut = []
        for k, i in pairs:
            p, lm = patients[i], marks[k].landmark
            keep = landmark_mask(p.day, lm.last_day).tolist()
            cut.append(_Patient(f"{p.patient_id}{_LandmarkScorer.SEP}{k}",
                                *(list(compress(getattr(p, a), keep)) for a in _ROW_ATTRS),
                                clinical=clinical_at(p.clinical, lm)))
        if _LandmarkScorer.compatible([m.model for m in marks]):
            groups = [(list(range(len(pairs))), _LandmarkScorer([m.model for m in marks]))]
        else:
            groups = [([j for j, (k, _) in enumerate(pairs) if k == kk], m.model) for kk, m in enumerate(marks)]
        for members, scorer in groups:
            if not members:
                continue
            known = {cut[j].patient_id: problems[patients[pairs[j][1]].patient_id] for j in members
                     if patients[pairs[j][1]].patient_id in problems}
            for j, r in zip(members, _score_patients(scorer, [cut[j] for j in members], known)):
                at[(marks[pairs[j][0]].landmark.key, pairs[j][1])] = (r["probability"], r["p_low"], r["p_high"])
    all_marks = (getattr(bundle, "landmarks", None) or {}).get("models")
    return [build_trajectory(all_marks, days=p.day, values=p.ca125, threshold=float(bundle.threshold),
                             final=(r["probability"], r["p_low"], r["p_high"]) if r["status"] == "ok" else None,
                             score_at=lambda m, i=i: at[(m.landmark.key, i)],
                             withheld=r["reason"] if r["status"] == "insufficient" else None)
            for i, (p, r) in enumerate(zip(patients, rows))]


class _DeferredTrajectories:
    """The trajectories of one scoring call, computed together (:func:`_trajectories`) the
    first time one of them is asked for."""

    def __init__(self, bundle, patients, problems, rows):
        self._args = (bundle, patients, dict(problems), rows)
        self._lock = threading.Lock()
        self._done: list | None = None

    def get(self, i: int):
        with self._lock:
            if self._done is None:
                self._done = _trajectories(*self._args)
                self._args = None
            return self._done[i]

    def __getstate__(self):     # a pickled Prediction carries its trajectories, computed
        self.get(0)
        return {"done": self._done}

    def __setstate__(self, state):
        self._args, self._lock, self._done = None, threading.Lock(), state["done"]


#: The per-row attributes of a :class:`_Patient`, in its field order.
_ROW_ATTRS = ("day", "ca125", "censored", "uln", "assay", "event", "row_problem")


class _LandmarkScorer:
    """A bundle's landmark models as one scorer for :func:`_score_patients`.

    Training gives every landmark model the shipped model's rule settings and kinetics
    population (:mod:`ca125kinetics.landmarks`), so the truncated series of all landmarks go
    through one GCIG and kinetics pass; each row is then scored by the head of its own
    landmark, named by the suffix of its patient identifier (``<id><SEP><k>``).
    """

    SEP = "\x1f"

    def __init__(self, models: list):
        first = models[0]
        self.models = models
        self.gcig_settings, self.kinetics_settings = first.gcig_settings, first.kinetics_settings
        self.threshold, self.trained_on_synthetic = first.threshold, first.trained_on_synthetic
        self.name, self.version, self.model_family = first.name, first.version, first.model_family
        self.feature_ranges: dict = {}
        self.kinetics_step = _kinetics_step(first)

    @staticmethod
    def compatible(models: list) -> bool:
        """Whether the models share the rule settings and the fitted kinetics step."""
        if not models:
            return False
        first, step = models[0], _kinetics_step(models[0])
        if step is None:
            return False
        for m in models[1:]:
            other = _kinetics_step(m)
            if other is None or (m.gcig_settings, m.kinetics_settings, m.threshold) != (
                    first.gcig_settings, first.kinetics_settings, first.threshold) or \
                    (other.method, other.settings_, getattr(other, "population_", None)) != \
                    (step.method, step.settings_, getattr(step, "population_", None)):
                return False
        return True

    def predict_head(self, columns, n: int):
        """``(p, p_low, p_high)``, each row from its landmark's model."""
        which = np.array([int(str(pid).rsplit(self.SEP, 1)[1]) for pid in columns["patient_id"]], dtype=np.intp)
        out = np.full((3, n), np.nan)
        for k, model in enumerate(self.models):
            rows = np.flatnonzero(which == k)
            if rows.size:
                part = {c: np.asarray(v)[rows] for c, v in columns.items()}
                out[:, rows] = np.vstack(model.predict_head(part, rows.size))
        return out[0], out[1], out[2]


def _prediction_from_row(row: dict, samples: tuple, bundle, trajectory=None) -> Prediction:
    last = max((d for d, *_ in samples), default=0)
    first = min((d for d, *_ in samples), default=0)
    curve = curve_points(row["k"], row["floor"], row["c0"], first_day=min(first, 0),
                         last_day=max(last, bundle.kinetics_settings.window_days if last > 0 else 0))
    published = {}
    for score, value_cols in (("ago", ("ago_positive",)), ("imodel", ("imodel_points", "imodel_low_risk")),
                              ("mskcc", ("mskcc_recommendation",))):
        if row[f"{score}_status"] in ("ok", "ok_with_missing"):
            for c in value_cols:
                published[c] = row[c]
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


def _clean_row(row: dict) -> dict:
    """A scored row with the plain Python values of its typed frame form (NaN -> None)."""
    return {c: _clean(v) for c, v in row.items()}


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
    fast = _fast_patient(markers, clinical, bundle.gcig_settings) if not columns else None
    if fast is not None:
        patients, problems = [fast], {}
    else:
        markers_frame, clinical_frame = _one_patient_inputs(markers, clinical)
        gm, gc, problems = _read_inputs(markers_frame, clinical_frame, bundle.gcig_settings, columns)
        patients = _patients_from_frames(gm, gc)
        if len(patients) != 1:
            ids = [p.patient_id for p in patients]
            raise InvalidInputError(
                f"predict scores one patient, but the input holds {len(ids)} ({', '.join(ids[:5])}); "
                "use predict_cohort for several patients", column="patient_id")
    rows = _score_patients(bundle, patients, problems, allow_imputed)
    trajectories = _DeferredTrajectories(bundle, patients, problems, rows)
    return _prediction_from_row(_clean_row(rows[0]), patients[0].samples(), bundle, partial(trajectories.get, 0))


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
    fast: dict[str, _Patient] = {}
    markers, clinical, order = [], [], []
    for m, c in items:
        rec = _fast_patient(m, c, bundle.gcig_settings)
        if rec is not None:
            fast[rec.patient_id] = rec
            order.append(rec.patient_id)
            continue
        mf, cf = _one_patient_inputs(m, c)
        if not isinstance(mf, pd.DataFrame):
            raise InvalidInputError("predict_many takes mappings or DataFrames, not file paths")
        ids = sorted(set(mf["patient_id"].dropna().astype(str)))
        if len(ids) != 1:
            raise InvalidInputError(f"each item of predict_many must hold one patient, got {len(ids)}",
                                    column="patient_id")
        if cf is None:
            cf = pd.DataFrame({"patient_id": ids})
        markers.append(mf)
        clinical.append(cf)
        order.append(ids[0])
    if len(set(order)) != len(order):
        raise InvalidInputError("predict_many needs a different patient_id for every item", column="patient_id")
    if not order:
        return []
    patients, problems = list(fast.values()), {}
    if markers:
        gm, gc, problems = _read_inputs(pd.concat(markers, ignore_index=True),
                                        pd.concat(clinical, ignore_index=True), bundle.gcig_settings)
        patients += _patients_from_frames(gm, gc)
    rows = _score_patients(bundle, patients, problems, allow_imputed)
    trajectories = _DeferredTrajectories(bundle, patients, problems, rows)
    position = {p.patient_id: i for i, p in enumerate(patients)}
    return [_prediction_from_row(_clean_row(rows[position[pid]]), patients[position[pid]].samples(), bundle,
                                 partial(trajectories.get, position[pid]))
            for pid in order]


#: Columns of the markers mapping the fast reader understands (anything else: package reader).
_FAST_MARKER_KEYS = frozenset({"patient_id", "day", "ca125", "censored", "uln", "assay", "event"})


#: A plain decimal number written as text (read the same by ``float`` and ``pd.to_numeric``).
_DECIMAL_RE = re.compile(r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _is_nan(v) -> bool:
    return isinstance(v, (float, np.floating)) and math.isnan(v)


def _blank(v) -> bool:
    """None, NaN, pd.NA or NaT: an empty cell."""
    return v is None or v is pd.NA or v is pd.NaT or _is_nan(v)


def _fast_patient(markers, clinical, gcig_settings) -> _Patient | None:
    """One patient's plain-value input as a :class:`_Patient`, or None to use the readers.

    The fast reader of :func:`predict`: it accepts only the plain forms (a mapping of
    column lists or ``(day, ca125)`` pairs; a mapping of clinical values) whose every value
    it can prove valid under the rules of ``io.read_markers``/``io.read_clinical`` -- whole
    days in the plausible range, finite CA-125 >= 0 or ``"<x"``, known events, positive
    ULNs, no two samples on one day, clinical values of the right type in range -- and
    returns exactly the patient those readers would produce (a test compares them). Any
    other input, valid or not, returns None and goes through the readers, which give the
    full validation and the messages.
    """
    from .features import CLINICAL_PREDICTORS
    from .io import CA125_MAX, DAY_RANGE, EVENT_KINDS, ULN_MAX, _CENSORED_RE

    if isinstance(markers, Mapping):
        if not set(markers) <= _FAST_MARKER_KEYS or "day" not in markers or "ca125" not in markers:
            return None
        columns = {}
        for key, values in markers.items():
            if key == "patient_id" and isinstance(values, str):
                continue
            if not isinstance(values, (list, tuple)):
                return None
            columns[key] = values
        n = len(columns["day"])
        if n == 0 or any(len(v) != n for v in columns.values()):
            return None
    elif isinstance(markers, (list, tuple)) and markers and all(
            isinstance(r, (tuple, list)) and len(r) == 2 for r in markers):
        n = len(markers)
        columns = {"day": [r[0] for r in markers], "ca125": [r[1] for r in markers]}
    else:
        return None

    # --- the patient's identifier: markers, else clinical, else "patient"
    pid = markers.get("patient_id") if isinstance(markers, Mapping) else None
    if isinstance(pid, (list, tuple)):
        if not all(isinstance(v, str) for v in pid) or len(set(pid)) != 1:
            return None
        pid = pid[0]
    if clinical is not None and not isinstance(clinical, Mapping):
        return None
    clinical_id = clinical.get("patient_id") if clinical is not None else None
    if pid is None:
        pid = clinical_id if clinical_id is not None else "patient"
    if not isinstance(pid, str) or pid != pid.strip() or not pid:
        return None
    if clinical_id is not None and clinical_id != pid:
        return None

    # --- samples
    lo, hi = DAY_RANGE
    uln_default = float(gcig_settings.uln)
    rows = []
    for i in range(n):
        day = columns["day"][i]
        if not _is_number(day) or not math.isfinite(day) or day != int(day) or not lo <= day <= hi:
            return None
        event = columns["event"][i] if "event" in columns else None
        event = None if _blank(event) else event
        if event is not None and event not in EVENT_KINDS:
            return None
        value = columns["ca125"][i]
        censored = False
        if isinstance(value, str):
            text = value.strip()
            if _DECIMAL_RE.match(text):
                value = float(text)
            elif (match := _CENSORED_RE.match(text)) is not None:
                value, censored = float(match.group(1)), True
            else:
                return None
            if not math.isfinite(value) or value > CA125_MAX:
                return None
        elif _blank(value):
            if event is None:
                return None
            value = math.nan
        elif _is_number(value) and math.isfinite(value) and 0 <= value <= CA125_MAX:
            value = float(value)
        else:
            return None
        flag = columns["censored"][i] if "censored" in columns else None
        if not _blank(flag):
            if not isinstance(flag, (bool, np.bool_)) or (flag and math.isnan(value)):
                return None
            censored = censored or bool(flag)
        uln = columns["uln"][i] if "uln" in columns else None
        if _blank(uln):
            uln = uln_default
        elif not (_is_number(uln) and math.isfinite(uln) and 0 < uln <= ULN_MAX):
            return None
        assay = columns["assay"][i] if "assay" in columns else None
        assay = None if _blank(assay) else assay
        if assay is not None and (not isinstance(assay, str) or assay != assay.strip() or not assay):
            return None
        rows.append((int(day), value, censored, float(uln), assay, event))
    valued = [r[0] for r in rows if not math.isnan(r[1])]
    if len(set(valued)) != len(valued):
        return None                                     # two samples on one day
    rows.sort(key=lambda r: r[0])
    patient = _Patient(pid, *[list(col) for col in zip(*rows)], row_problem=[None] * n)

    # --- clinical values
    if clinical is not None:
        values = _fast_clinical(clinical, CLINICAL_PREDICTORS)
        if values is None:
            return None
        patient.clinical = values
    return patient


def _fast_clinical(clinical: Mapping, predictors) -> dict | None:
    """Canonical clinical values of a plain mapping, or None (then the reader decides).

    The rules are those of ``io.read_clinical`` (:data:`io.CLINICAL_NUMBERS`,
    :data:`io.CLINICAL_CATEGORIES`, ``io.normalise_stage``).
    """
    from .io import CLINICAL_CATEGORIES, CLINICAL_NUMBERS, normalise_stage

    if not set(clinical) <= {"patient_id", *predictors}:
        return None
    out: dict[str, Any] = {c: None for c in predictors}
    for name, value in clinical.items():
        if name == "patient_id" or _blank(value):
            continue
        if name in CLINICAL_NUMBERS:
            rule = CLINICAL_NUMBERS[name]
            if not _is_number(value) or not math.isfinite(value):
                return None
            if rule.integer and value != int(value):
                return None
            if not (value in rule.choices if rule.choices is not None else rule.low <= value <= rule.high):
                return None
            out[name] = int(value) if rule.integer else float(value)
        elif not isinstance(value, str) or not value.strip():
            return None
        elif name == "figo_stage":
            stage = normalise_stage(value.strip())
            if stage not in ("I", "II", "III", "IV"):
                return None
            out[name] = stage
        elif name in CLINICAL_CATEGORIES:
            rule = CLINICAL_CATEGORIES[name]
            normal = rule.normalise(value.strip())
            if normal not in rule.allowed:
                return None
            out[name] = normal
        else:
            return None
    return out


def _one_patient_inputs(markers, clinical):
    """Markers and clinical inputs of :func:`predict` as DataFrames (or paths)."""
    if isinstance(markers, (pd.DataFrame, str, os.PathLike)):
        m = markers
    elif isinstance(markers, Mapping):
        m = pd.DataFrame({k: (list(v) if isinstance(v, (list, tuple, np.ndarray, pd.Series)) else v)
                          for k, v in markers.items()})
    elif isinstance(markers, Sequence) and all(isinstance(r, (tuple, list)) and len(r) == 2 for r in markers):
        m = pd.DataFrame(list(markers), columns=["day", "ca125"])
    else:
        raise InvalidInputError(
            "markers must be a DataFrame, a file path, a mapping of columns ({'day': [...], 'ca125': "
            f"[...]}}) or a sequence of (day, ca125) pairs; got {type(markers).__name__}")
    if isinstance(m, pd.DataFrame) and "patient_id" not in m.columns:
        pid = None
        if isinstance(clinical, (Mapping, pd.Series)) and not _is_missing(clinical.get("patient_id")):
            pid = str(clinical["patient_id"])
        m = m.assign(patient_id=pid or "patient")
    if clinical is None or isinstance(clinical, (pd.DataFrame, str, os.PathLike)):
        c = clinical
    elif isinstance(clinical, (Mapping, pd.Series)):
        c = dict(clinical)
        if _is_missing(c.get("patient_id")):
            ids = m["patient_id"].dropna().astype(str).unique() if isinstance(m, pd.DataFrame) else []
            c["patient_id"] = ids[0] if len(ids) == 1 else "patient"
        c = pd.DataFrame([c])
    else:
        raise InvalidInputError(
            f"clinical must be a mapping, a Series, a DataFrame or a file path, got {type(clinical).__name__}")
    return m, c


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


# --------------------------------------------------------------------------------------
# Text report
# --------------------------------------------------------------------------------------


def _fmt(value, spec: str = "g", unit: str = "") -> str:
    if _is_missing(value):
        return "-"
    if isinstance(value, (float, int)) and not isinstance(value, bool):
        return f"{value:{spec}}{unit}"
    return f"{value}{unit}"


def _format_text(p: Prediction) -> str:
    lines = [f"Patient {p.patient_id}", ""]
    if p.status in ("ok", "insufficient"):
        lines.append(f"  Probability of complete resection: {p.probability:.2f} "
                     f"(interval {_fmt(p.p_low, '.2f')} to {_fmt(p.p_high, '.2f')}; threshold {p.threshold:.2f})"
                     + (" -- computed with unknown factors imputed" if p.status == "insufficient" else ""))
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
    if p.recist:
        lines.append(f"  RECIST: {p.recist}; combined RECIST + CA-125 category: {p.combined_category or '-'}")
    k = p.kinetics
    ks = p.model.get("kinetics") or {}
    lines.append(f"  KELIM-like k: {_fmt(k['k'], '.4f', '/day')}, half-life {_fmt(k['half_life_days'], '.1f', ' days')}, "
                 f"standardized score {_fmt(k['kelim_score'], '.2f')} (favourable >= 1.0)")
    lines.append(f"    score = k / k_ref, k_ref {_fmt(ks.get('k_ref'), '.4g', '/day')} "
                 f"({ks.get('k_ref_source') or 'source not recorded'})")
    if p.published_scores:
        ps = p.published_scores
        parts = []
        if "ago_positive" in ps:
            parts.append(f"AGO {'positive' if ps['ago_positive'] else 'negative'}")
        if "imodel_low_risk" in ps and ps["imodel_low_risk"] is not None:
            pts = ps.get("imodel_points")
            parts.append(f"iMODEL {'low' if ps['imodel_low_risk'] else 'high'} risk"
                         + (f" ({pts:.1f} points)" if pts is not None else ""))
        if ps.get("mskcc_recommendation"):
            parts.append(f"MSKCC: {ps['mskcc_recommendation']} secondary cytoreduction")
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
    lines.append(f"  Model: {m['name']} {m['version']} ({m['family']}); ULN {m['gcig']['uln']:g} U/mL, "
                 f"k_ref {m['kinetics']['k_ref']:g}/day"
                 + ("; trained on synthetic data" if m["trained_on_synthetic"] else ""))
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# Command line: ca125 score
# --------------------------------------------------------------------------------------

_SUMMARY_COLUMNS = ("patient_id", "status", "probability", "p_low", "p_high", "gcig_status", "gcig_category",
                    "progressed", "kelim_score", "decision")


def add_score_arguments(parser) -> None:
    """Add the ``ca125 score`` options to an argparse parser."""
    parser.add_argument("--markers", required=True,
                        help="markers table (.csv or .parquet), data contract, or a FHIR R4 bundle (.json)")
    parser.add_argument("--clinical", help="clinical table (.csv or .parquet); unknown factors may be left empty")
    parser.add_argument("--patient", help="score only this patient_id (default: every patient in the table)")
    parser.add_argument("--model", default=None,
                        help="exported model directory, bundle.joblib or MLflow URI such as "
                        "models:/ca125-complete-resection@champion (default: the shipped model)")
    parser.add_argument("--format", choices=["text", "json", "csv", "fhir"], default=None,
                        help="output format (default: text on the terminal, or by --out suffix); fhir: a FHIR "
                        "R4 RiskAssessment (a Bundle of them for several patients)")
    parser.add_argument("--out", help="write the result to this file (.csv, .json or .txt)")
    parser.add_argument("--allow-imputed", action="store_true",
                        help="decide even when clinical factors are unknown (the model imputes them); by "
                        "default such a patient gets status 'insufficient' and no decision")
    from .cli import add_format_arguments

    add_format_arguments(parser)


def _cli_score_task(args, bundle) -> int:
    """``ca125 score`` with a model of another task (:mod:`ca125kinetics.task`): the table of
    :func:`score_frame` (columns :data:`TASK_SCORE_COLUMNS`) as text, CSV or JSON."""
    from .task import bundle_task

    task = bundle_task(bundle)
    fmt = args.format or _format_from_suffix(args.out)
    if fmt == "fhir":
        raise InvalidInputError(f"--format fhir writes the complete-resection RiskAssessment; the model "
                                f"{bundle.name!r} predicts {task.description}: use text, csv or json")
    frame = score_frame(bundle, args.markers, args.clinical)
    if args.patient is not None:
        frame = frame[frame["patient_id"] == str(args.patient)].reset_index(drop=True)
        if frame.empty:
            raise InvalidInputError(f"patient {args.patient!r} is not in the markers or clinical table")
    text = (frame.to_json(orient="records", indent=2) + "\n" if fmt == "json"
            else frame.to_csv(index=False) if fmt == "csv" else frame.to_string(index=False) + "\n")
    return _write_score_output(text, len(frame), args.out)


def _write_score_output(text: str, n: int, out) -> int:
    """``ca125 score``'s output: to ``out`` (saying how many patients on stderr) or stdout."""
    import sys

    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text, encoding="utf-8")
        print(f"wrote {n} patient(s) to {out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def cli_score(args) -> int:
    """Handler of ``ca125 score``: one patient -> a report readable by a clinician; several ->
    one row per patient. Returns the exit code (0)."""
    if isinstance(args.model, str) and args.model.startswith(_URI_SCHEMES):
        from .tracking import quiet_mlflow

        with quiet_mlflow():  # no progress bars or mlflow log lines in a clinician's report
            bundle = load_model(args.model)
    else:
        bundle = load_model(args.model, scoring_only=True)
    from .task import bundle_task

    if not bundle_task(bundle).is_default:
        return _cli_score_task(args, bundle)
    markers, clinical = _cli_tables(args, bundle)
    allow_imputed = bool(getattr(args, "allow_imputed", False))
    ids = sorted(set(markers["patient_id"].astype(str)))
    fmt = args.format or _format_from_suffix(args.out)
    if fmt == "fhir":
        text, n = _fhir_text(markers, clinical, ids, bundle, allow_imputed), len(ids)
    elif len(ids) == 1:
        result = predict(markers, clinical, model=bundle, allow_imputed=allow_imputed)
        if fmt == "json":
            text = json.dumps(_stamped(result.to_dict(), bundle), indent=2) + "\n"
        elif fmt == "csv":
            text = _stamped(result.to_frame(), bundle).to_csv(index=False)
        else:
            text = result.to_text() + "\n"
        n = 1
    else:
        frame = _stamped(predict_cohort(markers, clinical, model=bundle, allow_imputed=allow_imputed), bundle)
        if fmt == "json":
            text = frame.to_json(orient="records", indent=2) + "\n"
        elif fmt == "csv":
            text = frame.to_csv(index=False)
        else:
            text = _cohort_text(frame)
        n = len(frame)
    return _write_score_output(text, n, args.out)


def _fhir_text(markers, clinical, ids, bundle, allow_imputed: bool = False) -> str:
    """``ca125 score --format fhir``: one RiskAssessment, or a collection Bundle of them."""
    from .sources.fhir import risk_assessment

    items = [(rows, None if clinical is None else clinical[clinical["patient_id"] == pid])
             for pid, rows in markers.groupby("patient_id", sort=True)]
    if len(ids) == 1:
        return json.dumps(risk_assessment(predict(*items[0], model=bundle, allow_imputed=allow_imputed)),
                          indent=2) + "\n"
    entries = [{"resource": risk_assessment(p)} for p in predict_many(items, model=bundle, allow_imputed=allow_imputed)]
    return json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}, indent=2) + "\n"


def _stamped(table, bundle):
    """``table`` (DataFrame, or a prediction's dict) with the ``rules`` and ``package_version``
    of :func:`ca125kinetics.settings.with_model_provenance`."""
    from .settings import with_model_provenance

    if isinstance(table, pd.DataFrame):
        return with_model_provenance(table, bundle)
    stamped = with_model_provenance(pd.DataFrame([{}]), bundle)
    return {**table, "rules": json.loads(stamped["rules"].iloc[0]), "package_version": stamped["package_version"].iloc[0]}


def _format_from_suffix(out) -> str:
    suffix = Path(out).suffix.lower() if out else ""
    return {".json": "json", ".csv": "csv"}.get(suffix, "text")


def _cli_tables(args, bundle):
    """Markers (and clinical) of ``ca125 score``, restricted to ``--patient`` when given."""
    from .cli import format_options
    from .io import read_clinical, read_markers

    fmt = format_options(args)
    clinical = read_clinical(args.clinical, on_error="flag", require=("patient_id",), **fmt) if args.clinical else None
    markers = read_markers(args.markers, clinical=clinical, uln=float(bundle.gcig_settings.uln),
                           on_error="flag", duplicates=bundle.gcig_settings.duplicates, **fmt)
    if args.patient is not None:
        wanted = str(args.patient).strip()
        markers = markers[markers["patient_id"].astype(str) == wanted].reset_index(drop=True)
        if markers.empty:
            raise InvalidInputError(f"patient {wanted!r} has no rows in the markers table; check --patient",
                                    source=str(args.markers), column="patient_id")
        if clinical is not None:
            clinical = clinical[clinical["patient_id"].astype(str) == wanted].reset_index(drop=True)
    if markers.empty:
        raise InvalidInputError("the markers table has no rows", source=str(args.markers))
    return markers, clinical


def _cohort_text(frame: pd.DataFrame, max_rows: int = 40) -> str:
    shown = frame.loc[:, list(_SUMMARY_COLUMNS)].head(max_rows)
    with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 200,
                           "display.float_format", "{:.3f}".format):
        lines = [shown.to_string(index=False, na_rep="-")]
    if len(frame) > max_rows:
        lines.append(f"... {len(frame) - max_rows} more patient(s); use --out FILE or --format csv for all")
    lines.append("")
    lines.append(f"{len(frame)} patient(s): " + ", ".join(f"{k} {v}" for k, v in frame["decision"].value_counts().items()))
    if len(frame):
        lines.append(f"model {frame['model_name'].iloc[0]} {frame['model_version'].iloc[0]}, threshold "
                     f"{frame['threshold'].iloc[0]:.2f}. {DISCLAIMER}"
                     + (f" {SYNTHETIC_NOTE}" if bool(frame["trained_on_synthetic"].iloc[0]) else ""))
    return "\n".join(lines) + "\n"


def _main(argv=None) -> int:
    """``python -m ca125kinetics.predict --markers ...``: ``ca125 score`` without the CLI module."""
    import argparse
    import sys

    from .errors import Ca125KineticsError

    parser = argparse.ArgumentParser(prog="ca125 score", description="Score patients with a trained model.")
    add_score_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return cli_score(args)
    except Ca125KineticsError as exc:
        print(f"ca125: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(_main())
