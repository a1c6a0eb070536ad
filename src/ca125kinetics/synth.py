"""Seeded synthetic cohorts of recurrent ovarian cancer with known ground truth.

:func:`simulate_cohort` draws, for ``n`` patients at first platinum-sensitive recurrence, the
three tables of the data contract (``docs/data-contract.md``, "Synthetic cohorts"):

* ``markers`` -- CA-125 before each 21-day cycle of platinum chemotherapy (long format);
* ``clinical`` -- one row per patient: the clinical factors of the AGO score, iMODEL and
  MSKCC guideline, RECIST response, trial arm, complete resection and PFS, and the screening
  fields of the RESCUE eligibility criteria;
* ``truth`` -- what no real data set has: the true elimination rate ``k``, floor ``B``,
  CA-125 at recurrence ``C0`` and the true probability of complete resection of every
  patient (operated or not), so that tests can check recovery of ``k`` and compute the
  *oracle AUC*, the ceiling that no model can beat on the cohort.

Everything but the screening fields is drawn from one ``numpy.random.default_rng(seed)``
stream (the screening fields from a child stream, see below), fully vectorised
(a million patients take a few seconds), in a fixed order: the same ``(n, seed)`` and
keyword arguments give the same cohort, and :meth:`SyntheticCohort.write` renders it to
byte-identical files. Changing the order of the draws below changes every cohort, so the
committed default cohort (``data/synthetic/default``) is regenerated and compared by the
tests.

The generative model (all numbers are in :data:`DEFAULT_PARAMS`, copied into
``SyntheticCohort.params`` and ``params.json``):

Marker kinetics, per patient *i* (spec section 4)
    ``C_i(t) = B_i + (C0_i - B_i) exp(-k_i t)`` for ``t >= 0`` and ``C_i(t) = C0_i`` for
    pretreatment samples; observed value ``C_i(t) * exp(e)`` with ``e ~ N(0, s^2)``,
    ``s = sqrt(log(1 + CV^2))`` (multiplicative log-normal assay noise, CV 7 %), rounded
    to 0.1 U/mL; values below the reporting limit (5 U/mL, assay ``CA125-B`` only) are
    reported as ``"<5"``.

    * ``C0`` (CA-125 at recurrence): two-piece log-normal, median 115 U/mL shifted on
      the log scale by -0.2 (single site), +0.4 (carcinomatosis) and +0.25 (ascites),
      sd of log 0.42 below and 1.3 above the median; 3 % "low secretors" have ``C0``
      log-uniform on 8-60 U/mL. ``C0 >= 1.2 B``. Result: baseline median ~135-140 U/mL,
      range ~8 to > 10,000 U/mL, ~14 % with a baseline < 2 x ULN (GCIG not evaluable).
    * ``B`` (floor from healthy tissue): log-normal, median 7 U/mL, sd of log 0.35,
      clipped to 2-20 U/mL.
    * ``k`` (elimination rate, per day): ``log k = log 0.043 + 0.11 + 0.2 log(PFI/16)
      - 0.15 [carcinomatosis] - 0.1 [residual at primary surgery] + eps``,
      ``eps ~ N(0, 0.43^2)``: median ~0.043/day (half-life ~16 days; Riedinger 2006:
      15.8), sd of log k ~0.45, mildly correlated with clinical factors. Non-responders
      (probability 0.05, 0.10 when PFI < 12 months; ~6 %) have ``k ~ U(-0.012, 0.004)``:
      flat or rising CA-125.

Sampling schedule
    One pretreatment sample on a day drawn from -10..0; one sample before each cycle on
    days 21, 42, 63 (and 84 for half of the patients, who receive four cycles), each with
    a +/- 3 day jitter; a late sample on day 105-126 for 5 %; every on-treatment sample
    is missing with probability 0.10; half of the non-responders with rising CA-125 stop
    after cycle 2. So ~98 % of patients have 3-5 samples in the first 100 days and ~2 %
    only 2 or fewer (insufficient for a KELIM-like fit).

Assays and events
    Three fictitious assays, constant per patient: ``CA125-A`` (55 %, ULN = ``uln``),
    ``CA125-B`` (35 %, ULN = ``uln``, reporting limit 5 U/mL) and ``CA125-C`` (10 %, a
    minority site with ULN 30 U/mL). 1.2 % of the ``uln``-assay patients switch between
    A and B from the second or third on-treatment sample, with a 10 % systematic bias
    after the switch (why GCIG requires one assay); the ULN stays the patient's. 8 % of
    patients with ascites (~2 % overall) have a paracentesis 3-12 days after the cycle-2
    sample: an event-only row with an empty ``ca125`` (never on a sample day).

RECIST
    ``latent = z_k + N(0, 0.6^2)``: CR above 1.4, PR above -0.6, else SD; non-responders
    PD with probability 0.7, else SD.

Complete resection at secondary cytoreduction
    True probability ``p_i = expit(eta_i)``, for every patient (counterfactual for the
    non-operated), with

    ``eta = intercept + log_k_z * z_k + ecog_1 [ECOG = 1] + ecog_2plus [ECOG >= 2]
    + ascites_any [ascites > 0] + ascites_500 [ascites >= 500 mL]
    + primary_residual [residual disease at primary surgery]
    + log_pfi_over_16 * log(PFI / 16) + pattern_multiple [multiple]
    + pattern_carcinomatosis [carcinomatosis] + figo_3_4 [FIGO III-IV]
    + log_c0_over_105 * log(C0 / 105)``

    where ``z_k = clip((log max(k, k_min) - log k_ref) / k_log_sd, -z_clip, z_clip)`` is
    the standardised log elimination rate (``k_ref`` 0.043, ``k_log_sd`` 0.45, ``k_min``
    0.005, ``z_clip`` 3.0) and the coefficients (``DEFAULT_PARAMS["resection"]``) are

    ``intercept`` 2.7, ``log_k_z`` 0.8, ``ecog_1`` -0.4, ``ecog_2plus`` -1.0,
    ``ascites_any`` -0.5, ``ascites_500`` -0.5, ``primary_residual`` -0.6,
    ``log_pfi_over_16`` 0.5, ``pattern_multiple`` -0.5, ``pattern_carcinomatosis`` -1.1,
    ``figo_3_4`` -0.3, ``log_c0_over_105`` -0.2.

    They were chosen so that the mean ``p`` is ~0.70 (DESKTOP III 75.5 %, GOG-213 67 %)
    and the oracle AUC (``p`` against the outcome among the operated) is ~0.81; true
    ``z_k`` alone gives ~0.74, and the AGO score (~0.58) and iMODEL (~0.69), built from
    the same clinical factors but not from ``k``, have modest but real discrimination
    (seeds 1-5 and the default seed, n = 3000). The outcome is drawn for everyone
    (``truth.complete_resection_potential``); ``clinical.complete_resection`` reports it
    only in the ``surgery`` arm (randomised with probability ``surgery_fraction``).

Screening fields (eligibility gate, ``DEFAULT_PARAMS["eligibility"]``)
    ``recurrence_number`` (1 for 96.7 %; 0, 2, 3 for the rest), ``tumour_site`` (ovary 85 %,
    fallopian tube 8 %, peritoneum 7 %), ``histology`` (high-grade serous 72 %, 1.5 %
    borderline and 1.5 % non-epithelial, the rest other epithelial types), the surgeon's R0
    judgement (``P = expit(2.2 + 0.6 (eta - mean eta))`` with ``eta`` the true logit of complete
    resection below: ~87 % judged resectable, more often when resection is truly likely),
    consent (97 %), archived tissue (96 %) and the exclusion flags (second malignancy 2 %,
    platinum-refractory 0.8 %, palliative surgery only 1 %, unresectable on imaging 3 %,
    comorbidity 1 % + 8 % with ECOG >= 2, surgical-risk history 1.5 %, surgical-risk
    medication 3 %); each field is empty (unknown) for 0.5 % of patients. They are drawn from
    their own stream, the first child of ``numpy.random.SeedSequence(seed)``, so every other
    column is the same as before they were added. Apart from the R0 judgement and the
    comorbidity flag they are independent of the other columns, and the outcome columns are
    drawn for every patient whatever the screen says (a simplification: a real trial would
    randomise only eligible patients). On the default cohort the RESCUE screen finds ~61 %
    eligible, ~35 % ineligible and ~5 % undetermined.

Progression-free survival
    Weibull proportional hazards, shape ``weibull_shape`` 1.3, median
    ``reference_median_months`` 16.0 for a reference patient (``z_k`` = 0, PFI 16 months,
    no risk factor, no surgery), with log hazard ratio

    ``log_k_z * z_k + nonresponder [non-responder] + log_pfi_over_16 * log(PFI / 16)
    + carcinomatosis [carcinomatosis] + ecog_2plus [ECOG >= 2]
    + primary_residual [residual] + log(HR of the surgery outcome)``

    with ``log_k_z`` -0.3, ``nonresponder`` 0.7, ``log_pfi_over_16`` -0.5,
    ``carcinomatosis`` 0.3, ``ecog_2plus`` 0.3, ``primary_residual`` 0.2,
    ``hr_complete_resection`` 0.55, ``hr_incomplete_resection`` 1.3: PFS is longer after
    complete and shorter after incomplete resection than without surgery (DESKTOP III,
    Harter 2021; medians ~24, ~13, ~7.5 months). Administrative censoring at a follow-up
    drawn uniformly in 18-60 months.

References
----------
Rustin GJS et al. Int J Gynecol Cancer 2011;21:419-423 (GCIG CA-125 definitions).
You B et al. Gynecol Oncol 2013 (KELIM, CALYPSO). Riedinger JM et al. Ann Oncol 2006
(CA-125 half-life, median 15.8 days). Harter P et al. N Engl J Med 2021 (DESKTOP III).
Coleman RL et al. N Engl J Med 2019 (GOG-213). Tian WJ et al. Ann Surg Oncol 2012 (iMODEL).
"""

