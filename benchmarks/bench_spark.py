"""Spark benchmark: ``ca125kinetics.spark`` on a local session vs the in-process registry path.

Run from the repository root (needs ``pip install -e '.[spark]'`` and Java 17+)::

    python benchmarks/bench_spark.py               # 1,000,000 patients
    python benchmarks/bench_spark.py --n 100000    # smaller, while developing
    python benchmarks/bench_spark.py --warm 100000 # in a session warmed on 100,000 patients

The cohort is the cached Parquet cohort of ``bench_registry.py`` (generated when missing).
Both sides start from the Parquet files and produce every patient's result:

* in-process: :func:`ca125kinetics.cohort.run_kinetics` / ``run_score`` on the file read in
  patient-complete chunks (what ``ca125 kinetics`` / ``ca125 score`` do), results collected
  as one pandas frame;
* Spark: ``spark.read.parquet`` then :func:`ca125kinetics.spark.fit_kinetics` /
  :func:`ca125kinetics.spark.score`, run to the end with the ``noop`` sink (every row
  computed, nothing written). The session (``local[N]``, default 2 cores,
  ``spark.sql.shuffle.partitions`` = 2N) is started before the clock starts and is not
  counted. The Spark time is printed in two parts, the driver's (the call, which reads the
  schema, finds the first patients and learns the population) and the job's (the write).

``--warm N`` first runs the same jobs, both sides, on a cached ``N``-patient cohort, not
counted: a session that has run this work before, as a cluster's session usually has (the
JVM has compiled Spark's Parquet reader, shuffle and Arrow code; the Python workers run).
Without it the timed jobs are the session's first, and pay that warm-up (a fresh JVM: some
seconds of CPU on two cores). Report both.

Population kinetics learns the population on the first 100,000 patients on both sides.
Target of issue 14: Spark within 3x the in-process time. Nothing here is a test.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import pandas as pd

from bench_registry import cohort_files


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def row(job: str, local_s: float, spark_call) -> dict:
    """A table row: ``spark_call()`` (the driver's part: reading the schema, finding the first
    patients, learning the population) and then its result run to the end (the job), timed
    one after the other, against the in-process seconds ``local_s``."""
    result, driver_s = timed(spark_call)
    _, job_s = timed(lambda: result.write.format("noop").mode("overwrite").save())
    spark_s = driver_s + job_s
    return {"job": job, "in-process s": local_s, "Spark s": spark_s, "Spark / in-process": spark_s / local_s,
            "Spark driver s": driver_s, "Spark job s": job_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="patients (default 1,000,000)")
    parser.add_argument("--cores", type=int, default=2, help="cores of the local Spark session")
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--warm", type=int, default=0, metavar="N",
                        help="first run both jobs on a cached N-patient cohort, not counted (a warm session)")
    parser.add_argument("--only", nargs="*", default=["kinetics", "score"], choices=["kinetics", "score"])
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
    cache = args.cache or Path(tempfile.gettempdir()) / "ca125kinetics-bench" / f"registry-{args.n}"
    markers, clinical = cohort_files(args.n, cache)

    from pyspark.sql import SparkSession

    from ca125kinetics import spark as cspark
    from ca125kinetics.cohort import run_kinetics, run_score, stream_markers
    from ca125kinetics.io import read_clinical
    from ca125kinetics.predict import load_model
    from ca125kinetics.settings import KineticsSettings

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers run this interpreter (the package's)
    session, start_s = timed(lambda: SparkSession.builder.master(f"local[{args.cores}]")
                             .appName("ca125kinetics-bench").config("spark.ui.enabled", "false")
                             .config("spark.ui.showConsoleProgress", "false")
                             # local mode: shuffle partitions matched to the cores (Spark's
                             # default of 200 is meant for clusters)
                             .config("spark.sql.shuffle.partitions", str(2 * args.cores))
                             .config("spark.driver.memory", "3g").getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    bundle = load_model(None)

    def jobs(markers: Path, clinical: Path) -> dict:
        """Per job: the in-process run and the Spark call (its result is run by :func:`row`)."""
        return {
            "kinetics": ("population kinetics",
                         lambda: run_kinetics(stream_markers(markers), method="population",
                                              settings=KineticsSettings()),
                         lambda: cspark.fit_kinetics(session.read.parquet(str(markers)))),
            "score": ("score (shipped model)",
                      lambda: run_score(stream_markers(markers), read_clinical(clinical, on_error="flag",
                                                                                require=("patient_id",)), bundle),
                      lambda: cspark.score(session.read.parquet(str(markers)),
                                           session.read.parquet(str(clinical)), model=bundle)),
        }

    if args.warm:
        # a session that has run this work before (a cluster's usual state): the JVM has
        # compiled Spark's Parquet reader, shuffle and Arrow code and the Python workers run;
        # the in-process side runs it once too (imports, compiled code loaded)
        small = cohort_files(args.warm, cache.parent / f"registry-{args.warm}")
        t = time.perf_counter()
        for name in args.only:
            _, local, spark_call = jobs(*small)[name]
            local()
            row("warm-up", 1.0, spark_call)
        print(f"warm-up on {args.warm:,} patients: {time.perf_counter() - t:.1f} s (not counted)", file=sys.stderr)
    rows = []
    for name in args.only:
        job, local, spark_call = jobs(markers, clinical)[name]
        _, local_s = timed(local)
        rows.append(row(job, local_s, spark_call))
    session.stop()
    state = f"warmed on {args.warm:,} patients first" if args.warm else "its first jobs"
    print(f"\nSpark benchmark: {args.n:,} patients, local[{args.cores}] session ({state}; start {start_s:.1f} s, "
          f"not counted), {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; target Spark <= 3x in-process")
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3g}"))


if __name__ == "__main__":
    main()
