"""Benchmark of the eligibility screen (``ca125 screen``) on a registry-sized clinical table.

Run from the repository root::

    python benchmarks/bench_screen.py              # 100,000 patients
    python benchmarks/bench_screen.py --n 20000    # while developing

The committed synthetic cohort (``data/synthetic/default``, 3,000 patients) is repeated with
new identifiers (``00-000001``, ``01-000001``, ...) to ``--n`` patients and written as CSV to a
temporary folder, clinical table and markers. Then, in this process:

* baseline: ``pandas.read_csv`` of the clinical file, every cell as text (best of three),
  measured in the same run;
* ``read_clinical`` of the file (the reader the screen calls; validation included);
* ``screen`` of the file, RESCUE criteria, with the markers (the GCIG rules applied to every
  patient) once first (it includes loading the compiled GCIG kernel, once a process, as a
  ``ca125 screen`` run pays it), then without markers and with them again, and the result
  written as CSV (``to_frame``), as ``ca125 screen --out x.csv`` does.

Each row prints wall seconds, milliseconds per patient and the ratio to the baseline. Before
the screen evaluated each criterion once per distinct input (and read the GCIG table by
columns, not one ``.loc`` per patient) it took about 0.37 ms per patient without markers and
0.59 ms with them on the 2-core development machine; about 0.09 and 0.11 after. Nothing here
is a test; the results are checked by ``tests/test_eligibility.py``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COHORT = ROOT / "data" / "synthetic" / "default"


def _files(n: int, folder: Path) -> tuple[Path, Path]:
    import pandas as pd

    clinical = pd.read_csv(COHORT / "clinical.csv", dtype=str, keep_default_na=False)
    markers = pd.read_csv(COHORT / "markers.csv", dtype=str, keep_default_na=False)
    copies = -(-n // len(clinical))
    c = pd.concat([clinical.assign(patient_id=f"{r:02d}-" + clinical["patient_id"]) for r in range(copies)])
    c = c.iloc[:n]
    m = pd.concat([markers.assign(patient_id=f"{r:02d}-" + markers["patient_id"]) for r in range(copies)])
    m = m[m["patient_id"].isin(set(c["patient_id"]))]
    paths = folder / "clinical.csv", folder / "markers.csv"
    c.to_csv(paths[0], index=False)
    m.to_csv(paths[1], index=False)
    return paths


def _wall(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="patients (default 100,000)")
    args = parser.parse_args(argv)

    import pandas as pd

    from ca125kinetics.eligibility import screen
    from ca125kinetics.io import read_clinical

    with tempfile.TemporaryDirectory(prefix="ca125-bench-screen-") as tmp:
        clinical, markers = _files(args.n, Path(tmp))
        base = min(_wall(lambda: pd.read_csv(clinical, dtype=str, keep_default_na=False))[1] for _ in range(3))
        print(f"screen benchmark: {args.n:,} patients, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; "
              f"baseline pandas.read_csv of the clinical table {base:.3f} s")
        rows = [("pandas.read_csv (baseline)", base)]
        rows.append(("read_clinical", _wall(lambda: read_clinical(clinical, require=("patient_id",)))[1]))
        rows.append(("screen, with markers, first in the process", _wall(lambda: screen(clinical, markers))[1]))
        result, seconds = _wall(lambda: screen(clinical))
        rows.append(("screen, RESCUE, no markers", seconds))
        result, seconds = _wall(lambda: screen(clinical, markers))
        rows.append(("screen, RESCUE, with markers (GCIG rules)", seconds))
        out = Path(tmp) / "screen.csv"
        rows.append(("  + to_frame().to_csv", _wall(lambda: result.to_frame().to_csv(out, index=False))[1]))
        counts = ", ".join(f"{r.status} {r.n}" for r in result.summary().itertuples())

    print(f"\n{'job':<44} {'wall s':>8} {'ms/patient':>11} {'x read':>8}")
    for name, seconds in rows:
        print(f"{name:<44} {seconds:8.3f} {seconds / args.n * 1e3:11.4f} {seconds / base:8.1f}")
    print(f"\n({counts})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
