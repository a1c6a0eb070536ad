"""Train, compare, register and export complete-resection classifiers (``ca125 train``).

One call takes a cohort (markers + clinical tables) to a tracked, compared, registered and
exported model:

1. **Read and build** -- both tables through the package readers (``on_error="flag"``), then
   one row per patient (:func:`ca125kinetics.features.build_patient_frame`).
2. **Exclusions** -- only patients with a known ``complete_resection`` and valid input are
   fitted or evaluated; every excluded patient is counted with the reason
   (:attr:`TrainingResult.exclusions`), never dropped silently.
3. **Held-out split** -- a stratified held-out set (``cv.holdout_fraction``) is set aside
   before anything is fitted; it is used once, at the end, for the final comparison.
4. **Repeated stratified cross-validation** on the development set: every model family
   (:data:`ca125kinetics.models.FAMILIES`) is fitted as ONE Pipeline on each training fold
   (the kinetics population learned inside the fold, cached with ``joblib.Memory`` so the
   fold's population is fitted once for all families) and scored on the test fold; the
   published scores (AGO, iMODEL, MSKCC; ``scores.published_scores``) are scored on the
   **same folds**. Metrics (``validation.metrics``): AUC (Mann-Whitney), Brier,
   calibration-in-the-large (CITL: ``a`` in ``logit P(y) = a + logit p``) and calibration
   slope (``b`` in ``logit P(y) = a + b logit p``).
5. **Model selection** (rule recorded with its reason): ``"one_se"`` -- the simplest family
   (order of ``FAMILIES``) whose mean CV AUC is within one standard error (sd of the fold
   AUCs / sqrt(folds)) of the best mean (Hastie, Tibshirani & Friedman, ESL 2nd ed.,
   section 7.10); ``"best"`` -- the best mean CV AUC.
6. **Recalibration** (``recalibration.mode``): logistic recalibration ``logit p' = a + b
   logit p`` with ``a, b`` fitted on the pooled out-of-fold predictions of the selected
   family; ``"auto"`` applies it only when the out-of-fold calibration slope differs from 1
   or the CITL from 0 by more than the tolerances, and never with a fitted slope ``b <= 0``
   (it would reverse the ranking: a warning says so) nor to risks that separate the outcomes
   (no finite slope); ``"always"`` then raises.
7. **Final model** -- the selected family refitted on the whole development set (with the
   recalibration), a bootstrap ensemble for ``p_low``/``p_high``
   (``bundle.ModelBundle.predict_proba``), and ``k_ref`` recalibrated when asked.
8. **Held-out evaluation** -- every family (fitted on the development set) and every
   published score on the held-out patients: AUC with DeLong 95 % CI, Brier, CITL and slope
   with Wald CIs, paired DeLong differences against AGO, iMODEL and MSKCC.
9. **Landmarks** (:mod:`ca125kinetics.landmarks`) -- one model per landmark (day 35, after
   cycles 2, 3, 4) on the series truncated at it: the selected family with its
   hyperparameters and the final model's kinetics population, fitted on the development
   patients who reached the landmark, evaluated on the held-out patients who reached it
   (AUC, calibration, agreement with the final decision), shipped in the bundle.
10. **MLflow** (:mod:`ca125kinetics.tracking`) and **export** (:func:`mlflow_model.export_model`).

Published scores are compared by their numeric ranking (higher = more likely complete
resection; ``scores.score_for_auc``) for the AUC. For Brier and calibration each score is
mapped to a probability by a logistic regression of the outcome on the score, **fitted on
the training fold only** (on the development set for the held-out evaluation). Patients
whose score is unknown (missing input) are left out of that score's metrics; the number
scored is reported beside each metric.

Computation never prints; the progress bar and the summary table are presentation, in
:func:`cli_train` and :func:`format_summary`.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import math
import os
import re
import sys
import tempfile
import time
import tomllib
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from . import _FunctionModule
from ._logistic import expit
from .errors import InsufficientDataError, InvalidInputError, hide_password
from .landmarks import LandmarkSettings, landmark_metrics
from .models import FAMILIES, hyperparameters, with_kinetics_settings
from .settings import GcigSettings, KineticsSettings
from .synth import SYNTHETIC_ATTR
from .task import DEFAULT_TASK, OVARIAN_COMPARATORS, RESPONSE_COMPARATORS, TaskSpec

# ``ca125kinetics.train`` is this module and, called, the function ``train`` (see _FunctionModule)
sys.modules[__name__].__class__ = _FunctionModule

__all__ = [
    "TrainingConfig",
    "TrainingResult",
    "load_config",
    "fit_and_evaluate",
    "train",
    "summary_table",
    "format_summary",
    "landmark_table",
    "model_card",
    "model_version",
    "PUBLISHED_SCORES",
    "DEFAULT_NAME",
]

#: Published scores compared with the models (columns of ``scores.score_for_auc``).
PUBLISHED_SCORES = ("ago", "imodel", "mskcc")
_SCORE_LABELS = {"ago": "AGO", "imodel": "iMODEL", "mskcc": "MSKCC"}
#: Default registered model name.
DEFAULT_NAME = "ca125-complete-resection"
_SELECTION_RULES = ("one_se", "best")
_RECALIBRATION_MODES = ("auto", "always", "never")
_METRICS = ("auc", "brier", "citl", "calibration_slope")
#: Fewest patients of each outcome on which a model or score is evaluated (DeLong AUC interval).
_MIN_PER_OUTCOME = 2


# ============================================================================ configuration


@dataclass(frozen=True)
class TrainingConfig:
    """Settings of one training run (``training/*.toml``; defaults = ``training/default.toml``).

    Parameters
    ----------
    seed : int
        Seed of every random choice: held-out split, CV shuffles, boosting's early-stopping
        split, bootstrap ensemble.
    families : tuple of str
        Model families to fit (``models.FAMILIES``).
    threshold : float
        Decision threshold on the probability, shipped in the model (default 0.70).
    n_splits, n_repeats : int
        Repeated stratified K-fold cross-validation (default 5 x 2).
    holdout_fraction : float
        Stratified held-out share, in [0, 0.5]; 0 = none (the final comparison then uses the
        pooled out-of-fold predictions of the first repeat).
    n_jobs : int
        Folds fitted in parallel processes (joblib/loky); results are identical for any value.
    selection_rule : {"one_se", "best"}
    recalibration : {"auto", "always", "never"}
    slope_tolerance, intercept_tolerance : float
        ``auto`` recalibrates when ``|slope - 1| > slope_tolerance`` or
        ``|CITL| > intercept_tolerance`` (pooled out-of-fold predictions).
    interval_n_bootstrap : int
        Members of the bootstrap ensemble for ``p_low``/``p_high`` (0: no interval).
    interval_level : float
    k_ref : "default", "cohort_median" or float
        ``"default"``: ``kinetics.k_ref`` as configured (0.05/day unless set);
        ``"cohort_median"``: the median population-EB ``k`` of the development patients
        scored ``ok``; a number: that value (per day). Recorded in ``k_ref_source``.
    kinetics, gcig : KineticsSettings, GcigSettings
    landmarks : LandmarkSettings
        Landmarks at which a model of the truncated series is trained and evaluated
        (``[landmarks]``; :mod:`ca125kinetics.landmarks`).
    model_params : dict
        ``family -> {hyperparameter: value}`` overrides (``[models.<family>]``).
    source : str
        Where the configuration came from (file path or "built-in defaults").
    """

    seed: int = 20261121
    families: tuple[str, ...] = FAMILIES
    threshold: float = 0.70
    n_splits: int = 5
    n_repeats: int = 2
    holdout_fraction: float = 0.2
    n_jobs: int = 2
    selection_rule: str = "one_se"
    recalibration: str = "auto"
    slope_tolerance: float = 0.10
    intercept_tolerance: float = 0.10
    interval_n_bootstrap: int = 40
    interval_level: float = 0.95
    k_ref: str | float = "cohort_median"
    kinetics: KineticsSettings = field(default_factory=KineticsSettings)
    gcig: GcigSettings = field(default_factory=GcigSettings)
    landmarks: LandmarkSettings = field(default_factory=LandmarkSettings)
    model_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: str = "built-in defaults"
    task: TaskSpec = DEFAULT_TASK

    def __post_init__(self):
        where = f"training config ({self.source})"

        def bad(key, what, value):
            raise InvalidInputError(f"{where}: {key} must be {what}, got {value!r}")

        if not _is_int(self.seed) or not 0 <= self.seed < 2**32:
            bad("seed", "an integer from 0 to 4294967295 (the seeds numpy and scikit-learn take)", self.seed)
        if isinstance(self.families, str):
            bad("families", f"a list of names, e.g. [{self.families!r}]", self.families)
        fams = tuple(self.families)
        if not fams or any(f not in FAMILIES for f in fams) or len(set(fams)) != len(fams):
            bad("families", f"a non-empty list of distinct names from {list(FAMILIES)}", list(fams))
        object.__setattr__(self, "families", fams)
        if not _is_real(self.threshold) or not 0 < self.threshold < 1:
            bad("threshold", "a probability in (0, 1)", self.threshold)
        if not _is_int(self.n_splits) or self.n_splits < 2:
            bad("cv.n_splits", "an integer >= 2", self.n_splits)
        if not _is_int(self.n_repeats) or self.n_repeats < 1:
            bad("cv.n_repeats", "an integer >= 1", self.n_repeats)
        if not _is_real(self.holdout_fraction) or not 0 <= self.holdout_fraction <= 0.5:
            bad("cv.holdout_fraction", "a number in [0, 0.5]", self.holdout_fraction)
        if not _is_int(self.n_jobs) or self.n_jobs < 1:
            bad("cv.n_jobs", "an integer >= 1", self.n_jobs)
        if self.selection_rule not in _SELECTION_RULES:
            bad("selection.rule", f"one of {_SELECTION_RULES}", self.selection_rule)
        if self.recalibration not in _RECALIBRATION_MODES:
            bad("recalibration.mode", f"one of {_RECALIBRATION_MODES}", self.recalibration)
        for key in ("slope_tolerance", "intercept_tolerance"):
            if not _is_real(getattr(self, key)) or getattr(self, key) < 0:
                bad(f"recalibration.{key}", "a non-negative number", getattr(self, key))
        if not _is_int(self.interval_n_bootstrap) or self.interval_n_bootstrap < 0:
            bad("interval.n_bootstrap", "a non-negative integer", self.interval_n_bootstrap)
        if self.interval_n_bootstrap == 1:
            bad("interval.n_bootstrap", "0 (no interval) or at least 2", self.interval_n_bootstrap)
        if not _is_real(self.interval_level) or not 0 < self.interval_level < 1:
            bad("interval.level", "a number in (0, 1)", self.interval_level)
        if isinstance(self.k_ref, str):
            if self.k_ref not in ("default", "cohort_median"):
                bad("kinetics.k_ref", "'default', 'cohort_median' or a positive number", self.k_ref)
        elif not _is_real(self.k_ref) or not 0 < self.k_ref < math.inf:
            bad("kinetics.k_ref", "'default', 'cohort_median' or a positive number", self.k_ref)
        if not isinstance(self.task, TaskSpec):
            raise InvalidInputError(f"{where}: task must be a TaskSpec")
        if not isinstance(self.kinetics, KineticsSettings) or not isinstance(self.gcig, GcigSettings):
            raise InvalidInputError(f"{where}: kinetics/gcig must be KineticsSettings/GcigSettings")
        if not isinstance(self.landmarks, LandmarkSettings):
            raise InvalidInputError(f"{where}: landmarks must be a LandmarkSettings")
        try:
            self.landmarks.landmarks(self.kinetics)
        except InvalidInputError as exc:
            raise InvalidInputError(f"{where}: [landmarks]: {exc}") from None
        for family, params in dict(self.model_params).items():
            if family not in FAMILIES:
                bad(f"models.{family}", f"a section of a known family {list(FAMILIES)}", family)
            try:
                hyperparameters(family, params)
            except InvalidInputError as exc:
                raise InvalidInputError(f"{where}: [models.{family}]: {exc}") from None

    @property
    def n_folds(self) -> int:
        return self.n_splits * self.n_repeats

    def hyperparameters(self, family: str) -> dict[str, Any]:
        """Hyperparameters of ``family`` (package defaults updated by the config)."""
        return hyperparameters(family, self.model_params.get(family))

    def to_dict(self) -> dict[str, Any]:
        """Nested dict in the layout of the TOML file (JSON-ready)."""
        kinetics = {"k_ref": self.k_ref}
        default_k = KineticsSettings()
        kinetics.update({k: v for k, v in self.kinetics.to_dict().items()
                         if k not in ("k_ref", "k_ref_source") and v != getattr(default_k, k)})
        gcig = {k: v for k, v in self.gcig.to_dict().items() if v != getattr(GcigSettings(), k)}
        return {
            "seed": self.seed, "families": list(self.families), "threshold": self.threshold,
            "cv": {"n_splits": self.n_splits, "n_repeats": self.n_repeats,
                   "holdout_fraction": self.holdout_fraction, "n_jobs": self.n_jobs},
            "selection": {"rule": self.selection_rule},
            "recalibration": {"mode": self.recalibration, "slope_tolerance": self.slope_tolerance,
                              "intercept_tolerance": self.intercept_tolerance},
            "interval": {"n_bootstrap": self.interval_n_bootstrap, "level": self.interval_level},
            "kinetics": kinetics, "gcig": gcig, "landmarks": self.landmarks.to_dict(),
            "models": {f: self.hyperparameters(f) for f in self.families},
            # the default task is implicit (training/default.toml has no [task]): its runs keep
            # the parameters, and so the model versions, they had before tasks existed
            **({} if self.task == DEFAULT_TASK else {"task": self.task.to_dict()}),
        }

    def to_params(self) -> dict[str, str]:
        """Flat ``{"section.key": str(value)}`` mapping (MLflow params); ``n_jobs`` omitted
        because it cannot change a result."""
        out: dict[str, str] = {"config.source": self.source}

        def walk(prefix, value):
            if isinstance(value, dict):
                for k, v in value.items():
                    walk(f"{prefix}.{k}" if prefix else str(k), v)
            else:
                out[prefix] = json.dumps(value) if isinstance(value, list) else str(value)

        data = self.to_dict()
        data["cv"].pop("n_jobs")
        walk("", data)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "dict") -> TrainingConfig:
        """Build from the TOML layout (see ``training/README.md``); unknown keys are errors."""
        data = dict(data)
        where = f"training config ({source})"
        sections = {
            "cv": {"n_splits": "n_splits", "n_repeats": "n_repeats", "holdout_fraction": "holdout_fraction",
                   "n_jobs": "n_jobs"},
            "selection": {"rule": "selection_rule"},
            "recalibration": {"mode": "recalibration", "slope_tolerance": "slope_tolerance",
                              "intercept_tolerance": "intercept_tolerance"},
            "interval": {"n_bootstrap": "interval_n_bootstrap", "level": "interval_level"},
        }
        top = {"seed", "families", "threshold"}
        known = top | set(sections) | {"kinetics", "gcig", "landmarks", "models", "task"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidInputError(f"{where}: unknown key(s) {unknown}; valid top-level keys are {sorted(known)}")
        kwargs: dict[str, Any] = {k: data[k] for k in top if k in data}
        for name, mapping in sections.items():
            section = _section(data, name, where)
            bad = sorted(set(section) - set(mapping))
            if bad:
                raise InvalidInputError(f"{where}: unknown key(s) {bad} in [{name}]; valid: {sorted(mapping)}")
            kwargs.update({mapping[k]: v for k, v in section.items()})
        kinetics = dict(_section(data, "kinetics", where))
        if "k_ref" in kinetics:
            kwargs["k_ref"] = kinetics.pop("k_ref")
        if "k_ref_source" in kinetics:     # a KineticsSettings field, but the run writes it
            raise InvalidInputError(
                f"{where}: [kinetics]: k_ref_source is not a setting: the run records where k_ref came from "
                "('cohort_median': the development patients' median k; a number: this configuration; "
                "'default': the package's value); remove it")
        for name, cls_ in (("kinetics", KineticsSettings), ("gcig", GcigSettings), ("landmarks", LandmarkSettings)):
            values = kinetics if name == "kinetics" else _section(data, name, where)
            try:
                kwargs[name] = cls_.from_dict(values)
            except (InvalidInputError, TypeError) as exc:
                raise InvalidInputError(f"{where}: [{name}]: {exc}") from None
        models = _section(data, "models", where)
        kwargs["model_params"] = {f: dict(_section(models, f, where)) for f in models}
        if "families" in kwargs and not isinstance(kwargs["families"], str):   # a string is refused by name
            kwargs["families"] = tuple(kwargs["families"])
        if "task" in data:
            try:
                kwargs["task"] = TaskSpec.from_dict(dict(_section(data, "task", where)))
            except (InvalidInputError, TypeError) as exc:
                raise InvalidInputError(f"{where}: {exc}") from None
        return cls(source=source, **kwargs)

    @classmethod
    def from_toml(cls, path) -> TrainingConfig:
        """Read a ``training/*.toml`` file (``tomllib``)."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InvalidInputError(f"training config {str(path)!r} not found; give a path such as "
                                    "training/default.toml") from None
        except tomllib.TOMLDecodeError as exc:
            raise InvalidInputError(f"training config {str(path)!r} is not valid TOML: {exc}") from None
        return cls.from_dict(data, source=str(path))


def _section(data: dict, name: str, where: str) -> dict:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise InvalidInputError(f"{where}: [{name}] must be a table, got {value!r}")
    return value


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
        and math.isfinite(float(value))


#: Configurations known by name (``--config default``), wherever the command runs. The
#: built-in defaults are those of ``training/default.toml`` (a test keeps them identical).
NAMED_CONFIGS = {"default": "built-in defaults (= training/default.toml)"}


def load_config(config=None) -> TrainingConfig:
    """A :class:`TrainingConfig` from None (defaults), a name, a TOML path, a dict or a config.

    A string that names no existing file and has no ``.toml`` suffix or directory part is a
    configuration name: ``"default"`` (:data:`NAMED_CONFIGS`) is the built-in default
    configuration, found from any working directory; another name is an error listing them.
    """
    if config is None:
        return TrainingConfig()
    if isinstance(config, TrainingConfig):
        return config
    if isinstance(config, dict):
        return TrainingConfig.from_dict(config)
    if isinstance(config, str) and not Path(config).exists() and Path(config).name == config \
            and not config.lower().endswith(".toml"):
        if config in NAMED_CONFIGS:
            return TrainingConfig(source=NAMED_CONFIGS[config])
        raise InvalidInputError(f"unknown training configuration name {config!r}; use one of "
                                f"{sorted(NAMED_CONFIGS)} or the path of a .toml file")
    if isinstance(config, (str, os.PathLike)):
        return TrainingConfig.from_toml(config)
    raise InvalidInputError(f"config must be None, a path to a TOML file, a dict or a TrainingConfig, "
                            f"got {type(config).__name__}")


# ============================================================================ result


@dataclass(frozen=True)
class TrainingResult:
    """Everything one training run computed (frozen; tables are pandas DataFrames).

    Attributes
    ----------
    bundle : ModelBundle
        The selected, final model.
    config : TrainingConfig
    selected : str
        Selected family; ``selection_reason`` says why (rule and numbers).
    recalibration : dict
        ``applied`` (bool), ``intercept``, ``slope`` (of the applied recalibration, or 0/1),
        ``oof_citl``, ``oof_slope`` (calibration of the pooled out-of-fold predictions),
        ``reason``.
    k_ref : dict
        ``value`` (per day) and ``source``.
    exclusions : DataFrame
        ``reason``, ``n``: patients not used, and why (one row per reason; empty if none).
    n_patients, n_used, n_events, n_development, n_holdout : int
    data_digest : str
        SHA-256 of the canonical markers and clinical tables (CSV rendering).
    cv_folds : DataFrame
        One row per (model or score, repeat, fold): ``model``, ``kind`` ("model" or
        "published_score"), ``repeat``, ``fold``, ``n``, ``n_events``, ``auc``, ``brier``,
        ``citl``, ``calibration_slope``.
    cv_summary : DataFrame
        One row per model or score: ``model``, ``kind``, ``<metric>_mean``, ``<metric>_sd``
        for the metrics above, ``auc_se`` (sd / sqrt(folds)), ``n_folds``.
    evaluation : DataFrame
        Final comparison, one row per model or score (``evaluation_set`` says "held-out" or
        "cross-validated"): ``model``, ``kind``, ``selected``, ``n``, ``n_events``, ``auc``,
        ``auc_ci_low``, ``auc_ci_high``, ``brier``, ``citl`` (+ CI), ``calibration_slope``
        (+ CI), and for the models ``delta_auc_vs_<score>`` with ``_ci_low``, ``_ci_high``,
        ``_p`` and ``_n`` (paired DeLong on the patients the score covers).
    predictions : DataFrame
        Evaluation-set predictions: ``patient_id``, ``y``, one probability column per model
        family (``p_<family>``), ``p_selected`` (final model), and the raw published
        scores (``ago``, ``imodel``, ``mskcc``).
    oof_predictions : DataFrame
        ``patient_id``, ``repeat``, ``fold``, ``y`` and ``p_<family>`` for every CV test fold.
    timings : dict
        Seconds per stage.
    warnings : tuple of str
        Non-fatal problems met (e.g. a calibration slope not estimable in a fold).
    input_example : DataFrame
        Pyfunc input (markers rows with clinical columns repeated) of two evaluation patients,
        for the MLflow signature and input example.
    landmarks : DataFrame or None
        One row per landmark (:data:`ca125kinetics.landmarks.LANDMARK_COLUMNS`): the window,
        whether its model was fitted (and why not), the evaluation patients who reached it,
        AUC (DeLong CI), Brier, CITL and slope (Wald CIs), and the agreement of its decision
        with the final one (Wilson CI). None when no landmark is configured.
    run_id, model_uri, registered_name, registered_version, tracking_uri, export_dir
        Filled by :func:`train` (None from :func:`fit_and_evaluate`).
    missing : dict
        Among the patients used: how many have each clinical predictor unknown (filled by the
        models' missing-value handling, never dropped), and how many have no marker sample at
        all (``"no <marker> sample"``: kinetics unknown); only counts above 0.
    synthetic_source : str
        How the cohort came to be called synthetic or not (declared by the user, or detected
        from a ``params.json`` of ``ca125 synth``); in the model card and the MLflow params.
    read_options : dict
        How the tables were read (``sep``, ``decimal``, ``thousands``, ``date_format``,
        ``columns``; only those given); the model card's command repeats them.
    """

    bundle: Any
    config: TrainingConfig
    selected: str
    selection_reason: str
    recalibration: dict[str, Any]
    k_ref: dict[str, Any]
    exclusions: pd.DataFrame
    n_patients: int
    n_used: int
    n_events: int
    n_development: int
    n_holdout: int
    data_digest: str
    cv_folds: pd.DataFrame
    cv_summary: pd.DataFrame
    evaluation: pd.DataFrame
    evaluation_set: str
    predictions: pd.DataFrame
    oof_predictions: pd.DataFrame
    timings: dict[str, float]
    warnings: tuple[str, ...] = ()
    input_example: pd.DataFrame | None = None
    landmarks: pd.DataFrame | None = None
    run_id: str | None = None
    model_uri: str | None = None
    registered_name: str | None = None
    registered_version: str | None = None
    tracking_uri: str | None = None
    export_dir: str | None = None
    synthetic_source: str = ""
    missing: dict[str, int] = field(default_factory=dict)
    read_options: dict[str, Any] = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """The final comparison table (:attr:`evaluation`)."""
        return self.evaluation.copy()

    def metrics(self) -> dict[str, float]:
        """Flat numeric summary of the selected model (for MLflow and determinism checks)."""
        ev = self.evaluation.set_index("model")
        row = ev.loc[self.selected]
        cv = self.cv_summary.set_index("model").loc[self.selected]
        out = {f"cv_{m}_mean": float(cv[f"{m}_mean"]) for m in _METRICS}
        out.update({f"cv_{m}_sd": float(cv[f"{m}_sd"]) for m in _METRICS})
        prefix = "holdout" if self.evaluation_set == "held-out" else "oof"
        for column in ("auc", "auc_ci_low", "auc_ci_high", "brier", "citl", "calibration_slope"):
            out[f"{prefix}_{column}"] = float(row[column])
        for score in self.config.task.comparators:
            if f"delta_auc_vs_{score}" in row.index:
                out[f"{prefix}_delta_auc_vs_{score}"] = float(row[f"delta_auc_vs_{score}"])
        out.update(landmark_metrics(self.landmarks))  # landmark.<key>.<metric>
        return out


# ============================================================================ computation


def _read_inputs(markers, clinical, task: TaskSpec = DEFAULT_TASK, read_options: dict | None = None,
                 duplicates: str = "error"):
    """The two tables read (``on_error="flag"``) with ``read_options``: how they are written
    (``sep``, ``decimal``, ``thousands``, ``date_format``) and ``columns`` (renames), as
    ``ca125 score`` and ``validate`` read them; same-day samples by ``duplicates`` (the
    configuration's ``GcigSettings.duplicates``, which the model then scores with)."""
    from .io import CLINICAL_REQUIRED, checked_read_options, read_clinical, read_markers

    options = checked_read_options(read_options)

    if clinical is None:
        raise InvalidInputError(f"training needs the clinical table ({task.outcome} is the outcome); "
                                "pass clinical=<path or DataFrame>")
    # the outcome is required as the readers require a column: their refusal lists the columns
    # found and how to map one of another name (the ovarian predictors are the default task's;
    # another task declares its own)
    require = (*CLINICAL_REQUIRED, task.outcome) if task.is_default else ("patient_id", task.outcome,
                                                                          *task.predictors)
    clin = read_clinical(clinical, on_error="flag", require=require, **options)
    mk = read_markers(markers, clinical=clin, on_error="flag", marker=task.marker, duplicates=duplicates,
                      factors=None if task.is_default else task.predictors, **options)
    return mk, clin


#: Duplicate patients named in the warning of :func:`_duplicate_patients`.
_DUPLICATES_NAMED = 5


def _duplicate_patients(markers: pd.DataFrame, clinical: pd.DataFrame, task: TaskSpec, caught: list) -> int:
    """Warn about patients entered twice under different identifiers: the same marker series
    (every column of every sample, at least two samples) and the same clinical row (every
    column but the identifier and the outcome). One in the training folds and one in the
    test fold or held-out set inflates the cross-validated and held-out metrics. Returns the
    number of patients that repeat another (0 when none)."""
    ignore = {"patient_id", "problem"}
    mk = markers.sort_values(["patient_id", "day"], kind="stable")
    ids = mk["patient_id"].astype(str).to_numpy()
    if len(ids) == 0:
        return 0
    rows = pd.util.hash_pandas_object(mk.drop(columns=[c for c in mk.columns if c in ignore]),
                                      index=False).to_numpy()
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    counts = np.diff(np.r_[starts, len(ids)])
    position = np.arange(len(ids)) - np.repeat(starts, counts)
    with np.errstate(over="ignore"):    # a polynomial hash of each series, modulo 2**64
        weights = np.uint64(0x9E3779B97F4A7C15) ** (position.astype(np.uint64) + np.uint64(1))
        series = np.add.reduceat(rows * weights, starts)
    series = pd.Series(series, index=ids[starts])[counts >= 2]
    clin = clinical.drop_duplicates("patient_id", keep=False)
    clin = clin.set_index(clin["patient_id"].astype(str))
    keep = [c for c in clin.columns if c not in ignore | {task.outcome}]
    row = pd.Series(pd.util.hash_pandas_object(clin[keep], index=False).to_numpy(), index=clin.index)
    series = series[series.index.isin(row.index)]
    signature = pd.DataFrame({"series": series.to_numpy(), "row": row.reindex(series.index).to_numpy()},
                             index=series.index)
    repeated = signature[signature.duplicated(keep=False)]
    if repeated.empty:
        return 0
    groups = [sorted(g) for g in repeated.groupby(["series", "row"]).groups.values()]
    groups.sort()
    named = "; ".join(" = ".join(repr(i) for i in g) for g in groups[:_DUPLICATES_NAMED])
    more = f" (and {len(groups) - _DUPLICATES_NAMED} more groups)" if len(groups) > _DUPLICATES_NAMED else ""
    extra = sum(len(g) - 1 for g in groups)
    caught.append(
        f"{extra} patient(s) repeat another under a different patient_id (the same {task.marker} series and "
        f"clinical row): {named}{more}; a patient entered twice can fall in both a training and a test fold "
        "and inflate the cross-validated and held-out metrics: keep one row set per patient")
    return extra


def data_digest(markers: pd.DataFrame, clinical: pd.DataFrame) -> str:
    """SHA-256 of the canonical tables (CSV, sorted, ``\\n`` line ends, repr floats)."""
    digest = hashlib.sha256()
    for name, frame, keys in (("markers", markers, ["patient_id", "day"]), ("clinical", clinical, ["patient_id"])):
        ordered = frame.sort_values(keys, kind="stable")
        digest.update(name.encode())
        digest.update(ordered.to_csv(index=False, lineterminator="\n", date_format="%Y-%m-%d").encode())
    return digest.hexdigest()


def _outcome_values(clin: pd.DataFrame, ids: pd.Series, column: str) -> np.ndarray:
    """The binary outcome as 1.0/0.0/NaN; any other value is refused (never guessed)."""
    raw = clin[column].reindex(ids)
    if pd.api.types.is_numeric_dtype(raw) or pd.api.types.is_bool_dtype(raw):
        values = raw.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    else:
        text = raw.astype(object).map(lambda v: None if pd.isna(v) or str(v).strip() == "" else str(v).strip())
        values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
        bad = text.notna().to_numpy() & np.isnan(values)
        if bad.any():
            raise InvalidInputError(f"outcome {column!r} of patient {ids.iloc[np.flatnonzero(bad)[0]]!r} is "
                                    f"{text[bad].iloc[0]!r}; give 1, 0 or leave it empty", column=column)
    bad = ~np.isnan(values) & ~np.isin(values, (0.0, 1.0))
    if bad.any():
        raise InvalidInputError(f"outcome {column!r} of patient {ids.iloc[np.flatnonzero(bad)[0]]!r} is "
                                f"{values[bad][0]:g}; give 1, 0 or leave it empty", column=column)
    return values


def _restaging_gate(clin: pd.DataFrame, ids: pd.Series) -> np.ndarray:
    """Per patient, whether the recorded clinical restaging is ycT<=3 N0 M0 (RESET's
    inclusion 6, :func:`ca125kinetics.eligibility.downstaging_criterion`, evaluated as the
    screen evaluates it): 1.0, 0.0, or NaN when the stages recorded cannot tell (a known
    stage outside the criterion says 0 whatever the others; all of them within it say 1)."""
    from .eligibility import criterion_values, downstaging_criterion

    criterion = downstaging_criterion()
    fields = {}
    for column in criterion.fields:     # a column not in the table: every stage unknown
        stage = (clin[column].reindex(ids).to_numpy(dtype=object) if column in clin.columns
                 else np.full(len(ids), None, dtype=object))
        fields[column] = [None if pd.isna(v) else v for v in stage]
    return np.array([np.nan if v is None else float(v) for v in criterion_values(criterion, fields)])


def _exclusions(frame: pd.DataFrame, clinical: pd.DataFrame,
                task: TaskSpec = DEFAULT_TASK) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """(used mask, outcome 0/1 as float with NaN, exclusion counts) aligned with ``frame``."""
    clin = clinical.set_index(clinical["patient_id"].astype(str))
    ids = frame["patient_id"].astype(str)
    in_clinical = ids.isin(clin.index).to_numpy()
    outcome = (clin["complete_resection"].reindex(ids).astype("Float64").to_numpy(dtype=float, na_value=np.nan)
               if task.is_default else _outcome_values(clin, ids, task.outcome))
    arm = (clin["arm"].reindex(ids).to_numpy(dtype=object) if "arm" in clin.columns
           else np.full(len(ids), None, dtype=object))
    invalid = frame["problem"].notna().to_numpy()
    _refuse_bad_outcome(frame["problem"], ids, task)
    reason = np.full(len(ids), None, dtype=object)
    reason[np.isnan(outcome)] = f"no outcome: {task.outcome} is empty"
    reason[np.isnan(outcome) & (arm == "no_surgery")] = "no outcome: no_surgery arm (not operated)"
    # an outcome of the operation recorded for a patient who was not operated contradicts the
    # arm (a 0 may code "not resected because not operated"): neither is learned from
    reason[~np.isnan(outcome) & (arm == "no_surgery")] = (f"contradictory: {task.outcome} given for the no_surgery "
                                                          "arm (not operated)")
    if task.outcome == "downstaged":
        # downstaging is defined by the restaging (ycT<=3 N0 M0): a label that the recorded
        # restaging contradicts is an error in one of them, and neither is learned from
        gate = _restaging_gate(clin, ids)
        known = ~np.isnan(outcome) & ~np.isnan(gate)
        reason[known & (outcome != gate)] = ("contradictory: downstaged disagrees with the restaging recorded "
                                             "(downstaged means ycT<=3 N0 M0)")
    reason[invalid] = [_exclusion_reason(text) for text in frame["problem"].to_numpy(dtype=object)[invalid]]
    reason[~in_clinical] = "no clinical row (markers only)"
    used = np.array([r is None for r in reason], dtype=bool)
    counts = pd.Series([r for r in reason if r is not None], dtype=object).value_counts()
    table = pd.DataFrame({"reason": counts.index.astype(object), "n": counts.to_numpy(dtype=np.int64)})
    table = table.sort_values(["n", "reason"], ascending=[False, True], kind="stable").reset_index(drop=True)
    return used, outcome, table


def _missing_counts(frame: pd.DataFrame, markers: pd.DataFrame, task: TaskSpec = DEFAULT_TASK) -> dict[str, int]:
    """Unknown values among the used patients (``frame``): per clinical predictor, and the
    patients without any marker sample (see :attr:`TrainingResult.missing`)."""
    from .io import CLINICAL_REQUIRED
    from .markers import get_marker

    columns = task.predictors if not task.is_default else (*CLINICAL_REQUIRED[1:], "recist")
    out = {c: int(frame[c].isna().sum()) for c in columns if c in frame.columns}
    marker = get_marker(task.marker)
    sampled = markers.loc[markers[marker.name].notna(), "patient_id"].astype(str)
    out[f"no {marker.label} sample"] = int((~frame["patient_id"].astype(str).isin(sampled)).sum())
    return {k: v for k, v in out.items() if v}


def _exclusion_reason(problem: str) -> str:
    """Exclusion reason of a patient the readers flagged: the columns their messages name
    (``row 3, column 'age': ...``), so that the counts say what to correct; the full messages
    are in the readers' ``problem`` column (``ca125 gcig``/``io.read_clinical(on_error="flag")``)."""
    columns = sorted(set(re.findall(r"column '([^']+)'", problem)))
    return "invalid input" + (f" in column(s) {', '.join(columns)}" if columns else "")


def _refuse_bad_outcome(problems: pd.Series, ids: pd.Series, task: TaskSpec) -> None:
    """Refuse the run when the reader refused a value of the outcome column.

    The outcome is what is learned: a coding other than 1/0/empty (``1``/``2``, ``-1``,
    ``unknown``) is a coding of the whole column, never a problem of single patients, so it is
    not turned into exclusions (a ``1``/``2`` coding would otherwise leave every ``2`` patient
    out and train on one class) -- as :func:`_outcome_values` refuses it for other tasks.
    """
    where = f"column {task.outcome!r}"
    bad = problems.astype(object).map(lambda text: isinstance(text, str) and where in text).to_numpy(dtype=bool)
    if bad.any():
        first = problems[bad].iloc[0]
        detail = first[first.index(where) + len(where) + 2:].split("; ")[0]   # the reader's message
        raise InvalidInputError(
            f"outcome {task.outcome!r}: {int(bad.sum())} patient(s) have a value other than 1, 0 or empty "
            f"(first: patient {ids[bad].iloc[0]!r}, {detail}); recode the column to 1 = "
            f"{task.description}, 0 = not, empty = unknown (true/false and yes/no are read as 1/0)",
            column=task.outcome)


def _check_predictors(frame: pd.DataFrame, task: TaskSpec = DEFAULT_TASK) -> None:
    """Refuse a clinical predictor that is empty for every usable patient.

    Missing values are imputed from the patients where the predictor is known; with none
    known there is nothing to learn or impute from (and the published scores reading it are
    undefined for everyone), so the run stops here with the column named.
    """
    from .io import CLINICAL_REQUIRED

    columns = task.predictors if not task.is_default else CLINICAL_REQUIRED[1:]
    empty = [c for c in columns if c in frame.columns and frame[c].isna().all()]
    if empty:
        raise InvalidInputError(
            f"predictor column(s) {empty} are empty for all {len(frame)} usable patient(s): a model "
            "cannot learn from (or impute) a column with no known value; fill in the values, or, "
            "for a task of your own, leave the column out of [task] numeric/categorical",
            column=empty[0])


def _constant_predictors(frame: pd.DataFrame, task: TaskSpec, caught: list) -> None:
    """Warn of a clinical predictor with one value among the usable patients where it is known.

    Nothing is learned from it (a logistic coefficient stays 0, a tree never splits on it), a
    patient with another value is scored outside what the models learned, and a published
    score reading it may then not vary; often a coding or a column mapped to the wrong one.
    Not refused: the models still fit, and the cohort may truly be so (all ECOG 0-1 patients).
    """
    from .io import CLINICAL_REQUIRED

    columns = task.predictors if not task.is_default else (*CLINICAL_REQUIRED[1:], "recist")
    for column in columns:
        if column not in frame.columns:
            continue
        known = frame[column].dropna()
        if len(known) and known.nunique() == 1:
            caught.append(
                f"predictor {column!r} has one value ({known.iloc[0]}) in all {len(known)} usable patient(s) "
                "where it is known: the models learn nothing from it, and a patient with another value is "
                "scored outside what they learned; check how the column was coded and mapped (--rename), or "
                "add patients with other values")


def _published(frame: pd.DataFrame, task: TaskSpec = DEFAULT_TASK) -> pd.DataFrame:
    """Numeric comparators of ``task`` (NaN unknown) per frame row, oriented so that higher
    means the outcome is more likely (:mod:`ca125kinetics.task`)."""
    from .scores import published_scores, score_for_auc

    out = pd.DataFrame(index=range(len(frame)))
    ovarian = [c for c in task.comparators if c in OVARIAN_COMPARATORS]
    if ovarian:
        columns = ["patient_id", "ecog", "ascites_ml", "figo_stage", "primary_residual_disease", "pfi_months",
                   "recurrence_pattern", "ca125_at_recurrence", "problem"]
        columns += [c for c in ("ca125_at_recurrence_censored",) if c in frame.columns]
        scored = score_for_auc(published_scores(frame[columns].reset_index(drop=True)))
        for name in ovarian:
            out[name] = scored[name].to_numpy(dtype=float)
    for name in task.comparators:
        if name in RESPONSE_COMPARATORS:
            values = frame[RESPONSE_COMPARATORS[name]].to_numpy(dtype=float)
            out[name] = -values if name == "post_pre_ratio" else values
    return out[list(task.comparators)]


def _logistic(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Maximum-likelihood ``(a, b)`` of ``logit P(y=1) = a + b x`` (Newton, negligible penalty
    that keeps ``b`` finite when ``x`` separates the outcomes). Newton, not lbfgs: on risks of
    small spread (logits 0.07 apart) lbfgs stopped after 4 iterations at ``b = +0.87`` where
    the maximum is at ``b = -0.83``."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1e6, solver="newton-cholesky", tol=1e-12, max_iter=1000).fit(
        np.asarray(x, float).reshape(-1, 1), y)
    return float(model.intercept_[0]), float(model.coef_[0, 0])


@contextmanager
def _warnings_into(caught: list, what: str):
    """The warnings raised in the block go to ``caught``, each as ``"what: message"`` (a run's
    summary says whose figure they concern), not to the user's terminal."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        yield
    caught.extend(f"{what}: {w.message}" for w in record)


def _metric_row(y: np.ndarray, p: np.ndarray, caught: list, what: str) -> dict[str, float]:
    """n, events, AUC (+ DeLong CI), Brier, CITL and slope (+ Wald CIs) of risks ``p``; the
    warnings met go to ``caught`` naming ``what`` was measured (a model family, a published
    score, a landmark model), so that a run's summary says whose slope was not estimable."""
    from .validation.metrics import metrics

    with _warnings_into(caught, what):
        m = metrics(y, p)
    return {"n": m.n, "n_events": m.n_events, "auc": m.auc, "auc_ci_low": m.auc_ci_low,
            "auc_ci_high": m.auc_ci_high, "brier": m.brier, "citl": m.citl, "citl_ci_low": m.citl_ci_low,
            "citl_ci_high": m.citl_ci_high, "calibration_slope": m.calibration_slope,
            "calibration_slope_ci_low": m.calibration_slope_ci_low,
            "calibration_slope_ci_high": m.calibration_slope_ci_high}


def _score_probability(s_fit, y_fit, s_eval, name: str = "", task: TaskSpec = DEFAULT_TASK) -> np.ndarray:
    """Logistic recalibration of a published score, fitted on (s_fit, y_fit) only."""
    ok = ~np.isnan(s_fit)
    if min(int(y_fit[ok].sum()), int((1 - y_fit[ok]).sum())) < 2:
        raise _comparator_too_rare(name, task, int(ok.sum()), len(ok), "training patients of a fold")
    a, b = _logistic(s_fit[ok], y_fit[ok])
    return expit(a + b * s_eval)


def _comparator_too_rare(name: str, task: TaskSpec, known: int, n: int, where: str) -> InsufficientDataError:
    """The error when a comparator is known for too few patients to be evaluated."""
    others = [c for c in task.comparators if c != name]
    return InsufficientDataError(
        f"comparator {name!r} is known (every input it reads given) for only {known} of {n} {where}: too "
        "few, with both outcomes, to fit and evaluate it; fill in its inputs, or compare with the others "
        f"only: [task] comparators = {others} in the training config")


def _score_row(y_eval, s_eval, p_eval, caught: list, name: str = "",
               task: TaskSpec = DEFAULT_TASK, where: str = "evaluation patients") -> dict[str, float]:
    """Metrics of a published score: AUC from its ranking, the rest from its probability."""
    from .validation.metrics import delong_auc

    ok = ~np.isnan(s_eval)
    if min(int(y_eval[ok].sum()), int((1 - y_eval[ok]).sum())) < 2:
        raise _comparator_too_rare(name, task, int(ok.sum()), len(ok), where)
    row = _metric_row(y_eval[ok], p_eval[ok], caught, f"published score {name}")
    own = delong_auc(y_eval[ok], s_eval[ok])[0]  # the score's own ranking
    if not math.isclose(own, row["auc"], rel_tol=1e-9, abs_tol=1e-12):
        # the fitted recalibration reversed the ranking (a rule pointing the other way in these
        # data): the probability's AUC is 1 - own, with the same DeLong variance; centre the
        # interval on the score's own AUC
        below, above = row["auc"] - row["auc_ci_low"], row["auc_ci_high"] - row["auc"]
        row["auc_ci_low"], row["auc_ci_high"] = max(0.0, own - above), min(1.0, own + below)
    row["auc"] = own
    return row


def _fit_fold(frame: pd.DataFrame, y: np.ndarray, scores: np.ndarray, train: np.ndarray, test: np.ndarray,
              config: TrainingConfig, kinetics_settings: KineticsSettings) -> dict[str, Any]:
    """One CV fold: fit every family on ``train``, predict and score ``test`` (a joblib task).
    Returns the fold's kinetics population too (learned on ``train``; the same for every family,
    through the cache), the prior of the landmark models evaluated on this fold."""
    import joblib

    from .models import make_pipeline

    from threadpoolctl import threadpool_limits

    caught: list[str] = []
    probabilities: dict[str, np.ndarray] = {}
    rows = []
    population = None
    with tempfile.TemporaryDirectory(prefix="ca125-fold-") as cache, threadpool_limits(limits=1), \
            _quiet_cache_timing():
        memory = joblib.Memory(cache, verbose=0)
        for family in config.families:
            pipeline = make_pipeline(family, kinetics_settings=kinetics_settings, seed=config.seed,
                                     params=config.hyperparameters(family), memory=memory, task=config.task)
            pipeline.fit(frame.iloc[train], y[train])
            if population is None:
                population = getattr(pipeline.named_steps["kinetics"], "population_", None)
            p = pipeline.predict_proba(frame.iloc[test])[:, 1]
            probabilities[f"p_{family}"] = p
            rows.append({"model": family, "kind": "model", **_metric_row(y[test], p, caught, family)})
    for j, score in enumerate(config.task.comparators):
        s = scores[:, j]
        p = _score_probability(s[train], y[train], s[test], score, config.task)
        probabilities[f"p_{score}"] = p
        rows.append({"model": score, "kind": "published_score",
                     **_score_row(y[test], s[test], p, caught, score, config.task, "test patients of a fold")})
    return {"probabilities": probabilities, "rows": rows, "warnings": caught, "population": population}


def _parallel(n_jobs: int, tasks):
    """Run delayed tasks in order (processes when n_jobs > 1), yielding results as they end."""
    if n_jobs == 1:
        for function, args, kwargs in tasks:
            yield function(*args, **kwargs)
        return
    from joblib import Parallel

    yield from Parallel(n_jobs=n_jobs, return_as="generator")(tasks)


def _cross_validate(frame, y, scores, ids, config, ks, step):
    from joblib import delayed
    from sklearn.model_selection import RepeatedStratifiedKFold

    cv = RepeatedStratifiedKFold(n_splits=config.n_splits, n_repeats=config.n_repeats,
                                 random_state=config.seed)
    splits = list(cv.split(np.zeros(len(y)), y))
    tasks = [delayed(_fit_fold)(frame, y, scores, train, test, config, ks) for train, test in splits]
    fold_rows, oof, caught, populations = [], [], [], []
    for i, ((_, test), res) in enumerate(zip(splits, _parallel(config.n_jobs, tasks))):
        repeat, fold = divmod(i, config.n_splits)
        for row in res["rows"]:
            fold_rows.append({"repeat": repeat, "fold": fold, **row})
        part = pd.DataFrame({"patient_id": ids[test], "repeat": repeat, "fold": fold, "y": y[test].astype(int),
                             **res["probabilities"]})
        oof.append(part)
        caught.extend(f"CV repeat {repeat} fold {fold}: {w}" for w in res["warnings"])
        populations.append(res["population"])
        step(f"cross-validation fold {i + 1}/{len(splits)}")
    folds = pd.DataFrame(fold_rows)
    folds = folds[["model", "kind", "repeat", "fold", "n", "n_events", *_METRICS]]
    return folds, pd.concat(oof, ignore_index=True), caught, splits, populations


def _summarise(folds: pd.DataFrame, caught: list | None = None) -> pd.DataFrame:
    """Mean and sd over the folds of each metric. A metric not estimable in some fold (NaN: a
    calibration slope of risks that separate the outcomes) has NaN mean and sd, said in
    ``caught``: the mean of the other folds would be that of other patients, under the name of
    all the folds."""
    grouped = folds.groupby(["model", "kind"], sort=False)
    out = grouped[list(_METRICS)].agg(["mean", "std"])
    missing = folds[list(_METRICS)].isna().groupby([folds["model"], folds["kind"]], sort=False).sum()
    labels = {"auc": "AUC", "brier": "Brier score", "citl": "calibration-in-the-large",
              "calibration_slope": "calibration slope"}
    for metric in _METRICS:
        some = missing[metric].reindex(out.index) > 0
        out.loc[some, [(metric, "mean"), (metric, "std")]] = np.nan
        for (model, _kind), k in missing[metric][missing[metric] > 0].items():
            if caught is not None:
                caught.append(f"{model}: the {labels[metric]} is not estimable in {k} of "
                              f"{int(grouped.size()[(model, _kind)])} cross-validation folds, so its "
                              "cross-validated mean and sd are reported as NaN (the folds' own warnings say why)")
    out.columns = [f"{m}_{stat.replace('std', 'sd')}" for m, stat in out.columns]
    out = out.reset_index()
    out["n_folds"] = grouped.size().to_numpy()
    out["auc_se"] = out["auc_sd"] / np.sqrt(out["n_folds"])
    return out


def _select(summary: pd.DataFrame, families: tuple[str, ...], rule: str) -> tuple[str, str]:
    """Selected family and the reason, from the CV summary (see the module docstring)."""
    models = summary[summary["kind"] == "model"].set_index("model").loc[list(families)]
    best = str(models["auc_mean"].idxmax())
    best_auc, best_se = float(models.loc[best, "auc_mean"]), float(models.loc[best, "auc_se"])
    described = ", ".join(f"{f} {models.loc[f, 'auc_mean']:.4f}" for f in families)
    if rule == "best":
        return best, f"rule 'best': highest mean CV AUC ({described})"
    floor = best_auc - best_se
    chosen = next(f for f in FAMILIES if f in models.index and models.loc[f, "auc_mean"] >= floor)
    if chosen == best:
        reason = (f"rule 'one_se': {best} has the highest mean CV AUC {best_auc:.4f} (SE {best_se:.4f}) and "
                  f"no simpler family is within one SE (>= {floor:.4f}); mean CV AUCs: {described}")
    else:
        reason = (f"rule 'one_se': {best} has the highest mean CV AUC {best_auc:.4f} (SE {best_se:.4f}); the "
                  f"simpler {chosen} ({models.loc[chosen, 'auc_mean']:.4f}) is within one SE (>= {floor:.4f}) "
                  f"and is preferred; mean CV AUCs: {described}")
    return chosen, reason


def _recalibration(oof: pd.DataFrame, family: str, config: TrainingConfig, caught: list) -> dict[str, Any]:
    from .models import logit

    y = oof["y"].to_numpy(dtype=int)
    p = oof[f"p_{family}"].to_numpy(dtype=float)
    m = _metric_row(y, p, caught, f"{family} (pooled out-of-fold)")
    a, b = _logistic(logit(p), y)
    off = {"slope": abs(m["calibration_slope"] - 1.0) > config.slope_tolerance,
           "citl": abs(m["citl"]) > config.intercept_tolerance}
    described = (f"pooled out-of-fold calibration slope {m['calibration_slope']:.3f} (tolerance "
                 f"{config.slope_tolerance:g}), CITL {m['citl']:.3f} (tolerance {config.intercept_tolerance:g})")
    reverses = not (math.isfinite(b) and b > 0)
    separated = not reverses and not math.isfinite(m["calibration_slope"])
    if reverses:
        # logit p' = a + b logit p with b <= 0 ranks the patients the other way round (or all
        # alike): the selected model did not rank them in the right direction out of fold
        caught.append(
            f"the selected model ({family}) has a pooled out-of-fold calibration slope of {b:.3f} (<= 0): "
            "out of fold it does not rank patients in the right direction"
            + (", and recalibrating would reverse or flatten its ranking, so it is not recalibrated"
               if config.recalibration == "auto" else "")
            + "; add patients or predictors before using it")
        unusable = f"the fitted slope {b:.3f} is <= 0, which would reverse or flatten the ranking"
    elif separated:
        # the out-of-fold risks separate the outcomes: the slope has no finite estimate, and
        # the (penalised) fit's large slope would push every risk to 0 or 1
        unusable = ("the out-of-fold risks separate the outcomes, so the recalibration slope has no "
                    "finite estimate")
    if config.recalibration == "always":
        if reverses or separated:
            raise InsufficientDataError(
                f"recalibration.mode = 'always', but for the selected model ({family}) {unusable} "
                f"({described}); add patients or predictors, or set recalibration.mode = 'auto' or "
                "'never' in the training config")
        applied, reason = True, f"mode 'always'; {described}"
    elif config.recalibration == "never":
        applied, reason = False, f"mode 'never'; {described}"
    elif reverses or separated:
        applied, reason = False, f"mode 'auto': {described} -> {unusable}: not recalibrated"
    elif off["slope"] or off["citl"]:
        applied, reason = True, f"mode 'auto': {described} -> recalibrated"
    else:
        applied, reason = False, f"mode 'auto': {described} -> within tolerance, not recalibrated"
    return {"applied": applied, "intercept": a if applied else 0.0, "slope": b if applied else 1.0,
            "fitted_intercept": a, "fitted_slope": b, "oof_citl": m["citl"],
            "oof_slope": m["calibration_slope"], "reason": reason}


def _k_ref(config: TrainingConfig, log_k: np.ndarray, digest: str) -> KineticsSettings:
    ks = config.kinetics
    if config.k_ref == "default":
        return ks
    if config.k_ref == "cohort_median":
        k = np.exp(log_k[np.isfinite(log_k)])
        if k.size == 0:
            raise InsufficientDataError("k_ref = 'cohort_median' needs development patients with an estimated k; "
                                        "none was scored ok (set kinetics.k_ref = 'default' or a number)")
        return ks.replace(k_ref=float(np.median(k)), k_ref_source=(
            f"median population-EB k of {k.size} development patients (training data digest {digest[:12]})"))
    return ks.replace(k_ref=float(config.k_ref), k_ref_source=f"training config {config.source}")


@contextmanager
def _quiet_cache_timing():
    """Fits through the transformer cache (``joblib.Memory``) without joblib's notice that
    persisting the inputs took long ("Persisting input arguments took 5.18s"): on a loaded
    machine it follows the clock, not the inputs, and says nothing of the results (joblib:
    "results will be correct in all cases"). Every other warning passes."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Persisting input arguments took", category=UserWarning)
        yield


def _fit_final(frame, y, config, ks, selected, recal, memory):
    """Every family fitted on the development set (selected one with its recalibration)."""
    from .models import RecalibratedClassifier, make_pipeline

    fitted = {}
    for family in config.families:
        pipeline = make_pipeline(family, kinetics_settings=ks, seed=config.seed,
                                 params=config.hyperparameters(family), memory=memory, task=config.task)
        if family == selected and recal["applied"]:
            pipeline.set_params(classifier=RecalibratedClassifier(pipeline.named_steps["classifier"],
                                                                  recal["intercept"], recal["slope"]))
        # the cache is a temporary directory of this run: a shipped pipeline must not point to it
        with _quiet_cache_timing():
            fitted[family] = pipeline.fit(frame, y).set_params(memory=None)
    return fitted


def _bootstrap_member(classifier, X: np.ndarray, y: np.ndarray, seed_seq) -> Any:
    from sklearn.base import clone

    rng = np.random.default_rng(seed_seq)
    idx = rng.integers(0, len(y), len(y))
    while len(np.unique(y[idx])) < 2:  # a resample with one class cannot fit a classifier
        idx = rng.integers(0, len(y), len(y))
    return clone(classifier).fit(X[idx], y[idx])


def _interval_members(pipeline, X_kin: pd.DataFrame, y: np.ndarray, config: TrainingConfig) -> list:
    from joblib import delayed

    from .models import frozen_classifier

    if config.interval_n_bootstrap == 0:
        return []
    # members share the final pipeline's fitted preprocessing (its design matrix): only the
    # classifier is refitted, so the interval of a patient costs one matrix product
    design = np.asarray(pipeline[1:-1].transform(X_kin), dtype=float)
    classifier = frozen_classifier(pipeline)
    seeds = np.random.SeedSequence([config.seed, 1]).spawn(config.interval_n_bootstrap)
    tasks = [delayed(_bootstrap_member)(classifier, design, y, s) for s in seeds]
    return list(_parallel(config.n_jobs, tasks))


def _evaluate(y, model_p: dict[str, np.ndarray], scores: np.ndarray, score_p: dict[str, np.ndarray],
              selected: str, caught: list, names: tuple[str, ...] = PUBLISHED_SCORES,
              task: TaskSpec = DEFAULT_TASK) -> pd.DataFrame:
    """Final comparison table (models and published scores on the same patients)."""
    from .validation.metrics import delong_test

    for j, score in enumerate(names):   # each comparator is evaluable before anything is compared
        ok = ~np.isnan(scores[:, j])
        if min(int(y[ok].sum()), int((1 - y[ok]).sum())) < 2:
            raise _comparator_too_rare(score, task, int(ok.sum()), len(ok), "evaluation patients")
    rows = []
    for family, p in model_p.items():
        row = {"model": family, "kind": "model", "selected": family == selected,
               **_metric_row(y, p, caught, family)}
        for j, score in enumerate(names):
            ok = ~np.isnan(scores[:, j])
            with _warnings_into(caught, f"{family} vs {score}"):
                test = delong_test(y[ok], p[ok], scores[ok, j])
            if test.se == 0.0 and test.difference == 0.0:
                caught.append(
                    f"{family} vs {score}: the paired DeLong interval of the AUC difference has zero width: the "
                    f"two rank the {int(ok.sum())} patients' events and non-events alike (each pair the same "
                    "way), so the difference 0 and its interval 0 to 0 do not express the uncertainty of the "
                    "difference; more evaluation patients are needed to compare them")
            row.update({f"delta_auc_vs_{score}": test.difference, f"delta_auc_vs_{score}_ci_low": test.ci_low,
                        f"delta_auc_vs_{score}_ci_high": test.ci_high, f"delta_auc_vs_{score}_p": test.p_value,
                        f"delta_auc_vs_{score}_n": int(ok.sum())})
        rows.append(row)
    for j, score in enumerate(names):
        rows.append({"model": score, "kind": "published_score", "selected": False,
                     **_score_row(y, scores[:, j], score_p[score], caught, score, task)})
    return pd.DataFrame(rows)


def _feature_ranges(frame: pd.DataFrame, kin: pd.DataFrame, ks: KineticsSettings,
                    task: TaskSpec = DEFAULT_TASK) -> dict[str, tuple[float, float]]:
    k = np.exp(kin["log_k"].to_numpy(dtype=float))
    columns = (("age", "ecog", "ascites_ml", "pfi_months", "ca125_at_recurrence") if task.is_default
               else task.numeric)
    values = {c: pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
              for c in columns}
    with np.errstate(divide="ignore"):
        values.update({"k": k, "half_life_days": math.log(2) / k, "kelim_score": k / ks.k_ref})
    out = {}
    for name, v in values.items():
        v = v[np.isfinite(v)]
        if v.size:
            out[name] = (float(v.min()), float(v.max()))
    return out


def fit_and_evaluate(markers, clinical, *, config=None, name: str = DEFAULT_NAME,
                     synthetic: bool | None = None, progress: Callable[[str], None] | None = None,
                     read_options: dict | None = None) -> TrainingResult:
    """Cross-validate, select, recalibrate, fit and evaluate (no MLflow, no export).

    Parameters
    ----------
    markers, clinical : path or pandas.DataFrame
        The two tables of the data contract (read with ``on_error="flag"``: bad patients are
        excluded and counted, never silently dropped). ``clinical`` must have
        ``complete_resection``.
    config : TrainingConfig, dict, path or None
        See :class:`TrainingConfig` (None: the defaults of ``training/default.toml``).
    name : str
        Model name stored in the bundle.
    synthetic : bool, optional
        The cohort is synthetic (stored in the bundle; the model card says so in line 1).
        Default: detected as :func:`train` detects it (a ``params.json`` of ``ca125 synth``
        beside the markers file, or a markers frame of ``synth.simulate_cohort``).
    progress : callable, optional
        Called with a short description after each stage (the CLI draws a progress bar).
    read_options : dict, optional
        How the tables are written, as the readers take it: ``sep``, ``decimal``,
        ``thousands``, ``date_format``, ``columns`` (e.g. ``{"sep": ";", "decimal": ","}``,
        ``{"columns": {"ECOG": "ecog"}}``); nothing is guessed without them.

    Returns
    -------
    TrainingResult

    Raises
    ------
    InvalidInputError
        Unreadable tables, no ``complete_resection`` column, bad configuration.
    InsufficientDataError
        Too few usable patients or outcomes of one kind for the CV scheme.
    """
    from threadpoolctl import threadpool_limits

    # One BLAS/OpenMP thread per process: the problems are small, and on a shared machine
    # threads only contend (measured: a CV fold took 4x longer with 2 threads under load).
    # Parallelism is across folds (cv.n_jobs processes) instead.
    with threadpool_limits(limits=1):
        return _fit_and_evaluate(markers, clinical, load_config(config), name, synthetic, progress, read_options)


def _fit_and_evaluate(markers, clinical, config: TrainingConfig, name: str, synthetic: bool | None,
                      progress, read_options: dict | None = None) -> TrainingResult:
    from .bundle import ModelBundle
    from .features import build_patient_frame
    from .io import checked_read_options
    from .mlflow_model import pyfunc_input_example

    step = progress or (lambda _text: None)
    timings: dict[str, float] = {}
    caught: list[str] = []
    clock = time.perf_counter()

    def lap(stage):
        nonlocal clock
        now = time.perf_counter()
        timings[stage] = now - clock
        clock = now

    task = config.task
    names = task.comparators
    given = markers
    markers, clinical = _read_inputs(markers, clinical, task, read_options, config.gcig.duplicates)
    # decided on the table as read (a params.json of ca125 synth is checked against its patients)
    synthetic, synthetic_source = _synthetic_status(given, synthetic, read_options, table=markers)
    frame = build_patient_frame(markers, clinical, gcig_settings=config.gcig, kinetics_settings=config.kinetics,
                                task=task, censored_flag=True)
    digest = data_digest(markers, clinical)
    _duplicate_patients(markers, clinical, task, caught)
    used, outcome, exclusions = _exclusions(frame, clinical, task)
    scores_all = _published(frame, task).to_numpy(dtype=float)
    frame = frame.drop(columns=["ca125_at_recurrence_censored"], errors="ignore")    # not a model input
    frame = frame[used].reset_index(drop=True)
    y = outcome[used].astype(int)
    scores = scores_all[used]
    ids = frame["patient_id"].to_numpy(dtype=object)
    _check_counts(y, config, task, exclusions)
    _check_predictors(frame, task)
    _constant_predictors(frame, task, caught)
    missing = _missing_counts(frame, markers, task)
    _check_markers_matched(frame, markers, missing, task)
    lap("read_and_build")
    step("read tables and built the patient frame")

    dev, hold = _holdout_split(y, config, task)
    f_dev, y_dev, s_dev = frame.iloc[dev].reset_index(drop=True), y[dev], scores[dev]
    folds, oof, fold_warnings, cv_splits, cv_populations = _cross_validate(f_dev, y_dev, s_dev, ids[dev], config,
                                                                          config.kinetics, step)
    caught.extend(fold_warnings)
    summary = _summarise(folds, caught)
    selected, reason = _select(summary, config.families, config.selection_rule)
    cv_auc = float(summary.set_index("model").loc[selected, "auc_mean"])
    if cv_auc <= 0.5:
        caught.append(
            f"the selected model ({selected}) has a mean cross-validated AUC of {cv_auc:.3f}: out of fold it "
            "ranks patients no better than chance, and no family did better; it is still selected and "
            "exported, but add patients or predictors before using it")
    recal = _recalibration(oof, selected, config, caught)
    lap("cross_validation")

    import joblib

    with tempfile.TemporaryDirectory(prefix="ca125-final-") as cache:
        fitted = _fit_final(f_dev, y_dev, config, config.kinetics, selected, recal, joblib.Memory(cache, verbose=0))
    final = fitted[selected]
    sample_size = _events_per_parameter(y_dev, final, selected, task, caught, held_out=len(hold) > 0)
    kin_dev = final.named_steps["kinetics"].transform(f_dev)
    ks = _k_ref(config, kin_dev["log_k"].to_numpy(dtype=float), digest)
    for pipeline in fitted.values():
        with_kinetics_settings(pipeline, ks)
    lap("final_fit")
    step("fitted the final models")
    members = _interval_members(final, kin_dev, y_dev, config)
    lap("interval_ensemble")
    step("fitted the interval ensemble")

    if len(hold):
        f_hold, y_eval, s_eval = frame.iloc[hold].reset_index(drop=True), y[hold], scores[hold]
        model_p = {f: fitted[f].predict_proba(f_hold)[:, 1] for f in config.families}
        score_p = {s: _score_probability(s_dev[:, j], y_dev, s_eval[:, j], s, task) for j, s in enumerate(names)}
        eval_ids, evaluation_set = ids[hold], "held-out"
    else:  # pooled out-of-fold predictions of the first repeat
        first = oof[oof["repeat"] == 0]
        y_eval = first["y"].to_numpy(dtype=int)
        pos = pd.Index(ids[dev]).get_indexer(first["patient_id"])
        s_eval = s_dev[pos]
        model_p = {f: first[f"p_{f}"].to_numpy(dtype=float) for f in config.families}
        score_p = {s: first[f"p_{s}"].to_numpy(dtype=float) for s in names}
        eval_ids, evaluation_set = first["patient_id"].to_numpy(dtype=object), "cross-validated"
    evaluation = _evaluate(y_eval, model_p, s_eval, score_p, selected, caught, names, task)
    evaluation.insert(3, "recalibrated", (evaluation["model"] == selected) & recal["applied"]
                      & (evaluation_set == "held-out"))
    predictions = pd.DataFrame({"patient_id": eval_ids, "y": y_eval,
                                **{f"p_{f}": p for f, p in model_p.items()},
                                "p_selected": model_p[selected],
                                **{s: s_eval[:, j] for j, s in enumerate(names)}})
    lap("evaluation")
    step("evaluated on the " + evaluation_set + " patients")

    version = "provisional"    # model_version() once the bundle holds every fitted model
    sel_row = evaluation.set_index("model").loc[selected]
    training_summary = {
        "n": int(len(y_dev)), "events": int(y_dev.sum()), "n_holdout": int(len(hold)),
        # the patients the performance below was measured on (held-out, or the development set)
        "n_evaluated": int(len(y_eval)), "events_evaluated": int(np.sum(y_eval)),
        "n_patients_in_data": int(len(outcome)), "n_excluded": int(exclusions["n"].sum()),
        "exclusions": exclusions.to_dict(orient="records"), "missing": missing,
        "evaluation_set": evaluation_set,
        "auc": float(sel_row["auc"]), "auc_ci": [float(sel_row["auc_ci_low"]), float(sel_row["auc_ci_high"])],
        "calibration_slope": float(sel_row["calibration_slope"]), "citl": float(sel_row["citl"]),
        "brier": float(sel_row["brier"]),
        "cv_auc_mean": float(summary.set_index("model").loc[selected, "auc_mean"]),
        "cv_auc_sd": float(summary.set_index("model").loc[selected, "auc_sd"]),
        "comparison": {s: float(sel_row[f"delta_auc_vs_{s}"]) for s in names},
        "selection_reason": reason, "recalibration": recal, "sample_size": sample_size, "data_digest": digest,
        "date": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "config": config.to_dict(), "config_source": config.source,
        "package_version": _package_version(),
    }
    shared = dict(name=name, version=version, model_family=selected, threshold=float(config.threshold),
                  gcig_settings=config.gcig, kinetics_settings=ks,
                  feature_ranges=_feature_ranges(f_dev, kin_dev, ks, task), trained_on_synthetic=bool(synthetic))
    landmark_table, landmark_models = _landmarks(markers, clinical, ids, y, dev, hold, model_p[selected],
                                                 eval_ids, final, selected, config, ks, shared, caught,
                                                 list(zip(cv_splits, cv_populations))[:config.n_splits])
    lap("landmarks")
    step("fitted and evaluated the landmark models")
    bundle = ModelBundle(
        pipeline=final, **shared, training_summary=training_summary,
        interval={"method": "bootstrap_percentile", "level": config.interval_level,
                  "n_bootstrap": config.interval_n_bootstrap, "members_input": "design", "members": members},
        landmarks=None if landmark_models is None else
        {"settings": config.landmarks.to_dict(), "models": landmark_models})
    bundle.version = model_version(digest, config, bundle)
    for m in landmark_models or []:
        if m.model is not None:
            m.model.version = bundle.version
    return TrainingResult(
        bundle=bundle, config=config, selected=selected, selection_reason=reason, recalibration=recal,
        k_ref={"value": ks.k_ref, "source": ks.k_ref_source, "choice": config.k_ref}, exclusions=exclusions,
        n_patients=int(len(outcome)), n_used=int(len(y)), n_events=int(y.sum()), n_development=int(len(dev)),
        n_holdout=int(len(hold)), data_digest=digest, cv_folds=folds, cv_summary=summary,
        evaluation=evaluation, evaluation_set=evaluation_set, predictions=predictions, oof_predictions=oof,
        timings=timings, warnings=tuple(dict.fromkeys(caught)),
        input_example=pyfunc_input_example(markers, clinical, eval_ids[:2], task, synthetic=bool(synthetic)),
        landmarks=landmark_table,
        synthetic_source=synthetic_source, missing=missing,
        read_options=checked_read_options(read_options))


def _landmarks(markers, clinical, ids, y, dev, hold, p_final_eval, eval_ids, final, selected, config, ks,
               shared, caught, cv_folds):
    """Landmark models (``ca125kinetics.landmarks``): fitted on the development patients,
    evaluated where the shipped model is (held-out set, else the first CV repeat's folds,
    ``cv_folds``: ``((train, test), kinetics population learned on train)`` in positions of
    the development set, each fold's model with its fold's population as prior)."""
    # the landmarks are the neoadjuvant CA-125 cycles of the default task; another task (its
    # own marker and schedule) trains none, and its model says so in predict
    if not config.task.is_default or not config.landmarks.landmarks(config.kinetics):
        return None, None
    if len(hold):
        splits = [(dev, hold, getattr(final.named_steps["kinetics"], "population_", None))]
    else:
        # the population as the shipped model's records ks (k_ref, which no prediction uses)
        splits = [(dev[tr], dev[te], dataclasses.replace(population, settings=ks))
                  for (tr, te), population in cv_folds]
    final_p = pd.Series(np.asarray(p_final_eval, dtype=float), index=pd.Index(eval_ids).astype(str))
    return _fit_landmark_models(markers, clinical, ids=ids, y=y, dev=dev, eval_splits=splits, final_p=final_p,
                               final_pipeline=final, family=selected, config=config, kinetics_settings=ks,
                               bundle_fields=shared, caught=caught)


def _landmark_frame(markers, clinical, landmark, ids, gcig_settings, kinetics_settings) -> pd.DataFrame:
    """The patient frame of the series truncated at ``landmark`` (rows in the order of ``ids``)."""
    from .features import build_patient_frame
    from .landmarks import clinical_at, truncate_markers

    frame = build_patient_frame(truncate_markers(markers, landmark), clinical_at(clinical, landmark),
                                gcig_settings=gcig_settings,
                                kinetics_settings=kinetics_settings)
    position = pd.Index(frame["patient_id"].astype(str)).get_indexer(pd.Index(ids).astype(str))
    return frame.iloc[position].reset_index(drop=True)


def _fit_landmark(family, frame, y, idx, config, ks, population):
    """The selected family with its hyperparameters on rows ``idx``, the kinetics population fixed."""
    from .models import make_pipeline

    pipeline = make_pipeline(family, kinetics_settings=ks, seed=config.seed,
                             params=config.hyperparameters(family), task=config.task)
    pipeline.set_params(kinetics__population=population)
    return pipeline.fit(frame.iloc[idx], y[idx])


def _fit_landmark_models(markers: pd.DataFrame, clinical: pd.DataFrame, *, ids: np.ndarray, y: np.ndarray,
                         dev: np.ndarray, eval_splits: list, final_p: pd.Series, final_pipeline, family: str,
                         config, kinetics_settings: KineticsSettings, bundle_fields: dict,
                         caught: list) -> tuple[pd.DataFrame, list]:
    """Fit and evaluate one model per landmark of ``config.landmarks`` (``ca125kinetics.landmarks``).

    Parameters
    ----------
    markers, clinical : pandas.DataFrame
        Canonical tables of the whole cohort (as read by training).
    ids, y : arrays
        The patients used by training and their outcomes (same order).
    dev : array of int
        Positions of the development patients (the shipped landmark models are fitted on
        those who reached the landmark).
    eval_splits : list of (train positions, test positions, KineticsPopulation)
        ``[(dev, holdout, shipped model's population)]``, or the first cross-validation
        repeat's folds when there is no held-out set, each with the population learned on its
        training part (the evaluated models' prior is never learned on their test patients).
    final_p : pandas.Series
        The shipped model's full-series probability of every evaluation patient (index
        ``patient_id``): the final decision the landmark decisions are compared with.
    final_pipeline : sklearn Pipeline
        The shipped model (its fitted kinetics population is the shipped landmark models' prior).
    family : str
        The selected family (its hyperparameters from ``config``).
    config : TrainingConfig
    kinetics_settings : KineticsSettings
        The shipped model's kinetics settings (with its ``k_ref``).
    bundle_fields : dict
        ``ModelBundle`` fields shared with the shipped model (name, version, threshold, ...).
    caught : list
        Non-fatal warnings are appended here.

    Returns
    -------
    (DataFrame, list of LandmarkModel)
        The per-landmark table (:data:`LANDMARK_COLUMNS`) and the landmark models.
    """
    from .bundle import ModelBundle
    from .landmarks import LANDMARK_COLUMNS, MIN_OUTCOMES, LandmarkModel, reached
    from .validation.metrics import proportion_ci

    threshold = float(bundle_fields["threshold"])
    population = getattr(final_pipeline.named_steps["kinetics"], "population_", None)
    from .landmarks import last_sample_days

    last = last_sample_days(markers).reindex(pd.Index(ids).astype(str)).to_numpy(dtype=float)
    dev_set = np.asarray(dev)
    rows, models = [], []
    for lm in config.landmarks.landmarks(config.kinetics):
        frame = _landmark_frame(markers, clinical, lm, ids, config.gcig, config.kinetics)
        came = reached(last, lm)
        row: dict[str, Any] = {"landmark": lm.key, "label": lm.label, "day": lm.day, "first_day": lm.first_day,
                               "last_day": lm.last_day}
        fit_idx = dev_set[came[dev_set]]
        row.update(n_fit=int(len(fit_idx)), n_fit_events=int(y[fit_idx].sum()))
        short = min(row["n_fit_events"], row["n_fit"] - row["n_fit_events"])
        if short < MIN_OUTCOMES:
            reason = (f"{row['n_fit']} development patients reached {lm.label} ({row['n_fit_events']} complete "
                      f"resections): fewer than {MIN_OUTCOMES} of each outcome, no model")
            row.update(status="not_fitted", reason=reason)
            rows.append(row)
            models.append(LandmarkModel(lm, "not_fitted", reason, _jsonable_row(row)))
            continue
        try:
            shipped = _fit_landmark(family, frame, y, fit_idx, config, kinetics_settings, population)
            p_parts, idx_parts = [], []
            for train_idx, test_idx, prior in eval_splits:
                tr = np.asarray(train_idx)[came[np.asarray(train_idx)]]
                te = np.asarray(test_idx)[came[np.asarray(test_idx)]]
                same = (len(tr) == len(fit_idx) and np.array_equal(np.sort(tr), np.sort(fit_idx))
                        and prior == population)
                pipeline = shipped if same else _fit_landmark(family, frame, y, tr, config, kinetics_settings, prior)
                p_parts.append(pipeline.predict_proba(frame.iloc[te])[:, 1])
                idx_parts.append(te)
        except InsufficientDataError as exc:
            reason = f"the model of {lm.label} could not be fitted: {exc}"
            row.update(status="not_fitted", reason=reason)
            rows.append(row)
            models.append(LandmarkModel(lm, "not_fitted", reason, _jsonable_row(row)))
            continue
        p = np.concatenate(p_parts)
        te = np.concatenate(idx_parts)
        held = int(y[te].sum())
        if min(held, len(te) - held) < 2:
            # a model that cannot be evaluated is not shipped (the run failed here, after the
            # main model was fitted, on a small cohort whose held-out set reached a late
            # landmark with one incomplete resection)
            reason = (f"{len(te)} evaluation patients reached {lm.label} ({held} complete resections): fewer than "
                      "2 of each outcome to evaluate a model, no model")
            row.update(status="not_fitted", reason=reason)
            rows.append(row)
            models.append(LandmarkModel(lm, "not_fitted", reason, _jsonable_row(row)))
            continue
        m = _metric_row(y[te], p, caught, f"landmark model {lm.label}")
        final = final_p.reindex(pd.Index(ids[te]).astype(str)).to_numpy(dtype=float)
        agree = int(((p >= threshold) == (final >= threshold)).sum())
        low, high = proportion_ci(agree, len(te))
        row.update(status="ok", reason=None, **m, agreement=agree / len(te) if len(te) else math.nan,
                   agreement_ci_low=float(low), agreement_ci_high=float(high), n_agree=agree)
        kin = shipped.named_steps["kinetics"].transform(frame.iloc[fit_idx])
        members = _interval_members(shipped, kin, y[fit_idx], config)
        summary = {"landmark": lm.to_dict(), "evaluation": _jsonable_row(row),
                   "n": row["n_fit"], "events": row["n_fit_events"]}
        bundle = ModelBundle(pipeline=shipped, **{**bundle_fields, "name": f"{bundle_fields['name']}@{lm.key}"},
                             training_summary=summary,
                             interval={"method": "bootstrap_percentile", "level": config.interval_level,
                                       "n_bootstrap": config.interval_n_bootstrap, "members_input": "design",
                                       "members": members})
        rows.append(row)
        models.append(LandmarkModel(lm, "ok", None, _jsonable_row(row), bundle))
    table = pd.DataFrame(rows, columns=list(LANDMARK_COLUMNS))
    for c in ("n_fit", "n_fit_events", "n", "n_events", "n_agree"):
        table[c] = pd.array([None if pd.isna(v) else int(v) for v in table[c]], dtype="Int64")
    return table, models


def _jsonable_row(row: dict) -> dict:
    out = {}
    for k, v in row.items():
        if isinstance(v, (np.integer,)):
            v = int(v)
        elif isinstance(v, (float, np.floating)):
            v = float(v) if math.isfinite(float(v)) else None
        out[k] = v
    return out


def model_version(data_digest: str, config: TrainingConfig, bundle) -> str:
    """The version of a trained model: ``<package version>+<12 hex digits>``, deterministic.

    The digits are the start of ``SHA-256(data digest + settings + content digest)``: the
    data (:func:`data_digest`), every configuration value that can change a result
    (:meth:`TrainingConfig.to_params` without ``config.source``, the file's *name*:
    ``--config default`` and ``--config training/default.toml`` are the same configuration)
    and the fitted model itself (:func:`ca125kinetics.bundle.content_digest`). So the same
    data, settings and code give the same version, and a model that scores any patient
    differently -- e.g. trained by another revision of the code under the same package
    version -- gets another one.
    """
    from .bundle import content_digest

    params = {k: v for k, v in config.to_params().items() if k != "config.source"}
    text = data_digest + json.dumps(params, sort_keys=True) + content_digest(bundle)
    return f"{_package_version()}+{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def _package_version() -> str:
    from . import __version__

    return __version__


#: Events per parameter below which training warns (Peduzzi et al., J Clin Epidemiol 1996;
#: 49: 1373-9: 10 per variable). A rule of thumb only: Riley et al. (BMJ 2020; 368: m441)
#: derive the size a model needs from its expected R^2 and the outcome's prevalence.
MIN_EVENTS_PER_PARAMETER = 10.0


def _events_per_parameter(y: np.ndarray, final, family: str, task: TaskSpec, caught: list,
                          held_out: bool = True) -> dict[str, Any]:
    """Events per parameter of the selected model: the smaller outcome group of the development
    set over the columns of its classifier's design matrix (spline bases, missing-value
    indicators and one column per category counted); a warning below
    :data:`MIN_EVENTS_PER_PARAMETER`."""
    columns = len(final.named_steps["preprocess"].get_feature_names_out())
    events = int(y.sum())
    smaller = min(events, int(len(y) - events))
    group = ("complete" if smaller == events else "incomplete") + " resections" if task.is_default else (
        f"patients with {task.outcome} = {1 if smaller == events else 0}")
    epv = smaller / columns
    if epv < MIN_EVENTS_PER_PARAMETER:
        caught.append(
            f"{epv:.1f} events per parameter: {smaller} {group} (the smaller outcome group of the development "
            f"set) for {columns} columns of the {family} design matrix, below the rule of thumb of "
            f"{MIN_EVENTS_PER_PARAMETER:g}; the model may be overfitted (its {'held-out' if held_out else 'out-of-fold'} "
            "calibration slope says how much): add patients, or fewer predictors or a simpler family")
    return {"design_columns": columns, "smaller_group": group, "smaller_group_n": smaller,
            "events_per_parameter": epv}


def _outcome_counts(events: int, non_events: int, task: TaskSpec) -> str:
    """How many patients of each outcome, in the task's words: ``"12 complete and 30
    incomplete resection(s)"``, ``"12 downstaged = 1 and 30 with downstaged = 0"``."""
    if task.is_default:
        return f"{events} complete and {non_events} incomplete resection(s)"
    return f"{events} {task.outcome} = 1 and {non_events} with {task.outcome} = 0"


def _check_counts(y: np.ndarray, config: TrainingConfig, task: TaskSpec = DEFAULT_TASK,
                  exclusions: pd.DataFrame | None = None) -> None:
    events, non_events = int(y.sum()), int(len(y) - y.sum())
    need = config.n_splits * 2 * (2 if config.holdout_fraction > 0 else 1)
    if min(events, non_events) < need:
        left_out = ""
        if exclusions is not None and len(exclusions):
            listed = "; ".join(f"{r} ({n})" for r, n in zip(exclusions["reason"], exclusions["n"]))
            left_out = (f" ({int(exclusions['n'].sum())} patient(s) left out: {listed}; correct those columns, "
                        "or state how the tables are written: --sep, --decimal, --date-format, --rename)")
        raise InsufficientDataError(
            f"{len(y)} usable patient(s) with {_outcome_counts(events, non_events, task)}{left_out}: "
            f"too few for {config.n_splits}-fold cross-validation"
            f"{' with a held-out set' if config.holdout_fraction > 0 else ''} (need at least {need} "
            "of each); add patients, or lower cv.n_splits / cv.holdout_fraction in the training config")


def _check_markers_matched(frame: pd.DataFrame, markers: pd.DataFrame, missing: dict[str, int],
                           task: TaskSpec = DEFAULT_TASK) -> None:
    """Refuse a run in which no patient used has a marker sample: the two tables' identifiers
    do not match (``1`` for ``000001``: leading zeros lost), or the markers are of no use, and
    the kinetics would be learned from nothing."""
    from .markers import get_marker

    label = get_marker(task.marker).label
    if len(frame) and missing.get(f"no {label} sample", 0) == len(frame):
        shown = lambda ids: ", ".join(repr(str(i)) for i in list(dict.fromkeys(ids))[:3])   # noqa: E731
        raise InvalidInputError(
            f"none of the {len(frame)} patients with an outcome has a {label} sample: the markers' patient_id "
            f"({shown(markers['patient_id'])}) match none of the clinical table's ({shown(frame['patient_id'])}); "
            "identifiers are text, so keep them as written in both tables (leading zeros included)",
            column="patient_id")


def _holdout_split(y: np.ndarray, config: TrainingConfig,
                   task: TaskSpec = DEFAULT_TASK) -> tuple[np.ndarray, np.ndarray]:
    """Development and held-out positions (stratified). A held-out set with fewer than 2 of
    either outcome is refused before anything is fitted: no AUC, calibration or comparison
    can be estimated on it (a small ``cv.holdout_fraction`` of a small cohort)."""
    idx = np.arange(len(y))
    if config.holdout_fraction == 0:
        return idx, idx[:0]
    from sklearn.model_selection import train_test_split

    def split(fraction):
        dev, hold = train_test_split(idx, test_size=fraction, stratify=y, random_state=config.seed)
        return np.sort(dev), np.sort(hold)

    def short(hold):
        return min(int(y[hold].sum()), int(len(hold) - y[hold].sum())) < _MIN_PER_OUTCOME

    dev, hold = split(config.holdout_fraction)
    if short(hold):
        events = int(y[hold].sum())
        # the smallest fraction (in hundredths, up to 0.5) whose held-out set has enough of each
        enough = next((f / 100 for f in range(math.ceil(config.holdout_fraction * 100), 51)
                       if not short(split(f / 100)[1])), None)
        advice = (f"raise cv.holdout_fraction to at least {enough:g} or set it to 0" if enough is not None
                  else "set cv.holdout_fraction = 0")
        raise InsufficientDataError(
            f"the held-out set (cv.holdout_fraction = {config.holdout_fraction:g}) would hold {len(hold)} patient(s) "
            f"with {_outcome_counts(events, len(hold) - events, task)}: fewer than {_MIN_PER_OUTCOME} of each, so no "
            f"AUC, calibration or AUC comparison could be estimated on it; {advice} "
            "(0: the models are evaluated out of fold) in the training config, or add patients")
    return dev, hold


# ============================================================================ train (tracking + export)


def _synthetic_status(markers, synthetic: bool | None, read_options: dict | None = None, *,
                      table: pd.DataFrame) -> tuple[bool, str]:
    """Whether the cohort is synthetic, and how that was decided (for the card and MLflow).

    ``markers`` is the markers table as the caller gave it (a path or a frame), ``table`` the
    same table as the readers read it (its patients are counted there: the file is not read a
    second time). A ``params.json`` of ``ca125 synth`` beside a markers file makes it synthetic
    when the tables are the cohort it describes; beside other tables (read with options that
    synth's files do not need, or another number of patients) which of the two they are would
    be a guess: a real cohort would be called synthetic (and its patients' records put in the
    MLflow input example), so the user is asked to say it."""
    if synthetic is not None:
        return bool(synthetic), ("declared synthetic by the user (--synthetic)" if synthetic
                                 else "declared not synthetic by the user (--no-synthetic)")
    if isinstance(markers, pd.DataFrame):
        if SYNTHETIC_ATTR in markers.attrs:
            return True, "detected: the markers table is a frame of ca125kinetics.synth (simulate_cohort)"
        return False, ("not declared (neither synthetic=True nor synthetic=False) and the markers table is no "
                       "frame of ca125kinetics.synth: read as a real cohort")
    params = _synth_params(markers)
    if params is not None:
        _refuse_tables_synth_did_not_write(markers, params, read_options, table)
        return True, "detected: a params.json of `ca125 synth` lies beside the markers file"
    return False, ("not declared (neither --synthetic nor --no-synthetic) and no params.json of "
                   "`ca125 synth` beside the markers file: read as a real cohort")


def _synth_params(markers) -> dict | None:
    """The ``params.json`` (with the generator version) that ``ca125 synth`` wrote beside the
    markers file ``markers``, or None when there is none (or one that is not synth's).

    A ``params.json`` there that cannot be read (not JSON, cut short, unreadable) is refused:
    it had been taken for no file, and a synthetic cohort whose file was damaged was then
    trained as a real one, its card without the line that says it is not for clinical use."""
    if not isinstance(markers, (str, os.PathLike)):
        return None
    params = Path(markers).resolve().parent / "params.json"
    try:
        data = json.loads(params.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise InvalidInputError(
            f"cannot be read ({type(exc).__name__}: {exc}), so whether the cohort beside it is the synthetic one "
            "`ca125 synth` wrote is unknown: say whether it is synthetic with --synthetic or --no-synthetic "
            "(synthetic=True/False), or remove or repair the file", source=str(params)) from exc
    return data if isinstance(data, dict) and "generator_version" in data else None


def _refuse_tables_synth_did_not_write(markers, params: dict, read_options: dict | None,
                                       table: pd.DataFrame) -> None:
    """Refuse a markers file beside a ``params.json`` of ``ca125 synth`` that is not the cohort
    it describes: read with reading options (synth writes the data contract's format), or
    holding another number of patients than the generator's ``n`` (counted in ``table``, the
    file as the readers read it)."""
    from .io import checked_read_options

    how = checked_read_options(read_options)
    if how:
        reason = f"they are read with options {sorted(how)}; ca125 synth writes the data contract's format"
    else:
        n = params.get("call", {}).get("n") if isinstance(params.get("call"), dict) else None
        found = int(table["patient_id"].nunique())
        if not isinstance(n, int) or found == n:
            return
        reason = f"the markers hold {found} patients, the cohort written there {n}"
    raise InvalidInputError(
        f"{markers}: a params.json of `ca125 synth` lies beside the markers file, but the tables are not the "
        f"cohort it describes ({reason}): say whether the cohort is synthetic with --synthetic or "
        "--no-synthetic (synthetic=True/False); a model trained on people's records must not be called "
        "synthetic, nor carry their records as its input example")


def train(markers, clinical, *, config=None, tracking_uri: str | None = None, name: str = DEFAULT_NAME,
          out_dir=None, progress=True, synthetic: bool | None = None,
          read_options: dict | None = None) -> TrainingResult:
    """Train, compare, track, register and export a complete-resection model (``ca125 train``).

    Parameters
    ----------
    markers, clinical : path or pandas.DataFrame
        The two tables of the data contract; ``clinical`` needs ``complete_resection``.
    config : TrainingConfig, dict, path to a ``training/*.toml`` file, or None (defaults).
    tracking_uri : str, optional
        MLflow tracking URI; default ``$MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db`` in
        the working directory (:func:`ca125kinetics.tracking.resolve_tracking_uri`).
    name : str
        Experiment and registered model name (alias ``champion`` set on the new version).
    out_dir : path, optional
        Export directory; default ``models/<name>`` in the working directory.
    progress : bool or callable
        True: a progress bar on stderr (tqdm); False: none (MLflow's artifact bars included);
        a callable receives each stage's description.
    synthetic : bool, optional
        Whether the cohort is synthetic (the model card then says so in its first line).
        Default: detected from a ``params.json`` of ``ca125 synth`` beside the markers file,
        or from a markers frame of :func:`ca125kinetics.synth.simulate_cohort`.
    read_options : dict, optional
        How the tables are written (:func:`fit_and_evaluate`; ``ca125 train --sep --decimal
        --thousands --date-format --rename``).

    Returns
    -------
    TrainingResult
        With ``run_id``, ``model_uri``, ``registered_version``, ``tracking_uri`` and
        ``export_dir`` filled in.
    """
    from concurrent.futures import ThreadPoolExecutor

    from .io import checked_read_options
    from .mlflow_model import check_export_dir, export_model
    from .tracking import log_training, open_tracking, resolve_tracking_uri

    config = load_config(config)
    checked_read_options(read_options)
    uri = resolve_tracking_uri(tracking_uri)  # fail early on a bad URI
    out = Path(out_dir) if out_dir is not None else Path("models") / name
    check_export_dir(out)  # and on an export path that would be refused after the run was registered
    # the tracking store (imports, a new database's schema) is opened while the models are
    # cross-validated: it does not depend on the result, and it waits mostly on the disk
    with _progress(progress, total=config.n_folds + 6) as step, \
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="ca125-tracking") as pool:
        opening = pool.submit(open_tracking, uri, name)

        def step_or_stop(text):
            # a store that cannot be opened (a server down, a wrong address) stops the fit
            # at its next step, rather than after the whole cross-validation
            step(text)
            if opening.done() and opening.exception() is not None:
                raise opening.exception()

        result = fit_and_evaluate(markers, clinical, config=config, name=name, synthetic=synthetic,
                                  progress=step_or_stop, read_options=read_options)
        clock = time.perf_counter()
        example = result.input_example
        card = model_card(result)
        tracked = log_training(result, name=name, input_example=example, model_card=card, store=opening.result())
        step("logged to MLflow and registered (alias champion)")
        timings = dict(result.timings, mlflow=time.perf_counter() - clock)
        clock = time.perf_counter()
        export_model(result.bundle, out, input_example=example, model_card=card)
        timings["export"] = time.perf_counter() - clock
        step(f"exported to {out}")
    return dataclasses.replace(result, run_id=tracked["run_id"], model_uri=tracked["model_uri"],
                               registered_name=name, registered_version=tracked["registered_version"],
                               tracking_uri=tracked["tracking_uri"], export_dir=str(out), timings=timings)


class _progress:
    """Context manager giving a ``step(description)`` callable (tqdm bar on stderr if asked;
    without it, MLflow's artifact bars are off too)."""

    def __init__(self, progress, total: int):
        self.progress, self.total, self.bar, self.quiet = progress, total, None, None

    def __enter__(self):
        if callable(self.progress):
            return self.progress
        if not self.progress:
            from .tracking import no_artifact_bars

            self.quiet = no_artifact_bars()
            self.quiet.__enter__()
            return lambda _text: None
        from tqdm import tqdm

        self.bar = tqdm(total=self.total, file=sys.stderr, unit="step", desc="ca125 train", leave=True)

        def step(text):
            self.bar.set_postfix_str(text[:60], refresh=False)
            self.bar.update(1)

        return step

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()
        if self.quiet is not None:
            self.quiet.__exit__(*exc)
        return False


# ============================================================================ presentation


def _fmt_ci(value, low, high, digits=3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f} ({low:.{digits}f} to {high:.{digits}f})"


def summary_table(result: TrainingResult) -> pd.DataFrame:
    """One row per model and score, formatted for people: model, the patients evaluated (a
    published score: those whose score is known), CV AUC, AUC with 95 % CI, calibration slope,
    and the AUC difference vs AGO and iMODEL (paired DeLong 95 % CI, on the patients whose
    score is known)."""
    cv = result.cv_summary.set_index("model")
    rows = []
    for r in result.evaluation.itertuples(index=False):
        label = r.model + (" (selected" + (", recalibrated" if r.recalibrated else "") + ")" if r.selected else "")
        label = _SCORE_LABELS.get(r.model, label)
        # a score's AUC is on the patients whose score is known: its n says on how many
        row = {"model": label, f"n (events), {result.evaluation_set}": f"{int(r.n)} ({int(r.n_events)})",
               "CV AUC (mean ± sd)": f"{cv.loc[r.model, 'auc_mean']:.3f} ± {cv.loc[r.model, 'auc_sd']:.3f}",
               f"AUC (95% CI), {result.evaluation_set}": _fmt_ci(r.auc, r.auc_ci_low, r.auc_ci_high),
               "calibration slope": f"{r.calibration_slope:.2f}" if pd.notna(r.calibration_slope) else "-"}
        # the default task shows AGO and iMODEL (as before tasks existed); another task its comparators
        shown = ("ago", "imodel") if result.config.task.is_default else result.config.task.comparators
        for score in shown:
            key = f"delta_auc_vs_{score}"
            row[f"ΔAUC vs {_SCORE_LABELS.get(score, score)}"] = (
                _fmt_ci(getattr(r, key), getattr(r, key + "_ci_low"), getattr(r, key + "_ci_high"))
                if r.kind == "model" else "")
        rows.append(row)
    return pd.DataFrame(rows)


def _missing_text(result: TrainingResult) -> str:
    return ", ".join(f"{name} {n}" for name, n in result.missing.items())


def format_summary(result: TrainingResult) -> str:
    """The text printed at the end of ``ca125 train``; it says, as every output of a model
    does, that the model is research software and whether it was trained on synthetic data."""
    from .predict.decision import _notice

    table = summary_table(result).to_string(index=False)
    lines = [table,
             "(a published score's AUC is on the patients whose score is known, its n; each ΔAUC is paired on "
             "those patients, so it need not equal the difference of the two AUCs shown)",
             _notice(bool(result.bundle.trained_on_synthetic)), "",
             f"selected: {result.selected} -- {result.selection_reason}",
             f"recalibration: {result.recalibration['reason']}",
             f"k_ref: {result.k_ref['value']:.4g}/day ({result.k_ref['source']})",
             f"patients: {result.n_patients} in the data, {result.n_used} used ({result.n_events} "
             + ("complete resections" if result.config.task.is_default else f"with {result.config.task.outcome} = 1")
             + f"): {result.n_development} development, {result.n_holdout} held out"]
    for reason, n in result.exclusions.itertuples(index=False):
        lines.append(f"  excluded {n}: {reason}")
    if result.missing:
        lines.append(f"  used with unknown values (filled by the models' missing-value handling): {_missing_text(result)}")
    if result.landmarks is not None and len(result.landmarks):
        lines += ["", f"landmarks ({result.evaluation_set} patients who reached each; agreement = same decision as "
                      "the full series at the shipped threshold):",
                  landmark_table(result).to_string(index=False), ""]
    if result.warnings:
        shown = result.warnings[:_WARNINGS_SHOWN]
        lines += ["", f"warnings ({len(result.warnings)}):", *(f"  - {w}" for w in shown)]
        if len(result.warnings) > len(shown):
            lines.append(f"  ... and {len(result.warnings) - len(shown)} more (all in the model card)")
        lines.append("")
    if result.run_id:
        lines.append(f"MLflow: run {result.run_id} at {hide_password(result.tracking_uri)}; registered "
                     f"{result.registered_name} version {result.registered_version} (alias champion)")
    if result.export_dir:
        lines.append(f"exported: {result.export_dir}")
    total = sum(result.timings.values())
    lines.append(f"time: {total:.1f} s (" + ", ".join(f"{k} {v:.1f}" for k, v in result.timings.items()) + ")")
    return "\n".join(lines)


#: Warnings of a training run printed by ``ca125 train`` (the model card lists them all).
_WARNINGS_SHOWN = 10


def landmark_table(result: TrainingResult) -> pd.DataFrame:
    """The landmark metrics formatted for people (one row per landmark): window, patients,
    AUC (95 % CI), calibration slope and CITL, agreement with the final decision (95 % CI)."""
    rows = []
    for r in (result.landmarks if result.landmarks is not None else pd.DataFrame()).to_dict(orient="records"):
        ok = r["status"] == "ok"
        rows.append({
            "landmark": r["label"], "samples up to day": r["last_day"], "reached from day": r["first_day"],
            "n fit": r["n_fit"], "n": r["n"] if ok else "-",
            "AUC (95% CI)": _fmt_ci(r["auc"], r["auc_ci_low"], r["auc_ci_high"]) if ok else "not fitted",
            "slope (95% CI)": _fmt_ci(r["calibration_slope"], r["calibration_slope_ci_low"],
                                      r["calibration_slope_ci_high"], 2) if ok else "-",
            "CITL (95% CI)": _fmt_ci(r["citl"], r["citl_ci_low"], r["citl_ci_high"], 2) if ok else "-",
            "agreement (95% CI)": _fmt_ci(r["agreement"], r["agreement_ci_low"], r["agreement_ci_high"]) if ok else "-",
        })
    return pd.DataFrame(rows)


def _markdown(frame: pd.DataFrame) -> str:
    cells = frame.astype(str).to_numpy().tolist()
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    return "\n".join([header, rule] + ["| " + " | ".join(row) + " |" for row in cells])


def _config_argument(cfg: TrainingConfig) -> str:
    """``--config`` of the card's command: the TOML file, ``default``, or a placeholder for a
    configuration given in Python (a dict, a TrainingConfig), which no file holds."""
    if cfg.source.endswith(".toml"):
        return cfg.source
    return "default" if cfg.to_dict() == TrainingConfig().to_dict() else "CONFIG.toml"


def _read_arguments(options: dict) -> str:
    """The command-line options that read the tables as ``options`` (checked: the defaults left
    out, :func:`ca125kinetics.io.checked_read_options`) says (shell-quoted)."""
    import shlex

    flags = {"sep": "--sep", "decimal": "--decimal", "thousands": "--thousands", "date_format": "--date-format"}
    out = [f" {flags[k]} {shlex.quote(str(v))}" for k, v in options.items() if k in flags and v is not None]
    out += [f" --rename {shlex.quote(f'{old}={new}')}" for old, new in (options.get("columns") or {}).items()]
    return "".join(out)


def model_card(result: TrainingResult) -> str:
    """Markdown model card: intended use, training data, performance with 95 % CIs,
    calibration, comparison with AGO/iMODEL/MSKCC, limitations, rule settings, reproduction."""
    b = result.bundle
    cfg = result.config
    ev = result.evaluation.set_index("model")
    sel = ev.loc[result.selected]
    where = result.evaluation_set
    lines = []
    if b.trained_on_synthetic:
        from .bundle import SYNTHETIC_FIRST_LINE

        lines += [SYNTHETIC_FIRST_LINE, ""]
    lines += [
        f"# Model card: {b.name} ({b.version})",
        "",
        f"Trained {b.training_summary.get('date', '?')} with ca125kinetics {_package_version()}.",
        "",
        "## Intended use",
        "",
        ("Research software, **not a medical device**. Estimates the probability of complete resection "
         "(no macroscopic residual disease) at secondary cytoreductive surgery for patients at first "
         "platinum-sensitive recurrence of ovarian cancer after 3-4 cycles of platinum chemotherapy, from "
         "the CA-125 decline during chemotherapy (KELIM-like elimination rate, population empirical Bayes) "
         "and clinical factors." if cfg.task.is_default else
         f"Research software, **not a medical device**. Task `{cfg.task.name}`: estimates the probability "
         f"of {cfg.task.description} (clinical column `{cfg.task.outcome}`), from the {cfg.task.marker} "
         "decline during treatment (KELIM-like elimination rate, population empirical Bayes, and the "
         "response features) and the clinical predictors "
         f"{', '.join(cfg.task.predictors)}.")
        + " Meant for methodological research and for retraining on a study cohort, "
        "never for an individual treatment decision without clinical judgement and local validation. "
        f"The decision threshold shipped with the model is p >= {b.threshold:.2f} (from the training config).",
        "",
        "## Training data",
        "",
        ("Synthetic cohort (simulated patients, not people)" if b.trained_on_synthetic
         else "Cohort supplied by the user (see the data digest)")
        + (f"; synthetic or not: {result.synthetic_source}." if result.synthetic_source else "."),
        f"- Patients in the data: {result.n_patients}; used: {result.n_used} "
        + (f"({result.n_events} complete resections, {result.n_used - result.n_events} incomplete)"
           if cfg.task.is_default else f"({result.n_events} with {cfg.task.outcome} = 1, "
           f"{result.n_used - result.n_events} with {cfg.task.outcome} = 0)"),
        f"- Development set: {result.n_development}; held-out set: {result.n_holdout} "
        f"(stratified, fraction {cfg.holdout_fraction:g}, seed {cfg.seed})",
    ]
    size = b.training_summary.get("sample_size")
    if size:
        lines.append(
            f"- Events per parameter: {size['events_per_parameter']:.1f} ({size['smaller_group_n']} "
            f"{size['smaller_group']}, the smaller outcome group of the development set, for "
            f"{size['design_columns']} columns of the {result.selected} design matrix"
            + (f"; below the rule of thumb of {MIN_EVENTS_PER_PARAMETER:g}: the model may be overfitted)"
               if size["events_per_parameter"] < MIN_EVENTS_PER_PARAMETER else
               f"; the rule of thumb asks for at least {MIN_EVENTS_PER_PARAMETER:g})"))
    for reason, n in result.exclusions.itertuples(index=False):
        lines.append(f"- Excluded: {n} ({reason})")
    if result.missing:
        lines.append(f"- Used with unknown values (kept, filled by the models' missing-value handling): "
                     f"{_missing_text(result)}")
    lines += [f"- Data digest (SHA-256 of the canonical markers and clinical tables): `{result.data_digest}`", ""]
    lines += [
        "## Model",
        "",
        f"- Family: **{result.selected}** (one scikit-learn Pipeline: KELIM-like kinetics with the population "
        "learned on the training patients -> fixed feature transforms -> explicit missing-value handling -> "
        "classifier); see `ca125kinetics.models`.",
        f"- Selection: {result.selection_reason}",
        f"- Recalibration: {result.recalibration['reason']}"
        + (f" (applied: logit p' = {result.recalibration['intercept']:.3f} + {result.recalibration['slope']:.3f} logit p)"
           if result.recalibration["applied"] else ""),
        f"- k_ref: {result.k_ref['value']:.4g} per day ({result.k_ref['source']})",
        f"- Interval (p_low, p_high): {cfg.interval_level:.0%} percentile interval over {cfg.interval_n_bootstrap} "
        "bootstrap refits of the classifier on the final model's design matrix (kinetics population, "
        "missing-value handling, scaling and tuned hyperparameters fixed); model uncertainty only.",
        "",
        f"## Performance ({where} patients, n = {int(sel['n'])})",
        "",
        "AUC with DeLong 95 % CI; calibration-in-the-large (CITL) and slope with Wald 95 % CIs; Brier score. "
        "Published scores: AUC from their own ranking; Brier and calibration after a logistic recalibration "
        + ("fitted on the development set only." if where == "held-out" else
           "fitted on the training part of each fold only.")
        + ("" if where == "held-out" else
           " Pooled out-of-fold predictions of the first cross-validation repeat, the folds on which (with the "
           "other repeats') the family was selected: the selected model's figures are optimistic by that "
           "choice, and those of the model before its recalibration."),
        "",
    ]
    perf = pd.DataFrame({
        "model": [m + (" (selected)" if s else "") for m, s in zip(ev.index, ev["selected"])],
        "n": ev["n"].astype(int).to_numpy(),
        "AUC (95% CI)": [_fmt_ci(a, lo, hi) for a, lo, hi in ev[["auc", "auc_ci_low", "auc_ci_high"]].to_numpy()],
        "Brier": [f"{v:.3f}" for v in ev["brier"]],
        "CITL (95% CI)": [_fmt_ci(a, lo, hi, 2) for a, lo, hi in ev[["citl", "citl_ci_low", "citl_ci_high"]].to_numpy()],
        "slope (95% CI)": [_fmt_ci(a, lo, hi, 2) for a, lo, hi in
                           ev[["calibration_slope", "calibration_slope_ci_low", "calibration_slope_ci_high"]].to_numpy()],
    })
    lines += [_markdown(perf), "", "### Cross-validation (development set)", "",
              f"{cfg.n_splits}-fold stratified cross-validation repeated {cfg.n_repeats} times; the published "
              "scores on the same folds.", ""]
    cv = result.cv_summary
    lines += [_markdown(pd.DataFrame({
        "model": cv["model"], "AUC mean (sd)": [f"{m:.3f} ({s:.3f})" for m, s in cv[["auc_mean", "auc_sd"]].to_numpy()],
        "Brier mean": [f"{v:.3f}" for v in cv["brier_mean"]],
        "CITL mean": [f"{v:.2f}" for v in cv["citl_mean"]],
        "slope mean": [f"{v:.2f}" for v in cv["calibration_slope_mean"]]})), ""]
    labels = [_SCORE_LABELS.get(c, c) for c in cfg.task.comparators]
    lines += [f"## Comparison with {', '.join(labels[:-1]) + ' and ' + labels[-1] if len(labels) > 1 else ''.join(labels)}", "",
              f"Difference in AUC of the selected model minus the score, paired DeLong test on the {where} patients "
              "the score covers (a score is unknown when one of its inputs is missing).", ""]
    comp = []
    for score in cfg.task.comparators:
        key = f"delta_auc_vs_{score}"
        comp.append({"score": _SCORE_LABELS.get(score, score), "n": int(sel[key + "_n"]),
                     "score AUC": f"{ev.loc[score, 'auc']:.3f}",
                     "ΔAUC (95% CI)": _fmt_ci(sel[key], sel[key + "_ci_low"], sel[key + "_ci_high"]),
                     "p": f"{sel[key + '_p']:.2g}"})
    lines += [_markdown(pd.DataFrame(comp)), ""]
    if result.landmarks is not None and len(result.landmarks):
        marks = result.landmarks
        lines += ["## Landmarks: a decision after every cycle", "",
                  f"One model per landmark on the CA-125 series truncated at it (only the samples drawn by the "
                  f"landmark's last day), family {result.selected} with the shipped model's hyperparameters, kinetics "
                  "population prior and threshold; fitted on the development patients who reached the landmark "
                  f"(latest sample on or after its first day), evaluated on the {where} patients who reached it. "
                  "Agreement: the landmark decision (p >= threshold) equals the final decision (the shipped model "
                  "on the full series); Wilson 95 % CI. See docs/landmarks.md.", "",
                  _markdown(landmark_table(result)), ""]
        for r in marks[marks["status"] != "ok"].to_dict(orient="records"):
            lines += [f"- {r['label']}: {r['reason']}"]
        lines += [""]
    lines += [
        *(["## Warnings during training", "",
           "Non-fatal problems met while training (each once):", "",
           *(f"- {w}" for w in result.warnings), ""] if result.warnings else []),
        "## Limitations",
        "",
        "- " + ("Trained and evaluated on **synthetic** data: the numbers describe the simulator, not patients; "
                "the model must not be used for care." if b.trained_on_synthetic
                else "Evaluated on a held-out part of the training cohort only: external validation is needed "
                     "before any use outside this cohort." if result.evaluation_set == "held-out"
                else "Evaluated by cross-validation on the training cohort only (no part was held out): "
                     "external validation is needed before any use outside this cohort."),
        *(["- The recalibration was fitted on the out-of-fold predictions, and no patient was held out to "
           "check it: the performance above is the model's before recalibration, and the recalibrated "
           "model's calibration is unchecked."]
          if result.recalibration["applied"] and result.evaluation_set != "held-out" else []),
        "- The KELIM-like score is an open re-implementation, not numerically equal to the closed "
        "biomarker-kinetics.org calculator.",
        "- Patients without a surgical outcome (e.g. not operated) are excluded: the model describes "
        "patients who were selected for surgery and may not transfer to unselected patients.",
        "- Predictions outside the training range of the inputs (listed in bundle.json, `feature_ranges`) "
        "are flagged and less reliable.",
        "- The probability interval reflects sampling variability of the classifier only.",
        "- Landmark models are not recalibrated (their calibration is reported above).",
        "",
        "## Rule settings",
        "",
        f"- GCIG: `{b.gcig_settings.to_json()}`",
        f"- Kinetics: `{b.kinetics_settings.to_json()}`",
        f"- Training config ({cfg.source}): `{json.dumps(cfg.to_dict(), sort_keys=True, default=str)}`",
        "",
        "## How to reproduce",
        "",
        "```",
        f"ca125 train --markers MARKERS --clinical CLINICAL --config {_config_argument(cfg)} --name {b.name}"
        + _read_arguments(result.read_options)
        # the declaration is part of the model (its version follows it): stated, whatever decided it
        + (" --synthetic" if b.trained_on_synthetic else " --no-synthetic"),
        "```",
        "",
        *([] if _config_argument(cfg) != "CONFIG.toml" else [
            f"where CONFIG.toml holds the training configuration listed under *Rule settings* (given as a "
            f"{cfg.source}), written as TOML;", ""]),
        f"with tables whose data digest is `{result.data_digest}`: the same data, configuration and "
        "ca125kinetics code give the same metrics, predictions and model version. The version's digits "
        "follow the data, the settings and the fitted model itself: a model retrained by another revision "
        "of the code that scores differently gets another version.",
    ]
    return "\n".join(lines) + "\n"
