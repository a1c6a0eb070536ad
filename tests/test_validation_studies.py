"""Tests of validation/studies.py: frozen validation, exclusions, subgroups, survival, bootstrap.

The model is a small ``logistic_main`` bundle fitted in a session fixture on a simulated
training cohort; the validation cohort is a second simulated cohort (another seed) with a few
planted problems: a patient with a negative CA-125 (invalid input), a clinical row without
markers, a patient the model returns no probability for, and a surgery-arm patient whose
outcome is empty.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from ca125kinetics.errors import DataQualityWarning, InsufficientDataError, InvalidInputError
from ca125kinetics.predict import predict_cohort
from ca125kinetics.predict.result import SCORED_STATUSES
from ca125kinetics.validation import survival as sv
from ca125kinetics.validation.metrics import delong_test, metrics, threshold_metrics
from ca125kinetics.validation.studies import (
    EXCLUSION_REASONS,
    OPTIMISM_METRICS,
    _resample_frame,
    optimism_bootstrap,
    validate_model,
)

# kinetics' sort check computes inf - inf (a harmless numpy RuntimeWarning reported to its owner)
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered in subtract:RuntimeWarning")


class _NoProbabilityFor:
    """A bundle that returns no probability for one patient (to exercise "not_scored")."""

    def __init__(self, bundle, patient_id):
        self._bundle = bundle
        self._patient_id = patient_id

    def __getattr__(self, name):
        return getattr(self._bundle, name)

    def predict_proba(self, frame):
        out = self._bundle.predict_proba(frame)
        out.loc[(frame["patient_id"].astype(str) == self._patient_id).to_numpy(), ["p", "p_low", "p_high"]] = np.nan
        return out

    def predict_head(self, columns, n):   # what scoring calls (predict._score_patients)
        p, low, high = (np.array(a, dtype=float) for a in self._bundle.predict_head(columns, n))
        hit = np.asarray(columns["patient_id"], dtype=object).astype(str) == self._patient_id
        p[hit] = low[hit] = high[hit] = np.nan
        return p, low, high


@pytest.fixture(scope="session")
def training():
    from ca125kinetics.bundle import ModelBundle
    from ca125kinetics.features import build_patient_frame
    from ca125kinetics.models import make_pipeline
    from ca125kinetics.synth import simulate_cohort

    cohort = simulate_cohort(240, 20261121)
    frame = build_patient_frame(cohort.markers, cohort.clinical)
    y = cohort.truth.set_index("patient_id").reindex(frame["patient_id"])["complete_resection_potential"]
    y = y.to_numpy(dtype=int)
    pipeline = make_pipeline("logistic_main").fit(frame, y)
    bundle = ModelBundle(pipeline=pipeline, name="validation-test", version="0.0.0+test",
                         model_family="logistic_main", threshold=0.70, trained_on_synthetic=True,
                         feature_ranges={"age": (float(frame["age"].min()), float(frame["age"].max()))},
                         training_summary={"n": len(frame), "events": int(y.sum())})
    return bundle, frame, y


@pytest.fixture(scope="session")
def cohort():
    """Validation cohort with planted problems; returns (markers, clinical, planted ids)."""
    from ca125kinetics.synth import simulate_cohort

    c = simulate_cohort(160, 7)
    markers = c.markers.copy()
    clinical = c.clinical.copy()
    surgery = clinical.loc[clinical["arm"] == "surgery", "patient_id"].tolist()
    planted = {"invalid_input": surgery[0], "not_scored": surgery[1], "no_outcome": surgery[2],
               "no_markers": "999999"}
    first = markers.index[(markers["patient_id"] == planted["invalid_input"]) & markers["ca125"].notna()][1]
    markers.loc[first, "ca125"] = -4.0
    clinical.loc[clinical["patient_id"] == planted["no_outcome"], "complete_resection"] = pd.NA
    extra = clinical.iloc[[3]].copy()
    extra["patient_id"] = planted["no_markers"]
    clinical = pd.concat([clinical, extra], ignore_index=True)
    return markers, clinical, planted


@pytest.fixture(scope="session")
def model(training, cohort):
    return _NoProbabilityFor(training[0], cohort[2]["not_scored"])


@pytest.fixture(scope="session")
def result(model, cohort):
    markers, clinical, _ = cohort
    return validate_model(markers, clinical, model=model)


# ----------------------------------------------------------------------------- frozen validation


def test_frozen_validation_gives_the_metrics_of_predict_cohort_output(result, model, cohort):
    from ca125kinetics.predict import predict_cohort

    markers, clinical, _ = cohort
    # the study measures probabilities, imputation of unknown factors included (allow_imputed)
    scored = predict_cohort(markers, clinical, model=model, allow_imputed=True)
    outcome = clinical.set_index("patient_id")["complete_resection"]
    scored["y"] = scored["patient_id"].map(outcome).astype("Float64")
    ok = scored[scored["status"].isin(SCORED_STATUSES) & scored["probability"].notna() & scored["y"].notna()]
    y, p = ok["y"].to_numpy(dtype=int), ok["probability"].to_numpy(dtype=float)
    assert result.metrics.to_dict() == metrics(y, p).to_dict()
    assert result.threshold.to_dict() == threshold_metrics(y, p, 0.70).to_dict()
    assert result.model["name"] == "validation-test" and result.model["threshold"] == 0.70
    frame = result.to_frame().set_index("metric")
    assert frame.loc["auc", "estimate"] == result.metrics.auc
    assert 0.5 < result.metrics.auc < 1.0


def test_the_model_is_not_refitted(training, cohort):
    bundle = training[0]
    before = bundle.pipeline[-1].coef_.copy(), bundle.pipeline[0].population_.to_dict()
    validate_model(cohort[0], cohort[1], model=bundle, survival=False, subgroups=())
    np.testing.assert_array_equal(bundle.pipeline[-1].coef_, before[0])
    assert bundle.pipeline[0].population_.to_dict() == before[1]


def test_every_patient_is_analysed_or_excluded_once_with_its_reason(result, cohort):
    markers, clinical, planted = cohort
    everyone = set(clinical["patient_id"]) | set(markers["patient_id"])
    analysed = set(result.predictions.loc[result.predictions["included"], "patient_id"])
    excluded = result.exclusions["patient_id"].tolist()
    assert len(excluded) == len(set(excluded))
    assert analysed.isdisjoint(excluded)
    assert analysed | set(excluded) == everyone
    reasons = result.exclusions.set_index("patient_id")["reason"]
    for reason, pid in planted.items():
        assert reasons[pid] == reason
    assert set(reasons) <= set(EXCLUSION_REASONS)
    # the predictions table carries each patient's reason (none when analysed)
    pred = result.predictions.set_index("patient_id")
    assert pred.loc[pred["included"], "exclusion_reason"].isna().all()
    excluded_scored = pred.index[~pred["included"]]
    assert (pred.loc[excluded_scored, "exclusion_reason"] == reasons[excluded_scored]).all()
    detail = result.exclusions.set_index("patient_id")["detail"]
    assert "ca125" in detail[planted["invalid_input"]]
    assert "empty in the clinical table" in detail[planted["no_outcome"]]
    # every patient of the no-surgery arm has no outcome and is listed as such
    no_surgery = set(clinical.loc[clinical["arm"] == "no_surgery", "patient_id"]) - {planted["no_markers"]}
    assert {pid for pid in no_surgery if reasons.get(pid) == "no_outcome"} == no_surgery
    flow = result.flow.set_index("step")["n"]
    assert flow["analysed"] == result.metrics.n == len(analysed)
    assert sum(flow[f"excluded: {r}"] for r in EXCLUSION_REASONS) == len(excluded)
    # the flow starts from everyone, and does not call a clinical-only patient one with markers
    assert flow["patients in either table (analysed or excluded)"] == len(everyone)
    assert flow["patients with markers"] == markers["patient_id"].nunique()
    assert flow["patients in the clinical table"] == len(clinical)


def test_a_withheld_decision_does_not_exclude_a_scored_patient(training, cohort):
    """Without RECIST, a patient with no confirmed GCIG response gets no decision (status
    "insufficient") but has a probability: the study measures probabilities, so the patient
    is analysed, like one whose unknown predictors were imputed."""
    markers, clinical, _ = cohort
    clinical = clinical.assign(recist=pd.NA)
    res = validate_model(markers, clinical, model=training[0], survival=False, subgroups=())
    pred = res.predictions.set_index("patient_id")
    withheld = pred.index[pred["status"] == "insufficient"]
    assert len(withheld) > 0 and pred.loc[withheld, "probability"].notna().all()
    observed = pred.loc[withheld, "complete_resection"].notna()
    assert observed.any()
    assert pred.loc[withheld[observed.to_numpy()], "included"].all()
    assert "not_scored" not in set(res.exclusions["reason"])


def test_a_decision_withheld_for_an_imputed_factor_is_said_and_counted(training, cohort):
    """A patient whose ECOG is unknown is analysed with the model's imputed probability, and
    the predictions say that ``ca125 score`` withholds the decision (status "insufficient"):
    it said "ok", as if a decision had been made; the flow counts such patients."""
    markers, clinical, _ = cohort
    clinical = clinical.copy()
    clinical["ecog"] = clinical["ecog"].astype(float)
    clinical.loc[clinical["complete_resection"].notna().to_numpy().nonzero()[0][:20], "ecog"] = np.nan
    allowed = predict_cohort(markers, clinical, model=training[0], allow_imputed=True).set_index("patient_id")
    decided = allowed["decision"].isin(["resectable", "not_resectable"]) & allowed["status"].eq("ok")
    unknown = clinical.loc[clinical["ecog"].isna() & clinical["patient_id"].isin(allowed.index[decided]), "patient_id"]
    assert len(unknown) >= 5
    res = validate_model(markers, clinical, model=training[0], survival=False, subgroups=())
    pred = res.predictions.set_index("patient_id")
    assert (pred.loc[unknown, "status"] == "insufficient").all()
    assert pred.loc[unknown, "included"].all()
    assert np.array_equal(pred.loc[unknown, "probability"].to_numpy(dtype=float),
                          allowed.loc[unknown, "probability"].to_numpy(dtype=float))
    flow = res.flow.set_index("step")["n"]
    withheld = pred["included"] & (pred["status"] == "insufficient")
    assert flow["analysed, decision withheld by ca125 score (status insufficient)"] == withheld.sum() >= len(unknown)


def test_a_refused_outcome_is_not_rewritten_in_the_predictions(training, cohort):
    """An outcome of 0.5 (refused: not 0 or 1) had been written as 0 in the predictions table,
    and a patient with two clinical rows (outcomes 0 and 1) as the first one's 0: both are
    excluded as invalid input and their outcome is empty; the others' are as given."""
    markers, clinical, _ = cohort
    clinical = clinical.copy()
    surgery = clinical.loc[clinical["arm"] == "surgery", "patient_id"].tolist()
    half, twice = surgery[5], surgery[6]
    clinical["complete_resection"] = clinical["complete_resection"].astype(object)
    clinical.loc[clinical["patient_id"] == half, "complete_resection"] = "0.5"
    again = clinical[clinical["patient_id"] == twice].copy()
    clinical.loc[clinical["patient_id"] == twice, "complete_resection"] = 0
    again["complete_resection"] = 1
    clinical = pd.concat([clinical, again], ignore_index=True)
    res = validate_model(markers, clinical, model=training[0], survival=False, subgroups=())
    pred = res.predictions.set_index("patient_id")
    reasons = res.exclusions.set_index("patient_id")["reason"]
    for pid in (half, twice):
        assert reasons[pid] == "invalid_input" and pd.isna(pred.loc[pid, "complete_resection"])
    given = cohort[1].set_index("patient_id")["complete_resection"]
    kept = pred.index[pred["included"]]
    assert (pred.loc[kept, "complete_resection"] == given[kept]).all()


