"""Kinetics and scoring of a registry on Apache Spark (``pip install ca125kinetics[spark]``).

:func:`fit_kinetics` and :func:`score` take Spark DataFrames of the data contract's tables
(markers: ``patient_id``, ``day``, ``ca125``, optionally ``uln``, ``assay``, ``event``;
clinical: one row per patient) and return a Spark DataFrame with the columns of the
in-process functions (:func:`ca125kinetics.kinetics.fit_kinetics`,
:func:`ca125kinetics.predict.predict_cohort`) and the same numbers: the work inside Spark is
those very functions, run on groups of complete patients.

How the work is split
---------------------
The rows are hash-partitioned by ``patient_id`` (every patient in one partition), sorted by
``patient_id`` within partitions, and each partition is read with ``mapInArrow``: its Arrow
batches are converted to pandas some 100,000 rows at a time and regrouped into frames of
complete patients
(:func:`ca125kinetics.cohort.patient_chunks`, the chunking of the streamed CLI), each read
with :func:`ca125kinetics.io.read_markers` and passed to the in-process function. A
``groupBy("patient_id").applyInPandas`` would do the same one patient at a time, paying a
pandas round trip (about a millisecond) per patient; the batch form pays it per few thousand.

Population kinetics
-------------------
The population (empirical-Bayes prior) is learned once on the driver, on the first
``population_sample`` patients in ``patient_id`` order (default 100,000; all patients when
there are fewer, which reproduces the in-process result exactly), unless ``population`` is
given; every partition then fits each patient's MAP estimate under it. For scoring, the
model bundle carries its population (learned at training), so nothing is learned here.

Work done while the driver waits: while Spark finds the first patients, the driver loads
what learning the population needs (statsmodels, the compiled engine's machine code), as
the streamed CLI does while it reads; while the driver learns the population, a small job
of one task per core starts the Python workers and loads the package and the compiled
engine in them. Spark reuses those workers for the kinetics job
(``spark.python.worker.reuse``, on by default), whose first tasks would otherwise pay
that start (about a second of CPU per worker).

Notes
-----
The ``ca125kinetics`` package must be installed on the executors (on Databricks: a cluster
or notebook library). Rows of a Spark DataFrame have no position in the user's table: the
reasons given for invalid patients name the column and the value, never a row number (in
process, a file's reasons also give the row).

Rows are grouped by the identifier as the readers read it (a space at an end stripped:
:func:`_patient_key`); rows without one reach the driver with the first patients, where the
reader refuses them as in process, as do the rows for which the readers refuse a whole table
(a ``marker`` naming another marker, a clinical factor on both tables:
:func:`_table_refusal_rows`). Text columns are compared as Python compares text (a collation
such as ``UTF8_LCASE`` is dropped: :func:`_binary_collation`). Refused before any work:
column names the readers refuse (a case variant of a contract column, a column named twice),
contract columns of a Spark type the readers cannot read unambiguously (binary, single
precision, nested), ``patient_id`` of different types in the two tables of :func:`score`,
and a model that keeps the first or last same-day sample (row order, which Spark does not
keep). ``docs/registry.md`` lists what was compared.

What the reader notes about a patient without refusing it (samples without a ULN beside
samples with one) is a Python warning in the executors, which reaches no one: :func:`score`
carries it in the ``warnings`` column (``io.NOTES_ATTR``, as ``predict_cohort`` does), and
:func:`fit_kinetics` reads the rows of such patients on the driver (:func:`_noted_rows`) so
that the reader's :class:`~ca125kinetics.errors.DataQualityWarning` is raised there.
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from functools import cache, partial
from typing import Any

import pandas as pd

from .cohort import DEFAULT_POPULATION_SAMPLE, _check_population_sample, _prepare_population_fit, patient_chunks
from .errors import InvalidInputError
from .io import unnumbered

__all__ = ["fit_kinetics", "score"]

_TABLE = "_ca125_table"  # marks markers (0) and clinical (1) rows of the combined frame (_union)
_KEY = "_ca125_key"      # the patient key (_patient_key) of the first patients' rows on the driver
#: Rows converted to pandas and passed to the in-process function at a time.
_CHUNK_ROWS = 100_000


def _require_spark(df, name: str):
    """``df`` checked to be a Spark DataFrame the readers can read, its column names without
    the spaces at their ends (the readers strip them: a CSV header ``"patient_id "``).

    The names are checked by the readers' own rules (``io._check_header``,
    ``io._resolve_columns``, as the streamed CLI checks a file's header) before Spark
    resolves any of them: Spark matches names regardless of case, so ``ca125`` beside
    ``CA125`` or ``PATIENT_ID`` beside ``patient_id`` failed in Spark's analysis
    (``AMBIGUOUS_REFERENCE``), where the readers refuse them saying which to rename."""
    try:
        from pyspark.sql import DataFrame
    except ImportError as exc:  # pragma: no cover - the extra is missing
        raise InvalidInputError("ca125kinetics.spark needs pyspark: pip install 'ca125kinetics[spark]'") from exc
    from .io import CLINICAL_KNOWN, MARKERS_KNOWN, _check_header, _require, _resolve_columns

    if not isinstance(df, DataFrame):
        raise InvalidInputError(f"{name} must be a Spark DataFrame, got {type(df).__name__}")
    label = f"{name} DataFrame"   # as the readers name a DataFrame
    _check_header(df.columns, label)
    stripped = [c.strip() for c in df.columns]
    if stripped != df.columns:
        df = df.toDF(*stripped)
    known = MARKERS_KNOWN if name == "markers" else CLINICAL_KNOWN
    _require(_resolve_columns(dict.fromkeys(stripped), known, None, label), ("patient_id",), label, name)
    _require_readable_types(df, name)
    return _binary_collation(df)


def _binary_collation(df):
    """``df`` with every text column in Spark's default collation (``UTF8_BINARY``), in which
    Spark compares text as Python does. Under a collation such as ``UTF8_LCASE`` or
    ``UNICODE_CI`` (Spark 4), Spark takes ``"a1"`` and ``"A1"`` for one value when it
    partitions, sorts and compares, which the readers keep apart as two patients: the rows of
    the two patients reached a partition interleaved, and scoring failed in the executor
    ("patient 'a1' appears again after other patients' rows")."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    collated = [isinstance(f.dataType, T.StringType)
                and getattr(f.dataType, "collation", "UTF8_BINARY") != "UTF8_BINARY" for f in df.schema.fields]
    if not any(collated):
        return df
    names = list(df.columns)   # selected by position: names may differ only in case
    plain = df.toDF(*(f"_{i}" for i in range(len(names))))
    return plain.select(*(F.collate(F.col(f"_{i}"), "UTF8_BINARY").alias(f"_{i}") if text else F.col(f"_{i}")
                          for i, text in enumerate(collated))).toDF(*names)


