"""ca125kinetics.spark on the cohorts that broke other paths gives the in-process answer.

Every case compares the Spark result with the in-process function on the same rows (the
raw text table, as ``ca125`` reads a CSV): the same rows (patients), columns, values and
missing values. The one documented difference: a Spark row has no position in the table, so
a Spark reason names no row (``io.unnumbered``): the in-process ``row <n>, `` is removed
before comparing, and no Spark reason may hold one. Small cohorts, one Spark session for
the Spark modules (``conftest.spark_session``); needs pyspark and Java, skipped without
them.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pandas as pd
import pytest

from ca125kinetics.errors import InvalidInputError
from ca125kinetics.io import read_markers
from ca125kinetics.kinetics import fit_kinetics, fit_population
from ca125kinetics.predict import load_model, predict_cohort

pyspark = pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'ca125kinetics[spark]')")

from ca125kinetics import spark as cspark  # noqa: E402 - after the skip

# pyspark's own pandas conversions warn under pandas 3 (its support is partial, it passes a
# deprecated copy keyword); the results are compared value by value below
pytestmark = [pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
              pytest.mark.filterwarnings("ignore:The copy keyword is deprecated")]

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"


def _text(path: Path) -> pd.DataFrame:
    """A CSV as ``ca125`` reads it: every cell text, empty cells missing."""
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])


def _first(frame: pd.DataFrame, n: int) -> pd.DataFrame:
    keep = sorted(frame["patient_id"].unique())[:n]
    return frame[frame["patient_id"].isin(keep)].reset_index(drop=True)


@pytest.fixture(scope="module")
def spark(spark_session):
    return spark_session


@pytest.fixture(scope="module")
def cohort():
    """(markers, clinical, population) of the first 30 committed synthetic patients, as text."""
    cohort = ROOT / "data" / "synthetic" / "default"
    markers = _first(_text(cohort / "markers.csv"), 30)
    clinical = _text(cohort / "clinical.csv")
    clinical = clinical[clinical["patient_id"].isin(markers["patient_id"])].reset_index(drop=True)
    return markers, clinical, fit_population(read_markers(markers, on_error="flag"))


_ROW = re.compile(r"\brow -?\d+(?:, |: )")


def _texts(frame: pd.DataFrame) -> list[str]:
    return [v for column in frame.columns for v in frame[column] if isinstance(v, str)]


def _masked(frame: pd.DataFrame) -> pd.DataFrame:
    """Missing values as None, and in-process reasons as Spark words them: without the row
    (``row <n>, column 'ca125': ...`` -> ``column 'ca125': ...``; Spark rows have no position
    in the table)."""
    frame = frame.astype(object).where(frame.notna(), None)
    return frame.map(lambda v: _ROW.sub("", v) if isinstance(v, str) else v)


def _same(result, expected: pd.DataFrame) -> None:
    """The Spark result holds the in-process rows (one per patient, Spark's order is none:
    sorted by patient_id here, stably, as in process), columns and values (numbers to the
    last bit); no Spark text names a row by number."""
    got = result.toPandas().sort_values("patient_id", kind="stable").reset_index(drop=True)
    assert list(got.columns) == list(expected.columns)
    assert list(got["patient_id"]) == list(expected["patient_id"])
    assert not [t for t in _texts(got) if re.search(r"\brow -?\d", t)]
    pd.testing.assert_frame_equal(_masked(got), _masked(expected), check_dtype=False, check_exact=True)


def _kinetics(frame: pd.DataFrame, **options) -> pd.DataFrame:
    return fit_kinetics(read_markers(frame, on_error="flag", marker=options.get("marker")), **options)


# --- cohorts compared as they are ------------------------------------------------------------

def test_adversarial_gcig_cases(spark):
    """The adversarial GCIG cases (duplicates, censored values, events, assay changes, ...):
    kinetics per patient and scores, over many partitions."""
    cases = _first(_text(DATA / "gcig_r_cases.csv"), 80)
    markers_df = spark.createDataFrame(cases)
    _same(cspark.fit_kinetics(markers_df, method="per-patient", partitions=3),
          _kinetics(cases, method="per-patient"))
    _same(cspark.score(markers_df, partitions=3), predict_cohort(cases))


def test_flagged_rows_small_patients_events_censored_uln_and_assay(spark, cohort):
    """Rows the readers flag (empty values, an unknown event, unknown RECIST, a duplicate
    clinical patient, patients in one table only, a null in every clinical column),
    patients with one or two samples, an event row, an event-only patient, a censored
    value, a per-sample ULN change and an assay change."""
    markers, clinical, population = cohort
    ids = sorted(markers["patient_id"].unique())
    m = markers.copy()
    position = m.groupby("patient_id").cumcount()
    m = m[~((m["patient_id"] == ids[0]) & (position >= 1)) & ~((m["patient_id"] == ids[1]) & (position >= 2))]
    m = pd.concat([m, pd.DataFrame({"patient_id": [ids[2], "event-only", "bad-event", "markers-only"],
                                    "day": ["30", "10", "12", "5"], "ca125": [None, None, "50", "80"],
                                    "event": ["surgery", "paracentesis", "progression", None]})],
                  ignore_index=True)
    for patient, column, value in ((ids[3], "ca125", "<5"), (ids[4], "uln", "30"), (ids[5], "assay", "OTHER"),
                                   (ids[6], "ca125", ""), (ids[7], "day", None), (ids[8], "uln", "abc")):
        m.loc[m.index[m["patient_id"] == patient][-2:], column] = value
    c = clinical.copy()
    for i, column in enumerate(c.columns[1:]):     # a null in every clinical column
        c.loc[4 + i % (len(c) - 4), column] = None
    c.loc[0, "recist"] = "partial"
    c.loc[2, "age"] = None
    c = pd.concat([c, c.iloc[[1]].assign(age="70"), c.iloc[[3]].assign(patient_id="clinical-only")],
                  ignore_index=True)
    markers_df, clinical_df = spark.createDataFrame(m), spark.createDataFrame(c)
    _same(cspark.fit_kinetics(markers_df, population=population), _kinetics(m, population=population))
    _same(cspark.score(markers_df, clinical_df, allow_imputed=True), predict_cohort(m, c, allow_imputed=True))


@pytest.mark.parametrize(("name", "sep", "start"), [
    ("markers_unreportable_values.csv", ",", None),
    ("markers_semicolon_decimal_comma.csv", ";", None),   # no decimal=: flagged, as in process without it
    ("markers_dates_ddmmyyyy.csv", ",", "04/03/2024"),     # no date_format=: flagged, as in process
    ("markers_censored_undocumented.csv", ",", None),
])
def test_messy_tables(spark, name, sep, start):
    """The messy inputs of tests/data/messy, as Spark reads them (every column text)."""
    messy = pd.read_csv(DATA / "messy" / name, sep=sep, dtype=str, keep_default_na=False, na_values=[""])
    if start is not None:
        messy = messy.assign(treatment_start=start)
    _same(cspark.score(spark.createDataFrame(messy)), predict_cohort(messy))


@pytest.mark.parametrize(("name", "sep", "start", "formats"), [
    ("markers_semicolon_decimal_comma.csv", ";", None, {"decimal": ",", "thousands": "."}),
    ("markers_dates_ddmmyyyy.csv", ",", "04/03/2024", {"date_format": "%d/%m/%Y"}),
])
def test_messy_tables_read_as_the_user_says(spark, name, sep, start, formats):
    """Decimal commas and day-first dates, stated with decimal= / date_format=: Spark reads
    them as the in-process functions do, and the patients flagged without the option are
    scored with it."""
    messy = pd.read_csv(DATA / "messy" / name, sep=sep, dtype=str, keep_default_na=False, na_values=[""])
    if start is not None:
        messy = messy.assign(treatment_start=start)
    stated = predict_cohort(messy, **formats)
    assert (predict_cohort(messy)["status"] == "invalid_input").any()
    assert not (stated["status"] == "invalid_input").any()
    frame = spark.createDataFrame(messy)
    _same(cspark.score(frame, **formats), stated)
    kinetics = cspark.fit_kinetics(frame, method="per-patient", **formats)    # one patient: no population
    _same(kinetics, fit_kinetics(read_markers(messy, on_error="flag", **formats), method="per-patient"))


def test_numbers_as_text_and_unicode_ids(spark, cohort):
    """'007' and '7', '10' and '9' are four patients; unicode identifiers are kept."""
    markers, clinical, population = cohort
    ids = sorted(markers["patient_id"].unique())
    renamed = dict(zip(ids, ["007", "7", "10", "9", "é-ü", "患者5", "a\u00a0b"]))
    m = markers.replace({"patient_id": renamed})
    c = clinical.replace({"patient_id": renamed})
    _same(cspark.fit_kinetics(spark.createDataFrame(m), population=population), _kinetics(m, population=population))
    _same(cspark.score(spark.createDataFrame(m), spark.createDataFrame(c)), predict_cohort(m, c))


def test_spark_column_types_read_as_the_text(spark, cohort):
    """day as double, ca125 as double, uln as double, clinical factors as numbers: the same
    as the text table."""
    from pyspark.sql import functions as F

    markers, clinical, population = cohort
    typed = (spark.createDataFrame(markers).withColumn("day", F.col("day").cast("double"))
             .withColumn("ca125", F.col("ca125").cast("double")).withColumn("uln", F.col("uln").cast("double")))
    clinical_typed = (spark.createDataFrame(clinical).withColumn("age", F.col("age").cast("double"))
                      .withColumn("ecog", F.col("ecog").cast("int")))
    _same(cspark.fit_kinetics(typed, population=population), _kinetics(markers, population=population))
    _same(cspark.score(typed, clinical_typed), predict_cohort(markers, clinical))


def test_date_and_timestamp_columns_in_another_session_time_zone(spark, cohort):
    """Sample dates and treatment_start as Spark DateType and TimestampType (a time of day
    late in the day), in a session whose time zone is not UTC: the calendar dates written."""
    from pyspark.sql import functions as F

    markers, clinical, population = cohort
    start = pd.Timestamp("2024-03-04")
    dated = markers.assign(date=(start + pd.to_timedelta(markers["day"].astype(int), unit="D")).dt.strftime("%Y-%m-%d"),
                           treatment_start="2024-03-04").drop(columns="day")
    expected = _kinetics(dated, population=population)
    saved = spark.conf.get("spark.sql.session.timeZone")
    spark.conf.set("spark.sql.session.timeZone", "Asia/Tokyo")
    try:
        frame = spark.createDataFrame(dated)
        as_dates = frame.withColumn("date", F.to_date("date")).withColumn("treatment_start", F.to_date("treatment_start"))
        late = (frame.withColumn("date", F.to_timestamp(F.concat("date", F.lit(" 23:30:00"))))
                .withColumn("treatment_start", F.to_timestamp("treatment_start")))
        _same(cspark.fit_kinetics(as_dates, population=population), expected)
        _same(cspark.fit_kinetics(late, population=population), expected)
        # the population learned on the driver, from samples just after midnight (the day
        # before in UTC, in which the driver's Arrow rows came: another population, 39 of 40 k)
        # and a treatment start that is a date
        early = (frame.withColumn("date", F.to_timestamp(F.concat("date", F.lit(" 00:30:00"))))
                 .withColumn("treatment_start", F.to_date("treatment_start")))
        _same(cspark.fit_kinetics(early), _kinetics(dated))
        dates_only = dated.drop(columns="treatment_start")
        with_start = clinical.assign(treatment_start="2024-03-04")
        _same(cspark.score(spark.createDataFrame(dates_only).withColumn("date", F.to_date("date")),
                           spark.createDataFrame(with_start).withColumn("treatment_start", F.to_date("treatment_start"))),
              predict_cohort(dates_only, with_start))
    finally:
        spark.conf.set("spark.sql.session.timeZone", saved)


def test_many_partitions_and_patients_split_across_input_partitions(spark, cohort):
    """A patient's rows spread over the input's partitions, and far more partitions than
    patients (most of them empty); the population learned on the driver."""
    markers, clinical, _ = cohort
    scattered = spark.createDataFrame(markers.sample(frac=1, random_state=1)).repartition(7)
    _same(cspark.fit_kinetics(scattered, partitions=12), _kinetics(markers))
    _same(cspark.score(scattered, spark.createDataFrame(clinical), partitions=12), predict_cohort(markers, clinical))


def test_cea_kinetics(spark):
    """CEA (the rectal cohort): kinetics of the marker named, CA-125 refused as in process."""
    cea = _first(_text(ROOT / "data" / "synthetic" / "rectal" / "markers.csv"), 40)
    population = fit_population(read_markers(cea, marker="cea"), marker="cea")
    _same(cspark.fit_kinetics(spark.createDataFrame(cea), population=population, marker="cea"),
          _kinetics(cea, population=population, marker="cea"))
    with pytest.raises(InvalidInputError, match="marker='cea'"):
        cspark.fit_kinetics(spark.createDataFrame(cea), method="per-patient")


def test_cea_task_model_scores(spark):
    """A model of another task (rectal downstaging on CEA, trained here with small settings)
    scores the rectal cohort with a flagged CEA value, a padded identifier and a duplicate
    clinical row as in process."""
    from ca125kinetics.predict import score_frame
    from ca125kinetics.train import TrainingConfig, fit_and_evaluate

    rectal = ROOT / "data" / "synthetic" / "rectal"
    markers = _first(_text(rectal / "markers.csv"), 150)
    clinical = _text(rectal / "clinical.csv")
    clinical = clinical[clinical["patient_id"].isin(markers["patient_id"])].reset_index(drop=True)
    config = dataclasses.replace(TrainingConfig.from_toml(ROOT / "training" / "rectal.toml"),
                                 families=("logistic_main",), n_splits=3, n_repeats=1, n_jobs=1,
                                 interval_n_bootstrap=0)
    bundle = fit_and_evaluate(markers, clinical, config=config, synthetic=True).bundle
    m = markers.copy()
    m.loc[0, "cea"] = "-1"
    m.loc[5, "patient_id"] = " " + m.loc[5, "patient_id"]
    c = pd.concat([clinical, clinical.iloc[[3]]], ignore_index=True)
    _same(cspark.score(spark.createDataFrame(m), spark.createDataFrame(c), model=bundle, partitions=3),
          score_frame(bundle, m, c))


# --- differences found, and fixed ------------------------------------------------------------

def test_ids_padded_with_spaces_are_one_patient(spark, cohort):
    """' 000001' and '000001' are one patient to the reader (a space at an end is stripped):
    Spark partitioned them by the raw text and gave the patient two rows. '\t000004' and
    '000004' are two (no space at an end: kept as written), which the chunking took for one
    patient whose rows were not together (an error in the executor)."""
    markers, clinical, population = cohort
    ids = sorted(markers["patient_id"].unique())
    m = markers.copy()
    for patient, padded in ((ids[0], " " + ids[0]), (ids[1], ids[1] + " "), (ids[2], f"\u3000 {ids[2]}\t "),
                            (ids[3], "\t" + ids[3])):
        m.loc[m.index[m["patient_id"] == patient][:2], "patient_id"] = padded
    markers_df = spark.createDataFrame(m)
    _same(cspark.fit_kinetics(markers_df, population=population, partitions=8), _kinetics(m, population=population))
    _same(cspark.score(markers_df, spark.createDataFrame(clinical), partitions=1), predict_cohort(m, clinical))


@pytest.mark.parametrize("missing", [None, float("nan")])
def test_missing_patient_id_raises_the_in_process_error(spark, cohort, missing):
    """A row without an identifier cannot be given to a patient: in process an
    InvalidInputError; Spark learned a population without the row (kinetics) or failed in an
    executor at collect time (scores)."""
    markers, clinical, population = cohort
    if missing is None:
        m = markers.copy()
        m.loc[3, "patient_id"] = None
    else:
        m = markers.assign(patient_id=markers["patient_id"].astype(float))
        m.loc[3, "patient_id"] = missing
    with pytest.raises(InvalidInputError, match="patient_id is empty in 1 row"):
        fit_kinetics(read_markers(m, on_error="flag"), population=population)
    markers_df = spark.createDataFrame(m)
    with pytest.raises(InvalidInputError, match="patient_id is empty in 1 row"):
        cspark.fit_kinetics(markers_df)
    with pytest.raises(InvalidInputError, match="patient_id is empty in 1 row"):
        cspark.fit_kinetics(markers_df, population=population)
    with pytest.raises(InvalidInputError, match="patient_id is empty in 1 row"):
        cspark.score(markers_df)
    if missing is None:   # a clinical row without an identifier: refused as in process too
        c = clinical.copy()
        c.loc[4, "patient_id"] = None
        with pytest.raises(InvalidInputError, match="every clinical row needs the patient's identifier"):
            predict_cohort(markers, c)
        with pytest.raises(InvalidInputError, match="every clinical row needs the patient's identifier"):
            cspark.score(spark.createDataFrame(markers), spark.createDataFrame(c))


def test_first_patients_hold_whole_padded_patients_and_rows_without_id(spark):
    """The driver's first patients (the population sample, the schema's patients) are
    ordered by the stripped identifier and hold all of a patient's rows, whatever the
    padding; rows without an identifier always come along (the reader refuses them)."""
    rows = pd.DataFrame({"patient_id": ["c", " b", "b ", "a", None, "b", "d", "\u3000a "],
                         "day": list(range(8))})
    head = cspark._first_patients(spark.createDataFrame(rows), 2)
    assert sorted(head["day"]) == [1, 2, 3, 4, 5, 7]
    assert list(cspark._first_patients(spark.createDataFrame(rows), 1)["day"].sort_values()) == [3, 4, 7]


def test_patient_id_types_that_differ_are_refused(spark, cohort):
    """Markers with numeric identifiers and clinical with text ones: Spark's union made
    '000001' the number 1, silently joining patients the readers keep apart. Refused, saying
    how to cast; the same integer type in both tables is read as in process."""
    markers, clinical, _ = cohort
    numbered = markers.assign(patient_id=markers["patient_id"].astype(int))
    with pytest.raises(InvalidInputError, match=r"patient_id.*read the table whose patient_id is a number again with "
                       r"it as text .*inferSchema.*cast\('string'\)"):
        cspark.score(spark.createDataFrame(numbered), spark.createDataFrame(clinical))
    numbered_clinical = clinical.assign(patient_id=clinical["patient_id"].astype(int))
    _same(cspark.score(spark.createDataFrame(numbered), spark.createDataFrame(numbered_clinical)),
          predict_cohort(numbered, numbered_clinical))


def test_column_names_with_a_dot(spark, cohort):
    """A column named 'ca125.1' (a duplicate header as pandas renames it) or 'lab.note':
    pyspark's mapInArrow read the name as a field of a struct and failed."""
    markers, clinical, population = cohort
    m = markers.assign(**{"ca125.1": markers["ca125"], "lab.note": "x"})
    markers_df = spark.createDataFrame(m)
    _same(cspark.fit_kinetics(markers_df, population=population), _kinetics(m, population=population))
    _same(cspark.score(markers_df, spark.createDataFrame(clinical)), predict_cohort(m, clinical))


