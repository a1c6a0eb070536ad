"""Whole cohorts at registry scale: a markers file read in patient-complete chunks.

A registry's markers table can be larger than memory. The cohort commands
(``ca125 gcig``, ``ca125 kinetics``, ``ca125 score``) therefore read a file of more than
``chunk_rows`` rows in chunks (Parquet record batches, CSV chunks) and run the same
validation and the same per-patient functions on each chunk as on a whole table in memory
(:func:`ca125kinetics.io.read_markers`, :func:`ca125kinetics.gcig.gcig_cohort`,
:func:`ca125kinetics.kinetics.fit_kinetics`, :func:`ca125kinetics.predict.predict_cohort`):
the results are the same rows with the same numbers.

Chunks hold complete patients
-----------------------------
The rows of one patient must be contiguous in the file (sorted or grouped by
``patient_id``; ``ca125 synth`` and most exports are sorted). The last patient of a chunk
may continue in the next chunk, so it is carried over. A patient whose rows appear again
after another patient's rows is refused with an :class:`~ca125kinetics.errors.InvalidInputError`
naming the patient and row (sort the file by ``patient_id``, or read it whole). With a
clinical table (``gcig``, ``score``), the file must be sorted by ``patient_id`` as text: a chunk is
handed the clinical patients without markers that sort before its last patient, so the first
patient that comes after a larger identifier is refused, at the same patient whatever the
chunk size. Error messages name the file's rows as the
whole-table reader does (CSV: the header is row 1).

Population kinetics
-------------------
The population (empirical-Bayes) method learns the population once, then fits every
patient's MAP estimate under it. Streamed, the population is learned on the first
``population_sample`` patients of the file (default 100,000; all patients when the file
has fewer, which gives the in-memory result exactly), or is given (a
:class:`~ca125kinetics.kinetics.KineticsPopulation`, e.g. saved with ``to_json``). A file
sorted by an identifier unrelated to the kinetics makes its first patients a fair sample;
give a population learned on a random sample otherwise.
"""

from __future__ import annotations

import contextvars
import sys
from contextlib import closing
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .errors import InvalidInputError, argument_name, caused_by_interrupt, check_stop
from ._columns import _text_dtype
from .io import (
    MARKERS_KNOWN, TableFile, _graphic_ends, _ids, _read_errors, _require, _resolve_columns, _table_pieces, _Text,
    parquet_table, table_file,
)

__all__ = [
    "ChunkWriter",
    "CohortStream",
    "DEFAULT_CHUNK_ROWS",
    "DEFAULT_POPULATION_SAMPLE",
    "iter_gcig",
    "iter_kinetics",
    "iter_score",
    "patient_chunks",
    "run_gcig",
    "run_kinetics",
    "run_score",
    "stream_markers",
    "write_chunks",
]

#: Rows read at a time (about 60,000 patients of 4 samples).
DEFAULT_CHUNK_ROWS = 250_000
#: Patients the population of streamed population kinetics is learned on.
DEFAULT_POPULATION_SAMPLE = 100_000


def _patient_keys(frame: pd.DataFrame, id_column: str = "patient_id") -> np.ndarray:
    """Identifier of each row as text, for grouping only (validation happens later)."""
    return _key_text(frame, id_column).to_numpy(dtype=object)


def _key_text(frame: pd.DataFrame, id_column: str) -> pd.Series:
    """The identifiers as the reader reads them (``io._ids``: a text with a space at an end
    stripped, whole numbers without '.0', None where missing), so that a chunk boundary
    never falls inside one of the reader's patients nor joins two of them."""
    column = frame[id_column]
    if column.dtype == _text_dtype():
        text = _Text.of(column.array)
        if text is not None and _graphic_ends(text.arrow).all():   # nothing to strip (a registry's ids)
            return column
    return _ids(column)


def _runs(frame: pd.DataFrame, id_column: str = "patient_id", *, arrow: bool = False) -> tuple[np.ndarray, Any]:
    """``(starts, keys)``: the first row of every run of rows with the same identifier (as
    :func:`_patient_keys` writes it) and that identifier. An identifier column held by Arrow
    is compared in Arrow, without a Python string per row; with ``arrow``, its keys stay an
    Arrow array when none is missing (:func:`_key_list` gives the list)."""
    key = _key_text(frame, id_column)
    column = _Text.of(key.array)
    if column is None or not len(key):
        key = key.to_numpy(dtype=object)
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.zeros(0, dtype=np.int64)
        return starts, key[starts].tolist()
    import pyarrow.compute as pc

    text = column.arrow
    change = pc.not_equal(text.slice(1), text.slice(0, len(text) - 1)).fill_null(True)
    starts = np.flatnonzero(np.r_[True, change.to_numpy(zero_copy_only=False)])
    keys = text.take(starts)
    if arrow and not keys.null_count:
        return starts, keys
    missing = key.array.dtype.na_value          # a missing identifier as _patient_keys holds it
    return starts, [missing if k is None else k for k in keys.to_pylist()]


def _arrow_keys(keys):
    """Identifiers (a list, a pandas text array, or an Arrow string array; None or NaN
    missing) as one Arrow ``large_string`` array."""
    import pyarrow as pa

    text = _Text.of(keys) if isinstance(keys, pd.api.extensions.ExtensionArray) else None
    if text is not None:
        keys = text.arrow
    elif not isinstance(keys, pa.Array):
        keys = pa.array(np.asarray(keys, dtype=object), type=pa.large_string(), from_pandas=True)
    return keys.cast(pa.large_string())


def _key_list(keys) -> list:
    """The keys of :func:`_runs` as a list."""
    return keys if isinstance(keys, list) else keys.to_pylist()


