"""Rule settings: one frozen, JSON-serialisable dataclass per rule set.

A settings object is logged with every training run and shipped inside every saved model,
so that a prediction can always say which rules produced it. Every **Decision** of
``docs/clinical-rules.md`` that a study may want to change is a named field here.

Provenance of output tables (**Decision**)
    Every table the ``ca125`` commands write or print as CSV/JSON/Parquet (GCIG, kinetics,
    scores and predictions, validation predictions) ends with two columns, added by
    :func:`with_provenance`: ``rules``, the compact JSON of the rule settings that produced
    it (``{"gcig": {...}, "kinetics": {...}, ...}``, keys sorted, the same on every row), and
    ``package_version``, the ca125kinetics version. Columns rather than a sidecar file, so
    that the record survives copying, concatenating and converting the table. The Python
    functions (``gcig_cohort``, ``fit_kinetics``, ``predict_cohort``, ...) return their
    documented columns only; call :func:`with_provenance` to stamp their tables the same way.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar

from .errors import InvalidInputError, argument_name
from .markers import CA125

__all__ = ["GcigSettings", "KineticsSettings", "ResponseSettings", "DEFAULT_ULN", "PROGRESSION_CONFIRMATIONS", "KELIM_FAVOURABLE_SCORE",
           "KELIM_CUTOFFS", "kelim_cutoff", "with_provenance", "PROVENANCE_COLUMNS", "EVENT_KINDS", "INTERFERENCE_EVENTS", "HAMA_EVENT",
           "event_kind",
           "AGGREGATIONS"]

#: The two columns :func:`with_provenance` appends.
PROVENANCE_COLUMNS = ("rules", "package_version")

#: The MLflow store the package tracks and registers in when no tracking URI is given
#: (``sqlite:///mlflow.db``, in the working directory): ``ca125 train`` writes it and
#: ``models:/NAME@ALIAS`` is read from it.
TRACKING_DB = "mlflow.db"

#: Default assay upper limit of normal for CA-125, U/mL (GCIG; stated once in markers.py).
DEFAULT_ULN = CA125.default_uln

#: KELIM cut-offs by treatment setting, named (**Decision**: a parameter per setting, as
#: cut-offs found in one setting do not carry to another): ``first_line`` 1.0, the published
#: KELIM cut-off of first-line chemotherapy; ``relapse`` 1.08, found after 3 cycles at first
#: platinum-sensitive recurrence for a platinum-free interval of 12 months or more (IJGC 2023;
#: 33 Suppl 4: A179.2; 96 patients). Both were found for the published KELIM; the package's
#: score is its own open KELIM-like score (``k / k_ref``), so either is a convention to state.
KELIM_CUTOFFS = MappingProxyType({"first_line": 1.0, "relapse": 1.08})

#: A standardized KELIM-like score ``k / k_ref`` at or above this value is called
#: "favourable", below it "unfavourable": the ``first_line`` cut-off of
#: :data:`KELIM_CUTOFFS`, the default wherever a cut-off is used (the web page, ``ca125
#: kinetics``, the validation study's KELIM-like groups; the last two take another,
#: :func:`kelim_cutoff`). docs/clinical-rules.md section 4.
KELIM_FAVOURABLE_SCORE = KELIM_CUTOFFS["first_line"]


def kelim_cutoff(value=None) -> float:
    """The KELIM-like cut-off ``value`` names: None (:data:`KELIM_FAVOURABLE_SCORE`), a setting
    of :data:`KELIM_CUTOFFS` (``"relapse"``), or a positive number (a number written as text,
    as a command line gives it, too). Anything else is refused with an
    :class:`InvalidInputError` listing the settings."""
    if value is None:
        return KELIM_FAVOURABLE_SCORE
    if isinstance(value, str) and value.strip() in KELIM_CUTOFFS:
        return KELIM_CUTOFFS[value.strip()]
    number = value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    if (isinstance(number, bool) or not isinstance(number, numbers.Real) or not math.isfinite(number)
            or number <= 0):
        raise InvalidInputError(f"KELIM cut-off {value!r}: give a setting ({', '.join(KELIM_CUTOFFS)}) or a "
                                "positive number (the standardized score k / k_ref at or above which it is "
                                "favourable)")
    return float(number)

#: Procedures that interfere with CA-125 (GCIG): samples within the interference window after
#: them are excluded.
INTERFERENCE_EVENTS = ("paracentesis", "thoracentesis", "surgery")
#: Mouse antibody administration: every later sample is excluded (HAMA).
HAMA_EVENT = "mouse_antibody"
#: Every event kind of the markers table's ``event`` column.
EVENT_KINDS = INTERFERENCE_EVENTS + (HAMA_EVENT,)


def event_kind(text):
    """An event as the kinds are written (an ``event`` cell, a kind given with ``--event-code``
    or to the GCIG functions): trimmed, lower case, underscores (``" Mouse antibody "`` ->
    ``mouse_antibody``); anything but text unchanged."""
    return text.strip().lower().replace(" ", "_") if isinstance(text, str) else text

#: RECIST 1.1 response categories, in the order of the combined RECIST + CA-125 category
#: (Rustin 2011): the ``recist`` column's codes, read by the GCIG rules and the readers.
RECIST_CATEGORIES = ("CR", "PR", "SD", "PD")

#: How a GCIG progression candidate is confirmed (``GcigSettings.progression_confirmation``),
#: in the order of the rule kernel's codes (``_gcig_kernel.PC_*``).
PROGRESSION_CONFIRMATIONS = ("sustained", "any")

#: Which falls a GCIG response is assessed from (``GcigSettings.response_fall``), in the order
#: of the rule kernel's codes (``_gcig_kernel.RF_*``).
RESPONSE_FALLS = ("first", "restart")

#: Explicit aggregations of two samples of one patient on one day.
AGGREGATIONS = ("mean", "median", "max", "min", "first", "last")
_DUPLICATE_CHOICES = ("error", *AGGREGATIONS)


def _added_later(default):
    """A settings field added after settings were first saved (models, outputs): recorded by
    ``to_dict`` only when it is not ``default`` (see :meth:`_SettingsMixin.to_dict`)."""
    return dataclasses.field(default=default, metadata={"added_later": True})


class _SettingsMixin:
    """Serialisation shared by all settings classes."""

    kind: ClassVar[str] = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of every field (JSON-ready), except a field added after settings were
        first saved (marked :func:`_added_later`) while it holds its default: absent, it reads
        back as that default (:meth:`from_dict`), the rule every earlier record was made
        under, so a saved model's record, its version (a digest of its settings) and the
        ``settings_json`` of every earlier output stay what they were."""
        record = dataclasses.asdict(self)  # type: ignore[arg-type]
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            if f.metadata.get("added_later") and record[f.name] == f.default:
                del record[f.name]
        return record

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind, **self.to_dict()}, sort_keys=True)

    def to_params(self, prefix: str | None = None) -> dict[str, str]:
        """Flat ``{prefix.field: str(value)}`` mapping of every field, e.g. for MLflow params
        (a field added later too, at its default: a run can be searched by it)."""
        prefix = self.kind if prefix is None else prefix
        return {f"{prefix}.{k}": str(v) for k, v in dataclasses.asdict(self).items()}  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        data = {k: v for k, v in dict(data).items() if k != "kind"}
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - names)
        if unknown:
            raise InvalidInputError(
                f"unknown {cls.__name__} field(s) {unknown}; valid fields are {sorted(names)}"
            )
        return cls(**data)

    @classmethod
    def from_json(cls, text: str):
        return cls.from_dict(json.loads(text))

    def replace(self, **changes):
        """A copy with some fields changed (the object itself is immutable)."""
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


