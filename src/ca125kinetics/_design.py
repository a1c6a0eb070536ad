"""The model's input features from the patient frame: fixed transforms, no fitted parameter.

Shared by :class:`ca125kinetics.models.ModelFeatures` (the ``features`` step of every model
pipeline) and the compiled scorer (``ca125kinetics._compiled``), so both compute the same
predictors. Light on purpose: numpy and pandas only (no scikit-learn), so that scoring with a
model's scoring file (``scorer.json``) does not import scikit-learn.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["NUMERIC_FEATURES", "CATEGORICAL_FEATURES", "model_feature_columns"]

#: Numeric predictors built by ``models.ModelFeatures``, in order.
NUMERIC_FEATURES = (
    "age", "ecog", "log_pfi", "ascites_any", "log1p_ascites", "ascites_500", "primary_residual",
    "log_ca125", "gcig_responded", "log_k", "log_floor", "log_nadir", "pct_decline_c2",
    "pct_decline_c3", "pct_decline_c4", "n_samples", "kinetics_ok",
)
#: Categorical predictors (str, ``"missing"`` when unknown).
CATEGORICAL_FEATURES = ("figo_stage", "recurrence_pattern", "recist")
_PCT_CLIP = (-300.0, 100.0)


def _numeric_values(values) -> np.ndarray:
    """Float array (NaN where missing or not a number) of a column or a sequence."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiu":
        return values.astype(float, copy=False)
    series = values if isinstance(values, pd.Series) else pd.Series(values, dtype=object)
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _flag_values(values) -> np.ndarray:
    """1.0/0.0/NaN of a True/False/unknown column or sequence."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "bfiu":
        return values.astype(float)
    if isinstance(values, np.ndarray) and values.dtype == object and all(
            v is None or v is True or v is False for v in values):
        return np.array([np.nan if v is None else float(v) for v in values], dtype=float)
    return pd.array(values, dtype="boolean").astype("Float64").to_numpy(dtype=float, na_value=np.nan)


def _category_values(values: np.ndarray) -> np.ndarray:
    """A categorical column as text, ``"missing"`` when unknown (NA or blank): each distinct
    value converted once."""
    if len(values) <= 64:      # a few patients: directly
        return np.array(["missing" if pd.isna(v) or str(v).strip() == "" else str(v) for v in values], dtype=object)
    codes, distinct = pd.factorize(values)      # hashed, not sorted; missing: -1
    if not all(type(v) is str for v in distinct):
        # equal values of other types print differently (1, 1.0, True): every cell as str()
        # writes it first (pandas' conversion keeps a trailing NUL, which numpy's fixed-width
        # text would drop), then each distinct text once
        cells = pd.array(np.where(pd.isna(values), "", values).astype(object), dtype=object).astype(str)
        codes, distinct = pd.factorize(cells)
    text = ["missing" if v.strip() == "" else v for v in distinct.tolist()] + ["missing"]   # -1: the last
    return np.array(text, dtype=object)[codes]


def model_feature_columns(X, n: int) -> dict[str, np.ndarray]:
    """The transforms of :class:`ModelFeatures` on a mapping of columns (DataFrame or dict).

    ``X`` maps the patient-frame columns (after ``KineticsFeatures``) to length-``n``
    columns (Series, arrays or sequences). Returns :data:`NUMERIC_FEATURES` as float arrays
    (NaN when unknown, infinities made NaN) and :data:`CATEGORICAL_FEATURES` as object
    arrays (``"missing"`` when unknown). :meth:`ModelFeatures.transform` and the compiled
    scorer (``ca125kinetics._compiled``) both call this function.
    """
    def num(name):
        return _numeric_values(X[name])

    def optional(name):
        return num(name) if name in X else np.full(n, np.nan)

    ascites, pfi, ca125 = num("ascites_ml"), num("pfi_months"), num("ca125_at_recurrence")
    with np.errstate(divide="ignore", invalid="ignore"):
        out = {
            "age": num("age"),
            "ecog": num("ecog"),
            "log_pfi": np.log(np.where(pfi > 0, pfi, np.nan)),
            "ascites_any": np.where(np.isnan(ascites), np.nan, (ascites > 0).astype(float)),
            "log1p_ascites": np.log1p(np.where(ascites >= 0, ascites, np.nan)),
            "ascites_500": np.where(np.isnan(ascites), np.nan, (ascites >= 500).astype(float)),
            "primary_residual": num("primary_residual_disease"),
            "log_ca125": np.log(np.where(ca125 > 0, ca125, np.nan)),
            "gcig_responded": _flag_values(X["gcig_responded"]),
        }
    for name in ("log_k", "log_floor", "log_nadir", "n_samples", "kinetics_ok"):
        out[name] = optional(name)
    for name in ("pct_decline_c2", "pct_decline_c3", "pct_decline_c4"):
        out[name] = np.clip(optional(name), *_PCT_CLIP)
    cols = {}
    for name in NUMERIC_FEATURES:
        v = np.array(out[name], dtype=float)
        v[np.isinf(v)] = np.nan
        cols[name] = v
    for name in CATEGORICAL_FEATURES:
        values = X[name].to_numpy(dtype=object) if isinstance(X[name], pd.Series) else np.asarray(X[name], dtype=object)
        cols[name] = _category_values(values)
    return cols
