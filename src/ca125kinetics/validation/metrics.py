"""Performance of a risk model on validation data: discrimination, calibration, clinical utility.

Every function takes plain arrays: the observed binary outcome ``y`` (1 = event, e.g. complete
resection; 0 = no event) and the model's predicted risk ``p`` (a probability in [0, 1]) for the
same patients in the same order. Results are frozen dataclasses with ``to_frame()`` or tidy
DataFrames with fixed, documented columns. Nothing here prints, plots or resamples; plots,
reports and bootstrap intervals live in sibling modules.

Conventions used throughout (each repeated where it matters)
-------------------------------------------------------------
* A patient is **test-positive at threshold t when p >= t** (as R ``dcurves``/``pROC``).
* A higher score means the event is more likely. For a score where low values predict the
  event (iMODEL points predict *incomplete* resection), pass ``-score`` or recode ``y``.
* Logits are taken of risks clipped to ``[LOGIT_EPS, 1 - LOGIT_EPS]`` (``LOGIT_EPS = 1e-8``,
  i.e. logits within +/- 18.4); only the logistic calibration models use logits. Brier score,
  O/E and the smoothed calibration curve use the unclipped risks.
* Confidence intervals are two-sided Wald intervals at ``conf_level`` unless said otherwise
  (AUC: DeLong on the AUC scale as in ``pROC::ci.auc``; O/E: on the log scale; proportions:
  Wilson score by default).

References
----------
DeLong ER, DeLong DM, Clarke-Pearson DL. Comparing the areas under two or more correlated
receiver operating characteristic curves: a nonparametric approach. Biometrics 1988;44:837-845.
Sun X, Xu W. Fast implementation of DeLong's algorithm for comparing the areas under correlated
receiver operating characteristic curves. IEEE Signal Process Lett 2014;21:1389-1393.
Van Calster B, McLernon DJ, van Smeden M, Wynants L, Steyerberg EW. Calibration: the Achilles
heel of predictive analytics. BMC Med 2019;17:230.
Austin PC, Steyerberg EW. The Integrated Calibration Index (ICI) and related metrics for
quantifying the calibration of logistic regression models. Stat Med 2019;38:4051-4065.
Riley RD, Debray TPA, Collins GS, et al. Minimum sample size for external validation of a
clinical prediction model with a binary outcome. Stat Med 2021;40:4230-4251.
Vickers AJ, Elkin EB. Decision curve analysis: a novel method for evaluating prediction models.
Med Decis Making 2006;26:565-574.
Hosmer DW, Lemeshow S. Goodness of fit tests for the multiple logistic regression model.
Commun Stat Theory Methods 1980;9:1043-1069.
Wilson EB. Probable inference, the law of succession, and statistical inference. J Am Stat
Assoc 1927;22:209-212. Newcombe RG. Two-sided confidence intervals for the single proportion:
comparison of seven methods. Stat Med 1998;17:857-872.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

from .._logistic import logit
from ..errors import DataQualityWarning, InsufficientDataError, InvalidInputError, argument_name

__all__ = [
    "LOGIT_EPS",
    "LOWESS_FRAC",
    "ValidationMetrics",
    "ThresholdMetrics",
    "DelongTestResult",
    "metrics",
    "calibration_curve",
    "roc_curve_frame",
    "net_benefit",
    "threshold_metrics",
    "delong_test",
    "delong_auc",
    "check_outcome",
    "check_risk",
    "check_score",
    "check_labels",
    "refuse_bad",
    "same_rows",
    "proportion_ci",
]

#: Risks are clipped to ``[LOGIT_EPS, 1 - LOGIT_EPS]`` before taking logits.
LOGIT_EPS = 1e-8
#: Span of the lowess calibration smoother: the fraction of patients in each local fit.
LOWESS_FRAC = 0.75
_CI_METHODS = ("wilson", "clopper-pearson")


# --------------------------------------------------------------------------- input checks


def _as_1d(values, name: str) -> np.ndarray:
    if isinstance(values, (pd.Series, pd.Index)):
        values = values.to_numpy()
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise InvalidInputError(
            f"{name} must be one-dimensional (one value per patient), got shape {arr.shape}; "
            "pass a single column or a 1-D array",
            column=name,
        )
    return arr


def same_rows(**named) -> None:
    """Refuse pandas inputs (Series, DataFrame) whose indexes differ, naming the first two.

    The functions of this package pair the values of their arrays by position. When two of
    them are pandas objects with different indexes (the same patients in another row order,
    or other patients), pandas would pair them by index instead; which was meant cannot be
    told, so neither is guessed. Plain arrays and lists, and pandas objects with equal
    indexes, pass.
    """
    indexed = [(name, v.index) for name, v in named.items() if isinstance(v, (pd.Series, pd.DataFrame))]
    for name, index in indexed[1:]:
        first, first_index = indexed[0]
        if not index.equals(first_index):
            raise InvalidInputError(
                f"{first} and {name} are pandas objects with different indexes, so their values "
                "would be paired by position, not by index; align them first (e.g. "
                f"{name} = {name}.reindex({first}.index)) or pass both as arrays (.to_numpy()) "
                "if the row order is already the same",
                column=name,
            )


def refuse_bad(values: np.ndarray, bad: np.ndarray, name: str, rule: str, fix: str) -> None:
    """Raise InvalidInputError for the positions ``bad`` (if any) of ``values``.

    The message reads ``"<name> must <rule>; found <value> at position <i> (and k other bad
    value(s)); <fix>"``, with ``row`` set to the first bad position.
    """
    if bad.size == 0:
        return
    others = f" and {bad.size - 1} other bad value(s)" if bad.size > 1 else ""
    value = values[bad[0]]
    # a numpy number as the number it is (2.0), not numpy's repr (np.float64(2.0))
    value = value.item() if isinstance(value, np.generic) else value
    raise InvalidInputError(
        f"{name} must {rule}; found {value!r} at position {bad[0]}{others}; {fix}",
        row=int(bad[0]),
        column=name,
    )


def check_outcome(y, *, name: str = "y") -> np.ndarray:
    """Validate a binary outcome and return it as an ``int64`` array of 0 and 1.

    Accepts booleans, integers or floats equal to 0 or 1. Raises
    :class:`~ca125kinetics.errors.InvalidInputError` naming the first bad position.
    """
    arr = _as_1d(y, name)
    if arr.dtype == bool:
        return arr.astype(np.int64)
    try:
        num = arr.astype(float)
    except (TypeError, ValueError):
        # a missing value among booleans (pandas NA), or text: each value on its own, so that
        # the first bad one is named (a missing one too), not the first value
        arr = np.array(arr.tolist() + [None], dtype=object)[:-1]    # Python values, shown as written
        num = np.array([float(v) if isinstance(v, (bool, int, float, np.bool_, np.integer, np.floating)) else np.nan
                        for v in arr])
    refuse_bad(arr, np.flatnonzero(~np.isin(num, (0.0, 1.0))), name,
               "hold only 0 and 1 (1 = event, 0 = no event)",
               "recode the outcome as 0/1 and drop or impute patients with a missing outcome")
    return num.astype(np.int64)


def check_score(score, n: int, *, name: str = "score") -> np.ndarray:
    """Validate a real-valued score of length ``n`` (finite) and return it as ``float64``."""
    arr = _as_1d(score, name)
    try:
        num = arr.astype(float)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"{name} must be numeric, but it holds values such as {arr[0]!r}", column=name
        ) from None
    if num.shape[0] != n:
        raise InvalidInputError(
            f"{name} has {num.shape[0]} values but the outcome has {n}; pass one prediction per "
            "patient, in the same order as the outcome",
            column=name,
        )
    refuse_bad(arr, np.flatnonzero(~np.isfinite(num)), name, "be finite",
               "score every patient or remove unscored patients from both arrays")
    return num


def check_risk(p, n: int, *, name: str = "p") -> np.ndarray:
    """Validate predicted risks: finite probabilities in [0, 1], one per patient."""
    num = check_score(p, n, name=name)
    refuse_bad(num, np.flatnonzero((num < 0.0) | (num > 1.0)), name, "be a probability in [0, 1]",
               "pass predicted risks (e.g. predict_proba(X)[:, 1]), not scores or percentages")
    return num


def _label_kind(value) -> str | None:
    """The type a group label is written as (``None`` for a missing value)."""
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, (int, np.integer)):
        return "int"
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else "float"
    if isinstance(value, str):
        return "str"
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    return type(value).__name__


def _label_key(value, kind: str):
    """What a label says whatever its type: a number (``True`` is 1, the text ``"1.0"`` is 1,
    the text ``"True"`` is 1), or else the text, or the value's type and repr."""
    if kind in ("bool", "int", "float"):
        return float(value)
    if kind == "str":
        text = value.strip()
        try:
            return float(text)
        except ValueError:
            return {"true": 1.0, "false": 0.0}.get(text.lower(), text)
    return kind, repr(value)


