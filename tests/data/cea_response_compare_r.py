"""Compare ``ca125kinetics.response_features`` with the independent R reading, field by field.

Usage::

    PYTHONPATH=src python tests/data/cea_response_compare_r.py CASES.csv [--r-out OUT.csv]
        [--threshold 0.9] [--uln 5] [--show 5]

Runs ``Rscript tests/data/cea_response_independent.R features CASES.csv OUT.csv`` (unless
``--r-out`` names an existing R output), runs the package on the same file
(``read_markers(..., marker="cea", uln=ULN, on_error="flag")`` then ``response_features``), and
prints, per field, how many patients agree and a few disagreements. ``package_table`` and
``compare`` are what ``tests/test_response.py`` uses against the stored R output.
"""

from __future__ import annotations

import argparse
import pathlib
import subprocess

import numpy as np
import pandas as pd

HERE = pathlib.Path(__file__).resolve().parent
FIELDS = ("invalid", "uln", "n_samples", "baseline_value", "baseline_day", "post_value",
          "post_day", "post_censored", "post_pre_ratio", "normalised", "clearance_slope",
          "clearance_r2", "exponential_clearance")
_NUMERIC = ("uln", "n_samples", "baseline_value", "baseline_day", "post_value", "post_day",
            "post_pre_ratio", "clearance_slope", "clearance_r2")


def package_table(cases: pathlib.Path, threshold: float = 0.9, uln: float = 5.0) -> pd.DataFrame:
    """The package's features on ``cases``, in the compared columns (one row per patient)."""
    from ca125kinetics import read_markers
    from ca125kinetics.response import response_features
    from ca125kinetics.settings import ResponseSettings

    markers = read_markers(cases, marker="cea", uln=uln, on_error="flag")
    table = response_features(markers, marker="cea",
                              response=ResponseSettings(clearance_r2_threshold=threshold))
    reason = table["response_reason"].fillna("")
    table["invalid"] = reason.str.startswith("invalid input")
    return _tidy(table)


def r_table(path: pathlib.Path) -> pd.DataFrame:
    """The R output (``cea_response_independent.R features``) in the compared columns."""
    r = pd.read_csv(path, dtype={"patient_id": str}, keep_default_na=True)
    r["invalid"] = r["reason"].fillna("").eq("invalid")
    return _tidy(r)


def _tidy(table: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({"patient_id": table["patient_id"].astype(str)})
    out["invalid"] = table["invalid"].astype(bool)
    for col in _NUMERIC:
        out[col] = pd.to_numeric(table[col], errors="coerce").astype(float)
    for col in ("post_censored", "normalised", "exponential_clearance"):
        out[col] = table[col].map({True: True, False: False}).astype("boolean")
    # the package's post_censored is False without a post sample; R's is NA
    out.loc[out["post_value"].isna(), "post_censored"] = pd.NA
    # an invalid patient carries no feature on either side
    out.loc[out["invalid"], list(FIELDS[1:])] = np.nan
    return out.sort_values("patient_id").reset_index(drop=True)


def compare(package: pd.DataFrame, r: pd.DataFrame, rtol: float = 1e-9) -> dict[str, pd.DataFrame]:
    """Per field, the patients whose values differ (NA equals NA; numbers to ``rtol``)."""
    merged = package.merge(r, on="patient_id", how="outer", suffixes=("_py", "_r"),
                           indicator=True)
    out = {"patient": merged[merged["_merge"] != "both"][["patient_id", "_merge"]]}
    for field in FIELDS:
        a, b = merged[f"{field}_py"], merged[f"{field}_r"]
        if field in _NUMERIC:
            x, y = a.to_numpy(float), b.to_numpy(float)
            same = (np.isnan(x) & np.isnan(y)) | np.isclose(x, y, rtol=rtol, atol=1e-12)
        else:
            same = (a.isna() & b.isna()) | (a.astype(object) == b.astype(object)).fillna(False)
            same = same.to_numpy(bool)
        out[field] = merged.loc[~same, ["patient_id", f"{field}_py", f"{field}_r"]]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", type=pathlib.Path)
    parser.add_argument("--r-out", type=pathlib.Path)
    parser.add_argument("--threshold", type=float, default=0.9)
    parser.add_argument("--uln", type=float, default=5.0, help="ULN where the uln column is empty")
    parser.add_argument("--show", type=int, default=5)
    args = parser.parse_args()
    r_out = args.r_out or pathlib.Path("/tmp/cea_response_r.csv")
    if args.r_out is None or not r_out.exists():
        subprocess.run(["Rscript", str(HERE / "cea_response_independent.R"), "features",
                        str(args.cases), str(r_out), "--threshold", repr(args.threshold),
                        "--uln", repr(args.uln)],
                       check=True)
    diffs = compare(package_table(args.cases, args.threshold, args.uln), r_table(r_out))
    n = len(r_table(r_out))
    for field, rows in diffs.items():
        print(f"{field:24s} {n - len(rows):5d}/{n} agree")
        if len(rows):
            print(rows.head(args.show).to_string(index=False))


if __name__ == "__main__":
    main()
