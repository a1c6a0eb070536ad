"""Tests of the eligibility gate (ca125kinetics.eligibility) and the RESCUE / RESET criteria files.

Boundaries come from the registry entries as restated in the criteria files: RESCUE
(NCT07295132) PFI >= 6 months, age >= 19, RECIST CR/PR/SD or a GCIG CA-125 response; RESET
(NCT07038122) age 18-80 in completed years, cT3-4 N+ M0, restaged ycT<=3 N0 M0, the MMR path
matching the neoadjuvant therapy, ASA >= IV and/or ECOG >= 2 excluding.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ca125kinetics
from ca125kinetics.cli import main
from ca125kinetics.eligibility import (
    CRITERIA_COLUMNS,
    FRAME_COLUMNS,
    STATUSES,
    _screen_patient,
    available_trials,
    criterion_values,
    entry_criterion,
    load_trial,
    screen,
)
from ca125kinetics.errors import InvalidInputError
from ca125kinetics.gcig import RESPONSE_STATUSES, gcig_cohort
from ca125kinetics.io import CLINICAL_CATEGORIES, CLINICAL_NUMBERS, read_clinical, read_markers

COHORT = Path(__file__).resolve().parents[1] / "data" / "synthetic" / "default"

RESCUE_FLAGS = {  # exclusion criterion -> the flag that triggers it
    "E4": "second_malignancy", "E5": "platinum_refractory", "E6": "palliative_surgery_only",
    "E7": "unresectable_on_imaging", "E8": "comorbidity_precludes_treatment",
    "E9": "high_risk_surgical_history", "E10": "surgical_risk_medication",
}
RESET_FLAGS = {
    "E1": "history_colorectal_cancer", "E2": "emergency_surgery", "E3": "adjacent_organ_invasion",
    "E4": "multifocal_primary", "E5": "other_active_malignancy", "E6": "recent_trial",
    "E8": "organ_dysfunction", "E9": "psychiatric_disorder", "E10": "pregnant_or_lactating",
    "E11": "uncontrolled_infection", "E12": "investigator_unsuitable",
}


def rescue_patient(**changes) -> dict:
    """A patient who meets every RESCUE criterion (RECIST PR), with ``changes`` applied."""
    row = {"patient_id": "p1", "age": 60, "ecog": 0, "pfi_months": 12.0, "recist": "PR",
           "recurrence_number": 1, "tumour_site": "ovary", "histology": "high_grade_serous",
           "surgeon_r0_judgement": 1, "consent": 1, "archived_tissue": 1, **{f: 0 for f in RESCUE_FLAGS.values()}}
    row.update(changes)
    return row


def reset_patient(**changes) -> dict:
    """A pMMR/MSS patient after chemotherapy who meets every RESET criterion."""
    row = {"patient_id": "r1", "age": 55, "ecog": 0, "asa": 2, "histology": "adenocarcinoma",
           "tumour_site": "upper_rectum", "above_peritoneal_reflection": 1, "ct_stage": "T3",
           "cn_stage": "N1", "cm_stage": "M0", "mmr_status": "pMMR", "mmr_proteins_lost": 0, "msi_status": "MSS",
           "neoadjuvant_regimen": "chemotherapy", "yct_stage": "T2", "ycn_stage": "N0", "ycm_stage": "M0",
           "bowel_obstruction": "none", "prior_colorectal_surgery": 0, "prior_chemoradiotherapy": 0,
           "prior_systemic_agents": 0, "consent": 1, **{f: 0 for f in RESET_FLAGS.values()}}
    row.update(changes)
    return row


def one(row: dict, trial="rescue", markers=None):
    """Screen a single patient given as a dict; None values become empty cells."""
    result = screen(pd.DataFrame([row]), markers, trial=trial)
    assert len(result.patients) == 1
    return result.patients[0]


def outcome(patient, criterion: str):
    return next(c for c in patient.criteria if c.criterion == criterion)


# GCIG series (clinical rules, worked reading; ULN 35 U/mL)
RESPONSE = [(0, 400), (21, 180), (42, 195), (63, 150)]          # confirmed PR on day 63
NO_RESPONSE = [(0, 400), (21, 300), (42, 280), (63, 260)]       # never <= 50 %
NOT_EVALUABLE = [(-3, 59), (21, 20), (42, 18), (63, 15)]        # baseline 59 < 2 x ULN
UNCONFIRMED = [(0, 400), (21, 180)]                              # fall, no sample >= 28 days later
AWAITING = [(-3, 300), (0, 400)]                                 # evaluable baseline, nothing after day 0


def markers_of(series, pid="p1") -> pd.DataFrame:
    return pd.DataFrame({"patient_id": pid, "day": [d for d, _ in series], "ca125": [v for _, v in series]})


# ============================================================================ RESCUE


def test_rescue_patient_meeting_every_criterion_is_eligible():
    p = one(rescue_patient())
    assert p.status == "eligible"
    assert all(c.verdict == "pass" for c in p.criteria)
    assert [c.criterion for c in p.criteria] == [c.id for c in load_trial("rescue").criteria]
    assert p.admitted_by == "I3: RECIST 1.1 CR/PR/SD"
    assert p.missing == () and p.failed == ()


def test_only_an_eligible_patient_is_admitted_by_a_clause():
    # the spec records which clause of inclusion 3 admitted the patient: no one admits an
    # ineligible or undetermined one; the clause the criterion passed by stays in its row
    for change, status in (({"pfi_months": 5.99}, "ineligible"), ({"consent": None}, "undetermined")):
        p = one(rescue_patient(**change))
        assert p.status == status and p.admitted_by is None
        assert next(c for c in p.criteria if c.criterion == "I3").clause == "RECIST 1.1 CR/PR/SD"


@pytest.mark.parametrize(("pfi", "status"), [(6.0, "eligible"), (6, "eligible"), (5.99, "ineligible"),
                                             (5.0, "ineligible"), (60.0, "eligible")])
def test_pfi_boundary_six_months(pfi, status):
    p = one(rescue_patient(pfi_months=pfi))
    assert p.status == status
    assert outcome(p, "I2").outcome == ("met" if status == "eligible" else "not_met")
    if status == "ineligible":
        assert p.failed == ("I2",)
        assert "pfi_months 5" in outcome(p, "I2").reason and "is not >= 6" in outcome(p, "I2").reason


@pytest.mark.parametrize(("age", "status"), [(19, "eligible"), (19.0, "eligible"), (18.99, "ineligible"),
                                             (18, "ineligible"), (90, "eligible")])
def test_age_boundary_19(age, status):
    p = one(rescue_patient(age=age))
    assert p.status == status
    assert outcome(p, "I4").verdict == ("pass" if status == "eligible" else "fail")


@pytest.mark.parametrize(("recist", "status"), [("CR", "eligible"), ("PR", "eligible"), ("SD", "eligible"),
                                                ("sd", "eligible")])
def test_recist_cr_pr_sd_admit_without_markers(recist, status):
    p = one(rescue_patient(recist=recist))
    assert p.status == status
    assert outcome(p, "I3").clause == "RECIST 1.1 CR/PR/SD"


def test_recist_pd_without_markers_is_undetermined_naming_the_gcig_response():
    p = one(rescue_patient(recist="PD"))
    assert p.status == "undetermined"
    assert p.missing == ("gcig_response",)
    assert "no markers table given" in p.reason
    assert outcome(p, "I3").outcome == "missing"


@pytest.mark.parametrize(("series", "status", "gcig"), [
    (RESPONSE, "eligible", "response"),
    (NO_RESPONSE, "ineligible", "no_response"),
    (NOT_EVALUABLE, "ineligible", "not_evaluable"),
    (UNCONFIRMED, "undetermined", "unconfirmed"),
    (AWAITING, "undetermined", "awaiting"),
])
def test_recist_pd_decided_by_the_gcig_response(series, status, gcig):
    markers = markers_of(series)
    assert gcig_cohort(read_markers(markers))["status"].iloc[0] == gcig  # the package's own rules
    p = one(rescue_patient(recist="PD"), markers=markers)
    assert p.status == status
    i3 = outcome(p, "I3")
    if status == "eligible":
        assert i3.clause == "GCIG CA-125 response" and p.admitted_by == "I3: GCIG CA-125 response"
    elif status == "ineligible":
        assert p.failed == ("I3",)
        assert "recist is PD, not one of [CR, PR, SD]" in i3.reason and f"gcig_response is {gcig}" in i3.reason
    else:
        assert p.missing == ("gcig_response",) and f"GCIG {gcig}" in p.reason


def test_recist_pd_with_every_on_treatment_sample_excluded_is_undetermined_naming_what_is_missing():
    """A RECIST PD patient enters RESCUE only by a GCIG response: without any usable CA-125
    after the first dose (here every one drawn within 28 days of a paracentesis) the screen
    cannot tell, so the patient is undetermined, never ineligible on a guess."""
    markers = pd.DataFrame({"patient_id": "p1", "day": [0, 14, 21, 35], "ca125": [400.0, np.nan, 150.0, 100.0],
                            "event": [None, "paracentesis", None, None]})
    p = one(rescue_patient(recist="PD"), markers=markers)
    assert p.status == "undetermined" and p.failed == () and p.missing == ("gcig_response",)
    assert ("GCIG awaiting: GCIG response not yet assessable: no CA-125 sample after the first dose (day > 0) "
            "yet" in p.reason)
    assert "day 21 (drawn 7 days after paracentesis on day 14" in p.reason
    assert outcome(p, "I3").outcome == "missing"


def test_sd_with_gcig_response_names_both_alternatives():
    p = one(rescue_patient(recist="SD"), markers=markers_of(RESPONSE))
    assert p.status == "eligible"
    assert p.admitted_by == "I3: RECIST 1.1 CR/PR/SD; GCIG CA-125 response"


def test_missing_recist_with_gcig_response_is_eligible_by_gcig():
    p = one(rescue_patient(recist=None), markers=markers_of(RESPONSE))
    assert p.status == "eligible" and p.admitted_by == "I3: GCIG CA-125 response"


def test_invalid_markers_leave_the_gcig_clause_open_with_the_reason():
    markers = markers_of([(0, 400), (21, 180), (21, 170), (63, 150)])  # two samples on day 21
    p = one(rescue_patient(recist="PD"), markers=markers)
    assert p.status == "undetermined"
    assert "GCIG invalid_input" in p.reason and "day 21" in p.reason


def test_invalid_markers_are_said_when_recist_admits_the_patient():
    """RECIST PR admits without the markers: their refusal (two samples on one day) had been
    said nowhere, so a coordinator never learnt that the markers file needed correcting."""
    markers = markers_of([(0, 400), (21, 180), (21, 170), (63, 150)])
    p = one(rescue_patient(recist="PR"), markers=markers)
    assert p.status == "eligible" and "markers were refused" in p.reason and "day 21" in p.reason
    assert "refused" not in one(rescue_patient(recist="PR"), markers=markers_of(RESPONSE)).reason


@pytest.mark.parametrize(("criterion", "flag"), sorted(RESCUE_FLAGS.items()))
def test_each_rescue_exclusion_flag(criterion, flag):
    p = one(rescue_patient(**{flag: 1}))
    assert p.status == "ineligible" and p.failed == (criterion,)
    assert outcome(p, criterion).outcome == "met" and f"{flag} is 1" in p.reason
    assert one(rescue_patient(**{flag: None})).status == "undetermined"


@pytest.mark.parametrize(("changes", "failed"), [
    ({"recurrence_number": 0}, ("I1", "E1")),
    ({"recurrence_number": 2}, ("I1", "E3")),
    ({"recurrence_number": 3}, ("I1", "E3")),
    ({"histology": "borderline"}, ("I1", "E2")),
    ({"histology": "non_epithelial"}, ("I1", "E2")),
    ({"histology": "adenocarcinoma"}, ("I1",)),
    ({"tumour_site": "colon", "histology": "adenocarcinoma"}, ("I1",)),   # (high_grade_serous there is refused)
    ({"surgeon_r0_judgement": 0}, ("I5",)),
    ({"consent": 0}, ("I6",)),
    ({"archived_tissue": 0}, ("E11",)),
])
def test_rescue_failures_name_their_criteria(changes, failed):
    p = one(rescue_patient(**changes))
    assert p.status == "ineligible" and p.failed == failed


@pytest.mark.parametrize("histology", ["high_grade_serous", "low_grade_serous", "endometrioid", "clear_cell",
                                       "mucinous", "mixed_epithelial", "other_epithelial"])
def test_every_epithelial_histology_admits(histology):
    assert one(rescue_patient(histology=histology)).status == "eligible"


def test_missing_field_gives_undetermined_naming_it_and_a_failure_still_wins():
    p = one(rescue_patient(consent=None))
    assert p.status == "undetermined" and p.missing == ("consent",)
    assert outcome(p, "I6").outcome == "missing" and outcome(p, "I6").missing == ("consent",)
    assert p.reason.startswith("missing consent (needed by I6)")
    p = one(rescue_patient(consent=None, age=18))
    assert p.status == "ineligible" and p.failed == ("I4",) and p.missing == ("consent",)


def test_column_absent_from_the_table_is_missing_for_everyone():
    row = rescue_patient()
    del row["archived_tissue"]
    result = screen(pd.DataFrame([row, {**row, "patient_id": "p2", "age": 18}]))
    assert result.absent_columns == ("archived_tissue",)
    assert [p.status for p in result.patients] == ["undetermined", "ineligible"]
    assert "archived_tissue" in result.patients[0].missing


# ============================================================================ RESET


@pytest.mark.parametrize(("age", "status"), [(18, "eligible"), (18.0, "eligible"), (80, "eligible"),
                                             (80.9, "eligible"), (17, "ineligible"), (17.99, "ineligible"),
                                             (81, "ineligible"), (81.2, "ineligible")])
def test_reset_age_18_to_80_inclusive(age, status):
    p = one(reset_patient(age=age), "reset")
    assert p.status == status
    if status == "ineligible":
        assert p.failed == ("I1",)


@pytest.mark.parametrize(("yct", "status"), [("T0", "eligible"), ("Tis", "eligible"), ("T2", "eligible"),
                                             ("T3", "eligible"), ("ycT3", "eligible"), ("T4", "ineligible"),
                                             ("T4a", "ineligible"), ("ycT4b", "ineligible")])
def test_reset_restaging_yct3_vs_yct4(yct, status):
    p = one(reset_patient(yct_stage=yct), "reset")
    assert p.status == status
    if status == "ineligible":
        assert p.failed == ("I6",)


@pytest.mark.parametrize(("ycn", "ycm", "status"), [("N0", "M0", "eligible"), ("N1", "M0", "ineligible"),
                                                    ("N2b", "M0", "ineligible"), ("N0", "M1", "ineligible"),
                                                    ("N0", None, "undetermined")])
def test_reset_restaging_n0_vs_node_positive_and_m(ycn, ycm, status):
    p = one(reset_patient(ycn_stage=ycn, ycm_stage=ycm), "reset")
    assert p.status == status


@pytest.mark.parametrize(("changes", "status"), [
    ({"ct_stage": "T3", "cn_stage": "N1"}, "eligible"),
    ({"ct_stage": "cT4b", "cn_stage": "cN2a"}, "eligible"),
    ({"ct_stage": "T2", "cn_stage": "N1"}, "ineligible"),
    ({"ct_stage": "T3", "cn_stage": "N0"}, "ineligible"),
    ({"cm_stage": "M1a"}, "ineligible"),
])
def test_reset_baseline_ct3_4_node_positive_m0(changes, status):
    p = one(reset_patient(**changes), "reset")
    assert p.status == status
    if status == "ineligible":
        assert p.failed == ("I4",)


@pytest.mark.parametrize(("mmr", "lost", "msi", "regimen", "status", "clause"), [
    ("pMMR", 0, "MSS", "chemotherapy", "eligible", "pMMR/MSS after chemotherapy or TNT"),
    ("pMMR", 0, None, "tnt", "eligible", "pMMR/MSS after chemotherapy or TNT"),
    (None, None, "MSS", "chemotherapy", "eligible", "pMMR/MSS after chemotherapy or TNT"),
    ("dMMR", 2, "MSI-H", "immunotherapy", "eligible", "dMMR/MSI-H after immunotherapy"),
    ("dMMR", 3, None, "immunotherapy", "eligible", "dMMR/MSI-H after immunotherapy"),
    (None, None, "MSI-H", "immunotherapy", "eligible", "dMMR/MSI-H after immunotherapy"),
    # the mismatched paths
    ("pMMR", 0, "MSS", "immunotherapy", "ineligible", None),
    ("dMMR", 2, "MSI-H", "chemotherapy", "ineligible", None),
    ("dMMR", 4, "MSI-H", "tnt", "ineligible", None),
    ("pMMR", 0, "MSS", "chemoradiotherapy", "ineligible", None),
    # loss of one protein is not the registry's dMMR (two or more)
    ("dMMR", 1, "MSS", "immunotherapy", "ineligible", None),
    ("dMMR", 1, "MSS", "chemotherapy", "eligible", "pMMR/MSS after chemotherapy or TNT"),
    # unknown: pMMR by IHC but MSI unknown after immunotherapy (MSI-H would open the other path)
    ("pMMR", 0, None, "immunotherapy", "undetermined", None),
    ("pMMR", 0, "MSS", None, "undetermined", None),
])
def test_reset_mmr_paths(mmr, lost, msi, regimen, status, clause):
    p = one(reset_patient(mmr_status=mmr, mmr_proteins_lost=lost, msi_status=msi, neoadjuvant_regimen=regimen),
            "reset")
    assert p.status == status, p.reason
    i5 = outcome(p, "I5")
    assert i5.clause == clause
    if status == "ineligible":
        assert p.failed == ("I5",) and "none of the alternatives" in i5.reason
    if clause:
        assert p.admitted_by == f"I5: {clause}"


@pytest.mark.parametrize(("asa", "ecog", "status"), [(3, 1, "eligible"), (4, 0, "ineligible"), (5, 1, "ineligible"),
                                                     (1, 2, "ineligible"), (None, 2, "ineligible"),
                                                     (4, None, "ineligible"), (None, 1, "undetermined"),
                                                     (3, None, "undetermined")])
def test_reset_asa_iv_or_ecog_2(asa, ecog, status):
    p = one(reset_patient(asa=asa, ecog=ecog), "reset")
    assert p.status == status
    if status == "ineligible":
        assert p.failed == ("E7",)


@pytest.mark.parametrize(("criterion", "flag"), sorted(RESET_FLAGS.items()))
def test_each_reset_exclusion_flag(criterion, flag):
    p = one(reset_patient(**{flag: 1}), "reset")
    assert p.status == "ineligible" and p.failed == (criterion,)


@pytest.mark.parametrize(("changes", "failed"), [
    ({"histology": "neuroendocrine"}, ("I2",)),
    ({"tumour_site": "low_rectum"}, ("I3",)),
    ({"above_peritoneal_reflection": 0}, ("I3",)),
    ({"bowel_obstruction": "unrelieved"}, ("I7",)),
    ({"prior_colorectal_surgery": 1}, ("I8",)),
    ({"prior_chemoradiotherapy": 1}, ("I9",)),
    ({"prior_systemic_agents": 1}, ("I10",)),
    ({"consent": 0}, ("I11",)),
])
def test_reset_inclusions(changes, failed):
    p = one(reset_patient(**changes), "reset")
    assert p.status == "ineligible" and p.failed == failed


@pytest.mark.parametrize("changes", [{"bowel_obstruction": "relieved_by_colostomy"}, {"tumour_site": "rectosigmoid"},
                                     {"histology": "Adenocarcinoma"}, {"msi_status": "msi-l", "mmr_status": "pmmr"}])
def test_reset_admitting_alternatives_and_spellings(changes):
    assert one(reset_patient(**changes), "reset").status == "eligible"


def test_reset_gate_never_reads_pathology():
    """ypT/ypN are outcomes: any value screens exactly as none, and a criteria file may not read them."""
    base = one(reset_patient(), "reset")
    for ypt, ypn in [("T4b", "N2"), ("T0", "N0"), (None, None)]:
        p = one(reset_patient(ypt_stage=ypt, ypn_stage=ypn), "reset")
        assert p == base
    assert "ypt_stage" not in load_trial("reset").fields


# ============================================================================ criteria files

VALID = """
[trial]
id = "t"
name = "T"

