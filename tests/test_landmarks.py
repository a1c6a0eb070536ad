"""Tests of landmarks.py (and its hooks in train.py, bundle.py, predict.py and the web API).

One small simulated cohort is trained once (module fixture: ``train`` with MLflow on a
temporary SQLite store and an export), with one family, three CV folds and a small interval
ensemble, so that the landmark models are fitted, evaluated, logged and shipped as in a real
run.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ca125kinetics.errors import InvalidInputError
from ca125kinetics.landmarks import (LANDMARK_COLUMNS, Landmark, LandmarkModel, LandmarkSettings,
                                     build_trajectory, clinical_at, landmark_mask, truncate_markers)
from ca125kinetics.settings import KineticsSettings
from ca125kinetics.synth import simulate_cohort
from ca125kinetics.train import TrainingConfig, format_summary, load_config, train

pytestmark = [
    # mlflow internals (see tests/test_train.py)
    pytest.mark.filterwarnings("ignore:.*type hint is inferred as AnyType:UserWarning"),
    pytest.mark.filterwarnings("ignore:Operation with range is deprecated:pandas.errors.Pandas4Warning"),
    pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated:DeprecationWarning"),
]

TINY = {
    "seed": 7, "families": ["logistic_main"],
    "cv": {"n_splits": 3, "n_repeats": 1, "holdout_fraction": 0.25, "n_jobs": 1},
    "interval": {"n_bootstrap": 5},
}
SERIES = {"day": [-7, 21, 43, 62, 81], "ca125": [800.0, 300.0, 120.0, 60.0, 40.0]}
CLINICAL = {"age": 60, "ecog": 0, "ascites_ml": 0, "pfi_months": 20, "figo_stage": "III",
            "primary_residual_disease": 0, "recurrence_pattern": "single", "recist": "PR"}


# ----------------------------------------------------------------------------- settings


def test_default_landmarks_and_their_day_rule():
    marks = LandmarkSettings().landmarks(KineticsSettings())
    assert [(m.key, m.day, m.first_day, m.last_day, m.cycle, m.uses_recist) for m in marks] == [
        ("day35", 35, 35, 35, None, False),
        ("cycle2", 42, 35, 49, 2, False),
        ("cycle3", 63, 56, 70, 3, True),
        ("cycle4", 84, 77, 91, 4, True),
    ]
    assert marks[1].label == "after cycle 2 (day 42)"
    # the cycle length and window are the kinetics settings'
    other = LandmarkSettings(cycles=(2,), early_days=()).landmarks(KineticsSettings(cycle_days=28, cycle_window_days=3))
    assert [(m.day, m.first_day, m.last_day) for m in other] == [(56, 53, 59)]
    assert LandmarkSettings(cycles=(), early_days=()).landmarks() == ()


@pytest.mark.parametrize("settings, kinetics, message", [
    (dict(cycles=(2, 5)), {}, "after the kinetics window"),
    (dict(cycles=(2,), early_days=(49,)), {}, "end on the same day"),
    (dict(cycles=(0,)), {}, "distinct positive integers"),
    (dict(early_days=(35, 35)), {}, "distinct positive integers"),
    (dict(early_days=(3,), early_window_days=5), {}, "after the first dose"),
    (dict(cycles="2"), {}, "list of positive integers"),
    (dict(recist_from_cycle=-1), {}, "recist_from_cycle"),
])
def test_bad_landmark_settings_are_refused(settings, kinetics, message):
    with pytest.raises(InvalidInputError, match=message):
        LandmarkSettings(**settings).landmarks(KineticsSettings(**kinetics))


def test_landmarks_in_the_training_config():
    config = load_config({"landmarks": {"cycles": [3], "early_days": [], "recist_from_cycle": 4}})
    assert config.landmarks == LandmarkSettings(cycles=(3,), early_days=(), recist_from_cycle=4)
    assert config.to_dict()["landmarks"] == {"cycles": [3], "early_days": [], "early_window_days": 0,
                                             "recist_from_cycle": 4}
    assert TrainingConfig.from_dict(config.to_dict()).landmarks == config.landmarks
    assert json.loads(config.to_params()["landmarks.cycles"]) == [3]
    with pytest.raises(InvalidInputError, match=r"\[landmarks\]: unknown LandmarkSettings field"):
        load_config({"landmarks": {"cycle": [2]}})
    with pytest.raises(InvalidInputError, match=r"\[landmarks\]: landmark cycle5 ends on day 112"):
        load_config({"landmarks": {"cycles": [5]}})


# ----------------------------------------------------------------------------- truncation


def test_truncate_markers_keeps_samples_and_events_up_to_the_last_day():
    markers = pd.DataFrame({"patient_id": ["a"] * 6, "day": [-7, 21, 35, 36, 49, 50],
                            "ca125": [500.0, 200.0, 150.0, np.nan, 90.0, 80.0],
                            "event": [None, None, None, "paracentesis", None, None]})
    lm = LandmarkSettings().landmarks()[1]            # after cycle 2: up to day 49
    assert truncate_markers(markers, lm)["day"].tolist() == [-7, 21, 35, 36, 49]
    assert truncate_markers(markers, 35)["day"].tolist() == [-7, 21, 35]
    # a row without a day (an invalid patient) is kept, so its problem is not cut away
    assert landmark_mask([np.nan, 10, 60], 49).tolist() == [True, True, False]
    with pytest.raises(InvalidInputError, match="integer day"):
        truncate_markers(markers, 35.5)


def test_truncate_markers_refuses_a_column_named_twice():
    """pandas' TypeError had leaked out (the 'day' of a frame naming it twice is a frame)."""
    markers = pd.DataFrame([["a", -7, 500.0, -7]], columns=["patient_id", "day", "ca125", "day"])
    with pytest.raises(InvalidInputError, match=r"names column\(s\) \['day'\] more than once"):
        truncate_markers(markers, 35)


def test_truncate_markers_refuses_a_day_column_of_dates_rather_than_cutting_every_row():
    """Read as numbers (nanoseconds since 1970), dates were all past the landmark: every row
    was cut away without a word (and a timedelta day kept only the pretreatment rows)."""
    markers = pd.DataFrame({"patient_id": ["a"] * 4, "day": [-7, 21, 42, 63], "ca125": [500.0, 200.0, 90.0, 40.0]})
    dated = markers.assign(day=pd.Timestamp("2024-03-01") + pd.to_timedelta(markers["day"], unit="D"))
    for frame in (dated, dated.assign(day=dated["day"].dt.tz_localize("UTC")),
                  markers.assign(day=pd.to_timedelta(markers["day"], unit="D")), markers.assign(day=markers["day"] > 0)):
        with pytest.raises(InvalidInputError, match=r"column 'day' holds .* values, not days from the first dose"):
            truncate_markers(frame, 42)


def test_clinical_at_blanks_recist_before_it_is_assessed():
    early, late = LandmarkSettings().landmarks()[0], LandmarkSettings().landmarks()[2]
    assert clinical_at(CLINICAL, early)["recist"] is None and CLINICAL["recist"] == "PR"
    assert clinical_at(CLINICAL, late) is CLINICAL
    frame = pd.DataFrame({"patient_id": ["a"], "recist": ["SD"]})
    assert clinical_at(frame, early)["recist"].isna().all() and frame["recist"].tolist() == ["SD"]


@settings(max_examples=60, deadline=None)
@given(days=st.lists(st.integers(-14, 120), min_size=1, max_size=12, unique=True),
       later=st.lists(st.integers(50, 200), max_size=5, unique=True), last=st.integers(1, 100))
def test_truncation_ignores_everything_after_the_landmark(days, later, last):
    base = pd.DataFrame({"patient_id": "p", "day": days, "ca125": np.linspace(100, 10, len(days))})
    extra = pd.DataFrame({"patient_id": ["p"] * len(later),
                          "day": np.array([d + last for d in later], dtype=np.int64), "ca125": 5.0}).astype(base.dtypes)
    altered = base.assign(ca125=np.where(base["day"] > last, 999.0, base["ca125"]))
    cut = truncate_markers(base, last)
    assert (cut["day"] <= last).all() and len(cut) == int((base["day"] <= last).sum())
    for other in (pd.concat([base, extra], ignore_index=True), altered):
        pd.testing.assert_frame_equal(truncate_markers(other, last).reset_index(drop=True),
                                      cut.reset_index(drop=True))


# ----------------------------------------------------------------------------- training


@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("cohort")
    simulate_cohort(300, seed=31).write(path)
    return path


@pytest.fixture(scope="module")
def run(cohort_dir, tmp_path_factory):
    work = tmp_path_factory.mktemp("work")
    uri = f"sqlite:///{work / 'mlflow.db'}"
    result = train(cohort_dir / "markers.csv", cohort_dir / "clinical.csv", config=TINY, tracking_uri=uri,
                   name="test-landmarks", out_dir=work / "model", progress=False)
    return result, work, uri


