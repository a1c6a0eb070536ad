"""Tests of reading and validating the markers and clinical tables (data contract)."""

from __future__ import annotations

import contextlib

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
    with pytest.warns(match="uln is empty in 1 sample row"):    # DataQualityWarning, imported below
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


def test_day_and_date_together_must_agree_and_are_never_half_ignored():
    markers = pd.DataFrame({"patient_id": ["007"] * 2, "day": [-3, 42], "date": ["2024-01-07", "2024-02-21"],
                            "ca125": [400, 90]})
    # agreeing with treatment_start: read, the day kept
    assert read_markers(markers, clinical=CLINICAL)["day"].tolist() == [-3, 42]
    # a date one day off its row's day: that row is refused, named
    with pytest.raises(InvalidInputError, match=r"day 42 but date 2024-02-22 is day 43"):
        read_markers(markers.assign(date=["2024-01-07", "2024-02-22"]), clinical=CLINICAL)
    flagged = read_markers(markers.assign(date=["2024-01-07", "2024-02-22"]), clinical=CLINICAL, on_error="flag")
    assert flagged["problem"].str.contains("date 2024-02-22 is day 43").any()
    # nothing to check them against: refused rather than the date silently dropped
    with pytest.raises(InvalidInputError, match="both 'day' and 'date'.*drop one"):
        read_markers(markers)


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


def test_unnumbered_rows_are_named_by_patient_column_and_value_not_by_number():
    """Rows labelled None (``io.unnumbered``: a Spark partition's rows, which have no
    position in the user's table) are never given a number: a reason, an error and the
    empty-identifier error name the patient, the column and the value only."""
    from ca125kinetics.io import unnumbered

    frame = pd.DataFrame({"patient_id": ["a", "a", "b", "b"], "day": ["0", "21", "0", "x"],
                          "ca125": ["400", "high", "50", "40"]})
    flagged = read_markers(unnumbered(frame.copy()), on_error="flag").set_index("patient_id")["problem"]
    assert flagged["a"] == ("invalid input: markers table, column 'ca125': CA-125 value 'high' is not a number; give U/mL "
                            "as a number, or '<x' for a value below the assay's limit")
    assert flagged["b"].startswith("invalid input: markers table, column 'day': day 'x' is not a number")
    # numbered rows, as before
    assert read_markers(frame, on_error="flag").set_index("patient_id")["problem"]["a"].startswith(
        "invalid input: markers table, row 1, column 'ca125'")
    with pytest.raises(InvalidInputError) as raised:
        read_markers(unnumbered(frame.copy()))
    assert "row" not in str(raised.value).replace("rows", "") and raised.value.row is None
    assert "also: patient 'a', column 'ca125'" in str(raised.value)
    frame.loc[1, "patient_id"] = None
    with pytest.raises(InvalidInputError, match=r"patient_id is empty in 1 row\(s\); give"):
        read_markers(unnumbered(frame.copy()))
    with pytest.raises(InvalidInputError, match=r"patient_id is empty in 1 row\(s\) \(1\); give"):
        read_markers(frame)


def test_negative_ca125():
    _raises(markers(ca125=["400", "-1", "150"]), "negative")


def test_empty_ca125_without_event():
    _raises(markers(ca125=["400", None, "150"]), "CA-125 value is empty")


def test_duplicate_day_is_error_unless_aggregated():
    df = markers(day=[0, 21, 21])
    error = _raises(df, "two or more CA-125 samples on day 21")
    # the fix it names must be one every entry point can follow: scoring (predict, ca125 score,
    # the API) takes no duplicates= but the model's GCIG setting
    assert "remove the extra sample(s)" in str(error) and "a model scores with the setting it was trained with" in \
        str(error)
    agg = read_markers(df, duplicates="mean")
    assert agg["ca125"].tolist() == [400.0, 165.0]
    assert read_markers(df, duplicates="max")["ca125"].tolist() == [400.0, 180.0]


@pytest.mark.parametrize("how", ["mean", "median", "max", "min"])
def test_same_day_aggregate_does_not_depend_on_the_row_order(how):
    """Three same-day samples averaged in the order of the rows: 39.53333333333333 in one
    order, 39.53333333333334 in another (and k, the probability after it), and another
    patient's same-day rows between them changed it again (pandas averages a group whose
    rows are not together otherwise), so a table whose rows came in another order or in
    other company (a Spark DataFrame has no order; a chunk holds other patients) scored in
    the last digit otherwise. The aggregate, and whether it is censored, is now one number."""
    import itertools

    results = set()
    for values in itertools.permutations(["36.2", "39.8", "<42.6"]):
        p = pd.DataFrame({"patient_id": "p", "day": [0, 21, 21, 21], "ca125": ["400", *values]})
        q = pd.DataFrame({"patient_id": "q", "day": [0, 21, 21, 21], "ca125": ["300", "37.1", "40.3", "41.9"]})
        between = pd.concat([p, q]).sort_index(kind="stable")      # p's and q's rows alternate
        for df in (p, pd.concat([q, p]), between):
            row = read_markers(df, duplicates=how).set_index(["patient_id", "day"]).loc[("p", 21)]
            results.add((row["ca125"], row["censored"]))
    assert len(results) == 1


def test_a_uln_filled_in_by_default_gives_way_to_the_settings_uln():
    """KineticsSettings(uln=30) and GcigSettings(uln=30) were ignored on a frame read_markers
    returned: its uln column, filled with the default 35 where the table stated none, won (a
    patient with baseline 34 became at_floor, normalisation moved from day 63 to 42). A ULN
    stated in the table or given to the reader still wins, as documented."""
    from ca125kinetics.gcig import gcig_cohort
    from ca125kinetics.kinetics import fit_kinetics
    from ca125kinetics.settings import GcigSettings, KineticsSettings

    raw = pd.DataFrame({"patient_id": ["n"] * 4 + ["f"] * 4, "day": [0, 21, 42, 63] * 2,
                        "ca125": [500.0, 100, 33, 20, 34, 25, 15, 12]})
    read = read_markers(raw)
    assert read.attrs["ca125_uln_filled"] == 35.0 and read_markers(read).attrs["ca125_uln_filled"] == 35.0
    columns = ["patient_id", "status", "uln", "time_to_normalisation_days"]
    kinetics = KineticsSettings(uln=30.0)
    expected = fit_kinetics(raw, method="per-patient", settings=kinetics)[columns].sort_values("patient_id")
    got = fit_kinetics(read, method="per-patient", settings=kinetics)[columns].sort_values("patient_id")
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected.reset_index(drop=True))
    assert got["status"].tolist() == ["ok", "ok"] and got["time_to_normalisation_days"].tolist() == [21.0, 63.0]
    gcig = GcigSettings(uln=30.0)
    assert gcig_cohort(read, settings=gcig)["uln"].tolist() == [30.0, 30.0]
    # the one-patient reader (predict, with a model's ULN) alike
    from ca125kinetics.io import patient_record

    assert set(patient_record(read[read["patient_id"] == "f"], uln=30.0).uln) == {30.0}
    stated = read_markers(raw, uln=35)
    assert "ca125_uln_filled" not in stated.attrs
    assert fit_kinetics(stated, method="per-patient", settings=kinetics)["uln"].tolist() == [35.0, 35.0]
    assert gcig_cohort(stated, settings=gcig)["uln"].tolist() == [35.0, 35.0]
    edited = read.assign(uln=[30.0] * 4 + [35.0] * 4)          # the column changed since: stated
    assert gcig_cohort(edited, settings=GcigSettings())["uln"].tolist() == [30.0, 35.0]     # f, n as edited


def test_aggregated_samples_are_read_again_only_with_their_aggregation():
    """Samples aggregated by read_markers(duplicates="mean") were scored by predict (whose model
    reads with "error") as if measured, the result stating duplicates "error": the mean 200 fell
    on the 50 % line and made a confirmed response. A frame keeps its aggregation (attrs) and is
    read again only with it, by the readers, predict and the GCIG rules alike."""
    from ca125kinetics import predict
    from ca125kinetics.gcig import gcig_cohort
    from ca125kinetics.settings import GcigSettings

    raw = pd.DataFrame({"patient_id": "p1", "day": [-5, 20, 20, 41, 62], "ca125": [400, 150, 250, 90, 60]})
    agg = read_markers(raw, duplicates="mean")
    assert agg.attrs["ca125_duplicates"] == "mean"
    clinical = {"age": 65, "ecog": 0, "ascites_ml": 0, "pfi_months": 14, "figo_stage": "III",
                "primary_residual_disease": 0, "recurrence_pattern": "multiple", "recist": "SD"}
    for read_again in (lambda m: predict(m, clinical), lambda m: gcig_cohort(m), lambda m: read_markers(m),
                       lambda m: read_markers(m, duplicates="max")):
        for frame in (agg, agg[agg["patient_id"] == "p1"], agg.copy()):
            with pytest.raises(InvalidInputError, match=r"aggregated by read_markers\(duplicates='mean'\)"):
                read_again(frame)
    same = GcigSettings(duplicates="mean")
    assert gcig_cohort(agg, settings=same)["status"].tolist() == ["response"]
    assert read_markers(agg, duplicates="mean").attrs["ca125_duplicates"] == "mean"   # kept when read again
    # nothing aggregated, nothing recorded: the frame is read with any setting
    plain = read_markers(raw.iloc[[0, 1, 3, 4]], duplicates="mean")
    assert "ca125_duplicates" not in plain.attrs and predict(plain, clinical).status == "ok"


def test_a_flagged_clinical_frame_read_again_keeps_its_reasons():
    """read_clinical(on_error="flag") leaves a refused cell empty (ECOG 7, stage V, an outcome of
    0.5) and writes the reason in ``problem``; read again, the frame had lost the reasons, and
    its patients passed as valid with unknown values (validate_model reads the clinical table
    it is given so)."""
    raw = pd.DataFrame({"patient_id": ["1", "2", "3"], "ecog": [7, 1, 0], "figo_stage": ["III", "V", "IV"],
                        "complete_resection": ["1", "1", "0.5"]})
    once = read_clinical(raw, on_error="flag", require=("patient_id",))
    assert once["ecog"].isna().tolist() == [True, False, False] and once["complete_resection"].isna().tolist() == \
        [False, False, True]
    again = read_clinical(once, on_error="flag", require=("patient_id",))
    pd.testing.assert_series_equal(again["problem"], once["problem"])
    assert again["problem"].notna().all()
    with pytest.raises(InvalidInputError, match=r"patient '1' was flagged by an earlier reading: .*ecog 7"):
        read_clinical(once, require=("patient_id",))
    # a table's own column named problem (a problem list, say) is not read as reasons
    own = read_clinical(raw.assign(ecog=[1, 1, 0], figo_stage="III", complete_resection="1",
                                   problem=["hypertension", None, None]), on_error="flag", require=("patient_id",))
    assert own["problem"].isna().all()


def test_a_clinical_frame_read_again_is_the_same_frame(tmp_path):
    """Read again, a read clinical frame had its figo_stage_raw replaced by the normalised
    stage ('IIIC' became 'III'): the same table read twice gave another data digest, so
    ca125 validate never recognised the model's own training cohort. From a file (its text
    columns read from Arrow) and from a DataFrame alike."""
    raw = pd.DataFrame({"patient_id": ["1", "2", "3"], "ecog": [0, 1, 0], "figo_stage": ["IIIC", "FIGO ivb", None]})
    path = tmp_path / "c.csv"
    raw.to_csv(path, index=False)
    for source in (raw, path):
        once = read_clinical(source, on_error="flag", require=("patient_id",))
        assert once["figo_stage_raw"].tolist()[:2] == ["IIIC", "FIGO ivb"]
        again = read_clinical(once, on_error="flag", require=("patient_id",))
        pd.testing.assert_frame_equal(again, once)
    # a table never read that has a column of that name: the stage as written there is the raw one
    own = read_clinical(raw.assign(figo_stage_raw=["stage 3", "foo", None]), on_error="flag", require=("patient_id",))
    assert own["figo_stage_raw"].tolist()[:2] == ["IIIC", "FIGO ivb"]


def test_a_flagged_markers_frame_read_again_keeps_its_reasons():
    """A read markers frame holds an invalid patient as one row without a value and the
    reason; read again, that row was "CA-125 value is empty; give the value" (a value of -4
    was the fault), and the data digest of the same tables differed. Read again now, the
    frame is the same; with on_error="raise" the earlier reading's reason is raised."""
    raw = pd.DataFrame({"patient_id": ["1", "1", "2", "2"], "day": [0, 21, 0, 21], "ca125": [400, -4, 300, 100]})
    once = read_markers(raw, on_error="flag")
    again = read_markers(once, on_error="flag")
    pd.testing.assert_frame_equal(again, once)
    assert "-4 is negative" in again.loc[again["patient_id"] == "1", "problem"].iloc[0]
    with pytest.raises(InvalidInputError, match=r"patient '1' was flagged by an earlier reading: .*-4 is negative"):
        read_markers(once)
    # a table's own column named problem is not read as reasons
    own = read_markers(raw.assign(ca125=[400, 40, 300, 100], problem=["haemolysed", None, None, None]),
                       on_error="flag")
    assert own["problem"].isna().all()


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
@given(st.lists(st.tuples(st.integers(-14, 100), st.floats(0, 1e5, allow_nan=False, exclude_min=True)), min_size=1,
                max_size=8, unique_by=lambda t: t[0]))
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


