"""Benchmark of Harrell's optimism-corrected bootstrap (``validation.studies.optimism_bootstrap``).

Target (issue "Validation studies"): 200 resamples on 2,000 patients in <= 120 s on 2 cores,
the whole pipeline (kinetics population included) refitted in every resample.

Baseline measured in the same run (the machine is shared, so absolute times drift): one
replicate done by hand -- clone the pipeline, fit it on a bootstrap sample, predict the
bootstrap sample and the original sample -- timed ``--baseline-repeats`` times with the
kinetics population's EM started cold (MixedLM start, then the SQUAREM-accelerated EM; a
plain EM before this release); its median x the number of resamples is the *sequential* cost. The
same replicates are timed again warm-started as ``optimism_bootstrap`` does (EM started
from the population of the full sample, SQUAREM-accelerated; the population is still
learned on the resample). The script splits a replicate into its parts (kinetics
population fit; kinetics features of the resample and the rest of the pipeline fit; the
two predictions; the four performance measures), so the slowest part is visible, and
reports the EM iterations of both starts.

Cohort: ``simulate_cohort(n, seed, surgery_fraction=1.0)`` (everybody operated, so every
patient has an observed outcome and all ``n`` enter the bootstrap).

Usage::

    python benchmarks/bench_bootstrap.py [--n 2000] [--boot 200] [--jobs 2]
        [--family logistic_main | --model DIR] [--baseline-repeats 3]

Prints a table; writes nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings


def _cohort(n: int, seed: int):
    from ca125kinetics.features import build_patient_frame
    from ca125kinetics.synth import simulate_cohort

    c = simulate_cohort(n, seed, surgery_fraction=1.0)
    frame = build_patient_frame(c.markers, c.clinical)
    y = c.clinical.set_index("patient_id").reindex(frame["patient_id"])["complete_resection"]
    return frame, y.to_numpy(dtype=int)


def _pipeline(args):
    if args.model:
        from ca125kinetics.predict import load_model

        bundle = load_model(args.model)
        return bundle.pipeline, f"{bundle.name} {bundle.version} ({bundle.model_family})"
    from ca125kinetics.models import make_pipeline

    return make_pipeline(args.family), args.family


def _one_replicate(pipeline, frame, y, idx, parts: dict, start=None) -> float:
    """One bootstrap replicate by hand (``start``: the kinetics EM's warm start); returns
    seconds and fills ``parts`` (with the EM iterations under ``"n_iter"``)."""
    from sklearn.base import clone

    from ca125kinetics.validation.studies import _performance, _positive_proba, _resample_frame

    t0 = time.perf_counter()
    Xb, yb = _resample_frame(frame, idx), y[idx]
    model = clone(pipeline)
    if start is not None:
        model.steps[0][1].set_params(population_start=start)
    t1 = time.perf_counter()
    kinetics = model.steps[0][1].fit(Xb)
    t2 = time.perf_counter()
    model.steps[0] = (model.steps[0][0], "passthrough")
    features = kinetics.transform(Xb)  # once, as optimism_bootstrap does (_fit_then_predict)
    rest = model.fit(features, yb)
    t3 = time.perf_counter()
    p_boot = _positive_proba(rest, features)
    p_test = _positive_proba(rest, kinetics.transform(frame))
    t4 = time.perf_counter()
    _performance(yb, p_boot)
    _performance(y, p_test)
    t5 = time.perf_counter()
    for key, value in (("resample + clone", t1 - t0), ("kinetics population fit", t2 - t1),
                       ("features + rest of the pipeline fit", t3 - t2), ("predict resample + original", t4 - t3),
                       ("4 measures x 2", t5 - t4), ("total", t5 - t0)):
        parts.setdefault(key, []).append(value)
    population = kinetics.population_
    parts.setdefault("n_iter", []).append(population.n_iter if population is not None else 0)
    return t5 - t0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="patients (default 2000)")
    parser.add_argument("--boot", type=int, default=200, help="bootstrap resamples (default 200)")
    parser.add_argument("--jobs", type=int, default=2, help="joblib workers (default 2)")
    parser.add_argument("--family", default="logistic_main", help="model family of a fresh pipeline")
    parser.add_argument("--model", help="use the pipeline of this trained model instead (directory or URI)")
    parser.add_argument("--seed", type=int, default=20261121)
    parser.add_argument("--baseline-repeats", type=int, default=3)
    parser.add_argument("--target", type=float, default=120.0, help="target seconds (default 120)")
    args = parser.parse_args(argv)

    import numpy as np

    from ca125kinetics.validation.studies import optimism_bootstrap

    warnings.simplefilter("ignore")  # measured, not judged here; the result lists the warnings
    t = time.perf_counter()
    frame, y = _cohort(args.n, args.seed)
    t_data = time.perf_counter() - t
    pipeline, label = _pipeline(args)

    from sklearn.base import clone

    rng = np.random.default_rng(0)
    full = clone(pipeline.steps[0][1]).fit(frame).population_  # what optimism_bootstrap starts from
    cold: dict = {}
    warm: dict = {}
    for _ in range(args.baseline_repeats):
        idx = rng.integers(0, len(frame), size=len(frame))
        _one_replicate(pipeline, frame, y, idx, cold)
        _one_replicate(pipeline, frame, y, idx, warm, start=full)
    one = statistics.median(cold["total"])
    sequential = one * args.boot
    sequential_warm = statistics.median(warm["total"]) * args.boot

    res = optimism_bootstrap(pipeline, frame, y, n_boot=args.boot, seed=1, progress=sys.stderr.isatty(),
                             n_jobs=args.jobs)
    elapsed = res.elapsed_seconds

    print(f"optimism bootstrap: {args.n} patients ({int(y.sum())} events), {args.boot} resamples, "
          f"{args.jobs} worker(s), pipeline {label}; {os.cpu_count()} CPU(s) visible, load average "
          f"{os.getloadavg()[0]:.1f}; cohort built in {t_data:.1f} s")
    print()
    print(f"{'one replicate, by part (median of ' + str(args.baseline_repeats) + '), seconds':<44}"
          f"{'cold EM':>10}{'warm EM':>10}")
    for key in cold:
        fmt = ".0f" if key == "n_iter" else ".3f"
        label = "kinetics EM iterations" if key == "n_iter" else key
        print(f"  {label:<42}{statistics.median(cold[key]):>10{fmt}}{statistics.median(warm[key]):>10{fmt}}")
    print()
    print(f"{'':<44}{'seconds':>10}{'ratio':>10}")
    print(f"{'baseline: cold replicate x ' + str(args.boot) + ' (sequential)':<44}{sequential:>10.1f}{1.0:>10.2f}")
    print(f"{'warm replicate x ' + str(args.boot) + ' (sequential)':<44}{sequential_warm:>10.1f}"
          f"{sequential_warm / sequential:>10.2f}")
    print(f"{'optimism_bootstrap (apparent fit included)':<44}{elapsed:>10.1f}{elapsed / sequential:>10.2f}")
    print(f"{'target':<44}{args.target:>10.1f}{args.target / sequential:>10.2f}")
    verdict = "meets" if elapsed <= args.target else "MISSES"
    print()
    print(f"{verdict} the target ({elapsed:.1f} s vs {args.target:.0f} s); failed resamples {res.n_failed}; "
          f"corrected AUC {res.corrected('auc'):.3f} (apparent {res.apparent('auc'):.3f}), corrected slope "
          f"{res.corrected('calibration_slope'):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