def test_an_outcome_given_for_the_no_surgery_arm_is_not_analysed(training, cohort):
    """A no_surgery patient with complete_resection 0 had been analysed as an incomplete
    resection; such patients are excluded (no_outcome), the detail naming the contradiction."""
    markers, clinical, _ = cohort
    not_operated = clinical["arm"] == "no_surgery"
    clinical = clinical.assign(complete_resection=clinical["complete_resection"].where(~not_operated, 0))
    res = validate_model(markers, clinical, model=training[0], survival=False, subgroups=())
    pred = res.predictions.set_index("patient_id")
    ids = set(clinical.loc[not_operated, "patient_id"]) & set(pred.index)
    assert ids and not pred.loc[list(ids), "included"].any()
    detail = res.exclusions.set_index("patient_id")["detail"]
    assert all("given for arm 'no_surgery' (not operated): contradictory" in detail[pid] for pid in ids
               if pred.loc[pid, "status"] in ("ok", "insufficient"))


def test_the_training_cohort_is_named_as_such_and_the_development_counts_are_the_evaluated_ones(training, cohort):
    """Validating on the training cohort itself was reported as a validation (its apparent
    AUC beside the development figures, 'a fall is expected'); the development column gave
    the development set's counts beside the held-out set's metrics."""
    import dataclasses

    from ca125kinetics.train import _read_inputs, data_digest
    from ca125kinetics.validation.report import _development_vs_validation

    markers, clinical, _ = cohort
    bundle = training[0]
    summary = {"n": 180, "events": 120, "n_holdout": 60, "evaluation_set": "held-out", "auc": 0.8,
               "auc_ci": [0.7, 0.9], "calibration_slope": 1.0, "citl": 0.0, "brier": 0.15}
    other = validate_model(markers, clinical, model=dataclasses.replace(bundle, training_summary=summary),
                           survival=False, subgroups=())
    assert not other.source["training_cohort"]
    html = _development_vs_validation(other)
    assert "<td>60</td>" in html and "<td>180</td>" not in html and "own training cohort" not in html
    mine = dict(summary, n_evaluated=60, events_evaluated=41, data_digest=data_digest(*_read_inputs(markers, clinical)))
    with pytest.warns(DataQualityWarning, match="own training cohort"):
        own = validate_model(markers, clinical, model=dataclasses.replace(bundle, training_summary=mine),
                             survival=False, subgroups=())
    assert own.source["training_cohort"] and any("own training cohort" in n for n in own.notes)
    html = _development_vs_validation(own)
    assert "This cohort is the model's own training cohort" in html and "<td>41</td>" in html
    # as ca125 validate passes them: the tables read first (read again for the digest, the
    # clinical reader's figo_stage_raw had become the normalised stage: never recognised)
    from ca125kinetics.io import read_clinical, read_markers

    clin = read_clinical(clinical, on_error="flag", require=("patient_id",))
    read = read_markers(markers, clinical=clin, uln=float(bundle.gcig_settings.uln), on_error="flag",
                        duplicates=bundle.gcig_settings.duplicates)
    with pytest.warns(DataQualityWarning, match="own training cohort"):
        again = validate_model(read, clin, model=dataclasses.replace(bundle, training_summary=mine),
                               survival=False, subgroups=())
    assert again.source["training_cohort"]


