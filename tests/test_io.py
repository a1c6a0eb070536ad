"""Tests of reading and validating the markers and clinical tables (data contract)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings as hsettings, strategies as st

from ca125kinetics import InvalidInputError, read_clinical, read_markers
from ca125kinetics.errors import Ca125KineticsError
from ca125kinetics.io import MARKER_COLUMNS, write_table


def markers(**overrides):
    base = {"patient_id": ["007", "007", "007"], "day": [-3, 21, 42], "ca125": ["400", "180", "150"]}
    base.update(overrides)
    return pd.DataFrame(base)


CLINICAL = pd.DataFrame({
    "patient_id": ["007", "12"],
    "age": [61, 55.5],
    "ecog": [0, 1],
    "ascites_ml": [0, 600],
    "figo_stage": ["IIIC", "iv"],
    "primary_residual_disease": [0, None],
    "pfi_months": [18, 7],
    "recurrence_pattern": ["Single", "carcinomatosis"],
    "treatment_start": ["2024-01-10", "2024-02-01"],
})


def test_canonical_columns_types_and_order(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("patient_id,ca125,day,site\n007,150,42,A\n007,400,-3,A\n007,<5,63,A\n")
    df = read_markers(path)
    assert list(df.columns) == list(MARKER_COLUMNS) + ["site"]
    assert df["patient_id"].tolist() == ["007"] * 3  # leading zeros kept
    assert df["day"].tolist() == [-3, 42, 63]  # sorted by day
    assert df["day"].dtype == np.int64
    assert df["ca125"].tolist() == [400.0, 150.0, 5.0]
    assert df["censored"].tolist() == [False, False, True]
    assert df["uln"].tolist() == [35.0] * 3


def test_parquet_round_trip(tmp_path):
    df = read_markers(markers())
    path = write_table(df, tmp_path / "m.parquet")
    again = read_markers(path)
    pd.testing.assert_frame_equal(df, again)


@pytest.mark.parametrize("text", ["<5", "< 5", "<5.0", "<=5"])
def test_censored_forms(text):
    df = read_markers(markers(ca125=["400", text, "150"]))
    row = df[df["day"] == 21].iloc[0]
    assert row["censored"] and row["ca125"] == 5.0


def test_uln_and_assay_per_sample():
    df = read_markers(markers(uln=[30, None, 30], assay=["Architect", "Architect", None]))
    assert df["uln"].tolist() == [30.0, 35.0, 30.0]
    assert df["assay"].tolist() == ["Architect", "Architect", None]


def test_default_uln_argument():
    assert read_markers(markers(), uln=30)["uln"].eq(30).all()


def test_event_only_row_kept():
    df = read_markers(pd.DataFrame({
        "patient_id": ["1", "1", "1"], "day": [0, 10, 21], "ca125": [400, None, 180],
        "event": [None, "Paracentesis", None],
    }))
    assert df["event"].tolist() == [None, "paracentesis", None]
    assert np.isnan(df["ca125"].iloc[1])


def test_dates_with_treatment_start():
    df = read_markers(
        pd.DataFrame({"patient_id": ["007", "007"], "date": ["2024-01-07", "2024-02-21"], "ca125": [400, 90]}),
        clinical=CLINICAL,
    )
    assert df["day"].tolist() == [-3, 42]


def test_date_shift_changes_nothing():
    clin2 = CLINICAL.assign(treatment_start=["2025-06-10", "2025-07-01"])
    a = read_markers(pd.DataFrame({"patient_id": ["007"] * 2, "date": ["2024-01-07", "2024-02-21"], "ca125": [400, 90]}), clinical=CLINICAL)
    b = read_markers(pd.DataFrame({"patient_id": ["007"] * 2, "date": ["2025-06-07", "2025-07-22"], "ca125": [400, 90]}), clinical=clin2)
    pd.testing.assert_frame_equal(a, b)


# ---------------------------------------------------------------- bad input, one per contract clause


def _raises(df_or_path, match, **kw):
    with pytest.raises(InvalidInputError, match=match) as info:
        read_markers(df_or_path, **kw)
    assert isinstance(info.value, ValueError) and isinstance(info.value, Ca125KineticsError)
    return info.value


def test_missing_column_names_it():
    err = _raises(markers().drop(columns="ca125"), r"missing required column\(s\) \['ca125'\]")
    assert err.column == "ca125"


def test_non_numeric_ca125_names_file_row_patient_column(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("patient_id,day,ca125\n007,0,400\n007,21,high\n")
    err = _raises(path, "'high' is not a number")
    assert str(path) in str(err) and "row 3" in str(err) and "'007'" in str(err) and "'ca125'" in str(err)
    assert (err.row, err.patient_id, err.column) == (3, "007", "ca125")


def test_negative_ca125():
    _raises(markers(ca125=["400", "-1", "150"]), "negative")


def test_empty_ca125_without_event():
    _raises(markers(ca125=["400", None, "150"]), "CA-125 value is empty")


def test_duplicate_day_is_error_unless_aggregated():
    df = markers(day=[0, 21, 21])
    _raises(df, "two or more CA-125 samples on day 21")
    agg = read_markers(df, duplicates="mean")
    assert agg["ca125"].tolist() == [400.0, 165.0]
    assert read_markers(df, duplicates="max")["ca125"].tolist() == [400.0, 180.0]


def test_day_out_of_range_and_not_whole():
    _raises(markers(day=[0, 21, 5000]), "outside the plausible range")
    _raises(markers(day=[0, 21.5, 42]), "not a whole number")
    _raises(markers(day=[0, "x", 42]), "is not a number")


def test_markers_without_clinical_row():
    _raises(markers(patient_id=["999"] * 3), "has markers but no clinical row", clinical=CLINICAL)


def test_dates_without_clinical_explain_fix():
    _raises(pd.DataFrame({"patient_id": ["1"], "date": ["2024-01-01"], "ca125": [1]}), "treatment_start")


def test_unknown_event():
    _raises(markers(event=[None, "chemo", None]), "unknown event 'chemo'")


def test_empty_patient_id_always_raises():
    _raises(markers(patient_id=["007", None, "007"]), "patient_id is empty", on_error="flag")


def test_unsupported_file_and_missing_file(tmp_path):
    _raises(tmp_path / "none.csv", "file not found")
    path = tmp_path / "m.xlsx"
    path.write_text("x")
    _raises(path, "unsupported file type")


def test_many_problems_are_all_counted():
    df = pd.DataFrame({"patient_id": [str(i) for i in range(10)], "day": [0] * 10, "ca125": ["bad"] * 10})
    err = _raises(df, "and 5 more problem")
    assert "also: row 1" in str(err)


def test_flag_mode_keeps_every_patient_with_reason():
    df = pd.DataFrame({
        "patient_id": ["a", "a", "b", "b", "c"],
        "day": [0, 21, 0, 21, 0],
        "ca125": ["400", "180", "oops", "90", "-5"],
    })
    out = read_markers(df, on_error="flag")
    assert sorted(out["patient_id"].unique()) == ["a", "b", "c"]
    problems = out.groupby("patient_id")["problem"].first()
    assert problems["a"] is None
    assert "'oops' is not a number" in problems["b"]
    assert "negative" in problems["c"]
    assert out[out["patient_id"] == "b"].shape[0] == 1  # one placeholder row per bad patient


def test_bad_arguments():
    with pytest.raises(InvalidInputError, match="on_error"):
        read_markers(markers(), on_error="ignore")
    with pytest.raises(InvalidInputError, match="duplicates"):
        read_markers(markers(), duplicates="sum")
    with pytest.raises(InvalidInputError, match="uln"):
        read_markers(markers(), uln=-1)
    with pytest.raises(InvalidInputError, match="cannot read markers"):
        read_markers(42)


@hsettings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(-14, 100), st.floats(0, 1e5, allow_nan=False)), min_size=1, max_size=8, unique_by=lambda t: t[0]))
def test_any_valid_series_reads_sorted_and_complete(samples):
    days, values = zip(*samples)
    df = read_markers(pd.DataFrame({"patient_id": "p", "day": days, "ca125": values}))
    assert len(df) == len(samples)
    assert df["day"].is_monotonic_increasing
    assert sorted(df["ca125"]) == sorted(float(v) for v in values)


# ---------------------------------------------------------------- clinical


def test_clinical_normalisation():
    df = read_clinical(CLINICAL)
    assert df["figo_stage"].tolist() == ["III", "IV"]
    assert df["figo_stage_raw"].tolist() == ["IIIC", "iv"]
    assert df["recurrence_pattern"].tolist() == ["single", "carcinomatosis"]
    assert str(df["ecog"].dtype) == "Int64"
    assert df["primary_residual_disease"].isna().tolist() == [False, True]
    assert df["treatment_start"].dt.year.tolist() == [2024, 2024]
    assert df["problem"].isna().all()


@pytest.mark.parametrize("column,value,match", [
    ("figo_stage", "V", "unknown FIGO stage 'V'"),
    ("recurrence_pattern", "diffuse", "unknown recurrence pattern"),
    ("ecog", 5, "outside 0..4"),
    ("ecog", 1.5, "whole number"),
    ("ascites_ml", -1, "outside"),
    ("primary_residual_disease", 2, "not allowed"),
    ("age", "old", "not a number"),
])
def test_clinical_bad_values(column, value, match):
    bad = CLINICAL.copy()
    bad[column] = bad[column].astype(object)
    bad.loc[1, column] = value
    with pytest.raises(InvalidInputError, match=match) as info:
        read_clinical(bad)
    assert info.value.patient_id == "12" and info.value.column == column
    flagged = read_clinical(bad, on_error="flag")
    assert flagged["problem"].notna().tolist() == [False, True]


def test_clinical_missing_column_and_duplicate_patient():
    with pytest.raises(InvalidInputError, match="missing required"):
        read_clinical(CLINICAL.drop(columns="ecog"))
    with pytest.raises(InvalidInputError, match="more than one clinical row"):
        read_clinical(pd.concat([CLINICAL, CLINICAL.iloc[[0]]]))


def test_canonical_frame_round_trips_through_csv(tmp_path):
    df = read_markers(markers(ca125=["400", "<5", "150"]))
    path = write_table(df, tmp_path / "canonical.csv")
    pd.testing.assert_frame_equal(read_markers(path), df)


# --- optional screening columns (docs/data-contract.md) ----------------------------------


def test_screening_columns_are_optional_and_typed_when_present():
    base = {"patient_id": ["1", "2"]}
    assert list(read_clinical(pd.DataFrame(base), require=("patient_id",)).columns) == ["patient_id", "problem"]
    out = read_clinical(pd.DataFrame({**base, "consent": ["1", ""], "asa": [2, None], "histology": ["High grade serous", None],
                                      "ct_stage": ["cT4A", "t3"], "ycn_stage": ["ycN0", "N1c"], "ypt_stage": ["ypTis", "T0"],
                                      "msi_status": ["msi h", "MSS"], "mmr_status": ["PMMR", "dMMR"],
                                      "neoadjuvant_regimen": ["TNT", "Immunotherapy"]}), require=("patient_id",))
    assert out["consent"].tolist()[0] == 1 and pd.isna(out["consent"].iloc[1]) and str(out["consent"].dtype) == "Int64"
    assert out["histology"].iloc[0] == "high_grade_serous"
    assert out["ct_stage"].tolist() == ["T4a", "T3"] and out["ycn_stage"].tolist() == ["N0", "N1c"]
    assert out["ypt_stage"].tolist() == ["Tis", "T0"]
    assert out["msi_status"].tolist() == ["MSI-H", "MSS"] and out["mmr_status"].tolist() == ["pMMR", "dMMR"]
    assert out["neoadjuvant_regimen"].tolist() == ["tnt", "immunotherapy"]


@pytest.mark.parametrize(("column", "value", "needle"), [
    ("yct_stage", "ypT2", "cT, ypT stages belong in their own columns"),
    ("ypt_stage", "ycT2", "cT, ycT stages belong in their own columns"),
    ("ct_stage", "TX", "leave empty if not assessed"),
    ("cn_stage", "N3", "use one of ['N0', 'N1', 'N1a'"),
    ("histology", "serous", "unknown histology 'serous'; use one of ['high_grade_serous'"),
    ("tumour_site", "rectum", "unknown tumour site 'rectum'"),
    ("consent", "yes", "consent 'yes' is not a number"),
    ("platinum_refractory", "2", "platinum_refractory '2' is not allowed"),
    ("asa", "7", "asa 7 is outside 1..6"),
    ("recurrence_number", "1.5", "must be a whole number"),
    ("mmr_proteins_lost", "5", "outside 0..4"),
    ("bowel_obstruction", "partial", "use one of ['none', 'relieved_by_colostomy', 'unrelieved']"),
])
def test_screening_columns_reject_unknown_values_naming_the_allowed_ones(column, value, needle):
    with pytest.raises(InvalidInputError) as info:
        read_clinical(pd.DataFrame({"patient_id": ["1"], column: [value]}), require=("patient_id",))
    assert needle in str(info.value) and f"column '{column}'" in str(info.value)


# ----------------------------------------------------------------------------- files that are not tables


def _sparse(path, size=2 * 1024**3):
    """A sparse file of ``size`` zero bytes (no disk space used): a 2 GB 'binary table'."""
    with open(path, "wb") as handle:
        handle.truncate(size)
    return path


@pytest.mark.parametrize("name", ["markers.csv", "markers.tsv", "markers.csv.gz", "markers.parquet"])
def test_a_2gb_binary_file_is_refused_from_its_first_bytes(tmp_path, monkeypatch, name):
    path = _sparse(tmp_path / name)

    def never(*args, **kwargs):  # the parser must not be reached (it would read all 2 GB)
        raise AssertionError("the file was handed to the parser")

    monkeypatch.setattr(pd, "read_csv", never)
    monkeypatch.setattr(pd, "read_parquet", never)
    with pytest.raises(InvalidInputError, match="this file is not .*judged from its first 65536 bytes") as info:
        read_markers(path)
    assert str(path) in str(info.value)


def test_text_that_is_not_utf8_is_refused_with_the_fix(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("patient_id,day,ca125,note\n1,0,400,r\xe9cidive\n".encode("latin-1"))
    with pytest.raises(InvalidInputError, match="not UTF-8 text.*save it as UTF-8 CSV"):
        read_markers(path)


def test_utf8_cut_at_the_end_of_the_sample_is_still_text(tmp_path):
    # a 2-byte character straddling the sniffed 64 kB must not be taken for binary data
    path = tmp_path / "long.csv"
    note = "x" * (64 * 1024 - len("patient_id,day,ca125,note\n1,0,400,") - 1) + "é"
    path.write_text(f"patient_id,day,ca125,note\n1,0,400,{note}\n1,21,100,a\n", encoding="utf-8")
    assert read_markers(path)["ca125"].tolist() == [400.0, 100.0]


def test_a_directory_or_unreadable_file_is_one_clear_error(tmp_path):
    folder = tmp_path / "markers.csv"
    folder.mkdir()
    with pytest.raises(InvalidInputError, match="cannot open the markers table .*Is a directory"):
        read_markers(folder)
