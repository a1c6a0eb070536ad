"""The landmark trajectory of scored patients (``Prediction.trajectory``).

For every landmark a patient has reached (:mod:`ca125kinetics.landmarks`), the rows of her
record kept by :func:`ca125kinetics.landmarks.landmark_mask` (strict truncation, the rule
training used), with the clinical factors known then (``landmarks.clinical_at``), are scored
by the one scoring path (``engine._score_patients``: the records through ``_score_columns``;
passed in as ``score``) with the landmark's model;
:func:`ca125kinetics.landmarks.build_trajectory` assembles the points and says whether the
decision has been stable. The computation is deferred until a trajectory is
first asked for (:class:`DeferredTrajectories`), so a caller who only needs the probability
does not pay for it.
"""

from __future__ import annotations

import dataclasses
import threading
from itertools import compress
from typing import Callable, Mapping

import numpy as np

from .result import SCORE_COLUMNS, SCORED_STATUSES

#: The per-row fields of an ``io.PatientRecord``.
_ROW_FIELDS = ("day", "ca125", "censored", "uln", "assay", "event")


def trajectories(bundle, records: list, problems: Mapping[str, str], rows: list[dict], *,
                 score: Callable, kinetics_step: Callable, allow_imputed: bool = False) -> list:
    """The trajectory of each record (``rows`` are their scored rows, same order).

    A landmark whose truncated series has no CA-125 after the first dose that the kinetics
    can use gets no decision (rule 5 of the decision rule, as for the full series) unless
    ``allow_imputed``, the caller's choice for the patient's decision.

    Every landmark the scored patients reached is scored in one pass when the landmark models
    share their rule settings and kinetics population (as training makes them:
    :class:`LandmarkScorer`), else one pass per landmark.
    """
    from ..kinetics import excluded_by_events
    from ..landmarks import build_trajectory, clinical_at, landmark_mask, latest_sample_day, reached
    from .decision import _RULES

    all_marks = (getattr(bundle, "landmarks", None) or {}).get("models")
    marks = [m for m in all_marks or () if m.model is not None]
    scored = [i for i, r in enumerate(rows) if r["status"] in SCORED_STATUSES]
    pairs = [(k, i) for i in scored for k, m in enumerate(marks)
             if reached(latest_sample_day(records[i].day, records[i].ca125), m.landmark)]
    at: dict = {}
    if pairs:
        cut = []
        for k, i in pairs:
            record, lm = records[i], marks[k].landmark
            keep = landmark_mask(record.day, lm.last_day).tolist()
            cut.append(dataclasses.replace(
                record, patient_id=f"{record.patient_id}{LandmarkScorer.SEP}{k}",
                clinical=clinical_at(record.clinical, lm),
                **{f: tuple(compress(getattr(record, f), keep)) for f in _ROW_FIELDS}))
        models = [m.model for m in marks]
        if LandmarkScorer.compatible(models, kinetics_step):
            groups = [(list(range(len(pairs))), LandmarkScorer(models, kinetics_step))]
        else:
            groups = [([j for j, (k, _) in enumerate(pairs) if k == kk], m) for kk, m in enumerate(models)]
        for members, scorer in groups:
            if not members:
                continue
            known = {cut[j].patient_id: problems[records[pairs[j][1]].patient_id] for j in members
                     if records[pairs[j][1]].patient_id in problems}
            scored_rows = score(scorer, [cut[j] for j in members], known,
                                names=(*SCORE_COLUMNS, "kinetics_n_on", "predictors_unknown"))
            for j, r in zip(members, scored_rows):
                at[(marks[pairs[j][0]].landmark.key, pairs[j][1])] = (r["probability"], r["p_low"], r["p_high"],
                                                                       r["reason"], r["kinetics_n_on"],
                                                                       r["decision"],
                                                                       r["predictors_unknown"] or None)
    by_threshold = (_RULES["resectable"], _RULES["not_resectable"])
    return [build_trajectory(all_marks, days=record.day, values=record.ca125, threshold=float(bundle.threshold),
                             final=(r["probability"], r["p_low"], r["p_high"]) if r["status"] in SCORED_STATUSES else None,
                             score_at=lambda m, i=i: at[(m.landmark.key, i)],
                             withheld=_withheld(r), unknown_recist=_recist_only(r),
                             imputed_inputs=r.get("predictors_imputed") or None,
                             model=bundle,
                             allow_imputed=allow_imputed,
                             excluded=excluded_by_events(record.day, record.event, bundle.kinetics_settings)
                             if r["status"] in SCORED_STATUSES else None,
                             recommendation=None if r["rule"] in by_threshold or r["status"] not in SCORED_STATUSES
                             else (r["decision"], r["rule"]))
            for i, (record, r) in enumerate(zip(records, rows))]


def _recist_only(row: dict) -> bool:
    """RECIST is the only model input unknown (not imputed by the caller's leave): the
    trajectory's points decide or not by whether their models use it (``build_trajectory``'s
    ``unknown_recist``), rather than the whole trajectory being withheld."""
    return row.get("predictors_unknown") == "recist"