@pytest.mark.parametrize("text, stage", [
    ("IIIC", "III"), ("iiic", "III"), ("FIGO IIIc", "III"), ("IV B", "IV"), ("IC3", "I"), ("IIIA2", "III"),
    ("IIC", "II"), ("I", "I"), ("IVB", "IV"),
    # FIGO 2014's IIIA1(i)/(ii), and 'Stage' before the stage as 'FIGO' (both were refused)
    ("IIIA1(i)", "III"), ("IIIA1 (ii)", "III"), ("Stage IIIC", "III"), ("FIGO stage IVB", "IV"), ("stage I", "I"),
    ("IIIA2(i)", "?"), ("IIIB(ii)", "?"), ("III(i)", "?"), ("stage", "?"), ("Stage V", "?"),
    # not FIGO substages of ovarian cancer: the substage was dropped and the stage read as given
    ("IA9", "?"), ("I0", "?"), ("IIIC5", "?"), ("IVC", "?"), ("IID", "?"), ("IIA1", "?"), ("IB2", "?"), ("IIID", "?"),
])
def test_figo_stages_and_substages(text, stage):
    from ca125kinetics.io import normalise_stage

    assert normalise_stage(text) == stage


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


def test_json_tables_keep_every_digit_of_every_number(tmp_path, capsys):
    """A JSON table (``ca125 validate --predictions x.json``, ``--format json``) holds the numbers
    of the frame: pandas' encoder kept 10 decimals, so a probability of 3e-11 was written as 0.0
    and 0.6553339997429298 as 0.6553339997, where CSV and Parquet kept every digit."""
    import json

    from ca125kinetics.cli._output import emit

    probability = [3e-11, 1.2345678901234e-05, 0.6553339997429298, np.nan]
    frame = pd.DataFrame({"patient_id": ["a", "b", "c", "d"], "probability": probability,
                          "score": pd.array([0.1, None, 2.0 / 3.0, 1e300], dtype="Float64"),
                          "mixed": ["x", None, 1.0 / 3.0, float("inf")], "n": [1, 2, 3, 4],
                          "date": pd.to_datetime(["2025-01-02", None, "2025-03-04", "2025-03-05"])})
    emit(frame, None, "json")
    for text in (write_table(frame, tmp_path / "t.json").read_text(), capsys.readouterr().out):
        rows = json.loads(text)
        assert [r["probability"] for r in rows] == [3e-11, 1.2345678901234e-05, 0.6553339997429298, None]
        assert [r["score"] for r in rows] == [0.1, None, 2.0 / 3.0, 1e300]
        assert [r["mixed"] for r in rows] == ["x", None, 1.0 / 3.0, None]    # a non-finite number is null
        assert [r["n"] for r in rows] == [1, 2, 3, 4]
        assert [r["date"] for r in rows] == ["2025-01-02T00:00:00.000", None, "2025-03-04T00:00:00.000",
                                             "2025-03-05T00:00:00.000"]


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
    ("consent", "maybe", "consent 'maybe' is not a number"),
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


def test_an_ovarian_histology_code_at_a_rectal_site_is_refused():
    """A rectal mucinous adenocarcinoma is coded 'adenocarcinoma'; 'mucinous' is the ovarian
    code, and read as given at an upper-rectum site the RESET screen found the patient 'not
    adenocarcinoma' (ineligible), silently. The pair is refused as contradictory."""
    table = pd.DataFrame({"patient_id": ["1", "2", "3", "4"],
                          "histology": ["mucinous", "high_grade_serous", "adenocarcinoma", "mucinous"],
                          "tumour_site": ["upper_rectum", "colon", "upper_rectum", "ovary"]})
    with pytest.raises(InvalidInputError, match=r"histology 'mucinous' is an ovarian/tubal/peritoneal code but "
                                                 r"tumour_site is 'upper_rectum'; a rectal or colonic "
                                                 r"adenocarcinoma \(mucinous and signet-ring included\) is coded "
                                                 r"'adenocarcinoma'"):
        read_clinical(table, require=("patient_id",))
    flagged = read_clinical(table, require=("patient_id",), on_error="flag")
    assert flagged["problem"].notna().tolist() == [True, True, False, False]


@pytest.mark.parametrize(("status", "lost"), [("pMMR", 1), ("pMMR", 2), ("pMMR", 4), ("dMMR", 0)])
def test_mmr_status_contradicting_the_count_of_lost_proteins_is_refused(status, lost):
    # pMMR means all four MMR proteins expressed and dMMR the loss of one or more: a row
    # stating both a status and a count that disagree cannot be read either way (read as
    # pMMR it would open RESET's chemotherapy path to a tumour with two proteins lost)
    table = pd.DataFrame({"patient_id": ["1", "2"], "mmr_status": [status, status],
                          "mmr_proteins_lost": [lost, None]})
    with pytest.raises(InvalidInputError) as info:
        read_clinical(table, require=("patient_id",))
    message = str(info.value)
    assert f"mmr_status {status!r} contradicts mmr_proteins_lost {lost}" in message
    assert "column 'mmr_status'" in message and "patient '1'" in message and "'2'" not in message
    flagged = read_clinical(table, require=("patient_id",), on_error="flag")
    assert flagged["problem"].notna().tolist() == [True, False]


@pytest.mark.parametrize(("status", "lost"), [("pMMR", 0), ("dMMR", 1), ("dMMR", 2), ("dMMR", 4), (None, 3),
                                              ("pMMR", None)])
def test_mmr_status_agreeing_with_the_count_is_read(status, lost):
    out = read_clinical(pd.DataFrame({"patient_id": ["1"], "mmr_status": [status], "mmr_proteins_lost": [lost]}),
                        require=("patient_id",))
    assert out["problem"].isna().all()


@pytest.mark.parametrize(("cell", "value"), [
    ("1", 1), ("0", 0), ("1.0", 1), (" 0 ", 0), (1, 1), (0, 0), (1.0, 1), (True, 1), (False, 0),
    # the words of a markers table's censored column, in any case
    ("yes", 1), ("No", 0), ("True", 1), ("FALSE", 0), ("true", 1),
    # anything else is refused, never read as missing or as 0
    ("y", None), ("n", None), ("2", None), ("ja", None), ("0.5", None), ("unknown", None),
])
def test_clinical_flags_read_boolean_like_cells_as_every_reader_does(cell, value, tmp_path):
    # one rule for every 0/1 clinical column (screening flags, pfs_event, ...), the same words
    # as the censored column of the markers reader; a frame and the CSV pandas writes of it
    # (True -> "True") read alike
    columns = ["consent", "archived_tissue", "pfs_event", "primary_residual_disease"]
    frame = pd.DataFrame({"patient_id": ["1"], **{c: [cell] for c in columns}})
    path = tmp_path / "flags.csv"
    frame.to_csv(path, index=False)
    arrow = frame.astype({c: "string[pyarrow]" for c in columns}) if isinstance(cell, str) else frame
    for source in (frame, path, arrow):
        if value is None:
            with pytest.raises(InvalidInputError) as info:
                read_clinical(source, require=("patient_id",))
            assert f"column '{columns[-1]}'" in str(info.value)  # first in the rule table (the message lists a few)
        else:
            out = read_clinical(source, require=("patient_id",))
            assert [out[c].iloc[0] for c in columns] == [value] * len(columns)
    if value is not None and isinstance(cell, str):
        censored = read_markers(pd.DataFrame({"patient_id": ["1"], "day": [0], "ca125": ["5"], "censored": [cell]}))
        assert bool(censored["censored"].iloc[0]) == bool(value)


# ---- markers as a parameter (CEA)

def _cea_rows():
    return pd.DataFrame({"patient_id": ["1", "1", "2", "2"], "day": [0, 14, 0, 14],
                         "cea": ["12.5", "<0.5", "4", "3.5"]})


def test_cea_table_is_read_with_marker_cea():
    m = read_markers(_cea_rows(), marker="cea")
    assert list(m.columns) == ["patient_id", "day", "cea", "censored", "uln", "assay", "event", "problem"]
    assert (m["uln"] == 5.0).all()                      # CEA's default ULN, recorded on every row
    assert m["cea"].tolist() == [12.5, 0.5, 4.0, 3.5] and m["censored"].tolist() == [False, True, False, False]
    assert (read_markers(_cea_rows(), marker="CEA", uln=3.0)["uln"] == 3.0).all()


def test_a_cea_only_table_without_marker_is_a_typed_error_naming_the_option():
    with pytest.raises(InvalidInputError, match=r"marker='cea' \(ca125 kinetics --marker cea\), or a model trained for it \(ca125 score --model"):
        read_markers(_cea_rows())
    with pytest.raises(InvalidInputError, match="unknown marker 'psa'"):
        read_markers(_cea_rows(), marker="psa")


def test_cea_messages_and_plausible_range_use_the_marker():
    bad = _cea_rows().assign(cea=["12", "abc", "200000", "-1"])
    with pytest.raises(InvalidInputError) as err:
        read_markers(bad, marker="cea")
    text = str(err.value)
    assert "CEA value 'abc' is not a number; give ng/mL" in text
    assert "CEA value 200000 ng/mL is beyond what any assay reports (at most 100,000 ng/mL)" in text
    assert "CA-125" not in text and "U/mL" not in text
    flagged = read_markers(bad, marker="cea", on_error="flag")
    assert flagged["problem"].notna().all() and "cea" in flagged.columns


def test_an_extract_table_is_read_as_the_marker_its_marker_column_names():
    extract = _cea_rows().rename(columns={"cea": "ca125"}).assign(marker="cea")
    with pytest.raises(InvalidInputError, match="'marker' column names \\['cea'\\]"):
        read_markers(extract)                            # never read CEA values as CA-125
    m = read_markers(extract, marker="cea")
    assert m["cea"].tolist() == [12.5, 0.5, 4.0, 3.5] and (m["marker"] == "cea").all()
    ca = read_markers(extract.assign(marker="ca125"))
    assert "ca125" in ca.columns and (ca["uln"] == 35.0).all()


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
    """A Latin-1 name within the first bytes looked at before parsing is named by its line, as
    one further into the file: it was 'this file is not a text table (... binary data, or
    another encoding ...)', with no line, for any export shorter than 64 kB."""
    path = tmp_path / "latin1.csv"
    path.write_bytes("patient_id,day,ca125,note\n1,0,400,r\xe9cidive\n".encode("latin-1"))
    with pytest.raises(InvalidInputError, match="line 2 is not UTF-8 text.*save it as UTF-8 CSV"):
        read_markers(path)
    rows = [f"{i:04d},0,400,x" for i in range(1, 3000)] + ["3000,0,400,Jos\xe9"]
    path.write_bytes(("patient_id,day,ca125,note\n" + "\n".join(rows) + "\n").encode("latin-1"))
    with pytest.raises(InvalidInputError, match="line 3001 is not UTF-8 text.*save it as UTF-8 CSV"):
        read_markers(path)


@pytest.mark.parametrize("chunk_rows", [None, 1000])
def test_text_not_utf8_after_the_first_bytes_is_refused_naming_its_line_and_the_fix(tmp_path, chunk_rows):
    """A Latin-1 character far into an export (beyond the bytes looked at before parsing),
    read whole or in chunks: the line is named and the fix given, not a decoder's offset."""
    rows = [f"{i:06d},{d},{100 - d},CA125-A" for i in range(3000) for d in (0, 21)]
    rows[4500] = rows[4500].replace("CA125-A", "CA125-\xc9")
    path = tmp_path / "late.csv"
    path.write_bytes(("patient_id,day,ca125,assay\n" + "\n".join(rows) + "\n").encode("latin-1"))
    if chunk_rows is None:
        read = lambda: read_markers(path)   # noqa: E731
    else:
        from ca125kinetics.cohort import stream_markers

        read = lambda: list(stream_markers(path, chunk_rows=chunk_rows).chunks())   # noqa: E731
    with pytest.raises(InvalidInputError, match="line 4502 is not UTF-8 text.*save it as UTF-8 CSV"):
        read()


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


# ----------------------------------------------------------------------------- messy input
# Files in tests/data/messy/ (see its README.md): each is read right when the format is
# stated, or refused with a typed error that says how to fix it; never guessed.

from pathlib import Path  # noqa: E402
import json  # noqa: E402
import warnings  # noqa: E402

from ca125kinetics.errors import DataQualityWarning  # noqa: E402
from ca125kinetics.io import CA125_MAX, _parse_dates, _parse_numbers, _suggest_columns  # noqa: E402

MESSY = Path(__file__).parent / "data" / "messy"


def test_day_first_dates_are_refused_not_guessed():
    with pytest.raises(InvalidInputError, match=r"01/03/2024.*never guessed.*date_format='%d/%m/%Y'"):
        read_markers(MESSY / "markers_dates_ddmmyyyy.csv",
                     clinical=pd.DataFrame({"patient_id": ["007"], "treatment_start": ["2024-03-04"]}))
    with pytest.raises(InvalidInputError, match=r"treatment_start '04/03/2024' is not an ISO date"):
        read_markers(MESSY / "markers_dates_iso.csv", clinical=MESSY / "clinical_start_ddmmyyyy.csv")
    with pytest.raises(InvalidInputError, match="treatment_start"):
        read_clinical(MESSY / "clinical_start_ddmmyyyy.csv", require=("patient_id",))


