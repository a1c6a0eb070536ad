"""Tests of validation metrics: AUC/DeLong, calibration, Brier, ICI, decision curves, thresholds.

References (tests/data/validation_README.md): R pROC's own test values on its aSAH data, and
independent computations written differently here (explicit loops, Newton-Raphson, a
hand-written lowess).
"""

from __future__ import annotations

import json
import math
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings as hsettings, strategies as st
from scipy import stats

import ca125kinetics
from ca125kinetics import InvalidInputError, delong_test, metrics, net_benefit, threshold_metrics
from ca125kinetics.errors import DataQualityWarning, InsufficientDataError
from ca125kinetics.validation import calibration_curve, roc_curve_frame
from ca125kinetics.validation.metrics import delong_auc, proportion_ci

DATA = Path(__file__).parent / "data"
REF = json.loads((DATA / "validation_reference_values.json").read_text())
PROC = REF["proc_asah"]
ASAH = pd.read_csv(DATA / "validation_asah.csv")
CAL = pd.read_csv(DATA / "validation_calibration.csv")
Y_ASAH = ASAH["poor_outcome"].to_numpy()


# ---------------------------------------------------------------- independent references


def brute_force_placements(y, s):
    """DeLong placements with explicit loops: psi = 1 if case > control, 1/2 if tied."""
    cases = [v for v, o in zip(s, y) if o == 1]
    controls = [v for v, o in zip(s, y) if o == 0]

    def psi(a, b):
        return 1.0 if a > b else (0.5 if a == b else 0.0)

    v10 = [sum(psi(a, b) for b in controls) / len(controls) for a in cases]
    v01 = [sum(psi(a, b) for a in cases) / len(cases) for b in controls]
    return np.array(v10), np.array(v01)


def brute_force_delong(y, s1, s2):
    x1, y1 = brute_force_placements(y, s1)
    x2, y2 = brute_force_placements(y, s2)
    m, n = len(x1), len(y1)

    def cov(a, b):
        return sum((ai - a.mean()) * (bi - b.mean()) for ai, bi in zip(a, b)) / (len(a) - 1)

    v1 = cov(x1, x1) / m + cov(y1, y1) / n
    v2 = cov(x2, x2) / m + cov(y2, y2) / n
    c12 = cov(x1, x2) / m + cov(y1, y2) / n
    return x1.mean(), x2.mean(), v1, v2, c12


def newton_logistic(y, x_cols, offset):
    """Logistic MLE by plain Newton-Raphson; returns (beta, se)."""
    x = np.column_stack(x_cols)
    beta = np.zeros(x.shape[1])
    for _ in range(100):
        eta = x @ beta + offset
        mu = 1.0 / (1.0 + np.exp(-eta))
        grad = x.T @ (y - mu)
        info = x.T @ (x * (mu * (1.0 - mu))[:, None])
        step = np.linalg.solve(info, grad)
        beta = beta + step
        if np.max(np.abs(step)) < 1e-14:
            break
    eta = x @ beta + offset
    mu = 1.0 / (1.0 + np.exp(-eta))
    info = x.T @ (x * (mu * (1.0 - mu))[:, None])
    return beta, np.sqrt(np.diag(np.linalg.inv(info)))


def hand_lowess(y, p, frac):
    """Local linear tricube fits over the nearest int(frac * n) points, written with loops."""
    n = len(p)
    k = int(frac * n + 1e-10)
    fitted = []
    for x0 in p:
        d = np.abs(p - x0)
        h = np.sort(d)[k - 1]
        w = np.array([(1 - (di / h) ** 3) ** 3 if di < h else 0.0 for di in d])
        sw, swx, swy = w.sum(), (w * p).sum(), (w * y).sum()
        swxx, swxy = (w * p * p).sum(), (w * p * y).sum()
        slope = (sw * swxy - swx * swy) / (sw * swxx - swx * swx)
        intercept = (swy - slope * swx) / sw
        fitted.append(intercept + slope * x0)
    return np.array(fitted)


# ---------------------------------------------------------------- AUC and DeLong vs pROC


def test_asah_transcription_matches_proc_placements():
    for marker in ("s100b", "ndka"):
        v10, v01 = brute_force_placements(Y_ASAH, ASAH[marker].to_numpy())
        ref = PROC["first_placements"][marker]
        np.testing.assert_allclose(v10[:5], ref["cases"], rtol=1e-12)
        np.testing.assert_allclose(v01[:5], ref["controls"], rtol=1e-12)
    assert (len(Y_ASAH), Y_ASAH.sum()) == (113, 41)


@pytest.mark.parametrize("marker", ["s100b", "wfns", "ndka"])
def test_auc_and_delong_variance_match_proc(marker):
    auc, var = delong_auc(Y_ASAH, ASAH[marker])
    assert auc == pytest.approx(PROC["auc"][marker], rel=1e-12)
    assert var == pytest.approx(PROC["var_delong"][marker], rel=1e-9)


@pytest.mark.parametrize(
    "a, b, key",
    [("wfns", "s100b", "wfns_vs_s100b"), ("wfns", "ndka", "wfns_vs_ndka"), ("ndka", "s100b", "ndka_vs_s100b")],
)
def test_delong_test_matches_proc_roc_test(a, b, key):
    ref = PROC["roc_test"][key]
    res = delong_test(Y_ASAH, ASAH[a], ASAH[b])
    assert res.z == pytest.approx(ref["z"], rel=1e-9)
    assert res.p_value == pytest.approx(ref["p"], rel=1e-9)
    assert (res.ci_low, res.ci_high) == pytest.approx(tuple(ref["ci"]), rel=1e-9)
    assert res.auc1 == pytest.approx(PROC["auc"][a], rel=1e-12)
    assert res.difference == pytest.approx(PROC["auc"][a] - PROC["auc"][b], abs=1e-12)