from __future__ import annotations

import copy
import datetime as _dt
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import InvalidInputError, argument_name

__all__ = ["DEFAULT_PARAMS", "SyntheticCohort", "simulate_cohort", "write_synthetic"]

#: Version of the generative model; bump it whenever a change alters the cohorts drawn.
GENERATOR_VERSION = 2
#: ``DataFrame.attrs`` key marking the tables of a :class:`SyntheticCohort` (their generator
#: version): ``ca125kinetics.train`` given them as frames knows them synthetic, as it knows
#: files written beside their ``params.json``.
SYNTHETIC_ATTR = "ca125_synthetic_generator"
#: Most patients :func:`simulate_cohort` draws: it holds the whole cohort in memory at once (peak
#: about 1.4 GB for 1,000,000 patients written to Parquet, measured), so a larger cohort is refused
#: before anything is drawn, not ended by a MemoryError.
MAX_PATIENTS = 10_000_000

#: True parameters of the generator (JSON-serialisable; copied into every cohort).
DEFAULT_PARAMS: dict[str, Any] = {
    "generator_version": GENERATOR_VERSION,
    "clinical": {
        "age_mean": 61.0, "age_sd": 10.0, "age_min": 19.0, "age_max": 90.0,
        # ECOG = cut of a latent N(0,1) + age_slope * (age - age_mean)
        "ecog_age_slope": 0.04, "ecog_cuts": [0.05, 1.3, 2.1],
        "figo_labels": ["I", "IA", "IB", "IC", "II", "IIA", "IIB",
                        "III", "IIIA", "IIIB", "IIIC", "IV", "IVA", "IVB"],
        "figo_probs": [0.01, 0.015, 0.01, 0.035, 0.01, 0.02, 0.03,
                       0.07, 0.06, 0.08, 0.45, 0.04, 0.05, 0.12],
        # P(residual disease after primary surgery) by FIGO I-II, III, IV
        "residual_prob": {"I-II": 0.12, "III": 0.40, "IV": 0.55},
        "residual_missing_prob": 0.03,
        # PFI = min + exp(N(log(median - min), sd)) months: median 16, all >= 6
        "pfi_min_months": 6.0, "pfi_median_months": 16.0, "pfi_log_sd": 0.75,
        # pattern = cut of N(0,1) + 0.35 [residual] + 0.3 [FIGO IV] - 0.2 log(PFI/16)
        "pattern_residual": 0.35, "pattern_figo4": 0.3, "pattern_log_pfi": -0.2,
        "pattern_cuts": [-0.3, 1.05],
        "ascites_prob": {"single": 0.08, "multiple": 0.22, "carcinomatosis": 0.60},
        "ascites_median_ml": 300.0, "ascites_log_sd": 0.9, "ascites_min_ml": 20.0,
    },
    "markers": {
        "c0_median": 115.0,
        "c0_shift": {"single": -0.2, "multiple": 0.0, "carcinomatosis": 0.4, "ascites": 0.25},
        "c0_log_sd_below": 0.42, "c0_log_sd_above": 1.3,
        # recurrences that secrete little CA-125: C0 log-uniform on this range (U/mL)
        "low_secretor_prob": 0.03, "low_secretor_range": [8.0, 60.0],
        "floor_median": 7.0, "floor_log_sd": 0.35, "floor_min": 2.0, "floor_max": 20.0,
        "c0_min_over_floor": 1.2,
        "k_median": 0.043, "k_log_sd": 0.43, "k_log_offset": 0.11,
        "k_log_pfi": 0.2, "k_carcinomatosis": -0.15, "k_residual": -0.1,
        "nonresponder_prob": 0.05, "nonresponder_prob_pfi_lt12": 0.10,
        "nonresponder_k_range": [-0.012, 0.004],
        "noise_cv": 0.07,
        "pretreatment_days": [-10, 0],
        "cycle_days": [21, 42, 63, 84], "fourth_cycle_prob": 0.5, "jitter_days": 3,
        "late_sample_prob": 0.05, "late_sample_days": [105, 126],
        "missing_prob": 0.10, "rising_stop_prob": 0.5,
        "assays": {"CA125-A": {"prob": 0.55, "uln": "uln", "reporting_limit": None},
                   "CA125-B": {"prob": 0.35, "uln": "uln", "reporting_limit": 5.0},
                   "CA125-C": {"prob": 0.10, "uln": 30.0, "reporting_limit": None}},
        "assay_change_prob": 0.012, "assay_change_bias": 1.10,
        "paracentesis_prob_if_ascites": 0.08, "paracentesis_days_after_cycle1": [3, 12],
    },
    "recist": {
        # latent = z_k + N(0, sd^2); CR above cr_cut, PR above pr_cut, else SD;
        # non-responders: PD with pd_prob, else SD
        "noise_sd": 0.6, "cr_cut": 1.4, "pr_cut": -0.6, "nonresponder_pd_prob": 0.7,
    },
    "resection": {
        "k_ref": 0.043, "k_log_sd": 0.45, "k_min": 0.005, "z_clip": 3.0,
        "intercept": 2.7, "log_k_z": 0.8,
        "ecog_1": -0.4, "ecog_2plus": -1.0,
        "ascites_any": -0.5, "ascites_500": -0.5,
        "primary_residual": -0.6,
        "log_pfi_over_16": 0.5,
        "pattern_multiple": -0.5, "pattern_carcinomatosis": -1.1,
        "figo_3_4": -0.3,
        "log_c0_over_105": -0.2,
    },
    "pfs": {
        "weibull_shape": 1.3, "reference_median_months": 16.0,
        "log_k_z": -0.30, "nonresponder": 0.70, "log_pfi_over_16": -0.50,
        "carcinomatosis": 0.30, "ecog_2plus": 0.30, "primary_residual": 0.20,
        "hr_complete_resection": 0.55, "hr_incomplete_resection": 1.30,
        "followup_months": [18.0, 60.0],
    },
    "treatment_start_spread_days": 1095,
    # screening fields of the eligibility gate (ca125kinetics.eligibility), drawn from their
    # own random stream so that every column above is unchanged for the same seed
    "eligibility": {
        "tumour_site": {"ovary": 0.85, "fallopian_tube": 0.08, "peritoneum": 0.07},
        "histology": {"high_grade_serous": 0.72, "low_grade_serous": 0.04, "endometrioid": 0.07,
                      "clear_cell": 0.06, "mucinous": 0.02, "mixed_epithelial": 0.03,
                      "other_epithelial": 0.03, "borderline": 0.015, "non_epithelial": 0.015},
        "recurrence_number": {"0": 0.003, "1": 0.967, "2": 0.025, "3": 0.005},
        # P(flag = 1); archived_tissue and consent are 1 (available, signed) unless drawn 0
        "flag_probs": {"second_malignancy": 0.02, "platinum_refractory": 0.008,
                       "palliative_surgery_only": 0.01, "unresectable_on_imaging": 0.03,
                       "comorbidity_precludes_treatment": 0.01, "high_risk_surgical_history": 0.015,
                       "surgical_risk_medication": 0.03},
        "comorbidity_ecog_2plus": 0.08,
        "no_archived_tissue_prob": 0.04, "no_consent_prob": 0.03,
        # surgeon judges R0 with P = expit(r0_intercept + r0_slope * (eta - mean eta)),
        # eta the true logit of complete resection
        "r0_intercept": 2.2, "r0_slope": 0.6,
        # each screening field is empty (unknown) with this probability
        "missing_prob": 0.005,
    },
}

