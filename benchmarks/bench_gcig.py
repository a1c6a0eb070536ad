"""Benchmark of the GCIG rules on a registry cohort and on one patient (prints a table).

Run from the repository root::

    python benchmarks/bench_gcig.py                # 1,000,000 patients (about 4.2M rows)
    python benchmarks/bench_gcig.py --n 100000     # while developing

The markers of a seeded ``--n``-patient cohort are the Parquet file that
``benchmarks/bench_registry.py`` writes and caches (``--cache``; written here if missing).
They are read and validated once with ``io.read_markers``; then, in this process:

* baseline: ``pandas.read_parquet`` of the markers file (best of three), measured in the same
  run, as in ``bench_registry.py``;
* ``gcig_cohort`` of the validated frame, every column and reason included, with the
  compiled kernel (``numba``; its import and cache load, paid once a process, are timed on
  their own row) and, on the first 20,000 patients, with the plain-Python kernel;
* one patient: ``gcig_response`` + ``gcig_progression`` of a five-sample series, and
  ``records_gcig`` of one record (the call ``predict`` makes), in microseconds.

Times are CPU seconds of this process (``time.process_time``; the machine is shared, so wall
times drift) and wall seconds. Target of issue 14 for the whole command ``ca125 gcig``: at
most 10 x the pandas read; this script isolates the rules' share of it. Nothing here is a test.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import timeit
from pathlib import Path


def _timed(fn):
    cpu, wall = time.process_time(), time.perf_counter()
    result = fn()
    return result, time.process_time() - cpu, time.perf_counter() - wall


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="patients (default 1,000,000)")
    parser.add_argument("--cache", type=Path, default=None, help="cohort directory (default: bench_registry's)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_registry import cohort_files, pandas_read

    from ca125kinetics import gcig, io
    from ca125kinetics.settings import GcigSettings

    cache = args.cache or Path(tempfile.gettempdir()) / "ca125kinetics-bench" / f"registry-{args.n}"
    markers_file, _ = cohort_files(args.n, cache)
    base, _ = pandas_read(markers_file)
    markers = io.read_markers(markers_file)
    n_patients = markers["patient_id"].nunique()
    print(f"GCIG benchmark: {n_patients:,} patients, {len(markers):,} rows, {os.cpu_count()} cores, load "
          f"{os.getloadavg()[0]:.2f}; baseline pandas.read_parquet {base:.3f} s")

    rows = []
    _, cpu, wall = _timed(lambda: gcig._compiled_kernel())
    small = markers[markers["patient_id"].isin(markers["patient_id"].unique()[:2000])]
    choose = gcig.use_compiled
    gcig.use_compiled = lambda n_patients: True
    _, cpu2, wall2 = _timed(lambda: gcig.gcig_cohort(small))   # the first call loads the machine code
    rows.append(("numba import + compiled kernel load (once a process)", cpu + cpu2, wall + wall2))
    _, cpu, wall = _timed(lambda: gcig.gcig_cohort(markers))
    rows.append((f"gcig_cohort, {n_patients:,} patients, compiled", cpu, wall))
    first = markers[markers["patient_id"].isin(markers["patient_id"].unique()[:20_000])]
    gcig.use_compiled = lambda n_patients: False
    _, cpu, wall = _timed(lambda: gcig.gcig_cohort(first))
    rows.append(("gcig_cohort, 20,000 patients, plain Python", cpu, wall))
    gcig.use_compiled = choose

    print(f"\n{'job':<58} {'cpu s':>8} {'wall s':>8} {'x read':>8}")
    for name, cpu, wall in rows:
        print(f"{name:<58} {cpu:8.3f} {wall:8.3f} {wall / base:8.1f}")

    days, values = [-3, 21, 42, 63, 84], [400.0, 180.0, 195.0, 150.0, 90.0]
    record = io.patient_record({"patient_id": "p1", "day": days, "ca125": values},
                               {"patient_id": "p1", "recist": "PR"})
    settings = GcigSettings()
    print(f"\n{'one patient (plain Python kernel)':<58} {'us':>8}")
    for name, fn in (("gcig_response + gcig_progression", lambda: (gcig.gcig_response(days, values),
                                                                   gcig.gcig_progression(days, values))),
                     ("records_gcig([record]) (predict's call)", lambda: gcig.records_gcig([record], settings))):
        per = min(timeit.repeat(fn, number=500, repeat=5)) / 500 * 1e6
        print(f"{name:<58} {per:8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
