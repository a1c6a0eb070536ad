"""Tests of _atomic.py: every output of the package is written whole or not at all.

A write that fails in the middle (here the disk fills up: the process's file size limit,
``RLIMIT_FSIZE``, makes a write past it fail with ``EFBIG`` as a full disk fails with
``ENOSPC``) or a run asked to stop before its output is renamed into place leaves the file
already at the path as it was and no hidden file; the output had been truncated in place.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import pandas as pd
import pytest

from ca125kinetics import errors
from ca125kinetics._atomic import AtomicFile, PipeClosedError, atomic_directory, atomic_file, file_set, write_file
from ca125kinetics.errors import InvalidInputError

EARLIER = "an earlier result"
ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def disk_full(after: int = 4096):
    """Within the block, writing a file past ``after`` bytes fails (``OSError``, ``EFBIG``)."""
    resource = pytest.importorskip("resource")
    import signal

    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)    # the error, not the signal's kill
    resource.setrlimit(resource.RLIMIT_FSIZE, (after, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


@contextlib.contextmanager
def stop_requested():
    """Within the block the process has been asked to stop, its interruption lost."""
    errors._STOP.set()
    try:
        yield
    finally:
        errors._STOP.clear()


def _table(n: int = 3000) -> pd.DataFrame:
    return pd.DataFrame({"patient_id": [f"P{i:05d}" for i in range(n)], "k": [i / 7 for i in range(n)],
                         "status": ["response"] * n})


def _report(path):
    from ca125kinetics.validation import report

    original = report.render_report
    report.render_report = lambda result, title=None: "<html>" + "x" * 20000 + "</html>"
    try:
        return report.write_report(None, path)
    finally:
        report.render_report = original


def _score_output(path):
    from ca125kinetics.cli.score import _write_score_output

    return _write_score_output(_table().to_csv(index=False), 3000, str(path))


def _fhir(path):
    from ca125kinetics.sources.fhir import write_fhir

    return write_fhir({"resourceType": "Bundle", "entry": [{"id": str(i)} for i in range(3000)]}, path)


def _table_as(fmt):
    def write(path):
        from ca125kinetics.io import write_table

        return write_table(_table(), path, fmt=fmt)
    return write


def _manifest(path):
    from ca125kinetics.integrity import write_manifest

    folder = path.parent / "folder"
    if not folder.exists():
        folder.mkdir()
        for i in range(100):
            (folder / f"file{i:03d}.txt").write_text(str(i))
    (folder / "MANIFEST.sha256").write_text(path.read_text())
    try:
        write_manifest(folder)
    finally:
        path.write_text((folder / "MANIFEST.sha256").read_text())


class CommandFailed(Exception):
    """A ``ca125`` command ended with a non-zero exit code (its error was said on stderr)."""


def _command(*argv):
    """Run ``ca125 ARGV`` with ``{out}`` the output; raise :class:`CommandFailed` on failure."""
    def write(path):
        from ca125kinetics.cli import main

        code = main([str(path) if a == "{out}" else a for a in argv])
        if code:
            raise CommandFailed(code)
    return write


DATA = Path(__file__).parent / "data"
NI = ["design", "ni-analysis", "--data", str(DATA / "design_ni_aml.csv"), "--time", "time", "--event", "status",
      "--arm", "x", "--experimental", "Maintained", "--control", "Nonmaintained", "--margin-hr", "1.3", "--at", "36"]
SELECTION = ["design", "selection-trial", "--ppv", "0.7", "--hr-complete", "0.6", "--hr-incomplete", "1.2",
             "--control-median", "12", "--n", "100", "--sims", "20"]
SCREEN = ["screen", "--clinical", str(ROOT / "data" / "synthetic" / "default" / "clinical.csv")]

#: name -> (writer, file name, bytes written before the disk is full)
WRITERS = {"write_table csv": (_table_as("csv"), "out.csv", 4096),
           "write_table parquet": (_table_as("parquet"), "out.parquet", 4096),
           "write_table json": (_table_as("json"), "out.json", 4096),
           "score --out": (_score_output, "scores.csv", 4096),
           "write_report": (_report, "report.html", 4096), "write_fhir": (_fhir, "bundle.json", 4096),
           "write_manifest": (_manifest, "MANIFEST.sha256", 4096),
           "screen --out csv": (_command(*SCREEN, "--out", "{out}"), "screen.csv", 4096),
           "screen --out parquet": (_command(*SCREEN, "--out", "{out}"), "screen.parquet", 4096),
           "design ni-analysis --out": (_command(*NI, "--out", "{out}"), "ni.json", 256),
           "design selection-trial --plot": (_command(*SELECTION, "--plot", "{out}"), "power.png", 4096)}


@pytest.mark.parametrize("name", list(WRITERS))
def test_a_write_failing_midway_leaves_the_earlier_file(tmp_path, name, capsys):
    write, file, limit = WRITERS[name]
    out = tmp_path / file
    out.write_text(EARLIER)
    with disk_full(limit), pytest.raises((OSError, CommandFailed)) as failed:
        write(out)
    assert failed.type is CommandFailed or "too large" in str(failed.value)
    assert "too large" in str(failed.value) + capsys.readouterr().err
    assert out.read_text() == EARLIER
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    write(out)      # and without the failure, the whole output is there
    assert out.stat().st_size > limit


@pytest.mark.parametrize("name", list(WRITERS))
def test_a_stop_requested_before_the_rename_leaves_the_earlier_file(tmp_path, name):
    write, file, _ = WRITERS[name]
    out = tmp_path / file
    out.write_text(EARLIER)
    with stop_requested(), pytest.raises((KeyboardInterrupt, CommandFailed)) as stopped:
        write(out)
    assert stopped.type is KeyboardInterrupt or stopped.value.args == (130,)
    assert out.read_text() == EARLIER
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_atomic_file_follows_a_link_writes_a_device_straight_and_refuses_a_directory(tmp_path):
    real = tmp_path / "real.csv"
    real.write_text(EARLIER)
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    write_file(link, "new\n")
    assert link.is_symlink() and real.read_text() == "new\n"
    write_file("/dev/null", "nothing\n")        # written into, not replaced by a regular file
    assert Path("/dev/null").is_char_device()
    with pytest.raises(InvalidInputError, match="is a directory; give the name of the file"):
        write_file(tmp_path, "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.csv", "real.csv"]


def test_atomic_file_never_follows_what_is_at_its_hidden_name(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("kept")
    (tmp_path / ".out.txt.partial").symlink_to(victim)
    with atomic_file(tmp_path / "out.txt") as handle:
        handle.write(b"written")
    assert victim.read_text() == "kept" and (tmp_path / "out.txt").read_text() == "written"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt", "victim.txt"]


def test_atomic_file_raises_the_error_of_its_block_and_leaves_nothing(tmp_path):
    with pytest.raises(ValueError, match="half"), atomic_file(tmp_path / "new.csv") as handle:
        handle.write(b"a,b\n1,")
        raise ValueError("half a table")
    assert list(tmp_path.iterdir()) == []
    assert AtomicFile(tmp_path / "sub" / "x.csv").path == tmp_path / "sub" / ".x.csv.partial"


# ----------------------------------------------------------------------------- model directories


@pytest.fixture(scope="module")
def shipped_bundle():
    from ca125kinetics.predict.loading import load_model

    return load_model(ROOT / "models" / "default")


def _saved(bundle, root):
    from ca125kinetics.bundle import save_bundle

    return save_bundle(bundle, root)


def _exported(bundle, root):
    from ca125kinetics.mlflow_model import export_model

    return export_model(bundle, root, model_card="# a card\n")


def _listing(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("save", [_saved, _exported], ids=["save_bundle", "export_model"])
@pytest.mark.filterwarnings("ignore:.*type hint is inferred as AnyType:UserWarning")   # mlflow's own, at import
def test_a_model_directory_appears_complete_or_not_at_all(shipped_bundle, tmp_path, save):
    from ca125kinetics.integrity import verify_manifest

    root = tmp_path / "model"
    save(shipped_bundle, root)
    earlier = _listing(root)
    (root / "bundle.json").write_bytes((root / "bundle.json").read_bytes())     # an earlier, verified model
    for interrupted in ("disk full", "stop"):
        with contextlib.ExitStack() as stack:
            if interrupted == "disk full":
                stack.enter_context(disk_full(1024))
                stack.enter_context(pytest.raises(OSError, match="too large"))
            else:
                stack.enter_context(stop_requested())
                stack.enter_context(pytest.raises(KeyboardInterrupt))
            save(shipped_bundle, root)
        assert _listing(root) == earlier, interrupted
        assert sorted(p.name for p in tmp_path.iterdir()) == ["model"], interrupted
    with disk_full(1024), pytest.raises(OSError, match="too large"):
        save(shipped_bundle, tmp_path / "new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]      # nothing, not part of a model
    verify_manifest(save(shipped_bundle, tmp_path / "new"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "new"]


# ----------------------------------------------------------------------------- folders of tables


def _synthetic(folder):
    from ca125kinetics.synth import simulate_cohort

    simulate_cohort(40, seed=3).write(folder)


def _omop(folder):
    from ca125kinetics.sources.omop import write_omop_csv

    write_omop_csv({"measurement": _table(), "person": _table(50)}, folder)


@pytest.mark.parametrize("write, file", [(_synthetic, "markers.csv"), (_omop, "measurement.csv")],
                         ids=["synthetic cohort", "omop csv"])
def test_each_table_of_a_folder_is_written_whole(tmp_path, write, file):
    folder = tmp_path / "tables"
    folder.mkdir()
    (folder / file).write_text(EARLIER)
    with disk_full(2048), pytest.raises(OSError, match="too large"):
        write(folder)
    assert (folder / file).read_text() == EARLIER
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]
    with stop_requested(), pytest.raises(KeyboardInterrupt):
        write(folder)
    assert (folder / file).read_text() == EARLIER
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]


# ----------------------------------------------------------------------------- files that go together


def _failing_at(monkeypatch, name: str, *, stop: bool = False):
    """Opening the output file ``name`` fails (``OSError``, as a full disk) or, with ``stop``,
    the process is asked to stop just then (its interruption lost): the files written before
    it in the same run are complete by then."""
    original = AtomicFile.open

    def open_(self):
        if self.target.name == name:
            if not stop:
                raise OSError(28, "No space left on device")
            errors._STOP.set()
        return original(self)
    monkeypatch.setattr(AtomicFile, "open", open_)


def _extract(folder):
    from ca125kinetics.cli import main
    from ca125kinetics.sources.fhir import cohort_to_fhir, write_fhir

    cohort = ROOT / "data" / "synthetic" / "default"
    bundle = cohort_to_fhir(cohort / "markers.csv", cohort / "clinical.csv")
    source = folder.parent / "one.json"
    if not source.exists():
        write_fhir(dict(bundle, entry=[e for e in bundle["entry"] if "/000001" in e["fullUrl"]]), source)
    code = main(["extract", "fhir", str(source), "--out", str(folder / "markers.csv")])
    if code:
        raise CommandFailed(code)


#: writer of a set of files -> (the files it writes, the one written last)
SETS = {"synthetic cohort": (_synthetic, ["params.json", "markers.csv", "clinical.csv", "truth.csv"], "truth.csv"),
        "omop csv": (_omop, ["measurement.csv", "person.csv"], "person.csv"),
        "extract fhir": (_extract, ["markers.csv", "markers.skipped.csv"], "markers.skipped.csv")}


@pytest.mark.parametrize("name", list(SETS))
@pytest.mark.parametrize("how", ["failure", "stop"])
def test_the_files_of_one_output_are_replaced_together_or_not_at_all(tmp_path, monkeypatch, name, how):
    """A synthetic cohort written over an earlier one failed or stopped at its last table: its
    parameters and first tables were already renamed into place beside the earlier truth, a
    set that did not go together (and a cohort marked synthetic by one run and holding
    another's tables)."""
    write, files, last = SETS[name]
    folder = tmp_path / "set"
    folder.mkdir()
    for file in files:
        (folder / file).write_text(EARLIER)
    _failing_at(monkeypatch, last, stop=how == "stop")
    try:
        with pytest.raises((KeyboardInterrupt if how == "stop" else OSError, CommandFailed)):
            write(folder)
    finally:
        errors._STOP.clear()
    assert {file: (folder / file).read_text() for file in files} == {file: EARLIER for file in files}
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]
    monkeypatch.undo()
    write(folder)       # then written whole, every file
    assert all((folder / file).read_text() != EARLIER for file in files)
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]


