"""Tests of the sample-size calculators (development: Riley et al.; validation: Riley et al. 2021).

Published references: the test suites of R pmsampsize and pmvalsampsize
(tests/data/validation_reference_values.json). Simulation-based quantities are checked against
independent computations written here (Gauss-Hermite quadrature, Monte Carlo, brute-force search).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings as hsettings, strategies as st
from scipy import special, stats

from ca125kinetics import InvalidInputError, pmsampsize_binary
from ca125kinetics.validation import validation_binary
from ca125kinetics.validation.samplesize import cox_snell_r2_from_cstatistic, max_cox_snell_r2

REF = json.loads((Path(__file__).parent / "data" / "validation_reference_values.json").read_text())


@pytest.mark.parametrize("case", REF["pmsampsize_binary"]["cases"])
def test_pmsampsize_binary_reproduces_the_r_package(case):
    res = pmsampsize_binary(rsquared=case["rsquared"], parameters=case["parameters"],
                            prevalence=case["prevalence"])
    assert [c.n for c in res.criteria] + [res.n] == case["n"]
    epp = [round(c.events / case["parameters"], 2) for c in res.criteria] + [round(res.epp, 2)]
    assert epp == case["epp"]
    frame = res.to_frame()
    assert frame["criterion"].tolist() == ["shrinkage", "r2_difference", "intercept", "final"]
    assert frame["n"].tolist() == case["n"]


def test_pmsampsize_worked_example_by_hand():
    # Riley et al. BMJ 2020 example: R2_CS 0.288, 24 parameters, prevalence 0.174
    phi, r2, p = 0.174, 0.288, 24
    r2_max = 1 - math.exp(2 * (phi * math.log(phi) + (1 - phi) * math.log(1 - phi)))
    s2 = r2 / (r2 + 0.05 * r2_max)
    res = pmsampsize_binary(rsquared=r2, parameters=p, prevalence=phi)
    assert res.max_cox_snell_r2 == pytest.approx(r2_max, rel=1e-14)
    assert res.nagelkerke_r2 == pytest.approx(r2 / r2_max, rel=1e-14)
    assert res.criteria[1].value == pytest.approx(s2, rel=1e-14)
    assert res.criteria[1].n == math.ceil(p / ((s2 - 1) * math.log(1 - r2 / s2)))
    assert (res.n, res.binding_criterion) == (662, "r2_difference")
    assert res.events == pytest.approx(662 * 0.174)
    assert res.cox_snell_r2_source == "input" and math.isnan(res.cstatistic)


def _r2_by_gauss_hermite(c, phi, nodes=120):
    """Independent: probabilists' Gauss-Hermite quadrature of the expected log-likelihood."""
    x, w = np.polynomial.hermite_e.hermegauss(nodes)
    w = w / w.sum()
    mu = math.sqrt(2) * stats.norm.ppf(c)
    a = math.log(phi / (1 - phi)) - mu * mu / 2
    log_p_event = np.sum(w * -np.log1p(np.exp(-(a + mu * (x + mu)))))
    log_p_non = np.sum(w * -np.log1p(np.exp(a + mu * x)))
    ll = phi * log_p_event + (1 - phi) * log_p_non
    ll0 = phi * math.log(phi) + (1 - phi) * math.log(1 - phi)
    return 1 - math.exp(-2 * (ll - ll0))


@pytest.mark.parametrize("c, phi", [(0.89, 0.174), (0.7, 0.05), (0.81, 0.77), (0.6, 0.5)])
def test_cox_snell_from_cstatistic_matches_quadrature(c, phi):
    assert cox_snell_r2_from_cstatistic(c, phi) == pytest.approx(_r2_by_gauss_hermite(c, phi), abs=1e-10)


