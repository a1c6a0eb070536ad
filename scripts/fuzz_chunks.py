"""Differential fuzz of the cohort commands: a file read in chunks against the file read whole.

Not part of the test suite (it runs the CLI some thousands of times). For each seed, a
generator writes awkward cohort files (CSV and Parquet) drawn from the committed synthetic
cohort: identifiers that look like numbers ('007' and '7'), padded identifiers, patients
grouped but not sorted, a patient split in two runs, clinical patients without markers and
markers patients without clinical rows, rows that break the data contract, an empty file, a
header only, one patient, ';' with ',' decimals, --date-format, --rename, quoted newlines,
a BOM, CRLF line ends, same-day duplicates. Each of gcig, kinetics (population and
per-patient) and score, with and without --clinical, is run in-process with --chunk-rows 1,
2, 7, 50 and one above the file's rows, and the exit code, stdout, stderr, warnings and the
output file are compared. ORDER-ONLY lines are a documented difference (a file grouped but
not sorted is written chunk by chunk in the file's order); a patient split in two runs is
refused in chunks and read whole (documented too).

    SEEDS=0,1 OUTS=csv,parquet,text ONLY=sorted,split CMDS=gcig,score \
        PYTHONPATH=src python scripts/fuzz_chunks.py
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import os
import sys
import tempfile
import traceback
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ca125kinetics.cli import main

ROOT = Path(__file__).resolve().parents[1]
SYN = ROOT / "data" / "synthetic" / "default"
MODEL = ROOT / "models" / "default"
SYN_M = pd.read_csv(SYN / "markers.csv", dtype=str, keep_default_na=False)
SYN_C = pd.read_csv(SYN / "clinical.csv", dtype=str, keep_default_na=False)
CHUNKS = [1, 2, 7, 50, 10**6]


def base_cohort(rng, n):
    ids = rng.choice(SYN_C["patient_id"].unique(), n, replace=False)
    m = SYN_M[SYN_M.patient_id.isin(ids)].copy()
    c = SYN_C[SYN_C.patient_id.isin(ids)].copy()
    return m, c


def relabel(m, c, mapping):
    m = m.copy(); c = c.copy()
    m["patient_id"] = m["patient_id"].map(mapping)
    c["patient_id"] = c["patient_id"].map(mapping)
    return m, c


def order(m, keys):
    """rows grouped in the order of keys"""
    pos = {k: i for i, k in enumerate(keys)}
    m = m.assign(_o=m["patient_id"].map(pos)).sort_values("_o", kind="stable").drop(columns="_o")
    return m


def variants(rng):
    n = int(rng.integers(11, 22))
    m, c = base_cohort(rng, n)
    old = sorted(m.patient_id.unique())
    out = {}
    # sorted text ids
    mp = {o: f"P{i:03d}" for i, o in enumerate(old)}
    out["sorted"] = (*relabel(m, c, mp), {})
    # number-looking ids: 007 vs 7 vs 10
    nums = rng.permutation([f"{i}" for i in range(1, len(old) + 1)])
    mp = {o: (("00" + v) if k % 2 else v) for k, (o, v) in enumerate(zip(old, nums))}
    mm, cc = relabel(m, c, mp)
    out["numlike_unsorted"] = (order(mm, list(dict.fromkeys(mm.patient_id))), cc, {})
    out["numlike_textsorted"] = (order(mm, sorted(set(mm.patient_id))), cc, {})
    out["numlike_numsorted"] = (order(mm, sorted(set(mm.patient_id), key=lambda s: (int(s), s))), cc, {})
    # 007 and 7 both present
    mm, cc = relabel(m, c, {o: f"P{i:03d}" for i, o in enumerate(old)})
    ids = sorted(set(mm.patient_id))
    mm.loc[mm.patient_id == ids[0], "patient_id"] = "007"
    cc.loc[cc.patient_id == ids[0], "patient_id"] = "007"
    mm.loc[mm.patient_id == ids[1], "patient_id"] = "7"
    cc.loc[cc.patient_id == ids[1], "patient_id"] = "7"
    out["007_vs_7"] = (order(mm, sorted(set(mm.patient_id))), cc, {})
    # padded identifiers: some rows of a patient padded, some not
    mm, cc = relabel(m, c, {o: f"P{i:03d}" for i, o in enumerate(old)})
    pad = rng.random(len(mm)) < 0.4
    mm.loc[pad, "patient_id"] = [" " + p if rng.random() < .5 else p + " " for p in mm.loc[pad, "patient_id"]]
    out["padded"] = (mm, cc, {})
    cc2 = cc.copy(); cc2["patient_id"] = " " + cc2["patient_id"]
    out["padded_clin"] = (mm, cc2, {})
    # grouped not sorted
    mm, cc = relabel(m, c, {o: f"P{i:03d}" for i, o in enumerate(old)})
    keys = list(rng.permutation(sorted(set(mm.patient_id))))
    out["grouped_unsorted"] = (order(mm, keys), cc, {})
    # split patient
    mm = order(mm, sorted(set(mm.patient_id)))
    first = mm[mm.patient_id == "P001"]
    half = len(first) // 2
    split = pd.concat([mm[mm.patient_id == "P000"], first.iloc[:max(half, 1)], mm[mm.patient_id == "P002"],
                       first.iloc[max(half, 1):], mm[~mm.patient_id.isin(["P000", "P001", "P002"])]])
    out["split"] = (split, cc, {})
    # clinical patients without markers before, between and after
    extra = SYN_C[~SYN_C.patient_id.isin(c.patient_id)].sample(3, random_state=int(rng.integers(1e9))).copy()
    extra["patient_id"] = ["A000", "P001x", "Z999"]
    out["clin_nomarkers"] = (mm, pd.concat([cc, extra]), {})
    out["clin_nomarkers_shuffled"] = (mm, pd.concat([cc, extra]).sample(frac=1, random_state=1), {})
    # markers without clinical
    out["markers_noclin"] = (mm, cc[cc.patient_id != "P002"], {})
    # contract breakers
    bad = mm.copy()
    rows = rng.choice(len(bad), 5, replace=False)
    bad.iloc[rows[0], bad.columns.get_loc("ca125")] = "-3"
    bad.iloc[rows[1], bad.columns.get_loc("day")] = ""
    bad.iloc[rows[2], bad.columns.get_loc("ca125")] = "abc"
    bad.iloc[rows[3], bad.columns.get_loc("day")] = "3.5"
    bad.iloc[rows[4], bad.columns.get_loc("uln")] = "0"
    out["contract"] = (bad, cc, {})
    bad2 = mm.copy()
    bad2.iloc[int(rng.integers(len(bad2))), 0] = ""
    out["missing_id"] = (bad2, cc, {})
    # one patient
    out["one_patient"] = (mm[mm.patient_id == "P003"], cc, {})
    # empty / header only
    out["header_only"] = (mm.iloc[:0], cc, {})
    out["empty_file"] = (None, cc, {})
    # ; and ,
    out["semicolon_comma"] = (mm, cc, {"sep": ";", "decimal": ","})
    # rename
    out["rename"] = (mm.rename(columns={"patient_id": "PID", "ca125": "CA125"}), cc.rename(columns={"patient_id": "PID"}),
                     {"rename": ["PID=patient_id", "CA125=ca125"]})
    # quoted newlines
    q = mm.copy()
    q["assay"] = q["assay"].where(rng.random(len(q)) < .5, "CA125\nA, \"x\"")
    out["quoted_newline"] = (q, cc, {})
    out["bom"] = (mm, cc, {"bom": True})
    out["crlf"] = (mm, cc, {"crlf": True})
    # duplicates same day
    d = mm.copy()
    dup = d.iloc[rng.choice(len(d), 4, replace=False)].copy()
    dup["ca125"] = (dup["ca125"].astype(float) * 1.3).round(1).astype(str)
    d = order(pd.concat([d, dup]), sorted(set(d.patient_id)))
    out["dups"] = (d, cc, {})
    out["dups_mean"] = (d, cc, {"duplicates": "mean"})
    out["dups_max"] = (d, cc, {"duplicates": "max"})
    # dates
    dt = mm.copy()
    start = cc.set_index("patient_id")["treatment_start"]
    dd = pd.to_datetime(dt["patient_id"].map(start)) + pd.to_timedelta(dt["day"].astype(int), unit="D")
    dt = dt.drop(columns="day").assign(date=dd.dt.strftime("%d/%m/%Y"))
    cd = cc.copy()
    cd["treatment_start"] = pd.to_datetime(cd["treatment_start"]).dt.strftime("%d/%m/%Y")
    out["date_format"] = (dt, cd, {"date_format": "%d/%m/%Y"})
    ii = mm.copy()
    ii["patient_id"] = ii["patient_id"].str[1:].astype(int) * 3 + 1
    ci = cc.copy()
    ci["patient_id"] = (ci["patient_id"].str[1:].astype(int) * 3 + 1).astype(str)
    out["int_ids"] = (ii, ci, {"typed": True})
    na = mm.copy()
    na.iloc[int(rng.integers(len(na))), 0] = "NA"
    out["na_id"] = (na, cc, {})
    out["blank_lines"] = (mm, cc, {"blank": True})
    fl = mm.copy()
    fl["day"] = fl["day"].astype(float).astype(str)
    out["float_days"] = (fl, cc, {})
    return out


def write_markers(m, path, opts, kind):
    if m is None:
        path.write_bytes(b"")
        return
    if kind == "parquet":
        if opts.get("typed"):
            m = m.assign(day=m["day"].astype(int), ca125=pd.to_numeric(m["ca125"]), uln=pd.to_numeric(m["uln"]))
        m.to_parquet(path, index=False)
        return
    sep = opts.get("sep", ",")
    dec = opts.get("decimal")
    mm = m.copy()
    if dec == ",":
        for col in ("ca125", "uln"):
            if col in mm:
                mm[col] = mm[col].str.replace(".", ",", regex=False)
    text = mm.to_csv(index=False, sep=sep, lineterminator="\r\n" if opts.get("crlf") else "\n")
    if opts.get("blank"):
        lines = text.split("\n")
        text = "\n".join(l + ("\n" if i % 3 == 2 else "") for i, l in enumerate(lines))
    data = text.encode("utf-8")
    if opts.get("bom"):
        data = b"\xef\xbb\xbf" + data
    path.write_bytes(data)


def write_clin(c, path, opts):
    sep = opts.get("sep", ",")
    cc = c.copy()
    if opts.get("decimal") == ",":
        for col in cc.columns:
            cc[col] = cc[col].str.replace(".", ",", regex=False) if col not in ("treatment_start", "patient_id") else cc[col]
    path.write_bytes(cc.to_csv(index=False, sep=sep).encode())


def run(argv):
    out, err = io.StringIO(), io.StringIO()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as e:
                code = e.code
            except BaseException as e:  # noqa
                code = f"EXC {type(e).__name__}: {e}"
                traceback.print_exc(file=err)
    return code, out.getvalue(), err.getvalue(), sorted({f"{x.category.__name__}: {x.message}" for x in w})


def result_of(outpath):
    if not outpath.exists():
        return None
    if outpath.suffix == ".parquet":
        import pyarrow.parquet as pq
        t = pq.read_table(outpath)
        return ("pq", [f"{f.name}:{f.type}" for f in t.schema], t.to_pandas().to_csv(index=False))
    return outpath.read_bytes()


def main_fuzz(seed, kinds=("csv", "parquet"), only=None, commands=None):
    rng = np.random.default_rng(seed)
    vs = variants(rng)
    diffs = 0
    tmp = Path(tempfile.mkdtemp(prefix=f"fz{seed}_"))
    for name, (m, c, opts) in vs.items():
        if only and name not in only:
            continue
        for kind in kinds:
            if kind == "parquet" and (m is None or opts.get("sep") or opts.get("bom") or opts.get("crlf")):
                continue
            mpath = tmp / f"{name}.{kind}"
            cpath = tmp / f"{name}_clin.csv"
            write_markers(m, mpath, opts, kind)
            write_clin(c, cpath, opts)
            fmt = []
            if "sep" in opts:
                fmt += ["--sep", opts["sep"]]
            if "decimal" in opts:
                fmt += ["--decimal", opts["decimal"]]
            if "date_format" in opts:
                fmt += ["--date-format", opts["date_format"]]
            for r in opts.get("rename", []):
                fmt += ["--rename", r]
            dup = ["--duplicates", opts["duplicates"]] if "duplicates" in opts else []
            cmds = {
                "gcig": ["gcig", str(mpath), *dup],
                "gcig+clin": ["gcig", str(mpath), "--clinical", str(cpath), *dup],
                "kin-pop": ["kinetics", str(mpath), "--method", "population", *dup],
                "kin-pp": ["kinetics", str(mpath), "--method", "per-patient", *dup],
                "score": ["score", "--model", str(MODEL), "--markers", str(mpath)],
                "score+clin": ["score", "--model", str(MODEL), "--markers", str(mpath), "--clinical", str(cpath)],
            }
            for cname, argv in cmds.items():
                if commands and cname not in commands:
                    continue
                for outkind in os.environ.get("OUTS", "csv,parquet").split(","):
                    results = {}
                    for ch in CHUNKS:
                        o = tmp / f"out_{name}_{cname}_{ch}.{outkind}"
                        if o.exists():
                            o.unlink()
                        outarg = ["--out", str(o)] if outkind in ("csv", "parquet") else ["--format", outkind] if outkind != "text" else []
                        if outkind == "text" and not cname.startswith("score"):
                            outarg = ["--max-rows", "0"]
                        code, so, se, w = run([*argv, *fmt, "--chunk-rows", str(ch), *outarg])
                        se = se.replace(str(o), "OUT")
                        so = so.replace(str(o), "OUT")
                        results[ch] = (code, so, se, w, result_of(o))
                    if len({repr(results[ch]) for ch in CHUNKS[:-1]}) > 1:
                        diffs += 1
                        print(f"CHUNKS-DISAGREE seed={seed} {name} {kind} {cname} ->{outkind}")
                        for ch in CHUNKS[:-1]:
                            print(f"   chunk {ch}: {str(results[ch][:4])[:700]!r}")
                    ref = results[CHUNKS[-1]]
                    for ch in CHUNKS[:-1]:
                        got = results[ch]
                        if got != ref:
                            def norm(r):
                                t = r[4]
                                if isinstance(t, bytes):
                                    ls = t.decode().splitlines(); t = ls[:1] + sorted(ls[1:])
                                elif isinstance(t, tuple):
                                    ls = t[2].splitlines(); t = (t[1], ls[:1] + sorted(ls[1:]))
                                so = sorted(r[1].splitlines())
                                return (r[0], so, r[2], r[3], t)
                            if norm(got) == norm(ref):
                                print(f"ORDER-ONLY seed={seed} {name} {kind} {cname} ->{outkind} chunk={ch}")
                                continue
                            diffs += 1
                            parts = [k for k, a, b in zip(("code", "stdout", "stderr", "warnings", "table"), ref, got) if a != b]
                            print(f"DIFF seed={seed} {name} {kind} {cname} ->{outkind} chunk={ch}: {parts}")
                            for k, a, b in zip(("code", "stdout", "stderr", "warnings", "table"), ref, got):
                                if a != b and k == "table" and isinstance(a, tuple) and isinstance(b, tuple):
                                    print("   schema diff:", [(x, y) for x, y in zip(a[1], b[1]) if x != y])
                                    la, lb = a[2].splitlines(), b[2].splitlines()
                                    dl = [(x, y) for x, y in zip(la, lb) if x != y][:2]
                                    print("   rows", len(la), len(lb), "first diff:", dl)
                                elif a != b and k == "table" and a is not None and b is not None:
                                    la, lb = a.decode().splitlines(), b.decode().splitlines()
                                    print("   rows", len(la), len(lb), "first diff:", [(x, y) for x, y in zip(la, lb) if x != y][:2])
                                elif a != b:
                                    print(f"   whole {k}: {str(a)[:600]!r}")
                                    print(f"   chunk {k}: {str(b)[:600]!r}")
                            break
                    sys.stdout.flush()
    return diffs


if __name__ == "__main__":
    seeds = [int(s) for s in os.environ.get("SEEDS", "0").split(",")]
    only = os.environ.get("ONLY", "").split(",") if os.environ.get("ONLY") else None
    commands = os.environ.get("CMDS", "").split(",") if os.environ.get("CMDS") else None
    kinds = tuple(os.environ.get("KINDS", "csv,parquet").split(","))
    total = 0
    for s in seeds:
        total += main_fuzz(s, kinds, only, commands)
    print("TOTAL DIFFS", total)
