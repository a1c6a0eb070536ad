"""Seeded generator of adversarial CA-125 series for the GCIG rules.

Each patient is built to sit on an edge of a rule: falls of exactly 50 %, confirmation at
27/28/29 days, rises of exactly 10 %, breaks between the fall and the confirmation, baselines
on the edges of the 14-day window and at exactly 2 x ULN, censored values (``<x``), values
at exactly 2 x ULN / 2 x nadir, progression occasions 6/7 days apart with and without a dip
in between, normalisation then rise, samples on one day, procedures and mouse antibodies
around the events that matter (on event-only rows and on sample rows), samples long before
day 0, per-patient ULN (sometimes changing between samples) and assay columns.

Usage (writes a long-format markers CSV: patient_id, day, ca125, uln, assay, event)::

    python tests/data/gcig_adversarial_generator.py OUT.csv --n 3000 --seed 20261130

The output is read by ``ca125kinetics.io.read_markers`` and by ``gcig_independent.R``.
"""

from __future__ import annotations

import argparse
import csv
import random

EVENTS = ("paracentesis", "thoracentesis", "surgery", "mouse_antibody")


def _fmt(value: float) -> str:
    """Value as the text a laboratory export would hold (at most 2 decimals)."""
    text = f"{round(value, 2):.2f}".rstrip("0").rstrip(".")
    return text or "0"


def _edge_value(rng: random.Random, baseline: float, prev: float, nadir: float, uln: float) -> float:
    """A value on (or one hundredth beside) one of the rules' thresholds."""
    targets = [
        baseline * 0.5,
        prev * 1.10,
        prev,
        uln,
        2 * uln,
        2 * nadir,
        nadir,
        prev * rng.uniform(0.4, 1.3),
        baseline * rng.uniform(0.05, 0.6),
    ]
    value = rng.choice(targets) + rng.choice((0.0, 0.0, 0.0, 0.01, -0.01))
    return max(value, 0.5)


def _series(rng: random.Random) -> tuple[list[dict], float | None]:
    """One adversarial patient: rows (day, ca125 text, assay, event) and its ULN column."""
    uln = rng.choice((35.0, 35.0, 35.0, 30.0))
    uln_col: float | None = uln if uln != 35.0 or rng.random() < 0.2 else None
    rows: list[dict] = []

    # baseline: on the window edges, at / beside 2 x ULN, or well above / at normal
    kind = rng.random()
    if kind < 0.15:
        baseline = 2 * uln + rng.choice((0.0, -0.01, 0.01))
    elif kind < 0.25:
        baseline = rng.uniform(uln * 0.3, uln * 2)
    else:
        baseline = round(rng.lognormvariate(5.3, 0.9), 2) + 2 * uln
    baseline = round(baseline, 2)
    b_day = rng.choice((0, 0, -1, -7, -14, -14, -15, -3))
    if rng.random() < 0.25:  # an earlier pretreatment sample, maybe qualifying when the latest does not
        rows.append({"day": b_day - rng.choice((1, 5, 10, 20, 40)),
                     "ca125": _fmt(rng.choice((baseline * 3, 2 * uln, uln * 0.5, baseline)))})
    if rng.random() < 0.03 and baseline <= 100:
        rows.append({"day": b_day, "ca125": rng.choice(("<20", "<80", "<100", "<10"))})
    else:
        rows.append({"day": b_day, "ca125": _fmt(baseline)})

    # on treatment: cycles of about 21 days with edge gaps
    day = 0
    prev = nadir = baseline
    for _ in range(rng.randint(1, 9)):
        gap = rng.choice((21, 21, 21, 28, 27, 29, 7, 6, 14, 1, 42))
        day += gap
        if rng.random() < 0.5:
            value = _edge_value(rng, baseline, prev, nadir, uln)
        else:
            value = prev * rng.choice((0.5, 0.6, 0.8, 0.9, 1.0, 1.05, 1.1, 1.5, 2.0, 2.2))
        value = round(value, 2)
        if rng.random() < 0.06:
            text = rng.choice(("<5", "<10", f"<{_fmt(uln)}", "<50", "<2"))
            value = float(text[1:])
        else:
            text = _fmt(value)
        rows.append({"day": day, "ca125": text})
        prev = max(value, 0.5)
        nadir = min(nadir, prev)

    # progression tail: occasions at exactly 2 x ULN / 2 x nadir, 6 or 7 days apart, dips
    if rng.random() < 0.35:
        level = rng.choice((2 * uln, 2 * nadir, 2 * nadir - 0.01, 2 * uln - 0.01, uln * 0.9))
        first = day + rng.choice((7, 21, 28))
        rows.append({"day": first, "ca125": _fmt(level)})
        if rng.random() < 0.4:
            rows.append({"day": first + rng.choice((2, 3, 5)),
                         "ca125": _fmt(rng.choice((level * 0.8, uln, level)))})
        rows.append({"day": first + rng.choice((6, 7, 7, 8, 14)),
                     "ca125": _fmt(level * rng.choice((1.0, 1.2, 0.99)))})

    # same-day samples
    if rng.random() < 0.02:
        rows.append(dict(rng.choice(rows)))
    # events around the samples that matter
    if rng.random() < 0.12:
        anchor = rng.choice(rows)["day"]
        rows.append({"day": anchor + rng.choice((0, -28, -29, -1, 1)), "ca125": "",
                     "event": rng.choice(EVENTS)})
    # an event recorded on a sample's own row
    if rng.random() < 0.04:
        target = rng.choice([r for r in rows if r.get("ca125") and not r.get("event")])
        target["event"] = rng.choice(EVENTS)
    # assay column: constant, or a change before / after the baseline
    assay = None
    if rng.random() < 0.08:
        assay = "CA125II"
        for row in rows:
            row["assay"] = assay if row.get("ca125") else ""
        if rng.random() < 0.5:
            target = rng.choice([r for r in rows if r.get("ca125")])
            target["assay"] = "Elecsys"
    # a sample whose ULN differs from the patient's
    if rng.random() < 0.03:
        target = rng.choice([r for r in rows if r.get("ca125")])
        target["uln"] = 30.0 if uln == 35.0 else 35.0
        uln_col = uln
    rng.shuffle(rows)  # unsorted input is sorted by the rules
    return rows, uln_col


