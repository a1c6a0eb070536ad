"""A trained model with everything needed to use it: the ModelBundle, save/load and export.

Sixth step of the pipeline (... -> models -> **tracking and export** -> predict -> ...).

:class:`ModelBundle` holds the fitted Pipeline with the rule settings it was trained with, the
decision threshold, the interval ensemble, the training ranges of the inputs and a summary of
its evaluation; it is what ``predict.load_model`` returns and what ``predict.score_frame``
scores with.

On disk (``save_bundle``): ``bundle.joblib`` (the pickled bundle), ``bundle.json`` (metadata
only, readable without unpickling anything) and ``MANIFEST.sha256``. An exported model
(:func:`export_model`) is a directory::

    <out_dir>/
        mlflow_model/            MLflow model (pyfunc flavour, Ca125PyfuncModel)
            MLmodel, python_model.pkl, requirements.txt, input_example.json, ...
            artifacts/bundle/    bundle.joblib, bundle.json, MANIFEST.sha256
        model_card.md            first line says "Trained on synthetic data - not for
                                 clinical use" when so
        bundle.json
        MANIFEST.sha256          sha256sum of every other file under <out_dir>

Every loader verifies a manifest before unpickling (joblib/pickle runs code on load). The
bundle's own directory carries a manifest too, so that a copy of the MLflow model alone
(e.g. downloaded from the registry) can be verified.

mlflow is imported only inside the functions that need it (``import ca125kinetics.bundle``
stays light); :data:`Ca125PyfuncModel` is created on first access.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._compiled import SCORER_FILE, percentile_interval, scorer_dict
from .errors import InvalidInputError, ModelIntegrityError
from .integrity import MANIFEST_NAME, sha256_file, verify_manifest, write_manifest
from .settings import GcigSettings, KineticsSettings

__all__ = [
    "ModelBundle",
    "save_bundle",
    "load_bundle",
    "load_bundle_file",
    "export_model",
    "default_model_card",
    "pip_requirements",
    "pyfunc_input_example",
    "pyfunc_arguments",
    "model_signature",
    "PYFUNC_INPUT_COLUMNS",
    "BUNDLE_FILE",
    "BUNDLE_JSON",
    "SYNTHETIC_FIRST_LINE",
]

BUNDLE_FILE = "bundle.joblib"
BUNDLE_JSON = "bundle.json"
MODEL_CARD = "model_card.md"
MLFLOW_DIR = "mlflow_model"
#: First line of the model card of a model trained on synthetic data.
SYNTHETIC_FIRST_LINE = "**Trained on synthetic data — not for clinical use.**"
#: Version of the bundle layout; bump when a field changes meaning. 2: the interval members
#: are classifiers on the design matrix (``interval["members_input"] == "design"``); bundles of
#: format 1 (members are head pipelines) still load and score. 3: optional landmark models
#: (``landmarks``); bundles of formats 1 and 2 load and score, without a trajectory.
FORMAT_VERSION = 3


@dataclass
class ModelBundle:
    """A fitted complete-resection model and everything needed to use it.

    Attributes
    ----------
    pipeline : sklearn.pipeline.Pipeline
        Fitted; steps ``kinetics`` (``KineticsFeatures``), ``features``, ``preprocess``,
        ``classifier``. Input: the patient frame (``features.build_patient_frame``).
    name, version : str
        Model name (registered name) and version (``<package>+<digest>``, deterministic).
    model_family : str
        One of ``models.FAMILIES``.
    threshold : float
        Decision threshold on the probability (training config, default 0.70).
    gcig_settings, kinetics_settings : GcigSettings, KineticsSettings
        Rules the model was trained with (``kinetics_settings.k_ref`` and ``k_ref_source``
        record the k_ref choice).
    feature_ranges : dict
        ``feature -> (min, max)`` over the training patients (out-of-range warnings).
    trained_on_synthetic : bool
    training_summary : dict
        n, events, AUC with CI, calibration slope, data digest, date, config, ...
    interval : dict
        ``{"method": "bootstrap_percentile", "level": 0.95, "n_bootstrap": B,
        "members_input": "design", "members": [B fitted classifiers]}``. See
        :meth:`predict_proba`.
    landmarks : dict or None
        ``{"settings": LandmarkSettings.to_dict(), "models": [LandmarkModel, ...]}``: one
        model per landmark, scoring the series truncated at it (:mod:`ca125kinetics.landmarks`);
        None for a model trained without landmarks (and for bundles of format 1 and 2, which
        predate them): ``predict`` then returns no trajectory and says why.
    """

    pipeline: Any
    name: str
    version: str
    model_family: str
    threshold: float = 0.70
    gcig_settings: GcigSettings = field(default_factory=GcigSettings)
    kinetics_settings: KineticsSettings = field(default_factory=KineticsSettings)
    feature_ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    trained_on_synthetic: bool = False
    training_summary: dict[str, Any] = field(default_factory=dict)
    interval: dict[str, Any] = field(default_factory=dict)
    # a class-level default (not a factory): bundles pickled before landmarks existed lack the
    # attribute and read None
    landmarks: dict[str, Any] | None = None
    format_version: int = FORMAT_VERSION

    def __post_init__(self):
        if not (isinstance(self.threshold, (int, float)) and 0.0 < float(self.threshold) < 1.0):
            raise InvalidInputError(f"threshold must be a probability in (0, 1), got {self.threshold!r}")
        if not isinstance(self.gcig_settings, GcigSettings) or not isinstance(self.kinetics_settings,
                                                                              KineticsSettings):
            raise InvalidInputError("gcig_settings / kinetics_settings must be GcigSettings / KineticsSettings")

    # ------------------------------------------------------------------ prediction

    def _split(self):
        steps = getattr(self.pipeline, "steps", None)
        if not steps or steps[0][0] != "kinetics":
            raise ModelIntegrityError("the bundle's pipeline has no 'kinetics' first step; re-train the model")
        return steps[0][1], self.pipeline[1:]

    def kinetics_features(self, patient_frame: pd.DataFrame) -> pd.DataFrame:
        """Output of the fitted ``KineticsFeatures`` step (same rows and order as the input):
        the non-series columns of the patient frame plus ``log_k``, ``kelim_score``,
        ``half_life_days``, ... (``kinetics.FEATURE_NAMES``)."""
        kinetics, _ = self._split()
        return kinetics.transform(patient_frame)

    def compiled(self):
        """The fitted steps after ``kinetics`` replayed on numpy arrays
        (:class:`ca125kinetics._compiled.CompiledHead`), or None for a pipeline of another
        shape. Built on first use and kept (not pickled) while ``pipeline`` and ``interval``
        are the same objects."""
        key = (id(self.pipeline), id(self.interval), id(self.interval.get("members")))
        cache = self.__dict__.get("_compiled_head")
        if cache is None or cache[0] != key:
            from ._compiled import compile_head

            cache = (key, compile_head(self.pipeline, self.interval))
            self.__dict__["_compiled_head"] = cache
        return cache[1]

    def __getstate__(self):
        state = dict(self.__dict__)
        for cache in ("_compiled_head", "_settings_json"):
            state.pop(cache, None)
        return state

    def predict_head(self, columns, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(p, p_low, p_high)`` from the output columns of the kinetics step.

        Parameters
        ----------
        columns : mapping
            The non-series columns of the patient frame and the kinetics features
            (``KineticsFeatures.transform`` output, or the same columns as arrays).
        n : int
            Number of patients (length of every column).
        """
        head = self.compiled()
        if head is not None:
            return head.predict(columns, n)
        frame = columns if isinstance(columns, pd.DataFrame) else pd.DataFrame(dict(columns))
        _, pipeline_head = self._split()
        p = pipeline_head.predict_proba(frame)[:, 1]
        members = list(self.interval.get("members") or [])
        if not members:
            return p, np.full(n, np.nan), np.full(n, np.nan)
        if self.interval.get("members_input") == "design":
            design = pipeline_head[:-1].transform(frame)
            draws = np.column_stack([m.predict_proba(design)[:, 1] for m in members])
        else:
            draws = np.column_stack([m.predict_proba(frame)[:, 1] for m in members])
        low, high = percentile_interval(draws, float(self.interval.get("level", 0.95)))
        return p, low, high

    def predict_proba(self, patient_frame: pd.DataFrame) -> pd.DataFrame:
        """Probability of complete resection with its interval, one row per patient.

        Parameters
        ----------
        patient_frame : pandas.DataFrame
            Output of :func:`ca125kinetics.features.build_patient_frame` (any subset of rows).

        Returns
        -------
        pandas.DataFrame
            Same index and order as ``patient_frame``; columns ``p`` (the fitted
            pipeline's probability), ``p_low``, ``p_high``.

        Notes
        -----
        The steps after ``kinetics`` are replayed on numpy arrays (:meth:`compiled`; equal to
        ``pipeline.predict_proba`` to rounding, which a test checks).

        **Interval** (``interval["method"] == "bootstrap_percentile"``): the classifier (the
        last step) was refitted on ``B`` bootstrap resamples of the training patients'
        design matrix -- the kinetics population, the missing-value handling, the scaling
        and the tuned hyperparameters held at those of the final fit
        (``models.frozen_classifier``); ``p_low``/``p_high`` are the ``(1 - level) / 2`` and
        ``(1 + level) / 2`` quantiles (linear interpolation) of the ``B`` members'
        probabilities. It expresses the uncertainty of the fitted classifier (sampling
        variability of the training cohort), not of the patient's outcome, and it omits the
        uncertainty of the kinetics population and of the preprocessing. Bundles of format 1
        hold whole head pipelines as members (each refitted with its own preprocessing);
        they score the same way, one member at a time. With no members the interval is NaN.
        """
        kinetics, _ = self._split()
        transformed = kinetics.transform(patient_frame)
        p, low, high = self.predict_head(transformed, len(transformed))
        return pd.DataFrame({"p": p, "p_low": low, "p_high": high}, index=patient_frame.index)

    # ------------------------------------------------------------------ metadata

    def to_dict(self) -> dict[str, Any]:
        """Metadata only (JSON-ready; no fitted object)."""
        interval = {k: v for k, v in self.interval.items() if k != "members"}
        interval["n_members"] = len(self.interval.get("members") or [])
        return _jsonable({
            "kind": "ca125kinetics.ModelBundle",
            "format_version": self.format_version,
            "name": self.name,
            "version": self.version,
            "model_family": self.model_family,
            "threshold": float(self.threshold),
            "trained_on_synthetic": bool(self.trained_on_synthetic),
            "gcig_settings": self.gcig_settings.to_dict(),
            "kinetics_settings": self.kinetics_settings.to_dict(),
            "feature_ranges": {k: [float(v[0]), float(v[1])] for k, v in self.feature_ranges.items()},
            "interval": interval,
            "pipeline_steps": [name for name, _ in getattr(self.pipeline, "steps", [])],
            "training_summary": self.training_summary,
            "landmarks": None if not self.landmarks else {
                "settings": self.landmarks.get("settings"),
                "models": [m.to_dict() for m in self.landmarks.get("models") or []]},
        })