def check_labels(values, name: str, *, what: str | None = None) -> None:
    """Refuse group labels that write one label as different types.

    ``1``, ``1.0``, ``"1"`` and ``True`` (or ``True`` and ``"True"``) in one column would
    be one group to one function and two to another (Python counts ``1 == 1.0 == True``,
    text does not), so which was meant cannot be told: refused with
    :class:`~ca125kinetics.errors.InvalidInputError` naming the labels and the column
    (``name``; described in the message as ``what``, by default the name). A column whose labels are all of one type passes as it is, as does one of
    several types that never write the same label (``0``, ``1`` and ``"unknown"``).
    Missing values are not labels and are left to the caller.
    """
    arr = np.asarray(values.to_numpy() if isinstance(values, (pd.Series, pd.Index)) else values)
    if arr.dtype != object:   # a numpy column holds labels of one type
        return
    by_key: dict = {}
    for value in arr.ravel().tolist():
        kind = _label_kind(value)
        if kind is not None:
            value = value.item() if isinstance(value, np.generic) else value   # shown as Python writes it
            by_key.setdefault(_label_key(value, kind), {}).setdefault(kind, value)
    clashes = [written for written in by_key.values() if len(written) > 1]
    if not clashes:
        return
    shown = "; ".join(" and ".join(f"{v!r} ({k})" for k, v in sorted(written.items())) for written in clashes[:3])
    more = f" (and {len(clashes) - 3} other label(s))" if len(clashes) > 3 else ""
    raise InvalidInputError(
        f"{what or name} writes the same label as different types: {shown}{more}; whether they are one group or "
        f"two cannot be told. Cast the column to one type before the analysis, e.g. "
        f"column.astype(str), or pd.to_numeric(column) for numbers",
        column=name)


def _check_classes(y: np.ndarray, *, minimum: int = 1, why: str = "") -> tuple[int, int]:
    events = int(y.sum())
    non_events = int(y.size - events)
    if events == 0 or non_events == 0:
        raise InvalidInputError(
            f"the outcome must contain both classes, but all {y.size} patients have outcome "
            f"{int(y[0]) if y.size else 'none'}; validation needs events and non-events",
            column="y",
        )
    if min(events, non_events) < minimum:
        raise InsufficientDataError(
            f"{why} needs at least {minimum} events and {minimum} non-events; got {events} "
            f"events and {non_events} non-events"
        )
    return events, non_events


def _is_number(value) -> bool:
    """A real number (Python or numpy), not a boolean."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _check_conf_level(conf_level: float) -> float:
    if not _is_number(conf_level) or not 0.0 < float(conf_level) < 1.0:
        raise InvalidInputError(f"{argument_name('conf_level')} must be a number in (0, 1), got {conf_level!r}")
    return float(conf_level)


def _z(conf_level: float) -> float:
    return float(stats.norm.ppf(0.5 + conf_level / 2.0))


class _Result:
    """Shared by the frozen result dataclasses of this package."""

    def to_dict(self) -> dict:
        """Flat dict of every attribute (e.g. for MLflow ``log_metrics``)."""
        return asdict(self)


# --------------------------------------------------------------------------- proportions


def proportion_ci(
    successes, trials, *, conf_level: float = 0.95, method: str = "wilson"
) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided confidence interval for a binomial proportion ``successes / trials``.

    Parameters
    ----------
    successes, trials : int or array of int
        Counts, whole numbers with ``0 <= successes <= trials`` (anything else is refused
        with :class:`~ca125kinetics.errors.InvalidInputError`, as R ``binom.test`` and
        ``prop.test`` refuse it); where ``trials == 0`` the interval is NaN.
    conf_level : float
        Confidence level, default 0.95.
    method : {"wilson", "clopper-pearson"}
        ``"wilson"`` (default): score interval without continuity correction (Wilson 1927;
        Newcombe 1998 method 3), centre ``(x + z^2/2) / (n + z^2)`` and half-width
        ``z / (n + z^2) * sqrt(x (n - x) / n + z^2 / 4)``.
        ``"clopper-pearson"``: exact interval from beta quantiles,
        ``[B(a/2; x, n - x + 1), B(1 - a/2; x + 1, n - x)]``.

    Returns
    -------
    (low, high) : arrays of float
    """
    if method not in _CI_METHODS:
        raise InvalidInputError(f"method must be one of {_CI_METHODS}, got {method!r}")
    conf_level = _check_conf_level(conf_level)
    x = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    for values, name, bad in (
        (n, "trials", ~np.isfinite(n) | (n < 0) | (n != np.round(n))),
        (x, "successes", ~np.isfinite(x) | (x < 0) | (x != np.round(x))),
    ):
        refuse_bad(np.ravel(values), np.flatnonzero(bad), name, "be a whole number >= 0",
                   "pass counts of patients")
    over = np.broadcast_to(x > n, np.broadcast(x, n).shape)
    refuse_bad(np.ravel(np.broadcast_to(x, over.shape)), np.flatnonzero(over), "successes",
               "not exceed trials", "pass the number of patients with the outcome among those counted")
    low = np.full(np.broadcast(x, n).shape, np.nan)
    high = low.copy()
    ok = np.broadcast_to(n > 0, low.shape)
    xs, ns = np.broadcast_to(x, low.shape)[ok], np.broadcast_to(n, low.shape)[ok]
    alpha = 1.0 - conf_level
    if method == "wilson":
        z = _z(conf_level)
        centre = (xs + z * z / 2.0) / (ns + z * z)
        half = z / (ns + z * z) * np.sqrt(xs * (ns - xs) / ns + z * z / 4.0)
        low[ok], high[ok] = np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)
    else:
        with np.errstate(invalid="ignore"):
            lo = stats.beta.ppf(alpha / 2.0, xs, ns - xs + 1.0)
            hi = stats.beta.ppf(1.0 - alpha / 2.0, xs + 1.0, ns - xs)
        low[ok] = np.where(xs == 0, 0.0, lo)
        high[ok] = np.where(xs == ns, 1.0, hi)
    return low, high