def test_delong_covariances_match_proc():
    cov = PROC["cov_delong"]
    for (a, b), key in {("wfns", "ndka"): "wfns_ndka", ("ndka", "s100b"): "ndka_s100b",
                        ("s100b", "wfns"): "s100b_wfns"}.items():
        res = delong_test(Y_ASAH, ASAH[a], ASAH[b])
        c12 = res.correlation * res.auc1_se * res.auc2_se
        assert c12 == pytest.approx(cov[key], rel=1e-9)


def test_auc_ci_is_on_the_auc_scale_like_proc_ci_auc():
    # pROC ci.auc(r.ndka): AUC +/- qnorm(0.975) * SE, not a logit-scale interval
    p = stats.rankdata(ASAH["ndka"]) / (len(ASAH) + 1)  # same ranks, as probabilities
    m = metrics(Y_ASAH, p)
    low, mid, high = PROC["ci_auc_ndka"]
    assert (m.auc_ci_low, m.auc, m.auc_ci_high) == pytest.approx((low, mid, high), rel=1e-9)


def test_delong_matches_brute_force_on_tied_scores():
    y = CAL["y"].to_numpy()
    auc1, auc2, v1, v2, c12 = brute_force_delong(y, CAL["p"].to_numpy(), CAL["p2"].to_numpy())
    res = delong_test(y, CAL["p"], CAL["p2"])
    assert (res.auc1, res.auc2) == pytest.approx((auc1, auc2), abs=1e-12)
    assert res.se == pytest.approx(math.sqrt(v1 + v2 - 2 * c12), rel=1e-10)
    assert res.auc1_se == pytest.approx(math.sqrt(v1), rel=1e-10)


# ---------------------------------------------------------------- calibration and the rest


@pytest.fixture(scope="module")
def cal_metrics():
    return metrics(CAL["y"], CAL["p"])


def test_calibration_intercept_and_slope_match_newton_raphson(cal_metrics):
    y, p = CAL["y"].to_numpy(float), CAL["p"].to_numpy()
    lp = np.log(p / (1 - p))
    z = stats.norm.ppf(0.975)
    (a,), (se_a,) = newton_logistic(y, [np.ones_like(lp)], lp)
    (b0, b1), (_, se_b1) = newton_logistic(y, [np.ones_like(lp), lp], np.zeros_like(lp))
    m = cal_metrics
    assert m.citl == pytest.approx(a, abs=1e-10)
    assert m.citl_se == pytest.approx(se_a, rel=1e-9)
    assert (m.citl_ci_low, m.citl_ci_high) == pytest.approx((a - z * se_a, a + z * se_a), abs=1e-9)
    assert m.calibration_slope == pytest.approx(b1, abs=1e-10)
    assert (m.calibration_slope_ci_low, m.calibration_slope_ci_high) == pytest.approx(
        (b1 - z * se_b1, b1 + z * se_b1), abs=1e-9)
    # the data were drawn with true logit = 0.25 + 0.75 logit(p): slope recovered within 2 SE
    assert abs(m.calibration_slope - 0.75) < 2 * m.calibration_slope_se


def test_brier_oe_and_counts_by_hand(cal_metrics):
    y, p = CAL["y"].to_numpy(), CAL["p"].to_numpy()
    n, o, e = len(y), int(y.sum()), float(p.sum())
    brier = sum((pi - yi) ** 2 for pi, yi in zip(p, y)) / n
    prev = o / n
    se = math.sqrt((1 - prev) / o)
    m = cal_metrics
    assert (m.n, m.n_events) == (200, 94)
    assert m.brier == pytest.approx(brier, abs=1e-12)
    assert m.scaled_brier == pytest.approx(1 - brier / (prev * (1 - prev)), abs=1e-12)
    assert m.oe_ratio == pytest.approx(o / e, rel=1e-12)
    assert (m.oe_ci_low, m.oe_ci_high) == pytest.approx(
        (o / e * math.exp(-1.959963984540054 * se), o / e * math.exp(1.959963984540054 * se)), rel=1e-12)
    auc = brute_force_placements(y, p)[0].mean()
    assert m.auc == pytest.approx(auc, abs=1e-12)


def test_ici_family_matches_hand_written_lowess(cal_metrics):
    y, p = CAL["y"].to_numpy(float), CAL["p"].to_numpy()
    diff = np.abs(hand_lowess(y, p, 0.75) - p)
    m = cal_metrics
    assert m.ici == pytest.approx(diff.mean(), abs=1e-10)
    assert m.e50 == pytest.approx(np.median(diff), abs=1e-10)
    assert m.e90 == pytest.approx(np.percentile(diff, 90), abs=1e-10)
    assert m.emax == pytest.approx(diff.max(), abs=1e-10)


def test_hosmer_lemeshow_with_explicit_groups(cal_metrics):
    y, p = CAL["y"].to_numpy(), CAL["p"].to_numpy()
    cuts = np.quantile(p, np.linspace(0, 1, 11))
    chi2 = 0.0
    groups = 0
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        inside = [(yi, pi) for yi, pi in zip(y, p) if (pi > lo or lo == cuts[0] and pi >= lo) and pi <= hi]
        if not inside:
            continue
        groups += 1
        n_g = len(inside)
        o_g = sum(v[0] for v in inside)
        e_g = sum(v[1] for v in inside)
        chi2 += (o_g - e_g) ** 2 / (e_g * (1 - e_g / n_g))
    m = cal_metrics
    assert m.hosmer_lemeshow_df == groups - 2 == 8
    assert m.hosmer_lemeshow_chi2 == pytest.approx(chi2, rel=1e-10)
    assert m.hosmer_lemeshow_p == pytest.approx(stats.chi2.sf(chi2, 8), rel=1e-10)


