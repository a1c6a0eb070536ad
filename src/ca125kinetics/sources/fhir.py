"""Read CA-125 or CEA from HL7 FHIR R4 resources; write a cohort as a FHIR bundle; return a
scored patient as a FHIR ``RiskAssessment``.

Reading (:func:`read_fhir`)
---------------------------
A ``Bundle`` (or one resource, or a list of resources) is read entry by entry. Each resource
is first validated against the FHIR **R4B** model of the ``fhir.resources`` library (R4B is
R4 with a handful of additions that do not touch the resources read here; ``fhir.resources``
ships no separate R4 package, and its default R5 models would accept R5-only fields that R4
data must not carry). A resource that fails validation is listed as skipped with the
validator's message; it never stops the others.

* ``Observation`` with LOINC 10334-1 (CA-125) or 2039-6 (CEA): the marker asked for is read,
  the other listed as skipped (one coded as both: skipped). ``status`` must be ``final``,
  ``amended`` or ``corrected``. ``valueQuantity`` in a UCUM unit of
  :data:`~ca125kinetics.sources.MARKERS` (converted to U/mL or ng/mL; UCUM's equal spellings
  read, :meth:`~ca125kinetics.sources.MarkerCode.factor`; a ``unit`` text naming another unit
  than the code refused); comparator ``<``/``<=`` gives a censored value (the limit, as
  ``"<x"`` in a markers file); ``>``/``>=`` (above the measuring range) is kept as written
  (``">5000"``), a sample whose value is unknown, which the markers reader refuses as it
  refuses the text in a file: the patient is ``invalid_input`` with that reason, never read
  as if the sample had not been drawn (an earlier, lower sample would become the GCIG
  baseline). Any other comparator is refused. ``referenceRange.high`` is the ULN (a range given only as text is
  refused unless ``uln`` is given). ``method`` (text, else the first coding's display or
  code) is the assay.
* ``Procedure`` (status ``completed``, ``in-progress`` or ``stopped``: begun) coded in SNOMED
  CT as paracentesis (61515000) or thoracentesis (91602002): an event row (GCIG exclusion
  window), with the ULN of the patient's first sample (a procedure has no reference range of
  its own).
* ``MedicationAdministration`` (status ``completed``/``in-progress``/``stopped``: begun, so the
  line began that day) of carboplatin or
  cisplatin (RxNorm 40048/2555, ATC L01XA02/L01XA01; by ``medicationCodeableConcept`` or a
  ``medicationReference`` to a ``Medication`` in the bundle): the earliest one of a patient is
  the treatment start (day 0); ``not-done`` and ``entered-in-error`` are no dose, and an
  ``on-hold`` or ``unknown`` one before the first dose leaves day 0 ambiguous (no start, a
  skipped row). A ``MedicationRequest`` (status ``active``/``completed``) counts
  only for a patient without any administration, through the planned start
  ``dosageInstruction.timing.repeat.boundsPeriod.start`` (``authoredOn`` is the order date,
  not a dose, and is not used). A patient whose doses are more than ``line_gap_days`` apart
  has several lines and gets no start (a skipped row says so): pass ``treatment_start``.
* ``Patient`` and ``Medication`` resolve references; any other resource is listed as skipped.

Dates. ``effectiveDateTime`` or ``effectiveInstant`` (else ``effectivePeriod.start``; ``performed*`` for procedures)
is cut to its calendar day **as written**: ``2025-03-01T23:30:00-05:00`` is 1 March, the day
in the time zone the sender recorded, never shifted to UTC or to this machine's zone. A patient
whose times are written in more than one UTC offset gets a
:class:`~ca125kinetics.errors.DataQualityWarning` naming the offsets (one instant written in
two of them falls on two days). A date
less precise than a day (``2025-03``) is refused, never completed to a day; a dose of the line so
dated that may fall before the first dose read, or in another line, leaves the patient without a
start (a skipped row).

Patients. ``subject.reference`` ``Patient/<id>`` (relative or absolute URL) gives
``patient_id`` ``<id>``; a ``urn:uuid:`` reference is resolved to the ``Patient`` entry with
that ``fullUrl`` (its ``id``, else the uuid). A subject with an ``identifier`` beside its
reference that is not among the identifiers of the referenced Patient entry, or that is another
Patient entry's, is skipped (given to neither); one with an identifier only is skipped too (a
logical reference is not resolved). One id referenced on two servers is skipped, not
merged. The resources of a Patient ``replaced-by`` another (``Patient.link``), or of two linked
Patients that both have resources, are skipped: one person's two series.

Duplicates and pages. A resource given twice is read once (identical copies) or skipped
(differing copies). A ``searchset`` page with a ``next`` link is refused; a list of pages is
read when every ``next`` link is the ``self`` link of a page given. A search result holding fewer
matches than its ``total`` is refused.

Size. A file or body above ``max_bytes`` (default :data:`MAX_BUNDLE_BYTES`) is refused before
it is read; JSON nested deeper than Python can parse, ``NaN``/``Infinity`` and duplicate-free
but non-object bodies are refused with :class:`~ca125kinetics.errors.InvalidInputError`.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd

from ..errors import InvalidInputError, NoMarkerDataError, not_a_file
from ._codes import (EVENT_SNOMED, LINE_GAP_DAYS, MARKERS, PLATINUM_ATC, MarkerCode,
                     SourceRead, as_day, check_uln, events_take_sample_uln, exclusion_events, first_doses, marker_code,
                     line_drugs, no_marker_message, refuse_near_miss_starts, require, skipped_frame)

__all__ = ["read_fhir", "cohort_to_fhir", "write_fhir", "risk_assessment", "score_request_from_fhir", "json_unique_keys",
           "MAX_BUNDLE_BYTES",
           "LOINC", "UCUM", "SNOMED", "RXNORM", "ATC"]

#: Largest bundle read, bytes (the committed 3000-patient cohort is about 9 MB).
MAX_BUNDLE_BYTES = 32 * 1024 * 1024

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"

_OBSERVATION_STATUS = ("final", "amended", "corrected")
#: ``Procedure.status`` of a procedure done: R4's ``in-progress`` and ``stopped`` (begun, then
#: halted) are begun, and a begun paracentesis opens the exclusion window as a completed one.
_PROCEDURE_STATUS = ("completed", "in-progress", "stopped")
#: ``MedicationAdministration.status`` of a dose: R4's ``stopped`` is an administration begun
#: and then halted (a reaction to the infusion), so the line began that day. ``not-done`` and
#: ``entered-in-error`` are no dose.
_ADMINISTRATION_STATUS = ("completed", "in-progress", "stopped")
#: Statuses that leave open whether a dose was given (``on-hold``: halted, perhaps before it
#: began; ``unknown``): not read as a dose, and such a record before the first dose read makes
#: day 0 ambiguous.
_UNSURE_ADMINISTRATION_STATUS = ("on-hold", "unknown")
_REQUEST_STATUS = ("active", "completed")
_READ_TYPES = ("Observation", "Procedure", "MedicationAdministration", "MedicationRequest",
               "Patient", "Medication")
_DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")
_PATIENT_REF_RE = re.compile(r"(?:^|/)Patient/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")
_FHIR_ID_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


# --------------------------------------------------------------------------- loading


def _models() -> dict[str, Any]:
    """The R4B model classes of the resources read (fhir.resources, optional extra 'fhir')."""
    require("fhir.resources", "fhir", "reading FHIR")
    from fhir.resources.R4B.bundle import Bundle
    from fhir.resources.R4B.medication import Medication
    from fhir.resources.R4B.medicationadministration import MedicationAdministration
    from fhir.resources.R4B.medicationrequest import MedicationRequest
    from fhir.resources.R4B.observation import Observation
    from fhir.resources.R4B.patient import Patient
    from fhir.resources.R4B.procedure import Procedure

    return {"Bundle": Bundle, "Observation": Observation, "Procedure": Procedure,
            "MedicationAdministration": MedicationAdministration, "MedicationRequest": MedicationRequest,
            "Patient": Patient, "Medication": Medication}


def json_unique_keys(pairs: list) -> dict:
    """``object_pairs_hook`` for :func:`json.loads` that refuses a key given twice in one object.

    The package's JSON readers use it: FHIR bundles here, request bodies of the web API
    (``ca125kinetics.web.app``). JSON keeps the last of two equal keys, so ``{"ca125": 400,
    "ca125": 4}`` would be read as 4 without a word; here it raises :class:`InvalidInputError`
    (its ``column`` is the key; the message does not repeat it as a location, since a JSON
    reader adds its own).
    """
    out = dict(pairs)
    if len(out) < len(pairs):
        seen: set = set()
        key = next(k for k, _ in pairs if k in seen or seen.add(k))
        error = InvalidInputError(f"the key {key!r} is given twice in one JSON object (JSON would keep "
                                  "only the last value); give each field once")
        error.column = key
        raise error
    return out


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _parse_json(data: bytes | str, label: str) -> Any:
    try:
        return json.loads(data, parse_constant=_refuse_constant, object_pairs_hook=json_unique_keys)
    except RecursionError as exc:
        raise InvalidInputError("JSON is nested too deeply to be a FHIR resource", source=label) from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"is not valid JSON ({exc}); give a FHIR R4 Bundle in JSON",
                                source=label) from exc


def _load(source, max_bytes: int) -> tuple[Any, str]:
    """The parsed JSON of ``source`` (path, bytes, JSON text, dict or list) and its label."""
    if isinstance(source, (dict, list)):
        return source, "FHIR resources"
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if len(data) > max_bytes:
            raise InvalidInputError(
                f"FHIR body of {len(data):,} bytes is larger than the limit of {max_bytes:,}; "
                "split the bundle by patient, or raise max_bytes", source="FHIR body")
        return _parse_json(data, "FHIR body"), "FHIR body"
    if isinstance(source, (str, Path)):
        path = Path(source)
        label = str(path)
        if not path.is_file():
            raise InvalidInputError(f"{not_a_file(path)}; check the path of the FHIR bundle", source=label)
        size = path.stat().st_size
        if size > max_bytes:
            raise InvalidInputError(
                f"FHIR file of {size:,} bytes is larger than the limit of {max_bytes:,}; "
                "export one bundle per patient or per batch, or raise max_bytes", source=label)
        return _parse_json(path.read_bytes(), label), label
    raise InvalidInputError(
        f"cannot read FHIR from a {type(source).__name__}; pass a path to a .json file, the JSON "
        "bytes, a Bundle dict or a list of resources")


def _entries(data: Any, label: str, models: Mapping) -> list[tuple[str | None, Any]]:
    """(fullUrl, resource) of every entry; each Bundle envelope itself is validated as R4B.

    A list holding Bundles is read as the pages of one search: every ``next`` link must be
    the ``self`` link of another page given (one page alone would silently miss the rest).
    """
    if isinstance(data, list):
        pages = [d for d in data if isinstance(d, dict) and d.get("resourceType") == "Bundle"]
        if not pages:
            return [((item.get("fullUrl"), item["resource"]) if "resource" in item else (None, item))
                    if isinstance(item, dict) else (None, item) for item in data]
        if len(pages) != len(data):
            raise InvalidInputError("a list mixes Bundles and other items; give the pages of a search (Bundles) "
                                    "or a list of resources", source=label)
        selves = {link.get("url") for page in pages for link in _links(page, "self")}
        for page in pages:
            for link in _links(page, "next"):
                if link.get("url") not in selves:
                    raise InvalidInputError(
                        f"the pages given are not the whole search result: link 'next' {link.get('url')!r} is the "
                        "self link of no page given; fetch every page (follow link.next until there is none) "
                        "and pass them all", source=label)
        _refuse_incomplete_search(pages, label)
        return [entry for page in pages for entry in _bundle_entries(page, label, models)]
    if not isinstance(data, dict):
        raise InvalidInputError(f"FHIR JSON must be an object (a Bundle or a resource), got a "
                                f"{type(data).__name__}", source=label)
    kind = data.get("resourceType")
    if kind != "Bundle":
        if kind in _READ_TYPES:
            return [(None, data)]
        raise InvalidInputError(
            f"resourceType {kind!r} is not read; give a Bundle, or Observation/Procedure/"
            "MedicationAdministration/MedicationRequest resources", source=label)
    nexts = _links(data, "next")
    if nexts:
        raise InvalidInputError(
            f"the Bundle is one page of a search result: link 'next' {nexts[0].get('url')!r} points to more "
            "results that are not in it; fetch every page (follow link.next until there is none) and pass the "
            "pages together as a list, or merge their entries into one Bundle", source=label)
    _refuse_incomplete_search([data], label)
    return _bundle_entries(data, label, models)


def _refuse_incomplete_search(pages: list[Mapping], label: str) -> None:
    """Refuse search results that hold fewer matches than their ``total`` says (R4: the number
    of ``match`` entries across all pages): a server that caps a search, or an export that kept
    the first page and dropped its links, would otherwise be read in part without a word."""
    searchsets = [page for page in pages if page.get("type") == "searchset"]
    totals = [page.get("total") for page in searchsets
              if isinstance(page.get("total"), int) and not isinstance(page.get("total"), bool)]
    if not totals:
        return
    entries = [e for page in searchsets for e in (page.get("entry") if isinstance(page.get("entry"), list) else [])
               if isinstance(e, dict)]
    # entries are not validated with the envelope: a search element of another shape has no mode
    matches = sum(1 for e in entries
                  if not isinstance(e.get("search"), dict) or e["search"].get("mode") in (None, "match"))
    if max(totals) > matches:
        raise InvalidInputError(
            f"the search result says {max(totals)} resources matched (Bundle.total) but holds {matches}: the rest are "
            "not in it, and reading it would leave them out; fetch every page (follow link.next until there is "
            "none) and pass them together as a list, or search again without a limit on the results", source=label)


def _links(bundle: Mapping, relation: str) -> list[dict]:
    return [link for link in bundle.get("link", []) or []
            if isinstance(link, dict) and link.get("relation") == relation]


def _bundle_entries(data: Mapping, label: str, models: Mapping) -> list[tuple[str | None, Any]]:
    if data.get("type") == "history":
        raise InvalidInputError(
            "is a history Bundle: it holds versions and deletions of resources, not their current state (a "
            "deleted result's earlier version would be read); export the current resources (a search or "
            "Patient/$everything) instead", source=label)
    envelope = {k: v for k, v in data.items() if k != "entry"}
    try:
        models["Bundle"].model_validate(envelope)
    except Exception as exc:  # pydantic ValidationError: the envelope is not R4
        raise InvalidInputError(f"is not a valid FHIR R4 Bundle: {_first_error(exc)}", source=label) from exc
    entries = data.get("entry", [])
    if not isinstance(entries, list):
        raise InvalidInputError("Bundle.entry must be a list", source=label)
    return [(e.get("fullUrl"), e.get("resource")) if isinstance(e, dict) else (None, e) for e in entries]


def _first_error(exc: Exception) -> str:
    """The first problem pydantic found, as 'field: message' (R5-only fields named as such)."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc).splitlines()[0]
    first = errors()[0] if errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ())) or "resource"
    if first.get("type") == "extra_forbidden":
        return f"{where}: field not defined in FHIR R4 (an R5 or misspelt field?)"
    message = " ".join(str(first.get("msg", "")).split())
    return f"{where}: {message[:160]}"


