"""The GCIG CA-125 rules as one kernel over patient-contiguous arrays (private).

This file is the only statement of the rules of :mod:`ca125kinetics.gcig` (exclusion
windows, baseline, one assay, response, confirmation, progression; same-day samples are
refused or aggregated before, by the markers reader, :func:`ca125kinetics.io.read_markers`):
:mod:`~ca125kinetics.gcig` prepares the arrays, calls :func:`run` and turns its codes and
numbers into statuses, result objects and reason texts.

One source, two executions
--------------------------
The functions are written in the subset of Python that numba compiles (scalar loops,
indexing, no objects) and take every helper they call as a module global.

* Imported normally (``ca125kinetics._gcig_kernel``), ``_jit`` is the identity: the kernel is
  plain Python. ``gcig`` runs it on Python lists for small jobs (one patient, a ``predict``
  batch), which needs neither numba nor numpy scalars and costs a few microseconds a patient.
* :func:`ca125kinetics.gcig._compiled_kernel` loads *this same file* a second time under
  the module name ``ca125kinetics._gcig_kernel_compiled`` (``importlib``); under that name ``_jit`` is
  ``numba.njit(cache=True)``, so every function, and the helpers it finds among the module's
  globals, is compiled. Large jobs (:data:`ca125kinetics.gcig.COMPILED_MIN_PATIENTS`) use
  it on numpy arrays.

Why a second load of the file rather than ``numba.njit(fn)`` applied to the functions of the
plain module: a jitted function resolves the helpers it calls from its module's globals at
compile time, so in the plain module they would be the pure-Python functions (numba cannot
call them); a separate module whose globals are the jitted helpers needs no patching of
globals. numba's on-disk cache (``cache=True``) keys each function on this file's path and
modification time plus the function's qualified name and line, so the compiled module's
cache stays valid until this file changes, and the plain module never compiles anything.

Inputs are the rows of all patients, sorted by patient then day (input order within a day),
with ``starts`` the patient offsets (``starts[p]:starts[p + 1]``). A row is a sample
(``is_sample``) and/or carries an event code. Outputs are written into flat arrays
``outf`` (``NF`` float columns, NaN = none) and ``outi`` (``NI`` integer columns,
:data:`MISSING` = none), column-major: output ``F_*`` of patient ``p`` of ``P`` is at
``F_* * P + p`` (each column contiguous), and the excluded samples into
``xday``/``xkind``/``xevent`` at the patient's row offset (``I_N_EXCLUDED`` of them).
"""

from __future__ import annotations


if __name__.endswith("_compiled"):   # the compiled load (module docstring)
    from numba import njit

    from ._numba_options import NO_ALLOCATION

    # no function allocates (the caller passes scratch and outputs), so none needs numba's
    # runtime, which reference-counts every array argument and every array variable an
    # inlined function's parameters become (_numba_options.without_runtime); the helpers
    # are inlined into their callers: a call passes every array argument
    _jit = njit(**NO_ALLOCATION)
    _inline = njit(**NO_ALLOCATION, inline="always")
else:
    def _jit(func):
        return func

    _inline = _jit

#: Relative floating-point slack at thresholds (``ca125kinetics.gcig`` module docstring).
RTOL = 1e-9
#: An absent integer output (a day that does not exist).
MISSING = -(2 ** 62)
#: An absent float output.
NAN = float("nan")

# event kinds: the interference events in alphabetical order (ties on a day go to the first
# name), then mouse antibody; -1 = no event
EV_NONE, EV_PARACENTESIS, EV_SURGERY, EV_THORACENTESIS, EV_HAMA = -1, 0, 1, 2, 3
EVENT_NAMES = ("paracentesis", "surgery", "thoracentesis", "mouse_antibody")

# why a patient is not evaluable (response and progression alike)
W_ULN_CHANGE, W_DAY_ASSAYS, W_NO_BASELINE, W_ASSAY_CHANGE = 0, 1, 2, 3
# response codes (after the W_* ones); R_NO_SAMPLE: an evaluable baseline and no sample after
# the first dose (none drawn yet, or every one excluded), status "awaiting"
R_BASE_CENSORED, R_BASE_LOW, R_NO_SAMPLE, R_NO_FALL = 4, 5, 6, 7
R_BROKEN_FRACTION, R_BROKEN_RISE, R_UNCONFIRMED, R_RESPONSE = 8, 9, 10, 11
# progression codes (after the W_* ones); P_NO_SAMPLE: a baseline and no sample after the first
# dose (nothing assessed yet; status "no_progression", the reason says why)
P_BASE_CENSORED, P_PROGRESSION, P_PENDING, P_NONE_NADIR, P_NONE_ULN, P_NO_SAMPLE = 4, 5, 6, 7, 8, 9
# progression groups
G_NONE, G_A, G_B, G_C = 0, 1, 2, 3
# response category
CAT_NONE, CAT_CR, CAT_PR = 0, 1, 2

