"""Compare ``fit_population`` / ``fit_kinetics`` with the nlme fits and the simulation truth.

Run from the repository root after ``kinetics_nlme_simulation.py`` and
``kinetics_nlme_reference.R`` (see ``tests/data/kinetics_nlme_README.md``)::

    PYTHONPATH=src python tests/data/kinetics_nlme_compare.py out/nlme

prints, per scenario, the population parameters (truth, package, nlme ML, nlme REML) and the
agreement of the per-patient empirical-Bayes estimates (log k, log floor): the package's MAP
under its own population and under nlme's, against nlme's ``coef()`` and against the truth.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from ca125kinetics.kinetics import KineticsPopulation, fit_kinetics, fit_population

PARAMS = ("mu_log_k", "sd_log_k", "mu_log_floor", "sd_log_floor", "corr_log_k_floor", "sigma")


def read_cohort(path: Path) -> pd.DataFrame:
    markers = pd.read_csv(path, dtype={"patient_id": str})
    markers["event"] = None
    markers["problem"] = None
    return markers


def population_of(nlme: dict, n_patients: int, n_samples: int) -> KineticsPopulation:
    """nlme's population as a KineticsPopulation (to score with the package's MAP)."""
    return KineticsPopulation(**{p: nlme[p] for p in PARAMS}, n_patients=n_patients, n_samples=n_samples)


def compare(outdir: Path, name: str) -> tuple[list[dict], list[dict]]:
    truth_pop = json.loads((outdir / "truth.json").read_text())[name]
    truth_pop = {**truth_pop, "corr_log_k_floor": truth_pop["corr"]}
    nlme = json.loads((outdir / f"nlme_{name}.json").read_text())
    markers = read_cohort(outdir / f"{name}.csv")
    truth = pd.read_csv(outdir / f"{name}_truth.csv", dtype={"patient_id": str}).set_index("patient_id")
    pop = fit_population(markers)
    rows = []
    for what, source in (("truth", truth_pop), ("package", pop.to_dict()), ("nlme ML", nlme["ML"]),
                         ("nlme REML", nlme["REML"])):
        row = {"scenario": name, "estimate": what}
        row.update({p: source.get(p, np.nan) for p in PARAMS})
        if "error" in source:
            row["note"] = "nlme failed: " + source["error"]
        elif "start" in source:
            row["note"] = f"start {source['start'][:5]}, {source['n_iter']} iterations"
        elif what == "package":
            row["note"] = f"{pop.n_iter} EM iterations, converged {pop.converged}"
        rows.append(row)
    eb = []
    if "patients" in nlme:
        ref = pd.DataFrame(nlme["patients"]).astype({"patient_id": str}).set_index("patient_id")
        own = fit_kinetics(markers, population=pop).set_index("patient_id")
        under_nlme = fit_kinetics(markers, population=population_of(nlme["ML"], pop.n_patients,
                                                                    pop.n_samples)).set_index("patient_id")
        for label, res in (("package population", own), ("nlme population", under_nlme)):
            res = res.loc[ref.index]
            for col, name_pkg in (("log_k", "k"), ("log_floor", "floor")):
                est = np.log(res[name_pkg].to_numpy())
                diff = est - ref[col].to_numpy()
                eb.append({"scenario": name, "package MAP under": label, "parameter": col,
                           "n": int(np.isfinite(diff).sum()),
                           "median |pkg - nlme|": float(np.nanmedian(np.abs(diff))),
                           "max |pkg - nlme|": float(np.nanmax(np.abs(diff))),
                           "corr(pkg, nlme)": float(np.corrcoef(est, ref[col])[0, 1]),
                           "rmse pkg vs truth": float(np.sqrt(np.nanmean((est - truth.loc[ref.index, col]) ** 2))),
                           "rmse nlme vs truth": float(np.sqrt(np.mean((ref[col] - truth.loc[ref.index, col]) ** 2))),
                           "sd truth": float(truth.loc[ref.index, col].std())})
    return rows, eb


def main(outdir: str) -> None:
    out = Path(outdir)
    names = sorted(p.stem[len("nlme_"):] for p in out.glob("nlme_*.json"))
    pops, ebs = [], []
    for name in names:
        rows, eb = compare(out, name)
        pops += rows
        ebs += eb
    print(markdown(pd.DataFrame(pops)))
    print()
    print(markdown(pd.DataFrame(ebs)))


def markdown(frame: pd.DataFrame) -> str:
    """A markdown table, floats to 4 decimals (NaN blank)."""
    cell = lambda v: ("" if pd.isna(v) else f"{v:.4f}") if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * frame.shape[1]]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "out/nlme")
