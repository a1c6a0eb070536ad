"""Vectorised numerical engine of the KELIM-like floor model (private; see :mod:`.kinetics`).

Layout
------
Patients with the same number ``m`` of samples are held together, dense, samples x
patients: ``t[j, i]`` is the time of sample ``j`` of patient ``i`` (``m`` rows, ``P``
columns, no padding). Sums over one patient's samples are sums over axis 0 of contiguous
rows, and per-patient quantities are ``(P,)`` vectors that broadcast against ``(m, P)``.
No Python loop runs per patient and no optimiser is called per patient: every patient
takes its own Levenberg-Marquardt steps at once, with closed-form 3 x 3 solves, in
cache-sized chunks of patients.

Model (spec section 4), fitted on the log scale (multiplicative assay error)
    ``y_ij = log C_ij = f(t_ij) + e_ij``, ``e_ij ~ N(0, sigma^2)``,
    ``f(t) = log(B + A exp(-k t))`` with parameters ``u = log k``, ``v = log B`` (floor) and
    ``w = log A``, ``A = C0 - B > 0``.

A value reported as ``"<x"`` is an upper bound on the level that day: the constraint
``f(t_j) <= log x``, enforced by a quadratic penalty (Nocedal and Wright, Numerical
Optimization, 2nd ed. 2006, section 17.1): a one-sided residual ``r = min(log x - f, 0)``
that costs nothing while the curve is below the limit and, above it, weighs
:data:`CENSORED_WEIGHT` (10^4) times an observed sample, so that the fitted curve exceeds
the limit only where the other samples pull it up, by about 10^-4 (relative) for each unit
of their log residuals (2.1e-3 for a ``"<5"`` among six samples of 200 U/mL).
**Decision**: a bound, not a Tobit/"M3" likelihood term (Beal SL, J Pharmacokinet
Pharmacodyn 2001;28:481-504), which is the statistically usual choice but lets the curve
pass well above the limit (about 9.5 U/mL on the day of a ``"<5"``) when the other samples
pull it up, which reads as a contradiction of the report. A censored sample informs
neither ``sigma`` nor the Laplace covariance (``jtj``, ``rss``, ``n_active`` count the
uncensored samples; the covariance ignores the one-sided constraint, a conservative
choice).

Objective of patient i (negative log posterior up to a constant)
    ``Q_i = sum_j c_j r_ij^2 / (2 sigma^2) + (d_i' Lambda d_i) / 2 + (w_i - m_w,i)^2 / (2 s_w^2)``
    with ``c_j = 1`` (observed) or :data:`CENSORED_WEIGHT` (censored, above its limit),
    ``d_i = (u_i - m_u, v_i - m_v)`` and ``Lambda`` the prior precision of (log k,
    log B): the population distribution (empirical Bayes) or a vague fixed prior
    (per-patient method). Box bounds keep every estimate finite.

Two implementations of one algorithm
    :func:`fit_map` runs every patient's iterations either here, vectorised in numpy across
    patients (no import cost: a one-patient score stays fast from a cold start), or
    compiled by numba one patient at a time (:mod:`._kinetics_compiled`; 2-4 microseconds
    per patient) for jobs of at least :data:`COMPILED_MIN_FITS` patient fits
    (:func:`use_compiled`). Both take the same steps; they agree to rounding, and to the
    fit tolerance where rounding changes the iteration at which a patient stops (tests
    compare them).
"""

from __future__ import annotations

import math
import threading
import warnings
from dataclasses import dataclass

import numpy as np

#: Bounds of the elimination rate k, per day (half-life 0.35 days to ~19 years).
K_BOUNDS = (1e-4, 2.0)
#: Lower bound of the floor B, as a fraction of the patient's ULN.
FLOOR_MIN_ULN = 1e-3
#: Prior sd of log A around the log of the starting value (vague: a factor e^2).
AMPLITUDE_PRIOR_SD = 2.0
#: Grid of k (per day) profiled to start the per-patient fit.
K_GRID = np.geomspace(2e-3, 0.5, 16)

_LAMBDA0 = 1e-4
_LAMBDA_MAX = 1e12
#: Weight of a censored sample's one-sided residual, relative to an observed sample's.
CENSORED_WEIGHT = 1e4
#: Jobs of at least this many patient fits run the compiled engine (numba): importing numba
#: and loading its cached machine code costs about 0.4 s once per process, which the
#: compiled engine (~2.5 us per patient fit against the numpy engine's ~10-20) earns back
#: over some 20,000-50,000 patient fits. Smaller jobs, such as scoring one patient, stay in
#: numpy and never import numba.
COMPILED_MIN_FITS = 20_000


def use_compiled(n_fits: int) -> bool:
    """Whether a job of ``n_fits`` patient fits (patients x MAP fits) runs compiled."""
    return n_fits >= COMPILED_MIN_FITS


#: The compiled engine splits a batch of at least this many patients into blocks fitted by
#: threads at once (below it, handing work to threads costs more than it saves).
PARALLEL_MIN_PATIENTS = 4096
#: Most threads the compiled engine uses (each fits its own patients).
MAX_THREADS = 8
_POOL: list = []          # [pool, (threads, pid)]: created on first use, kept for the process
_POOL_LOCK = threading.Lock()


def usable_cpus() -> int:
    """The CPUs this process may run on."""
    import os

    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def n_threads() -> int:
    """Threads of the compiled engine: the CPUs this process may run on, at most
    :data:`MAX_THREADS`. The numbers never depend on it: each patient's fit reads and
    writes only that patient's columns."""
    return min(usable_cpus(), MAX_THREADS)