def test_metrics_frame_and_dict(cal_metrics):
    frame = cal_metrics.to_frame()
    assert list(frame.columns) == ["metric", "estimate", "se", "ci_low", "ci_high"]
    row = frame.set_index("metric").loc["calibration_slope"]
    assert row["estimate"] == cal_metrics.calibration_slope
    assert row["ci_low"] < row["estimate"] < row["ci_high"]
    d = cal_metrics.to_dict()
    assert d["lowess_frac"] == 0.75 and d["logit_eps"] == 1e-8 and d["n_clipped"] == 0
    with pytest.raises(AttributeError):
        cal_metrics.auc = 0.5  # frozen


def test_clipping_of_risks_0_and_1_is_counted():
    y = CAL["y"].to_numpy()
    p = CAL["p"].to_numpy().copy()
    p[:2] = [0.0, 1.0]
    m = metrics(y, p)
    assert m.n_clipped == 2 and math.isfinite(m.citl) and math.isfinite(m.calibration_slope)


def test_perfect_separation_gives_nan_slope_with_a_warning():
    y = np.array([0, 0, 0, 1, 1, 1])
    with pytest.warns(DataQualityWarning, match="zero width"), \
            pytest.warns(DataQualityWarning, match="calibration slope is not estimable"):
        m = metrics(y, [0.1, 0.2, 0.3, 0.6, 0.7, 0.8], n_calibration_points=3)
    assert math.isnan(m.calibration_slope) and m.auc == 1.0 and math.isfinite(m.citl)


@pytest.mark.parametrize("flip", [False, True])
def test_quasi_separation_gives_nan_slope_not_a_number_with_a_ci_of_millions(flip):
    """Events and non-events apart but for ties at one risk: the slope has no finite
    maximum-likelihood value. IRLS stopped at 147 with a 95 % CI of +-9.8 million and no
    warning (R glm: 'fitted probabilities numerically 0 or 1 occurred')."""
    p = np.r_[np.linspace(0.05, 0.45, 20), [0.5] * 4, np.linspace(0.55, 0.95, 20)]
    y = np.r_[[0] * 20, [0, 1, 0, 1], [1] * 20]
    if flip:
        y = 1 - y
    with pytest.warns(DataQualityWarning, match="calibration slope is not estimable.*but for ties at one value"):
        m = metrics(y, p)
    assert math.isnan(m.calibration_slope) and math.isnan(m.calibration_slope_ci_high)
    assert math.isfinite(m.citl)
    y[0], y[-1] = y[-1], y[0]     # one event among the non-events: a finite maximum again
    m, warned = _quiet_metrics(y, p)
    assert math.isfinite(m.calibration_slope) and m.calibration_slope_ci_high - m.calibration_slope_ci_low < 100
    assert not any("not estimable" in w for w in warned)


def test_calibration_curve_frame():
    curve = calibration_curve(CAL["y"], CAL["p"], n_groups=5)
    assert list(curve.columns) == ["curve", "predicted", "observed", "ci_low", "ci_high", "n", "n_events"]
    smoothed = curve[curve["curve"] == "smoothed"]
    grouped = curve[curve["curve"] == "grouped"]
    assert smoothed["n"].sum() == grouped["n"].sum() == 200
    assert smoothed["predicted"].is_monotonic_increasing
    fitted = hand_lowess(CAL["y"].to_numpy(float), CAL["p"].to_numpy(), 0.75)
    lookup = dict(zip(CAL["p"], fitted))
    np.testing.assert_allclose(smoothed["observed"], [lookup[v] for v in smoothed["predicted"]], atol=1e-10)
    assert len(grouped) == 5 and (grouped["ci_low"] <= grouped["observed"]).all()
    assert grouped["n_events"].sum() == 94


# ---------------------------------------------------------------- ROC, net benefit, thresholds


def test_roc_curve_frame_counts_and_area():
    roc = roc_curve_frame(Y_ASAH, ASAH["wfns"])
    assert roc["threshold"].tolist() == [np.inf, 5, 4, 3, 2, 1]
    for row in roc.itertuples():
        positive = ASAH["wfns"] >= row.threshold
        assert row.tp == int((positive & (Y_ASAH == 1)).sum())
        assert row.fp == int((positive & (Y_ASAH == 0)).sum())
    area = np.trapezoid(roc["sensitivity"], roc["fpr"])
    assert area == pytest.approx(PROC["auc"]["wfns"], rel=1e-12)


def test_net_benefit_by_hand():
    y, p = CAL["y"].to_numpy(), CAL["p"].to_numpy()
    t = [0.0, 0.05, 0.2, 0.47, 0.8]
    nb = net_benefit(y, p, t, standardized=True)
    assert list(nb.columns) == ["threshold", "n", "tp", "fp", "net_benefit", "treat_all", "treat_none",
                                "standardized_net_benefit", "standardized_treat_all"]
    n, prev = len(y), y.mean()
    for row in nb.itertuples():
        tp = sum(1 for yi, pi in zip(y, p) if pi >= row.threshold and yi == 1)
        fp = sum(1 for yi, pi in zip(y, p) if pi >= row.threshold and yi == 0)
        w = row.threshold / (1 - row.threshold)
        assert (row.tp, row.fp) == (tp, fp)
        assert row.net_benefit == pytest.approx(tp / n - fp / n * w, abs=1e-14)
        assert row.treat_all == pytest.approx(prev - (1 - prev) * w, abs=1e-14)
        assert row.standardized_net_benefit == pytest.approx((tp / n - fp / n * w) / prev, abs=1e-14)
    assert (nb["treat_none"] == 0).all()
    default = net_benefit(y, p)
    assert len(default) == 100 and default["threshold"].iloc[-1] == 0.99


