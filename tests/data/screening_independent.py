"""An independent reading of the RESCUE and RESET eligibility criteria.

Written from the trials' registry text alone, before the package's eligibility code was read,
over the input fields the package's user documentation says the screen takes (the clinical
table's screening columns and, for RESCUE, the GCIG CA-125 response status). Standard
library only; it imports nothing from ca125kinetics, so that it can disagree with it.

Usage::

    python tests/data/screening_independent.py CASES.csv rescue|reset OUT.csv

``CASES.csv`` holds one patient per row: ``patient_id``, the clinical columns written canonically (numbers, 0/1 flags, codes) and, for RESCUE,
``gcig_status``: the status of the GCIG rules on the patient's markers (``response``,
``no_response``, ``not_confirmed``, ``not_evaluable``, ``unconfirmed``, ``awaiting``, ``no_markers``).
An empty cell is an unknown fact. A row holding a value this reading does not know gets the
status ``error`` (the package must refuse it).

``OUT.csv`` holds one row per patient and criterion: ``patient_id``, ``criterion``,
``verdict`` (``pass``/``fail``/``missing``), ``missing`` (fields, ``;``-separated),
``clause`` (the alternatives that made a criterion with alternatives true), and the patient's
``status`` (``eligible``/``ineligible``/``undetermined``/``error``).

Readings of places the registry text leaves open (each is a choice, marked READING below):

R1  Overall status: ineligible as soon as one criterion fails, even with other data missing
    (completing them could not admit the patient); otherwise undetermined if any criterion
    is open; otherwise eligible.
R2  Three-valued logic inside a criterion: "and" is false when one part is false, "or" is
    true when one part is true; otherwise the part left open names its missing fields.
R3  RESCUE I1 "first recurrence": recurrence_number == 1. "Platinum-sensitive" is not a
    separate condition of I1: it is what I2 (PFI >= 6) and E5 (platinum-refractory) test.
    "Epithelial": the epithelial histology codes; ``other`` (anything else) is not epithelial
    and fails I1 (a rectal code such as adenocarcinoma too).
R4  RESCUE I2: pfi_months >= 6, exactly 6 counts.
R5  RESCUE I3, GCIG clause: a confirmed response is true; no_response, not_confirmed and
    not_evaluable are false (the data exist and show no response by the GCIG rules);
    unconfirmed (a 50 % fall not yet followed 28 days later), awaiting (an evaluable baseline
    and no CA-125 after the first dose yet: nothing to judge a response on) and no markers
    are unknown. RECIST PD with a confirmed GCIG response is admitted by the GCIG clause (the
    registry's literal "or"). (``awaiting`` was added when the package stopped reporting that
    case as ``no_response``; a RECIST PD patient with it is undetermined, not ineligible.)
R6  RESCUE I4: age >= 19 on the decimal age (18.99 fails).
R7  RESCUE sex ("women only") and "any initial stage" are not conditions on the fields.
R8  RESET I1 "ages 18-80": completed years, 18 <= age < 81 (80.5 is 80, admitted).
R9  RESET I4 "cT3-4 N+ M0": ct_stage T3/T4/T4a/T4b; N+ is any N1/N2 category including
    N1c (tumour deposits are staged N1); cm_stage M0.
R10 RESET I5 MMR path: pMMR/MSS group = mmr_status pMMR or mmr_proteins_lost == 0 or
    msi_status MSS (MSI-L is taken literally: neither MSS nor MSI-H); dMMR/MSI-H group =
    mmr_proteins_lost >= 2 or msi_status MSI-H (the registry defines dMMR as loss of two or
    more proteins, so mmr_status dMMR alone, "one or more", does not place a tumour in it).
    Met when (pMMR group and regimen chemotherapy or tnt) or (dMMR group and regimen
    immunotherapy). Chemoradiotherapy alone, other and none meet neither path.
R11 RESET I5 contradictions: mmr_status pMMR with one or more proteins lost, or dMMR with
    none lost, is contradictory input: status error (refused), never read in favour of a path.
R12 RESET I6: the clinical restaging yct_stage T0/Tis/T1/T2/T3, ycn_stage N0, ycm_stage M0.
    The pathological ypT/ypN never enter; a missing restaging is never filled from them nor
    from the baseline stage.
R13 RESET I3 location: tumour_site upper_rectum or rectosigmoid and
    above_peritoneal_reflection == 1.
R14 RESET E7 "ASA >= IV and/or ECOG >= 2": asa >= 4 or ecog >= 2.
R15 Staging methods (contrast CT, MRI) are how stages are obtained, not conditions.
R16 Flags are 0/1 only in this reading's input (the generator writes them canonically).
R17 (Added when the package began refusing it.) An ovarian/tubal/peritoneal histology code
    (the epithelial ones, borderline, non_epithelial) with a rectal or colonic tumour_site is
    contradictory input: the data contract codes a rectal mucinous or signet-ring
    adenocarcinoma as ``adenocarcinoma``, so ``mucinous`` at the upper rectum is an error in one
    of the two cells, never read as "not adenocarcinoma" (status error, refused).
"""

