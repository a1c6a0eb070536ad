"""``ca125 train``: train and compare complete-resection classifiers, tracked in MLflow."""

from __future__ import annotations

import argparse
import os

from ..tracking import quiet_mlflow
from ..train import DEFAULT_NAME, format_summary, train
from . import add_format_arguments, add_progress_argument, progress_wanted, format_options
from ._workers import stop_workers_on_interrupt


def add_train_arguments(parser) -> None:
    """Arguments of ``ca125 train`` ."""
    parser.add_argument("--markers", required=True, help="markers table (.csv or .parquet)")
    parser.add_argument("--clinical", required=True,
                        help="clinical table with the outcome column complete_resection (.csv or .parquet)")
    parser.add_argument("--config", default=None,
                        help="training configuration: the path of a TOML file, or the name 'default' "
                             "(the built-in configuration, identical to training/default.toml; also used "
                             "when --config is not given)")
    parser.add_argument("--tracking-uri", default=None,
                        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db in "
                             "the working directory)")
    parser.add_argument("--name", default=DEFAULT_NAME,
                        help=f"experiment and registered model name (default {DEFAULT_NAME})")
    parser.add_argument("--out", default=None, help="export directory (default models/<name>)")
    parser.add_argument("--synthetic", action=argparse.BooleanOptionalAction, default=None,
                        help="mark the model as trained on synthetic data or not (default: synthetic when a "
                             "params.json of `ca125 synth` lies beside the markers file and the tables are the "
                             "cohort it describes; beside other tables the run is refused until this is given)")
    add_progress_argument(parser)
    add_format_arguments(parser, codes=False)


def cli_train(args) -> int:
    """Handler of ``ca125 train``: train, then print the summary table on stdout."""
    if args.tracking_uri:
        os.environ["MLFLOW_TRACKING_URI"] = args.tracking_uri
    with quiet_mlflow(), stop_workers_on_interrupt():
        result = train(args.markers, args.clinical, config=args.config, tracking_uri=args.tracking_uri,
                       name=args.name, out_dir=args.out, progress=progress_wanted(args), synthetic=args.synthetic,
                       read_options=format_options(args))
    print(format_summary(result))
    return 0
