"""An independent reading of the GCIG CA-125 rules, written from the rule text alone.

Written from ``/work/shared/spec/clinical-rules.md`` (sections 1-3) and the package's documented
Decisions (``docs/clinical-rules.md`` sections 1-3), before reading ``ca125kinetics.gcig`` or
``ca125kinetics._gcig_kernel``: plain loops over one patient's samples, no shared code with the
package (only its settings object is read, for the numbers). ``tests/test_gcig_independent.py``
compares it with every path of the package on hypothesis-generated series.

A sample is ``(day, value, censored, assay, uln)``; ``value`` of a censored sample is the limit
``x`` of ``"<x"``. An event is ``(day, kind)``.
"""

from __future__ import annotations

import math

SLACK = 1e-9  # relative slack at a threshold (docs/clinical-rules.md, conventions)
INTERFERENCE = ("paracentesis", "thoracentesis", "surgery")


def at_most(a, b):
    return a <= b + SLACK * abs(b)


def at_least(a, b):
    return a >= b - SLACK * abs(b)


def aggregate(values, censored, how):
    """Same-day samples merged by ``how`` (docs/gcig-engine.md "Same-day samples"): the value
    with censored samples at their limit; censored when the aggregate is lower with the
    censored samples at 0. ``values`` in the order given."""
    def agg(vals):
        if how == "mean":
            return sum(vals) / len(vals)
        if how == "median":
            s = sorted(vals)
            n = len(s)
            return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2
        if how == "max":
            return max(vals)
        if how == "min":
            return min(vals)
        if how == "first":
            return vals[0]
        if how == "last":
            return vals[-1]
        raise AssertionError(how)

    value = agg(list(values))
    if how in ("first", "last"):
        return value, bool(censored[0] if how == "first" else censored[-1])
    lowered = agg([0.0 if c else v for v, c in zip(values, censored)])
    return value, bool(lowered < value)


def excluded_days(samples, events, s):
    """Indexes of the samples the exclusion windows set aside."""
    out = set()
    for i, (day, *_rest) in enumerate(samples):
        for eday, kind in events:
            if kind in INTERFERENCE and 0 <= day - eday <= s.interference_window_days:
                out.add(i)
            if kind == "mouse_antibody" and day >= eday:
                out.add(i)
    return out


def read(samples, events, s):
    """Sorted samples kept after the exclusion windows, and the days of those set aside."""
    samples = sorted(samples, key=lambda r: r[0])
    gone = excluded_days(samples, events, s)
    return [r for i, r in enumerate(samples) if i not in gone], [samples[i][0] for i in sorted(gone)]


def baseline_of(kept, s):
    window = [r for r in kept if -s.baseline_window_days <= r[0] <= 0]
    return window[-1] if window else None


def one_assay(kept, base):
    """No change of assay (unnamed never a change) or of ULN from the baseline on."""
    from_base = [r for r in kept if r[0] >= base[0]]
    assays = {r[3] for r in from_base if r[3]}
    ulns = {r[4] for r in from_base}
    return len(assays) <= 1 and len(ulns) <= 1


def uln_of(all_sorted, base, default):
    """The ULN recorded: the baseline's; without one, the first sample's."""
    if base is not None:
        return base[4]
    return all_sorted[0][4] if all_sorted else default


def response(samples, events, s):
    """GCIG response: dict of status, evaluable, responded, category, response_day,
    confirmation_day, baseline_day, baseline_value, n_excluded, n_samples, last_day, last_value."""
    kept, gone = read(samples, events, s)
    n_excluded = len(gone)
    base = baseline_of(kept, s)
    out = dict(excluded_days=gone, status=None, evaluable=False, responded=False, category=None, response_day=None,
               confirmation_day=None, baseline_day=None, baseline_value=None, n_excluded=n_excluded,
               n_samples=len(kept), last_day=kept[-1][0] if kept else None,
               last_value=kept[-1][1] if kept else None, last_censored=kept[-1][2] if kept else None,
               last_uln=kept[-1][4] if kept else None)
    if base is None:
        out["status"] = "not_evaluable"
        return out
    if not one_assay(kept, base):  # the package reports no baseline then (its convention)
        out["status"] = "not_evaluable"
        return out
    out["baseline_day"], out["baseline_value"] = base[0], base[1]
    uln = base[4]
    if base[2] or not at_least(base[1], s.evaluable_factor * uln):
        out["status"] = "not_evaluable"
        return out
    out["evaluable"] = True
    on = [r for r in kept if r[0] > 0]
    if not on:
        out["status"], out["responded"] = "awaiting", None
        return out
    line = s.response_fraction * base[1]
    start = 0
    while True:
        fall = next((i for i in range(start, len(on)) if at_most(on[i][1], line)), None)
        if fall is None:
            if start == 0:
                out["status"] = "no_response"
            return out  # under "restart", the last fall assessed stands (already written)
        out["response_day"] = on[fall][0]
        out["confirmation_day"] = None
        broken = None
        # "every sample from the fall up to and including the confirming one": the fall too
        # (only a fall after a broken one, under "restart", can fail it: docs/clinical-rules.md
        # section 1 step 4, "its own sample before it for the 10 % rule")
        for k in range(fall, len(on)):
            v, prev = on[k][1], on[k - 1][1] if k else base[1]
            held = at_most(v, line) and (at_most(v, s.assay_tolerance * prev)
                                        or (at_most(v, uln) and at_most(prev, uln)))
            if not held:
                broken = k
                break
            if k > fall and on[k][0] - on[fall][0] >= s.confirmation_days:
                out["status"], out["responded"] = "response", True
                out["confirmation_day"] = on[k][0]
                out["category"] = "CR" if at_most(v, uln) else "PR"
                return out
        if broken is None:
            out["status"] = "unconfirmed"
            return out
        out["status"] = "not_confirmed"
        if s.response_fall != "restart":
            return out
        start = broken + 1