#: Screening columns of the clinical table (data contract), drawn by ``_draw_eligibility``.
ELIGIBILITY_COLUMNS = ("recurrence_number", "tumour_site", "histology", "surgeon_r0_judgement",
                       "consent", "second_malignancy", "platinum_refractory", "palliative_surgery_only",
                       "unresectable_on_imaging", "comorbidity_precludes_treatment",
                       "high_risk_surgical_history", "surgical_risk_medication", "archived_tissue")

#: Columns of the written files, in order.
MARKER_FILE_COLUMNS = ("patient_id", "day", "ca125", "uln", "assay", "event")
CLINICAL_COLUMNS = ("patient_id", "age", "ecog", "ascites_ml", "figo_stage",
                    "primary_residual_disease", "pfi_months", "recurrence_pattern", "recist",
                    "treatment_start", "arm", "complete_resection", "pfs_months", "pfs_event",
                    *ELIGIBILITY_COLUMNS)
TRUTH_COLUMNS = ("patient_id", "k", "floor", "c0", "half_life_days", "responder",
                 "z_log_k", "logit_complete_resection", "p_complete_resection",
                 "complete_resection_potential", "primary_residual_disease_true",
                 "pfs_months_latent", "followup_months", "assay_change_day")

_PATTERNS = np.array(["single", "multiple", "carcinomatosis"], dtype=object)
_FORMATS = ("csv", "parquet")


