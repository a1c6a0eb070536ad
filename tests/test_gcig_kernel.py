"""Tests of ca125kinetics._gcig_kernel: its two executions (plain Python, numba-compiled) agree.

The kernel is one source run two ways (see its module docstring); these properties feed
both the same random patient-contiguous rows and settings and require identical outputs,
every float bit included. Whether the outputs are right is the business of
``test_gcig.py`` (hand-worked series) and ``test_gcig_contract.py`` (the recorded contract).
"""

from __future__ import annotations

import sys

import numpy as np
from hypothesis import given, settings as hsettings, strategies as st

from ca125kinetics import _gcig_kernel as K
from ca125kinetics import gcig
from ca125kinetics.settings import AGGREGATIONS, PROGRESSION_CONFIRMATIONS, RESPONSE_FALLS, GcigSettings

# values near the thresholds of the default rules (ULN 35: 2 x ULN = 70, 50 % falls, 1.10 x rises)
_VALUES = st.one_of(st.sampled_from([0.0, 5.0, 17.5, 35.0, 35.1, 69.9, 70.0, 100.0, 110.00000000000001,
                                     140.0, 198.00000000000003, 200.0, 400.0]),
                    st.floats(0, 5000, allow_nan=False, allow_infinity=False))
_ROW = st.tuples(st.integers(-30, 150), _VALUES, st.booleans(), st.integers(-1, 2), st.integers(-1, 3),
                 st.booleans())
_PATIENT = st.tuples(st.lists(_ROW, min_size=1, max_size=12), st.sampled_from([30.0, 35.0, 35.0, 50.0]),
                     st.booleans())
_SETTINGS = st.builds(
    GcigSettings, evaluable_factor=st.sampled_from([2.0, 1.5, 2.5]),
    baseline_window_days=st.sampled_from([14, 7, 0]), response_fraction=st.sampled_from([0.5, 0.6]),
    confirmation_days=st.sampled_from([28, 21, 0]), assay_tolerance=st.sampled_from([1.1, 1.25, 1.0]),
    interference_window_days=st.sampled_from([28, 0, 10]), progression_factor=st.sampled_from([2.0, 1.5]),
    progression_gap_days=st.sampled_from([7, 0, 14]), duplicates=st.sampled_from(["error", *AGGREGATIONS]),
    progression_confirmation=st.sampled_from(PROGRESSION_CONFIRMATIONS), response_fall=st.sampled_from(RESPONSE_FALLS))


def _rows(patients, settings) -> gcig._Rows:
    """Kernel rows of generated patients: sorted by day within patient, a row without an
    event always a sample; each sample states the patient's ULN, but the last sample of a
    patient flagged ``changed``, which states another one (a ULN change)."""
    day, value, cens, assay, event, sample, uln_row, starts = [], [], [], [], [], [], [], [0]
    for rows, uln, changed in patients:
        for d, v, c, a, e, s in sorted(rows, key=lambda r: r[0]):
            day.append(d)
            value.append(v if s or e < 0 else np.nan)
            cens.append(c)
            assay.append(a)
            event.append(e)
            sample.append(s or e < 0)
            uln_row.append(uln if s or e < 0 else np.nan)
        if changed:
            last = [j for j in range(starts[-1], len(day)) if sample[j]]
            if last:
                uln_row[last[-1]] = uln + 5.0
        starts.append(len(day))
    n = len(patients)
    return gcig._Rows(starts=np.array(starts), day=np.array(day, dtype=np.int64), value=np.array(value),
                      cens=np.array(cens), assay=np.array(assay, dtype=np.int64),
                      event=np.array(event, dtype=np.int64), is_sample=np.array(sample),
                      uln=np.array([u for _, u, _ in patients]), uln_row=np.array(uln_row, dtype=float),
                      skip=np.zeros(n, dtype=bool), assay_names=("A", "B", "C"), settings=settings)


def _same(a, b) -> bool:
    return a.shape == b.shape and bool(np.all((a == b) | (np.isnan(a) & np.isnan(b)) if a.dtype.kind == "f"
                                              else a == b))


@hsettings(max_examples=150, deadline=None)
@given(st.lists(_PATIENT, min_size=1, max_size=8), _SETTINGS)
def test_compiled_and_python_kernels_agree(patients, settings):
    rows = _rows(patients, settings)
    plain, compiled = gcig._run(rows, compiled=False), gcig._run(rows, compiled=True)
    assert _same(plain.f, compiled.f)
    assert _same(plain.i, compiled.i)
    n_excluded = plain.i[:, K.I_N_EXCLUDED]
    for p in range(len(patients)):   # the excluded samples (the rest of those arrays is scratch)
        lo = rows.starts[p]
        at = slice(lo, lo + n_excluded[p])
        for name in ("xday", "xkind", "xevent"):
            assert _same(getattr(plain, name)[at], getattr(compiled, name)[at])


