"""End-to-end check of the validation report (``ca125 validate``) against an independent R reading.

The cohort (``tests/data/validation_e2e_*.csv``, made by ``validation_e2e_generator.py``) is a
synthetic cohort of 800 patients with planted problems; ``validation_e2e_predictions.csv`` is
what ``ca125 validate --predictions`` wrote for it with ``models/default``, and
``validation_e2e_reference.json`` is what ``validation_e2e_reference.R`` computes from those
files with pROC, rms, survival, glm and base R (how and with which versions:
``tests/data/validation_e2e_README.md``). The R script decides who is analysed itself, from
the tables and the list of planted problems.

This test runs :func:`validate_model` on the same files and compares every number of the
report, and every inclusion count, with R's. It also checks that the package still writes
the stored predictions file (so R's inputs are the package's current outputs).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ca125kinetics.validation.studies import DECISION_RULES, EXCLUSION_REASONS, validate_model

DATA = Path(__file__).parent / "data"
MODEL = Path(__file__).parent.parent / "models" / "default"
REF = json.loads((DATA / "validation_e2e_reference.json").read_text())

# kinetics' sort check computes inf - inf (a harmless numpy RuntimeWarning reported to its owner)
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered in subtract:RuntimeWarning")

#: Tolerances (relative and absolute) by source: pROC and base-R formulas print 15
#: significant digits; glm and coxph stop at their convergence criteria; loess is exact
#: arithmetic of the same local-linear fit.
EXACT = 1e-9
GLM = 1e-6
COX = 1e-6


def close(a, b, tol=EXACT) -> bool:
    if b is None:
        return a is None or (isinstance(a, float) and math.isnan(a))
    return math.isclose(float(a), float(b), rel_tol=tol, abs_tol=tol)


def assert_close(a, b, tol=EXACT, what=""):
    assert close(a, b, tol), f"{what}: package {a!r}, R {b!r}"


@pytest.fixture(scope="module")
def result():
    """The study as ``ca125 validate`` runs it: both tables read once by the package readers
    with the model's settings (``cli/validate.py``), then :func:`validate_model`."""
    from ca125kinetics.io import read_clinical, read_markers
    from ca125kinetics.predict import load_model

    bundle = load_model(MODEL)
    clinical = read_clinical(DATA / "validation_e2e_clinical.csv", on_error="flag", require=("patient_id",))
    markers = read_markers(DATA / "validation_e2e_markers.csv", clinical=clinical, on_error="flag",
                           uln=float(bundle.gcig_settings.uln), duplicates=bundle.gcig_settings.duplicates)
    return validate_model(markers, clinical, model=bundle)


def test_file_paths_give_the_same_study(result):
    """validate_model on the file paths (it reads them itself) analyses the same patients with
    the same numbers as the command line's reading."""
    from ca125kinetics.predict import load_model

    by_path = validate_model(DATA / "validation_e2e_markers.csv", DATA / "validation_e2e_clinical.csv",
                             model=load_model(MODEL), survival=False)
    assert by_path.metrics.to_dict() == result.metrics.to_dict()
    pd.testing.assert_frame_equal(by_path.exclusions, result.exclusions)
    pd.testing.assert_frame_equal(by_path.comparison, result.comparison)
    pd.testing.assert_frame_equal(by_path.predictions, result.predictions)


# ----------------------------------------------------------------------------- R's inputs


def test_the_stored_predictions_file_is_what_the_package_writes(result):
    """R read the predictions file; the package must still produce it (same model, same rules)."""
    from ca125kinetics.predict import load_model
    from ca125kinetics.scores import with_model_provenance

    stored = pd.read_csv(DATA / "validation_e2e_predictions.csv", dtype=str, keep_default_na=False)
    now = with_model_provenance(result.predictions, load_model(MODEL))
    # the stored file is the command's output without its `rules` column (the same JSON of
    # the model's settings on every row); the rest, in the same order
    assert set(now["rules"]) == {now["rules"].iloc[0]} and '"model":"ca125-complete-resection' in now["rules"].iloc[0]
    now = now.drop(columns="rules")
    assert list(now.columns) == list(stored.columns)
    assert now["patient_id"].tolist() == stored["patient_id"].tolist()
    for column in ("probability", "kelim_score", "imodel_points", "threshold"):
        np.testing.assert_allclose(pd.to_numeric(now[column]).to_numpy(dtype=float),
                                   pd.to_numeric(stored[column].replace("", np.nan)).to_numpy(dtype=float),
                                   rtol=1e-14, atol=0, equal_nan=True, err_msg=column)
    for column in [c for c in stored.columns if c not in ("probability", "kelim_score", "imodel_points", "threshold")]:
        text = now[column].map(lambda v: "" if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))
                               else str(v))
        assert text.tolist() == stored[column].tolist(), column


