"""``ca125 serve``: the scoring web page and JSON API (``ca125kinetics.web``)."""

from __future__ import annotations

from ..web.app import serve
from . import add_code_arguments, source_codes_options


def add_serve_arguments(parser) -> None:
    """Add the ``ca125 serve`` options to an argparse parser (see :mod:`ca125kinetics.web.app`)."""
    parser.add_argument("--host", default="127.0.0.1",
                        help="interface to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000,
                        help="TCP port (default 8000; 0: a free port chosen by the system, printed at start)")
    parser.add_argument("--allowed-host", dest="allowed_hosts", action="append", default=[], metavar="NAME",
                        help="a further host name the server answers to, on any port (repeatable): the name of a "
                        "reverse proxy in front of it or of this machine on your network. Without it only "
                        "localhost, 127.0.0.1, [::1] and the address listened on are answered; a request "
                        "naming another host gets 421 (a page of another site cannot reach the server by DNS "
                        "rebinding)")
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
                 log_level=args.log_level, allowed_hosts=args.allowed_hosts, **source_codes_options(args))
