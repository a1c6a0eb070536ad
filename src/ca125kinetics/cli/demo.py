"""``ca125 demo``: run the main job end to end on the embedded synthetic defaults."""

from __future__ import annotations

from pathlib import Path

from ..demo import DEFAULT_COHORT, run


def add_demo_arguments(parser) -> None:
    """Options of ``ca125 demo`` (and ``python -m ca125kinetics.demo``)."""
    parser.add_argument("--cohort", type=Path, default=DEFAULT_COHORT,
                        help="directory with markers.csv and clinical.csv (default: the committed synthetic cohort)")
    parser.add_argument("--out", type=Path, default=Path("out"), help="output directory (default ./out)")
    parser.add_argument("--tracking-uri", default=None, help="MLflow tracking URI (default sqlite:///./mlflow.db)")
    parser.add_argument("--config", type=Path, default=None, help="training config (default training/default.toml)")


def cli_demo(args) -> int:
    """Handler of ``ca125 demo``: the main job end to end; returns the exit code."""
    return run(cohort=args.cohort, out=args.out, tracking_uri=args.tracking_uri, config=args.config)
