"""Compiled Levenberg-Marquardt of the floor model, one patient at a time (private).

The same algorithm as the vectorised numpy engine (:func:`._kinetics_engine.fit_map`):
the same objective, Gauss-Newton/Newton Hessians, Marquardt damping, acceptance rule,
stopping rules and two passes (:data:`~._kinetics_engine._FIRST_PASS_ITER` iterations,
then the patients still iterating restart with Newton steps), written as scalar loops that
numba compiles to machine code. A patient's sums over its samples, its 3 x 3 closed-form
solve and its iterations stay in registers: no array is allocated inside the loop over
patients, which is what makes it 2-4 microseconds per patient instead of the numpy
engine's ~10 (whose every operation walks whole arrays) or a ``scipy.optimize.curve_fit``
call's ~1 millisecond. The functions called in that loop are compiled without numba's
runtime (:func:`._numba_options.without_runtime`): no array's reference count changes in it
either.

Why numba: it compiles this numeric Python to LLVM machine code in place, with an on-disk
cache (``cache=True``: the compiled functions are written next to this file, or under
``NUMBA_CACHE_DIR``, and loaded in about a tenth of a second by later processes), ships
wheels for every platform the package supports, and needs no C toolchain or build step.
It is imported only when a batch is large enough to use it
(:data:`._kinetics_engine.COMPILED_MIN_PATIENTS`), so a one-patient score never pays for it.

Layout of one evaluation (``ev``, 39 floats): objective ``q``; gradient (3); Hessian used
for the step (6, upper triangle uu, uv, uw, vv, vw, ww); data part ``J'J`` of the
uncensored samples (6); their residual sum of squares; their number; then the 20 sums over
the samples these come from and what the sums hold (:func:`_sample_sums`). The sums depend
on the parameters and the data, not on the prior: an EM iteration's fit starts where the
previous one stopped, from that fit's sums (``fit_map``'s ``sums``), and so sums each
patient's samples once less (about half of that fit's work, with the same numbers).
The samples are held patients x samples (``t[i, j]``): a patient's samples are adjacent.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ._numba_options import NO_ALLOCATION as _NO_ALLOCATION

_Q, _G, _H, _J, _RSS, _NACT = 0, 1, 4, 10, 16, 17
#: Where the sample sums start in ``ev`` (20 sums, then what they hold: :data:`_NO_SUMS`,
#: :data:`_GAUSS_NEWTON` or :data:`_WITH_NEWTON`, the Newton terms included).
_S = 18
#: Columns of a patient's sample sums (``fit_map``'s ``sums``): 20 sums and what they hold.
N_SUMS = 21
_SUMS_KIND = _S + N_SUMS - 1
_NO_SUMS, _GAUSS_NEWTON, _WITH_NEWTON = 0.0, 1.0, 2.0
_EV_SIZE = _S + N_SUMS
_LAMBDA_MAX = 1e12      # as in the numpy engine


@njit(**_NO_ALLOCATION, inline="always")
def _evaluate(t, y, cens, i, u, v, w, mu, mv, mw, prec, inv_s2, w_cens, newton, ev):
    """Objective, gradient and Hessian of patient ``i`` at ``(u, v, w)`` into ``ev``.

    See :func:`._kinetics_engine._evaluate` for the formulas. ``t``, ``y``, ``cens`` are
    patients x samples; ``cens`` has zero columns when no value of these patients is
    censored.
    """
    _sample_sums(t, y, cens, i, u, v, w, w_cens, newton, ev)
    _from_sums(u, v, w, mu, mv, mw, prec, inv_s2, newton, ev)


@njit(**_NO_ALLOCATION, inline="always")
def _sample_sums(t, y, cens, i, u, v, w, w_cens, newton, ev):
    """The sums over patient ``i``'s samples at ``(u, v, w)``, into ``ev[_S:]`` (marked
    :data:`_WITH_NEWTON` when they include the Newton terms, else :data:`_GAUSS_NEWTON`).

    They depend on the parameters and the data only, not on the prior or ``sigma``: a fit
    warm-started from the previous fit's estimate (an EM iteration) starts from them.
    """
    m = t.shape[1]
    k = math.exp(u)
    floor = math.exp(v)
    amp = math.exp(w)
    has_cens = cens.shape[1] > 0
    # weighted sums (objective, gradient, step Hessian) and uncensored sums (J'J, RSS)
    s_q = s_r = s_qq = s_qr = s_rr = s_z = s_zq = s_zz = s_zr = s_a = 0.0
    o_q = o_qq = o_rr = o_z = o_zq = o_zz = o_n = 0.0
    s_h = s_hk = s_hkk = 0.0
    for j in range(m):
        nkt = -k * t[i, j]
        a_kt = math.exp(nkt) * amp
        level = a_kt + floor
        r = y[i, j] - math.log(level)
        q = a_kt / level
        wt = 1.0
        censored = has_cens and cens[i, j]
        if censored:
            if r > 0.0:              # below its limit: no residual
                continue
            wt = w_cens
        z = nkt * q
        s_a += wt
        s_q += wt * q
        s_r += wt * r
        s_qq += wt * q * q
        s_qr += wt * q * r
        s_rr += wt * r * r
        s_z += wt * z
        s_zq += wt * z * q
        s_zz += wt * z * z
        s_zr += wt * z * r
        if newton:
            h = wt * (1.0 - q) * q * r
            s_h += h
            s_hk += h * nkt
            s_hkk += h * nkt * nkt
        if not censored:
            o_n += 1.0
            o_q += q
            o_qq += q * q
            o_rr += r * r
            o_z += z
            o_zq += z * q
            o_zz += z * z
    ev[_S] = s_q
    ev[_S + 1] = s_r
    ev[_S + 2] = s_qq
    ev[_S + 3] = s_qr
    ev[_S + 4] = s_rr
    ev[_S + 5] = s_z
    ev[_S + 6] = s_zq
    ev[_S + 7] = s_zz
    ev[_S + 8] = s_zr
    ev[_S + 9] = s_a
    ev[_S + 10] = o_q
    ev[_S + 11] = o_qq
    ev[_S + 12] = o_rr
    ev[_S + 13] = o_z
    ev[_S + 14] = o_zq
    ev[_S + 15] = o_zz
    ev[_S + 16] = o_n
    ev[_S + 17] = s_h
    ev[_S + 18] = s_hk
    ev[_S + 19] = s_hkk
    ev[_SUMS_KIND] = _WITH_NEWTON if newton else _GAUSS_NEWTON


@njit(**_NO_ALLOCATION, inline="always")
def _from_sums(u, v, w, mu, mv, mw, prec, inv_s2, newton, ev):
    """Objective, gradient, Hessian, ``J'J``, RSS and count of :func:`_evaluate` from the
    sample sums in ``ev[_S:]`` (taken at ``(u, v, w)``; with the Newton terms if ``newton``)."""
    s_q, s_r, s_qq, s_qr, s_rr = ev[_S], ev[_S + 1], ev[_S + 2], ev[_S + 3], ev[_S + 4]
    s_z, s_zq, s_zz, s_zr, s_a = ev[_S + 5], ev[_S + 6], ev[_S + 7], ev[_S + 8], ev[_S + 9]
    o_q, o_qq, o_rr, o_z = ev[_S + 10], ev[_S + 11], ev[_S + 12], ev[_S + 13]
    o_zq, o_zz, o_n = ev[_S + 14], ev[_S + 15], ev[_S + 16]
    s_h, s_hk, s_hkk = ev[_S + 17], ev[_S + 18], ev[_S + 19]
    p_uu, p_uv, p_vv, p_ww = prec[0], prec[1], prec[2], prec[3]
    du = u - mu
    dv = v - mv
    dw = w - mw
    ev[_Q] = 0.5 * s_rr * inv_s2 + 0.5 * (p_uu * du * du + 2.0 * p_uv * du * dv + p_vv * dv * dv
                                          + p_ww * dw * dw)
    ev[_G] = -s_zr * inv_s2 + p_uu * du + p_uv * dv
    ev[_G + 1] = -(s_r - s_qr) * inv_s2 + p_uv * du + p_vv * dv
    ev[_G + 2] = -s_qr * inv_s2 + p_ww * dw
    h0 = s_zz * inv_s2 + p_uu
    h1 = (s_z - s_zq) * inv_s2 + p_uv
    h2 = s_zq * inv_s2
    h3 = (s_a - 2.0 * s_q + s_qq) * inv_s2 + p_vv
    h4 = (s_q - s_qq) * inv_s2
    h5 = s_qq * inv_s2 + p_ww
    if newton:
        f0 = h0 + (-s_zr - s_hkk) * inv_s2
        f1 = h1 + s_hk * inv_s2
        f2 = h2 - s_hk * inv_s2
        f3 = h3 - s_h * inv_s2
        f4 = h4 + s_h * inv_s2
        f5 = h5 - s_h * inv_s2
        minor2 = f0 * f3 - f1 * f1
        det = f0 * (f3 * f5 - f4 * f4) - f1 * (f1 * f5 - f2 * f4) + f2 * (f1 * f4 - f2 * f3)
        if f0 > 0 and minor2 > 0 and det > 0:
            h0, h1, h2, h3, h4, h5 = f0, f1, f2, f3, f4, f5
    ev[_H] = h0
    ev[_H + 1] = h1
    ev[_H + 2] = h2
    ev[_H + 3] = h3
    ev[_H + 4] = h4
    ev[_H + 5] = h5
    ev[_J] = o_zz
    ev[_J + 1] = o_z - o_zq
    ev[_J + 2] = o_zq
    ev[_J + 3] = o_n - 2.0 * o_q + o_qq
    ev[_J + 4] = o_q - o_qq
    ev[_J + 5] = o_qq
    ev[_RSS] = o_rr
    ev[_NACT] = o_n


@njit(**_NO_ALLOCATION, inline="always")
def _damped_step(ev, lam, step, th, lo, hi, i):
    """``(H + lambda (diag H + eps)) delta = -g`` by cofactors, the parameters held at a bound
    taken out (:func:`._kinetics_engine._projected`); a non-finite component is 0. Returns
    the decrement ``-g' delta`` of the projected gradient."""
    return _solve(ev[_H], ev[_H + 1], ev[_H + 2], ev[_H + 3], ev[_H + 4], ev[_H + 5], ev[_G], ev[_G + 1], ev[_G + 2],
                  lam, step, th, lo, hi, i)


