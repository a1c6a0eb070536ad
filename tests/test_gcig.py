"""Tests of ca125kinetics.gcig: GCIG CA-125 response, progression, combined response, cohort.

Reference values are hand-worked series in tests/data/gcig_series.csv with the expected
results and their arithmetic in tests/data/gcig_expected.csv (provenance in the file headers).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings as hsettings, strategies as st

from ca125kinetics import gcig as g
from ca125kinetics.errors import InvalidInputError
from ca125kinetics.settings import GcigSettings

DATA = Path(__file__).parent / "data"
SERIES = pd.read_csv(DATA / "gcig_series.csv", comment="#", dtype={"case_id": str, "assay": str})
EXPECTED = pd.read_csv(DATA / "gcig_expected.csv", comment="#", dtype=str, keep_default_na=False)


def _case(case_id):
    """gcig_* keyword arguments for one reference series."""
    rows = SERIES[SERIES.case_id == case_id]
    samples = rows[rows.ca125.notna()]
    events = [(int(r.day), r.event) for r in rows.itertuples() if isinstance(r.event, str)]
    assays = [a if isinstance(a, str) else None for a in samples.assay]
    ulns = samples.uln.dropna().unique()
    return dict(
        days=samples.day.astype(int).tolist(), values=samples.ca125.astype(float).tolist(),
        censored=samples.censored.astype(bool).tolist(), events=events or None,
        assays=assays if any(assays) else None, uln=float(ulns[0]) if len(ulns) else None,
    )


def _settings(text):
    overrides = {}
    for item in filter(None, text.split(";")):
        name, value = item.split("=")
        overrides[name] = float(value) if "." in value else (int(value) if value.isdigit() else value)
    return GcigSettings(**overrides)


def _expected_int(text):
    return int(text) if text else None


# --------------------------------------------------------------------------------------
# Reference series
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("row", EXPECTED.to_dict("records"), ids=lambda r: f"{r['case_id']}-{r['rule']}")
def test_reference_series(row):
    kwargs = _case(row["case_id"])
    days, values = kwargs.pop("days"), kwargs.pop("values")
    cfg = _settings(row["settings"])
    if row["rule"] == "response":
        res = g.gcig_response(days, values, settings=cfg, **kwargs)
        assert (res.status, res.category, res.response_day, res.confirmation_day) == (
            row["status"], row["label"] or None, _expected_int(row["day"]), _expected_int(row["confirmation_day"])
        ), res.reason
        assert res.responded == (row["status"] == "response")
        assert res.evaluable == (row["status"] != "not_evaluable")
    else:
        res = g.gcig_progression(days, values, settings=cfg, **kwargs)
        assert (res.status, res.group, res.progression_day, res.confirmation_day) == (
            row["status"], row["label"] or None, _expected_int(row["day"]), _expected_int(row["confirmation_day"])
        ), res.reason
        assert res.progressed == (row["status"] == "progression")
    assert row["reason_contains"] in res.reason


def test_reference_files_cover_every_case():
    assert set(SERIES.case_id) == set(EXPECTED.case_id)


# --------------------------------------------------------------------------------------
# Spec worked reading (clinical-rules.md section 1), literally
# --------------------------------------------------------------------------------------


def test_spec_worked_reading_confirmed_pr():
    res = g.gcig_response([0, 21, 42, 63], [400, 180, 195, 150], uln=35)
    assert res.status == "response"
    assert res.responded is True
    assert res.category == "PR"
    assert res.response_day == 21
    assert res.confirmation_day == 63
    assert res.confirmation_value == 150
    assert res.baseline_day == 0 and res.baseline_value == 400
    assert res.uln == 35
    assert res.reason.startswith("GCIG response confirmed on day 63 (PR):")


def test_spec_worked_reading_199_not_confirmed():
    res = g.gcig_response([0, 21, 42, 63], [400, 180, 199, 150], uln=35)
    assert res.status == "not_confirmed"
    assert res.responded is False
    assert res.category is None
    assert res.response_day == 21
    assert res.confirmation_day is None
    assert "broken on day 42" in res.reason


def test_not_confirmed_is_not_restarted_from_a_later_fall():
    # strict reading: anchored on the first fall (day 21); the later clean run 21->... is ignored
    res = g.gcig_response([0, 21, 42, 63, 91, 120], [400, 180, 199, 150, 140, 130])
    assert res.status == "not_confirmed"
    assert res.response_day == 21


def test_reason_messages_as_in_spec():
    res = g.gcig_response([0, 21], [59, 20])
    assert res.reason == "not evaluable: baseline 59 U/mL < 2 x ULN (70 U/mL)"
    assert res.status == "not_evaluable" and res.evaluable is False


def test_no_on_treatment_sample_is_awaiting_not_no_response():
    # an evaluable baseline and nothing after the first dose: missing data, not a finding
    res = g.gcig_response([-3, 0], [300, 400])
    assert res.status == "awaiting" and res.responded is None and res.evaluable is True
    assert res.reason == ("GCIG response not yet assessable: no CA-125 sample after the first dose (day > 0) "
                          "yet; evaluable baseline 400 U/mL on day 0 (>= 2 x ULN, 70 U/mL)")
    assert res.baseline_day == 0 and res.category is None and res.response_day is None
    assert "awaiting" in g.RESPONSE_STATUSES


def test_only_a_day_0_baseline_is_awaiting():
    res = g.gcig_response([0], [400])
    assert (res.status, res.responded, res.n_samples) == ("awaiting", None, 1)
    # a pretreatment sample that cannot be a baseline stays not evaluable, awaiting or not
    assert g.gcig_response([0], [60]).status == "not_evaluable"
    assert g.gcig_response([-20], [400]).status == "not_evaluable"
    assert g.gcig_response([0], [100], censored=[True]).status == "not_evaluable"


def test_every_on_treatment_sample_excluded_is_awaiting_and_says_which_and_why():
    res = g.gcig_response([0, 21, 35], [400, 150, 100], events=[(14, "paracentesis")])
    assert res.status == "awaiting" and res.responded is None
    assert [d for d, _ in res.excluded] == [21, 35]
    assert res.reason == (
        "GCIG response not yet assessable: no CA-125 sample after the first dose (day > 0) yet; evaluable "
        "baseline 400 U/mL on day 0 (>= 2 x ULN, 70 U/mL); 2 on-treatment sample(s) excluded: day 21 (drawn 7 "
        "days after paracentesis on day 14, within the 28-day interference window), day 35 (drawn 21 days after "
        "paracentesis on day 14, within the 28-day interference window)")
    hama = g.gcig_response([0, 21, 49], [400, 150, 100], events=[(10, "mouse_antibody")])
    assert hama.status == "awaiting"
    assert "2 on-treatment sample(s) excluded: day 21 (drawn on or after mouse antibody administration on day 10" \
        in hama.reason


def test_progression_without_an_on_treatment_sample_says_so():
    """**Decision:** ``no_progression`` means "no confirmed progression up to the last
    sample" (a censored observation, as with one on-treatment sample or a candidate awaiting
    its confirmation); without any on-treatment sample the reason says that nothing after the
    first dose was assessed, instead of a threshold never reached."""
    res = g.gcig_progression([0], [400])
    assert (res.status, res.progressed, res.group) == ("no_progression", False, "B")
    assert res.reason.startswith("no GCIG CA-125 progression: no CA-125 sample after the first dose (day > 0) yet")
    normal = g.gcig_progression([0, 21], [20, 90], events=[(10, "surgery")])
    assert (normal.status, normal.group) == ("no_progression", "C")
    assert "no CA-125 sample after the first dose (day > 0) yet; 1 on-treatment sample(s) excluded" in normal.reason
    # one on-treatment sample is assessed (no progression can be confirmed yet): unchanged
    assert "after the first dose" not in g.gcig_progression([0, 21], [400, 300]).reason


def test_awaiting_is_an_unknown_response_in_the_combined_category():
    awaiting = g.gcig_response([0], [400])
    for recist, category, rule in (("SD", "SD", 10), ("CR", "CR", 7), ("PR", "PR", 8), (None, None, 11)):
        res = g.combined_response(recist, ca125_response=awaiting,
                                  ca125_progression=g.gcig_progression([0], [400]))
        assert (res.category, res.rule, res.ca125_response, res.ca125_normal) == (category, rule, "unknown",
                                                                                   "unknown")


@pytest.mark.parametrize("compiled", [False, True], ids=["python", "compiled"])
def test_cohort_awaiting_in_both_engines(monkeypatch, compiled):
    markers = pd.DataFrame({
        "patient_id": ["base0", "pre", "pre", "excl", "excl", "excl", "hama", "hama", "low", "resp", "resp"],
        "day": [0, -7, -2, 0, 21, 35, -1, 30, 0, 0, 21],
        "ca125": [400.0, 300.0, 500.0, 400.0, 150.0, 100.0, 400.0, 100.0, 50.0, 400.0, 100.0],
        "event": [None, None, None, None, None, None, None, None, None, None, None],
    })
    events = pd.DataFrame({"patient_id": ["excl", "hama"], "day": [14, 5], "ca125": [np.nan, np.nan],
                           "event": ["paracentesis", "mouse_antibody"]})
    markers = pd.concat([markers, events], ignore_index=True)
    clinical = pd.DataFrame({"patient_id": ["base0", "pre", "excl", "hama", "low", "resp"],
                             "recist": ["SD", "CR", "PD", None, "SD", "SD"]})
    monkeypatch.setattr(g, "use_compiled", lambda n_patients: compiled)
    out = g.gcig_cohort(markers, clinical).set_index("patient_id")
    awaiting = ["base0", "excl", "hama", "pre"]
    assert (out.loc[awaiting, "status"] == "awaiting").all()
    assert out.loc[awaiting, "responded"].isna().all() and out.loc[awaiting, "evaluable"].all()
    assert (out.loc[awaiting, "progression_status"] == "no_progression").all()
    assert out.loc["low", "status"] == "not_evaluable" and out.loc["resp", "status"] == "unconfirmed"
    assert out.loc["excl", "reason"] == g.gcig_response([0, 21, 35], [400, 150, 100],
                                                        events=[(14, "paracentesis")]).reason
    assert out.loc["pre", "reason"].startswith("GCIG response not yet assessable: no CA-125 sample after the "
                                               "first dose (day > 0) yet; evaluable baseline 500 U/mL on day -2")
    assert out.loc[awaiting, "combined_category"].fillna("undetermined").tolist() == ["SD", "PD", "undetermined", "CR"]
    # the compiled and the plain kernel give the same table
    monkeypatch.setattr(g, "use_compiled", lambda n_patients: not compiled)
    pd.testing.assert_frame_equal(g.gcig_cohort(markers, clinical).set_index("patient_id"), out)


@pytest.mark.parametrize("compiled", [False, True])
def test_uln_compared_from_the_baseline_on_as_the_assay(monkeypatch, compiled):
    """One ULN among the samples the rules use, as one assay: a ULN that differs only before
    the baseline or on a sample an exclusion window sets aside changes nothing, and the ULN
    used is the first from the baseline on. It had been compared over every sample, so a
    lab's older ULN on a sample months before made the patient not evaluable."""
    series = {   # patient: (days, values, ulns, events)
        "old": ([-120, -3, 21, 42, 63], [90.0, 400, 180, 195, 150], [30, 35, 35, 35, 35], []),
        "excl": ([-3, 10, 35, 63, 70], [400.0, 300, 180, 150, 140], [35, 35, 35, 35, 35], []),
        "hama": ([-3, 21, 42, 63, 90], [400.0, 180, 195, 150, 20], [35, 35, 35, 35, 30], [(70, "mouse_antibody")]),
        "after": ([-3, 21, 42, 63], [400.0, 180, 195, 150], [35, 35, 30, 30], []),
        "pre30": ([-40, -3, 21, 42, 63], [300.0, 62, 30, 25, 20], [35, 30, 30, 30, 30], []),
    }
    rows = []
    for pid, (days, values, ulns, events) in series.items():
        rows += [dict(patient_id=pid, day=d, ca125=v, uln=u) for d, v, u in zip(days, values, ulns)]
        rows += [dict(patient_id=pid, day=d, ca125=np.nan, uln=np.nan, event=e) for d, e in events]
    markers = pd.DataFrame(rows)
    # a sample inside the paracentesis window of "excl" states another ULN
    markers.loc[(markers.patient_id == "excl") & (markers.day == 10), "uln"] = 30
    markers = pd.concat([markers, pd.DataFrame([dict(patient_id="excl", day=2, ca125=np.nan, uln=np.nan,
                                                     event="paracentesis")])], ignore_index=True)
    monkeypatch.setattr(g, "use_compiled", lambda n_patients: compiled)
    out = g.gcig_cohort(markers).set_index("patient_id")
    for pid in ("old", "excl", "hama"):
        assert out.loc[pid, "status"] == "response" and out.loc[pid, "category"] == "PR", pid
        assert out.loc[pid, "uln"] == 35.0
    assert out.loc["after", "status"] == "not_evaluable"
    assert out.loc["after", "progression_status"] == "not_evaluable"
    assert out.loc["after", "reason"] == ("not evaluable: the ULN changed from 35 U/mL (day -3) to 30 U/mL (day 42); "
                                          "GCIG requires the same assay (and ULN) from the baseline on")
    assert out.loc["after", "progression_reason"] == out.loc["after", "reason"]
    # the baseline's ULN 30 (not the earlier 35): 62 >= 2 x 30 is evaluable, 20 <= 30 is a CR
    assert out.loc["pre30", "uln"] == 30.0 and out.loc["pre30", "status"] == "response"
    assert out.loc["pre30", "category"] == "CR" and "ULN 30 U/mL" in out.loc["pre30", "reason"]
    monkeypatch.setattr(g, "use_compiled", lambda n_patients: not compiled)
    pd.testing.assert_frame_equal(g.gcig_cohort(markers).set_index("patient_id"), out)