def _blocks(n: int, threads: int) -> list[tuple[int, int]]:
    """Contiguous ranges of patients, four per thread (patients differ in cost), or one
    range when the batch is small or there is one thread."""
    if threads <= 1 or n < PARALLEL_MIN_PATIENTS:
        return [(0, n)]
    edges = np.linspace(0, n, 4 * threads + 1).astype(np.int64)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def _in_threads(work, blocks: list[tuple[int, int]], threads: int) -> None:
    """``work(start, stop)`` of every block: on the calling thread when there is one block,
    else on a pool of ``threads`` threads (the compiled functions release the GIL)."""
    if len(blocks) == 1:
        work(*blocks[0])
        return
    import os
    from concurrent.futures import ThreadPoolExecutor

    # a new pool when the size changes, or in a child process forked from this one (whose
    # pool object would name threads that do not exist there); under a lock, as several
    # threads may fit at once (chunks of a registry scored together, web requests)
    with _POOL_LOCK:
        if not _POOL or _POOL[1] != (threads, os.getpid()):
            if _POOL and _POOL[1][1] == os.getpid():
                _POOL[0].shutdown(wait=False)
            _POOL[:] = [ThreadPoolExecutor(threads, thread_name_prefix="ca125kinetics-fit"), (threads, os.getpid())]
        pool = _POOL[0]
    for _ in pool.map(lambda block: work(*block), blocks):   # re-raises a block's error
        pass


@dataclass
class Series:
    """Dense series of ``P`` patients with ``m`` samples each (samples x patients), log scale.

    Attributes
    ----------
    t : ndarray (m, P)
        Time since the first dose, ``max(day, 0)``.
    y : ndarray (m, P)
        Log CA-125 (the limit for a censored value).
    cens : ndarray (m, P) of bool, or None
        True for a censored ``"<x"`` value; None when no value of these patients is censored
        (the common case, which then skips the one-sided residual).
    """

    t: np.ndarray
    y: np.ndarray
    cens: np.ndarray | None = None

    @property
    def n_patients(self) -> int:
        return self.t.shape[1]

    def take(self, idx) -> Series:
        return Series(self.t[:, idx], self.y[:, idx], None if self.cens is None else self.cens[:, idx])


@dataclass
class Prior:
    """Gaussian prior of ``(u, v, w)``: per-patient means ``(3, P)`` and a shared precision.

    ``prec = (p_uu, p_uv, p_vv, p_ww)``; ``w`` is independent of ``(u, v)``.
    """

    mean: np.ndarray
    prec: tuple[float, float, float, float]

    def take(self, idx) -> Prior:
        return Prior(self.mean[:, idx], self.prec)


@dataclass
class MapFit:
    """Result of :func:`fit_map` (all arrays have ``P`` columns).

    ``theta`` (3, P) is the MAP estimate of (log k, log B, log A); ``cov`` (6, P) the Laplace
    posterior covariance (entries uu, uv, uw, vv, vw, ww: inverse of the Gauss-Newton
    Hessian ``J'J / sigma^2 + prior precision`` at the mode); ``jtj`` (6, P) the data part
    ``J'J`` (without ``1/sigma^2``), ``rss`` the residual sum of squares and ``n_active``
    the number of samples, all three of the uncensored samples (a censored value bounds
    the curve, it is not an observation of the noise); ``converged`` per patient and
    ``n_iter`` the largest number of iterations any patient took; ``q`` (P,) the objective
    ``Q_i`` at the estimate (what :func:`_evaluate` gives there).
    """

    theta: np.ndarray
    cov: np.ndarray
    jtj: np.ndarray
    rss: np.ndarray
    n_active: np.ndarray
    converged: np.ndarray
    n_iter: int
    q: np.ndarray

    def where(self, pick: np.ndarray, other: MapFit) -> MapFit:
        """The fit of ``other`` for the patients where ``pick`` is True, this one's elsewhere."""
        a, b = (self.theta, self.cov, self.jtj, self.rss, self.n_active, self.converged), \
            (other.theta, other.cov, other.jtj, other.rss, other.n_active, other.converged)
        return MapFit(*(np.where(pick, y, x) for x, y in zip(a, b)), max(self.n_iter, other.n_iter),
                      np.where(pick, other.q, self.q))


@dataclass
class _Eval:
    q: np.ndarray       # (P,) objective
    grad: np.ndarray    # (3, P)
    hess: np.ndarray    # (6, P) Hessian of Q: Newton where asked and positive definite, else GN
    jtj: np.ndarray     # (6, P) data part J'J
    rss: np.ndarray     # (P,)
    n_active: np.ndarray

    def restore(self, idx: np.ndarray, other: _Eval) -> None:
        """Overwrite patients ``idx`` with their values in ``other`` (in place)."""
        if idx.size:
            for mine, theirs in zip(self.fields(), other.fields()):
                mine[..., idx] = theirs[..., idx]

    def take(self, idx) -> _Eval:
        return _Eval(*(a[..., idx] for a in self.fields()))

    def fields(self):
        return self.q, self.grad, self.hess, self.jtj, self.rss, self.n_active


