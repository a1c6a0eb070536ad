"""Tests of ca125kinetics.design: trial design, selection-trial simulation, non-inferiority analysis.

Reference values (tests/data/design_reference.json) were computed in R by
tests/data/design_reference.R: the closed forms by hand with qnorm, rpact
``getSampleSizeSurvival``/``getPowerSurvival`` (an independent implementation of Schoenfeld's
events and of the uniform-accrual event probability), the mixture hazard ratio by R
``integrate``, and Kaplan-Meier/Cox with R survival on ``survival::aml`` (see
tests/data/design_README.md). Simulated power is checked against the closed form within Monte
Carlo error.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings as hsettings, strategies as st
from scipy import integrate

from ca125kinetics import design
from ca125kinetics.cli import main
from ca125kinetics.errors import InsufficientDataError, InvalidInputError
from ca125kinetics.validation.survival import logrank, logrank_z

DATA = Path(__file__).parent / "data"
REF = json.loads((DATA / "design_reference.json").read_text())


# --------------------------------------------------------------------------- closed forms vs R


def test_gsdesign_reference_to_a_hundredth_of_an_event():
    r = design.events(0.6, alpha=0.025, sided=1, power=0.9)
    assert round(r.events, 2) == REF["gsdesign_quoted"]["events"] == 161.07
    assert r.events_required == 162
    assert r.hypothesis == "superiority" and r.hr_null == 1.0
    assert "experimental vs control" in r.direction


@pytest.mark.parametrize("case", REF["events"])
def test_events_equal_qnorm_and_rpact(case):
    r = design.events(case["hr"], alpha=case["alpha"], sided=case["sided"], power=case["power"],
                      allocation=case["allocation"], margin_hr=case["margin_hr"])
    assert r.events == pytest.approx(case["events_qnorm"], abs=1e-6)
    assert r.events == pytest.approx(case["events_rpact"], abs=1e-6)
    assert r.hypothesis == ("superiority" if case["margin_hr"] is None else "non-inferiority")


@pytest.mark.parametrize("case", REF["patients"])
def test_patients_equal_rpact(case):
    r = design.sample_size(case["hr"], accrual=case["accrual"], follow_up=case["follow_up"],
                           control_median=case["control_median"], alpha=case["alpha"], sided=case["sided"],
                           power=case["power"], allocation=case["allocation"], margin_hr=case["margin_hr"],
                           convention="average")     # rpact's
    assert r.events == pytest.approx(case["events_rpact"], abs=1e-6)
    assert r.events / r.p_event == pytest.approx(case["subjects_rpact"], rel=1e-9)
    assert r.n == math.ceil(case["subjects_rpact"])
    assert r.n_experimental + r.n_control == r.n
    assert r.n_experimental == math.ceil(r.n * case["allocation"] - 1e-9)


@pytest.mark.parametrize("case", REF["detectable_hr"])
def test_detectable_hr_equals_qnorm_and_has_the_power_rpact_says(case):
    r = design.detectable_hr(case["events"], alpha=case["alpha"], sided=case["sided"], power=case["power"])
    assert r.hr == pytest.approx(case["hr_qnorm"], rel=1e-10)
    assert case["power_rpact"] == pytest.approx(case["power"], abs=1e-9)


@pytest.mark.parametrize("case", REF["supported_margin"])
def test_supported_margin_equals_qnorm(case):
    r = design.supported_margin(case["events"], true_hr=case["true_hr"], alpha=case["alpha"],
                                sided=case["sided"], power=case["power"])
    assert r.hr == pytest.approx(case["margin_qnorm"], rel=1e-10)
    assert r.hypothesis == "non-inferiority"


@pytest.mark.parametrize("case", REF["margin_from_difference"])
def test_margin_from_survival_difference(case):
    m = design.hr_margin_from_difference(case["control_survival"], case["difference"])
    assert m == pytest.approx(case["margin_hr"], rel=1e-12)
    # the events of a difference margin are those of the converted HR margin
    a = design.events(1.0, margin_diff=case["difference"], at_time=36, control_survival=case["control_survival"])
    b = design.events(1.0, margin_hr=m)
    assert a.events == pytest.approx(b.events, rel=1e-12)
    assert "proportional hazards" in a.margin


@pytest.mark.parametrize("case", REF["mixture_hr"])
def test_mixture_hr_equals_r_integrate(case):
    h = design.mixture_hr(case["ppv"], hr_complete=case["hr_complete"], hr_incomplete=case["hr_incomplete"],
                          control_median=case["control_median"], accrual=case["accrual"],
                          follow_up=case["follow_up"])
    assert h == pytest.approx(case["hr_mixture"], rel=1e-7)
    assert design.events(h, alpha=0.05, sided=2, power=0.8).events == pytest.approx(
        case["events_80_two_sided_05"], rel=1e-6)


# --------------------------------------------------------------------------- properties


@hsettings(max_examples=60, deadline=None)
@given(hr=st.floats(0.2, 0.95), power=st.floats(0.5, 0.99), alloc=st.floats(0.2, 0.8),
       sided=st.sampled_from([1, 2]))
def test_detectable_hr_inverts_events(hr, power, alloc, sided):
    d = design.events(hr, alpha=0.05, sided=sided, power=power, allocation=alloc).events
    assert design.detectable_hr(d, alpha=0.05, sided=sided, power=power, allocation=alloc).hr == \
        pytest.approx(hr, rel=1e-9)
    # 1:2 needs the same events as 2:1
    assert design.events(hr, alpha=0.05, sided=sided, power=power, allocation=1 - alloc).events == \
        pytest.approx(d, rel=1e-12)


def test_a_bound_below_1_is_not_a_noninferiority_margin(capsys):
    from ca125kinetics.cli import main

    # 1000 events and a true HR of 0.7 show superiority itself: 0.8593 would be no margin
    with pytest.raises(InvalidInputError, match=r"bound of 0.8593, below 1: that is not a non-inferiority margin"):
        design.supported_margin(1000, true_hr=0.7)
    with pytest.raises(InvalidInputError, match="below 1"):
        design.patients_support(300, accrual=24, follow_up=24, control_median=14, true_hr=0.6)
    assert main(["design", "detectable-hr", "--events", "1000", "--true-hr", "0.7"]) == 2
    assert "superiority itself" in capsys.readouterr().err
    assert design.supported_margin(1000, true_hr=0.9).hr > 1          # a margin still where there is one


@hsettings(max_examples=60, deadline=None)
@given(margin=st.floats(1.05, 2.0), true_hr=st.floats(0.7, 1.0), power=st.floats(0.5, 0.99))
def test_supported_margin_inverts_noninferiority_events(margin, true_hr, power):
    d = design.events(true_hr, margin_hr=margin, power=power).events
    assert design.supported_margin(d, true_hr=true_hr, power=power).hr == pytest.approx(margin, rel=1e-9)


@hsettings(max_examples=60, deadline=None)
@given(s=st.floats(0.3, 0.95), frac=st.floats(0.01, 0.9))
def test_difference_margin_is_a_survival_loss_under_ph(s, frac):
    delta = frac * s
    m = design.hr_margin_from_difference(s, delta)
    assert m > 1
    assert s ** m == pytest.approx(s - delta, rel=1e-9)


def test_event_probability_matches_numerical_integration_and_its_limits():
    lam, a, f = math.log(2) / 14, 36.0, 24.0
    by_hand = integrate.quad(lambda u: 1 - math.exp(-lam * (a + f - u)), 0, a)[0] / a  # entry uniform on [0, a]
    assert float(design.event_probability(lam, a, f)) == pytest.approx(by_hand, rel=1e-8)
    assert float(design.event_probability(lam, 0.0, f)) == pytest.approx(1 - math.exp(-lam * f))
    assert float(design.event_probability(lam, 1e-7, f)) == pytest.approx(1 - math.exp(-lam * f), rel=1e-6)


def test_patients_support_inverts_sample_size():
    n = design.sample_size(0.7, accrual=24, follow_up=12, control_median=20, power=0.8).events / \
        design.sample_size(0.7, accrual=24, follow_up=12, control_median=20, power=0.8).p_event
    r = design.patients_support(math.floor(n), accrual=24, follow_up=12, control_median=20, power=0.8)
    assert r.hr == pytest.approx(0.7, abs=2e-3) and r.hr < 0.7  # fewer patients: a smaller HR is needed
    ni = design.patients_support(874, true_hr=1.0, accrual=36, follow_up=36, control_survival=0.8, at_time=36,
                                 power=0.8)
    check = design.sample_size(1.0, margin_hr=ni.hr, accrual=36, follow_up=36, control_survival=0.8, at_time=36,
                               power=0.8)
    assert check.events / check.p_event == pytest.approx(874, rel=1e-9)
    assert ni.survival_difference == pytest.approx(0.8 - 0.8 ** ni.hr)


def test_conventions_of_the_event_probability():
    """The default is the specification's: events over the probability of an event by the
    analysis from the control distribution (exponential), accrual and follow-up."""
    avg = design.sample_size(0.6, accrual=36, follow_up=24, control_median=14, convention="average")
    ctl = design.sample_size(0.6, accrual=36, follow_up=24, control_median=14)
    lam = math.log(2) / 14
    p_c = 1 - (math.exp(-lam * 24) - math.exp(-lam * 60)) / (lam * 36)
    assert ctl.event_probability_convention == "control" and ctl.p_event == pytest.approx(p_c, rel=1e-12)
    assert ctl.n == math.ceil(ctl.events / p_c) == 188
    assert ctl.p_event == avg.p_event_control
    assert avg.p_event == pytest.approx((avg.p_event_control + avg.p_event_experimental) / 2)
    assert ctl.n < avg.n  # the control arm has more events when HR < 1


@pytest.mark.parametrize("kwargs, match", [
    ({"hr": 1.2}, "below 1"),
    ({"hr": 1.3, "margin_hr": 1.3}, "below the margin"),
    ({"hr": 1.0, "margin_hr": 1.3, "margin_diff": 0.05}, "not both"),
    ({"hr": 1.0, "margin_diff": 0.05}, "control arm's survival"),
    ({"hr": 0.6, "sided": 3}, "sided"),
    ({"hr": 0.6, "alpha": 1.5}, "alpha"),
    ({"hr": 1.0, "margin_hr": 0.9}, "margin_hr"),
    ({"hr": 1.0, "margin_diff": 0.9, "at_time": 36, "control_survival": 0.8}, "difference"),
])
def test_bad_design_input_is_refused(kwargs, match):
    hr = kwargs.pop("hr")
    with pytest.raises(InvalidInputError, match=match):
        design.events(hr, **kwargs)


def test_sample_size_needs_one_control_distribution():
    with pytest.raises(InvalidInputError, match="control_median"):
        design.sample_size(0.6, accrual=36, follow_up=24)
    with pytest.raises(InvalidInputError, match="once"):
        design.sample_size(0.6, accrual=36, follow_up=24, control_median=14, control_survival=0.5, at_time=14)


def test_results_have_tidy_and_json_forms():
    r = design.sample_size(0.6, accrual=36, follow_up=24, control_median=14)
    frame = r.to_frame()
    assert list(frame.columns) == ["quantity", "value"]
    assert dict(zip(frame["quantity"], frame["value"]))["n"] == 188
    assert json.loads(r.to_json())["events_result"]["events"] == pytest.approx(161.0686, abs=1e-4)


# --------------------------------------------------------------------------- log-rank for simulations


def test_batched_logrank_equals_the_single_logrank_with_ties():
    rng = np.random.default_rng(5)
    t = np.round(rng.exponential(10, (6, 40)))  # many ties
    e = (rng.random((6, 40)) < 0.7).astype(int)
    g = (rng.random((6, 40)) < 0.5).astype(int)
    z = logrank_z(t, e, g)
    for k in range(6):
        single = logrank(t[k], e[k], g[k])
        assert z[k] ** 2 == pytest.approx(single.chi2, rel=1e-10)
        assert np.sign(z[k]) == np.sign(single.observed[1] - single.expected[1])
        assert float(logrank_z(t[k], e[k], g[k])) == pytest.approx(z[k])


def test_batched_logrank_sign_and_degenerate_rows():
    t = np.array([[1.0, 2, 3, 4], [1.0, 2, 3, 4]])
    e = np.array([[1, 1, 0, 0], [0, 0, 0, 0]])
    g = np.array([[1, 1, 0, 0], [1, 1, 0, 0]])
    z = logrank_z(t, e, g)
    assert z[0] > 0  # the events are in group 1: worse
    assert math.isnan(z[1])
    with pytest.raises(InvalidInputError, match="0/1"):
        logrank_z(t, e * 2, g)


# --------------------------------------------------------------------------- selection trials


def test_simulated_power_agrees_with_schoenfeld_when_every_resection_is_complete():
    ss = design.sample_size(0.6, accrual=36, follow_up=24, control_median=14, power=0.8, convention="average")
    r = design.simulate_selection_trial(ss.n, ppv=1.0, hr_complete=0.6, hr_incomplete=1.2, control_median=14,
                                        sims=1500, seed=11)
    assert r.hr_mixture == 0.6
    assert r.power_schoenfeld == pytest.approx(0.8, abs=0.005)  # n rounded up
    assert abs(r.power - r.power_schoenfeld) < 3.5 * math.sqrt(0.8 * 0.2 / r.sims)
    assert r.events_mean == pytest.approx(r.events_expected, rel=0.02)


def test_simulated_power_of_the_mixture_matches_its_closed_form():
    r = design.selection_trial_sample_size(0.8, ppv=0.6, hr_complete=0.6, hr_incomplete=1.2, control_median=14,
                                           sims=1000, seed=3)
    sim = r.simulated
    assert abs(sim["power"] - 0.8) < 4 * math.sqrt(0.8 * 0.2 / 1000)
    assert r.events == pytest.approx(design.events(r.hr_mixture, power=0.8).events)
    assert r.hr_mixture > 0.6 and r.hr_mixture < sim["hr_initial"]


def test_type_one_error_without_effect():
    r = design.simulate_selection_trial(200, ppv=0.7, hr_complete=1.0, hr_incomplete=1.0, control_median=14,
                                        sims=2000, seed=2)
    assert abs(r.power - 0.025) < 4 * math.sqrt(0.025 * 0.975 / 2000)


def test_simulation_is_seeded_and_harm_lowers_power():
    kw = dict(hr_complete=0.6, hr_incomplete=1.2, control_median=14, sims=400)
    a = design.simulate_selection_trial(160, ppv=0.755, seed=7, **kw)
    b = design.simulate_selection_trial(160, ppv=0.755, seed=7, **kw)
    assert a == b
    worse = design.simulate_selection_trial(160, ppv=0.6, seed=7, **kw)
    assert worse.power < a.power and worse.hr_mixture > a.hr_mixture


def test_the_closed_form_and_the_simulation_split_patients_into_arms_by_one_rule():
    """sample_size put ceil(n p) patients in the experimental arm, simulate_selection_trial
    round(n p), Python's half-to-even: 161 patients at 1:1 were 81 + 80 in one and 80 + 81
    in the other. Both split by design.arm_sizes: ceil(n p) experimental, the rest control."""
    sim = dict(ppv=0.755, hr_complete=0.6, hr_incomplete=1.2, control_median=14, sims=1)
    assert design.arm_sizes(161, 0.5) == (81, 80) and design.arm_sizes(10, 0.25) == (3, 7)
    assert design.arm_sizes(100, 0.07) == (7, 93) and design.arm_sizes(3, 2 / 3) == (2, 1)
    for n, allocation in ((161, 0.5), (10, 0.25), (7, 0.5), (90, 0.7)):
        assert design.simulate_selection_trial(n, allocation=allocation, **sim).n_experimental == \
            design.arm_sizes(n, allocation)[0] == math.ceil(n * allocation - 1e-9)
    halves = []
    for allocation in (0.5, 2 / 3, 0.25):
        for median in range(10, 22):
            r = design.sample_size(0.6, accrual=36, follow_up=24, control_median=median, allocation=allocation)
            assert (r.n_experimental, r.n_control) == design.arm_sizes(r.n, allocation)
            s = design.simulate_selection_trial(r.n, allocation=allocation, **sim)
            assert s.n_experimental == r.n_experimental
            halves.append(allocation == 0.5 and r.n % 4 == 1)    # where half-to-even rounds down
    assert any(halves)
    for n, allocation, arm in ((2, 0.9, "control"), (5, 1e-12, "experimental")):
        with pytest.raises(InvalidInputError, match=f"leave the {arm} arm empty"):
            design.simulate_selection_trial(n, allocation=allocation, **sim)


def test_no_benefit_on_average_is_refused_for_sample_size():
    with pytest.raises(InvalidInputError, match="does not help"):
        design.selection_trial_sample_size(0.8, ppv=0.3, hr_complete=0.6, hr_incomplete=1.5, control_median=14)


def test_selection_from_predictions_by_hand():
    p = [0.9, 0.8, 0.75, 0.4, 0.2, 0.7]
    y = [1, 1, 0, 1, 0, 1]
    s = design.selection_from_predictions(p, y, 0.7)
    assert (s.n_cohort, s.n_selected) == (6, 4)  # p >= 0.7 is selected
    assert s.share_randomised == pytest.approx(4 / 6)
    assert s.ppv == pytest.approx(3 / 4)
    assert s.ppv_ci_low < 0.75 < s.ppv_ci_high
    assert s.complete_rate_cohort == pytest.approx(4 / 6)
    with pytest.raises(InvalidInputError):
        design.selection_from_predictions(p, [1, 1, 0, 1, 0, None], 0.7)


def test_power_curve_and_plot(tmp_path):
    curve = design.power_curve(120, ppvs=[0.6, 1.0], hr_complete=0.6, hr_incomplete=1.2, control_median=14,
                               sims=100, seed=1)
    assert list(curve["ppv"]) == [0.6, 1.0]
    assert curve["power_schoenfeld"].is_monotonic_increasing
    fig = design.plot_power_curve(curve, n=120)
    fig.savefig(tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 1000


# --------------------------------------------------------------------------- non-inferiority analysis


@pytest.fixture
def aml():
    return pd.read_csv(DATA / "design_ni_aml.csv")


def test_noninferiority_analysis_equals_r_survival(aml):
    ref = REF["noninferiority_aml"]
    r = design.noninferiority_analysis(aml, "time", "status", "x", experimental=ref["experimental"],
                                       control=ref["control"], at=ref["at"], margin_hr=1.3, margin_diff=0.1)
    for key in ("survival_experimental", "se_experimental", "survival_control", "se_control", "difference",
                "difference_ci_low", "difference_ci_high", "hr", "hr_ci_low", "hr_ci_high", "hr_p_value"):
        assert getattr(r, key) == pytest.approx(ref[key], rel=1e-6), key
    assert r.noninferior_hr is (ref["hr_ci_high"] < 1.3)
    assert r.noninferior_diff is (ref["difference_ci_low"] > -0.1)
    frame = r.to_frame()
    assert list(frame.columns) == ["measure", "estimate", "ci_low", "ci_high", "margin", "criterion", "noninferior",
                                   "p_noninferior"]
    assert "Maintained vs Nonmaintained" in frame["measure"].iloc[3]
    html = r.to_html()
    assert "<table>" in html and "experimental vs control" in html


def test_noninferiority_without_margins_gives_no_verdict(aml):
    r = design.noninferiority_analysis(aml, "time", "status", "x", experimental="Maintained",
                                       control="Nonmaintained", at=20)
    assert r.noninferior_hr is None and r.noninferior_diff is None
    assert "no margin given" in r.to_text()


def test_noninferiority_refuses_unnamed_arms_and_unreached_times(aml):
    with pytest.raises(InvalidInputError, match="name the arms"):
        design.noninferiority_analysis(aml, "time", "status", "x", experimental=None, control="Nonmaintained")
    with pytest.raises(InvalidInputError, match="not two distinct"):
        design.noninferiority_analysis(aml, "time", "status", "x", experimental="A", control="Nonmaintained")
    with pytest.raises(InsufficientDataError, match="followed to 100"):
        design.noninferiority_analysis(aml, "time", "status", "x", experimental="Maintained",
                                       control="Nonmaintained", at=100)


def test_noninferiority_refuses_an_arm_label_written_as_two_types(aml):
    """The arms are compared as text, so an arm column holding 1 and "1" was one arm of 20
    patients (experimental=1, control=0): refused naming the labels; a numeric column stays
    named by its numbers."""
    df = aml.assign(x=pd.Series([1 if i % 2 else "1" for i in range(12)] + [0] * (len(aml) - 12), dtype=object))
    with pytest.raises(InvalidInputError, match=r"arm column 'x' writes the same label as different types: "
                                                r"1 \(int\) and '1' \(str\)") as info:
        design.noninferiority_analysis(df, "time", "status", "x", experimental=1, control=0, at=20)
    assert info.value.column == "x"
    r = design.noninferiority_analysis(df.assign(x=df["x"].astype(int)), "time", "status", "x", experimental=1,
                                       control=0, at=20)
    assert (r.n_experimental, r.n_control) == (12, len(aml) - 12)


@pytest.mark.parametrize("column, value, said", [
    ("status", 2, r"column 'status': event must be 1 \(event observed\) or 0 \(censored\); found 2 at position 0"),
    ("status", "yes", r"column 'status': event must be .*; found 'yes' at position 0"),
    ("time", -1.0, r"column 'time': time must be finite and >= 0; found -1.0 at position 0"),
])
def test_noninferiority_refusals_name_the_users_columns(aml, column, value, said):
    """A bad event or time was refused naming kaplan_meier's parameters ('event', 'time'),
    not the frame's columns, and a text value was shown as nan."""
    bad = aml.astype({column: object})
    bad.loc[0, column] = value
    with pytest.raises(InvalidInputError, match=said) as raised:
        design.noninferiority_analysis(bad, "time", "status", "x", experimental="Maintained",
                                       control="Nonmaintained", at=20)
    assert raised.value.column == column and raised.value.row == 0


