"""Tests of predict.py: scoring with the GCIG rule applied, one code path, model integrity.

The model is a small ``logistic_main`` bundle fitted in a session fixture on a simulated
cohort (``small_model_dir``, also used by ``test_web.py`` and ``test_browser.py``), saved with
its SHA-256 manifest, so the tests load it the way users do.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import re
import math
import os
import shutil
import warnings
from argparse import Namespace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ca125kinetics
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ca125kinetics.errors import InvalidInputError, ModelIntegrityError, ModelNotFoundError
from ca125kinetics.io import CLINICAL_FACTORS

# the module (``ca125kinetics.predict`` is also the public function of that name)
P = importlib.import_module("ca125kinetics.predict")
S = importlib.import_module("ca125kinetics.cli.score")   # ca125 score

# The worked reading of docs/clinical-rules.md section 1 (ULN 35): response on day 21,
# confirmed on day 63 (195 <= 1.10 x 180 = 198 and <= 200), PR.
WORKED = {"day": [0, 21, 42, 63], "ca125": [400.0, 180.0, 195.0, 150.0]}
CLINICAL = {"age": 61.0, "ecog": 0, "ascites_ml": 0.0, "figo_stage": "IIIC", "primary_residual_disease": 0,
            "pfi_months": 18.0, "recurrence_pattern": "single", "recist": "PR"}


def build_small_model(directory, *, n: int = 240, seed: int = 20240607, members: int = 5, keep=None,
                      kinetics_settings=None):
    """Fit a small logistic bundle on a simulated cohort and save it (with its manifest);
    ``keep(frame)``, a boolean mask of the patient frame, chooses the training patients;
    ``kinetics_settings`` those of its kinetics (default ``KineticsSettings()``)."""
    from ca125kinetics.settings import KineticsSettings
    from ca125kinetics.bundle import ModelBundle, save_bundle
    from ca125kinetics.features import build_patient_frame
    from ca125kinetics.models import frozen_classifier, make_pipeline
    from ca125kinetics.synth import simulate_cohort

    cohort = simulate_cohort(n, seed)
    frame = build_patient_frame(cohort.markers, cohort.clinical)
    if keep is not None:
        frame = frame[keep(frame)].reset_index(drop=True)
    truth = cohort.truth.set_index("patient_id").reindex(frame["patient_id"])
    y = truth["complete_resection_potential"].to_numpy(dtype=int)
    kinetics_settings = kinetics_settings or KineticsSettings()
    pipeline = make_pipeline("logistic_main", kinetics_settings=kinetics_settings).fit(frame, y)
    design = pipeline[1:-1].transform(pipeline[0].transform(frame))
    rng = np.random.default_rng(seed)
    fitted = []
    for _ in range(members):   # the interval ensemble as train() builds it (bundle format 2)
        rows = rng.integers(0, len(frame), len(frame))
        fitted.append(frozen_classifier(pipeline).fit(design[rows], y[rows]))
    ranges = {c: (float(frame[c].min()), float(frame[c].max()))
              for c in ("age", "pfi_months", "ascites_ml", "ca125_at_recurrence")}
    bundle = ModelBundle(pipeline=pipeline, name="test-small", version="0.0.0+test", model_family="logistic_main",
                         threshold=0.70, feature_ranges=ranges, trained_on_synthetic=True,
                         training_summary={"n": len(frame)}, kinetics_settings=kinetics_settings,
                         interval={"method": "bootstrap_percentile", "level": 0.95, "members_input": "design",
                                   "members": fitted})
    save_bundle(bundle, directory)
    return directory, cohort


@pytest.fixture(scope="session")
def small_model(tmp_path_factory):
    directory, cohort = build_small_model(tmp_path_factory.mktemp("model") / "small")
    return directory, cohort


@pytest.fixture(scope="session")
def model_dir(small_model):
    return small_model[0]


@pytest.fixture(scope="session")
def cohort(small_model):
    return small_model[1]


@pytest.fixture(scope="session")
def bundle(model_dir):
    return P.load_model(model_dir)


@pytest.fixture(scope="session")
def scored(bundle, cohort):
    """The first 60 patients of the training cohort scored as a cohort."""
    ids = sorted(cohort.clinical["patient_id"])[:60]
    markers = cohort.markers[cohort.markers["patient_id"].isin(ids)].reset_index(drop=True)
    clinical = cohort.clinical[cohort.clinical["patient_id"].isin(ids)].reset_index(drop=True)
    return markers, clinical, P.predict_cohort(markers, clinical, model=bundle)


# ----------------------------------------------------------------------------- one patient


def test_text_report_states_the_combined_category_when_recist_is_unknown(bundle):
    """RECIST unknown: the report says so, and gives the combined category (PD on a confirmed
    CA-125 progression) or says it is undetermined, instead of leaving the line out."""
    clinical = {**CLINICAL, "recist": None}
    text = P.predict(WORKED, clinical, model=bundle).to_text()
    assert "RECIST: unknown; combined RECIST + CA-125 category: undetermined (RECIST unknown: give recist)" in text
    progressing = {"day": [0, 21, 42, 49], "ca125": [400.0, 350.0, 820.0, 900.0]}
    p = P.predict(progressing, clinical, model=bundle)
    assert p.combined_category == "PD" and p.decision == "not_candidate_progression"
    assert "RECIST: unknown; combined RECIST + CA-125 category: PD" in p.to_text()


def test_text_report_names_the_setting_of_the_kelim_cut_off_it_applies(bundle):
    """KELIM cut-offs are named per setting (first_line 1.0, relapse 1.08); the report of a
    patient at first platinum-sensitive recurrence wrote "(favourable >= 1.0)", the first-line
    cut-off, without saying whose it is."""
    text = P.predict(WORKED, CLINICAL, model=bundle).to_text()
    assert "(favourable >= 1, the first_line cut-off; relapse 1.08)" in text, text


_MIDPOINTS = [(k + 0.5) / 100 for k in range(100)]


@given(st.lists(st.one_of(
    st.floats(0, 1), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(_MIDPOINTS).flatmap(lambda m: st.sampled_from([m, np.nextafter(m, 0), np.nextafter(m, 1)])),
    st.sampled_from([0.0, -0.0, 1.0, 5e-324, 0.125, 0.375, 0.625, 0.875])), max_size=40))
def test_probability_texts_are_those_python_formats(values):
    """The recommendation's probabilities read as ``"%.2f" % p``, at and beside every midpoint
    between two hundredths (where the nearest hundredth is decided by Python) too."""
    decision = importlib.import_module("ca125kinetics.predict.decision")
    p = np.asarray(values, dtype=float)
    assert decision._p_texts(p).tolist() == ["%.2f" % v for v in values]


def test_worked_series_gives_confirmed_pr_and_a_rule_that_names_it(bundle):
    p = P.predict(WORKED, CLINICAL, model=bundle)
    assert p.status == "ok" and p.reason is None
    assert p.gcig["status"] == "response" and p.gcig["category"] == "PR"
    assert (p.gcig["response_day"], p.gcig["confirmation_day"]) == (21, 63)
    assert p.gcig["baseline_value"] == 400.0
    assert 0.0 < p.probability < 1.0
    assert p.p_low <= p.probability <= p.p_high or math.isclose(p.p_low, p.p_high)
    expected = "resectable" if p.probability >= p.threshold else "not_resectable"
    assert p.decision == expected
    sign = ">=" if expected == "resectable" else "<"
    assert "GCIG CA-125 response (PR) confirmed on day 63" in p.recommendation
    assert f"predicted probability {p.probability:.2f} {sign} threshold 0.70" in p.recommendation
    assert p.recommendation.endswith("Research software, not a medical device. Model trained on synthetic data.")
    assert p.model["name"] == "test-small" and p.model["gcig"]["uln"] == 35.0
    assert p.progression["progressed"] is False
    assert p.recist == "PR" and p.combined_category == "PR"
    # the published scores whose inputs are all given: AGO positive (ECOG 0, no ascites, R0)
    assert p.published_scores["ago_positive"] is True
    assert p.published_scores["mskcc_recommendation"] in ("offer", "consider", "no")


def test_predict_names_why_a_published_score_is_not_determined(bundle):
    """An undetermined, not applicable or invalid score keeps its status and reason in
    ``published_scores`` (it used to be dropped without a word), as in ``predict_cohort``."""
    clinical = {**CLINICAL, "ecog": None, "pfi_months": 4.0}
    p = P.predict(WORKED, clinical, model=bundle)
    ps = p.published_scores
    assert ps["ago_positive"] is None and ps["ago_status"] == "missing_input"
    assert "missing ecog" in ps["ago_reason"]
    assert ps["mskcc_recommendation"] is None and ps["mskcc_status"] == "not_applicable"
    cohort = P.predict_cohort(pd.DataFrame({**WORKED, "patient_id": "1"}),
                              pd.DataFrame([{**clinical, "patient_id": "1"}]), model=bundle).iloc[0]
    for score in ("ago", "imodel", "mskcc"):
        assert (ps[f"{score}_status"], ps[f"{score}_reason"]) == (cohort[f"{score}_status"], cohort[f"{score}_reason"])
    assert "AGO not determined (AGO unknown: missing ecog" in p.to_text()


def test_kinetics_are_those_the_model_saw(bundle):
    """k reported = exp(log_k) of the model's own kinetics step; half-life and score follow."""
    from ca125kinetics.features import build_patient_frame
    from ca125kinetics.io import read_markers

    p = P.predict(WORKED, CLINICAL, model=bundle)
    frame = build_patient_frame(read_markers(pd.DataFrame({"patient_id": "patient", **WORKED})))
    log_k = bundle.kinetics_features(frame)["log_k"].iloc[0]
    assert p.kinetics["k"] == pytest.approx(math.exp(log_k), rel=1e-12)
    assert p.kinetics["half_life_days"] == pytest.approx(math.log(2) / p.kinetics["k"])
    assert p.kinetics["kelim_score"] == pytest.approx(p.kinetics["k"] / bundle.kinetics_settings.k_ref)
    assert p.kinetics["status"] == "ok" and p.kinetics["n_samples"] == 4


def test_fitted_curve_starts_at_c0_and_decays_to_the_floor(bundle):
    p = P.predict(WORKED, CLINICAL, model=bundle)
    days = [d for d, _ in p.curve]
    values = [v for _, v in p.curve]
    assert days[0] == 0 and days[-1] == 100  # 0..window (day 100)
    assert values[0] == pytest.approx(p.kinetics["c0"], abs=1e-3)
    assert all(a >= b for a, b in zip(values, values[1:]))
    assert values[-1] > p.kinetics["floor"]
    assert [s["day"] for s in p.series] == WORKED["day"]


def test_progression_fires_first(bundle):
    # normal before treatment (group C), then >= 2 x ULN (70) twice, 21 days apart
    p = P.predict({"day": [-2, 21, 42], "ca125": [20.0, 80.0, 95.0]}, {"recist": "PR"}, model=bundle)
    assert p.progression["progressed"] is True and p.progression["day"] == 21
    assert p.decision == "not_candidate_progression"
    assert p.recommendation.startswith("Not a candidate for secondary cytoreduction: GCIG CA-125 progression "
                                       "(group C) on day 21.")


def test_a_progression_awaiting_confirmation_is_a_warning_not_silence(bundle):
    """The latest CA-125 reached the GCIG progression threshold (2 x nadir, group B; 2 x ULN
    after normalising, group A) with no sample yet 7 days later: one more sample at or above
    it makes the patient not a candidate (rule 2). The decision was given with no warning at
    all (only ``progression_reason`` said it); the warnings name the candidate and its day."""
    for days, values, group in (([0, 21, 42, 63], [400.0, 100.0, 80.0, 170.0], "B"),
                                ([0, 21, 42, 63], [400.0, 30.0, 20.0, 75.0], "A"),
                                ([-2, 21, 42], [20.0, 25.0, 80.0], "C")):
        p = P.predict({"day": days, "ca125": values}, dict(CLINICAL, recist="SD"), model=bundle)
        assert p.progression["progressed"] is False and p.decision in ("resectable", "not_resectable")
        pending = [w for w in p.warnings if "progression" in w]
        assert pending == [f"GCIG CA-125 progression candidate on day 63 (group {group}) awaits confirmation: a "
                           "sample >= 7 days later at or above its threshold would be a GCIG progression, and the "
                           "patient not a candidate (see progression_reason)"
                           .replace("day 63", f"day {days[-1]}")], (group, p.warnings)
    # a confirmed progression, or none in sight, gives no such warning
    confirmed = P.predict({"day": [-2, 21, 42], "ca125": [20.0, 80.0, 95.0]}, {"recist": "PR"}, model=bundle)
    assert not [w for w in confirmed.warnings if "candidate" in w]
    worked = P.predict(WORKED, CLINICAL, model=bundle)
    assert not [w for w in worked.warnings if "candidate" in w]


def test_no_response_and_no_recist_is_undetermined_not_ineligible(bundle):
    # RESCUE admits RECIST CR/PR/SD or a GCIG response: without RECIST, no GCIG response leaves the
    # entry criterion undetermined (issue: no confident answer from missing data)
    for allow in (False, True):
        p = P.predict({"day": [-2, 21, 42, 63], "ca125": [300.0, 250.0, 240.0, 230.0]}, {"age": 60}, model=bundle,
                      allow_imputed=allow)
        assert p.gcig["status"] == "no_response"
        assert p.decision == "insufficient_information" and p.status == "insufficient"
        assert "no RECIST category recorded and no confirmed GCIG CA-125 response" in p.recommendation
        assert p.reason.startswith("insufficient information: give recist")
        assert "imputed" not in p.to_text().splitlines()[2]
    # RECIST SD admits the same patient (RESCUE: RECIST CR/PR/SD or a GCIG response)
    # (the other clinical factors are unknown: deciding on imputed values is opted into)
    q = P.predict({"day": [-2, 21, 42, 63], "ca125": [300.0, 250.0, 240.0, 230.0]}, {"age": 60, "recist": "SD"},
                  model=bundle, allow_imputed=True)
    assert q.decision in ("resectable", "not_resectable")
    assert "RECIST SD (no confirmed GCIG CA-125 response" in q.recommendation


def test_no_ca125_after_the_first_dose_is_an_unknown_response_not_a_no(bundle):
    """An evaluable baseline and no CA-125 after the first dose: the GCIG response is
    ``awaiting`` (responded unknown), so without RECIST the entry criterion is undetermined and
    the reason says what is missing; with RECIST SD the patient enters by RECIST, and rule 5
    withholds the decision (the kinetics are imputed) unless imputed values are allowed."""
    markers = {"day": [-2], "ca125": [400.0]}
    p = P.predict(markers, {**CLINICAL, "recist": None}, model=bundle)
    assert p.gcig["status"] == "awaiting" and p.gcig["responded"] is None and p.gcig["evaluable"] is True
    assert p.decision == "insufficient_information" and p.status == "insufficient"
    assert "no CA-125 sample after the first dose (day > 0) yet" in p.recommendation
    assert p.combined_category is None
    assert "GCIG CA-125 response: awaiting" in p.to_text()
    q = P.predict(markers, {**CLINICAL, "recist": "SD"}, model=bundle)
    assert q.decision == "insufficient_information" and q.combined_category == "SD"
    assert q.reason.startswith("insufficient information: give the on-treatment CA-125 values")
    q = P.predict(markers, {**CLINICAL, "recist": "SD"}, model=bundle, allow_imputed=True)
    assert q.decision in ("resectable", "not_resectable") and q.combined_category == "SD"
    assert "RECIST SD (no confirmed GCIG CA-125 response: GCIG response not yet assessable" in q.recommendation


@pytest.mark.parametrize("value", ["no", "False", 0, 1, None])
def test_allow_imputed_other_than_true_or_false_is_refused(bundle, scored, value):
    """allow_imputed='no' was read by its truth value: a decision on imputed clinical factors
    that nobody asked for. Every scoring function refuses a value that is not True/False."""
    markers, clinical, _ = scored
    calls = [lambda: P.predict(WORKED, {"age": 60, "recist": "SD"}, model=bundle, allow_imputed=value),
             lambda: P.predict_many([(WORKED, {"age": 60})], model=bundle, allow_imputed=value),
             lambda: P.predict_cohort(markers, clinical, model=bundle, allow_imputed=value)]
    for call in calls:
        with pytest.raises(InvalidInputError, match=r"allow_imputed must be True or False, got"):
            call()
    assert P.predict(WORKED, {"age": 60}, model=bundle, allow_imputed=np.bool_(False)).status == "insufficient"


def test_warnings_name_each_data_issue(bundle):
    # (RECIST given and imputation allowed, so that the patient is decided: warnings are not reasons)
    p = P.predict({"day": [-3, 21, 130], "ca125": [50.0, 30.0, 20.0]}, {"age": 119.0, "recist": "PR"}, model=bundle,
                  allow_imputed=True)
    text = " | ".join(p.warnings)
    assert "only 2 CA-125 value(s) between day -14 and day 100" in text
    # each warning is one item of the list (they are '; '-joined in the table and split back)
    assert ("only 2 CA-125 value(s) between day -14 and day 100: the KELIM-like k needs at least 3 (the estimate "
            "leans on the population prior)") in p.warnings
    assert "1 value(s) beyond day 100 (20 U/mL on day 130) are not used by the kinetics fit" in text
    assert "pretreatment CA-125 50 U/mL is below 2 x ULN (70 U/mL): GCIG response not evaluable" in text
    assert "age 119 is outside the training range" in text
    assert "clinical factor(s) unknown: ecog" in text
    assert p.status == "ok"  # warnings never stop scoring
    assert p.to_frame()["warnings"].iloc[0] == "; ".join(p.warnings)


