"""Minimum sample size to develop, or to externally validate, a binary-outcome risk model.

Two calculators, both closed-form (no simulation, so results are exactly reproducible):

* :func:`pmsampsize_binary` - development of a logistic model: the three criteria of
  Riley et al. (Stat Med 2019; BMJ 2020), as in R/Stata ``pmsampsize``, with the Cox-Snell
  R-squared either given or approximated from a C-statistic (Riley, Van Calster & Collins
  2021, ``pmsampsize >= 1.1``).
* :func:`validation_binary` - external validation: precise O/E, calibration slope and
  C-statistic, and optionally standardized net benefit (Riley et al. 2021, R/Stata
  ``pmvalsampsize``).

Where ``pmsampsize``/``pmvalsampsize`` estimate an expectation by simulating 10^6 patients,
this module computes the same expectation by numerical integration (its large-sample
limit), so numbers can differ from theirs by Monte Carlo noise (a few patients), never more.

References
----------
Riley RD, Snell KIE, Ensor J, et al. Minimum sample size for developing a multivariable
prediction model: Part II - binary and time-to-event outcomes. Stat Med 2019;38:1276-1296.
Riley RD, Ensor J, Snell KIE, et al. Calculating the sample size required for developing a
clinical prediction model. BMJ 2020;368:m441.
Riley RD, Van Calster B, Collins GS. A note on estimating the Cox-Snell R2 from a reported C
statistic (AUROC) to inform sample size calculations for developing a prediction model with a
binary outcome. Stat Med 2021;40:859-864.
Riley RD, Debray TPA, Collins GS, et al. Minimum sample size for external validation of a
clinical prediction model with a binary outcome. Stat Med 2021;40:4230-4251.
Newcombe RG. Confidence intervals for an effect size measure based on the Mann-Whitney
statistic. Part 2. Stat Med 2006;25:559-573 (variance of the C-statistic used in criterion 3).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import integrate, special, stats

from ..errors import InvalidInputError

__all__ = [
    "SampleSizeCriterion",
    "SampleSizeResult",
    "ValidationSampleSizeResult",
    "pmsampsize_binary",
    "validation_binary",
    "cox_snell_r2_from_cstatistic",
    "max_cox_snell_r2",
]

#: The normal quantile the papers and packages use for 95 % intervals (literally 1.96).
Z95 = 1.96


def _number(name: str, value, *, low: float = -math.inf, high: float = math.inf, low_open=True,
            high_open=True) -> float:
    """``value`` as a float, refused unless a finite number in the stated interval."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidInputError(f"{name} must be a number, got {value!r}")
    v = float(value)
    lo_ok = v > low if low_open else v >= low
    hi_ok = v < high if high_open else v <= high
    if not (math.isfinite(v) and lo_ok and hi_ok):
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        raise InvalidInputError(f"{name} must be in {lo}{low}, {high}{hi}, got {value!r}")
    return v


def max_cox_snell_r2(prevalence: float) -> float:
    """Largest Cox-Snell R-squared attainable for a binary outcome with this prevalence.

    ``R2_max = 1 - exp(2 (phi ln phi + (1 - phi) ln(1 - phi)))`` (Riley et al. 2019, eq. 23).
    """
    phi = _number("prevalence", prevalence, low=0.0, high=1.0)
    return 1.0 - math.exp(2.0 * (phi * math.log(phi) + (1.0 - phi) * math.log1p(-phi)))


