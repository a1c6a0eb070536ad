"""Seeded synthetic cohorts of locally advanced upper rectal cancer, with ground truth.

:func:`simulate_rectal_cohort` draws, for ``n`` patients with upper rectal or rectosigmoid
adenocarcinoma treated with neoadjuvant therapy (the setting of a RESET-like trial), the same
three tables as the ovarian generator (:mod:`ca125kinetics.synth`), with CEA as the marker:

* ``markers`` -- CEA (ng/mL) before and during neoadjuvant therapy (long format, value
  column ``cea``);
* ``clinical`` -- one row per patient: the baseline staging and the fields of the RESET
  eligibility criteria, the neoadjuvant regimen, the clinical restaging (``yct_stage``,
  ``ycn_stage``, ``ycm_stage``: the trial's gate), the outcome ``downstaged``
  (``ycT <= 3 N0 M0``), the pathology (``ypt_stage``, ``ypn_stage``: an outcome, never the
  gate), the randomised margin arm and disease-free survival;
* ``truth`` -- the true CEA elimination rate, floor and baseline, the latent tumour
  sensitivity, the true probability of downstaging and the uncensored DFS.

Synthetic data, not patients. Everything is drawn from one ``numpy.random.default_rng(seed)``
stream in a fixed order (vectorised): the same ``(n, seed)`` gives the same cohort.

The generative model (all numbers in :data:`DEFAULT_RECTAL_PARAMS`, copied into ``params``)
-----------------------------------------------------------------------------------------
Tumour sensitivity
    A latent ``s ~ N(0, 1)`` per patient, shifted by ``+1.0`` for dMMR tumours treated with
    immunotherapy (checkpoint inhibitors give high response rates in dMMR rectal cancer), and
    by ``+0.25`` for total neoadjuvant therapy against chemotherapy alone.
CEA kinetics
    ``C(t) = B + (C0 - B) exp(-k t)`` for ``t >= 0`` (the model of the ovarian cohort):
    ``C0`` log-normal, median 4.5 ng/mL (sd of log 1.1, so about 45 % have a baseline above
    the ULN of 5 ng/mL, as in rectal series); floor ``B`` log-normal, median 1.5 ng/mL
    (sd of log 0.45, clipped to 0.3-4), ``C0 >= 1.1 B``; ``log k = log 0.028 + 0.45 s +
    N(0, 0.3^2)`` (median half-life about 25 days). Multiplicative log-normal assay noise
    (CV 8 %), values rounded to 0.1 ng/mL, values below 0.5 ng/mL reported as ``"<0.5"``.
Sampling schedule (FOWARC: weeks 2, 4, 6, 8 and 14)
    A pretreatment sample on day -14..0, then days 14, 28, 42, 56 and 98 with a +/- 2 day
    jitter; each on-treatment sample missing with probability 0.10.
Staging and restaging
    Baseline cT3 (75 %), cT4a (18 %), cT4b (7 %); cN1 (57 %), cN2 (40 %), cN0 (3 %, not
    eligible); cM1 1.5 %. Restaging after neoadjuvant therapy: ``ycN0`` with probability
    ``expit(0.9 + 1.3 s - 0.6 [cN2])``; for cT4, ``ycT <= 3`` with probability
    ``expit(0.2 + 1.2 s - 0.8 [cT4b])`` (cT3 tumours stay ycT <= 3, and reach ycT0-2 with
    ``expit(-0.6 + 1.2 s)``); ``ycM1`` (new metastasis) with probability
    ``expit(-4.2 - 0.8 s)``. ``downstaged = ycT <= 3 and ycN0 and ycM0``.
Pathology (an outcome, not the gate)
    ``ypT0 N0`` (pCR) with probability ``expit(-2.6 + 1.4 s)``, else ypT = ycT with
    probability 0.7 or one category away; ypN0 with probability 0.85 when ycN0, else 0.35.
Arm and DFS
    Patients eligible and downstaged are randomised 1:1 to ``reduced`` or ``conventional``
    margins. DFS is Weibull (shape 1.2) with a 3-year DFS of about 75 % for a reference
    downstaged patient (``s = 0``), log hazard ratio ``-0.35 s + 0.5 [not downstaged]
    + log(hr_reduced) [reduced]`` with ``hr_reduced`` 1.0 (reduced margins truly
    non-inferior; a parameter to simulate harm), administrative censoring uniform on
    24-60 months.

References
----------
RESET (NCT07038122, Sun Yat-sen University). J Cancer 2020;11:6565-6570 (post/pre CEA ratio
and downstaging). BMC Cancer 2018;18:1145 (FOWARC: exponential CEA clearance at weeks 2-14).
Cercek A et al. N Engl J Med 2022 (dMMR rectal cancer and PD-1 blockade).
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import pandas as pd

from .synth import SyntheticCohort, _check_format, _patient_ids, _validate

__all__ = ["DEFAULT_RECTAL_PARAMS", "RECTAL_CLINICAL_COLUMNS", "RECTAL_TRUTH_COLUMNS",
           "simulate_rectal_cohort", "write_rectal_synthetic"]

#: Version of the rectal generative model; bump it whenever a change alters the cohorts drawn.
RECTAL_GENERATOR_VERSION = 1

DEFAULT_RECTAL_PARAMS: dict[str, Any] = {
    "generator_version": RECTAL_GENERATOR_VERSION,
    "marker": "cea",
    "clinical": {
        "age_mean": 58.0, "age_sd": 11.0, "age_min": 16.0, "age_max": 90.0,
        "male_prob": 0.62,
        "asa_probs": [0.30, 0.53, 0.15, 0.02],            # ASA I..IV
        "ecog_probs": [0.70, 0.26, 0.04],                  # ECOG 0, 1, 2
        "site_probs": {"upper_rectum": 0.56, "rectosigmoid": 0.40, "mid_rectum": 0.04},
        "below_reflection_prob_upper": 0.02,
        "histology_probs": {"adenocarcinoma": 0.985, "other": 0.015},
        "ct_probs": {"T3": 0.75, "T4a": 0.18, "T4b": 0.07},
        "cn_probs": {"N1": 0.57, "N2": 0.40, "N0": 0.03},
        "cm1_prob": 0.015,
        "dmmr_prob": 0.08,
        "pmmr_regimens": {"chemotherapy": 0.6, "tnt": 0.4},
        "dmmr_immunotherapy_prob": 0.85,
        # dMMR tumours: how many of the four MMR proteins are lost (1: dMMR by status but
        # not the registry's "two or more")
        "dmmr_proteins_lost_probs": {"1": 0.1, "2": 0.85, "3": 0.05},
        "obstruction_probs": {"none": 0.95, "relieved_by_colostomy": 0.035, "unrelieved": 0.015},
        "missing_mmr_prob": 0.02,
        # screening flags: probability of 1 (the named fact holds); consent is 1 unless drawn 0
        "flag_probs": {"prior_colorectal_surgery": 0.01, "prior_chemoradiotherapy": 0.01,
                       "prior_systemic_agents": 0.005, "history_colorectal_cancer": 0.01,
                       "emergency_surgery": 0.01, "adjacent_organ_invasion": 0.02,
                       "multifocal_primary": 0.01, "other_active_malignancy": 0.01,
                       "recent_trial": 0.005, "organ_dysfunction": 0.01,
                       "psychiatric_disorder": 0.005, "pregnant_or_lactating": 0.002,
                       "uncontrolled_infection": 0.005, "investigator_unsuitable": 0.01},
        "no_consent_prob": 0.02,
        "flag_missing_prob": 0.01,
    },
    "sensitivity": {"dmmr_immunotherapy": 1.0, "tnt": 0.25},
    "markers": {
        "c0_median": 4.5, "c0_log_sd": 1.1,
        "floor_median": 1.5, "floor_log_sd": 0.45, "floor_min": 0.3, "floor_max": 4.0,
        "c0_min_over_floor": 1.1,
        "k_median": 0.028, "k_sensitivity": 0.45, "k_log_sd": 0.30,
        "noise_cv": 0.08, "reporting_limit": 0.5, "uln": 5.0, "assay": "CEA-A",
        "pretreatment_days": [-14, 0], "sample_days": [14, 28, 42, 56, 98],
        "jitter_days": 2, "missing_prob": 0.10,
    },
    "restaging": {
        "ycn0_intercept": 0.9, "ycn0_sensitivity": 1.3, "ycn0_cn2": -0.6,
        "yct3_t4_intercept": 0.2, "yct3_t4_sensitivity": 1.2, "yct3_t4b": -0.8,
        "yct02_intercept": -0.6, "yct02_sensitivity": 1.2,
        "ycm1_intercept": -4.2, "ycm1_sensitivity": -0.8,
    },
    "pathology": {"pcr_intercept": -2.6, "pcr_sensitivity": 1.4, "ypt_agree_prob": 0.7,
                  "ypn0_if_ycn0": 0.85, "ypn0_if_ycn_pos": 0.35},
    "dfs": {"weibull_shape": 1.2, "reference_dfs_3y": 0.75, "log_hr_sensitivity": -0.35,
            "log_hr_not_downstaged": 0.5, "hr_reduced": 1.0, "followup_months": [24.0, 60.0]},
    "treatment_start_spread_days": 1095,
}

RECTAL_CLINICAL_COLUMNS = (
    "patient_id", "age", "sex", "asa", "ecog", "tumour_site", "above_peritoneal_reflection",
    "histology", "ct_stage", "cn_stage", "cm_stage", "mmr_status", "mmr_proteins_lost",
    "neoadjuvant_regimen", "bowel_obstruction", "consent",
    *DEFAULT_RECTAL_PARAMS["clinical"]["flag_probs"], "treatment_start",
    "yct_stage", "ycn_stage", "ycm_stage", "downstaged", "ypt_stage", "ypn_stage",
    "arm", "dfs_months", "dfs_event")
RECTAL_TRUTH_COLUMNS = ("patient_id", "k", "floor", "c0", "half_life_days", "sensitivity",
                        "logit_ycn0", "p_downstaged", "dfs_months_latent", "followup_months")

_T_LABELS = np.array(["T0", "T1", "T2", "T3", "T4a", "T4b"], dtype=object)


def _expit(x):
    return 1.0 / (1.0 + np.exp(-x))


def _pick(rng, probs: dict[str, float], n: int) -> np.ndarray:
    labels = np.array(list(probs), dtype=object)
    p = np.asarray(list(probs.values()), dtype=float)
    return labels[rng.choice(len(labels), size=n, p=p / p.sum())]


def simulate_rectal_cohort(n: int, seed: int, *, uln: float = 5.0,
                           start_date: str = "2024-01-01") -> SyntheticCohort:
    """Simulate ``n`` patients with locally advanced upper rectal cancer (module docstring).

    Parameters
    ----------
    n : int
        Number of patients, from 1 to :data:`ca125kinetics.synth.MAX_PATIENTS` (ids
        ``"000001"``...).
    seed : int
        Non-negative seed of ``numpy.random.default_rng``.
    uln : float
        CEA upper limit of normal written with every sample (ng/mL, default 5).
    start_date : str
        ISO date; treatment starts are spread over the following three years.

    Returns
    -------
    SyntheticCohort
        ``markers`` has the value column ``cea`` (ng/mL; the limit when censored) and
        ``params["marker"] == "cea"``; ``clinical`` has :data:`RECTAL_CLINICAL_COLUMNS`,
        ``truth`` :data:`RECTAL_TRUTH_COLUMNS`.
    """
    n, seed, uln, _, start = _validate(n, seed, uln, 0.5, start_date, marker="cea")
    params = copy.deepcopy(DEFAULT_RECTAL_PARAMS)
    params["call"] = {"n": n, "seed": seed, "uln": uln, "start_date": start.isoformat()}
    rng = np.random.default_rng(seed)
    ids = _patient_ids(n)
    c = params["clinical"]

    age = np.round(np.clip(rng.normal(c["age_mean"], c["age_sd"], n), c["age_min"], c["age_max"]))
    sex = np.where(rng.random(n) < c["male_prob"], "male", "female").astype(object)
    asa = rng.choice(4, size=n, p=np.asarray(c["asa_probs"]) / sum(c["asa_probs"])) + 1
    ecog = rng.choice(3, size=n, p=np.asarray(c["ecog_probs"]) / sum(c["ecog_probs"]))
    site = _pick(rng, c["site_probs"], n)
    above = np.where(site == "mid_rectum", 0, (rng.random(n) >= c["below_reflection_prob_upper"]).astype(int))
    histology = _pick(rng, c["histology_probs"], n)
    ct = _pick(rng, c["ct_probs"], n)
    cn = _pick(rng, c["cn_probs"], n)
    cm = np.where(rng.random(n) < c["cm1_prob"], "M1", "M0").astype(object)
    dmmr = rng.random(n) < c["dmmr_prob"]
    regimen = np.where(dmmr,
                       np.where(rng.random(n) < c["dmmr_immunotherapy_prob"], "immunotherapy", "chemotherapy"),
                       _pick(rng, c["pmmr_regimens"], n)).astype(object)
    mmr = np.where(dmmr, "dMMR", "pMMR").astype(object)
    lost_probs = c["dmmr_proteins_lost_probs"]
    lost = np.where(dmmr, _pick(rng, lost_probs, n).astype(np.int64), 0)
    obstruction = _pick(rng, c["obstruction_probs"], n)
    mmr_missing = rng.random(n) < c["missing_mmr_prob"]
    flags = {name: (rng.random(n) < prob).astype(float) for name, prob in c["flag_probs"].items()}
    consent = (rng.random(n) >= c["no_consent_prob"]).astype(float)
    for values in (*flags.values(), consent):          # a few unknown answers -> undetermined
        values[rng.random(n) < c["flag_missing_prob"]] = np.nan

    sp = params["sensitivity"]
    sens = (rng.standard_normal(n) + sp["dmmr_immunotherapy"] * (dmmr & (regimen == "immunotherapy"))
            + sp["tnt"] * (regimen == "tnt"))

    m = params["markers"]
    c0 = np.exp(rng.normal(math.log(m["c0_median"]), m["c0_log_sd"], n))
    floor = np.clip(np.exp(rng.normal(math.log(m["floor_median"]), m["floor_log_sd"], n)),
                    m["floor_min"], m["floor_max"])
    c0 = np.maximum(c0, m["c0_min_over_floor"] * floor)
    k = np.exp(math.log(m["k_median"]) + m["k_sensitivity"] * sens + rng.normal(0.0, m["k_log_sd"], n))
    markers = _draw_cea(rng, ids, c0, floor, k, m, uln)

    r = params["restaging"]
    t4 = ct != "T3"
    logit_ycn0 = r["ycn0_intercept"] + r["ycn0_sensitivity"] * sens + r["ycn0_cn2"] * (cn == "N2")
    ycn0 = rng.random(n) < _expit(logit_ycn0)
    t4_to_t3 = rng.random(n) < _expit(r["yct3_t4_intercept"] + r["yct3_t4_sensitivity"] * sens
                                       + r["yct3_t4b"] * (ct == "T4b"))
    to_t02 = rng.random(n) < _expit(r["yct02_intercept"] + r["yct02_sensitivity"] * sens)
    t02 = rng.choice(3, size=n)                                   # ycT0, ycT1, ycT2 when reached
    yct_idx = np.where(to_t02 & (~t4 | t4_to_t3), t02, np.where(t4 & ~t4_to_t3, np.where(ct == "T4b", 5, 4), 3))
    ycm1 = (cm == "M1") | (rng.random(n) < _expit(r["ycm1_intercept"] + r["ycm1_sensitivity"] * sens))
    ycn_pos = np.where(cn == "N2", "N2", "N1")
    ycn = np.where(ycn0, "N0", ycn_pos).astype(object)
    downstaged = (yct_idx <= 3) & ycn0 & ~ycm1
    p_ycn0 = _expit(logit_ycn0)
    p_t = np.where(t4, _expit(r["yct3_t4_intercept"] + r["yct3_t4_sensitivity"] * sens
                              + r["yct3_t4b"] * (ct == "T4b")), 1.0)
    p_m0 = np.where(cm == "M1", 0.0, 1.0 - _expit(r["ycm1_intercept"] + r["ycm1_sensitivity"] * sens))
    p_downstaged = p_ycn0 * p_t * p_m0

    pa = params["pathology"]
    pcr = rng.random(n) < _expit(pa["pcr_intercept"] + pa["pcr_sensitivity"] * sens)
    step = np.where(rng.random(n) < pa["ypt_agree_prob"], 0, np.where(rng.random(n) < 0.5, -1, 1))
    ypt_idx = np.where(pcr, 0, np.clip(yct_idx + step, 1, 5))
    ypn0 = pcr | (rng.random(n) < np.where(ycn0, pa["ypn0_if_ycn0"], pa["ypn0_if_ycn_pos"]))

    # the RESET gate before restaging (the criteria file decides; this only picks who is
    # randomised in the simulated trial): every flag known and clear, consent given
    flags_clear = np.all([v == 0 for v in flags.values()], axis=0) & (consent == 1)
    mmr_path = np.where(dmmr, (lost >= 2) & (regimen == "immunotherapy"), regimen != "immunotherapy")
    eligible_core = ((age >= 18) & (age <= 80) & (site != "mid_rectum") & (above == 1)
                     & (histology == "adenocarcinoma") & (cn != "N0") & (cm == "M0")
                     & (asa <= 3) & (ecog <= 1) & (obstruction != "unrelieved")
                     & ~mmr_missing & mmr_path & flags_clear)
    randomised = eligible_core & downstaged
    reduced = rng.random(n) < 0.5
    arm = np.where(randomised, np.where(reduced, "reduced", "conventional"), None).astype(object)

    d = params["dfs"]
    shape = d["weibull_shape"]
    # Weibull with S(36) = reference_dfs_3y for the reference patient
    scale = 36.0 / (-math.log(d["reference_dfs_3y"])) ** (1.0 / shape)
    lp = (d["log_hr_sensitivity"] * sens + d["log_hr_not_downstaged"] * ~downstaged
          + math.log(d["hr_reduced"]) * (randomised & reduced))
    dfs_latent = scale * (rng.exponential(1.0, n) / np.exp(lp)) ** (1.0 / shape)
    followup = rng.uniform(d["followup_months"][0], d["followup_months"][1], n)
    start_offsets = rng.integers(0, params["treatment_start_spread_days"] + 1, n)

    mmr_obs = mmr.copy()
    mmr_obs[mmr_missing] = None
    clinical = pd.DataFrame({
        "patient_id": pd.Series(ids, dtype=object),
        "age": age,
        "sex": pd.Series(sex, dtype=object),
        "asa": asa.astype(np.int64),
        "ecog": ecog.astype(np.int64),
        "tumour_site": pd.Series(site, dtype=object),
        "above_peritoneal_reflection": above.astype(np.int64),
        "histology": pd.Series(histology, dtype=object),
        "ct_stage": pd.Series(ct, dtype=object),
        "cn_stage": pd.Series(cn, dtype=object),
        "cm_stage": pd.Series(cm, dtype=object),
        "mmr_status": pd.Series(mmr_obs, dtype=object),
        "mmr_proteins_lost": pd.array(np.where(mmr_missing, np.nan, lost), dtype="Int64"),
        "neoadjuvant_regimen": pd.Series(regimen, dtype=object),
        "bowel_obstruction": pd.Series(obstruction, dtype=object),
        "consent": pd.array(consent, dtype="Int64"),
        **{name: pd.array(values, dtype="Int64") for name, values in flags.items()},
        "treatment_start": pd.to_datetime(np.datetime64(start, "D") + start_offsets),
        "yct_stage": pd.Series(_T_LABELS[yct_idx], dtype=object),
        "ycn_stage": pd.Series(ycn, dtype=object),
        "ycm_stage": pd.Series(np.where(ycm1, "M1", "M0"), dtype=object),
        "downstaged": downstaged.astype(np.int64),
        "ypt_stage": pd.Series(_T_LABELS[ypt_idx], dtype=object),
        "ypn_stage": pd.Series(np.where(ypn0, "N0", "N1"), dtype=object),
        "arm": pd.Series(arm, dtype=object),
        "dfs_months": np.maximum(np.round(np.minimum(dfs_latent, followup), 1), 0.1),
        "dfs_event": (dfs_latent <= followup).astype(np.int64),
    })
    truth = pd.DataFrame({
        "patient_id": pd.Series(ids, dtype=object),
        "k": k, "floor": floor, "c0": c0, "half_life_days": math.log(2) / k,
        "sensitivity": sens, "logit_ycn0": logit_ycn0, "p_downstaged": p_downstaged,
        "dfs_months_latent": dfs_latent, "followup_months": followup,
    })
    return SyntheticCohort(markers=markers, clinical=clinical.loc[:, list(RECTAL_CLINICAL_COLUMNS)],
                           truth=truth.loc[:, list(RECTAL_TRUTH_COLUMNS)], params=params)


def _draw_cea(rng, ids, c0, floor, k, m, uln) -> pd.DataFrame:
    n = len(ids)
    sample_days = np.asarray(m["sample_days"])
    n_slots = 1 + len(sample_days)
    day = np.empty((n, n_slots), dtype=np.int64)
    day[:, 0] = rng.integers(m["pretreatment_days"][0], m["pretreatment_days"][1] + 1, n)
    jitter = m["jitter_days"]
    day[:, 1:] = sample_days + rng.integers(-jitter, jitter + 1, (n, len(sample_days)))
    present = np.ones((n, n_slots), dtype=bool)
    present[:, 1:] = rng.random((n, n_slots - 1)) >= m["missing_prob"]
    t = np.maximum(day, 0).astype(float)
    true = floor[:, None] + (c0 - floor)[:, None] * np.exp(-k[:, None] * t)
    sigma = math.sqrt(math.log1p(m["noise_cv"] ** 2))
    value = np.round(true * np.exp(rng.normal(0.0, sigma, (n, n_slots))), 1)
    censored = value < m["reporting_limit"]
    value = np.where(censored, m["reporting_limit"], value)
    pid = np.repeat(np.arange(n), n_slots).reshape(n, n_slots)[present]
    return pd.DataFrame({
        "patient_id": pd.Series(ids[pid], dtype=object),
        "day": day[present],
        "cea": value[present],
        "censored": censored[present],
        "uln": np.full(len(pid), float(uln)),
        "assay": pd.Series(np.full(len(pid), m["assay"], dtype=object), dtype=object),
        "event": pd.Series(np.full(len(pid), None, dtype=object), dtype=object),
    })


def write_rectal_synthetic(n: int, seed: int, out_dir, *, format: str = "csv"):  # noqa: A002
    """Simulate a rectal cohort with default settings and write it (``ca125 synth --kind rectal``)."""
    _check_format(format)
    return simulate_rectal_cohort(n, seed).write(out_dir, format=format)
