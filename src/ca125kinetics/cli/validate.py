"""``ca125 validate``: validate a frozen model on a cohort and write an HTML report."""

from __future__ import annotations

import dataclasses
import os
import sys

from .._atomic import file_set
from ..errors import InvalidInputError, require_rows
from ..features import build_patient_frame
from ..io import read_clinical, read_markers, setting_uln, write_table
from ..predict import load_model
from ..task import require_default_task
from ..scores import with_model_provenance
from ..settings import kelim_cutoff
from ..tracking import quiet_mlflow
from ..validation.report import headline_figures, log_to_mlflow, write_report
from ..validation.studies import _OUTCOME, _describe_source, check_n_jobs, check_seed, optimism_bootstrap, validate_model
from . import (add_format_arguments, add_kelim_cutoff_argument, add_progress_argument, format_options,
               markers_options, progress_wanted)
from ._workers import stop_workers_on_interrupt


def add_validate_arguments(parser) -> None:
    """Arguments of ``ca125 validate``."""
    parser.add_argument("--model", required=True,
                        help="exported model directory, bundle.joblib, or MLflow model URI (models:/name@alias)")
    parser.add_argument("--markers", required=True, help="markers table (.csv or .parquet) or a FHIR R4 bundle (.json)")
    parser.add_argument("--clinical", required=True,
                        help="clinical table with complete_resection (and pfs_months/pfs_event for survival)")
    parser.add_argument("--out", required=True, help="output HTML report, e.g. report.html")
    parser.add_argument("--title", help="report title")
    parser.add_argument("--predictions", metavar="FILE.csv",
                        help="also write every patient's prediction, outcome, inclusion and subgroups (with "
                             "the rules and package version that produced them), as CSV, Parquet or JSON by "
                             "the suffix (.csv, .parquet, .json)")
    parser.add_argument("--tables", metavar="DIR",
                        help="also write every table of the report as CSV into DIR (metrics.csv, threshold.csv, "
                             "flow.csv, exclusions.csv, comparison.csv, decision_curve.csv, subgroups.csv, "
                             "survival_*.csv, ...; each with the rules and package version)")
    parser.add_argument("--bootstrap", type=int, default=0, metavar="N",
                        help="also run Harrell's optimism-corrected bootstrap with N resamples, refitting the "
                             "model's pipeline on this cohort (internal validation; default 0 = off)")
    parser.add_argument("--seed", type=int, default=None, help="bootstrap seed (default 0; with --bootstrap)")
    parser.add_argument("--n-jobs", type=int, default=None,
                        help="bootstrap worker processes (default 2, -1 all cores; with --bootstrap)")
    add_progress_argument(parser)
    parser.add_argument("--tracking-uri",
                        help="log metrics and the report to this MLflow tracking URI (default: "
                             "MLFLOW_TRACKING_URI when set)")
    parser.add_argument("--experiment", default="ca125-validation", help="MLflow experiment name")
    add_kelim_cutoff_argument(parser)
    add_format_arguments(parser)