@njit(**_NO_ALLOCATION)
def _damped_step_walls(ev, walls, lam, step, th, lo, hi, i):
    """:func:`_damped_step` with the walls' curvature ``walls`` (6) added to the Hessian
    (:func:`_wall_curvature`)."""
    return _solve(ev[_H] + walls[0], ev[_H + 1] + walls[1], ev[_H + 2] + walls[2], ev[_H + 3] + walls[3],
                  ev[_H + 4] + walls[4], ev[_H + 5] + walls[5], ev[_G], ev[_G + 1], ev[_G + 2], lam, step, th, lo,
                  hi, i)


@njit(**_NO_ALLOCATION, inline="always")    # as a call, it costs 20 % of a fit
def _solve(a, b, c, d, e, f, g0, g1, g2, lam, step, th, lo, hi, i):
    """The damped, projected step of :func:`_damped_step` for the Hessian (upper triangle
    ``a..f``) and gradient ``g0..g2``."""
    h0 = (th[0] <= lo[0, i] and g0 > 0) or (th[0] >= hi[0, i] and g0 < 0)
    h1 = (th[1] <= lo[1, i] and g1 > 0) or (th[1] >= hi[1, i] and g1 < 0)
    h2 = (th[2] <= lo[2, i] and g2 > 0) or (th[2] >= hi[2, i] and g2 < 0)
    if h0:
        g0, b, c = 0.0, 0.0, 0.0
    if h1:
        g1, b, e = 0.0, 0.0, 0.0
    if h2:
        g2, c, e = 0.0, 0.0, 0.0
    eps = 1e-12 * (a + d + f + 1.0)
    a = a + lam * (a + eps)
    d = d + lam * (d + eps)
    f = f + lam * (f + eps)
    c00, c01, c02 = d * f - e * e, c * e - b * f, b * e - c * d
    c11, c12, c22 = a * f - c * c, b * c - a * e, a * d - b * b
    det = a * c00 + b * c01 + c * c02
    if det == 0.0:
        step[0] = step[1] = step[2] = 0.0
    else:
        scale = -1.0 / det
        step[0] = (c00 * g0 + c01 * g1 + c02 * g2) * scale
        step[1] = (c01 * g0 + c11 * g1 + c12 * g2) * scale
        step[2] = (c02 * g0 + c12 * g1 + c22 * g2) * scale
        for p in range(3):
            if not math.isfinite(step[p]):
                step[p] = 0.0
    return -(g0 * step[0] + g1 * step[1] + g2 * step[2])


