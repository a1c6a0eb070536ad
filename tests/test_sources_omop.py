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
    with pytest.raises(InvalidInputError, match="cannot read the OMOP CDM tables"):
        read_omop(postgres_url, schema="absent")


def test_round_trip_of_the_committed_cohort(tmp_path, csv_tables, same_results_as_csv):
    markers, clinical = csv_tables
    url = f"duckdb:///{tmp_path / 'cdm.duckdb'}"
    write_omop(cohort_to_omop(COHORT / "markers.csv", COHORT / "clinical.csv"), url)
    result = read_omop(url, cohort_id=1, patient_id="person_source_value")
    table = read_markers(result.markers, clinical=clinical, on_error="flag")
    pd.testing.assert_frame_equal(table[COLUMNS[:3] + COLUMNS[4:]].drop(columns="assay")[markers["ca125"].notna()],
                                  markers[COLUMNS[:3] + COLUMNS[4:]].drop(columns="assay")[markers["ca125"].notna()])
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
    ]
    write_omop({"concept": extra_concepts, "measurement": pd.DataFrame([{**base, **r} for r in rows])}, url)
    result = read_omop(url, person_ids=[1, 2])
    reasons = dict(zip(result.skipped["source_id"], result.skipped["reason"]))
    assert "value_as_number is empty" in reasons["measurement_id=9001"]
    assert "above the measuring range" in reasons["measurement_id=9002"]
    assert "'mg/dL'" in reasons["measurement_id=9003"] and "not a UCUM CA-125 unit" in reasons["measurement_id=9003"]
    assert "unit_concept_id 0" in reasons["measurement_id=9004"]
    assert "not a Meas Value Operator concept" in reasons["measurement_id=9005"]
    assert "CEA (LOINC 2039-6)" in reasons["measurement_id=9006"]
    assert not result.markers["measurement_id"].isin(range(9001, 9007)).any()
    cea = read_omop(url, person_ids=[1], marker="cea")
    assert cea.markers["measurement_id"].tolist() == [9006]
    assert cea.skipped["reason"].str.contains("CA-125 \\(LOINC 10334-1\\), not the marker read").sum() >= 5
    # a negative value is imported, then refused by the one markers validator
    write_omop({"measurement": pd.DataFrame([{**base, "measurement_id": 9007, "value_as_number": -3.0}])}, url)
    flagged = read_markers(read_omop(url, person_ids=[1]).markers, on_error="flag")
    assert "is negative" in flagged["problem"].iloc[0]


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
