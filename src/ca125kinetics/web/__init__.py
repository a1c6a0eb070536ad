"""Web page and JSON API for scoring one patient (``ca125 serve``).

:func:`create_app` builds the FastAPI application: the page ``/`` where a surgeon enters the
CA-125 series and clinical factors and sees the plotted series with the fitted curve, the GCIG
verdict, the probability and the recommendation; ``POST /api/score`` (the same numbers as
:func:`ca125kinetics.predict.predict`, through the same code path); the OpenAPI description at
``/openapi.json`` and ``/docs``. FastAPI is imported only when this subpackage's functions run,
so ``import ca125kinetics`` and ``ca125 score`` stay fast.
"""

from __future__ import annotations

__all__ = ["create_app", "add_serve_arguments", "cli_serve"]


def create_app(model=None, **kwargs):
    """The FastAPI application (see :func:`ca125kinetics.web.app.create_app`)."""
    from .app import create_app as _create_app

    return _create_app(model, **kwargs)


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


def cli_serve(args) -> int:
    """Handler of ``ca125 serve``: verify and load the model, then serve until interrupted."""
    from .app import serve

    return serve(host=args.host, port=args.port, model=args.model, workers=args.workers,
                 log_level=args.log_level)