@njit(**_NO_ALLOCATION)
def _beside_wall(t, y, cens, i, th, near):
    """Whether a censored sample's fitted curve at ``th`` is above ``limit - near`` (log
    scale): the fit lies beside (or on) that sample's wall."""
    k, floor, amp = math.exp(th[0]), math.exp(th[1]), math.exp(th[2])
    for j in range(t.shape[1]):
        if cens[i, j] and math.log(floor + amp * math.exp(-k * t[i, j])) > y[i, j] - near:
            return True
    return False


@njit(**_NO_ALLOCATION)
def _wall_curvature(t, y, cens, i, th, cand, w_scale, walls):
    """The curvature of the censored samples' walls that the step from ``th`` to ``cand``
    ran into (at or below the limit at ``th``, above it at ``cand``) into ``walls`` (6):
    ``w_scale * sum g g'`` with ``g = (f_u, f_v, f_w)`` at ``th`` and ``w_scale`` the
    censored weight over sigma^2. Returns whether the step ran into any wall (see
    :func:`._kinetics_engine._finish_at_walls`)."""
    for p in range(6):
        walls[p] = 0.0
    k, floor = math.exp(th[0]), math.exp(th[1])
    k_c, floor_c, amp_c = math.exp(cand[0]), math.exp(cand[1]), math.exp(cand[2])
    hit = False
    for j in range(t.shape[1]):
        if not cens[i, j]:
            continue
        a_kt = math.exp(th[2] - k * t[i, j])
        level = floor + a_kt
        if math.log(level) > y[i, j] or math.log(floor_c + amp_c * math.exp(-k_c * t[i, j])) <= y[i, j]:
            continue
        q = a_kt / level
        g0, g1, g2 = -k * t[i, j] * q, 1.0 - q, q
        walls[0] += g0 * g0
        walls[1] += g0 * g1
        walls[2] += g0 * g2
        walls[3] += g1 * g1
        walls[4] += g1 * g2
        walls[5] += g2 * g2
        hit = True
    for p in range(6):
        walls[p] *= w_scale
    return hit