def test_gcig_warnings_give_the_rule_that_applied(bundle):
    # GCIG not evaluable because the assay changed: the warning said "no pretreatment CA-125
    # within 14 days", although day -3 was there
    series = {"day": [-3, 21, 42, 63], "ca125": [400.0, 180.0, 95.0, 40.0]}
    p = P.predict(dict(series, assay=["a", "a", "b", "b"]), {"recist": "PR"}, model=bundle, allow_imputed=True)
    text = " | ".join(p.warnings)
    assert "no pretreatment" not in text
    # one warning (the reason's own '; ' would split it in the list)
    assert ("GCIG response not evaluable: assay changed from 'a' (day -3) to 'b' (day 42), GCIG requires the same "
            "assay throughout") in p.warnings
    p = P.predict(dict(series, day=[3, 21, 42, 63]), {"recist": "PR"}, model=bundle, allow_imputed=True)
    assert "GCIG response not evaluable: no pretreatment sample within 14 days before the first dose" in \
        " | ".join(p.warnings)
    # samples set aside by the GCIG rules are named (the docstring promised it)
    p = P.predict(dict(series, event=[None, "mouse_antibody", None, None]), {"recist": "PR"}, model=bundle,
                  allow_imputed=True)
    assert ("3 sample(s) excluded by the GCIG rules (drawn on the day of, or within 28 days after, paracentesis, "
            "thoracentesis or surgery, or on or after mouse antibody administration), not used by the GCIG "
            "reading or the kinetics fit: 180 U/mL on day 21, 95 U/mL on day 42, 40 U/mL on day 63") in p.warnings


def test_samples_left_out_are_named_with_their_values(bundle):
    """The warnings counted the samples an event window or the kinetics window left out
    without naming them (day and value): named, the first five, in a batch of any size."""
    days = [-5, 3, 5, 8, 10, 12, 15, 41, 84, 110, 120, 130, 140, 150, 160]
    values = [400, 380, 900, 350, 340, 330, 320, 90, 20, 15, 14, "<5", 12, 11, 10]
    one = pd.DataFrame({"day": days, "ca125": values, "event": ["paracentesis" if d == 3 else None for d in days]})
    markers = pd.concat([one.assign(patient_id=f"p{i:03d}") for i in range(300)], ignore_index=True)
    clinical = pd.DataFrame({"patient_id": [f"p{i:03d}" for i in range(300)], **{k: [v] * 300 for k, v in
                             CLINICAL.items()}})
    for frame in (P.predict_cohort(markers, clinical, model=bundle),      # Arrow texts
                  P.predict_cohort(markers[markers.patient_id == "p007"], clinical, model=bundle)):
        warnings = frame.set_index("patient_id").loc["p007", "warnings"].split("; ")
        assert ("6 value(s) beyond day 100 (15 U/mL on day 110, 14 U/mL on day 120, <5 U/mL on day 130, 12 U/mL on "
                "day 140, 11 U/mL on day 150, ...) are not used by the kinetics fit") in warnings
        assert any(w.startswith("6 sample(s) excluded by the GCIG rules") and w.endswith(
            "not used by the GCIG reading or the kinetics fit: 380 U/mL on day 3, 900 U/mL on day 5, 350 U/mL on "
            "day 8, 340 U/mL on day 10, 330 U/mL on day 12, ...") for w in warnings)


def test_clean_patient_has_no_warnings(bundle):
    p = P.predict({"day": [-3, 21, 42, 63], "ca125": [400.0, 180.0, 95.0, 40.0]}, CLINICAL, model=bundle)
    assert p.warnings == ()


def test_invalid_patient_is_reported_not_raised(bundle):
    p = P.predict({"day": [0, 21], "ca125": [400.0, -5.0]}, model=bundle)
    assert p.status == "invalid_input" and p.decision == "invalid_input"
    assert "negative" in p.reason and math.isnan(p.probability)
    assert p.recommendation.startswith("Not scored: ")


def test_predict_refuses_several_patients(bundle, cohort):
    with pytest.raises(InvalidInputError, match="predict scores one patient, but the input holds 3"):
        P.predict(cohort.markers[cohort.markers["patient_id"].isin(["000001", "000002", "000003"])], model=bundle)
    with pytest.raises(InvalidInputError, match="markers must be a DataFrame"):
        P.predict(42, model=bundle)


def test_prediction_is_frozen_and_json_ready(bundle):
    p = P.predict(WORKED, CLINICAL, model=bundle)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.probability = 1.0  # type: ignore[misc]
    d = p.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["probability"] == p.probability and d["curve"][0] == {"day": 0.0, "ca125": p.curve[0][1]}
    frame = p.to_frame()
    assert list(frame.columns) == list(P.SCORE_COLUMNS) and len(frame) == 1
    assert "Recommendation: " in p.to_text() and "Probability of complete resection: " in p.to_text()


# ----------------------------------------------------------------------------- one code path


def test_predict_equals_cohort_row_many_and_pyfunc_form(bundle, scored):
    markers, clinical, frame = scored
    pid = "000007"
    m = markers[markers["patient_id"] == pid]
    c = clinical[clinical["patient_id"] == pid]
    alone = P.predict(m, c, model=bundle).to_frame().iloc[0]
    row = frame.set_index("patient_id").loc[pid]
    many = {x.patient_id: x for x in P.predict_many(
        [(markers[markers["patient_id"] == q], clinical[clinical["patient_id"] == q])
         for q in ("000003", pid, "000011")], model=bundle)}
    # the pyfunc input form: clinical columns repeated on every markers row
    pyfunc_input = m.merge(c[["patient_id", *CLINICAL_FACTORS, "recist"]], on="patient_id")
    pyfunc_row = P.score_frame(bundle, pyfunc_input).iloc[0]
    # the same numbers alone, in a cohort, in a batch and in the pyfunc form: each patient's
    # kinetics fit stops where that patient converged, whoever else is in the batch (the
    # vectorised arithmetic is elementwise, so at most the last bit may differ)
    for other in (pyfunc_row, row, many[pid].to_frame().iloc[0]):
        for col in ("probability", "p_low", "p_high", "k", "c0", "floor", "imodel_points"):
            assert other[col] == pytest.approx(alone[col], rel=1e-14, abs=0.0, nan_ok=True), col
        for col in ("decision", "recommendation", "warnings", "gcig_status", "mskcc_recommendation"):
            assert other[col] == alone[col], col


def test_pyfunc_form_splits_the_clinical_columns_by_the_readers_patient(bundle, scored):
    """The clinical columns of the pyfunc form are split per patient as the markers reader
    reads the identifier: 7 and 7.0 (an object column of concatenated pieces) are patient '7',
    whose two ECOG values differ. The split read them as two patients ('7' and '7.0'): patient
    7 was scored with the ECOG of its first row, the other ignored, beside a phantom '7.0'."""
    markers, clinical, _ = scored
    some = markers[markers["patient_id"].isin(["000003", "000007"])]
    pyfunc_input = some.merge(clinical[["patient_id", *CLINICAL_FACTORS, "recist"]], on="patient_id")
    pyfunc_input["patient_id"] = pyfunc_input["patient_id"].astype(int).astype(object)
    last = pyfunc_input.index[pyfunc_input["patient_id"] == 7][-1]
    pyfunc_input.loc[last, "patient_id"] = 7.0
    assert P.score_frame(bundle, pyfunc_input)["status"].tolist() == ["ok", "ok"]   # the same patient
    pyfunc_input.loc[last, "ecog"] = 3 - pyfunc_input.loc[last, "ecog"]
    result = P.score_frame(bundle, pyfunc_input)
    assert result["patient_id"].tolist() == ["3", "7"]
    assert result["status"].tolist() == ["ok", "invalid_input"]
    assert "column 'ecog' differs between rows of the patient" in result["reason"].iloc[1]
    alone = P.predict(pyfunc_input[pyfunc_input["patient_id"] == 7], model=bundle)
    assert alone.status == "invalid_input" and "column 'ecog' differs" in alone.reason
    # an identifier of spaces only is no patient, as the markers reader reads it
    blank = pyfunc_input.assign(patient_id=pyfunc_input["patient_id"].where(pyfunc_input["patient_id"] != 3, "  "))
    with pytest.raises(InvalidInputError, match="patient_id is empty"):
        P.score_frame(bundle, blank)


def test_pyfunc_form_reads_a_frame_whose_index_labels_repeat(bundle, scored):
    """The pyfunc input form (clinical columns on every markers row) is split by row
    position: a frame whose index repeats a label (e.g. concatenated pieces) scores as the
    same frame with a plain index. Before, the rows of a label were taken by label, so every
    patient's clinical values seemed to differ between its rows."""
    markers, clinical, _ = scored
    some = markers[markers["patient_id"].isin(["000003", "000007"])]
    pyfunc_input = some.merge(clinical[["patient_id", *CLINICAL_FACTORS, "recist"]], on="patient_id")
    plain = P.score_frame(bundle, pyfunc_input)
    repeated = P.score_frame(bundle, pyfunc_input.set_axis([0] * len(pyfunc_input)))
    assert (plain["status"] != "invalid_input").all()
    pd.testing.assert_frame_equal(repeated, plain)
    # a clinical value's problem names the patient and column: its row of the table made
    # from the repeated columns is no row of the input
    pyfunc_input["age"] = pyfunc_input["age"].astype(object).where(pyfunc_input["patient_id"] != "000007", "old")
    reason = P.score_frame(bundle, pyfunc_input).set_index("patient_id").loc["000007", "reason"]
    assert reason.startswith("invalid input: clinical table, column 'age': age 'old' is not a number"), reason


def _table_record(markers, clinical, bundle):
    """The patient as the table readers make it: read_markers/read_clinical on DataFrames, then
    io.records_from_frames (the reference of io.patient_record)."""
    from ca125kinetics.io import read_clinical, read_markers, records_from_frames

    m = pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in markers.items()})
    if "patient_id" not in m.columns:
        m["patient_id"] = (clinical or {}).get("patient_id") or "patient"
    c = None
    if clinical is not None:
        c = read_clinical(pd.DataFrame([{"patient_id": m["patient_id"].iloc[0], **clinical}], dtype=object),
                          on_error="flag",
                          require=("patient_id",))
    gs = bundle.gcig_settings
    frame = read_markers(m, clinical=c, uln=gs.uln, on_error="flag", duplicates=gs.duplicates)
    return records_from_frames(frame, c)


def _same_record(a, b) -> bool:
    """Field by field; NaN equals NaN (event-only and placeholder rows)."""
    def same(x, y):
        if isinstance(x, float) and isinstance(y, float) and x != x and y != y:
            return True
        return type(x) is type(y) and x == y

    for name in ("patient_id", "day", "ca125", "censored", "uln", "assay", "event", "problem",
                 "clinical_problem"):
        x, y = getattr(a, name), getattr(b, name)
        if isinstance(x, tuple):
            if len(x) != len(y) or not all(same(u, v) for u, v in zip(x, y)):
                return False
        elif x != y:
            return False
    ca, cb = a.clinical or {}, b.clinical or {}
    return set(ca) == set(cb) and all(same(ca[k], cb[k]) or ca[k] == cb[k] for k in ca)


def test_patient_record_reads_cohort_patients_as_the_table_readers_do(bundle, scored):
    from ca125kinetics.io import patient_record

    markers, clinical, _ = scored
    gs = bundle.gcig_settings
    ids = sorted(clinical["patient_id"])[:25]
    for pid in ids:
        rows = markers[markers["patient_id"] == pid]
        m = {c: rows[c].tolist() for c in ("patient_id", "day", "ca125", "censored", "uln", "event")}
        c = {k: (None if pd.isna(v) else v) for k, v in
             clinical.loc[clinical["patient_id"] == pid, ["patient_id", *CLINICAL_FACTORS, "recist"]]
             .iloc[0].items()}
        record = patient_record(m, c, uln=gs.uln, duplicates=gs.duplicates)
        table = _table_record(m, c, bundle)
        assert record.reason is None and len(table) == 1 and _same_record(record, table[0]), pid


# valid values; then at most one awkward or bad value planted in one field of one row, so that
# valid and invalid patients are both exercised
_good = {"day": st.integers(-30, 150), "ca125": st.one_of(st.floats(0.5, 3000), st.integers(0, 3000), st.sampled_from(
            ["12.5", " 40 ", "<5", "< 2.5", "<=3", "1e2", "7."])),
         "event": st.sampled_from([None] * 8 + ["paracentesis", "mouse_antibody", "surgery"]),
         "uln": st.sampled_from([None, None, 35.0, 30]), "censored": st.sampled_from([None, False, True])}
_bad = {"day": [21.0, 2.5, -400, 1900, "21", True, None, float("nan")],
        "ca125": [float("nan"), float("inf"), -3, -0.5, "abc", "", "inf", True, None],
        "event": ["Surgery", "bleeding", float("nan"), 3],
        "uln": [0, -1, float("nan"), "35", True], "censored": [1, float("nan"), "yes", 0.0]}
_clin_good = {"age": st.floats(20, 90), "ecog": st.integers(0, 4), "ascites_ml": st.floats(0, 3000),
              "figo_stage": st.sampled_from(["IIIC", "iv", "II", "I"]), "primary_residual_disease": st.integers(0, 1),
              "pfi_months": st.floats(6, 60), "recurrence_pattern": st.sampled_from(["single", " Multiple "]),
              "recist": st.sampled_from(["PR", "pd", "SD"])}
_clin_bad = [-2, 700, 1.5, float("nan"), float("inf"), True, "V", "XX", "", "2", None]


@st.composite
def _one_patient(draw):
    n = draw(st.integers(1, 6))
    m = {k: [draw(v) for _ in range(n)] for k, v in _good.items()}
    if draw(st.booleans()):
        field = draw(st.sampled_from(sorted(_bad)))
        m[field][draw(st.integers(0, n - 1))] = draw(st.sampled_from(_bad[field]))
    pid = draw(st.sampled_from(["p1", " p2", "007", None]))
    if pid is not None:
        m["patient_id"] = [pid] * n
    keys = draw(st.lists(st.sampled_from(sorted(_clin_good)), unique=True, max_size=8))
    clin = {k: draw(_clin_good[k]) for k in keys}
    if keys and draw(st.booleans()):
        clin[draw(st.sampled_from(keys + ["arm"]))] = draw(st.sampled_from(_clin_bad))
    return m, clin


@settings(max_examples=200, deadline=None)
@given(case=_one_patient())
# samples with and without a ULN in one patient are generated: both readers warn alike
@pytest.mark.filterwarnings("ignore:.*uln is empty in :ca125kinetics.errors.DataQualityWarning")
def test_patient_record_of_any_mapping_is_the_table_readers_record(bundle, case):
    """Valid or not, a patient given as a mapping gets exactly the record (values, reasons)
    that the table readers give the same patient as a DataFrame."""
    from ca125kinetics.io import patient_record

    m, clin = case
    gs = bundle.gcig_settings
    record = patient_record(m, clin, uln=gs.uln, duplicates=gs.duplicates)
    table = _table_record(m, clin, bundle)
    assert len(table) == 1 and _same_record(record, table[0])


def test_predict_many_mixes_plain_and_awkward_inputs(bundle):
    """Plain, awkward and bad items are scored together; each gets what predict gives it
    alone (a bad item is reported, not raised)."""
    plain = ({"patient_id": "a1", **WORKED}, {"patient_id": "a1", **CLINICAL})
    awkward = ({"patient_id": ["a2"] * 4, "day": [0, 21, 42, 63], "ca125": ["400", "abc", "120", "<20"]}, None)
    frame = ({"patient_id": ["a3"] * 4, "day": [0, 21, 42, 63], "ca125": ["400", "180", "120", "<20"]}, None)
    many = P.predict_many([plain, awkward, frame], model=bundle)
    assert [m.patient_id for m in many] == ["a1", "a2", "a3"]
    assert many[1].status == "invalid_input" and "abc" in many[1].reason
    for item, result in zip((plain, frame), (many[0], many[2])):
        alone = P.predict(*item, model=bundle)
        assert result.to_dict() == alone.to_dict()


def test_cohort_keeps_everyone_with_fixed_columns(scored):
    markers, clinical, frame = scored
    assert list(frame.columns) == list(P.SCORE_COLUMNS)
    assert list(frame["patient_id"]) == sorted(clinical["patient_id"])
    assert set(frame["decision"]) <= set(P.DECISIONS)
    ok = frame[frame["status"] == "ok"]
    assert ok["probability"].between(0, 1).all()
    assert (ok["p_low"] <= ok["p_high"]).all()
    assert frame["k"].dtype == "float64" and frame["gcig_responded"].dtype == "boolean"
    # consistency of the decision with the rule order
    fired = frame["decision"].isin(["resectable", "not_resectable"])
    assert (frame.loc[fired, "probability"] >= 0.70).eq(frame.loc[fired, "decision"] == "resectable").all()
    assert frame.loc[frame["progressed"].fillna(False).astype(bool), "decision"].eq("not_candidate_progression").all()


def test_censored_values_survive_a_canonical_frame(bundle, cohort):
    """A canonical frame carries '<x' values as ca125 = x, censored = True; scoring must keep
    the flag (re-reading it as a plain number would change k)."""
    m = pd.DataFrame({"patient_id": "c1", "day": [-3, 21, 42, 63], "ca125": [300.0, 60.0, 12.0, 5.0],
                      "censored": [False, False, False, True]})
    as_text = m.drop(columns="censored").assign(ca125=["300", "60", "12", "<5"])
    a = P.predict(m, model=bundle)
    b = P.predict(as_text, model=bundle)
    assert any("below the assay limit" in w for w in a.warnings)
    assert a.kinetics["k"] == b.kinetics["k"]
    assert a.series[-1]["censored"] is True


def test_bad_patient_in_a_cohort_is_kept_with_its_reason(bundle, cohort):
    ids = ["000001", "000002"]
    markers = cohort.markers[cohort.markers["patient_id"].isin(ids)].copy()
    markers.loc[markers.index[markers["patient_id"] == "000002"][1], "ca125"] = -1.0
    extra = pd.DataFrame([{"patient_id": "no-markers", "age": 50.0}])
    clinical = pd.concat([cohort.clinical[cohort.clinical["patient_id"].isin(ids)], extra], ignore_index=True)
    frame = P.predict_cohort(markers, clinical, model=bundle).set_index("patient_id")
    assert frame.loc["000001", "status"] == "ok"
    assert frame.loc["000002", "status"] == "invalid_input" and "negative" in frame.loc["000002", "reason"]
    assert math.isnan(frame.loc["000002", "probability"])
    assert frame.loc["no-markers", "status"] == "not_scored"
    assert "no CA-125 markers" in frame.loc["no-markers", "reason"]