@dataclass(frozen=True)
class SyntheticCohort:
    """A simulated cohort: the data-contract tables plus the ground truth.

    Attributes
    ----------
    markers : pandas.DataFrame
        One row per sample (or event), sorted by ``(patient_id, day)``, in the canonical
        in-memory form of ``read_markers`` (without ``problem``): ``patient_id`` (str),
        ``day`` (int64), ``ca125`` (float64; the limit 5.0 when censored, NaN on event-only
        rows), ``censored`` (bool), ``uln`` (float64), ``assay`` (str), ``event``
        (None or ``"paracentesis"``). :meth:`write` renders ``ca125`` as text (``"<5"``).
    clinical : pandas.DataFrame
        One row per patient with the data-contract clinical columns (:data:`CLINICAL_COLUMNS`).
    truth : pandas.DataFrame
        One row per patient (:data:`TRUTH_COLUMNS`): true ``k`` (per day), ``floor`` and
        ``c0`` (U/mL), ``half_life_days`` (``ln 2 / k``, NaN when ``k <= 0``), ``responder``,
        the true logit and probability of complete resection (counterfactual for
        everyone), the counterfactual outcome, the unmasked residual disease, the
        uncensored PFS and follow-up, and the day of an assay change (NaN if none).
    params : dict
        The generator's true parameters (:data:`DEFAULT_PARAMS` plus the call's arguments).
    """

    markers: pd.DataFrame
    clinical: pd.DataFrame
    truth: pd.DataFrame
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        for frame in (self.markers, self.clinical, self.truth):
            frame.attrs[SYNTHETIC_ATTR] = self.params.get("generator_version", GENERATOR_VERSION)

    @property
    def marker(self) -> str:
        """Name of the marker (and value column): ``ca125`` unless the generator says otherwise."""
        return self.params.get("marker", "ca125")

    @property
    def n_patients(self) -> int:
        return len(self.clinical)

    def to_frame(self) -> pd.DataFrame:
        """One row per patient: the clinical table joined with the truth table."""
        return self.clinical.merge(self.truth, on="patient_id", how="left", validate="one_to_one")

    def write(self, out_dir, format: str = "csv") -> Path:  # noqa: A002 - mirrors the CLI option
        """Write ``markers``, ``clinical``, ``truth`` and ``params.json`` to ``out_dir``.

        Parameters
        ----------
        out_dir : str or Path
            Directory, created if needed; existing files of the same names are replaced.
        format : {"csv", "parquet"}
            CSV files are written without index, with ``\\n`` line ends and fixed float
            formats (clinical and markers 0.1 precision, truth 10 significant digits), so
            regeneration from the seed is byte-identical. ``ca125`` is text in both formats
            (numbers with one decimal, ``"<5"`` when censored, empty on event-only rows).

        Returns
        -------
        Path
            ``out_dir``.
        """
        _check_format(format)
        out = Path(out_dir)
        if out.exists() and not out.is_dir():
            raise InvalidInputError(f"output path {str(out)!r} exists and is not a directory; "
                                    "pass a directory path")
        out.mkdir(parents=True, exist_ok=True)
        # the frames define their columns (the ovarian cohort's are CLINICAL_COLUMNS and
        # TRUTH_COLUMNS; a rectal cohort has its own); the marker names the value column
        tables = {"markers": _markers_file_frame(self.markers, self.marker),
                  "clinical": self.clinical,
                  "truth": self.truth}
        float_formats = {"markers": "%.1f", "clinical": "%.1f", "truth": "%.10g"}
        from ._atomic import atomic_file, file_set, write_file

        # the files replaced together, or none of them: the tables of one cohort, and the
        # parameters that say it is synthetic put in place first (then a run killed between
        # the renames leaves synthetic tables marked so, never new tables unmarked)
        with file_set():
            write_file(out / "params.json", json.dumps(self.params, indent=2, sort_keys=True) + "\n")
            for name, frame in tables.items():
                with atomic_file(out / f"{name}.{format}") as handle:
                    if format == "csv":
                        if name == "clinical":  # ISO dates, formatted in C (strftime is slow for 10^6)
                            days = frame["treatment_start"].to_numpy().astype("datetime64[D]")
                            frame = frame.assign(treatment_start=np.datetime_as_string(days, unit="D"))
                        frame.to_csv(handle, index=False, lineterminator="\n", float_format=float_formats[name],
                                     encoding="utf-8")
                    else:
                        frame.to_parquet(handle, index=False)
        return out


