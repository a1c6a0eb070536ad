"""Writes tests/data/rms_validate_data.csv and rms_validate_tiny.csv (run once; the tests never
regenerate them).

rms_validate_data.csv: 80 synthetic patients, outcome ``y`` from a logistic model
``logit P(y=1) = -0.3 + 0.8 x1 - 0.5 x2 + 0.6 x3`` with ``x1, x2 ~ N(0, 1)`` (2 decimals),
``x3 ~ Bernoulli(0.4)`` and a pure-noise ``x4 ~ N(0, 1)`` (2 decimals), so that a plain
logistic regression on x1..x4 has some optimism to correct.

rms_validate_tiny.csv: 20 patients, 3 events, one predictor ``x`` (distinct values; the events
in the middle, 8 non-events on either side), so that about 4 % of bootstrap resamples hold
no event (a single outcome class: the fit fails) while a resample whose events ``x``
separates from its non-events is very unlikely ((12/20)^20 per side).

    python tests/data/rms_validate_generator.py
"""

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent


def main() -> None:
    rng = np.random.default_rng(20261130)
    n = 80
    x1 = np.round(rng.normal(size=n), 2)
    x2 = np.round(rng.normal(size=n), 2)
    x3 = rng.binomial(1, 0.4, size=n)
    x4 = np.round(rng.normal(size=n), 2)
    eta = -0.3 + 0.8 * x1 - 0.5 * x2 + 0.6 * x3
    y = rng.binomial(1, 1.0 / (1.0 + np.exp(-eta)))
    pd.DataFrame({"y": y, "x1": x1, "x2": x2, "x3": x3, "x4": x4}).to_csv(
        HERE / "rms_validate_data.csv", index=False)
    x = [0.1, 0.3, 0.4, 0.7, 0.8, 1.0, 1.3, 1.4, 1.6, 1.7, 1.9, 2.2, 2.3, 2.5, 2.6, 2.9, 3.1, 3.2, 3.4, 3.7]
    events = {8, 9, 11}  # 0-based positions, in the middle
    tiny = pd.DataFrame({"y": [int(i in events) for i in range(20)], "x": x})
    tiny.to_csv(HERE / "rms_validate_tiny.csv", index=False)


if __name__ == "__main__":
    main()