# --------------------------------------------------------------------------- small readers


def _day(value: Any) -> str | None:
    """The calendar day of a FHIR date/dateTime as written (no time-zone shift), or None."""
    if not isinstance(value, str):
        return None
    m = _DATE_RE.match(value)
    return f"{m.group(1)}-{m.group(2)}-{m.group(3)}" if m else None


def _raw_when(resource: Mapping, prefix: str):
    """``<prefix>DateTime`` (or ``Instant``), else ``<prefix>Period.start``, as written."""
    raw = resource.get(f"{prefix}DateTime") or resource.get(f"{prefix}Instant")
    if raw is None and isinstance(resource.get(f"{prefix}Period"), dict):
        raw = resource[f"{prefix}Period"].get("start")
    return raw


#: The UTC offset a dateTime is written in (``Z`` or ``+hh:mm``), after a time of day.
_OFFSET_RE = re.compile(r"T[0-9:.]+(Z|[+-]\d{2}:\d{2})$")


def _offset(resource: Mapping, prefix: str) -> str | None:
    """The UTC offset ``resource``'s time is written in (``"+00:00"`` for ``Z``), or None for
    a date alone."""
    raw = _raw_when(resource, prefix)
    m = _OFFSET_RE.search(raw) if isinstance(raw, str) else None
    return None if m is None else ("+00:00" if m.group(1) == "Z" else m.group(1))