def test_cox_snell_from_cstatistic_matches_a_pmsampsize_style_simulation():
    # as pmsampsize::cstat2rsq: simulate two normals, fit a logistic model, 1 - exp(-LR / n)
    rng = np.random.default_rng(7)
    c, phi, n = 0.89, 0.174, 200_000
    mu = math.sqrt(2) * stats.norm.ppf(c)
    events = int(phi * n)
    lp = np.r_[rng.normal(mu, 1, events), rng.normal(0, 1, n - events)]
    y = np.r_[np.ones(events), np.zeros(n - events)]
    x = np.column_stack([np.ones(n), lp])
    beta = np.zeros(2)
    for _ in range(30):
        pi = special.expit(x @ beta)
        beta += np.linalg.solve(x.T @ (x * (pi * (1 - pi))[:, None]), x.T @ (y - pi))
    pi = special.expit(x @ beta)
    ll = np.sum(y * np.log(pi) + (1 - y) * np.log1p(-pi))
    ll0 = events * math.log(phi) + (n - events) * math.log(1 - phi)
    simulated = 1 - math.exp(-2 * (ll - ll0) / n)
    assert cox_snell_r2_from_cstatistic(c, phi) == pytest.approx(simulated, abs=0.004)


def test_pmsampsize_from_cstatistic_uses_the_approximation():
    res = pmsampsize_binary(cstatistic=0.89, parameters=24, prevalence=0.174)
    r2 = cox_snell_r2_from_cstatistic(0.89, 0.174)
    ref = pmsampsize_binary(rsquared=r2, parameters=24, prevalence=0.174)
    assert res.cox_snell_r2 == r2 and res.cox_snell_r2_source == "cstatistic"
    assert res.n == ref.n and res.cstatistic == 0.89


@hsettings(max_examples=30, deadline=None)
@given(st.floats(0.05, 0.6), st.integers(1, 60), st.floats(0.05, 0.5))
def test_more_parameters_never_need_fewer_patients(r2_fraction, parameters, phi):
    r2 = r2_fraction * max_cox_snell_r2(phi)
    small = pmsampsize_binary(rsquared=r2, parameters=parameters, prevalence=phi)
    large = pmsampsize_binary(rsquared=r2, parameters=parameters + 1, prevalence=phi)
    assert large.n >= small.n
    assert small.n == max(c.n for c in small.criteria)


# ---------------------------------------------------------------- external validation


PMV = REF["pmvalsampsize_binary"]


def test_validation_oe_and_cstatistic_reproduce_pmvalsampsize():
    res = validation_binary(prevalence=PMV["prevalence"], cstatistic=PMV["cstatistic"],
                            oe_ci_width=PMV["oe_ci_width"], lp_normal=(-5, 2.5), se_step=1e-4)
    by_name = {c.criterion: c for c in res.criteria}
    assert by_name["oe"].n == PMV["n_oe"]
    assert by_name["cstatistic"].n == PMV["n_cstatistic"]


def test_validation_oe_exact_by_hand():
    res = validation_binary(prevalence=0.018, cstatistic=0.8, oe_ci_width=1.0, lp_normal=(-5, 2.5))
    oe = res.criteria[0]
    se = math.asinh(0.5) / 1.96  # exp(1.96 se) - exp(-1.96 se) = 1
    assert oe.se == pytest.approx(se, rel=1e-14)
    assert math.exp(1.96 * oe.se) - math.exp(-1.96 * oe.se) == pytest.approx(1.0, rel=1e-12)
    assert oe.n == math.ceil(0.982 / (0.018 * se**2)) == 906


def test_validation_cstatistic_n_is_the_smallest_by_brute_force():
    c, phi, width = 0.8, 0.018, 0.1
    n = np.arange(2, 20000, dtype=float)
    se = np.sqrt(c * (1 - c) * (1 + (n / 2 - 1) * (1 - c) / (2 - c) + (n / 2 - 1) * c / (1 + c))
                 / (n * n * phi * (1 - phi)))
    smallest = int(n[np.argmax(2 * 1.96 * se <= width)])
    res = validation_binary(prevalence=phi, cstatistic=c, lp_normal=(-5, 2.5))
    assert res.criteria[2].n == smallest == 4252


