"""Web page and JSON API for scoring one patient (``ca125 serve``).

:func:`create_app` builds the FastAPI application: the page ``/`` where a surgeon enters the
CA-125 series and clinical factors and sees the plotted series with the fitted curve, the GCIG
verdict, the probability and the recommendation; ``POST /api/score`` (the same numbers as
:func:`ca125kinetics.predict.predict`, through the same code path); the OpenAPI description at
``/openapi.json`` and ``/docs``. FastAPI is imported only when this subpackage's functions run,
so ``import ca125kinetics`` and ``ca125 score`` stay fast.
"""

from __future__ import annotations

__all__ = ["create_app"]


def create_app(model=None, **kwargs):
    """The FastAPI application (see :func:`ca125kinetics.web.app.create_app`)."""
    from .app import create_app as _create_app

    return _create_app(model, **kwargs)
