"""Validation studies of a trained model: frozen external validation and internal validation.

Eighth step of the pipeline (read and validate -> GCIG rules -> kinetics -> features and
scores -> models -> tracking -> predict -> **validation** -> command line and web).

* :func:`validate_model` - validation of a **frozen** model (TRIPOD type 4 when the cohort is
  external): the model is never refitted; every patient is scored through the single
  scoring path :func:`ca125kinetics.predict.predict_cohort`, so the study sees exactly the
  probabilities a user would see. Computes discrimination, calibration, decision curves,
  threshold metrics at the model's threshold, subgroup results, the published scores on
  the same patients (DeLong test against the model) and, when the cohort carries
  ``pfs_months``/``pfs_event``, Kaplan-Meier curves and Cox models of PFS by KELIM-like
  group and by surgery arm.
* :func:`optimism_bootstrap` - internal validation with Harrell's optimism-corrected
  bootstrap: the **whole** pipeline (the kinetics population included) is refitted on
  each bootstrap sample.

Numbers come from :mod:`ca125kinetics.validation.metrics` and
:mod:`~ca125kinetics.validation.survival`; this module decides *who* is analysed and
*which* analyses are run, and returns frozen results with tidy frames. Nothing here prints
(the bootstrap's optional progress bar goes to stderr) or plots; see
:mod:`~ca125kinetics.validation.report`.

Who is analysed (**Decision**, reported in ``ValidationResult.exclusions``)
----------------------------------------------------------------------------
A patient enters the performance analysis when (1) the data contract holds for them
(``status != "invalid_input"``), (2) the model scored them (a probability; ``status`` ``"ok"``
or ``"insufficient"``: a decision withheld for an unknown predictor (the kinetics' CA-125 after
the first dose included) or an undetermined entry
criterion is not used here, the probability is) and (3) the outcome ``complete_resection``
is observed (0 or 1; in a trial it is observed only in the surgery arm). Every other patient, including a clinical row without any marker, is listed
in the exclusions table with one reason code (the first that applies, in this order:
``no_markers``, ``invalid_input``, ``not_scored``, ``no_outcome``) and a detail. Nobody is
dropped silently. Complete-case analysis of the outcome is the only option: the outcome
is never imputed.

References
----------
Harrell FE, Lee KL, Mark DB. Multivariable prognostic models: issues in developing models,
evaluating assumptions and adequacy, and measuring and reducing errors. Stat Med
1996;15:361-387. Steyerberg EW. Clinical Prediction Models, 2nd ed. Springer 2019, ch. 5 and
17. Collins GS, Reitsma JB, Altman DG, Moons KGM. Transparent reporting of a multivariable
prediction model for individual prognosis or diagnosis (TRIPOD). BMJ 2015;350:g7594.
"""

from __future__ import annotations

import math
import os
import sys
import time
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from ..errors import Ca125KineticsError, DataQualityWarning, InsufficientDataError, InvalidInputError, argument_name
from ..settings import KELIM_FAVOURABLE_SCORE
from ..settings import kelim_cutoff as _kelim_cutoff
from .metrics import (
    ThresholdMetrics,
    _check_thresholds,
    ValidationMetrics,
    calibration_curve,
    check_labels,
    check_outcome,
    check_risk,
    delong_test,
    metrics,
    net_benefit,
    roc_curve_frame,
    same_rows,
    threshold_metrics,
)

__all__ = [
    "ValidationResult",
    "SurvivalAnalysis",
    "OptimismResult",
    "validate_model",
    "optimism_bootstrap",
    "survival_analysis",
    "subgroup_metrics",
    "DEFAULT_SUBGROUPS",
    "DEFAULT_THRESHOLDS",
    "EXCLUSION_REASONS",
    "KELIM_FAVOURABLE",
    "OPTIMISM_METRICS",
    "DECISION_RULES",
]

#: The published binary rules drawn on the decision curve, as ``net_benefit_<rule>`` columns:
#: rule -> (comparator score it comes from, description). A rule is left out when some
#: analysed patient lacks it (net benefit needs every patient's decision); the report then
#: says so and why.
DECISION_RULES = {
    "ago_positive": ("ago", "AGO score positive"),
    "imodel_low_risk": ("imodel", "iMODEL low risk (<= 4.7 points)"),
    "mskcc_offer": ("mskcc", "MSKCC: secondary cytoreduction offered"),
    "mskcc_offer_or_consider": ("mskcc", "MSKCC: offered or to be considered"),
}

#: Subgroup variables analysed by default. Clinical columns are read from the clinical
#: table; ``gcig_category`` (CR, PR, or the GCIG status when there is no confirmed
#: response), ``kelim_group`` (favourable KELIM-like score >= 1 or not) and ``ago`` (AGO
#: score positive or not) come from the scoring output.
DEFAULT_SUBGROUPS = ("ecog", "recurrence_pattern", "figo_stage", "gcig_category", "kelim_group", "ago",
                     "arm")

#: Default thresholds of the decision curve: 0.01, 0.02, ..., 0.99.
DEFAULT_THRESHOLDS = tuple(round(i / 100, 2) for i in range(1, 100))

#: Reason codes of excluded patients, in the order they are tried.
EXCLUSION_REASONS = ("no_markers", "invalid_input", "not_scored", "no_outcome")

#: A standardized KELIM-like score >= this value is "favourable" unless the study names another
#: cut-off (``kelim_cutoff``: :func:`ca125kinetics.settings.kelim_cutoff`, e.g. ``"relapse"``);
#: :data:`ca125kinetics.settings.KELIM_FAVOURABLE_SCORE`.
KELIM_FAVOURABLE = KELIM_FAVOURABLE_SCORE

#: Resamples of :func:`optimism_bootstrap` unless told otherwise.
_DEFAULT_N_BOOT = 200

#: Metrics corrected for optimism by :func:`optimism_bootstrap`.
OPTIMISM_METRICS = ("auc", "calibration_slope", "citl", "brier")

#: Subgroup levels with fewer events or non-events than this get no metrics (NaN, with a note).
MIN_SUBGROUP_CLASS = 5

_OUTCOME = "complete_resection"


def _kelim_groups(score, cutoff: float) -> np.ndarray:
    """Each patient's KELIM-like group at ``cutoff``: ``"favourable (score >= c)"``,
    ``"unfavourable (score < c)"``, or None without a score."""
    score = pd.to_numeric(pd.Series(score), errors="coerce").to_numpy(dtype=float)
    return np.where(np.isnan(score), None, np.where(score >= cutoff, f"favourable (score >= {cutoff:g})",
                                                    f"unfavourable (score < {cutoff:g})"))


# =========================================================================== results


@dataclass(frozen=True, eq=False)
class SurvivalAnalysis:
    """Progression-free survival by KELIM-like group and by surgery arm.

    Attributes
    ----------
    km : pandas.DataFrame
        Kaplan-Meier curves (:func:`ca125kinetics.validation.survival.kaplan_meier` columns
        ``group, time, n_risk, n_event, n_censor, survival, std_err, ci_low, ci_high``)
        with a leading column ``analysis``: ``"kelim_group"``, ``"arm"``, and
        ``"kelim_group_surgery"`` (KELIM-like group within the surgery arm).
    medians : pandas.DataFrame
        ``analysis, group, n, n_events, median, ci_low, ci_high`` (months; NaN = not
        reached), Brookmeyer-Crowley intervals.
    logrank : pandas.DataFrame
        ``analysis, chi2, df, p_value`` (one row per analysis).
    cox : pandas.DataFrame
        ``model, term, coef, se, hr, hr_ci_low, hr_ci_high, z, p_value, n, n_events``
        (Efron ties). Models: ``"kelim+arm"`` (all patients: favourable KELIM-like group
        and surgery arm) and ``"kelim+complete_resection (surgery arm)"``.
    n_patients : int
        Patients with PFS (time and event) known and valid input.
    notes : tuple of str
        Patients left out of an analysis and why; analyses not run and why; warnings
        raised by the fits.
    """

    km: pd.DataFrame
    medians: pd.DataFrame
    logrank: pd.DataFrame
    cox: pd.DataFrame
    n_patients: int
    notes: tuple[str, ...] = ()
    kelim_cutoff: float = KELIM_FAVOURABLE_SCORE

    def to_frame(self) -> pd.DataFrame:
        """The medians table (one row per analysis and group)."""
        return self.medians.copy()


@dataclass(frozen=True, eq=False)
class OptimismResult:
    """Harrell's optimism-corrected bootstrap (see :func:`optimism_bootstrap`).

    Attributes
    ----------
    table : pandas.DataFrame
        One row per metric (:data:`OPTIMISM_METRICS`): ``metric, apparent, bootstrap``
        (mean performance of the refitted model on its own bootstrap sample), ``test`` (mean
        performance of the refitted model on the original sample), ``optimism`` (mean of
        bootstrap - test), ``optimism_sd`` (SD over resamples), ``corrected`` (apparent -
        optimism), ``n_resamples`` (resamples where that metric is finite both on the
        resample and on the original sample; the three means are over these, so
        ``bootstrap - test = optimism``, as rms ``validate``'s training - test).
    resamples : pandas.DataFrame
        One row per successful resample: ``resample`` and, per metric, ``<metric>_boot``,
        ``<metric>_test``.
    n, n_events : int
        Size and events of the original sample.
    n_boot, n_failed : int
        Resamples requested, and resamples whose refit or scoring failed (left out; their
        messages in ``failures``).
    seed : int or None
        Seed the resamples were drawn with; None when the caller gave them (``indices``).
    n_jobs : int
        As given: a negative number counts from the cores, as joblib does (-1: all cores).
    elapsed_seconds : float
        Wall-clock time of the whole procedure (apparent fit included).
    failures : tuple of str
        Distinct error messages of failed resamples, with counts.
    warnings : tuple of str
        Distinct warnings raised while refitting and scoring (in workers too), with counts.
    pipeline : str
        Description of the refitted estimator (its steps).
    """

    table: pd.DataFrame
    resamples: pd.DataFrame
    n: int
    n_events: int
    n_boot: int
    n_failed: int
    seed: int | None
    n_jobs: int
    elapsed_seconds: float
    failures: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    pipeline: str = ""
    #: Worker processes ``n_jobs`` gave on the machine that ran it (joblib's count: -1 is every
    #: core, -2 all but one, and at least 1); None when not recorded.
    n_workers: int | None = None

    def to_frame(self) -> pd.DataFrame:
        """The optimism table (:attr:`table`)."""
        return self.table.copy()

    def corrected(self, metric: str) -> float:
        """Optimism-corrected value of one metric."""
        return float(self.table.set_index("metric").loc[metric, "corrected"])

    def apparent(self, metric: str) -> float:
        """Apparent value of one metric."""
        return float(self.table.set_index("metric").loc[metric, "apparent"])


