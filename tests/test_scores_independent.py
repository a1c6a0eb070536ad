"""The published scores (AGO, iMODEL, MSKCC) against an independent reading, on every path.

``tests/data/scores_README.md``: 1,044 adversarial patients (``scores_cases_generator.py``)
and the output of a plain-Python reading of the documented rules written without the
package (``scores_independent.py``, stored in ``scores_expected.csv``). Every field (status,
value or points, category, the inputs named as missing) of every patient must agree on each
path a user has: ``published_scores`` on ``build_patient_frame``, ``predict_cohort``, the
``ca125 score`` command, single-patient ``predict`` and the per-patient functions; a row the
reading refuses must be refused by ``read_clinical`` naming its column.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ca125kinetics import (InvalidInputError, ScoreSettings, ago_score, imodel_score, mskcc_category, predict,
                           predict_cohort, published_scores, read_clinical, read_markers)
from ca125kinetics.cli import main
from ca125kinetics.features import build_patient_frame

DATA = Path(__file__).resolve().parent / "data"
CLINICAL = DATA / "scores_clinical.csv"
MARKERS = DATA / "scores_markers.csv"
FIELDS = ("ago", "ago_missing", "imodel_status", "imodel_points", "imodel_category", "imodel_missing",
          "mskcc_status", "mskcc_category", "mskcc_missing")
_STATUS = {"missing_input": "undetermined", "not_applicable": "not_applicable", "invalid_input": "invalid_input"}
_RECOMMENDATION = {"offer": "offer", "consider": "consider", "no": "do_not_offer"}
_NAMES = {"dfi_months": "pfi_months"}  # mskcc_category's own name for its interval


@pytest.fixture(scope="module")
def expected():
    return pd.read_csv(DATA / "scores_expected.csv", dtype=str, keep_default_na=False).set_index("patient_id")


@pytest.fixture(scope="module")
def notes():
    return pd.read_csv(CLINICAL, dtype=str, keep_default_na=False).set_index("patient_id")["case_note"]


@pytest.fixture(scope="module")
def tables():
    return read_markers(MARKERS), read_clinical(CLINICAL, on_error="flag")


def _missing(status, reason) -> str:
    """The inputs a ``missing_input`` reason names ("... missing ecog, ascites_ml; ..."), sorted."""
    if status != "missing_input":
        return ""
    names = re.search(r"missing ([a-z0-9_, ]+?)[;:]", f"{reason};").group(1)
    return ";".join(sorted(_NAMES.get(n.strip(), n.strip()) for n in names.split(",")))


def _value(x):
    return None if x is None or x is pd.NA or (isinstance(x, float) and np.isnan(x)) else x


def _reading(row: dict) -> dict:
    """One patient's package output (published-score fields) in the independent vocabulary."""
    ago, low, rec = _value(row["ago_positive"]), _value(row["imodel_low_risk"]), _value(row["mskcc_recommendation"])
    points = _value(row["imodel_points"])
    return {
        "ago": _STATUS.get(row["ago_status"], "positive" if ago else "negative"),
        "ago_missing": _missing(row["ago_status"], row["ago_reason"]),
        "imodel_status": _STATUS.get(row["imodel_status"], "scored"),
        "imodel_points": "" if points is None else f"{points:.1f}",
        "imodel_category": "" if low is None else ("low_risk" if low else "high_risk"),
        "imodel_missing": _missing(row["imodel_status"], row["imodel_reason"]),
        "mskcc_status": _STATUS.get(row["mskcc_status"], "scored"),
        "mskcc_category": "" if rec is None else _RECOMMENDATION[rec],
        "mskcc_missing": _missing(row["mskcc_status"], row["mskcc_reason"]),
    }


def _agree(rows, expected, notes, prefix=""):
    """Every field of every patient of ``rows`` (dicts with ``patient_id``) equals the reading."""
    differ = []
    for row in rows:
        got, pid = _reading(row), row["patient_id"]
        for field in FIELDS:
            want = expected.loc[pid, prefix + field if prefix and field.startswith("imodel") else field]
            if got[field] != want:
                differ.append(f"{pid} ({notes[pid]}) {field}: package {got[field]!r} vs independent {want!r}")
    assert not differ, f"{len(differ)} disagreements:\n" + "\n".join(differ[:20])


def test_published_scores_of_the_patient_frame_agree_with_the_independent_reading(tables, expected, notes):
    markers, clinical = tables
    frame = build_patient_frame(markers, clinical, censored_flag=True)
    assert len(frame) == len(expected)
    _agree(published_scores(frame).to_dict("records"), expected, notes)
    # the other ECOG-4 decision: such patients unscored
    na = published_scores(frame, settings=ScoreSettings(imodel_ecog4="not_applicable"))
    _agree(na.to_dict("records"), expected.rename(columns=lambda c: c.replace("imodel_na_", "imodel_")
                                                  if c.startswith("imodel_na_") else f"_{c}" if c.startswith("imodel_")
                                                  else c), notes)
    # every outcome occurs among the cases
    assert set(expected["ago"]) == {"positive", "negative", "undetermined", "invalid_input"}
    assert set(expected["imodel_na_status"]) == {"scored", "undetermined", "not_applicable", "invalid_input"}
    assert set(expected["mskcc_category"]) == {"offer", "consider", "do_not_offer", ""}


