"""A trained model with everything needed to use it: the ModelBundle, save and load.

Sixth step of the pipeline (... -> models -> **tracking and export** -> predict -> ...).

:class:`ModelBundle` holds the fitted Pipeline with the rule settings it was trained with, the
decision threshold, the interval ensemble, the training ranges of the inputs and a summary of
its evaluation; it is what ``predict.load_model`` returns and what ``predict.score_frame``
scores with.

On disk (``save_bundle``): ``bundle.joblib`` (the pickled bundle), ``bundle.json`` (metadata
only, readable without unpickling anything), ``scorer.json`` (the scoring-only form) and
``MANIFEST.sha256``. Every loader verifies a manifest before unpickling (joblib/pickle runs
code on load). The MLflow face (pyfunc model, signature, export, model card) is
:mod:`ca125kinetics.mlflow_model`, above scoring; this module imports nothing above it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._compiled import SCORER_FILE, percentile_interval, scorer_dict
from .errors import InvalidInputError, ModelIntegrityError
from .integrity import MANIFEST_NAME, read_files, sha256_file, verify_manifest, write_manifest
from .io import json_value
from .settings import GcigSettings, KineticsSettings

__all__ = [
    "ModelBundle",
    "save_bundle",
    "load_bundle",
    "load_bundle_file",
    "content_digest",
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


def _pipeline_levels(pipeline, name: str) -> frozenset | None:
    """The categories a scikit-learn pipeline's one-hot encoding learned for column ``name``
    (None when it holds none for it)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    for _, step in getattr(pipeline, "steps", []):
        for _, part in (step.steps if isinstance(step, Pipeline) else [(None, step)]):
            if not isinstance(part, ColumnTransformer):
                continue
            for _, fitted, columns in part.transformers_:
                for _, enc in (fitted.steps if isinstance(fitted, Pipeline) else [(None, fitted)]):
                    if isinstance(enc, OneHotEncoder):
                        for c, cats in zip(columns, enc.categories_):
                            if str(c) == name:
                                return frozenset(str(v) for v in cats)
    return None


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

    def learned_unknown(self, name: str) -> bool:
        """Whether the model learned the categorical predictor ``name`` (``recist``) unknown:
        its training patients had it unknown, so an unknown value is a level it was fitted on.
        Otherwise an unknown value is imputed (the decision rule's rule 5)."""
        from ._compiled import learned_unknown

        return learned_unknown(self.compiled(), name)

    def learned_levels(self, name: str) -> frozenset | None:
        """The levels of the categorical predictor ``name`` the model's one-hot encoding
        learned (``"missing"`` among them when it learned the predictor unknown); None when it
        cannot be told. A value outside them is read as no level at all. Read from the compiled
        head, else (a model of another task, not compiled) from the pipeline's encoders."""
        head = self.compiled()
        levels = None if head is None else head.learned_levels(name)
        return levels if levels is not None else _pipeline_levels(self.pipeline, name)

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
        return json_value({
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


def content_digest(bundle: ModelBundle) -> str:
    """SHA-256 (hex) of what a model computes, whatever it is called: the root of its version.

    The data of its scoring file (:func:`ca125kinetics._compiled.scorer_dict`: every fitted
    number of the kinetics population, the transformers, the classifier, the interval members
    and the landmark models, with the rule settings, the threshold, the training ranges and
    ``trained_on_synthetic``), without the ``name``, ``version`` and ``training_summary``
    (the training date and the evaluation, which do not score) fields, as JSON with
    sorted keys. The scoring file scores exactly as the bundle, so two models that score a
    patient differently have different digests. For a model the scoring file cannot hold, the
    ``joblib.hash`` of the same parts (pipeline, interval, landmark models) stands for it.
    """
    data = scorer_dict(bundle)
    if data is None:
        import dataclasses
        import pickle

        import joblib

        marks = (bundle.landmarks or {}).get("models") or []
        parts = [dataclasses.replace(bundle, name="", version="", training_summary={}, landmarks=None),
                 [(m.to_dict(), None if m.model is None else content_digest(m.model)) for m in marks]]
        # through a pickle round trip first: shared references (a view and its base) are
        # pickled as the loaded copy has them, so a saved and loaded model hashes alike
        return hashlib.sha256(joblib.hash(pickle.loads(pickle.dumps(parts))).encode()).hexdigest()

    def anonymous(d):
        out = {k: v for k, v in d.items() if k not in ("name", "version", "training_summary")}
        if out.get("landmarks"):
            out["landmarks"] = {**out["landmarks"], "models": [
                {**m, "model": None if m["model"] is None else anonymous(m["model"])}
                for m in out["landmarks"]["models"]]}
        return out

    return hashlib.sha256(json.dumps(anonymous(data), sort_keys=True).encode()).hexdigest()


# ---------------------------------------------------------------------------- save / load


def save_bundle(bundle: ModelBundle, directory) -> Path:
    """Write ``bundle.joblib``, ``bundle.json``, ``scorer.json`` and ``MANIFEST.sha256`` to ``directory``.

    ``directory`` is created; it must be empty or hold only a previously saved bundle (those
    files), which is replaced. The bundle is written to a hidden directory beside it and
    renamed into place when complete (:func:`ca125kinetics._atomic.atomic_directory`): a
    failure or a stop on the way leaves the earlier bundle (or nothing) there, never part of one. ``bundle.json`` records the SHA-256 of ``bundle.joblib``.
    ``scorer.json`` (``_compiled.ScoringModel``) holds the model as plain numbers for scoring
    without unpickling; it is written when every fitted step can be (all three model
    families; a pipeline with a transformer of another kind is scored by unpickling), and
    ``bundle.json`` records its SHA-256 too, so that the two files are loaded only together.

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
    from ._atomic import atomic_directory

    with atomic_directory(root) as made:
        joblib.dump(bundle, made / BUNDLE_FILE, compress=3)
        scorer = scorer_dict(bundle)
        if scorer is not None:
            (made / SCORER_FILE).write_text(json.dumps(scorer, sort_keys=True) + "\n", encoding="utf-8")
        meta = bundle.to_dict()
        meta["bundle_sha256"] = sha256_file(made / BUNDLE_FILE)
        if scorer is not None:
            meta["scorer_sha256"] = sha256_file(made / SCORER_FILE)
        (made / BUNDLE_JSON).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        write_manifest(made)
    return root


def load_bundle_file(path, data: bytes | None = None) -> ModelBundle:
    """Unpickle a ``bundle.joblib`` **that the caller has verified** (see :func:`load_bundle`).

    Parameters
    ----------
    path : str or Path
        The file (named in messages).
    data : bytes, optional
        Its bytes as the caller read and verified them (``integrity.read_files``,
        ``verify_manifest(..., contents=...)``): these are unpickled, not the file, which may
        have been replaced since. Without them the file is read now.

    Raises
    ------
    ModelIntegrityError
        The file does not hold a :class:`ModelBundle`.
    """
    import io

    import joblib

    obj = joblib.load(Path(path) if data is None else io.BytesIO(data))
    if not isinstance(obj, ModelBundle):
        raise ModelIntegrityError(f"{str(path)!r} does not hold a ca125kinetics ModelBundle "
                                  f"(got {type(obj).__name__}); re-export the model")
    return obj


def load_bundle(directory) -> ModelBundle:
    """Verify a saved-bundle directory's manifest, then load its bundle (the bytes that were
    verified: the file is read once).

    Raises
    ------
    ModelIntegrityError
        Manifest missing or a file changed, missing or unknown (nothing is unpickled then).
    """
    root = Path(directory)
    path = (root / BUNDLE_FILE).resolve()
    contents = read_files(path)
    verify_manifest(root, contents)
    if path not in contents:
        raise ModelIntegrityError(f"{str(root)!r} holds no {BUNDLE_FILE}; give a directory written by save_bundle")
    return load_bundle_file(root / BUNDLE_FILE, contents[path])


def __getattr__(name: str):
    # Exported models before the "models from code" format pickled the pyfunc class as
    # ``ca125kinetics.bundle.Ca125PyfuncModel``; unpickling them (``mlflow.pyfunc.load_model``
    # on an old export) looks the class up here; it lives in ca125kinetics.mlflow_model (a
    # PEP 562 re-export for old pickles only: nothing in this module uses it).
    if name == "Ca125PyfuncModel":
        from .mlflow_model import Ca125PyfuncModel

        return Ca125PyfuncModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