def _require_readable_types(df, name: str) -> None:
    """Refuse a data-contract column of a Spark type the readers cannot read unambiguously:
    binary (its text encoding is unknown: the reader would see ``b'007'``), single precision
    (``21.2`` is stored as 21.2000007629...: which did the laboratory write?), and arrays,
    maps and structs (one value per cell). The message says how to cast it."""
    from pyspark.sql import types as T

    from .io import MARKERS_KNOWN

    for field in df.schema.fields:
        if field.name not in MARKERS_KNOWN:   # every contract column, the clinical ones included
            continue
        kind = field.dataType
        if isinstance(kind, (T.BinaryType, T.FloatType)):
            why = ("its text encoding is unknown" if isinstance(kind, T.BinaryType)
                   else "single precision stores 21.2 as 21.2000007629...")
            how = f"df.withColumn({field.name!r}, F.col({field.name!r}).cast('string'))"
        elif isinstance(kind, (T.ArrayType, T.MapType, T.StructType)):
            why, how = "a cell must hold one value", "select one value per row into a plain column"
        else:
            continue
        raise InvalidInputError(
            f"{name} column {field.name!r} is a Spark {kind.simpleString()}, which cannot be read "
            f"unambiguously ({why}); {how}", column=field.name)


def _check_partitions(partitions) -> None:
    from numbers import Integral

    if partitions is not None and (isinstance(partitions, bool) or not isinstance(partitions, Integral)
                                   or partitions < 1):
        raise InvalidInputError("partitions must be a whole number >= 1 (Spark partitions of the work) or "
                                f"None (twice the session's default parallelism), got {partitions!r}")


def _spark_schema(frame: pd.DataFrame):
    """Spark schema of a result frame: floats double, integers long, booleans boolean,
    everything else text (nullable)."""
    from pyspark.sql import types as T

    def field(name, dtype):
        kind = getattr(dtype, "kind", "O")
        if str(dtype) in ("boolean", "bool") or kind == "b":
            spark_type = T.BooleanType()
        elif kind in "iu" or str(dtype) == "Int64":
            spark_type = T.LongType()
        elif kind == "f":
            spark_type = T.DoubleType()
        else:
            spark_type = T.StringType()
        return T.StructField(name, spark_type, True)

    return T.StructType([field(c, frame[c].dtype) for c in frame.columns])


