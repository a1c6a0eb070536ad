"""Tests of integrity.py (SHA-256 manifests) and bundle.py (ModelBundle, save/load, export)."""

from __future__ import annotations

import hashlib

import pytest

from ca125kinetics.errors import ModelIntegrityError
from ca125kinetics.integrity import MANIFEST_NAME, read_manifest, sha256_file, verify_manifest, write_manifest


# ----------------------------------------------------------------------------- integrity


@pytest.fixture
def model_dir(tmp_path):
    root = tmp_path / "model"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_bytes(b"abc")
    (root / "sub" / "b.bin").write_bytes(b"\x00\x01")
    return root


def test_manifest_is_sha256sum_format_with_known_digest(model_dir):
    path = write_manifest(model_dir)
    lines = path.read_text().splitlines()
    # sha256("abc") from FIPS 180-2, appendix B.1
    assert lines[0] == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  a.txt"
    assert lines[1] == hashlib.sha256(b"\x00\x01").hexdigest() + "  sub/b.bin"
    assert len(lines) == 2  # the manifest does not list itself
    verify_manifest(model_dir)
    assert read_manifest(model_dir) == {l.split("  ")[1]: l.split("  ")[0] for l in lines}


def _change(root):
    (root / "sub" / "b.bin").write_bytes(b"\x00\x02")


def _remove(root):
    (root / "a.txt").unlink()


def _plant(root):
    (root / "sub" / "planted.pkl").write_bytes(b"x")


@pytest.mark.parametrize("tamper, message", [
    (_change, r"'sub/b.bin' was changed"),
    (_remove, r"'a.txt' listed in MANIFEST.sha256 is missing"),
    (_plant, r"'sub/planted.pkl' is not listed"),
])
def test_tampering_is_detected_and_the_file_named(model_dir, tamper, message):
    write_manifest(model_dir)
    tamper(model_dir)
    with pytest.raises(ModelIntegrityError, match=message):
        verify_manifest(model_dir)


def test_mlflows_registry_download_note_beside_an_mlmodel_is_not_a_file_of_the_model(model_dir):
    """MLflow writes ``registered_model_meta`` (the registered name and version) into every copy
    of a model it downloads by a ``models:/`` URI, after the model's manifest was written: beside
    an ``MLmodel`` it is not a file of the model; anywhere else it is a planted file."""
    (model_dir / "MLmodel").write_text("flavors: {}\n")
    write_manifest(model_dir)
    (model_dir / "registered_model_meta").write_text("model_name: m\nmodel_version: '1'\n")
    verify_manifest(model_dir)
    assert "registered_model_meta" not in read_manifest(write_manifest(model_dir).parent)
    (model_dir / "sub" / "registered_model_meta").write_text("x")
    with pytest.raises(ModelIntegrityError, match="'sub/registered_model_meta' is not listed"):
        verify_manifest(model_dir)


def test_the_bytecode_cache_of_a_listed_source_is_not_a_file_of_the_model(model_dir):
    """``mlflow.pyfunc.load_model(DIR/mlflow_model)`` imports ``_pyfunc_code.py`` and (unless
    PYTHONDONTWRITEBYTECODE) writes ``__pycache__/_pyfunc_code.cpython-311.pyc`` beside it, and
    ``pip install`` compiles every ``.py`` of a wheel: the cache, an "unknown file", made that
    very load fail in ``load_context`` and the model unloadable by ``ca125 score`` afterwards."""
    (model_dir / "sub" / "code.py").write_text("x = 1\n")
    write_manifest(model_dir)
    cache = model_dir / "sub" / "__pycache__"
    cache.mkdir()
    (cache / "code.cpython-311.pyc").write_bytes(b"compiled")
    verify_manifest(model_dir)
    assert "sub/__pycache__/code.cpython-311.pyc" not in read_manifest(write_manifest(model_dir).parent)
    # anything else under __pycache__ is still a planted file
    (cache / "other.cpython-311.pyc").write_bytes(b"no source beside it")
    with pytest.raises(ModelIntegrityError, match="'sub/__pycache__/other.cpython-311.pyc' is not listed"):
        verify_manifest(model_dir)
    (cache / "other.cpython-311.pyc").unlink()
    (cache / "code.pkl").write_bytes(b"not bytecode")
    with pytest.raises(ModelIntegrityError, match="'sub/__pycache__/code.pkl' is not listed"):
        verify_manifest(model_dir)


def test_missing_or_malformed_manifest(model_dir):
    with pytest.raises(ModelIntegrityError, match="has no MANIFEST.sha256"):
        verify_manifest(model_dir)
    (model_dir / MANIFEST_NAME).write_text("not a digest  a.txt\n")
    with pytest.raises(ModelIntegrityError, match="line 1: malformed"):
        verify_manifest(model_dir)
    (model_dir / MANIFEST_NAME).write_text("0" * 64 + "  ../outside\n")
    with pytest.raises(ModelIntegrityError, match="malformed"):
        verify_manifest(model_dir)
    with pytest.raises(ModelIntegrityError, match="does not exist"):
        verify_manifest(model_dir / "nope")


