"""ca125kinetics.spark on a local 2-core Spark session gives the in-process results.

Needs pyspark (test extra) and Java (scripts/test.sh installs Debian's default-jre-headless
when missing); without either, the module is skipped with the reason printed (-ra).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from ca125kinetics.io import read_markers
from ca125kinetics.kinetics import fit_kinetics, fit_population
from ca125kinetics.predict import predict_cohort

pyspark = pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'ca125kinetics[spark]')")
if shutil.which("java") is None:
    pytest.skip("Java is not installed (Spark needs it; scripts/test.sh installs default-jre-headless)",
                allow_module_level=True)

from ca125kinetics import spark as cspark  # noqa: E402 - after the skips

# pyspark's own pandas conversions warn under pandas 3 (its support is partial, it passes a
# deprecated copy keyword); the results are compared value by value below
pytestmark = [pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
              pytest.mark.filterwarnings("ignore:The copy keyword is deprecated")]

COHORT = Path(__file__).resolve().parents[1] / "data" / "synthetic" / "default"


def _raw(name: str) -> pd.DataFrame:
    return pd.read_csv(COHORT / f"{name}.csv", dtype=str, keep_default_na=False, na_values=[""])


@pytest.fixture(scope="module")
def session(spark_session):
    return spark_session   # one session for the Spark modules (conftest.py)


@pytest.fixture(scope="module")
def tables(session):
    markers, clinical = _raw("markers"), _raw("clinical")
    return markers, clinical, session.createDataFrame(markers), session.createDataFrame(clinical)


def _same(spark_result, expected: pd.DataFrame) -> None:
    """Equal values, numbers to the last bit (text nulls come back as NaN instead of None:
    compared as missing)."""
    got = spark_result.toPandas().sort_values("patient_id").reset_index(drop=True)
    assert list(got.columns) == list(expected.columns)

    def plain(frame):
        return frame.astype(object).where(frame.notna(), None)

    pd.testing.assert_frame_equal(plain(got), plain(expected), check_dtype=False, check_exact=True)


def test_population_kinetics_equal_in_process(tables):
    markers, _, markers_df, _ = tables
    _same(cspark.fit_kinetics(markers_df), fit_kinetics(read_markers(markers, on_error="flag")))


def test_given_population_and_sample(tables):
    markers, _, markers_df, _ = tables
    canonical = read_markers(markers, on_error="flag")
    first = canonical[canonical["patient_id"].isin(sorted(canonical["patient_id"].unique())[:500])]
    population = fit_population(first)
    expected = fit_kinetics(canonical, population=population)
    _same(cspark.fit_kinetics(markers_df, population_sample=500), expected)
    _same(cspark.fit_kinetics(markers_df, population=population), expected)


def test_per_patient_kinetics_equal_in_process(tables):
    markers, _, markers_df, _ = tables
    _same(cspark.fit_kinetics(markers_df, method="per-patient"),
          fit_kinetics(read_markers(markers, on_error="flag"), method="per-patient"))


def test_score_equal_in_process(tables):
    markers, clinical, markers_df, clinical_df = tables
    # a patient with clinical data only is scored too (not_scored, with the reason)
    extra = clinical.iloc[:1].assign(patient_id="999999")
    clinical_df = clinical_df.unionByName(markers_df.sparkSession.createDataFrame(extra))
    _same(cspark.score(markers_df, clinical_df), predict_cohort(markers, pd.concat([clinical, extra])))


def test_score_allow_imputed_equal_in_process(tables):
    markers, clinical, markers_df, _ = tables
    # clinical factors left unknown: by default no decision, with allow_imputed a decision
    sparse = clinical[["patient_id", "recist"]] if "recist" in clinical.columns else clinical[["patient_id"]]
    sparse_df = markers_df.sparkSession.createDataFrame(sparse)
    expected = predict_cohort(markers, sparse, allow_imputed=True)
    assert (expected["status"] != predict_cohort(markers, sparse)["status"]).any()
    _same(cspark.score(markers_df, sparse_df, allow_imputed=True), expected)


def test_score_withholds_a_decision_without_ca125_after_the_first_dose(session):
    """Rule 5 on Spark as in process: a baseline only, and every on-treatment sample excluded
    after a paracentesis, withhold the decision; one on-treatment sample does not."""
    markers = pd.DataFrame({"patient_id": ["s1", "s2", "s2", "s2", "s3", "s3"],
                            "day": ["-3", "0", "14", "21", "0", "21"],
                            "ca125": ["400", "400", None, "150", "400", "180"],
                            "event": [None, None, "paracentesis", None, None, None]})
    clinical = pd.DataFrame({"patient_id": ["s1", "s2", "s3"], "age": "61", "ecog": "0", "ascites_ml": "0",
                             "figo_stage": "IIIC", "primary_residual_disease": "0", "pfi_months": "18",
                             "recurrence_pattern": "single", "recist": "PR"})
    for allow in (False, True):
        expected = predict_cohort(markers, clinical, allow_imputed=allow)
        want = ["ok"] * 3 if allow else ["insufficient", "insufficient", "ok"]
        assert expected["status"].tolist() == want
        _same(cspark.score(session.createDataFrame(markers), session.createDataFrame(clinical),
                           allow_imputed=allow), expected)


def test_a_partition_of_many_patients_reaches_spark(tables):
    """One partition of more patients than a text block of the output tables holds (4,096:
    ``_columns.constant_text`` then stores a column in several blocks, which pyspark's Arrow
    conversion refused at registry scale): kinetics and scores as in process."""
    markers, clinical, markers_df, _ = tables
    spark = markers_df.sparkSession
    twice = pd.concat([markers, markers.assign(patient_id="b" + markers["patient_id"])], ignore_index=True)
    clinical_twice = pd.concat([clinical, clinical.assign(patient_id="b" + clinical["patient_id"])],
                               ignore_index=True)
    assert twice["patient_id"].nunique() > 4096
    canonical = read_markers(twice, on_error="flag")
    population = fit_population(canonical[canonical["patient_id"].isin(markers["patient_id"])])
    _same(cspark.fit_kinetics(spark.createDataFrame(twice), population=population, partitions=1),
          fit_kinetics(canonical, population=population))
    _same(cspark.score(spark.createDataFrame(twice), spark.createDataFrame(clinical_twice), partitions=1),
          predict_cohort(twice, clinical_twice))


def test_not_a_spark_frame_refused(tables):
    from ca125kinetics.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="must be a Spark DataFrame"):
        cspark.fit_kinetics(tables[0])


def _first_in_pandas(markers: pd.DataFrame, n: int) -> list:
    return sorted(markers["patient_id"].dropna().unique())[:n]


@pytest.mark.parametrize("sample_patients", [2, 1000])
def test_first_patients_are_the_first_in_id_order(tables, monkeypatch, sample_patients):
    """The rows of exactly the first n patients, whether the bound comes from the hash
    sample (tiny _SAMPLE_PATIENTS: m >= 2) or from the exact top-k rows."""
    markers, _, markers_df, _ = tables
    monkeypatch.setattr(cspark, "_SAMPLE_PATIENTS", sample_patients)
    for n in (1, 7, 20, markers["patient_id"].nunique() + 5):
        head = cspark._first_patients(markers_df, n)
        first = _first_in_pandas(markers, n)
        assert sorted(head["patient_id"].unique()) == first
        assert len(head) == markers["patient_id"].isin(first).sum()


def test_first_patients_when_the_bound_is_too_low(tables, monkeypatch):
    """A bound under the n-th identifier (an unlucky sample) falls back to the exact one."""
    markers, _, markers_df, _ = tables
    first = _first_in_pandas(markers, 12)
    monkeypatch.setattr(cspark, "_bound", lambda ids, n: first[3])
    head = cspark._first_patients(markers_df, 12)
    assert sorted(head["patient_id"].unique()) == first


def test_nth_id_grows_past_patients_with_many_rows(session):
    """_nth_id takes 8n rows first: here the first patient alone has more, so k grows."""
    rows = pd.DataFrame({"patient_id": ["a"] * 30 + ["b", "c", "c", "d"]})
    ids = session.createDataFrame(rows)
    assert [cspark._nth_id(ids, n) for n in (1, 2, 3, 4, 5)] == ["a", "b", "c", "d", None]


def test_frames_regroup_arrow_batches_with_unnumbered_rows():
    """Batches of 3 rows regrouped into frames of at least 5 rows (the last one shorter),
    every row labelled None (a Spark row has no position in the user's table)."""
    import pyarrow as pa

    batches = pa.Table.from_pandas(pd.DataFrame({"patient_id": list("aabbccdde"), "day": range(9)}),
                                   preserve_index=False).to_batches(max_chunksize=3)
    frames = list(cspark._frames(iter(batches), rows=5))
    assert [len(f) for f in frames] == [6, 3]
    assert [list(f.index) for f in frames] == [[None] * 6, [None] * 3]
    assert "".join(pd.concat(frames)["patient_id"]) == "aabbccdde"
    assert list(cspark._frames(iter([]))) == []


def test_background_task_error_reaches_the_caller(session):
    """The thread run beside the driver's work (warming the workers) does not hide errors:
    its error is raised after the body, and an error of the body wins."""
    def fails():
        raise RuntimeError("task failed")

    with pytest.raises(RuntimeError, match="task failed"):
        with cspark._in_background(session, fails):
            pass
    with pytest.raises(ValueError, match="body failed"):
        with cspark._in_background(session, fails):
            raise ValueError("body failed")


def test_a_readers_note_on_a_patient_after_the_first_reaches_the_user(tables):
    """Samples without a ULN beside samples with one are read with the default ULN: the reader
    says so in a DataQualityWarning, which the executors raised where no one saw it. ``score``
    now carries the note in the patient's ``warnings``, as ``predict_cohort`` does, and
    ``fit_kinetics`` (whose result has no warnings column) raises the reader's warning on the
    driver, as reading the table in process does."""
    from ca125kinetics.errors import DataQualityWarning

    markers, clinical, _, _ = tables
    spark = tables[2].sparkSession
    ids = sorted(markers["patient_id"].unique())[:25]
    markers = markers[markers["patient_id"].isin(ids)].reset_index(drop=True)
    clinical = clinical[clinical["patient_id"].isin(ids)].reset_index(drop=True)
    noted = ids[22]   # after the 20 patients the driver reads
    rows = markers.index[markers["patient_id"] == noted][1:3]
    markers.loc[rows, "uln"] = None
    markers_df, clinical_df = spark.createDataFrame(markers), spark.createDataFrame(clinical)
    with pytest.warns(DataQualityWarning, match=f"uln is empty in 2 sample row.*first: patient '{noted}'"):
        expected = predict_cohort(markers, clinical)
    got = cspark.score(markers_df, clinical_df)
    warned = got.where(got["patient_id"] == noted).first()["warnings"]
    assert "no ULN given for 2 sample(s)" in warned
    _same(got, expected)
    with pytest.warns(DataQualityWarning, match=f"uln is empty in 2 sample row.*first: patient '{noted}'"):
        kinetics = cspark.fit_kinetics(markers_df, method="per-patient")
    with pytest.warns(DataQualityWarning, match=f"uln is empty in 2 sample row.*first: patient '{noted}'"):
        canonical = read_markers(markers, on_error="flag")
    _same(kinetics, fit_kinetics(canonical, method="per-patient"))
    # every sample with its ULN: no warning (pytest makes one an error), no note
    full = markers.assign(uln="35.0")
    assert "no ULN given" not in " ".join(cspark.score(spark.createDataFrame(full), clinical_df)
                                          .toPandas()["warnings"])
    cspark.fit_kinetics(spark.createDataFrame(full), method="per-patient")