def _run(df, partitions: int | None, work, schema, *, by_table: bool = False):
    """``work`` (a partition function, keyword ``names``) run with ``mapInArrow`` on the
    rows of ``df`` hash-partitioned by patient, sorted by patient (clinical rows after the
    markers rows of their patient, ``by_table``: :data:`_TABLE` of :func:`_union`) within
    partitions.

    The rows are grouped by :func:`_patient_key`, not by the raw ``patient_id``: identifiers
    the reader takes for one patient (``" 7"`` and ``"7"``) must reach one partition and one
    chunk. The columns travel under their positions (``_0``, ``_1``, ...) and ``work`` gets
    the names back (``names``): ``mapInArrow`` names its input columns, and pyspark reads a
    name with a dot (``ca125.1``) as a field of a struct."""
    from pyspark.sql import functions as F

    names = list(df.columns)
    plain = df.toDF(*(f"_{i}" for i in range(len(names))))
    key = _patient_key(plain, f"_{names.index('patient_id')}")
    order = [key] + ([F.col(f"_{names.index(_TABLE)}")] if by_table else [])
    n = partitions or 2 * df.sparkSession.sparkContext.defaultParallelism
    return plain.repartition(n, key).sortWithinPartitions(*order).mapInArrow(partial(work, names=names), schema)


def _patient_key(df, column: str = "patient_id"):
    """The Spark column that groups the rows of one patient: a text identifier as the reader
    reads it (:func:`ca125kinetics.io.read_markers`; the chunking's key,
    ``cohort._key_text``): with a space at an end, stripped of the whitespace at its ends
    (what Python's ``str.strip`` removes), else as it is; any other type as it is. (The test
    for a space costs about nothing; stripping every identifier made the shuffle and sort of
    4.2 million rows about 1.5 s slower.)"""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    if isinstance(df.schema[column].dataType, T.StringType):
        text = F.col(column)
        return F.when(text.startswith(" ") | text.endswith(" "),
                      F.btrim(text, F.lit(_whitespace()))).otherwise(text)
    return F.col(column)


@cache
def _whitespace() -> str:
    """The characters ``str.strip()`` removes (``str.isspace``)."""
    import sys

    return "".join(filter(str.isspace, map(chr, range(sys.maxunicode + 1))))   # 29 of them; ~40 ms


def _missing_id(df):
    """Rows whose ``patient_id`` is null (or NaN): the reader refuses them, whatever the
    patient."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    column = F.col("patient_id")
    if isinstance(df.schema["patient_id"].dataType, (T.FloatType, T.DoubleType)):
        return column.isNull() | F.isnan(column)
    return column.isNull()


def _table_refusal_rows(df, marker: str, factors=(), names: dict[str, str] | None = None) -> pd.DataFrame:
    """Rows of markers ``df`` (the markers rows of :func:`_union`'s frame) that make the
    readers refuse the whole table wherever they are, for the driver to read beside the first
    patients (:func:`_first_patients` brings the rows without an identifier): one row per
    distinct ``marker`` cell other than ``marker`` (the reader refuses a table whose
    ``marker`` column names another marker) and, for each column of ``factors`` on the
    markers (a clinical table given: clinical factors on both tables are refused), one row
    that gives a value (``io.given_cells``: not missing, not blank text). Otherwise a row
    after the first patients was refused by the executor that read it, at the action, as a
    Spark ``PythonException`` whose message named only that chunk's markers or factors.
    ``names``: the user's name of each column of ``df`` (the union's columns travel under
    their positions). Empty (no Spark job) when ``df`` has none of these columns."""
    from functools import reduce

    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    def given(name):
        column, kind = F.col(name), df.schema[name].dataType
        if isinstance(kind, T.StringType):
            return column.isNotNull() & (F.btrim(column, F.lit(_whitespace())) != "")
        if isinstance(kind, (T.FloatType, T.DoubleType)):
            return column.isNotNull() & ~F.isnan(column)
        return column.isNotNull()

    user = names or {c: c for c in df.columns}
    parts = []
    for c in df.columns:
        if user.get(c) == "marker":
            parts.append(df.where(F.col(c).isNotNull() & (F.col(c).cast("string") != marker)).dropDuplicates([c]))
        elif user.get(c) in factors and user.get(c) != "patient_id":
            parts.append(df.where(given(c)).limit(1))
    if not parts:
        return pd.DataFrame(columns=df.columns)
    return _to_pandas(reduce(lambda a, b: a.unionByName(b), parts))


def _noted_rows(df, marker: str, head: pd.DataFrame, n: int) -> pd.DataFrame:
    """The rows of the patients after the first ``n`` (``head``, :func:`_first_patients`) that
    may have samples without a ULN beside samples with one, for the driver to read: the reader
    notes such a patient (``io._partial_uln``: the empty cells are read with the default ULN)
    in a :class:`~ca125kinetics.errors.DataQualityWarning`, which the executors' readings
    raise where no one sees it. The in-process ``fit_kinetics`` takes a table read by
    ``read_markers``, whose warning the caller saw; the driver's readings of ``head`` and of
    these rows say it too. The selection is wider than the reader's test (a ``uln`` cell
    Spark does not read as a number, ``"30,5"`` or ``"NA"``, counts as possibly empty, any
    cell as possibly given); the reader decides. Empty (no Spark job) without a ``uln``
    column, or when ``head`` holds every patient."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    if "uln" not in df.columns:
        return pd.DataFrame(columns=df.columns)
    keys = {_key_value(v) for v in head["patient_id"] if not _missing_value(v)}
    if len(keys) < n:
        return pd.DataFrame(columns=df.columns)   # every patient is in head
    last = max(keys)
    uln, kind = F.col("uln"), df.schema["uln"].dataType
    number = uln.cast("double") if isinstance(kind, T.StringType) else uln
    empty = (uln.isNull() | number.isNull() | F.isnan(number)
             if isinstance(kind, (T.StringType, T.FloatType, T.DoubleType)) else uln.isNull())
    value = next((c for c in (marker, "ca125") if c in df.columns), None)
    if value is not None:
        empty = empty & F.col(value).isNotNull()
    key = _patient_key(df)
    after = df.where(key > F.lit(last.item() if hasattr(last, "dtype") else last))
    if not after.where(empty).take(1):   # a scan, no shuffle: most tables give every sample its ULN
        return pd.DataFrame(columns=df.columns)
    taken = {c.lower() for c in df.columns}   # Spark matches names regardless of case
    key_name = _KEY
    while key_name.lower() in taken:
        key_name += "_"
    patients = (after.groupBy(key.alias(key_name))
                .agg(F.max(empty.cast("int")).alias("_empty"), F.max(uln.isNotNull().cast("int")).alias("_given"))
                .where((F.col("_empty") == 1) & (F.col("_given") == 1)).select(key_name))
    keyed = df.withColumn(key_name, key)
    return _to_pandas(keyed.join(patients, on=key_name, how="left_semi").drop(key_name))