def cox_snell_r2_from_cstatistic(cstatistic: float, prevalence: float) -> float:
    """Approximate the Cox-Snell R-squared of a logistic model from its C-statistic.

    Riley, Van Calster & Collins (2021): assume the linear predictor is normal with equal
    variances in events and non-events, ``LP | y=0 ~ N(0, 1)`` and ``LP | y=1 ~ N(mu, 1)``
    with ``mu = sqrt(2) Phi^-1(C)`` (which gives AUC = C). Then the true model is logistic
    in LP, ``logit P(y=1 | LP) = logit(phi) + mu LP - mu^2 / 2``, and

    ``R2_CS = 1 - exp(-LR / n)``, ``LR / n = 2 (E[log L_model] - (phi ln phi + (1-phi) ln(1-phi)))``

    with the expectation over the two normal distributions, computed here by adaptive
    quadrature. ``pmsampsize`` estimates the same quantity by simulating 10^6 patients
    (seed 123456) and rounding to 4 decimals; this is its exact large-sample limit.
    """
    c = _number("cstatistic", cstatistic, low=0.5, high=1.0)
    phi = _number("prevalence", prevalence, low=0.0, high=1.0)
    mu = math.sqrt(2.0) * stats.norm.ppf(c)
    a = math.log(phi / (1.0 - phi)) - mu * mu / 2.0

    def log_p_event(lp):  # log P(y=1 | lp), integrated against N(mu, 1)
        return -np.logaddexp(0.0, -(a + mu * lp)) * stats.norm.pdf(lp, loc=mu)

    def log_p_non_event(lp):  # log P(y=0 | lp), integrated against N(0, 1)
        return -np.logaddexp(0.0, a + mu * lp) * stats.norm.pdf(lp)

    e1 = integrate.quad(log_p_event, -np.inf, np.inf, epsabs=1e-13, epsrel=1e-12)[0]
    e0 = integrate.quad(log_p_non_event, -np.inf, np.inf, epsabs=1e-13, epsrel=1e-12)[0]
    loglik = phi * e1 + (1.0 - phi) * e0
    loglik_null = phi * math.log(phi) + (1.0 - phi) * math.log1p(-phi)
    return float(-math.expm1(-2.0 * (loglik - loglik_null)))


@dataclass(frozen=True)
class SampleSizeCriterion:
    """One criterion of a sample-size calculation.

    Attributes
    ----------
    criterion : str
        Short name, e.g. ``"shrinkage"``.
    description : str
        What the criterion ensures.
    n : int
        Minimum number of patients for this criterion.
    events : float
        Expected events at that n (``n * prevalence``).
    value : float
        The target it secures: shrinkage (development criteria 1-2), margin of error
        (criterion 3), or the anticipated performance (validation criteria).
    se : float
        Standard error targeted (validation criteria; NaN for development).
    ci_width : float
        Target 95 % interval width (validation criteria; NaN for development).
    """

    criterion: str
    description: str
    n: int
    events: float
    value: float
    se: float = math.nan
    ci_width: float = math.nan


class _CriteriaResult:
    """``to_frame``/``to_dict`` shared by the two sample-size results."""

    def to_frame(self) -> pd.DataFrame:
        """One row per criterion plus a ``final`` row: ``criterion, description, n, events,
        value, se, ci_width``."""
        final = SampleSizeCriterion("final", f"largest n ({self.binding_criterion})", self.n,
                                    self.events, math.nan)
        return pd.DataFrame([asdict(c) for c in (*self.criteria, final)])

    def to_dict(self) -> dict:
        out = asdict(self)
        out["criteria"] = [asdict(c) for c in self.criteria]
        return out