# --------------------------------------------------------------------------- DeLong


def _delong_components(y: np.ndarray, scores: np.ndarray):
    """AUCs and DeLong structural components of ``k`` scores (rows of ``scores``).

    Sun & Xu (2014) midrank form: for the ``m`` events (X) and ``n`` non-events (Y),
    with midranks ``T_Z`` in the pooled sample and ``T_X``, ``T_Y`` within each class,
    ``V10_i = (T_Z(X_i) - T_X(X_i)) / n`` and ``V01_j = 1 - (T_Z(Y_j) - T_Y(Y_j)) / m``,
    which equal the placement values ``mean_j psi(X_i, Y_j)`` and ``mean_i psi(X_i, Y_j)``
    with ``psi = 1`` if X > Y, ``1/2`` if tied, 0 otherwise. O(N log N), no loops.
    """
    pos = scores[:, y == 1]
    neg = scores[:, y == 0]
    m, n = pos.shape[1], neg.shape[1]
    t_x = stats.rankdata(pos, axis=1)
    t_y = stats.rankdata(neg, axis=1)
    t_z = stats.rankdata(np.concatenate([pos, neg], axis=1), axis=1)
    v10 = (t_z[:, :m] - t_x) / n
    v01 = 1.0 - (t_z[:, m:] - t_y) / m
    return v10.mean(axis=1), v10, v01


def delong_auc(y, score) -> tuple[float, float]:
    """AUC (C-statistic) of ``score`` and its DeLong variance.

    ``AUC = P(score_event > score_non-event) + P(tie) / 2`` (Mann-Whitney), variance
    ``S10 / m + S01 / n`` with ``S10``, ``S01`` the sample variances (ddof = 1) of the
    DeLong structural components of the ``m`` events and ``n`` non-events (DeLong 1988,
    computed with the O(N log N) algorithm of Sun & Xu 2014). Matches ``pROC::var`` with
    ``method = "delong"``.

    Returns
    -------
    (auc, variance) : tuple of float
    """
    same_rows(y=y, score=score)
    y = check_outcome(y)
    s = check_score(score, y.size, name="score")
    _check_classes(y, minimum=2, why="the DeLong variance")
    auc, v10, v01 = _delong_components(y, s[None, :])
    var = np.var(v10[0], ddof=1) / v10.shape[1] + np.var(v01[0], ddof=1) / v01.shape[1]
    return float(auc[0]), float(var)


@dataclass(frozen=True)
class DelongTestResult(_Result):
    """DeLong test of two correlated AUCs (same patients, two scores).

    Attributes
    ----------
    n, n_events : int
    auc1, auc2 : float
        AUC of ``p1`` and of ``p2``.
    auc1_se, auc2_se : float
        DeLong standard errors.
    correlation : float
        Correlation of the two AUC estimates.
    difference : float
        ``auc1 - auc2``.
    se : float
        ``sqrt(var1 + var2 - 2 cov12)``.
    z, p_value : float
        ``z = difference / se``; two-sided p-value. When both curves are identical
        (difference 0 and se 0), z = 0 and p = 1, as in ``pROC::roc.test``; when se is 0 but
        the AUCs differ (e.g. 1 and 0), z is infinite and p 0, as in ``pROC::roc.test``, with a
        :class:`~ca125kinetics.errors.DataQualityWarning` that this p-value means nothing.
    ci_low, ci_high : float
        Wald interval of the difference at ``conf_level`` (on the AUC scale, not clipped).
    conf_level : float
    """

    n: int
    n_events: int
    auc1: float
    auc2: float
    auc1_se: float
    auc2_se: float
    correlation: float
    difference: float
    se: float
    z: float
    p_value: float
    ci_low: float
    ci_high: float
    conf_level: float

    def to_frame(self) -> pd.DataFrame:
        """One-row DataFrame with the attributes as columns."""
        return pd.DataFrame([self.to_dict()])


def delong_test(y, p1, p2, *, conf_level: float = 0.95) -> DelongTestResult:
    """Compare the AUCs of two scores on the same patients (paired DeLong test).

    Parameters
    ----------
    y : array-like of 0/1
        Observed outcome, 1 = event.
    p1, p2 : array-like of float
        Two scores for the same patients (probabilities or any real score where higher
        means the event is more likely).
    conf_level : float
        Level of the interval for the difference (default 0.95).

    Returns
    -------
    DelongTestResult

    Notes
    -----
    ``z = (AUC1 - AUC2) / sqrt(V1 + V2 - 2 C12)`` where ``V`` and ``C`` are the DeLong
    (1988) variance and covariance, ``C12 = cov(V10_1, V10_2) / m + cov(V01_1, V01_2) / n``
    over the structural components, computed with the fast midrank algorithm of Sun & Xu
    (2014), O(N log N). Two-sided p-value from the standard normal. This is
    ``pROC::roc.test(..., method = "delong", paired = TRUE)``.
    """
    conf_level = _check_conf_level(conf_level)
    same_rows(y=y, p1=p1, p2=p2)
    y = check_outcome(y)
    s1 = check_score(p1, y.size, name="p1")
    s2 = check_score(p2, y.size, name="p2")
    events, _ = _check_classes(y, minimum=2, why="the DeLong test")
    aucs, v10, v01 = _delong_components(y, np.vstack([s1, s2]))
    cov = np.cov(v10) / v10.shape[1] + np.cov(v01) / v01.shape[1]
    diff = float(aucs[0] - aucs[1])
    var = float(cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1])
    se = math.sqrt(max(var, 0.0))
    if se > 0.0:
        z = diff / se
    else:  # identical rankings: no difference and no variance
        z = 0.0 if diff == 0.0 else math.copysign(math.inf, diff)
        if diff != 0.0:
            warnings.warn(
                f"the DeLong test has no information: the standard error of the difference is 0 (AUCs "
                f"{aucs[0]:g} and {aucs[1]:g}, each 0, 1 or of tied scores, with DeLong variance 0), so "
                f"z = {z:g} and p = 0 whatever the number of patients ({y.size}); pROC roc.test gives the same",
                DataQualityWarning,
                stacklevel=2,
            )
    p_value = float(2.0 * stats.norm.sf(abs(z)))
    half = _z(conf_level) * se
    denom = math.sqrt(cov[0, 0] * cov[1, 1])
    return DelongTestResult(
        n=int(y.size),
        n_events=events,
        auc1=float(aucs[0]),
        auc2=float(aucs[1]),
        auc1_se=math.sqrt(cov[0, 0]),
        auc2_se=math.sqrt(cov[1, 1]),
        correlation=float(cov[0, 1] / denom) if denom > 0 else math.nan,
        difference=diff,
        se=se,
        z=float(z),
        p_value=p_value,
        ci_low=diff - half,
        ci_high=diff + half,
        conf_level=conf_level,
    )