def test_a_clinical_table_without_the_outcome_is_refused(training, cohort):
    with pytest.raises(InvalidInputError, match="complete_resection"):
        validate_model(cohort[0], cohort[1].drop(columns=["complete_resection"]), model=training[0])


def test_too_few_outcomes_is_an_insufficient_data_error(training, cohort):
    clinical = cohort[1].copy()
    clinical["complete_resection"] = clinical["complete_resection"].where(clinical["complete_resection"] != 0, 1)
    with pytest.raises(InsufficientDataError, match="at least 2 analysed patients"):
        validate_model(cohort[0], clinical, model=training[0], survival=False)


def test_unknown_subgroup_variable_is_named(training, cohort):
    with pytest.raises(InvalidInputError, match="'shoe_size'"):
        validate_model(cohort[0], cohort[1], model=training[0], subgroups=("shoe_size",))


# ----------------------------------------------------------------------------- subgroups, comparators


def test_subgroup_levels_partition_the_analysed_patients(result):
    sub = result.subgroups
    for variable, part in sub.groupby("variable"):
        assert part["n"].sum() == result.metrics.n, variable
        assert part["n_events"].sum() == result.metrics.n_events, variable
    small = sub[np.minimum(sub["n_events"], sub["n"] - sub["n_events"]) < 5]
    assert small["auc"].isna().all() and small["note"].str.contains("counts only").all()
    big = sub[np.minimum(sub["n_events"], sub["n"] - sub["n_events"]) >= 5]
    assert big["auc"].between(0, 1).all()
    assert {"ecog", "recurrence_pattern", "gcig_category", "kelim_group", "arm"} <= set(sub["variable"])


def test_subgroup_metrics_equal_the_metrics_of_the_subset(result):
    pred = result.predictions[result.predictions["included"]]
    level = "single"
    part = pred[pred["subgroup_recurrence_pattern"] == level]
    expected = metrics(part["complete_resection"].to_numpy(dtype=int), part["probability"].to_numpy(dtype=float))
    row = result.subgroups.set_index(["variable", "level"]).loc[("recurrence_pattern", level)]
    assert row["n"] == expected.n and row["auc"] == expected.auc
    assert row["calibration_slope"] == expected.calibration_slope


def test_published_scores_are_compared_on_their_own_patients_with_delong(result, model, cohort):
    from ca125kinetics.predict import predict_cohort
    from ca125kinetics.scores import score_for_auc

    comp = result.comparison.set_index("score")
    assert list(comp.index) == ["ago", "imodel", "mskcc", "kelim_score"]
    scored = predict_cohort(cohort[0], cohort[1], model=model)
    included = result.predictions.set_index("patient_id")["included"]
    scored = scored[scored["patient_id"].map(included).fillna(False).astype(bool)]
    y = scored["patient_id"].map(cohort[1].set_index("patient_id")["complete_resection"]).to_numpy(dtype=int)
    imodel = score_for_auc(scored)["imodel"].to_numpy(dtype=float)
    ok = np.isfinite(imodel)
    test = delong_test(y[ok], scored["probability"].to_numpy(dtype=float)[ok], imodel[ok])
    assert comp.loc["imodel", "auc"] == pytest.approx(test.auc2, abs=1e-12)
    assert comp.loc["imodel", "p_value"] == pytest.approx(test.p_value, abs=1e-12)
    assert comp.loc["imodel", "n"] == ok.sum()
    assert set(result.roc_scores["score"]) <= set(comp.index)


def test_decision_curve_and_case_mix(result):
    dc = result.decision_curve
    assert dc["threshold"].iloc[0] == 0.01 and dc["threshold"].iloc[-1] == 0.99
    prevalence = result.metrics.prevalence
    assert dc["treat_all"].iloc[0] == pytest.approx(prevalence - (1 - prevalence) * 0.01 / 0.99)
    cm = result.case_mix.set_index("feature")
    assert cm.loc["age", "n_checked"] == result.metrics.n
    # each rule's availability is its own decision's, not its score's (iMODEL low risk can be
    # known when some points are not)
    pred = result.predictions[result.predictions["included"]]
    rules = result.decision_rules.set_index("rule")
    assert rules.loc["imodel_low_risk", "n_available"] == pred["imodel_low_risk"].notna().sum()
    assert rules.loc["ago_positive", "n_available"] == pred["ago_positive"].notna().sum()
    assert rules.loc["mskcc_offer", "n_available"] == pred["mskcc_recommendation"].notna().sum()
    for rule, drawn in rules["drawn"].items():
        assert drawn == (f"net_benefit_{rule}" in dc.columns) == (rules.loc[rule, "n_available"] == result.metrics.n)


def test_a_calibration_slope_that_is_not_estimable_is_said_so_in_the_notes(model, cohort, result):
    """Outcomes separated by the model's probability: the calibration slope is NaN (no finite
    maximum likelihood). The DataQualityWarning saying why went to the caller only; the report
    printed 'calibration slope nan' and '-' with 'Notes: None'."""
    from ca125kinetics.validation.report import render_report

    markers, clinical, _ = cohort
    p = result.predictions.set_index("patient_id")["probability"]
    median = p[result.predictions.set_index("patient_id")["included"]].median()
    separated = clinical.copy()
    known = separated["complete_resection"].notna() & separated["patient_id"].isin(p.index)
    separated.loc[known, "complete_resection"] = (
        p.reindex(separated.loc[known, "patient_id"]).to_numpy() >= median).astype(int)
    with pytest.warns(DataQualityWarning, match="zero width"), \
            pytest.warns(DataQualityWarning, match="calibration slope is not estimable"):
        res = validate_model(markers, separated, model=model, subgroups=(), survival=False)
    assert res.metrics.auc == 1.0 and math.isnan(res.metrics.calibration_slope)
    assert any(n.startswith("performance: the calibration slope is not estimable") for n in res.notes)
    # and why the AUC's interval is 1 to 1 (the DeLong variance is 0)
    assert any(n.startswith("performance: the DeLong interval of the AUC has zero width") for n in res.notes)
    page = render_report(res)
    notes = page.split('<section id="notes">', 1)[1]
    assert "the calibration slope is not estimable" in notes
    # the headline (and ca125 validate's summary line, the same text) says so too, not "nan"
    from ca125kinetics.validation.report import headline_figures

    assert "calibration slope not estimable, CITL" in headline_figures(res)
    assert headline_figures(res) in page and "nan" not in headline_figures(res)


# ----------------------------------------------------------------------------- survival