def progression(samples, events, s):
    """GCIG progression: dict of status, progressed, group, progression_day, confirmation_day,
    threshold, nadir, baseline_day, n_excluded."""
    kept, gone = read(samples, events, s)
    n_excluded = len(gone)
    base = baseline_of(kept, s)
    out = dict(status="not_evaluable", progressed=False, group=None, progression_day=None,
               confirmation_day=None, threshold=None, nadir=None, n_excluded=n_excluded,
               baseline_day=None)
    if base is None or not one_assay(kept, base):
        return out
    out["baseline_day"] = base[0]
    uln = base[4]
    if base[2] and base[1] > uln:  # "<x" above the ULN: raised or normal cannot be told
        return out
    normal_baseline = at_most(base[1], uln)
    on = [r for r in kept if r[0] > 0]
    nadir = base[1]
    normalised = False

    def group_threshold():
        if normal_baseline:
            return "C", s.progression_factor * uln
        if normalised:
            return "A", s.progression_factor * uln
        return "B", s.progression_factor * nadir

    for j, (day, v, cens, _a, _u) in enumerate(on):
        nadir = min(nadir, v)
        group, thr = group_threshold()
        if not cens and at_least(v, thr) and not at_most(v, uln):
            confirmed = None
            for m in range(j + 1, len(on)):
                dm, vm, cm = on[m][0], on[m][1], on[m][2]
                meets = not cm and at_least(vm, thr)
                if dm - day >= s.progression_gap_days:
                    if meets:
                        confirmed = m
                        break
                    if s.progression_confirmation != "any":
                        break
                elif not meets and s.progression_confirmation != "any":
                    break
            if confirmed is not None:
                out.update(status="progression", progressed=True, group=group, progression_day=day,
                           confirmation_day=on[confirmed][0], threshold=thr, nadir=nadir)
                return out
        if at_most(v, uln):
            normalised = True
    group, thr = group_threshold()
    out.update(status="no_progression", group=group, threshold=thr, nadir=nadir)
    return out


def combined(recist, resp, prog):
    """Combined RECIST 1.1 + CA-125 category (spec section 3 and the package's Decisions):
    'CR', 'PR', 'SD', 'PD' or None (undetermined)."""
    ca_response = {"response": True, "unconfirmed": False, "not_confirmed": False,
                   "no_response": False}.get(resp["status"])  # not_evaluable, awaiting: unknown
    ca_progression = prog["status"] == "progression"
    normal = None
    if resp["last_day"] is not None and resp["last_day"] > 0:
        # the latest sample against its own ULN (its row's; docs/clinical-rules.md section 3)
        own = resp["last_uln"] if resp["last_uln"] is not None else resp["uln"]
        normal = at_most(resp["last_value"], own)
    if recist == "PD" or ca_progression:
        return "PD"
    if recist == "CR":
        return "PR" if normal is False else "CR"
    if recist == "PR":
        return "PR"
    if recist == "SD":
        return "PR" if ca_response else "SD"
    return None


def assess(samples, events, s, default_uln):
    """Response, progression (and the ULN recorded) of one patient."""
    resp = response(samples, events, s)
    prog = progression(samples, events, s)
    kept, _ = read(samples, events, s)
    base = baseline_of(kept, s)
    resp["uln"] = uln_of(sorted(samples, key=lambda r: r[0]), base, default_uln)
    return resp, prog


def isclose(a, b):
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0)