def test_cohort_reads_text_numbers_and_dates_as_the_caller_states(bundle, cohort):
    """Decimal commas, thousands dots and day-first dates in both tables: flagged without
    the options (never guessed), and with them the scores of the same patients written
    plainly."""
    ids = ["000001", "000002", "000003"]
    markers = cohort.markers[cohort.markers["patient_id"].isin(ids)].reset_index(drop=True)
    clinical = cohort.clinical[cohort.clinical["patient_id"].isin(ids)].reset_index(drop=True)
    plain = P.predict_cohort(markers, clinical, model=bundle)
    start = pd.Timestamp("2024-03-04")
    written = markers.assign(
        ca125=[f"{v:,.3f}".replace(",", " ").replace(".", ",").replace(" ", ".") for v in markers["ca125"]],
        date=(start + pd.to_timedelta(markers["day"], unit="D")).dt.strftime("%d/%m/%Y")).drop(columns="day")
    written_clinical = clinical.assign(treatment_start="04/03/2024",
                                       age=[f"{v:.1f}".replace(".", ",") for v in clinical["age"]])
    assert (P.predict_cohort(written, written_clinical, model=bundle)["status"] == "invalid_input").all()
    stated = P.predict_cohort(written, written_clinical, model=bundle, date_format="%d/%m/%Y", decimal=",",
                              thousands=".")
    columns = ["patient_id", "status", "probability", "k", "gcig_status", "decision"]
    pd.testing.assert_frame_equal(stated[columns], plain[columns], rtol=1e-6)