def simulate_cohort(n: int, seed: int, *, uln: float = 35.0, surgery_fraction: float = 0.75,
                    start_date: str = "2024-01-01") -> SyntheticCohort:
    """Simulate ``n`` patients at first platinum-sensitive recurrence (see module docstring).

    Parameters
    ----------
    n : int
        Number of patients, from 1 to :data:`MAX_PATIENTS` (10,000,000; the cohort is drawn in
        memory at once, so a larger one is refused). Patient ids are ``"000001"``, ``"000002"``... (zero-padded
        to at least 6 digits, so leading zeros matter).
    seed : int
        Non-negative seed of ``numpy.random.default_rng``; same seed, same cohort.
    uln : float
        Upper limit of normal of the two majority assays (U/mL); the minority assay
        ``CA125-C`` uses 30 U/mL. ULN is constant within a patient.
    surgery_fraction : float
        Probability of randomisation to the ``surgery`` arm, in [0, 1].
    start_date : str
        ISO date; treatment starts are spread over the following three years.

    Returns
    -------
    SyntheticCohort
    """
    n, seed, uln, surgery_fraction, start = _validate(n, seed, uln, surgery_fraction, start_date)
    params = copy.deepcopy(DEFAULT_PARAMS)
    params["call"] = {"n": n, "seed": seed, "uln": uln, "surgery_fraction": surgery_fraction,
                      "start_date": start.isoformat()}
    rng = np.random.default_rng(seed)
    ids = _patient_ids(n)

    clin = _draw_clinical(rng, n, params["clinical"])
    kin = _draw_kinetics(rng, clin, params["markers"])
    markers, assay_change_day = _draw_markers(rng, ids, kin, clin["ascites_ml"] > 0,
                                             params["markers"], uln)
    z_k = _z_log_k(kin["k"], params["resection"])
    recist = _draw_recist(rng, z_k, kin["nonresponder"], params["recist"])
    eta = _resection_logit(clin, kin, z_k, params["resection"])
    p = 1.0 / (1.0 + np.exp(-eta))
    potential = rng.random(n) < p
    surgery = rng.random(n) < surgery_fraction
    pfs_latent, followup = _draw_pfs(rng, clin, kin, z_k, surgery, potential, params["pfs"])
    start_offsets = rng.integers(0, params["treatment_start_spread_days"] + 1, n)

    observed = np.minimum(pfs_latent, followup)
    residual_obs = pd.array(clin["residual"], dtype="Int64")
    residual_obs[clin["residual_missing"]] = pd.NA
    resection = pd.array(potential.astype(np.int64), dtype="Int64")
    resection[~surgery] = pd.NA
    clinical = pd.DataFrame({
        "patient_id": pd.Series(ids, dtype=object),
        "age": clin["age"],
        "ecog": clin["ecog"],
        "ascites_ml": clin["ascites_ml"],
        "figo_stage": pd.Series(clin["figo"], dtype=object),
        "primary_residual_disease": residual_obs,
        "pfi_months": clin["pfi"],
        "recurrence_pattern": pd.Series(_PATTERNS[clin["pattern"]], dtype=object),
        "recist": pd.Series(recist, dtype=object),
        "treatment_start": pd.to_datetime(np.datetime64(start, "D") + start_offsets),
        "arm": pd.Series(np.where(surgery, "surgery", "no_surgery"), dtype=object),
        "complete_resection": resection,
        "pfs_months": np.maximum(np.round(observed, 1), 0.1),
        "pfs_event": (pfs_latent <= followup).astype(np.int64),
        **_draw_eligibility(_eligibility_rng(seed), clin, eta, params["eligibility"]),
    })
    k = kin["k"]
    with np.errstate(divide="ignore", invalid="ignore"):
        half_life = np.where(k > 0, math.log(2) / k, np.nan)
    truth = pd.DataFrame({
        "patient_id": pd.Series(ids, dtype=object),
        "k": k,
        "floor": kin["floor"],
        "c0": kin["c0"],
        "half_life_days": half_life,
        "responder": ~kin["nonresponder"],
        "z_log_k": z_k,
        "logit_complete_resection": eta,
        "p_complete_resection": p,
        "complete_resection_potential": potential.astype(np.int64),
        "primary_residual_disease_true": clin["residual"].astype(np.int64),
        "pfs_months_latent": pfs_latent,
        "followup_months": followup,
        "assay_change_day": assay_change_day,
    })
    return SyntheticCohort(markers=markers, clinical=clinical, truth=truth, params=params)


def write_synthetic(n: int, seed: int, out_dir, *, format: str = "csv") -> Path:  # noqa: A002
    """Simulate a cohort with default settings and write it (``ca125 synth``).

    Returns the output directory (see :meth:`SyntheticCohort.write`).
    """
    _check_format(format)  # fail before simulating a large cohort
    return simulate_cohort(n, seed).write(out_dir, format=format)


# --------------------------------------------------------------------------------------
# validation


def _check_format(format: str) -> None:  # noqa: A002
    if format not in _FORMATS:
        raise InvalidInputError(f"format must be one of {_FORMATS} (file type of the written "
                                f"tables), got {format!r}")


