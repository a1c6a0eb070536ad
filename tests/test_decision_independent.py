"""The combined RECIST + CA-125 category and the recommendation rule, on every path a user
has, against a reading of the documentation written without the package.

``tests/data/decision_README.md`` says how the files were made: seeded adversarial patients
(``decision_cases_generator.py``), the facts the rules take (GCIG statuses and the shipped
model's probabilities, audited elsewhere), and the expected output of the independent reading
(``decision_independent.py``). Every field the reading gives (combined category, decision,
rule, the fields a reason names, the RESCUE entry criterion) must agree on each path:
``predict`` for one patient, ``predict_cohort``, ``ca125 score``, ``gcig_cohort``,
``combined_response`` and ``ca125 screen --trial rescue``.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import pandas as pd
import pytest

from ca125kinetics import (InvalidInputError, combined_response, gcig_cohort, load_model, predict,
                           predict_cohort, read_clinical, read_markers, screen)
from ca125kinetics.cli import main
from ca125kinetics.errors import SyntheticModelWarning

DATA = Path(__file__).resolve().parent / "data"
PREDICTORS = ("age", "ecog", "ascites_ml", "figo_stage", "primary_residual_disease", "pfi_months",
              "recurrence_pattern")
# the package's decision codes in the independent reading's words (rule names differ in
# wording only: the reading names a rule, the package states it)
DECISIONS = {"invalid_input": ("none", "invalid"), "not_scored": ("none", "not_scored"),
             "not_candidate_progression": ("not_candidate", "gcig_progression"),
             "not_candidate_recist_pd": ("not_candidate", "recist_pd"),
             "not_candidate_entry": ("not_candidate", "entry_not_met"),
             "resectable": ("resectable", "at_or_above"),
             "not_resectable": ("not_resectable", "below")}
SERIES_WITH_MARKERS = 30  # decision_cases_generator.SERIES without no_markers, and KINETICS_SERIES
COMBINED = {"CR": "CR", "PR": "PR", "SD": "SD", "PD": "PD", None: "undetermined"}


def _read(name):
    return pd.read_csv(DATA / name, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def cases():
    runs = _read("decision_runs.csv")
    expected = _read("decision_expected.csv")
    facts = _read("decision_facts.csv")
    assert list(runs["case_id"]) == list(expected["case_id"]) == list(facts["case_id"])
    return runs.merge(expected, on="case_id").merge(facts[["case_id", "scored", "threshold"]], on="case_id")


@pytest.fixture(scope="module")
def tables():
    return (read_markers(DATA / "decision_markers.csv", on_error="flag"),
            read_clinical(DATA / "decision_clinical.csv"))


@pytest.fixture(scope="module")
def model():
    return load_model()


def _decision(decision, rule):
    """The package's (decision, rule) in the reading's words."""
    if decision == "insufficient_information":
        if "entry criterion undetermined" in rule:
            return "insufficient_information", "entry_undetermined"
        if "model inputs unknown" in rule:
            return "insufficient_information", "missing_predictors"
        return "insufficient_information", f"? {rule}"
    return DECISIONS.get(decision, (decision, f"? {rule}"))


def _named(text):
    """The predictors (and recist) a reason or recommendation names, in the reading's order;
    ``ca125_after_first_dose`` where it says the kinetics have no CA-125 decline to measure (no
    CA-125 after the first dose, or no pretreatment CA-125: readings D9 and D10)."""
    words = set(str(text).replace(",", " ").replace(";", " ").replace(":", " ").split())
    if any(says in str(text) for says in ("no CA-125 after the first dose", "a pretreatment CA-125 (none in the "
                                          "kinetics' window", "no pretreatment CA-125 in the kinetics' window")):
        words.add("ca125_after_first_dose")
    return ";".join(name for name in (*PREDICTORS, "recist", "ca125_after_first_dose") if name in words)


def _row(decision, rule, combined, reason, recommendation, named_from_reason):
    decision, rule = _decision(decision, rule)
    combined = COMBINED.get(None if combined is None or combined != combined else combined, combined)
    named = _named(reason if named_from_reason else recommendation)
    return decision, rule, combined, named


def _want(case):
    return case["decision"], case["rule"], case["combined"], case["named"]


def _compare(cases, got, path):
    differ = [f"{c['case_id']} ({c['series']}, {c['case_note']}): {path} {got[c['case_id']]} vs "
              f"independent {_want(c)}" for _, c in cases.iterrows() if got[c["case_id"]] != _want(c)]
    assert not differ, f"{len(differ)} disagreements, e.g.\n" + "\n".join(differ[:25])


def _named_from_reason(case):
    # insufficient information names what is missing in its reason; a decision made on imputed
    # values names them in its recommendation
    return case["decision"] == "insufficient_information"


def _cohort_rows(frame, cases):
    frame = frame.set_index("patient_id")
    got = {}
    for _, case in cases.iterrows():
        r = frame.loc[case["patient_id"]]
        got[case["case_id"]] = _row(r["decision"], r["rule"], r["combined_category"], r["reason"],
                                    r["recommendation"], _named_from_reason(case))
    return got


def test_cases_give_the_facts_they_were_built_for(tables):
    markers, clinical = tables
    runs = _read("decision_runs.csv").drop_duplicates("patient_id")
    table = gcig_cohort(markers, clinical).set_index("patient_id")
    built = runs.set_index("patient_id")["built_gcig"]
    got = table.loc[built.index, "status"]
    assert (got[built != ""] == built[built != ""]).all()
    assert set(got) == {"response", "unconfirmed", "not_confirmed", "no_response", "awaiting", "not_evaluable",
                        "invalid_input", "no_markers"}
    assert set(table["progression_status"]) >= {"progression", "no_progression", "not_evaluable"}


def test_predict_cohort_agrees_with_the_independent_reading(cases, tables):
    markers, clinical = tables
    for allow in ("0", "1"):
        chosen = cases[(cases["allow_imputed"] == allow) & (cases["threshold_offset"] == "")]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntheticModelWarning)
            frame = predict_cohort(markers, clinical, allow_imputed=allow == "1")
        _compare(chosen, _cohort_rows(frame, chosen), "predict_cohort")


def test_predict_for_one_patient_agrees_with_the_independent_reading(cases, tables, model):
    markers, clinical = tables
    # one patient at a time costs ~7 ms: every series x RECIST spelling (allow_imputed off),
    # and one in five patients with a predictor missing, both ways (all go through the cohort
    # paths above and below)
    first = cases["case_note"].str.startswith("recist=") & (cases["allow_imputed"] == "0")
    missing = cases["case_note"].str.contains(" empty ") & (cases["patient_id"].str[1:].astype(int) % 5 == 0)
    chosen = cases[(cases["threshold_offset"] == "") & (first | missing) & (cases["series"] != "no_markers")]
    by_patient = dict(tuple(markers.groupby("patient_id", sort=False)))
    row_of = dict(tuple(clinical.groupby("patient_id", sort=False)))
    got = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntheticModelWarning)
        for _, case in chosen.iterrows():
            p = predict(by_patient[case["patient_id"]], row_of[case["patient_id"]], model=model,
                        allow_imputed=case["allow_imputed"] == "1")
            got[case["case_id"]] = _row(p.decision, p.rule, p.combined_category, p.reason,
                                        p.recommendation, _named_from_reason(case))
    _compare(chosen, got, "predict")


def test_probabilities_at_the_threshold_decide_as_the_independent_reading(cases, tables, model):
    """The threshold is set to the patient's own probability plus 0, +-1e-12, +-1e-8."""
    markers, clinical = tables
    chosen = cases[cases["threshold_offset"] != ""]
    by_patient = dict(tuple(markers.groupby("patient_id", sort=False)))
    row_of = dict(tuple(clinical.groupby("patient_id", sort=False)))
    got_one, got_cohort = {}, {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntheticModelWarning)
        patients = chosen["patient_id"].unique()
        probability = predict_cohort(markers[markers["patient_id"].isin(patients)],
                                     clinical[clinical["patient_id"].isin(patients)],
                                     model).set_index("patient_id")["probability"]
        for _, case in chosen.iterrows():
            allow = case["allow_imputed"] == "1"
            moved = dataclasses.replace(model, threshold=probability[case["patient_id"]]
                                        + float(case["threshold_offset"]))
            one = predict(by_patient[case["patient_id"]], row_of[case["patient_id"]], model=moved, allow_imputed=allow)
            got_one[case["case_id"]] = _row(one.decision, one.rule, one.combined_category, one.reason,
                                            one.recommendation, _named_from_reason(case))
            frame = predict_cohort(by_patient[case["patient_id"]], row_of[case["patient_id"]], moved,
                                   allow_imputed=allow)
            got_cohort.update(_cohort_rows(frame, chosen[chosen["case_id"] == case["case_id"]]))
    _compare(chosen, got_one, "predict")
    _compare(chosen, got_cohort, "predict_cohort")