def predict_log(theta: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``log(B + A exp(-k t))`` for parameters ``theta = (log k, log B, log A)``."""
    u, v, w = theta
    return np.log(np.exp(v) + np.exp(w) * np.exp(-np.exp(u) * t))


def _data_sums(q, r, z, wt):
    """Sums over each patient's samples, weighted by ``wt`` (None: every weight 1).

    Returns ``(n, s_q, s_r, s_qq, s_qr, s_rr, s_z, s_zq, s_zz, s_zr)`` with ``n`` the sum of
    the weights.
    """
    dot = lambda a, b: np.einsum("ij,ij->j", a, b)  # noqa: E731 - local shorthand
    if wt is None:
        n = np.full(q.shape[1], float(q.shape[0]))
        return n, q.sum(axis=0), r.sum(axis=0), dot(q, q), dot(q, r), dot(r, r), z.sum(axis=0), \
            dot(z, q), dot(z, z), dot(z, r)
    qw, rw, zw = q * wt, r * wt, z * wt
    return (wt.sum(axis=0), qw.sum(axis=0), rw.sum(axis=0), dot(qw, q), dot(qw, r), dot(rw, r),
            zw.sum(axis=0), dot(zw, q), dot(zw, z), dot(zw, r))


def _jtj(n, s_q, s_qq, s_z, s_zq, s_zz) -> np.ndarray:
    """``J'J`` (uu, uv, uw, vv, vw, ww) of ``J = (z, 1 - q, q)`` from the sums of :func:`_data_sums`."""
    return np.stack([s_zz, s_z - s_zq, s_zq, n - 2.0 * s_q + s_qq, s_q - s_qq, s_qq])


def _evaluate(theta, s: Series, prior: Prior, inv_s2, newton=None) -> _Eval:
    """Objective, gradient and Hessian of every patient at ``theta``.

    With ``L = B + A e^{-kt}``, ``q = A e^{-kt} / L`` and ``p = 1 - q`` the derivatives of
    ``f = log L`` are ``f_w = q``, ``f_v = p``, ``f_u = -k t q`` and
    ``f_ww = f_vv = -f_wv = q p``, ``f_wu = -f_vu = -k t q p``,
    ``f_uu = -k t q + (k t)^2 q p``. The Hessian is Gauss-Newton, ``J'J / sigma^2 + prior``,
    except for the patients flagged in ``newton`` where the full Newton Hessian
    ``(J'J - sum_j r_j Hess f_j) / sigma^2 + prior`` is positive definite. Nine (twelve
    with Newton) sums over the samples give everything.

    A censored ``"<x"`` sample is a constraint ``f <= log x``: no residual while it holds,
    else the residual ``log x - f`` weighted :data:`CENSORED_WEIGHT` times an observation's
    (a quadratic penalty). The returned ``jtj``, ``rss`` and ``n_active`` are those of the
    uncensored samples (the data that inform ``sigma`` and the Laplace covariance).
    """
    u, v, w = theta
    floor = np.exp(v)
    nkt = s.t * -np.exp(u)               # -k t
    q = np.exp(nkt)
    q *= np.exp(w)                       # A e^{-kt}
    level = q + floor
    r = np.log(level)
    np.subtract(s.y, r, out=r)           # residual y - f
    q /= level
    z = nkt * q                          # df/du
    if s.cens is None:
        wt = None
        sums = obs = _data_sums(q, r, z, None)
    else:                                # a censored value costs nothing while f < log x
        wt = np.where(s.cens, np.where(r > 0.0, 0.0, CENSORED_WEIGHT), 1.0)
        sums = _data_sums(q, r, z, wt)
        obs = _data_sums(q, r, z, (~s.cens).astype(float))
    n_w, s_q, s_r, s_qq, s_qr, rss_w, s_z, s_zq, s_zz, s_zr = sums
    jtj = _jtj(*(obs[i] for i in (0, 1, 3, 6, 7, 8)))

    p_uu, p_uv, p_vv, p_ww = prior.prec
    du = u - prior.mean[0]
    dv = v - prior.mean[1]
    dw = w - prior.mean[2]
    obj = 0.5 * rss_w * inv_s2 + 0.5 * (p_uu * du * du + 2.0 * p_uv * du * dv + p_vv * dv * dv
                                        + p_ww * dw * dw)
    grad = np.stack([-s_zr * inv_s2 + p_uu * du + p_uv * dv,
                     -(s_r - s_qr) * inv_s2 + p_uv * du + p_vv * dv,
                     -s_qr * inv_s2 + p_ww * dw])
    hess = (jtj if wt is None else _jtj(n_w, s_q, s_qq, s_z, s_zq, s_zz)) * inv_s2
    hess[0] += p_uu
    hess[1] += p_uv
    hess[3] += p_vv
    hess[5] += p_ww
    if newton is not None and newton.any():
        h = 1.0 - q
        h *= q
        h *= r                           # r q p
        if wt is not None:
            h *= wt
        s_h = h.sum(axis=0)
        h *= nkt
        s_hk, s_hkk = h.sum(axis=0), np.einsum("ij,ij->j", h, nkt)
        # - sum_j r_j Hess f_j in (uu, uv, uw, vv, vw, ww) order
        full = hess + np.stack([-s_zr - s_hkk, s_hk, -s_hk, -s_h, s_h, -s_h]) * inv_s2
        hess = np.where(newton & _positive_definite(full), full, hess)
    return _Eval(obj, grad, hess, jtj, obs[5], obs[0])


def _positive_definite(h: np.ndarray) -> np.ndarray:
    """Sylvester's criterion for symmetric 3 x 3 matrices given as ``(6, P)`` triangles."""
    a, b, c, d, e, f = h
    minor2 = a * d - b * b
    det = a * (d * f - e * e) - b * (b * f - c * e) + c * (b * e - c * d)
    return (a > 0) & (minor2 > 0) & (det > 0)


def _cofactors(a, b, c, d, e, f, out=None):
    """Cofactors and determinant of symmetric 3 x 3 matrices ``[[a b c] [b d e] [c e f]]``.

    ``out``: a ``(6, P)`` array to write the cofactors into, row by row (the same products
    and subtractions): at cohort scale, where the six cofactors and their twelve products
    as separate arrays cost several times the arithmetic.
    """
    pairs = ((d, f, e, e), (c, e, b, f), (b, e, c, d), (a, f, c, c), (b, c, a, e), (a, d, b, b))
    if out is None:
        cof = tuple(p * q - r * s for p, q, r, s in pairs)
    else:
        cof = out
        for row, (p, q, r, s) in zip(out, pairs):
            np.multiply(p, q, out=row)
            row -= r * s
    return cof, a * cof[0] + b * cof[1] + c * cof[2]


def inverse3(h: np.ndarray) -> np.ndarray:
    """Inverse of symmetric 3 x 3 matrices given as ``(6, P)`` upper triangles (cofactors)."""
    cof, det = _cofactors(*h, out=np.empty(h.shape))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        cof /= det
    return cof


#: Patients per chunk: the arrays of one chunk stay in the CPU cache across iterations
#: (about 7x faster than whole-cohort arrays, whose temporaries page-fault on every pass).
CHUNK = 16384
#: Iterations per chunk; patients still iterating then finish together in one tail pass.
_FIRST_PASS_ITER = 12


#: Default iteration limit of :func:`fit_map`.
MAX_ITER = 100


def objective(theta: np.ndarray, s: Series, prior: Prior, inv_s2: np.ndarray) -> np.ndarray:
    """``Q_i`` of every patient at ``theta`` (3, P), what :func:`fit_map` minimises."""
    return _evaluate(theta, s, prior, inv_s2).q


def fit_map(s: Series, prior: Prior, lower: np.ndarray, upper: np.ndarray, init: np.ndarray,
            sigma: np.ndarray | float, *, max_iter: int = MAX_ITER, tol: float = 1e-8,
            tol_decrement: float = 1e-8, warm_start: bool = False, compiled: bool | None = None,
            sums: np.ndarray | None = None) -> MapFit:
    """Batched Levenberg-Marquardt minimisation of ``Q_i`` for every patient at once.

    Each iteration solves ``(H + lambda (diag H + eps)) delta = -g`` per patient in closed
    form, projects onto the box ``[lower, upper]`` and keeps the step only where ``Q``
    decreased (then ``lambda /= 4``, else ``lambda *= 8``). A patient has converged when,
    lightly damped (``lambda <= 0.01``), its decrement ``-g' delta`` (about twice the
    objective still to gain) is below ``tol_decrement`` or an accepted step moves no
    parameter by more than ``tol`` (the case on a bound); it stops too when ``lambda``
    overflows (no descent left). A finished patient is not moved again, so each patient's
    result is the same whichever patients are fitted with it. Patients are processed in cache-sized chunks of
    :data:`CHUNK` for a few iterations; those still iterating then finish together.
    ``compiled=True`` runs the same iterations compiled (:mod:`._kinetics_compiled`), one
    patient at a time; ``None`` decides by :func:`use_compiled` on this batch's size.

    ``warm_start=True`` (``init`` already close to the optimum, as in EM iterations) takes
    Newton steps from the first iteration.

    ``sums``: a buffer from :func:`sample_sums` kept across the fits of an EM, in which the
    compiled engine leaves each patient's sums over its samples at its estimate; the next
    fit started from those estimates (``init``) starts from them instead of summing again,
    with the same numbers (the numpy engine sums again and leaves the buffer alone).
    """
    n = s.n_patients
    inv_s2 = np.broadcast_to(1.0 / np.square(np.asarray(sigma, dtype=float)), (n,)).copy()
    if compiled is None:
        compiled = use_compiled(n)
    run = _run_compiled if compiled else _run_numpy
    theta, cov, jtj, rss, n_active, done, n_iter, q = run(s, prior, lower, upper, init, inv_s2, max_iter, tol,
                                                          tol_decrement, warm_start, sums)
    fit = MapFit(theta, cov, jtj, rss, n_active, done, n_iter, q)
    if not compiled and s.cens is not None and not done.all():   # compiled: done patient by patient
        fit = _finish_at_walls(fit, s, prior, lower, upper, inv_s2, max_iter, tol, tol_decrement)
    return fit


def _finish_at_walls(fit: MapFit, s: Series, prior: Prior, lower, upper, inv_s2, max_iter, tol,
                     tol_decrement) -> MapFit:
    """Finish the fits that stopped at the iteration limit beside a censored sample's wall.

    A censored ``"<x"`` sample is a one-sided residual of weight :data:`CENSORED_WEIGHT`: a
    wall at ``f = log x``. Where the estimate lies on it (the other samples pull the curve
    up to the limit), an iterate a hair below the limit has no wall in its Hessian, so its
    step runs deep into the wall and is refused, again and again: such a fit crawls along
    the wall (thousands of iterations for a decline ending ``"<5"``). Here a refused step
    that ran into a wall is taken again with that wall's curvature in the Hessian (the
    objective and gradient are unchanged, so the optimum is too), which walks along the
    wall in a few steps; the fit is then run again from there, which decides convergence
    and the returned fields as for any fit. A patient's result is replaced only where the
    objective is lower. This is the numpy engine's; the compiled engine finishes each such
    fit the same way in its kernel, right after the fit (:func:`._kinetics_compiled.fit_map`),
    without a numpy pass over the patients.
    """
    stuck = np.flatnonzero(~fit.converged & s.cens.any(axis=0))
    if stuck.size:    # beside a wall: a censored sample's curve within 0.1 % of its limit
        with np.errstate(over="ignore", invalid="ignore"):
            near = (s.cens[:, stuck] & (predict_log(fit.theta[:, stuck], s.t[:, stuck]) > s.y[:, stuck] - _NEAR_WALL))
        stuck = stuck[near.any(axis=0)]
    if not stuck.size:
        return fit
    sub, sub_prior, lo, hi = s.take(stuck), prior.take(stuck), lower[:, stuck], upper[:, stuck]
    theta = _lm_walls(sub, sub_prior, lo, hi, fit.theta[:, stuck].copy(), inv_s2[stuck],
                      min(max_iter, _WALL_ITER), tol_decrement)
    th, cov, jtj, rss, n_active, done, n_iter, q = _run_numpy(sub, sub_prior, lo, hi, theta, inv_s2[stuck],
                                                              max_iter, tol, tol_decrement, True, None)
    better = q <= fit.q[stuck]
    at, pick = stuck[better], np.flatnonzero(better)
    out = MapFit(fit.theta.copy(), fit.cov.copy(), fit.jtj.copy(), fit.rss.copy(), fit.n_active.copy(),
                 fit.converged.copy(), max(fit.n_iter, n_iter), fit.q.copy())
    for name, new in (("theta", th), ("cov", cov), ("jtj", jtj), ("rss", rss), ("n_active", n_active),
                      ("converged", done), ("q", q)):
        getattr(out, name)[..., at] = new[..., pick]
    return out


def _lm_walls(s: Series, prior: Prior, lo, hi, theta, inv_s2, max_iter, tol_decrement) -> np.ndarray:
    """Levenberg-Marquardt as :func:`_lm` (Newton steps), where a refused step that ran into
    a censored sample's wall is taken again with the wall's curvature ``CENSORED_WEIGHT g g'
    / sigma^2`` in the Hessian (``g`` the gradient of ``f`` at that sample); see
    :func:`_finish_at_walls`. Returns the parameters reached. The compiled engine's
    :func:`._kinetics_compiled._lm_walls` takes the same steps, one patient at a time."""
    n = s.n_patients
    lam = np.full(n, _LAMBDA0)
    alive = np.ones(n, dtype=bool)
    wall_weight = CENSORED_WEIGHT * inv_s2
    ev = _evaluate(theta, s, prior, inv_s2, newton=alive.copy())
    for _ in range(max_iter):
        hess, grad = _projected(ev.hess, ev.grad, theta, lo, hi)
        step = _damped_step(hess, grad, lam)
        decrement = -np.einsum("ij,ij->j", grad, step)
        alive &= ~((lam <= 1e-2) & (decrement < tol_decrement)) & (lam <= _LAMBDA_MAX)
        if not alive.any():
            break
        step = np.where(alive, step, 0.0)
        newton = decrement < 1.0
        cand = np.clip(theta + step, lo, hi)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            ev_new = _evaluate(cand, s, prior, inv_s2, newton=newton)
            refused = ev_new.q > ev.q
            if refused.any():     # which refused steps ran into a wall (the levels only then)
                f_now, g_now = _level_and_gradient(theta, s.t)
                ran_in = s.cens & (predict_log(cand, s.t) > s.y) & (f_now <= s.y) & refused
                again = ran_in.any(axis=0)
            else:
                again = refused
            if again.any():
                g = [gi * ran_in for gi in g_now]
                walls = np.stack([np.einsum("ij,ij->j", g[a], g_now[b]) for a, b in _TRIANGLE]) * wall_weight
                # the parameters held at a bound stay out of the retaken step too
                retry = np.clip(theta + _damped_step(*_projected(ev.hess + walls, ev.grad, theta, lo, hi), lam),
                                lo, hi)
                ev_retry = _evaluate(retry, s, prior, inv_s2, newton=newton)
                take = np.flatnonzero(again & (ev_retry.q <= ev.q))
                cand[:, take] = retry[:, take]
                ev_new.restore(take, ev_retry)
        better = ev_new.q <= ev.q
        worse = np.flatnonzero(~better)
        cand[:, worse] = theta[:, worse]
        ev_new.restore(worse, ev)
        theta, ev = cand, ev_new
        lam = np.where(better, np.maximum(lam * 0.25, 1e-12), lam * 8.0)
    return theta


#: A censored sample's curve within this much (log scale) of its limit is beside its wall.
_NEAR_WALL = 1e-3
#: Iterations of :func:`_lm_walls`: a fit beside a wall reaches its optimum in a few (then the
#: engine's refit decides convergence); one that does not is stuck for another reason.
_WALL_ITER = 30

#: The (row, column) pairs of a symmetric 3 x 3 matrix's upper triangle, in the (6, P) order.
_TRIANGLE = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))


