"""The decision rule (module docstring of :mod:`ca125kinetics.predict`) and the per-patient
warnings of a scored row.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from .._columns import ARROW_MIN, is_arrow, labels_text, scatter_text, take_text, text_objects
from ..io import CLINICAL_PREDICTORS
from ..settings import KineticsSettings
from .result import DISCLAIMER, SYNTHETIC_NOTE, _notice  # noqa: F401 - the notice every output carries
from .._columns import _side, probability_text, threshold_text


#: Values of the ``decision`` column, in the order the rules are tried.
DECISIONS = (
    "invalid_input",
    "not_scored",
    "not_candidate_progression",
    "not_candidate_recist_pd",
    "not_candidate_entry",
    "insufficient_information",
    "resectable",
    "not_resectable",
)


#: Clinical predictors the model needs for a decision: when one is unknown the model imputes
#: it, and the decision is withheld unless the caller allows imputed values (``allow_imputed``).
#: RECIST is one of the model's predictors too; an unknown RECIST is imputed unless the model
#: learned it unknown (``ModelBundle.learned_unknown``: its training patients had it so, as a
#: landmark model before RECIST is assessed did).
REQUIRED_PREDICTORS = CLINICAL_PREDICTORS


def _fmt_p(p: float) -> str:
    return f"{p:.2f}"


#: ``"%.2f"`` of each hundredth from 0 to 1: the text of every probability clear of a midpoint.
_HUNDREDTHS = tuple("%.2f" % (k / 100) for k in range(101))


def _p_texts(p: np.ndarray, threshold: float | None = None):
    """``f"{p:.2f}"`` of every value (a text column of ``_columns``: an object array, or an
    Arrow string array for a long column); beside a ``threshold``, a value whose two decimals
    are the threshold's but which is not it is written by :func:`probability_text`.

    A probability in (0, 1] more than 1e-6 hundredths from a midpoint between two hundredths
    (``x.xx5``) takes the text of the nearest hundredth: ``p * 100`` is within 1e-13 of its
    exact value, so it lies on the same side of the midpoint, where Python's correctly
    rounded formatting goes. Any other value (near a midpoint, 0, NaN, out of range) is
    formatted by Python."""
    with np.errstate(invalid="ignore", over="ignore"):     # NaN and huge values are formatted by Python
        hundredths = p * 100
        nearest = np.floor(hundredths + 0.5)
        clear = (p > 0) & (p <= 1) & (np.abs(hundredths - np.floor(hundredths) - 0.5) > 1e-6)
    codes = np.where(clear, nearest, 0).astype(np.intp)
    if threshold is not None:       # two decimals that stand on the other side of it, or on it: more digits
        with np.errstate(invalid="ignore"):
            clear = clear & (_side(codes / 100, threshold) == _side(p, threshold))
    rest = np.flatnonzero(~clear)
    codes[rest] = len(_HUNDREDTHS) + np.arange(rest.size)
    return labels_text([*_HUNDREDTHS, *(probability_text(v, threshold) if threshold is not None else "%.2f" % v
                                       for v in p[rest].tolist())], codes)


def _int_texts(values: np.ndarray):
    """``f"{v}"`` of whole numbers held as float64 (``"None"`` where NaN), as a text column
    of ``_columns`` (pyarrow for a long column; a short one costs less in Python)."""
    if len(values) < ARROW_MIN:
        return np.array(["None" if v != v else str(int(v)) for v in values.tolist()], dtype=object)
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.array(values, from_pandas=True).cast(pa.int64()).cast(pa.string())
    return pc.fill_null(text, "None")


def _join(*parts):
    """Element-wise concatenation of text pieces: str constants and text columns (at least
    one, all of one length; object arrays or Arrow string arrays). A long column is joined by
    pyarrow in one pass into an Arrow string array, a short one as Python strings."""
    m = next(len(p) for p in parts if not isinstance(p, str))
    if m < ARROW_MIN:
        out = np.full(m, "", dtype=object)
        for p in parts:
            out = out + (p if isinstance(p, str) else text_objects(p))
        return out
    import pyarrow as pa
    import pyarrow.compute as pc

    pieces = [pa.scalar(p, pa.string()) if isinstance(p, str) else p if is_arrow(p) else pa.array(p, type=pa.string())
              for p in parts]
    return pc.binary_join_element_wise(*pieces, "")


def _texts(values):
    """``f"{v}"`` of a text column (``"None"`` where missing), in its form."""
    if is_arrow(values):
        import pyarrow.compute as pc

        return pc.fill_null(values, "None")
    return np.where(pd.isna(values), "None", values).astype(object)


#: The order of the out-of-range warnings: the clinical inputs, then the kinetics, as training
#: records the ranges (``train._feature_ranges``).
_RANGE_ORDER = ("age", "ecog", "ascites_ml", "pfi_months", "ca125_at_recurrence", "k", "half_life_days",
                "kelim_score")


def _name_lists(missing: np.ndarray, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per row of a ``(n, len(names))`` mask the ``", "``-joined names it marks and how many."""
    if len(missing) <= 64:      # a few rows: directly
        rows = missing.tolist()
        texts = np.array([", ".join(n for n, m in zip(names, row) if m) for row in rows], dtype=object)
        return texts, np.array([sum(row) for row in rows], dtype=np.int64)
    bits = missing.astype(np.int64) @ (1 << np.arange(len(names), dtype=np.int64))
    codes, inverse = np.unique(bits, return_inverse=True)
    texts = np.array([", ".join(name for j, name in enumerate(names) if code >> j & 1) for code in codes.tolist()]
                     + [""], dtype=object)
    return texts[inverse.reshape(-1)], missing.sum(axis=1)