def _mixed_cohort(cohort, n: int):
    """The first ``n`` patients of the cohort with every kind of row the text columns hold:
    an invalid patient, one without markers, unknown clinical factors (decision withheld),
    unknown RECIST, a patient with markers and no clinical row."""
    ids = sorted(cohort.clinical["patient_id"])[:n]
    markers = cohort.markers[cohort.markers["patient_id"].isin(ids)].reset_index(drop=True)
    clinical = cohort.clinical[cohort.clinical["patient_id"].isin(ids[:-1])].reset_index(drop=True)
    markers.loc[markers.index[markers["patient_id"] == ids[1]][1], "ca125"] = -1.0
    clinical.loc[2:n // 3, "ecog"] = np.nan
    clinical.loc[n // 3:n // 2, "recist"] = None
    clinical.loc[n // 2:n // 2 + 5, ["age", "pfi_months"]] = np.nan
    extra = pd.DataFrame([{"patient_id": "no-markers", "age": 50.0}])
    return markers, pd.concat([clinical, extra], ignore_index=True)


@pytest.mark.parametrize("n", [40, 300])
@pytest.mark.parametrize("allow_imputed", [False, True])
def test_text_columns_built_by_arrow_or_as_python_strings_are_the_same(monkeypatch, bundle, cohort, n,
                                                                       allow_imputed):
    """The engine's text columns are Python strings below ``_columns.ARROW_MIN`` patients and
    Arrow string arrays from there (the GCIG reasons, the published scores' and kinetics'
    texts, the recommendations): either way, for a cohort of a few or of many patients, the
    score frame (dtypes included) and the rows ``predict`` reads are the same."""
    from ca125kinetics import _columns
    from ca125kinetics.io import records_from_frames

    engine = importlib.import_module("ca125kinetics.predict.engine")
    markers, clinical = _mixed_cohort(cohort, n)
    records = records_from_frames(markers, clinical)
    got = {}
    for arrow_min in (1, 10 ** 9):
        monkeypatch.setattr(_columns, "ARROW_MIN", arrow_min)
        got[arrow_min] = (P.predict_cohort(markers, clinical, model=bundle, allow_imputed=allow_imputed),
                          engine._score_patients(bundle, records, {}, allow_imputed))
    (arrow, arrow_rows), (objects, object_rows) = got.values()
    pd.testing.assert_frame_equal(arrow, objects, check_exact=True)
    assert arrow_rows == object_rows
    assert set(arrow["status"]) >= {"ok", "invalid_input", "not_scored"}
    for column in ("reason", "kinetics_status", "combined_category"):     # texts and missing values
        assert arrow[column].isna().any() and arrow[column].notna().any(), column
    assert arrow["rule"].str.contains("decision withheld").any() != allow_imputed
    assert arrow["patient_id"].dtype == object and arrow["recommendation"].dtype == pd.Series(["x"]).dtype


# ----------------------------------------------------------------------------- decision rule


ROW = dict(status="ok", reason=None, probability=0.8, progressed=False, progression_day=None,
           progression_group=None, recist=None, gcig_status="response", gcig_responded=True, gcig_category="PR",
           gcig_response_day=21, gcig_confirmation_day=63, gcig_reason="confirmed")


def _gcig(responded: bool) -> dict:
    """The GCIG fields of a decision row with or without a confirmed response."""
    return {"gcig_responded": responded, "gcig_status": "response" if responded else "no_response"}


@pytest.mark.parametrize("changes, decision", [
    ({}, "resectable"),
    ({"probability": 0.70}, "resectable"),  # at the threshold: >=
    ({"probability": 0.6999}, "not_resectable"),
    ({"progressed": True, "progression_day": 42, "progression_group": "B"}, "not_candidate_progression"),
    ({"recist": "PD"}, "not_candidate_recist_pd"),
    (_gcig(False), "insufficient_information"),
    ({**_gcig(False), "recist": "CR"}, "resectable"),
    ({"gcig_responded": False, "gcig_status": "unconfirmed"}, "insufficient_information"),
    ({"status": "invalid_input", "reason": "bad"}, "invalid_input"),
    ({"status": "not_scored", "reason": "no markers"}, "not_scored"),
])
def test_decision_rule_table(changes, decision):
    d, rule, text = P._decide({**ROW, **changes}, 0.70, synthetic=False)
    assert d == decision
    assert text.endswith("Research software, not a medical device.")
    assert rule


@settings(max_examples=200, deadline=None)
@given(p=st.floats(0, 1), progressed=st.booleans(), responded=st.booleans(),
       recist=st.sampled_from([None, "CR", "PR", "SD", "PD"]), threshold=st.floats(0.05, 0.95),
       synthetic=st.booleans())
def test_decision_rule_order_property(p, progressed, responded, recist, threshold, synthetic):
    row = {**ROW, "probability": p, "progressed": progressed, **_gcig(responded), "recist": recist}
    d, _, text = P._decide(row, threshold, synthetic)
    if progressed:
        assert d == "not_candidate_progression"
    elif recist == "PD":
        assert d == "not_candidate_recist_pd"
    elif not responded and recist not in ("CR", "PR", "SD"):
        assert d == "insufficient_information"
    else:
        assert d == ("resectable" if p >= threshold else "not_resectable")
    assert text.endswith(P.DISCLAIMER + (" " + P.SYNTHETIC_NOTE if synthetic else ""))


# GCIG series (ULN 35 U/mL): a confirmed PR, no response, a fall not yet confirmed, not evaluable
_SERIES = {
    "response": [(0, 400), (21, 180), (42, 195), (63, 150)],
    "no_response": [(0, 400), (21, 300), (42, 280), (63, 260)],
    "unconfirmed": [(0, 400), (21, 180)],
    "not_evaluable": [(-3, 59), (21, 20), (42, 18), (63, 15)],
    "awaiting": [(-9, 350), (-2, 400)],
}


@pytest.mark.parametrize("recist", [None, "CR", "SD", "PD"])
@pytest.mark.parametrize("series", list(_SERIES))
def test_entry_criterion_is_the_screens_inclusion_3(bundle, recist, series):
    """predict's entry criterion and ``ca125 screen``'s RESCUE inclusion 3 give the same outcome
    for the same patient (RECIST PD aside: predict's rule 3 takes it first)."""
    from ca125kinetics.eligibility import screen

    days, values = zip(*_SERIES[series])
    clinical = {**CLINICAL, "recist": recist}
    p = P.predict({"day": list(days), "ca125": list(values)}, clinical, model=bundle)
    assert p.gcig["status"] == series
    i3 = next(c for c in screen(pd.DataFrame([{"patient_id": "p1", "recist": recist}]),
                                pd.DataFrame({"patient_id": "p1", "day": days, "ca125": values})).patients[0].criteria
              if c.criterion == "I3")
    if recist == "PD":
        assert p.decision == "not_candidate_recist_pd"
    elif i3.outcome == "met" and series == "awaiting":     # entry by RECIST, but no kinetics: rule 5
        assert p.decision == "insufficient_information"
        assert p.reason.startswith("insufficient information: give the on-treatment CA-125 values")
    elif i3.outcome == "met" and recist is None:   # entry by the GCIG response; RECIST is a model input
        assert p.decision == "insufficient_information"
        assert p.reason.startswith("insufficient information: give recist; the probability shown was computed")
    elif i3.outcome == "met":
        assert p.decision in ("resectable", "not_resectable")
    else:
        assert i3.outcome == "missing" and p.decision == "insufficient_information"
        assert p.reason.startswith("insufficient information: give recist")


def test_decision_follows_the_criteria_file(monkeypatch):
    """The entry criterion is read from the criteria file, not restated: a criterion that
    admits RECIST CR/PR only makes SD without a GCIG response 'not a candidate'."""
    from ca125kinetics import eligibility

    narrower = eligibility.Criterion("I3", "inclusion", "RECIST CR or PR, or a GCIG response", eligibility.Group(
        "any", (eligibility.Condition("recist", "in", ("CR", "PR")),
                eligibility.Condition("gcig_response", "eq", "response"))))
    row = {**ROW, **_gcig(False), "recist": "SD"}
    assert P._decide(row, 0.7, False)[0] == "resectable"
    monkeypatch.setattr(eligibility, "entry_criterion", lambda: narrower)
    d, rule, text = P._decide(row, 0.7, False)
    assert d == "not_candidate_entry" and rule.startswith("no response that meets the entry criterion")
    assert text.startswith("Not a candidate for secondary cytoreduction: no response during the neoadjuvant cycles "
                           "that meets the entry criterion (RESCUE admits RECIST CR/PR or a GCIG response): RECIST "
                           "SD, GCIG CA-125 no_response (confirmed).")
    assert P._decide({**ROW, "recist": "SD"}, 0.7, False)[0] == "resectable"   # by the GCIG response


@settings(max_examples=100, deadline=None)
@given(k=st.floats(1e-4, 1.0), floor=st.floats(0.5, 30), extra=st.floats(1, 5000))
def test_curve_is_monotone_between_c0_and_floor(k, floor, extra):
    c0 = floor + extra
    pts = P.curve_points(k, floor, c0, first_day=-10, last_day=100)
    values = [v for _, v in pts]
    assert len(pts) == 51 and values[0] == pytest.approx(c0, abs=1e-3)
    assert all(a >= b - 1e-9 for a, b in zip(values, values[1:]))
    assert all(floor - 1e-3 <= v <= c0 + 1e-3 for v in values)
    assert P.curve_points(float("nan"), floor, c0) == ()


# ----------------------------------------------------------------------------- loading and integrity


def test_load_model_caches_and_resolves_paths(model_dir, monkeypatch):
    a = P.load_model(model_dir)
    assert P.load_model(model_dir / "bundle.joblib") is not None
    assert P.load_model(str(model_dir)) is a  # cached while the files are unchanged
    monkeypatch.setenv("CA125_MODEL_DIR", str(model_dir))
    assert P.default_model_dir() == model_dir
    assert P.load_model(None) is a


@pytest.fixture
def model_copy(model_dir, tmp_path):
    P.clear_model_cache()
    yield shutil.copytree(model_dir, tmp_path / "copy")
    P.clear_model_cache()


class _Payload:
    """Unpickling this creates the file ``marker``: proof that code ran on load."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_changed_bundle_is_refused_before_unpickling(model_copy, tmp_path):
    import joblib

    marker = tmp_path / "code-ran"
    joblib.dump(_Payload(marker), model_copy / "bundle.joblib")
    with pytest.raises(ModelIntegrityError, match=r"'bundle.joblib' was changed"):
        P.load_model(model_copy)
    with pytest.raises(ModelIntegrityError, match=r"'bundle.joblib' was changed"):
        P.load_model(model_copy / "bundle.joblib")
    assert not marker.exists()


def test_unknown_file_and_missing_manifest_are_refused(model_copy):
    (model_copy / "extra.pkl").write_bytes(b"x")
    with pytest.raises(ModelIntegrityError, match=r"'extra.pkl' .*is not listed"):
        P.load_model(model_copy)
    (model_copy / "extra.pkl").unlink()
    P.load_model(model_copy)  # back to the verified content
    (model_copy / "MANIFEST.sha256").unlink()
    P.clear_model_cache()
    with pytest.raises(ModelIntegrityError, match="has no MANIFEST.sha256"):
        P.load_model(model_copy)


def test_change_after_loading_is_noticed(model_copy):
    P.load_model(model_copy)
    with open(model_copy / "bundle.json", "a") as handle:
        handle.write(" ")
    with pytest.raises(ModelIntegrityError, match=r"'bundle.json' was changed"):
        P.load_model(model_copy)


@pytest.mark.parametrize("scoring_only", [False, True])
def test_a_bundle_inside_an_export_is_checked_against_its_own_manifest_too(model_dir, tmp_path, scoring_only):
    """An exported model holds the bundle's manifest inside the outer one. The outer manifest
    rewritten over a changed bundle directory (e.g. by ``sha256sum * > MANIFEST.sha256``) must
    not hide the change: MLflow's loader checks the inner manifest, and so does load_model."""
    import shutil

    from ca125kinetics.integrity import write_manifest

    outer = tmp_path / "export"
    inner = outer / "mlflow_model" / "artifacts" / "bundle"
    shutil.copytree(model_dir, inner)
    write_manifest(outer)
    assert P.load_model(outer, scoring_only=scoring_only) is not None
    with open(inner / "bundle.json", "a") as handle:
        handle.write(" ")
    write_manifest(outer)
    P.clear_model_cache()
    with pytest.raises(ModelIntegrityError, match=r"'bundle.json' was changed"):
        P.load_model(outer, scoring_only=scoring_only)


def test_missing_model_is_a_clear_error(tmp_path, monkeypatch):
    with pytest.raises(ModelNotFoundError, match="no model at"):
        P.load_model(tmp_path / "nope")
    monkeypatch.setenv("CA125_MODEL_DIR", str(tmp_path / "nope"))
    with pytest.raises(ModelNotFoundError, match="no default model"):
        P.load_model(None)
    with pytest.raises(InvalidInputError, match="model must be"):
        P.load_model(3.5)


# ----------------------------------------------------------------------------- command line


def _args(**kw):
    base = dict(markers=None, clinical=None, patient=None, model=None, format=None, out=None)
    return Namespace(**{**base, **kw})


@pytest.fixture(scope="session")
def tables(tmp_path_factory, scored):
    markers, clinical, _ = scored
    root = tmp_path_factory.mktemp("tables")
    ids = sorted(clinical["patient_id"])[:3]
    m = markers[markers["patient_id"].isin(ids)].copy()
    m["ca125"] = [f"<{v:g}" if c else f"{v:g}" for v, c in zip(m["ca125"], m["censored"])]
    m.drop(columns="censored").to_csv(root / "markers.csv", index=False)
    clinical[clinical["patient_id"].isin(ids)].to_csv(root / "clinical.csv", index=False)
    return root, ids


def test_cli_one_patient_text_is_a_readable_report(model_dir, tables, capsys):
    root, ids = tables
    code = S.cli_score(_args(markers=root / "markers.csv", clinical=root / "clinical.csv", patient=ids[1],
                             model=str(model_dir)))
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith(f"Patient {ids[1]}\n")
    for line in ("Probability of complete resection: ", "GCIG CA-125 response: ", "KELIM-like k: ",
                 "Recommendation: ", "Rule: ", "Model: test-small 0.0.0+test"):
        assert line in out


def test_cli_formats_match_predict(model_dir, tables, capsys, bundle):
    root, ids = tables
    S.cli_score(_args(markers=root / "markers.csv", clinical=root / "clinical.csv", patient=ids[0],
                      model=str(model_dir), format="json"))
    data = json.loads(capsys.readouterr().out)
    S.cli_score(_args(markers=root / "markers.csv", clinical=root / "clinical.csv", model=str(model_dir),
                      out=str(root / "all.csv")))
    frame = pd.read_csv(root / "all.csv", dtype={"patient_id": str})
    assert list(frame["patient_id"]) == ids
    assert list(frame.columns) == list(P.SCORE_COLUMNS) + ["rules", "package_version"]
    rules = json.loads(frame["rules"].iloc[0])
    assert rules["gcig"] == bundle.gcig_settings.to_dict() and rules["kinetics"] == bundle.kinetics_settings.to_dict()
    assert rules["model"] == "test-small 0.0.0+test" and rules["threshold"] == bundle.threshold
    assert rules["scores"]["imodel_ecog4"] == "poor" and set(frame["package_version"]) == {ca125kinetics.__version__}
    assert data["package_version"] == ca125kinetics.__version__ and data["rules"] == rules
    assert frame.set_index("patient_id").loc[ids[0], "probability"] == pytest.approx(data["probability"], rel=1e-12)
    assert "wrote 3 patient(s)" in capsys.readouterr().err
    S.cli_score(_args(markers=root / "markers.csv", clinical=root / "clinical.csv", model=str(model_dir)))
    text = capsys.readouterr().out
    assert "3 patient(s): " in text and "Research software, not a medical device." in text


def test_cli_unknown_patient_is_a_clear_error(model_dir, tables):
    root, _ = tables
    with pytest.raises(InvalidInputError, match="patient 'nobody' has no rows in the markers table"):
        S.cli_score(_args(markers=root / "markers.csv", patient="nobody", model=str(model_dir)))


def test_cli_patient_without_the_tables_leading_zeros_is_told_the_id(model_dir, tmp_path):
    # '--patient 7' of a table holding '007' said only "check --patient"
    markers = tmp_path / "m.csv"
    markers.write_text("patient_id,day,ca125\n007,-3,400\n007,21,180\n")
    for typed in ("7", "0007"):
        with pytest.raises(InvalidInputError, match=r"the table has patient '007': give --patient 007"):
            S.cli_score(_args(markers=markers, patient=typed, model=str(model_dir)))
    with pytest.raises(InvalidInputError, match=r"check --patient$"):
        S.cli_score(_args(markers=markers, patient="8", model=str(model_dir)))


def test_scoring_imports_no_mlflow_web_framework_or_scikit_learn(model_dir, tables):
    """``ca125 score`` reads the model's scoring file (scorer.json): no unpickling, so neither
    scikit-learn nor joblib is imported (nor mlflow, the web framework or matplotlib)."""
    import subprocess
    import sys

    root, ids = tables
    assert (model_dir / "scorer.json").is_file()
    code = ("import sys; from ca125kinetics.cli.score import _main; rc = _main(['--markers', sys.argv[1], "
            "'--patient', sys.argv[2], '--model', sys.argv[3]]); "
            "heavy = sorted(m for m in ('mlflow', 'fastapi', 'matplotlib', 'uvicorn', 'sklearn', 'joblib', "
            "'scipy', 'numba') if m in sys.modules); print('HEAVY', heavy); sys.exit(rc)")
    res = subprocess.run([sys.executable, "-c", code, str(root / "markers.csv"), ids[0], str(model_dir)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "HEAVY []" in res.stdout


# ----------------------------------------------------------------------------- MLflow pyfunc


@pytest.fixture(scope="session")
def exported(tmp_path_factory, bundle, scored):
    from ca125kinetics.mlflow_model import export_model, pyfunc_input_example

    markers, clinical, _ = scored
    ids = sorted(clinical["patient_id"])[:4]
    example = pyfunc_input_example(markers, clinical, ids)
    with warnings.catch_warnings():
        # mlflow's own signature inference warns (untyped pyfunc input; pandas deprecations
        # inside mlflow): the export is this fixture's set-up, not what these tests check
        warnings.simplefilter("ignore")
        directory = export_model(bundle, tmp_path_factory.mktemp("export") / "model", input_example=example)
    return directory, example


def test_mlflow_pyfunc_returns_the_numbers_of_predict_cohort(exported, bundle):
    import mlflow.pyfunc

    directory, example = exported
    via_mlflow = mlflow.pyfunc.load_model(str(directory / "mlflow_model")).predict(example)
    direct = P.predict_cohort(example, model=bundle)
    pd.testing.assert_frame_equal(via_mlflow.reset_index(drop=True), direct, check_dtype=False)
    # the exported directory itself loads through load_model (root manifest verified)
    assert P.load_model(directory).version == bundle.version


def test_exported_model_with_a_planted_file_is_refused(exported, tmp_path):
    directory, _ = exported
    copy = shutil.copytree(directory, tmp_path / "copy")
    (copy / "mlflow_model" / "artifacts" / "bundle" / "evil.pkl").write_bytes(b"x")
    with pytest.raises(ModelIntegrityError, match="evil.pkl"):
        P.load_model(copy)


@pytest.mark.slow
def test_mlflow_models_serve_returns_the_same_numbers(exported, bundle, tmp_path):
    """``mlflow models serve --env-manager local`` on loopback, scored over HTTP."""
    import os
    import socket
    import subprocess
    import sys
    import time

    import httpx

    mlflow_cli = os.path.join(os.path.dirname(sys.executable), "mlflow")
    if not os.path.exists(mlflow_cli):
        pytest.skip("the mlflow command is not installed next to this Python")
    directory, example = exported
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # mlflow execs the uvicorn of PATH: the one next to this Python
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"file:{tmp_path / 'mlruns'}",
           "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")}
    log = open(tmp_path / "serve.log", "wb")
    proc = subprocess.Popen([mlflow_cli, "models", "serve", "-m", str(directory / "mlflow_model"),
                             "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        payload = {"dataframe_split": json.loads(example.to_json(orient="split", index=False))}
        deadline = time.monotonic() + 120
        while True:
            try:
                resp = httpx.post(f"http://127.0.0.1:{port}/invocations", json=payload, timeout=30)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"mlflow models serve did not start: {(tmp_path / 'serve.log').read_text()[-2000:]}")
                time.sleep(0.5)
        assert resp.status_code == 200, resp.text
        served = pd.DataFrame(resp.json()["predictions"])
        direct = P.predict_cohort(example, model=bundle)
        assert list(served["patient_id"].astype(str)) == list(direct["patient_id"])
        for col in ("probability", "p_low", "p_high", "k"):
            np.testing.assert_allclose(served[col].astype(float), direct[col], rtol=1e-12)
        assert list(served["recommendation"]) == list(direct["recommendation"])
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(15)
        log.close()


@pytest.fixture
def registry(model_dir, tmp_path, monkeypatch):
    """A local MLflow registry (SQLite) holding the small model as models:/ca125-test@champion."""
    import mlflow
    from mlflow import MlflowClient

    from ca125kinetics.mlflow_model import log_pyfunc_model

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mlflow's own deprecation chatter while logging
        experiment = mlflow.create_experiment("predict-tests", artifact_location=(tmp_path / "artifacts").as_uri())
        with mlflow.start_run(experiment_id=experiment) as run:
            info = log_pyfunc_model(model_dir)
        client = MlflowClient(tracking_uri=uri)
        client.create_registered_model("ca125-test")
        version = client.create_model_version(name="ca125-test", source=info.model_uri, run_id=run.info.run_id,
                                              model_id=info.model_id)
        client.set_registered_model_alias("ca125-test", "champion", str(version.version))
    P.clear_model_cache()
    yield tmp_path / "artifacts"
    P.clear_model_cache()


def test_a_model_directory_reached_through_a_link_is_logged(model_dir, tmp_path):
    """The shipped model is reached through a link (``default_model_dir()``,
    ``src/ca125kinetics/data/models/default``): MLflow refused such a directory as an artifact
    ('resolved path is outside the artifact directory'), which stopped
    ``benchmarks/bench_predict.py`` registering the shipped model."""
    import mlflow

    from ca125kinetics.mlflow_model import pyfunc_arguments

    link = tmp_path / "model-link"
    link.symlink_to(model_dir, target_is_directory=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mlflow's own chatter while saving
        mlflow.pyfunc.save_model(path=str(tmp_path / "saved"), **pyfunc_arguments(link))
    [copied] = (tmp_path / "saved").rglob("bundle.json")
    assert copied.read_bytes() == (model_dir / "bundle.json").read_bytes()


def test_mlflow_model_uri_is_verified_and_loaded(registry, bundle):
    loaded = P.load_model("models:/ca125-test@champion")
    assert loaded.version == bundle.version
    assert P.load_model("models:/ca125-test@champion") is loaded  # cached per URI
    assert P.predict(WORKED, CLINICAL, model=loaded).probability == P.predict(WORKED, CLINICAL,
                                                                               model=bundle).probability


def test_a_relative_sqlite_registry_uri_is_the_working_directorys(registry, monkeypatch):
    """``sqlite:///mlflow.db`` (train's default, relative) named the registry: loading by alias
    ended in a ValueError traceback ('relative path can't be expressed as a file URI')."""
    monkeypatch.chdir(registry.parent)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db")
    P.clear_model_cache()
    assert P.load_model("models:/ca125-test@champion", scoring_only=True).name == P.load_model(
        "models:/ca125-test@champion").name


def test_tampered_registry_model_is_refused(registry):
    stored = next(registry.rglob("bundle.joblib"))
    stored.write_bytes(stored.read_bytes() + b"\0")
    with pytest.raises(ModelIntegrityError, match=r"bundle.joblib' was changed"):
        P.load_model("models:/ca125-test@champion")
    with pytest.raises(ModelNotFoundError, match="could not resolve the MLflow model URI"):
        P.load_model("models:/no-such-model@champion")


@pytest.mark.parametrize("changed", ["_pyfunc_code.py", "MLmodel", "requirements.txt"])
def test_a_changed_file_of_a_registered_model_outside_its_bundle_is_refused(registry, changed, tmp_path):
    """The registry's copy of a model (what ``models:/NAME@champion`` names) carried a manifest
    only in ``artifacts/bundle/``: its ``_pyfunc_code.py``, which ``mlflow.pyfunc.load_model`` runs,
    and its ``MLmodel`` could be changed and the model still loaded, and the documented check
    (``verify_manifest`` on the model's directory) refused every registered model for want of a
    manifest. The logged model now carries one at its root, written from the files the store holds."""
    import mlflow

    from ca125kinetics.integrity import verify_manifest

    [root] = {m.parent for m in registry.rglob("MLmodel")}
    verify_manifest(root)
    P.load_model("models:/ca125-test@champion")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mlflow's own chatter while downloading
        copy = Path(mlflow.artifacts.download_artifacts("models:/ca125-test@champion", dst_path=str(tmp_path / "dl")))
    assert (copy / "registered_model_meta").is_file()       # mlflow's note of what it downloaded ...
    verify_manifest(copy)                                   # ... is not a file of the model
    with open(root / changed, "a") as handle:
        handle.write("\n# changed\n")
    P.clear_model_cache()
    for scoring_only in (False, True):
        with pytest.raises(ModelIntegrityError, match=f"'{changed}' was changed"):
            P.load_model("models:/ca125-test@champion", scoring_only=scoring_only)
    with pytest.raises(ModelIntegrityError, match=f"'{changed}' was changed"):
        verify_manifest(root)


@pytest.mark.parametrize(("field", "value"), [("threshold", 0.123), ("trained_on_synthetic", "flipped")])
def test_edited_metadata_of_a_registry_model_is_refused_as_in_a_directory(registry, field, value):
    """A registry model's bundle.json edited (threshold, synthetic-data flag) under a rewritten
    manifest: loaded from its directory it is refused, but through models:/NAME@ALIAS it loaded
    and scored with the pickle's own values while the metadata said otherwise."""
    from ca125kinetics.integrity import write_manifest

    meta = next(registry.rglob("bundle.json"))
    data = json.loads(meta.read_text())
    data[field] = (not data[field]) if value == "flipped" else value
    meta.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    write_manifest(meta.parent)
    write_manifest(next(registry.rglob("MLmodel")).parent)   # and the logged model's, coherently
    for scoring_only in (False, True):
        P.clear_model_cache()
        with pytest.raises(ModelIntegrityError, match=f"states {field} .* but the model scores with"):
            P.load_model(meta.parent, scoring_only=scoring_only)
        with pytest.raises(ModelIntegrityError, match=f"states {field} .* but the model scores with"):
            P.load_model("models:/ca125-test@champion", scoring_only=scoring_only)


def test_a_registry_version_whose_artifacts_are_gone_is_not_found_without_mlflow(registry):
    """The alias resolves (sqlite3) to a local directory that no longer exists: a clear
    ModelNotFoundError naming the version and the missing directory, not a hand-over to mlflow
    (whose download of a missing local path fails with its own, less clear error)."""
    import shutil

    P.load_model("models:/ca125-test@champion", scoring_only=True)
    shutil.rmtree(registry)
    P.clear_model_cache()
    with pytest.raises(ModelNotFoundError, match=r"version 1 of 'ca125-test'.*artifacts .* do not exist"):
        P.load_model("models:/ca125-test@champion", scoring_only=True)


def test_cli_scores_with_a_registry_uri_quietly(registry, tables, capsys):
    root, ids = tables
    assert S.cli_score(_args(markers=root / "markers.csv", patient=ids[0], model="models:/ca125-test@champion")) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith(f"Patient {ids[0]}") and "Downloading" not in captured.err


# ----------------------------------------------------------------------------- missing predictors


@settings(max_examples=200, deadline=None)
@given(p=st.floats(0, 1), progressed=st.booleans(), responded=st.booleans(),
       recist=st.sampled_from([None, "CR", "PR", "SD", "PD"]),
       missing=st.lists(st.sampled_from(P.REQUIRED_PREDICTORS), unique=True), allow=st.booleans())
def test_missing_predictors_withhold_only_the_probability_decision(p, progressed, responded, recist, missing, allow):
    """Decisions that do not use the probability stand; the probability decision needs every
    predictor, or the caller's explicit consent to imputed values."""
    row = {**ROW, "probability": p, "progressed": progressed, **_gcig(responded), "recist": recist}
    d, _, text = P._decide(row, 0.7, False, missing=missing, allow_imputed=allow)
    plain, _, _ = P._decide(row, 0.7, False)
    if plain in ("resectable", "not_resectable") and missing and not allow:
        assert d == "insufficient_information"
        assert text.startswith(f"Insufficient information: give {', '.join(missing)}.")
    else:
        assert d == plain
        if missing and plain in ("resectable", "not_resectable"):
            assert "imputed (allowed by the caller)" in text


def test_markers_only_is_insufficient_not_resectable(bundle):
    p = P.predict(WORKED, model=bundle)
    assert p.status == "insufficient" and p.decision == "insufficient_information" and p.resectable is None
    assert p.reason.startswith("insufficient information: give age, ecog, ascites_ml, figo_stage")
    assert 0 <= p.probability <= 1                          # shown, marked as imputed
    assert "no decision" in p.recommendation and "imputed" in p.recommendation
    assert "computed with unknown factors imputed" in p.to_text() and "Decision withheld" in p.to_text()
    one_missing = P.predict(WORKED, {k: v for k, v in CLINICAL.items() if k != "ecog"}, model=bundle)
    assert one_missing.status == "insufficient" and "give ecog;" in one_missing.reason
    full = P.predict(WORKED, CLINICAL, model=bundle)
    assert full.status == "ok" and full.decision in ("resectable", "not_resectable")
    # the caller opts in: the same probability, a decision that says it used imputed values
    opted = P.predict(WORKED, model=bundle, allow_imputed=True)
    assert opted.status == "ok" and opted.decision in ("resectable", "not_resectable")
    assert opted.probability == p.probability and "imputed (allowed by the caller)" in opted.recommendation
    # its probability line still says what the number rests on (it said nothing once allowed)
    line = next(x for x in opted.to_text().splitlines() if "Probability of complete resection" in x)
    assert line.endswith("-- computed with unknown factors imputed (allowed by the caller)")
    known = P.predict(WORKED, CLINICAL, model=bundle, allow_imputed=True)        # nothing imputed
    assert "imputed" not in next(x for x in known.to_text().splitlines() if "Probability of complete" in x)
    # the same through the cohort path and predict_many
    frame = P.predict_cohort(pd.DataFrame({"patient_id": "x", **WORKED}), model=bundle)
    assert frame["status"].tolist() == ["insufficient"] and frame["decision"].tolist() == ["insufficient_information"]
    many = P.predict_many([(dict(WORKED, patient_id=["m"] * 4), None)], model=bundle, allow_imputed=True)
    assert many[0].status == "ok"


# ------------------------------------------------------- no CA-125 after the first dose (rule 5)

# Series with no CA-125 after the first dose among the samples the kinetics uses (its days
# -14..100, none in an exclusion window): the KELIM-like kinetics, the model's main predictor,
# are imputed.
NO_ON_TREATMENT = {
    "baseline only": {"day": [-3], "ca125": [400.0]},
    "two pretreatment samples": {"day": [-9, -2], "ca125": [350.0, 400.0]},
    "every on-treatment sample excluded": {"day": [0, 14, 21, 35], "ca125": [400.0, None, 150.0, 100.0],
                                           "event": [None, "paracentesis", None, None]},
    "after mouse antibodies": {"day": [-3, 10, 21, 49], "ca125": [400.0, None, 150.0, 30.0],
                               "event": [None, "mouse_antibody", None, None]},
    "only beyond the kinetics window": {"day": [0, 120, 141], "ca125": [400.0, 150.0, 100.0]},
}
NO_KINETICS = "no CA-125 after the first dose"


@pytest.mark.parametrize("name", list(NO_ON_TREATMENT))
def test_no_ca125_after_the_first_dose_withholds_the_decision(bundle, name):
    series = NO_ON_TREATMENT[name]
    p = P.predict(series, CLINICAL, model=bundle)
    assert (p.status, p.decision, p.resectable) == ("insufficient", "insufficient_information", None)
    assert p.reason.startswith("insufficient information: give the on-treatment CA-125 values")
    assert NO_KINETICS in p.reason and "kinetics imputed" in p.reason
    assert 0 <= p.probability <= 1                                   # shown, for information only
    assert p.recommendation.startswith("Insufficient information: give the on-treatment CA-125 values")
    assert "no decision" in p.recommendation and p.rule == P.decision._RULES["withheld"]
    assert "Decision withheld" in p.to_text()
    # the caller opts in: the same probability, a decision that says the kinetics were imputed
    opted = P.predict(series, CLINICAL, model=bundle, allow_imputed=True)
    assert opted.status == "ok" and opted.decision in ("resectable", "not_resectable")
    assert opted.probability == p.probability
    assert "kinetics imputed" in opted.recommendation and "allowed by the caller" in opted.recommendation


@pytest.mark.parametrize("series", [
    {"day": [-20, 21, 42, 63], "ca125": [400.0, 180.0, 95.0, 40.0]},        # baseline outside the window
    {"day": [21, 42, 63], "ca125": [400.0, 180.0, 95.0]},                     # no pretreatment sample
    {"day": [-5, 21, 42], "ca125": [400.0, 180.0, 95.0],
     "event": ["paracentesis", None, None]},                                    # baseline set aside
])
def test_no_pretreatment_ca125_withholds_the_decision(bundle, series):
    """A series without a pretreatment CA-125 for the kinetics gave a decision (not resectable,
    p 0.58) on kinetics imputed entirely: no decline can be measured without a baseline, as
    none can without a sample after the first dose (rule 5)."""
    p = P.predict(series, CLINICAL, model=bundle)
    assert (p.status, p.decision) == ("insufficient", "insufficient_information"), p.reason
    assert p.reason.startswith("insufficient information: give a pretreatment CA-125 (none in the kinetics' window")
    assert 0 <= p.probability <= 1
    opted = P.predict(series, CLINICAL, model=bundle, allow_imputed=True)
    assert opted.decision in ("resectable", "not_resectable") and opted.probability == p.probability
    assert "no pretreatment CA-125 in the kinetics' window" in opted.recommendation
    missing = P.predict(series, dict(CLINICAL, ecog=None), model=bundle)
    assert missing.reason.startswith("insufficient information: give ecog and a pretreatment CA-125")


def test_no_pretreatment_ca125_names_the_models_window(bundle, tmp_path):
    """A patient whose only pretreatment CA-125 was on day -15 was asked for one "day <= 0",
    which day -15 is: the text names the kinetics' window of the model's own settings."""
    series = {"day": [-15, 21, 42], "ca125": [400.0, 180.0, 150.0]}
    p = P.predict(series, CLINICAL, model=bundle)
    assert p.decision == "insufficient_information"
    assert "window before the first dose, day -14 to day 0, so they" in p.reason
    assert "day <= 0" not in p.reason and "day <= 0" not in p.recommendation
    opted = P.predict(series, CLINICAL, model=bundle, allow_imputed=True)
    assert "no pretreatment CA-125 in the kinetics' window, day -14 to day 0, to measure" in opted.recommendation
    directory, _ = build_small_model(tmp_path / "window10", n=120, members=2,
                                     kinetics_settings=ca125kinetics.KineticsSettings(pretreatment_window_days=10))
    narrow = P.load_model(directory)
    series = {"day": [-12, 21, 42], "ca125": [400.0, 180.0, 150.0]}
    p = P.predict(series, CLINICAL, model=narrow)
    assert p.decision == "insufficient_information"
    assert "day -10 to day 0" in p.reason and "day -14" not in p.reason
    opted = P.predict(series, CLINICAL, model=narrow, allow_imputed=True)
    assert "the kinetics' window, day -10 to day 0, to measure" in opted.recommendation


def test_the_text_names_the_patients_own_uln_beside_the_models(bundle):
    """With samples of ULN 30, the text's footer said only "ULN 35 U/mL" (the model's default),
    as if the rules had read the patient against 35."""
    own = P.predict(dict(WORKED, uln=[30.0] * len(WORKED["day"])), CLINICAL, model=bundle)
    assert own.gcig["uln"] == 30.0
    assert "ULN 35 U/mL (where a sample states none; this patient's samples: 30 U/mL)" in own.to_text()
    assert "this patient's samples" not in P.predict(WORKED, CLINICAL, model=bundle).to_text()


def test_one_ca125_after_the_first_dose_still_decides(bundle):
    """A decline partly seen (k not estimable from 1-2 on-treatment samples) is not rule 5."""
    # one on-treatment sample; two; one left after an exclusion window and the kinetics window
    for series in ({"day": [0, 21], "ca125": [400.0, 180.0]}, {"day": [-3, 21, 42], "ca125": [400.0, 180.0, 150.0]},
                   {"day": [0, 14, 21, 50, 120], "ca125": [400.0, None, 150.0, 120.0, 100.0],
                    "event": [None, "paracentesis", None, None, None]}):
        p = P.predict(series, CLINICAL, model=bundle)
        assert p.status == "ok" and p.decision in ("resectable", "not_resectable"), series
        assert NO_KINETICS not in p.recommendation and "imputed" not in p.recommendation


def test_no_ca125_after_the_first_dose_and_unknown_factors_are_named_in_one_message(bundle):
    clinical = {k: v for k, v in CLINICAL.items() if k not in ("ecog", "pfi_months")}
    p = P.predict(NO_ON_TREATMENT["baseline only"], clinical, model=bundle)
    assert p.status == "insufficient" and p.decision == "insufficient_information"
    assert p.reason.startswith("insufficient information: give ecog, pfi_months and the on-treatment CA-125 values")
    assert p.reason.count("insufficient information") == 1 and NO_KINETICS in p.reason
    assert p.recommendation.startswith("Insufficient information: give ecog, pfi_months and the on-treatment CA-125")
    assert "these factors and the kinetics imputed" in p.recommendation
    opted = P.predict(NO_ON_TREATMENT["baseline only"], clinical, model=bundle, allow_imputed=True)
    assert opted.decision in ("resectable", "not_resectable")
    assert "computed with ecog, pfi_months and the kinetics imputed" in opted.recommendation


def test_no_ca125_after_the_first_dose_does_not_withhold_the_earlier_rules(bundle):
    """Rules 1-4 come first: RECIST PD is not a candidate; without RECIST the entry criterion
    is undetermined (the reason asks for recist)."""
    series = NO_ON_TREATMENT["baseline only"]
    assert P.predict(series, dict(CLINICAL, recist="PD"), model=bundle).decision == "not_candidate_recist_pd"
    undetermined = P.predict(series, dict(CLINICAL, recist=None), model=bundle)
    assert undetermined.reason.startswith("insufficient information: give recist")


@settings(max_examples=200, deadline=None)
@given(p=st.floats(0, 1), progressed=st.booleans(), responded=st.booleans(),
       recist=st.sampled_from([None, "CR", "PR", "SD", "PD"]),
       missing=st.lists(st.sampled_from(P.REQUIRED_PREDICTORS), unique=True), no_kinetics=st.booleans(),
       allow=st.booleans())
def test_no_ca125_after_the_first_dose_withholds_only_the_probability_decision(p, progressed, responded, recist,
                                                                                  missing, no_kinetics, allow):
    row = {**ROW, "probability": p, "progressed": progressed, **_gcig(responded), "recist": recist}
    d, rule, text = P._decide(row, 0.7, False, missing=missing, no_kinetics=no_kinetics, allow_imputed=allow)
    plain, _, _ = P._decide(row, 0.7, False)
    if plain in ("resectable", "not_resectable") and (missing or no_kinetics) and not allow:
        assert d == "insufficient_information" and rule == P.decision._RULES["withheld"]
        give = ", ".join(missing) + (" and " if missing and no_kinetics else "") + \
            ("the on-treatment CA-125 values" if no_kinetics else "")
        assert text.startswith(f"Insufficient information: give {give}")
        assert (NO_KINETICS in text) == no_kinetics
    else:
        assert d == plain
        if plain in ("resectable", "not_resectable"):
            assert ("kinetics imputed" in text) == no_kinetics
            assert ("allowed by the caller" in text) == bool(missing or no_kinetics)


def test_no_ca125_after_the_first_dose_is_withheld_on_every_path(bundle, model_dir, tmp_path, capsys):
    """predict, predict_many, predict_cohort, score_frame (also in the pyfunc form), ca125 score
    for one patient and for a cohort (whole and in chunks) agree."""
    from ca125kinetics.cli import main

    ids = [f"n{i}" for i in range(len(NO_ON_TREATMENT))] + ["y0"]
    series = [*NO_ON_TREATMENT.values(), WORKED]
    rows = [pd.DataFrame({"patient_id": pid, **{k: v for k, v in s.items()}}) for pid, s in zip(ids, series)]
    markers = pd.concat(rows, ignore_index=True)
    clinical = pd.DataFrame([{"patient_id": pid, **CLINICAL} for pid in ids])
    want = {False: ["insufficient"] * (len(ids) - 1) + ["ok"], True: ["ok"] * len(ids)}
    for allow in (False, True):
        cohort = P.predict_cohort(markers, clinical, model=bundle, allow_imputed=allow).set_index("patient_id")
        assert cohort.loc[ids, "status"].tolist() == want[allow]
        one = [P.predict(s, CLINICAL, model=bundle, allow_imputed=allow) for s in series]
        many = P.predict_many([(dict(s, patient_id=[pid] * len(s["day"])), dict(CLINICAL, patient_id=pid))
                               for pid, s in zip(ids, series)], model=bundle, allow_imputed=allow)
        for got in (one, many):
            assert [g.status for g in got] == want[allow]
            assert [g.recommendation for g in got] == cohort.loc[ids, "recommendation"].tolist()
        frame = P.score_frame(bundle, markers, clinical, allow_imputed=allow).set_index("patient_id")
        assert frame.loc[ids, "recommendation"].tolist() == cohort.loc[ids, "recommendation"].tolist()
    pyfunc = markers.merge(clinical, on="patient_id")       # the pyfunc's input: clinical on every row
    served = P.score_frame(bundle, pyfunc).set_index("patient_id")
    assert served.loc[ids, "status"].tolist() == want[False]
    # ca125 score: one patient (text), the cohort whole and in chunks of a few rows
    markers.to_csv(tmp_path / "markers.csv", index=False)
    clinical.to_csv(tmp_path / "clinical.csv", index=False)
    files = ["--markers", str(tmp_path / "markers.csv"), "--clinical", str(tmp_path / "clinical.csv"),
             "--model", str(model_dir)]
    assert main(["score", *files, "--patient", "n0"]) == 0
    assert "Decision withheld: insufficient information: give the on-treatment CA-125" in capsys.readouterr().out
    for extra in ([], ["--chunk-rows", "4"], ["--allow-imputed"], ["--allow-imputed", "--chunk-rows", "4"]):
        out = tmp_path / "score.csv"
        assert main(["score", *files, "--format", "csv", "--out", str(out), *extra]) == 0
        got = pd.read_csv(out, dtype={"patient_id": str}).set_index("patient_id")
        assert got.loc[ids, "status"].tolist() == want["--allow-imputed" in extra], extra
    capsys.readouterr()


def test_progression_decides_without_clinical_factors(bundle):
    # group B progression (2 x nadir 150 = 300 U/mL on days 42 and 63), no clinical factor known
    p = P.predict({"day": [-3, 21, 42, 63], "ca125": [400.0, 150.0, 320.0, 400.0]}, model=bundle)
    assert p.progression["progressed"] and p.progression["day"] == 42
    assert p.decision == "not_candidate_progression" and p.status == "ok"


def test_predict_reads_numbers_and_dates_in_the_format_stated(bundle):
    # the refusal of '400,0' tells the caller to state decimal=','; predict must take it
    comma = {"day": WORKED["day"], "ca125": ["400,0", "180,0", "195,0", "150,0"]}
    refused = P.predict(comma, CLINICAL, model=bundle)
    assert refused.status == "invalid_input" and "decimal=','" in refused.reason
    expected = P.predict(WORKED, CLINICAL, model=bundle).to_dict()
    assert P.predict(comma, dict(CLINICAL, age="61,0"), model=bundle, decimal=",").to_dict() == expected
    thousands = {"day": WORKED["day"], "ca125": ["1.400", 180, 195, 150]}
    assert P.predict(thousands, CLINICAL, model=bundle, decimal=",", thousands=".").to_dict()["series"][0]["ca125"] == 1400.0
    # dates: refused unless ISO, read as stated with date_format (3 March = day 0)
    dated = {"date": ["03/03/2025", "24/03/2025", "14/04/2025", "05/05/2025"], "ca125": WORKED["ca125"]}
    start = dict(CLINICAL, treatment_start="03/03/2025")
    assert "never guessed" in P.predict(dated, start, model=bundle).reason
    assert P.predict(dated, start, model=bundle, date_format="%d/%m/%Y").to_dict() == expected


def test_clinical_factors_on_the_markers_are_read_in_every_form_or_refused_when_given_twice(bundle):
    # the pyfunc form (clinical factors repeated on the markers) was read from a DataFrame with
    # patient_id only: a mapping, records or a frame without patient_id ignored 'ecog' and
    # answered "insufficient information: give ecog"
    reference = P.predict(WORKED, CLINICAL, model=bundle).to_dict()
    with_factors = {**WORKED, **CLINICAL}
    records = [dict(CLINICAL, day=d, ca125=v) for d, v in zip(WORKED["day"], WORKED["ca125"])]
    for form in (with_factors, records, pd.DataFrame(with_factors), pd.DataFrame(with_factors).assign(patient_id="p")):
        got = P.predict(form, model=bundle).to_dict()
        assert got["status"] == "ok", got["reason"]
        assert {k: v for k, v in got.items() if k != "patient_id"} == \
            {k: v for k, v in reference.items() if k != "patient_id"}
    # given on the markers and in a clinical row as well: which one counts is a guess, refused
    for form in ({**WORKED, "ecog": 3}, pd.DataFrame({**WORKED, "ecog": 3, "patient_id": "p"})):
        with pytest.raises(InvalidInputError, match=r"clinical factor\(s\) \['ecog'\] on the markers and a "
                                                    "clinical row as well"):
            P.predict(form, dict(CLINICAL, patient_id="p"), model=bundle)


_ODD_FORMS = {     # found by fuzzing predict with dicts and records of arbitrary cells
    "array in a uln cell": ({"day": [-3, 21], "ca125": [400, 180], "uln": [np.array([1, 2]), 35]}, None),
    "array as age": ({"day": [0], "ca125": [5]}, {"age": np.array([1, 2])}),
    "list as patient_id": ({"day": [-3], "ca125": [400]}, {"patient_id": []}),
    "set as assay": ([{"day": 0, "assay": set(), "ca125": 5}], None),
    "dict as assay": ({"ca125": [5, 5], "assay": [False, {}], "day": [0, 42]}, None),
    "dict as patient_id": ({"day": [0], "ca125": [5], "patient_id": [{}]}, None),
    "list as a CA-125 value": ({"day": [0, 21], "ca125": [[400], 180]}, None),
    "no samples, a factor": ({"ecog": [], "day": [], "ca125": []}, None),
    "a set beside a factor": ({"ecog": [], "ca_125": set()}, {}),
    "a timestamp as ecog": ({"ecog": pd.Timestamp("2024-01-01"), "day": [], "ca125": []}, {}),
}


@pytest.mark.parametrize("name", list(_ODD_FORMS))
def test_odd_single_patient_forms_give_a_result_or_a_typed_error(bundle, name):
    markers, clinical = _ODD_FORMS[name]
    try:
        p = P.predict(markers, clinical, model=bundle)
    except InvalidInputError as error:
        assert ("list, set, dict or array" in str(error) or "looks like" in str(error)
                or "not a list" in str(error)), error
    else:
        assert p.status == "not_scored"        # only the forms without samples are scored


_CELLS = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(), st.text(max_size=8),
                   st.sampled_from(["<5", "< 5", ">5", "1,5", "2024-01-01", "01/02/2024", "IIIC", "PR", "single",
                                    "surgery", np.int64(3), np.float32(2.5), pd.NA, pd.NaT, 1 + 2j, b"12",
                                    pd.Timestamp("2024-01-01"), (1, 2), [1], {"a": 1}, set()]))
_MARKER_KEYS = ["day", "date", "ca125", "censored", "event", "uln", "assay", "patient_id", "unit", "marker", "Day",
                "ca_125", "ecog", "x"]
_CLINICAL_KEYS = ["age", "ecog", "ascites_ml", "figo_stage", "primary_residual_disease", "pfi_months",
                  "recurrence_pattern", "recist", "treatment_start", "patient_id", "ECOG", "foo"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(0, 4), data=st.data())
def test_any_single_patient_mapping_gives_a_result_or_a_typed_error(bundle, n, data):
    markers = data.draw(st.dictionaries(st.sampled_from(_MARKER_KEYS),
                                        st.one_of(_CELLS, st.lists(_CELLS, min_size=n, max_size=n)), min_size=1))
    if data.draw(st.booleans()):
        markers.update(day=[-3, 21, 42, 63][:n], ca125=[400, 180, 95, 40][:n])
    clinical = data.draw(st.one_of(st.none(), st.dictionaries(st.sampled_from(_CLINICAL_KEYS), _CELLS)))
    try:
        p = P.predict(markers, clinical, model=bundle)
    except InvalidInputError:
        return
    assert p.status in ("ok", "insufficient", "invalid_input", "not_scored")
    assert p.recommendation.endswith("Research software, not a medical device. Model trained on synthetic data.")


def test_misnamed_clinical_keys_are_refused_or_mapped(bundle, tmp_path):
    renamed = {"ECOG" if k == "ecog" else k: v for k, v in CLINICAL.items()}
    with pytest.raises(InvalidInputError, match="'ECOG' looks like 'ecog'"):
        P.predict(WORKED, renamed, model=bundle)
    mapped = P.predict(WORKED, renamed, model=bundle, columns={"ECOG": "ecog"})
    assert mapped.to_dict() == P.predict(WORKED, CLINICAL, model=bundle).to_dict()
    # the pyfunc form: clinical columns repeated on the markers rows
    frame = pd.DataFrame({"patient_id": "p", **WORKED}).assign(**renamed)
    with pytest.raises(InvalidInputError, match="'ECOG' looks like 'ecog'"):
        P.score_frame(bundle, frame)
    assert P.score_frame(bundle, frame, columns={"ECOG": "ecog"})["status"].tolist() == ["ok"]
    # files: predict_cohort with a misnamed clinical table
    markers = tmp_path / "m.csv"
    pd.DataFrame({"patient_id": "007", **WORKED}).to_csv(markers, index=False)
    from pathlib import Path
    messy = Path(__file__).parent / "data" / "messy" / "clinical_misnamed_columns.csv"
    with pytest.raises(InvalidInputError, match="'pfi' looks like 'pfi_months'"):
        P.predict_cohort(markers, messy, model=bundle)
    mapping = {"ECOG": "ecog", "ascites": "ascites_ml", "FIGO": "figo_stage", "pfi": "pfi_months"}
    mapped = P.predict_cohort(markers, messy, model=bundle, columns=mapping)
    # every factor read (the table has no recist, a model input: the decision waits for it)
    assert mapped["status"].tolist() == ["insufficient"] and mapped["reason"].str.startswith(
        "insufficient information: give recist;").all()


def test_null_patient_ids_are_never_a_patient_named_na(bundle):
    # an empty identifier entry is refused, as a table's row without one is (it was scored as
    # the markers' patient, who may be another patient than the row's)
    with pytest.raises(InvalidInputError, match="patient_id is empty"):
        P.predict(WORKED, dict(CLINICAL, patient_id=pd.NA), model=bundle)
    assert P.predict(WORKED, CLINICAL, model=bundle).patient_id == "patient"
    frame = pd.DataFrame({"patient_id": pd.array(["a", None, "a", "a"], dtype="string"), **WORKED})
    with pytest.raises(InvalidInputError, match="patient_id is empty"):
        P.predict_cohort(frame, model=bundle)


def test_values_no_assay_reports_are_invalid_input_in_predict(bundle):
    for value in (1e308, float("inf"), "nan", "1e308"):
        series = {"day": WORKED["day"], "ca125": [400.0, value, 195.0, 150.0]}
        p = P.predict(series, CLINICAL, model=bundle)
        assert p.status == "invalid_input" and np.isnan(p.probability), value


def test_score_text_states_k_ref_and_its_source(bundle):
    text = P.predict(WORKED, CLINICAL, model=bundle).to_text()
    ks = bundle.kinetics_settings
    assert f"score = k / k_ref, k_ref {ks.k_ref:.4g}/day ({ks.k_ref_source})" in text


_FUZZ_VALUES = st.one_of(st.none(), st.just(pd.NA), st.booleans(), st.integers(-400, 2000),
                         st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
                         st.sampled_from(["<5", "1,200", "1e308", "nan", "IIIC", "2024-03-04"]))


@settings(max_examples=80, deadline=None)
@given(days=st.lists(_FUZZ_VALUES, min_size=0, max_size=5), values=st.lists(_FUZZ_VALUES, min_size=0, max_size=5),
       extra=st.dictionaries(st.sampled_from(["event", "censored", "uln", "assay", "date", "patient_id"]),
                             st.lists(_FUZZ_VALUES, min_size=5, max_size=5), max_size=2),
       clinical=st.dictionaries(st.sampled_from([*P.REQUIRED_PREDICTORS, "recist", "ECOG", "patient_id",
                                                 "treatment_start", "x"]), _FUZZ_VALUES, max_size=4))
def test_predict_raises_only_package_errors(bundle, days, values, extra, clinical):
    """Whatever the plain-value input, predict returns a Prediction or raises a package error
    (a run of 1,500 examples found two bugs, kept below as regression tests)."""
    from ca125kinetics.errors import Ca125KineticsError

    n = min(len(days), len(values))
    markers = {"day": days[:n], "ca125": values[:n], **{k: v[:n] for k, v in extra.items()}}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = P.predict(markers, clinical, model=bundle)
    except Ca125KineticsError:
        return
    assert result.status in ("ok", "insufficient", "invalid_input", "not_scored")


def test_fuzz_findings_are_package_errors(bundle):
    # pd.NA as an event cell went into the fast reader's 'in EVENT_KINDS' test (TypeError)
    p = P.predict({"day": [0, 21, 42], "ca125": [400.0, 180.0, 150.0], "event": [pd.NA, None, None]}, CLINICAL,
                  model=bundle)
    assert p.status == "ok"
    # an integer clinical factor of 1e308 could not be cast to Int64 (TypeError)
    p = P.predict(WORKED, dict(CLINICAL, primary_residual_disease="1e308"), model=bundle)
    assert p.status == "invalid_input" and "primary_residual_disease" in p.reason
def test_registry_alias_is_resolved_without_mlflow_and_a_move_is_noticed(registry, tables, bundle):
    """A local SQLite registry is read with sqlite3 and the artifacts verified in place: the
    score command imports neither mlflow nor scikit-learn; moving the alias is seen at once."""
    import sqlite3
    import subprocess
    import sys

    root, ids = tables
    code = ("import sys; from ca125kinetics.cli.score import _main; rc = _main(['--markers', sys.argv[1], "
            "'--patient', sys.argv[2], '--model', 'models:/ca125-test@champion', '--format', 'json']); "
            "heavy = sorted(m for m in ('mlflow', 'sklearn', 'joblib') if m in sys.modules); "
            "print('HEAVY', heavy); sys.exit(rc)")
    res = subprocess.run([sys.executable, "-c", code, str(root / "markers.csv"), ids[0]],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "HEAVY []" in res.stdout
    scored = json.loads(res.stdout[:res.stdout.rindex("HEAVY")])
    assert scored["probability"] == P.predict(*_cohort_patient(root, ids[0]), model=bundle).probability
    database = Path(os.environ["MLFLOW_TRACKING_URI"][len("sqlite:///"):])
    assert P.load_model("models:/ca125-test@champion", scoring_only=True) is not None
    with sqlite3.connect(database) as con:
        con.execute("DELETE FROM registered_model_aliases WHERE name = 'ca125-test'")
    with pytest.raises(ModelNotFoundError, match="no alias 'champion'"):
        P.load_model("models:/ca125-test@champion", scoring_only=True)


def test_the_default_tracking_store_is_read_without_mlflow(registry, tables):
    """With no MLFLOW_TRACKING_URI, ``ca125 train`` registers its model in ``mlflow.db`` of the
    working directory (tracking.resolve_tracking_uri); ``ca125 score --model models:/...@champion``
    there left that store to mlflow (imported, some 5 s from a cold start) instead of reading
    the alias with sqlite3, as README's timing and the demo's printed command have it."""
    import subprocess
    import sys

    import ca125kinetics

    root, ids = tables
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(ca125kinetics.__file__).parents[1]), env.get("PYTHONPATH", "")])
    code = ("import sys; from ca125kinetics.cli.score import _main; rc = _main(['--markers', sys.argv[1], "
            "'--patient', sys.argv[2], '--model', 'models:/ca125-test@champion', '--format', 'json']); "
            "print('HEAVY', sorted(m for m in ('mlflow', 'sklearn', 'joblib') if m in sys.modules)); sys.exit(rc)")
    res = subprocess.run([sys.executable, "-c", code, str(root / "markers.csv"), ids[0]], cwd=registry.parent,
                         env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "HEAVY []" in res.stdout


def test_a_registry_set_in_this_process_is_the_one_read(registry, tmp_path, monkeypatch):
    """Without the environment variables, a registry set with mlflow.set_tracking_uri (the
    fixture's) is read, not mlflow.db of the working directory (here another, empty store)."""
    import sqlite3

    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with sqlite3.connect(elsewhere / "mlflow.db") as con:   # a store without the model
        con.execute("CREATE TABLE registered_model_aliases (name TEXT, alias TEXT, version INTEGER)")
        con.execute("CREATE TABLE model_versions (name TEXT, version INTEGER, storage_location TEXT, status TEXT)")
    monkeypatch.chdir(elsewhere)
    P.clear_model_cache()
    assert P.load_model("models:/ca125-test@champion", scoring_only=True).name


def _cohort_patient(root, pid):
    from ca125kinetics.io import read_markers

    markers = read_markers(root / "markers.csv")
    return markers[markers["patient_id"] == pid], None


# ----------------------------------------------------------------------------- every input form


def _plain_patient(cohort):
    """A cohort patient whose series (day, value) pairs carry everything: no events, no
    censored value, the default ULN, one assay."""
    m = cohort.markers
    for pid, rows in m.groupby("patient_id"):
        if rows["event"].isna().all() and not rows["censored"].any() and (rows["uln"] == 35.0).all() \
                and rows["assay"].nunique() <= 1 and len(rows) >= 4:
            return pid, rows.reset_index(drop=True)
    raise AssertionError("no plain patient in the cohort")


_SAME = ("probability", "p_low", "p_high", "k", "half_life_days", "kelim_score", "c0", "floor",
         "gcig_baseline_value", "imodel_points")


def test_same_patient_same_numbers_through_every_input_form(bundle, cohort, model_dir, tmp_path, capsys):
    """File, pandas slice with the whole clinical table, validated frames, mappings (with extra
    keys), records, pairs, the pyfunc form, the CLI and the REST request: identical floats."""
    from ca125kinetics.io import read_clinical, read_markers
    from ca125kinetics.web.app import ScoreRequest, request_to_inputs

    pid, rows = _plain_patient(cohort)
    clinical = cohort.clinical
    crow = clinical[clinical["patient_id"] == pid].iloc[0]
    cdict = {k: (None if pd.isna(v) else v) for k, v in crow.items()}
    markers_csv = tmp_path / "markers.csv"
    out = rows[["patient_id", "day", "ca125", "uln", "assay"]].astype(object)
    out["ca125"] = [repr(float(v)) for v in rows["ca125"]]          # exact floats in the file
    out.to_csv(markers_csv, index=False)
    clinical_csv = tmp_path / "clinical.csv"
    clinical.to_csv(clinical_csv, index=False)
    raw_markers = pd.read_csv(markers_csv)                   # as pandas reads it: ids become numbers
    raw_clinical = pd.read_csv(clinical_csv)
    valid_markers, valid_clinical = read_markers(markers_csv), read_clinical(clinical_csv)
    as_dict = {c: rows[c].tolist() for c in ("patient_id", "day", "ca125", "uln", "assay")}
    body = ScoreRequest.model_validate_json(json.dumps({
        "patient_id": pid, "samples": [{"day": int(d), "ca125": float(v)} for d, v in zip(rows["day"], rows["ca125"])],
        "clinical": {k: (v.item() if isinstance(v, np.generic) else v) for k, v in cdict.items()
                     if k in CLINICAL_FACTORS + ("recist",) and v is not None}}))

    reference = P.predict(markers_csv, clinical_csv, model=bundle).to_frame().iloc[0]
    forms = {
        "DataFrame slice (pandas)": P.predict(raw_markers[raw_markers["patient_id"] == int(pid)], raw_clinical,
                                              model=bundle),
        "validated frames": P.predict(valid_markers[valid_markers["patient_id"] == pid], valid_clinical, model=bundle),
        "mapping, extra keys": P.predict({**as_dict, "site": ["A"] * len(rows)}, {**cdict, "note": "x"},
                                         model=bundle),
        "numpy values": P.predict({c: rows[c].to_numpy() for c in ("patient_id", "day", "ca125")}, crow,
                                  model=bundle),
        "records": P.predict(rows[["patient_id", "day", "ca125"]].to_dict("records"), cdict, model=bundle),
        "pairs": P.predict(list(zip(rows["day"].tolist(), rows["ca125"].tolist())), cdict, model=bundle),
        "REST": P.predict_many([request_to_inputs(body)], model=bundle)[0],
    }
    pyfunc_input = rows.merge(clinical[["patient_id", *CLINICAL_FACTORS, "recist"]], on="patient_id")
    S.cli_score(_args(markers=markers_csv, clinical=clinical_csv, model=str(model_dir), format="json"))
    cli = json.loads(capsys.readouterr().out)
    for name, result in forms.items():
        row = result.to_frame().iloc[0]
        for col in _SAME:
            assert row[col] == reference[col] or (pd.isna(row[col]) and pd.isna(reference[col])), (name, col)
        assert (row["decision"], row["warnings"], row["gcig_status"]) == \
            (reference["decision"], reference["warnings"], reference["gcig_status"]), name
    pyfunc = P.score_frame(bundle, pyfunc_input).iloc[0]
    for col in _SAME:
        assert pyfunc[col] == reference[col] or (pd.isna(pyfunc[col]) and pd.isna(reference[col])), col
    assert cli["probability"] == reference["probability"] and cli["kinetics"]["k"] == reference["k"]


_BAD_CASES = [  # (day, ca125, column): one bad value of the data contract each
    ([0, 21, 42], [400.0, -1.0, 150.0], "ca125"),
    ([0, 21, 42], [400.0, "abc", 150.0], "ca125"),
    ([0, 21, 21], [400.0, 180.0, 150.0], "day"),
    ([0, 21, 5000], [400.0, 180.0, 150.0], "day"),
    ([0, 21.5, 42], [400.0, 180.0, 150.0], "day"),
]


@pytest.mark.parametrize("days, values, column", _BAD_CASES)
def test_bad_input_gives_the_same_typed_error_through_every_form(days, values, column, tmp_path):
    from ca125kinetics.io import patient_record, read_markers

    path = tmp_path / "m.csv"
    pd.DataFrame({"patient_id": "p", "day": days, "ca125": values}).to_csv(path, index=False)
    forms = {
        "file": path,
        "DataFrame": pd.DataFrame({"patient_id": "p", "day": days, "ca125": values}),
        "mapping": {"patient_id": "p", "day": days, "ca125": values},
        "records": [{"patient_id": "p", "day": d, "ca125": v} for d, v in zip(days, values)],
        "pairs": list(zip(days, values)),
    }
    messages = set()
    for name, form in forms.items():
        with pytest.raises(InvalidInputError) as info:
            patient_record(form, {"patient_id": "p"}, on_error="raise")
        assert info.value.column == column, name
        messages.add(str(info.value).split(": ", 1)[1].split("\n")[0])
        record = patient_record(form, {"patient_id": "p"})               # what predict scores
        assert record.problem is not None and record.samples() == (), name
    with pytest.raises(InvalidInputError) as info:
        read_markers(path)
    messages.add(str(info.value).split(": ", 1)[1].split("\n")[0])
    assert len(messages) == 1, messages


def test_clinical_table_without_the_patient_is_a_typed_error(bundle, cohort):
    clinical = cohort.clinical[cohort.clinical["patient_id"] != "000001"]
    with pytest.raises(InvalidInputError, match="'000001' has markers but no clinical row"):
        P.predict(cohort.markers[cohort.markers["patient_id"] == "000001"], clinical, model=bundle)


def test_patient_batch_holds_the_records_of_the_table_readers(bundle, scored):
    """PatientBatch.from_frames gives every patient of the read tables (invalid patients and
    clinical rows without markers included); a patient with markers is the record
    io.patient_record makes of its own rows (the one-patient reader, built independently)."""
    from ca125kinetics.io import PatientBatch, patient_record, read_clinical, read_markers, records_from_frames

    markers, clinical, _ = scored
    ids = sorted(clinical["patient_id"])[:30]
    m = markers[markers["patient_id"].isin(ids[:25])].copy()
    m.loc[m.index[3], "ca125"] = -5.0                       # one invalid patient
    c = clinical[clinical["patient_id"].isin(ids)].copy()
    c.loc[c.index[1], "ecog"] = 7                           # one invalid clinical row
    gs = bundle.gcig_settings
    clin = read_clinical(c, on_error="flag", require=("patient_id",))
    frame = read_markers(m, clinical=clin, uln=gs.uln, on_error="flag", duplicates=gs.duplicates)
    records = records_from_frames(frame, clin)
    batch = PatientBatch.from_frames(frame, clin)
    assert batch.n == len(records) == 30 and list(batch.ids) == ids
    assert [batch.has_clinical[i] for i in range(30)] == [True] * 30
    assert list(np.diff(batch.offsets) > 0) == [True] * 25 + [False] * 5
    for i, pid in enumerate(ids[:25]):
        alone = patient_record(m[m["patient_id"] == pid], c[c["patient_id"] == pid], uln=gs.uln,
                               duplicates=gs.duplicates)
        assert _same_record(batch.record(i), alone), pid
    assert batch.problem[[i for i, p in enumerate(ids) if p == m.loc[m.index[3], "patient_id"]][0]] is not None
    assert batch.clinical_problem[list(ids).index(c.loc[c.index[1], "patient_id"])] is not None
    again = PatientBatch.from_records(records)
    assert all(_same_record(again.record(i), r) for i, r in enumerate(records))


def test_tables_already_read_score_as_the_files_do(bundle, scored, tmp_path):
    """predict_cohort on the tables the readers made (flagged) reads them again: a clinical
    row they flagged keeps its flag, so the patient's GCIG columns say invalid_input as when
    the files are given (re-reading the flagged frame found its blanked value valid)."""
    from ca125kinetics.io import read_clinical, read_markers

    markers, clinical, _ = scored
    ids = sorted(clinical["patient_id"])[:12]
    m = markers[markers["patient_id"].isin(ids)].copy()
    c = clinical[clinical["patient_id"].isin(ids)].copy()
    bad = c["patient_id"].iloc[2]
    c["ecog"] = c["ecog"].astype(object)
    c.loc[c.index[2], "ecog"] = 7
    m.to_csv(tmp_path / "m.csv", index=False)
    c.to_csv(tmp_path / "c.csv", index=False)
    gs = bundle.gcig_settings
    clin = read_clinical(tmp_path / "c.csv", on_error="flag", require=("patient_id",))
    frame = read_markers(tmp_path / "m.csv", clinical=clin, uln=gs.uln, on_error="flag", duplicates=gs.duplicates)
    from_files = P.predict_cohort(tmp_path / "m.csv", tmp_path / "c.csv", model=bundle).set_index("patient_id")
    from_frames = P.predict_cohort(frame, clin, model=bundle).set_index("patient_id")
    assert from_files.loc[bad, "status"] == from_frames.loc[bad, "status"] == "invalid_input"
    assert from_files.loc[bad, "gcig_status"] == "invalid_input"
    pd.testing.assert_frame_equal(from_frames, from_files)


def test_an_unknown_recist_is_imputed_unless_the_model_learned_it_unknown(tmp_path):
    """RECIST is one of the model's inputs (a one-hot category beside FIGO stage and the
    recurrence pattern). The shipped model was fitted on patients whose RECIST was known, so
    an unknown one was silently scored as no category at all: a GCIG responder with RECIST SD
    was 'not resectable' (p 0.68) and 'resectable' (p 0.71) with RECIST left empty. Rule 5
    now withholds the decision, as for any unknown predictor; ``allow_imputed`` decides and
    says so. A model fitted on patients with RECIST sometimes unknown learned that level, and
    decides on it."""
    from ca125kinetics.bundle import ModelBundle
    from ca125kinetics.features import build_patient_frame
    from ca125kinetics.models import make_pipeline
    from ca125kinetics.synth import simulate_cohort

    series = {"day": [0, 21, 42, 63], "ca125": [400, 180, 195, 150]}    # a confirmed GCIG PR
    factors = {k: v for k, v in CLINICAL.items() if k != "recist"}
    shipped = P.load_model(None)
    assert shipped.learned_unknown("recist") is False
    for recist in (None, "", "  "):
        p = P.predict(series, {**factors, "recist": recist})
        assert p.status == "insufficient" and p.decision == "insufficient_information"
        assert p.reason.startswith("insufficient information: give recist; the probability shown was computed")
    allowed = P.predict(series, factors, allow_imputed=True)
    assert allowed.status == "ok" and allowed.decision in ("resectable", "not_resectable")
    assert "computed with recist imputed (allowed by the caller)" in allowed.recommendation
    assert P.predict(series, {**factors, "recist": "SD"}).status == "ok"
    # a model whose training patients had RECIST unknown at times learned it so
    cohort = simulate_cohort(240, 11)
    clinical = cohort.clinical.copy()
    clinical.loc[clinical.index[::4], "recist"] = None
    frame = build_patient_frame(cohort.markers, clinical)
    y = cohort.truth.set_index("patient_id").reindex(frame["patient_id"])["complete_resection_potential"]
    pipeline = make_pipeline("logistic_main").fit(frame, y.to_numpy(dtype=int))
    learned = ModelBundle(pipeline=pipeline, name="t", version="0", model_family="logistic_main", threshold=0.5,
                          feature_ranges={}, trained_on_synthetic=True, training_summary={"n": 240}, interval={})
    assert learned.learned_unknown("recist") is True
    p = P.predict(series, factors, model=learned)
    assert p.status == "ok" and p.decision in ("resectable", "not_resectable")


def test_a_model_trained_without_recist_decides_whether_recist_is_given_or_not():
    """A cohort without RECIST trains a model that learned it unknown throughout and does not
    use it (training/README.md). Scored with RECIST given (SD), such a model counted the value
    as 'a level the model never learned' and withheld the decision ('give recist', though it
    was given), while the same patient with RECIST left empty got one at the same probability."""
    from ca125kinetics.bundle import ModelBundle
    from ca125kinetics.features import build_patient_frame
    from ca125kinetics.models import make_pipeline
    from ca125kinetics.synth import simulate_cohort

    cohort = simulate_cohort(240, 11)
    frame = build_patient_frame(cohort.markers, cohort.clinical.assign(recist=None))
    y = cohort.truth.set_index("patient_id").reindex(frame["patient_id"])["complete_resection_potential"]
    pipeline = make_pipeline("logistic_main").fit(frame, y.to_numpy(dtype=int))
    model = ModelBundle(pipeline=pipeline, name="t", version="0", model_family="logistic_main", threshold=0.5,
                        feature_ranges={}, trained_on_synthetic=True, training_summary={"n": 240}, interval={})
    assert model.learned_unknown("recist") is True
    series = {"day": [0, 21, 42, 63], "ca125": [400, 180, 95, 40]}
    factors = {k: v for k, v in CLINICAL.items() if k != "recist"}
    blank = P.predict(series, factors, model=model)
    given = P.predict(series, {**factors, "recist": "SD"}, model=model)
    assert blank.status == given.status == "ok"
    assert given.decision == blank.decision and given.probability == blank.probability
    assert not any("not a level" in w for w in given.warnings), given.warnings
    frame = pd.DataFrame({"patient_id": "c", **series})
    cohort_out = P.predict_cohort(frame, pd.DataFrame([{"patient_id": "c", **factors, "recist": "SD"}]), model=model)
    assert cohort_out["status"].iloc[0] == "ok"


def test_range_warnings_read_alike_from_the_bundle_and_its_scoring_file():
    """``ca125 score`` (the scoring file, whose JSON sorts its keys) and ``predict_cohort`` (the
    bundle) gave the out-of-range warnings in different orders (half_life_days, k, ... against
    k, half_life_days, ...): a cell-by-cell comparison of the two outputs flagged them."""
    import json

    from ca125kinetics._compiled import ScoringModel

    scorer = ScoringModel(json.loads((Path(__file__).parents[1] / "models" / "default" / "mlflow_model" / "artifacts"
                                      / "bundle" / "scorer.json").read_text()))
    markers = pd.DataFrame({"patient_id": "A", "day": [-3, 7, 14, 21, 42], "ca125": [4000, 500, 60, 12, 8]})
    clinical = pd.DataFrame([{**CLINICAL, "patient_id": "A", "age": 95}])
    from_bundle = P.predict_cohort(markers, clinical, model=P.load_model(None))["warnings"][0]
    assert from_bundle == P.predict_cohort(markers, clinical, model=scorer)["warnings"][0]
    named = [part.split(" ")[0] for part in from_bundle.split("; ")]
    assert named == ["age", "k", "half_life_days", "kelim_score"]


def test_an_assay_change_among_the_kinetics_samples_is_a_warning(bundle):
    """The GCIG rules make such a patient not evaluable; the KELIM-like fit has no assay rule
    and used both assays' values without a word (the probability rested on a 150 (assay A) ->
    20 (assay B) drop). The warning says that k and the probability mix assays; an unnamed
    assay is no change."""
    clinical = dict(CLINICAL, recist="PR")
    series = {"day": [-3, 21, 42, 63, 84], "ca125": [400.0, 250.0, 150.0, 20.0, 15.0]}
    mixed = P.predict({**series, "assay": ["A", "A", "A", "B", "B"]}, clinical, model=bundle)
    assert ("CA-125 from more than one assay in the kinetics' samples ('A' on day -3, 'B' from day 63): the "
            "KELIM-like k, and the probability resting on it, mix assays (interpret with care)") in mixed.warnings
    for assay in (["A"] * 5, [None, "A", "A", "A", "A"], None):
        one = P.predict({**series, **({"assay": assay} if assay else {})}, clinical, model=bundle)
        assert not any("more than one assay" in w for w in one.warnings), assay
    # a sample of the other assay that the kinetics set aside (after a paracentesis) is no change
    aside = P.predict({"day": [-3, 21, 30, 35, 42, 63], "ca125": [400.0, 250.0, None, 200.0, 150.0, 90.0],
                       "event": [None, None, "paracentesis", None, None, None],
                       "assay": ["A", "A", None, "B", "A", "A"]}, clinical, model=bundle)
    assert not any("more than one assay" in w for w in aside.warnings), aside.warnings
    # the cohort path says the same
    frame = pd.DataFrame({"patient_id": "x", **series, "assay": ["A", "A", "A", "B", "B"]})
    cohort = P.predict_cohort(frame, pd.DataFrame([{"patient_id": "x", **clinical}]), model=bundle)
    assert "more than one assay" in cohort["warnings"].iloc[0]


def test_a_category_the_model_never_learned_is_read_as_unknown_and_said(tmp_path):
    """A model trained without carcinomatosis patients read 'carcinomatosis' as no level at
    all (its one-hot encoding ignores it), and scored the patient as one with the pattern
    unknown, decision included and no word: rule 5 now counts such a level as unknown
    (withheld unless allow_imputed), and a warning names the level."""
    model_dir, _ = build_small_model(tmp_path / "m", n=400,
                                     keep=lambda f: f["recurrence_pattern"] != "carcinomatosis")
    assert "carcinomatosis" not in P.load_model(model_dir, scoring_only=True).learned_levels("recurrence_pattern")
    series = {"day": [-3, 21, 42, 63], "ca125": [400.0, 150.0, 60.0, 20.0]}
    clinical = dict(CLINICAL, recist="PR", recurrence_pattern="carcinomatosis")
    unseen = P.predict(series, clinical, model=model_dir)
    assert unseen.status == "insufficient" and unseen.decision == "insufficient_information"
    assert "recurrence_pattern" in unseen.reason
    said = "recurrence_pattern 'carcinomatosis' is not a level the model was trained on"
    assert any(w.startswith(said) for w in unseen.warnings)
    allowed = P.predict(series, clinical, model=model_dir, allow_imputed=True)
    assert allowed.status == "ok" and any(w.startswith(said) for w in allowed.warnings)
    blank = P.predict(series, dict(clinical, recurrence_pattern=None), model=model_dir, allow_imputed=True)
    assert allowed.probability == blank.probability        # what the model made of it: unknown
    learned = P.predict(series, dict(clinical, recurrence_pattern="single"), model=model_dir)
    assert learned.status == "ok" and not any("not a level" in w for w in learned.warnings)
    frame = pd.DataFrame({"patient_id": "c", **series})
    cohort = P.predict_cohort(frame, pd.DataFrame([{"patient_id": "c", **clinical}]), model=model_dir)
    assert cohort["status"].iloc[0] == "insufficient" and said in cohort["warnings"].iloc[0]


def test_clinical_factors_on_the_markers_and_in_a_clinical_table_are_refused_on_every_path(tmp_path, capsys):
    """predict refused them, but a markers file read by ca125 score --patient, in chunks, by
    predict_cohort from paths or by ca125 train used the clinical table's values and dropped
    the markers' silently (ECOG 4 on the markers, 1 in the table: scored as ECOG 1)."""
    from ca125kinetics.cli import main
    from ca125kinetics.io import read_markers

    clinical_row = dict(CLINICAL, patient_id="a", recist="PR")
    markers = pd.DataFrame({"patient_id": "a", "day": [-3, 21, 42, 63], "ca125": [400.0, 150.0, 60.0, 20.0],
                            "ecog": 4})
    m, c = tmp_path / "m.csv", tmp_path / "c.csv"
    markers.to_csv(m, index=False)
    pd.DataFrame([dict(clinical_row, ecog=1)]).to_csv(c, index=False)
    said = "clinical factor(s) ['ecog'] on the markers and a clinical row as well"
    with pytest.raises(InvalidInputError, match=re.escape(said)):
        P.predict_cohort(str(m), str(c))
    with pytest.raises(InvalidInputError, match=re.escape(said)):
        read_markers(m, clinical=pd.read_csv(c, dtype={"patient_id": str}))
    for extra in (["--patient", "a"], ["--chunk-rows", "1", "--out", str(tmp_path / "s.csv")], []):
        assert main(["score", "--markers", str(m), "--clinical", str(c), *extra]) == 2, extra
        assert said in capsys.readouterr().err
    # an empty column on the markers gives no value twice; without a clinical table they are read
    markers.assign(ecog=None).to_csv(m, index=False)
    assert P.predict_cohort(str(m), str(c))["status"].iloc[0] == "ok"
    rows = pd.concat([markers.assign(**{k: v for k, v in clinical_row.items() if k != "patient_id"}),
                      markers.assign(patient_id="b", **{k: v for k, v in clinical_row.items() if k != "patient_id"})])
    rows.to_csv(m, index=False)
    direct = P.predict_cohort(str(m))
    assert direct["status"].tolist() == ["ok", "ok"]
    # ca125 score reads the factors on the rows too, whole or in chunks (it scored them as unknown)
    for extra in ([], ["--chunk-rows", "1"]):
        out = tmp_path / f"rows{len(extra)}.csv"
        assert main(["score", "--markers", str(m), "--out", str(out), *extra]) == 0, extra
        scored = pd.read_csv(out, dtype={"patient_id": str})
        assert scored["status"].tolist() == ["ok", "ok"], extra
        np.testing.assert_allclose(scored["probability"], direct["probability"], rtol=1e-12)


@pytest.mark.parametrize("markers", [[], {"day": [], "ca125": []}, pd.DataFrame({"day": [], "ca125": []}),
                                     pd.DataFrame({"patient_id": [], "day": [], "ca125": []})])
def test_no_sample_is_one_answer_in_every_form(markers):
    """No sample at all was answered three ways: an empty list was 'not an accepted form', an
    empty mapping 'not_scored: only a clinical row' with no clinical row given, an empty
    frame with patient_id 'the input holds 0 (); use predict_cohort'. Without a clinical row
    there is no patient: refused; with one, the patient has only a clinical row."""
    with pytest.raises(InvalidInputError, match="the markers hold no sample"):
        P.predict(markers)
    result = P.predict(markers, {"patient_id": "P9", "ecog": 0})
    assert (result.patient_id, result.status) == ("P9", "not_scored")
    assert "only a clinical row" in result.reason


def test_a_probability_just_below_the_threshold_is_not_written_as_the_threshold(bundle):
    """p 0.69999 against a threshold of 0.70 was written "0.70 < threshold 0.70" (and the text
    report's probability line "0.70 ... threshold 0.70" beside a decision not to operate): the
    number shown now stands on the threshold's side the probability does, in every text."""
    import dataclasses

    from ca125kinetics._columns import probability_text, text_objects, threshold_text
    from ca125kinetics.predict.decision import _p_texts

    assert [probability_text(p, 0.7) for p in (0.69999, 0.7, 0.700004, 0.6949, 0.5)] == \
        ["0.69999", "0.70", "0.700004", "0.69", "0.50"]
    assert threshold_text(0.7) == "0.70" and threshold_text(0.705) == "0.705"
    rng = np.random.default_rng(7)
    for t in (0.7, 0.705, 0.5):
        ps = np.concatenate([t + rng.normal(0, 1e-3, 300), t + rng.normal(0, 1e-7, 300), rng.uniform(0, 1, 300), [t]])
        ps = np.clip(ps, 0, 1)
        assert list(text_objects(_p_texts(ps, t))) == [probability_text(float(p), t) for p in ps]
        for p, text in zip(ps.tolist(), (probability_text(p, t) for p in ps.tolist())):
            assert np.sign(float(text) - t) == np.sign(p - t)
    p = P.predict(WORKED, CLINICAL, model=bundle).probability
    below = P.predict(WORKED, CLINICAL, model=dataclasses.replace(bundle, threshold=p + 1e-6))
    assert below.decision == "not_resectable"
    shown = probability_text(p, p + 1e-6)
    assert shown != threshold_text(p + 1e-6) and f"predicted probability {shown} < threshold" in below.recommendation
    assert f"Probability of complete resection: {shown} " in below.to_text()


def test_a_mapping_of_series_is_read_by_position_only_when_their_indexes_agree(bundle):
    # a Series sorted on its own (index 13..10 beside 10..13) was paired by position: the
    # patient's rising values were scored as a fall's mirror image (status ok); with the
    # clinical factors in the mapping, the same input was paired by label (pandas): two readings
    day = pd.Series(WORKED["day"], index=[10, 11, 12, 13])
    value = pd.Series(WORKED["ca125"], index=[10, 11, 12, 13])
    lists = P.predict(WORKED, CLINICAL, model=bundle)
    assert P.predict({"day": day, "ca125": value}, CLINICAL, model=bundle).probability == lists.probability
    assert P.predict({"day": day, "ca125": value, **CLINICAL}, model=bundle).probability == lists.probability
    for shuffled in (value.iloc[::-1], value.reset_index(drop=True)):
        for markers, clinical in (({"day": day, "ca125": shuffled}, CLINICAL),
                                  ({"day": day, "ca125": shuffled, **CLINICAL}, None)):
            with pytest.raises(InvalidInputError, match="different indexes") as caught:
                P.predict(markers, clinical, model=bundle)
            assert caught.value.column == "ca125"


def test_predict_refuses_a_malformed_columns_mapping_and_a_clinical_series_naming_a_factor_twice(bundle):
    # columns=[("ECOG", "ecog")] raised an untyped AttributeError in predict; a Series with the
    # label 'ecog' twice was read as its last value (Series.to_dict), the other left out
    with pytest.raises(InvalidInputError, match="columns must map column names"):
        P.predict(WORKED, CLINICAL, model=bundle, columns=[("ECOG", "ecog")])
    twice = pd.Series(list(CLINICAL.values()) + [3], index=list(CLINICAL) + ["ecog"])
    with pytest.raises(InvalidInputError, match=r"names column\(s\) \['ecog'\] more than once"):
        P.predict(WORKED, twice, model=bundle)
    assert P.predict(WORKED, pd.Series(CLINICAL), model=bundle).status == P.predict(WORKED, CLINICAL,
                                                                                    model=bundle).status


def test_predict_many_refuses_items_that_are_not_markers_clinical_pairs(bundle):
    # a triple raised an untyped ValueError, None a TypeError; a mapping item (one patient's
    # markers, or {"markers": ..., "clinical": ...}) was unpacked into its keys and read as paths
    for items, message in (([(WORKED, CLINICAL, True)], "item 0 must be a .* got a tuple of 3"),
                           ([WORKED], "item 0 must be a .* got a dict"),
                           ([(WORKED, CLINICAL), {"markers": WORKED, "clinical": CLINICAL}], "item 1 must be"),
                           (None, "takes a sequence of .* got NoneType"),
                           ("markers.csv", "got str"),
                           (WORKED, "got dict")):
        with pytest.raises(InvalidInputError, match=message):
            P.predict_many(items, model=bundle)
    one = P.predict_many(iter([[WORKED, CLINICAL]]), model=bundle)[0]       # a list pair, from an iterator
    assert one.probability == P.predict(WORKED, CLINICAL, model=bundle).probability


def test_a_one_row_clinical_dataframe_without_identifier_is_the_patients_row_as_a_series_is(bundle):
    # pd.DataFrame([clinical]) was refused ("the clinical table needs ['patient_id']") while
    # pd.Series(clinical) and the same row with an identifier were scored; the table's rules
    # still apply to it (a single-precision column, a near miss), and two rows need identifiers
    expected = P.predict(WORKED, CLINICAL, model=bundle).to_dict()
    assert P.predict(WORKED, pd.DataFrame([CLINICAL], index=[7]), model=bundle).to_dict() == expected
    assert P.predict({**WORKED, "patient_id": "q"}, pd.DataFrame([CLINICAL]), model=bundle).patient_id == "q"
    for refused, message in ((pd.DataFrame([CLINICAL]).astype({"age": "float32"}), "single-precision"),
                             (pd.DataFrame([CLINICAL]).rename(columns={"ecog": "ECOG"}), "looks like 'ecog'"),
                             (pd.DataFrame([CLINICAL, CLINICAL]), r"needs \['patient_id'\]")):
        with pytest.raises(InvalidInputError, match=message):
            P.predict(WORKED, refused, model=bundle)


def test_a_one_row_clinical_dataframe_indexed_by_patient_id_is_not_given_to_the_markers_patient(bundle):
    # clinical.set_index("patient_id").loc[["B"]] holds patient B's row: it was scored as the
    # markers' patient (another patient's factors, silently) since a one-row frame without the
    # column became the patient's row; it is refused as two such rows are
    other = pd.DataFrame([{**CLINICAL, "patient_id": "B"}]).set_index("patient_id")
    with pytest.raises(InvalidInputError, match=r"clinical DataFrame holds patient_id in its index.*reset_index"):
        P.predict({**WORKED, "patient_id": "A"}, other, model=bundle)
    assert P.predict({**WORKED, "patient_id": "B"}, other.reset_index(), model=bundle).patient_id == "B"


def test_a_clinical_series_named_by_another_patient_is_not_given_to_the_markers_patient(bundle):
    # clinical.set_index("patient_id").loc["B"] is patient B's row, named "B": it was scored as
    # patient A's factors beside A's markers, silently; without an id in the markers it names
    # the patient, and a whole-number name (a row's position, iloc) says nothing
    table = pd.DataFrame([{**CLINICAL, "patient_id": "A", "ecog": 0}, {**CLINICAL, "patient_id": "B", "ecog": 2}])
    indexed = table.set_index("patient_id")
    with pytest.raises(InvalidInputError, match=r"named 'B' .*markers are patient 'A''s: pass patient 'A''s row"):
        P.predict({**WORKED, "patient_id": "A"}, indexed.loc["B"], model=bundle)
    own = P.predict({**WORKED, "patient_id": "A"}, indexed.loc["A"], model=bundle)
    assert own.to_dict() == P.predict({**WORKED, "patient_id": "A"}, table, model=bundle).to_dict()
    anonymous = P.predict(WORKED, indexed.loc["B"], model=bundle)
    assert anonymous.patient_id == "B"
    assert anonymous.probability == P.predict({**WORKED, "patient_id": "B"}, table, model=bundle).probability
    assert P.predict({**WORKED, "patient_id": "A"}, table.drop(columns="patient_id").iloc[1],
                     model=bundle).patient_id == "A"
    named_too = {**CLINICAL, "patient_id": "B"}      # an id entry wins over the name, and is checked itself
    assert P.predict({**WORKED, "patient_id": "B"}, pd.Series(named_too, name="A"), model=bundle).patient_id == "B"


def test_markers_indexed_by_patient_id_are_refused_not_given_to_the_clinical_rows_patient(bundle):
    # markers.set_index("patient_id").loc[["A"]] beside patient B's clinical row was scored as
    # patient B (A's samples, B's factors); beside the whole table it was patient 'patient'
    table = pd.DataFrame([{**CLINICAL, "patient_id": "A"}, {**CLINICAL, "patient_id": "B", "ecog": 2}])
    markers = pd.DataFrame({**WORKED, "patient_id": "A"}).set_index("patient_id")
    for clinical in (table, table.iloc[1], table.set_index("patient_id").loc["B"]):
        with pytest.raises(InvalidInputError, match=r"patient_id in its index.*markers.reset_index\(\)"):
            P.predict(markers, clinical, model=bundle)
    assert P.predict(markers.reset_index(), table, model=bundle).patient_id == "A"


def test_markers_columns_indexed_by_patient_id_are_refused_not_given_to_the_clinical_rows_patient(bundle):
    # {"day": a["day"], "ca125": a["ca125"]} of a = markers.set_index("patient_id").loc["A"]:
    # the Series carry patient A in their index, which the mapping form did not read, so A's
    # samples were scored with patient B's clinical row as patient B, silently
    table = pd.DataFrame([{**CLINICAL, "patient_id": "A"}, {**CLINICAL, "patient_id": "B", "ecog": 2}])
    a = pd.DataFrame({**WORKED, "patient_id": "A"}).set_index("patient_id").loc["A"]
    for clinical in (table.iloc[1], table.iloc[[1]], table.set_index("patient_id").loc["B"]):
        with pytest.raises(InvalidInputError, match=r"patient_id in their index.*'patient_id' key"):
            P.predict({"day": a["day"], "ca125": a["ca125"]}, clinical, model=bundle)
        with pytest.raises(InvalidInputError, match=r"patient_id in their index"):   # with clinical keys too
            P.predict({"day": a["day"], "ca125": a["ca125"], "ecog": 0}, None, model=bundle)
    own = P.predict({"day": a["day"], "ca125": a["ca125"], "patient_id": "A"}, table, model=bundle)
    assert own.to_dict() == P.predict({**WORKED, "patient_id": "A"}, table, model=bundle).to_dict()
    plain = {"day": a["day"].reset_index(drop=True), "ca125": a["ca125"].reset_index(drop=True)}
    assert P.predict(plain, table.iloc[1], model=bundle).patient_id == "B"     # the user's own pairing


def test_a_clinical_row_of_a_multiindex_table_named_by_another_patient_is_refused(bundle):
    # clinical.set_index(["patient_id", "centre"]).loc[("B", "x")] is patient B's row, named by a
    # tuple: its name was not read (only a text name was), and B's factors scored patient A
    table = pd.DataFrame([{**CLINICAL, "patient_id": "A", "centre": "x", "ecog": 0},
                          {**CLINICAL, "patient_id": "B", "centre": "x", "ecog": 2}])
    indexed = table.set_index(["patient_id", "centre"])
    with pytest.raises(InvalidInputError, match=r"named \('B', 'x'\) .*markers are patient 'A''s"):
        P.predict({**WORKED, "patient_id": "A"}, indexed.loc[("B", "x")], model=bundle)
    with pytest.raises(InvalidInputError, match=r"named \('B', 'x'\)"):
        P.predict_many([({**WORKED, "patient_id": "A"}, indexed.loc[("B", "x")])], model=bundle)
    own = P.predict({**WORKED, "patient_id": "A"}, indexed.loc[("A", "x")], model=bundle)
    assert own.to_dict() == P.predict({**WORKED, "patient_id": "A"}, table, model=bundle).to_dict()
    numeric = table.assign(patient_id=[1, 2]).set_index(["patient_id", "centre"])    # ids read as numbers
    with pytest.raises(InvalidInputError, match=r"named \(2, 'x'\)"):
        P.predict({**WORKED, "patient_id": 1}, numeric.loc[(2, "x")], model=bundle)
    assert P.predict({**WORKED, "patient_id": 2}, numeric.loc[(2, "x")], model=bundle).patient_id == "2"


def test_a_one_row_clinical_dataframe_labelled_by_another_patient_is_refused_as_a_series_is(bundle):
    # clinical.set_index("patient_id").loc["B"].to_frame().T is patient B's row, labelled "B"
    # with an unnamed index: it was read as the markers' patient's row, and B's factors scored A
    table = pd.DataFrame([{**CLINICAL, "patient_id": "A", "ecog": 0}, {**CLINICAL, "patient_id": "B", "ecog": 2}])
    row_b = table.set_index("patient_id").loc["B"].to_frame().T
    assert row_b.index.name is None and list(row_b.index) == ["B"]
    with pytest.raises(InvalidInputError, match=r"labelled 'B' .*markers are patient 'A''s: pass patient 'A''s row"):
        P.predict({**WORKED, "patient_id": "A"}, row_b, model=bundle)
    row_a = table.set_index("patient_id").loc[["A"]].rename_axis(None)
    own = P.predict({**WORKED, "patient_id": "A"}, row_a, model=bundle)
    assert own.to_dict() == P.predict({**WORKED, "patient_id": "A"}, table, model=bundle).to_dict()
    anonymous = P.predict(WORKED, row_b, model=bundle)       # as a Series named 'B' names the patient
    assert anonymous.patient_id == "B"
    assert anonymous.probability == P.predict({**WORKED, "patient_id": "B"}, table, model=bundle).probability
    positional = pd.DataFrame([{**CLINICAL, "ecog": 2}], index=[1])     # a whole number says nothing
    assert P.predict({**WORKED, "patient_id": "A"}, positional, model=bundle).patient_id == "A"


@pytest.mark.parametrize("empty", [None, float("nan"), pd.NA])
def test_a_clinical_row_whose_patient_id_is_empty_is_refused_in_every_form(bundle, empty):
    # a row of a table whose identifier cell is empty (table.iloc[1], or its to_dict()) is no
    # patient's known row: it was taken as the markers' patient's factors, silently, while the
    # same row as a one-row DataFrame, or with the identifier '', was refused
    table = pd.DataFrame([{**CLINICAL, "patient_id": "A", "ecog": 0}, {**CLINICAL, "patient_id": empty, "ecog": 2}])
    for row in (table.iloc[1], table.iloc[1].to_dict(), table.iloc[[1]], {**CLINICAL, "patient_id": ""}):
        with pytest.raises(InvalidInputError, match=r"patient_id is empty in 1 row"):
            P.predict({**WORKED, "patient_id": "A"}, row, model=bundle)
        with pytest.raises(InvalidInputError, match=r"patient_id is empty in 1 row"):
            P.predict(WORKED, row, model=bundle)
    # no patient_id entry at all is the markers' patient's row, as before
    assert P.predict({**WORKED, "patient_id": "A"}, table.drop(columns="patient_id").iloc[1],
                     model=bundle).patient_id == "A"


def test_a_one_row_clinical_dataframe_with_a_near_miss_of_patient_id_is_refused_as_a_series_is(bundle):
    # a one-row frame with 'PatientID' was told it "names the same column twice, written
    # differently: 'PatientID' and 'patient_id'", a column the reader had added itself
    row = {**CLINICAL, "PatientID": "B"}
    for clinical in (pd.Series(row), pd.DataFrame([row])):
        with pytest.raises(InvalidInputError, match=r"'PatientID' looks like 'patient_id'") as caught:
            P.predict({**WORKED, "patient_id": "A"}, clinical, model=bundle)
        assert "twice" not in str(caught.value)


def test_a_cohorts_rows_without_patient_id_are_refused_naming_the_column(bundle):
    # pyfunc rows (clinical factors on each row) without patient_id were told "cannot read
    # clinical from a dict; pass a path ..." (the one-patient split of predict); a cohort's
    # rows must say whose they are, as the readers require
    rows = pd.DataFrame({**WORKED, **CLINICAL})
    for frame, says in ((rows, r"missing required column\(s\) \['patient_id'\]"),
                        (rows.assign(patient_id="A").set_index("patient_id"), r"patient_id in its index")):
        for score in (lambda f: P.score_frame(bundle, f), lambda f: P.predict_cohort(f, model=bundle)):
            with pytest.raises(InvalidInputError, match=says):
                score(frame)
    assert P.score_frame(bundle, rows.assign(patient_id="A"))["patient_id"].tolist() == ["A"]
    assert P.predict(rows, model=bundle).status == P.predict(WORKED, CLINICAL, model=bundle).status


def test_a_readers_note_on_a_table_is_in_the_cohorts_warnings(bundle):
    """Samples without a ULN beside samples with one are read with the default ULN, so the
    patient has two: ``predict`` said so in the result's warnings, but a cohort read as a table
    (``predict_cohort``, ``score_frame``) said it only in a Python warning for the whole table,
    and a Spark run, whose executors read the table, not at all. The cohort's ``warnings`` now
    carry the note, as ``predict`` gives it, also for a table read before it is scored."""
    from ca125kinetics.errors import DataQualityWarning
    from ca125kinetics.io import read_markers

    ulns = {"a1": [30.0, None, None, 30.0], "a2": [30.0] * 4}
    markers = pd.DataFrame([{"patient_id": pid, "day": d, "ca125": v, "uln": u} for pid, given_ulns in ulns.items()
                            for d, v, u in zip(WORKED["day"], WORKED["ca125"], given_ulns)])
    clinical = pd.DataFrame([{"patient_id": pid, **CLINICAL} for pid in ulns])
    with pytest.warns(DataQualityWarning, match="uln is empty in 2 sample row"):
        alone = P.predict(markers[markers["patient_id"] == "a1"], {"patient_id": "a1", **CLINICAL}, model=bundle)
    note = ("no ULN given for 2 sample(s) (day 21, day 42) while the patient's other samples give one: those are "
            "read with the default ULN 35 U/mL")
    assert any(w.startswith(note) for w in alone.warnings)
    with pytest.warns(DataQualityWarning, match="uln is empty in 2 sample row"):
        read_first = read_markers(markers, on_error="flag")
    for given_markers in (markers, read_first):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataQualityWarning)
            out = P.predict_cohort(given_markers, clinical, model=bundle).set_index("patient_id")["warnings"]
        assert tuple(w for w in out["a1"].split("; ") if w) == alone.warnings
        assert "no ULN given" not in out["a2"]


def test_a_read_frames_notes_are_shared_not_deep_copied_by_pandas_operations():
    """pandas deep-copies ``attrs`` into the result of nearly every operation; the reader's
    notes (one entry per noted patient) made a filter or a column of a 60,000-patient chunk
    whose every patient was noted cost 0.3 s (``predict_cohort`` 10 s instead of 3.6 s). The
    notes are read-only and carried as the one object, whatever the operation."""
    import copy
    import pickle

    from ca125kinetics.errors import DataQualityWarning
    from ca125kinetics.io import NOTES_ATTR, read_markers

    markers = pd.DataFrame({"patient_id": ["a1"] * 3 + ["a2"] * 3, "day": [-3, 21, 42] * 2,
                            "ca125": [400.0, 180.0, 90.0] * 2, "uln": [30.0, None, 30.0, 30.0, 30.0, 30.0]})
    with pytest.warns(DataQualityWarning, match="uln is empty"):
        read = read_markers(markers, on_error="flag")
    notes = read.attrs[NOTES_ATTR]
    assert list(notes) == ["a1"] and notes["a1"][0].startswith("no ULN given for 1 sample(s) (day 21)")
    for derived in (read[read["day"] > 0], read.copy(), read.merge(read[["patient_id"]].drop_duplicates()),
                    pd.concat([read.head(3), read.tail(3)]), copy.deepcopy(read)):
        assert derived.attrs[NOTES_ATTR] is notes
    assert pickle.loads(pickle.dumps(read)).attrs[NOTES_ATTR] == notes
    with pytest.raises(TypeError):
        notes["a2"] = ("edited",)    # read-only: one object is shared by every frame made from it


def test_a_read_frames_uln_note_is_dropped_once_the_caller_fills_in_the_uln(bundle):
    """A frame read with samples without a ULN carries the reader's note; the caller who then
    gives those samples their ULN and scores the frame got the note still ("no ULN given for 1
    sample(s) (day 21) ... read with the default ULN 35 U/mL, so the ULN differs"), which was
    false: the patient's samples have one ULN. A patient whose ULN still differs keeps it, and
    so does one whose samples all hold the default (as the first reading left them)."""
    from ca125kinetics.errors import DataQualityWarning
    from ca125kinetics.io import NOTES_ATTR, read_markers

    markers = pd.DataFrame({"patient_id": ["a1"] * 4 + ["a2"] * 4 + ["a3"] * 4, "day": WORKED["day"] * 3,
                            "ca125": WORKED["ca125"] * 3,
                            "uln": [30.0, None, 30.0, 30.0] * 2 + [35.0, None, 35.0, 35.0]})
    clinical = pd.DataFrame([{"patient_id": pid, **CLINICAL} for pid in ("a1", "a2")])
    with pytest.warns(DataQualityWarning, match="uln is empty"):
        read = read_markers(markers, on_error="flag")
    assert sorted(read.attrs[NOTES_ATTR]) == ["a1", "a2", "a3"]
    mended = read.copy()
    mended.loc[(mended["patient_id"] == "a1") & (mended["day"] == 21), "uln"] = 30.0
    # a3's given ULNs are the default: its filled-in cell cannot be told from them, as first read
    assert sorted(read_markers(mended, on_error="flag").attrs[NOTES_ATTR]) == ["a2", "a3"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        out = P.predict_cohort(mended, clinical, model=bundle).set_index("patient_id")["warnings"]
    assert "no ULN given" not in out["a1"]
    assert "no ULN given for 1 sample(s) (day 21)" in out["a2"]


def test_an_interrupted_model_download_is_not_called_a_missing_model(monkeypatch):
    """Any error of mlflow's download became 'could not resolve the MLflow model URI ...; check
    the name/alias/version', also one an interruption turned into, or one raised after a stop
    request (Ctrl-C, SIGTERM): those go on as the interruption."""
    import mlflow.artifacts

    from ca125kinetics import errors
    from ca125kinetics.errors import caused_by_interrupt

    def interrupted(**kwargs):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise RuntimeError("cannot schedule new futures after interpreter shutdown") from None

    def failing(**kwargs):
        raise OSError("connection reset")

    P.clear_model_cache()
    monkeypatch.setattr(mlflow.artifacts, "download_artifacts", interrupted)
    with pytest.raises(RuntimeError) as raised:
        P.load_model("runs:/0123456789abcdef/model")
    assert caused_by_interrupt(raised.value)
    monkeypatch.setattr(mlflow.artifacts, "download_artifacts", failing)
    errors._STOP.set()
    try:
        with pytest.raises(KeyboardInterrupt):
            P.load_model("runs:/0123456789abcdef/model")
    finally:
        errors._STOP.clear()
    with pytest.raises(ModelNotFoundError, match="could not resolve the MLflow model URI"):
        P.load_model("runs:/0123456789abcdef/model")


def test_an_invalid_patient_of_a_pyfunc_form_file_keeps_its_clinical_values(bundle, model_dir, tmp_path, capsys):
    """The pyfunc form (clinical factors on the markers rows) read from a file: the markers
    reader's placeholder row of an invalid patient carried no clinical values, so its RECIST
    category (reported for invalid input too) was lost: ``predict_cohort`` of the file and
    ``ca125 score`` (whole or in chunks) said recist None where the same table as a DataFrame,
    or ``predict``, said 'PR'."""
    from ca125kinetics.cli import main

    pyfunc = pd.DataFrame({"patient_id": ["a"] * 3 + ["b"] * 4, "day": [-3, 21, 21, -3, 21, 42, 63],
                           "ca125": [400.0, 180.0, 170.0, *WORKED["ca125"]]}).assign(**CLINICAL)
    path = tmp_path / "pyfunc.csv"
    pyfunc.to_csv(path, index=False)
    want = P.predict_cohort(pyfunc, model=bundle).set_index("patient_id")
    assert want.loc["a", "status"] == "invalid_input" and want.loc["a", "recist"] == CLINICAL["recist"]
    assert P.predict(pyfunc[pyfunc.patient_id == "a"], model=bundle).recist == CLINICAL["recist"]
    got = P.predict_cohort(str(path), model=bundle).set_index("patient_id")
    assert got["recist"].tolist() == want["recist"].tolist()
    for extra in ([], ["--chunk-rows", "2"]):
        out = tmp_path / "score.csv"
        assert main(["score", "--markers", str(path), "--model", str(model_dir), "--out", str(out), *extra]) == 0
        assert pd.read_csv(out).set_index("patient_id")["recist"].tolist() == want["recist"].tolist(), extra
    capsys.readouterr()


def test_a_patient_invalid_in_both_tables_gets_the_clinical_reason_on_every_path(bundle, model_dir, tmp_path, capsys):
    """Markers and clinical row both invalid: the reason is the clinical row's first
    (``PatientRecord.reason``) on every path. ``ca125 score`` of a cohort (whole or in chunks)
    and ``predict_cohort`` of a pyfunc-form file put the markers' reason first, where
    ``predict`` and ``predict_cohort`` of the same tables gave the clinical one."""
    from ca125kinetics.cli import main

    markers = pd.DataFrame({"patient_id": ["a"] * 3 + ["b"] * 4, "day": [-3, 21, 21, *WORKED["day"]],
                            "ca125": [400.0, 180.0, 170.0, *WORKED["ca125"]]})
    clinical = pd.DataFrame([dict(CLINICAL, patient_id="a", ecog=7), dict(CLINICAL, patient_id="b")])
    clinical_reason = "ecog 7 is outside 0..4"

    def first(reason):
        return reason.startswith("invalid input: clinical table") and clinical_reason in reason.split(";")[0]

    assert first(P.predict(markers[markers.patient_id == "a"], clinical, model=bundle).reason)
    assert first(P.predict_cohort(markers, clinical, model=bundle).set_index("patient_id").loc["a", "reason"])
    markers.to_csv(tmp_path / "m.csv", index=False)
    clinical.to_csv(tmp_path / "c.csv", index=False)
    pyfunc = markers.merge(clinical, on="patient_id")
    pyfunc.to_csv(tmp_path / "p.csv", index=False)
    assert first(P.predict_cohort(pyfunc, model=bundle).set_index("patient_id").loc["a", "reason"])
    assert first(P.predict_cohort(str(tmp_path / "p.csv"), model=bundle).set_index("patient_id").loc["a", "reason"])
    files = (["--markers", str(tmp_path / "m.csv"), "--clinical", str(tmp_path / "c.csv")],
             ["--markers", str(tmp_path / "p.csv")])
    for given in files:
        for extra in ([], ["--chunk-rows", "2"]):
            out = tmp_path / "score.csv"
            assert main(["score", *given, "--model", str(model_dir), "--out", str(out), *extra]) == 0
            got = pd.read_csv(out).set_index("patient_id").loc["a", "reason"]
            assert first(got), (given, extra, got)
    capsys.readouterr()
