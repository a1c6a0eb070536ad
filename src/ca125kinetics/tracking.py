"""MLflow tracking of a training run: parent run, child runs, plots, registered model.

Sixth step of the pipeline (... -> models -> **tracking** -> predict -> ...). mlflow is
imported only inside these functions.

Tracking store (**Decision**)
    ``--tracking-uri`` / ``tracking_uri=`` if given, else the ``MLFLOW_TRACKING_URI``
    environment variable, else ``sqlite:///<cwd>/mlflow.db`` (a local SQLite database in the
    working directory, path made absolute). The deprecated file store (``./mlruns``, ``file:``
    URIs or plain paths) is refused. For a SQLite store, a new experiment keeps its
    artifacts in ``mlartifacts/`` next to the database file; other stores use the server's
    default artifact location.

Concurrent runs
    MLflow creates (and migrates) a new SQLite database on first use, without a lock: two runs
    starting at once on a new file both try to create the tables and one fails ("duplicate
    column name"). :func:`open_store` therefore holds an exclusive lock on ``<database>.lock``
    (``fcntl.flock``; ``msvcrt.locking`` on Windows) while the store is created and the
    experiment found or created, and :func:`log_training` holds it again while the model
    version is registered. A tracking server needs no lock.

Interrupted runs
    A run interrupted while it logs (Ctrl-C, or SIGTERM, which ``ca125 train`` turns into the
    same interruption) is ended with status ``KILLED`` (any other error: ``FAILED``), never
    left ``RUNNING``. Only a hard kill (SIGKILL, power loss) can leave a run ``RUNNING``.

What one training logs
    * one **parent run** (experiment = the model name): every setting as a param (training
      config, GCIG and kinetics rule settings including the ``k_ref`` used and its source,
      the data digest, counts and exclusions, the selected family and the reason), the
      selected model's metrics and the landmark models' (``landmark.<key>.<metric>``), tables
      (CV folds, CV summary, final comparison, predictions, exclusions, landmarks) and plots (ROC, calibration, score comparison) as artifacts, the model
      card, and the selected model as an MLflow **pyfunc model** with signature and input
      example and a ``MANIFEST.sha256`` of all its files
      (:func:`ca125kinetics.mlflow_model.log_pyfunc_model`), registered under the model name
      with the alias ``champion`` (aliases, not the deprecated stages);
    * one **child run per model family and per published score**: its hyperparameters, mean
      and sd of the CV metrics, per-fold AUC (metric ``cv_auc`` with ``step`` = fold index)
      and its metrics in the final comparison.

    The store is opened ahead (:func:`open_tracking`, during cross-validation) and the
    logging is batched (see :func:`log_training`): a few store calls instead of one per
    value or file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pandas as pd

from .errors import InvalidInputError, check_stop, hide_password
from .settings import TRACKING_DB

__all__ = ["resolve_tracking_uri", "artifact_location", "open_tracking", "TrackingStore", "store_lock",
           "log_training", "quiet_mlflow", "CHAMPION_ALIAS", "figures"]

#: Registry alias of the model a training run selects.
CHAMPION_ALIAS = "champion"
_DB_NAME = TRACKING_DB


def resolve_tracking_uri(tracking_uri: str | None = None) -> str:
    """The tracking URI to use (see the module docstring), SQLite paths made absolute.

    Raises
    ------
    InvalidInputError
        A file-store URI or a plain path (deprecated MLflow file store), a SQLite file in a
        directory that does not exist, or a scheme MLflow has no store for (``sqlit://``).
    """
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{_DB_NAME}"
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file") or (len(parsed.scheme) == 1 and os.name == "nt"):
        raise InvalidInputError(
            f"tracking URI {uri!r} is a file store, which MLflow has deprecated; use a database, e.g. "
            f"--tracking-uri sqlite:///{_DB_NAME} (the default), or a tracking server http://host:5000")
    if parsed.scheme == "sqlite":
        path = uri[len("sqlite:///"):] if uri.startswith("sqlite:///") else ""
        if not path or path == ":memory:":
            raise InvalidInputError(f"SQLite tracking URI {uri!r} needs a database file, e.g. sqlite:///{_DB_NAME}")
        database = Path(path).expanduser().resolve()
        if not database.parent.is_dir():
            raise InvalidInputError(f"SQLite tracking URI {uri!r}: the directory {str(database.parent)!r} does "
                                    "not exist (SQLite creates the database file, not its directory); create "
                                    "it or give another path")
        return "sqlite:///" + str(database)
    if parsed.scheme.split("+")[0] not in _SERVER_SCHEMES:
        raise InvalidInputError(
            f"tracking URI {uri!r}: unknown scheme {parsed.scheme!r}; use sqlite:///FILE.db, a tracking server "
            f"http(s)://host:port, or a database URI with one of {sorted(_SERVER_SCHEMES - {'http', 'https'})}")
    return uri


#: URI schemes (before any ``+driver``) of the stores MLflow tracks and registers models in,
#: besides SQLite.
_SERVER_SCHEMES = frozenset({"http", "https", "postgresql", "mysql", "mssql", "databricks", "databricks-uc", "uc"})


@contextlib.contextmanager
def store_lock(tracking_uri: str):
    """Hold an exclusive inter-process lock on ``<database>.lock`` for a SQLite tracking URI
    (blocks until the lock is free); nothing for other stores. See "Concurrent runs" above."""
    if not tracking_uri.startswith("sqlite:///"):
        yield
        return
    lock_path = Path(tracking_uri[len("sqlite:///"):] + ".lock")
    with open(lock_path, "a+b") as handle:
        if os.name == "nt":  # pragma: no cover - Windows
            import msvcrt

            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)
            try:
                yield
            finally:
                handle.seek(0)
                msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def artifact_location(tracking_uri: str) -> str | None:
    """Artifact root of new experiments: ``mlartifacts/`` next to a SQLite database, else None
    (the server decides)."""
    if tracking_uri.startswith("sqlite:///"):
        return (Path(tracking_uri[len("sqlite:///"):]).parent / "mlartifacts").as_uri()
    return None


@contextlib.contextmanager
def quiet_mlflow():
    """Silence MLflow's informational logging, progress bars and known warnings (CLI only).

    Restores the previous logger levels and environment on exit. Tests do not use this;
    they filter the specific warnings they expect.
    """
    import mlflow  # noqa: F401 - configures its loggers on import; override them afterwards

    loggers = [logging.getLogger(name) for name in ("mlflow", "alembic", "alembic.runtime.migration")]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        with no_artifact_bars(), warnings.catch_warnings():
            # UserWarning, FutureWarning and pandas' deprecations raised inside mlflow's own code
            warnings.filterwarnings("ignore", module=r"mlflow(\.|$)")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


@contextlib.contextmanager
def no_artifact_bars():
    """No MLflow artifact progress bars ("Downloading artifacts") within the block
    (``MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR``, restored on exit): for :func:`quiet_mlflow` and
    a ``train(progress=False)``."""
    previous = os.environ.get("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR")
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", None)
        else:
            os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = previous


# ---------------------------------------------------------------------------- figures


def figures(result) -> dict[str, Any]:
    """Matplotlib figures of a training result: ``roc.png``, ``calibration.png``,
    ``score_comparison.png`` (presentation only; numbers come from the result)."""
    from .validation.metrics import calibration_curve, roc_curve_frame
    from .validation.plots import calibration_figure, roc_figure

    pred = result.predictions
    y = pred["y"].to_numpy(dtype=int)
    ev = result.evaluation.set_index("model")
    where = result.evaluation_set
    curves = {}
    for model in [result.selected] + [f for f in result.config.families if f != result.selected]:
        roc = roc_curve_frame(y, pred[f"p_{model}"].to_numpy(dtype=float))
        label = f"{model}{' (selected)' if model == result.selected else ''}, AUC {ev.loc[model, 'auc']:.3f}"
        curves[label] = (roc["fpr"], roc["sensitivity"])
    labels = {"ago": "AGO", "imodel": "iMODEL", "mskcc": "MSKCC"}
    for score in result.config.task.comparators:
        s = pred[score].to_numpy(dtype=float)
        ok = ~pd.isna(s)
        roc = roc_curve_frame(y[ok], s[ok])
        curves[f"{labels.get(score, score)}, AUC {ev.loc[score, 'auc']:.3f}"] = (
            roc["fpr"], roc["sensitivity"])
    out = {"roc.png": roc_figure(curves, title=f"ROC, {where} patients (n = {len(y)})")}
    p = pred["p_selected"].to_numpy(dtype=float)
    out["calibration.png"] = calibration_figure(calibration_curve(y, p), p[y == 1], p[y == 0],
                                                title=f"Calibration of {result.selected}, {where} patients")
    out["score_comparison.png"] = _comparison_figure(result.evaluation, where)
    return out


def _comparison_figure(evaluation: pd.DataFrame, where: str):
    from matplotlib.figure import Figure

    from .validation.plots import PALETTE

    rows = evaluation.iloc[::-1]
    fig = Figure(figsize=(6.0, 0.45 * len(rows) + 1.2), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    y = range(len(rows))
    colours = [PALETTE[0] if kind == "model" else PALETTE[1] for kind in rows["kind"]]
    auc = rows["auc"].to_numpy(dtype=float)
    err = [auc - rows["auc_ci_low"].to_numpy(dtype=float), rows["auc_ci_high"].to_numpy(dtype=float) - auc]
    ax.errorbar(auc, list(y), xerr=err, fmt="none", ecolor="#555555", capsize=3, lw=1)
    ax.scatter(auc, list(y), c=colours, zorder=3)
    labels = [f"{m}{' *' if sel else ''}" for m, sel in zip(rows["model"], rows["selected"])]
    ax.set_yticks(list(y), labels)
    ax.axvline(0.5, color="#999999", lw=1, ls="--")
    ax.set(xlabel="AUC with 95 % CI (DeLong)", title=f"Models (blue) vs published scores (orange), {where}",
           xlim=(min(0.45, float(min(rows['auc_ci_low'])) - 0.02), 1.0))
    ax.grid(alpha=0.25, axis="x")
    return fig


# ---------------------------------------------------------------------------- logging


def _experiment_id(client, name: str, tracking_uri: str) -> str:
    from mlflow.exceptions import MlflowException

    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    try:
        return client.create_experiment(name, artifact_location=artifact_location(tracking_uri))
    except MlflowException:                    # created meanwhile by a concurrent training
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment.experiment_id


@dataclasses.dataclass(frozen=True)
class TrackingStore:
    """An open tracking store: its URI, an ``MlflowClient`` and the experiment's id."""

    uri: str
    client: Any
    experiment_id: str


def open_tracking(tracking_uri: str | None, name: str) -> TrackingStore:
    """Open the tracking store and the experiment ``name`` (created if new), ahead of logging.

    The slow part of logging that does not depend on the training result: importing mlflow
    and its SQL store, creating or migrating a new SQLite database (about 50 schema
    migrations, 5-10 s), and importing matplotlib for the plots. :func:`ca125kinetics.train.train`
    runs it in a background thread while the models are cross-validated, and passes the
    result to :func:`log_training`.
    """
    import mlflow  # noqa: F401 - the imports logging needs, loaded here
    import mlflow.pyfunc  # noqa: F401
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401 - for the plots
    from matplotlib.figure import Figure  # noqa: F401
    from mlflow.tracking import MlflowClient

    from mlflow.exceptions import MlflowException

    from sqlalchemy.exc import SQLAlchemyError   # mlflow's own dependency

    uri = resolve_tracking_uri(tracking_uri)
    with store_lock(uri):        # concurrent first runs on one new SQLite file must not race
        try:
            # a database store connects in the client's constructor (SQLAlchemy's errors)
            client = MlflowClient(tracking_uri=uri)
            return TrackingStore(uri, client, _experiment_id(client, name, uri))  # creates/migrates a new database
        except (MlflowException, SQLAlchemyError) as exc:   # e.g. a server that is down or a wrong address
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InvalidInputError(hide_password(
                f"tracking URI {uri!r}: the tracking store could not be opened ({first[:300]}); check the "
                "address and that the server is running, or track locally with --tracking-uri "
                f"sqlite:///{_DB_NAME}")) from None


def _params(result) -> dict[str, str]:
    bundle = result.bundle
    params = dict(result.config.to_params())
    params.update(bundle.gcig_settings.to_params())
    params.update(bundle.kinetics_settings.to_params())
    params.update({
        "data.digest_sha256": result.data_digest, "data.n_patients": str(result.n_patients),
        "data.n_used": str(result.n_used), "data.n_events": str(result.n_events),
        "data.n_development": str(result.n_development), "data.n_holdout": str(result.n_holdout),
        "data.events_per_parameter": f"{result.bundle.training_summary['sample_size']['events_per_parameter']:.2f}",
        "data.n_excluded": str(int(result.exclusions["n"].sum())),
        "data.exclusions": json.dumps(dict(zip(result.exclusions["reason"], result.exclusions["n"].astype(int).tolist()))),
        "data.trained_on_synthetic": str(bundle.trained_on_synthetic),
        "data.synthetic_source": result.synthetic_source, "data.missing": json.dumps(result.missing),
        # how the tables were read (separator, decimal mark, date format, renamed columns): the
        # card's command to reproduce states them too; "{}" when read as the contract writes them
        "data.read_options": json.dumps(result.read_options, sort_keys=True),
        "k_ref.value": str(result.k_ref["value"]), "k_ref.choice": str(result.k_ref["choice"]),
        "k_ref.source": result.k_ref["source"],
        "selection.selected": result.selected, "selection.reason": result.selection_reason,
        "recalibration.applied": str(result.recalibration["applied"]),
        "recalibration.intercept": str(result.recalibration["intercept"]),
        "recalibration.slope_applied": str(result.recalibration["slope"]),
        "model.version": bundle.version, "evaluation_set": result.evaluation_set,
    })
    # MLflow limits a param value to 6000 characters
    return {k: v if len(v) <= 6000 else v[:5997] + "..." for k, v in params.items()}


def _child_metrics(result, model: str) -> dict[str, float]:
    summary = result.cv_summary.set_index("model").loc[model]
    out = {f"cv_{m}_{stat}": float(summary[f"{m}_{stat}"])
           for m in ("auc", "brier", "citl", "calibration_slope") for stat in ("mean", "sd")}
    row = result.evaluation.set_index("model").loc[model]
    prefix = "holdout" if result.evaluation_set == "held-out" else "oof"
    for column, value in row.items():
        if column not in ("kind", "selected", "recalibrated") and pd.notna(value):
            out[f"{prefix}_{column}"] = float(value)
    return out


def log_training(result, *, tracking_uri: str | None = None, name: str, input_example: pd.DataFrame,
                 model_card: str, store: TrackingStore | None = None) -> dict[str, str]:
    """Log a :class:`~ca125kinetics.train.TrainingResult` to MLflow and register its model.

    Parameters
    ----------
    result : TrainingResult
    tracking_uri : str, optional
        See :func:`resolve_tracking_uri`.
    name : str
        Experiment and registered model name.
    input_example : pandas.DataFrame
        Pyfunc input example (``bundle.pyfunc_input_example``).
    model_card : str
        Markdown model card, logged as ``model_card.md``.
    store : TrackingStore, optional
        The store opened ahead by :func:`open_tracking` (then ``tracking_uri`` is not used).

    Returns
    -------
    dict
        ``tracking_uri``, ``run_id`` (parent), ``model_uri`` (``models:/<name>@champion``),
        ``registered_version``.

    Notes
    -----
    Batched: the parent's params and metrics go in one ``log_batch``; each child run is
    created with its tags, gets one ``log_batch`` and is closed (three store calls); the
    tables, configuration, model card and plots are written to one directory, logged with
    one ``log_artifacts``. Each store call of a SQLite store is a committed transaction
    (a disk sync), so the number of calls, not the amount logged, sets the time.
    """
    import mlflow
    from mlflow.entities import Metric, Param
    from mlflow.tracking.context.registry import resolve_tags

    from .bundle import save_bundle
    from .mlflow_model import log_pyfunc_model, model_signature

    store = store if store is not None else open_tracking(tracking_uri, name)
    client, experiment_id = store.client, store.experiment_id
    mlflow.set_tracking_uri(store.uri)
    tags = {"ca125kinetics.synthetic": str(result.bundle.trained_on_synthetic),
            "ca125kinetics.selected": result.selected}
    with _parent_run(mlflow, experiment_id=experiment_id, run_name=f"train {name}", tags=tags) as parent:
        run_id = parent.info.run_id
        stamp = int(time.time() * 1000)
        metrics = dict(result.metrics())
        metrics.update({f"time_{stage}_s": seconds for stage, seconds in result.timings.items()})
        client.log_batch(run_id, metrics=[Metric(k, float(v), stamp, 0) for k, v in metrics.items()],
                         params=[Param(k, v) for k, v in _params(result).items()])
        for model, kind in result.cv_summary[["model", "kind"]].itertuples(index=False):
            params = {"kind": kind, "model": model}
            if kind == "model":
                params.update({f"hp.{k}": json.dumps(v) if isinstance(v, list) else str(v)
                               for k, v in result.config.hyperparameters(model).items()})
                if model == result.selected:
                    params.update({"recalibration.applied": str(result.recalibration["applied"])})
            folds = result.cv_folds[result.cv_folds["model"] == model]
            child_metrics = [Metric(k, v, stamp, 0) for k, v in _child_metrics(result, model).items()]
            child_metrics += [Metric("cv_auc", float(v), stamp, i) for i, v in enumerate(folds["auc"])]
            # the tags a nested mlflow.start_run gives (user, source, parent), without its
            # per-call overhead
            child_tags = resolve_tags({"mlflow.parentRunId": run_id, "ca125kinetics.kind": kind,
                                       "ca125kinetics.selected": str(model == result.selected)})
            child = client.create_run(experiment_id, tags=child_tags, run_name=model)
            client.log_batch(child.info.run_id, metrics=child_metrics,
                             params=[Param(k, v) for k, v in params.items()])
            client.set_terminated(child.info.run_id)
        with tempfile.TemporaryDirectory(prefix="ca125-mlflow-") as tmp:
            tmp = Path(tmp)
            files = tmp / "run"
            (files / "tables").mkdir(parents=True)
            (files / "plots").mkdir()
            tables = {"cv_folds.csv": result.cv_folds, "cv_summary.csv": result.cv_summary,
                      "evaluation.csv": result.evaluation, "predictions.csv": result.predictions,
                      "oof_predictions.csv": result.oof_predictions, "exclusions.csv": result.exclusions}
            if getattr(result, "landmarks", None) is not None:
                tables["landmarks.csv"] = result.landmarks
            for file, table in tables.items():
                table.to_csv(files / "tables" / file, index=False, lineterminator="\n")
            (files / "config.json").write_text(json.dumps(result.config.to_dict(), indent=2, sort_keys=True,
                                                          default=str))
            (files / "model_card.md").write_text(model_card, encoding="utf-8")
            for file, fig in figures(result).items():
                fig.savefig(files / "plots" / file, dpi=110, metadata={"Software": None})
            client.log_artifacts(run_id, str(files))
            bundle_dir = save_bundle(result.bundle, tmp / "bundle")
            info = log_pyfunc_model(bundle_dir, client=client, signature=model_signature(result.bundle, input_example),
                                    input_example=input_example)
        check_stop()    # a run asked to stop registers no champion (ended KILLED), even if the interruption was lost
        with store_lock(store.uri):
            version = _register(client, name, info, run_id, result.bundle)
        return {"tracking_uri": store.uri, "run_id": run_id, "model_uri": f"models:/{name}@{CHAMPION_ALIAS}",
                "registered_version": version}


@contextlib.contextmanager
def _parent_run(mlflow, **kwargs):
    """``mlflow.start_run(**kwargs)`` that ends the run as ``KILLED`` when interrupted (Ctrl-C,
    or SIGTERM turned into an interruption by ``ca125 train``); other errors end it ``FAILED``."""
    from .errors import caused_by_interrupt

    with mlflow.start_run(**kwargs) as run:
        try:
            yield run
        except BaseException as exc:
            if caused_by_interrupt(exc):
                mlflow.end_run("KILLED")
            raise


def _register(client, name: str, info, run_id: str, bundle) -> str:
    """Register the logged model as a new version of ``name`` and point ``champion`` at it.

    The client API is used rather than ``log_model(registered_model_name=...)``, which prints
    to stderr unconditionally.
    """
    from mlflow.exceptions import MlflowException

    try:
        from .task import bundle_task

        client.create_registered_model(name, description=f"ca125kinetics: probability of "
                                                         f"{bundle_task(bundle).description}. Research software.")
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
            raise
    tags = {"ca125kinetics.model_version": bundle.version, "ca125kinetics.synthetic": str(bundle.trained_on_synthetic),
            "ca125kinetics.family": bundle.model_family}
    version = client.create_model_version(name=name, source=info.model_uri, run_id=run_id, tags=tags,
                                          model_id=info.model_id)
    client.set_registered_model_alias(name, CHAMPION_ALIAS, str(version.version))
    return str(version.version)
