"""Vectorised numerical engine of the KELIM-like floor model (private; see :mod:`.kinetics`).

Layout
------
A batch of patients is held *dense and padded*, samples x patients: ``t[j, i]`` is the time
of sample ``j`` of patient ``i`` (``m`` rows, ``P`` columns). Sums over one patient's
samples are then sums over axis 0 of contiguous rows, and per-patient quantities are
``(P,)`` vectors that broadcast against ``(m, P)``. No Python loop runs per patient and no
optimiser is called per patient: every patient takes its own Levenberg-Marquardt steps at
once, with closed-form 3 x 3 solves.

Model (spec section 4), fitted on the log scale (multiplicative assay error)
    ``y_ij = log C_ij = f(t_ij) + e_ij``, ``e_ij ~ N(0, sigma^2)``,
    ``f(t) = log(B + A exp(-k t))`` with parameters ``u = log k``, ``v = log B`` (floor) and
    ``w = log A``, ``A = C0 - B > 0``.

A value reported as ``"<x"`` enters with ``y = log x`` and a one-sided residual: it costs
nothing while the prediction is below ``x`` (``r = min(y - f, 0)``).

Objective of patient i (negative log posterior up to a constant)
    ``Q_i = sum_j r_ij^2 / (2 sigma^2) + (d_i' Lambda d_i) / 2 + (w_i - m_w,i)^2 / (2 s_w^2)``
    with ``d_i = (u_i - m_u, v_i - m_v)`` and ``Lambda`` the prior precision of (log k,
    log B): the population distribution (empirical Bayes) or a vague fixed prior
    (per-patient method). Box bounds keep every estimate finite.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

#: Bounds of the elimination rate k, per day (half-life 0.35 days to ~19 years).
K_BOUNDS = (1e-4, 2.0)
#: Lower bound of the floor B, as a fraction of the patient's ULN.
FLOOR_MIN_ULN = 1e-3
#: Prior sd of log A around the log of the starting value (vague: a factor e^2).
AMPLITUDE_PRIOR_SD = 2.0
#: Per-patient method: vague fixed prior sd of log k and log B (a factor e^3 = 20).
VAGUE_PRIOR_SD = 3.0
#: Grid of k (per day) profiled to start the per-patient fit.
K_GRID = np.geomspace(2e-3, 0.5, 16)

_LAMBDA0 = 1e-3
_LAMBDA_MAX = 1e12


@dataclass
class Series:
    """Dense padded series of ``P`` patients (samples x patients), on the log scale.

    Attributes
    ----------
    t : ndarray (m, P)
        Time since the first dose, ``max(day, 0)``; 0 at padding.
    y : ndarray (m, P)
        Log CA-125 (the limit for a censored value); 0 at padding.
    mask : ndarray (m, P) of float
        1.0 for a used sample, 0.0 for padding.
    cens : ndarray (m, P) of bool
        True for a censored ``"<x"`` value; False at padding.
    """

    t: np.ndarray
    y: np.ndarray
    mask: np.ndarray
    cens: np.ndarray

    @property
    def n_patients(self) -> int:
        return self.t.shape[1]

    def take(self, idx) -> Series:
        return Series(self.t[:, idx], self.y[:, idx], self.mask[:, idx], self.cens[:, idx])


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
    Hessian of ``Q``); ``jtj`` (6, P) the data part ``J'J`` (without ``1/sigma^2``);
    ``rss`` the residual sum of squares, ``n_active`` the samples that carry a residual
    (a censored value below the prediction carries none), ``converged`` per patient.
    """

    theta: np.ndarray
    cov: np.ndarray
    jtj: np.ndarray
    rss: np.ndarray
    n_active: np.ndarray
    converged: np.ndarray
    n_iter: int


@dataclass
class _Eval:
    q: np.ndarray       # (P,) objective
    grad: np.ndarray    # (3, P)
    hess: np.ndarray    # (6, P) Gauss-Newton Hessian of Q (data / sigma^2 + prior)
    jtj: np.ndarray     # (6, P) data part J'J
    rss: np.ndarray     # (P,)
    n_active: np.ndarray

    def where(self, cond, other: _Eval) -> _Eval:
        """Self where ``cond`` (P,), ``other`` elsewhere."""
        return _Eval(*(np.where(cond, a, b) for a, b in zip(
            (self.q, self.grad, self.hess, self.jtj, self.rss, self.n_active),
            (other.q, other.grad, other.hess, other.jtj, other.rss, other.n_active))))

    def take(self, idx) -> _Eval:
        return _Eval(self.q[idx], self.grad[:, idx], self.hess[:, idx], self.jtj[:, idx],
                     self.rss[idx], self.n_active[idx])


