"""Validation studies: performance metrics, sample size, survival summaries.

* :mod:`.metrics` - discrimination (AUC, DeLong), calibration (CITL, slope, O/E, ICI),
  Brier, decision curves, threshold metrics.
* :mod:`.samplesize` - minimum sample size to develop (Riley et al.) or externally validate
  (Riley et al. 2021) a binary-outcome model.
* :mod:`.survival` - Kaplan-Meier, median survival, log-rank (and a vectorised signed
  two-sample log-rank for simulation studies), Cox (imported on first use).

Importing this package loads numpy, pandas and scipy only; statsmodels is imported inside the
functions that need it, and nothing here imports matplotlib or mlflow.
"""

from __future__ import annotations

import importlib

# ``metrics`` is both a submodule and a function; the explicit import binds the name to the
# function (after the submodule is loaded), so ``validation.metrics(y, p)`` always works.
from .metrics import (
    DelongTestResult,
    ThresholdMetrics,
    ValidationMetrics,
    calibration_curve,
    delong_test,
    metrics,
    net_benefit,
    roc_curve_frame,
    threshold_metrics,
)
from .samplesize import (
    SampleSizeResult,
    ValidationSampleSizeResult,
    pmsampsize_binary,
    validation_binary,
)

_LAZY = {
    "kaplan_meier": "survival",
    "median_survival": "survival",
    "logrank": "survival",
    "logrank_z": "survival",
    "cox": "survival",
    "LogrankResult": "survival",
}

__all__ = sorted([
    "DelongTestResult",
    "SampleSizeResult",
    "ThresholdMetrics",
    "ValidationMetrics",
    "ValidationSampleSizeResult",
    "calibration_curve",
    "delong_test",
    "metrics",
    "net_benefit",
    "pmsampsize_binary",
    "roc_curve_frame",
    "threshold_metrics",
    "validation_binary",
    *_LAZY,
])


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ca125kinetics.validation' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