@dataclass(frozen=True)
class SampleSizeResult(_CriteriaResult):
    """Minimum sample size to develop a logistic prediction model (Riley et al.).

    Attributes
    ----------
    n : int
        Final minimum sample size, the largest over the criteria.
    events : float
        ``n * prevalence``.
    epp : float
        Events per candidate predictor parameter, ``events / parameters``.
    binding_criterion : str
        Name of the criterion that sets ``n``.
    criteria : tuple of SampleSizeCriterion
        Criteria 1-3: ``shrinkage``, ``r2_difference``, ``intercept``.
    parameters : int
    prevalence, shrinkage, mmoe, r2_difference : float
        Inputs.
    cox_snell_r2 : float
        Anticipated Cox-Snell R-squared used.
    cox_snell_r2_source : str
        ``"input"`` or ``"cstatistic"`` (approximated from ``cstatistic``).
    cstatistic : float
        The C-statistic given, or NaN.
    max_cox_snell_r2, nagelkerke_r2 : float
        ``R2_max`` for this prevalence and ``cox_snell_r2 / R2_max``.
    """

    n: int
    events: float
    epp: float
    binding_criterion: str
    criteria: tuple
    parameters: int
    prevalence: float
    shrinkage: float
    mmoe: float
    r2_difference: float
    cox_snell_r2: float
    cox_snell_r2_source: str
    cstatistic: float
    max_cox_snell_r2: float
    nagelkerke_r2: float

    def to_frame(self) -> pd.DataFrame:
        """One row per criterion plus a ``final`` row: ``criterion, description, n, events,
        value, se, ci_width, epp``."""
        frame = super().to_frame()
        frame["epp"] = frame["events"] / self.parameters
        return frame


def _n_for_shrinkage(parameters: int, r2: float, shrinkage: float) -> int:
    # Riley et al. 2019 eq. 11: n = P / ((S - 1) ln(1 - R2_CS / S))
    return math.ceil(parameters / ((shrinkage - 1.0) * math.log1p(-r2 / shrinkage)))


def pmsampsize_binary(
    *,
    cstatistic: float | None = None,
    rsquared: float | None = None,
    parameters: int,
    prevalence: float,
    shrinkage: float = 0.9,
    mmoe: float = 0.05,
    r2_difference: float = 0.05,
) -> SampleSizeResult:
    """Minimum sample size to develop a logistic prediction model (Riley et al. 2019/2020).

    Parameters
    ----------
    cstatistic : float, optional
        C-statistic of an existing model; used to approximate the Cox-Snell R-squared by
        :func:`cox_snell_r2_from_cstatistic`. Give exactly one of ``cstatistic`` and
        ``rsquared``.
    rsquared : float, optional
        Anticipated Cox-Snell R-squared of the new model (an optimism-adjusted value from a
        previous study, or conservative guess).
    parameters : int
        Number of candidate predictor parameters (a spline or a 3-level factor counts more
        than one).
    prevalence : float
        Anticipated outcome proportion in (0, 1).
    shrinkage : float
        Target expected uniform shrinkage factor (criterion 1), default 0.9.
    mmoe : float
        Absolute margin of error for the overall risk (criterion 3), default 0.05.
    r2_difference : float
        Acceptable difference between apparent and adjusted Nagelkerke R-squared
        (criterion 2), default 0.05.

    Returns
    -------
    SampleSizeResult

    Notes
    -----
    With ``R2`` the Cox-Snell R-squared, ``P`` the parameters and ``phi`` the prevalence:

    1. *Shrinkage*: ``n1 = ceil(P / ((S - 1) ln(1 - R2 / S)))``.
    2. *Small optimism in R-squared*: ``S2 = R2 / (R2 + delta R2_max)`` with
       ``R2_max = 1 - exp(2 (phi ln phi + (1 - phi) ln(1 - phi)))``; ``n2`` as ``n1`` with S2.
    3. *Precise overall risk*: ``n3 = ceil((1.96 / mmoe)^2 phi (1 - phi))``.

    Final ``n = max(n1, n2, n3)``, events ``n phi``, EPP ``n phi / P``. This reproduces
    ``pmsampsize(type = "b")`` from version 1.1.1 on (earlier versions rounded R2_max).
    """
    if (cstatistic is None) == (rsquared is None):
        raise InvalidInputError(
            "give exactly one of rsquared (anticipated Cox-Snell R-squared) and cstatistic "
            "(C-statistic of an existing model, converted to a Cox-Snell R-squared)"
        )
    if isinstance(parameters, bool) or not isinstance(parameters, (int, np.integer)) or parameters < 1:
        raise InvalidInputError(f"parameters must be a positive integer, got {parameters!r}")
    phi = _number("prevalence", prevalence, low=0.0, high=1.0)
    shrinkage = _number("shrinkage", shrinkage, low=0.0, high=1.0)
    mmoe = _number("mmoe", mmoe, low=0.0, high=1.0)
    delta = _number("r2_difference", r2_difference, low=0.0, high=1.0)
    r2_max = max_cox_snell_r2(phi)
    if rsquared is not None:
        r2 = _number("rsquared", rsquared, low=0.0, high=1.0)
        source, c = "input", math.nan
    else:
        c = _number("cstatistic", cstatistic, low=0.5, high=1.0)
        r2, source = cox_snell_r2_from_cstatistic(c, phi), "cstatistic"
    if r2 >= r2_max:
        raise InvalidInputError(
            f"the Cox-Snell R-squared {r2:.4g} is not below its maximum {r2_max:.4g} for "
            f"prevalence {phi}; check the value (a Nagelkerke R-squared must be multiplied by "
            "the maximum first)"
        )
    if shrinkage <= r2:
        raise InvalidInputError(
            f"shrinkage {shrinkage} must exceed the Cox-Snell R-squared {r2:.4g}, otherwise "
            "ln(1 - R2 / S) is undefined"
        )
    n1 = _n_for_shrinkage(int(parameters), r2, shrinkage)
    s2 = r2 / (r2 + delta * r2_max)
    n2 = _n_for_shrinkage(int(parameters), r2, s2)
    n3 = math.ceil((Z95 / mmoe) ** 2 * phi * (1.0 - phi))
    criteria = (
        SampleSizeCriterion("shrinkage", f"expected shrinkage of predictor effects >= {shrinkage}",
                            n1, n1 * phi, shrinkage),
        SampleSizeCriterion("r2_difference", f"apparent - adjusted Nagelkerke R2 <= {delta}",
                            n2, n2 * phi, s2),
        SampleSizeCriterion("intercept", f"overall risk estimated within +/- {mmoe}",
                            n3, n3 * phi, mmoe),
    )
    binding = max(criteria, key=lambda cr: cr.n)
    n = binding.n
    return SampleSizeResult(
        n=n,
        events=n * phi,
        epp=n * phi / int(parameters),
        binding_criterion=binding.criterion,
        criteria=criteria,
        parameters=int(parameters),
        prevalence=phi,
        shrinkage=shrinkage,
        mmoe=mmoe,
        r2_difference=delta,
        cox_snell_r2=r2,
        cox_snell_r2_source=source,
        cstatistic=c,
        max_cox_snell_r2=r2_max,
        nagelkerke_r2=r2 / r2_max,
    )


