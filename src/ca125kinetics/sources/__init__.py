"""Read markers where they live: HL7 FHIR R4 resources and OMOP CDM v5.4 databases.

Both readers return a :class:`SourceRead`: a markers table (with dates, treatment starts and
the provenance of every row) that :func:`ca125kinetics.io.read_markers` validates like any
other markers table, and the list of records skipped with their reasons. Nothing is dropped
silently. Heavy dependencies (``fhir.resources``, SQLAlchemy and the database drivers) are
imported only when a reader runs.
"""

from __future__ import annotations

import importlib

from ._codes import EVENT_SNOMED, MARKERS, PLATINUM_ATC, PLATINUM_RXNORM, MarkerCode, SourceRead

__all__ = ["read_fhir", "cohort_to_fhir", "write_fhir", "risk_assessment", "read_omop",
           "cohort_to_omop", "write_omop", "SourceRead", "MarkerCode", "MARKERS", "PLATINUM_RXNORM",
           "PLATINUM_ATC", "EVENT_SNOMED"]

_LAZY = {"read_fhir": "fhir", "cohort_to_fhir": "fhir_cohort", "write_fhir": "fhir", "risk_assessment": "fhir",
         "read_omop": "omop", "cohort_to_omop": "omop", "write_omop": "omop"}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ca125kinetics.sources' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
