"""Write ``tests/data/gcig_contract.parquet``: the GCIG rules' outputs, recorded as a contract.

Run from the repository root (the package on the path)::

    PYTHONPATH=src python tests/data/gcig_contract_generator.py

The file was first written by the per-patient Python implementation of ``ca125kinetics.gcig``
as it stood before the rules became a kernel over patient-contiguous arrays (commit
``0e3e63c``); ``tests/test_gcig_contract.py`` asserts that the package still reproduces
every cell exactly (reasons included). Regenerate it only for a deliberate change of the
rules, and say so in the commit.

Regenerated when the reasons began to show a value reported censored as reported, ``<x``
(the fall, the confirming sample, a breaking sample and the one before it, the lowest sample,
the nadir), where they had shown it as a measurement ``x``: only a ``<`` was inserted, in 372
``reason`` and 47 ``progression_reason`` cells and 64 ``api`` rows; every other cell is as
before.

Regenerated when the ULN came to be compared as the assay is, among the samples the rules use
from the baseline on (it had been compared over every sample, also before the baseline and
inside an exclusion window): only the 267 patients whose reason had been "the ULN differs
within the patient" changed. 169 now read "the ULN changed from U (day d) to V (day e)"; the
other 98 differed only on samples the rules do not use and now carry their own outcome (all
still ``not_evaluable`` here: no baseline in the window, an assay change, or a baseline below
2 x ULN, 8 of these last now with a baseline day, value and progression group and status).
Every other cell is as before.

Regenerated when a result still waiting for a sample after mouse antibodies said that none will
count ("; no later sample will count: mouse antibodies on day d" at the end of the reasons of
``unconfirmed``, ``awaiting``, a pending progression and progression with no sample after the
first dose): only that clause was added, to 52 ``reason`` and 61 ``progression_reason`` cells
and 19 ``api`` rows; every other cell is as before.

Regenerated when same-day samples came to be aggregated in the order of their values, not of
the rows (so that a mean is one number whatever the order of the rows and the patients beside
them, in process as on Spark): only 3 ``api`` rows changed (the ``gcig_response`` and
``gcig_progression`` cases with ``duplicates="mean"``), each in the last bits of an averaged
value (``115.56666666666668`` -> ``115.56666666666666``), equal when numbers are rounded to 10
significant digits; every other cell is as before.

Regenerated for the ``awaiting`` status (an evaluable baseline with no usable sample after the
first dose, none drawn or every one excluded, was ``no_response``): only those patients'
``status``, ``responded`` (now missing), ``reason`` and ``progression_reason`` changed (474
patient rows of the cohort cases and their ``api`` rows; 642 progression reasons, those of
every patient with a baseline and no sample after the first dose, whether evaluable for
response or not), every other cell is as before.

Regenerated when the GCIG functions stopped validating their input with checks of their own
and read it with the markers reader (``io.read_markers``) instead, as the files are read:
``gcig_response``/``gcig_progression`` read their lists as a markers table, and
``gcig_cohort`` reads a frame the reader did not return. Only the ``stress-*`` and
``float-days`` cases (frames built by hand) and the ``api`` rows changed: the reasons of
every ``invalid_input`` patient (452 rows; the reader's texts, e.g. "invalid input: row 8,
column 'day': two or more CA-125 samples on day 21; ..." for "2 samples on day 21 ..."), the
``uln`` of 162 of them (a flagged patient reports the default ULN, as a flagged file's does),
the 62 ``api`` error texts, and 25 patients whose ``uln`` column is empty on some rows and not
on others: the reader fills an empty ``uln`` cell with the default ULN (as in a file), so
their ULN now differs within the patient (``not_evaluable``, with that reason; the cohort
case had read an empty cell as "the patient's first ULN"). Every other cell is as before.

Regenerated when same-day samples got one rule, the reader's, for every path (the kernel no
longer merges rows of its own): an aggregate is censored exactly when lowering a censored
sample could lower it, an event on one of the samples stays a row of its own, and samples of
two assays or two ULNs on one day are refused. Only ``stress-*`` cases with an aggregation
setting, ``float-days`` and their ``api`` rows changed (504 rows): 297 patients with two
assays or ULNs on a day went from ``not_evaluable`` to ``invalid_input`` (the reader's
reason), 93 ``invalid_input`` reasons now also name that, and 8 patients changed outcome by
the censoring of their aggregates or a kept event (e.g. the median of ``<53.3``, 73.6 and
70 is exactly 70; the minimum of 429.6 and ``<472.1`` is at most 429.6).

Regenerated when every response and progression reason of a patient whose samples the
exclusion windows set aside says so, as the ``unconfirmed`` reason already did ("; N
sample(s) set aside by the exclusion windows (28 days after a procedure; every sample after
mouse antibodies)"): before, a confirmed response read "every sample in between <= 50 % of
baseline" with an excluded 500 U/mL between, and nothing said it had been set aside. Only
``reason`` (233 rows) and ``progression_reason`` (556 rows) changed, each by that text
appended, and the ``reason`` in 109 ``api`` rows; every other cell is as before.

Regenerated when a flagged patient's reason began to name the table its row belongs to
("invalid input: markers table, row 26, column 'day': ..." for "invalid input: row 26, column
'day': ..."): only that text was inserted, in the ``reason`` and ``progression_reason`` of the
819 ``invalid_input`` rows; every other cell is as before.

Inputs (all deterministic):

* ``synthetic``: the committed synthetic cohort ``data/synthetic/default`` (markers and
  clinical read with ``ca125kinetics.io``), default settings;
* ``stress-<duplicates>``: a generated cohort (:func:`stress_cohort`, seed 14) built to reach
  every branch of the rules: exclusion events (paracentesis, thoracentesis, surgery windows;
  mouse antibody), event-only rows and events on sample rows, same-day duplicates, censored
  ``"<x"`` values (baseline censored, censored in the confirmation window), assay changes
  and unnamed assays, ULN differing within a patient, ``problem`` rows, invalid values,
  unknown event kinds, no baseline, baseline below 2 x ULN, exact thresholds (50 % of
  baseline, 1.10 x previous, 2 x nadir), unconfirmed and not-confirmed falls (both kinds of
  break), CR/PR, every progression group and status, and RECIST values (valid, lower case,
  invalid, missing, clinical-only patients) for the combined category; run once per
  ``duplicates`` setting;
* ``stress-custom``: the same cohort under non-default settings (every threshold changed);
* ``float-days``: a frame whose ``day`` column is float (a non-integer day is invalid);
* ``api-response`` / ``api-progression``: :func:`gcig_response` / :func:`gcig_progression`
  of every stress patient without ``problem`` (``duplicates="mean"``), each result's
  ``to_dict()`` (settings dropped) as JSON in the ``api`` column.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from ca125kinetics import io
from ca125kinetics.errors import InvalidInputError
from ca125kinetics.gcig import gcig_cohort, gcig_progression, gcig_response
from ca125kinetics.settings import GcigSettings

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).parent / "gcig_contract.parquet"
DUPLICATES = ("error", "mean", "median", "max", "min", "first", "last")
CUSTOM = dict(uln=30.0, evaluable_factor=2.5, baseline_window_days=10, response_fraction=0.6,
              confirmation_days=21, assay_tolerance=1.25, interference_window_days=14,
              progression_factor=1.5, progression_gap_days=10)


def stress_cohort(n: int = 1200, seed: int = 14) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A markers frame (the canonical columns) and a clinical frame reaching every rule branch."""
    rng = np.random.default_rng(seed)
    rows = []
    recist = []
    for p in range(n):
        pid = f"S{p:05d}"
        uln = float(rng.choice([35.0, 35.0, 30.0]))
        assay = str(rng.choice(["CA125-A", "CA125-B"]))
        kind = rng.integers(0, 12)
        # baseline
        base_day = int(rng.choice([0, -1, -7, -14, -15, -20, 3])) if rng.random() < 0.3 else int(rng.integers(-14, 1))
        level = rng.choice(["exact2", "under2", "normal", "high", "high", "high", "high"])
        base = {"exact2": 2 * uln, "under2": round(2 * uln - rng.uniform(0.1, 20), 1),
                "normal": round(rng.uniform(5, uln), 1), "high": round(float(np.exp(rng.uniform(4.3, 8))), 1)}[level]
        samples = [[base_day, base, rng.random() < 0.06, assay, None]]
        if rng.random() < 0.1:  # an older pretreatment sample too
            samples.append([base_day - int(rng.integers(1, 20)), round(base * rng.uniform(0.5, 1.5), 1), False, assay, None])
        day, value = max(base_day, 0), base
        m = int(rng.integers(0, 9))
        nadir = base
        for _ in range(m):
            day += int(rng.choice([7, 14, 21, 21, 21, 28, 35, 6, 1]))
            step = rng.random()
            if kind < 4:        # falls, sometimes exactly at 50 % / 1.10 x previous
                if step < 0.15:
                    value = 0.5 * base
                elif step < 0.3:
                    value = 1.1 * value
                elif step < 0.4:
                    value = value * rng.uniform(1.0, 1.2)
                else:
                    value = round(value * rng.uniform(0.3, 0.95), 1)
            elif kind < 8:      # fall then rise (progression groups A / B)
                if step < 0.5 and value > uln / 2:
                    value = round(value * rng.uniform(0.2, 0.8), 1)
                elif step < 0.6:
                    value = 2 * nadir
                elif step < 0.7:
                    value = 2 * uln
                else:
                    value = round(value * rng.uniform(1.0, 3.5) + rng.uniform(0, 20), 1)
            else:               # noise
                value = round(float(np.exp(rng.uniform(1, 8))), 1)
            nadir = min(nadir, value)
            cens = rng.random() < 0.06
            if cens:
                value = float(rng.choice([5.0, 10.0, uln, 2 * uln + 5]))
            name = assay
            if rng.random() < 0.04:
                name = "CA125-B" if assay == "CA125-A" else "CA125-A"
            elif rng.random() < 0.05:
                name = None
            elif rng.random() < 0.03:
                name = f" {assay} "
            samples.append([day, float(value), bool(cens), name, None])
        # same-day duplicates
        if samples and rng.random() < 0.15:
            for _ in range(int(rng.integers(1, 3))):
                s = samples[int(rng.integers(0, len(samples)))]
                other = s[3] if rng.random() < 0.8 else ("CA125-Z" if s[3] else None)
                samples.append([s[0], round(s[1] * rng.uniform(0.7, 1.4), 1), rng.random() < 0.2, other, None])
        # events: on their own row (ca125 NaN) or on a sample row
        if rng.random() < 0.2:
            for _ in range(int(rng.integers(1, 3))):
                ev = str(rng.choice(["paracentesis", "thoracentesis", "surgery", "mouse_antibody",
                                     "surgery", "paracentesis", " Surgery"]))
                ev_day = int(rng.integers(-20, max(day, 1) + 1))
                if rng.random() < 0.7 or not samples:
                    samples.append([ev_day, np.nan, False, None, ev])
                else:
                    samples[int(rng.integers(0, len(samples)))][4] = ev
        # invalid inputs
        u = rng.random()
        if u < 0.01:
            samples[-1][1] = -3.0
        elif u < 0.02:
            samples.append([day + 5, np.nan, False, assay, None])
        elif u < 0.03:
            samples.append([day + 5, np.nan, False, None, "biopsy"])
        ulns = [uln] * len(samples)
        u = rng.random()
        if u < 0.04:
            ulns[-1] = 30.0 if uln == 35.0 else 35.0
        elif u < 0.08:
            ulns = [np.nan] * len(samples)
        elif u < 0.1:
            ulns[0] = np.nan
        problem = [None] * len(samples)
        if rng.random() < 0.02:
            problem[int(rng.integers(0, len(samples)))] = "row 3: ca125 'abc' is not a number"
        order = rng.permutation(len(samples)) if rng.random() < 0.2 else range(len(samples))
        for i in order:
            d, v, c, a, e = samples[i]
            rows.append(dict(patient_id=pid, day=d, ca125=v, censored=c, uln=ulns[i], assay=a, event=e,
                             problem=problem[i]))
        recist.append(rng.choice(["CR", "PR", "SD", "PD", "pr", "XX", None, None]))
    markers = pd.DataFrame(rows)
    markers["day"] = markers["day"].astype("int64")
    markers["censored"] = markers["censored"].astype(bool)
    ids = [f"S{p:05d}" for p in range(n)]
    extra = [f"S{p:05d}" for p in range(n, n + 20)]  # clinical-only patients
    clinical = pd.DataFrame({"patient_id": ids + extra,
                             "recist": recist + list(rng.choice(["CR", "SD", "PD", "XX", None], size=20))})
    # patient order not sorted in the frame: shuffle whole patients
    return markers, clinical