# --------------------------------------------------------------------------- validation


@dataclass(frozen=True)
class ValidationSampleSizeResult(_CriteriaResult):
    """Minimum sample size to externally validate a binary-outcome model (Riley et al. 2021).

    Attributes
    ----------
    n : int
        Final minimum sample size, the largest over the criteria.
    events : float
        ``n * prevalence``.
    binding_criterion : str
    criteria : tuple of SampleSizeCriterion
        ``oe`` (observed/expected), ``calibration_slope``, ``cstatistic`` and, when
        requested, ``net_benefit`` (standardized).
    prevalence, cstatistic : float
        Inputs.
    lp_distribution : str
        Description of the assumed distribution of the linear predictor, or ``"none"``.
    sensitivity, specificity, threshold : float
        Used by the net-benefit criterion (NaN when not requested).
    """

    n: int
    events: float
    binding_criterion: str
    criteria: tuple
    prevalence: float
    cstatistic: float
    lp_distribution: str
    sensitivity: float
    specificity: float
    threshold: float



def _grid_se(se: float, step: float | None) -> float:
    """Round an SE up to the grid ``step`` (pmvalsampsize searches SE in steps of 1e-4)."""
    if step is None:
        return se
    return math.ceil(se / step - 1e-9) * step


def _lp_expectation(func, lp_normal, lp_beta, lp_range=(-math.inf, math.inf)) -> float:
    """E[func(LP) 1{LP in lp_range}] for LP ~ N(mean, sd), or LP = logit(P), P ~ Beta(a, b)."""
    lo, hi = lp_range
    if lp_normal is not None:
        mean, sd = lp_normal

        def integrand(x):
            return func(x) * stats.norm.pdf(x, loc=mean, scale=sd)

        lo, hi = max(lo, mean - 40.0 * sd), min(hi, mean + 40.0 * sd)
        inside = [mean] if lo < mean < hi else None
        return integrate.quad(integrand, lo, hi, points=inside, limit=200,
                              epsabs=1e-14, epsrel=1e-11)[0]
    a, b = lp_beta

    def integrand_p(q):
        return func(special.logit(q)) * stats.beta.pdf(q, a, b)

    return integrate.quad(integrand_p, float(special.expit(lo)), float(special.expit(hi)),
                          limit=200, epsabs=1e-14, epsrel=1e-11)[0]