@pytest.mark.parametrize("compiled", [False, True], ids=["python", "compiled"])
def test_uln_recorded_from_the_baseline_on_when_the_assay_changes(monkeypatch, compiled):
    # Found by the comparison with the independent reading (tests/test_gcig_independent.py):
    # with an assay change the ULN recorded was the first sample's (35, day -15, before the
    # baseline), not the first stated from the baseline on (30), as it is for every other
    # patient with a baseline
    markers = pd.DataFrame({"patient_id": ["a"] * 3, "day": [-15, -14, 28], "ca125": [1.0, 70, 35],
                            "uln": [35.0, 30, 30], "assay": ["A", "A", "B"]})
    monkeypatch.setattr(g, "use_compiled", lambda n_patients: compiled)
    out = g.gcig_cohort(markers).iloc[0]
    assert out["status"] == "not_evaluable" and out["reason"].startswith("not evaluable: assay changed")
    assert out["uln"] == 30.0


def test_confirmation_beyond_next_cycle():
    # 21-day cycles: day-21 sample after the fall cannot confirm it, the one after can
    res = g.gcig_response([0, 21, 42, 63], [400, 150, 120, 100])
    assert (res.response_day, res.confirmation_day) == (21, 63)


def test_samples_after_confirmation_do_not_matter():
    res = g.gcig_response([0, 21, 49, 70], [400, 150, 100, 5000])
    assert res.status == "response" and res.confirmation_day == 49
    assert res.last_day == 70 and res.last_value == 5000


# --------------------------------------------------------------------------------------
# ULN, settings and exclusions
# --------------------------------------------------------------------------------------


def test_explicit_uln_overrides_settings_and_is_recorded():
    cfg = GcigSettings(uln=35)
    res = g.gcig_response([0, 21, 49], [60, 30, 28], uln=30, settings=cfg)
    assert res.uln == 30 and res.settings.uln == 30
    assert res.status == "response" and res.category == "CR"
    assert g.gcig_response([0, 21, 49], [60, 30, 28], settings=cfg).status == "not_evaluable"
    assert g.gcig_response([0, 21, 49], [60, 30, 28], settings=GcigSettings(uln=30)).uln == 30


def test_settings_change_the_rule():
    # response_fraction 0.4: threshold 160; 180 and 195 are above it, 150 on day 63 is the first fall
    res = g.gcig_response([0, 21, 42, 63], [400, 180, 195, 150], settings=GcigSettings(response_fraction=0.4))
    assert (res.status, res.response_day) == ("unconfirmed", 63)
    assert res.settings.response_fraction == 0.4


@pytest.mark.parametrize("fraction", [1.0, 2.0])
def test_a_response_fraction_that_is_no_fall_is_refused(fraction):
    """response_fraction = 2 (a [gcig] key of a training config) was accepted, and a CA-125
    rising from 400 to 460 U/mL was a confirmed PR 'fall to 420 U/mL'."""
    with pytest.raises(InvalidInputError, match=r"setting 'response_fraction' must be a share of the baseline "
                                                rf"below 1 \(GCIG: 0.5, a fall to <= 50 %\), got {fraction}"):
        GcigSettings(response_fraction=fraction)
    from ca125kinetics.train import load_config
    with pytest.raises(InvalidInputError, match=r"\[gcig\]: setting 'response_fraction' must be a share"):
        load_config({"gcig": {"response_fraction": fraction}})


def test_confirmation_is_a_later_sample_even_with_no_minimum_interval():
    # Found by the comparison with the independent R reading under confirmation_days=0
    # (tests/data/gcig_r_README.md): "a later sample drawn >= N days after the first sample
    # showing the fall" confirms it, so the fall never confirms itself.
    zero = GcigSettings(confirmation_days=0)
    res = g.gcig_response([0, 21, 42], [400, 150, 160], settings=zero)
    assert (res.status, res.response_day, res.confirmation_day) == ("response", 21, 42)
    assert g.gcig_response([0, 21], [400, 150], settings=zero).status == "unconfirmed"


def test_interference_windows_listed_with_reasons():
    res = g.gcig_response([0, 10, 38, 39], [400, 150, 150, 140],
                          events=[(10, "surgery"), (-40, "thoracentesis")])
    assert [d for d, _ in res.excluded] == [10, 38]
    assert "0 days after surgery on day 10" in res.excluded[0][1]
    assert "28 days after surgery on day 10" in res.excluded[1][1]
    assert res.n_samples == 2 and res.response_day == 39


def test_interference_before_baseline_removes_baseline():
    res = g.gcig_response([-5, 21, 49], [400, 150, 100], events=[(-10, "Paracentesis")])
    assert res.status == "not_evaluable"
    assert "after exclusions" in res.reason
    assert res.excluded[0][0] == -5


def test_mouse_antibody_excludes_same_day_and_later():
    res = g.gcig_response([0, 21, 30, 49], [400, 150, 120, 100], events=[(30, "mouse_antibody")])
    assert [d for d, _ in res.excluded] == [30, 49]
    assert all("HAMA" in why for _, why in res.excluded)
    assert res.status == "unconfirmed"
    # the reason says the series stops early because samples were set aside, not only "yet"
    assert "(last sample day 21; 2 sample(s) set aside by the exclusion windows" in res.reason
    early = g.gcig_response([0, 21, 49], [400, 150, 100], events=[(10, "mouse_antibody")])
    assert early.status == "awaiting"
    assert "no CA-125 sample after the first dose (day > 0) yet" in early.reason
    assert "set aside" not in g.gcig_response([0, 21], [400, 150]).reason


