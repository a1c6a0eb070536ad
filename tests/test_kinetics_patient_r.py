"""The per-patient kinetics fit against an independent R reading of its documented rules.

``tests/data/kinetics_patient_expected.csv`` was written by
``tests/data/kinetics_patient_reference.R`` (base R: nlminb from 40 starts, polished by nlminb
and L-BFGS-B) from ``kinetics_patient_cases.csv`` (500 adversarial patients of
``kinetics_patient_cases_generator.py``); ``kinetics_patient_README.md`` says how. R is not
run here: the tests read its stored output through ``kinetics_patient_compare.py``.

Tolerance of k. Both minimise the same objective; the package's is ``Q = S / (2 x 0.1^2)``
and its per-patient fit stops when the predicted decrease of Q is below 1e-12. Near the
optimum ``Q - Q* ~ (log k - log k*)^2 / (2 log_k_se^2)`` (``log_k_se`` the Laplace sd, from
the inverse Hessian of Q), so a fit within ``dQ`` of the optimum can have log k off by
``sqrt(2 dQ) log_k_se``. Where k is weakly identified (``log_k_se`` in the tens or more: a
nearly flat series, or censored values that any k in a range satisfies exactly) that is
large, and what must agree is the optimum, not the path: the package's Q may exceed R's by
at most ``Q_TOL`` = 1e-7 (the stopping rule predicts the decrease from a local model, which
underestimates it along a curved valley), and its log k must lie within
``sqrt(2 Q_TOL) log_k_se`` (at least 1e-4) of R's.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).parent / "data"
Q_TOL = 1e-7
#: Patients whose status may differ (the package's fit not converged where R finds the
#: optimum): none. ``mixed-0316``, a slow decline with three samples that an interior floor
#: fits exactly, reached along a curved valley (about 570 iterations), was one until the
#: per-patient iteration limit went from 300 to 1,000. (``cens6-0222``, a censored value
#: pressed against the other samples, crawled along its wall for about 1,050 iterations
#: until a refused step into a wall was retaken with the wall's curvature.)
NOT_CONVERGED = ()


def _compare_script():
    """tests/data/kinetics_patient_compare.py as a module (a script, not a package module)."""
    spec = importlib.util.spec_from_file_location("kinetics_patient_compare", DATA / "kinetics_patient_compare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def compared():
    return _compare_script().compare(DATA)


def test_every_case_was_compared(compared):
    pkg, r, _ = compared
    assert len(r) == 500 and set(pkg.index) == set(r.index)
    assert set(r["status"]) == {"ok", "insufficient_samples", "no_baseline", "at_floor", "rising",
                                "invalid_input", "k_at_bound"}
    assert set(r["reason_category"]) >= {"k_at_bound:lower", "k_at_bound:upper", "at_floor:censored_baseline",
                                         "insufficient_samples:on_treatment", "invalid_input:reading"}


def test_status_and_reason_category_agree_with_r(compared):
    """Every patient (but those of :data:`NOT_CONVERGED`, none) gets R's status and reason category. Before the fixes
    this comparison brought, 25 did not: 3 constant series read as declining by the rounding
    of the slope, a baseline within 1e-9 of the ULN read as above it, 16 k the samples do not
    identify reported as ``ok`` where the optimiser started (0.5/day) or stopped on a flat
    profile, 5 a hair above the lower bound of k on the ridge of a flat series."""
    pkg, r, both = compared
    differ = both.index[both["category"] != both["category_r"]]
    assert differ.tolist() == sorted(NOT_CONVERGED)
    assert (pkg.loc[differ, "status"] == "not_converged").all() and (r.loc[differ, "status"] == "ok").all()
    # the counts the reasons are built from agree too
    counted = r.index[r["n_samples"].notna() & (r["status"] != "invalid_input")]
    np.testing.assert_array_equal(pkg.loc[counted, "n_samples"], r.loc[counted, "n_samples"])
    np.testing.assert_array_equal(pkg.loc[counted, "n_outside_window"], r.loc[counted, "n_outside"])
    assert pkg.loc[r.index[r["status"] != "ok"], "k"].isna().all()


def test_k_agrees_with_r_at_the_optimum(compared):
    pkg, r, both = compared
    fit = both.dropna(subset=["q", "q_r"])
    assert len(fit) == (r["status"] == "ok").sum() - len(NOT_CONVERGED) >= 340
    # R's stored objective is the one recomputed here from its estimates
    np.testing.assert_allclose(fit["q_r"], r.loc[fit.index, "objective"] / (2 * 0.1 ** 2), rtol=1e-6, atol=1e-12)
    # the package's optimum is never worse than R's beyond the tolerance (before: 13 were,
    # by up to 3.4e-2, k up to 22 % off, stopped on flat valleys with "converged" fits)
    worse = fit.index[fit["q"] > fit["q_r"] + Q_TOL]
    assert worse.tolist() == []
    se = np.nan_to_num(fit["log_k_se_r"].to_numpy(), nan=np.inf)
    allowed = np.maximum(1e-4, math.sqrt(2 * Q_TOL) * se)
    assert fit.index[fit["dlog_k"].to_numpy() > allowed].tolist() == []
    # most agree far more closely: the same optimum
    assert fit["dlog_k"].median() < 1e-6
    assert (fit["dlog_k"] <= 1e-4).mean() > 0.95
    # the derived columns follow from k
    ok = fit.index
    k = pkg.loc[ok, "k"]
    np.testing.assert_allclose(pkg.loc[ok, "half_life_days"], math.log(2) / k, rtol=1e-12)
    np.testing.assert_allclose(r.loc[ok, "half_life_days"], math.log(2) / r.loc[ok, "k"], rtol=1e-12)
    np.testing.assert_allclose(pkg.loc[ok, "kelim_score"], k / 0.05, rtol=1e-12)
    close = ok[fit["dlog_k"] <= 1e-6]
    np.testing.assert_allclose(pkg.loc[close, "rmse_log"], r.loc[close, "rmse_log"], rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(pkg.loc[close, "c0"], r.loc[close, "c0"], rtol=1e-4)


def test_committed_cases_are_the_generators():
    """``kinetics_patient_cases.csv`` is what the seeded generator writes (row for row)."""
    import csv

    spec = importlib.util.spec_from_file_location("kinetics_patient_cases_generator",
                                                  DATA / "kinetics_patient_cases_generator.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with (DATA / "kinetics_patient_cases.csv").open(newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["patient_id", "day", "ca125", "uln"]
    assert [tuple(r) for r in rows[1:]] == [(p, str(d), v, u) for p, d, v, u in module.build()]