def _when(resource: Mapping, prefix: str) -> tuple[str | None, str | None]:
    """(day, problem) from ``<prefix>DateTime`` (or ``Instant``) or ``<prefix>Period.start``."""
    raw = _raw_when(resource, prefix)
    if raw is None:
        return None, f"no {prefix}DateTime or {prefix}Period.start: the sample's date is needed"
    day = _day(raw)
    if day is None:
        return None, f"date {raw!r} is not precise to the day; give YYYY-MM-DD"
    return day, None


#: A FHIR date or dateTime less precise than a day: a year (``2024``) or a month (``2024-03``).
_PARTIAL_DATE_RE = re.compile(r"^(\d{4})(?:-(\d{2}))?$")


def _partial_period(raw: Any) -> tuple[str, str] | None:
    """(first, last day) of a date written as a year or a month (``2024-03`` is 1-31 March), or
    None for anything else."""
    m = _PARTIAL_DATE_RE.match(raw) if isinstance(raw, str) else None
    if m is None or not 1 <= int(m.group(2) or 1) <= 12:
        return None
    first = _dt.date(int(m.group(1)), int(m.group(2) or 1), 1)
    if m.group(2) is None:
        return first.isoformat(), first.replace(month=12, day=31).isoformat()
    next_month = (first + _dt.timedelta(days=31)).replace(day=1)
    return first.isoformat(), (next_month - _dt.timedelta(days=1)).isoformat()


def _vague_dose(res: Mapping) -> tuple[str, str, str] | None:
    """(first, last possible day, what was written) of an administration whose day is not
    known: dated to a month or a year, or an ``effectivePeriod`` with an ``end`` alone (begun
    on that day or any day before); else None."""
    raw = _raw_when(res, "effective")
    period = _partial_period(raw)
    if period:
        return (*period, f"dated {raw!r} (a month or a year, not a day)")
    end = (res.get("effectivePeriod") or {}).get("end") if raw is None else None
    if _day(end):
        return "0001-01-01", _day(end), f"with effectivePeriod.end {end!r} alone (begun that day or before)"
    if _partial_period(end):
        return "0001-01-01", _partial_period(end)[1], f"with effectivePeriod.end {end!r} alone (begun then or before)"
    return None


def _resource_id(res: Mapping, full_url: str | None, i: int) -> str:
    """``Type/id`` of a resource, else its entry's fullUrl, else its place in the bundle."""
    kind = res.get("resourceType")
    return f"{kind}/{res['id']}" if isinstance(res.get("id"), str) else (full_url or f"entry[{i}]")


def _codes(concept: Any, system: str) -> list[str]:
    if not isinstance(concept, dict):
        return []
    return [str(c.get("code")) for c in concept.get("coding", []) or []
            if isinstance(c, dict) and c.get("system") == system and c.get("code") is not None]


def _unit_factor(quantity: Mapping, marker: MarkerCode) -> tuple[float | None, str | None]:
    """(factor to the marker's unit, problem) of a UCUM-coded quantity."""
    system, code, unit = quantity.get("system"), quantity.get("code"), quantity.get("unit")
    if system != UCUM or code is None:
        return None, (f"unit {unit or code!r} is not UCUM-coded (system {UCUM}); {marker.label} is read in "
                      f"{sorted(marker.units)}")
    factor = marker.factor(code)
    if factor is None:
        return None, f"unit {code!r} is not a {marker.label} unit; read: {sorted(marker.units)}"
    if unit is not None and not marker.names_unit(unit):
        return None, (f"unit text {unit!r} does not match its UCUM code {code!r}: which one is right is "
                      "ambiguous; correct the one that is wrong at the source")
    return factor, None