# ----------------------------------------------------------------------------- who is analysed


def test_every_inclusion_count_and_every_excluded_patient_is_rs(result):
    flow = result.flow.set_index("step")["n"]
    ref = REF["flow"]
    assert flow["patients in the clinical table"] == ref["n_clinical"]
    assert flow["patients with markers"] == ref["n_markers"]
    assert flow["patients in either table (analysed or excluded)"] == ref["n_total"]
    for reason in EXCLUSION_REASONS:
        assert flow[f"excluded: {reason}"] == ref["excluded"][reason], reason
    assert flow["analysed"] == ref["analysed"] == result.metrics.n
    assert flow["analysed with complete resection"] == ref["events"]
    assert flow["analysed with residual disease"] == ref["non_events"]
    assert flow["analysed"] + sum(flow[f"excluded: {r}"] for r in EXCLUSION_REASONS) == ref["n_total"]
    assert dict(zip(result.exclusions["patient_id"], result.exclusions["reason"])) == REF["exclusions"]
    pred = result.predictions
    assert sorted(pred.loc[pred["included"], "patient_id"]) == sorted(REF["analysed"])


def test_planted_problems_get_their_reason(result):
    planted = pd.read_csv(DATA / "validation_e2e_planted.csv", dtype=str)
    reasons = result.exclusions.set_index("patient_id")["reason"]
    detail = result.exclusions.set_index("patient_id")["detail"]
    column = {"negative_ca125": "ca125", "text_ca125": "ca125", "duplicate_day": "day", "markers_only": "patient_id",
              "ecog_out_of_range": "ecog", "stage_unknown_text": "figo_stage", "outcome_coded_2": "complete_resection",
              "pfs_negative": "pfs_months"}
    for pid, problem in zip(planted["patient_id"], planted["problem"]):
        if problem in column:
            assert reasons[pid] == "invalid_input" and f"column '{column[problem]}'" in detail[pid], (pid, problem)
        elif problem == "clinical_only":
            assert reasons[pid] == "no_markers"
        elif problem == "outcome_missing":
            assert reasons[pid] == "no_outcome" and "empty in the clinical table" in detail[pid]
        else:  # missing predictors, RECIST, PFS, arm; too few samples: scored, analysed when operated
            assert reasons.get(pid) in (None, "no_outcome"), (pid, problem)


# ----------------------------------------------------------------------------- overall performance


_GLM_FIELDS = {"citl", "citl_se", "citl_ci_low", "citl_ci_high", "calibration_slope", "calibration_slope_se",
               "calibration_slope_ci_low", "calibration_slope_ci_high"}


def test_overall_metrics_are_rs(result):
    m = result.metrics.to_dict()
    for key, value in REF["overall"].items():
        assert_close(m[key], value, GLM if key in _GLM_FIELDS else EXACT, key)
    # the report's table is the same numbers
    frame = result.to_frame().set_index("metric")
    for key in ("auc", "citl", "calibration_slope", "brier", "ici", "e50", "e90", "emax", "hosmer_lemeshow_p"):
        assert frame.loc[key, "estimate"] == m[key]


def test_rms_val_prob_agrees_where_it_computes_the_same_thing(result):
    vp = REF["val_prob"]
    assert_close(result.metrics.brier, vp["Brier"], EXACT, "Brier")
    assert_close(result.metrics.calibration_slope, vp["Slope"], GLM, "Slope")
    # val.prob's C and Dxy come from lrm.fit, which bins the risks (to 0.0002): not pROC's exact AUC
    assert abs(result.metrics.auc - vp["C"]) < 1e-4
    assert_close(2 * result.metrics.auc - 1, 2 * REF["overall"]["auc"] - 1, EXACT, "Dxy")


def test_calibration_curve_is_rs(result):
    cal = result.calibration
    smooth, grouped = cal[cal["curve"] == "smoothed"], cal[cal["curve"] == "grouped"]
    ref = REF["calibration"]
    np.testing.assert_allclose(smooth["predicted"], ref["smoothed"]["predicted"], rtol=EXACT)
    np.testing.assert_allclose(smooth["observed"], ref["smoothed"]["observed"], rtol=EXACT, atol=EXACT)
    np.testing.assert_array_equal(smooth["n"], ref["smoothed"]["n"])
    for column in ("predicted", "observed", "ci_low", "ci_high", "n", "n_events"):
        np.testing.assert_allclose(grouped[column].to_numpy(dtype=float), ref["grouped"][column], rtol=EXACT,
                                   atol=EXACT, err_msg=column)


