"""Tests of tracking.py that need no training run: the store lock that lets concurrent first
runs share a new SQLite file (the training-run tests are in tests/test_train.py)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from ca125kinetics.tracking import store_lock

# A process that, once mlflow is imported, says it is ready and waits for the common "go"
# file, then opens the store as ``ca125 train`` does (create and migrate a new database, get
# or create the experiment): all processes hit the new database at the same moment.
OPEN_AT_GO = textwrap.dedent("""
    import pathlib, sys, time, warnings
    warnings.simplefilter("ignore")
    from ca125kinetics.tracking import open_tracking
    import mlflow  # noqa: F401
    pathlib.Path(sys.argv[2]).touch()
    while not pathlib.Path(sys.argv[3]).exists():
        time.sleep(0.001)
    print(open_tracking(sys.argv[1], "race").experiment_id)
""")


def test_concurrent_first_runs_on_a_new_sqlite_file_all_succeed(tmp_path):
    # Without the lock MLflow's table creation races ("duplicate column name: step"): found
    # with three processes on mlflow 3.17, where two of three failed.
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    go = tmp_path / "go"
    ready = [tmp_path / f"ready{i}" for i in range(3)]
    procs = [subprocess.Popen([sys.executable, "-c", OPEN_AT_GO, uri, str(r), str(go)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for r in ready]
    guard = time.monotonic() + 300  # a hang guard, not a speed requirement
    while not all(r.exists() for r in ready) and all(p.poll() is None for p in procs) and time.monotonic() < guard:
        time.sleep(0.01)
    go.touch()
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err[-2000:] for _, err in results]
    assert len({out.strip() for out, _ in results}) == 1  # one experiment, found by all


def test_store_lock_is_exclusive_between_processes(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    probe = textwrap.dedent("""
        import fcntl, sys
        with open(sys.argv[1], "a+b") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                print("held")
            else:
                print("free")
    """)
    lock_file = str(tmp_path / "mlflow.db.lock")

    def other_process_sees():
        return subprocess.run([sys.executable, "-c", probe, lock_file], capture_output=True, text=True,
                              timeout=60).stdout.strip()

    with store_lock(uri):
        assert other_process_sees() == "held"
    assert other_process_sees() == "free"
    with store_lock("http://localhost:5000"):  # a server needs no lock (and no file is made)
        pass


@pytest.mark.skipif(sys.platform == "win32", reason="fcntl")
def test_store_lock_needs_the_database_directory(tmp_path):
    with pytest.raises(FileNotFoundError):
        with store_lock(f"sqlite:///{tmp_path / 'no-such-dir' / 'mlflow.db'}"):
            pass


@pytest.mark.parametrize("uri, message", [
    ("sqlit:///mlruns.db", r"unknown scheme 'sqlit'; use sqlite:///FILE.db"),
    ("sqllite:///mlruns.db", r"unknown scheme 'sqllite'"),
    ("htp://localhost:5000", r"unknown scheme 'htp'"),
])
def test_a_tracking_uri_with_a_misspelt_scheme_is_refused_before_training(uri, message):
    """Used to pass, then fail after the whole run with MLflow's raw
    UnsupportedModelRegistryStoreURIException traceback."""
    from ca125kinetics.errors import InvalidInputError
    from ca125kinetics.tracking import resolve_tracking_uri

    with pytest.raises(InvalidInputError, match=message):
        resolve_tracking_uri(uri)


def test_a_sqlite_file_in_a_missing_directory_is_refused_and_good_uris_pass(tmp_path):
    from ca125kinetics.errors import InvalidInputError
    from ca125kinetics.tracking import resolve_tracking_uri

    with pytest.raises(InvalidInputError, match="does not exist .*create it"):
        resolve_tracking_uri(f"sqlite:///{tmp_path / 'missing' / 'mlflow.db'}")
    assert resolve_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}") == f"sqlite:///{tmp_path / 'mlflow.db'}"
    for uri in ("http://localhost:5000", "https://mlflow.example.org", "postgresql+psycopg2://u@h/db",
                "mysql://u@h/db", "databricks://profile"):
        assert resolve_tracking_uri(uri) == uri


@pytest.mark.filterwarnings("ignore:.*type hint is inferred as AnyType:UserWarning")  # mlflow's import notice
def test_a_tracking_store_that_cannot_be_opened_is_a_one_line_package_error(monkeypatch):
    """A tracking server that is down (or a wrong host) used to end ``ca125 train``, after the
    whole training, in MLflow's raw MlflowException traceback."""
    from mlflow.exceptions import MlflowException

    import ca125kinetics.tracking as tracking
    from ca125kinetics.errors import InvalidInputError

    def refused(client, name, uri):
        raise MlflowException("API request to http://127.0.0.1:9/api/2.0/mlflow/experiments/get-by-name failed "
                              "with exception HTTPConnectionPool(host='127.0.0.1', port=9): Max retries exceeded")

    monkeypatch.setattr(tracking, "_experiment_id", refused)
    with pytest.raises(InvalidInputError, match=r"tracking URI 'http://127.0.0.1:9/': the tracking store could "
                                                r"not be opened \(API request .*\); check the address"):
        tracking.open_tracking("http://127.0.0.1:9/", "x")