@pytest.mark.parametrize(("table", "column", "cast", "how"), [
    ("markers", "patient_id", "binary", r"text encoding is unknown.*cast\('string'\)"),
    ("markers", "ca125", "float", r"single precision.*cast\('string'\)"),
    ("markers", "day", "array<int>", "one value"),
    ("clinical", "age", "float", r"single precision.*cast\('string'\)"),
])
def test_column_types_that_cannot_be_read_are_refused(spark, cohort, table, column, cast, how):
    """A binary identifier was read as the text "b'000001'", a single-precision CA-125 of
    21.2 as 21.2000007629 and an array as an invalid value: refused, saying how to cast."""
    from pyspark.sql import functions as F

    markers, clinical, population = cohort
    frames = {"markers": spark.createDataFrame(markers), "clinical": spark.createDataFrame(clinical)}
    value = F.array(F.col(column).cast("int")) if cast.startswith("array") else F.col(column).cast(cast)
    frames[table] = frames[table].withColumn(column, value)
    with pytest.raises(InvalidInputError, match=f"{table} column '{column}'.*{how}"):
        cspark.score(frames["markers"], frames["clinical"])
    if table == "markers":
        with pytest.raises(InvalidInputError, match=how):
            cspark.fit_kinetics(frames["markers"], population=population)


