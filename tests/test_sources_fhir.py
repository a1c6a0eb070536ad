"""FHIR R4 input (ca125kinetics.sources.fhir): round trip of the committed synthetic cohort,
hostile bundles, RiskAssessment output, the CLI and the REST API."""

from __future__ import annotations

import copy
import io
import json
import re
import warnings
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
        _obs(oid="r5", triggeredBy=[{"observation": {"reference": "Observation/x"}, "type": "reflex"}]),
        _obs(oid="nosubject", subject=None),
        # R4 obs-6: a reason the value is absent beside a value (read as the value, without a word)
        _obs(12.0, oid="absent", dataAbsentReason={"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/data-absent-reason", "code": "error"}]}),
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
    assert "not defined in FHIR R4" in reasons["Observation/r5"] and "triggeredBy" in reasons["Observation/r5"]
    assert "no subject.reference" in reasons["Observation/nosubject"]
    assert "valueQuantity and dataAbsentReason ['error'] are both given" in reasons["Observation/absent"]
    assert "'Condition' is not read" in reasons["Condition/c1"]
    assert "not a drug of the line" in reasons["MedicationAdministration/ma"]


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


def test_the_uln_given_to_the_markers_reader_reaches_a_bundle(tmp_path):
    """read_markers(bundle, uln=30) (ca125 gcig --uln 30, a model's ULN in ca125 score) gave the
    bundle's samples without a reference range ULN 35, while the run recorded 30: the same
    values as a CSV gave group B, the bundle group A. A sample's own range still wins."""
    plain = {k: v for k, v in _obs().items() if k != "referenceRange"}
    path = write_fhir(_bundle(dict(plain, id="a"), _obs(oid="b", when="2025-01-20")), tmp_path / "b.json")
    clinical = pd.DataFrame({"patient_id": ["p1"], "treatment_start": ["2025-01-01"]})
    assert read_markers(path, clinical=clinical, uln=30)["uln"].tolist() == [30.0, 35.0]
    assert read_markers(path, clinical=clinical)["uln"].tolist() == [35.0, 35.0]     # the default, as before


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
    assert ra["note"][0]["text"].startswith("not scored: invalid input")


@pytest.mark.parametrize("occurrence", ["2026-03", "2026", "01/03/2026"])
def test_a_risk_assessment_date_not_precise_to_the_day_or_not_iso_is_refused(occurrence):
    """``occurrence="2026-03"`` was written as 1 March and ``"01/03/2026"`` as 3 January (read
    month-first): a day the user never gave."""
    unscored = predict({"day": [0, 0], "ca125": [100.0, 50.0]}, {"patient_id": "x"})
    with pytest.raises(InvalidInputError, match=f"occurrence {re.escape(repr(occurrence))}"):
        risk_assessment(unscored, occurrence=occurrence)
    assert risk_assessment(unscored, occurrence="2026-03-01T23:30:00-05:00")["occurrenceDateTime"] == "2026-03-01"


def test_a_withheld_decision_is_not_called_unscored():
    # status 'insufficient': scored (the probability is in the recommendation), decision withheld
    withheld = predict({"day": [0, 21, 42, 63], "ca125": [400, 180, 195, 150]},
                       {"age": 61, "ascites_ml": 0, "figo_stage": "IIIC", "primary_residual_disease": 0,
                        "pfi_months": 18, "recurrence_pattern": "single", "recist": "PR"})
    assert withheld.status == "insufficient"
    ra = risk_assessment(withheld)
    assert ra["status"] == "cancelled" and "prediction" not in ra
    assert ra["note"][0]["text"].startswith("no decision: insufficient information: give ecog")
    assert not any(n["text"].startswith("not scored") for n in ra["note"])


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


#: How the readers' ULN check ends its range.
PLAUSIBLE = ", the assays' plausible limits: another marker's or unit's ULN?)"


@pytest.mark.parametrize("option, value, said, python, python_said", [
    ("--uln", "0", "--uln must be a positive number of U/mL (from 10 to 1000" + PLAUSIBLE + ", got 0.0",
     {"uln": 0.0}, "uln must be a positive number of U/mL (from 10 to 1000" + PLAUSIBLE + ", got 0.0"),
    ("--treatment-start", "2025-13-01", "--treatment-start '2025-13-01' of every patient is not a date; use YYYY-MM-DD",
     {"treatment_start": "2025-13-01"},
     "column 'treatment_start': treatment_start '2025-13-01' of every patient is not a date; use YYYY-MM-DD"),
])
def test_cli_extract_refusals_name_the_option_typed(bundle_path, tmp_path, capsys, option, value, said, python,
                                                    python_said):
    """``ca125 extract fhir --uln 0`` said 'uln must be ...' and ``--treatment-start 2025-13-01``
    "column 'treatment_start': treatment_start ...", a column the user never typed; Python
    callers keep the argument (and its column)."""
    from ca125kinetics.cli import main

    assert main(["extract", "fhir", str(bundle_path), option, value, "--out", str(tmp_path / "m.csv")]) == 2
    assert capsys.readouterr().err == f"ca125: error: {said}\n"
    with pytest.raises(InvalidInputError) as info:
        read_fhir(bundle_path, **python)
    assert str(info.value) == python_said


def test_cli_extract_speaks_as_every_command(tmp_path, capsys):
    """Its 'wrote' line was on stdout (every other command's is on stderr); an --out it cannot
    write (x.xlsx, or no suffix, which it wrote as CSV) was refused only after the source was
    read, or not at all; a directory given as the bundle was 'file not found'."""
    from ca125kinetics.cli import main

    bundle = cohort_to_fhir(COHORT / "markers.csv", COHORT / "clinical.csv")
    path = write_fhir(dict(bundle, entry=[e for e in bundle["entry"] if "/000001" in e["fullUrl"]]),
                      tmp_path / "one.json")
    capsys.readouterr()
    assert main(["extract", "fhir", str(path), "--out", str(tmp_path / "m.csv")]) == 0
    out, err = capsys.readouterr()
    assert "wrote " not in out and "wrote 1" not in out and err.startswith("wrote ")
    for name in ("m.xlsx", "markers"):
        assert main(["extract", "fhir", str(tmp_path / "absent.json"), "--out", str(tmp_path / name)]) == 2
        assert "the command writes .csv, .json, .parquet, .pq files" in capsys.readouterr().err
        assert not (tmp_path / name).exists()
    assert main(["extract", "fhir", str(tmp_path), "--out", str(tmp_path / "x.csv")]) == 2
    assert "is a directory; check the path of the FHIR bundle" in capsys.readouterr().err


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


# --------------------------------------------------------------------------- audit: silent misreads


def _ma(rid, when, pid="p1"):
    return {"resourceType": "MedicationAdministration", "id": rid, "status": "completed",
            "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                      "code": "40048"}]},
            "subject": {"reference": f"Patient/{pid}"}, "effectiveDateTime": when}


def _reasons(result):
    return dict(zip(result.skipped["source_id"], result.skipped["reason"]))


def test_an_observation_coded_as_both_markers_is_refused_for_either():
    both = {"coding": [{"system": "http://loinc.org", "code": "10334-1"},
                       {"system": "http://loinc.org", "code": "2039-6"}]}
    for marker, unit in (("ca125", "U/mL"), ("cea", "ng/mL")):
        result = read_fhir(_bundle(_obs(oid="good", loinc=MARKER_LOINC[marker], unit=unit),
                                   _obs(oid="both", code=both, unit=unit)), marker=marker)
        assert list(result.markers["resource_id"]) == ["Observation/good"]
        assert "coded as both CA-125 (LOINC 10334-1) and CEA (LOINC 2039-6)" in _reasons(result)["Observation/both"]


MARKER_LOINC = {"ca125": "10334-1", "cea": "2039-6"}


@pytest.mark.parametrize("comparator", ["ad", "~", "=="])
def test_a_comparator_other_than_the_four_of_r4_is_refused(comparator):
    # R5's 'ad' ("sufficient to achieve this total quantity") or a typo must not become a plain value
    odd = _obs(oid="odd", valueQuantity={"value": 5, "comparator": comparator, "unit": "U/mL", "system": UCUM,
                                         "code": "U/mL"}, when="2025-01-11")
    result = read_fhir([_obs(oid="good"), odd])
    assert list(result.markers["resource_id"]) == ["Observation/good"]
    reasons = _reasons(result)
    assert "Observation/odd" in reasons and f"comparator {comparator!r}" in reasons["Observation/odd"]


@pytest.mark.parametrize("code, unit, value", [
    ("U/ml", "U/ml", 40.0),            # UCUM: l and L are both the litre
    ("kU/l", None, 40.0),
    ("[IU]/mL", "IU/mL", 40.0),        # UCUM: [IU] and [iU] are both the international unit
    ("U/mL", "U/mL", 40.0),
    ("kU/L", "U/mL", 40.0),            # the text names another unit that is the same number
    ("kU/L", "kIU/L", 40.0),           # as IU/mL over U/mL (it was refused: text and code differ)
    ("k[IU]/L", "kIU/L", 40.0),
    ("U/mL", "units/mL", 40.0),
    ("U/mL", "Units / mL", 40.0),
])
def test_ucum_spellings_of_the_same_unit_are_read(code, unit, value):
    quantity = {"value": 40, "system": UCUM, "code": code, **({"unit": unit} if unit else {})}
    result = read_fhir([_obs(oid="a", valueQuantity=quantity, referenceRange=None)])
    assert result.markers["ca125"].tolist() == [value] and len(result.skipped) == 0


