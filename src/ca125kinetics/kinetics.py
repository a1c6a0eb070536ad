"""KELIM-like CA-125 elimination rate with population (empirical-Bayes) shrinkage.

Model (``docs/clinical-rules.md`` section 4, **Decision**: an open KELIM-like
estimator, never claimed numerically equal to the closed biomarker-kinetics.org calculator)
    ``C_i(t) = B_i + (C0_i - B_i) exp(-k_i t)`` for ``t >= 0``, fitted on the log scale
    (multiplicative assay error): ``log C_ij = log C_i(t_ij) + e_ij``, ``e_ij ~ N(0, sigma^2)``.
    ``B_i`` is the floor produced by healthy tissue, ``k_i`` the elimination rate per day.

Markers
    The model is the same for every marker that declines by first-order elimination towards a
    floor. Every public function takes ``marker=`` (``"ca125"``, the default, or ``"cea"``;
    :mod:`ca125kinetics.markers`): the value column of the long frame is named after the
    marker (``ca125`` or ``cea``, as :func:`ca125kinetics.read_markers` writes it), the
    wide form's too (``ca125_j`` or ``cea_j``). **Decision** (never guess): a frame with
    another marker's column and not the one asked for is refused with an error naming
    ``marker=``; with no ``settings``, the ULN fallback is the marker's ``default_uln``.
    A population records its marker and refuses to score another.

Which samples are used
    Samples with ``-pretreatment_window_days <= day <= window_days`` (days from the first
    dose); pretreatment samples enter at ``t = max(day, 0) = 0`` (no decline before the
    first dose). Samples within ``interference_window_days`` after a paracentesis,
    thoracentesis or surgery (``0 <= day - event_day <= window``) and every sample from a
    ``mouse_antibody`` event on are excluded and counted (``n_excluded``); samples outside
    the window are counted in ``n_outside_window``. A censored ``"<x"`` value is an upper
    bound of the curve on its day (**Decision**: a constraint ``C(t) <= x``, enforced by a
    one-sided residual weighted 10^4 times an observation, a quadratic penalty; the fitted
    curve exceeds the limit only where the other samples pull it up, by about 10^-4
    (relative) per unit of their log residuals);
    it informs neither ``sigma`` nor ``rmse_log``. See
    :mod:`ca125kinetics._kinetics_engine` for the reasoning and references.

Engines
    Every MAP fit runs either vectorised in numpy or compiled by numba (2-4 microseconds
    per patient); jobs of at least 20,000 patient fits use the compiled engine, smaller
    ones (a one-patient score) the numpy engine, which needs no import of numba. Both take
    the same steps and agree within the fit tolerance.

Methods (``fit_kinetics(method=...)``)
    ``"population"`` (default)
        Empirical Bayes: :func:`fit_population` learns the population distribution of
        ``(log k, log B)`` (bivariate normal) and the residual sd ``sigma`` from a cohort,
        then each patient's MAP estimate is computed under that prior. A patient with 3
        samples is shrunk toward the population; one with many samples barely moves. The MAP
        is the better of two fits, started from the patient's first samples and from the
        population medians (a posterior with few noisy samples can have two modes).
        ``C0`` has no population distribution (it is pinned by the baseline sample): its
        amplitude ``A = C0 - B`` gets a weak per-patient prior
        ``log A ~ N(log baseline, 2^2)``. ``k_se`` is the Laplace posterior sd (delta
        method from ``log_k_se``).
    ``"per-patient"``
        The floor model fitted to each patient alone by least squares (no prior), with box
        bounds so that it never explodes: ``1e-4 <= k <= 2`` per day,
        ``1e-3 ULN <= B <= ULN``, ``baseline e^-12 <= A <= baseline e^3``; started from the
        best k of a grid with (B, A) in closed form, stopped when the predicted decrease of
        the objective is below 1e-12 (at most 1,000 iterations; a weakly identified fit is
        checked on the faces of the box, see ``_fit_sets_per_patient``). ``log_k_se`` uses
        ``settings.residual_sd_log`` (NaN when k is not identified), not the patient's
        residuals: its interval covers 95 % of true k only where the residual sd of log C
        is about that setting (0.1 by default; at a residual sd 0.07 it covered 99.5 %, at
        0.29 about 70 %: set ``residual_sd_log`` to the assay's).
    ``"loglinear"``
        Naive ordinary least squares slope of ``log C`` on ``t`` (``k = -slope``), ignoring
        the floor: shown for comparison; it underestimates k once values near the floor.

Status of a patient (first rule that applies)
    ``invalid_input`` (the markers' ``problem`` is set, or a used value is not positive),
    ``insufficient_samples`` (fewer than ``min_samples`` used samples, or fewer than
    ``min_samples - 1`` on treatment), ``no_baseline`` (no used sample with
    ``-pretreatment_window_days <= day <= 0``), ``at_floor`` (baseline reported ``"<x"`` or
    ``<= min_baseline_uln_factor * ULN``), ``rising`` (**Decision**: the log-linear slope is
    ``>= 0``, exactly 0 for a constant or symmetric series: no net decline, the decline
    model does not apply), else ``ok``; after the fit, ``not_converged`` (floor-model methods: the fit
    stopped at its iteration limit still moving, so its k is no optimum), then
    ``k_at_bound`` (floor-model methods: the fitted k sits on its box bound, ``1e-4`` or
    ``2`` per day, so the data do not identify it -- a value no decline reaches -- and it is
    not reported as a result; **Decision**, per-patient method: also when the best fit with
    k held at a bound is within 1e-8 of the fit's objective, e.g. every on-treatment sample
    already at the floor). Thresholds are inclusive with the rules' relative slack of 1e-9
    (a baseline written 30.000000001 with ULN 30 is at the floor). Only ``ok`` patients get
    ``k``; every patient keeps a row.
    Descriptors (baseline, nadir, time to normalisation, percent declines) are reported for
    every patient with valid input.

References
----------
You B, Colomban O, Heywood M, et al. The strong prognostic value of KELIM, a model-based
parameter from CA 125 kinetics in ovarian cancer: data from CALYPSO trial (a GINECO-GCIG
study). Gynecol Oncol 2013;130:289-294.
Riedinger JM, et al. CA 125 half-life and CA 125 nadir during induction chemotherapy are
independent predictors of epithelial ovarian cancer outcome. Ann Oncol 2006;17:1234-1238.
Rustin GJS, et al. Int J Gynecol Cancer 2011;21:419-423 (GCIG exclusion windows).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from . import _kinetics_engine as eng
from ._gcig_kernel import at_most
from ._columns import coded_text, constant_text
from .errors import DataQualityWarning, InsufficientDataError, InvalidInputError, _invalid_reason
from .markers import CA125, MARKERS, MarkerSpec, get_marker
from .settings import HAMA_EVENT, INTERFERENCE_EVENTS, KineticsSettings

__all__ = [
    "KineticsPopulation",
    "KineticsFeatures",
    "fit_population",
    "fit_kinetics",
    "series_to_wide",
    "wide_to_long",
    "METHODS",
    "STATUSES",
    "OUTPUT_COLUMNS",
    "CENSORED_FLAG_COLUMNS",
    "FEATURE_NAMES",
]

METHODS = ("population", "per-patient", "loglinear")
STATUSES = ("ok", "insufficient_samples", "no_baseline", "at_floor", "rising", "invalid_input", "k_at_bound",
            "not_converged")
_OK, _INSUFFICIENT, _NO_BASELINE, _AT_FLOOR, _RISING, _INVALID, _K_AT_BOUND, _NOT_CONVERGED = range(len(STATUSES))
_CYCLES = (2, 3, 4)

#: Columns of :func:`fit_kinetics`, in order.
OUTPUT_COLUMNS = (
    "patient_id", "method", "status", "reason", "n_samples", "n_excluded", "n_outside_window",
    "uln", "k", "k_se", "log_k_se", "half_life_days", "kelim_score", "floor", "c0", "rmse_log",
    "baseline_value", "baseline_day", "baseline_censored", "nadir", "nadir_day", "nadir_censored",
    "time_to_normalisation_days", "time_to_normalisation_uln", "time_to_normalisation_censored",
    "pct_decline_c2", "pct_decline_c2_day", "pct_decline_c2_censored",
    "pct_decline_c3", "pct_decline_c3_day", "pct_decline_c3_censored",
    "pct_decline_c4", "pct_decline_c4_day", "pct_decline_c4_censored",
)

#: The flags of :data:`OUTPUT_COLUMNS` saying that a descriptor rests on a censored ``"<x"``
#: value entered at its limit (a bound, not a measurement). Output only: no model reads them.
CENSORED_FLAG_COLUMNS = ("baseline_censored", "nadir_censored", "time_to_normalisation_censored",
                         *[f"pct_decline_c{c}_censored" for c in (2, 3, 4)])

#: Numeric features added by :class:`KineticsFeatures`, in order.
FEATURE_NAMES = (
    "log_k", "kelim_score", "half_life_days", "log_floor", "log_baseline", "log_nadir",
    "pct_decline_c2", "pct_decline_c3", "pct_decline_c4", "n_samples", "kinetics_ok",
)

#: Per-patient columns of the wide form besides ``day_j``, ``ca125_j``, ``censored_j``, ``uln_j``.
WIDE_META_COLUMNS = ("uln", "last_uln", "n_excluded", "n_outside_window", "problem")
_WIDE_RE = re.compile(r"^(day|ca125|censored|uln)_([0-9]+)$")

#: A population needs at least this many patients with status ``ok``.
MIN_POPULATION_PATIENTS = 10
#: Patients drawn (seeded) for the MixedLM starting fit of a population.
MIXEDLM_MAX_PATIENTS = 100
_EM_MAX_ITER = 300
#: EM iterations a population fit usually takes (choosing the compiled engine, see
#: :func:`ca125kinetics._kinetics_engine.use_compiled`).
_EM_TYPICAL_ITER = 20
_EM_TOL = 1e-5
#: Where the EM of a population can start (``KineticsPopulation.start_method``).
_START_METHODS = ("mixedlm", "population")

_OK_REASON = {
    "population": "fitted: MAP under the population prior (empirical Bayes)",
    "per-patient": "fitted: floor model, this patient's samples only",
    "loglinear": "fitted: log-linear slope (ignores the floor)",
}


# =========================================================================== population

@dataclass(frozen=True)
class KineticsPopulation:
    """Population distribution of the floor model, learned by :func:`fit_population`.

    ``(log k_i, log B_i) ~ N((mu_log_k, mu_log_floor), Sigma)`` with sds ``sd_log_k``,
    ``sd_log_floor`` and correlation ``corr_log_k_floor``; residual sd ``sigma`` of
    ``log C`` (k per day, floor in the marker's unit; ``marker`` names the marker the
    population was learned on). Shipped inside trained models: immutable,
    picklable, JSON round trip via :meth:`to_json` / :meth:`from_json`.

    ``start_method`` says where the EM started: ``"mixedlm"`` (the default start of
    :func:`fit_population`) or ``"population"`` (warm start from the moments of another
    population, ``KineticsFeatures(population_start=...)``; the population is still learned
    on its own data, to convergence). ``start_*`` record that start: for ``"mixedlm"`` the
    statsmodels MixedLM fit (mean and sd of the log-linear slope, residual sd, whether it
    converged; ``start_converged`` is False when its log-linear fallback was used); for
    ``"population"`` the slope fields are NaN, ``start_sigma`` and ``start_converged`` are
    the starting population's ``sigma`` and ``converged``. ``n_iter`` and ``converged``
    record the EM iterations.
    """

    mu_log_k: float
    sd_log_k: float
    mu_log_floor: float
    sd_log_floor: float
    corr_log_k_floor: float
    sigma: float
    n_patients: int
    n_samples: int
    settings: KineticsSettings = field(default_factory=KineticsSettings)
    n_iter: int = 0
    converged: bool = True
    start_mean_slope: float = math.nan
    start_sd_slope: float = math.nan
    start_sigma: float = math.nan
    start_converged: bool = False
    start_method: str = "mixedlm"
    marker: str = "ca125"

    kind = "kinetics_population"
    format_version = 1

    def __post_init__(self):
        for name in ("mu_log_k", "mu_log_floor"):
            if not _finite(getattr(self, name)):
                raise InvalidInputError(f"KineticsPopulation.{name} must be a finite number, got {getattr(self, name)!r}")
        for name in ("sd_log_k", "sd_log_floor", "sigma"):
            value = getattr(self, name)
            if not _finite(value) or value <= 0:
                raise InvalidInputError(f"KineticsPopulation.{name} must be a positive number, got {value!r}")
        if not _finite(self.corr_log_k_floor) or abs(self.corr_log_k_floor) >= 1:
            raise InvalidInputError(
                f"KineticsPopulation.corr_log_k_floor must lie in (-1, 1), got {self.corr_log_k_floor!r}")
        if not isinstance(self.settings, KineticsSettings):
            raise InvalidInputError("KineticsPopulation.settings must be a KineticsSettings")
        if self.marker not in MARKERS:
            raise InvalidInputError(
                f"KineticsPopulation.marker must be one of {sorted(MARKERS)}, got {self.marker!r}")
        if self.start_method not in _START_METHODS:
            raise InvalidInputError(
                f"KineticsPopulation.start_method must be one of {_START_METHODS}, got {self.start_method!r}")

    @property
    def median_k(self) -> float:
        """Population median of k, per day (``exp(mu_log_k)``)."""
        return math.exp(self.mu_log_k)

    @property
    def median_half_life_days(self) -> float:
        return math.log(2.0) / self.median_k

    @property
    def median_floor(self) -> float:
        """Population median of the floor B, U/mL."""
        return math.exp(self.mu_log_floor)

    def _moments(self) -> eng.Moments:
        return eng.Moments(self.mu_log_k, self.mu_log_floor, self.sd_log_k, self.sd_log_floor,
                           self.corr_log_k_floor, self.sigma)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (settings nested), with ``kind`` and ``format_version``."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["settings"] = self.settings.to_dict()
        return {"kind": self.kind, "format_version": self.format_version, **data}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KineticsPopulation:
        data = dict(data)
        kind = data.pop("kind", cls.kind)
        version = data.pop("format_version", cls.format_version)
        if kind != cls.kind or version != cls.format_version:
            raise InvalidInputError(
                f"not a {cls.kind} (format {cls.format_version}): got kind={kind!r}, "
                f"format_version={version!r}; refit the population with fit_population")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise InvalidInputError(f"unknown KineticsPopulation field(s) {unknown}; valid fields are {sorted(names)}")
        if "settings" in data and not isinstance(data["settings"], KineticsSettings):
            data["settings"] = KineticsSettings.from_dict(data["settings"])
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> KineticsPopulation:
        return cls.from_dict(json.loads(text))

    def to_frame(self) -> pd.DataFrame:
        """One row per population parameter: ``parameter``, ``value``, ``meaning``."""
        rows = [
            ("mu_log_k", self.mu_log_k, "mean of log k (k per day)"),
            ("sd_log_k", self.sd_log_k, "sd of log k"),
            ("mu_log_floor", self.mu_log_floor, "mean of log floor (U/mL)"),
            ("sd_log_floor", self.sd_log_floor, "sd of log floor"),
            ("corr_log_k_floor", self.corr_log_k_floor, "correlation of log k and log floor"),
            ("sigma", self.sigma, "residual sd of log CA-125"),
            ("median_k", self.median_k, "population median k, per day"),
            ("median_half_life_days", self.median_half_life_days, "ln 2 / median k"),
            ("median_floor", self.median_floor, "population median floor, U/mL"),
            ("n_patients", float(self.n_patients), "patients with status ok used"),
            ("n_samples", float(self.n_samples), "samples of those patients"),
        ]
        return pd.DataFrame(rows, columns=["parameter", "value", "meaning"])


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# =========================================================================== data preparation

@dataclass
class _Bucket:
    """The used samples of patients with the same number ``m`` of them, sorted by day.

    Dense, samples x patients, no padding: ``day[j, i]`` is the j-th used sample of
    patient ``idx[i]``.
    """

    idx: np.ndarray      # (P_b,) global patient index
    day: np.ndarray      # (m, P_b) float
    value: np.ndarray    # (m, P_b) float, U/mL (the limit for censored values), > 0
    cens: np.ndarray     # (m, P_b) bool
    uln: np.ndarray      # (m, P_b) float, the sample's own ULN (its row's ``uln``)

    def chunks(self, size: int = 65536):
        """Column blocks of at most ``size`` patients (views): cache-sized work."""
        for a in range(0, self.idx.size, size):
            sl = slice(a, a + size)
            yield _Bucket(self.idx[sl], self.day[:, sl], self.value[:, sl], self.cens[:, sl], self.uln[:, sl])

    def series(self, cols=slice(None)) -> eng.Series:
        cens = self.cens[:, cols]
        return eng.Series(np.maximum(self.day[:, cols], 0.0), np.log(self.value[:, cols]),
                          cens if cens.any() else None)


@dataclass
class _Batch:
    """Everything the estimator needs about a cohort, in output order of patients."""

    ids: pd.Index
    uln: np.ndarray              # the baseline sample's (:func:`_patient_uln`)
    last_uln: np.ndarray         # the last used sample's (the wide form: ``uln``)
    n_excluded: np.ndarray
    n_outside: np.ndarray
    problem: np.ndarray          # object: None or reason text
    buckets: list[_Bucket]

    @property
    def n_patients(self) -> int:
        return len(self.ids)


def _settings(settings, spec: MarkerSpec = CA125) -> KineticsSettings:
    if settings is None:
        return KineticsSettings() if spec is CA125 else KineticsSettings(uln=spec.default_uln)
    if not isinstance(settings, KineticsSettings):
        raise InvalidInputError(
            f"settings must be a KineticsSettings, got {type(settings).__name__}; "
            "build one with ca125kinetics.KineticsSettings(...)")
    if spec.name != CA125.name and settings.uln == CA125.default_uln:   # by name: specs are pickled to Spark
        # KineticsSettings' ULN defaults to CA-125's: for another marker it would be read as
        # that marker's ULN (35 ng/mL of CEA) wherever a row gives none
        raise InvalidInputError(
            f"settings.uln is {settings.uln:g}, CA-125's default ULN ({CA125.unit}), but the marker is {spec.label}: "
            f"give its ULN, e.g. KineticsSettings(uln={spec.default_uln:g}, ...) ({spec.unit})")
    if not spec.plausible_uln(settings.uln):
        raise InvalidInputError(
            f"settings.uln is {settings.uln:g} {spec.unit}, implausible for {spec.label} (from {spec.uln_min:g} to "
            f"{spec.uln_max:g} {spec.unit}); give its assay's ULN, e.g. KineticsSettings(uln={spec.default_uln:g}, ...)")
    return settings


def _is_wide(frame: pd.DataFrame) -> bool:
    cols = set(map(str, frame.columns))
    if {"patient_id", "day", "ca125"} <= cols:
        return False
    if any(_WIDE_RE.match(c) for c in cols) or {"uln", "n_excluded"} <= cols:  # (no sample at all)
        return True
    missing = sorted({"patient_id", "day", "ca125"} - cols)
    raise InvalidInputError(
        f"markers lack column(s) {missing}: expected the long markers frame (patient_id, day, "
        "ca125, ...; read it with ca125kinetics.read_markers) or the wide form of "
        "series_to_wide (day_1.., ca125_1.., censored_1..)")


def _to_batch(markers, settings: KineticsSettings, spec: MarkerSpec = CA125) -> _Batch:
    if not isinstance(markers, pd.DataFrame):
        raise InvalidInputError(
            f"markers must be a pandas DataFrame, got {type(markers).__name__}; "
            "read files with ca125kinetics.read_markers")
    markers = _engine_frame(markers, spec)
    return (_batch_from_wide(markers, settings, spec) if _is_wide(markers)
            else _batch_from_long(markers, settings, spec))


def _marker_columns(cols: set[str], name: str) -> list[str]:
    """The long (``name``) and wide (``name_j``) value columns of one marker among ``cols``."""
    return [c for c in cols if c == name or (c.startswith(name + "_") and c[len(name) + 1:].isdigit())]


def _engine_frame(markers: pd.DataFrame, spec: MarkerSpec) -> pd.DataFrame:
    """The frame whose value columns the engine reads: ``ca125`` / ``ca125_j`` (internal name).

    CA-125 frames pass unchanged. Another marker's columns (``cea``, ``cea_j``) are renamed
    (a view of the same data); a frame holding another marker than ``spec``, or two
    markers, is refused (never guessed), and so is a header naming a column twice (which one
    holds the data is ambiguous), as the readers refuse it.
    """
    from .io import _check_header

    _check_header(markers.columns, "markers DataFrame")
    cols = set(map(str, markers.columns))
    own = _marker_columns(cols, spec.name)
    others = sorted(m for m in MARKERS if m != spec.name and _marker_columns(cols, m))
    if not own and others:
        raise InvalidInputError(
            f"the markers hold {others[0]!r} values, not {spec.name!r} ({spec.label}); pass "
            f"marker={others[0]!r} (on the command line --marker {others[0]})", column=spec.name)
    if own and others:
        raise InvalidInputError(
            f"the markers frame has value columns of two markers ({spec.name!r} and {others}); "
            "give one marker per frame", column=others[0])
    if spec is CA125 or spec.name == "ca125" or not own:
        return markers
    return markers.rename(columns={c: "ca125" + c[len(spec.name):] for c in own})


def _patient_codes(pid: pd.Series) -> tuple[np.ndarray, pd.Index, bool]:
    """Integer code per row, unique ids in order of first appearance, rows grouped by patient?

    Fast path for the canonical frame (rows of a patient contiguous): compare neighbours
    instead of hashing every row.
    """
    n = len(pid)
    if n == 0:
        return np.zeros(0, dtype=np.int64), pd.Index([], dtype=object, name="patient_id"), True
    change = None
    if isinstance(pid.dtype, pd.StringDtype) and pid.dtype.storage == "pyarrow":
        import pyarrow as pa
        import pyarrow.compute as pc

        arr = pa.array(pid)
        change = pc.fill_null(pc.not_equal(arr[1:], arr[:-1]), True).to_numpy(zero_copy_only=False)
    elif pid.dtype == object:
        arr = pid.to_numpy()
        change = arr[1:] != arr[:-1]
    if change is not None:
        change = np.asarray(change, dtype=bool)
        heads = np.flatnonzero(np.concatenate([[True], change]))
        head_ids = pd.Index(pid.iloc[heads].to_numpy(dtype=object), dtype=object, name="patient_id")
        _check_ids(head_ids, heads)        # an empty id is its own run: checking heads suffices
        if head_ids.is_monotonic_increasing or head_ids.is_unique:
            return np.cumsum(np.concatenate([[0], change]), dtype=np.int64), head_ids, True
    _check_ids(pd.Index(pid.to_numpy(dtype=object), dtype=object), np.arange(n))
    codes, uniques = pd.factorize(pid, sort=False)
    return (codes.astype(np.int64),
            pd.Index(np.asarray(uniques, dtype=object), dtype=object, name="patient_id"), False)


def _check_ids(ids: pd.Index, rows: np.ndarray) -> None:
    if pd.api.types.infer_dtype(ids, skipna=False) == "string":
        return                       # every id is a str: none is empty (a quarter of isna's time)
    empty = ids.isna()
    if empty.any():
        raise InvalidInputError("patient_id is empty; every sample needs a patient identifier",
                                row=int(rows[np.flatnonzero(empty)[0]]), column="patient_id")


def _numeric_column(frame: pd.DataFrame, name: str, how: str) -> np.ndarray:
    col = frame[name]
    if not (pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype)):
        raise InvalidInputError(f"column {name!r} must be numeric, got dtype {col.dtype}; {how}", column=name)
    return col.to_numpy(dtype=float, na_value=np.nan)


def _bool_column(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame.columns:
        return np.zeros(len(frame), dtype=bool)
    col = frame[name]
    if pd.api.types.is_bool_dtype(col.dtype):
        return col.fillna(False).to_numpy(dtype=bool)
    values = pd.to_numeric(col, errors="coerce")
    bad = values.isna() & col.notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InvalidInputError(f"censored flag {col.iloc[row]!r} is not True/False", row=row, column=name)
    return values.fillna(0).to_numpy(dtype=float) != 0


def _text_rows(frame: pd.DataFrame, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Row positions and texts of the non-empty entries of an optional text column."""
    if name not in frame.columns:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=object)
    col = frame[name]
    rows = np.flatnonzero(col.notna().to_numpy())
    return rows, col.iloc[rows].astype(str).to_numpy(dtype=object)


