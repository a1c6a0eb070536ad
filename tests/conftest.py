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


@pytest.fixture(scope="session")
def spark_session():
    """One local 2-core Spark session for the Spark test modules (skipped without pyspark or
    Java; scripts/test.sh installs Debian's default-jre-headless when missing)."""
    import os
    import shutil
    import sys

    pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'ca125kinetics[spark]')")
    if shutil.which("java") is None:
        pytest.skip("Java is not installed (Spark needs it; scripts/test.sh installs default-jre-headless)")
    from pyspark.sql import SparkSession

    # the workers must run this interpreter (the one with the package installed), not whatever
    # 'python3' is first on the PATH (Spark reads PYSPARK_PYTHON when the session starts)
    saved = os.environ.get("PYSPARK_PYTHON")
    os.environ["PYSPARK_PYTHON"] = sys.executable
    spark = (SparkSession.builder.master("local[2]").appName("ca125kinetics-test")
             .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.shuffle.partitions", "4").getOrCreate())
    yield spark
    spark.stop()
    if saved is None:
        os.environ.pop("PYSPARK_PYTHON", None)
    else:
        os.environ["PYSPARK_PYTHON"] = saved
