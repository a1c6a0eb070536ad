"""Tests of the published selection scores (AGO, iMODEL, MSKCC) for complete resection.

Reference values are literals taken from the papers, not from the module:
* AGO: Harter P et al., Ann Surg Oncol 2006 (DESKTOP I): positive iff ECOG 0, ascites < 500 mL
  and complete resection at primary surgery.
* iMODEL: Tian WJ et al., Ann Surg Oncol 2012;19:597-604 (abstract checked on the UpToDate
  abstract page): FIGO III-IV 0.8, residual 1.5, PFI < 16 months 2.4, ECOG 2-3 2.4,
  CA-125 > 105 U/mL 1.8, ascites 3.0; total 0-11.9; low risk 0-4.7.
* MSKCC: Chi DS et al., Cancer 2006;106:1933-1939, table as commonly reproduced (NOT verified
  against the primary text, see the header of data/mskcc_guideline.csv).
"""

from __future__ import annotations

import itertools
import math
from importlib import resources
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

import ca125kinetics
from ca125kinetics import (
    InvalidInputError,
    ScoreSettings,
    ago_score,
    imodel_score,
    mskcc_category,
    published_scores,
    read_clinical,
    score_for_auc,
)
from ca125kinetics import scores as scores_module
from ca125kinetics.scores import PUBLISHED_SCORE_COLUMNS, STATUSES, published_scores_arrays

# ------------------------------------------------------------------------------------ AGO

# (ecog, ascites_ml, primary_residual_disease) -> positive; every present combination at the
# 499 / 500 mL boundary
AGO_TRUTH = [
    ((0, 499, 0), True),
    ((0, 499, 1), False),
    ((0, 500, 0), False),
    ((0, 500, 1), False),
    ((1, 499, 0), False),
    ((1, 499, 1), False),
    ((1, 500, 0), False),
    ((1, 500, 1), False),
    ((0, 0, 0), True),
    ((0, 499.99, 0), True),
    ((0, 500.01, 0), False),
    ((2, 0, 0), False),
    ((3, 0, 0), False),
    ((4, 0, 0), False),
]


@pytest.mark.parametrize("inputs, expected", AGO_TRUTH)
def test_ago_truth_table(inputs, expected):
    result = ago_score(*inputs)
    assert result.positive is expected
    assert result.status == "ok"
    assert result.inputs == dict(zip(("ecog", "ascites_ml", "primary_residual_disease"), inputs))


@pytest.mark.parametrize("inputs, positive, status", [
    ((None, 0, 0), None, "missing_input"),
    ((0, None, 0), None, "missing_input"),
    ((0, 0, None), None, "missing_input"),
    ((None, None, None), None, "missing_input"),
    ((1, None, None), False, "ok_with_missing"),   # ECOG 1 decides: negative regardless
    ((0, None, 1), False, "ok_with_missing"),
    ((None, 600, None), False, "ok_with_missing"),
    ((None, 499, 0), None, "missing_input"),
    ((np.nan, 0, 0), None, "missing_input"),
    ((pd.NA, 0, 0), None, "missing_input"),
])
def test_ago_three_valued_missing_logic(inputs, positive, status):
    result = ago_score(*inputs)
    assert result.positive is positive
    assert result.status == status
    if status == "missing_input":
        assert "missing" in result.reason and "decide" in result.reason
    else:
        assert "cannot change a negative score" in result.reason


def _ago_oracle(e, a, r):
    fails = (e is not None and e != 0) or (a is not None and a >= 500) or (r is not None and r != 0)
    if fails:
        return False, ("ok_with_missing" if None in (e, a, r) else "ok")
    if None in (e, a, r):
        return None, "missing_input"
    return True, "ok"


def test_ago_full_grid_with_missing_values():
    for e, a, r in itertools.product([0, 1, 2, 3, 4, None], [0, 499, 499.99, 500, 501, None], [0, 1, None]):
        result = ago_score(e, a, r)
        assert (result.positive, result.status) == _ago_oracle(e, a, r), (e, a, r)


def test_ago_reasons_name_failed_criteria():
    reason = ago_score(2, 750, 1).reason
    assert "ECOG 2 (needs 0)" in reason
    assert "ascites 750 mL (needs < 500 mL)" in reason
    assert "residual disease" in reason
    assert ago_score(0, 499, 0).reason.startswith("AGO positive")


# ------------------------------------------------------------------------------------ iMODEL

PAPER_POINTS = {  # Tian 2012
    "figo_stage": 0.8, "primary_residual_disease": 1.5, "pfi_months": 2.4,
    "ecog": 2.4, "ca125_at_recurrence": 1.8, "ascites_ml": 3.0,
}
ZERO = {"figo_stage": "I", "primary_residual_disease": 0, "pfi_months": 24.0, "ecog": 0,
        "ca125_at_recurrence": 35.0, "ascites_ml": 0.0}
SCORING = {"figo_stage": "III", "primary_residual_disease": 1, "pfi_months": 15.0, "ecog": 2,
           "ca125_at_recurrence": 200.0, "ascites_ml": 100.0}


def imodel(**changes):
    return imodel_score(**{**ZERO, **changes})


def test_imodel_zero_patient():
    result = imodel()
    assert result.points == 0.0 and result.low_risk is True and result.status == "ok"
    assert "no risk item" in result.reason


@pytest.mark.parametrize("item", sorted(PAPER_POINTS))
def test_imodel_each_item_points(item):
    result = imodel(**{item: SCORING[item]})
    assert result.points == PAPER_POINTS[item]
    assert result.items[item] == PAPER_POINTS[item]
    assert sum(v for k, v in result.items.items() if k != item) == 0


@pytest.mark.parametrize("item, value, points", [
    ("pfi_months", 16.0, 0.0), ("pfi_months", 16.01, 0.0), ("pfi_months", 15.99, 2.4), ("pfi_months", 0, 2.4),
    ("ca125_at_recurrence", 105.0, 0.0), ("ca125_at_recurrence", 105.1, 1.8), ("ca125_at_recurrence", 104.9, 0.0),
    ("ascites_ml", 0, 0.0), ("ascites_ml", 0.5, 3.0), ("ascites_ml", 5000, 3.0),
    ("figo_stage", "I", 0.0), ("figo_stage", "IC1", 0.0), ("figo_stage", "II", 0.0), ("figo_stage", "IIB", 0.0),
    ("figo_stage", "III", 0.8), ("figo_stage", "iiic", 0.8), ("figo_stage", "IV", 0.8),
    ("figo_stage", "IVB", 0.8), ("figo_stage", " FIGO IIIA1 ", 0.8),
    ("ecog", 0, 0.0), ("ecog", 1, 0.0), ("ecog", 2, 2.4), ("ecog", 3, 2.4),
    ("ecog", 4, 2.4),  # Decision: ECOG 4 counted with 2-3 (ScoreSettings.imodel_ecog4="poor")
    ("primary_residual_disease", 0, 0.0), ("primary_residual_disease", 1, 1.5),
])
def test_imodel_item_boundaries(item, value, points):
    assert imodel(**{item: value}).points == points