@pytest.mark.slow  # shares the ~20 s training run of the module fixture
def test_metrics_per_landmark(run):
    result, _, _ = run
    table = result.landmarks
    assert list(table.columns) == list(LANDMARK_COLUMNS)
    assert table["landmark"].tolist() == ["day35", "cycle2", "cycle3", "cycle4"]
    assert (table["status"] == "ok").all()
    for row in table.to_dict(orient="records"):
        assert 0 < row["n"] <= result.n_holdout and 0 < row["n_events"] < row["n"]
        assert row["auc_ci_low"] < row["auc"] < row["auc_ci_high"]
        assert math.isfinite(row["calibration_slope"]) and math.isfinite(row["citl"])
        assert row["agreement"] == pytest.approx(row["n_agree"] / row["n"])
        assert row["agreement_ci_low"] <= row["agreement"] <= row["agreement_ci_high"]
    # fewer patients reach the later landmarks
    assert table["n"].iloc[-1] < table["n"].iloc[0]
    metrics = result.metrics()
    assert metrics["landmark.cycle2.auc"] == table.loc[1, "auc"]
    assert metrics["landmark.day35.calibration_slope"] == table.loc[0, "calibration_slope"]


@pytest.mark.slow  # shares the ~20 s training run of the module fixture
def test_agreement_is_with_the_final_decision(run, cohort_dir):
    """Recompute the agreement of one landmark from the shipped models and the held-out patients."""
    from ca125kinetics.features import build_patient_frame
    from ca125kinetics.io import read_clinical, read_markers
    from ca125kinetics.landmarks import last_sample_days

    result, _, _ = run
    bundle = result.bundle
    model = bundle.landmarks["models"][2]                       # after cycle 3
    clinical = read_clinical(cohort_dir / "clinical.csv")
    markers = read_markers(cohort_dir / "markers.csv", clinical=clinical)
    held = result.predictions["patient_id"].astype(str)
    reached = last_sample_days(markers).reindex(held) >= model.landmark.first_day
    ids = held[reached.to_numpy()].tolist()
    frame = build_patient_frame(truncate_markers(markers, model.landmark), clinical_at(clinical, model.landmark))
    frame = frame.set_index("patient_id").loc[ids].reset_index()
    p = model.model.predict_proba(frame)["p"].to_numpy()
    final = result.predictions.set_index(held)["p_selected"].loc[ids].to_numpy()
    agree = ((p >= bundle.threshold) == (final >= bundle.threshold)).mean()
    assert result.landmarks.loc[2, "agreement"] == pytest.approx(agree)
    assert result.landmarks.loc[2, "n"] == len(ids)


@pytest.mark.slow  # shares the ~20 s training run of the module fixture
def test_landmark_metrics_are_logged_to_mlflow(run):
    from mlflow.tracking import MlflowClient

    result, _, uri = run
    logged = MlflowClient(tracking_uri=uri).get_run(result.run_id).data.metrics
    for key in ("day35", "cycle2", "cycle3", "cycle4"):
        assert logged[f"landmark.{key}.auc"] == pytest.approx(result.metrics()[f"landmark.{key}.auc"])
        assert f"landmark.{key}.agreement" in logged and f"landmark.{key}.calibration_slope" in logged


@pytest.mark.slow  # shares the ~20 s training run of the module fixture
def test_landmarks_are_shipped_in_the_bundle_and_its_card(run):
    result, work, _ = run
    meta = json.loads((work / "model" / "bundle.json").read_text())
    assert meta["format_version"] == 3
    assert [m["landmark"]["key"] for m in meta["landmarks"]["models"]] == ["day35", "cycle2", "cycle3", "cycle4"]
    assert meta["landmarks"]["models"][1]["metrics"]["auc"] == pytest.approx(result.landmarks.loc[1, "auc"])
    card = (work / "model" / "model_card.md").read_text()
    assert "## Landmarks: a decision after every cycle" in card and "after cycle 3 (day 63)" in card
    assert "landmarks (held-out patients who reached each" in format_summary(result)


@pytest.mark.slow  # a second small training run (~6 s, no MLflow)
def test_without_a_held_out_set_the_landmarks_are_cross_validated(cohort_dir):
    from ca125kinetics.train import fit_and_evaluate

    config = dict(TINY, cv={"n_splits": 3, "n_repeats": 1, "holdout_fraction": 0.0, "n_jobs": 1},
                  landmarks={"cycles": [3], "early_days": [35]})
    result = fit_and_evaluate(cohort_dir / "markers.csv", cohort_dir / "clinical.csv", config=config)
    table = result.landmarks
    assert result.evaluation_set == "cross-validated" and table["landmark"].tolist() == ["day35", "cycle3"]
    # every development patient who reached the landmark is an out-of-fold evaluation patient once
    assert table["n"].tolist() == table["n_fit"].tolist() and (table["status"] == "ok").all()
    assert [m.landmark.key for m in result.bundle.landmarks["models"]] == ["day35", "cycle3"]


# ----------------------------------------------------------------------------- prediction


@pytest.mark.slow  # shares the ~20 s training run of the module fixture
def test_trajectory_in_prediction_json_and_text(run):
    from ca125kinetics.predict import predict

    result, _, _ = run
    p = predict(SERIES, CLINICAL, model=result.bundle)
    t = p.trajectory
    assert t.status == "ok" and [pt.landmark for pt in t.points] == ["day35", "cycle2", "cycle3", "cycle4", "final"]
    assert [pt.n_samples for pt in t.points] == [2, 3, 4, 5, 5]
    final = t.points[-1]
    assert (final.probability, final.p_low, final.p_high) == (p.probability, p.p_low, p.p_high)
    # SERIES has no day-35 sample: that landmark has a probability and no decision
    assert [pt.status for pt in t.points] == ["no_visit_sample", "ok", "ok", "ok", "ok"]
    for pt in t.points:
        assert 0 < pt.probability < 1
        assert pt.decision == (None if pt.status == "no_visit_sample" else
                               "resectable" if pt.probability >= 0.7 else "not_resectable")
    as_json = p.to_dict()["trajectory"]
    assert as_json["status"] == "ok" and len(as_json["points"]) == 5 and as_json["stable"] == t.stable
    assert json.loads(json.dumps(as_json)) == as_json
    text = p.to_text()
    assert "Decision after every landmark (threshold 0.70):" in text and t.summary in text
    assert t.summary.startswith("Decision stable" if t.stable else "Decision not stable")
    assert list(t.to_frame()["landmark"]) == ["day35", "cycle2", "cycle3", "cycle4", "final"]
    import pickle

    assert pickle.loads(pickle.dumps(predict(SERIES, CLINICAL, model=result.bundle))).trajectory == t


def test_a_landmark_whose_window_holds_no_sample_gets_no_decision():
    """Past a landmark with its visit's sample missing (a sample before the window, the next
    after it), the landmark model's probability on the earlier samples is shown, and no
    decision: it would rest on a visit without a sample. The shipped model."""
    from ca125kinetics.predict import predict

    clinical = dict(CLINICAL, figo_stage="IIIC", pfi_months=18)
    t = predict({"day": [-5, 20, 41, 75], "ca125": [400.0, 300.0, 90.0, 30.0]}, clinical).trajectory
    points = {pt.landmark: pt for pt in t.points}
    assert {k: pt.status for k, pt in points.items()} == {
        "day35": "no_visit_sample", "cycle2": "ok", "cycle3": "no_visit_sample", "cycle4": "not_reached", "final": "ok"}
    cycle3 = points["cycle3"]
    assert cycle3.decision is None and 0 < cycle3.probability < 1 and cycle3.sample_days == (-5, 20, 41)
    assert cycle3.reason == ("no decision: no CA-125 sample in this landmark's window (days 56 to 70); the latest "
                             "sample before it is on day 41: the probability is the landmark model's on the "
                             "earlier samples")
    # a sample in the window set aside after a paracentesis is not the visit's sample either
    aside = predict({"day": [-5, 20, 41, 50, 60], "ca125": [400.0, 300.0, 90.0, None, 30.0],
                     "event": [None, None, None, "paracentesis", None]}, clinical).trajectory
    late = {pt.landmark: pt for pt in aside.points}["cycle3"]
    assert late.status == "no_visit_sample" and late.decision is None and late.sample_days == (-5, 20, 41, 60)
    assert late.reason == ("no decision: no CA-125 sample in this landmark's window (days 56 to 70) that the rules "
                           "use (day 60: set aside after a procedure or mouse antibodies); the latest sample before "
                           "it is on day 41: the probability is the landmark model's on the earlier samples")
    assert ("No decision at day 35 (early), after cycle 3 (day 63): no CA-125 sample in the visit's window that the "
            "rules use.") in t.summary
    assert "no landmark model" not in t.summary.lower()
    assert cycle3.reason in t.to_text()
    # the text names the sample set aside, not "no sample" (day 60 is listed among the days)
    assert late.reason in aside.to_text() and "(days -5, 20, 41, 60)" in aside.to_text()
    # a sample on the window's edges is the visit's
    for day in (56, 70):
        edge = predict({"day": [-5, 20, 41, day, 75], "ca125": [400.0, 300.0, 90.0, 60.0, 30.0]}, clinical)
        assert {pt.landmark: pt.status for pt in edge.trajectory.points}["cycle3"] == "ok", day