def test_survival_by_kelim_group_and_arm_matches_the_survival_module(result, cohort):
    s = result.survival
    assert s is not None
    assert set(s.km["analysis"]) == {"kelim_group", "arm", "kelim_group_surgery", "predicted_group",
                                     "predicted_group_surgery"}
    clinical = cohort[1].set_index("patient_id")
    pred = result.predictions.set_index("patient_id")
    valid = pred.index[pred["status"] != "invalid_input"]
    data = clinical.loc[valid].assign(kelim=pred.loc[valid, "kelim_score"])
    data = data[data["pfs_months"].notna()]
    arm = sv.kaplan_meier(data["pfs_months"], data["pfs_event"], data["arm"])
    km_arm = s.km[s.km["analysis"] == "arm"].drop(columns="analysis").reset_index(drop=True)
    pd.testing.assert_frame_equal(km_arm, arm, check_dtype=False)
    # the model's predicted group: probability at or above its threshold
    p, t = pred.loc[data.index, "probability"], pred.loc[data.index, "threshold"]
    group = np.where(p >= t, [f"predicted resectable (p >= {x:.2f})" for x in t],
                     [f"predicted not resectable (p < {x:.2f})" for x in t])
    by_group = sv.kaplan_meier(data["pfs_months"][p.notna()], data["pfs_event"][p.notna()], group[p.notna()])
    km_group = s.km[s.km["analysis"] == "predicted_group"].drop(columns="analysis").reset_index(drop=True)
    pd.testing.assert_frame_equal(km_group, by_group, check_dtype=False)
    with_score = data[data["kelim"].notna()].copy()
    with_score["kelim_favourable"] = (with_score["kelim"] >= 1).astype(float)
    with_score["surgery"] = (with_score["arm"] == "surgery").astype(float)
    expected = sv.cox(with_score, "pfs_months", "pfs_event", ["kelim_favourable", "surgery"])
    got = s.cox[s.cox["model"] == "kelim+arm"].reset_index(drop=True)
    np.testing.assert_allclose(got["hr"], expected["hr"], rtol=1e-10)
    assert got["n"].iloc[0] == len(with_score)
    assert any("invalid input" in n for n in s.notes)


@pytest.mark.parametrize("threshold", [0.705, 0.7, 0.6749999])
def test_the_predicted_groups_are_labelled_with_the_models_own_threshold(threshold):
    """A threshold off the 0.01 grid was printed to two decimals: with threshold 0.705 a patient
    with probability 0.703 was in the group labelled 'p < 0.70'. Each label now holds for every
    patient of its group."""
    import re

    from ca125kinetics.validation.studies import survival_analysis

    p = [0.69, 0.6749998, 0.703, 0.7049, 0.705, 0.71, 0.9, 0.3]
    ids = [f"{i:03d}" for i in range(len(p))]
    clinical = pd.DataFrame({"patient_id": ids, "pfs_months": [3.0, 5, 7, 9, 11, 13, 15, 17],
                             "pfs_event": [1, 1, 0, 1, 1, 0, 1, 1], "arm": "surgery", "complete_resection": 1})
    scored = pd.DataFrame({"patient_id": ids, "status": "ok", "kelim_score": 1.2, "probability": p,
                           "threshold": threshold})
    s = survival_analysis(clinical, scored)
    groups = s.medians[s.medians["analysis"] == "predicted_group"]
    assert groups["n"].sum() == len(p)
    for label, n in zip(groups["group"], groups["n"]):
        sign, value = re.search(r"\(p (>=|<) ([0-9.]+)\)", label).groups()
        assert float(value) == threshold
        members = [x for x in p if (x >= threshold) == (sign == ">=")]
        assert n == len(members) > 0


def test_survival_is_skipped_with_a_note_without_pfs(training, cohort):
    clinical = cohort[1].drop(columns=["pfs_months", "pfs_event"])
    res = validate_model(cohort[0], clinical, model=training[0], subgroups=())
    assert res.survival is None
    assert any("pfs_months" in n for n in res.notes)


# ----------------------------------------------------------------------------- bootstrap


@pytest.fixture(scope="module")
def noise():
    """30 pure-noise predictors for 120 patients: any apparent skill is optimism."""
    rng = np.random.default_rng(3)
    X = pd.DataFrame(rng.normal(size=(120, 30)), columns=[f"x{i}" for i in range(30)])
    y = rng.integers(0, 2, size=120)
    overfit = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(C=1.0, max_iter=5000))])
    return overfit, X, y


def test_bootstrap_of_an_overfit_model_corrects_toward_no_skill(noise):
    overfit, X, y = noise
    res = optimism_bootstrap(overfit, X, y, n_boot=15, seed=1, progress=False, n_jobs=1)
    table = res.table.set_index("metric")
    assert list(table.index) == list(OPTIMISM_METRICS)
    assert table.loc["auc", "apparent"] > 0.75  # memorised noise
    assert table.loc["auc", "optimism"] > 0.1
    assert table.loc["auc", "corrected"] < 0.65  # no real skill (0.5), under-corrected as Harrell's is
    assert table.loc["calibration_slope", "apparent"] == pytest.approx(1.0, abs=0.15)
    assert table.loc["calibration_slope", "corrected"] < 0.5  # predictions far too extreme
    assert table.loc["brier", "optimism"] < 0  # lower is better: corrected Brier is worse
    assert table.loc["brier", "corrected"] > table.loc["brier", "apparent"]
    assert (res.resamples["auc_boot"] > res.resamples["auc_test"]).mean() > 0.9
    assert res.n_failed == 0 and len(res.resamples) == 15 and res.n == 120


def test_bootstrap_arithmetic_is_harrells(noise):
    overfit, X, y = noise
    res = optimism_bootstrap(overfit, X, y, n_boot=6, seed=2, progress=False, n_jobs=1)
    r = res.resamples
    for m in OPTIMISM_METRICS:
        row = res.table.set_index("metric").loc[m]
        optimism = float(np.mean(r[f"{m}_boot"] - r[f"{m}_test"]))
        assert row["optimism"] == pytest.approx(optimism, rel=1e-12)
        assert row["corrected"] == pytest.approx(row["apparent"] - optimism, rel=1e-12)


@pytest.mark.slow  # starts loky worker processes
def test_bootstrap_results_do_not_depend_on_the_number_of_workers(noise):
    overfit, X, y = noise
    one = optimism_bootstrap(overfit, X, y, n_boot=3, seed=5, progress=False, n_jobs=1)
    two = optimism_bootstrap(overfit, X, y, n_boot=3, seed=5, progress=False, n_jobs=2)
    pd.testing.assert_frame_equal(one.resamples, two.resamples)
    assert two.n_jobs == 2


def test_bootstrap_refits_the_whole_pipeline_including_the_kinetics_population(training, monkeypatch):
    from ca125kinetics.kinetics import KineticsFeatures

    bundle, frame, y = training
    frame, y = frame.iloc[:80].reset_index(drop=True), y[:80]  # a population needs >= 10 scorable patients
    calls = []
    original = KineticsFeatures.fit

    def counting_fit(self, X, y=None):
        calls.append(len(X))
        return original(self, X, y)

    monkeypatch.setattr(KineticsFeatures, "fit", counting_fit)
    res = optimism_bootstrap(bundle, frame, y, n_boot=1, seed=0, progress=False, n_jobs=1)
    assert calls == [len(frame)] * 2  # the apparent fit and one per resample
    assert res.n_failed == 0
    assert "kinetics: KineticsFeatures" in res.pipeline
    assert np.isfinite(res.table["corrected"]).all()