def _arg(name: str) -> str:
    """Argument ``name`` of :func:`simulate_cohort` as a refusal names it: ``simulate_cohort: n``
    in Python, the option under ``ca125 synth`` (``--n``)."""
    return argument_name(name, f"simulate_cohort: {name}")


def _validate(n, seed, uln, surgery_fraction, start_date, marker: str = "ca125"):
    """The arguments of a cohort simulator, checked (``uln`` as every reader checks a ULN of
    ``marker``: :func:`ca125kinetics.settings.check_uln_argument`)."""
    from .markers import get_marker
    from .settings import check_uln_argument

    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise InvalidInputError(f"{_arg('n')} (number of patients) must be an integer >= 1, "
                                f"got {n!r}")
    if n > MAX_PATIENTS:
        raise InvalidInputError(
            f"{_arg('n')} (number of patients) must be at most {MAX_PATIENTS:,}, got {n:,}: the whole "
            "cohort is drawn in memory at once (about 1.4 GB for a million patients): a larger one would not "
            "fit")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise InvalidInputError(f"{_arg('seed')} must be a non-negative integer, got {seed!r}")
    spec = get_marker(marker)
    check_uln_argument(uln, spec.unit, spec.uln_max, spec.uln_min)
    if uln is None:     # not given is no ULN here: the cohort is drawn against one
        raise InvalidInputError(f"{_arg('uln')} must be a positive number of {spec.unit}, got None")
    ok = isinstance(surgery_fraction, (int, float, np.floating, np.integer)) and not isinstance(surgery_fraction, bool)
    if not ok or not math.isfinite(surgery_fraction) or not 0.0 <= surgery_fraction <= 1.0:
        raise InvalidInputError(f"{_arg('surgery_fraction')} must be a probability in [0, 1], got {surgery_fraction!r}")
    try:
        start = _dt.date.fromisoformat(str(start_date))
    except ValueError:
        raise InvalidInputError(f"{_arg('start_date')} must be an ISO date like "
                                f"'2024-01-01', got {start_date!r}") from None
    return int(n), int(seed), float(uln), float(surgery_fraction), start


def _patient_ids(n: int, first: int = 1) -> np.ndarray:
    """Ids ``first..n`` as ``"000001"``...: zero-padded to ``max(6, digits of n)``, so that
    text order is numeric order and leading zeros matter."""
    return np.char.zfill(np.arange(first, n + 1).astype(str), max(6, len(str(n)))).astype(object)


# --------------------------------------------------------------------------------------
# draws (the order of the calls on rng is part of the generator: do not reorder)


def _draw_clinical(rng, n, p):
    age = np.round(np.clip(rng.normal(p["age_mean"], p["age_sd"], n), p["age_min"], p["age_max"]))
    latent = rng.standard_normal(n) + p["ecog_age_slope"] * (age - p["age_mean"])
    ecog = np.searchsorted(np.asarray(p["ecog_cuts"]), latent).astype(np.int64)

    labels = np.asarray(p["figo_labels"], dtype=object)
    probs = np.asarray(p["figo_probs"])
    figo_idx = rng.choice(len(labels), size=n, p=probs / probs.sum())
    figo = labels[figo_idx]
    group = np.array([_figo_group(s) for s in labels])[figo_idx]  # 1..4
    res = p["residual_prob"]
    res_prob = np.select([group <= 2, group == 3], [res["I-II"], res["III"]], res["IV"])
    residual = rng.random(n) < res_prob
    residual_missing = rng.random(n) < p["residual_missing_prob"]

    log_median_extra = math.log(p["pfi_median_months"] - p["pfi_min_months"])
    extra = np.exp(rng.normal(log_median_extra, p["pfi_log_sd"], n))
    pfi = np.round(p["pfi_min_months"] + extra, 1)
    log_pfi = np.log(pfi / 16.0)

    latent = (rng.standard_normal(n) + p["pattern_residual"] * residual
              + p["pattern_figo4"] * (group == 4) + p["pattern_log_pfi"] * log_pfi)
    pattern = np.searchsorted(np.asarray(p["pattern_cuts"]), latent)  # 0 single, 1 multiple, 2 carc.

    asc_prob = np.asarray([p["ascites_prob"][name] for name in _PATTERNS])[pattern]
    has_ascites = rng.random(n) < asc_prob
    volume = np.exp(rng.normal(math.log(p["ascites_median_ml"]), p["ascites_log_sd"], n))
    volume = np.maximum(np.round(volume, -1), p["ascites_min_ml"])
    ascites_ml = np.where(has_ascites, volume, 0.0)
    return {"age": age, "ecog": ecog, "figo": figo, "figo_group": group, "residual": residual,
            "residual_missing": residual_missing, "pfi": pfi, "log_pfi": log_pfi,
            "pattern": pattern, "ascites_ml": ascites_ml}


def _figo_group(label: str) -> int:
    for roman, value in (("IV", 4), ("III", 3), ("II", 2), ("I", 1)):
        if label.startswith(roman):
            return value
    raise AssertionError(label)  # pragma: no cover - labels are fixed above