# --------------------------------------------------------------------------- calibration


def _glm_fit(y: np.ndarray, exog: np.ndarray, offset: np.ndarray | None):
    """statsmodels GLM (binomial, logit) by IRLS; (fit or None, warnings raised meanwhile)."""
    from statsmodels.genmod import families
    from statsmodels.genmod.generalized_linear_model import GLM
    from statsmodels.tools.sm_exceptions import PerfectSeparationError

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res = GLM(y, exog, family=families.Binomial(), offset=offset).fit(
                tol=1e-12, maxiter=200
            )
        except (np.linalg.LinAlgError, ValueError, ZeroDivisionError, PerfectSeparationError):
            res = None
    return res, list(caught)


def _fit_logistic(y: np.ndarray, exog: np.ndarray, offset: np.ndarray | None, what: str):
    """Maximum-likelihood logistic fit (statsmodels GLM, IRLS); None when not estimable.

    Not estimable: the columns of ``exog`` are collinear (every patient has the same risk,
    so the slope is not identifiable; R ``glm`` reports NA), the covariate of an
    ``[1, x]`` design separates events from non-events, completely or but for ties at one
    value (the likelihood has no maximum: IRLS stops at a large slope with a standard error
    of millions, R ``glm`` warns "fitted probabilities numerically 0 or 1 occurred"), or the
    fit does not converge to finite values. A :class:`DataQualityWarning` says so.
    """
    if np.linalg.matrix_rank(exog) < exog.shape[1] or _separated(y, exog):
        res, caught = None, []
    else:
        res, caught = _glm_fit(y, exog, offset)
    ok = (
        res is not None
        and bool(getattr(res, "converged", True))
        and np.all(np.isfinite(res.params))
        and np.all(np.isfinite(res.bse))
        and not any("separation" in str(w.message).lower() for w in caught)
    )
    if ok:
        res = _polish_logistic(y, exog, offset, res)
    if not ok or res is None:
        warnings.warn(
            f"{what} is not estimable: the logistic fit has no finite solution (the predictions "
            "separate events from non-events, completely or but for ties at one value, or do not "
            "vary); it is reported as NaN",
            DataQualityWarning,
            stacklevel=3,
        )
        return None
    return res


def _separated(y: np.ndarray, exog: np.ndarray) -> bool:
    """Whether the covariate of an intercept-and-covariate design separates the outcomes:
    every event's value on one side of every non-event's, ties at the boundary allowed
    (quasi-complete separation: the maximum-likelihood slope is infinite)."""
    if exog.shape[1] != 2:
        return False
    x, events = exog[:, 1], np.asarray(y) == 1
    if events.all() or not events.any():
        return False
    low, high = x[events], x[~events]
    return bool(low.min() >= high.max() or low.max() <= high.min())


def _logistic_llf(y: np.ndarray, eta: np.ndarray) -> float:
    """Bernoulli log-likelihood on the logit scale, stable for large |eta|."""
    return float(np.sum(y * eta - np.logaddexp(0.0, eta)))


def _polish_logistic(y, exog, offset, res):
    """Guard against IRLS reporting convergence at a wrong point.

    With many logits at the clip (|eta| ~ 18) statsmodels' IRLS can stop, "converged", at
    absurd values (an intercept of 1e14 was seen). A damped Newton-Raphson on the stable
    log-likelihood, started at zero, is run as a check; the fit with the higher likelihood
    is kept, with standard errors from the inverse observed information at its optimum.
    Returns None when neither fit reaches a finite, non-degenerate optimum.
    """
    y = np.asarray(y, dtype=float)
    X = np.asarray(exog, dtype=float)
    off = np.zeros(len(y)) if offset is None else np.asarray(offset, dtype=float)
    glm_beta = np.asarray(res.params, dtype=float)
    glm_llf = _logistic_llf(y, X @ glm_beta + off)

    beta = np.zeros(X.shape[1])
    llf = _logistic_llf(y, X @ beta + off)
    for _ in range(200):
        eta = X @ beta + off
        mu = 0.5 * (1.0 + np.tanh(0.5 * eta))  # expit, overflow-free
        info = X.T @ (X * (mu * (1.0 - mu))[:, None])
        try:
            step = np.linalg.solve(info, X.T @ (y - mu))
        except np.linalg.LinAlgError:
            break
        t = 1.0
        while t > 1e-10:
            trial = beta + t * step
            trial_llf = _logistic_llf(y, X @ trial + off)
            if trial_llf >= llf - 1e-12:
                break
            t /= 2.0
        beta, gain, llf = trial, trial_llf - llf, trial_llf
        if np.max(np.abs(t * step)) < 1e-10 or abs(gain) < 1e-13:
            break
    if llf <= glm_llf + 1e-9 * max(1.0, abs(glm_llf)):
        return res
    mu = 0.5 * (1.0 + np.tanh(0.5 * (X @ beta + off)))
    info = X.T @ (X * (mu * (1.0 - mu))[:, None])
    try:
        bse = np.sqrt(np.diag(np.linalg.inv(info)))
    except np.linalg.LinAlgError:
        return None
    if not (np.all(np.isfinite(beta)) and np.all(np.isfinite(bse))):
        return None
    return _LogisticFit(params=beta, bse=bse, llf=llf)


@dataclass(frozen=True)
class _LogisticFit:
    """The two attributes of a statsmodels fit that callers read, plus the likelihood."""

    params: np.ndarray
    bse: np.ndarray
    llf: float


def _coef_ci(fit, j: int, z: float) -> tuple[float, float, float, float]:
    """(estimate, se, low, high) of coefficient ``j`` of a fit; NaNs when there is no fit."""
    if fit is None:
        return (math.nan,) * 4
    b, se = float(fit.params[j]), float(fit.bse[j])
    return b, se, b - z * se, b + z * se