#: What rule 5 asks for when the model's kinetics have no CA-125 after the first dose.
_KINETICS_GIVE = ("the on-treatment CA-125 values (no CA-125 after the first dose, day > 0, that the kinetics can "
                  "use: none drawn yet, or every one excluded after a procedure or mouse antibodies, or beyond the "
                  "kinetics window; the model predicts from the CA-125 decline during the neoadjuvant cycles)")

def _baseline_give(pretreatment_window_days: int) -> str:
    """What rule 5 asks for when the kinetics have no pretreatment CA-125 to measure the decline
    from: one in their window before the first dose (``KineticsSettings.pretreatment_window_days``
    of the model)."""
    return (f"a pretreatment CA-125 (none in the kinetics' window before the first dose, "
            f"{_pretreatment_window(pretreatment_window_days)}, so they cannot measure the decline: the model "
            "predicts from the CA-125 decline during the neoadjuvant cycles)")


def _pretreatment_window(pretreatment_window_days: int) -> str:
    """The kinetics' pretreatment window in words: ``day -14 to day 0``."""
    return f"day {-pretreatment_window_days} to day 0"

#: How an allowed decision on imputed kinetics says so.
_KINETICS_ALLOWED = ("the kinetics imputed (allowed by the caller: no CA-125 after the first dose, day > 0, that "
                     "the kinetics can use)")


def _baseline_allowed(pretreatment_window_days: int) -> str:
    """How an allowed decision on kinetics imputed for want of a pretreatment CA-125 says so."""
    return ("the kinetics imputed (allowed by the caller: no pretreatment CA-125 in the kinetics' window, "
            f"{_pretreatment_window(pretreatment_window_days)}, to measure the decline from)")


def _unknown_inputs(missing: np.ndarray, n_missing: np.ndarray, no_kinetics: np.ndarray,
                    no_baseline: np.ndarray, pretreatment_window_days: int):
    """The model inputs rule 5 asks for, per row: the unknown clinical predictors
    (``missing``, ``n_missing`` of them) followed, where ``no_kinetics``, by the CA-125 the
    kinetics need: the on-treatment values (:data:`_KINETICS_GIVE`), or, where ``no_baseline``,
    a pretreatment value in the kinetics' ``pretreatment_window_days`` (:func:`_baseline_give`)."""
    give = missing.copy()
    kin = np.flatnonzero(no_kinetics)
    if kin.size:
        what = np.where(no_baseline[kin], _baseline_give(pretreatment_window_days), _KINETICS_GIVE).astype(object)
        give[kin] = np.where(n_missing[kin] > 0, missing[kin] + " and ", "").astype(object) + what
    return give


def _insufficient_reason(give: np.ndarray, no_kinetics: np.ndarray, n_missing: np.ndarray) -> np.ndarray:
    them = np.where(~no_kinetics, "them", np.where(n_missing > 0, "them and the kinetics", "the kinetics"))
    return _join("insufficient information: give ", give, "; the probability shown was computed with ",
                 them.astype(object), " imputed, so no decision is made (allow_imputed=True, ca125 score "
                 "--allow-imputed or the API field allow_imputed decides on it anyway)")