@pytest.mark.parametrize("options", [{"partitions": 0}, {"partitions": -1}, {"partitions": 2.5},
                                     {"partitions": True}, {"population_sample": 0}, {"population_sample": 5}])
def test_partitions_and_population_sample_are_checked(spark, cohort, options):
    """partitions=0 silently meant the default, -1 failed inside Spark, and a population
    sample of 0 took a nonsense bound: typed errors, the population sample's as the streamed
    CLI's."""
    markers_df = spark.createDataFrame(cohort[0])
    name = next(iter(options))
    with pytest.raises(InvalidInputError, match=f"{name} must be a whole number"):
        cspark.fit_kinetics(markers_df, **options)
    if name == "partitions":
        with pytest.raises(InvalidInputError, match="partitions must be a whole number"):
            cspark.score(markers_df, **options)


@pytest.mark.parametrize("duplicates", ["first", "last"])
def test_model_taking_the_first_or_last_duplicate_is_refused(spark, cohort, duplicates):
    """Same-day samples kept by their order (duplicates='first'/'last') depend on the row
    order, which a Spark DataFrame does not have: refused, not a guess."""
    markers, _, _ = cohort
    bundle = load_model()
    bundle = dataclasses.replace(bundle, gcig_settings=dataclasses.replace(bundle.gcig_settings,
                                                                           duplicates=duplicates))
    with pytest.raises(InvalidInputError, match=f"duplicates='{duplicates}'"):
        cspark.score(spark.createDataFrame(markers), model=bundle)