def test_a_spreadsheet_day_number_in_a_date_column_is_refused_saying_what_it_is(tmp_path):
    """A spreadsheet's date column exported unformatted holds serial day numbers (45672 for
    2025-01-14 in Excel's 1900 system). The refusal said "'45672' is not an ISO date ... a date
    such as 01/03/2024 is ambiguous ... state the format with date_format='%d/%m/%Y'", a format
    that cannot read it; it says that it is a number, never converted (1900 or 1904 origin)."""
    clinical = tmp_path / "clinical.csv"
    clinical.write_text("patient_id,treatment_start\n007,45672\n")
    with pytest.raises(InvalidInputError, match=r"treatment_start '45672' is a number, not a date \(a spreadsheet's "
                       r"serial day number\? format the column as dates, YYYY-MM-DD") as info:
        read_clinical(clinical, require=("patient_id",))
    assert "date_format='%d/%m/%Y'" not in str(info.value)
    markers = tmp_path / "markers.csv"
    markers.write_text("patient_id,date,ca125\n007,45667,400\n007, 45693 ,150\n")
    got = read_markers(markers, clinical=pd.DataFrame({"patient_id": ["007"], "treatment_start": ["2025-01-14"]}),
                       on_error="flag")
    assert "date '45667' is a number, not a date (a spreadsheet's serial day number?" in got["problem"].iloc[0]
    # a number that no spreadsheet gives a date keeps the refusal it had
    for text, said in (("20240301", "is not an ISO date"), ("0", "is not an ISO date"), ("2024", "is not an ISO date")):
        clinical.write_text(f"patient_id,treatment_start\n007,{text}\n")
        with pytest.raises(InvalidInputError, match=said) as info:
            read_clinical(clinical, require=("patient_id",))
        assert "spreadsheet" not in info.value.message


@pytest.mark.parametrize("mark", ["NA", "N/A", ".", "unknown", " na "])
def test_a_missing_value_written_as_a_word_is_refused_saying_an_empty_cell_is_unknown(tmp_path, mark):
    """R writes a missing value 'NA', SAS and Stata '.'. The refusal said only "pfi_months 'NA' is
    not a number; give the platinum-free interval in months", which invites a number in its
    place (a PFI of 0 fails RESCUE's I2, where unknown leaves it undetermined); it now says that
    an unknown value is an empty cell. Still refused, never read as missing."""
    said = f"{mark.strip()!r} is not read as a missing value: an unknown value is an empty cell"
    clinical = tmp_path / "clinical.csv"
    clinical.write_text(f"patient_id,pfi_months,consent\n007,{mark},1\n008,12,{mark}\n")
    with pytest.raises(InvalidInputError) as info:
        read_clinical(clinical, require=("patient_id",))
    message = str(info.value)
    assert f"pfi_months {mark!r} is not a number; give the platinum-free interval in months; {said}" in message
    assert f"consent {mark!r} is not a number" in message and message.count(said) == 2
    markers = tmp_path / "markers.csv"
    markers.write_text(f"patient_id,day,ca125\n007,-3,400\n007,21,{mark}\n")
    got = read_markers(markers, on_error="flag")
    assert said in got["problem"].iloc[0]
    clinical.write_text("patient_id,pfi_months\n007,abc\n")   # any other text: as before
    with pytest.raises(InvalidInputError, match=r"pfi_months 'abc' is not a number; give the platinum-free "
                                                r"interval in months$"):
        read_clinical(clinical, require=("patient_id",))


def test_a_refused_clinical_start_is_quoted_where_the_dated_markers_need_it(capsys):
    """A clinical table read with on_error="flag" (as the commands read it) blanks the start it
    refused; the markers then said "add the date of the first dose", a date that was given."""
    from ca125kinetics.cli import main

    flagged = read_clinical(MESSY / "clinical_start_ddmmyyyy.csv", require=("patient_id",), on_error="flag")
    got = read_markers(MESSY / "markers_dates_iso.csv", clinical=flagged, on_error="flag")
    assert "no usable treatment_start: clinical table, row 2, column 'treatment_start': treatment_start " \
           "'04/03/2024' is not an ISO date" in got["problem"].iloc[0]
    assert main(["gcig", str(MESSY / "markers_dates_iso.csv"), "--clinical", str(MESSY / "clinical_start_ddmmyyyy.csv"),
                 "--format", "json"]) == 0
    assert "never guessed" in json.loads(capsys.readouterr().out)[0]["reason"]
    # a start simply missing is still asked for
    empty = pd.DataFrame({"patient_id": ["007"], "treatment_start": [None], "ecog": ["7"]})
    got = read_markers(MESSY / "markers_dates_iso.csv", clinical=read_clinical(empty, require=("patient_id",),
                                                                               on_error="flag"), on_error="flag")
    assert "has no treatment_start in the clinical table; add the date of the first dose" in got["problem"].iloc[0]


def test_stated_date_format_reads_day_first_dates():
    df = read_markers(MESSY / "markers_dates_ddmmyyyy.csv", clinical=MESSY / "clinical_start_ddmmyyyy.csv",
                      date_format="%d/%m/%Y")
    assert df["day"].tolist() == [-3, 18, 39]          # 1 Mar, 22 Mar, 12 Apr from 4 Mar 2024
    clin = read_clinical(MESSY / "clinical_start_ddmmyyyy.csv", require=("patient_id",), date_format="%d/%m/%Y")
    assert clin["treatment_start"].iloc[0] == pd.Timestamp("2024-03-04")
    with pytest.raises(InvalidInputError, match="does not match date_format '%Y/%m/%d'"):
        read_clinical(MESSY / "clinical_start_ddmmyyyy.csv", require=("patient_id",), date_format="%Y/%m/%d")
    with pytest.raises(InvalidInputError, match="strftime"):
        read_clinical(MESSY / "clinical_start_ddmmyyyy.csv", require=("patient_id",), date_format="dd/mm/yyyy")


@pytest.mark.parametrize("start", ["clinical_start_time_of_day.csv", "clinical_start_timezone.csv"])
def test_time_of_day_and_offset_do_not_shift_days(start):
    df = read_markers(MESSY / "markers_dates_iso.csv", clinical=MESSY / start)
    assert df["day"].tolist() == [-3, 21, 42]


def test_iso_dates_with_times_are_calendar_days():
    dates, bad, _ = _parse_dates(pd.Series(["2024-03-04", "2024-03-04T23:59:59", "2024-03-04 00:00:01+05:30",
                                            "2024-02-30", "04.03.2024", None]), None, "date")
    assert bad.tolist() == [False, False, False, True, True, False]
    assert dates.iloc[:3].tolist() == [pd.Timestamp("2024-03-04")] * 3 and dates.iloc[5] is pd.NaT


@pytest.mark.parametrize("written", ["2024-03-04T24:00", "2024-03-04 25:30", "2024-03-04T10:61",
                                     "2024-03-04T10:00+25:00"])
def test_a_date_with_an_impossible_time_is_refused(written):
    # the time was dropped unread: 2024-03-04T24:00 (ISO for 5 March, 00:00) was day 4 March
    dates, bad, message = _parse_dates(pd.Series(["2024-03-04T23:59", written]), None, "date")
    assert bad.tolist() == [False, True]
    assert "no valid time of day or offset" in message(written)


def test_semicolon_csv_with_decimal_commas():
    path = MESSY / "markers_semicolon_decimal_comma.csv"
    df = read_markers(path, sep=";", decimal=",", thousands=".")
    assert df["ca125"].tolist() == [1200.5, 420.5, 95.25, 5.0]
    assert df["censored"].tolist() == [False, False, False, True]
    # the separator alone is detected, with a note; the numbers are then refused, not misread
    with pytest.warns(DataQualityWarning, match="semicolon-separated"), \
            pytest.raises(InvalidInputError, match=r"'420,5' could be a decimal comma"):
        read_markers(path)
    # decimal comma stated but not the thousands separator: '1.200,5' is ambiguous
    with pytest.raises(InvalidInputError, match=r"'\.' in '1\.200,5' is ambiguous.*thousands='\.'"):
        read_markers(path, sep=";", decimal=",")


def test_ambiguous_thousands_separator_is_refused():
    path = MESSY / "markers_thousands_ambiguous.csv"
    with pytest.raises(InvalidInputError, match=r"'1,200' could be a decimal comma or a thousands separator"):
        read_markers(path)
    assert read_markers(path, thousands=",")["ca125"].tolist() == [1200.0, 420.0, 95.0]


def test_a_point_grouping_thousands_in_a_semicolon_table_is_refused(tmp_path):
    """A semicolon-separated export (a European spreadsheet) often writes 1200 as 1.200; read
    with the default format it was 1.2."""
    from ca125kinetics.io import _table_pieces, table_file

    path = tmp_path / "m.csv"
    path.write_text("patient_id;day;ca125;uln\n007;-3;1.200;35\n007;21;<1.000;35\n007;42;12.5;35\n")
    for kw in ({}, {"sep": ";"}):             # the separator detected or stated
        with pytest.warns(DataQualityWarning) if not kw else contextlib.nullcontext():
            with pytest.raises(InvalidInputError, match=r"in a semicolon-separated table '1.200' could be a point "
                               r"between thousands or a decimal point.*thousands=',' if it is the decimal point"):
                read_markers(path, **kw)
    with pytest.raises(InvalidInputError, match=r"'<1.000' could be"):           # a censored limit too
        read_markers(path, sep=";")
    pieces = list(_table_pieces(table_file(path, "markers", ";"), 1, "markers"))     # read in chunks
    with pytest.raises(InvalidInputError, match="'1.200' could be a point between thousands"):
        read_markers(pieces[0])
    # the format stated: read as written; 12.5 and a value with 1, 2 or 4 decimals are not ambiguous
    assert read_markers(path, sep=";", thousands=",")["ca125"].tolist() == [1.2, 1.0, 12.5]
    path.write_text("patient_id;day;ca125\n007;-3;1200\n007;21;180.25\n007;42;12.5\n")
    assert read_markers(path, sep=";")["ca125"].tolist() == [1200.0, 180.25, 12.5]
    # the same texts in a comma-separated table, a DataFrame or a clinical table of commas: as before
    assert read_markers(markers(ca125=["1.200", "180", "150"]))["ca125"].tolist() == [1.2, 180.0, 150.0]
    clinical = tmp_path / "c.csv"
    clinical.write_text("patient_id;ascites_ml\n007;1.500\n")
    with pytest.raises(InvalidInputError, match="'1.500' could be a point between thousands"):
        read_clinical(clinical, sep=";", require=("patient_id",))
    assert read_clinical(clinical, sep=";", decimal=",", thousands=".",
                         require=("patient_id",))["ascites_ml"].tolist() == [1500.0]


@pytest.mark.parametrize("text, decimal, thousands, expected", [
    ("1200", ".", None, 1200.0), ("1200.5", ".", None, 1200.5), ("1,200", ".", None, None),
    ("1,200", ".", ",", 1200.0), ("12,00", ".", ",", None), ("1,200.5", ".", ",", 1200.5),
    ("420,5", ",", None, 420.5), ("1.200", ",", None, None), ("1.200,5", ",", ".", 1200.5),
    ("1.20,5", ",", ".", None), ("1 200,5", ",", " ", 1200.5), ("abc", ",", None, None),
])
def test_number_formats(text, decimal, thousands, expected):
    value = _parse_numbers(pd.Series([text], dtype=object), decimal, thousands).iloc[0]
    assert (np.isnan(value) if expected is None else value == expected)


def test_complex_numbers_are_not_numbers():
    # numpy cast 400+5j to 400 (a ComplexWarning, then the imaginary part dropped)
    values = np.array([400 + 5j, 400 + 0j, 7], dtype=object)
    assert np.isnan(_parse_numbers(values)[:2]).all() and _parse_numbers(values)[2] == 7
    assert np.isnan(_parse_numbers(np.array([1 + 0j]))).all()
    with pytest.raises(InvalidInputError, match=r"CA-125 value \(400\+5j\) is not a number"):
        read_markers(markers(ca125=[400 + 5j, 180, 150]))


def test_bad_number_format_arguments():
    for kwargs in ({"decimal": ";"}, {"decimal": ",", "thousands": ","}, {"sep": ";;"}):
        with pytest.raises(InvalidInputError):
            read_markers(markers(), **kwargs)


def test_values_no_assay_reports_are_invalid():
    with pytest.raises(InvalidInputError) as info:
        read_markers(MESSY / "markers_unreportable_values.csv")
    text = str(info.value)
    assert "'nan' is not a number" in text and "infinite" in text and "beyond what any assay reports" in text
    flagged = read_markers(MESSY / "markers_unreportable_values.csv", on_error="flag")
    assert flagged["problem"].notna().all() and sorted(flagged["patient_id"]) == ["007", "008", "009"]
    assert read_markers(markers(ca125=["400", str(CA125_MAX), "150"]))["ca125"].iloc[1] == CA125_MAX
    with pytest.raises(InvalidInputError, match="ULN 5000 U/mL is implausible"):
        read_markers(markers(uln=[35, 5000, 35]))