def with_provenance(frame, *settings, **extra):
    """A copy of ``frame`` with the ``rules`` and ``package_version`` columns appended.

    Parameters
    ----------
    frame : pandas.DataFrame
        An output table.
    *settings : GcigSettings, KineticsSettings, ScoreSettings, ...
        The rule settings used; each goes under its ``kind`` (``"gcig"``, ``"kinetics"``,
        ``"scores"``).
    **extra
        Other JSON-ready values that decided the result (e.g. ``model="name 1.0"``,
        ``threshold=0.7``, ``method="population"``), under their own names.

    Returns
    -------
    pandas.DataFrame
        ``frame`` with ``rules`` (compact JSON, keys sorted) and ``package_version`` last.
        Existing columns of those names are replaced (a re-stamped table says what stamped
        it last).
    """
    from . import __version__
    from ._columns import constant_text

    rules = {s.kind: s.to_dict() for s in settings}
    if len(rules) != len(settings):
        raise InvalidInputError("with_provenance: two settings objects of the same kind")
    rules.update(extra)
    out = frame.drop(columns=[c for c in PROVENANCE_COLUMNS if c in frame.columns])
    text = json.dumps(rules, sort_keys=True, separators=(",", ":"), default=str)
    out = out.assign(rules=constant_text(text, len(out)), package_version=constant_text(__version__, len(out)))
    return out