def test_the_sample_a_no_visit_landmark_names_before_its_window_is_one_the_rules_use():
    """A landmark without its visit's sample names the latest sample before its window: a
    sample set aside after a paracentesis (day 30: day 33 within its 28 days) is not the one
    the point rests on; the reason names the latest the rules use (day 21) and the one set
    aside. It named day 33 as the latest sample before it. The shipped model."""
    from ca125kinetics.predict import predict

    t = predict({"day": [-3, 21, 30, 33, 42, 63, 84], "ca125": [400.0, 250.0, None, 200.0, 120.0, 50.0, 25.0],
                 "event": [None, None, "paracentesis", None, None, None, None]}, CLINICAL).trajectory
    points = {pt.landmark: pt for pt in t.points}
    day35, cycle2 = points["day35"], points["cycle2"]
    assert (day35.status, cycle2.status) == ("no_visit_sample", "no_visit_sample")
    assert day35.sample_days == (-3, 21, 33) and cycle2.sample_days == (-3, 21, 33, 42)
    assert day35.reason == ("no decision: no CA-125 sample in this landmark's window (days 35 to 35); the latest "
                            "sample before it that the rules use is on day 21 (day 33: set aside after a procedure "
                            "or mouse antibodies): the probability is the landmark model's on the earlier samples")
    assert cycle2.reason == ("no decision: no CA-125 sample in this landmark's window (days 35 to 49) that the rules "
                             "use (day 42: set aside after a procedure or mouse antibodies); the latest sample before "
                             "it that the rules use is on day 21 (day 33: set aside after a procedure or mouse "
                             "antibodies): the probability is the landmark model's on the earlier samples")
    assert "before it is on day 33" not in t.to_text()
    # every on-treatment sample before the window set aside: the baseline is the latest it rests on
    none = predict({"day": [-3, 10, 14, 21, 42, 63], "ca125": [400.0, None, 300.0, 250.0, 120.0, 50.0],
                    "event": [None, "paracentesis", None, None, None, None]}, CLINICAL,
                   allow_imputed=True).trajectory
    early = {pt.landmark: pt for pt in none.points}["day35"]
    assert early.status == "no_visit_sample" and early.reason == (
        "no decision: no CA-125 sample in this landmark's window (days 35 to 35); the latest sample before it that "
        "the rules use is on day -3 (days 14, 21: set aside after a procedure or mouse antibodies): the probability "
        "is the landmark model's on the earlier samples")


@pytest.mark.slow  # shares the ~20 s training run of the module fixture
def test_a_landmark_is_reached_from_the_start_of_its_window(run):
    from ca125kinetics.predict import predict

    bundle = run[0].bundle
    keys = lambda days: [pt.landmark for pt in predict(  # noqa: E731
        {"day": days, "ca125": [800.0, 300.0, 150.0][:len(days)]}, CLINICAL, model=bundle).trajectory.points
        if pt.status != "not_reached"]
    assert keys([-7, 21, 34]) == []
    assert keys([-7, 21, 35]) == ["day35", "cycle2", "final"]
    assert keys([-7, 21, 56]) == ["day35", "cycle2", "cycle3", "final"]
    # a withheld decision (clinical predictors unknown) withholds the landmark decisions too
    withheld = predict(SERIES, {"recist": "PR"}, model=bundle)
    assert withheld.status == "insufficient" and withheld.trajectory.status == "withheld"
    assert withheld.trajectory.summary.startswith("No trajectory: the decision is withheld (insufficient information")
    assert predict(SERIES, {"recist": "PR"}, model=bundle, allow_imputed=True).trajectory.status == "ok"
    early = predict({"day": [-7, 21], "ca125": [800.0, 300.0]}, CLINICAL, model=bundle).trajectory
    assert early.status == "none_reached" and [pt.status for pt in early.points] == ["not_reached"] * 4
    assert "latest CA-125 sample is on day 21" in early.summary and "opens on day 35" in early.summary


@pytest.mark.slow  # shares the ~20 s training run of the module fixture
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
@pytest.mark.slow  # shares the ~20 s training run of the module fixture
def test_no_sample_after_a_landmark_changes_its_prediction(run, data):
    from ca125kinetics.predict import predict

    bundle = run[0].bundle
    marks = bundle.landmarks["models"]
    lm = data.draw(st.sampled_from(marks)).landmark
    days = sorted(data.draw(st.lists(st.integers(1, lm.last_day), min_size=1, max_size=4, unique=True)))
    days = [data.draw(st.integers(-14, 0))] + days
    later = sorted(data.draw(st.lists(st.integers(lm.last_day + 1, 140), min_size=1, max_size=4, unique=True)))
    values = [data.draw(st.floats(40, 5000))] + [data.draw(st.floats(3, 3000)) for _ in days[1:]]
    before = [data.draw(st.floats(3, 3000)) for _ in later]
    after = [data.draw(st.floats(3, 3000)) for _ in later]
    extra = data.draw(st.lists(st.integers(lm.last_day + 1, 140).filter(lambda d: d not in later), max_size=2,
                               unique=True))
    base = predict({"day": days + later, "ca125": values + before}, CLINICAL, model=bundle).trajectory
    point = {pt.landmark: pt for pt in base.points}.get(lm.key)
    # not_candidate (random values often show a GCIG progression): the probability is still given
    assume(point is not None and point.status in ("ok", "not_candidate"))
    changed = predict({"day": days + later + extra, "ca125": values + after + [7.0] * len(extra)}, CLINICAL,
                      model=bundle).trajectory
    other = {pt.landmark: pt for pt in changed.points}[lm.key]
    assert (other.probability, other.p_low, other.p_high, other.n_samples) == \
        (point.probability, point.p_low, point.p_high, point.n_samples)


@pytest.mark.slow  # shares the ~20 s training run of the module fixture
def test_one_pass_for_all_landmarks_equals_one_pass_per_landmark(run, monkeypatch):
    """predict_many scores every landmark of every patient in one pass (_LandmarkScorer): the
    same numbers as predict one patient at a time and as one scoring pass per landmark."""
    import sys

    from ca125kinetics.predict import predict, predict_many

    T = sys.modules["ca125kinetics.predict.trajectory"]
    bundle = run[0].bundle
    items = [({"patient_id": "a", **SERIES}, CLINICAL),
             ({"patient_id": "b", "day": [-3, 20, 41], "ca125": [300.0, 250.0, 260.0]}, dict(CLINICAL, recist="SD")),
             ({"patient_id": "c", "day": [-3, 20], "ca125": [300.0, 100.0]}, CLINICAL)]
    batch = [p.trajectory.to_dict() for p in predict_many(items, model=bundle)]
    alone = [predict(m, c, model=bundle).trajectory.to_dict() for m, c in items]
    monkeypatch.setattr(T.LandmarkScorer, "compatible", staticmethod(lambda models, kinetics_step: False))
    separate = [p.trajectory.to_dict() for p in predict_many(items, model=bundle)]
    assert batch == alone == separate
    assert [t["status"] for t in batch] == ["ok", "ok", "none_reached"]


@pytest.mark.slow  # shares the ~20 s training run of the module fixture
def test_scoring_file_gives_the_same_trajectory(run):
    from ca125kinetics.predict import load_model, predict

    _, work, _ = run
    full = predict(SERIES, CLINICAL, model=load_model(work / "model"))
    fast = load_model(work / "model", scoring_only=True)
    assert type(fast).__name__ == "ScoringModel" and fast.landmarks is not None
    lean = predict(SERIES, CLINICAL, model=fast)
    for a, b in zip(full.trajectory.points, lean.trajectory.points):
        assert a.landmark == b.landmark and a.probability == pytest.approx(b.probability, abs=1e-12)
        assert a.p_low == pytest.approx(b.p_low, abs=1e-12) and a.p_high == pytest.approx(b.p_high, abs=1e-12)
        # the scoring file carries the training summary: the full-series point's AUC was missing
        assert (a.auc, a.auc_ci_low, a.auc_ci_high) == (b.auc, b.auc_ci_low, b.auc_ci_high)
    assert full.trajectory.points[-1].auc is not None


