"""The GCIG rules of ``ca125kinetics.gcig`` against an independent reading (``tests/data/gcig_independent.py``).

The reading was written from the rule text (``/work/shared/spec/clinical-rules.md``) and the
package's documented Decisions (``docs/clinical-rules.md``), without the package's code. Here
hypothesis draws series that sit on the rules' edges (exactly 50 %, exactly 2 x ULN, exactly
28 and 7 days, exactly 1.10 x the previous sample, exactly 2 x nadir, the baseline window's
ends, ``"<x"`` values, interference events, assay changes, same-day samples, unsorted input)
under the GCIG settings and changed ones, and every path of the package must give the
reading's result: ``gcig_response`` / ``gcig_progression`` / ``combined_response`` for one
patient, ``gcig_cohort`` by both executions of the kernel (plain and compiled), ``ca125 gcig``
on a file, and the GCIG columns of ``predict_cohort``.
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from pathlib import Path
from unittest import mock

import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings as hsettings, strategies as st

from ca125kinetics import gcig as g
from ca125kinetics.errors import InvalidInputError
from ca125kinetics.io import read_markers
from ca125kinetics.settings import GcigSettings

sys.path.insert(0, str(Path(__file__).parent / "data"))
import gcig_independent as ref  # noqa: E402

CUSTOM = dict(evaluable_factor=2.5, baseline_window_days=10, response_fraction=0.6, confirmation_days=21,
              assay_tolerance=1.25, interference_window_days=14, progression_factor=1.5, progression_gap_days=10)
EVENTS = ("paracentesis", "thoracentesis", "surgery", "mouse_antibody")


@st.composite
def rule_settings(draw, duplicates=("error",)):
    numbers = draw(st.sampled_from([{}, {}, CUSTOM]))
    return GcigSettings(uln=draw(st.sampled_from([35.0, 30.0])), duplicates=draw(st.sampled_from(duplicates)),
                        progression_confirmation=draw(st.sampled_from(["sustained", "any"])),
                        response_fall=draw(st.sampled_from(["first", "restart"])), **numbers)


def _r(x):
    return round(x, 4)


@st.composite
def series(draw, s, same_day=False, uln_change=False):
    """One patient's samples ``(day, value, censored, assay, uln)`` and events, on the edges of
    the rules in force under ``s``."""
    uln = s.uln
    window = s.baseline_window_days
    kind = draw(st.sampled_from(["exact", "below", "high", "high", "high", "high", "high", "normal", "between",
                                 "censored_low", "censored_high"]))
    base = {"exact": s.evaluable_factor * uln, "below": _r(s.evaluable_factor * uln - 0.01),
            "high": 2 * draw(st.integers(int(s.evaluable_factor * uln / 2) + 1, 3000)),
            "normal": draw(st.integers(1, int(uln))), "between": draw(st.integers(int(uln) + 1, int(2 * uln))),
            "censored_low": draw(st.sampled_from([5.0, 10.0, uln])),
            "censored_high": draw(st.sampled_from([50.0, 100.0, 400.0]))}[kind]
    base_day = draw(st.sampled_from([-window - 1, -window, 0, 0, 0, -3, -3, -7]))
    samples = [(base_day, float(base), kind.startswith("censored"))]
    for day in draw(st.lists(st.integers(-40, base_day - 1), max_size=2, unique=True)) if base_day > -40 else []:
        samples.append((day, float(draw(st.integers(1, 3000))), False))
    line = s.response_fraction * base
    n = draw(st.integers(0, 8) | st.integers(9, 20))
    day, prev, nadir = max(base_day, 0), float(base), float(base)
    for _ in range(n):
        gap = draw(st.sampled_from([s.confirmation_days, s.progression_gap_days, 21, 21, 14, 7, 1,
                                    s.confirmation_days - 1, s.progression_gap_days - 1]) | st.integers(1, 45))
        day += max(gap, 1)
        move = draw(st.sampled_from(["line", "line+", "tol", "tol+", "scale", "scale", "scale", "uln", "normal",
                                     "2uln", "2nadir", "2nadir-", "random", "censored", "decline", "decline"]))
        if move == "line":
            v = _r(line)
        elif move == "line+":
            v = _r(line + 0.01)
        elif move == "tol":
            v = _r(s.assay_tolerance * prev)
        elif move == "tol+":
            v = _r(s.assay_tolerance * prev + 0.01)
        elif move == "scale":
            v = _r(prev * draw(st.sampled_from([0.2, 0.4, 0.5, 0.7, 0.9, 1.05, 1.5, 2.0, 3.0])))
        elif move == "decline":
            v = _r(prev * draw(st.integers(55, 108)) / 100)
        elif move == "uln":
            v = uln
        elif move == "normal":
            v = float(draw(st.integers(1, int(uln))))
        elif move == "2uln":
            v = s.progression_factor * uln
        elif move == "2nadir":
            v = _r(s.progression_factor * nadir)
        elif move == "2nadir-":
            v = _r(s.progression_factor * nadir - 0.01)
        elif move == "random":
            v = float(draw(st.integers(1, 5000)))
        else:
            v = draw(st.sampled_from([5.0, 10.0, uln, 50.0]))
        v = min(max(v, 0.1), 100000.0)
        samples.append((day, v, move == "censored"))
        prev, nadir = v, min(nadir, v)
    if same_day and len(samples) > 1:
        day = draw(st.sampled_from([d for d, _, _ in samples]))
        samples.append((day, float(draw(st.integers(1, 3000))), draw(st.booleans())))
    assay = draw(st.sampled_from([None] * 5 + ["A", "A", "change", "change_unnamed"]))
    change_at = draw(st.integers(0, len(samples)))
    by_day = sorted(samples, key=lambda r: r[0])
    change_day = by_day[change_at][0] if change_at < len(by_day) else None

    def assay_of(d):
        if assay in (None, "A"):
            return assay
        if change_day is not None and d >= change_day:
            return "B" if assay == "change" else None
        return "A"

    uln_change_day = by_day[draw(st.integers(0, len(by_day) - 1))][0] if uln_change else None
    out = [(d, v, c, assay_of(d), 30.0 if uln_change_day is not None and d >= uln_change_day else uln)
           for d, v, c in samples]
    sample_days = [r[0] for r in out]
    w = s.interference_window_days
    event_day = st.integers(-30, max(sample_days) + 10) | st.builds(  # a sample on a window's edge
        lambda d, off: d + off, st.sampled_from(sample_days), st.sampled_from([-w, -w - 1, 0, 1, -1]))
    events = [(draw(event_day), draw(st.sampled_from(EVENTS))) for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2])))]
    order = draw(st.permutations(range(len(out))))
    return [out[i] for i in order], events


def _same_day(samples):
    days = [r[0] for r in samples]
    return len(days) != len(set(days))


def _merged(samples, how):
    """Same-day samples merged by ``how`` (None when two assays or ULNs share a day: refused)."""
    by_day = {}
    for r in samples:
        by_day.setdefault(r[0], []).append(r)
    out = []
    for day, rows in by_day.items():
        if len({r[3] for r in rows}) > 1 or len({r[4] for r in rows}) > 1:
            return None
        value, cens = ref.aggregate([r[1] for r in rows], [r[2] for r in rows], how)
        out.append((day, value, cens, rows[0][3], rows[0][4]))
    return out


def _check_response(got, want, where):
    for key in ("status", "evaluable", "responded", "category", "response_day", "confirmation_day",
                "baseline_day", "n_excluded"):
        assert got[key] == want[key], (where, key, got[key], want[key])
    assert ref.isclose(got["baseline_value"], want["baseline_value"]), (where, "baseline_value")
    assert got["uln"] == want["uln"], (where, "uln")


def _check_progression(got, want, where):
    for key in ("status", "progressed", "group", "progression_day"):
        assert got[key] == want[key], (where, key, got[key], want[key])


# --------------------------------------------------------------------------------------
# One patient
# --------------------------------------------------------------------------------------


@st.composite
def one_patient(draw):
    s = draw(rule_settings(duplicates=("error", "error", "mean", "median", "max", "min", "first", "last")))
    samples, events = draw(series(s, same_day=draw(st.booleans())))
    return s, samples, events


@hsettings(max_examples=400, deadline=None)
@given(one_patient())
def test_functions_agree_with_the_independent_reading(case):
    s, samples, events = case
    kwargs = dict(censored=[r[2] for r in samples], assays=[r[3] for r in samples] if any(r[3] for r in samples)
                  else None, events=events or None, settings=s, uln=s.uln)
    days, values = [r[0] for r in samples], [r[1] for r in samples]
    if _same_day(samples):
        merged = None if s.duplicates == "error" else _merged(samples, s.duplicates)
        if merged is None:
            with pytest.raises(InvalidInputError):
                g.gcig_response(days, values, **kwargs)
            with pytest.raises(InvalidInputError):
                g.gcig_progression(days, values, **kwargs)
            return
        samples = merged
    want_r, want_p = ref.assess(samples, events, s, s.uln)
    event(f"response {want_r['status']} {want_r['category']}")
    event(f"progression {want_p['status']} {want_p['group']}")
    resp = g.gcig_response(days, values, **kwargs)
    prog = g.gcig_progression(days, values, **kwargs)
    got_r = dict(resp.to_dict(), n_excluded=len(resp.excluded))
    _check_response(got_r, want_r, "gcig_response")
    assert (resp.last_day, resp.n_samples) == (want_r["last_day"], want_r["n_samples"])
    assert ref.isclose(resp.last_value, want_r["last_value"])
    assert [day for day, _why in resp.excluded] == want_r["excluded_days"] == [day for day, _ in prog.excluded]
    _check_progression(prog.to_dict(), want_p, "gcig_progression")
    if want_p["status"] != "not_evaluable":
        assert ref.isclose(prog.threshold, want_p["threshold"]) and ref.isclose(prog.nadir, want_p["nadir"])
        assert prog.confirmation_day == want_p["confirmation_day"]
    for recist in ("CR", "PR", "SD", "PD", None):
        assert g.combined_response(recist, ca125_response=resp, ca125_progression=prog).category == \
            ref.combined(recist, want_r, want_p), recist


# --------------------------------------------------------------------------------------
# A cohort: gcig_cohort by both executions, and ca125 gcig
# --------------------------------------------------------------------------------------


@st.composite
def cohort(draw, settings=None):
    s = settings or draw(rule_settings(duplicates=("error", "mean", "max", "min", "last")))
    patients = draw(st.lists(series(s, same_day=draw(st.booleans()), uln_change=draw(st.booleans())),
                             min_size=1, max_size=25))
    recist = draw(st.lists(st.sampled_from(["CR", "PR", "SD", "PD", "sd", None]),
                           min_size=len(patients), max_size=len(patients)))
    # how the events are written: rows of their own (without a ULN, or with another one,
    # which an event-only row does not have), or on a sample's row of the same day
    styles = draw(st.lists(st.sampled_from(["own", "own_uln", "on_sample"]),
                           min_size=len(patients), max_size=len(patients)))
    return s, [(samples, events, style) for (samples, events), style in zip(patients, styles)], recist


def _tables(patients, recist):
    rows = []
    for i, (samples, events, style) in enumerate(patients):
        pid = f"P{i:03d}"
        mine = [dict(patient_id=pid, day=d, ca125=f"<{v}" if c else repr(v), uln=u, assay=a, event=None)
                for d, v, c, a, u in samples]
        for d, k in events:
            row = next((r for r in mine if r["day"] == d and r["event"] is None), None)
            if style == "on_sample" and row is not None:
                row["event"] = k
            else:
                mine.append(dict(patient_id=pid, day=d, ca125=None, uln=25.0 if style == "own_uln" else None,
                                 assay=None, event=k))
        rows += mine
    markers = pd.DataFrame(rows, columns=["patient_id", "day", "ca125", "uln", "assay", "event"])
    clinical = pd.DataFrame({"patient_id": [f"P{i:03d}" for i in range(len(patients))], "recist": recist})
    return markers, clinical


def _want(s, samples, events, recist):
    """The reading's row of one patient of a cohort: None where the patient is invalid_input."""
    if _same_day(samples):
        samples = None if s.duplicates == "error" else _merged(samples, s.duplicates)
        if samples is None:
            return None
    resp, prog = ref.assess(samples, events, s, s.uln)
    return resp, prog, ref.combined(recist.upper() if recist else None, resp, prog)


