"""The logistic link, written once: ``logit`` and its inverse ``expit``.

Used by the recalibration of the models, the compiled scoring head, training and the
validation metrics (calibration slope and intercept).
"""

from __future__ import annotations

import numpy as np

__all__ = ["expit", "logit"]


def expit(z) -> np.ndarray:
    """Logistic function ``1 / (1 + exp(-z))``, computed without overflow (equal to scipy's
    ``expit``, which scikit-learn uses, to the last bit or so)."""
    z = np.asarray(z, dtype=float)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def logit(p, eps: float = 1e-8) -> np.ndarray:
    """``log(p / (1 - p))`` of probabilities clipped to ``[eps, 1 - eps]`` (the one logit of the
    package: recalibration, validation metrics and the compiled head use it)."""
    p = np.clip(np.asarray(p, dtype=float), eps, 1.0 - eps)
    return np.log(p) - np.log1p(-p)
