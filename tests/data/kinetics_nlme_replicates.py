"""Replicate cohorts of one nlme scenario: is an estimate's distance from the truth the
cohort's sampling error, or a bias that every cohort shares?

See ``tests/data/kinetics_nlme_README.md`` ("Replicate cohorts"). Run from the repository
root::

    python tests/data/kinetics_nlme_replicates.py write out/nlme-typical typical 8
    Rscript tests/data/kinetics_nlme_reference.R out/nlme-typical
    PYTHONPATH=src python tests/data/kinetics_nlme_replicates.py compare out/nlme-typical

``write`` draws ``N`` cohorts of the scenario with :func:`kinetics_nlme_simulation.simulate`,
seeds 5000, 5001, ... (the scenario's own seed is the committed comparison's), into files
named ``<scenario>a.csv``, ``<scenario>b.csv``, ... with their ``truth.json``: the layout the
R script reads (it writes the committed reference only for a cohort named ``small``, which
this never writes). ``write`` does not import ca125kinetics. ``compare`` fits each cohort with
``fit_population`` and prints, per replicate and as mean (sd) over the replicates, the
package's and nlme's (ML) estimate minus the truth.
"""

from __future__ import annotations

import json
import string
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import kinetics_nlme_simulation as sim  # noqa: E402

FIRST_SEED = 5000
PARAMETERS = ("mu_log_k", "sd_log_k", "mu_log_floor", "sd_log_floor", "corr_log_k_floor", "sigma")
TRUTH_KEY = {"corr_log_k_floor": "corr"}


def write(outdir: str, scenario: str, n: int) -> None:
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    truths = {}
    for r in range(n):
        p = dict(sim.SCENARIOS[scenario], seed=FIRST_SEED + r)
        name = scenario + string.ascii_lowercase[r]
        markers, truth = sim.simulate(p)
        markers.to_csv(out / f"{name}.csv", index=False)
        truth.to_csv(out / f"{name}_truth.csv", index=False, float_format="%.10g")
        truths[name] = p
    (out / "truth.json").write_text(json.dumps(truths, indent=1) + "\n")


def compare(outdir: str) -> None:
    import warnings

    from ca125kinetics import fit_population
    from ca125kinetics.errors import DataQualityWarning

    out = Path(outdir)
    truths = json.loads((out / "truth.json").read_text())
    rows = []
    for name, p in truths.items():
        markers = pd.read_csv(out / f"{name}.csv", dtype={"patient_id": str}, keep_default_na=False,
                              na_values={"ca125": [""]})
        markers = markers.replace({"event": {"": None}, "problem": {"": None}})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataQualityWarning)
            pop = fit_population(markers)
        nlme_file = out / f"nlme_{name}.json"
        nlme = json.loads(nlme_file.read_text()).get("ML", {}) if nlme_file.exists() else {}
        for who, est in (("package", {k: getattr(pop, k) for k in PARAMETERS}), ("nlme ML", nlme)):
            if not est or "error" in est:
                continue
            rows.append({"cohort": name, "seed": p["seed"], "estimate": who,
                         **{k: est[k] - p[TRUTH_KEY.get(k, k)] for k in PARAMETERS}})
    table = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    print("estimate minus truth, per replicate cohort")
    print(table.round(4).to_string(index=False))
    print("\nmean (sd) over the replicates")
    summary = table.groupby("estimate")[list(PARAMETERS)].agg(["mean", "std"])
    print(summary.round(4).T.to_string())
    # the package and nlme on the same cohorts
    both = table.pivot(index="cohort", columns="estimate", values=list(PARAMETERS)).dropna()
    if len(both):
        print(f"\npackage minus nlme on the {len(both)} cohorts nlme fitted: largest |difference|")
        print(pd.Series({k: np.max(np.abs(both[k]["package"] - both[k]["nlme ML"])) for k in PARAMETERS})
              .round(4).to_string())


if __name__ == "__main__":
    if sys.argv[1:2] == ["write"] and len(sys.argv) == 5:
        write(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif sys.argv[1:2] == ["compare"] and len(sys.argv) == 3:
        compare(sys.argv[2])
    else:
        sys.exit(__doc__)
