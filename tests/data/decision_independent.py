"""An independent reading of the combined RECIST 1.1 + CA-125 category and of the
recommendation rule.

Written from the project's user documentation alone (``docs/clinical-rules.md`` sections 3
and 6, ``docs/screening.md`` "RESCUE" and "The GCIG CA-125 response in a criterion",
``docs/input-formats.md`` "No confident answer from missing data") and from Rustin 2011 as
the documentation restates it, before the package's combined-response and decision code was
read. Standard library only; it imports nothing from ca125kinetics, so that it can disagree
with it.

Usage::

    python tests/data/decision_independent.py FACTS.csv OUT.csv
    python tests/data/decision_independent.py --function CASES.csv OUT.csv

The second form reads the inputs of the Python function ``combined_response`` (``recist``,
``new_lesion``, ``ca125_progression``, ``ca125_response``, ``ca125_normal``: yes/no/empty)
and gives the combined category alone.

``FACTS.csv`` holds one row per case (``case_id``) with the facts the two rules take:

* ``recist``: the RECIST 1.1 category as written in the clinical table (any spelling);
* ``new_lesion``: ``yes``/``no``, or empty when the input has no such field;
* ``gcig_status``: the status of the package's GCIG response rule on the patient's markers
  (``response``, ``unconfirmed``, ``not_confirmed``, ``no_response``, ``awaiting``,
  ``not_evaluable``, ``invalid_input``, ``no_markers``). The GCIG rules were audited on their own (against R);
  here they are an input;
* ``progression_status``: the status of the package's GCIG progression rule (``progression``
  is a confirmed progression; ``no_progression`` is none; anything else, such as a candidate
  awaiting its confirming sample, is unknown);
* ``ca125_normal``: ``yes``/``no``/empty, whether the latest on-treatment CA-125 sample the
  rules used is within the normal range (READING D3), worked out by the case generator from
  the series it wrote;
* ``scored``: ``invalid`` (the patient's data break the data contract), ``not_scored`` (no
  probability could be computed), ``scored``;
* ``probability``, ``threshold``: as ``repr`` of the floats (empty when not scored);
* ``missing_predictors``: the model's clinical predictors left empty, ``;``-separated;
* ``kinetics_on_treatment``: how many CA-125 samples after the first dose the kinetics may
  use (READING D9, :func:`kinetics_on_treatment`, worked out by the case generator from the
  series it wrote);
* ``allow_imputed``: ``0``/``1``.

``OUT.csv`` holds, per case: ``recist_code`` (the category read, or ``error``),
``combined`` (``CR``/``PR``/``SD``/``PD``/``undetermined``), ``entry`` (the RESCUE entry
criterion, inclusion 3, as the screen evaluates it: ``met``/``not_met``/``unknown``),
``decision`` (``none``, ``not_candidate``, ``insufficient_information``, ``resectable``,
``not_resectable``), ``rule`` (this reading's name of the rule that fired) and ``named``
(the fields the reason must name, ``;``-separated; ``ca125_after_first_dose`` for the
on-treatment CA-125 the kinetics lack, D9).

Readings of places the documentation leaves open (each is a choice, marked READING below):

D1  RECIST spellings: the four codes CR, PR, SD, PD in any letter case, surrounding spaces
    ignored (as every code of the clinical table); an empty cell is unknown; anything else
    (``NE``, ``non-CR/non-PD``, ``complete``) is not a category of the data contract and must
    be refused (``recist_code`` ``error``), never read as unknown.
D2  Combined category, first row that matches (docs section 3, Rustin 2011):
    RECIST PD -> PD; a new lesion -> PD; a confirmed CA-125 progression -> PD (whatever the
    RECIST category, including none: a GCIG progression is progression on its own);
    then RECIST unknown -> ``undetermined`` (the table is a RECIST table; the package must not
    guess a category from CA-125 alone); RECIST CR with CA-125 normal -> CR; CR with CA-125
    not normal -> PR (with or without a confirmed CA-125 response: RECIST 1.1 itself does not
    grant CR while a marker is raised); CR with CA-125 normality unknown -> CR (downgraded only
    on evidence); PR -> PR; SD with a confirmed CA-125 response -> PR; otherwise SD. An
    unconfirmed or undeterminable CA-125 response is not a confirmed one, and an awaited or
    undeterminable progression is not a progression.
D3  "CA-125 normal" is whether the latest on-treatment sample (day > 0) that the GCIG rules
    used (not excluded after a procedure or mouse antibodies) is <= its ULN; a censored
    ``<x`` is normal when x <= ULN. No such sample (no markers, only pretreatment samples):
    unknown. Markers that break the data contract: unknown.
D4  New lesion: where the input carries no new-lesion field (the clinical table has none),
    a recorded RECIST CR/PR/SD means no new lesion was seen (RECIST 1.1 classes any new
    lesion as PD); nothing is assumed when RECIST is unknown, and it does not matter then
    (D2 gives PD only on evidence).
D5  Recommendation, first rule that fires (docs section 6):
    1 ``invalid``: the data break the contract -> no recommendation;
      ``not_scored``: no probability -> no recommendation;
    2 ``gcig_progression``: confirmed GCIG CA-125 progression -> not a candidate;
    3 ``recist_pd``: RECIST PD -> not a candidate;
    4 entry criterion (D6): not met -> not a candidate (``entry_not_met``); unknown ->
      insufficient information (``entry_undetermined``), naming ``recist`` (and nothing
      else: the predictors are not the reason here);
    5 ``missing_predictors``: a model predictor is unknown and imputation was not allowed ->
      insufficient information naming every unknown predictor; the CA-125 kinetics count as
      one (D9): no on-treatment sample they may use -> named ``ca125_after_first_dose``,
      after the clinical predictors, in the same message;
    6 ``at_or_above``: probability >= threshold -> predicted completely resectable (with
      imputation allowed, the recommendation names the imputed predictors, the kinetics
      included);
    7 ``below``: otherwise predicted not completely resectable (idem).
D6  Entry criterion = RESCUE inclusion 3, three-valued: RECIST in {CR, PR, SD} or GCIG status
    ``response``. RECIST known (CR/PR/SD/PD): that clause is true/false. GCIG: ``response``
    true; ``no_response``, ``not_confirmed``, ``not_evaluable`` false (the data show no
    response); ``unconfirmed``, ``awaiting``, ``invalid_input``, ``no_markers`` unknown. "or":
    true when a clause is true, false when both are false, otherwise unknown. As the screen
    evaluates it, RECIST PD with a confirmed GCIG response meets it; the recommendation never
    gets there (rule 3 fires first). ``awaiting`` (an evaluable baseline and no usable CA-125
    after the first dose: none drawn yet, or every one excluded) was added when the package
    stopped reporting that case as ``no_response``: the documentation's rule that missing
    information gives "undetermined", never a default, makes it unknown here, and an unknown
    CA-125 response in D2 (it is not a confirmed one).
D7  "At or above the threshold": p >= t, compared exactly. (The first version of this reading
    applied the documentation's general convention for thresholds, a relative slack of 1e-9,
    to the probability too, so p = t - 1e-12 counted as at the threshold; the package compares
    exactly, as ``docs/landmarks.md`` states (``p >= threshold``). The slack serves measured
    values written in decimal; a probability is computed. Resolved in the documentation, which
    now says so in section 6; this reading follows it.)
D8  A patient whose markers break the data contract (GCIG status ``invalid_input``) gets no
    combined category (``undetermined``), whatever the RECIST category: the data contract
    gives such a patient the status ``invalid_input`` and no result. (Added after the first
    comparison: the first version of this reading derived a category from RECIST alone.)
D9  (Added with rule 5's kinetics, ``docs/clinical-rules.md`` section 6 note 4.) The model
    predicts from the CA-125 decline during the neoadjuvant cycles (section 4): with no
    CA-125 after the first dose among the samples the kinetics use, its kinetics are imputed
    as an unknown clinical predictor is. The samples the kinetics use (section 4, "Who is
    scored", and the exclusions "as in GCIG", section 1): a row with a value (a censored
    ``<x`` is one), ``0 < day <= 100``, not excluded by an event: a paracentesis,
    thoracentesis or surgery on day e excludes ``e <= day <= e + 28``, mouse antibodies on
    day e every ``day >= e``. Only zero such samples counts: one or two (a decline partly
    seen, k not estimable) do not withhold the decision.
D10 (Added when rule 5 was extended, ``docs/clinical-rules.md`` section 6 note 4: "no CA-125
    decline for the kinetics to measure".) The decline is measured from a pretreatment CA-125
    among the samples the kinetics use: a row with a value, ``-14 <= day <= 0`` (the kinetics'
    pretreatment window, section 4), not excluded by an event (as in D9). Without one, the
    kinetics are imputed as in D9, whatever the samples after the first dose: D9's count is
    then 0.
D11 (Added when the documentation was corrected: the model takes RECIST as one of its inputs,
    a category beside FIGO stage and the recurrence pattern, and the shipped model never saw
    it unknown.) ``recist`` is one of rule 5's predictors: unknown (empty), it is named among
    ``missing_predictors`` (the facts list it last, after the seven clinical factors). Rule 4
    still fires first when the entry criterion is undetermined, naming ``recist`` alone.
"""