def test_resamples_learn_their_own_population_warm_started_with_the_cold_start_results(training, monkeypatch):
    from ca125kinetics.kinetics import KineticsFeatures
    from ca125kinetics.validation.studies import _fit_and_score

    bundle, frame, y = training
    frame, y = frame.iloc[:120].reset_index(drop=True), y[:120]
    fits = []
    original = KineticsFeatures.fit

    def recording_fit(self, X, y=None):
        original(self, X, y)
        fits.append((self.population_start, self.population_))
        return self

    monkeypatch.setattr(KineticsFeatures, "fit", recording_fit)
    res = optimism_bootstrap(bundle, frame, y, n_boot=2, seed=3, progress=False, n_jobs=1)
    (apparent_start, apparent), *resamples = fits
    assert apparent_start is None and apparent.start_method == "mixedlm"
    assert len(resamples) == 2 and res.n_failed == 0
    for start, learned in resamples:
        assert start == apparent  # started from the full sample's population ...
        assert learned.start_method == "population" and learned.converged
        assert learned.mu_log_k != apparent.mu_log_k and learned.sigma != apparent.sigma  # ... learned anew

    # the same resamples with the MixedLM start: a resample's two populations agree to
    # ~1e-4 (test_kinetics), and so do the probabilities and the measures computed from them
    rng = np.random.default_rng(3)
    for b in range(2):
        boot, test, error, _, _ = _fit_and_score(bundle.pipeline, frame, y, rng.integers(0, len(frame), len(frame)))
        assert error is None and fits[-1][1].start_method == "mixedlm"
        for m in OPTIMISM_METRICS:
            assert res.resamples.loc[b, f"{m}_boot"] == pytest.approx(boot[m], abs=1e-3)
            assert res.resamples.loc[b, f"{m}_test"] == pytest.approx(test[m], abs=1e-3)


def test_the_warm_start_finds_population_steps_by_type_at_any_depth(training):
    from sklearn.base import clone

    from ca125kinetics.kinetics import KineticsFeatures
    from ca125kinetics.validation.studies import _population_warm_start

    population = training[0].pipeline[0].population_
    outer = Pipeline([("model", Pipeline([("kin", KineticsFeatures()), ("clf", LogisticRegression())]))])
    fitted = clone(outer)
    fitted.get_params()["model__kin"].population_ = population
    warm = _population_warm_start(outer, fitted)
    assert warm.get_params()["model__kin__population_start"] == population
    assert outer.get_params()["model__kin__population_start"] is None  # the caller's estimator is untouched
    for step in (KineticsFeatures(population=population), KineticsFeatures(method="per-patient")):
        other = Pipeline([("kin", step), ("clf", LogisticRegression())])
        fitted = clone(other)
        fitted[0].population_ = population
        assert _population_warm_start(other, fitted) is other  # nothing is learned: nothing to start


def test_kinetics_features_computed_once_give_the_pipelines_own_probabilities(training):
    from sklearn.base import clone

    from ca125kinetics.validation.studies import _fit_then_predict

    bundle, frame, y = training
    pipeline = clone(bundle.pipeline).set_params(kinetics__population=bundle.pipeline[0].population_)
    fit, other = frame.iloc[:150].reset_index(drop=True), frame.iloc[150:].reset_index(drop=True)
    plain = clone(pipeline).fit(fit, y[:150])
    p_fit, p_other = _fit_then_predict(clone(pipeline), fit, y[:150], other)
    np.testing.assert_array_equal(p_fit, plain.predict_proba(fit)[:, 1])
    np.testing.assert_array_equal(p_other, plain.predict_proba(other)[:, 1])


class _FailsOnOddEvents(LogisticRegression):
    """Refuses to fit when the sample has an odd number of events (to exercise failures)."""

    def fit(self, X, y, sample_weight=None):
        if int(np.sum(y)) % 2:
            raise ValueError("odd number of events")
        return super().fit(X, y, sample_weight)


def test_failed_resamples_are_counted_not_hidden(noise):
    _, X, y = noise
    y = y.copy()
    if y.sum() % 2:
        y[np.flatnonzero(y == 0)[0]] = 1  # the full sample must fit
    res = optimism_bootstrap(_FailsOnOddEvents(max_iter=2000), X, y, n_boot=12, seed=4, progress=False, n_jobs=1)
    assert res.n_failed > 0 and len(res.resamples) == 12 - res.n_failed
    assert any("odd number of events" in f for f in res.failures)
    assert (res.table["n_resamples"] == 12 - res.n_failed).all()


@pytest.mark.parametrize("bad, match", [
    (lambda y: y[:-1], "one outcome per patient"),
    (lambda y: np.where(np.arange(y.size) == 0, np.nan, y), "0/1"),
])
def test_bootstrap_input_errors(noise, bad, match):
    overfit, X, y = noise
    with pytest.raises(InvalidInputError, match=match):
        optimism_bootstrap(overfit, X, bad(y.astype(float)), n_boot=2, progress=False, n_jobs=1)
    with pytest.raises(InvalidInputError, match="n_boot"):
        optimism_bootstrap(overfit, X, y, n_boot=0, progress=False)
    with pytest.raises(InvalidInputError, match="ModelBundle"):
        optimism_bootstrap(object(), X, y, n_boot=2, progress=False)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=1, max_size=12))
def test_resampled_frames_keep_rows_and_make_ids_unique(idx):
    X = pd.DataFrame({"patient_id": [f"{i:03d}" for i in range(6)], "v": np.arange(6.0)})
    out = _resample_frame(X, np.asarray(idx))
    assert out["patient_id"].is_unique
    assert out["v"].tolist() == [float(i) for i in idx]
    assert [pid.split("#")[0] for pid in out["patient_id"]] == [f"{i:03d}" for i in idx]
    assert math.isclose(out["v"].sum(), float(sum(idx)))


def test_survival_analysis_says_how_many_patients_each_missing_value_left_out():
    from ca125kinetics.validation.studies import survival_analysis

    n = 12
    ids = [f"p{i}" for i in range(n)]
    clinical = pd.DataFrame({
        "patient_id": ids,
        "pfs_months": [3, 5, 8, 9, 12, 14, 2, 6, 7, 11, 15, 20],
        "pfs_event": [1, 1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 0],
        "arm": ["surgery", "surgery", None, "surgery", "no_surgery", "no_surgery",
                "surgery", "no_surgery", "surgery", "no_surgery", "surgery", "no_surgery"],
        "complete_resection": [1, np.nan, np.nan, 0, np.nan, np.nan, 1, np.nan, 0, np.nan, 1, np.nan],
    })
    scored = pd.DataFrame({"patient_id": ids, "status": "ok",
                           "kelim_score": [1.2, 0.8, 1.1, 0.7, 1.3, 0.9, 1.0, 0.6, 1.4, 0.5, 0.95, 1.05]})
    res = survival_analysis(clinical, scored)
    assert "arm: 1 patient(s) without a known arm left out" in res.notes
    cr = [n for n in res.notes if n.startswith("Cox model 'kelim+complete_resection (surgery arm)'")]
    assert cr == ["Cox model 'kelim+complete_resection (surgery arm)': 1 patient(s) with a missing covariate "
                  "left out (missing: complete_resection 1)"]
    kelim_arm = [n for n in res.notes if n.startswith("Cox model 'kelim+arm'")]
    assert kelim_arm and "(missing: surgery 1)" in kelim_arm[0]