@pytest.mark.slow  # shares the ~20 s training run of the module fixture
def test_a_model_without_landmarks_says_so(run, tmp_path):
    import copy

    from ca125kinetics._compiled import scorer_dict
    from ca125kinetics.bundle import load_bundle, save_bundle
    from ca125kinetics.predict import load_model, predict

    old = copy.copy(run[0].bundle)
    del old.__dict__["landmarks"]         # as unpickled from a bundle written before landmarks existed
    old.format_version = 2
    assert old.landmarks is None and old.to_dict()["landmarks"] is None
    save_bundle(old, tmp_path / "old")
    for model in (load_bundle(tmp_path / "old"), load_model(tmp_path / "old", scoring_only=True)):
        p = predict(SERIES, CLINICAL, model=model)
        assert p.status == "ok" and p.trajectory.status == "no_landmark_models" and p.trajectory.points == ()
        assert "carries no landmark models" in p.to_text()
        assert p.to_dict()["trajectory"]["status"] == "no_landmark_models"
    scorer = scorer_dict(old)
    scorer.pop("landmarks")               # a scoring file written before landmarks existed
    from ca125kinetics._compiled import ScoringModel
    assert ScoringModel(scorer).landmarks is None


@pytest.mark.slow  # shares the ~20 s training run of the module fixture
def test_web_api_returns_the_trajectory(run):
    from fastapi.testclient import TestClient

    from ca125kinetics.web import create_app

    _, work, _ = run
    body = {"patient_id": "w1", "samples": [{"day": d, "ca125": v} for d, v in zip(SERIES["day"], SERIES["ca125"])],
            "clinical": CLINICAL}
    with TestClient(create_app(work / "model"), raise_server_exceptions=False) as client:
        data = client.post("/api/score", json=body).json()
        page = client.get("/").text
    assert data["trajectory"]["status"] == "ok" and len(data["trajectory"]["points"]) == 5
    assert 'id="trajectory"' in page and 'id="trajectory-summary"' in page


# ----------------------------------------------------------------------------- wording


def _models(*statuses):
    marks = LandmarkSettings().landmarks()
    return [LandmarkModel(lm, s, None if s == "ok" else "too few", {}, object() if s == "ok" else None)
            for lm, s in zip(marks, statuses)]


def test_stability_wording():
    days, values = [-7, 21, 35, 43, 63, 84], [900, 400, 300, 200, 100, 50]   # a sample at every visit
    p = {"day35": 0.62, "cycle2": 0.74, "cycle3": 0.66, "cycle4": 0.80}
    t = build_trajectory(_models("ok", "ok", "ok", "ok"), days=days, values=values, threshold=0.7,
                         final=(0.85, 0.8, 0.9), score_at=lambda m: (p[m.landmark.key], 0.5, 0.9))
    assert t.stable is False
    assert t.summary == (
        "Decision not stable: it changed 3 times across the landmarks reached (day 35 (early): < threshold "
        "(p 0.62) -> after cycle 2 (day 42): >= threshold (p 0.74) -> after cycle 3 (day 63): < threshold "
        "(p 0.66) -> after cycle 4 (day 84): >= threshold (p 0.80) -> all samples (to day 84): >= threshold "
        "(p 0.85)); latest: predicted completely resectable. The decision changed at after cycle 3 (day 63), the "
        "first point whose model is given the RECIST category (the landmarks before it treat RECIST as unknown, not "
        "yet assessed then): the change need not come from the CA-125 samples alone.")
    same = build_trajectory(_models("ok", "ok", "ok", "ok"), days=days, values=values, threshold=0.7,
                            final=(0.85, 0.8, 0.9), score_at=lambda m: (0.9, 0.8, 0.95))
    assert same.stable is True and same.summary == (
        "Decision stable: predicted completely resectable (threshold 0.70) at each of the 4 landmarks with a "
        "decision and with all samples.")
    gap = build_trajectory(_models("ok", "not_fitted", "ok", "ok"), days=days[:3], values=values[:3],
                           threshold=0.7, final=(0.3, 0.2, 0.4), score_at=lambda m: (0.2, 0.1, 0.3))
    assert [pt.status for pt in gap.points] == ["ok", "not_fitted", "not_reached", "not_reached", "ok"]
    assert gap.stable is None and gap.summary.startswith("Too early to say whether the decision is stable")
    assert gap.summary.endswith("No landmark model for: after cycle 2 (day 42).")
    assert "predicted not completely resectable" in gap.summary and "no landmark model" in gap.to_text()
    none = build_trajectory(None, days=days, values=values, threshold=0.7, final=(0.5, 0.4, 0.6),
                            score_at=None)
    assert none.status == "no_landmark_models" and "retrain" in none.summary
    unscored = build_trajectory(_models("ok"), days=days, values=values, threshold=0.7, final=None, score_at=None)
    assert unscored.status == "not_scored"


def test_models_disagreeing_on_the_same_samples_are_no_change_of_course():
    """The full-series model and the last landmark's model on the same samples, on either side
    of the threshold: no change over time (no new sample), but no settled decision either; the
    summary names the two points and their probabilities."""
    days, values = [-3, 21, 42, 63], [400, 350, 250, 60]
    p = {"day35": 0.5, "cycle2": 0.35, "cycle3": 0.69}
    t = build_trajectory(_models("ok", "ok", "ok", "ok"), days=days, values=values, threshold=0.7,
                         final=(0.71, 0.55, 0.81), score_at=lambda m: (p[m.landmark.key], 0.3, 0.8))
    assert t.stable is False
    assert t.summary.startswith("Decision not settled: no new sample changed it, but the models disagree (")
    assert ("after cycle 3 (day 63) and all samples (to day 63) used the same samples (days -3, 21, 42, 63) and "
            "their models disagree (p 0.69 and 0.71, on either side of the threshold 0.70).") in t.summary
    # a change on new samples is counted, the disagreement on the same ones is not
    p["day35"] = 0.8
    t = build_trajectory(_models("ok", "ok", "ok", "ok"), days=[-3, 21, 35, 42, 63], values=[400, 350, 300, 250, 60],
                         threshold=0.7, final=(0.71, 0.55, 0.81), score_at=lambda m: (p[m.landmark.key], 0.3, 0.8))
    assert t.summary.startswith("Decision not stable: it changed 1 time across the landmarks reached")
    assert "their models disagree (p 0.69 and 0.71" in t.summary


def test_a_sample_set_aside_after_a_procedure_is_no_new_look_at_the_series():
    """Day 35 and after cycle 2 whose samples differ only by one set aside after a paracentesis
    (day 40: day 45 within its 28 days) looked at one series: the rules use the same samples,
    so the two models disagreeing is no change of course and the stability cannot be told
    yet. It was counted as a change ("Decision not stable: it changed 1 time")."""
    from ca125kinetics.predict import predict

    days, values = [-3, 21, 35, 40, 45], [400, 300, 60, None, 50]
    events = [None, None, None, "paracentesis", None]
    p = {"day35": 0.66, "cycle2": 0.76}
    t = build_trajectory(_models("ok", "ok", "ok", "ok"), days=days, values=values, threshold=0.7,
                         final=(0.8, 0.7, 0.9), score_at=lambda m: (p[m.landmark.key], 0.5, 0.9),
                         excluded=[False, False, False, False, True])
    assert [pt.sample_days for pt in t.points if pt.status == "ok"] == [(-3, 21, 35), (-3, 21, 35, 45),
                                                                         (-3, 21, 35, 45)]
    assert t.stable is None
    assert t.summary.startswith("Too early to say whether the decision is stable: the 2 landmarks scored used the "
                                "same samples (days -3, 21, 35; day 45: set aside after a procedure or mouse "
                                "antibodies).")
    assert ("day 35 (early) and after cycle 2 (day 42) used the same samples (days -3, 21, 35; day 45: set aside "
            "after a procedure or mouse antibodies) and their models disagree (p 0.66 and 0.76, on either side of "
            "the threshold 0.70).") in t.summary
    assert "changed" not in t.summary
    # the same through predict (the shipped model): the sample set aside changes no probability
    aside = predict({"day": days, "ca125": values, "event": events}, CLINICAL).trajectory
    plain = predict({"day": [-3, 21, 35], "ca125": [400, 300, 60]}, CLINICAL).trajectory
    assert [pt.probability for pt in aside.points] == [pt.probability for pt in plain.points]
    assert aside.stable is plain.stable is None and "changed" not in aside.summary


def test_a_decision_that_changes_where_recist_enters_the_models_says_so():
    """After cycle 2 treats RECIST as unknown, after cycle 3 is given it: a decision that
    changes between them may come from RECIST rather than the samples, and the summary says
    so (it read as a change on the samples alone); not when RECIST is not given, nor for a
    change between two landmarks on the same side of RECIST."""
    days, values = [-3, 21, 42, 63, 84], [400, 300, 90, 40, 20]
    p = {"day35": 0.5, "cycle2": 0.6, "cycle3": 0.8, "cycle4": 0.75}
    kw = dict(days=days, values=values, threshold=0.7, final=(0.78, 0.7, 0.9),
              score_at=lambda m: (p[m.landmark.key], 0.5, 0.9))
    note = ("The decision changed at after cycle 3 (day 63), the first point whose model is given the RECIST "
            "category (the landmarks before it treat RECIST as unknown, not yet assessed then): the change need not "
            "come from the CA-125 samples alone.")
    t = build_trajectory(_models("ok", "ok", "ok", "ok"), **kw)
    assert t.summary.startswith("Decision not stable: it changed 1 time") and note in t.summary
    # RECIST unknown (imputed by the caller's leave): nothing entered
    assert note not in build_trajectory(_models("ok", "ok", "ok", "ok"), allow_imputed=True, imputed_inputs="recist",
                                        **kw).summary
    # a change between cycle 3 and cycle 4 (both given RECIST) is not put down to it
    p.update(cycle2=0.8, cycle3=0.8, cycle4=0.6)
    other = build_trajectory(_models("ok", "ok", "ok", "ok"), **kw).summary
    assert other.startswith("Decision not stable") and "RECIST" not in other


