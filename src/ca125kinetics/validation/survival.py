"""Time-to-event summaries for validation studies: Kaplan-Meier, median, log-rank, Cox.

Thin, documented wrappers around ``statsmodels.duration`` that take plain arrays (or a
DataFrame for :func:`cox`), validate them with actionable errors, and return tidy frames or
frozen results. Time is in whatever unit the caller uses (months of PFS in RESCUE); an event
is 1 (progression or death), 0 means censored at that time.

References
----------
Kaplan EL, Meier P. Nonparametric estimation from incomplete observations. J Am Stat Assoc
1958;53:457-481. Greenwood M. The natural duration of cancer. Reports on Public Health and
Medical Subjects 1926;33:1-26. Kalbfleisch JD, Prentice RL. The Statistical Analysis of Failure
Time Data. Wiley 1980 (log-log interval). Brookmeyer R, Crowley J. A confidence interval for the
median survival time. Biometrics 1982;38:29-41. Mantel N. Evaluation of survival data and two
new rank order statistics arising in its consideration. Cancer Chemother Rep 1966;50:163-170.
Cox DR. Regression models and life-tables. J R Stat Soc B 1972;34:187-220. Efron B. The
efficiency of Cox's likelihood function for censored data. J Am Stat Assoc 1977;72:557-565.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import DataQualityWarning, InsufficientDataError, InvalidInputError
from .metrics import _as_1d, _check_conf_level, _Result, check_labels, refuse_bad, same_rows

__all__ = ["kaplan_meier", "median_survival", "logrank", "LogrankResult", "logrank_z", "cox", "CONF_TYPES"]

#: Pointwise interval transforms of the Kaplan-Meier curve and the statsmodels method used
#: for the matching Brookmeyer-Crowley interval of the median.
CONF_TYPES = {"log-log": "cloglog", "log": "log", "plain": "linear"}


def _check_time_event(time, event) -> tuple[np.ndarray, np.ndarray]:
    t_raw = _as_1d(time, "time")
    try:
        t = t_raw.astype(float)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"time must be numeric (e.g. months from randomisation), got values such as {t_raw[0]!r}",
            column="time",
        ) from None
    refuse_bad(t_raw, np.flatnonzero(~np.isfinite(t) | (t < 0)), "time", "be finite and >= 0",
               "give every patient a follow-up time (censor at the last visit if needed)")
    e_raw = _as_1d(event, "event")
    if e_raw.shape[0] != t.shape[0]:
        raise InvalidInputError(
            f"event has {e_raw.shape[0]} values but time has {t.shape[0]}; pass one event "
            "indicator per patient",
            column="event",
        )
    try:
        e = e_raw.astype(float)
    except (TypeError, ValueError):
        e = np.full(e_raw.shape, np.nan)
    refuse_bad(e_raw, np.flatnonzero(~np.isin(e, (0.0, 1.0))), "event",
               "be 1 (event observed) or 0 (censored)", "recode it as 0/1")
    if t.size == 0:
        raise InvalidInputError("time and event are empty; at least one patient is needed")
    return t, e.astype(np.int64)


def _check_group(group, n: int, name: str = "group", index=None) -> np.ndarray:
    """``group`` (or the strata: ``name``) as an array of one label per patient, none missing
    and none written as two types (:func:`~ca125kinetics.validation.metrics.check_labels`);
    with ``index`` (the rows of a DataFrame), a missing one is named by its row label."""
    g = _as_1d(group, name)
    if g.shape[0] != n:
        raise InvalidInputError(
            f"{name} has {g.shape[0]} values but time has {n}; pass one {name} label per patient",
            column=name,
        )
    missing = np.flatnonzero(pd.isna(g))
    if missing.size:
        at = (f"in {missing.size} row(s), first at row {index[missing[0]]!r}" if index is not None
              else f"at position {missing[0]}")
        what, drop = (("group", "leave them out of all arrays") if index is None and name == "group" else
                      ("stratum", "leave them out of all arrays") if index is None else
                      ("stratum", "drop those rows before fitting"))
        raise InvalidInputError(
            f"{name if index is None else f'strata column {name!r}'} is missing {at}; give every patient a "
            f"{what} (e.g. 'unknown') or {drop}",
            row=index[missing[0]] if index is not None else int(missing[0]),
            column=name,
        )
    check_labels(g, name, what=None if index is None else f"strata column {name!r}")
    return g


def _check_conf(conf_level: float, conf_type: str) -> float:
    conf_level = _check_conf_level(conf_level)
    if conf_type not in CONF_TYPES:
        raise InvalidInputError(f"conf_type must be one of {sorted(CONF_TYPES)}, got {conf_type!r}")
    return conf_level


def _labels(g: np.ndarray) -> list:
    """Distinct group labels, sorted (by their text when the labels are of mixed types)."""
    labels = pd.unique(pd.Series(g)).tolist()
    try:
        return sorted(labels)
    except TypeError:
        return sorted(labels, key=str)


def _groups(time, event, group):
    """Yield (label, time, event) per group in sorted label order (one None group if absent)."""
    same_rows(time=time, event=event, group=group)
    t, e = _check_time_event(time, event)
    if group is None:
        yield None, t, e
        return
    g = _check_group(group, t.size)
    for label in _labels(g):
        mask = g == label
        yield label, t[mask], e[mask]


def _pointwise_ci(surv, se, z, conf_type):
    """Pointwise interval of S(t) from its Greenwood SE."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if conf_type == "plain":
            low, high = surv - z * se, surv + z * se
        elif conf_type == "log":
            half = z * se / surv
            low, high = surv * np.exp(-half), surv * np.exp(half)
        else:  # log-log: log(-log S) +/- z se / (S |log S|)
            half = z * se / (surv * np.abs(np.log(surv)))
            low = surv ** np.exp(half)
            high = surv ** np.exp(-half)
    low = np.clip(np.where(surv >= 1.0, 1.0, low), 0.0, 1.0)
    high = np.clip(np.where(surv >= 1.0, 1.0, high), 0.0, 1.0)
    zero = surv <= 0.0
    low = np.where(zero, np.nan, low)
    high = np.where(zero, np.nan, high)
    return low, high


