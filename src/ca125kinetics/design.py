"""Design of a randomised trial with a time-to-event endpoint (PFS, DFS): events, patients, power.

Four parts, all numpy/scipy (statsmodels only for the non-inferiority analysis):

* **Closed forms** (Schoenfeld 1981/1983): the events a two-arm log-rank/Cox comparison needs
  for superiority or non-inferiority (:func:`events`), the hazard ratio detectable with a given
  number of events (:func:`detectable_hr`) and the non-inferiority margin it supports
  (:func:`supported_margin`), a margin on survival at a time point turned into a hazard-ratio
  margin (:func:`hr_margin_from_difference`), and the patients needed to observe those events
  with uniform accrual, a fixed follow-up after the last patient and exponential survival
  (:func:`sample_size`).
* **Selection trials** (RESCUE-like): the surgery arm is a mixture of complete and incomplete
  resections, so the effect the trial sees is diluted by the selection model's positive
  predictive value. :func:`simulate_selection_trial` estimates the power of N patients by
  simulating many trials analysed with the log-rank test; :func:`mixture_hr` is the effective
  hazard ratio behind the closed-form events; :func:`selection_from_predictions` turns a
  cohort's predictions and a threshold into the share randomised and the PPV.
* **Non-inferiority analysis** (RESET-like): :func:`noninferiority_analysis` compares the
  Kaplan-Meier survival at a time point and the Cox hazard ratio with stated margins.
* The ``ca125 design`` command line is :mod:`ca125kinetics.cli.design`.

Conventions (stated again where they matter)
--------------------------------------------
* **Every hazard ratio is experimental vs control**: HR < 1 means fewer events on the
  experimental arm (surgery, reduced margins). Results carry a ``direction`` text saying so.
* Superiority: H0 ``HR >= 1`` against ``HR < 1``. Non-inferiority with a margin ``M > 1``:
  H0 ``HR >= M`` against ``HR < M`` (the experimental arm is at most ``M`` times as hazardous).
* ``alpha`` is the total type I error of a test with ``sided`` sides; the critical value is
  ``z_(1 - alpha / sided)``. A one-sided 0.025 test and a two-sided 0.05 test need the same
  events; power counts only rejections in the direction of benefit.
* ``allocation`` is the share of patients randomised to the experimental arm (0.5 = 1:1;
  2:1 experimental:control is 2/3). ``n`` patients are split into ``ceil(n allocation)``
  experimental and the rest control (:func:`arm_sizes`), by every function here.
* Time is in months (any unit works if every time argument uses it).

References
----------
Schoenfeld DA. The asymptotic properties of nonparametric tests for comparing survival
distributions. Biometrika 1981;68:316-319. Schoenfeld DA. Sample-size formula for the
proportional-hazards regression model. Biometrics 1983;39:499-503. Collett D. Modelling
Survival Data in Medical Research, 3rd ed. CRC 2015, ch. 10 (probability of an event under
uniform accrual). Lachin JM, Foulkes MA. Evaluation of sample size and power for analyses of
survival with allowance for nonuniform patient entry, losses to follow-up, noncompliance, and
stratification. Biometrics 1986;42:507-519. Struthers CA, Kalbfleisch JD. Misspecified
proportional hazard models. Biometrika 1986;73:363-369. Harter P, et al. Randomized trial of
cytoreductive surgery for relapsed ovarian cancer (DESKTOP III). N Engl J Med
2021;385:2123-2131. Com-Nougue C, Rodary C, Patte C. How to establish equivalence when data are
censored: a randomized trial of treatments for B non-Hodgkin lymphoma. Stat Med
1993;12:1353-1364 (survival-difference margins as hazard-ratio margins).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import integrate, optimize, stats

from .errors import InvalidInputError, argument_name as _arg
from .validation.samplesize import _number

__all__ = [
    "DIRECTION",
    "EventsResult",
    "DetectableHrResult",
    "TrialSampleSizeResult",
    "SelectionResult",
    "SelectionTrialResult",
    "SelectionSampleSizeResult",
    "NonInferiorityResult",
    "events",
    "detectable_hr",
    "supported_margin",
    "patients_support",
    "hr_margin_from_difference",
    "event_probability",
    "sample_size",
    "arm_sizes",
    "mixture_hr",
    "simulate_selection_trial",
    "selection_trial_sample_size",
    "selection_from_predictions",
    "power_curve",
    "plot_power_curve",
    "noninferiority_analysis",
]

#: How every hazard ratio of this module reads.
DIRECTION = "hazard ratio experimental vs control (< 1 favours the experimental arm)"
#: Conventions for the probability of an event by the analysis (see :func:`event_probability`).
EVENT_PROBABILITY_CONVENTIONS = ("average", "control")
#: Most patients :func:`simulate_selection_trial` simulates at once (a block of trials, ~2e6
#: patients); a trial larger than this could not be simulated in memory, so it is refused.
SIMULATION_MAX_PATIENTS = 2_000_000
#: Most trials :func:`simulate_selection_trial` simulates: the Monte Carlo standard error of a
#: power is then at most 0.0005, below the third decimal it is reported to; more trials only
#: take longer (a million trials of 160 patients take minutes, 10^10 ran for days).
SIMULATION_MAX_TRIALS = 1_000_000
#: Most simulated patients (trials x patients per trial) one simulation draws: 1e9, a million
#: trials of 1000 patients or 500 trials of 2,000,000, minutes at the ~2e6 patients a second
#: the simulation runs on one core. Memory does not grow with it (trials are simulated in
#: blocks of about :data:`SIMULATION_MAX_PATIENTS` patients), time does: the largest sizes the
#: two bounds above allow (a million trials of 2,000,000) would draw 2e12 patients, for days.
SIMULATION_MAX_DRAWS = 1_000_000_000


# =========================================================================== input checks

def _given(name: str, value) -> str:
    """Argument ``name`` given ``value``, written as the caller writes it: ``alpha=0.025`` in
    Python, ``--alpha 0.025`` as an option."""
    shown = _arg(name)
    return f"{shown} {value}" if shown.startswith("-") else f"{shown}={value}"


def _check_count(name, value, low=1, high=None, why: str = "") -> int:
    """``value`` as an int from ``low`` to ``high`` (no upper bound when None), else an
    :class:`InvalidInputError` saying the range and, past ``high``, ``why``."""
    name = _arg(name)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        bound = f">= {low}" if high is None else f"from {low} to {high:,}"
        raise InvalidInputError(f"{name} must be an integer {bound}, got {value!r}")
    if high is not None and value > high:
        raise InvalidInputError(f"{name} must be an integer from {low} to {high:,}, got {value:,}"
                                + (f": {why}" if why else ""))
    return int(value)


def _check_test(alpha, sided, power, allocation, *, power_name: str = "power") -> tuple[float, int, float | None, float]:
    a_, s_, p_ = _arg("alpha"), _arg("sided"), _arg(power_name)
    alpha = _number(a_, alpha, low=0.0, high=1.0)
    if sided not in (1, 2) or isinstance(sided, bool):
        raise InvalidInputError(f"{s_} must be 1 or 2 (sides of the test), got {sided!r}")
    if alpha / sided >= 0.5:
        # z_(1 - alpha/sided) <= 0: the test would reject when the estimate favours the control arm
        raise InvalidInputError(
            f"{a_} / {s_} must be below 0.5, got {a_} {alpha:g} with {s_} {sided}: the critical value "
            f"z_(1-alpha/sided) would be <= 0, rejecting an estimate that favours the control arm; give the "
            f"total type I error, e.g. {_given('alpha', 0.025)} with {_given('sided', 1)} or {_given('alpha', 0.05)} "
            f"with {_given('sided', 2)}")
    if power is None:                      # a simulation: the power is what it estimates
        return alpha, int(sided), power, _number(_arg("allocation"), allocation, low=0.0, high=1.0)
    power = _number(p_, power, low=0.0, high=1.0)
    if power <= alpha:
        # z(1 - alpha/sided) + z(power) <= 0 would be squared into a plausible-looking count
        raise InvalidInputError(
            f"{p_} ({power:g}) must exceed {a_} ({alpha:g}): a test that rejects no more often "
            f"under the alternative than under the null is not a design; give e.g. {_given(power_name, 0.8)} or 0.9")
    allocation = _number(_arg("allocation"), allocation, low=0.0, high=1.0)
    return alpha, int(sided), power, allocation


def arm_sizes(n: int, allocation: float) -> tuple[int, int]:
    """Split ``n`` randomised patients into the experimental and the control arm.

    The experimental arm gets ``ceil(n allocation)`` patients (rounded up: at least its
    share), the control arm the rest, ``n - ceil(n allocation)``; 1:1 with an odd ``n`` gives
    the extra patient to the experimental arm. The one rule of the package: the patients of
    :func:`sample_size` and the simulated trials of :func:`simulate_selection_trial` are
    split by it. A split that leaves an arm empty is refused (:class:`InvalidInputError`).
    """
    n_e = math.ceil(n * allocation - 1e-9)      # 1e-9: 100 x 0.07 is 7 patients, not 8 (7.000000000000001)
    if not 0 < n_e < n:
        arm = "control" if n_e >= n else "experimental"
        raise InvalidInputError(
            f"{n} patient(s) with {_arg('allocation')} {allocation:g} leave the {arm} arm empty (experimental "
            f"ceil({n} x {allocation:g}) = {n_e}, control the rest); randomise more patients or choose an "
            "allocation nearer 0.5")
    return n_e, n - n_e


def _z_sum(alpha: float, sided: int, power: float) -> float:
    """``z_(1 - alpha / sided) + z_power``."""
    return _z_critical(alpha, sided) + float(stats.norm.ppf(power))


def _z_critical(alpha: float, sided: int) -> float:
    """``z_(1 - alpha / sided)``, from the upper tail: ``1 - alpha / sided`` rounds to 1 for an
    alpha below about 1e-16, whose quantile would be infinite."""
    return float(stats.norm.isf(alpha / sided))


def _check_hr(name: str, value) -> float:
    return _number(_arg(name), value, low=0.0, high=math.inf)


class _Frame:
    """``to_dict``/``to_json``/``to_frame`` shared by the results of this module."""

    def to_dict(self) -> dict:
        """Every attribute, JSON-ready (tuples as lists, NaN as None)."""
        def clean(v):
            if isinstance(v, float) and not math.isfinite(v):
                return None
            if isinstance(v, (list, tuple)):
                return [clean(x) for x in v]
            if isinstance(v, dict):
                return {k: clean(x) for k, x in v.items()}
            if isinstance(v, np.generic):
                return clean(v.item())
            return v
        return {k: clean(v) for k, v in asdict(self).items()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_frame(self) -> pd.DataFrame:
        """One row per scalar attribute: ``quantity, value``."""
        rows = [(k, v) for k, v in asdict(self).items() if not isinstance(v, (list, tuple, dict))]
        return pd.DataFrame(rows, columns=["quantity", "value"])


# =========================================================================== closed forms


def hr_margin_from_difference(control_survival: float, difference: float) -> float:
    """Hazard-ratio margin equivalent to a margin on survival at a time point.

    Parameters
    ----------
    control_survival : float
        Anticipated survival of the control arm at the time point, ``S_c`` in (0, 1)
        (e.g. 3-year DFS 0.80).
    difference : float
        Largest acceptable loss of survival at that time, ``delta`` in (0, S_c)
        (e.g. 0.05 = five percentage points).

    Returns
    -------
    float
        ``M = ln(S_c - delta) / ln(S_c)`` (> 1): under proportional hazards the experimental
        arm's survival is ``S_c^HR``, and ``S_c^M = S_c - delta``. The margin holds at that
        time point only through the proportional-hazards assumption.
    """
    s = _number(_arg("control_survival"), control_survival, low=0.0, high=1.0)
    d = _number(_arg("margin_diff", "difference (margin on survival)"), difference, low=0.0, high=s)
    return math.log(s - d) / math.log(s)


def _time_point_uses(margin_diff, control_survival, *, control_arm: bool) -> tuple[str, ...]:
    """Which of ``control_survival`` and ``at_time`` a design calculation uses (the one rule of
    this module and of ``ca125 design``): ``control_survival`` when it gives the control arm
    (``control_arm``) or a margin on survival (``margin_diff``); ``at_time`` is the time point
    of either. A given argument not among them would be read and ignored."""
    uses = ("control_survival",) if control_arm or margin_diff is not None else ()
    at_time = margin_diff is not None or (control_arm and control_survival is not None)
    return uses + (("at_time",) if at_time else ())


def _refuse_unused_time_point(function: str, margin_diff, control_survival, at_time, *, control_arm: bool) -> None:
    """Refuse ``control_survival``/``at_time`` given to ``function`` where it does not use them
    (:func:`_time_point_uses`), naming them and what uses them."""
    uses = _time_point_uses(margin_diff, control_survival, control_arm=control_arm)
    unused = [name for name, value in (("at_time", at_time), ("control_survival", control_survival))
              if value is not None and name not in uses]
    if unused:
        what = ("at_time is the time point of control_survival (the control arm)" if control_arm else
                "control_survival at at_time states a margin on survival with margin_diff (the events do not "
                "depend on the control arm's survival)")
        raise InvalidInputError(f"{function} does not use {', '.join(unused)}: {what}")


def _resolve_margin(margin_hr, margin_diff, at_time, control_survival):
    """(HR margin or None, description) from an HR margin or a survival-difference margin."""
    if margin_hr is not None and margin_diff is not None:
        raise InvalidInputError(f"give one non-inferiority margin: {_arg('margin_hr')} (on the hazard ratio) or "
                                f"{_arg('margin_diff')} (on survival at {_arg('at_time')}), not both")
    if margin_diff is not None:
        if control_survival is None or at_time is None:
            raise InvalidInputError(
                "a margin on the survival difference needs the control arm's survival at the time "
                f"point ({_arg('control_survival')}, e.g. 0.80) and that time ({_arg('at_time')}, e.g. 36 months)")
        _number(_arg("at_time"), at_time, low=0.0)
        m = hr_margin_from_difference(control_survival, margin_diff)
        return m, (f"survival at {at_time:g} no more than {margin_diff:g} below the control's "
                   f"{control_survival:g}, i.e. hazard-ratio margin ln({control_survival:g} - "
                   f"{margin_diff:g}) / ln({control_survival:g}) = {m:.4f} under proportional hazards")
    if margin_hr is not None:
        m = _number(_arg("margin_hr"), margin_hr, low=1.0, high=math.inf)
        return m, f"hazard-ratio margin {m:g}"
    return None, "superiority"


@dataclass(frozen=True)
class EventsResult(_Frame):
    """Events needed by a two-arm log-rank/Cox comparison (Schoenfeld).

    Attributes
    ----------
    events : float
        Required events, unrounded (``ceil`` it for a protocol: ``events_required``).
    events_required : int
        ``ceil(events)``.
    hypothesis : str
        ``"superiority"`` or ``"non-inferiority"``.
    hr : float
        Anticipated hazard ratio (experimental vs control) under the alternative.
    hr_null : float
        Boundary of the null hypothesis: 1 (superiority) or the margin ``M``.
    margin : str
        How the margin was stated (``"superiority"`` when there is none).
    alpha, power, allocation : float
    sided : int
    direction : str
        :data:`DIRECTION`.
    formula : str
    """

    events: float
    events_required: int
    hypothesis: str
    hr: float
    hr_null: float
    margin: str
    alpha: float
    sided: int
    power: float
    allocation: float
    direction: str = DIRECTION
    formula: str = "D = (z_(1-alpha/sided) + z_power)^2 / (p (1 - p) (ln HR - ln HR0)^2)"


def events(hr: float = 1.0, *, alpha: float = 0.025, sided: int = 1, power: float = 0.9,
           allocation: float = 0.5, margin_hr: float | None = None, margin_diff: float | None = None,
           at_time: float | None = None, control_survival: float | None = None) -> EventsResult:
    """Events for a two-arm comparison of hazards, superiority or non-inferiority (Schoenfeld).

    Parameters
    ----------
    hr : float
        Anticipated hazard ratio, experimental vs control, under the alternative (e.g. 0.6
        for superiority; often 1 for non-inferiority). Default 1 (only meaningful with a
        margin).
    alpha : float
        Total type I error of the test (default 0.025).
    sided : {1, 2}
        Sides of the test (default 1); the critical value is ``z_(1 - alpha / sided)``.
    power : float
        Target power (default 0.9).
    allocation : float
        Share randomised to the experimental arm, ``p`` (default 0.5 = 1:1).
    margin_hr : float, optional
        Non-inferiority margin on the hazard ratio, ``M > 1``.
    margin_diff, at_time, control_survival : float, optional
        Non-inferiority margin on survival at ``at_time``: the experimental arm's survival
        may be at most ``margin_diff`` below the control's ``control_survival``; converted
        by :func:`hr_margin_from_difference`. Give at most one of ``margin_hr`` and
        ``margin_diff``.

    Returns
    -------
    EventsResult

    Notes
    -----
    ``D = (z_(1 - alpha/sided) + z_power)^2 / (p (1 - p) (ln HR - ln HR0)^2)`` with
    ``HR0 = 1`` for superiority and ``HR0 = M`` for non-inferiority (Schoenfeld 1983). The
    alternative must lie on the beneficial side of the null: ``HR < HR0``. Reproduces
    gsDesign ``nEvents(hr = 0.6, alpha = 0.025, beta = 0.1)`` = 161.07 and rpact
    ``getSampleSizeSurvival`` (``maxNumberOfEvents``; ``thetaH0`` for the margin).
    """
    alpha, sided, power, allocation = _check_test(alpha, sided, power, allocation)
    hr = _check_hr("hr", hr)
    _refuse_unused_time_point("events", margin_diff, control_survival, at_time, control_arm=False)
    margin, text = _resolve_margin(margin_hr, margin_diff, at_time, control_survival)
    hr0 = 1.0 if margin is None else margin
    if not hr < hr0:
        what = ("superiority needs an anticipated hazard ratio below 1 (experimental vs control), e.g. "
                "0.6" if margin is None else
                f"non-inferiority needs the anticipated hazard ratio (experimental vs control) below the "
                f"margin {hr0:.4g}, e.g. {_given('hr', 1)}")
        raise InvalidInputError(f"{what}; got {_given('hr', f'{hr:g}')}")
    d = _z_sum(alpha, sided, power) ** 2 / (allocation * (1.0 - allocation) * (math.log(hr) - math.log(hr0)) ** 2)
    return EventsResult(
        events=d, events_required=math.ceil(d - 1e-9),
        hypothesis="superiority" if margin is None else "non-inferiority",
        hr=hr, hr_null=hr0, margin=text, alpha=alpha, sided=sided, power=power, allocation=allocation,
    )


@dataclass(frozen=True)
class DetectableHrResult(_Frame):
    """Hazard ratio detectable (or margin supported) with a given number of events.

    Attributes
    ----------
    hr : float
        Superiority: the largest hazard ratio (experimental vs control, < 1) detected with
        the stated power. Non-inferiority: the smallest margin ``M`` (> ``true_hr``) for
        which non-inferiority is shown with the stated power when the true hazard ratio is
        ``true_hr``.
    events : float
    hypothesis : str
    true_hr : float
        Non-inferiority only: the hazard ratio assumed true (NaN for superiority).
    alpha, power, allocation : float
    sided : int
    n, p_event : float
        From :func:`patients_support`: the patients and their probability of an event by
        the analysis (NaN when the events were given).
    at_time, control_survival, survival_difference : float
        Non-inferiority from :func:`patients_support` with a control survival at a time
        point: the margin as a loss of survival there, ``S_c - S_c^M`` (else NaN).
    convention : str or None
        From :func:`patients_support`: the event-probability convention (None when the
        events were given).
    events_expected : float
        From :func:`patients_support`: the events the ``n`` patients expect in both arms,
        ``n (p P_e + (1 - p) P_c)``, under the hazard ratio found (superiority) or the true
        one (else NaN).
    hr_average_convention : float
        With the ``"control"`` convention, when ``events_expected`` falls short of ``events``
        (the power is then below the one stated): the answer of the ``"average"`` convention,
        NaN when it has none (no hazard ratio above 1e-300) or the shortfall is absent.
    note : str
        That shortfall in words ("" when there is none): the text output prints it and the
        JSON carries it, from this one computation.
    direction : str
    formula : str
    """

    hr: float
    events: float
    hypothesis: str
    true_hr: float
    alpha: float
    sided: int
    power: float
    allocation: float
    n: float = math.nan
    p_event: float = math.nan
    at_time: float = math.nan
    control_survival: float = math.nan
    survival_difference: float = math.nan
    convention: str | None = None
    events_expected: float = math.nan
    hr_average_convention: float = math.nan
    note: str = ""
    direction: str = DIRECTION
    formula: str = "ln HR = ln HR0 -/+ (z_(1-alpha/sided) + z_power) / sqrt(p (1 - p) D)"


def _check_events(value) -> float:
    return _number(_arg("events"), value, low=0.0)


def detectable_hr(n_events: float, *, alpha: float = 0.025, sided: int = 1, power: float = 0.9,
                  allocation: float = 0.5) -> DetectableHrResult:
    """Largest hazard ratio (experimental vs control) detectable with ``n_events`` events.

    ``HR = exp(-(z_(1 - alpha/sided) + z_power) / sqrt(p (1 - p) D))``: the inverse of
    :func:`events` for superiority (Schoenfeld 1983). Any true HR at or below it is detected
    with at least the stated power.
    """
    alpha, sided, power, allocation = _check_test(alpha, sided, power, allocation)
    d = _check_events(n_events)
    hr = math.exp(-_z_sum(alpha, sided, power) / math.sqrt(allocation * (1.0 - allocation) * d))
    return DetectableHrResult(hr=hr, events=d, hypothesis="superiority", true_hr=math.nan, alpha=alpha,
                              sided=sided, power=power, allocation=allocation)


def supported_margin(n_events: float, *, true_hr: float = 1.0, alpha: float = 0.025, sided: int = 1,
                     power: float = 0.9, allocation: float = 0.5, control_survival: float | None = None,
                     at_time: float | None = None) -> DetectableHrResult:
    """Smallest non-inferiority margin on the HR that ``n_events`` events support.

    ``M = true_hr exp((z_(1 - alpha/sided) + z_power) / sqrt(p (1 - p) D))``: the inverse of
    :func:`events` for non-inferiority. With this many events, non-inferiority with margin
    ``M`` (or any wider one) is shown with the stated power when the true hazard ratio
    (experimental vs control) is ``true_hr``.

    A non-inferiority margin is above 1. When ``M`` is at most 1 (a true hazard ratio well
    below 1), the events show superiority itself with at least the stated power, and no
    margin is the answer: refused with an :class:`InvalidInputError` that says so, rather
    than printing a "margin" below 1.

    With the control arm's survival ``control_survival`` at ``at_time`` (both or neither) the
    margin is also stated as a loss of survival there, ``S_c - S_c^M`` (proportional hazards).
    """
    alpha, sided, power, allocation = _check_test(alpha, sided, power, allocation)
    d = _check_events(n_events)
    true_hr = _check_hr("true_hr", true_hr)
    if (control_survival is None) != (at_time is None):
        raise InvalidInputError("the margin as a loss of survival needs the control arm's survival at a time point: "
                                f"{_arg('control_survival')} (e.g. 0.80) with {_arg('at_time')} (e.g. 36 months), "
                                "both or neither")
    m = true_hr * math.exp(_z_sum(alpha, sided, power) / math.sqrt(allocation * (1.0 - allocation) * d))
    if m <= 1.0:
        raise InvalidInputError(
            f"with a true hazard ratio of {true_hr:g} (experimental vs control), {d:g} events support a bound of "
            f"{m:.4f}, below 1: that is not a non-inferiority margin (a margin is above 1); these events show "
            f"superiority itself with at least power {power:g}. For the hazard ratio they detect, leave out "
            f"{_arg('true_hr')}")
    loss = {}
    if control_survival is not None:
        s = _number(_arg("control_survival"), control_survival, low=0.0, high=1.0)
        loss = dict(at_time=_number(_arg("at_time"), at_time, low=0.0), control_survival=s,
                    survival_difference=s - s ** m)
    return DetectableHrResult(hr=m, events=d, hypothesis="non-inferiority", true_hr=true_hr, alpha=alpha,
                              sided=sided, power=power, allocation=allocation, **loss)


def patients_support(n: int, *, accrual: float, follow_up: float, control_median: float | None = None,
                     control_survival: float | None = None, at_time: float | None = None,
                     true_hr: float | None = None, alpha: float = 0.025, sided: int = 1, power: float = 0.9,
                     allocation: float = 0.5, convention: str = "control") -> DetectableHrResult:
    """What ``n`` randomised patients support: the detectable HR, or the non-inferiority margin.

    Superiority (``true_hr`` None): the hazard ratio (experimental vs control) ``HR`` such that
    ``n`` patients give exactly the stated power, solving ``n P(event | HR) = D(HR)`` (the
    events :func:`events` needs; ``P`` as in :func:`sample_size` with ``convention``).
    Non-inferiority (``true_hr`` given, often 1): the smallest margin :func:`supported_margin`
    gives for the ``n P(event | true_hr)`` expected events; with ``control_survival`` at
    ``at_time`` the margin is also stated as a loss of survival there, ``S_c - S_c^M``.
    """
    n = _check_count("n", n, low=2)
    if n > 1e300:                   # n P(event) is a float
        raise InvalidInputError(f"{_arg('n')} must be at most 1e300 patients, got a number of {len(str(n))} digits")
    if convention not in EVENT_PROBABILITY_CONVENTIONS:
        raise InvalidInputError(f"convention must be one of {EVENT_PROBABILITY_CONVENTIONS}, got {convention!r}")
    alpha, sided, power, allocation = _check_test(alpha, sided, power, allocation)
    _refuse_unused_time_point("patients_support", None, control_survival, at_time, control_arm=True)
    lam_c, _ = _control_hazard(control_median, control_survival, at_time)
    kw = dict(alpha=alpha, sided=sided, power=power, allocation=allocation)
    out = _patients_support(n, lam_c, accrual, follow_up, control_survival, at_time, true_hr, convention, kw)
    hr = out.hr if true_hr is None else out.true_hr
    p_c, p_e = (float(x) for x in event_probability(np.array([lam_c, lam_c * hr]), accrual, follow_up))
    expected = n * (allocation * p_e + (1.0 - allocation) * p_c)
    hr_average, note = math.nan, ""
    if convention == "control" and expected < out.events:
        try:
            hr_average = _patients_support(n, lam_c, accrual, follow_up, control_survival, at_time, true_hr,
                                           "average", kw).hr
            gives = f"gives a {'detectable hazard ratio' if true_hr is None else 'smallest margin'} of " \
                    f"{_ratio_text(hr_average)}"
        except InvalidInputError:      # no hazard ratio above 1e-300: said, not raised after the answer
            gives = "finds no detectable hazard ratio above 1e-300"
        note = (f"under hazard ratio {hr:.4g} the {n} patients expect {expected:.1f} events (both arms), fewer than "
                f"the {out.events:.1f} the control convention counts: power below {power:g}; "
                f"{_given('convention', 'average')} " + gives)
    return DetectableHrResult(**{**asdict(out), "convention": convention, "events_expected": expected,
                                 "hr_average_convention": hr_average, "note": note})


def _ratio_text(value: float) -> str:
    """A hazard ratio as text: 4 decimals (``0.6198``, ``1.4280``), 4 significant digits
    outside 0.01 to 10,000 (``0.0007088``, ``3.012e+31``), where 4 decimals said ``0.0000``
    or printed 32 digits."""
    return f"{value:.4f}" if 0.01 <= abs(value) < 1e4 else f"{value:.4g}"


def _patients_support(n, lam_c, accrual, follow_up, control_survival, at_time, true_hr, convention,
                      kw) -> DetectableHrResult:
    """:func:`patients_support` for a checked ``n`` and control hazard ``lam_c``, one convention."""
    allocation = kw["allocation"]

    def p_event(hr):
        p_c, p_e = event_probability(np.array([lam_c, lam_c * hr]), accrual, follow_up)
        return float(allocation * p_e + (1.0 - allocation) * p_c) if convention == "average" else float(p_c)

    alpha, power = kw["alpha"], kw["power"]
    if true_hr is None:
        # solved for u = ln HR: ln HR_detectable(n P(e^u)) - u, which falls as u rises (P, the detectable
        # HR's log rises less than u). At u = 0 (HR 1) it is <= 0; at the log of the HR detectable with
        # the fewest events P can give (HR -> 0: the control arm's, (1 - p) P_c for "average") it is >= 0.
        zsum = _z_sum(alpha, kw["sided"], power)

        def gap(u):
            return -zsum / math.sqrt(allocation * (1.0 - allocation) * n * p_event(math.exp(u))) - u

        p_c = float(event_probability(lam_c, accrual, follow_up))
        fewest = n * p_c * ((1.0 - allocation) if convention == "average" else 1.0)
        low = -zsum / math.sqrt(allocation * (1.0 - allocation) * fewest)
        if low < math.log(1e-300):
            raise InvalidInputError(
                f"{n} patients detect only a hazard ratio below 1e-300 (alpha {alpha:g}, power {power:g}, allocation "
                f"{allocation:g}): no design; check {_arg('alpha')}, {_arg('power')} and {_arg('allocation')}")
        u = optimize.brentq(gap, low, 0.0, xtol=1e-14, rtol=1e-14)
        hr = math.exp(u)
        p = p_event(hr)
        out = detectable_hr(n * p, **kw)
    else:
        p = p_event(_check_hr("true_hr", true_hr))
        out = supported_margin(n * p, true_hr=true_hr, control_survival=control_survival,
                               at_time=None if control_survival is None else at_time, **kw)
    return DetectableHrResult(**{**asdict(out), "n": float(n), "p_event": p})


def event_probability(hazard, accrual: float, follow_up: float):
    """Probability that a patient has had the event by the analysis (exponential survival).

    Patients enter uniformly over ``[0, accrual]``; the analysis is at ``accrual +
    follow_up``, so a patient is followed for between ``follow_up`` and ``accrual +
    follow_up``. With hazard ``lambda``:

    ``P = 1 - (exp(-lambda F) - exp(-lambda (A + F))) / (lambda A)``  (``A > 0``),
    ``P = 1 - exp(-lambda F)``  (``A = 0``) (Collett 2015, section 10.4).

    ``hazard`` may be an array; the result has its shape. Computed as ``q + (1 - q) h`` with
    ``q = 1 - exp(-lambda F)`` and ``h = 1 - (1 - exp(-x)) / x``, ``x = lambda A`` (``expm1``,
    and ``h``'s series below ``x = 1e-3``): the formula as written subtracts numbers near 1 and
    gave 1 (or 0) for a hazard below about 1e-15.
    """
    try:
        lam = np.asarray(hazard, dtype=float)
    except (TypeError, ValueError):
        raise InvalidInputError(f"hazard must be a number or an array of numbers, got {hazard!r}") from None
    a = _number(_arg("accrual"), accrual, low=0.0, low_open=False)
    f = _number(_arg("follow_up"), follow_up, low=0.0, low_open=False)
    if a + f <= 0:
        raise InvalidInputError(f"{_arg('accrual')} + {_arg('follow_up')} must be > 0 (the analysis time after the "
                                "first patient)")
    if not (np.isfinite(lam).all() and (lam > 0).all()):
        raise InvalidInputError("hazard must be finite and > 0")
    with np.errstate(over="ignore"):          # a hazard near the largest float: lambda F is inf, P is 1
        q = -np.expm1(-lam * f)                 # an event within the follow-up everyone has
        if a == 0:
            return q
        x = lam * a
    small = x < 1e-3
    xs = np.where(small, x, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.where(small, xs / 2 - xs ** 2 / 6 + xs ** 3 / 24 - xs ** 4 / 120, 1.0 + np.expm1(-x) / x)
    return q + (1.0 - q) * h


def _control_hazard(control_median, control_survival, at_time) -> tuple[float, str]:
    if control_median is not None and control_survival is not None:
        raise InvalidInputError(f"give the control arm's distribution once: {_arg('control_median')}, or "
                                f"{_arg('control_survival')} at {_arg('at_time')} (they define the same exponential "
                                "hazard)")
    if control_median is not None:
        m = _number(_arg("control_median"), control_median, low=0.0)
        return math.log(2.0) / m, f"exponential, control median {m:g}"
    if control_survival is not None and at_time is not None:
        s = _number(_arg("control_survival"), control_survival, low=0.0, high=1.0)
        t = _number(_arg("at_time"), at_time, low=0.0)
        return -math.log(s) / t, f"exponential, control survival {s:g} at {t:g}"
    raise InvalidInputError(f"the number of patients needs the control arm's survival: {_arg('control_median')} "
                            f"(e.g. 14 months), or {_arg('control_survival')} with {_arg('at_time')} (e.g. 0.80 at "
                            "36 months)")


@dataclass(frozen=True)
class TrialSampleSizeResult(_Frame):
    """Patients needed to observe the required events (exponential survival, uniform accrual).

    Attributes
    ----------
    n : int
        Patients to randomise, ``ceil(events / P(event))``.
    n_experimental, n_control : int
        ``ceil(n p)`` and ``n - n_experimental`` (:func:`arm_sizes`).
    events : float
        Required events (unrounded, from :func:`events`).
    p_event, p_event_control, p_event_experimental : float
        Probability of an event by the analysis used to divide, and per arm.
    event_probability_convention : str
        ``"average"`` or ``"control"``.
    hazard_control, hazard_experimental : float
        Exponential hazards (per time unit); experimental = control x the anticipated HR.
    control_median : float
        ``ln 2 / hazard_control``.
    accrual, follow_up : float
    survival_model : str
    events_result : dict
        The :class:`EventsResult` (hypothesis, HR, margin, alpha, power...).
    events_expected : float
        Events the ``n`` patients expect in both arms under the anticipated hazard ratio,
        ``n (p P_e + (1 - p) P_c)``.
    n_average_convention : int or None
        With the ``"control"`` convention, when ``events_expected`` falls short of ``events``
        (the power is then below the one stated): the patients of the ``"average"`` convention
        (else None).
    note : str
        That shortfall in words ("" when there is none): the text output prints it and the
        JSON carries it.
    """

    n: int
    n_experimental: int
    n_control: int
    events: float
    p_event: float
    p_event_control: float
    p_event_experimental: float
    event_probability_convention: str
    hazard_control: float
    hazard_experimental: float
    control_median: float
    accrual: float
    follow_up: float
    survival_model: str
    events_result: dict
    events_expected: float = math.nan
    n_average_convention: int | None = None
    note: str = ""


def sample_size(hr: float = 1.0, *, accrual: float, follow_up: float, control_median: float | None = None,
                control_survival: float | None = None, at_time: float | None = None, alpha: float = 0.025,
                sided: int = 1, power: float = 0.9, allocation: float = 0.5, margin_hr: float | None = None,
                margin_diff: float | None = None, convention: str = "control") -> TrialSampleSizeResult:
    """Patients for a two-arm time-to-event trial: Schoenfeld events / P(event by the analysis).

    Parameters
    ----------
    hr : float
        Anticipated hazard ratio, experimental vs control.
    accrual, follow_up : float
        Uniform accrual period and follow-up after the last patient enters (months).
    control_median : float, optional
        Median of the control arm (exponential). Or give ``control_survival`` at ``at_time``
        (e.g. 3-year DFS 0.80 at 36): ``hazard = -ln S / t``.
    alpha, sided, power, allocation, margin_hr, margin_diff
        As for :func:`events`; a survival-difference margin uses ``control_survival`` at
        ``at_time``.
    convention : {"average", "control"}
        Probability of an event that turns events into patients:

        * ``"control"`` (default: the specification's "probability of an event by the
          analysis, from the control distribution"): ``P = P_c``, the control arm's
          probability; fewer patients than ``"average"`` when the experimental arm has fewer
          events (HR < 1), the same under HR = 1.
        * ``"average"`` (Schoenfeld 1983, Collett 2015, rpact ``getSampleSizeSurvival``):
          ``P = p P_e + (1 - p) P_c``, the expected share of patients with an event across
          both arms under the alternative: more conservative when HR < 1.

        ``P_arm`` is :func:`event_probability` with the arm's exponential hazard. No
        dropout is modelled.

    Returns
    -------
    TrialSampleSizeResult
    """
    if convention not in EVENT_PROBABILITY_CONVENTIONS:
        raise InvalidInputError(f"convention must be one of {EVENT_PROBABILITY_CONVENTIONS}, got {convention!r}")
    _refuse_unused_time_point("sample_size", margin_diff, control_survival, at_time, control_arm=True)
    lam_c, model = _control_hazard(control_median, control_survival, at_time)
    margin_point = {} if margin_diff is None else dict(at_time=at_time, control_survival=control_survival)
    ev = events(hr, alpha=alpha, sided=sided, power=power, allocation=allocation, margin_hr=margin_hr,
                margin_diff=margin_diff, **margin_point)
    lam_e = lam_c * ev.hr
    p_c, p_e = (float(x) for x in event_probability(np.array([lam_c, lam_e]), accrual, follow_up))
    p = ev.allocation * p_e + (1.0 - ev.allocation) * p_c if convention == "average" else p_c
    if not math.isfinite(ev.events / p if p > 0 else math.inf):
        raise InvalidInputError(
            f"the probability of an event by the analysis is {p:.3g} ({model}, hazard {lam_c:.3g} per time unit): "
            f"{ev.events:.2f} events need more patients than can be counted; check {_arg('control_median')} or "
            f"{_arg('control_survival')} (and the time unit)")
    n = math.ceil(ev.events / p - 1e-9)
    n_e, n_c = arm_sizes(n, ev.allocation)
    both = ev.allocation * p_e + (1.0 - ev.allocation) * p_c
    n_average, note = None, ""
    if convention == "control" and n * both < ev.events:
        n_average = math.ceil(ev.events / both - 1e-9)
        note = (f"under the anticipated hazard ratio the {n} patients expect {n * both:.1f} events (both arms), fewer "
                f"than the {ev.events:.2f} required: power below {ev.power:g}; {_given('convention', 'average')} "
                f"gives {n_average} patients")
    return TrialSampleSizeResult(
        n=n, n_experimental=n_e, n_control=n_c, events=ev.events, p_event=p, p_event_control=p_c,
        p_event_experimental=p_e, event_probability_convention=convention, hazard_control=lam_c,
        hazard_experimental=lam_e, control_median=math.log(2.0) / lam_c, accrual=float(accrual),
        follow_up=float(follow_up), survival_model=model, events_result=ev.to_dict(), events_expected=n * both,
        n_average_convention=n_average, note=note,
    )


# =========================================================================== selection trials


def _check_mixture(ppv, hr_complete, hr_incomplete, control_median, accrual, follow_up):
    ppv = _number(_arg("ppv"), ppv, low=0.0, high=1.0, low_open=False, high_open=False)
    hr1 = _check_hr("hr_complete", hr_complete)
    hr2 = _check_hr("hr_incomplete", hr_incomplete)
    med = _number(_arg("control_median"), control_median, low=0.0)
    a = _number(_arg("accrual"), accrual, low=0.0, low_open=False)
    f = _number(_arg("follow_up"), follow_up, low=0.0, low_open=False)
    if a + f <= 0:
        raise InvalidInputError(f"{_arg('accrual')} + {_arg('follow_up')} must be > 0")
    return ppv, hr1, hr2, math.log(2.0) / med, a, f


def mixture_hr(ppv: float, *, hr_complete: float, hr_incomplete: float, control_median: float,
               accrual: float, follow_up: float, allocation: float = 0.5) -> float:
    """Effective hazard ratio (experimental vs control) of a surgery arm that mixes resections.

    The surgery arm holds a share ``ppv`` of complete resections, whose hazard is
    ``hr_complete`` times the control's, and ``1 - ppv`` incomplete ones with
    ``hr_incomplete`` (DESKTOP III: incomplete resection did worse than no surgery, so
    ``hr_incomplete > 1`` is plausible). With exponential control survival (hazard
    ``lambda = ln 2 / control_median``) the arm's survival is
    ``S_e(t) = ppv exp(-lambda hr_c t) + (1 - ppv) exp(-lambda hr_i t)``; its hazard ratio
    ``h_e(t) / lambda`` starts at ``ppv hr_c + (1 - ppv) hr_i`` and drifts towards ``hr_c``
    (the frail incomplete resections progress first): the hazards are not proportional.

    Returns
    -------
    float
        ``exp(integral w(t) ln(h_e(t) / lambda) dt / integral w(t) dt)``: the log hazard ratio
        averaged over the trial's events, ``w(t) = (p f_e(t) + (1 - p) f_c(t)) G(t)`` the
        pooled event density observed by the analysis (``G`` the administrative censoring of
        uniform accrual over ``accrual`` and analysis ``follow_up`` after the last entry).
        This is the effect the log-rank statistic estimates under local alternatives
        (Schoenfeld 1981, drift ``sum_events ln HR(t_j) p (1 - p)``), so Schoenfeld's events
        with this HR approximate the log-rank's power; for ``ppv = 1`` it is ``hr_complete``.
        :func:`simulate_selection_trial` checks the approximation without it.
    """
    ppv, hr1, hr2, lam, a, f = _check_mixture(ppv, hr_complete, hr_incomplete, control_median, accrual,
                                              follow_up)
    allocation = _number(_arg("allocation"), allocation, low=0.0, high=1.0)
    if ppv in (0.0, 1.0) or hr1 == hr2:
        return hr1 if ppv == 1.0 else hr2

    def g(t):
        return 1.0 if t <= f else (a + f - t) / a

    def pieces(t):
        e1, e2 = ppv * math.exp(-lam * hr1 * t), (1.0 - ppv) * math.exp(-lam * hr2 * t)
        f_e = lam * (hr1 * e1 + hr2 * e2)
        f_c = lam * math.exp(-lam * t)
        w = (allocation * f_e + (1.0 - allocation) * f_c) * g(t)
        return w, math.log(f_e / (e1 + e2) / lam)

    edges = [0.0, f, a + f] if 0.0 < f < a + f else [0.0, a + f]
    num = den = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        num += integrate.quad(lambda t: np.prod(pieces(t)), lo, hi, epsabs=1e-12, epsrel=1e-10)[0]
        den += integrate.quad(lambda t: pieces(t)[0], lo, hi, epsabs=1e-12, epsrel=1e-10)[0]
    return math.exp(num / den)


@dataclass(frozen=True)
class SelectionTrialResult(_Frame):
    """Power of a selection trial, by simulation and by the closed-form approximation.

    Attributes
    ----------
    power : float
        Share of simulated trials in which the log-rank test rejects in favour of surgery
        (one-sided at ``alpha / sided``).
    power_mcse : float
        Monte Carlo standard error ``sqrt(power (1 - power) / sims)``; NaN when the power is 0
        or 1 (no or every simulated trial rejects), where that formula gives 0, not the
        uncertainty: read the interval there.
    power_ci_low, power_ci_high : float
        Exact (Clopper-Pearson) 95 % interval of the power from the rejections among the
        ``sims`` trials, as R ``binom.test`` (:func:`~.validation.metrics.proportion_ci`):
        0 rejections of 1000 give 0 to 0.0037, not a power known to be 0.
    power_schoenfeld : float
        ``Phi(sqrt(p (1 - p) D) |ln HR_mix| - z_(1 - alpha/sided))`` with ``D`` the expected
        events and ``HR_mix`` from :func:`mixture_hr`.
    n : int
        Patients randomised per trial.
    n_experimental : int
        Patients randomised to surgery, ``ceil(n allocation)`` (:func:`arm_sizes`).
    events_mean : float
        Mean events per simulated trial.
    events_expected : float
        Expected events (closed form).
    hr_mixture : float
        Effective HR (experimental vs control) of :func:`mixture_hr`.
    hr_initial : float
        ``ppv hr_complete + (1 - ppv) hr_incomplete``, the HR at time 0.
    ppv, hr_complete, hr_incomplete, control_median, accrual, follow_up, alpha, allocation : float
    sided, sims, seed : int
    direction, assumptions : str
    """

    power: float
    power_mcse: float
    power_ci_low: float
    power_ci_high: float
    power_schoenfeld: float
    n: int
    n_experimental: int
    events_mean: float
    events_expected: float
    hr_mixture: float
    hr_initial: float
    ppv: float
    hr_complete: float
    hr_incomplete: float
    control_median: float
    accrual: float
    follow_up: float
    alpha: float
    sided: int
    allocation: float
    sims: int
    seed: int
    direction: str = DIRECTION
    assumptions: str = (
        "surgery arm: a share ppv of complete resections with hazard ratio hr_complete and 1 - ppv "
        "incomplete ones with hr_incomplete, both vs control; control exponential; uniform accrual, "
        "analysis follow_up after the last entry, no dropout; log-rank test")


def _expected_events(ppv, hr1, hr2, lam, a, f, allocation) -> float:
    """Expected share of patients with an event by the analysis (both arms)."""
    p_c, p1, p2 = event_probability(np.array([lam, lam * hr1, lam * hr2]), a, f)
    return float(allocation * (ppv * p1 + (1.0 - ppv) * p2) + (1.0 - allocation) * p_c)


def _check_sims(sims) -> int:
    """``sims`` as an int from 1 to :data:`SIMULATION_MAX_TRIALS`."""
    return _check_count("sims", sims, high=SIMULATION_MAX_TRIALS,
                        why="the Monte Carlo standard error of the power is then at most 0.0005; more trials "
                            "only take longer")


def _check_simulation_size(n: int, sims: int, patients: str, points: int = 1) -> None:
    """Refuse a simulation of ``points`` x ``sims`` trials of ``n`` patients that would draw more
    than :data:`SIMULATION_MAX_DRAWS` patients (it would run for hours or days), naming the
    options, the limit and the most trials it allows; ``patients`` says where ``n`` comes from."""
    draws = points * sims * n
    if draws > SIMULATION_MAX_DRAWS:
        most = max(SIMULATION_MAX_DRAWS // (points * n), 0)
        each = f" at each of the power curve's {points} points" if points > 1 else ""
        raise InvalidInputError(
            f"{_given('sims', sims)} simulated trials of {patients}{each} would draw {draws:,} patients, more than the "
            f"{SIMULATION_MAX_DRAWS:,} a simulation draws (it would run for hours or days); "
            + (f"give at most {_given('sims', f'{most:,}')}" if most >= 1 else "simulate a smaller trial")
            + " (2000 trials estimate a power to about 0.01), or use the closed form (Schoenfeld with the mixture "
            "hazard ratio) for a trial this large")


def _check_simulated_trials(n, sims, points: int = 1) -> tuple[int, int]:
    """``(n, sims)`` of ``points`` simulations of ``sims`` trials of ``n`` patients, checked as
    :func:`simulate_selection_trial` checks them: ``n`` from 2 to :data:`SIMULATION_MAX_PATIENTS`,
    ``sims`` from 1 to :data:`SIMULATION_MAX_TRIALS`, and at most :data:`SIMULATION_MAX_DRAWS`
    patients drawn in all (:func:`power_curve` simulates one trial per point). ``ca125 design
    selection-trial --n`` checks its trial so before it draws the ``--plot`` curve."""
    n = _check_count("n", n, low=2)
    if n > SIMULATION_MAX_PATIENTS:
        raise InvalidInputError(
            f"{_arg('n')} must be at most {SIMULATION_MAX_PATIENTS:,} patients per simulated trial (the simulation "
            f"holds a trial's patients in memory at once), got {n:,}; for a trial that large use the closed form: "
            "Schoenfeld events for the mixture hazard ratio (mixture_hr, then events or 'ca125 design events --hr')")
    sims = _check_sims(sims)
    _check_simulation_size(n, sims, f"{_given('n', n)} patients", points=points)
    return n, sims


def simulate_selection_trial(n: int, *, ppv: float, hr_complete: float, hr_incomplete: float,
                             control_median: float, accrual: float = 36.0, follow_up: float = 24.0,
                             alpha: float = 0.025, sided: int = 1, allocation: float = 0.5,
                             sims: int = 2000, seed: int = 0) -> SelectionTrialResult:
    """Power of a selection trial of ``n`` randomised patients, by simulating ``sims`` trials.

    Each simulated trial randomises ``ceil(n allocation)`` patients to surgery and the rest
    to control (:func:`arm_sizes`, as :func:`sample_size` splits its patients; fixed
    allocation, as block randomisation gives). Entry is uniform over
    ``accrual``; the analysis is ``follow_up`` after the last entry (administrative
    censoring at ``accrual + follow_up - entry``). Control times are exponential with
    median ``control_median``; each surgery patient is a complete resection with probability
    ``ppv`` (hazard x ``hr_complete``), else incomplete (hazard x ``hr_incomplete``). Each
    trial is analysed with the log-rank test (:func:`~.validation.survival.logrank_z`),
    rejecting when ``Z <= -z_(1 - alpha / sided)`` (benefit of surgery).

    Parameters
    ----------
    n : int
        Patients randomised, at most :data:`SIMULATION_MAX_PATIENTS` (2,000,000; a larger trial
        is refused: its patients would not fit in memory).
    ppv : float
        Complete-resection rate among the patients the model selects (its positive
        predictive value), in [0, 1].
    hr_complete, hr_incomplete : float
        Hazard ratios vs control after complete and after incomplete resection.
    control_median, accrual, follow_up : float
        Months; defaults accrual 36, follow-up 24.
    alpha, sided, allocation
        As for :func:`events`.
    sims : int
        Simulated trials, from 1 to :data:`SIMULATION_MAX_TRIALS` (1,000,000) (default 2000;
        Monte Carlo SE of a power near 0.8 is then ~0.009), and ``sims x n`` at most
        :data:`SIMULATION_MAX_DRAWS` (1e9 simulated patients; more is refused, it would run
        for days).
    seed : int
        Seed of ``numpy.random.default_rng``; same seed, same result.

    Returns
    -------
    SelectionTrialResult
    """
    from .validation.metrics import proportion_ci
    from .validation.survival import logrank_z

    n, sims = _check_simulated_trials(n, sims)
    seed = _check_count("seed", seed, low=0)
    alpha, sided, _, allocation = _check_test(alpha, sided, None, allocation)
    ppv, hr1, hr2, lam, a, f = _check_mixture(ppv, hr_complete, hr_incomplete, control_median, accrual,
                                              follow_up)
    n_e, _ = arm_sizes(n, allocation)
    crit = -_z_critical(alpha, sided)
    arm = np.zeros(n)
    arm[:n_e] = 1.0
    rng = np.random.default_rng(seed)
    chunk = max(1, min(sims, SIMULATION_MAX_PATIENTS // n))  # bounds memory at ~2e6 patients per block
    rejected, n_events = 0, 0.0
    for start in range(0, sims, chunk):
        k = min(chunk, sims - start)
        entry = rng.uniform(0.0, a, (k, n)) if a > 0 else np.zeros((k, n))
        complete = rng.random((k, n)) < ppv
        hazard = lam * np.where(arm == 1.0, np.where(complete, hr1, hr2), 1.0)
        latent = rng.exponential(1.0, (k, n)) / hazard
        censor = a + f - entry
        time = np.minimum(latent, censor)
        event = (latent <= censor).astype(float)
        z = logrank_z(time, event, np.broadcast_to(arm, (k, n)))
        rejected += int(np.sum(z <= crit))  # NaN (no event) never rejects
        n_events += float(event.sum())
    power = rejected / sims
    ci_low, ci_high = proportion_ci(rejected, sims, method="clopper-pearson")
    # sqrt(p (1 - p) / sims) is 0 at a power of 0 or 1, which is not the uncertainty: the interval says it
    mcse = math.sqrt(power * (1.0 - power) / sims) if 0 < rejected < sims else math.nan
    hr_mix = mixture_hr(ppv, hr_complete=hr1, hr_incomplete=hr2, control_median=math.log(2.0) / lam,
                        accrual=a, follow_up=f, allocation=allocation)
    d_exp = n * _expected_events(ppv, hr1, hr2, lam, a, f, allocation)
    p_share = n_e / n
    approx = float(stats.norm.cdf(-math.log(hr_mix) * math.sqrt(p_share * (1 - p_share) * d_exp) + crit))
    return SelectionTrialResult(
        power=power, power_mcse=mcse, power_ci_low=float(ci_low), power_ci_high=float(ci_high),
        power_schoenfeld=approx, n=n,
        n_experimental=n_e, events_mean=n_events / sims, events_expected=d_exp, hr_mixture=hr_mix,
        hr_initial=ppv * hr1 + (1.0 - ppv) * hr2, ppv=ppv, hr_complete=hr1, hr_incomplete=hr2,
        control_median=math.log(2.0) / lam, accrual=a, follow_up=f, alpha=alpha, sided=sided,
        allocation=allocation, sims=sims, seed=seed,
    )


@dataclass(frozen=True)
class SelectionSampleSizeResult(_Frame):
    """Events and patients a selection trial needs for a target power.

    Attributes
    ----------
    n : int
        Patients to randomise: ``ceil(events / P(event))`` with the mixture's event probability.
    events : float
        Schoenfeld events for :attr:`hr_mixture` (unrounded).
    n_screened : float
        ``n / share_randomised`` when the share of screened patients the model selects is
        known (else NaN).
    power_target : float
    hr_mixture : float
        Effective HR (experimental vs control), :func:`mixture_hr`.
    p_event : float
    simulated : dict
        :class:`SelectionTrialResult` of ``n`` patients (the check by simulation).
    note : str
        When the simulated power's exact 95 % interval lies wholly below ``power_target``: the
        closed form does not give that power here (few events, where Schoenfeld's large-sample
        approximation fails), said in words; else "". The text output prints it, the JSON
        carries it.
    direction : str
        :data:`DIRECTION`.
    """

    n: int
    events: float
    n_screened: float
    power_target: float
    hr_mixture: float
    p_event: float
    simulated: dict
    note: str = ""
    direction: str = DIRECTION


def _selection_patients(power_target, *, ppv, hr_complete, hr_incomplete, control_median, accrual, follow_up,
                        alpha, sided, allocation, sims) -> dict:
    """The closed form of :func:`selection_trial_sample_size`, every argument checked and the
    simulation of its ``n`` patients bounded, before anything is simulated: ``n``, ``ev`` (the
    events), ``hr_mix``, ``p_event`` and the checked arguments. ``ca125 design selection-trial
    --power-target --plot`` takes ``n`` from it to check and draw the curve before the trial's
    simulation."""
    alpha, sided, power_target, allocation = _check_test(alpha, sided, power_target, allocation,
                                                         power_name="power_target")
    ppv, hr1, hr2, lam, a, f = _check_mixture(ppv, hr_complete, hr_incomplete, control_median, accrual,
                                              follow_up)
    hr_mix = mixture_hr(ppv, hr_complete=hr1, hr_incomplete=hr2, control_median=control_median, accrual=a,
                        follow_up=f, allocation=allocation)
    if hr_mix >= 1.0:
        raise InvalidInputError(
            f"with a PPV of {ppv:g}, {_given('hr_complete', f'{hr1:g}')} and {_given('hr_incomplete', f'{hr2:g}')} "
            "the surgery arm's effective "
            f"hazard ratio vs control is {hr_mix:.3f} (>= 1): surgery does not help on average, so no "
            "number of patients gives power; raise the PPV (a better selection model or threshold)")
    ev = events(hr_mix, alpha=alpha, sided=sided, power=power_target, allocation=allocation)
    p_event = _expected_events(ppv, hr1, hr2, lam, a, f, allocation)
    n = math.ceil(ev.events / p_event - 1e-9)
    if n > SIMULATION_MAX_PATIENTS:
        raise InvalidInputError(
            f"with a PPV of {ppv:g} the surgery arm's effective hazard ratio vs control is {hr_mix:.4f}: power "
            f"{power_target:g} needs {ev.events:,.0f} events and {n:,} patients, more than the simulation that "
            f"checks the power holds ({SIMULATION_MAX_PATIENTS:,}) and than any trial randomises; surgery barely "
            "helps on average at this PPV: raise the PPV (a better selection model or threshold)")
    _check_simulation_size(n, _check_sims(sims),
                           f"the {n:,} patients {_given('power_target', f'{power_target:g}')} needs "
                           f"({ev.events:,.0f} events)")
    return {"n": n, "ev": ev, "hr_mix": hr_mix, "p_event": p_event, "ppv": ppv, "hr1": hr1, "hr2": hr2, "a": a,
            "f": f, "alpha": alpha, "sided": sided, "power_target": power_target, "allocation": allocation}


def selection_trial_sample_size(power_target: float, *, ppv: float, hr_complete: float, hr_incomplete: float,
                                control_median: float, accrual: float = 36.0, follow_up: float = 24.0,
                                alpha: float = 0.025, sided: int = 1, allocation: float = 0.5,
                                share_randomised: float | None = None, sims: int = 2000,
                                seed: int = 0) -> SelectionSampleSizeResult:
    """Patients a selection trial needs for ``power_target``, checked by simulation.

    Events are Schoenfeld's for the effective hazard ratio of the mixture
    (:func:`mixture_hr`); patients divide them by the expected share with an event by the
    analysis (both arms, the surgery arm as the mixture of its two exponentials). The power of
    that many patients is then simulated (:func:`simulate_selection_trial`) and reported, so
    the approximation is visible. ``share_randomised`` (share of screened patients the model
    selects) gives the patients to screen.
    """
    plan = _selection_patients(power_target, ppv=ppv, hr_complete=hr_complete, hr_incomplete=hr_incomplete,
                               control_median=control_median, accrual=accrual, follow_up=follow_up, alpha=alpha,
                               sided=sided, allocation=allocation, sims=sims)
    n, ev, hr_mix, p_event = plan["n"], plan["ev"], plan["hr_mix"], plan["p_event"]
    ppv, hr1, hr2, a, f = plan["ppv"], plan["hr1"], plan["hr2"], plan["a"], plan["f"]
    alpha, sided, power_target, allocation = plan["alpha"], plan["sided"], plan["power_target"], plan["allocation"]
    screened = math.nan
    if share_randomised is not None:
        screened = n / _number("share_randomised", share_randomised, low=0.0, high=1.0, high_open=False)
    sim = simulate_selection_trial(n, ppv=ppv, hr_complete=hr1, hr_incomplete=hr2, control_median=control_median,
                                   accrual=a, follow_up=f, alpha=alpha, sided=sided, allocation=allocation,
                                   sims=sims, seed=seed)
    note = ""
    if sim.power_ci_high < power_target:
        note = (f"the simulated power of {n:,} patients, {sim.power:.3f} (95 % CI {sim.power_ci_low:.3f}-"
                f"{sim.power_ci_high:.3f}), is below the target {power_target:g}, which its interval excludes: the "
                f"closed form (Schoenfeld, a large-sample approximation; here {ev.events:.1f} events) overstates "
                f"the power of these patients; simulate a larger {_arg('n')} to find the patients that give it")
    return SelectionSampleSizeResult(n=n, events=ev.events, n_screened=screened, power_target=power_target,
                                     hr_mixture=hr_mix, p_event=p_event, simulated=sim.to_dict(), note=note)


@dataclass(frozen=True)
class SelectionResult(_Frame):
    """What a selection model and threshold do to a cohort.

    Attributes
    ----------
    threshold : float
        Patients with ``p >= threshold`` are selected (randomised).
    n_cohort, n_selected : int
    share_randomised : float
        ``n_selected / n_cohort``.
    ppv : float
        Complete-resection rate among the selected (positive predictive value).
    ppv_ci_low, ppv_ci_high : float
        Wilson 95 % interval of the PPV.
    complete_rate_cohort : float
        Complete-resection rate in the whole cohort (the PPV without selection).
    source : str
    """

    threshold: float
    n_cohort: int
    n_selected: int
    share_randomised: float
    ppv: float
    ppv_ci_low: float
    ppv_ci_high: float
    complete_rate_cohort: float
    source: str = ""


def _check_threshold(threshold) -> float:
    """A selection threshold in [0, 1] (``ca125 design selection-trial`` checks it before it reads
    the table: a refusal of the option is not about the file)."""
    return _number(_arg("threshold"), threshold, low=0.0, high=1.0, low_open=False, high_open=False)


def selection_from_predictions(p, complete_resection, threshold: float, *, source: str = "") -> SelectionResult:
    """Share randomised and PPV of selecting ``p >= threshold`` (every patient's outcome known).

    Parameters
    ----------
    p : array-like of float in [0, 1]
        Predicted probability of complete resection.
    complete_resection : array-like of 0/1
        Observed outcome (1 = complete resection). Every patient needs it: use a validation
        cohort of operated patients, or the generator's counterfactual outcome.
    threshold : float
        Selection threshold (selected when ``p >= threshold``, as in the validation metrics).
    """
    from .validation.metrics import check_outcome, check_risk, proportion_ci

    y = check_outcome(complete_resection, name="complete_resection")
    risk = check_risk(p, y.size, name="p")
    t = _check_threshold(threshold)
    selected = risk >= t
    k = int(selected.sum())
    x = int(y[selected].sum())
    low, high = proportion_ci(x, k)
    return SelectionResult(threshold=t, n_cohort=int(y.size), n_selected=k, share_randomised=k / y.size,
                           ppv=x / k if k else math.nan, ppv_ci_low=float(low), ppv_ci_high=float(high),
                           complete_rate_cohort=float(y.mean()), source=source)


def power_curve(n: int, *, ppvs=None, hr_complete: float, hr_incomplete: float, control_median: float,
                accrual: float = 36.0, follow_up: float = 24.0, alpha: float = 0.025, sided: int = 1,
                allocation: float = 0.5, sims: int = 500, seed: int = 0, predictions=None,
                thresholds=None) -> pd.DataFrame:
    """Power of ``n`` patients against the PPV (and, given predictions, against the threshold).

    Parameters
    ----------
    ppvs : sequence of float, optional
        PPVs to evaluate (default 0.5, 0.55, ..., 1.0). Not with ``predictions``, whose
        thresholds give the PPVs (refused, rather than ignored).
    predictions : (p, complete_resection), optional
        A cohort's predicted probabilities and outcomes; each threshold's PPV comes from
        :func:`selection_from_predictions`.
    thresholds : sequence of float, optional
        Thresholds to evaluate with ``predictions`` (default 0.30, 0.35, ..., 0.90); only with
        ``predictions``. A threshold that selects nobody keeps its row, with
        ``share_randomised`` 0 and NaN PPV and power.
    other parameters
        As for :func:`simulate_selection_trial` (each point uses ``seed``: common random
        numbers make the curve smooth).

    Returns
    -------
    pandas.DataFrame
        Columns ``threshold`` (NaN without predictions), ``share_randomised``, ``ppv``,
        ``power``, ``power_mcse``, ``power_ci_low``, ``power_ci_high`` (exact 95 % interval),
        ``power_schoenfeld``, ``hr_mixture``.
    """
    rows = []
    if predictions is not None and ppvs is not None:
        raise InvalidInputError("power_curve takes ppvs or predictions (whose thresholds give the PPVs), not both")
    if predictions is None and thresholds is not None:
        raise InvalidInputError("thresholds select patients from predictions=(p, complete_resection); without "
                                "predictions give the PPVs themselves (ppvs)")
    if predictions is not None:
        if not (isinstance(predictions, (tuple, list)) and len(predictions) == 2):
            raise InvalidInputError("predictions must be a pair (p, complete_resection): the predicted "
                                    "probabilities and the observed outcomes of one cohort")
        p, y = predictions
        grid = np.round(np.arange(0.30, 0.901, 0.05), 2) if thresholds is None else thresholds
        points = []
        for t in grid:
            sel = selection_from_predictions(p, y, t)
            points.append((sel.threshold, sel.share_randomised, sel.ppv, sel.n_selected == 0))
    else:
        grid = np.round(np.arange(0.5, 1.001, 0.05), 2) if ppvs is None else ppvs
        points = [(math.nan, math.nan, v, False) for v in grid]
    simulated = sum(not nobody for *_, nobody in points)
    if simulated:
        _check_simulated_trials(n, sims, points=simulated)
    for t, share, ppv, nobody in points:
        if nobody:                     # the threshold selects nobody: no trial to simulate
            rows.append({"threshold": t, "share_randomised": share, "ppv": ppv, "power": math.nan,
                         "power_mcse": math.nan, "power_ci_low": math.nan, "power_ci_high": math.nan,
                         "power_schoenfeld": math.nan, "hr_mixture": math.nan})
            continue
        r = simulate_selection_trial(n, ppv=ppv, hr_complete=hr_complete, hr_incomplete=hr_incomplete,
                                     control_median=control_median, accrual=accrual, follow_up=follow_up,
                                     alpha=alpha, sided=sided, allocation=allocation, sims=sims, seed=seed)
        rows.append({"threshold": t, "share_randomised": share, "ppv": r.ppv, "power": r.power,
                     "power_mcse": r.power_mcse, "power_ci_low": r.power_ci_low,
                     "power_ci_high": r.power_ci_high, "power_schoenfeld": r.power_schoenfeld,
                     "hr_mixture": r.hr_mixture})
    return pd.DataFrame(rows, columns=["threshold", "share_randomised", "ppv", "power", "power_mcse",
                                       "power_ci_low", "power_ci_high", "power_schoenfeld", "hr_mixture"])


def plot_power_curve(curve: pd.DataFrame, *, n: int, title: str | None = None):
    """Figure of power against PPV (and against the threshold when the curve has one).

    Simulated power with its exact 95 % interval as bars (also at a power of 0 or 1, where
    the Monte Carlo SE is no measure) and the Schoenfeld approximation.
    Returns a matplotlib Figure (matplotlib imported here, not at module import).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_threshold = curve["threshold"].notna().any()
    fig, axes = plt.subplots(1, 2 if by_threshold else 1, figsize=(10 if by_threshold else 5.5, 4.2),
                             squeeze=False)
    xs = [("ppv", "complete-resection rate among the randomised (PPV)")]
    if by_threshold:
        xs.append(("threshold", "selection threshold on the predicted probability"))
    for ax, (col, label) in zip(axes[0], xs):
        order = curve.sort_values(col)
        bars = [order["power"] - order["power_ci_low"], order["power_ci_high"] - order["power"]]
        ax.errorbar(order[col], order["power"], yerr=bars, fmt="o-", color="#0072B2",
                    capsize=3, label="simulated (log-rank), exact 95 % interval")
        ax.plot(order[col], order["power_schoenfeld"], "--", color="#D55E00",
                label="Schoenfeld, mixture HR")
        ax.axhline(0.8, color="#999999", lw=0.8)
        ax.set_xlabel(label)
        ax.set_ylabel("power")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0][0].legend(loc="best", fontsize=8)
    fig.suptitle(title or f"Power of {n} randomised patients (hazard ratios surgery vs control)", fontsize=10)
    fig.tight_layout()
    return fig


# =========================================================================== non-inferiority analysis


@dataclass(frozen=True)
class NonInferiorityResult(_Frame):
    """Non-inferiority analysis of a time-to-event endpoint by arm (e.g. 3-year DFS).

    Attributes
    ----------
    experimental, control : str
        Arm labels; every difference and hazard ratio is experimental vs control.
    at : float
        Time point of the survival comparison (e.g. 36 months).
    conf_level : float
        Level of the two-sided intervals (0.95 is the one-sided 0.025 test of the margin).
    n_experimental, n_control, events_experimental, events_control : int
    survival_experimental, survival_control : float
        Kaplan-Meier survival at ``at``.
    se_experimental, se_control : float
        Greenwood standard errors.
    difference, difference_ci_low, difference_ci_high : float
        ``S_e(at) - S_c(at)`` and its Wald interval ``d +/- z sqrt(se_e^2 + se_c^2)`` (the
        arms are independent).
    margin_diff : float
        Margin on the difference (the experimental arm may be at most this much worse), or NaN.
    noninferior_diff : bool or None
        ``difference_ci_low > -margin_diff``; None without a margin.
    p_noninferior_diff : float
        One-sided Wald p of the margin, H0 ``S_e - S_c <= -margin_diff``:
        ``1 - Phi((d + margin_diff) / sqrt(se_e^2 + se_c^2))``; NaN without a margin. Below
        ``(1 - conf_level) / 2`` exactly when ``noninferior_diff``.
    hr, hr_ci_low, hr_ci_high, hr_p_value : float
        Cox hazard ratio (experimental vs control, Efron ties), Wald interval, two-sided
        Wald p of HR = 1 (a test of difference, not of non-inferiority: see
        ``p_noninferior_hr``).
    margin_hr : float
        Margin on the hazard ratio, or NaN.
    noninferior_hr : bool or None
        ``hr_ci_high < margin_hr``; None without a margin.
    p_noninferior_hr : float
        One-sided Wald p of the margin, H0 ``HR >= margin_hr``: ``Phi((ln HR - ln margin_hr) /
        se(ln HR))``; NaN without a margin. Below ``(1 - conf_level) / 2`` exactly when
        ``noninferior_hr``.
    direction : str
    """

    experimental: str
    control: str
    at: float
    conf_level: float
    n_experimental: int
    n_control: int
    events_experimental: int
    events_control: int
    survival_experimental: float
    se_experimental: float
    survival_control: float
    se_control: float
    difference: float
    difference_ci_low: float
    difference_ci_high: float
    margin_diff: float
    noninferior_diff: bool | None
    hr: float
    hr_ci_low: float
    hr_ci_high: float
    hr_p_value: float
    margin_hr: float
    noninferior_hr: bool | None
    p_noninferior_diff: float
    p_noninferior_hr: float
    direction: str = DIRECTION

    def to_frame(self) -> pd.DataFrame:
        """One row per comparison: ``measure, estimate, ci_low, ci_high, margin, criterion,
        noninferior, p_noninferior`` (the one-sided p of the margin)."""
        level = f"{100 * self.conf_level:g}%"
        rows = [
            {"measure": f"survival at {self.at:g}, {self.experimental}", "estimate": self.survival_experimental,
             "ci_low": math.nan, "ci_high": math.nan, "margin": math.nan, "criterion": "", "noninferior": None,
             "p_noninferior": math.nan},
            {"measure": f"survival at {self.at:g}, {self.control}", "estimate": self.survival_control,
             "ci_low": math.nan, "ci_high": math.nan, "margin": math.nan, "criterion": "", "noninferior": None,
             "p_noninferior": math.nan},
            {"measure": f"difference {self.experimental} - {self.control} at {self.at:g}",
             "estimate": self.difference, "ci_low": self.difference_ci_low, "ci_high": self.difference_ci_high,
             "margin": -self.margin_diff,
             "criterion": f"lower {level} bound > {-self.margin_diff:g}" if math.isfinite(self.margin_diff) else "",
             "noninferior": self.noninferior_diff, "p_noninferior": self.p_noninferior_diff},
            {"measure": f"hazard ratio {self.experimental} vs {self.control} (Cox)", "estimate": self.hr,
             "ci_low": self.hr_ci_low, "ci_high": self.hr_ci_high, "margin": self.margin_hr,
             "criterion": f"upper {level} bound < {self.margin_hr:g}" if math.isfinite(self.margin_hr) else "",
             "noninferior": self.noninferior_hr, "p_noninferior": self.p_noninferior_hr},
        ]
        return pd.DataFrame(rows)

    def to_text(self) -> str:
        """Plain-text summary (the ``ca125 design ni-analysis`` output)."""
        lines = [f"Non-inferiority of {self.experimental!r} vs {self.control!r} "
                 f"({self.n_experimental} vs {self.n_control} patients, {self.events_experimental} vs "
                 f"{self.events_control} events); {100 * self.conf_level:g}% intervals (one-sided "
                 f"{(1 - self.conf_level) / 2:g} test of each margin)"]
        for _, r in self.to_frame().iterrows():
            ci = "" if not math.isfinite(r["ci_low"]) else f"  ({r['ci_low']:.3f} to {r['ci_high']:.3f})"
            verdict = ""
            if r["noninferior"] is not None:
                verdict = (f"  {r['criterion']}: {'non-inferior' if r['noninferior'] else 'NOT shown non-inferior'}"
                           f" (one-sided p {_p_text(r['p_noninferior'])})")
            elif r["criterion"] == "" and r["measure"].startswith(("difference", "hazard")):
                verdict = "  (no margin given)"
            lines.append(f"  {r['measure']}: {r['estimate']:.3f}{ci}{verdict}")
        lines.append("Kaplan-Meier survival with Greenwood SEs; difference interval d +/- z sqrt(se_e^2 + se_c^2); "
                     "Cox model with Efron ties, Wald interval.")
        return "\n".join(lines)

    def to_html(self) -> str:
        """HTML fragment in the form of the ``ca125 validate`` report (a section body)."""
        from .validation.report import _esc, _table

        frame = self.to_frame()
        frame["noninferior"] = frame["noninferior"].map(
            lambda v: "" if v is None else ("yes" if v else "not shown"))
        level = f"{100 * self.conf_level:g} %"
        intro = (f"<p>Non-inferiority of <b>{_esc(self.experimental)}</b> vs <b>{_esc(self.control)}</b>: "
                 f"{self.n_experimental} vs {self.n_control} patients, {self.events_experimental} vs "
                 f"{self.events_control} events. Differences and hazard ratios are experimental vs control; "
                 f"{level} two-sided intervals, i.e. a one-sided {(1 - self.conf_level) / 2:g} test of each "
                 "margin.</p>")
        note = ('<p class="muted">Kaplan-Meier survival at the time point with Greenwood standard errors; the '
                "difference's interval is d &plusmn; z &radic;(se<sub>e</sub>&sup2; + se<sub>c</sub>&sup2;). Cox "
                "proportional-hazards model with the arm as the only covariate (Efron ties), Wald interval. "
                "Non-inferior on the difference when the lower bound exceeds minus the margin; on the hazard "
                "ratio when the upper bound is below the margin.</p>")
        return intro + _table(frame, columns={"measure": "measure", "estimate": "estimate", "ci_low": "CI low",
                                              "ci_high": "CI high", "margin": "margin", "criterion": "criterion",
                                              "noninferior": "non-inferior",
                                              "p_noninferior": "one-sided p of the margin"}) + note


def _p_text(p: float) -> str:
    """A p-value as text: three significant digits, ``< 0.0001`` below that."""
    return "nan" if p != p else ("< 0.0001" if p < 1e-4 else f"{p:.3g}")


def _arm_labels(arm: np.ndarray, experimental, control) -> tuple[str, str]:
    labels = sorted({str(v) for v in arm})
    if experimental is None or control is None:
        raise InvalidInputError(
            f"name the arms: experimental and control must be given (the arm column holds {labels}); every "
            "difference and hazard ratio is experimental vs control, so this is never guessed", column="arm")
    missing = [v for v in (experimental, control) if str(v) not in labels]
    if missing or str(experimental) == str(control):
        raise InvalidInputError(f"arm labels {missing or [experimental]} are not two distinct values of the arm "
                                f"column, which holds {labels}", column="arm")
    other = [v for v in labels if v not in (str(experimental), str(control))]
    if other:
        raise InvalidInputError(f"the arm column holds other labels {other} besides {experimental!r} and "
                                f"{control!r}; keep only the two compared arms", column="arm")
    return str(experimental), str(control)


def _check_ni_arguments(at, margin_hr, margin_diff, conf_level) -> tuple:
    """The time point, margins and level of :func:`noninferiority_analysis`, checked (``ca125
    design ni-analysis`` checks them before it reads the table: a refusal of an option is not
    about the file)."""
    from .validation.metrics import _check_conf_level

    at = _number(_arg("at"), at, low=0.0)
    conf_level = _check_conf_level(conf_level)
    if margin_hr is not None:
        margin_hr = _number(_arg("margin_hr"), margin_hr, low=1.0)
    if margin_diff is not None:
        margin_diff = _number(_arg("margin_diff"), margin_diff, low=0.0, high=1.0)
    return at, margin_hr, margin_diff, conf_level


def noninferiority_analysis(frame: pd.DataFrame, time: str, event: str, arm: str, *, experimental, control,
                            margin_hr: float | None = None, margin_diff: float | None = None, at: float = 36.0,
                            conf_level: float = 0.95) -> NonInferiorityResult:
    """Kaplan-Meier survival at ``at`` and Cox HR by arm, each compared with its margin.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per patient.
    time, event, arm : str
        Columns: follow-up time (months), event indicator (1 = event, e.g. recurrence or
        death for DFS; 0 = censored), and arm label.
    experimental, control : str
        The arm labels (e.g. ``"reduced"`` and ``"conventional"``); required, never inferred.
    margin_hr : float, optional
        Margin on the hazard ratio (experimental vs control), > 1: non-inferior when the upper
        confidence bound is below it.
    margin_diff : float, optional
        Margin on survival at ``at`` (e.g. 0.05): non-inferior when the lower bound of
        ``S_e - S_c`` is above ``-margin_diff``.
    at : float
        Time point (default 36 months, 3-year DFS).
    conf_level : float
        Two-sided level (default 0.95 = one-sided 0.025 test of each margin).

    Returns
    -------
    NonInferiorityResult

    Notes
    -----
    Reuses :func:`ca125kinetics.validation.survival.kaplan_meier` (product-limit estimate and
    Greenwood SE, read at the last observed time <= ``at``; as R ``summary(survfit(...),
    times = at)``) and :func:`~ca125kinetics.validation.survival.cox`. An arm with no patient
    followed to ``at`` (every time shorter) has no estimate there: refused. Arm labels are
    compared as text (``experimental=1`` names the arm ``1`` of a numeric column); an arm
    column that writes one label as two types (``1`` and ``"1"``) is refused
    (:func:`~ca125kinetics.validation.metrics.check_labels`).
    """
    from .errors import InsufficientDataError
    from .validation.metrics import check_labels
    from .validation.survival import _check_time_event, cox, kaplan_meier

    if not isinstance(frame, pd.DataFrame):
        raise InvalidInputError(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in (time, event, arm) if c not in frame.columns]
    if missing:
        raise InvalidInputError(f"column(s) {missing} not in the data; available columns: {list(frame.columns)}")
    at, margin_hr, margin_diff, conf_level = _check_ni_arguments(at, margin_hr, margin_diff, conf_level)
    arms = frame[arm].to_numpy(dtype=object)
    if pd.isna(frame[arm]).any():
        n_missing = int(pd.isna(frame[arm]).sum())
        raise InvalidInputError(
            f"the arm is missing for some patients ({n_missing} of {len(frame)}); every patient needs an arm: "
            "leave out the patients who were not randomised (ca125 design ni-analysis --randomised-only; "
            f"in Python frame[frame[{arm!r}].notna()])", column=arm)
    check_labels(arms, arm, what=f"arm column {arm!r}")   # the arms are compared as text below
    exp_label, ctl_label = _arm_labels(arms, experimental, control)
    labels = np.array([str(v) for v in arms], dtype=object)
    try:   # the user's values, checked as kaplan_meier checks them, named by the user's columns
        t, e = _check_time_event(frame[time].to_numpy(), frame[event].to_numpy())
    except InvalidInputError as exc:
        name = {"time": time, "event": event}.get(exc.column, exc.column)
        raise InvalidInputError(exc.message, row=exc.row, column=name) from None
    km = kaplan_meier(t, e, labels, conf_type="plain", conf_level=conf_level)
    z = float(stats.norm.ppf(0.5 + conf_level / 2.0))
    est = {}
    for label in (exp_label, ctl_label):
        curve = km[km["group"] == label]
        if curve["time"].max() < at:
            raise InsufficientDataError(
                f"no patient of arm {label!r} is followed to {at:g} (longest time {curve['time'].max():g}); the "
                f"Kaplan-Meier estimate at {at:g} is undefined there; choose an earlier time point")
        row = curve[curve["time"] <= at].iloc[-1]
        est[label] = (float(row["survival"]), float(row["std_err"]))
    (s_e, se_e), (s_c, se_c) = est[exp_label], est[ctl_label]
    diff = s_e - s_c
    se_d = math.sqrt(se_e ** 2 + se_c ** 2)
    d_low, d_high = diff - z * se_d, diff + z * se_d
    p_diff = math.nan if margin_diff is None else float(stats.norm.sf((diff + margin_diff) / se_d))
    data = pd.DataFrame({"time": t, "event": e, "experimental": (labels == exp_label).astype(float)})
    hr_row = cox(data, "time", "event", ["experimental"], conf_level=conf_level).iloc[0]
    groups = {lab: labels == lab for lab in (exp_label, ctl_label)}
    p_hr = math.nan if margin_hr is None else float(
        stats.norm.cdf((float(hr_row["coef"]) - math.log(margin_hr)) / float(hr_row["se"])))
    return NonInferiorityResult(
        experimental=exp_label, control=ctl_label, at=at, conf_level=conf_level,
        n_experimental=int(groups[exp_label].sum()), n_control=int(groups[ctl_label].sum()),
        events_experimental=int(e[groups[exp_label]].sum()), events_control=int(e[groups[ctl_label]].sum()),
        survival_experimental=s_e, se_experimental=se_e, survival_control=s_c, se_control=se_c,
        difference=diff, difference_ci_low=d_low, difference_ci_high=d_high,
        margin_diff=math.nan if margin_diff is None else margin_diff,
        noninferior_diff=None if margin_diff is None else bool(d_low > -margin_diff),
        hr=float(hr_row["hr"]), hr_ci_low=float(hr_row["hr_ci_low"]), hr_ci_high=float(hr_row["hr_ci_high"]),
        hr_p_value=float(hr_row["p_value"]), margin_hr=math.nan if margin_hr is None else margin_hr,
        noninferior_hr=None if margin_hr is None else bool(hr_row["hr_ci_high"] < margin_hr),
        p_noninferior_diff=p_diff, p_noninferior_hr=p_hr,
    )
