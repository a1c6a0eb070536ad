"""An independent reading of the landmark day rule.

Written from the user documentation (``docs/landmarks.md``, with the exclusion rule of
``docs/clinical-rules.md`` section 1.6) alone, before the package's landmark code was read.
Standard library only; it imports nothing from ca125kinetics, so that it can disagree with
it.

Usage::

    python tests/data/landmarks_independent.py MARKERS.csv CLINICAL.csv OUT.csv

``MARKERS.csv``: ``patient_id``, ``day`` or ``date``, ``ca125`` (a number, ``<x`` for a
censored value, or empty on an event-only row), ``event`` (empty, ``paracentesis``,
``thoracentesis``, ``surgery``, ``mouse_antibody``). ``CLINICAL.csv``: ``patient_id``,
``treatment_start`` (ISO date, needed when the markers carry dates), ``recist``.

``OUT.csv``: one row per patient and point (the landmarks in order, then ``final``):
``patient_id``, ``point``, ``nominal_day`` (D), ``window_days`` (w), ``to_day`` (the last day
whose rows the point may use: D + w; for ``final`` the latest sample's day), ``reached``
(1/0), ``reason`` (why not reached), ``sample_days`` (the days of the samples the point may
use, ``;``-separated), ``n_samples``, ``event_days`` (the days of the events it may see),
``excluded_days`` (samples it must exclude, from the events it may see), ``recist_known``
(1/0), and the patient's ``trajectory_status`` (``scored`` or ``none_reached``).

Readings of places the documentation leaves open (each is a choice, marked READING below):

L1  The landmarks with the default settings (``cycle_days`` 21, ``cycle_window_days`` 7,
    ``cycles`` [2, 3, 4], ``early_days`` [35], ``early_window_days`` 0): ``day35`` D 35 w 0,
    ``cycle2`` D 42 w 7, ``cycle3`` D 63 w 7, ``cycle4`` D 84 w 7, in order of D (the early
    landmark first on a tie of D, as in the documentation's table).
L2  A *sample* is a row with a CA-125 value (a censored ``<x`` is a sample); an event-only
    row is not a sample. A row carrying both a value and an event is both.
L3  Reached: the latest sample of the whole series as given (no truncation, excluded
    samples included: the sample has been drawn) is on or after D - w. A patient who has
    reached a landmark but has no sample inside its window is still reached: the
    documentation's rule is on the latest sample only.
L4  Strict truncation: the point may use the rows with ``day <= D + w`` (samples and
    events); rows after it do not exist for that point.
L5  Exclusion windows, from the events the point may see only (L4): a paracentesis,
    thoracentesis or surgery on day e excludes the samples with ``e <= day <= e + 28``
    (day of the procedure included; "within 28 days after" read as at most 28 days after);
    a mouse antibody on day e excludes the samples with ``day >= e`` (the same day included,
    by the same reasoning as for procedures: the order within a day is unknown).
L6  RECIST is known at a landmark when ``D >= recist_from_cycle * cycle_days`` (63): known
    at ``cycle3`` and ``cycle4`` and at ``final``, unknown at ``day35`` and ``cycle2``.
L7  ``final`` uses every row; its ``to_day`` is the latest sample's day; it is reached when
    the patient has any sample.
L8  Trajectory status: ``none_reached`` when no landmark is reached (the latest sample is
    before the first landmark's window), otherwise ``scored``.
L9  Dates: day = calendar date - ``treatment_start`` in whole days.
"""

from __future__ import annotations

import csv
import datetime as _dt
import sys

CYCLE_DAYS = 21
CYCLE_WINDOW_DAYS = 7
CYCLES = (2, 3, 4)
EARLY_DAYS = (35,)
EARLY_WINDOW_DAYS = 0
RECIST_FROM_CYCLE = 3
INTERFERENCE_DAYS = 28
PROCEDURES = ("paracentesis", "thoracentesis", "surgery")