class _Context:
    """References resolved within one read: Patient fullUrls, Medication codes."""

    def __init__(self, entries: list[tuple[str | None, Any]]):
        self.patients: dict[str, str] = {}
        self.medications: dict[str, Any] = {}
        # servers (absolute URL bases) each Patient id is referenced on: one id on two servers
        # may be two patients, never merged into one series
        self.servers: dict[str, set[str]] = {}
        # the fullUrls of the Patient entries of each id: two entries (two fullUrls) with one
        # id may be two patients, never merged into one series either
        self.entries: dict[str, set[str]] = {}
        # the identifiers (system, value) of each Patient entry's id: a subject's identifier is
        # checked against those of the Patient its reference names
        self.identifiers: dict[str, set[tuple[str | None, str]]] = {}
        for full_url, res in entries:
            if not isinstance(res, dict):
                continue
            subject = res.get("subject")
            for url in (full_url if res.get("resourceType") == "Patient" else None,
                        subject.get("reference") if isinstance(subject, dict) else None):
                m = _PATIENT_REF_RE.search(url) if isinstance(url, str) and "://" in url else None
                if m:
                    self.servers.setdefault(m.group(1), set()).add(url[:m.start()].rstrip("/"))
            rid = res.get("id")
            keys = [k for k in (full_url, f"{res.get('resourceType')}/{rid}" if rid else None) if k]
            if res.get("resourceType") == "Patient":
                for k in keys:
                    self.patients[k] = str(rid) if rid else str(full_url).rsplit(":", 1)[-1]
                if full_url:
                    self.entries.setdefault(self.patients[keys[0]], set()).add(str(full_url))
                if keys:
                    self.identifiers.setdefault(self.patients[keys[0]], set()).update(_identifiers(res))
            elif res.get("resourceType") == "Medication":
                for k in keys:
                    self.medications[k] = _medication_concepts(res)
        # Patient.link (an R4 modifier): one person's records under two ids (a merged record,
        # replaced-by/replaces; refer, seealso). Read as they stand, they are two series, each
        # without the other's samples or doses; a record replaced by another must not be used
        self.links: dict[str, set[tuple[str, str, str]]] = {}     # pid -> (holder, link type, other)
        self.replaced: set[str] = set()
        for full_url, res in entries:
            if not (isinstance(res, dict) and res.get("resourceType") == "Patient" and res.get("link")):
                continue
            holder = self._ref_id(full_url) or (self._ref_id(f"Patient/{res['id']}") if res.get("id") else None)
            for link in res["link"] if isinstance(res["link"], list) else []:
                other = link.get("other") if isinstance(link, dict) else None   # not yet validated: any shape
                other = self._ref_id(other.get("reference") if isinstance(other, dict) else None)
                if holder and other and other != holder:
                    kind = str(link.get("type"))
                    for pid in (holder, other):
                        self.links.setdefault(pid, set()).add((holder, kind, other))
                    if kind == "replaced-by":
                        self.replaced.add(holder)
        self.with_records = {self._ref_id((res.get("subject") or {}).get("reference"))
                             for _, res in entries if isinstance(res, dict) and isinstance(res.get("subject"), dict)}

    def _ref_id(self, ref) -> str | None:
        """The patient id a reference (or a Patient entry's fullUrl) names, or None."""
        if not isinstance(ref, str):
            return None
        m = _PATIENT_REF_RE.search(ref)
        return self.patients.get(ref, m.group(1) if m else None)

    def patient(self, resource: Mapping) -> tuple[str | None, str | None]:
        subject = resource.get("subject")
        ref = subject.get("reference") if isinstance(subject, dict) else None
        given = _identifiers({"identifier": [subject.get("identifier")]}) if isinstance(subject, dict) else set()
        if not ref:
            if given:
                return None, (f"no subject.reference: the subject gives only an identifier "
                              f"({_identifier_text(*next(iter(given)))}), a logical reference, which this reader "
                              "does not resolve to a Patient entry; export the resource with subject.reference "
                              "Patient/<id>")
            return None, "no subject.reference: the sample cannot be given to a patient"
        pid = self._ref_id(ref)
        if pid is None:
            return None, f"subject {ref!r} is not a Patient reference (Patient/<id> or a Patient entry's fullUrl)"
        clash = self._identifier_clash(ref, pid, given)
        if clash:
            return None, clash
        links = sorted(self.links.get(pid, ()))
        split = [link for link in links if (link[2] if link[0] == pid else link[0]) in self.with_records]
        if pid in self.replaced or split:
            holder, kind, other = next((link for link in links if link[0] == pid and link[1] == "replaced-by"),
                                       None) or split[0]
            return None, (f"Patient/{holder} has Patient.link {kind} Patient/{other}: "
                          + ("the record must no longer be used and its records belong to the other"
                             if pid in self.replaced else "both hold records of this person")
                          + ", and read as they stand they would be two series (each without the other's samples "
                            "and doses); merge the records at the source, or export them under one patient id")
        if len(self.servers.get(pid, ())) > 1:
            servers = sorted(self.servers[pid])
            return None, (f"Patient/{pid} is referenced on {len(servers)} servers ({', '.join(servers)}): "
                          "the same id may be two patients; read each server's resources separately")
        if len(self.entries.get(pid, ())) > 1:
            urls = sorted(self.entries[pid])
            return None, (f"Patient id {pid!r} is the id of {len(urls)} Patient entries ({', '.join(urls)}): they "
                          "may be two patients, so no sample of theirs is given to either; give each patient "
                          "its own id")
        return pid, None

    def _identifier_clash(self, ref: str, pid: str, given: set) -> str | None:
        """Why a subject whose ``identifier`` contradicts its ``reference`` is given to no
        patient, or None: the referenced Patient entry carries another value of the
        identifier's system, or, not being the referenced Patient's, the identifier is another
        Patient entry's. Identifiers match on system and value (a side without a system matches
        on the value). An identifier of a system the referenced Patient has no identifier of
        (a national number beside the entry's hospital number) cannot be checked and does not
        contradict it: the resource is read by its reference, as FHIR links it."""
        if not given:
            return None
        system, value = next(iter(given))

        def same_system(s) -> bool:
            return s is None or system is None or s == system

        def holds(identifiers) -> bool:
            return any(v == value and same_system(s) for s, v in identifiers)

        own = self.identifiers.get(pid, set())
        if holds(own):
            return None
        others = sorted(p for p, identifiers in self.identifiers.items() if p != pid and holds(identifiers))
        comparable = sorted((i for i in own if same_system(i[0])), key=str)
        if not comparable and not others:
            return None   # nothing in the bundle to check the identifier against
        said = []
        if comparable:
            said.append(f"is not one of Patient/{pid}'s identifiers "
                        f"({', '.join(_identifier_text(*i) for i in comparable)})")
        if others:
            said.append(f"is the identifier of {', '.join(f'Patient/{p}' for p in others)}")
        return (f"subject.reference {ref!r} and subject.identifier {_identifier_text(system, value)} disagree: the "
                f"identifier {' and '.join(said)}; whose record this is is ambiguous, so it is given to neither "
                "patient; correct the reference or the identifier at the source (or export the resource without "
                "the identifier)")

    def medication(self, resource: Mapping) -> list:
        """The codes of the drug given: ``medicationCodeableConcept``, or the code and
        ingredients of the referenced ``Medication`` (a bundle entry or a contained one)."""
        if resource.get("medicationCodeableConcept") is not None:
            return [resource["medicationCodeableConcept"]]
        ref = (resource.get("medicationReference") or {}).get("reference")
        if isinstance(ref, str) and ref.startswith("#"):
            return next((_medication_concepts(c) for c in resource.get("contained", []) or []
                         if isinstance(c, dict) and c.get("resourceType") == "Medication"
                         and c.get("id") == ref[1:]), [])
        return self.medications.get(ref, [])


def _identifiers(resource: Mapping) -> set[tuple[str | None, str]]:
    """The (system, value) of each ``identifier`` of ``resource`` that has a value (the
    resource is not yet validated: any other shape gives none)."""
    found = resource.get("identifier")
    return {(i.get("system") if isinstance(i.get("system"), str) else None, str(i["value"]))
            for i in (found if isinstance(found, list) else []) if isinstance(i, dict) and i.get("value") is not None}