[[criterion]]
id = "I1"
kind = "inclusion"
text = "adult"
field = "age"
ge = 18
"""


def test_custom_criteria_file_is_another_trial(tmp_path):
    path = tmp_path / "adults.toml"
    path.write_text(VALID)
    trial = load_trial(path)
    assert trial.id == "t" and trial.fields == ("age",)
    result = screen(pd.DataFrame({"patient_id": ["a", "b", "c"], "age": [18, 17, None]}), trial=str(path))
    assert [p.status for p in result.patients] == ["eligible", "ineligible", "undetermined"]


def test_custom_file_reads_combined_response_and_figo_stage(tmp_path):
    """combined_response is gcig.combined_response's category (RECIST SD + confirmed CA-125
    response -> PR, Rustin 2011); figo_stage codes are normalised like the data."""
    path = tmp_path / "combined.toml"
    path.write_text(VALID.replace('field = "age"\nge = 18', 'all = [{ field = "combined_response", in = ["CR", "PR"] },'
                                  ' { field = "figo_stage", in = ["IIIC", "IV"] }]'))
    trial = load_trial(path)
    assert trial.criteria[0].rule.parts[1].value == ("III", "IV")
    clinical = pd.DataFrame({"patient_id": ["a", "b", "c"], "recist": ["SD", "SD", None],
                             "figo_stage": ["IIIC", "IIIC", "IV"]})
    markers = pd.concat([markers_of(RESPONSE, "a"), markers_of(NO_RESPONSE, "b"), markers_of(RESPONSE, "c")])
    result = screen(clinical, markers, trial=path)
    assert [p.status for p in result.patients] == ["eligible", "ineligible", "undetermined"]
    assert outcome(result.patients[0], "I1").reason.startswith("combined_response is PR (one of [CR, PR])")
    assert outcome(result.patients[1], "I1").reason.startswith("combined_response is SD, not one of [CR, PR]")
    assert result.patients[2].missing == ("combined_response",)


@pytest.mark.parametrize(("text", "needle"), [
    ("[trial\nid=", "not valid TOML"),
    (VALID.replace('field = "age"', 'field = "agee"'), "unknown field 'agee'"),
    (VALID.replace('field = "age"\nge = 18', 'field = "histology"\neq = "serous"'),
     "unknown code 'serous' for histology; use one of ['high_grade_serous'"),
    (VALID.replace('field = "age"\nge = 18', 'field = "histology"\nge = "adenocarcinoma"'),
     "histology is a category; use eq, ne, in or not_in"),
    (VALID.replace("ge = 18", 'ge = "18"'), "age is a number; ge needs a number"),
    (VALID.replace("ge = 18", "eq = [18]"), "'eq' needs one value, not a list"),
    (VALID.replace("ge = 18", "in = []"), "'in' needs a non-empty list"),
    (VALID.replace('field = "age"\nge = 18', 'field = "consent"\neq = 2'), "consent takes the values [0, 1]"),
    (VALID.replace('field = "age"\nge = 18', 'field = "complete_resection"\neq = 1'), "is an outcome"),
    (VALID.replace('field = "age"\nge = 18', 'field = "ypt_stage"\neq = "T0"'), "is an outcome"),
    (VALID.replace("ge = 18", "ge = 18\nle = 80"), "exactly one operator"),
    (VALID.replace("ge = 18", "gte = 18"), "unknown key(s) ['gte']"),
    (VALID.replace('field = "age"\nge = 18', ""), "no rule"),
    (VALID.replace('field = "age"\nge = 18', "any = []"), "'any' must be a non-empty list"),
    (VALID.replace('field = "age"', 'any = [{ field = "ecog", eq = 0 }]\nfield = "age"'), "not both"),
    (VALID.replace('kind = "inclusion"', 'kind = "inclusive"'), "kind must be 'inclusion' or 'exclusion'"),
    (VALID.replace('text = "adult"\n', ""), "needs a non-empty 'text'"),
    (VALID + VALID[VALID.index("[[criterion]]"):], "id used twice"),
    (VALID.replace('name = "T"\n', ""), "[trial] needs a non-empty text 'name'"),
    (VALID.replace("[[criterion]]", "[[criteria]]"), "unknown top-level key(s) ['criteria']"),
    (VALID.replace('field = "age"\nge = 18', 'field = "gcig_response"\neq = "responded"'),
     "unknown code 'responded' for gcig_response"),
])
def test_criteria_file_errors_are_typed_and_say_what_to_fix(tmp_path, text, needle):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(InvalidInputError) as info:
        load_trial(path)
    assert needle in str(info.value)
    assert str(path) in str(info.value) and "docs/screening.md" in str(info.value)


def test_unknown_trial_name_and_missing_file():
    with pytest.raises(InvalidInputError, match=r"unknown trial 'rescu'; use one of \['rescue', 'reset'\]"):
        load_trial("rescu")
    with pytest.raises(InvalidInputError, match="criteria file not found"):
        load_trial("no/such/file.toml")
    assert available_trials() == ("rescue", "reset")


def test_shipped_criteria_read_only_known_columns():
    for name in available_trials():
        trial = load_trial(name)
        for field in trial.fields:
            assert field in CLINICAL_NUMBERS or field in CLINICAL_CATEGORIES or field in ("gcig_response",)
        frame = trial.to_frame()
        assert list(frame.columns) == ["criterion", "kind", "text", "rule", "fields"]
        assert frame["criterion"].is_unique


# ============================================================================ data contract


def test_unknown_code_in_the_clinical_table_names_the_allowed_codes():
    with pytest.raises(InvalidInputError, match=r"unknown MSI status 'MSI-X'; use one of \['MSS', 'MSI-L', 'MSI-H'\]"):
        one(reset_patient(msi_status="MSI-X"), "reset")
    with pytest.raises(InvalidInputError, match="ypT stages belong in their own columns|cT, ypT"):
        one(reset_patient(yct_stage="ypT2"), "reset")
    with pytest.raises(InvalidInputError, match="column 'consent'"):
        one(rescue_patient(consent=3))


def test_screening_columns_are_optional_for_everything_else():
    """A table with only the original columns still reads, and the new ones are typed when present."""
    old = pd.read_csv(COHORT / "clinical.csv", dtype=str).iloc[:5, :14]
    assert "consent" not in read_clinical(old).columns
    new = read_clinical(COHORT / "clinical.csv")
    assert str(new["consent"].dtype) == "Int64"
    assert new["histology"].dropna().isin(CLINICAL_CATEGORIES["histology"].allowed).all()
    assert new["histology"].isna().sum() == 19  # the generator's empty (unknown) cells


@pytest.mark.parametrize("markers", [None, "empty"])
def test_a_clinical_table_without_rows_is_refused(markers):
    """A screen of no patients returned an empty result (summary percent NaN) instead of saying
    that the table held no patient."""
    empty = pd.DataFrame({"patient_id": pd.Series([], dtype=object), "age": pd.Series([], dtype=float)})
    given = None if markers is None else pd.DataFrame({"patient_id": ["p1"], "day": [0], "ca125": [400.0]})
    with pytest.raises(InvalidInputError, match="the clinical table has no rows"):
        screen(empty, given)


def test_a_markers_table_without_rows_is_refused_not_read_as_no_markers():
    """Markers given with no rows left every patient's GCIG clause open ('no CA-125 markers for
    this patient') as if the patients had none, where an empty export is refused."""
    markers = pd.DataFrame({"patient_id": pd.Series([], dtype=object), "day": pd.Series([], dtype="int64"),
                            "ca125": pd.Series([], dtype=float)})
    with pytest.raises(InvalidInputError, match="the markers table has no rows"):
        screen(pd.DataFrame([rescue_patient(recist="PD")]), markers)