def test_a_column_in_both_tables_is_read_as_in_process(spark, cohort):
    """score refused any column name in both tables ("rename them"), where the readers take
    treatment_start beside dated samples, a site's own column in both, and a factor column
    on the markers that is empty; a factor given with values on both is refused as in
    process (the readers' one rule)."""
    markers, clinical, _ = cohort
    start = pd.Timestamp("2024-03-04")
    dated = markers.assign(date=(start + pd.to_timedelta(markers["day"].astype(int), unit="D")).dt.strftime("%Y-%m-%d"),
                           treatment_start="2024-03-04", site="A", ecog=None).drop(columns="day")
    with_start = clinical.assign(treatment_start="2024-03-04", site="B")
    _same(cspark.score(spark.createDataFrame(dated.astype(object)), spark.createDataFrame(with_start)),
          predict_cohort(dated, with_start))
    twice = dated.assign(ecog="1")
    with pytest.raises(InvalidInputError) as in_process:
        predict_cohort(twice, with_start)
    with pytest.raises(InvalidInputError) as on_spark:
        cspark.score(spark.createDataFrame(twice), spark.createDataFrame(with_start))
    assert "ecog" in str(on_spark.value) and str(in_process.value).split(": ", 1)[1] in str(on_spark.value)


def test_header_spaces_and_a_population_with_another_method_as_in_process(spark, cohort):
    """A header "patient_id " (a CSV export) was refused on Spark ("no 'patient_id' column")
    while the readers strip it; a population given with method='per-patient' was taken on
    Spark and refused in process."""
    markers, clinical, population = cohort
    spaced = markers.rename(columns={"patient_id": "patient_id ", "ca125": " ca125"})
    _same(cspark.fit_kinetics(spark.createDataFrame(spaced), population=population),
          _kinetics(spaced, population=population))
    _same(cspark.score(spark.createDataFrame(spaced), spark.createDataFrame(clinical.rename(columns={"ecog": "ecog "}))),
          predict_cohort(spaced, clinical.rename(columns={"ecog": "ecog "})))
    with pytest.raises(InvalidInputError, match="population= is only used by method='population'"):
        fit_kinetics(read_markers(markers), method="per-patient", population=population)
    with pytest.raises(InvalidInputError, match="population= is only used by method='population'"):
        cspark.fit_kinetics(spark.createDataFrame(markers), method="per-patient", population=population)