def test_micro_sign_in_a_cea_unit_is_read_as_ug():
    quantity = {"value": 3.1, "unit": "µg/L", "system": UCUM, "code": "µg/L"}
    greek = {"value": 3.2, "unit": "μg/L", "system": UCUM, "code": "μg/L"}
    result = read_fhir([_obs(oid="a", loinc="2039-6", valueQuantity=quantity, referenceRange=None),
                        _obs(oid="b", loinc="2039-6", valueQuantity=greek, referenceRange=None, when="2025-01-11")],
                       marker="cea", uln=5.0)
    assert result.markers["ca125"].tolist() == [3.1, 3.2] and len(result.skipped) == 0


@pytest.mark.parametrize("code, unit, fragment", [
    ("U/mL", "mg/dL", "unit text 'mg/dL' does not match its UCUM code 'U/mL'"),
    ("U/mL", "ng/mL", "unit text 'ng/mL' does not match its UCUM code 'U/mL'"),
    ("U/ML", "U/ML", "'U/ML' is not a CA-125 unit"),     # ML is the megalitre in UCUM
    ("U/L", "U/L", "'U/L' is not a CA-125 unit"),         # a thousand times smaller
])
def test_a_unit_whose_text_and_code_disagree_or_differ_is_refused(code, unit, fragment):
    quantity = {"value": 40, "unit": unit, "system": UCUM, "code": code}
    result = read_fhir([_obs(oid="good"), _obs(oid="a", valueQuantity=quantity, when="2025-01-11")])
    assert list(result.markers["resource_id"]) == ["Observation/good"]
    assert fragment in _reasons(result)["Observation/a"]


def test_a_reference_range_given_only_as_text_is_not_replaced_by_the_default_uln():
    text_only = _obs(oid="t", referenceRange=[{"text": "< 30 U/mL"}], when="2025-01-11")
    result = read_fhir([_obs(oid="good"), text_only])
    assert list(result.markers["resource_id"]) == ["Observation/good"]
    assert "referenceRange '< 30 U/mL' has no high value" in _reasons(result)["Observation/t"]
    given = read_fhir([text_only], uln=30.0)                # the user says which ULN applies
    assert given.markers["uln"].tolist() == [30.0]
    low_only = _obs(oid="l", referenceRange=[{"low": {"value": 0, "unit": "U/mL", "system": UCUM, "code": "U/mL"}}])
    assert read_fhir([low_only]).markers["uln"].tolist() == [35.0]     # no upper limit stated: the default


def test_the_same_resource_twice_is_read_once_and_different_versions_are_refused():
    same = read_fhir(_bundle(_obs(oid="a"), _obs(oid="a"), _obs(oid="b", when="2025-01-20")))
    assert same.markers["resource_id"].tolist() == ["Observation/a", "Observation/b"]
    assert same.skipped["source_id"].tolist() == ["Observation/a"]
    assert "appears again, identical" in same.skipped["reason"].iloc[0]
    versions = read_fhir(_bundle(_obs(oid="a"), _obs(61.0, oid="a", when="2025-01-12"),
                                 _obs(oid="b", when="2025-01-20")))
    assert versions.markers["resource_id"].tolist() == ["Observation/b"]
    assert versions.skipped["source_id"].tolist() == ["Observation/a", "Observation/a"]
    assert versions.skipped["reason"].str.contains("appears 2 times with different content").all()