def test_a_result_waiting_for_a_sample_says_none_will_count_after_mouse_antibodies():
    """'no sample yet >= 28 days later' after mouse antibodies read as if a later sample could
    still confirm the response; the docs promised the reason would say none will. The same text
    in a registry's columns (Arrow) as for one patient."""
    one = g.gcig_response([0, 21, 49], [400, 180, 150], events=[(30, "mouse_antibody")])
    assert one.status == "unconfirmed"
    assert one.reason.endswith("; no later sample will count: mouse antibodies on day 30")
    waiting = g.gcig_response([0, 21, 49], [400, 150, 100], events=[(10, "mouse_antibody")])
    assert waiting.status == "awaiting" and "no later sample will count: mouse antibodies on day 10" in waiting.reason
    pending = g.gcig_progression([0, 21, 42, 60], [400, 100, 30, 300], events=[(63, "mouse_antibody")])
    assert pending.status == "no_progression" and "awaits confirmation" in pending.reason
    assert pending.reason.endswith("; no later sample will count: mouse antibodies on day 63")
    assert "will count" not in g.gcig_response([0, 21, 49], [400, 180, 150]).reason
    rows = [("hama", d, v, e) for d, v, e in ((0, 400, None), (21, 180, None), (30, None, "mouse_antibody"),
                                               (49, 150, None))]
    rows += [(f"p{i:03d}", d, v, None) for i in range(300) for d, v in ((0, 400), (21, 180), (49, 150))]
    frame = pd.DataFrame(rows, columns=["patient_id", "day", "ca125", "event"])
    table = g.gcig_cohort(frame).set_index("patient_id")
    assert table.loc["hama", "reason"] == one.reason
    assert "will count" not in table.loc["p000", "reason"]


def test_mouse_antibody_before_baseline_makes_not_evaluable():
    res = g.gcig_response([0, 21, 49], [400, 150, 100], events=[(-1, "mouse_antibody")])
    assert res.status == "not_evaluable" and len(res.excluded) == 3


def test_assay_change_before_baseline_is_ignored_but_after_is_not():
    assert g.gcig_response([-30, 0, 21, 49], [500, 400, 150, 100], assays=["X", "A", "A", None]).responded
    res = g.gcig_progression([0, 21, 49], [400, 150, 100], assays=["A", "A", "B"])
    assert res.status == "not_evaluable" and "assay changed" in res.reason


# --------------------------------------------------------------------------------------
# Input handling: sorting, duplicates, dates, validation
# --------------------------------------------------------------------------------------


def test_unsorted_input_is_sorted_by_day():
    shuffled = g.gcig_response([63, 0, 42, 21], [150, 400, 195, 180], censored=[0, 0, 0, 0])
    assert shuffled == g.gcig_response([0, 21, 42, 63], [400, 180, 195, 150], censored=[0, 0, 0, 0])


@pytest.mark.parametrize("single", [np.array([400.2, 180.1, 195.3, 150.7], np.float32),
                                    pd.Series([400.2, 180.1, 195.3, 150.7], dtype="float32"),
                                    pd.array([400.2, 180.1, 195.3, 150.7], dtype="Float32")])
def test_single_precision_lists_are_refused_as_a_single_precision_column_is(single):
    """tolist() widened them (180.1 became 180.1000061) and the rules ran on the widening,
    where a list holding np.float32 scalars and every table were refused."""
    for rule in (g.gcig_response, g.gcig_progression):
        with pytest.raises(InvalidInputError, match=r"column 'ca125' holds single-precision numbers"):
            rule([0, 21, 42, 63], single)
    with pytest.raises(InvalidInputError, match=r"column 'day' holds single-precision numbers"):
        g.gcig_response(np.array([0, 21, 42, 63], np.float32), [400, 180, 195, 150])


def test_a_table_or_no_sample_is_refused_saying_what_to_give():
    """A DataFrame was read as its column names ('days has 1 entries'); no sample at all was
    'predict scores one patient, but the input holds 0 (); use predict_cohort'."""
    with pytest.raises(InvalidInputError, match=r"days must be a sequence .* got DataFrame.*frame\['day'\]"):
        g.gcig_response(pd.DataFrame({"day": [0, 21, 42, 63]}), [400, 180, 195, 150])
    for rule in (g.gcig_response, g.gcig_progression):
        with pytest.raises(InvalidInputError, match="the markers hold no sample") as raised:
            rule([], [])
        assert "predict" not in str(raised.value)


def test_same_day_samples_are_an_error_by_default():
    with pytest.raises(InvalidInputError, match=r"row days\[1\]/values\[1\].*two or more CA-125 samples on day 21"
                       r".*GcigSettings\(duplicates="):
        g.gcig_response([0, 21, 21, 49], [400, 180, 190, 100])


@pytest.mark.parametrize(("how", "value"), [
    ("mean", 185.0), ("median", 185.0), ("max", 190.0), ("min", 180.0), ("first", 190.0), ("last", 180.0),
])
def test_same_day_samples_aggregated_on_request(how, value):
    res = g.gcig_response([0, 21, 21, 49], [400, 190, 180, 100], settings=GcigSettings(duplicates=how))
    assert res.response_value == value
    assert res.n_samples == 3


def test_aggregated_censoring():
    cfg = GcigSettings(duplicates="mean")
    res = g.gcig_response([0, 0], [5, 100], censored=[True, False], settings=cfg)
    assert "reported as <52.5" in res.reason  # mean of upper bounds is an upper bound
    res = g.gcig_response([0, 0], [5, 100], censored=[True, False], settings=cfg.replace(duplicates="max"))
    assert res.evaluable and res.baseline_value == 100  # max keeps the uncensored 100


def test_dates_with_treatment_start():
    start = dt.date(2024, 3, 1)
    dates = [start + dt.timedelta(days=d) for d in (0, 21, 42, 63)]
    values = [400, 180, 195, 150]
    by_day = g.gcig_response([0, 21, 42, 63], values)
    assert g.gcig_response(dates, values, treatment_start=start) == by_day
    iso = [d.isoformat() for d in dates]
    assert g.gcig_response(iso, values, treatment_start="2024-03-01") == by_day
    stamps = pd.to_datetime(iso) + pd.Timedelta(hours=9)  # time of day never shifts a day
    assert g.gcig_response(pd.Series(stamps), values, treatment_start=pd.Timestamp("2024-03-01 17:00")) == by_day
    assert g.gcig_response(stamps.to_numpy(), values, treatment_start=start) == by_day
    events = [(dt.date(2024, 2, 25), "paracentesis")]
    res = g.gcig_response(iso, values, treatment_start=start, events=events)
    assert [d for d, _ in res.excluded] == [0, 21]