def test_ca125_score_agrees_with_the_independent_reading(cases, tmp_path, capsys):
    for allow in ("0", "1"):
        chosen = cases[(cases["allow_imputed"] == allow) & (cases["threshold_offset"] == "")]
        out = tmp_path / f"score{allow}.csv"
        flags = ["--allow-imputed"] if allow == "1" else []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntheticModelWarning)
            assert main(["score", "--markers", str(DATA / "decision_markers.csv"), "--clinical",
                         str(DATA / "decision_clinical.csv"), "--format", "csv", "--out", str(out),
                         *flags]) == 0
        frame = pd.read_csv(out, dtype={"patient_id": str}, keep_default_na=False, na_values=[""])
        _compare(chosen, _cohort_rows(frame, chosen), "ca125 score")
    capsys.readouterr()


def test_ca125_score_for_one_patient_agrees_with_the_independent_reading(cases, tmp_path, capsys):
    """``ca125 score --patient ID --format json``: one patient of each series, RECIST unknown."""
    import json

    chosen = cases[(cases["case_note"] == "recist=empty") & (cases["allow_imputed"] == "0")
                   & (cases["threshold_offset"] == "") & (cases["series"] != "no_markers")]
    got = {}
    for _, case in chosen.iterrows():
        out = tmp_path / f"{case['patient_id']}.json"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntheticModelWarning)
            assert main(["score", "--markers", str(DATA / "decision_markers.csv"), "--clinical",
                         str(DATA / "decision_clinical.csv"), "--patient", case["patient_id"], "--format", "json",
                         "--out", str(out)]) == 0
        p = json.loads(out.read_text())
        got[case["case_id"]] = _row(p["decision"], p["rule"], p["combined_category"], p["reason"],
                                    p["recommendation"], _named_from_reason(case))
    assert len(got) == SERIES_WITH_MARKERS
    _compare(chosen, got, "ca125 score --patient")
    capsys.readouterr()


