"""Tests of prediction tasks as configuration (ca125kinetics.task) and of the rectal pathway
of docs/rectal.md (screen, CEA kinetics, downstaging classifier, non-inferiority analysis)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ca125kinetics.errors import InvalidInputError
from ca125kinetics.task import DEFAULT_TASK, TaskSpec, bundle_task
from ca125kinetics.train import TrainingConfig, load_config

ROOT = Path(__file__).resolve().parents[1]
RECTAL = ROOT / "data" / "synthetic" / "rectal"


def test_default_task_is_implicit_and_unchanged():
    config = load_config(ROOT / "training" / "default.toml")
    assert config.task == DEFAULT_TASK and DEFAULT_TASK.is_default
    assert "task" not in config.to_dict()                  # the parameters (and versions) of before
    assert not any(k.startswith("task.") for k in config.to_params())
    assert DEFAULT_TASK.comparators == ("ago", "imodel", "mskcc") and DEFAULT_TASK.marker == "ca125"


def test_rectal_toml_is_a_task():
    config = TrainingConfig.from_toml(ROOT / "training" / "rectal.toml")
    task = config.task
    assert not task.is_default and task.outcome == "downstaged" and task.marker == "cea"
    assert task.comparators == ("post_pre_ratio", "normalisation", "exponential_clearance")
    assert not {"yct_stage", "ycn_stage", "ypt_stage", "ypn_stage", "downstaged"} & set(task.predictors)
    assert config.to_dict()["task"]["outcome"] == "downstaged"
    assert config.to_params()["task.marker"] == "cea"
    assert TrainingConfig.from_dict(config.to_dict(), source="x").task == task


@pytest.mark.parametrize("change, message", [
    ({"comparators": ["ago", "post_pre_ratio"]}, r"\['ago'\] are published ovarian scores: they need CA-125"),
    ({"comparators": ["guess"]}, "unknown comparator"),
    ({"numeric": [], "categorical": []}, "declare the clinical predictors"),
    ({"numeric": ["age", "downstaged"]}, "cannot also be a predictor"),
    ({"categorical": ["sex", "yct_stage", "ycn_stage"]},
     r"'yct_stage' at restaging, 'ycn_stage' at restaging are not known before the outcome 'downstaged'"),
    ({"categorical": ["ypt_stage"]}, "'ypt_stage' at the operation are not known before the outcome"),
    ({"numeric": ["dfs_months"]}, "'dfs_months' during follow-up are not known"),
    ({"categorical": ["arm"]}, "'arm' at randomisation are not known before the outcome 'downstaged' "
                               "\\(recorded at restaging\\)"),
    ({"outcome": "complete_resection", "marker": "ca125", "numeric": ["pfs_months"]},
     "'pfs_months' during follow-up are not known before the outcome 'complete_resection' "
     "\\(recorded at the operation\\)"),
    ({"categorical": ["age"]}, "both numeric and categorical"),
    ({"marker": "psa"}, "unknown marker"),
    ({"numeric": "age"}, "must be a list of column names"),
])
def test_task_errors_are_typed_and_say_what_to_do(change, message):
    base = dict(name="downstaging", outcome="downstaged", marker="cea", numeric=["age"],
                categorical=["sex"], comparators=["post_pre_ratio"], description="downstaging")
    with pytest.raises(InvalidInputError, match=message):
        TaskSpec.from_dict({**base, **change})
    with pytest.raises(InvalidInputError, match="unknown key"):
        TaskSpec.from_dict({**base, "outcom": "x"})


def test_predictors_recorded_before_the_outcome_are_allowed():
    # restaging before the operation, pathology before follow-up; a column not listed is baseline
    TaskSpec(name="r0", outcome="complete_resection", numeric=["age"], categorical=["recist", "ycn_stage"])
    TaskSpec(name="dfs", outcome="dfs_event", marker="cea", categorical=["ypt_stage", "arm", "downstaged"],
             comparators=["post_pre_ratio"])
    TaskSpec(name="own", outcome="my_outcome", marker="cea", categorical=["ypt_stage"],
             comparators=["post_pre_ratio"])   # an outcome of the user's own: its time is not known


def test_outcome_values_other_than_0_1_are_refused():
    from ca125kinetics.train import _outcome_values

    clin = pd.DataFrame({"y": ["1", "0", None, "yes"]}, index=["a", "b", "c", "d"])
    with pytest.raises(InvalidInputError, match="outcome 'y' of patient 'd' is 'yes'; give 1, 0"):
        _outcome_values(clin, pd.Series(["a", "b", "c", "d"]), "y")
    values = _outcome_values(clin.iloc[:3], pd.Series(["a", "b", "c"]), "y")
    np.testing.assert_array_equal(values, [1.0, 0.0, np.nan])
    with pytest.raises(InvalidInputError, match="is 2; give 1, 0"):
        _outcome_values(pd.DataFrame({"y": [1, 2]}, index=["a", "b"]), pd.Series(["a", "b"]), "y")


@pytest.fixture(scope="module")
def subset():
    """300 patients of the committed rectal cohort (the README block's input)."""
    markers = pd.read_csv(RECTAL / "markers.csv", dtype=str)
    clinical = pd.read_csv(RECTAL / "clinical.csv", dtype=str)
    ids = clinical["patient_id"].iloc[:300]
    return markers[markers["patient_id"].isin(ids)], clinical[clinical["patient_id"].isin(ids)]


def test_rectal_pathway_end_to_end(subset, tmp_path_factory, capsys):
    """The four steps of docs/rectal.md through their Python equivalents, on a subset."""
    from ca125kinetics.design import noninferiority_analysis
    from ca125kinetics.eligibility import screen
    from ca125kinetics.io import read_markers
    from ca125kinetics.kinetics import fit_kinetics
    from ca125kinetics.predict import TASK_SCORE_COLUMNS, score_frame
    from ca125kinetics.response import response_features
    from ca125kinetics.train import fit_and_evaluate

    markers, clinical = subset
    # 1. ca125 screen --trial reset
    screened = screen(clinical, trial="reset").to_frame()
    eligible = set(screened.loc[screened["status"] == "eligible", "patient_id"])
    randomised = set(clinical.loc[clinical["arm"].notna(), "patient_id"])
    assert eligible == randomised and len(eligible) > 50   # the generator randomises exactly the eligible
    # 2. ca125 kinetics --marker cea
    cea = read_markers(markers, marker="cea")
    kinetics = fit_kinetics(cea, marker="cea")
    response = response_features(cea, marker="cea")
    assert (kinetics["status"] == "ok").sum() > 100 and response["post_pre_ratio"].notna().all()
    # 3. ca125 train --config training/rectal.toml (small settings: seconds, not minutes)
    config = dataclasses.replace(TrainingConfig.from_toml(ROOT / "training" / "rectal.toml"),
                                 families=("logistic_main",), n_splits=3, n_repeats=1, n_jobs=1,
                                 interval_n_bootstrap=0)
    result = fit_and_evaluate(markers, clinical, config=config, synthetic=True)
    ev = result.evaluation.set_index("model")
    assert set(ev.index) == {"logistic_main", "post_pre_ratio", "normalisation", "exponential_clearance"}
    assert ev.loc["normalisation", "n"] < ev.loc["post_pre_ratio", "n"] == result.n_holdout  # NA below ULN
    assert 0.55 < ev.loc["logistic_main", "auc"] <= 1.0
    assert {"delta_auc_vs_post_pre_ratio", "delta_auc_vs_exponential_clearance"} <= set(ev.columns)
    assert result.n_events == int(clinical["downstaged"].astype(int).sum())
    assert bundle_task(result.bundle) == config.task and result.bundle.compiled() is None
    from ca125kinetics.train import model_card  # the card counts this task's outcome, not resections

    card = model_card(result)
    assert (f"({result.n_events} with downstaged = 1, {result.n_used - result.n_events} with downstaged = 0)"
            in card) and "complete resections" not in card.split("## Training data")[1].split("##")[0]
    scored = score_frame(result.bundle, markers, clinical)
    assert list(scored.columns) == list(TASK_SCORE_COLUMNS) and len(scored) == 300
    assert scored["probability"].between(0, 1).all() and (scored["marker"] == "cea").all()
    # the cohort's few patients without an MMR result get no decision (rule 5), the others one
    held = scored["status"] == "insufficient"
    assert (scored.loc[~held, "status"] == "ok").all() and 0 < held.sum() < 15
    assert scored.loc[held, "reason"].str.contains("mmr_").all() and scored.loc[held, "decision"].isna().all()
    # rule 5 for a task model: imputed inputs withhold the decision (it decided for a patient
    # with no clinical factor and one pretreatment CEA), unless allow_imputed; odd values are named
    first, second = sorted(clinical["patient_id"])[:2]
    only_pre = markers[(markers["patient_id"] != first) | (pd.to_numeric(markers["day"]) <= 0)]
    odd = clinical.copy()
    odd.loc[odd["patient_id"] == first, list(config.task.predictors)] = None
    odd.loc[odd["patient_id"] == second, ["age", "tumour_site"]] = ["12", "ovary"]
    withheld = score_frame(result.bundle, only_pre, odd).set_index("patient_id")
    assert withheld.loc[first, "status"] == "insufficient" and pd.isna(withheld.loc[first, "decision"])
    assert withheld.loc[first, "reason"].startswith("insufficient information: give age, ")
    assert "the CEA decline (a pretreatment CEA and one after the first dose" in withheld.loc[first, "reason"]
    assert np.isfinite(withheld.loc[first, "probability"])
    allowed = score_frame(result.bundle, only_pre, odd, allow_imputed=True).set_index("patient_id")
    assert allowed.loc[first, "status"] == "ok" and allowed.loc[first, "reason"].startswith("scored with age, ")
    low, high = result.bundle.feature_ranges["age"]
    assert withheld.loc[second, "warnings"] == (f"age 12 is outside the training range {low:.4g}..{high:.4g} "
                                                "(extrapolation: interpret with care); tumour_site 'ovary' is not a "
                                                "level the model was trained on (none of its training patients had "
                                                "it): read as unknown")
    # a level never learned is no level at all: counted as unknown, the decision withheld
    assert withheld.loc[second, "status"] == "insufficient" and "tumour_site" in withheld.loc[second, "reason"]
    assert allowed.loc[second, "status"] == "ok"
    assert (scored["warnings"] == "").mean() > 0.9
    # samples without a ULN beside samples with one: the reader's note is the patient's warning
    # (it was a Python warning only, for the whole table)
    from ca125kinetics.errors import DataQualityWarning

    partial = markers.copy()
    partial.loc[partial.index[partial["patient_id"] == second][1:3], "uln"] = None
    with pytest.warns(DataQualityWarning, match="uln is empty in 2 sample row"):
        noted = score_frame(result.bundle, partial, clinical).set_index("patient_id")["warnings"]
    assert noted[second].startswith("no ULN given for 2 sample(s) (day ") and "default ULN 5 ng/mL" in noted[second]
    assert "no ULN given" not in noted.drop(second).str.cat()
    # a rectal predictor on the markers rows and in the clinical table is refused (it was taken
    # from the table, the rows' value dropped); an ovarian factor on them is none of this
    # model's and is left alone (it was refused when the rule named the ovarian factors)
    one = markers[markers["patient_id"] == second]
    with pytest.raises(InvalidInputError, match=r"clinical factor\(s\) \['ct_stage'\] on the markers"):
        score_frame(result.bundle, one.assign(ct_stage="T4"), clinical)
    path = tmp_path_factory.mktemp("rows") / "m.csv"
    one.assign(ct_stage="T4").to_csv(path, index=False)
    with pytest.raises(InvalidInputError, match=r"\['ct_stage'\] on the markers"):
        score_frame(result.bundle, str(path), clinical)
    one.assign(figo_stage="III").to_csv(path, index=False)
    assert score_frame(result.bundle, str(path), clinical).set_index("patient_id").loc[second, "status"] != "invalid_input"
    # a patient with a negative CEA: its reason says 'invalid input' once (it said it twice)
    bad = markers.copy()
    bad.loc[bad.index[0], "cea"] = "-1"
    reason = score_frame(result.bundle, bad, clinical).set_index("patient_id").loc[bad["patient_id"].iloc[0], "reason"]
    assert reason.startswith("invalid input: markers table, row ") and reason.count("invalid input") == 1
    # ca125 score with the saved model: the same score_frame
    from ca125kinetics.bundle import save_bundle
    from ca125kinetics.cli import main

    tmp = tmp_path_factory.mktemp("rectal")
    save_bundle(result.bundle, tmp / "model")
    markers.to_csv(tmp / "m.csv", index=False)
    clinical.to_csv(tmp / "c.csv", index=False)
    assert main(["score", "--model", str(tmp / "model"), "--markers", str(tmp / "m.csv"), "--clinical",
                 str(tmp / "c.csv"), "--format", "csv", "--out", str(tmp / "s.csv")]) == 0
    cli = pd.read_csv(tmp / "s.csv", dtype={"patient_id": str})
    np.testing.assert_allclose(cli["probability"], scored["probability"], rtol=1e-9)
    # Parquet is a table (it was the text view written under a .parquet name), and every format
    # carries the model, trained_on_synthetic and the rules applied, as the default task's do
    assert main(["score", "--model", str(tmp / "model"), "--markers", str(tmp / "m.csv"), "--clinical",
                 str(tmp / "c.csv"), "--out", str(tmp / "s.parquet")]) == 0
    table = pd.read_parquet(tmp / "s.parquet")
    np.testing.assert_allclose(table["probability"], scored["probability"], rtol=1e-9)
    for frame in (cli, table):
        assert set(frame["model_version"]) == {result.bundle.version} and frame["trained_on_synthetic"].all()
        assert {json.loads(r)["model"] for r in frame["rules"]} == {f"{result.bundle.name} {result.bundle.version}"}
    # the text view says it is research software from a model trained on synthetic data (it
    # had only the table and the rules)
    assert main(["score", "--model", str(tmp / "model"), "--markers", str(tmp / "m.csv"), "--clinical",
                 str(tmp / "c.csv"), "--out", str(tmp / "s.txt")]) == 0
    assert (tmp / "s.txt").read_text().rstrip().endswith(
        "Research software, not a medical device. Model trained on synthetic data.")
    assert main(["score", "--model", str(tmp / "model"), "--markers", str(tmp / "m.csv"), "--format", "fhir"]) == 2
    # FHIR drug and event codes are not read for this task: refused (they were read and ignored)
    capsys.readouterr()
    assert main(["score", "--model", str(tmp / "model"), "--markers", str(tmp / "m.csv"), "--clinical",
                 str(tmp / "c.csv"), "--drug-code", "597195=carboplatin", "--out", str(tmp / "codes.csv")]) == 2
    assert "--drug-code: the markers of the model" in capsys.readouterr().err and not (tmp / "codes.csv").exists()
    with pytest.raises(InvalidInputError, match="missing required column"):  # the ovarian task needs its fields
        fit_and_evaluate(markers, clinical, config=dataclasses.replace(config, task=DEFAULT_TASK))
    # 4. ca125 design ni-analysis --randomised-only
    trial = clinical[clinical["arm"].notna()]
    ni = noninferiority_analysis(trial, "dfs_months", "dfs_event", "arm", experimental="reduced",
                                 control="conventional", margin_hr=1.5, margin_diff=0.08, at=36)
    assert ni.n_experimental + ni.n_control == len(trial) == len(eligible)
    assert ni.noninferior_hr in (True, False) and np.isfinite(ni.hr_ci_high)


def test_ni_analysis_randomised_only_option(tmp_path, capsys):
    from ca125kinetics.cli import main

    args = ["design", "ni-analysis", "--data", str(RECTAL / "clinical.csv"), "--time", "dfs_months",
            "--event", "dfs_event", "--arm", "arm", "--experimental", "reduced", "--control", "conventional",
            "--margin-hr", "1.5", "--at", "36"]
    assert main(args) == 2
    # the refusal says how to go on (it did not name the option, which docs/design.md did not list)
    err = capsys.readouterr().err
    assert "the arm is missing for some patients (665 of 1000)" in err and "--randomised-only" in err
    assert main(args + ["--randomised-only"]) == 0
    out = capsys.readouterr()
    assert "665 patient(s) with an empty 'arm' left out, 335 analysed" in out.err
    assert "160 vs 175 patients" in out.out


def test_a_downstaged_label_the_restaging_contradicts_is_excluded_not_learned():
    """``downstaged`` is defined by the restaging (ycT<=3 N0 M0). A 1 recorded with ycN2, or a
    0 with ycT2 N0 M0, was read and learned as given; such a patient is now excluded as
    contradictory (neither can be trusted), and a stage that cannot tell checks nothing."""
    from ca125kinetics.io import read_clinical
    from ca125kinetics.train import _exclusions

    task = TrainingConfig.from_toml(ROOT / "training" / "rectal.toml").task
    clinical = read_clinical(pd.DataFrame({
        "patient_id": ["ok1", "ok0", "n2", "t2", "t4", "t_unknown"],
        "yct_stage": ["T3", "T4", "T3", "T2", "T4a", None],
        "ycn_stage": ["N0", "N0", "N2", "N0", None, "N0"],
        "ycm_stage": ["M0", "M0", "M0", "M0", None, "M0"],
        "downstaged": [1, 0, 1, 0, 1, 1]}), require=("patient_id",))
    frame = pd.DataFrame({"patient_id": clinical["patient_id"], "problem": None})
    used, outcome, table = _exclusions(frame, clinical, task)
    assert dict(zip(frame["patient_id"], used)) == {"ok1": True, "ok0": True, "n2": False, "t2": False, "t4": False,
                                                    "t_unknown": True}
    assert table.to_dict("records") == [{"reason": "contradictory: downstaged disagrees with the restaging recorded "
                                                   "(downstaged means ycT<=3 N0 M0)", "n": 3}]


def test_the_training_gate_of_downstaged_is_resets_inclusion_6_as_the_screen_reads_it():
    """The ``downstaged`` gate and RESET's screen share one definition (the shipped I6): on
    every combination of restaging stages, known or not, they give the same answer."""
    import itertools

    from ca125kinetics.eligibility import screen
    from ca125kinetics.io import read_clinical
    from ca125kinetics.train import _restaging_gate

    combos = list(itertools.product(["T0", "Tis", "T1", "T2", "T3", "T4a", "T4b", None],
                                    ["N0", "N1", "N2b", None], ["M0", "M1", None]))
    clinical = read_clinical(pd.DataFrame({
        "patient_id": [f"p{i}" for i in range(len(combos))],
        "yct_stage": [c[0] for c in combos], "ycn_stage": [c[1] for c in combos],
        "ycm_stage": [c[2] for c in combos]}), require=("patient_id",))
    gate = _restaging_gate(clinical.set_index("patient_id", drop=False), clinical["patient_id"])
    rows = screen(clinical, trial="reset").criteria_frame()
    i6 = rows[rows["criterion"] == "I6"].set_index("patient_id")["outcome"].reindex(clinical["patient_id"])
    expected = i6.map({"met": 1.0, "not_met": 0.0}).to_numpy(dtype=float, na_value=np.nan)
    assert np.array_equal(gate, expected, equal_nan=True)
    assert {1.0, 0.0} <= set(gate[~np.isnan(gate)]) and np.isnan(gate).any()


@pytest.fixture(scope="module")
def small_rectal_model(subset):
    """A rectal downstaging model (CEA) trained on ``subset`` with small settings (seconds)."""
    from ca125kinetics.train import fit_and_evaluate

    markers, clinical = subset
    config = dataclasses.replace(TrainingConfig.from_toml(ROOT / "training" / "rectal.toml"),
                                 families=("logistic_main",), n_splits=3, n_repeats=1, n_jobs=1,
                                 interval_n_bootstrap=0)
    return fit_and_evaluate(markers, clinical, config=config, synthetic=True).bundle


def test_ca125_score_of_a_task_model_applies_allow_imputed_and_the_format_options(subset, small_rectal_model, tmp_path):
    """``ca125 score`` with a model of another task read ``--allow-imputed``, ``--rename``,
    ``--sep``, ``--decimal``, ``--date-format`` and ``--thousands`` and ignored them (the
    reason even told the user to pass ``--allow-imputed``); ``score_frame(columns=...)``
    ignored its renames for such a model."""
    from ca125kinetics.bundle import save_bundle
    from ca125kinetics.cli import main
    from ca125kinetics.predict import score_frame

    markers, clinical = subset
    bundle = small_rectal_model
    save_bundle(bundle, tmp_path / "model")
    first = sorted(clinical["patient_id"])[0]
    ids = sorted(clinical["patient_id"])[:3]
    few = markers[markers["patient_id"].isin(ids)]
    clin = clinical[clinical["patient_id"].isin(ids)].copy()
    clin.loc[clin["patient_id"] == first, "mmr_proteins_lost"] = None
    few.to_csv(tmp_path / "m.csv", sep=";", index=False)
    clin.rename(columns={"ecog": "ECOG_score"}).to_csv(tmp_path / "c.csv", sep=";", index=False)
    args = ["score", "--model", str(tmp_path / "model"), "--markers", str(tmp_path / "m.csv"), "--clinical",
            str(tmp_path / "c.csv"), "--sep", ";", "--rename", "ECOG_score=ecog", "--format", "csv"]
    assert main(args + ["--out", str(tmp_path / "held.csv")]) == 0
    held = pd.read_csv(tmp_path / "held.csv", dtype={"patient_id": str}).set_index("patient_id")
    assert held.loc[first, "status"] == "insufficient"
    assert held.loc[first, "reason"].startswith("insufficient information: give mmr_proteins_lost;")
    assert (held.drop(index=first)["status"] == "ok").all()          # ecog read through --rename
    assert main(args + ["--allow-imputed", "--out", str(tmp_path / "allowed.csv")]) == 0
    allowed = pd.read_csv(tmp_path / "allowed.csv", dtype={"patient_id": str}).set_index("patient_id")
    assert allowed.loc[first, "status"] == "ok"
    assert allowed.loc[first, "reason"] == "scored with mmr_proteins_lost imputed (allowed by the caller)"
    # the Python API: columns= renames for a task model too
    renamed = score_frame(bundle, few, clin.rename(columns={"ecog": "ECOG_score"}),
                          columns={"ECOG_score": "ecog"}).set_index("patient_id")
    np.testing.assert_allclose(renamed["probability"], held["probability"], rtol=1e-9)


def test_a_task_score_records_the_uln_each_patient_was_read_by(subset, small_rectal_model, tmp_path):
    """The CEA ULN is a parameter recorded with every result: a patient whose samples carry a
    ULN of 3 ng/mL was scored on features read against 3 (her probability moves with it), but
    the score table said nothing of it, and ``ca125 score``'s ``rules`` named only the model's
    fallback ULN (5 ng/mL)."""
    from ca125kinetics.bundle import save_bundle
    from ca125kinetics.cli import main
    from ca125kinetics.predict import TASK_SCORE_COLUMNS, score_frame

    markers, clinical = subset
    bundle = small_rectal_model
    ids = sorted(clinical["patient_id"])[:3]
    few = markers[markers["patient_id"].isin(ids)].copy()
    clin = clinical[clinical["patient_id"].isin(ids)]
    first, second, third = ids
    few.loc[few["patient_id"] == first, "uln"] = "3"            # another laboratory's assay
    rows = few.index[few["patient_id"] == second]
    few.loc[rows[-1], "uln"] = "6"                              # the last sample on another assay
    few = few[(few["patient_id"] != third) | (pd.to_numeric(few["day"]) <= 0)]   # no post sample yet
    assert {"uln", "post_uln"} <= set(TASK_SCORE_COLUMNS)
    scored = score_frame(bundle, few, clin).set_index("patient_id")
    assert scored.loc[first, "uln"] == 3 and scored.loc[first, "post_uln"] == 3
    assert scored.loc[second, "uln"] == 5 and scored.loc[second, "post_uln"] == 6
    assert scored.loc[third, "uln"] == 5 and np.isnan(scored.loc[third, "post_uln"])
    few.to_csv(tmp_path / "m.csv", index=False)
    clin.to_csv(tmp_path / "c.csv", index=False)
    save_bundle(bundle, tmp_path / "model")
    assert main(["score", "--model", str(tmp_path / "model"), "--markers", str(tmp_path / "m.csv"),
                 "--clinical", str(tmp_path / "c.csv"), "--out", str(tmp_path / "s.csv")]) == 0
    cli = pd.read_csv(tmp_path / "s.csv", dtype={"patient_id": str}).set_index("patient_id")
    assert cli.loc[first, "uln"] == 3 and cli.loc[second, "post_uln"] == 6


def test_the_web_app_refuses_a_model_of_another_task(small_rectal_model):
    """``ca125 serve`` (``create_app``) loaded a rectal downstaging model on CEA and answered
    every request with a 422 about the model's missing columns, having read the request's
    ``ca125`` samples for a CEA model; the page and the REST API serve the complete-resection
    model (CA-125, GCIG rules): such a model is refused when the app is built, saying what
    scores it."""
    from ca125kinetics.web.app import create_app

    bundle = small_rectal_model
    with pytest.raises(InvalidInputError, match=r"predicts downstaging .* from CEA.*ca125 score --model"):
        create_app(bundle)


def test_validate_refuses_a_model_of_another_task(subset, small_rectal_model, tmp_path, capsys):
    """``ca125 validate`` with a rectal downstaging model asked for a ``complete_resection``
    column, and once one was renamed in, for a ``ca125`` column in the CEA table: it validates
    complete-resection models (CA-125, GCIG rules). The model of another task is refused first,
    saying what it predicts and where its evaluation is; ``validate_model`` likewise."""
    from ca125kinetics.bundle import save_bundle
    from ca125kinetics.cli import main
    from ca125kinetics.validation.studies import validate_model

    markers, clinical = subset
    bundle = small_rectal_model
    save_bundle(bundle, tmp_path / "model")
    markers.to_csv(tmp_path / "m.csv", index=False)
    clinical.to_csv(tmp_path / "c.csv", index=False)
    assert main(["validate", "--model", str(tmp_path / "model"), "--markers", str(tmp_path / "m.csv"), "--clinical",
                 str(tmp_path / "c.csv"), "--out", str(tmp_path / "v.html"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "predicts downstaging" in err and "from CEA" in err and "complete_resection" not in err, err
    assert not (tmp_path / "v.html").exists()
    with pytest.raises(InvalidInputError, match=r"predicts downstaging .* from CEA"):
        validate_model(markers, clinical, model=bundle)


def test_predict_of_one_patient_refuses_a_model_of_another_task(small_rectal_model):
    """``predict`` (and ``predict_many``) build a Prediction of the complete-resection task (GCIG
    rules, trajectory); with a rectal downstaging model they refused a CEA series by telling the
    user to use "a model trained for it", the very model given, or failed on the model's
    missing input columns. They now say the model's task and what scores it."""
    from ca125kinetics.predict import predict, predict_many

    bundle = small_rectal_model
    for call in (lambda: predict({"day": [-5, 14, 28], "cea": [12.0, 8.0, 4.0]}, {}, model=bundle),
                 lambda: predict([(-5, 12.0), (14, 8.0), (28, 4.0)], {}, model=bundle),
                 lambda: predict_many([[(-5, 12.0), (14, 8.0), (28, 4.0)]], model=bundle)):
        with pytest.raises(InvalidInputError, match=r"predicts downstaging .* from CEA.*score_frame"):
            call()