@pytest.mark.filterwarnings("ignore:.*type hint is inferred as AnyType:UserWarning")  # mlflow's import notice
@pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated")  # mlflow's database store
def test_a_database_tracking_store_that_is_down_is_a_package_error_without_its_password(monkeypatch):
    """A PostgreSQL tracking store that refuses the connection ended ``ca125 train`` in
    SQLAlchemy's raw OperationalError traceback (MLflow opens a database store in the client's
    constructor, outside the MlflowException handler). The refusal is the one-line package
    error, and it names the URI with its password hidden."""
    pytest.importorskip("psycopg")
    import mlflow.store.db.utils

    from ca125kinetics.errors import InvalidInputError
    from ca125kinetics.tracking import open_tracking

    monkeypatch.setattr(mlflow.store.db.utils, "MAX_RETRY_COUNT", 1)   # MLflow retries for some 100 s

    with pytest.raises(InvalidInputError, match=r"tracking URI 'postgresql\+psycopg://alice:\*\*\*@127.0.0.1:1/"
                                                r"mlflow': the tracking store could not be opened") as refused:
        open_tracking("postgresql+psycopg://alice:S3cretPw@127.0.0.1:1/mlflow", "x")
    assert "S3cretPw" not in str(refused.value)


def test_a_tracking_store_that_cannot_be_opened_stops_training_at_its_next_step(monkeypatch, tmp_path):
    """The store is opened beside the cross-validation; its failure used to surface only after
    the whole fit (a server down was found minutes later)."""
    import threading

    import ca125kinetics.tracking as tracking
    import ca125kinetics.train as train_module
    from ca125kinetics.errors import InvalidInputError

    failed, steps_after = threading.Event(), []

    def refused(uri, name):
        failed.set()
        raise InvalidInputError(f"tracking URI {uri!r}: the tracking store could not be opened (down)")

    def fit(markers, clinical, *, progress, **kwargs):
        failed.wait()
        for _ in range(100_000):       # the fit's steps; the next one after the failure stops it
            steps_after.append(1)
            progress("fold")
            time.sleep(0.001)          # a step of work (lets the failing thread finish)
        raise AssertionError("the fit ran to its end although the tracking store had failed")

    monkeypatch.setattr(tracking, "open_tracking", refused)
    monkeypatch.setattr(train_module, "fit_and_evaluate", fit)
    with pytest.raises(InvalidInputError, match="could not be opened"):
        train_module.train(None, None, tracking_uri="http://127.0.0.1:9/", out_dir=tmp_path / "out",
                           progress=False, synthetic=True)
    assert len(steps_after) < 100_000
