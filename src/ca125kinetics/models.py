"""Classifiers of complete resection: one scikit-learn Pipeline from patient frame to probability.

Fifth step of the pipeline (... -> features and scores -> **models** -> tracking -> ...).
Every model family is a single :class:`sklearn.pipeline.Pipeline` whose input is the patient
frame of :func:`ca125kinetics.features.build_patient_frame` and whose output is the
probability of complete resection at secondary cytoreduction:

1. ``kinetics`` -- :class:`ca125kinetics.kinetics.KineticsFeatures` (``method="population"``):
   the population of the KELIM-like floor model is learned in ``fit``, i.e. on the training
   patients only (inside each cross-validation fold), and each patient's empirical-Bayes
   ``k`` is computed under it;
2. ``features`` -- :class:`ModelFeatures`: fixed, documented transforms of the clinical
   factors and kinetics (no learned parameter), see :data:`NUMERIC_FEATURES`;
3. ``preprocess`` -- a ColumnTransformer: **explicit missing-value handling** (below),
   splines where the family has them, one-hot categories, scaling;
4. ``classifier``.

Families (:data:`FAMILIES`)
---------------------------
``logistic_spline``
    Penalised (L2) logistic regression with cubic B-spline terms
    (``SplineTransformer``, ``n_knots`` knots at quantiles, linear extrapolation) for the
    continuous predictors :data:`SPLINE_FEATURES`; the penalty ``C`` is tuned by an inner
    stratified CV on log-loss (``LogisticRegressionCV``), i.e. nested inside every outer
    training fold.
``gradient_boosting``
    ``HistGradientBoostingClassifier`` (scikit-learn), shallow trees with a fixed learning
    rate; the number of trees by early stopping on an internal validation split (seeded).
    Missing values are routed by the trees themselves (no imputation).
``logistic_main``
    Plain main-effects logistic regression (lightly penalised, ``C=1`` on standardised
    predictors). **Decision** (the third family): the interpretable reference against which
    the flexible families must justify themselves, the form in which the published scores'
    factors would enter a refitted model, and the baseline of the training benchmark.

Missing values (**Decision**)
-----------------------------
Logistic families: continuous and binary predictors are imputed with the training-fold
median *and* get a 0/1 missing indicator per predictor (``SimpleImputer(add_indicator=True)``
with ``MissingIndicator(features="all")`` semantics), so that "unknown" can carry its own
risk; categorical predictors get their own ``"missing"`` level. Kinetics that cannot be
estimated (status other than ``ok``: too few samples, rising, at the floor) leave ``log_k``
missing and ``kinetics_ok = 0``. Gradient boosting: NaN is passed to the trees, which learn
the best side for it; categories are one-hot encoded with a ``"missing"`` level.

Recalibration
-------------
:class:`RecalibratedClassifier` wraps a classifier with a fixed logistic recalibration
``logit p' = a + b logit p`` (``a``, ``b`` estimated by training from out-of-fold predictions),
so the recalibrated model stays one Pipeline.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, clone
from sklearn.utils.validation import check_is_fitted

from ._design import (CATEGORICAL_FEATURES, NUMERIC_FEATURES,  # noqa: F401 - re-exported
                      model_feature_columns)
from ._logistic import expit, logit
from .errors import InvalidInputError
from .settings import KineticsSettings

__all__ = [
    "FAMILIES",
    "NUMERIC_FEATURES",
    "CATEGORICAL_FEATURES",
    "SPLINE_FEATURES",
    "DEFAULT_HYPERPARAMETERS",
    "ModelFeatures",
    "TaskFeatures",
    "TASK_KINETIC_FEATURES",
    "RecalibratedClassifier",
    "hyperparameters",
    "make_pipeline",
    "frozen_head",
    "frozen_classifier",
    "model_feature_columns",
    "with_kinetics_settings",
    "logit",
]

#: Model families, from the simplest to the most flexible (model selection prefers the
#: simpler of two families whose AUCs are within the selection tolerance).
FAMILIES = ("logistic_main", "logistic_spline", "gradient_boosting")

#: Continuous predictors that get spline terms in ``logistic_spline``.
SPLINE_FEATURES = ("age", "log_pfi", "log_ca125", "log_k", "pct_decline_c2")

#: Hyperparameters of each family (``training/*.toml`` ``[models.<family>]`` overrides them).
DEFAULT_HYPERPARAMETERS: dict[str, dict[str, Any]] = {
    "logistic_main": {"C": 1.0, "max_iter": 2000},
    "logistic_spline": {"n_knots": 4, "degree": 3, "Cs": [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0],
                        "inner_cv": 5, "max_iter": 2000},
    "gradient_boosting": {"learning_rate": 0.05, "max_iter": 400, "max_leaf_nodes": 8,
                          "min_samples_leaf": 40, "l2_regularization": 1.0, "early_stopping": True,
                          "validation_fraction": 0.15, "n_iter_no_change": 25},
}

class ModelFeatures(TransformerMixin, BaseEstimator):
    """Fixed transforms of the patient frame (after ``KineticsFeatures``) into predictors.

    Stateless (nothing is learned in ``fit``). Output: a DataFrame with the columns
    :data:`NUMERIC_FEATURES` (float64, NaN when unknown) then :data:`CATEGORICAL_FEATURES`
    (object, ``"missing"`` when unknown), same rows and order.

    Transforms: ``log_pfi = log(pfi_months)``; ``ascites_any = [ascites_ml > 0]``,
    ``log1p_ascites = log(1 + ascites_ml)``, ``ascites_500 = [ascites_ml >= 500]`` (the AGO
    cut-off); ``primary_residual = primary_residual_disease``; ``log_ca125 =
    log(ca125_at_recurrence)``; ``gcig_responded`` as 0/1; percent declines clipped to
    [-300, 100] (a tripled value and a full decline bound the plausible range); the kinetics
    features ``log_k``, ``log_floor``, ``log_nadir``, ``n_samples``, ``kinetics_ok`` as given.
    ``kelim_score`` and ``half_life_days`` are deliberately not predictors: they are
    functions of ``log_k`` (``k / k_ref``, ``ln 2 / k``), so the choice of ``k_ref`` cannot
    change a prediction.
    """

    def fit(self, X: pd.DataFrame, y=None) -> ModelFeatures:
        self._check(X)
        self.n_features_in_ = X.shape[1]
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        return self

    @staticmethod
    def _check(X) -> None:
        if not isinstance(X, pd.DataFrame):
            raise InvalidInputError(f"ModelFeatures needs a pandas DataFrame, got {type(X).__name__}")
        needed = ("age", "ecog", "ascites_ml", "pfi_months", "primary_residual_disease",
                  "ca125_at_recurrence", "gcig_responded", "log_k", "kinetics_ok", *CATEGORICAL_FEATURES)
        missing = [c for c in needed if c not in X.columns]
        if missing:
            raise InvalidInputError(
                f"model input lacks column(s) {missing}; build it with "
                "ca125kinetics.features.build_patient_frame and the KineticsFeatures step")

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "n_features_in_")
        self._check(X)
        cols = model_feature_columns(X, len(X))
        frame = pd.DataFrame({name: cols[name] for name in NUMERIC_FEATURES}, index=X.index)
        for name in CATEGORICAL_FEATURES:
            frame[name] = cols[name]
        return frame

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return np.asarray(NUMERIC_FEATURES + CATEGORICAL_FEATURES, dtype=object)


#: Marker features of a task other than the default, after ``KineticsFeatures``: the kinetics
#: (``kelim_score`` and ``half_life_days`` are functions of ``log_k``, left out as in
#: :class:`ModelFeatures`) and the response features, ``post_pre_ratio`` as its log.
TASK_KINETIC_FEATURES = ("log_k", "log_floor", "log_baseline", "log_nadir", "n_samples", "kinetics_ok",
                         "log_post_pre_ratio", "normalised", "exponential_clearance", "clearance_r2")
#: Spline terms of ``logistic_spline`` for a task (with ``age`` when it is a predictor).
_TASK_SPLINE = ("age", "log_k", "log_baseline", "log_post_pre_ratio")


class TaskFeatures(TransformerMixin, BaseEstimator):
    """Predictors of a task other than the default (:mod:`ca125kinetics.task`): stateless.

    Output: the task's ``numeric`` clinical columns then :data:`TASK_KINETIC_FEATURES`
    (float64, NaN when unknown or infinite), then the ``categorical`` columns (str,
    ``"missing"`` when unknown). ``log_post_pre_ratio = log(post_pre_ratio)``; percent
    declines at 21-day cycles are not used (a neoadjuvant schedule has its own timing).
    """

    def __init__(self, numeric=(), categorical=()):
        self.numeric = numeric
        self.categorical = categorical

    @property
    def numeric_out(self) -> list[str]:
        return list(self.numeric) + list(TASK_KINETIC_FEATURES)

    def fit(self, X: pd.DataFrame, y=None) -> TaskFeatures:
        self._check(X)
        self.n_features_in_ = X.shape[1]
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        return self

    def _check(self, X) -> None:
        if not isinstance(X, pd.DataFrame):
            raise InvalidInputError(f"TaskFeatures needs a pandas DataFrame, got {type(X).__name__}")
        needed = [*self.numeric, *self.categorical, "post_pre_ratio", "normalised", "log_k", "kinetics_ok"]
        missing = [c for c in needed if c not in X.columns]
        if missing:
            raise InvalidInputError(f"model input lacks column(s) {missing}; build it with "
                                    "ca125kinetics.features.build_patient_frame(task=...) and the "
                                    "KineticsFeatures step")

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "n_features_in_")
        self._check(X)
        frame = pd.DataFrame(index=X.index)
        with np.errstate(divide="ignore", invalid="ignore"):
            for name in self.numeric_out:
                source = "post_pre_ratio" if name == "log_post_pre_ratio" else name
                v = np.array(pd.to_numeric(X[source], errors="coerce").to_numpy(dtype=float, na_value=np.nan))
                if name == "log_post_pre_ratio":
                    v = np.log(np.where(v > 0, v, np.nan))
                v[np.isinf(v)] = np.nan
                frame[name] = v
        for name in self.categorical:
            frame[name] = np.array(["missing" if pd.isna(v) or str(v).strip() == "" else str(v)
                                    for v in X[name].to_numpy(dtype=object)], dtype=object)
        return frame

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return np.asarray(self.numeric_out + list(self.categorical), dtype=object)


class RecalibratedClassifier(ClassifierMixin, BaseEstimator):
    """A classifier whose probabilities pass a fixed logistic recalibration.

    ``p' = expit(intercept + slope * logit(p))`` (Cox 1958; Steyerberg, *Clinical Prediction
    Models*, 2nd ed., ch. 15: "logistic recalibration"). ``intercept = 0, slope = 1`` is the
    identity. The recalibration parameters are hyperparameters (estimated outside, from
    out-of-fold predictions); ``fit`` fits a clone of ``estimator`` only.
    """

    def __init__(self, estimator=None, intercept: float = 0.0, slope: float = 1.0):
        self.estimator = estimator
        self.intercept = intercept
        self.slope = slope

    def fit(self, X, y) -> RecalibratedClassifier:
        if self.estimator is None:
            raise InvalidInputError("RecalibratedClassifier needs an estimator")
        if not (math.isfinite(self.intercept) and math.isfinite(self.slope)):
            raise InvalidInputError(f"recalibration intercept and slope must be finite, got "
                                    f"{self.intercept!r}, {self.slope!r}")
        self.estimator_ = clone(self.estimator).fit(X, y)
        self.classes_ = self.estimator_.classes_
        return self

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        p = self.estimator_.predict_proba(X)[:, 1]
        q = expit(self.intercept + self.slope * logit(p))
        return np.column_stack([1.0 - q, q])

    def predict(self, X) -> np.ndarray:
        return self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]


def _preprocess(family: str, hp: dict[str, Any], numeric_features=NUMERIC_FEATURES,
                categorical_features=CATEGORICAL_FEATURES, spline_features=SPLINE_FEATURES):
    """Preprocessing of ``family`` for the given predictor columns (default: the ovarian ones)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import MissingIndicator, SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, SplineTransformer, StandardScaler

    categorical = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    if family == "gradient_boosting":
        numeric = [("numeric", "passthrough", list(numeric_features))]
        return ColumnTransformer(numeric + [("categorical", categorical, list(categorical_features))],
                                 sparse_threshold=0.0)
    if family == "logistic_spline":
        linear = [c for c in numeric_features if c not in spline_features]
        spline = Pipeline([("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                           ("spline", SplineTransformer(n_knots=int(hp["n_knots"]), degree=int(hp["degree"]),
                                                        knots="quantile", extrapolation="linear"))])
        parts = [("spline", spline, list(spline_features)),
                 ("spline_missing", MissingIndicator(features="all"), list(spline_features))]
    else:
        linear = list(numeric_features)
        parts = []
    parts += [("linear", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True), linear),
              ("categorical", categorical, list(categorical_features))]
    return Pipeline([("columns", ColumnTransformer(parts, sparse_threshold=0.0)),
                     ("scale", StandardScaler())])