def test_threshold_metrics_counts_and_wilson_intervals():
    from statsmodels.stats.proportion import proportion_confint

    y, p = CAL["y"].to_numpy(), CAL["p"].to_numpy()
    res = threshold_metrics(y, p, 0.4)
    tp = int(((p >= 0.4) & (y == 1)).sum())
    fn = int(((p < 0.4) & (y == 1)).sum())
    assert (res.tp, res.fn, res.tp + res.fp + res.tn + res.fn) == (tp, fn, 200)
    assert res.sensitivity == pytest.approx(tp / (tp + fn))
    frame = res.to_frame()
    for row in frame.itertuples():
        low, high = proportion_confint(row.numerator, row.denominator, alpha=0.05, method="wilson")
        assert (row.ci_low, row.ci_high) == pytest.approx((low, high), abs=1e-12)
        assert row.estimate == pytest.approx(row.numerator / row.denominator)


def test_clopper_pearson_interval_matches_published_and_statsmodels():
    from statsmodels.stats.proportion import proportion_confint

    low, high = proportion_ci(5, 25, method="clopper-pearson")
    assert (float(low), float(high)) == pytest.approx(
        tuple(REF["wilson_clopper_pearson"]["clopper_pearson_5_of_25"]), abs=5e-4)
    for x, n in [(0, 20), (1, 29), (15, 148), (20, 20)]:
        lo, hi = proportion_ci(x, n, method="clopper-pearson")
        ref = proportion_confint(x, n, alpha=0.05, method="beta")
        assert (float(lo), float(hi)) == pytest.approx(ref, abs=1e-10)


def test_ppv_is_nan_when_nobody_is_positive():
    res = threshold_metrics(CAL["y"], CAL["p"], 0.9999)
    assert res.tp == res.fp == 0 and math.isnan(res.ppv) and math.isnan(res.ppv_ci_low)
    assert res.specificity == 1.0


# ---------------------------------------------------------------- properties


scores = st.lists(st.integers(0, 40), min_size=6, max_size=60)


@hsettings(max_examples=60, deadline=None)
@given(data=st.data())
def test_auc_and_variance_invariant_to_monotone_transforms(data):
    s = np.array(data.draw(scores), dtype=float)
    y = np.array(data.draw(st.lists(st.integers(0, 1), min_size=len(s), max_size=len(s))))
    if min(y.sum(), len(y) - y.sum()) < 2:
        y[:2], y[2:4] = 1, 0
    base = delong_auc(y, s)
    for transformed in (s**3 + 5.0, 2.0 * s - 7.0, np.log(s + 1000.0)):
        assert delong_auc(y, transformed) == pytest.approx(base, abs=1e-12)
    v10, v01 = brute_force_placements(y, s)
    var = np.var(v10, ddof=1) / len(v10) + np.var(v01, ddof=1) / len(v01)
    assert base == pytest.approx((v10.mean(), var), abs=1e-12)


@hsettings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.floats(0, 1)), min_size=2, max_size=50))
def test_treat_all_at_threshold_zero_is_the_prevalence(pairs):
    y = np.array([a for a, _ in pairs])
    p = np.array([b for _, b in pairs])
    if y.min() == y.max():
        y[0] = 1 - y[0]
    nb = net_benefit(y, p, [0.0, 0.3])
    assert nb["treat_all"].iloc[0] == pytest.approx(y.mean(), abs=1e-15)
    assert nb["net_benefit"].iloc[0] == pytest.approx(y.mean(), abs=1e-15)  # everyone has p >= 0


@hsettings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 9)), min_size=4, max_size=40))
def test_delong_of_a_model_against_itself(pairs):
    y = np.array([a for a, _ in pairs])
    s = np.array([b for _, b in pairs], dtype=float)
    y[:2], y[2:4] = 1, 0
    res = delong_test(y, s, s)
    assert res.difference == 0.0 and res.z == 0.0 and res.p_value == 1.0
    assert res.ci_low == res.ci_high == 0.0


# ---------------------------------------------------------------- input validation


@pytest.mark.parametrize(
    "y, p, match",
    [
        ([0, 1, 2, 0], [0.1, 0.2, 0.3, 0.4], "only 0 and 1.*position 2"),
        ([0, 1, np.nan, 0], [0.1, 0.2, 0.3, 0.4], "only 0 and 1"),
        (["no", "yes", "no", "yes"], [0.1, 0.2, 0.3, 0.4], "found 'no' at position 0.*recode the outcome"),
        # a missing value among booleans or objects is named where it is (it had quoted the
        # first value, True, as "non-numeric", which booleans are not)
        (pd.array([True, False, True, None], dtype="boolean"), [0.1, 0.2, 0.3, 0.4],
         "found <NA> at position 3.*missing outcome"),
        (pd.Series([1, 0, 1, pd.NA], dtype=object), [0.1, 0.2, 0.3, 0.4], "found <NA> at position 3"),
        (pd.Series([np.int64(1), np.int64(0), np.int64(1), pd.NA], dtype=object), [0.1, 0.2, 0.3, 0.4],
         "found <NA> at position 3;"),                       # numpy integers are numbers
        ([0, 1, 0, 1], [0.1, 1.2, 0.3, 0.4], r"probability in \[0, 1\].*position 1"),
        ([0, 1, 0, 1], [0.1, np.nan, 0.3, 0.4], "finite"),
        ([0, 1, 0, 1], [0.1, 0.2, 0.3], "3 values but the outcome has 4"),
        ([1, 1, 1, 1], [0.1, 0.2, 0.3, 0.4], "both classes"),
        ([[0, 1], [1, 0]], [0.1, 0.2], "one-dimensional"),
    ],
)
def test_bad_input_is_refused_with_a_fix(y, p, match):
    with pytest.raises(InvalidInputError, match=match):
        metrics(y, p)