def _compare_table(table, s, patients, recist, where):
    table = table.set_index("patient_id")
    assert len(table) == len(patients)
    for i, (samples, events, _style) in enumerate(patients):
        row = table.loc[f"P{i:03d}"]
        want = _want(s, samples, events, recist[i])
        if want is None:
            assert row["status"] == "invalid_input" and row["progression_status"] == "invalid_input", (where, i)
            continue
        resp, prog, category = want
        na = lambda x: None if pd.isna(x) else x  # noqa: E731
        got_r = {k: na(row[k]) for k in ("status", "evaluable", "responded", "category", "response_day",
                                          "confirmation_day", "baseline_day", "baseline_value", "uln")}
        got_r["n_excluded"] = na(row["n_excluded"]) if "n_excluded" in row.index else resp["n_excluded"]
        _check_response(got_r, resp, (where, i))
        got_p = dict(status=row["progression_status"], progressed=na(row["progressed"]),
                     group=na(row["progression_group"]), progression_day=na(row["progression_day"]))
        if prog["status"] == "not_evaluable":
            got_p["progressed"] = bool(got_p["progressed"])
        _check_progression(got_p, prog, (where, i))
        assert na(row["combined_category"]) == category, (where, i, "combined_category")


@pytest.mark.parametrize("compiled", [False, True], ids=["python", "compiled"])
@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=cohort(), read_first=st.booleans())
def test_cohort_agrees_with_the_independent_reading(compiled, case, read_first):
    s, patients, recist = case
    markers, clinical = _tables(patients, recist)
    if read_first:  # a frame the reader returned is used as it is; any other is read first
        markers = read_markers(markers, on_error="flag", uln=s.uln, duplicates=s.duplicates)
    with mock.patch.object(g, "use_compiled", lambda n_patients: compiled):
        table = g.gcig_cohort(markers, clinical, settings=s)
    _compare_table(table, s, patients, recist, "compiled" if compiled else "python")