def _classifier(family: str, hp: dict[str, Any], seed: int):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
    from sklearn.model_selection import StratifiedKFold

    if family == "logistic_main":
        return LogisticRegression(C=float(hp["C"]), max_iter=int(hp["max_iter"]))
    if family == "logistic_spline":
        return LogisticRegressionCV(Cs=[float(c) for c in hp["Cs"]], l1_ratios=(0.0,),
                                    cv=StratifiedKFold(int(hp["inner_cv"])), scoring="neg_log_loss",
                                    max_iter=int(hp["max_iter"]), use_legacy_attributes=False)
    return HistGradientBoostingClassifier(
        learning_rate=float(hp["learning_rate"]), max_iter=int(hp["max_iter"]),
        max_leaf_nodes=int(hp["max_leaf_nodes"]), min_samples_leaf=int(hp["min_samples_leaf"]),
        l2_regularization=float(hp["l2_regularization"]), early_stopping=bool(hp["early_stopping"]),
        validation_fraction=float(hp["validation_fraction"]), n_iter_no_change=int(hp["n_iter_no_change"]),
        scoring="loss", random_state=seed, categorical_features=None)


def hyperparameters(family: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The family's hyperparameters: :data:`DEFAULT_HYPERPARAMETERS` updated by ``overrides``.

    Raises
    ------
    InvalidInputError
        Unknown family or unknown hyperparameter name.
    """
    if family not in FAMILIES:
        raise InvalidInputError(f"unknown model family {family!r}; choose from {FAMILIES}")
    hp = dict(DEFAULT_HYPERPARAMETERS[family])
    unknown = sorted(set(overrides or {}) - set(hp))
    if unknown:
        raise InvalidInputError(f"unknown hyperparameter(s) {unknown} for family {family!r}; "
                                f"valid: {sorted(hp)}")
    hp.update(overrides or {})
    for name, value in hp.items():
        what, ok = _HYPERPARAMETER_RULES[name]
        if not ok(value):
            raise InvalidInputError(f"hyperparameter {name} of family {family!r} must be {what}, got {value!r}")
    return hp


def _whole(low: int):
    return lambda v: isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= low


def _real(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and math.isfinite(v)


#: What each hyperparameter may be: the ranges scikit-learn accepts (refused when the config
#: is read, not by a scikit-learn traceback in the middle of a training run).
_HYPERPARAMETER_RULES: dict[str, tuple[str, Any]] = {
    "C": ("a positive number", lambda v: _real(v) and v > 0),
    "max_iter": ("an integer >= 1", _whole(1)),
    "n_knots": ("an integer >= 2", _whole(2)),
    "degree": ("an integer >= 1", _whole(1)),
    "Cs": ("a non-empty list of positive numbers",
           lambda v: isinstance(v, (list, tuple)) and len(v) > 0 and all(_real(c) and c > 0 for c in v)),
    "inner_cv": ("an integer >= 2", _whole(2)),
    "learning_rate": ("a positive number", lambda v: _real(v) and v > 0),
    "max_leaf_nodes": ("an integer >= 2", _whole(2)),
    "min_samples_leaf": ("an integer >= 1", _whole(1)),
    "l2_regularization": ("a non-negative number", lambda v: _real(v) and v >= 0),
    "early_stopping": ("true or false", lambda v: isinstance(v, (bool, np.bool_))),
    "n_iter_no_change": ("an integer >= 1", _whole(1)),
    "validation_fraction": ("a number in (0, 1)", lambda v: _real(v) and 0 < v < 1),
}


def make_pipeline(family: str, *, kinetics_settings: KineticsSettings | None = None, seed: int = 0,
                  params: dict[str, Any] | None = None, memory=None, task=None):
    """An unfitted Pipeline of ``family``: patient frame -> probability of complete resection.

    Parameters
    ----------
    family : {"logistic_main", "logistic_spline", "gradient_boosting"}
    kinetics_settings : KineticsSettings, optional
        Settings of the ``KineticsFeatures`` step (default ``KineticsSettings()``).
    seed : int
        Seed of the stochastic parts (gradient boosting's early-stopping split).
    params : dict, optional
        Overrides of :data:`DEFAULT_HYPERPARAMETERS` ``[family]``.
    memory : joblib.Memory or str, optional
        Cache of fitted transformers (``Pipeline(memory=...)``): the same training fold's
        kinetics step is fitted once and reused by every family.
    task : TaskSpec, optional
        The prediction task (:mod:`ca125kinetics.task`). Default: the ovarian
        complete-resection task (``ModelFeatures``). Another task: ``KineticsFeatures`` of
        its marker, then :class:`TaskFeatures` of its declared predictors.

    Returns
    -------
    sklearn.pipeline.Pipeline
        Steps ``kinetics``, ``features``, ``preprocess``, ``classifier``.
    """
    from sklearn.pipeline import Pipeline

    from .kinetics import KineticsFeatures

    hp = hyperparameters(family, params)
    if task is not None and not task.is_default:
        features = TaskFeatures(numeric=tuple(task.numeric), categorical=tuple(task.categorical))
        spline = [c for c in _TASK_SPLINE if c in features.numeric_out]
        from .markers import get_marker

        ks = kinetics_settings or KineticsSettings(uln=get_marker(task.marker).default_uln)
        return Pipeline([
            ("kinetics", KineticsFeatures(method="population", settings=ks, marker=task.marker)),
            ("features", features),
            ("preprocess", _preprocess(family, hp, features.numeric_out, task.categorical, spline)),
            ("classifier", _classifier(family, hp, seed)),
        ], memory=memory)
    return Pipeline([
        ("kinetics", KineticsFeatures(method="population", settings=kinetics_settings or KineticsSettings())),
        ("features", ModelFeatures()),
        ("preprocess", _preprocess(family, hp)),
        ("classifier", _classifier(family, hp, seed)),
    ], memory=memory)


def frozen_classifier(pipeline):
    """Unfitted copy of a fitted pipeline's classifier with its tuned hyperparameters frozen.

    Used for the bootstrap interval ensemble: the tuned hyperparameters of the fitted
    classifier are reused instead of tuned again (``LogisticRegressionCV`` ->
    ``LogisticRegression(C=C_)``; early-stopped gradient boosting -> ``max_iter=n_iter_``
    without early stopping); a ``RecalibratedClassifier`` keeps its fixed recalibration.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV

    def freeze(est):
        if isinstance(est, RecalibratedClassifier):
            return RecalibratedClassifier(freeze(est.estimator_), est.intercept, est.slope)
        if isinstance(est, LogisticRegressionCV):
            return LogisticRegression(C=float(np.ravel(est.C_)[0]), max_iter=est.max_iter)
        if isinstance(est, HistGradientBoostingClassifier) and est.early_stopping:
            return clone(est).set_params(max_iter=int(est.n_iter_), early_stopping=False)
        return clone(est)

    return freeze(pipeline.steps[-1][1])


def frozen_head(pipeline):
    """Unfitted copy of a fitted pipeline's steps after ``kinetics``, hyperparameters frozen
    (the classifier as in :func:`frozen_classifier`)."""
    from sklearn.pipeline import Pipeline

    steps = [(name, clone(step)) for name, step in pipeline.steps[1:-1]]
    return Pipeline(steps + [(pipeline.steps[-1][0], frozen_classifier(pipeline))])


def with_kinetics_settings(pipeline, settings: KineticsSettings):
    """Give a *fitted* pipeline's kinetics step new settings that do not change the fit.

    Used to record a recalibrated ``k_ref`` (and its ``k_ref_source``) after training:
    ``k_ref`` enters only the standardized score ``kelim_score = k / k_ref``, which is not a
    predictor (:class:`ModelFeatures`), so the fitted population, every ``k`` and every
    prediction are unchanged. Any other change of the estimation settings is refused.

    Returns the same pipeline (modified in place).
    """
    step = pipeline.named_steps["kinetics"]
    current = step.settings_
    if settings.replace(k_ref=current.k_ref, k_ref_source=current.k_ref_source) != current:
        raise InvalidInputError("only k_ref and k_ref_source may change after fitting; refit the model to "
                                "change other kinetics settings")
    step.settings = settings
    step.settings_ = settings
    if getattr(step, "population_", None) is not None:
        step.population_ = dataclasses.replace(step.population_, settings=settings)
    return pipeline