def test_misnamed_clinical_columns_are_refused_with_the_suggestion():
    path = MESSY / "clinical_misnamed_columns.csv"
    with pytest.raises(InvalidInputError) as info:
        read_clinical(path, require=("patient_id",))
    text = str(info.value)
    for found, meant in (("ECOG", "ecog"), ("ascites", "ascites_ml"), ("FIGO", "figo_stage"), ("pfi", "pfi_months")):
        assert f"'{found}' looks like '{meant}'" in text
    assert "--rename 'ECOG=ecog'" in text and "columns={'ECOG': 'ecog'}" in text
    mapping = {"ECOG": "ecog", "ascites": "ascites_ml", "FIGO": "figo_stage", "pfi": "pfi_months", "other": "x"}
    df = read_clinical(path, columns=mapping)
    assert (df["ecog"].iloc[0], df["ascites_ml"].iloc[0], df["figo_stage"].iloc[0], df["pfi_months"].iloc[0]) == \
        (0, 0.0, "III", 18.0)
    # the same near miss in a markers table (clinical columns repeated on markers rows)
    with pytest.raises(InvalidInputError, match="'CA-125' looks like 'ca125'"):
        read_markers(pd.DataFrame({"patient_id": ["1"], "day": [0], "CA-125": [100]}))
    with pytest.raises(InvalidInputError, match="'ECOG' looks like 'ecog'"):
        read_markers(markers(ECOG=[0, 0, 0]))


@pytest.mark.parametrize("found, meant", [("performance_status", "ecog"), ("PS", "ecog"), ("stage", "figo_stage"),
                                          ("Platinum-free interval", "pfi_months"), ("age_years", "age"),
                                          ("TFIp", "pfi_months"), ("platinum_free_interval_months", "pfi_months"),
                                          ("ECOG performance status", "ecog"),
                                          ("pattern", "recurrence_pattern"), ("RECIST response", "recist")])
def test_a_clinical_factor_under_a_name_exports_use_is_refused_not_imputed(found, meant):
    # no spelling rule found these names, so the column was ignored and the model imputed the
    # factor that the table gave
    from ca125kinetics.io import patient_record

    table = pd.DataFrame({"patient_id": ["1"], found: ["1"]})
    with pytest.raises(InvalidInputError, match=f"'{found}' looks like '{meant}'"):
        read_clinical(table, require=("patient_id",))
    with pytest.raises(InvalidInputError, match=f"'{found}' looks like '{meant}'"):
        patient_record({"day": [0, 21], "ca125": [400, 180]}, {found: "1"})
    # beside the contract column it is an extra column, as before
    assert found in read_clinical(table.assign(**{meant: [None]}), require=("patient_id",)).columns


@pytest.mark.parametrize("found, unit", [("pfi_days", "days"), ("PFI weeks", "weeks")])
def test_a_platinum_free_interval_in_another_unit_is_refused_saying_to_convert(found, unit):
    table = pd.DataFrame({"patient_id": ["1"], "ecog": [0], found: [400]})
    with pytest.raises(InvalidInputError, match=f"'{found}' holds {unit} and 'pfi_months' is in months; convert "
                                                 "the values to months") as info:
        read_clinical(table, require=("patient_id",))
    assert "rename it (e.g." not in str(info.value)


def test_one_patient_with_a_marker_column_naming_another_marker_is_refused():
    # read_markers refused it; patient_record (predict, one patient) scored CEA values as CA-125
    from ca125kinetics.io import patient_record

    with pytest.raises(InvalidInputError, match=r"'marker' column names \['cea'\], not 'ca125'"):
        read_markers(markers(marker=["CEA"] * 3))
    with pytest.raises(InvalidInputError, match=r"'marker' column names \['cea'\], not 'ca125'"):
        patient_record({"day": [0, 21], "ca125": [4, 2], "marker": "CEA"})
    assert patient_record({"day": [0, 21], "ca125": [400, 180], "marker": "ca125"}).ca125 == (400.0, 180.0)


def test_a_unit_column_must_name_the_markers_unit():
    # a 'unit' column was an extra column, ignored: CA-125 values said to be in ng/mL were read
    # as U/mL. The unit (or one that is the same number, kU/L) is accepted, any other refused.
    from ca125kinetics.io import patient_record

    ok = read_markers(markers(unit=["U/mL", "kU/L", None]))
    assert ok["ca125"].tolist() == [400.0, 180.0, 150.0]
    assert read_markers(markers(unit=["U/ml", " KU/L ", ""]))["ca125"].tolist() == [400.0, 180.0, 150.0]
    with pytest.raises(InvalidInputError, match=r"row 1, patient '007', column 'unit': unit 'ng/mL' is not the unit of CA-125 \(U/mL"):
        read_markers(markers(unit=["U/mL", "ng/mL", "U/mL"]))
    record = patient_record({"day": [0, 21], "ca125": [400, 180], "unit": "ng/mL"})
    assert record.problem is not None and "unit 'ng/mL' is not the unit of CA-125" in record.problem
    with pytest.raises(InvalidInputError, match="'units' looks like 'unit'"):
        read_markers(markers(units=["ng/mL"] * 3))


@pytest.mark.parametrize("text", ["IU/mL", "units/mL", "U / ml", "[IU]/ML", "Units/mL", "kU/l", "kIU/L", "foo", "U/L",
                                  "ng/mL", "IU/L", "mU/mL"])
def test_a_unit_text_is_read_by_one_rule_in_tables_and_record_sources(text):
    # the markers table's 'unit' column and the FHIR/OMOP unit text used to be two rules: the
    # table refused 'IU/mL' and 'units/mL', which the record readers read as U/mL
    from ca125kinetics.markers import CA125, CEA
    from ca125kinetics.sources import MARKERS

    named = CA125.names_unit(text)
    assert named == MARKERS["ca125"].names_unit(text)
    assert named == (text not in ("foo", "U/L", "ng/mL", "IU/L", "mU/mL"))
    frame = markers(unit=[text] * 3)
    if named:
        assert read_markers(frame)["ca125"].tolist() == [400.0, 180.0, 150.0]
    else:
        with pytest.raises(InvalidInputError, match="is not the unit of CA-125"):
            read_markers(frame)
    assert CEA.names_unit("\u00b5g/L") and CEA.names_unit("ng / ml") and not CEA.names_unit("U/mL")


def test_a_spelling_variant_beside_the_contract_column_is_refused(tmp_path):
    # 'ECOG' beside 'ecog', 'CA_125' beside 'ca125': the same column written twice with
    # different values; keeping the contract column and ignoring the other would be a guess
    from ca125kinetics.io import patient_record

    path = tmp_path / "c.csv"
    path.write_text("patient_id,ecog,ECOG\n1,0,3\n")
    with pytest.raises(InvalidInputError, match="'ECOG' and 'ecog'"):
        read_clinical(path, require=("patient_id",))
    with pytest.raises(InvalidInputError, match="'CA_125' and 'ca125'"):
        read_markers(markers(CA_125=[1.0, 2.0, 3.0]))
    with pytest.raises(InvalidInputError, match="'ca_125' and 'ca125'"):
        patient_record({"day": [0, 21], "ca125": [400, 180], "ca_125": [400, 18]})
    with pytest.raises(InvalidInputError, match="'Ecog' and 'ecog'"):
        patient_record({"day": [0, 21], "ca125": [400, 180]}, {"ecog": 0, "Ecog": 3})
    # an explicit mapping of the variant onto the present column is refused as before
    with pytest.raises(InvalidInputError, match="already has"):
        patient_record({"day": [0], "ca125": [400]}, {"ecog": 0, "ECOG": 3}, columns={"ECOG": "ecog"})
    # unlike names (a close spelling, an abbreviation) stay extra columns when the column is there
    assert patient_record({"day": [0], "ca125": [400]}, {"ascites_ml": 0, "ascites": "no"}).clinical["ascites_ml"] == 0


@pytest.mark.parametrize("name, expected", [
    ("ECOG", ["ecog"]), ("Figo Stage", ["figo_stage"]), ("recurence_pattern", ["recurrence_pattern"]),
    ("pfs", ["pfs_months", "pfs_event"]), ("ag", ["age"]), ("site", []), ("id", []), ("notes", []),
    ("dfs_months", []), ("dfs_event", []),         # disease-free survival: another endpoint
])
def test_column_suggestions(name, expected):
    from ca125kinetics.io import CLINICAL_COLUMNS

    assert _suggest_columns(name, CLINICAL_COLUMNS) == expected


def test_mapping_onto_an_existing_column_is_refused():
    with pytest.raises(InvalidInputError, match="already has"):
        read_markers(markers(value=["1", "2", "3"]), columns={"value": "ca125"})


def test_duplicated_header_is_an_error(tmp_path):
    with pytest.raises(InvalidInputError, match=r"names column\(s\) \['ca125'\] more than once"):
        read_markers(MESSY / "markers_duplicate_header.csv")
    with pytest.raises(InvalidInputError, match="more than once"):  # equal once stripped
        read_markers(pd.DataFrame([["1", 0, 5, 6]], columns=["patient_id", "day", "ca125", " ca125"]))
    path = tmp_path / "c.csv"
    path.write_text("patient_id,ecog,ecog\n1,0,1\n")
    with pytest.raises(InvalidInputError, match="more than once"):
        read_clinical(path, require=("patient_id",))


def test_rows_with_more_fields_than_the_header_are_refused_or_read_under_their_names(tmp_path):
    """pandas would take the extra first fields as the index and shift every column: an
    unquoted 1,200 made patient '0' with a day of 1."""
    from ca125kinetics.io import _table_pieces, table_file

    def stream_table(path, what, chunk_rows):
        return _table_pieces(table_file(path, what, None), chunk_rows, what)

    shifted = tmp_path / "shifted.csv"
    shifted.write_text("patient_id,day,ca125\n001,0,1,200\n001,21,180,5\n001,49,150,0\n")
    two_more = tmp_path / "two_more.csv"
    two_more.write_text("patient_id,day,ca125\n001,0,400,,\n001,21,180,,7\n")
    for path, row in ((shifted, 2), (two_more, 3)):
        with pytest.raises(InvalidInputError, match=rf"row {row} has \d fields but the header names 3"):
            read_markers(path)
        with pytest.raises(InvalidInputError, match=rf"row {row} has"):       # read in pieces too
            list(stream_table(path, "markers", chunk_rows=1))
    clinical = tmp_path / "clinical.csv"
    clinical.write_text("patient_id,ecog\n001,0,1\n")
    with pytest.raises(InvalidInputError, match="row 2 has 3 fields"):
        read_clinical(clinical, require=("patient_id",))
    # separators after the last column (empty fields in every row) are read under the header's names
    trailing = tmp_path / "trailing.csv"
    trailing.write_text("patient_id,day,ca125\n001,0,400,\n001,21,180,\n")
    got = read_markers(trailing)
    assert got["patient_id"].tolist() == ["001", "001"] and got["ca125"].tolist() == [400.0, 180.0]
    pieces = list(stream_table(trailing, "markers", chunk_rows=1))
    assert [p.index[0] for p in pieces] == [2, 3] and pd.concat(pieces)["patient_id"].tolist() == ["001", "001"]


@pytest.mark.parametrize("text, refusal", [
    # a quoted cell over two lines before the bad record: the parser said "line 3" (row 3 here)
    ('patient_id,day,ca125\n001,0,"400\n"\n001,21,180,5\n001,42,90\n', "row 3 has 4 fields"),
    # a blank line before it: the parser said "line 4", counting the blank line
    ("patient_id,day,ca125\n\n001,0,400\n001,21,180,5\n", "row 3 has 4 fields"),
    # a quote never closed: the parser said "row 3", counting from 0 with the blank line
    ('patient_id,day,ca125\n001,0,400\n\n001,21,180\n001,42,"90\n001,63,50\n',
     r"row 4 opens a quoted cell that is never closed"),
    ('patient_id,day,ca125\n001,0,"40\n0"\n001,21,"180\n001,42,90\n', r"row 3 opens a quoted cell"),
])
def test_a_csv_the_parser_stops_on_names_the_row_as_every_message_does(tmp_path, text, refusal):
    """Rows are records with the header as row 1 and blank lines not counted (the data
    contract); pandas' own messages count blank lines, not the lines inside quotes, and
    ended in a newline the command line showed as "(+1 more line(s))"."""
    from ca125kinetics.io import _table_pieces, table_file

    for name in ("m.csv", "m.csv.gz"):
        path = tmp_path / name
        if name.endswith(".gz"):
            import gzip

            path.write_bytes(gzip.compress(text.encode()))
        else:
            path.write_text(text)
        with pytest.raises(InvalidInputError, match=refusal) as caught:
            read_markers(path)
        assert "\n" not in str(caught.value)
        with pytest.raises(InvalidInputError, match=refusal):        # read in pieces too
            list(_table_pieces(table_file(path, "markers", None), 1, "markers"))


def test_a_value_censored_at_zero_is_refused():
    # "<0" would read as a value of 0 (a complete response at 0 U/mL); a limit of 0 is no limit
    for frame in (markers(ca125=["400", "<0", "100"]), markers(ca125=["400", "< 0.0", "100"]),
                  markers(ca125=["400", "0", "100"], censored=["false", "true", "false"])):
        with pytest.raises(InvalidInputError, match=r"is censored at 0: below a limit of 0 is no value"):
            read_markers(frame)
    assert read_markers(markers(ca125=["400", "<0.5", "100"]))["censored"].tolist() == [False, True, False]


def test_a_value_of_zero_is_refused_by_the_reader_for_every_command():
    """No assay measures 0 U/mL: an export's 0 stands for a value below the limit, or for none.
    Read as a measurement, ``ca125 gcig`` made it a fall and a confirmed CR while the
    kinetics refused it (log scale) and ``score`` called the patient invalid: one row, three
    readings. The reader refuses it, so every command says the same."""
    from ca125kinetics import fit_kinetics, gcig_cohort, gcig_response

    for value in ("0", "0.0", " 0 ", 0, 0.0):
        frame = markers(ca125=["400", value, "100"])
        with pytest.raises(InvalidInputError, match=r"no assay measures 0 U/mL; give the value below the assay's "
                                                      r"limit as the report states it \(e.g. '<5'\)"):
            read_markers(frame)
    series = pd.DataFrame({"patient_id": "Z1", "day": [-3, 21, 42, 63], "ca125": [400, 0, 0, 0]})
    flagged = read_markers(series, on_error="flag")
    assert gcig_cohort(flagged)["status"].tolist() == ["invalid_input"]
    assert fit_kinetics(flagged, method="per-patient")["status"].tolist() == ["invalid_input"]
    with pytest.raises(InvalidInputError, match="no assay measures 0"):
        gcig_response([0, 21, 42, 63], [400, 0, 0, 0])


