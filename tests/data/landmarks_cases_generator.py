"""Seeded adversarial CA-125 series for the landmark day rule.

Standard library only. Writes ``landmarks_markers.csv`` and ``landmarks_clinical.csv`` into
the directory given::

    python tests/data/landmarks_cases_generator.py tests/data --seed 20261130 --n-random 60

Cases (``case_note`` in the clinical table says what each one tests):

* for every landmark (D, w) of the default settings, a latest sample exactly on each edge
  D - w - 1, D - w, D + w, D + w + 1 (and the same edges as inner samples of a longer
  series, followed by a late sample);
* a landmark window holding no sample; a latest sample exactly on the "reached" day;
* events (paracentesis, thoracentesis, surgery, mouse antibody) inside a window, on its
  edges, just after it, and as event-only rows after the latest sample (an event-only row
  must not count as a sample);
* censored values (``<x``) on the edges and as the latest sample;
* pretreatment samples only; a single sample on day 0;
* the same series written with dates and a ``treatment_start`` instead of days;
* seeded random series (days -20..130, random events and censoring).

Every patient carries the same clinical factors (those of ``docs/landmarks.md``'s example)
and a RECIST category that varies, so that its visibility can be checked.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import os
import random

CLINICAL = {"age": 65, "ecog": 0, "ascites_ml": 0, "pfi_months": 14, "figo_stage": "III",
            "primary_residual_disease": 0, "recurrence_pattern": "multiple"}
MARKS = (("day35", 35, 0), ("cycle2", 42, 7), ("cycle3", 63, 7), ("cycle4", 84, 7))
RECISTS = ("PR", "SD", "PD", "CR", "")


def _value(day, base, k):
    """A declining CA-125 value on ``day`` (rounded, at least 6)."""
    t = max(day, 0)
    return round(max(8 + (base - 8) * pow(2.718281828, -k * t), 6.0), 1)


class _Cases:
    def __init__(self, rng):
        self.rng = rng
        self.markers = []
        self.clinical = []

    def add(self, note, days, events=(), censored=(), dates=False, recist=None, base=None):
        """One patient: samples on ``days``; ``events`` as (day, kind, with_sample)."""
        pid = f"L{len(self.clinical) + 1:03d}"
        base = base or self.rng.choice((150, 400, 900, 2500))
        k = self.rng.uniform(0.02, 0.08)
        start = _dt.date(2024, 1, 1) + _dt.timedelta(days=self.rng.randrange(0, 700))
        recist = self.rng.choice(RECISTS) if recist is None else recist
        rows = {}
        for d in days:
            rows[d] = {"ca125": f"<{int(_value(d, base, k)) + 1}" if d in censored
                       else f"{_value(d, base, k)}", "event": ""}
        for d, kind, with_sample in events:
            if d in rows:
                rows[d]["event"] = kind
            else:
                rows[d] = {"ca125": f"{_value(d, base, k)}" if with_sample else "",
                           "event": kind}
        for d in sorted(rows):
            row = {"patient_id": pid, "ca125": rows[d]["ca125"], "event": rows[d]["event"]}
            if dates:
                row["date"] = (start + _dt.timedelta(days=d)).isoformat()
                row["day"] = ""
            else:
                row["day"] = d
                row["date"] = ""
            self.markers.append(row)
        self.clinical.append(dict(CLINICAL, patient_id=pid, recist=recist,
                                  treatment_start=start.isoformat() if dates else "",
                                  case_note=note))
        return pid


def generate(seed, n_random):
    rng = random.Random(seed)
    c = _Cases(rng)
    for key, d, w in MARKS:
        for edge, label in ((d - w - 1, "D-w-1"), (d - w, "D-w"), (d + w, "D+w"),
                            (d + w + 1, "D+w+1")):
            c.add(f"{key}: latest sample on {label} (day {edge})",
                  sorted({-5, 20, edge} | ({edge - 21} if edge - 21 > 20 else set())))
            c.add(f"{key}: inner sample on {label} (day {edge}), later sample day 120",
                  sorted({-5, 20, edge, 120}))
            c.add(f"{key}: censored sample on {label} (day {edge})",
                  sorted({-5, 21, edge}), censored={edge})
            c.add(f"{key}: paracentesis on {label} (day {edge}), samples after it",
                  sorted({-5, 21, edge + 3, 95}), events=[(edge, "paracentesis", False)])
    c.add("cycle2 window [35, 49] holds no sample; reached by a later one", [-5, 20, 60])
    c.add("cycle3 window [56, 70] holds no sample; latest day 80", [-5, 20, 41, 80])
    c.add("no sample in any window, latest day 95", [-3, 20, 52, 74, 95])
    c.add("latest sample exactly day 35 (reaches day35 and cycle2)", [-3, 20, 35])
    c.add("latest sample exactly day 56 (reaches cycle3)", [-3, 20, 42, 56])
    c.add("latest sample exactly day 77 (reaches cycle4)", [-3, 20, 42, 63, 77])
    c.add("latest sample day 34 then an event-only row on day 40",
          [-3, 20, 34], events=[(40, "paracentesis", False)])
    c.add("latest sample day 50 then an event-only row on day 90",
          [-3, 20, 41, 50], events=[(90, "surgery", False)])
    c.add("paracentesis day 30 excludes day 41 at cycle2 (28-day window)",
          [-3, 20, 41, 58, 84], events=[(30, "paracentesis", False)])
    c.add("paracentesis day 50, after cycle2 (to day 49): cycle2 must not see it",
          [-3, 20, 41, 63, 84], events=[(50, "paracentesis", False)])
    c.add("surgery day 49 on cycle2's last day with a sample that day",
          [-3, 20, 41, 49, 63, 84], events=[(49, "surgery", True)])
    c.add("thoracentesis day 71, just after cycle3 (to day 70)",
          [-3, 20, 42, 63, 70, 84], events=[(71, "thoracentesis", False)])
    c.add("mouse antibody day 45 inside cycle2's window",
          [-3, 20, 42, 48, 63, 84], events=[(45, "mouse_antibody", False)])
    c.add("mouse antibody day 92, after cycle4 (to day 91)",
          [-3, 20, 42, 63, 84, 91, 98], events=[(92, "mouse_antibody", False)])
    c.add("censored latest sample day 70", [-3, 21, 42, 70], censored={70})
    c.add("censored samples in every window", [-3, 21, 35, 42, 63, 84],
          censored={35, 63, 84})
    c.add("pretreatment samples only", [-12, -5, 0])
    c.add("pretreatment samples only, latest day -1", [-30, -1])
    c.add("day 0 only", [0])
    c.add("samples beyond the kinetics window (day 100) after cycle4", [-3, 21, 42, 63, 84, 105, 126])
    for recist in ("PR", "PD", "CR", "SD", ""):
        c.add(f"full series, RECIST {recist or 'unknown'}", [-4, 21, 42, 63, 84], recist=recist)
    for edge in (34, 35, 48, 49, 50, 55, 56, 70, 71, 76, 77, 91, 92):
        c.add(f"dates with treatment_start, latest sample on day {edge}",
              sorted({-6, 0, 21, edge}), dates=True)
    c.add("dates with treatment_start, paracentesis day 50",
          [-3, 20, 41, 63, 84], events=[(50, "paracentesis", False)], dates=True)
    c.add("dates, pretreatment only", [-9, -2], dates=True)
    for i in range(n_random):
        n = rng.randint(1, 7)
        days = sorted(rng.sample(range(-20, 131), n))
        events = []
        for _ in range(rng.choice((0, 0, 1, 2))):
            events.append((rng.randrange(-10, 125),
                           rng.choice(("paracentesis", "thoracentesis", "surgery",
                                       "mouse_antibody")),
                           rng.random() < 0.3))
        events = [e for e in events if e[0] not in days]
        events = list({e[0]: e for e in events}.values())
        censored = {d for d in days if rng.random() < 0.15}
        c.add(f"random {i}", days, events=events, censored=censored,
              dates=rng.random() < 0.25)
    return c


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=20261130)
    ap.add_argument("--n-random", type=int, default=60)
    a = ap.parse_args(argv)
    c = generate(a.seed, a.n_random)
    with open(os.path.join(a.out, "landmarks_markers.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, ("patient_id", "day", "date", "ca125", "event"),
                           lineterminator="\n")
        w.writeheader()
        w.writerows(c.markers)
    with open(os.path.join(a.out, "landmarks_clinical.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, ("patient_id", *CLINICAL, "recist", "treatment_start",
                               "case_note"), lineterminator="\n")
        w.writeheader()
        w.writerows(c.clinical)


if __name__ == "__main__":
    main()