def test_the_kelim_cutoff_is_a_named_parameter_per_setting(capsys, result, tmp_path):
    from ca125kinetics import InvalidInputError
    from ca125kinetics.cli import main
    from ca125kinetics.settings import KELIM_CUTOFFS, kelim_cutoff
    from ca125kinetics.validation.studies import survival_analysis

    assert dict(KELIM_CUTOFFS) == {"first_line": 1.0, "relapse": 1.08} and kelim_cutoff() == 1.0
    ids = [f"p{i}" for i in range(8)]
    clinical = pd.DataFrame({"patient_id": ids, "pfs_months": [3, 5, 8, 9, 12, 14, 2, 6],
                             "pfs_event": [1, 1, 0, 1, 1, 0, 1, 1]})
    scored = pd.DataFrame({"patient_id": ids, "status": "ok",
                           "kelim_score": [1.2, 0.8, 1.05, 0.7, 1.3, 0.9, 1.0, 1.1]})
    groups = {}
    for cut, favourable in ((None, 5), ("first_line", 5), ("relapse", 3), (1.1, 3), ("0.75", 7)):
        res = survival_analysis(clinical, scored, kelim_cutoff=cut)
        km = res.km[res.km["analysis"] == "kelim_group"]
        label = f"favourable (score >= {kelim_cutoff(cut):g})"
        assert res.kelim_cutoff == kelim_cutoff(cut) and set(km["group"]) >= {label}
        assert res.medians.set_index(["analysis", "group"]).loc[("kelim_group", label), "n"] == favourable, cut
        groups[cut] = res.cox.loc[res.cox["term"] == "kelim_favourable", "hr"].iloc[0]
    assert groups["relapse"] == groups[1.1] and groups["relapse"] != groups["first_line"]
    for bad in ("second_line", 0, -1.0, True, float("nan")):
        with pytest.raises(InvalidInputError, match="give a setting \\(first_line, relapse\\) or a positive"):
            survival_analysis(clinical, scored, kelim_cutoff=bad)
    # the commands: refused before any work, named in the summary
    assert main(["kinetics", "x.csv", "--kelim-cutoff", "sometimes"]) == 2
    assert "KELIM cut-off 'sometimes'" in capsys.readouterr().err
    assert main(["validate", "--model", "m", "--markers", "x", "--clinical", "y", "--out", "r.html",
                 "--kelim-cutoff", "-2"]) == 2
    assert "KELIM cut-off '-2'" in capsys.readouterr().err
    assert result.source["kelim_cutoff"] == 1.0 and result.survival.kelim_cutoff == 1.0   # the study records it
    markers = tmp_path / "m.csv"
    pd.DataFrame({"patient_id": ["a"] * 4 + ["b"] * 4, "day": [-3, 21, 42, 63] * 2,
                  "ca125": [900, 300, 110, 45, 900, 600, 420, 300]}).to_csv(markers, index=False)
    for cut, shown in ((None, ">= 1)"), ("relapse", ">= 1.08)")):
        assert main(["kinetics", str(markers), "--method", "per-patient", "--format", "text",
                     *(["--kelim-cutoff", cut] if cut else [])]) == 0
        assert f"favourable score ({shown}" in capsys.readouterr().out


@pytest.mark.parametrize(
    "y, p, rows, match",
    [
        ([0, 1, 0, 1, 1], [0.1, np.nan, 0.3, 0.8, 0.5], 5, "finite"),
        ([0, 1, np.nan, 1, 1], [0.1, 0.2, 0.3, 0.8, 0.5], 5, "only 0 and 1"),
        ([0, 1, 0, 1, 1], [0.1, 0.2, 0.3, 0.8, 0.5], 4, "groups has 4 rows"),
    ],
)
def test_subgroup_metrics_refuses_missing_values_instead_of_counting_them(y, p, rows, match):
    # regression: a missing risk in a small ("counts only") level gave expected = NaN silently
    from ca125kinetics import InvalidInputError
    from ca125kinetics.validation.studies import subgroup_metrics

    with pytest.raises(InvalidInputError, match=match):
        subgroup_metrics(y, p, pd.DataFrame({"g": list("aabbb")[:rows]}))


def test_subgroup_metrics_and_net_benefit_refuse_inputs_of_another_kind_with_a_package_error():
    # a list as groups was an AttributeError, a threshold "a" a ValueError of numpy's
    from ca125kinetics import InvalidInputError
    from ca125kinetics.validation.metrics import net_benefit
    from ca125kinetics.validation.studies import subgroup_metrics

    y, p = [0, 1, 0, 1, 1], [0.1, 0.2, 0.3, 0.8, 0.5]
    with pytest.raises(InvalidInputError, match="groups must be a pandas DataFrame"):
        subgroup_metrics(y, p, list("aabbb"))
    with pytest.raises(InvalidInputError, match="thresholds must be risks in \\[0, 1\\) given as numbers"):
        net_benefit(y, p, ["a"])


def test_a_subgroup_label_written_as_two_types_is_refused_naming_them(training, cohort):
    """subgroup_metrics read a column's labels as text, so 1 and "1" were one level (and 1 and
    1.0 two); validate_model turned a clinical column to text first. Either is refused, naming
    the labels; a column of one type gives its levels as before."""
    from ca125kinetics import InvalidInputError
    from ca125kinetics.validation.studies import subgroup_metrics

    y, p = [0, 1, 0, 1, 1, 0], [0.1, 0.8, 0.3, 0.7, 0.6, 0.2]
    for mixed, shown in (([1, 1, "1", "1", 2, 2], r"1 \(int\) and '1' \(str\)"),
                         ([1, 1, 1.0, 1.0, 2, 2], r"1.0 \(float\) and 1 \(int\)"),
                         ([True, True, "True", "True", False, False], r"True \(bool\) and 'True' \(str\)")):
        with pytest.raises(InvalidInputError, match="groups column 'g' writes the same label as different types: "
                                                     + shown) as info:
            subgroup_metrics(y, p, pd.DataFrame({"g": pd.Series(mixed, dtype=object)}))
        assert info.value.column == "g"
    levels = subgroup_metrics(y, p, pd.DataFrame({"g": pd.Series([1, 1, 2, 2, None, "x"], dtype=object)}))["level"]
    assert levels.tolist() == ["1", "2", "x", "unknown"]

    markers, clinical, _ = cohort
    clinical = clinical.copy()
    clinical["site"] = pd.Series([1 if i % 3 == 0 else "1" if i % 3 == 1 else 2 for i in range(len(clinical))],
                                 dtype=object)
    with pytest.raises(InvalidInputError, match=r"subgroup column 'site' writes the same label as different "
                                                r"types: 1 \(int\) and '1' \(str\).*Cast the column to one type"):
        validate_model(markers, clinical, model=training[0], subgroups=("site",), survival=False)
    clinical["site"] = clinical["site"].astype(str)
    res = validate_model(markers, clinical, model=training[0], subgroups=("site",), survival=False)
    assert sorted(res.subgroups["level"]) == ["1", "2"]


def test_survival_analysis_notes_a_cox_model_whose_covariates_coincide():
    from ca125kinetics.validation.studies import survival_analysis

    ids = [f"p{i}" for i in range(8)]
    clinical = pd.DataFrame({
        "patient_id": ids,
        "pfs_months": [3, 5, 8, 9, 12, 14, 2, 6],
        "pfs_event": [1, 1, 0, 1, 1, 0, 1, 1],
        "arm": ["surgery"] * 6 + ["no_surgery"] * 2,
        "complete_resection": [1, 0, 1, 0, 1, 0, np.nan, np.nan],  # = kelim_favourable in the surgery arm
    })
    scored = pd.DataFrame({"patient_id": ids, "status": "ok",
                           "kelim_score": [1.2, 0.8, 1.1, 0.7, 1.3, 0.9, 1.0, 0.6]})
    res = survival_analysis(clinical, scored)
    assert any(n.startswith("Cox model 'kelim+complete_resection (surgery arm)' not fitted") and "collinear" in n
               for n in res.notes)
    assert set(res.cox["model"]) == {"kelim+arm"}


# ----------------------------------------------------------------------------- against rms::validate
# tests/data/rms_validate_reference.json: rms::validate(lrm(...), method = "boot", B = 200) and the
# 200 resamples rms drew (1-based), made by tests/data/rms_validate_reference.R (see
# tests/data/rms_validate_README.md). The package refits the same unpenalised logistic model on
# the same resamples, so the two bootstraps agree up to the two optimisers' tolerances.