def _key_value(v):
    """A ``patient_id`` of the driver's rows as :func:`_patient_key` keys it in Spark."""
    return v.strip() if isinstance(v, str) and (v.startswith(" ") or v.endswith(" ")) else v


def _missing_value(v) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _frames(batches, rows: int = _CHUNK_ROWS, names: list[str] | None = None):
    """Pandas frames of a partition's Arrow record batches, about ``rows`` rows each, with
    columns ``names`` (:func:`_run`) and every row labelled None (``io.unnumbered``): a Spark
    row has no position in the user's table, so the readers' messages name none.

    Spark hands a partition to Python in batches of ``spark.sql.execution.arrow.maxRecordsPerBatch``
    rows (10,000 by default); converting them some 100,000 rows at a time, as pandas
    reads Parquet, costs less than one pandas conversion per batch (``mapInPandas``)."""
    from itertools import chain

    import pyarrow as pa

    group: list = []
    held = 0
    for batch in chain(batches, [None]):   # None: the end of the partition (read lazily)
        if batch is not None:
            group.append(batch)
            held += batch.num_rows
        if group and (held >= rows or batch is None):
            frame = pa.Table.from_batches(group).to_pandas()
            if names is not None:
                frame.columns = names
            yield unnumbered(frame)
            group, held = [], 0


def _to_arrow(frame: pd.DataFrame, schema):
    """Arrow record batches of a result frame in the Arrow form of its Spark ``schema``
    (a text column stored by pyarrow in several blocks, as ``_columns.constant_text`` makes
    it, comes back as several batches: pyspark takes a batch's columns as single arrays)."""
    import pyarrow as pa

    return pa.Table.from_pandas(frame, schema=schema, preserve_index=False).to_batches()


def _arrow_schema(schema):
    from pyspark.sql.pandas.types import to_arrow_schema

    return to_arrow_schema(schema)


def _kinetics_partition(batches, *, method, population, settings, spec, formats, schema, names):
    from .io import read_markers
    from .kinetics import fit_kinetics as fit

    for chunk in patient_chunks(_frames(batches, names=names), source="Spark markers", min_rows=_CHUNK_ROWS):
        markers = read_markers(chunk, uln=settings.uln, on_error="flag", marker=spec, **formats)
        yield from _to_arrow(fit(markers, method=method, settings=settings, marker=spec,
                                 **({"population": population} if method == "population" else {})),
                             schema)