def test_dates_need_treatment_start_and_numbers_refuse_it():
    with pytest.raises(InvalidInputError, match="treatment_start"):
        g.gcig_response(["2024-03-01", "2024-03-22"], [400, 180])
    with pytest.raises(InvalidInputError, match="date 0 is a number, not a date; with a treatment_start"):
        g.gcig_response([0, 21], [400, 180], treatment_start="2024-03-01")
    with pytest.raises(InvalidInputError, match="no such day exists"):
        g.gcig_response(["2024-13-45"], [400], treatment_start="2024-03-01")
    # ISO week dates and the basic form were read here (datetime.fromisoformat) but refused by
    # the file readers: one date rule now, the readers'
    for text in ("2024-W09-5", "20240301"):
        with pytest.raises(InvalidInputError, match="is not an ISO date"):
            g.gcig_response([text], [400], treatment_start="2024-03-01")
        with pytest.raises(InvalidInputError, match="is not an ISO date"):
            g.gcig_response(["2024-03-01"], [400], treatment_start=text)


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(days=[0, 21], values=[400]), "days has 2 entries but values has 1"),
    # the markers reader's rules and messages (io.read_markers), the row named as the lists name it
    (dict(days=[0, 21], values=[400, -1]), r"row days\[1\]/values\[1\].*CA-125 value -1 is negative"),
    (dict(days=[0, 21], values=[400, math.nan]), r"days\[1\]/values\[1\].*CA-125 value is empty"),
    (dict(days=[0, 21], values=[400, math.inf]), "CA-125 value is infinite"),
    (dict(days=[0, 21], values=[400, 1.5e6]), "beyond what any assay reports"),
    (dict(days=[0, 21], values=[400, "abc"]), "'<x' for a value below the assay's limit"),
    (dict(days=[0, 21], values=[400, True]), "is not a number"),
    (dict(days=[0, 21.5], values=[400, 180]), "not a whole number of days"),
    (dict(days=[0, True], values=[400, 180]), "day True is not a number"),
    (dict(days=[0, 5000], values=[400, 180]), "day 5000 is outside the plausible range -366..1830"),
    (dict(days="0,21", values=[400, 180]), "days must be a sequence"),
    (dict(days=[0, 21], values=[400, 180], censored=[0]), "censored has 1 entries"),
    (dict(days=[0, 21], values=[400, 180], censored=[0, "maybe"]), r"days\[1\]/values\[1\].*censored 'maybe'"),
    (dict(days=[0, 21], values=[400, 180], assays=["A"]), "assays has 1 entries"),
    (dict(days=[0, 21], values=[400, 180], events=[(5, "chemo")]), r"row events\[0\].*unknown event 'chemo'"),
    (dict(days=[0, 21], values=[400, 180], events=[5]), "not a \\(day_or_date, kind\\) pair"),
    (dict(days=[0, 21], values=[400, 180], uln=0), "uln must be a positive"),
    (dict(days=[0, 21], values=[400, 180], settings={"uln": 35}), "settings must be a GcigSettings"),
])
@pytest.mark.parametrize("func", [g.gcig_response, g.gcig_progression])
def test_invalid_input_raises_typed_errors(func, kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        func(**kwargs)


def test_numpy_and_pandas_inputs():
    res = g.gcig_response(np.array([0, 21, 42, 63]), pd.Series([400.0, 180.0, 195.0, 150.0]),
                          censored=np.zeros(4, dtype=bool))
    assert res.status == "response" and isinstance(res.response_day, int)


# --------------------------------------------------------------------------------------
# Progression details
# --------------------------------------------------------------------------------------


def test_progression_fields_group_b():
    res = g.gcig_progression([0, 21, 42, 49], [400, 100, 200, 210])
    assert (res.threshold, res.nadir, res.progression_value, res.confirmation_value) == (200, 100, 200, 210)
    assert res.reason.startswith("GCIG CA-125 progression (group B) on day 42")


def test_no_progression_reports_group_and_threshold():
    res = g.gcig_progression([0, 21, 42], [400, 100, 30])
    assert (res.status, res.group, res.threshold, res.nadir) == ("no_progression", "A", 70, 30)
    res = g.gcig_progression([0, 21], [400, 100])
    assert (res.group, res.threshold) == ("B", 200)


def test_candidate_broken_before_the_series_ends_is_not_pending():
    # Found by the comparison with the independent R reading (tests/data/gcig_r_README.md,
    # patient A01256 of the adversarial cohort, simplified). The day-42 candidate (200 >= 2 x
    # nadir 100) is broken by day 45 (30 U/mL, below its threshold) before any sample 7 days
    # later exists, so it is not awaiting confirmation; day 45 is a normal value, so the
    # patient is group A ("never normalised" would be false) and day 48 (75 >= 2 x ULN 70) is
    # the candidate that awaits confirmation.
    res = g.gcig_progression([0, 21, 42, 45, 48], [400, 100, 200, 30, 75])
    assert (res.status, res.group, res.threshold, res.nadir) == ("no_progression", "A", 70, 30)
    assert "candidate on day 48 (75 U/mL" in res.reason and "never normalised" not in res.reason
    # a candidate whose later samples all hold stays the pending one
    res = g.gcig_progression([0, 21, 42, 45], [400, 100, 200, 210])
    assert (res.group, res.threshold) == ("B", 200) and "candidate on day 42" in res.reason


ANY = GcigSettings(progression_confirmation="any")


def test_progression_across_a_fall_in_between_only_under_any():
    # 80 on day 21 (>= 2 x ULN 70), 30 on day 24, 90 on day 35: the sample in between falls
    # below the threshold. Sustained (default): the day-21 candidate is broken, the day-35 one
    # awaits its confirmation. Any: day 35 (14 days later, >= 70) confirms day 21.
    days, values = [0, 21, 24, 35], [20, 80, 30, 90]
    res = g.gcig_progression(days, values)
    assert (res.status, res.progression_day) == ("no_progression", None)
    assert "candidate on day 35 (90 U/mL" in res.reason
    res = g.gcig_progression(days, values, settings=ANY)
    assert (res.status, res.group, res.progression_day, res.confirmation_day) == ("progression", "C", 21, 35)
    assert res.reason == ("GCIG CA-125 progression (group C) on day 21: 80 U/mL, confirmed on day 35 (14 days "
                          "later) by 90 U/mL, both >= 2 x ULN 35 U/mL (70 U/mL), the first later sample >= 7 days "
                          "after it at/above the threshold (progression_confirmation 'any': the samples in between "
                          "need not be; 1 in between below it); group C: normal before treatment")


@pytest.mark.parametrize("days, values, expected", [
    # the first sample >= 7 days later is below 70; a later one at 70 exactly confirms (any)
    ([0, 21, 28, 42], [20, 80, 69.99, 70], ("progression", 21, 42)),
    # 6 days is not enough; 7 exactly is
    ([0, 21, 27], [20, 80, 90], ("no_progression", None, None)),
    ([0, 21, 28], [20, 80, 90], ("progression", 21, 28)),
    # a censored sample never confirms, however high its limit
    ([0, 21, 28, 30], [20, 80, 500, 75], ("progression", 21, 30)),
])
def test_any_confirmation_boundaries(days, values, expected):
    censored = [d == 28 and v == 500 for d, v in zip(days, values)]
    res = g.gcig_progression(days, values, censored=censored, settings=ANY)
    assert (res.status, res.progression_day, res.confirmation_day) == expected


def test_any_confirmation_keeps_the_candidates_own_threshold_and_the_group_after_the_last_sample():
    # group B: 400, 100 (nadir), 250 on day 42 (>= 2 x nadir 200), 30 on day 45 (normal: group
    # A from here), 35 on day 46: day 42 awaits a sample >= 200 from day 49 on (any); the
    # patient is group A after the last sample. Sustained: day 45 breaks the day-42 candidate.
    days, values = [0, 21, 42, 45, 46], [400, 100, 250, 30, 35]
    res = g.gcig_progression(days, values, settings=ANY)
    assert (res.status, res.group, res.threshold) == ("no_progression", "A", 70)
    assert res.reason.startswith("no GCIG CA-125 progression (group A): candidate on day 42 (250 U/mL >= its "
                                 "threshold 200 U/mL) awaits confirmation: no sample yet >= 7 days later "
                                 "(progression_confirmation 'any'")
    res = g.gcig_progression(days, values)
    assert (res.status, res.group) == ("no_progression", "A") and "candidate" not in res.reason
    # a sample at 2 x nadir 200 on day 49 confirms it, across the normal values in between
    res = g.gcig_progression(days + [49], values + [200], settings=ANY)
    assert (res.status, res.group, res.progression_day, res.confirmation_day, res.threshold) == (
        "progression", "B", 42, 49, 200)
    assert "; 2 in between below it)" in res.reason


def test_any_confirmation_is_the_literal_reading_and_sustained_implies_it():
    # every progression under sustained is one under any, on the same day (the first candidate
    # confirmed); any can only add or move it earlier
    for days, values in [([0, 21, 28, 35], [400, 100, 200, 210]), ([0, 21, 42, 49], [20, 75, 30, 75])]:
        strict, literal = g.gcig_progression(days, values), g.gcig_progression(days, values, settings=ANY)
        assert literal.progressed and literal.progression_day <= (strict.progression_day or math.inf)


def test_progression_confirmation_is_a_checked_recorded_setting():
    with pytest.raises(InvalidInputError, match="progression_confirmation.*'sustained', 'any'"):
        GcigSettings(progression_confirmation="literal")
    with pytest.raises(InvalidInputError, match="progression_confirmation"):
        GcigSettings(progression_confirmation=None)
    assert GcigSettings().progression_confirmation == "sustained"
    assert GcigSettings.from_json(ANY.to_json()) == ANY
    # settings saved before the field existed load with the default (the package's reading then)
    old = {k: v for k, v in GcigSettings().to_dict().items() if k != "progression_confirmation"}
    assert GcigSettings.from_dict(old) == GcigSettings()
    assert ANY.to_params()["gcig.progression_confirmation"] == "any"


def _cohort_in_both_engines(monkeypatch, compiled: bool, markers: pd.DataFrame, settings) -> pd.DataFrame:
    """``gcig_cohort`` by the engine ``compiled`` chooses (indexed by patient), after checking
    that the other engine gives the same table."""
    tables = []
    for engine in (not compiled, compiled):
        monkeypatch.setattr(g, "use_compiled", lambda n_patients, engine=engine: engine)
        tables.append(g.gcig_cohort(markers, settings=settings).set_index("patient_id"))
    pd.testing.assert_frame_equal(*tables)
    return tables[1]


@pytest.mark.parametrize("compiled", [False, True], ids=["python", "compiled"])
def test_cohort_any_confirmation_in_both_engines(monkeypatch, compiled):
    markers = pd.DataFrame({"patient_id": ["dip"] * 4 + ["wait"] * 5,
                            "day": [0, 21, 24, 35, 0, 21, 42, 45, 46],
                            "ca125": [20.0, 80, 30, 90, 400, 100, 250, 30, 35]})
    out = _cohort_in_both_engines(monkeypatch, compiled, markers, ANY)
    assert out["progression_status"].tolist() == ["progression", "no_progression"]
    assert out["progression_group"].tolist() == ["C", "A"]
    assert out.loc["dip", "progression_reason"] == g.gcig_progression([0, 21, 24, 35], [20, 80, 30, 90],
                                                                       settings=ANY).reason
    assert "its threshold 200 U/mL" in out.loc["wait", "progression_reason"]


RESTART = GcigSettings(response_fall="restart")


def test_a_broken_fall_is_final_by_default_and_followed_by_the_next_under_restart():
    # the worked reading's series with 220 on day 42 (> 50 % of 400): the day-21 fall is broken;
    # under restart 150 on day 63 is a new fall, confirmed on day 91 (28 days later)
    days, values = [0, 21, 42, 63, 91], [400, 180, 220, 150, 140]
    res = g.gcig_response(days, values)
    assert (res.status, res.response_day, res.confirmation_day) == ("not_confirmed", 21, None)
    assert "after" not in res.reason
    res = g.gcig_response(days, values, settings=RESTART)
    assert (res.status, res.responded, res.category, res.response_day, res.confirmation_day) == (
        "response", True, "PR", 63, 91)
    assert res.reason == (
        "GCIG response confirmed on day 91 (PR): fall to 150 U/mL on day 63 (<= 50 % of baseline 400 U/mL on "
        "day 0: 200 U/mL); confirming sample 140 U/mL on day 91 (28 days later, > ULN 35 U/mL); every sample in "
        "between <= 50 % of baseline and <= 1.10 x the previous one (or within the normal range); after 1 "
        "earlier fall(s) broken, the last on day 21 (broken on day 42; response_fall 'restart': the next fall "
        "after a broken one is assessed anew)")


@pytest.mark.parametrize("days, values, expected", [
    # a rise beyond 1.10 x the previous breaks the fall; the sample that broke it (190 <= 200)
    # is no new fall (it is the rise), the next one is: awaiting its 28 days
    ([0, 21, 42, 63], [400, 150, 190, 180], ("unconfirmed", 63, None, 1, 21)),
    # two broken falls, then a confirmed one; the reason names the last broken one
    ([0, 21, 42, 63, 84, 105, 133], [400, 180, 220, 150, 190, 100, 90], ("response", 105, 133, 2, 63)),
    # broken again with nothing after: the last fall assessed is reported, broken
    ([0, 21, 42, 63, 84], [400, 180, 220, 150, 230], ("not_confirmed", 63, None, 1, 21)),
    # no fall after the break: the first fall's break stands
    ([0, 21, 42, 63], [400, 180, 220, 250], ("not_confirmed", 21, None, 0, None)),
])
def test_restart_assesses_each_later_fall(days, values, expected):
    status, fall, confirmed, n_earlier, last_earlier = expected
    res = g.gcig_response(days, values, settings=RESTART)
    assert (res.status, res.response_day, res.confirmation_day) == (status, fall, confirmed)
    if n_earlier:
        assert f"after {n_earlier} earlier fall(s) broken, the last on day {last_earlier} " in res.reason
    else:
        assert "earlier fall" not in res.reason


def test_restart_shows_censoring_of_the_fall_it_reports_only():
    # the broken first fall was reported as "<180"; the confirmed later fall is a measurement
    days, values, censored = [0, 21, 42, 63, 91], [400, 180, 220, 150, 140], [False, True, False, False, False]
    res = g.gcig_response(days, values, censored=censored, settings=RESTART)
    assert "fall to 150 U/mL on day 63" in res.reason and "<150" not in res.reason
    res = g.gcig_response(days, values, censored=censored)
    assert "fall to <180 U/mL on day 21" in res.reason


def test_response_fall_is_a_checked_recorded_setting():
    with pytest.raises(InvalidInputError, match="response_fall.*'first', 'restart'"):
        GcigSettings(response_fall="next")
    assert GcigSettings().response_fall == "first"
    assert "response_fall" not in GcigSettings().to_dict()      # the shipped model's record unchanged
    assert GcigSettings.from_json(RESTART.to_json()) == RESTART
    assert RESTART.to_params()["gcig.response_fall"] == "restart"


@pytest.mark.parametrize("compiled", [False, True], ids=["python", "compiled"])
def test_cohort_restart_in_both_engines(monkeypatch, compiled):
    markers = pd.DataFrame({"patient_id": ["again"] * 5 + ["rise"] * 4,
                            "day": [0, 21, 42, 63, 91, 0, 21, 42, 63],
                            "ca125": [400.0, 180, 220, 150, 140, 400, 150, 190, 180]})
    out = _cohort_in_both_engines(monkeypatch, compiled, markers, RESTART)
    assert out["status"].tolist() == ["response", "unconfirmed"]
    assert out["response_day"].tolist() == [63, 63]
    assert out.loc["again", "reason"] == g.gcig_response([0, 21, 42, 63, 91], [400, 180, 220, 150, 140],
                                                         settings=RESTART).reason


def test_censored_values_never_reach_a_progression_threshold():
    res = g.gcig_progression([0, 21, 28], [20, 500, 500], censored=[False, True, False])
    assert res.status == "no_progression"
    res = g.gcig_progression([0, 21, 28], [20, 500, 500])
    assert res.status == "progression"


def test_progression_not_evaluable_with_censored_baseline_above_uln():
    res = g.gcig_progression([0, 21, 28], [50, 500, 500], censored=[True, False, False])
    assert res.status == "not_evaluable" and "cannot tell" in res.reason
    assert g.gcig_progression([0, 21, 28], [5, 500, 500], censored=[True, False, False]).group == "C"


def test_progression_after_exclusion_window():
    # the day-21 and day-28 rises are within 28 days of surgery on day 20 and do not count
    res = g.gcig_progression([0, 21, 28, 56, 63], [20, 500, 500, 80, 90], events=[(20, "surgery")])
    assert (res.status, res.progression_day, res.confirmation_day) == ("progression", 56, 63)


# --------------------------------------------------------------------------------------
# Result forms
# --------------------------------------------------------------------------------------


def test_to_dict_and_to_frame():
    res = g.gcig_response([0, 21, 42, 63], [400, 180, 195, 150], events=[(-40, "surgery")])
    d = res.to_dict()
    assert d["settings"]["uln"] == 35 and d["excluded"] == []
    json.dumps(d)
    frame = res.to_frame()
    assert frame.shape[0] == 1
    assert list(frame.columns)[:5] == ["evaluable", "responded", "category", "status", "reason"]
    assert frame.loc[0, "n_excluded"] == 0
    assert json.loads(frame.loc[0, "settings"])["kind"] == "gcig"
    prog = g.gcig_progression([0, 21], [400, 100]).to_frame()
    assert prog.loc[0, "status"] == "no_progression" and prog.loc[0, "group"] == "B"


def test_results_are_frozen():
    res = g.gcig_response([0, 21], [400, 180])
    with pytest.raises(AttributeError):
        res.status = "response"


# --------------------------------------------------------------------------------------
# Combined RECIST 1.1 + CA-125 table
# --------------------------------------------------------------------------------------

CONFIRMED_PR = g.gcig_response([0, 21, 42, 63], [400, 180, 195, 150])
CONFIRMED_CR = g.gcig_response([0, 21, 49], [400, 30, 20])


@pytest.mark.parametrize(("kwargs", "category", "rule"), [
    (dict(recist="PD", ca125_response=True, ca125_normal=True), "PD", 1),
    (dict(recist="CR", new_lesion=True, ca125_normal=True), "PD", 2),
    (dict(recist="PR", ca125_progression=True), "PD", 3),
    (dict(recist="CR", ca125_progression=True, ca125_normal=True), "PD", 3),
    (dict(recist="SD", ca125_progression=True, ca125_response=True), "PD", 3),
    (dict(recist="CR", ca125_normal=True), "CR", 4),
    (dict(recist="cr", ca125_response=CONFIRMED_CR), "CR", 4),
    (dict(recist="CR", ca125_response=CONFIRMED_PR), "PR", 5),
    (dict(recist="CR", ca125_response=False, ca125_normal=False), "PR", 6),
    (dict(recist="CR"), "CR", 7),
    (dict(recist="PR", ca125_progression=False), "PR", 8),
    (dict(recist="PR", ca125_response=True), "PR", 8),
    (dict(recist="SD", ca125_response=CONFIRMED_PR), "PR", 9),
    (dict(recist="SD", ca125_response=True, ca125_progression=False), "PR", 9),
    (dict(recist="SD"), "SD", 10),
    (dict(recist="SD", ca125_response=False), "SD", 10),
])
def test_combined_rows(kwargs, category, rule):
    res = g.combined_response(**kwargs)
    assert (res.category, res.rule) == (category, rule), res.reason
    assert f"rule {rule}" in res.reason


def test_combined_counts_confirmed_responses_only():
    unconfirmed = g.gcig_response([0, 21, 35], [400, 150, 120])
    assert unconfirmed.status == "unconfirmed"
    assert g.combined_response("SD", ca125_response=unconfirmed).category == "SD"
    not_confirmed = g.gcig_response([0, 21, 42, 63], [400, 180, 199, 150])
    assert g.combined_response("SD", ca125_response=not_confirmed).category == "SD"
    not_evaluable = g.gcig_response([0, 21], [59, 20])
    assert g.combined_response("SD", ca125_response=not_evaluable).ca125_response == "unknown"


def test_combined_normal_from_latest_sample_and_progression_objects():
    res = g.combined_response("CR", ca125_response=CONFIRMED_PR)  # latest sample 150 > 35
    assert (res.ca125_normal, res.category) == ("no", "PR")
    prog = g.gcig_progression([0, 21, 42, 49], [400, 100, 200, 210])
    assert g.combined_response("PR", ca125_progression=prog).category == "PD"
    no_baseline = g.gcig_progression([21], [100])
    assert g.combined_response("PR", ca125_progression=no_baseline).ca125_progression == "unknown"


def test_combined_normal_needs_an_on_treatment_sample():
    """A pretreatment sample says nothing of CA-125 after the neoadjuvant cycles: RECIST CR with
    only a baseline (400 U/mL on day 0) stays CR (normality unknown), not PR."""
    baseline_only = g.gcig_response([0], [400])
    res = g.combined_response("CR", ca125_response=baseline_only)
    assert (res.ca125_normal, res.category) == ("unknown", "CR"), res.reason
    assert g.combined_response("CR", ca125_response=CONFIRMED_CR).ca125_normal == "yes"
    markers = _markers([("a", 0, 400, False, 35, None, None, None),
                        ("b", 0, 400, False, 35, None, None, None), ("b", 21, 30, False, 35, None, None, None)])
    table = g.gcig_cohort(markers, pd.DataFrame({"patient_id": ["a", "b"], "recist": ["CR", "CR"]}))
    assert table.set_index("patient_id")["combined_category"].to_dict() == {"a": "CR", "b": "CR"}


def test_combined_normal_reads_the_latest_sample_against_its_own_uln():
    """"CA-125 normal" of the combined category is the latest used sample <= *its own* ULN.
    After a change of assay from ULN 35 to 30, 32 U/mL was normal by the baseline's ULN and
    RECIST CR stayed CR; after a change to ULN 40, 38 U/mL was not normal and CR became PR.
    (The change makes the GCIG rules themselves not evaluable, which holds.)"""
    def rows(pid, ulns, last):
        return [(pid, d, v, False, u, None, None, None)
                for d, v, u in zip((-3, 21, 42, 63), (200, 40, 33, last), ulns)]

    markers = _markers(rows("down", (35, 35, 30, 30), 32) + rows("up", (35, 35, 40, 40), 38)
                       + rows("same", (35, 35, 35, 35), 32))
    table = g.gcig_cohort(markers, pd.DataFrame({"patient_id": ["down", "up", "same"], "recist": ["CR"] * 3}))
    table = table.set_index("patient_id")
    assert table["combined_category"].to_dict() == {"down": "PR", "up": "CR", "same": "CR"}
    assert table.loc[["down", "up"], "status"].tolist() == ["not_evaluable"] * 2
    assert table["uln"].tolist() == [35.0] * 3


def test_combined_without_recist_is_pd_on_evidence_of_progression_otherwise_undetermined():
    """RECIST unknown: a CA-125 progression or a new lesion is progression on its own (GCIG
    2011); anything else leaves the combined category undetermined, never guessed."""
    for kwargs in (dict(ca125_progression=True), dict(new_lesion=True)):
        res = g.combined_response(None, **kwargs)
        assert res.category == "PD" and res.recist is None, res.reason
    res = g.combined_response(None, ca125_response=True, ca125_normal=True)
    assert res.category is None and res.rule == 11
    assert res.reason.startswith("undetermined") and "give recist" in res.reason
    prog = [("p", 0, 400, False, 35, None, None, None), ("p", 21, 350, False, 35, None, None, None),
            ("p", 42, 820, False, 35, None, None, None), ("p", 49, 900, False, 35, None, None, None)]
    resp = [("r", 0, 400, False, 35, None, None, None), ("r", 21, 180, False, 35, None, None, None),
            ("r", 49, 30, False, 35, None, None, None)]
    table = g.gcig_cohort(_markers(prog + resp), pd.DataFrame({"patient_id": ["p", "r"], "recist": [None, None]}))
    table = table.set_index("patient_id")
    assert table.loc["p", "progression_status"] == "progression" and table.loc["p", "combined_category"] == "PD"
    assert table.loc["r", "status"] == "response" and pd.isna(table.loc["r", "combined_category"])


def test_combined_table_is_data_driven_and_complete():
    table = g.combined_response_table()
    assert list(table.columns) == ["rule", "recist", "new_lesion", "ca125_progression", "ca125_response",
                                   "ca125_normal", "combined", "basis"]
    assert table.rule.tolist() == list(range(1, 12))
    assert all(b.startswith(("Rustin 2011", "Decision")) for b in table.basis)
    text = (Path(g.__file__).parent / "data" / "combined_response.csv").read_text()
    assert "implemented from the text of Rustin et al. IJGC 2011" in text.splitlines()[0]


def test_combined_invalid_inputs():
    with pytest.raises(InvalidInputError, match="recist must be one of"):
        g.combined_response("NE")
    with pytest.raises(InvalidInputError, match="ca125_response must be"):
        g.combined_response("SD", ca125_response="yes")
    with pytest.raises(InvalidInputError, match="new_lesion"):
        g.combined_response("SD", new_lesion=None)


# --------------------------------------------------------------------------------------
# Cohort
# --------------------------------------------------------------------------------------


def _markers(rows):
    frame = pd.DataFrame(rows, columns=["patient_id", "day", "ca125", "censored", "uln", "assay", "event", "problem"])
    return frame.astype({"day": "int64", "ca125": "float64", "censored": bool, "uln": "float64"})


def _reference_markers():
    rows = []
    for r in SERIES.itertuples():
        rows.append((r.case_id, int(r.day), r.ca125, bool(r.censored), 35.0 if math.isnan(r.uln) else r.uln,
                     r.assay if isinstance(r.assay, str) else None, r.event if isinstance(r.event, str) else None,
                     None))
    return _markers(rows)


def test_cohort_refuses_a_clinical_column_named_twice():
    """Two 'recist' columns (which one holds the RECIST is not said) raised numpy's TypeError."""
    markers = pd.DataFrame({"patient_id": ["a"] * 3, "day": [-3, 21, 42], "ca125": [400.0, 180.0, 90.0]})
    clinical = pd.DataFrame([["a", "PR", "PD"]], columns=["patient_id", "recist", "recist"])
    with pytest.raises(InvalidInputError, match=r"clinical DataFrame.*names column\(s\) \['recist'\] more than once"):
        g.gcig_cohort(markers, clinical)


def test_cohort_matches_per_patient_functions_on_reference_series():
    out = g.gcig_cohort(_reference_markers())
    assert list(out.columns) == list(g.COHORT_COLUMNS)
    assert out.patient_id.tolist() == sorted(SERIES.case_id.unique())
    for row in EXPECTED[EXPECTED.settings == ""].itertuples():
        got = out.set_index("patient_id").loc[row.case_id]
        if row.rule == "response":
            assert got.status == row.status and got.reason.find(row.reason_contains) >= 0
            assert (None if pd.isna(got.response_day) else int(got.response_day)) == _expected_int(row.day)
        else:
            assert got.progression_status == row.status
            assert (None if pd.isna(got.progression_day) else int(got.progression_day)) == _expected_int(row.day)


def test_cohort_invalid_input_no_markers_uln_change_and_combined():
    markers = _markers([
        ("001", 0, 400, False, 35, None, None, None),
        ("001", 21, 180, False, 35, None, None, None),
        ("001", 42, 195, False, 35, None, None, None),
        ("001", 63, 150, False, 35, None, None, None),
        ("002", 0, 400, False, 35, None, None, "day 'abc' is not a number (markers.csv row 9)"),
        ("003", 0, 400, False, 30, None, None, None),
        ("003", 21, 150, False, 35, None, None, None),
        ("004", 0, 400, False, 35, None, None, None),
        ("004", 21, 180, False, 35, None, None, None),
        ("004", 21, 190, False, 35, None, None, None),
        ("005", 10, np.nan, False, 35, None, "paracentesis", None),
        ("005", -1, 400, False, 35, None, None, None),
        ("005", 21, 150, False, 35, None, None, None),
    ])
    clinical = pd.DataFrame({"patient_id": ["001", "002", "003", "004", "005", "006", "007"],
                             "recist": ["SD", "PR", None, "CR", "XX", "PR", np.nan]})
    out = g.gcig_cohort(markers, clinical).set_index("patient_id")
    assert list(out.reset_index().columns) == [*g.COHORT_COLUMNS, "recist", "combined_category"]
    assert out.loc["001", "status"] == "response" and out.loc["001", "combined_category"] == "PR"
    assert out.loc["002", "status"] == "invalid_input"
    assert out.loc["002", "reason"] == "day 'abc' is not a number (markers.csv row 9)"
    assert out.loc["002", "progression_status"] == "invalid_input"
    assert pd.isna(out.loc["002", "evaluable"]) and pd.isna(out.loc["002", "combined_category"])
    assert out.loc["003", "status"] == "not_evaluable"
    assert "ULN changed from 30 U/mL (day 0) to 35 U/mL (day 21)" in out.loc["003", "reason"]
    assert out.loc["003", "progression_status"] == "not_evaluable"
    assert out.loc["004", "status"] == "invalid_input" and "two or more CA-125 samples on day 21" in out.loc["004", "reason"]
    assert out.loc["005", "status"] == "invalid_input" and "'recist'" in out.loc["005", "reason"]
    assert out.loc["006", "status"] == "no_markers" and out.loc["006", "combined_category"] == "PR"
    assert out.loc["006", "n_samples"] == 0
    assert out.loc["007", "status"] == "no_markers" and pd.isna(out.loc["007", "recist"])
    assert str(out["baseline_day"].dtype) == "Int64" and str(out["responded"].dtype) == "boolean"


def test_cohort_event_rows_and_per_patient_settings():
    markers = _markers([
        ("p1", -1, 400, False, 35, None, None, None),
        ("p1", 10, np.nan, False, 35, None, "paracentesis", None),
        ("p1", 21, 150, False, 35, None, None, None),
        ("p1", 39, 140, False, 35, None, None, None),
        ("p1", 70, 100, False, 35, None, None, None),
        ("p2", 0, 60, False, 30, None, None, None),
        ("p2", 21, 30, False, 30, None, None, None),
        ("p2", 49, 28, False, 30, None, None, None),
    ])
    out = g.gcig_cohort(markers.iloc[::-1]).set_index("patient_id")  # unsorted input
    assert (out.loc["p1", "n_samples"], out.loc["p1", "n_excluded"]) == (3, 1)  # day 21: 11 days after
    assert (out.loc["p1", "response_day"], out.loc["p1", "confirmation_day"]) == (39, 70)
    assert (out.loc["p2", "uln"], out.loc["p2", "category"]) == (30.0, "CR")
    dup = g.gcig_cohort(pd.concat([markers, markers.iloc[[2]]]), settings=GcigSettings(duplicates="first"))
    assert dup.set_index("patient_id").loc["p1", "n_excluded"] == 1  # the merged day-21 sample


def test_cohort_event_row_without_uln_is_not_a_uln_change():
    # Found by the comparison with the independent R reading (tests/data/gcig_r_README.md,
    # patient A00488 of the adversarial cohort, simplified): the samples carry ULN 30 and the
    # event-only row none, which io.read_markers fills with the default 35. The ULN belongs
    # to a sample; an event row has none to differ, so the patient stays evaluable at ULN 30.
    from ca125kinetics import io

    raw = pd.DataFrame({"patient_id": ["p1"] * 4, "day": [0, 21, 49, 100],
                        "ca125": ["200", "90", "80", ""], "uln": [30, 30, 30, None],
                        "event": [None, None, None, "mouse_antibody"]})
    out = g.gcig_cohort(io.read_markers(raw)).set_index("patient_id")
    assert (out.loc["p1", "uln"], out.loc["p1", "status"], out.loc["p1", "category"]) == (30.0, "response", "PR")
    assert (out.loc["p1", "response_day"], out.loc["p1", "confirmation_day"]) == (21, 49)
    assert out.loc["p1", "progression_status"] == "no_progression"


def test_cohort_minimal_columns_and_errors():
    out = g.gcig_cohort(pd.DataFrame({"patient_id": ["a", "a"], "day": [0, 21], "ca125": [400.0, 150.0]}))
    assert out.loc[0, "status"] == "unconfirmed" and out.loc[0, "uln"] == 35
    with pytest.raises(InvalidInputError, match="lacks column"):
        g.gcig_cohort(pd.DataFrame({"patient_id": ["a"], "day": [0]}))
    with pytest.raises(InvalidInputError, match="repeats patient"):
        g.gcig_cohort(pd.DataFrame({"patient_id": [], "day": [], "ca125": []}),
                      pd.DataFrame({"patient_id": ["a", "a"]}))
    empty = g.gcig_cohort(pd.DataFrame({"patient_id": [], "day": [], "ca125": []}))
    assert list(empty.columns) == list(g.COHORT_COLUMNS) and len(empty) == 0


# --------------------------------------------------------------------------------------
# Properties (hypothesis)
# --------------------------------------------------------------------------------------

_series = st.integers(min_value=1, max_value=8).flatmap(lambda n: st.tuples(
    st.integers(min_value=-14, max_value=0),
    st.lists(st.integers(min_value=1, max_value=40), min_size=n, max_size=n),
    st.lists(st.integers(min_value=1, max_value=3000), min_size=n + 1, max_size=n + 1),
))


def _days(start, gaps):
    return [start, *np.cumsum(gaps).tolist()]


def _summary(res):
    d = res.to_dict()
    for key in ("settings", "reason", "uln"):
        d.pop(key)
    return d


@hsettings(max_examples=150, deadline=None)
@given(_series, st.sampled_from([0.37, 3.0, 1 / 3, 20.0, 28.0]))
def test_scaling_values_and_uln_changes_nothing(series, c):
    start, gaps, values = series
    from ca125kinetics import io
    from ca125kinetics.markers import MARKERS

    # beyond what any assay reports, and an implausible ULN, are refused (the markers reader's limits)
    assume(max(values) * c <= MARKERS["ca125"].plausible_max and MARKERS["ca125"].uln_min <= 35 * c <= io.ULN_MAX)
    days = _days(start, gaps)
    for func, scaled_keys in ((g.gcig_response, ("baseline_value", "response_value", "confirmation_value",
                                                  "last_value")),
                              (g.gcig_progression, ("baseline_value", "progression_value", "confirmation_value",
                                                    "threshold", "nadir"))):
        a = _summary(func(days, values, uln=35))
        b = _summary(func(days, [v * c for v in values], uln=35 * c))
        for key in scaled_keys:
            if a[key] is not None:
                assert b[key] == pytest.approx(a[key] * c, rel=1e-9)
            a.pop(key), b.pop(key)
        assert a == b


@hsettings(max_examples=100, deadline=None)
@given(_series, st.integers(min_value=-20000, max_value=20000))
def test_shifting_dates_and_treatment_start_changes_nothing(series, shift):
    start, gaps, values = series
    days = _days(start, gaps)
    t0 = dt.date(2020, 6, 1) + dt.timedelta(days=shift)
    dates = [t0 + dt.timedelta(days=d) for d in days]
    events = [(t0 + dt.timedelta(days=5), "surgery")]
    assert g.gcig_response(dates, values, treatment_start=t0, events=events) == g.gcig_response(
        days, values, events=[(5, "surgery")])
    assert g.gcig_progression(dates, values, treatment_start=t0) == g.gcig_progression(days, values)


@hsettings(max_examples=150, deadline=None)
# the appended value from 1 U/mL, as the series' values: a CA-125 of 0 is refused by the reader
# (no assay measures 0), which an example drawing 0 met as an error instead of a sample
@given(_series, st.integers(min_value=1, max_value=200), st.integers(min_value=1, max_value=100000))
def test_appending_after_confirmation_never_unconfirms(series, gap, extra):
    start, gaps, values = series
    days = _days(start, gaps)
    res = g.gcig_response(days, values)
    if res.responded:
        more = g.gcig_response([*days, days[-1] + gap], [*values, extra])
        assert (more.responded, more.category, more.response_day, more.confirmation_day) == (
            True, res.category, res.response_day, res.confirmation_day)


@hsettings(max_examples=100, deadline=None)
@given(_series)
def test_responses_are_consistent(series):
    start, gaps, values = series
    days = _days(start, gaps)
    res = g.gcig_response(days, values)
    assert res.status in g.RESPONSE_STATUSES
    if res.responded:
        assert res.baseline_value >= 70
        assert res.response_value <= 0.5 * res.baseline_value
        assert res.confirmation_day - res.response_day >= 28
        assert (res.category == "CR") == (res.confirmation_value <= 35)
    prog = g.gcig_progression(days, values)
    if prog.progressed:
        assert prog.progression_value >= prog.threshold and prog.confirmation_value >= prog.threshold
        assert prog.confirmation_day - prog.progression_day >= 7
        assert prog.progression_value > 35


@hsettings(max_examples=100, deadline=None)
@given(_series, st.integers(min_value=1, max_value=9))
def test_cohort_combined_category_is_the_functions(series, keep):
    """One rule: ``gcig_cohort``'s combined category equals ``combined_response`` on the
    patient's GCIG results, for every RECIST category and RECIST unknown (a series cut to
    ``keep`` samples, so that some have no on-treatment sample)."""
    start, gaps, values = series
    days, values = _days(start, gaps)[:keep], values[:keep]
    recists = ["CR", "PR", "SD", "PD", None]
    markers = _markers([(r or "no_recist", d, v, False, 35, None, None, None)
                        for r in recists for d, v in zip(days, values)])
    clinical = pd.DataFrame({"patient_id": [r or "no_recist" for r in recists], "recist": recists})
    table = g.gcig_cohort(markers, clinical).set_index("patient_id")["combined_category"]
    response, progression = g.gcig_response(days, values), g.gcig_progression(days, values)
    for recist in recists:
        want = g.combined_response(recist, ca125_response=response, ca125_progression=progression).category
        got = table[recist or "no_recist"]
        assert (None if pd.isna(got) else got) == want, (recist, days, values)


def test_gcig_refuses_another_marker():
    days, values = [0, 30, 60], [200.0, 80.0, 40.0]
    for fn in (g.gcig_response, g.gcig_progression):
        with pytest.raises(InvalidInputError, match="defined for CA-125 only, not for CEA"):
            fn(days, values, marker="cea")
    assert g.gcig_response(days, values, marker="ca125").status == g.gcig_response(days, values).status
    cea = pd.DataFrame({"patient_id": ["1"] * 3, "day": days, "cea": values})
    with pytest.raises(InvalidInputError, match="defined for CA-125 only, not for CEA"):
        g.gcig_cohort(cea)
    with pytest.raises(InvalidInputError, match="defined for CA-125 only"):
        g.gcig_cohort(cea.rename(columns={"cea": "ca125"}), marker="cea")


_FUZZ = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True),
                  st.text(max_size=10), st.sampled_from(["<5", "2024-03-04", "01/03/2024", "1,200", "nan"]),
                  st.dates().map(lambda d: d), st.just(float("nan")))