def _level_and_gradient(theta: np.ndarray, t: np.ndarray):
    """``f = log(B + A e^{-kt})`` at every sample and its gradient ``(f_u, f_v, f_w) =
    (-k t q, 1 - q, q)`` with ``q = A e^{-kt} / (B + A e^{-kt})`` (as in :func:`_evaluate`)."""
    u, v, w = theta
    k = np.exp(u)
    a = np.exp(w - k * t)
    level = np.exp(v) + a
    q = a / level
    return np.log(level), (-k * t * q, 1.0 - q, q)


def laplace_cov(jtj: np.ndarray, inv_s2: np.ndarray, prec) -> np.ndarray:
    """Laplace posterior covariance ``(J'J / sigma^2 + prior precision)^-1`` (6, P).

    From the Gauss-Newton (expected information) Hessian: positive definite with any proper
    prior and stable from one EM iteration to the next, unlike the Newton Hessian of weakly
    identified patients, which can be nearly singular. The compiled engine computes the same
    products in the same order, patient by patient (:mod:`._kinetics_compiled`).
    """
    p_uu, p_uv, p_vv, p_ww = prec
    hess = jtj * inv_s2
    hess[0] += p_uu
    hess[1] += p_uv
    hess[3] += p_vv
    hess[5] += p_ww
    return inverse3(hess)


