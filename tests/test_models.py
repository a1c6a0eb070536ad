"""Tests of models.py: model features, the three pipeline families, recalibration, k_ref."""

from __future__ import annotations

import copy
import math

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

from ca125kinetics.errors import InvalidInputError
from ca125kinetics.features import build_patient_frame
from ca125kinetics.io import read_clinical, read_markers
from ca125kinetics.kinetics import KineticsFeatures
from ca125kinetics.models import (
    CATEGORICAL_FEATURES,
    FAMILIES,
    NUMERIC_FEATURES,
    ModelFeatures,
    RecalibratedClassifier,
    frozen_head,
    make_pipeline,
    with_kinetics_settings,
)
from ca125kinetics.synth import simulate_cohort


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    # tiny problems: BLAS/OpenMP threads only contend on a shared machine (as in training)
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def cohort():
    """A simulated cohort: patient frame, outcome and true probability of the operated patients."""
    sim = simulate_cohort(900, seed=7)
    clin = read_clinical(sim.clinical)
    frame = build_patient_frame(read_markers(sim.markers, clinical=clin), clin)
    operated = clin["complete_resection"].notna().to_numpy()
    truth = sim.truth.set_index("patient_id").loc[frame["patient_id"], "p_complete_resection"].to_numpy()
    return (frame[operated].reset_index(drop=True), clin["complete_resection"][operated].astype(int).to_numpy(),
            truth[operated])


@pytest.fixture(scope="module")
def fitted(cohort, tmp_path_factory):
    """Every family fitted on the first two thirds; the kinetics step is fitted once and shared
    through the pipelines' joblib cache, as in training."""
    frame, y, _ = cohort
    n = len(y) * 2 // 3
    memory = joblib.Memory(tmp_path_factory.mktemp("cache"), verbose=0)
    return {family: make_pipeline(family, seed=3, memory=memory).fit(frame.iloc[:n], y[:n]) for family in FAMILIES}


def _model_input(**values):
    base = dict(age=60.0, ecog=1, ascites_ml=0.0, pfi_months=16.0, primary_residual_disease=0,
                ca125_at_recurrence=105.0, gcig_responded=True, log_k=math.log(0.05), kinetics_ok=1.0,
                figo_stage="III", recurrence_pattern="single", recist="PR", pct_decline_c2=50.0)
    base.update(values)
    return pd.DataFrame([base])


def test_model_features_literal_transforms():
    X = pd.concat([_model_input(), _model_input(ascites_ml=600.0, pfi_months=np.nan, figo_stage=None,
                                                 gcig_responded=pd.NA, pct_decline_c2=-1000.0)], ignore_index=True)
    out = ModelFeatures().fit(X).transform(X)
    assert out.columns.tolist() == list(NUMERIC_FEATURES + CATEGORICAL_FEATURES)
    first, second = out.iloc[0], out.iloc[1]
    assert first["log_pfi"] == pytest.approx(math.log(16.0))
    assert first["log_ca125"] == pytest.approx(math.log(105.0))
    assert (first["ascites_any"], first["log1p_ascites"], first["ascites_500"]) == (0.0, 0.0, 0.0)
    assert (second["ascites_any"], second["ascites_500"]) == (1.0, 1.0)
    assert second["log1p_ascites"] == pytest.approx(math.log(601.0))
    assert np.isnan(second["log_pfi"]) and np.isnan(second["gcig_responded"]) and first["gcig_responded"] == 1.0
    assert second["pct_decline_c2"] == -300.0  # clipped
    assert second["figo_stage"] == "missing" and first["figo_stage"] == "III"
    assert np.isnan(first["log_floor"])  # absent kinetics feature -> NaN, not an error


def test_model_features_names_missing_columns():
    with pytest.raises(InvalidInputError, match="lacks column"):
        ModelFeatures().fit(pd.DataFrame({"age": [1.0]}))


def test_pipeline_layout_and_bad_names():
    pipeline = make_pipeline("logistic_spline")
    assert [name for name, _ in pipeline.steps] == ["kinetics", "features", "preprocess", "classifier"]
    assert isinstance(pipeline.steps[0][1], KineticsFeatures) and pipeline.steps[0][1].method == "population"
    with pytest.raises(InvalidInputError, match="unknown model family"):
        make_pipeline("svm")
    with pytest.raises(InvalidInputError, match="unknown hyperparameter"):
        make_pipeline("logistic_main", params={"alpha": 1.0})