#: Hand-written patients appended after the random ones (they use no random numbers, so the
#: random patients are those of the same seed without them): an evaluable baseline with no
#: usable sample after the first dose (none drawn, or every one excluded), beside baselines
#: that are not evaluable with no sample after it either, and one excluded sample of two.
#: Each: (name, ULN column or None, [(day, ca125 text, event)]).
EDGE_CASES = (
    ("only_day0_baseline", None, [(0, "400", "")]),
    ("pretreatment_only", None, [(-20, "900", ""), (-3, "400", "")]),
    ("baseline_day_minus14_only", None, [(-14, "400", "")]),
    ("baseline_day_minus15_only", None, [(-15, "400", "")]),
    ("baseline_exactly_2uln_only", None, [(0, "70", "")]),
    ("baseline_below_2uln_only", None, [(0, "69.99", "")]),
    ("baseline_censored_only", None, [(0, "<100", "")]),
    ("baseline_normal_only", None, [(-2, "20", "")]),
    ("uln30_baseline_2uln_only", 30.0, [(0, "60", "")]),
    ("all_excluded_paracentesis", None, [(0, "400", ""), (14, "", "paracentesis"), (21, "150", ""),
                                         (35, "100", "")]),
    ("all_excluded_surgery_day28", None, [(0, "400", ""), (5, "", "surgery"), (21, "150", ""), (33, "90", "")]),
    ("all_excluded_mouse_antibody", None, [(0, "400", ""), (10, "", "mouse_antibody"), (21, "150", ""),
                                           (49, "100", "")]),
    ("excluded_on_its_own_row", None, [(0, "400", ""), (21, "150", "thoracentesis")]),
    ("event_only_after_baseline", None, [(-1, "400", ""), (30, "", "paracentesis")]),
    ("one_of_two_excluded", None, [(0, "400", ""), (1, "", "paracentesis"), (21, "150", ""), (30, "160", "")]),
    ("pretreatment_excluded_then_none", None, [(-10, "500", ""), (-8, "", "paracentesis"), (-2, "400", ""),
                                               (20, "", "mouse_antibody"), (42, "100", "")]),
)


def generate(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    out = []
    patients = [(f"A{i:05d}", *_series(rng)) for i in range(n)]
    for name, uln_col, samples in EDGE_CASES:
        patients.append((f"E_{name}", [{"day": d, "ca125": v, "event": e} for d, v, e in samples], uln_col))
    for pid, rows, uln_col in patients:
        for row in rows:
            out.append({
                "patient_id": pid,
                "day": row["day"],
                "ca125": row.get("ca125", ""),
                "uln": "" if uln_col is None or not row.get("ca125") else _fmt(row.get("uln", uln_col)),
                "assay": row.get("assay", ""),
                "event": row.get("event", ""),
            })
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=20261130)
    args = parser.parse_args()
    rows = generate(args.n, args.seed)
    with open(args.out, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["patient_id", "day", "ca125", "uln", "assay", "event"])
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()