@hsettings(max_examples=300, deadline=None)
@given(days=st.lists(_FUZZ, max_size=6), values=st.lists(_FUZZ, max_size=6),
       start=st.one_of(st.none(), _FUZZ), uln=st.one_of(st.none(), _FUZZ))
def test_gcig_response_raises_only_package_errors(days, values, start, uln):
    """Whatever the input, gcig_response returns a result or raises the package's own errors."""
    from ca125kinetics.errors import Ca125KineticsError

    try:
        g.gcig_response(days, values, uln=uln, treatment_start=start)
    except Ca125KineticsError:
        pass



@pytest.mark.parametrize("day", [9.223372036854776e18, -(2 ** 70), 10 ** 6 + 1, 5000, -367, 1831])
def test_a_day_beyond_the_plausible_range_is_refused_as_the_files_refuse_it(day):
    """Found by the fuzz test: a whole-number day of 9.2e18 overflowed the kernel's 64-bit
    integers (a raw OverflowError). The lists had their own limit (a million days either
    side) while the files refused days outside io.DAY_RANGE (-366..1830): the lists are now
    read by the markers reader, with its range, which ``day_range=`` states as it does there."""
    from ca125kinetics import io

    with pytest.raises(InvalidInputError, match="is outside the plausible range -366..1830"):
        g.gcig_response([0, day], [400.0, 100.0])
    with pytest.raises(InvalidInputError, match="is outside the plausible range -366..1830"):
        io.read_markers(pd.DataFrame({"patient_id": "p", "day": [0, day], "ca125": [400.0, 100.0]}))
    assert g.gcig_response([0, 1830], [400.0, 100.0]).status == "unconfirmed"
    if abs(day) < 10 ** 7:
        wide = (-10 ** 7, 10 ** 7)
        assert g.gcig_progression([0, day], [400.0, 100.0], day_range=wide).status
        assert g.gcig_response([0, day], [400.0, 100.0], day_range=wide).status