def _duplicated(frame: pd.DataFrame, column: str, name: str) -> pd.DataFrame:
    """``frame`` with a copy of ``column`` under ``name`` (which may repeat a name)."""
    copy = frame[[column]].set_axis([name], axis=1)
    return pd.concat([frame, copy], axis=1)


def _spark_frame(spark, frame: pd.DataFrame):
    """A Spark DataFrame of ``frame``'s text, under its column names (a name may repeat)."""
    plain = frame.astype(object).set_axis([f"_{i}" for i in range(frame.shape[1])], axis=1)
    return spark.createDataFrame(plain).toDF(*frame.columns)


@pytest.mark.parametrize(("table", "change"), [
    ("markers", lambda f: f.rename(columns={"patient_id": "PATIENT_ID"})),
    ("markers", lambda f: _duplicated(f, "ca125", "CA125")),
    ("markers", lambda f: _duplicated(f, "patient_id", "PATIENT_ID")),
    ("markers", lambda f: _duplicated(f, "ca125", "ca125")),
    ("markers", lambda f: f.assign(ECOG=None)),
    ("clinical", lambda f: _duplicated(f, "ecog", "ECOG")),
    ("clinical", lambda f: f.rename(columns={"patient_id": "Patient_Id"})),
], ids=["PATIENT_ID", "ca125-and-CA125", "patient_id-and-PATIENT_ID", "ca125-twice", "markers-ECOG",
        "ecog-and-ECOG", "Patient_Id"])
