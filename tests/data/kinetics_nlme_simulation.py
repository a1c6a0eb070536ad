"""Seeded cohorts of the kinetics population model, for the comparison with R's nlme.

Does not import ca125kinetics (the truth is written here, independently of the package).
See ``tests/data/kinetics_nlme_README.md`` for the whole procedure. Run from the
repository root::

    python tests/data/kinetics_nlme_simulation.py OUTDIR

writes ``OUTDIR/<scenario>.csv`` (canonical long markers: patient_id, day, ca125, censored,
uln, event, problem) and ``OUTDIR/<scenario>_truth.csv`` (every patient's true k, floor,
amplitude) for every scenario of :data:`SCENARIOS`, and ``OUTDIR/truth.json`` (the
population parameters). The scenario ``small`` is also the committed cohort
``tests/data/kinetics_nlme_small.csv`` (the same file, byte for byte).

Model (the one ``fit_population`` fits, docs/kinetics-engine.md)
    ``log C_ij = log(B_i + A_i exp(-k_i t_ij)) + e_ij``, ``e_ij ~ N(0, sigma^2)``,
    ``t_ij = max(day_ij, 0)``;
    ``(log k_i, log B_i) ~ N((mu_log_k, mu_log_floor), Sigma)`` (sds and correlation);
    ``log A_i ~ N(mu_log_amp, sd_log_amp^2)`` independent of (log k, log B) (the package
    gives log A no population distribution, only a vague per-patient prior; nlme fits it as
    a third, independent random effect; both make A a nuisance the data pin).

Sampling days: one pretreatment sample on a day drawn in -10..0 (it enters at t = 0),
then ``n_samples - 1`` distinct on-treatment days drawn in 5..100 (the package's window is
days -14..100). No value is censored, so that nlme fits the same likelihood.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ULN = 35.0

#: name -> (patients, samples per patient low..high inclusive, population parameters, seed)
SCENARIOS = {
    # the committed cohort of the pytest: moderate shrinkage, negative correlation
    "small": dict(n=300, samples=(3, 6), mu_log_k=math.log(0.045), sd_log_k=0.45,
                  mu_log_floor=math.log(8.0), sd_log_floor=0.5, corr=-0.4, sigma=0.15,
                  mu_log_amp=math.log(600.0), sd_log_amp=0.7, seed=20261130),
    # many samples, small noise: little shrinkage
    "typical": dict(n=1000, samples=(4, 8), mu_log_k=math.log(0.05), sd_log_k=0.5,
                    mu_log_floor=math.log(10.0), sd_log_floor=0.6, corr=-0.3, sigma=0.10,
                    mu_log_amp=math.log(500.0), sd_log_amp=0.8, seed=20261131),
    # 3-4 samples, large noise, narrow population: extreme shrinkage of k and the floor
    "shrink": dict(n=2000, samples=(3, 4), mu_log_k=math.log(0.07), sd_log_k=0.25,
                   mu_log_floor=math.log(10.0), sd_log_floor=0.4, corr=0.4, sigma=0.30,
                   mu_log_amp=math.log(800.0), sd_log_amp=0.6, seed=20261134),
    # as "shrink", but slower (half-life 17 days) and a larger amplitude: most series end far
    # above their floor, which the data hardly inform (both estimators fail here, see README)
    "weakfloor": dict(n=2000, samples=(3, 4), mu_log_k=math.log(0.04), sd_log_k=0.25,
                      mu_log_floor=math.log(12.0), sd_log_floor=0.4, corr=0.4, sigma=0.30,
                      mu_log_amp=math.log(800.0), sd_log_amp=0.6, seed=20261132),
    # positive correlation, low floor, mixed sample counts; slow decline (half-life 23
    # days), so that the floor of many series is weakly informed
    "wide": dict(n=1500, samples=(3, 8), mu_log_k=math.log(0.03), sd_log_k=0.6,
                 mu_log_floor=math.log(5.0), sd_log_floor=0.7, corr=0.5, sigma=0.20,
                 mu_log_amp=math.log(400.0), sd_log_amp=0.7, seed=20261133),
}


def simulate(p: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One cohort: (markers, per-patient truth)."""
    rng = np.random.default_rng(p["seed"])
    n = p["n"]
    cov = p["corr"] * p["sd_log_k"] * p["sd_log_floor"]
    sigma_kb = np.array([[p["sd_log_k"] ** 2, cov], [cov, p["sd_log_floor"] ** 2]])
    kb = rng.multivariate_normal([p["mu_log_k"], p["mu_log_floor"]], sigma_kb, size=n)
    log_amp = rng.normal(p["mu_log_amp"], p["sd_log_amp"], n)
    n_samples = rng.integers(p["samples"][0], p["samples"][1] + 1, n)
    ids, days, values = [], [], []
    for i in range(n):
        d = np.concatenate([[rng.integers(-10, 1)],
                            np.sort(rng.choice(np.arange(5, 101), n_samples[i] - 1, replace=False))])
        t = np.maximum(d, 0).astype(float)
        mean = np.log(np.exp(kb[i, 1]) + np.exp(log_amp[i] - np.exp(kb[i, 0]) * t))
        y = mean + rng.normal(0.0, p["sigma"], d.size)
        ids += [f"S{i:04d}"] * d.size
        days.append(d)
        values.append(np.round(np.exp(y), 6))
    markers = pd.DataFrame({"patient_id": ids, "day": np.concatenate(days).astype(np.int64),
                            "ca125": np.concatenate(values)})
    markers["censored"] = False
    markers["uln"] = ULN
    markers["event"] = ""
    markers["problem"] = ""
    truth = pd.DataFrame({"patient_id": [f"S{i:04d}" for i in range(n)], "log_k": kb[:, 0],
                          "log_floor": kb[:, 1], "log_amp": log_amp, "n_samples": n_samples})
    return markers, truth


def main(outdir: str) -> None:
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    for name, p in SCENARIOS.items():
        markers, truth = simulate(p)
        markers.to_csv(out / f"{name}.csv", index=False)
        truth.to_csv(out / f"{name}_truth.csv", index=False, float_format="%.10g")
    (out / "truth.json").write_text(json.dumps(SCENARIOS, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "out/nlme")