def test_a_validation_replaces_its_report_predictions_and_tables_together(tmp_path, monkeypatch):
    """``ca125 validate --predictions --tables`` wrote the predictions before the (long,
    interruptible) bootstrap and the report before the tables: a run stopped or failing on
    the way left new predictions beside the earlier report."""
    from ca125kinetics.cli import main

    cohort = ROOT / "data" / "synthetic" / "default"
    clinical = pd.read_csv(cohort / "clinical.csv", dtype={"patient_id": str}).head(150)
    markers = pd.read_csv(cohort / "markers.csv", dtype={"patient_id": str})
    markers[markers["patient_id"].isin(clinical["patient_id"])].to_csv(tmp_path / "m.csv", index=False)
    clinical.to_csv(tmp_path / "c.csv", index=False)
    report, predictions, tables = tmp_path / "r.html", tmp_path / "p.csv", tmp_path / "tables"
    argv = ["validate", "--model", str(ROOT / "models" / "default"), "--markers", str(tmp_path / "m.csv"),
            "--clinical", str(tmp_path / "c.csv"), "--out", str(report), "--predictions", str(predictions),
            "--tables", str(tables)]
    tables.mkdir()
    for path in (report, predictions, tables / "metrics.csv"):
        path.write_text(EARLIER)
    _failing_at(monkeypatch, "metrics.csv")
    assert main(argv) == 2
    assert [p.read_text() for p in (report, predictions, tables / "metrics.csv")] == [EARLIER] * 3
    assert not list(tmp_path.rglob(".*"))
    monkeypatch.undo()
    assert main(argv) == 0
    assert EARLIER not in [p.read_text() for p in (report, predictions, tables / "metrics.csv")]