def patient_chunks(frames: Iterable[pd.DataFrame], *, source: str = "markers",
                   min_rows: int = 0, id_column: str = "patient_id") -> Iterator[pd.DataFrame]:
    """Regroup frames of rows grouped by patient into frames of complete patients.

    Parameters
    ----------
    frames : iterable of pandas.DataFrame
        Consecutive pieces of one table with a ``patient_id`` column whose rows are
        contiguous per patient (a patient may span two or more pieces).
    source : str
        The table's name in error messages.
    min_rows : int
        Pieces are joined until a chunk holds at least this many rows (except the last):
        the per-call cost of the functions run on each chunk is then paid rarely.
    id_column : str
        The column holding the patient identifier.

    Yields
    ------
    pandas.DataFrame
        The rows of complete patients, in input order, index kept (row labels). The last
        patient of a piece is carried to the next piece.

    Raises
    ------
    InvalidInputError
        A patient's rows appear again after another patient's rows (the table is not
        grouped by patient).
    """
    finished: set[str] = set()
    # while every piece's identifiers increase (a file sorted by patient), no identifier can
    # appear again and the finished ones are only kept, to fill ``finished`` at the first
    # disorder; from then on each identifier is looked up
    increasing, kept, largest = True, [], None
    carry: pd.DataFrame | None = None
    unnamed: pd.Series | None = None     # the identifiers of the first piece with an empty one
    for frame in _joined(frames, min_rows):
        if carry is not None and len(carry):
            frame = pd.concat([carry, frame])
        if not len(frame):
            continue
        starts, run_keys = _runs(frame, id_column, arrow=increasing)
        if increasing and _increasing(run_keys, largest):
            kept.append(run_keys[:-1])
            largest = _key_list(run_keys[-2:-1])[0] if len(run_keys) > 1 else largest
            last = starts[-1]
            carry = frame.iloc[last:]
            if last:
                yield frame.iloc[:last]
            continue
        run_keys = _key_list(run_keys)
        if increasing:
            increasing = False
            for keys in kept:
                finished.update(_key_list(keys))
            kept = []
        if unnamed is None and any(_unnamed(k) for k in run_keys):
            unnamed = frame[id_column]
        seen_here: set[str] = set()
        for i, k in enumerate(run_keys):
            if k in finished or k in seen_here:
                if unnamed is not None:
                    # rows without an identifier (empty, or a missing value such as 'NA') split a
                    # patient's rows: the readers' refusal of those rows, as when the file is
                    # read whole, not a sorting problem
                    from .io import require_sample_ids

                    require_sample_ids(unnamed, source)
                row = frame.index[starts[i]]     # None: rows without a position (io.unnumbered)
                raise InvalidInputError(
                    f"patient {k!r} appears again{'' if row is None else f' at row {row}'} after other "
                    "patients' rows; streaming needs the rows of each patient together: sort the "
                    "file by patient_id (or read it whole)",
                    source=source, row=row, patient_id=k, column=id_column)
            seen_here.add(k)
        last = starts[-1]
        finished.update(run_keys[:-1])
        carry = frame.iloc[last:]
        if last:
            yield frame.iloc[:last]
    if carry is not None and len(carry):
        yield carry


def _unnamed(key) -> bool:
    """Whether an identifier is none for the readers: missing, or a missing value written as
    text (``NA``, ``.``, ``unknown``: :func:`ca125kinetics.io.written_missing_id`), which they refuse."""
    from .io import written_missing_id

    return pd.isna(key) or written_missing_id(key)


def _increasing(keys, after) -> bool:
    """True when ``keys`` (a list, or an Arrow string array without a missing value) strictly
    increase and the first is larger than ``after`` (None: no bound); False when they do not,
    or cannot be compared (a missing identifier). Arrow compares UTF-8 bytes, which order
    texts as Python compares them (by code point)."""
    if not isinstance(keys, list):
        import pyarrow.compute as pc

        n = len(keys)
        return ((after is None or keys[0].as_py() > after)
                and (n < 2 or pc.all(pc.less(keys.slice(0, n - 1), keys.slice(1))).as_py()))
    try:
        ordered = np.asarray(keys, dtype=object)   # compared pairwise in C, as Python compares them
        return (after is None or keys[0] > after) and bool(np.all(ordered[:-1] < ordered[1:]))
    except TypeError:
        return False


def _joined(frames: Iterable[pd.DataFrame], min_rows: int) -> Iterator[pd.DataFrame]:
    """Consecutive frames joined into frames of at least ``min_rows`` rows (the last may be
    smaller)."""
    held: list[pd.DataFrame] = []
    n = 0
    for frame in frames:
        held.append(frame)
        n += len(frame)
        if n >= min_rows:
            yield held[0] if len(held) == 1 else pd.concat(held)
            held, n = [], 0
    if held:
        yield held[0] if len(held) == 1 else pd.concat(held)


def _row_count(table: TableFile) -> int | None:
    if table.kind == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(table.path).metadata.num_rows
    return None


def _id_column(table: TableFile, columns: dict[str, str] | None) -> str:
    """The file's column that ``read_markers`` reads as ``patient_id`` (after ``columns``),
    refused as the whole-table reader refuses it when absent."""
    if table.kind == "parquet":
        import pyarrow.parquet as pq

        names = pq.ParquetFile(table.path).schema_arrow.names
    elif table.kind == "csv":
        from .io import _header_names

        names = _header_names(table.path, table.sep)
    else:
        return "patient_id"
    resolved = _resolve_columns(dict.fromkeys(n.strip() for n in names), MARKERS_KNOWN, columns, table.label)
    _require(resolved, ("patient_id",), table.label, "markers")
    # the file's own spelling: read_markers strips the names (a header "patient_id ")
    return next((n for n in names if (columns or {}).get(n.strip(), n.strip()) == "patient_id"), "patient_id")