# float outputs
F_BASE_VALUE, F_LAST_VALUE, F_RESP_VALUE, F_CONF_VALUE, F_BRK_VALUE, F_BRK_PREV, F_LOW = 0, 1, 2, 3, 4, 5, 6
F_PROG_VALUE, F_PCONF_VALUE, F_THRESHOLD, F_NADIR, F_CAND_VALUE = 7, 8, 9, 10, 11
# the ULN used, and the two ULNs of a change (W_ULN_CHANGE)
F_ULN, F_ULN1, F_ULN2 = 12, 13, 14
# the threshold a pending progression candidate met (its group's, at its day)
F_CAND_THRESHOLD = 15
# the latest used sample's own ULN (NaN: its row states none), for "CA-125 normal"
F_LAST_ULN = 16
NF = 17
# integer outputs
I_N_SAMPLES, I_N_EXCLUDED, I_BASE_DAY, I_LAST_DAY, I_RESP_DAY, I_CONF_DAY, I_BRK_DAY = 0, 1, 2, 3, 4, 5, 6
I_CATEGORY, I_RCODE, I_PCODE, I_GROUP, I_PROG_DAY, I_PCONF_DAY, I_CAND_DAY = 7, 8, 9, 10, 11, 12, 13
I_ASSAY1, I_ASSAY1_DAY, I_ASSAY2, I_ASSAY2_DAY, I_PROBLEM_DAY = 14, 15, 16, 17, 18
I_ULN1_DAY, I_ULN2_DAY = 19, 20
# which of the values the reasons show were reported censored ('<x', shown at x): a bitmask
I_CENSORED = 21
# samples between a progression and its confirmation that are not at/above the threshold
# (PC_ANY only: under PC_SUSTAINED there are none)
I_PBELOW = 22
# falls broken before the fall reported (RF_RESTART only), and the last of them: its day and
# the day it was broken
I_N_BROKEN, I_PREV_FALL_DAY, I_PREV_BRK_DAY = 23, 24, 25
NI = 26
C_RESP, C_CONF, C_BRK, C_PREV, C_LOW, C_NADIR = 1, 2, 4, 8, 16, 32
# float settings (prm_f) and integer settings (prm_i)
S_EVALUABLE_FACTOR, S_RESPONSE_FRACTION, S_ASSAY_TOLERANCE, S_PROGRESSION_FACTOR = 0, 1, 2, 3
S_BASELINE_WINDOW, S_CONFIRMATION_DAYS, S_INTERFERENCE_WINDOW, S_PROGRESSION_GAP = 0, 1, 2, 3
S_PROGRESSION_CONFIRMATION, S_RESPONSE_FALL = 4, 5
# how a progression candidate is confirmed (GcigSettings.progression_confirmation, in its order)
PC_SUSTAINED, PC_ANY = 0, 1
# which falls a response is assessed from (GcigSettings.response_fall, in its order)
RF_FIRST, RF_RESTART = 0, 1


def at_most(a, b):
    """``a <= b`` up to the relative floating-point slack (:data:`RTOL`): a value a rounding
    error above a limit is at it. Elementwise on numpy arrays (plain load). The one statement
    of that comparison: the rules here (as ``_le``), and the kinetics' and the CEA response's
    "within the normal range" (a sample at most its ULN) use it."""
    return a <= b + RTOL * abs(b)


_le = _inline(at_most)


@_inline
def _ge(a, b):
    """``a >= b`` up to the relative floating-point slack."""
    return a >= b - RTOL * abs(b)


@_inline
def _flag(p, n_p, bit, outi):
    """Mark a value the reasons show as reported censored (:data:`I_CENSORED`)."""
    at = I_CENSORED * n_p + p
    if outi[at] == MISSING:
        outi[at] = 0
    outi[at] = outi[at] | bit


