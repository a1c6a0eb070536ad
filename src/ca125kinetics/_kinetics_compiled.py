"""Compiled Levenberg-Marquardt of the floor model, one patient at a time (private).

The same algorithm as the vectorised numpy engine (:func:`._kinetics_engine.fit_map`):
the same objective, Gauss-Newton/Newton Hessians, Marquardt damping, acceptance rule,
stopping rules and two passes (:data:`~._kinetics_engine._FIRST_PASS_ITER` iterations,
then the patients still iterating restart with Newton steps), written as scalar loops that
numba compiles to machine code. A patient's sums over its samples, its 3 x 3 closed-form
solve and its iterations stay in registers: no array is allocated inside the loop over
patients, which is what makes it 2-4 microseconds per patient instead of the numpy
engine's ~10 (whose every operation walks whole arrays) or a ``scipy.optimize.curve_fit``
call's ~1 millisecond.

Why numba: it compiles this numeric Python to LLVM machine code in place, with an on-disk
cache (``cache=True``: the compiled functions are written next to this file, or under
``NUMBA_CACHE_DIR``, and loaded in about a tenth of a second by later processes), ships
wheels for every platform the package supports, and needs no C toolchain or build step.
It is imported only when a batch is large enough to use it
(:data:`._kinetics_engine.COMPILED_MIN_PATIENTS`), so a one-patient score never pays for it.

Layout of one evaluation (``ev``, 18 floats): objective ``q``; gradient (3); Hessian used
for the step (6, upper triangle uu, uv, uw, vv, vw, ww); data part ``J'J`` of the
uncensored samples (6); their residual sum of squares; their number.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_Q, _G, _H, _J, _RSS, _NACT = 0, 1, 4, 10, 16, 17
_EV_SIZE = 18
_LAMBDA_MAX = 1e12      # as in the numpy engine


@njit(cache=True, nogil=True)
def _evaluate(t, y, cens, i, u, v, w, mu, mv, mw, prec, inv_s2, w_cens, newton, ev):
    """Objective, gradient and Hessian of patient ``i`` at ``(u, v, w)`` into ``ev``.

    See :func:`._kinetics_engine._evaluate` for the formulas. ``cens`` has zero rows when no
    value of these patients is censored.
    """
    m = t.shape[0]
    k = math.exp(u)
    floor = math.exp(v)
    amp = math.exp(w)
    has_cens = cens.shape[0] > 0
    # weighted sums (objective, gradient, step Hessian) and uncensored sums (J'J, RSS)
    s_q = s_r = s_qq = s_qr = s_rr = s_z = s_zq = s_zz = s_zr = s_a = 0.0
    o_q = o_qq = o_rr = o_z = o_zq = o_zz = o_n = 0.0
    s_h = s_hk = s_hkk = 0.0
    for j in range(m):
        nkt = -k * t[j, i]
        a_kt = math.exp(nkt) * amp
        level = a_kt + floor
        r = y[j, i] - math.log(level)
        q = a_kt / level
        wt = 1.0
        censored = has_cens and cens[j, i]
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


@njit(cache=True, nogil=True)
def _damped_step(ev, lam, step):
    """``(H + lambda (diag H + eps)) delta = -g`` by cofactors; a non-finite component is 0."""
    a, b, c, d, e, f = ev[_H], ev[_H + 1], ev[_H + 2], ev[_H + 3], ev[_H + 4], ev[_H + 5]
    eps = 1e-12 * (a + d + f + 1.0)
    a = a + lam * (a + eps)
    d = d + lam * (d + eps)
    f = f + lam * (f + eps)
    c00, c01, c02 = d * f - e * e, c * e - b * f, b * e - c * d
    c11, c12, c22 = a * f - c * c, b * c - a * e, a * d - b * b
    det = a * c00 + b * c01 + c * c02
    g0, g1, g2 = ev[_G], ev[_G + 1], ev[_G + 2]
    if det == 0.0:
        step[0] = step[1] = step[2] = 0.0
        return
    scale = -1.0 / det
    step[0] = (c00 * g0 + c01 * g1 + c02 * g2) * scale
    step[1] = (c01 * g0 + c11 * g1 + c12 * g2) * scale
    step[2] = (c02 * g0 + c12 * g1 + c22 * g2) * scale
    for p in range(3):
        if not math.isfinite(step[p]):
            step[p] = 0.0


@njit(cache=True, nogil=True)
def _lm_patient(t, y, cens, i, th, mean, prec, lo, hi, inv_s2, w_cens, lam, n_iter, tol, tol_dec,
                warm, ev, ev_new, step, cand):
    """Levenberg-Marquardt iterations of patient ``i`` from ``th`` (updated in place).

    Returns ``(done, lam, iterations)``; ``ev`` holds the evaluation at the final ``th``.
    """
    mu, mv, mw = mean[0, i], mean[1, i], mean[2, i]
    _evaluate(t, y, cens, i, th[0], th[1], th[2], mu, mv, mw, prec, inv_s2, w_cens, warm, ev)
    for it in range(1, n_iter + 1):
        _damped_step(ev, lam, step)
        decrement = -(ev[_G] * step[0] + ev[_G + 1] * step[1] + ev[_G + 2] * step[2])
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
        if better:
            for p in range(3):
                th[p] = cand[p]
            for p in range(_EV_SIZE):
                ev[p] = ev_new[p]
            lam = max(lam * 0.25, 1e-12)
        else:
            lam = lam * 8.0
        if stop:
            return True, lam, it
    return False, lam, n_iter


@njit(cache=True, nogil=True)
def fit_map(t, y, cens, mean, prec, lower, upper, init, inv_s2, w_cens, lam0, max_iter, first_pass, tol,
            tol_dec, warm_start, theta, jtj, rss, n_active, done, iters, start, stop):
    """The MAP estimates of patients ``start..stop-1``, one after the other (outputs
    written in place, in those patients' columns only).

    ``t``, ``y`` (m, P); ``cens`` (m, P) bool or (0, P) when nothing is censored;
    ``mean``, ``lower``, ``upper``, ``init`` (3, P); ``prec`` (4,); ``inv_s2`` (P,).
    Outputs: ``theta`` (3, P), ``jtj`` (6, P), ``rss``, ``n_active``, ``done``, ``iters`` (P,).
    A patient's fit reads and writes its own columns only, and the GIL is released
    (``nogil``): threads can fit disjoint ranges of patients at once, with the numbers of
    a single call.
    """
    ev = np.empty(_EV_SIZE)
    ev_new = np.empty(_EV_SIZE)
    step = np.empty(3)
    cand = np.empty(3)
    th = np.empty(3)
    for i in range(start, stop):
        for p in range(3):
            th[p] = min(max(init[p, i], lower[p, i]), upper[p, i])
        fin, lam, it = _lm_patient(t, y, cens, i, th, mean, prec, lower, upper, inv_s2[i], w_cens, lam0,
                                   first_pass, tol, tol_dec, warm_start, ev, ev_new, step, cand)
        if not fin and max_iter > first_pass:
            fin, lam, it2 = _lm_patient(t, y, cens, i, th, mean, prec, lower, upper, inv_s2[i], w_cens, lam,
                                        max_iter - first_pass, tol, tol_dec, True, ev, ev_new, step, cand)
            it += it2
        for p in range(3):
            theta[p, i] = th[p]
        for p in range(6):
            jtj[p, i] = ev[_J + p]
        rss[i] = ev[_RSS]
        n_active[i] = ev[_NACT]
        done[i] = fin
        iters[i] = it