@pytest.mark.parametrize("items, total, low", [
    (("figo_stage", "primary_residual_disease", "pfi_months"), 4.7, True),   # exactly 4.7 is low
    (("figo_stage", "primary_residual_disease", "ecog"), 4.7, True),
    (("ca125_at_recurrence", "ascites_ml"), 4.8, False),
    (("pfi_months", "ecog"), 4.8, False),
    (("ascites_ml", "ca125_at_recurrence"), 4.8, False),
    (tuple(PAPER_POINTS), 11.9, False),                                       # maximum
    ((), 0.0, True),
])
def test_imodel_totals_and_threshold(items, total, low):
    result = imodel(**{i: SCORING[i] for i in items})
    assert result.points == total  # exact: summed in tenths
    assert result.low_risk is low
    assert result.points_min == result.points_max == total
    assert ("low risk" if low else "high risk") in result.reason


def test_imodel_every_combination_of_items():
    for flags in itertools.product([False, True], repeat=6):
        chosen = [item for item, on in zip(PAPER_POINTS, flags) if on]
        expected = round(sum(PAPER_POINTS[i] for i in chosen), 1)
        result = imodel(**{i: SCORING[i] for i in chosen})
        assert result.points == expected, chosen
        assert result.low_risk is (expected <= 4.7), chosen
        assert 0.0 <= result.points <= 11.9


@pytest.mark.parametrize("changes, lo, hi, low, status", [
    ({"figo_stage": None, "ca125_at_recurrence": None, "primary_residual_disease": 1, "pfi_months": 10},
     3.9, 6.5, None, "missing_input"),
    ({"ascites_ml": None}, 0.0, 3.0, True, "ok_with_missing"),
    ({"ascites_ml": None, "pfi_months": 10, "ecog": 2}, 4.8, 7.8, False, "ok_with_missing"),
    ({"ascites_ml": None, "figo_stage": "IV", "primary_residual_disease": 1, "pfi_months": 10},
     4.7, 7.7, None, "missing_input"),
    ({"figo_stage": None, "primary_residual_disease": 1, "pfi_months": 10}, 3.9, 4.7, True, "ok_with_missing"),
    (dict.fromkeys(PAPER_POINTS), 0.0, 11.9, None, "missing_input"),
])
def test_imodel_missing_items_give_bounds(changes, lo, hi, low, status):
    result = imodel(**changes)
    assert result.points is None
    assert (result.points_min, result.points_max) == (lo, hi)
    assert result.low_risk is low
    assert result.status == status
    assert math.isnan(result.score_for_auc)
    for item, value in changes.items():
        if value is None:
            assert item in result.reason and result.items[item] is None


def test_imodel_ecog4_not_applicable_setting():
    result = imodel(ecog=4, settings=ScoreSettings(imodel_ecog4="not_applicable"))
    assert result.status == "not_applicable" and result.points is None and result.low_risk is None
    assert "ECOG 4" in result.reason
    assert imodel(ecog=3, settings=ScoreSettings(imodel_ecog4="not_applicable")).points == 2.4


def test_imodel_reason_names_ecog_4_counted_as_2_3():
    """The paper's item is ECOG 2-3: an ECOG 4 scored with it (the default decision) is named
    so in the reason, per patient and in a cohort where ECOG 2 and 4 patients are otherwise
    alike (whose reasons had both read 'ECOG 2-3 2.4')."""
    assert "ECOG 4 counted as ECOG 2-3 (settings.imodel_ecog4 = 'poor') 2.4" in imodel(ecog=4).reason
    assert "ECOG 2-3 2.4" in imodel(ecog=3).reason and "ECOG 4" not in imodel(ecog=3).reason
    for copies in (1, 40):      # a few patients, and the float64 route of a long column
        ecog = np.tile([2.0, 4.0], copies)
        columns = {"figo_stage": ["I"] * len(ecog), "primary_residual_disease": np.zeros(len(ecog)),
                   "pfi_months": np.full(len(ecog), 20.0), "ecog": ecog,
                   "ca125_at_recurrence": np.full(len(ecog), 50.0), "ascites_ml": np.zeros(len(ecog))}
        out = published_scores_arrays(columns)
        assert out["imodel_points"].tolist() == [2.4] * len(ecog)
        assert ["ECOG 4 counted" in r for r in out["imodel_reason"]] == [False, True] * copies


# ------------------------------------------------------------------------------------ MSKCC

# Chi 2006 table as transcribed in data/mskcc_guideline.csv (unverified against the paper)
MSKCC_TABLE = {
    ("6-12", "single"): "offer", ("6-12", "multiple"): "consider", ("6-12", "carcinomatosis"): "no",
    ("12-30", "single"): "offer", ("12-30", "multiple"): "offer", ("12-30", "carcinomatosis"): "consider",
    (">30", "single"): "offer", (">30", "multiple"): "offer", (">30", "carcinomatosis"): "offer",
}
DFI_EXAMPLES = {"6-12": [6, 9, 12], "12-30": [12.001, 20, 30], ">30": [30.001, 60, 240]}


@pytest.mark.parametrize("group, pattern", sorted(MSKCC_TABLE))
def test_mskcc_every_cell(group, pattern):
    for dfi in DFI_EXAMPLES[group]:
        result = mskcc_category(dfi, pattern)
        assert (result.recommendation, result.dfi_group, result.status) == (MSKCC_TABLE[group, pattern], group, "ok")


@pytest.mark.parametrize("dfi", [0, 3, 5.99])
@pytest.mark.parametrize("pattern", ["single", "multiple", "carcinomatosis", None])
def test_mskcc_dfi_below_6_not_applicable(dfi, pattern):
    result = mskcc_category(dfi, pattern)
    assert result.status == "not_applicable" and result.recommendation is None and result.dfi_group == "<6"
    assert "platinum-resistant" in result.reason


def test_mskcc_month_12_boundary_setting():
    up = ScoreSettings(mskcc_month_12_group="12-30")
    assert mskcc_category(12, "multiple").recommendation == "consider"  # default: 12 is in 6-12
    assert mskcc_category(12, "multiple", settings=up).recommendation == "offer"
    assert mskcc_category(11.99, "multiple", settings=up).dfi_group == "6-12"
    assert mskcc_category(30, "carcinomatosis", settings=up).dfi_group == "12-30"


