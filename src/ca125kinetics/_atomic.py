"""Outputs written whole or not at all: every file and model directory the package writes.

A file is written to a hidden sibling (``.NAME.partial``) and renamed into place
(``os.replace``) only when its writing ended without an error and without a stop request
(:func:`ca125kinetics.errors.stop_requested`); otherwise the hidden file is removed. A run
stopped or failing in the middle of a write so leaves no truncated file that looks complete,
and the file already at the path (an earlier, good result) stays as it was.

* A path that is a symbolic link to a file is followed: the file it names is replaced and
  the link stays.
* A path that is no file (a device or a pipe: ``/dev/stdout``, ``/dev/null``, a FIFO) is
  written straight into, never replaced (a rename would put a regular file in place of the
  device, and the output would never reach it). So is a path naming this process's stdout or
  stderr when that is a file (``--out /dev/stdout > result.txt``): the output goes into the
  stream where it stands, after what was written before it; a rename had replaced the file
  the shell opened, losing what the stream held and everything written to it afterwards.
* A pipe whose reader stops before the output is whole (a FIFO given as the output) is an
  error, :class:`PipeClosedError`: the output was lost. (This process's stdout is not: a
  reader of the command's stdout that has read enough, ``| head``, ends the command quietly.)
* A file replaced keeps its permissions (an output only its owner may read stays so).
* The hidden name is predictable: whatever is there (a partial file left by a run killed
  outright, a symbolic link planted in a shared folder) is removed, never followed, and the
  file is created new (``O_EXCL | O_NOFOLLOW``) and written through one handle.

A directory (a saved model) is built in a hidden sibling directory and renamed into place the
same way (:func:`atomic_directory`).

Files that belong together (a synthetic cohort's tables, extracted markers and their skipped
records, a validation's report, predictions and tables) are written inside :func:`file_set`:
each to its hidden file as above, all renamed into place one after the other when the whole
set is written, none when any failed or a stop was requested. A run stopped after its first
file no longer leaves a new file beside an old one that does not go with it.

:class:`AtomicFile` is the one implementation: :func:`atomic_file` and :func:`write_file`
(whole outputs) and :class:`ca125kinetics.cohort.ChunkWriter` (outputs written chunk by
chunk) use it.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

from .errors import InvalidInputError, check_stop, stop_requested

__all__ = ["AtomicFile", "atomic_file", "write_file", "atomic_directory", "file_set", "PipeClosedError"]


class PipeClosedError(OSError):
    """The program reading the pipe an output was written to (a FIFO named as the output)
    stopped reading before the output was written whole: the output is lost."""


class AtomicFile:
    """Where an output file is written before it is renamed into place, and that rename.

    Parameters
    ----------
    path : str or Path
        The output file. Its folder is created. A directory there is refused.

    Attributes
    ----------
    target : Path
        The file replaced on success (a link to a file resolved to the file it names).
    direct : bool
        The target is a device or a pipe, or this process's stdout or stderr, written straight
        into (:attr:`path` is the target).
    path : Path
        Where the bytes go: the hidden ``.NAME.partial`` beside the target, or the target.
    """

    def __init__(self, path):
        self.target = Path(path)
        #: the descriptor (1 or 2) of this process's stdout or stderr when ``path`` names it
        self.stream = _standard_stream(self.target)
        if self.target.is_dir():
            raise InvalidInputError(f"{self.target} is a directory; give the name of the file to write")
        if self.target.is_symlink() and self.target.is_file():
            self.target = self.target.resolve()
        self.direct = self.stream is not None or (self.target.exists() and not self.target.is_file())
        if self.direct:
            self.path = self.target
        else:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            self.path = self.target.with_name(f".{self.target.name}.partial")

    def open(self):
        """A new binary handle to write through: the device or pipe itself, or the hidden
        partial file created new, after removing (not following) whatever was there."""
        if self.stream is not None:     # after what the stream holds: its own text flushed first
            import sys

            text = sys.stdout if self.stream == 1 else sys.stderr
            if text is not None:
                text.flush()
            return os.fdopen(os.dup(self.stream), "wb")
        if self.direct:
            return open(self.path, "wb")  # noqa: SIM115 - the caller closes it
        try:
            self.path.unlink()      # a link itself, never the file it names
        except FileNotFoundError:
            pass
        except IsADirectoryError as exc:
            raise InvalidInputError(f"{self.path} is a directory in the place of the hidden file the output is "
                                    f"written to before it is renamed to {self.target.name}; remove it") from exc
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
        try:
            descriptor = os.open(self.path, flags, 0o666)
        except FileExistsError as exc:
            raise InvalidInputError(f"{self.path} was created by another process while this one wrote its output "
                                    f"there; write the output to a folder only you write to") from exc
        return os.fdopen(descriptor, "wb")

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Where the output is written: a pipe named as the output (not this process's stdout
        or stderr) whose reader has gone raises :class:`PipeClosedError`, not the
        ``BrokenPipeError`` a command takes for a reader of its stdout that has read enough."""
        try:
            yield
        except BrokenPipeError as exc:
            if self.direct and self.stream is None:
                raise PipeClosedError(errno.EPIPE, "the program reading this pipe stopped before the output was "
                                      "written whole; the output is lost (read it to the end, or write to a file)",
                                      str(self.target)) from exc
            raise

    def finish(self, complete: bool) -> None:
        """Rename the hidden file into place when ``complete`` and no stop was requested;
        remove it in every case (it is gone once renamed). A device or a pipe: nothing to do.
        Inside :func:`file_set`, a complete file waits for the set: renamed when the set ends."""
        if self.direct:
            return
        pending = _FILE_SET.get()
        if complete and pending is not None and not stop_requested():
            # the same file written again in the set: its earlier hidden file was replaced by
            # this one (:meth:`open`), which is the one renamed
            pending[:] = [out for out in pending if out.path != self.path] + [self]
            return
        self._rename(complete and not stop_requested())

    def _rename(self, complete: bool) -> None:
        """Rename the hidden file into place when ``complete``; remove it in every case."""
        try:
            if complete:
                with contextlib.suppress(FileNotFoundError):    # an earlier file's permissions kept
                    os.chmod(self.path, stat.S_IMODE(os.stat(self.target).st_mode))
                os.replace(self.path, self.target)
        finally:
            self.path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_file(path) -> Iterator:
    """Write the file ``path`` whole or not at all (see the module): yields a binary handle;
    the file is in place when the block ends without an error. A stop requested meanwhile
    (even one whose interruption was lost) leaves the earlier file and raises
    :class:`KeyboardInterrupt`."""
    out = AtomicFile(path)
    complete = False
    try:
        with out.writing(), out.open() as handle:
            yield handle
        complete = True
    finally:
        out.finish(complete)
    check_stop()


