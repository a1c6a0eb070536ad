"""Benchmark of the KELIM-like kinetics estimator: accuracy and speed (prints tables).

Run from the repository root::

    python benchmarks/bench_kinetics.py            # full run (1,000,000 patients; a few minutes)
    python benchmarks/bench_kinetics.py --quick    # smaller cohorts
    python benchmarks/bench_kinetics.py --quick --only accuracy   # the accuracy tables only

Every ratio is against a baseline measured in the same run on the same machine:

* accuracy -- median absolute relative error of k against the true k of a synthetic cohort
  (:func:`ca125kinetics.synth.simulate_cohort`: 3-5 samples, CV 7 % noise, floor 2-20
  U/mL), by number of samples and method; the naive log-linear slope is the baseline.
  The same table for CEA on the rectal generator
  (:func:`ca125kinetics.synth_rectal.simulate_rectal_cohort`: baseline and up to 5
  on-treatment samples at weeks 2-14, CV 8 %, floor 0.3-4 ng/mL; patients whose baseline
  is above the ULN of 5 ng/mL are scored).
* speed -- seconds per patient of the per-patient method and of scoring new patients with
  an already fitted population (long markers in, features out), on the compiled (numba)
  and on the numpy engine, against a per-patient ``scipy.optimize.curve_fit`` loop of the
  same floor model (timed on a subset, scaled per patient); population fit on 100,000
  patients (20,000 with ``--quick``) on both engines; a one-patient ``ca125 score`` in a
  fresh process (the numpy engine, numba not imported) and the cost of loading the
  compiled engine in a fresh process; peak memory of scoring 1,000,000 patients
  (tracemalloc in a subprocess, and the subprocess's maximum resident set).

Wall-clock numbers depend on the machine and its load (printed); CPU seconds of this
process are shown beside them. Nothing here is a test.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
import warnings

import numpy as np
import pandas as pd

from ca125kinetics import _kinetics_engine as eng
from ca125kinetics.io import read_markers
from ca125kinetics.kinetics import KineticsFeatures, fit_kinetics, fit_population, series_to_wide
from ca125kinetics.synth import simulate_cohort
from ca125kinetics.synth_rectal import simulate_rectal_cohort

from _bytecode import compile_package  # benchmarks/_bytecode.py


DEFAULT_MIN_FITS = eng.COMPILED_MIN_FITS


def timed(fn, *args, **kwargs):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - wall, time.process_time() - cpu


def table(rows, columns, title):
    print(f"\n{title}")
    print(pd.DataFrame(rows, columns=columns).to_string(index=False, float_format=lambda v: f"{v:.4g}"))


# --------------------------------------------------------------------------- curve_fit baseline

def _floor_log(t, log_k, log_b, log_a):
    return np.log(np.exp(log_b) + np.exp(log_a) * np.exp(-np.exp(log_k) * t))


def curve_fit_loop(wide: pd.DataFrame, uln: float = 35.0) -> np.ndarray:
    """The floor model fitted patient by patient with scipy (the speed baseline)."""
    from scipy.optimize import curve_fit

    days = wide.filter(regex=r"^day_\d+$").to_numpy(float)
    values = wide.filter(regex=r"^ca125_\d+$").to_numpy(float)
    k = np.full(len(wide), np.nan)
    lower = [math.log(1e-4), math.log(1e-3 * uln), -np.inf]
    upper = [math.log(2.0), math.log(uln), np.inf]
    for i in range(len(wide)):  # the baseline is a per-patient loop on purpose
        used = ~np.isnan(values[i])
        t, y = np.maximum(days[i, used], 0.0), np.log(values[i, used])
        p0 = [math.log(0.04), math.log(7.0), y[0]]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                p, _ = curve_fit(_floor_log, t, y, p0=p0, bounds=(lower, upper), max_nfev=2000)
            k[i] = math.exp(p[0])
        except (RuntimeError, ValueError):
            pass
    return k


# --------------------------------------------------------------------------- sections

def k_errors(markers: pd.DataFrame, truth: pd.DataFrame, sample_counts, *, marker: str = "ca125", title: str):
    """Print the accuracy table of k by number of samples; return (results, true k, kept)."""
    pop, wall, _ = timed(fit_population, markers, marker=marker)
    unit = "U/mL" if marker == "ca125" else "ng/mL"
    print(f"\n{marker}: population learned on {pop.n_patients} patients in {wall:.1f} s: median k "
          f"{pop.median_k:.4f}/day (sd log k {pop.sd_log_k:.3f}), median floor {pop.median_floor:.2f} {unit} "
          f"(sd log {pop.sd_log_floor:.3f}), sigma {pop.sigma:.4f}; EM iterations {pop.n_iter}")
    results = {"population": fit_kinetics(markers, population=pop),
               "per-patient": fit_kinetics(markers, method="per-patient", marker=marker),
               "loglinear": fit_kinetics(markers, method="loglinear", marker=marker)}
    ok = results["population"]["status"].eq("ok").to_numpy()
    true_k = truth.set_index("patient_id").loc[results["population"]["patient_id"], "k"].to_numpy()
    keep = ok & (true_k > 0)                     # non-responders (true k <= 0) are "rising"
    n_samples = results["population"]["n_samples"].to_numpy()
    err = {m: np.abs(r["k"].to_numpy() / true_k - 1) for m, r in results.items()}
    rows = []
    for m in (*sample_counts, "all"):
        sel = keep & ((n_samples == m) if m != "all" else True)
        if not sel.any():
            continue
        # a method that gives some of these patients no k (per-patient: k_at_bound,
        # not_converged) is summarised over the others; np.median would print NaN
        med = {meth: float(np.nanmedian(e[sel])) for meth, e in err.items()}
        rows.append([m, int(sel.sum()), med["population"], float(np.nanquantile(err["population"][sel], 0.9)),
                     med["per-patient"], float(np.nanquantile(err["per-patient"][sel], 0.9)), med["loglinear"],
                     med["loglinear"] / med["population"], med["per-patient"] / med["population"]])
    table(rows, ["samples", "patients", "population_med", "population_p90", "per_patient_med",
                 "per_patient_p90", "loglinear_med", "loglinear/pop", "per_patient/pop"], title)
    for meth, e in err.items():
        if np.isnan(e[keep]).any():
            print(f"  {meth}: no k for {int(np.isnan(e[keep]).sum())} of these patients "
                  f"(statuses {results[meth]['status'][keep & np.isnan(e)].value_counts().to_dict()}), "
                  "left out of its columns")
    return results, true_k, keep, err


def accuracy(n: int, seed: int):
    cohort = simulate_cohort(n, seed)
    results, true_k, keep, err = k_errors(
        cohort.markers, cohort.truth, (3, 4, 5),
        title=f"Accuracy: |k_hat / k - 1| on simulate_cohort({n}, {seed}) (status ok, true k > 0)")
    wide = series_to_wide(cohort.markers)
    sub = np.flatnonzero(keep)[:1500]
    cf_k, cf_wall, cf_cpu = timed(curve_fit_loop, wide.iloc[sub])
    cf_err = np.abs(cf_k / true_k[sub] - 1)
    print(f"curve_fit loop on {sub.size} of them: median error {np.nanmedian(cf_err):.4f} "
          f"(population {np.median(err['population'][sub]):.4f}), {np.isnan(cf_k).sum()} failures")
    statuses = results["population"]["status"].value_counts().to_dict()
    print(f"statuses: {statuses}")
    return cf_wall / sub.size, cf_cpu / sub.size


def accuracy_cea(n: int, seed: int):
    """The same table for CEA on the rectal generator (weeks 2-14 sampling, ULN 5 ng/mL)."""
    cohort = simulate_rectal_cohort(n, seed)
    markers = read_markers(cohort.markers, marker="cea")
    results, _, _, _ = k_errors(
        markers, cohort.truth, (3, 4, 5, 6), marker="cea",
        title=f"Accuracy, CEA: |k_hat / k - 1| on simulate_rectal_cohort({n}, {seed}) (status ok, true k > 0)")
    print(f"statuses: {results['population']['status'].value_counts().to_dict()}")


def engine(name: str):
    """Force the numpy or the compiled engine (the package chooses by the size of the job)."""
    eng.COMPILED_MIN_FITS = 0 if name == "compiled" else 10 ** 15


def speed(n_per_patient: int, n_population: int, seed: int, per_patient_loop_s: tuple[float, float]):
    cohort = simulate_cohort(n_per_patient, seed + 1)
    pop_cohort = simulate_cohort(n_population, seed + 2)
    engine("compiled")
    fit_kinetics(cohort.markers.iloc[:400], method="per-patient")       # load the compiled code
    loop_wall, loop_cpu = per_patient_loop_s
    rows = [["curve_fit loop (baseline)", "scipy", loop_wall * 1e6, loop_cpu * 1e6, 1.0, 1.0]]
    pops = {}
    for name in ("compiled", "numpy"):
        engine(name)
        res, wall, cpu = timed(fit_kinetics, cohort.markers, method="per-patient")
        n = len(res)
        rows.append([f"per-patient method ({n} patients)", name, wall / n * 1e6, cpu / n * 1e6,
                     loop_wall / (wall / n), loop_cpu / (cpu / n)])
        pops[name] = timed(fit_population, pop_cohort.markers)
    pop = pops["compiled"][0]
    tf = KineticsFeatures(population=pop).fit(pop_cohort.markers.iloc[:0])
    for name in ("compiled", "numpy"):
        engine(name)
        X, s_wall, s_cpu = timed(tf.transform, cohort.markers)
        rows.append([f"population scoring, features ({n})", name, s_wall / n * 1e6, s_cpu / n * 1e6,
                     loop_wall / (s_wall / n), loop_cpu / (s_cpu / n)])
    table(rows, ["what", "engine", "us_per_patient_wall", "us_per_patient_cpu", "x_curve_fit_wall",
                 "x_curve_fit_cpu"],
          "Speed per patient (long markers in; target >= 100x the curve_fit loop, aim 250x)")
    prow = []
    for name, (p, wall, cpu) in pops.items():
        prow.append([n_population, name, wall, cpu, p.n_iter, p.median_k, p.sigma])
    table(prow, ["patients", "engine", "wall_s", "cpu_s", "em_iterations", "median_k", "sigma"],
          f"fit_population on {n_population:,} patients (target <= 30 s for 100,000)")
    a, b = (pops[name][0] for name in ("numpy", "compiled"))
    print(f"numpy vs compiled population: |d mu_log_k| {abs(a.mu_log_k - b.mu_log_k):.2g}, "
          f"|d sd_log_k| {abs(a.sd_log_k - b.sd_log_k):.2g}, |d sigma| {abs(a.sigma - b.sigma):.2g}")
    eng.COMPILED_MIN_FITS = DEFAULT_MIN_FITS
    return pop


def _child_run(cmd, repeats: int):
    """Wall and CPU seconds (user + system of the child) of each of ``repeats`` runs of ``cmd``."""
    import resource

    wall, cpu, out = [], [], None
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        wall.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return wall, cpu, out


def cold_start(repeats: int = 3):
    """``ca125 score`` of one patient in a fresh process (the numpy engine; numba not imported),
    and what loading the compiled engine costs a fresh process; baseline: a fresh Python
    process that only starts."""
    import tempfile

    csv = "patient_id,day,ca125,uln\nA,-3,420,35\nA,21,120,35\nA,42,30,35\nA,63,<5,35\nA,84,<5,35\n"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "one.csv")
        with open(path, "w") as f:
            f.write(csv)
        base_wall, base_cpu, _ = _child_run([sys.executable, "-c", "pass"], repeats)
        rows.append(["python -c pass (baseline)", min(base_wall), min(base_cpu), "no"])
        cmd = [sys.executable, "-c", "import sys; from ca125kinetics.cli import main; rc = main(sys.argv[1:]); "
               "print('numba imported:', 'numba' in sys.modules, file=sys.stderr); sys.exit(rc)",
               "score", "--markers", path, "--format", "json"]
        wall, cpu, out = _child_run(cmd, repeats)
        rows.append(["ca125 score, one patient (target <= 1 s)", min(wall), min(cpu),
                     "yes" if "numba imported: True" in out.stderr else "no"])
        code = ("from ca125kinetics import _kinetics_engine as eng; from ca125kinetics.kinetics import fit_kinetics; "
                "import pandas as pd; eng.COMPILED_MIN_FITS = 0; "
                "m = pd.DataFrame({'patient_id': 'A', 'day': [-3, 21, 42, 63], 'ca125': [420.0, 120.0, 30.0, 9.0]}); "
                "fit_kinetics(m, method='per-patient')")
        wall, cpu, _ = _child_run([sys.executable, "-c", code], repeats)
        rows.append(["one fit forced onto the compiled engine (cached code)", min(wall), min(cpu), "yes"])
    table(rows, ["fresh Python process", "wall_s_min", "cpu_s_min", "numba_imported"],
          f"Cold start (best of {repeats})")


def million(population, n: int, seed: int):
    """Score ``n`` patients in a fresh subprocess: wall, CPU, tracemalloc peak, max RSS."""
    code = f"""