@pytest.mark.parametrize(
    "kwargs, published",
    [({"lp_normal": (-5, 2.5)}, "lp_normal_-5_2.5"), ({"lp_beta": (0.5, 0.5)}, "lp_beta_0.5_0.5")],
)
def test_validation_calibration_slope_against_monte_carlo(kwargs, published):
    rng = np.random.default_rng(3)
    if "lp_normal" in kwargs:
        lp = rng.normal(-5, 2.5, 1_000_000)
    else:
        lp = special.logit(rng.beta(0.5, 0.5, 1_000_000))
    w = special.expit(lp) * special.expit(-lp)
    i00, i01, i11 = w.mean(), (lp * w).mean(), (lp * lp * w).mean()
    se = 0.2 / (2 * 1.96)
    mc = i00 / (se**2 * (i00 * i11 - i01**2))
    res = validation_binary(prevalence=0.018, cstatistic=0.8, oe_ci_width=1.0, **kwargs)
    n = res.criteria[1].n
    assert n == pytest.approx(mc, rel=0.01)
    # pmvalsampsize's own test simulated only 1000 linear predictors: agreement within 3 %
    assert n == pytest.approx(PMV["n_cslope_simulated_1000"][published], rel=0.03)


def test_validation_net_benefit_by_hand():
    phi, t, sens, spec = 0.018, 0.08, 0.7, 0.8
    res = validation_binary(prevalence=phi, cstatistic=0.8, lp_normal=(-5, 2.5), threshold=t,
                            sensitivity=sens, specificity=spec)
    nb = res.criteria[3]
    w = (1 - phi) / phi * t / (1 - t)
    se = 0.2 / 3.92
    var = sens * (1 - sens) / phi + w * w * spec * (1 - spec) / (1 - phi) \
        + w * w * (1 - spec) ** 2 / (phi * (1 - phi))
    assert nb.criterion == "net_benefit"
    assert nb.n == math.ceil(var / se**2)
    assert nb.value == pytest.approx((sens * phi - (1 - spec) * (1 - phi) * t / (1 - t)) / phi, rel=1e-14)
    assert res.n == max(c.n for c in res.criteria)
    frame = res.to_frame()
    assert frame["criterion"].tolist()[-1] == "final" and frame["n"].iloc[-1] == res.n


def test_validation_sensitivity_from_the_lp_distribution():
    rng = np.random.default_rng(11)
    lp = rng.normal(-2, 1.5, 2_000_000)
    pi = special.expit(lp)
    y = rng.uniform(size=lp.size) < pi
    t = 0.2
    res = validation_binary(prevalence=0.2, cstatistic=0.75, lp_normal=(-2, 1.5), threshold=t)
    assert res.sensitivity == pytest.approx(np.mean(pi[y] >= t), abs=0.002)
    assert res.specificity == pytest.approx(np.mean(pi[~y] < t), abs=0.002)


def test_sample_size_input_errors():
    with pytest.raises(InvalidInputError, match="exactly one of rsquared"):
        pmsampsize_binary(parameters=10, prevalence=0.2)
    with pytest.raises(InvalidInputError, match="exactly one of rsquared"):
        pmsampsize_binary(rsquared=0.1, cstatistic=0.7, parameters=10, prevalence=0.2)
    with pytest.raises(InvalidInputError, match="not below its maximum"):
        pmsampsize_binary(rsquared=0.7, parameters=10, prevalence=0.174)
    with pytest.raises(InvalidInputError, match="parameters must be a positive integer"):
        pmsampsize_binary(rsquared=0.1, parameters=2.5, prevalence=0.2)
    with pytest.raises(InvalidInputError, match="prevalence"):
        pmsampsize_binary(rsquared=0.1, parameters=10, prevalence=1.2)
    with pytest.raises(InvalidInputError, match="lp_normal"):
        validation_binary(prevalence=0.1, cstatistic=0.7)
    with pytest.raises(InvalidInputError, match="both sensitivity and specificity"):
        validation_binary(prevalence=0.1, cstatistic=0.7, lp_normal=(0, 1), threshold=0.1, sensitivity=0.8)
    with pytest.raises(InvalidInputError, match="cstatistic"):
        validation_binary(prevalence=0.1, cstatistic=0.4, lp_normal=(0, 1))