@pytest.mark.parametrize(("days", "values", "cell"), [
    ([0, 21], [400, -1], "-1"), ([0, 21], [400, 1.5e6], "1.5e+06"), ([0, 21], [400, "abc"], "abc"),
    ([0, 21.5], [400, 180], None), ([0, 5000], [400, 180], None), ([0, 21, 21], [400, 180, 190], None),
])
def test_a_list_and_a_file_with_the_same_bad_value_give_the_same_message(tmp_path, days, values, cell):
    """One validator: the message a file gets (after its location) is the one the lists get."""
    from ca125kinetics import io

    path = tmp_path / "markers.csv"
    pd.DataFrame({"patient_id": "patient", "day": days, "ca125": values}).to_csv(path, index=False)
    with pytest.raises(InvalidInputError) as from_file:
        io.read_markers(path)
    with pytest.raises(InvalidInputError) as from_lists:
        g.gcig_response(days, values)
    file_text, list_text = str(from_file.value), str(from_lists.value)
    assert file_text.split("': ", 1)[1].split("\n")[0] == list_text.split("': ", 1)[1].split("\n")[0]
    assert "row days[1]/values[1]" in list_text and from_lists.value.source == "gcig_response"
    if cell is not None:
        assert cell in list_text

@pytest.mark.parametrize("repeat", [1, 200])   # scanned in Python, and by pandas
def test_factorize_codes_missing_cells_minus_one(repeat):
    """The cohort's factorization of a text column (assays): codes into the distinct values in
    order of appearance, -1 for every kind of missing cell."""
    cells = ["A", None, "B ", float("nan"), "A", pd.NA, "B ", pd.NaT]
    values = np.array(cells * repeat, dtype=object)
    codes, distinct = g._factorize(values)
    assert distinct == ["A", "B "]
    assert codes.tolist() == [0, -1, 1, -1, 0, -1, 1, -1] * repeat