@pytest.mark.parametrize("dfi, pattern, recommendation, status", [
    (None, "single", None, "missing_input"),      # DFI could be < 6
    (40, None, "offer", "ok_with_missing"),        # every pattern gives offer at > 30
    (20, None, None, "missing_input"),
    (8, None, None, "missing_input"),
    (None, None, None, "missing_input"),
    ("", " ", None, "missing_input"),
])
def test_mskcc_missing_logic(dfi, pattern, recommendation, status):
    result = mskcc_category(dfi, pattern)
    assert (result.recommendation, result.status) == (recommendation, status)


def test_mskcc_table_file_has_source_and_matches_reference():
    path = resources.files("ca125kinetics") / "data" / "mskcc_guideline.csv"
    text = path.read_text()
    assert "Chi DS et al." in text and "Cancer 2006;106:1933-1939" in text and "Verification" in text
    table = pd.read_csv(path, comment="#", dtype=str)
    assert list(table.columns) == ["dfi_group", "recurrence_pattern", "recommendation", "source", "verified"]
    assert dict(zip(zip(table["dfi_group"], table["recurrence_pattern"]), table["recommendation"])) == MSKCC_TABLE
    assert set(table["verified"]) == {"no"}  # until checked against the paper's own table


# ------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize("call, column", [
    (lambda: ago_score(5, 0, 0), "ecog"),
    (lambda: ago_score(-1, 0, 0), "ecog"),
    (lambda: ago_score(1.5, 0, 0), "ecog"),
    (lambda: ago_score(True, 0, 0), "ecog"),
    (lambda: ago_score("zero", 0, 0), "ecog"),
    (lambda: ago_score(0, -1, 0), "ascites_ml"),
    (lambda: ago_score(0, float("inf"), 0), "ascites_ml"),
    (lambda: ago_score(0, "lots", 0), "ascites_ml"),
    (lambda: ago_score(0, 0, 2), "primary_residual_disease"),
    (lambda: ago_score(0, [1, 2], 0), "ascites_ml"),
    (lambda: imodel(figo_stage="V"), "figo_stage"),
    (lambda: imodel(figo_stage="3"), "figo_stage"),
    (lambda: imodel(pfi_months=-2), "pfi_months"),
    (lambda: imodel(ca125_at_recurrence=-5), "ca125_at_recurrence"),
    (lambda: imodel(ecog=7), "ecog"),
    (lambda: mskcc_category(-1, "single"), "dfi_months"),
    (lambda: mskcc_category(10, "diffuse"), "recurrence_pattern"),
])
def test_bad_inputs_raise_typed_errors(call, column):
    with pytest.raises(InvalidInputError) as info:
        call()
    assert info.value.column == column
    assert column in str(info.value)
    assert "correct it" in str(info.value) or "single value" in str(info.value)


def test_error_names_the_patient_and_all_bad_columns():
    with pytest.raises(InvalidInputError) as info:
        ago_score(9, -3, 0, patient_id="007")
    message = str(info.value)
    assert info.value.patient_id == "007" and "patient '007'" in message
    assert "ecog = 9" in message and "ascites_ml = -3" in message


def test_numbers_written_as_text_are_accepted():
    assert ago_score("0", " 120 ", "0").positive is True
    assert mskcc_category("40", " Carcinomatosis ").recommendation == "offer"


def test_settings_validate_and_serialise():
    with pytest.raises(InvalidInputError, match="imodel_ecog4"):
        ScoreSettings(imodel_ecog4="drop")
    with pytest.raises(InvalidInputError, match="mskcc_month_12_group"):
        ScoreSettings(mskcc_month_12_group="12")
    s = ScoreSettings(mskcc_month_12_group="12-30")
    assert ScoreSettings.from_json(s.to_json()) == s
    assert s.to_params()["scores.dfi_column"] == "pfi_months"


# ------------------------------------------------------------------------------------ cohort


def clinical(**overrides):
    base = {
        "patient_id": ["001", "002", "003", "004", "005"],
        "ecog": pd.array([0, 1, None, 7, 0], dtype="Int64"),
        "ascites_ml": [0.0, 600.0, np.nan, 0.0, 499.0],
        "figo_stage": ["III", "I", None, "IV", "II"],
        "primary_residual_disease": pd.array([0, 1, None, 0, 0], dtype="Int64"),
        "pfi_months": [20.0, 7.0, np.nan, 40.0, 3.0],
        "recurrence_pattern": ["single", "carcinomatosis", None, "multiple", "single"],
    }
    base.update(overrides)
    return pd.DataFrame(base)


def test_published_scores_columns_types_and_values():
    out = published_scores(clinical(), ca125_at_recurrence={"001": 50, "002": 300, "004": 10, "005": 20})
    assert list(out.columns) == list(PUBLISHED_SCORE_COLUMNS)
    assert out["patient_id"].tolist() == ["001", "002", "003", "004", "005"]
    assert out["patient_id"].dtype == object
    assert str(out["ago_positive"].dtype) == "boolean" and str(out["imodel_low_risk"].dtype) == "boolean"
    assert out["imodel_points"].dtype == np.float64
    assert set(out[["ago_status", "imodel_status", "mskcc_status"]].stack()) <= set(STATUSES)

    first = out.iloc[0]
    assert _na(first["ago_positive"]) is True and first["imodel_points"] == 0.8
    assert first["mskcc_recommendation"] == "offer" and first["mskcc_status"] == "ok"
    second = out.iloc[1]  # ECOG 1, 600 mL, residual, PFI 7, CA-125 300, carcinomatosis
    assert _na(second["ago_positive"]) is False and second["imodel_points"] == 8.7
    assert second["mskcc_recommendation"] == "no"
    third = out.iloc[2]  # everything unknown
    assert pd.isna(third["ago_positive"]) and third["ago_status"] == "missing_input"
    assert third["imodel_status"] == "missing_input" and third["mskcc_status"] == "missing_input"
    # invalid ECOG: AGO and iMODEL invalid, MSKCC (which does not use ECOG) still scored
    fourth = out.iloc[3]
    assert fourth["ago_status"] == fourth["imodel_status"] == "invalid_input"
    assert "ecog" in fourth["ago_reason"] and "0-4" in fourth["ago_reason"]
    assert pd.isna(fourth["ago_positive"]) and np.isnan(fourth["imodel_points"])
    assert fourth["mskcc_recommendation"] == "offer" and fourth["mskcc_status"] == "ok"
    assert out.iloc[4]["mskcc_status"] == "not_applicable"


