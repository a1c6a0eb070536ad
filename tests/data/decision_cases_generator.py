"""Seeded adversarial patients for the combined RECIST + CA-125 category and the
recommendation rule (see ``decision_README.md``).

Two steps (from the repository root)::

    python tests/data/decision_cases_generator.py cases tests/data --seed 20261130
    PYTHONPATH=src python tests/data/decision_cases_generator.py facts tests/data

``cases`` (standard library only) writes

* ``decision_markers.csv``: one CA-125 series per patient (ULN 35), built to hit a GCIG
  outcome: confirmed CR/PR (censored values below and above the ULN), unconfirmed, not
  confirmed, no response, not evaluable (low baseline, no baseline in the window, an assay
  change), progression of groups A, B and C (with and without a response first), a
  candidate progression still waiting for its confirming sample, exclusions after a
  paracentesis and after mouse antibodies, a baseline only, every on-treatment sample
  excluded (after a paracentesis, after mouse antibodies; with the baseline only: no CA-125
  after the first dose yet), two samples, a duplicated day (breaks the data contract) and no
  markers at all; then, appended (rule 5's kinetics, READING D9), two pretreatment samples,
  samples after the first dose beyond the kinetics window only (with a GCIG response
  confirmed there and without), and one on-treatment sample left by an exclusion window;
* ``decision_clinical.csv``: the patients' clinical rows: every RECIST spelling the data
  contract allows (the four codes in any case, with spaces around, empty), clinical profiles of high and low
  probability, every predictor left empty alone and all together;
* ``decision_bad_clinical.csv``: RECIST cells the data contract does not allow (``NE``,
  ``non-CR/non-PD``, ``complete``, ``C R``, ``PD?``), one per row, each must be refused;
* ``decision_runs.csv``: the runs, one per patient and ``allow_imputed`` (0 and 1), plus runs
  whose threshold is set relative to the patient's probability (``threshold_offset``: the
  threshold is p + offset, so p is exactly at it, 1e-12 or 1e-8 below or above it);
  ``case_note`` says what each tests; ``built_gcig`` is the GCIG status the series was built
  for, ``ca125_normal`` reading D3 of ``decision_independent.py`` worked out from the series
  written, ``kinetics_on_treatment`` its reading D9 (its function ``kinetics_on_treatment``);
* ``decision_function_cases.csv``: every combination of the inputs of the Python function
  ``combined_response`` (RECIST x new lesion x CA-125 progression x confirmed response x
  normal), for the combined category alone.

``facts`` imports the package for the facts the independent reading takes as inputs and
that were audited elsewhere: the GCIG response and progression statuses of every patient
(``gcig_cohort``), whether the patient was scored, and the probability of the shipped model
(``predict_cohort``); it writes ``decision_facts.csv``. The independent reading then gives
``decision_expected.csv``::

    python tests/data/decision_independent.py tests/data/decision_facts.csv tests/data/decision_expected.csv
    python tests/data/decision_independent.py --function tests/data/decision_function_cases.csv tests/data/decision_function_expected.csv
"""

from __future__ import annotations

import argparse
import csv
import itertools
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from decision_independent import kinetics_on_treatment  # noqa: E402 - READING D9, standard library only

ULN = 35.0
PREDICTORS = ("age", "ecog", "ascites_ml", "figo_stage", "primary_residual_disease",
              "pfi_months", "recurrence_pattern")
