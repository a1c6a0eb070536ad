"""The MLflow face of a trained model: the pyfunc model, its signature, export and model card.

Above scoring in the pipeline (it scores with ``predict.score_frame``); nothing below it
imports it. An exported model (:func:`export_model`) is a directory::

    <out_dir>/
        mlflow_model/            MLflow model, "models from code" (see below)
            MLmodel, _pyfunc_code.py, requirements.txt, input_example.json, ...
            artifacts/bundle/    bundle.joblib, bundle.json, scorer.json, MANIFEST.sha256
            MANIFEST.sha256      sha256sum of every other file of the MLflow model
        model_card.md            first line says "Trained on synthetic data - not for
                                 clinical use" when so
        bundle.json
        MANIFEST.sha256          sha256sum of every other file under <out_dir>

**Models from code.** The pyfunc model is code of the installed package
(:class:`Ca125PyfuncModel`, set by the small file :data:`PYFUNC_CODE` that MLflow stores in
the model), not a pickled object: loading an exported model never unpickles a
``python_model.pkl``. Its only pickle is the bundle, which ``load_context`` loads after
verifying the SHA-256 manifests (the bundle's own, the MLflow model's, and the export's when
inside one).

**Every file of the MLflow model is under a manifest**, the code file included: an exported
model's ``mlflow_model/MANIFEST.sha256``, and the same file at the root of a model logged to a
tracking store (:func:`log_pyfunc_model`, which ``ca125 train`` registers). MLflow's loader
runs ``_pyfunc_code.py`` before ``load_context``, so only a check made before
``mlflow.pyfunc.load_model`` protects against a changed code file:
``ca125kinetics.integrity.verify_manifest(<model directory>)``, or
``ca125kinetics.predict.load_model`` (which verifies every manifest and never runs the file).
Exports made before this format (with ``python_model.pkl``) still load: their pickle names
``ca125kinetics.bundle.Ca125PyfuncModel``, which resolves to the same class.

mlflow is imported only inside the functions that need it; :data:`Ca125PyfuncModel` (a
subclass of mlflow's ``PythonModel``) is created on first access.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .bundle import (
    BUNDLE_FILE, BUNDLE_JSON, MLFLOW_DIR, MODEL_CARD, SYNTHETIC_FIRST_LINE, ModelBundle, load_bundle_file,
    save_bundle,
)
from .errors import InvalidInputError
from .integrity import MANIFEST_NAME, read_files, verify_manifest, write_manifest
from .io import CLINICAL_PREDICTORS
from .predict import score_frame

__all__ = [
    "Ca125PyfuncModel",
    "PYFUNC_CODE",
    "PYFUNC_INPUT_COLUMNS",
    "pyfunc_input_columns",
    "export_model",
    "log_pyfunc_model",
    "check_export_dir",
    "default_model_card",
    "model_signature",
    "pip_requirements",
    "pyfunc_arguments",
    "pyfunc_input_example",
    "pyfunc_model",
]

#: The file MLflow stores as the model code ("models from code"); it calls
#: ``mlflow.models.set_model(pyfunc_model())``.
PYFUNC_CODE = Path(__file__).with_name("_pyfunc_code.py")


def _pyfunc_class():
    import mlflow.pyfunc

    class Ca125PyfuncModel(mlflow.pyfunc.PythonModel):
        """MLflow pyfunc model of a ModelBundle: ``predict`` is ``predict.score_frame``.

        Input: long markers rows (``patient_id``, ``day``, ``ca125``, optional ``censored``,
        ``uln``, ``assay``, ``event``) with the patient's clinical columns repeated on every
        row. Output: one row per patient, the columns of ``predict.SCORE_COLUMNS``.
        """

        def load_context(self, context):
            directory = Path(context.artifacts["bundle"])
            # read once: the bytes verified are the bytes unpickled
            bundle_file = (directory / BUNDLE_FILE).resolve()
            contents = read_files(bundle_file)
            verify_manifest(directory, contents)  # the bundle's own manifest
            model_root = directory.parents[1] if len(directory.parents) > 1 else None
            if model_root is not None and (model_root / MANIFEST_NAME).is_file() \
                    and (model_root / "MLmodel").is_file():
                verify_manifest(model_root, contents)  # the MLflow model's (models logged before it had none)
            export_root = directory.parents[2] if len(directory.parents) > 2 else None
            if export_root is not None and (export_root / MANIFEST_NAME).is_file() \
                    and (export_root / MLFLOW_DIR).is_dir():
                verify_manifest(export_root, contents)  # inside an exported model directory
            self.bundle = load_bundle_file(bundle_file, contents.get(bundle_file))

        def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
            return score_frame(self.bundle, model_input)

    Ca125PyfuncModel.__module__ = __name__
    Ca125PyfuncModel.__qualname__ = "Ca125PyfuncModel"
    return Ca125PyfuncModel


def __getattr__(name: str):
    # PEP 562: the pyfunc class subclasses mlflow's PythonModel, so it is created (and mlflow
    # imported) only when first asked for; cached so that every caller sees the same class.
    if name == "Ca125PyfuncModel":
        cls = _pyfunc_class()
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def pyfunc_model():
    """A new :class:`Ca125PyfuncModel` (what :data:`PYFUNC_CODE` hands to MLflow)."""
    return __getattr__("Ca125PyfuncModel")()


def pip_requirements() -> list[str]:
    """Pinned requirements of the pyfunc model (installed versions; no inference subprocess)."""
    from importlib import metadata

    names = ["ca125kinetics", "numpy", "pandas", "scipy", "scikit-learn", "statsmodels", "joblib", "mlflow"]
    out = []
    for name in names:
        try:
            out.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            out.append(name)
    return out


def pyfunc_arguments(bundle_dir) -> dict[str, Any]:
    """Keyword arguments of ``mlflow.pyfunc.save_model``/``log_model`` for a saved bundle
    directory: the model as code (:data:`PYFUNC_CODE`, "models from code": nothing is
    pickled), the bundle directory as the artifact ``"bundle"`` and pinned requirements (no
    requirement-inference subprocess). A directory reached through a link (the shipped model's
    ``default_model_dir()``) is given as the directory it names: MLflow refuses a linked
    artifact directory ('resolved path is outside the artifact directory')."""
    return {"python_model": str(PYFUNC_CODE), "artifacts": {"bundle": str(Path(bundle_dir).resolve())},
            "pip_requirements": pip_requirements()}


def pyfunc_input_example(markers: pd.DataFrame, clinical: pd.DataFrame | None, patient_ids,
                         task=None, *, synthetic: bool = True) -> pd.DataFrame:
    """The pyfunc input for some patients: their markers rows with clinical columns repeated.

    JSON-friendly types (nullable integers as float, missing text as ``""``). ``task``
    (:mod:`ca125kinetics.task`; default the ovarian task) names the marker column and the
    clinical predictors. The example is stored with every exported and registered model, so
    for a cohort that is not ``synthetic`` (people's records) it is no patient's: one made-up
    series (days -3, 21, 42, 63, the marker halving) with the cohort's median or most common
    value of each clinical predictor.
    """
    value = "ca125" if task is None else task.marker
    predictors = CLINICAL_PREDICTORS if task is None or task.is_default else task.predictors
    if not synthetic:
        return _json_friendly(_made_up_example(clinical, value, predictors))
    ids = [str(p) for p in patient_ids]
    cols = [c for c in ("patient_id", "day", value, "censored", "uln", "assay", "event") if c in markers.columns]
    rows = markers.loc[markers["patient_id"].astype(str).isin(ids), cols].reset_index(drop=True)
    if clinical is not None:
        clin = clinical.assign(patient_id=clinical["patient_id"].astype(str))
        keep = ["patient_id"] + [c for c in predictors if c in clin.columns]
        rows = rows.merge(clin[keep], on="patient_id", how="left")
    return _json_friendly(rows)


def _made_up_example(clinical: pd.DataFrame | None, value: str, predictors) -> pd.DataFrame:
    """One patient who is nobody: a halving series and the cohort's typical clinical values
    (the median of a measurement, the most common value of a whole-number or text factor, so
    that the example is valid input)."""
    start = {"ca125": 400.0, "cea": 24.0}.get(value, 100.0)
    rows = pd.DataFrame({"patient_id": "example", "day": [-3, 21, 42, 63],
                         value: [start, start / 2, start / 4, start / 8]})
    for c in predictors:
        if clinical is None or c not in clinical.columns:
            continue
        column = clinical[c]
        known = pd.to_numeric(column, errors="coerce").dropna() if pd.api.types.is_numeric_dtype(column) \
            and not pd.api.types.is_bool_dtype(column) else None
        if known is not None and len(known) and not (known == known.round()).all():
            rows[c] = float(known.median())           # a measurement: the median
        elif known is not None:                       # a count or a code (ECOG, residual disease)
            rows[c] = float(known.mode().iloc[0]) if len(known) else np.nan
        else:
            common = column.dropna().astype(str).value_counts()
            rows[c] = common.index[0] if len(common) else ""
    return rows


def _json_friendly(rows: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(index=rows.index)
    for c in rows.columns:
        s = rows[c]
        if c in ("day",):
            out[c] = s.astype(np.int64)
        elif c == "censored":
            out[c] = s.astype(bool)
        elif pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            out[c] = pd.to_numeric(s, errors="coerce").astype(float)
        else:
            out[c] = s.map(lambda v: "" if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA
                           else str(v)).astype(object)
    return out


#: Pyfunc input columns: (name, MLflow type, required). Clinical columns are optional (missing
#: predictors are imputed by the model); ``ca125`` is numeric with ``censored`` flagging "<x".
PYFUNC_INPUT_COLUMNS = (
    ("patient_id", "string", True), ("day", "long", True), ("ca125", "double", True),
    ("censored", "boolean", False), ("uln", "double", False), ("assay", "string", False),
    ("event", "string", False), ("age", "double", False), ("ecog", "double", False),
    ("ascites_ml", "double", False), ("figo_stage", "string", False),
    ("primary_residual_disease", "double", False), ("pfi_months", "double", False),
    ("recurrence_pattern", "string", False), ("recist", "string", False),
)


def pyfunc_input_columns(task=None) -> tuple:
    """Pyfunc input columns ``(name, MLflow type, required)`` of a task: :data:`PYFUNC_INPUT_COLUMNS`
    for the default task; else the task's marker column and declared predictors."""
    if task is None or task.is_default:
        return PYFUNC_INPUT_COLUMNS
    return (("patient_id", "string", True), ("day", "long", True), (task.marker, "double", True),
            ("censored", "boolean", False), ("uln", "double", False), ("assay", "string", False),
            ("event", "string", False), *((c, "double", False) for c in task.numeric),
            *((c, "string", False) for c in task.categorical))


def model_signature(bundle: ModelBundle, input_example: pd.DataFrame):
    """MLflow signature: the declared input schema (:data:`PYFUNC_INPUT_COLUMNS`) and the
    output schema inferred from ``predict.score_frame`` on ``input_example``."""
    import warnings

    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types.schema import ColSpec, Schema

    from .task import bundle_task

    inputs = Schema([ColSpec(kind, name, required=required) for name, kind, required in
                     pyfunc_input_columns(bundle_task(bundle))])
    with warnings.catch_warnings():
        # output integer columns are never enforced, so mlflow's hint about them is moot
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer column",
                                category=UserWarning)
        outputs = infer_signature(input_example, score_frame(bundle, input_example)).outputs
    return ModelSignature(inputs=inputs, outputs=outputs)