def test_published_scores_keeps_order_and_resets_index():
    frame = clinical().iloc[::-1]
    frame.index = [10, 11, 12, 13, 14]
    out = published_scores(frame)
    assert out["patient_id"].tolist() == ["005", "004", "003", "002", "001"]
    assert isinstance(out.index, pd.RangeIndex)


def test_problem_column_makes_every_score_invalid():
    out = published_scores(clinical(problem=[None, "ca125 'abc' is not a number", None, None, ""]))
    row = out.iloc[1]
    for score in ("ago", "imodel", "mskcc"):
        assert row[f"{score}_status"] == "invalid_input"
        assert row[f"{score}_reason"] == "invalid patient data: ca125 'abc' is not a number"
    assert pd.isna(row["ago_positive"]) and pd.isna(row["mskcc_recommendation"])
    assert out.iloc[4]["mskcc_status"] == "not_applicable"  # blank problem = no problem


def test_ca125_sources_and_precedence():
    frame = clinical(ca125_at_recurrence=[500.0, 10.0, np.nan, 10.0, 10.0])
    assert published_scores(frame)["imodel_points"].iloc[0] == 0.8 + 1.8
    series = pd.Series([20.0], index=["001"])
    out = published_scores(frame, ca125_at_recurrence=series)  # argument wins over the column
    assert out["imodel_points"].iloc[0] == 0.8
    assert out["imodel_status"].iloc[1] == "ok_with_missing"  # absent from the argument: missing
    no_ca125 = published_scores(clinical())
    assert "ca125_at_recurrence" in no_ca125["imodel_reason"].iloc[0]


@pytest.mark.parametrize("given, match", [
    ({"001": 20, "999": 30}, "absent from the clinical frame"),
    (pd.Series([1.0, 2.0], index=["001", "001"]), "more than one value"),
    ([1.0, 2.0], "Series or a mapping"),
    ({1: 20}, "absent from the clinical frame"),  # ids are strings: 1 is not '001'
])
def test_ca125_argument_errors(given, match):
    with pytest.raises(InvalidInputError, match=match):
        published_scores(clinical(), ca125_at_recurrence=given)


def test_missing_column_and_wrong_type_raise():
    with pytest.raises(InvalidInputError, match="ascites_ml") as info:
        published_scores(clinical().drop(columns="ascites_ml"))
    assert info.value.column == "ascites_ml"
    with pytest.raises(InvalidInputError, match="DataFrame"):
        published_scores({"patient_id": ["1"]})


def test_dfi_column_setting_changes_only_mskcc():
    frame = clinical(dfi_months=[8.0, 40.0, np.nan, 20.0, 50.0])
    out = published_scores(frame, ca125_at_recurrence={"002": 10.0},
                           settings=ScoreSettings(dfi_column="dfi_months"))
    assert out["mskcc_recommendation"].tolist()[:2] == ["offer", "offer"]
    assert out["mskcc_status"].iloc[4] == "ok"  # 50 months by DFI, although PFI is 3
    assert out["imodel_points"].iloc[1] == 6.9  # iMODEL still reads pfi_months (7 < 16: 2.4 points)
    assert "from dfi_months" in out["mskcc_reason"].iloc[0]


def test_canonical_frame_from_read_clinical():
    raw = pd.DataFrame({
        "patient_id": ["007", "12"], "age": [61, 55.5], "ecog": [0, 2], "ascites_ml": [0, 900],
        "figo_stage": ["IIIC", "ii"], "primary_residual_disease": [0, None], "pfi_months": [18, 7],
        "recurrence_pattern": ["Single", "multiple"],
    })
    out = published_scores(read_clinical(raw), ca125_at_recurrence=pd.Series({"007": 80.0, "12": 700.0}))
    assert out["ago_positive"].tolist() == [True, False]
    assert out["imodel_points"].iloc[0] == 0.8
    assert out["imodel_status"].iloc[1] == "ok_with_missing" and out["imodel_low_risk"].iloc[1] == False  # noqa: E712
    assert out["mskcc_recommendation"].tolist() == ["offer", "consider"]


def test_empty_cohort():
    out = published_scores(clinical().iloc[:0])
    assert list(out.columns) == list(PUBLISHED_SCORE_COLUMNS) and len(out) == 0


def test_score_for_auc_conventions():
    out = published_scores(clinical(), ca125_at_recurrence={"001": 50, "002": 300})
    auc = score_for_auc(out)
    assert list(auc.columns) == ["patient_id", "ago", "imodel", "mskcc"]
    assert auc["ago"].tolist()[:2] == [1.0, 0.0]
    assert auc["imodel"].tolist()[:2] == [-0.8, -8.7]
    assert auc["mskcc"].tolist()[:2] == [2.0, 0.0]
    assert auc.iloc[2, 1:].isna().all()  # all unknown
    assert np.isnan(auc["mskcc"].iloc[4])  # not applicable
    assert mskcc_category(9, "multiple").score_for_auc == 1.0
    assert ago_score(0, 0, 0).score_for_auc == 1.0 and imodel().score_for_auc == -0.0
    with pytest.raises(InvalidInputError, match="published_scores"):
        score_for_auc(clinical())


@pytest.mark.parametrize("column, values", [
    ("mskcc_recommendation", ["Offer", None]), ("mskcc_recommendation", ["yes", "offer"]),
    ("ago_positive", ["True", None]), ("ago_positive", ["maybe", True]), ("ago_positive", [2, 0]),
    ("imodel_points", ["high", 1.0]), ("imodel_points", [99.0, 1.0]), ("imodel_points", [-0.8, 1.0]),
])
def test_score_for_auc_refuses_values_published_scores_never_writes(column, values):
    """A recommendation 'Offer' had been ranked NaN (the patient silently left out of every
    AUC), 'True' as text or 2 raised pandas' TypeError, 'high' a ValueError, and 99 points
    ranked; each is now refused with a typed error naming the column."""
    good = {"patient_id": ["a", "b"], "ago_positive": [True, None], "imodel_points": [2.4, np.nan],
            "mskcc_recommendation": ["offer", None]}
    frame = pd.DataFrame({**good, column: pd.Series(values, dtype=object)})
    with pytest.raises(InvalidInputError, match=f"score_for_auc: {column} must be") as error:
        score_for_auc(frame)
    assert error.value.column == column
    # what published_scores writes, also as a table read back from CSV (objects, 1/0, floats)
    ok = score_for_auc(pd.DataFrame({**good, "ago_positive": pd.Series([1, 0], dtype=object)}))
    assert ok["ago"].tolist() == [1.0, 0.0] and ok["imodel"].iloc[0] == -2.4
    assert str(score_for_auc(pd.DataFrame({**good, "imodel_points": [0.0, 11.9]}))["imodel"].iloc[0]) == "0.0"