def _cohort(case: str, markers, clinical, settings) -> pd.DataFrame:
    table = gcig_cohort(markers, clinical, settings=settings)
    table.insert(0, "case", case)
    return table


def _api(markers: pd.DataFrame) -> pd.DataFrame:
    settings = GcigSettings(duplicates="mean")
    out = []
    for pid, rows in markers.groupby("patient_id", sort=True):
        if rows["problem"].notna().any():
            continue
        samples = rows[rows["ca125"].notna() | rows["event"].isna()]
        events = [(int(d), e) for d, e in zip(rows["day"], rows["event"]) if isinstance(e, str)]
        ulns = rows["uln"].dropna().unique()
        kwargs = dict(uln=float(ulns[0]) if len(ulns) else None, settings=settings,
                      censored=samples["censored"].tolist(), events=events or None,
                      assays=samples["assay"].tolist())
        for name, func in (("api-response", gcig_response), ("api-progression", gcig_progression)):
            try:
                result = func(samples["day"].tolist(), samples["ca125"].tolist(), **kwargs).to_dict()
                result.pop("settings")
                text = json.dumps(result, sort_keys=True)
            except InvalidInputError as exc:
                text = json.dumps({"error": str(exc)})
            out.append(dict(case=name, patient_id=pid, api=text))
    return pd.DataFrame(out)


