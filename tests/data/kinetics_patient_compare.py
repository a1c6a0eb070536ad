"""Compare the per-patient fit of ``fit_kinetics`` with the independent R reading.

Run from the repository root (see ``tests/data/kinetics_patient_README.md``)::

    PYTHONPATH=src python tests/data/kinetics_patient_compare.py

reads ``kinetics_patient_cases.csv`` (as ``read_markers(..., duplicates="mean",
on_error="flag")``) and R's ``kinetics_patient_expected.csv``, and prints how many statuses
and reason categories agree and how close k is where both fit. ``tests/test_kinetics_patient_r.py``
asserts the same comparison (:func:`compare`).

The objective both minimise, in the package's units: ``Q = S / (2 x 0.1^2)``, with ``S``
the sum of squared log residuals of the observed samples plus ``1e4`` times the squared
one-sided residuals ``min(log x - log C(t), 0)`` of the censored ones (:func:`objective`,
written here from the documentation).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from ca125kinetics.io import read_markers
from ca125kinetics.kinetics import fit_kinetics, series_to_wide

DATA = Path(__file__).parent
INV_2S2 = 1.0 / (2 * 0.1 ** 2)        # Q = S / (2 sigma^2), sigma the documented 0.1
CENSORED_WEIGHT = 1e4


def category(row) -> str:
    """The R script's reason category, read from the package's status and reason text."""
    status, reason = row["status"], row["reason"]
    if status == "invalid_input":
        return "invalid_input:not_positive" if "is not positive" in reason else "invalid_input:reading"
    if status == "insufficient_samples":
        return "insufficient_samples:total" if row["n_samples"] < 3 else "insufficient_samples:on_treatment"
    if status == "at_floor":
        return ("at_floor:censored_baseline" if "below the assay limit" in reason
                else "at_floor:baseline_at_or_below_uln")
    if status == "k_at_bound":
        k = float(reason.split("the fitted k (")[1].split("/day")[0])
        return "k_at_bound:lower" if k < 0.01 else "k_at_bound:upper"
    return status


def objective(wide: pd.DataFrame, pid: str, k: float, floor: float, c0: float) -> float:
    """Q at ``(k, floor, c0)`` over the patient's used samples (``series_to_wide``)."""
    row = wide.loc[pid]
    js = [c[4:] for c in wide.columns if c.startswith("day_") and not math.isnan(row[c])]
    day = np.array([row["day_" + j] for j in js])
    value = np.array([row["ca125_" + j] for j in js])
    cens = np.array([row["censored_" + j] for j in js]) == 1
    t = np.maximum(day, 0.0)
    res = np.log(value) - np.log(floor + (c0 - floor) * np.exp(-k * t))
    res = np.where(cens, np.minimum(res, 0.0), res)
    return INV_2S2 * float(np.sum(np.where(cens, CENSORED_WEIGHT, 1.0) * res ** 2))


def compare(data: Path = DATA) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``(package, R, both)``: the package's and R's tables by patient, and per patient the
    two categories and, where both fitted, k, Q and ``dlog_k = |log k_pkg - log k_R|``."""
    markers = read_markers(data / "kinetics_patient_cases.csv", duplicates="mean", on_error="flag")
    pkg = fit_kinetics(markers, method="per-patient").set_index("patient_id")
    r = pd.read_csv(data / "kinetics_patient_expected.csv").set_index("patient_id")
    wide = series_to_wide(markers)
    both = pd.DataFrame({"category": pkg.apply(category, axis=1).loc[r.index],
                         "category_r": r["reason_category"]})
    fitted = r.index[(r["status"] == "ok") & (pkg.loc[r.index, "status"] == "ok")]
    both["k"], both["k_r"] = pkg.loc[r.index, "k"], r["k"]
    both["q"] = pd.Series({p: objective(wide, p, *pkg.loc[p, ["k", "floor", "c0"]]) for p in fitted})
    both["q_r"] = pd.Series({p: objective(wide, p, *r.loc[p, ["k", "floor", "c0"]]) for p in fitted})
    both["dlog_k"] = np.abs(np.log(both["k"] / both["k_r"]))
    both["log_k_se_r"] = r["log_k_se"]
    return pkg, r, both


def main() -> None:
    _, r, both = compare(Path(sys.argv[1]) if len(sys.argv) > 1 else DATA)
    same = both["category"] == both["category_r"]
    print(f"patients {len(both)}; status and reason category agree for {int(same.sum())}")
    print(r["status"].value_counts().to_string())
    fit = both.dropna(subset=["q", "q_r"])
    d = fit["dlog_k"]
    excess = fit["q"] - fit["q_r"]
    print(f"both fitted: {len(fit)}; |log k - log k_R|: median {d.median():.2g}, 90th percentile "
          f"{d.quantile(0.9):.2g}, max {d.max():.2g}; {int((d <= 1e-4).sum())} within 1e-4, "
          f"{int((d <= 1e-6).sum())} within 1e-6")
    print(f"Q_package - Q_R: max {excess.max():.2g} (package above R by > 1e-9: {int((excess > 1e-9).sum())}); "
          f"R above the package by > 1e-9: {int((excess < -1e-9).sum())}")
    big = fit[d > 1e-4].sort_values("dlog_k", ascending=False)
    if len(big):
        print("k further apart than 1e-4 (log), with R's Laplace sd of log k:")
        print(big[["k", "k_r", "q", "q_r", "dlog_k", "log_k_se_r"]].to_string(float_format=lambda v: f"{v:.4g}"))


if __name__ == "__main__":
    main()