def _entry(gcig_status: np.ndarray, recist: np.ndarray) -> np.ndarray:
    """The entry criterion per row: RESCUE's inclusion 3 as the shipped criteria file states
    it (``eligibility.entry_criterion``; the rule ``ca125 screen`` applies), 1 (met), 0 (not
    met) or -1 (undetermined), with ``gcig_response`` the GCIG status as the screen reads it
    (``eligibility.gcig_field``). Evaluated once per distinct pair of values."""
    from ..eligibility import criterion_values, entry_criterion, gcig_field

    status_codes, statuses = pd.factorize(gcig_status)
    recist_codes, categories = pd.factorize(recist)
    width = len(categories) + 1                  # code + 1: 0 is a missing value
    pairs, inverse = np.unique((status_codes + 1) * width + recist_codes + 1, return_inverse=True)
    status_of, recist_of = np.divmod(pairs, width)
    values = criterion_values(entry_criterion(), {
        "gcig_response": [gcig_field(statuses[c - 1]) if c else None for c in status_of.tolist()],
        "recist": [categories[c - 1] if c else None for c in recist_of.tolist()],
    })
    return np.array([-1 if v is None else int(v) for v in values], dtype=np.int8)[inverse.reshape(-1)]


def _admits() -> str:
    """What the entry criterion admits, in words: ``RECIST CR/PR/SD or a GCIG response``."""
    from ..eligibility import entry_criterion, recist_admitted

    admitted = recist_admitted(entry_criterion())
    return (f"RECIST {'/'.join(admitted)} or " if admitted else "") + "a GCIG response"


def _why_not_responded(gcig_reason):
    """The GCIG reason, or "GCIG response not assessed" where it is missing or empty (a text
    column, in its form)."""
    if is_arrow(gcig_reason):
        import pyarrow.compute as pc

        return pc.if_else(pc.equal(pc.fill_null(gcig_reason, ""), ""), "GCIG response not assessed", gcig_reason)
    empty = pd.isna(gcig_reason) | (gcig_reason == "")
    return np.where(empty, "GCIG response not assessed", gcig_reason).astype(object)


def _entry_undetermined_reason(gcig_reason: np.ndarray) -> np.ndarray:
    return _join("insufficient information: give recist, the RECIST 1.1 category after the neoadjuvant "
                 "cycles (CR, PR, SD or PD): without a confirmed GCIG CA-125 response (",
                 _why_not_responded(gcig_reason), f") the entry criterion ({_admits()}) cannot be judged, so no "
                 "decision is made")


_RULES = {
    "invalid_input": "input breaks the data contract",
    "not_scored": "the model could not score the patient",
    "not_candidate_progression": "GCIG CA-125 progression -> not a candidate",
    "not_candidate_recist_pd": "RECIST PD -> not a candidate",
    "not_candidate_entry": "no response that meets the entry criterion -> not a candidate",
    "undetermined": ("no GCIG CA-125 response and RECIST unknown -> entry criterion undetermined (insufficient "
                     "information)"),
    "withheld": ("response, but model inputs unknown (clinical predictors, or no CA-125 after the first dose for "
                 "the kinetics) -> decision withheld (insufficient information)"),
    "resectable": "response and probability >= threshold -> predicted completely resectable",
    "not_resectable": "response and probability < threshold -> predicted not completely resectable",
}