@_inline
def _unflag(p, n_p, bits, outi):
    """Clear marks of :func:`_flag` (the values they marked are replaced)."""
    at = I_CENSORED * n_p + p
    if outi[at] != MISSING:
        outi[at] = outi[at] & ~bits


@_inline
def _merge_days(lo, hi, day, value, cens, assay, uln_row, is_sample, md, mv, mc, ma, mu):
    """The samples of rows ``lo:hi``, one per day, into ``md/mv/mc/ma/mu[lo:]`` (``mu``: the
    day's first ULN given, NaN when none is).

    Returns ``(end, day_assays)``: the end of the samples and the first day whose samples
    name two assays (:data:`MISSING` if none). Same-day samples reach the rules refused or
    aggregated by the markers reader (``io.read_markers(duplicates=...)``, the one rule for
    every series, with ``GcigSettings.duplicates``); should rows with two samples on a day
    reach the kernel otherwise, the day's first is kept and their assays are still compared.
    The day's assay is the first name in sort order (codes are sorted names).
    """
    m = lo
    day_assays = MISSING
    r = lo
    while r < hi:
        if not is_sample[r]:
            r += 1
            continue
        d = day[r]
        first = r
        code = -1
        two = False
        u = uln_row[first]
        q = r
        while q < hi and day[q] == d:
            if is_sample[q]:
                if u != u:
                    u = uln_row[q]
                a = assay[q]
                if a >= 0:
                    if code < 0:
                        code = a
                    elif a != code:
                        two = True
                        if a < code:
                            code = a
            q += 1
        if two and day_assays == MISSING:
            day_assays = d
        v, c = value[first], cens[first]
        md[m] = d
        mv[m] = v
        mc[m] = c
        ma[m] = code
        mu[m] = u
        m += 1
        r = q
    return m, day_assays


@_inline
def _exclude(lo, hi, end, day, event, i_window, md, mv, mc, ma, mu, xday, xkind, xevent):
    """Drop the merged samples ``lo:end`` drawn within an exclusion window of the events of
    rows ``lo:hi``; each excluded sample goes to ``xday/xkind/xevent[lo:]``. Returns
    ``(end, n_excluded)``.

    A sample on or after the first mouse-antibody day is excluded (HAMA); otherwise one
    drawn ``0 <= day - event_day <= i_window`` after an interference event, reported against
    the earliest such event (first kind in name order on a tie).

    The rows are in day order (module docstring), and so are the merged samples: the events
    that can exclude a sample are the rows from the first with ``day >= d - i_window`` to the
    last with ``day <= d``, and that first row only moves forward from sample to sample. So
    each sample reads the rows of its window only, not all the patient's rows (a long series
    with one event cost samples x rows).
    """
    hama = MISSING
    any_interference = False
    for r in range(lo, hi):
        k = event[r]
        if k == EV_HAMA:
            if hama == MISSING or day[r] < hama:
                hama = day[r]
        elif k >= 0:
            any_interference = True
    if hama == MISSING and not any_interference:
        return end, 0
    keep = lo
    n_ex = 0
    w = lo      # the first row not before the window of the current sample
    for j in range(lo, end):
        d = md[j]
        kind = EV_NONE
        when = 0
        if hama != MISSING and d >= hama:
            kind = EV_HAMA
            when = hama
        elif any_interference:
            while w < hi and day[w] < d - i_window:
                w += 1
            r = w
            while r < hi and day[r] <= d:
                k = event[r]
                if k >= 0 and k != EV_HAMA:
                    e = day[r]
                    if kind == EV_NONE or (e == when and k < kind):
                        kind = k
                        when = e
                r += 1
        if kind == EV_NONE:
            md[keep] = d
            mv[keep] = mv[j]
            mc[keep] = mc[j]
            ma[keep] = ma[j]
            mu[keep] = mu[j]
            keep += 1
        else:
            xday[lo + n_ex] = d
            xkind[lo + n_ex] = kind
            xevent[lo + n_ex] = when
            n_ex += 1
    return keep, n_ex