def test_column_names_refused_as_in_process(spark, cohort, table, change):
    """Column names the readers refuse (a case variant of a contract column, a column named
    twice): Spark, which matches names regardless of case, failed in its own analysis
    (AMBIGUOUS_REFERENCE, COLUMN_ALREADY_EXISTS), said only that 'patient_id' was missing,
    or raised a KeyError; now the readers' refusal, naming the column to rename."""
    markers, clinical, population = cohort
    frames = {"markers": markers, "clinical": clinical}
    frames[table] = change(frames[table])
    m, c = frames["markers"], frames["clinical"]
    with pytest.raises(InvalidInputError) as in_process:
        predict_cohort(m, c)
    with pytest.raises(InvalidInputError) as on_spark:
        cspark.score(_spark_frame(spark, m), _spark_frame(spark, c))
    assert str(on_spark.value) == str(in_process.value)
    if table == "markers":
        with pytest.raises(InvalidInputError) as in_process:
            read_markers(m)
        with pytest.raises(InvalidInputError) as on_spark:
            cspark.fit_kinetics(_spark_frame(spark, m), population=population)
        assert str(on_spark.value) == str(in_process.value)


def test_extra_columns_whose_names_differ_in_case(spark, cohort):
    """A site's own columns named alike but for case ('Site' on the markers, 'site' and
    'Site' in the clinical table, 'note' and 'Note' on the markers beside 'NOTE'): the
    readers keep them apart and score; Spark's union matched the names regardless of case
    (a KeyError, AMBIGUOUS_REFERENCE, COLUMN_ALREADY_EXISTS)."""
    markers, clinical, _ = cohort
    m = markers.assign(Site="A", note="x", Note="y")
    c = clinical.assign(site="B", Site="C", NOTE="z")
    _same(cspark.score(spark.createDataFrame(m), spark.createDataFrame(c)), predict_cohort(m, c))