def sample_sums(n_patients: int) -> np.ndarray:
    """An empty buffer of ``n_patients`` patients' sample sums for :func:`fit_map`'s ``sums``
    (the compiled engine's layout: loads it)."""
    from . import _kinetics_compiled

    return np.zeros((n_patients, _kinetics_compiled.N_SUMS))


def _run_numpy(s: Series, prior: Prior, lower, upper, init, inv_s2, max_iter, tol, tol_decrement, warm_start,
               sums):
    """:func:`fit_map`'s iterations vectorised across patients, in cache-sized chunks
    (``sums`` is not used: every patient's samples are summed at ``init``)."""
    n = s.n_patients
    theta = np.clip(init, lower, upper)
    lam = np.full(n, _LAMBDA0)
    done = np.zeros(n, dtype=bool)
    parts: list[tuple[np.ndarray | slice, _Eval]] = []
    n_iter = 0
    pending = []
    for a in range(0, n, CHUNK):
        sl = slice(a, min(a + CHUNK, n))
        th, ev, lm, dn, it = _lm(s.take(sl), prior.take(sl), lower[:, sl], upper[:, sl],
                                 theta[:, sl], lam[sl], inv_s2[sl], _FIRST_PASS_ITER, tol, tol_decrement,
                                 warm_start)
        theta[:, sl], lam[sl], done[sl] = th, lm, dn
        parts.append((sl, ev))
        pending.append(a + np.flatnonzero(~dn))
        n_iter = max(n_iter, it)
    tail = np.concatenate(pending) if pending else np.zeros(0, dtype=np.int64)
    if tail.size and max_iter > _FIRST_PASS_ITER:
        th, ev, lm, dn, it = _lm(s.take(tail), prior.take(tail), lower[:, tail], upper[:, tail],
                                 theta[:, tail], lam[tail], inv_s2[tail], max_iter - _FIRST_PASS_ITER,
                                 tol, tol_decrement, True)
        theta[:, tail], done[tail] = th, dn
        parts.append((tail, ev))
        n_iter = max(n_iter, _FIRST_PASS_ITER + it)
    jtj = np.empty((6, n))
    rss, n_active, q = np.empty(n), np.empty(n), np.empty(n)
    for idx, ev in parts:                # the tail, written last, overrides its first pass
        jtj[:, idx], rss[idx], n_active[idx], q[idx] = ev.jtj, ev.rss, ev.n_active, ev.q
    return theta, laplace_cov(jtj, inv_s2, prior.prec), jtj, rss, n_active, done, n_iter, q