def test_undocumented_censored_value_is_an_error():
    with pytest.raises(InvalidInputError, match=r"censored 'maybe' is not a documented value"):
        read_markers(MESSY / "markers_censored_undocumented.csv")
    ok = read_markers(markers(censored=["no", "TRUE", None]))
    assert ok["censored"].tolist() == [False, True, False]
    assert read_markers(markers(censored=[0, 1, 0]))["censored"].tolist() == [False, True, False]
    with pytest.raises(InvalidInputError, match="censored 2"):
        read_markers(markers(censored=[0, 2, 0]))


@pytest.mark.parametrize("said_false", [False, "false", "no", 0])
def test_a_censored_value_whose_flag_says_false_is_refused_not_resolved(said_false):
    """'<5' with censored stated false contradicts itself: refused (which one is right is not
    guessed); an empty flag beside '<5' is no statement and the '<' is read."""
    frame = pd.DataFrame({"patient_id": ["007"] * 3, "day": [0, 21, 42], "ca125": ["400", "<5", "6"],
                          "censored": [False, said_false, None]})
    with pytest.raises(InvalidInputError, match=r"value '<5' is written as below the assay's limit but censored"):
        read_markers(frame)
    assert read_markers(frame.assign(censored=[False, None, None]))["censored"].tolist() == [False, True, False]


@pytest.mark.parametrize("null", [None, pd.NA])
def test_null_patient_id_in_a_nullable_column_is_refused(null):
    with pytest.raises(InvalidInputError, match=r"patient_id is empty in 1 row"):
        read_markers(MESSY / "markers_null_patient_id.parquet")
    frame = markers(patient_id=pd.array(["007", null, "007"], dtype="string"))
    with pytest.raises(InvalidInputError, match="patient_id is empty"):
        read_markers(frame)
    clin = CLINICAL.assign(patient_id=pd.array(["007", null], dtype="string"))
    with pytest.raises(InvalidInputError, match="patient_id is empty"):
        read_clinical(clin)


@pytest.mark.parametrize("mark", ["NA", "N/A", ".", "unknown", " na ", "NULL", "-"])
def test_a_patient_id_written_as_a_missing_value_is_refused(tmp_path, mark):
    # R's write.csv writes a missing identifier as NA: the rows of every patient without one
    # were read as one patient 'NA' (scored, with no clinical table), their samples one series
    frame = pd.DataFrame({"patient_id": ["007", "007", mark, mark], "day": [0, 21, 0, 42],
                          "ca125": [400.0, 180.0, 90.0, 60.0]})
    with pytest.raises(InvalidInputError, match=r"patient_id .* in 2 row\(s\) \(2, 3\) is how a missing value is "
                                                r"written .*give every sample its patient's identifier"):
        read_markers(frame, on_error="flag")
    path = tmp_path / "markers.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(InvalidInputError, match=r"is how a missing value is written"):
        read_markers(path, on_error="flag")
    clin = CLINICAL.assign(patient_id=["007", mark])
    with pytest.raises(InvalidInputError, match=r"is how a missing value is written.*every clinical row needs"):
        read_clinical(clin, on_error="flag")
    assert read_markers(frame.assign(patient_id=["007", "007", "NAB", "NAB"]))["patient_id"].tolist() == \
        ["007", "007", "NAB", "NAB"]


# ----------------------------------------------------------------------------- fuzz

_CELLS = st.one_of(
    st.none(), st.just(pd.NA), st.booleans(), st.integers(-10**6, 10**6),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["<5", "< 3,5", "1,200", "1.200,5", "01/03/2024", "2024-03-04T08:00+02:00", "nan",
                     "inf", "1e308", "", " ", "IIIC", "single", "true", "maybe"]),
)
_NAMES = ["patient_id", "day", "date", "ca125", "uln", "censored", "event", "assay", "ECOG", "ecog",
          "treatment_start", "age", "figo_stage", "pfi", "x"]


@st.composite
def _tables(draw):
    names = draw(st.lists(st.sampled_from(_NAMES), min_size=1, max_size=6))
    n = draw(st.integers(0, 4))
    data = {f"c{i}": [draw(_CELLS) for _ in range(n)] for i in range(len(names))}
    frame = pd.DataFrame(data)
    frame.columns = names
    return frame


@hsettings(max_examples=150, deadline=None)
@given(table=_tables(), other=_tables(),
       options=st.fixed_dictionaries({"decimal": st.sampled_from([".", ","]),
                                      "thousands": st.sampled_from([None, ".", ",", " "]),
                                      "date_format": st.sampled_from([None, "%d/%m/%Y", "%Y-%m-%d"])}))
def test_readers_raise_only_package_errors(table, other, options):
    """Whatever the table, the readers return a frame or raise the package's own errors."""
    for call in (lambda: read_markers(table, **options),
                 lambda: read_markers(table, clinical=other, on_error="flag", **options),
                 lambda: read_clinical(table, require=("patient_id",), **options),
                 lambda: read_clinical(table, on_error="flag", require=("patient_id",), **options)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DataQualityWarning)
                call()
        except Ca125KineticsError:
            pass


@pytest.mark.parametrize("form", ["numpy", "objects"])
def test_true_false_is_not_a_day_a_value_or_an_age(tmp_path, form):
    """True/False where a number is expected (a boolean Parquet column, or Python bools in a
    frame or in predict's mapping) was read as 1/0: day 1 and 0, CA-125 1 and 0 U/mL, ECOG 1.
    It is refused as any other non-number (as gcig_cohort already refused it); a 0/1 flag
    (pfs_event, complete_resection) still takes True/False."""
    flags = np.array([True, False, True]) if form == "numpy" else [True, False, True]
    frame = markers(day=flags, ca125=flags, uln=flags)
    problem = read_markers(frame, on_error="flag")["problem"].iloc[0]
    for said in ("column 'day': day True is not a number", "column 'ca125': CA-125 value False is not a number",
                 "column 'uln': ULN True is not a number"):
        assert said in problem
    path = tmp_path / "m.parquet"
    frame.assign(ca125=[400.0, 180.0, 150.0], uln=35.0).to_parquet(path)    # a boolean Parquet day
    with pytest.raises(InvalidInputError, match=r"row 0, patient '007', column 'day': day True is not a number"):
        read_markers(path)
    clinical = CLINICAL.assign(ecog=np.array([True, False]) if form == "numpy" else [True, 0],
                               pfs_event=np.array([True, False]) if form == "numpy" else [True, 0])
    read = read_clinical(clinical, on_error="flag")
    assert "column 'ecog': ecog True is not a number" in read["problem"].iloc[0]
    assert read["pfs_event"].tolist() == [1, 0]
    assert pd.isna(read["problem"].iloc[1]) if form == "objects" else "ecog False" in read["problem"].iloc[1]


def test_two_samples_on_an_infinite_day_are_reported_not_a_crash():
    # found by the fuzz of predict: the duplicate-day message did int(inf)
    with pytest.raises(InvalidInputError, match="outside the plausible range"):
        read_markers(markers(day=[-3, np.inf, np.inf]))
# ---------------------------------------------------------------- one patient (patient_record)


def test_patient_record_dates_as_strings_or_timestamps_give_the_readers_days():
    from ca125kinetics.io import patient_record

    dates = ["2024-01-07", "2024-02-21"]
    table = read_markers(pd.DataFrame({"patient_id": ["007"] * 2, "date": dates, "ca125": [400, 90]}),
                         clinical=CLINICAL)
    for form in (dates, [pd.Timestamp(d) for d in dates], pd.to_datetime(dates).to_numpy()):
        record = patient_record({"patient_id": "007", "date": form, "ca125": [400, 90]}, CLINICAL)
        assert record.day == tuple(table["day"]) and record.problem is None
    start = {"patient_id": "007", "treatment_start": pd.Timestamp("2024-01-10")}
    assert patient_record({"date": dates, "ca125": [400, 90]}, start).day == (-3, 42)
    with pytest.raises(InvalidInputError, match="needs a 'treatment_start' column"):
        patient_record({"date": dates, "ca125": [400, 90]}, {"patient_id": "007"})


def test_patient_record_takes_the_patients_row_of_a_clinical_table(tmp_path):
    from ca125kinetics.io import patient_record

    path = tmp_path / "c.csv"
    CLINICAL.to_csv(path, index=False)
    as_numbers = pd.read_csv(path)                       # pandas reads "007" as 7
    markers_numbers = markers(patient_id=[7, 7, 7])
    for table, m in ((CLINICAL, markers()), (path, markers()), (as_numbers, markers_numbers)):
        record = patient_record(m, table)
        assert record.clinical["age"] == 61.0 and record.clinical["recurrence_pattern"] == "single"
    with pytest.raises(InvalidInputError, match="'999' has markers but no clinical row"):
        patient_record(markers(patient_id=["999"] * 3), CLINICAL)
    with pytest.raises(InvalidInputError, match="holds 2"):
        patient_record(markers(patient_id=["007", "12", "007"]), CLINICAL)


# ------------------------------------------------- text columns held by Arrow (column-wise rules)
#
# A text column held by Arrow (pandas >= 3 reads of Parquet and CSV, ``string[pyarrow]``) is read
# column-wise (io._Text); every rule must give what the element-wise rule gives on the same cells.

from ca125kinetics.io import _Text, _id_array, _missing, _parse_values, _text  # noqa: E402

#: (cell, decimal, thousands) -> (value, censored, refused): the number rules of docs/input-formats.md,
#: written out by hand (None = empty cell, value nan).
_NUMBER_RULES = [
    ("121.8", ".", None, 121.8, False, False), (" 42 ", ".", None, 42.0, False, False),
    ("\u00a07\t", ".", None, 7.0, False, False), ("5.", ".", None, 5.0, False, False),
    (".5", ".", None, 0.5, False, False), (".", ".", None, np.nan, False, True),
    ("007", ".", None, 7.0, False, False), ("+5", ".", None, 5.0, False, False),
    ("1e3", ".", None, 1000.0, False, False), ("-3", ".", None, -3.0, False, False),
    ("<5", ".", None, 5.0, True, False), ("< = 5", ".", None, 5.0, True, False),
    ("<x", ".", None, np.nan, True, True), ("nan", ".", None, np.nan, False, True),
    ("inf", ".", None, np.inf, False, False), ("1,200", ".", None, np.nan, False, True),
    ("1,200", ".", ",", 1200.0, False, False), ("12,00", ".", ",", np.nan, False, True),
    ("420,5", ",", None, 420.5, False, False), ("<3,5", ",", None, 3.5, True, False),
    ("1.200", ",", None, np.nan, False, True), ("1.200,5", ",", ".", 1200.5, False, False),
    ("1 200,5", ",", " ", 1200.5, False, False), ("\u0661\u0662", ".", None, np.nan, False, True),
    ("12345678901234567890", ".", None, 1.2345678901234567e19, False, False),
    ("", ".", None, np.nan, False, False), (None, ".", None, np.nan, False, False),
]


def _both_storages(cells):
    """The same cells as an Arrow-held column (io._Text) and as the numpy column of io._array."""
    column = _Text.of(pd.array(cells, dtype="string[pyarrow]"))
    assert column is not None
    return column, column.numpy()


@pytest.mark.parametrize("cell, decimal, thousands, value, censored, refused", _NUMBER_RULES)
def test_number_rule_table_holds_for_both_storages(cell, decimal, thousands, value, censored, refused):
    for column in _both_storages([cell, "1"]):
        got = _parse_values(column, decimal, thousands)
        assert (np.isnan(got[0][0]) if np.isnan(value) else got[0][0] == value), (column, got)
        assert (bool(got[1][0]), bool(got[2][0])) == (censored, refused)


@pytest.mark.parametrize("cells", [["12x", ""], ["", "1", "1a"], ["1", None, "x1", None], ["", ""], ["1.2.3", "4"]])
def test_cell_bounds_of_the_column_wise_number_rule(cells):
    """Each cell is judged on its own bytes (neighbours, empty or missing cells do not leak)."""
    from ca125kinetics.io import _parse_numbers

    column, array = _both_storages(cells)
    np.testing.assert_array_equal(_parse_numbers(column, ".", None), _parse_numbers(array, ".", None))


_TEXT = st.one_of(
    st.none(),
    st.text(alphabet="0123456789.,<= +-eEnaif\t\u00a0\u3000\u0661x", max_size=8),
    st.sampled_from(["<5", "< 3,5", "1,200", "1.200,5", "nan", "inf", "", " ", "12345678901234567890",
                     "0.1000000000000000055511151231257827", "1e400", "5e-324", " p1", "p1 ", "\u00a0p1"]),
)


@hsettings(max_examples=200, deadline=None)
@given(cells=st.lists(_TEXT, min_size=1, max_size=12),
       number_format=st.sampled_from([(".", None), (".", ","), (",", None), (",", "."), (",", " ")]))