def _first_patients(df, n: int) -> pd.DataFrame:
    """The rows of the first ``n`` patients in identifier order (:func:`_patient_key`), and
    every row without an identifier (the reader refuses those: on the driver, with the
    in-process message, not in an executor when the result is collected), on the driver.

    The rows are selected with a filter ``key <= bound`` (a join with the
    identifiers would shuffle the whole table twice), where ``bound`` is an identifier at or
    after the ``n``-th (:func:`_bound`, cheap: no distinct of the whole table); the driver
    then keeps the rows up to the exact ``n``-th identifier. When the bound proves too low
    (fewer than ``n`` patients under it), the exact ``n``-th identifier is found with a
    top-``n`` of the distinct identifiers, as the result must not depend on an estimate."""
    from pyspark.sql import functions as F

    missing = _missing_id(df)
    ids = df.where(~missing).select(_patient_key(df).alias("patient_id"))
    taken = {c.lower() for c in df.columns}   # Spark matches names regardless of case
    key_name = _KEY
    while key_name.lower() in taken:   # a column of the user's table of that name is kept
        key_name += "_"
    keyed = df.withColumn(key_name, _patient_key(df))
    bound = _bound(ids, n)
    rows = _to_pandas(keyed if bound is None else keyed.where(missing | (F.col(key_name) <= F.lit(bound))))
    first = _sorted_unique(rows[key_name].dropna())
    if len(first) < n and bound is not None:   # the estimate was too low: the exact n-th
        last = ids.distinct().orderBy("patient_id").limit(n).agg(F.max("patient_id")).first()[0]
        rows = _to_pandas(keyed.where(missing | (F.col(key_name) <= F.lit(last))))
        first = _sorted_unique(rows[key_name].dropna())
    if len(first) > n:   # every known row's key is one of first (sorted): keep those up to the n-th
        key = rows[key_name]
        keep = key.isna().to_numpy(copy=True)
        keep[~keep] = (key[~keep] <= first[n - 1]).to_numpy()
        rows = rows[keep].reset_index(drop=True)
    return rows.drop(columns=key_name)


def _sorted_unique(values: pd.Series):
    import numpy as np

    return np.sort(pd.unique(values))


#: Patients of the hash sample below the bound of :func:`_bound` (its relative error is
#: about one over the square root of this).
_SAMPLE_PATIENTS = 2000


def _bound(ids, n: int):
    """An identifier at or after the ``n``-th smallest of ``ids`` (a one-column Spark
    DataFrame of non-null ``patient_id``), or None when there may be fewer than ``n``.

    Small ``n``: exact, by :func:`_nth_id`. Large ``n``: the patients whose identifier hashes
    to 0 modulo ``m = n // _SAMPLE_PATIENTS`` are a random ``1/m`` of them (all of their
    rows), so the ``n/m``-th identifier of that sample estimates the ``n``-th; the bound is
    taken a little after it (10% plus four standard deviations), so that it is rarely low."""
    import math

    from pyspark.sql import functions as F

    m = n // _SAMPLE_PATIENTS
    if m < 2:
        return _nth_id(ids, n)
    k = n / m
    sample = ids.where(F.xxhash64("patient_id") % m == 0)
    return _nth_id(sample, math.ceil(1.1 * k + 4 * math.sqrt(k)))


def _nth_id(ids, n: int):
    """The exact ``n``-th smallest distinct identifier of ``ids``, or None when there are
    fewer. The ``k`` smallest rows (a per-partition top-``k``, no shuffle of the table) hold
    a prefix of the sorted distinct identifiers; ``k`` grows until the prefix reaches ``n``
    identifiers or every row was taken."""
    k = 8 * n
    while True:
        top = _to_pandas(ids.orderBy("patient_id").limit(k))["patient_id"]
        first = _sorted_unique(top)
        if len(first) >= n:
            last = first[n - 1]
            return last.item() if hasattr(last, "dtype") else last  # a Python value for F.lit
        if len(top) < k:
            return None
        k *= 4


def _to_pandas(df) -> pd.DataFrame:
    """A Spark DataFrame on the driver through Arrow, converted as pandas reads Parquet.

    Timestamps come as the executors' batches hold them, in the session's time zone
    (``spark.sql.session.timeZone``), whose calendar date the readers take: ``toArrow``
    gives them in UTC, and a sample at midnight in Paris was read on the day before on the
    driver (the population learned there) and on its own day on the executors."""
    if hasattr(df, "toArrow"):  # pyspark >= 4.0
        import pyarrow as pa

        table = df.toArrow()
        zone = df.sparkSession.conf.get("spark.sql.session.timeZone")
        fields = [pa.field(f.name, pa.timestamp(f.type.unit, tz=zone), f.nullable)
                  if pa.types.is_timestamp(f.type) and f.type.tz is not None else f for f in table.schema]
        return table.cast(pa.schema(fields, table.schema.metadata)).to_pandas()
    return df.toPandas()