# patients with nothing usable after the first dose: pretreatment samples only, or later ones
# all drawn on or after a mouse-antibody event on day 1
_PRE_ROW = st.tuples(st.integers(-30, 0), _VALUES, st.booleans(), st.integers(-1, 0), st.just(-1), st.just(True))
_LATE_ROW = st.tuples(st.integers(1, 150), _VALUES, st.booleans(), st.integers(-1, 0), st.just(-1), st.just(True))
_NOTHING_AFTER_DAY_0 = st.tuples(
    st.builds(lambda pre, late: pre + ([(1, 0.0, False, -1, K.EV_HAMA, False)] + late if late else []),
              st.lists(_PRE_ROW, min_size=1, max_size=4), st.lists(_LATE_ROW, max_size=4)),
    st.sampled_from([30.0, 35.0]), st.just(False))


@hsettings(max_examples=100, deadline=None)
@given(st.lists(_NOTHING_AFTER_DAY_0, min_size=1, max_size=8),
       st.sampled_from(["first", "mean", "max"]))
def test_kernels_agree_without_a_sample_after_the_first_dose(patients, duplicates):
    """Both executions give the ``awaiting`` response code (evaluable baseline) and the
    no-sample progression code to every patient with a baseline and nothing after day 0."""
    rows = _rows(patients, GcigSettings(duplicates=duplicates))
    plain, compiled = gcig._run(rows, compiled=False), gcig._run(rows, compiled=True)
    assert _same(plain.f, compiled.f) and _same(plain.i, compiled.i)
    rcode, pcode = plain.i[:, K.I_RCODE], plain.i[:, K.I_PCODE]
    evaluable = rcode >= K.R_NO_SAMPLE
    assert (rcode[evaluable] == K.R_NO_SAMPLE).all()
    has_baseline = plain.i[:, K.I_BASE_DAY] != K.MISSING
    assert ((pcode == K.P_NO_SAMPLE) | (pcode == K.P_BASE_CENSORED) | ~has_baseline).all()
    assert [gcig._RESPONSE_STATUS[c] for c in rcode[evaluable].tolist()] == ["awaiting"] * int(evaluable.sum())


def test_small_jobs_do_not_import_numba():
    import subprocess

    code = ("import sys; from ca125kinetics.gcig import gcig_response, gcig_cohort; import pandas as pd; "
            "gcig_response([0, 21, 49], [400, 150, 100]); "
            "gcig_cohort(pd.DataFrame({'patient_id': ['a', 'a'], 'day': [0, 30], 'ca125': [100.0, 20.0]})); "
            "print('numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_large_jobs_run_compiled(monkeypatch):
    monkeypatch.setattr(gcig, "COMPILED_MIN_PATIENTS", 50_000)
    monkeypatch.setattr(gcig, "COMPILED_LOADED_MIN_PATIENTS", 1_000)
    monkeypatch.setattr(gcig, "_compiled_loaded", lambda: False)
    assert not gcig.use_compiled(49_999) and gcig.use_compiled(50_000)
    monkeypatch.setattr(gcig, "_compiled_loaded", lambda: True)   # its start-up paid: from 1,000 patients
    assert not gcig.use_compiled(999) and gcig.use_compiled(1_000)
    calls = []
    monkeypatch.setattr(gcig, "_compiled_kernel", lambda real=gcig._compiled_kernel: calls.append(1) or real())
    rows = _rows([([(0, 100.0, False, 0, -1, True)], 35.0, False)] * 3, GcigSettings())
    monkeypatch.setattr(gcig, "use_compiled", lambda n_patients: n_patients >= 3)
    gcig._run(rows)
    assert calls == [1]
    monkeypatch.setattr(gcig, "use_compiled", lambda n_patients: n_patients >= 4)
    gcig._run(rows)
    assert calls == [1]


@hsettings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.sampled_from([0.0, -0.0, 70.0, 1e-5])),
                min_size=0, max_size=1200),
       st.lists(st.integers(-10 ** 6, 10 ** 6), min_size=0, max_size=1200))
def test_reason_numbers_are_written_one_by_one(floats, ints):
    """The column-wise number texts of the reasons (distinct values written once, days by
    position in their range) equal ``format`` of each value: ``_num`` and whole days."""
    x = np.array(floats, dtype=float)
    assert gcig._texts(x, ".6g") == [format(v, ".6g") for v in floats]
    d = np.array(ints, dtype=np.int64)
    assert gcig._texts(d, "d") == [format(v, "d") for v in ints]
    assert gcig._texts(np.arange(-300, 300), "d") == [str(v) for v in range(-300, 300)]
    # the same texts as an Arrow string array (the reasons of a large cohort)
    assert gcig._texts(x, ".6g", arrow=True).to_pylist() == [format(v, ".6g") for v in floats]
    assert gcig._texts(d, "d", arrow=True).to_pylist() == [format(v, "d") for v in ints]