def test_a_landmark_reached_without_a_sample_by_its_last_day_says_so():
    """Samples from day 60 on: day 35 and cycle 2 are reached (a later sample exists) with no
    sample up to their last day. They are not scored, and say why; they are not called
    landmarks without a model, nor counted among the landmarks with a decision."""
    t = build_trajectory(_models("ok", "ok", "ok", "ok"), days=[60, 80], values=[400, 150], threshold=0.7,
                         final=(0.6, 0.4, 0.7), score_at=lambda m: (0.5, 0.3, 0.7, None, 0))
    points = {pt.landmark: pt for pt in t.points}
    assert points["cycle2"].status == "not_scored" and points["cycle2"].reason == (
        "not scored: no CA-125 sample drawn up to day 49; the first is on day 60")
    assert "No landmark model" not in t.summary
    assert "Not scored: day 35 (early) (no CA-125 sample drawn up to day 35; the first is on day 60)" in t.summary
    assert "no CA-125 sample drawn up to day 49; the first is on day 60" in t.to_text()
    # its landmarks decided on imputed kinetics (allowed): the summary says so
    allowed = build_trajectory(_models("ok", "ok", "ok", "ok"), days=[60, 80], values=[400, 150], threshold=0.7,
                               final=(0.6, 0.4, 0.7), score_at=lambda m: (0.5, 0.3, 0.7, None, 0),
                               allow_imputed=True, imputed_inputs="ecog")
    assert allowed.summary.startswith("Decision stable: predicted not completely resectable (threshold 0.70) at each "
                                      "of the 2 landmarks with a decision")
    assert ("The decisions at after cycle 3 (day 63), after cycle 4 (day 84) rest on imputed kinetics"
            in allowed.summary)
    assert "Every decision above rests on imputed ecog (allow_imputed=True)." in allowed.summary


def test_imputed_kinetics_texts_do_not_name_one_cause_of_two():
    """A landmark's kinetics are imputed when there is no usable CA-125 after the first dose
    *or* no pretreatment CA-125 (n_on is 0 for both). Samples from day 60 on have CA-125 after
    the first dose: the texts said "no CA-125 after the first dose by then" all the same."""
    kw = dict(days=[60, 80], values=[400, 150], threshold=0.7, final=(0.6, 0.4, 0.7),
              score_at=lambda m: (0.5, 0.3, 0.7, None, 0))
    allowed = build_trajectory(_models("ok", "ok", "ok", "ok"), allow_imputed=True, **kw)
    withheld = build_trajectory(_models("ok", "ok", "ok", "ok"), **kw)
    for text in (allowed.summary, withheld.summary, withheld.to_text()):
        assert "no CA-125 after the first dose by then" not in text
        assert "no CA-125 after the first dose to this day" not in text
    assert "rest on imputed kinetics (no CA-125 decline to measure by then" in allowed.summary
    assert "no CA-125 decline to measure by then (kinetics imputed)" in withheld.summary
    assert "no decision: no CA-125 decline to measure to this day (kinetics imputed)" in withheld.to_text()


def test_landmark_round_trip():
    lm = LandmarkSettings().landmarks()[2]
    assert Landmark.from_dict(json.loads(json.dumps(lm.to_dict()))) == lm


# ----------------------------------------------------------------------------- web page


@pytest.mark.browser
@pytest.mark.skipif(not __import__("os").path.exists("/usr/bin/chromium"), reason="/usr/bin/chromium is absent")
def test_web_page_draws_the_trajectory(tmp_path):
    """The shipped default model carries landmark models: the page draws one point per landmark
    reached plus the full series, with interval bars, the threshold line and the summary."""
    import socket
    import threading
    import time

    import uvicorn

    from ca125kinetics.predict import default_model_dir
    from ca125kinetics.web import create_app

    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(default_model_dir()), host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        time.sleep(0.05)
    try:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                         args=["--headless", "--no-sandbox", "--disable-gpu"])
            page = browser.new_page()
            errors = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"http://127.0.0.1:{port}/")
            page.click("#timing-day")
            for i, (day, value) in enumerate(zip(SERIES["day"], SERIES["ca125"])):
                if page.locator("#samples tbody tr").count() <= i:
                    page.click("#add-row")
                row = page.locator("#samples tbody tr").nth(i)
                row.locator("input.when").fill(str(day))
                row.locator("input.value").fill(str(value))
            for field, value in (("#age", "60"), ("#ascites", "0"), ("#pfi", "20")):
                page.fill(field, value)
            for field, value in (("#ecog", "0"), ("#figo", "III"), ("#residual", "0"), ("#pattern", "single"),
                                 ("#recist", "PR")):
                page.select_option(field, value)
            page.click("#score")
            page.wait_for_selector("#trajectory svg", timeout=30_000)
            assert page.locator("#trajectory svg circle.landmark-point").count() == 5
            assert page.locator("#trajectory svg line.interval").count() == 5
            assert page.locator("#trajectory svg line.threshold").count() == 1
            assert page.text_content("#trajectory-summary").startswith("Decision")
            assert "trained on synthetic data" in page.text_content("#trajectory-notes")
            assert "days -7, 21, 43, 62, 81" in page.locator("#trajectory svg circle.landmark-point title").last.text_content()
            browser.close()
            assert not errors, errors
    finally:
        server.should_exit = True
        thread.join(10)


# ----------------------------------------------------------------------------- audit: the day rule read independently
#
# tests/data/landmarks_independent.py reads the day rule from docs/landmarks.md alone (standard
# library, nothing imported from the package); tests/data/landmarks_cases_generator.py writes the
# seeded adversarial series of tests/data/landmarks_{markers,clinical}.csv and the reading's
# output is tests/data/landmarks_expected.csv (tests/data/landmarks_README.md). The shipped
# default model scores them (a second or two).

DATA = __import__("pathlib").Path(__file__).parent / "data"
FACTORS = {k: v for k, v in CLINICAL.items() if k != "recist"}


def _cases():
    import csv

    with open(DATA / "landmarks_clinical.csv", newline="") as f:
        clinical = list(csv.DictReader(f))
    rows: dict = {}
    with open(DATA / "landmarks_markers.csv", newline="") as f:
        for r in csv.DictReader(f):
            rows.setdefault(r["patient_id"], []).append(r)
    with open(DATA / "landmarks_expected.csv", newline="") as f:
        expected: dict = {}
        for r in csv.DictReader(f):
            expected.setdefault(r["patient_id"], {})[r["point"]] = r
    items = []
    for c in clinical:
        rs = rows[c["patient_id"]]
        dated = rs[0]["day"] == ""
        markers = {"patient_id": [c["patient_id"]] * len(rs),
                   "date" if dated else "day": [r["date"] if dated else int(r["day"]) for r in rs],
                   "ca125": [r["ca125"] or None for r in rs], "event": [r["event"] or None for r in rs]}
        factors = {k: c[k] for k in FACTORS}
        factors["recist"] = c["recist"] or None
        if dated:
            factors["treatment_start"] = c["treatment_start"]
        items.append((markers, factors))
    return clinical, items, expected


def _days(text):
    return [int(d) for d in text.split(";")] if text else []


@pytest.fixture(scope="module")
def scored_cases():
    """The adversarial cases scored by the shipped model, with every truncated record the
    trajectory scored (captured on the scoring path: rows, events and clinical factors)."""
    import sys

    from ca125kinetics.predict import predict_many

    E = sys.modules["ca125kinetics.predict.engine"]
    T = sys.modules["ca125kinetics.predict.trajectory"]
    clinical, items, expected = _cases()
    seen, original = {}, E._score_patients

    def capture(bundle, patients, problems, allow_imputed=False, **columns):
        for r in patients:
            if T.LandmarkScorer.SEP in r.patient_id:
                seen[r.patient_id] = r
        return original(bundle, patients, problems, allow_imputed, **columns)

    mp = pytest.MonkeyPatch()
    mp.setattr(E, "_score_patients", capture)
    try:
        # allow_imputed: the day rule is compared here; a series without a usable on-treatment
        # sample (pretreatment samples only) has its kinetics imputed, which withholds the
        # decision and the trajectory by default (rule 5, tested apart)
        predictions = predict_many(items, allow_imputed=True)
        for p in predictions:
            p.trajectory
    finally:
        mp.undo()
    return clinical, predictions, expected, seen


