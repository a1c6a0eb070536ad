"""Tests of train.py (and tracking.py): configuration, the training run, MLflow, export, determinism.

One small simulated cohort is trained once (module fixture) with MLflow on a temporary SQLite
database; a second run with the same seed and data (in two worker processes) must give
identical metrics and predictions.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ca125kinetics.errors import InsufficientDataError, InvalidInputError
from ca125kinetics.integrity import read_manifest, verify_manifest
from ca125kinetics.models import FAMILIES
from ca125kinetics.synth import simulate_cohort
from ca125kinetics.cli.train import add_train_arguments
from ca125kinetics.train import (
    PUBLISHED_SCORES,
    TrainingConfig,
    fit_and_evaluate,
    format_summary,
    load_config,
    summary_table,
    train,
)

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [
    # mlflow internals (see tests/test_bundle.py): its import-time type-hint notice and a
    # pandas-3 deprecation inside its input-example code
    pytest.mark.filterwarnings("ignore:.*type hint is inferred as AnyType:UserWarning"),
    pytest.mark.filterwarnings("ignore:Operation with range is deprecated:pandas.errors.Pandas4Warning"),
    # mlflow's SQL store uses a loader option deprecated in SQLAlchemy 2.1
    pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated:DeprecationWarning"),
]

SMALL = {
    "seed": 5,
    "cv": {"n_splits": 3, "n_repeats": 1, "holdout_fraction": 0.25, "n_jobs": 1},
    "interval": {"n_bootstrap": 4},
    "models": {"gradient_boosting": {"max_iter": 60}, "logistic_spline": {"inner_cv": 3, "Cs": [0.01, 0.1, 1.0]}},
}


# ----------------------------------------------------------------------------- configuration


def test_built_in_defaults_are_training_default_toml():
    from_file = TrainingConfig.from_toml(ROOT / "training" / "default.toml")
    assert from_file.to_dict() == TrainingConfig().to_dict()
    assert from_file.n_splits == 5 and from_file.n_repeats == 2 and from_file.threshold == 0.70
    assert from_file.k_ref == "cohort_median" and from_file.families == FAMILIES


@pytest.mark.parametrize("data, message", [
    ({"cv": {"n_split": 5}}, r"unknown key\(s\) \['n_split'\] in \[cv\]"),
    ({"sed": 1}, r"unknown key\(s\) \['sed'\]"),
    ({"cv": {"n_splits": 1}}, "cv.n_splits must be an integer >= 2"),
    ({"threshold": 1.2}, "threshold must be a probability"),
    ({"families": ["logistic_main", "svm"]}, "families must be"),
    ({"families": "logistic_main"}, r"families must be a list of names, e.g. \['logistic_main'\], got 'logistic_main'"),
    ({"seed": 1.0}, "seed must be an integer from 0 to 4294967295"),
    # values scikit-learn refuses: refused when the config is read, not by a traceback mid-run
    ({"seed": 2**40}, "seed must be an integer from 0 to 4294967295"),
    ({"models": {"logistic_main": {"C": 0}}}, "hyperparameter C of family 'logistic_main' must be a positive number"),
    ({"models": {"logistic_main": {"C": -1}}}, "must be a positive number, got -1"),
    ({"models": {"gradient_boosting": {"learning_rate": 0}}}, "learning_rate .* must be a positive number"),
    ({"models": {"gradient_boosting": {"max_leaf_nodes": 1}}}, "max_leaf_nodes .* must be an integer >= 2"),
    ({"models": {"gradient_boosting": {"validation_fraction": 1.5}}}, r"validation_fraction .* in \(0, 1\)"),
    ({"models": {"gradient_boosting": {"max_iter": 0}}}, "max_iter .* must be an integer >= 1"),
    ({"models": {"logistic_spline": {"n_knots": 1}}}, "n_knots .* must be an integer >= 2"),
    ({"models": {"logistic_spline": {"Cs": []}}}, "Cs .* must be a non-empty list of positive numbers"),
    ({"models": {"logistic_spline": {"Cs": [-1.0]}}}, "Cs .* must be a non-empty list of positive numbers"),
    ({"models": {"logistic_spline": {"inner_cv": 1}}}, "inner_cv .* must be an integer >= 2"),
    ({"kinetics": {"window_days": 0}}, "'window_days' must be at least 1"),
    ({"cv": {"n_splits": "5"}}, "cv.n_splits must be an integer >= 2, got '5'"),
    ({"threshold": 0}, r"threshold must be a probability in \(0, 1\), got 0"),
    ({"kinetics": {"k_ref": "mean"}}, "kinetics.k_ref must be"),
    ({"kinetics": {"window_dayz": 100}}, r"\[kinetics\]: unknown KineticsSettings field"),
    # read and then overwritten by the run's own record of where k_ref came from (it was accepted)
    ({"kinetics": {"k_ref_source": "our lab"}}, r"\[kinetics\]: k_ref_source is not a setting: the run records "
                                                r"where k_ref came from .*; remove it"),
    ({"models": {"gradient_boosting": {"depth": 3}}}, r"\[models.gradient_boosting\]: unknown hyperparameter"),
    ({"selection": {"rule": "aic"}}, "selection.rule must be one of"),
])
def test_bad_configuration_names_the_key(data, message):
    with pytest.raises(InvalidInputError, match=message):
        load_config(data)


def test_config_file_errors_and_params(tmp_path):
    with pytest.raises(InvalidInputError, match="not found"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("seed = = 1\n")
    with pytest.raises(InvalidInputError, match="not valid TOML"):
        load_config(bad)
    params = TrainingConfig().to_params()
    assert params["cv.n_splits"] == "5" and params["kinetics.k_ref"] == "cohort_median"
    assert "cv.n_jobs" not in params  # cannot change a result
    assert json.loads(params["models.logistic_spline.Cs"])[0] == 0.001


def test_model_version_is_the_data_the_settings_and_the_fitted_model_not_the_config_file_name():
    """``--config default`` is the built-in configuration, identical to training/default.toml:
    the same model whichever way the file is named; a model whose fitted numbers differ (e.g.
    trained by another revision of the code under the same package version) gets another
    version."""
    import copy

    from ca125kinetics.predict import load_model
    from ca125kinetics.train import model_version

    shipped = load_model(ROOT / "models" / "default")
    digest = shipped.training_summary["data_digest"]
    versions = {model_version(digest, load_config(c), shipped)
                for c in ("default", None, "training/default.toml", str(ROOT / "training" / "default.toml"))}
    assert len(versions) == 1
    moved = copy.deepcopy(shipped)
    moved.pipeline.named_steps["classifier"].estimator_.coef_[0, 0] += 1e-9
    assert model_version(digest, load_config("default"), moved) not in versions
    assert model_version(digest, load_config({"seed": 1}), shipped) not in versions
    assert model_version("0" * 64, load_config("default"), shipped) not in versions


def test_too_few_outcomes_is_an_insufficient_data_error():
    sim = simulate_cohort(30, seed=2)
    with pytest.raises(InsufficientDataError, match="too few for 3-fold cross-validation with a held-out set"):
        fit_and_evaluate(sim.markers, sim.clinical, config=SMALL)
    no_holdout = dict(SMALL, cv=dict(SMALL["cv"], holdout_fraction=0))   # the message said 'held-out' too
    with pytest.raises(InsufficientDataError, match=r"too few for 3-fold cross-validation \(need at least 6"):
        fit_and_evaluate(sim.markers.iloc[:0], sim.clinical.iloc[:8], config=no_holdout)


def test_a_held_out_set_too_small_to_evaluate_is_refused_before_fitting(monkeypatch):
    """cv.holdout_fraction = 0.03 of 91 usable patients held out 3 (2 complete, 1 incomplete
    resection): the run cross-validated and fitted everything, then failed saying AGO 'is
    known for only 3 of 3 evaluation patients ... fill in its inputs' (they were all given);
    without comparators the DeLong error named no setting."""
    import ca125kinetics.train as train_module

    sim = simulate_cohort(120, seed=3)
    config = {**SMALL, "cv": {**SMALL["cv"], "holdout_fraction": 0.03}}
    fitted = []
    original = train_module._cross_validate
    monkeypatch.setattr(train_module, "_cross_validate", lambda *a, **k: fitted.append(1) or original(*a, **k))
    with pytest.raises(InsufficientDataError, match=r"the held-out set \(cv.holdout_fraction = 0.03\) would hold "
                                                    r"3 patient\(s\) with 2 complete and 1 incomplete resection"
                                                    r".*raise cv.holdout_fraction to at least 0.05 or set it to 0"):
        fit_and_evaluate(sim.markers, sim.clinical, config=config)
    assert not fitted   # refused before anything is fitted


def test_landmark_models_evaluated_out_of_fold_learn_their_kinetics_prior_inside_the_fold(monkeypatch):
    """Without a held-out set the landmark models are evaluated on the first CV repeat's folds;
    each fold's model took as its kinetics prior the shipped model's population, learned on
    the full series of every development patient, the fold's test patients (and their samples
    after the landmark) included. The prior of a fold's model is now the one the cross-validation
    learned on that fold's training patients."""
    import ca125kinetics.train as train_module
    from ca125kinetics.kinetics import KineticsFeatures

    sim = simulate_cohort(100, seed=2)
    config = load_config({**SMALL, "families": ["logistic_main"], "interval": {"n_bootstrap": 0},
                          "cv": {**SMALL["cv"], "holdout_fraction": 0.0},
                          "landmarks": {"cycles": [3], "early_days": []}})
    calls = []
    original = train_module._fit_landmark

    def spy(family, frame, y, idx, config, ks, population):
        calls.append((frame, np.asarray(idx), population))
        return original(family, frame, y, idx, config, ks, population)

    monkeypatch.setattr(train_module, "_fit_landmark", spy)
    result = fit_and_evaluate(sim.markers, sim.clinical, config=config, synthetic=True)
    assert result.landmarks["status"].tolist() == ["ok"] and result.evaluation_set == "cross-validated"
    (_, shipped_idx, shipped_population), *folds = calls
    assert len(folds) == config.n_splits
    assert shipped_population == result.bundle.pipeline.named_steps["kinetics"].population_
    # the cross-validation's first repeat, on the patients as training orders them
    from sklearn.model_selection import RepeatedStratifiedKFold

    first = result.oof_predictions.query("repeat == 0").sort_values("patient_id")
    ids, y = first["patient_id"].to_numpy(), first["y"].to_numpy()
    cv = RepeatedStratifiedKFold(n_splits=config.n_splits, n_repeats=config.n_repeats, random_state=config.seed)
    splits = list(cv.split(ids, y))[:config.n_splits]
    from ca125kinetics.features import build_patient_frame

    full = build_patient_frame(sim.markers, sim.clinical).set_index("patient_id").loc[ids].reset_index()
    for (_, idx, population), (train, test) in zip(folds, splits):
        assert not set(idx) & set(test)             # the landmark model is fitted on the fold's training part
        assert population != shipped_population and population.n_patients <= len(train)
    # the first fold's prior is the population of its training patients' full series
    (_, _, population), (train, _) = folds[0], splits[0]
    learned = KineticsFeatures(method="population", settings=config.kinetics).fit(full.iloc[train]).population_
    assert population.mu_log_k == pytest.approx(learned.mu_log_k, rel=1e-9)
    assert population.sd_log_k == pytest.approx(learned.sd_log_k, rel=1e-9)
    assert population.n_patients == learned.n_patients


