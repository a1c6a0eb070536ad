"""The decision rule (module docstring of :mod:`ca125kinetics.predict`) and the per-patient
warnings of a scored row.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from ..io import CLINICAL_FACTORS
from .result import _is_missing


#: Values of the ``decision`` column, in the order the rules are tried.
DECISIONS = (
    "invalid_input",
    "not_scored",
    "not_candidate_progression",
    "not_candidate_recist_pd",
    "insufficient_information",
    "resectable",
    "not_resectable",
)


DISCLAIMER = "Research software, not a medical device."


SYNTHETIC_NOTE = "Model trained on synthetic data."


_RESPONSE_RECIST = ("CR", "PR", "SD")
#: Clinical predictors the model needs for a decision: when one is unknown the model imputes
#: it, and the decision is withheld unless the caller allows imputed values (``allow_imputed``).
REQUIRED_PREDICTORS = CLINICAL_FACTORS


def _fmt_p(p: float) -> str:
    return f"{p:.2f}"


def _insufficient_reason(missing: Sequence[str]) -> str:
    return (f"insufficient information: give {', '.join(missing)}; the probability shown was computed "
            "with them imputed, so no decision is made (allow_imputed=True, ca125 score "
            "--allow-imputed or the API field allow_imputed decides on it anyway)")


def _entry_met(row: Mapping[str, Any]) -> bool | None:
    """RESCUE's response criterion: True with a confirmed GCIG CA-125 response or RECIST CR/PR/SD;
    None (undetermined) without a GCIG response when RECIST is not recorded, since RECIST may
    still admit the patient; RECIST PD is handled before (not a candidate)."""
    if bool(row.get("gcig_responded")) or row.get("recist") in _RESPONSE_RECIST:
        return True
    return None


def _entry_undetermined_reason(row: Mapping[str, Any]) -> str:
    why = row.get("gcig_reason") or "GCIG response not assessed"
    return ("insufficient information: give recist, the RECIST 1.1 category after the neoadjuvant "
            f"cycles (CR, PR, SD or PD): without a confirmed GCIG CA-125 response ({why}) the entry "
            "criterion (RECIST CR/PR/SD or a GCIG response) cannot be judged, so no decision is made")


def _decide(row: Mapping[str, Any], threshold: float, synthetic: bool, *, missing: Sequence[str] = (),
            allow_imputed: bool = False) -> tuple[str, str, str]:
    """(decision, rule, recommendation) for one scored row (module docstring, Decision rule).

    ``missing``: the :data:`REQUIRED_PREDICTORS` that are unknown (imputed by the model).
    """
    tail = DISCLAIMER + (" " + SYNTHETIC_NOTE if synthetic else "")
    status = row["status"]
    if status == "invalid_input":
        return ("invalid_input", "input breaks the data contract",
                f"Not scored: {row['reason']}. {tail}")
    if status == "not_scored":
        return ("not_scored", "the model could not score the patient",
                f"No prediction: {row['reason']}. {tail}")
    p = float(row["probability"])
    recist = row.get("recist")
    if row.get("progressed"):
        day = row.get("progression_day")
        group = row.get("progression_group")
        text = (f"Not a candidate for secondary cytoreduction: GCIG CA-125 progression"
                f"{f' (group {group})' if group else ''}{f' on day {day}' if day is not None else ''}. "
                f"Predicted probability {_fmt_p(p)} shown for information only. {tail}")
        return "not_candidate_progression", "GCIG CA-125 progression -> not a candidate", text
    if recist == "PD":
        text = (f"Not a candidate for secondary cytoreduction: RECIST progressive disease "
                f"(combined RECIST + CA-125 category PD). Predicted probability {_fmt_p(p)} shown for "
                f"information only. {tail}")
        return "not_candidate_recist_pd", "RECIST PD -> not a candidate", text
    if _entry_met(row) is None:
        text = (f"Insufficient information: no RECIST category recorded and no confirmed GCIG CA-125 "
                f"response ({row.get('gcig_reason') or 'GCIG response not assessed'}); give the RECIST 1.1 "
                f"response after the neoadjuvant cycles (RESCUE admits RECIST CR/PR/SD or a GCIG response). "
                f"Predicted probability {_fmt_p(p)} (threshold {_fmt_p(threshold)}) shown for information "
                f"only: no decision. {tail}")
        return ("insufficient_information",
                "no GCIG CA-125 response and RECIST unknown -> entry criterion undetermined (insufficient "
                "information)", text)
    if row.get("gcig_responded"):
        basis = (f"GCIG CA-125 response ({row.get('gcig_category')}) confirmed on day "
                 f"{row.get('gcig_confirmation_day')} (fall on day {row.get('gcig_response_day')})")
    else:
        basis = f"RECIST {recist} (no confirmed GCIG CA-125 response: {row.get('gcig_reason')})"
    if missing and not allow_imputed:
        text = (f"Insufficient information: give {', '.join(missing)}. {basis[0].upper() + basis[1:]}; the "
                f"predicted probability {_fmt_p(p)} (threshold {_fmt_p(threshold)}) was computed with "
                f"{'this factor' if len(missing) == 1 else 'these factors'} imputed and is shown for "
                f"information only: no decision. {tail}")
        return ("insufficient_information",
                "response, but clinical predictors unknown -> decision withheld (insufficient information)", text)
    if missing:
        basis += f"; computed with {', '.join(missing)} imputed (allowed by the caller)"
    if p >= threshold:
        text = (f"Predicted completely resectable: {basis}; predicted probability {_fmt_p(p)} >= "
                f"threshold {_fmt_p(threshold)}. {tail}")
        return "resectable", "response and probability >= threshold -> predicted completely resectable", text
    text = (f"Predicted not completely resectable: {basis}; predicted probability {_fmt_p(p)} < "
            f"threshold {_fmt_p(threshold)}. {tail}")
    return "not_resectable", "response and probability < threshold -> predicted not completely resectable", text


def _warnings(row: Mapping[str, Any], patient: Mapping[str, Any], samples: tuple, bundle, ranges: Mapping) -> list[str]:
    """Per-patient warnings (strings; never Python warnings)."""
    if row["status"] == "invalid_input":
        return []
    ks, gs = bundle.kinetics_settings, bundle.gcig_settings
    out: list[str] = []
    valued = [(d, v, c) for d, v, c, _ in samples if v is not None]
    window = [s for s in valued if -ks.pretreatment_window_days <= s[0] <= ks.window_days]
    if len(window) < ks.min_samples:
        out.append(f"only {len(window)} CA-125 value(s) between day {-ks.pretreatment_window_days} and "
                   f"day {ks.window_days}; the KELIM-like k needs at least {ks.min_samples} "
                   "(the estimate leans on the population prior)")
    late = [d for d, _, _ in valued if d > ks.window_days]
    if late:
        out.append(f"{len(late)} value(s) beyond day {ks.window_days} (day {', '.join(map(str, late[:5]))}) "
                   "are not used by the kinetics fit")
    uln = row.get("gcig_uln") or gs.uln
    base = row.get("gcig_baseline_value")
    limit = gs.evaluable_factor * uln
    if base is None:
        out.append(f"no pretreatment CA-125 within {gs.baseline_window_days} days before the first dose: "
                   "GCIG response not evaluable")
    elif base < limit:
        out.append(f"pretreatment CA-125 {base:g} U/mL is below {gs.evaluable_factor:g} x ULN "
                   f"({limit:g} U/mL): GCIG response not evaluable")
    n_cens = sum(1 for _, _, c in valued if c)
    if n_cens:
        out.append(f"{n_cens} value(s) reported below the assay limit ('<x'), used as upper bounds")
    missing = [c for c in CLINICAL_FACTORS if c in patient and _is_missing(patient[c])]
    if missing:
        out.append(f"clinical factor(s) unknown: {', '.join(missing)} (the model imputes them)")
    for feature, bounds in ranges.items():
        value = row.get(feature) if feature in row else patient.get(feature)
        if _is_missing(value) or isinstance(value, str):
            continue
        try:
            lo, hi = float(bounds[0]), float(bounds[1])
            v = float(value)
        except (TypeError, ValueError, IndexError):
            continue
        if v < lo or v > hi:
            out.append(f"{feature} {v:.4g} is outside the training range {lo:.4g}..{hi:.4g} "
                       "(extrapolation: interpret with care)")
    return out