def build() -> pd.DataFrame:
    syn = ROOT / "data" / "synthetic" / "default"
    clinical = io.read_clinical(syn / "clinical.csv", on_error="flag", require=("patient_id",))
    markers = io.read_markers(syn / "markers.csv", clinical=clinical, on_error="flag")
    tables = [_cohort("synthetic", markers, clinical, GcigSettings())]
    stress, stress_clinical = stress_cohort()
    # whole patients in a shuffled order (the cohort sorts by patient)
    pids = stress["patient_id"].unique()
    rank = dict(zip(np.random.default_rng(7).permutation(pids), range(len(pids))))
    shuffled = stress.iloc[np.argsort(stress["patient_id"].map(rank).to_numpy(), kind="stable")]
    for how in DUPLICATES:
        tables.append(_cohort(f"stress-{how}", shuffled, stress_clinical, GcigSettings(duplicates=how)))
    tables.append(_cohort("stress-custom", stress, stress_clinical, GcigSettings(duplicates="median", **CUSTOM)))
    floats = stress[stress["patient_id"] < "S00100"].copy()
    floats["day"] = floats["day"].astype(float)
    floats.loc[floats.index[::17], "day"] += 0.5
    tables.append(_cohort("float-days", floats, None, GcigSettings(duplicates="last")))
    table = pd.concat(tables, ignore_index=True)
    return pd.concat([table, _api(stress)], ignore_index=True)


def main() -> int:
    table = build()
    table.to_parquet(OUT, index=False, compression="zstd")
    print(f"wrote {OUT} ({len(table)} rows, {OUT.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