def write_file(path, data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8) to the file ``path`` whole or not at all
    (:func:`atomic_file`); return ``path`` as a Path."""
    with atomic_file(path) as handle:
        handle.write(data.encode("utf-8") if isinstance(data, str) else data)
    return Path(path)


#: The files of the :func:`file_set` being written (complete, not yet renamed), or None.
_FILE_SET: contextvars.ContextVar[list[AtomicFile] | None] = contextvars.ContextVar("ca125kinetics_file_set",
                                                                                     default=None)


@contextlib.contextmanager
def file_set() -> Iterator[None]:
    """Replace the files written in the block (:func:`atomic_file`, :func:`write_file`,
    ``write_table``) together: each is written whole to its hidden file, and all are renamed
    into place, in the order they were written, when the block ends without an error and
    without a stop request; otherwise every hidden file is removed and the files already at
    their paths stay as they were. A device or a pipe is written straight into, as always.
    Nested, the inner block's files are renamed with the outer block's. (The renames are not
    one step: a rename refused by the system, e.g. a folder made read-only meanwhile, is
    raised after the renames before it, and a process killed outright between two renames
    leaves the first; a failure or stop while the files are written, by far the longer
    part, replaces none.)"""
    if _FILE_SET.get() is not None:
        yield
        return
    pending: list[AtomicFile] = []
    token = _FILE_SET.set(pending)
    complete = False
    try:
        yield
        complete = True
    finally:
        _FILE_SET.reset(token)
        complete = complete and not stop_requested()    # once for all: a stop from here on is raised after
        try:
            for out in pending:     # a rename refused is raised, the hidden files after it removed
                out._rename(complete)
        finally:
            for out in pending:
                out.path.unlink(missing_ok=True)
    check_stop()


@contextlib.contextmanager
def atomic_directory(path) -> Iterator[Path]:
    """Build the directory ``path`` whole or not at all: yields a new, empty hidden directory
    beside it (``.NAME.partial``) to write into, renamed to ``path`` when the block ends
    without an error or a stop request, else removed.

    A directory already at ``path`` (the caller decides whether it may be replaced) is moved
    aside (``.NAME.old``) just before the rename and removed after it; if the rename fails it
    is put back. A link to a directory is followed, as for files. The new directory keeps the
    permissions of the one it replaces (a model folder only its owner may open stays so)."""
    target = Path(path)
    if target.is_symlink() and target.is_dir():
        target = target.resolve()
    if target.exists() and not target.is_dir():
        raise InvalidInputError(f"{target} exists and is not a directory; give a directory path")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    _remove(partial)        # left by a run killed outright: never followed
    partial.mkdir()
    complete = False
    try:
        yield partial
        complete = not stop_requested()
        if complete:
            old = target.with_name(f".{target.name}.old")
            _remove(old)
            if target.exists():
                os.chmod(partial, stat.S_IMODE(os.stat(target).st_mode))
                os.replace(target, old)
            try:
                os.replace(partial, target)
            except BaseException:
                if old.exists() and not target.exists():
                    os.replace(old, target)
                raise
            _remove(old)
    finally:
        _remove(partial)
    check_stop()


def _standard_stream(path) -> int | None:
    """The descriptor of this process's stdout (1) or stderr (2) when ``path`` names the same
    file, pipe or terminal, else None."""
    try:
        named = os.stat(path)
    except (OSError, ValueError):      # nothing there (yet)
        return None
    for descriptor in (1, 2):
        try:
            if os.path.samestat(named, os.fstat(descriptor)):
                return descriptor
        except OSError:     # a stream closed
            continue
    return None


def _remove(path: Path) -> None:
    """Remove ``path`` if there: a link or a file is unlinked (never followed), a directory
    removed with its contents."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