def kaplan_meier(
    time, event, group=None, *, conf_level: float = 0.95, conf_type: str = "log-log"
) -> pd.DataFrame:
    """Kaplan-Meier curve(s) as a tidy frame with Greenwood intervals and numbers at risk.

    Parameters
    ----------
    time : array-like of float >= 0
        Follow-up time of each patient.
    event : array-like of 0/1
        1 if the event was observed at ``time``, 0 if censored then.
    group : array-like, optional
        Group label of each patient; one curve per group (sorted labels).
    conf_level : float
        Level of the pointwise interval (default 0.95).
    conf_type : {"log-log", "log", "plain"}
        Transformation of the pointwise interval. ``"log-log"`` (default; Kalbfleisch &
        Prentice; SAS, Stata, lifelines): ``S^exp(+/- z se / (S |ln S|))``. ``"log"`` (R
        ``survfit`` default): ``S exp(+/- z se / S)``, clipped at 1. ``"plain"``: ``S +/- z se``.

    Returns
    -------
    pandas.DataFrame
        Columns ``group, time, n_risk, n_event, n_censor, survival, std_err, ci_low,
        ci_high``: a first row at time 0 (survival 1) unless an observation is at time 0,
        then one row per distinct observed time (event or censoring) with the product-limit
        estimate ``S(t) = prod_{t_i <= t} (1 - d_i / n_i)`` just after ``t`` and its
        Greenwood standard error ``S(t) sqrt(sum_{t_i <= t} d_i / (n_i (n_i - d_i)))``
        (statsmodels ``SurvfuncRight``). ``n_risk`` counts patients with ``time >= t``.
        The interval is NaN where ``S = 0`` (and where the Greenwood SE is undefined,
        after the last patient at risk has the event). Where ``S = 1`` (before the first
        event, or with every patient censored) the interval is ``[1, 1]`` whatever
        ``conf_type``; R ``survfit`` gives NA there for ``conf.type = "log-log"``, whose
        transform ``log(-log S)`` is undefined at 1 (and ``[1, 1]`` for the other two).
    """
    from statsmodels.duration.survfunc import SurvfuncRight

    conf_level = _check_conf(conf_level, conf_type)
    z = float(stats.norm.ppf(0.5 + conf_level / 2.0))
    pieces = []
    for label, t, e in _groups(time, event, group):
        times, inverse = np.unique(t, return_inverse=True)
        n_event = np.bincount(inverse, weights=e).astype(np.int64)
        n_all = np.bincount(inverse).astype(np.int64)
        n_risk = t.size - np.r_[0, np.cumsum(n_all)[:-1]]
        surv = np.ones(times.size)
        se = np.zeros(times.size)
        if e.sum() > 0:
            sf = SurvfuncRight(t, e)
            # carry the estimate at each event time forward over later censoring times
            idx = np.searchsorted(sf.surv_times, times, side="right") - 1
            has = idx >= 0
            surv[has] = sf.surv_prob[idx[has]]
            with np.errstate(invalid="ignore"):
                se[has] = sf.surv_prob_se[idx[has]]
        frame = pd.DataFrame({
            "time": times,
            "n_risk": n_risk.astype(np.int64),
            "n_event": n_event,
            "n_censor": n_all - n_event,
            "survival": surv,
            "std_err": se,
        })
        if times[0] > 0:
            start = pd.DataFrame({"time": [0.0], "n_risk": [t.size], "n_event": [0], "n_censor": [0],
                                  "survival": [1.0], "std_err": [0.0]})
            frame = pd.concat([start, frame], ignore_index=True)
        low, high = _pointwise_ci(frame["survival"].to_numpy(), frame["std_err"].to_numpy(), z, conf_type)
        frame["ci_low"], frame["ci_high"] = low, high
        frame.insert(0, "group", label)
        pieces.append(frame)
    return pd.concat(pieces, ignore_index=True)