def _identifier_text(system: str | None, value: str) -> str:
    """An identifier as FHIR's search writes a token, ``system|value`` (the value alone
    without a system)."""
    return f"{system}|{value}" if system else repr(value)


def _medication_concepts(medication: Mapping) -> list:
    """A Medication's code and its ingredients' codes (a clinical drug such as RxNorm's
    'carboplatin 10 MG/ML Injectable Solution' names its ingredient there)."""
    return [medication.get("code")] + [i.get("itemCodeableConcept") for i in medication.get("ingredient", []) or []
                                       if isinstance(i, dict)]


def _line_drug(concepts: list, rxnorm: Mapping[str, str]) -> str | None:
    """The drug of the line that ``concepts`` code (by an RxNorm code of ``rxnorm`` or a
    platinum ATC class), or None."""
    for concept in concepts:
        for code in _codes(concept, RXNORM):
            if code in rxnorm:
                return rxnorm[code]
        for code in _codes(concept, ATC):
            if code in PLATINUM_ATC:
                return PLATINUM_ATC[code]
    return None


# --------------------------------------------------------------------------- read


def read_fhir(source, *, marker: str = "ca125", treatment_start=None, uln: float | None = None,
              event_codes: Mapping[str, str] | None = None, max_bytes: int = MAX_BUNDLE_BYTES,
              line_gap_days: int = LINE_GAP_DAYS, drug_codes: Mapping[str, str] | None = None) -> SourceRead:
    """Read one marker's values, exclusion events and treatment starts from FHIR R4 resources.

    Parameters
    ----------
    source : str, Path, bytes, dict or list
        A ``.json`` file, JSON bytes, a ``Bundle`` dict, one resource, or a list of resources.
    marker : {"ca125", "cea"}
        The marker read (LOINC 10334-1 or 2039-6); observations of the other are listed as
        skipped.
    treatment_start : date, str, or mapping of patient_id to date, optional
        First dose of the line, given explicitly: one date for every patient or one per
        patient. It takes precedence over the administrations of the line's drugs in the bundle.
    uln : float, optional
        ULN for samples without ``referenceRange.high``. Default: 35 U/mL for CA-125 (the
        package's default); for CEA such samples are skipped unless ``uln`` is given.
    event_codes : mapping of str to str, optional
        Further SNOMED CT procedure codes (code -> event kind) read as exclusion events, beside
        :data:`EVENT_SNOMED` (paracentesis, thoracentesis), e.g. a site's surgical procedures
        ``{"387713003": "surgery"}`` (:func:`~ca125kinetics.sources._codes.exclusion_events`).
    max_bytes : int
        Largest file or body read.
    line_gap_days : int
        Doses of the line's drugs of a patient more than this many days apart are two lines
        (:data:`~ca125kinetics.sources._codes.LINE_GAP_DAYS`, 90): such a patient gets no
        treatment start from the bundle (which line is day 0 is ambiguous) and a skipped row
        naming each line's first dose; pass ``treatment_start`` for them.
    drug_codes : mapping of str to str, optional
        Further RxNorm codes (code -> drug name) whose administrations are the line's doses,
        beside the carboplatin and cisplatin ingredients and ATC classes read by default
        (:func:`~ca125kinetics.sources._codes.line_drugs`): a clinical drug coded without its
        ingredient, such as ``{"597195": "carboplatin"}`` ("carboplatin 10 MG/ML Injectable
        Solution"), or another agent of the line. A code is never looked up: an
        administration coded otherwise is listed as skipped.

    Returns
    -------
    SourceRead
        ``markers`` (provenance column ``resource_id``, e.g. ``"Observation/abc"``),
        ``skipped`` and ``treatment_starts``. Pass ``result.markers`` to
        :func:`ca125kinetics.io.read_markers` (or a ``.json`` path directly, which does both).

    Raises
    ------
    InvalidInputError
        Not JSON, too large, not a FHIR R4 Bundle envelope, a bad ``treatment_start``.
    NoMarkerDataError
        No usable value of ``marker`` (the message lists what was skipped and why).
    MissingDependencyError
        ``fhir.resources`` is not installed (``pip install 'ca125kinetics[fhir]'``).
    """
    spec = marker_code(marker)
    check_uln(uln, spec)
    rxnorm = line_drugs(drug_codes)
    event_codes = exclusion_events(event_codes)
    models = _models()
    data, label = _load(source, max_bytes)
    entries = _entries(data, label, models)
    context = _Context(entries)
    other = {m.loinc: m for m in MARKERS.values() if m.name != spec.name}
    rows: list[dict] = []
    skipped: list[tuple] = []
    administered: dict[str, list[tuple[str, str]]] = {}
    requested: dict[str, list[tuple[str, str]]] = {}
    unsure: dict[str, list[tuple[str, str, str]]] = {}   # administrations that may or may not be a dose
    # doses on a day unknown (a month or a year, a period's end alone): (first and last possible
    # day, resource, what was written)
    imprecise: dict[str, list[tuple[str, str, str, str]]] = {}
    offsets: dict[str, set] = {}      # the UTC offsets each patient's times are written in

    # one resource given twice (overlapping exports, pages, _include): read once when the copies
    # are identical; copies that differ (versions) leave which one holds ambiguous
    copies: dict[str, list] = {}
    for i, (full_url, res) in enumerate(entries):
        if isinstance(res, dict):
            copies.setdefault(_resource_id(res, full_url, i), []).append(res)
    copies = {rid: [json.dumps(r, sort_keys=True) for r in found] for rid, found in copies.items() if len(found) > 1}
    read_once: set[str] = set()

    for i, (full_url, res) in enumerate(entries):
        if not isinstance(res, dict):
            skipped.append((f"entry[{i}]", None, None, "entry has no resource object"))
            continue
        kind = res.get("resourceType")
        rid = _resource_id(res, full_url, i)
        if len(set(copies.get(rid, ()))) > 1:
            skipped.append((rid, context.patient(res)[0], kind,
                            f"appears {len(copies[rid])} times with different content (versions of one resource?): "
                            "which one holds is ambiguous; export one version of it"))
            continue
        if rid in read_once:
            skipped.append((rid, context.patient(res)[0], kind, "appears again, identical: read once"))
            continue
        read_once.add(rid)
        if kind not in _READ_TYPES:
            skipped.append((rid, None, kind, f"resource type {kind!r} is not read"))
            continue
        try:
            models[kind].model_validate(res)
        except Exception as exc:  # pydantic ValidationError: not a valid R4 resource
            skipped.append((rid, None, kind, f"not a valid FHIR R4 {kind}: {_first_error(exc)}"))
            continue
        if kind in ("Patient", "Medication"):
            continue
        pid, problem = context.patient(res)

        def skip(reason: str) -> None:
            skipped.append((rid, pid, kind, reason))

        modifier = _modifier_reason(res)
        if modifier:
            skip(modifier)
            continue
        if kind == "Observation":
            loinc = _codes(res.get("code"), LOINC)
            coded = [m for m in MARKERS.values() if m.loinc in loinc]
            if len(coded) > 1:
                skip("coded as both " + " and ".join(f"{m.label} (LOINC {m.loinc})" for m in coded)
                     + ": which marker the value is is ambiguous; correct Observation.code at the source")
                continue
            if spec.loinc not in loinc:
                hit = next((other[c] for c in loinc if c in other), None)
                skip(f"{hit.label} (LOINC {hit.loinc}), not the marker read: pass marker='{hit.name}'" if hit
                     else f"LOINC {loinc} is not {spec.label} ({spec.loinc})" if loinc
                     else "no LOINC code: CA-125 is LOINC 10334-1, CEA 2039-6")
                continue
            row = _observation(res, spec, uln, problem)
            if isinstance(row, str):
                skip(row)
                continue
            rows.append({"patient_id": pid, **row, "resource_id": rid})
            offsets.setdefault(pid, set()).add(_offset(res, "effective"))
        elif kind == "Procedure":
            snomed = [c for c in _codes(res.get("code"), SNOMED) if c in event_codes]
            if not snomed:
                skip("procedure is not coded (SNOMED CT) as an exclusion event: "
                     f"{dict(event_codes)}; a site's code of one (e.g. a surgical procedure) is added with "
                     "event_codes={'387713003': 'surgery'}, command line --event-code 387713003=surgery")
                continue
            kinds = sorted({event_codes[c] for c in snomed})
            if len(kinds) > 1:
                skip(f"coded as both {' and '.join(kinds)}: which exclusion window applies is ambiguous")
                continue
            if res.get("status") not in _PROCEDURE_STATUS:
                skip(f"status {res.get('status')!r}: only begun procedures (completed, in-progress, stopped) "
                     "are events")
                continue
            day, when = _when(res, "performed")
            if problem or when:
                skip(problem or when)
                continue
            offsets.setdefault(pid, set()).add(_offset(res, "performed"))
            rows.append({"patient_id": pid, "date": day, "ca125": float("nan"), "censored": False,
                         "uln": float("nan"), "assay": None, "event": event_codes[snomed[0]],
                         "resource_id": rid})
        else:  # MedicationAdministration / MedicationRequest
            concepts = context.medication(res)
            ref = (res.get("medicationReference") or {}).get("reference")
            if not concepts and res.get("medicationCodeableConcept") is None and ref:
                skip(f"medicationReference {ref!r} is not in the bundle (nor contained): which drug was given is "
                     "unknown; export the Medication resources with the bundle (Patient/$everything leaves them "
                     "out) or code the drug in medicationCodeableConcept")
                continue
            drug = _line_drug(concepts, rxnorm)
            if drug is None:
                skip("not a drug of the line (carboplatin/cisplatin by RxNorm ingredient or ATC code, in the "
                     "drug's code or a Medication.ingredient, or a code given in drug_codes; a clinical-drug code "
                     "is not looked up: add it with drug_codes={'597195': 'carboplatin'}, command line "
                     "--drug-code 597195=carboplatin)")
                continue
            allowed = _ADMINISTRATION_STATUS if kind == "MedicationAdministration" else _REQUEST_STATUS
            if kind == "MedicationAdministration" and res.get("status") in _UNSURE_ADMINISTRATION_STATUS:
                day, _ = _when(res, "effective")
                if day is not None and not problem:
                    unsure.setdefault(pid, []).append((day, rid, res["status"]))
            if res.get("status") not in allowed:
                skip(f"status {res.get('status')!r}: read only when {' or '.join(allowed)}")
                continue
            if kind == "MedicationAdministration":
                day, when = _when(res, "effective")
            else:
                day, when = _planned_start(res)
            if problem or when:
                vague = _vague_dose(res) if kind == "MedicationAdministration" and not problem else None
                if vague:       # a dose of the line on a day unknown: never guessed
                    imprecise.setdefault(pid, []).append((*vague[:2], rid, vague[2]))
                skip(problem or when)
                continue
            (administered if kind == "MedicationAdministration" else requested).setdefault(pid, []).append((day, rid))
            if kind == "MedicationAdministration":
                offsets.setdefault(pid, set()).add(_offset(res, "effective"))

    if not any(r["event"] is None for r in rows):
        raise NoMarkerDataError(no_marker_message(spec, skipped_frame(skipped), label), source=None)
    starts, lines = _treatment_starts(administered, requested, treatment_start, {r["patient_id"] for r in rows},
                                      line_gap_days, unsure, imprecise)
    skipped_table = skipped_frame(skipped + lines)
    markers = pd.DataFrame(rows, columns=["patient_id", "date", "ca125", "censored", "uln", "assay", "event",
                                          "resource_id"])
    start_of = dict(zip(starts["patient_id"], starts["treatment_start"]))
    markers.insert(7, "treatment_start", markers["patient_id"].map(start_of).astype(object))
    markers["treatment_start"] = markers["treatment_start"].where(markers["treatment_start"].notna(), None)
    markers.insert(8, "marker", spec.name)
    markers = events_take_sample_uln(markers)
    notes = _mixed_offsets(offsets, label)
    return SourceRead(markers=markers, skipped=skipped_table, treatment_starts=starts, marker=spec, source=label,
                      notes=notes)