def check_export_dir(root: Path) -> None:
    """Refuse an export path that :func:`export_model` would refuse: an existing file, a
    symbolic link (the export replaces the directory, which through a link would be the one it
    names, elsewhere), or a non-empty directory that is not an exported model (called by
    ``train`` before fitting)."""
    if root.is_symlink():
        raise InvalidInputError(f"export path {str(root)!r} is a symbolic link (to {str(root.resolve())!r}); "
                                "give the directory itself, or a new one")
    if not root.exists():
        return
    if not root.is_dir():
        raise InvalidInputError(f"export path {str(root)!r} exists and is not a directory")
    if any(root.iterdir()) and not ((root / MANIFEST_NAME).is_file() or (root / BUNDLE_JSON).is_file()):
        raise InvalidInputError(
            f"export directory {str(root)!r} is not empty and does not look like an exported model "
            "(no MANIFEST.sha256 or bundle.json); choose an empty or new directory")


def export_model(bundle: ModelBundle, out_dir, *, input_example: pd.DataFrame | None = None,
                 model_card: str | None = None) -> Path:
    """Export a bundle: MLflow pyfunc model, model card, metadata and SHA-256 manifest.

    Parameters
    ----------
    bundle : ModelBundle
    out_dir : str or Path
        Created; an existing *exported model* there is replaced (any other non-empty
        directory is refused). The export is made in a hidden directory beside it and renamed
        into place when complete (:func:`ca125kinetics._atomic.atomic_directory`): a failure or
        a stop on the way leaves the earlier export as it was.
    input_example : pandas.DataFrame, optional
        Pyfunc input (:func:`pyfunc_input_example`); with it, the signature is inferred from
        the example and from ``predict.score_frame`` on it.
    model_card : str, optional
        Markdown text; default :func:`default_model_card`. For a bundle trained on synthetic
        data the first line is forced to :data:`SYNTHETIC_FIRST_LINE`.

    Returns
    -------
    Path
        ``out_dir`` (the layout is in the module docstring). The directory passes
        :func:`ca125kinetics.integrity.verify_manifest`.
    """
    import mlflow.pyfunc

    from ._atomic import atomic_directory

    root = Path(out_dir)
    check_export_dir(root)
    signature = model_signature(bundle, input_example) if input_example is not None else None
    text = model_card if model_card is not None else default_model_card(bundle)
    with atomic_directory(root) as made, tempfile.TemporaryDirectory(prefix="ca125-export-") as tmp:
        bundle_dir = save_bundle(bundle, Path(tmp) / "bundle")
        mlflow.pyfunc.save_model(path=str(made / MLFLOW_DIR), signature=signature, input_example=input_example,
                                 **pyfunc_arguments(bundle_dir))
        write_manifest(made / MLFLOW_DIR)   # as a logged model's (log_pyfunc_model)
        shutil.copyfile(bundle_dir / BUNDLE_JSON, made / BUNDLE_JSON)
        (made / MODEL_CARD).write_text(_card_first_line(bundle, text), encoding="utf-8")
        write_manifest(made)
    return root