def test_a_manifest_that_is_not_text_is_refused(model_dir):
    (model_dir / MANIFEST_NAME).write_bytes(b"\xff\xfe\x00 a binary file, not sha256sum output\n")
    with pytest.raises(ModelIntegrityError, match="not UTF-8 text"):
        verify_manifest(model_dir)


@pytest.mark.parametrize("inside", ["a.txt", "sub/c.txt"])
def test_a_symbolic_link_is_refused_even_when_listed(model_dir, tmp_path, inside):
    """A link makes the directory's bytes live elsewhere (they can change after the check, or
    be another model's): refused whatever it points to, even when the manifest lists it with
    the right digest."""
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"abc")
    target = model_dir / inside
    target.unlink(missing_ok=True)
    target.symlink_to(outside)
    (model_dir / MANIFEST_NAME).write_text(
        "".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(model_dir).as_posix()}\n"
                for p in sorted(model_dir.rglob("*")) if p.is_file() and p.name != MANIFEST_NAME))
    with pytest.raises(ModelIntegrityError, match=f"'{inside}' is a symbolic link"):
        verify_manifest(model_dir)


def test_a_linked_directory_is_refused(model_dir, tmp_path):
    write_manifest(model_dir)
    (tmp_path / "elsewhere").mkdir()
    (model_dir / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(ModelIntegrityError, match="'linked' is a symbolic link"):
        verify_manifest(model_dir)
    with pytest.raises(ModelIntegrityError, match="symbolic link"):
        write_manifest(model_dir)


# ----------------------------------------------------------------------------- bundle

import json  # noqa: E402 - sections of this module
import pickle  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ca125kinetics.bundle import (  # noqa: E402
    BUNDLE_FILE,
    SYNTHETIC_FIRST_LINE,
    ModelBundle,
    load_bundle,
    load_bundle_file,
    save_bundle,
)
from ca125kinetics.mlflow_model import export_model, pyfunc_input_example  # noqa: E402
from ca125kinetics.errors import InvalidInputError  # noqa: E402
from ca125kinetics.features import build_patient_frame  # noqa: E402
from ca125kinetics.io import read_clinical, read_markers  # noqa: E402
from ca125kinetics.kinetics import FEATURE_NAMES  # noqa: E402
from ca125kinetics.models import frozen_head, make_pipeline  # noqa: E402
from ca125kinetics.synth import simulate_cohort  # noqa: E402

# mlflow warns at import time about its own agent type hints, and its input-example code
# compares columns with a range (deprecated in pandas 3); both are mlflow internals.
MLFLOW_WARNINGS = [
    "ignore:.*type hint is inferred as AnyType:UserWarning",
    "ignore:Operation with range is deprecated:pandas.errors.Pandas4Warning",
]


@pytest.fixture(scope="module")
def small():
    """A logistic_main bundle on 250 simulated patients, with a 5-member interval ensemble in the
    layout of bundle format 1 (whole head pipelines as members), which must keep scoring."""
    from threadpoolctl import threadpool_limits

    sim = simulate_cohort(250, seed=21)
    clin = read_clinical(sim.clinical)
    markers = read_markers(sim.markers, clinical=clin)
    frame = build_patient_frame(markers, clin)
    operated = clin["complete_resection"].notna().to_numpy()
    X, y = frame[operated].reset_index(drop=True), clin["complete_resection"][operated].astype(int).to_numpy()
    with threadpool_limits(limits=1):
        pipeline = make_pipeline("logistic_main").fit(X, y)
        Xk = pipeline.named_steps["kinetics"].transform(X)
        rng = np.random.default_rng(0)
        members = [frozen_head(pipeline).fit(Xk.iloc[i], y[i])
                   for i in (rng.integers(0, len(y), len(y)) for _ in range(5))]
    bundle = ModelBundle(pipeline=pipeline, name="test-model", version="0.0+test", model_family="logistic_main",
                         threshold=0.7, trained_on_synthetic=True,
                         training_summary={"n": int(len(y)), "events": int(y.sum()), "data_digest": "abc"},
                         interval={"method": "bootstrap_percentile", "level": 0.9, "members": members})
    return bundle, frame, markers, clin


def test_predict_proba_keeps_rows_and_gives_an_interval(small):
    bundle, frame, _, _ = small
    rows = frame.iloc[[5, 2, 9]]
    out = bundle.predict_proba(rows)
    assert out.index.tolist() == [5, 2, 9] and out.columns.tolist() == ["p", "p_low", "p_high"]
    np.testing.assert_allclose(out["p"], bundle.pipeline.predict_proba(rows)[:, 1])
    assert np.all((out["p_low"] > 0) & (out["p_low"] <= out["p_high"]) & (out["p_high"] < 1))
    members = np.vstack([m.predict_proba(bundle.pipeline.named_steps["kinetics"].transform(rows))[:, 1]
                         for m in bundle.interval["members"]])
    np.testing.assert_allclose(out["p_low"], np.quantile(members, 0.05, axis=0))  # level 0.9
    bare = ModelBundle(pipeline=bundle.pipeline, name="x", version="1", model_family="logistic_main")
    assert bare.predict_proba(rows)[["p_low", "p_high"]].isna().all().all()


def test_kinetics_features_and_metadata(small):
    bundle, frame, _, _ = small
    feats = bundle.kinetics_features(frame.head(3))
    assert set(FEATURE_NAMES) <= set(feats.columns)
    meta = json.loads(json.dumps(bundle.to_dict()))  # JSON-ready
    assert meta["interval"] == {"method": "bootstrap_percentile", "level": 0.9, "n_members": 5}
    assert meta["kinetics_settings"]["k_ref"] == 0.05 and meta["pipeline_steps"][0] == "kinetics"
    with pytest.raises(InvalidInputError, match="threshold"):
        ModelBundle(pipeline=None, name="x", version="1", model_family="m", threshold=1.5)


def test_save_and_load_round_trip(small, tmp_path):
    bundle, frame, _, _ = small
    root = save_bundle(bundle, tmp_path / "b")
    assert sorted(p.name for p in root.iterdir()) == ["MANIFEST.sha256", "bundle.joblib", "bundle.json"]
    meta = json.loads((root / "bundle.json").read_text())
    assert meta["bundle_sha256"] == read_manifest(root)["bundle.joblib"]
    loaded = load_bundle(root)
    pd.testing.assert_frame_equal(loaded.predict_proba(frame.head(20)), bundle.predict_proba(frame.head(20)))
    save_bundle(bundle, root)  # a previous bundle is replaced
    (root / "notes.txt").write_text("x")
    with pytest.raises(InvalidInputError, match="holds other files"):
        save_bundle(bundle, root)


def test_a_changed_bundle_is_refused_before_unpickling(small, tmp_path):
    bundle, _, _, _ = small
    root = save_bundle(bundle, tmp_path / "b")
    (root / BUNDLE_FILE).write_bytes(b"not a pickle at all")  # unpickling would raise something else
    with pytest.raises(ModelIntegrityError, match="'bundle.joblib' was changed"):
        load_bundle(root)
    foreign = tmp_path / "foreign.joblib"
    foreign.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(ModelIntegrityError, match="does not hold a ca125kinetics ModelBundle"):
        load_bundle_file(foreign)


#: Calls of :func:`_ran_unverified`: code run by unpickling a file that was never verified.
UNVERIFIED_RUNS = []


def _ran_unverified():
    UNVERIFIED_RUNS.append(1)
    return {"planted": True}


class _Planted:
    def __reduce__(self):
        return _ran_unverified, ()


@pytest.mark.filterwarnings(*MLFLOW_WARNINGS)
@pytest.mark.parametrize("loader", ["load_bundle", "load_model", "load_model_scoring_only", "pyfunc"])
def test_a_file_replaced_after_its_check_is_not_loaded(small, tmp_path, monkeypatch, loader):
    """Verify-then-load race: the manifest was checked on the file's bytes, then the file was
    opened again to unpickle it (or to read the scoring file), so a pickle swapped in between
    ran unverified. Each loader now loads the bytes it verified."""
    import dataclasses
    from types import SimpleNamespace

    import joblib

    import ca125kinetics.bundle as bundle_module
    import ca125kinetics.mlflow_model as mlflow_model
    from ca125kinetics._compiled import SCORER_FILE
    from ca125kinetics.predict import clear_model_cache, load_model, loading

    bundle = dataclasses.replace(small[0], interval={})      # with a scoring file
    root = save_bundle(bundle, tmp_path / "b")
    victim = root / (SCORER_FILE if loader == "load_model_scoring_only" else BUNDLE_FILE)
    # the last check before the load: the manifest (load_bundle, pyfunc), the metadata (load_model)
    if loader.startswith("load_model"):
        checks, name = (loading,), "_verify_metadata"
    else:
        checks, name = (bundle_module, mlflow_model), "verify_manifest"
    real = getattr(checks[0], name)

    def check_then_swap(*args, **kwargs):
        real(*args, **kwargs)
        if loader == "load_model_scoring_only":
            data = json.loads(victim.read_text())
            data["threshold"] = 0.05
            victim.write_text(json.dumps(data))
        else:
            joblib.dump(_Planted(), victim)

    for module in checks:
        monkeypatch.setattr(module, name, check_then_swap)
    UNVERIFIED_RUNS.clear()
    clear_model_cache()
    try:
        if loader == "load_bundle":
            loaded = load_bundle(root)
        elif loader == "pyfunc":
            pyfunc = mlflow_model.pyfunc_model()
            pyfunc.load_context(SimpleNamespace(artifacts={"bundle": str(root)}))
            loaded = pyfunc.bundle
        else:
            loaded = load_model(root, scoring_only=loader == "load_model_scoring_only")
    finally:
        clear_model_cache()
    assert not UNVERIFIED_RUNS
    assert loaded.version == bundle.version and loaded.threshold == bundle.threshold


def test_content_digest_follows_what_the_model_computes_not_its_name(small, tmp_path):
    """The digest behind a model's version: the same for the same fitted numbers (after a save
    and load, under another name or version), different when one coefficient moves by one ulp
    or the threshold changes."""
    import copy
    import dataclasses

    from ca125kinetics.bundle import content_digest

    from ca125kinetics._compiled import scorer_dict

    small_bundle, _, _, _ = small
    # the format-1 interval members cannot be written as numbers (joblib.hash of the parts);
    # without them, the scoring file's data is hashed
    plain = dataclasses.replace(small_bundle, interval={})
    assert scorer_dict(small_bundle) is None and scorer_dict(plain) is not None
    for bundle, where in ((small_bundle, tmp_path / "b"), (plain, tmp_path / "plain")):
        digest = content_digest(bundle)
        assert len(digest) == 64 and digest == content_digest(bundle)
        assert content_digest(load_bundle(save_bundle(bundle, where))) == digest
        assert content_digest(dataclasses.replace(bundle, name="other", version="9+x")) == digest
        assert content_digest(dataclasses.replace(bundle, threshold=0.6)) != digest
        moved = copy.deepcopy(bundle)
        coef = moved.pipeline.named_steps["classifier"].coef_
        coef[0, 0] = np.nextafter(coef[0, 0], np.inf)
        assert content_digest(moved) != digest
    assert content_digest(plain) != content_digest(small_bundle)


@pytest.mark.filterwarnings(*MLFLOW_WARNINGS)
def test_export_layout_manifest_card_and_pyfunc_round_trip(small, tmp_path):
    import mlflow.pyfunc

    from ca125kinetics.predict import load_model, score_frame

    bundle, _, markers, clin = small
    example = pyfunc_input_example(markers, clin, ["000001", "000002", "000003"])
    out = export_model(bundle, tmp_path / "export", input_example=example, model_card="# Card\n")
    names = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert {"MANIFEST.sha256", "bundle.json", "model_card.md", "mlflow_model/MLmodel",
            "mlflow_model/artifacts/bundle/bundle.joblib", "mlflow_model/artifacts/bundle/MANIFEST.sha256",
            "mlflow_model/input_example.json"} <= names
    assert set(read_manifest(out)) == names - {"MANIFEST.sha256"}  # every other file, nothing else
    assert "mlflow_model/python_model.pkl" not in names    # models from code: the pyfunc is not pickled
    verify_manifest(out)
    assert (out / "model_card.md").read_text().splitlines()[0] == SYNTHETIC_FIRST_LINE

    model = mlflow.pyfunc.load_model(str(out / "mlflow_model"))
    schema = {c.name: c.required for c in model.metadata.get_input_schema().inputs}
    assert schema["patient_id"] and schema["day"] and not schema["ecog"]
    served = model.predict(example)
    direct = score_frame(bundle, example)
    pd.testing.assert_frame_equal(served.reset_index(drop=True), direct.reset_index(drop=True))
    assert served["probability"].notna().all()
    loaded = load_model(out)  # predict's loader finds and verifies the exported bundle
    assert loaded.version == bundle.version

    export_model(bundle, out)  # an existing export is replaced
    (out / "mlflow_model" / "artifacts" / "bundle" / "bundle.joblib").write_bytes(b"tampered")
    with pytest.raises(ModelIntegrityError, match="bundle.joblib"):
        mlflow.pyfunc.load_model(str(out / "mlflow_model"))


@pytest.mark.filterwarnings(*MLFLOW_WARNINGS)
def test_the_mlflow_model_of_an_export_carries_its_own_manifest(small, tmp_path):
    """The MLflow model directory (``MLmodel``, ``_pyfunc_code.py``, ...) was covered only by the
    export's top manifest: copied or served on its own (the directory MLflow loads), its code
    file and MLmodel were under no manifest, unlike the bundle beside them. It now carries its
    own, as a model logged to a registry does, and ``load_context`` checks it."""
    import mlflow.pyfunc

    bundle, _, markers, clin = small
    out = export_model(bundle, tmp_path / "export", model_card="# Card\n")
    model = out / "mlflow_model"
    listed = read_manifest(model)
    assert {"MLmodel", "_pyfunc_code.py", "requirements.txt", "artifacts/bundle/MANIFEST.sha256",
            "artifacts/bundle/bundle.joblib"} <= set(listed)
    verify_manifest(model)
    verify_manifest(out)                                    # the inner manifest is a listed file
    alone = shutil.copytree(model, tmp_path / "alone")      # the MLflow model without its export
    with open(alone / "requirements.txt", "a") as handle:
        handle.write("something-else==1.0\n")
    with pytest.raises(ModelIntegrityError, match="'requirements.txt' was changed"):
        mlflow.pyfunc.load_model(str(alone))


def test_exports_pickled_before_models_from_code_still_find_their_class():
    """Exports before the "models from code" format pickled the pyfunc class by the name
    ca125kinetics.bundle.Ca125PyfuncModel; that name still gives the class (mlflow imported)."""
    pytest.importorskip("mlflow")
    from ca125kinetics import mlflow_model

    old_reference = b"cca125kinetics.bundle\nCa125PyfuncModel\n."     # pickle's GLOBAL opcode
    assert pickle.loads(old_reference) is mlflow_model.Ca125PyfuncModel


def test_export_refuses_a_foreign_directory(small, tmp_path):
    bundle, _, _, _ = small
    (tmp_path / "data.csv").write_text("important")
    with pytest.raises(InvalidInputError, match="does not look like an exported model"):
        export_model(bundle, tmp_path)
    assert (tmp_path / "data.csv").read_text() == "important"



def test_export_refuses_a_link_before_anything_is_replaced(small, tmp_path):
    """An export path that is a link to an exported model passed the check train makes before
    fitting, then failed after training with shutil's untyped OSError ('Cannot call rmtree on a
    symbolic link')."""
    bundle, _, _, _ = small
    real = export_model(bundle, tmp_path / "real")
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    before = sorted(p.name for p in real.iterdir())
    with pytest.raises(InvalidInputError, match="is a symbolic link .*give the directory itself"):
        export_model(bundle, tmp_path / "link")
    assert sorted(p.name for p in real.iterdir()) == before


# ----------------------------------------------------------------------------- the shipped models
#
# Every model under models/ is checked against its own metadata: what a load reads is covered by
# its manifest and refused when changed before anything is read, its scoring file scores as its
# pickle, its version follows its content, its card's numbers are its bundle's, and every output
# names it and says it was trained on synthetic data.

import io  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted(p.parent for p in (ROOT / "models").glob("*/MANIFEST.sha256"))
SHIPPED_FILES = [(d, p.relative_to(d).as_posix()) for d in SHIPPED for p in sorted(d.rglob("*")) if p.is_file()]


def _shipped_id(item):
    return f"{item[0].name}:{item[1]}" if isinstance(item, tuple) else item.name


def test_every_shipped_model_is_listed():
    assert [d.name for d in SHIPPED] == ["default"]
    assert len(SHIPPED_FILES) >= 13


def test_the_shipped_model_is_what_its_documented_command_trains(tmp_path):
    """The model card's "How to reproduce" holds at this revision: the documented command
    (training/README.md), run on the committed cohort, trains the shipped model. A change of
    the code that moves the fitted numbers fails here until models/default is re-exported (and
    the references that use it are regenerated, as their READMEs say): the shipped model had
    drifted that way once (full-series probabilities up to 7e-7 apart, a landmark's up to 0.11).

    Compared by the predictions of 300 committed patients (full series and every landmark,
    with intervals) to 1e-6, not by the version string: the version hashes every fitted number
    bit for bit, and another processor's floating point (numba compiles for the host) may
    differ in the last bits. On this machine the versions are equal too."""
    import subprocess
    import sys

    from ca125kinetics.predict import load_model, predict_many

    out = tmp_path / "default"
    cohort = ROOT / "data" / "synthetic" / "default"
    done = subprocess.run([sys.executable, "-m", "ca125kinetics.cli", "train",
                           "--markers", str(cohort / "markers.csv"), "--clinical", str(cohort / "clinical.csv"),
                           "--config", str(ROOT / "training" / "default.toml"), "--out", str(out),
                           "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}", "--no-progress"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=900)  # a hang guard
    assert done.returncode == 0, done.stderr
    markers = read_markers(cohort / "markers.csv")
    clinical = read_clinical(cohort / "clinical.csv")
    ids = clinical["patient_id"].iloc[::10].tolist()
    pairs = [(markers[markers["patient_id"] == i], clinical[clinical["patient_id"] == i]) for i in ids]

    def points(model_dir):
        rows = []
        for p in predict_many(pairs, model=load_model(model_dir)):
            rows.append((p.probability, p.p_low, p.p_high))
            rows.extend((t.probability, t.p_low, t.p_high) for t in p.trajectory.points)
        return np.array(rows, dtype=float)

    trained, shipped = points(out), points(ROOT / "models" / "default")
    assert trained.shape == shipped.shape and np.isfinite(shipped).sum() > 1000
    np.testing.assert_allclose(trained, shipped, rtol=0, atol=1e-6, equal_nan=True)


@pytest.fixture
def no_reading(monkeypatch):
    """Loading must stop before the bundle is unpickled or its scoring file read."""
    from ca125kinetics.predict import clear_model_cache, loading

    def refuse(*_args):
        raise AssertionError("the model was read before the change was noticed")

    monkeypatch.setattr(loading, "_unpickle", refuse)
    monkeypatch.setattr(loading, "_read_scorer", refuse)
    clear_model_cache()
    yield
    clear_model_cache()


@pytest.mark.parametrize("scoring_only", [False, True])
@pytest.mark.parametrize("shipped", SHIPPED_FILES, ids=_shipped_id)
def test_a_changed_byte_in_any_file_of_a_shipped_model_is_refused_before_reading(shipped, scoring_only,
                                                                                  tmp_path, no_reading):
    from ca125kinetics.predict import load_model

    directory, rel = shipped
    copy = shutil.copytree(directory, tmp_path / directory.name)
    data = bytearray((copy / rel).read_bytes())
    data[len(data) // 2] ^= 0x01
    (copy / rel).write_bytes(bytes(data))
    # the top manifest itself: a line made malformed, or a digest or path that no longer matches
    expected = "." if rel == MANIFEST_NAME else rf"'{re.escape(rel)}' was changed"
    with pytest.raises(ModelIntegrityError, match=expected):
        load_model(copy, scoring_only=scoring_only)


@pytest.mark.parametrize("shipped", SHIPPED, ids=_shipped_id)
def test_a_shipped_model_missing_a_file_or_holding_another_is_refused(shipped, tmp_path, no_reading):
    from ca125kinetics.predict import load_model

    copy = shutil.copytree(shipped, tmp_path / shipped.name)
    (copy / "mlflow_model" / "artifacts" / "bundle" / "scorer.json").unlink()
    with pytest.raises(ModelIntegrityError, match="'mlflow_model/artifacts/bundle/scorer.json' listed in .* is missing"):
        load_model(copy, scoring_only=True)
    shutil.rmtree(copy)
    copy = shutil.copytree(shipped, tmp_path / shipped.name)
    (copy / "mlflow_model" / "python_model.pkl").write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(ModelIntegrityError, match="'mlflow_model/python_model.pkl' is not listed"):
        load_model(copy)


@pytest.mark.parametrize("shipped", SHIPPED, ids=_shipped_id)
def test_another_models_bundle_under_a_rewritten_manifest_is_refused_before_reading(shipped, small, tmp_path,
                                                                                    no_reading):
    """Another model's whole bundle directory (pickle, scoring file, metadata, own manifest)
    put in place of the shipped one and the top manifest rewritten: every digest matches, but
    the export's bundle.json (which the card describes) is not the bundle's, nor its recorded
    SHA-256 the pickle's."""
    from ca125kinetics.predict import load_model

    copy = shutil.copytree(shipped, tmp_path / shipped.name)
    inner = copy / "mlflow_model" / "artifacts" / "bundle"
    shutil.rmtree(inner)
    save_bundle(small[0], inner)
    write_manifest(copy / "mlflow_model")    # the registered model's own manifest
    write_manifest(copy)
    for scoring_only in (False, True):
        with pytest.raises(ModelIntegrityError, match="describes another model"):
            load_model(copy, scoring_only=scoring_only)


def test_an_edited_scoring_file_under_rewritten_manifests_is_refused(small, tmp_path, no_reading):
    """scorer.json edited (one number of the model) and both manifests rewritten: every
    digest matched, and ``ca125 score`` (which reads scorer.json) and the pickled pipeline
    (pyfunc, --no-scorer) would have given different probabilities. bundle.json records the
    scoring file's SHA-256 beside the pickle's."""
    import json

    from ca125kinetics.predict import load_model

    import dataclasses

    no_members = {"method": "bootstrap_percentile", "level": 0.9, "members": []}     # then a scoring file
    root = save_bundle(dataclasses.replace(small[0], interval=no_members), tmp_path / "b")
    meta = json.loads((root / "bundle.json").read_text())
    assert meta["scorer_sha256"] == sha256_file(root / "scorer.json")
    data = json.loads((root / "scorer.json").read_text())
    data["threshold"] = 0.123
    (root / "scorer.json").write_text(json.dumps(data, sort_keys=True) + "\n")
    write_manifest(root)
    for scoring_only in (False, True):
        with pytest.raises(ModelIntegrityError, match="describes another model"):
            load_model(root, scoring_only=scoring_only)


@pytest.mark.parametrize(("field", "value"), [("threshold", 0.2), ("trained_on_synthetic", False)])
@pytest.mark.parametrize("shipped", SHIPPED, ids=_shipped_id)
def test_edited_metadata_under_rewritten_manifests_is_refused(shipped, field, value, tmp_path):
    """Both bundle.json copies edited (threshold 0.2, or trained_on_synthetic false) and both
    manifests rewritten: every digest matched, and the model loaded and scored with its own
    threshold 0.7 and synthetic flag while the metadata a person reads said otherwise."""
    import json

    from ca125kinetics.predict import load_model

    copy = shutil.copytree(shipped, tmp_path / shipped.name)
    inner = copy / "mlflow_model" / "artifacts" / "bundle"
    for meta in (copy / "bundle.json", inner / "bundle.json"):
        data = json.loads(meta.read_text())
        data[field] = value
        meta.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    write_manifest(inner)
    write_manifest(copy / "mlflow_model")    # the registered model's own manifest
    write_manifest(copy)
    for scoring_only in (False, True):
        with pytest.raises(ModelIntegrityError, match=f"states {field} {value!r} but the model scores with"):
            load_model(copy, scoring_only=scoring_only)


@pytest.mark.parametrize("shipped", SHIPPED, ids=_shipped_id)
def test_a_shipped_model_carries_the_package_pyfunc_code(shipped):
    """MLflow runs the model's code file on mlflow.pyfunc.load_model (before load_context can
    check anything): the shipped file is the package's, byte for byte."""
    from ca125kinetics.mlflow_model import PYFUNC_CODE

    assert (shipped / "mlflow_model" / PYFUNC_CODE.name).read_bytes() == PYFUNC_CODE.read_bytes()


@pytest.fixture(scope="module")
def shipped_loaded():
    from ca125kinetics.predict import clear_model_cache, load_model

    clear_model_cache()
    return {d.name: (load_model(d), load_model(d, scoring_only=True), json.loads((d / "bundle.json").read_text()))
            for d in SHIPPED}


@pytest.mark.parametrize("shipped", SHIPPED, ids=_shipped_id)
def test_a_shipped_scoring_file_is_its_pickled_model(shipped, shipped_loaded, committed_cohort):
    """``ca125 score`` reads scorer.json, Python's load_model the pickle: the same metadata and
    the same predictions (landmark trajectories included) on 300 committed patients."""
    from ca125kinetics.predict import predict_cohort

    full, light, meta = shipped_loaded[shipped.name]
    inner = json.loads((shipped / "mlflow_model" / "artifacts" / "bundle" / "bundle.json").read_text())
    assert inner == meta and full.to_dict() == {k: v for k, v in meta.items()
                                                if k not in ("bundle_sha256", "scorer_sha256")}
    assert meta["bundle_sha256"] == read_manifest(shipped)["mlflow_model/artifacts/bundle/bundle.joblib"]
    for name in ("name", "version", "model_family", "threshold", "trained_on_synthetic"):
        assert getattr(light, name) == meta[name], name
    assert light.gcig_settings.to_dict() == meta["gcig_settings"]
    assert light.kinetics_settings.to_dict() == meta["kinetics_settings"]
    assert {k: list(v) for k, v in light.feature_ranges.items()} == meta["feature_ranges"]
    assert [m.to_dict() for m in light.landmarks["models"]] == meta["landmarks"]["models"]
    assert {m.model.version for m in light.landmarks["models"] if m.model} == {meta["version"]}
    markers, clinical = committed_cohort
    ids = sorted(clinical["patient_id"])[:300]
    rows, clin = markers[markers["patient_id"].isin(ids)], clinical[clinical["patient_id"].isin(ids)]
    pd.testing.assert_frame_equal(predict_cohort(rows, clin, model=light), predict_cohort(rows, clin, model=full))


@pytest.mark.parametrize("shipped", SHIPPED, ids=_shipped_id)
def test_a_shipped_version_is_its_data_settings_and_content(shipped, shipped_loaded):
    from ca125kinetics.train import load_config, model_version

    full, _, meta = shipped_loaded[shipped.name]
    summary = meta["training_summary"]
    assert full.version == model_version(summary["data_digest"], load_config(summary["config"]), full)
    assert full.version.startswith(summary["package_version"] + "+")


def _ci(value, low, high, digits=3):
    return f"{value:.{digits}f} ({low:.{digits}f} to {high:.{digits}f})"


@pytest.mark.parametrize("shipped", SHIPPED, ids=_shipped_id)
def test_a_shipped_model_card_states_its_bundles_numbers(shipped):
    """Every number of the card that the bundle stores (cohort sizes, exclusions, digest,
    selection, recalibration, k_ref and its source, interval, held-out and CV metrics of the
    selected model, AUC differences, landmark metrics, settings, config) is the bundle's, in the
    card's rounding; the card says synthetic data and research use. The rest of the card (the
    other families' and scores' rows) comes from training tables the bundle does not keep."""
    from ca125kinetics.settings import GcigSettings, KineticsSettings

    meta = json.loads((shipped / "bundle.json").read_text())
    card = (shipped / "model_card.md").read_text(encoding="utf-8")
    s, cfg = meta["training_summary"], meta["training_summary"]["config"]
    assert meta["trained_on_synthetic"] is True
    assert card.splitlines()[0] == SYNTHETIC_FIRST_LINE
    assert "Research software, **not a medical device**" in card and "Trained and evaluated on **synthetic** data" in card
    rec = s["recalibration"]
    family = meta["model_family"]
    expected = [
        f"# Model card: {meta['name']} ({meta['version']})",
        f"Trained {s['date']} with ca125kinetics {s['package_version']}.",
        f"The decision threshold shipped with the model is p >= {meta['threshold']:.2f}",
        f"- Patients in the data: {s['n_patients_in_data']}; used: {s['n'] + s['n_holdout']} (",
        f"- Development set: {s['n']}; held-out set: {s['n_holdout']} (stratified, fraction "
        f"{cfg['cv']['holdout_fraction']:g}, seed {cfg['seed']})",
        *(f"- Excluded: {e['n']} ({e['reason']})" for e in s["exclusions"]),
        f"- Data digest (SHA-256 of the canonical markers and clinical tables): `{s['data_digest']}`",
        f"- Family: **{family}**",
        f"- Selection: {s['selection_reason']}",
        f"- Recalibration: {rec['reason']}" + (f" (applied: logit p' = {rec['intercept']:.3f} + {rec['slope']:.3f} "
                                               "logit p)" if rec["applied"] else ""),
        f"- k_ref: {meta['kinetics_settings']['k_ref']:.4g} per day ({meta['kinetics_settings']['k_ref_source']})",
        f"{meta['interval']['level']:.0%} percentile interval over {meta['interval']['n_bootstrap']} bootstrap refits",
        f"## Performance ({s['evaluation_set']} patients, n = {s['n_holdout']})",
        f"| {family} (selected) | {s['n_holdout']} | {_ci(s['auc'], *s['auc_ci'])} | {s['brier']:.3f} | "
        f"{s['citl']:.2f} (",
        f"{cfg['cv']['n_splits']}-fold stratified cross-validation repeated {cfg['cv']['n_repeats']} times",
        f"| {family} | {s['cv_auc_mean']:.3f} ({s['cv_auc_sd']:.3f}) |",
        f"- GCIG: `{GcigSettings.from_dict(meta['gcig_settings']).to_json()}`",
        f"- Kinetics: `{KineticsSettings.from_dict(meta['kinetics_settings']).to_json()}`",
        f"- Training config ({s['config_source']}): `{json.dumps(cfg, sort_keys=True)}`",
        f"with tables whose data digest is `{s['data_digest']}`",
    ]
    for m in meta["landmarks"]["models"]:
        r = m["metrics"]
        expected.append(f"| {r['label']} | {r['last_day']} | {r['first_day']} | {r['n_fit']} | {r['n']} | "
                        f"{_ci(r['auc'], r['auc_ci_low'], r['auc_ci_high'])} | "
                        f"{_ci(r['calibration_slope'], r['calibration_slope_ci_low'], r['calibration_slope_ci_high'], 2)} | "
                        f"{_ci(r['citl'], r['citl_ci_low'], r['citl_ci_high'], 2)} | "
                        f"{_ci(r['agreement'], r['agreement_ci_low'], r['agreement_ci_high'])} |")
    missing = [line for line in expected if line not in card]
    assert not missing, missing
    assert re.search(rf"\| {family} \(selected\) \| .* \| {s['calibration_slope']:.2f} \(", card)
    for score, label in (("ago", "AGO"), ("imodel", "iMODEL"), ("mskcc", "MSKCC")):
        assert re.search(rf"^\| {label} \| \d+ \| [0-9.]+ \| {s['comparison'][score]:.3f} \(", card, re.M), label
    assert sum(e["n"] for e in s["exclusions"]) == s["n_excluded"] == s["n_patients_in_data"] - s["n"] - s["n_holdout"]
    assert meta["interval"]["n_members"] == meta["interval"]["n_bootstrap"] == cfg["interval"]["n_bootstrap"]
    assert meta["threshold"] == cfg["threshold"]
    assert s["data_digest"][:12] in meta["kinetics_settings"]["k_ref_source"]


@pytest.fixture(scope="module")
def three_patients(tmp_path_factory):
    """Three committed patients (one operated with every factor known) as CSV files."""
    root = tmp_path_factory.mktemp("three")
    markers = pd.read_csv(ROOT / "data" / "synthetic" / "default" / "markers.csv", dtype={"patient_id": str})
    clinical = pd.read_csv(ROOT / "data" / "synthetic" / "default" / "clinical.csv", dtype={"patient_id": str})
    ids = ["000001", "000003", "000004"]
    markers[markers["patient_id"].isin(ids)].to_csv(root / "markers.csv", index=False)
    clinical[clinical["patient_id"].isin(ids)].to_csv(root / "clinical.csv", index=False)
    return root, ids


@pytest.mark.parametrize("fmt", ["text", "json", "csv", "parquet"])
@pytest.mark.parametrize("patients", ["one", "several"])
@pytest.mark.parametrize("shipped", SHIPPED, ids=_shipped_id)
def test_every_output_of_a_shipped_model_names_it_and_says_synthetic(shipped, shipped_loaded, three_patients,
                                                                      fmt, patients, tmp_path, capsys):
    """``ca125 score`` with a shipped model, one patient or several, in every format: the
    model's name and version, ``trained_on_synthetic`` and the rules it applied."""
    from ca125kinetics.cli import main

    full, _, meta = shipped_loaded[shipped.name]
    root, ids = three_patients
    argv = ["score", "--markers", str(root / "markers.csv"), "--clinical", str(root / "clinical.csv"),
            "--model", str(shipped)] + (["--patient", ids[0]] if patients == "one" else [])
    out = tmp_path / "scores.parquet"
    assert main(argv + (["--out", str(out)] if fmt == "parquet" else ["--format", fmt])) == 0
    text = capsys.readouterr().out
    name, version = meta["name"], meta["version"]
    if fmt == "text":
        assert f"{name} {version}" in text and "trained on synthetic data" in text.lower()
        assert "k_ref" in text or "threshold" in text
        return
    if fmt == "json" and patients == "one":
        record = json.loads(text)
        assert (record["model"]["name"], record["model"]["version"]) == (name, version)
        assert record["model"]["trained_on_synthetic"] is True and "synthetic" in record["recommendation"].lower()
        assert record["rules"]["model"] == f"{name} {version}" and record["rules"]["gcig"]["uln"] == 35.0
        return
    table = (pd.read_parquet(out) if fmt == "parquet" else pd.DataFrame(json.loads(text)) if fmt == "json"
             else pd.read_csv(io.StringIO(text), dtype={"patient_id": str}))
    assert len(table) == (1 if patients == "one" else 3)
    assert set(table["model_name"]) == {name} and set(table["model_version"]) == {version}
    assert table["trained_on_synthetic"].astype(bool).all()
    rules = [json.loads(r) for r in table["rules"]]
    assert all(r["model"] == f"{name} {version}" for r in rules)
    assert all(json.loads(t)["kinetics"]["k_ref"] == meta["kinetics_settings"]["k_ref"] for t in table["settings_json"])
    assert table["recommendation"].str.contains("synthetic", case=False).all()