@dataclass(frozen=True, eq=False)
class ValidationResult:
    """Validation of a frozen model on one cohort (see :func:`validate_model`).

    Attributes
    ----------
    model : dict
        ``name, version, family, threshold, trained_on_synthetic, gcig_settings,
        kinetics_settings`` (dicts) and ``training_summary`` of the model validated.
    metrics : ValidationMetrics
        Discrimination, calibration and Brier score on the analysed patients.
    threshold : ThresholdMetrics
        Sensitivity, specificity, PPV, NPV at the model's threshold (positive = predicted
        completely resectable, ``probability >= threshold``).
    calibration : pandas.DataFrame
        :func:`~ca125kinetics.validation.metrics.calibration_curve` output.
    roc : pandas.DataFrame
        :func:`~ca125kinetics.validation.metrics.roc_curve_frame` output of the model.
    roc_scores : pandas.DataFrame
        ROC curves of the comparators on the patients where each is available: columns
        ``score, fpr, sensitivity``.
    decision_curve : pandas.DataFrame
        :func:`~ca125kinetics.validation.metrics.net_benefit` output of the model, plus
        ``net_benefit_<rule>`` columns for the published binary rules of
        :data:`DECISION_RULES` (AGO positive, iMODEL low risk, MSKCC offer, MSKCC offer or
        consider), each when every analysed patient has it.
    decision_rules : pandas.DataFrame
        ``rule, description, n_available, n_analysed, drawn``: for each rule of
        :data:`DECISION_RULES`, the analysed patients for whom the rule's decision is known
        (the iMODEL low-risk call can be known when some points are not) and whether it is
        on the decision curve (known for every analysed patient).
    subgroups : pandas.DataFrame
        :func:`subgroup_metrics` output.
    comparison : pandas.DataFrame
        One row per comparator: ``score, description, n, n_events, auc, auc_ci_low,
        auc_ci_high, model_auc, difference, difference_ci_low, difference_ci_high,
        p_value`` (paired DeLong test, model minus comparator, on the patients where the
        comparator is available), ``note``.
    exclusions : pandas.DataFrame
        ``patient_id, reason, detail``: every patient not analysed (reason codes
        :data:`EXCLUSION_REASONS`).
    flow : pandas.DataFrame
        ``step, n`` participant flow (TRIPOD item 13a): patients in the clinical table, with
        markers, in either table (each of them is analysed or excluded once), excluded by
        reason, analysed, and analysed with and without complete resection.
    characteristics : pandas.DataFrame
        ``characteristic, level, all, outcome_1, outcome_0`` of the analysed patients
        (TRIPOD 13b): counts (%) or median [IQR].
    predictions : pandas.DataFrame
        One row per scored patient: ``patient_id, status, probability, threshold,
        kelim_score, complete_resection, included, exclusion_reason`` (the reason code of
        :attr:`exclusions`, missing when included), the published scores as scored
        (``ago_positive, imodel_points, imodel_low_risk, mskcc_recommendation``; the
        comparison uses their numeric forms, :func:`ca125kinetics.scores.score_for_auc`) and
        the subgroup variables (``subgroup_<name>``).
    survival : SurvivalAnalysis or None
        PFS analyses, when the clinical table has ``pfs_months`` and ``pfs_event``.
    sample_size : pandas.DataFrame or None
        Riley et al. (2021) minimum sample size for a precise validation, with the observed
        prevalence, AUC and linear-predictor distribution as the anticipated values
        (:func:`~ca125kinetics.validation.samplesize.validation_binary`), or None.
    optimism : OptimismResult or None
        Internal validation (:func:`optimism_bootstrap`), when attached with
        :meth:`with_optimism`.
    case_mix : pandas.DataFrame or None
        ``feature, training_min, training_max, n_checked, n_outside``: analysed patients
        outside the range of each feature seen in training (``ModelBundle.feature_ranges``;
        features found in the clinical table or the scoring output), or None when the
        model records no ranges.
    source : dict
        Description of the inputs (file names when paths were given).
    notes : tuple of str
        Analyses not run, and why.
    """

    model: dict
    metrics: ValidationMetrics
    threshold: ThresholdMetrics
    calibration: pd.DataFrame
    roc: pd.DataFrame
    roc_scores: pd.DataFrame
    decision_curve: pd.DataFrame
    decision_rules: pd.DataFrame
    subgroups: pd.DataFrame
    comparison: pd.DataFrame
    exclusions: pd.DataFrame
    flow: pd.DataFrame
    characteristics: pd.DataFrame
    predictions: pd.DataFrame
    survival: SurvivalAnalysis | None = None
    sample_size: pd.DataFrame | None = None
    optimism: OptimismResult | None = None
    case_mix: pd.DataFrame | None = None
    source: dict = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        """Tidy metrics table: ``metric, estimate, se, ci_low, ci_high`` (and, when an
        optimism result is attached, ``apparent``, ``optimism`` and ``corrected`` =
        ``apparent - optimism``, where ``apparent`` is the performance of the pipeline
        refitted on this cohort, which differs from ``estimate``, the frozen model's)."""
        frame = self.metrics.to_frame()
        if self.optimism is not None:
            # ``apparent`` is the refitted pipeline's, not ``estimate`` (the frozen model's):
            # corrected = apparent - optimism holds row by row
            opt = self.optimism.table.set_index("metric")
            for column in ("apparent", "optimism", "corrected"):
                frame[column] = frame["metric"].map(opt[column]).astype(float)
        return frame

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table of the report, by name, for analysis outside the package.

        ``metrics`` (:meth:`to_frame`), ``threshold`` (``ThresholdMetrics.to_frame``),
        ``flow``, ``exclusions``, ``characteristics``, ``calibration``, ``roc``,
        ``roc_scores``, ``decision_curve``, ``decision_rules``, ``comparison``,
        ``subgroups``, ``predictions``, ``notes`` (``part, note``: ``"study"`` or
        ``"survival"``), and when present ``case_mix``, ``sample_size``, ``optimism``
        (``OptimismResult.table``) and ``survival_km``, ``survival_medians``,
        ``survival_logrank``, ``survival_cox``. Copies: changing one changes nothing here.
        """
        out = {"metrics": self.to_frame(), "threshold": self.threshold.to_frame()}
        for name in ("flow", "exclusions", "characteristics", "calibration", "roc", "roc_scores", "decision_curve",
                     "decision_rules", "comparison", "subgroups", "predictions", "case_mix", "sample_size"):
            frame = getattr(self, name)
            if frame is not None:
                out[name] = frame.copy()
        if self.optimism is not None:
            out["optimism"] = self.optimism.table.copy()
        if self.survival is not None:
            for name in ("km", "medians", "logrank", "cox"):
                out[f"survival_{name}"] = getattr(self.survival, name).copy()
        notes = [("study", n) for n in self.notes]
        notes += [("survival", n) for n in (self.survival.notes if self.survival is not None else ())]
        out["notes"] = pd.DataFrame(notes, columns=["part", "note"])
        return out

    def with_optimism(self, optimism: OptimismResult) -> ValidationResult:
        """A copy with an internal-validation result attached (for the report)."""
        if not isinstance(optimism, OptimismResult):
            raise InvalidInputError(f"optimism must be an OptimismResult, got {type(optimism).__name__}")
        return replace(self, optimism=optimism)

    @property
    def n_analysed(self) -> int:
        return int(self.metrics.n)


# =========================================================================== frozen validation


def _model_info(bundle) -> dict:
    def settings_dict(obj):
        return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj or {})

    summary = getattr(bundle, "training_summary", None) or {}
    return {
        "name": str(getattr(bundle, "name", "")),
        "version": str(getattr(bundle, "version", "")),
        "family": str(getattr(bundle, "model_family", "")),
        "threshold": float(bundle.threshold),
        "trained_on_synthetic": bool(getattr(bundle, "trained_on_synthetic", False)),
        "gcig_settings": settings_dict(getattr(bundle, "gcig_settings", None)),
        "kinetics_settings": settings_dict(getattr(bundle, "kinetics_settings", None)),
        "training_summary": dict(summary),
    }


def _describe_source(obj) -> str:
    if isinstance(obj, (str, os.PathLike)):
        return os.fspath(obj)
    if isinstance(obj, pd.DataFrame):
        return f"DataFrame ({len(obj)} rows)"
    return type(obj).__name__


def _subgroup_columns(scored: pd.DataFrame, clin: pd.DataFrame, subgroups: Sequence[str],
                      kelim_cut: float = KELIM_FAVOURABLE_SCORE) -> pd.DataFrame:
    """One column per requested subgroup variable, aligned with ``scored`` (labels as text;
    the KELIM-like group at ``kelim_cut``)."""
    out = pd.DataFrame(index=scored.index)
    clin_by_id = clin.set_index("patient_id")
    pid = scored["patient_id"].astype(str)
    for name in subgroups:
        if name == "kelim_group":
            values = _kelim_groups(scored["kelim_score"], kelim_cut)
        elif name == "gcig_category":
            cat = scored["gcig_category"].astype(object)
            status = scored["gcig_status"].astype(object)
            values = np.where(cat.notna(), cat, status)
        elif name == "ago":
            ago = scored["ago_positive"].astype("boolean")
            values = np.where(ago.isna(), None, np.where(ago.fillna(False), "positive", "negative"))
        elif name in scored.columns:
            values = scored[name].to_numpy(dtype=object)
        else:  # a clinical column (checked by _resolve_subgroups)
            values = clin_by_id[name].reindex(pid).to_numpy(dtype=object)
        check_labels(values, name, what=f"subgroup column {name!r}")   # before they are all text
        out[name] = pd.Series([None if _missing(v) else str(v) for v in values], index=scored.index,
                              dtype=object)
    return out


#: Optional clinical columns (data contract): a subgroup on one of them is skipped, with a
#: note, when the clinical table lacks it; any other unknown name is an error.
_OPTIONAL_SUBGROUP_COLUMNS = ("ecog", "recurrence_pattern", "figo_stage", "arm", "recist")
_DERIVED_SUBGROUPS = ("kelim_group", "gcig_category", "ago")


def _resolve_subgroups(subgroups, scored: pd.DataFrame, clin: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(subgroups that can be analysed, optional ones absent from the clinical table)."""
    present, missing, unknown = [], [], []
    for name in subgroups:
        if name in _DERIVED_SUBGROUPS or name in scored.columns or name in clin.columns:
            present.append(name)
        elif name in _OPTIONAL_SUBGROUP_COLUMNS:
            missing.append(name)
        else:
            unknown.append(name)
    if unknown:
        raise InvalidInputError(
            f"subgroup variable(s) {unknown} are neither clinical columns nor scoring columns; use clinical "
            f"columns ({', '.join(map(str, clin.columns))}) or {', '.join(map(repr, _DERIVED_SUBGROUPS))}",
            column=unknown[0])
    return present, missing