@dataclass
class _Rows:
    """The rows of a long markers frame sorted by (patient, day), classified."""

    order: np.ndarray | None     # sorted position -> input row (None: input already sorted)
    ids: pd.Index
    codes: np.ndarray
    day: np.ndarray
    value: np.ndarray
    cens: np.ndarray
    uln_row: np.ndarray
    first_row: np.ndarray        # first sorted row of each patient
    outside: np.ndarray          # a value outside the analysis window
    excluded: np.ndarray         # a value inside it, excluded by an event window
    used: np.ndarray
    event: np.ndarray            # an event row
    problem: np.ndarray          # per patient: None or why the input is invalid


def _prepare_rows(markers: pd.DataFrame, s: KineticsSettings, spec: MarkerSpec = CA125) -> _Rows:
    n_rows = len(markers)
    codes, ids, grouped = _patient_codes(markers["patient_id"])
    how = "read the markers with ca125kinetics.read_markers"
    day = _numeric_column(markers, "day", how)
    if np.isnan(day).any():
        row = int(np.flatnonzero(np.isnan(day))[0])
        raise InvalidInputError("day is empty; give days from the first dose", row=row, column="day")
    if markers["ca125"].dtype == object or isinstance(markers["ca125"].dtype, pd.StringDtype):
        raise InvalidInputError(
            f"column {spec.name!r} holds text (for example '<5'); read the table with "
            "ca125kinetics.read_markers, which parses censored values", column=spec.name)
    value = _numeric_column(markers, "ca125", how)
    cens = _bool_column(markers, "censored")
    from .io import filled_uln

    # a ULN the markers reader filled in by default is no statement: the settings' applies
    uln_row = (_numeric_column(markers, "uln", how) if "uln" in markers.columns and filled_uln(markers) is None
               else np.full(n_rows, s.uln))
    uln_row = np.where(np.isnan(uln_row), s.uln, uln_row)
    ev_rows, ev_kind = _text_rows(markers, "event")
    pr_rows, pr_text = _text_rows(markers, "problem")
    return _classify_rows(ids, codes, grouped, day, value, cens, uln_row, ev_rows, ev_kind, pr_rows, pr_text, s,
                          spec=spec)