def cli_validate(args) -> int:
    """Handler of ``ca125 validate``: validate, optionally bootstrap, write (and log) the report."""
    if args.bootstrap < 0:
        raise InvalidInputError(f"--bootstrap must be >= 0, got {args.bootstrap}")
    _check_bootstrap_options(args)                  # refused before the work, not after it
    cutoff = kelim_cutoff(args.kelim_cutoff)        # refused before the work
    bundle = load_model(args.model)
    require_default_task(bundle, "ca125 validate validates")     # before the tables are read
    if not str(args.out).lower().endswith((".html", ".htm")):  # refuse before the work, not after
        raise InvalidInputError(f"--out {args.out!r}: the validation report is HTML; give a name ending in .html "
                                "(a PDF can be printed from it in a browser)")
    predictions_format = None
    if args.predictions:
        from ._output import format_for_out

        predictions_format = format_for_out(   # decided (or refused) before the work, not after
            args.predictions, None, {"": "csv", ".csv": "csv", ".parquet": "parquet", ".pq": "parquet",
                                     ".json": "json"}, option="--predictions")
    if args.tables and os.path.exists(args.tables) and not os.path.isdir(args.tables):
        raise InvalidInputError(f"--tables {args.tables!r} is a file; give a directory for the report's CSV tables")
    # the tables are read once, as the options say (dates, number format, column names)
    fmt = format_options(args)
    # the outcome column is required here, where the file is named (validate_model gets a frame)
    clin = read_clinical(args.clinical, on_error="flag", require=("patient_id", _OUTCOME), **fmt)
    require_rows(clin, args.clinical, "clinical")
    markers = read_markers(args.markers, clinical=clin, uln=setting_uln(args.markers, float(bundle.gcig_settings.uln)),
                           on_error="flag",
                           duplicates=bundle.gcig_settings.duplicates, **markers_options(args))
    result = validate_model(markers, clin, model=bundle, kelim_cutoff=cutoff)
    result = dataclasses.replace(result, source={**result.source, "markers": _describe_source(args.markers),
                                                 "clinical": _describe_source(args.clinical)})
    if args.bootstrap:
        frame = build_patient_frame(markers, clin, gcig_settings=bundle.gcig_settings,
                                    kinetics_settings=bundle.kinetics_settings)
        pred = result.predictions[result.predictions["included"]]
        frame = frame.set_index(frame["patient_id"].astype(str)).loc[pred["patient_id"].astype(str)]
        with stop_workers_on_interrupt():
            opt = optimism_bootstrap(bundle, frame.reset_index(drop=True),
                                     pred["complete_resection"].to_numpy(dtype=int), n_boot=args.bootstrap,
                                     seed=args.seed, progress=progress_wanted(args), n_jobs=args.n_jobs)
        result = result.with_optimism(opt)
    tables = {name: _stamped(frame, bundle) for name, frame in result.tables().items()}
    with file_set():    # the report, predictions and tables of one validation replaced together, or none
        path = write_report(result, args.out, title=args.title)
        if args.predictions:
            written = write_table(_stamped(result.predictions, bundle), args.predictions, fmt=predictions_format)
            print(f"wrote {len(result.predictions)} patient prediction(s) to {written}", file=sys.stderr)
        if args.tables:
            _write_tables(tables, args.tables)
    tracking_uri = args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    logging_on = bool(tracking_uri)
    if logging_on:
        with quiet_mlflow():
            log_to_mlflow(result, path, tracking_uri=tracking_uri, experiment=args.experiment, tables=tables)
    m = result.metrics
    print(f"validated {result.model['name']} {result.model['version']} on {m.n} patient(s) "
          f"({m.n_events} complete resections; {len(result.exclusions)} excluded): {headline_figures(result)}")
    if result.optimism is not None:
        o = result.optimism
        print(f"optimism-corrected ({o.n_boot} resamples, {o.n_failed} failed): AUC {o.corrected('auc'):.3f}, "
              f"calibration slope {o.corrected('calibration_slope'):.2f}")
    if getattr(bundle, "trained_on_synthetic", False):
        print(SYNTHETIC_NOTE)
    print(f"wrote {path}")
    if logging_on:
        print(f"logged metrics and report to MLflow experiment {args.experiment!r}", file=sys.stderr)
    return 0


#: What ``ca125 validate`` prints after its figures when the model was trained on synthetic data.
SYNTHETIC_NOTE = ("model trained on synthetic data: these figures describe how it does on this cohort, not a model "
                  "fitted to patients; research software, not a medical device")


def _check_bootstrap_options(args) -> None:
    """Refuse ``--seed``/``--n-jobs`` without ``--bootstrap`` (read and ignored otherwise), and a
    bad seed or number of workers before the cohort is validated; fill in their defaults."""
    given = [f"--{name.replace('_', '-')}" for name in ("seed", "n_jobs") if getattr(args, name) is not None]
    if given and not args.bootstrap:
        raise InvalidInputError(f"{' and '.join(given)} set(s) the optimism bootstrap, which runs only with "
                                "--bootstrap N: add --bootstrap N, or leave them out")
    args.seed = check_seed(0 if args.seed is None else args.seed)
    args.n_jobs = check_n_jobs(2 if args.n_jobs is None else args.n_jobs)


def _stamped(frame, bundle):
    """A table of the study as written: ``trained_on_synthetic`` (the model's, on every row, as
    the score tables carry it), then the provenance columns
    (:func:`~ca125kinetics.scores.with_model_provenance`)."""
    synthetic = bool(getattr(bundle, "trained_on_synthetic", False))
    return with_model_provenance(frame.assign(trained_on_synthetic=synthetic), bundle)


def _write_tables(tables, directory) -> None:
    """Every table of the report (``ValidationResult.tables``, stamped) as ``DIR/<name>.csv``."""
    from pathlib import Path

    out = Path(directory)
    for name, frame in tables.items():
        write_table(frame, out / f"{name}.csv", fmt="csv")
    print(f"wrote {len(tables)} table(s) to {out}", file=sys.stderr)