def _python_numbers(settings) -> None:
    """Every numpy number among the fields of ``settings`` as the Python number it is
    (``np.int64(100)``, as a frame's ``max()`` or a loop over an array gives it, is the integer
    100; ``np.float64`` a float), so that the settings compare, print and serialise as if
    written by hand. A single-precision number (``np.float32(1.1)`` is 1.10000002...) is left
    as it is, for the checks to refuse with the reason."""
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if type(value) in (int, float, bool) or not isinstance(value, numbers.Real) or _single(value):
            continue
        if isinstance(value, numbers.Integral):
            object.__setattr__(settings, f.name, int(value))
        elif getattr(value, "dtype", None) is not None and value.dtype.kind == "f":
            object.__setattr__(settings, f.name, float(value))


def _single(value) -> bool:
    """Whether ``value`` is a numpy single- or half-precision number."""
    dtype = getattr(value, "dtype", None)
    return dtype is not None and dtype.kind == "f" and dtype.itemsize < 8


def _refuse_single(name: str, value, what: str | None = None) -> None:
    """Refuse a single-precision ``value`` of ``name`` (``what``: how the message names it, by
    default ``setting 'name'``), naming the Python float to give."""
    if _single(value):
        raise InvalidInputError(
            f"{what or f'setting {name!r}'} is a single-precision number ({value.dtype}: {float(value)!r}), not the "
            f"value written; give it as a Python float, e.g. {name}={float(str(value))!r}")


def check_uln_argument(uln, unit: str = CA125.unit, uln_max: float = CA125.uln_max,
                       uln_min: float = CA125.uln_min) -> None:
    """Refuse a ``uln=`` argument (None: not given) that is not a positive number of ``unit``
    from ``uln_min`` to ``uln_max`` (the marker's: :class:`~ca125kinetics.markers.MarkerSpec`),
    a flag, or single precision: the one rule of every reader that takes a ULN argument
    (tables, FHIR, OMOP, the simulators); the settings check their ULN by the same range
    (:meth:`~ca125kinetics.markers.MarkerSpec.plausible_uln`)."""
    if uln is None:
        return
    _refuse_single("uln", uln, what="uln")
    # a numpy number (np.int64(35), as a frame's column gives it) is the number it is
    if not (isinstance(uln, numbers.Real) and not isinstance(uln, bool) and type(uln).__name__ != "bool_"
            and math.isfinite(uln) and 0 < uln <= uln_max and uln >= uln_min):
        plausible = (f"from {uln_min:g} to {uln_max:g}, the assays' plausible limits: another marker's or "
                     "unit's ULN?" if uln_min > 0 else f"at most {uln_max:g}")
        raise InvalidInputError(f"{argument_name('uln')} must be a positive number of {unit} ({plausible}), "
                                f"got {uln!r}")