#: Tolerance for "the curve equals 1/2" (R ``quantile.survfit``: ``sqrt(.Machine$double.eps)``).
_QUANTILE_TOL = math.sqrt(np.finfo(float).eps)


def _first_time_at_or_below(times: np.ndarray, curve: np.ndarray, prob: float = 0.5) -> float:
    """Time at which a step curve (value after each time) first reaches ``1 - prob`` or below.

    R ``survival``'s rule (its internal ``findq``), applied to the whole curve: every distinct
    observed time, censoring times included, with the curve's value just after it, preceded
    by time 0 with value 1. Values within ``_QUANTILE_TOL`` of ``1 - prob`` count as equal;
    points where the curve is NaN (an interval limit after S reached 0) are skipped. Where
    the curve equals ``1 - prob`` over a flat stretch, the result is its midpoint: the time
    it got there and the first time it falls strictly below, or the last observed time when
    it never does. NaN when the curve never reaches ``1 - prob``.
    """
    x = np.r_[0.0, times]
    y = np.r_[0.0, 1.0 - curve]  # the cumulative distribution, rising from 0
    if not np.nanmax(y) + _QUANTILE_TOL >= prob:  # R has no tolerance here; rounding of S
        return math.nan
    x_max = x[-1]
    keep = ~pd.Series(y).duplicated().to_numpy()  # first time each value is reached
    x, y = x[keep], y[keep]
    finite = ~np.isnan(y)

    def first_reaching(shift: float) -> int | None:
        above = np.flatnonzero(finite & (y + shift >= prob))
        return None if above.size == 0 else int(above[np.argmin(y[above])])

    reach, below = first_reaching(_QUANTILE_TOL), first_reaching(-_QUANTILE_TOL)
    if finite[-1] and abs(prob - y[-1]) < _QUANTILE_TOL:  # flat at 1 - prob up to the end
        return float((x[reach] + x_max) / 2.0)
    if reach is None or below is None:
        return math.nan
    return float((x[reach] + x[below]) / 2.0)