def test_every_adversarial_series_agrees_with_the_independent_day_rule(scored_cases):
    """Status, the landmarks reached, the days each point used and why a landmark was not
    reached: as the independent reading of docs/landmarks.md says, for every case."""
    clinical, predictions, expected, _ = scored_cases
    for c, p in zip(clinical, predictions):
        exp, t, note = expected[c["patient_id"]], p.trajectory, c["case_note"]
        status = exp["final"]["trajectory_status"]
        assert t.status == {"scored": "ok"}.get(status, status), (note, t.status, t.summary)
        points = {pt.landmark: pt for pt in t.points}
        for key, e in exp.items():
            if key == "final" and status != "scored":
                continue
            pt = points[key]
            if e["reached"] == "1":
                # imputed kinetics allowed; not_candidate: the case's own GCIG progression or RECIST PD
                assert pt.status in ("ok", "not_fitted", "not_scored", "no_visit_sample", "not_candidate"), (
                    note, key, pt)
                if pt.status == "not_scored":       # reached, but nothing drawn up to D + w
                    assert e["sample_days"] == "" and pt.reason.startswith(
                        f"not scored: no CA-125 sample drawn up to day {pt.last_day}; the first is on day "), pt
                # a decision needs a sample in the landmark's window (D - w to D + w)
                if key != "final" and pt.status in ("ok", "no_visit_sample"):
                    first = int(e["nominal_day"]) - int(e["window_days"])
                    # a sample set aside after a procedure or mouse antibodies is not the visit's
                    in_window = [d for d in _days(e["sample_days"]) if d >= first
                                 and d not in _days(e["excluded_days"])]
                    assert (pt.status == "no_visit_sample") == (not in_window), (note, key, pt.status)
                assert list(pt.sample_days) == _days(e["sample_days"]), (note, key)
                assert (pt.n_samples, pt.last_day) == (int(e["n_samples"]), int(e["to_day"])), (note, key)
            else:
                assert pt.status == "not_reached" and pt.decision is None and pt.sample_days == (), (note, key)
                assert pt.reason.startswith("not reached: the latest CA-125 sample is on day "), (note, key)
                assert f"before this landmark's window opens on day {int(e['nominal_day']) - int(e['window_days'])}" \
                    in pt.reason, (note, key)


def test_a_landmark_decides_only_with_ca125_after_the_first_dose_as_the_reading_says():
    """Without ``allow_imputed``, a landmark reached gives no decision (``insufficient``)
    exactly where the independent reading's samples up to D + w hold none after the first
    dose (day > 0, within the kinetics window) that its events leave, or no pretreatment one
    (day -14 to 0) to measure the decline from (rule 5 at the landmark)."""
    from ca125kinetics.predict import predict_many

    clinical, items, expected = _cases()
    n_insufficient = 0
    for c, p in zip(clinical, predict_many(items)):
        t = p.trajectory
        if t.status != "ok":
            continue
        points = {pt.landmark: pt for pt in t.points}
        for key, e in expected[c["patient_id"]].items():
            if key == "final" or e["reached"] != "1" or points[key].status in ("not_fitted", "not_scored"):
                continue
            kept = [d for d in _days(e["sample_days"]) if d not in _days(e["excluded_days"])]
            on = [d for d in kept if 0 < d <= 100] if any(-14 <= d <= 0 for d in kept) else []
            pt = points[key]
            # RECIST known by then (L6) but not given: a model that learned it as assessed imputes it
            recist_imputed = e["recist_known"] == "1" and not str(c.get("recist") or "").strip()
            if pt.status != "not_candidate":     # progression or RECIST PD by then: no decision either way
                assert (pt.status == "insufficient") == (not on or recist_imputed), (c["case_note"], key,
                                                                                      pt.status, on)
                if pt.status == "insufficient" and on:
                    assert pt.reason.startswith("no decision: RECIST unknown"), (c["case_note"], key)
            assert (pt.decision is None) == (not on or recist_imputed
                                             or pt.status in ("no_visit_sample", "not_candidate"))
            n_insufficient += pt.status == "insufficient" and not recist_imputed
    assert n_insufficient >= 5


def test_every_landmark_is_scored_on_the_rows_and_factors_known_then(scored_cases):
    """What the scoring path received for each landmark: the samples and the events up to
    D + w only (an event after it cannot exclude anything yet), RECIST only from cycle 3."""
    from ca125kinetics.predict import load_model
    from ca125kinetics.predict.trajectory import LandmarkScorer

    clinical, predictions, expected, seen = scored_cases
    keys = [m.landmark.key for m in load_model(None).landmarks["models"] if m.model is not None]
    n = 0
    for c, p in zip(clinical, predictions):
        for k, key in enumerate(keys):
            e = expected[c["patient_id"]][key]
            record = seen.get(f"{c['patient_id']}{LandmarkScorer.SEP}{k}")
            assert (record is not None) == (e["reached"] == "1"), (c["case_note"], key)
            if record is None:
                continue
            n += 1
            assert [int(d) for d, v in zip(record.day, record.ca125) if not math.isnan(v)] == _days(e["sample_days"])
            assert [int(d) for d, ev in zip(record.day, record.event) if ev] == _days(e["event_days"])
            assert record.clinical["recist"] == (c["recist"] or None if e["recist_known"] == "1" else None)
    assert n > 300


def test_an_undetermined_entry_criterion_does_not_withhold_the_landmark_decisions():
    """Day 35, RECIST not assessed yet (it is after cycle 3) and no GCIG response confirmable yet
    (28 days after the fall): the recommendation is withheld, but the landmark decisions -- the
    models' probabilities against the threshold, which is what a decision after every cycle
    needs -- are given, and the summary says the recommendation is withheld and why."""
    from ca125kinetics.predict import predict

    p = predict({"day": [-5, 20, 35], "ca125": [900.0, 240.0, 150.0]}, FACTORS)
    assert p.status == "insufficient" and p.decision == "insufficient_information"
    t = p.trajectory
    assert t.status == "ok", t.summary
    assert [pt.landmark for pt in t.points if pt.status == "ok"] == ["day35", "cycle2"]
    assert "the recommendation" in t.summary and "insufficient information" in t.summary
    # the full-series model learned RECIST as assessed: unknown, it would be imputed there
    final = t.points[-1]
    assert final.landmark == "final" and final.status == "insufficient" and final.decision is None
    assert final.reason.startswith("no decision: RECIST unknown, and the model uses it")
    assert "No decision at all samples (to day 35): RECIST unknown" in t.summary
    # unknown clinical predictors still withhold both (allow_imputed=True gives both)
    assert predict({"day": [-5, 20, 35], "ca125": [900.0, 240.0, 150.0]}, {"recist": "PR"}).trajectory.status \
        == "withheld"


def test_no_ca125_after_the_first_dose_withholds_the_trajectory_as_the_decision():
    """Rule 5: no on-treatment CA-125 the kinetics can use (a baseline only; samples beyond the
    kinetics window, day 100, which reach every landmark) withholds the decision, and with it
    the trajectory, whose full-series point would decide on the imputed kinetics;
    allow_imputed=True gives both."""
    from ca125kinetics.predict import predict

    for series, opted in (({"day": [-5], "ca125": [900.0]}, "none_reached"),
                          ({"day": [-5, 110, 130], "ca125": [900.0, 240.0, 150.0]}, "ok")):
        p = predict(series, CLINICAL)
        assert p.status == "insufficient" and p.trajectory.status == "withheld"
        assert "give the on-treatment CA-125 values" in p.trajectory.summary
        assert predict(series, CLINICAL, allow_imputed=True).trajectory.status == opted


def test_a_landmark_without_ca125_after_the_first_dose_gives_no_decision():
    """Rule 5 at a landmark: a series whose samples up to the landmark are a baseline only
    (here the first on-treatment sample is drawn on day 39, after the day-35 landmark) gives
    that landmark's probability, computed with the kinetics imputed, but no decision, and the
    point takes no part in the stability; allow_imputed=True decides on it, as for the
    patient. Before, the day-35 point said "predicted completely resectable" (p 0.77) from
    the baseline alone, and the decision was "not stable"."""
    from ca125kinetics.predict import predict

    series = {"day": [-9, 39, 60], "ca125": [65.6, 22.6, 16.1]}
    clinical = {"age": 61, "ecog": 0, "ascites_ml": 0, "pfi_months": 22, "figo_stage": "III",
                "primary_residual_disease": 0, "recurrence_pattern": "single", "recist": "PR"}
    t = predict(series, clinical).trajectory
    day35 = t.points[0]
    assert day35.landmark == "day35" and day35.status == "insufficient" and day35.decision is None
    assert day35.sample_days == (-9,) and 0 < day35.probability < 1
    assert day35.reason.startswith("no decision: no CA-125 decline up to day 35 for the kinetics to measure (no "
                                   "CA-125 after the first dose")
    decided = [pt for pt in t.points if pt.decision is not None]
    assert [pt.landmark for pt in decided] == ["cycle2", "cycle3", "final"]
    assert "No decision at day 35 (early)" in t.summary and "no decision" in t.to_text()
    assert t.to_dict()["points"][0]["status"] == "insufficient"
    # allow_imputed decides on imputed kinetics, but not on a visit without a sample (none on day 35)
    opted = predict(series, clinical, allow_imputed=True).trajectory.points[0]
    assert opted.status == "no_visit_sample" and opted.decision is None
    assert opted.probability == day35.probability
    sampled = predict({"day": [-9, 35, 39, 60], "ca125": [65.6, 30.0, 22.6, 16.1]}, clinical,
                      allow_imputed=True).trajectory.points[0]
    assert sampled.status == "ok" and sampled.decision is not None