def _lowess_calibration(y: np.ndarray, p: np.ndarray, frac: float) -> np.ndarray:
    """Smoothed observed risk at each patient's own predicted risk (lowess of y on p).

    statsmodels ``lowess`` (local linear, tricube weights over the ``int(frac * n)`` nearest
    patients, no robustness iterations), evaluated at the distinct risks. Where the local fit
    is undefined because the neighbourhood has no spread in ``p`` (heavily tied risks, e.g. a
    score with few levels), the value is the event rate of the patients sharing that risk.
    """
    from statsmodels.nonparametric.smoothers_lowess import lowess

    uniq, inverse, counts = np.unique(p, return_inverse=True, return_counts=True)
    fitted = np.bincount(inverse, weights=y) / counts  # event rate per distinct risk
    k = int(frac * p.size + 1e-10)
    if k < 3:
        # the farthest of the k neighbours has tricube weight 0: a local line through fewer
        # than 2 weighted points is not defined (R loess: "span too small")
        raise InvalidInputError(
            f"lowess_frac={frac:g} of {p.size} patients gives local fits of {k} patient(s); the "
            f"lowess calibration curve needs at least 3, so use lowess_frac >= {math.ceil(300 / p.size) / 100:g}"
            " (default 0.75)"
        )
    local = counts < k  # otherwise all k nearest neighbours share the risk: no spread
    if uniq.size > 1 and local.any():
        with np.errstate(divide="ignore", invalid="ignore"):
            fit = lowess(y.astype(float), p, frac=frac, it=0, delta=0.0, xvals=uniq[local])
        fitted[local] = np.where(np.isfinite(fit), fit, fitted[local])
    return fitted[inverse]


def _risk_groups(p: np.ndarray, n_groups: int) -> np.ndarray:
    """Group index (0..G-1) by quantiles of p; tied risks always share a group.

    The groups are the intervals between the distinct type-7 quantiles of ``p`` (right-closed,
    the lowest value included: R ``cut(p, unique(quantile(p, 0:G / G)), include.lowest =
    TRUE)``); intervals holding no patient (few patients, or heavily tied risks) are dropped
    and the rest numbered 0..G-1, so every group is non-empty.
    """
    if np.ptp(p) == 0.0:  # one distinct risk: one group (qcut would return no bins)
        return np.zeros(p.size, dtype=np.int64)
    codes = np.asarray(pd.qcut(p, n_groups, labels=False, duplicates="drop"), dtype=np.int64)
    return np.unique(codes, return_inverse=True)[1].astype(np.int64)


def _check_frac(frac: float) -> float:
    if not _is_number(frac) or not 0.0 < float(frac) <= 1.0:
        raise InvalidInputError(f"lowess_frac must be in (0, 1], got {frac!r}")
    return float(frac)


def _check_groups(n_groups, name: str) -> int:
    if isinstance(n_groups, bool) or not isinstance(n_groups, (int, np.integer)) or n_groups < 3:
        raise InvalidInputError(f"{name} must be an integer >= 3, got {n_groups!r}")
    return int(n_groups)


@dataclass(frozen=True)
class ValidationMetrics(_Result):
    """Discrimination, calibration and overall accuracy of predicted risks.

    Attributes
    ----------
    n, n_events : int
        Patients and events (y = 1).
    prevalence : float
        ``n_events / n``.
    expected_events : float
        ``sum(p)``.
    auc, auc_se, auc_ci_low, auc_ci_high : float
        C-statistic with DeLong standard error and Wald interval **on the AUC scale**,
        clipped to [0, 1] (as ``pROC::ci.auc``). Where the DeLong variance is 0 (AUC 0 or 1,
        or every risk tied) the interval has zero width, with a :class:`DataQualityWarning`.
    citl, citl_se, citl_ci_low, citl_ci_high : float
        Calibration-in-the-large: intercept ``a`` of ``logit P(y=1) = a + offset(logit p)``
        (0 is ideal; > 0 means risks are underestimated).
    calibration_slope, calibration_slope_se, calibration_slope_ci_low, calibration_slope_ci_high : float
        Slope ``b`` of ``logit P(y=1) = a + b logit(p)`` (1 is ideal; < 1 means predictions
        are too extreme). NaN (with a :class:`DataQualityWarning`) if not estimable.
    brier : float
        ``mean((p - y)^2)``.
    scaled_brier : float
        ``1 - brier / (prevalence (1 - prevalence))`` (1 is perfect, 0 is no better than
        predicting the prevalence for everyone).
    oe_ratio, oe_ci_low, oe_ci_high : float
        ``n_events / sum(p)``; interval ``exp(ln(O/E) +/- z sqrt((1 - prevalence) / n_events))``
        (Riley et al. 2021, treating E as fixed). When every risk is 0, O/E is infinite and
        the interval NaN, with a :class:`DataQualityWarning`.
    ici, e50, e90, emax : float
        Mean, median, 90th percentile (linear interpolation) and maximum of
        ``|s(p_i) - p_i|`` over the patients, with ``s`` the lowess calibration curve
        (Austin & Steyerberg 2019).
    hosmer_lemeshow_chi2, hosmer_lemeshow_df, hosmer_lemeshow_p : float, int, float
        ``sum_g (O_g - E_g)^2 / (E_g (1 - E_g / n_g))`` over quantile groups of p (empty
        groups dropped, tied risks never split), df = groups - 2. NaN when df < 1 or when a
        group's risks are all 0 or all 1 (its variance ``E_g (1 - E_g / n_g)`` is 0; R's
        formula gives Inf or NaN there). Reported because reviewers ask; prefer the curve
        and ICI.
    n_clipped : int
        Patients whose risk was clipped to [logit_eps, 1 - logit_eps] for the logit models.
    conf_level, lowess_frac, logit_eps : float
    n_calibration_points : int
        Number of quantile groups requested for the grouped calibration (may be fewer
        when risks are tied; ``hosmer_lemeshow_df + 2`` groups were used).
    """

    n: int
    n_events: int
    prevalence: float
    expected_events: float
    auc: float
    auc_se: float
    auc_ci_low: float
    auc_ci_high: float
    citl: float
    citl_se: float
    citl_ci_low: float
    citl_ci_high: float
    calibration_slope: float
    calibration_slope_se: float
    calibration_slope_ci_low: float
    calibration_slope_ci_high: float
    brier: float
    scaled_brier: float
    oe_ratio: float
    oe_ci_low: float
    oe_ci_high: float
    ici: float
    e50: float
    e90: float
    emax: float
    hosmer_lemeshow_chi2: float
    hosmer_lemeshow_df: int
    hosmer_lemeshow_p: float
    n_clipped: int
    conf_level: float
    lowess_frac: float
    logit_eps: float
    n_calibration_points: int

    def to_frame(self) -> pd.DataFrame:
        """Tidy frame, one row per metric: ``metric, estimate, se, ci_low, ci_high``.

        Metrics without an interval have NaN there. Settings (conf_level, lowess_frac,
        logit_eps, n_calibration_points) are in :meth:`to_dict`, not in the frame.
        """
        nan = math.nan
        rows = [
            ("n", self.n, nan, nan, nan),
            ("n_events", self.n_events, nan, nan, nan),
            ("prevalence", self.prevalence, nan, nan, nan),
            ("expected_events", self.expected_events, nan, nan, nan),
            ("auc", self.auc, self.auc_se, self.auc_ci_low, self.auc_ci_high),
            ("citl", self.citl, self.citl_se, self.citl_ci_low, self.citl_ci_high),
            (
                "calibration_slope",
                self.calibration_slope,
                self.calibration_slope_se,
                self.calibration_slope_ci_low,
                self.calibration_slope_ci_high,
            ),
            ("brier", self.brier, nan, nan, nan),
            ("scaled_brier", self.scaled_brier, nan, nan, nan),
            ("oe_ratio", self.oe_ratio, nan, self.oe_ci_low, self.oe_ci_high),
            ("ici", self.ici, nan, nan, nan),
            ("e50", self.e50, nan, nan, nan),
            ("e90", self.e90, nan, nan, nan),
            ("emax", self.emax, nan, nan, nan),
            ("hosmer_lemeshow_chi2", self.hosmer_lemeshow_chi2, nan, nan, nan),
            ("hosmer_lemeshow_p", self.hosmer_lemeshow_p, nan, nan, nan),
        ]
        frame = pd.DataFrame(rows, columns=["metric", "estimate", "se", "ci_low", "ci_high"])
        return frame.astype({"estimate": float, "se": float, "ci_low": float, "ci_high": float})