def fit_kinetics(df, *, method: str = "population", population=None, settings=None, marker=None,
                 population_sample: int = DEFAULT_POPULATION_SAMPLE, partitions: int | None = None,
                 date_format: str | None = None, decimal: str = ".", thousands: str | None = None):
    """KELIM-like kinetics of every patient of a Spark markers DataFrame.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        Long markers table of the data contract (raw: read and validated here with
        ``read_markers(on_error="flag")``, as the CLI does). ``patient_id`` and ``ca125``
        best as strings (leading zeros, ``"<5"``).
    method : {"population", "per-patient", "loglinear"}
        As :func:`ca125kinetics.kinetics.fit_kinetics`.
    population : KineticsPopulation, optional
        A fitted population; else learned on the driver (module docstring).
    settings : KineticsSettings, optional
        Defaults as in the in-process function.
    marker : str or MarkerSpec, optional
        The marker of the table (``"ca125"``, the default or the population's, or ``"cea"``),
        as in the in-process function: its value column is read.
    population_sample : int
        Patients the population is learned on when not given (first in ``patient_id`` order).
    partitions : int, optional
        Spark partitions of the work (default twice the default parallelism).
    date_format, decimal, thousands : optional
        How dates and numbers held as text are written, as in
        :func:`~ca125kinetics.io.read_markers` (default ISO dates, ``.`` decimals; other
        writings are flagged for their patient, never guessed).

    Returns
    -------
    pyspark.sql.DataFrame
        One row per patient with the columns of the in-process ``fit_kinetics``
        (:data:`ca125kinetics.kinetics.OUTPUT_COLUMNS`), in no particular order.
    """
    from .io import read_markers
    from .kinetics import _check_method, _population_marker, _settings, fit_population
    from .kinetics import fit_kinetics as fit

    df = _require_spark(df, "markers")
    _check_partitions(partitions)
    _check_method(method, population)   # as in process, before the population is used
    formats = {"date_format": date_format, "decimal": decimal, "thousands": thousands}
    # the in-process defaults: the population's marker and settings, else the marker's
    spec = _population_marker(population, marker)
    if settings is None and population is not None:
        settings = population.settings
    settings = _settings(settings, spec)
    learn = method == "population" and population is None
    if learn:
        _check_population_sample(population_sample)
    # while Spark finds the first patients, this process loads what learning the population
    # needs; while it learns it, the Python workers start and load the fitting code
    session = df.sparkSession
    with _in_background(session, _prepare_population_fit) if learn else nullcontext():
        first = population_sample if learn else 20
        rows = _first_patients(df, first)
        # rows beyond the first patients that make the reader refuse the whole table
        extra = _table_refusal_rows(df, spec.name)
        # and those of the patients after them whose samples the reader may note
        noted = _noted_rows(df, spec.name, rows, first)
    if len(extra):
        read_markers(pd.concat([rows, extra], ignore_index=True), uln=settings.uln, on_error="flag",
                     marker=spec, **formats)
    if len(noted):   # the reader's DataQualityWarning on these patients, as in process
        read_markers(noted, uln=settings.uln, on_error="flag", marker=spec, **formats)
    with _in_background(session, _warm_workers, session, method != "loglinear"):
        head = read_markers(rows, uln=settings.uln, on_error="flag", marker=spec, **formats)
        if learn:
            population = fit_population(head, settings=settings, marker=spec)
        # the in-process function on a few patients: checks the arguments, gives the schema
        # (a population given with another method is refused there, as in process)
        schema = _spark_schema(fit(head[head["patient_id"].isin(head["patient_id"].unique()[:20])],
                                   method=method, settings=settings, marker=spec,
                                   **({"population": population} if population is not None else {})))
    run = partial(_kinetics_partition, method=method, population=population, settings=settings, spec=spec,
                  formats=formats, schema=_arrow_schema(schema))
    return _run(df, partitions, run, schema)