def test_column_wise_rules_equal_the_element_wise_rules(cells, number_format):
    """Stripping, identifiers, missing cells and numbers (censored or not) read column-wise are
    the element-wise results, cell by cell."""
    from ca125kinetics.io import _parse_numbers, _patient_ids

    column, array = _both_storages(cells)
    decimal, thousands = number_format
    assert _text(column).tolist() == _text(array).tolist()
    assert _missing(column).tolist() == _missing(array).tolist()
    if not _missing(array).any():
        assert _patient_ids(column)[0].tolist() == _id_array(array).tolist()
    np.testing.assert_array_equal(_parse_numbers(column, decimal, thousands), _parse_numbers(array, decimal, thousands))
    for got, expected in zip(_parse_values(column, decimal, thousands), _parse_values(array, decimal, thousands)):
        np.testing.assert_array_equal(got, expected)


_MARKER_CELLS = {
    "patient_id": st.sampled_from(["007", "007", "12", " 12", "12 ", "a", "", "\u00a0b"]),
    "day": st.sampled_from(["-3", "21", "42", " 42", "x", "", "3.5", "4000"]),
    "ca125": _TEXT,
    "event": st.sampled_from(["", "surgery", " Mouse antibody ", "bogus", "PARACENTESIS"]),
    "assay": st.sampled_from(["", "A", " A", "B "]),
    "note": st.sampled_from(["", "x", " y"]),
}


@st.composite
def _text_tables(draw):
    n = draw(st.integers(1, 8))
    names = ["patient_id", "day", "ca125"] + draw(st.lists(st.sampled_from(["event", "assay", "note"]), unique=True))
    return {c: [draw(_MARKER_CELLS[c]) for _ in range(n)] for c in names}


def _outcome(call):
    try:
        return call()
    except InvalidInputError as exc:
        return (str(exc), exc.source, exc.row, type(exc.row), exc.patient_id, exc.column)


def _same_outcome(a, b):
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
        for c in ("patient_id", "assay", "event", "problem"):
            assert [type(v) for v in a[c]] == [type(v) for v in b[c]]
    else:
        assert a == b


@hsettings(max_examples=150, deadline=None)
@given(table=_text_tables(),
       options=st.sampled_from([{}, {"on_error": "flag"}, {"on_error": "flag", "duplicates": "mean"},
                                {"on_error": "flag", "decimal": ","}, {"thousands": ","}]))
def test_read_markers_is_the_same_for_object_and_arrow_text(table, options):
    """The canonical frame, or the error and its message, do not depend on how the text is held."""
    as_objects = pd.DataFrame({c: pd.Series(v, dtype=object) for c, v in table.items()})
    as_arrow = pd.DataFrame({c: pd.array(v, dtype="string[pyarrow]") for c, v in table.items()})
    _same_outcome(_outcome(lambda: read_markers(as_objects, **options)),
                  _outcome(lambda: read_markers(as_arrow, **options)))


@hsettings(max_examples=100, deadline=None)
@given(ids=st.lists(st.sampled_from(["007", "12", " 12", "a", "x1", "\u00a0b", "é"]), min_size=1, max_size=8),
       stages=st.lists(st.sampled_from(["", "IIIC", " iv ", "FIGO II", "V"]), min_size=8, max_size=8),
       patterns=st.lists(st.sampled_from(["", "single", " Multiple ", "diffuse"]), min_size=8, max_size=8),
       ages=st.lists(st.sampled_from(["", "61", " 55.5", "x", "130", "1,5"]), min_size=8, max_size=8))
def test_read_clinical_is_the_same_for_object_and_arrow_text(ids, stages, patterns, ages):
    n = len(ids)
    table = {"patient_id": ids, "age": ages[:n], "figo_stage": stages[:n], "recurrence_pattern": patterns[:n],
             "recist": ["pr"] * n}
    as_objects = pd.DataFrame({c: pd.Series(v, dtype=object) for c, v in table.items()})
    as_arrow = pd.DataFrame({c: pd.array(v, dtype="string[pyarrow]") for c, v in table.items()})
    for options in ({"require": ("patient_id",)}, {"require": ("patient_id",), "on_error": "flag"}):
        a = _outcome(lambda: read_clinical(as_objects, **options))
        b = _outcome(lambda: read_clinical(as_arrow, **options))
        if isinstance(a, pd.DataFrame):
            pd.testing.assert_frame_equal(a, b, check_exact=True, check_dtype=False)
        else:
            assert a == b


@pytest.mark.parametrize("raw_kinds", [5, 300])
def test_long_clinical_text_columns_are_the_same_for_object_and_arrow_text(raw_kinds):
    """From 1,000 rows, read_clinical builds an Arrow text column from the few distinct texts
    (codes and labels): the frame is the one the cell-by-cell reading of objects gives, types
    included, with unknown categories and stages missing (300 raw stages: too many distinct
    texts to code, the column is taken as it is)."""
    n = 1200
    rng = np.random.default_rng(raw_kinds)
    stages = ["IIIC", " iv ", "FIGO II", None, ""] + [f"V{i}" for i in range(raw_kinds - 5)]
    table = {"patient_id": [f"{i:05d}" for i in range(n)],
             "figo_stage": [stages[i] for i in rng.integers(0, len(stages), n)],
             "recurrence_pattern": rng.choice(["single", " Multiple ", "diffuse", "", "carcinomatosis"], n).tolist(),
             "recist": rng.choice(["pr", "CR", "zz", "SD ", "pd"], n).tolist(),
             "tumour_site": [None] * n}
    as_objects = pd.DataFrame({c: pd.Series(v, dtype=object) for c, v in table.items()})
    as_arrow = pd.DataFrame({c: pd.array(v, dtype="string[pyarrow]") for c, v in table.items()})
    a = read_clinical(as_objects, require=("patient_id",), on_error="flag")
    b = read_clinical(as_arrow, require=("patient_id",), on_error="flag")
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert b["recist"].isna().sum() == (as_objects["recist"] == "zz").sum() > 0
    assert b["figo_stage"].dropna().isin(["II", "III", "IV"]).all()
    if raw_kinds > 5:
        assert b["problem"].str.contains("unknown FIGO stage 'V").any()


def test_parquet_rows_in_any_order_read_as_the_sorted_table(tmp_path):
    """A file sorted by patient needs no sort; a shuffled one is sorted as before (stable)."""
    rng = np.random.default_rng(3)
    ids = np.repeat([f"{i:04d}" for i in range(40)], 5)
    table = pd.DataFrame({"patient_id": ids, "day": np.tile([-3, 21, 42, 63, 84], 40),
                          "ca125": rng.choice(["400", "<5", "35.5", " 12 "], len(ids)),
                          "assay": rng.choice(["A", "B", None], len(ids))})
    table.to_parquet(tmp_path / "sorted.parquet")
    table.sample(frac=1, random_state=1).to_parquet(tmp_path / "shuffled.parquet")
    sorted_read = read_markers(tmp_path / "sorted.parquet")
    pd.testing.assert_frame_equal(sorted_read, read_markers(tmp_path / "shuffled.parquet"))
    assert sorted_read["patient_id"].tolist() == ids.tolist()
    assert sorted_read["assay"].map(type).isin([str, type(None)]).all()


def test_problem_rows_are_the_files_rows_as_python_numbers(tmp_path):
    path = tmp_path / "m.parquet"
    markers(ca125=["400", "abc", "150"]).to_parquet(path)
    with pytest.raises(InvalidInputError) as info:
        read_markers(path)
    assert info.value.row == 1 and type(info.value.row) is int
    flagged = read_markers(path, on_error="flag")
    assert flagged["problem"].tolist() == ["invalid input: markers table, row 1, column 'ca125': CA-125 value 'abc' is not a "
                                           "number; give U/mL as a number, or '<x' for a value below the "
                                           "assay's limit"]


