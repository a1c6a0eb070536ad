"""Seeded adversarial patients for the published selection scores (AGO, iMODEL, MSKCC).

Each patient starts from a clean one and changes what sits on an edge of a score: every ECOG
0-4 and out of range (``5``, ``-1``, ``1.5``, ``2.0``), ascites 0/0.4/499/499.99/500/500.0/5e2
and refused spellings (``500 mL``, ``NA``, ``inf``), every FIGO stage and documented substage
in several spellings (``Stage III`` too) and refused ones (``IVC``, ``3``), every accepted
spelling of the residual-disease flag and refused ones, platinum-free intervals on the
6/12/16/30-month edges with every recurrence pattern, pattern spellings, CA-125 at recurrence
on the 105 U/mL edge (numbers, censored ``<105``/``<106``/``<200``, no marker, only
on-treatment samples, a baseline older than 14 days, two pretreatment samples, paracentesis
and mouse antibodies before the baseline; a last pretreatment sample six weeks before the
first dose or older), the full grid of iMODEL factors with ECOG 0-4
(the totals on the 4.7 threshold included), every predictor left empty one at a time on
grid patients, and random patients mixing all of these.

Usage (from the repository root; standard library only)::

    python tests/data/scores_cases_generator.py tests/data --seed 20261130 --n-random 400

Writes ``scores_clinical.csv`` (the clinical table, with ``case_note`` saying what each row
tests) and ``scores_markers.csv`` (``patient_id``, ``day``, ``ca125``, ``event``).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import random
from pathlib import Path

BASE = {"age": "60", "ecog": "0", "ascites_ml": "0", "figo_stage": "IIIC",
        "primary_residual_disease": "0", "pfi_months": "20", "recurrence_pattern": "single"}
# a base whose iMODEL total is 3.8 (ascites 3.0 + FIGO III 0.8): the CA-125 decides the category
TIGHT = dict(BASE, ascites_ml="800")
CLINICAL = ["patient_id", "age", "ecog", "ascites_ml", "figo_stage", "primary_residual_disease",
            "pfi_months", "recurrence_pattern", "case_note"]

# marker series by name: (day, ca125 text, event)
SERIES = {
    "low": [(-3, "50", ""), (21, "30", ""), (42, "20", "")],
    "high": [(-3, "300", ""), (21, "150", ""), (42, "80", "")],
    "none": [],
    "post_only": [(21, "300", ""), (42, "200", "")],
    "old_high": [(-30, "300", ""), (21, "100", "")],
    "old_low": [(-30, "60", ""), (21, "40", "")],
    "d-14_high": [(-14, "300", ""), (21, "100", "")],
    "d-15_high": [(-15, "300", ""), (21, "100", "")],
    "two_pre_latest_low": [(-40, "300", ""), (-5, "60", ""), (21, "40", "")],
    "two_pre_latest_high": [(-40, "60", ""), (-5, "300", ""), (21, "100", "")],
    "day0_high": [(-10, "50", ""), (0, "150", ""), (21, "100", "")],
    "b105": [(-3, "105", ""), (21, "40", "")],
    "b105.0": [(-3, "105.0", ""), (21, "40", "")],
    "b104.99": [(-3, "104.99", ""), (21, "40", "")],
    "b105.01": [(-3, "105.01", ""), (21, "40", "")],
    "b106": [(-3, "106", ""), (21, "40", "")],
    "cens<5": [(-3, "<5", ""), (21, "<5", "")],
    "cens<105": [(-3, "<105", ""), (21, "40", "")],
    "cens<106": [(-3, "<106", ""), (21, "40", "")],
    "cens<200": [(-3, "<200", ""), (21, "40", "")],
    "b20000": [(-3, "20000", ""), (21, "9000", "")],
    "below_2uln": [(-3, "60", ""), (21, "40", "")],
    "paracentesis_before_high": [(-10, "", "paracentesis"), (-5, "300", ""), (21, "100", "")],
    "paracentesis_between": [(-30, "300", ""), (-20, "", "paracentesis"), (-2, "90", ""),
                             (21, "60", "")],
    "mouse_antibody_before_high": [(-20, "", "mouse_antibody"), (-5, "300", ""), (21, "100", "")],
    "mouse_antibody_between": [(-30, "60", ""), (-20, "", "mouse_antibody"), (-2, "300", ""),
                               (21, "100", "")],
    "paracentesis_within_window": [(-12, "300", ""), (-10, "", "paracentesis"), (-5, "60", ""),
                                   (21, "40", "")],
    "mouse_antibody_within_window": [(-12, "300", ""), (-10, "", "mouse_antibody"), (-5, "60", ""),
                                     (21, "40", "")],
    "thoracentesis_within_window_low": [(-12, "60", ""), (-10, "", "thoracentesis"), (-5, "300", ""),
                                        (21, "100", "")],
    "surgery_at_day0": [(-3, "300", ""), (0, "", "surgery"), (21, "100", "")],
}
# series added after the first cohort, appended after its random patients (the earlier
# patients and the random draws stay as they were): the six-week look-back of the CA-125 at
# recurrence when there is no GCIG baseline
LATE_SERIES = {
    "d-42_high": [(-42, "300", ""), (21, "100", "")],
    "d-43_high": [(-43, "300", ""), (21, "100", "")],
    "remission_only": [(-330, "20", ""), (20, "300", ""), (41, "200", "")],
    "two_old_pre": [(-90, "60", ""), (-50, "300", ""), (21, "100", "")],
    "paracentesis_then_recent": [(-45, "300", ""), (-10, "", "paracentesis"), (-5, "60", ""),
                                 (21, "40", "")],
}

ECOG = ["0", "1", "2", "3", "4", "0.0", "2.0", "4.0", "5", "-1", "1.5", "", "ECOG 1", "true", "NA"]
ASCITES = ["0", "0.0", "0.4", "1", "499", "499.9", "499.99", "500", "500.0", "5e2", "501",
           "2500", "50000", "50001", "-1", "500 mL", "", "NA", "nan", "inf", "none"]
FIGO = ["I", "II", "III", "IV", "IA", "IB", "IC", "IC1", "IC2", "IC3", "IIA", "IIB", "IIC",
        "IIIA", "IIIA1", "IIIA2", "IIIB", "IIIC", "IVA", "IVB", "iiic", "IIIc", "iv", "FIGO IIIC",
        "figo IV", "FIGO II", "FIGOIIIC", "", "IVC", "IA9", "Stage III", "3", "V", "0", "IIID"]
PRD = ["0", "1", "true", "False", "yes", "NO", "0.0", "1.0", "", "2", "y", "unknown", "-1"]
PFI = ["0", "5.9", "5.99", "6", "6.0", "6.01", "11.99", "12", "12.0", "12.01", "15.9", "15.99",
       "16", "16.0", "16.01", "29.99", "30", "30.0", "30.01", "45", "600", "", "600.1", "-1",
       "12 months"]
PATTERN = ["single", "multiple", "carcinomatosis", "Single", "MULTIPLE", "Carcinomatosis", "",
           "single site", "multiple sites", "diffuse", "none", "carcinomatose"]
VALID = {
    "ecog": ["0", "0", "0", "1", "1", "2", "3", "4"],
    "ascites_ml": ["0", "0", "0", "200", "499", "500", "1500"],
    "figo_stage": ["IIIC", "IIIC", "IV", "IVB", "II", "IC2", "III", "FIGO IIIB"],
    "primary_residual_disease": ["0", "0", "1", "true", "no"],
    "pfi_months": ["4", "6", "9", "12", "14", "16", "24", "30", "48"],
    "recurrence_pattern": ["single", "multiple", "carcinomatosis", "Single"],
}


def generate(seed: int, n_random: int):
    rng = random.Random(seed)
    rows, markers = [], []

    def add(values, series, note):
        pid = f"S{len(rows) + 1:04d}"
        rows.append({"patient_id": pid, **values, "case_note": note})
        for day, ca125, event in {**SERIES, **LATE_SERIES}[series]:
            markers.append({"patient_id": pid, "day": str(day), "ca125": ca125, "event": event})

    for base_name, base in (("base", BASE), ("tight", TIGHT)):
        for v in ECOG:
            add(dict(base, ecog=v), "low", f"{base_name} ecog={v!r}")
    for v in ASCITES:
        add(dict(BASE, ascites_ml=v), "low", f"ascites_ml={v!r}")
    for v in FIGO:
        add(dict(TIGHT, figo_stage=v), "low", f"figo_stage={v!r}")
    for v in PRD:
        add(dict(BASE, primary_residual_disease=v), "low", f"primary_residual_disease={v!r}")
    for v, pattern in itertools.product(PFI, ("single", "multiple", "carcinomatosis")):
        add(dict(BASE, pfi_months=v, recurrence_pattern=pattern), "low",
            f"pfi_months={v!r} x {pattern}")
    for v in PATTERN:
        for pfi in ("9", "45"):
            add(dict(BASE, recurrence_pattern=v, pfi_months=pfi), "low",
                f"recurrence_pattern={v!r} pfi {pfi}")
    for name in SERIES:
        for base_name, base in (("base", BASE), ("tight", TIGHT)):
            add(dict(base), name, f"{base_name} markers={name}")

    # the full grid of iMODEL factors (two spellings of no ascites), with ECOG 0-4
    grid = []
    for figo, prd, pfi, ecog, asc, ca in itertools.product(
            ("II", "IIIC"), ("0", "1"), ("20", "10"), ("0", "1", "2", "3", "4"), ("0", "800"),
            ("low", "high")):
        values = dict(BASE, figo_stage=figo, primary_residual_disease=prd, pfi_months=pfi,
                      ecog=ecog, ascites_ml=asc)
        grid.append((values, ca))
        add(values, ca, f"grid figo {figo} prd {prd} pfi {pfi} ecog {ecog} ascites {asc} ca125 {ca}")

    # every predictor empty one at a time, on grid patients chosen to sit on both sides
    for values, ca in rng.sample(grid, 24):
        for field in ("ecog", "ascites_ml", "figo_stage", "primary_residual_disease",
                      "pfi_months", "recurrence_pattern", "age"):
            add(dict(values, **{field: ""}), ca, f"grid with {field} empty")
        add(dict(values), "none", "grid with no CA-125 sample")
        add(dict(values, ecog="", ascites_ml=""), ca, "grid with ecog and ascites_ml empty")

    # random patients: mostly valid cells, some empty, a few refused
    pools = {"ecog": ECOG, "ascites_ml": ASCITES, "figo_stage": FIGO,
             "primary_residual_disease": PRD, "pfi_months": PFI, "recurrence_pattern": PATTERN}
    for _ in range(n_random):
        values = dict(BASE)
        for field in pools:
            u = rng.random()
            if u < 0.08:
                values[field] = ""
            elif u < 0.11:
                values[field] = rng.choice(pools[field])
            else:
                values[field] = rng.choice(VALID[field])
        add(values, rng.choice(list(SERIES)), "random")
    for name in LATE_SERIES:
        for base_name, base in (("base", BASE), ("tight", TIGHT)):
            add(dict(base), name, f"{base_name} markers={name}")
    return rows, markers


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=20261130)
    parser.add_argument("--n-random", type=int, default=400)
    args = parser.parse_args()
    rows, markers = generate(args.seed, args.n_random)
    with open(args.out_dir / "scores_clinical.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, CLINICAL, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    with open(args.out_dir / "scores_markers.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, ["patient_id", "day", "ca125", "event"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(markers)


if __name__ == "__main__":
    main()
