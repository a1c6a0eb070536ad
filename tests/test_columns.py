"""Text columns built from their distinct texts (ca125kinetics._columns) equal the columns
pandas builds from object arrays, dtype included."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, strategies as st

from ca125kinetics._columns import (
    ARROW_MIN, coded_text, constant_text, is_arrow, labels_text, object_text, scatter_text, take_text, text_column,
    text_list,
)

TEXT = st.text(max_size=40)


@given(TEXT, st.integers(0, 9000))
def test_constant_text_is_the_object_array_column(value, n):
    cells = np.empty(n, dtype=object)
    cells[:] = [value] * n          # (np.full would pass the text through a numpy string, dropping a trailing NUL)
    expected = pd.Series(cells)
    got = pd.Series(constant_text(value, n))
    pd.testing.assert_series_equal(got, expected.astype(pd.Series([value]).dtype) if n == 0 else expected)


@given(st.lists(TEXT, min_size=1, max_size=5, unique=True), st.data())
def test_coded_text_is_the_indexed_object_array_column(labels, data):
    codes = np.asarray(data.draw(st.lists(st.integers(0, len(labels) - 1), max_size=30)), dtype=np.int64)
    expected = pd.Series(np.asarray(labels, dtype=object)[codes])
    got = pd.Series(coded_text(labels, codes))
    pd.testing.assert_series_equal(got, expected.astype(pd.Series(labels).dtype) if codes.size == 0 else expected)


def test_the_columns_have_the_text_dtype_of_pandas():
    assert pd.Series(constant_text("ok", 3)).dtype == pd.Series(["ok"]).dtype
    assert pd.Series(coded_text(["a", "b"], np.array([1, 0]))).dtype == pd.Series(["ok"]).dtype


@given(st.lists(st.one_of(TEXT, st.none(), st.just(np.nan), st.just(pd.NA), st.integers(0, 3), st.just(1.5),
                         st.booleans(), st.binary(max_size=3)), max_size=30))
def test_object_text_is_the_column_pandas_makes_of_the_object_array(cells):
    """Strings with None/NaN missing become the same ``str`` column pandas makes (converted by
    pyarrow); an array not all text (numbers, flags or bytes among them, or nothing but
    missing values) is left for pandas to make what it makes of it."""
    values = np.empty(len(cells), dtype=object)
    values[:] = cells
    expected = pd.DataFrame({"c": values.copy()})["c"]
    got = pd.DataFrame({"c": object_text(values)})["c"]
    pd.testing.assert_series_equal(got, expected)


@given(st.lists(st.one_of(TEXT, st.none()), max_size=30))
def test_a_text_column_in_either_form_is_the_column_pandas_makes_of_its_strings(cells):
    """An object array of strings (None missing) and the Arrow string array of the same
    strings make the column pandas makes of the object array: ``str``, or objects when no
    cell holds text (an empty column, or nothing but missing values)."""
    import pyarrow as pa

    values = np.empty(len(cells), dtype=object)
    values[:] = cells
    expected = pd.DataFrame({"c": values.copy()})["c"]
    for form in (values, pa.array(cells, pa.string())):
        got = pd.DataFrame({"c": text_column(form)})["c"]
        pd.testing.assert_series_equal(got, expected)


@given(st.lists(st.one_of(TEXT, st.none()), min_size=1, max_size=5), st.integers(0, 2 * ARROW_MIN),
       st.integers(0, 2**32 - 1))
def test_labels_and_scattered_texts_take_the_form_of_their_length(labels, n, seed):
    """``labels_text`` and ``scatter_text`` hold the texts an object array indexed the same
    way holds, as Python strings below ``ARROW_MIN`` rows and as Arrow from there; a row in
    no part of a scatter is missing."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, len(labels), n)
    expected = np.asarray(labels, dtype=object)[codes]
    column = labels_text(labels, codes)
    assert is_arrow(column) == (n >= ARROW_MIN)
    assert text_list(column) == expected.tolist()
    part = rng.integers(0, 3, n)            # part 0, part 1, or in no part
    at = [np.flatnonzero(part == k) for k in (0, 1)]
    scattered = scatter_text(n, [(at[0], take_text(column, at[0])), (at[1], expected[at[1]].tolist())])
    assert is_arrow(scattered) == (n >= ARROW_MIN)
    assert text_list(scattered) == np.where(part < 2, expected, None).tolist()