@pytest.mark.parametrize("chunk", [[], ["--chunk-rows", "3"]])
def test_clinical_rows_the_reader_flags_make_the_patient_invalid(tmp_path, capsys, chunk):
    """A clinical table read with on_error='flag' (as ca125 gcig reads it): a patient with two
    clinical rows of different RECIST, or a RECIST the reader cannot read, was reported as if
    the first row / no RECIST were given (the reader's problem was dropped). Now the patient is
    invalid_input with the reader's reason, read whole or streamed, as gcig_cohort's docstring
    says of an unknown RECIST."""
    from ca125kinetics.cli import main
    from ca125kinetics.io import read_clinical, read_markers

    rows = [(p, d, v) for p in ("a", "b", "c") for d, v in ((-3, 400.0), (21, 150.0), (42, 60.0), (70, 20.0))]
    markers = pd.DataFrame(rows, columns=["patient_id", "day", "ca125"])
    clinical = pd.DataFrame({"patient_id": ["a", "b", "b", "c"], "recist": ["PR", "SD", "PD", "XX"]})
    m_path, c_path = tmp_path / "m.csv", tmp_path / "c.csv"
    markers.to_csv(m_path, index=False)
    clinical.to_csv(c_path, index=False)
    read = read_clinical(c_path, on_error="flag", require=("patient_id",))
    table = g.gcig_cohort(read_markers(m_path, clinical=read, on_error="flag"), read).set_index("patient_id")
    assert table["status"].to_dict() == {"a": "response", "b": "invalid_input", "c": "invalid_input"}
    assert "patient 'b' has more than one clinical row" in table.loc["b", "reason"]
    assert "unknown RECIST category 'XX'" in table.loc["c", "reason"]
    assert table.loc["a", "combined_category"] == "PR" and pd.isna(table.loc["b", "combined_category"])
    assert main(["gcig", str(m_path), "--clinical", str(c_path), "--format", "csv", *chunk]) == 0
    cli = pd.read_csv(StringIO(capsys.readouterr().out), dtype=str).set_index("patient_id")
    assert cli["status"].to_dict() == table["status"].to_dict()
    assert cli["reason"].to_dict() == table["reason"].to_dict()