def _mixed_offsets(offsets: Mapping[str, set], label: str) -> dict[str, str]:
    """A :class:`DataQualityWarning` naming the patients whose times are written in more than
    one UTC offset: a day is taken as written in each (never shifted), so one instant written
    in two offsets (22:00-05:00 and 03:00Z) falls on two days, and the days between a sample and
    the first dose can be a day off. Returns each such patient's note (``SourceRead.notes``;
    the web API answers with it)."""
    import warnings

    from ..errors import DataQualityWarning

    mixed = sorted(p for p, seen in offsets.items() if len(seen - {None}) > 1)
    if mixed:
        shown = "; ".join(f"{p}: {', '.join(sorted(offsets[p] - {None}))}" for p in mixed[:5])
        warnings.warn(
            f"{label}: {len(mixed)} patient(s) have times written in more than one UTC offset ({shown}"
            f"{'; ...' if len(mixed) > 5 else ''}); each day is the day as written, never shifted, so one instant "
            "written in two offsets falls on two days: check that the days from the first dose are right",
            DataQualityWarning, stacklevel=3)
    return {p: f"times written in more than one UTC offset ({', '.join(sorted(offsets[p] - {None}))}): each day is "
               "the day as written, never shifted, so one instant written in two offsets falls on two days: check "
               "that the days from the first dose are right" for p in mixed}