def _withheld(row: dict) -> str | None:
    """Why the whole trajectory is withheld (``build_trajectory``'s ``withheld``): the
    patient's decision withheld by rule 5, or model inputs unknown when an earlier rule
    decided (:func:`_unknown`); not when RECIST alone is unknown and the kinetics measured a
    decline (then per point, :func:`_recist_only`)."""
    from .decision import _RULES

    if row["rule"] == _RULES["withheld"]:
        no_kinetics = row.get("kinetics_n_on") == 0
        return None if _recist_only(row) and not no_kinetics else row["reason"]
    return None if _recist_only(row) else _unknown(row)


def _unknown(row: dict) -> str | None:
    """Why a patient decided by an earlier rule (not a candidate, entry undetermined) gets no
    landmark decisions either: model inputs unknown that rule 5 would not impute (the
    decision rule's ``predictors_unknown``); None when there are none."""
    unknown = row.get("predictors_unknown")
    if not unknown or row["status"] not in SCORED_STATUSES:
        return None
    return (f"model inputs unknown ({unknown}): the landmark models would decide on imputed values "
            "(allow_imputed=True decides on them)")


class LandmarkScorer:
    """A bundle's landmark models as one scorer for the scoring path.

    Training gives every landmark model the shipped model's rule settings and kinetics
    population (:mod:`ca125kinetics.landmarks`), so the truncated series of all landmarks go
    through one GCIG and kinetics pass; each row is then scored by the head of its own
    landmark, named by the suffix of its patient identifier (``<id><SEP><k>``).
    """

    SEP = "\x1f"

    def __init__(self, models: list, kinetics_step: Callable):
        first = models[0]
        self.models = models
        self.gcig_settings, self.kinetics_settings = first.gcig_settings, first.kinetics_settings
        self.threshold, self.trained_on_synthetic = first.threshold, first.trained_on_synthetic
        self.name, self.version, self.model_family = first.name, first.version, first.model_family
        self.feature_ranges: dict = {}
        self.kinetics_step = kinetics_step(first)

    @staticmethod
    def compatible(models: list, kinetics_step: Callable) -> bool:
        """Whether the models share the rule settings and the fitted kinetics step."""
        if not models:
            return False
        first, step = models[0], kinetics_step(models[0])
        if step is None:
            return False
        for m in models[1:]:
            other = kinetics_step(m)
            if other is None or (m.gcig_settings, m.kinetics_settings, m.threshold) != (
                    first.gcig_settings, first.kinetics_settings, first.threshold) or \
                    (other.method, other.settings_, getattr(other, "population_", None)) != \
                    (step.method, step.settings_, getattr(step, "population_", None)):
                return False
        return True

    def _which(self, patient_ids) -> np.ndarray:
        """The landmark model of each row (its position in :attr:`models`)."""
        return np.array([int(str(pid).rsplit(self.SEP, 1)[1]) for pid in patient_ids], dtype=np.intp)

    def learned_unknown_rows(self, name: str, patient_ids) -> np.ndarray:
        """Per row, ``learned_unknown(name)`` of its landmark's model (a landmark before
        RECIST is assessed learned RECIST unknown)."""
        learned = np.array([bool(m.learned_unknown(name)) for m in self.models] + [False])
        which = self._which(patient_ids)
        return learned[which] if len(which) else np.zeros(0, dtype=bool)

    def learned_levels_rows(self, name: str, patient_ids) -> tuple[list, np.ndarray]:
        """``(levels, which)``: ``learned_levels(name)`` of each landmark model, and the
        model of each row (a landmark reached by fewer patients may lack a rare level)."""
        return [m.learned_levels(name) for m in self.models], self._which(patient_ids)

    def predict_head(self, columns, n: int):
        """``(p, p_low, p_high)``, each row from its landmark's model."""
        which = self._which(columns["patient_id"])
        out = np.full((3, n), np.nan)
        for k, model in enumerate(self.models):
            chosen = np.flatnonzero(which == k)
            if chosen.size:
                part = {c: np.asarray(v)[chosen] for c, v in columns.items()}
                out[:, chosen] = np.vstack(model.predict_head(part, chosen.size))
        return out[0], out[1], out[2]


class DeferredTrajectories:
    """The trajectories of one scoring call, computed together (:func:`trajectories`) the
    first time one of them is asked for."""

    def __init__(self, bundle, records, problems, rows, *, score: Callable, kinetics_step: Callable,
                 allow_imputed: bool = False):
        self._args = (bundle, records, dict(problems), rows)
        self._functions = {"score": score, "kinetics_step": kinetics_step, "allow_imputed": allow_imputed}
        self._lock = threading.Lock()
        self._done: list | None = None

    def get(self, i: int):
        with self._lock:
            if self._done is None:
                self._done = trajectories(*self._args, **self._functions)
                self._args = self._functions = None
            return self._done[i]

    def __getstate__(self):     # a pickled Prediction carries its trajectories, computed
        self.get(0)
        return {"done": self._done}

    def __setstate__(self, state):
        self._args, self._functions, self._lock, self._done = None, None, threading.Lock(), state["done"]
