"""Benchmark of scoring: in-process ``predict`` for one patient, and ``ca125 score`` cold start.

Targets (issue "predict()"):

* in-process ``predict`` of one patient with a loaded model: median <= 5 ms;
  the landmark trajectory (``Prediction.trajectory``, computed on first access) is timed on
  its own row: no target, it is what the web page and ``ca125 score`` pay on top;
* ``ca125 score`` of one patient from a cold start: <= 2 s (mlflow imported only if needed).

Baselines measured in the same run (the machine is shared, so absolute times drift):

* in-process: the bare scikit-learn pipeline of the model, ``bundle.pipeline.predict_proba``
  on the already-built one-row patient frame (the model alone, as scikit-learn computes it,
  without the interval); ``predict`` adds reading and validating the input, the GCIG rules,
  the kinetics fit, the published scores, the interval and the recommendation. The script
  also times each of those parts, so that the slowest one is visible.
* cold start: ``python -c pass`` (interpreter start-up).

Patients are distinct (cycled from the committed synthetic cohort), so no cache can help.

Usage::

    python benchmarks/bench_predict.py [--model DIR|URI] [--n 200] [--repeats 5]

Prints a table; writes nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COHORT = ROOT / "data" / "synthetic" / "default"


def _patients(n: int):
    """``n`` distinct patients of the committed cohort as (markers dict, clinical dict)."""
    import pandas as pd

    markers = pd.read_csv(COHORT / "markers.csv", dtype={"patient_id": str}, keep_default_na=False,
                          na_values=[""])
    clinical = pd.read_csv(COHORT / "clinical.csv", dtype={"patient_id": str})
    ids = sorted(markers["patient_id"].unique())[:n]
    groups = dict(tuple(markers[markers["patient_id"].isin(ids)].groupby("patient_id")))
    clin = clinical.set_index("patient_id")
    out = []
    for pid in ids:
        g = groups[pid]
        m = {c: g[c].tolist() for c in ("patient_id", "day", "ca125", "uln", "assay", "event") if c in g}
        c = {"patient_id": pid}
        for col in ("age", "ecog", "ascites_ml", "figo_stage", "primary_residual_disease", "pfi_months",
                    "recurrence_pattern", "recist"):
            v = clin.at[pid, col]
            c[col] = None if pd.isna(v) else v
        out.append((m, c))
    return out


def _timeit(fn, items, warmup: int = 5) -> list[float]:
    for item in items[:warmup]:
        fn(item)
    times = []
    for item in items:
        t = time.perf_counter()
        fn(item)
        times.append((time.perf_counter() - t) * 1000)
    return times


def _row(name: str, times: list[float], base: float | None = None) -> str:
    med = statistics.median(times)
    p95 = sorted(times)[int(0.95 * (len(times) - 1))]
    ratio = f"{med / base:8.1f}x" if base else "         "
    return f"  {name:<46} {med:9.2f} {p95:9.2f} {ratio}"


def bench_in_process(model, n: int) -> None:
    import importlib

    # the module: ``ca125kinetics.predict`` is also the name of the public function
    P = importlib.import_module("ca125kinetics.predict")
    import numpy as np
    import pandas as pd

    from ca125kinetics.features import build_patient_frame

    t = time.perf_counter()
    bundle = P.load_model(model)
    load_s = time.perf_counter() - t
    items = _patients(n)
    print(f"model {bundle.name} {bundle.version} ({bundle.model_family}), loaded and verified in "
          f"{load_s:.2f} s; {len(items)} distinct patients")

    # parts of the one code path, on the same patients
    from ca125kinetics.gcig import patient_gcig
    from ca125kinetics.scores import published_scores_arrays

    gs = bundle.gcig_settings
    records = [P._fast_patient(m, c, gs) for m, c in items]
    fast_share = sum(r is not None for r in records) / len(records)
    records = [r if r is not None else P._patients_from_frames(*P._read_inputs(*P._one_patient_inputs(m, c), gs)[:2])[0]
               for r, (m, c) in zip(records, items)]
    frames = [build_patient_frame(*P._read_inputs(*P._one_patient_inputs(m, c), gs)[:2], gcig_settings=gs,
                                  kinetics_settings=bundle.kinetics_settings) for m, c in items]
    def as_arrays(h):  # the head's input as predict passes it: float arrays, object for text
        return {c: (h[c].to_numpy(dtype=float, na_value=np.nan) if pd.api.types.is_numeric_dtype(h[c])
                    and not pd.api.types.is_bool_dtype(h[c]) else h[c].to_numpy(dtype=object)) for c in h.columns}

    heads = [as_arrays(bundle.kinetics_features(f)) for f in frames]
    base = _timeit(lambda f: bundle.pipeline.predict_proba(f), frames)
    base_med = statistics.median(base)
    rows = [
        _row("predict(markers, clinical) [target 5 ms]", _timeit(lambda it: P.predict(*it, model=bundle), items),
             base_med),
        _row("baseline: bundle.pipeline.predict_proba", base, base_med),
        _row("predict + landmark trajectory (.trajectory)", _timeit(
            lambda it: P.predict(*it, model=bundle).trajectory, items), base_med),
        _row("  part: fast reader (plain values)", _timeit(lambda it: P._fast_patient(*it, gs), items), base_med),
        _row("  part: package readers (any other input)", _timeit(
            lambda it: P._read_inputs(*P._one_patient_inputs(*it), gs), items), base_med),
        _row("  part: scoring a read patient (_score_patients)", _timeit(
            lambda r: P._score_patients(bundle, [r], {}), records), base_med),
        _row("    GCIG response and progression", _timeit(
            lambda r: patient_gcig(r.patient_id, r.day, r.ca125, r.censored, r.uln, r.assay, r.event,
                                   r.row_problem, gs), records), base_med),
        _row("    kinetics (population MAP fit)", _timeit(lambda r: P._kinetics_of(bundle, [r], {}), records),
             base_med),
        _row("    model with interval (compiled head)", _timeit(lambda h: bundle.predict_head(h, 1), heads),
             base_med),
        _row("    published scores", _timeit(lambda r: published_scores_arrays(
            {c: [(r.clinical or {}).get(c)] for c in ("ecog", "ascites_ml", "figo_stage", "primary_residual_disease",
                                                      "pfi_months", "recurrence_pattern")}), records), base_med),
    ]
    print(f"  {fast_share:.0%} of the inputs took the fast reader")
    print(f"\nin-process, one patient per call (ms)      {'median':>9} {'p95':>9} {'vs base':>9}")
    print("\n".join(rows))
    cohort_items = items[: min(len(items), 200)]
    markers = pd.concat([pd.DataFrame(m) for m, _ in cohort_items], ignore_index=True)
    clinical = pd.DataFrame([c for _, c in cohort_items])
    t = time.perf_counter()
    P.predict_cohort(markers, clinical, model=bundle)
    per = (time.perf_counter() - t) * 1000 / len(cohort_items)
    print(f"  {'predict_cohort, per patient (' + str(len(cohort_items)) + ' at once)':<46} {per:9.2f}")


def bench_cold_start(model, repeats: int) -> None:
    import pandas as pd

    tmp = Path(tempfile.mkdtemp(prefix="bench_score_"))
    try:
        markers = pd.read_csv(COHORT / "markers.csv", dtype={"patient_id": str}, keep_default_na=False,
                              na_values=[""])
        clinical = pd.read_csv(COHORT / "clinical.csv", dtype={"patient_id": str})
        pid = sorted(markers["patient_id"].unique())[0]
        markers[markers["patient_id"] == pid].to_csv(tmp / "markers.csv", index=False)
        clinical[clinical["patient_id"] == pid].to_csv(tmp / "clinical.csv", index=False)
        args = ["score", "--markers", str(tmp / "markers.csv"), "--clinical", str(tmp / "clinical.csv")]
        if model:
            args += ["--model", str(model)]
        exe = shutil.which("ca125", path=str(Path(sys.executable).parent)) or shutil.which("ca125")
        probe = subprocess.run([exe, "score", "--help"], capture_output=True) if exe else None
        if probe is not None and probe.returncode == 0:
            cmd, how = [exe, *args], "ca125 score"
        else:  # until the lead wires the subcommand into cli.py
            cmd = [sys.executable, "-m", "ca125kinetics.predict", *args[1:]]
            how = "python -m ca125kinetics.predict (ca125 score not wired yet)"
        env = dict(os.environ)

        def run(c):
            t = time.perf_counter()
            res = subprocess.run(c, capture_output=True, text=True, env=env)
            dt = time.perf_counter() - t
            if res.returncode != 0:
                raise SystemExit(f"{' '.join(c)} failed ({res.returncode}):\n{res.stderr}")
            return dt, res

        run(cmd)  # warm the OS file cache once
        base = [run([sys.executable, "-c", "pass"])[0] for _ in range(repeats)]
        imports = [run([sys.executable, "-c", "import ca125kinetics.predict"])[0] for _ in range(repeats)]
        times, last = [], None
        for _ in range(repeats):
            dt, last = run(cmd)
            times.append(dt)
        mlflow_imported = run([sys.executable, "-X", "importtime", "-m", "ca125kinetics.predict", *args[1:]])[1]
        mlflow = any(line.rstrip().endswith("| mlflow") for line in mlflow_imported.stderr.splitlines())
        b = statistics.median(base)
        print(f"\ncold start ({how}), {repeats} runs (s)   {'median':>9} {'max':>9} {'vs base':>9}")
        print(f"  {'score one patient [target 2 s]':<46} {statistics.median(times):9.2f} {max(times):9.2f} "
              f"{statistics.median(times) / b:8.1f}x")
        print(f"  {'baseline: python -c pass':<46} {b:9.2f} {max(base):9.2f} {1.0:8.1f}x")
        label = 'python -c "import ca125kinetics.predict"'
        print(f"  {label:<46} {statistics.median(imports):9.2f} "
              f"{max(imports):9.2f} {statistics.median(imports) / b:8.1f}x")
        print(f"  mlflow imported while scoring: {'yes' if mlflow else 'no'}")
        print("\n  output of the last run:")
        print("    " + "\n    ".join(last.stdout.strip().splitlines()[:6]) + "\n    ...")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model directory or MLflow URI (default: the shipped model)")
    parser.add_argument("--n", type=int, default=200, help="distinct patients timed in process (default 200)")
    parser.add_argument("--repeats", type=int, default=5, help="cold-start runs (default 5)")
    args = parser.parse_args(argv)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPU(s), load average "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    bench_in_process(args.model, args.n)
    bench_cold_start(args.model, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