PROFILES = {  # clinical profiles of high and of low probability of complete resection
    "favourable": {"age": "58", "ecog": "0", "ascites_ml": "0", "figo_stage": "IIIC",
                   "primary_residual_disease": "0", "pfi_months": "26",
                   "recurrence_pattern": "single"},
    "middling": {"age": "66", "ecog": "1", "ascites_ml": "200", "figo_stage": "III",
                 "primary_residual_disease": "1", "pfi_months": "11",
                 "recurrence_pattern": "multiple"},
    "unfavourable": {"age": "74", "ecog": "2", "ascites_ml": "1500", "figo_stage": "IV",
                     "primary_residual_disease": "1", "pfi_months": "7",
                     "recurrence_pattern": "carcinomatosis"},
}
RECIST_SPELLINGS = ["CR", "PR", "SD", "PD", "", "cr", "pr", "sd", "pd", "Cr", "sD", " PR "]
BAD_RECIST = ["NE", "non-CR/non-PD", "complete", "C R", "PD?", "progressive", "0"]
# (day, ca125 as written, event) per sample; the built GCIG status and what is being hit.
SERIES = {
    "resp_cr": ("response", [(0, "400"), (21, "180"), (42, "60"), (63, "30")]),
    "resp_cr_censored": ("response", [(-5, "400"), (21, "180"), (42, "60"), (63, "<10")]),
    "resp_pr": ("response", [(0, "400"), (21, "180"), (42, "160"), (63, "150")]),
    "resp_pr_censored_above_uln": ("response", [(0, "400"), (21, "180"), (42, "150"), (63, "<40")]),
    "resp_pr_at_uln": ("response", [(0, "400"), (21, "180"), (42, "60"), (63, "35")]),
    "resp_then_prog_b": ("response", [(0, "400"), (21, "180"), (42, "150"), (63, "100"),
                                      (84, "250"), (91, "300")]),
    "resp_cr_then_prog_a": ("response", [(0, "400"), (21, "180"), (42, "30"), (63, "20"),
                                         (84, "80"), (91, "90")]),
    "resp_then_candidate": ("response", [(0, "400"), (21, "180"), (42, "150"), (63, "100"),
                                         (84, "250")]),
    "resp_last_excluded": ("response", [(0, "400"), (21, "180"), (42, "150"), (63, "100"),
                                        (70, "", "paracentesis"), (84, "20")]),
    "resp_then_hama": ("response", [(0, "400"), (21, "180"), (42, "150"), (63, "100"),
                                    (70, "", "mouse_antibody"), (84, "20")]),
    "unconfirmed": ("unconfirmed", [(0, "400"), (21, "180"), (42, "170")]),
    "unconfirmed_normal": ("unconfirmed", [(0, "400"), (21, "180"), (42, "30")]),
    "two_samples": ("unconfirmed", [(0, "400"), (21, "180")]),
    "not_confirmed": ("not_confirmed", [(0, "400"), (21, "180"), (42, "300"), (63, "310")]),
    "not_confirmed_10pct": ("not_confirmed", [(0, "400"), (21, "180"), (42, "199"), (63, "150")]),
    "no_response": ("no_response", [(0, "400"), (21, "350"), (42, "300"), (63, "320")]),
    "no_response_prog_b": ("no_response", [(0, "400"), (21, "350"), (42, "820"), (49, "900")]),
    "not_evaluable_low": ("not_evaluable", [(0, "50"), (21, "20"), (42, "15"), (63, "10")]),
    "not_evaluable_low_abnormal": ("not_evaluable", [(0, "60"), (21, "50"), (42, "45"), (63, "40")]),
    "not_evaluable_no_baseline": ("not_evaluable", [(-20, "400"), (21, "180"), (42, "150"), (63, "100")]),
    "not_evaluable_prog_c": ("not_evaluable", [(0, "20"), (21, "25"), (42, "80"), (49, "90")]),
    "not_evaluable_assay_change": ("not_evaluable", [(0, "400", "", "A"), (21, "180", "", "A"),
                                                     (42, "60", "", "B"), (63, "30", "", "B")]),
    "baseline_only": ("awaiting", [(0, "400")]),
    "all_excluded_paracentesis": ("awaiting", [(0, "400"), (14, "", "paracentesis"), (21, "150"), (35, "100")]),
    "all_excluded_hama": ("awaiting", [(-3, "400"), (10, "", "mouse_antibody"), (21, "150"), (49, "30")]),
    "duplicate_day": ("invalid_input", [(0, "400"), (21, "180"), (21, "190"), (63, "150")]),
    "no_markers": ("no_markers", []),
}
# Series added for rule 5's kinetics (READING D9), appended after the patients above so that
# these keep their numbers: no on-treatment sample the kinetics may use although there are
# samples after the first dose (beyond day 100, with a GCIG response confirmed there or not),
# two pretreatment samples, and one on-treatment sample left by an exclusion window and the
# kinetics window (a decline partly seen: the decision stands).
KINETICS_SERIES = {
    "pretreatment_only": ("awaiting", [(-9, "350"), (-2, "400")]),
    "beyond_kinetics_window": ("unconfirmed", [(0, "400"), (120, "150"), (141, "100")]),
    "response_beyond_kinetics_window": ("response", [(0, "400"), (110, "150"), (140, "140")]),
    "one_left_after_exclusion": ("response", [(0, "400"), (14, "", "paracentesis"), (21, "150"),
                                              (50, "120"), (120, "100")]),
}
OFFSETS = ["0", "1e-12", "-1e-12", "1e-8", "-1e-8"]  # threshold = probability + offset


