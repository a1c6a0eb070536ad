"""What a model predicts, from which marker and predictors, compared with which rules.

A prediction task is configuration, not code: the ``[task]`` section of a training TOML
(``training/rectal.toml``) names the binary outcome column of the clinical table, the marker
of the markers table, the clinical predictor columns (numeric and categorical, declared, never
inferred) and the published comparators. Every training step -- reading, the patient frame,
the model pipelines, cross-validation, selection, recalibration, evaluation, MLflow tracking
and registration -- is the same code for every task.

Tasks
    :data:`DEFAULT_TASK` (``complete_resection``): complete resection at secondary
    cytoreduction in recurrent ovarian cancer, CA-125, the ovarian clinical factors and the
    GCIG-derived features (:mod:`ca125kinetics.features`), compared with the AGO, iMODEL and
    MSKCC scores. It is what ``training/default.toml`` trains (no ``[task]`` section), with
    the results of the package before tasks existed.
    Any other task: the marker's kinetics features (``KineticsFeatures``), the response
    features (:func:`ca125kinetics.response.response_features`) and the declared clinical
    predictors. The GCIG-derived features exist for CA-125 only and are not built.

Comparators (:data:`COMPARATORS`)
    ``ago``, ``imodel``, ``mskcc`` -- the published ovarian scores (:mod:`ca125kinetics.scores`):
    they need the ovarian clinical fields and CA-125, and are refused for any other marker.
    ``post_pre_ratio``, ``normalisation``, ``exponential_clearance`` -- the published
    marker-response rules of rectal cancer (J Cancer 2020;11:6565-6570; BMC Cancer
    2018;18:1145), computed from the markers by the response features. Oriented so that a
    higher value means the outcome is more likely after a better response: ``-ratio``
    (a lower post/pre ratio), normalised (1) or not (0), exponential clearance with
    ``R^2 > 0.9`` (1) or not (0); NA where the rule is undefined (e.g. normalisation with a
    baseline at or below the ULN), as the ovarian scores are NA where a factor is unknown.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .errors import InvalidInputError
from .markers import get_marker

__all__ = ["TaskSpec", "DEFAULT_TASK", "COMPARATORS", "OVARIAN_COMPARATORS", "RESPONSE_COMPARATORS",
           "RECORDED_AFTER_START", "bundle_task", "require_default_task"]

#: The published ovarian scores (need the ovarian clinical fields and CA-125).
OVARIAN_COMPARATORS = ("ago", "imodel", "mskcc")
#: The published marker-response rules: comparator -> column of ``response_features``.
RESPONSE_COMPARATORS = {"post_pre_ratio": "post_pre_ratio", "normalisation": "normalised",
                        "exponential_clearance": "exponential_clearance"}
#: Every comparator a task may name.
COMPARATORS = OVARIAN_COMPARATORS + tuple(RESPONSE_COMPARATORS)
#: The ovarian clinical columns the published ovarian scores read.
OVARIAN_SCORE_COLUMNS = ("ecog", "ascites_ml", "figo_stage", "primary_residual_disease", "pfi_months",
                         "recurrence_pattern")

#: When the clinical columns that come after the start of treatment are recorded, in the order
#: of care (every other column is known before or during the neoadjuvant treatment):
#: restaging (the trial's gate, and the downstaging it defines), randomisation, the operation
#: and its pathology, follow-up. A task's predictors must be recorded before its outcome
#: (:class:`TaskSpec`): never the restaging that defines downstaging, nor the pathology or the
#: follow-up that come after it.
RECORDED_AFTER_START = {
    **dict.fromkeys(("recist", "yct_stage", "ycn_stage", "ycm_stage", "downstaged"), (1, "at restaging")),
    "arm": (2, "at randomisation"),
    **dict.fromkeys(("complete_resection", "ypt_stage", "ypn_stage"), (3, "at the operation")),
    **dict.fromkeys(("pfs_months", "pfs_event", "dfs_months", "dfs_event"), (4, "during follow-up")),
}


@dataclass(frozen=True)
class TaskSpec:
    """One prediction task (frozen; ``[task]`` of a training TOML).

    Parameters
    ----------
    name : str
        Short name, recorded with the model (``complete_resection``, ``downstaging``).
    outcome : str
        Clinical column holding the binary outcome (1 = event, 0 = not, empty = unknown).
    marker : str
        Marker of the markers table (``ca125``, ``cea``).
    numeric, categorical : tuple of str
        Clinical predictor columns, numeric (numbers, NA where unknown) and categorical
        (text, ``"missing"`` where unknown). Only for tasks other than the default, whose
        predictors are the fixed ovarian features of :mod:`ca125kinetics.models`.
    comparators : tuple of str
        Published rules the models are compared with (:data:`COMPARATORS`).
    description : str
        What is predicted, for people (model card, MLflow).
    """

    name: str = "complete_resection"
    outcome: str = "complete_resection"
    marker: str = "ca125"
    numeric: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    comparators: tuple[str, ...] = OVARIAN_COMPARATORS
    description: str = "complete resection (no macroscopic residual disease) at secondary cytoreduction"

    def __post_init__(self):
        for key in ("name", "outcome", "description"):
            if not isinstance(getattr(self, key), str) or not getattr(self, key).strip():
                raise InvalidInputError(f"[task] {key} must be a non-empty string, got {getattr(self, key)!r}")
        spec = get_marker(self.marker)
        object.__setattr__(self, "marker", spec.name)
        for key in ("numeric", "categorical", "comparators"):
            value = getattr(self, key)
            if isinstance(value, str) or not all(isinstance(v, str) and v for v in value):
                raise InvalidInputError(f"[task] {key} must be a list of column names, got {value!r}")
            object.__setattr__(self, key, tuple(value))
        both = sorted(set(self.numeric) & set(self.categorical))
        if both:
            raise InvalidInputError(f"[task] column(s) {both} are both numeric and categorical; declare each once")
        if self.outcome in self.numeric + self.categorical:
            raise InvalidInputError(f"[task] the outcome {self.outcome!r} cannot also be a predictor")
        if self.outcome in RECORDED_AFTER_START:
            rank, when = RECORDED_AFTER_START[self.outcome]
            late = [c for c in self.numeric + self.categorical if RECORDED_AFTER_START.get(c, (0,))[0] >= rank]
            if late:
                recorded = ", ".join(f"{c!r} {RECORDED_AFTER_START[c][1]}" for c in late)
                raise InvalidInputError(
                    f"[task] predictor(s) {recorded} are not known before the outcome {self.outcome!r} "
                    f"(recorded {when}); a model may use only what is known before its outcome: leave them out")
        unknown = sorted(set(self.comparators) - set(COMPARATORS))
        if unknown:
            raise InvalidInputError(f"[task] unknown comparator(s) {unknown}; choose from {list(COMPARATORS)}")
        ovarian = [c for c in self.comparators if c in OVARIAN_COMPARATORS]
        if ovarian and not spec.gcig_rules:
            raise InvalidInputError(
                f"[task] comparator(s) {ovarian} are published ovarian scores: they need CA-125 and the "
                f"ovarian clinical fields {list(OVARIAN_SCORE_COLUMNS)}, not {spec.label}; use the "
                f"response rules {list(RESPONSE_COMPARATORS)}")
        if not self.is_default and not self.numeric and not self.categorical:
            raise InvalidInputError(
                f"[task] {self.name!r}: declare the clinical predictors, numeric = [...] and/or "
                "categorical = [...]; the fixed ovarian predictors belong to the default task only "
                "(outcome complete_resection, marker ca125)")

    @property
    def is_default(self) -> bool:
        """The ovarian complete-resection task with the package's fixed features: outcome
        ``complete_resection``, CA-125 and no declared predictors."""
        return (self.outcome == "complete_resection" and self.marker == "ca125"
                and not self.numeric and not self.categorical)

    @property
    def predictors(self) -> tuple[str, ...]:
        return self.numeric + self.categorical

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskSpec:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise InvalidInputError(f"[task]: unknown key(s) {unknown}; valid: {sorted(names)}")
        return cls(**data)


#: The ovarian complete-resection task (``training/default.toml``).
DEFAULT_TASK = TaskSpec()


def bundle_task(bundle) -> TaskSpec:
    """The task a trained model (``ModelBundle``) predicts: recorded in its training
    summary's configuration; absent (models of the default task) means :data:`DEFAULT_TASK`."""
    config = (getattr(bundle, "training_summary", None) or {}).get("config") or {}
    task = config.get("task")
    return DEFAULT_TASK if task is None else TaskSpec.from_dict(task)


def require_default_task(bundle, where: str) -> None:
    """Refuse a model of another task where only complete-resection models (CA-125 series,
    GCIG rules, the decision rule) are read: ``where`` names that place (the web page and the
    REST API; the validation study; ``predict`` of one patient). :class:`InvalidInputError` says what the model predicts
    and what scores it, before any table is read (it would otherwise be read as CA-125 and
    refused for columns the model does not need)."""
    task = bundle_task(bundle)
    if not task.is_default:
        raise InvalidInputError(
            f"the model {getattr(bundle, 'name', '')!r} predicts {task.description} from "
            f"{get_marker(task.marker).label}; {where} a complete-resection model (CA-125 series, GCIG rules): "
            "score this model with predict.score_frame or predict_cohort (ca125 score --model ..., or its MLflow "
            "pyfunc); its held-out evaluation is in its training result (ca125 train)")