from __future__ import annotations

import csv
import sys

RECIST_CODES = ("CR", "PR", "SD", "PD")
PREDICTORS = ("age", "ecog", "ascites_ml", "figo_stage", "primary_residual_disease",
              "pfi_months", "recurrence_pattern", "recist")   # READING D11: recist
KINETICS_WINDOW_DAYS = 100  # READING D9
PRETREATMENT_WINDOW_DAYS = 14  # READING D10
INTERFERENCE_DAYS = 28
PROCEDURES = ("paracentesis", "thoracentesis", "surgery")
GCIG_ENTRY = {"response": True, "no_response": False, "not_confirmed": False,
              "not_evaluable": False, "unconfirmed": None, "awaiting": None, "invalid_input": None,
              "no_markers": None}  # READING D6


class BadValue(ValueError):
    """A value this reading does not know: the package must refuse it."""


def read_recist(text: str) -> str | None:
    """READING D1."""
    code = text.strip().upper()
    if code == "":
        return None
    if code not in RECIST_CODES:
        raise BadValue(f"recist {text!r} is not one of {RECIST_CODES}")
    return code


def yes_no(text: str, field: str) -> bool | None:
    if text == "":
        return None
    if text in ("yes", "no"):
        return text == "yes"
    raise BadValue(f"{field} {text!r} is not yes/no/empty")


