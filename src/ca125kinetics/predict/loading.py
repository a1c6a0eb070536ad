"""Resolve, verify (SHA-256 manifest) and load trained models, with a per-process cache.

Local directories, ``bundle.joblib`` paths and MLflow URIs; a ``models:/`` URI of a local
SQLite registry is resolved with ``sqlite3`` (no mlflow import). Nothing is unpickled before
its manifest is verified, and what is loaded (the pickle or scoring file, and the metadata
checked against it) is the bytes that were verified: each such file is read once.
"""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError, ModelIntegrityError, ModelNotFoundError, caused_by_interrupt, check_stop


_CACHE: dict[str, tuple[Any, Any]] = {}


_CACHE_LOCK = threading.Lock()


_URI_SCHEMES = ("models:/", "runs:/", "mlflow-artifacts:/", "s3://", "gs://", "wasbs://", "hdfs://",
                "dbfs:/", "http://", "https://")


def default_model_dir() -> Path:
    """Directory of the default model: ``$CA125_MODEL_DIR`` if set, else the shipped model,
    package data at ``ca125kinetics/data/models/default``: in a checkout a link to the
    repository's ``models/default``, in a built wheel a copy of its files."""
    env = os.environ.get("CA125_MODEL_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1] / "data" / "models" / "default"


def clear_model_cache() -> None:
    """Forget every loaded model (the next :func:`load_model` verifies and loads again)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def _is_bundle(obj) -> bool:
    from .._compiled import ScoringModel

    return isinstance(obj, ScoringModel) or all(
        hasattr(obj, a) for a in ("pipeline", "predict_proba", "kinetics_features", "threshold"))


def load_model(model=None, *, scoring_only: bool = False):
    """Resolve, verify and load a trained model (a ``ModelBundle``), with caching.

    Parameters
    ----------
    model : None, str, Path or ModelBundle
        * None: the default model, ``default_model_dir()`` (the shipped model, package data;
          the environment variable ``CA125_MODEL_DIR`` overrides it).
        * An exported model directory (``mlflow_model.export_model``): its ``MANIFEST.sha256`` is
          verified before anything is unpickled.
        * A directory holding ``bundle.joblib`` and ``MANIFEST.sha256`` (``save_bundle``), or
          the path of such a ``bundle.joblib``: the manifest of its directory is verified.
        * An MLflow model URI (``models:/name@champion``, ``models:/name/3``, ``runs:/<id>/model``,
          ...). With a local SQLite registry (``MLFLOW_REGISTRY_URI`` or
          ``MLFLOW_TRACKING_URI`` = ``sqlite:///...``) whose artifacts are on the local file
          system, ``models:/`` URIs are resolved with ``sqlite3`` and the artifacts verified
          in place, without importing mlflow; otherwise mlflow downloads them (imported only
          then). Either way the manifest is verified before loading.
        * A ``ModelBundle`` object: returned as is.
    scoring_only : bool
        For a model (local or MLflow) whose bundle directory holds ``scorer.json``, return a
        ``_compiled.ScoringModel`` read from it (after the same manifest check): the same
        scores, no unpickling and no scikit-learn import, so a command that only scores
        starts fast (``ca125 score`` uses it). It has no ``pipeline``.

    Returns
    -------
    ModelBundle (or ScoringModel)

    Raises
    ------
    ModelNotFoundError
        Nothing at that path or URI.
    ModelIntegrityError
        The manifest is missing, or a file changed, is missing or is unknown. joblib/pickle
        runs code on load, so an unverifiable model is never loaded.

    Notes
    -----
    Loaded bundles are cached per resolved location. For a local directory the cache entry is
    reused only while every listed file keeps its size and modification time (otherwise the
    manifest is verified again). A ``models:/`` URI of a local SQLite registry is resolved on
    every call (a moved alias is noticed); a URI mlflow downloads is downloaded once per
    process (:func:`clear_model_cache` forgets it, e.g. after moving an alias).
    """
    if model is not None and not isinstance(model, (str, os.PathLike)):
        if _is_bundle(model):
            return model
        raise InvalidInputError(
            f"model must be None, a path, an MLflow model URI or a ModelBundle, got {type(model).__name__}")
    if model is None:
        location = default_model_dir()
        if not location.exists():
            raise ModelNotFoundError(
                f"no default model at {str(location)!r} (CA125_MODEL_DIR, or the shipped model's place in "
                "the installed package); set CA125_MODEL_DIR to a model directory (one written by ca125 "
                "train --out DIR), pass model=<directory or MLflow URI> (--model), or reinstall the package")
        return _load_local(location, scoring_only)
    text = os.fspath(model)
    if isinstance(model, str) and text.startswith(_URI_SCHEMES):
        return _load_uri(text, scoring_only)
    return _load_local(Path(text), scoring_only)


def _bundle_root(path: Path) -> tuple[Path, Path]:
    """(directory whose manifest covers the bundle, path of bundle.joblib) for a local path."""
    if not path.exists():
        raise ModelNotFoundError(
            f"no model at {str(path)!r}; give an exported model directory, a bundle.joblib path "
            "or an MLflow model URI such as models:/ca125-complete-resection@champion")
    if path.is_file():
        # a bundle.joblib: the nearest enclosing directory with a manifest covers it
        for parent in path.resolve().parents:
            if (parent / "MANIFEST.sha256").is_file():
                return parent, path.resolve()
        raise ModelIntegrityError(
            f"{str(path)!r} is not covered by any MANIFEST.sha256 in its directory or above: it "
            "cannot be verified, so it is not loaded (unpickling runs code); re-export the model")
    candidates = [path / "bundle.joblib"] if (path / "bundle.joblib").is_file() else sorted(
        path.rglob("bundle.joblib"))
    if not candidates:
        raise ModelNotFoundError(
            f"no bundle.joblib under {str(path)!r}; give an exported model directory "
            "(ca125 train ... --out DIR)")
    return path.resolve(), candidates[0].resolve()


def _stamp(root: Path) -> tuple:
    """Sizes and modification times of every file under ``root`` (cheap change detection)."""
    out = []
    for p in sorted(root.rglob("*")):
        if p.is_file():
            st = p.stat()
            out.append((p.relative_to(root).as_posix(), st.st_size, st.st_mtime_ns))
    return tuple(out)


def _load_local(path: Path, scoring_only: bool = False):
    from .._compiled import SCORER_FILE

    root, bundle_path = _bundle_root(path)
    scorer = bundle_path.parent / SCORER_FILE
    scoring_only = scoring_only and scorer.is_file()
    key = f"{'scorer' if scoring_only else 'file'}:{bundle_path}"
    stamp = _stamp(root)
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
        if cached is not None and cached[1] == stamp:
            return cached[0]
        contents = _read_once(root, bundle_path, scorer if scoring_only else None)
        _verify_manifests(root, contents)  # raises ModelIntegrityError before anything is unpickled
        _verify_metadata(root, bundle_path, contents)
        bundle = _read_scorer(scorer, contents) if scoring_only else _unpickle(bundle_path, contents)
        _check_described(bundle, bundle_path.parent / "bundle.json", contents)
        _CACHE[key] = (bundle, stamp)
        return bundle


def _read_once(root: Path, bundle_path: Path, scorer: Path | None) -> dict[Path, bytes]:
    """The bytes of what will be loaded (the pickle, or the scoring file) and of the metadata
    checked against it (the bundle's and the export's ``bundle.json``), each file read once:
    the manifests verify these bytes and the model is loaded from them, so a file replaced
    between the check and the load is never loaded unverified."""
    from ..integrity import read_files

    return read_files(scorer if scorer is not None else bundle_path, bundle_path.parent / "bundle.json",
                      root / "bundle.json")


#: What ``bundle.json`` states of a model that scoring reads from the model itself: the
#: metadata a person reads must be the model that runs.
_DESCRIBED = ("name", "version", "threshold", "trained_on_synthetic", "model_family")


def _check_described(model, meta: Path, contents: dict[Path, bytes]) -> None:
    """``bundle.json`` states the loaded model's name, version, threshold, family and
    synthetic-data flag. A file edited and put under a rewritten manifest (threshold 0.2,
    trained_on_synthetic false) passed every digest while scoring used the model's own
    values: the metadata must describe the model that scores."""
    text = contents.get(meta.resolve())
    if text is None:
        return
    try:
        data = json.loads(text.decode("utf-8"))
    except ValueError as exc:
        raise ModelIntegrityError(f"{str(meta)!r} is not the JSON metadata of a bundle; re-export the model") from exc
    for name in _DESCRIBED:
        if name in data and hasattr(model, name) and data[name] != getattr(model, name):
            raise ModelIntegrityError(
                f"{str(meta)!r} states {name} {data[name]!r} but the model scores with {getattr(model, name)!r}: the "
                "metadata was edited or comes from another export; restore the model directory from its source "
                "or re-export it")


def _verify_manifests(root: Path, contents: dict[Path, bytes]) -> None:
    """Verify ``root``'s manifest and every manifest under it (an exported model holds the
    bundle's own manifest, which MLflow's loader checks: a rewritten outer manifest must not
    hide a change inside), the files in ``contents`` as those bytes."""
    from ..integrity import MANIFEST_NAME, verify_manifest

    manifests = sorted(root.rglob(MANIFEST_NAME))
    if (root / MANIFEST_NAME) not in manifests:
        verify_manifest(root)    # raises: no manifest at the top
    for manifest in manifests:
        verify_manifest(manifest.parent, contents)


def _verify_metadata(root: Path, bundle_path: Path, contents: dict[Path, bytes]) -> None:
    """The metadata beside a verified bundle describes it: ``bundle.json``'s ``bundle_sha256``
    is the pickle's digest and its ``scorer_sha256`` (exports since it was added) the scoring
    file's, and an exported model's top ``bundle.json`` (the one its card describes) is the
    bundle's. Another model's bundle directory, or scoring file, put in place under a
    rewritten manifest passes every digest, but not this. The files in ``contents`` (those
    loaded) are checked as those bytes."""
    import hashlib

    from ..integrity import sha256_file

    def digest(path: Path) -> str:
        data = contents.get(path.resolve())
        return sha256_file(path) if data is None else hashlib.sha256(data).hexdigest()

    meta = bundle_path.parent / "bundle.json"
    text = contents.get(meta.resolve())
    if text is None:
        return
    try:
        data = json.loads(text.decode("utf-8"))
        recorded, scorer_recorded = data.get("bundle_sha256"), data.get("scorer_sha256")
    except (ValueError, AttributeError) as exc:
        raise ModelIntegrityError(f"{str(meta)!r} is not the JSON metadata of a bundle; re-export the model") from exc
    from .._compiled import SCORER_FILE

    scorer = bundle_path.parent / SCORER_FILE
    top = root / "bundle.json"
    if (recorded is not None and recorded != digest(bundle_path)) or (
            scorer_recorded is not None and (not scorer.is_file() or scorer_recorded != digest(scorer))) or (
            top != meta and top.resolve() in contents and contents[top.resolve()] != text):
        raise ModelIntegrityError(
            f"{str(root)!r}: the bundle describes another model than its metadata ({str(meta)!r}"
            f"{'' if top == meta else f' or {str(top)!r}'}): the files come from different exports; "
            "restore the model directory from its source or re-export it")


def _read_scorer(path: Path, contents: dict[Path, bytes]):
    """The scoring file, from its verified bytes."""
    from .._compiled import ScoringModel

    try:
        return ScoringModel(json.loads(contents[path.resolve()].decode("utf-8")))
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelIntegrityError(f"{str(path)!r} is not a readable scoring file ({exc}); re-export the model") \
            from exc


def _unpickle(bundle_path: Path, contents: dict[Path, bytes]):
    """The bundle, unpickled from its verified bytes."""
    from ..bundle import load_bundle_file

    data = contents.get(bundle_path.resolve())
    if data is None:
        raise ModelIntegrityError(f"{str(bundle_path)!r} could not be read; restore the model directory or re-export it")
    return load_bundle_file(bundle_path, data)


_MODELS_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>[0-9]+))/?$")


def _registry_location(uri: str) -> Path | None:
    """Local artifact directory of ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION`` in a
    SQLite MLflow registry, read with ``sqlite3`` (no mlflow import), or None when the
    registry is not a local SQLite file or the artifacts are not on a local file system
    (then mlflow resolves the URI).

    The registry is ``MLFLOW_REGISTRY_URI``, else ``MLFLOW_TRACKING_URI``, else the one set in
    this process's mlflow (``mlflow.set_tracking_uri``), else the store ``ca125 train`` uses
    without them, ``mlflow.db`` in the working directory
    (:func:`ca125kinetics.tracking.resolve_tracking_uri`). The alias is resolved on every
    call, so moving it is noticed at once.
    """
    import sqlite3
    import sys
    from urllib.parse import unquote, urlparse

    from ..settings import TRACKING_DB

    match = _MODELS_URI.match(uri)
    registry = os.environ.get("MLFLOW_REGISTRY_URI") or os.environ.get("MLFLOW_TRACKING_URI")
    if not registry:
        mlflow = sys.modules.get("mlflow")   # imported: its URI may have been set in this process
        registry = mlflow.get_registry_uri() if mlflow is not None else f"sqlite:///{TRACKING_DB}"
    if match is None or not registry.startswith("sqlite:///"):
        return None
    database = Path(unquote(registry[len("sqlite:///"):].split("?", 1)[0])).expanduser()
    if not database.is_file():
        return None
    name, alias, version = match["name"], match["alias"], match["version"]
    try:
        # a relative path (sqlite:///mlflow.db, train's default) is the working directory's
        with sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True) as con:
            if alias is not None:
                found = con.execute("SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?",
                                    (name, alias)).fetchone()
                if found is None:
                    raise ModelNotFoundError(
                        f"could not resolve the MLflow model URI {uri!r}: the registry {registry!r} has no "
                        f"alias {alias!r} for a model {name!r}; check the name/alias/version and MLFLOW_TRACKING_URI")
                version = found[0]
            found = con.execute("SELECT storage_location, status FROM model_versions WHERE name = ? AND version = ?",
                                (name, int(version))).fetchone()
    except sqlite3.Error:
        return None                          # another schema: let mlflow read it
    if found is None:
        raise ModelNotFoundError(
            f"could not resolve the MLflow model URI {uri!r}: the registry {registry!r} has no version "
            f"{version} of a model {name!r}; check the name/alias/version and MLFLOW_TRACKING_URI")
    location, status = found
    if status not in (None, "READY") or not location:
        return None
    parsed = urlparse(location)
    if parsed.scheme not in ("", "file"):
        return None
    path = Path(unquote(parsed.path))
    if not path.is_dir():
        raise ModelNotFoundError(
            f"the MLflow model URI {uri!r} names version {version} of {name!r}, whose artifacts {str(path)!r} "
            f"do not exist (deleted or moved); restore them, or point the alias at another version")
    return path


def _load_uri(uri: str, scoring_only: bool = False):
    """A model from an MLflow URI: a local SQLite registry is read directly and the local
    artifacts verified in place; anything else is downloaded by mlflow, then verified."""
    local = _registry_location(uri)
    if local is not None:
        return _load_artifacts(uri, local, scoring_only, f"uri:{uri}:{local}")
    key = f"uri:{uri}"
    with _CACHE_LOCK:
        downloaded = _CACHE.get(f"download:{uri}")
    if downloaded is not None:
        return _load_artifacts(uri, downloaded[0], scoring_only, key)
    import mlflow.artifacts

    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri))
    except Exception as exc:  # mlflow raises its own exception types
        if caused_by_interrupt(exc):    # an interrupted download is not a missing model
            raise
        check_stop()
        raise ModelNotFoundError(
            f"could not resolve the MLflow model URI {uri!r} ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); check the name/alias/version and "
            "MLFLOW_TRACKING_URI") from exc
    local = local if local.is_dir() else local.parent
    with _CACHE_LOCK:
        _CACHE[f"download:{uri}"] = (local, None)
    return _load_artifacts(uri, local, scoring_only, key)


def _load_artifacts(uri: str, root: Path, scoring_only: bool, key: str):
    """Verify every manifest under ``root`` (the artifacts of an MLflow model), then load the
    bundle they cover (its ``scorer.json`` when ``scoring_only``)."""
    from .._compiled import SCORER_FILE
    from ..integrity import verify_manifest

    key = f"{key}:{'scorer' if scoring_only else 'file'}"
    with _CACHE_LOCK:
        stamp = _stamp(root)
        cached = _CACHE.get(key)
        if cached is not None and cached[1] == stamp:
            return cached[0]
        manifests = sorted(root.rglob("MANIFEST.sha256"))
        if not manifests:
            raise ModelIntegrityError(
                f"the MLflow model {uri!r} carries no MANIFEST.sha256: it cannot be verified, so it "
                "is not loaded (unpickling runs code); log it with ca125kinetics (ca125 train)")
        bundles = sorted(root.rglob("bundle.joblib"))
        if not bundles:
            raise ModelNotFoundError(f"the MLflow model {uri!r} holds no bundle.joblib")
        covered = [b for b in bundles if any(m.parent in b.parents for m in manifests)]
        if not covered:
            raise ModelIntegrityError(
                f"the bundle of the MLflow model {uri!r} is not covered by its MANIFEST.sha256")
        scorer = covered[0].parent / SCORER_FILE
        scoring_only = scoring_only and scorer.is_file()
        contents = _read_once(root, covered[0], scorer if scoring_only else None)
        for manifest in manifests:
            verify_manifest(manifest.parent, contents)
        _verify_metadata(root, covered[0], contents)
        bundle = _read_scorer(scorer, contents) if scoring_only else _unpickle(covered[0], contents)
        _check_described(bundle, covered[0].parent / "bundle.json", contents)   # as for a directory
        _CACHE[key] = (bundle, stamp)
        return bundle