def _decisions(rows: Mapping[str, np.ndarray], threshold: float, synthetic: bool, *,
               missing: np.ndarray | None = None, n_missing: np.ndarray | None = None,
               no_kinetics: np.ndarray | None = None, no_baseline: np.ndarray | None = None,
               allow_imputed: bool = False, pretreatment_window_days: int | None = None) -> dict[str, np.ndarray]:
    """The decision rule (module docstring of :mod:`ca125kinetics.predict`) of n scored rows.

    ``rows`` holds the score columns the rule reads, as the engine holds them
    (``engine._score_columns``; ``status``, ``reason``, ``recist``, ``gcig_status`` and
    ``gcig_category`` object arrays, the other texts in either form): ``status``,
    ``reason``, ``probability``, ``progressed``,
    ``progression_day``, ``progression_group``, ``recist``, ``gcig_status``, ``gcig_responded``,
    ``gcig_category``, ``gcig_response_day``, ``gcig_confirmation_day``, ``gcig_reason``.
    ``missing``: per row the ``", "``-joined :data:`REQUIRED_PREDICTORS` that are unknown
    (imputed by the model; ``""`` for none) and ``n_missing`` how many; ``no_kinetics``: per row
    whether the kinetics the model uses hold no CA-125 after the first dose (day > 0), so that
    the KELIM-like features are imputed too (rule 5 treats it as an unknown predictor);
    ``no_baseline``: among those, the rows whose kinetics lack the pretreatment CA-125 instead
    (the texts ask for it, in the window ``pretreatment_window_days`` before the first dose:
    the model's ``KineticsSettings.pretreatment_window_days``; None, the settings' default).

    Returns the columns ``decision``, ``rule``, ``recommendation`` (text columns in the form
    of their length: built by Arrow for a large batch) and the ``status`` and ``reason``
    after the rule (object arrays; ``insufficient`` with its reason where the decision is
    withheld).
    """
    status, reason = rows["status"], rows["reason"]
    n = len(status)
    if missing is None:
        missing, n_missing = np.full(n, "", dtype=object), np.zeros(n, dtype=np.int64)
    if no_kinetics is None:
        no_kinetics = np.zeros(n, dtype=bool)
    if no_baseline is None:
        no_baseline = np.zeros(n, dtype=bool)
    if pretreatment_window_days is None:
        pretreatment_window_days = KineticsSettings().pretreatment_window_days
    tail = _notice(synthetic)
    p = rows["probability"]
    recist = rows["recist"]
    responded = rows["gcig_responded"] == 1.0
    scored = (status != "invalid_input") & (status != "not_scored")
    branch = {
        "invalid_input": status == "invalid_input",
        "not_scored": status == "not_scored",
        "not_candidate_progression": scored & (rows["progressed"] == 1.0),
    }
    left = scored & ~branch["not_candidate_progression"]
    branch["not_candidate_recist_pd"] = left & (recist == "PD")
    left &= ~branch["not_candidate_recist_pd"]
    entry = _entry(rows["gcig_status"], recist)
    branch["not_candidate_entry"] = left & (entry == 0)
    branch["undetermined"] = left & (entry == -1)
    left &= entry == 1
    branch["withheld"] = left & ((n_missing > 0) | no_kinetics) & (not allow_imputed)
    left &= ~branch["withheld"]
    with np.errstate(invalid="ignore"):
        above = p >= threshold
    branch["resectable"], branch["not_resectable"] = left & above, left & ~above

    code = np.full(n, len(_BRANCHES), dtype=np.intp)       # the branch of each row (none: missing)
    texts = []                                             # (rows, recommendations) of each branch
    out_status, out_reason = status.copy(), reason.copy()
    t2 = threshold_text(threshold)
    for name, mask in branch.items():
        at = np.flatnonzero(mask)
        if not at.size:
            continue
        code[at] = _BRANCHES.index(name)
        if name == "invalid_input":
            texts.append((at, _join("Not scored: ", reason[at], ". " + tail)))
            continue
        if name == "not_scored":
            texts.append((at, _join("No prediction: ", reason[at], ". " + tail)))
            continue
        p2 = _p_texts(p[at], threshold)
        if name == "not_candidate_progression":
            group, day = text_objects(take_text(rows["progression_group"], at)), rows["progression_day"][at]
            named = ~pd.isna(group) & (group != "")
            texts.append((at, _join("Not a candidate for secondary cytoreduction: GCIG CA-125 progression",
                                    np.where(named, text_objects(_join(" (group ", _texts(group), ")")), ""),
                                    np.where(np.isnan(day), "", text_objects(_join(" on day ", _int_texts(day)))),
                                    ". Predicted probability ", p2, " shown for information only. " + tail)))
            continue
        if name == "not_candidate_recist_pd":
            texts.append((at, _join("Not a candidate for secondary cytoreduction: RECIST progressive disease "
                                    "(combined RECIST + CA-125 category PD). Predicted probability ", p2,
                                    " shown for information only. " + tail)))
            continue
        gcig_reason = take_text(rows["gcig_reason"], at)
        if name == "not_candidate_entry":
            texts.append((at, _join("Not a candidate for secondary cytoreduction: no response during the "
                                    "neoadjuvant cycles that meets the entry criterion (RESCUE admits "
                                    f"{_admits()}): RECIST ", _texts(recist[at]), ", GCIG CA-125 ",
                                    _texts(rows["gcig_status"][at]), " (", _why_not_responded(gcig_reason),
                                    "). Predicted probability ", p2, " shown for information only. " + tail)))
            continue
        if name == "undetermined":
            why = _why_not_responded(gcig_reason)
            texts.append((at, _join("Insufficient information: no RECIST category recorded and no confirmed GCIG "
                                    "CA-125 response (", why, "); give the RECIST 1.1 response after the "
                                    f"neoadjuvant cycles (RESCUE admits {_admits()}). Predicted probability ",
                                    p2, f" (threshold {t2}) shown for information only: no decision. {tail}")))
            out_status[at] = "insufficient"
            out_reason[at] = text_objects(_entry_undetermined_reason(gcig_reason))
            continue
        # a response: GCIG (confirmed), else RECIST CR/PR/SD; both texts start with a capital
        gcig = responded[at]
        parts = []
        if gcig.any():
            on = at[gcig]
            parts.append((np.flatnonzero(gcig), _join(
                "GCIG CA-125 response (", _texts(rows["gcig_category"][on]), ") confirmed on day ",
                _int_texts(rows["gcig_confirmation_day"][on]), " (fall on day ",
                _int_texts(rows["gcig_response_day"][on]), ")")))
        if not gcig.all():
            off = np.flatnonzero(~gcig)
            parts.append((off, _join("RECIST ", _texts(recist[at[off]]), " (no confirmed GCIG CA-125 response: ",
                                     _texts(take_text(gcig_reason, off)), ")")))
        basis = scatter_text(at.size, parts)
        names, kin, known, base = missing[at], no_kinetics[at], n_missing[at], no_baseline[at]
        if name == "withheld":
            give = _unknown_inputs(names, known, kin, base, pretreatment_window_days)
            factors = np.where(known == 1, "this factor", "these factors")
            imputed = np.where(~kin, factors, np.where(known > 0, np.char.add(factors, " and the kinetics"),
                                                        "the kinetics"))
            texts.append((at, _join("Insufficient information: give ", give, ". ", basis,
                                    "; the predicted probability ", p2, f" (threshold {t2}) was computed with ",
                                    imputed.astype(object),
                                    f" imputed and is shown for information only: no decision. {tail}")))
            out_status[at] = "insufficient"
            out_reason[at] = text_objects(_insufficient_reason(give, kin, known))
            continue
        imputed = (known > 0) | kin
        if imputed.any():
            both = np.flatnonzero(imputed)
            prefix, kin_both = names[both], kin[both]
            if kin_both.any():          # "ecog and the kinetics ...", or "the kinetics ..." alone
                k = np.flatnonzero(kin_both)
                prefix = prefix.copy()
                prefix[k] = np.where(known[both[k]] > 0, prefix[k] + " and ", "")
            suffix = labels_text([" imputed (allowed by the caller)", _KINETICS_ALLOWED,
                                  _baseline_allowed(pretreatment_window_days)],
                                 kin_both.astype(np.intp) + (kin_both & base[both]).astype(np.intp))
            basis = scatter_text(at.size, [
                (both, _join(take_text(basis, both), "; computed with ", prefix, suffix)),
                (np.flatnonzero(~imputed), take_text(basis, np.flatnonzero(~imputed)))])
        if name == "resectable":
            texts.append((at, _join("Predicted completely resectable: ", basis, "; predicted probability ", p2,
                                    f" >= threshold {t2}. {tail}")))
        else:
            texts.append((at, _join("Predicted not completely resectable: ", basis, "; predicted probability ", p2,
                                    f" < threshold {t2}. {tail}")))
    decision = labels_text([_DECISION_OF.get(b, b) for b in _BRANCHES] + [None], code)
    rule = labels_text([_RULES[b] for b in _BRANCHES] + [None], code)
    # no score column: the clinical predictors that rule 5 would not impute, whichever branch
    # decided the row (the trajectory withholds its landmark decisions on them)
    unknown = np.where((n_missing > 0) & (not allow_imputed), missing, "").astype(object)
    # and those the caller's leave imputed (the trajectory says its decisions rest on them)
    imputed_names = np.where((n_missing > 0) & allow_imputed, missing, "").astype(object)
    return {"decision": decision, "rule": rule, "recommendation": scatter_text(n, texts), "status": out_status,
            "reason": out_reason, "predictors_unknown": unknown, "predictors_imputed": imputed_names}