_RMS_DATA = Path(__file__).parent / "data"
_RMS = json.loads((_RMS_DATA / "rms_validate_reference.json").read_text())
_RMS_FILES = {"main": "rms_validate_data.csv", "tiny": "rms_validate_tiny.csv"}


def _lrm():
    """rms::lrm's model: unpenalised maximum likelihood, solved to convergence."""
    return LogisticRegression(C=np.inf, solver="newton-cholesky", tol=1e-12, max_iter=100)


@pytest.fixture(scope="module", params=["main", "tiny"])
def rms_case(request):
    ref = _RMS[request.param]
    data = pd.read_csv(_RMS_DATA / _RMS_FILES[request.param])
    indices = [np.asarray(row) - 1 for row in ref["indices"]]
    res = optimism_bootstrap(_lrm(), data.drop(columns="y"), data["y"].to_numpy(), indices=indices,
                             progress=False, n_jobs=1)
    return request.param, ref, res


def _rms_table(ref) -> pd.DataFrame:
    return pd.DataFrame(ref["validate"]).set_index("index")


def test_bootstrap_records_the_resamples_it_was_given(rms_case):
    _, ref, res = rms_case
    assert res.n_boot == ref["B"] == 200 and res.seed is None and res.n == ref["n"]
    assert res.n_events == ref["n_events"]


def test_failed_resamples_are_rms_failures(rms_case):
    """The same resamples fail (no event drawn: a single outcome class), and every other
    resample counts for every metric, as rms's ``n`` column; a resample with one event is
    kept (its AUC is defined; only a DeLong variance would need two)."""
    _, ref, res = rms_case
    failed = sorted(f["resample"] - 1 for f in ref["failures"])
    assert res.n_failed == ref["n_failed"] == len(failed)
    assert sorted(set(range(200)) - set(res.resamples["resample"])) == failed
    assert all("2 classes" in f for f in res.failures)
    assert (res.table["n_resamples"] == _rms_table(ref).loc["Dxy", "n"]).all()


def test_optimism_of_auc_and_brier_is_rms_validate(rms_case):
    """AUC = (Dxy + 1) / 2 (somers2) and Brier ``B``: apparent, mean on resample (rms
    "training"), mean on original ("test"), optimism and corrected value."""
    _, ref, res = rms_case
    rms = _rms_table(ref)
    ours = res.table.set_index("metric")
    columns = {"apparent": "index.orig", "bootstrap": "training", "test": "test", "optimism": "optimism",
               "corrected": "index.corrected"}
    for ours_col, rms_col in columns.items():
        dxy = rms.loc["Dxy", rms_col]
        expected = dxy / 2 if ours_col == "optimism" else (dxy + 1) / 2
        assert ours.loc["auc", ours_col] == pytest.approx(expected, abs=1e-12)
        assert ours.loc["brier", ours_col] == pytest.approx(rms.loc["B", rms_col], abs=1e-6)


def test_corrected_calibration_slope_is_harrells(rms_case):
    """rms: test slope = slope of ``y ~ lp`` with lp the resample model's linear predictor on
    the original data, averaged; training slope 1 by definition. The package computes the
    slope on the resample too (1 to the fit's tolerance for an unpenalised model)."""
    _, ref, res = rms_case
    rms = _rms_table(ref)
    ours = res.table.set_index("metric").loc["calibration_slope"]
    assert ours["test"] == pytest.approx(rms.loc["Slope", "test"], abs=1e-5)
    assert ours["bootstrap"] == pytest.approx(1.0, abs=1e-6)
    assert ours["corrected"] == pytest.approx(rms.loc["Slope", "index.corrected"], abs=1e-5)
    per = pd.DataFrame(ref["resamples"])
    # per resample 1e-4: rms's lrm.fit stops up to ~6e-5 short of the maximum on resamples with
    # one event (see the calibration-in-the-large test)
    np.testing.assert_allclose(res.resamples["calibration_slope_test"], per["Slope_test"], atol=1e-4)


def test_calibration_in_the_large_per_resample_is_rs_glm_offset(rms_case):
    """rms reports no calibration-in-the-large (its "Intercept" is the recalibration
    intercept, fitted with the slope); the script adds ``glm(y ~ offset(lp), binomial)`` on
    the resample and on the original data of every resample."""
    _, ref, res = rms_case
    per = pd.DataFrame(ref["resamples"])
    # 1e-4: rms's lrm.fit (maxit 12, stopping on the change in -2 log L) ends up to 6e-5 short of
    # the maximum on the resamples of the tiny set with one event (citl on the resample should
    # be 0, as the package's is), and its linear predictor on the original data differs as much
    np.testing.assert_allclose(res.resamples["citl_boot"], per["citl_boot"], atol=1e-4)
    np.testing.assert_allclose(res.resamples["citl_test"], per["citl_test"], atol=1e-4)
    np.testing.assert_allclose(res.resamples["auc_test"], (per["Dxy_test"] + 1) / 2, atol=1e-12)
    np.testing.assert_allclose(res.resamples["brier_test"], per["B_test"], atol=1e-6)
    ours = res.table.set_index("metric").loc["citl"]
    assert ours["optimism"] == pytest.approx(float(np.mean(per["citl_boot"] - per["citl_test"])), abs=1e-6)


def test_mean_on_resample_minus_mean_on_original_is_the_optimism():
    """rms's identity training - test = optimism, over the same resamples: a resample whose
    slope is not estimable on the resample (its events separated) is left out of both means,
    not only of the optimism."""
    X = pd.DataFrame({"x": [0.1, 0.3, 0.4, 0.7, 0.8, 1.0, 1.3, 1.4, 1.6, 1.7, 1.9, 2.2]})
    y = np.array([0, 0, 0, 0, 1, 0, 0, 1, 1, 0, 1, 1])
    res = optimism_bootstrap(_lrm(), X, y, n_boot=40, seed=1, progress=False, n_jobs=1)
    table = res.table.set_index("metric")
    assert table.loc["calibration_slope", "n_resamples"] < 40  # some resamples are separated
    assert any("calibration slope is not estimable" in w for w in res.warnings)
    for m in OPTIMISM_METRICS:
        row = table.loc[m]
        assert row["bootstrap"] - row["test"] == pytest.approx(row["optimism"], abs=1e-12)


def test_bootstrap_indices_are_checked(noise):
    overfit, X, y = noise
    n = len(X)
    good = [np.arange(n), np.zeros(n, dtype=int)]
    with pytest.raises(InvalidInputError, match="resample 2 .* 0 to 119"):
        optimism_bootstrap(overfit, X, y, indices=[np.arange(n), np.full(n, n)], progress=False, n_jobs=1)
    with pytest.raises(InvalidInputError, match="resample 1 has 119 row positions"):
        optimism_bootstrap(overfit, X, y, indices=[np.arange(n - 1)], progress=False, n_jobs=1)
    with pytest.raises(InvalidInputError, match="integer"):
        optimism_bootstrap(overfit, X, y, indices=[np.arange(n) + 0.5], progress=False, n_jobs=1)
    with pytest.raises(InvalidInputError, match="n_boot = 3 .* 2 resamples"):
        optimism_bootstrap(overfit, X, y, n_boot=3, indices=good, progress=False, n_jobs=1)
    with pytest.raises(InvalidInputError, match="seed"):
        optimism_bootstrap(overfit, X, y, seed=4, indices=good, progress=False, n_jobs=1)
    res = optimism_bootstrap(overfit, X, y, n_boot=2, indices=good, progress=False, n_jobs=1)
    assert res.n_boot == 2 and res.seed is None


