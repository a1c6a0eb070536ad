"""Codes shared by the FHIR and OMOP readers: which LOINC code is which marker, which UCUM
units are read and how they convert, which drugs start a platinum line, which procedures
open a GCIG exclusion window; and the result both readers return.

Every code list here is the documented default; the readers take their own lists as
arguments where a site codes differently.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from ..errors import InvalidInputError, MissingDependencyError, argument_name
from ..markers import MARKERS as _SPECS
from ..markers import ucum_key, unit_text_key
from ..settings import EVENT_KINDS, event_kind

__all__ = ["MarkerCode", "MARKERS", "marker_code", "PLATINUM_RXNORM", "PLATINUM_ATC",
           "EVENT_SNOMED", "LINE_GAP_DAYS", "line_drugs", "exclusion_events", "first_doses", "check_uln", "as_day",
           "SourceRead",
           "SKIPPED_COLUMNS",
           "require"]


@dataclass(frozen=True)
class MarkerCode:
    """One tumour marker as the record systems code it.

    Attributes
    ----------
    name : str
        The package's name (``"ca125"``, ``"cea"``), the value of ``marker=``.
    label : str
        How people write it (``"CA-125"``).
    loinc : str
        LOINC code of the serum concentration (10334-1, 2039-6).
    unit : str
        UCUM unit of the values written to the markers table.
    units : mapping of str to float
        UCUM units read, and the factor converting each to ``unit``. Units outside this map
        are refused (the row is listed as skipped), never guessed.
    default_uln : float or None
        ULN used where a sample carries no reference range: the package's default ULN of
        35 U/mL for CA-125; None for CEA, where the ULN must come from the reference range
        or be given explicitly (the 35 U/mL default would be meaningless in ng/mL).
    """

    name: str
    label: str
    loinc: str
    unit: str
    units: Mapping[str, float] = field(default_factory=dict)
    default_uln: float | None = None

    def factor(self, code: str) -> float | None:
        """The factor converting UCUM ``code`` to :attr:`unit`, or None when it is not read.

        Spellings UCUM itself makes equal are one unit here: ``l`` and ``L`` are both the
        litre (``U/ml`` is ``U/mL``), ``[IU]`` and ``[iU]`` both the international unit. The
        micro sign (``µg/L``, U+00B5 or the Greek μ) is read as UCUM's ``u``. Anything else
        differing (``U/ML`` is units per megalitre, ``U/L`` a thousand times smaller) is not
        read.
        """
        keys = {ucum_key(u): f for u, f in self.units.items()}
        return keys.get(ucum_key(code)) if isinstance(code, str) else None

    def names_unit(self, text: str) -> bool:
        """True when the human-readable unit text ``text`` names one of the units read (case,
        spaces, brackets, the micro sign and 'units' spelt out aside: ``IU/mL``, ``U/ml``,
        ``µg/L``, ``units/mL``)."""
        return self.factor_of_text(text) is not None

    def factor_of_text(self, text) -> float | None:
        """The factor of the unit the human-readable ``text`` names (as :meth:`names_unit`),
        or None."""
        if not isinstance(text, str):
            return None
        return {unit_text_key(u): f for u, f in self.units.items()}.get(unit_text_key(text))


def _marker_code(spec) -> MarkerCode:
    """The record-system view of a :class:`ca125kinetics.markers.MarkerSpec` (one source of
    marker facts: name, label, LOINC, unit and the units that are the same number). Only
    CA-125 has a default ULN here (the GCIG's 35 U/mL): for another marker the ULN must come
    from the observation's reference range or be given explicitly."""
    units = MappingProxyType({spec.unit: 1.0, **{alias: 1.0 for alias in spec.unit_aliases}})
    return MarkerCode(spec.name, spec.label, spec.loinc, spec.unit, units,
                      spec.default_uln if spec.gcig_rules else None)


#: The markers read, from :data:`ca125kinetics.markers.MARKERS`. ``kU/L`` equals ``U/mL``;
#: ``[iU]/mL`` (and so ``k[iU]/L``) is read as U/mL because CA-125 assays report arbitrary kilo-units per litre that
#: laboratories write either way (there is no international standard of CA-125 that would make
#: IU differ from U). ``ug/L`` equals ng/mL.
MARKERS: Mapping[str, MarkerCode] = MappingProxyType({name: _marker_code(spec) for name, spec in _SPECS.items()})

#: Platinum agents that start a line, by RxNorm ingredient code (carboplatin 40048,
#: cisplatin 2555) and by WHO ATC code (L01XA02, L01XA01).
PLATINUM_RXNORM: Mapping[str, str] = MappingProxyType({"40048": "carboplatin", "2555": "cisplatin"})
PLATINUM_ATC: Mapping[str, str] = MappingProxyType({"L01XA02": "carboplatin", "L01XA01": "cisplatin"})


def line_drugs(drug_codes: Mapping[str, str] | None) -> Mapping[str, str]:
    """The RxNorm codes whose records are the line's doses: :data:`PLATINUM_RXNORM` and the
    codes a site adds (``drug_codes``, RxNorm code -> drug name), e.g. a clinical drug such
    as ``{"597195": "carboplatin"}`` ("carboplatin 10 MG/ML Injectable Solution") in a FHIR
    bundle that names no ingredient, or the ingredient of another agent of the line.

    A code is RxNorm's identifier written as text of digits; a name is not empty. A code
    that :data:`PLATINUM_RXNORM` already names must keep that name. Anything else is refused
    with an :class:`InvalidInputError` saying what to give."""
    return _site_codes(drug_codes, PLATINUM_RXNORM, "drug_codes", "RxNorm", "an RxNorm code", "drug names",
                       ("597195", "carboplatin"), "the drug's name")


def exclusion_events(event_codes: Mapping[str, str] | None) -> Mapping[str, str]:
    """The SNOMED CT procedure codes read as exclusion events: :data:`EVENT_SNOMED` and the
    codes a site adds (``event_codes``, SNOMED CT code -> event kind of
    :data:`~ca125kinetics.settings.EVENT_KINDS`), e.g. ``{"387713003": "surgery"}`` (surgical
    procedure), which no default names: surgery is coded in too many ways to list.

    As :func:`line_drugs`: a code is text of digits, a code of :data:`EVENT_SNOMED` keeps its
    kind, and the kind must be one the GCIG rules know, written as a markers table's ``event``
    column may write it (``" Surgery "``, ``"mouse antibody"``)."""
    return _site_codes(event_codes, EVENT_SNOMED, "event_codes", "SNOMED CT", "a SNOMED CT code", "event kinds",
                       ("387713003", "surgery"), "an event kind", kinds=EVENT_KINDS, normalise=event_kind)


def _site_codes(given, defaults: Mapping[str, str], what: str, vocabulary: str, a_code: str, names: str,
                example: tuple[str, str], name_is: str, kinds: tuple[str, ...] | None = None,
                normalise=lambda name: name) -> Mapping[str, str]:
    """``defaults`` and the codes of ``given`` (code -> name), checked (see :func:`line_drugs`)."""
    if given is None:
        return defaults
    if not isinstance(given, Mapping):
        raise InvalidInputError(f"{what} must map {vocabulary} codes to {names}, e.g. "
                                f"{{{example[0]!r}: {example[1]!r}}}; got {type(given).__name__}")
    out = dict(defaults)
    for code, name in given.items():
        if not (isinstance(code, str) and code.isascii() and code.isdigit()):
            raise InvalidInputError(f"{what}: {code!r} is not {a_code}; give the code as text of "
                                    f"digits, e.g. {example[0]!r}")
        if not (isinstance(name, str) and name.strip()):
            raise InvalidInputError(f"{what}: {vocabulary} {code} needs {name_is} as text, got {name!r}")
        name = normalise(name.strip())
        if kinds is not None and name not in kinds:
            raise InvalidInputError(f"{what}: {vocabulary} {code} is given as {name!r}, not an event kind of the "
                                    f"GCIG rules; use one of {list(kinds)}")
        if out.setdefault(code, name) != name:
            raise InvalidInputError(f"{what}: {vocabulary} {code} is {out[code]}, not {name!r}")
    return MappingProxyType(out)


#: Procedures that open a GCIG exclusion window, by SNOMED CT code: 61515000 paracentesis of
#: abdomen, 91602002 thoracentesis. Surgery, coded in too many ways to list, is a site's
#: ``event_codes`` (:func:`exclusion_events`).
EVENT_SNOMED: Mapping[str, str] = MappingProxyType({"61515000": "paracentesis", "91602002": "thoracentesis"})

#: Doses of the line's drugs (platinum, and any ``drug_codes``) of one patient more than this
#: many days apart are two lines of treatment.
#: Cycles are 21-28 days apart, and a pause for interval or secondary surgery within a line
#: lasts some 6-10 weeks; a platinum-sensitive recurrence comes 6 months or more after the
#: last dose. A record holding the first line and the line at recurrence then has no single
#: day 0: the readers refuse to choose (:func:`first_doses`).
LINE_GAP_DAYS = 90


def first_doses(doses: Mapping[str, list[tuple[str, str]]], gap_days: int,
                kind: str) -> tuple[dict[str, tuple[str, str]], list[tuple]]:
    """The first dose of the line's drugs of each patient whose doses form one line.

    Parameters
    ----------
    doses : mapping of patient_id to a list of (ISO date, source record)
    gap_days : int
        Doses more than ``gap_days`` apart (consecutive, in date order) start a new line.
    kind : str
        Record kind written to the skipped rows.

    Returns
    -------
    starts : dict of patient_id to (ISO date, source record)
        Patients with one line: its first dose.
    skipped : list of (source_id, patient_id, kind, reason)
        Patients with doses of more than one line: no start is chosen (the earliest would be
        the first line's, a silent misreading of a record that also holds the line at
        recurrence); the reason names each line's first dose and how to give the start.
    """
    starts, skipped = {}, []
    for pid, given in doses.items():
        ordered = sorted(given)
        days = [pd.Timestamp(d) for d, _ in ordered]
        lines = [ordered[0]] + [ordered[i + 1] for i, (a, b) in enumerate(zip(days, days[1:]))
                                if (b - a).days > gap_days]
        if len(lines) == 1:
            starts[pid] = ordered[0]
            continue
        skipped.append((ordered[0][1], pid, kind,
                        f"doses of the line's drugs in {len(lines)} lines (first doses "
                        f"{', '.join(d for d, _ in lines)}; "
                        f"more than {gap_days} days apart): which line is day 0 is ambiguous; pass "
                        "treatment_start= (a date per patient) or give the line's first dose as treatment_start "
                        "in the clinical table"))
    return starts, skipped


def check_uln(uln, marker: MarkerCode) -> None:
    """Refuse a ``uln=`` argument as the table readers refuse it (:func:`ca125kinetics.io.check_uln_argument`:
    a number of the marker's unit within its plausible ULNs; True is not 1)."""
    from ..markers import get_marker
    from ..settings import check_uln_argument

    spec = get_marker(marker.name)
    check_uln_argument(uln, spec.unit, spec.uln_max, spec.uln_min)


_PARTIAL_DAY_RE = re.compile(r"^\d{4}(?:-\d{2})?$")
_ISO_DAY_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$")


def refuse_near_miss_starts(given, patients: Iterable) -> None:
    """Refuse a ``treatment_start`` mapping with a key that names no patient read but differs
    from one's id only in case or surrounding spaces (``'P1'`` for ``p1``): that patient's start
    would silently come from the source's doses instead. A key naming no patient at all is
    allowed (one mapping for a whole cohort, read a batch at a time)."""
    if not isinstance(given, Mapping):
        return
    ids = {str(p) for p in patients if p is not None}
    folded: dict[str, str] = {}
    for pid in sorted(ids):
        folded.setdefault(pid.strip().casefold(), pid)
    for key in given:
        text = str(key)
        near = folded.get(text.strip().casefold())
        if text not in ids and near is not None:
            raise InvalidInputError(
                f"treatment_start names patient {text!r}, who is not read here, and patient {near!r} is: the ids "
                f"differ only in case or spaces, and {near!r}'s day 0 would come from the source's doses instead; "
                "give the id as the source writes it", column="treatment_start")


def as_day(value, what: str, name: str = "treatment_start") -> str:
    """A given date (``name``: ``treatment_start``, a RiskAssessment's ``occurrence``) as an ISO
    day: a date or timestamp object, or ISO text ``YYYY-MM-DD`` (a time of day after it is
    dropped, the day kept as written). A date less precise than a day (``2025-01``) or in
    another order (``01/02/2025``) is refused, never completed or guessed. The refusal names
    ``name`` as the caller typed it (``--treatment-start`` under ``ca125 extract``, then not as a
    column: :func:`ca125kinetics.errors.argument_name`)."""
    if isinstance(value, np.datetime64) and not pd.isna(value):
        value = pd.Timestamp(value)
    if isinstance(value, (_dt.date, pd.Timestamp)) and not pd.isna(value):
        return (value.date() if isinstance(value, _dt.datetime) else value).isoformat()
    m = _ISO_DAY_RE.match(value.strip()) if isinstance(value, str) else None
    shown = argument_name(name)
    column = name if shown == name else None
    if m is None:       # InvalidInputError is a ValueError: raised outside the try below, so it keeps its words
        partial = isinstance(value, str) and _PARTIAL_DAY_RE.match(value.strip())
        raise InvalidInputError(f"{shown} {value!r} of {what} is not a date{' precise to the day' if partial else ''}; "
                                "use YYYY-MM-DD", column=column)
    try:
        return _dt.date.fromisoformat(m.group(1)).isoformat()
    except ValueError as exc:
        raise InvalidInputError(f"{shown} {value!r} of {what} is not a date; use YYYY-MM-DD", column=column) from exc


#: Columns of the skipped-rows table of :class:`SourceRead`.
SKIPPED_COLUMNS = ("source_id", "patient_id", "kind", "reason")


def marker_code(marker: str) -> MarkerCode:
    """The :class:`MarkerCode` of ``marker`` (``"ca125"`` or ``"cea"``), or a typed error."""
    key = str(marker).strip().lower().replace("-", "").replace("_", "")
    if key not in MARKERS:
        raise InvalidInputError(f"unknown marker {marker!r}; use one of {sorted(MARKERS)}")
    return MARKERS[key]


@dataclass(frozen=True)
class SourceRead:
    """What a FHIR or OMOP reader found.

    Attributes
    ----------
    markers : pandas.DataFrame
        The markers table, ready for :func:`ca125kinetics.io.read_markers` (the one
        validator; nothing here is validated twice): ``patient_id``, ``date`` (ISO
        ``YYYY-MM-DD``), ``ca125`` (the marker's value in ``marker.unit``, the limit for a
        censored value; the column keeps the data contract's name for CEA too), ``censored``,
        ``uln`` (NaN where the sample carried no reference range), ``assay``, ``event``,
        ``treatment_start`` (ISO date or None), ``marker``, and the provenance column
        (``resource_id`` for FHIR, ``measurement_id`` etc. for OMOP).
    skipped : pandas.DataFrame
        One row per resource or database row not imported, with columns
        :data:`SKIPPED_COLUMNS`: where it came from, whose it was (when known), what kind of
        record, and why it was skipped.
    treatment_starts : pandas.DataFrame
        ``patient_id``, ``treatment_start`` (ISO date), ``source`` (the record it came from,
        or ``"given"``).
    marker : MarkerCode
        The marker read.
    source : str
        What was read (file name, database URL without password).
    notes : dict of str to str
        Per patient what the reader noticed without skipping anything (FHIR: times written in
        more than one UTC offset), the text of the :class:`~ca125kinetics.errors.DataQualityWarning`
        that says it, for that patient.
    """

    markers: pd.DataFrame
    skipped: pd.DataFrame
    treatment_starts: pd.DataFrame
    marker: MarkerCode
    source: str
    notes: dict = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """The markers table (as :attr:`markers`)."""
        return self.markers

    def summary(self) -> str:
        """One line: how many rows of how many patients were read, how many skipped and why."""
        n_pat = self.markers["patient_id"].nunique()
        values = int(self.markers["ca125"].notna().sum())
        events = int(self.markers["event"].notna().sum())
        text = (f"{self.source}: {values} {self.marker.label} value(s) and {events} event(s) of "
                f"{n_pat} patient(s); {len(self.skipped)} record(s) skipped")
        if len(self.skipped):
            reasons = self.skipped["reason"].map(_reason_kind).value_counts()
            text += " (" + "; ".join(f"{n}x {r}" for r, n in reasons.head(5).items()) + ")"
        return text


def _reason_kind(reason: str) -> str:
    """The reason without its specifics (the text before the first ": " or "; "), for
    summaries: a colon inside a word (``urn:uuid:...``, ``http://...``) does not end it."""
    return re.split(r"[:;](?:\s|$)", str(reason), maxsplit=1)[0]


def events_take_sample_uln(markers: pd.DataFrame) -> pd.DataFrame:
    """Event rows (a procedure, no measurement) take the ULN of the patient's first sample.

    A procedure carries no reference range; left empty, its row would get the default ULN and
    look like a change of assay to the GCIG rules. A patient without samples keeps NaN.
    """
    values = markers[markers["event"].isna() & markers["uln"].notna()]
    first = values.sort_values(["patient_id", "date"], kind="stable").drop_duplicates("patient_id")
    uln_of = dict(zip(first["patient_id"], first["uln"]))
    is_event = markers["event"].notna()
    markers.loc[is_event, "uln"] = markers.loc[is_event, "patient_id"].map(uln_of).astype(float)
    for c in ("assay", "event", "treatment_start"):      # missing text is None, as in read_markers
        markers[c] = markers[c].astype(object).where(markers[c].notna(), None)
    return markers


def skipped_frame(rows: list[tuple]) -> pd.DataFrame:
    """The skipped-rows table from ``(source_id, patient_id, kind, reason)`` tuples."""
    return pd.DataFrame(rows, columns=list(SKIPPED_COLUMNS)).astype(object)


def no_marker_message(marker: MarkerCode, skipped: pd.DataFrame, what: str) -> str:
    """Why a source gave no value of ``marker``: the skip reasons, most frequent first."""
    text = f"{what} holds no usable {marker.label} (LOINC {marker.loinc}) value"
    if len(skipped):
        reasons = skipped["reason"].map(_reason_kind).value_counts()
        text += "; skipped: " + "; ".join(f"{n}x {r}" for r, n in reasons.head(5).items())
    other = [m for m in MARKERS.values() if m.name != marker.name]
    text += (". Check that the source holds LOINC-coded results"
             + "".join(f", or pass marker='{m.name}' for {m.label}" for m in other))
    return text


def require(module: str, extra: str, what: str):
    """Import an optional dependency, or raise :class:`MissingDependencyError` naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{what} needs the optional dependency {module.split('.')[0]!r}, which is not installed; "
            f"install it with: pip install 'ca125kinetics[{extra}]'") from exc
