"""Tests of the survival summaries on the Freireich/Gehan 6-MP data (tests/data/validation_gehan.csv).

Exact references are written out by hand here (product-limit fractions, Greenwood sums, a
log-rank loop, a Newton-Raphson Efron partial likelihood); R survival's printed output
(tests/data/validation_reference_values.json) is matched at its printed precision.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings as hsettings, strategies as st
from scipy import stats

from ca125kinetics import InvalidInputError
from ca125kinetics.errors import DataQualityWarning, InsufficientDataError
from ca125kinetics.validation.survival import cox, kaplan_meier, logrank, median_survival

DATA = Path(__file__).parent / "data"
GEHAN = pd.read_csv(DATA / "validation_gehan.csv")
R = json.loads((DATA / "validation_reference_values.json").read_text())["gehan_r_survival"]
MP = GEHAN[GEHAN["group"] == "6-MP"]
Z = stats.norm.ppf(0.975)

# 6-MP arm by hand: (time, at risk, events) at each event time
MP_STEPS = [(6, 21, 3), (7, 17, 1), (10, 15, 1), (13, 12, 1), (16, 11, 1), (22, 7, 1), (23, 6, 1)]
MP_SURVIVAL = [
    18 / 21,
    18 / 21 * 16 / 17,
    18 / 21 * 16 / 17 * 14 / 15,
    18 / 21 * 16 / 17 * 14 / 15 * 11 / 12,
    18 / 21 * 16 / 17 * 14 / 15 * 11 / 12 * 10 / 11,
    18 / 21 * 16 / 17 * 14 / 15 * 11 / 12 * 10 / 11 * 6 / 7,
    18 / 21 * 16 / 17 * 14 / 15 * 11 / 12 * 10 / 11 * 6 / 7 * 5 / 6,
]
MP_GREENWOOD_SUM = np.cumsum([3 / (21 * 18), 1 / (17 * 16), 1 / (15 * 14), 1 / (12 * 11),
                              1 / (11 * 10), 1 / (7 * 6), 1 / (6 * 5)])


def test_kaplan_meier_matches_product_limit_by_hand():
    km = kaplan_meier(MP["time"], MP["event"], conf_type="log-log")
    at_events = km[km["n_event"] > 0]
    assert at_events["time"].tolist() == [s[0] for s in MP_STEPS]
    assert at_events["n_risk"].tolist() == [s[1] for s in MP_STEPS]
    assert at_events["n_event"].tolist() == [s[2] for s in MP_STEPS]
    s = np.array(MP_SURVIVAL)
    se = s * np.sqrt(MP_GREENWOOD_SUM)
    np.testing.assert_allclose(at_events["survival"], s, rtol=1e-12)
    np.testing.assert_allclose(at_events["std_err"], se, rtol=1e-10)
    # log-log interval: S ** exp(+/- z se / (S |ln S|))
    half = Z * se / (s * np.abs(np.log(s)))
    np.testing.assert_allclose(at_events["ci_low"], s ** np.exp(half), rtol=1e-10)
    np.testing.assert_allclose(at_events["ci_high"], s ** np.exp(-half), rtol=1e-10)


def test_kaplan_meier_table_layout():
    km = kaplan_meier(GEHAN["time"], GEHAN["event"], GEHAN["group"])
    assert list(km.columns) == ["group", "time", "n_risk", "n_event", "n_censor", "survival",
                                "std_err", "ci_low", "ci_high"]
    first = km.groupby("group").head(1)
    assert first["time"].tolist() == [0.0, 0.0] and first["survival"].tolist() == [1.0, 1.0]
    mp = km[km["group"] == "6-MP"]
    assert mp["n_event"].sum() == 9 and mp["n_censor"].sum() == 12
    # censoring times carry the estimate forward: S(9) = S(7)
    s = mp.set_index("time")["survival"]
    assert s[9.0] == s[7.0] and s[35.0] == pytest.approx(MP_SURVIVAL[-1])
    assert mp["n_risk"].iloc[1] == 21 and mp.set_index("time")["n_risk"][35.0] == 1


def test_kaplan_meier_matches_r_survfit_output():
    ref = R["km_pooled"]
    km = kaplan_meier(GEHAN["time"], GEHAN["event"], conf_type="log")
    at = km[km["n_event"] > 0]
    assert at["time"].tolist() == ref["time"]
    assert at["n_risk"].tolist() == ref["n_risk"] and at["n_event"].tolist() == ref["n_event"]
    np.testing.assert_allclose(at["survival"], ref["survival"], atol=5e-4)
    np.testing.assert_allclose(at["std_err"], ref["std_err"], atol=5e-5)
    np.testing.assert_allclose(at["ci_low"], ref["lower"], atol=5e-5)
    np.testing.assert_allclose(at["ci_high"], ref["upper"], atol=5e-4)


def test_median_survival_matches_r():
    med = median_survival(GEHAN["time"], GEHAN["event"], GEHAN["group"], conf_type="log")
    assert med["group"].tolist() == ["6-MP", "placebo"]
    mp, pl = med.iloc[0], med.iloc[1]
    ref = R["median"]
    assert (mp["median"], mp["ci_low"]) == (ref["6-MP"]["median"], ref["6-MP"]["lower"])
    assert math.isnan(mp["ci_high"])  # R: NA, upper bound not reached
    assert (pl["median"], pl["ci_low"], pl["ci_high"]) == (8.0, 4.0, 12.0)
    assert (mp["n"], mp["n_events"]) == (21, 9)


def test_median_convention_when_the_curve_sits_at_one_half():
    # S = 3/4, 1/2, 1/4, 0 at t = 1..4: S is 0.5 on [2, 3), R reports the midpoint 2.5
    med = median_survival([1, 2, 3, 4], [1, 1, 1, 1])
    assert med["median"].iloc[0] == 2.5
    assert median_survival([1, 2, 3], [1, 1, 1])["median"].iloc[0] == 2.0  # S = 2/3, 1/3, 0
    none = median_survival([1, 2, 3, 4], [0, 1, 0, 0])  # S = 2/3 at t = 2, then flat
    assert none["median"].isna().all() and none["n_events"].iloc[0] == 1


def _logrank_by_hand(t, e, g):
    o_minus_e, var = 0.0, 0.0
    for time in sorted(set(t[e == 1])):
        at_risk = t >= time
        n, n1 = at_risk.sum(), (at_risk & (g == 1)).sum()
        d = ((t == time) & (e == 1)).sum()
        d1 = ((t == time) & (e == 1) & (g == 1)).sum()
        o_minus_e += d1 - d * n1 / n
        var += d * (n1 / n) * (1 - n1 / n) * (n - d) / (n - 1) if n > 1 else 0.0
    return o_minus_e**2 / var, o_minus_e


def test_logrank_matches_hand_loop_and_r():
    t, e = GEHAN["time"].to_numpy(float), GEHAN["event"].to_numpy()
    g = (GEHAN["group"] == "6-MP").to_numpy().astype(int)
    chi2, o_minus_e = _logrank_by_hand(t, e, g)
    res = logrank(GEHAN["time"], GEHAN["event"], GEHAN["group"])
    assert res.chi2 == pytest.approx(chi2, rel=1e-12)
    assert res.p_value == pytest.approx(stats.chi2.sf(chi2, 1), rel=1e-10)
    assert res.df == 1 and res.groups == ("6-MP", "placebo")
    assert res.observed[0] - res.expected[0] == pytest.approx(o_minus_e, rel=1e-12)
    ref = R["survdiff"]
    assert round(res.chi2, 1) == ref["chisq"]
    assert res.p_value == pytest.approx(ref["p"], rel=5e-3)
    frame = res.to_frame()
    assert frame["observed"].tolist() == [ref["observed"]["6-MP"], ref["observed"]["placebo"]]
    assert frame["expected"].round(1).tolist() == [ref["expected"]["6-MP"], ref["expected"]["placebo"]]


def test_stratified_logrank_with_one_stratum_equals_unstratified():
    plain = logrank(GEHAN["time"], GEHAN["event"], GEHAN["group"])
    strat = logrank(GEHAN["time"], GEHAN["event"], GEHAN["group"], strata=np.zeros(42))
    assert strat.chi2 == pytest.approx(plain.chi2, rel=1e-12) and strat.stratified
    assert strat.expected == pytest.approx(plain.expected, rel=1e-12)


def _efron_newton(t, e, x):
    """Single-covariate Cox model, Efron ties, by Newton-Raphson with analytic derivatives."""
    beta = 0.0
    for _ in range(50):
        score, info = 0.0, 0.0
        for time in sorted(set(t[e == 1])):
            risk = t >= time
            dead = (t == time) & (e == 1)
            d = dead.sum()
            r = np.exp(beta * x)
            s0, s1, s2 = r[risk].sum(), (x * r)[risk].sum(), (x * x * r)[risk].sum()
            d0, d1, d2 = r[dead].sum(), (x * r)[dead].sum(), (x * x * r)[dead].sum()
            score += x[dead].sum()
            for ell in range(d):
                f = ell / d
                w0, w1, w2 = s0 - f * d0, s1 - f * d1, s2 - f * d2
                score -= w1 / w0
                info += w2 / w0 - (w1 / w0) ** 2
        step = score / info
        beta += step
        if abs(step) < 1e-13:
            break
    return beta, 1 / math.sqrt(info)


def test_cox_matches_hand_efron_and_r_coxph():
    df = GEHAN.assign(mp=(GEHAN["group"] == "6-MP").astype(float))
    beta, se = _efron_newton(df["time"].to_numpy(float), df["event"].to_numpy(), df["mp"].to_numpy())
    res = cox(df, "time", "event", ["mp"])
    row = res.iloc[0]
    assert row["coef"] == pytest.approx(beta, abs=1e-8)
    assert row["se"] == pytest.approx(se, rel=1e-7)
    assert (row["hr_ci_low"], row["hr_ci_high"]) == pytest.approx(
        (math.exp(beta - Z * se), math.exp(beta + Z * se)), rel=1e-7)
    ref = R["coxph_6mp"]
    assert round(row["coef"], 4) == ref["coef"] and round(row["se"], 4) == ref["se"]
    assert round(row["hr"], 4) == ref["hr"] and round(row["z"], 3) == ref["z"]
    assert row["p_value"] == pytest.approx(ref["p"], rel=5e-3)
    assert (round(row["hr_ci_low"], 5), round(row["hr_ci_high"], 4)) == tuple(ref["hr_ci"])
    assert (row["n"], row["n_events"], row["term"]) == (42, 30, "mp")
    breslow = cox(df, "time", "event", "mp", ties="breslow").iloc[0]
    assert breslow["coef"] != pytest.approx(row["coef"], abs=1e-3)  # ties matter here


@hsettings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 30), min_size=1, max_size=40))
def test_without_censoring_km_is_the_empirical_survival(times):
    t = np.array(times, dtype=float)
    km = kaplan_meier(t, np.ones_like(t))
    for row in km.itertuples():
        assert row.survival == pytest.approx(np.mean(t > row.time), abs=1e-12)


@hsettings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 1), st.integers(0, 1)), min_size=4, max_size=40))
def test_logrank_depends_only_on_the_order_of_times(rows):
    t = np.array([r[0] for r in rows], dtype=float)
    e = np.array([r[1] for r in rows])
    g = np.array([r[2] for r in rows])
    e[0], g[0], g[1] = 1, 0, 1
    try:
        base = logrank(t, e, g)
    except InsufficientDataError:  # no event time with both groups at risk
        with pytest.raises(InsufficientDataError):
            logrank(3 * t + 2, e, g)
        return
    assert logrank(3 * t + 2, e, g).chi2 == pytest.approx(base.chi2, rel=1e-9, abs=1e-12)
    assert logrank(t**2, e, g).chi2 == pytest.approx(base.chi2, rel=1e-9, abs=1e-12)
    assert logrank(t, e, 1 - g).chi2 == pytest.approx(base.chi2, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize(
    "time, event, group, match",
    [
        ([1, -2, 3], [1, 0, 1], None, "time must be finite and >= 0.*position 1"),
        ([1, 2, np.nan], [1, 0, 1], None, "time must be finite"),
        ([1, 2, 3], [1, 2, 1], None, "event must be 1.*or 0"),
        ([1, 2, 3], [1, 0], None, "event has 2 values but time has 3"),
        ([1, 2, 3], [1, 0, 1], ["a", None, "b"], "group is missing at position 1"),
    ],
)
def test_bad_survival_input_is_refused(time, event, group, match):
    with pytest.raises(InvalidInputError, match=match):
        kaplan_meier(time, event, group)


def test_bad_cox_and_logrank_input():
    df = GEHAN.assign(arm=GEHAN["group"], x=np.r_[np.nan, np.ones(41)])
    with pytest.raises(InvalidInputError, match="one-hot encode"):
        cox(df, "time", "event", ["arm"])
    with pytest.raises(InvalidInputError, match="missing or not finite"):
        cox(df, "time", "event", ["x"])
    with pytest.raises(InvalidInputError, match=r"not in df"):
        cox(df, "time", "status", ["x"])
    with pytest.raises(InvalidInputError, match="at least two groups"):
        logrank(GEHAN["time"], GEHAN["event"], ["a"] * 42)
    with pytest.raises(InvalidInputError, match="conf_type"):
        kaplan_meier(GEHAN["time"], GEHAN["event"], conf_type="arcsine")


# ---------------------------------------------------------------- edge cases vs R survival
# tests/data/validation_edge_reference.R -> validation_edge_reference.json (survfit,
# quantile.survfit, survdiff, coxph on small literal data sets).

EDGE = json.loads((DATA / "validation_edge_reference.json").read_text())
AUDIT = json.loads((DATA / "validation_audit_reference.json").read_text())
CONF_TYPES = ("log-log", "log", "plain")


def _r(values):
    return np.array([math.nan if v is None else v for v in np.atleast_1d(values)], dtype=float)


@pytest.mark.parametrize("conf_type", CONF_TYPES)
@pytest.mark.parametrize("case", sorted(EDGE["survival_km"]))
def test_edge_case_kaplan_meier_matches_r_survfit(case, conf_type):
    ref = EDGE["survival_km"][case]
    r = ref[conf_type]
    km = kaplan_meier(ref["time"], ref["event"], conf_type=conf_type)
    km = km.iloc[len(km) - len(r["time"]):]  # R has no row for the added start at time 0
    np.testing.assert_array_equal(km["time"], _r(r["time"]))
    for col, key in (("n_risk", "n_risk"), ("n_event", "n_event"), ("n_censor", "n_censor")):
        np.testing.assert_array_equal(km[col], _r(r[key]))
    np.testing.assert_allclose(km["survival"], _r(r["survival"]), rtol=1e-12, atol=1e-15)
    # R's std.err is the SE of -log S; the package reports the SE of S
    np.testing.assert_allclose(km["std_err"], _r(r["survival"]) * _r(r["std_err_of_log"]), rtol=1e-10)
    low, high = _r(r["ci_low"]), _r(r["ci_high"])
    at_one = _r(r["survival"]) == 1.0
    if conf_type == "log-log":  # documented: [1, 1] where S = 1, R gives NA
        assert np.isnan(low[at_one]).all() and (km["ci_low"].to_numpy()[at_one] == 1.0).all()
        low[at_one] = high[at_one] = 1.0
    np.testing.assert_allclose(km["ci_low"], low, rtol=1e-10)
    np.testing.assert_allclose(km["ci_high"], high, rtol=1e-10)


@pytest.mark.parametrize("conf_type", CONF_TYPES)
@pytest.mark.parametrize("case", sorted(EDGE["survival_km"]))
def test_edge_case_median_and_interval_match_r_quantile_survfit(case, conf_type):
    ref = EDGE["survival_km"][case]
    r = ref[conf_type]
    med = median_survival(ref["time"], ref["event"], conf_type=conf_type).iloc[0]
    np.testing.assert_allclose([med["median"], med["ci_low"], med["ci_high"]],
                               np.r_[_r(r["median"]), _r(r["median_ci"])], rtol=1e-12)


def test_median_upper_limit_not_reached_when_the_curve_drops_to_zero_first():
    # regression: statsmodels' quantile_ci gave 3 (the time S hit 0, where the pointwise
    # limit is undefined); R quantile.survfit says NA, as the docstring always promised
    med = median_survival([1, 2, 3], [1, 1, 1]).iloc[0]
    assert (med["median"], med["ci_low"]) == (2.0, 1.0) and math.isnan(med["ci_high"])


def test_median_of_a_curve_ending_at_one_half_is_the_midpoint_to_the_last_time():
    # regression: S = 3/4, 1/2 at t = 1, 2 then censored at 3 and 4; R: (2 + 4) / 2 = 3
    assert median_survival([1, 2, 3, 4], [1, 1, 0, 0])["median"].iloc[0] == 3.0


@pytest.mark.parametrize("case", sorted(EDGE["two_group"]))
def test_edge_case_logrank_matches_r_survdiff(case):
    ref = EDGE["two_group"][case]
    res = logrank(ref["time"], ref["event"], ref["group"])
    lr = ref["logrank"]
    assert res.chi2 == pytest.approx(lr["chi2"], rel=1e-10)
    np.testing.assert_allclose(res.observed, lr["observed"], rtol=1e-12)
    np.testing.assert_allclose(res.expected, lr["expected"], rtol=1e-12)


@pytest.mark.parametrize("ties", ["efron", "breslow"])
@pytest.mark.parametrize("case", sorted(EDGE["two_group"]))
def test_edge_case_cox_matches_r_coxph_or_says_not_estimable(case, ties):
    ref = EDGE["two_group"][case]
    df = pd.DataFrame({"t": ref["time"], "e": ref["event"], "g": ref["group"]})
    if ref["cox_warnings"]:  # R: "coefficient may be infinite" / "did not converge"
        from ca125kinetics.errors import DataQualityWarning

        with pytest.warns(DataQualityWarning, match="not estimable"):
            table = cox(df, "t", "e", "g", ties=ties)
        assert table[["coef", "se", "hr", "hr_ci_low", "hr_ci_high", "p_value"]].isna().all().all()
    else:
        table = cox(df, "t", "e", "g", ties=ties)
        assert table["coef"].iloc[0] == pytest.approx(ref["cox"][ties]["coef"], rel=1e-6)
        assert table["se"].iloc[0] == pytest.approx(ref["cox"][ties]["se"], rel=1e-6)


def test_all_censored_data_is_summarised_or_refused_never_a_number():
    t, e = [1, 2, 3, 4], [0, 0, 0, 0]
    km = kaplan_meier(t, e)
    assert (km["survival"] == 1.0).all()
    assert median_survival(t, e)[["median", "ci_low", "ci_high"]].isna().all().all()
    with pytest.raises(InvalidInputError, match="at least one event"):
        logrank(t, e, [0, 0, 1, 1])
    with pytest.raises(InvalidInputError, match="at least one event"):
        cox(pd.DataFrame({"t": t, "e": e, "g": [0, 0, 1, 1]}), "t", "e", "g")


def test_stratified_logrank_and_cox_match_r():
    ref = EDGE["stratified"]
    res = logrank(ref["time"], ref["event"], ref["group"], strata=ref["stratum"])
    assert res.chi2 == pytest.approx(ref["logrank"]["chi2"], rel=1e-10)
    np.testing.assert_allclose(res.observed, ref["logrank"]["observed"], rtol=1e-12)
    np.testing.assert_allclose(res.expected, ref["logrank"]["expected"], rtol=1e-12)
    df = pd.DataFrame({k: ref[k] for k in ("time", "event", "group", "stratum")})
    table = cox(df, "time", "event", "group", strata="stratum")
    assert table["coef"].iloc[0] == pytest.approx(ref["cox"]["coef"], rel=1e-6)
    assert table["se"].iloc[0] == pytest.approx(ref["cox"]["se"], rel=1e-6)


def test_a_missing_stratum_is_refused_never_a_stratum_of_its_own():
    """Four patients without a stratum had been pooled by ``cox`` into a stratum of their own,
    changing the hazard ratio (coef 0.570, n 14), silently; R's coxph drops them (coef 0.6538,
    SE 0.8839, n 10, which the rows without them give here). ``logrank`` named the complete
    ``group`` argument when a stratum was missing."""
    df = pd.DataFrame({"t": [1, 2, 2, 3, 4, 4, 5, 6, 7, 8, 3, 5, 6, 9], "e": [1, 1, 0, 1, 1, 1, 0, 1, 0, 0, 1, 1, 0, 1],
                       "x": [0, 1, 0, 1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0],
                       "s": ["A", "A", "A", "B", "B", "A", "B", "A", "B", "A", None, None, None, None]})
    with pytest.raises(InvalidInputError, match=r"strata column 's' is missing in 4 row\(s\), first at row 10") as info:
        cox(df, "t", "e", "x", strata="s")
    assert info.value.column == "s" and info.value.row == 10
    kept = cox(df.dropna(), "t", "e", "x", strata="s").iloc[0]
    assert kept["coef"] == pytest.approx(0.6538, abs=1e-4) and kept["se"] == pytest.approx(0.8839, abs=1e-4)
    assert kept["n"] == 10 and kept["n_events"] == 6
    with pytest.raises(InvalidInputError, match="strata is missing at position 0") as info:
        logrank([1, 2, 3, 4], [1, 1, 0, 1], ["a", "b", "a", "b"], strata=[None, "x", "x", "x"])
    assert info.value.column == "strata"


@pytest.mark.parametrize("mixed, shown", [
    ([1, 1, "1", "1", 2, 2], "1 (int) and '1' (str)"),       # were two groups
    ([1, 1, 1.0, 1.0, 2, 2], "1.0 (float) and 1 (int)"),     # were one group
    ([True, True, "True", "True", False, False], "True (bool) and 'True' (str)"),
])
def test_a_group_label_written_as_two_types_is_refused_naming_them(mixed, shown):
    """``1`` and ``"1"`` were two groups of kaplan_meier and logrank, ``1`` and ``1.0`` one
    (Python's 1 == 1.0), and subgroup_metrics read them the other way round (as text): a
    column writing one label as two types is refused, as a group and as a stratum; one of a
    single type, or of several types writing different labels, is analysed as it is."""
    t, e = [1, 2, 3, 4, 5, 6], [1, 1, 0, 1, 1, 0]
    group = np.array(mixed, dtype=object)
    for call in (lambda: kaplan_meier(t, e, group), lambda: median_survival(t, e, group),
                 lambda: logrank(t, e, group), lambda: logrank(t, e, [0, 1, 0, 1, 0, 1], strata=group)):
        with pytest.raises(InvalidInputError, match="writes the same label as different types: "
                                                     + shown.replace("(", r"\(").replace(")", r"\)")):
            call()
    df = pd.DataFrame({"t": t, "e": e, "x": [0, 1, 0, 1, 1, 0], "s": pd.Series(mixed, dtype=object)})
    with pytest.raises(InvalidInputError, match="strata column 's' writes the same label as different types") as info:
        cox(df, "t", "e", "x", strata="s")
    assert info.value.column == "s"
    assert kaplan_meier(t, e, np.array([1, 1, "unknown", "unknown", 2, 2], dtype=object))["group"].nunique() == 3
    assert logrank(t, e, np.array(["1", "1", "1.0", "1.0", "2", "2"], dtype=object)).groups == ("1", "1.0", "2")


def test_median_and_interval_match_r_on_random_small_data_sets():
    for i, ref in enumerate(EDGE["random_medians"]):
        for conf_type in CONF_TYPES:
            med = median_survival(ref["time"], ref["event"], conf_type=conf_type).iloc[0]
            np.testing.assert_allclose([med["median"], med["ci_low"], med["ci_high"]], _r(ref[conf_type]),
                                       rtol=1e-12, err_msg=f"data set {i}, {conf_type}")


@pytest.mark.parametrize(
    "covariates, strata, match",
    [
        (["g"], None, r"\['g'\] do not vary"),
        (["x", "g"], None, r"\['g'\] do not vary"),
        (["x", "x2"], None, "collinear"),
        (["x", "w"], "s", r"\['w'\] do not vary within every stratum"),
    ],
)
def test_cox_refuses_covariates_without_an_identifiable_coefficient(covariates, strata, match):
    # regression: a constant covariate raised numpy's LinAlgError; collinear ones gave NaN with
    # a message about separation. R coxph reports NA for such coefficients.
    df = pd.DataFrame({"t": [1, 2, 3, 4, 5, 6], "e": [1, 0, 1, 1, 0, 1], "g": [1.0] * 6,
                       "x": [0.1, 0.5, 0.2, 0.9, 0.3, 0.4], "s": [0, 0, 0, 1, 1, 1], "w": [0, 0, 0, 1, 1, 1]})
    df["x2"] = 2 * df["x"] + 1
    with pytest.raises(InvalidInputError, match=match):
        cox(df, "t", "e", covariates, strata=strata)


def test_logrank_p_value_is_rs_where_it_is_tiny():
    """statsmodels' p is 1 - cdf, which is 0 below about 1e-16; R's
    ``pchisq(chisq, df, lower.tail = FALSE)`` is not. Reference (R 4.2.2, survival 3.5.3):
    ``t <- c(1:30, 101:130); survdiff(Surv(t, rep(1, 60)) ~ rep(c("a", "b"), each = 30))``
    gives chisq 71.351088258238818 and p 2.9899292718207888e-17."""
    import numpy as np

    from ca125kinetics.validation.survival import logrank

    t = np.r_[np.arange(1, 31), np.arange(101, 131)]
    r = logrank(t, np.ones(60), ["a"] * 30 + ["b"] * 30)
    assert r.chi2 == pytest.approx(71.351088258238818, rel=1e-12)
    assert r.p_value == pytest.approx(2.9899292718207888e-17, rel=1e-9)


@pytest.mark.parametrize("call", [
    lambda t, e, g: kaplan_meier(t, e),
    lambda t, e, g: kaplan_meier(t, e.to_numpy(), g),
    lambda t, e, g: median_survival(t, e),
    lambda t, e, g: logrank(t.to_numpy(), e.sort_index(), g),
    lambda t, e, g: logrank(t.sort_index(), e.sort_index(), g.sort_index(), strata=g),
], ids=["kaplan_meier", "kaplan_meier_group", "median_survival", "logrank", "logrank_strata"])
def test_series_with_different_indexes_are_refused_not_paired_by_position(call):
    # the same patients in different row orders: pandas would align them by index, the
    # functions read arrays by position; either reading could be meant, so it is refused
    idx = list("abcdefgh")
    t = pd.Series([1.0, 2, 3, 4, 5, 6, 7, 8], index=idx)
    e = pd.Series([1, 1, 1, 0, 1, 0, 1, 0], index=idx).iloc[::-1]
    g = pd.Series([0, 1, 0, 1, 0, 1, 0, 1], index=idx).iloc[::-1]
    with pytest.raises(InvalidInputError, match="index"):
        call(t, e, g)


def test_logrank_names_a_group_never_at_risk_at_an_event_time():
    # group 'c' is one patient censored at time 0: no patient of it is at risk at any event
    # time, so its expected count is 0 and the variance matrix singular. The refusal said
    # "only one group is at risk at every event time", which is false (a and b are); R
    # survdiff leaves the group out of the test (chisq 6.11775043936731 on 1 df, see
    # tests/data/validation_audit_reference.R), which is the test of a against b
    t, e, g = [1, 2, 3, 4, 5, 6, 7, 8, 0], [1, 0, 1, 1, 1, 0, 1, 1, 0], list("aaaabbbbc")
    with pytest.raises(InsufficientDataError, match="'c'.*no patient at risk at any event time"):
        logrank(t, e, g)
    ref = AUDIT["logrank_group_never_at_risk"]
    res = logrank(t[:8], e[:8], g[:8])
    assert res.chi2 == pytest.approx(ref["chisq"], rel=1e-10)
    assert res.p_value == pytest.approx(ref["p_value"], rel=1e-10)


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_cox_refuses_a_covariate_that_does_not_vary_among_the_patients_at_risk(ties):
    # x varies, but both patients with x = 0 are censored (at 0.5) before the first event:
    # at every event time everyone at risk has x = 1, the partial likelihood does not depend
    # on the coefficient, and R coxph reports NA for it (coef NA; see the test's data in
    # tests/data/validation_audit_reference.R). It raised numpy's LinAlgError.
    df = pd.DataFrame({"t": [1, 2, 3, 4, 5, 6, 0.5, 0.5], "e": [1, 1, 0, 1, 1, 0, 0, 0],
                       "x": [1, 1, 1, 1, 1, 1, 0, 0], "z": [0.3, 0.1, 0.5, 0.2, 0.9, 0.4, 0.6, 0.7]})
    ref = AUDIT["cox_not_identifiable"]
    assert ref["coef_x"] is None and ref["coef_x_with_z"][0] is None    # R: NA
    for covariates in (["x"], ["z", "x"]):
        with pytest.raises(InvalidInputError, match=r"\['x'\] do not vary among the patients at risk"):
            cox(df, "t", "e", covariates, ties=ties)
    # the same in a stratum: x varies among those at risk in stratum b only, which is enough
    df2 = pd.concat([df.assign(s="a"), df.assign(s="b", x=[1, 0, 1, 0, 1, 0, 0, 0])], ignore_index=True)
    assert np.isfinite(cox(df2, "t", "e", ["x"], strata="s", ties=ties)["coef"]).all()


@pytest.mark.parametrize("conf_type", CONF_TYPES)
@pytest.mark.parametrize("case", sorted(AUDIT["km"]))
def test_audit_case_kaplan_meier_and_median_match_r(case, conf_type):
    # censoring at time 0, all events at one time, one patient, half the patients failing at 0
    ref = AUDIT["km"][case]
    r = ref[conf_type]
    time, event = np.atleast_1d(ref["time"]), np.atleast_1d(ref["event"])  # JSON: n = 1 is a scalar
    km = kaplan_meier(time, event, conf_type=conf_type)
    km = km.iloc[len(km) - len(_r(r["time"])):]  # R has no row for an added start at time 0
    np.testing.assert_array_equal(km["time"], _r(r["time"]))
    np.testing.assert_allclose(km["survival"], _r(r["survival"]), rtol=1e-12, atol=1e-15)
    low, high = _r(r["ci_low"]), _r(r["ci_high"])
    at_one = _r(r["survival"]) == 1.0
    if conf_type == "log-log":  # documented: [1, 1] where S = 1, R gives NA
        low[at_one] = high[at_one] = 1.0
    np.testing.assert_allclose(km["ci_low"], low, rtol=1e-10)
    np.testing.assert_allclose(km["ci_high"], high, rtol=1e-10)
    med = median_survival(time, event, conf_type=conf_type).iloc[0]
    np.testing.assert_allclose([med["median"], med["ci_low"], med["ci_high"]],
                               np.r_[_r(r["median"]), _r(r["median_ci"])], rtol=1e-12)


@pytest.mark.parametrize("case", sorted(AUDIT["logrank"]))
def test_audit_case_logrank_and_cox_match_r(case):
    # three groups, a group without events, all times equal, censoring and events at time 0
    ref = AUDIT["logrank"][case]
    res = logrank(ref["time"], ref["event"], ref["group"])
    assert res.chi2 == pytest.approx(ref["chisq"], rel=1e-10, abs=1e-12)
    np.testing.assert_allclose(res.expected, ref["expected"], rtol=1e-10)
    for ties, r in ref["cox"].items():
        if not r:  # more than two groups: no one-covariate Cox model
            continue
        df = pd.DataFrame({"t": ref["time"], "e": ref["event"], "g": ref["group"]})
        fit = cox(df, "t", "e", "g", ties=ties).iloc[0]
        assert (fit["coef"], fit["se"]) == pytest.approx((r["coef"], r["se"]), rel=1e-6, abs=1e-9)


def test_cox_with_a_covariate_of_large_mean_and_small_spread():
    # x = 1000 + 0.001 z: statsmodels fitted it uncentred and raised numpy's LinAlgError on a
    # monotone likelihood (the event at the largest x of its risk set) instead of the
    # documented NaN with a warning; an estimable fit is R coxph's, which centres x
    ref = AUDIT["cox_shifted"]
    fit = cox(pd.DataFrame({"t": ref["time"], "e": ref["event"], "x": ref["x"]}), "t", "e", "x").iloc[0]
    assert (fit["coef"], fit["se"]) == pytest.approx((ref["coef"], ref["se"]), rel=1e-6)
    x = [1000.000966483651, 999.9987126927881, 1000.0005132804952, 999.9992036928913]
    with pytest.warns(DataQualityWarning, match="not estimable"):
        mono = cox(pd.DataFrame({"t": [1.0, 2, 4, 2], "e": [1, 0, 0, 0], "x": x}), "t", "e", "x").iloc[0]
    assert math.isnan(mono["coef"]) and math.isnan(mono["hr"])