#: The branches of the decision rule (:data:`_RULES`), in the order they are tried, and the
#: decision of the two that withhold one.
_BRANCHES = tuple(_RULES)
_DECISION_OF = {"undetermined": "insufficient_information", "withheld": "insufficient_information"}


_DECISION_INPUTS = ("status", "reason", "probability", "progressed", "progression_day", "progression_group",
                    "recist", "gcig_status", "gcig_responded", "gcig_category", "gcig_response_day", "gcig_confirmation_day",
                    "gcig_reason")


def _decide(row: Mapping[str, Any], threshold: float, synthetic: bool, *, missing: Sequence[str] = (),
            no_kinetics: bool = False, no_baseline: bool = False, allow_imputed: bool = False) -> tuple[str, str, str]:
    """(decision, rule, recommendation) for one scored row of plain values: :func:`_decisions`
    on one row. ``missing``: the :data:`REQUIRED_PREDICTORS` that are unknown, in the order
    the text names them; ``no_kinetics``: no CA-125 decline for the kinetics to measure (no
    CA-125 after the first dose among the samples they use, or, ``no_baseline``, no
    pretreatment CA-125)."""
    from .result import _columns_from_rows

    columns = _columns_from_rows([row], _DECISION_INPUTS)
    out = _decisions(columns, threshold, synthetic, missing=np.array([", ".join(missing)], dtype=object),
                     n_missing=np.array([len(missing)]), no_kinetics=np.array([bool(no_kinetics)]),
                     no_baseline=np.array([bool(no_baseline)]), allow_imputed=allow_imputed)
    return out["decision"][0], out["rule"][0], out["recommendation"][0]


