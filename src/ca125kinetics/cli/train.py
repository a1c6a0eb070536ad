"""``ca125 train``: train and compare complete-resection classifiers, tracked in MLflow."""

from __future__ import annotations

import argparse
import contextlib
import os

from ..tracking import quiet_mlflow
from ..train import DEFAULT_NAME, format_summary, train


def add_train_arguments(parser) -> None:
    """Arguments of ``ca125 train`` ."""
    parser.add_argument("--markers", required=True, help="markers table (.csv or .parquet)")
    parser.add_argument("--clinical", required=True,
                        help="clinical table with the outcome column complete_resection (.csv or .parquet)")
    parser.add_argument("--config", default=None,
                        help="training configuration: the path of a TOML file, or the name 'default' "
                             "(the built-in configuration, identical to training/default.toml; also used "
                             "when --config is not given)")
    parser.add_argument("--tracking-uri", default=None,
                        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db in "
                             "the working directory)")
    parser.add_argument("--name", default=DEFAULT_NAME,
                        help=f"experiment and registered model name (default {DEFAULT_NAME})")
    parser.add_argument("--out", default=None, help="export directory (default models/<name>)")
    parser.add_argument("--synthetic", action=argparse.BooleanOptionalAction, default=None,
                        help="mark the model as trained on synthetic data or not (default: synthetic when a "
                             "params.json of `ca125 synth` lies beside the markers file)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


@contextlib.contextmanager
def _terminate_as_interrupt():
    """SIGTERM is handled as Ctrl-C, and an interruption stops the worker processes.

    By default SIGTERM ends the process at once: no ``finally`` runs, so the MLflow run stays
    ``RUNNING`` and the joblib (loky) workers of the cross-validation are left behind. Here
    SIGTERM raises :class:`KeyboardInterrupt` instead (the run is then ended ``KILLED``, see
    :mod:`ca125kinetics.tracking`), and on any interruption the worker processes are killed
    before the exception goes on (``ca125`` then exits with code 130).
    """
    import signal

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    except KeyboardInterrupt:
        _kill_workers()
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)


def _kill_workers() -> None:
    """Kill this process's worker processes, then shut joblib's loky executor down.

    The workers are found among the process's children, not only in the executor's list:
    an interruption while loky starts a worker (between its fork and its registration, in
    the first tenth of a second of the cross-validation) leaves a worker the executor does
    not know, and another that no executor thread watches. Both wait for work until loky's
    idle timeout (300 s), and the interpreter's exit waits for them: ``ca125 train`` hung
    for five minutes after Ctrl-C. Every child except the two resource trackers (which
    remove the workers' shared files and end when the workers and this process have) is
    a worker of this command.
    """
    import signal
    from joblib.externals.loky import reusable_executor

    for pid in _child_pids(os.getpid()) - _resource_tracker_pids():
        with contextlib.suppress(OSError):  # it ended meanwhile
            os.kill(pid, signal.SIGKILL)
    executor = getattr(reusable_executor, "_executor", None)
    if executor is not None:
        executor.shutdown(wait=True, kill_workers=True)


def _resource_tracker_pids() -> set[int]:
    """Process ids of the running multiprocessing and loky resource trackers."""
    import multiprocessing.resource_tracker
    from joblib.externals.loky.backend import resource_tracker as loky_tracker

    trackers = (multiprocessing.resource_tracker._resource_tracker, loky_tracker._resource_tracker)
    return {pid for pid in (getattr(t, "_pid", None) for t in trackers) if pid is not None}


def _child_pids(parent: int) -> set[int]:
    """Process ids of ``parent``'s children: from ``/proc`` on Linux, else ``pgrep -P``;
    empty where neither is available (the executor's own shutdown is then all there is)."""
    import subprocess
    from pathlib import Path

    proc = Path("/proc")
    if (proc / "self" / "stat").exists():
        out = set()
        for stat in proc.glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):  # ended meanwhile
                continue
            if int(fields[1]) == parent:
                out.add(int(stat.parent.name))
        return out
    try:
        listed = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True, check=False)
    except OSError:
        return set()
    return {int(pid) for pid in listed.stdout.split()}


def cli_train(args) -> int:
    """Handler of ``ca125 train``: train, then print the summary table on stdout."""
    if args.tracking_uri:
        os.environ["MLFLOW_TRACKING_URI"] = args.tracking_uri
    with quiet_mlflow(), _terminate_as_interrupt():
        result = train(args.markers, args.clinical, config=args.config, tracking_uri=args.tracking_uri,
                       name=args.name, out_dir=args.out, progress=not args.no_progress, synthetic=args.synthetic)
    print(format_summary(result))
    return 0