def _observation(res: Mapping, spec: MarkerCode, uln: float | None, problem: str | None) -> dict | str:
    """The markers row of one marker Observation, or why it is skipped."""
    if res.get("status") not in _OBSERVATION_STATUS:
        return f"status {res.get('status')!r}: only final, amended or corrected results are read"
    if problem:
        return problem
    day, when = _when(res, "effective")
    if when:
        return when
    q = res.get("valueQuantity")
    if not isinstance(q, dict):
        absent = res.get("dataAbsentReason")
        given = next((k for k in res if k.startswith("value")), None)
        return (f"no value ({given} instead of valueQuantity)" if given
                else f"no value (dataAbsentReason {_codes(absent, 'http://terminology.hl7.org/CodeSystem/data-absent-reason') or absent})")
    if q.get("value") is None:
        return "valueQuantity has no value"
    if res.get("dataAbsentReason") is not None:
        # R4 obs-6: a reason for a missing value only where there is no value; the laboratory
        # says the value is absent (an error, not a number...) and gives one: which holds is ambiguous
        absent = res["dataAbsentReason"]
        return (f"valueQuantity and dataAbsentReason "
                f"{_codes(absent, 'http://terminology.hl7.org/CodeSystem/data-absent-reason') or absent} are both "
                "given (not valid R4, obs-6): whether the value holds is ambiguous; correct the result at the source")
    comparator = q.get("comparator")
    if comparator not in (None, "<", "<=", ">", ">="):
        return (f"comparator {comparator!r} is not one of FHIR R4's <, <=, >=, >: the value is neither plain "
                "nor censored; correct valueQuantity.comparator at the source")
    factor, unit_problem = _unit_factor(q, spec)
    if unit_problem:
        return unit_problem
    value = float(q["value"]) * factor
    if comparator in (">", ">="):
        # a sample drawn, its value unknown: kept as written, so that the markers reader refuses
        # it as it refuses '>5000' in a file and the patient is not read as if it were not drawn
        # (skipped, a pretreatment '>5000' let an earlier, lower sample become the baseline)
        value = f"{comparator}{value:g}"
    limit = spec.default_uln if uln is None else float(uln)
    ranges = [r for r in res.get("referenceRange", []) or [] if isinstance(r, dict)]
    highs = [r.get("high") for r in ranges if r.get("high")]
    texts = [r["text"] for r in ranges if r.get("text")]
    if highs:
        values = set()
        for high in highs:
            if not isinstance(high, dict) or high.get("value") is None:
                return ("referenceRange.high has no value (a unit alone): the ULN the laboratory states is unknown; "
                        "correct the range at the source, or remove it and pass uln=")
            f, p = _unit_factor(high, spec)
            if p:
                return f"referenceRange.high: {p}"
            try:
                limit_here = float(high["value"]) * f
            except (TypeError, ValueError):
                limit_here = math.nan
            if not (math.isfinite(limit_here) and limit_here > 0):
                return f"referenceRange.high value {high['value']!r} is not a positive number: the ULN is unknown"
            values.add(limit_here)
        if len(values) > 1:
            return f"referenceRange holds different upper limits {sorted(values)}: which ULN applies is ambiguous"
        limit = values.pop()
    elif uln is None and texts:
        # the laboratory stated its range, only as text: the default ULN may not be it
        return (f"referenceRange {texts[0]!r} has no high value: the ULN it states is not read from text; "
                f"pass uln=... ({spec.unit}) to say which ULN applies")
    elif limit is None:
        return (f"no referenceRange.high and no uln given: the {spec.label} ULN is needed "
                "(pass uln=... in ng/mL)")
    method = res.get("method") if isinstance(res.get("method"), dict) else {}
    coding = (method.get("coding") or [{}])[0] if method else {}
    assay = method.get("text") or coding.get("display") or coding.get("code")
    return {"date": day, "ca125": value, "censored": comparator in ("<", "<="), "uln": limit,
            "assay": assay, "event": None}


#: ``MedicationRequest.intent`` values that order the drug (a proposal, plan, directive or
#: option does not: its planned start is no first dose).
_ORDER_INTENTS = ("order", "original-order", "reflex-order", "filler-order", "instance-order")


def _modifier_reason(res: Mapping) -> str | None:
    """Why a resource is not read for what its modifier elements say (R4: a reader must not
    process a resource as if a modifier it does not act on were absent), or None: any
    ``modifierExtension``; a MedicationRequest with ``doNotPerform`` (an instruction not to
    give the drug) or an ``intent`` that orders nothing."""
    extension = res.get("modifierExtension")
    if extension:
        urls = ", ".join(str((e or {}).get("url", "?")) for e in extension[:3])
        return (f"carries a modifierExtension ({urls}), which changes the meaning of the resource in a way "
                "this reader does not know: not read")
    if res.get("resourceType") == "MedicationRequest":
        if res.get("doNotPerform") is True:
            return "doNotPerform: an instruction not to give the drug, not a dose"
        intent = res.get("intent")
        if intent not in _ORDER_INTENTS:
            return f"intent {intent!r}: read only when it orders the drug ({', '.join(_ORDER_INTENTS)})"
    return None


def _planned_start(res: Mapping) -> tuple[str | None, str | None]:
    for dosage in res.get("dosageInstruction", []) or []:
        period = (((dosage or {}).get("timing") or {}).get("repeat") or {}).get("boundsPeriod") or {}
        if period.get("start"):
            day = _day(period["start"])
            return (day, None) if day else (None, f"planned start {period['start']!r} is not precise to the day")
    return None, "no dosageInstruction.timing.repeat.boundsPeriod.start (the planned first dose)"


def _treatment_starts(administered, requested, given, patients: Iterable[str],
                      gap_days: int, unsure: Mapping[str, list] | None = None,
                      imprecise: Mapping[str, list] | None = None) -> tuple[pd.DataFrame, list[tuple]]:
    """First administration of the line's drugs per patient, else planned start; ``given`` wins. A
    patient whose doses span more than one line gets none (and a skipped row saying why); the
    planned starts of a patient with administrations count toward the lines. So does a patient
    with an administration of ``unsure`` status (on-hold, unknown) before the first dose read:
    had it been given, day 0 would be its day; and one with a dose dated to a month or a year
    only (``imprecise``: first day, last day, resource, date as written) that may fall before
    the first dose read, or more than ``gap_days`` after the last (another line)."""
    rows, chosen = [], {}
    refuse_near_miss_starts(given, patients)
    for pid in sorted(p for p in set(patients) | set(administered) | set(requested) if p is not None):
        if given is not None and not isinstance(given, Mapping):
            rows.append((pid, as_day(given, "every patient"), "given"))
        elif isinstance(given, Mapping) and given.get(pid) is not None:
            rows.append((pid, as_day(given[pid], f"patient {pid!r}"), "given"))
        else:
            chosen[pid] = True
    # a patient's requests count toward the lines too: an old line's administrations beside a
    # later line only ordered would otherwise make the old line's first dose day 0, silently
    with_requests = {p: administered[p] + requested[p] for p in chosen if p in administered and p in requested}
    several = {row[1]: row for row in first_doses(with_requests, gap_days, "MedicationAdministration")[1]}
    starts, skipped = first_doses({p: administered[p] for p in chosen if p in administered and p not in several},
                                  gap_days, "MedicationAdministration")
    skipped += list(several.values())
    planned, more = first_doses({p: requested[p] for p in chosen if p in requested and p not in administered},
                                gap_days, "MedicationRequest")
    found = {**starts, **planned}
    for pid, (day, rid) in sorted(found.items()):
        earlier = sorted(u for u in (unsure or {}).get(pid, ()) if u[0] < day)
        if earlier:
            del found[pid]
            more.append((earlier[0][1], pid, "MedicationAdministration",
                         f"an administration of status {earlier[0][2]!r} on {earlier[0][0]}, before the first dose "
                         f"read ({day}, {rid}): whether the line began that day is unknown, so day 0 is ambiguous; "
                         "pass treatment_start= (a date per patient) or give the line's first dose as "
                         "treatment_start in the clinical table"))
    for pid, (day, rid) in sorted(found.items()):
        last = max(d for d, _ in administered.get(pid, requested.get(pid, [(day, rid)])))
        last_line = (_dt.date.fromisoformat(last) + _dt.timedelta(days=gap_days)).isoformat()
        vague = [v for v in (imprecise or {}).get(pid, ()) if v[0] < day or v[1] > last_line]
        if vague:
            first, _, source, written = vague[0]
            where = (f"before the first dose read ({day}, {rid})" if first < day
                     else f"a dose of another line (more than {gap_days} days after the last dose read, {last})")
            del found[pid]
            more.append((source, pid, "MedicationAdministration",
                         f"a dose {written} may be {where}: the day is not "
                         "guessed, so day 0 is ambiguous; give the dose's day at the source, or pass treatment_start= "
                         "(a date per patient) or give the line's first dose as treatment_start in the clinical table"))
    rows += [(pid, day, rid) for pid, (day, rid) in found.items()]
    frame = pd.DataFrame(sorted(rows), columns=["patient_id", "treatment_start", "source"]).astype(object)
    return frame, skipped + more