def test_drawn_resamples_are_the_seeded_generators():
    """The resamples drawn from ``seed`` are ``default_rng(seed).integers(0, n, n)``, B times
    (what the documentation tells a user who wants to give them to R)."""
    X = pd.DataFrame({"x": np.linspace(0, 1, 30)})
    y = np.tile([0, 1, 1], 10)
    rng = np.random.default_rng(11)
    indices = [rng.integers(0, 30, size=30) for _ in range(5)]
    drawn = optimism_bootstrap(_lrm(), X, y, n_boot=5, seed=11, progress=False, n_jobs=1)
    given = optimism_bootstrap(_lrm(), X, y, indices=indices, progress=False, n_jobs=1)
    pd.testing.assert_frame_equal(drawn.resamples, given.resamples)
    assert drawn.seed == 11 and given.seed is None


def test_a_negative_or_non_integer_seed_is_refused(noise):
    """``seed=-3`` reached numpy's ``default_rng`` and ended as its plain ValueError (under
    ``ca125 validate --bootstrap 5 --seed -3``: a traceback after the whole validation)."""
    overfit, X, y = noise
    for seed in (-3, 1.5, True):
        with pytest.raises(InvalidInputError, match="seed must be a non-negative integer"):
            optimism_bootstrap(overfit, X, y, n_boot=2, seed=seed, progress=False, n_jobs=1)


def test_a_negative_n_jobs_counts_workers_from_the_cores_as_joblib(noise):
    """--n-jobs -5 was run (joblib counts it from the cores: max(cores + 1 - 5, 1)) but the
    report said '-5 worker(s)', and the refusal of 0 said only a positive number or -1 was
    taken. The workers as run are recorded (n_workers) and reported; one left runs in process."""
    import os

    from joblib import effective_n_jobs

    from ca125kinetics.validation.report import _workers_text
    from ca125kinetics.validation.studies import check_n_jobs

    overfit, X, y = noise
    few = -(os.cpu_count() + 5)                      # joblib: max(cores + 1 + n_jobs, 1) = 1 worker
    assert effective_n_jobs(few) == 1
    one = optimism_bootstrap(overfit, X, y, n_boot=2, seed=5, progress=False, n_jobs=1)
    res = optimism_bootstrap(overfit, X, y, n_boot=2, seed=5, progress=False, n_jobs=few)
    pd.testing.assert_frame_equal(one.resamples, res.resamples)
    assert (res.n_jobs, res.n_workers, one.n_workers) == (few, 1, 1)
    assert _workers_text(res) == f"1 worker(s) (n_jobs {few}: counted from the cores)"
    assert _workers_text(one) == "1 worker(s)"
    with pytest.raises(InvalidInputError, match=r"n_jobs must be a positive number of worker processes, or a "
                                                r"negative one counted from the cores .*-1: all cores.*got 0"):
        check_n_jobs(0)
    assert check_n_jobs(-5) == -5


def test_subgroup_metrics_refuses_a_groups_frame_whose_index_is_not_the_outcomes():
    # the groups frame in another row order than the outcome Series: by position each patient
    # would get another patient's subgroup
    from ca125kinetics import InvalidInputError
    from ca125kinetics.validation.studies import subgroup_metrics

    y = pd.Series([0, 1, 0, 1, 1, 0], index=list("abcdef"))
    groups = pd.DataFrame({"g": list("xxxyyy")}, index=list("fedcba"))
    with pytest.raises(InvalidInputError, match="index"):
        subgroup_metrics(y, [0.1, 0.9, 0.2, 0.8, 0.7, 0.3], groups)
    assert len(subgroup_metrics(y, [0.1, 0.9, 0.2, 0.8, 0.7, 0.3], groups.sort_index())) == 2


@pytest.mark.parametrize("min_class", [1, 0, -3, 2.5, True, "5"])
def test_subgroup_metrics_refuses_a_min_class_below_what_the_metrics_need(min_class):
    # min_class=1 let a level with one non-event reach metrics(), whose DeLong interval needs
    # two of each: an InsufficientDataError from inside the table instead of "counts only"
    from ca125kinetics import InvalidInputError
    from ca125kinetics.validation.studies import subgroup_metrics

    y, p = [0, 1, 1, 1, 0, 0, 1, 1], [0.2, 0.9, 0.8, 0.7, 0.3, 0.1, 0.6, 0.4]
    with pytest.raises(InvalidInputError, match="min_class"):
        subgroup_metrics(y, p, pd.DataFrame({"g": list("aaaabbbb")}), min_class=min_class)
    table = subgroup_metrics(y, p, pd.DataFrame({"g": list("aaaabbbb")}), min_class=2)
    assert table["note"].str.contains("counts only").tolist() == [True, False]


def test_survival_analysis_reports_a_log_rank_test_it_cannot_do_instead_of_failing():
    # the two unfavourable-KELIM patients are censored at 0.5 months, before the first event:
    # that group is never at risk at an event time, the log-rank test of the KELIM groups is
    # not defined, and its InsufficientDataError ended the whole survival analysis (and
    # `ca125 validate`); it is a note now, the other analyses are kept
    from ca125kinetics.validation.studies import survival_analysis

    ids = [f"p{i}" for i in range(8)]
    clinical = pd.DataFrame({"patient_id": ids, "pfs_months": [1, 2, 3, 4, 5, 6, 0.5, 0.5],
                             "pfs_event": [1, 1, 0, 1, 1, 0, 0, 0]})
    scored = pd.DataFrame({"patient_id": ids, "status": "ok",
                           "kelim_score": [1.2, 1.3, 1.5, 1.1, 1.4, 1.6, 0.5, 0.6],
                           "probability": [.8, .7, .9, .6, .3, .2, .1, .4], "threshold": 0.5})
    res = survival_analysis(clinical, scored)
    assert "kelim_group" not in set(res.logrank["analysis"])
    assert "predicted_group" in set(res.logrank["analysis"])
    note = [n for n in res.notes if n.startswith("kelim_group: log-rank test not done")]
    assert len(note) == 1 and "no patient at risk at any event time" in note[0]
    assert set(res.medians.loc[res.medians["analysis"] == "kelim_group", "group"]) == {
        "favourable (score >= 1)", "unfavourable (score < 1)"}


def test_a_comparator_p_value_without_information_is_noted_in_the_comparison_table():
    # model AUC 1 against a rule that is the same for everyone (AUC 0.5): both DeLong
    # variances are 0 and the table printed p = 0 with an empty note
    from ca125kinetics.validation.studies import _comparators

    y, p = np.array([0, 0, 1, 1, 0, 1]), np.array([.1, .2, .8, .9, .3, .7])
    scored = pd.DataFrame({"patient_id": list("abcdef"), "ago_positive": [True, True, False, False, True, False],
                           "imodel_points": [1.0, 2, 3, 4, 5, 6], "mskcc_recommendation": ["offer"] * 6,
                           "kelim_score": [.5, .6, 1.2, 1.3, .7, 1.1], "imodel_low_risk": [True] * 6})
    with pytest.warns(DataQualityWarning, match="standard error of the difference is 0"):
        table = _comparators(scored, y, p, 0.95)[0].set_index("score")
    assert table.loc["mskcc", "p_value"] == 0.0
    assert table.loc["mskcc", "note"].startswith("the DeLong test has no information")
    assert table.loc["imodel", "note"] == ""          # a test with a standard error