def median_survival(
    time, event, group=None, *, conf_level: float = 0.95, conf_type: str = "log-log"
) -> pd.DataFrame:
    """Median survival time per group with the Brookmeyer-Crowley interval.

    Parameters
    ----------
    time, event, group
        As for :func:`kaplan_meier`.
    conf_level : float
        Default 0.95.
    conf_type : {"log-log", "log", "plain"}
        Transformation of the pointwise interval of :func:`kaplan_meier` from which the
        interval of the median is read; ``"log"`` matches R ``quantile(survfit(...))`` with
        its default ``conf.type = "log"``.

    Returns
    -------
    pandas.DataFrame
        Columns ``group, n, n_events, median, ci_low, ci_high``. The median is the first
        time at which the Kaplan-Meier estimate falls to 0.5 or below; where it equals 0.5
        exactly (within 1.5e-8) over a stretch of time, the median is that stretch's
        midpoint: between the time it reached 0.5 and the next event time, or the last
        observed time if no event follows. ``ci_low`` and ``ci_high`` are the times at which
        the lower and the upper pointwise limits of :func:`kaplan_meier` (same
        ``conf_level`` and ``conf_type``) reach 0.5 by the same rule (Brookmeyer & Crowley
        1982). This is R ``quantile(survfit(...), 0.5)`` (survival 3.5). NaN means "not
        reached": the curve, or the interval limit, never gets to 0.5 (an upper limit that
        is still above 0.5 when the curve drops to 0, where the limit is undefined, is not
        reached).
    """
    conf_level = _check_conf(conf_level, conf_type)
    rows = []
    for label, t, e in _groups(time, event, group):
        median = low = high = math.nan
        if e.sum() > 0:
            km = kaplan_meier(t, e, conf_level=conf_level, conf_type=conf_type)
            times = km["time"].to_numpy()
            median, low, high = (_first_time_at_or_below(times, km[col].to_numpy())
                                 for col in ("survival", "ci_low", "ci_high"))
        rows.append({
            "group": label,
            "n": int(t.size),
            "n_events": int(e.sum()),
            "median": median,
            "ci_low": low,
            "ci_high": high,
        })
    return pd.DataFrame(rows).astype({"median": float, "ci_low": float, "ci_high": float})


@dataclass(frozen=True)
class LogrankResult(_Result):
    """Log-rank test of equal survival across groups.

    Attributes
    ----------
    chi2 : float
        Log-rank statistic (Mantel 1966), ``U' V^- U`` over groups.
    df : int
        Number of groups minus 1.
    p_value : float
        Upper tail of chi-squared with ``df``.
    groups : tuple
        Group labels, sorted.
    observed, expected : tuple of float
        Events per group, and expected events under equal hazards,
        ``E_g = sum over event times of d_t n_gt / n_t``.
    stratified : bool
        Whether the test was stratified.
    """

    chi2: float
    df: int
    p_value: float
    groups: tuple
    observed: tuple
    expected: tuple
    stratified: bool

    def to_frame(self) -> pd.DataFrame:
        """One row per group: ``group, observed, expected, o_minus_e``."""
        obs = np.asarray(self.observed, dtype=float)
        exp = np.asarray(self.expected, dtype=float)
        return pd.DataFrame({"group": list(self.groups), "observed": obs, "expected": exp,
                             "o_minus_e": obs - exp})


def _expected_events(t, e, g, labels):
    """Expected events per group under the null: sum_t d_t n_gt / n_t."""
    event_times = np.unique(t[e == 1])
    at_risk = t[None, :] >= event_times[:, None]  # (times, patients)
    deaths = ((t[None, :] == event_times[:, None]) & (e[None, :] == 1)).sum(axis=1)
    n_t = at_risk.sum(axis=1)
    return [float(np.sum(deaths * at_risk[:, g == lab].sum(axis=1) / n_t)) for lab in labels]