@_inline
def _response(p, n_p, b, end, uln, md, mv, mc, prm_f, prm_i, outf, outi):
    """GCIG response of the series ``md/mv/mc[b:end]`` from its baseline ``b``."""
    base = mv[b]
    if mc[b]:
        outi[I_RCODE * n_p + p] = R_BASE_CENSORED
        return
    if not _ge(base, prm_f[S_EVALUABLE_FACTOR] * uln):
        outi[I_RCODE * n_p + p] = R_BASE_LOW
        return
    thr = prm_f[S_RESPONSE_FRACTION] * base
    first = _next_fall(b + 1, end, thr, mv)
    if first < 0:
        if b + 1 == end:
            outi[I_RCODE * n_p + p] = R_NO_SAMPLE
        else:
            at = b + 1
            for i in range(b + 2, end):
                if mv[i] < mv[at]:
                    at = i
            outf[F_LOW * n_p + p] = mv[at]
            if mc[at]:
                _flag(p, n_p, C_LOW, outi)
            outi[I_RCODE * n_p + p] = R_NO_FALL
        return
    n_broken = 0
    while first >= 0:
        broken = _assess_fall(p, n_p, first, end, thr, uln, md, mv, mc, prm_f, prm_i, outf, outi)
        if broken < 0 or prm_i[S_RESPONSE_FALL] != RF_RESTART:
            return
        # RF_RESTART: the next fall after the sample that broke this one is assessed anew (a
        # later sample within the fall and the break would be broken by the same sample)
        nxt = _next_fall(broken + 1, end, thr, mv)
        if nxt < 0:
            return
        n_broken += 1
        outi[I_N_BROKEN * n_p + p] = n_broken
        outi[I_PREV_FALL_DAY * n_p + p] = outi[I_RESP_DAY * n_p + p]
        outi[I_PREV_BRK_DAY * n_p + p] = md[broken]
        _unflag(p, n_p, C_RESP | C_BRK | C_PREV, outi)
        outi[I_BRK_DAY * n_p + p] = MISSING
        outf[F_BRK_VALUE * n_p + p] = NAN
        outf[F_BRK_PREV * n_p + p] = NAN
        first = nxt


@_inline
def _next_fall(start, end, thr, mv):
    """The first sample of ``start:end`` at or below the response threshold ``thr``, or -1."""
    for i in range(start, end):
        if _le(mv[i], thr):
            return i
    return -1


@_inline
def _assess_fall(p, n_p, first, end, thr, uln, md, mv, mc, prm_f, prm_i, outf, outi):
    """The response of the fall at ``first``: confirmed, unconfirmed or broken. Returns the
    sample that broke it, or -1 when it is not broken."""
    fall_day = md[first]
    outi[I_RESP_DAY * n_p + p] = fall_day
    outf[F_RESP_VALUE * n_p + p] = mv[first]
    if mc[first]:
        _flag(p, n_p, C_RESP, outi)
    confirm = -1
    for j in range(first + 1, end):   # a later sample confirms (the fall never confirms itself)
        if md[j] - fall_day >= prm_i[S_CONFIRMATION_DAYS]:
            confirm = j
            break
    tol = prm_f[S_ASSAY_TOLERANCE]
    stop = end if confirm < 0 else confirm + 1
    for k in range(first, stop):
        v = mv[k]
        prev = mv[k - 1]
        broken = -1
        if not _le(v, thr):
            broken = R_BROKEN_FRACTION
        elif not _le(v, tol * prev) and not (_le(v, uln) and _le(prev, uln)):
            broken = R_BROKEN_RISE
        if broken >= 0:
            outi[I_RCODE * n_p + p] = broken
            outi[I_BRK_DAY * n_p + p] = md[k]
            outf[F_BRK_VALUE * n_p + p] = v
            outf[F_BRK_PREV * n_p + p] = prev
            if mc[k]:
                _flag(p, n_p, C_BRK, outi)
            if mc[k - 1]:
                _flag(p, n_p, C_PREV, outi)
            return k
    if confirm < 0:
        outi[I_RCODE * n_p + p] = R_UNCONFIRMED
        return -1
    outi[I_RCODE * n_p + p] = R_RESPONSE
    outi[I_CONF_DAY * n_p + p] = md[confirm]
    outf[F_CONF_VALUE * n_p + p] = mv[confirm]
    if mc[confirm]:
        _flag(p, n_p, C_CONF, outi)
    outi[I_CATEGORY * n_p + p] = CAT_CR if _le(mv[confirm], uln) else CAT_PR
    return -1