def _missing(value) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    try:
        return bool(isinstance(value, float) and math.isnan(value))
    except TypeError:
        return False


def _is_training_cohort(bundle, markers, clinical) -> bool:
    """Whether the tables are the model's training cohort: their data digest, read as training
    reads them (:func:`ca125kinetics.train.data_digest`), is the one the model recorded. A
    cohort that differs in one cell is another cohort (it then goes unnoticed: the check names
    the plain mistake, validating on the training file)."""
    recorded = (getattr(bundle, "training_summary", None) or {}).get("data_digest")
    if not recorded:
        return False
    from ..train import _read_inputs, data_digest

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gcig = getattr(bundle, "gcig_settings", None)
            return data_digest(*_read_inputs(markers, clinical,
                                             duplicates=getattr(gcig, "duplicates", "error"))) == recorded
    except InvalidInputError:     # read otherwise than training reads (the study reports it)
        return False


def _not_operated(arm_by_id, pid) -> bool:
    """Whether the clinical table puts the patient in the ``no_surgery`` arm."""
    return arm_by_id is not None and arm_by_id.get(pid) == "no_surgery"


def validate_model(markers, clinical, *, model=None, subgroups: Sequence[str] = DEFAULT_SUBGROUPS,
                   thresholds: Sequence[float] = DEFAULT_THRESHOLDS, survival: bool = True,
                   conf_level: float = 0.95, kelim_cutoff: float | str | None = None) -> ValidationResult:
    """Validate a frozen model on a cohort: score everyone, analyse those with an outcome.

    Parameters
    ----------
    markers : DataFrame, str or Path
        Long markers table (data contract), read with ``on_error="flag"`` by the scoring
        path, so an invalid patient is excluded with its reason instead of stopping the study.
    clinical : DataFrame, str or Path
        Clinical table with the outcome ``complete_resection`` (0/1, empty = not observed)
        and, for survival analyses, ``pfs_months``, ``pfs_event`` and ``arm``.
    model : None, str, Path or ModelBundle
        Anything :func:`ca125kinetics.predict.load_model` accepts: an exported model
        directory, an MLflow model URI, a loaded bundle, or None for the default model.
        The model is never refitted.
    subgroups : sequence of str
        Subgroup variables (:data:`DEFAULT_SUBGROUPS`); clinical columns absent from the
        table are skipped with a note.
    thresholds : sequence of float in [0, 1)
        Thresholds of the decision curve (default 0.01..0.99), checked as
        :func:`ca125kinetics.validation.metrics.net_benefit` checks them; repeats are
        dropped and the model's own threshold is always added, so the net benefit at it is
        computed, not read off a neighbour. With it they must hold two different values, the
        two points the drawn curve needs.
    survival : bool
        Run the PFS analyses when ``pfs_months`` and ``pfs_event`` are present.
    conf_level : float
        Level of every interval (default 0.95).
    kelim_cutoff : float or str, optional
        Cut-off of the KELIM-like groups (subgroup ``kelim_group``, the PFS analyses): a
        setting of :data:`ca125kinetics.settings.KELIM_CUTOFFS` (``"first_line"`` 1.0, the
        default; ``"relapse"`` 1.08) or a positive number. Recorded in ``source``.

    Returns
    -------
    ValidationResult

    Raises
    ------
    InvalidInputError
        The clinical table has no ``complete_resection`` column, a subgroup variable is
        unknown, a threshold is not a number in [0, 1) (or the thresholds, the model's
        added, are a single value), or the KELIM cut-off is neither a setting nor a positive number.
    InsufficientDataError
        Fewer than two analysed patients with and without complete resection.

    Notes
    -----
    Scoring goes through :func:`ca125kinetics.predict.predict_cohort`, the code path of
    ``ca125 score`` and the web API. Metrics are those of
    :func:`ca125kinetics.validation.metrics.metrics` on the analysed patients (AUC with
    DeLong interval; calibration-in-the-large ``a`` in ``logit P(y=1) = a + offset(logit p)``;
    calibration slope ``b`` in ``logit P(y=1) = a + b logit p``; Brier; O/E; ICI). Published
    scores are compared on the patients where each is available (numeric forms of
    :func:`ca125kinetics.scores.score_for_auc`, higher = likelier complete resection), with
    the paired DeLong test (DeLong 1988).
    """
    from ..io import read_clinical
    from ..predict import load_model, predict_cohort
    from ..task import require_default_task
    from ..predict.result import SCORED_STATUSES

    thresholds = _check_thresholds(thresholds)
    kelim_cut = _kelim_cutoff(kelim_cutoff)
    bundle = load_model(model)
    require_default_task(bundle, "validate_model validates")
    # the report states the net benefit at the model's own threshold (a bundle's is in (0, 1)),
    # and draws the curve, which needs two points
    thresholds = np.unique(_check_thresholds(
        np.r_[thresholds, float(bundle.threshold)], distinct=2,
        why=f"the report draws the decision curve over them, the model's threshold "
            f"{float(bundle.threshold):g} added, and a curve needs two points"))
    clin = read_clinical(clinical, on_error="flag", require=("patient_id",))
    if _OUTCOME not in clin.columns:
        raise InvalidInputError(
            f"the clinical table has no {_OUTCOME!r} column: a validation study needs the observed "
            f"outcome (1 = complete resection at secondary cytoreduction, 0 = residual disease, "
            f"empty = not operated/unknown)", source=_describe_source(clinical), column=_OUTCOME)
    # the study measures the model's probabilities, imputation of unknown factors included
    # (as in training); scored as ``ca125 score`` scores, so that a decision it withholds
    # (status "insufficient") is said so in the predictions and counted in the flow
    scored = predict_cohort(markers, clinical, model=bundle).reset_index(drop=True)
    scored["patient_id"] = scored["patient_id"].astype(str)
    clin = clin.copy()
    clin["patient_id"] = clin["patient_id"].astype(str)
    notes: list[str] = []

    own = _is_training_cohort(bundle, markers, clinical)
    if own:
        notes.append("this cohort is the model's own training cohort (the same data digest): its figures are "
                     "apparent performance, not a validation")
        warnings.warn("validate_model: the cohort is the model's own training cohort (the same data digest); "
                      "its figures are apparent performance, not a validation", DataQualityWarning, stacklevel=2)
    present, missing = _resolve_subgroups(subgroups, scored, clin)
    notes += [f"subgroup {s!r} not analysed: no such column in the clinical table" for s in missing]

    outcome = clin.set_index("patient_id")[_OUTCOME].reindex(scored["patient_id"])
    y_all = pd.to_numeric(outcome, errors="coerce").to_numpy(dtype=float)
    status = scored["status"].astype(str).to_numpy()
    prob = scored["probability"].to_numpy(dtype=float)

    # ---- exclusions, one reason per patient, in the documented order
    rows = []
    arm_by_id = clin.set_index("patient_id")["arm"] if "arm" in clin.columns else None
    with_markers = _marker_ids(markers, bundle)
    for pid, st, reason, pv, yv in zip(scored["patient_id"], status, scored["reason"], prob, y_all):
        if pid not in with_markers:
            rows.append((pid, "no_markers", "clinical row without any marker sample: cannot be scored"))
        elif st == "invalid_input":
            rows.append((pid, "invalid_input", str(reason)))
        elif st not in SCORED_STATUSES or not np.isfinite(pv):
            rows.append((pid, "not_scored", str(reason) if not _missing(reason) else "no probability"))
        elif not np.isfinite(yv) or _not_operated(arm_by_id, pid):
            arm = arm_by_id.get(pid) if arm_by_id is not None else None
            detail = (f"{_OUTCOME} not observed" +
                      (f" (arm {arm!r}: not operated)" if isinstance(arm, str) and arm == "no_surgery"
                       else " (empty in the clinical table)"))
            if np.isfinite(yv):     # an outcome of an operation the patient did not have
                detail = f"{_OUTCOME} {int(yv)} given for arm 'no_surgery' (not operated): contradictory, not analysed"
            rows.append((pid, "no_outcome", detail))
    scored_ids = set(scored["patient_id"])
    for pid in clin["patient_id"]:  # the scoring path lists clinical-only patients; in case it does not
        if pid not in scored_ids:
            rows.append((pid, "no_markers", "clinical row without any marker sample: cannot be scored"))
    order = {r: i for i, r in enumerate(EXCLUSION_REASONS)}
    exclusions = pd.DataFrame(rows, columns=["patient_id", "reason", "detail"])
    exclusions = exclusions.sort_values(["reason", "patient_id"], key=lambda s: s.map(order) if s.name == "reason" else s,
                                        kind="stable").reset_index(drop=True)

    # a withheld decision (status "insufficient") is not a missing probability: analysed
    operated = ~np.array([_not_operated(arm_by_id, pid) for pid in scored["patient_id"]], dtype=bool)
    included = np.isin(status, SCORED_STATUSES) & np.isfinite(prob) & np.isfinite(y_all) & operated
    y = y_all[included].astype(np.int64)
    p = prob[included]
    n_events = int(y.sum())
    if n_events < 2 or y.size - n_events < 2:
        invalid = exclusions.loc[exclusions["reason"] == "invalid_input", "detail"]
        # the most common cause named: invalid input (a table written otherwise than read), or the outcome
        hint = (f"; the first invalid patient: {str(invalid.iloc[0])[:300]} -- correct the tables, or state how they "
                "are written (--sep, --decimal, --thousands, --date-format, --rename)"
                if len(invalid) * 2 >= len(exclusions) and len(invalid) else
                f". Check the {_OUTCOME!r} column of the clinical table")
        raise InsufficientDataError(
            f"validation needs at least 2 analysed patients with and 2 without complete resection; "
            f"got {n_events} and {y.size - n_events} of {y.size} analysed ({len(exclusions)} excluded: "
            f"{_reason_counts(exclusions)}){hint}")

    # ---- overall performance; what it could not estimate (e.g. the calibration slope under
    # separation) is said in the notes, as well as to the caller
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataQualityWarning)
        perf = metrics(y, p, conf_level=conf_level)
    for w in caught:
        if issubclass(w.category, DataQualityWarning):
            notes.append(f"performance: {w.message}")
        warnings.warn(w.message, w.category, stacklevel=2)
    tm = threshold_metrics(y, p, float(bundle.threshold), conf_level=conf_level)
    cal = calibration_curve(y, p, conf_level=conf_level)
    roc = roc_curve_frame(y, p)

    # ---- subgroup variables and predictions table
    # the outcome as the clinical table states it; none for a refused clinical row (a patient
    # with two rows has no one outcome, a refused cell no value)
    refused = (clin.set_index("patient_id")["problem"].reindex(scored["patient_id"]).notna().to_numpy()
               if "problem" in clin.columns else np.zeros(len(scored), dtype=bool))
    shown_outcome = np.where(refused, np.nan, y_all)
    sub_names = [s for s in subgroups if s in present]
    groups = _subgroup_columns(scored, clin, sub_names, kelim_cut)
    predictions = pd.DataFrame({
        "patient_id": scored["patient_id"].to_numpy(dtype=object),
        "status": status,
        "probability": prob,
        "threshold": scored["threshold"].to_numpy(dtype=float),
        "kelim_score": pd.to_numeric(scored["kelim_score"], errors="coerce").to_numpy(dtype=float),
        _OUTCOME: pd.array([None if not np.isfinite(v) else int(v) for v in shown_outcome], dtype="Int64"),
        "included": included,
        "exclusion_reason": scored["patient_id"].map(exclusions.set_index("patient_id")["reason"]).to_numpy(
            dtype=object),
    })
    for column in _PUBLISHED_COLUMNS:  # so that the comparison table can be recomputed from the file
        predictions[column] = scored[column].to_numpy(dtype=object)
    for name in sub_names:
        predictions[f"subgroup_{name}"] = groups[name].to_numpy(dtype=object)
    subgroup_table = subgroup_metrics(y, p, groups.loc[included].reset_index(drop=True), conf_level=conf_level)

    # ---- published scores and KELIM-like score alone, on the same patients
    comparison, roc_scores, rule_columns, decision_rules = _comparators(scored.loc[included].reset_index(drop=True), y, p,
                                                        conf_level)

    # ---- decision curve (model, treat all/none, and the published binary rules)
    dca = net_benefit(y, p, thresholds)
    for label, values in rule_columns.items():
        nb = net_benefit(y, values, thresholds)
        dca[f"net_benefit_{label}"] = nb["net_benefit"].to_numpy()
    flow = _flow(clin, scored, with_markers, exclusions, included, y)
    characteristics = _characteristics(scored.loc[included], clin, y)

    surv = None
    if survival:
        if {"pfs_months", "pfs_event"} <= set(clin.columns):
            surv = survival_analysis(clin, scored, conf_level=conf_level, kelim_cutoff=kelim_cut)
        else:
            notes.append("survival analyses not run: the clinical table has no pfs_months/pfs_event columns")
    case_mix = _case_mix(bundle, scored.loc[included], clin)
    sample_size, note = _sample_size(y, p, perf)
    if note:
        notes.append(note)

    return ValidationResult(
        model=_model_info(bundle), metrics=perf, threshold=tm, calibration=cal, roc=roc,
        roc_scores=roc_scores, decision_curve=dca, decision_rules=decision_rules, subgroups=subgroup_table,
        comparison=comparison,
        exclusions=exclusions, flow=flow, characteristics=characteristics, predictions=predictions,
        survival=surv, sample_size=sample_size, case_mix=case_mix,
        source={"markers": _describe_source(markers), "clinical": _describe_source(clinical),
                "n_clinical": int(len(clin)), "n_scored": int(len(scored)), "kelim_cutoff": kelim_cut,
                "training_cohort": own},
        notes=tuple(notes),
    )