def test_result_frames_have_fixed_columns():
    assert list(ago_score(0, 0, 0).to_frame().columns) == [
        "ago_positive", "ago_status", "ago_reason", "ecog", "ascites_ml", "primary_residual_disease"]
    frame = imodel(ascites_ml=None).to_frame()
    assert list(frame.columns[:6]) == ["imodel_points", "imodel_low_risk", "imodel_status", "imodel_reason",
                                       "imodel_points_min", "imodel_points_max"]
    assert np.isnan(frame["imodel_points"].iloc[0]) and frame["imodel_points_max"].iloc[0] == 3.0
    assert list(mskcc_category(9, "single").to_frame().columns[:4]) == [
        "mskcc_recommendation", "mskcc_dfi_group", "mskcc_status", "mskcc_reason"]


def test_public_api():
    for name in ("ago_score", "imodel_score", "mskcc_category", "published_scores", "score_for_auc",
                 "ScoreSettings"):
        assert name in ca125kinetics.__all__


# ------------------------------------------------------------------------------------ property

missing = st.sampled_from([None, np.nan, ""])
values = {
    "ecog": st.one_of(missing, st.integers(-1, 5), st.sampled_from([1.5, "2", True])),
    "ascites_ml": st.one_of(missing, st.floats(-10, 2000), st.sampled_from([0, 499, 500, 499.999, "x"])),
    "primary_residual_disease": st.one_of(missing, st.sampled_from([0, 1, 2])),
    "figo_stage": st.one_of(missing, st.sampled_from(["I", "II", "III", "IV", "IIIC", "ivb", "V", "3"])),
    "pfi_months": st.one_of(missing, st.floats(-1, 60), st.sampled_from([6, 12, 16, 30, 5.999])),
    "ca125_at_recurrence": st.one_of(missing, st.floats(-1, 1000), st.sampled_from([105, 105.1])),
    "recurrence_pattern": st.one_of(missing, st.sampled_from(["single", "Multiple", "carcinomatosis", "diffuse"])),
}
patients = st.lists(st.fixed_dictionaries(values), min_size=1, max_size=6)


def _per_patient(row):
    """Each score of one patient as (value(s), status, reason or None), or 'invalid'."""
    calls = {
        "ago": lambda: ago_score(row["ecog"], row["ascites_ml"], row["primary_residual_disease"]),
        "imodel": lambda: imodel_score(row["figo_stage"], row["primary_residual_disease"], row["pfi_months"],
                                       row["ecog"], row["ca125_at_recurrence"], row["ascites_ml"]),
        "mskcc": lambda: mskcc_category(row["pfi_months"], row["recurrence_pattern"]),
    }
    out = {}
    for score, call in calls.items():
        try:
            out[score] = call()
        except InvalidInputError:
            out[score] = "invalid"
    return out


def _na(value):
    """None for NA; plain Python values for numpy scalars (np.True_ is not True)."""
    if pd.isna(value):
        return None
    return value.item() if isinstance(value, np.generic) else value


@hsettings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(patients)
def test_cohort_equals_per_patient(rows):
    frame = pd.DataFrame(rows)
    frame.insert(0, "patient_id", [f"p{i:03d}" for i in range(len(rows))])
    out = published_scores(frame)
    assert len(out) == len(rows)
    for i, row in enumerate(rows):
        got, expected = out.iloc[i], _per_patient(row)
        for score, result in expected.items():
            if result == "invalid":
                assert got[f"{score}_status"] == "invalid_input", (score, row)
                continue
            assert got[f"{score}_status"] == result.status, (score, row)
            reason = got[f"{score}_reason"]
            if score == "mskcc":  # the per-patient argument is called dfi_months
                reason = reason.replace("pfi_months", "dfi_months")
            assert reason == result.reason, (score, row)
        if expected["ago"] != "invalid":
            assert _na(got["ago_positive"]) is expected["ago"].positive
        if expected["imodel"] != "invalid":
            assert _na(got["imodel_points"]) == expected["imodel"].points
            assert _na(got["imodel_low_risk"]) is expected["imodel"].low_risk
        if expected["mskcc"] != "invalid":
            assert _na(got["mskcc_recommendation"]) == expected["mskcc"].recommendation


@hsettings(max_examples=25, deadline=None)
@given(st.fixed_dictionaries({k: v for k, v in values.items() if k in PAPER_POINTS}))
def test_imodel_bounds_contain_every_completion(row):
    """Filling the missing items in any way gives a total inside [points_min, points_max]
    and, when the risk group was reported, the same group."""
    try:
        partial = imodel_score(**row)
    except InvalidInputError:
        return
    if partial.status == "not_applicable":
        return
    for fill in itertools.product(*[(ZERO[k], SCORING[k]) if _na(v) in (None, "") else (v,)
                                    for k, v in row.items()]):
        complete = imodel_score(**dict(zip(row, fill)))
        assert partial.points_min <= complete.points <= partial.points_max
        if partial.low_risk is not None:
            assert complete.low_risk is partial.low_risk


# ------------------------------------------------------------------------------------ engine
# published_scores_arrays is the engine of published_scores and of the per-patient functions;
# the prediction path calls it with one patient's plain values. It must give exactly what
# published_scores gives for the same values (an object column holding them), and its fast
# route (no pandas) exactly what the reference parse with pandas gives.

INPUT_COLUMNS = ("ecog", "ascites_ml", "figo_stage", "primary_residual_disease", "pfi_months",
                 "recurrence_pattern", "ca125_at_recurrence")
COHORT = Path(__file__).resolve().parents[1] / "data" / "synthetic" / "default" / "clinical.csv"


def _reference_scores(frame, **kwargs):
    """published_scores with the fast parse switched off: every column parsed with pandas."""
    with mock.patch.object(scores_module, "_parse_numeric_fast", lambda values, kind: None), \
            mock.patch.object(scores_module, "_parse_text_fast", lambda values, column, kind: None):
        return published_scores(frame, **kwargs)


def _assert_engine_equals_frame(arrays, frame):
    """Every column of the engine equals the published_scores frame, value and type."""
    assert list(arrays) == list(PUBLISHED_SCORE_COLUMNS[1:])
    for column, values in arrays.items():
        assert isinstance(values, np.ndarray) and len(values) == len(frame), column
        assert values.dtype == (np.float64 if column == "imodel_points" else object), column
        for i, (got, expected) in enumerate(zip(values.tolist(), frame[column].tolist())):
            got, expected = _na(got), _na(expected)
            assert got == expected and type(got) is type(expected), (column, i, got, expected)