def _g_texts(values: np.ndarray, spec: str = "g") -> np.ndarray:
    return np.array([format(v, spec) for v in values.tolist()], dtype=object)


def _warnings(batch, rows: Mapping[str, np.ndarray], clinical: Mapping[str, np.ndarray], bundle,
              ranges: Mapping, unknown: tuple[np.ndarray, np.ndarray], n_excluded: np.ndarray,
              unseen: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
              candidate_day: np.ndarray | None = None) -> np.ndarray:
    """Per-patient warnings (strings; never Python warnings), ``"; "``-joined, ``""`` for none.

    ``batch`` is the scored ``PatientBatch``; ``rows`` the score columns as the engine holds
    them; ``clinical`` the model's patient-level inputs (the clinical factors and
    ``ca125_at_recurrence``; float64 NaN unknown, or text None unknown); ``unknown`` the
    :func:`_name_lists` of the clinical factors of ``clinical`` that are unknown (the
    decision rule's ``missing`` and ``n_missing``); ``n_excluded`` the number of samples each
    patient's GCIG rules set aside (NaN unknown); ``unseen`` per categorical predictor the
    patients whose level the model never learned, and their values (counted among the
    unknown: the warning says why); ``candidate_day`` the day of a GCIG progression candidate
    awaiting its confirmation (NaN for none). An invalid patient gets no warning.
    """
    ks, gs = bundle.kinetics_settings, bundle.gcig_settings
    n = batch.n
    warned = rows["status"] != "invalid_input"
    codes = batch.codes
    valued = ~np.isnan(batch.ca125) & warned[codes]
    day = batch.day
    pieces: list[tuple[np.ndarray, np.ndarray]] = []    # (patients, texts), in the order shown

    in_window = np.bincount(codes[valued & (day >= -ks.pretreatment_window_days) & (day <= ks.window_days)],
                            minlength=n)
    few = np.flatnonzero(warned & (in_window < ks.min_samples))
    texts = np.array([f"only {c} CA-125 value(s) between day {-ks.pretreatment_window_days} and "
                      f"day {ks.window_days}: the KELIM-like k needs at least {ks.min_samples} "
                      "(the estimate leans on the population prior)" for c in range(ks.min_samples)], dtype=object)
    pieces.append((few, texts[in_window[few]]))

    late = valued & (day > ks.window_days)
    if late.any():
        patients, count, listed = _named_samples(batch, late)
        pieces.append((patients, text_objects(_int_texts(count.astype(float)))
                       + f" value(s) beyond day {ks.window_days} (" + listed + ") are not used by the kinetics fit"))

    pieces.append(_assay_changes(batch, valued & (day >= -ks.pretreatment_window_days) & (day <= ks.window_days)
                                 & ~_set_aside(batch, ks)))

    # what the reader noticed without refusing (samples without a ULN beside samples with one):
    # the result says it, as the reader's Python warning does (the web server logs no warning)
    notes = batch.notes
    if notes is not None:
        noted = np.flatnonzero(warned & np.fromiter((bool(t) for t in notes), dtype=bool, count=n))
        pieces.append((noted, np.array([_notes_text(notes[i]) for i in noted.tolist()], dtype=object)))

    uln = rows["gcig_uln"]
    uln = np.where(np.isnan(uln) | (uln == 0), gs.uln, uln)
    base = rows["gcig_baseline_value"]
    limit = gs.evaluable_factor * uln
    no_base = np.isnan(base)
    with np.errstate(invalid="ignore"):
        low = warned & ~no_base & (base < limit)
    absent = np.flatnonzero(warned & no_base)
    # without a baseline the GCIG reason says which rule applied (no pretreatment sample, an
    # assay or ULN change, ...); a patient without markers has none
    # (warnings are "; "-joined: a reason's own "; " becomes ", ", so that it stays one warning)
    why = text_objects(take_text(rows["gcig_reason"], absent)).tolist()
    pieces.append((absent, np.array([
        "GCIG response " + w.replace("; ", ", ") if isinstance(w, str) and w.startswith("not evaluable")
        else f"no pretreatment CA-125 within {gs.baseline_window_days} days before the first dose: GCIG "
             "response not evaluable" for w in why], dtype=object)))
    with np.errstate(invalid="ignore"):
        excluded = np.flatnonzero(warned & (n_excluded > 0))
    if excluded.size:
        # named by the kinetics' exclusion rule under the GCIG window: the GCIG rule (the same
        # convention); the kinetics set the same samples aside when their window is the GCIG's
        patients, _, listed = _named_samples(batch, valued & np.isin(codes, excluded) & _set_aside(batch, gs))
        names = np.full(n, "", dtype=object)
        names[patients] = text_objects(listed)
        by = "the GCIG reading" + (" or the kinetics fit" if ks.interference_window_days == gs.interference_window_days
                                   else "")
        pieces.append((excluded, text_objects(_int_texts(n_excluded[excluded].astype(float)))
                       + " sample(s) excluded by the GCIG rules (drawn on the day of, or within "
                       + f"{gs.interference_window_days} days after, paracentesis, thoracentesis or surgery, or on or "
                         f"after mouse antibody administration), not used by {by}: " + names[excluded]))
    if candidate_day is not None:
        # the latest CA-125 reached the progression threshold, not yet confirmed: one more sample
        # can turn the decision into "not a candidate" (rule 2), so the result says so
        pending = np.flatnonzero(warned & ~np.isnan(candidate_day))
        group = text_objects(take_text(rows["progression_group"], pending))
        pieces.append((pending, "GCIG CA-125 progression candidate on day "
                       + text_objects(_int_texts(candidate_day[pending])) + " (group " + group.astype(object)
                       + f") awaits confirmation: a sample >= {gs.progression_gap_days} days later at or above its "
                         "threshold would be a GCIG progression, and the patient not a candidate (see "
                         "progression_reason)"))
    low = np.flatnonzero(low)
    pieces.append((low, "pretreatment CA-125 " + _g_texts(base[low]) + f" U/mL is below {gs.evaluable_factor:g} x ULN ("
                   + _g_texts(limit[low]) + " U/mL): GCIG response not evaluable"))

    n_cens = np.bincount(codes[valued & batch.censored], minlength=n)
    cens = np.flatnonzero(n_cens > 0)
    pieces.append((cens, text_objects(_int_texts(n_cens[cens].astype(float)))
                   + " value(s) reported below the assay limit ('<x'), used as upper bounds"))

    for name, (mask, values) in (unseen or {}).items():
        at = np.flatnonzero(mask & warned)
        pieces.append((at, np.array([unseen_text(name, v) for v in values[at].tolist()], dtype=object)))
    names, n_unknown = unknown
    some = np.flatnonzero(warned & (n_unknown > 0))
    pieces.append((some, "clinical factor(s) unknown: " + names[some] + " (the model imputes them)"))

    pieces += _range_pieces(ranges, lambda feature: rows.get(feature) if feature in rows else clinical.get(feature),
                            warned)
    return _joined(n, pieces)