@hsettings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=cohort(), chunk_rows=st.sampled_from([None, 20]))
def test_command_agrees_with_the_independent_reading(case, chunk_rows):
    from ca125kinetics.cli import main

    s, patients, recist = case
    markers, clinical = _tables(patients, recist)
    custom = {k: getattr(s, k) for k in CUSTOM if getattr(s, k) != getattr(GcigSettings(), k)}
    if custom:  # the command has no flags for the numbers: its defaults
        s = GcigSettings(uln=s.uln, duplicates=s.duplicates, progression_confirmation=s.progression_confirmation,
                         response_fall=s.response_fall)
    with tempfile.TemporaryDirectory() as tmp:
        mpath, cpath, out = Path(tmp, "m.csv"), Path(tmp, "c.csv"), Path(tmp, "out.csv")
        markers.to_csv(mpath, index=False)
        clinical.to_csv(cpath, index=False)
        args = ["gcig", str(mpath), "--clinical", str(cpath), "--out", str(out), "--uln", repr(s.uln),
                "--duplicates", s.duplicates, "--progression-confirmation", s.progression_confirmation,
                "--response-fall", s.response_fall, "--no-progress"]
        if chunk_rows:
            args += ["--chunk-rows", str(chunk_rows)]
        assert main(args) == 0
        table = pd.read_csv(out, dtype={"patient_id": str, "recist": str})
    for col in ("evaluable", "responded", "progressed"):
        table[col] = table[col].map(lambda x: x if pd.isna(x) else str(x).lower() == "true")
    _compare_table(table, s, patients, recist, "ca125 gcig")


@hsettings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=cohort(settings=GcigSettings()))
def test_predict_agrees_with_the_independent_reading(case):
    """``predict_cohort`` reports the GCIG columns of the model's settings (the GCIG defaults
    for the shipped model) from the same kernel, through the scoring reader."""
    from ca125kinetics import load_model, predict_cohort

    s, patients, recist = case
    markers, clinical = _tables(patients, recist)
    model = load_model()
    assert model.gcig_settings == s
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # the synthetic model's and the data-quality warnings
        table = predict_cohort(markers, clinical, model)
    gcig = {f"gcig_{k}": k for k in ("evaluable", "responded", "category", "status", "uln", "baseline_day",
                                      "baseline_value", "response_day", "confirmation_day")}
    table = table[["patient_id", *gcig, "progressed", "progression_group", "progression_day", "progression_status",
                   "combined_category"]].rename(columns=gcig)
    _compare_table(table, s, patients, recist, "predict_cohort")