def test_each_landmark_point_says_what_it_used_and_how_good_its_model_is():
    from ca125kinetics.predict import load_model, predict

    bundle = load_model(None)
    p = predict({"day": [-5, 20, 35, 41, 60], "ca125": [400.0, 300.0, 150.0, 90.0, 40.0]}, CLINICAL)
    t = p.trajectory
    assert t.trained_on_synthetic is True and "synthetic" in t.to_text()
    assert [pt.landmark for pt in t.points] == ["day35", "cycle2", "cycle3", "cycle4", "final"]
    metrics = {m.landmark.key: m.metrics for m in bundle.landmarks["models"]}
    for pt in t.points[:3]:
        assert pt.status == "ok" and pt.trained_on_synthetic is True and pt.threshold == bundle.threshold
        m = metrics[pt.landmark]
        assert (pt.auc, pt.auc_ci_low, pt.auc_ci_high, pt.n_evaluated, pt.agreement) == \
            (m["auc"], m["auc_ci_low"], m["auc_ci_high"], m["n"], m["agreement"])
    assert [pt.sample_days for pt in t.points] == [(-5, 20, 35), (-5, 20, 35, 41), (-5, 20, 35, 41, 60), (),
                                                   (-5, 20, 35, 41, 60)]
    assert t.points[3].status == "not_reached" and t.points[3].reason == (
        "not reached: the latest CA-125 sample is on day 60, before this landmark's window opens on day 77")
    final = t.points[-1]
    assert final.auc == bundle.training_summary["auc"] and final.trained_on_synthetic is True
    text = t.to_text()
    assert t.points[3].reason in text and "AUC 0.80" in text
    frame = t.to_frame()
    assert list(frame.columns) == list(__import__("ca125kinetics.landmarks", fromlist=["x"]).TRAJECTORY_COLUMNS)
    assert frame["status"].tolist() == ["ok", "ok", "ok", "not_reached", "ok"]
    as_json = p.to_dict()["trajectory"]
    assert as_json["trained_on_synthetic"] is True and as_json["points"][1]["sample_days"] == [-5, 20, 35, 41]
    assert as_json["points"][3]["reason"].startswith("not reached")


def test_stability_is_not_claimed_from_a_single_landmark():
    """One landmark scored (the others without a model) and the full series: two points, but
    one landmark is no trajectory; the summary says so instead of calling the decision stable."""
    days, values = [-7, 21, 35, 43], [900, 400, 300, 200]
    one = build_trajectory(_models("ok", "not_fitted"), days=days, values=values, threshold=0.7,
                           final=(0.9, 0.8, 0.95), score_at=lambda m: (0.9, 0.8, 0.95))
    assert one.stable is None and not one.summary.startswith("Decision stable")
    assert one.summary == (
        "Too early to say whether the decision is stable: only one landmark scored. day 35 (early): predicted "
        "completely resectable (p 0.90); all samples (to day 43): predicted completely resectable (p 0.90); "
        "threshold 0.70. No landmark model for: after cycle 2 (day 42).")
    # day 35 and after cycle 2 on the same samples (none drawn on days 36-49): one look, not two
    same = build_trajectory(_models("ok", "ok"), days=[-7, 21, 35], values=values[:3], threshold=0.7,
                            final=(0.9, 0.8, 0.95), score_at=lambda m: (0.9, 0.8, 0.95))
    assert same.stable is None and "the 2 landmarks scored used the same samples (days -7, 21, 35)" in same.summary
    two = build_trajectory(_models("ok", "ok"), days=days, values=values, threshold=0.7,
                           final=(0.9, 0.8, 0.95), score_at=lambda m: (0.9, 0.8, 0.95))
    assert two.stable is True and two.summary.startswith("Decision stable")


_SHIPPED_MARKS = None


def _shipped_landmarks():
    global _SHIPPED_MARKS
    if _SHIPPED_MARKS is None:
        from ca125kinetics.predict import load_model

        _SHIPPED_MARKS = [m.landmark for m in load_model(None).landmarks["models"] if m.model is not None]
    return _SHIPPED_MARKS


@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_nothing_unknown_at_a_landmark_changes_its_prediction(data):
    """The shipped model's landmark prediction is the same whatever happens after D + w (samples
    added, altered, censored or removed; events; a change of assay), and whatever RECIST says
    at a landmark before cycle 3 (given, changed, or unknown)."""
    from ca125kinetics.predict import predict_many

    lm = data.draw(st.sampled_from(_shipped_landmarks()), label="landmark")
    inside = data.draw(st.lists(st.integers(1, lm.last_day), max_size=4, unique=True), label="inside")
    in_window = data.draw(st.integers(lm.first_day, lm.last_day), label="in_window")
    days = sorted({data.draw(st.integers(-14, 0), label="baseline"), *inside, in_window})
    value = st.floats(3, 3000).map(lambda v: round(v, 1))
    values = [round(data.draw(st.floats(80, 5000)), 1)] + [data.draw(value) for _ in days[1:]]
    base = [(d, v, None, "A") for d, v in zip(days, values)]
    if data.draw(st.booleans(), label="event before"):
        free = [d for d in range(1, lm.last_day + 1) if d not in days]
        base.append((data.draw(st.sampled_from(free), label="event day"), None, "paracentesis", "A"))
    after = st.integers(lm.last_day + 1, 150)

    def later(assay):
        rows = data.draw(st.lists(st.tuples(after, st.one_of(value, value.map(lambda v: f"<{v}"), st.none()),
                                            st.sampled_from([None, None, "paracentesis", "thoracentesis",
                                                             "surgery", "mouse_antibody"])),
                                  max_size=4, unique_by=lambda r: r[0]))
        # a row is a sample, an event, or both (an event-only row has no value)
        return [(d, 10.0 if v is None and e is None else v, e, assay) for d, v, e in rows]

    def record(pid, rows, recist):
        every = sorted(base + rows, key=lambda r: r[0])
        markers = {"patient_id": [pid] * len(every)}
        for i, column in enumerate(("day", "ca125", "event", "assay")):
            markers[column] = [r[i] for r in every]
        return markers, {**FACTORS, "recist": recist}

    recists = st.sampled_from(["CR", "PR", "SD", "PD", None])
    first_recist = data.draw(recists, label="recist")
    second_recist = first_recist if lm.uses_recist else data.draw(recists, label="recist, other")
    a = record("a", later("A"), first_recist)
    b = record("b", later(data.draw(st.sampled_from(["A", "B"]), label="assay after")), second_recist)
    # allow_imputed: every on-treatment sample may be excluded (an event before), which
    # withholds the full-series decision and the trajectory by default (rule 5)
    pa, pb = (p.trajectory for p in predict_many([a, b], allow_imputed=True))
    assert pa.status == pb.status == "ok", (pa.summary, pb.summary)
    one, two = ({pt.landmark: pt for pt in t.points}[lm.key] for t in (pa, pb))
    assert one.status == two.status and one.sample_days == two.sample_days and one.reason == two.reason
    if one.status == "ok":
        assert (one.probability, one.p_low, one.p_high, one.decision) == \
            (two.probability, two.p_low, two.p_high, two.decision)


@settings(max_examples=100, deadline=None)
@given(cycles=st.lists(st.integers(1, 4), unique=True, max_size=3),
       early=st.lists(st.integers(8, 60), unique=True, max_size=2), early_window=st.integers(0, 6),
       cycle_window=st.integers(0, 9), rows=st.lists(
           st.tuples(st.integers(-30, 120), st.sampled_from(["100", "<5", "", "", "40"]),
                     st.sampled_from(["", "", "", "paracentesis", "mouse_antibody"])),
           max_size=8, unique_by=lambda r: r[0]))
