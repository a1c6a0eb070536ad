"""The GCIG rules reproduce their recorded contract exactly, reasons included.

``tests/data/gcig_contract.parquet`` holds the outputs of ``gcig_cohort``,
``gcig_response`` and ``gcig_progression`` recorded by the per-patient implementation the
kernel replaced, on the committed synthetic cohort and on a generated stress cohort reaching
every branch of the rules (``tests/data/gcig_contract_generator.py`` says how it is
produced). Both executions of the kernel (plain Python and numba-compiled) must give it.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pandas as pd
import pytest

from ca125kinetics import gcig

DATA = Path(__file__).parent / "data"
sys.path.insert(0, str(DATA))
import gcig_contract_generator as generator  # noqa: E402

EXPECTED = pd.read_parquet(DATA / "gcig_contract.parquet")


def _round_trip(table: pd.DataFrame) -> pd.DataFrame:
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False)
    return pd.read_parquet(io.BytesIO(buffer.getvalue()))


@pytest.mark.parametrize("compiled_from", [10 ** 9, 1], ids=["python", "compiled"])
def test_rules_reproduce_the_recorded_contract(monkeypatch, compiled_from):
    monkeypatch.setattr(gcig, "COMPILED_MIN_PATIENTS", compiled_from)
    got = _round_trip(generator.build())
    assert got["case"].tolist() == EXPECTED["case"].tolist()
    for case, expected in EXPECTED.groupby("case", sort=False):
        pd.testing.assert_frame_equal(got[got["case"] == case], expected, check_exact=True, obj=case)