@njit(**_NO_ALLOCATION)
def _lm_walls(t, y, cens, i, th, mean, prec, lo, hi, inv_s2, w_cens, lam, n_iter, tol_dec, ev, ev_new, step,
              cand, walls):
    """Levenberg-Marquardt iterations of patient ``i`` from ``th`` (updated in place) in which
    a refused step that ran into a censored sample's wall is retaken with that wall's
    curvature: :func:`._kinetics_engine._lm_walls`, one patient (Newton steps from the start,
    no stop on a small move)."""
    mu, mv, mw = mean[0, i], mean[1, i], mean[2, i]
    _evaluate(t, y, cens, i, th[0], th[1], th[2], mu, mv, mw, prec, inv_s2, w_cens, True, ev)
    for _ in range(n_iter):
        decrement = _damped_step(ev, lam, step, th, lo, hi, i)
        if (lam <= 1e-2 and decrement < tol_dec) or lam > _LAMBDA_MAX:
            return
        newton = decrement < 1.0
        for p in range(3):
            cand[p] = min(max(th[p] + step[p], lo[p, i]), hi[p, i])
        _evaluate(t, y, cens, i, cand[0], cand[1], cand[2], mu, mv, mw, prec, inv_s2, w_cens, newton, ev_new)
        if ev_new[_Q] > ev[_Q] and _wall_curvature(t, y, cens, i, th, cand, w_cens * inv_s2, walls):
            _damped_step_walls(ev, walls, lam, step, th, lo, hi, i)    # the refused step, retaken
            for p in range(3):
                cand[p] = min(max(th[p] + step[p], lo[p, i]), hi[p, i])
            _evaluate(t, y, cens, i, cand[0], cand[1], cand[2], mu, mv, mw, prec, inv_s2, w_cens, newton, ev_new)
        lam = _accept_or_refuse(ev_new[_Q] <= ev[_Q], th, cand, ev, ev_new, lam)