def _case_mix(bundle, scored_in: pd.DataFrame, clin: pd.DataFrame) -> pd.DataFrame | None:
    """Analysed patients outside the training range of each feature with a recorded range."""
    ranges = dict(getattr(bundle, "feature_ranges", None) or {})
    if not ranges:
        return None
    data = clin.set_index("patient_id").reindex(scored_in["patient_id"].astype(str))
    rows = []
    for feature in sorted(ranges):
        if feature in scored_in.columns:
            values = pd.to_numeric(scored_in[feature], errors="coerce").to_numpy(dtype=float)
        elif feature in data.columns:
            values = pd.to_numeric(data[feature], errors="coerce").to_numpy(dtype=float)
        else:
            continue
        try:
            lo, hi = (float(v) for v in ranges[feature])
        except (TypeError, ValueError):
            continue
        ok = np.isfinite(values)
        rows.append({"feature": feature, "training_min": lo, "training_max": hi, "n_checked": int(ok.sum()),
                     "n_outside": int(np.sum(ok & ((values < lo) | (values > hi))))})
    return pd.DataFrame(rows, columns=["feature", "training_min", "training_max", "n_checked", "n_outside"])


def _marker_ids(markers, bundle) -> set[str]:
    """Identifiers of the patients with at least one row in the markers table."""
    from ..io import read_markers, setting_uln

    gs = bundle.gcig_settings
    frame = read_markers(markers, uln=setting_uln(markers, float(gs.uln)), duplicates=gs.duplicates, on_error="flag")
    return set(frame["patient_id"].astype(str))


def _reason_counts(exclusions: pd.DataFrame) -> str:
    counts = exclusions["reason"].value_counts()
    return ", ".join(f"{r} {int(counts[r])}" for r in EXCLUSION_REASONS if r in counts) or "none"


def _flow(clin, scored, with_markers, exclusions, included, y) -> pd.DataFrame:
    """Participant flow: every patient of either table is analysed or excluded once."""
    counts = exclusions["reason"].value_counts()
    everyone = set(clin["patient_id"].astype(str)) | set(scored["patient_id"].astype(str))
    rows = [("patients in the clinical table", int(len(clin))),
            ("patients with markers", len(with_markers)),
            ("patients in either table (analysed or excluded)", len(everyone))]
    for reason in EXCLUSION_REASONS:
        rows.append((f"excluded: {reason}", int(counts.get(reason, 0))))
    withheld = included & (scored["status"].astype(str).to_numpy() == "insufficient")
    rows += [("analysed", int(included.sum())), ("analysed with complete resection", int(y.sum())),
             ("analysed with residual disease", int(y.size - y.sum())),
             ("analysed, decision withheld by ca125 score (status insufficient)", int(withheld.sum()))]
    return pd.DataFrame(rows, columns=["step", "n"])


def _pct(k: int, n: int) -> str:
    return f"{k} ({100.0 * k / n:.0f} %)" if n else "0"