from __future__ import annotations

import csv
import sys

EPITHELIAL = {
    "high_grade_serous", "low_grade_serous", "endometrioid", "clear_cell", "mucinous",
    "mixed_epithelial", "other_epithelial",
}
CODES = {
    "histology": EPITHELIAL | {"borderline", "non_epithelial", "adenocarcinoma", "neuroendocrine",
                               "squamous", "other"},
    "tumour_site": {"ovary", "fallopian_tube", "peritoneum", "upper_rectum", "rectosigmoid",
                    "mid_rectum", "low_rectum", "colon", "other"},
    "recist": {"CR", "PR", "SD", "PD"},
    "ct_stage": {"T0", "Tis", "T1", "T2", "T3", "T4", "T4a", "T4b"},
    "yct_stage": {"T0", "Tis", "T1", "T2", "T3", "T4", "T4a", "T4b"},
    "ypt_stage": {"T0", "Tis", "T1", "T2", "T3", "T4", "T4a", "T4b"},
    "cn_stage": {"N0", "N1", "N1a", "N1b", "N1c", "N2", "N2a", "N2b"},
    "ycn_stage": {"N0", "N1", "N1a", "N1b", "N1c", "N2", "N2a", "N2b"},
    "ypn_stage": {"N0", "N1", "N1a", "N1b", "N1c", "N2", "N2a", "N2b"},
    "cm_stage": {"M0", "M1", "M1a", "M1b", "M1c"},
    "ycm_stage": {"M0", "M1", "M1a", "M1b", "M1c"},
    "mmr_status": {"pMMR", "dMMR"},
    "msi_status": {"MSS", "MSI-L", "MSI-H"},
    "neoadjuvant_regimen": {"chemotherapy", "tnt", "chemoradiotherapy", "immunotherapy", "other",
                            "none"},
    "bowel_obstruction": {"none", "relieved_by_colostomy", "unrelieved"},
    "gcig_status": {"response", "no_response", "not_confirmed", "not_evaluable", "unconfirmed",
                    "awaiting", "no_markers"},
}
NUMBERS = {  # column: (low, high, whole)
    "age": (0, 120, False), "pfi_months": (0, 600, False), "ecog": (0, 4, True),
    "recurrence_number": (0, 50, True), "asa": (1, 6, True), "mmr_proteins_lost": (0, 4, True),
}
FLAGS = {
    "consent", "surgeon_r0_judgement", "platinum_refractory", "second_malignancy",
    "palliative_surgery_only", "unresectable_on_imaging", "comorbidity_precludes_treatment",
    "high_risk_surgical_history", "surgical_risk_medication", "archived_tissue",
    "above_peritoneal_reflection", "prior_colorectal_surgery", "prior_chemoradiotherapy",
    "prior_systemic_agents", "history_colorectal_cancer", "emergency_surgery",
    "adjacent_organ_invasion", "multifocal_primary", "other_active_malignancy", "recent_trial",
    "organ_dysfunction", "psychiatric_disorder", "pregnant_or_lactating", "uncontrolled_infection",
    "investigator_unsuitable",
}


class BadValue(Exception):
    """A cell this reading does not know."""


OVARIAN_HISTOLOGY = EPITHELIAL | {"borderline", "non_epithelial"}
BOWEL_SITES = {"upper_rectum", "rectosigmoid", "mid_rectum", "low_rectum", "colon"}