def test_threshold_metrics_are_rs(result):
    t, ref = result.threshold, REF["threshold"]
    assert t.threshold == ref["threshold"] == result.model["threshold"]
    assert (t.tp, t.fp, t.tn, t.fn) == (ref["tp"], ref["fp"], ref["tn"], ref["fn"])
    frame = t.to_frame()
    assert frame["metric"].tolist() == ref["metric"]
    for column in ("estimate", "ci_low", "ci_high", "numerator", "denominator"):
        np.testing.assert_allclose(frame[column].to_numpy(dtype=float), ref[column], rtol=EXACT, err_msg=column)


def test_roc_points_are_pROCs(result):
    ours = sorted(zip(result.roc["fp"], result.roc["tp"]))
    assert ours == sorted(zip(REF["roc_points"]["fp"], REF["roc_points"]["tp"]))


def test_decision_curve_and_the_rules_drawn_are_rs(result):
    dc, ref = result.decision_curve, REF["decision"]
    np.testing.assert_allclose(dc["threshold"], ref["threshold"], rtol=0, atol=1e-15)
    for column in ("net_benefit", "treat_all"):
        np.testing.assert_allclose(dc[column], ref[column], rtol=EXACT, atol=1e-12, err_msg=column)
    drawn = {c.removeprefix("net_benefit_") for c in dc.columns if c.startswith("net_benefit_")}
    assert drawn == {k.removeprefix("net_benefit_") for k in ref if k.startswith("net_benefit_")}
    for rule in drawn:
        np.testing.assert_allclose(dc[f"net_benefit_{rule}"], ref[f"net_benefit_{rule}"], rtol=EXACT, atol=1e-12)
    # a rule is drawn exactly when every analysed patient has it; the report says for how many
    rules = result.decision_rules.set_index("rule")
    assert list(rules.index) == list(DECISION_RULES)
    for rule in DECISION_RULES:
        assert rules.loc[rule, "n_available"] == REF["rules_available"][rule], rule
        assert rules.loc[rule, "drawn"] == (rule in drawn) == (REF["rules_available"][rule] == result.metrics.n)


def test_the_report_states_the_decision_rules_availability_as_r_counts_it(result):
    from ca125kinetics.validation.report import render_report

    html = render_report(result)
    for rule, (_, description) in DECISION_RULES.items():
        available = REF["rules_available"][rule]
        if available < result.metrics.n:
            assert f"it is available for {available:,} of the {result.metrics.n:,} analysed patients" in html, rule


# ----------------------------------------------------------------------------- published scores


def test_published_scores_are_compared_with_the_model_on_the_same_patients_as_r(result):
    comp = result.comparison.set_index("score")
    for score, ref in REF["comparison"].items():
        row = comp.loc[score]
        assert (row["n"], row["n_events"]) == (ref["n"], ref["n_events"]), score
        for key in ("auc", "auc_ci_low", "auc_ci_high", "model_auc", "difference", "difference_ci_low",
                    "difference_ci_high", "p_value"):
            assert_close(row[key], ref[key], EXACT, f"{score} {key}")


# ----------------------------------------------------------------------------- subgroups


def test_subgroup_metrics_are_rs(result):
    sub = result.subgroups.set_index(["variable", "level"])
    keys = [(r["variable"], r["level"]) for r in REF["subgroups"]]
    assert sorted(sub.index) == sorted(keys)
    for ref in REF["subgroups"]:
        row = sub.loc[(ref["variable"], ref["level"])]
        where = f"{ref['variable']}={ref['level']}"
        assert (row["n"], row["n_events"]) == (ref["n"], ref["n_events"]), where
        for key in ("observed", "expected", "brier"):
            assert_close(row[key], ref[key], EXACT, f"{where} {key}")
        if "auc" in ref:
            for key in ("auc", "auc_ci_low", "auc_ci_high", "oe_ratio"):
                assert_close(row[key], ref[key], EXACT, f"{where} {key}")
            for key in ("citl", "calibration_slope"):
                assert_close(row[key], ref[key], GLM, f"{where} {key}")
        else:
            assert math.isnan(row["auc"]) and "counts only" in row["note"], where


def test_characteristics_table_is_rs(result):
    ours = [tuple(r) for r in result.characteristics[["characteristic", "level", "all", "outcome_1",
                                                       "outcome_0"]].itertuples(index=False)]
    ref = [(r["characteristic"], r["level"], r["all"], r["outcome_1"], r["outcome_0"]) for r in REF["characteristics"]]
    assert ours == ref


