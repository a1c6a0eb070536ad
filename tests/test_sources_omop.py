"""OMOP CDM v5.4 input (ca125kinetics.sources.omop): the committed fixture in DuckDB and in a
real PostgreSQL server started here, round trip of the committed synthetic cohort, hostile rows."""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("sqlalchemy", reason="optional extra 'omop' not installed")
pytest.importorskip("duckdb_engine", reason="optional extra 'omop' not installed")

from ca125kinetics.errors import InvalidInputError, NoMarkerDataError  # noqa: E402
from ca125kinetics.io import read_markers  # noqa: E402
from ca125kinetics.sources.omop import cohort_to_omop, read_omop, write_omop  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
COHORT = ROOT / "data" / "synthetic" / "default"
FIXTURE = ROOT / "tests" / "data" / "omop"
COLUMNS = ["patient_id", "day", "ca125", "censored", "uln", "assay", "event", "problem"]


def _builder():
    spec = importlib.util.spec_from_file_location("build_omop_fixture", ROOT / "scripts" / "build_omop_fixture.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def csv_tables(committed_cohort):
    return committed_cohort


@pytest.fixture(scope="module")
def fixture_db(tmp_path_factory):
    url = f"duckdb:///{tmp_path_factory.mktemp('omop') / 'fixture.duckdb'}"
    write_omop(FIXTURE, url)
    return url


def _expected_subset(csv_tables, ids):
    markers, clinical = csv_tables
    return markers[markers["patient_id"].isin(ids)].reset_index(drop=True), clinical


# --------------------------------------------------------------------------- PostgreSQL


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for directory in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (directory / name).exists():
            return str(directory / name)
    return None


@pytest.fixture(scope="module")
def postgres_url():
    """A throwaway PostgreSQL cluster on 127.0.0.1 (initdb into a temporary directory, run as
    the 'postgres' user when this is root), stopped and removed after the module; skipped with
    the reason when it cannot be started."""
    pytest.importorskip("psycopg", reason="psycopg (optional extra 'omop') not installed")
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found; scripts/test.sh installs Debian's "
                    "postgresql when run as root")
    as_user: list[str] = []
    base = Path(tempfile.mkdtemp(prefix="ca125-pg-"))
    data = base / "data"
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        try:
            import pwd

            pw = pwd.getpwnam("postgres")
        except KeyError:
            pw = None
        if not (runuser and pw):
            shutil.rmtree(base, ignore_errors=True)
            pytest.skip("running as root without a 'postgres' user (or runuser) to run the server")
        os.chown(base, pw.pw_uid, pw.pw_gid)
        as_user = [runuser, "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = base / "server.log"

    def run(*cmd):
        return subprocess.run([*as_user, *cmd], capture_output=True, text=True, timeout=120)

    steps = [
        run(initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"),
    ]
    if steps[-1].returncode == 0:
        steps.append(run(pg_ctl, "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o",
                         f"-h 127.0.0.1 -p {port} -k {base} -F -c fsync=off", "start"))
    if steps[-1].returncode != 0:
        detail = (steps[-1].stderr or steps[-1].stdout).strip().splitlines()[-1:] or ["(no output)"]
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(f"PostgreSQL could not be started: {detail[0]}")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        run(pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


# --------------------------------------------------------------------------- fixture and round trip


def test_committed_fixture_is_what_the_script_writes():
    tables = _builder().fixture_tables()
    for name, frame in tables.items():
        committed = pd.read_csv(FIXTURE / f"{name}.csv", dtype=str, keep_default_na=False)
        written = pd.read_csv(pd.io.common.StringIO(frame.to_csv(index=False)), dtype=str, keep_default_na=False)
        pd.testing.assert_frame_equal(committed, written, obj=name)
    assert sum(p.stat().st_size for p in FIXTURE.iterdir()) < 1_000_000


def test_fixture_in_duckdb_reads_back_the_csv_rows(fixture_db, csv_tables):
    result = read_omop(fixture_db, cohort_id=1, patient_id="person_source_value")
    assert len(result.skipped) == 0
    ids = sorted(set(result.markers["patient_id"]))
    assert len(ids) == 120
    expected, clinical = _expected_subset(csv_tables, ids)
    got = read_markers(result.markers, on_error="flag")
    values = expected["ca125"].notna()
    pd.testing.assert_frame_equal(got.loc[values, COLUMNS], expected.loc[values, COLUMNS])
    assert got["measurement_id"].notna().sum() == values.sum()
    by_id = read_omop(fixture_db, person_ids=[1, 2])
    assert sorted(set(by_id.markers["patient_id"])) == ["1", "2"]


def test_postgresql_gives_the_same_extract_as_duckdb(postgres_url, fixture_db):
    write_omop(FIXTURE, postgres_url, schema="cdm")
    pg = read_omop(postgres_url, schema="cdm", cohort_id=1, patient_id="person_source_value")
    duck = read_omop(fixture_db, cohort_id=1, patient_id="person_source_value")
    pd.testing.assert_frame_equal(pg.markers, duck.markers)
    pd.testing.assert_frame_equal(pg.treatment_starts.drop(columns="source"),
                                  duck.treatment_starts.drop(columns="source"))
    given = [read_omop(url, schema=schema, person_ids=[2, 1, 999999]) for url, schema in ((postgres_url, "cdm"),
                                                                                          (fixture_db, None))]
    pd.testing.assert_frame_equal(given[0].markers, given[1].markers)
    pd.testing.assert_frame_equal(given[0].skipped, given[1].skipped)
    with pytest.raises(InvalidInputError, match="cannot read the OMOP CDM tables"):
        read_omop(postgres_url, schema="absent")


def test_round_trip_of_the_committed_cohort(tmp_path, csv_tables, same_results_as_csv):
    markers, clinical = csv_tables
    url = f"duckdb:///{tmp_path / 'cdm.duckdb'}"
    write_omop(cohort_to_omop(COHORT / "markers.csv", COHORT / "clinical.csv"), url)
    result = read_omop(url, cohort_id=1, patient_id="person_source_value")
    table = read_markers(result.markers, clinical=clinical, on_error="flag")
    # every column, censored flags included; a procedure carries no assay, so the assay of the
    # event rows (the CSV repeats the sample's) is compared on the value rows only
    values = markers["ca125"].notna()
    pd.testing.assert_frame_equal(table[COLUMNS].drop(columns="assay"), markers[COLUMNS].drop(columns="assay"))
    pd.testing.assert_series_equal(table.loc[values, "assay"], markers.loc[values, "assay"])
    assert table["censored"].sum() == markers["censored"].sum() > 0
    same_results_as_csv(table)


# --------------------------------------------------------------------------- hostile rows


def _concept(conn_url, vocabulary, code, name=None):
    import sqlalchemy as sa

    engine = sa.create_engine(conn_url)
    with engine.connect() as conn:
        value = conn.execute(sa.text("select concept_id from concept where vocabulary_id = :v and concept_code = :c"),
                             {"v": vocabulary, "c": code}).scalar()
    engine.dispose()
    return value


def test_hostile_rows_are_listed_with_reasons(tmp_path):
    url = f"duckdb:///{tmp_path / 'hostile.duckdb'}"
    write_omop(FIXTURE, url)
    ca125, cea = _concept(url, "LOINC", "10334-1"), _concept(url, "LOINC", "2039-6")
    ul, ngml = _concept(url, "UCUM", "U/mL"), _concept(url, "UCUM", "ng/mL")
    above, eq = _concept(url, "Meas Value Operator", ">"), _concept(url, "Meas Value Operator", "=")
    extra_concepts = pd.DataFrame([{
        "concept_id": 42, "concept_name": "milligram per deciliter", "domain_id": "Unit", "vocabulary_id": "UCUM",
        "concept_class_id": "Unit", "standard_concept": "S", "concept_code": "mg/dL",
        "valid_start_date": dt.date(1970, 1, 1), "valid_end_date": dt.date(2099, 12, 31), "invalid_reason": None}])
    base = {"person_id": 1, "measurement_date": dt.date(2026, 1, 1), "measurement_type_concept_id": 0,
            "measurement_concept_id": ca125, "operator_concept_id": eq, "value_as_number": 50.0,
            "unit_concept_id": ul, "range_high": 35.0, "measurement_source_value": "CA125-A"}
    rows = [
        {"measurement_id": 9001, "value_as_number": None},
        {"measurement_id": 9002, "operator_concept_id": above},
        {"measurement_id": 9003, "unit_concept_id": 42},
        {"measurement_id": 9004, "unit_concept_id": 0},
        {"measurement_id": 9005, "operator_concept_id": ul},
        {"measurement_id": 9006, "measurement_concept_id": cea, "unit_concept_id": ngml},
        {"measurement_id": 9008, "measurement_concept_id": 0, "measurement_source_value": "CA 125 (local)"},
        # Athena's U/mL and '=' concepts, absent from the vocabulary loaded: said as such (they were
        # "unit nan ... is not a UCUM CA-125 unit" and "not a Meas Value Operator concept")
        {"measurement_id": 9009, "unit_concept_id": 8763, "unit_source_value": "U/mL"},
        {"measurement_id": 9010, "operator_concept_id": 4172703},
    ]
    write_omop({"concept": extra_concepts, "measurement": pd.DataFrame([{**base, **r} for r in rows])}, url)
    result = read_omop(url, person_ids=[1, 2])
    reasons = dict(zip(result.skipped["source_id"], result.skipped["reason"]))
    assert "value_as_number is empty" in reasons["measurement_id=9001"]
    # above the measuring range: a sample drawn, its value unknown, kept as written for the reader
    # to refuse (skipped, an earlier, lower sample could become the GCIG baseline)
    assert "measurement_id=9002" not in reasons
    assert result.markers.set_index("measurement_id").loc[9002, "ca125"] == ">50"
    assert "'mg/dL'" in reasons["measurement_id=9003"] and "not a UCUM CA-125 unit" in reasons["measurement_id=9003"]
    # an unmapped unit says so (it said "unit 'U/mL' ... is not a UCUM CA-125 unit; read: ['U/mL', ...]")
    assert "unit_concept_id is 0 (unmapped; the source wrote" in reasons["measurement_id=9004"]
    assert "map the unit to its UCUM concept in the ETL" in reasons["measurement_id=9004"]
    assert "not a Meas Value Operator concept" in reasons["measurement_id=9005"]
    assert reasons["measurement_id=9009"].startswith(
        "unit_concept_id 8763 is not in the concept table (the source wrote 'U/mL')")
    assert "load the UCUM vocabulary" in reasons["measurement_id=9009"]
    assert reasons["measurement_id=9010"].startswith("operator_concept_id 4172703 is not in the concept table")
    assert "CEA (LOINC 2039-6)" in reasons["measurement_id=9006"]
    # an unmapped row (concept 0) used to be passed over without a word: it may be the marker
    assert ("measurement_concept_id 0 (unmapped; measurement_source_value 'CA 125 (local)')"
            in reasons["measurement_id=9008"]) and "map it to LOINC 10334-1" in reasons["measurement_id=9008"]
    assert result.markers["measurement_id"].isin(range(9001, 9011)).sum() == 1      # 9002 alone
    cea = read_omop(url, person_ids=[1], marker="cea")
    assert cea.markers["measurement_id"].tolist() == [9006]
    assert cea.skipped["reason"].str.contains("CA-125 \\(LOINC 10334-1\\), not the marker read").sum() >= 5
    # an unmapped procedure or drug (concept 0) was not listed: a paracentesis under a local code
    # left the GCIG exclusion window out without a word
    write_omop({"procedure_occurrence": pd.DataFrame([{
                    "procedure_occurrence_id": 9101, "person_id": 1, "procedure_concept_id": 0,
                    "procedure_date": dt.date(2026, 1, 10), "procedure_type_concept_id": 0,
                    "procedure_source_value": "ASCITIC TAP"}]),
                "drug_exposure": pd.DataFrame([{
                    "drug_exposure_id": 9201, "person_id": 1, "drug_concept_id": 0,
                    "drug_exposure_start_date": dt.date(2026, 1, 2), "drug_exposure_end_date": dt.date(2026, 1, 2),
                    "drug_type_concept_id": 0, "drug_source_value": "CARBO local"}])}, url)
    reasons = dict(zip(*(lambda r: (r.skipped["source_id"], r.skipped["reason"]))(read_omop(url, person_ids=[1]))))
    assert "procedure_concept_id 0 (unmapped; procedure_source_value 'ASCITIC TAP')" in \
        reasons["procedure_occurrence_id=9101"]
    assert "drug_concept_id 0 (unmapped; drug_source_value 'CARBO local')" in reasons["drug_exposure_id=9201"]
    # a negative value is imported, then refused by the one markers validator
    write_omop({"measurement": pd.DataFrame([{**base, "measurement_id": 9007, "value_as_number": -3.0}])}, url)
    flagged = read_markers(read_omop(url, person_ids=[1]).markers, on_error="flag")
    assert "is negative" in flagged["problem"].iloc[0]


@pytest.mark.parametrize("url", ["postgresql+psycopg://alice:S3cretPw@db.host:notaport/cdm",
                                 "nosuchdialect://alice:S3cretPw@db.host/cdm"])
def test_a_url_refused_as_malformed_does_not_echo_its_password(url):
    """A URL SQLAlchemy cannot parse was echoed whole in the refusal, password included, into
    the terminal and whatever log keeps stderr; a connection failure already showed it as
    ``***``. The refusal names the URL with the password hidden."""
    pytest.importorskip("sqlalchemy")
    if url.startswith("postgresql"):
        pytest.importorskip("psycopg")
    with pytest.raises(InvalidInputError, match="not a database URL") as refused:
        read_omop(url)
    assert "S3cretPw" not in str(refused.value) and "alice:***@db.host" in str(refused.value)


def test_database_problems_are_typed_errors(tmp_path, fixture_db):
    with pytest.raises(InvalidInputError, match="DuckDB file not found"):
        read_omop(f"duckdb:///{tmp_path / 'absent.duckdb'}")
    assert not (tmp_path / "absent.duckdb").exists()
    with pytest.raises(InvalidInputError, match="not a database URL"):
        read_omop("nosuchdialect://x")
    with pytest.raises(NoMarkerDataError, match="cohort 7 has no persons"):
        read_omop(fixture_db, cohort_id=7)
    with pytest.raises(NoMarkerDataError, match="no usable CEA"):
        read_omop(fixture_db, marker="cea")
    empty = f"duckdb:///{tmp_path / 'empty.duckdb'}"
    write_omop({}, empty)
    with pytest.raises(NoMarkerDataError, match="no LOINC concept 10334-1"):
        read_omop(empty)


def test_cli_extract_writes_markers_and_skipped(tmp_path, fixture_db, capsys):
    from ca125kinetics.cli import main

    ids = tmp_path / "ids.txt"
    ids.write_text("1\n2\n3\n")
    out = tmp_path / "m.parquet"
    assert main(["extract", "omop", "--url", fixture_db, "--person-ids", str(ids), "--out", str(out)]) == 0
    table = pd.read_parquet(out)
    assert sorted(set(table["patient_id"])) == ["1", "2", "3"]
    assert (tmp_path / "m.skipped.csv").exists()
    assert main(["gcig", str(out)]) == 0
    assert main(["extract", "omop", "--url", "duckdb:///nowhere.duckdb", "--out", str(out)]) == 2
    assert "DuckDB file not found" in capsys.readouterr().err


def test_missing_driver_is_a_typed_error(monkeypatch, fixture_db):
    from ca125kinetics.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "duckdb_engine", None)
    with pytest.raises(MissingDependencyError, match=r"ca125kinetics\[omop\]"):
        read_omop(fixture_db)


# --------------------------------------------------------------------------- audit: silent misreads


def _day(text):
    return dt.date.fromisoformat(text)


@pytest.fixture(scope="module")
def audit_db(tmp_path_factory):
    """The committed fixture plus the rows each audit test below reads (persons 9001-9006)."""
    url = f"duckdb:///{tmp_path_factory.mktemp('omop-audit') / 'audit.duckdb'}"
    write_omop(FIXTURE, url)
    ca125, ul = _concept(url, "LOINC", "10334-1"), _concept(url, "UCUM", "U/mL")
    eq, less = _concept(url, "Meas Value Operator", "="), _concept(url, "Meas Value Operator", "<")
    carboplatin = _concept(url, "RxNorm", "40048")
    paracentesis, thoracentesis = _concept(url, "SNOMED", "61515000"), _concept(url, "SNOMED", "91602002")
    concept = pd.DataFrame([
        (43, "unit per milliliter", "Unit", "UCUM", "U/ml"),
        (44, "Ultrasound-guided paracentesis of abdomen", "Procedure", "SNOMED", "900000000000044"),
        (45, "Drainage of abdomen and chest", "Procedure", "SNOMED", "900000000000045")],
        columns=["concept_id", "concept_name", "domain_id", "vocabulary_id", "concept_code"])
    concept = concept.assign(concept_class_id="Unit", standard_concept="S", valid_start_date=_day("1970-01-01"),
                             valid_end_date=_day("2099-12-31"), invalid_reason=None)
    ancestor = pd.DataFrame({"ancestor_concept_id": [paracentesis, paracentesis, thoracentesis],
                             "descendant_concept_id": [44, 45, 45], "min_levels_of_separation": 1,
                             "max_levels_of_separation": 1})
    procedure = pd.DataFrame({"procedure_occurrence_id": [9801, 9802], "person_id": 9006,
                              "procedure_concept_id": [44, 45],
                              "procedure_date": [_day("2026-01-05"), _day("2026-01-06")],
                              "procedure_type_concept_id": 0})
    person = pd.DataFrame({"person_id": range(9001, 9007), "gender_concept_id": 0, "year_of_birth": 1960,
                           "race_concept_id": 0, "ethnicity_concept_id": 0,
                           "person_source_value": ["shared", "shared", "p9003", "p9004", "p9005", "p9006"]})
    base = {"measurement_type_concept_id": 0, "measurement_concept_id": ca125, "operator_concept_id": eq,
            "value_as_number": 50.0, "unit_concept_id": ul, "range_high": 35.0, "unit_source_value": "U/mL"}
    rows = [
        {"measurement_id": 9101, "person_id": 9001, "measurement_date": _day("2026-01-01")},
        {"measurement_id": 9102, "person_id": 9002, "measurement_date": _day("2026-01-02")},
        # person 9003: value_source_value against value_as_number and operator_concept_id
        {"measurement_id": 9201, "person_id": 9003, "measurement_date": _day("2026-01-01"), "value_as_number": 5.0,
         "value_source_value": "<5"},                                              # '=' contradicts '<5'
        {"measurement_id": 9202, "person_id": 9003, "measurement_date": _day("2026-01-02"), "value_as_number": 5.0,
         "operator_concept_id": None, "value_source_value": "<5"},                 # no operator: the source's '<'
        {"measurement_id": 9203, "person_id": 9003, "measurement_date": _day("2026-01-03"), "value_as_number": 5000.0,
         "operator_concept_id": None, "value_source_value": ">5000"},
        {"measurement_id": 9204, "person_id": 9003, "measurement_date": _day("2026-01-04"), "value_as_number": 125.0,
         "value_source_value": "12,5"},                                            # decimal comma read as grouping
        {"measurement_id": 9205, "person_id": 9003, "measurement_date": _day("2026-01-05"), "value_as_number": 12.5,
         "value_source_value": "12,5"},
        {"measurement_id": 9206, "person_id": 9003, "measurement_date": _day("2026-01-06"), "value_as_number": 1250.0,
         "value_source_value": "1,250"},                                           # either reading: the ETL's
        {"measurement_id": 9207, "person_id": 9003, "measurement_date": _day("2026-01-07"), "value_as_number": 5.0,
         "operator_concept_id": less, "value_source_value": "< 5"},
        {"measurement_id": 9208, "person_id": 9003, "measurement_date": _day("2026-01-08"), "value_as_number": 5.0,
         "operator_concept_id": less, "value_source_value": "5"},                 # the ETL kept the number only
        {"measurement_id": 9209, "person_id": 9003, "measurement_date": _day("2026-01-09"), "value_as_number": 5.0,
         "operator_concept_id": None, "value_source_value": "<5 U/mL"},            # the unit in the text
        {"measurement_id": 9210, "person_id": 9003, "measurement_date": _day("2026-01-10"), "value_as_number": 125.0,
         "value_source_value": "12,5 U/ml", "unit_source_value": None},
        # a comparator the pattern does not read: the value may be censored (was read as plain 5)
        {"measurement_id": 9211, "person_id": 9003, "measurement_date": _day("2026-01-11"), "value_as_number": 5.0,
         "operator_concept_id": None, "value_source_value": "≤5"},
        {"measurement_id": 9212, "person_id": 9003, "measurement_date": _day("2026-01-12"), "value_as_number": 5.0,
         "value_source_value": "less than 5"},
        {"measurement_id": 9301, "person_id": 9004, "measurement_date": _day("2026-01-01"), "unit_concept_id": 43,
         "measurement_datetime": dt.datetime(2026, 1, 2, 4, 30)},                  # UTC, past midnight
        {"measurement_id": 9401, "person_id": 9005, "measurement_date": _day("2025-03-01")},
        {"measurement_id": 9501, "person_id": 9006, "measurement_date": _day("2026-01-01")},
    ]
    drug = pd.DataFrame({"drug_exposure_id": [9901, 9902, 9903, 9904], "person_id": [9005, 9005, 9005, 9006],
                         "drug_concept_id": carboplatin, "drug_type_concept_id": 0,
                         "drug_exposure_start_date": [_day(d) for d in ("2022-01-01", "2022-01-22", "2025-02-20",
                                                                        "2025-12-01")]})
    drug["drug_exposure_end_date"] = drug["drug_exposure_start_date"]
    cohort = pd.DataFrame({"cohort_definition_id": 1, "subject_id": [1, 9006, 9006],   # 9006 in two eras
                           "cohort_start_date": [_day("2027-01-01"), _day("2025-12-01"), _day("2026-06-01")],
                           "cohort_end_date": [_day("2027-02-01"), _day("2026-01-01"), _day("2026-07-01")]})
    write_omop({"concept": concept, "person": person, "measurement": pd.DataFrame([{**base, **r} for r in rows]),
                "drug_exposure": drug, "cohort": cohort, "concept_ancestor": ancestor,
                "procedure_occurrence": procedure}, url)
    return url


def test_drug_codes_add_an_agent_and_the_drugs_descending_from_it(tmp_path):
    """Another agent of the line (oxaliplatin's RxNorm ingredient here) is read only when
    ``drug_codes`` names it, with the clinical drugs under it in ``concept_ancestor``."""
    from ca125kinetics.cli import main

    drug = pd.DataFrame({"drug_exposure_id": [9721, 9722], "person_id": 9701, "drug_concept_id": 47,
                         "drug_type_concept_id": 0,
                         "drug_exposure_start_date": [_day("2026-03-04"), _day("2026-03-25")]})
    drug["drug_exposure_end_date"] = drug["drug_exposure_start_date"]
    url = _one_person_db(tmp_path / "drugs.duckdb", 9701,
                         [(46, "oxaliplatin", "Drug", "RxNorm", "Ingredient", "32592"),
                          (47, "oxaliplatin 5 MG/ML Injectable Solution", "Drug", "RxNorm", "Clinical Drug",
                           "0000047")], drug_exposure=drug)
    assert read_omop(url, person_ids=[9701]).treatment_starts.empty          # not a drug of the line by default
    given = read_omop(url, person_ids=[9701], drug_codes={"32592": "oxaliplatin"})
    assert given.treatment_starts["treatment_start"].tolist() == ["2026-03-04"]
    assert read_markers(given.markers, on_error="raise")["day"].tolist() == [-3, 21]
    out = tmp_path / "m.csv"
    assert main(["extract", "omop", "--url", url, "--person-ids", str(_ids_file(tmp_path, [9701])),
                 "--drug-code", "32592=oxaliplatin", "--out", str(out)]) == 0
    assert set(pd.read_csv(out, dtype=str)["treatment_start"]) == {"2026-03-04"}
    with pytest.raises(InvalidInputError, match="not an RxNorm code"):
        read_omop(url, drug_codes={"L01XA03": "oxaliplatin"})


def _one_person_db(path, person_id: int, concepts, **tables) -> str:
    """The committed fixture plus one person (CA-125 80 then 30 U/mL, 1 and 25 March 2026) and
    two ``concepts`` (concept_id, name, domain, vocabulary, class, code), the second descending
    from the first in ``concept_ancestor``, and further ``tables``; its DuckDB URL."""
    url = f"duckdb:///{path}"
    write_omop(FIXTURE, url)
    ca125, ul = _concept(url, "LOINC", "10334-1"), _concept(url, "UCUM", "U/mL")
    eq = _concept(url, "Meas Value Operator", "=")
    concept = pd.DataFrame(concepts, columns=["concept_id", "concept_name", "domain_id", "vocabulary_id",
                                              "concept_class_id", "concept_code"])
    concept = concept.assign(standard_concept="S", valid_start_date=_day("1970-01-01"),
                             valid_end_date=_day("2099-12-31"), invalid_reason=None)
    root, child = concept["concept_id"].tolist()
    ancestor = pd.DataFrame({"ancestor_concept_id": [root, root], "descendant_concept_id": [root, child],
                             "min_levels_of_separation": [0, 1], "max_levels_of_separation": [0, 1]})
    person = pd.DataFrame({"person_id": [person_id], "gender_concept_id": 0, "year_of_birth": 1960,
                           "race_concept_id": 0, "ethnicity_concept_id": 0, "person_source_value": [f"p{person_id}"]})
    measurement = pd.DataFrame({"measurement_id": [person_id * 10 + 1, person_id * 10 + 2], "person_id": person_id,
                                "measurement_concept_id": ca125,
                                "measurement_date": [_day("2026-03-01"), _day("2026-03-25")],
                                "measurement_type_concept_id": 0, "operator_concept_id": eq,
                                "value_as_number": [80.0, 30.0], "unit_concept_id": ul, "range_high": 35.0,
                                "unit_source_value": "U/mL"})
    write_omop({"concept": concept, "concept_ancestor": ancestor, "person": person, "measurement": measurement,
                **tables}, url)
    return url


def _ids_file(tmp_path, ids):
    path = tmp_path / "persons.txt"
    path.write_text("".join(f"{i}\n" for i in ids))
    return path


def test_a_person_in_the_cohort_twice_has_each_measurement_once(audit_db):
    in_cohort = read_omop(audit_db, cohort_id=1)
    assert in_cohort.markers["measurement_id"].dropna().is_unique
    by_id = read_omop(audit_db, person_ids=[1, 9006])
    for pid in ("1", "9006"):
        pd.testing.assert_frame_equal(
            in_cohort.markers[in_cohort.markers["patient_id"] == pid].reset_index(drop=True),
            by_id.markers[by_id.markers["patient_id"] == pid].reset_index(drop=True))


def test_persons_sharing_a_person_source_value_are_not_merged(audit_db):
    result = read_omop(audit_db, person_ids=[9001, 9002, 9006], patient_id="person_source_value")
    assert sorted(set(result.markers["patient_id"])) == ["p9006"]
    reasons = dict(zip(result.skipped["source_id"], result.skipped["reason"]))
    for mid in ("measurement_id=9101", "measurement_id=9102"):
        assert "person_source_value 'shared' is shared by persons 9001, 9002" in reasons[mid]
        assert "patient_id='person_id'" in reasons[mid]
    assert sorted(set(read_omop(audit_db, person_ids=[9001, 9002]).markers["patient_id"])) == ["9001", "9002"]


def test_value_source_value_is_checked_against_the_value_and_operator(audit_db):
    result = read_omop(audit_db, person_ids=[9003])
    m = result.markers.set_index("measurement_id")
    reasons = dict(zip(result.skipped["source_id"], result.skipped["reason"]))
    assert "operator '=' contradicts value_source_value '<5'" in reasons["measurement_id=9201"]
    assert m.loc[9202, "censored"] and m.loc[9202, "ca125"] == 5.0                 # the source's '<'
    assert "measurement_id=9203" not in reasons and str(m.loc[9203, "ca125"]).startswith(">")
    assert "value_as_number 125.0 disagrees with value_source_value '12,5'" in reasons["measurement_id=9204"]
    assert m.loc[9205, "ca125"] == 12.5 and m.loc[9206, "ca125"] == 1250.0
    assert m.loc[9207, "censored"] and m.loc[9208, "censored"] and m.loc[9209, "censored"]
    assert "disagrees with value_source_value '12,5 U/ml'" in reasons["measurement_id=9210"]
    for mid in (9211, 9212):
        assert "writes a comparator the reader does not read" in reasons[f"measurement_id={mid}"]
    assert sorted(m.index) == [9202, 9203, 9205, 9206, 9207, 9208, 9209]


def test_ucum_spellings_of_the_unit_are_read_and_measurement_date_is_the_day(audit_db):
    result = read_omop(audit_db, person_ids=[9004])
    assert result.markers["ca125"].tolist() == [50.0] and len(result.skipped) == 0
    assert result.markers["date"].tolist() == ["2026-01-01"]      # not measurement_datetime's day


def test_drug_exposures_of_more_than_one_line_give_no_treatment_start(audit_db):
    result = read_omop(audit_db, person_ids=[9005, 9006])
    assert result.treatment_starts["patient_id"].tolist() == ["9006"]
    reasons = dict(zip(result.skipped["source_id"], result.skipped["reason"]))
    reason = reasons["drug_exposure_id=9901"]
    assert "doses of the line's drugs in 2 lines (first doses 2022-01-01, 2025-02-20" in reason
    assert result.markers.loc[result.markers["patient_id"] == "9005", "treatment_start"].tolist() == [None]
    given = read_omop(audit_db, person_ids=[9005], treatment_start={"9005": "2025-02-20"})
    assert given.treatment_starts["source"].tolist() == ["given"] and len(given.skipped) == 0
    # a key that is the id but for spaces was ignored, the exposures deciding day 0 without a word
    with pytest.raises(InvalidInputError, match="names patient ' 9005 '.*'9005' is: the ids differ only in case"):
        read_omop(audit_db, person_ids=[9005], treatment_start={" 9005 ": "2025-02-20"})


def test_a_cea_cohort_round_trips_through_omop(tmp_path):
    rectal = COHORT.parent / "rectal"
    markers = pd.read_csv(rectal / "markers.csv", dtype={"patient_id": str})
    markers = markers[markers["patient_id"].isin(["000001", "000002", "000003"])]
    clinical = pd.read_csv(rectal / "clinical.csv", dtype={"patient_id": str})
    url = f"duckdb:///{tmp_path / 'cea.duckdb'}"
    write_omop(cohort_to_omop(markers, clinical, marker="cea"), url)
    back = read_markers(read_omop(url, marker="cea", patient_id="person_source_value").markers, marker="cea")
    expected = read_markers(markers, clinical=clinical, marker="cea")
    columns = ["patient_id", "day", "cea", "censored", "uln", "assay", "event"]
    pd.testing.assert_frame_equal(back[columns], expected[columns])


@pytest.mark.parametrize("written, fragment", [("06/02/2026", "is not a date; use YYYY-MM-DD"),
                                               ("2026-02", "is not a date precise to the day")])
def test_table_files_with_dates_not_iso_are_refused(tmp_path, written, fragment):
    """A measurement.csv whose dates are written day-first (06/02/2026, 6 February) was loaded
    as 2 June: pandas guessed the format from the first rows, month-first, without a word."""
    directory = tmp_path / "tables"
    shutil.copytree(FIXTURE, directory)
    measurement = pd.read_csv(directory / "measurement.csv", dtype=str, keep_default_na=False)
    measurement["measurement_date"] = written
    measurement.to_csv(directory / "measurement.csv", index=False)
    url = f"duckdb:///{tmp_path / 'dates.duckdb'}"
    with pytest.raises(InvalidInputError, match=f"measurement_date '{written}' of measurement.csv, row 2 {fragment}"):
        write_omop(directory, url)


def test_a_database_holding_dates_as_text_not_iso_is_refused(tmp_path):
    """A CDM built by a site's own ETL with measurement_date as text ('06/02/2026', 6 February)
    was read as 2 June, while '18/12/2025' was read day-first: each value's form guessed."""
    import duckdb

    path = tmp_path / "text-dates.duckdb"
    write_omop(FIXTURE, f"duckdb:///{path}")
    con = duckdb.connect(str(path))
    con.execute("ALTER TABLE measurement ALTER measurement_date TYPE VARCHAR "
                "USING strftime(measurement_date, '%d/%m/%Y')")
    con.close()
    with pytest.raises(InvalidInputError, match=r"measurement_date '\d\d/\d\d/\d{4}' of measurement_id=\d+ "
                                                r"\(the CDM's measurement_date is a DATE\) is not a date"):
        read_omop(f"duckdb:///{path}", person_ids=[1])
    con = duckdb.connect(str(path))      # text in ISO is read as the day it names
    con.execute("UPDATE measurement SET measurement_date = strftime(strptime(measurement_date, '%d/%m/%Y'), "
                "'%Y-%m-%d')")
    con.close()
    assert read_omop(f"duckdb:///{path}", person_ids=[1]).markers["date"].iloc[0] == "2025-12-18"


def test_tables_from_a_directory_of_parquet_files_or_none(tmp_path):
    from ca125kinetics.sources.omop import _read_table_files

    parquet = tmp_path / "parquet"
    parquet.mkdir()
    for name, frame in _read_table_files(FIXTURE).items():
        frame.to_parquet(parquet / f"{name}.parquet")
    url = f"duckdb:///{tmp_path / 'p.duckdb'}"
    write_omop(parquet, url)
    assert len(read_omop(url, cohort_id=1).markers) > 0
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InvalidInputError, match="holds no OMOP table file"):
        write_omop(empty, f"duckdb:///{tmp_path / 'e.duckdb'}")
    (parquet / "person.csv").write_text("person_id\n1\n")
    with pytest.raises(InvalidInputError, match="both person.csv and person.parquet"):
        write_omop(parquet, f"duckdb:///{tmp_path / 'b.duckdb'}")


def test_procedures_coded_below_an_exclusion_event_are_events(audit_db):
    # a more specific SNOMED procedure (through concept_ancestor) is the event it descends from;
    # one descending from two different events is listed, not given either name
    result = read_omop(audit_db, person_ids=[9006])
    events = result.markers[result.markers["event"].notna()]
    assert events[["date", "event", "procedure_occurrence_id"]].values.tolist() == [
        ["2026-01-05", "paracentesis", 9801]]
    reasons = dict(zip(result.skipped["source_id"], result.skipped["reason"]))
    assert "both paracentesis and thoracentesis" in reasons["procedure_occurrence_id=9802"]


@pytest.mark.parametrize("bad", [[1.5], ["abc"], [True], ["1e3"]])
def test_person_ids_that_are_not_whole_numbers_are_refused(fixture_db, bad):
    # int(1.5) is 1 and int(True) is 1: another person's series, read without a word
    with pytest.raises(InvalidInputError, match="person_id .* is not a whole number"):
        read_omop(fixture_db, person_ids=bad)


@pytest.mark.parametrize("bad", [1.5, "x", True])
def test_a_cohort_id_that_is_not_a_whole_number_is_refused(fixture_db, bad):
    with pytest.raises(InvalidInputError, match="cohort_id .* is not a whole number"):
        read_omop(fixture_db, cohort_id=bad)


def test_person_ids_as_text_or_numpy_integers_are_read(fixture_db):
    import numpy as np

    for ids in (["1", " 2 "], [np.int64(1), 2.0]):
        assert sorted(set(read_omop(fixture_db, person_ids=ids).markers["patient_id"])) == ["1", "2"]


def test_a_cohort_member_missing_from_the_person_table_is_listed(tmp_path):
    url = f"duckdb:///{tmp_path / 'orphan.duckdb'}"
    write_omop(FIXTURE, url)
    ca125, ul = _concept(url, "LOINC", "10334-1"), _concept(url, "UCUM", "U/mL")
    cohort = pd.DataFrame([{"cohort_definition_id": 1, "subject_id": 7777, "cohort_start_date": _day("2026-01-01"),
                            "cohort_end_date": _day("2026-01-01")}])
    measurement = pd.DataFrame([{"measurement_id": 7001, "person_id": 7777, "measurement_concept_id": ca125,
                                 "measurement_date": _day("2026-01-01"), "measurement_type_concept_id": 0,
                                 "value_as_number": 40.0, "unit_concept_id": ul, "range_high": 35.0}])
    write_omop({"cohort": cohort, "measurement": measurement}, url)
    result = read_omop(url, cohort_id=1)
    assert "person 7777 is not in the person table" in dict(zip(result.skipped["source_id"],
                                                                result.skipped["reason"]))["measurement_id=7001"]


def test_a_person_id_given_but_missing_from_the_person_table_is_listed(tmp_path):
    """``person_ids`` naming a person the person table lacks (an orphan of the ETL, a typo in
    the ids file) read the others and left that person out without a word, with its
    measurements; it is listed, as a cohort's member missing from the person table is."""
    url = f"duckdb:///{tmp_path / 'orphan.duckdb'}"
    write_omop(FIXTURE, url)
    ca125, ul = _concept(url, "LOINC", "10334-1"), _concept(url, "UCUM", "U/mL")
    measurement = pd.DataFrame([{"measurement_id": 7001, "person_id": 7777, "measurement_concept_id": ca125,
                                 "measurement_date": _day("2026-01-01"), "measurement_type_concept_id": 0,
                                 "value_as_number": 40.0, "unit_concept_id": ul, "range_high": 35.0}])
    write_omop({"measurement": measurement}, url)
    result = read_omop(url, person_ids=[1, 7777, 8888])
    reasons = dict(zip(result.skipped["source_id"], result.skipped["reason"]))
    assert "person 7777 is not in the person table" in reasons["measurement_id=7001"]
    for missing in (7777, 8888):
        assert reasons[f"person={missing}"].startswith(f"person {missing} is not in the person table")
    assert set(result.markers["patient_id"]) == {"1"}
    cohort = pd.DataFrame([{"cohort_definition_id": 2, "subject_id": s, "cohort_start_date": _day("2026-01-01"),
                            "cohort_end_date": _day("2026-01-01")} for s in (1, 8888)])
    write_omop({"cohort": cohort}, url)
    in_cohort = read_omop(url, cohort_id=2)
    assert "person=8888" in set(in_cohort.skipped["source_id"])


def test_event_codes_add_a_sites_surgery_and_the_procedures_descending_from_it(tmp_path):
    """Surgery opens a GCIG exclusion window but no default code names it: ``event_codes``
    (``--event-code``) adds a site's code, and the procedures under it in ``concept_ancestor``."""
    from ca125kinetics.cli import main

    procedure = pd.DataFrame({"procedure_occurrence_id": [9821], "person_id": 9801, "procedure_concept_id": [57],
                              "procedure_date": [_day("2026-03-10")], "procedure_type_concept_id": 0})
    url = _one_person_db(tmp_path / "surgery.duckdb", 9801,
                         [(56, "Surgical procedure", "Procedure", "SNOMED", "Procedure", "387713003"),
                          (57, "Exploratory laparotomy", "Procedure", "SNOMED", "Procedure", "900000000000057")],
                         procedure_occurrence=procedure)
    plain = read_omop(url, person_ids=[9801])
    assert plain.markers["event"].isna().all()
    given = read_omop(url, person_ids=[9801], event_codes={"387713003": "surgery"})
    assert given.markers.loc[given.markers["event"].notna(), ["date", "event"]].values.tolist() == [
        ["2026-03-10", "surgery"]]
    out = tmp_path / "m.csv"
    assert main(["extract", "omop", "--url", url, "--person-ids", str(_ids_file(tmp_path, [9801])),
                 "--event-code", "387713003=surgery", "--out", str(out)]) == 0
    assert pd.read_csv(out, dtype=str)["event"].dropna().tolist() == ["surgery"]
    with pytest.raises(InvalidInputError, match="not an event kind of the GCIG rules"):
        read_omop(url, event_codes={"387713003": "laparotomy"})



def test_a_prescription_before_the_first_administration_is_not_read_as_day_0(tmp_path):
    """A prescription written on 20 February (drug_type_concept_id "EHR prescription") beside the
    administrations from 4 March: the prescription's date was day 0, without a word, and the
    pretreatment sample of 1 March became day 9."""
    from ca125kinetics.cli import main

    url = _one_person_db(tmp_path / "types.duckdb", 9703,
                         [(46, "EHR prescription", "Type Concept", "Type Concept", "Type Concept", "OMOP4976900"),
                          (47, "EHR administration record", "Type Concept", "Type Concept", "Type Concept",
                           "OMOP4976890")])
    drug = pd.DataFrame({"drug_exposure_id": [9731, 9732, 9733], "person_id": 9703,
                         "drug_concept_id": _concept(url, "RxNorm", "40048"), "drug_type_concept_id": [46, 47, 47],
                         "drug_exposure_start_date": [_day("2026-02-20"), _day("2026-03-04"), _day("2026-03-25")]})
    drug["drug_exposure_end_date"] = drug["drug_exposure_start_date"]
    write_omop({"drug_exposure": drug}, url)
    every = read_omop(url, person_ids=[9703])
    assert every.treatment_starts.empty
    reason = dict(zip(every.skipped["source_id"], every.skipped["reason"]))["drug_exposure_id=9731"]
    assert "46 (EHR prescription): 2026-02-20, 47 (EHR administration record): 2026-03-04" in reason
    doses = read_omop(url, person_ids=[9703], drug_types=[47])
    assert doses.treatment_starts.values.tolist() == [["9703", "2026-03-04", "drug_exposure_id=9732"]]
    assert "46 (EHR prescription) is not one of drug_types [47]" in doses.skipped["reason"].iloc[0]
    assert read_markers(doses.markers, on_error="raise")["day"].tolist() == [-3, 21]
    both = read_omop(url, person_ids=[9703], drug_types=[46, 47])      # as the user says
    assert both.treatment_starts["treatment_start"].tolist() == ["2026-02-20"]
    out = tmp_path / "m.csv"
    assert main(["extract", "omop", "--url", url, "--person-ids", str(_ids_file(tmp_path, [9703])),
                 "--drug-type", "47", "--out", str(out)]) == 0
    assert set(pd.read_csv(out, dtype=str)["treatment_start"]) == {"2026-03-04"}
    with pytest.raises(InvalidInputError, match="drug_type_concept_id"):
        read_omop(url, drug_types=[1.5])


def test_writing_the_same_tables_twice_is_refused_naming_the_table(tmp_path):
    """The second write of the fixture into one DuckDB database raised DuckDB's untyped
    'Current transaction is aborted', which hid the duplicate key behind it."""
    url = f"duckdb:///{tmp_path / 'twice.duckdb'}"
    write_omop(FIXTURE, url)
    with pytest.raises(InvalidInputError, match=r"cannot write the OMOP table '\w+' \(\w+: .*(?i:duplicate)"):
        write_omop(FIXTURE, url)


def test_text_in_a_numeric_column_is_a_skipped_row_not_a_crash(tmp_path):
    """A database without strict types (SQLite) holds '12,5' in value_as_number as text: the
    read stopped with an untyped ValueError (float('12,5')); it is the row's skip reason now,
    as is a range_high of '35 U'."""
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 'loose.sqlite'}"
    write_omop(FIXTURE, url)
    with sa.create_engine(url).begin() as conn:
        first, second = [i for (i,) in conn.execute(sa.text(
            "select measurement_id from measurement order by measurement_id limit 2")).all()]
        conn.execute(sa.text(f"update measurement set value_as_number = '12,5' where measurement_id = {first}"))
        conn.execute(sa.text(f"update measurement set range_high = '35 U' where measurement_id = {second}"))
    result = read_omop(url)
    reasons = dict(zip(result.skipped["source_id"], result.skipped["reason"]))
    assert reasons[f"measurement_id={first}"].startswith("value_as_number '12,5' is not a number")
    assert reasons[f"measurement_id={second}"].startswith("range_high '35 U' is not a number")
    assert not set(result.markers["measurement_id"].dropna().astype(int)) & {first, second}