def parse(row: dict[str, str]) -> dict[str, object]:
    """Cells to values: empty is None; anything unknown raises BadValue."""
    out: dict[str, object] = {}
    for column, raw in row.items():
        text = (raw or "").strip()
        if column in ("case_note", "patient_id"):
            out[column] = text
            continue
        if text == "":
            out[column] = None
        elif column in FLAGS:
            if text not in ("0", "1"):
                raise BadValue(f"{column}={text!r}")
            out[column] = int(text)
        elif column in NUMBERS:
            low, high, whole = NUMBERS[column]
            try:
                value = float(text)
            except ValueError:
                raise BadValue(f"{column}={text!r}") from None
            if not low <= value <= high or (whole and value != int(value)):
                raise BadValue(f"{column}={text!r}")
            out[column] = value
        elif column in CODES:
            if text not in CODES[column]:
                raise BadValue(f"{column}={text!r}")
            out[column] = text
        else:
            out[column] = text  # a column this reading does not use
    if out.get("histology") in OVARIAN_HISTOLOGY and out.get("tumour_site") in BOWEL_SITES:
        raise BadValue(f"histology={out['histology']!r} at tumour_site={out['tumour_site']!r}")  # R17
    return out


# A condition gives (truth, missing): truth True / False / None (unknown).

def cond(p, field, test):
    value = p.get(field)
    if value is None:
        return None, {field}
    return bool(test(value)), set()


def both(*parts):
    if any(t is False for t, _ in parts):
        return False, set()
    if all(t is True for t, _ in parts):
        return True, set()
    return None, set().union(*(m for t, m in parts if t is None))


def either(*parts):
    if any(t is True for t, _ in parts):
        return True, set()
    if all(t is False for t, _ in parts):
        return False, set()
    return None, set().union(*(m for t, m in parts if t is None))


def flag(p, field, value):
    return cond(p, field, lambda v: v == value)


def gcig_clause(p):
    status = p.get("gcig_status")
    if status == "response":
        return True, set()
    if status in ("no_response", "not_confirmed", "not_evaluable"):
        return False, set()
    return None, {"gcig_response"}  # unconfirmed, awaiting, no markers (READING R5)


def rescue(p):
    """Criterion id -> (kind, truth, missing, clause)."""
    recist = cond(p, "recist", lambda v: v in ("CR", "PR", "SD"))
    gcig = gcig_clause(p)
    i3 = either(recist, gcig)
    clause = [name for name, part in (("recist", recist), ("gcig", gcig)) if part[0] is True]
    crit = {
        "I1": ("inclusion", *both(
            cond(p, "recurrence_number", lambda v: v == 1),
            cond(p, "tumour_site", lambda v: v in ("ovary", "fallopian_tube", "peritoneum")),
            cond(p, "histology", lambda v: v in EPITHELIAL))),
        "I2": ("inclusion", *cond(p, "pfi_months", lambda v: v >= 6)),
        "I3": ("inclusion", *i3),
        "I4": ("inclusion", *cond(p, "age", lambda v: v >= 19)),
        "I5": ("inclusion", *flag(p, "surgeon_r0_judgement", 1)),
        "I6": ("inclusion", *flag(p, "consent", 1)),
        "E1": ("exclusion", *cond(p, "recurrence_number", lambda v: v == 0)),
        "E2": ("exclusion", *cond(p, "histology", lambda v: v in ("non_epithelial", "borderline"))),
        "E3": ("exclusion", *cond(p, "recurrence_number", lambda v: v >= 2)),
        "E4": ("exclusion", *flag(p, "second_malignancy", 1)),
        "E5": ("exclusion", *flag(p, "platinum_refractory", 1)),
        "E6": ("exclusion", *flag(p, "palliative_surgery_only", 1)),
        "E7": ("exclusion", *flag(p, "unresectable_on_imaging", 1)),
        "E8": ("exclusion", *flag(p, "comorbidity_precludes_treatment", 1)),
        "E9": ("exclusion", *flag(p, "high_risk_surgical_history", 1)),
        "E10": ("exclusion", *flag(p, "surgical_risk_medication", 1)),
        "E11": ("exclusion", *flag(p, "archived_tissue", 0)),
    }
    clauses = {"I3": clause if i3[0] is True else []}
    return crit, clauses