def test_the_day_rule_under_other_settings_agrees_with_the_independent_reading(cycles, early, early_window,
                                                                                cycle_window, rows):
    """Other cycles, early days and windows: which landmarks are reached, the days of the samples
    each uses, and the not-reached reasons, against tests/data/landmarks_independent.py."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("landmarks_independent", DATA / "landmarks_independent.py")
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)
    rows = [(d, v if v or e else "100", e) for d, v, e in rows]
    try:
        marks = LandmarkSettings(cycles=tuple(cycles), early_days=tuple(early), early_window_days=early_window
                                 ).landmarks(KineticsSettings(cycle_window_days=cycle_window))
    except InvalidInputError:
        assume(False)
    assume(marks)
    expected = {e["point"]: e for e in ref.reference_points(
        [{"day": d, "ca125": v, "event": e} for d, v, e in rows], {},
        ref.landmarks(tuple(cycles), tuple(early), early_window, 21, cycle_window))}
    values = [float(v.lstrip("<")) if v else None for _, v, _ in rows]
    t = build_trajectory([LandmarkModel(lm, "ok", None, {}, object()) for lm in marks],
                         days=[d for d, _, _ in rows], values=values, threshold=0.7, final=(0.5, 0.4, 0.6),
                         score_at=lambda m: (0.5, 0.4, 0.6))
    assert {pt.landmark for pt in t.points} - {"final"} == set(expected) - {"final"}
    status = expected["final"]["trajectory_status"]
    assert t.status == {"scored": "ok"}.get(status, status)
    for pt in t.points:
        e = expected[pt.landmark]
        if pt.landmark == "final":
            assert list(pt.sample_days) == e["sample_days"]
            continue
        assert (pt.status != "not_reached") == bool(e["reached"]), (pt, e)
        assert list(pt.sample_days) == e["sample_days"] and pt.last_day == e["to_day"]


def test_no_landmark_decision_once_the_samples_show_progression():
    """A patient whose CA-125 progression (GCIG) is confirmed on day 84 got 'not a candidate'
    as her recommendation, yet her trajectory said 'predicted completely resectable' after
    cycle 4 and with all samples, and 'Decision stable'. A point whose samples show the
    progression now has status not_candidate: its probability, no decision."""
    from ca125kinetics.predict import predict

    p = predict({"day": [-5, 21, 42, 63, 84], "ca125": [1000, 150, 100, 210, 220]}, {**CLINICAL, "recist": "PR"})
    assert p.decision == "not_candidate_progression"
    points = {pt.landmark: pt for pt in p.trajectory.points}
    # cycle 3 (samples to day 70) holds the first rise only: progression is not confirmed yet
    assert points["cycle3"].status == "ok" and points["cycle3"].decision is not None
    for key in ("cycle4", "final"):
        pt = points[key]
        assert pt.status == "not_candidate" and pt.decision is None and math.isfinite(pt.probability), pt
        assert pt.reason.startswith("no decision: GCIG CA-125 progression"), pt.reason
        assert "not a candidate for secondary cytoreduction, whatever the probability" in pt.reason
    summary = p.trajectory.summary
    assert "and with all samples" not in summary
    assert "No decision at after cycle 4 (day 84), all samples (to day 84): not a candidate" in summary
    assert "no decision: GCIG CA-125 progression" in p.trajectory.to_text()
    same = predict({"day": [-5, 21, 42, 63], "ca125": [1000, 150, 100, 210]}, {**CLINICAL, "recist": "PR"})
    assert same.decision != "not_candidate_progression"
    assert all(pt.status != "not_candidate" for pt in same.trajectory.points)


def test_a_landmark_ruled_out_by_recist_pd_does_not_say_the_samples_show_it():
    """RECIST is imaging, not CA-125: a landmark ruled out by RECIST PD said "RECIST
    progressive disease in the samples up to day 70"; it says the RECIST category is read as
    known by then, and a GCIG progression still says the samples show it."""
    from ca125kinetics.predict import predict

    p = predict({"day": [0, 21, 42, 63, 84], "ca125": [60, 40, 30, 20, 15]}, {**CLINICAL, "recist": "PD"})
    assert p.decision == "not_candidate_recist_pd"
    points = {pt.landmark: pt for pt in p.trajectory.points}
    for key, day in (("cycle3", 70), ("cycle4", 91)):
        assert points[key].status == "not_candidate"
        assert points[key].reason.startswith(f"no decision: RECIST progressive disease, the category read as known "
                                             f"by day {day}: not a candidate"), \
            points[key].reason
        assert "in the samples" not in points[key].reason
    q = predict({"day": [-5, 21, 42, 63, 84], "ca125": [1000, 150, 100, 210, 220]}, {**CLINICAL, "recist": "PR"})
    cycle4 = next(pt for pt in q.trajectory.points if pt.landmark == "cycle4")
    assert cycle4.reason.startswith("no decision: GCIG CA-125 progression in the samples up to day 91: not a candidate")


def test_landmarks_give_no_decision_on_unknown_factors_whichever_rule_decided():
    """ECOG and ascites unknown: the patient's decision is withheld (rule 5) only when the
    rules before it pass; when an earlier rule decided (entry criterion undetermined here),
    the landmarks decided on the imputed factors, silently."""
    from ca125kinetics.predict import predict

    factors = {k: v for k, v in CLINICAL.items() if k not in ("ecog", "ascites_ml", "recist")}
    series = {"day": [-5, 20, 35, 42], "ca125": [400, 300, 150, 120]}
    p = predict(series, factors)
    assert p.decision == "insufficient_information" and p.trajectory.status == "withheld"
    assert "model inputs unknown (ecog, ascites_ml, recist)" in p.trajectory.summary
    assert predict(series, factors, allow_imputed=True).trajectory.status == "ok"
    assert predict(series, {**factors, "ecog": 0, "ascites_ml": 0}).trajectory.status == "ok"


def test_a_landmark_whose_evaluation_patients_hold_one_outcome_is_not_fitted_not_a_failed_run(tmp_path):
    """200 synthetic patients (seed 5): the held-out patients who reach cycle 4 are 10
    complete resections and 1 incomplete. The run failed there, after the main model was
    fitted ('the DeLong interval of the AUC needs at least 2 events and 2 non-events'); that
    landmark is now not fitted, with the reason, and the run completes."""
    import dataclasses

    from ca125kinetics.synth import write_synthetic
    from ca125kinetics.train import TrainingConfig, fit_and_evaluate

    write_synthetic(200, 5, tmp_path)
    config = dataclasses.replace(TrainingConfig(), families=("logistic_main",), n_repeats=1, n_jobs=1,
                                 interval_n_bootstrap=0)
    result = fit_and_evaluate(tmp_path / "markers.csv", tmp_path / "clinical.csv", config=config, synthetic=True)
    table = result.landmarks.set_index("landmark")
    assert table.loc["cycle4", "status"] == "not_fitted"
    assert table.loc["cycle4", "reason"].endswith("fewer than 2 of each outcome to evaluate a model, no model")
    assert (table.drop(index="cycle4")["status"] == "ok").all()


def test_a_landmark_model_withholding_on_its_own_inputs_gives_no_decision():
    """A landmark model that never learned a level (trained on the patients who reached it)
    withholds its row's decision; the trajectory decided on it anyway, without a word."""
    days, values = [-7, 21, 35, 43, 63, 84], [900, 400, 300, 200, 100, 50]

    def score_at(m):
        if m.landmark.key == "cycle4":
            return (0.86, 0.7, 0.9, "insufficient information: give recurrence_pattern", 3, "insufficient_information",
                    "recurrence_pattern")
        return (0.9, 0.8, 0.95, None, 3, "resectable", None)

    t = build_trajectory(_models("ok", "ok", "ok", "ok"), days=days, values=values, threshold=0.7,
                         final=(0.9, 0.8, 0.95), score_at=score_at)
    cycle4 = {pt.landmark: pt for pt in t.points}["cycle4"]
    assert cycle4.status == "insufficient" and cycle4.decision is None
    assert cycle4.reason == ("no decision: model inputs unknown to this landmark's model (recurrence_pattern), "
                             "which it would impute (allow_imputed=True decides on them anyway)")
    assert "No decision at after cycle 4 (day 84): model inputs that landmark's model does not know" in t.summary
    assert "kinetics imputed" not in t.summary and cycle4.reason in t.to_text()
    allowed = build_trajectory(_models("ok", "ok", "ok", "ok"), days=days, values=values, threshold=0.7,
                               final=(0.9, 0.8, 0.95), score_at=score_at, allow_imputed=True)
    assert {pt.landmark: pt for pt in allowed.points}["cycle4"].decision == "resectable"


def test_an_unknown_recist_is_no_imputation_for_the_landmarks_that_learned_it_unknown():
    """allow_imputed=True with RECIST unknown: the summary said every decision rested on an
    imputed RECIST, but the day-35 and cycle-2 models learned RECIST unknown."""
    from ca125kinetics.predict import predict

    clinical = dict(CLINICAL, recist=None)
    t = predict({"day": [-3, 21, 35, 42, 63, 84], "ca125": [400.0, 200.0, 150.0, 100.0, 60.0, 40.0]}, clinical,
                allow_imputed=True).trajectory
    assert ("Decisions resting on imputed inputs (allow_imputed=True): after cycle 3 (day 63): recist; after cycle 4 "
            "(day 84): recist; all samples (to day 84): recist.") in t.summary
    assert "Every decision above" not in t.summary
