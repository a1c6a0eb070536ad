"""An independent reading of the three published selection scores (AGO, iMODEL, MSKCC).

Written from the project's user documentation alone (``docs/clinical-rules.md`` section 5,
``docs/data-contract.md``, ``docs/scoring-inputs.md``) and the cited papers, before the
package's ``scores.py`` was read. Standard library only; it imports nothing from
ca125kinetics, so that it can disagree with it.

Usage::

    python tests/data/scores_independent.py CLINICAL.csv MARKERS.csv OUT.csv

``CLINICAL.csv`` is a clinical table as a user writes it (text cells, one patient a row);
``MARKERS.csv`` the patients' CA-125 samples (``patient_id``, ``day``, ``ca125``, ``event``).
Every row is read as a plain dict of the CSV text (``csv.DictReader``).

``OUT.csv`` holds one row per patient:

* ``invalid``: the clinical columns this reading refuses (``;``-separated); a refused row
  gets ``invalid_input`` for every score;
* ``ago``: ``positive``/``negative``/``undetermined``/``invalid_input``; ``ago_missing``;
* ``ca125_at_recurrence``: the value the iMODEL reads (``<L`` when censored; empty when none);
* ``imodel_status``: ``scored``/``undetermined``/``not_applicable``/``invalid_input``;
  ``imodel_points`` (the total, when every factor is known), ``imodel_category``
  (``low_risk``/``high_risk``), ``imodel_missing``; the same again with the ECOG-4 decision
  set to ``not_applicable`` (``imodel_na_*``);
* ``mskcc_status``: ``scored``/``undetermined``/``not_applicable``/``invalid_input``;
  ``mskcc_category`` (``offer``/``consider``/``do_not_offer``), ``mskcc_missing``.

Missing field names are the data-contract columns, and ``ca125_at_recurrence`` for the
CA-125 at recurrence.

Readings (each is a choice where the documentation leaves room, marked READING below):

S1  Only an empty cell is unknown. Any other text in a number column must be a decimal
    number (``5e2`` is one); ``NA``, ``nan``, ``inf``, ``500 mL``, ``unknown`` are refused.
S2  Ranges (data contract): age 0-120, ecog whole 0-4 (``2.0`` is 2), ascites_ml 0-50,000,
    pfi_months 0-600; bounds included.
S3  primary_residual_disease: 0/1, true/false, yes/no (any case); a number equal to 0 or 1
    (``1.0``) too. Anything else is refused.
S4  figo_stage: optional ``FIGO``, ``Stage`` or ``FIGO stage`` prefix (any case, spaces
    after it allowed), then a stage I-IV or one of the documented substages (FIGO 2014's
    ``IIIA1(i)`` and ``IIIA1(ii)`` included), any case. Arabic numerals, ``IVC``, ``IA9``
    are refused.
S5  recurrence_pattern: ``single``, ``multiple``, ``carcinomatosis``, any case; nothing else
    (``single site``, ``multiple sites`` are refused).
S6  One refused cell makes the whole clinical row invalid: every score is ``invalid_input``
    (the row is one patient's record; the data contract flags the patient, not the cell).
S7  Unknown inputs: a result is reported when every value the unknown inputs could take
    gives the same result; otherwise it is ``undetermined`` and names the unknown inputs
    that matter. The iMODEL points are reported only when every factor is known.
S8  AGO positive iff ecog == 0 and ascites_ml < 500 and primary_residual_disease == 0
    (500 is not below 500).
S9  iMODEL points in tenths (exact arithmetic): figo III/IV 8; primary residual 1 15;
    pfi_months < 16 24 (16 gives none); ecog 2-3 24; CA-125 at recurrence > 105 18
    (105 gives none); ascites_ml > 0 30 (any ascites; 0 = none). Low risk when the total
    <= 47 (4.7 itself is low risk). ECOG 4: decision ``poor`` scores it as ECOG 2-3;
    ``not_applicable`` leaves the patient unscored (status ``not_applicable``).
S10 CA-125 at recurrence (the documented decision): the GCIG baseline, i.e. the latest
    sample with a value and -14 <= day <= 0 that the GCIG exclusions leave (a sample from the
    day of a paracentesis, thoracentesis or surgery to 28 days after it; every sample after
    mouse antibodies); else the latest pretreatment value from day -42 to day 0 (the decision
    says "from six weeks before the first dose on"), exclusions not applied; an older one is
    not read (unknown). Event rows (no value)
    are skipped. Censored ``<L``: the true value is below L, so with L <= 105 it is not
    above 105 (no points); with L > 105 it is unknown. No pretreatment value: unknown.
    (First version of this reading: the latest pretreatment sample, exclusions ignored;
    corrected after the comparison, see scores_README.md.)
S11 MSKCC (Chi 2006): interval from pfi_months. Under 6: ``not_applicable``; 6-12 (12
    included); over 12 to 30 (30 included); over 30. Table (reading of the paper):
    single: offer / offer / offer; multiple: consider / offer / offer;
    carcinomatosis: do_not_offer / consider / offer (6-12 / 12-30 / >30).
"""