def test_a_cohort_is_evaluated_once_per_distinct_input_of_each_criterion(monkeypatch):
    """The screen evaluated every criterion of every patient (17 x 100,000 rule evaluations for a
    registry of 100,000, 0.37 ms per patient); a criterion's result depends only on the values
    and notes of the fields it reads, so patients who share them share one evaluation. Each
    patient's result is still her own screen: a patient screened alone gives the same."""
    import ca125kinetics.eligibility as elig

    calls = []
    evaluate = elig._evaluate

    def counted(node, record, notes, top=True):
        if top:
            calls.append(node)
        return evaluate(node, record, notes, top)

    rows = [rescue_patient(patient_id=f"p{i:03d}", age=[19, 18.99, 60][i % 3], pfi_months=[6.0, 5.99, 12, 6][i % 4],
                           platinum_refractory=[0, None][i % 5 == 0]) for i in range(300)]
    rows += [rescue_patient(patient_id="zero", pfi_months=0.0), rescue_patient(patient_id="minus", pfi_months=-0.0)]
    monkeypatch.setattr(elig, "_evaluate", counted)
    result = screen(pd.DataFrame(rows))
    n_criteria = len(load_trial("rescue").criteria)
    assert len(calls) < 3 * n_criteria < len(rows)
    monkeypatch.setattr(elig, "_evaluate", evaluate)
    for row, patient in list(zip(rows, result.patients))[::23]:
        assert one(row) == patient
    assert "pfi_months 0 is not >= 6" in result["zero"].reason
    assert "pfi_months -0 is not >= 6" in result["minus"].reason