def test_engine_equals_published_scores_on_committed_cohort():
    clinical = read_clinical(COHORT)
    ca125 = np.random.default_rng(7).lognormal(4.5, 1.2, len(clinical)).round(1)
    ca125[::17] = np.nan  # some unknown
    clinical["ca125_at_recurrence"] = ca125
    expected = published_scores(clinical)
    pd.testing.assert_frame_equal(expected, _reference_scores(clinical))
    # plain Python values (ints, floats, NaN, pd.NA, str), as the prediction path holds them
    columns = {c: clinical[c].tolist() for c in INPUT_COLUMNS}
    problem = clinical["problem"].tolist()
    _assert_engine_equals_frame(published_scores_arrays(columns, problem=problem), expected)
    for i in range(0, len(clinical), 151):  # one patient at a time
        one = published_scores_arrays({c: v[i:i + 1] for c, v in columns.items()}, problem=problem[i:i + 1])
        _assert_engine_equals_frame(one, expected.iloc[i:i + 1])
    # the cohort exercises the rules, not one branch
    assert {"ok", "ok_with_missing"} <= set(expected["imodel_status"])
    assert set(expected["mskcc_recommendation"].dropna()) == {"offer", "consider", "no"}
    assert set(expected["ago_positive"].dropna()) == {True, False}


awkward_missing = st.sampled_from([None, np.nan, pd.NA, "", "  "])
awkward = {
    "ecog": st.one_of(awkward_missing, st.integers(-1, 6), st.sampled_from(
        [1.5, "2", " 0 ", True, False, np.int64(3), np.float64(4.0), "x", float("inf")])),
    "ascites_ml": st.one_of(awkward_missing, st.floats(-10, 2000), st.sampled_from(
        [499, 500, "499.5", True, float("inf"), np.float64(0.0), -0.0])),
    "figo_stage": st.one_of(awkward_missing, st.sampled_from(
        ["I", "II", "III", "IV", "IIIC", " ivb ", "FIGO IIIA1", "V", "3", 3, True, 1.0, "iii"])),
    "primary_residual_disease": st.one_of(awkward_missing, st.sampled_from([0, 1, 2, 0.5, "1", True, np.int64(1)])),
    "pfi_months": st.one_of(awkward_missing, st.floats(-1, 60), st.sampled_from([6, 12, 16, 30, "40", 2**60])),
    "recurrence_pattern": st.one_of(awkward_missing, st.sampled_from(
        ["single", "multiple", "carcinomatosis", "Multiple", " single ", "diffuse", 1, True])),
    "ca125_at_recurrence": st.one_of(awkward_missing, st.floats(0, 1000), st.sampled_from([105, 105.1, "200", -5])),
    "dfi_months": st.one_of(awkward_missing, st.floats(-1, 60), st.sampled_from([12, "9"])),
}
SETTINGS_VARIANTS = [ScoreSettings(), ScoreSettings(imodel_ecog4="not_applicable", mskcc_month_12_group="12-30"),
                     ScoreSettings(dfi_column="dfi_months")]


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.fixed_dictionaries(awkward), min_size=1, max_size=6),
       st.lists(st.sampled_from([None, np.nan, "", " ", "ca125 'abc' is not a number"]), min_size=6, max_size=6),
       st.sets(st.sampled_from(INPUT_COLUMNS)), st.sampled_from(SETTINGS_VARIANTS))
def test_engine_equals_published_scores_on_awkward_values(rows, problems, left_out, settings):
    """Also with the patients repeated past 64 and given as object arrays: the distinct values
    are then found by hashing (pandas), not one by one."""
    problems = problems[:len(rows)]
    for copies in (1, 65 // len(rows) + 1):
        n = len(rows) * copies
        columns = {c: [row[c] for row in rows] * copies for c in awkward if c not in left_out}
        problem = problems * copies
        frame = pd.DataFrame({
            "patient_id": [f"p{i}" for i in range(n)],
            **{c: pd.Series(columns.get(c, [None] * n), dtype=object) for c in awkward},  # left out: unknown
            "problem": pd.Series(problem, dtype=object),
        })
        expected = published_scores(frame, settings=settings)
        pd.testing.assert_frame_equal(expected, _reference_scores(frame, settings=settings))
        if copies > 1:
            columns = {c: np.array(v + [None], dtype=object)[:n] for c, v in columns.items()}
            problem = np.array(problem + [None], dtype=object)[:n]
        _assert_engine_equals_frame(published_scores_arrays(columns, problem=problem, settings=settings), expected)


na_values = st.sampled_from([None, np.nan, pd.NA, np.float64("nan")])
canonical = {  # what read_clinical produces, as plain Python (or numpy) values
    "ecog": st.one_of(na_values, st.integers(0, 4), st.sampled_from([np.int64(2), 3.0])),
    "ascites_ml": st.one_of(na_values, st.floats(0, 5000), st.integers(0, 900), st.just(np.float64(499.5))),
    "primary_residual_disease": st.one_of(na_values, st.sampled_from([0, 1, np.int64(1), 0.0])),
    "pfi_months": st.one_of(na_values, st.floats(0, 120), st.sampled_from([6, 12, 16, 30])),
    "ca125_at_recurrence": st.one_of(na_values, st.floats(0, 1e5), st.sampled_from([105, 105.0, 2**53 - 1])),
    "figo_stage": st.one_of(na_values, st.sampled_from(["I", "II", "III", "IV"])),
    "recurrence_pattern": st.one_of(na_values, st.sampled_from(["single", "multiple", "carcinomatosis"])),
}


@hsettings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(canonical)).flatmap(lambda kind: st.tuples(
    st.just(kind), st.lists(st.one_of(canonical[kind], canonical[kind], awkward[kind]), min_size=1, max_size=5))))
