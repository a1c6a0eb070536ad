"""Text columns of the output tables, built without a Python step per row (private).

A registry-scale table (a million rows) repeats a few texts in every row: the method, the
status, the provenance JSON. Built as an object array, pandas checks and copies every one
of those strings into its text storage (about 25 ms per 60,000 rows of a 400-character
text). These helpers build the same column from the few distinct texts: pyarrow repeats or
indexes them in C, and the column gets the dtype pandas gives text (``str``, stored by
pyarrow, from pandas 3; ``object`` before), so the table is the one an object array makes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _text_dtype():
    """The dtype pandas infers for a column of strings (``str`` or ``object``)."""
    return pd.Series(["x"]).dtype


def constant_text(value: str, n: int):
    """A text column of ``n`` rows that all hold ``value``."""
    dtype = _text_dtype()
    if dtype == object or getattr(dtype, "storage", None) != "pyarrow":
        return np.full(n, value, dtype=object)
    import pyarrow as pa

    return pd.array(pa.repeat(pa.scalar(value, pa.large_string()), n), dtype=dtype)


def coded_text(labels, codes: np.ndarray):
    """A text column holding ``labels[codes[i]]`` in row ``i`` (``codes``: integers)."""
    dtype = _text_dtype()
    if dtype == object or getattr(dtype, "storage", None) != "pyarrow":
        return np.asarray(labels, dtype=object)[codes]
    import pyarrow as pa

    return pd.array(pa.array(list(labels), pa.large_string()).take(pa.array(np.asarray(codes, dtype=np.int64))),
                    dtype=dtype)