def landmarks(cycles=CYCLES, early_days=EARLY_DAYS, early_window=EARLY_WINDOW_DAYS,
              cycle_days=CYCLE_DAYS, cycle_window=CYCLE_WINDOW_DAYS):
    """The landmarks as (key, D, w), in order of D, early first on a tie (L1)."""
    marks = [(f"day{d}", d, early_window, 0) for d in early_days]
    marks += [(f"cycle{c}", c * cycle_days, cycle_window, 1) for c in cycles]
    marks.sort(key=lambda m: (m[1], m[3]))
    return [(key, d, w) for key, d, w, _ in marks]


def _day(row, treatment_start):
    if row.get("day", "") not in ("", None):
        return int(float(row["day"]))
    start = _dt.date.fromisoformat(treatment_start)
    return (_dt.date.fromisoformat(row["date"]) - start).days  # L9


def _excluded(sample_days, events):
    out = []
    for s in sample_days:
        for e_day, kind in events:
            if kind in PROCEDURES and e_day <= s <= e_day + INTERFERENCE_DAYS:
                out.append(s)
                break
            if kind == "mouse_antibody" and s >= e_day:
                out.append(s)
                break
    return out


def reference_points(rows, clinical, marks=None):
    """The points of one patient's trajectory by the documented day rule.

    ``rows``: dicts with ``day`` or ``date``, ``ca125`` and ``event``; ``clinical``: a dict
    with ``treatment_start`` and ``recist``. Returns a list of dicts, one per point.
    """
    marks = landmarks() if marks is None else marks
    start = clinical.get("treatment_start", "")
    table = []
    for row in rows:
        table.append((_day(row, start), str(row.get("ca125", "") or "").strip(),
                      str(row.get("event", "") or "").strip()))
    samples = sorted(d for d, v, _ in table if v != "")  # L2
    latest = samples[-1] if samples else None
    points = []
    recist_day = RECIST_FROM_CYCLE * CYCLE_DAYS
    for key, d, w in marks:
        to_day = d + w
        reached = latest is not None and latest >= d - w  # L3
        reason = "" if reached else (
            "no CA-125 sample" if latest is None
            else f"latest sample day {latest} < day {d - w}")
        used = [s for s in samples if s <= to_day]  # L4
        events = sorted((day, e) for day, _, e in table if e != "" and day <= to_day)
        points.append(dict(
            point=key, nominal_day=d, window_days=w, to_day=to_day, reached=int(reached),
            reason=reason, sample_days=used if reached else [],
            event_days=[e for e, _ in events] if reached else [],
            excluded_days=_excluded(used, events) if reached else [],
            recist_known=int(d >= recist_day)))  # L6
    events = sorted((day, e) for day, _, e in table if e != "")
    points.append(dict(
        point="final", nominal_day="", window_days="", to_day=latest if latest is not None else "",
        reached=int(latest is not None), reason="" if latest is not None else "no CA-125 sample",
        sample_days=samples, event_days=[e for e, _ in events],
        excluded_days=_excluded(samples, events), recist_known=1))  # L7
    status = "scored" if any(p["reached"] for p in points[:-1]) else "none_reached"  # L8
    for p in points:
        p["trajectory_status"] = status
        p["n_samples"] = len(p["sample_days"])
    return points


FIELDS = ("patient_id", "point", "nominal_day", "window_days", "to_day", "reached", "reason",
          "sample_days", "n_samples", "event_days", "excluded_days", "recist_known",
          "trajectory_status")


def main(markers_path, clinical_path, out_path):
    with open(clinical_path, newline="") as f:
        clinical = {r["patient_id"]: r for r in csv.DictReader(f)}
    rows = {}
    with open(markers_path, newline="") as f:
        for r in csv.DictReader(f):
            rows.setdefault(r["patient_id"], []).append(r)
    with open(out_path, "w", newline="") as f:
        out = csv.DictWriter(f, FIELDS, lineterminator="\n")
        out.writeheader()
        for pid in clinical:
            for p in reference_points(rows.get(pid, []), clinical[pid]):
                p = dict(p, patient_id=pid)
                for k in ("sample_days", "event_days", "excluded_days"):
                    p[k] = ";".join(str(x) for x in p[k])
                out.writerow(p)


if __name__ == "__main__":
    main(*sys.argv[1:4])