def test_fast_parse_equals_pandas_parse(kind_and_values):
    """The fast route gives, value by value, what the pandas parse of an object column gives;
    the values repeated past 64 (distinct values found by hashing, not one by one) too."""
    kind, values = kind_and_values
    for given in (values, values * (65 // len(values) + 1)):
        fast = scores_module._parse(given, kind, kind)
        with mock.patch.object(scores_module, "_parse_numeric_fast", lambda values, kind: None), \
                mock.patch.object(scores_module, "_parse_text_fast", lambda values, column, kind: None):
            reference = scores_module._parse(given, kind, kind)
        for field in ("values", "missing", "message"):
            got, expected = (getattr(p, field).tolist() if isinstance(getattr(p, field), np.ndarray)
                             else list(getattr(p, field)) for p in (fast, reference))
            assert got == expected and [type(v) for v in got] == [type(v) for v in expected], (field, given)


def test_engine_needs_no_pandas_for_canonical_values(monkeypatch):
    canonical = {"ecog": [1, None], "ascites_ml": [0.0, np.nan], "figo_stage": ["III", None],
                 "primary_residual_disease": [0, pd.NA], "pfi_months": [13.4, 40],
                 "recurrence_pattern": ["single", "multiple"], "ca125_at_recurrence": [167.4, None]}
    published_scores_arrays(canonical)  # parses each distinct text value once (cached)
    fresh = {**canonical, "ecog": [np.int64(0), 4], "pfi_months": [5.5, 31.0], "ascites_ml": [600.0, 0]}

    class NoPandas:
        def __getattr__(self, name):
            raise AssertionError(f"pandas used: pd.{name}")

    monkeypatch.setattr(scores_module, "pd", NoPandas())
    got = published_scores_arrays(fresh, problem=[None, "bad row"])
    monkeypatch.undo()
    frame = pd.DataFrame({"patient_id": ["a", "b"], **{c: pd.Series(v, dtype=object) for c, v in fresh.items()},
                          "problem": [None, "bad row"]})
    _assert_engine_equals_frame(got, published_scores(frame))
    assert got["ago_status"][1] == "invalid_input" and got["ago_reason"][1] == "invalid patient data: bad row"
    assert got["mskcc_status"][0] == "not_applicable" and got["ago_positive"][0] is False


def test_engine_shapes_and_errors():
    out = published_scores_arrays({"ecog": [0], "ascites_ml": [0.0], "primary_residual_disease": [0]})
    assert out["ago_positive"].tolist() == [True] and out["ago_status"].tolist() == ["ok"]
    assert out["imodel_status"].tolist() == ["missing_input"] and np.isnan(out["imodel_points"][0])
    nothing = published_scores_arrays({})  # no column: one patient, everything unknown
    assert {column: len(values) for column, values in nothing.items()} == dict.fromkeys(PUBLISHED_SCORE_COLUMNS[1:], 1)
    assert {nothing[f"{score}_status"][0] for score in ("ago", "imodel", "mskcc")} == {"missing_input"}
    assert published_scores_arrays({"ecog": (0, 1), "patient_id": ["x"]})["ago_status"].tolist() == [
        "missing_input", "ok_with_missing"]  # tuples work; unknown keys are ignored
    assert len(published_scores_arrays({"ecog": []})["ago_status"]) == 0
    with pytest.raises(InvalidInputError, match="one value per patient") as info:
        published_scores_arrays({"ecog": [0, 1], "ascites_ml": [0.0]})
    assert info.value.column == "ascites_ml"
    with pytest.raises(InvalidInputError, match="one value per patient") as info:
        published_scores_arrays({"ecog": [0]}, problem=[None, None])
    assert info.value.column == "problem"


def test_text_values_are_reported_as_given():
    """1, 1.0 and True in a text column are different entries, each reported as written."""
    frame = clinical(figo_stage=[1, True, 1.0, "IIIC", None])
    reasons = published_scores(frame)["imodel_reason"].tolist()
    assert "figo_stage = 1:" in reasons[0] and "figo_stage = True:" in reasons[1]
    assert "figo_stage = 1.0:" in reasons[2] and reasons[3].startswith("invalid input: ecog = 7")


@hsettings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(patients)
def test_engine_arrays_equal_the_per_patient_engine(rows):
    """The columns the scoring engine passes (float64 arrays, object arrays of text) give, for
    a cohort scored at once (each rule run once per distinct input), what scoring every
    patient alone gives; the patients repeated past 64 rows, where the distinct inputs are
    found by hashing rather than sorting, give the same again."""
    copies = rows + [{**row, "ascites_ml": -0.0} if row["ascites_ml"] == 0 else row for row in rows] * (65 // len(rows))
    rows = [copies[i] for i in np.random.default_rng(len(copies)).permutation(len(copies))]
    n = len(rows)
    columns = {}
    for c in ("ecog", "ascites_ml", "figo_stage", "primary_residual_disease", "pfi_months", "recurrence_pattern",
              "ca125_at_recurrence"):
        given = [r.get(c) for r in rows]
        try:
            columns[c] = np.array([np.nan if v is None else v for v in given], dtype=float)
        except (TypeError, ValueError):
            columns[c] = np.array(given + [None], dtype=object)[:n]
    together = published_scores_arrays(columns, problem=np.array([None] * n, dtype=object))
    for i in range(n):
        alone = published_scores_arrays({c: v[i:i + 1] for c, v in columns.items()},
                                        problem=np.array([None], dtype=object))
        for c, v in together.items():
            assert _na(v[i]) == _na(alone[c][0]) or (pd.isna(v[i]) and pd.isna(alone[c][0])), (c, rows[i])


def test_text_of_a_str_subclass_is_read_as_that_text():
    """numpy.str_ after an equal str (as a NumPy text array gives them) is the same stage, not
    a missing one: what the pandas parse reads, short or past 64 rows."""
    for copies in (1, 40):
        stages = ["III", np.str_("III")] * copies
        columns = {"figo_stage": stages, "primary_residual_disease": [0] * len(stages), "pfi_months": [20] * len(stages),
                   "ecog": [0] * len(stages), "ca125_at_recurrence": [50] * len(stages), "ascites_ml": [0] * len(stages)}
        out = published_scores_arrays(columns)
        assert set(out["imodel_status"].tolist()) == {"ok"} and set(out["imodel_points"].tolist()) == {0.8}
        frame = pd.DataFrame({"patient_id": [f"p{i}" for i in range(len(stages))],
                              **{c: pd.Series(v, dtype=object) for c, v in columns.items()},
                              "recurrence_pattern": None})
        pd.testing.assert_frame_equal(published_scores(frame), _reference_scores(frame))


# ------------------------------------------------------------------ censored CA-125 at recurrence
# "<200" says the value is below 200 U/mL, not that it is 200: with a limit above 105 U/mL the
# iMODEL CA-125 item could score 0 or 1.8, so it is unknown; with a limit of 105 or less it is
# known not to score (found by the independent audit, tests/data/scores_README.md).


@pytest.mark.parametrize("limit, low_risk, status", [
    (200.0, None, "missing_input"), (106.0, None, "missing_input"),
    (105.0, True, "ok"), (5.0, True, "ok"),
])
def test_a_censored_ca125_at_recurrence_is_an_upper_bound_never_the_value(limit, low_risk, status):
    # FIGO III 0.8 + ascites 3.0 = 3.8: the CA-125 item (1.8) decides the risk group
    frame = pd.DataFrame({"patient_id": ["1"], "ecog": [0], "ascites_ml": [800.0], "figo_stage": ["III"],
                          "primary_residual_disease": [0], "pfi_months": [20.0], "recurrence_pattern": ["single"],
                          "ca125_at_recurrence": [limit], "ca125_at_recurrence_censored": [True]})
    out = published_scores(frame).iloc[0]
    assert (None if pd.isna(out["imodel_low_risk"]) else bool(out["imodel_low_risk"])) == low_risk
    assert out["imodel_status"] == status
    if status == "missing_input":
        assert "missing ca125_at_recurrence" in out["imodel_reason"]
    one = imodel_score("III", 0, 20.0, 0, limit, 800.0, ca125_at_recurrence_censored=True)
    assert (one.low_risk, one.status) == (low_risk, status)
    # measured (not censored), the same number scores as it always did
    assert imodel_score("III", 0, 20.0, 0, limit, 800.0).points == (5.6 if limit > 105 else 3.8)
    with pytest.raises(InvalidInputError, match="ca125_at_recurrence_censored"):
        imodel_score("III", 0, 20.0, 0, limit, 800.0, ca125_at_recurrence_censored="yes")


@pytest.mark.parametrize("flag, low_risk, status", [
    ("False", False, "ok"), ("no", False, "ok"), (" 0 ", False, "ok"), (0, False, "ok"), (0.0, False, "ok"),
    (False, False, "ok"), (None, False, "ok"), ("", False, "ok"),
    ("True", None, "missing_input"), ("YES", None, "missing_input"), (1, None, "missing_input"),
    ("maybe", None, "invalid_input"), ("<200", None, "invalid_input"), (2, None, "invalid_input"),
])
def test_the_censored_flag_of_ca125_at_recurrence_is_read_as_written_never_as_truthy(flag, low_risk, status):
    """The flag column as a table read without types gives it ('False', 'no'): false is not
    censored, so a measured 200 U/mL scores its 1.8 points; a value that is neither true nor
    false is refused for that patient. bool('False') had made every written flag censored,
    so a measured value became 'missing ca125_at_recurrence', and 'maybe' was read as true."""
    # FIGO III 0.8 + residual 1.5 + PFI < 16 months 2.4 = 4.7: the CA-125 item (1.8) decides
    rows = pd.DataFrame({"patient_id": ["1"] * 2, "ecog": [0] * 2, "ascites_ml": [0.0] * 2, "figo_stage": ["III"] * 2,
                         "primary_residual_disease": [1] * 2, "pfi_months": [10.0] * 2,
                         "recurrence_pattern": ["single"] * 2, "ca125_at_recurrence": [200.0] * 2,
                         "ca125_at_recurrence_censored": pd.Series([flag, None], dtype=object)})
    out = published_scores(rows.iloc[[0]])     # object column; and with the float64 route of a long column:
    many = published_scores_arrays({c: np.tile(rows[c].to_numpy(), 40) for c in rows if c != "patient_id"})
    for got_status, got_low in ((out.loc[0, "imodel_status"], out.loc[0, "imodel_low_risk"]),
                                (many["imodel_status"][0], many["imodel_low_risk"][0])):
        assert got_status == status
        assert (None if pd.isna(got_low) else bool(got_low)) == low_risk
    assert set(many["imodel_status"][1::2].tolist()) == {"ok"}     # the unflagged patients: 6.5, measured
    if status == "ok":
        assert out.loc[0, "imodel_points"] == 6.5
    if status == "invalid_input":
        assert out.loc[0, "imodel_reason"].startswith("invalid input: ca125_at_recurrence_censored = ")
        assert out.loc[0, "ago_status"] == "ok" and out.loc[0, "mskcc_status"] == "ok"   # the others are scored


def test_unknown_ecog_decides_no_risk_group_when_ecog_4_is_not_applicable():
    """With imodel_ecog4='not_applicable' an unknown ECOG may be 4, which leaves the patient
    unscored: no risk group is certain (it used to say 'low risk whatever the missing items')."""
    na = ScoreSettings(imodel_ecog4="not_applicable")
    r = imodel_score("III", 0, 20.0, None, 50.0, 0.0, settings=na)
    assert (r.low_risk, r.status) == (None, "missing_input")
    assert "missing ecog" in r.reason and "ECOG 4 would leave the patient unscored" in r.reason
    assert (r.points_min, r.points_max) == (0.8, 3.2)
    # by default ECOG 4 scores like 2-3, so the range decides
    assert imodel_score("III", 0, 20.0, None, 50.0, 0.0).low_risk is True
    frame = pd.DataFrame({"patient_id": ["1", "2"], "ecog": [None, 4], "ascites_ml": [0.0, 0.0],
                          "figo_stage": ["III", "III"], "primary_residual_disease": [0, 0], "pfi_months": [20.0, 20.0],
                          "recurrence_pattern": ["single", "single"], "ca125_at_recurrence": [50.0, 50.0]})
    assert published_scores(frame, settings=na)["imodel_status"].tolist() == ["missing_input", "not_applicable"]


def test_a_raw_frame_is_read_with_the_data_contract_rules_of_read_clinical():
    """published_scores on a table read without read_clinical applies the contract's bounds
    (ascites 0-50,000 mL, PFI 0-600 months) and reads the 0/1 flag words (yes/no, true/false)
    as read_clinical does; it used to score 50,001 mL and 600.1 months and refuse 'yes'."""
    raw = pd.DataFrame({"patient_id": ["1", "2", "3", "4"], "age": ["60"] * 4, "ecog": ["0", "0", "0", "0"],
                        "ascites_ml": ["50001", "0", "0", "0"], "figo_stage": ["II"] * 4,
                        "primary_residual_disease": ["0", "0", "yes", "False"],
                        "pfi_months": ["20", "600.1", "20", "20"], "recurrence_pattern": ["single"] * 4})
    out = published_scores(raw)
    assert out["ago_status"].tolist()[:1] == ["invalid_input"] and "50001" in out.loc[0, "ago_reason"]
    assert out.loc[1, "mskcc_status"] == "invalid_input" and "600.1" in out.loc[1, "mskcc_reason"]
    assert out["ago_positive"].tolist()[2:] == [False, True]
    for i in range(len(raw)):    # read_clinical agrees on every row
        row = raw.iloc[[i]]
        if i < 2:
            with pytest.raises(InvalidInputError):
                read_clinical(row)
        else:
            assert read_clinical(row)["primary_residual_disease"].iloc[0] == (1 if i == 2 else 0)
    assert ago_score(0, 0, "no").positive is True and ago_score(0, 0, True).positive is False
    with pytest.raises(InvalidInputError, match="ascites_ml"):
        ago_score(0, 50_001, 0)