@contextmanager
def _in_background(session, task, *args):
    """Run ``task(*args)`` in a thread while the body of the ``with`` runs, then wait for it
    and raise its error (unless the body raised one). The thread inherits the caller's job
    group, scheduler pool and tags of Spark ``session`` (``pyspark.InheritableThread``)."""
    from pyspark import InheritableThread

    errors: list[BaseException] = []

    def run():
        try:
            task(*args)
        except BaseException as exc:  # noqa: BLE001 - raised below, in the caller's thread
            errors.append(exc)

    thread = InheritableThread(run, session=session, daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join()
    if errors:
        raise errors[0]


def _warm_workers(session, compiled: bool) -> None:
    """Start the session's Python workers, one per task slot (its default parallelism), and
    load the kinetics code in them (with ``compiled``, the compiled engine's machine code
    too): Spark reuses a worker for the next tasks (``spark.python.worker.reuse``, on by
    default), so the kinetics job starts with workers that have imported pandas, pyarrow and
    the package (about a second of CPU each, which its first tasks would pay)."""
    context = session.sparkContext
    if context.getConf().get("spark.python.worker.reuse", "true").lower() != "true":
        return   # every task starts its own worker: nothing to warm
    n = context.defaultParallelism
    session.range(0, n, 1, n).mapInArrow(partial(_load_kinetics, compiled=compiled), "ready boolean").collect()


def _load_kinetics(batches, *, compiled: bool):
    from ._kinetics_engine import load_compiled
    from .io import read_markers  # noqa: F401 - loaded for the kinetics tasks that follow
    from .kinetics import fit_kinetics  # noqa: F401

    if compiled:
        load_compiled()
    for _ in batches:
        pass
    yield from ()


def _split_tables(chunk: pd.DataFrame, markers_columns: list[str], clinical_columns: list[str]):
    """The markers rows and the clinical rows of a chunk of the union, each table with its own
    columns under their own names (:func:`_carried`)."""
    is_clinical = (chunk[_TABLE] == 1).to_numpy()   # a plain mask: the rows' labels are all None
    markers = chunk.loc[~is_clinical, _carried(markers_columns, "_m")]
    markers.columns = markers_columns
    clinical = chunk.loc[is_clinical, _carried(clinical_columns, "_c")]
    clinical.columns = clinical_columns
    return markers, unnumbered(clinical)


def _carried(columns: list[str], prefix: str) -> list[str]:
    """The names of a table's columns in the union of the two tables (:func:`_union`): every
    column but ``patient_id`` under its position (``_m0``, ``_m1``, ... for the markers,
    ``_c0``, ... for the clinical table), so that a column the two tables share
    (``treatment_start`` beside dated samples, a site's own column, a factor on both),
    whatever the case of its name, keeps each table's values and type, and the readers see
    both, as in process (they refuse a factor given twice); and no column of the user's
    (``_ca125_table``, ``__ca125_clinical__age``) meets a name of the union's own."""
    return [c if c == "patient_id" else f"{prefix}{i}" for i, c in enumerate(columns)]


def _union(markers_df, clinical_df=None):
    """The rows of both tables (``clinical_df`` may be None) in one DataFrame: the columns
    under :func:`_carried` names and :data:`_TABLE` (0 markers, 1 clinical).

    The tables are aligned by position, never by Spark's resolution of their names, which
    ignores case (``site`` in one table took the values of ``Site`` in the other, and two
    extra columns ``note`` and ``Note`` of one table failed the union); the readers keep
    such names apart. (The user's names were kept beside ``_ca125_table`` and the clinical
    columns' prefixed names until 3 December 2026: a table with a column of such a name
    failed in Spark's analysis, AMBIGUOUS_REFERENCE.)"""
    from pyspark.sql import functions as F

    def plain(df, prefix):
        return df.toDF(*_carried(df.columns, prefix))

    markers = plain(markers_df, "_m").withColumn(_TABLE, F.lit(0))
    if clinical_df is None:
        return markers
    # unionByName keeps the markers' columns and appends the clinical ones they lack, in order
    return markers.unionByName(plain(clinical_df, "_c").withColumn(_TABLE, F.lit(1)), allowMissingColumns=True)


def _score_partition(batches, *, bundle, markers_columns, clinical_columns, allow_imputed, formats, schema, names):
    from .predict import score_frame

    for chunk in patient_chunks(_frames(batches, names=names), source="Spark markers and clinical",
                                min_rows=_CHUNK_ROWS):
        markers, clinical = _split_tables(chunk, markers_columns, clinical_columns)
        yield from _to_arrow(score_frame(bundle, markers, clinical if clinical_columns else None,
                                         allow_imputed=allow_imputed, **formats), schema)


def score(markers_df, clinical_df=None, *, model: Any = None, allow_imputed: bool = False,
          partitions: int | None = None, date_format: str | None = None, decimal: str = ".",
          thousands: str | None = None):
    """Score every patient with a trained model: Spark form of :func:`~ca125kinetics.predict.predict_cohort`.

    Parameters
    ----------
    markers_df : pyspark.sql.DataFrame
        Long markers table of the data contract.
    clinical_df : pyspark.sql.DataFrame, optional
        One row per patient (``patient_id`` required; missing predictors are unknown).
    model : None, str, Path or ModelBundle
        As :func:`ca125kinetics.predict.load_model`: the shipped model, an exported
        directory, or an MLflow URI such as ``models:/ca125-complete-resection@champion``.
        Loaded once on the driver and shipped to the executors with the task.
    allow_imputed : bool
        Decide even when clinical predictors or the on-treatment CA-125 of the kinetics are
        unknown, as in
        :func:`~ca125kinetics.predict.score_frame`; by default such a patient gets status
        ``insufficient`` and no decision.
    partitions : int, optional
        Spark partitions of the work (default twice the default parallelism).
    date_format, decimal, thousands : optional
        How dates and numbers held as text are written in either table, as in
        :func:`~ca125kinetics.predict.score_frame`.

    Returns
    -------
    pyspark.sql.DataFrame
        One row per patient (of either table) with the columns of
        :data:`ca125kinetics.predict.SCORE_COLUMNS`, in no particular order.
    """
    from pyspark.sql import functions as F

    from .io import CLINICAL_INPUT_COLUMNS
    from .markers import get_marker
    from .predict import load_model, score_frame
    from .task import bundle_task

    markers_df = _require_spark(markers_df, "markers")
    _check_partitions(partitions)
    bundle = model if hasattr(model, "gcig_settings") else load_model(model)
    _require_row_order_free(bundle)
    markers_columns = list(markers_df.columns)
    clinical_columns: list[str] = []
    if clinical_df is not None:
        clinical_df = _require_spark(clinical_df, "clinical")
        _require_same_id_type(markers_df, clinical_df)
        clinical_columns = list(clinical_df.columns)
    combined = _union(markers_df, clinical_df)
    # the in-process function on a few patients: checks the model and inputs, gives the schema
    head = _first_patients(combined, 20)
    formats = {"date_format": date_format, "decimal": decimal, "thousands": thousands}
    task = bundle_task(bundle)
    # the factors the readers refuse on both tables (treatment_start may repeat)
    factors = ((set(CLINICAL_INPUT_COLUMNS) | set(task.predictors)) - {"treatment_start"}
               if clinical_df is not None else set())
    extra = _table_refusal_rows(combined.where(F.col(_TABLE) == 0), get_marker(task.marker).name, factors,
                                dict(zip(_carried(markers_columns, "_m"), markers_columns)))
    if len(extra):   # rows beyond the first patients that make the readers refuse the whole table
        score_frame(bundle, *_head_tables(pd.concat([head, extra], ignore_index=True), markers_columns,
                                          clinical_columns), allow_imputed=allow_imputed, **formats)
    schema = _spark_schema(score_frame(bundle, *_head_tables(head, markers_columns, clinical_columns),
                                       allow_imputed=allow_imputed, **formats))
    run = partial(_score_partition, bundle=bundle, markers_columns=markers_columns,
                  clinical_columns=clinical_columns, allow_imputed=allow_imputed, formats=formats,
                  schema=_arrow_schema(schema))
    return _run(combined, partitions, run, schema, by_table=True)


def _require_row_order_free(bundle) -> None:
    """A model that keeps the first or last of a patient's same-day samples
    (``duplicates="first"``/``"last"``) scores by the order of the rows, which a Spark
    DataFrame does not have (a shuffle reorders them): refused, never a guess."""
    duplicates = getattr(getattr(bundle, "gcig_settings", None), "duplicates", "error")
    if duplicates in ("first", "last"):
        raise InvalidInputError(
            f"the model keeps the {duplicates} of a patient's same-day samples (duplicates={duplicates!r}), "
            "which depends on the order of the rows, and a Spark DataFrame has none; score the table in "
            "process (ca125 score, predict_cohort) or with a model trained with duplicates='error', 'mean', "
            "'median', 'max' or 'min'")


def _require_same_id_type(markers_df, clinical_df) -> None:
    """Spark's union of the two tables would convert one ``patient_id`` type to the other
    (text ``"007"`` to the number 7), joining patients the readers keep apart: identifiers of
    different types are refused (integers of different widths are the same numbers)."""
    from pyspark.sql import types as T

    ours, theirs = (df.schema["patient_id"].dataType for df in (markers_df, clinical_df))
    if ours != theirs and not (isinstance(ours, T.IntegralType) and isinstance(theirs, T.IntegralType)):
        raise InvalidInputError(
            f"patient_id is {ours.simpleString()} in markers but {theirs.simpleString()} in clinical; "
            "Spark would convert one to the other (text '007' to the number 7): give both the same type, "
            "as text: read the table whose patient_id is a number again with it as text (a CSV read with "
            "inferSchema has already lost its leading zeros, 007 -> 7, which a cast does not bring back), "
            "or, if its identifiers never had leading zeros, "
            "df.withColumn('patient_id', F.col('patient_id').cast('string'))",
            column="patient_id")


def _head_tables(head: pd.DataFrame, markers_columns, clinical_columns):
    markers, clinical = _split_tables(head, markers_columns, clinical_columns)
    return markers, (clinical if clinical_columns else None)