def _setting(name: str) -> str:
    """Setting ``name`` as a refusal names it: ``setting 'uln'`` in Python, the option that gives
    it on the command line (``--uln``; :func:`ca125kinetics.errors.argument_name`)."""
    return argument_name(name, f"setting {name!r}")


def _positive(name: str, value: float) -> None:
    _refuse_single(name, value)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        raise InvalidInputError(f"{_setting(name)} must be a positive finite number, got {value!r}")


@dataclass(frozen=True)
class GcigSettings(_SettingsMixin):
    """Settings of the GCIG CA-125 response and progression rules (Rustin 2011).

    Parameters
    ----------
    uln : float
        Assay upper limit of normal, U/mL. Default 35; some data sets use 30.
    evaluable_factor : float
        Baseline must be >= ``evaluable_factor * uln`` to be evaluable (GCIG: 2).
    baseline_window_days : int
        Baseline = latest sample with ``-baseline_window_days <= day <= 0`` (GCIG: within
        14 days before the first dose; **Decision**: the latest such sample).
    response_fraction : float
        Response = a value ``<= response_fraction * baseline``, a share below 1 (GCIG: 0.5, a
        50 % reduction).
    confirmation_days : int
        A confirming sample is drawn ``>= confirmation_days`` after the first fall (28).
    assay_tolerance : float
        Every sample from the fall to the confirmation must be ``<= assay_tolerance *``
        the previous sample (GCIG "10 % assay variability": 1.10), unless both are <= ULN.
    interference_window_days : int
        Samples with ``0 <= day - event_day <= interference_window_days`` after
        paracentesis, thoracentesis or surgery are excluded (**Decision**: a sample on the
        event day itself is excluded too, since its timing relative to the procedure is
        unknown).
    progression_factor : float
        Progression threshold multiplier (2 x ULN or 2 x nadir).
    progression_gap_days : int
        The two qualifying samples must be at least this many days apart (7).
    progression_confirmation : str
        Which later sample confirms a progression candidate (**Decision**): ``"sustained"``
        (default) the first sample drawn ``>= progression_gap_days`` later, which, with every
        sample in between, must be at/above the threshold; ``"any"`` (the literal reading of
        "two occasions at least 7 days apart") any later sample ``>= progression_gap_days``
        after the candidate at/above its threshold, whatever lies between.
    response_fall : str
        Which fall a response is assessed from (**Decision**): ``"first"`` (default; the
        strict reading of "every sample from the first fall up to the confirming one") the
        first sample at/below ``response_fraction`` of the baseline, and a fall broken before
        its confirmation (above that fraction, or a rise beyond ``assay_tolerance``) is not
        confirmed, whatever follows; ``"restart"`` a broken fall is followed by the next
        sample at/below the fraction after the one that broke it, assessed the same way (its
        own 28 days, its own date of response), and so on: the response reported is that of
        the last fall assessed, and the reason names the falls broken before it.
    duplicates : str
        What to do with two samples of one patient on the same day: ``"error"`` (default:
        a data error per the spec) or an explicit aggregation (``mean``, ``median``,
        ``max``, ``min``, ``first``, ``last``), done by the markers reader for every path: a
        censored value enters at its limit and the aggregate is censored when it is lower
        with the censored samples at 0; samples of two assays or ULNs on one day are refused
        (:func:`ca125kinetics.io.read_markers`).
    """

    kind: ClassVar[str] = "gcig"

    uln: float = DEFAULT_ULN
    evaluable_factor: float = 2.0
    baseline_window_days: int = 14
    response_fraction: float = 0.5
    confirmation_days: int = 28
    assay_tolerance: float = 1.10
    interference_window_days: int = 28
    progression_factor: float = 2.0
    progression_gap_days: int = 7
    duplicates: str = "error"
    progression_confirmation: str = _added_later("sustained")
    response_fall: str = _added_later("first")

    def __post_init__(self):
        _python_numbers(self)
        for name in ("uln", "evaluable_factor", "response_fraction", "assay_tolerance",
                     "progression_factor"):
            _positive(name, getattr(self, name))
        if not CA125.plausible_uln(self.uln):     # the GCIG rules are CA-125's
            raise InvalidInputError(f"{_setting('uln')} is {self.uln!r} {CA125.unit}, implausible for CA-125 (assays "
                                    f"use about 20-46; from {CA125.uln_min:g} to {CA125.uln_max:g} is accepted): "
                                    "check the value and its unit (another marker's ULN?)")
        if self.response_fraction >= 1:   # a response is a fall: 1 would be none, 2 a rise
            raise InvalidInputError(f"setting 'response_fraction' must be a share of the baseline below 1 (GCIG: "
                                    f"0.5, a fall to <= 50 %), got {self.response_fraction!r}")
        if self.progression_factor < 1:   # progression is a rise: below 1 x the nadir would be a fall
            raise InvalidInputError(f"setting 'progression_factor' must be at least 1 (GCIG: 2, a value at least "
                                    f"twice the ULN or the nadir), got {self.progression_factor!r}")
        if self.assay_tolerance < 1:      # a sample equal to the previous one is within any assay's variability
            raise InvalidInputError(f"setting 'assay_tolerance' must be at least 1 (GCIG: 1.10, a rise of up to "
                                    f"10 % is assay variability), got {self.assay_tolerance!r}")
        for name in ("baseline_window_days", "confirmation_days", "interference_window_days",
                     "progression_gap_days"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise InvalidInputError(f"{_setting(name)} must be a non-negative integer, got {value!r}")
        if self.duplicates not in _DUPLICATE_CHOICES:
            raise InvalidInputError(
                f"setting 'duplicates' must be one of {_DUPLICATE_CHOICES}, got {self.duplicates!r}"
            )
        confirmation = self.progression_confirmation
        if not isinstance(confirmation, str) or confirmation not in PROGRESSION_CONFIRMATIONS:
            raise InvalidInputError(
                f"setting 'progression_confirmation' must be one of {PROGRESSION_CONFIRMATIONS} ('sustained': the "
                "first sample at least progression_gap_days later and every sample in between at/above the "
                "threshold; 'any': any later sample at least progression_gap_days later at/above it), got "
                f"{self.progression_confirmation!r}")
        if not isinstance(self.response_fall, str) or self.response_fall not in RESPONSE_FALLS:
            raise InvalidInputError(
                f"setting 'response_fall' must be one of {RESPONSE_FALLS} ('first': a response is assessed from "
                "the first fall only, and a broken first fall is not confirmed; 'restart': the next fall after a "
                f"broken one is assessed anew), got {self.response_fall!r}")


@dataclass(frozen=True)
class KineticsSettings(_SettingsMixin):
    """Settings of the KELIM-like kinetics estimator (spec section 4).

    Parameters
    ----------
    window_days : int
        Only samples with ``day <= window_days`` are used (KELIM calculator: first 100 days).
    pretreatment_window_days : int
        Pretreatment samples with ``-pretreatment_window_days <= day <= 0`` enter the fit at
        t = 0 (no decline before the first dose); older ones are not used.
    min_samples : int
        Fewer usable samples than this -> status ``insufficient_samples`` (KELIM: 3).
    k_ref : float
        Standardized KELIM-like score = ``k / k_ref``. **Decision**: default 0.05 per day,
        to be recalibrated on a cohort by ``training/``; ``k_ref_source`` records which.
    k_ref_source : str
        Where ``k_ref`` comes from (free text, logged with every run).
    uln : float
        Upper limit of normal of a sample whose row states none (a row's own ``uln`` wins):
        time to normalisation reads every sample against its own ULN, the floor check the
        baseline sample's.
    cycle_days : int
        Cycle length for percent decline before cycles 2, 3, 4 (21-day cycles).
    cycle_window_days : int
        The sample before cycle c is the latest one within ``+/- cycle_window_days`` of
        day ``(c - 1) * cycle_days`` (**Decision**: the latest, the one nearest the next
        dose). Less than half of ``cycle_days``, so that no sample falls in two visits'
        windows (refused otherwise).
    interference_window_days : int
        Samples with ``0 <= day - event_day <= interference_window_days`` after a
        paracentesis, thoracentesis or surgery are excluded (and counted); every sample
        from a ``mouse_antibody`` event on is excluded too (GCIG; same convention as
        :class:`GcigSettings`).
    min_baseline_uln_factor : float
        **Decision**: a patient whose baseline is ``<= min_baseline_uln_factor * ULN`` (or
        reported as ``"<x"``) is ``at_floor``: there is no decline to estimate.
    residual_sd_log : float
        Log-scale residual sd assumed by the per-patient method for its standard errors
        (about the assay CV plus biological variation; the population method learns it).
    """

    kind: ClassVar[str] = "kinetics"

    window_days: int = 100
    pretreatment_window_days: int = 14
    min_samples: int = 3
    k_ref: float = 0.05
    k_ref_source: str = "package default (clinical-rules.md section 4 decision)"
    uln: float = DEFAULT_ULN
    cycle_days: int = 21
    cycle_window_days: int = 7
    interference_window_days: int = 28
    min_baseline_uln_factor: float = 1.0
    residual_sd_log: float = 0.1

    def __post_init__(self):
        _python_numbers(self)
        for name in ("k_ref", "uln", "min_baseline_uln_factor", "residual_sd_log"):
            _positive(name, getattr(self, name))
        for name in ("window_days", "pretreatment_window_days", "min_samples", "cycle_days",
                     "cycle_window_days", "interference_window_days"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise InvalidInputError(f"{_setting(name)} must be a non-negative integer, got {value!r}")
        if self.min_samples < 2:
            raise InvalidInputError("setting 'min_samples' must be at least 2 (a rate needs two values)")
        if self.cycle_days < 1:
            raise InvalidInputError(f"{_setting('cycle_days')} must be at least 1: it is the length of a treatment "
                                    "cycle (21 for three-weekly, 14 for two-weekly regimens)")
        if 2 * self.cycle_window_days >= self.cycle_days:
            # the windows of two visits, [(c - 1) D - w, (c - 1) D + w] and [c D - w, c D + w], meet
            # when 2 w >= D: one sample would be the sample before two cycles
            raise InvalidInputError(
                f"{_setting('cycle_window_days')} ({self.cycle_window_days}) must be less than half of "
                f"{_setting('cycle_days')} ({self.cycle_days}): the windows of two visits would meet, and one "
                f"sample would stand for both (at most {(self.cycle_days - 1) // 2} days for {self.cycle_days}-day "
                "cycles)")
        if self.window_days < 1:
            raise InvalidInputError("setting 'window_days' must be at least 1: the kinetics measure the CA-125 "
                                    "decline after the first dose (day 0), so a window ending on day 0 holds none")


@dataclass(frozen=True)
class ResponseSettings(_SettingsMixin):
    """Thresholds of the marker response features (:func:`ca125kinetics.response.response_features`).

    Which samples count (window, pretreatment window, event exclusions, minimum number of
    samples) is :class:`KineticsSettings`' business, not repeated here.

    Parameters
    ----------
    clearance_r2_threshold : float
        Exponential clearance = the log-linear fit of the used samples explains more than
        this share of their variance (``R^2 > clearance_r2_threshold``) with a negative
        slope. FOWARC post-hoc analysis (BMC Cancer 2018;18:1145): 0.9.
    """

    kind: ClassVar[str] = "response"

    clearance_r2_threshold: float = 0.9

    def __post_init__(self):
        _python_numbers(self)
        _refuse_single("clearance_r2_threshold", self.clearance_r2_threshold)
        value = self.clearance_r2_threshold
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value < 1:
            raise InvalidInputError(
                f"{_setting('clearance_r2_threshold')} must be a number in (0, 1), got {value!r}")
