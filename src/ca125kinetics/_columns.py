"""Text columns of the output tables, built without a Python step per row (private).

A registry-scale table (a million rows) repeats a few texts in every row: the method, the
status, the provenance JSON. Built as an object array, pandas checks and copies every one
of those strings into its text storage (about 25 ms per 60,000 rows of a 400-character
text). These helpers build the same column from the few distinct texts: pyarrow repeats or
indexes them in C, and the column gets the dtype pandas gives text (``str``, stored by
pyarrow, from pandas 3; ``object`` before), so the table is the one an object array makes.

The scoring engine holds a text column in one of two forms: a numpy object array of Python
strings (None missing) for fewer than :data:`ARROW_MIN` rows, an Arrow string array (null
missing) from :data:`ARROW_MIN` rows (built by Arrow compute, never a Python string a row, and
taken into the table without a copy). The helpers below read and build either form.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


#: Rows from which a text column is built as an Arrow string array; fewer rows are Python
#: strings (an object array), which cost less than Arrow's calls for a few rows.
ARROW_MIN = 256


def _text_dtype():
    """The dtype pandas infers for a column of strings (``str`` or ``object``)."""
    return pd.Series(["x"]).dtype


#: Rows of the one block of :func:`constant_text` that every block of its column shares.
_BLOCK = 4096


def constant_text(value: str, n: int):
    """A text column of ``n`` rows that all hold ``value``.

    Stored by pyarrow, the column is one block of :data:`_BLOCK` copies of ``value``
    referenced as many times as needed: a provenance text of 300 characters over a million
    rows takes 1.3 MB instead of 300 MB (and no time to fill).
    """
    dtype = _text_dtype()
    if dtype == object or getattr(dtype, "storage", None) != "pyarrow":
        return np.full(n, value, dtype=object)
    import pyarrow as pa

    block = pa.repeat(pa.scalar(value, pa.large_string()), min(n, _BLOCK))
    full, rest = divmod(n, _BLOCK)
    blocks = [block] * full + ([block.slice(0, rest)] if rest else [])
    return pd.array(pa.chunked_array(blocks, pa.large_string()), dtype=dtype)


def repeated_text(text: str, n: int) -> np.ndarray:
    """An object array of ``n`` references to one string: the text ``numpy.full(n, text,
    dtype=object)`` holds (through a numpy string: a trailing NUL dropped), without the new
    string object per row that ``numpy.full`` makes (30 ms for 40,000 rows of a
    900-character text)."""
    out = np.empty(n, dtype=object)
    out.fill(np.full(1, text, dtype=object)[0])
    return out


def coded_text(labels, codes: np.ndarray):
    """A text column holding ``labels[codes[i]]`` in row ``i`` (``codes``: integers)."""
    dtype = _text_dtype()
    if dtype == object or getattr(dtype, "storage", None) != "pyarrow":
        return np.asarray(labels, dtype=object)[codes]
    import pyarrow as pa

    return pd.array(pa.array(list(labels), pa.large_string()).take(pa.array(np.asarray(codes, dtype=np.int64))),
                    dtype=dtype)


def is_arrow(values) -> bool:
    """Whether a text column is an Arrow array (else a numpy object array or a list)."""
    return hasattr(values, "to_pylist")


def text_objects(values) -> np.ndarray:
    """A text column as a numpy object array (None missing)."""
    return values.to_numpy(zero_copy_only=False) if is_arrow(values) else np.asarray(values, dtype=object)


def text_list(values) -> list:
    """A text column as a list of Python strings (None missing)."""
    return values.to_pylist() if is_arrow(values) else values.tolist()


def take_text(values, at: np.ndarray):
    """The rows ``at`` (integer positions) of a text column, in its form."""
    return values.take(np.asarray(at, dtype=np.int64)) if is_arrow(values) else values[at]


def labels_text(labels, codes: np.ndarray):
    """The text column holding ``labels[codes[i]]`` in row ``i`` (a None label: missing), in
    the form of its length: an object array, or an Arrow array of the labels taken by code."""
    if len(codes) < ARROW_MIN:
        return np.asarray(labels, dtype=object)[codes]
    import pyarrow as pa

    return pa.array(list(labels), pa.string(), from_pandas=True).take(np.asarray(codes, dtype=np.int64))


def scatter_text(n: int, parts):
    """One text column of ``n`` rows from ``parts``, ``(positions, texts)`` pairs (texts in
    either form, or a list); rows in no part are missing. In the form of ``n`` rows: an
    object array, or an Arrow string array (the parts concatenated, then taken in row order)."""
    if n < ARROW_MIN:
        out = np.full(n, None, dtype=object)
        for at, texts in parts:
            out[at] = text_objects(texts)
        return out
    import pyarrow as pa

    parts = [(at, t) for at, t in parts if len(at)]
    arrays = [t if is_arrow(t) else pa.array(t, type=pa.string()) for _, t in parts]
    order = np.concatenate([at for at, _ in parts]) if parts else np.zeros(0, dtype=np.int64)
    where = np.full(n, len(order), dtype=np.int64)   # position of each row's text; none: a null
    where[order] = np.arange(len(order))
    if len(order) < n:
        arrays.append(pa.nulls(1, type=pa.string()))
    return pa.concat_arrays(arrays).take(where)


def text_column(values, *, text: bool = False):
    """The column pandas makes of a text column in either form (as of an object array of the
    same strings): an Arrow string array is taken as it is (no copy of its texts), an
    object array converted by :func:`object_text`.

    With ``text`` (a column of a result table that holds text whatever its rows), a column
    without any value is typed as text too, where pandas makes objects of it: the column's
    type does not depend on its rows (a chunk of a cohort, a table of one patient)."""
    column = _text_column(values)
    if text and isinstance(column, np.ndarray) and column.dtype == object and pd.isna(column).all():
        return pd.array(np.full(len(column), None, dtype=object), dtype=_text_dtype())
    return column


def _text_column(values):
    if not is_arrow(values):
        return object_text(values)
    dtype = _text_dtype()
    if values.null_count == len(values) or dtype == object or getattr(dtype, "storage", None) != "pyarrow":
        return text_objects(values)     # no text at all, or pandas stores text as objects
    import pyarrow as pa

    return pd.array(values.cast(pa.large_string()), dtype=dtype)


def object_text(values: np.ndarray):
    """The column pandas makes of an object array of strings (None, NaN or NA missing),
    converted by pyarrow in C rather than by pandas' check of every string (the same ``str``
    column); ``values`` as they are when they are not all text (or pandas stores text as
    objects). Whether they are is what pyarrow finds as it converts them: the type
    ``string``, not a number, bytes, a mixture (an error) or nothing but missing values."""
    dtype = _text_dtype()
    if dtype == object or getattr(dtype, "storage", None) != "pyarrow":
        return values
    import pyarrow as pa

    try:
        text = pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return values
    if text.type != pa.string():
        return values
    return pd.array(text.cast(pa.large_string()), dtype=dtype)


# --------------------------------------------------------------------------- a probability beside its threshold


def threshold_text(threshold: float) -> str:
    """A threshold as the texts write it: two decimals (0.70), or every digit it has when two
    would round it (0.705 is not 0.70)."""
    short = f"{threshold:.2f}"
    return short if float(short) == threshold else f"{threshold:.15g}"


def probability_text(p: float, threshold: float) -> str:
    """A probability as the decision texts write it beside its threshold: two decimals, or as
    many more as it takes for the number written to stand on the threshold's side that the
    probability does (0.69995 against 0.70 is "0.69995", not "0.70", which read as equal to a
    threshold it is below: the rule compares exactly)."""
    for digits in range(2, 18):
        text = f"{p:.{digits}f}"
        if p != p or _side(float(text), threshold) == _side(p, threshold):
            return text
    return repr(p)


def _side(value, threshold):
    """-1, 0 or 1: ``value`` below, at or above ``threshold`` (elementwise for arrays)."""
    return np.sign(np.asarray(value, dtype=float) - threshold) if isinstance(value, np.ndarray) else \
        (value > threshold) - (value < threshold)