def _hosmer_lemeshow(y, p, n_groups):
    groups = _risk_groups(p, n_groups)
    n_g = np.bincount(groups).astype(float)
    o_g = np.bincount(groups, weights=y)
    e_g = np.bincount(groups, weights=p)
    var_g = e_g * (1.0 - e_g / n_g)
    df = int(n_g.size - 2)
    if df < 1 or np.any(var_g <= 0.0):
        return math.nan, max(df, 0), math.nan
    chi2 = float(np.sum((o_g - e_g) ** 2 / var_g))
    return chi2, df, float(stats.chi2.sf(chi2, df))


def metrics(
    y,
    p,
    *,
    n_calibration_points: int = 10,
    conf_level: float = 0.95,
    lowess_frac: float = LOWESS_FRAC,
    logit_eps: float = LOGIT_EPS,
) -> ValidationMetrics:
    """Validation metrics of predicted risks ``p`` against observed outcomes ``y``.

    Parameters
    ----------
    y : array-like of 0/1
        Observed outcome (1 = event). Both classes must be present, at least 2 of each
        for the DeLong interval.
    p : array-like of float in [0, 1]
        Predicted risk of the event, one per patient, same order as ``y``.
    n_calibration_points : int
        Number of quantile groups of ``p`` for the Hosmer-Lemeshow statistic (default 10;
        ties in ``p`` are never split, so fewer groups may result). The same grouping is
        used by :func:`calibration_curve`.
    conf_level : float
        Level of every interval (default 0.95).
    lowess_frac : float
        Span of the lowess smoother for ICI/E50/E90/Emax, default 0.75 (the default
        span of R ``loess`` used by Austin & Steyerberg 2019). Each local fit must hold at
        least 3 patients (``int(lowess_frac * n) >= 3``); a smaller span is refused, where R
        ``loess`` stops or warns "span too small".
    logit_eps : float
        Risks are clipped to ``[logit_eps, 1 - logit_eps]`` before taking logits.

    Returns
    -------
    ValidationMetrics

    Notes
    -----
    * AUC: Mann-Whitney estimate; DeLong (1988) variance by the Sun & Xu (2014)
      algorithm; ``AUC +/- z SE`` clipped to [0, 1], on the AUC scale (``pROC::ci.auc``).
    * Calibration-in-the-large and slope: maximum-likelihood logistic models (statsmodels
      GLM, binomial, logit link) ``logit P(y=1) = a + offset(logit p)`` and
      ``logit P(y=1) = a + b logit p`` (Van Calster et al. 2019); Wald intervals. Risks of
      exactly 0 or 1 are kept, clipped to ``logit_eps`` (``rms::val.prob`` instead deletes
      them from its logistic calibration and its C index, with a warning). The slope is NaN
      (with a warning) when it is not identifiable: every risk equal (R ``glm``: NA;
      ``val.prob`` reports 0) or perfect separation (``glm`` stops at an arbitrary large
      value, with a warning).
    * O/E: ``sum(y) / sum(p)``; ``SE(ln O/E) = sqrt((1 - phi) / (n phi))`` with ``phi`` the
      observed prevalence (Riley et al. 2021).
    * ICI family (Austin & Steyerberg 2019): the calibration curve ``s`` is a lowess of y
      on p (statsmodels ``lowess``: locally *linear* tricube-weighted fits over the
      nearest ``lowess_frac * n`` patients, no robustness iterations), which is R
      ``loess(y ~ p, span = lowess_frac, degree = 1, surface = "direct")``; R's default
      ``loess`` used in the paper is locally quadratic, so values differ slightly from it
      (and from ``rms::val.prob``'s Eavg/E90/Emax, a ``lowess`` of span 2/3). ``s`` is evaluated
      at each patient's own ``p``; ICI = mean, E50 = median, E90 = 90th percentile, Emax =
      max of ``|s(p_i) - p_i|``. Where risks are so heavily tied that a local fit has no
      spread in ``p`` (a score with few levels), ``s`` there is the observed event rate of
      the patients sharing that risk.
    """
    conf_level = _check_conf_level(conf_level)
    lowess_frac = _check_frac(lowess_frac)
    n_calibration_points = _check_groups(n_calibration_points, "n_calibration_points")
    if not _is_number(logit_eps) or not 0.0 < logit_eps < 0.5:
        raise InvalidInputError(f"logit_eps must be in (0, 0.5), got {logit_eps!r}")
    same_rows(y=y, p=p)
    y = check_outcome(y)
    p = check_risk(p, y.size)
    events, _ = _check_classes(y, minimum=2, why="the DeLong interval of the AUC")
    n = int(y.size)
    z = _z(conf_level)
    prevalence = events / n

    auc, var = delong_auc(y, p)
    auc_se = math.sqrt(var)
    if auc_se == 0.0:
        warnings.warn(
            f"the DeLong interval of the AUC has zero width: with AUC {auc:g} (every event scored "
            "above every non-event, below, or every risk tied) the DeLong variance is 0 whatever the "
            f"number of patients ({n}), so the interval {auc:g} to {auc:g} does not express the "
            "uncertainty of the AUC (pROC ci.auc warns the same)",
            DataQualityWarning,
            stacklevel=2,
        )

    lp = logit(p, logit_eps)
    citl = _coef_ci(_fit_logistic(y, np.ones((n, 1)), lp, "calibration-in-the-large"), 0, z)
    slope = _coef_ci(
        _fit_logistic(y, np.column_stack([np.ones(n), lp]), None, "the calibration slope"), 1, z
    )

    brier = float(np.mean((p - y) ** 2))
    expected = float(p.sum())
    oe = events / expected if expected > 0 else math.inf
    se_log_oe = math.sqrt((1.0 - prevalence) / events)
    if expected == 0.0:  # ln(O/E) is infinite: no interval
        se_log_oe = math.nan
        warnings.warn(
            f"observed/expected is infinite and has no interval: the expected events are 0 (every "
            f"predicted risk is 0) while {events} events were observed",
            DataQualityWarning,
            stacklevel=2,
        )
    smooth = _lowess_calibration(y, p, lowess_frac)
    diff = np.abs(smooth - p)
    hl_chi2, hl_df, hl_p = _hosmer_lemeshow(y, p, n_calibration_points)

    return ValidationMetrics(
        n=n,
        n_events=events,
        prevalence=prevalence,
        expected_events=expected,
        auc=auc,
        auc_se=auc_se,
        auc_ci_low=max(0.0, auc - z * auc_se),
        auc_ci_high=min(1.0, auc + z * auc_se),
        citl=float(citl[0]),
        citl_se=float(citl[1]),
        citl_ci_low=float(citl[2]),
        citl_ci_high=float(citl[3]),
        calibration_slope=float(slope[0]),
        calibration_slope_se=float(slope[1]),
        calibration_slope_ci_low=float(slope[2]),
        calibration_slope_ci_high=float(slope[3]),
        brier=brier,
        scaled_brier=1.0 - brier / (prevalence * (1.0 - prevalence)),
        oe_ratio=oe,
        oe_ci_low=oe * math.exp(-z * se_log_oe),
        oe_ci_high=oe * math.exp(z * se_log_oe),
        ici=float(np.mean(diff)),
        e50=float(np.median(diff)),
        e90=float(np.quantile(diff, 0.9)),
        emax=float(np.max(diff)),
        hosmer_lemeshow_chi2=hl_chi2,
        hosmer_lemeshow_df=hl_df,
        hosmer_lemeshow_p=hl_p,
        n_clipped=int(np.sum((p < logit_eps) | (p > 1.0 - logit_eps))),
        conf_level=conf_level,
        lowess_frac=lowess_frac,
        logit_eps=float(logit_eps),
        n_calibration_points=n_calibration_points,
    )