def load_compiled() -> None:
    """Import the compiled engine and load its machine code (numba's on-disk cache, or a
    compilation on the first run on a machine) by fitting one patient; later fits start at
    once. Costs about 0.4 s once per process."""
    s = Series(np.array([[0.0], [21.0], [42.0]]), np.log(np.array([[400.0], [150.0], [60.0]])))
    bounds = np.array([[-9.0], [-9.0], [-9.0]]), np.array([[1.0], [5.0], [9.0]])
    prior = Prior(np.zeros((3, 1)), (1.0, 0.0, 1.0, 0.25))
    _run_compiled(s, prior, *bounds, np.zeros((3, 1)), np.ones(1), 2, 1e-8, 1e-10, False, None)


def _run_compiled(s: Series, prior: Prior, lower, upper, init, inv_s2, max_iter, tol, tol_decrement,
                  warm_start, sums):
    """:func:`fit_map`'s iterations compiled (numba), one patient after the other."""
    from . import _kinetics_compiled  # lazy: numba is imported only for large batches

    n = s.n_patients
    f64 = lambda a: np.ascontiguousarray(a, dtype=np.float64)  # noqa: E731
    # patients x samples: the transpose of the series, a view of how buckets are gathered
    cens = np.zeros((n, 0), dtype=np.bool_) if s.cens is None else np.ascontiguousarray(s.cens.T, dtype=np.bool_)
    if sums is None:
        sums = np.zeros((0, _kinetics_compiled.N_SUMS))
    theta, cov, jtj = np.empty((3, n)), np.empty((6, n)), np.empty((6, n))
    rss, n_active, q = np.empty(n), np.empty(n), np.empty(n)
    done, iters = np.empty(n, dtype=np.bool_), np.empty(n, dtype=np.int64)
    data = (f64(s.t.T), f64(s.y.T), cens, f64(prior.mean), np.asarray(prior.prec, dtype=np.float64),
            f64(lower), f64(upper))
    rules = (f64(inv_s2), CENSORED_WEIGHT, _LAMBDA0, int(max_iter), _FIRST_PASS_ITER, float(tol), float(tol_decrement))
    outputs = (theta, cov, jtj, rss, n_active, done, iters, sums, q)
    start_at = (f64(init),)

    def work(start, stop):
        _kinetics_compiled.fit_map(*data, *start_at, *rules, bool(warm_start), *outputs, start, stop)
        # then the fits stopped beside a censored sample's wall (returns at once when none is censored)
        _kinetics_compiled.finish_at_walls(*data, *rules, _NEAR_WALL, _WALL_ITER, *outputs, start, stop)

    threads = n_threads()
    _in_threads(work, _blocks(n, threads), threads)
    return theta, cov, jtj, rss, n_active, done, int(iters.max(initial=0)), q


def _projected(h: np.ndarray, g: np.ndarray, theta: np.ndarray, lo: np.ndarray, hi: np.ndarray):
    """``(h, g)`` with the parameters held at a bound taken out of the step (projected
    Newton, Bertsekas 1982): a parameter at its lower bound whose gradient is positive (or at
    its upper bound, negative) would only be pushed outside and clipped back, so its gradient
    entry and its Hessian off-diagonal entries become 0 and the others solve their own
    system. Without it, the clipped joint step crawls along the bound and the fit stops at
    the iteration limit short of the constrained optimum (a per-patient floor at its bound).
    """
    held = ((theta <= lo) & (g > 0)) | ((theta >= hi) & (g < 0))
    if not held.any():
        return h, g
    g = np.where(held, 0.0, g)
    h = h.copy()
    for k, (p, q) in ((1, (0, 1)), (2, (0, 2)), (4, (1, 2))):
        h[k] = np.where(held[p] | held[q], 0.0, h[k])
    return h, g