@dataclass(frozen=True)
class CohortStream:
    """A markers file opened for patient-complete chunks (see :func:`stream_markers`).

    Attributes
    ----------
    table : TableFile
        The file, checked as every reader checks it (:func:`ca125kinetics.io.table_file`).
    chunk_rows : int
        Rows read at a time.
    n_rows : int or None
        Rows of the file when known without reading it (Parquet metadata).
    id_column : str
        The file's column read as ``patient_id`` (``columns=`` renaming).
    """

    table: TableFile
    chunk_rows: int
    n_rows: int | None
    id_column: str = "patient_id"

    @property
    def label(self) -> str:
        return self.table.label

    def keys(self, chunk: pd.DataFrame) -> np.ndarray:
        """Identifier of each row of ``chunk`` as text, for grouping only."""
        return _patient_keys(chunk, self.id_column)

    def chunks(self, *, progress: bool = False) -> Iterator[pd.DataFrame]:
        """Raw (unvalidated) frames of complete patients, index = row labels."""
        pieces = _table_pieces(self.table, self.chunk_rows, "markers")
        chunks = patient_chunks(pieces, source=self.label, id_column=self.id_column)
        # a bar is shown on stderr only on a terminal (tqdm is not even imported otherwise)
        # and only after two seconds: short runs stay quiet
        if not bar_wanted(progress):
            with closing(pieces):
                yield from chunks
            return
        from tqdm import tqdm

        with tqdm(total=self.n_rows, unit="row", unit_scale=True, desc=f"ca125 {self.label}",
                  file=sys.stderr, delay=2.0, leave=False) as bar:
            with closing(pieces):
                for chunk in chunks:
                    yield chunk
                    bar.update(len(chunk))

    def only_patient(self):
        """The identifier of the file's one patient (as the reader reads it) when all its rows
        are one patient's, else None: the file is read up to a second patient's rows only."""
        keys: list = []
        chunks = self.chunks()
        with closing(chunks):
            for chunk in chunks:
                keys += _runs(chunk, self.id_column)[1]
                if len(keys) > 1:
                    return None
        return keys[0] if keys and isinstance(keys[0], str) else None

    def fits_one_chunk(self) -> bool:
        """True when the whole file is one chunk (then the whole-table path is used); a FHIR
        bundle is always read whole."""
        if self.table.kind not in ("csv", "parquet"):
            return True
        if self.n_rows is not None:
            return self.n_rows <= self.chunk_rows
        pieces = _table_pieces(self.table, self.chunk_rows, "markers")
        try:
            next(pieces, None)
            return next(pieces, None) is None
        finally:
            pieces.close()


def bar_wanted(progress: bool) -> bool:
    """Whether a progress bar asked for (``progress``) is drawn: on a terminal only (a bar
    written to a log file, a pipe or cron's mail is noise). The one rule of the cohort
    streams and of the command line's bars (``cli.progress_wanted``)."""
    return bool(progress) and sys.stderr.isatty()


def stream_markers(source, *, chunk_rows: int = DEFAULT_CHUNK_ROWS, sep: str | None = None,
                   columns: dict[str, str] | None = None) -> CohortStream:
    """Open a markers file (.csv or .parquet) to be read in patient-complete chunks.

    Parameters
    ----------
    source : str or Path
        The markers file; its rows must be grouped by patient (module docstring).
    chunk_rows : int
        Rows read at a time (a chunk holds these plus the carried-over patient).
    sep, columns
        As :func:`ca125kinetics.io.read_markers` (CSV separator; renaming of columns).

    Returns
    -------
    CohortStream
    """
    chunk_rows = checked_chunk_rows(chunk_rows)
    table = table_file(source, "markers", sep)
    with _read_errors("markers", table.label):   # a damaged Parquet footer, as the readers say it
        return CohortStream(table, chunk_rows, _row_count(table), _id_column(table, columns))


def checked_chunk_rows(chunk_rows) -> int:
    """``chunk_rows`` as an int; InvalidInputError unless a whole number >= 1 (naming
    ``chunk_rows``, or ``--chunk-rows`` under the command line)."""
    if not isinstance(chunk_rows, (int, np.integer)) or isinstance(chunk_rows, bool) or chunk_rows < 1:
        raise InvalidInputError(f"{argument_name('chunk_rows')} must be a whole number >= 1, got {chunk_rows!r}")
    return int(chunk_rows)


# --------------------------------------------------------------------------- per-command runs


class _ClinicalFeed:
    """Hands each chunk the clinical rows it needs: its own patients, and (so that a file
    sorted by patient gives results in patient order) the patients without markers whose
    identifier sorts before the chunk's last one. :meth:`rest` gives those never handed out.

    The identifiers are held sorted in Arrow form (UTF-8 byte order is code point order, the
    order of Python's string comparison): a chunk's rows are found by two binary searches and,
    unless the chunk's identifiers are exactly the sorted ones in between (a sorted registry),
    one Arrow membership test, without a Python string per patient."""

    def __init__(self, clinical: pd.DataFrame | None):
        self.clinical = clinical
        if clinical is None:
            return
        import pyarrow.compute as pc

        ids = _arrow_keys(clinical["patient_id"].astype(str).array)
        self.order = pc.sort_indices(ids).to_numpy(zero_copy_only=False)   # a stable sort
        self.sorted_ids = ids.take(self.order)
        self.handled = np.zeros(len(ids), dtype=bool)
        self.upto = 0

    def _position(self, key: str, side: str) -> int:
        """Where ``key`` goes in the sorted identifiers (``numpy.searchsorted``'s ``side``)."""
        lo, hi = 0, len(self.sorted_ids)
        while lo < hi:
            mid = (lo + hi) // 2
            value = self.sorted_ids[mid].as_py()
            if value < key or (side == "right" and value == key):
                lo = mid + 1
            else:
                hi = mid
        return lo

    def for_chunk(self, keys, source: str | None = None) -> pd.DataFrame | None:
        """The clinical rows of a chunk whose patients are ``keys`` (a list, or an Arrow string
        array; a missing identifier matches no row).

        Raises
        ------
        InvalidInputError
            A patient's clinical row was already handed out, as a patient without markers to
            an earlier chunk whose identifiers sort after it (a file grouped but not sorted by
            patient): its result was already given, so the file is refused (``source`` names
            it in the message).
        """
        if self.clinical is None:
            return None
        import pyarrow.compute as pc

        keys = _arrow_keys(keys).drop_null()
        own = np.zeros(0, dtype=np.int64)
        upto = self.upto
        if len(keys):      # the chunk's own rows: identifiers between its smallest and largest key
            smallest, largest = (k.as_py() for k in pc.min_max(keys).values())
            lo, upto = self._position(smallest, "left"), self._position(largest, "right")
            between = self.sorted_ids.slice(lo, upto - lo)
            own = self.order[lo:upto]
            if not (len(between) == len(keys) and between.equals(keys)):
                own = own[pc.is_in(between, value_set=keys).to_numpy(zero_copy_only=False)]
            if self.handled[own].any():
                patient = str(self.clinical["patient_id"].iloc[own[self.handled[own]][0]]).strip()
                raise InvalidInputError(
                    f"patient {patient!r} comes after patients whose identifiers sort after it, and "
                    "its clinical row was already reported as a patient without markers; with a "
                    "clinical table, a markers file read in chunks must be sorted by patient_id as "
                    "text ('10' before '9'): sort it so (or read it whole with --chunk-rows above "
                    "its number of rows)",
                    source=source, patient_id=patient, column="patient_id")
        before = self.order[self.upto:max(upto, self.upto)]
        before = before[~self.handled[before]]
        self.upto = max(upto, self.upto)
        new = np.zeros(len(self.handled), dtype=bool)     # own and before, once each, in row order
        new[own] = True
        new[before] = True
        rows = np.flatnonzero(new)
        self.handled[rows] = True
        return self.clinical.iloc[rows].reset_index(drop=True)

    def rest(self) -> pd.DataFrame | None:
        if self.clinical is None or self.handled.all():
            return None
        return self.clinical[~self.handled].reset_index(drop=True)