def predict_log(theta: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``log(B + A exp(-k t))`` for parameters ``theta = (log k, log B, log A)``."""
    u, v, w = theta
    return np.log(np.exp(v) + np.exp(w) * np.exp(-np.exp(u) * t))


def _evaluate(theta, s: Series, prior: Prior, inv_s2) -> _Eval:
    """Objective, gradient and Gauss-Newton Hessian of every patient at ``theta``."""
    u, v, w = theta
    k = np.exp(u)
    floor = np.exp(v)
    kt = s.t * k
    amp_e = np.exp(-kt)
    amp_e *= np.exp(w)
    level = amp_e + floor
    r = s.y - np.log(level)
    active = np.where(s.cens & (r > 0.0), 0.0, s.mask)
    r *= active
    rss = np.einsum("ij,ij->j", r, r)
    n_active = active.sum(axis=0)
    # Jacobian of f on active samples: df/dw = A e/L, df/dv = B/L, df/du = -k t A e/L
    inv_level = active / level
    jw = amp_e * inv_level
    jv = inv_level * floor
    ju = jw * kt
    ju *= -1.0
    dot = lambda a, b: np.einsum("ij,ij->j", a, b)  # noqa: E731 - local shorthand
    jtj = np.stack([dot(ju, ju), dot(ju, jv), dot(ju, jw), dot(jv, jv), dot(jv, jw), dot(jw, jw)])
    jtr = np.stack([dot(ju, r), dot(jv, r), dot(jw, r)])

    p_uu, p_uv, p_vv, p_ww = prior.prec
    du = u - prior.mean[0]
    dv = v - prior.mean[1]
    dw = w - prior.mean[2]
    q = 0.5 * rss * inv_s2 + 0.5 * (p_uu * du * du + 2.0 * p_uv * du * dv + p_vv * dv * dv
                                    + p_ww * dw * dw)
    grad = np.stack([-jtr[0] * inv_s2 + p_uu * du + p_uv * dv,
                     -jtr[1] * inv_s2 + p_uv * du + p_vv * dv,
                     -jtr[2] * inv_s2 + p_ww * dw])
    hess = jtj * inv_s2
    hess[0] += p_uu
    hess[1] += p_uv
    hess[3] += p_vv
    hess[5] += p_ww
    return _Eval(q, grad, hess, jtj, rss, n_active)


def inverse3(h: np.ndarray) -> np.ndarray:
    """Inverse of symmetric 3 x 3 matrices given as ``(6, P)`` upper triangles (cofactors)."""
    a, b, c, d, e, f = h
    c00 = d * f - e * e
    c01 = c * e - b * f
    c02 = b * e - c * d
    c11 = a * f - c * c
    c12 = b * c - a * e
    c22 = a * d - b * b
    with np.errstate(divide="ignore", invalid="ignore"):
        inv_det = 1.0 / (a * c00 + b * c01 + c * c02)
    return np.stack([c00, c01, c02, c11, c12, c22]) * inv_det


def _solve3(h: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    inv = inverse3(h)
    return np.stack([inv[0] * rhs[0] + inv[1] * rhs[1] + inv[2] * rhs[2],
                     inv[1] * rhs[0] + inv[3] * rhs[1] + inv[4] * rhs[2],
                     inv[2] * rhs[0] + inv[4] * rhs[1] + inv[5] * rhs[2]])


def fit_map(s: Series, prior: Prior, lower: np.ndarray, upper: np.ndarray, init: np.ndarray,
            sigma: np.ndarray | float, *, max_iter: int = 100, tol: float = 1e-8,
            tol_decrement: float = 1e-10) -> MapFit:
    """Batched Levenberg-Marquardt minimisation of ``Q_i`` for every patient at once.

    Each iteration solves ``(H + lambda (diag H + eps)) delta = -g`` per patient in closed
    form, projects onto the box ``[lower, upper]`` and keeps the step only where ``Q``
    decreased (then ``lambda /= 4``, else ``lambda *= 8``). A patient has converged when
    its Newton decrement ``g' H^-1 g`` falls below ``tol_decrement``, or (on a bound) when
    an accepted, lightly damped step moves no parameter by more than ``tol``; it stops
    too when ``lambda`` overflows (no descent left). Finished patients are dropped from
    the working set once they are half of it, so late iterations cost little.
    """
    n = s.n_patients
    inv_s2_all = np.broadcast_to(1.0 / np.square(np.asarray(sigma, dtype=float)), (n,)).copy()
    out_theta = np.empty((3, n))
    out_eval: list[tuple[np.ndarray, _Eval]] = []
    out_conv = np.zeros(n, dtype=bool)

    work = np.arange(n)
    ws, wp, lo, hi, inv_s2 = s, prior, lower, upper, inv_s2_all
    theta = np.clip(init, lo, hi)
    ev = _evaluate(theta, ws, wp, inv_s2)
    lam = np.full(n, _LAMBDA0)
    alive = np.ones(n, dtype=bool)
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        # Newton decrement g' H^-1 g ~ twice the objective still to gain: below tol_decrement
        # the patient has converged (float round-off stalls LM before steps get tiny)
        with np.errstate(invalid="ignore", over="ignore"):
            decrement = -np.einsum("ij,ij->j", ev.grad, _solve3(ev.hess, -ev.grad))
        alive &= ~(decrement < tol_decrement)
        n_alive = int(alive.sum())
        if n_alive == 0:
            break
        if n_alive <= alive.size // 2:
            done = ~alive
            out_theta[:, work[done]] = theta[:, done]
            out_eval.append((work[done], ev.take(done)))
            out_conv[work[done]] = True
            work = work[alive]
            ws, wp, lo, hi = ws.take(alive), wp.take(alive), lo[:, alive], hi[:, alive]
            inv_s2, theta, ev, lam = inv_s2[alive], theta[:, alive], ev.take(alive), lam[alive]
            alive = np.ones(work.size, dtype=bool)
        hd = ev.hess.copy()
        diag = hd[[0, 3, 5]]
        hd[[0, 3, 5]] += lam * (diag + 1e-12 * (diag.sum(axis=0) + 1.0))
        with np.errstate(invalid="ignore", over="ignore"):
            step = _solve3(hd, -ev.grad)
        step = np.where(np.isfinite(step), step, 0.0)
        cand = np.clip(theta + step, lo, hi)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            ev_new = _evaluate(cand, ws, wp, inv_s2)
        better = ev_new.q <= ev.q
        moved = np.abs(cand - theta).max(axis=0)
        # a tiny step means convergence (on a bound) only when not forced tiny by damping
        alive &= ~((better & (moved <= tol) & (lam < 1.0)) | (lam > _LAMBDA_MAX))
        theta = np.where(better, cand, theta)
        ev = ev_new.where(better, ev)
        lam = np.where(better, np.maximum(lam * 0.25, 1e-12), lam * 8.0)
    out_theta[:, work] = theta
    out_eval.append((work, ev))
    out_conv[work] = ~alive

    jtj = np.empty((6, n))
    hess = np.empty((6, n))
    rss = np.empty(n)
    n_active = np.empty(n)
    for idx, e in out_eval:
        jtj[:, idx] = e.jtj
        hess[:, idx] = e.hess
        rss[idx] = e.rss
        n_active[idx] = e.n_active
    return MapFit(out_theta, inverse3(hess), jtj, rss, n_active, out_conv, n_iter)


# --------------------------------------------------------------------------- start values

def loglinear(s: Series) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-patient ordinary least squares of ``log C`` on ``t`` (censored values at the limit).

    Returns ``slope``, ``intercept``, ``slope_se`` (``sqrt(RSS / (n - 2) / Sxx)``, NaN
    when ``n <= 2``) and ``n``. ``slope`` is NaN when all times are equal.
    """
    n = s.mask.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        t_bar = np.einsum("ij,ij->j", s.t, s.mask) / n
        y_bar = np.einsum("ij,ij->j", s.y, s.mask) / n
        dt = (s.t - t_bar) * s.mask
        sxx = np.einsum("ij,ij->j", dt, dt)
        slope = np.einsum("ij,ij->j", dt, s.y) / sxx
        slope = np.where(sxx > 0, slope, np.nan)
        intercept = y_bar - slope * t_bar
        res = (s.y - intercept - slope * s.t) * s.mask
        rss = np.einsum("ij,ij->j", res, res)
        se = np.where(n > 2, np.sqrt(rss / (n - 2) / sxx), np.nan)
    return slope, intercept, se, n


def start_from_grid(s: Series, lower: np.ndarray, upper: np.ndarray, k_grid=K_GRID) -> np.ndarray:
    """Start values by profiling k on a grid with (B, A) in closed form given k.

    For each k, ``C ~ B + A exp(-k t)`` is linear in (B, A): weighted least squares with
    weights ``1 / C_obs^2`` (the first-order equivalent of the log-scale fit) gives B and
    A from a 2 x 2 solve, clipped to the bounds; the k with the smallest log-scale residual
    sum of squares wins. Censored values enter at their limit (start values only).
    """
    n = s.n_patients
    c_obs = np.exp(s.y) * s.mask
    wt = np.where(s.mask > 0, np.exp(-2.0 * s.y), 0.0)
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
            floor = (s22 * r1 - s12 * r2) / det
            floor = np.where(np.isfinite(floor), floor, b_lo)
            floor = np.clip(floor, b_lo, b_hi)
            amp = np.clip((r2 - s12 * floor) / s22, a_lo, a_hi)
            amp = np.where(np.isfinite(amp), amp, a_lo)
        theta = np.stack([np.full(n, math.log(k)), np.log(floor), np.log(amp)])
        r = (s.y - predict_log(theta, s.t))
        r = np.where(s.cens & (r > 0), 0.0, r) * s.mask
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
MIN_SIGMA = 1e-3
MAX_CORR = 0.95


def m_step(fits: list[MapFit]) -> tuple[Moments, int]:
    """EM update of the population moments from Laplace posteriors ``N(theta_i, V_i)``.

    ``mu = mean(theta_i)``, ``Sigma = mean((theta_i - mu)(theta_i - mu)' + V_i)`` for
    (log k, log B); ``sigma^2 = sum_i (RSS_i + tr(V_i J_i'J_i)) / sum_i n_i`` (the expected
    residual sum of squares under the Laplace posterior).
    """
    theta = np.concatenate([f.theta for f in fits], axis=1)
    cov = np.concatenate([f.cov for f in fits], axis=1)
    mu_u, mu_v = theta[0].mean(), theta[1].mean()
    du, dv = theta[0] - mu_u, theta[1] - mu_v
    var_u = max(float(np.mean(du * du + cov[0])), MIN_POP_SD ** 2)
    var_v = max(float(np.mean(dv * dv + cov[3])), MIN_POP_SD ** 2)
    cov_uv = float(np.mean(du * dv + cov[1]))
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
    return Moments(float(mu_u), float(mu_v), math.sqrt(var_u), math.sqrt(var_v), corr, sigma), theta.shape[1]


_MIXEDLM_TIME_UNIT = 21.0


def mixedlm_start(t: np.ndarray, y: np.ndarray, groups: np.ndarray) -> dict[str, float]:
    """Linear mixed model ``log C ~ t`` with random intercept and slope (statsmodels MixedLM).

    Fitted on decline-phase samples only; used to start the nonlinear EM. Returns the mean
    slope, the sd of the random slope, the residual sd and whether the fit converged.
    ConvergenceWarnings of this starting fit are recorded (``converged``), not raised.
    """
    import statsmodels.formula.api as smf  # lazy: heavy import, only for population fits
    import pandas as pd

    # time in 21-day cycles: days make the random-slope variance ~1e-4 of the intercept's
    # and the optimiser stall
    frame = pd.DataFrame({"y": y, "t": t / _MIXEDLM_TIME_UNIT, "g": groups})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = smf.mixedlm("y ~ t", frame, groups=frame["g"], re_formula="~t").fit(reml=True)
            slope = float(result.fe_params["t"]) / _MIXEDLM_TIME_UNIT
            var_slope = float(np.asarray(result.cov_re)[1, 1]) / _MIXEDLM_TIME_UNIT ** 2
            sigma = math.sqrt(float(result.scale))
            converged = bool(result.converged)
        except (np.linalg.LinAlgError, ValueError):
            return {"slope": math.nan, "sd_slope": math.nan, "sigma": math.nan, "converged": False}
    converged = converged and not any("converge" in str(w.message).lower() for w in caught)
    return {"slope": slope, "sd_slope": math.sqrt(max(var_slope, 0.0)), "sigma": sigma,
            "converged": converged}