def _characteristics(scored_in: pd.DataFrame, clin: pd.DataFrame, y: np.ndarray) -> pd.DataFrame:
    """Characteristics of the analysed patients, overall and by outcome (TRIPOD 13b)."""
    data = clin.set_index("patient_id").reindex(scored_in["patient_id"].astype(str)).reset_index()
    data["probability"] = scored_in["probability"].to_numpy(dtype=float)
    data["kelim_score"] = pd.to_numeric(scored_in["kelim_score"], errors="coerce").to_numpy(dtype=float)
    masks = {"all": np.ones(y.size, bool), "outcome_1": y == 1, "outcome_0": y == 0}
    rows = [("patients", "", *(str(int(m.sum())) for m in masks.values()))]
    for name, label in (("age", "age, years"), ("pfi_months", "platinum-free interval, months"),
                        ("ascites_ml", "ascites, mL"), ("kelim_score", "KELIM-like score"),
                        ("probability", "predicted probability")):
        if name not in data.columns:
            continue
        values = pd.to_numeric(data[name], errors="coerce").to_numpy(dtype=float)
        cells = []
        for m in masks.values():
            v = values[m & np.isfinite(values)]
            missing = int((m & ~np.isfinite(values)).sum())
            cell = (f"{np.median(v):.3g} [{np.quantile(v, 0.25):.3g}-{np.quantile(v, 0.75):.3g}]"
                    if v.size else "-")
            cells.append(cell + (f"; {missing} missing" if missing else ""))
        rows.append((label + ", median [IQR]", "", *cells))
    for name, label in (("ecog", "ECOG"), ("figo_stage", "FIGO stage"), ("recurrence_pattern", "recurrence pattern"),
                        ("primary_residual_disease", "residual disease at primary surgery"), ("arm", "arm")):
        if name not in data.columns:
            continue
        values = data[name].astype(object).map(lambda v: "unknown" if _missing(v) else str(v)).to_numpy()
        for level in sorted(set(values), key=lambda v: (v == "unknown", v)):
            rows.append((label, level, *(_pct(int(np.sum(m & (values == level))), int(m.sum()))
                                         for m in masks.values())))
    return pd.DataFrame(rows, columns=["characteristic", "level", "all", "outcome_1", "outcome_0"])


def subgroup_metrics(y, p, groups: pd.DataFrame, *, conf_level: float = 0.95,
                     min_class: int = MIN_SUBGROUP_CLASS) -> pd.DataFrame:
    """Performance within each level of each subgroup variable.

    Parameters
    ----------
    y, p : array-like
        Outcome (0/1) and predicted probability of the analysed patients.
    groups : pandas.DataFrame
        One column per subgroup variable, same rows as ``y``; missing levels are reported
        as ``"unknown"``. Each level is the label's text; a column that writes one label as
        two types (``1`` and ``"1"``, ``1`` and ``1.0``, ``True`` and ``"True"``) is refused
        (:func:`~ca125kinetics.validation.metrics.check_labels`): cast it to one type.
    conf_level : float
    min_class : int
        Levels with fewer than ``min_class`` events or non-events get counts only (metrics
        NaN, ``note`` says why): the DeLong interval and the calibration models are not
        meaningful there. An integer >= 2 (the DeLong interval needs two of each); a smaller
        one is refused.

    Returns
    -------
    pandas.DataFrame
        ``variable, level, n, n_events, observed, expected, auc, auc_ci_low, auc_ci_high,
        citl, calibration_slope, oe_ratio, brier, note``; ``observed`` is the event
        proportion, ``expected`` the mean predicted probability.
    """
    if isinstance(min_class, bool) or not isinstance(min_class, (int, np.integer)) or min_class < 2:
        raise InvalidInputError(f"min_class must be an integer >= 2 (the DeLong interval of a level's AUC "
                                f"needs at least two patients with and two without the outcome), got {min_class!r}")
    same_rows(y=y, p=p, groups=groups)
    y = check_outcome(y)
    p = check_risk(p, y.size)
    if not isinstance(groups, pd.DataFrame):
        raise InvalidInputError(f"groups must be a pandas DataFrame with one column per subgroup variable, got "
                                f"{type(groups).__name__} (e.g. pd.DataFrame({{'ecog': values}}))")
    if len(groups) != y.size:
        raise InvalidInputError(f"groups has {len(groups)} rows but the outcome has {y.size}; pass one row "
                                "per patient, in the same order as y and p")
    for name in groups.columns:
        check_labels(groups[name], name, what=f"groups column {name!r}")
    rows = []
    for name in groups.columns:
        labels = groups[name].map(lambda v: "unknown" if _missing(v) else str(v)).to_numpy(dtype=object)
        for level in sorted(set(labels), key=lambda v: (v == "unknown", v)):
            m = labels == level
            ym, pm = y[m], p[m]
            row = {"variable": name, "level": level, "n": int(m.sum()), "n_events": int(ym.sum()),
                   "observed": float(ym.mean()), "expected": float(pm.mean()),
                   "auc": math.nan, "auc_ci_low": math.nan, "auc_ci_high": math.nan, "citl": math.nan,
                   "calibration_slope": math.nan, "oe_ratio": math.nan, "brier": float(np.mean((pm - ym) ** 2)),
                   "note": ""}
            if min(row["n_events"], row["n"] - row["n_events"]) < min_class:
                row["note"] = f"fewer than {min_class} patients with or without the outcome: counts only"
            else:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", DataQualityWarning)
                    res = metrics(ym, pm, conf_level=conf_level)
                row.update(auc=res.auc, auc_ci_low=res.auc_ci_low, auc_ci_high=res.auc_ci_high, citl=res.citl,
                           calibration_slope=res.calibration_slope, oe_ratio=res.oe_ratio)
                if caught:
                    row["note"] = "; ".join(sorted({str(w.message).split(":")[0] for w in caught}))
            rows.append(row)
    return pd.DataFrame(rows, columns=["variable", "level", "n", "n_events", "observed", "expected", "auc",
                                       "auc_ci_low", "auc_ci_high", "citl", "calibration_slope", "oe_ratio",
                                       "brier", "note"])


#: Published-score columns of the scoring output copied into ``ValidationResult.predictions``.
_PUBLISHED_COLUMNS = ("ago_positive", "imodel_points", "imodel_low_risk", "mskcc_recommendation")

_COMPARATORS = (
    ("ago", "AGO score (positive = ECOG 0, ascites < 500 mL, no residual at primary surgery)"),
    ("imodel", "iMODEL (minus total points)"),
    ("mskcc", "MSKCC guideline (offer > consider > no)"),
    ("kelim_score", "KELIM-like score alone (k / k_ref)"),
)


def _comparators(scored_in: pd.DataFrame, y: np.ndarray, p: np.ndarray, conf_level: float):
    """Comparator table, their ROC curves and the published binary rules for the decision curve."""
    from ..scores import score_for_auc

    numeric = score_for_auc(scored_in[["patient_id", "ago_positive", "imodel_points", "mskcc_recommendation"]])
    numeric["kelim_score"] = pd.to_numeric(scored_in["kelim_score"], errors="coerce").to_numpy(dtype=float)
    z = _z(conf_level)
    rows, curves = [], []
    for key, description in _COMPARATORS:
        s = numeric[key].to_numpy(dtype=float)
        ok = np.isfinite(s)
        yk, pk, sk = y[ok], p[ok], s[ok]
        row = {"score": key, "description": description, "n": int(ok.sum()), "n_events": int(yk.sum()),
               "auc": math.nan, "auc_ci_low": math.nan, "auc_ci_high": math.nan, "model_auc": math.nan,
               "difference": math.nan, "difference_ci_low": math.nan, "difference_ci_high": math.nan,
               "p_value": math.nan, "note": ""}
        if min(row["n_events"], row["n"] - row["n_events"]) < 2:
            row["note"] = "available for too few patients with and without the outcome"
        else:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", DataQualityWarning)
                test = delong_test(yk, pk, sk, conf_level=conf_level)
            said = []
            for w in caught:  # e.g. a p-value from a standard error of 0: said in the table too
                if issubclass(w.category, DataQualityWarning):
                    said.append(str(w.message).split(":")[0])
                warnings.warn(w.message, w.category, stacklevel=2)
            row.update(auc=test.auc2, auc_ci_low=max(0.0, test.auc2 - z * test.auc2_se),
                       auc_ci_high=min(1.0, test.auc2 + z * test.auc2_se), model_auc=test.auc1,
                       difference=test.difference, difference_ci_low=test.ci_low,
                       difference_ci_high=test.ci_high, p_value=test.p_value)
            if row["n"] < y.size:
                said.insert(0, f"available for {row['n']} of {y.size} analysed patients; model AUC on those")
            row["note"] = "; ".join(said)
            r = roc_curve_frame(yk, sk)
            curves.append(pd.DataFrame({"score": key, "fpr": r["fpr"], "sensitivity": r["sensitivity"]}))
        rows.append(row)
    # each rule's own decision (1 operate, 0 not, NaN unknown): the iMODEL low-risk call is
    # known for more patients than its points (a range of points on one side of 4.7)
    mskcc = scored_in["mskcc_recommendation"].map({"offer": 2.0, "consider": 1.0, "no": 0.0}).to_numpy(dtype=float)
    decided = {
        "ago_positive": numeric["ago"].to_numpy(dtype=float),
        "imodel_low_risk": scored_in["imodel_low_risk"].astype("boolean").astype("Float64").to_numpy(
            dtype=float, na_value=np.nan),
        "mskcc_offer": np.where(np.isnan(mskcc), np.nan, mskcc == 2.0),
        "mskcc_offer_or_consider": np.where(np.isnan(mskcc), np.nan, mskcc >= 1.0),
    }
    rules = {rule: values for rule, values in decided.items() if np.all(np.isfinite(values))}
    availability = pd.DataFrame({
        "rule": list(DECISION_RULES), "description": [d for _, d in DECISION_RULES.values()],
        "n_available": [int(np.isfinite(decided[r]).sum()) for r in DECISION_RULES],
        "n_analysed": int(y.size), "drawn": [r in rules for r in DECISION_RULES]})
    roc_scores = (pd.concat(curves, ignore_index=True) if curves
                  else pd.DataFrame({"score": [], "fpr": [], "sensitivity": []}))
    return pd.DataFrame(rows), roc_scores, rules, availability


def _z(conf_level: float) -> float:
    from scipy import stats

    return float(stats.norm.ppf(0.5 + conf_level / 2.0))


