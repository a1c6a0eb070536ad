"""Monte Carlo marginal log-likelihood of a cohort at the truth, nlme's and the package's estimates.

Both ``fit_population`` and nlme maximise an approximation of the marginal likelihood (a
normal posterior at each patient's mode). This script computes the likelihood itself,
``sum_i log E[prod_j N(y_ij; f(t_ij; theta_i), sigma^2)]`` over
``theta_i ~ population``, by averaging over ``--draws`` draws from the population (the same
standard-normal draws for every parameter set, so that the comparison has less noise than
each value). The amplitude's distribution is nlme's fitted one for all three sets (the
package has none). Run from the repository root after the other scripts
(``tests/data/kinetics_nlme_README.md``)::

    PYTHONPATH=src python tests/data/kinetics_nlme_marginal.py out/nlme wide --draws 80000 --seed 2

The Monte Carlo average underestimates each patient's likelihood when few draws land
where the data are (it is the log of a mean); differences between parameter sets are the
meaningful output, and repeating with another seed shows their noise.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import logsumexp

from ca125kinetics.kinetics import fit_population

PARAMS = ("mu_log_k", "sd_log_k", "mu_log_floor", "sd_log_floor", "corr_log_k_floor", "sigma")


def marginal_loglik(series, population: dict, mu_log_amp: float, sd_log_amp: float, z: np.ndarray) -> float:
    """Monte Carlo marginal log-likelihood of ``series`` (list of ``(t, log C)``)."""
    p = population
    r = p["corr_log_k_floor"]
    u = p["mu_log_k"] + p["sd_log_k"] * z[:, 0]
    v = p["mu_log_floor"] + p["sd_log_floor"] * (r * z[:, 0] + np.sqrt(1 - r * r) * z[:, 1])
    w = mu_log_amp + sd_log_amp * z[:, 2]
    k = np.exp(u)[:, None]
    total = 0.0
    for t, y in series:
        f = np.logaddexp(v[:, None], w[:, None] - k * t[None, :])
        lp = (-0.5 * np.sum((y[None, :] - f) ** 2, axis=1) / p["sigma"] ** 2
              - y.size * np.log(p["sigma"] * np.sqrt(2 * np.pi)))
        total += logsumexp(lp) - np.log(z.shape[0])
    return float(total)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir")
    ap.add_argument("scenario")
    ap.add_argument("--draws", type=int, default=40000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    out = Path(args.outdir)
    markers = pd.read_csv(out / f"{args.scenario}.csv", dtype={"patient_id": str})
    markers["event"] = None
    markers["problem"] = None
    nlme = json.loads((out / f"nlme_{args.scenario}.json").read_text())["ML"]
    truth = json.loads((out / "truth.json").read_text())[args.scenario]
    truth = {**truth, "corr_log_k_floor": truth["corr"]}
    package = fit_population(markers).to_dict()
    series = [(np.maximum(g["day"].to_numpy(float), 0.0), np.log(g["ca125"].to_numpy(float)))
              for _, g in markers.groupby("patient_id")]
    z = np.random.default_rng(args.seed).standard_normal((args.draws, 3))
    for label, pop in (("truth", truth), ("nlme ML", nlme), ("package", package)):
        ll = marginal_loglik(series, {p: pop[p] for p in PARAMS}, nlme["mu_log_amp"], nlme["sd_log_amp"], z)
        print(f"{args.scenario}\t{label}\t{ll:.2f}")


if __name__ == "__main__":
    main()