def test_other_argument_checks():
    y, p = CAL["y"], CAL["p"]
    with pytest.raises(InvalidInputError, match=r"thresholds must be risks in \[0, 1\)"):
        net_benefit(y, p, [0.2, 1.0])
    with pytest.raises(InvalidInputError, match="n_calibration_points"):
        metrics(y, p, n_calibration_points=2)
    with pytest.raises(InvalidInputError, match="conf_level"):
        delong_test(y, p, p, conf_level=95)
    with pytest.raises(InvalidInputError, match="method"):
        threshold_metrics(y, p, 0.3, ci_method="wald")
    with pytest.raises(InsufficientDataError, match="at least 2 events"):
        metrics([0, 0, 0, 1], [0.1, 0.2, 0.3, 0.4])


def test_public_names():
    import importlib

    assert ca125kinetics.metrics is metrics and callable(metrics)
    validation = importlib.import_module("ca125kinetics.validation")
    importlib.import_module("ca125kinetics.validation.metrics")  # must not shadow the function
    assert validation.metrics is metrics
    assert validation.kaplan_meier.__module__ == "ca125kinetics.validation.survival"


def test_constant_or_few_level_risks_give_group_rates_without_numpy_warnings():
    y = np.array([0, 1] * 20)
    with pytest.warns(DataQualityWarning, match="zero width"), pytest.warns(DataQualityWarning, match="do not vary"):
        m = metrics(y, np.full(40, 0.3))
    assert (m.auc, m.auc_ci_low, m.auc_ci_high) == (0.5, 0.5, 0.5)
    assert m.ici == pytest.approx(0.2) and m.hosmer_lemeshow_df == 0
    assert math.isnan(m.hosmer_lemeshow_chi2)
    # a two-level score (AGO-like): 74 patients at 0.3, 26 at 0.7; every local fit is tied
    p = np.repeat([0.3, 0.7], [74, 26])
    y = np.r_[np.zeros(60), np.ones(14), np.zeros(6), np.ones(20)].astype(int)
    m = metrics(y, p)
    expected = (74 * abs(14 / 74 - 0.3) + 26 * abs(20 / 26 - 0.7)) / 100
    assert m.ici == pytest.approx(expected, abs=1e-12)
    assert m.emax == pytest.approx(abs(14 / 74 - 0.3), abs=1e-12)


def test_calibration_fits_survive_logits_at_the_clip():
    """Regression: statsmodels IRLS stopped 'converged' at CITL = 9e14 on this overfit case
    (77 of 120 risks exactly 0 or 1, 10 % of them wrong; seed 44 found by search).

    The expected CITL is the 1-D maximum-likelihood root found independently by bisection on
    the score equation sum(y - expit(a + lp)) = 0.
    """
    from scipy.optimize import brentq
    from scipy.special import expit, logit

    rng = np.random.default_rng(44)
    n, k = 120, 77
    p = rng.uniform(0.05, 0.95, n)
    idx = rng.choice(n, k, replace=False)
    y = (rng.random(n) < 0.5).astype(int)
    p[idx] = np.where(rng.random(k) < 0.9, y[idx], 1 - y[idx]).astype(float)
    res = metrics(y, p)
    lp = logit(np.clip(p, 1e-8, 1 - 1e-8))
    expected = brentq(lambda a: np.sum(y - expit(a + lp)), -60, 60, xtol=1e-14)
    assert abs(expected - (-0.19457237)) < 1e-6
    assert abs(res.citl - expected) < 1e-6
    assert np.isfinite(res.calibration_slope) and abs(res.calibration_slope) < 10


# ---------------------------------------------------------------- edge cases vs R
# Reference values: tests/data/validation_edge_reference.R (pROC, glm, the Hosmer-Lemeshow
# formula written in R), output stored in tests/data/validation_edge_reference.json.

EDGE = json.loads((DATA / "validation_edge_reference.json").read_text())