def test_a_table_refusal_after_the_first_patients_is_the_in_process_error(spark, cohort):
    """A clinical factor with values on the markers rows of a patient after the first 20 (a
    clinical table given), or a 'marker' cell naming another marker there: in process the
    table is refused (InvalidInputError naming every such factor or marker); Spark refused
    it only in the executor that met the row, at the action, as a PythonException naming
    that chunk's. A blank factor cell and a 'marker' naming the marker in another case are
    read, as in process."""
    markers, clinical, population = cohort
    ids = sorted(markers["patient_id"].unique())
    factors = markers.assign(ecog=None, figo_stage=None)
    factors.loc[factors["patient_id"] == ids[25], "ecog"] = "1"
    factors.loc[factors["patient_id"] == ids[27], "figo_stage"] = "IIIC"
    named = markers.assign(marker="ca125")
    named.loc[named["patient_id"] == ids[26], "marker"] = "CEA"
    named.loc[named["patient_id"] == ids[22], "marker"] = "psa"
    cases = [(lambda: predict_cohort(factors, clinical),
              lambda: cspark.score(spark.createDataFrame(factors.astype(object)), spark.createDataFrame(clinical))),
             (lambda: _kinetics(named, population=population),
              lambda: cspark.fit_kinetics(spark.createDataFrame(named), population=population)),
             (lambda: predict_cohort(named, clinical),
              lambda: cspark.score(spark.createDataFrame(named), spark.createDataFrame(clinical)))]
    for (in_process, on_spark), listed in zip(cases, ("['ecog', 'figo_stage']", "['cea', 'psa']", "['cea', 'psa']")):
        with pytest.raises(InvalidInputError) as expected:
            in_process()
        with pytest.raises(InvalidInputError) as got:
            on_spark()
        assert listed in str(expected.value) and str(got.value) == str(expected.value)
    read = markers.assign(marker="ca125", ecog=None)
    read.loc[read["patient_id"] == ids[25], ["marker", "ecog"]] = ["CA125", " "]
    _same(cspark.score(spark.createDataFrame(read), spark.createDataFrame(clinical)), predict_cohort(read, clinical))
    _same(cspark.fit_kinetics(spark.createDataFrame(read), population=population),
          _kinetics(read, population=population))