def _jsonable(value):
    """Recursively convert numpy/pandas scalars and tuples to JSON types (NaN -> None)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, (_dt.date, _dt.datetime, Path)):
        return str(value)
    return value


# ---------------------------------------------------------------------------- save / load


def save_bundle(bundle: ModelBundle, directory) -> Path:
    """Write ``bundle.joblib``, ``bundle.json``, ``scorer.json`` and ``MANIFEST.sha256`` to ``directory``.

    ``directory`` is created; it must be empty or hold only a previously saved bundle (those
    files), which is replaced. ``bundle.json`` records the SHA-256 of ``bundle.joblib``.
    ``scorer.json`` (``_compiled.ScoringModel``) holds the model as plain numbers for scoring
    without unpickling; it is written when every fitted step can be (all three model
    families; a pipeline with a transformer of another kind is scored by unpickling).

    Returns
    -------
    Path
        ``directory``.
    """
    import joblib

    if not isinstance(bundle, ModelBundle):
        raise InvalidInputError(f"save_bundle needs a ModelBundle, got {type(bundle).__name__}")
    root = Path(directory)
    if root.exists():
        if not root.is_dir():
            raise InvalidInputError(f"{str(root)!r} exists and is not a directory; give a directory path")
        others = sorted(p.name for p in root.iterdir()
                        if p.name not in (BUNDLE_FILE, BUNDLE_JSON, SCORER_FILE, MANIFEST_NAME))
        if others:
            raise InvalidInputError(f"{str(root)!r} holds other files ({others[:3]}); save the bundle to an "
                                    "empty or new directory")
    root.mkdir(parents=True, exist_ok=True)
    joblib.dump(bundle, root / BUNDLE_FILE, compress=3)
    scorer = scorer_dict(bundle)
    if scorer is not None:
        (root / SCORER_FILE).write_text(json.dumps(scorer, sort_keys=True) + "\n", encoding="utf-8")
    elif (root / SCORER_FILE).exists():
        (root / SCORER_FILE).unlink()
    meta = bundle.to_dict()
    meta["bundle_sha256"] = sha256_file(root / BUNDLE_FILE)
    (root / BUNDLE_JSON).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    write_manifest(root)
    return root


def load_bundle_file(path) -> ModelBundle:
    """Unpickle a ``bundle.joblib`` **that the caller has verified** (see :func:`load_bundle`).

    Raises
    ------
    ModelIntegrityError
        The file does not hold a :class:`ModelBundle`.
    """
    import joblib

    obj = joblib.load(Path(path))
    if not isinstance(obj, ModelBundle):
        raise ModelIntegrityError(f"{str(path)!r} does not hold a ca125kinetics ModelBundle "
                                  f"(got {type(obj).__name__}); re-export the model")
    return obj


def load_bundle(directory) -> ModelBundle:
    """Verify a saved-bundle directory's manifest, then load its bundle.

    Raises
    ------
    ModelIntegrityError
        Manifest missing or a file changed, missing or unknown (nothing is unpickled then).
    """
    root = Path(directory)
    verify_manifest(root)
    if not (root / BUNDLE_FILE).is_file():
        raise ModelIntegrityError(f"{str(root)!r} holds no {BUNDLE_FILE}; give a directory written by save_bundle")
    return load_bundle_file(root / BUNDLE_FILE)


# ---------------------------------------------------------------------------- MLflow pyfunc


def _pyfunc_class():
    import mlflow.pyfunc

    class Ca125PyfuncModel(mlflow.pyfunc.PythonModel):
        """MLflow pyfunc wrapper of a ModelBundle: ``predict`` is ``predict.score_frame``.

        Input: long markers rows (``patient_id``, ``day``, ``ca125``, optional ``censored``,
        ``uln``, ``assay``, ``event``) with the patient's clinical columns repeated on every
        row. Output: one row per patient, the columns of ``predict.SCORE_COLUMNS``.
        """

        def load_context(self, context):
            directory = Path(context.artifacts["bundle"])
            verify_manifest(directory)  # the bundle's own manifest
            export_root = directory.parents[2] if len(directory.parents) > 2 else None
            if export_root is not None and (export_root / MANIFEST_NAME).is_file() \
                    and (export_root / MLFLOW_DIR).is_dir():
                verify_manifest(export_root)  # inside an exported model directory
            self.bundle = load_bundle_file(directory / BUNDLE_FILE)

        def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
            from .predict import score_frame

            return score_frame(self.bundle, model_input)

    Ca125PyfuncModel.__module__ = __name__
    Ca125PyfuncModel.__qualname__ = "Ca125PyfuncModel"
    return Ca125PyfuncModel


def __getattr__(name: str):
    # PEP 562: the pyfunc class subclasses mlflow's PythonModel, so it is created (and mlflow
    # imported) only when first asked for; cached so pickling finds the same class.
    if name == "Ca125PyfuncModel":
        cls = _pyfunc_class()
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def pip_requirements() -> list[str]:
    """Pinned requirements of the pyfunc model (installed versions; no inference subprocess)."""
    from importlib import metadata

    names = ["ca125kinetics", "numpy", "pandas", "scipy", "scikit-learn", "statsmodels", "joblib", "mlflow"]
    out = []
    for name in names:
        try:
            out.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            out.append(name)
    return out


def pyfunc_arguments(bundle_dir) -> dict[str, Any]:
    """Keyword arguments of ``mlflow.pyfunc.save_model``/``log_model`` for a saved bundle
    directory: the python model, the bundle directory as the artifact ``"bundle"`` and pinned
    requirements (no requirement-inference subprocess)."""
    return {"python_model": __getattr__("Ca125PyfuncModel")(), "artifacts": {"bundle": str(bundle_dir)},
            "pip_requirements": pip_requirements()}


def pyfunc_input_example(markers: pd.DataFrame, clinical: pd.DataFrame | None, patient_ids,
                         task=None) -> pd.DataFrame:
    """The pyfunc input for some patients: their markers rows with clinical columns repeated.

    JSON-friendly types (nullable integers as float, missing text as ``""``). ``task``
    (:mod:`ca125kinetics.task`; default the ovarian task) names the marker column and the
    clinical predictors.
    """
    from .features import CLINICAL_PREDICTORS

    value = "ca125" if task is None else task.marker
    predictors = CLINICAL_PREDICTORS if task is None or task.is_default else task.predictors
    ids = [str(p) for p in patient_ids]
    cols = [c for c in ("patient_id", "day", value, "censored", "uln", "assay", "event") if c in markers.columns]
    rows = markers.loc[markers["patient_id"].astype(str).isin(ids), cols].reset_index(drop=True)
    if clinical is not None:
        clin = clinical.assign(patient_id=clinical["patient_id"].astype(str))
        keep = ["patient_id"] + [c for c in predictors if c in clin.columns]
        rows = rows.merge(clin[keep], on="patient_id", how="left")
    out = pd.DataFrame(index=rows.index)
    for c in rows.columns:
        s = rows[c]
        if c in ("day",):
            out[c] = s.astype(np.int64)
        elif c == "censored":
            out[c] = s.astype(bool)
        elif pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            out[c] = pd.to_numeric(s, errors="coerce").astype(float)
        else:
            out[c] = s.map(lambda v: "" if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA
                           else str(v)).astype(object)
    return out


#: Pyfunc input columns: (name, MLflow type, required). Clinical columns are optional (missing
#: predictors are imputed by the model); ``ca125`` is numeric with ``censored`` flagging "<x".
PYFUNC_INPUT_COLUMNS = (
    ("patient_id", "string", True), ("day", "long", True), ("ca125", "double", True),
    ("censored", "boolean", False), ("uln", "double", False), ("assay", "string", False),
    ("event", "string", False), ("age", "double", False), ("ecog", "double", False),
    ("ascites_ml", "double", False), ("figo_stage", "string", False),
    ("primary_residual_disease", "double", False), ("pfi_months", "double", False),
    ("recurrence_pattern", "string", False), ("recist", "string", False),
)


def pyfunc_input_columns(task=None) -> tuple:
    """Pyfunc input columns ``(name, MLflow type, required)`` of a task: :data:`PYFUNC_INPUT_COLUMNS`
    for the default task; else the task's marker column and declared predictors."""
    if task is None or task.is_default:
        return PYFUNC_INPUT_COLUMNS
    return (("patient_id", "string", True), ("day", "long", True), (task.marker, "double", True),
            ("censored", "boolean", False), ("uln", "double", False), ("assay", "string", False),
            ("event", "string", False), *((c, "double", False) for c in task.numeric),
            *((c, "string", False) for c in task.categorical))


