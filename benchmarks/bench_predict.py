"""Benchmark of scoring: in-process ``predict`` for one patient, and ``ca125 score`` cold start.

Targets (issue "predict()"):

* in-process ``predict`` of one patient with a loaded model: median <= 5 ms;
  the landmark trajectory (``Prediction.trajectory``, computed on first access) is timed on
  its own row: no target, it is what the web page and ``ca125 score`` pay on top;
* ``ca125 score`` of one patient from a cold start: <= 1 s with the shipped model, <= 3 s with
  ``--model models:/NAME@champion`` from a local SQLite registry (mlflow never imported).

Baselines measured in the same run (the machine is shared, so absolute times drift):

* in-process: every input form users pass -- a mapping of columns with a clinical mapping,
  a slice of a markers table as ``pandas.read_csv`` returns it with the whole clinical table,
  the README's validated frames (``read_markers``/``read_clinical``), mappings with extra
  keys, ``(day, ca125)`` pairs, and a REST JSON body -- against the bare scikit-learn pipeline of the model, ``bundle.pipeline.predict_proba``
  on the already-built one-row patient frame (the model alone, as scikit-learn computes it,
  without the interval); ``predict`` adds reading and validating the input, the GCIG rules,
  the kinetics fit, the published scores, the interval and the recommendation. The script
  also times each of those parts, so that the slowest one is visible.
* cold start: ``python -c pass`` (interpreter start-up); ``ca125 score`` with the shipped
  model and with ``--model models:/NAME@champion`` from a fresh local SQLite registry
  (target 3 s; ``import mlflow`` alone is shown for comparison).

Patients are distinct (cycled from the committed synthetic cohort), so no cache can help.

Usage::

    python benchmarks/bench_predict.py [--model DIR|URI] [--n 200] [--repeats 5]

Prints a table; writes nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _bytecode import compile_package  # benchmarks/_bytecode.py

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


def _rest(body: str) -> tuple:
    """(markers, clinical) as the web API hands a JSON body of POST /api/score to predict."""
    from ca125kinetics.web.app import ScoreRequest, request_to_inputs

    return request_to_inputs(ScoreRequest.model_validate_json(body))


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

    from ca125kinetics.gcig import records_gcig
    from ca125kinetics.io import PatientBatch
    from ca125kinetics.scores import published_scores_arrays

    # every input form users pass, on the same patients (issue: <= 5 ms each)
    from ca125kinetics.io import patient_record, read_clinical, read_markers

    gs = bundle.gcig_settings
    raw_markers = pd.read_csv(COHORT / "markers.csv")          # as a new user reads it: ids become numbers
    raw_clinical = pd.read_csv(COHORT / "clinical.csv")
    valid_markers = read_markers(COHORT / "markers.csv")
    valid_clinical = read_clinical(COHORT / "clinical.csv")
    ids = [m["patient_id"][0] for m, _ in items]
    raw_slices = [raw_markers[raw_markers["patient_id"] == int(pid)] for pid in ids]
    valid_slices = [valid_markers[valid_markers["patient_id"] == pid] for pid in ids]
    extra = [({**m, "site": ["A"] * len(m["day"])}, {**c, "arm": "surgery", "treatment_start": "2025-01-01"})
             for m, c in items]
    pairs = [(list(zip(m["day"], m["ca125"])), c) for m, c in items]
    bodies = [json.dumps({
        "patient_id": c["patient_id"],
        "samples": [{"day": int(d), "ca125": float(v), **({"event": e} if isinstance(e, str) else {})}
                    for d, v, e in zip(m["day"], m["ca125"], m.get("event", [None] * len(m["day"])))
                    if v is not None and v == v],
        "clinical": {k: (int(v) if k in ("ecog", "primary_residual_disease") else v)
                     for k, v in c.items() if k != "patient_id" and v is not None}}) for m, c in items]
    forms = [
        ("dict of lists + clinical dict (benchmark shape)", lambda i: P.predict(*items[i], model=bundle)),
        ("DataFrame slice as read by pandas + clinical table", lambda i: P.predict(raw_slices[i], raw_clinical,
                                                                                  model=bundle)),
        ("read_markers slice + read_clinical table (README)", lambda i: P.predict(valid_slices[i], valid_clinical,
                                                                                 model=bundle)),
        ("dicts with extra keys", lambda i: P.predict(*extra[i], model=bundle)),
        ("(day, value) pairs + clinical dict", lambda i: P.predict(*pairs[i], model=bundle)),
        ("REST JSON body (request model + predict)", lambda i: P.predict(*_rest(bodies[i]), model=bundle)),
    ]
    index = list(range(len(items)))
    records = [patient_record(m, c, uln=gs.uln, duplicates=gs.duplicates) for m, c in items]
    frames = [build_patient_frame(*P._read_inputs(pd.DataFrame(m), pd.DataFrame([c]), gs)[:2], gcig_settings=gs,
                                  kinetics_settings=bundle.kinetics_settings) for m, c in items]

    def as_arrays(h):  # the head's input as predict passes it: float arrays, object for text
        return {c: (h[c].to_numpy(dtype=float, na_value=np.nan) if pd.api.types.is_numeric_dtype(h[c])
                    and not pd.api.types.is_bool_dtype(h[c]) else h[c].to_numpy(dtype=object)) for c in h.columns}

    heads = [as_arrays(bundle.kinetics_features(f)) for f in frames]
    base = _timeit(lambda f: bundle.pipeline.predict_proba(f), frames) if hasattr(bundle, "pipeline") else \
        _timeit(lambda h: bundle.predict_head(h, 1), heads)
    base_med = statistics.median(base)
    rows = [_row(f"predict: {name}", _timeit(fn, index), base_med) for name, fn in forms]
    rows += [
        _row("baseline: bundle.pipeline.predict_proba", base, base_med),
        _row("predict (dicts) + landmark trajectory (.trajectory)", _timeit(
            lambda it: P.predict(*it, model=bundle).trajectory, items), base_med),
        _row("  part: io.patient_record (dicts)", _timeit(
            lambda it: patient_record(*it, uln=gs.uln, duplicates=gs.duplicates), items), base_med),
        _row("  part: io.patient_record (pandas slice + table)", _timeit(
            lambda i: patient_record(raw_slices[i], raw_clinical, uln=gs.uln), index), base_med),
        _row("  part: scoring a record (_score_patients)", _timeit(
            lambda r: P._score_patients(bundle, [r], {}), records), base_med),
        _row("    GCIG response and progression", _timeit(
            lambda r: records_gcig([r], gs), records), base_med),
        _row("    kinetics (population MAP fit)", _timeit(lambda r: P._kinetics_of(
            bundle, PatientBatch.from_records([r]), np.array([r.reason], dtype=object)), records), base_med),
        _row("    model with interval (compiled head)", _timeit(lambda h: bundle.predict_head(h, 1), heads),
             base_med),
        _row("    published scores", _timeit(lambda r: published_scores_arrays(
            {c: [(r.clinical or {}).get(c)] for c in ("ecog", "ascites_ml", "figo_stage", "primary_residual_disease",
                                                      "pfi_months", "recurrence_pattern")}), records), base_med),
    ]
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
        print(f"  {'score one patient [target 1 s]':<46} {statistics.median(times):9.2f} {max(times):9.2f} "
              f"{statistics.median(times) / b:8.1f}x")
        print(f"  {'baseline: python -c pass':<46} {b:9.2f} {max(base):9.2f} {1.0:8.1f}x")
        label = 'python -c "import ca125kinetics.predict"'
        print(f"  {label:<46} {statistics.median(imports):9.2f} "
              f"{max(imports):9.2f} {statistics.median(imports) / b:8.1f}x")
        print(f"  mlflow imported while scoring: {'yes' if mlflow else 'no'}")
        registry_times, mlflow_import = _registry_cold_start(model, cmd, env, run, repeats)
        print(f"  {'score one patient, models:/...@champion [target 3 s]':<46} "
              f"{statistics.median(registry_times):9.2f} {max(registry_times):9.2f} "
              f"{statistics.median(registry_times) / b:8.1f}x")
        label = 'python -c "import mlflow" (what it avoids)'
        print(f"  {label:<46} {statistics.median(mlflow_import):9.2f} "
              f"{max(mlflow_import):9.2f} {statistics.median(mlflow_import) / b:8.1f}x")
        print("\n  output of the last run:")
        print("    " + "\n    ".join(last.stdout.strip().splitlines()[:6]) + "\n    ...")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _registry_cold_start(model, command, env, run, repeats):
    """``ca125 score --model models:/ca125-bench@champion`` from a fresh local SQLite registry
    holding the model (logged once with mlflow here; scoring itself must not need mlflow)."""
    import warnings

    import mlflow
    from mlflow import MlflowClient

    from ca125kinetics.mlflow_model import log_pyfunc_model
    from ca125kinetics.predict import default_model_dir

    tmp = Path(tempfile.mkdtemp(prefix="bench_registry_"))
    try:
        uri = f"sqlite:///{tmp / 'mlflow.db'}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mlflow.set_tracking_uri(uri)
            experiment = mlflow.create_experiment("bench", artifact_location=(tmp / "artifacts").as_uri())
            with mlflow.start_run(experiment_id=experiment) as active:
                info = log_pyfunc_model(Path(model or default_model_dir()))
            client = MlflowClient(tracking_uri=uri)
            client.create_registered_model("ca125-bench")
            version = client.create_model_version(name="ca125-bench", source=info.model_uri,
                                                  run_id=active.info.run_id, model_id=info.model_id)
            client.set_registered_model_alias("ca125-bench", "champion", str(version.version))
        env["MLFLOW_TRACKING_URI"] = uri
        cmd = list(command)
        if "--model" in cmd:
            cmd[cmd.index("--model") + 1] = "models:/ca125-bench@champion"
        else:
            cmd += ["--model", "models:/ca125-bench@champion"]
        run(cmd)
        times = [run(cmd)[0] for _ in range(repeats)]
        imports = [run([sys.executable, "-c", "import mlflow"])[0] for _ in range(repeats)]
        return times, imports
    finally:
        env.pop("MLFLOW_TRACKING_URI", None)
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model directory or MLflow URI (default: the shipped model)")
    parser.add_argument("--n", type=int, default=200, help="distinct patients timed in process (default 200)")
    parser.add_argument("--repeats", type=int, default=5, help="cold-start runs (default 5)")
    args = parser.parse_args(argv)
    compile_package()       # as installed: the cold starts do not compile the package
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPU(s), load average "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    bench_in_process(args.model, args.n)
    bench_cold_start(args.model, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