def log_pyfunc_model(bundle_dir, *, client=None, name: str = "model", signature=None,
                     input_example: pd.DataFrame | None = None):
    """Log a saved bundle directory as the pyfunc model of the active run, under a manifest.

    ``mlflow.pyfunc.log_model`` with :func:`pyfunc_arguments`, then ``MANIFEST.sha256`` of
    every file of the logged model (``MLmodel``, ``_pyfunc_code.py``, the requirements and
    examples, the bundle directory with its own manifest) is added at its root, computed from
    the files as the store holds them (MLflow rewrites ``MLmodel`` while it logs): a changed
    code file of a registered model is then refused by ``ca125kinetics.predict.load_model``
    and by :func:`ca125kinetics.integrity.verify_manifest` on the model's directory, as in an
    exported model. ``client``: the ``MlflowClient`` of the run's store (default: mlflow's
    current tracking URI).

    Returns
    -------
    mlflow.models.model.ModelInfo
    """
    import mlflow
    import mlflow.artifacts
    import mlflow.pyfunc

    info = mlflow.pyfunc.log_model(name=name, signature=signature, input_example=input_example,
                                   **pyfunc_arguments(bundle_dir))
    client = client if client is not None else mlflow.MlflowClient()
    with tempfile.TemporaryDirectory(prefix="ca125-logged-") as tmp:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=info.model_uri, dst_path=tmp,
                                                         tracking_uri=client.tracking_uri))
        client.log_model_artifact(info.model_id, str(write_manifest(local)))
    return info


def _card_first_line(bundle: ModelBundle, text: str) -> str:
    text = text if text.endswith("\n") else text + "\n"
    if bundle.trained_on_synthetic and not text.startswith(SYNTHETIC_FIRST_LINE):
        text = SYNTHETIC_FIRST_LINE + "\n\n" + text
    return text


def default_model_card(bundle: ModelBundle) -> str:
    """A short model card from the bundle's metadata (training writes a fuller one)."""
    s = bundle.training_summary
    lines = [
        f"# Model card: {bundle.name} {bundle.version}",
        "",
        "Research software, not a medical device. Predicts complete resection (no macroscopic "
        "residual disease) at secondary cytoreduction for platinum-sensitive recurrent ovarian cancer.",
        "",
        f"- Model family: {bundle.model_family}; decision threshold {bundle.threshold:g}",
        f"- Training patients: {s.get('n', '?')} ({s.get('events', '?')} complete resections)",
        f"- Data digest (SHA-256): {s.get('data_digest', '?')}",
        f"- Rule settings: GCIG {bundle.gcig_settings.to_json()}; kinetics {bundle.kinetics_settings.to_json()}",
    ]
    return "\n".join(lines) + "\n"