def _sample_size(y, p, perf) -> tuple[pd.DataFrame | None, str | None]:
    """Riley 2021 validation sample size with the observed values as the anticipated ones."""
    from .metrics import LOGIT_EPS
    from .samplesize import validation_binary

    lp = np.log(np.clip(p, LOGIT_EPS, 1 - LOGIT_EPS) / (1 - np.clip(p, LOGIT_EPS, 1 - LOGIT_EPS)))
    try:
        res = validation_binary(prevalence=perf.prevalence, cstatistic=perf.auc,
                                lp_normal=(float(np.mean(lp)), float(np.std(lp, ddof=1))))
    except (InvalidInputError, ValueError, ArithmeticError) as exc:
        return None, f"sample-size calculation not done: {exc}"
    frame = res.to_frame()
    frame["available"] = int(y.size)
    return frame, None


# =========================================================================== survival


def survival_analysis(clinical: pd.DataFrame, scored: pd.DataFrame, *, conf_level: float = 0.95,
                      kelim_cutoff: float | str | None = None) -> SurvivalAnalysis:
    """Kaplan-Meier, log-rank and Cox analyses of PFS by KELIM-like group, by the model's
    predicted group and by surgery arm.

    Parameters
    ----------
    clinical : pandas.DataFrame
        Canonical clinical frame (``io.read_clinical``) with ``pfs_months``, ``pfs_event``,
        and optionally ``arm`` and ``complete_resection``.
    scored : pandas.DataFrame
        :func:`ca125kinetics.predict.predict_cohort` output (``patient_id``, ``status``,
        ``kelim_score``, ``probability``, ``threshold``).

    Returns
    -------
    SurvivalAnalysis

    Notes
    -----
    Patients with invalid input or unknown PFS time/event are left out (counted in
    ``notes``). KELIM-like group: favourable when the standardized score ``k / k_ref`` is at
    or above ``kelim_cutoff`` (:func:`ca125kinetics.settings.kelim_cutoff`: a setting or a
    number; default :data:`KELIM_FAVOURABLE`, 1), computed with the model's kinetics settings; patients
    without a score (kinetics not estimable) are left out of the KELIM-like analyses.
    Predicted group: the model's probability at or above its threshold ("predicted
    resectable") or below it, for the patients it scored (status ``ok`` or ``insufficient``:
    the probability, not a withheld decision); analysed in everyone and in the surgery arm
    (``predicted_group``, ``predicted_group_surgery``; outside the surgery arm it is a
    prognostic grouping, not the effect of surgery). Cox
    models (Efron ties, Wald intervals): ``kelim+arm`` with covariates ``kelim_favourable``
    (1/0) and ``surgery`` (1 = surgery arm); ``kelim+complete_resection (surgery arm)``
    with ``kelim_favourable`` and ``complete_resection`` within the surgery arm. Comparisons
    of arms are randomised only in a trial; within the surgery arm, complete resection is
    an observed (post-randomisation) variable, so its hazard ratio is associational.
    """
    from . import survival as sv

    cut = _kelim_cutoff(kelim_cutoff)
    notes: list[str] = []
    clin = clinical.copy()
    clin["patient_id"] = clin["patient_id"].astype(str)
    sc = scored.assign(patient_id=scored["patient_id"].astype(str)).set_index("patient_id")
    data = clin.set_index("patient_id")
    status = sc["status"].reindex(data.index)
    time_ = pd.to_numeric(data["pfs_months"], errors="coerce")
    event = pd.to_numeric(data["pfs_event"], errors="coerce")
    invalid = (status == "invalid_input") | (data["problem"].notna() if "problem" in data else False)
    known = time_.notna() & event.notna()
    if int(invalid.sum()):
        notes.append(f"{int(invalid.sum())} patient(s) with invalid input left out of the PFS analyses")
    if int((~known & ~invalid).sum()):
        notes.append(f"{int((~known & ~invalid).sum())} patient(s) with unknown pfs_months/pfs_event left out")
    keep = known & ~invalid
    frame = pd.DataFrame({
        "time": time_[keep].astype(float),
        "event": event[keep].astype(int),
        "kelim_score": pd.to_numeric(sc["kelim_score"], errors="coerce").reindex(data.index)[keep].astype(float),
        "arm": data["arm"][keep].astype(object) if "arm" in data else pd.Series(None, index=data.index[keep],
                                                                                 dtype=object),
        "complete_resection": (pd.to_numeric(data["complete_resection"], errors="coerce")[keep]
                               if "complete_resection" in data else np.nan),
    })
    from .._columns import threshold_text
    from ..predict.result import SCORED_STATUSES

    has_probability = {"probability", "threshold"} <= set(sc.columns)
    if not has_probability:
        notes.append("analyses by the model's predicted group not run: the scored table has no "
                     "probability and threshold columns")
    probability = (pd.to_numeric(sc["probability"], errors="coerce").reindex(data.index)[keep]
                   if has_probability else pd.Series(np.nan, index=data.index[keep]))
    threshold = (pd.to_numeric(sc["threshold"], errors="coerce").reindex(data.index)[keep]
                 if has_probability else pd.Series(np.nan, index=data.index[keep]))
    scored_ok = status[keep].isin(SCORED_STATUSES) & probability.notna() & threshold.notna()
    frame["predicted_group"] = np.where(
        ~scored_ok, None, np.where(probability >= threshold,
                                   [f"predicted resectable (p >= {threshold_text(t)})" for t in threshold.fillna(0)],
                                   [f"predicted not resectable (p < {threshold_text(t)})"
                                    for t in threshold.fillna(0)]))
    frame["kelim_group"] = _kelim_groups(frame["kelim_score"], cut)
    km, medians, logranks, cox_rows = [], [], [], []
    caught_all: list[str] = []

    def run(analysis: str, sub: pd.DataFrame, group_col: str, what: str):
        unknown = int(sub[group_col].isna().sum())
        if unknown and group_col != "kelim_group":  # missing KELIM-like scores are noted once, below
            notes.append(f"{analysis}: {unknown} patient(s) without {what} left out")
        sub = sub[sub[group_col].notna()]
        left = None
        if sub[group_col].nunique() < 1 or len(sub) == 0:
            notes.append(f"{analysis}: no patients with {what}")
            return
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            curve = sv.kaplan_meier(sub["time"], sub["event"], sub[group_col], conf_level=conf_level)
            med = sv.median_survival(sub["time"], sub["event"], sub[group_col], conf_level=conf_level)
            if sub[group_col].nunique() >= 2 and sub["event"].sum() > 0:
                try:
                    lr = sv.logrank(sub["time"], sub["event"], sub[group_col])
                except InsufficientDataError as exc:  # not defined on these patients: said, not fatal
                    left = f"log-rank test not done: {exc}"
                else:
                    logranks.append({"analysis": analysis, "chi2": lr.chi2, "df": lr.df, "p_value": lr.p_value})
            else:
                left = "log-rank test not done: fewer than two groups or no event"
        caught_all.extend(str(w.message) for w in caught)
        km.append(curve.assign(analysis=analysis))
        medians.append(med.assign(analysis=analysis))
        if left:
            notes.append(f"{analysis}: {left}")

    n_no_score = int(frame["kelim_group"].isna().sum())
    if n_no_score:
        notes.append(f"{n_no_score} patient(s) without a KELIM-like score left out of the KELIM-like analyses")
    run("kelim_group", frame, "kelim_group", "a KELIM-like score")
    if has_probability:
        run("predicted_group", frame, "predicted_group", "a probability from the model")
    if frame["arm"].notna().any():
        run("arm", frame, "arm", "a known arm")
        surgery = frame[frame["arm"] == "surgery"]
        run("kelim_group_surgery", surgery, "kelim_group", "a KELIM-like score in the surgery arm")
        if has_probability:
            run("predicted_group_surgery", surgery, "predicted_group",
                "a probability from the model in the surgery arm")
    else:
        notes.append("analyses by arm not run: no arm recorded")

    def fit_cox(label: str, sub: pd.DataFrame, covariates: list[str]):
        missing = [f"{c} {int(sub[c].isna().sum())}" for c in covariates if sub[c].isna().any()]
        if missing:
            left = len(sub) - len(sub.dropna(subset=covariates))
            notes.append(f"Cox model {label!r}: {left} patient(s) with a missing covariate left out "
                         f"(missing: {', '.join(missing)})")
        sub = sub.dropna(subset=covariates)
        constant = [c for c in covariates if sub[c].nunique() < 2]
        if len(sub) == 0 or sub["event"].sum() == 0 or constant:
            why = f"covariate(s) {constant} constant" if constant else "no events"
            notes.append(f"Cox model {label!r} not fitted: {why}")
            return
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                table = sv.cox(sub, "time", "event", covariates, conf_level=conf_level)
            except InvalidInputError as err:  # e.g. the two covariates coincide in this subset
                notes.append(f"Cox model {label!r} not fitted: {err}")
                return
        caught_all.extend(str(w.message) for w in caught)
        cox_rows.append(table.assign(model=label))

    frame["kelim_favourable"] = np.where(frame["kelim_score"].isna(), np.nan,
                                         (frame["kelim_score"] >= cut).astype(float))
    if frame["arm"].notna().any():
        frame["surgery"] = np.where(frame["arm"].isna(), np.nan, (frame["arm"] == "surgery").astype(float))
        fit_cox("kelim+arm", frame, ["kelim_favourable", "surgery"])
        fit_cox("kelim+complete_resection (surgery arm)", frame[frame["arm"] == "surgery"],
                ["kelim_favourable", "complete_resection"])
    else:
        fit_cox("kelim", frame, ["kelim_favourable"])
    for message, count in Counter(caught_all).items():
        notes.append(f"warning ({count}x): {message}")

    def cat(parts, columns):
        if not parts:
            return pd.DataFrame(columns=columns)
        out = pd.concat(parts, ignore_index=True)
        return out[columns]

    km_cols = ["analysis", "group", "time", "n_risk", "n_event", "n_censor", "survival", "std_err", "ci_low",
               "ci_high"]
    return SurvivalAnalysis(
        km=cat(km, km_cols),
        medians=cat(medians, ["analysis", "group", "n", "n_events", "median", "ci_low", "ci_high"]),
        logrank=pd.DataFrame(logranks, columns=["analysis", "chi2", "df", "p_value"]),
        cox=cat(cox_rows, ["model", "term", "coef", "se", "hr", "hr_ci_low", "hr_ci_high", "z", "p_value", "n",
                           "n_events"]),
        n_patients=int(keep.sum()),
        notes=tuple(notes),
        kelim_cutoff=cut,
    )


