"""Build the committed OMOP CDM test fixture (tests/data/omop/*.csv) from the committed
synthetic cohort: the first 120 patients of data/synthetic/default, written by
ca125kinetics.sources.omop.cohort_to_omop (synthetic vocabulary ids, real LOINC/UCUM/RxNorm/
SNOMED codes). Run from the repository root:

    python scripts/build_omop_fixture.py            # rewrite tests/data/omop
    python scripts/build_omop_fixture.py --duckdb cdm.duckdb   # also load it into a DuckDB file

tests/test_sources_omop.py checks that the committed files equal what this script writes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from ca125kinetics.sources.omop import cohort_to_omop, write_omop, write_omop_csv

ROOT = Path(__file__).resolve().parents[1]
COHORT = ROOT / "data" / "synthetic" / "default"
N_PATIENTS = 120


def fixture_tables(n: int = N_PATIENTS) -> dict[str, pd.DataFrame]:
    """OMOP tables of the first ``n`` patients of the committed synthetic cohort."""
    clinical = pd.read_csv(COHORT / "clinical.csv", dtype=str, keep_default_na=False, na_values=[""])
    markers = pd.read_csv(COHORT / "markers.csv", dtype=str, keep_default_na=False, na_values=[""])
    keep = sorted(clinical["patient_id"])[:n]
    return cohort_to_omop(markers[markers["patient_id"].isin(keep)], clinical[clinical["patient_id"].isin(keep)])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "tests" / "data" / "omop"), help="directory of the CSV files")
    parser.add_argument("--duckdb", help="also write the tables into this DuckDB file")
    args = parser.parse_args(argv)
    tables = fixture_tables()
    write_omop_csv(tables, args.out)
    if args.duckdb:
        write_omop(tables, f"duckdb:///{Path(args.duckdb).resolve()}")
    print(f"wrote {', '.join(f'{k} ({len(v)})' for k, v in tables.items())} to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
