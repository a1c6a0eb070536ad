"""Stopping the worker processes of a command that is interrupted (Ctrl-C or SIGTERM)."""

from __future__ import annotations

import contextlib
import os

from ..errors import _STOP, caused_by_interrupt


#: Whether a :func:`stop_signals_as_interrupt` block is running.
_HANDLING = False


def _stop(signum, frame):
    """The handler of Ctrl-C and SIGTERM under :func:`stop_signals_as_interrupt`: the request is
    recorded (:func:`ca125kinetics.errors.stop_requested`), then raised as Ctrl-C."""
    _STOP.set()
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def stop_signals_as_interrupt():
    """Ctrl-C and SIGTERM stop the block as Ctrl-C does (in the main thread), and the request
    to stop is recorded where the work checks it (:func:`ca125kinetics.errors.check_stop`).

    By default SIGTERM ends the process at once, and no ``finally`` runs: a chunked output's
    hidden ``.NAME.partial`` file stays behind (gigabytes for a registry), an MLflow run stays
    ``RUNNING`` and worker processes are left behind. A batch scheduler stops a job at its time
    limit with SIGTERM. Here SIGTERM raises :class:`KeyboardInterrupt`, so every clean-up runs
    and ``ca125`` exits with code 130 ("ca125: interrupted"), as after Ctrl-C.

    The :class:`KeyboardInterrupt` raised by a signal can be lost inside a library's compiled
    code (see :func:`~ca125kinetics.errors.stop_requested`): the recorded request still stops
    the job where it next writes or commits its output, and the command's exit code is 130.
    A signal the process was started ignoring stays ignored (``nohup``; Ctrl-C of a job a
    script started in the background). A block inside another such block changes nothing (the
    outer one's request stands).
    """
    import signal

    global _HANDLING
    if _HANDLING:
        yield
        return
    _STOP.clear()
    previous = {signum: signal.signal(signum, _stop) for signum in (signal.SIGINT, signal.SIGTERM)
                if signal.getsignal(signum) is not signal.SIG_IGN}
    _HANDLING = True
    try:
        yield
    finally:
        _HANDLING = False
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _STOP.clear()


@contextlib.contextmanager
def stop_workers_on_interrupt():
    """SIGTERM is handled as Ctrl-C (:func:`stop_signals_as_interrupt`), and an interruption
    stops the worker processes before the exception goes on.

    For the commands that start joblib (loky) worker processes: ``ca125 train`` (the
    cross-validation) and ``ca125 validate --bootstrap``. An interrupted MLflow run is ended
    ``KILLED`` (see :mod:`ca125kinetics.tracking`).
    """
    with stop_signals_as_interrupt():
        try:
            yield
        except BaseException as exc:
            if not caused_by_interrupt(exc):
                raise
            _quiet_background_threads()
            kill_workers()
            raise


def _quiet_background_threads() -> None:
    """After an interruption, the process is ending: an error of a background thread about
    the workers it is about to lose (joblib's result callback on a killed worker, logged by
    ``concurrent.futures`` with its traceback; an executor thread's own) is no news, and
    would bury the one line the user should see ("ca125: interrupted")."""
    import logging
    import threading

    logging.getLogger("concurrent.futures").disabled = True
    threading.excepthook = lambda args: None


def kill_workers() -> None:
    """Kill this process's worker processes, then shut joblib's loky executor down.

    The workers are found among the process's children, not only in the executor's list:
    an interruption while loky starts a worker (between its fork and its registration, in
    the first tenth of a second of the parallel work) leaves a worker the executor does
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
        # an interruption inside the start of the executor's thread leaves a thread that
        # cannot be joined (RuntimeError); the workers are dead already
        with contextlib.suppress(RuntimeError):
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