def test_markers_of_a_patient_without_clinical_row_is_an_error():
    with pytest.raises(InvalidInputError, match="have markers but no clinical row"):
        screen(pd.DataFrame([rescue_patient()]), markers_of(RESPONSE, pid="zz"))


# ============================================================================ properties


def _values(field: str):
    if field == "gcig_response":
        return st.sampled_from([s for s in RESPONSE_STATUSES if s not in ("unconfirmed", "awaiting")])
    if field in CLINICAL_CATEGORIES:
        return st.sampled_from(CLINICAL_CATEGORIES[field].allowed)
    rule = CLINICAL_NUMBERS[field]
    if rule.choices is not None:
        return st.sampled_from([float(c) for c in rule.choices])
    if rule.integer:
        return st.integers(int(rule.low), min(int(rule.high), 8)).map(float)
    return st.sampled_from([rule.low, 5.99, 6.0, 17.99, 18.0, 19.0, 80.9, 81.0, rule.high])


TRIALS = {name: load_trial(name) for name in available_trials()}


@st.composite
def records(draw):
    trial = TRIALS[draw(st.sampled_from(sorted(TRIALS)))]
    record = {f: draw(st.none() | _values(f)) for f in trial.fields}
    return trial, record


def _status(trial, record):
    return _screen_patient("x", trial, record, {})