def _damped_step(h: np.ndarray, g: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Solve ``(H + lambda (diag H + eps)) delta = -g`` (Marquardt's scaled damping).

    Closed form (cofactors) on the ``(6, P)`` upper triangle, without forming the damped
    matrix; a singular system gives a zero step.
    """
    a, b, c, d, e, f = h
    eps = 1e-12 * (a + d + f + 1.0)
    a = a + lam * (a + eps)
    d = d + lam * (d + eps)
    f = f + lam * (f + eps)
    (c00, c01, c02, c11, c12, c22), det = _cofactors(a, b, c, d, e, f)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        scale = -1.0 / det
        step = np.stack([(c00 * g[0] + c01 * g[1] + c02 * g[2]) * scale,
                         (c01 * g[0] + c11 * g[1] + c12 * g[2]) * scale,
                         (c02 * g[0] + c12 * g[1] + c22 * g[2]) * scale])
    step[~np.isfinite(step)] = 0.0
    return step


def _lm(s: Series, prior: Prior, lo, hi, theta, lam, inv_s2, max_iter, tol, tol_decrement, warm_start):
    """Levenberg-Marquardt iterations on one set of patients (see :func:`fit_map`).

    Gauss-Newton steps far from the optimum, Newton steps once close (last decrement
    below 1): with noisy data and a weakly identified floor, Gauss-Newton alone converges
    only linearly.
    """
    n = s.n_patients
    out_theta = theta.copy()
    out_lam = lam.copy()
    out_done = np.zeros(n, dtype=bool)
    out_parts: list[tuple[np.ndarray, _Eval]] = []
    work = np.arange(n)
    ev = _evaluate(theta, s, prior, inv_s2, newton=np.full(n, warm_start))
    alive = np.ones(n, dtype=bool)
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        hess, grad = _projected(ev.hess, ev.grad, theta, lo, hi)
        step = _damped_step(hess, grad, lam)
        decrement = -np.einsum("ij,ij->j", grad, step)
        light = lam <= 1e-2
        alive &= ~(light & (decrement < tol_decrement))
        if int(alive.sum()) <= alive.size // 2:         # drop the finished ones
            done = ~alive
            out_theta[:, work[done]], out_lam[work[done]] = theta[:, done], lam[done]
            out_done[work[done]] = True
            out_parts.append((work[done], ev.take(done)))
            work = work[alive]
            if work.size == 0:
                break
            s, prior, lo, hi, inv_s2 = s.take(alive), prior.take(alive), lo[:, alive], hi[:, alive], inv_s2[alive]
            theta, ev, lam = theta[:, alive], ev.take(alive), lam[alive]
            step, decrement, light = step[:, alive], decrement[alive], light[alive]
            alive = np.ones(work.size, dtype=bool)
        # a finished patient stays where it finished while the others iterate, so that its
        # estimate does not depend on which other patients share the batch
        step = np.where(alive, step, 0.0)
        cand = np.clip(theta + step, lo, hi)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            ev_new = _evaluate(cand, s, prior, inv_s2, newton=decrement < 1.0)
        better = ev_new.q <= ev.q
        moved = np.abs(cand - theta).max(axis=0)
        alive &= ~((better & light & (moved <= tol)) | (lam > _LAMBDA_MAX))
        worse = np.flatnonzero(~better)                 # few: keep their previous state
        cand[:, worse] = theta[:, worse]
        ev_new.restore(worse, ev)
        theta, ev = cand, ev_new
        lam = np.where(better, np.maximum(lam * 0.25, 1e-12), lam * 8.0)
    if work.size:
        out_theta[:, work], out_lam[work] = theta, lam
        out_done[work] = ~alive
        out_parts.append((work, ev))
    # reassemble the evaluation at the final parameters in input order
    full = _Eval(np.empty(n), np.empty((3, n)), np.empty((6, n)), np.empty((6, n)), np.empty(n), np.empty(n))
    for idx, e in out_parts:
        for dst, src in zip(full.fields(), e.fields()):
            dst[..., idx] = src
    return out_theta, full, out_lam, out_done, n_iter


# --------------------------------------------------------------------------- start values

def one_column_as_two(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """Each ``(m, 1)`` array as ``(m, 2)`` (its column twice).

    numpy reduces a single column over its samples in another order than the columns of a
    wider array (``mean``, ``sum`` and ``einsum`` over axis 0), so the last bits of a
    patient's closed-form sums would depend on whether other patients share its batch (one
    patient scored, a chunk of a streamed file). Computed on two copies, a column gets the
    bits it gets in any wider batch.
    """
    return tuple(np.repeat(a, 2, axis=1) for a in arrays)


#: Multiple of ``m x eps x (sum |t - t_bar| |y| + |t_bar| sum |y|)`` within which the
#: least-squares sum ``sum (t - t_bar) y`` of :func:`loglinear` is its rounding error, so the
#: slope is 0: about 1e-15 per day for five samples over 84 days, under 1e-11 per day for
#: any series of the window (days -14..100, values up to 1e6), while the slowest decline the
#: fits report (k 1e-4 per day) is seven orders of magnitude steeper.
_ROUNDING_SLACK = 4.0


def loglinear(s: Series) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-patient ordinary least squares of ``log C`` on ``t`` (censored values at the limit).

    Returns ``slope``, ``intercept``, ``slope_se`` (``sqrt(RSS / (m - 2) / Sxx)``, NaN
    when ``m <= 2``) and the residual sum of squares. ``slope`` is NaN when all times are
    equal, and 0 exactly when all values are, or when the sum ``sum (t - t_bar) y`` is
    within its rounding error of 0 (:data:`_ROUNDING_SLACK`): a constant series, or one
    that falls and rises back symmetrically, has slope 0, not the rounding of the sums
    (about 1e-19 to 1e-17 per day, of either sign), which made such a series ``rising`` or
    fitted by chance (a symmetric U-shape was ``ok`` with k 0.2/day, or k 1e-17/day for
    ``loglinear``).
    A single patient is fitted as two copies (:func:`one_column_as_two`), so that its
    numbers are the bits it gets beside other patients.
    """
    if s.t.shape[1] == 1:
        return tuple(x[:1] for x in loglinear(Series(*one_column_as_two(s.t, s.y))))
    m = s.t.shape[0]
    t_bar = s.t.mean(axis=0)
    y_bar = s.y.mean(axis=0)
    dt = s.t - t_bar
    sxx = np.einsum("ij,ij->j", dt, dt)
    sxy = np.einsum("ij,ij->j", dt, s.y)
    # a bound of the rounding error of sxy: the sum's (m terms) and that of t_bar in dt
    rounding = _ROUNDING_SLACK * m * np.finfo(float).eps * (
        np.einsum("ij,ij->j", np.abs(dt), np.abs(s.y)) + np.abs(t_bar) * np.abs(s.y).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = np.where(sxx > 0, sxy / sxx, np.nan)
        slope[(sxx > 0) & ((s.y == s.y[:1]).all(axis=0) | (np.abs(sxy) <= rounding))] = 0.0
        intercept = y_bar - slope * t_bar
        res = s.y - intercept - slope * s.t
        rss = np.einsum("ij,ij->j", res, res)
        se = np.sqrt(rss / (m - 2) / sxx) if m > 2 else np.full(slope.shape, np.nan)
    return slope, intercept, se, rss


def start_from_grid(s: Series, lower: np.ndarray, upper: np.ndarray, k_grid=K_GRID) -> np.ndarray:
    """Start values by profiling k on a grid with (B, A) in closed form given k.

    For each k, ``C ~ B + A exp(-k t)`` is linear in (B, A): weighted least squares with
    weights ``1 / C_obs^2`` (the first-order equivalent of the log-scale fit) gives B and
    A from a 2 x 2 solve, clipped to the bounds; the k with the smallest log-scale residual
    sum of squares wins. Censored values enter at their limit (start values only).
    """
    n = s.n_patients
    c_obs = np.exp(s.y)
    wt = np.exp(-2.0 * s.y)
    s11 = wt.sum(axis=0)
    r1 = np.einsum("ij,ij->j", wt, c_obs)
    b_lo, b_hi = np.exp(lower[1]), np.exp(upper[1])
    a_lo, a_hi = np.exp(lower[2]), np.exp(upper[2])
    best = np.full(n, np.inf)
    out = np.empty((3, n))
    for k in k_grid:
        e = np.exp(-k * s.t)
        we = wt * e
        s12 = we.sum(axis=0)
        s22 = np.einsum("ij,ij->j", we, e)
        r2 = np.einsum("ij,ij->j", we, c_obs)
        det = s11 * s22 - s12 * s12
        with np.errstate(divide="ignore", invalid="ignore"):
            floor = np.clip(np.nan_to_num((s22 * r1 - s12 * r2) / det, nan=b_lo), b_lo, b_hi)
            amp = np.clip(np.nan_to_num((r2 - s12 * floor) / s22, nan=a_lo), a_lo, a_hi)
        theta = np.stack([np.full(n, math.log(k)), np.log(floor), np.log(amp)])
        r = s.y - predict_log(theta, s.t)
        if s.cens is not None:
            r = np.where(s.cens & (r > 0), 0.0, r)
        sse = np.einsum("ij,ij->j", r, r)
        better = sse < best
        best = np.where(better, sse, best)
        out = np.where(better, theta, out)
    return np.clip(out, lower, upper)


# --------------------------------------------------------------------------- population

@dataclass
class Moments:
    """Population moments: means and covariance of (log k, log B), residual sd."""

    mu_u: float
    mu_v: float
    sd_u: float
    sd_v: float
    corr: float
    sigma: float

    def precision(self) -> tuple[float, float, float]:
        cov_uv = self.corr * self.sd_u * self.sd_v
        det = self.sd_u ** 2 * self.sd_v ** 2 - cov_uv ** 2
        return self.sd_v ** 2 / det, -cov_uv / det, self.sd_u ** 2 / det

    def as_vector(self) -> np.ndarray:
        return np.array([self.mu_u, self.mu_v, math.log(self.sd_u), math.log(self.sd_v),
                         self.corr, math.log(self.sigma)])


#: Floors of the population sds (avoid a degenerate prior) and of the residual sd.
MIN_POP_SD = 0.02
MIN_SIGMA = 1e-4
MAX_CORR = 0.95


def m_step(fits: list[MapFit]) -> tuple[Moments, int]:
    """EM update of the population moments from Laplace posteriors ``N(theta_i, V_i)``.

    ``mu = mean(theta_i)``, ``Sigma = mean((theta_i - mu)(theta_i - mu)' + V_i)`` for
    (log k, log B); ``sigma^2 = sum_i (RSS_i + tr(V_i J_i'J_i)) / sum_i n_i`` (the expected
    residual sum of squares under the Laplace posterior).
    """
    # the rows the moments need, each joined over the fits (not all nine rows)
    u, v, var_uu, var_uv, var_vv = (np.concatenate([getattr(f, name)[row] for f in fits])
                                    for name, row in (("theta", 0), ("theta", 1), ("cov", 0), ("cov", 1), ("cov", 3)))
    mu_u, mu_v = u.mean(), v.mean()
    du, dv = u - mu_u, v - mu_v
    var_u = max(float(np.mean(du * du + var_uu)), MIN_POP_SD ** 2)
    var_v = max(float(np.mean(dv * dv + var_vv)), MIN_POP_SD ** 2)
    cov_uv = float(np.mean(du * dv + var_uv))
    corr = float(np.clip(cov_uv / math.sqrt(var_u * var_v), -MAX_CORR, MAX_CORR))
    ess = 0.0
    n_obs = 0.0
    for f in fits:
        c, j = f.cov, f.jtj
        trace = (c[0] * j[0] + c[3] * j[3] + c[5] * j[5]
                 + 2.0 * (c[1] * j[1] + c[2] * j[2] + c[4] * j[4]))
        ess += float(np.sum(f.rss + np.where(np.isfinite(trace), trace, 0.0)))
        n_obs += float(np.sum(f.n_active))
    sigma = max(math.sqrt(ess / max(n_obs, 1.0)), MIN_SIGMA)
    return Moments(float(mu_u), float(mu_v), math.sqrt(var_u), math.sqrt(var_v), corr, sigma), u.size


_MIXEDLM_TIME_UNIT = 21.0


def mixedlm_start(t: np.ndarray, y: np.ndarray, groups: np.ndarray) -> dict[str, float]:
    """Linear mixed model ``log C ~ t`` with random intercept and slope (statsmodels MixedLM).

    Fitted on decline-phase samples only; used to start the nonlinear EM. Returns the mean
    slope, the sd of the random slope, the residual sd and whether the fit converged.
    ConvergenceWarnings of this starting fit are recorded (``converged``), not raised.
    """
    # lazy: heavy import, only for population fits; the model class itself, as the formula
    # "y ~ t", re_formula "~t" would build it, without importing the formula machinery
    from statsmodels.regression.mixed_linear_model import MixedLM

    # time in 21-day cycles: days make the random-slope variance ~1e-4 of the intercept's
    # and the optimiser stall
    design = np.column_stack([np.ones(len(t)), np.asarray(t, dtype=float) / _MIXEDLM_TIME_UNIT])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = MixedLM(np.asarray(y, dtype=float), design, groups=groups, exog_re=design).fit(reml=True)
            slope = float(result.fe_params[1]) / _MIXEDLM_TIME_UNIT
            var_slope = float(np.asarray(result.cov_re)[1, 1]) / _MIXEDLM_TIME_UNIT ** 2
            sigma = math.sqrt(float(result.scale))
            converged = bool(result.converged)
        except (np.linalg.LinAlgError, ValueError):
            return {"slope": math.nan, "sd_slope": math.nan, "sigma": math.nan, "converged": False}
    converged = converged and not any("converge" in str(w.message).lower() for w in caught)
    return {"slope": slope, "sd_slope": math.sqrt(max(var_slope, 0.0)), "sigma": sigma,
            "converged": converged}
