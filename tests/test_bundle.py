"""Tests of integrity.py (SHA-256 manifests) and bundle.py (ModelBundle, save/load, export)."""

from __future__ import annotations

import hashlib

import pytest

from ca125kinetics.errors import ModelIntegrityError
from ca125kinetics.integrity import MANIFEST_NAME, read_manifest, verify_manifest, write_manifest


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