@pytest.mark.parametrize("column, value, said", [
    ("status", 2.0, "found 2.0 at position 0"),
    ("time", -3.0, "found -3.0 at position 0"),
])
def test_noninferiority_refusals_show_a_numeric_columns_value_as_written(aml, column, value, said):
    """A bad value of a numeric column (a CSV's dfs_event coded 1/2, a negative time) was shown
    as numpy's repr: 'found np.float64(2.0)'; now as the number."""
    bad = aml.astype({column: float})
    bad.loc[0, column] = value
    with pytest.raises(InvalidInputError, match=re.escape(said)) as raised:
        design.noninferiority_analysis(bad, "time", "status", "x", experimental="Maintained",
                                       control="Nonmaintained", at=20)
    assert "np." not in str(raised.value)


def test_star_import_of_design_gives_every_name():
    namespace: dict = {}
    exec("from ca125kinetics.design import *", namespace)
    assert "noninferiority_analysis" in namespace and "cli_design" not in namespace


# --------------------------------------------------------------------------- command line


def test_cli_events_json_contract(capsys):
    assert main(["design", "events", "--hr", "0.6", "--alpha", "0.025", "--sided", "1", "--power", "0.9",
                 "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert round(out["events"], 2) == 161.07
    assert main(["design", "events", "--hr", "1", "--margin-hr", "1.3", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["events"] == pytest.approx(610.586, abs=1e-3)


def test_cli_text_states_the_direction(capsys):
    assert main(["design", "n", "--hr", "0.6", "--accrual", "36", "--follow-up", "24", "--control-median", "14"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("188 patients") and "experimental vs control" in out
    # the control convention's patients expect fewer events than required under HR 0.6: said
    assert ("note: under the anticipated hazard ratio the 188 patients expect 146.3 events (both arms), fewer "
            "than the 161.07 required: power below 0.9; --convention average gives 207 patients") in out
    assert main(["design", "n", "--hr", "0.6", "--accrual", "36", "--follow-up", "24", "--control-median", "14",
                 "--convention", "average"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("207 patients") and "note:" not in out
    assert main(["design", "detectable-hr", "--n", "874", "--true-hr", "1", "--accrual", "36", "--follow-up", "36",
                 "--control-survival", "0.8", "--at-time", "36", "--power", "0.8"]) == 0
    out = capsys.readouterr().out
    assert "loss of" in out and "note:" not in out      # a true HR of 1: both arms expect the same events
    # the inverse problem says the same: 160 patients under HR 0.6198 expect 125.4 events, not
    # the 137.2 the control arm's probability counts (simulated power 0.76, not 0.80)
    assert main(["design", "detectable-hr", "--n", "160", "--accrual", "36", "--follow-up", "24",
                 "--control-median", "14", "--power", "0.8"]) == 0
    assert ("note: under hazard ratio 0.6198 the 160 patients expect 125.4 events (both arms), fewer than the "
            "137.2 the control convention counts: power below 0.8; --convention average gives a detectable hazard "
            "ratio of 0.6056") in capsys.readouterr().out


_SELECTION = ["selection-trial", "--hr-complete", "0.6", "--hr-incomplete", "1.2", "--control-median", "14",
              "--n", "100", "--sims", "50"]


@pytest.mark.parametrize("args, unused", [
    # the example of the report: the survival loss line was dropped without a word (now used, below)
    (["detectable-hr", "--events", "200", "--control-survival", "0.8", "--at-time", "36"],
     "--control-survival, --at-time"),
    (["detectable-hr", "--events", "200", "--accrual", "36", "--follow-up", "24", "--control-median", "14"],
     "--accrual, --follow-up, --control-median"),
    (["detectable-hr", "--events", "200", "--true-hr", "1", "--convention", "average"], "--convention"),
    (["detectable-hr", "--n", "874", "--accrual", "36", "--follow-up", "36", "--control-median", "14",
      "--at-time", "36"], "--at-time"),
    (["events", "--hr", "0.7", "--control-survival", "0.8", "--at-time", "36"], "--at-time, --control-survival"),
    (["events", "--hr", "1", "--margin-hr", "1.3", "--at-time", "36"], "--at-time"),
    (["n", "--hr", "0.6", "--accrual", "36", "--follow-up", "24", "--control-median", "14", "--at-time", "36"],
     "--at-time"),
    ([*_SELECTION, "--ppv", "0.7", "--p-column", "p", "--decimal", ","], "--p-column, --decimal"),
    ([*_SELECTION, "--ppv", "0.7", "--threshold", "0.5"], "--threshold"),
])
def test_cli_design_refuses_an_option_it_does_not_use(args, unused, capsys):
    """An option a design subcommand does not use in that form was read and ignored (the result
    printed as if it had not been given): refused, naming it and what the subcommand uses."""
    assert main(["design", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"does not use {unused}: it uses" in err


@pytest.mark.parametrize("call, unused", [
    (lambda: design.events(0.6, control_survival=0.8, at_time=36), "at_time, control_survival"),
    (lambda: design.events(1, margin_hr=1.3, at_time=36), "at_time"),
    (lambda: design.sample_size(0.6, accrual=36, follow_up=24, control_median=14, at_time=36), "at_time"),
    (lambda: design.patients_support(874, accrual=36, follow_up=36, control_median=14, at_time=36), "at_time"),
])
def test_design_functions_refuse_a_time_point_they_do_not_use(call, unused):
    """design.events, sample_size and patients_support read control_survival/at_time and
    ignored them where they do not use them (the result as if not given): refused, naming them
    and what uses them, by the rule ca125 design applies (design._time_point_uses)."""
    with pytest.raises(InvalidInputError, match=f"does not use {unused}: "):
        call()
    # where they are used they still are
    assert design.sample_size(1, accrual=36, follow_up=24, control_survival=0.8, at_time=36, margin_hr=1.3).n == \
        design.sample_size(1, accrual=36, follow_up=24, control_median=36 * math.log(2) / -math.log(0.8),
                           margin_hr=1.3).n
    assert design.events(1, margin_diff=0.05, control_survival=0.8, at_time=36).hypothesis == "non-inferiority"


def test_cli_detectable_hr_from_events_states_the_margin_as_a_survival_loss(capsys):
    """--control-survival at --at-time with --events and --true-hr was dropped without a word;
    it states the margin as a loss of survival there, as with --n."""
    assert main(["design", "detectable-hr", "--events", "200", "--true-hr", "1", "--control-survival", "0.8",
                 "--at-time", "36"]) == 0
    m = design.supported_margin(200, true_hr=1).hr
    assert f"= a loss of {0.8 - 0.8 ** m:.4f} in survival at 36 from the control's 0.8" in capsys.readouterr().out
    assert main(["design", "detectable-hr", "--events", "200", "--true-hr", "1", "--control-survival", "0.8",
                 "--format", "json"]) == 2
    assert "--at-time" in capsys.readouterr().err
    r = design.supported_margin(200, true_hr=1, control_survival=0.8, at_time=36)
    assert (r.at_time, r.control_survival, r.survival_difference) == (36, 0.8, pytest.approx(0.8 - 0.8 ** m))


def test_cli_selection_trial_json_and_power_target(capsys):
    assert main(["design", "selection-trial", "--ppv", "0.755", "--hr-complete", "0.6", "--hr-incomplete", "1.2",
                 "--control-median", "14", "--n", "160", "--sims", "300", "--seed", "1", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert 0 < out["power"] < 1 and out["n"] == 160
    assert main(["design", "selection-trial", "--ppv", "0.755", "--hr-complete", "0.6", "--hr-incomplete", "1.2",
                 "--control-median", "14", "--power-target", "0.8", "--sims", "200", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == math.ceil(out["events"] / out["p_event"] - 1e-9) and "power" in out


def test_cli_selection_trial_from_predictions(tmp_path, capsys):
    path = tmp_path / "pred.csv"
    pd.DataFrame({"probability": [0.9, 0.8, 0.75, 0.4, 0.2, 0.7],
                  "complete_resection": [1, 1, 0, 1, 0, 1]}).to_csv(path, index=False)
    args = ["design", "selection-trial", "--predictions", str(path), "--threshold", "0.7", "--hr-complete", "0.6",
            "--hr-incomplete", "1.2", "--control-median", "14", "--n", "100", "--sims", "100", "--format", "json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ppv"] == pytest.approx(0.75) and out["selection"]["share_randomised"] == pytest.approx(4 / 6)
    # a PPV from 4 patients (95 % CI 0.30-0.95) sizes no trial with confidence: the power at its
    # lower bound is given, and the text says the PPV rests on too few patients
    assert out["selection"]["power_at_ppv_ci_low"] < out["power"]
    assert main([a for a in args if a not in ("--format", "json")]) == 0
    text = capsys.readouterr().out
    bound = f"{out['selection']['ppv_ci_low']:.3f}"
    assert f"at the PPV's lower 95 % bound {bound} the same 100 patients have power" in text
    assert "note: the PPV rests on 4 selected patient(s), too few to size a trial on" in text
    pd.DataFrame({"p": [0.9], "complete_resection": [1]}).to_csv(path, index=False)
    assert main(args) == 2
    assert "--p-column" in capsys.readouterr().err
    assert main([*args, "--p-column", "p"]) == 0
    capsys.readouterr()
    # a validation's predictions file: its patients without an outcome are named by 'included'
    pd.DataFrame({"probability": [0.9, 0.8], "complete_resection": [1, None], "included": [True, False]}).to_csv(
        path, index=False)
    assert main(args) == 2
    assert "the rows whose 'included' is true" in capsys.readouterr().err


def test_cli_ni_analysis_html(aml, tmp_path, capsys):
    out = tmp_path / "ni.html"
    assert main(["design", "ni-analysis", "--data", str(DATA / "design_ni_aml.csv"), "--time", "time", "--event",
                 "status", "--arm", "x", "--experimental", "Maintained", "--control", "Nonmaintained",
                 "--margin-hr", "1.3", "--at", "36", "--format", "html", "--out", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("<!DOCTYPE html>") and "non-inferior" in text


def test_cli_errors_are_one_line(capsys):
    assert main(["design", "events", "--hr", "1.2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ca125: error:") and err.count("\n") == 1


# --------------------------------------------------------------------------- audit (h-cea)

@pytest.mark.parametrize("call", [
    lambda: design.events(0.6, alpha=0.025, power=0.02),                # z sum < 0: squared away
    lambda: design.events(0.6, alpha=0.025, power=0.025),               # 0 events
    lambda: design.events(0.6, alpha=0.05, sided=2, power=0.04),
    lambda: design.detectable_hr(100, power=0.01),                      # an "HR" above 1
    lambda: design.supported_margin(100, power=0.01),
    lambda: design.selection_trial_sample_size(0.01, ppv=0.9, hr_complete=0.6, hr_incomplete=1.2,
                                               control_median=14, sims=10),
])
def test_power_not_above_alpha_is_refused(call):
    # D = (z(1 - a/s) + z(power))^2 / ...: with power <= alpha the sum is <= 0 and the square
    # hid it (161.07 events at power 0.9 became 0.13 events at power 0.02)
    with pytest.raises(InvalidInputError, match=r"power(_target)? \(.* must exceed alpha"):
        call()


@pytest.mark.parametrize("call", [
    lambda: design.events(0.6, alpha=0.6, power=0.9),                   # printed 16.21 events
    lambda: design.events(0.6, alpha=0.5, power=0.9),
    lambda: design.detectable_hr(100, alpha=0.7, power=0.9),
    lambda: design.simulate_selection_trial(100, ppv=0.9, hr_complete=0.6, hr_incomplete=1.2, control_median=14,
                                            alpha=0.6, sims=10),
])
def test_a_one_sided_level_of_a_half_or_more_is_refused(call):
    # z(1 - alpha/sided) <= 0 rejects an estimate that favours the control arm: no design
    with pytest.raises(InvalidInputError, match=r"alpha / sided must be below 0.5"):
        call()
    assert design.events(0.6, alpha=0.9, sided=2, power=0.95).events > 0    # 0.45 per side: a (loose) design


@pytest.mark.parametrize("kwargs, match", [
    ({"ppv": 1.2}, "ppv"), ({"ppv": -0.1}, "ppv"), ({"hr_complete": 0.0}, "hr_complete"),
    ({"hr_incomplete": -1.0}, "hr_incomplete"), ({"control_median": 0.0}, "control_median"),
])
def test_nonsensical_selection_inputs_are_refused(kwargs, match):
    args = dict(ppv=0.755, hr_complete=0.6, hr_incomplete=1.2, control_median=14, accrual=36, follow_up=24)
    args.update(kwargs)
    with pytest.raises(InvalidInputError, match=match):
        design.mixture_hr(args.pop("ppv"), **args)


@pytest.mark.parametrize("s_c, delta", [(0.8, 0.8), (0.8, 0.95), (0.8, 0.0), (1.0, 0.1), (0.0, 0.1)])
def test_margin_leaving_no_survival_is_refused(s_c, delta):
    # M = ln(S_c - delta) / ln(S_c) needs 0 < S_c - delta < S_c < 1
    with pytest.raises(InvalidInputError):
        design.hr_margin_from_difference(s_c, delta)
    with pytest.raises(InvalidInputError):
        design.events(1.0, margin_diff=delta, at_time=36, control_survival=s_c)


def test_every_result_with_a_hazard_ratio_states_its_direction():
    kw = dict(hr_complete=0.6, hr_incomplete=1.2, control_median=14)
    results = [design.events(0.6), design.detectable_hr(200), design.supported_margin(200),
               design.simulate_selection_trial(60, ppv=0.755, sims=20, **kw),
               design.selection_trial_sample_size(0.8, ppv=0.755, sims=20, **kw)]
    for r in results:
        assert r.direction == design.DIRECTION and "experimental vs control" in r.direction
        assert "direction" in set(r.to_frame()["quantity"])


def test_quoted_selection_dilution_figures_and_the_assumptions_that_come_closest():
    """The illustrative 122 / 244 / 497 events for 80 % power at PPV 1 / 0.755 / 0.60
    (HR_R0 0.60, HR_inc 1.20, control median 14) state no accrual, follow-up or formula.
    Schoenfeld gives 120.3 at PPV 1 whatever the accrual; with the event-weighted mixture HR
    (R ``integrate``, design_reference.json) uniform accrual 36 and follow-up 36 months come
    closest: 250.1 and 488.6 (within 2.5 %), accrual 36 / follow-up 24 gives 259.9 and 526.0.
    The dilution itself is reproduced: about twice the events at 0.755, four times at 0.60."""
    ref = {(m["follow_up"], m["ppv"]): m for m in REF["mixture_hr"]}
    quoted = {1.0: 122, 0.755: 244, 0.6: 497}
    got = {}
    for ppv in quoted:
        h = design.mixture_hr(ppv, hr_complete=0.6, hr_incomplete=1.2, control_median=14, accrual=36,
                              follow_up=36)
        assert h == pytest.approx(ref[(36, ppv)]["hr_mixture"], rel=1e-7)
        got[ppv] = design.events(h, alpha=0.025, sided=1, power=0.8).events
    assert got[1.0] == pytest.approx(120.32, abs=0.01)
    assert got[0.755] == pytest.approx(250.09, abs=0.01) and got[0.6] == pytest.approx(488.62, abs=0.01)
    for ppv, q in quoted.items():
        assert abs(got[ppv] / q - 1) < 0.026
    assert got[0.755] / got[1.0] == pytest.approx(2.0, abs=0.1) and got[0.6] / got[1.0] == pytest.approx(4.1, abs=0.1)


@pytest.mark.parametrize("argv", [
    ["design", "events", "--hr", "0.6"],
    ["design", "events", "--hr", "1", "--margin-diff", "0.05", "--at-time", "36", "--control-survival", "0.8"],
    ["design", "n", "--hr", "0.6", "--accrual", "36", "--follow-up", "24", "--control-median", "14"],
    ["design", "detectable-hr", "--events", "200"],
    ["design", "detectable-hr", "--events", "200", "--true-hr", "1"],
    ["design", "selection-trial", "--ppv", "0.755", "--hr-complete", "0.6", "--hr-incomplete", "1.2",
     "--control-median", "14", "--power-target", "0.8", "--sims", "50", "--seed", "1"],
    ["design", "selection-trial", "--ppv", "0.755", "--hr-complete", "0.6", "--hr-incomplete", "1.2",
     "--control-median", "14", "--n", "160", "--sims", "50", "--seed", "1"],
])
def test_every_text_line_with_a_hazard_ratio_states_its_direction(argv, capsys):
    # the selection-trial text printed "the mixture hazard ratio 0.7064" and "effective hazard
    # ratio 0.7064" without saying against which arm
    assert main(argv) == 0
    for line in capsys.readouterr().out.splitlines():
        if re.search(r"hazard ratio [0-9]", line):
            assert "vs control" in line, line


def test_cli_design_tables_are_read_as_stated(tmp_path, capsys):
    """ni-analysis and selection-trial had no format options, yet their notes named --sep; a
    decimal comma became NaN in selection-trial ('p must be finite') and a doubled message in
    ni-analysis. Both take --sep/--decimal/--thousands and refuse a number written otherwise."""
    aml = pd.read_csv(DATA / "design_ni_aml.csv")
    aml["time"] = aml["time"] + 0.5
    eu = tmp_path / "ni_eu.csv"
    aml.to_csv(eu, sep=";", decimal=",", index=False)
    ni = ["design", "ni-analysis", "--data", str(eu), "--time", "time", "--event", "status", "--arm", "x",
          "--experimental", "Maintained", "--control", "Nonmaintained", "--margin-hr", "1.3", "--sep", ";"]
    assert main(ni) == 2
    assert "time '9,5' (data row 1) is not a number" in capsys.readouterr().err
    assert main([*ni, "--decimal", ","]) == 0
    pred = tmp_path / "pred_eu.csv"
    pd.DataFrame({"probability": [0.91, 0.8, 0.75, 0.4],
                  "complete_resection": [1, 1, 0, 1]}).to_csv(pred, sep=";", decimal=",", index=False)
    sel = ["design", "selection-trial", "--predictions", str(pred), "--threshold", "0.7", "--hr-complete", "0.6",
           "--hr-incomplete", "1.2", "--control-median", "14", "--n", "100", "--sims", "50", "--sep", ";"]
    assert main(sel) == 2
    assert "probability '0,91' (data row 1) is not a number" in capsys.readouterr().err
    assert main([*sel, "--decimal", ",", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["selection"]["n_selected"] == 3


def test_cli_design_refusals_name_the_file_row_and_column(tmp_path, capsys):
    """A bad value in a --predictions or --data table was named by its 0-based position as
    'row 4' (the file's row 6, counting the header as row 1), without the file, and by the
    function's argument ('p') rather than the table's column ('probability')."""
    pred = tmp_path / "pred.csv"
    pd.DataFrame({"probability": [0.9, 0.8, 0.75, 0.4, 1.3], "complete_resection": [1, 1, 0, 1, 1]}).to_csv(
        pred, index=False)
    assert main(["design", "selection-trial", "--predictions", str(pred), "--threshold", "0.7", "--hr-complete",
                 "0.6", "--hr-incomplete", "1.2", "--control-median", "14", "--n", "100", "--sims", "50"]) == 2
    assert f"{pred}, row 6, column 'probability': p must be a probability" in capsys.readouterr().err
    aml = pd.read_csv(DATA / "design_ni_aml.csv")
    aml.loc[2, "time"] = -3
    aml.loc[0, "x"] = None
    data = tmp_path / "ni.csv"
    aml.to_csv(data, index=False)
    assert main(["design", "ni-analysis", "--data", str(data), "--time", "time", "--event", "status", "--arm", "x",
                 "--experimental", "Maintained", "--control", "Nonmaintained", "--randomised-only"]) == 2
    assert f"{data}, row 4, column 'time'" in capsys.readouterr().err


# --------------------------------------------------------------------------- audit (h-design)


@pytest.mark.parametrize("alpha", [1e-17, 1e-300])
def test_a_tiny_alpha_gives_its_critical_value_not_an_overflow(alpha, capsys):
    # z_(1 - alpha) was norm.ppf(1 - alpha): 1 - 1e-17 rounds to 1.0, the quantile was infinite and
    # 'ca125 design events --hr 0.6 --alpha 1e-300' ended in an OverflowError traceback
    from scipy import optimize, stats

    z = optimize.brentq(lambda x: stats.norm.logsf(x) - math.log(alpha), 0.0, 100.0, xtol=1e-14)
    by_hand = (z + stats.norm.ppf(0.9)) ** 2 / (0.25 * math.log(0.6) ** 2)
    assert design.events(0.6, alpha=alpha).events == pytest.approx(by_hand, rel=1e-10)
    assert design.detectable_hr(by_hand, alpha=alpha).hr == pytest.approx(0.6, rel=1e-10)
    assert main(["design", "events", "--hr", "0.6", "--alpha", repr(alpha), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["events"] == pytest.approx(by_hand, rel=1e-10)


def test_a_trial_too_large_to_simulate_is_refused_naming_the_option(capsys):
    # simulate_selection_trial(10**9, ...) allocated one 7.45 GiB array per draw and the process was
    # killed; selection_trial_sample_size at a PPV where surgery barely helps (ppv 0.25: 2.1 million
    # patients) simulated 2000 trials of that size for hours
    kw = dict(hr_complete=0.6, hr_incomplete=1.2, control_median=14, sims=1)
    with pytest.raises(InvalidInputError, match=r"n must be at most 2,000,000 patients .* got 2,000,001"):
        design.simulate_selection_trial(2_000_001, ppv=0.755, **kw)
    with pytest.raises(InvalidInputError, match=r"with a PPV of 0.25 .* 0\.9958: .* 2,115,793 patients.*raise the PPV"):
        design.selection_trial_sample_size(0.8, ppv=0.25, **kw)
    assert main(["design", "selection-trial", "--ppv", "0.755", "--hr-complete", "0.6", "--hr-incomplete", "1.2",
                 "--control-median", "14", "--n", "1000000000", "--sims", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ca125: error: --n must be at most 2,000,000") and err.count("\n") == 1


@pytest.mark.parametrize("sims, said", [(0, "from 1 to 1,000,000, got 0"), (-5, "from 1 to 1,000,000, got -5"),
                                        (1_000_001, "from 1 to 1,000,000, got 1,000,001: the Monte Carlo")])
def test_simulated_trials_out_of_range_are_refused(sims, said, capsys):
    # --sims had no upper bound: 10^10 trials ran for days (a million trials already report the power
    # to within an SE of 0.0005); 0 and negative counts were refused without the range
    with pytest.raises(InvalidInputError, match=f"sims must be an integer {said}"):
        design.simulate_selection_trial(2, ppv=0.755, hr_complete=0.6, hr_incomplete=1.2, control_median=14,
                                        sims=sims)
    assert main(["design", "selection-trial", "--ppv", "0.755", "--hr-complete", "0.6", "--hr-incomplete", "1.2",
                 "--control-median", "14", "--n", "2", "--sims", str(sims)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"sims must be an integer {said}" in err


@pytest.mark.parametrize("ppv, hr_incomplete, rejected, low, high", [
    # R 4: binom.test(x, n)$conf.int, printed with sprintf("%.17g")
    (1.0, 1.2, 1000, 0.99631791610313436, 1.0),       # binom.test(1000, 1000)
    (0.0, 1.5, 0, 0.0, 0.0036820838968656712),        # binom.test(0, 1000)
])
def test_a_power_of_0_or_1_has_an_exact_interval_not_a_standard_error_of_0(ppv, hr_incomplete, rejected, low, high,
                                                                          capsys):
    # every (or no) simulated trial rejecting printed "1.000 (Monte Carlo SE 0.000, ...)": a power known
    # exactly from 1000 trials; sqrt(p (1 - p) / sims) is 0 there, the exact (Clopper-Pearson) interval is not
    kw = dict(ppv=ppv, hr_complete=0.3, hr_incomplete=hr_incomplete, control_median=14, sims=1000, seed=1)
    r = design.simulate_selection_trial(1000, **kw)
    assert r.power * r.sims == rejected and math.isnan(r.power_mcse) and r.to_dict()["power_mcse"] is None
    assert r.power_ci_low == pytest.approx(low, rel=1e-12, abs=0) and r.power_ci_high == pytest.approx(high, rel=1e-12)
    assert main(["design", "selection-trial", "--ppv", str(ppv), "--hr-complete", "0.3", "--hr-incomplete",
                 str(hr_incomplete), "--control-median", "14", "--n", "1000", "--sims", "1000", "--seed", "1"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert f"power of 1000 patients: {rejected / 1000:.3f} (95 % CI {low:.3f}-{high:.3f}, 1000 simulated" in first
    assert "SE" not in first


def test_a_simulated_power_between_0_and_1_has_its_exact_interval_and_se():
    # 1012 of 2000 trials reject (the RESCUE example of docs/design.md); R: binom.test(1012, 2000)$conf.int
    r = design.simulate_selection_trial(160, ppv=0.755, hr_complete=0.6, hr_incomplete=1.2, control_median=14,
                                        sims=2000, seed=1)
    assert r.power == 0.506 and r.power_mcse == pytest.approx(math.sqrt(0.506 * 0.494 / 2000), rel=1e-12)
    assert (r.power_ci_low, r.power_ci_high) == pytest.approx((0.4838433228231126, 0.52813906272078448), rel=1e-12)
    curve = design.power_curve(160, ppvs=[0.755], hr_complete=0.6, hr_incomplete=1.2, control_median=14,
                               sims=2000, seed=1)
    assert curve[["power_ci_low", "power_ci_high"]].iloc[0].tolist() == [r.power_ci_low, r.power_ci_high]


_SELECTION = ["selection-trial", "--ppv", "0.755", "--hr-complete", "0.6", "--hr-incomplete", "1.2",
              "--control-median", "14"]


@pytest.mark.parametrize("argv, said, python_name", [
    (_SELECTION + ["--n", "100", "--sims", "0"], "--sims must be an integer from 1 to", "sims"),
    (_SELECTION + ["--n", "100", "--seed", "-1"], "--seed must be an integer >= 0", "seed"),
    (_SELECTION + ["--power-target", "0.01"],
     "--power-target (0.01) must exceed --alpha (0.025): a test that rejects no more often under the alternative "
     "than under the null is not a design; give e.g. --power-target 0.8 or 0.9", "power_target"),
    (["events", "--hr", "0.6", "--alpha", "0.6"], "--alpha / --sided must be below 0.5, got --alpha 0.6 with --sided 1",
     "alpha="),
    (["events", "--hr", "1.5", "--margin-hr", "1.3"], "e.g. --hr 1; got --hr 1.5", "hr="),
    (["n", "--hr", "0.6", "--accrual", "0", "--follow-up", "0", "--control-median", "14"],
     "--accrual + --follow-up must be > 0", "follow_up"),
    (["n", "--hr", "0.6", "--accrual", "36", "--follow-up", "24"],
     "needs the control arm's survival: --control-median (e.g. 14 months), or --control-survival with --at-time",
     "control_median"),
    (["detectable-hr", "--events", "-5"], "--events must be in (0.0, inf), got -5.0", "n_events"),
    (["detectable-hr", "--n", "2", "--accrual", "36", "--follow-up", "24", "--control-median", "-1"],
     "--control-median must be in (0.0, inf)", "control_median"),
])
def test_cli_design_refusals_name_the_options_given(argv, said, python_name, capsys):
    # the refusals named the functions' arguments ('sims must be an integer >= 1', 'power_target (0.01) must
    # exceed alpha', 'accrual + follow_up') to a user who typed --sims, --power-target, --follow-up
    assert main(["design", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ca125: error: ") and said in err and err.count("\n") == 1
    assert re.search(rf"(?<![\w-]){re.escape(python_name)}", err) is None
    # and Python callers keep the names they call the arguments by, after the command as before it
    with pytest.raises(InvalidInputError, match=r"^sims must be an integer from 1 to 1,000,000, got 0$"):
        design.simulate_selection_trial(100, ppv=0.755, hr_complete=0.6, hr_incomplete=1.2, control_median=14, sims=0)


def test_cli_a_survival_margin_out_of_range_is_refused_naming_margin_diff(capsys):
    # the margin on survival was called 'difference (margin on survival)', the argument of
    # hr_margin_from_difference, to a user who typed --margin-diff
    assert main(["design", "events", "--hr", "1", "--margin-diff", "1.5", "--at-time", "36",
                 "--control-survival", "0.8"]) == 2
    assert capsys.readouterr().err == "ca125: error: --margin-diff must be in (0.0, 0.8), got 1.5\n"
    with pytest.raises(InvalidInputError, match=r"^difference \(margin on survival\) must be in \(0.0, 0.8\), got 1.5$"):
        design.hr_margin_from_difference(0.8, 1.5)


def test_cli_ni_analysis_and_a_cohort_threshold_refusals_name_the_options(tmp_path, capsys):
    data = tmp_path / "trial.csv"
    data.write_text("t,e,arm\n10,1,a\n40,0,a\n12,1,b\n45,0,b\n")
    ni = ["design", "ni-analysis", "--data", str(data), "--time", "t", "--event", "e", "--arm", "arm",
          "--experimental", "a", "--control", "b"]
    assert main([*ni, "--at", "-1"]) == 2
    assert "--at must be in (0.0, inf), got -1.0" in capsys.readouterr().err
    assert main([*ni, "--margin-hr", "0.9"]) == 2
    assert "--margin-hr must be in (1.0, inf), got 0.9" in capsys.readouterr().err
    # the shared confidence-level check (validation.metrics) said 'conf_level must be ...'
    assert main([*ni, "--conf-level", "1.5"]) == 2
    # an option's refusal, not the table's: no file name (it had the --data file's)
    assert capsys.readouterr().err == "ca125: error: --conf-level must be a number in (0, 1), got 1.5\n"
    with pytest.raises(InvalidInputError, match=r"^conf_level must be a number in \(0, 1\), got 1.5$"):
        design.noninferiority_analysis(pd.read_csv(data), time="t", event="e", arm="arm", experimental="a",
                                       control="b", at=12, conf_level=1.5)
    cohort = tmp_path / "cohort"
    assert main(["synth", "--n", "20", "--seed", "1", "--out", str(cohort)]) == 0
    capsys.readouterr()
    assert main(["design", "selection-trial", "--cohort", str(cohort), "--threshold", "1.5", "--hr-complete", "0.6",
                 "--hr-incomplete", "1.2", "--control-median", "14", "--n", "100"]) == 2
    assert capsys.readouterr().err == "ca125: error: --threshold must be in [0.0, 1.0], got 1.5\n"   # not truth.csv's


@pytest.mark.parametrize("lam", [1e-300, 1e-18, 1e-13])
def test_event_probability_of_a_tiny_hazard_is_not_rounded_to_0_or_1(lam):
    # 1 - (exp(-lam F) - exp(-lam (A + F))) / (lam A) subtracted numbers near 1: P was 1.0 for a control
    # median of 1e300 ('design n' printed 162 patients) and 0.0 for a control survival of 1 - 1.1e-16
    # at 36 (ZeroDivisionError). To first order P = lam (F + A / 2), the mean follow-up.
    assert float(design.event_probability(lam, 36.0, 24.0)) == pytest.approx(lam * 42.0, rel=1e-9)
    assert float(design.event_probability(lam, 0.0, 24.0)) == pytest.approx(lam * 24.0, rel=1e-9)


def test_sample_size_with_a_vanishing_hazard_is_right_or_refused():
    r = design.sample_size(0.6, accrual=36, follow_up=24, control_median=1e300)
    assert r.p_event_control == pytest.approx(math.log(2) / 1e300 * 42, rel=1e-9) and r.n > 1e300
    r = design.sample_size(1.0, margin_hr=1.3, accrual=36, follow_up=24, control_survival=1 - 2 ** -53, at_time=36)
    assert r.p_event == pytest.approx(2 ** -53 / 36 * 42, rel=1e-6)
    with pytest.raises(InvalidInputError, match="probability of an event by the analysis is 2.91e-307"):
        design.sample_size(0.6, accrual=36, follow_up=24, control_median=1e308)   # events / P overflows


def test_power_curve_refuses_what_it_would_ignore_and_keeps_an_empty_threshold():
    # ppvs were ignored beside predictions (11 rows of thresholds came back for ppvs=[0.9]),
    # thresholds were ignored without predictions, and a threshold that selected nobody was
    # dropped from the curve without a word
    kw = dict(hr_complete=0.6, hr_incomplete=1.2, control_median=14, sims=20, seed=1)
    cohort = ([0.2, 0.8, 0.85], [0, 1, 1])
    with pytest.raises(InvalidInputError, match="ppvs or predictions"):
        design.power_curve(100, ppvs=[0.9], predictions=cohort, **kw)
    with pytest.raises(InvalidInputError, match="thresholds select patients from predictions"):
        design.power_curve(100, thresholds=[0.9], **kw)
    curve = design.power_curve(100, predictions=cohort, thresholds=[0.5, 0.9], **kw)
    assert list(curve["threshold"]) == [0.5, 0.9]
    assert curve.loc[0, "ppv"] == 1.0 and curve.loc[0, "share_randomised"] == pytest.approx(2 / 3)
    assert curve.loc[1, "share_randomised"] == 0.0 and curve.loc[1, ["ppv", "power", "hr_mixture"]].isna().all()


@pytest.mark.parametrize("hazard", ["a", [0.05, "x"], None])
def test_event_probability_refuses_a_hazard_that_is_not_a_number(hazard):
    # a bare ValueError / TypeError from numpy's conversion, not the package's typed refusal
    with pytest.raises(InvalidInputError, match="hazard must be"):
        design.event_probability(hazard, 36, 24)


@pytest.mark.parametrize("case", json.loads((DATA / "design_ni_reference.json").read_text())["cases"],
                         ids=lambda c: f"{c['conf_level']}-{c['margin_hr']}-{c['margin_diff']}")
def test_noninferiority_analysis_equals_r_on_a_simulated_reset_trial(case):
    """874 simulated RESET-like patients with tied times and dropout (design_ni_reference.R):
    Kaplan-Meier and Greenwood at 36, the difference's interval, Cox (Efron) HR and interval
    equal R survival's, and each verdict is R's one-sided non-inferiority Wald test at
    (1 - conf_level) / 2."""
    ref = json.loads((DATA / "design_ni_reference.json").read_text())
    data = pd.read_csv(DATA / "design_ni_sim.csv")
    r = design.noninferiority_analysis(data, "dfs_months", "dfs_event", "arm", experimental="reduced",
                                       control="conventional", at=ref["at"], margin_hr=case["margin_hr"],
                                       margin_diff=case["margin_diff"], conf_level=case["conf_level"])
    for key in ("n_experimental", "n_control", "events_experimental", "events_control"):
        assert getattr(r, key) == ref[key], key
    for key in ("survival_experimental", "se_experimental", "survival_control", "se_control", "difference"):
        assert getattr(r, key) == pytest.approx(ref[key], rel=1e-9), key
    for key in ("hr", "hr_p_value"):
        assert getattr(r, key) == pytest.approx(ref[key], rel=1e-6), key
    for key in ("difference_ci_low", "difference_ci_high", "hr_ci_low", "hr_ci_high"):
        assert getattr(r, key) == pytest.approx(case[key], rel=1e-6), key
    assert r.noninferior_hr is case["noninferior_hr"] is (case["ni_p_hr"] < (1 - case["conf_level"]) / 2)
    assert r.noninferior_diff is case["noninferior_diff"] is (case["ni_p_diff"] < (1 - case["conf_level"]) / 2)
    # the one-sided p of each margin is R's (hr_p_value tests HR = 1, not the margin)
    assert r.p_noninferior_hr == pytest.approx(case["ni_p_hr"], rel=1e-6)
    assert r.p_noninferior_diff == pytest.approx(case["ni_p_diff"], rel=1e-6)
    frame = r.to_frame().set_index("measure")["p_noninferior"]
    assert frame.iloc[2] == r.p_noninferior_diff and frame.iloc[3] == r.p_noninferior_hr
    assert f"one-sided p {r.p_noninferior_hr:.3g}" in r.to_text()
    assert json.loads(r.to_json())["p_noninferior_hr"] == pytest.approx(case["ni_p_hr"], rel=1e-6)
    without = design.noninferiority_analysis(data, "dfs_months", "dfs_event", "arm", experimental="reduced",
                                             control="conventional", at=ref["at"])
    assert np.isnan(without.p_noninferior_hr) and np.isnan(without.p_noninferior_diff)


def test_a_power_target_not_above_alpha_is_refused_by_its_name(capsys):
    # 'selection-trial --power-target 0.01' was told 'power (0.01) must exceed alpha', an option it has not
    with pytest.raises(InvalidInputError, match=r"^power_target \(0.01\) must exceed alpha .* power_target=0.8"):
        design.selection_trial_sample_size(0.01, ppv=0.9, hr_complete=0.6, hr_incomplete=1.2, control_median=14,
                                           sims=10)


@pytest.mark.parametrize("kwargs", [dict(n=2, alpha=1e-300), dict(n=10 ** 30), dict(n=3, allocation=0.01, power=0.99),
                                    dict(n=2, convention="average")])
def test_patients_support_finds_the_detectable_hr_outside_the_old_bracket(kwargs):
    # the root was sought on [1e-9, 1 - 1e-12]: 3 patients at allocation 0.01 (HR 2e-12) or 1e30 patients
    # (HR 1 - 7e-15) ended in scipy's bare ValueError 'f(a) and f(b) must have different signs'
    r = design.patients_support(accrual=36, follow_up=24, control_median=14, **kwargs)
    again = design.detectable_hr(r.n * r.p_event, alpha=r.alpha, power=r.power, allocation=r.allocation)
    assert 0 < r.hr < 1 and again.hr == pytest.approx(r.hr, rel=1e-12)


def test_patients_support_refuses_what_no_float_holds():
    with pytest.raises(InvalidInputError, match="n must be at most 1e300 patients"):
        design.patients_support(10 ** 400, accrual=36, follow_up=24, control_median=14, true_hr=1.0)
    with pytest.raises(InvalidInputError, match="below 1e-300 .* allocation 1e-300"):
        design.patients_support(2, accrual=36, follow_up=24, control_median=14, allocation=1e-300)


_DETECTABLE_FORMS = [
    ["--events", "200"],
    ["--events", "200", "--true-hr", "1"],
    ["--n", "500", "--accrual", "36", "--follow-up", "24", "--control-median", "14"],
    ["--n", "500", "--accrual", "36", "--follow-up", "24", "--control-median", "14", "--true-hr", "1"],
]


@pytest.mark.parametrize("allocation", ["0.001", "0.1", "0.5", "0.6667", "0.9", "0.999", "0.99999"])
@pytest.mark.parametrize("form", _DETECTABLE_FORMS)
def test_detectable_hr_text_and_json_say_the_same(form, allocation, capsys):
    """detectable-hr --n at allocation 0.99999 printed the answer as text, then a refusal (exit 2)
    from a second computation the text output alone made (the average convention's note), while
    the JSON gave the answer (exit 0) without the note; at 0.999 the text said the average
    convention 'gives a detectable hazard ratio of 0.0000' and the JSON said nothing. One result
    now feeds both: the same exit code, the same hazard ratio to the digits printed, the same note."""
    argv = ["design", "detectable-hr", *form, "--allocation", allocation]
    code = main(argv)
    captured = capsys.readouterr()
    text = captured.out
    assert main([*argv, "--format", "json"]) == code == 0, captured.err
    r = json.loads(capsys.readouterr().out)
    shown = re.search(r"(?:hazard ratio|margin) ([0-9.e+-]+) ", text.splitlines()[0]).group(1)
    assert float(shown) == pytest.approx(r["hr"], rel=1e-3)     # 4 significant digits or 4 decimals >= 0.01
    assert float(shown) > 0
    notes = [line.removeprefix("  note: ") for line in text.splitlines() if line.startswith("  note: ")]
    assert notes == ([r["note"]] if r["note"] else [])


@pytest.mark.parametrize("allocation", ["0.001", "0.5", "0.6667", "0.999"])
def test_patients_text_and_json_say_the_same(allocation, capsys):
    """ca125 design n: the note on the control convention was computed by the text output alone
    (the JSON had only its inputs); it now comes from the result, which both print."""
    argv = ["design", "n", "--hr", "0.6", "--accrual", "36", "--follow-up", "24", "--control-median", "14",
            "--allocation", allocation]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert main([*argv, "--format", "json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert text.startswith(f"{r['n']} patients ")
    assert r["note"] and f"  note: {r['note']}" in text.splitlines()
    assert r["n_average_convention"] == math.ceil(r["events"] / (r["events_expected"] / r["n"]) - 1e-9) > r["n"]


def test_simulated_patients_are_bounded_by_a_documented_constant(monkeypatch, capsys):
    """--sims x --n had no bound: '--n 2000000 --sims 1000000' was accepted and would have drawn
    2e12 patients (days). More than SIMULATION_MAX_DRAWS is refused before anything is
    simulated, naming the options, the limit and the most trials allowed; checked here with
    the limit lowered so that the refusal (not a long run) is what the test sees."""
    assert design.SIMULATION_MAX_DRAWS == 1_000_000_000
    assert "SIMULATION_MAX_DRAWS" in (Path(design.__file__).parents[2] / "docs" / "design.md").read_text()
    monkeypatch.setattr(design, "SIMULATION_MAX_DRAWS", 10_000)
    kw = dict(ppv=0.755, hr_complete=0.6, hr_incomplete=1.2, control_median=14)
    with pytest.raises(InvalidInputError, match=r"sims=100 simulated trials of n=160 patients would draw 16,000 "
                                                r"patients, more than the 10,000 .* give at most sims=62 "):
        design.simulate_selection_trial(160, sims=100, **kw)
    assert design.simulate_selection_trial(160, sims=62, **kw).sims == 62
    with pytest.raises(InvalidInputError, match=r"at each of the power curve's 2 points would draw 12,400"):
        design.power_curve(100, ppvs=[0.7, 0.8], sims=62, **{k: v for k, v in kw.items() if k != "ppv"})
    argv = ["design", "selection-trial", "--ppv", "0.755", "--hr-complete", "0.6", "--hr-incomplete", "1.2",
            "--control-median", "14"]
    assert main([*argv, "--n", "160", "--sims", "100"]) == 2
    err = capsys.readouterr().err
    assert "--sims 100 simulated trials of --n 160 patients" in err and "give at most --sims 62 " in err
    # --power-target: the patients it needs, named with it
    assert main([*argv, "--power-target", "0.8", "--sims", "100"]) == 2
    assert "--sims 100 simulated trials of the 324 patients --power-target 0.8 needs" in capsys.readouterr().err


def test_selection_refusals_name_the_options_typed(capsys):
    """'with ppv 0.3, hr_complete 0.6 and hr_incomplete 1.5 ...': the command named the Python
    arguments; it names the options typed (the PPV may come from --predictions or --cohort)."""
    argv = ["design", "selection-trial", "--ppv", "0.3", "--hr-complete", "0.6", "--hr-incomplete", "1.5",
            "--control-median", "14", "--power-target", "0.8"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "with a PPV of 0.3, --hr-complete 0.6 and --hr-incomplete 1.5 the surgery arm's effective" in err
    with pytest.raises(InvalidInputError, match="with a PPV of 0.3, hr_complete=0.6 and hr_incomplete=1.5 "):
        design.selection_trial_sample_size(0.8, ppv=0.3, hr_complete=0.6, hr_incomplete=1.5, control_median=14)


def test_power_target_says_when_the_simulation_refutes_the_closed_form(capsys):
    """'4 patients randomised for power 0.8' (1.5 Schoenfeld events for HR 0.01) with a simulated
    power of 0.000 beside it, and no word: the closed form fails with so few events. The result
    says so (note), in the text and the JSON; not when the simulation agrees."""
    kw = dict(hr_incomplete=1.0, control_median=14, sims=200)
    r = design.selection_trial_sample_size(0.8, ppv=1.0, hr_complete=0.01, **kw)
    assert r.n == 4 and r.simulated["power_ci_high"] < 0.8
    assert r.note.startswith("the simulated power of 4 patients, 0.000 (95 % CI 0.000-0.018), is below the "
                             "target 0.8")
    assert design.selection_trial_sample_size(0.8, ppv=1.0, hr_complete=0.6, seed=1, **{**kw, "sims": 2000}).note == ""
    argv = ["design", "selection-trial", "--ppv", "1", "--hr-complete", "0.01", "--hr-incomplete", "1",
            "--control-median", "14", "--power-target", "0.8", "--sims", "200"]
    assert main(argv) == 0
    assert f"  note: {r.note.replace('n to find', '--n to find')}" in capsys.readouterr().out.splitlines()
    assert main([*argv, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["note"].endswith("simulate a larger --n to find the patients that give it")


@pytest.mark.parametrize("option, said", [
    (["--margin-hr", "0.9"], "--margin-hr must be in (1.0, inf), got 0.9"),
    (["--margin-diff", "1.5"], "--margin-diff must be in (0.0, 1.0), got 1.5"),
    (["--at", "0"], "--at must be in (0.0, inf), got 0.0"),
    (["--conf-level", "1.5"], "--conf-level must be a number in (0, 1), got 1.5"),
])
def test_ni_analysis_refuses_an_option_as_an_option_not_as_the_table(option, said, capsys):
    """'ca125: error: ni.csv: --margin-hr must be ...': a bad option was reported as a problem of
    the table's file (and only once the table had been read). It is refused first, as itself."""
    argv = ["design", "ni-analysis", "--data", str(DATA / "design_ni_aml.csv"), "--time", "time", "--event",
            "status", "--arm", "x", "--experimental", "Maintained", "--control", "Nonmaintained", *option]
    assert main(argv) == 2
    assert capsys.readouterr().err == f"ca125: error: {said}\n"
    argv[argv.index("--data") + 1] = "no-such-file.csv"         # before the table is read
    assert main(argv) == 2
    assert capsys.readouterr().err == f"ca125: error: {said}\n"


def test_selection_trial_with_a_plot_checks_the_trials_size_before_drawing_the_curve(monkeypatch, capsys, tmp_path):
    """With --plot and --n the curve was simulated and written first, and the trial's own size
    was refused only then (at the real limit, '--n 90000 --sims 11112' drew ~1e9 patients for the
    curve, minutes, before the refusal); an --n above SIMULATION_MAX_PATIENTS was refused as a
    curve too large for '--sims 1000', an option not typed. Both are refused before anything is
    simulated, as themselves."""
    monkeypatch.setattr(design, "SIMULATION_MAX_DRAWS", 1_000_000)
    argv = ["design", "selection-trial", "--ppv", "0.755", "--hr-complete", "0.6", "--hr-incomplete", "1.2",
            "--control-median", "14", "--plot", str(tmp_path / "curve.png")]
    assert main([*argv, "--n", "80", "--sims", "20000"]) == 2
    captured = capsys.readouterr()
    assert "--sims 20000 simulated trials of --n 80 patients would draw 1,600,000" in captured.err
    assert not (tmp_path / "curve.png").exists() and "wrote" not in captured.err
    assert main([*argv, "--n", "3000000"]) == 2
    err = capsys.readouterr().err
    assert "--n must be at most 2,000,000 patients per simulated trial" in err and "power curve" not in err
    with pytest.raises(InvalidInputError, match="n must be at most 2,000,000 patients"):
        design.power_curve(3_000_000, ppvs=[0.8], hr_complete=0.6, hr_incomplete=1.2, control_median=14)


def test_selection_trial_power_target_with_a_plot_checks_the_curve_before_simulating_the_trial(monkeypatch, capsys,
                                                                                                tmp_path):
    """With --power-target and --plot the trial's patients were simulated first (at the real
    limit up to 1e9 patients, minutes) and the curve of those patients was refused only then;
    the curve is now checked and drawn before the trial's simulation, as with --n."""
    monkeypatch.setattr(design, "SIMULATION_MAX_DRAWS", 1_000_000)
    import ca125kinetics.cli.design as cli_design

    simulated = []
    monkeypatch.setattr(design, "simulate_selection_trial",
                        lambda n, **kw: simulated.append(n) or pytest.fail("the trial was simulated"))
    monkeypatch.setattr(cli_design, "simulate_selection_trial",
                        lambda n, **kw: simulated.append(n) or pytest.fail("the trial was simulated"))
    argv = ["design", "selection-trial", "--ppv", "0.755", "--hr-complete", "0.6", "--hr-incomplete", "1.2",
            "--control-median", "14", "--power-target", "0.8", "--plot", str(tmp_path / "curve.png")]
    assert main(argv) == 2
    assert "at each of the power curve's 11 points would draw 3,564,000" in capsys.readouterr().err
    assert simulated == [] and not (tmp_path / "curve.png").exists()
