"""Seeded adversarial patients for the RESCUE and RESET eligibility screens.

Each patient starts from one that meets every criterion and changes what sits on an edge of
a criterion: ages 17.99/18/19/80/80.99/81, a PFI of exactly 6 months, ECOG 1/2 and ASA III/IV
(alone and with the other one missing), every field left empty one at a time, every code of
every category field, the full MMR x MSI x regimen grid (dMMR after chemotherapy only, pMMR
after immunotherapy, MSI-L, ...), RECIST x GCIG status (SD without a CA-125 response, a
CA-125 response with PD or no RECIST, an unconfirmed fall, no CA-125 after the first dose
yet), ycT4, a pathological ypT/ypN that disagrees with the clinical restaging, contradictory
flags; then random patients mixing all of these. Cells that must be refused (unknown or
misspelt codes, out-of-range numbers, a pathological stage in the restaging column, flags
other than 0/1, contradictory MMR fields, an ovarian histology code at a rectal or colonic
site) go to separate ``*_bad`` files, one refusal per row.

Usage (from the repository root; standard library only)::

    python tests/data/screening_cases_generator.py tests/data --seed 20261130 --n-random 300

Writes ``screening_rescue_cases.csv`` (with ``gcig_status``, the GCIG status the markers were
built to give), ``screening_rescue_markers.csv``, ``screening_reset_cases.csv``,
``screening_rescue_bad.csv`` and ``screening_reset_bad.csv``.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import random
from pathlib import Path

RESCUE_BASE = {
    "recurrence_number": "1", "tumour_site": "ovary", "histology": "high_grade_serous",
    "pfi_months": "14", "recist": "PR", "gcig_status": "response", "age": "60",
    "surgeon_r0_judgement": "1", "consent": "1", "second_malignancy": "0",
    "platinum_refractory": "0", "palliative_surgery_only": "0", "unresectable_on_imaging": "0",
    "comorbidity_precludes_treatment": "0", "high_risk_surgical_history": "0",
    "surgical_risk_medication": "0", "archived_tissue": "1", "ecog": "1",
}
RESET_BASE = {
    "age": "55", "histology": "adenocarcinoma", "tumour_site": "upper_rectum",
    "above_peritoneal_reflection": "1", "ct_stage": "T3", "cn_stage": "N1", "cm_stage": "M0",
    "mmr_status": "pMMR", "mmr_proteins_lost": "0", "msi_status": "MSS",
    "neoadjuvant_regimen": "chemotherapy", "yct_stage": "T2", "ycn_stage": "N0",
    "ycm_stage": "M0", "ypt_stage": "T2", "ypn_stage": "N0", "bowel_obstruction": "none",
    "prior_colorectal_surgery": "0", "prior_chemoradiotherapy": "0", "prior_systemic_agents": "0",
    "consent": "1", "history_colorectal_cancer": "0", "emergency_surgery": "0",
    "adjacent_organ_invasion": "0", "multifocal_primary": "0", "other_active_malignancy": "0",
    "recent_trial": "0", "asa": "2", "ecog": "1", "organ_dysfunction": "0",
    "psychiatric_disorder": "0", "pregnant_or_lactating": "0", "uncontrolled_infection": "0",
    "investigator_unsuitable": "0",
}
HISTOLOGY = ["high_grade_serous", "low_grade_serous", "endometrioid", "clear_cell", "mucinous",
             "mixed_epithelial", "other_epithelial", "borderline", "non_epithelial",
             "adenocarcinoma", "neuroendocrine", "squamous", "other"]
SITES = ["ovary", "fallopian_tube", "peritoneum", "upper_rectum", "rectosigmoid", "mid_rectum",
         "low_rectum", "colon", "other"]
T = ["T0", "Tis", "T1", "T2", "T3", "T4", "T4a", "T4b"]
N = ["N0", "N1", "N1a", "N1b", "N1c", "N2", "N2a", "N2b"]
M = ["M0", "M1", "M1a", "M1b", "M1c"]
GCIG = ["response", "no_response", "not_confirmed", "not_evaluable", "unconfirmed", "no_markers"]
RECIST = ["CR", "PR", "SD", "PD", ""]
REGIMENS = ["chemotherapy", "tnt", "chemoradiotherapy", "immunotherapy", "other", "none", ""]
# CA-125 series (day, U/mL; ULN 35) built to give each GCIG status.
SERIES = {
    "response": [(0, 400), (21, 180), (42, 160), (63, 150)],
    "no_response": [(0, 400), (21, 350), (42, 300), (63, 320)],
    "not_confirmed": [(0, 400), (21, 180), (42, 300), (63, 310)],
    "not_evaluable": [(0, 50), (21, 20), (42, 15), (63, 10)],
    "unconfirmed": [(0, 400), (21, 180), (42, 170)],
    "no_markers": [],
    "awaiting": [(-3, 300), (0, 400)],  # an evaluable baseline, nothing after the first dose yet
}
RESCUE_CHOICES = {
    "recurrence_number": ["0", "1", "2", "3"], "tumour_site": SITES, "histology": HISTOLOGY,
    "pfi_months": ["0", "5.99", "6", "6.01", "14", "36"], "recist": RECIST, "gcig_status": GCIG,
    "age": ["18", "18.99", "19", "19.5", "80", "81"], "ecog": ["0", "1", "2", "3", "4"],
}
RESET_CHOICES = {
    "age": ["17", "17.99", "18", "18.5", "80", "80.5", "80.99", "81"], "histology": HISTOLOGY,
    "tumour_site": SITES, "ct_stage": T, "cn_stage": N, "cm_stage": M, "yct_stage": T,
    "ycn_stage": N, "ycm_stage": M, "ypt_stage": T, "ypn_stage": N,
    "mmr_status": ["pMMR", "dMMR"], "mmr_proteins_lost": ["0", "1", "2", "3", "4"],
    "msi_status": ["MSS", "MSI-L", "MSI-H"], "neoadjuvant_regimen": REGIMENS[:-1],
    "bowel_obstruction": ["none", "relieved_by_colostomy", "unrelieved"],
    "asa": ["1", "2", "3", "4", "5", "6"], "ecog": ["0", "1", "2", "3", "4"],
}
FLAG_VALUES = ["0", "1"]


#: The ovarian/tubal/peritoneal histology codes, and the rectal and colonic sites: a pair of
#: them contradicts itself (a rectal mucinous adenocarcinoma is coded adenocarcinoma).
OVARIAN_HISTOLOGY = HISTOLOGY[:9]
BOWEL_SITES = ["upper_rectum", "rectosigmoid", "mid_rectum", "low_rectum", "colon"]


def _contradiction(row: dict[str, str]) -> bool:
    """A row the readers refuse as contradictory (those go to the refused files)."""
    return _mmr_contradiction(row) or (row.get("histology") in OVARIAN_HISTOLOGY
                                       and row.get("tumour_site") in BOWEL_SITES)


def _mmr_contradiction(row: dict[str, str]) -> bool:
    status, lost = row.get("mmr_status", ""), row.get("mmr_proteins_lost", "")
    return bool(status and lost) and ((status == "pMMR" and lost != "0")
                                      or (status == "dMMR" and lost == "0"))


def _edge_cases(base: dict[str, str], choices: dict[str, list[str]]) -> list[tuple[str, dict[str, str]]]:
    """Every value of every field alone, every field empty alone, every flag flipped."""
    cases = [("base", dict(base))]
    for field, values in choices.items():
        for value in values:
            if value != base.get(field):
                cases.append((f"{field}={value or 'empty'}", {**base, field: value}))
    for field in base:
        if base[field] != "" and field != "gcig_status":  # no markers is one of its values
            cases.append((f"{field} empty", {**base, field: ""}))
        if field not in choices:  # a 0/1 flag
            cases.append((f"{field} flipped", {**base, field: "1" if base[field] == "0" else "0"}))
    return cases


def rescue_cases(rng: random.Random, n_random: int) -> list[tuple[str, dict[str, str]]]:
    cases = [case for case in _edge_cases(RESCUE_BASE, RESCUE_CHOICES) if not _contradiction(case[1])]
    for recist, gcig in itertools.product(RECIST, GCIG):
        cases.append((f"recist={recist or 'empty'} gcig={gcig}",
                      {**RESCUE_BASE, "recist": recist, "gcig_status": gcig}))
    cases += [
        ("refractory flag with PFI 14", {**RESCUE_BASE, "platinum_refractory": "1"}),
        ("not refractory with PFI 3", {**RESCUE_BASE, "pfi_months": "3"}),
        ("no recurrence with a RECIST response", {**RESCUE_BASE, "recurrence_number": "0"}),
        ("failed I2 and missing age", {**RESCUE_BASE, "pfi_months": "5", "age": ""}),
        ("everything empty", {k: ("no_markers" if k == "gcig_status" else "") for k in RESCUE_BASE}),
        ("RESET-only columns present", {**RESCUE_BASE, "asa": "5", "mmr_status": "dMMR",
                                         "yct_stage": "T4"}),
    ]
    # GCIG "awaiting" (no CA-125 after the first dose yet), after the random patients so that
    # these (and the RESET cases, drawn next) are those of the same seed without them
    awaiting = [(f"recist={recist or 'empty'} gcig=awaiting", {**RESCUE_BASE, "recist": recist,
                                                                "gcig_status": "awaiting"})
                for recist in RECIST]
    awaiting.append(("recist=PD gcig=awaiting, failed I2", {**RESCUE_BASE, "recist": "PD", "pfi_months": "5",
                                                             "gcig_status": "awaiting"}))
    return cases + _random(rng, n_random, RESCUE_BASE, RESCUE_CHOICES, "rescue") + awaiting


def reset_cases(rng: random.Random, n_random: int) -> list[tuple[str, dict[str, str]]]:
    cases = [case for case in _edge_cases(RESET_BASE, RESET_CHOICES)
             if not _contradiction(case[1])]  # those are in the refused file
    for status, lost, msi, regimen in itertools.product(
            ["pMMR", "dMMR", ""], ["0", "1", "2", "3", "4", ""], ["MSS", "MSI-L", "MSI-H", ""],
            REGIMENS):
        row = {**RESET_BASE, "mmr_status": status, "mmr_proteins_lost": lost, "msi_status": msi,
               "neoadjuvant_regimen": regimen}
        if not _mmr_contradiction(row):
            cases.append((f"mmr={status or '-'} lost={lost or '-'} msi={msi or '-'} "
                          f"regimen={regimen or '-'}", row))
    for asa, ecog in itertools.product(["3", "4", ""], ["1", "2", ""]):
        cases.append((f"asa={asa or '-'} ecog={ecog or '-'}", {**RESET_BASE, "asa": asa, "ecog": ecog}))
    for yct, ypt in itertools.product(["T2", "T3", "T4", ""], ["T0", "T2", "T4", ""]):
        cases.append((f"ycT={yct or '-'} ypT={ypt or '-'}",
                      {**RESET_BASE, "yct_stage": yct, "ypt_stage": ypt}))
    for ycn, ypn in itertools.product(["N0", "N1", ""], ["N0", "N2", ""]):
        cases.append((f"ycN={ycn or '-'} ypN={ypn or '-'}",
                      {**RESET_BASE, "ycn_stage": ycn, "ypn_stage": ypn}))
    cases += [
        ("dMMR after chemotherapy only", {**RESET_BASE, "mmr_status": "dMMR",
                                          "mmr_proteins_lost": "2", "msi_status": "MSI-H"}),
        ("pMMR but MSI-H after chemotherapy", {**RESET_BASE, "msi_status": "MSI-H"}),
        ("pMMR but MSI-H after immunotherapy", {**RESET_BASE, "msi_status": "MSI-H",
                                                "neoadjuvant_regimen": "immunotherapy"}),
        ("mid rectum flagged above the reflection", {**RESET_BASE, "tumour_site": "mid_rectum"}),
        ("baseline cT2 restaged ycT3", {**RESET_BASE, "ct_stage": "T2", "yct_stage": "T3"}),
        ("everything empty", {k: "" for k in RESET_BASE}),
        ("RESCUE-only columns present", {**RESET_BASE, "recurrence_number": "2",
                                          "pfi_months": "1", "recist": "PD"}),
    ]
    return cases + _random(rng, n_random, RESET_BASE, RESET_CHOICES, "reset")


def _random(rng, n, base, choices, trial):
    """Patients whose fields are each kept (60 %), changed (25 %) or emptied (15 %)."""
    out = []
    while len(out) < n:
        row = {}
        for field, value in base.items():
            u = rng.random()
            if u < 0.60:
                row[field] = value
            elif u < 0.85:
                row[field] = rng.choice(choices.get(field, FLAG_VALUES))
            else:
                row[field] = "no_markers" if field == "gcig_status" else ""
        if _contradiction(row):
            continue
        out.append((f"random {len(out) + 1}", row))
    return out


BAD_COMMON = [
    ("age", "130"), ("age", "-1"), ("age", "sixty"), ("ecog", "5"), ("ecog", "1.5"),
    ("histology", "serous"), ("histology", "adenocarcinomma"), ("tumour_site", "rectum"),
    ("consent", "2"), ("consent", "-1"), ("consent", "maybe"), ("consent", "0.5"),
]
BAD_RESCUE = BAD_COMMON + [
    ("recist", "NE"), ("recist", "partial"), ("pfi_months", "-3"), ("pfi_months", "601"),
    ("recurrence_number", "1.5"), ("recurrence_number", "first"), ("archived_tissue", "2"),
    ("platinum_refractory", "unknown"),
]
BAD_RESET = BAD_COMMON + [
    ("asa", "7"), ("asa", "0"), ("asa", "IV"), ("mmr_proteins_lost", "5"), ("ct_stage", "T5"),
    ("ct_stage", "TX"), ("cn_stage", "N3"), ("cn_stage", "NX"), ("cm_stage", "MX"),
    ("yct_stage", "ypT2"), ("ycn_stage", "ypN0"), ("yct_stage", "pT2"), ("mmr_status", "MSS"),
    ("mmr_status", "deficient"), ("msi_status", "MSI"), ("msi_status", "high"),
    ("neoadjuvant_regimen", "FOLFOX"), ("neoadjuvant_regimen", "chemo"),
    ("bowel_obstruction", "yes"), ("bowel_obstruction", "partial"),
]
SITE_CONTRADICTIONS = [
    ("histology=mucinous (the ovarian code) at the upper rectum", {"histology": "mucinous",
                                                                   "tumour_site": "upper_rectum"}),
    ("histology=high_grade_serous at the colon", {"histology": "high_grade_serous", "tumour_site": "colon"}),
]
CONTRADICTIONS = SITE_CONTRADICTIONS + [
    ("pMMR with two proteins lost", {"mmr_status": "pMMR", "mmr_proteins_lost": "2"}),
    ("pMMR with one protein lost", {"mmr_status": "pMMR", "mmr_proteins_lost": "1"}),
    ("dMMR with no protein lost", {"mmr_status": "dMMR", "mmr_proteins_lost": "0"}),
]


def _bad(base, cells, prefix, extra=()):
    rows = [(f"{column}={value}", {**base, column: value}) for column, value in cells]
    rows += [(note, {**base, **change}) for note, change in extra]
    return [(f"{prefix}{i + 1:03d}", note, row) for i, (note, row) in enumerate(rows)]


def _write(path: Path, rows, columns) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=20261130)
    parser.add_argument("--n-random", type=int, default=300)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    for trial, cases, base in (("rescue", rescue_cases(rng, args.n_random), RESCUE_BASE),
                               ("reset", reset_cases(rng, args.n_random), RESET_BASE)):
        prefix = "C" if trial == "rescue" else "R"
        rows = [{"patient_id": f"{prefix}{i + 1:04d}", "case_note": note, **row}
                for i, (note, row) in enumerate(cases)]
        columns = ["patient_id", "case_note", *base]
        columns += [c for c in dict.fromkeys(k for r in rows for k in r) if c not in columns]
        _write(args.out_dir / f"screening_{trial}_cases.csv", rows, columns)
        if trial == "rescue":
            markers = [{"patient_id": r["patient_id"], "day": day, "ca125": value}
                       for r in rows for day, value in SERIES[r["gcig_status"]]]
            _write(args.out_dir / "screening_rescue_markers.csv", markers,
                   ["patient_id", "day", "ca125"])
        bad = _bad(base, BAD_RESCUE if trial == "rescue" else BAD_RESET, f"{prefix}X",
                   CONTRADICTIONS if trial == "reset" else SITE_CONTRADICTIONS)
        _write(args.out_dir / f"screening_{trial}_bad.csv",
               [{"patient_id": pid, "case_note": note, **row} for pid, note, row in bad], columns)


if __name__ == "__main__":
    main()