def test_predict_cohort_and_the_score_command_agree_with_the_independent_reading(expected, notes, tmp_path):
    cohort = predict_cohort(str(MARKERS), str(CLINICAL))
    assert len(cohort) == len(expected)
    _agree(cohort.to_dict("records"), expected, notes)
    out = tmp_path / "scores.csv"
    assert main(["score", "--markers", str(MARKERS), "--clinical", str(CLINICAL), "--out", str(out)]) == 0
    cli = pd.read_csv(out, dtype={"patient_id": str})
    assert len(cli) == len(expected)
    _agree(cli.to_dict("records"), expected, notes)


def test_single_patient_predict_agrees_with_the_independent_reading(tables, expected, notes):
    markers, clinical = tables
    by_patient = dict(tuple(markers.groupby("patient_id")))
    rows = []
    for pid in expected.index[::3]:    # a third of the patients keeps the test at a few seconds
        if pid not in by_patient:
            continue       # predict scores a marker series; patients without one: predict_cohort above
        p = predict(by_patient[pid], clinical[clinical["patient_id"] == pid])
        rows.append({"patient_id": pid, **p.published_scores})
    assert len(rows) > 300
    _agree(rows, expected, notes)


def test_per_patient_functions_agree_with_the_independent_reading(tables, expected, notes):
    markers, clinical = tables
    frame = build_patient_frame(markers, clinical, censored_flag=True).set_index("patient_id")
    rows = []
    for pid, c in clinical.set_index("patient_id").iterrows():
        if isinstance(c["problem"], str):
            continue       # refused rows: see the next test
        v = {k: _value(c[k]) for k in ("ecog", "ascites_ml", "primary_residual_disease", "figo_stage",
                                       "pfi_months", "recurrence_pattern")}
        ca125 = _value(frame.loc[pid, "ca125_at_recurrence"])
        a = ago_score(v["ecog"], v["ascites_ml"], v["primary_residual_disease"], patient_id=pid)
        i = imodel_score(v["figo_stage"], v["primary_residual_disease"], v["pfi_months"], v["ecog"], ca125,
                         v["ascites_ml"], ca125_at_recurrence_censored=bool(frame.loc[pid, "ca125_at_recurrence_censored"]))
        m = mskcc_category(v["pfi_months"], v["recurrence_pattern"])
        rows.append({"patient_id": pid, "ago_positive": a.positive, "ago_status": a.status, "ago_reason": a.reason,
                     "imodel_points": i.points, "imodel_low_risk": i.low_risk, "imodel_status": i.status,
                     "imodel_reason": i.reason, "mskcc_recommendation": m.recommendation,
                     "mskcc_status": m.status, "mskcc_reason": m.reason})
    assert len(rows) == (expected["invalid"] == "").sum()
    _agree(rows, expected, notes)


def test_every_row_the_independent_reading_refuses_is_refused_naming_its_column(expected):
    raw = pd.read_csv(CLINICAL, dtype=str, keep_default_na=False)
    refused = expected[expected["invalid"] != ""]
    assert len(refused) > 50
    for pid, columns in refused["invalid"].items():
        row = raw[raw["patient_id"] == pid].replace("", None)
        with pytest.raises(InvalidInputError) as info:
            read_clinical(row)
        for column in columns.split(";"):
            assert f"column '{column}'" in str(info.value), (pid, str(info.value))
    # and nothing else is refused
    flagged = read_clinical(CLINICAL, on_error="flag").set_index("patient_id")["problem"]
    assert set(flagged[flagged.notna()].index) == set(refused.index)


_READS = {"ago": {"ecog", "ascites_ml", "primary_residual_disease"},
          "imodel_status": {"figo_stage", "primary_residual_disease", "pfi_months", "ecog", "ascites_ml"},
          "mskcc_status": {"pfi_months", "recurrence_pattern"}}


def test_published_scores_of_the_raw_text_table_agree_with_the_independent_reading(tables, expected, notes):
    """The table as written (text cells, no read_clinical) with the CA-125 at recurrence of the
    patient frame: the same results on every row the reading accepts; on a refused row, each
    score that reads a refused column is invalid_input (published_scores computes the others,
    as its documentation says; read_clinical flags the whole patient)."""
    markers, clinical = tables
    frame = build_patient_frame(markers, clinical, censored_flag=True).set_index("patient_id")
    raw = pd.read_csv(CLINICAL, dtype=str, keep_default_na=False).replace("", None)
    for column in ("ca125_at_recurrence", "ca125_at_recurrence_censored"):
        raw[column] = frame.loc[raw["patient_id"], column].to_numpy()
    rows = published_scores(raw).to_dict("records")
    accepted = set(expected.index[expected["invalid"] == ""])
    _agree([r for r in rows if r["patient_id"] in accepted], expected, notes)
    for row in rows:
        if row["patient_id"] in accepted:
            continue
        refused, got = set(expected.loc[row["patient_id"], "invalid"].split(";")), _reading(row)
        for field, reads in _READS.items():
            assert (got[field] == "invalid_input") == bool(refused & reads), (row["patient_id"], field, got[field])