def _page(n, *resources, next_url=None):
    links = [{"relation": "self", "url": f"http://ehr.example/fhir/Observation?code=10334-1&page={n}"}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    return {"resourceType": "Bundle", "type": "searchset", "link": links,
            "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources]}


def test_one_page_of_a_search_is_refused_and_all_pages_together_are_read():
    page2_url = "http://ehr.example/fhir/Observation?code=10334-1&page=2"
    first = _page(1, _obs(oid="a"), next_url=page2_url)
    second = _page(2, _obs(oid="b", when="2025-02-10"))
    with pytest.raises(InvalidInputError, match="one page of a search result.*page=2"):
        read_fhir(first)
    result = read_fhir([first, second])
    assert result.markers["resource_id"].tolist() == ["Observation/a", "Observation/b"]
    with pytest.raises(InvalidInputError, match="page=3"):
        read_fhir([first, _page(2, _obs(oid="b"), next_url=page2_url.replace("2", "3"))])


def test_a_search_result_holding_fewer_matches_than_its_total_is_refused():
    """A searchset whose ``total`` (R4: the matches across all pages) is more than the matches
    it holds, with no ``next`` link (a server capping the results, an export keeping the first
    page without its links), was read as if it were the whole result: the rest left out silently."""
    capped = {**_page(1, _obs(oid="a"), _obs(oid="b", when="2025-02-10")), "total": 250}
    with pytest.raises(InvalidInputError, match=r"says 250 resources matched \(Bundle.total\) but holds 2"):
        read_fhir(capped)
    page2_url = "http://ehr.example/fhir/Observation?code=10334-1&page=2"
    pages = [{**_page(1, _obs(oid="a"), next_url=page2_url), "total": 3},
             {**_page(2, _obs(oid="b", when="2025-02-10")), "total": 3}]
    with pytest.raises(InvalidInputError, match="says 3 resources matched"):
        read_fhir(pages)
    # the matches counted are those of every page; an included Patient is not one of them
    included = {"fullUrl": "http://ehr.example/fhir/Patient/p1", "resource": {"resourceType": "Patient", "id": "p1"},
                "search": {"mode": "include"}}
    whole = [{**pages[0], "total": 2}, {**pages[1], "total": 2, "entry": pages[1]["entry"] + [included]}]
    assert read_fhir(whole).markers["resource_id"].tolist() == ["Observation/a", "Observation/b"]
    with pytest.raises(InvalidInputError, match="says 3 resources matched"):
        read_fhir([{**pages[0], "total": 3}, {**pages[1], "total": 3, "entry": pages[1]["entry"] + [included]}])
    # an entry's search element of another shape (not validated with the envelope) is no crash
    odd = {**_page(1, _obs(oid="a")), "total": 1}
    odd["entry"][0]["search"] = "match"
    assert read_fhir(odd).markers["resource_id"].tolist() == ["Observation/a"]


def test_a_later_line_only_ordered_beside_an_earlier_one_given_gives_no_treatment_start():
    """First-line carboplatin administered in 2023 and the line at recurrence only ordered
    (MedicationRequest) in 2025: day 0 was silently 2023-03-01, the 2025 series read as a
    progression on day 676. A request of the same line as the administrations changes nothing."""
    def request(start, rid="mr"):
        return {"resourceType": "MedicationRequest", "id": rid, "status": "active", "intent": "order",
                "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                          "code": "40048"}]},
                "subject": {"reference": "Patient/p1"},
                "dosageInstruction": [{"timing": {"repeat": {"boundsPeriod": {"start": start}}}}]}

    given = (_ma("m1", "2023-03-01"), _ma("m2", "2023-03-22"))
    result = read_fhir(_bundle(_obs(oid="a", when="2025-01-20"), *given, request("2025-01-06")))
    assert result.treatment_starts.empty and result.markers["treatment_start"].tolist() == [None]
    assert any("2023-03-01" in r and "2025-01-06" in r for r in _reasons(result).values())
    same_line = read_fhir(_bundle(_obs(oid="a", when="2023-04-20"), *given, request("2023-02-27")))
    assert same_line.treatment_starts["treatment_start"].tolist() == ["2023-03-01"]


@pytest.mark.parametrize("high", [{"unit": "U/mL", "system": UCUM, "code": "U/mL"}, {"value": "high"},
                                  {"value": 0, "unit": "U/mL", "system": UCUM, "code": "U/mL"}, "35"])
def test_a_reference_range_high_without_a_usable_value_is_skipped_with_its_reason(high):
    """A referenceRange.high with a unit but no value (valid R4: Quantity.value is 0..1) stopped
    the reader with a KeyError traceback."""
    result = read_fhir(_bundle(_obs(oid="a", referenceRange=[{"high": high}]), _obs(oid="b", when="2025-01-20")))
    assert result.markers["resource_id"].tolist() == ["Observation/b"]
    assert "referenceRange" in _reasons(result)["Observation/a"]


def test_platinum_doses_of_more_than_one_line_give_no_treatment_start():
    # first-line carboplatin in 2022 and the line at recurrence in 2025: day 0 is ambiguous
    result = read_fhir(_bundle(_obs(oid="a", when="2025-03-01"), _ma("m1", "2022-01-01"), _ma("m2", "2022-01-22"),
                               _ma("m3", "2025-02-20"), _ma("m4", "2025-03-13")))
    assert result.treatment_starts.empty
    assert result.markers["treatment_start"].tolist() == [None]
    reason = _reasons(result)["MedicationAdministration/m1"]
    assert "2022-01-01" in reason and "2025-02-20" in reason and "treatment_start" in reason
    with pytest.raises(InvalidInputError, match="treatment_start"):
        read_markers(result.markers)
    chosen = read_fhir(_bundle(_obs(oid="a", when="2025-03-01"), _ma("m1", "2022-01-01"), _ma("m3", "2025-02-20")),
                       treatment_start={"p1": "2025-02-20"})
    assert read_markers(chosen.markers)["day"].tolist() == [9]
    # cycles three weeks apart and a pause for surgery are one line
    one = read_fhir(_bundle(_obs(oid="a", when="2025-03-01"), _ma("m1", "2025-01-01"), _ma("m2", "2025-01-22"),
                            _ma("m3", "2025-04-20")))
    assert one.treatment_starts["treatment_start"].tolist() == ["2025-01-01"]
    assert len(one.skipped) == 0


def test_a_cea_cohort_round_trips_through_fhir():
    rectal = COHORT.parent / "rectal"
    markers = pd.read_csv(rectal / "markers.csv", dtype={"patient_id": str})
    markers = markers[markers["patient_id"].isin(["000001", "000002", "000003"])]
    clinical = pd.read_csv(rectal / "clinical.csv", dtype={"patient_id": str})
    bundle = cohort_to_fhir(markers, clinical, marker="cea")
    back = read_markers(read_fhir(bundle, marker="cea").markers, marker="cea")
    expected = read_markers(markers, clinical=clinical, marker="cea")
    columns = ["patient_id", "day", "cea", "censored", "uln", "assay", "event"]
    pd.testing.assert_frame_equal(back[columns], expected[columns])


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_an_extract_written_and_read_back_is_the_extract(tmp_path, suffix):
    from ca125kinetics.io import write_table

    admin = _ma("ma", "2025-01-05")
    result = read_fhir(_bundle(_obs(oid="a", pid="007"), _obs(5, oid="b", pid="007", when="2025-02-01",
                                    valueQuantity={"value": 5, "comparator": "<", "unit": "U/mL", "system": UCUM,
                                                   "code": "U/mL"}),
                               dict(admin, subject={"reference": "Patient/007"})))
    direct = read_markers(result.markers)
    back = read_markers(write_table(result.markers, tmp_path / f"extract.{suffix}"))
    pd.testing.assert_frame_equal(back.astype(object), direct.astype(object))
    assert back["treatment_start"].tolist() == ["2025-01-05", "2025-01-05"]
    assert back["patient_id"].tolist() == ["007", "007"] and back["censored"].tolist() == [False, True]


@pytest.mark.parametrize("start", ["2025-01", "2025", "01/02/2025", "2025-1-5"])
def test_a_treatment_start_not_precise_to_the_day_or_not_iso_is_refused(start):
    # pandas reads '2025-01' as 1 January and '01/02/2025' as 2 January: both guesses
    with pytest.raises(InvalidInputError, match="not a date.*YYYY-MM-DD"):
        read_fhir([_obs()], treatment_start=start)
    with pytest.raises(InvalidInputError, match="not a date.*YYYY-MM-DD"):
        read_fhir([_obs()], treatment_start={"p1": start})
    if start in ("2025-01", "2025"):    # said as such (the words were lost: 'is not a date')
        with pytest.raises(InvalidInputError, match="is not a date precise to the day; use YYYY-MM-DD"):
            read_fhir([_obs()], treatment_start=start)


def test_a_treatment_start_key_differing_from_a_patient_id_only_in_case_is_refused():
    """{'P1': ...} for patient p1 was ignored and p1's day 0 taken from the bundle's doses
    without a word; a key naming no patient at all stays allowed (one mapping per cohort)."""
    admin = {"resourceType": "MedicationAdministration", "id": "ma", "status": "completed",
             "medicationCodeableConcept": {"coding": [{"system": "http://www.whocc.no/atc", "code": "L01XA02"}]},
             "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2022-01-12"}
    for key in ("P1", " p1"):
        with pytest.raises(InvalidInputError, match=f"treatment_start names patient '{key}'.*'p1' is: the ids "
                                                    "differ only in case or spaces"):
            read_fhir(_bundle(_obs(oid="1"), admin), treatment_start={key: "2025-01-10"})
    other = read_fhir(_bundle(_obs(oid="1"), admin), treatment_start={"p1": "2025-01-10", "p77": "2025-03-01"})
    assert other.treatment_starts["treatment_start"].tolist() == ["2025-01-10"]


def test_treatment_start_as_a_date_object_or_iso_text_is_read():
    import datetime as dt

    for start in (dt.date(2025, 1, 5), pd.Timestamp("2025-01-05"), "2025-01-05", "2025-01-05T09:00:00+01:00"):
        assert read_fhir([_obs()], treatment_start=start).treatment_starts["treatment_start"].tolist() == ["2025-01-05"]


@pytest.mark.parametrize("uln", [True, float("inf"), float("nan"), 0, -5, "35"])
def test_a_uln_that_is_not_a_positive_finite_number_is_refused(uln):
    with pytest.raises(InvalidInputError, match="uln must be a positive"):
        read_fhir([_obs()], uln=uln)


def test_a_uln_is_refused_by_the_table_readers_rule():
    """read_fhir's uln= had its own check: a ULN of 1500 U/mL for CA-125 (the table readers
    refuse one above 1000 U/mL, and above 20 ng/mL for CEA) and a single-precision number were
    read. It is now the readers' one rule (settings.check_uln_argument)."""
    import numpy as np

    from ca125kinetics.io import read_markers

    table = pd.DataFrame({"patient_id": ["p1"] * 3, "day": [0, 21, 42], "ca125": [400.0, 150.0, 60.0]})
    for uln in (1500.0, np.float32(35.0)):
        with pytest.raises(InvalidInputError) as fhir:
            read_fhir([_obs()], uln=uln)
        with pytest.raises(InvalidInputError) as tables:
            read_markers(table, uln=uln)
        assert fhir.value.message == tables.value.message
    assert read_fhir([_obs()], uln=np.int64(35)).markers["uln"].notna().all()


def test_a_procedure_coded_as_two_different_events_is_refused():
    codes = [{"system": "http://snomed.info/sct", "code": "61515000"},
             {"system": "http://snomed.info/sct", "code": "91602002"}]
    proc = {"resourceType": "Procedure", "id": "pc", "status": "completed", "code": {"coding": codes},
            "subject": {"reference": "Patient/p1"}, "performedDateTime": "2025-01-20"}
    result = read_fhir([_obs(), proc])
    assert result.markers["event"].isna().all()
    assert "coded as both paracentesis and thoracentesis" in _reasons(result)["Procedure/pc"]


def test_two_patient_entries_with_one_id_are_not_merged():
    """Two Patient entries (two fullUrls, two names) with the id "1" had their samples read as one
    series of patient 1; they are skipped, naming both entries, and the summary of skipped
    records keeps the fullUrls (it cut the reason at the colon of 'urn:uuid')."""
    from ca125kinetics.sources._codes import _reason_kind

    urls = ("urn:uuid:0b0e1a3e-0000-4000-8000-00000000000a", "urn:uuid:0b0e1a3e-0000-4000-8000-00000000000b")
    patients = [{"fullUrl": u, "resource": {"resourceType": "Patient", "id": "1", "name": [{"family": f}]}}
                for u, f in zip(urls, ("Smith", "Jones"))]
    observations = [{"resource": _obs(oid=f"o{i}", subject={"reference": u}, when=f"2025-01-{10 + i}")}
                    for i, u in enumerate(urls)]
    other = {"resource": _obs(oid="o9", pid="2")}
    result = read_fhir({"resourceType": "Bundle", "type": "collection", "entry": patients + observations + [other]})
    assert result.markers["patient_id"].tolist() == ["2"]
    reasons = _reasons(result)
    assert all(f"Patient id '1' is the id of 2 Patient entries ({urls[0]}, {urls[1]})" in reasons[f"Observation/o{i}"]
               for i in range(2))
    assert _reason_kind(reasons["Observation/o0"]).endswith(f"({urls[0]}, {urls[1]})")
    assert _reason_kind("unit 'x' is not a UCUM unit: read U/mL") == "unit 'x' is not a UCUM unit"


def test_a_subject_whose_identifier_contradicts_its_reference_is_given_to_neither_patient():
    """An Observation or MedicationAdministration with subject {reference Patient/A, identifier
    B's MRN} was read as A's without a word; such a resource (its identifier not A's, or another
    Patient's) is skipped naming both. A subject with only an identifier is skipped saying so."""
    mrn = "urn:oid:1.2.36.146.595.217.0.1"
    a = {"resourceType": "Patient", "id": "A", "identifier": [{"system": mrn, "value": "111"}]}
    b = {"resourceType": "Patient", "id": "B", "identifier": [{"system": mrn, "value": "222"}]}

    def subject(value, system=mrn, ref="Patient/A"):
        identifier = {"value": value, **({"system": system} if system else {})}
        return {**({"reference": ref} if ref else {}), "identifier": identifier}

    records = [_obs(480.0, oid="b-mrn", subject=subject("222"), when="2025-01-03"),
               _obs(400.0, oid="unknown-mrn", subject=subject("999"), when="2025-01-04"),
               _obs(300.0, oid="b-value", subject=subject("222", system=None), when="2025-01-05"),
               {**_ma("dose", "2025-01-02"), "subject": subject("222")},
               _obs(390.0, oid="agrees", subject=subject("111"), when="2025-01-06"),
               _obs(380.0, oid="agrees-value", subject=subject("111", system=None), when="2025-01-07"),
               _obs(370.0, oid="only-id", subject=subject("111", ref=None), when="2025-01-08"),
               _obs(50.0, pid="B", oid="b1")]
    result = read_fhir(_bundle(a, b, *records))
    assert sorted(zip(result.markers["resource_id"], result.markers["patient_id"])) == [
        ("Observation/agrees", "A"), ("Observation/agrees-value", "A"), ("Observation/b1", "B")]
    assert "A" not in set(result.treatment_starts["patient_id"])
    reasons = _reasons(result)
    assert reasons["Observation/b-mrn"] == (
        f"subject.reference 'Patient/A' and subject.identifier {mrn}|222 disagree: the identifier is not one of "
        f"Patient/A's identifiers ({mrn}|111) and is the identifier of Patient/B; whose record this is is ambiguous, "
        "so it is given to neither patient; correct the reference or the identifier at the source (or export the "
        "resource without the identifier)")
    assert "is the identifier of Patient/B" in reasons["MedicationAdministration/dose"]
    assert "is the identifier of Patient/B" in reasons["Observation/b-value"]
    assert f"{mrn}|999 disagree: the identifier is not one of Patient/A's identifiers" in reasons[
        "Observation/unknown-mrn"] and "Patient/B" not in reasons["Observation/unknown-mrn"]
    assert reasons["Observation/only-id"].startswith(f"no subject.reference: the subject gives only an identifier "
                                                     f"({mrn}|111)")
    skipped = result.skipped.set_index("source_id")["patient_id"]
    assert skipped[["Observation/b-mrn", "Observation/only-id", "MedicationAdministration/dose"]].isna().all()
    # the referenced Patient not in the bundle: its identifier is another Patient's all the same
    elsewhere = _reasons(read_fhir(_bundle(b, _obs(oid="x", subject=subject("222", ref="Patient/C")),
                                           _obs(50.0, pid="B", oid="b1"))))
    assert "is the identifier of Patient/B" in elsewhere["Observation/x"]
    # nothing to check the identifier against: read by the reference, as before
    plain = read_fhir(_bundle(_obs(oid="x", subject=subject("222"))))
    assert plain.markers["patient_id"].tolist() == ["A"] and plain.skipped.empty
    # an identifier of a system Patient/A has none of (and no other Patient holds) cannot be
    # checked: read by the reference
    national = read_fhir(_bundle(a, b, _obs(oid="x", subject=subject("999", system="urn:oid:2.16.840.1.113883.2.4.6.3"))))
    assert national.markers["patient_id"].tolist() == ["A"] and national.skipped.empty


def test_one_persons_records_under_two_linked_patient_ids_are_not_read_as_two_series():
    """After a merge of two records (R4 Patient.link, a modifier element), the baseline and
    first dose stayed under the old id and the later samples came under the new one: they were
    read as two patients, the new one's day 0 its second cycle, without a word."""
    old = {"resourceType": "Patient", "id": "old1", "active": False,
           "link": [{"other": {"reference": "Patient/new1"}, "type": "replaced-by"}]}
    new = {"resourceType": "Patient", "id": "new1", "link": [{"other": {"reference": "Patient/old1"},
                                                                "type": "replaces"}]}
    records = [_obs(480.0, pid="old1", oid="a", when="2025-01-03"), _ma("m1", "2025-01-05", pid="old1"),
               _obs(390.0, pid="new1", oid="b", when="2025-02-10"), _ma("m2", "2025-01-26", pid="new1"),
               _obs(50.0, pid="p2", oid="c")]
    result = read_fhir(_bundle(old, new, *records))
    assert set(result.markers["patient_id"]) == {"p2"}
    reasons = _reasons(result)
    assert reasons["Observation/a"].startswith("Patient/old1 has Patient.link replaced-by Patient/new1: the record "
                                               "must no longer be used")
    assert reasons["MedicationAdministration/m2"].startswith("Patient/new1 has Patient.link replaces Patient/old1: "
                                                             "both hold records of this person")
    # a record replaced by another is not used, even alone; a link to a record with nothing here splits nothing
    alone = _reasons(read_fhir(_bundle(old, _obs(480.0, pid="old1", oid="a"), _obs(50.0, pid="p2", oid="c"))))
    assert "must no longer be used" in alone["Observation/a"]
    seealso = {"resourceType": "Patient", "id": "p2", "link": [{"other": {"reference": "Patient/elsewhere"},
                                                                 "type": "seealso"}]}
    assert read_fhir(_bundle(seealso, _obs(50.0, pid="p2", oid="c"))).markers["patient_id"].tolist() == ["p2"]
    # a link that is not valid R4 is the invalid Patient's problem, not a crash (AttributeError)
    for link in (["Patient/x"], [{"other": "Patient/x", "type": "seealso"}]):
        bad = {"resourceType": "Patient", "id": "p2", "link": link}
        result = read_fhir(_bundle(bad, _obs(50.0, pid="p2", oid="c")))
        assert "not a valid FHIR R4 Patient" in _reasons(result)["Patient/p2"]


def test_one_patient_id_on_two_servers_is_not_merged():
    a = _obs(oid="a", subject={"reference": "https://hospital-a.example/fhir/Patient/1"})
    b = _obs(oid="b", subject={"reference": "https://hospital-b.example/fhir/Patient/1"}, when="2025-01-11")
    same = _obs(oid="c", subject={"reference": "https://hospital-a.example/fhir/Patient/2"}, when="2025-01-12")
    also = _obs(oid="d", subject={"reference": "https://hospital-a.example/fhir/Patient/2/_history/3"},
                when="2025-01-13")
    result = read_fhir([a, b, same, also])
    assert result.markers["resource_id"].tolist() == ["Observation/c", "Observation/d"]
    assert result.markers["patient_id"].tolist() == ["2", "2"]
    reasons = _reasons(result)
    assert "Patient/1 is referenced on 2 servers" in reasons["Observation/a"]
    assert "hospital-b.example" in reasons["Observation/b"]
    # a relative reference to that id, with both servers' Patient entries in the bundle, is as ambiguous
    patients = [{"fullUrl": f"https://hospital-{h}.example/fhir/Patient/1", "resource": {"resourceType": "Patient",
                                                                                        "id": "1"}} for h in "ab"]
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": patients + [{"resource": _obs(oid="e", subject={"reference": "Patient/1"})},
                                   {"resource": _obs(oid="f", pid="3")}]}
    relative = read_fhir(bundle)
    assert relative.markers["resource_id"].tolist() == ["Observation/f"]
    assert "referenced on 2 servers" in _reasons(relative)["Observation/e"]