def calibration_curve(
    y,
    p,
    *,
    n_groups: int = 10,
    lowess_frac: float = LOWESS_FRAC,
    conf_level: float = 0.95,
    ci_method: str = "wilson",
) -> pd.DataFrame:
    """Calibration curve for plotting: a lowess-smoothed curve and grouped points.

    Parameters
    ----------
    y, p : array-like
        Outcome (0/1) and predicted risk in [0, 1], as for :func:`metrics`.
    n_groups : int
        Number of quantile groups of ``p`` for the grouped points (ties never split).
    lowess_frac : float
        Span of the smoother (see :func:`metrics`).
    conf_level, ci_method
        Interval of each group's observed proportion (:func:`proportion_ci`).

    Returns
    -------
    pandas.DataFrame
        Columns ``curve`` ("smoothed" or "grouped"), ``predicted``, ``observed``,
        ``ci_low``, ``ci_high``, ``n``, ``n_events``.

        * "smoothed": one row per distinct predicted risk, ascending; ``predicted`` is that
          risk, ``observed`` the lowess of y on p there (the curve of the ICI); ``n`` and
          ``n_events`` count the patients with that risk; no interval (NaN).
        * "grouped": one row per quantile group; ``predicted`` the mean risk, ``observed``
          the event proportion with its interval.
    """
    n_groups = _check_groups(n_groups, "n_groups")
    lowess_frac = _check_frac(lowess_frac)
    same_rows(y=y, p=p)
    y = check_outcome(y)
    p = check_risk(p, y.size)
    _check_classes(y)
    smooth = _lowess_calibration(y, p, lowess_frac)
    uniq, first, inverse = np.unique(p, return_index=True, return_inverse=True)
    smoothed = pd.DataFrame({
        "curve": "smoothed",
        "predicted": uniq,
        "observed": smooth[first],
        "ci_low": math.nan,
        "ci_high": math.nan,
        "n": np.bincount(inverse).astype(np.int64),
        "n_events": np.bincount(inverse, weights=y).astype(np.int64),
    })
    groups = _risk_groups(p, n_groups)
    n_g = np.bincount(groups)
    o_g = np.bincount(groups, weights=y).astype(np.int64)
    low, high = proportion_ci(o_g, n_g, conf_level=conf_level, method=ci_method)
    grouped = pd.DataFrame({
        "curve": "grouped",
        "predicted": np.bincount(groups, weights=p) / n_g,
        "observed": o_g / n_g,
        "ci_low": low,
        "ci_high": high,
        "n": n_g.astype(np.int64),
        "n_events": o_g,
    })
    return pd.concat([smoothed, grouped], ignore_index=True)


# --------------------------------------------------------------------------- ROC, thresholds


def roc_curve_frame(y, score) -> pd.DataFrame:
    """Empirical ROC curve as a tidy frame, one row per threshold.

    Parameters
    ----------
    y : array-like of 0/1
    score : array-like of float
        Predicted risk or any score (higher = event more likely).

    Returns
    -------
    pandas.DataFrame
        Columns ``threshold, tp, fp, tn, fn, sensitivity, specificity, fpr``. The first row
        has ``threshold = +inf`` (nobody positive: point (0, 0)); then one row per distinct
        score in decreasing order, a patient being positive when ``score >= threshold``;
        the last row is the point (1, 1). ``fpr = 1 - specificity``.
    """
    same_rows(y=y, score=score)
    y = check_outcome(y)
    s = check_score(score, y.size, name="score")
    events, non_events = _check_classes(y)
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    last_of_tie = np.r_[s_sorted[1:] != s_sorted[:-1], True]
    tp = np.cumsum(y_sorted)[last_of_tie]
    fp = np.cumsum(1 - y_sorted)[last_of_tie]
    tp = np.r_[0, tp].astype(np.int64)
    fp = np.r_[0, fp].astype(np.int64)
    return pd.DataFrame({
        "threshold": np.r_[np.inf, s_sorted[last_of_tie]],
        "tp": tp,
        "fp": fp,
        "tn": non_events - fp,
        "fn": events - tp,
        "sensitivity": tp / events,
        "specificity": (non_events - fp) / non_events,
        "fpr": fp / non_events,
    })


def _check_thresholds(thresholds, *, distinct: int = 1, why: str = "") -> np.ndarray:
    """The thresholds of a decision curve as a 1-D float array, as given (order, repeats).

    The one check of decision-curve thresholds (:func:`net_benefit`, ``validate_model``,
    :func:`ca125kinetics.validation.plots.decision_curve_figure`): numbers in ``[0, 1)``,
    at least one. An output that needs more, such as a drawn curve, which needs two
    points, asks for ``distinct`` different values and says ``why``.
    """
    try:
        t = np.atleast_1d(np.asarray(thresholds, dtype=float))
    except (TypeError, ValueError):
        raise InvalidInputError(f"thresholds must be risks in [0, 1) given as numbers, got {thresholds!r}",
                                column="thresholds") from None
    if t.ndim != 1 or t.size == 0:
        raise InvalidInputError("thresholds must be a non-empty 1-D sequence of risks in [0, 1)",
                                column="thresholds")
    bad = np.flatnonzero(~np.isfinite(t) | (t < 0.0) | (t >= 1.0))
    at_one = bad.size > 0 and t[bad[0]] >= 1.0
    refuse_bad(t, bad, "thresholds", "be risks in [0, 1)",
               "net benefit is undefined at 1, where the odds t / (1 - t) are infinite" if at_one
               else "give threshold probabilities such as numpy.arange(0, 1, 0.01)")
    values = np.unique(t)
    if values.size < distinct:
        raise InvalidInputError(
            f"thresholds must hold at least {distinct} different values{': ' + why if why else ''}; "
            f"got {', '.join(f'{v:g}' for v in values)}. Give a range of threshold probabilities "
            "such as numpy.arange(0.05, 0.96, 0.01)", column="thresholds")
    return t