@settings(max_examples=150, deadline=None)
@given(records(), st.data())
def test_filling_a_missing_field_never_changes_a_decided_outcome(case, data):
    trial, record = case
    before = _status(trial, record)
    empty = [f for f, v in record.items() if v is None]
    if not empty:
        assert before.status != "undetermined"
        return
    field = data.draw(st.sampled_from(empty))
    after = _status(trial, {**record, field: data.draw(_values(field))})
    if before.status != "undetermined":
        assert after.status == before.status
    for b, a in zip(before.criteria, after.criteria):
        if b.outcome != "missing":
            assert a.outcome == b.outcome and a.verdict == b.verdict
    assert set(after.missing) <= set(before.missing)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_criterion_values_of_many_patients_are_each_patients_screen(data):
    """criterion_values (column-wise, once per distinct combination) gives every patient the
    outcome the screen gives that patient alone."""
    trial = TRIALS[data.draw(st.sampled_from(sorted(TRIALS)))]
    crit = data.draw(st.sampled_from(trial.criteria))
    patients = data.draw(st.lists(st.fixed_dictionaries({f: st.none() | _values(f) for f in crit.fields}),
                                  min_size=1, max_size=12))
    values = criterion_values(crit, {f: [p[f] for p in patients] for f in crit.fields})
    expected = {"met": True, "not_met": False, "missing": None}
    for patient, value in zip(patients, values):
        screened = next(c for c in _status(trial, patient).criteria if c.criterion == crit.id)
        assert value is expected[screened.outcome]


def test_criterion_values_need_every_field_it_reads():
    with pytest.raises(InvalidInputError, match=r"reads \['gcig_response'\]"):
        criterion_values(entry_criterion(), {"recist": ["SD"]})


def test_entry_criterion_is_rescue_inclusion_3():
    crit = entry_criterion()
    assert crit.id == "I3" and set(crit.fields) == {"recist", "gcig_response"}
    assert crit == next(c for c in load_trial("rescue").criteria if c.id == "I3")


@settings(max_examples=150, deadline=None)
@given(records())
def test_status_follows_the_verdicts(case):
    trial, record = case
    p = _status(trial, record)
    verdicts = [c.verdict for c in p.criteria]
    assert p.status in STATUSES
    assert (p.status == "ineligible") == ("fail" in verdicts)
    assert (p.status == "eligible") == all(v == "pass" for v in verdicts)
    if p.status == "undetermined":
        assert p.missing and all(record[f] is None for f in p.missing)
    for c in p.criteria:
        assert (c.outcome == "missing") == (c.verdict == "missing")
        assert c.clause is None or c.verdict == "pass"


# ============================================================================ the committed cohort


@pytest.fixture(scope="module")
def cohort_screen():
    return screen(COHORT / "clinical.csv", COHORT / "markers.csv")