@njit(**_NO_ALLOCATION, inline="always")
def _accept_or_refuse(better, th, cand, ev, ev_new, lam):
    """Levenberg-Marquardt's acceptance: a step that did not raise the objective is taken
    (``th``, ``ev`` updated in place) and the damping relaxed, else the damping raised.
    Returns the new damping."""
    if not better:
        return lam * 8.0
    for p in range(3):
        th[p] = cand[p]
    for p in range(_EV_SIZE):
        ev[p] = ev_new[p]
    return max(lam * 0.25, 1e-12)


@njit(**_NO_ALLOCATION, error_model="numpy")
def _laplace_cov(ev, prec, inv_s2, cov, i):
    """Column ``i`` of ``cov``: ``(J'J / sigma^2 + prior precision)^-1`` by cofactors, the
    products of :func:`._kinetics_engine.laplace_cov` in its order (a singular matrix gives
    what numpy's division gives: the ``numpy`` error model divides by zero as IEEE does)."""
    a = ev[_J] * inv_s2 + prec[0]
    b = ev[_J + 1] * inv_s2 + prec[1]
    c = ev[_J + 2] * inv_s2
    d = ev[_J + 3] * inv_s2 + prec[2]
    e = ev[_J + 4] * inv_s2
    f = ev[_J + 5] * inv_s2 + prec[3]
    c00, c01, c02 = d * f - e * e, c * e - b * f, b * e - c * d
    c11, c12, c22 = a * f - c * c, b * c - a * e, a * d - b * b
    det = a * c00 + b * c01 + c * c02
    cov[0, i] = c00 / det
    cov[1, i] = c01 / det
    cov[2, i] = c02 / det
    cov[3, i] = c11 / det
    cov[4, i] = c12 / det
    cov[5, i] = c22 / det