def logrank(time, event, group, *, strata=None) -> LogrankResult:
    """Log-rank test comparing survival between groups.

    Parameters
    ----------
    time, event : array-like
        As for :func:`kaplan_meier`.
    group : array-like
        Group of each patient; at least two groups.
    strata : array-like, optional
        Stratum of each patient for a stratified log-rank test.

    Returns
    -------
    LogrankResult

    Raises
    ------
    InsufficientDataError
        When the log-rank variance is zero (no event time with two groups at risk and a
        patient left without the event), or a group has no patient at risk at any event
        time (R ``survdiff`` leaves such a group out of the test; it is named, for the caller
        to leave out).

    Notes
    -----
    The statistic and p-value are statsmodels ``survdiff`` (unweighted log-rank, identical
    to R ``survdiff``). Observed and expected events per group are computed alongside
    (unstratified: ``sum_t d_t n_gt / n_t``; stratified: summed within strata).
    """
    from statsmodels.duration.survfunc import survdiff

    same_rows(time=time, event=event, group=group, strata=strata)
    t, e = _check_time_event(time, event)
    g = _check_group(group, t.size)
    labels = _labels(g)
    if len(labels) < 2:
        raise InvalidInputError(f"logrank needs at least two groups, got only {labels!r}", column="group")
    if e.sum() == 0:
        raise InvalidInputError("logrank needs at least one event; every patient is censored", column="event")
    codes = pd.Series(g).map({label: k for k, label in enumerate(labels)}).to_numpy(dtype=np.int64)
    kwargs = {}
    if strata is not None:
        s = _check_group(strata, t.size, "strata")
        kwargs["strata"] = pd.factorize(pd.Series(s))[0]
        expected = np.zeros(len(labels))
        for code in np.unique(kwargs["strata"]):
            m = kwargs["strata"] == code
            if e[m].sum() > 0:
                expected += _expected_events(t[m], e[m], codes[m], range(len(labels)))
    else:
        expected = _expected_events(t, e, codes, range(len(labels)))
    never = [labels[k] for k in range(len(labels)) if expected[k] == 0.0]
    if never:
        # its row of the variance matrix is 0: R survdiff leaves such a group out of the test
        # (df = groups with expected > 0, minus 1); here the caller decides
        raise InsufficientDataError(
            f"group(s) {never} have no patient at risk at any event time (every patient censored "
            "before the first event" + (" of their stratum" if strata is not None else "") + "), so "
            "they cannot enter the log-rank test; leave them out of all arrays to compare the "
            "other groups (R survdiff does so silently, with fewer degrees of freedom)"
        )
    try:
        chi2, _ = survdiff(t, e, codes, **kwargs)   # its p is 1 - cdf: 0 below about 1e-16
    except np.linalg.LinAlgError:
        raise InsufficientDataError(
            "the log-rank variance is zero: at every event time either only one group is at "
            "risk or every patient at risk has the event, so the groups cannot be compared"
        ) from None
    observed = [float(e[codes == k].sum()) for k in range(len(labels))]
    p_value = stats.chi2.sf(chi2, len(labels) - 1)    # as R's pchisq(chisq, df, lower.tail = FALSE)
    return LogrankResult(
        chi2=float(chi2),
        df=len(labels) - 1,
        p_value=float(p_value),
        groups=tuple(labels),
        observed=tuple(observed),
        expected=tuple(float(x) for x in expected),
        stratified=strata is not None,
    )