def test_gcig_cohort_gives_the_independent_combined_category(cases, tables):
    markers, clinical = tables
    table = gcig_cohort(markers, clinical).set_index("patient_id")
    chosen = cases.drop_duplicates("patient_id")
    got = {c["patient_id"]: COMBINED.get(table.loc[c["patient_id"], "combined_category"], "undetermined")
           for _, c in chosen.iterrows()}
    differ = [f"{c['patient_id']} ({c['series']}, {c['case_note']}): {got[c['patient_id']]} vs {c['combined']}"
              for _, c in chosen.iterrows() if c["scored"] != "invalid" and got[c["patient_id"]] != c["combined"]]
    assert not differ, f"{len(differ)} disagreements, e.g.\n" + "\n".join(differ[:25])


def test_combined_response_function_gives_the_independent_category():
    cases = _read("decision_function_cases.csv")
    expected = _read("decision_function_expected.csv").set_index("case_id")["combined"]
    flag = {"yes": True, "no": False, "": None}
    differ = []
    for _, c in cases.iterrows():
        got = combined_response(c["recist"] or None, new_lesion=flag[c["new_lesion"]],
                                ca125_progression=flag[c["ca125_progression"]],
                                ca125_response=flag[c["ca125_response"]],
                                ca125_normal=flag[c["ca125_normal"]])
        category = COMBINED.get(got.category, got.category)
        if category != expected[c["case_id"]]:
            differ.append(f"{dict(c)}: {category} ({got.reason}) vs {expected[c['case_id']]}")
    assert not differ, f"{len(differ)} disagreements, e.g.\n" + "\n".join(differ[:25])


def test_screen_evaluates_the_entry_criterion_as_the_independent_reading(cases):
    chosen = cases.drop_duplicates("patient_id")
    result = screen(DATA / "decision_clinical.csv", DATA / "decision_markers.csv", trial="rescue")
    outcome = {p.patient_id: next(c for c in p.criteria if c.criterion == "I3") for p in result.patients}
    words = {"pass": "met", "fail": "not_met", "missing": "unknown"}
    differ = [f"{c['patient_id']} ({c['series']}, {c['case_note']}): {words[outcome[c['patient_id']].verdict]} "
              f"vs {c['entry']}" for _, c in chosen.iterrows()
              if c["scored"] != "invalid" and words[outcome[c["patient_id"]].verdict] != c["entry"]]
    assert not differ, f"{len(differ)} disagreements, e.g.\n" + "\n".join(differ[:25])


def test_every_recist_spelling_the_reading_refuses_is_refused_naming_the_column(model):
    """The reader raises; a cohort scores the patient as invalid_input, naming the column."""
    bad = _read("decision_bad_clinical.csv")
    for i in range(len(bad)):
        with pytest.raises(InvalidInputError, match="recist"):
            read_clinical(bad.iloc[[i]])
        pid = bad["patient_id"].iloc[i]
        markers = pd.DataFrame({"patient_id": [pid] * 3, "day": [0, 21, 42], "ca125": [400.0, 180.0, 60.0]})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntheticModelWarning)
            row = predict_cohort(markers, bad.iloc[[i]], model).iloc[0]
        assert (row["status"], row["decision"]) == ("invalid_input", "invalid_input")
        assert "column 'recist'" in row["reason"] and pd.isna(row["combined_category"])