def reset(p):
    lost = p.get("mmr_proteins_lost")
    status = p.get("mmr_status")
    if lost is not None and status is not None:
        if (status == "pMMR" and lost >= 1) or (status == "dMMR" and lost == 0):
            raise BadValue(f"mmr_status {status} contradicts mmr_proteins_lost {lost:g}")  # R11
    pmmr = either(flag(p, "mmr_status", "pMMR"), cond(p, "mmr_proteins_lost", lambda v: v == 0),
                  flag(p, "msi_status", "MSS"))
    dmmr = either(cond(p, "mmr_proteins_lost", lambda v: v >= 2), flag(p, "msi_status", "MSI-H"))
    chemo = cond(p, "neoadjuvant_regimen", lambda v: v in ("chemotherapy", "tnt"))
    immuno = flag(p, "neoadjuvant_regimen", "immunotherapy")
    path_p, path_d = both(pmmr, chemo), both(dmmr, immuno)
    i5 = either(path_p, path_d)
    crit = {
        "I1": ("inclusion", *cond(p, "age", lambda v: 18 <= v < 81)),
        "I2": ("inclusion", *flag(p, "histology", "adenocarcinoma")),
        "I3": ("inclusion", *both(
            cond(p, "tumour_site", lambda v: v in ("upper_rectum", "rectosigmoid")),
            flag(p, "above_peritoneal_reflection", 1))),
        "I4": ("inclusion", *both(
            cond(p, "ct_stage", lambda v: v in ("T3", "T4", "T4a", "T4b")),
            cond(p, "cn_stage", lambda v: v != "N0"),
            flag(p, "cm_stage", "M0"))),
        "I5": ("inclusion", *i5),
        "I6": ("inclusion", *both(
            cond(p, "yct_stage", lambda v: v in ("T0", "Tis", "T1", "T2", "T3")),
            flag(p, "ycn_stage", "N0"),
            flag(p, "ycm_stage", "M0"))),
        "I7": ("inclusion", *cond(p, "bowel_obstruction", lambda v: v in ("none", "relieved_by_colostomy"))),
        "I8": ("inclusion", *flag(p, "prior_colorectal_surgery", 0)),
        "I9": ("inclusion", *flag(p, "prior_chemoradiotherapy", 0)),
        "I10": ("inclusion", *flag(p, "prior_systemic_agents", 0)),
        "I11": ("inclusion", *flag(p, "consent", 1)),
        "E1": ("exclusion", *flag(p, "history_colorectal_cancer", 1)),
        "E2": ("exclusion", *flag(p, "emergency_surgery", 1)),
        "E3": ("exclusion", *flag(p, "adjacent_organ_invasion", 1)),
        "E4": ("exclusion", *flag(p, "multifocal_primary", 1)),
        "E5": ("exclusion", *flag(p, "other_active_malignancy", 1)),
        "E6": ("exclusion", *flag(p, "recent_trial", 1)),
        "E7": ("exclusion", *either(cond(p, "asa", lambda v: v >= 4), cond(p, "ecog", lambda v: v >= 2))),
        "E8": ("exclusion", *flag(p, "organ_dysfunction", 1)),
        "E9": ("exclusion", *flag(p, "psychiatric_disorder", 1)),
        "E10": ("exclusion", *flag(p, "pregnant_or_lactating", 1)),
        "E11": ("exclusion", *flag(p, "uncontrolled_infection", 1)),
        "E12": ("exclusion", *flag(p, "investigator_unsuitable", 1)),
    }
    clause = [name for name, part in (("pmmr_chemo", path_p), ("dmmr_immuno", path_d)) if part[0] is True]
    return crit, {"I5": clause}


def screen_row(row: dict[str, str], trial: str) -> list[dict[str, str]]:
    case = row["patient_id"]
    try:
        p = parse(row)
        crit, clauses = (rescue if trial == "rescue" else reset)(p)
    except BadValue as exc:
        return [{"patient_id": case, "criterion": "", "verdict": "", "missing": "",
                 "clause": "", "status": "error", "note": str(exc)}]
    rows = []
    for cid, (kind, truth, missing) in crit.items():
        if truth is None:
            verdict = "missing"
        elif kind == "inclusion":
            verdict = "pass" if truth else "fail"
        else:
            verdict = "fail" if truth else "pass"
        rows.append({"patient_id": case, "criterion": cid, "verdict": verdict,
                     "missing": ";".join(sorted(missing)) if verdict == "missing" else "",
                     "clause": ";".join(clauses.get(cid, [])), "note": ""})
    verdicts = {r["verdict"] for r in rows}
    status = ("ineligible" if "fail" in verdicts
              else "undetermined" if "missing" in verdicts else "eligible")  # READING R1
    for r in rows:
        r["status"] = status
    return rows


def main(cases: str, trial: str, out: str) -> None:
    if trial not in ("rescue", "reset"):
        raise SystemExit(f"trial must be rescue or reset, not {trial!r}")
    with open(cases, newline="", encoding="utf-8") as handle:
        rows = [r for row in csv.DictReader(handle) for r in screen_row(row, trial)]
    columns = ["patient_id", "criterion", "verdict", "missing", "clause", "status", "note"]
    with open(out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main(*sys.argv[1:4])