def combined(recist: str | None, new_lesion: bool | None, progression: bool | None,
             response: bool | None, normal: bool | None) -> str:
    """READING D2 (with D4 for an absent new-lesion field)."""
    if recist == "PD" or new_lesion is True or progression is True:
        return "PD"
    if recist is None:
        return "undetermined"
    if recist == "CR":
        return "PR" if normal is False else "CR"
    if recist == "PR":
        return "PR"
    return "PR" if response is True else "SD"


def either(*parts: bool | None) -> bool | None:
    if any(part is True for part in parts):
        return True
    if all(part is False for part in parts):
        return False
    return None


def entry(recist: str | None, gcig_status: str) -> bool | None:
    """READING D6: RESCUE inclusion 3."""
    recist_clause = None if recist is None else recist in ("CR", "PR", "SD")
    return either(recist_clause, GCIG_ENTRY[gcig_status])


def kinetics_on_treatment(series: list[tuple]) -> int:
    """READINGS D9 and D10: the samples after the first dose the kinetics may use, from a series
    of ``(day, ca125 as written, event)`` rows (event empty or missing for none); 0 without a
    pretreatment sample they may use."""
    events = [(s[0], s[2]) for s in series if len(s) > 2 and s[2]]
    unknown = {kind for _, kind in events} - {*PROCEDURES, "mouse_antibody"}
    if unknown:
        raise BadValue(f"events {sorted(unknown)} are not known to this reading")

    def excluded(day: int) -> bool:
        return any(day >= when if kind == "mouse_antibody" else when <= day <= when + INTERFERENCE_DAYS
                   for when, kind in events)

    if not any(s[1] != "" and -PRETREATMENT_WINDOW_DAYS <= s[0] <= 0 and not excluded(s[0]) for s in series):
        return 0                                        # READING D10: no decline to measure
    return sum(1 for s in series if s[1] != "" and 0 < s[0] <= KINETICS_WINDOW_DAYS and not excluded(s[0]))


