"""ca125kinetics: CA-125 kinetics prediction models for recurrent ovarian cancer.

Research software, not a medical device. The package reads and validates CA-125 marker
series, applies the GCIG CA-125 response and progression rules, fits a KELIM-like
elimination rate with population (empirical-Bayes) shrinkage, trains and compares
classifiers of complete resection at secondary cytoreduction against published scores,
and supports external validation studies.

Public names are imported lazily (PEP 562), so ``import ca125kinetics`` stays fast and
never imports mlflow, matplotlib or a web framework.
"""

from __future__ import annotations

import importlib
import sys
import types

__version__ = "0.1.0"

# public name -> module that defines it, in the order data flows through the package
_PUBLIC = {
    # errors and settings
    "Ca125KineticsError": "errors",
    "InvalidInputError": "errors",
    "InsufficientDataError": "errors",
    "ModelIntegrityError": "errors",
    "ModelNotFoundError": "errors",
    "NoMarkerDataError": "errors",
    "MissingDependencyError": "errors",
    "DataQualityWarning": "errors",
    "SyntheticModelWarning": "errors",
    "GcigSettings": "settings",
    "KineticsSettings": "settings",
    "ResponseSettings": "settings",
    "with_provenance": "settings",
    "with_model_provenance": "scores",
    # read and validate
    "read_markers": "io",
    "read_clinical": "io",
    # markers where they live: FHIR R4 and OMOP CDM
    "read_fhir": "sources.fhir",
    "read_omop": "sources.omop",
    "cohort_to_fhir": "sources.fhir_cohort",
    "cohort_to_omop": "sources.omop",
    "risk_assessment": "sources.fhir",
    "SourceRead": "sources._codes",
    "patient_record": "io",
    "PatientRecord": "io",
    # registry scale: markers files in patient-complete chunks (Spark: ca125kinetics.spark)
    "stream_markers": "cohort",
    "CohortStream": "cohort",
    # GCIG rules
    "gcig_response": "gcig",
    "gcig_progression": "gcig",
    "combined_response": "gcig",
    "gcig_cohort": "gcig",
    "GcigResponse": "gcig",
    "GcigProgression": "gcig",
    "CombinedResponse": "gcig",
    # eligibility screening
    "screen": "eligibility",
    "load_trial": "eligibility",
    "Trial": "eligibility",
    "ScreeningResult": "eligibility",
    "PatientScreening": "eligibility",
    # synthetic cohorts
    "simulate_cohort": "synth",
    "SyntheticCohort": "synth",
    # kinetics
    "fit_kinetics": "kinetics",
    "fit_population": "kinetics",
    "KineticsPopulation": "kinetics",
    "KineticsFeatures": "kinetics",
    "series_to_wide": "kinetics",
    "response_features": "response",
    "TaskSpec": "task",
    # features and published scores
    "ago_score": "scores",
    "imodel_score": "scores",
    "mskcc_category": "scores",
    "published_scores": "scores",
    "score_for_auc": "scores",
    "ScoreSettings": "scores",
    # models and training
    "build_patient_frame": "features",
    "ModelBundle": "bundle",
    "TrainingConfig": "train",
    "TrainingResult": "train",
    "train": "train",
    # landmarks (a decision after every cycle)
    "LandmarkSettings": "landmarks",
    "truncate_markers": "landmarks",
    "Trajectory": "landmarks",
    # predict
    "predict": "predict",
    "predict_cohort": "predict",
    "load_model": "predict",
    "Prediction": "predict",
    # validation
    "metrics": "validation",
    "net_benefit": "validation",
    "delong_test": "validation",
    "threshold_metrics": "validation",
    "pmsampsize_binary": "validation",
    "validate_model": "validation.studies",
    "optimism_bootstrap": "validation.studies",
    "ValidationResult": "validation.studies",
    "OptimismResult": "validation.studies",
    "write_report": "validation.report",
    # trial design
    "sample_size": "design",
    "detectable_hr": "design",
    "patients_support": "design",
    "simulate_selection_trial": "design",
    "selection_trial_sample_size": "design",
    "selection_from_predictions": "design",
    "noninferiority_analysis": "design",
}

__all__ = sorted(_PUBLIC) + ["__version__"]


class _FunctionModule(types.ModuleType):
    """A submodule named after its main function, and callable as that function.

    ``ca125kinetics.train`` is both the function that trains and the module ``train.py``
    (``TrainingConfig``, ``load_config``, ...). A module of this class (``train.py`` sets it on
    itself) makes both work: ``ca125kinetics.train(markers, clinical)`` calls
    ``ca125kinetics.train.train``, and ``import ca125kinetics.train as T`` gives the module,
    whose documented names (``T.TrainingConfig``, ``T.train``) are there.
    """

    def __call__(self, *args, **kwargs):
        return getattr(self, self.__name__.rpartition(".")[2])(*args, **kwargs)

    @property
    def __signature__(self):
        import inspect

        return inspect.signature(getattr(self, self.__name__.rpartition(".")[2]))


class _Package(types.ModuleType):
    """The package module. Importing a submodule named like a public function (``predict``)
    would otherwise rebind ``ca125kinetics.predict`` from the function to the submodule
    (Python sets a submodule as an attribute of its package); here a public function's name
    always means something callable as that function: the function, or the submodule when it
    is a :class:`_FunctionModule` (``train``). The submodules stay in ``sys.modules``."""

    def __setattr__(self, name, value):
        if (isinstance(value, types.ModuleType) and not isinstance(value, _FunctionModule)
                and name in _PUBLIC and _PUBLIC[name] == name):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str):
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'ca125kinetics' has no attribute {name!r}")
    submodule = importlib.import_module(f".{module}", __name__)
    value = submodule if isinstance(submodule, _FunctionModule) and module == name else getattr(submodule, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
