"""The scikit-learn transformer of the kinetics: CA-125 series -> KELIM-like features.

Public as :class:`ca125kinetics.kinetics.KineticsFeatures` (and pickled under that name); it
lives in this module so that ``ca125kinetics.kinetics`` itself does not import scikit-learn.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .errors import InvalidInputError
from .kinetics import (FEATURE_NAMES, METHODS, KineticsPopulation, KineticsSettings, _features, _is_wide,
                       _engine_frame, _learn_population, _population_marker, _score, _series_columns, _settings,
                       _to_batch)

__all__ = ["KineticsFeatures"]


class KineticsFeatures(TransformerMixin, BaseEstimator):
    """scikit-learn transformer: CA-125 series -> KELIM-like kinetics features.

    Parameters
    ----------
    method : {"population", "per-patient", "loglinear"}
        Estimator of k (see :func:`fit_kinetics`).
    settings : KineticsSettings, optional
        Rules (window, exclusions, k_ref, ...); default ``KineticsSettings()`` (or the
        settings of ``population``).
    population : KineticsPopulation, optional
        Score with this fixed population instead of learning one in :meth:`fit`.
    population_start : KineticsPopulation, optional
        Start the EM of :meth:`fit` from this population's moments instead of the MixedLM
        start (method ``"population"``, without ``population``). The population is still
        learned on the data passed to :meth:`fit`, by the same EM (SQUAREM-accelerated,
        Varadhan and Roland 2008) to the same convergence criterion: the start changes, not
        the estimator; the result agrees with a MixedLM-started fit up to the EM's tolerance
        (moments ~1e-4 apart). A start near the answer, e.g. the population of the full
        sample for a bootstrap resample, saves the MixedLM fit and sometimes EM iterations.
        ``population_.start_method`` is then ``"population"``. Rules stay ``settings`` (the
        start's settings are not used).
    marker : str, optional
        The marker of the series (``"ca125"`` by default, or the population's; ``"cea"``):
        it names the value columns (``cea_1..`` in the wide form) and the population
        learned records it.

    Attributes
    ----------
    population_ : KineticsPopulation or None
        Learned in :meth:`fit` on the training patients (method ``"population"``) and used,
        without refitting, by :meth:`transform`.
    settings_ : KineticsSettings
    input_kind_ : {"long", "wide"}
    passthrough_columns_ : list
        Columns of a wide frame passed through unchanged (clinical factors...).
    feature_names_in_, n_features_in_

    Notes
    -----
    Input is either the long markers frame (``transform`` then returns one row per patient,
    indexed by ``patient_id``, with the features only) or the wide form of
    :func:`series_to_wide` joined to other per-patient columns (patients are named by a
    ``patient_id`` column if there is one, else by the index; ``transform`` returns the
    same rows in the same order, the other columns unchanged, the series columns
    ``day_j``, ``ca125_j``, ``censored_j``, ``uln_j`` and :data:`WIDE_META_COLUMNS` dropped, and the
    features appended). The wide form lets cross-validation split patients, so that the
    population is learned inside each training fold.

    Features (:data:`FEATURE_NAMES`, NaN where unscorable; impute downstream): ``log_k``,
    ``kelim_score``, ``half_life_days``, ``log_floor``, ``log_baseline``, ``log_nadir``,
    ``pct_decline_c2..c4``, ``n_samples``, ``kinetics_ok`` (1.0 when status is ``ok``).
    """

    # class-level default: estimators pickled before this parameter existed lack the
    # attribute, and get_params()/clone() read every __init__ parameter with getattr
    population_start: KineticsPopulation | None = None
    marker: str | None = None

    def __init__(self, method: str = "population", settings: KineticsSettings | None = None,
                 population: KineticsPopulation | None = None,
                 population_start: KineticsPopulation | None = None, marker: str | None = None):
        self.method = method
        self.settings = settings
        self.population = population
        self.population_start = population_start
        self.marker = marker

    def _spec(self):
        return _population_marker(self.population, self.marker)

    def _resolved_settings(self) -> KineticsSettings:
        if self.settings is None and self.population is not None:
            return self.population.settings
        return _settings(self.settings, self._spec())

    def fit(self, X: pd.DataFrame, y=None) -> KineticsFeatures:
        if self.method not in METHODS:
            raise InvalidInputError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.population is not None and not isinstance(self.population, KineticsPopulation):
            raise InvalidInputError(f"population must be a KineticsPopulation, got {type(self.population).__name__}")
        if self.population_start is not None:
            if not isinstance(self.population_start, KineticsPopulation):
                raise InvalidInputError(
                    f"population_start must be a KineticsPopulation, got {type(self.population_start).__name__}")
            if self.method != "population" or self.population is not None:
                raise InvalidInputError(
                    "population_start only starts the population learned in fit (method='population' "
                    "without population=); remove population_start or population")
        s = self._resolved_settings()
        if not isinstance(X, pd.DataFrame):
            raise InvalidInputError(f"KineticsFeatures needs a pandas DataFrame, got {type(X).__name__}")
        spec = self._spec()
        Xe = _engine_frame(X, spec)                     # value columns under the engine's name
        wide = _is_wide(Xe)
        passthrough = [c for c in Xe.columns if c not in set(_series_columns(Xe))] if wide else []
        clash = sorted(set(map(str, passthrough)) & set(FEATURE_NAMES))
        if clash:
            raise InvalidInputError(f"column(s) {clash} would be overwritten by kinetics features; rename them")
        batch = _to_batch(X, s, spec)
        self.population_ = None
        if self.method == "population":
            self.population_ = (self.population if self.population is not None
                                else _learn_population(batch, s, self.population_start, spec=spec))
        self.settings_ = s
        self.input_kind_ = "wide" if wide else "long"
        self.passthrough_columns_ = passthrough
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = len(X.columns)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "settings_")
        if not isinstance(X, pd.DataFrame):
            raise InvalidInputError(f"KineticsFeatures needs a pandas DataFrame, got {type(X).__name__}")
        spec = self._spec()
        Xe = _engine_frame(X, spec)
        kind = "wide" if _is_wide(Xe) else "long"
        if kind != self.input_kind_:
            raise InvalidInputError(f"fitted on the {self.input_kind_} markers form, got the {kind} form; "
                                    "use the same form (series_to_wide converts)")
        batch = _to_batch(X, self.settings_, spec)
        d = _score(batch, self.method, self.population_, self.settings_)
        feats = _features(d)
        if kind == "long":
            return pd.DataFrame(feats.T, index=batch.ids, columns=list(FEATURE_NAMES), copy=False)
        passthrough = [c for c in Xe.columns if c not in set(_series_columns(Xe))]
        if passthrough != self.passthrough_columns_:
            raise InvalidInputError(
                f"the non-series columns differ from those seen in fit: expected "
                f"{self.passthrough_columns_}, got {passthrough}")
        features = pd.DataFrame(feats.T, index=X.index, columns=list(FEATURE_NAMES), copy=False)
        return pd.concat([X.loc[:, passthrough], features], axis=1)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "settings_")
        return np.asarray([str(c) for c in self.passthrough_columns_] + list(FEATURE_NAMES), dtype=object)


KineticsFeatures.__module__ = "ca125kinetics.kinetics"