def _named_samples(batch, selected: np.ndarray, at_most: int = 5) -> tuple:
    """``(patients, counts, texts)`` of the batch's rows ``selected`` (a row mask; rows by
    patient, then day): per patient with such rows, how many, and the first ``at_most`` as
    ``"380 U/mL on day 10, <5 U/mL on day 130"`` (a censored value as reported; ``", ..."``
    when there are more)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    rows = np.flatnonzero(selected)
    patients, first, count = np.unique(batch.codes[rows], return_index=True, return_counts=True)
    shown = rows[np.arange(rows.size) - np.repeat(first, count) < at_most]
    each = _join(np.where(batch.censored[shown], "<", "").astype(object), _g_texts(batch.ca125[shown]),
                 " U/mL on day ", _int_texts(np.asarray(batch.day[shown], dtype=float)))
    offsets = np.concatenate([[0], np.cumsum(np.minimum(count, at_most))]).astype(np.int32)
    each = each if is_arrow(each) else pa.array(each, type=pa.string())
    listed = pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), each), ", ").to_numpy(zero_copy_only=False)
    return patients, count, listed + np.where(count > at_most, ", ...", "").astype(object)


def _set_aside(batch, ks) -> np.ndarray:
    """The rows the kinetics set aside after a procedure or mouse antibodies (the fits' own
    rule, ``kinetics._event_exclusions``, on the batch's rows: by patient, then day); with
    ``GcigSettings`` for ``ks``, the rows the GCIG rules exclude (the same convention, the
    GCIG window)."""
    from ..kinetics import _event_exclusions

    rows = np.flatnonzero(pd.notna(batch.event))
    if not rows.size:
        return np.zeros(len(batch.day), dtype=bool)
    return _event_exclusions(batch.codes, np.asarray(batch.day, dtype=float), rows, batch.event[rows], batch.ids, ks)


def unseen_text(name: str, value) -> str:
    """The warning of a categorical value the model never learned (counted as unknown by rule
    5): one wording for every model's warnings."""
    return (f"{name} {value!r} is not a level the model was trained on (none of its training patients had it): "
            "read as unknown")


def _assay_changes(batch, used: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(patients, texts)`` of the patients whose samples the kinetics use (rows ``used``, in
    the batch's order: by patient, then day) were measured by more than one named assay. The
    GCIG rules make such a patient not evaluable; the KELIM-like fit has no such rule and
    uses every sample, so the warning says that k, and the probability resting on it, mix
    assays. An unnamed assay is no change, as in the GCIG rules."""
    named = pd.notna(batch.assay)
    rows = np.flatnonzero(used & named)
    none = np.zeros(0, dtype=np.intp), np.zeros(0, dtype=object)
    if rows.size < 2:
        return none
    names = batch.assay[rows]
    patient = batch.codes[rows]
    # a patient's rows are consecutive: a change of assay is a change between neighbours
    same = patient[1:] == patient[:-1]
    step = np.flatnonzero(same & (names[1:] != names[:-1])) + 1
    if not step.size:
        return none
    changed, at = np.unique(patient[step], return_index=True)
    first = np.searchsorted(patient, changed)          # each changed patient's first named row
    texts = [f"CA-125 from more than one assay in the kinetics' samples ({batch.assay[rows[f]]!r} on day "
             f"{batch.day[rows[f]]:g}, {batch.assay[rows[o]]!r} from day {batch.day[rows[o]]:g}): the "
             "KELIM-like k, and the probability resting on it, mix assays (interpret with care)"
             for f, o in zip(first.tolist(), step[at].tolist())]
    return changed, np.array(texts, dtype=object)


def _range_pieces(ranges: Mapping, value_of, warned: np.ndarray) -> list:
    """``(patients, texts)`` of the values outside the training range (``ranges``: feature ->
    (low, high), e.g. ``ModelBundle.feature_ranges``), in the training's order whatever the
    model file's (a scoring file's JSON sorts its keys); ``value_of(feature)`` is a float array
    per patient (None, or text, for a feature not checked); only ``warned`` patients. One rule
    for every model's warnings (the default task's and any other's)."""
    checked = []            # (feature, values, lo, hi) of the numeric inputs with a range
    order = {name: i for i, name in enumerate(_RANGE_ORDER)}
    for feature, bounds in sorted(ranges.items(), key=lambda item: (order.get(item[0], len(order)), item[0])):
        value = value_of(feature)
        if value is None or value.dtype == object:     # unknown to the model, or text
            continue
        try:
            checked.append((feature, value, float(bounds[0]), float(bounds[1])))
        except (TypeError, ValueError, IndexError):
            continue
    pieces = []
    if checked:
        values = np.stack([v for _, v, _, _ in checked])
        lo, hi = (np.array([[c[k]] for c in checked]) for k in (2, 3))
        with np.errstate(invalid="ignore"):
            outside = ((values < lo) | (values > hi)) & warned
        for k in np.flatnonzero(outside.any(axis=1)).tolist():
            feature, value, low, high = checked[k]
            out = np.flatnonzero(outside[k])
            pieces.append((out, f"{feature} " + _g_texts(value[out], ".4g")
                           + f" is outside the training range {low:.4g}..{high:.4g} (extrapolation: interpret with "
                             "care)"))
    return pieces


def _notes_text(texts) -> str:
    """A patient's reader notes as one piece of its ``warnings``, which are ``"; "``-joined:
    a note's own ``"; "`` becomes ``", "`` so that it stays one warning (every scoring path,
    the default task's and a task model's, writes them so)."""
    return "; ".join(t.replace("; ", ", ") for t in texts)


def _joined(n: int, pieces) -> np.ndarray:
    """Per patient, the ``"; "``-joined texts of ``pieces`` (``(patients, texts)``, in order)."""
    joined = np.full(n, "", dtype=object)
    for patients, texts in pieces:
        if patients.size:
            before = joined[patients]
            joined[patients] = np.where(before == "", texts, before + "; " + texts)
    return joined