def test_a_history_bundle_is_refused():
    # versions and deletions of resources, not their current state: a deleted Observation's
    # earlier version would be read as a sample
    history = {"resourceType": "Bundle", "type": "history", "entry": [
        {"fullUrl": "http://ehr.example/fhir/Observation/a", "resource": _obs(oid="a"),
         "request": {"method": "POST", "url": "Observation"}, "response": {"status": "201"}},
        {"fullUrl": "http://ehr.example/fhir/Observation/a", "request": {"method": "DELETE", "url": "Observation/a"},
         "response": {"status": "204"}}]}
    with pytest.raises(InvalidInputError, match="history Bundle.*current"):
        read_fhir(history)


def test_a_platinum_drug_is_found_through_the_medication_ingredient_or_a_contained_medication():
    # administrations are usually coded as a clinical drug (RxNorm SCD), the ingredient in Medication
    scd = {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "597195",
                       "display": "carboplatin 10 MG/ML Injectable Solution"}]}
    ingredient = [{"itemCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                       "code": "40048"}]}}]
    med = {"resourceType": "Medication", "id": "carbo-scd", "code": scd, "ingredient": ingredient}
    by_reference = dict(_ma("ma1", "2025-01-05"), medicationReference={"reference": "Medication/carbo-scd"})
    del by_reference["medicationCodeableConcept"]
    contained = dict(_ma("ma2", "2025-01-07", pid="p2"), medicationReference={"reference": "#m"},
                     contained=[dict(med, id="m")])
    del contained["medicationCodeableConcept"]
    scd_only = dict(_ma("ma3", "2025-01-09", pid="p3"), medicationCodeableConcept=scd)
    result = read_fhir([_obs(oid="1"), _obs(oid="2", pid="p2"), _obs(oid="3", pid="p3"), med, by_reference,
                        contained, scd_only])
    assert dict(zip(result.treatment_starts["patient_id"], result.treatment_starts["treatment_start"])) == {
        "p1": "2025-01-05", "p2": "2025-01-07"}
    assert "not a drug of the line" in _reasons(result)["MedicationAdministration/ma3"]
    assert "drug_codes={'597195': 'carboplatin'}" in _reasons(result)["MedicationAdministration/ma3"]
    assert "Medication.ingredient" in _reasons(result)["MedicationAdministration/ma3"]


def test_a_clinical_drug_code_given_in_drug_codes_is_a_dose_of_the_line(tmp_path, capsys):
    from ca125kinetics.cli import main

    scd = {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "597195",
                       "display": "carboplatin 10 MG/ML Injectable Solution"}]}
    resources = [_obs(oid="1", when="2025-01-20"), dict(_ma("scd", "2025-01-09"), medicationCodeableConcept=scd),
                 _ma("ingredient", "2025-01-12", pid="p2"), _obs(oid="2", pid="p2", when="2025-01-20")]
    assert read_fhir(resources).treatment_starts["patient_id"].tolist() == ["p2"]   # the code is not looked up
    given = read_fhir(resources, drug_codes={"597195": "carboplatin"})
    assert dict(zip(given.treatment_starts["patient_id"], given.treatment_starts["treatment_start"])) == {
        "p1": "2025-01-09", "p2": "2025-01-12"}                 # the default ingredients are still read
    assert "MedicationAdministration/scd" not in _reasons(given)
    assert given.markers.loc[given.markers["patient_id"] == "p1", "treatment_start"].tolist() == ["2025-01-09"]
    # the command line says the same with --drug-code
    path = tmp_path / "b.json"
    path.write_text(json.dumps(_bundle(*resources)))
    out = tmp_path / "m.csv"
    assert main(["extract", "fhir", str(path), "--drug-code", "597195=carboplatin", "--out", str(out)]) == 0
    assert set(pd.read_csv(out, dtype=str)["treatment_start"]) == {"2025-01-09", "2025-01-12"}
    capsys.readouterr()


