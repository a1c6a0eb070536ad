"""Registry-scale benchmark of the cohort commands (prints a table).

Run from the repository root::

    python benchmarks/bench_registry.py              # 1,000,000 patients (about 4.2M rows)
    python benchmarks/bench_registry.py --n 100000   # while developing

A synthetic cohort of ``--n`` patients (:func:`ca125kinetics.synth.simulate_cohort`,
vectorised) is written once as Parquet (``markers.parquet`` + ``clinical.parquet``) to a
cache directory (``--cache``, default ``$TMPDIR/ca125kinetics-bench/registry-N``) and reused
by later runs. Two baselines are measured in the same run, both ``pandas.read_parquet`` of
the markers file, best of three:

* ``x read``: in this process, warm (pandas imported, the file in the page cache): the
  strictest baseline, the one issue 14's target names;
* ``x read (process)``: ``python -c "import pandas; pandas.read_parquet(...)"`` as a
  subprocess, so interpreter start and imports are counted on both sides, as they are for
  the commands.

Each command then runs as a subprocess, as a user runs it, writing its table to a file:

* ``ca125 gcig markers.parquet --clinical clinical.parquet``
* ``ca125 kinetics markers.parquet`` (population method: population learned on the first
  100,000 patients, then every patient's MAP fit)
* ``ca125 score --markers markers.parquet --clinical clinical.parquet`` (shipped model), writing
  CSV and, in a second row, Parquet

and, on request, in this process:

* ``--only ... warm``: each chosen command run twice by ``ca125kinetics.cli.main``, the
  second run timed (row ``(warm, in-process)``: no interpreter start, imports or loading of
  compiled code, as in a notebook or pipeline that has run it before; the like-for-like
  match of the warm ``x read`` baseline);
* ``--only read``: the readers the commands start with, ``io.read_markers(markers.parquet)``
  and ``io.read_clinical(clinical.parquet)`` (best of three; the clinical read's ratio is to
  ``pandas.read_parquet`` of the clinical file).

For each: wall seconds (interpreter start and imports included), the ratios to the two
pandas reads, and the subprocess's peak resident memory (its ``VmHWM``, polled: see
:func:`run`). Targets
of issue 14: ratio <= 10, peak <= 3 GB. Wall-clock numbers depend on the machine and its
load (the load average is printed). Nothing here is a test.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from _bytecode import compile_package  # benchmarks/_bytecode.py


def cohort_files(n: int, cache: Path) -> tuple[Path, Path]:
    """markers.parquet and clinical.parquet of a seeded ``n``-patient cohort (cached)."""
    markers, clinical = cache / "markers.parquet", cache / "clinical.parquet"
    if not (markers.exists() and clinical.exists()):
        from ca125kinetics.synth import simulate_cohort

        t = time.perf_counter()
        simulate_cohort(n, seed=20261129).write(cache, format="parquet")
        print(f"generated {n} patients in {time.perf_counter() - t:.1f} s -> {cache}", file=sys.stderr)
    return markers, clinical


def pandas_read(path: Path, read=pd.read_parquet) -> tuple[float, int]:
    """Best of three wall seconds of ``read(path)``, and the rows it returned."""
    best, rows = float("inf"), 0
    for _ in range(3):
        t = time.perf_counter()
        rows = len(read(path))
        best = min(best, time.perf_counter() - t)
    return best, rows


def pandas_process_read(path: Path) -> float:
    """Best of three wall seconds of a fresh interpreter that imports pandas and reads ``path``."""
    code = f"import pandas; pandas.read_parquet({str(path)!r})"
    return min(run([sys.executable, "-c", code])[0] for _ in range(3))


def run(argv: list[str]) -> tuple[float, float, int]:
    """Wall seconds, peak RSS (GB) and exit code of ``argv`` run as a subprocess.

    The peak is the child's own ``VmHWM`` (``/proc/PID/status``), read every 20 ms while it
    runs: ``ru_maxrss`` of ``wait4`` would also count this process's memory at the fork
    (Linux records the forked image's high-water mark at ``exec``), which after the
    in-process reads is larger than some of the commands."""
    t = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    status_file, peak_kb = Path(f"/proc/{proc.pid}/status"), 0
    while proc.poll() is None:
        try:
            peak_kb = max(peak_kb, _high_water_kb(status_file.read_text()))
        except OSError:             # the process ended between poll and read
            break
        time.sleep(0.02)
    proc.wait()
    wall = time.perf_counter() - t
    err = proc.stderr.read().decode()
    proc.stderr.close()
    if proc.returncode:
        print(f"{' '.join(argv)} failed ({proc.returncode}):\n{err}", file=sys.stderr)
    return wall, peak_kb / 1024 ** 2, proc.returncode


def _high_water_kb(status: str) -> int:
    """``VmHWM`` (peak resident memory, kB) of a ``/proc/PID/status`` text; 0 when absent."""
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def warm_rows(commands: dict, names: list[str], read_s: float) -> list[dict]:
    """Each command run by ``cli.main`` in this process, twice; the second run is timed: the
    command as a notebook or a pipeline that has run it before pays it, without interpreter
    start, imports or loading compiled code, like the warm ``pandas.read_parquet``."""
    import pyarrow as pa

    from ca125kinetics.cli import main as ca125_main

    pool = pa.default_memory_pool()
    rows = []
    for name in names:
        argv = commands[name][3:]           # after "python -m ca125kinetics.cli"
        seconds = float("inf")
        for _ in range(2):
            t = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                code = ca125_main(argv)
            seconds = time.perf_counter() - t
        pa.set_memory_pool(pool)            # the command may have chosen another allocator
        rows.append({"job": f"ca125 {name} (warm, in-process)", "seconds": seconds, "x read": seconds / read_s,
                     "x read (process)": float("nan"), "peak GB": float("nan"), "exit": code,
                     "target met": "yes" if code == 0 and seconds / read_s <= 10 else "no"})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="patients (default 1,000,000)")
    parser.add_argument("--cache", type=Path, default=None, help="directory of the generated cohort")
    parser.add_argument("--only", nargs="*", default=["gcig", "kinetics", "score"],
                        choices=["gcig", "kinetics", "score", "read", "warm"],
                        help="commands to time ('read': the readers, in this process; 'warm': the "
                        "commands chosen also run a second time in this process)")
    args = parser.parse_args()
    compile_package()       # as installed: the commands start without compiling the package
    cache = args.cache or Path(tempfile.gettempdir()) / "ca125kinetics-bench" / f"registry-{args.n}"
    markers, clinical = cohort_files(args.n, cache)
    out = cache / "out"
    out.mkdir(exist_ok=True)
    read_s, n_rows = pandas_read(markers)
    process_s = pandas_process_read(markers)
    ca125 = [sys.executable, "-m", "ca125kinetics.cli"]
    commands = {
        "gcig": [*ca125, "gcig", str(markers), "--clinical", str(clinical), "--out", str(out / "gcig.parquet")],
        "kinetics": [*ca125, "kinetics", str(markers), "--out", str(out / "kinetics.parquet")],
        "score": [*ca125, "score", "--markers", str(markers), "--clinical", str(clinical),
                  "--out", str(out / "score.csv")],
        "score (Parquet out)": [*ca125, "score", "--markers", str(markers), "--clinical", str(clinical),
                                "--out", str(out / "score.parquet")],
    }
    rows = [{"job": "pandas.read_parquet (baseline)", "seconds": read_s, "x read": 1.0,
             "x read (process)": float("nan"), "peak GB": float("nan"), "exit": 0, "target met": ""},
            {"job": "python -c 'pandas.read_parquet' (baseline)", "seconds": process_s, "x read": process_s / read_s,
             "x read (process)": 1.0, "peak GB": float("nan"), "exit": 0, "target met": ""}]
    if "read" in args.only:
        from ca125kinetics.io import read_clinical, read_markers

        seconds, _ = pandas_read(markers, read_markers)
        rows.append({"job": "io.read_markers (in-process)", "seconds": seconds, "x read": seconds / read_s,
                     "x read (process)": float("nan"), "peak GB": float("nan"), "exit": 0, "target met": ""})
        clinical_s, _ = pandas_read(clinical)
        seconds, _ = pandas_read(clinical, read_clinical)
        rows.append({"job": "io.read_clinical (in-process)", "seconds": seconds, "x read": seconds / clinical_s,
                     "x read (process)": float("nan"), "peak GB": float("nan"), "exit": 0, "target met": ""})
    # a score table as CSV (2.9 GB for 1M patients, the settings repeated on every row) or Parquet
    names = [n for name in args.only if name not in ("read", "warm") for n in ([name, "score (Parquet out)"] if name == "score"
                                                                   else [name])]
    for name in names:
        wall, peak, code = run(commands[name])
        rows.append({"job": f"ca125 {name}", "seconds": wall, "x read": wall / read_s,
                     "x read (process)": wall / process_s, "peak GB": peak, "exit": code,
                     "target met": "yes" if code == 0 and wall / read_s <= 10 and peak <= 3 else "no"})
    if "warm" in args.only:
        rows.extend(warm_rows(commands, names, read_s))
    load = os.getloadavg()[0]
    print(f"\nRegistry benchmark: {args.n:,} patients, {n_rows:,} rows (Parquet), {os.cpu_count()} cores, "
          f"load {load:.2f}; targets: x read <= 10, peak <= 3 GB ('x read (process)': the same ratio with "
          "interpreter start and imports counted on both sides)")
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3g}"))


if __name__ == "__main__":
    main()