# --------------------------------------------------------------------------- write


def write_fhir(bundle: Mapping, path) -> Path:
    """Write a Bundle (or any FHIR JSON) to ``path`` as compact UTF-8 JSON, whole or not at all
    (:func:`ca125kinetics._atomic.write_file`)."""
    from .._atomic import write_file

    return write_file(path, json.dumps(bundle, separators=(",", ":"), allow_nan=False))


def score_request_from_fhir(body: bytes, *, max_bytes: int = MAX_BUNDLE_BYTES,
                            drug_codes: Mapping[str, str] | None = None,
                            event_codes: Mapping[str, str] | None = None) -> tuple[dict, int, list[str]]:
    """A one-patient FHIR bundle as the JSON body of ``POST /api/score``, the number of
    resources skipped, and the reader's notes on the patient (``SourceRead.notes``: times
    written in more than one UTC offset), which the API answers with.

    Samples keep their dates and assays, the treatment start comes from the bundle's first dose of the
    line (platinum, or a drug of ``drug_codes``, as :func:`read_fhir`), events from its
    procedures (those of :data:`EVENT_SNOMED` and ``event_codes``); the clinical factors are
    left unknown.

    Raises
    ------
    InvalidInputError
        Not one patient, samples with different ULNs, a sample above the measuring range
        (``valueQuantity.comparator`` ``>``), or anything :func:`read_fhir` refuses.
    """
    result = read_fhir(body, max_bytes=max_bytes, drug_codes=drug_codes, event_codes=event_codes)
    m = result.markers
    ids = sorted(set(m["patient_id"]))
    if len(ids) != 1:
        raise InvalidInputError(f"the bundle holds {len(ids)} patients ({', '.join(ids[:3])}); send one patient "
                                "per request", column="patient_id")
    ulns = sorted(set(m.loc[m["event"].isna(), "uln"]))
    if len(ulns) > 1:
        raise InvalidInputError(f"the samples carry different ULNs {ulns}; GCIG needs one assay and ULN")
    above = [r for r in m.itertuples(index=False) if isinstance(r.ca125, str)]
    if above:   # a sample drawn whose value is unknown: the series cannot be read without it
        r = above[0]
        raise InvalidInputError(
            f"the {result.marker.label} sample of {r.date} ({r.resource_id}) is above the measuring range "
            f"({r.ca125} {result.marker.unit}): its value is unknown, and the series cannot be read without it "
            "(it may be the baseline); ask the laboratory for the diluted result", column="ca125")
    # each sample's assay (its method) goes with it: an assay change from the baseline on makes
    # the GCIG response not evaluable, as when the bundle is read as a file
    samples = [{"date": r.date, "ca125": None if pd.isna(r.ca125) else float(r.ca125), "censored": bool(r.censored),
                "event": r.event, **({} if pd.isna(r.assay) or pd.notna(r.event) else {"assay": str(r.assay)})}
               for r in m.itertuples(index=False)]
    request = {"patient_id": ids[0], "samples": samples, "uln": ulns[0]}
    start = m["treatment_start"].iloc[0]
    if start is not None:
        request["treatment_start"] = start
    return request, len(result.skipped), [result.notes[ids[0]]] if ids[0] in result.notes else []


# --------------------------------------------------------------------------- RiskAssessment


def risk_assessment(prediction, *, occurrence: _dt.date | str | None = None) -> dict:
    """A scored patient as a FHIR R4 ``RiskAssessment`` (JSON-ready dict).

    ``prediction[0]`` holds the probability of complete resection at secondary
    cytoreduction (``probabilityDecimal``) and, as ``qualitativeRisk`` text, the decision;
    the interval, the rule that fired and the model go to ``rationale`` and ``note``.
    ``method.text`` names the model and its version; ``status`` is ``final`` for a scored
    patient and ``cancelled`` (no prediction, the reason in ``note``) otherwise.

    Parameters
    ----------
    prediction : Prediction
        From :func:`ca125kinetics.predict`.
    occurrence : date or str, optional
        When the assessment was made (``occurrenceDateTime``, the day): a date object or ISO
        text ``YYYY-MM-DD`` (a time after it is dropped, the day kept as written); ``2026-03``
        or ``01/03/2026`` is refused, never completed to a day or read month-first. Left out
        when not given.
    """
    model = prediction.model or {}
    synthetic = bool(model.get("trained_on_synthetic"))
    notes = [prediction.recommendation,
             "Research software, not a medical device."
             + (" Model trained on synthetic data: not for clinical decisions." if synthetic else "")]
    pid = str(prediction.patient_id)
    ra: dict[str, Any] = {
        "resourceType": "RiskAssessment",
        "status": "final" if prediction.status == "ok" else "cancelled",
        "subject": {"reference": f"Patient/{pid}"} if _FHIR_ID_RE.match(pid) else {"display": pid},
        "method": {"text": f"ca125kinetics model {model.get('name', '')} {model.get('version', '')}".strip()},
    }
    if occurrence is not None:
        ra["occurrenceDateTime"] = as_day(occurrence, f"the RiskAssessment of patient {pid!r}", name="occurrence")
    if prediction.status == "ok" and prediction.probability == prediction.probability:
        ra["prediction"] = [{
            "outcome": {"text": "complete resection (no macroscopic residual disease) at secondary cytoreduction"},
            "probabilityDecimal": round(float(prediction.probability), 6),
            "qualitativeRisk": {"text": prediction.decision},
            "rationale": (f"interval {prediction.p_low:.3f}-{prediction.p_high:.3f}; threshold "
                          f"{prediction.threshold:.2f}; {prediction.rule}"),
        }]
    else:       # an ``insufficient`` patient was scored: only its decision is withheld
        notes.insert(0, f"{'no decision' if prediction.status == 'insufficient' else 'not scored'}: "
                        f"{prediction.reason}")
    ra["note"] = [{"text": t} for t in notes if t]
    return ra


def __getattr__(name: str):
    # cohort_to_fhir reads tables with ca125kinetics.io, which reads .json bundles with this
    # module: it lives in fhir_cohort (no import cycle) and is re-exported here
    if name == "cohort_to_fhir":
        from .fhir_cohort import cohort_to_fhir

        return cohort_to_fhir
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
