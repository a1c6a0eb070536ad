"""Validated patients as columns: what the scoring engine consumes.

:class:`PatientBatch` holds the same information as a list of ``io.PatientRecord`` (one per
patient, sorted by ``patient_id``) as flat arrays: the markers rows of every patient one after
the other (``offsets`` delimits them) and one entry per patient for the rest. A cohort read by
``io.read_markers``/``io.read_clinical`` becomes a batch without a Python object per patient
(:meth:`PatientBatch.from_frames`); the records of :func:`~ca125kinetics.predict.predict` and
``predict_many`` become one too (:meth:`PatientBatch.from_records`), so every scoring call
runs the same columnar engine. :meth:`PatientBatch.record` gives a patient's record back
(the landmark trajectory truncates records).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..io import CLINICAL_NUMBERS, CLINICAL_PREDICTORS, PatientRecord
from .result import _column

#: Clinical predictors held as numbers (NaN unknown); the others are text (None unknown).
NUMERIC_PREDICTORS = tuple(c for c in CLINICAL_PREDICTORS if c in CLINICAL_NUMBERS)
_INTEGER_PREDICTORS = frozenset(c for c in NUMERIC_PREDICTORS if CLINICAL_NUMBERS[c].integer)


def _objects(values) -> np.ndarray:
    """A 1-d object array of ``values`` with None for every missing value (NaN, NA)."""
    return _column(values, "text")


def _numbers(values) -> np.ndarray:
    """``values`` as float64, NaN for every missing value."""
    return _column(values, "probability")     # a number column


@dataclass(frozen=True, eq=False)
class PatientBatch:
    """Validated patients, sorted by ``patient_id``, as columns.

    Attributes
    ----------
    ids : ndarray of str
        The n patient identifiers, sorted.
    offsets : ndarray of int64
        ``n + 1`` bounds: the markers rows of patient ``i`` are ``offsets[i]:offsets[i+1]``
        (none for a patient with only a clinical row).
    day, ca125, censored, uln, assay, event : ndarray
        One entry per markers row, as in ``io.PatientRecord`` (day int64; CA-125 float, NaN
        on an event-only or placeholder row; ULN float; assay and event object, None empty).
    problem : ndarray of object
        Per patient why the markers are invalid, or None.
    clinical : dict of str to ndarray
        Per clinical predictor (``io.CLINICAL_PREDICTORS``) one value per patient: float64
        (NaN unknown) for the numeric ones (:data:`NUMERIC_PREDICTORS`), object (None unknown)
        for the others.
    has_clinical : ndarray of bool
        Whether the patient has a clinical row.
    clinical_problem : ndarray of object
        Per patient why the clinical row is invalid, or None.
    """

    ids: np.ndarray
    offsets: np.ndarray
    day: np.ndarray
    ca125: np.ndarray
    censored: np.ndarray
    uln: np.ndarray
    assay: np.ndarray
    event: np.ndarray
    problem: np.ndarray
    clinical: dict
    has_clinical: np.ndarray
    clinical_problem: np.ndarray

    @property
    def n(self) -> int:
        return len(self.ids)

    @property
    def sizes(self) -> np.ndarray:
        """Markers rows per patient."""
        return np.diff(self.offsets)

    @property
    def codes(self) -> np.ndarray:
        """Per markers row, the position of its patient."""
        return np.repeat(np.arange(self.n, dtype=np.int64), self.sizes)

    @property
    def reason(self) -> np.ndarray:
        """Per patient why the input is invalid (the clinical row's problems first), or None:
        ``io.PatientRecord.reason``."""
        return np.where(pd.isna(self.clinical_problem), self.problem, self.clinical_problem)

    @classmethod
    def from_frames(cls, markers: pd.DataFrame, clinical: pd.DataFrame | None = None) -> PatientBatch:
        """The batch of canonical frames (``io.read_markers``/``io.read_clinical``, typically
        ``on_error="flag"``): the patients of ``io.records_from_frames``, as columns.

        Every patient of either frame is in the batch (a clinical row without markers: no
        rows); a patient's markers rows keep the frame's order, and its ``problem`` is the
        first flagged row's.
        """
        pid = markers["patient_id"].to_numpy(dtype=object)
        order = np.argsort(pid, kind="stable") if len(pid) and not (pid[1:] >= pid[:-1]).all() else None
        take = (lambda a: a) if order is None else (lambda a: a[order])
        pid = take(pid)
        n_rows = len(pid)
        first = np.flatnonzero(np.concatenate([[True], pid[1:] != pid[:-1]])) if n_rows else np.zeros(0, np.int64)
        m_ids = np.array([str(p) for p in pid[first]], dtype=object) if n_rows else np.zeros(0, dtype=object)
        sizes = np.diff(np.append(first, n_rows))
        rows = dict(
            day=take(markers["day"].to_numpy()).astype(np.int64, copy=False),
            ca125=take(markers["ca125"].to_numpy(dtype=float)),
            censored=take(markers["censored"].to_numpy(dtype=bool)),
            uln=take(markers["uln"].to_numpy(dtype=float)),
            assay=_objects(take(markers["assay"].to_numpy(dtype=object))),
            event=_objects(take(markers["event"].to_numpy(dtype=object))),
        )
        m_problem = np.full(len(m_ids), None, dtype=object)
        if "problem" in markers.columns and n_rows:
            flagged = take(markers["problem"].notna().to_numpy())
            if flagged.any():
                text = take(markers["problem"].to_numpy(dtype=object))
                codes = np.repeat(np.arange(len(m_ids)), sizes)
                rows_flagged = np.flatnonzero(flagged)
                # the first flagged row of each patient
                patients, at = np.unique(codes[rows_flagged], return_index=True)
                m_problem[patients] = text[rows_flagged[at]]
        if clinical is None:
            n = len(m_ids)
            return cls(m_ids, np.append(first, n_rows).astype(np.int64), **rows, problem=m_problem,
                       clinical={c: (np.full(n, np.nan) if c in NUMERIC_PREDICTORS else np.full(n, None, dtype=object))
                                 for c in CLINICAL_PREDICTORS},
                       has_clinical=np.zeros(n, dtype=bool), clinical_problem=np.full(n, None, dtype=object))
        c_ids = clinical["patient_id"].astype(str).to_numpy(dtype=object)
        ids = np.union1d(m_ids.astype(str), c_ids.astype(str)).astype(object) if len(c_ids) else m_ids
        n = len(ids)
        at_m = np.searchsorted(ids.astype(str), m_ids.astype(str)) if len(m_ids) else np.zeros(0, np.int64)
        all_sizes = np.zeros(n, dtype=np.int64)
        all_sizes[at_m] = sizes
        problem = np.full(n, None, dtype=object)
        problem[at_m] = m_problem
        at_c = np.searchsorted(ids.astype(str), c_ids.astype(str))
        values = {}
        for c in CLINICAL_PREDICTORS:
            if c in NUMERIC_PREDICTORS:
                out = np.full(n, np.nan)
                if c in clinical.columns:
                    out[at_c] = _numbers(clinical[c])
            else:
                out = np.full(n, None, dtype=object)
                if c in clinical.columns:
                    out[at_c] = _objects(clinical[c].to_numpy(dtype=object))
            values[c] = out
        has_clinical = np.zeros(n, dtype=bool)
        has_clinical[at_c] = True
        c_problem = np.full(n, None, dtype=object)
        if "problem" in clinical.columns:
            c_problem[at_c] = _objects(clinical["problem"].to_numpy(dtype=object))
        return cls(ids, np.concatenate([[0], np.cumsum(all_sizes)]).astype(np.int64), **rows, problem=problem,
                   clinical=values, has_clinical=has_clinical, clinical_problem=c_problem)

    @classmethod
    def from_records(cls, records: list) -> PatientBatch:
        """The batch of ``io.PatientRecord`` objects (in their order)."""
        n = len(records)
        sizes = np.fromiter((len(r.day) for r in records), dtype=np.int64, count=n)

        def flat(attr, dtype):
            return np.array([v for r in records for v in getattr(r, attr)], dtype=dtype)

        values = {}
        for c in CLINICAL_PREDICTORS:
            given = [None if r.clinical is None else r.clinical.get(c) for r in records]
            values[c] = _numbers(_objects(given)) if c in NUMERIC_PREDICTORS else _objects(given)
        return cls(
            np.array([r.patient_id for r in records], dtype=object),
            np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
            day=flat("day", np.int64), ca125=flat("ca125", float),
            censored=np.array([bool(v) if v is not None else False for r in records for v in r.censored], dtype=bool),
            uln=_numbers(_objects([v for r in records for v in r.uln])),
            assay=_objects([v for r in records for v in r.assay]),
            event=_objects([v for r in records for v in r.event]),
            problem=_objects([r.problem for r in records]),
            clinical=values,
            has_clinical=np.array([r.clinical is not None for r in records], dtype=bool),
            clinical_problem=_objects([r.clinical_problem for r in records]),
        )

    def record(self, i: int) -> PatientRecord:
        """Patient ``i`` as an ``io.PatientRecord`` (the values of the records it came from)."""
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        clinical = None
        if self.has_clinical[i]:
            clinical = {}
            for c in CLINICAL_PREDICTORS:
                v = self.clinical[c][i]
                if c in NUMERIC_PREDICTORS:
                    v = None if v != v else (int(v) if c in _INTEGER_PREDICTORS and float(v).is_integer() else float(v))
                clinical[c] = v
        return PatientRecord(
            str(self.ids[i]), tuple(self.day[a:b].tolist()), tuple(self.ca125[a:b].tolist()),
            tuple(self.censored[a:b].tolist()), tuple(self.uln[a:b].tolist()), tuple(self.assay[a:b].tolist()),
            tuple(self.event[a:b].tolist()), self.problem[i], clinical, self.clinical_problem[i])

    def samples(self, i: int) -> tuple:
        """``io.PatientRecord.samples`` of patient ``i``."""
        if self.problem[i] is not None:
            return ()
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        return tuple((d, None if v != v else v, c, e) for d, v, c, e in
                     zip(self.day[a:b].tolist(), self.ca125[a:b].tolist(), self.censored[a:b].tolist(),
                         self.event[a:b].tolist()))
