"""Fixtures shared by several test modules."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

COHORT = Path(__file__).resolve().parents[1] / "data" / "synthetic" / "default"


@pytest.fixture(scope="session")
def committed_cohort():
    """(markers, clinical) of the committed synthetic cohort, read from its CSV files."""
    from ca125kinetics.io import read_clinical, read_markers

    clinical = read_clinical(COHORT / "clinical.csv", on_error="flag")
    return read_markers(COHORT / "markers.csv", clinical=clinical, on_error="flag"), clinical


@pytest.fixture(scope="session")
def same_results_as_csv(committed_cohort):
    """Check that a markers table read from another source gives the GCIG table, kinetics and
    predictions of the committed cohort's CSV files (computed once per session)."""
    from ca125kinetics.gcig import gcig_cohort
    from ca125kinetics.kinetics import fit_kinetics
    from ca125kinetics.predict import predict_cohort

    markers, clinical = committed_cohort
    expected = {}

    def check(table: pd.DataFrame) -> None:
        if not expected:
            expected.update(gcig=gcig_cohort(markers, clinical), kinetics=fit_kinetics(markers),
                            predictions=predict_cohort(markers, clinical))
        pd.testing.assert_frame_equal(gcig_cohort(table, clinical), expected["gcig"])
        pd.testing.assert_frame_equal(fit_kinetics(table), expected["kinetics"])
        pd.testing.assert_frame_equal(predict_cohort(table, clinical), expected["predictions"])

    return check
