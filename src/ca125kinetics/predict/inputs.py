"""What the scoring functions accept, turned into validated patient records.

Validation itself is ``ca125kinetics.io``'s (the one validator): tables go through
``io.read_markers``/``io.read_clinical`` (``on_error="flag"``), one patient in any form
through ``io.patient_record``. Here only the pyfunc form (clinical columns repeated on the
markers rows) is split, and reasons already written in a validated frame are kept.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import InvalidInputError
from ..io import CLINICAL_INPUT_COLUMNS, _id_array, given_cells, refuse_factors_twice, unnumbered
from .result import _is_missing


def _split_input(frame: pd.DataFrame, clinical, columns=None):
    """Split a pyfunc-style frame (markers rows with clinical columns repeated) in two.

    ``columns``: the clinical columns that may be repeated (default
    ``io.CLINICAL_INPUT_COLUMNS``; a model of another task names its own predictors).
    Returns (markers, clinical, problems) where ``problems`` maps patient_id to a reason when
    the repeated clinical values differ within a patient.
    """
    problems: dict[str, str] = {}
    repeated = [c for c in (CLINICAL_INPUT_COLUMNS if columns is None else columns) if c in frame.columns]
    if clinical is not None:
        refuse_factors_twice({c: frame[c].to_numpy(dtype=object) for c in repeated}, "markers DataFrame", repeated)
        return frame, clinical, problems
    if not repeated:
        return frame, clinical, problems
    if "patient_id" not in frame.columns:       # one patient (predict): its clinical row as a mapping
        markers, clin, problems = _split_input(frame.assign(patient_id="patient"), None, columns)
        row = {k: v for k, v in clin.iloc[0].items() if k != "patient_id"} if len(clin) else {}
        return markers.drop(columns="patient_id"), row, problems
    markers = frame.drop(columns=repeated)
    # column-wise (a registry's file has millions of rows): per patient, the first value given
    # in each column, and the patients whose rows give two different values
    # the patient of a row as the markers reader reads it (io._id_array: 7 and 7.0 are '7', an
    # identifier of spaces is none), so that each patient's clinical values are those of its rows
    key = _id_array(frame["patient_id"].to_numpy(dtype=object))
    codes, patients = pd.factorize(key, sort=True, use_na_sentinel=False)
    names = [None if _is_missing(p) else p for p in patients.tolist()]
    clin = pd.DataFrame({"patient_id": pd.Series(names, dtype=object)})
    for column in repeated:
        values = frame[column].to_numpy(dtype=object)
        text = pd.Series(values, dtype=object).astype(str).str.strip().to_numpy(dtype=object)
        at = np.flatnonzero(given_cells(values))
        first = np.full(len(patients), None, dtype=object)
        order = at[np.unique(codes[at], return_index=True)[1]] if at.size else at     # first given row
        first[codes[order]] = values[order]
        clin[column] = first
        # a value differing from the patient's first one (as text, spaces stripped)
        differs = at[text[at] != text[order][np.searchsorted(codes[order], codes[at])]] if at.size else at
        for patient in np.unique(codes[differs]).tolist():
            distinct = sorted(set(text[at[codes[at] == patient]].tolist()))
            problems.setdefault(str(names[patient]), (
                f"invalid input: column {column!r} differs between rows of the patient "
                f"({distinct[:3]}); clinical values must be constant within a patient"))
    # a row of this table is no row of the input: its problems name the patient, not a number
    return markers, unnumbered(clin), problems


def _cohort_rows(frame: pd.DataFrame, columns) -> pd.DataFrame:
    """:func:`_resolved` of a cohort's markers DataFrame, which must name each row's patient
    (a ``patient_id`` column; :func:`predict` scores one patient without it): refused, as the
    readers refuse a table without the column, before its clinical columns are split off."""
    from ..io import _refuse_id_in_index, _require

    _refuse_id_in_index(frame, columns, "markers")
    frame = _resolved(frame, columns)
    _require(frame.columns, ("patient_id",), "markers DataFrame", "markers")
    return frame


def _resolved(frame: pd.DataFrame, columns) -> pd.DataFrame:
    """A markers DataFrame with its column names checked and resolved (``io._check_header``,
    ``io._resolve_columns``) before the clinical columns repeated on its rows are split off by
    name, so that 'ECOG' is mapped or refused rather than left on the markers."""
    from ..io import MARKERS_KNOWN, _check_header, _resolve_columns

    _check_header(frame.columns, "markers DataFrame")
    return _resolve_columns(frame.rename(columns=lambda c: str(c).strip()), MARKERS_KNOWN, columns,
                            "markers DataFrame")


def _read_inputs(frame, clinical, gcig_settings, columns=None, **formats):
    """Canonical (markers, clinical) frames through the package readers (flagging bad patients).

    ``columns`` maps column names of either table to data-contract names (``io.read_markers``);
    ``formats`` (``date_format``, ``decimal``, ``thousands``) say how text is written.
    """
    from ..io import read_clinical, read_markers, setting_uln

    if not isinstance(frame, (pd.DataFrame, str, os.PathLike)):
        raise InvalidInputError(
            f"markers must be a DataFrame or a path to a .csv/.parquet file, got {type(frame).__name__}")
    problems: dict[str, str] = {}
    uln = float(gcig_settings.uln) if gcig_settings is not None else 35.0
    duplicates = getattr(gcig_settings, "duplicates", "error")
    if not isinstance(frame, pd.DataFrame) and clinical is None:
        # a file may carry the clinical factors on its rows (the pyfunc form), as a DataFrame
        # may: read, they are split off the same way (ca125 score reads a file so); without
        # them the file's one reading is the markers
        frame = read_markers(frame, uln=setting_uln(frame, uln), on_error="flag", duplicates=duplicates,
                             columns=columns, **formats)
        if not any(c in frame.columns for c in CLINICAL_INPUT_COLUMNS):
            return frame, None, _flagged((frame,), problems)
    read_before: dict[str, str] = {}
    if isinstance(frame, pd.DataFrame):
        frame, clinical, problems = _split_input(_cohort_rows(frame, columns), clinical)
        # a canonical frame read with on_error="flag" keeps its reasons (re-reading its
        # placeholder rows would only say "CA-125 value is empty"), after the clinical row's
        read_before = _flagged((frame,), {})
    clin = None
    if clinical is not None:
        # a clinical frame read with on_error="flag" keeps its reasons too: its flagged values
        # are blanked, so reading it again finds nothing wrong with the row
        earlier = _flagged((clinical,), {})
        clin = read_clinical(clinical, on_error="flag", require=("patient_id",), columns=columns, **formats)
        if earlier:
            kept = clin["patient_id"].astype(str).map(earlier)
            clin["problem"] = clin["problem"].where(clin["problem"].notna(), kept)
    markers = read_markers(frame, clinical=clin, uln=setting_uln(frame, uln), on_error="flag", duplicates=duplicates,
                           columns=columns, **formats)
    # the clinical row's reason first, as a PatientRecord's (io.PatientRecord.reason)
    _flagged((clin,), problems)
    for patient, reason in read_before.items():
        problems.setdefault(patient, reason)
    _flagged((markers,), problems)
    return markers, clin, problems


def _flagged(tables, problems: dict[str, str]) -> dict[str, str]:
    """``problems`` with the reason of every patient flagged in the ``problem`` column of the
    tables (DataFrames or None), the first table's first: what ``on_error="flag"`` wrote."""
    for table in tables:
        if isinstance(table, pd.DataFrame) and {"patient_id", "problem"} <= set(table.columns):
            flagged = table.loc[table["problem"].notna(), ["patient_id", "problem"]]
            for patient, problem in flagged.itertuples(index=False):
                if not _is_missing(problem):
                    problems.setdefault(str(patient), str(problem))
    return problems