def model_signature(bundle: ModelBundle, input_example: pd.DataFrame):
    """MLflow signature: the declared input schema (:data:`PYFUNC_INPUT_COLUMNS`) and the
    output schema inferred from ``predict.score_frame`` on ``input_example``."""
    import warnings

    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types.schema import ColSpec, Schema

    from .predict import score_frame

    from .task import bundle_task

    inputs = Schema([ColSpec(kind, name, required=required) for name, kind, required in
                     pyfunc_input_columns(bundle_task(bundle))])
    with warnings.catch_warnings():
        # output integer columns are never enforced, so mlflow's hint about them is moot
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer column",
                                category=UserWarning)
        outputs = infer_signature(input_example, score_frame(bundle, input_example)).outputs
    return ModelSignature(inputs=inputs, outputs=outputs)


def _clear_export_dir(root: Path) -> None:
    if not root.exists():
        return
    if not root.is_dir():
        raise InvalidInputError(f"export path {str(root)!r} exists and is not a directory")
    if any(root.iterdir()) and not ((root / MANIFEST_NAME).is_file() or (root / BUNDLE_JSON).is_file()):
        raise InvalidInputError(
            f"export directory {str(root)!r} is not empty and does not look like an exported model "
            "(no MANIFEST.sha256 or bundle.json); choose an empty or new directory")
    shutil.rmtree(root)