import json, resource, time, tracemalloc


def peak_kb():
    # this process's own high-water mark (VmHWM): ru_maxrss would also count the parent's
    # memory at the fork (Linux keeps the forked image's mark at exec)
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
from ca125kinetics.kinetics import KineticsFeatures, KineticsPopulation
from ca125kinetics.synth import simulate_cohort
markers = simulate_cohort({n}, {seed}).markers
pop = KineticsPopulation.from_json({population.to_json()!r})
tf = KineticsFeatures(population=pop).fit(markers.iloc[:0])
rss0 = peak_kb()
tracemalloc.start()
w, c = time.perf_counter(), time.process_time()
X = tf.transform(markers)
w, c = time.perf_counter() - w, time.process_time() - c
peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
w2, c2 = time.perf_counter(), time.process_time()
X = tf.transform(markers)
w2, c2 = time.perf_counter() - w2, time.process_time() - c2
print(json.dumps({{"rows": len(markers), "patients": len(X), "wall_traced": w, "cpu_traced": c, "wall": w2,
                   "cpu": c2, "traced_peak_mb": peak / 2**20, "rss_before_mb": rss0 / 1024,
                   "rss_max_mb": peak_kb() / 1024}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    table([[r["patients"], r["rows"], r["wall"], r["cpu"], r["traced_peak_mb"], r["rss_before_mb"], r["rss_max_mb"]]],
          ["patients", "rows", "wall_s", "cpu_s", "tracemalloc_peak_MB", "rss_after_data_MB", "rss_max_MB"],
          "Scoring with a fitted population, long markers in -> features out (fresh subprocess; "
          "second run timed, first run traced)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller cohorts (about a minute)")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--only", choices=["accuracy"], help="run only these sections")
    args = parser.parse_args(argv)
    compile_package()       # as installed: the cold starts do not compile the package
    n_acc, n_speed, n_pop, n_big = ((3000, 50_000, 20_000, 200_000) if args.quick
                                    else (12_000, 200_000, 100_000, 1_000_000))
    print(f"ca125kinetics kinetics benchmark; {os.cpu_count()} CPUs, load average "
          f"{', '.join(f'{v:.1f}' for v in os.getloadavg())}")
    per_patient_loop_s = accuracy(n_acc, args.seed)
    accuracy_cea(n_acc, args.seed)
    if args.only == "accuracy":
        return
    pop = speed(n_speed, n_pop, args.seed, per_patient_loop_s)
    cold_start()
    million(pop, n_big, args.seed + 3)
    print(f"\nload average at the end: {', '.join(f'{v:.1f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