def test_one_reading_is_recorded_one_way_from_the_cli_and_python():
    """``ca125 train`` logged data.read_options {"decimal": "."} and ``train()`` {} for the same
    reading: the options are recorded as they change the reading from the data contract's."""
    from ca125kinetics.cli import build_parser, format_options
    from ca125kinetics.io import checked_read_options

    def cli(*options):
        argv = ["train", "--markers", "m.csv", "--clinical", "c.csv", *options]
        return checked_read_options(format_options(build_parser(argv).parse_args(argv)))

    assert cli() == checked_read_options(None) == checked_read_options({"decimal": ".", "columns": {}}) == {}
    assert cli("--decimal", ".", "--sep", ";") == checked_read_options({"sep": ";"}) == {"sep": ";"}
    assert cli("--decimal", ",", "--thousands", ".") == {"decimal": ",", "thousands": "."}


def test_tables_are_read_as_the_read_options_say(tmp_path):
    """ca125 train had no --sep/--decimal/--thousands/--date-format/--rename, though the readers'
    messages named them: a semicolon file with decimal commas, or a column named ECOG, could
    not be trained on. Read as stated, the tables are the plain ones (same data digest), and
    the model card's command repeats the options."""
    from ca125kinetics.train import _read_inputs, data_digest, model_card

    sim = simulate_cohort(120, seed=2)
    plain = _read_inputs(sim.markers, sim.clinical)
    markers, clinical = tmp_path / "m.csv", tmp_path / "c.csv"
    sim.markers.to_csv(markers, sep=";", decimal=",", index=False)
    sim.clinical.rename(columns={"ecog": "ECOG"}).to_csv(clinical, sep=";", decimal=",", index=False)
    options = {"sep": ";", "decimal": ",", "columns": {"ECOG": "ecog"}}
    with pytest.raises(InvalidInputError, match="ECOG"):
        _read_inputs(markers, clinical, read_options={"sep": ";", "decimal": ","})
    read = _read_inputs(markers, clinical, read_options=options)
    assert data_digest(*read) == data_digest(*plain)
    with pytest.raises(InvalidInputError, match=r"read_options: unknown key\(s\) \['delimiter'\]"):
        _read_inputs(markers, clinical, read_options={"delimiter": ";"})
    result = fit_and_evaluate(markers, clinical, config=SMALL, read_options=options)
    assert result.data_digest == data_digest(*plain) and result.read_options == options
    card = model_card(result)
    assert "--config CONFIG.toml --name ca125-complete-resection --sep ';' --decimal , --rename ECOG=ecog" in card
    # and the MLflow run records them, where runs are compared (the card is an artifact)
    from ca125kinetics.tracking import _params

    assert json.loads(_params(result)["data.read_options"]) == options
    assert "where CONFIG.toml holds the training configuration listed under *Rule settings* (given as a dict)" in card
    # a TrainingConfig built in Python is no file either (its source reads "built-in defaults")
    from ca125kinetics.train import TrainingConfig, _config_argument

    assert _config_argument(TrainingConfig(seed=7)) == "CONFIG.toml" and _config_argument(TrainingConfig()) == "default"


def test_a_run_left_without_patients_says_why():
    """Every patient excluded (here: ascites written yes/no) was reported as too few for
    cross-validation, the exclusions computed but not shown; identifiers that match across no
    table (leading zeros lost in the clinical table) failed in the population fit with advice
    train does not take."""
    sim = simulate_cohort(120, seed=2)
    with pytest.raises(InsufficientDataError, match=r"0 usable patient\(s\) .*\(120 patient\(s\) left out: invalid "
                                                    r"input in column\(s\) ascites_ml \(120\); correct those columns"):
        fit_and_evaluate(sim.markers, sim.clinical.assign(ascites_ml="yes"), config=SMALL)
    stripped = sim.clinical.assign(patient_id=sim.clinical["patient_id"].str.lstrip("0"))
    with pytest.raises(InvalidInputError, match=r"none of the \d+ patients with an outcome has a CA-125 sample: the "
                                                r"markers' patient_id \('000001'.*leading zeros"):
        fit_and_evaluate(sim.markers, stripped, config=SMALL)


def test_the_card_of_a_run_without_a_held_out_set_says_how_it_was_evaluated():
    """With cv.holdout_fraction = 0 the card said "Evaluated on a held-out part of the training
    cohort", and did not say that a recalibration fitted on the out-of-fold predictions was
    never checked (the performance shown is the model's before it)."""
    from ca125kinetics.train import model_card

    sim = simulate_cohort(200, seed=2)
    config = {**SMALL, "cv": {**SMALL["cv"], "holdout_fraction": 0.0}, "recalibration": {"mode": "always"}}
    result = fit_and_evaluate(sim.markers, sim.clinical, config=config, synthetic=False)
    assert result.evaluation_set == "cross-validated" and result.recalibration["applied"]
    card = model_card(result)
    assert "held-out part" not in card
    assert "Evaluated by cross-validation on the training cohort only (no part was held out)" in card
    assert "the recalibrated model's calibration is unchecked" in card
    # the published scores' probabilities were fitted on each fold's training part, and the
    # family was selected on the very folds its figures come from
    assert "Published scores: AUC from their own ranking; Brier and calibration after a logistic recalibration " \
           "fitted on the training part of each fold only." in card
    assert "the selected model's figures are optimistic by that choice" in card


def test_clinical_without_outcome_is_refused():
    sim = simulate_cohort(30, seed=2)
    with pytest.raises(InvalidInputError, match="complete_resection"):
        fit_and_evaluate(sim.markers, sim.clinical.drop(columns="complete_resection"), config=SMALL)


def test_an_outcome_column_under_another_name_is_refused_saying_how_to_map_it():
    """A hospital export names the outcome its own way ('R0'): the refusal is the readers'
    missing-column one, listing the columns found and how to map one (it only said the
    column was missing, not what the table has nor how to read it as the outcome)."""
    sim = simulate_cohort(30, seed=2)
    clinical = sim.clinical.rename(columns={"complete_resection": "R0"})
    with pytest.raises(InvalidInputError, match=r"missing required column\(s\) \['complete_resection'\].*'R0'.*"
                                                r"columns=\{'OLD': 'NEW'\} \(command line: --rename OLD=NEW\)"):
        fit_and_evaluate(sim.markers, clinical, config=SMALL)
    read_options = {"columns": {"R0": "complete_resection"}}     # mapped as the message says: read
    with pytest.raises(InsufficientDataError, match="too few"):  # (30 patients: too few to train)
        fit_and_evaluate(sim.markers, clinical, config=SMALL, read_options=read_options)


@pytest.mark.parametrize("recode", [{"0": "2"}, {"0": "-1"}, {"1": "unknown"}])
def test_an_outcome_coded_otherwise_than_1_0_is_refused_not_turned_into_exclusions(recode):
    """A 1/2 (or -1, or text) coding of complete_resection used to make every such patient an
    'invalid input' exclusion: with 1/2, all incomplete resections were left out, and the run
    then said the cohort had none."""
    sim = simulate_cohort(30, seed=2)
    clinical = sim.clinical.astype({"complete_resection": "string"})
    clinical["complete_resection"] = clinical["complete_resection"].replace(recode)
    with pytest.raises(InvalidInputError, match=r"outcome 'complete_resection': \d+ patient\(s\) have a value "
                                                r"other than 1, 0 or empty .*recode the column"):
        fit_and_evaluate(sim.markers, clinical, config=SMALL)


def test_outcome_yes_no_true_false_and_floats_read_as_1_0():
    """The 0/1 codes the reader accepts (yes/no, true/false, 1.0/0.0, typed booleans) give the
    same outcome as 1/0: the same patients used, the same events."""
    from ca125kinetics.train import _exclusions, _read_inputs
    from ca125kinetics.features import build_patient_frame

    sim = simulate_cohort(30, seed=2)
    reference = None
    for mapping in ({1: "1", 0: "0"}, {1: "yes", 0: "no"}, {1: "True", 0: "false"}, {1: "1.0", 0: "0.0"},
                    {1: True, 0: False}):
        clinical = sim.clinical.assign(complete_resection=sim.clinical["complete_resection"].map(mapping))
        markers, clin = _read_inputs(sim.markers, clinical)
        used, outcome, table = _exclusions(build_patient_frame(markers, clin), clin)
        got = (used.tolist(), np.nan_to_num(outcome, nan=-1).tolist(), table.to_dict(orient="records"))
        reference = reference or got
        assert got == reference
    assert sum(reference[0]) == int(sim.clinical["complete_resection"].notna().sum())


