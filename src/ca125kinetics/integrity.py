"""SHA-256 manifests of model directories: write one, verify one before trusting anything.

A saved model is a pickle, and unpickling runs code. Every exported model directory therefore
carries ``MANIFEST.sha256``, in the format of ``sha256sum`` (one line per file,
``<64 hex digits>  <path relative to the directory, with forward slashes>``), listing
**every other file** under the directory. :func:`verify_manifest` recomputes every digest and
refuses the directory (:class:`~ca125kinetics.errors.ModelIntegrityError`) when a listed file
changed or is missing, when a file is present that the manifest does not list (a planted
file is as suspicious as a changed one), or when the directory holds a symbolic link (its
bytes would live outside the directory). The interpreter's bytecode cache of a listed ``.py``
(``__pycache__/<stem>.*.pyc``, which MLflow's loader and ``pip install`` write) is not a file of
the model, nor is the ``registered_model_meta`` beside an ``MLmodel`` that MLflow writes into a
model it downloads from its registry. Loaders call it before unpickling anything.

A loader reads the files it will load once (:func:`read_files`) and hands those bytes to
:func:`verify_manifest` (``contents``), which checks them rather than the files on disk: what is
unpickled is what was verified, even if a file is replaced between the check and the load.

The manifest can be checked with standard tools too: ``cd <dir> && sha256sum -c MANIFEST.sha256``.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from .errors import ModelIntegrityError

__all__ = ["MANIFEST_NAME", "sha256_file", "write_manifest", "verify_manifest", "read_manifest", "read_files"]

#: File name of the manifest inside a model directory.
MANIFEST_NAME = "MANIFEST.sha256"

_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")
_CHUNK = 1 << 20


def sha256_file(path) -> str:
    """Hex SHA-256 digest of a file's bytes (read in 1 MiB chunks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _files(directory: Path) -> list[str]:
    """Relative POSIX paths of every file under ``directory`` except the manifest, sorted.

    A symbolic link anywhere under ``directory`` is refused: the bytes it stands for live
    elsewhere (they can change after the check, or belong to another model), and a linked
    directory would not be listed at all.
    """
    out = []
    for p in directory.rglob("*"):
        rel = p.relative_to(directory).as_posix()
        if p.is_symlink():
            raise ModelIntegrityError(
                f"{str(directory)!r}: {rel!r} is a symbolic link (to {str(p.readlink())!r}); a model "
                "directory must hold its own files: copy the target in place of the link, or re-export the model")
        if p.is_file() and rel != MANIFEST_NAME and not _is_bytecode_of_source(p) \
                and not _is_registry_download_note(p):
            out.append(rel)
    return sorted(out)


#: The file MLflow writes into a model directory it downloads by a ``models:/`` URI.
REGISTRY_DOWNLOAD_NOTE = "registered_model_meta"


def _is_registry_download_note(path: Path) -> bool:
    """``registered_model_meta`` beside an ``MLmodel``: the note (YAML: the registered name and
    version it was downloaded as) that MLflow writes into every copy of a model it downloads
    by a ``models:/`` URI, after the model was logged, so a manifest written when the model
    was logged cannot list it. Nothing of the package reads it, and it is never code."""
    return path.name == REGISTRY_DOWNLOAD_NOTE and (path.parent / "MLmodel").is_file()


def _is_bytecode_of_source(path: Path) -> bool:
    """``__pycache__/<stem>.<tag>.pyc`` (a file: :func:`_files` checked) beside a ``<stem>.py``:
    the interpreter's cache of that source, not a file of the model.

    MLflow's pyfunc loader imports a model's ``mlflow_model/_pyfunc_code.py`` (writing one
    unless PYTHONDONTWRITEBYTECODE) and ``pip install`` compiles every ``.py`` of a wheel. The
    package never runs code from a model directory (it reads ``scorer.json`` or unpickles the
    verified ``bundle.joblib``); MLflow's loader runs the ``.py`` (or this cache of it) before
    any manifest check, so a cache adds nothing a changed ``.py`` could not do. Any other file
    under ``__pycache__`` stays unknown.
    """
    if path.suffix != ".pyc" or path.parent.name != "__pycache__":
        return False
    return (path.parent.parent / f"{path.name.split('.', 1)[0]}.py").is_file()


