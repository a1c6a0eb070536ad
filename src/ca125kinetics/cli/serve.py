"""``ca125 serve``: the scoring web page and JSON API (``ca125kinetics.web``)."""

from __future__ import annotations

from ..web.app import serve
from . import add_code_arguments, source_codes_options


def add_serve_arguments(parser) -> None:
    """Add the ``ca125 serve`` options to an argparse parser (see :mod:`ca125kinetics.web.app`)."""
    parser.add_argument("--host", default="127.0.0.1",
                        help="interface to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    parser.add_argument("--model", default=None,
                        help="model directory, bundle.joblib or MLflow URI (default: the shipped model)")
    parser.add_argument("--workers", type=int, default=1,
                        help="worker processes, each loading the model (default 1)")
    parser.add_argument("--log-level", default="warning",
                        choices=["critical", "error", "warning", "info", "debug"],
                        help="server log level (default warning)")
    add_code_arguments(parser, read_in="the FHIR R4 bundles the server is sent (POST /api/score as "
                       "application/fhir+json, and the page's FHIR bundle input; listed by GET /api/model; a bad "
                       "code stops the server before it starts)")


def cli_serve(args) -> int:
    """Handler of ``ca125 serve``: verify and load the model, then serve until interrupted."""
    return serve(host=args.host, port=args.port, model=args.model, workers=args.workers,
                 log_level=args.log_level, **source_codes_options(args))
