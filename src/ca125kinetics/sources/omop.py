"""Read CA-125 or CEA of a cohort from an OMOP CDM v5.4 database; write a cohort as OMOP tables.

Reading (:func:`read_omop`)
---------------------------
Through SQLAlchemy: an embedded DuckDB file (``duckdb:///cdm.duckdb``, the default kind of
database here) or PostgreSQL (``postgresql+psycopg://user@host/db``). Every concept is found
through the vocabulary tables, never by a hard-coded ``concept_id``:

* the marker: ``measurement.measurement_concept_id`` is the concept with
  ``vocabulary_id = 'LOINC'`` and ``concept_code`` 10334-1 (CA-125) or 2039-6 (CEA); rows of
  the other marker are listed as skipped;
* the comparator: ``operator_concept_id`` is looked up in the ``Meas Value Operator``
  vocabulary by its name: ``<``/``<=`` give a censored value (the limit), ``=`` a plain value,
  ``>``/``>=`` (above the measuring range) keep the value as written (``">5000"``), which the
  markers reader refuses as in a file (the patient is ``invalid_input`` with the reason, not
  read as if the sample had not been drawn); with none, the comparator written in
  ``value_source_value`` (else a plain value). ``value_source_value`` is checked against the
  row (a comparator contradicting the operator, a number that is not ``value_as_number``:
  skipped), never read in its place;
* the unit: ``unit_concept_id`` must be a ``UCUM`` concept among the marker's units
  (:data:`~ca125kinetics.sources.MARKERS`; converted to U/mL or ng/mL), else the row is
  refused; ``range_high`` (in the row's unit) is the ULN;
* the treatment start: the first ``drug_exposure_start_date`` of a drug descending (through
  ``concept_ancestor``) from the RxNorm ingredients carboplatin (40048) or cisplatin (2555), or
  from the ATC classes L01XA02/L01XA01, when the exposures form one line (none, and a skipped
  row, for a person with exposures more than ``line_gap_days`` apart); only exposures of the
  ``drug_types`` given (``drug_type_concept_id``: a prescription's date is not a dose's), and
  without them none for a person whose first exposure differs by type; or given explicitly;
* exclusion events: ``procedure_occurrence`` rows of the SNOMED paracentesis/thoracentesis
  concepts (61515000, 91602002) or of a procedure descending from them (through
  ``concept_ancestor``); one descending from both is listed as skipped.

``measurement_date`` is the sample's day. ``measurement_source_value`` (the local laboratory
code, which names the assay in most source systems) is read as the assay; pass
``assay_column=None`` to leave it out. ``patient_id`` is ``person_id``, or
``person.person_source_value`` when asked (persons sharing one are skipped, not merged); a
person in a cohort in several eras is read once. Every imported row keeps its ``measurement_id``
(or ``procedure_occurrence_id``); every row not imported is listed with its reason.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import math
import numbers
import re
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from ..errors import Ca125KineticsError, InvalidInputError, NoMarkerDataError, hide_password
from ._codes import (EVENT_SNOMED, LINE_GAP_DAYS, MARKERS, PLATINUM_ATC, PLATINUM_RXNORM, MarkerCode, SourceRead,
                     as_day, check_uln, events_take_sample_uln, exclusion_events, first_doses, line_drugs,
                     marker_code,
                     no_marker_message, refuse_near_miss_starts, require, skipped_frame)

__all__ = ["read_omop", "cohort_to_omop", "write_omop", "OMOP_TABLES", "SYNTHETIC_CONCEPT_BASE"]

#: CDM v5.4 tables this module reads (and :func:`write_omop` creates, with the columns used).
OMOP_TABLES = ("concept", "concept_ancestor", "person", "measurement", "drug_exposure",
               "procedure_occurrence", "cohort")
#: First concept_id of the synthetic vocabulary written by :func:`cohort_to_omop`; these ids
#: are not Athena's (the reader finds concepts by code, so any ids work).
SYNTHETIC_CONCEPT_BASE = 2_000_000_000
_OPERATORS = {"<": "censored", "<=": "censored", "=": "plain", ">": "above", ">=": "above"}
_SOURCE_VALUE_RE = re.compile(r"^\s*(<=|>=|<|>|=)?\s*(\d[\d.,]*)\s*([^\d\s].*?)?\s*$")
#: A comparator written otherwise than the pattern reads (``≤5``, ``less than 5``, ``< 5 (below
#: limit)``...): the value may be censored, which the number alone does not say.
_OTHER_COMPARATOR_RE = re.compile(r"[<>≤≥≦≧≪≫]|\b(less|lower|below|under|greater|more|above|over|lt|gt|le|ge)\b",
                                  re.IGNORECASE)


def _source_value(text) -> tuple[str | None, set[float], str | None]:
    """What a ``value_source_value`` (the laboratory's result text) says.

    Returns the kind of the comparator written in it (``"censored"`` for ``<``/``<=``,
    ``"above"``, ``"plain"`` for ``=``; None when none is written or the text is not a
    number), its possible readings, and the unit written after the number (or None).
    ``12,5`` is 12.5 (a thousands separator groups three digits); ``1,250`` may be 1250 or
    1.25, both kept: the number is read by the markers reader's number parser under each
    convention.
    """
    from ..io import _parse_numbers

    m = _SOURCE_VALUE_RE.match(text) if isinstance(text, str) else None
    if m is None:
        return None, set(), None
    body = np.array([m.group(2)], dtype=object)
    readings = {float(v[0]) for dec, sep in ((".", None), (".", ","), (",", None), (",", "."))
                if not np.isnan(v := _parse_numbers(body, dec, sep))[0]}
    return (_OPERATORS[m.group(1)] if m.group(1) else None), readings, m.group(3)


# --------------------------------------------------------------------------- schema


def _metadata(schema: str | None):
    """SQLAlchemy tables of the CDM v5.4 subset used (column types as in the CDM DDL)."""
    sa = require("sqlalchemy", "omop", "reading OMOP CDM databases")
    md = sa.MetaData(schema=schema)
    big, integer, date, text, num = sa.BigInteger, sa.Integer, sa.Date, sa.String, sa.Double
    sa.Table("concept", md, sa.Column("concept_id", integer, primary_key=True, autoincrement=False),
             sa.Column("concept_name", text(255), nullable=False), sa.Column("domain_id", text(20), nullable=False),
             sa.Column("vocabulary_id", text(20), nullable=False),
             sa.Column("concept_class_id", text(20), nullable=False), sa.Column("standard_concept", text(1)),
             sa.Column("concept_code", text(50), nullable=False), sa.Column("valid_start_date", date, nullable=False),
             sa.Column("valid_end_date", date, nullable=False), sa.Column("invalid_reason", text(1)))
    sa.Table("concept_ancestor", md, sa.Column("ancestor_concept_id", integer, nullable=False),
             sa.Column("descendant_concept_id", integer, nullable=False),
             sa.Column("min_levels_of_separation", integer, nullable=False),
             sa.Column("max_levels_of_separation", integer, nullable=False))
    sa.Table("person", md, sa.Column("person_id", big, primary_key=True, autoincrement=False),
             sa.Column("gender_concept_id", integer, nullable=False), sa.Column("year_of_birth", integer, nullable=False),
             sa.Column("race_concept_id", integer, nullable=False),
             sa.Column("ethnicity_concept_id", integer, nullable=False), sa.Column("person_source_value", text(50)))
    sa.Table("measurement", md, sa.Column("measurement_id", big, primary_key=True, autoincrement=False),
             sa.Column("person_id", big, nullable=False), sa.Column("measurement_concept_id", integer, nullable=False),
             sa.Column("measurement_date", date, nullable=False), sa.Column("measurement_datetime", sa.DateTime),
             sa.Column("measurement_type_concept_id", integer, nullable=False),
             sa.Column("operator_concept_id", integer), sa.Column("value_as_number", num),
             sa.Column("value_as_concept_id", integer), sa.Column("unit_concept_id", integer),
             sa.Column("range_low", num), sa.Column("range_high", num),
             sa.Column("measurement_source_value", text(50)), sa.Column("unit_source_value", text(50)),
             sa.Column("value_source_value", text(50)))
    sa.Table("drug_exposure", md, sa.Column("drug_exposure_id", big, primary_key=True, autoincrement=False),
             sa.Column("person_id", big, nullable=False), sa.Column("drug_concept_id", integer, nullable=False),
             sa.Column("drug_exposure_start_date", date, nullable=False),
             sa.Column("drug_exposure_end_date", date, nullable=False),
             sa.Column("drug_type_concept_id", integer, nullable=False), sa.Column("drug_source_value", text(50)))
    sa.Table("procedure_occurrence", md, sa.Column("procedure_occurrence_id", big, primary_key=True, autoincrement=False),
             sa.Column("person_id", big, nullable=False), sa.Column("procedure_concept_id", integer, nullable=False),
             sa.Column("procedure_date", date, nullable=False),
             sa.Column("procedure_type_concept_id", integer, nullable=False),
             sa.Column("procedure_source_value", text(50)))
    sa.Table("cohort", md, sa.Column("cohort_definition_id", integer, nullable=False),
             sa.Column("subject_id", big, nullable=False), sa.Column("cohort_start_date", date, nullable=False),
             sa.Column("cohort_end_date", date, nullable=False))
    return md


def _engine(url: str, *, read_only: bool = False):
    """An engine for ``url``; a DuckDB file read is opened read-only and must exist (DuckDB
    would otherwise create an empty database and report missing tables)."""
    sa = require("sqlalchemy", "omop", "reading OMOP CDM databases")
    connect_args = {}
    if str(url).startswith("duckdb"):
        require("duckdb_engine", "omop", "a DuckDB OMOP database")
        database = sa.engine.make_url(url).database
        if read_only and database and database != ":memory:":
            if not Path(database).is_file():
                raise InvalidInputError("DuckDB file not found; check the path in the URL "
                                        "(duckdb:///relative/path.duckdb or duckdb:////absolute/path.duckdb)",
                                        source=str(url))
            connect_args = {"read_only": True}
    elif str(url).startswith("postgresql"):
        require("psycopg", "omop", "a PostgreSQL OMOP database")
    try:
        return sa.create_engine(url, connect_args=connect_args)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ValueError) as exc:
        raise InvalidInputError(hide_password(f"{url!r} is not a database URL SQLAlchemy can use ({exc}); e.g. "
                                               "duckdb:///cdm.duckdb or postgresql+psycopg://user@host/db")) from exc


def _label(engine) -> str:
    return engine.url.render_as_string(hide_password=True)


# --------------------------------------------------------------------------- read


def read_omop(url: str, *, marker: str = "ca125", cohort_id: int | None = None,
              person_ids: Iterable[int] | None = None, patient_id: str = "person_id",
              treatment_start=None, uln: float | None = None, schema: str | None = None,
              assay_column: str | None = "measurement_source_value",
              event_codes: Mapping[str, str] | None = None, line_gap_days: int = LINE_GAP_DAYS,
              drug_codes: Mapping[str, str] | None = None, drug_types: Iterable[int] | None = None) -> SourceRead:
    """Extract one marker's values, exclusion events and treatment starts of a cohort.

    Parameters
    ----------
    url : str
        SQLAlchemy URL: ``duckdb:///path/cdm.duckdb`` or ``postgresql+psycopg://...``.
    marker : {"ca125", "cea"}
        The marker read (LOINC 10334-1 or 2039-6).
    cohort_id : int, optional
        Read the persons of ``cohort`` rows with this ``cohort_definition_id``.
    person_ids : iterable of int, optional
        Read these persons. Without ``cohort_id`` or ``person_ids``, every person.
    patient_id : {"person_id", "person_source_value"}
        Which column identifies the patient in the markers table.
    treatment_start : date, str or mapping of patient_id to date, optional
        Given explicitly; takes precedence over ``drug_exposure``.
    uln : float, optional
        ULN where ``range_high`` is empty: default 35 U/mL for CA-125; for CEA such rows are
        skipped unless given.
    schema : str, optional
        Schema of the CDM tables (PostgreSQL: e.g. ``cdm``); default the connection's.
    assay_column : str or None
        ``measurement`` column read as the assay (default ``measurement_source_value``).
    event_codes : mapping of str to str, optional
        Further SNOMED CT procedure codes (code -> event kind) read as exclusion events, with
        every procedure descending from them, beside :data:`EVENT_SNOMED` (paracentesis,
        thoracentesis), e.g. ``{"387713003": "surgery"}``
        (:func:`~ca125kinetics.sources._codes.exclusion_events`).
    line_gap_days : int
        Exposures to the line's drugs of a person more than this many days apart are two lines (90 by
        default): such a person gets no treatment start (which line is day 0 is ambiguous)
        and a skipped row naming each line's first dose; pass ``treatment_start`` for them.
    drug_codes : mapping of str to str, optional
        Further RxNorm codes (code -> drug name) whose exposures, and those of every drug
        descending from them in ``concept_ancestor``, are the line's doses, beside carboplatin
        and cisplatin (:func:`~ca125kinetics.sources._codes.line_drugs`): e.g. another agent
        of the line by its ingredient. The clinical drugs of an ingredient are found through
        the vocabulary already.
    drug_types : iterable of int, optional
        The ``drug_type_concept_id``s whose exposures are doses (e.g. the site's "EHR
        administration record"); exposures of other types (a prescription written, a dispensing)
        are listed as skipped. Without it every type is read, but a person whose first exposure
        differs by type (a prescription on 20 February, the first administration on 4 March)
        gets no treatment start and a skipped row naming the types: which record is the first
        dose is ambiguous.

    Returns
    -------
    SourceRead
        ``markers`` (provenance ``measurement_id`` / ``procedure_occurrence_id``), ``skipped``
        (``source_id`` such as ``"measurement_id=17"``), ``treatment_starts``.

    Raises
    ------
    InvalidInputError
        Bad URL or arguments; the database cannot be read (missing tables, no connection).
    NoMarkerDataError
        No usable value of the marker for the cohort.
    MissingDependencyError
        SQLAlchemy or the database driver is missing (``pip install 'ca125kinetics[omop]'``).
    """
    spec = marker_code(marker)
    if patient_id not in ("person_id", "person_source_value"):
        raise InvalidInputError(f"patient_id must be 'person_id' or 'person_source_value', got {patient_id!r}")
    if cohort_id is not None and person_ids is not None:
        raise InvalidInputError("give cohort_id or person_ids, not both")
    check_uln(uln, spec)
    rxnorm = line_drugs(drug_codes)
    event_codes = exclusion_events(event_codes)
    if drug_types is not None:
        drug_types = sorted({_whole(t, "drug_type_concept_id") for t in drug_types})
        if not drug_types:
            raise InvalidInputError("drug_types is empty; give the drug_type_concept_ids whose exposures are doses")
    sa = require("sqlalchemy", "omop", "reading OMOP CDM databases")
    md = _metadata(schema)
    if assay_column is not None and assay_column not in md.tables[_key("measurement", schema)].c:
        raise InvalidInputError(f"assay_column {assay_column!r} is not a measurement column read here")
    engine = _engine(url, read_only=True)
    label = _label(engine)
    try:
        with engine.connect() as conn:
            frames = _query(sa, conn, md, schema, spec, cohort_id, person_ids, assay_column, event_codes, rxnorm)
    except Ca125KineticsError:
        raise
    except sa.exc.SQLAlchemyError as exc:
        first = str(getattr(exc, "orig", exc)).splitlines()[0][:200]
        raise InvalidInputError(f"cannot read the OMOP CDM tables ({type(exc).__name__}: {first}); check the "
                                "URL, the schema and that the CDM v5.4 tables exist", source=label) from exc
    finally:
        engine.dispose()
    return _assemble(frames, spec, uln, treatment_start, patient_id, label, event_codes, line_gap_days, drug_types)


def _key(table: str, schema: str | None) -> str:
    return f"{schema}.{table}" if schema else table


def _query(sa, conn, md, schema, spec, cohort_id, person_ids, assay_column, event_codes, rxnorm) -> dict:
    t = {name: md.tables[_key(name, schema)] for name in OMOP_TABLES}
    concept, person = t["concept"], t["person"]
    loincs = [m.loinc for m in MARKERS.values()]
    if person_ids is not None:
        ids = sorted({_whole(p, "person_id") for p in person_ids})
        if not ids:
            raise InvalidInputError("person_ids is empty; give at least one person_id")
        # the ids given, not those of them in the person table: a person missing from it is
        # listed with its records, as a cohort's member is, never left out without a word
        given = sa.values(sa.column("person_id", sa.BigInteger), name="person_ids").data([(i,) for i in ids])
        persons = sa.select(given.c.person_id)
    elif cohort_id is not None:
        c = t["cohort"]
        persons = sa.select(c.c.subject_id).where(c.c.cohort_definition_id == _whole(cohort_id, "cohort_id"))
    else:
        persons = sa.select(person.c.person_id)
    persons = persons.distinct().subquery()      # a person may be in a cohort in several eras
    pid_col = persons.c[0]
    who = sa.select(person.c.person_id, person.c.person_source_value).join(
        persons, person.c.person_id == pid_col)
    out = {"persons": pd.DataFrame(conn.execute(who).all(), columns=["person_id", "person_source_value"])}
    chosen = [] if cohort_id is None and person_ids is None else [p for (p,) in conn.execute(sa.select(pid_col)).all()]
    out["missing"] = sorted(set(chosen) - set(out["persons"]["person_id"]))
    if cohort_id is not None and out["persons"].empty:
        raise NoMarkerDataError(f"cohort {cohort_id} has no persons in the cohort table (or its persons "
                                "are not in the person table); check --cohort-id")
    found = conn.execute(sa.select(sa.func.count()).select_from(concept).where(
        concept.c.vocabulary_id == "LOINC", concept.c.concept_code == spec.loinc)).scalar()
    if not found:
        raise NoMarkerDataError(f"the vocabulary holds no LOINC concept {spec.loinc} ({spec.label}); load the "
                                "LOINC vocabulary (Athena) into the concept table")
    m = t["measurement"]
    mc, op, unit = concept.alias("mc"), concept.alias("op"), concept.alias("unit")
    cols = [m.c.measurement_id, m.c.person_id, mc.c.concept_code.label("loinc"), m.c.measurement_date,
            m.c.value_as_number, m.c.range_high, op.c.vocabulary_id.label("op_vocabulary"),
            op.c.concept_name.label("operator"), m.c.operator_concept_id, unit.c.vocabulary_id.label("unit_vocabulary"),
            unit.c.concept_code.label("unit"), m.c.unit_concept_id, m.c.unit_source_value, m.c.value_source_value]
    if assay_column is not None:
        cols.append(m.c[assay_column].label("assay"))
    q = (sa.select(*cols)
         .join(persons, m.c.person_id == pid_col)
         .join(mc, mc.c.concept_id == m.c.measurement_concept_id)
         .outerjoin(op, op.c.concept_id == m.c.operator_concept_id)
         .outerjoin(unit, unit.c.concept_id == m.c.unit_concept_id)
         .where(mc.c.vocabulary_id == "LOINC", mc.c.concept_code.in_(loincs))
         .order_by(m.c.person_id, m.c.measurement_date, m.c.measurement_id))
    res = conn.execute(q)
    out["measurements"] = pd.DataFrame(res.all(), columns=list(res.keys()))
    # unmapped rows (concept 0) may hold the marker under a local code: listed, never read
    q = (sa.select(m.c.measurement_id, m.c.person_id, m.c.measurement_source_value)
         .join(persons, m.c.person_id == pid_col).where(m.c.measurement_concept_id == 0)
         .order_by(m.c.person_id, m.c.measurement_id))
    out["unmapped"] = pd.DataFrame(conn.execute(q).all(), columns=["measurement_id", "person_id", "source_value"])
    if "assay" not in out["measurements"]:
        out["measurements"]["assay"] = None
    # the line's drugs (RxNorm: platinum ingredients and drug_codes; ATC: platinum classes), and
    # every drug descending from them
    roots = sa.select(concept.c.concept_id).where(sa.or_(
        sa.and_(concept.c.vocabulary_id == "RxNorm", concept.c.concept_code.in_(list(rxnorm))),
        sa.and_(concept.c.vocabulary_id == "ATC", concept.c.concept_code.in_(list(PLATINUM_ATC)))))
    ca = t["concept_ancestor"]
    drugs = sa.select(ca.c.descendant_concept_id).where(ca.c.ancestor_concept_id.in_(roots))
    d, kind = t["drug_exposure"], concept.alias("kind")
    q = (sa.select(d.c.person_id, d.c.drug_exposure_start_date.label("start"), d.c.drug_exposure_id,
                   d.c.drug_type_concept_id, kind.c.concept_name)
         .join(persons, d.c.person_id == pid_col)
         .outerjoin(kind, kind.c.concept_id == d.c.drug_type_concept_id)
         .where(sa.or_(d.c.drug_concept_id.in_(drugs), d.c.drug_concept_id.in_(roots)))
         .order_by(d.c.person_id, d.c.drug_exposure_start_date, d.c.drug_exposure_id))
    out["starts"] = pd.DataFrame(conn.execute(q).all(), columns=["person_id", "start", "drug_exposure_id",
                                                                 "drug_type", "drug_type_name"])
    # exclusion events: the SNOMED event concepts and every procedure descending from them
    p, pc = t["procedure_occurrence"], concept.alias("pc")
    is_event = sa.and_(pc.c.vocabulary_id == "SNOMED", pc.c.concept_code.in_(list(event_codes)))
    direct = (sa.select(p.c.procedure_occurrence_id, p.c.person_id, p.c.procedure_date, pc.c.concept_code)
              .join(persons, p.c.person_id == pid_col)
              .join(pc, pc.c.concept_id == p.c.procedure_concept_id).where(is_event))
    below = (sa.select(p.c.procedure_occurrence_id, p.c.person_id, p.c.procedure_date, pc.c.concept_code)
             .join(persons, p.c.person_id == pid_col)
             .join(ca, ca.c.descendant_concept_id == p.c.procedure_concept_id)
             .join(pc, pc.c.concept_id == ca.c.ancestor_concept_id).where(is_event))
    q = sa.union(direct, below)
    out["events"] = pd.DataFrame(conn.execute(q).all(),
                                 columns=["procedure_occurrence_id", "person_id", "procedure_date", "code"])
    # unmapped procedures and drugs (concept 0) may be a paracentesis or a platinum dose under a
    # local code: listed, never read (as unmapped measurements)
    for name, table, key, concept_col, source in (
            ("unmapped_procedures", p, "procedure_occurrence_id", "procedure_concept_id", "procedure_source_value"),
            ("unmapped_drugs", d, "drug_exposure_id", "drug_concept_id", "drug_source_value")):
        q = (sa.select(table.c[key], table.c.person_id, table.c[source]).join(persons, table.c.person_id == pid_col)
             .where(table.c[concept_col] == 0).order_by(table.c.person_id, table.c[key]))
        out[name] = pd.DataFrame(conn.execute(q).all(), columns=["id", "person_id", "source_value"])
    return out


def _whole(value, what: str) -> int:
    """An id given as a whole number (int, numpy integer, digits, or an integral float);
    ``int()`` alone would read 1.5 or True as person 1."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    if isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer():
        return int(value)
    raise InvalidInputError(f"{what} {value!r} is not a whole number; give the integer {what}")


def _absent(value) -> bool:
    """True for a database NULL as pandas holds it (None or NaN)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _numeric(value) -> float | None:
    """A NUMERIC column's value as a float: a number as the database returns it (int, float,
    Decimal); None for a NULL and for anything else (text a database without strict types
    holds, e.g. SQLite's '12,5'), which the caller refuses."""
    if _absent(value) or isinstance(value, bool) or not isinstance(value, (numbers.Real, decimal.Decimal)):
        return None
    return float(value)


def _iso(value, record: str, column: str) -> str | None:
    """The ISO day of a date column's value. A CDM's date columns are DATEs; a database holding
    them as text is read only in ISO ``YYYY-MM-DD`` (as :func:`as_day`), else refused naming
    ``record`` and ``column``: ``06/02/2026`` was read as 2 June and ``18/12/2025`` day-first."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT:
        return None
    return as_day(value, f"{record} (the CDM's {column} is a DATE)", name=column)


def _drug_type(row) -> str:
    """A drug exposure's ``drug_type_concept_id`` with its concept name, for messages."""
    name = row.drug_type_name
    return f"{row.drug_type}" + ("" if name is None or pd.isna(name) else f" ({name})")


def _assemble(frames: dict, spec: MarkerCode, uln, treatment_start, patient_id, label, event_codes,
              line_gap_days, drug_types=None) -> SourceRead:
    persons = frames["persons"]
    name_of = (dict(zip(persons["person_id"], persons["person_source_value"])) if patient_id == "person_source_value"
               else {p: str(p) for p in persons["person_id"]})
    unnamed = {p: f"person {p} has no {patient_id}" for p, v in name_of.items() if v is None or pd.isna(v)}
    named = persons[persons["person_id"].map(lambda p: p not in unnamed)]
    for value, group in named.groupby(named["person_id"].map(name_of), sort=True):
        if len(group) > 1:       # two persons under one patient_id would be merged into one series
            ids = ", ".join(str(p) for p in sorted(group["person_id"]))
            for p in group["person_id"]:
                unnamed[p] = (f"{patient_id} {value!r} is shared by persons {ids}: read with patient_id='person_id' "
                              "(--patient-id person_id), or make the source values unique")
    name_of = {p: (None if p in unnamed else v) for p, v in name_of.items()}
    rows = []
    skipped = [(f"person={p}", None, "person", f"person {p} is not in the person table: none of its records is read; "
                "check the person_ids or the cohort, or load the person row") for p in frames["missing"]]
    other = {m.loinc: m for m in MARKERS.values() if m.name != spec.name}
    default = spec.default_uln if uln is None else float(uln)
    for r in frames["measurements"].itertuples(index=False):
        sid, pid = f"measurement_id={r.measurement_id}", name_of.get(r.person_id)

        def skip(reason: str) -> None:
            skipped.append((sid, pid, "measurement", reason))

        if pid is None:
            skip(unnamed.get(r.person_id, f"person {r.person_id} is not in the person table"))
            continue
        if r.loinc in other:
            hit = other[r.loinc]
            skip(f"{hit.label} (LOINC {hit.loinc}), not the marker read: pass marker='{hit.name}'")
            continue
        if r.measurement_date is None or pd.isna(r.measurement_date):
            skip("measurement_date is empty: the sample's date is needed")
            continue
        if r.value_as_number is None or pd.isna(r.value_as_number):
            skip("value_as_number is empty (a value_as_concept_id or text result is not a concentration)")
            continue
        number, high = _numeric(r.value_as_number), _numeric(r.range_high)
        if number is None or (high is None and not _absent(r.range_high)):
            column, written = (("value_as_number", r.value_as_number) if number is None
                               else ("range_high", r.range_high))
            skip(f"{column} {written!r} is not a number (the CDM's {column} is NUMERIC; text such as a decimal "
                 "comma or a unit in it is not read, never guessed): store the number in the ETL")
            continue
        op = None
        if r.operator_concept_id is not None and not pd.isna(r.operator_concept_id) and r.operator_concept_id != 0:
            op = _OPERATORS.get(r.operator) if r.op_vocabulary == "Meas Value Operator" else None
            if op is None:
                skip(f"operator_concept_id {r.operator_concept_id} is not in the concept table: whether the value is "
                     "censored is unknown; load the Meas Value Operator vocabulary (Athena) into it"
                     if _absent(r.op_vocabulary) else
                     f"operator_concept_id {r.operator_concept_id} is not a Meas Value Operator concept "
                     f"(<, <=, =, >=, >)")
                continue
        factor = spec.factor(r.unit) if r.unit_vocabulary == "UCUM" else None
        if factor is None:
            if r.unit_vocabulary != "UCUM" and (r.unit_concept_id is None or pd.isna(r.unit_concept_id)
                                                or r.unit_concept_id == 0):
                # no unit concept at all: the source's text is not read in its place (never guessed)
                skip(f"unit_concept_id is {'empty' if r.unit_concept_id is None or pd.isna(r.unit_concept_id) else 0}"
                     f" (unmapped; the source wrote {r.unit_source_value!r}): map the unit to its UCUM concept in the "
                     f"ETL; read: {sorted(spec.units)}")
                continue
            written = None if _absent(r.unit_source_value) else r.unit_source_value
            if _absent(r.unit_vocabulary):      # a concept id the vocabulary loaded lacks (not 'not a unit')
                skip(f"unit_concept_id {r.unit_concept_id} is not in the concept table (the source wrote {written!r}): "
                     "which unit it is is unknown; load the UCUM vocabulary (Athena) into it")
                continue
            shown = r.unit if r.unit_vocabulary == "UCUM" else (written or r.unit_concept_id)
            skip(f"unit {shown!r} (unit_concept_id {r.unit_concept_id}) is not a UCUM {spec.label} unit; "
                 f"read: {sorted(spec.units)}")
            continue
        source_op, readings, written_unit = _source_value(r.value_source_value)
        if (source_op is None and not readings and isinstance(r.value_source_value, str)
                and _OTHER_COMPARATOR_RE.search(r.value_source_value)):
            skip(f"value_source_value {r.value_source_value!r} writes a comparator the reader does not read (it "
                 "reads <, <=, >, >=, = before the number): whether the value is censored is unknown; write it as "
                 "'<5' or set operator_concept_id in the ETL")
            continue
        if source_op is not None and op is None:
            op = source_op      # no operator concept: the comparator the laboratory wrote
        elif source_op is not None and source_op != op:
            skip(f"operator {r.operator!r} contradicts value_source_value {r.value_source_value!r}: whether the "
                 "value is censored is ambiguous; correct operator_concept_id in the ETL")
            continue
        source_unit = written_unit or r.unit_source_value
        source_factor = spec.factor_of_text(source_unit)
        if readings and source_factor is not None and not any(
                math.isclose(number * factor, x * source_factor, rel_tol=1e-6) for x in readings):
            skip(f"value_as_number {number!r} disagrees with value_source_value "
                 f"{r.value_source_value!r} (read as {' or '.join(f'{x:g}' for x in sorted(readings))} "
                 f"{source_unit}): a decimal comma or unit conversion gone wrong in the ETL?")
            continue
        if high is not None:
            limit = high * factor
        elif default is None:
            skip(f"range_high is empty and no uln given: the {spec.label} ULN is needed (pass uln=...)")
            continue
        else:
            limit = default
        value = number * factor
        if op == "above":
            # a sample drawn, its value unknown: kept as written ('>5000'), which the markers reader
            # refuses as in a file, so the patient is not read as if it had not been drawn
            value = f"{r.operator if r.operator in ('>', '>=') else '>'}{value:g}"
        rows.append({"patient_id": str(pid), "date": _iso(r.measurement_date, sid, "measurement_date"),
                     "ca125": value, "censored": op == "censored", "uln": limit,
                     "assay": None if r.assay is None or pd.isna(r.assay) else str(r.assay), "event": None,
                     "measurement_id": int(r.measurement_id), "procedure_occurrence_id": pd.NA})
    for r in frames["unmapped"].itertuples(index=False):
        skipped.append((f"measurement_id={r.measurement_id}", name_of.get(r.person_id), "measurement",
                        f"measurement_concept_id 0 (unmapped; measurement_source_value {r.source_value!r}): not known "
                        f"to be {spec.label}; if it is, map it to LOINC {spec.loinc} in the ETL"))
    for r in frames["unmapped_procedures"].itertuples(index=False):
        skipped.append((f"procedure_occurrence_id={r.id}", name_of.get(r.person_id), "procedure_occurrence",
                        f"procedure_concept_id 0 (unmapped; procedure_source_value {r.source_value!r}): not known to "
                        "be an exclusion event; if it is a paracentesis, thoracentesis or surgery, map it to its "
                        "SNOMED CT concept in the ETL (and name a surgery's code with --event-code)"))
    for r in frames["unmapped_drugs"].itertuples(index=False):
        skipped.append((f"drug_exposure_id={r.id}", name_of.get(r.person_id), "drug_exposure",
                        f"drug_concept_id 0 (unmapped; drug_source_value {r.source_value!r}): not known to be a "
                        "drug of the line; if it is carboplatin or cisplatin, map it to its RxNorm concept in the ETL"))
    events = frames["events"].assign(event=frames["events"]["code"].map(event_codes))
    for key, group in events.groupby("procedure_occurrence_id", sort=True):
        r, sid = group.iloc[0], f"procedure_occurrence_id={key}"
        pid = name_of.get(r.person_id)
        kinds = sorted(set(group["event"]))
        if pid is None or len(kinds) > 1:
            skipped.append((sid, pid, "procedure_occurrence",
                            unnamed.get(r.person_id, f"person {r.person_id} is not in the person table") if pid is None
                            else f"the procedure descends from both {' and '.join(kinds)}: which exclusion window "
                                 "applies is ambiguous"))
            continue
        rows.append({"patient_id": str(pid), "date": _iso(r.procedure_date, sid, "procedure_date"), "ca125": np.nan,
                     "censored": False, "uln": np.nan, "assay": None, "event": kinds[0], "measurement_id": pd.NA,
                     "procedure_occurrence_id": int(key)})
    with_values = {r["patient_id"] for r in rows if r["event"] is None}
    for pid in sorted({str(v) for v in name_of.values() if v is not None} - with_values):
        skipped.append((f"person={pid}", pid, "person", f"no usable {spec.label} measurement"))
    if not with_values:
        raise NoMarkerDataError(no_marker_message(spec, skipped_frame(skipped), label))
    refuse_near_miss_starts(treatment_start, with_values)
    given = {} if treatment_start is None else (
        {p: treatment_start for p in with_values} if not isinstance(treatment_start, Mapping) else treatment_start)
    given_rows = [(str(p), as_day(v, f"patient {p!r}"), "given") for p, v in given.items() if v is not None]
    given_ids = {g[0] for g in given_rows}
    doses: dict[str, list[tuple[str, str]]] = {}
    types: dict[str, dict[str, tuple[str, str]]] = {}     # per patient, each drug type's first exposure
    for r in frames["starts"].itertuples(index=False):
        pid = name_of.get(r.person_id)
        if pid is None or str(pid) in given_ids:
            continue
        sid, named = f"drug_exposure_id={r.drug_exposure_id}", _drug_type(r)
        day = _iso(r.start, sid, "drug_exposure_start_date")
        if drug_types is not None and r.drug_type not in drug_types:
            skipped.append((sid, str(pid), "drug_exposure", f"drug_type_concept_id {named} is not one of drug_types "
                            f"{drug_types}: not read as a dose"))
            continue
        doses.setdefault(str(pid), []).append((day, sid))
        types.setdefault(str(pid), {}).setdefault(named, (day, sid))
    for pid, first in types.items():
        if drug_types is None and len({day for day, _ in first.values()}) > 1:   # which type is a dose moves day 0
            del doses[pid]
            skipped.append((min(first.values())[1], pid, "drug_exposure",
                            "the first exposure differs by drug_type_concept_id ("
                            + ", ".join(f"{t}: {day}" for t, (day, _) in sorted(first.items(), key=lambda x: x[1]))
                            + "): a prescription's or dispensing's date is not a dose's, so day 0 is ambiguous; "
                            "pass drug_types=[...] (--drug-type) naming the types that record a dose, or "
                            "treatment_start="))
    firsts, lines = first_doses(doses, line_gap_days, "drug_exposure")
    skipped_table = skipped_frame(skipped + lines)
    start_table = pd.DataFrame(sorted([(p, d, src) for p, (d, src) in firsts.items()] + given_rows),
                               columns=["patient_id", "treatment_start", "source"]).astype(object)
    markers = pd.DataFrame(rows, columns=["patient_id", "date", "ca125", "censored", "uln", "assay", "event",
                                          "measurement_id", "procedure_occurrence_id"])
    start_of = dict(zip(start_table["patient_id"], start_table["treatment_start"]))
    markers.insert(7, "treatment_start", markers["patient_id"].map(start_of).astype(object))
    markers["treatment_start"] = markers["treatment_start"].where(markers["treatment_start"].notna(), None)
    markers.insert(8, "marker", spec.name)
    for c in ("measurement_id", "procedure_occurrence_id"):
        markers[c] = markers[c].astype("Int64")
    markers = markers.sort_values(["patient_id", "date"], kind="stable").reset_index(drop=True)
    markers = events_take_sample_uln(markers)
    return SourceRead(markers=markers, skipped=skipped_table, treatment_starts=start_table, marker=spec, source=label)


# --------------------------------------------------------------------------- write


def _vocabulary(marker: MarkerCode) -> pd.DataFrame:
    """The synthetic vocabulary: the concepts the reader looks up, with made-up ids."""
    rows = [("Cancer Ag 125 [Units/volume] in Serum or Plasma", "Measurement", "LOINC", "Lab Test", "S", "10334-1"),
            ("Carcinoembryonic Ag [Mass/volume] in Serum or Plasma", "Measurement", "LOINC", "Lab Test", "S", "2039-6")]
    rows += [(f"unit {u}", "Unit", "UCUM", "Unit", "S", u) for m in MARKERS.values() for u in m.units]
    rows += [(o, "Meas Value Operator", "Meas Value Operator", "Meas Value Operator", "S", o) for o in _OPERATORS]
    rows += [(name, "Drug", "RxNorm", "Ingredient", "S", code) for code, name in PLATINUM_RXNORM.items()]
    rows += [(name, "Procedure", "SNOMED", "Procedure", "S", code) for code, name in EVENT_SNOMED.items()]
    frame = pd.DataFrame(rows, columns=["concept_name", "domain_id", "vocabulary_id", "concept_class_id",
                                        "standard_concept", "concept_code"])
    frame.insert(0, "concept_id", SYNTHETIC_CONCEPT_BASE + np.arange(len(frame)))
    frame["valid_start_date"] = _dt.date(1970, 1, 1)
    frame["valid_end_date"] = _dt.date(2099, 12, 31)
    frame["invalid_reason"] = None
    return frame


def cohort_to_omop(markers, clinical, *, marker: str = "ca125") -> dict[str, pd.DataFrame]:
    """OMOP CDM v5.4 tables of a cohort: what :func:`read_omop` reads back.

    ``person_id`` counts from 1 in ``patient_id`` order, ``person_source_value`` keeps the
    ``patient_id``; one carboplatin ``drug_exposure`` on the treatment start; one
    ``measurement`` per value (UCUM unit, ``range_high`` the ULN, the ``<`` operator for
    censored values, the assay in ``measurement_source_value``); one ``procedure_occurrence``
    per paracentesis/thoracentesis; ``cohort`` 1 holds every person. The vocabulary is
    synthetic (ids from :data:`SYNTHETIC_CONCEPT_BASE`), with the real codes.

    Parameters
    ----------
    markers, clinical : path or DataFrame
        As :func:`ca125kinetics.io.read_markers`; the clinical table must carry
        ``treatment_start`` (and ``age``, for ``year_of_birth``).
    marker : {"ca125", "cea"}
        The LOINC concept the values are written under.
    """
    from ..io import read_clinical, read_markers

    spec = marker_code(marker)
    clin = read_clinical(clinical, require=("patient_id", "treatment_start"))
    table = read_markers(markers, clinical=clin, marker=spec.name)
    vocab = _vocabulary(spec)
    cid = {(v, c): i for i, v, c in vocab[["concept_id", "vocabulary_id", "concept_code"]].itertuples(index=False)}
    ids = sorted(set(table["patient_id"]))
    person_of = {p: i + 1 for i, p in enumerate(ids)}
    clin = clin.set_index("patient_id").loc[ids]
    if clin["treatment_start"].isna().any():
        missing = clin.index[clin["treatment_start"].isna()][0]
        raise InvalidInputError("no treatment_start: dates cannot be written", patient_id=missing,
                                column="treatment_start")
    start = clin["treatment_start"]
    age = clin["age"] if "age" in clin else pd.Series(np.nan, index=clin.index)
    year = (start.dt.year - age.fillna(0).round()).astype(int)
    person = pd.DataFrame({"person_id": [person_of[p] for p in ids], "gender_concept_id": 0,
                           "year_of_birth": year.to_numpy(), "race_concept_id": 0, "ethnicity_concept_id": 0,
                           "person_source_value": ids})
    when = (table["patient_id"].map(start) + pd.to_timedelta(table["day"], unit="D")).dt.date
    values = table[table[spec.name].notna()]
    measurement = pd.DataFrame({
        "measurement_id": np.arange(1, len(values) + 1),
        "person_id": values["patient_id"].map(person_of).to_numpy(),
        "measurement_concept_id": cid[("LOINC", spec.loinc)],
        "measurement_date": when[values.index].to_numpy(),
        "measurement_datetime": None,
        "measurement_type_concept_id": 0,
        "operator_concept_id": np.where(values["censored"], cid[("Meas Value Operator", "<")],
                                        cid[("Meas Value Operator", "=")]),
        "value_as_number": values[spec.name].to_numpy(),
        "value_as_concept_id": None,
        "unit_concept_id": cid[("UCUM", spec.unit)],
        "range_low": None,
        "range_high": values["uln"].to_numpy(),
        "measurement_source_value": values["assay"].to_numpy(),
        "unit_source_value": spec.unit,
        "value_source_value": None,
    })
    events = table[table["event"].notna()]
    codes = {v: k for k, v in EVENT_SNOMED.items()}
    unknown = sorted(set(events["event"]) - set(codes))
    if unknown:
        raise InvalidInputError(f"events {unknown} have no SNOMED procedure concept here; only {sorted(codes)} "
                                "are written", column="event")
    procedure = pd.DataFrame({
        "procedure_occurrence_id": np.arange(1, len(events) + 1),
        "person_id": events["patient_id"].map(person_of).to_numpy(),
        "procedure_concept_id": [cid[("SNOMED", codes[e])] for e in events["event"]],
        "procedure_date": when[events.index].to_numpy(),
        "procedure_type_concept_id": 0,
    })
    carboplatin = cid[("RxNorm", "40048")]
    drug = pd.DataFrame({"drug_exposure_id": np.arange(1, len(ids) + 1), "person_id": person["person_id"],
                         "drug_concept_id": carboplatin, "drug_exposure_start_date": start.dt.date.to_numpy(),
                         "drug_exposure_end_date": start.dt.date.to_numpy(), "drug_type_concept_id": 0})
    ancestor = pd.DataFrame({"ancestor_concept_id": vocab["concept_id"], "descendant_concept_id": vocab["concept_id"],
                             "min_levels_of_separation": 0, "max_levels_of_separation": 0})
    cohort = pd.DataFrame({"cohort_definition_id": 1, "subject_id": person["person_id"],
                           "cohort_start_date": start.dt.date.to_numpy(), "cohort_end_date": start.dt.date.to_numpy()})
    return {"concept": vocab, "concept_ancestor": ancestor, "person": person, "measurement": measurement,
            "drug_exposure": drug, "procedure_occurrence": procedure, "cohort": cohort}


def write_omop(tables: Mapping[str, pd.DataFrame] | str | Path, url: str, *, schema: str | None = None) -> None:
    """Create the CDM v5.4 tables used here (when absent) and append ``tables`` to them.

    Parameters
    ----------
    tables : mapping of table name to DataFrame, or a directory of ``<table>.csv`` or ``<table>.parquet`` files
        As returned by :func:`cohort_to_omop` (the committed test fixture is such a directory).
        Dates in the files are ISO ``YYYY-MM-DD``; any other form is refused, never guessed.
    url : str
        SQLAlchemy URL of the database (a DuckDB file is created when absent).
    schema : str, optional
        Schema to write into (created when absent).
    """
    sa = require("sqlalchemy", "omop", "writing OMOP CDM databases")
    if isinstance(tables, (str, Path)):
        tables = _read_table_files(Path(tables))
    md = _metadata(schema)
    engine = _engine(url)
    try:
        with engine.begin() as conn:
            if schema:
                conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            md.create_all(conn)
            for name, frame in tables.items():
                if name not in OMOP_TABLES:
                    raise InvalidInputError(f"{name!r} is not an OMOP table written here; use {list(OMOP_TABLES)}")
                _insert(conn, md.tables[_key(name, schema)], frame)
    except sa.exc.SQLAlchemyError as exc:
        first = str(getattr(exc, "orig", exc)).splitlines()[0][:200]
        raise InvalidInputError(f"cannot write the OMOP tables ({type(exc).__name__}: {first})",
                                source=_label(engine)) from exc
    finally:
        engine.dispose()


def _insert(conn, table, frame: pd.DataFrame) -> None:
    """Append ``frame`` to ``table``: DuckDB reads the DataFrame directly (an executemany of
    thousands of rows takes seconds there); other databases get one executemany."""
    if frame.empty:
        return
    frame = frame[[c.name for c in table.columns if c.name in frame.columns]]
    if conn.dialect.name == "duckdb":
        raw = conn.connection.driver_connection
        import duckdb

        raw.register("_ca125_frame", frame)
        try:
            names = ", ".join(f'"{c}"' for c in frame.columns)
            target = f'"{table.schema}"."{table.name}"' if table.schema else f'"{table.name}"'
            raw.execute(f"INSERT INTO {target} ({names}) SELECT {names} FROM _ca125_frame")
        except duckdb.Error as exc:     # DuckDB's own error (not SQLAlchemy's): said with the table
            first = str(exc).splitlines()[0][:200]
            hint = ("; a key already in the database (the tables written twice?) is refused: write into a new "
                    "database or remove those rows first") if isinstance(exc, duckdb.ConstraintException) else ""
            raise InvalidInputError(f"cannot write the OMOP table {table.name!r} ({type(exc).__name__}: {first})"
                                    + hint) from exc
        finally:
            try:
                raw.unregister("_ca125_frame")
            except duckdb.Error:    # the transaction a failed insert aborted, rolled back next
                pass
        return
    conn.execute(table.insert(), frame.astype(object).where(frame.notna(), None).to_dict("records"))


def _read_table_files(directory: Path) -> dict[str, pd.DataFrame]:
    """The OMOP tables of a directory of ``<table>.csv`` or ``<table>.parquet`` files."""
    if not directory.is_dir():
        raise InvalidInputError("not a directory of OMOP table files (<table>.csv or <table>.parquet)",
                                source=str(directory))
    dates = {"valid_start_date", "valid_end_date", "measurement_date", "drug_exposure_start_date",
             "drug_exposure_end_date", "procedure_date", "cohort_start_date", "cohort_end_date"}
    out = {}
    for name in OMOP_TABLES:
        found = [p for p in (directory / f"{name}.csv", directory / f"{name}.parquet") if p.exists()]
        if len(found) > 1:
            raise InvalidInputError(f"holds both {name}.csv and {name}.parquet: which one is the table is "
                                    "ambiguous; remove one", source=str(directory))
        if not found:
            continue
        if found[0].suffix == ".parquet":
            frame = pd.read_parquet(found[0])
        else:
            frame = pd.read_csv(found[0], keep_default_na=False, na_values=[""],
                                dtype={c: str for c in ("concept_code", "person_source_value",
                                                        "measurement_source_value", "unit_source_value",
                                                        "value_source_value")})
        first = 2 if found[0].suffix == ".csv" else 0       # rows as the markers reader counts them
        for c in sorted(dates & set(frame.columns)):
            # ISO days only (the CDM's), never a format guessed from the first rows: pandas read
            # '06/02/2026' as 2 June, or a whole column month-first, without a word
            frame[c] = [None if _absent(v) or v is pd.NaT else
                        _dt.date.fromisoformat(as_day(v, f"{found[0].name}, row {i + first}", name=c))
                        for i, v in enumerate(frame[c])]
        out[name] = frame
    if not out:
        raise InvalidInputError(f"holds no OMOP table file: expected <table>.csv or <table>.parquet for tables "
                                f"{list(OMOP_TABLES)}", source=str(directory))
    return out


def write_omop_csv(tables: Mapping[str, pd.DataFrame], directory) -> Path:
    """Write OMOP tables as ``<table>.csv`` files (the form of the committed test fixture), each
    whole, all replaced together or none (:func:`ca125kinetics._atomic.file_set`)."""
    from .._atomic import atomic_file, file_set

    directory = Path(directory)
    with file_set():
        for name, frame in tables.items():
            with atomic_file(directory / f"{name}.csv") as handle:
                frame.to_csv(handle, index=False, encoding="utf-8")
    return directory