def _concat_sorted(parts: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Chunk results (or read chunks) as one table sorted by patient_id, as the whole-table
    functions sort (a stable sort: each patient's rows keep their order)."""
    parts = list(parts)
    parts = [p for p in parts if len(p)] or parts[:1]
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values("patient_id", kind="stable").reset_index(drop=True)


def _chunk_pairs(stream: CohortStream, clinical: pd.DataFrame | None,
                 progress: bool) -> Iterator[tuple[pd.DataFrame, pd.DataFrame | None]]:
    """(markers chunk as the file holds it, its clinical rows) of every chunk; then the
    clinical patients without markers after the last chunk's, with an empty markers table of
    the file's columns. Each pair is read with ``read_markers(chunk, clinical=rows)``."""
    feed = _ClinicalFeed(clinical)
    empty, largest = None, None
    for chunk in stream.chunks(progress=progress):
        # a chunk's patients are runs
        starts, keys = _runs(chunk, stream.id_column, arrow=True)
        if clinical is not None:
            largest = _sorted_as_text(chunk, starts, keys, largest, stream.label)
        clin = feed.for_chunk(keys, stream.label)
        empty = chunk.iloc[:0]
        yield chunk, clin
    rest = feed.rest()
    if rest is not None and empty is not None:
        yield empty, rest


def _sorted_as_text(chunk: pd.DataFrame, starts: np.ndarray, keys, largest, source: str):
    """Refuse the first patient of ``chunk`` (runs ``starts``, identifiers ``keys``) whose
    identifier does not sort after the one before it (``largest``: the previous chunks'
    last), naming it and its row; return the chunk's last identifier. A file read in chunks
    with a clinical table must be sorted by ``patient_id`` as text: checked patient by
    patient, it is refused at the same patient whatever the chunk size (checked only where
    a clinical patient without markers had been handed out twice, it was refused, at a
    patient that depended on the chunk size, or not at all). Rows without an identifier are
    left to the reader's refusal."""
    if not isinstance(keys, list) and _increasing(keys, largest):
        return keys[len(keys) - 1].as_py()
    keys = _key_list(keys)
    for start, key in zip(starts.tolist(), keys):
        if _unnamed(key):
            continue
        if largest is not None and not key > largest:
            row = chunk.index[start]
            raise InvalidInputError(
                f"patient {key!r}{'' if row is None else f' at row {row}'} comes after patient {largest!r}; with a "
                "clinical table, a markers file read in chunks must be sorted by patient_id as text ('10' before "
                "'9'): sort it so (or read it whole with --chunk-rows above its number of rows)",
                source=source, row=row, patient_id=key, column="patient_id")
        largest = key
    return largest


#: Most chunks of ``gcig``, ``kinetics`` and ``score`` processed at once, each by its own
#: thread (fewer when fewer CPUs are usable). Reading, the compiled rules and fits, numpy and
#: pyarrow release the GIL: scoring holds it about a third of its time, so a second thread
#: gives most of a second core (1,000,000 patients on 2 cores: ``ca125 score`` to Parquet
#: 9.1-9.5 -> 7.9-8.0 s, ``ca125 kinetics`` 4.96-5.00 -> 4.70-4.81 s). Measured on 2 cores
#: only; each thread holds a chunk (about 0.2 GB of a score table at the default size).
CHUNK_THREADS = 4


def _in_order(work, items: Iterator, threads: int) -> Iterator:
    """``work(item)`` of every item of ``items``, in the order of ``items``, by up to
    ``threads`` threads at once (one more item is taken from ``items`` than are being worked
    on, so no thread waits for the next item to be read).

    An error of an item, or of ``items`` itself (a chunk that cannot be read), is raised where
    that item's result would have been yielded, after the results before it: the first error
    in the file's order, as one thread would meet it. The items not yet started are then
    dropped, and those being worked on are finished first (as when the consumer stops
    early), unless an interruption stopped the consumer (:func:`_handling_interrupt`)."""
    if threads <= 1:
        for item in items:
            check_stop()
            yield work(item)
        return
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(threads, thread_name_prefix="ca125kinetics-chunk")
    pending: deque = deque()
    source, source_error = iter(items), None
    try:
        while True:
            try:
                item = next(source)
            except StopIteration:
                break
            except Exception as exc:  # noqa: BLE001 - raised below, after the results before it
                source_error = exc
                break
            check_stop()
            # in the caller's context: a refusal names what the caller calls it (a command's options)
            pending.append(pool.submit(contextvars.copy_context().run, work, item))
            if len(pending) > threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
        if source_error is not None:
            raise source_error
    finally:
        pool.shutdown(wait=not _handling_interrupt(), cancel_futures=True)
        _close(source)      # e.g. a reading thread stops at once


def _handling_interrupt() -> bool:
    """Whether the error being handled here is an interruption (Ctrl-C, or SIGTERM taken as
    one). Stopped by one, :func:`_in_order` and :func:`_read_ahead` do not wait for their
    threads to finish the item in hand (a chunk, or learning the population: up to 2 s);
    the threads stop at their next item, and an interrupted command ends at once."""
    exc = sys.exc_info()[1]
    return exc is not None and caused_by_interrupt(exc)


def _close(items) -> None:
    """Close ``items`` when it can be closed (a generator: its ``finally`` runs now, e.g. a
    thread producing it stops); a plain iterator has nothing to close."""
    close = getattr(items, "close", None)
    if close is not None:
        close()


def _chunk_threads() -> int:
    from ._kinetics_engine import usable_cpus

    return max(1, min(CHUNK_THREADS, usable_cpus()))


def iter_gcig(stream: CohortStream, clinical: pd.DataFrame | None, *, settings, read_options=None,
              finish=None, progress: bool = False) -> Iterator[pd.DataFrame]:
    """``gcig_cohort`` of every chunk of ``stream`` (read with ``read_markers``), one table per
    chunk; ``clinical`` is the read clinical table, its patients without markers included.
    ``read_options`` are further ``read_markers`` arguments (format options, ``columns``);
    ``finish`` is applied to each table (e.g. the provenance columns). Concatenated: the
    whole-table result (in patient order when the file is sorted)."""
    from .gcig import gcig_cohort
    from .io import read_markers

    def read(chunk, clin):
        return read_markers(chunk, clinical=clin, uln=settings.uln, on_error="flag",
                            duplicates=settings.duplicates, **(read_options or {}))

    def assess(pair):
        chunk, clin = pair
        return _finished(gcig_cohort(read(chunk, clin), clin, settings=settings), finish)

    yield from _in_order(assess, _chunk_pairs(stream, clinical, progress), _chunk_threads())


def _finished(table: pd.DataFrame, finish) -> pd.DataFrame:
    return table if finish is None else finish(table)


def run_gcig(stream: CohortStream, clinical: pd.DataFrame | None, *, settings, read_options=None,
             finish=None, progress: bool = False) -> pd.DataFrame:
    """:func:`iter_gcig` as one table equal to the whole-table ``gcig_cohort`` result."""
    return _concat_sorted(iter_gcig(stream, clinical, settings=settings, read_options=read_options,
                                    finish=finish, progress=progress))


def iter_kinetics(stream: CohortStream, *, method: str, settings, population=None,
                  population_sample: int = DEFAULT_POPULATION_SAMPLE, read_options=None,
                  fit=None, progress: bool = False) -> Iterator[pd.DataFrame]:
    """``fit_kinetics`` of every chunk of ``stream``, one table per chunk; the population
    method learns the population once, on the first ``population_sample`` patients unless
    ``population`` is given (module docstring), then fits every chunk under it.

    ``read_options`` are further ``read_markers`` arguments (``marker``, format options);
    ``fit(markers, population)``, when given, replaces ``fit_kinetics`` (a command adding
    columns to each chunk's table, e.g. response features and provenance)."""
    from .io import read_markers
    from .kinetics import fit_kinetics, fit_population

    if method == "population" and population is None:
        _check_population_sample(population_sample)
    options = dict(read_options or {})
    marker = {"marker": options["marker"]} if "marker" in options else {}

    def read(chunk):
        return read_markers(chunk, uln=settings.uln, on_error="flag", **options)

    if fit is None:
        def fit(markers, population):
            return fit_kinetics(markers, method=method, settings=settings, population=population, **marker)

    # the next chunks are read by a thread while this one fits and writes: the compiled fits
    # and pyarrow's reading and writing release the GIL, so the two overlap on two cores
    chunks = _read_ahead(map(read, stream.chunks(progress=progress)))
    if method == "population" and population is None:
        held, n_held = [], 0
        for markers in chunks:
            if not held:   # the reading thread has started: load the imports and compiled code
                _prepare_population_fit()     # while it reads the next chunks
            held.append(markers)
            n_held += markers["patient_id"].nunique()
            if n_held >= population_sample:
                break
        # in patient order, as the file read whole holds them: the population learned does not
        # depend on the order of the file's patients (e.g. identifiers sorted as numbers)
        sample = _concat_sorted(_first_patients(held, n_held, population_sample)) if held else None
        population = fit_population(sample, settings=settings, **marker)
        chunks = _chain(held, chunks)
    given = population if method == "population" else None
    yield from _in_order(lambda markers: fit(markers, given), chunks, _chunk_threads())


def _check_population_sample(population_sample, *, option: str = "population_sample") -> None:
    """Refuse a ``population_sample`` that is not a whole number of at least 10 patients
    (the streamed CLI's and Spark's population sample); the message names it ``option``
    (``ca125 kinetics``: ``--population-sample``)."""
    if not isinstance(population_sample, (int, np.integer)) or population_sample < 10:
        raise InvalidInputError(f"{option} must be a whole number >= 10 (patients the "
                                f"population is learned on), got {population_sample!r}")


def run_kinetics(stream: CohortStream, *, method: str, settings, population=None,
                 population_sample: int = DEFAULT_POPULATION_SAMPLE, read_options=None, fit=None,
                 progress: bool = False) -> pd.DataFrame:
    """:func:`iter_kinetics` as one table equal to the whole-table ``fit_kinetics`` result
    (when the population is learned on every patient, or given)."""
    return _concat_sorted(iter_kinetics(stream, method=method, settings=settings, population=population,
                                        population_sample=population_sample, read_options=read_options,
                                        fit=fit, progress=progress))


def _first_patients(chunks: list[pd.DataFrame], n_patients: int, wanted: int) -> list[pd.DataFrame]:
    """``chunks`` (of ``n_patients`` patients in all, fewer than ``wanted`` before the last)
    cut to their first ``wanted`` patients in order of appearance.

    A patient's rows are all in one chunk (:func:`patient_chunks`), so only the last chunk
    is cut: to the patients whose code in order of first appearance (``pandas.factorize``,
    the order of ``pandas.unique``) is below the number it may keep.
    """
    if n_patients <= wanted:
        return chunks
    last = chunks[-1]
    codes = pd.factorize(last["patient_id"], use_na_sentinel=False)[0]
    keep = wanted - (n_patients - last["patient_id"].nunique())    # patients it may keep
    return [*chunks[:-1], last[codes < keep]]


def _chain(first: list, rest: Iterator) -> Iterator:
    yield from first
    yield from rest


def _prepare_population_fit() -> None:
    """Import what learning a population needs (statsmodels' MixedLM, the compiled engine and
    its cached machine code), so that it is loaded while a background thread reads."""
    from statsmodels.regression.mixed_linear_model import MixedLM  # noqa: F401

    from ._kinetics_engine import load_compiled

    load_compiled()


#: Chunks read ahead of the one being processed (each is at most ``chunk_rows`` rows, about
#: 50 MB read at the default 250,000): enough for the reading to go on while the population
#: is learned (1M patients: 19-25 s wall with 2, 15-18 s with 6, on a shared machine; peak
#: memory +0.1 GB).
READ_AHEAD = 6
#: Result tables computed ahead of the one being written by :func:`write_chunks`.
WRITE_AHEAD = 2


def _read_ahead(items: Iterator, depth: int = READ_AHEAD) -> Iterator:
    """The items of ``items``, in order, produced by a background thread up to ``depth`` ahead.

    An error raised while producing an item is raised where that item would have been
    consumed, after the items before it. When the consumer stops early (an error, or the
    generator is closed), the thread stops at its next item and ``items`` is closed; the
    consumer waits for that, unless an interruption stopped it (:func:`_handling_interrupt`).
    """
    import queue
    import threading

    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(entry) -> bool:
        while not stop.is_set():
            try:
                slots.put(entry, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    break
            else:
                put((done, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            put((None, exc))
        finally:
            _close(items)

    worker = threading.Thread(target=contextvars.copy_context().run, args=(produce,), name="ca125kinetics-read-ahead",
                              daemon=True)      # in the caller's context, as the chunks' work
    worker.start()
    try:
        while True:
            item, exc = slots.get()
            if exc is not None:
                raise exc
            if item is done:
                return
            yield item
    finally:
        stop.set()
        if not _handling_interrupt():
            worker.join()


def iter_score(stream: CohortStream, clinical: pd.DataFrame | None, bundle, *, allow_imputed: bool = False,
               read_options=None, finish=None, progress: bool = False) -> Iterator[pd.DataFrame]:
    """``predict_cohort`` of every chunk of ``stream`` with ``bundle`` (markers read with
    ``read_markers`` under the model's GCIG settings, as ``ca125 score`` reads a whole table),
    one table per chunk, patients of ``clinical`` without markers included (as
    ``predict_cohort`` includes them); ``finish`` is applied to each table."""
    from .io import read_markers
    from .predict.engine import _score_read

    gs = bundle.gcig_settings

    def read(chunk, clin):
        return read_markers(chunk, clinical=clin, uln=float(gs.uln), on_error="flag",
                            duplicates=gs.duplicates, **(read_options or {}))

    def score(pair):
        chunk, clin = pair
        return _finished(_score_read(bundle, read(chunk, clin), clin, allow_imputed=allow_imputed,
                                     read_options=read_options), finish)

    yield from _in_order(score, _chunk_pairs(stream, clinical, progress), _chunk_threads())


def run_score(stream: CohortStream, clinical: pd.DataFrame | None, bundle, *, allow_imputed: bool = False,
              read_options=None, finish=None, progress: bool = False) -> pd.DataFrame:
    """:func:`iter_score` as one table equal to the whole-table ``predict_cohort`` result."""
    return _concat_sorted(iter_score(stream, clinical, bundle, allow_imputed=allow_imputed,
                                     read_options=read_options, finish=finish, progress=progress))


class ChunkWriter:
    """Writes result tables chunk by chunk to one ``.csv`` or ``.parquet`` file.

    The file holds the chunks in the order written (patient order when the markers file is
    sorted by patient); CSV cells are formatted as ``DataFrame.to_csv`` formats a whole
    table. Use as a context manager; :attr:`n_rows` counts the rows written.

    The chunks go to a hidden file beside ``path`` (``.NAME.partial``), renamed to ``path``
    when the block ends without an error, as every output of the package is written
    (:class:`ca125kinetics._atomic.AtomicFile`: a link to a file followed, a device or a pipe
    such as ``/dev/stdout`` written straight into, the hidden name never followed): a run
    stopped by a refusal (or anything else) leaves no file that looks complete, and a file
    already at ``path`` stays as it was. So does a run whose process was asked to stop
    (:func:`ca125kinetics.errors.stop_requested`) when the interruption was lost on the way:
    the block then raises it.
    """

    def __init__(self, path, fmt: str):
        if fmt not in ("csv", "parquet"):
            raise InvalidInputError(f"chunked output is written as csv or parquet, not {fmt!r}")
        from ._atomic import AtomicFile

        #: the target, its hidden partial file (or the device or pipe itself) and the rename
        self._out = AtomicFile(path)
        self.fmt, self.n_rows = fmt, 0
        self._handle = None
        self._writer = None
        self._schema = None

    def __enter__(self):
        return self

    def _open(self):
        """The binary handle the chunks are written through (:meth:`AtomicFile.open`)."""
        return self._out.open()

    def write(self, frame: "pd.DataFrame | _CsvText") -> None:
        """Append ``frame``'s rows (for CSV, also its text made ahead by :func:`_csv_text`)."""
        check_stop()
        with self._out.writing():
            self._write(frame)

    def _write(self, frame) -> None:
        if self.fmt == "csv":
            text = frame if isinstance(frame, _CsvText) else _csv_text(frame, first=self._writer is None)
            if text.first != (self._writer is None):
                raise ValueError("a CSV chunk's text has the header exactly when it is the first chunk")
            if self._handle is None:
                self._handle = self._open()
            _write_pieces(text.pieces, self._handle)
            self._writer = True
            self.n_rows += text.n_rows
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            # text columns as large_string, as the whole table is written (io.parquet_table)
            table = parquet_table(frame, self._schema)
            if self._writer is None:
                self._schema = table.schema
                # dictionary pages for text and whole numbers (few distinct values); floats,
                # nearly all distinct, are written plain: half the encoding time, same file size
                text = [f.name for f in self._schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
                coded = text + [f.name for f in self._schema if pa.types.is_integer(f.type)]
                # no min/max statistics of free text (reasons, recommendations, settings): no
                # filter reads them, and they are 15 % of the writing time of a score table
                prose = [name for name in text if _mean_length(table.column(name)) > _PROSE_LENGTH]
                self._handle = self._open()
                self._writer = pq.ParquetWriter(self._handle, self._schema, use_dictionary=coded,
                                                write_statistics=[f.name for f in self._schema if f.name not in prose])
            self._writer.write_table(table)
            self.n_rows += len(frame)

    def __exit__(self, exc_type, exc, tb):
        complete = False
        try:
            with self._out.writing():
                try:
                    if self.fmt == "parquet" and self._writer is not None:
                        self._writer.close()
                finally:
                    if self._handle is not None:
                        self._handle.close()
            complete = exc_type is None and self._writer is not None
        finally:
            self._out.finish(complete)      # no rename after a stop request, even one whose interruption was lost
        if exc_type is None:
            check_stop()                    # that stop, raised here
        return False


#: Text columns whose values average more than this many bytes are free text (see
#: :meth:`ChunkWriter.write`).
_PROSE_LENGTH = 40


def _mean_length(column) -> float:
    """Mean length in bytes of the values of a pyarrow text column (0 when all are null)."""
    import pyarrow.compute as pc

    mean = pc.mean(pc.binary_length(column)).as_py()
    return 0.0 if mean is None else mean


_CSV_BLOCK_ROWS = 20_000
#: Bytes handed to one ``write`` call. A block's rows (about 60 MB of a score table) written
#: in one call cost the kernel about twice the system time of the same bytes in 1 MB calls
#: (1,000,000-patient score CSV, 2.9 GB: 7.6-9.3 s -> 3.4-4.6 s system time).
_CSV_WRITE_BYTES = 1024 * 1024
_NEEDS_QUOTES = '[,"\n]'


def _csv_cells(values) -> "pyarrow.Array | pyarrow.Scalar | None":
    """The CSV text of every cell of one column as ``DataFrame.to_csv`` writes it (a float
    as ``repr``, NaN/None/NA empty, flags ``True``/``False``, text quoted only when it holds a
    comma, a quote or a newline), as a pyarrow string array; a text column holding one value
    in every row (the model and settings columns) as that one cell, a pyarrow scalar; None
    for a column of another kind (the caller then lets pandas write the table)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        flags = pa.array(values.to_numpy(dtype=object, na_value=None) if dtype == "boolean" else values.to_numpy(),
                         type=pa.bool_())
        return pc.fill_null(pc.if_else(flags, "True", "False"), "")
    if pd.api.types.is_integer_dtype(dtype):
        return pc.fill_null(pc.cast(pa.array(values, from_pandas=True), pa.string()), "")
    if dtype == np.float64:
        x = values.to_numpy()
        text = pc.cast(pa.array(x, from_pandas=True), pa.string())
        # pyarrow writes what repr writes (the shortest round trip) except a whole number
        # ("1" for "1.0") and the exponent forms: those take repr
        with np.errstate(invalid="ignore"):
            size = np.abs(x)
            plain = ((size >= 1e-4) & (size < 1e16)) | (x == 0)
        plain &= ~np.asarray(pc.fill_null(pc.match_substring(text, "e"), True))
        whole = plain & ~np.asarray(pc.fill_null(pc.match_substring(text, "."), True))
        n_whole = int(whole.sum())
        if n_whole == len(x):
            text = pc.binary_join_element_wise(text, ".0", "")
        elif n_whole:       # ".0" joined to those cells only
            mask = pa.array(whole)
            text = pc.replace_with_mask(text, mask, pc.binary_join_element_wise(text.filter(mask), ".0", ""))
        other = np.flatnonzero(~plain & ~np.isnan(x))
        if other.size:
            cells = np.asarray(text.to_numpy(zero_copy_only=False), dtype=object)
            cells[other] = [repr(v) for v in x[other].tolist()]
            text = pa.array(cells, type=pa.string())
        return pc.fill_null(text, "")
    if dtype == object or pd.api.types.is_string_dtype(dtype):
        try:
            if dtype == object:
                text = pa.array(values.to_numpy(dtype=object), type=pa.large_string(), from_pandas=True)
            else:       # pandas' own text column: its arrow data as they are
                text = pc.cast(pa.array(values.array, from_pandas=True), pa.large_string())
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):   # not all text: pandas
            return None
        # a column repeats a few texts (statuses, reasons from templates, the settings):
        # each distinct text is checked and quoted once, then placed in its rows
        coded = pc.dictionary_encode(text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text)
        distinct = _quoted(coded.dictionary)
        if len(values) > 1 and len(distinct) == 1 and not coded.null_count:
            return distinct[0]
        cells = distinct.take(coded.indices)
        return pc.fill_null(cells, "") if cells.null_count else cells
    return None


def _quoted(text: "pyarrow.Array") -> "pyarrow.Array":
    """The texts as CSV cells: quoted (quotes doubled) where they hold a comma, a quote or a
    newline, as they are otherwise (the quoting of ``DataFrame.to_csv``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    needs = pc.match_substring_regex(text, _NEEDS_QUOTES)
    if not pc.any(needs).as_py():
        return text
    quote, empty = pa.scalar('"', pa.large_string()), pa.scalar("", pa.large_string())
    quoted = pc.binary_join_element_wise(quote, pc.replace_substring(text, '"', '""'), quote, empty)
    return pc.if_else(needs, quoted, text)


def write_csv(frame: pd.DataFrame, out, *, header: bool = True) -> None:
    """Write ``frame`` as CSV to the binary file ``out``: the text ``frame.to_csv(index=False)``
    writes (same numbers, empty cells, flags and quoting), built column by column with
    pyarrow in blocks of rows rather than cell by cell (:func:`csv_pieces`)."""
    _write_pieces(csv_pieces(frame, header=header), out)


def _write_pieces(pieces: Iterable, out) -> None:
    for piece in pieces:
        for at in range(0, len(piece), _CSV_WRITE_BYTES):
            out.write(piece[at:at + _CSV_WRITE_BYTES])


def csv_pieces(frame: pd.DataFrame, *, header: bool = True) -> Iterator:
    """The CSV text of ``frame`` (see :func:`write_csv`) as consecutive pieces of bytes
    (``bytes`` or memoryviews of Arrow buffers). A column of a kind not covered
    (``_csv_cells``) has a block's rows written by pandas."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if frame.shape[1] == 0 or not all(isinstance(c, str) for c in frame.columns):
        yield frame.to_csv(index=False, header=header).encode("utf-8")
        return
    if header:
        names = _quoted(pa.array([str(c) for c in frame.columns], pa.large_string())).to_pylist()
        yield (",".join(names if names != [""] else ['""']) + "\n").encode("utf-8")   # as a row of one cell
    for start in range(0, len(frame), _CSV_BLOCK_ROWS):
        block = frame.iloc[start:start + _CSV_BLOCK_ROWS]
        cells = [_csv_cells(block.iloc[:, j]) for j in range(block.shape[1])]
        if any(c is None for c in cells):
            yield block.to_csv(index=False, header=False).encode("utf-8")
            continue
        cells = [c if c.type == pa.large_string() else c.cast(pa.large_string()) for c in cells]
        if len(cells) == 1:     # a row of one empty cell is written "" (not a blank line), as pandas does
            empty_cell = pc.equal(cells[0], "")
            cells[0] = pc.if_else(empty_cell, pa.scalar('""', pa.large_string()), cells[0])
        if all(isinstance(c, pa.Scalar) for c in cells):    # every row the same: the rows of one
            cells[0] = pa.repeat(cells[0], len(block))
        empty, newline, comma = (pa.scalar(t, pa.large_string()) for t in ("", "\n", ","))
        cells[-1] = pc.binary_join_element_wise(cells[-1], empty, newline)     # the row's end
        rows = pc.binary_join_element_wise(*cells, comma) if len(cells) > 1 else cells[0]
        rows = (rows.combine_chunks() if isinstance(rows, pa.ChunkedArray) else rows).cast(pa.large_string())
        offsets = np.frombuffer(rows.buffers()[1], dtype=np.int64, count=len(rows) + 1, offset=rows.offset * 8)
        yield memoryview(rows.buffers()[2])[offsets[0]:offsets[-1]]


def chunked_format(out, fmt: str | None) -> str | None:
    """The format a result is written in chunk by chunk (``"csv"``/``"parquet"``), from
    ``fmt`` or the suffix of ``out``; None when it is not written to a file or the format
    needs the whole table (JSON)."""
    if not out:
        return None
    from pathlib import Path

    chosen = (fmt if fmt not in (None, "text") else Path(out).suffix.lstrip(".") or "csv").lower()
    return {"csv": "csv", "parquet": "parquet", "pq": "parquet"}.get(chosen)


@dataclass
class _CsvText:
    """A chunk's CSV text made ahead of its writing: its pieces (:func:`csv_pieces`), with
    the header when ``first``, and its number of rows."""

    pieces: list
    n_rows: int
    first: bool


def _csv_text(frame: pd.DataFrame, *, first: bool) -> _CsvText:
    return _CsvText(list(csv_pieces(frame, header=first)), len(frame), first)


def write_chunks(parts: Iterable[pd.DataFrame], out, fmt: str, keep: Iterable[str]) -> tuple[int, pd.DataFrame]:
    """Write ``parts`` to ``out`` as they come (:class:`ChunkWriter`); return the number of
    rows and the ``keep`` columns of all rows (what a summary needs).

    The parts are produced by a background thread (:func:`_read_ahead`, up to
    :data:`WRITE_AHEAD` ahead) while this one writes: pyarrow's Parquet writing releases the
    GIL, so the next chunk is computed while one is written. For CSV that thread also makes
    each part's text (pyarrow's string kernels release the GIL too), so this one only writes
    bytes. An error of a part is raised here after the parts before it are written."""
    keep = list(keep)

    def prepared() -> Iterator[tuple[Any, pd.DataFrame]]:
        source = iter(parts)
        try:
            for number, part in enumerate(source):
                kept_part = part[[c for c in keep if c in part.columns]]
                yield (_csv_text(part, first=number == 0) if fmt == "csv" else part), kept_part
        finally:        # closed early (an error, an interruption): the parts' producer stops too
            _close(source)

    kept = []
    with ChunkWriter(out, fmt) as writer:
        for part, kept_part in _read_ahead(prepared(), depth=WRITE_AHEAD):
            writer.write(part)
            kept.append(kept_part)
    return writer.n_rows, pd.concat(kept, ignore_index=True)