def test_columns_named_like_the_spark_module_own(spark, cohort):
    """A site's columns named as the union of the two tables named its own columns
    ('_ca125_table', '__ca125_clinical__age', '_ca125_key' in any case) failed in Spark's
    analysis (AMBIGUOUS_REFERENCE); the readers take them as extra columns."""
    markers, clinical, population = cohort
    m = markers.assign(_ca125_table="x", __ca125_clinical__age="1", _CA125_KEY="k")
    c = clinical.assign(_ca125_table="y", _m1="z")
    _same(cspark.score(spark.createDataFrame(m), spark.createDataFrame(c)), predict_cohort(m, c))
    _same(cspark.fit_kinetics(spark.createDataFrame(m), population=population), _kinetics(m, population=population))


@pytest.mark.parametrize("collation", ["UTF8_LCASE", "UNICODE_CI"])
def test_identifiers_with_a_case_insensitive_collation(spark, cohort, collation):
    """'a1' and 'A1' (and 'b' and 'B') are two patients to the readers; under a Spark 4
    collation that ignores case, Spark partitioned and sorted them as one value, the rows of
    the two patients came interleaved and scoring failed in the executor ('patient 'a1'
    appears again after other patients' rows')."""
    from pyspark.sql import functions as F

    if not hasattr(F, "collate"):
        pytest.skip("collations need Spark 4")
    markers, clinical, population = cohort
    ids = sorted(markers["patient_id"].unique())
    renamed = dict(zip(ids, ["a1", "A1", "b", "B", "ß", "SS"]))
    m, c = markers.replace({"patient_id": renamed}), clinical.replace({"patient_id": renamed})

    def collated(frame):
        return spark.createDataFrame(frame).withColumn("patient_id", F.collate("patient_id", collation))

    _same(cspark.score(collated(m), collated(c), partitions=3), predict_cohort(m, c))
    _same(cspark.fit_kinetics(collated(m), population=population, partitions=3), _kinetics(m, population=population))


@pytest.mark.parametrize("options", [{"population": "population.json"}, {"population": {"k": 0.05}},
                                     {"method": "bogus", "population": "x"}])
def test_arguments_refused_as_in_process(spark, cohort, options):
    """A population that is not a KineticsPopulation: in process an InvalidInputError; Spark
    raised an AttributeError ('str' object has no attribute 'marker'), and with an unknown
    method too, where in process the method is named first."""
    markers, _, _ = cohort
    with pytest.raises(InvalidInputError) as in_process:
        fit_kinetics(read_markers(markers), **options)
    with pytest.raises(InvalidInputError) as on_spark:
        cspark.fit_kinetics(spark.createDataFrame(markers), **options)
    assert str(on_spark.value) == str(in_process.value)