def ca125_normal(series: list[tuple]) -> str:
    """READING D3 of decision_independent.py, from the samples as written."""
    excluded_after: list[tuple[int, str]] = [(s[0], s[2]) for s in series if len(s) > 2 and s[2]]
    used = []
    for sample in series:
        day, text = sample[0], sample[1]
        if text == "" or day <= 0:
            continue
        if any((kind == "mouse_antibody" and day >= when)
               or (kind != "mouse_antibody" and when <= day <= when + 28)
               for when, kind in excluded_after):
            continue
        used.append((day, text))
    if not used:
        return ""
    text = max(used)[1]
    return "yes" if float(text.lstrip("<")) <= ULN else "no"


def _write(path: Path, columns: list[str], rows: list[dict[str, str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def cases(out: Path, seed: int) -> None:
    rng = random.Random(seed)
    patients: list[tuple[str, str, dict[str, str]]] = []  # (series, note, clinical)
    # 1. every series x every RECIST spelling, favourable profile, predictors complete
    for name, spelling in itertools.product(SERIES, RECIST_SPELLINGS):
        patients.append((name, f"recist={spelling or 'empty'}", {**PROFILES["favourable"], "recist": spelling}))
    # 2. every series x canonical RECIST x profile
    for name, recist, profile in itertools.product(SERIES, ["CR", "PR", "SD", "PD", ""], PROFILES):
        if profile != "favourable":
            patients.append((name, f"profile={profile} recist={recist or 'empty'}",
                             {**PROFILES[profile], "recist": recist}))
    # 3. every predictor empty alone, and all empty, over every series and canonical RECIST
    for name, recist in itertools.product(SERIES, ["CR", "PR", "SD", "PD", ""]):
        for missing in rng.sample(PREDICTORS, 2) + ["all"]:
            clinical = {**PROFILES[rng.choice(sorted(PROFILES))], "recist": recist}
            for field in (PREDICTORS if missing == "all" else [missing]):
                clinical[field] = ""
            patients.append((name, f"{missing} empty recist={recist or 'empty'}", clinical))
    # 4. random mixtures
    for _ in range(120):
        name = rng.choice(sorted(SERIES))
        clinical = {field: rng.choice([value for p in PROFILES.values() for value in [p[field]]] + [""])
                    for field in PREDICTORS}
        clinical["recist"] = rng.choice(RECIST_SPELLINGS)
        patients.append((name, "random", clinical))

    clinical_rows, marker_rows, runs = [], [], []

    def add(number: int, name: str, note: str, clinical: dict[str, str]) -> None:
        pid = f"D{number:04d}"
        built, series = {**SERIES, **KINETICS_SERIES}[name]
        clinical_rows.append({"patient_id": pid, **clinical})
        for sample in series:
            day, value = sample[0], sample[1]
            event = sample[2] if len(sample) > 2 else ""
            assay = sample[3] if len(sample) > 3 else "A"
            marker_rows.append({"patient_id": pid, "day": str(day), "ca125": value,
                                "uln": "35", "assay": assay, "event": event})
        missing = ";".join(f for f in PREDICTORS if clinical[f] == "")
        for allow in ("0", "1"):
            runs.append({"case_id": f"{pid}/{allow}", "patient_id": pid, "series": name,
                         "built_gcig": built, "recist": clinical["recist"],
                         "ca125_normal": ca125_normal(series),
                         "kinetics_on_treatment": str(kinetics_on_treatment(series)),
                         "missing_predictors": missing, "allow_imputed": allow, "threshold_offset": "",
                         "case_note": note})

    for number, (name, note, clinical) in enumerate(patients, start=1):
        add(number, name, note, clinical)
    # 5. thresholds set relative to the probability, on patients that reach rules 6/7
    reach = [r for r in runs if r["recist"].strip().upper() in ("CR", "PR", "SD")
             and (r["missing_predictors"] == "" or r["allow_imputed"] == "1")
             and r["series"] not in ("resp_then_prog_b", "resp_cr_then_prog_a",
                                     "no_response_prog_b", "not_evaluable_prog_c",
                                     "duplicate_day", "baseline_only", "all_excluded_paracentesis",
                                     "all_excluded_hama", "no_markers")]
    for run in rng.sample(reach, 16):
        for offset in OFFSETS:
            runs.append({**run, "case_id": f"{run['case_id']}/t{offset}", "threshold_offset": offset,
                         "case_note": f"{run['case_note']}; threshold = p + {offset}"})
    # 6. the series of rule 5's kinetics: every canonical RECIST, a predictor empty, all empty
    number = len(patients)
    for name in KINETICS_SERIES:
        for recist in ["CR", "PR", "SD", "PD", ""]:
            number += 1
            add(number, name, f"recist={recist or 'empty'}", {**PROFILES["favourable"], "recist": recist})
        for missing in ("ecog", "all"):
            clinical = {**PROFILES["middling"], "recist": "PR"}
            for field in (PREDICTORS if missing == "all" else [missing]):
                clinical[field] = ""
            number += 1
            add(number, name, f"{missing} empty recist=PR", clinical)

    _write(out / "decision_clinical.csv", ["patient_id", *PREDICTORS, "recist"], clinical_rows)
    _write(out / "decision_markers.csv", ["patient_id", "day", "ca125", "uln", "assay", "event"],
           marker_rows)
    _write(out / "decision_runs.csv", list(runs[0]), runs)
    bad = [{"patient_id": f"B{n:03d}", **PROFILES["favourable"], "recist": text}
           for n, text in enumerate(BAD_RECIST, start=1)]
    _write(out / "decision_bad_clinical.csv", ["patient_id", *PREDICTORS, "recist"], bad)
    grid = []
    for recist, lesion, prog, resp, normal in itertools.product(
            ["CR", "PR", "SD", "PD", ""], ["yes", "no"], ["yes", "no", ""], ["yes", "no", ""],
            ["yes", "no", ""]):
        grid.append({"case_id": f"F{len(grid) + 1:03d}", "recist": recist, "new_lesion": lesion,
                     "ca125_progression": prog, "ca125_response": resp, "ca125_normal": normal})
    _write(out / "decision_function_cases.csv", list(grid[0]), grid)


def facts(out: Path) -> None:
    """The inputs the package was audited for elsewhere: GCIG statuses, scored, probability."""
    import warnings

    import pandas as pd

    import ca125kinetics as ck

    warnings.simplefilter("ignore")  # the shipped model was trained on synthetic data
    markers = ck.read_markers(out / "decision_markers.csv", on_error="flag")
    clinical = ck.read_clinical(out / "decision_clinical.csv")
    runs = pd.read_csv(out / "decision_runs.csv", dtype=str, keep_default_na=False)
    gcig = ck.gcig_cohort(markers, clinical).set_index("patient_id")
    scored = {allow: ck.predict_cohort(markers, clinical, allow_imputed=allow == "1").set_index("patient_id")
              for allow in ("0", "1")}
    threshold = ck.load_model().threshold
    rows = []
    for run in runs.to_dict("records"):
        pid = run["patient_id"]
        status = gcig.loc[pid, "status"] if pid in gcig.index else "no_markers"
        progression = gcig.loc[pid, "progression_status"] if pid in gcig.index else ""
        pred = scored[run["allow_imputed"]].loc[pid] if pid in scored[run["allow_imputed"]].index else None
        if pred is None or pred["status"] == "invalid_input":
            state, p = ("invalid" if pred is not None else "not_scored"), ""
        elif pd.isna(pred["probability"]):
            state, p = "not_scored", ""
        else:
            state, p = "scored", repr(float(pred["probability"]))
        t = repr(threshold) if not run["threshold_offset"] else (
            repr(float(p) + float(run["threshold_offset"])) if p else "")
        # RECIST is a model input too (reading D11): unknown, it is among the missing predictors
        missing = [m for m in run["missing_predictors"].split(";") if m]
        if not run["recist"].strip():
            missing.append("recist")
        rows.append({"case_id": run["case_id"], "recist": run["recist"], "new_lesion": "",
                     "gcig_status": status if isinstance(status, str) else "",
                     "progression_status": progression if isinstance(progression, str) else "",
                     "ca125_normal": run["ca125_normal"], "scored": state, "probability": p,
                     "threshold": t, "missing_predictors": ";".join(missing),
                     "kinetics_on_treatment": run["kinetics_on_treatment"],
                     "allow_imputed": run["allow_imputed"]})
    _write(out / "decision_facts.csv", list(rows[0]), rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["cases", "facts"])
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=20261130)
    args = parser.parse_args()
    if args.step == "cases":
        cases(args.out, args.seed)
    else:
        facts(args.out)


if __name__ == "__main__":
    main()
