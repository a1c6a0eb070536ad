"""The compiled model head (``ca125kinetics._compiled``) against scikit-learn.

The compiled head replays the fitted steps after the kinetics step on numpy arrays; every
number it gives must be scikit-learn's (``pipeline.predict_proba``, each interval member's
``predict_proba``) to rounding, for every model family, with and without recalibration, and
for both layouts of the interval ensemble.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from threadpoolctl import threadpool_limits

from ca125kinetics._compiled import _DOT_ROWS, _dot, compile_head, percentile_interval
from ca125kinetics._logistic import expit, logit
from ca125kinetics.bundle import ModelBundle
from ca125kinetics.features import build_patient_frame
from ca125kinetics.models import RecalibratedClassifier, frozen_classifier, frozen_head, make_pipeline
from ca125kinetics.synth import simulate_cohort

TOL = 1e-12


@pytest.fixture(scope="module")
def data():
    sim = simulate_cohort(320, seed=5)
    frame = build_patient_frame(sim.markers, sim.clinical)
    truth = sim.truth.set_index("patient_id").reindex(frame["patient_id"])
    y = truth["complete_resection_potential"].to_numpy(dtype=int)
    # unknown clinical values and an unseen category reach the model too
    frame.loc[frame.index[:15], "ecog"] = None
    frame.loc[frame.index[15:30], "figo_stage"] = None
    frame.loc[frame.index[30:40], "recurrence_pattern"] = None
    return frame, y


def _fit(family, frame, y, recalibrate=False):
    params = {"Cs": [0.01, 0.1, 1.0], "inner_cv": 3} if family == "logistic_spline" else None
    pipeline = make_pipeline(family, params=params)
    if recalibrate:
        pipeline.steps[-1] = ("classifier", RecalibratedClassifier(pipeline.steps[-1][1], intercept=0.2, slope=0.8))
    with threadpool_limits(limits=1):
        return pipeline.fit(frame, y)


@pytest.mark.parametrize("family,recalibrate", [
    ("logistic_main", False), ("logistic_main", True), ("logistic_spline", False), ("logistic_spline", True),
    ("gradient_boosting", False), ("gradient_boosting", True)])
def test_compiled_head_equals_the_pipeline(data, family, recalibrate):
    frame, y = data
    pipeline = _fit(family, frame, y, recalibrate)
    head = compile_head(pipeline)
    assert head is not None
    # the classifier is replayed from its fitted numbers, never by its own predict_proba
    assert (head.classifier.linear is not None) != (head.classifier.forest is not None)
    transformed = pipeline[0].transform(frame)
    p, low, high = head.predict(transformed, len(transformed))
    np.testing.assert_allclose(p, pipeline.predict_proba(frame)[:, 1], rtol=0, atol=TOL)
    assert np.isnan(low).all() and np.isnan(high).all()
    # one patient at a time, from plain arrays, as predict() calls it
    for i in (0, 20, 35, 200):
        cols = {c: transformed[c].to_numpy(dtype=object)[i:i + 1] for c in transformed.columns}
        np.testing.assert_allclose(head.predict(cols, 1)[0], p[i:i + 1], rtol=0, atol=TOL)


@pytest.mark.parametrize("family", ["logistic_main", "gradient_boosting"])
def test_design_members_give_the_percentile_interval_of_their_predictions(data, family):
    frame, y = data
    pipeline = _fit(family, frame, y, recalibrate=family == "logistic_main")
    transformed = pipeline[0].transform(frame)
    design = pipeline[1:-1].transform(transformed)
    rng = np.random.default_rng(1)
    members = [frozen_classifier(pipeline).fit(design[i], y[i])
               for i in (rng.integers(0, len(y), len(y)) for _ in range(6))]
    interval = {"method": "bootstrap_percentile", "level": 0.8, "members_input": "design", "members": members}
    bundle = ModelBundle(pipeline=pipeline, name="t", version="1", model_family=family, interval=interval)
    out = bundle.predict_proba(frame)
    draws = np.vstack([m.predict_proba(design)[:, 1] for m in members])
    np.testing.assert_allclose(out["p"], pipeline.predict_proba(frame)[:, 1], rtol=0, atol=TOL)
    np.testing.assert_allclose(out["p_low"], np.quantile(draws, 0.1, axis=0), rtol=0, atol=TOL)
    np.testing.assert_allclose(out["p_high"], np.quantile(draws, 0.9, axis=0), rtol=0, atol=TOL)
    if family == "logistic_main":   # all linear with one recalibration: one matrix product
        assert bundle.compiled().member_matrix is not None
    else:                            # all trees: one walk through the stacked forest
        assert bundle.compiled().member_forest is not None


def _recalibrated(slope):
    return lambda z: expit(0.07 + slope * logit(expit(z)))


@settings(max_examples=200, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 12), st.integers(1, 45)),
              elements=st.one_of(st.floats(-40, 40), st.sampled_from([0.0, 1.0, -3.0, np.nan]))),
       st.one_of(st.sampled_from([0.95, 0.8, 0.5]), st.floats(0.0, 1.0)),
       st.sampled_from([0.0, 0.9, 1.0, 2.5]))
def test_percentile_interval_is_numpy_quantile_of_the_transformed_draws(z, level, slope):
    """Bit for bit ``numpy.quantile`` of every transformed draw (ties, NaN rows, any number of
    members), with the non-decreasing link applied only to the order statistics it needs."""
    link = _recalibrated(slope)
    expected = np.quantile(link(z), [(1 - level) / 2, (1 + level) / 2], axis=1)
    for got in (percentile_interval(z, level, link), percentile_interval(link(z), level)):
        for g, e in zip(got, expected):     # bit for bit (the sign of a zero, NaN where NaN)
            np.testing.assert_array_equal(np.isnan(g), np.isnan(e))
            np.testing.assert_array_equal(g[~np.isnan(g)].view(np.int64), e[~np.isnan(e)].view(np.int64))


@pytest.mark.parametrize("n", [1, 7, _DOT_ROWS, _DOT_ROWS + 1, 2 * _DOT_ROWS + 5])
def test_dot_is_the_running_sum_whatever_the_rows(n):
    """Every entry of ``_dot(x, W)`` is ``((0 + x_0 W_0k) + x_1 W_1k) + ...`` bit for bit (the
    members' linear predictors), in blocks of rows or not; and a patient's entries, of a matrix
    or of a vector (the classifier), do not depend on the other rows scored with it."""
    rng = np.random.default_rng(n)
    x, w = rng.normal(size=(n, 34)) * 10.0 ** rng.integers(-3, 4, size=34), rng.normal(size=(34, 40))
    x[rng.random((n, 34)) < 0.05] = 0.0
    running = np.zeros((n, 40))
    for j in range(34):
        running = running + x[:, j, None] * w[j]
    got = _dot(x, w)
    assert got.flags.c_contiguous
    np.testing.assert_array_equal(got.view(np.int64), running.view(np.int64))
    v = w[:, 0].copy()
    for i in sorted({0, n // 2, n - 1}):
        np.testing.assert_array_equal(_dot(x[i:i + 1], w).view(np.int64), got[i:i + 1].view(np.int64))
        np.testing.assert_array_equal(_dot(x[i:i + 1], v).view(np.int64), _dot(x, v)[i:i + 1].view(np.int64))


def test_a_decreasing_recalibration_transforms_every_draw(data):
    """A negative recalibration slope reverses the order: the head then takes the quantiles
    of the probabilities themselves (not of the linear predictors)."""
    frame, y = data
    pipeline = _fit("logistic_main", frame, y, recalibrate=True)
    design = pipeline[1:-1].transform(pipeline[0].transform(frame))
    rng = np.random.default_rng(3)
    members = [frozen_classifier(pipeline).fit(design[i], y[i])
               for i in (rng.integers(0, len(y), len(y)) for _ in range(7))]
    for m in members:
        m.slope = -abs(m.slope)
    interval = {"method": "bootstrap_percentile", "level": 0.8, "members_input": "design", "members": members}
    bundle = ModelBundle(pipeline=pipeline, name="t", version="1", model_family="logistic_main", interval=interval)
    out = bundle.predict_proba(frame)
    draws = np.vstack([m.predict_proba(design)[:, 1] for m in members])
    assert bundle.compiled().member_matrix is not None and not bundle.compiled().members[0].increasing()
    np.testing.assert_allclose(out["p_low"], np.quantile(draws, 0.1, axis=0), rtol=0, atol=TOL)
    np.testing.assert_allclose(out["p_high"], np.quantile(draws, 0.9, axis=0), rtol=0, atol=TOL)


def test_format_1_members_still_score(data):
    frame, y = data
    pipeline = _fit("logistic_main", frame, y)
    transformed = pipeline[0].transform(frame)
    rng = np.random.default_rng(2)
    members = [frozen_head(pipeline).fit(transformed.iloc[i], y[i])
               for i in (rng.integers(0, len(y), len(y)) for _ in range(4))]
    bundle = ModelBundle(pipeline=pipeline, name="t", version="1", model_family="logistic_main",
                         interval={"method": "bootstrap_percentile", "level": 0.95, "members": members})
    out = bundle.predict_proba(frame)
    draws = np.vstack([m.predict_proba(transformed)[:, 1] for m in members])
    np.testing.assert_allclose(out["p_low"], np.quantile(draws, 0.025, axis=0), rtol=0, atol=TOL)
    np.testing.assert_allclose(out["p_high"], np.quantile(draws, 0.975, axis=0), rtol=0, atol=TOL)


def test_an_unknown_pipeline_shape_is_scored_by_scikit_learn(data):
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    frame, y = data
    fitted = _fit("logistic_main", frame, y)
    steps = list(fitted.steps)
    steps.insert(2, ("identity", FunctionTransformer()))   # a step the compiler does not know
    pipeline = Pipeline(steps)
    pipeline.steps[2] = ("identity", FunctionTransformer().fit(fitted[:2].transform(frame)))
    assert compile_head(pipeline) is None
    bundle = ModelBundle(pipeline=pipeline, name="t", version="1", model_family="logistic_main")
    np.testing.assert_allclose(bundle.predict_proba(frame)["p"], fitted.predict_proba(frame)[:, 1], atol=TOL)


def test_the_compiled_head_is_rebuilt_when_the_model_changes_and_never_pickled(data):
    frame, y = data
    pipeline = _fit("logistic_main", frame, y)
    bundle = ModelBundle(pipeline=pipeline, name="t", version="1", model_family="logistic_main")
    first = bundle.compiled()
    assert bundle.compiled() is first
    assert "_compiled_head" not in pickle.loads(pickle.dumps(bundle)).__dict__
    bundle.pipeline = _fit("logistic_main", frame, 1 - y)
    assert bundle.compiled() is not first
    np.testing.assert_allclose(bundle.predict_proba(frame)["p"], bundle.pipeline.predict_proba(frame)[:, 1],
                               atol=TOL)


def _bundle(family, data, recalibrate=False):
    frame, y = data
    pipeline = _fit(family, frame, y, recalibrate)
    design = pipeline[1:-1].transform(pipeline[0].transform(frame))
    rng = np.random.default_rng(3)
    members = [frozen_classifier(pipeline).fit(design[i], y[i])
               for i in (rng.integers(0, len(y), len(y)) for _ in range(5))]
    return ModelBundle(pipeline=pipeline, name="t", version="1", model_family=family, trained_on_synthetic=True,
                       feature_ranges={"age": (30.0, 80.0)},
                       interval={"method": "bootstrap_percentile", "level": 0.9, "members_input": "design",
                                 "members": members})


@pytest.mark.parametrize("family", ["logistic_main", "logistic_spline", "gradient_boosting"])
def test_the_scoring_file_scores_exactly_as_the_bundle(data, tmp_path, family):
    import importlib

    from ca125kinetics._compiled import ScoringModel
    from ca125kinetics.bundle import save_bundle

    P = importlib.import_module("ca125kinetics.predict")
    bundle = _bundle(family, data, recalibrate=True)
    save_bundle(bundle, tmp_path / "b")
    assert (tmp_path / "b" / "scorer.json").is_file()
    light = P.load_model(tmp_path / "b", scoring_only=True)
    assert isinstance(light, ScoringModel)
    sim = simulate_cohort(60, seed=9)
    full = P.predict_cohort(sim.markers, sim.clinical, model=bundle)
    fast = P.predict_cohort(sim.markers, sim.clinical, model=light)
    assert full.drop(columns="settings_json").equals(fast.drop(columns="settings_json"))
    assert full["settings_json"].equals(fast["settings_json"])


def test_models_the_scoring_file_cannot_hold_are_unpickled(data, tmp_path):
    import importlib

    from sklearn.preprocessing import FunctionTransformer

    from ca125kinetics.bundle import save_bundle

    P = importlib.import_module("ca125kinetics.predict")
    bundle = _bundle("logistic_main", data)
    # a preprocessing step of a kind the compiler only calls (its own transform): no plain numbers
    pre = bundle.pipeline.named_steps["preprocess"]
    pre.steps[-1] = ("scale", FunctionTransformer(np.negative).fit(np.zeros((1, 1))))
    save_bundle(bundle, tmp_path / "odd")
    assert not (tmp_path / "odd" / "scorer.json").exists()
    assert isinstance(P.load_model(tmp_path / "odd", scoring_only=True), ModelBundle)


def test_spline_terms_are_replayed_beyond_the_training_range(data):
    """Values outside the knots' range take the transformer's linear extrapolation."""
    frame, y = data
    pipeline = _fit("logistic_spline", frame, y)
    head = compile_head(pipeline)
    assert {s.kind for part in head.parts for s in part.steps} >= {"spline"}
    transformed = pipeline[0].transform(frame).iloc[:40].copy()
    transformed["age"] = np.linspace(5, 119, 40)
    transformed["pfi_months"] = np.geomspace(0.05, 500, 40)
    transformed["ca125_at_recurrence"] = np.geomspace(0.5, 1e5, 40)
    transformed["log_k"] = np.linspace(-9, 1, 40)
    transformed["pct_decline_c2"] = np.linspace(-300, 100, 40)
    expected = pipeline[1:].predict_proba(transformed)[:, 1]
    np.testing.assert_allclose(head.predict(transformed, 40)[0], expected, rtol=0, atol=TOL)


def test_a_changed_scoring_file_is_refused(data, tmp_path):
    import importlib

    from ca125kinetics.bundle import save_bundle
    from ca125kinetics.errors import ModelIntegrityError

    P = importlib.import_module("ca125kinetics.predict")
    save_bundle(_bundle("logistic_main", data), tmp_path / "b")
    scorer = tmp_path / "b" / "scorer.json"
    scorer.write_text(scorer.read_text().replace('"threshold": 0.7', '"threshold": 0.1'))
    P.clear_model_cache()
    with pytest.raises(ModelIntegrityError, match="scorer.json"):
        P.load_model(tmp_path / "b", scoring_only=True)