def test_committed_cohort_matches_an_independent_pandas_reading(cohort_screen):
    """The engine's statuses equal the RESCUE criteria written out by hand with pandas."""
    clin = read_clinical(COHORT / "clinical.csv")
    gcig = gcig_cohort(read_markers(COHORT / "markers.csv"), clin).set_index("patient_id")["status"]
    c = clin.set_index("patient_id")
    g = gcig.reindex(c.index)

    def tri(ok, known):  # 1 met, 0 not met, NaN unknown
        return pd.Series(np.where(known, ok.fillna(False).astype(bool).astype(float), np.nan), index=c.index)

    def eq(col, value):
        return tri(c[col] == value, c[col].notna())

    epithelial = ["high_grade_serous", "low_grade_serous", "endometrioid", "clear_cell", "mucinous",
                  "mixed_epithelial", "other_epithelial"]
    i1 = pd.concat([eq("recurrence_number", 1),
                    tri(c["tumour_site"].isin(["ovary", "fallopian_tube", "peritoneum"]), c["tumour_site"].notna()),
                    tri(c["histology"].isin(epithelial), c["histology"].notna())], axis=1).min(axis=1, skipna=False)
    recist_ok = tri(c["recist"].isin(["CR", "PR", "SD"]), c["recist"].notna())
    gcig_ok = tri(g == "response", ~g.isin(["unconfirmed", "invalid_input", "no_markers"]))
    i3 = pd.concat([recist_ok, gcig_ok], axis=1).max(axis=1, skipna=False)
    i3[(recist_ok == 1) | (gcig_ok == 1)] = 1.0
    passes = {
        "I1": i1, "I2": tri(c["pfi_months"] >= 6, c["pfi_months"].notna()), "I3": i3,
        "I4": tri(c["age"] >= 19, c["age"].notna()), "I5": eq("surgeon_r0_judgement", 1), "I6": eq("consent", 1),
        "E1": 1 - eq("recurrence_number", 0), "E2": 1 - tri(c["histology"].isin(["non_epithelial", "borderline"]),
                                                              c["histology"].notna()),
        "E3": 1 - tri(c["recurrence_number"] >= 2, c["recurrence_number"].notna()),
        **{e: 1 - eq(flag, 1) for e, flag in RESCUE_FLAGS.items()}, "E11": 1 - eq("archived_tissue", 0),
    }
    table = pd.DataFrame(passes)
    expected = np.where((table == 0).any(axis=1), "ineligible",
                        np.where(table.isna().any(axis=1), "undetermined", "eligible"))
    got = cohort_screen.to_frame().set_index("patient_id")["status"].reindex(c.index)
    assert (got.to_numpy() == expected).all()


def test_committed_cohort_summary(cohort_screen):
    """Reference counts: `ca125 screen --clinical data/synthetic/default/clinical.csv --markers
    data/synthetic/default/markers.csv` on the committed cohort (generator version 2)."""
    summary = cohort_screen.summary().set_index("status")["n"].to_dict()
    assert summary == {"eligible": 1818, "ineligible": 1037, "undetermined": 145}
    frame = cohort_screen.to_frame()
    assert list(frame.columns) == list(FRAME_COLUMNS)
    assert frame["patient_id"].tolist() == sorted(frame["patient_id"])  # clinical order, leading zeros kept
    long = cohort_screen.criteria_frame()
    assert list(long.columns) == list(CRITERIA_COLUMNS)
    assert len(long) == 3000 * len(cohort_screen.trial.criteria)
    crit = cohort_screen.criterion_summary()
    assert (crit[["pass", "fail", "missing"]].sum(axis=1) == 3000).all()
    eligible = frame[frame["status"] == "eligible"]
    assert eligible["admitted_by"].str.startswith("I3: ").all()


# ============================================================================ CLI and API


def test_cli_screen_reads_same_day_samples_with_the_aggregation_stated(tmp_path, capsys):
    """Two CA-125 samples on one day left a RECIST PD patient undetermined ('GCIG invalid_input:
    two or more CA-125 samples on day 21 ... aggregate them explicitly with duplicates=...')
    and `ca125 screen` had no option to say so ('unrecognized arguments: --duplicates'), where
    `ca125 gcig --duplicates` and screen(gcig_settings=GcigSettings(duplicates=...)) had one.
    The aggregation is recorded in the rules; refused without --markers, which it would not change."""
    clinical = tmp_path / "clinical.csv"
    pd.DataFrame([rescue_patient(patient_id="007", recist="PD")]).to_csv(clinical, index=False)
    markers = tmp_path / "markers.csv"
    markers.write_text("patient_id,day,ca125\n007,-3,400\n007,21,150\n007,21,160\n007,49,100\n")
    assert main(["screen", "--clinical", str(clinical), "--markers", str(markers), "--format", "json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["patients"][0]["status"] == "undetermined" and "two or more CA-125 samples on day 21" in \
        first["patients"][0]["reason"]
    assert main(["screen", "--clinical", str(clinical), "--markers", str(markers), "--duplicates", "mean",
                 "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["patients"][0]["status"] == "eligible"
    assert out["patients"][0]["admitted_by"] == "I3: GCIG CA-125 response"
    assert out["rules"]["gcig"]["duplicates"] == "mean"
    api = screen(clinical, markers, gcig_settings=ca125kinetics.GcigSettings(duplicates="mean"))
    assert api.to_dict()["patients"] == out["patients"]
    assert main(["screen", "--clinical", str(clinical), "--duplicates", "mean"]) == 2
    assert "--duplicates says how the CA-125 markers table (--markers) is read" in capsys.readouterr().err


def _clinical_file(tmp_path) -> Path:
    rows = [rescue_patient(patient_id="007"), rescue_patient(patient_id="008", pfi_months=5.99),
            rescue_patient(patient_id="009", recist="PD")]
    path = tmp_path / "clinical.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_cli_text(tmp_path, capsys):
    clinical = _clinical_file(tmp_path)
    markers = tmp_path / "markers.csv"
    markers_of(RESPONSE, pid="009").to_csv(markers, index=False)
    assert main(["screen", "--trial", "rescue", "--clinical", str(clinical), "--markers", str(markers)]) == 0
    out = capsys.readouterr().out
    assert "RESCUE (NCT07295132)" in out
    assert "007" in out and "008" in out
    lines = {line.split()[0]: line for line in out.splitlines() if line[:3] in ("007", "008", "009")}
    assert "eligible" in lines["007"] and "RECIST 1.1 CR/PR/SD" in lines["007"]
    assert "ineligible" in lines["008"] and "I2" in lines["008"]
    assert "eligible" in lines["009"] and "GCIG CA-125 response" in lines["009"]
    assert "summary:" in out and "eligible            2" in out and "ineligible          1" in out


def test_cli_reads_a_european_table_as_stated(tmp_path, capsys):
    """A semicolon table with decimal commas and day/month dates could not be screened from the
    command line: the reader's refusal named --decimal, which ca125 screen did not have."""
    clinical = _clinical_file(tmp_path)
    table = pd.read_csv(clinical, dtype={"patient_id": str})
    table["age"] = table["age"] + 0.5
    european = tmp_path / "eu.csv"
    table.to_csv(european, sep=";", decimal=",", index=False)
    assert main(["screen", "--clinical", str(european), "--format", "csv", "--sep", ";"]) == 2
    assert "--decimal" in capsys.readouterr().err
    assert main(["screen", "--clinical", str(european), "--format", "csv", "--sep", ";", "--decimal", ","]) == 0
    frame = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out), dtype={"patient_id": str})
    assert frame["status"].tolist() == ["eligible", "ineligible", "undetermined"]
    with pytest.raises(InvalidInputError, match=r"read_options: unknown key\(s\) \['uln'\]"):
        screen(european, read_options={"uln": 30})


def test_cli_csv_and_json(tmp_path, capsys):
    clinical = _clinical_file(tmp_path)
    assert main(["screen", "--clinical", str(clinical), "--format", "csv"]) == 0
    frame = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out), dtype={"patient_id": str})
    assert list(frame.columns) == list(FRAME_COLUMNS)
    assert frame["status"].tolist() == ["eligible", "ineligible", "undetermined"]
    assert frame["patient_id"].tolist() == ["007", "008", "009"]
    assert frame.loc[2, "missing"] == "gcig_response"

    out = tmp_path / "screen.json"
    assert main(["screen", "--clinical", str(clinical), "--format", "json", "--out", str(out)]) == 0
    assert "wrote the RESCUE screen of 3 patient(s)" in capsys.readouterr().err
    data = json.loads(out.read_text())
    assert data["summary"] == {"eligible": 1, "ineligible": 1, "undetermined": 1}
    assert data["trial"]["registry"] == "NCT07295132"
    assert data["trial"]["criteria_sha256"] == load_trial("rescue").sha256 and len(load_trial("rescue").sha256) == 64
    first = data["patients"][0]
    assert first["patient_id"] == "007" and len(first["criteria"]) == 17
    assert first["criteria"][2]["clause"] == "RECIST 1.1 CR/PR/SD"