def _check_pair(name, value, *, positive_first: bool):
    try:
        first, second = (float(v) for v in value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} must be a pair of numbers, got {value!r}") from None
    if not (math.isfinite(first) and math.isfinite(second)) or second <= 0 or (
        positive_first and first <= 0
    ):
        raise InvalidInputError(
            f"{name} must be finite with a positive second value"
            + (" and a positive first value" if positive_first else "") + f", got {value!r}"
        )
    return first, second


def _cstatistic_n(c: float, phi: float, width: float) -> tuple[int, float]:
    """Smallest n with 2 * 1.96 * SE(C) <= width, SE from Newcombe (2006) as in pmvalsampsize.

    ``SE^2 = C (1 - C) (1 + (n/2 - 1)(1 - C)/(2 - C) + (n/2 - 1) C/(1 + C)) / (n^2 phi (1 - phi))``
    decreases in n; solve the quadratic ``s n^2 - K (A + B)/2 n - K (1 - A - B) = 0`` and
    check the integers around the root.
    """
    a_ = (1.0 - c) / (2.0 - c)
    b_ = c / (1.0 + c)
    k = c * (1.0 - c) / (phi * (1.0 - phi))

    def se(n):
        return math.sqrt(k * (1.0 + (n / 2.0 - 1.0) * (a_ + b_)) / (n * n))

    s = (width / (2.0 * Z95)) ** 2
    lin, const = k * (a_ + b_) / 2.0, k * (1.0 - a_ - b_)
    root = (lin + math.sqrt(lin * lin + 4.0 * s * const)) / (2.0 * s)
    n = max(2, math.ceil(root) - 2)
    while 2.0 * Z95 * se(n) > width:
        n += 1
    return n, se(n)