def _quiet_metrics(y, p):
    """metrics() with its DataQualityWarnings collected (returned as their messages)."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataQualityWarning)
        m = metrics(y, p)
    return m, [str(w.message) for w in caught]


@pytest.mark.parametrize("case", sorted(EDGE["binary"]))
def test_edge_case_auc_and_delong_interval_match_proc(case):
    ref = EDGE["binary"][case]
    m, _ = _quiet_metrics(ref["y"], ref["p"])
    assert m.auc == pytest.approx(ref["auc"], abs=1e-12)
    assert m.auc_se**2 == pytest.approx(ref["var_delong"], abs=1e-12)
    assert (m.auc_ci_low, m.auc_ci_high) == pytest.approx(tuple(ref["ci_delong"]), abs=1e-12)
    assert m.brier == pytest.approx(ref["brier"], abs=1e-12)
    assert m.oe_ratio == pytest.approx(ref["oe"], rel=1e-12)


@pytest.mark.parametrize("case", sorted(EDGE["binary"]))
def test_edge_case_calibration_intercept_and_slope_match_r_glm(case):
    ref = EDGE["binary"][case]
    m, warned = _quiet_metrics(ref["y"], ref["p"])
    assert m.citl == pytest.approx(ref["citl"], abs=1e-6)
    assert m.citl_se == pytest.approx(ref["citl_se"], rel=1e-6)
    if ref["slope"] is None:  # R glm: NA (logit p is collinear with the intercept)
        assert math.isnan(m.calibration_slope) and any("do not vary" in w for w in warned)
    elif any("numerically 0 or 1" in w for w in np.atleast_1d(ref["glm_warnings"])):
        # separation: R's estimate is wherever glm stopped; the package says NaN, with a warning
        assert math.isnan(m.calibration_slope) and any("not estimable" in w for w in warned)
    else:
        assert m.calibration_slope == pytest.approx(ref["slope"], rel=1e-6)
        assert m.calibration_slope_se == pytest.approx(ref["slope_se"], rel=1e-6)
        assert not warned


def test_calibration_slope_of_identical_risks_is_nan_not_a_number_from_a_singular_fit():
    # regression: the collinear GLM returned a minimum-norm "slope" of 0.178 (R glm: NA)
    ref = EDGE["binary"]["ties_all"]
    with pytest.warns(DataQualityWarning, match="zero width"), \
            pytest.warns(DataQualityWarning, match="calibration slope is not estimable"):
        m = metrics(ref["y"], ref["p"])
    assert math.isnan(m.calibration_slope) and math.isnan(m.calibration_slope_se)


@pytest.mark.parametrize("case", sorted(EDGE["binary"]))
def test_edge_case_hosmer_lemeshow_groups_match_r_cut_at_quantiles(case):
    ref = EDGE["binary"][case]
    hl = ref["hosmer_lemeshow"]
    m, _ = _quiet_metrics(ref["y"], ref["p"])
    assert m.hosmer_lemeshow_df == max(hl["df"], 0)
    if hl["chi2"] is None:  # one group (df < 1) or a group of risks all 0 (R: chi2 Inf, p 0)
        assert math.isnan(m.hosmer_lemeshow_chi2) and math.isnan(m.hosmer_lemeshow_p)
    else:
        assert m.hosmer_lemeshow_chi2 == pytest.approx(hl["chi2"], rel=1e-12)
        assert m.hosmer_lemeshow_p == pytest.approx(hl["p_value"], rel=1e-9)
    grouped = calibration_curve(ref["y"], ref["p"]).query("curve == 'grouped'")
    assert grouped["n"].tolist() == np.atleast_1d(hl["groups"]).tolist()
    assert grouped["n_events"].tolist() == np.atleast_1d(hl["observed"]).tolist()
    np.testing.assert_allclose(grouped["predicted"], np.atleast_1d(hl["mean_p"]), rtol=1e-12)


def test_small_samples_have_no_empty_risk_groups():
    # regression: 4 patients in 10 quantile groups left 6 empty groups, so HL had df 8 and
    # chi2 NaN (with a numpy warning) and the calibration curve had 6 all-NaN rows
    y, p = [0, 1, 0, 1], [0.2, 0.6, 0.4, 0.3]
    m = metrics(y, p)
    assert m.hosmer_lemeshow_df == 2 and math.isfinite(m.hosmer_lemeshow_chi2)
    grouped = calibration_curve(y, p).query("curve == 'grouped'")
    assert len(grouped) == 4 and grouped["observed"].notna().all()


@pytest.mark.parametrize("case", sorted(EDGE["roc_test"]))
def test_edge_case_delong_test_matches_proc_roc_test(case):
    ref = EDGE["roc_test"][case]
    res = delong_test(ref["y"], ref["p1"], ref["p2"])
    assert res.z == pytest.approx(ref["z"], abs=1e-12)
    assert res.p_value == pytest.approx(ref["p_value"], rel=1e-9)
    assert (res.ci_low, res.ci_high) == pytest.approx(tuple(ref["ci"]), abs=1e-12)


@pytest.mark.parametrize("i", range(len(EDGE["proportions"])))
def test_edge_case_proportion_intervals_match_prop_test_and_binom_test(i):
    ref = EDGE["proportions"][i]
    for method, key in (("wilson", "wilson"), ("clopper-pearson", "clopper_pearson")):
        low, high = proportion_ci(ref["x"], ref["n"], method=method)
        assert (float(low), float(high)) == pytest.approx(tuple(ref[key]), abs=1e-12)


def test_direction_is_fixed_events_higher_unlike_proc_auto():
    # pROC's default direction = "auto" would flip this curve to AUC 0.75; the package keeps
    # the stated convention (higher score = event more likely), as pROC with direction = "<"
    ref = EDGE["binary"]["reversed"]
    auc, _ = delong_auc(ref["y"], ref["p"])
    assert auc == pytest.approx(ref["auc"]) and auc < 0.5


@pytest.mark.parametrize("y", [[0, 1], [1, 0, 0], [0, 1, 1]])
def test_fewer_than_two_per_class_is_a_typed_refusal(y):
    p = np.linspace(0.1, 0.9, len(y))
    with pytest.raises(InsufficientDataError, match="at least 2 events and 2 non-events"):
        metrics(y, p)
    with pytest.raises(InsufficientDataError):
        delong_test(y, p, p[::-1])


@pytest.mark.parametrize("case", sorted(EDGE["net_benefit"]))
def test_edge_case_net_benefit_matches_the_formula_in_r(case):
    ref = EDGE["net_benefit"][case]
    nb = net_benefit(ref["y"], ref["p"], ref["threshold"])
    assert nb["tp"].tolist() == ref["tp"] and nb["fp"].tolist() == ref["fp"]
    np.testing.assert_allclose(nb["net_benefit"], ref["net_benefit"], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(nb["treat_all"], ref["treat_all"], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("case", sorted(EDGE["roc_points"]))
def test_edge_case_roc_points_and_threshold_counts_match_proc_coords(case):
    ref = EDGE["roc_points"][case]
    roc = roc_curve_frame(ref["y"], ref["p"]).iloc[::-1]  # pROC lists thresholds ascending
    np.testing.assert_allclose(roc["sensitivity"], ref["sensitivity"], rtol=1e-12)
    np.testing.assert_allclose(roc["specificity"], ref["specificity"], rtol=1e-12)
    assert roc["tp"].tolist() == ref["tp"] and roc["fp"].tolist() == ref["fp"]
    at = ref["at_threshold"]
    for i, t in enumerate(at["threshold"]):
        m = threshold_metrics(ref["y"], ref["p"], t)
        assert (m.tp, m.fp, m.tn, m.fn) == (at["tp"][i], at["fp"][i], at["tn"][i], at["fn"][i])
        np.testing.assert_allclose([m.ppv, m.npv], _none_to_nan([at["ppv"][i], at["npv"][i]]), rtol=1e-12)


def _none_to_nan(values):
    return np.array([math.nan if v is None else v for v in values], dtype=float)


def test_ici_family_matches_r_local_linear_loess():
    # R loess(y ~ p, span = 0.75, degree = 1, surface = "direct"); R's default loess is
    # locally quadratic (documented difference: ICI 0.0899 there against 0.0954 here)
    ref = EDGE["ici_calibration"]["local_linear"]
    m = metrics(CAL["y"], CAL["p"])
    assert (m.ici, m.e50, m.e90, m.emax) == pytest.approx((ref["ici"], ref["e50"], ref["e90"], ref["emax"]), rel=1e-9)


# --------------------------------------------------------------------------- rms::val.prob
# rms::val.prob(p, y, pl = FALSE) on the fixed risks p and p2 of validation_calibration.csv, made by
# tests/data/rms_validate_reference.R (tests/data/rms_validate_README.md).

VALPROB = json.loads((DATA / "rms_validate_reference.json").read_text())["val_prob"]


@pytest.mark.parametrize("column", ["p", "p2"])
def test_metrics_agree_with_rms_val_prob(column):
    cal = pd.read_csv(DATA / "validation_calibration.csv")
    ref = VALPROB[column]
    vp = ref["val_prob"]
    m = metrics(cal["y"], cal[column], lowess_frac=2 / 3)
    assert m.auc == pytest.approx(vp["C (ROC)"], abs=1e-12)
    assert 2 * m.auc - 1 == pytest.approx(vp["Dxy"], abs=1e-12)
    assert m.brier == pytest.approx(vp["Brier"], abs=1e-12)
    assert m.calibration_slope == pytest.approx(vp["Slope"], abs=1e-7)  # lrm.fit's own tolerance
    # val.prob's "Intercept" is the recalibration intercept (fitted with the slope), not the
    # calibration-in-the-large reported here: R's glm(y ~ offset(qlogis(p))) is
    assert m.citl == pytest.approx(ref["citl"], abs=1e-9)
    assert abs(m.citl - vp["Intercept"]) > 0.1
    # Eavg/E90/Emax: val.prob smooths with lowess(p, y, iter = 0), span 2/3 and delta = 1 % of the
    # range of p (R interpolates linearly between points closer than delta); with delta = 0 it
    # is the package's smoother exactly, and delta moves Eavg by < 1e-5
    for ours, theirs in ((m.ici, "Eavg"), (m.e90, "E90"), (m.emax, "Emax")):
        assert ours == pytest.approx(ref["lowess_delta0"][theirs], abs=1e-12)
        assert ours == pytest.approx(vp[theirs], abs=1e-5)


@pytest.mark.parametrize("successes, trials", [(6, 5), (-1, 5), (2.5, 5), (math.nan, 5), (3, -2),
                                                 (3, math.inf), ([1, 6], [5, 5])])
@pytest.mark.parametrize("method", ["wilson", "clopper-pearson"])
def test_proportion_ci_refuses_impossible_counts(successes, trials, method):
    # R refuses these: prop.test(6, 5) "elements of 'x' must not be greater than those of 'n'",
    # binom.test(2.5, 5) "'x' must be nonnegative and integer"; they were answered with a
    # silent NaN (6 of 5, -1 of 5) or a number (2.5 of 5 -> 0.170-0.830)
    with pytest.raises(InvalidInputError, match="successes|trials"):
        proportion_ci(successes, trials, method=method)


def test_proportion_ci_of_zero_trials_stays_nan():
    low, high = proportion_ci([0, 2], [0, 4])
    assert math.isnan(low[0]) and math.isnan(high[0]) and 0 < low[1] < 0.5 < high[1] < 1


def _shuffled_pair():
    # y and p as pandas Series holding the same patients in different row orders: paired by
    # position (as the functions read arrays) the model separates the outcomes perfectly
    # (AUC 1), paired by index (as pandas would align them) perfectly backwards (AUC 0)
    y = pd.Series([0, 0, 0, 1, 1, 1], index=["a", "b", "c", "d", "e", "f"])
    p = pd.Series([0.9, 0.8, 0.7, 0.3, 0.2, 0.1], index=["a", "b", "c", "d", "e", "f"]).iloc[::-1]
    return y, p


@pytest.mark.parametrize("call", [
    lambda y, p: metrics(y, p),
    lambda y, p: delong_auc(y, p),
    lambda y, p: delong_test(y, p, p.to_numpy()),
    lambda y, p: delong_test(y.to_numpy(), p, p.sort_index()),
    lambda y, p: calibration_curve(y, p),
    lambda y, p: roc_curve_frame(y, p),
    lambda y, p: net_benefit(y, p),
    lambda y, p: threshold_metrics(y, p, 0.5),
], ids=["metrics", "delong_auc", "delong_test", "delong_test_p1_p2", "calibration_curve",
        "roc_curve_frame", "net_benefit", "threshold_metrics"])
def test_series_with_different_indexes_are_refused_not_paired_by_position(call):
    y, p = _shuffled_pair()
    with pytest.raises(InvalidInputError, match="index"):
        call(y, p)


def test_series_with_the_same_index_or_arrays_are_paired_as_given():
    y, p = _shuffled_pair()
    assert delong_auc(y, p.sort_index())[0] == 0.0
    assert delong_auc(y, p.to_numpy())[0] == 1.0          # a plain array pairs by position
    assert delong_auc(y.to_numpy(), p)[0] == 1.0


AUDIT = json.loads((DATA / "validation_audit_reference.json").read_text())


@pytest.mark.parametrize("case", sorted(AUDIT["lowess"]))
def test_audit_case_calibration_curve_on_few_tied_risks_matches_r_loess(case):
    # 5-12 patients, two risk levels or separated risks: R loess warns "pseudoinverse used"
    ref = AUDIT["lowess"][case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)   # the slope of separated risks
        res = metrics(ref["y"], ref["p"])
    assert (res.ici, res.e50, res.e90, res.emax) == pytest.approx(
        (ref["ici"], ref["e50"], ref["e90"], ref["emax"]), abs=1e-12)
    smooth = calibration_curve(ref["y"], ref["p"]).query("curve == 'smoothed'")
    expected = pd.Series(ref["smooth"]).groupby(pd.Series(ref["p"])).first()
    np.testing.assert_allclose(smooth["observed"], expected.to_numpy(), atol=1e-12)


@pytest.mark.parametrize("frac", [0.1, 0.2, 0.34])
def test_a_lowess_span_of_fewer_than_three_patients_is_refused(frac):
    # int(frac * 6) = 0, 1, 2 neighbours: the local-linear fit is not defined (the farthest
    # neighbour has tricube weight 0); R loess stops ("span is too small") or warns ("span too
    # small. fewer data values than degrees of freedom") and returns 0 0 0 0 0 0 at 0.2. The
    # package returned y itself, an ICI of 0.483 for any such span.
    y, p = [0, 1, 0, 1, 1, 0], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    with pytest.raises(InvalidInputError, match="lowess_frac"):
        metrics(y, p, lowess_frac=frac)
    with pytest.raises(InvalidInputError, match="lowess_frac"):
        calibration_curve(y, p, lowess_frac=frac)
    assert math.isfinite(metrics(y, p, lowess_frac=0.5).ici)   # 3 neighbours: R loess agrees


def test_numpy_numbers_are_numbers_for_the_settings():
    # np.int64 / np.float32 settings (e.g. read from a config array) were refused as "not a
    # number": threshold=np.int64(0) "must be a finite number, got np.int64(0)"
    y, p = CAL["y"], CAL["p"]
    assert threshold_metrics(y, p, np.int64(0)).sensitivity == 1.0
    res = metrics(y, p, conf_level=np.float32(0.9), lowess_frac=np.float32(0.75), logit_eps=np.float32(1e-8))
    ref = metrics(y, p, conf_level=float(np.float32(0.9)), lowess_frac=float(np.float32(0.75)),
                  logit_eps=float(np.float32(1e-8)))
    assert res.to_dict() == ref.to_dict()
    for bad in (True, np.bool_(True)):
        with pytest.raises(InvalidInputError):
            metrics(y, p, conf_level=bad)
        with pytest.raises(InvalidInputError):
            threshold_metrics(y, p, bad)


@pytest.mark.parametrize("bad, shown", [(math.nan, "nan"), (-0.1, "-0.1"), (1.0, "1.0")])
def test_net_benefit_names_a_bad_threshold_as_written(bad, shown):
    # it read "found np.float64(nan) at position 1 (net benefit is undefined at 1 ...)"
    with pytest.raises(InvalidInputError, match=rf"found {re.escape(shown)} at position 1") as err:
        net_benefit(CAL["y"], CAL["p"], [0.1, bad])
    assert "np.float64" not in str(err.value)
    assert ("infinite" in str(err.value)) == (bad == 1.0)


@pytest.mark.parametrize("y, p, auc", [
    ([0, 0, 0, 1, 1, 1], [0.1, 0.2, 0.3, 0.7, 0.8, 0.9], 1.0),     # separated
    ([0, 0, 0, 1, 1, 1], [0.9, 0.8, 0.7, 0.3, 0.2, 0.1], 0.0),     # separated the wrong way
    ([1, 0, 1, 0, 0, 0, 1, 0], [0.4] * 8, 0.5),                     # every risk tied
])
def test_a_zero_width_auc_interval_comes_with_its_reason(y, p, auc):
    # the DeLong variance is 0 here, so the interval is [AUC, AUC] whatever the sample size
    # (as pROC's ci.auc, which warns "ci.auc() of a ROC curve with AUC == 1 is always 1-1 and
    # can be misleading"); the package said nothing about it (the docs claimed it warned)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = metrics(y, p)
    assert res.auc == auc and res.auc_ci_low == res.auc_ci_high == auc and res.auc_se == 0.0
    messages = [str(w.message) for w in caught if issubclass(w.category, DataQualityWarning)]
    assert any(m.startswith("the DeLong interval of the AUC has zero width") for m in messages), messages


def test_no_zero_width_warning_for_an_ordinary_auc():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        metrics(CAL["y"], CAL["p"])
    assert not [w for w in caught if "zero width" in str(w.message)]


def test_delong_test_of_two_zero_variance_aucs_that_differ_says_its_p_value_means_nothing():
    # AUC 1 against AUC 0 on 4 patients: both DeLong variances are 0, z = inf and p = 0 (as
    # pROC roc.test: "Z = Inf, p-value < 2.2e-16"), a certainty no sample of 4 gives; it came
    # without a word
    with pytest.warns(DataQualityWarning, match="standard error of the difference is 0"):
        res = delong_test([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], [0.9, 0.8, 0.2, 0.1])
    assert (res.difference, res.z, res.p_value) == (1.0, math.inf, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same = delong_test([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], [0.1, 0.3, 0.5, 0.9])   # both 1: z 0, p 1
    assert (same.z, same.p_value) == (0.0, 1.0)


def test_observed_over_expected_with_no_expected_event_has_no_interval():
    # every risk exactly 0 with events observed: O/E is infinite and its interval
    # exp(ln(O/E) +/- z SE) was reported as "inf to inf", an interval of certainty
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = metrics([0, 0, 1, 1, 0], [0.0, 0.0, 0.0, 0.0, 0.0])
    assert res.oe_ratio == math.inf and math.isnan(res.oe_ci_low) and math.isnan(res.oe_ci_high)
    assert any("expected events are 0" in str(w.message) for w in caught)
    ok = metrics(CAL["y"], CAL["p"])
    assert 0 < ok.oe_ci_low < ok.oe_ratio < ok.oe_ci_high < math.inf