def _classify_rows(ids: pd.Index, codes: np.ndarray, grouped: bool, day: np.ndarray, value: np.ndarray,
                   cens: np.ndarray, uln_row: np.ndarray, ev_rows: np.ndarray, ev_kind: np.ndarray,
                   pr_rows: np.ndarray, pr_text: np.ndarray, s: KineticsSettings, *, check: bool = True,
                   spec: MarkerSpec = CA125) -> _Rows:
    """:func:`_prepare_rows` after the columns are extracted: sort, exclusions, usage.

    ``codes`` (row -> position in ``ids``), ``day``, ``value`` (NaN on event-only rows),
    ``cens``, ``uln_row`` (NaN filled) are per row; ``ev_rows``/``ev_kind`` and
    ``pr_rows``/``pr_text`` are the rows and texts of the non-empty ``event`` and
    ``problem`` entries; ``grouped``: the rows of a patient are contiguous. ``check=False``:
    the rows are ``io.PatientRecord`` rows, valid under io's rules (one sample per day, known
    events), and are not checked again.
    """
    n_rows = len(codes)
    n_pat = len(ids)
    # sort by (patient, day) unless the canonical order already holds
    order = None
    new_patient, day_step = np.diff(codes) != 0, np.diff(day)
    if n_rows and not (grouped and np.all(new_patient | (day_step >= 0))):
        order = np.lexsort((day, codes))
        rank = np.empty(n_rows, dtype=np.int64)
        rank[order] = np.arange(n_rows)
        codes, day, value, cens, uln_row = codes[order], day[order], value[order], cens[order], uln_row[order]
        ev_rows, pr_rows = rank[ev_rows], rank[pr_rows]
        new_patient, day_step = np.diff(codes) != 0, np.diff(day)
    has_value = ~np.isnan(value)
    same = ~new_patient & (day_step == 0) & has_value[1:] & has_value[:-1] if check else np.zeros(0, bool)
    if same.any():
        j = int(np.flatnonzero(same)[0])
        raise InvalidInputError(
            f"two samples on day {day[j]:g}; aggregate them explicitly "
            "(read_markers(..., duplicates='mean' or another rule)) or correct the data",
            patient_id=str(ids[codes[j]]), column="day")
    first_row = np.flatnonzero(np.concatenate([[n_rows > 0], new_patient]))   # of each patient

    problem = np.full(n_pat, None, dtype=object)
    problem[codes[pr_rows[::-1]]] = pr_text[::-1]          # the first text of a patient wins

    excluded_by_event = _event_exclusions(codes, day, ev_rows, ev_kind, ids, s)
    in_window = (day >= -s.pretreatment_window_days) & (day <= s.window_days)
    used = has_value & in_window & ~excluded_by_event

    # a used value or ULN that cannot be log-transformed makes the patient invalid
    for bad, what, src in ((used & ~(value > 0), spec.label + " {v:g} " + spec.unit + " on day {d:g} is not "
                            "positive: the log-scale fit needs positive values; report values below "
                            "the assay limit as '<limit'", value),
                           (used & ~(uln_row > 0), "ULN {v:g} on day {d:g} is not positive; give the "
                            "assay's ULN in " + spec.unit, uln_row),
                           # a frame not read by read_markers (which refuses them) may hold them
                           (used & np.isinf(value), spec.label + " value on day {d:g} is infinite; give the "
                            "measured value in " + spec.unit, value),
                           (used & np.isinf(uln_row), "ULN on day {d:g} is infinite; give the assay's ULN in "
                            + spec.unit, uln_row)):
        for r in np.flatnonzero(bad):
            if problem[codes[r]] is None:
                problem[codes[r]] = what.format(v=src[r], d=day[r])
    used &= ~(problem != None)[codes]  # noqa: E711 - elementwise on an object array
    event = np.zeros(n_rows, dtype=bool)
    event[ev_rows] = True
    return _Rows(order, ids, codes, day, value, cens, uln_row, first_row,
                 has_value & ~in_window, has_value & in_window & excluded_by_event, used, event, problem)


def _batch_from_long(markers: pd.DataFrame, s: KineticsSettings, spec: MarkerSpec = CA125) -> _Batch:
    return _batch_from_rows(_prepare_rows(markers, s, spec))


def _batch_from_rows(r: _Rows) -> _Batch:
    n_pat = len(r.ids)
    n_outside = np.bincount(r.codes[r.outside], minlength=n_pat)
    n_excluded = np.bincount(r.codes[r.excluded], minlength=n_pat)
    uln = _patient_uln(r.codes, r.day, r.uln_row, r.used, r.first_row)
    last_uln = uln.copy()
    pats, rows = _last_per_patient(r.codes, np.flatnonzero(r.used))
    last_uln[pats] = r.uln_row[rows]
    buckets = _dense_buckets(r.codes, r.day, r.value, r.cens, r.uln_row, r.used, n_pat)
    return _Batch(r.ids, uln, last_uln, n_excluded, n_outside, r.problem, buckets)


def _sample_usage(markers: pd.DataFrame, s: KineticsSettings, spec: MarkerSpec = CA125) -> np.ndarray:
    """Per input row: ``used``, ``outside_window``, ``event_window`` (excluded by an event),
    ``event`` (an event-only row), ``invalid`` (the patient's input is invalid) or
    ``no_value``."""
    r = _prepare_rows(_engine_frame(markers, spec), s, spec)
    usage = np.full(len(r.day), "no_value", dtype=object)
    usage[r.event & np.isnan(r.value)] = "event"
    usage[r.outside] = "outside_window"
    usage[r.excluded] = "event_window"
    usage[r.used] = "used"
    usage[(r.problem != None)[r.codes] & ~np.isnan(r.value)] = "invalid"  # noqa: E711
    if r.order is None:
        return usage
    out = np.empty_like(usage)
    out[r.order] = usage
    return out


def _event_exclusions(codes, day, ev_rows, ev_kind, ids, s: KineticsSettings) -> np.ndarray:
    """Rows excluded by an interference window or a mouse-antibody event (rows sorted)."""
    n = len(codes)
    excluded = np.zeros(n, dtype=bool)
    if len(ev_rows) == 0:
        return excluded
    # a few distinct event texts over many rows: each normalised once
    at, distinct = pd.factorize(np.asarray(ev_kind, dtype=object), use_na_sentinel=False)
    kind = np.array([k.strip().lower() for k in distinct], dtype=object)[at]
    known = np.isin(kind, INTERFERENCE_EVENTS + (HAMA_EVENT,))
    if not known.all():
        r = int(ev_rows[np.flatnonzero(~known)[0]])
        raise InvalidInputError(
            f"unknown event {ev_kind[np.flatnonzero(~known)[0]]!r}; use one of "
            f"{INTERFERENCE_EVENTS + (HAMA_EVENT,)} or leave it empty",
            patient_id=str(ids[codes[r]]), column="event")
    d_min = int(day.min())
    span = int(day.max()) - d_min + s.interference_window_days + 2
    key = codes * span + (day.astype(np.int64) - d_min)
    ev_code, ev_day = codes[ev_rows], day[ev_rows].astype(np.int64) - d_min
    inter = np.isin(kind, INTERFERENCE_EVENTS)
    lo = np.searchsorted(key, ev_code * span + ev_day, side="left")
    hi = np.where(inter,
                  np.searchsorted(key, ev_code * span + ev_day + s.interference_window_days, side="right"),
                  np.searchsorted(key, (ev_code + 1) * span, side="left"))
    # rows lo..hi-1 of every event, without touching the others
    lengths = np.maximum(hi - lo, 0)
    offsets = np.repeat(lo - (np.cumsum(lengths) - lengths), lengths)
    excluded[np.arange(lengths.sum()) + offsets] = True
    return excluded


def excluded_by_events(days, events, settings: KineticsSettings | None = None) -> np.ndarray:
    """One patient's rows excluded by an interference window (paracentesis, thoracentesis,
    surgery: that day and the ``interference_window_days`` after it) or after mouse
    antibodies, as the fits exclude them (:func:`_event_exclusions`); ``days`` and
    ``events`` (None or an event name per row) in any order, the mask in theirs."""
    s = settings or KineticsSettings()
    day = np.asarray(days, dtype=float)
    order = np.argsort(day, kind="stable")
    # the event rows as the fits find them (_text_rows of the event column)
    ev_rows, ev_kind = _text_rows(pd.DataFrame({"event": np.asarray(events, dtype=object)[order]}), "event")
    sorted_mask = _event_exclusions(np.zeros(len(day), dtype=np.int64), day[order], ev_rows, ev_kind,
                                    np.array(["patient"], dtype=object), s)
    out = np.empty(len(day), dtype=bool)
    out[order] = sorted_mask
    return out