# =========================================================================== optimism bootstrap


def _performance(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """AUC, calibration slope, CITL and Brier score, the cheap way (no lowess, no intervals).

    Same definitions as :func:`ca125kinetics.validation.metrics.metrics` (Mann-Whitney AUC;
    logistic recalibration models on ``logit p`` clipped at ``LOGIT_EPS``), without the
    smoothed calibration and Hosmer-Lemeshow parts that cost ~10 x more per resample, and
    without the DeLong variance: a resample with a single event (or non-event) has an AUC,
    and leaving it out would bias the optimism toward resamples with more events (rms
    ``validate`` keeps it too). A model that is not estimable gives NaN (its warning is
    recorded by the caller); a single outcome class is refused (``InvalidInputError``).
    """
    from .._logistic import logit
    from .metrics import _check_classes, _delong_components, _fit_logistic

    n = y.size
    _check_classes(y)
    auc = _delong_components(y, p[None, :])[0][0]
    lp = logit(p)
    fit = _fit_logistic(y, np.ones((n, 1)), lp, "calibration-in-the-large")
    citl = math.nan if fit is None else float(fit.params[0])
    fit = _fit_logistic(y, np.column_stack([np.ones(n), lp]), None, "the calibration slope")
    slope = math.nan if fit is None else float(fit.params[1])
    return {"auc": float(auc), "calibration_slope": slope, "citl": citl, "brier": float(np.mean((p - y) ** 2))}


def _positive_proba(estimator, X) -> np.ndarray:
    proba = estimator.predict_proba(X)
    proba = proba.to_numpy() if hasattr(proba, "to_numpy") else np.asarray(proba)
    proba = proba[:, -1] if proba.ndim == 2 else proba
    return np.asarray(proba, dtype=float)


def _resample_frame(X: pd.DataFrame, idx: np.ndarray) -> pd.DataFrame:
    """Rows ``idx`` of ``X`` as a new patient frame; repeated patients get distinct ids."""
    Xb = X.iloc[idx].reset_index(drop=True)
    if "patient_id" in Xb.columns:
        copy_no = pd.Series(idx).groupby(idx).cumcount().to_numpy()
        Xb["patient_id"] = [f"{pid}#{k}" if k else str(pid) for pid, k in zip(Xb["patient_id"], copy_no)]
    return Xb


def _fit_then_predict(model, X_fit: pd.DataFrame, y_fit: np.ndarray, X_other: pd.DataFrame | None):
    """Fit ``model`` on ``(X_fit, y_fit)``; its probabilities for ``X_fit`` and ``X_other``.

    The same numbers as ``model.fit`` then ``predict_proba`` on each frame, with one
    computation saved: when ``model`` is a Pipeline starting with a
    :class:`~ca125kinetics.kinetics.KineticsFeatures` step, the features of ``X_fit`` (a MAP
    fit of every patient) are computed once instead of twice (``Pipeline.fit`` computes
    them with ``fit_transform``, ``predict_proba`` again with ``transform``; for this
    transformer ``fit_transform`` is ``fit`` then ``transform``).
    """
    from sklearn.pipeline import Pipeline

    from ..kinetics import KineticsFeatures

    if isinstance(model, Pipeline) and len(model.steps) > 1 and isinstance(model.steps[0][1], KineticsFeatures):
        kinetics, rest = model.steps[0][1], model[1:]  # the slice shares the step objects
        features = kinetics.fit(X_fit, y_fit).transform(X_fit)
        rest.fit(features, y_fit)
        other = None if X_other is None else _positive_proba(rest, kinetics.transform(X_other))
        return _positive_proba(rest, features), other
    model.fit(X_fit, y_fit)
    return _positive_proba(model, X_fit), None if X_other is None else _positive_proba(model, X_other)


def _fit_and_score(estimator, X: pd.DataFrame, y: np.ndarray, idx: np.ndarray | None):
    """One bootstrap replicate: (boot performance, test performance, error, warnings, model).

    ``model`` is the fitted clone for the apparent fit (``idx is None``), else None (a
    fitted pipeline is not shipped back from the workers).
    """
    from sklearn.base import clone

    model = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = clone(estimator)
            if idx is None:  # apparent performance
                p, _ = _fit_then_predict(model, X, y, None)
                boot = test = _performance(y, p)
            else:
                Xb, yb = _resample_frame(X, idx), y[idx]
                p_boot, p_test = _fit_then_predict(model, Xb, yb, X)
                boot = _performance(yb, p_boot)
                test = _performance(y, p_test)
            error = None
        except (Ca125KineticsError, ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
            boot = test = None
            error = f"{type(exc).__name__}: {exc}"
    messages = [f"{w.category.__name__}: {w.message}" for w in caught]
    return boot, test, error, messages, model if idx is None and boot is not None else None


def _population_warm_start(estimator, fitted):
    """``estimator`` with every population-learning kinetics step started from ``fitted``'s.

    Steps are found by type (:class:`~ca125kinetics.kinetics.KineticsFeatures` with
    ``method="population"`` and no fixed ``population``) among ``get_params(deep=True)``;
    each gets ``population_start`` = the population the same step learned in ``fitted``
    (on a clone; ``estimator`` itself is returned when there is no such step).
    """
    from sklearn.base import clone

    from ..kinetics import KineticsFeatures

    fitted_params = fitted.get_params(deep=True)
    starts = {}
    for name, step in estimator.get_params(deep=True).items():
        if (isinstance(step, KineticsFeatures) and step.method == "population" and step.population is None
                and getattr(fitted_params.get(name), "population_", None) is not None):
            starts[f"{name}__population_start"] = fitted_params[name].population_
    return clone(estimator).set_params(**starts) if starts else estimator


def _estimator_of(pipeline_or_bundle):
    pipe = getattr(pipeline_or_bundle, "pipeline", pipeline_or_bundle)
    if not (hasattr(pipe, "fit") and hasattr(pipe, "predict_proba") and hasattr(pipe, "get_params")):
        raise InvalidInputError(
            "optimism_bootstrap needs a ModelBundle (its .pipeline is refitted) or a scikit-learn "
            f"estimator with fit/predict_proba/get_params, got {type(pipeline_or_bundle).__name__}")
    return pipe


def _describe_estimator(est) -> str:
    steps = getattr(est, "steps", None)
    if steps:
        return " -> ".join(f"{name}: {type(step).__name__}" for name, step in steps)
    return type(est).__name__


def check_seed(seed) -> int:
    """The bootstrap seed as an int: a non-negative integer (what ``numpy.random.default_rng``
    takes), else :class:`InvalidInputError` (``ca125 validate --seed`` checks it before the work)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidInputError(f"{argument_name('seed', 'the bootstrap seed')} must be a non-negative integer, "
                                f"got {seed!r}")
    return int(seed)


def check_n_jobs(n_jobs) -> int:
    """The bootstrap's worker processes as an int: a positive number, or a negative one as joblib
    counts them (-1: all cores); else :class:`InvalidInputError` (``ca125 validate --n-jobs``
    checks it before the work)."""
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0:
        raise InvalidInputError(f"{argument_name('n_jobs')} must be a positive number of worker processes, or a "
                                "negative one counted from the cores as joblib counts it (-1: all cores, -2: all but "
                                f"one; at least one worker), got {n_jobs!r}")
    return int(n_jobs)


def _workers(n_jobs: int) -> int:
    """The worker processes ``n_jobs`` gives here: itself when positive, else joblib's count from
    the cores (``max(cores + 1 + n_jobs, 1)``)."""
    if n_jobs > 0:
        return n_jobs
    from joblib import effective_n_jobs

    return int(effective_n_jobs(n_jobs))


def _check_indices(indices, n: int, n_boot, seed) -> list[np.ndarray]:
    """The caller's resamples as 0-based int arrays of length ``n``, or a typed refusal."""
    if seed is not None:
        raise InvalidInputError(f"seed = {seed!r} was given with the resamples (indices): nothing is drawn, "
                                "so give one or the other")
    if isinstance(indices, (str, bytes)) or not hasattr(indices, "__len__") or len(indices) == 0:
        raise InvalidInputError("indices must be a non-empty sequence of resamples (arrays of row positions)")
    if n_boot is not None and n_boot != len(indices):
        raise InvalidInputError(f"n_boot = {n_boot!r} disagrees with the {len(indices)} resamples given (indices); "
                                "leave n_boot out")
    out = []
    for b, idx in enumerate(indices, start=1):
        arr = np.asarray(idx)
        if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
            raise InvalidInputError(f"resample {b} (indices) must be a 1-d array of integer row positions, got "
                                    f"dtype {arr.dtype} with shape {arr.shape}")
        if arr.size != n:
            raise InvalidInputError(f"resample {b} has {arr.size} row positions; a bootstrap sample of the "
                                    f"{n} patients has {n}")
        if arr.min() < 0 or arr.max() >= n:
            raise InvalidInputError(f"resample {b} holds row positions outside 0 to {n - 1} (0-based; from R's "
                                    "1-based sample(), subtract 1)")
        out.append(arr.astype(np.int64))
    return out


def optimism_bootstrap(pipeline_or_bundle, patient_frame: pd.DataFrame, y, *, n_boot: int | None = None,
                       seed: int | None = None, progress: bool = True, n_jobs: int | None = 2,
                       indices=None) -> OptimismResult:
    """Internal validation by Harrell's optimism-corrected bootstrap.

    Parameters
    ----------
    pipeline_or_bundle : ModelBundle or scikit-learn estimator
        The modelling pipeline. For a bundle, its ``pipeline`` is used; the fitted
        parameters are ignored: :func:`sklearn.base.clone` gives the unfitted pipeline with
        the same hyperparameters, refitted from scratch in every replicate, the kinetics
        population (``KineticsFeatures(method="population")``) included.
    patient_frame : pandas.DataFrame
        Model input, one row per patient (``features.build_patient_frame``), the patients
        with an observed outcome only.
    y : array-like of 0/1
        Outcome of each row of ``patient_frame`` (1 = complete resection).
    n_boot : int, optional
        Bootstrap resamples (default 200; Steyerberg 2019 recommends 100-200).
    seed : int, optional
        Seed of ``numpy.random.default_rng`` (default 0); resample ``b`` is the ``b``-th
        ``rng.integers(0, n, size=n)`` of that generator. All resamples are drawn up front, so
        the result does not depend on ``n_jobs``.
    progress : bool
        Show a tqdm progress bar on stderr.
    n_jobs : int or None
        joblib workers (loky processes); 1 runs in this process. Default 2.
    indices : sequence of integer arrays, optional
        The resamples themselves instead of drawing them: one array of ``n`` row positions
        of ``patient_frame`` (0-based) per resample, e.g. the samples of another program to
        reproduce its result (R ``rms::validate`` draws ``sample(n, replace = TRUE)`` after
        ``set.seed``: subtract 1), or the same samples for two pipelines. ``n_boot`` is then
        their number (another ``n_boot`` is refused), no ``seed`` may be given and the result
        records ``seed = None``.

    Returns
    -------
    OptimismResult

    Notes
    -----
    Harrell et al. (1996); Steyerberg (2019, section 5.3):

    1. Fit the pipeline on the original sample and measure its *apparent* performance
       ``A`` on that sample.
    2. For ``b = 1..B``: draw a bootstrap sample (n patients with replacement); refit the
       whole pipeline on it; measure performance on the bootstrap sample (``B_b``) and on
       the original sample (``T_b``).
    3. ``optimism = mean_b(B_b - T_b)``; ``corrected = A - optimism``.

    Metrics: AUC, calibration slope, calibration-in-the-large and Brier score (the same
    definitions as :func:`~ca125kinetics.validation.metrics.metrics`). For the slope the
    apparent value is ~1 and the corrected value estimates the shrinkage needed; for the
    Brier score optimism is negative (lower is better), so the corrected Brier is larger.
    What is refitted is the *pipeline*: every fitted step (the kinetics population, imputers,
    scalers, the classifier, and any tuning inside the pipeline such as
    ``LogisticRegressionCV``). Hyperparameters stay those of the bundle, including the
    fixed recalibration ``intercept``/``slope`` of a ``models.RecalibratedClassifier`` and
    the model family; the choices ``train()`` makes outside the pipeline (family selection,
    estimating the recalibration from out-of-fold predictions) are not repeated, so the
    optimism they add is not counted and the corrected values are, if anything, slightly
    optimistic.
    Warm start of the kinetics population (speed only): every resample learns its own
    population on its own patients (no outcome is used), but the EM starts from the
    population the apparent fit learned on the original sample instead of the MixedLM
    start (``population_start`` of every ``KineticsFeatures(method="population")`` step
    without a fixed ``population``, found by type; see
    :class:`~ca125kinetics.kinetics.KineticsFeatures`; every EM is SQUAREM-accelerated). This
    changes the starting point, not the estimator: the EM runs to its convergence
    criterion and ends at the population a cold start finds, up to the EM's tolerance
    (moments ~1e-4 apart; ``population_.start_method`` is ``"population"``). It saves the
    MixedLM fit (``benchmarks/bench_bootstrap.py`` times both).
    A patient drawn k times enters the bootstrap sample k times, under distinct ids
    (``<id>#1``...). A replicate whose refit fails (e.g. too few patients for a kinetics
    population, a single outcome class) is left out and counted in ``n_failed``; warnings
    raised during refits are collected in ``warnings``, not re-emitted (a refit that only
    warns, e.g. of non-convergence, is kept). A measure not estimable in one replicate
    (NaN) leaves that replicate out of that measure's three means only (``n_resamples``).
    On the same resamples (``indices``) an unpenalised logistic model gives the AUC, Brier
    score and calibration slope rows of ``rms::validate(method = "boot")`` (tested; see
    ``docs/validation-statistics.md`` for rms's other indices and its recalibration
    intercept, which is not calibration-in-the-large).
    """
    t0 = time.perf_counter()
    estimator = _estimator_of(pipeline_or_bundle)
    if not isinstance(patient_frame, pd.DataFrame):
        raise InvalidInputError(
            f"patient_frame must be a pandas DataFrame (features.build_patient_frame), got "
            f"{type(patient_frame).__name__}")
    yv = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y, dtype=float).ravel()
    if yv.size != len(patient_frame):
        raise InvalidInputError(f"y has {yv.size} values but patient_frame has {len(patient_frame)} rows; "
                                "give one outcome per patient, in the same order")
    if not np.all(np.isin(yv, (0.0, 1.0))):
        raise InvalidInputError("y must be 0/1 for every patient; drop patients without an observed outcome "
                                "before the bootstrap", column="y")
    yv = yv.astype(np.int64)
    if yv.sum() < 2 or yv.size - yv.sum() < 2:
        raise InsufficientDataError(f"the bootstrap needs at least 2 patients with and without the outcome, "
                                    f"got {int(yv.sum())} and {int(yv.size - yv.sum())}")
    n_jobs = 1 if n_jobs is None else check_n_jobs(n_jobs)
    n_workers = _workers(n_jobs)
    X = patient_frame.reset_index(drop=True)
    n = len(X)
    if indices is None:
        n_boot = _DEFAULT_N_BOOT if n_boot is None else n_boot
        if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
            raise InvalidInputError(f"n_boot must be a positive integer, got {n_boot!r}")
        seed = 0 if seed is None else check_seed(seed)
        rng = np.random.default_rng(seed)
        indices = [rng.integers(0, n, size=n) for _ in range(int(n_boot))]
    else:
        indices = _check_indices(indices, n, n_boot, seed)
        n_boot = len(indices)

    apparent, _, error, apparent_warnings, fitted = _fit_and_score(estimator, X, yv, None)
    if apparent is None:
        raise InsufficientDataError(f"the pipeline could not be fitted on the whole sample: {error}")
    refit = _population_warm_start(estimator, fitted)

    from tqdm.auto import tqdm

    bar = tqdm(total=int(n_boot), desc="optimism bootstrap", unit="resample", disable=not progress,
               file=sys.stderr, leave=False)
    results: list = [None] * int(n_boot)
    try:
        if n_workers == 1:        # in this process (also a negative n_jobs that leaves one core)
            for b, idx in enumerate(indices):
                results[b] = _fit_and_score(refit, X, yv, idx)
                bar.update(1)
        else:
            from joblib import Parallel, delayed

            parallel = Parallel(n_jobs=n_workers, return_as="generator", backend="loky")
            for b, res in enumerate(parallel(delayed(_fit_and_score)(refit, X, yv, idx) for idx in indices)):
                results[b] = res
                bar.update(1)
    finally:
        bar.close()

    rows, failures, caught = [], Counter(), Counter(apparent_warnings)
    for b, (boot, test, err, messages, _) in enumerate(results):
        caught.update(messages)
        if boot is None:
            failures[err] += 1
            continue
        row = {"resample": b}
        for m in OPTIMISM_METRICS:
            row[f"{m}_boot"] = boot[m]
            row[f"{m}_test"] = test[m]
        rows.append(row)
    columns = ["resample"] + [f"{m}_{k}" for m in OPTIMISM_METRICS for k in ("boot", "test")]
    resamples = pd.DataFrame(rows, columns=columns)
    if resamples.empty:
        first = next(iter(failures)) if failures else "unknown error"
        raise InsufficientDataError(f"every bootstrap resample failed; first error: {first}")
    table = []
    for m in OPTIMISM_METRICS:
        diff = (resamples[f"{m}_boot"] - resamples[f"{m}_test"]).to_numpy(dtype=float)
        ok = np.isfinite(diff)
        optimism = float(diff[ok].mean()) if ok.any() else math.nan
        # the means over the resamples of the optimism (rms's "training" and "test"), so that
        # bootstrap - test = optimism even when a measure is NaN on one side only
        table.append({
            "metric": m, "apparent": apparent[m],
            "bootstrap": float(resamples[f"{m}_boot"].to_numpy(dtype=float)[ok].mean()) if ok.any() else math.nan,
            "test": float(resamples[f"{m}_test"].to_numpy(dtype=float)[ok].mean()) if ok.any() else math.nan,
            "optimism": optimism, "optimism_sd": float(diff[ok].std(ddof=1)) if ok.sum() > 1 else math.nan,
            "corrected": apparent[m] - optimism, "n_resamples": int(ok.sum()),
        })
    return OptimismResult(
        table=pd.DataFrame(table), resamples=resamples, n=n, n_events=int(yv.sum()), n_boot=int(n_boot),
        n_failed=int(sum(failures.values())), seed=None if seed is None else int(seed), n_jobs=n_jobs,
        elapsed_seconds=time.perf_counter() - t0,
        failures=tuple(f"{msg} ({k}x)" for msg, k in failures.most_common()),
        warnings=tuple(f"{msg} ({k}x)" for msg, k in caught.most_common()),
        pipeline=_describe_estimator(estimator), n_workers=n_workers,
    )