def validation_binary(
    *,
    prevalence: float,
    cstatistic: float,
    lp_normal: tuple[float, float] | None = None,
    lp_beta: tuple[float, float] | None = None,
    oe: float = 1.0,
    oe_ci_width: float = 0.2,
    cslope_ci_width: float = 0.2,
    cstatistic_ci_width: float = 0.1,
    threshold: float | None = None,
    sensitivity: float | None = None,
    specificity: float | None = None,
    net_benefit_ci_width: float = 0.2,
    se_step: float | None = None,
) -> ValidationSampleSizeResult:
    """Minimum sample size for external validation of a binary-outcome risk model.

    Covered (Riley et al. 2021, ``pmvalsampsize`` type "b"): precise O/E, precise
    calibration slope, precise C-statistic and, optionally, precise standardized net
    benefit. Not covered: the ``lpcstat`` option of pmvalsampsize (LP distributions found
    iteratively from the C-statistic), continuous and time-to-event outcomes.

    Parameters
    ----------
    prevalence : float
        Anticipated outcome proportion in the validation population.
    cstatistic : float
        Anticipated C-statistic in the validation population.
    lp_normal : (mean, sd), optional
        Linear predictor (log-odds of the model's risks) ~ Normal(mean, sd).
    lp_beta : (alpha, beta), optional
        Model's predicted risks ~ Beta(alpha, beta). Give exactly one of ``lp_normal`` and
        ``lp_beta``; needed for the calibration-slope criterion and, without sensitivity and
        specificity, for the net-benefit criterion.
    oe : float
        Anticipated observed/expected ratio (default 1).
    oe_ci_width, cslope_ci_width, cstatistic_ci_width : float
        Target widths of the 95 % intervals of O/E (default 0.2), calibration slope (0.2)
        and C-statistic (0.1).
    threshold : float, optional
        Risk threshold of the net-benefit criterion; the criterion is computed only when
        given.
    sensitivity, specificity : float, optional
        Anticipated at ``threshold``; if omitted they are derived from the LP distribution
        assuming a calibrated model (``P(y=1 | LP) = expit(LP)``).
    net_benefit_ci_width : float
        Target width of the 95 % interval of the standardized net benefit (default 0.2).
    se_step : float, optional
        ``None`` (default) solves each target SE exactly. pmvalsampsize instead searches the
        SE upwards on a grid of ``1e-4``, giving slightly larger SEs and smaller n;
        ``se_step=1e-4`` reproduces that.

    Returns
    -------
    ValidationSampleSizeResult

    Notes
    -----
    1. *O/E*: the interval ``exp(ln(O/E) +/- 1.96 SE)`` has width ``2 O/E sinh(1.96 SE)``, so
       ``SE = asinh(W / (2 O/E)) / 1.96`` and ``n = ceil((1 - phi) / (phi SE^2))``.
    2. *Calibration slope*: with the calibration model ``logit P(y=1) = a + b LP`` at
       ``a = 0, b = 1``, ``I_00 = E[pi (1 - pi)]``, ``I_01 = E[LP pi (1 - pi)]``,
       ``I_11 = E[LP^2 pi (1 - pi)]`` (``pi = expit(LP)``, expectations over the LP
       distribution by quadrature), ``n = ceil(I_00 / (SE^2 (I_00 I_11 - I_01^2)))`` with
       ``SE = W / (2 x 1.96)``.
    3. *C-statistic*: smallest n whose Newcombe (2006) SE gives an interval no wider than W.
    4. *Net benefit*: ``NB = sens phi - (1 - spec)(1 - phi) t / (1 - t)``, standardized
       ``sNB = NB / phi``, ``w = (1 - phi) / phi * t / (1 - t)``,
       ``n = ceil((sens (1 - sens) / phi + w^2 spec (1 - spec) / (1 - phi)
       + w^2 (1 - spec)^2 / (phi (1 - phi))) / SE^2)``, ``SE = W / (2 x 1.96)``.
    """
    phi = _number("prevalence", prevalence, low=0.0, high=1.0)
    c = _number("cstatistic", cstatistic, low=0.5, high=1.0)
    oe = _number("oe", oe, low=0.0, high=math.inf)
    w_oe = _number("oe_ci_width", oe_ci_width, low=0.0, high=math.inf)
    w_cs = _number("cslope_ci_width", cslope_ci_width, low=0.0, high=math.inf)
    w_c = _number("cstatistic_ci_width", cstatistic_ci_width, low=0.0, high=1.0)
    w_nb = _number("net_benefit_ci_width", net_benefit_ci_width, low=0.0, high=math.inf)
    if se_step is not None:
        se_step = _number("se_step", se_step, low=0.0, high=1.0)
    if lp_normal is not None and lp_beta is not None:
        raise InvalidInputError("give at most one of lp_normal and lp_beta")
    if lp_normal is not None:
        lp_normal = _check_pair("lp_normal", lp_normal, positive_first=False)
        lp_text = f"normal(mean={lp_normal[0]:g}, sd={lp_normal[1]:g})"
    elif lp_beta is not None:
        lp_beta = _check_pair("lp_beta", lp_beta, positive_first=True)
        lp_text = f"risks beta(alpha={lp_beta[0]:g}, beta={lp_beta[1]:g})"
    else:
        raise InvalidInputError(
            "give the anticipated distribution of the model's linear predictor: lp_normal=(mean, "
            "sd) of the log-odds, or lp_beta=(alpha, beta) of the predicted risks; it is needed "
            "for the calibration-slope criterion"
        )

    criteria = []
    # 1. O/E
    se_oe = _grid_se(math.asinh(w_oe / (2.0 * oe)) / Z95, se_step)
    n1 = math.ceil((1.0 - phi) / (phi * se_oe**2))
    criteria.append(SampleSizeCriterion("oe", f"95% CI of O/E no wider than {w_oe}",
                                        n1, n1 * phi, oe, se_oe, w_oe))
    # 2. calibration slope
    def weight(x):
        pi = special.expit(x)
        return pi * (1.0 - pi)

    i00 = _lp_expectation(weight, lp_normal, lp_beta)
    i01 = _lp_expectation(lambda x: x * weight(x), lp_normal, lp_beta)
    i11 = _lp_expectation(lambda x: x * x * weight(x), lp_normal, lp_beta)
    se_cs = _grid_se(w_cs / (2.0 * Z95), se_step)
    n2 = math.ceil(i00 / (se_cs**2 * (i00 * i11 - i01**2)))
    criteria.append(SampleSizeCriterion("calibration_slope",
                                        f"95% CI of the calibration slope no wider than {w_cs}",
                                        n2, n2 * phi, 1.0, se_cs, w_cs))
    # 3. C-statistic
    n3, se_c = _cstatistic_n(c, phi, w_c)
    criteria.append(SampleSizeCriterion("cstatistic", f"95% CI of the C-statistic no wider than {w_c}",
                                        n3, n3 * phi, c, se_c, w_c))
    # 4. standardized net benefit (optional)
    sens = spec = t = math.nan
    if threshold is not None:
        t = _number("threshold", threshold, low=0.0, high=1.0)
        if (sensitivity is None) != (specificity is None):
            raise InvalidInputError("give both sensitivity and specificity, or neither")
        if sensitivity is None:
            lp_t = special.logit(t)
            events = _lp_expectation(special.expit, lp_normal, lp_beta)
            tp = _lp_expectation(special.expit, lp_normal, lp_beta, (lp_t, math.inf))
            tn = _lp_expectation(lambda x: special.expit(-x), lp_normal, lp_beta, (-math.inf, lp_t))
            sens, spec = tp / events, tn / (1.0 - events)
        else:
            sens = _number("sensitivity", sensitivity, low=0.0, high=1.0, low_open=False,
                           high_open=False)
            spec = _number("specificity", specificity, low=0.0, high=1.0, low_open=False,
                           high_open=False)
        odds = t / (1.0 - t)
        nb = sens * phi - (1.0 - spec) * (1.0 - phi) * odds
        w = (1.0 - phi) / phi * odds
        se_nb = _grid_se(w_nb / (2.0 * Z95), se_step)
        var1 = (sens * (1.0 - sens) / phi + w * w * spec * (1.0 - spec) / (1.0 - phi)
                + w * w * (1.0 - spec) ** 2 / (phi * (1.0 - phi)))
        n4 = math.ceil(var1 / se_nb**2)
        criteria.append(SampleSizeCriterion(
            "net_benefit", f"95% CI of the standardized net benefit at t={t:g} no wider than {w_nb}",
            n4, n4 * phi, nb / phi, se_nb, w_nb))
    elif sensitivity is not None or specificity is not None:
        raise InvalidInputError("sensitivity and specificity need the threshold they apply to")

    binding = max(criteria, key=lambda cr: cr.n)
    return ValidationSampleSizeResult(
        n=binding.n,
        events=binding.n * phi,
        binding_criterion=binding.criterion,
        criteria=tuple(criteria),
        prevalence=phi,
        cstatistic=c,
        lp_distribution=lp_text,
        sensitivity=float(sens),
        specificity=float(spec),
        threshold=float(t),
    )
