"""Tests of the marker response features (ca125kinetics.response).

Reference values are closed-form: a series that halves every 14 days exactly
(``C = 20 * 2^(-t/14)``) has post/pre ratio ``2^(-42/14) = 0.125``, log-linear slope
``-ln 2 / 14`` per day and R^2 = 1; a series alternating around a constant has slope 0.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings as hyp_settings, strategies as st

from ca125kinetics.errors import InvalidInputError
from ca125kinetics.io import read_markers
from ca125kinetics.kinetics import _sample_usage, series_to_wide
from ca125kinetics.markers import CEA
from ca125kinetics.response import RESPONSE_COLUMNS, response_features
from ca125kinetics.settings import KineticsSettings, ResponseSettings
from ca125kinetics.synth_rectal import simulate_rectal_cohort


def _frame(rows, marker="cea"):
    return read_markers(pd.DataFrame(rows, columns=["patient_id", "day", marker, "event"]), marker=marker)


@pytest.fixture(scope="module")
def table():
    rows = [("halving", d, 20 * 2 ** (-max(d, 0) / 14), None) for d in (-1, 14, 28, 42)]
    rows += [("flat", d, v, None) for d, v in ((-2, 3.0), (14, 3.3), (28, 2.7), (42, 3.0))]  # baseline <= ULN
    rows += [("stays_high", d, v, None) for d, v in ((0, 40.0), (14, 30.0), (28, 25.0), (42, 20.0))]
    rows += [("no_baseline", d, v, None) for d, v in ((14, 30.0), (28, 25.0), (42, 20.0))]
    rows += [("two", d, v, None) for d, v in ((0, 30.0), (14, 3.0))]
    rows += [("censored", d, v, None) for d, v in ((0, "12"), (14, "6"), (28, "<0.5"))]
    return response_features(_frame(rows), marker="cea")


def _row(table, pid):
    return table.set_index("patient_id").loc[pid]


def test_closed_form_reference(table):
    r = _row(table, "halving")
    assert r["marker"] == "cea" and r["uln"] == CEA.default_uln == 5.0
    assert r["post_pre_ratio"] == pytest.approx(0.125, rel=1e-12)
    assert r["post_day"] == 42 and r["baseline_day"] == -1
    assert r["clearance_slope"] == pytest.approx(-math.log(2) / 14, rel=1e-9)
    assert r["clearance_r2"] == pytest.approx(1.0, abs=1e-12)
    assert bool(r["normalised"]) is True            # 20 > 5 and 2.5 <= 5
    assert bool(r["exponential_clearance"]) is True
    assert r["response_reason"] is None
    assert list(table.columns) == list(RESPONSE_COLUMNS)


def test_normalisation_is_na_unless_the_baseline_is_raised(table):
    flat = _row(table, "flat")
    assert pd.isna(flat["normalised"]) and "not above the ULN" in flat["response_reason"]
    assert flat["post_pre_ratio"] == pytest.approx(1.0)
    assert bool(_row(table, "stays_high")["normalised"]) is False     # 40 > 5, 20 > 5


def test_missing_pieces_have_a_reason(table):
    nb = _row(table, "no_baseline")
    assert np.isnan(nb["post_pre_ratio"]) and pd.isna(nb["normalised"])
    assert "no usable pretreatment sample" in nb["response_reason"]
    two = _row(table, "two")
    assert two["post_pre_ratio"] == pytest.approx(0.1)
    assert pd.isna(two["exponential_clearance"]) and np.isnan(two["clearance_r2"])
    assert "clearance fit needs 3" in two["response_reason"]


def test_invalid_patient_reason_says_invalid_input_once():
    """The reader's problem text already begins with 'invalid input: '; the reason repeated it
    ('invalid input: invalid input: row 1, ...'). A problem text without it still gets it."""
    rows = [("bad", -1, "-3", None), ("bad", 14, "2", None), ("ok", -1, "20", None), ("ok", 14, "2", None)]
    flagged = read_markers(pd.DataFrame(rows, columns=["patient_id", "day", "cea", "event"]), marker="cea",
                           on_error="flag")
    reason = _row(response_features(flagged, marker="cea"), "bad")["response_reason"]
    assert reason.startswith("invalid input: markers table, row 0, column 'cea': ") and reason.count("invalid input") == 1
    own = flagged.assign(problem=np.where(flagged["patient_id"] == "bad", "checked by hand", None))
    assert _row(response_features(own, marker="cea"), "bad")["response_reason"] == "invalid input: checked by hand"


def test_censored_post_value_enters_at_its_limit_and_is_flagged(table):
    c = _row(table, "censored")
    assert bool(c["post_censored"]) is True and c["post_value"] == 0.5
    assert c["post_pre_ratio"] == pytest.approx(0.5 / 12) and bool(c["normalised"]) is True


def test_threshold_is_a_named_setting():
    rows = [("p", d, v, None) for d, v in ((0, 40.0), (14, 20.0), (28, 16.0), (42, 4.0))]
    frame = _frame(rows)
    r2 = response_features(frame, marker="cea")["clearance_r2"].iloc[0]
    assert 0.8 < r2 < 0.99
    loose = response_features(frame, marker="cea", response=ResponseSettings(clearance_r2_threshold=0.8))
    strict = response_features(frame, marker="cea", response=ResponseSettings(clearance_r2_threshold=0.99))
    assert bool(loose["exponential_clearance"].iloc[0]) and not bool(strict["exponential_clearance"].iloc[0])
    assert strict["clearance_r2_threshold"].iloc[0] == 0.99
    for bad in (0, 1, 1.5, True, "0.9"):
        with pytest.raises(InvalidInputError, match="clearance_r2_threshold"):
            ResponseSettings(clearance_r2_threshold=bad)
    assert ResponseSettings.from_json(ResponseSettings().to_json()) == ResponseSettings()


def test_uses_the_kinetics_sample_rules():
    """Window and event exclusions are the kinetics' own: a sample after day 100 or within
    28 days of surgery does not enter the ratio or the fit."""
    rows = [("p", 0, 40.0, None), ("p", 14, 20.0, None), ("p", 28, 10.0, None), ("p", 60, np.nan, "surgery"),
            ("p", 70, 200.0, None), ("p", 98, 2.5, None), ("p", 130, 1.0, None)]
    frame = _frame(rows)
    usage = _sample_usage(frame, KineticsSettings(uln=5.0), CEA)
    used_days = frame.loc[usage == "used", "day"].tolist()
    r = response_features(frame, marker="cea").iloc[0]
    assert used_days == [0, 14, 28, 98]
    assert r["n_samples"] == 4 and r["post_day"] == 98 and r["post_pre_ratio"] == pytest.approx(2.5 / 40)
    narrow = response_features(frame, marker="cea", settings=KineticsSettings(uln=5.0, window_days=30)).iloc[0]
    assert narrow["post_day"] == 28


def test_wide_form_and_cohort_agree():
    cohort = simulate_rectal_cohort(120, seed=3)
    markers = read_markers(cohort.markers, marker="cea")
    long = response_features(markers, marker="cea")
    wide = response_features(series_to_wide(markers, marker="cea"), marker="cea")
    pd.testing.assert_frame_equal(long.drop(columns="response_reason"), wide.drop(columns="response_reason"),
                                  check_dtype=False)
    # sensible on the generator: with a raised baseline (far from the floor), a faster true
    # decline gives a smaller ratio
    truth = cohort.truth.set_index("patient_id")["k"]
    ok = long[long["baseline_value"] > 2 * long["uln"]].dropna(subset=["post_pre_ratio"]).set_index("patient_id")
    assert len(ok) > 20
    assert np.corrcoef(np.log(truth[ok.index]), np.log(ok["post_pre_ratio"]))[0, 1] < -0.5


def test_marker_is_never_guessed():
    frame = _frame([("p", 0, 10.0, None), ("p", 14, 5.0, None), ("p", 28, 2.0, None)])
    with pytest.raises(InvalidInputError, match="pass marker='cea'"):
        response_features(frame)


@hyp_settings(max_examples=40, deadline=None)
@given(c0=st.floats(6.0, 500.0), k=st.floats(0.002, 0.2), scale=st.floats(0.2, 4.0))   # CEA ULN 1 to 20
def test_properties(c0, k, scale):
    """Exact exponential series: R^2 = 1 and ratio = exp(-k * last day); ratio and R^2 do
    not depend on the unit (values and ULN scaled together)."""
    days = (0, 14, 28, 42, 56)
    rows = [("p", d, c0 * math.exp(-k * d), None) for d in days]
    base = response_features(_frame(rows), marker="cea").iloc[0]
    assert base["post_pre_ratio"] == pytest.approx(math.exp(-k * 56), rel=1e-9)
    assert base["clearance_r2"] == pytest.approx(1.0, abs=1e-9)
    scaled = read_markers(pd.DataFrame([(p, d, v * scale, e) for p, d, v, e in rows],
                                       columns=["patient_id", "day", "cea", "event"]),
                          marker="cea", uln=5.0 * scale)
    other = response_features(scaled, marker="cea").iloc[0]
    assert other["post_pre_ratio"] == pytest.approx(base["post_pre_ratio"], rel=1e-9)
    assert other["clearance_r2"] == pytest.approx(base["clearance_r2"], abs=1e-9)
    assert other["normalised"] is base["normalised"] or bool(other["normalised"]) == bool(base["normalised"])


# --- defects found by the comparison with the independent R reading (tests/data/cea_response_*) ---

def test_equal_values_are_flat_even_when_their_log_mean_rounds():
    # log(1.114) * 3 / 3 != log(1.114) in floating point: the sum of squares about the mean was
    # ~1e-33 > 0, so a flat series got R^2 = -0.09 instead of "undefined"
    t = response_features(_frame([("p", d, 1.114, None) for d in (8, 29, 55)]), marker="cea")
    assert math.isnan(t["clearance_r2"].iloc[0]) and math.isnan(t["clearance_slope"].iloc[0])
    assert pd.isna(t["exponential_clearance"].iloc[0])
    assert "all used values equal" in t["response_reason"].iloc[0]


def test_pretreatment_samples_only_give_no_clearance_fit():
    # every used sample at t = 0: no slope, so clearance is undefined, not False
    t = response_features(_frame([("p", d, v, None) for d, v in ((-10, 20), (-5, 18), (0, 16))]),
                          marker="cea")
    assert pd.isna(t["exponential_clearance"].iloc[0]) and math.isnan(t["clearance_r2"].iloc[0])
    assert "no time span" in t["response_reason"].iloc[0]


def test_censored_baseline_leaves_normalisation_undetermined_and_says_why():
    # "<10" with ULN 5: the baseline may or may not be raised; the reason said "baseline 10 ng/mL
    # not above the ULN (5 ng/mL)", which is false
    t = response_features(_frame([("p", d, v, None) for d, v in ((0, "<10"), (21, "6"), (42, "4"))]),
                          marker="cea")
    r = _row(t, "p")
    assert pd.isna(r["normalised"]) and bool(r["baseline_censored"])
    assert "not above the ULN" not in r["response_reason"]
    assert "<10" in r["response_reason"] and "undetermined" in r["response_reason"]
    assert r["post_pre_ratio"] == pytest.approx(0.4)     # a lower bound: the baseline is < 10


def test_censored_post_above_the_uln_leaves_normalisation_undetermined():
    # "<10" with ULN 5 after a raised baseline: the value may be normal or not (was False)
    t = response_features(_frame([("p", d, v, None) for d, v in ((0, "20"), (21, "12"), (42, "<10"))]),
                          marker="cea")
    r = _row(t, "p")
    assert pd.isna(r["normalised"]) and "<10" in r["response_reason"]
    t = response_features(_frame([("p", d, v, None) for d, v in ((0, "20"), (21, "12"), (42, "<5"))]),
                          marker="cea")
    assert bool(_row(t, "p")["normalised"])              # "<5" with ULN 5 is normal



def test_each_sample_is_judged_against_its_own_uln():
    """A sample is normal when it is <= its own ULN. Baseline 12 against ULN 3 (raised), post 4
    against ULN 5 (another assay or laboratory): normal by the post sample's range (it was NA,
    'normal by which range is unknown', and before that False by the baseline's ULN); post 4
    against ULN 3 after a baseline under ULN 5 is not normal; ``post_uln`` records the post
    sample's ULN, ``uln`` the baseline's."""
    def features(ulns, post=4.0):
        rows = pd.DataFrame({"patient_id": "p", "day": [0, 21, 42], "cea": [12.0, 6.0, post], "uln": ulns})
        return _row(response_features(read_markers(rows, marker="cea"), marker="cea"), "p")

    r = features([3.0, 5.0, 5.0])
    assert bool(r["normalised"]) and (r["uln"], r["post_uln"]) == (3.0, 5.0) and r["response_reason"] is None
    assert r["post_pre_ratio"] == pytest.approx(4 / 12)
    assert not bool(features([5.0, 5.0, 3.0])["normalised"])
    assert not bool(features([3.0, 3.0, 3.0])["normalised"])
    assert bool(features([5.0, 3.0, 5.0])["normalised"])      # a middle sample's ULN does not judge
    # a censored post value is judged against its own ULN too: "<4" is normal under ULN 5
    rows = pd.DataFrame({"patient_id": "p", "day": [0, 21, 42], "cea": ["12", "6", "<4"], "uln": [3.0, 5.0, 5.0]})
    assert bool(_row(response_features(read_markers(rows, marker="cea"), marker="cea"), "p")["normalised"])


def test_wide_form_keeps_the_post_samples_uln():
    """The wide form (series_to_wide, which training and cross-validation use) carries the last
    used sample's ULN as ``last_uln``: 4 ng/mL after a change to ULN 3 is not normal there as
    in the long form (it kept the baseline's ULN only, so the change was lost and 4 ng/mL
    judged against ULN 5 was 'normalised' True), and wide_to_long gives that ULN back to the
    last sample."""
    from ca125kinetics.kinetics import wide_to_long

    rows = pd.DataFrame({"patient_id": ["p"] * 3 + ["q"] * 3, "day": [0, 21, 42] * 2,
                         "cea": [12.0, 6.0, 4.0, 12.0, 6.0, 2.0], "uln": [5.0, 5.0, 3.0, 5.0, 5.0, 5.0]})
    long = read_markers(rows, marker="cea")
    wide = series_to_wide(long, marker="cea")
    assert wide["last_uln"].tolist() == [3.0, 5.0] and wide["uln"].tolist() == [5.0, 5.0]
    expected = response_features(long, marker="cea")
    assert not bool(expected.loc[0, "normalised"]) and bool(expected.loc[1, "normalised"])
    for frame in (wide, wide_to_long(wide, marker="cea")):
        got = response_features(frame, marker="cea")
        pd.testing.assert_frame_equal(got, expected)
    assert wide_to_long(wide, marker="cea")["uln"].tolist() == [5.0, 5.0, 3.0, 5.0, 5.0, 5.0]
    # a wide frame without the column (made before it existed) reads the baseline's ULN as before
    assert bool(response_features(wide.drop(columns="last_uln"), marker="cea").loc[0, "normalised"])

def test_ratio_of_two_censored_values_is_not_reported():
    # "<2.5" / "<10": neither an upper nor a lower bound of the true ratio
    t = response_features(_frame([("p", d, v, None) for d, v in ((0, "<10"), (21, "6"), (42, "<2.5"))]),
                          marker="cea")
    r = _row(t, "p")
    assert math.isnan(r["post_pre_ratio"]) and "both" in r["response_reason"]


def test_duplicate_day_message_names_the_marker_read():
    frame = pd.DataFrame({"patient_id": ["p", "p", "p"], "day": [0, 14, 14], "cea": [20, 10, 11]})
    with pytest.raises(InvalidInputError, match="two or more CEA samples on day 14") as info:
        read_markers(frame, marker="cea")
    assert "CA-125" not in str(info.value) and "GCIG" not in str(info.value)


@pytest.mark.parametrize(("expected", "threshold", "uln"), [
    ("cea_response_expected.csv", 0.9, 5.0),
    ("cea_response_expected_custom.csv", 0.8, 3.0),
])
def test_features_agree_with_the_independent_r_reading(expected, threshold, uln):
    """Every compared field of 434 adversarial CEA patients equals the stored output of
    ``tests/data/cea_response_independent.R`` (base R, written from the documentation before
    the code was read; ``tests/data/cea_response_README.md`` gives the commands and the readings
    the text left open). No R is needed here."""
    import sys
    from pathlib import Path

    data = Path(__file__).parent / "data"
    sys.path.insert(0, str(data))
    try:
        import cea_response_compare_r as compare
    finally:
        sys.path.remove(str(data))
    got = compare.package_table(data / "cea_response_cases.csv", threshold, uln)
    r = compare.r_table(data / expected)
    assert len(r) == 434 and r["invalid"].sum() >= 5 and r["exponential_clearance"].notna().sum() > 200
    diffs = compare.compare(got, r)
    bad = {field: rows["patient_id"].tolist()[:5] for field, rows in diffs.items() if len(rows)}
    assert not bad, bad


_VALUES = st.sampled_from(["1.114", "44.36", "5", "3", "20", "0.7", "12.5", "<2.5", "<5", "<10"])


@hyp_settings(max_examples=60, deadline=None)
@given(days=st.lists(st.integers(-20, 110), min_size=1, max_size=7, unique=True),
       values=st.lists(_VALUES, min_size=7, max_size=7), uln=st.sampled_from([3.0, 5.0, 6.0]),
       seed=st.integers(0, 2**16))
def test_rules_hold_on_adversarial_series(days, values, uln, seed):
    """Repeated values, censored values below, at and above the ULN, unsorted rows, samples
    outside the window: R^2 lies in [0, 1] or is NA (never the negative R^2 of a flat series),
    clearance is NA exactly when R^2 is, nothing is judged from a censored baseline or a
    censored post value above the ULN, the ratio of two censored values is NA, and the row
    order does not matter."""
    rows = [("p", d, v, None) for d, v in zip(days, values)]
    frame = read_markers(pd.DataFrame(rows, columns=["patient_id", "day", "cea", "event"]),
                         marker="cea", uln=uln)
    r = response_features(frame, marker="cea").iloc[0]
    if not math.isnan(r["clearance_r2"]):
        assert -1e-12 <= r["clearance_r2"] <= 1 + 1e-12
    assert pd.isna(r["exponential_clearance"]) == math.isnan(r["clearance_r2"])
    if r["baseline_censored"] or (r["post_censored"] and r["post_value"] > uln):
        assert pd.isna(r["normalised"])
    if r["baseline_censored"] and r["post_censored"]:
        assert math.isnan(r["post_pre_ratio"])
    if not pd.isna(r["normalised"]):
        assert r["baseline_value"] > uln and bool(r["normalised"]) == (r["post_value"] <= uln)
    shuffled = pd.DataFrame(rows, columns=["patient_id", "day", "cea", "event"]).sample(
        frac=1.0, random_state=seed)
    again = response_features(read_markers(shuffled, marker="cea", uln=uln), marker="cea").iloc[0]
    pd.testing.assert_series_equal(again, r)


def test_settings_left_at_ca125s_uln_are_refused_for_cea():
    """KineticsSettings' ULN defaults to CA-125's 35: given for CEA it was read as 35 ng/mL
    wherever a row gives no ULN (a baseline of 12 ng/mL 'not above the ULN')."""
    from ca125kinetics import fit_kinetics
    from ca125kinetics.settings import KineticsSettings

    cea = pd.DataFrame({"patient_id": ["a"] * 3, "day": [-3, 14, 28], "cea": [12.0, 8.0, 4.0]})
    for call in (lambda s: response_features(cea, marker="cea", settings=s),
                 lambda s: fit_kinetics(cea, marker="cea", method="per-patient", settings=s)):
        with pytest.raises(InvalidInputError, match=r"settings.uln is 35, CA-125's default ULN .* but the marker "
                                                    r"is CEA: give its ULN, e.g. KineticsSettings\(uln=5"):
            call(KineticsSettings(window_days=100))
    got = response_features(cea, marker="cea", settings=KineticsSettings(window_days=100, uln=5.0))
    assert got["uln"].tolist() == [5.0] and got["normalised"].tolist() == [True]
    assert response_features(cea, marker="cea")["uln"].tolist() == [5.0]       # no settings: CEA's default


def test_a_cea_uln_in_ca125s_range_is_refused_wherever_it_is_given(capsys):
    """A CEA table whose uln column says 35 (CA-125's ULN, copied over) was read as 35 ng/mL:
    a baseline of 20 ng/mL, 4 x CEA's ULN, was 'already at the floor'. Every CEA ULN above
    20 ng/mL (assays use 2.5-10) is implausible: the patient is invalid_input with the row
    named, and the argument and settings are refused."""
    from ca125kinetics import fit_kinetics
    from ca125kinetics.cli import main
    from ca125kinetics.io import read_markers
    from ca125kinetics.settings import KineticsSettings

    cea = pd.DataFrame({"patient_id": ["a"] * 3, "day": [-3, 14, 28], "cea": [20.0, 12.0, 4.0], "uln": 35.0})
    said = r"ULN 35 ng/mL is implausible for CEA \(CEA assays use 3, 5, 6 ng/mL; at most 20\)"
    with pytest.raises(InvalidInputError, match=said):
        read_markers(cea, marker="cea")
    flagged = fit_kinetics(read_markers(cea, marker="cea", on_error="flag"), marker="cea", method="per-patient")
    assert flagged["status"].tolist() == ["invalid_input"] and re.search(said, flagged["reason"][0])
    assert read_markers(cea.assign(uln=20.0), marker="cea")["uln"].tolist() == [20.0] * 3
    with pytest.raises(InvalidInputError, match=r"uln must be a positive number of ng/mL \(from 1 to 20, "):
        read_markers(cea.drop(columns="uln"), marker="cea", uln=30)
    for call in (lambda s: response_features(cea.drop(columns="uln"), marker="cea", settings=s),
                 lambda s: fit_kinetics(cea.drop(columns="uln"), marker="cea", method="per-patient", settings=s)):
        with pytest.raises(InvalidInputError, match=r"settings.uln is 30 ng/mL, implausible for CEA \(from 1 to 20"):
            call(KineticsSettings(uln=30.0))
    ca125 = cea.rename(columns={"cea": "ca125"}).assign(uln=400.0)
    assert read_markers(ca125)["uln"].tolist() == [400.0] * 3      # CA-125: up to 1000 U/mL


def test_a_ca125_uln_in_ceas_range_is_refused_wherever_it_is_given():
    """CEA's ULN of 5 ng/mL given as a CA-125 ULN (5 U/mL) was read: every patient above
    2 x 5 U/mL became GCIG-evaluable and a CR needed a fall to 5 U/mL, a confident answer on
    another marker's limit. The mirror of the CEA rule above: a CA-125 ULN below 10 U/mL (assays
    use about 20-46) is refused in a table, as an argument, in the GCIG and kinetics settings
    and in a scoring request; 10 and above are read."""
    from ca125kinetics import fit_kinetics
    from ca125kinetics.io import read_markers
    from ca125kinetics.settings import GcigSettings, KineticsSettings

    ca125 = pd.DataFrame({"patient_id": ["a"] * 3, "day": [-3, 21, 42], "ca125": [300.0, 100.0, 4.0], "uln": 5.0})
    said = r"ULN 5 U/mL is implausible for CA-125 \(assays use about 20-40 U/mL; at least 10\)"
    with pytest.raises(InvalidInputError, match=said):
        read_markers(ca125)
    assert re.search(said, read_markers(ca125, on_error="flag")["problem"].iloc[0])
    assert read_markers(ca125.assign(uln=10.0))["uln"].tolist() == [10.0] * 3
    with pytest.raises(InvalidInputError, match=r"uln must be a positive number of U/mL \(from 10 to 1000, "):
        read_markers(ca125.drop(columns="uln"), uln=5)
    with pytest.raises(InvalidInputError, match=r"setting 'uln' is 5.0 U/mL, implausible for CA-125"):
        GcigSettings(uln=5.0)
    assert GcigSettings(uln=10.0).uln == 10.0
    with pytest.raises(InvalidInputError, match=r"settings.uln is 5 U/mL, implausible for CA-125 \(from 10 to 1000"):
        fit_kinetics(ca125.drop(columns="uln"), method="per-patient", settings=KineticsSettings(uln=5.0))


def test_normal_range_is_read_with_the_kinetics_slack():
    """A value a rounding error (1e-9 relative) above the ULN is at the ULN for the response
    features as for the kinetics: the same patient got 'at_floor' from one and a raised
    baseline from the other."""
    from ca125kinetics import fit_kinetics

    x = 5 * (1 + 5e-10)
    at = pd.DataFrame({"patient_id": ["a"] * 4, "day": [-3, 14, 28, 42], "cea": [x, 4.0, 3.0, 2.0]})
    got = response_features(at, marker="cea")
    assert fit_kinetics(at, marker="cea", method="per-patient")["status"].tolist() == ["at_floor"]
    assert got["normalised"].isna().all() and "not above the ULN" in got["response_reason"].iloc[0]
    down = pd.DataFrame({"patient_id": ["b"] * 4, "day": [-3, 14, 28, 42], "cea": [20.0, 12.0, 8.0, x]})
    assert response_features(down, marker="cea")["normalised"].tolist() == [True]


def test_a_patients_features_do_not_depend_on_the_patients_beside_it():
    """A patient's clearance fit (R^2, slope) and log-linear k are the same bits alone as in
    a cohort. numpy sums a single column in another order than the columns of a wider array,
    so a patient alone in its group of equal sample counts (one patient scored, a chunk of
    ``ca125 kinetics --chunk-rows``) got other last bits: a chunked run differed from the
    file read whole (data/synthetic/rectal, --chunk-rows 500: 4 clearance slopes)."""
    from ca125kinetics.kinetics import fit_kinetics

    cohort = simulate_rectal_cohort(60, seed=7)
    markers = read_markers(cohort.markers, marker="cea")
    ids = markers["patient_id"].unique()
    together = response_features(markers, marker="cea").set_index("patient_id")
    loglinear = fit_kinetics(markers, marker="cea", method="loglinear").set_index("patient_id")
    for pid in ids:
        one = markers[markers["patient_id"] == pid]
        alone = response_features(one, marker="cea").set_index("patient_id")
        for column in ("clearance_r2", "clearance_slope", "post_pre_ratio"):
            np.testing.assert_array_equal(alone.loc[pid, column], together.loc[pid, column], err_msg=f"{pid} {column}")
        alone = fit_kinetics(one, marker="cea", method="loglinear").set_index("patient_id")
        for column in ("k", "c0", "k_se", "rmse_log"):
            np.testing.assert_array_equal(alone.loc[pid, column], loglinear.loc[pid, column], err_msg=f"{pid} {column}")