def _directory(directory) -> Path:
    path = Path(directory)
    if not path.is_dir():
        raise ModelIntegrityError(f"model directory {str(path)!r} does not exist or is not a directory")
    return path


def write_manifest(directory) -> Path:
    """Write ``MANIFEST.sha256`` listing every file under ``directory`` (recursively).

    Parameters
    ----------
    directory : str or Path
        An existing directory. An existing manifest is replaced.

    Returns
    -------
    Path
        The manifest's path. Lines are sorted by relative path, so the same files give the
        same manifest.
    """
    root = _directory(directory)
    lines = [f"{sha256_file(root / rel)}  {rel}\n" for rel in _files(root)]
    from ._atomic import write_file

    return write_file(root / MANIFEST_NAME, "".join(lines))


def read_manifest(directory) -> dict[str, str]:
    """``{relative path: hex digest}`` from a directory's manifest (validated syntax).

    Raises
    ------
    ModelIntegrityError
        When the manifest is missing, a line is malformed, a path leaves the directory or is
        listed twice.
    """
    root = _directory(directory)
    path = root / MANIFEST_NAME
    if not path.is_file():
        raise ModelIntegrityError(
            f"{str(root)!r} has no {MANIFEST_NAME}: it cannot be verified, so it is not loaded; "
            "re-export the model (ca125 train ... --out DIR) or restore the manifest")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ModelIntegrityError(
            f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}): not a manifest in sha256sum "
            "format; restore it or re-export the model") from exc
    listed: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = _LINE.match(line)
        rel = match.group(2) if match else ""
        if not match or rel.startswith("/") or ".." in Path(rel).parts or rel == MANIFEST_NAME:
            raise ModelIntegrityError(
                f"{path}, line {number}: malformed manifest line {line[:120]!r}; expected "
                "'<64 hex digits>  <relative path>' (sha256sum format)")
        if rel in listed:
            raise ModelIntegrityError(f"{path}, line {number}: file {rel!r} is listed twice")
        listed[rel] = match.group(1)
    return listed


def read_files(*paths) -> dict[Path, bytes]:
    """``{resolved path: bytes}`` of the files a loader is about to verify and load, each read
    once; an absent file is left out (:func:`verify_manifest` then names it if it is listed).
    Give the result to :func:`verify_manifest` as ``contents`` and load from these bytes."""
    out = {}
    for path in paths:
        path = Path(path).resolve()
        if path.is_file():
            out[path] = path.read_bytes()
    return out


def verify_manifest(directory, contents=None) -> None:
    """Check every file of ``directory`` against its ``MANIFEST.sha256``.

    Parameters
    ----------
    directory : str or Path
        The model directory.
    contents : mapping of Path to bytes, optional
        Bytes already read of some of its files (:func:`read_files`, keyed by resolved path):
        those are checked instead of the files on disk, so that the caller loads exactly the
        bytes that were verified (a file replaced after it was read is not loaded unverified).

    Raises
    ------
    ModelIntegrityError
        Naming the first offending file, when a listed file is missing or its SHA-256 differs
        (changed), when a file under the directory is not listed (unknown), or when the
        manifest itself is missing or malformed (or not text), or when a symbolic link is under
        the directory. Nothing is unpickled here.
    """
    root = _directory(directory)
    listed = read_manifest(root)
    present = set(_files(root))
    unknown = sorted(present - set(listed))
    if unknown:
        more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
        raise ModelIntegrityError(
            f"{str(root)!r}: file {unknown[0]!r}{more} is not listed in {MANIFEST_NAME} "
            "(unknown file); remove it, or re-export the model if it belongs there")
    for rel, expected in listed.items():
        if rel not in present:
            raise ModelIntegrityError(
                f"{str(root)!r}: file {rel!r} listed in {MANIFEST_NAME} is missing; "
                "restore the model directory from its source or re-export it")
        data = contents.get((root / rel).resolve()) if contents else None
        actual = sha256_file(root / rel) if data is None else hashlib.sha256(data).hexdigest()
        if actual != expected:
            raise ModelIntegrityError(
                f"{str(root)!r}: file {rel!r} was changed (SHA-256 {actual[:12]}... does not match "
                f"{expected[:12]}... in {MANIFEST_NAME}); restore it or re-export the model")