@_inline
def _progression(p, n_p, b, end, uln, md, mv, mc, prm_f, prm_i, outf, outi):
    """GCIG progression of the series ``md/mv/mc[b:end]`` from its baseline ``b``.

    A candidate (at/above the threshold in force and above the ULN) is confirmed, under
    :data:`PC_SUSTAINED`, by the first sample ``>= gap`` days later when it and every sample
    in between are at/above the threshold; under :data:`PC_ANY`, by the first sample ``>=
    gap`` days later that is at/above it, whatever lies between (:data:`I_PBELOW` counts the
    samples in between that are not). A candidate with no sample ``>= gap`` days later yet
    (under :data:`PC_SUSTAINED`: held by every later sample) is pending; the group, threshold
    and nadir reported are those after the last sample (:data:`F_CAND_THRESHOLD`: the
    candidate's own threshold)."""
    base = mv[b]
    normal_baseline = _le(base, uln)
    if mc[b] and not normal_baseline:
        outi[I_PCODE * n_p + p] = P_BASE_CENSORED
        return
    factor = prm_f[S_PROGRESSION_FACTOR]
    gap = prm_i[S_PROGRESSION_GAP]
    sustained = prm_i[S_PROGRESSION_CONFIRMATION] == PC_SUSTAINED
    normalised = False
    nadir = base
    nadir_cens = mc[b]
    pending = -1
    for k in range(b + 1, end):
        v = mv[k]
        if normal_baseline:
            group, thr = G_C, factor * uln
        elif normalised:
            group, thr = G_A, factor * uln
        else:
            group, thr = G_B, factor * nadir
        if pending < 0 and not mc[k] and _ge(v, thr) and not _le(v, uln):
            confirm = -1
            later = False
            below = 0
            for m in range(k + 1, end):
                if md[m] - md[k] >= gap:
                    later = True
                    if sustained or (not mc[m] and _ge(mv[m], thr)):
                        confirm = m
                        break
                if not sustained and (mc[m] or not _ge(mv[m], thr)):
                    below += 1
            # sustained: the samples up to the confirming one (all later ones when none is yet)
            # must hold; any: a later sample >= gap days on confirms, whatever lies between
            held = True
            if sustained:
                for q in range(k + 1, end if confirm < 0 else confirm + 1):
                    if mc[q] or not _ge(mv[q], thr):
                        held = False
                        break
            if held and not later:
                pending = k   # may still be confirmed by a later sample
                outf[F_CAND_THRESHOLD * n_p + p] = thr
                if sustained:
                    break
                # any: every later sample is < gap days on (no later candidate can be confirmed
                # either), but may still normalise or lower the nadir: the group after the last
                # sample is read on
            if held and confirm >= 0:
                outi[I_PBELOW * n_p + p] = below
                outi[I_PCODE * n_p + p] = P_PROGRESSION
                outi[I_GROUP * n_p + p] = group
                outi[I_PROG_DAY * n_p + p] = md[k]
                outf[F_PROG_VALUE * n_p + p] = v
                outi[I_PCONF_DAY * n_p + p] = md[confirm]
                outf[F_PCONF_VALUE * n_p + p] = mv[confirm]
                outf[F_THRESHOLD * n_p + p] = thr
                outf[F_NADIR * n_p + p] = nadir
                if nadir_cens:
                    _flag(p, n_p, C_NADIR, outi)
                return
        if _le(v, uln):
            normalised = True
        if v < nadir:
            nadir = v
            nadir_cens = mc[k]
    group = G_C if normal_baseline else (G_A if normalised else G_B)
    outi[I_GROUP * n_p + p] = group
    outf[F_THRESHOLD * n_p + p] = factor * (nadir if group == G_B else uln)
    outf[F_NADIR * n_p + p] = nadir
    if nadir_cens:
        _flag(p, n_p, C_NADIR, outi)
    if pending >= 0:
        # the candidate's group, threshold and nadir are those after the last sample
        outi[I_PCODE * n_p + p] = P_PENDING
        outi[I_CAND_DAY * n_p + p] = md[pending]
        outf[F_CAND_VALUE * n_p + p] = mv[pending]
    elif b + 1 == end:
        outi[I_PCODE * n_p + p] = P_NO_SAMPLE
    elif group == G_B:
        outi[I_PCODE * n_p + p] = P_NONE_NADIR
    else:
        outi[I_PCODE * n_p + p] = P_NONE_ULN


