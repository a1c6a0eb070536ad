"""Write a cohort (markers and clinical tables) as a FHIR R4 bundle: :func:`cohort_to_fhir`.

Apart from :mod:`ca125kinetics.sources.fhir` because it reads its tables with
:mod:`ca125kinetics.io`, which itself reads ``.json`` markers files with the FHIR reader; the
name is also available as ``ca125kinetics.sources.fhir.cohort_to_fhir``.
"""

from __future__ import annotations

import pandas as pd

from ..errors import InvalidInputError
from ..io import read_clinical, read_markers
from ._codes import EVENT_SNOMED, marker_code
from .fhir import _FHIR_ID_RE, LOINC, RXNORM, SNOMED, UCUM

__all__ = ["cohort_to_fhir"]


def cohort_to_fhir(markers, clinical, *, marker: str = "ca125") -> dict:
    """A FHIR R4 ``collection`` Bundle of a cohort: what :func:`~ca125kinetics.sources.fhir.read_fhir` reads back.

    Each patient gets a ``Patient``, one carboplatin ``MedicationAdministration`` on the
    treatment start (day 0), one ``Observation`` per value (LOINC, UCUM ``U/mL`` or ``ng/mL``,
    comparator ``<`` for censored values, the ULN as ``referenceRange.high``, the assay as
    ``method.text``) and one ``Procedure`` per paracentesis/thoracentesis. Days become dates
    from the clinical ``treatment_start``.

    Parameters
    ----------
    markers, clinical : path or DataFrame
        As :func:`ca125kinetics.io.read_markers` / :func:`~ca125kinetics.io.read_clinical`;
        the clinical table must carry ``treatment_start``.
    marker : {"ca125", "cea"}
        Which LOINC code the values are written under.

    Returns
    -------
    dict
        The Bundle as JSON-ready Python objects (:func:`~ca125kinetics.sources.fhir.write_fhir` writes it).
    """
    spec = marker_code(marker)
    clin = read_clinical(clinical, require=("patient_id", "treatment_start"))
    table = read_markers(markers, clinical=clin, marker=spec.name)
    starts = dict(zip(clin["patient_id"], clin["treatment_start"]))
    codes = {v: k for k, v in EVENT_SNOMED.items()}
    entries: list[dict] = []

    def add(resource: dict) -> None:
        entries.append({"fullUrl": f"urn:ca125kinetics:{resource['resourceType']}/{resource['id']}",
                        "resource": resource})

    for pid, rows in table.groupby("patient_id", sort=True):
        if not _FHIR_ID_RE.match(pid):
            raise InvalidInputError("patient_id is not a FHIR id (1-64 letters, digits, '-' or '.')",
                                    patient_id=pid, column="patient_id")
        start = starts.get(pid)
        if start is None or pd.isna(start):
            raise InvalidInputError("no treatment_start: dates cannot be written", patient_id=pid,
                                    column="treatment_start")
        subject = {"reference": f"Patient/{pid}"}
        add({"resourceType": "Patient", "id": pid})
        add({"resourceType": "MedicationAdministration", "id": f"{pid}-platinum", "status": "completed",
             "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "40048", "display": "carboplatin"}]},
             "subject": dict(subject), "effectiveDateTime": start.date().isoformat()})
        for n, r in enumerate(rows.itertuples(index=False)):
            day = (start + pd.Timedelta(days=int(r.day))).date().isoformat()
            if r.event is not None and r.event in codes:
                add({"resourceType": "Procedure", "id": f"{pid}-p{n}", "status": "completed",
                     "code": {"coding": [{"system": SNOMED, "code": codes[r.event], "display": r.event}]},
                     "subject": dict(subject), "performedDateTime": day})
            elif r.event is not None:
                raise InvalidInputError(f"event {r.event!r} has no FHIR procedure code here; only "
                                        f"{sorted(codes)} are written", patient_id=pid, column="event")
            value = getattr(r, spec.name)
            if pd.isna(value):
                continue
            quantity = {"value": float(value), "unit": spec.unit, "system": UCUM, "code": spec.unit}
            if r.censored:
                quantity = {"comparator": "<", **quantity}
            obs = {"resourceType": "Observation", "id": f"{pid}-{n}", "status": "final",
                   "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                             "code": "laboratory"}]}],
                   "code": {"coding": [{"system": LOINC, "code": spec.loinc}], "text": spec.label},
                   "subject": dict(subject), "effectiveDateTime": day, "valueQuantity": quantity,
                   "referenceRange": [{"high": {"value": float(r.uln), "unit": spec.unit, "system": UCUM,
                                                "code": spec.unit}}]}
            if r.assay is not None:
                obs["method"] = {"text": str(r.assay)}
            add(obs)
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}