def net_benefit(y, p, thresholds=None, *, standardized: bool = False) -> pd.DataFrame:
    """Decision curve: net benefit of the model, treat-all and treat-none.

    Parameters
    ----------
    y, p : array-like
        Outcome (0/1) and predicted risk in [0, 1].
    thresholds : array-like of float in [0, 1), optional
        Threshold probabilities; default ``0.00, 0.01, ..., 0.99`` (as R ``dcurves``).
    standardized : bool
        Also return net benefit divided by the prevalence (Kerr et al. 2016), which is 1
        for a perfect model.

    Returns
    -------
    pandas.DataFrame
        One row per threshold with columns ``threshold, n, tp, fp, net_benefit, treat_all,
        treat_none`` and, when ``standardized``, ``standardized_net_benefit,
        standardized_treat_all``.

    Notes
    -----
    Vickers & Elkin (2006): with patients treated when ``p >= t``,
    ``NB(t) = TP/n - FP/n * t / (1 - t)``; treat-all ``NB = phi - (1 - phi) t / (1 - t)``
    with ``phi`` the prevalence; treat-none ``NB = 0``. This is ``dcurves::dca``, except that
    dcurves nudges risks of exactly 0 below 0 (so at ``t = 0`` they are not treated here
    they are).
    """
    same_rows(y=y, p=p)
    y = check_outcome(y)
    p = check_risk(p, y.size)
    events, _ = _check_classes(y)
    t = _check_thresholds(np.round(np.arange(100) / 100.0, 2) if thresholds is None else thresholds)
    n = y.size
    # TP(t) = events with p >= t, found by binary search in the sorted risks
    p_events = np.sort(p[y == 1])
    p_non = np.sort(p[y == 0])
    tp = p_events.size - np.searchsorted(p_events, t, side="left")
    fp = p_non.size - np.searchsorted(p_non, t, side="left")
    odds = t / (1.0 - t)
    prevalence = events / n
    frame = pd.DataFrame({
        "threshold": t,
        "n": n,
        "tp": tp.astype(np.int64),
        "fp": fp.astype(np.int64),
        "net_benefit": tp / n - fp / n * odds,
        "treat_all": prevalence - (1.0 - prevalence) * odds,
        "treat_none": 0.0,
    })
    if standardized:
        frame["standardized_net_benefit"] = frame["net_benefit"] / prevalence
        frame["standardized_treat_all"] = frame["treat_all"] / prevalence
    return frame


@dataclass(frozen=True)
class ThresholdMetrics(_Result):
    """Classification at one risk threshold (positive when ``p >= threshold``).

    Attributes
    ----------
    threshold : float
    tp, fp, tn, fn : int
    sensitivity, specificity, ppv, npv : float
        ``TP/(TP+FN)``, ``TN/(TN+FP)``, ``TP/(TP+FP)``, ``TN/(TN+FN)``; NaN when the
        denominator is 0 (e.g. PPV when nobody is positive).
    *_ci_low, *_ci_high : float
        Interval of each proportion by ``ci_method`` at ``conf_level``.
    conf_level : float
    ci_method : str
        "wilson" (score interval, default) or "clopper-pearson" (exact).
    """

    threshold: float
    tp: int
    fp: int
    tn: int
    fn: int
    sensitivity: float
    sensitivity_ci_low: float
    sensitivity_ci_high: float
    specificity: float
    specificity_ci_low: float
    specificity_ci_high: float
    ppv: float
    ppv_ci_low: float
    ppv_ci_high: float
    npv: float
    npv_ci_low: float
    npv_ci_high: float
    conf_level: float
    ci_method: str

    def to_frame(self) -> pd.DataFrame:
        """Tidy frame ``metric, estimate, ci_low, ci_high, numerator, denominator``."""
        parts = {
            "sensitivity": (self.tp, self.tp + self.fn),
            "specificity": (self.tn, self.tn + self.fp),
            "ppv": (self.tp, self.tp + self.fp),
            "npv": (self.tn, self.tn + self.fn),
        }
        rows = [
            (name, getattr(self, name), getattr(self, f"{name}_ci_low"),
             getattr(self, f"{name}_ci_high"), num, den)
            for name, (num, den) in parts.items()
        ]
        return pd.DataFrame(
            rows, columns=["metric", "estimate", "ci_low", "ci_high", "numerator", "denominator"]
        )


def threshold_metrics(
    y, p, threshold: float, *, conf_level: float = 0.95, ci_method: str = "wilson"
) -> ThresholdMetrics:
    """Sensitivity, specificity, PPV and NPV at one risk threshold, with intervals.

    Parameters
    ----------
    y : array-like of 0/1
    p : array-like of float
        Predicted risk (or any score on the scale of ``threshold``).
    threshold : float
        A patient is positive when ``p >= threshold``.
    conf_level : float
        Default 0.95.
    ci_method : {"wilson", "clopper-pearson"}
        Wilson score interval without continuity correction (default; Newcombe 1998
        method 3) or the exact Clopper-Pearson interval. See :func:`proportion_ci`.

    Returns
    -------
    ThresholdMetrics
    """
    same_rows(y=y, p=p)
    y = check_outcome(y)
    s = check_score(p, y.size, name="p")
    _check_classes(y)
    if not _is_number(threshold) or not math.isfinite(threshold):
        raise InvalidInputError(f"threshold must be a finite number, got {threshold!r}")
    positive = s >= threshold
    tp = int(np.sum(positive & (y == 1)))
    fp = int(np.sum(positive & (y == 0)))
    tn = int(np.sum(~positive & (y == 0)))
    fn = int(np.sum(~positive & (y == 1)))
    num = np.array([tp, tn, tp, tn])
    den = np.array([tp + fn, tn + fp, tp + fp, tn + fn])
    low, high = proportion_ci(num, den, conf_level=conf_level, method=ci_method)
    with np.errstate(invalid="ignore", divide="ignore"):
        est = np.where(den > 0, num / np.maximum(den, 1), np.nan)
    return ThresholdMetrics(
        threshold=float(threshold),
        tp=tp,
        fp=fp,
        tn=tn,
        fn=fn,
        sensitivity=float(est[0]),
        sensitivity_ci_low=float(low[0]),
        sensitivity_ci_high=float(high[0]),
        specificity=float(est[1]),
        specificity_ci_low=float(low[1]),
        specificity_ci_high=float(high[1]),
        ppv=float(est[2]),
        ppv_ci_low=float(low[2]),
        ppv_ci_high=float(high[2]),
        npv=float(est[3]),
        npv_ci_low=float(low[3]),
        npv_ci_high=float(high[3]),
        conf_level=float(conf_level),
        ci_method=ci_method,
    )