from __future__ import annotations

import csv
import re
import sys
from itertools import product

FIGO_SUBSTAGES = {
    "I": "I", "IA": "I", "IB": "I", "IC": "I", "IC1": "I", "IC2": "I", "IC3": "I",
    "II": "II", "IIA": "II", "IIB": "II", "IIC": "II",
    "III": "III", "IIIA": "III", "IIIA1": "III", "IIIA1(I)": "III", "IIIA1(II)": "III", "IIIA2": "III",
    "IIIB": "III", "IIIC": "III",
    "IV": "IV", "IVA": "IV", "IVB": "IV",
}
PATTERNS = ("single", "multiple", "carcinomatosis")
NUMBERS = {"age": (0, 120, False), "ecog": (0, 4, True), "ascites_ml": (0, 50_000, False),
           "pfi_months": (0, 600, False)}
MSKCC = {  # pattern -> (6-12, 12-30, >30)   READING S11
    "single": ("offer", "offer", "offer"),
    "multiple": ("consider", "offer", "offer"),
    "carcinomatosis": ("do_not_offer", "consider", "offer"),
}
USED = ("age", "ecog", "ascites_ml", "figo_stage", "primary_residual_disease", "pfi_months",
        "recurrence_pattern")


class BadValue(Exception):
    """A cell this reading refuses."""


def _number(column, text):
    low, high, whole = NUMBERS[column]
    if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text):
        raise BadValue(column)
    value = float(text)
    if not low <= value <= high or (whole and value != int(value)):
        raise BadValue(column)
    return int(value) if whole else value


def _flag(column, text):
    low = text.lower()
    if low in ("1", "true", "yes"):
        return 1
    if low in ("0", "false", "no"):
        return 0
    try:
        value = float(text)
    except ValueError:
        raise BadValue(column) from None
    if value in (0.0, 1.0):
        return int(value)
    raise BadValue(column)


def _figo(text):
    stage = re.sub(r"^(?:FIGO\s*)?(?:STAGE\s*)?", "", text.upper())
    if stage not in FIGO_SUBSTAGES:
        raise BadValue("figo_stage")
    return FIGO_SUBSTAGES[stage]


def _pattern(text):
    if text.lower() not in PATTERNS:
        raise BadValue("recurrence_pattern")
    return text.lower()


def read_row(row):
    """Plain dict of CSV text -> (values, refused columns). Empty cell -> None (S1)."""
    values, refused = {}, []
    for column in USED:
        text = row.get(column, "") or ""
        if text == "":
            values[column] = None
            continue
        try:
            if column in NUMBERS:
                values[column] = _number(column, text)
            elif column == "primary_residual_disease":
                values[column] = _flag(column, text)
            elif column == "figo_stage":
                values[column] = _figo(text)
            else:
                values[column] = _pattern(text)
        except BadValue:
            refused.append(column)
    return values, refused


def ca125_at_recurrence(samples):
    """samples: marker rows (dicts of text) of one patient -> (text, value_or_None, upper_bound).

    READING S10. A censored ``<L`` gives (``<L``, None, L): the value is below L.
    """
    events = [(int(s["day"]), s["event"]) for s in samples if (s.get("event") or "") != ""]

    def excluded(day):
        for at, event in events:
            if event in ("paracentesis", "thoracentesis", "surgery") and at <= day <= at + 28:
                return True
            if event == "mouse_antibody" and day > at:
                return True
        return False

    valued = [s for s in samples if (s.get("ca125") or "") != "" and int(s["day"]) <= 0]
    baseline = [s for s in valued if -14 <= int(s["day"]) and not excluded(int(s["day"]))]
    pre = baseline or [s for s in valued if int(s["day"]) >= -42]
    if not pre:
        return "", None, None
    latest = max(pre, key=lambda s: int(s["day"]))
    text = latest["ca125"]
    if text.startswith("<"):
        return text, None, float(text[1:])
    return text, float(text), None


# ----------------------------------------------------------------------------- the scores
# Each score is evaluated over every value the unknown inputs can take (S7).

def _domains(p, names, ecog_values=(0, 1, 2, 3, 4)):
    domain = {
        "ecog": ecog_values, "ascites_ml": (0.0, 1.0, 500.0), "primary_residual_disease": (0, 1),
        "figo_stage": ("I", "III"), "pfi_months": (1.0, 6.0, 12.0, 14.0, 20.0, 40.0),
        "recurrence_pattern": PATTERNS, "ca125_at_recurrence": ("low", "high"),
    }
    return {n: ((p[n],) if p[n] is not None else domain[n]) for n in names}


