"""Marker response features of the rectal literature: post/pre ratio, normalisation, clearance.

Beside the KELIM-like rate ``k`` and half-life (:func:`ca125kinetics.fit_kinetics`), rectal
studies of CEA during neoadjuvant therapy use three simple response features. They are
marker-agnostic (CA-125 or CEA) and computed, for every patient of a cohort at once, on the
samples the kinetics use: the same window, pretreatment window and event exclusions
(:class:`~ca125kinetics.settings.KineticsSettings`, applied by the kinetics' own sample
selection, never a second copy of those rules).

Features (one row per patient)
    ``post_pre_ratio`` = ``C_post / C_pre``: ``C_pre`` is the baseline (the latest used
    sample with ``-pretreatment_window_days <= day <= 0``), ``C_post`` the last used
    on-treatment sample (``0 < day <= window_days``; its day is ``post_day``). A ratio
    below 1 is a decline (J Cancer 2020;11:6565-6570: the post/pre CEA ratio predicted
    tumour regression and downstaging in 284 patients with raised baseline CEA).
    ``normalised``: ``C_post <= ULN_post`` given ``C_pre > ULN_pre``, each sample against its
    own ULN (the ``uln`` of its row): ``uln`` records the baseline sample's, ``post_uln`` the
    post sample's, which differs after a change of assay or laboratory; NA when
    ``C_pre <= ULN_pre`` (nothing to normalise) or when either sample is missing.
    Normalisation went with better DFS in the same study.
    ``clearance_r2``: ``R^2 = 1 - RSS / TSS`` of the ordinary least-squares fit of
    ``log C`` on ``t = max(day, 0)`` over all used samples (baseline and on-treatment);
    ``clearance_slope`` its slope per day. ``exponential_clearance``: ``R^2 >
    clearance_r2_threshold`` (default 0.9, :class:`~ca125kinetics.settings.ResponseSettings`)
    and a negative slope -- the FOWARC pattern (BMC Cancer 2018;18:1145: an exponential CEA
    decline at weeks 2, 4, 6, 8 and 14 with fit R^2 > 0.9 independently predicted
    ypT0-2N0 and pCR). NA with fewer than ``KineticsSettings.min_samples`` used samples,
    when every used value is equal, or when every used sample is pretreatment (no time
    span).

Convention
    A censored ``"<x"`` value enters at its limit ``x`` (as the kinetics descriptors do), so
    a censored ``C_post`` makes the ratio an upper bound (``post_censored`` says so) and a
    censored ``C_pre`` a lower bound (``baseline_censored``); with both censored the ratio
    is bounded neither way and is NA. **Never guessed**: whether a ``"<x"`` baseline was
    raised is unknown, so its normalisation is NA; a ``"<x"`` post value is normal when
    ``x <= ULN_post`` and undetermined (NA) when ``x > ULN_post``. A patient whose input is invalid
    (a used value of 0 included, as in the kinetics) gets NA features and the reason.

References
----------
J Cancer 2020;11:6565-6570 (post/pre CEA ratio, normalisation; Sun Yat-sen University).
BMC Cancer 2018;18:1145 (FOWARC post-hoc analysis: exponential CEA clearance, R^2 > 0.9).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._gcig_kernel import at_most
from .errors import _invalid_reason
from .markers import MarkerSpec, get_marker
from .settings import KineticsSettings, ResponseSettings

__all__ = ["response_features", "RESPONSE_COLUMNS"]

#: Columns of :func:`response_features`, in order.
RESPONSE_COLUMNS = (
    "patient_id", "marker", "uln", "n_samples", "baseline_value", "baseline_day",
    "baseline_censored", "post_value", "post_day", "post_censored", "post_uln", "post_pre_ratio", "normalised",
    "clearance_slope", "clearance_r2",
    "exponential_clearance", "clearance_r2_threshold", "response_reason",
)


def response_features(markers: pd.DataFrame, *, marker: str | MarkerSpec | None = None,
                      settings: KineticsSettings | None = None,
                      response: ResponseSettings | None = None) -> pd.DataFrame:
    """Post/pre ratio, normalisation and exponential-clearance fit of every patient.

    Parameters
    ----------
    markers : pandas.DataFrame
        Canonical long markers frame (:func:`ca125kinetics.read_markers`) or the wide form
        of :func:`ca125kinetics.series_to_wide`.
    marker : str or MarkerSpec, optional
        ``"ca125"`` (default) or ``"cea"``: the value column read (as in the kinetics).
    settings : KineticsSettings, optional
        Which samples are used (default ``KineticsSettings()`` with the marker's ULN).
    response : ResponseSettings, optional
        The clearance threshold (default ``R^2 > 0.9``).

    Returns
    -------
    pandas.DataFrame
        One row per patient (order of :func:`ca125kinetics.fit_kinetics`) with the columns
        :data:`RESPONSE_COLUMNS`: see the module docstring. ``normalised`` and
        ``exponential_clearance`` are nullable booleans; ``response_reason`` is None when
        every feature is defined, else says which is missing and why.

    Examples
    --------
    >>> from ca125kinetics.synth_rectal import simulate_rectal_cohort
    >>> table = response_features(simulate_rectal_cohort(50, seed=1).markers, marker="cea")
    >>> list(table.columns[:3])
    ['patient_id', 'marker', 'uln']
    """
    from .kinetics import _describe, _settings, _to_batch

    spec = get_marker(marker)
    s = _settings(settings, spec)
    r = ResponseSettings() if response is None else response
    if not isinstance(r, ResponseSettings):
        from .errors import InvalidInputError

        raise InvalidInputError(f"response must be a ResponseSettings, got {type(r).__name__}")
    batch = _to_batch(markers, s, spec)
    d = _describe(batch, s)
    n = batch.n_patients
    invalid = batch.problem != None  # noqa: E711 - elementwise on an object array
    pre, post = d["baseline_value"], d["last_value"]
    pre_cens, post_cens = d["baseline_censored"], d["last_censored"]
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = post / pre
        r2 = 1.0 - d["loglinear_rss"] / d["loglinear_tss"]
    # "<x" baseline: raised or not is unknown; "<x" post with x > ULN: normal or not is unknown.
    # "Within the normal range" with the relative slack of the kinetics and GCIG rules
    # (at_most): a value a rounding error above the ULN is at the ULN, as the kinetics read
    # it. Each sample against its own ULN: after a change of assay the post sample's range
    # applies. (A missing value is neither; has_both below leaves it out.)
    pre_high = ~at_most(pre, batch.uln) & ~np.isnan(pre)
    post_normal = at_most(post, batch.last_uln)
    raised = pre_high & ~pre_cens
    post_known = ~post_cens | post_normal
    has_both = ~np.isnan(pre) & ~np.isnan(post)
    bounded = has_both & ~(pre_cens & post_cens)     # "<y" / "<x" bounds the ratio neither way
    judged = raised & has_both & post_known
    fit_ok = ((d["n_samples"] >= s.min_samples) & (d["loglinear_tss"] > 0) & np.isfinite(d["slope"])
              & ~invalid)
    r2 = np.where(fit_ok, r2, np.nan)
    slope = np.where(fit_ok, d["slope"], np.nan)
    normalised = pd.array(np.where(judged, post_normal, False), dtype="boolean")
    normalised[~judged] = pd.NA
    clearance = pd.array((r2 > r.clearance_r2_threshold) & (slope < 0), dtype="boolean")
    clearance[~fit_ok] = pd.NA
    return pd.DataFrame({
        "patient_id": batch.ids.to_numpy(dtype=object),
        "marker": np.full(n, spec.name, dtype=object),
        "uln": batch.uln,
        "n_samples": d["n_samples"],
        "baseline_value": pre,
        "baseline_day": d["baseline_day"],
        "baseline_censored": pre_cens,
        "post_value": post,
        "post_day": d["last_day"],
        "post_censored": d["last_censored"],
        "post_uln": np.where(np.isnan(post), np.nan, batch.last_uln),
        "post_pre_ratio": np.where(bounded, ratio, np.nan),
        "normalised": normalised,
        "clearance_slope": slope,
        "clearance_r2": r2,
        "exponential_clearance": clearance,
        "clearance_r2_threshold": np.full(n, float(r.clearance_r2_threshold)),
        "response_reason": pd.Series(_reasons(batch, d, s, spec, invalid, bounded, judged, fit_ok, pre_high,
                                              ~post_normal),
                                     dtype=object),   # object: None stays None (pandas 3 infers str)
    }, columns=list(RESPONSE_COLUMNS))


def _reasons(batch, d, s: KineticsSettings, spec: MarkerSpec, invalid, bounded, judged, fit_ok, pre_high,
             post_high) -> np.ndarray:
    """Why a feature is NA (None when every feature is defined); ``pre_high`` and ``post_high``
    say whether the baseline and the post value are above their normal ranges, as
    :func:`response_features` reads them."""
    out = np.full(batch.n_patients, None, dtype=object)
    window = f"days -{s.pretreatment_window_days}..{s.window_days}"
    unit = spec.unit
    for i in np.flatnonzero(invalid | ~bounded | ~judged | ~fit_ok):
        if invalid[i]:
            out[i] = _invalid_reason(batch.problem[i])
            continue
        pre, post, uln = d["baseline_value"][i], d["last_value"][i], batch.uln[i]
        pre_cens, post_cens = d["baseline_censored"][i], d["last_censored"][i]
        parts = []
        if np.isnan(pre):
            parts.append(f"no usable pretreatment sample in days -{s.pretreatment_window_days}..0: "
                         "no ratio, normalisation")
        elif np.isnan(post):
            parts.append(f"no usable on-treatment sample in {window}: no ratio, normalisation")
        else:
            if pre_cens and post_cens:
                parts.append(f"baseline and post value both reported below the assay limit "
                             f"(<{pre:g}, <{post:g} {unit}): the ratio is bounded neither way, not reported")
            if pre_cens and pre_high[i]:
                parts.append(f"baseline reported below the assay limit (<{pre:g} {unit}), a limit above "
                             f"the ULN ({uln:g} {unit}): whether it was raised is unknown, normalisation "
                             "undetermined")
            elif pre_cens:
                parts.append(f"baseline reported below the assay limit (<{pre:g} {unit}), at or below the "
                             f"ULN ({uln:g} {unit}): normalisation undefined")
            elif not pre_high[i]:
                parts.append(f"baseline {pre:g} {unit} not above the ULN ({uln:g} {unit}): "
                             "normalisation undefined")
            elif post_cens and post_high[i]:
                parts.append(f"post value reported below the assay limit (<{post:g} {unit}), a limit above "
                             f"its ULN ({batch.last_uln[i]:g} {unit}): normalisation undetermined")
        if not fit_ok[i]:
            if d["n_samples"][i] < s.min_samples:
                parts.append(f"{d['n_samples'][i]} usable sample(s) in {window}, clearance fit needs "
                             f"{s.min_samples}")
            elif not np.isfinite(d["slope"][i]):
                parts.append("every used sample is pretreatment (t = 0): no time span, clearance "
                             "slope and R^2 undefined")
            else:
                parts.append("all used values equal: clearance R^2 undefined")
        out[i] = "; ".join(parts)
    return out