def test_preload_compiled_loads_the_kernel_in_a_thread_and_jobs_then_agree():
    """``preload_compiled`` (what ``ca125 gcig`` starts before reading a large file) loads
    the compiled kernel in a background thread; a compiled job started meanwhile waits for it
    and gives the plain-Python results."""
    rows = _rows([([(0, 100.0, False, 0, -1, True), (30, 20.0, False, 0, -1, True),
                    (60, 15.0, False, 0, -1, True)], 35.0, False)] * 3, GcigSettings())
    thread = gcig.preload_compiled()
    compiled = gcig._run(rows, compiled=True)
    thread.join()
    assert gcig._compiled_loaded()
    plain = gcig._run(rows, compiled=False)
    np.testing.assert_array_equal(compiled.i, plain.i)
    np.testing.assert_array_equal(compiled.f, plain.f)


def test_preload_failure_is_left_to_the_job_that_needs_the_kernel(monkeypatch):
    """A failed background load prints nothing (an exception escaping the thread would fail
    this test: pytest turns it into an error): the job that needs the compiled kernel loads
    it again and raises the error itself."""
    calls = []

    def broken(rows, compiled=None):
        calls.append(compiled)
        raise RuntimeError("no compiler")

    monkeypatch.setattr(gcig, "_run", broken)
    gcig.preload_compiled().join()
    assert calls == [True]


def _excluded_by_rule(sample_days, events, window):
    """The exclusions of ``_exclude``'s docstring, read row by row: a sample on or after the
    first mouse-antibody day is excluded against it; otherwise against the earliest
    interference event drawn ``0 <= day - event_day <= window`` before it (the first kind on
    a tie). Returns (kept days, [(day, kind, event day)] excluded)."""
    hama = min((e for e, k in events if k == K.EV_HAMA), default=None)
    kept, excluded = [], []
    for d in sample_days:
        if hama is not None and d >= hama:
            excluded.append((d, K.EV_HAMA, hama))
            continue
        hits = sorted((e, k) for e, k in events if k != K.EV_HAMA and 0 <= d - e <= window)
        if hits:
            excluded.append((d, hits[0][1], hits[0][0]))
        else:
            kept.append(d)
    return kept, excluded


def _exclusion_rows(sample_days, events):
    """Kernel rows (day order, a sample row before an event row of its day) of one patient,
    and the merged samples (one per day) ``_exclude`` reads."""
    rows = sorted([(d, 0, K.EV_NONE) for d in sample_days] + [(e, 1, k) for e, k in events])
    return [d for d, _, _ in rows], [k for _, _, k in rows]


def _run_exclude(day, event, sample_days, window):
    n, end = len(day), len(sample_days)
    md = list(sample_days) + [0] * (n - end)
    mv, mc, ma, mu = [float(d) for d in md], [False] * n, [0] * n, [35.0] * n
    xday, xkind, xevent = [0] * n, [0] * n, [0] * n
    keep, n_ex = K._exclude(0, n, end, day, event, window, md, mv, mc, ma, mu, xday, xkind, xevent)
    return md[:keep], list(zip(xday[:n_ex], xkind[:n_ex], xevent[:n_ex])), mv[:keep]


@hsettings(max_examples=200, deadline=None)
@given(st.sets(st.integers(-30, 150), max_size=25),
       st.lists(st.tuples(st.integers(-40, 160), st.sampled_from([0, 1, 2, 3])), max_size=6),
       st.sampled_from([28, 0, 10, 200]))
def test_exclusion_windows_follow_the_rule(samples, events, window):
    """The samples each event excludes are those of the rule, read over every event for
    every sample: ``_exclude`` reads only the rows of each sample's window (rows in day
    order), and excludes the same samples against the same events."""
    sample_days = sorted(samples)
    day, event = _exclusion_rows(sample_days, events)
    kept, excluded, values = _run_exclude(day, event, sample_days, window)
    assert (kept, excluded) == _excluded_by_rule(sample_days, events, window)
    assert values == [float(d) for d in kept]      # each kept sample keeps its own value


class _CountedReads(list):
    """A list that counts the reads of its items."""

    reads = 0

    def __getitem__(self, index):
        _CountedReads.reads += 1
        return super().__getitem__(index)


def test_exclusion_reads_each_row_a_bounded_number_of_times():
    """A long series with one event: each sample reads the rows of its own window (here 29
    days of daily rows), not every row of the patient (2,000 daily samples and a surgery read
    4 million row cells, some 123,000 now); the result is the rule's."""
    sample_days = list(range(-30, 1970))
    events = [(900, K.EV_SURGERY)]
    day, event = _exclusion_rows(sample_days, events)
    _CountedReads.reads = 0
    kept, excluded, _ = _run_exclude(_CountedReads(day), _CountedReads(event), sample_days, 28)
    assert (kept, excluded) == _excluded_by_rule(sample_days, events, 28)
    assert len(excluded) == 29
    assert _CountedReads.reads <= 3 * (28 + 2) * len(day)