def _draw_kinetics(rng, clin, p):
    n = len(clin["age"])
    shift = np.asarray([p["c0_shift"][name] for name in _PATTERNS])[clin["pattern"]]
    shift = shift + p["c0_shift"]["ascites"] * (clin["ascites_ml"] > 0)
    z = rng.standard_normal(n)
    spread = np.where(z < 0, p["c0_log_sd_below"], p["c0_log_sd_above"]) * z
    c0 = np.exp(math.log(p["c0_median"]) + shift + spread)
    low_secretor = rng.random(n) < p["low_secretor_prob"]
    low, high = np.log(p["low_secretor_range"])
    c0 = np.where(low_secretor, np.exp(rng.uniform(low, high, n)), c0)

    floor = np.exp(rng.normal(math.log(p["floor_median"]), p["floor_log_sd"], n))
    floor = np.clip(floor, p["floor_min"], p["floor_max"])
    c0 = np.maximum(c0, p["c0_min_over_floor"] * floor)

    log_k = (math.log(p["k_median"]) + p["k_log_offset"] + p["k_log_pfi"] * clin["log_pfi"]
             + p["k_carcinomatosis"] * (clin["pattern"] == 2) + p["k_residual"] * clin["residual"]
             + rng.normal(0.0, p["k_log_sd"], n))
    nonresp_prob = np.where(clin["pfi"] < 12.0, p["nonresponder_prob_pfi_lt12"],
                            p["nonresponder_prob"])
    nonresponder = rng.random(n) < nonresp_prob
    low, high = p["nonresponder_k_range"]
    k = np.where(nonresponder, rng.uniform(low, high, n), np.exp(log_k))
    return {"c0": c0, "floor": floor, "k": k, "nonresponder": nonresponder}


def _draw_markers(rng, ids, kin, has_ascites, p, uln):
    n = len(ids)
    # slots: 0 pretreatment, 1-4 before cycles 2-5 (days 21..84), 5 late sample
    n_slots = 2 + len(p["cycle_days"])
    day = np.empty((n, n_slots), dtype=np.int64)
    day[:, 0] = rng.integers(p["pretreatment_days"][0], p["pretreatment_days"][1] + 1, n)
    jitter = p["jitter_days"]
    cycles = np.asarray(p["cycle_days"])
    day[:, 1:-1] = cycles + rng.integers(-jitter, jitter + 1, (n, len(cycles)))
    day[:, -1] = rng.integers(p["late_sample_days"][0], p["late_sample_days"][1] + 1, n)
    present = np.ones((n, n_slots), dtype=bool)
    present[:, -2] = rng.random(n) < p["fourth_cycle_prob"]
    present[:, -1] = rng.random(n) < p["late_sample_prob"]
    present[:, 1:] &= rng.random((n, n_slots - 1)) >= p["missing_prob"]
    stop = (kin["k"] < 0) & (rng.random(n) < p["rising_stop_prob"])
    present[stop, 3:] = False

    # true value and multiplicative log-normal noise
    t = np.maximum(day, 0).astype(float)
    c0, floor, k = kin["c0"][:, None], kin["floor"][:, None], kin["k"][:, None]
    true = floor + (c0 - floor) * np.exp(-k * t)
    sigma = math.sqrt(math.log1p(p["noise_cv"] ** 2))
    value = true * np.exp(rng.normal(0.0, sigma, (n, n_slots)))

    # assays: one per patient, a rare switch between the two uln-assays with a bias
    names = list(p["assays"])
    probs = np.asarray([p["assays"][a]["prob"] for a in names])
    assay_idx = rng.choice(len(names), size=n, p=probs / probs.sum())
    uses_uln = np.asarray([p["assays"][a]["uln"] == "uln" for a in names])
    ulns = np.asarray([uln if own else float(p["assays"][a]["uln"]) for a, own in zip(names, uses_uln)])
    switchable = uses_uln[assay_idx]
    change = switchable & (rng.random(n) < p["assay_change_prob"])
    change_slot = rng.integers(2, 4, n)
    after = change[:, None] & (np.arange(n_slots)[None, :] >= change_slot[:, None])
    other = np.where(assay_idx == 0, 1, 0)  # A <-> B
    slot_assay = np.where(after, other[:, None], assay_idx[:, None])
    value = np.where(after, value * p["assay_change_bias"], value)
    value = np.round(value, 1)
    limits = np.asarray([p["assays"][a]["reporting_limit"] or 0.0 for a in names])[slot_assay]
    censored = value < limits
    value = np.where(censored, limits, value)
    first_after = np.where(after & present, day, np.iinfo(np.int64).max).min(axis=1)
    assay_change_day = np.where(change & (first_after < np.iinfo(np.int64).max), first_after, np.nan)

    # paracentesis: event-only rows between the cycle-2 and cycle-3 samples
    para_day = day[:, 1] + rng.integers(p["paracentesis_days_after_cycle1"][0],
                                        p["paracentesis_days_after_cycle1"][1] + 1, n)
    para = has_ascites & (rng.random(n) < p["paracentesis_prob_if_ascites"])

    rows_pid = np.repeat(np.arange(n), n_slots).reshape(n, n_slots)[present]
    ev_pid = np.flatnonzero(para)
    pid = np.concatenate([rows_pid, ev_pid])
    days = np.concatenate([day[present], para_day[para]])
    order = np.lexsort((days, pid))
    n_ev = len(ev_pid)
    is_event = np.concatenate([np.zeros(len(rows_pid), bool), np.ones(n_ev, bool)])[order]
    assay_of_row = np.concatenate([slot_assay[present], slot_assay[para, 1]])[order]
    markers = pd.DataFrame({
        "patient_id": pd.Series(ids[pid[order]], dtype=object),
        "day": days[order],
        "ca125": np.concatenate([value[present], np.full(n_ev, np.nan)])[order],
        "censored": np.concatenate([censored[present], np.zeros(n_ev, dtype=bool)])[order],
        "uln": ulns[assay_idx][pid[order]],
        "assay": pd.Series(np.asarray(names, dtype=object)[assay_of_row], dtype=object),
        "event": pd.Series(np.where(is_event, "paracentesis", None), dtype=object),
    })
    return markers, assay_change_day