def test_gcig_reasons_of_flagged_patients_are_scorings_gcig_reasons():
    """gcig_cohort and scoring give a flagged patient the same GCIG status and reason: the
    markers' problem when its markers are flagged (also when its clinical row is flagged too:
    scoring's overall ``reason`` then names the clinical one, the GCIG columns the markers'
    input of the rules), the clinical problem when only the clinical row is."""
    from ca125kinetics import predict_cohort
    from ca125kinetics.io import read_clinical, read_markers

    markers = pd.DataFrame({"patient_id": [p for p in "abc" for _ in range(4)], "day": [-3, 21, 42, 70] * 3,
                            "ca125": ["400", "150", "x60", "20", "400", "150", "60", "20", "400", "150", "60", "20"]})
    clinical = pd.DataFrame({"patient_id": ["a", "b", "c"], "recist": ["XX", "YY", "PR"], "age": [60, 61, 62]})
    read = read_clinical(clinical, on_error="flag", require=("patient_id",))
    table = g.gcig_cohort(read_markers(markers, clinical=read, on_error="flag"), read).set_index("patient_id")
    scored = predict_cohort(markers, clinical).set_index("patient_id")
    assert table["status"].to_dict() == {"a": "invalid_input", "b": "invalid_input", "c": "response"}
    assert "'x60' is not a number" in table.loc["a", "reason"]
    assert "unknown RECIST category 'YY'" in table.loc["b", "reason"]
    assert "unknown RECIST category 'XX'" in scored.loc["a", "reason"]
    for c, s in (("status", "gcig_status"), ("reason", "gcig_reason"), ("progression_reason", "progression_reason")):
        assert table[c].to_dict() == scored[s].to_dict()


def test_every_reason_says_that_samples_were_set_aside():
    """A confirmed PR read "every sample in between <= 50 % of baseline" while a 500 U/mL drawn
    two weeks after a paracentesis had been set aside without a word."""
    from ca125kinetics import gcig_cohort

    m = pd.DataFrame({"patient_id": ["1"] * 6, "day": [0, 21, 30, 42, 63, 84],
                      "ca125": [400, 150, None, 500, 150, 140],
                      "event": [None, None, "paracentesis", None, None, None]})
    row = gcig_cohort(m).iloc[0]
    assert row["status"] == "response" and row["n_excluded"] == 1
    for column in ("reason", "progression_reason"):
        assert row[column].endswith("; 1 sample(s) set aside by the exclusion windows (28 days after a procedure; "
                                    "every sample after mouse antibodies)"), column
    kept = gcig_cohort(m.assign(event=None).drop(index=2)).iloc[0]        # without the paracentesis
    assert "set aside" not in kept["reason"] and kept["status"] == "not_confirmed"   # the 500 breaks it


_ONTO_BOUNDARY = [
    ([-3, 21], [69.99999, 30], "baseline 69.99999 U/mL < 2 x ULN (70 U/mL)"),
    ([-3, 21, 42], [400, 300, 200.00001], "(200 U/mL); lowest 200.00001 U/mL"),
    ([-3, 21, 42, 63], [400, 150, 200.00001, 30], "200.00001 U/mL > 50 % of baseline (200 U/mL)"),
    ([-3, 21, 42, 63], [400, 100, 110.00001, 30], "110.00001 U/mL > 1.10 x previous 100 U/mL (110 U/mL)"),
    ([-3, 21, 49], [400, 150, 35.00001], "confirming sample 35.00001 U/mL on day 49 (28 days later, > ULN 35 U/mL)"),
]


@pytest.mark.parametrize("days, values, text", _ONTO_BOUNDARY)
def test_a_reason_never_rounds_a_value_onto_the_boundary_it_failed(days, values, text):
    """Reasons wrote values to 6 significant digits, so 200.00001 against a boundary of 200
    read '200 U/mL > 50 % of baseline (200 U/mL)': the value and its boundary are written
    apart, alone and in a cohort large enough for Arrow texts; other values stay short."""
    assert text in g.gcig_response(days, values).reason
    markers = pd.concat([pd.DataFrame({"patient_id": f"p{i:03d}", "day": days, "ca125": values}) for i in range(300)])
    assert text in g.gcig_cohort(markers)["reason"].iloc[7]
    assert "(198 U/mL)" in g.gcig_response([-3, 21, 42, 63], [400, 180, 199, 30]).reason    # 1.1 x 180


def test_gcig_cohort_refuses_a_clinical_column_named_like_recist():
    """g.gcig_cohort(markers, clinical with 'RECIST') returned no recist or combined category
    without a word: the column was ignored. It is refused as the readers refuse it; a column
    gcig_cohort does not read (ECOG) is left alone."""
    markers = pd.DataFrame({"patient_id": ["a"] * 3, "day": [0, 21, 42], "ca125": [400.0, 150.0, 60.0]})
    for name in ("RECIST", "Recist", " recist_"):
        with pytest.raises(InvalidInputError, match=rf"'{name}' looks like 'recist'"):
            g.gcig_cohort(markers, pd.DataFrame({"patient_id": ["a"], name: ["PR"]}))
    out = g.gcig_cohort(markers, pd.DataFrame({"patient_id": ["a"], "recist": ["PR"], "ECOG": [1]}))
    assert out["combined_category"].tolist() == ["PR"]


def test_a_blank_recist_cell_of_a_hand_built_clinical_frame_is_unknown_as_the_readers_read_it():
    """A RECIST cell '' (or spaces) in a DataFrame made the patient invalid_input ("got ''; use
    CR, PR, SD or PD, or leave it empty"), where read_clinical reads it as an empty cell:
    unknown, as None is."""
    markers = pd.DataFrame({"patient_id": ["a"] * 4 + ["b"] * 4 + ["c"] * 4, "day": [-2, 21, 42, 63] * 3,
                            "ca125": [400.0, 150.0, 60.0, 30.0] * 3})
    clinical = pd.DataFrame({"patient_id": ["a", "b", "c"], "recist": ["", "  ", None]})
    out = g.gcig_cohort(markers, clinical)
    assert out["status"].tolist() == ["response"] * 3
    assert out["combined_category"].tolist() == g.gcig_cohort(
        markers, clinical.assign(recist=None))["combined_category"].tolist()
    from ca125kinetics.io import read_clinical

    assert read_clinical(clinical, require=("patient_id",))["recist"].isna().all()


def test_a_rise_within_the_normal_range_is_exempt_from_the_10_percent_rule_not_from_the_50_percent_line():
    """Decision (docs/clinical-rules.md section 1, step 4). With the GCIG settings the 50 %
    line is never below the ULN, so a rise within the normal range cannot cross it: 70, 20, 34,
    35 (ULN 35, line 35) is a CR. Only settings with evaluable_factor x response_fraction < 1
    put the line below the ULN; then the line holds within the normal range too."""
    default = g.gcig_response([0, 21, 42, 63], [70, 20, 34, 35])
    assert (default.status, default.category) == ("response", "CR")
    low_line = g.gcig_response([0, 21, 42, 63], [60, 25, 34, 20], settings=GcigSettings(evaluable_factor=1.5))
    assert low_line.status == "not_confirmed" and low_line.response_day == 21
    assert "broken on day 42: 34 U/mL > 50 % of baseline (30 U/mL)" in low_line.reason
    # within the line, the same rise within the normal range breaks nothing
    within = g.gcig_response([0, 21, 42, 63], [60, 20, 29, 20], settings=GcigSettings(evaluable_factor=1.5))
    assert (within.status, within.category) == ("response", "CR")