@pytest.mark.parametrize("codes, fragment", [
    ([("597195", "carboplatin")], None),
    ("597195=carboplatin", "must map RxNorm codes to drug names"),
    ({597195: "carboplatin"}, "give the code as text of digits"),
    ({"RX597195": "carboplatin"}, "is not an RxNorm code"),
    ({"597195": ""}, "needs the drug's name as text"),
    ({"597195": None}, "needs the drug's name as text"),
    ({"40048": "cisplatin"}, "RxNorm 40048 is carboplatin, not 'cisplatin'"),
])
def test_bad_drug_codes_are_refused_before_the_bundle_is_read(codes, fragment):
    codes = dict(codes) if isinstance(codes, list) else codes
    if fragment is None:      # a mapping given as a dict of pairs is fine
        assert read_fhir([_obs()], drug_codes=codes).markers["patient_id"].tolist() == ["p1"]
        return
    with pytest.raises(InvalidInputError, match=fragment):
        read_fhir(b"not json", drug_codes=codes)      # the argument is checked first


@pytest.mark.parametrize("option, fragment", [
    ("597195", "give RXNORM=NAME"), ("597195=carboplatin=x", "give RXNORM=NAME"),
    ("abc=carboplatin", "not an RxNorm code")])
def test_a_bad_drug_code_option_is_a_usage_error(tmp_path, capsys, option, fragment):
    from ca125kinetics.cli import main

    path = tmp_path / "b.json"
    path.write_text(json.dumps(_bundle(_obs())))
    assert main(["extract", "fhir", str(path), "--drug-code", option, "--out", str(tmp_path / "m.csv")]) == 2
    assert fragment in capsys.readouterr().err
    codes = ["--drug-code", "597195=carboplatin", "--drug-code", "597195=cisplatin"]
    assert main(["extract", "fhir", str(path), *codes, "--out", str(tmp_path / "m.csv")]) == 2
    assert "given as 'carboplatin' and as 'cisplatin'" in capsys.readouterr().err


_SCD = {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "597195",
                   "display": "carboplatin 10 MG/ML Injectable Solution"}]}


def _scd_bundle(tmp_path):
    """One patient whose carboplatin is coded only as a clinical drug (RxNorm SCD 597195)."""
    resources = [_obs(120.0, oid="o1", when="2025-01-02"), _obs(60.0, oid="o2", when="2025-01-23"),
                 _obs(30.0, oid="o3", when="2025-02-13"), dict(_ma("scd", "2025-01-05"), medicationCodeableConcept=_SCD)]
    path = tmp_path / "scd.json"
    path.write_text(json.dumps(_bundle(*resources)))
    return path, _bundle(*resources)


def test_a_bundle_read_as_markers_or_scored_by_a_command_takes_drug_codes(tmp_path, capsys):
    from ca125kinetics.cli import main

    path, _ = _scd_bundle(tmp_path)
    # by default the dose is not read: no day 0
    with pytest.warns(DataQualityWarning, match=r"1 record\(s\) skipped \(1x not a drug of the line"):
        with pytest.raises(InvalidInputError, match="treatment_start"):
            read_markers(path)
    markers = read_markers(path, drug_codes={"597195": "carboplatin"})
    assert markers["day"].tolist() == [-3, 18, 39]                    # days from the SCD dose
    for command in (["gcig", str(path)], ["kinetics", str(path), "--method", "per-patient"],
                    ["score", "--markers", str(path)]):
        assert main([*command, "--drug-code", "597195=carboplatin", "--format", "csv"]) == 0, command
        rows = pd.read_csv(io.StringIO(capsys.readouterr().out), dtype={"patient_id": str})
        assert rows["patient_id"].tolist() == ["p1"] and rows["status"].iloc[0] != "invalid_input", command
    assert main(["score", "--markers", str(path), "--format", "json", "--drug-code", "597195=carboplatin"]) == 0
    assert [s["day"] for s in json.loads(capsys.readouterr().out)["series"]] == [-3, 18, 39]
    with warnings.catch_warnings():     # the command prints its reader's notes on stderr
        warnings.simplefilter("always")
        assert main(["score", "--markers", str(path), "--format", "json"]) == 0   # without the code: no day 0
    out, err = capsys.readouterr()
    assert json.loads(out)["status"] == "invalid_input" and "treatment_start" in json.loads(out)["reason"]
    assert "ca125: note:" in err and "not a drug of the line" in err


def test_drug_codes_with_a_table_are_refused_before_it_is_read(tmp_path, capsys):
    from ca125kinetics.cli import main

    table = pd.DataFrame({"patient_id": ["p1", "p1"], "day": [0, 21], "ca125": [100.0, 50.0]})
    path = tmp_path / "m.csv"
    table.to_csv(path, index=False)
    for source in (path, table):
        with pytest.raises(InvalidInputError, match="FHIR R4 bundle.*leave the drug codes out"):
            read_markers(source, drug_codes={"597195": "carboplatin"})
    assert read_markers(path, drug_codes={})["day"].tolist() == [0, 21]            # an empty mapping adds nothing
    with pytest.raises(InvalidInputError, match="not an RxNorm code"):              # a bad code says so first
        read_markers(path, drug_codes={"RX1": "carboplatin"})
    # on the command line too, also for a file large enough to be read in chunks
    for chunk in ([], ["--chunk-rows", "1"]):
        assert main(["gcig", str(path), "--drug-code", "597195=carboplatin", *chunk]) == 2
        assert "leave the drug codes out" in capsys.readouterr().err
        assert main(["score", "--markers", str(path), "--drug-code", "597195=carboplatin", *chunk]) == 2
        assert "leave the drug codes out" in capsys.readouterr().err


