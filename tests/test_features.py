"""Tests of features.build_patient_frame: one row per patient, the single model input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ca125kinetics.errors import InvalidInputError
from ca125kinetics.features import CLINICAL_PREDICTORS, DERIVED_COLUMNS, build_patient_frame
from ca125kinetics.io import read_clinical, read_markers


def _clinical(**overrides):
    rows = [
        dict(patient_id="001", age=60.0, ecog=0, ascites_ml=0.0, figo_stage="IIIC", primary_residual_disease=0,
             pfi_months=18.0, recurrence_pattern="single", recist="PR", complete_resection=1),
        dict(patient_id="002", age=71.0, ecog=1, ascites_ml=600.0, figo_stage="IV", primary_residual_disease=None,
             pfi_months=8.5, recurrence_pattern="carcinomatosis", recist="SD", complete_resection=0),
        dict(patient_id="003", age=55.0, ecog=2, ascites_ml=None, figo_stage="II", primary_residual_disease=1,
             pfi_months=30.0, recurrence_pattern="multiple", recist=None, complete_resection=None),
    ]
    frame = pd.DataFrame(rows)
    for key, value in overrides.items():
        frame[key] = value
    return read_clinical(frame)


def _markers():
    # 001: GCIG baseline on day -7 (400), decline; 002: only a pretreatment value on day -30
    # (outside the 14-day GCIG window) then on-treatment values; 003: no markers at all.
    rows = [("001", -30, 500.0), ("001", -7, 400.0), ("001", 21, 180.0), ("001", 42, 95.0), ("001", 63, 50.0),
            ("002", -30, 250.0), ("002", 21, 200.0), ("002", 42, 150.0), ("002", 63, 140.0)]
    return read_markers(pd.DataFrame(rows, columns=["patient_id", "day", "ca125"]))


def test_one_row_per_patient_sorted_with_documented_columns():
    clin, mk = _clinical(), _markers()
    frame = build_patient_frame(mk, clin)
    assert frame["patient_id"].tolist() == ["001", "002", "003"]  # union, sorted, clinical-only kept
    assert isinstance(frame.index, pd.RangeIndex)
    head = ["patient_id", *CLINICAL_PREDICTORS, *DERIVED_COLUMNS]
    assert frame.columns[: len(head)].tolist() == head
    assert frame.columns[-1] == "problem"
    assert {"day_1", "ca125_1", "censored_1", "uln", "n_excluded"} <= set(frame.columns)
    assert "complete_resection" not in frame.columns  # the outcome is never model input
    assert frame["ecog"].dtype == "Int64" and frame["primary_residual_disease"].dtype == "Int64"
    assert frame["figo_stage"].tolist() == ["III", "IV", "II"]  # normalised by read_clinical
    assert pd.isna(frame.loc[1, "primary_residual_disease"]) and np.isnan(frame.loc[2, "ascites_ml"])
    assert frame.loc[2, "recist"] is None


def test_ca125_at_recurrence_is_gcig_baseline_else_latest_pretreatment():
    frame = build_patient_frame(_markers(), _clinical())
    # 001: GCIG baseline = latest sample within 14 days before the first dose (day -7), not day -30
    assert frame.loc[0, "ca125_at_recurrence"] == 400.0
    assert frame.loc[0, "gcig_evaluable"] == True  # noqa: E712 - nullable boolean
    # 002: no sample within the GCIG window: the latest pretreatment value (day -30)
    assert frame.loc[1, "ca125_at_recurrence"] == 250.0
    assert frame.loc[1, "gcig_evaluable"] == False  # noqa: E712
    # 003: no markers
    assert np.isnan(frame.loc[2, "ca125_at_recurrence"])
    assert frame.loc[2, "gcig_status"] == "no_markers"
    assert np.isnan(frame.loc[2, "day_1"])
    assert frame.loc[2, "n_excluded"] == 0


def test_ca125_at_recurrence_looks_back_six_weeks_without_a_gcig_baseline():
    """A sample of any age was read as the CA-125 at recurrence: a remission value from day
    -330 scored the iMODEL low risk. Without a GCIG baseline, the latest sample from day -42
    on counts; an older one leaves the value unknown."""
    from ca125kinetics.features import RECURRENCE_LOOKBACK_DAYS, ca125_at_recurrence

    assert RECURRENCE_LOOKBACK_DAYS == 42
    assert ca125_at_recurrence(np.nan, [-42, 21], [300.0, 100.0]) == 300.0
    assert np.isnan(ca125_at_recurrence(np.nan, [-43, 21], [300.0, 100.0]))
    assert np.isnan(ca125_at_recurrence(np.nan, [-330, 20], [20.0, 300.0]))
    assert ca125_at_recurrence(np.nan, [-90, -40, 21], [60.0, 300.0, 100.0]) == 300.0
    assert ca125_at_recurrence(250.0, [-90, -3], [60.0, 250.0]) == 250.0      # the baseline, when there is one


def test_series_columns_hold_the_used_samples():
    frame = build_patient_frame(_markers(), _clinical())
    row = frame.iloc[0]
    # the wide form keeps samples within the kinetics window (pretreatment -14..0, then up to day 100)
    assert [row["day_1"], row["day_2"], row["day_3"], row["day_4"]] == [-7.0, 21.0, 42.0, 63.0]
    assert [row["ca125_1"], row["ca125_4"]] == [400.0, 50.0]


def test_without_clinical_the_predictors_are_na_and_columns_identical():
    mk = _markers()
    with_clin = build_patient_frame(mk, _clinical())
    without = build_patient_frame(mk, None)
    assert without["patient_id"].tolist() == ["001", "002"]
    assert without.columns.tolist() == with_clin.columns.tolist()
    assert without[list(CLINICAL_PREDICTORS)].isna().all().all()
    assert without["ca125_at_recurrence"].tolist() == [400.0, 250.0]


def test_problem_is_carried_from_markers_and_clinical():
    raw = pd.DataFrame({"patient_id": ["001", "001", "002", "002", "002"], "day": [-3, 21, -2, 21, 42],
                        "ca125": ["300", "abc", "100", "80", "60"]})
    mk = read_markers(raw, on_error="flag")
    clin = read_clinical(pd.DataFrame({"patient_id": ["001", "002"], "ecog": [0, 9]}), on_error="flag",
                         require=("patient_id",))
    frame = build_patient_frame(mk, clin)
    assert "ca125" in frame.loc[0, "problem"]  # from the markers
    assert "ecog" in frame.loc[1, "problem"]  # from the clinical table


def test_bad_input_raises_typed_errors():
    with pytest.raises(InvalidInputError, match="lack column"):
        build_patient_frame(pd.DataFrame({"patient_id": ["1"], "day": [0]}))
    with pytest.raises(InvalidInputError, match="repeats patient"):
        build_patient_frame(_markers(), pd.DataFrame({"patient_id": ["001", "001"]}))
    with pytest.raises(InvalidInputError, match="DataFrame"):
        build_patient_frame("markers.csv")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.randoms(use_true_random=False))
def test_row_order_of_the_inputs_does_not_matter(rnd):
    mk, clin = _markers(), _clinical()
    expected = build_patient_frame(mk, clin)
    mk_order = list(range(len(mk)))
    clin_order = list(range(len(clin)))
    rnd.shuffle(mk_order)
    rnd.shuffle(clin_order)
    shuffled = build_patient_frame(mk.iloc[mk_order].reset_index(drop=True),
                                   clin.iloc[clin_order].reset_index(drop=True))
    pd.testing.assert_frame_equal(shuffled, expected)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.none(), st.floats(1, 1000)),
                          st.lists(st.tuples(st.integers(-20, 60), st.one_of(st.none(), st.floats(0, 500))),
                                   max_size=6)), min_size=1, max_size=8))
def test_ca125_at_recurrence_arrays_is_the_rule_patient_by_patient(patients):
    """Many patients at once: the GCIG baseline, else the value of the latest day <= 0 (the
    last such row when a day repeats), else NaN -- the rule written out here row by row."""
    from ca125kinetics.features import ca125_at_recurrence_arrays

    baseline = np.array([np.nan if b is None else b for b, _ in patients])
    rows = [r for _, rs in patients for r in rs]
    offsets = np.cumsum([0] + [len(rs) for _, rs in patients])
    days = np.array([d for d, _ in rows], dtype=np.int64)
    values = np.array([np.nan if v is None else v for _, v in rows], dtype=float)
    got = ca125_at_recurrence_arrays(baseline, offsets, days, values)
    for i, (b, rs) in enumerate(patients):
        expected = b if b is not None else np.nan
        if b is None:
            best = None
            for d, v in rs:
                if d <= 0 and v is not None and (best is None or d >= best):
                    best, expected = d, v
        assert got[i] == expected or (np.isnan(got[i]) and np.isnan(expected))


def test_ca125_at_recurrence_censored_flags_the_row_the_value_comes_from():
    markers = read_markers(pd.DataFrame({
        "patient_id": ["a", "a", "b", "b", "c", "c", "d"],
        "day": [-30, -3, -30, 21, -40, -5, 21],
        "ca125": ["<500", "300", "<200", "100", "400", "<20", "50"]}))
    clinical = pd.DataFrame({"patient_id": ["a", "b", "c", "d"]})
    frame = build_patient_frame(markers, clinical, censored_flag=True).set_index("patient_id")
    # a: the GCIG baseline (day -3) is measured; b: the latest pretreatment value is "<200";
    # c: the baseline is "<20"; d: no pretreatment value
    assert frame["ca125_at_recurrence"].tolist()[:3] == [300.0, 200.0, 20.0]
    assert frame["ca125_at_recurrence_censored"].tolist() == [False, True, True, False]
    # not a model input: a fitted model expects the frame without it
    assert "ca125_at_recurrence_censored" not in build_patient_frame(markers, clinical).columns


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.none(), st.integers(-14, 0)),
                          st.lists(st.tuples(st.integers(-20, 60), st.one_of(st.none(), st.floats(0, 500)),
                                             st.booleans()), max_size=6)), min_size=1, max_size=8))
def test_ca125_at_recurrence_censored_is_the_flag_of_the_row_the_rule_takes(patients):
    """The flag of the last row with a value on the baseline day (when there is a baseline),
    else of the last row of the latest day <= 0 with a value, else False -- written out here
    row by row."""
    from ca125kinetics.features import ca125_at_recurrence_censored

    baseline_day = np.array([np.nan if b is None else b for b, _ in patients], dtype=float)
    rows = [r for _, rs in patients for r in rs]
    offsets = np.cumsum([0] + [len(rs) for _, rs in patients])
    days = np.array([d for d, _, _ in rows], dtype=np.int64)
    values = np.array([np.nan if v is None else v for _, v, _ in rows], dtype=float)
    flags = np.array([c for _, _, c in rows], dtype=bool)
    got = ca125_at_recurrence_censored(baseline_day, offsets, days, values, flags)
    for i, (b, rs) in enumerate(patients):
        taken = None
        for d, v, c in rs:       # in order: a later row on the same day wins
            if v is None:
                continue
            if (d == b) if b is not None else (d <= 0 and (taken is None or d >= taken[0])):
                taken = (d, c)
        assert got[i] == (taken is not None and taken[1])