def export_model(bundle: ModelBundle, out_dir, *, input_example: pd.DataFrame | None = None,
                 model_card: str | None = None) -> Path:
    """Export a bundle: MLflow pyfunc model, model card, metadata and SHA-256 manifest.

    Parameters
    ----------
    bundle : ModelBundle
    out_dir : str or Path
        Created; an existing *exported model* there is replaced (any other non-empty
        directory is refused).
    input_example : pandas.DataFrame, optional
        Pyfunc input (:func:`pyfunc_input_example`); with it, the signature is inferred from
        the example and from ``predict.score_frame`` on it.
    model_card : str, optional
        Markdown text; default :func:`default_model_card`. For a bundle trained on synthetic
        data the first line is forced to :data:`SYNTHETIC_FIRST_LINE`.

    Returns
    -------
    Path
        ``out_dir`` (the layout is in the module docstring). The directory passes
        :func:`ca125kinetics.integrity.verify_manifest`.
    """
    import mlflow.pyfunc

    root = Path(out_dir)
    _clear_export_dir(root)
    root.mkdir(parents=True)
    signature = model_signature(bundle, input_example) if input_example is not None else None
    with tempfile.TemporaryDirectory(prefix="ca125-export-") as tmp:
        bundle_dir = save_bundle(bundle, Path(tmp) / "bundle")
        mlflow.pyfunc.save_model(path=str(root / MLFLOW_DIR), signature=signature, input_example=input_example,
                                 **pyfunc_arguments(bundle_dir))
        shutil.copyfile(bundle_dir / BUNDLE_JSON, root / BUNDLE_JSON)
    text = model_card if model_card is not None else default_model_card(bundle)
    (root / MODEL_CARD).write_text(_card_first_line(bundle, text), encoding="utf-8")
    write_manifest(root)
    return root


def _card_first_line(bundle: ModelBundle, text: str) -> str:
    text = text if text.endswith("\n") else text + "\n"
    if bundle.trained_on_synthetic and not text.startswith(SYNTHETIC_FIRST_LINE):
        text = SYNTHETIC_FIRST_LINE + "\n\n" + text
    return text


def default_model_card(bundle: ModelBundle) -> str:
    """A short model card from the bundle's metadata (training writes a fuller one)."""
    s = bundle.training_summary
    lines = [
        f"# Model card: {bundle.name} {bundle.version}",
        "",
        "Research software, not a medical device. Predicts complete resection (no macroscopic "
        "residual disease) at secondary cytoreduction for platinum-sensitive recurrent ovarian cancer.",
        "",
        f"- Model family: {bundle.model_family}; decision threshold {bundle.threshold:g}",
        f"- Training patients: {s.get('n', '?')} ({s.get('events', '?')} complete resections)",
        f"- Data digest (SHA-256): {s.get('data_digest', '?')}",
        f"- Rule settings: GCIG {bundle.gcig_settings.to_json()}; kinetics {bundle.kinetics_settings.to_json()}",
    ]
    return "\n".join(lines) + "\n"