def test_an_outcome_given_for_the_no_surgery_arm_is_not_learned():
    """Patients of the no_surgery arm with complete_resection 0 (not resected because not
    operated) had been trained on as incomplete resections, silently; they are excluded, counted
    as contradictory."""
    from ca125kinetics.features import build_patient_frame
    from ca125kinetics.train import _exclusions, _read_inputs

    sim = simulate_cohort(40, seed=2)
    not_operated = sim.clinical["arm"] == "no_surgery"
    assert not_operated.any() and sim.clinical.loc[not_operated, "complete_resection"].isna().all()
    clinical = sim.clinical.assign(complete_resection=sim.clinical["complete_resection"].where(~not_operated, 0))
    markers, clin = _read_inputs(sim.markers, clinical)
    used, _, table = _exclusions(build_patient_frame(markers, clin), clin)
    reasons = dict(zip(table["reason"], table["n"]))
    assert reasons == {"contradictory: complete_resection given for the no_surgery arm (not operated)":
                       int(not_operated.sum())}
    assert used.sum() == int((~not_operated).sum())


def test_an_excluded_patient_s_reason_names_what_to_correct():
    """Every flagged patient used to be counted under one reason, 'invalid input (the readers
    flagged the patient's data)', and a patient with markers but no clinical row fell under it
    too (its own reason was never reached)."""
    from ca125kinetics.features import build_patient_frame
    from ca125kinetics.train import _exclusions, _read_inputs

    sim = simulate_cohort(30, seed=2)
    clinical = sim.clinical.astype({"age": object})
    operated = clinical.index[clinical["complete_resection"].notna()]
    clinical.loc[operated[0], "age"] = "abc"
    clinical = pd.concat([clinical, clinical.loc[[operated[1]]]], ignore_index=True)   # two rows
    stray = sim.markers[sim.markers["patient_id"] == clinical.loc[operated[2], "patient_id"]].assign(patient_id="X1")
    markers, clin = _read_inputs(pd.concat([sim.markers, stray], ignore_index=True), clinical)
    _, _, table = _exclusions(build_patient_frame(markers, clin), clin)
    reasons = dict(zip(table["reason"], table["n"]))
    assert reasons.pop("invalid input in column(s) age") == 1
    assert reasons.pop("invalid input in column(s) patient_id") == 1
    assert reasons.pop("no clinical row (markers only)") == 1
    assert set(reasons) <= {"no outcome: no_surgery arm (not operated)"}


def test_patients_used_with_unknown_values_are_counted():
    """Patients with an outcome but no CA-125 sample, or with a predictor unknown, are kept and
    their values filled by the models' missing-value handling; this used to be said nowhere
    (summary, card, MLflow)."""
    from ca125kinetics.features import build_patient_frame
    from ca125kinetics.train import _exclusions, _missing_counts, _read_inputs

    sim = simulate_cohort(30, seed=2)
    clinical = sim.clinical.copy()
    operated = clinical.loc[clinical["complete_resection"].notna(), "patient_id"]
    clinical.loc[clinical["patient_id"].isin(operated.iloc[:3]), "age"] = np.nan
    markers = sim.markers[~sim.markers["patient_id"].isin(operated.iloc[3:5])]
    markers, clin = _read_inputs(markers, clinical)
    frame = build_patient_frame(markers, clin)
    used, _, _ = _exclusions(frame, clin)
    frame = frame[used]
    expected_age = int(frame["age"].isna().sum())
    assert expected_age >= 3
    missing = _missing_counts(frame, markers)
    assert missing["age"] == expected_age and missing["no CA-125 sample"] == 2
    assert all(n > 0 for n in missing.values())


def test_a_comparator_known_for_too_few_patients_is_named_with_the_way_out():
    """recurrence_pattern known for 30 of 300 patients: MSKCC (which reads it) is known for a
    handful of each fold's patients; the run used to stop on 'the DeLong interval of the AUC
    needs at least 2 events and 2 non-events', naming neither the score nor what to do."""
    markers = pd.read_csv(ROOT / "data" / "synthetic" / "default" / "markers.csv", dtype=str)
    clinical = pd.read_csv(ROOT / "data" / "synthetic" / "default" / "clinical.csv", dtype=str).iloc[:300]
    markers = markers[markers["patient_id"].isin(clinical["patient_id"])]
    clinical.loc[clinical.index[30:], "recurrence_pattern"] = None
    with pytest.raises(InsufficientDataError, match=r"comparator 'mskcc' is known .* for only \d+ of \d+ .*"
                                                    r"\[task\] comparators = \['ago', 'imodel'\]"):
        fit_and_evaluate(markers, clinical, config=SMALL)


@pytest.mark.parametrize("column", ["age", "ecog", "figo_stage", "recurrence_pattern"])
def test_a_predictor_empty_for_every_patient_is_refused_with_its_name(column):
    """Used to crash inside scikit-learn (gradient boosting's binning: 'window shape cannot be
    larger than input array shape'; a published score fitted on no patient) with a raw
    traceback."""
    markers = pd.read_csv(ROOT / "data" / "synthetic" / "default" / "markers.csv", dtype=str)
    clinical = pd.read_csv(ROOT / "data" / "synthetic" / "default" / "clinical.csv", dtype=str).iloc[:120]
    markers = markers[markers["patient_id"].isin(clinical["patient_id"])]
    with pytest.raises(InvalidInputError, match=rf"predictor column\(s\) \['{column}'\] are empty for all"):
        fit_and_evaluate(markers, clinical.assign(**{column: None}), config=SMALL)


@pytest.mark.parametrize("column, value, shown", [("ecog", "1", "1"), ("recurrence_pattern", "multiple", "multiple")])
def test_a_predictor_with_one_value_for_every_patient_is_a_training_warning(column, value, shown):
    """A cohort whose ECOG is 1 for everyone (a coding, a column mapped to the wrong one) trained
    without a word: the models learned nothing from ECOG, AGO (which reads it) did not vary, and
    a patient with ECOG 0 was scored as by a model that knew ECOG."""
    from ca125kinetics.train import model_card

    markers = pd.read_csv(ROOT / "data" / "synthetic" / "default" / "markers.csv", dtype=str)
    clinical = pd.read_csv(ROOT / "data" / "synthetic" / "default" / "clinical.csv", dtype=str).iloc[:120]
    markers = markers[markers["patient_id"].isin(clinical["patient_id"])]
    config = {**SMALL, "interval": {"n_bootstrap": 0}}
    varied = fit_and_evaluate(markers, clinical, config=config)
    assert not [w for w in varied.warnings if "has one value" in w]
    clinical = clinical.assign(**{column: value})
    clinical.loc[clinical.index[:3], column] = None         # unknown values do not make it vary
    result = fit_and_evaluate(markers, clinical, config=config)
    said = [w for w in result.warnings if w.startswith(f"predictor {column!r} has one value")]
    known = result.n_used - result.missing.get(column, 0)
    assert said == [f"predictor {column!r} has one value ({shown}) in all {known} usable patient(s) "
                    "where it is known: the models learn nothing from it, and a patient with another value is "
                    "scored outside what they learned; check how the column was coded and mapped (--rename), "
                    "or add patients with other values"]
    assert said[0] in model_card(result)


@pytest.mark.parametrize("kind", ["file", "other directory"])
def test_an_export_path_that_would_be_refused_is_refused_before_training(tmp_path, monkeypatch, kind):
    """--out naming a file (or a non-empty directory that is not an exported model) used to be
    refused only after the cross-validation, the MLflow run and the registration of a
    'champion' version that was then never exported."""
    import ca125kinetics.train as T

    out = tmp_path / "out"
    if kind == "file":
        out.write_text("notes\n")
    else:
        out.mkdir()
        (out / "notes.txt").write_text("notes\n")
    monkeypatch.setattr(T, "fit_and_evaluate", lambda *a, **k: pytest.fail("trained before checking --out"))
    with pytest.raises(InvalidInputError, match="export (path|directory) .*(not a directory|choose an empty)"):
        train("markers.csv", "clinical.csv", config=SMALL, tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
              out_dir=out, progress=False)
    assert not (tmp_path / "mlflow.db").exists()


def test_how_the_cohort_was_called_synthetic_is_decided_and_said(tmp_path):
    """The card used to say 'Synthetic cohort from ca125kinetics.synth' for any cohort given
    --synthetic (another simulator's, or a real one marked by mistake) and 'Cohort supplied by
    the user' for synthetic tables copied without their params.json, never saying why."""
    from ca125kinetics.train import _synthetic_status

    (tmp_path / "markers.csv").write_text("patient_id,day,ca125\n")
    plain = tmp_path / "markers.csv"
    read = pd.DataFrame({"patient_id": []})     # the table as the readers read it
    assert _synthetic_status(plain, None, table=read) == (
        False, "not declared (neither --synthetic nor --no-synthetic) and no params.json of `ca125 synth` beside "
               "the markers file: read as a real cohort")
    assert _synthetic_status(plain, True, table=read) == (True, "declared synthetic by the user (--synthetic)")
    assert _synthetic_status(pd.DataFrame(), False, table=read) == (False, "declared not synthetic by the user "
                                                                           "(--no-synthetic)")
    (tmp_path / "params.json").write_text(json.dumps({"generator_version": 1}))
    assert _synthetic_status(plain, None, table=read)[0] and "detected" in _synthetic_status(plain, None, table=read)[1]
    assert _synthetic_status(plain, False, table=read)[0] is False   # the user's word wins, and is recorded