def test_population_is_learned_on_the_training_rows_only(cohort, fitted):
    frame, y, _ = cohort
    n = len(y) * 2 // 3
    step = fitted["logistic_main"].named_steps["kinetics"]
    # every training patient scored "ok" entered the population, and nobody else
    assert step.population_.n_patients == int(step.transform(frame.iloc[:n])["kinetics_ok"].sum())
    assert step.population_.n_patients < int(step.transform(frame)["kinetics_ok"].sum())
    # the families share the one kinetics fit of the fold (joblib cache)
    assert all(p.named_steps["kinetics"].population_ == step.population_ for p in fitted.values())


def test_every_family_recovers_most_of_the_oracle_discrimination(cohort, fitted):
    """Simulate and recover: on patients not used for fitting, each family's AUC is close to the
    oracle AUC of the generator's true probabilities (ceiling of any model)."""
    frame, y, truth = cohort
    n = len(y) * 2 // 3
    oracle = roc_auc_score(y[n:], truth[n:])
    for family, pipeline in fitted.items():
        auc = roc_auc_score(y[n:], pipeline.predict_proba(frame.iloc[n:])[:, 1])
        assert auc > oracle - 0.07, (family, auc, oracle)
        assert auc > 0.7, (family, auc)


def test_missing_clinical_values_still_get_a_probability(cohort, fitted):
    frame, _, _ = cohort
    blank = frame.iloc[:5].copy()
    for column in ("age", "ascites_ml", "pfi_months", "figo_stage", "recurrence_pattern", "recist"):
        blank[column] = None if blank[column].dtype == object else np.nan
    blank["ecog"] = pd.array([pd.NA] * 5, dtype="Int64")
    blank["primary_residual_disease"] = pd.array([pd.NA] * 5, dtype="Int64")
    for pipeline in fitted.values():
        p = pipeline.predict_proba(blank)[:, 1]
        assert np.all((p > 0) & (p < 1))


def test_recalibrated_classifier_applies_the_logistic_formula(cohort, fitted):
    frame, y, _ = cohort
    X = np.linspace(-2, 2, 40).reshape(-1, 1)
    target = (np.arange(40) % 3 == 0).astype(int)
    base = LogisticRegression().fit(X, target)
    identity = RecalibratedClassifier(LogisticRegression(), 0.0, 1.0).fit(X, target)
    np.testing.assert_allclose(identity.predict_proba(X), base.predict_proba(X))
    shifted = RecalibratedClassifier(LogisticRegression(), 1.0, 0.5).fit(X, target)
    p = base.predict_proba(X)[:, 1]
    expected = 1.0 / (1.0 + np.exp(-(1.0 + 0.5 * np.log(p / (1 - p)))))
    np.testing.assert_allclose(shifted.predict_proba(X)[:, 1], expected, rtol=1e-12)
    with pytest.raises(InvalidInputError, match="finite"):
        RecalibratedClassifier(LogisticRegression(), math.nan, 1.0).fit(X, target)


def test_frozen_head_reuses_the_tuned_hyperparameters(fitted):
    spline = fitted["logistic_spline"]
    assert isinstance(spline.named_steps["classifier"], LogisticRegressionCV)
    head = frozen_head(spline)
    assert [name for name, _ in head.steps] == ["features", "preprocess", "classifier"]
    clf = head.named_steps["classifier"]
    assert isinstance(clf, LogisticRegression) and not isinstance(clf, LogisticRegressionCV)
    assert clf.C == float(np.ravel(spline.named_steps["classifier"].C_)[0])
    boosted = frozen_head(fitted["gradient_boosting"]).named_steps["classifier"]
    assert boosted.early_stopping is False
    assert boosted.max_iter == fitted["gradient_boosting"].named_steps["classifier"].n_iter_


def test_k_ref_changes_the_score_but_no_prediction(cohort, fitted):
    frame, y, _ = cohort
    pipeline = copy.deepcopy(fitted["logistic_main"])
    before = pipeline.predict_proba(frame.iloc[300:360])[:, 1]
    ks = pipeline.named_steps["kinetics"].settings_
    with_kinetics_settings(pipeline, ks.replace(k_ref=0.04, k_ref_source="test"))
    np.testing.assert_array_equal(pipeline.predict_proba(frame.iloc[300:360])[:, 1], before)
    feats = pipeline.named_steps["kinetics"].transform(frame.iloc[300:360])
    ok = feats["kinetics_ok"] == 1
    np.testing.assert_allclose(feats.loc[ok, "kelim_score"], np.exp(feats.loc[ok, "log_k"]) / 0.04)
    assert pipeline.named_steps["kinetics"].population_.settings.k_ref == 0.04
    with pytest.raises(InvalidInputError, match="only k_ref"):
        with_kinetics_settings(pipeline, ks.replace(window_days=80))
