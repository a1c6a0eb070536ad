"""Compare ``ca125kinetics.gcig_cohort`` with the independent R reading, field by field.

Usage::

    python tests/data/gcig_compare_r.py MARKERS.csv [--uln 35] [--r-flags "--censored-bound --sustained"]
        [--set confirmation_days=21 ...] [--show 5] [--write-r OUT.csv]

Runs ``Rscript tests/data/gcig_independent.R MARKERS.csv OUT.csv ULN FLAGS``, runs the package
on the same file (``io.read_markers(..., on_error="flag")`` then ``gcig_cohort``), maps both to
the columns below and prints, per field, how many patients agree and a few disagreements.
"""

from __future__ import annotations

import argparse
import pathlib
import shlex
import subprocess
import tempfile

import pandas as pd

HERE = pathlib.Path(__file__).resolve().parent
FIELDS = ("status", "evaluable", "responded", "category", "response_day", "confirmation_day",
          "baseline_day", "baseline_value", "progression_status", "progressed",
          "progression_group", "progression_day", "n_excluded", "uln")

#: ``GcigSettings`` fields that choose a reading of the rule text: ``--set`` gives them to the
#: package only; the R script's flag for the same reading goes in ``--r-flags``
#: (``progression_confirmation=sustained``: ``--sustained``; ``any``: no flag;
#: ``response_fall=first``: no flag; ``restart``: ``--restart``).
READINGS = ("progression_confirmation", "response_fall")

_RESPONSE_STATUS = {
    "confirmed": "response", "unconfirmed": "unconfirmed", "rose_above_half": "not_confirmed",
    "rise_over_10pct": "not_confirmed", "no_fall": "no_response", "no_sample": "awaiting",
    "baseline_below_2uln": "not_evaluable", "no_baseline": "not_evaluable",
    "assay_changes": "not_evaluable", "uln_changes": "not_evaluable",
    "censored": "undetermined", "censored_baseline": "not_evaluable",
}


def run_r(markers: pathlib.Path, out: pathlib.Path, uln: float, flags: str) -> pd.DataFrame:
    subprocess.run(["Rscript", str(HERE / "gcig_independent.R"), str(markers), str(out),
                    repr(uln), *shlex.split(flags)], check=True)
    return pd.read_csv(out, dtype={"patient_id": str})


def normalise_r(r: pd.DataFrame) -> pd.DataFrame:
    """The R output in the package's vocabulary (one row per patient)."""
    out = pd.DataFrame({"patient_id": r["patient_id"]})
    error = r["status"].eq("error")
    out["status"] = r["response_rule"].map(_RESPONSE_STATUS).where(~error, "invalid_input")
    out["evaluable"] = r["status"].map({"evaluable": True, "not_evaluable": False})
    out["responded"] = r["response"].map({True: True, False: False})
    out.loc[out["status"].eq("not_evaluable"), "responded"] = False
    out["category"] = r["category"]
    for col in ("response_day", "confirmation_day", "baseline_day", "progression_day"):
        out[col] = r[col].astype("Int64")
    out["baseline_value"] = r["baseline_value"]
    prog = r["progression"].map({True: "progression", False: "no_progression"})
    prog = prog.where(~r["progression_rule"].isin(["no_baseline", "assay_changes", "uln_changes",
                                                     "censored_baseline"]), "not_evaluable")
    prog = prog.where(~r["progression_rule"].eq("censored"), "undetermined")
    out["progression_status"] = prog.where(~error, "invalid_input")
    out["progressed"] = r["progression"].map({True: True, False: False})
    out.loc[out["progression_status"].eq("not_evaluable"), "progressed"] = False
    out["progression_group"] = r["progression_group"]
    out["n_excluded"] = r["n_excluded"].astype("Int64")
    out["uln"] = r["uln"]
    # a data error carries no result in either implementation
    out = out.astype(object)
    out.loc[error, [f for f in FIELDS if f not in ("status", "progression_status")]] = pd.NA
    return out.set_index("patient_id").sort_index()


def package(markers: pathlib.Path, uln: float, settings: dict | None = None) -> pd.DataFrame:
    """The package's fields for a markers file (read as a user reads it)."""
    from ca125kinetics import gcig, io
    from ca125kinetics.settings import GcigSettings

    frame = io.read_markers(markers, on_error="flag", uln=uln)
    return package_fields(gcig.gcig_cohort(frame, settings=GcigSettings(uln=uln, **(settings or {}))))


def package_fields(res: pd.DataFrame) -> pd.DataFrame:
    """The compared fields of a ``gcig_cohort`` table, indexed by patient."""
    out = res.set_index("patient_id").sort_index()[list(FIELDS)].astype(object)
    out.loc[out["status"].eq("invalid_input"),
            [f for f in FIELDS if f not in ("status", "progression_status")]] = pd.NA
    # a patient with no result for a field has nothing to compare (no group when not evaluable)
    out.loc[out["progression_status"].eq("not_evaluable"), "progression_group"] = pd.NA
    return out


def _same(a: pd.Series, b: pd.Series) -> pd.Series:
    a = a.astype(object).where(a.notna(), None)
    b = b.astype(object).where(b.notna(), None)
    eq = []
    for x, y in zip(a, b):
        if x is None or y is None:
            eq.append(x is None and y is None)
        elif isinstance(x, (int, float)) and isinstance(y, (int, float)) and not isinstance(x, bool):
            eq.append(abs(float(x) - float(y)) <= 1e-9 * max(1.0, abs(float(x))))
        else:
            eq.append(x == y)
    return pd.Series(eq, index=a.index)


def compare(py: pd.DataFrame, r: pd.DataFrame) -> pd.DataFrame:
    """One boolean column per field: True where the two agree."""
    assert list(py.index) == list(r.index)
    return pd.DataFrame({f: _same(py[f], r[f]) for f in FIELDS}, index=py.index)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("markers", type=pathlib.Path)
    parser.add_argument("--uln", type=float, default=35.0)
    parser.add_argument("--r-flags", default="")
    parser.add_argument("--show", type=int, default=5)
    parser.add_argument("--write-r", type=pathlib.Path)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a GcigSettings field for both sides, e.g. confirmation_days=21")
    args = parser.parse_args()
    settings = {}
    for item in args.set:
        name, value = item.split("=")
        if name in READINGS:   # a reading: the package's side only; --r-flags selects R's
            settings[name] = value
            continue
        settings[name] = float(value) if name in ("evaluable_factor", "response_fraction",
                                                  "assay_tolerance", "progression_factor") else int(value)
    flags = " ".join([args.r_flags, *(f"--set={item}" for item in args.set if item.split("=")[0] not in READINGS)])
    with tempfile.TemporaryDirectory() as tmp:
        raw = run_r(args.markers, args.write_r or pathlib.Path(tmp) / "r.csv", args.uln, flags)
    r = normalise_r(raw)
    py = package(args.markers, args.uln, settings)
    ok = compare(py, r)
    print(f"{len(ok)} patients, {ok.all(axis=1).sum()} agree on all {len(FIELDS)} fields; "
          f"{int(ok.values.sum())}/{ok.size} fields agree")
    for f in FIELDS:
        bad = ok.index[~ok[f]]
        if len(bad):
            print(f"\n{f}: {len(bad)} disagreements")
            show = pd.DataFrame({"package": py.loc[bad, f], "R": r.loc[bad, f]})
            print(show.head(args.show).to_string())


if __name__ == "__main__":
    main()