@pytest.mark.parametrize("cells", [["IIIC", None, "IV"], [None, None], ["a", 1], [1.5, 2.0], ["x", np.nan]])
def test_long_text_columns_are_typed_as_pandas_types_them(cells):
    """read_clinical infers a long column once per distinct value: the column pandas makes."""
    from ca125kinetics.io import _inferred

    values = np.empty(2400, dtype=object)
    values[:] = cells * (2400 // len(cells))
    pd.testing.assert_frame_equal(pd.DataFrame({"x": _inferred(values)}), pd.DataFrame({"x": values}))


@pytest.mark.parametrize("extra_clinical", [False, True])
def test_patient_batch_places_each_patient_of_both_frames(extra_clinical):
    """PatientBatch.from_frames: the patients of both frames in sorted order, each one's markers
    rows and clinical row at its place, whether the frames hold the same patients (a chunk of a
    sorted registry) or the clinical table has a patient without markers."""
    from ca125kinetics.io import PatientBatch

    frame = markers(patient_id=["12", "007", "12"], day=[-3, -2, 21], ca125=["400", "90", "180"])
    rows = pd.concat([CLINICAL, CLINICAL.iloc[:1].assign(patient_id="3")]) if extra_clinical else CLINICAL
    clinical = read_clinical(rows, on_error="flag")
    batch = PatientBatch.from_frames(read_markers(frame, clinical=clinical, on_error="flag"), clinical)
    expected = ["007", "12", "3"] if extra_clinical else ["007", "12"]
    assert list(batch.ids) == expected
    assert batch.offsets.tolist() == [0, 1, 3, 3][:len(expected) + 1]
    assert batch.day.tolist() == [-2, -3, 21] and batch.ca125.tolist() == [90.0, 400.0, 180.0]
    assert batch.has_clinical.tolist() == [True] * len(expected)
    assert batch.clinical["ecog"].tolist() == [0.0, 1.0, 0.0][:len(expected)]
    assert batch.clinical["figo_stage"].tolist()[:2] == ["III", "IV"]


@pytest.mark.parametrize("ids, orphans", [(["007", "12"], []), (["007", "999"], ["999"]), (["999"], ["999"])])
def test_markers_patients_are_looked_up_in_the_clinical_table(ids, orphans):
    """Each markers patient is looked up among the clinical patients, whether both tables
    hold the same patients or not (as many patients, or fewer)."""
    frame = markers(patient_id=[ids[0], ids[-1], ids[-1]])
    flagged = read_markers(frame, clinical=CLINICAL, on_error="flag")
    bad = flagged.loc[flagged["problem"].notna(), "patient_id"].tolist()
    assert bad == orphans
    assert all("has markers but no clinical row" in p for p in flagged["problem"].dropna())


@pytest.mark.parametrize("dtype", ["str", "string", object])
def test_batch_objects_of_a_text_column(dtype):
    """A clinical text column in a PatientBatch: the same Python strings whatever pandas holds
    them in, None for every missing cell."""
    from ca125kinetics.io import _batch_objects

    column = pd.Series(["PR", None, "CR", "PR", np.nan], dtype=dtype)
    out = _batch_objects(column)
    assert out.dtype == object and out.tolist() == ["PR", None, "CR", "PR", None]
    assert all(type(v) is str for v in out[[0, 2, 3]])


@pytest.mark.parametrize("raw", ["2024-02-30", "2023-13-01", "2024-04-31T10:00"])
def test_an_impossible_iso_date_is_refused_as_such(raw):
    """A date written as YYYY-MM-DD that names no day is refused as that, not as an ambiguous
    format (the message used to suggest date_format=, which cannot help)."""
    clinical = pd.DataFrame({"patient_id": ["a"], "treatment_start": [raw]})
    with pytest.raises(InvalidInputError, match="is written as YYYY-MM-DD but no such day exists") as error:
        read_clinical(clinical, require=("patient_id",))
    assert "date_format" not in str(error.value)


@pytest.mark.parametrize("dtype", ["float32", "Float32", "float32[pyarrow]", "float16"])
def test_single_precision_contract_columns_are_refused(dtype, tmp_path):
    # a float32 column was read as its float64 widening: 21.2 became 21.2000007629, which the
    # rules' 1e-9 slack does not absorb at a limit (Spark refused the same column)
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = markers(ca125=[400.0, 180.0, 150.0])
    with pytest.raises(InvalidInputError, match=r"column 'ca125' holds single-precision numbers"):
        read_markers(frame.astype({"ca125": dtype}))
    with pytest.raises(InvalidInputError, match=r"column 'age' holds single-precision numbers"):
        read_clinical(pd.DataFrame({"patient_id": ["1"], "age": [61.0]}).astype({"age": dtype}),
                      require=("patient_id",))
    # an extra column is not read, whatever its type
    assert len(read_markers(frame.assign(note=np.float32(1.5)))) == 3
    path = tmp_path / "m.parquet"
    pq.write_table(pa.table({"patient_id": ["1"] * 3, "day": [0, 21, 42],
                             "ca125": pa.array([400, 180, 60], pa.float32())}), path)
    with pytest.raises(InvalidInputError, match="single-precision"):
        read_markers(path)


@pytest.mark.parametrize("single", [np.float32(13.4), np.float16(13.5)])
def test_a_single_precision_number_in_a_clinical_mapping_is_refused_as_in_a_table(single):
    # predict(m, {"pfi_months": np.float32(13.4)}) scored the float64 widening, 13.3999996185
    from ca125kinetics import predict

    clinical = {"age": 60, "ecog": 0, "ascites_ml": 0, "figo_stage": "III", "primary_residual_disease": 0,
                "pfi_months": single, "recurrence_pattern": "single", "recist": "PR"}
    series = {"day": [-3, 21, 42, 63], "ca125": [400, 180, 95, 40]}
    with pytest.raises(InvalidInputError, match=r"column 'pfi_months' holds single-precision numbers"):
        predict(series, clinical)
    assert predict(series, dict(clinical, pfi_months=float(np.float64(13.4)))).status == "ok"


@pytest.mark.parametrize("form", ["mapping", "pairs", "records", "frame"])
def test_a_single_precision_number_among_python_values_is_refused(form):
    """200.1 given as np.float32 in a list was read as 200.1000061: above the 50 % line of 400.2,
    so the GCIG response became unconfirmed and the decision was withheld, silently (a float32
    array was refused, a float32 in a list not)."""
    from ca125kinetics import predict

    clinical = {"age": 65, "ecog": 0, "ascites_ml": 0, "pfi_months": 14, "figo_stage": "III",
                "primary_residual_disease": 0, "recurrence_pattern": "multiple", "recist": "SD"}
    days, values = [-5, 21, 49], [400.2, np.float32(200.1), 150.0]
    series = {"mapping": {"day": days, "ca125": values}, "pairs": list(zip(days, values)),
              "records": [{"day": d, "ca125": v} for d, v in zip(days, values)],
              "frame": pd.DataFrame({"day": days, "ca125": np.array(values + ["<5"], dtype=object)[:3]})}[form]
    with pytest.raises(InvalidInputError, match=r"column 'ca125' holds single-precision numbers \(float32\)"):
        predict(series, clinical)
    assert predict({"day": days, "ca125": [400.2, 200.1, 150.0]}, clinical).gcig["status"] == "response"
    # a key that is not a contract column is not read, whatever its type
    assert predict({"day": days, "ca125": [400.2, 200.1, 150.0], "note": np.float32(1)}, clinical).status == "ok"


def test_patient_ids_given_as_bytes_are_refused():
    # b'007' was read as the patient "b'007'"
    with pytest.raises(InvalidInputError, match="'patient_id' holds bytes"):
        read_markers(markers().assign(patient_id=b"007"))


@pytest.mark.parametrize("dtype", ["int64", "Int64", "uint64", "int64[pyarrow]"])
def test_integer_patient_ids_beyond_float_precision_stay_exact(tmp_path, dtype):
    # 12345678901234567 was read through a float as '12345678901234568': two patients became one
    ids = pd.array([12345678901234567, 12345678901234568], dtype=dtype)
    frame = pd.DataFrame({"patient_id": ids, "day": [0, 0], "ca125": [400.0, 300.0]})
    frame.to_parquet(tmp_path / "markers.parquet")
    for source in (frame, tmp_path / "markers.parquet"):
        assert read_markers(source)["patient_id"].tolist() == ["12345678901234567", "12345678901234568"]


@pytest.mark.parametrize(("how", "values", "censored", "expected"), [
    ("mean", [5, 10], [True, False], (7.5, True)),       # the mean of <5 and 10 is below 7.5
    ("mean", [5, 6], [False, False], (5.5, False)),
    ("min", [5, 3], [True, False], (3.0, True)),         # min(<5, 3) is at most 3
    ("min", [5, 10], [True, False], (5.0, True)),
    ("max", [5, 3], [True, False], (5.0, True)),         # max(<5, 3) is below 5
    ("max", [5, 5], [True, False], (5.0, False)),        # max(<5, 5) is 5
    ("max", [5, 10], [True, False], (10.0, False)),
    ("median", [2, 10, 12], [True, False, False], (10.0, False)),   # <2 stays below the middle
    ("median", [10, 10, 12], [True, False, False], (10.0, False)),  # so does <10 below 10
    ("median", [10, 3, 10, 20], [True, False, False, False], (10.0, True)),   # (3 + 10) / 2 if low
    ("median", [10, 3, 4, 20], [True, False, False, False], (7.0, True)),
    ("first", [5, 10], [True, False], (5.0, True)),
    ("last", [5, 10], [True, False], (10.0, False)),
])
def test_an_aggregate_of_same_day_samples_is_censored_when_a_censored_sample_could_lower_it(
        how, values, censored, expected):
    """A ``"<x"`` sample is an upper bound: the aggregate (taken with the limit) is censored
    exactly when lowering a censored sample could lower it, i.e. when it is lower with the
    censored samples at 0. The reader said "censored only if
    all are" (the mean of <5 and 10 read as exactly 7.5) and the GCIG rules had their own
    rule (min(<5, 3) read as exactly 3): one rule now, the reader's, for every series."""
    from ca125kinetics import gcig

    df = pd.DataFrame({"patient_id": "p", "day": [0] + [21] * len(values), "ca125": [400.0] + values,
                       "censored": [False] + censored})
    day21 = read_markers(df, duplicates=how).set_index("day").loc[21]
    assert (day21["ca125"], bool(day21["censored"])) == pytest.approx(expected)
    # the GCIG list API reads its series by the same rule
    listed = gcig.gcig_response([0] + [21] * len(values), [400.0] + values, censored=[False] + censored,
                                settings=gcig.GcigSettings(duplicates=how))
    framed = gcig.gcig_cohort(df, settings=gcig.GcigSettings(duplicates=how)).iloc[0]
    assert listed.status == framed["status"] and listed.reason == framed["reason"]


_SAME_DAY = st.lists(st.tuples(st.sampled_from([0.5, 3.0, 5.0, 10.0, 12.0, 70.0]) | st.floats(0.5, 500),
                               st.booleans()), min_size=2, max_size=6)


@hsettings(max_examples=200, deadline=None)
@given(_SAME_DAY, st.sampled_from(["mean", "median", "max", "min", "first", "last"]), st.randoms())
def test_an_aggregate_read_as_exact_is_the_same_whatever_the_censored_levels(samples, how, rnd):
    """What "censored" means for an aggregate, checked from the levels themselves: whatever
    level each ``"<x"`` sample truly had (in [0, x)), the aggregate is at most the value read,
    and equal to it when the value is read as exact; when it is read as censored, some levels
    give less (all of them at 0)."""
    import statistics

    values = [v if not c or v > 0 else 1.0 for v, c in samples]    # a "<0" cannot be written
    cens = [c for _, c in samples]
    df = pd.DataFrame({"patient_id": "p", "day": [0] + [21] * len(values), "ca125": [400.0] + values,
                       "censored": [False] + cens})
    day21 = read_markers(df, duplicates=how).set_index("day").loc[21]
    value, censored = float(day21["ca125"]), bool(day21["censored"])
    aggregate = {"mean": statistics.fmean, "median": statistics.median, "max": max, "min": min,
                 "first": lambda v: v[0], "last": lambda v: v[-1]}[how]
    draws = [[rnd.uniform(0, v) if c else v for v, c in zip(values, cens)] for _ in range(20)]
    draws.append([0.0 if c else v for v, c in zip(values, cens)])
    for levels in draws:
        got = aggregate(levels)
        assert got <= value * (1 + 1e-12) + 1e-12
        if not censored:
            assert got == pytest.approx(value, rel=1e-12, abs=1e-12)
    if censored:
        assert aggregate(draws[-1]) < value


def test_same_day_samples_of_two_assays_or_ulns_are_not_aggregated():
    """Two assays' (or two ULNs') samples on one day cannot be one value of one assay: the
    patient is refused with the reason (the first sample's assay and ULN used to be kept,
    hiding the assay change the GCIG rules look for); one named assay and an unnamed sample
    aggregate under the named one."""
    df = pd.DataFrame({"patient_id": "p", "day": [0, 21, 21], "ca125": [400.0, 180.0, 190.0],
                       "assay": ["A", "A", "B"]})
    with pytest.raises(InvalidInputError, match=r"two assays \(A, B\) on day 21 cannot be aggregated"):
        read_markers(df, duplicates="mean")
    with pytest.raises(InvalidInputError, match=r"two ULNs \(30, 35\) on day 21 cannot be aggregated"):
        read_markers(df.drop(columns="assay").assign(uln=[35.0, 30.0, 35.0]), duplicates="max")
    one = read_markers(df.assign(assay=[None, None, "A"]), duplicates="mean").set_index("day").loc[21]
    assert one["ca125"] == 185.0 and one["assay"] == "A"


def test_an_event_on_an_aggregated_sample_is_kept():
    """A paracentesis written on the second of two same-day samples: the aggregate used to
    take the first row's (empty) event, and the exclusion it opens was lost. The event now
    stays a row of its own that day, and the GCIG rules set the samples it covers aside."""
    from ca125kinetics import gcig

    df = pd.DataFrame({"patient_id": "p", "day": [-7, -7, 21, 42], "ca125": [300.0, 310.0, 100.0, 60.0],
                       "event": [None, "paracentesis", None, None]})
    read = read_markers(df, duplicates="mean")
    assert read["event"].tolist().count("paracentesis") == 1
    assert read.loc[read["ca125"].notna(), "ca125"].tolist() == [305.0, 100.0, 60.0]
    table = gcig.gcig_cohort(df, settings=gcig.GcigSettings(duplicates="mean")).iloc[0]
    assert table["status"] == "not_evaluable" and "exclusions" in table["reason"]


def test_patient_record_names_the_input_and_rows_as_the_caller_does():
    from ca125kinetics import io

    with pytest.raises(InvalidInputError) as err:
        io.patient_record({"day": [0, 21], "ca125": [400, -1]}, on_error="raise", source="my lists",
                          rows=["a[0]", "a[1]"])
    assert str(err.value).startswith("my lists, row a[1], patient 'patient', column 'ca125': CA-125 value -1 is")
    with pytest.raises(InvalidInputError, match="rows names 1 rows but the markers have 2"):
        io.patient_record({"day": [0, 21], "ca125": [400, 1]}, rows=["a[0]"])


@pytest.mark.parametrize("as_file", [False, True])
def test_an_empty_uln_among_a_patients_given_ones_is_warned_about(tmp_path, as_file):
    """An empty uln cell is read as the default (35), as documented; among a patient's samples
    with ULN 30 that made GCIG say "the ULN differs (30, 35)" with no word of where 35 came
    from. The reader now says so. A patient with no ULN at all, or every sample's, is quiet."""
    table = pd.DataFrame({"patient_id": ["a"] * 4 + ["b"] * 2 + ["c"] * 2,
                          "day": [0, 21, 42, 63, 0, 21, 0, 21],
                          "ca125": [400, 180, 195, 150, 100, 50, 90, 40],
                          "uln": [30, 30, None, 30, None, None, 30, 30]})
    source = table
    if as_file:
        source = tmp_path / "m.csv"
        table.to_csv(source, index=False)
    with pytest.warns(DataQualityWarning) as record:
        markers = read_markers(source)
    said = [str(w.message) for w in record if "uln is empty" in str(w.message)]
    row = 4 if as_file else 2     # a file's line number, a DataFrame's row label
    assert said == [f"{source if as_file else 'markers DataFrame'}: uln is empty in 1 sample row(s) ({row}) of 1 "
                    "patient(s) whose other samples give a ULN (first: patient 'a'); those samples are read with "
                    "the default 35 U/mL, so the patient's ULN differs between samples and the GCIG rules find "
                    "it not evaluable when both ULNs are used (from the baseline on): give every sample of a "
                    "patient its assay's ULN"]
    assert markers["uln"].tolist() == [30, 30, 35, 30, 35, 35, 30, 30]
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataQualityWarning)
        read_markers(table[table["patient_id"] != "a"])


def test_command_line_users_are_told_the_options_they_have():
    """Two messages named only Python arguments ('pass clinical=...', "method='per-patient'")
    to users of ca125 kinetics, which has no --clinical: they now say what the command line
    takes (a treatment_start column in the markers table; --method per-patient, --model)."""
    from ca125kinetics.errors import InsufficientDataError
    from ca125kinetics.kinetics import fit_kinetics

    dated = pd.DataFrame({"patient_id": "p", "date": ["2025-01-01", "2025-01-22"], "ca125": [400.0, 200.0]})
    with pytest.raises(InvalidInputError, match="in a column of the markers table, or a clinical table with it"):
        read_markers(dated)
    five = pd.DataFrame({"patient_id": np.repeat([f"p{i}" for i in range(5)], 4), "day": [0, 21, 42, 63] * 5,
                         "ca125": [400.0, 200.0, 100.0, 50.0] * 5})
    with pytest.raises(InsufficientDataError, match=r"--method per-patient\), pass a fitted population= "
                                                    r"\(a model's: --model\)"):
        fit_kinetics(read_markers(five), method="population")


@pytest.mark.parametrize("blank", ["", "  "])
def test_a_blank_censored_flag_beside_a_limit_is_no_statement(tmp_path, blank):
    """An empty-text flag (a Parquet or text-typed column's empty cell) beside '<5' states
    nothing, as a null cell does: the '<' is read, not refused as a contradiction."""
    frame = pd.DataFrame({"patient_id": ["007"] * 3, "day": [0, 21, 42], "ca125": ["400", "<5", "6"],
                          "censored": ["", blank, ""]})
    assert read_markers(frame)["censored"].tolist() == [False, True, False]
    frame.to_parquet(tmp_path / "m.parquet")
    assert read_markers(tmp_path / "m.parquet")["censored"].tolist() == [False, True, False]