@njit(**_NO_ALLOCATION)
def _lm_patient(t, y, cens, i, th, mean, prec, lo, hi, inv_s2, w_cens, lam, n_iter, tol, tol_dec,
                warm, ev, ev_new, step, cand):
    """Levenberg-Marquardt iterations of patient ``i`` from ``th`` (updated in place).

    Returns ``(done, lam, iterations)``; ``ev`` holds the evaluation at the final ``th``.
    On entry, sample sums in ``ev`` (marked, see :data:`_SUMS_KIND`) are those at ``th``:
    the first evaluation starts from them when they hold what it needs (the same numbers
    as summing again).
    """
    mu, mv, mw = mean[0, i], mean[1, i], mean[2, i]
    if ev[_SUMS_KIND] == _WITH_NEWTON or (ev[_SUMS_KIND] == _GAUSS_NEWTON and not warm):
        _from_sums(th[0], th[1], th[2], mu, mv, mw, prec, inv_s2, warm, ev)
    else:
        _evaluate(t, y, cens, i, th[0], th[1], th[2], mu, mv, mw, prec, inv_s2, w_cens, warm, ev)
    for it in range(1, n_iter + 1):
        decrement = _damped_step(ev, lam, step, th, lo, hi, i)
        light = lam <= 1e-2
        if light and decrement < tol_dec:
            return True, lam, it
        moved = 0.0
        for p in range(3):
            x = min(max(th[p] + step[p], lo[p, i]), hi[p, i])
            cand[p] = x
            moved = max(moved, abs(x - th[p]))
        _evaluate(t, y, cens, i, cand[0], cand[1], cand[2], mu, mv, mw, prec, inv_s2, w_cens,
                  decrement < 1.0, ev_new)
        better = ev_new[_Q] <= ev[_Q]
        stop = (better and light and moved <= tol) or lam > _LAMBDA_MAX
        lam = _accept_or_refuse(better, th, cand, ev, ev_new, lam)
        if stop:
            return True, lam, it
    return False, lam, n_iter


@njit(**_NO_ALLOCATION, inline="always")
def _two_passes(t, y, cens, i, th, mean, prec, lower, upper, inv_s2, w_cens, lam0, max_iter, first_pass, tol,
                tol_dec, warm_start, ev, ev_new, step, cand):
    """Patient ``i``'s fit from ``th`` (in place): ``first_pass`` iterations, then, if still
    iterating, the rest with Newton steps (the numpy engine's two passes). Returns
    ``(done, iterations)``."""
    fin, lam, it = _lm_patient(t, y, cens, i, th, mean, prec, lower, upper, inv_s2, w_cens, lam0,
                               first_pass, tol, tol_dec, warm_start, ev, ev_new, step, cand)
    if not fin and max_iter > first_pass:
        fin, lam, it2 = _lm_patient(t, y, cens, i, th, mean, prec, lower, upper, inv_s2, w_cens, lam,
                                    max_iter - first_pass, tol, tol_dec, True, ev, ev_new, step, cand)
        it += it2
    return fin, it


@njit(cache=True, nogil=True)
def fit_map(t, y, cens, mean, prec, lower, upper, init, inv_s2, w_cens, lam0, max_iter, first_pass, tol,
            tol_dec, warm_start, theta, cov, jtj, rss, n_active, done, iters, sums, q, start, stop):
    """The MAP estimates of patients ``start..stop-1``, one after the other (outputs
    written in place, in those patients' columns only).

    ``t``, ``y`` (P, m), patients x samples; ``cens`` (P, m) bool or (P, 0) when nothing
    is censored; ``mean``, ``lower``, ``upper``, ``init`` (3, P); ``prec`` (4,);
    ``inv_s2`` (P,). Outputs: ``theta`` (3, P), ``cov`` (Laplace covariance) and ``jtj``
    (6, P), ``rss``, ``n_active``, ``done``, ``iters``, ``q`` (the objective at the estimate)
    (P,). ``sums`` (P, :data:`N_SUMS`), or (0, N_SUMS) to keep none:
    on entry a patient's sample sums at ``init`` where marked (a warm start from the
    previous fit, whose estimate ``init`` is), on return those at its estimate.
    A patient's fit reads and writes its own columns only, and the GIL is released
    (``nogil``): threads can fit disjoint ranges of patients at once, with the numbers of
    a single call. Fits stopped beside a censored sample's wall are then finished by
    :func:`finish_at_walls`.
    """
    ev = np.empty(_EV_SIZE)
    ev_new = np.empty(_EV_SIZE)
    step = np.empty(3)
    cand = np.empty(3)
    th = np.empty(3)
    keep = sums.shape[0] > 0
    for i in range(start, stop):
        inside = True
        for p in range(3):
            th[p] = min(max(init[p, i], lower[p, i]), upper[p, i])
            inside = inside and th[p] == init[p, i]
        if keep and inside:          # sums at init are sums at th
            for p in range(N_SUMS):
                ev[_S + p] = sums[i, p]
        else:
            ev[_SUMS_KIND] = _NO_SUMS
        # the two passes of _two_passes, written out: through that call numba's code for this
        # loop runs 10-30 % slower
        fin, lam, it = _lm_patient(t, y, cens, i, th, mean, prec, lower, upper, inv_s2[i], w_cens, lam0,
                                   first_pass, tol, tol_dec, warm_start, ev, ev_new, step, cand)
        if not fin and max_iter > first_pass:
            fin, lam, it2 = _lm_patient(t, y, cens, i, th, mean, prec, lower, upper, inv_s2[i], w_cens, lam,
                                        max_iter - first_pass, tol, tol_dec, True, ev, ev_new, step, cand)
            it += it2
        _write(i, th, ev, fin, it, prec, inv_s2[i], theta, cov, jtj, rss, n_active, done, iters, sums, q)


