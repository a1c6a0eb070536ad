"""Score patients with a trained model, with the GCIG CA-125 rules applied.

Seventh step of the pipeline (read and validate -> GCIG rules -> kinetics -> features and
scores -> models -> tracking -> **predict** -> validation -> command line and web).

One code path. Every public scoring function ends in :func:`engine._score_columns`, which
scores validated patients held as columns (:class:`~ca125kinetics.io.PatientBatch`):
:func:`score_frame` and :func:`predict_cohort` (many patients, a DataFrame), :func:`predict`
and :func:`predict_many` (one patient each, a frozen :class:`Prediction`; a batch of one),
the MLflow pyfunc model (``ca125kinetics.bundle.Ca125PyfuncModel.predict``), ``mlflow models
serve``, the ``ca125 score`` command and the web API (``ca125 serve``); so they return the
same numbers for the same input. The patients come from the package's one validator:
``io.read_markers``/``io.read_clinical`` (``on_error="flag"``) for tables, turned into columns
by ``PatientBatch.from_frames`` (the patients of ``io.records_from_frames``), and
``io.patient_record`` for one patient in any form (a file, a DataFrame slice, a validated
frame, a mapping of columns, records or ``(day, ca125)`` pairs). Every step is an array
operation over all patients (the kinetics fit, the model, the published scores, the decision
rule and its texts, the warnings); the GCIG rules run in one call for all patients
(``engine._gcig_of``), by the GCIG module's engine. A patient's result does not depend on the other patients scored with it (the
kinetics fit stops each patient where it converged), so scoring a patient alone, in a
cohort or in a batch of web requests gives the same numbers (to the last bits; a cohort of
20,000 patients or more is fitted by the compiled kinetics engine, which agrees with the
numpy engine of smaller batches within the fit tolerance).

Output of :func:`score_frame` (:data:`SCORE_COLUMNS`, one row per patient, sorted by
``patient_id``)
---------------------------------------------------------------------------------------
========================= ================================================================
column                    meaning
========================= ================================================================
patient_id                identifier (str)
status                    ``"ok"`` (scored), ``"insufficient"`` (scored, but the decision
                          is withheld: clinical predictors the model needs are missing, or
                          no CA-125 after the first dose for the kinetics, or the entry
                          criterion is undetermined; ``reason`` says which),
                          ``"invalid_input"`` (the patient's data break the data
                          contract; ``reason`` says where) or
                          ``"not_scored"`` (valid data, but the model cannot score the patient)
reason                    None when ``status == "ok"``, else why not
probability               predicted probability of complete resection at secondary
                          cytoreduction (NaN when not scored; with ``status ==
                          "insufficient"`` computed with any missing predictor imputed)
p_low, p_high             interval of the probability (the bundle's method; see
                          ``bundle.ModelBundle.predict_proba``)
threshold                 the model's decision threshold on the probability
decision                  which branch of the decision rule fired (:data:`DECISIONS`)
rule                      that rule, in words
recommendation            plain-language recommendation (see *Decision rule* below)
k, half_life_days,        KELIM-like elimination rate (per day), ``ln 2 / k`` and the
kelim_score               standardized score ``k / k_ref`` from the model's fitted kinetics
                          step (population empirical-Bayes estimate)
c0, floor                 fitted CA-125 at day 0 and floor B of ``C(t) = B + (C0 - B) e^{-kt}``
                          (U/mL); the fitted curve (:func:`curve_points`) is drawn from them
kinetics_n_samples        samples used by the kinetics fit
kinetics_status,          status and reason of the kinetics fit
kinetics_reason
gcig_*                    GCIG CA-125 response (Rustin 2011): ``gcig_evaluable``,
                          ``gcig_responded`` (missing when ``gcig_status`` is ``awaiting``:
                          no CA-125 after the first dose yet), ``gcig_category`` (CR/PR), ``gcig_status``,
                          ``gcig_reason``, ``gcig_uln``, ``gcig_baseline_day``,
                          ``gcig_baseline_value``, ``gcig_response_day``,
                          ``gcig_confirmation_day``
progressed,               GCIG CA-125 progression: flag, group (A/B/C), day (the first of
progression_group,        the two qualifying samples), status and reason
progression_day,
progression_status,
progression_reason
recist, combined_category RECIST 1.1 category given, and the combined RECIST + CA-125
                          category (Rustin 2011; ``docs/clinical-rules.md`` section 3):
                          with RECIST unknown, PD on a confirmed GCIG progression,
                          otherwise missing (undetermined); missing for invalid input
ago_*, imodel_*, mskcc_*  published selection scores (``scores.published_scores``): AGO,
                          iMODEL, MSKCC with status and reason each
warnings                  ``"; "``-joined per-patient warnings (empty string if none)
model_name,               the model used
model_version,
model_family,
trained_on_synthetic
settings_json             JSON of the rule settings the prediction used: GCIG settings,
                          kinetics settings and the threshold
========================= ================================================================

Decision rule (**Decision**, documented here and in the ``rule`` column)
-------------------------------------------------------------------------
Applied in this order; the first that applies fires:

1. ``invalid_input`` / ``not_scored``: no recommendation, the reason is given.
2. ``not_candidate_progression``: GCIG CA-125 progression during the neoadjuvant cycles ->
   not a candidate for secondary cytoreduction.
3. ``not_candidate_recist_pd``: RECIST progressive disease -> not a candidate (the combined
   RECIST + CA-125 category is PD, Rustin 2011).
4. The entry criterion: a response during the neoadjuvant cycles, RESCUE's inclusion 3 as
   the shipped criteria file ``data/trials/rescue.toml`` states it (RECIST CR/PR/SD **or** a
   confirmed GCIG CA-125 response), evaluated by the screening engine
   (:mod:`ca125kinetics.eligibility`), so ``predict`` and ``ca125 screen`` apply one rule.
   Not met: ``not_candidate_entry`` (not a candidate). Undetermined -- no confirmed GCIG
   response and no RECIST category recorded --: ``insufficient_information``; without RECIST
   the criterion cannot be judged, so the decision is withheld ("insufficient information:
   give recist ..."), status ``insufficient``, the probability shown for information only.
   ``allow_imputed`` does not change this (the entry criterion is judged, never imputed).
   (With the shipped criteria a RECIST category other than PD meets the
   criterion, so ``not_candidate_entry`` needs RECIST PD, which rule 3 has already taken.)
5. ``insufficient_information``: response, but inputs the model needs are unknown: clinical
   predictors (:data:`REQUIRED_PREDICTORS`, RECIST among them unless the model learned it
   unknown: ``ModelBundle.learned_unknown``), or (**Decision**) the CA-125 after the first
   dose -- no sample with day > 0 among those the model's kinetics use (the kinetics fit's
   count of used on-treatment samples, ``n_on``, is 0: none drawn yet, every one excluded by
   an event window, or all beyond the kinetics window), so the KELIM-like features, the
   model's main predictor (it predicts from the CA-125 decline during the neoadjuvant
   cycles), are imputed. One or two on-treatment samples (k not estimable, a decline partly
   seen) do not count. The probability (computed with them imputed) is shown for
   information only and the decision is withheld -- "insufficient information: give ecog,
   ascites_ml and the on-treatment CA-125 values (no CA-125 after the first dose, ...)",
   one message naming all -- with status ``insufficient``, unless the caller opts in with
   ``allow_imputed=True`` (``ca125 score --allow-imputed``, REST field ``allow_imputed``);
   then rules 6-7 decide and say what was imputed ("computed with the kinetics imputed").
6. ``resectable``: response (GCIG or RECIST CR/PR/SD) and ``probability >= threshold`` ->
   "predicted completely resectable".
7. ``not_resectable``: response and ``probability < threshold`` -> "predicted not
   completely resectable".

Every recommendation ends with "Research software, not a medical device." and, when the
model was trained on synthetic data, "Model trained on synthetic data."

Per-patient warnings (never Python warnings): fewer than ``min_samples`` CA-125 values in
the kinetics window, values beyond the kinetics window (day 100), pretreatment value below
2 x ULN or absent (GCIG not evaluable), a GCIG progression candidate awaiting its confirmation
(the latest CA-125 at or above the progression threshold, no sample yet 7 days later: rule 2 has
not fired, but one more sample can fire it), censored values, samples excluded by GCIG rules (these
and the values beyond day 100 named by value and day, the first five),
unknown clinical predictors, inputs outside the range seen in training
(``ModelBundle.feature_ranges``), and what the reader noticed without refusing the patient
(``io.PatientRecord.notes``: samples without a ULN beside samples with one, read with the
default ULN; a FHIR bundle's times written in more than one UTC offset; the reader's
``DataQualityWarning`` says it too). :func:`predict` and
:func:`predict_many` carry the reader's notes, and so does a cohort read as frames
(:func:`predict_cohort`, ``score_frame``, the Spark ``score``): ``io.read_markers`` keeps them on
the frame it returns (``io.NOTES_ATTR``), also when it reads that frame again (a note of
samples without a ULN is dropped once the caller has given them their ULN in the frame).
"""

from __future__ import annotations

from .decision import DECISIONS, DISCLAIMER, REQUIRED_PREDICTORS, SYNTHETIC_NOTE, _decide
from .engine import _kinetics_of, _score_patients, predict, predict_cohort, predict_many, score_frame
from .inputs import _read_inputs
from .loading import clear_model_cache, default_model_dir, load_model
from .result import SCORE_COLUMNS, TASK_SCORE_COLUMNS, Prediction, _is_missing, curve_points

__all__ = [
    "predict",
    "predict_cohort",
    "predict_many",
    "score_frame",
    "load_model",
    "clear_model_cache",
    "curve_points",
    "Prediction",
    "SCORE_COLUMNS",
    "TASK_SCORE_COLUMNS",
    "DECISIONS",
    "DISCLAIMER",
    "SYNTHETIC_NOTE",
    "REQUIRED_PREDICTORS",
    "default_model_dir",
]