def test_a_flagged_reason_names_the_table_its_row_belongs_to(tmp_path):
    """`ca125 score` wrote 'invalid input: row 3, ...' for one patient's bad CA-125 and another's
    bad ECOG: row 3 of which file? Each reason names its table."""
    from ca125kinetics.predict import predict_cohort

    markers = tmp_path / "m.csv"
    markers.write_text("patient_id,day,ca125\nA,0,400\nA,21,abc\nA,42,150\nB,0,400\nB,21,180\nB,42,150\n")
    clinical = tmp_path / "c.csv"
    clinical.write_text("patient_id,age,ecog,ascites_ml,figo_stage,primary_residual_disease,pfi_months,"
                        "recurrence_pattern,recist\nA,60,0,0,III,0,12,single,PR\nB,60,9,0,III,0,12,single,PR\n")
    assert read_markers(markers, on_error="flag").set_index("patient_id").loc["A", "problem"].startswith(
        "invalid input: markers table, row 3, column 'ca125': CA-125 value 'abc'")
    assert read_clinical(clinical, on_error="flag").set_index("patient_id").loc["B", "problem"].startswith(
        "invalid input: clinical table, row 3, column 'ecog': ecog 9")
    reasons = predict_cohort(markers, clinical).set_index("patient_id")["reason"]
    assert reasons["A"].startswith("invalid input: markers table, row 3, column 'ca125'")
    assert reasons["B"].startswith("invalid input: clinical table, row 3, column 'ecog'")


def test_a_multiindex_of_rows_names_rows_by_their_tuples_and_one_of_columns_is_refused():
    """A frame indexed by ``set_index(["patient_id", "day"], drop=False)`` is read (its rows
    named by their labels' tuples), where pandas' NotImplementedError had leaked out; columns
    of several levels are refused, saying how to flatten them."""
    frame = markers().set_index(["patient_id", "day"], drop=False)
    assert read_markers(frame)["ca125"].tolist() == [400.0, 180.0, 150.0]
    with pytest.raises(InvalidInputError, match=r"row \('007', 21\), patient '007', column 'ca125'"):
        read_markers(frame.assign(ca125=["400", "-1", "150"]))
    clinical = CLINICAL.set_index(["patient_id", "age"], drop=False)
    assert read_clinical(clinical)["patient_id"].tolist() == ["007", "12"]
    levels = markers()
    levels.columns = pd.MultiIndex.from_product([["markers"], levels.columns])
    with pytest.raises(InvalidInputError, match=r"2 levels \(a MultiIndex.*get_level_values"):
        read_markers(levels)


@pytest.mark.parametrize("written, options", [
    (["2024-03-01", "0224-03-25", "9999-12-31"], {}),                                   # text, ISO
    (["01/03/2024", "25/03/0224", "31/12/9999"], {"date_format": "%d/%m/%Y"}),
    (np.array(["2024-03-01", "0224-03-25", "9999-12-31"], dtype="datetime64[us]"), {}),  # a Parquet timestamp
])
def test_a_date_nanoseconds_cannot_hold_is_refused_not_wrapped(tmp_path, written, options):
    """A year typed 0224 or 9999 wrapped around in datetime64[ns]: 'day -16904.05 is not a whole
    number of days' (and outside the plausible range), naming 'day' for a column 'date'."""
    frame = pd.DataFrame({"patient_id": ["P1"] * 3, "date": written, "ca125": [400.0, 150.0, 60.0],
                          "treatment_start": ["04/03/2024" if options else "2024-03-04"] * 3})
    path, text = tmp_path / "m.parquet", tmp_path / "m.csv"
    frame.to_parquet(path)
    frame.to_csv(text, index=False)
    for source in (frame, path, text):
        got = read_markers(source, on_error="flag", **options)
        problem = got["problem"].dropna().iloc[0]
        assert problem.count("is outside the dates read (1678-01-01 to 2261-12-31): a typo in the year?") == 2
        assert "column 'date'" in problem and "whole number of days" not in problem and "column 'day'" not in problem


def test_markers_whose_ids_lost_their_leading_zeros_are_told_how_to_read_them(tmp_path):
    """Markers read with pandas' default (ids as numbers: '000002' -> 2) against a clinical table
    read as text: 'patient 2 has markers but no clinical row; add the patient to the clinical
    table' sent the user to add a patient who was there. The refusal names the padded id and
    how to read ids as text; it never matches them (7 and 007 may be two patients)."""
    import re

    from ca125kinetics.io import patient_record

    markers = pd.DataFrame({"patient_id": [2, 2, 2], "day": [0, 21, 42], "ca125": [400.0, 200.0, 90.0]})
    clinical = tmp_path / "clinical.csv"
    clinical.write_text("patient_id,age\n000002,60\n000007,55\n")
    hint = ("patient '2' has markers but no clinical row (the clinical table has '000002': a table read with its "
            "ids as numbers loses their leading zeros; read patient_id as text")
    got = read_markers(markers, clinical=read_clinical(clinical, require=("patient_id",)), on_error="flag")
    assert hint in got["problem"].iloc[0] and got["problem"].notna().all()
    with pytest.raises(InvalidInputError, match=re.escape(hint)):
        patient_record(markers, clinical)
    # no padded twin: the refusal as it was
    other = read_markers(markers.assign(patient_id=5), clinical=read_clinical(clinical, require=("patient_id",)),
                         on_error="flag")
    assert "has markers but no clinical row; add the patient" in other["problem"].iloc[0]


def test_patient_record_reads_every_column_form_of_a_mapping_or_refuses_it_typed():
    # a pandas Index (pd.to_datetime gives one) raised an untyped ValueError, a 2-D array one
    # too (it was flattened beside the other columns' lengths), a 0-d array a TypeError; a
    # range, a generator or a dict view was read as one cell's text, a set as an unordered column
    from ca125kinetics.io import patient_record

    days, values = [-3, 21, 42], [400.0, 180.0, 90.0]
    for form in (pd.Index(days), days, np.array(days), pd.array(days)):
        assert patient_record({"day": form, "ca125": pd.Index(values)}).ca125 == tuple(values)
    assert patient_record({"day": range(0, 63, 21), "ca125": values}).day == (0, 21, 42)
    dates = pd.to_datetime(["2024-01-07", "2024-01-31", "2024-02-21"])
    start = {"treatment_start": "2024-01-10"}
    assert patient_record({"date": dates, "ca125": values}, start).day == (-3, 21, 42)
    one = patient_record({"day": np.array(21), "ca125": np.array(180.0)})
    assert (one.day, one.ca125) == ((21,), (180.0,))
    refused = {
        "2-D array": ({"day": np.array([days]), "ca125": np.array([values])}, "2-D array of shape"),
        "generator": ({"day": (d for d in days), "ca125": values}, "is a generator, not a list"),
        "dict view": ({"day": {1: -3, 2: 21, 3: 42}.values(), "ca125": values}, "dict_values, not a list"),
        "set": ({"day": set(days), "ca125": values}, "a set has no order"),
    }
    for name, (form, message) in refused.items():
        with pytest.raises(InvalidInputError, match=message) as caught:
            patient_record(form)
        assert caught.value.column == "day", name


def test_patient_record_refuses_a_single_value_for_every_sample_of_a_per_sample_column():
    # {"day": [4 days], "ca125": 100} was read as four samples of 100 U/mL (scored 'ok'),
    # "event": "paracentesis" as a paracentesis on every sample, {"day": [], "ca125": 5} as no
    # sample (the value dropped); a per-patient column (patient_id, uln, assay, a clinical
    # factor) still applies to every sample
    from ca125kinetics.io import patient_record

    days = [-3, 21, 42, 63]
    for form, column in (({"day": days, "ca125": 100}, "ca125"), ({"day": 21, "ca125": [400, 180, 90, 40]}, "day"),
                         ({"day": days, "ca125": [400, 180, 90, 40], "event": "paracentesis"}, "event"),
                         ({"day": days, "ca125": [400, 180, 90, 40], "censored": True}, "censored"),
                         ({"day": [], "ca125": 5}, "ca125"),
                         ({"d": days, "v": np.float64(100)}, "v")):
        with pytest.raises(InvalidInputError, match="one value per sample") as caught:
            patient_record(form, columns={"d": "day", "v": "ca125"})
        assert caught.value.column == column
    record = patient_record({"day": days, "ca125": [400, 180, 90, 40], "patient_id": "7", "uln": 30, "assay": "A",
                             "event": None}, {"ecog": 1})
    assert record.uln == (30.0,) * 4 and record.event == (None,) * 4 and record.clinical["ecog"] == 1
    assert patient_record({"day": [21], "ca125": 180}).ca125 == (180.0,)        # one sample: one value


def test_patient_record_sees_every_clinical_row_of_the_patient_however_its_id_is_written(tmp_path):
    # a second clinical row of the patient written ' 007 ' (or 7 beside '7') was left out when
    # one row matched exactly: predict scored the first row's ECOG 0 while predict_cohort and
    # ca125 score refused the patient (two clinical rows, ECOG 0 and 3)
    from ca125kinetics.io import patient_record

    first = CLINICAL.iloc[[0]]
    for other in (" 007 ", "007 "):
        table = pd.concat([first, first.assign(patient_id=other, ecog=3)], ignore_index=True)
        path = tmp_path / "c.csv"
        table.to_csv(path, index=False)
        for clinical in (table, path):
            record = patient_record(markers(), clinical)
            assert "more than one clinical row" in record.clinical_problem
            with pytest.raises(InvalidInputError, match="more than one clinical row"):
                patient_record(markers(), clinical, on_error="raise")
    seven = pd.concat([first.assign(patient_id="7"), first.assign(patient_id=7, ecog=3)], ignore_index=True)
    assert "more than one clinical row" in patient_record(markers(patient_id=[7] * 3), seven).clinical_problem
    assert patient_record(markers(), CLINICAL).clinical_problem is None     # one row each: no problem


def test_a_table_indexed_by_patient_id_is_refused_saying_to_reset_the_index():
    # it was refused as a table without the column ("missing required column(s)
    # ['patient_id']"), which a user looking at the identifiers in the index does not follow
    table = markers()
    for read, frame, name in ((read_markers, table, "markers"),
                              (read_clinical, pd.DataFrame({"patient_id": ["1"], "ecog": [0]}), "clinical")):
        with pytest.raises(InvalidInputError, match=rf"patient_id in its index.*{name}\.reset_index\(\)"):
            read(frame.set_index("patient_id"))
        with pytest.raises(InvalidInputError, match=r"patient_id in its index"):
            read(frame.set_index(["patient_id", frame.columns[1]]))
    # a column mapped onto patient_id is the identifier, whatever the index is called
    read_markers(table.rename(columns={"patient_id": "pid"}).rename_axis("patient_id"), columns={"pid": "patient_id"})


def test_a_sample_without_a_uln_beside_samples_of_the_default_uln_is_not_said_to_make_two_ulns():
    """An empty ``uln`` beside samples that give the default (35 U/mL) is read as 35: the
    patient has one ULN and the GCIG rules evaluate it (a CR here). The reader's note and
    warning said the ULN differs and the GCIG rules find the response not evaluable; they now
    say the empty cell was given the ULN the other samples give. A patient whose other
    samples give another ULN is still told that its ULN differs."""
    import ca125kinetics as ck

    table = pd.DataFrame({"patient_id": ["a"] * 5, "day": [-5, 21, 42, 63, 84],
                          "ca125": [400.0, 300.0, 90.0, 40.0, 20.0], "uln": [35.0, None, 35.0, 35.0, 35.0]})
    clinical = {"age": 65, "ecog": 0, "ascites_ml": 0, "pfi_months": 14, "figo_stage": "III",
                "primary_residual_disease": 0, "recurrence_pattern": "multiple", "recist": "PR"}
    with pytest.warns(DataQualityWarning) as record:
        result = ck.predict(table, clinical)
    assert result.gcig["evaluable"] and result.gcig["category"] == "CR"
    said = [str(w.message) for w in record if "uln is empty" in str(w.message)]
    assert len(said) == 1 and "differs between samples" not in said[0] and "none differs" in said[0]
    (note,) = [w for w in result.warnings if w.startswith("no ULN given")]
    assert "not evaluable" not in note and "the ULN the other samples give" in note
    with pytest.warns(DataQualityWarning, match="differs between samples"):
        other = ck.predict(table.assign(uln=[30.0, None, 30.0, 30.0, 30.0]), clinical)
    assert any("the ULN differs between samples" in w for w in other.warnings)


def test_an_interruption_while_a_table_is_read_is_not_called_a_damaged_file(tmp_path, monkeypatch):
    """Any error of pandas/pyarrow while reading became 'could not be read as a markers table
    ...; check that it is a valid CSV or Parquet file', also one an interruption turned into
    (Ctrl-C landing in a library's thread machinery) or one raised after a stop request: the
    user was told to check a good file. Those go on as the interruption."""
    from ca125kinetics import errors
    from ca125kinetics.errors import caused_by_interrupt
    from ca125kinetics.io import read_markers

    path = tmp_path / "m.parquet"
    pd.DataFrame({"patient_id": ["001"], "day": [0], "ca125": [40.0]}).to_parquet(path)

    def interrupted(*args, **kwargs):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise RuntimeError("cannot join thread before it is started") from None

    def failing(*args, **kwargs):
        raise OSError("unexpected end of stream")

    monkeypatch.setattr(pd, "read_parquet", interrupted)
    with pytest.raises(RuntimeError) as raised:
        read_markers(path)
    assert caused_by_interrupt(raised.value)
    monkeypatch.setattr(pd, "read_parquet", failing)
    errors._STOP.set()
    try:
        with pytest.raises(KeyboardInterrupt):
            read_markers(path)
    finally:
        errors._STOP.clear()
    with pytest.raises(InvalidInputError, match="could not be read as a markers table"):   # the file's fault
        read_markers(path)