def test_the_scoring_server_reads_bundles_with_the_sites_drug_codes(tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from ca125kinetics.cli import build_parser, drug_codes_option
    from ca125kinetics.web.app import app_from_env, create_app

    _, bundle = _scd_bundle(tmp_path)
    body, fhir = json.dumps(bundle), {"content-type": "application/fhir+json"}
    plain = TestClient(create_app())
    r = plain.post("/api/fhir/samples", content=body, headers=fhir)
    assert r.status_code == 200 and "treatment_start" not in r.json() and r.json()["skipped_resources"] == 1
    site = TestClient(create_app(drug_codes={"597195": "carboplatin"}))
    r = site.post("/api/fhir/samples", content=body, headers=fhir)
    assert r.status_code == 200 and r.json()["treatment_start"] == "2025-01-05" and r.json()["skipped_resources"] == 0
    r = site.post("/api/score", content=body, headers=fhir)
    assert r.status_code == 200, r.text
    assert [s["day"] for s in r.json()["series"]] == [-3, 18, 39] and r.headers["x-skipped-resources"] == "0"
    assert site.get("/api/model").json()["fhir_drug_codes"] == {"40048": "carboplatin", "2555": "cisplatin",
                                                                "597195": "carboplatin"}
    assert plain.get("/api/model").json()["fhir_drug_codes"] == {"40048": "carboplatin", "2555": "cisplatin"}
    with pytest.raises(InvalidInputError, match="RxNorm 40048 is carboplatin"):   # before serving
        create_app(drug_codes={"40048": "cisplatin"})
    # ca125 serve --drug-code, and the workers' app built from the environment serve() sets
    args = build_parser().parse_args(["serve", "--drug-code", "597195=carboplatin"])
    assert drug_codes_option(args) == {"597195": "carboplatin"}
    monkeypatch.setenv("CA125_SERVE_FHIR_CODES", json.dumps({"drug_codes": {"597195": "carboplatin"}}))
    r = TestClient(app_from_env()).post("/api/fhir/samples", content=body, headers=fhir)
    assert r.json()["treatment_start"] == "2025-01-05"


@pytest.mark.parametrize("change, fragment", [
    ({"status": "entered-in-error"}, "status 'entered-in-error'"),
    ({"status": "cancelled"}, "status 'cancelled'"),
    ({"status": "registered"}, "status 'registered'"),
    ({"valueQuantity": None, "valueString": "<5"}, "valueString instead of valueQuantity"),
    ({"valueQuantity": None, "dataAbsentReason": {"coding": [
        {"system": "http://terminology.hl7.org/CodeSystem/data-absent-reason", "code": "error"}]}},
     "dataAbsentReason ['error']"),
    ({"effectiveDateTime": None, "issued": "2025-01-10T10:00:00Z"}, "no effectiveDateTime"),
    ({"effectiveDateTime": None, "effectivePeriod": {"end": "2025-01-10"}}, "no effectiveDateTime"),
    ({"code": {"coding": [{"system": "http://snomed.info/sct", "code": "104436007"}]}}, "no LOINC code"),
    ({"code": {"coding": [{"system": "urn:oid:1.2.3", "code": "CA125"}], "text": "CA-125"}}, "no LOINC code"),
    ({"subject": {"reference": "#pat"}, "contained": [{"resourceType": "Patient", "id": "pat"}]},
     "is not a Patient reference"),
    ({"subject": {"identifier": {"system": "urn:mrn", "value": "p1"}}}, "no subject.reference"),
    ({"valueQuantity": {"value": 40, "unit": "U/mL"}}, "is not UCUM-coded"),
    ({"valueQuantity": {"value": 40}}, "is not UCUM-coded"),
])
def test_records_that_were_already_refused_stay_refused(change, fragment):
    """The audit's probes that the reader already handled: each is listed with its reason."""
    odd = {k: v for k, v in _obs(oid="odd", when="2025-01-11", **change).items() if v is not None}
    result = read_fhir([_obs(oid="good"), odd])
    assert result.markers["resource_id"].tolist() == ["Observation/good"]
    assert fragment in _reasons(result)["Observation/odd"]


@pytest.mark.parametrize("change, day", [
    ({"status": "amended"}, "2025-01-11"),
    ({"status": "corrected"}, "2025-01-11"),
    ({"effectiveDateTime": None, "effectivePeriod": {"start": "2025-01-09T08:00:00+01:00", "end": "2025-01-10"}},
     "2025-01-09"),
    ({"effectiveDateTime": None, "effectiveInstant": "2025-01-12T23:59:59.5-11:00"}, "2025-01-12"),
    ({"effectiveDateTime": "2024-01-31T23:30:00-05:00"}, "2024-01-31"),      # 1 February in UTC
])
def test_records_that_were_already_read_stay_read(change, day):
    odd = {k: v for k, v in _obs(oid="odd", when="2025-01-11", **change).items() if v is not None}
    result = read_fhir([odd])
    assert result.markers["date"].tolist() == [day] and len(result.skipped) == 0


def test_a_json_file_holding_the_pages_is_read_by_the_command_line(tmp_path, capsys):
    from ca125kinetics.cli import main

    page2_url = "http://ehr.example/fhir/Observation?code=10334-1&page=2"
    pages = [_page(1, _obs(oid="a"), next_url=page2_url), _page(2, _obs(oid="b", when="2025-02-10"))]
    path = tmp_path / "pages.json"
    path.write_text(json.dumps(pages))
    assert main(["extract", "fhir", str(path), "--out", str(tmp_path / "m.csv")]) == 0
    assert pd.read_csv(tmp_path / "m.csv")["resource_id"].tolist() == ["Observation/a", "Observation/b"]
    path.write_text(json.dumps(pages[0]))
    assert main(["extract", "fhir", str(path), "--out", str(tmp_path / "m.csv")]) == 2
    assert "one page of a search result" in capsys.readouterr().err


def test_a_list_of_bundle_entries_keeps_their_full_urls():
    uuid = "urn:uuid:11111111-2222-3333-4444-555555555555"
    entries = [{"fullUrl": uuid, "resource": {"resourceType": "Patient", "id": "P7"}},
               {"resource": _obs(oid="a", subject={"reference": uuid})}]
    result = read_fhir(entries)
    assert result.markers["patient_id"].tolist() == ["P7"] and len(result.skipped) == 0


def test_a_fhir_bundle_of_scores_has_every_patient_the_other_formats_have(tmp_path, capsys):
    """--format fhir of a cohort: a patient with markers and no clinical row stopped the run, and
    one with a clinical row and no markers was left out; the JSON table lists both, not scored."""
    from ca125kinetics.cli import main

    markers = pd.read_csv(COHORT / "markers.csv", dtype=str)
    clinical = pd.read_csv(COHORT / "clinical.csv", dtype=str)
    a, b, c = sorted(set(markers["patient_id"]))[:3]
    markers[markers["patient_id"].isin([a, b])].to_csv(tmp_path / "m.csv", index=False)
    clinical[clinical["patient_id"].isin([a, c])].to_csv(tmp_path / "c.csv", index=False)
    args = ["score", "--markers", str(tmp_path / "m.csv"), "--clinical", str(tmp_path / "c.csv"), "--format"]
    assert main([*args, "json"]) == 0
    table = {r["patient_id"]: r for r in json.loads(capsys.readouterr().out)}
    assert main([*args, "fhir"]) == 0
    entries = [e["resource"] for e in json.loads(capsys.readouterr().out)["entry"]]
    assert [e["subject"]["reference"] for e in entries] == [f"Patient/{p}" for p in (a, b, c)]
    assert [e["status"] for e in entries] == ["final", "cancelled", "cancelled"]
    assert [table[p]["status"] for p in (a, b, c)] == ["ok", "invalid_input", "not_scored"]
    assert "has markers but no clinical" in entries[1]["note"][0]["text"]
    assert "no CA-125 markers for this patient" in entries[2]["note"][0]["text"]
    assert entries[0]["prediction"][0]["probabilityDecimal"] == pytest.approx(table[a]["probability"], abs=1e-6)


def test_a_value_above_the_measuring_range_makes_the_patient_invalid_not_a_missing_sample():
    """A pretreatment '>5000' was skipped, so an earlier, lower sample (100 on day -10) became
    the GCIG baseline: 'no response' and, scored, 'not resectable' (p 0.37) where the series
    with the sample is a PR. The sample is kept as written; the markers reader refuses it as
    in a file, and the one-patient request (REST, the page's FHIR input) names it."""
    from ca125kinetics import gcig_cohort, read_markers
    from ca125kinetics.sources.fhir import score_request_from_fhir

    above = _obs(oid="above", when="2025-01-09",
                 valueQuantity={"value": 5000, "comparator": ">", "unit": "U/mL", "system": UCUM, "code": "U/mL"})
    admin = {"resourceType": "MedicationAdministration", "id": "ma", "status": "completed",
             "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                       "code": "40048"}]},
             "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2025-01-10"}
    bundle = _bundle(_obs(100.0, oid="early", when="2024-12-31"), above, _obs(180.0, oid="good", when="2025-01-31"),
                     admin)
    result = read_fhir(bundle)
    assert "Observation/above" not in set(result.skipped["source_id"])
    assert result.markers.loc[result.markers["resource_id"] == "Observation/above", "ca125"].tolist() == [">5000"]
    flagged = read_markers(result.markers, on_error="flag")
    out = gcig_cohort(flagged)
    assert out["status"].tolist() == ["invalid_input"]
    assert "'>5000' is not a number" in out["reason"].iloc[0] and "diluted result" in out["reason"].iloc[0]
    with pytest.raises(InvalidInputError, match=r"sample of 2025-01-09 \(Observation/above\) is above the "
                                                 r"measuring range \(>5000 U/mL\)"):
        score_request_from_fhir(json.dumps(bundle).encode())


def test_times_written_in_two_utc_offsets_are_named_in_a_warning():
    """A day is the day as written: one instant written 22:00-05:00 and 03:00Z gives two days.
    A patient whose times mix offsets was read without a word; it now gets a warning naming
    them (one offset, or dates alone, are quiet)."""
    from ca125kinetics.errors import DataQualityWarning

    mixed = _bundle(_obs(oid="a", when="2025-01-01T22:00:00-05:00"), _obs(oid="b", when="2025-01-22T03:00:00Z"),
                    _obs(oid="c", when="2025-02-12"))
    with pytest.warns(DataQualityWarning, match=r"1 patient\(s\) have times written in more than one UTC offset "
                                                r"\(p1: \+00:00, -05:00\)"):
        read_fhir(mixed)
    one = _bundle(_obs(oid="a", when="2025-01-01T22:00:00-05:00"), _obs(oid="b", when="2025-01-22T08:00:00-05:00"),
                  _obs(oid="c", when="2025-02-12"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataQualityWarning)
        read_fhir(one)


def test_a_bundles_note_is_in_the_scored_patients_warnings(tmp_path):
    """A bundle's times written in two UTC offsets: ``predict`` and ``predict_cohort`` of the
    ``.json`` file said it in the reader's Python warning only (the web API's answer said it);
    it is now among the scored patient's warnings, once, beside the others."""
    from ca125kinetics.errors import DataQualityWarning
    from ca125kinetics.predict import predict_cohort

    mixed = _bundle(_obs(400.0, oid="a", when="2025-01-01T22:00:00-05:00"), _ma("m1", "2025-01-03"),
                    _obs(150.0, oid="b", when="2025-01-24T03:00:00Z"), _obs(100.0, oid="c", when="2025-02-14"),
                    _obs(20.0, oid="d", when="2025-03-07"), _obs(300.0, pid="p2", oid="e", when="2025-01-01"))
    path = write_fhir(mixed, tmp_path / "mixed.json")
    note = "times written in more than one UTC offset (+00:00, -05:00): each day is the day as written"
    with pytest.warns(DataQualityWarning, match="more than one UTC offset"):
        cohort = predict_cohort(path).set_index("patient_id")["warnings"]
    assert sum(w.startswith(note) for w in cohort["p1"].split("; ")) == 1
    assert "UTC offset" not in cohort["p2"]
    with pytest.warns(DataQualityWarning, match="more than one UTC offset"):
        one = predict(write_fhir(_bundle(*[e["resource"] for e in mixed["entry"][:5]]), tmp_path / "one.json"))
    assert sum(w.startswith(note) for w in one.warnings) == 1
    assert tuple(w for w in cohort["p1"].split("; ")) == one.warnings


def _surgery_bundle():
    """One patient with a laparotomy (SNOMED 387713003 'surgical procedure', no default event
    code) between a PR's fall and its confirmation, and a rise after it (the operation's)."""
    proc = {"resourceType": "Procedure", "id": "lap", "status": "completed",
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "387713003"}]},
            "subject": {"reference": "Patient/p1"}, "performedDateTime": "2025-02-05"}
    samples = [_obs(400.0, oid="o1", when="2025-01-02"), _obs(150.0, oid="o2", when="2025-01-23"),
               _obs(240.0, oid="o3", when="2025-02-13"), _obs(100.0, oid="o4", when="2025-03-06")]
    return _bundle(*samples, _ma("ma", "2025-01-05"), proc)