def test_a_file_set_renames_in_order_of_writing_once_every_file_is_written(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "sub" / "b.txt"
    a.write_text(EARLIER)
    with file_set():
        write_file(a, "new a")
        with file_set():                # nested: renamed with the outer set
            write_file(b, "first b")
        write_file(b, "second b")       # written again: the last text is the one kept
        assert a.read_text() == EARLIER and not b.exists()      # not before the set ends
        hidden = sorted(p.name for p in tmp_path.rglob(".*"))
        assert hidden == [".a.txt.partial", ".b.txt.partial"]
    assert (a.read_text(), b.read_text()) == ("new a", "second b")
    assert not list(tmp_path.rglob(".*"))
    with pytest.raises(ValueError, match="refused"), file_set():   # an error after the files: none replaced
        write_file(a, "newer a")
        raise ValueError("refused")
    assert a.read_text() == "new a" and not list(tmp_path.rglob(".*"))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes (FIFOs) are POSIX")
@pytest.mark.parametrize("how", ["write_table", "chunks csv", "chunks parquet"])
def test_an_output_pipe_whose_reader_stops_early_is_an_error(tmp_path, how):
    """``--out FIFO`` whose reader quit after a few bytes ended the command with exit 0, as a
    reader of its stdout that has read enough (``| head``) does: the output was lost."""
    import threading

    from ca125kinetics.cohort import ChunkWriter
    from ca125kinetics.io import write_table

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)

    def read_a_little():
        with open(fifo, "rb") as reader:
            reader.read(10)
    reader = threading.Thread(target=read_a_little)
    reader.start()
    big = _table(200_000)
    try:
        with pytest.raises(PipeClosedError, match="stopped before the output was written whole") as caught:
            if how == "write_table":
                write_table(big, fifo, fmt="csv")
            else:
                with ChunkWriter(fifo, how.split()[1]) as writer:
                    for start in range(0, len(big), 20_000):
                        writer.write(big.iloc[start:start + 20_000])
    finally:
        reader.join(timeout=30)
    assert caught.value.filename == str(fifo) and not isinstance(caught.value, BrokenPipeError)
    assert fifo.exists() and not list(tmp_path.glob(".*"))     # the pipe is not replaced


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/dev/stdout names the stream on Linux")
def test_out_dev_stdout_that_is_a_file_is_written_in_the_stream(tmp_path):
    """``{ echo before; ca125 ... --out /dev/stdout; echo after; } > result.txt``: the rename
    replaced the file the shell opened (/dev/stdout is a link to it), so ``before`` was lost,
    and so was everything the process wrote to stdout afterwards (into the replaced file)."""
    import subprocess

    code = ("import sys\nfrom ca125kinetics._atomic import write_file\n"
            "print('before')\nwrite_file('/dev/stdout', 'the table\\n')\nprint('after')\n")
    result = tmp_path / "result.txt"
    with open(result, "w") as stdout:
        subprocess.run([sys.executable, "-c", code], stdout=stdout, check=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert result.read_text() == "before\nthe table\nafter\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.txt"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_a_replaced_file_keeps_its_permissions(tmp_path):
    """A result only its owner may read (chmod 600) became readable by all (the new file's
    default permissions) when the output was renamed over it."""
    out = tmp_path / "scores.csv"
    out.write_text(EARLIER)
    out.chmod(0o600)
    write_file(out, "patient_id\n001\n")
    assert out.read_text() == "patient_id\n001\n" and out.stat().st_mode & 0o777 == 0o600


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_a_replaced_directory_keeps_its_permissions(tmp_path):
    """A model folder only its owner could open (chmod 700) became open to all when a model
    was saved over it."""
    folder = tmp_path / "model"
    folder.mkdir()
    folder.chmod(0o700)
    with atomic_directory(folder) as partial:
        (partial / "bundle.txt").write_text("a model")
    assert (folder / "bundle.txt").read_text() == "a model" and folder.stat().st_mode & 0o777 == 0o700
    with atomic_directory(tmp_path / "new") as partial:      # a new one: as made (the umask)
        pass
    assert (tmp_path / "new").stat().st_mode & 0o777 == 0o777 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