def test_a_params_json_beside_tables_it_did_not_describe_is_refused_not_read_as_synthetic(tmp_path):
    """A hospital's export saved where `ca125 synth` had written a cohort (600 real-looking
    patients, read with --sep ';' --rename ..., beside a params.json of 50 synthetic ones)
    trained a model whose card said 'Trained on synthetic data' and whose MLflow input example
    was two of the cohort's patients' records (a real cohort gets a made-up patient)."""
    from ca125kinetics.train import _synthetic_status

    cohort = simulate_cohort(20, seed=3)
    cohort.write(tmp_path)
    markers, clinical = tmp_path / "markers.csv", tmp_path / "clinical.csv"
    assert _synthetic_status(markers, None, table=cohort.markers)[0]               # as ca125 synth wrote it
    said = (r"a params.json of `ca125 synth` lies beside the markers file, but the tables are not the cohort it "
            r"describes \({}\): say whether the cohort is synthetic with --synthetic or --no-synthetic")
    for table in (markers, clinical):                       # saved again by a spreadsheet: ';'
        pd.read_csv(table, dtype=str, keep_default_na=False).to_csv(table, sep=";", index=False)
    with pytest.raises(InvalidInputError, match=said.format(r"they are read with options \['sep'\]; ca125 synth "
                                                            r"writes the data contract's format")):
        fit_and_evaluate(markers, clinical, config=SMALL, read_options={"sep": ";"})
    more = pd.concat([cohort.markers, cohort.markers.assign(patient_id=lambda f: "x" + f["patient_id"])])
    more.to_csv(markers, index=False)
    pd.read_csv(clinical, sep=";", dtype=str, keep_default_na=False).to_csv(clinical, index=False)
    with pytest.raises(InvalidInputError, match=said.format(r"the markers hold 40 patients, the cohort written "
                                                            r"there 20")):
        fit_and_evaluate(markers, clinical, config=SMALL)
    assert _synthetic_status(markers, False, table=cohort.markers) == (False, "declared not synthetic by the "
                                                                             "user (--no-synthetic)")
    assert _synthetic_status(markers, True, table=cohort.markers)[0]


