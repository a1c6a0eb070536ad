"""The model's design columns (``ca125kinetics._design``): a categorical column of a cohort,
converted value by value once per distinct value, equals the column converted cell by cell
(the few-patient route)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings, strategies as st

from ca125kinetics._design import _category_values

CELLS = st.one_of(st.none(), st.just(np.nan), st.just(pd.NA), st.sampled_from(["III", "IV", " ", "", "single", " x "]),
                  st.text(max_size=4), st.just("IV\x00"), st.integers(0, 3), st.just(1.0), st.just(1e20))


@settings(max_examples=100, deadline=None)
@given(st.lists(CELLS, min_size=65, max_size=120))
def test_category_values_of_a_cohort_equal_cell_by_cell(cells):
    values = np.empty(len(cells), dtype=object)
    values[:] = cells
    cohort = _category_values(values)
    one_by_one = np.concatenate([_category_values(values[i:i + 1]) for i in range(len(values))])
    assert cohort.dtype == object and cohort.tolist() == one_by_one.tolist()