@_inline
def _patient(p, lo, hi, day, value, cens, assay, event, is_sample, uln, uln_row, prm_f, prm_i,
             md, mv, mc, ma, mu, xday, xkind, xevent, outf, outi):
    """Every GCIG output of patient ``p`` (rows ``lo:hi``)."""
    n_p = len(uln)
    outf[F_ULN * n_p + p] = uln[p]
    end, day_assays = _merge_days(lo, hi, day, value, cens, assay, uln_row, is_sample, md, mv, mc, ma, mu)
    end, n_ex = _exclude(lo, hi, end, day, event, prm_i[S_INTERFERENCE_WINDOW], md, mv, mc, ma, mu,
                         xday, xkind, xevent)
    outi[I_N_SAMPLES * n_p + p] = end - lo
    outi[I_N_EXCLUDED * n_p + p] = n_ex
    if end > lo:
        outi[I_LAST_DAY * n_p + p] = md[end - 1]
        outf[F_LAST_VALUE * n_p + p] = mv[end - 1]
        outf[F_LAST_ULN * n_p + p] = mu[end - 1]
    why = -1
    b = -1
    if day_assays != MISSING:
        why = W_DAY_ASSAYS
        outi[I_PROBLEM_DAY * n_p + p] = day_assays
    if why < 0:
        for j in range(lo, end):
            if md[j] > 0:
                break
            if md[j] >= -prm_i[S_BASELINE_WINDOW]:
                b = j
        if b < 0:
            why = W_NO_BASELINE
        else:
            # one assay from the baseline on (unnamed samples never count as a change)
            first = -1
            for j in range(b, end):
                a = ma[j]
                if a < 0:
                    continue
                if first < 0:
                    first = j
                elif a != ma[first]:
                    why = W_ASSAY_CHANGE
                    outi[I_ASSAY1 * n_p + p] = ma[first]
                    outi[I_ASSAY1_DAY * n_p + p] = md[first]
                    outi[I_ASSAY2 * n_p + p] = a
                    outi[I_ASSAY2_DAY * n_p + p] = md[j]
                    break
    u = uln[p]
    if b >= 0:
        # the ULN used is the first stated from the baseline on, whether or not the assay
        # changed; one ULN from the baseline on, as one assay (a sample without one takes the
        # patient's)
        first = -1
        for j in range(b, end):
            if mu[j] != mu[j]:
                continue
            if first < 0:
                first = j
                u = mu[j]
                if why >= 0:
                    break  # the assay changed: only the ULN used is wanted
            elif mu[j] != u:
                why = W_ULN_CHANGE
                outf[F_ULN1 * n_p + p] = u
                outi[I_ULN1_DAY * n_p + p] = md[first]
                outf[F_ULN2 * n_p + p] = mu[j]
                outi[I_ULN2_DAY * n_p + p] = md[j]
                break
        outf[F_ULN * n_p + p] = u
    if why >= 0:
        outi[I_RCODE * n_p + p] = why
        outi[I_PCODE * n_p + p] = why
        return
    outi[I_BASE_DAY * n_p + p] = md[b]
    outf[F_BASE_VALUE * n_p + p] = mv[b]
    _response(p, n_p, b, end, u, md, mv, mc, prm_f, prm_i, outf, outi)
    _progression(p, n_p, b, end, u, md, mv, mc, prm_f, prm_i, outf, outi)


@_jit
def run(starts, day, value, cens, assay, event, is_sample, uln, uln_row, skip, prm_f, prm_i,
        md, mv, mc, ma, mu, xday, xkind, xevent, outf, outi):
    """The GCIG outputs of every patient not marked ``skip`` (module docstring: layout).

    ``uln`` is each patient's ULN when no sample used states one (and the ULN reported
    without a baseline); ``uln_row`` each row's ULN (NaN: none given). ``F_ULN`` is the ULN
    used: the first stated from the baseline on, else ``uln`` (every patient, skipped ones
    included). ``md/mv/mc/ma/mu`` (one per row) are scratch; ``outf``/``outi`` must be filled
    with NaN/:data:`MISSING` first.
    """
    n_p = len(starts) - 1
    for p in range(n_p):
        if skip[p]:
            outf[F_ULN * n_p + p] = uln[p]
        else:
            _patient(p, starts[p], starts[p + 1], day, value, cens, assay, event, is_sample, uln, uln_row,
                     prm_f, prm_i, md, mv, mc, ma, mu, xday, xkind, xevent, outf, outi)