def test_a_sites_surgery_code_is_an_exclusion_event_on_every_reader(tmp_path, capsys):
    """Surgery opens a GCIG exclusion window, but no default SNOMED code names it (it is coded
    in too many ways): a site's code is given with event_codes / --event-code. Without it the
    procedure is skipped, with a reason naming the option."""
    from ca125kinetics.cli import build_parser, event_codes_option, main
    from ca125kinetics.sources.fhir import score_request_from_fhir

    bundle = _surgery_bundle()
    plain = read_fhir(bundle)
    assert plain.markers["event"].isna().all()
    assert "--event-code 387713003=surgery" in _reasons(plain)["Procedure/lap"]
    site = read_fhir(bundle, event_codes={"387713003": " Surgery "})      # read as the event column reads it
    assert site.markers["event"].tolist() == [None] * 4 + ["surgery"]
    path = tmp_path / "surgery.json"
    path.write_text(json.dumps(bundle))
    markers = read_markers(path, event_codes={"387713003": "surgery"})
    assert markers.loc[markers["event"].notna(), ["day", "event"]].values.tolist() == [[31, "surgery"]]
    # the rise of day 39 lies in the surgery's 28-day window: the GCIG rules set it aside, and
    # the fall of day 18 is confirmed on day 60; read without the event, the rise breaks it
    assert main(["gcig", str(path), "--event-code", "387713003=surgery", "--format", "csv"]) == 0
    row = pd.read_csv(io.StringIO(capsys.readouterr().out)).iloc[0]
    assert (row["status"], row["category"], row["n_excluded"]) == ("response", "PR", 1)
    assert "set aside by the exclusion windows" in row["reason"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["gcig", str(path), "--format", "csv"]) == 0
    plain_row = pd.read_csv(io.StringIO(capsys.readouterr().out)).iloc[0]
    assert plain_row["status"] != "response" and plain_row["n_excluded"] == 0
    request, skipped, _ = score_request_from_fhir(json.dumps(bundle).encode(), event_codes={"387713003": "surgery"})
    assert skipped == 0 and [(e["date"], e["event"]) for e in request["samples"] if e["event"]] == [
        ("2025-02-05", "surgery")]
    args = build_parser().parse_args(["serve", "--event-code", "387713003=surgery"])
    assert event_codes_option(args) == {"387713003": "surgery"}


@pytest.mark.parametrize("codes, fragment", [
    ({"387713003": "laparotomy"}, "not an event kind of the GCIG rules"),
    ({"61515000": "surgery"}, "SNOMED CT 61515000 is paracentesis, not 'surgery'"),
    ({"SCT387713003": "surgery"}, "is not a SNOMED CT code"),
    ({"387713003": ""}, "needs an event kind as text"),
    ("387713003=surgery", "must map SNOMED CT codes to event kinds"),
])
def test_bad_event_codes_are_refused(codes, fragment):
    with pytest.raises(InvalidInputError, match=re.escape(fragment)):
        read_fhir(_surgery_bundle(), event_codes=codes)


def test_event_codes_with_a_table_are_refused(tmp_path, capsys):
    from ca125kinetics.cli import main
    from ca125kinetics.eligibility import screen

    path = tmp_path / "m.csv"
    pd.DataFrame({"patient_id": ["p1", "p1"], "day": [0, 21], "ca125": [100.0, 50.0]}).to_csv(path, index=False)
    with pytest.raises(InvalidInputError, match="leave the event codes out"):
        read_markers(path, event_codes={"387713003": "surgery"})
    assert main(["score", "--markers", str(path), "--event-code", "387713003=surgery"]) == 2
    assert "leave the event codes out" in capsys.readouterr().err
    assert main(["gcig", str(path), "--event-code", "387713003"]) == 2
    assert "give SNOMED=KIND, e.g. 387713003=surgery" in capsys.readouterr().err
    clinical = tmp_path / "c.csv"
    pd.DataFrame({"patient_id": ["p1"]}).to_csv(clinical, index=False)
    with pytest.raises(InvalidInputError, match=r"event_codes \(--event-code\) are read from a FHIR bundle"):
        screen(clinical, read_options={"event_codes": {"387713003": "surgery"}})


def test_a_setting_ulns_is_not_read_into_a_bundle_only_a_stated_one(tmp_path, capsys):
    """The commands passed their setting's ULN (--uln's default 35, the model's, CEA's 5) to
    the bundle reader as if it were stated: a range given only as text ('< 30 U/mL'), which
    extract and read_fhir refuse, was read as 35 and a response confirmed at 32 U/mL that
    the laboratory's 30 does not confirm; CEA without a range was read with 5. Now only
    --uln (uln= in Python) is read into a bundle; a setting is for tables."""
    from ca125kinetics import predict_cohort
    from ca125kinetics.cli import main

    admin = {"resourceType": "MedicationAdministration", "id": "a1", "status": "completed",
             "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                       "code": "40048"}]},
             "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2024-01-10"}
    text_range = [{"text": "< 30 U/mL"}]
    samples = [_obs(v, oid=f"o{i}", when=w, referenceRange=text_range)
               for i, (v, w) in enumerate([(500, "2024-01-05"), (100, "2024-02-01"), (20, "2024-03-01"),
                                           (32, "2024-03-29"), (31, "2024-04-04")])]
    path = write_fhir(_bundle(admin, *samples), tmp_path / "text_range.json")
    for argv in (["gcig", str(path)], ["score", "--markers", str(path)]):
        assert main(argv) == 2, argv
        assert "referenceRange '< 30 U/mL' has no high value" in capsys.readouterr().err
    with pytest.raises(NoMarkerDataError, match="has no high value"):
        predict_cohort(path)
    assert main(["gcig", str(path), "--uln", "30", "--format", "csv"]) == 0      # stated: read with 30
    assert capsys.readouterr().out.splitlines()[1].startswith("p1,30.0,5,")
    cea = [_obs(v, oid=f"c{i}", loinc="2039-6", unit="ng/mL", when=w, referenceRange=[])
           for i, (v, w) in enumerate([(50, "2024-01-05"), (20, "2024-02-01"), (8, "2024-03-01")])]
    cea_path = write_fhir(_bundle(admin, *cea), tmp_path / "cea.json")
    assert main(["kinetics", str(cea_path), "--marker", "cea", "--method", "per-patient"]) == 2
    assert "no referenceRange.high and no uln given" in capsys.readouterr().err
    assert main(["kinetics", str(cea_path), "--marker", "cea", "--method", "per-patient", "--uln", "5"]) == 0


