"""FHIR R4 input (ca125kinetics.sources.fhir): round trip of the committed synthetic cohort,
hostile bundles, RiskAssessment output, the CLI and the REST API."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("fhir.resources", reason="optional extra 'fhir' not installed")

from ca125kinetics.errors import DataQualityWarning, InvalidInputError, NoMarkerDataError  # noqa: E402
from ca125kinetics.io import read_markers  # noqa: E402
from ca125kinetics.predict import predict  # noqa: E402
from ca125kinetics.sources.fhir import cohort_to_fhir, read_fhir, risk_assessment, write_fhir  # noqa: E402

COHORT = Path(__file__).resolve().parents[1] / "data" / "synthetic" / "default"
UCUM = "http://unitsofmeasure.org"


@pytest.fixture(scope="module")
def csv_tables(committed_cohort):
    return committed_cohort


@pytest.fixture(scope="module")
def bundle_path(tmp_path_factory):
    bundle = cohort_to_fhir(COHORT / "markers.csv", COHORT / "clinical.csv")
    return write_fhir(bundle, tmp_path_factory.mktemp("fhir") / "cohort.json")


def _obs(value=61.0, *, pid="p1", oid="o1", loinc="10334-1", unit="U/mL", when="2025-01-10", **extra):
    quantity = {"value": value, "unit": unit, "system": UCUM, "code": unit}
    res = {"resourceType": "Observation", "id": oid, "status": "final",
           "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
           "subject": {"reference": f"Patient/{pid}"}, "effectiveDateTime": when, "valueQuantity": quantity,
           "referenceRange": [{"high": {"value": 35, "unit": unit, "system": UCUM, "code": unit}}]}
    res.update(extra)
    return res


def _bundle(*resources):
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}


# --------------------------------------------------------------------------- round trip


def test_round_trip_gives_the_csv_results(csv_tables, bundle_path, same_results_as_csv):
    markers, clinical = csv_tables
    with_dates = read_markers(bundle_path, clinical=clinical, on_error="flag")
    # the bundle's own treatment starts (its platinum administrations) give the same days
    alone = read_markers(bundle_path, on_error="flag")
    columns = ["patient_id", "day", "ca125", "censored", "uln", "event", "problem"]
    pd.testing.assert_frame_equal(with_dates[columns], markers[columns])
    pd.testing.assert_frame_equal(alone[columns], markers[columns])
    assert with_dates["resource_id"].str.match(r"^(Observation|Procedure)/").all()
    same_results_as_csv(with_dates)


def test_reader_keeps_provenance_and_starts(bundle_path):
    result = read_fhir(bundle_path)
    assert len(result.skipped) == 0
    assert result.markers["resource_id"].is_unique
    assert result.treatment_starts.loc[0].to_dict() == {
        "patient_id": "000001", "treatment_start": "2025-12-25", "source": "MedicationAdministration/000001-platinum"}
    assert (result.markers["marker"] == "ca125").all()


# --------------------------------------------------------------------------- reading rules


def test_censored_units_uln_assay_and_calendar_day():
    result = read_fhir(_bundle(
        _obs(5, oid="a", valueQuantity={"value": 5, "comparator": "<", "unit": "kU/L", "system": UCUM, "code": "kU/L"},
             method={"text": "Elecsys"}),
        _obs(40, oid="b", unit="[iU]/mL", when="2025-01-31T23:30:00-05:00"),
    ))
    m = result.markers.set_index("resource_id")
    assert m.loc["Observation/a", "censored"] and m.loc["Observation/a", "ca125"] == 5.0
    assert m.loc["Observation/a", "assay"] == "Elecsys"
    assert m.loc["Observation/b", "date"] == "2025-01-31"      # the day as written, not UTC's 1 February
    assert m["uln"].tolist() == [35.0, 35.0]


def test_every_skip_has_its_reason():
    bad = [
        _obs(oid="cea", loinc="2039-6", unit="ng/mL"),
        _obs(oid="other", loinc="1234-5"),
        _obs(oid="unit", unit="mg/dL"),
        _obs(oid="nodate", effectiveDateTime=None),
        _obs(oid="month", when="2025-01"),
        _obs(oid="prelim", status="preliminary"),
        _obs(oid="above", valueQuantity={"value": 5000, "comparator": ">", "unit": "U/mL", "system": UCUM,
                                         "code": "U/mL"}),
        _obs(oid="r5", triggeredBy=[{"observation": {"reference": "Observation/x"}, "type": "reflex"}]),
        _obs(oid="nosubject", subject=None),
        {"resourceType": "Condition", "id": "c1"},
        {"resourceType": "MedicationAdministration", "id": "ma", "status": "completed",
         "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                   "code": "1234"}]},
         "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2025-01-12"},
    ]
    for r in bad:
        for k in [k for k, v in r.items() if v is None]:
            del r[k]
    result = read_fhir(_bundle(_obs(oid="good"), *bad))
    reasons = dict(zip(result.skipped["source_id"], result.skipped["reason"]))
    assert list(result.markers["resource_id"]) == ["Observation/good"]
    assert len(reasons) == len(bad)
    assert "CEA (LOINC 2039-6)" in reasons["Observation/cea"]
    assert "is not CA-125" in reasons["Observation/other"]
    assert "'mg/dL' is not a CA-125 unit" in reasons["Observation/unit"]
    assert "no effectiveDateTime" in reasons["Observation/nodate"]
    assert "not precise to the day" in reasons["Observation/month"]
    assert "'preliminary'" in reasons["Observation/prelim"]
    assert "above the measuring range" in reasons["Observation/above"]
    assert "not defined in FHIR R4" in reasons["Observation/r5"] and "triggeredBy" in reasons["Observation/r5"]
    assert "no subject.reference" in reasons["Observation/nosubject"]
    assert "'Condition' is not read" in reasons["Condition/c1"]
    assert "not a platinum agent" in reasons["MedicationAdministration/ma"]


def test_cea_needs_a_uln_and_converts_ug_per_l():
    no_range = _obs(3.0, oid="n", loinc="2039-6", unit="ug/L")
    del no_range["referenceRange"]
    result = read_fhir(_bundle(no_range, _obs(2.5, oid="r", loinc="2039-6", unit="ng/mL")), marker="cea")
    assert list(result.markers["resource_id"]) == ["Observation/r"]
    assert "no referenceRange.high and no uln" in result.skipped["reason"].iloc[0]
    given = read_fhir(_bundle(no_range), marker="cea", uln=5.0)
    assert given.markers[["ca125", "uln"]].iloc[0].tolist() == [3.0, 5.0]


def test_treatment_start_from_administration_request_or_given():
    admin = {"resourceType": "MedicationAdministration", "id": "ma", "status": "completed",
             "medicationReference": {"reference": "Medication/carbo"},
             "subject": {"reference": "Patient/p1"}, "effectivePeriod": {"start": "2025-01-12T09:00:00+01:00"}}
    med = {"resourceType": "Medication", "id": "carbo",
           "code": {"coding": [{"system": "http://www.whocc.no/atc", "code": "L01XA02"}]}}
    request = {"resourceType": "MedicationRequest", "id": "mr", "status": "active", "intent": "order",
               "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                         "code": "2555"}]},
               "subject": {"reference": "Patient/p2"},
               "dosageInstruction": [{"timing": {"repeat": {"boundsPeriod": {"start": "2025-02-01"}}}}]}
    result = read_fhir(_bundle(_obs(oid="1"), _obs(oid="2", pid="p2"), admin, med, request))
    assert dict(zip(result.treatment_starts["patient_id"], result.treatment_starts["treatment_start"])) == {
        "p1": "2025-01-12", "p2": "2025-02-01"}
    days = read_markers(result.markers)
    assert days["day"].tolist() == [-2, -22]
    given = read_fhir(_bundle(_obs(oid="1"), admin, med), treatment_start={"p1": "2025-01-10"})
    assert given.treatment_starts["source"].tolist() == ["given"]


def test_treatment_start_disagreeing_with_clinical_is_an_error():
    admin = {"resourceType": "MedicationAdministration", "id": "ma", "status": "completed",
             "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                       "code": "40048"}]},
             "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2025-01-12"}
    markers = read_fhir(_bundle(_obs(), admin)).markers
    clinical = pd.DataFrame({"patient_id": ["p1"], "treatment_start": ["2025-01-20"]})
    with pytest.raises(InvalidInputError, match="differs from 2025-01-20 in the clinical table"):
        read_markers(markers, clinical=clinical)


def test_paracentesis_procedure_is_an_event():
    proc = {"resourceType": "Procedure", "id": "pc", "status": "completed",
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "61515000"}]},
            "subject": {"reference": "Patient/p1"}, "performedDateTime": "2025-01-20"}
    result = read_fhir(_bundle(_obs(), proc))
    assert result.markers["event"].tolist() == [None, "paracentesis"]
    assert result.markers["uln"].tolist() == [35.0, 35.0]


@settings(max_examples=30, deadline=None)
@given(shift=st.integers(-3000, 3000), offset=st.sampled_from(["Z", "+14:00", "-12:00", "+05:30"]),
       clock=st.sampled_from(["00:00:00", "12:30:00", "23:59:59"]))
def test_shifting_dates_or_time_zones_changes_no_day(shift, offset, clock):
    """Days from the first dose depend on the calendar days as written, nothing else."""
    def day(d: str) -> str:
        return (pd.Timestamp(d) + pd.Timedelta(days=shift)).date().isoformat()

    admin = {"resourceType": "MedicationAdministration", "id": "ma", "status": "completed",
             "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                       "code": "40048"}]},
             "subject": {"reference": "Patient/p1"}, "effectiveDateTime": f"{day('2025-01-12')}T{clock}{offset}"}
    samples = [_obs(oid=str(i), when=f"{day(d)}T{clock}{offset}")
               for i, d in enumerate(["2025-01-05", "2025-02-02", "2025-03-30"])]
    table = read_markers(read_fhir(_bundle(*samples, admin)).markers)
    assert table["day"].tolist() == [-7, 21, 77]


# --------------------------------------------------------------------------- hostile input


def test_no_marker_is_a_typed_error():
    with pytest.raises(NoMarkerDataError, match="no usable CA-125.*1x CEA.*marker='cea'"):
        read_fhir(_bundle(_obs(oid="cea", loinc="2039-6", unit="ng/mL")))


@pytest.mark.parametrize("body, message", [
    (b"{not json", "not valid JSON"),
    (b'{"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"value": NaN}}]}', "not valid JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply|not valid JSON"),
    (b'{"resourceType": "Patient2"}', "is not read"),
    (b'{"resourceType": "Bundle", "type": "collection", "issues": {}, "entry": []}', "not a valid FHIR R4 Bundle"),
    (b'"text"', "must be an object"),
    # JSON keeps the last of two equal keys: a value would be replaced without a word
    (b'{"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"valueQuantity": '
     b'{"value": 400, "value": 4}}}]}', "not valid JSON.*'value' is given twice"),
])
def test_hostile_bodies_give_typed_errors(body, message):
    with pytest.raises(InvalidInputError, match=message):
        read_fhir(body)


def test_a_50_mb_bundle_is_refused_by_size_before_parsing(tmp_path):
    path = tmp_path / "big.json"
    one = json.dumps(_obs()).encode()
    with path.open("wb") as f:
        f.write(b'{"resourceType":"Bundle","type":"collection","entry":[')
        n = 50 * 1024 * 1024 // (len(one) + 14) + 1
        f.write(b",".join([b'{"resource":' + one + b"}"] * n))
        f.write(b"]}")
    assert path.stat().st_size > 50 * 1024 * 1024
    with pytest.raises(InvalidInputError, match="larger than the limit"):
        read_fhir(path)
    with pytest.raises(InvalidInputError, match="larger than the limit"):
        read_markers(path)


def test_read_markers_warns_about_skipped_records(tmp_path):
    path = write_fhir(_bundle(_obs(oid="a"), _obs(oid="b", status="cancelled")), tmp_path / "b.json")
    with pytest.warns(DataQualityWarning, match="1 record\\(s\\) skipped"):
        table = read_markers(path, clinical=pd.DataFrame({"patient_id": ["p1"], "treatment_start": ["2025-01-01"]}))
    assert table["day"].tolist() == [9]


def test_missing_library_is_a_typed_error(monkeypatch):
    import sys

    from ca125kinetics.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "fhir.resources", None)
    with pytest.raises(MissingDependencyError, match=r"ca125kinetics\[fhir\]"):
        read_fhir(_bundle(_obs()))


# --------------------------------------------------------------------------- RiskAssessment


def test_risk_assessment_is_valid_r4(csv_tables):
    from fhir.resources.R4B.riskassessment import RiskAssessment

    markers, clinical = csv_tables
    one = markers[markers["patient_id"] == "000001"]
    p = predict(one, clinical[clinical["patient_id"] == "000001"])
    ra = risk_assessment(p, occurrence="2026-03-01")
    RiskAssessment.model_validate(ra)
    assert ra["status"] == "final" and ra["subject"] == {"reference": "Patient/000001"}
    assert ra["prediction"][0]["probabilityDecimal"] == pytest.approx(p.probability, abs=1e-6)
    assert ra["prediction"][0]["qualitativeRisk"]["text"] == p.decision
    unscored = predict({"day": [0, 0], "ca125": [100.0, 50.0]}, {"patient_id": "x"})  # two samples on one day
    ra = risk_assessment(unscored)
    RiskAssessment.model_validate(ra)
    assert ra["status"] == "cancelled" and "prediction" not in ra


# --------------------------------------------------------------------------- CLI and REST


def test_cli_reads_a_bundle_and_writes_fhir(tmp_path, capsys):
    from ca125kinetics.cli import main

    bundle = cohort_to_fhir(COHORT / "markers.csv", COHORT / "clinical.csv")
    one = dict(bundle, entry=[e for e in bundle["entry"] if "/000001" in e["fullUrl"]])
    path = write_fhir(one, tmp_path / "one.json")
    assert main(["score", "--markers", str(path), "--format", "fhir"]) == 0
    assert json.loads(capsys.readouterr().out)["resourceType"] == "RiskAssessment"
    assert main(["extract", "fhir", str(path), "--out", str(tmp_path / "m.csv")]) == 0
    assert (tmp_path / "m.skipped.csv").exists()
    assert pd.read_csv(tmp_path / "m.csv")["resource_id"].str.startswith("Observation/000001").any()
    assert main(["gcig", str(path)]) == 0
    assert main(["extract", "fhir", str(tmp_path / "absent.json"), "--out", str(tmp_path / "x.csv")]) == 2
    assert "file not found" in capsys.readouterr().err


def test_rest_api_accepts_fhir_json():
    from fastapi.testclient import TestClient

    from ca125kinetics.web.app import create_app

    bundle = cohort_to_fhir(COHORT / "markers.csv", COHORT / "clinical.csv")
    one = dict(bundle, entry=[e for e in bundle["entry"] if "/000001" in e["fullUrl"]])
    client = TestClient(create_app())
    r = client.post("/api/score", content=json.dumps(one), headers={"content-type": "application/fhir+json"})
    assert r.status_code == 200, r.text
    # a bare bundle carries no RECIST or clinical factors: scored, the decision withheld
    assert r.json()["patient_id"] == "000001" and r.json()["status"] == "insufficient"
    assert 0 <= r.json()["probability"] <= 1
    assert r.headers["x-skipped-resources"] == "0"
    assert r.json()["series"][0] == {"day": -7, "ca125": 61.0, "censored": False, "event": None}
    two = copy.deepcopy(one)
    two["entry"][2]["resource"]["subject"]["reference"] = "Patient/other"
    r = client.post("/api/score", content=json.dumps(two), headers={"content-type": "application/fhir+json"})
    assert r.status_code == 422 and "one patient" in r.json()["message"], r.text
    r = client.post("/api/score", content=b"{bad", headers={"content-type": "application/fhir+json"})
    assert r.status_code == 422 and "not valid JSON" in r.json()["message"]
    big = json.dumps(dict(one, entry=one["entry"] * 40))
    r = client.post("/api/score", content=big, headers={"content-type": "application/fhir+json"})
    assert r.status_code == 413
    r = client.post("/api/fhir/samples", content=json.dumps(one), headers={"content-type": "application/fhir+json"})
    assert r.status_code == 200
    assert r.json()["treatment_start"] == "2025-12-25" and r.json()["skipped_resources"] == 0
    r = client.post("/api/fhir/samples", content=big, headers={"content-type": "application/fhir+json"})
    assert r.status_code == 413
    r = client.post("/api/fhir/samples", content=json.dumps(_bundle(_obs(oid="x", loinc="2039-6", unit="ng/mL"))))
    assert r.status_code == 422 and "no usable CA-125" in r.json()["message"]