def _over_unknowns(p, names, rule):
    """Outcome of ``rule`` when determined by the known inputs, else None and the unknowns."""
    doms = _domains(p, names)
    outcomes = {rule(dict(zip(names, combo))) for combo in product(*doms.values())}
    if len(outcomes) == 1:
        return outcomes.pop(), []
    # unknowns that matter: those whose value changes the outcome with the others free
    return None, sorted(n for n in names if p[n] is None)


def ago(p):
    def rule(v):
        positive = v["ecog"] == 0 and v["ascites_ml"] < 500 and v["primary_residual_disease"] == 0
        return "positive" if positive else "negative"

    out, missing = _over_unknowns(p, ("ecog", "ascites_ml", "primary_residual_disease"), rule)
    return (out, "") if out else ("undetermined", ";".join(missing))


def _imodel_tenths(v, ecog4):
    if v["ecog"] == 4 and ecog4 == "not_applicable":
        return None
    points = 0
    points += 8 if v["figo_stage"] in ("III", "IV") else 0
    points += 15 if v["primary_residual_disease"] == 1 else 0
    points += 24 if v["pfi_months"] < 16 else 0
    points += 24 if v["ecog"] in (2, 3, 4) else 0
    points += 18 if v["ca125_at_recurrence"] == "high" else 0
    points += 30 if v["ascites_ml"] > 0 else 0
    return points


def imodel(p, ecog4="poor"):
    names = ("figo_stage", "primary_residual_disease", "pfi_months", "ecog", "ca125_at_recurrence",
             "ascites_ml")

    def category(v):
        t = _imodel_tenths(v, ecog4)
        return "not_applicable" if t is None else ("low_risk" if t <= 47 else "high_risk")

    out, missing = _over_unknowns(p, names, category)
    if out == "not_applicable":
        return "not_applicable", "", "", ""
    if out is None:
        return "undetermined", "", "", ";".join(missing)
    if all(p[n] is not None for n in names):
        tenths = _imodel_tenths(p, ecog4)
        return "scored", f"{tenths // 10}.{tenths % 10}", out, ""
    return "scored", "", out, ""


def _mskcc_interval(pfi):
    if pfi < 6:
        return None
    return 0 if pfi <= 12 else 1 if pfi <= 30 else 2


def mskcc(p):
    def rule(v):
        i = _mskcc_interval(v["pfi_months"])
        return "not_applicable" if i is None else MSKCC[v["recurrence_pattern"]][i]

    out, missing = _over_unknowns(p, ("pfi_months", "recurrence_pattern"), rule)
    if out is None:
        return "undetermined", "", ";".join(missing)
    if out == "not_applicable":
        return "not_applicable", "", ""
    return "scored", out, ""


COLUMNS = ["patient_id", "invalid", "ago", "ago_missing", "ca125_at_recurrence",
           "imodel_status", "imodel_points", "imodel_category", "imodel_missing",
           "imodel_na_status", "imodel_na_points", "imodel_na_category", "imodel_na_missing",
           "mskcc_status", "mskcc_category", "mskcc_missing"]


def score_patient(row, samples):
    p, refused = read_row(row)
    out = dict.fromkeys(COLUMNS, "")
    out["patient_id"] = row["patient_id"]
    text, value, bound = ca125_at_recurrence(samples)
    out["ca125_at_recurrence"] = text
    if refused:
        out["invalid"] = ";".join(refused)
        for key in ("ago", "imodel_status", "imodel_na_status", "mskcc_status"):
            out[key] = "invalid_input"
        return out
    if value is not None:
        p["ca125_at_recurrence"] = "high" if value > 105 else "low"
    elif bound is not None and bound <= 105:
        p["ca125_at_recurrence"] = "low"
    else:
        p["ca125_at_recurrence"] = None
    out["ago"], out["ago_missing"] = ago(p)
    (out["imodel_status"], out["imodel_points"], out["imodel_category"],
     out["imodel_missing"]) = imodel(p, "poor")
    (out["imodel_na_status"], out["imodel_na_points"], out["imodel_na_category"],
     out["imodel_na_missing"]) = imodel(p, "not_applicable")
    out["mskcc_status"], out["mskcc_category"], out["mskcc_missing"] = mskcc(p)
    return out


def main(clinical_path, markers_path, out_path):
    with open(markers_path, newline="") as f:
        samples = {}
        for s in csv.DictReader(f):
            samples.setdefault(s["patient_id"], []).append(s)
    with open(clinical_path, newline="") as f, open(out_path, "w", newline="") as g:
        writer = csv.DictWriter(g, COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in csv.DictReader(f):
            writer.writerow(score_patient(row, samples.get(row["patient_id"], [])))


if __name__ == "__main__":
    main(*sys.argv[1:4])