def _record(markers, clinical, gcig_settings, columns=None, **formats):
    """(PatientRecord, problems) of one patient as :func:`predict` takes it.

    ``io.patient_record`` validates every form; the pyfunc form (clinical columns repeated
    on the markers rows, no separate clinical) is split first. ``columns`` maps input column
    (or clinical key) names to data-contract names; ``formats`` (``date_format``, ``decimal``,
    ``thousands``) say how text is written.
    """
    from ..io import check_column_mapping, patient_record

    check_column_mapping(columns)
    problems: dict[str, str] = {}
    markers = _as_frame_if_clinical(markers, columns)
    if isinstance(markers, pd.DataFrame) and (clinical is None or _carries_clinical(markers.columns, columns)):
        markers, clinical, problems = _split_input(_resolved(markers, columns), clinical)
    record = patient_record(markers, clinical, uln=float(gcig_settings.uln),
                            duplicates=getattr(gcig_settings, "duplicates", "error"), columns=columns, **formats)
    return record, problems


def _as_frame_if_clinical(markers, columns=None):
    """``markers`` (a mapping of columns, or records) as a DataFrame when it carries clinical
    factors, so that they are read as in the DataFrame form (:func:`_split_input`); any other
    input unchanged (``io.patient_record`` reads it, and reports a malformed one)."""
    if isinstance(markers, Mapping):
        keys = list(markers)
    elif isinstance(markers, Sequence) and not isinstance(markers, (str, bytes)) and markers \
            and all(isinstance(r, Mapping) for r in markers):
        keys = list(dict.fromkeys(k for r in markers for k in r))
    else:
        return markers
    if not _carries_clinical(keys, columns):
        return markers
    from ..io import _marker_columns

    # read as io.patient_record reads any mapping or records (by position, one value per cell,
    # malformed columns refused), not as pandas would build a frame of them (Series by label)
    return pd.DataFrame(_marker_columns(markers, columns)[0])


def _carries_clinical(names, columns=None) -> bool:
    """Whether column names (after stripping and the ``columns`` mapping) include a clinical
    factor (:data:`~ca125kinetics.io.CLINICAL_INPUT_COLUMNS`)."""
    mapping = columns or {}
    return any(mapping.get(str(k).strip(), str(k).strip()) in CLINICAL_INPUT_COLUMNS for k in names)