def test_the_api_keeps_each_samples_assay_from_a_bundle():
    """score_request_from_fhir (POST /api/score with a bundle, and /api/fhir/samples, whose
    samples the page sends back) dropped each sample's assay (its method): an assay change
    after the baseline, which makes predict's GCIG response not evaluable, was scored as a
    confirmed response and the patient resectable."""
    from fastapi.testclient import TestClient

    from ca125kinetics.web.app import create_app

    def obs(value, oid, when, assay):
        return _obs(value, oid=oid, when=when, method={"text": assay})

    dose = {"resourceType": "MedicationAdministration", "id": "ma", "status": "completed",
            "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                      "code": "40048"}]},
            "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2025-01-04"}
    bundle = _bundle(obs(400, "a", "2025-01-01", "Elecsys"), obs(180, "b", "2025-01-25", "Architect"),
                     obs(95, "c", "2025-02-15", "Architect"), obs(40, "d", "2025-03-08", "Architect"), dose)
    client = TestClient(create_app())
    fhir = {"content-type": "application/fhir+json"}
    loaded = client.post("/api/fhir/samples", content=json.dumps(bundle), headers=fhir).json()
    assert [s.get("assay") for s in loaded["samples"]] == ["Elecsys", "Architect", "Architect", "Architect"]
    scored = client.post("/api/score", content=json.dumps(bundle), headers=fhir).json()
    assert scored["gcig"]["status"] == "not_evaluable" and "assay changed" in scored["gcig"]["reason"]
    sent = client.post("/api/score", json={"treatment_start": loaded["treatment_start"], "uln": loaded["uln"],
                                           "samples": [{k: v for k, v in s.items() if v is not None}
                                                       for s in loaded["samples"]]}).json()
    assert sent["gcig"]["status"] == "not_evaluable"


def test_modifier_elements_are_not_read_past():
    """A MedicationRequest with doNotPerform (an instruction NOT to give carboplatin), one of
    intent 'proposal', and an Observation with a modifierExtension were read as if those
    elements were absent: the refused order became day 0 (R4 modifier elements)."""
    def request(rid, **extra):
        return {"resourceType": "MedicationRequest", "id": rid, "status": "active", "intent": "order",
                "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                          "code": "40048"}]},
                "subject": {"reference": "Patient/p1"},
                "dosageInstruction": [{"timing": {"repeat": {"boundsPeriod": {"start": "2025-01-10"}}}}], **extra}

    modified = _obs(70.0, oid="o2", when="2025-02-01",
                    modifierExtension=[{"url": "http://example.org/not-a-patient-sample", "valueBoolean": True}])
    result = read_fhir(_bundle(_obs(oid="o1"), modified, request("no", doNotPerform=True),
                               request("maybe", intent="proposal")))
    reasons = dict(zip(result.skipped["source_id"], result.skipped["reason"]))
    assert reasons["MedicationRequest/no"].startswith("doNotPerform")
    assert reasons["MedicationRequest/maybe"].startswith("intent 'proposal'")
    assert "modifierExtension (http://example.org/not-a-patient-sample)" in reasons["Observation/o2"]
    assert result.markers["resource_id"].tolist() == ["Observation/o1"]
    assert "p1" not in set(result.treatment_starts["patient_id"])      # no day 0 from a refused or proposed order
    ordered = read_fhir(_bundle(_obs(oid="o1"), request("yes")))
    assert ordered.treatment_starts["treatment_start"].tolist() == ["2025-01-10"]


def test_an_unresolved_medication_reference_is_named_as_such():
    """A dose whose Medication is not in the bundle (Patient/$everything leaves Medications
    out) was skipped as 'not a drug of the line': the drug is unknown, not another drug."""
    admin = {"resourceType": "MedicationAdministration", "id": "ma", "status": "completed",
             "medicationReference": {"reference": "Medication/m1"},
             "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2025-01-10"}
    reasons = dict(zip(*(lambda r: (r.skipped["source_id"], r.skipped["reason"]))(read_fhir(_bundle(_obs(), admin)))))
    assert reasons["MedicationAdministration/ma"].startswith(
        "medicationReference 'Medication/m1' is not in the bundle (nor contained): which drug was given is unknown")


def test_a_stopped_first_dose_is_the_treatment_start():
    """R4's ``stopped``: the administration began and was halted (a reaction during the first
    infusion), so the line began that day. It was skipped, and the next cycle's dose, 21 days
    later, silently became day 0."""
    stopped = {**_ma("c1", "2025-01-05T10:00:00+01:00"), "status": "stopped"}
    result = read_fhir(_bundle(_obs(when="2025-01-01"), stopped, _ma("c2", "2025-01-26T10:00:00+01:00")))
    assert result.treatment_starts[["treatment_start", "source"]].values.tolist() == [
        ["2025-01-05", "MedicationAdministration/c1"]]


@pytest.mark.parametrize("status", ["not-done", "entered-in-error"])
def test_an_administration_not_given_is_no_dose(status):
    result = read_fhir(_bundle(_obs(when="2025-01-01"), {**_ma("c1", "2025-01-05"), "status": status},
                               _ma("c2", "2025-01-26")))
    assert result.treatment_starts["treatment_start"].tolist() == ["2025-01-26"]
    assert f"status {status!r}" in _reasons(result)["MedicationAdministration/c1"]


@pytest.mark.parametrize("status", ["on-hold", "unknown"])
def test_an_administration_of_unknown_status_before_the_first_dose_gives_no_treatment_start(status):
    """``unknown`` (and ``on-hold``, halted perhaps before it began) leaves open whether the
    first cycle was given; the next cycle's dose, 21 days later, silently became day 0. One on or
    after the first dose read does not move it."""
    before = read_fhir(_bundle(_obs(when="2025-01-01"), {**_ma("c1", "2025-01-05"), "status": status},
                               _ma("c2", "2025-01-26")))
    assert before.treatment_starts.empty
    assert "day 0 is ambiguous" in before.skipped.loc[before.skipped["reason"].str.contains(status), "reason"].iloc[-1]
    with pytest.raises(InvalidInputError):
        read_markers(before.markers)
    after = read_fhir(_bundle(_obs(when="2025-01-01"), _ma("c1", "2025-01-05"),
                              {**_ma("c2", "2025-01-26"), "status": status}))
    assert after.treatment_starts["treatment_start"].tolist() == ["2025-01-05"]
    given = read_fhir(_bundle(_obs(when="2025-01-01"), {**_ma("c1", "2025-01-05"), "status": status},
                              _ma("c2", "2025-01-26")), treatment_start={"p1": "2025-01-05"})
    assert given.treatment_starts["source"].tolist() == ["given"]


@pytest.mark.parametrize("written, where", [("2025-01", "before the first dose read (2025-01-26"),
                                            ("2025", "before the first dose read"),
                                            ("2025-06", "a dose of another line (more than 90 days after")])
def test_a_dose_dated_to_a_month_or_a_year_gives_no_treatment_start(written, where):
    """A first cycle recorded as ``2025-01`` (a partial FHIR date) was skipped, and the next
    cycle's dose, on 26 January, silently became day 0; one recorded in a month of another line
    left the two lines unseen. The day is never guessed: no start, a skipped row saying why."""
    result = read_fhir(_bundle(_obs(when="2025-01-01"), _ma("c1", written), _ma("c2", "2025-01-26"),
                               _ma("c3", "2025-02-16")))
    assert result.treatment_starts.empty
    reasons = result.skipped.loc[result.skipped["source_id"] == "MedicationAdministration/c1", "reason"].tolist()
    assert any(f"a dose dated {written!r}" in r and where in r and "day 0 is ambiguous" in r for r in reasons)
    with pytest.raises(InvalidInputError):
        read_markers(result.markers)
    # within the line's days it moves nothing; a date given wins
    within = read_fhir(_bundle(_obs(when="2025-01-01"), _ma("c1", "2025-01-26"), _ma("c2", "2025-02"),
                               _ma("c3", "2025-02-16")))
    assert within.treatment_starts["treatment_start"].tolist() == ["2025-01-26"]
    given = read_fhir(_bundle(_obs(when="2025-01-01"), _ma("c1", written), _ma("c2", "2025-01-26")),
                      treatment_start={"p1": "2025-01-05"})
    assert given.treatment_starts["source"].tolist() == ["given"]


def test_a_dose_with_only_the_end_of_its_period_gives_no_treatment_start():
    """R4 allows an ``effectivePeriod`` with an ``end`` alone: the first cycle so recorded was
    skipped ("no effectivePeriod.start") and the next cycle's dose silently became day 0."""
    first = {**_ma("c1", None), "effectivePeriod": {"end": "2025-01-05T14:00:00+01:00"}}
    del first["effectiveDateTime"]
    result = read_fhir(_bundle(_obs(when="2025-01-01"), first, _ma("c2", "2025-01-26")))
    assert result.treatment_starts.empty
    reasons = result.skipped.loc[result.skipped["source_id"] == "MedicationAdministration/c1", "reason"].tolist()
    assert any("a dose with effectivePeriod.end '2025-01-05T14:00:00+01:00' alone" in r
               and "before the first dose read (2025-01-26" in r for r in reasons)


@pytest.mark.parametrize("status", ["in-progress", "stopped"])
def test_a_begun_paracentesis_is_an_event(status):
    """R4's ``stopped`` (begun, then halted) and ``in-progress`` procedures were begun; they were
    skipped as not completed, and the samples of their exclusion window were read as valid."""
    procedure = {"resourceType": "Procedure", "id": "pr", "status": status, "subject": {"reference": "Patient/p1"},
                 "code": {"coding": [{"system": "http://snomed.info/sct", "code": "61515000"}]},
                 "performedDateTime": "2025-01-12"}
    result = read_fhir(_bundle(_obs(), _ma("c1", "2025-01-12"), procedure))
    assert result.markers["event"].tolist() == [None, "paracentesis"]
