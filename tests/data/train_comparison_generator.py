"""Write train_comparison_predictions.csv: the held-out comparison of one small training run.

Run from the repository root (once; the tests never regenerate the file):
    PYTHONPATH=src python tests/data/train_comparison_generator.py

``ca125 train``'s fit on ``simulate_cohort(300, seed=3)`` with a small configuration (3-fold
CV, one repeat, a quarter held out, seed 5); the file holds, for every held-out patient, the
outcome, the probability of each model family and each published score's numeric ranking
(``scores.score_for_auc``: higher = likelier complete resection; empty where the score cannot
be computed), as ``TrainingResult.predictions`` gives them, to 17 significant digits.
"""

from __future__ import annotations

from pathlib import Path

from ca125kinetics.synth import simulate_cohort
from ca125kinetics.train import fit_and_evaluate

CONFIG = {
    "seed": 5,
    "cv": {"n_splits": 3, "n_repeats": 1, "holdout_fraction": 0.25, "n_jobs": 1},
    "interval": {"n_bootstrap": 0},
    "landmarks": {"cycles": [], "early_days": []},
    "models": {"gradient_boosting": {"max_iter": 60}, "logistic_spline": {"inner_cv": 3, "Cs": [0.01, 0.1, 1.0]}},
}

if __name__ == "__main__":
    sim = simulate_cohort(300, seed=3)
    result = fit_and_evaluate(sim.markers, sim.clinical, config=CONFIG, synthetic=True)
    columns = ["patient_id", "y", "p_logistic_main", "p_logistic_spline", "p_gradient_boosting",
               "ago", "imodel", "mskcc"]
    out = Path(__file__).with_name("train_comparison_predictions.csv")
    result.predictions[columns].to_csv(out, index=False, float_format="%.17g")
    print(f"wrote {out} ({len(result.predictions)} held-out patients)")