def test_cli_parquet_is_the_frame_built_once(tmp_path, capsys, monkeypatch):
    """`--format parquet` built the CSV text of the frame (unused), then the frame again to
    write the file: 100,000 patients took longer as Parquet (9.2 s) than as CSV (8.7 s)."""
    from ca125kinetics.eligibility import ScreeningResult

    clinical, out = _clinical_file(tmp_path), tmp_path / "screen.parquet"
    built, to_frame = [], ScreeningResult.to_frame

    def counted(self):
        built.append(1)
        return to_frame(self)

    monkeypatch.setattr(ScreeningResult, "to_frame", counted)
    monkeypatch.setattr(pd.DataFrame, "to_csv", lambda *a, **k: pytest.fail("a parquet output wrote a CSV text"))
    assert main(["screen", "--clinical", str(clinical), "--out", str(out)]) == 0
    assert len(built) == 1
    monkeypatch.undo()
    got = pd.read_parquet(out)
    expected = screen(clinical).to_frame()
    assert got.drop(columns="package_version").equals(expected.drop(columns="package_version"))


def test_cli_custom_trial_file_and_errors(tmp_path, capsys):
    clinical = _clinical_file(tmp_path)
    good = tmp_path / "adult.toml"
    good.write_text(VALID)
    assert main(["screen", "--trial", str(good), "--clinical", str(clinical), "--format", "csv"]) == 0
    assert capsys.readouterr().out.count(",eligible,") == 3
    bad = tmp_path / "bad.toml"
    bad.write_text(VALID.replace('"age"', '"agee"'))
    assert main(["screen", "--trial", str(bad), "--clinical", str(clinical)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ca125: error: ") and "unknown field 'agee'" in err and "Traceback" not in err


def test_public_api():
    for name in ("screen", "load_trial", "Trial", "ScreeningResult", "PatientScreening"):
        assert name in ca125kinetics.__all__
    assert ca125kinetics.screen is screen


# ============================================================================ independent reading
# tests/data/screening_README.md: adversarial patients (screening_cases_generator.py) and the
# verdicts of a reading of the registry text written without the package
# (screening_independent.py). Every criterion of every patient must agree.

DATA = Path(__file__).resolve().parent / "data"
_CLAUSE_NAMES = {"RECIST 1.1 CR/PR/SD": "recist", "GCIG CA-125 response": "gcig",
                 "pMMR/MSS after chemotherapy or TNT": "pmmr_chemo", "dMMR/MSI-H after immunotherapy": "dmmr_immuno"}


def _independent(trial):
    cases = DATA / f"screening_{trial}_cases.csv"
    markers = DATA / "screening_rescue_markers.csv" if trial == "rescue" else None
    expected = pd.read_csv(DATA / f"screening_{trial}_expected.csv", dtype=str, keep_default_na=False)
    return cases, markers, expected


@pytest.mark.parametrize("trial", ["rescue", "reset"])
def test_every_adversarial_patient_agrees_with_the_independent_reading(trial):
    cases, markers, expected = _independent(trial)
    result = screen(cases, markers, trial=trial)
    got = {(p.patient_id, c.criterion): (c.verdict, ";".join(sorted(c.missing)),
                                         ";".join(_CLAUSE_NAMES[x] for x in (c.clause or "").split("; ") if x),
                                         p.status)
           for p in result.patients for c in p.criteria}
    want = {(r.patient_id, r.criterion): (r.verdict, r.missing, r.clause, r.status) for r in expected.itertuples()}
    assert got.keys() == want.keys()
    notes = pd.read_csv(cases, dtype=str, keep_default_na=False).set_index("patient_id")["case_note"]
    differ = [f"{pid} ({notes[pid]}) {crit}: package {got[pid, crit]} vs independent {want[pid, crit]}"
              for pid, crit in want if got[pid, crit] != want[pid, crit]]
    assert not differ, "\n".join(differ[:20])
    # the patient's own fields follow from its criteria
    by_patient = expected.groupby("patient_id")
    for p in result.patients:
        rows = by_patient.get_group(p.patient_id)
        assert set(p.missing) == {f for m in rows.loc[rows.verdict == "missing", "missing"] for f in m.split(";") if m}
        assert set(p.failed) == set(rows.loc[rows.verdict == "fail", "criterion"])
    # every status, and each clause of the alternatives, occurs among the cases
    assert set(expected["status"]) == set(STATUSES)


def test_independent_cases_give_the_gcig_status_they_were_built_for():
    cases, markers, _ = _independent("rescue")
    table = gcig_cohort(read_markers(markers), read_clinical(cases, require=("patient_id",)))
    built = pd.read_csv(cases, dtype=str, keep_default_na=False)[["patient_id", "gcig_status"]]
    both = built.merge(table[["patient_id", "status"]], on="patient_id", how="left")
    assert (both["gcig_status"] == both["status"]).all()
    assert set(both["status"]) == {"response", "no_response", "not_confirmed", "not_evaluable", "unconfirmed",
                                   "awaiting", "no_markers"}


@pytest.mark.parametrize("trial", ["rescue", "reset"])
def test_every_cell_the_independent_reading_refuses_is_refused_naming_its_column(trial):
    bad = pd.read_csv(DATA / f"screening_{trial}_bad.csv", dtype=str, keep_default_na=False)
    expected = pd.read_csv(DATA / f"screening_{trial}_bad_expected.csv", dtype=str, keep_default_na=False)
    assert (expected["status"] == "error").all() and len(expected) == len(bad)
    for i in range(len(bad)):
        row = bad.iloc[[i]].replace("", None)
        with pytest.raises(InvalidInputError) as info:
            screen(row, trial=trial)
        column = bad["case_note"].iloc[i].split("=")[0] if "=" in bad["case_note"].iloc[i] else "mmr_status"
        assert f"column '{column}'" in str(info.value), (bad["case_note"].iloc[i], str(info.value))


@pytest.mark.parametrize("trial", ["rescue", "reset"])
def test_cli_and_python_api_give_the_same_screen_naming_the_criteria_used(trial, tmp_path, capsys):
    cases, markers, _ = _independent(trial)
    result = screen(cases, markers, trial=trial)
    spec = load_trial(trial)
    given = ["--markers", str(markers)] if markers else []
    out = tmp_path / "screen.json"
    assert main(["screen", "--trial", trial, "--clinical", str(cases), *given, "--format", "json",
                 "--out", str(out)]) == 0
    assert json.loads(out.read_text()) == json.loads(json.dumps(result.to_dict()))
    capsys.readouterr()
    assert main(["screen", "--trial", trial, "--clinical", str(cases), *given, "--format", "csv"]) == 0
    frame = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out), dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(frame, result.to_frame().fillna("").astype(str))
    # every output names the criteria file and the digest of its text
    assert set(frame["criteria_file"]) == {f"{trial}.toml (shipped criteria)"}
    assert set(frame["criteria_sha256"]) == {spec.sha256}
    assert main(["screen", "--trial", trial, "--clinical", str(cases), *given, "--max-rows", "1"]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert f"criteria {trial}.toml (shipped criteria), sha256 {spec.sha256[:12]}" in header


def test_max_rows_negative_refused_and_zero_lists_everyone(capsys, tmp_path):
    """--max-rows -2 listed all but the last two patients; format_screening(max_rows=0) listed
    none and told the user to pass --max-rows 0."""
    from ca125kinetics.eligibility import format_screening

    rows = pd.DataFrame([rescue_patient(patient_id=f"p{i}") for i in range(3)])
    result = screen(rows, trial="rescue")
    every = format_screening(result)
    assert format_screening(result, max_rows=0) == every and "more patient(s)" not in every
    assert "... 2 more patient(s)" in format_screening(result, max_rows=1)
    with pytest.raises(InvalidInputError, match=r"max_rows \(--max-rows\) must be a whole number >= 0"):
        format_screening(result, max_rows=-2)
    path = tmp_path / "c.csv"
    rows.to_csv(path, index=False)
    with pytest.raises(SystemExit) as info:      # refused by the option itself, as on gcig and kinetics
        main(["screen", "--trial", "rescue", "--clinical", str(path), "--max-rows", "-2"])
    assert info.value.code == 2 and "-2 is negative; give the rows to show, or 0 for all" in capsys.readouterr().err


@pytest.mark.parametrize("given_markers", [False, True])
def test_a_clinical_column_named_like_a_derived_field_is_refused_not_ignored(given_markers):
    # the screen derives gcig_response from the markers; a column of that name in the
    # clinical table would otherwise be dropped silently (or overridden by the markers)
    row = rescue_patient(recist="PD", gcig_response="response")
    markers = markers_of(NO_RESPONSE) if given_markers else None
    with pytest.raises(InvalidInputError) as info:
        screen(pd.DataFrame([row]), markers, trial="rescue")
    assert "gcig_response" in str(info.value) and "markers" in str(info.value)
    # a trial that does not read the derived field screens the table as before
    assert one(reset_patient(gcig_response="response"), "reset").status == "eligible"


def test_every_screen_output_records_the_rules_and_package_version(tmp_path, capsys):
    """As every table the package writes: the CSV and Parquet rows end with ``rules`` and
    ``package_version`` (the trial, its criteria file and digest, and the GCIG settings that
    derived gcig_response, with the --uln given), and the JSON carries both."""
    from ca125kinetics import __version__

    clinical = _clinical_file(tmp_path)
    markers = tmp_path / "markers.csv"
    markers_of(RESPONSE, pid="009").to_csv(markers, index=False)
    args = ["screen", "--clinical", str(clinical), "--markers", str(markers), "--uln", "30"]
    assert main([*args, "--format", "csv"]) == 0
    frame = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out), dtype={"patient_id": str})
    assert list(frame.columns[-2:]) == ["rules", "package_version"] and set(frame["package_version"]) == {__version__}
    rules = json.loads(frame["rules"].iloc[0])
    assert rules["trial"] == "rescue" and rules["criteria_sha256"] == load_trial("rescue").sha256
    assert rules["gcig"]["uln"] == 30.0
    assert main([*args, "--out", str(tmp_path / "s.parquet")]) == 0
    assert pd.read_parquet(tmp_path / "s.parquet")["rules"].iloc[0] == frame["rules"].iloc[0]
    capsys.readouterr()
    assert main([*args, "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rules"] == rules and out["package_version"] == __version__
    # without markers no GCIG rule was applied, and none is recorded
    assert "gcig" not in json.loads(screen(clinical).to_frame()["rules"].iloc[0])


def test_the_json_of_a_screen_without_markers_states_no_uln():
    """A screen that read no markers applied no ULN: RESET's JSON (a CEA trial whose criteria
    read no marker) said "uln": 35.0, CA-125's GCIG default, as if a ULN had been used; so did
    RESCUE's without --markers. The rules record no GCIG settings there, and now neither does
    the JSON's uln; with markers it is the GCIG rules' ULN, as before."""
    assert screen(pd.DataFrame([reset_patient()]), trial="reset").to_dict()["uln"] is None
    assert screen(pd.DataFrame([rescue_patient()]), trial="rescue").to_dict()["uln"] is None
    from ca125kinetics.settings import GcigSettings

    with_markers = screen(pd.DataFrame([rescue_patient(patient_id="009")]), markers_of(RESPONSE, pid="009"),
                          gcig_settings=GcigSettings(uln=30))
    assert with_markers.to_dict()["uln"] == 30.0 == with_markers.to_dict()["rules"]["gcig"]["uln"]


@pytest.mark.parametrize(("field", "value", "shown"), [("pfi_months", 5.9999999, "pfi_months 5.9999999 is not >= 6"),
                                                       ("age", 18.999999, "age 18.999999 is not >= 19")])
def test_reason_shows_a_value_near_the_boundary_unrounded(field, value, shown):
    # the decision is exact (docs/screening.md); the reason must not round the value onto the
    # boundary it failed ("pfi_months 6 is not >= 6")
    p = one(rescue_patient(**{field: value}))
    assert p.status == "ineligible"
    assert shown in outcome(p, "I2" if field == "pfi_months" else "I4").reason


def test_markers_for_criteria_that_read_none_are_refused_not_ignored(tmp_path):
    """``ca125 screen --trial reset --markers cea.csv`` read nothing from the markers (RESET's
    criteria derive no field from them), yet accepted the file, even a path that did not
    exist, and wrote the GCIG CA-125 settings (35 U/mL) into the screen's rules."""
    from ca125kinetics.cli import main

    clinical = pd.DataFrame({"patient_id": ["r1"], "age": [60]})
    markers = pd.DataFrame({"patient_id": ["r1", "r1"], "day": [-3, 20], "cea": [12.0, 4.0]})
    with pytest.raises(InvalidInputError, match=r"RESET criteria read no field derived from the markers"):
        screen(clinical, markers, trial="reset")
    assert screen(clinical, trial="reset")["r1"].status == "undetermined"
    clinical.to_csv(tmp_path / "c.csv", index=False)
    assert main(["screen", "--trial", "reset", "--clinical", str(tmp_path / "c.csv"),
                 "--markers", str(tmp_path / "absent.csv")]) == 2