def logrank_z(time, event, group) -> np.ndarray:
    """Signed two-sample log-rank statistics of many data sets at once (vectorised).

    Parameters
    ----------
    time : array-like of float >= 0, shape (n,) or (sets, n)
        Follow-up times; each row is one data set (e.g. one simulated trial).
    event : array-like of 0/1, same shape
        1 = event observed, 0 = censored.
    group : array-like of 0/1 or bool, same shape
        1 (True) = the group whose excess events the statistic counts (the experimental arm
        in a trial), 0 = the reference group.

    Returns
    -------
    numpy.ndarray of float, shape (sets,) (a float array of shape () for 1-D input)
        ``Z = sum_t (d_1t - d_t n_1t / n_t) / sqrt(sum_t d_t (n_1t / n_t)(1 - n_1t / n_t)
        (n_t - d_t) / (n_t - 1))`` over the distinct event times ``t`` (ties handled as in
        :func:`logrank`, hypergeometric variance). ``Z < 0`` when group 1 has fewer events
        than expected under equal hazards (group 1 better). ``Z**2`` is the unstratified
        :func:`logrank` chi-square. NaN where the variance is 0.

    Notes
    -----
    :func:`logrank` (statsmodels ``survdiff``) tests one data set of any number of groups
    and gives the chi-square; this function is for simulation studies of two-arm trials
    (thousands of data sets, a one-sided test needs the sign), one sort per row.
    """
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=float)
    g = np.asarray(group, dtype=float)
    one = t.ndim == 1
    t, e, g = np.atleast_2d(t), np.atleast_2d(e), np.atleast_2d(g)
    if not (t.shape == e.shape == g.shape) or t.ndim != 2:
        raise InvalidInputError(
            f"time, event and group must have the same shape (sets, n), got {t.shape}, {e.shape} "
            f"and {g.shape}")
    if not (np.isfinite(t).all() and (t >= 0).all()):
        raise InvalidInputError("time must be finite and >= 0 everywhere")
    if not (np.isin(e, (0.0, 1.0)).all() and np.isin(g, (0.0, 1.0)).all()):
        raise InvalidInputError("event and group must be 0/1 everywhere")
    n = t.shape[1]
    order = np.argsort(t, axis=1, kind="stable")
    t, e, g = (np.take_along_axis(a, order, axis=1) for a in (t, e, g))
    idx = np.arange(n)
    # first and last position of each run of tied times
    start = np.ones_like(t, dtype=bool)
    start[:, 1:] = t[:, 1:] != t[:, :-1]
    end = np.ones_like(t, dtype=bool)
    end[:, :-1] = start[:, 1:]
    first = np.maximum.accumulate(np.where(start, idx, 0), axis=1)
    cum_e = np.cumsum(e, axis=1)
    cum_e1 = np.cumsum(e * g, axis=1)
    cum_g = np.cumsum(g, axis=1)
    before = first - 1  # position before the run (-1 when the run starts the row)

    def prior(cum):
        return np.where(before >= 0, np.take_along_axis(cum, np.maximum(before, 0), axis=1), 0.0)

    d = cum_e - prior(cum_e)  # events in the run, read at its last position
    d1 = cum_e1 - prior(cum_e1)
    n_t = (n - first).astype(float)
    n1 = cum_g[:, -1:] - prior(cum_g)
    use = end & (d > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = n1 / n_t
        o_minus_e = np.where(use, d1 - d * frac, 0.0).sum(axis=1)
        var = np.where(use & (n_t > 1), d * frac * (1.0 - frac) * (n_t - d) / (n_t - 1.0), 0.0).sum(axis=1)
        z = np.where(var > 0, o_minus_e / np.sqrt(var), np.nan)
    return z[0] if one else z


def _check_identifiable(x: np.ndarray, covariates: list[str], strata: np.ndarray | None) -> None:
    """Refuse covariates whose Cox coefficients are not identifiable (R ``coxph`` gives NA).

    The partial likelihood only sees each covariate's variation within a stratum: a column
    that is constant (within every stratum) or a linear combination of the others has no
    estimate.
    """
    codes = np.zeros(len(x), dtype=np.int64) if strata is None else np.asarray(strata)
    centred = x - (pd.DataFrame(x).groupby(codes).transform("mean").to_numpy())
    if np.linalg.matrix_rank(centred) == x.shape[1]:
        return
    scale = np.maximum(np.abs(x).max(axis=0), 1.0)
    constant = [name for j, name in enumerate(covariates) if np.all(np.abs(centred[:, j]) <= 1e-12 * scale[j])]
    where = " within every stratum" if strata is not None else ""
    what = (f"covariate(s) {constant} do not vary{where}" if constant
            else f"the covariates {covariates} are collinear (one is a linear combination of the others{where})")
    raise InvalidInputError(
        f"the Cox model cannot be fitted: {what}, so their hazard ratios are not identifiable "
        "(R coxph reports NA for them); drop or combine those covariates",
        column=constant[0] if constant else None,
    )


def _check_identifiable_at_risk(t: np.ndarray, e: np.ndarray, x: np.ndarray, covariates: list[str],
                                strata: np.ndarray | None) -> None:
    """Refuse covariates that vary, but not among the patients at risk at any event time.

    The partial likelihood compares, at each event time, the patient(s) with the event with
    those at risk (in the same stratum). Its information matrix at 0,
    ``sum_t d_t Cov_{R(t)}(x)`` (the covariance of the covariates over the risk set), has the
    rank of the information at any coefficient; where it is singular a coefficient (or a
    combination) does not change the likelihood at all (R ``coxph``: NA), e.g. when every
    patient with ``x = 0`` is censored before the first event. Computed with cumulative sums
    over the patients sorted by decreasing time, one stratum at a time.
    """
    k = x.shape[1]
    xs = (x - x.mean(axis=0)) / x.std(axis=0)       # varies overall (_check_identifiable)
    info = np.zeros((k, k))
    codes = np.zeros(len(t), dtype=np.int64) if strata is None else np.asarray(strata)
    for code in np.unique(codes):
        m = codes == code
        tt, ee, xx = t[m], e[m], xs[m]
        order = np.argsort(-tt, kind="mergesort")
        tt, ee, xx = tt[order], ee[order], xx[order]
        s0 = np.arange(1, tt.size + 1, dtype=float)
        s1 = np.cumsum(xx, axis=0)
        s2 = np.cumsum(xx[:, :, None] * xx[:, None, :], axis=0)
        last = np.r_[tt[1:] != tt[:-1], True]          # the whole risk set of each distinct time
        d = np.add.reduceat(ee, np.flatnonzero(np.r_[True, tt[1:] != tt[:-1]]))
        use = d > 0
        mean = (s1[last] / s0[last][:, None])[use]
        cov = (s2[last] / s0[last][:, None, None])[use] - mean[:, :, None] * mean[:, None, :]
        info += np.tensordot(d[use].astype(float), cov, axes=1)
    # each event adds at most about 1 to a diagonal entry of standardized covariates; rounding
    # leaves ~1e-16 per event where a covariate is flat
    tol = 1e-10 * max(1.0, float(e.sum()))
    if np.linalg.matrix_rank(info, tol=tol) == k:
        return
    flat = [name for j, name in enumerate(covariates) if info[j, j] <= tol]
    where = " of their stratum" if strata is not None else ""
    what = (f"covariate(s) {flat} do not vary among the patients at risk at any event time{where} (e.g. every "
            "patient with another value is censored before the first event)" if flat
            else f"the covariates {covariates} are collinear among the patients at risk at every event time{where}")
    raise InvalidInputError(
        f"the Cox model cannot be fitted: {what}, so their hazard ratios are not identifiable "
        "(R coxph reports NA for them); drop or combine those covariates",
        column=flat[0] if flat else None,
    )


def cox(
    df: pd.DataFrame,
    duration: str,
    event: str,
    covariates,
    *,
    ties: str = "efron",
    strata: str | None = None,
    conf_level: float = 0.95,
) -> pd.DataFrame:
    """Cox proportional-hazards model; tidy table of hazard ratios.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per patient.
    duration, event : str
        Columns of follow-up time (>= 0) and event indicator (1 = event, 0 = censored).
    covariates : str or sequence of str
        Numeric (or boolean) columns. One-hot encode categorical variables first, e.g.
        ``pd.get_dummies(df, columns=["arm"], drop_first=True, dtype=float)``.
    ties : {"efron", "breslow"}
        Handling of tied event times; default Efron (as R ``coxph``).
    strata : str, optional
        Column defining strata with separate baseline hazards.
    conf_level : float
        Level of the Wald interval of each hazard ratio (default 0.95).

    Returns
    -------
    pandas.DataFrame
        One row per covariate: ``term, coef, se, hr, hr_ci_low, hr_ci_high, z, p_value, n,
        n_events``; ``hr = exp(coef)``, interval ``exp(coef +/- z se)``, Wald z and two-sided
        p (statsmodels ``PHReg``). When the fit does not converge to finite values (monotone
        likelihood: a covariate separates events from non-events, e.g. every event in one
        group, so the hazard ratio is 0 or infinite), every estimate is NaN and a
        :class:`~ca125kinetics.errors.DataQualityWarning` says so (R ``coxph`` reports the
        arbitrary value where its iterations stopped, with a warning).

    Raises
    ------
    InvalidInputError
        Besides bad input: when a covariate does not vary (within every stratum, if
        stratified) or the covariates are collinear; R ``coxph`` reports NA for such a
        coefficient and fits the others, this function asks for the column to be dropped.
    """
    from statsmodels.duration.hazard_regression import PHReg
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    if not isinstance(df, pd.DataFrame):
        raise InvalidInputError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    covariates = [covariates] if isinstance(covariates, str) else list(covariates)
    if not covariates:
        raise InvalidInputError("covariates is empty; name at least one column of df")
    if ties not in ("efron", "breslow"):
        raise InvalidInputError(f"ties must be 'efron' or 'breslow', got {ties!r}")
    conf_level = _check_conf(conf_level, "log-log")
    needed = [duration, event, *covariates] + ([strata] if strata is not None else [])
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise InvalidInputError(
            f"column(s) {missing} not in df; available columns: {list(df.columns)}"
        )
    t, e = _check_time_event(df[duration], df[event])
    x = np.empty((len(df), len(covariates)))
    for j, name in enumerate(covariates):
        col = df[name]
        if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
            raise InvalidInputError(
                f"covariate {name!r} is not numeric (dtype {col.dtype}); one-hot encode it, e.g. "
                f"pd.get_dummies(df, columns=[{name!r}], drop_first=True, dtype=float)",
                column=name,
            )
        values = col.to_numpy(dtype=float, na_value=np.nan)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise InvalidInputError(
                f"covariate {name!r} is missing or not finite in {bad.size} row(s), first at row "
                f"{df.index[bad[0]]!r}; impute it or drop those rows before fitting",
                row=df.index[bad[0]],
                column=name,
            )
        x[:, j] = values
    if e.sum() == 0:
        raise InvalidInputError("the Cox model needs at least one event; every patient is censored",
                                column=event)
    kwargs = {}
    if strata is not None:
        # a missing stratum is refused, never a stratum of its own (R's coxph drops the row)
        kwargs["strata"] = pd.factorize(_check_group(df[strata], len(df), strata, df.index))[0]
    _check_identifiable(x, covariates, kwargs.get("strata"))
    _check_identifiable_at_risk(t, e, x, covariates, kwargs.get("strata"))
    # fitted on centred, scaled covariates (as R coxph centres them): the coefficients are the
    # same up to the scale, but an uncentred covariate of large mean and small spread made the
    # Newton steps fail (a LinAlgError, or no convergence where the maximum is finite)
    centre, spread = x.mean(axis=0), x.std(axis=0)    # spread > 0: _check_identifiable
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res = PHReg(t, (x - centre) / spread, status=e, ties=ties, **kwargs).fit()
            coef = np.asarray(res.params, dtype=float) / spread
            se = np.asarray(res.bse, dtype=float) / spread
        except np.linalg.LinAlgError:       # a singular information on the way to infinity
            coef = se = np.full(len(covariates), math.nan)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    if not (converged and np.all(np.isfinite(coef)) and np.all(np.isfinite(se))):
        warnings.warn(
            f"the Cox model of {covariates} is not estimable: the partial likelihood has no "
            "finite maximum (typically a covariate separates the patients with an event from "
            "those without: monotone likelihood, an infinite hazard ratio; R coxph warns that "
            "the 'coefficient may be infinite'); its coefficients are reported as NaN",
            DataQualityWarning,
            stacklevel=2,
        )
        coef = se = np.full(len(covariates), math.nan)
    z = float(stats.norm.ppf(0.5 + conf_level / 2.0))
    with np.errstate(over="ignore"):    # a hazard ratio limit beyond 1e308 is inf (R: Inf)
        hr, hr_low, hr_high = np.exp(coef), np.exp(coef - z * se), np.exp(coef + z * se)
    return pd.DataFrame({
        "term": covariates,
        "coef": coef,
        "se": se,
        "hr": hr,
        "hr_ci_low": hr_low,
        "hr_ci_high": hr_high,
        "z": coef / se,
        "p_value": 2.0 * stats.norm.sf(np.abs(coef / se)),
        "n": len(df),
        "n_events": int(e.sum()),
    })