def test_case_mix_counts_are_rs(result):
    cm = result.case_mix.set_index("feature")
    for ref in REF["case_mix"]:
        row = cm.loc[ref["feature"]]
        assert (row["n_checked"], row["n_outside"]) == (ref["n_checked"], ref["n_outside"]), ref["feature"]


def test_sample_size_section_is_rs(result):
    ss, ref = result.sample_size.reset_index(drop=True), REF["sample_size"]
    assert ss["criterion"].tolist() == ref["criterion"]
    assert ss["n"].tolist() == ref["n"]
    np.testing.assert_allclose(ss["events"].to_numpy(dtype=float), ref["events"], rtol=EXACT)
    np.testing.assert_allclose(ss["se"].to_numpy(dtype=float), np.array(ref["se"], dtype=float), rtol=EXACT,
                               equal_nan=True)
    assert set(ss["available"]) == {REF["flow"]["analysed"]}


# ----------------------------------------------------------------------------- survival


def test_survival_counts_are_rs(result):
    s, ref = result.survival, REF["survival"]["counts"]
    assert s.n_patients == ref["n_patients"]
    notes = " | ".join(s.notes)
    assert f"{ref['invalid_left_out']} patient(s) with invalid input left out" in notes
    assert f"{ref['unknown_pfs_left_out']} patient(s) with unknown pfs_months/pfs_event left out" in notes
    assert f"{ref['no_kelim_score']} patient(s) without a KELIM-like score" in notes
    assert f"arm: {ref['arm_unknown']} patient(s) without a known arm left out" in notes
    assert f"predicted_group: {ref['no_probability']} patient(s) without a probability from the model left out" in notes
    for model, cox in REF["survival"]["cox"].items():
        match = re.search(rf"Cox model '{re.escape(model)}': (\d+) patient\(s\) with a missing covariate", notes)
        assert match and int(match.group(1)) == cox["left_out"], model


@pytest.mark.parametrize("analysis", ["kelim_group", "arm", "kelim_group_surgery", "predicted_group",
                                      "predicted_group_surgery"])
def test_kaplan_meier_medians_and_logrank_are_rs(result, analysis):
    s, ref = result.survival, REF["survival"][analysis]
    km = s.km[s.km["analysis"] == analysis]
    km = km[km["n_event"] + km["n_censor"] > 0]  # the package's added start row at time 0
    rkm = pd.DataFrame(ref["km"])
    assert km["group"].tolist() == rkm["group"].tolist()
    for column in ("time", "n_risk", "n_event", "n_censor", "survival", "std_err", "ci_low", "ci_high"):
        np.testing.assert_allclose(km[column].to_numpy(dtype=float), rkm[column].to_numpy(dtype=float),
                                   rtol=1e-10, atol=1e-12, equal_nan=True, err_msg=f"{analysis} {column}")
    med = s.medians[s.medians["analysis"] == analysis].reset_index(drop=True)
    rmed = pd.DataFrame(ref["medians"])
    assert med["group"].tolist() == rmed["group"].tolist()
    for column in ("n", "n_events", "median", "ci_low", "ci_high"):
        np.testing.assert_allclose(med[column].to_numpy(dtype=float), rmed[column].to_numpy(dtype=float),
                                   rtol=1e-12, equal_nan=True, err_msg=f"{analysis} {column}")
    lr = s.logrank.set_index("analysis").loc[analysis]
    assert lr["df"] == ref["logrank"]["df"]
    assert_close(lr["chi2"], ref["logrank"]["chi2"], 1e-10, f"{analysis} chi2")
    assert_close(lr["p_value"], ref["logrank"]["p_value"], 1e-8, f"{analysis} p")


def test_cox_models_are_rs(result):
    cox = result.survival.cox
    assert sorted(set(cox["model"])) == sorted(REF["survival"]["cox"])
    for model, ref in REF["survival"]["cox"].items():
        part = cox[cox["model"] == model].reset_index(drop=True)
        assert part["term"].tolist() == ref["term"]
        assert set(part["n"]) == {ref["n"]} and set(part["n_events"]) == {ref["n_events"]}
        for column in ("coef", "se", "hr", "hr_ci_low", "hr_ci_high", "z"):
            np.testing.assert_allclose(part[column].to_numpy(dtype=float), ref[column], rtol=COX,
                                       err_msg=f"{model} {column}")
        np.testing.assert_allclose(part["p_value"].to_numpy(dtype=float), ref["p_value"], rtol=1e-4,
                                   err_msg=f"{model} p")