def at_or_above(probability: float, threshold: float) -> bool:
    """READING D7."""
    return probability >= threshold


def decide(*, scored: str, progression: bool | None, recist: str | None, entry_met: bool | None,
           probability: float | None, threshold: float | None, missing: list[str],
           on_treatment: int, allow_imputed: bool) -> tuple[str, str, list[str]]:
    """READING D5: (decision, rule, named)."""
    if scored == "invalid":
        return "none", "invalid", []
    if scored == "not_scored":
        return "none", "not_scored", []
    if progression is True:
        return "not_candidate", "gcig_progression", []
    if recist == "PD":
        return "not_candidate", "recist_pd", []
    if entry_met is False:
        return "not_candidate", "entry_not_met", []
    if entry_met is None:
        return "insufficient_information", "entry_undetermined", ["recist"]
    unknown = list(missing) + (["ca125_after_first_dose"] if on_treatment == 0 else [])  # D9
    if unknown and not allow_imputed:
        return "insufficient_information", "missing_predictors", unknown
    named = unknown  # imputed and allowed: the recommendation names them
    if at_or_above(probability, threshold):
        return "resectable", "at_or_above", named
    return "not_resectable", "below", named


def read_case(row: dict[str, str]) -> dict[str, str]:
    out = {"case_id": row["case_id"]}
    try:
        recist = read_recist(row["recist"])
    except BadValue as exc:
        return {**out, "recist_code": "error", "combined": "", "entry": "", "decision": "",
                "rule": "", "named": "", "note": str(exc)}
    status = row["gcig_status"]
    if status not in GCIG_ENTRY:
        raise SystemExit(f"case {row['case_id']}: unknown GCIG status {status!r}")
    progression = {"progression": True, "no_progression": False}.get(row["progression_status"])
    response = True if status == "response" else None if GCIG_ENTRY[status] is None else False
    new_lesion = yes_no(row["new_lesion"], "new_lesion")
    normal = yes_no(row["ca125_normal"], "ca125_normal")
    category = combined(recist, new_lesion, progression, response, normal)
    if status == "invalid_input":  # READING D8
        category = "undetermined"
    met = entry(recist, status)
    missing = [name for name in row["missing_predictors"].split(";") if name]
    unknown = set(missing) - set(PREDICTORS)
    if unknown:
        raise SystemExit(f"case {row['case_id']}: not a predictor: {sorted(unknown)}")
    decision, rule, named = decide(
        scored=row["scored"], progression=progression, recist=recist, entry_met=met,
        probability=float(row["probability"]) if row["probability"] else None,
        threshold=float(row["threshold"]) if row["threshold"] else None,
        missing=missing, on_treatment=int(row["kinetics_on_treatment"]),
        allow_imputed=row["allow_imputed"] == "1")
    return {**out, "recist_code": recist or "", "combined": category,
            "entry": {True: "met", False: "not_met", None: "unknown"}[met],
            "decision": decision, "rule": rule, "named": ";".join(named), "note": ""}


def read_function_case(row: dict[str, str]) -> dict[str, str]:
    """The combined category alone, from the inputs of the Python function (all five given)."""
    recist = read_recist(row["recist"])
    category = combined(recist, yes_no(row["new_lesion"], "new_lesion"),
                        yes_no(row["ca125_progression"], "ca125_progression"),
                        yes_no(row["ca125_response"], "ca125_response"),
                        yes_no(row["ca125_normal"], "ca125_normal"))
    return {"case_id": row["case_id"], "combined": category}


def main_function(cases: str, out: str) -> None:
    with open(cases, newline="", encoding="utf-8") as handle:
        rows = [read_function_case(row) for row in csv.DictReader(handle)]
    with open(out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["case_id", "combined"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def main(facts: str, out: str) -> None:
    with open(facts, newline="", encoding="utf-8") as handle:
        rows = [read_case(row) for row in csv.DictReader(handle)]
    columns = ["case_id", "recist_code", "combined", "entry", "decision", "rule", "named", "note"]
    with open(out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    if sys.argv[1] == "--function":
        main_function(*sys.argv[2:4])
    else:
        main(*sys.argv[1:3])