def _z_log_k(k, b):
    """Standardised log rate ``clip((log max(k, k_min) - log k_ref) / k_log_sd, +/- z_clip)``."""
    z_k = (np.log(np.maximum(k, b["k_min"])) - math.log(b["k_ref"])) / b["k_log_sd"]
    return np.clip(z_k, -b["z_clip"], b["z_clip"])


def _draw_recist(rng, z_k, nonresponder, p):
    n = len(z_k)
    latent = z_k + rng.normal(0.0, p["noise_sd"], n)
    responder_cat = np.where(latent > p["cr_cut"], "CR", np.where(latent > p["pr_cut"], "PR", "SD"))
    nonresp_cat = np.where(rng.random(n) < p["nonresponder_pd_prob"], "PD", "SD")
    return np.where(nonresponder, nonresp_cat, responder_cat).astype(object)


def _resection_logit(clin, kin, z_k, b):
    """Linear predictor ``eta`` of complete resection (module docstring; coefficients ``b``)."""
    ecog, asc, pattern = clin["ecog"], clin["ascites_ml"], clin["pattern"]
    return (b["intercept"] + b["log_k_z"] * z_k
            + b["ecog_1"] * (ecog == 1) + b["ecog_2plus"] * (ecog >= 2)
            + b["ascites_any"] * (asc > 0) + b["ascites_500"] * (asc >= 500)
            + b["primary_residual"] * clin["residual"]
            + b["log_pfi_over_16"] * clin["log_pfi"]
            + b["pattern_multiple"] * (pattern == 1) + b["pattern_carcinomatosis"] * (pattern == 2)
            + b["figo_3_4"] * (clin["figo_group"] >= 3)
            + b["log_c0_over_105"] * np.log(kin["c0"] / 105.0))


def _draw_pfs(rng, clin, kin, z_k, surgery, potential, p):
    n = len(z_k)
    lp = (p["log_k_z"] * z_k + p["nonresponder"] * kin["nonresponder"]
          + p["log_pfi_over_16"] * clin["log_pfi"] + p["carcinomatosis"] * (clin["pattern"] == 2)
          + p["ecog_2plus"] * (clin["ecog"] >= 2) + p["primary_residual"] * clin["residual"])
    surgery_hr = np.where(potential, p["hr_complete_resection"], p["hr_incomplete_resection"])
    lp = lp + np.where(surgery, np.log(surgery_hr), 0.0)
    shape = p["weibull_shape"]
    scale = p["reference_median_months"] / math.log(2) ** (1.0 / shape)
    latent = scale * (rng.exponential(1.0, n) / np.exp(lp)) ** (1.0 / shape)
    followup = rng.uniform(p["followup_months"][0], p["followup_months"][1], n)
    return latent, followup


def _eligibility_rng(seed: int) -> np.random.Generator:
    """The screening fields' own stream: the first child of ``SeedSequence(seed)``, independent of
    the main ``default_rng(seed)`` stream, so adding these fields changed no other column."""
    return np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])


def _draw_eligibility(rng, clin, eta, p) -> dict[str, Any]:
    """Screening fields of the clinical table (order of draws fixed; module docstring)."""
    n = len(eta)

    def pick(probs: dict) -> np.ndarray:
        names = np.asarray(list(probs), dtype=object)
        weights = np.asarray(list(probs.values()), dtype=float)
        return names[rng.choice(len(names), size=n, p=weights / weights.sum())]

    out: dict[str, Any] = {
        "recurrence_number": pick(p["recurrence_number"]).astype(np.int64),
        "tumour_site": pick(p["tumour_site"]),
        "histology": pick(p["histology"]),
    }
    centred = eta - eta.mean()
    out["surgeon_r0_judgement"] = rng.random(n) < 1.0 / (1.0 + np.exp(-(p["r0_intercept"] + p["r0_slope"] * centred)))
    out["consent"] = rng.random(n) >= p["no_consent_prob"]
    for name, prob in p["flag_probs"].items():
        if name == "comorbidity_precludes_treatment":
            prob = prob + p["comorbidity_ecog_2plus"] * (clin["ecog"] >= 2)
        out[name] = rng.random(n) < prob
    out["archived_tissue"] = rng.random(n) >= p["no_archived_tissue_prob"]
    for name in ELIGIBILITY_COLUMNS:  # fixed order: one missingness draw per column
        missing = rng.random(n) < p["missing_prob"]
        value = out[name]
        if value.dtype == object:
            out[name] = pd.Series(np.where(missing, None, value), dtype=object)
        else:
            column = pd.array(value.astype(np.int64), dtype="Int64")
            column[missing] = pd.NA
            out[name] = column
    return {name: out[name] for name in ELIGIBILITY_COLUMNS}


def _markers_file_frame(markers: pd.DataFrame, marker: str = "ca125") -> pd.DataFrame:
    """The markers table as written: the value column (``ca125``, ``cea``) as text with one
    decimal, ``"<x"`` when censored."""
    value = markers[marker].to_numpy(dtype=float)
    censored = markers["censored"].to_numpy(dtype=bool)
    missing = np.isnan(value)
    # values are already rounded to 0.1 U/mL: format each distinct one once (fast for 10^6)
    tenths = np.rint(np.where(missing, 0.0, value) * 10).astype(np.int64)
    distinct, inverse = np.unique(tenths, return_inverse=True)
    text = np.array([f"{t // 10}.{t % 10}" for t in distinct.tolist()], dtype=object)[inverse]
    text[censored] = ["<%g" % v for v in value[censored]]
    text[missing] = ""
    columns = [marker if c == "ca125" else c for c in MARKER_FILE_COLUMNS]
    frame = markers.loc[:, columns].copy()
    frame[marker] = text
    return frame