def _last_per_patient(codes: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Patients and their last row among ``rows`` (ascending, rows sorted by patient)."""
    c = codes[rows]
    last = np.concatenate([c[1:] != c[:-1], [True]]) if rows.size else np.zeros(0, dtype=bool)
    return c[last], rows[last]


def _patient_uln(codes, day, uln_row, used, first_row) -> np.ndarray:
    """ULN of the baseline sample, else of the first used sample, else of the first row."""
    uln = uln_row[first_row].copy()
    used_rows = np.flatnonzero(used)
    c = codes[used_rows]
    first = np.concatenate([[True], c[1:] != c[:-1]]) if used_rows.size else np.zeros(0, dtype=bool)
    uln[c[first]] = uln_row[used_rows[first]]
    pats, rows = _last_per_patient(codes, np.flatnonzero(used & (day <= 0)))
    uln[pats] = uln_row[rows]
    return uln


def _dense_buckets(codes, day, value, cens, uln_row, used, n_pat) -> list[_Bucket]:
    """Group the used rows (sorted by patient and day) by the patient's number of samples.

    Rows of the patients with ``m`` samples, in order, reshape to ``(P, m)``: no scatter;
    transposed, these row numbers gather every column straight into its ``(m, P)`` layout.
    """
    ui = np.flatnonzero(used)
    cu = codes[ui]
    counts = np.bincount(cu, minlength=n_pat)
    present = np.flatnonzero(np.bincount(counts)[1:]) + 1       # the sample counts that occur
    row_count = counts[cu] if present.size > 1 else None
    buckets = []
    for m in present:
        rows = ui if row_count is None else ui[row_count == m]
        pats = np.flatnonzero(counts == m)
        at = np.ascontiguousarray(rows.reshape(pats.size, m).T)
        dense = [src[at] for src in (day, value, cens, uln_row)]
        buckets.append(_Bucket(pats, *dense))
    return buckets


def _wide_columns(frame: pd.DataFrame) -> dict[str, dict[int, Any]]:
    found: dict[str, dict[int, Any]] = {"day": {}, "ca125": {}, "censored": {}, "uln": {}}
    for c in frame.columns:
        m = _WIDE_RE.match(str(c))
        if m:
            found[m.group(1)][int(m.group(2))] = c
    if (set(found["day"]) != set(found["ca125"]) or not set(found["censored"]) <= set(found["day"])
            or not set(found["uln"]) <= set(found["day"])):
        raise InvalidInputError(
            "wide markers need matching day_j and ca125_j columns (and optional censored_j, uln_j) "
            f"for the same j; got day {sorted(found['day'])}, ca125 {sorted(found['ca125'])}, "
            f"censored {sorted(found['censored'])}, uln {sorted(found['uln'])}; build the frame with series_to_wide")
    return found


def _series_columns(frame: pd.DataFrame) -> list:
    found = _wide_columns(frame)
    cols = [c for kind in found.values() for c in kind.values()]
    return cols + [c for c in WIDE_META_COLUMNS if c in frame.columns]


def _batch_from_wide(wide: pd.DataFrame, s: KineticsSettings, spec: MarkerSpec = CA125) -> _Batch:
    found = _wide_columns(wide)
    js = sorted(found["day"])
    n_pat = len(wide)
    source = wide["patient_id"] if "patient_id" in wide.columns else wide.index
    ids = pd.Index(np.asarray(pd.Index(source).astype(str), dtype=object), dtype=object, name="patient_id")
    how = "build the wide frame with series_to_wide"
    day = np.column_stack([_numeric_column(wide, found["day"][j], how) for j in js]) if js else np.zeros((n_pat, 0))
    value = np.column_stack([_numeric_column(wide, found["ca125"][j], how) for j in js]) if js else np.zeros((n_pat, 0))
    cens = np.zeros(day.shape, dtype=bool)
    for pos, j in enumerate(js):
        if j in found["censored"]:
            cens[:, pos] = _bool_column(wide, found["censored"][j])
    uln = (_numeric_column(wide, "uln", how) if "uln" in wide.columns else np.full(n_pat, s.uln))
    uln = np.where(np.isnan(uln), s.uln, uln)
    # the last used sample's ULN (a frame made before the column existed: the baseline's)
    last_uln = (_numeric_column(wide, "last_uln", how) if "last_uln" in wide.columns else uln)
    last_uln = np.where(np.isnan(last_uln), uln, last_uln)
    # each sample's own ULN (uln_j); a frame made before those columns existed keeps only the
    # patient's ULN and the last sample's: every sample but the last (by day) has the former
    sample_uln = np.repeat(uln[:, None], len(js), axis=1)
    if js and not found["uln"]:
        with np.errstate(invalid="ignore"):
            has = ~np.isnan(day) & ~np.isnan(value)
            jlast = np.argmax(np.where(has, day, -np.inf), axis=1)
        rows = np.flatnonzero(has.any(axis=1))
        sample_uln[rows, jlast[rows]] = last_uln[rows]
    for pos, j in enumerate(js):
        if j in found["uln"]:
            given = _numeric_column(wide, found["uln"][j], how)
            sample_uln[:, pos] = np.where(np.isnan(given), uln, given)
    value = np.where(np.isnan(day), np.nan, value)
    in_window = (day >= -s.pretreatment_window_days) & (day <= s.window_days)
    has_value = ~np.isnan(value)
    n_outside = (has_value & ~in_window).sum(axis=1)
    value = np.where(in_window, value, np.nan)
    used = ~np.isnan(value)
    # sort every row by day, unused slots last
    key = np.where(used, day, np.inf)
    with np.errstate(invalid="ignore"):                 # inf - inf between unused slots
        unsorted = day.shape[1] > 1 and bool(np.any(np.diff(key, axis=1) < 0))
    if unsorted:
        order = np.argsort(key, axis=1, kind="stable")
        day, value, cens, sample_uln = (np.take_along_axis(a, order, axis=1) for a in (day, value, cens, sample_uln))
        used = ~np.isnan(value)
    n_excluded = (wide["n_excluded"].fillna(0).to_numpy(dtype=np.int64) if "n_excluded" in wide.columns
                  else np.zeros(n_pat, dtype=np.int64))
    n_outside = n_outside + (wide["n_outside_window"].fillna(0).to_numpy(dtype=np.int64)
                             if "n_outside_window" in wide.columns else 0)
    problem = np.full(n_pat, None, dtype=object)
    rows, text = _text_rows(wide, "problem")
    problem[rows] = text
    bad = used & ~((value > 0) & np.isfinite(value))
    for i in np.flatnonzero(bad.any(axis=1)):
        if problem[i] is None:
            j = int(np.flatnonzero(bad[i])[0])
            problem[i] = (f"{spec.label} value on day {day[i, j]:g} is infinite; give the measured value in {spec.unit}"
                          if np.isinf(value[i, j]) else
                          f"{spec.label} {value[i, j]:g} {spec.unit} on day {day[i, j]:g} is not positive: the "
                          "log-scale fit needs positive values; report values below the assay limit as '<limit'")
    for ulns in (uln, last_uln):
        for i in np.flatnonzero(~((ulns > 0) & np.isfinite(ulns)) & (problem == None)):  # noqa: E711
            problem[i] = (f"ULN {ulns[i]:g} is not a positive finite number; give the assay's ULN in {spec.unit}")
    bad_uln = used & ~((sample_uln > 0) & np.isfinite(sample_uln))
    for i in np.flatnonzero(bad_uln.any(axis=1) & (problem == None)):  # noqa: E711
        j = int(np.flatnonzero(bad_uln[i])[0])
        problem[i] = (f"ULN {sample_uln[i, j]:g} on day {day[i, j]:g} is not a positive finite number; give the "
                      f"assay's ULN in {spec.unit}")
    used &= (problem == None)[:, None]  # noqa: E711 - elementwise on an object array
    counts = used.sum(axis=1)
    buckets = []
    for m in np.unique(counts[counts > 0]):
        pats = np.flatnonzero(counts == m)
        # rows are sorted with the used samples first: keep the first m columns
        sub = [np.ascontiguousarray(a[pats, :m].T) for a in (day, value, cens & used, sample_uln)]
        buckets.append(_Bucket(pats, *sub))
    return _Batch(ids, uln, last_uln, n_excluded, n_outside, problem, buckets)


# =========================================================================== descriptors and status

def _at(arr: np.ndarray, j: np.ndarray) -> np.ndarray:
    """``arr[j[i], i]`` for every column i (a C-ordered array: as positions in its memory,
    five times faster than the two-index form)."""
    cols = np.arange(arr.shape[1])
    if arr.flags.c_contiguous:
        return arr.reshape(-1)[j * arr.shape[1] + cols]
    return arr[j, cols]


def _first_extreme(a: np.ndarray, *, smallest: bool = False) -> np.ndarray:
    """``np.argmax(a, axis=0)`` (``np.argmin`` with ``smallest``) of an (m, P) array: in each
    column, the first row holding its largest (smallest) value.

    Along the first axis numpy walks every column apart, about ten times slower than these
    ``m`` comparisons of whole rows. An array holding NaN (numpy's rule makes NaN the
    extreme) or no row is left to numpy.
    """
    if a.shape[0] == 0 or (a.dtype.kind == "f" and np.isnan(a).any()):
        return np.argmin(a, axis=0) if smallest else np.argmax(a, axis=0)
    first = np.zeros(a.shape[1], dtype=np.intp)
    best = a[0].copy()
    better = np.empty(a.shape[1], dtype=bool)
    beats, keep = (np.less, np.minimum) if smallest else (np.greater, np.maximum)
    for j in range(1, a.shape[0]):       # in place, no masked indexing: a few passes per row
        beats(a[j], best, out=better)
        np.copyto(first, j, where=better)
        keep(best, a[j], out=best)
    return first


def _describe(batch: _Batch, s: KineticsSettings) -> dict[str, np.ndarray]:
    """Descriptors and status of every patient (no model fit), plus the log-linear slope."""
    n = batch.n_patients
    nan = lambda: np.full(n, np.nan)  # noqa: E731
    out = {name: nan() for name in (
        "baseline_value", "baseline_day", "nadir", "nadir_day", "time_to_normalisation_days",
        "time_to_normalisation_uln", "slope", "intercept", "slope_se", "loglinear_rss", "loglinear_tss", "last_value", "last_day",
        *[f"pct_decline_c{c}" for c in _CYCLES], *[f"pct_decline_c{c}_day" for c in _CYCLES])}
    out["n_samples"] = np.zeros(n, dtype=np.int64)
    out["n_on"] = np.zeros(n, dtype=np.int64)
    for flag in (*CENSORED_FLAG_COLUMNS, "last_censored"):
        out[flag] = np.zeros(n, dtype=bool)
    for b in (chunk for bucket in batch.buckets for chunk in bucket.chunks()):
        idx, day, val = b.idx, b.day, b.value
        on = day > 0
        pre = ~on
        out["n_samples"][idx] = day.shape[0]
        out["n_on"][idx] = on.sum(axis=0)
        has_base = pre.any(axis=0)
        jb = _first_extreme(np.where(pre, day, -np.inf))
        base = np.where(has_base, _at(val, jb), np.nan)
        out["baseline_value"][idx] = base
        out["baseline_day"][idx] = np.where(has_base, _at(day, jb), np.nan)
        out["baseline_censored"][idx] = has_base & _at(b.cens, jb)
        # the nadir is the lowest value from the baseline on (an earlier pretreatment sample of
        # the window is no nadir of the decline, as in the GCIG rules); days sorted: earliest of ties
        before = has_base & (day < _at(day, jb))
        jn = _first_extreme(np.where(before, np.inf, val), smallest=True)
        out["nadir"][idx] = _at(val, jn)
        out["nadir_day"][idx] = _at(day, jn)
        # a censored "<x" from the baseline on, the nadir's or another (its true value is below
        # x, perhaps below the nadir): the nadir is an upper bound, its day uncertain
        out["nadir_censored"][idx] = (b.cens & ~before).any(axis=0)
        # each sample against its own ULN (an assay change mid-series changes the normal
        # range from that sample on); "<x" with x <= ULN is normal
        normal = on & at_most(val, b.uln)
        jt = _first_extreme(normal)
        ever = normal.any(axis=0)
        normal_day = np.where(ever, _at(day, jt), np.nan)
        out["time_to_normalisation_days"][idx] = normal_day
        out["time_to_normalisation_uln"][idx] = np.where(ever, _at(b.uln, jt), np.nan)   # the ULN it was read by
        # an earlier on-treatment "<x" with x above its ULN may have been normal already: the
        # day is then an upper bound (NaN: normalisation undetermined, not "never")
        maybe = on & b.cens & ~normal & (day < np.where(ever, normal_day, np.inf))
        out["time_to_normalisation_censored"][idx] = maybe.any(axis=0)
        for c in _CYCLES:
            target = (c - 1) * s.cycle_days
            win = on & (np.abs(day - target) <= s.cycle_window_days)
            jc = _first_extreme(np.where(win, day, -np.inf))
            found = win.any(axis=0)
            with np.errstate(invalid="ignore", divide="ignore"):
                pct = 100.0 * (1.0 - _at(val, jc) / base)
            out[f"pct_decline_c{c}"][idx] = np.where(found, pct, np.nan)
            out[f"pct_decline_c{c}_day"][idx] = np.where(found, _at(day, jc), np.nan)
            # "<x" at the visit: a lower bound of the decline; "<x" at baseline: an upper bound
            out[f"pct_decline_c{c}_censored"][idx] = found & has_base & (_at(b.cens, jc) | _at(b.cens, jb))
        jl = _first_extreme(np.where(on, day, -np.inf))          # last on-treatment sample
        has_on = on.any(axis=0)
        out["last_value"][idx] = np.where(has_on, _at(val, jl), np.nan)
        out["last_day"][idx] = np.where(has_on, _at(day, jl), np.nan)
        out["last_censored"][idx] = has_on & _at(b.cens, jl)
        series = b.series()
        fit = eng.loglinear(series)
        for name, values in zip(("slope", "intercept", "slope_se", "loglinear_rss"), fit):
            out[name][idx] = values
        y = series.y if series.y.shape[1] > 1 else eng.one_column_as_two(series.y)[0]   # bits as in any batch
        dy = y - y.mean(axis=0)
        # equal values are flat (TSS 0) even when the mean of their logs rounds off them
        flat = (series.y == series.y[:1]).all(axis=0)
        out["loglinear_tss"][idx] = np.where(flat, 0.0, np.einsum("ij,ij->j", dy, dy)[:series.y.shape[1]])

    status = np.full(n, _OK, dtype=np.int64)
    ok = lambda: status == _OK  # noqa: E731
    status[batch.problem != None] = _INVALID  # noqa: E711
    few = (out["n_samples"] < s.min_samples) | (out["n_on"] < s.min_samples - 1)
    status[ok() & few] = _INSUFFICIENT
    status[ok() & np.isnan(out["baseline_value"])] = _NO_BASELINE
    # at most the limit, with the rules' relative slack (a decimal value at the limit is at it)
    limit = s.min_baseline_uln_factor * batch.uln
    low = out["baseline_censored"] | at_most(out["baseline_value"], limit)
    status[ok() & low] = _AT_FLOOR
    status[ok() & ~(out["slope"] < 0)] = _RISING
    out["status"] = status
    return out


def _reasons(status: np.ndarray, d: dict[str, np.ndarray], batch: _Batch, s: KineticsSettings,
             method: str, spec: MarkerSpec = CA125) -> tuple[list, np.ndarray]:
    """Why each patient got its status: ``(texts, codes)``, patient ``i``'s reason being
    ``texts[codes[i]]`` (a scored patient's the one text ``texts[0]``), so that a table
    column is built from the texts, not row by row.

    The texts of one status are formatted together from plain Python values (``tolist``):
    at registry scale about a tenth of the patients are not scored.
    """
    unit = spec.unit
    texts_of = [_OK_REASON[method]]
    codes = np.zeros(status.size, dtype=np.int64)
    pw, win = s.pretreatment_window_days, s.window_days
    for st in np.unique(status[status != _OK]).tolist():
        rows = np.flatnonzero(status == st)
        col = lambda a: a[rows].tolist()  # noqa: E731 - this status' values as Python objects
        if st in (_INSUFFICIENT, _NO_BASELINE):
            excl = [(f"; {e} excluded by event windows" if e else "") + (f"; {o} outside days -{pw}..{win}" if o else "")
                    for e, o in zip(col(batch.n_excluded), col(batch.n_outside))]
        if st == _INVALID:
            texts = [_invalid_reason(p) for p in col(batch.problem)]
        elif st == _INSUFFICIENT:
            texts = [f"{n} usable sample(s) in days -{pw}..{win} ({on} on treatment){x}; at least {s.min_samples} "
                     f"(baseline + {s.min_samples - 1} on treatment) are needed"
                     for n, on, x in zip(col(d["n_samples"]), col(d["n_on"]), excl)]
        elif st == _NO_BASELINE:
            texts = [f"no usable pretreatment sample in days -{pw}..0{x}; the fit needs the starting value"
                     for x in excl]
        elif st == _AT_FLOOR:
            texts = [(f"baseline reported below the assay limit (<{b:g} {unit}): no decline to estimate") if c else
                     (f"baseline {b:g} {unit} <= {s.min_baseline_uln_factor:g} x ULN ({u:g} {unit}): "
                      "already at the floor, no decline to estimate")
                     for b, c, u in zip(col(d["baseline_value"]), col(d["baseline_censored"]), col(batch.uln))]
        elif st == _RISING:
            texts = [f"{spec.label} does not decline: log-linear slope {v:+.4g}/day >= 0; "
                     "the elimination model does not apply" for v in col(d["slope"])]
        elif st == _K_AT_BOUND:
            lo, hi = eng.K_BOUNDS
            texts = [f"the fitted k ({k:.4g}/day) sits on its bound ({lo:g}..{hi:g} per day), or fits the samples "
                     f"as well as the bound does: the {n} sample(s) do not identify the elimination rate, so no k "
                     "is reported; check the values, or use method='population' (shrinks toward the cohort)"
                     for k, n in zip(col(d["k_pinned"]), col(d["n_samples"]))]
        else:  # _NOT_CONVERGED
            other = ", or use method='population'" if method == "per-patient" else ""
            texts = [f"the fit stopped at its iteration limit ({it} iterations) before converging (k was "
                     f"{k:.4g}/day and still moving): no k is reported; check the values (a censored value "
                     f"against the other samples){other}"
                     for k, it in zip(col(d["k_unconverged"]), col(d["fit_iterations"]))]
        codes[rows] = len(texts_of) + np.arange(rows.size)
        texts_of.extend(texts)
    return texts_of, codes


# =========================================================================== fitting

@dataclass
class _FitSet:
    """The ``ok`` patients of one bucket to fit together, with their box bounds."""

    idx: np.ndarray          # (P,) global patient index
    series: eng.Series
    y0: np.ndarray           # log baseline value
    log_uln: np.ndarray
    lower: np.ndarray        # (3, P) bounds of (log k, log B, log A)
    upper: np.ndarray


#: Upper bound of the floor, x ULN: the per-patient method (no prior) keeps B <= ULN; under a
#: population prior a plateau above the ULN stays possible.
_FLOOR_MAX_ULN = {"per-patient": 1.0, "population": 10.0}


def _prepare_fit(batch: _Batch, status: np.ndarray, d: dict[str, np.ndarray], method: str) -> list[_FitSet]:
    """Fit sets of the ``ok`` patients: per bucket, without and with censored values (only
    the latter pay for the one-sided residual)."""
    sets = []
    for b in batch.buckets:
        ok = status[b.idx] == _OK
        censored = b.cens.any(axis=0)
        for cols in (np.flatnonzero(ok & ~censored), np.flatnonzero(ok & censored)):
            if cols.size == 0:
                continue
            idx = b.idx[cols]
            y0 = np.log(d["baseline_value"][idx])
            log_uln = np.log(batch.uln[idx])
            ones = np.ones(idx.size)
            lower = np.stack([ones * math.log(eng.K_BOUNDS[0]), log_uln + math.log(eng.FLOOR_MIN_ULN), y0 - 12.0])
            upper = np.stack([ones * math.log(eng.K_BOUNDS[1]), log_uln + math.log(_FLOOR_MAX_ULN[method]), y0 + 3.0])
            sets.append(_FitSet(idx, b.series(cols), y0, log_uln, lower, upper))
    return sets


def _population_prior(m: eng.Moments, fs: _FitSet) -> eng.Prior:
    p_uu, p_uv, p_vv = m.precision()
    ones = np.ones(fs.idx.size)
    return eng.Prior(np.stack([ones * m.mu_u, ones * m.mu_v, fs.y0]),
                     (p_uu, p_uv, p_vv, 1.0 / eng.AMPLITUDE_PRIOR_SD ** 2))


def _population_start(m: eng.Moments, fs: _FitSet) -> np.ndarray:
    """Start values from the baseline and the first on-treatment value.

    ``B = min(population median, 0.7 x lowest value)``, ``A = baseline - B`` and
    ``k = log((C0 - B) / (C1 - B)) / t1`` (the early samples are the least bent by the
    floor), clipped to ``[1e-3, 1]`` per day; then the box bounds.
    """
    ser = fs.series
    value = np.exp(ser.y)
    c0 = np.exp(fs.y0)
    j1 = _first_extreme(ser.t > 0)
    c1 = _at(value, j1)
    t1 = _at(ser.t, j1)
    floor = np.minimum(math.exp(m.mu_v), 0.7 * value.min(axis=0))
    amp = np.maximum(c0 - floor, 0.1 * c0)
    k = np.clip(np.log(amp / np.maximum(c1 - floor, 1e-3 * amp)) / t1, 1e-3, 1.0)
    return np.clip(np.stack([np.log(k), np.log(floor), np.log(amp)]), fs.lower, fs.upper)


def _n_fit(sets: list[_FitSet]) -> int:
    return sum(fs.idx.size for fs in sets)


def _fit_sets_population(sets: list[_FitSet], m: eng.Moments, inits=None, *,
                         compiled: bool | None = None, sums=None) -> list[eng.MapFit]:
    """MAP of every patient under the population prior (``inits``: warm start from an EM step).

    Without ``inits``, every patient is fitted from two starts (:func:`_population_start`,
    from its data, and :func:`_prior_start`, the population medians) and keeps the fit with
    the lower objective: the global mode when the posterior has two.

    ``compiled``: run the compiled engine (default: when the patients of all ``sets``
    together are enough, :func:`eng.use_compiled`). ``sums``: one :func:`eng.sample_sums`
    buffer per set, kept across an EM's fits (see :func:`eng.fit_map`).
    """
    if compiled is None:
        compiled = eng.use_compiled(_n_fit(sets))
    fits = []
    for pos, fs in enumerate(sets):
        prior = _population_prior(m, fs)
        buffer = None if sums is None else sums[pos]
        if inits is not None:
            fits.append(eng.fit_map(fs.series, prior, fs.lower, fs.upper, inits[pos], m.sigma, warm_start=True,
                                    compiled=compiled, sums=buffer, max_iter=POPULATION_MAX_ITER))
            continue
        # with few noisy samples the posterior can have two modes (e.g. a fast decline to a
        # high floor, and a slower one to a low floor): fit from the data's start and from
        # the population's, and keep the better mode
        fit = eng.fit_map(fs.series, prior, fs.lower, fs.upper, _population_start(m, fs), m.sigma,
                          compiled=compiled, sums=buffer, max_iter=POPULATION_MAX_ITER)
        other_buffer = None if buffer is None else np.zeros_like(buffer)    # (0 rows: keep none)
        other = eng.fit_map(fs.series, prior, fs.lower, fs.upper, _prior_start(m, fs), m.sigma,
                            compiled=compiled, sums=other_buffer, max_iter=POPULATION_MAX_ITER)
        better = other.q < fit.q - _MODE_MARGIN
        if buffer is not None and buffer.shape[0]:
            buffer[better] = other_buffer[better]
        fits.append(fit.where(better, other))
    return fits


#: The fit from the population's start replaces the fit from the data's start when its
#: objective (a negative log posterior) is lower by more than this: two fits of the same mode
#: differ by far less, so the estimate of a patient with one mode does not change.
_MODE_MARGIN = 1e-6


def _prior_start(m: eng.Moments, fs: _FitSet) -> np.ndarray:
    """Start values at the population medians: ``k = exp(mu_log_k)``, ``B = exp(mu_log_floor)``,
    ``A = max(baseline - B, 0.1 baseline)``; then the box bounds."""
    c0 = np.exp(fs.y0)
    floor = math.exp(m.mu_v)
    amp = np.maximum(c0 - floor, 0.1 * c0)
    ones = np.ones(fs.idx.size)
    return np.clip(np.stack([ones * m.mu_u, ones * math.log(floor), np.log(amp)]), fs.lower, fs.upper)


#: Iteration limit of the per-patient fits. A fit still moving at the limit (after the
#: checks of :func:`_fit_sets_per_patient`) is ``not_converged``. 300 stopped a slow decline
#: whose interior floor fits three samples exactly, reached along a curved valley in about
#: 570 iterations (``mixed-0316`` of the R comparison); 1,000 costs nothing measurable on a
#: 100,000-patient registry (0.90-0.98 s CPU either way; ``not_converged`` 4 -> 1, three
#: becoming ``k_at_bound``).
PER_PATIENT_MAX_ITER = 1000
#: Stopping tolerance of the per-patient fits (``fit_map``'s ``tol_decrement``, the
#: predicted decrease of the objective ``Q = S / (2 x 0.1^2)``). With the default, 1e-8,
#: fits in a long curved valley (a nearly flat series, whose floor can slide from the ULN to
#: its lower bound) stopped where the objective could still fall by up to 6e-6, k up to
#: 22 % from the optimum an independent R fit finds (``tests/test_kinetics_patient_r.py``).
_FIT_TOL = 1e-12
#: Iteration limit of the fits that check a per-patient fit on the faces of its box (two
#: parameters, or three from a constrained optimum: a few steps when the face holds the optimum).
_CHECK_MAX_ITER = 50
#: Variance of log k (Laplace) above which a per-patient fit is weakly identified and
#: checked on the faces of its box (``_fit_sets_per_patient``): a sd of log k above 1.
_WEAK_LOG_K_VAR = 1.0
#: **Decision**: a k is not identified when a bound of k fits within this much of the fit's
#: objective ``Q`` (2e-10 in the sum of squared log residuals ``S``) (:func:`_fit_sets_per_patient`).
_IDENTIFIED_TOL = 1e-8


#: A population whose mean log floor is within this of the floors' lower bound (log scale:
#: 10 %) is reported as resting on that bound (:func:`fit_population`).
_FLOOR_AT_BOUND_LOG = math.log(1.1)


def _fit_sets_per_patient(sets: list[_FitSet], s: KineticsSettings) -> list[eng.MapFit]:
    """Least squares of each patient alone: no prior, box bounds only, started on a k grid.

    The fits whose k is weakly identified (Laplace sd of log k above 1 or not finite, k
    within 1 % of a bound) or that did not converge are checked on the faces of the box:

    0. *The fast-decline plateau.* A fit that ends at the upper bound of k (2 per day: every
       on-treatment sample modelled at the floor) may have walked there from its one start
       while an interior k fits better (days 0, 37, 60, 69 with 86.6, 28.2, 68.4, 53.8 U/mL:
       k = 2 with S = 0.680 against k = 0.018 with S = 0.615). It is fitted again from every
       k of the start grid (:data:`~ca125kinetics._kinetics_engine.K_GRID`, floor and
       amplitude in closed form) and takes the best converged fit.

    1. *The floor at a bound.* Such a fit often creeps along a curved valley toward a bound
       of the floor (hundreds of Levenberg-Marquardt steps; the 1e-8 tolerance used to stop
       it half way). The fit with the floor held at each of its bounds (two parameters,
       quickly converged), then freed again from there, replaces the fit where its
       objective is lower.
    2. *k at a bound* (**Decision**): a k is not identified when the best fit with k held at
       a bound of its box (1e-4 or 2 per day; floor and amplitude fitted again) has an
       objective no higher than the fit's plus :data:`_IDENTIFIED_TOL`: the profile of the
       objective in k is flat up to that bound. k is then set to that bound and reported as
       ``k_at_bound``. It happens when every on-treatment sample is already at the floor or
       below a censored limit (any faster decline fits as well: the optimiser stopped where
       it started, 0.5 per day at the top of the start grid), and on the ridge of a nearly
       flat series (k -> 0).

    The other fits are not checked: their objective rises by far more than the tolerance
    before any bound.
    """
    fits = []
    compiled = eng.use_compiled(_n_fit(sets))
    sigma = s.residual_sd_log
    for fs in sets:
        prior = eng.Prior(np.zeros((3, fs.idx.size)), (0.0, 0.0, 0.0, 0.0))
        init = eng.start_from_grid(fs.series, fs.lower, fs.upper)
        fit = eng.fit_map(fs.series, prior, fs.lower, fs.upper, init, sigma, compiled=compiled,
                          max_iter=PER_PATIENT_MAX_ITER, tol_decrement=_FIT_TOL)
        bounds = np.log(eng.K_BOUNDS)
        with np.errstate(invalid="ignore"):
            weak = (~((fit.cov[0] >= 0.0) & (fit.cov[0] <= _WEAK_LOG_K_VAR)) | ~fit.converged
                    | (np.abs(fit.theta[0][None, :] - bounds[:, None]) < 0.01).any(axis=0))
        cand = np.flatnonzero(weak)
        top = cand[np.abs(fit.theta[0, cand] - bounds[1]) < 0.01]
        if top.size:                                               # 0. the fast-decline plateau
            _refit_from_every_start(fit, top, fs, prior, sigma, compiled)
        if cand.size:
            sub = (fs.series.take(cand), prior.take(cand), fs.lower[:, cand], fs.upper[:, cand])
            for face in (sub[2][1], sub[3][1]):                   # 1. the floor at a bound
                held = _held_fit(fit.theta[:, cand], sub, 1, face, sigma, compiled)
                # freed from the face: a constrained optimum there converges in a few steps
                freed = eng.fit_map(*sub, held.theta, sigma, compiled=compiled, max_iter=_CHECK_MAX_ITER,
                                    tol_decrement=_FIT_TOL, warm_start=True)
                _replace(fit, cand, freed, freed.converged & (freed.q < fit.q[cand] - _FIT_TOL))
            log_k = fit.theta[0, cand].copy()
            for bound in bounds[::-1]:                               # 2. k at a bound
                # from the fit's floor and amplitude, and from those that fit best at that k
                # (linear in them: the start grid's closed form): with k held the log-scale
                # fit of two nearly collinear terms can creep too
                closed_form = eng.start_from_grid(sub[0], sub[2], sub[3], k_grid=(math.exp(bound),))
                for start in (fit.theta[:, cand], closed_form):
                    held = _held_fit(start, sub, 0, np.full(cand.size, bound), sigma, compiled)
                    same = (held.q <= fit.q[cand] + _IDENTIFIED_TOL) & (log_k == fit.theta[0, cand])
                    log_k[same] = bound
            fit.theta[0, cand] = log_k
        fits.append(fit)
    return fits


def _refit_from_every_start(fit: eng.MapFit, cols: np.ndarray, fs: _FitSet, prior: eng.Prior, sigma: float,
                            compiled: bool) -> None:
    """Patients ``cols`` of ``fit`` fitted again from every k of the start grid (floor and
    amplitude in closed form), in one call: each takes its best converged fit where that is
    lower than its own (in place)."""
    g, n = len(eng.K_GRID), cols.size
    series = fs.series.take(cols)
    starts = np.hstack([eng.start_from_grid(series, fs.lower[:, cols], fs.upper[:, cols], k_grid=(k,))
                        for k in eng.K_GRID])
    every = np.tile(cols, g)
    other = eng.fit_map(fs.series.take(every), prior.take(every), fs.lower[:, every], fs.upper[:, every], starts,
                        sigma, compiled=compiled, max_iter=PER_PATIENT_MAX_ITER, tol_decrement=_FIT_TOL)
    q = np.where(other.converged, other.q, np.inf).reshape(g, n)
    best = np.argmin(q, axis=0) * n + np.arange(n)     # the column of each patient's best start
    chosen = eng.MapFit(other.theta[:, best], other.cov[:, best], other.jtj[:, best], other.rss[best],
                        other.n_active[best], other.converged[best], other.n_iter, other.q[best])
    _replace(fit, cols, chosen, chosen.converged & (chosen.q < fit.q[cols] - _FIT_TOL))


def _held_fit(theta: np.ndarray, sub, param: int, at: np.ndarray, sigma: float, compiled: bool) -> eng.MapFit:
    """The fits of ``sub = (series, prior, lower, upper)`` with parameter ``param`` held at
    ``at`` (its bounds collapsed there), started from ``theta`` with that parameter set."""
    series, prior, lower, upper = sub
    lower, upper, init = lower.copy(), upper.copy(), theta.copy()
    lower[param] = upper[param] = init[param] = at
    return eng.fit_map(series, prior, lower, upper, init, sigma, compiled=compiled, max_iter=_CHECK_MAX_ITER,
                       tol_decrement=_FIT_TOL)


def _replace(fit: eng.MapFit, cols: np.ndarray, other: eng.MapFit, pick: np.ndarray) -> None:
    """Patients ``cols[pick]`` of ``fit`` take ``other``'s fit (``other`` fitted ``cols``), in place."""
    at = cols[pick]
    for name in ("theta", "cov", "jtj"):
        getattr(fit, name)[:, at] = getattr(other, name)[:, pick]
    for name in ("rss", "n_active", "converged", "q"):
        getattr(fit, name)[at] = getattr(other, name)[pick]


def _score(batch: _Batch, method: str, population: KineticsPopulation | None,
           s: KineticsSettings) -> dict[str, np.ndarray]:
    d = _describe(batch, s)
    status = d["status"]
    n = batch.n_patients
    for name in ("k", "log_k_se", "floor", "c0", "rmse_log"):
        d[name] = np.full(n, np.nan)
    ok = status == _OK
    if method == "loglinear":
        d["k"] = np.where(ok, -d["slope"], np.nan)
        d["log_k_se"] = np.where(ok, d["slope_se"] / d["k"], np.nan)
        d["c0"] = np.where(ok, np.exp(d["intercept"]), np.nan)
        d["rmse_log"] = np.where(ok, np.sqrt(d["loglinear_rss"] / d["n_samples"]), np.nan)
    else:
        sets = _prepare_fit(batch, status, d, method)
        if method == "population":
            compiled = eng.use_compiled(_n_fit(sets))
            fits = _fit_sets_population(sets, population._moments(), compiled=compiled)
            _run_on(sets, fits, population._moments(), compiled=compiled)
        else:
            fits = _fit_sets_per_patient(sets, s)
        d["converged"] = np.ones(n, dtype=bool)
        d["fit_iterations"] = np.full(n, PER_PATIENT_MAX_ITER if method == "per-patient"
                                      else POPULATION_MAX_ITER + POPULATION_MORE_ITER)
        for fs, f in zip(sets, fits):
            idx = fs.idx
            d["converged"][idx] = f.converged
            d["k"][idx] = np.exp(f.theta[0])
            d["floor"][idx] = np.exp(f.theta[1])
            d["c0"][idx] = np.exp(f.theta[1]) + np.exp(f.theta[2])
            with np.errstate(invalid="ignore"):
                d["log_k_se"][idx] = np.sqrt(np.where((f.cov[0] >= 0) & np.isfinite(f.cov[0]), f.cov[0], np.nan))
                d["rmse_log"][idx] = np.sqrt(f.rss / np.maximum(f.n_active, 1))
        _flag_unconverged(d)
        _flag_k_at_bound(d)
    d["k_se"] = d["k"] * d["log_k_se"]
    with np.errstate(divide="ignore"):
        d["half_life_days"] = math.log(2.0) / d["k"]
    d["kelim_score"] = d["k"] / s.k_ref
    return d


#: Iteration limit of the population-MAP fits (the EM's and, before they run on, the others).
POPULATION_MAX_ITER = eng.MAX_ITER
#: Further iterations given to a population-MAP fit that stopped at its limit
#: (:data:`POPULATION_MAX_ITER`, 100) still moving, when the population is given (scoring, and the
#: features after the population is learned; the EM's own fits keep the limit). 100 stopped
#: 1 of 100,000 registry patients (a fall from 1787 to 14 U/mL, then two samples "<5":
#: k 1 % short of its optimum, reported as ``not_converged`` with no k); it converges in
#: under 300. Only fits that reached the limit run on, so every other estimate is unchanged.
POPULATION_MORE_ITER = 1000


def _run_on(sets: list[_FitSet], fits: list[eng.MapFit], m: eng.Moments, *, compiled: bool) -> None:
    """Fits of ``fits`` that did not converge run on from where they stopped, for up to
    :data:`POPULATION_MORE_ITER` more iterations; each is replaced where it then converges
    no higher (in place). ``compiled``: the engine of the fits themselves (a few stuck fits
    of a large cohort must not fall back to the numpy engine, whose fixed cost per
    iteration makes 1,000 iterations of even one patient about 0.2 s)."""
    for fs, fit in zip(sets, fits):
        stuck = np.flatnonzero(~fit.converged)
        if not stuck.size:
            continue
        more = eng.fit_map(fs.series.take(stuck), _population_prior(m, fs).take(stuck), fs.lower[:, stuck],
                           fs.upper[:, stuck], fit.theta[:, stuck], m.sigma, warm_start=True,
                           max_iter=POPULATION_MORE_ITER, compiled=compiled)
        _replace(fit, stuck, more, more.converged & (more.q <= fit.q[stuck]))


def _flag_unconverged(d: dict[str, np.ndarray]) -> None:
    """Status ``not_converged`` (model columns NaN) where the fit stopped at its iteration
    limit while still moving: its k is no optimum, so it must not pass as ``ok``; the k
    where it stopped is kept in ``k_unconverged`` for the reason."""
    stuck = (d["status"] == _OK) & ~d["converged"]
    d["k_unconverged"] = np.where(stuck, d["k"], np.nan)
    if stuck.any():
        d["status"][stuck] = _NOT_CONVERGED
        for name in ("k", "log_k_se", "floor", "c0", "rmse_log"):
            d[name][stuck] = np.nan


def _flag_k_at_bound(d: dict[str, np.ndarray]) -> None:
    """Status ``k_at_bound`` (model columns NaN) where the fitted k sits on its box bound.

    A k pinned at ``K_BOUNDS`` is where the optimiser stopped, not an estimate (no CA-125
    decline has a half-life of 0.35 day or 19 years), so it must not pass as ``ok``; the
    pinned value is kept in ``k_pinned`` for the reason.
    """
    lo, hi = eng.K_BOUNDS
    k = d["k"]
    with np.errstate(invalid="ignore"):
        pinned = (d["status"] == _OK) & ((k <= lo * (1 + 1e-6)) | (k >= hi * (1 - 1e-6)))
    d["k_pinned"] = np.where(pinned, k, np.nan)
    if pinned.any():
        d["status"][pinned] = _K_AT_BOUND
        for name in ("k", "log_k_se", "floor", "c0", "rmse_log"):
            d[name][pinned] = np.nan


def _learn_population(batch: _Batch, s: KineticsSettings,
                      start_population: KineticsPopulation | None = None,
                      spec: MarkerSpec = CA125) -> KineticsPopulation:
    """EM of the population moments on ``batch`` (see :func:`fit_population`).

    ``start_population`` replaces the MixedLM start by that population's moments (a warm
    start). Either start is followed by the EM map on ``batch`` accelerated by SQUAREM
    (:func:`_em_squarem`): the fixed points and the convergence criterion of plain EM
    iterations, in about a third of their number.
    """
    d = _describe(batch, s)
    sets = _in_id_order(_prepare_fit(batch, d["status"], d, "population"), batch.ids)
    n_ok = _n_fit(sets)
    if n_ok < MIN_POPULATION_PATIENTS:
        raise InsufficientDataError(
            f"a population needs at least {MIN_POPULATION_PATIENTS} patients with status 'ok', "
            f"got {n_ok} of {batch.n_patients}; use method='per-patient' (command line --method per-patient), "
            "pass a fitted population= (a model's: --model), or fit the population on a larger cohort")
    if start_population is None:
        start = _mixedlm_start(sets)
        uln_med = float(np.median(np.exp(np.concatenate([fs.log_uln for fs in sets]))))
        moments = eng.Moments(
            mu_u=math.log(min(max(-start["slope"], 5 * eng.K_BOUNDS[0]), 0.5)),
            mu_v=math.log(0.2 * uln_med),
            sd_u=float(np.clip(start["sd_slope"] / abs(start["slope"]), 0.1, 1.5)),
            sd_v=0.5, corr=0.0, sigma=float(np.clip(start["sigma"], 0.02, 1.0)))
        start["method"] = "mixedlm"
    else:
        moments = start_population._moments()
        start = {"slope": math.nan, "sd_slope": math.nan, "sigma": start_population.sigma,
                 "converged": start_population.converged, "method": "population"}
    em = _EmStep(sets)
    moments, n_iter, converged = _em_squarem(em, moments)
    if not converged:
        warnings.warn(
            f"the population fit ({n_ok} patients) stopped at the EM's {_EM_MAX_ITER}-iteration limit "
            "without converging: its moments are still moving, so the population and the per-patient "
            "fits shrunk towards it are uncertain (its converged field is False). This happens when "
            "the series bound the floors only weakly (most end far above their floor); check "
            "sd_log_floor, or use method='per-patient'", DataQualityWarning, stacklevel=3)
    # the floors' lower bound (FLOOR_MIN_ULN x ULN), the median over the patients fitted
    lowest = float(np.median(np.concatenate([fs.lower[1] for fs in sets])))
    if moments.mu_v < lowest + _FLOOR_AT_BOUND_LOG:
        warnings.warn(
            f"the population's median floor ({math.exp(moments.mu_v):.3g}) is at the floors' lower bound "
            f"({eng.FLOOR_MIN_ULN:g} x ULN, {math.exp(lowest):.3g}): the series do not bound the floors (the samples "
            "that would, those near the floor, are missing or below the assay's limit), so the floor's distribution "
            "and the shrinkage towards it rest on the bound, not on the data, whether or not the EM converged; "
            "check median_floor and sd_log_floor, or use method='per-patient'", DataQualityWarning, stacklevel=3)
    _warn_boundary(moments, n_ok)
    n_samples = int(sum(fs.series.t.size for fs in sets))
    return KineticsPopulation(
        mu_log_k=moments.mu_u, sd_log_k=moments.sd_u, mu_log_floor=moments.mu_v,
        sd_log_floor=moments.sd_v, corr_log_k_floor=moments.corr, sigma=moments.sigma,
        n_patients=n_ok, n_samples=n_samples, settings=s, n_iter=n_iter, converged=converged,
        start_mean_slope=start["slope"], start_sd_slope=start["sd_slope"],
        start_sigma=start["sigma"], start_converged=start["converged"], start_method=start["method"],
        marker=spec.name)


def _in_id_order(sets: list[_FitSet], ids: pd.Index) -> list[_FitSet]:
    """``sets`` with the patients of each in the order of their identifiers (as text), each
    labelled by its rank there: the population learned from a cohort does not depend on the
    order of its rows (the MixedLM start's groups and seeded draw, and the EM's sums, follow
    the patients' order; in the input's order a shuffled frame moved k in its sixth digit).
    The canonical frame (sorted by ``patient_id``) is already in this order."""
    rank = np.empty(len(ids), dtype=np.int64)
    rank[np.argsort(np.asarray([str(p) for p in ids], dtype=object), kind="stable")] = np.arange(len(ids))
    out = []
    for fs in sets:
        order = np.argsort(rank[fs.idx], kind="stable")
        out.append(_FitSet(rank[fs.idx][order], fs.series.take(order), fs.y0[order], fs.log_uln[order],
                           fs.lower[:, order], fs.upper[:, order]))
    return out


class _EmStep:
    """One EM iteration as a map ``moments -> moments`` (E: every patient's MAP and Laplace
    covariance under the prior; M: :func:`eng.m_step`); each call's MAP fits start from the
    previous call's estimates, and from the sums over each patient's samples there.
    ``n_calls`` counts the iterations."""

    def __init__(self, sets: list[_FitSet]):
        self.sets = sets
        self.inits = None
        self.n_calls = 0
        # an EM takes some tens of iterations, each fitting every patient
        self.compiled = eng.use_compiled(_n_fit(sets) * _EM_TYPICAL_ITER)
        self.sums = [eng.sample_sums(fs.idx.size) for fs in sets] if self.compiled else None

    def __call__(self, m: eng.Moments) -> eng.Moments:
        fits = _fit_sets_population(self.sets, m, self.inits, compiled=self.compiled, sums=self.sums)
        self.inits = [f.theta for f in fits]
        self.n_calls += 1
        return eng.m_step(fits)[0]


def _warn_boundary(moments: eng.Moments, n_patients: int) -> None:
    """Warn when the population's moments sit on a bound of the M-step (a "singular" fit in
    mixed-model terms): the correlation of log k and log floor at +/- ``MAX_CORR``, or a
    population sd at its floor ``MIN_POP_SD``. The data then do not estimate that moment;
    the bound does, and the shrinkage of every patient towards the population rests on it."""
    bounds = []
    if abs(moments.corr) >= eng.MAX_CORR * (1 - 1e-9):
        bounds.append(f"corr_log_k_floor {moments.corr:+.2f} (its limit +/-{eng.MAX_CORR:g}: the series do not "
                      "separate a patient's k from its floor)")
    for name, sd in (("sd_log_k", moments.sd_u), ("sd_log_floor", moments.sd_v)):
        if sd <= eng.MIN_POP_SD * (1 + 1e-9):
            bounds.append(f"{name} {sd:.3g} (its floor: no spread between patients is estimated)")
    if bounds:
        warnings.warn(
            f"the population fit ({n_patients} patients) is on a boundary: {'; '.join(bounds)}. The bound, not the "
            "data, sets that moment, and the per-patient fits shrunk towards the population rest on it (a singular "
            "fit, in mixed-model terms; common with few patients or short series): fit the population on a larger "
            "cohort, pass a fitted population= (a model's: --model), or use method='per-patient'",
            DataQualityWarning, stacklevel=4)


def _moments_from_vector(x: np.ndarray) -> eng.Moments:
    """Inverse of ``Moments.as_vector``, clipped to the floors of the M-step and, so that a
    wild extrapolation stays finite, to ``k`` within its box, ``|log floor| <= 20`` and sds
    ``<= 10``."""
    lo = np.array([math.log(eng.K_BOUNDS[0]), -20.0, math.log(eng.MIN_POP_SD), math.log(eng.MIN_POP_SD),
                   -eng.MAX_CORR, math.log(eng.MIN_SIGMA)])
    hi = np.array([math.log(eng.K_BOUNDS[1]), 20.0, math.log(10.0), math.log(10.0), eng.MAX_CORR, math.log(10.0)])
    mu_u, mu_v, log_sd_u, log_sd_v, corr, log_sigma = (float(v) for v in np.clip(x, lo, hi))
    return eng.Moments(mu_u, mu_v, math.exp(log_sd_u), math.exp(log_sd_v), corr, math.exp(log_sigma))


#: A SQUAREM jump is discarded when the EM step taken from it is this many times longer
#: than the step that started its cycle (see :func:`_em_squarem`).
_SQUAREM_GROWTH = 10.0


def _em_squarem(em: _EmStep, moments: eng.Moments) -> tuple[eng.Moments, int, bool]:
    """The same EM, accelerated by SQUAREM (Varadhan and Roland 2008, step length S3).

    Each cycle takes two EM iterations from ``x`` (``x1 = F(x)``, ``x2 = F(x1)``;
    ``r = x1 - x``, ``v = x2 - x1 - r``) and jumps to ``x - 2 a r + a^2 v`` with
    ``a = -|r| / |v|`` in ``[-step_max, -1]`` (``a = -1`` is ``x2``, plain EM; ``step_max``
    starts at 1 and grows x4 whenever it binds, as in the authors' ``SQUAREM`` package).
    The fixed points are those of plain EM, and so is the stopping criterion, asked of two
    consecutive EM iterations (``x1 - x`` and ``x2 - x1`` both below ``_EM_TOL``; returns
    ``x2``), since right after a jump a single short step can be luck. Safeguard (there is no likelihood to check): a jump whose next EM iteration
    moves more than ``_SQUAREM_GROWTH`` times as far as the cycle's first one did has left
    the region where EM contracts; it is discarded for ``x2`` and ``step_max`` falls back
    to 1 (after a good jump the step may grow a little: up to 2.5 x was seen on simulated
    bootstrap resamples). ``n_iter`` counts EM iterations (map evaluations).

    Varadhan R, Roland C. Simple and globally convergent methods for accelerating the
    convergence of any EM algorithm. Scand J Stat 2008;35:335-353.
    """
    x = moments.as_vector()
    step_max = 1.0
    fallback = None                       # (x2, |r|) of the last cycle, while its jump is on trial
    last = moments                        # the latest EM iteration's result
    while em.n_calls < _EM_MAX_ITER:
        m = _moments_from_vector(x)
        m1 = last = em(m)
        r = m1.as_vector() - m.as_vector()
        if fallback is not None and np.linalg.norm(r) > _SQUAREM_GROWTH * fallback[1]:
            x, fallback, step_max = fallback[0], None, 1.0
            continue
        if em.n_calls >= _EM_MAX_ITER:
            return m1, em.n_calls, False
        m2 = last = em(m1)
        d2 = m2.as_vector() - m1.as_vector()
        if max(np.max(np.abs(r)), np.max(np.abs(d2))) < _EM_TOL:
            return m2, em.n_calls, True
        v = d2 - r
        norm_v = float(np.linalg.norm(v))
        alpha = -float(np.linalg.norm(r)) / norm_v if norm_v > 0 else -1.0
        alpha = min(-1.0, max(alpha, -step_max))
        if alpha == -step_max:
            step_max *= 4.0
        jump = m.as_vector() - 2.0 * alpha * r + alpha ** 2 * v
        x2 = m2.as_vector()
        if alpha == -1.0 or not np.all(np.isfinite(jump)):
            x, fallback = x2, None
        else:
            x, fallback = jump, (x2, float(np.linalg.norm(r)))
    return last, em.n_calls, False


def _mixedlm_start(sets: list[_FitSet]) -> dict[str, float]:
    """MixedLM ``log C ~ t`` (random intercept and slope) on decline-phase samples.

    Decline phase: uncensored samples above the ULN (the floor, at most about the ULN,
    bends the curve least there), of at most :data:`MIXEDLM_MAX_PATIENTS` patients drawn
    with a fixed seed. Falls back to the median and MAD of log-linear slopes if MixedLM
    cannot fit.
    """
    rng = np.random.default_rng(0)
    ts, ys, gs, slopes = [], [], [], []
    take_p = min(1.0, MIXEDLM_MAX_PATIENTS / sum(fs.idx.size for fs in sets))
    for fs in sets:
        pick = np.flatnonzero(rng.random(fs.idx.size) < take_p)
        sub = fs.series.take(pick)
        slopes.append(eng.loglinear(sub)[0])
        keep = sub.y > fs.log_uln[pick]
        if sub.cens is not None:
            keep &= ~sub.cens
        j, i = np.nonzero(keep)
        ts.append(sub.t[j, i])
        ys.append(sub.y[j, i])
        gs.append(fs.idx[pick][i])
    t, y, g = np.concatenate(ts), np.concatenate(ys), np.concatenate(gs)
    start = {"slope": math.nan, "sd_slope": math.nan, "sigma": math.nan, "converged": False}
    if np.unique(g).size >= MIN_POPULATION_PATIENTS and np.ptp(t) > 0:
        start = eng.mixedlm_start(t, y, g)
    if not (start["slope"] < 0 and np.isfinite(start["sd_slope"]) and np.isfinite(start["sigma"])):
        sl = np.concatenate(slopes)
        sl = sl[np.isfinite(sl)]
        med = float(np.median(sl))
        start = {"slope": min(med, -1e-3), "sd_slope": 1.4826 * float(np.median(np.abs(sl - med))),
                 "sigma": 0.1, "converged": False}
    return start


# =========================================================================== public functions

def fit_population(markers: pd.DataFrame, *, settings: KineticsSettings | None = None,
                   marker: str | MarkerSpec | None = None) -> KineticsPopulation:
    """Learn the population distribution of the floor model (empirical Bayes).

    Parameters
    ----------
    markers : pandas.DataFrame
        Canonical long markers frame (:func:`ca125kinetics.read_markers`) or the wide form
        of :func:`series_to_wide`.
    settings : KineticsSettings, optional
        Windows, minimum samples, exclusions (default ``KineticsSettings()`` with the
        marker's default ULN).
    marker : str or MarkerSpec, optional
        The marker of ``markers`` (``"ca125"`` by default, ``"cea"``); see the module
        docstring. The population records it.

    Returns
    -------
    KineticsPopulation

    Notes
    -----
    Only patients with status ``ok`` (see the module docstring) contribute, taken in the order
    of their identifiers whatever the order of the rows: the same cohort shuffled, or with
    another index, gives the same population to the last bit.

    1. Start: statsmodels ``MixedLM`` of ``log C ~ t`` with random intercept and slope on
       decline-phase samples (above the ULN) of up to 100 patients (seeded): mean slope
       ``b`` and random-slope sd ``s_b`` give ``mu_log k = log(-b)``,
       ``sd_log k = s_b / |b|`` (delta method); floor start ``0.2 x ULN``.
    2. EM with Laplace posteriors: every patient's MAP ``theta_i`` and covariance ``V_i``
       under the current prior (vectorised Levenberg-Marquardt), then
       ``mu = mean(theta_i)``, ``Sigma = mean((theta_i - mu)(theta_i - mu)' + V_i)``,
       ``sigma^2 = sum(RSS_i + tr(V_i J_i'J_i)) / n_samples``; until two consecutive
       iterations change the moments by less than 1e-5 (at most 300 iterations;
       ``converged`` records which). The iterations are accelerated by SQUAREM (Varadhan
       and Roland, Scand J Stat 2008;35:335-353): the fixed point of the plain EM, in about
       a third of its iterations (about 18 instead of 50).

    Raises
    ------
    InsufficientDataError
        Fewer than 10 patients with status ``ok``.
    InvalidInputError
        Markers that break the data contract.
    """
    spec = get_marker(marker)
    s = _settings(settings, spec)
    return _learn_population(_to_batch(markers, s, spec), s, spec=spec)


def fit_kinetics(markers: pd.DataFrame, *, method: str = "population",
                 population: KineticsPopulation | None = None,
                 settings: KineticsSettings | None = None,
                 marker: str | MarkerSpec | None = None) -> pd.DataFrame:
    """KELIM-like elimination rate and descriptors of every patient: one row per patient.

    Parameters
    ----------
    markers : pandas.DataFrame
        Canonical long markers frame (:func:`ca125kinetics.read_markers`; unsorted rows are
        sorted by day) or the wide form of :func:`series_to_wide`.
    method : {"population", "per-patient", "loglinear"}
        See the module docstring. ``"population"`` learns the population from ``markers``
        (:func:`fit_population`) unless ``population`` is given.
    population : KineticsPopulation, optional
        A fitted population to score with (method ``"population"`` only).
    settings : KineticsSettings, optional
        Defaults to ``population.settings`` when a population is given, else
        ``KineticsSettings()`` with the marker's default ULN.
    marker : str or MarkerSpec, optional
        The marker of ``markers``: ``"ca125"`` (default, or the population's marker when a
        population is given) or ``"cea"``; see the module docstring. A population learned
        on another marker is refused. Units below (U/mL) are the marker's unit.

    Returns
    -------
    pandas.DataFrame
        One row per patient, in order of first appearance in ``markers`` (sorted by
        ``patient_id`` for the canonical frame), with the columns :data:`OUTPUT_COLUMNS`:

        ``patient_id``, ``method``; ``status`` (one of :data:`STATUSES`) and ``reason``
        (human-readable); ``n_samples`` used, ``n_excluded`` (event windows),
        ``n_outside_window``; ``uln`` (the baseline sample's ULN, U/mL);
        ``k`` (per day), ``k_se`` (``k * log_k_se``), ``log_k_se`` (sd of log k: Laplace
        posterior for the floor model, OLS for ``loglinear``; a 95 % interval is
        ``k * exp(+/- 1.96 log_k_se)``, for ``per-patient`` only where the residual sd of
        log C is ``settings.residual_sd_log``), ``half_life_days`` (``ln 2 / k``),
        ``kelim_score`` (``k / settings.k_ref``), ``floor`` and ``c0`` (U/mL; ``floor`` NaN
        for ``loglinear``), ``rmse_log`` (residual sd of log C);
        ``baseline_value``/``baseline_day`` (latest used sample in days
        ``-pretreatment_window_days..0``), ``nadir``/``nadir_day`` (lowest used value from the
        baseline on, earliest if tied, baseline included; an earlier pretreatment sample is not
        a nadir), ``time_to_normalisation_days`` (first
        on-treatment day with a value at or below *its own* ULN, the ``uln`` of its row, so
        that after a change of assay the new range applies; NaN if never) and
        ``time_to_normalisation_uln`` (that sample's ULN, the one the day was read by:
        ``uln`` is the baseline sample's),
        ``pct_decline_c{2,3,4}`` = ``100 (1 - C / baseline)`` at the sample before cycle
        2, 3, 4 (the latest within ``+/- cycle_window_days`` of day ``21, 42, 63``) and
        ``pct_decline_c{2,3,4}_day``. Censored values enter descriptors at their limit, a
        bound rather than a measurement, and the flags :data:`CENSORED_FLAG_COLUMNS` say where
        one did: ``baseline_censored`` (the baseline is ``"<x"``); ``nadir_censored`` (a
        ``"<x"`` from the baseline on, the nadir sample's or another's, whose true value may
        lie below the reported nadir: the nadir is an upper bound, its day uncertain);
        ``time_to_normalisation_censored`` (an on-treatment ``"<x"`` with ``x`` above its ULN
        before the day reported, or at all when none is reported: it may have been normal
        already, so the day is an upper bound, or NaN means undetermined rather than never);
        ``pct_decline_c{2,3,4}_censored`` (the visit's sample or the baseline is ``"<x"``: a
        lower bound of the decline, an upper bound, or with both neither). The flags are
        output only: no model reads them.

        ``k`` and the model columns are NaN unless ``status == "ok"``; descriptors are NaN
        for ``invalid_input``.

    Examples
    --------
    >>> from ca125kinetics.synth import simulate_cohort
    >>> res = fit_kinetics(simulate_cohort(200, seed=1).markers)
    >>> sorted(res["status"].unique())[:2]
    ['at_floor', 'insufficient_samples']
    """
    _check_method(method, population)
    spec = _population_marker(population, marker)
    if settings is None and population is not None:
        settings = population.settings
    s = _settings(settings, spec)
    batch = _to_batch(markers, s, spec)
    if method == "population" and population is None:
        population = _learn_population(batch, s, spec=spec)
    d = _score(batch, method, population, s)
    status = d["status"]
    n = batch.n_patients
    # a few distinct texts repeated over the rows: built from the texts, not row by row
    reasons, reason_code = _reasons(status, d, batch, s, method, spec)
    columns = {
        "patient_id": batch.ids.to_numpy(dtype=object),
        "method": constant_text(method, n),
        "status": coded_text(STATUSES, status),
        "reason": coded_text(reasons, reason_code),
        "n_samples": d["n_samples"],
        "n_excluded": batch.n_excluded.astype(np.int64),
        "n_outside_window": batch.n_outside.astype(np.int64),
        "uln": batch.uln,
    }
    for name in OUTPUT_COLUMNS[len(columns):]:
        columns[name] = d[name]
    return pd.DataFrame(columns, columns=list(OUTPUT_COLUMNS))


def _check_method(method, population) -> None:
    """Refuse an unknown ``method``, a ``population`` that is not a :class:`KineticsPopulation`,
    and a population given with another method (the checks of :func:`fit_kinetics`, which
    ``ca125kinetics.spark.fit_kinetics`` makes first too)."""
    if method not in METHODS:
        raise InvalidInputError(f"method must be one of {METHODS}, got {method!r}")
    if population is not None and not isinstance(population, KineticsPopulation):
        raise InvalidInputError(f"population must be a KineticsPopulation, got {type(population).__name__}")
    if population is not None and method != "population":
        raise InvalidInputError(f"population= is only used by method='population', not {method!r}")


def _population_marker(population: KineticsPopulation | None, marker) -> MarkerSpec:
    """The marker to score: ``marker``, else the population's; they must agree."""
    if marker is None and population is not None:
        return get_marker(population.marker)
    spec = get_marker(marker)
    if population is not None and population.marker != spec.name:
        raise InvalidInputError(
            f"the population was learned on {population.marker!r}, not {spec.name!r}; score "
            f"{spec.label} with a population learned on {spec.label} (fit_population(..., "
            f"marker={spec.name!r}))")
    return spec


def series_to_wide(markers: pd.DataFrame, *, settings: KineticsSettings | None = None,
                   marker: str | MarkerSpec | None = None) -> pd.DataFrame:
    """One row per patient with the used samples side by side (the form cross-validation splits).

    Parameters
    ----------
    markers : pandas.DataFrame
        Canonical long markers frame.
    settings : KineticsSettings, optional
        The window and event exclusions applied.
    marker : str or MarkerSpec, optional
        The marker (default ``"ca125"``); it names the value columns of both forms.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``patient_id`` (order of first appearance in ``markers``); columns
        ``day_1..day_m``, ``ca125_1..ca125_m`` (``cea_1..`` for CEA), ``censored_1..censored_m`` (float;
        censored 1.0/0.0), ``uln_1..uln_m`` (each sample's own ULN) holding the *used* samples
        sorted by day and NaN-padded
        (``m`` = the largest number of used samples), then ``uln`` (the patient's ULN: the
        baseline sample's), ``last_uln`` (the last used sample's, which differs after a
        change of assay or laboratory), ``n_excluded`` (samples excluded by event windows), ``n_outside_window`` and
        ``problem`` (None or why the patient's input is invalid). Every patient keeps a
        row, with no samples if none is usable.
    """
    spec = get_marker(marker)
    s = _settings(settings, spec)
    if not isinstance(markers, pd.DataFrame):
        raise InvalidInputError("series_to_wide needs the long markers frame (patient_id, day, ca125, ...)")
    markers = _engine_frame(markers, spec)
    if _is_wide(markers):
        raise InvalidInputError("series_to_wide needs the long markers frame (patient_id, day, ca125, ...)")
    batch = _batch_from_long(markers, s, spec)
    n = batch.n_patients
    m = max((b.day.shape[0] for b in batch.buckets), default=0)
    day = np.full((n, m), np.nan)
    value = np.full((n, m), np.nan)
    cens = np.full((n, m), np.nan)
    uln = np.full((n, m), np.nan)
    for b in batch.buckets:
        mb = b.day.shape[0]
        day[b.idx, :mb] = b.day.T
        value[b.idx, :mb] = b.value.T
        cens[b.idx, :mb] = b.cens.T
        uln[b.idx, :mb] = b.uln.T
    data = {}
    for name, arr in (("day", day), (spec.name, value), ("censored", cens), ("uln", uln)):
        for j in range(m):
            data[f"{name}_{j + 1}"] = arr[:, j]
    data.update({"uln": batch.uln, "last_uln": batch.last_uln, "n_excluded": batch.n_excluded.astype(np.int64),
                 "n_outside_window": batch.n_outside.astype(np.int64), "problem": batch.problem})
    return pd.DataFrame(data, index=batch.ids)


def wide_to_long(wide: pd.DataFrame, *, marker: str | MarkerSpec | None = None) -> pd.DataFrame:
    """Inverse of :func:`series_to_wide`: the canonical long frame of the used samples.

    A patient without samples keeps one row (day 0, ca125 NaN, with its ``problem``), as
    ``read_markers(on_error="flag")`` does; ``n_excluded`` counts are not carried over. Every
    row has its sample's ULN (``uln_j``; a wide frame without those columns gives every row
    the patient's ``uln`` but the last sample, which has ``last_uln``).
    ``marker`` (default ``"ca125"``) names the value columns.
    """
    spec = get_marker(marker)
    if not isinstance(wide, pd.DataFrame):
        raise InvalidInputError("wide_to_long needs the wide form of series_to_wide (day_1.., ca125_1..)")
    wide = _engine_frame(wide, spec)
    if not _is_wide(wide):
        raise InvalidInputError("wide_to_long needs the wide form of series_to_wide (day_1.., ca125_1..)")
    batch = _batch_from_wide(wide, KineticsSettings(window_days=10**6, pretreatment_window_days=10**6), spec)
    n = batch.n_patients
    pid, day, value, cens, ulns = [], [], [], [], []
    for b in batch.buckets:
        pid.append(np.repeat(b.idx, b.day.shape[0]))
        day.append(b.day.T.ravel())
        value.append(b.value.T.ravel())
        cens.append(b.cens.T.ravel())
        ulns.append(b.uln.T.ravel())
    counts = np.bincount(np.concatenate(pid), minlength=n) if pid else np.zeros(n, dtype=np.int64)
    empty = np.flatnonzero(counts == 0)
    pid.append(empty)
    day.append(np.zeros(empty.size))
    value.append(np.full(empty.size, np.nan))
    cens.append(np.zeros(empty.size, dtype=bool))
    ulns.append(batch.uln[empty])
    p, dd = np.concatenate(pid), np.concatenate(day)
    order = np.lexsort((dd, p))
    p = p[order]
    uln = np.concatenate(ulns)[order]
    return pd.DataFrame({
        "patient_id": batch.ids.to_numpy(dtype=object)[p],
        "day": dd[order].astype(np.int64),
        spec.name: np.concatenate(value)[order],
        "censored": np.concatenate(cens)[order].astype(bool),
        "uln": uln,
        "assay": np.full(p.size, None, dtype=object),
        "event": np.full(p.size, None, dtype=object),
        "problem": batch.problem[p],
    })


def _features(d: dict[str, np.ndarray]) -> np.ndarray:
    """The :data:`FEATURE_NAMES` as one ``(n_features, n_patients)`` block."""
    block = np.empty((len(FEATURE_NAMES), d["k"].size))
    with np.errstate(divide="ignore", invalid="ignore"):
        for row, name in enumerate(FEATURE_NAMES):
            if name in ("log_k", "log_floor"):
                np.log(d[name[4:]], out=block[row])
            elif name in ("log_baseline", "log_nadir"):
                np.log(d["baseline_value" if name == "log_baseline" else "nadir"], out=block[row])
            elif name == "kinetics_ok":
                block[row] = d["status"] == _OK
            else:
                block[row] = d[name]
    return block


def __getattr__(name: str):
    # PEP 562: KineticsFeatures subclasses scikit-learn's estimators, so it lives in its own
    # module, imported on first use; scoring with a fitted population never imports
    # scikit-learn. Pickles name it ``ca125kinetics.kinetics.KineticsFeatures``.
    if name == "KineticsFeatures":
        from ._kinetics_features import KineticsFeatures

        globals()[name] = KineticsFeatures
        return KineticsFeatures
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