def test_a_params_json_that_cannot_be_read_is_refused_not_taken_for_no_file(tmp_path):
    """A ``params.json`` of ``ca125 synth`` cut short (a write stopped part-way) or not JSON was
    taken for no file: the synthetic cohort beside it was trained as a real one, its card
    without 'Trained on synthetic data'. It is refused unless the user says which it is."""
    from ca125kinetics.train import _synthetic_status

    cohort = simulate_cohort(20, seed=3)
    cohort.write(tmp_path)
    markers, params = tmp_path / "markers.csv", tmp_path / "params.json"
    text = params.read_text()
    params.write_text(text[:len(text) // 2])
    with pytest.raises(InvalidInputError, match=r"params.json: cannot be read \(JSONDecodeError.*--synthetic or "
                                                r"--no-synthetic"):
        _synthetic_status(markers, None, table=cohort.markers)
    assert _synthetic_status(markers, True, table=cohort.markers)[0]
    assert not _synthetic_status(markers, False, table=cohort.markers)[0]
    params.write_text(json.dumps({"alpha": 0.05}))      # another tool's params.json: not synth's
    assert not _synthetic_status(markers, None, table=cohort.markers)[0]


def test_the_markers_file_beside_a_synth_params_json_is_read_once(tmp_path, monkeypatch):
    """Beside a params.json of ``ca125 synth`` the markers file was read twice: once by pandas
    alone (``train._patients_in``, to count its patients against the generator's ``n``), then by
    the readers. The patients are now counted in the table the readers read."""
    simulate_cohort(120, seed=5).write(tmp_path)
    markers = tmp_path / "markers.csv"
    opened = []
    read_csv = pd.read_csv

    def counting(path, *args, **kwargs):
        opened.append(Path(path).name if isinstance(path, (str, os.PathLike)) else path)
        return read_csv(path, *args, **kwargs)

    import ca125kinetics.train as T

    decided = []
    status = T._synthetic_status
    monkeypatch.setattr(T, "_synthetic_status", lambda *a, **k: decided.append(status(*a, **k)) or decided[-1])
    monkeypatch.setattr(pd, "read_csv", counting)

    class Read(Exception):
        pass

    def stop(text):        # once the tables are read: the rest does not read them
        raise Read(text)

    with pytest.raises(Read, match="read tables"):
        fit_and_evaluate(markers, tmp_path / "clinical.csv", config=SMALL, progress=stop)
    assert opened.count("markers.csv") == 1
    assert decided == [(True, "detected: a params.json of `ca125 synth` lies beside the markers file")]


def test_a_cohort_of_simulate_cohort_given_as_frames_is_synthetic():
    """``ca125kinetics.train(cohort.markers, cohort.clinical)`` with a cohort straight from
    ``simulate_cohort`` trained a model marked real ('Cohort supplied by the user', no
    synthetic line on its card or its scores): only a params.json beside a markers file was
    looked for. The simulator's frames now say what they are; the user's word still wins."""
    from ca125kinetics.synth import simulate_cohort
    from ca125kinetics.train import _synthetic_status

    cohort = simulate_cohort(20, seed=3)
    synthetic, source = _synthetic_status(cohort.markers, None, table=cohort.markers)
    assert synthetic and source.startswith("detected: the markers table is a frame of ca125kinetics.synth")
    assert _synthetic_status(cohort.markers[cohort.markers["day"] < 100].copy(), None, table=cohort.markers)[0]
    assert _synthetic_status(cohort.markers, False, table=cohort.markers)[0] is False
    plain = pd.DataFrame({"patient_id": ["1"], "day": [0], "ca125": [100.0]})
    assert _synthetic_status(plain, None, table=plain) == (
        False, "not declared (neither synthetic=True nor synthetic=False) and the markers table is no frame of "
               "ca125kinetics.synth: read as a real cohort")


# ----------------------------------------------------------------------------- one training run


@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("cohort")
    simulate_cohort(240, seed=31).write(path)  # writes params.json: detected as synthetic
    return path


@pytest.fixture(scope="module")
def run(cohort_dir, tmp_path_factory):
    work = tmp_path_factory.mktemp("work")
    uri = f"sqlite:///{work / 'mlflow.db'}"
    result = train(cohort_dir / "markers.csv", cohort_dir / "clinical.csv", config=SMALL, tracking_uri=uri,
                   name="test-cr", out_dir=work / "models" / "test-cr", progress=False)
    return result, work


@pytest.mark.slow  # shares one ~20 s training run (MLflow on SQLite, export)
def test_exclusions_are_counted_with_reasons(run, cohort_dir):
    result, _ = run
    clinical = pd.read_csv(cohort_dir / "clinical.csv", dtype={"patient_id": str})
    no_surgery = int((clinical["arm"] == "no_surgery").sum())
    table = dict(zip(result.exclusions["reason"], result.exclusions["n"]))
    assert table == {"no outcome: no_surgery arm (not operated)": no_surgery}
    assert result.n_used == len(clinical) - no_surgery == int(clinical["complete_resection"].notna().sum())
    assert result.n_development + result.n_holdout == result.n_used


@pytest.mark.slow  # shares one ~20 s training run (MLflow on SQLite, export)
def test_models_and_scores_are_evaluated_on_the_same_folds(run):
    result, _ = run
    folds = result.cv_folds
    assert set(folds["model"]) == set(FAMILIES) | set(PUBLISHED_SCORES)
    sizes = folds[folds["kind"] == "model"].groupby("fold")["n"].agg(["min", "max"])
    assert (sizes["min"] == sizes["max"]).all()  # every family on the same test patients
    for fold, part in folds.groupby("fold"):
        n = int(part.loc[part["kind"] == "model", "n"].iloc[0])
        assert (part.loc[part["kind"] == "published_score", "n"] <= n).all()  # minus unknown scores
    # every development patient is predicted once per repeat; no held-out patient ever is
    assert result.oof_predictions["patient_id"].is_unique
    assert len(result.oof_predictions) == result.n_development
    assert not set(result.oof_predictions["patient_id"]) & set(result.predictions["patient_id"])
    assert len(result.predictions) == result.n_holdout and result.evaluation_set == "held-out"


@pytest.mark.slow  # shares one ~20 s training run (MLflow on SQLite, export)
def test_selection_recalibration_and_k_ref_are_recorded(run):
    result, _ = run
    summary = result.cv_summary.set_index("model")
    best = summary.loc[list(FAMILIES), "auc_mean"].idxmax()
    assert summary.loc[result.selected, "auc_mean"] >= summary.loc[best, "auc_mean"] - summary.loc[best, "auc_se"]
    assert result.selection_reason.startswith("rule 'one_se'") and best in result.selection_reason
    assert result.bundle.model_family == result.selected
    assert result.bundle.pipeline.memory is None  # no reference to the training's temporary cache
    recal = result.recalibration
    assert recal["applied"] == (abs(recal["oof_slope"] - 1) > 0.1 or abs(recal["oof_citl"]) > 0.1)
    assert result.k_ref["choice"] == "cohort_median"
    assert result.bundle.kinetics_settings.k_ref == result.k_ref["value"]
    assert "median population-EB k" in result.bundle.kinetics_settings.k_ref_source
    assert 0.01 < result.k_ref["value"] < 0.2
    row = result.evaluation.set_index("model").loc[result.selected]
    assert row["selected"] and row["auc_ci_low"] < row["auc"] < row["auc_ci_high"]
    assert {f"delta_auc_vs_{s}" for s in PUBLISHED_SCORES} <= set(result.evaluation.columns)


@pytest.mark.slow  # shares one ~20 s training run (MLflow on SQLite, export)
def test_events_per_parameter_is_stated_and_warned_below_ten(run):
    from mlflow.tracking import MlflowClient

    from ca125kinetics.task import DEFAULT_TASK
    from ca125kinetics.train import _events_per_parameter, model_card

    result, _ = run
    size = result.bundle.training_summary["sample_size"]
    names = result.bundle.pipeline.named_steps["preprocess"].get_feature_names_out()
    y_dev = result.oof_predictions.drop_duplicates("patient_id")["y"]
    smaller = min(int(y_dev.sum()), int((1 - y_dev).sum()))
    assert size["design_columns"] == len(names) > 10
    assert size["smaller_group_n"] == smaller
    assert size["events_per_parameter"] == pytest.approx(smaller / len(names))
    card = model_card(result)
    assert (f"- Events per parameter: {smaller / len(names):.1f} ({smaller} {size['smaller_group']}, the smaller "
            f"outcome group of the development set, for {len(names)} columns of the {result.selected}") in card
    warned = [w for w in result.warnings if "events per parameter" in w]
    assert len(warned) == (size["events_per_parameter"] < 10)
    run_params = MlflowClient(tracking_uri=result.tracking_uri).get_run(result.run_id).data.params
    assert float(run_params["data.events_per_parameter"]) == pytest.approx(size["events_per_parameter"], abs=0.01)
    caught: list[str] = []
    few = _events_per_parameter(np.r_[np.zeros(35), np.ones(5)], result.bundle.pipeline, "x", DEFAULT_TASK, caught)
    assert few["smaller_group"] == "complete resections" and few["smaller_group_n"] == 5
    assert caught == [f"{5 / len(names):.1f} events per parameter: 5 complete resections (the smaller outcome group "
                      f"of the development set) for {len(names)} columns of the x design matrix, below the rule of "
                      "thumb of 10; the model may be overfitted (its held-out calibration slope says how much): "
                      "add patients, or fewer predictors or a simpler family"]


@pytest.mark.slow  # shares one ~20 s training run (MLflow on SQLite, export)
def test_training_warnings_are_printed_and_in_the_model_card(run):
    """The non-fatal problems of a run (a fold's slope not estimable, few events per
    parameter, ...) were collected in TrainingResult.warnings and shown nowhere."""
    import dataclasses

    from ca125kinetics.train import model_card

    result, _ = run
    many = tuple(f"problem number {i}" for i in range(12))
    noisy = dataclasses.replace(result, warnings=many)
    text, card = format_summary(noisy), model_card(noisy)
    assert "warnings (12):\n  - problem number 0\n" in text and "  - problem number 9\n" in text
    assert "problem number 10" not in text and "... and 2 more (all in the model card)" in text
    assert "## Warnings during training" in card and all(f"- {w}\n" in card for w in many)
    quiet = dataclasses.replace(result, warnings=())
    assert "warnings (" not in format_summary(quiet) and "## Warnings during training" not in model_card(quiet)


@pytest.mark.slow  # shares one ~20 s training run (MLflow on SQLite, export)
def test_the_printed_summary_says_the_model_was_trained_on_synthetic_data(run):
    """`ca125 train` printed its AUCs on a synthetic cohort without a word that the data were
    synthetic (only the model card and the scores said so)."""
    import dataclasses

    from ca125kinetics.predict.decision import DISCLAIMER, SYNTHETIC_NOTE

    result, _ = run
    assert result.bundle.trained_on_synthetic
    assert f"{DISCLAIMER} {SYNTHETIC_NOTE}" in format_summary(result)
    real = dataclasses.replace(result, bundle=dataclasses.replace(result.bundle, trained_on_synthetic=False))
    assert DISCLAIMER in format_summary(real) and SYNTHETIC_NOTE not in format_summary(real)


@pytest.mark.slow  # shares one ~20 s training run (MLflow on SQLite, export)
def test_mlflow_parent_children_and_champion_alias(run):
    from mlflow.tracking import MlflowClient

    result, work = run
    assert result.tracking_uri == f"sqlite:///{work / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=result.tracking_uri)
    version = client.get_model_version_by_alias("test-cr", "champion")
    assert str(version.version) == result.registered_version == "1"
    assert result.model_uri == "models:/test-cr@champion"
    parent = client.get_run(result.run_id)
    params = parent.data.params
    assert params["data.digest_sha256"] == result.data_digest
    assert params["data.synthetic_source"].startswith("detected: a params.json")
    assert json.loads(params["data.missing"]) == result.missing
    assert params["data.read_options"] == "{}"     # read as the data contract writes the tables
    assert params["k_ref.source"] == result.k_ref["source"] and params["kinetics.k_ref"] == str(result.k_ref["value"])
    assert params["gcig.uln"] == "35.0" and params["selection.selected"] == result.selected
    assert parent.data.metrics["holdout_auc"] == pytest.approx(result.metrics()["holdout_auc"])
    children = client.search_runs([parent.info.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{result.run_id}'")
    assert sorted(r.info.run_name for r in children) == sorted(FAMILIES + PUBLISHED_SCORES)
    artifacts = {a.path for a in client.list_artifacts(result.run_id, "plots")}
    assert artifacts == {"plots/roc.png", "plots/calibration.png", "plots/score_comparison.png"}
    assert (work / "mlartifacts").is_dir()  # artifacts next to the database, not in the CWD


def logged_names(client, run_id: str) -> dict:
    """Names of what the training run ``run_id`` logged: parent and child runs' params,
    metrics (with their number of steps), tags, artifacts and status; the logged models."""
    def artifacts(rid, path=None):
        out = []
        for a in client.list_artifacts(rid, path):
            out += artifacts(rid, a.path) if a.is_dir else [a.path]
        return out

    def describe(r):
        rid = r.info.run_id
        return {"params": sorted(r.data.params),
                "metrics": {k: len(client.get_metric_history(rid, k)) for k in sorted(r.data.metrics)},
                "tags": sorted(r.data.tags), "artifacts": sorted(artifacts(rid)), "status": r.info.status}

    parent = client.get_run(run_id)
    children = client.search_runs([parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{run_id}'")
    models = client.search_logged_models([parent.info.experiment_id])
    return {"parent": describe(parent), "children": {r.info.run_name: describe(r) for r in children},
            "logged_models": [{"name": m.name, "source_run": m.source_run_id == run_id} for m in models]}


@pytest.mark.slow  # shares one ~20 s training run (MLflow on SQLite, export)
def test_batched_logging_logs_every_name_it_logged_before(run):
    from mlflow.tracking import MlflowClient

    result, _ = run
    expected = json.loads((ROOT / "tests" / "data" / "mlflow_logged_names.json").read_text())
    expected.pop("provenance")
    assert logged_names(MlflowClient(tracking_uri=result.tracking_uri), result.run_id) == expected


@pytest.mark.slow  # shares one ~20 s training run (MLflow on SQLite, export)
def test_the_registered_model_is_under_a_manifest_and_scores_as_the_export(run, cohort_dir, tmp_path, monkeypatch):
    """The registered copy of the model (``models:/test-cr@champion``) had a manifest only in its
    bundle directory: its ``_pyfunc_code.py`` (run by ``mlflow.pyfunc.load_model``) and ``MLmodel``
    were covered by nothing, and ``verify_manifest`` on it, the documented check before
    ``mlflow.pyfunc.load_model``, refused it for want of one."""
    import shutil

    from mlflow.tracking import MlflowClient

    from ca125kinetics.errors import ModelIntegrityError
    from ca125kinetics.predict import clear_model_cache, load_model, score_frame

    result, _ = run
    client = MlflowClient(tracking_uri=result.tracking_uri)
    version = client.get_model_version_by_alias("test-cr", "champion")
    stored = Path(client.get_model_version_download_uri("test-cr", version.version).removeprefix("file://"))
    verify_manifest(stored)
    assert {"MLmodel", "_pyfunc_code.py", "requirements.txt", "input_example.json",
            "artifacts/bundle/bundle.joblib", "artifacts/bundle/MANIFEST.sha256"} <= set(read_manifest(stored))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", result.tracking_uri)
    clear_model_cache()
    registered, exported = load_model(result.model_uri), load_model(result.export_dir)
    example = result.input_example
    pd.testing.assert_frame_equal(score_frame(registered, example), score_frame(exported, example))
    copy = shutil.copytree(stored, tmp_path / "copy")
    with open(copy / "_pyfunc_code.py", "a") as handle:
        handle.write("print('changed')\n")
    with pytest.raises(ModelIntegrityError, match="'_pyfunc_code.py' was changed"):
        verify_manifest(copy)
    clear_model_cache()


@pytest.mark.slow  # shares one ~20 s training run (MLflow on SQLite, export)
def test_export_directory(run):
    result, _ = run
    out = Path(result.export_dir)
    verify_manifest(out)
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert set(read_manifest(out)) == files - {"MANIFEST.sha256"}
    card = (out / "model_card.md").read_text(encoding="utf-8")
    assert card.startswith("**Trained on synthetic data — not for clinical use.**")
    for heading in ("## Intended use", "## Training data", "## Performance", "## Comparison with AGO",
                    "## Limitations", "## Rule settings", "## How to reproduce"):
        assert heading in card
    assert result.data_digest in card and "not a medical device" in card
    assert ("Synthetic cohort (simulated patients, not people); synthetic or not: detected: a params.json "
            "of `ca125 synth` lies beside the markers file." in card)
    # the command to reproduce states the declaration (part of the model and its version), not
    # the params.json that decided it, which the reader of the card may not have
    reproduce = card.split("## How to reproduce", 1)[1].split("```")[1]
    assert reproduce.strip().startswith("ca125 train --markers MARKERS") and reproduce.strip().endswith(" --synthetic")
    assert result.missing and result.bundle.training_summary["missing"] == result.missing
    line = ("- Used with unknown values (kept, filled by the models' missing-value handling): "
            + ", ".join(f"{k} {n}" for k, n in result.missing.items()))
    assert line in card and "used with unknown values" in format_summary(result)
    meta = json.loads((out / "bundle.json").read_text())
    assert meta["trained_on_synthetic"] is True and meta["model_family"] == result.selected


@pytest.mark.slow  # shares one ~20 s training run (MLflow on SQLite, export)
def test_summary_text_and_cli_arguments(run):
    result, _ = run
    text = format_summary(result)
    assert "(selected" in text and "ΔAUC vs AGO" in text and "ΔAUC vs iMODEL" in text
    # a score's AUC is on the patients whose score is known: the table says on how many (its
    # AUC beside the model's on all patients read as a like-for-like comparison)
    table = summary_table(result)
    column = f"n (events), {result.evaluation_set}"
    assert table[column].tolist() == [f"{int(n)} ({int(e)})" for n, e in
                                      zip(result.evaluation["n"], result.evaluation["n_events"])]
    assert "each ΔAUC is paired on those patients" in text
    assert "registered test-cr version 1 (alias champion)" in text
    # a database tracking store's password is never printed (it named the URI whole)
    text = format_summary(dataclasses.replace(result, tracking_uri="postgresql://alice:S3cretPw@db.host/mlflow"))
    assert "at postgresql://alice:***@db.host/mlflow; registered" in text and "S3cretPw" not in text
    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    args = parser.parse_args(["--markers", "m.csv", "--clinical", "c.csv", "--no-synthetic", "--no-progress"])
    assert (args.synthetic, args.no_progress, args.name, args.out) == (False, True, "ca125-complete-resection", None)
    assert parser.parse_args(["--markers", "m", "--clinical", "c"]).synthetic is None


@pytest.mark.slow  # shares one ~20 s training run (MLflow on SQLite, export)
def test_same_seed_and_data_give_identical_metrics_and_predictions(run, cohort_dir):
    """Determinism, also across the number of worker processes (n_jobs 1 vs 2)."""
    from ca125kinetics.features import build_patient_frame
    from ca125kinetics.io import read_clinical, read_markers
    from ca125kinetics.predict import load_model

    first, _ = run
    config = dict(SMALL, cv=dict(SMALL["cv"], n_jobs=2))
    second = fit_and_evaluate(cohort_dir / "markers.csv", cohort_dir / "clinical.csv", config=config,
                              name="test-cr", synthetic=True)
    # as train records it (fit_and_evaluate said 'declared by the caller (synthetic=True)')
    assert second.synthetic_source == "declared synthetic by the user (--synthetic)"
    assert second.metrics() == first.metrics()
    pd.testing.assert_frame_equal(second.cv_folds, first.cv_folds)
    pd.testing.assert_frame_equal(second.predictions, first.predictions)
    pd.testing.assert_frame_equal(second.oof_predictions, first.oof_predictions)
    assert second.bundle.version == first.bundle.version
    # the exported model (reloaded, verified) predicts exactly like the re-trained bundle
    clin = read_clinical(cohort_dir / "clinical.csv")
    frame = build_patient_frame(read_markers(cohort_dir / "markers.csv", clinical=clin), clin)
    exported = load_model(first.export_dir)
    pd.testing.assert_frame_equal(exported.predict_proba(frame), second.bundle.predict_proba(frame))


def test_training_twice_on_the_committed_cohort_gives_the_same_model():
    """The first 300 patients of the committed synthetic cohort, the small configuration, twice:
    the same fitted numbers (content digest, hence version), metrics and predictions, bit for
    bit. (The whole cohort with training/default.toml behaves alike: measured, 35-46 s a run;
    see training/README.md.)"""
    from ca125kinetics.bundle import content_digest

    markers = pd.read_csv(ROOT / "data" / "synthetic" / "default" / "markers.csv", dtype=str)
    clinical = pd.read_csv(ROOT / "data" / "synthetic" / "default" / "clinical.csv", dtype=str)
    ids = clinical["patient_id"].iloc[:300]
    markers, clinical = markers[markers["patient_id"].isin(ids)], clinical[clinical["patient_id"].isin(ids)]
    first, second = (fit_and_evaluate(markers, clinical, config=SMALL, synthetic=True) for _ in range(2))
    assert content_digest(first.bundle) == content_digest(second.bundle)
    assert first.bundle.version == second.bundle.version and first.data_digest == second.data_digest
    # two runs in one second share the training date; another date (the summary the scoring
    # file now carries) must not change what the model computes, hence its version
    import dataclasses

    later = dataclasses.replace(first.bundle, training_summary={**first.bundle.training_summary, "date": "2099"})
    assert content_digest(later) == content_digest(first.bundle)
    assert first.metrics() == second.metrics()
    pd.testing.assert_frame_equal(first.predictions, second.predictions, check_exact=True)
    pd.testing.assert_frame_equal(first.oof_predictions, second.oof_predictions, check_exact=True)
    assert first.bundle.trained_on_synthetic and first.bundle.landmarks is not None


def test_score_row_interval_is_centred_on_the_scores_own_auc_when_reversed():
    """A comparator pointing the other way in the data (own AUC < 0.5): the recalibrated
    probability ranks the other way (AUC 1 - own); the reported interval must contain the
    reported AUC (DeLong variance is the same for AUC and 1 - AUC)."""
    from ca125kinetics.train import _score_probability, _score_row
    from ca125kinetics.validation.metrics import delong_auc

    rng = np.random.default_rng(1)
    s = rng.normal(size=300)
    y = (rng.random(300) < 1 / (1 + np.exp(s))).astype(int)
    row = _score_row(y, s, _score_probability(s, y, s), [])
    auc, var = delong_auc(y, s)
    assert row["auc"] == auc < 0.5
    assert row["auc_ci_low"] < auc < row["auc_ci_high"]
    assert row["auc_ci_high"] - row["auc_ci_low"] == pytest.approx(2 * 1.959963984540054 * var ** 0.5, rel=1e-6)
    same = _score_row(y, -s, _score_probability(-s, y, -s), [])       # positively oriented: unchanged path
    assert same["auc"] == pytest.approx(1 - auc) and same["auc_ci_low"] < same["auc"] < same["auc_ci_high"]


# ----------------------------------------------------------------------------- interrupted runs


def _turned_into_runtime_error(_result):
    """An interruption that a library turned into another error while handling it."""
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt:
        raise RuntimeError("cannot join thread before it is started")


def _plain_interruption(_result):
    raise KeyboardInterrupt


@pytest.mark.slow  # shares one ~20 s training run (MLflow on SQLite, export)
@pytest.mark.parametrize("interrupted", [_plain_interruption, _turned_into_runtime_error])
def test_a_run_interrupted_while_logging_ends_killed_not_running(run, tmp_path, monkeypatch, interrupted):
    from mlflow.tracking import MlflowClient

    import ca125kinetics.tracking as tracking

    result, _ = run
    monkeypatch.setattr(tracking, "figures", interrupted)   # SIGTERM arrives while the plots are drawn
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with pytest.raises((KeyboardInterrupt, RuntimeError)):
        tracking.log_training(result, tracking_uri=uri, name="killed", input_example=result.input_example,
                              model_card="card")
    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("killed").experiment_id])
    statuses = {r.info.run_name: r.info.status for r in runs}
    assert statuses.pop("train killed") == "KILLED"
    assert statuses and set(statuses.values()) == {"FINISHED"}  # children logged before the signal


@pytest.mark.slow  # shares one ~20 s training run (MLflow on SQLite, export)
def test_a_run_asked_to_stop_registers_no_champion_when_the_interruption_was_lost(run, tmp_path, monkeypatch):
    """SIGTERM's interruption lost inside a library while the plots are drawn (pyarrow cleared
    one in ``ca125 score``): the recorded request still ends the run KILLED, before a model
    version is registered and made champion."""
    from mlflow.tracking import MlflowClient

    import ca125kinetics.tracking as tracking
    from ca125kinetics import errors

    result, _ = run
    drawn = tracking.figures

    def lost(res):
        errors._STOP.set()       # what the ca125 command's signal handler records
        return drawn(res)

    monkeypatch.setattr(tracking, "figures", lost)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    try:
        with pytest.raises(KeyboardInterrupt):
            tracking.log_training(result, tracking_uri=uri, name="stopped", input_example=result.input_example,
                                  model_card="card")
    finally:
        errors._STOP.clear()
    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("stopped").experiment_id])
    assert {r.info.run_name: r.info.status for r in runs}["train stopped"] == "KILLED"
    assert client.search_model_versions("name='stopped'") == []


def _children(pid: int) -> set[int]:
    """Process ids whose parent is ``pid`` (Linux /proc)."""
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.add(int(stat.parent.name))
    return out


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:   # ended meanwhile
        return b""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _interrupt_once_workers_run(command: list, cwd: Path, signame: str) -> None:
    """Run ``ca125 <command>``, send ``signame`` as soon as two worker processes exist, and
    check that it ends with code 130 and "ca125: interrupted", and that no worker outlives it."""
    import signal
    import subprocess
    import sys
    import time

    proc = subprocess.Popen([sys.executable, "-m", "ca125kinetics.cli", *command], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    workers: set[int] = set()
    guard = time.monotonic() + 300  # a hang guard, not a speed requirement
    while len(workers) < 2 and proc.poll() is None and time.monotonic() < guard:
        # loky starts its workers through a resource-tracker child: count python children
        # that are not the resource tracker. The signal goes as soon as the second worker
        # exists, often while loky is still starting it: the moment that used to hang.
        workers = {c for c in _children(proc.pid)
                   if b"resource_tracker" not in _cmdline(c)}
        time.sleep(0.005)
    assert proc.poll() is None and len(workers) >= 2, "the worker processes never started"
    proc.send_signal(getattr(signal, signame))
    try:
        _, err = proc.communicate(timeout=300)
    finally:
        for pid in _children(proc.pid) if proc.poll() is None else ():
            os.kill(pid, signal.SIGKILL)   # a failed test leaves no worker behind
        proc.kill()
    assert proc.returncode == 130 and "ca125: interrupted" in err and "Traceback" not in err, err
    while any(_alive(w) for w in workers) and time.monotonic() < guard:
        time.sleep(0.2)
    assert not any(_alive(w) for w in workers), "worker processes outlived the command"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("signame", ["SIGTERM", "SIGINT"])
def test_killing_ca125_train_stops_its_worker_processes(tmp_path, signame):
    simulate_cohort(240, seed=31).write(tmp_path / "cohort")
    config = tmp_path / "slow.toml"
    config.write_text("[cv]\nn_splits = 5\nn_repeats = 20\nn_jobs = 2\n")  # long enough to be killed in CV
    _interrupt_once_workers_run(["train", "--markers", tmp_path / "cohort" / "markers.csv",
                                 "--clinical", tmp_path / "cohort" / "clinical.csv", "--config", config,
                                 "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
                                 "--out", tmp_path / "model", "--no-progress"], tmp_path, signame)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_killing_ca125_validate_stops_its_bootstrap_workers(tmp_path):
    simulate_cohort(160, seed=32).write(tmp_path / "cohort")
    _interrupt_once_workers_run(["validate", "--model", ROOT / "models" / "default",
                                 "--markers", tmp_path / "cohort" / "markers.csv",
                                 "--clinical", tmp_path / "cohort" / "clinical.csv", "--out", tmp_path / "r.html",
                                 "--bootstrap", "2000", "--n-jobs", "2", "--no-progress"], tmp_path, "SIGTERM")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_an_interrupted_train_kills_workers_loky_does_not_know(tmp_path):
    """An interruption while loky starts a worker leaves a child that no executor lists.
    ``kill_workers`` kills every child but the resource trackers: run in a process of
    its own, with one registered loky worker, one unknown child and both trackers."""
    import subprocess
    import sys

    script = tmp_path / "kill.py"
    script.write_text(
        "import subprocess, sys\n"
        "from joblib import Parallel, delayed\n"
        "from ca125kinetics.cli._workers import kill_workers\n"
        "Parallel(n_jobs=2)(delayed(abs)(i) for i in range(4))  # loky workers, kept for reuse\n"
        "import multiprocessing.resource_tracker as mrt; mrt.ensure_running()\n"
        "from joblib.externals.loky.backend import resource_tracker as lrt\n"
        "trackers = sorted([mrt._resource_tracker._pid, lrt._resource_tracker._pid])\n"
        "unknown = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        "print(' '.join(map(str, [unknown.pid, *trackers])), flush=True)\n"
        "kill_workers()\n"
        "state = lambda pid: open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()[0]\n"
        "print(unknown.wait(timeout=30), *(state(p) != 'Z' for p in trackers))\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    first = proc.stdout.readline().split()
    assert first, proc.communicate(timeout=120)[1]
    unknown, trackers = int(first[0]), {int(p) for p in first[1:]}
    workers = _children(proc.pid) - trackers - {unknown}
    assert len(trackers) == 2 and len(workers) >= 1
    out, err = proc.communicate(timeout=120)  # a hang guard, not a speed requirement
    assert proc.returncode == 0, err
    assert out.split() == ["-9", "True", "True"]   # the unknown child was killed, the trackers were not
    assert not any(_alive(w) for w in workers)


def test_config_default_is_found_by_name_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no training/ directory here
    config = load_config("default")
    assert config.to_dict() == TrainingConfig.from_toml(ROOT / "training" / "default.toml").to_dict()
    assert "default" in config.source
    with pytest.raises(InvalidInputError, match=r"unknown training configuration name 'defualt'; use one of \['default'\]"):
        load_config("defualt")
    with pytest.raises(InvalidInputError, match="not found"):
        load_config("default.toml")  # a file name is a path, not a name
    (tmp_path / "default").write_text("seed = 3\n")  # an existing file wins over the name
    assert load_config("default").seed == 3


def test_after_an_interruption_background_threads_stay_quiet(tmp_path):
    """Once the guard handles an interruption, a background thread's error (here a future's
    callback failing, as joblib's does on a killed worker, and a thread raising) prints no
    traceback: the process is ending and "ca125: interrupted" is the line to see. Run in a
    process of its own (the guard changes process-wide hooks)."""
    import subprocess
    import sys

    script = tmp_path / "quiet.py"
    script.write_text(
        "import concurrent.futures, threading\n"
        "from ca125kinetics.cli._workers import stop_workers_on_interrupt\n"
        "try:\n"
        "    with stop_workers_on_interrupt():\n"
        "        raise KeyboardInterrupt\n"
        "except KeyboardInterrupt:\n"
        "    pass\n"
        "f = concurrent.futures.Future()\n"
        "f.add_done_callback(lambda _: 1 / 0)\n"
        "f.set_result(1)\n"
        "t = threading.Thread(target=lambda: 1 / 0); t.start(); t.join()\n"
        "print('done')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)  # a hang guard
    assert done.returncode == 0 and done.stdout == "done\n" and "Traceback" not in done.stderr, done.stderr


@pytest.mark.parametrize("mode", ["auto", "always", "never"])
def test_recalibration_never_reverses_the_ranking(mode):
    """Out-of-fold predictions that rank patients the wrong way round (slope < 0): 'auto' had
    recalibrated with the negative slope, turning the shipped model's ranking upside down."""
    from ca125kinetics.train import _recalibration

    rng = np.random.default_rng(3)
    p = rng.uniform(0.05, 0.95, 400)
    y = (rng.random(400) < 1 - p).astype(int)     # the higher p, the rarer the event
    oof = pd.DataFrame({"y": y, "p_logistic_main": p})
    config = load_config({"recalibration": {"mode": mode}})
    caught: list[str] = []
    if mode == "always":
        with pytest.raises(InsufficientDataError, match=r"the fitted slope -[0-9.]+ is <= 0"):
            _recalibration(oof, "logistic_main", config, caught)
        return
    recal = _recalibration(oof, "logistic_main", config, caught)
    assert recal["fitted_slope"] < 0 and not recal["applied"]
    assert (recal["intercept"], recal["slope"]) == (0.0, 1.0)
    warned = [w for w in caught if "does not rank patients in the right direction" in w]
    assert len(warned) == 1
    if mode == "auto":
        assert "would reverse or flatten the ranking: not recalibrated" in recal["reason"]


@pytest.mark.parametrize("mode", ["auto", "always"])
def test_recalibration_not_fitted_to_separated_out_of_fold_risks(mode):
    """Out-of-fold risks that separate the outcomes, with a CITL beyond the tolerance: 'auto'
    had recalibrated with the penalised fit's slope (about 44), pushing risks to 0 or 1."""
    from ca125kinetics.train import _recalibration

    p = np.r_[np.linspace(0.30, 0.55, 30), np.linspace(0.60, 0.90, 30)]
    oof = pd.DataFrame({"y": np.r_[[0] * 30, [1] * 30], "p_logistic_main": p})
    config = load_config({"recalibration": {"mode": mode}})
    if mode == "always":
        with pytest.raises(InsufficientDataError, match="the recalibration slope has no finite estimate"):
            _recalibration(oof, "logistic_main", config, [])
        return
    recal = _recalibration(oof, "logistic_main", config, [])
    assert abs(recal["oof_citl"]) > 0.1 and not recal["applied"]
    assert recal["reason"].endswith("has no finite estimate: not recalibrated")


def test_patients_entered_twice_under_new_ids_are_warned_about():
    """The same CA-125 series and clinical row under two identifiers (a registry export that
    merged two sources) went unnoticed: one copy in a training fold and one in the test fold
    inflate the cross-validated and held-out metrics."""
    from ca125kinetics.io import read_clinical, read_markers
    from ca125kinetics.task import DEFAULT_TASK
    from ca125kinetics.train import _duplicate_patients

    cohort = ROOT / "data" / "synthetic" / "default"
    clinical = read_clinical(cohort / "clinical.csv", on_error="flag")
    markers = read_markers(cohort / "markers.csv", clinical=clinical, on_error="flag")
    caught: list[str] = []
    assert _duplicate_patients(markers, clinical, DEFAULT_TASK, caught) == 0 and caught == []

    renamed = {"000002": "X2", "000005": "X5"}
    again_m = markers[markers["patient_id"].isin(list(renamed))].assign(
        patient_id=lambda f: f["patient_id"].map(renamed))
    again_c = clinical[clinical["patient_id"].isin(list(renamed))].assign(
        patient_id=lambda f: f["patient_id"].map(renamed), complete_resection=[1, 0])    # outcome aside
    both_m, both_c = pd.concat([markers, again_m]), pd.concat([clinical, again_c])
    assert _duplicate_patients(both_m, both_c, DEFAULT_TASK, caught) == 2
    assert caught == ["2 patient(s) repeat another under a different patient_id (the same ca125 series and "
                      "clinical row): '000002' = 'X2'; '000005' = 'X5'; a patient entered twice can fall in both "
                      "a training and a test fold and inflate the cross-validated and held-out metrics: keep one "
                      "row set per patient"]
    one_differs = again_m.copy()
    one_differs.loc[one_differs.index[0], "ca125"] += 0.5     # one sample of X2 differs
    caught.clear()
    assert _duplicate_patients(pd.concat([markers, one_differs]), both_c, DEFAULT_TASK, caught) == 1
    assert "'000005' = 'X5'" in caught[0] and "X2" not in caught[0]
    age_differs = again_c.assign(age=again_c["age"] + 1)
    assert _duplicate_patients(both_m, pd.concat([clinical, age_differs]), DEFAULT_TASK, []) == 0


def test_the_input_example_of_a_model_of_people_is_no_patients_record():
    """The example stored with every exported and registered model held two held-out patients'
    whole records (their CA-125 series and clinical factors): for a cohort of people it is now
    one made-up series with the cohort's typical clinical values."""
    from ca125kinetics.io import read_clinical, read_markers
    from ca125kinetics.mlflow_model import pyfunc_input_example

    cohort = ROOT / "data" / "synthetic" / "default"
    markers, clinical = read_markers(cohort / "markers.csv"), read_clinical(cohort / "clinical.csv")
    ids = clinical["patient_id"].iloc[:2].tolist()
    theirs = pyfunc_input_example(markers, clinical, ids)
    assert set(theirs["patient_id"]) == set(ids)                  # a synthetic cohort: its own patients
    nobody = pyfunc_input_example(markers, clinical, ids, synthetic=False)
    assert nobody["patient_id"].unique().tolist() == ["example"]
    assert nobody["day"].tolist() == [-3, 21, 42, 63] and nobody["ca125"].tolist() == [400.0, 200.0, 100.0, 50.0]
    assert nobody["age"].iloc[0] == clinical["age"].median() or not (clinical["age"] % 1 != 0).any()
    # a whole-number factor takes its most common value: half ECOG 0 and half 1 gave 0.5, refused
    half = clinical.assign(ecog=[0, 1] * (len(clinical) // 2) + [0] * (len(clinical) % 2))
    example = pyfunc_input_example(markers, half, ids, synthetic=False)
    assert example["ecog"].iloc[0] in (0.0, 1.0)
    from ca125kinetics.predict import predict_cohort
    assert predict_cohort(example)["status"].iloc[0] != "invalid_input"
    assert nobody["recurrence_pattern"].iloc[0] == clinical["recurrence_pattern"].value_counts().index[0]
    assert list(nobody.columns) == list(theirs.columns[:3]) + [c for c in theirs.columns if c in clinical.columns
                                                               and c != "patient_id"]


def test_a_metric_warning_names_the_model_or_score_it_is_about():
    """'CV repeat 0 fold 1: the calibration slope is not estimable' did not say whose: it was a
    published score's while the selected model's slopes were finite."""
    from ca125kinetics.train import _metric_row

    caught: list = []
    y = np.array([0, 1, 0, 1, 1, 0])
    row = _metric_row(y, np.full(6, 0.5), caught, "published score ago")
    assert np.isnan(row["calibration_slope"])
    assert caught and all(w.startswith("published score ago: ") for w in caught)
    assert any("calibration slope is not estimable" in w for w in caught)


@pytest.mark.slow  # one small training run without MLflow (about 10 s)
def test_fit_and_evaluate_knows_simulator_frames_and_fits_quietly_when_the_cache_is_slow(monkeypatch):
    """``fit_and_evaluate`` (the computation ``train`` runs) took ``synthetic=False`` by
    default, so simulator frames gave a bundle marked real; it now detects as ``train`` does.
    And on a loaded machine joblib's cache warned "Persisting input arguments took 5.18s"
    during the fits (a timing notice, which the test suite's warning filter turned into
    errors): forced here by a zero time limit, it is not raised."""
    import functools

    import joblib.memory

    persist = joblib.memory.MemorizedFunc._persist_input
    monkeypatch.setattr(joblib.memory.MemorizedFunc, "_persist_input",
                        functools.partialmethod(persist, this_duration_limit=-1.0))
    cohort = simulate_cohort(240, seed=31)
    result = fit_and_evaluate(cohort.markers, cohort.clinical, config=SMALL)
    assert result.bundle.trained_on_synthetic is True


def test_no_progress_turns_mlflow_artifact_bars_off_for_the_run(monkeypatch):
    """train(progress=False) drew MLflow's "Downloading artifacts" bars on stderr while it
    logged and exported the model (the CLI hid them); they are off inside the run, and the
    environment is as it was after it."""
    from ca125kinetics.train import _progress

    monkeypatch.delenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", raising=False)
    with _progress(False, total=3) as step:
        step("logged")
        assert os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] == "false"
    assert "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR" not in os.environ
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "true")
    with _progress(lambda text: None, total=3):      # a caller's own progress: MLflow's left alone
        assert os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] == "true"
    with _progress(False, total=3):
        pass
    assert os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] == "true"


def test_the_held_out_comparison_with_the_published_scores_matches_proc_roc_test():
    """The final table's paired AUC differences (model minus published score, on the patients
    whose score is known) and each AUC's DeLong interval, computed by training's own evaluation
    step on the held-out predictions of a training run (tests/data/train_comparison_README.md),
    equal pROC's ``roc.test(paired = TRUE, method = "delong")`` and ``ci.auc``: tied scores (AGO
    is 0/1, MSKCC a few points) and two patients without an iMODEL total included."""
    from ca125kinetics.train import _evaluate, _score_probability

    data = pd.read_csv(ROOT / "tests" / "data" / "train_comparison_predictions.csv", dtype={"patient_id": str})
    ref = json.loads((ROOT / "tests" / "data" / "train_comparison_reference.json").read_text())
    y = data["y"].to_numpy(dtype=int)
    scores = data[list(PUBLISHED_SCORES)].to_numpy(dtype=float)
    assert np.isnan(scores).sum() == 2
    model_p = {f: data[f"p_{f}"].to_numpy(dtype=float) for f in FAMILIES}
    score_p = {s: _score_probability(scores[:, j], y, scores[:, j], s) for j, s in enumerate(PUBLISHED_SCORES)}
    table = _evaluate(y, model_p, scores, score_p, "logistic_spline", [], PUBLISHED_SCORES).set_index("model")
    for name, r in ref["single"].items():
        row = table.loc[name.removeprefix("p_")]
        assert (row["n"], row["n_events"]) == (r["n"], r["n_events"])
        assert (row["auc"], row["auc_ci_low"], row["auc_ci_high"]) == pytest.approx(
            (r["auc"], r["ci_low"], r["ci_high"]), rel=1e-9)
    assert len(ref["paired"]) == len(FAMILIES) * len(PUBLISHED_SCORES)
    for key, r in ref["paired"].items():
        family, score = key.removeprefix("p_").split("_vs_")
        row = table.loc[family]
        assert row[f"delta_auc_vs_{score}_n"] == r["n"]
        got = [row[f"delta_auc_vs_{score}{part}"] for part in ("", "_ci_low", "_ci_high", "_p")]
        assert got == pytest.approx([r["difference"], r["ci_low"], r["ci_high"], r["p_value"]], rel=1e-9, abs=1e-12)


def test_recalibration_is_fitted_to_the_maximum_of_the_likelihood():
    """Out-of-fold risks of two values close together (a boosting model that learned only the
    training fold's prevalence, 4 complete resections in 39): the pooled calibration slope is
    -0.83, and recalibration must then be refused (it would reverse the ranking), yet the
    recalibration fit (lbfgs) stopped at a = -0.44, b = +0.87 and the model was recalibrated
    with it, its reason quoting the slope -0.83."""
    import statsmodels.api as sm

    from ca125kinetics.models import logit
    from ca125kinetics.train import _logistic, _recalibration

    p = np.r_[np.full(19, 2 / 17), np.full(20, 0.125)]
    y = np.r_[1, 1, np.zeros(17), 1, 1, np.zeros(18)].astype(int)
    mle = sm.GLM(y, sm.add_constant(logit(p)), family=sm.families.Binomial()).fit().params
    assert _logistic(logit(p), y) == pytest.approx(tuple(mle), rel=1e-3)   # C = 1e6: a negligible penalty
    caught = []
    recal = _recalibration(pd.DataFrame({"y": y, "p_gradient_boosting": p}), "gradient_boosting",
                           load_config({}), caught)
    assert not recal["applied"] and (recal["intercept"], recal["slope"]) == (0.0, 1.0)
    assert recal["fitted_slope"] == pytest.approx(recal["oof_slope"], rel=1e-3) and recal["fitted_slope"] < 0
    assert "would reverse or flatten the ranking: not recalibrated" in recal["reason"]
    assert any("does not rank patients in the right direction" in w for w in caught)


def test_a_cross_validated_mean_is_not_that_of_the_folds_where_the_metric_was_estimable():
    """A calibration slope not estimable in one fold of three (NaN, with the fold's warning)
    was left out of the mean and sd, which were reported (card, MLflow cv_*_mean) as those of
    the three folds."""
    from ca125kinetics.train import _summarise

    folds = pd.DataFrame({"model": ["logistic_main"] * 3 + ["ago"] * 3, "kind": ["model"] * 3 + ["published_score"] * 3,
                          "repeat": 0, "fold": [0, 1, 2] * 2, "n": 30, "n_events": 10,
                          "auc": [0.7, 0.8, 0.75, 0.6, 0.6, 0.65], "brier": 0.2, "citl": [0.1, -0.1, 0.0, 0, 0, 0],
                          "calibration_slope": [0.9, np.nan, 1.1, 1.0, 1.2, 0.8]})
    caught = []
    summary = _summarise(folds, caught).set_index("model")
    assert np.isnan(summary.loc["logistic_main", "calibration_slope_mean"])
    assert np.isnan(summary.loc["logistic_main", "calibration_slope_sd"])
    assert summary.loc["ago", "calibration_slope_mean"] == pytest.approx(1.0)
    assert summary.loc["logistic_main", "auc_mean"] == pytest.approx(0.75)
    assert summary["n_folds"].tolist() == [3, 3]
    assert caught == ["logistic_main: the calibration slope is not estimable in 1 of 3 cross-validation folds, so "
                      "its cross-validated mean and sd are reported as NaN (the folds' own warnings say why)"]


def test_an_auc_difference_whose_interval_cannot_be_estimated_says_so():
    """On a few evaluation patients a model and a published score can order every event /
    non-event pair alike: the paired DeLong variance is 0 and the table said '0.000 (0.000 to
    0.000)' with no warning; a non-zero difference of variance 0 warned outside the run's
    warnings (a Python warning, not in the summary or card)."""
    from ca125kinetics.train import _evaluate

    y = np.array([1, 1, 1, 0, 0])
    p = np.array([0.9, 0.8, 0.7, 0.3, 0.2])
    scores = np.array([[5.0, 1.0], [4.0, 2.0], [3.0, 3.0], [2.0, 4.0], [1.0, 5.0]])   # alike; reversed
    score_p = {"ago": p, "imodel": 1 - p}
    caught = []
    table = _evaluate(y, {"logistic_main": p}, scores, score_p, "logistic_main", caught, ("ago", "imodel"))
    row = table.set_index("model").loc["logistic_main"]
    assert (row["delta_auc_vs_ago"], row["delta_auc_vs_ago_ci_low"], row["delta_auc_vs_ago_ci_high"]) == (0, 0, 0)
    assert any(w.startswith("logistic_main vs ago: the paired DeLong interval of the AUC difference has zero "
                            "width") for w in caught)
    assert any(w.startswith("logistic_main vs imodel: the DeLong test has no information") for w in caught)


def test_a_selected_model_that_ranks_no_better_than_chance_out_of_fold_is_warned_of():
    """39 patients with 4 complete resections: every family's mean CV AUC was at most 0.5
    (boosting predicted each fold's prevalence, AUC 0.500), the best of them was selected and
    exported, and no warning said that it does not discriminate."""
    sim = simulate_cohort(50, seed=4)
    clinical = sim.clinical.copy()
    known = clinical.index[clinical["complete_resection"].notna()]
    clinical.loc[known, "complete_resection"] = (np.arange(len(known)) < 4).astype(float)
    config = {**SMALL, "families": ["logistic_main", "gradient_boosting"], "interval": {"n_bootstrap": 0},
              "cv": {"n_splits": 2, "n_repeats": 1, "holdout_fraction": 0.0, "n_jobs": 1},
              "landmarks": {"cycles": [], "early_days": []}}
    result = fit_and_evaluate(sim.markers, clinical, config=config, synthetic=True)
    cv_auc = result.cv_summary.set_index("model").loc[result.selected, "auc_mean"]
    assert cv_auc <= 0.5
    assert any(w.startswith(f"the selected model ({result.selected}) has a mean cross-validated AUC of "
                            f"{cv_auc:.3f}: out of fold it ranks patients no better than chance")
               for w in result.warnings)