@njit(**_NO_ALLOCATION)
def _write(i, th, ev, fin, it, prec, inv_s2, theta, cov, jtj, rss, n_active, done, iters, sums, q):
    """Patient ``i``'s estimate ``th``, the evaluation there ``ev``, its state and iterations
    into the outputs of :func:`fit_map`."""
    for p in range(3):
        theta[p, i] = th[p]
    for p in range(6):
        jtj[p, i] = ev[_J + p]
    _laplace_cov(ev, prec, inv_s2, cov, i)
    rss[i] = ev[_RSS]
    n_active[i] = ev[_NACT]
    q[i] = ev[_Q]
    done[i] = fin
    iters[i] = it
    if sums.shape[0] > 0:
        for p in range(N_SUMS):
            sums[i, p] = ev[_S + p]


@njit(cache=True, nogil=True)
def finish_at_walls(t, y, cens, mean, prec, lower, upper, inv_s2, w_cens, lam0, max_iter, first_pass, tol, tol_dec,
                    near_wall, wall_iter, theta, cov, jtj, rss, n_active, done, iters, sums, q, start, stop):
    """Finish the fits of :func:`fit_map` (its outputs, updated in place) that stopped at the
    iteration limit within ``near_wall`` of a censored sample's wall, as
    :func:`._kinetics_engine._finish_at_walls` does for the numpy engine: :func:`_lm_walls`
    for at most ``wall_iter`` iterations, then the fit again from there (Newton steps); its
    result replaces the first where the objective is not higher. A separate function from
    :func:`fit_map`, so that the few fits it finishes leave that hot loop as it was."""
    if cens.shape[1] == 0:
        return
    ev = np.empty(_EV_SIZE)
    ev_new = np.empty(_EV_SIZE)
    step = np.empty(3)
    cand = np.empty(3)
    th = np.empty(3)
    walls = np.empty(6)
    for i in range(start, stop):
        if done[i]:
            continue
        for p in range(3):
            th[p] = theta[p, i]
        if not _beside_wall(t, y, cens, i, th, near_wall):
            continue
        _lm_walls(t, y, cens, i, th, mean, prec, lower, upper, inv_s2[i], w_cens, lam0, min(max_iter, wall_iter),
                  tol_dec, ev, ev_new, step, cand, walls)
        ev[_SUMS_KIND] = _NO_SUMS
        fin, it = _two_passes(t, y, cens, i, th, mean, prec, lower, upper, inv_s2[i], w_cens, lam0, max_iter,
                              first_pass, tol, tol_dec, True, ev, ev_new, step, cand)
        it = max(it, iters[i])
        if ev[_Q] <= q[i]:
            _write(i, th, ev, fin, it, prec, inv_s2[i], theta, cov, jtj, rss, n_active, done, iters, sums, q)
        else:
            iters[i] = it
