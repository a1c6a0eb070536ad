"""FastAPI application behind ``ca125 serve``: a scoring page and a JSON API.

Routes
------
``GET /``
    The page (``index.html`` + ``app.js`` + ``app.css``, self-contained: no CDN). The surgeon
    enters dates (or days) and CA-125 values and the clinical factors; the page draws the
    series and the fitted curve as inline SVG from the JSON the API returns.
``POST /api/score``
    Score one patient (:class:`ScoreRequest` -> :class:`ScoreResponse`); the numbers come from
    :func:`ca125kinetics.predict.predict_many`, the same code path as the Python function, the
    CLI and the MLflow pyfunc model. Concurrent requests are scored together in one vectorised
    pass (:class:`ScoreBatcher`); the result of each is the same as alone.
    With ``Content-Type: application/fhir+json`` the body is a one-patient FHIR R4 Bundle
    (:class:`FhirBodyMiddleware` turns it into the JSON request; header ``X-Skipped-Resources``
    counts the resources not read).
``POST /api/fhir/samples``
    A one-patient FHIR R4 bundle read into samples, treatment start and ULN (the page's
    "FHIR bundle" file input fills the form with them).
``GET /api/model``
    Name, version, threshold and rule settings of the model being served.
``GET /healthz``
    Liveness probe.
``GET /openapi.json``
    OpenAPI description. There is no ``/docs`` or ``/redoc``: FastAPI's Swagger UI and ReDoc
    load their scripts from a CDN, which the page's Content-Security-Policy (scripts from this
    server only) forbids; load ``/openapi.json`` into any OpenAPI viewer instead.

Limits (hostile or malformed input never reaches the scoring code, and never gives a 500)
-----------------------------------------------------------------------------------------
* request body at most :data:`MAX_BODY_BYTES` (413 otherwise, checked while streaming, so a
  missing or lying ``Content-Length`` does not help);
* at most :data:`MAX_SAMPLES` samples; values in the data contract's ranges; unknown fields
  are refused (422 with the field named);
* a patient whose data break the data contract (e.g. two samples on one day) -> 422 with the
  reader's message;
* a body that is not JSON, or is nested too deeply -> 400 / 422;
* request headers must arrive within :data:`HEADER_TIMEOUT_S` seconds and the whole body
  within :data:`BODY_TIMEOUT_S` (408 otherwise: a client trickling bytes cannot hold a
  connection), and the request line plus headers are at most :data:`MAX_HEADER_BYTES`
  (431 otherwise); ``ca125 serve`` runs uvicorn with :class:`GuardedH11Protocol` for these.

Host check (every route, :class:`HostCheckMiddleware`)
-----------------------------------------------------
A request is answered only when its ``Host`` header names this server: ``localhost``,
``127.0.0.1``, ``[::1]`` or the address the connection reached (or the ``--host`` it was started
with), with the port it listens on; or a name the user allowed (``--allowed-host NAME``,
``create_app(allowed_hosts=...)``), on any port. Anything else gets 421 with a message saying
how to reach the page. Without this a web page on another site whose name is made to resolve
to 127.0.0.1 (DNS rebinding) could send patients to the local server and read the answers.

Security headers (every response, errors included, :class:`SecurityHeadersMiddleware`)
-------------------------------------------------------------------------------------
``X-Content-Type-Options: nosniff``; ``Content-Security-Policy`` allowing scripts, styles,
images and requests from this server only, with ``frame-ancestors 'none'`` (the page cannot be
framed); ``Referrer-Policy: no-referrer``; ``Cache-Control: no-store`` (results are patient
data: no browser or proxy keeps a copy).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import re
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

import h11
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from starlette.exceptions import HTTPException as StarletteHTTPException
from uvicorn.protocols.http.h11_impl import H11Protocol

from ..errors import Ca125KineticsError, InvalidInputError, argument_name, arguments_named
from ..io import (
    _STAGE_RE, AGGREGATE_ADVICE, BELOW_LIMIT_ADVICE, CLINICAL_CATEGORIES, CLINICAL_NUMBERS, DAY_RANGE, EMPTY_CELL_ADVICE,
    RECURRENCE_PATTERNS,
)
from ..markers import CA125
from ..settings import RECIST_CATEGORIES
from ..settings import KELIM_FAVOURABLE_SCORE
from ..settings import EVENT_KINDS

__all__ = ["create_app", "app_from_env", "serve", "ScoreBatcher", "ScoreRequest", "ScoreResponse",
           "GuardedH11Protocol", "SecurityHeadersMiddleware", "HostCheckMiddleware", "LOOPBACK_HOSTS",
           "MAX_BODY_BYTES", "MAX_SAMPLES",
           "MAX_HEADER_BYTES", "HEADER_TIMEOUT_S", "BODY_TIMEOUT_S", "SECURITY_HEADERS"]

#: Largest accepted request body, bytes (a 200-sample request is about 10 kB).
MAX_BODY_BYTES = 64 * 1024
#: Most samples accepted in one request.
MAX_SAMPLES = 200
#: Largest request line plus headers, bytes (a browser sends well under 2 kB).
MAX_HEADER_BYTES = 16 * 1024
#: Seconds a client has to send the request line and headers, from its first byte (or from
#: connecting). Slower clients get 408 and the connection is closed.
HEADER_TIMEOUT_S = 10.0
#: Seconds a client has to send the whole request body, from the end of the headers (408).
BODY_TIMEOUT_S = 10.0

#: Headers added to every response (see the module docstring).
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"content-security-policy",
     b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
     b"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
    (b"x-frame-options", b"DENY"),
)

#: Names of this machine that every server answers to (with its port), besides the address
#: the connection reached.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")

_log = logging.getLogger("ca125kinetics.web")

EventKind = Literal[EVENT_KINDS]   # the data contract's event vocabulary


def _clinical_number(name: str, description: str):
    """The schema of a numeric clinical field: the bounds of the readers' rule for it
    (``io.CLINICAL_NUMBERS``), so the API and the validator it feeds cannot drift apart."""
    rule = CLINICAL_NUMBERS[name]
    return Field(None, strict=True, ge=rule.low, le=rule.high, description=description)


def _category(name: str):
    """A before-validator reading a category field as the readers do (``io.CLINICAL_CATEGORIES``:
    stripped, then normalised, e.g. ``"pr"`` is ``PR``; empty text is unknown); the schema
    lists the codes."""
    rule = CLINICAL_CATEGORIES[name]

    def read(cls, v):
        return (rule.normalise(v.strip()) if v.strip() else None) if isinstance(v, str) else v

    return field_validator(name, mode="before")(read)


# --------------------------------------------------------------------------------------
# Request and response models
# --------------------------------------------------------------------------------------


def _iso_date(value):
    """A date of the API as text ``YYYY-MM-DD`` (the data contract's form; pydantic would read a
    number, or text of digits, as Unix seconds). A time of day and offset after it are dropped, as
    the readers drop them (``io._ISO_DATE_RE``): the date as written, so that a request is read as
    ``predict`` or a markers file reads the same text (pydantic refused a time other than 00:00)."""
    from ..io import _ISO_DATE_RE

    if value is None or isinstance(value, _dt.date):
        return value
    m = _ISO_DATE_RE.match(value) if isinstance(value, str) else None
    if m is not None:
        return m.group(1)
    raise ValueError(f"give the date as text YYYY-MM-DD, got {str(value)[:40]!r}")


def _whole(v):
    """A whole number written as a float (``21.0``), as the readers and the MLflow model
    (doubles) take it; ``21.5`` and booleans are still refused."""
    return int(v) if isinstance(v, float) and v.is_integer() else v


class Sample(BaseModel):
    """One CA-125 sample: its day (or date) and value."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    day: int | None = Field(None, strict=True, ge=DAY_RANGE[0], le=DAY_RANGE[1],
                            description="days from the first dose (day 0); pretreatment <= 0")
    date: _dt.date | None = Field(None, description="sample date (ISO); needs treatment_start")
    ca125: float | None = Field(None, strict=True, ge=0, le=CA125.plausible_max, description="CA-125, U/mL")
    censored: bool = Field(False, strict=True, description="the value was reported as '<ca125' (below the assay limit)")
    event: EventKind | None = Field(None, description="procedure on this day (GCIG exclusion window)")
    assay: str | None = Field(None, min_length=1, max_length=64,
                              description="the assay (or laboratory) that measured the sample: a change from the "
                                          "baseline on makes the GCIG response not evaluable, as in a markers table")
    uln: float | None = Field(None, strict=True, ge=CA125.uln_min, le=CA125.uln_max,
                              description="this sample's assay upper limit of normal, U/mL (default: the request's "
                                          "'uln', else the model's GCIG setting)")

    @field_validator("date", mode="before")
    @classmethod
    def _date_text(cls, v):
        return _iso_date(v)

    @field_validator("day", mode="before")
    @classmethod
    def _whole_day(cls, v):
        return _whole(v)

    @model_validator(mode="after")
    def _check(self):
        if (self.day is None) == (self.date is None):
            raise ValueError("give exactly one of 'day' (days from the first dose) or 'date'")
        if self.ca125 is None and self.event is None:
            raise ValueError("'ca125' is required (only an event row may omit it)")
        if self.censored and self.ca125 is None:
            raise ValueError("a censored sample needs its limit in 'ca125' (e.g. 5 for '<5')")
        return self


class Clinical(BaseModel):
    """Clinical factors at recurrence (all optional: unknown factors are imputed by the model)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, regex_engine="python-re")

    age: float | None = _clinical_number("age", "years")
    ecog: int | None = _clinical_number("ecog", "ECOG performance status at recurrence")
    ascites_ml: float | None = _clinical_number("ascites_ml", "ascites volume on imaging, mL")
    figo_stage: str | None = Field(None, max_length=24, pattern=_STAGE_RE.pattern,   # the readers' pattern
                                   description="FIGO stage at diagnosis: I-IV (substages such as IIIC accepted)")
    primary_residual_disease: int | None = _clinical_number(
        "primary_residual_disease", "0 = complete resection at primary surgery, 1 = any residual")
    pfi_months: float | None = _clinical_number("pfi_months", "platinum-free interval, months")
    recurrence_pattern: Literal[RECURRENCE_PATTERNS] | None = Field(
        None, description="single site, multiple sites or carcinomatosis at recurrence (case is ignored)")
    recist: Literal[RECIST_CATEGORIES] | None = Field(
        None, description="RECIST 1.1 response after the neoadjuvant cycles (case is ignored)")

    _recurrence_pattern = _category("recurrence_pattern")
    _recist = _category("recist")

    @field_validator("ecog", "primary_residual_disease", mode="before")
    @classmethod
    def _whole_number(cls, v):
        return _whole(v)

    @field_validator("figo_stage", mode="before")
    @classmethod
    def _stage(cls, v):
        # empty text is unknown, as the readers and the other category fields read it
        return None if isinstance(v, str) and not v.strip() else v


class ScoreRequest(BaseModel):
    """One patient's CA-125 series and clinical factors."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, json_schema_extra={
        "examples": [{
            "patient_id": "example",
            "samples": [{"day": -3, "ca125": 400}, {"day": 21, "ca125": 180}, {"day": 42, "ca125": 95},
                        {"day": 63, "ca125": 40}],
            "clinical": {"age": 61, "ecog": 0, "ascites_ml": 0, "figo_stage": "IIIC",
                         "primary_residual_disease": 0, "pfi_months": 18, "recurrence_pattern": "single",
                         "recist": "PR"},
        }]})

    patient_id: str = Field("patient", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\- ]+$")
    treatment_start: _dt.date | None = Field(None, description="date of the first dose (day 0); needed with dates")
    uln: float | None = Field(None, strict=True, ge=CA125.uln_min, le=CA125.uln_max, description="assay upper limit of normal, U/mL "
                              "(default: the model's GCIG setting, 35)")
    samples: list[Sample] = Field(..., min_length=1, max_length=MAX_SAMPLES,
                                  description=f"the CA-125 series (at most {MAX_SAMPLES} samples)")
    clinical: Clinical = Field(default_factory=Clinical)
    allow_imputed: bool = Field(
        False, strict=True,
        description="decide even when clinical factors are unknown, or there is no CA-125 after the first dose "
                    "for the kinetics (the model imputes them); by default "
                    "such a patient gets status 'insufficient', the probability for information and no decision")

    @field_validator("treatment_start", mode="before")
    @classmethod
    def _date_text(cls, v):
        return _iso_date(v)

    @field_validator("patient_id")
    @classmethod
    def _strip(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("patient_id is blank")
        return v

    @model_validator(mode="after")
    def _dates(self):
        if all(s.ca125 is None for s in self.samples):
            raise ValueError("give at least one CA-125 value (event-only samples cannot be scored)")
        if any(s.date is not None for s in self.samples) and self.treatment_start is None:
            raise ValueError("samples carry dates, so 'treatment_start' (date of the first dose) is required")
        return self


class Point(BaseModel):
    day: float
    ca125: float | None


class ObservedSample(BaseModel):
    day: int
    ca125: float | None
    censored: bool
    event: str | None


class ScoreResponse(BaseModel):
    """The prediction (see :class:`ca125kinetics.predict.Prediction`)."""

    patient_id: str
    notice: str = Field(description="what every output of the model says of it: research software, not a medical "
                                    "device, and, for a model trained on synthetic data, that it was")
    status: str
    reason: str | None
    probability: float | None
    p_low: float | None
    p_high: float | None
    threshold: float
    decision: str
    rule: str
    recommendation: str
    kinetics: dict[str, Any]
    gcig: dict[str, Any]
    progression: dict[str, Any]
    recist: str | None
    combined_category: str | None
    published_scores: dict[str, Any]
    warnings: list[str]
    model: dict[str, Any]
    series: list[ObservedSample]
    curve: list[Point]
    trajectory: dict[str, Any] | None = None


class ErrorResponse(BaseModel):
    detail: Any
    message: str


class _JSONBodyRequest(Request):
    """A request whose JSON body refuses a key given twice in one object
    (:func:`ca125kinetics.sources.fhir.json_unique_keys`): FastAPI answers 422, the key named."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            from ..sources.fhir import json_unique_keys

            body = await self.body()
            try:
                self._json = json.loads(body, object_pairs_hook=json_unique_keys)
            except InvalidInputError as exc:
                text = body.decode("utf-8", "replace")
                at = max(text.rfind(json.dumps(exc.column)), 0)
                raise json.JSONDecodeError(str(exc), text, at) from None
        return self._json


class _JSONBodyRoute(APIRoute):
    """The API's routes: their JSON bodies are read by :class:`_JSONBodyRequest`."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def read_strictly(request: Request):
            return await handler(_JSONBodyRequest(request.scope, request.receive))

        return read_strictly


# --------------------------------------------------------------------------------------
# Conversion to the package's inputs
# --------------------------------------------------------------------------------------


def request_to_inputs(req: ScoreRequest) -> tuple[dict[str, list], dict[str, Any]]:
    """(markers columns, clinical mapping) for :func:`ca125kinetics.predict.predict`.

    Dates become days from ``treatment_start`` (calendar-day difference); a censored value
    is passed with the ``censored`` flag of the markers table (the value is the assay's
    limit, to the last bit). A sample's ``assay`` and ``uln`` are the markers table's columns
    (a sample without a ULN takes the request's ``uln``, else the reader's default), so a
    series scored here is read as the same rows in a file are.
    """
    days, values, events, censored = [], [], [], []
    for s in req.samples:
        day = s.day if s.day is not None else (s.date - req.treatment_start).days
        days.append(day)
        values.append(s.ca125)
        # the flag, not "<x" text: a text would carry the value rounded as formatted
        censored.append(bool(s.censored) and s.ca125 is not None)
        events.append(s.event)
    markers: dict[str, list] = {"patient_id": [req.patient_id] * len(days), "day": days, "ca125": values}
    if any(censored):
        markers["censored"] = censored
    if any(e is not None for e in events):
        markers["event"] = events
    if req.uln is not None or any(s.uln is not None for s in req.samples):
        markers["uln"] = [s.uln if s.uln is not None else req.uln for s in req.samples]
    if any(s.assay is not None for s in req.samples):
        markers["assay"] = [s.assay for s in req.samples]
    clinical = {"patient_id": req.patient_id, **req.clinical.model_dump()}
    return markers, clinical


#: A reader's place of a problem: its row and column, after the table's name (a request's
#: path says the table: ``samples.`` or ``clinical.``)
_ROW_COLUMN = re.compile(r"(?:(?:markers|clinical) table, )?row (\d+), column '([a-z_0-9]+)'")


#: A reader's advice written for a table, and the same advice for a request: a value below the
#: assay's limit is its limit with ``"censored": true`` (the API refuses the table's text
#: ``'<5'``), a sample without a value is left out (a table's empty cell), and two samples on one
#: day are not aggregated (a request cannot name an aggregation: the model's setting applies).
_TABLE_ADVICE = (
    (BELOW_LIMIT_ADVICE, " as the report states it: the limit in 'ca125' with \"censored\": true (e.g. 5 for '<5')"),
    (EMPTY_CELL_ADVICE, ", or remove the sample if none was measured"),
    (AGGREGATE_ADVICE, " (the API takes one sample per day: the model reads samples with the setting it was "
                       "trained with, which aggregates none)"),
)


def _request_terms(reason: str, req: ScoreRequest) -> str:
    """A reader's reason in the request's terms: ``markers table, row 1, column 'day'`` (the markers built
    by :func:`request_to_inputs`, one row per sample, in order) becomes ``samples.1.day`` --
    ``samples.1.date`` when that sample was given by date --, a clinical column
    ``clinical.<name>``; advice written for a table is given for a request (:data:`_TABLE_ADVICE`)."""
    def where(m):
        row, column = int(m.group(1)), m.group(2)
        if column in Clinical.model_fields:
            return f"clinical.{column}"
        if column == "day" and row < len(req.samples) and req.samples[row].date is not None:
            column = "date"
        return f"samples.{row}.{column}"

    for table, request in _TABLE_ADVICE:
        reason = reason.replace(table, request)
    return _ROW_COLUMN.sub(where, reason)


# --------------------------------------------------------------------------------------
# Body size limit (pure ASGI, so it also guards chunked bodies)
# --------------------------------------------------------------------------------------


class BodyLimitMiddleware:
    """Refuse request bodies larger than ``max_bytes`` with 413, before the app reads them,
    and bodies not complete within ``timeout`` seconds with 408 (slow clients)."""

    def __init__(self, app, max_bytes: int = MAX_BODY_BYTES, timeout: float = BODY_TIMEOUT_S):
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = None
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                break
        if declared is not None and (declared < 0 or declared > self.max_bytes):
            await _send_json(send, 413 if declared > self.max_bytes else 400, {
                "detail": "request body too large" if declared > self.max_bytes else "invalid Content-Length",
                "message": (f"request body of {declared} bytes exceeds the limit of {self.max_bytes} bytes; "
                            f"send at most {MAX_SAMPLES} samples" if declared > self.max_bytes
                            else "the Content-Length header is not a valid number"),
            })
            return
        import asyncio

        received = 0
        too_large = False
        too_slow = False
        body_done = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout

        async def limited_receive():
            nonlocal received, too_large, too_slow, body_done
            if body_done:  # after the body, receive() only waits for a disconnect
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), max(deadline - loop.time(), 0.0))
            except asyncio.TimeoutError:
                too_slow = True
                raise _BodyTooLarge() from None
            if message["type"] == "http.request":
                body_done = not message.get("more_body", False)
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    too_large = True
                    raise _BodyTooLarge()
            return message

        started = False

        def refusal():
            if too_slow:
                return 408, {"detail": "request body too slow",
                             "message": f"the request body did not arrive within {self.timeout:g} seconds"}
            return 413, {"detail": "request body too large",
                         "message": f"request body exceeds the limit of {self.max_bytes} bytes; "
                                    f"send at most {MAX_SAMPLES} samples"}

        async def tracking_send(message):
            # once the body overflowed or timed out, whatever the app answers (FastAPI turns
            # the aborted read into a 400) is replaced by the 413 / 408
            nonlocal started
            if too_large or too_slow:
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await _send_json(send, *refusal())
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except Exception:
            if (too_large or too_slow) and not started:
                await _send_json(send, *refusal())
            elif not (too_large or too_slow):
                raise


#: The ASGI scope key of the FHIR reader's notes on a bundle scored by ``POST /api/score``.
_FHIR_NOTES = "ca125kinetics.fhir_notes"


class FhirBodyMiddleware:
    """``POST /api/score`` with ``application/fhir+json``: the FHIR bundle becomes the JSON
    request body (:func:`ca125kinetics.sources.fhir.score_request_from_fhir`); an unreadable
    bundle is a 422 with the reader's message. Runs inside :class:`BodyLimitMiddleware`."""

    def __init__(self, app, codes=None):
        self.app = app
        self.codes = codes or {}        # the reader's drug_codes and event_codes

    async def __call__(self, scope, receive, send):
        headers = dict(scope.get("headers", ())) if scope["type"] == "http" else {}
        kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if scope["type"] != "http" or scope.get("path") != "/api/score" or kind != b"application/fhir+json":
            await self.app(scope, receive, send)
            return
        chunks, more = [], True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        try:
            from ..sources.fhir import score_request_from_fhir

            request, skipped, notes = score_request_from_fhir(b"".join(chunks), max_bytes=MAX_BODY_BYTES,
                                                              **self.codes)
        except Ca125KineticsError as exc:
            await _send_json(send, 422, {"detail": str(exc), "message": str(exc).splitlines()[0]})
            return
        body = json.dumps(request).encode()
        rest = [(k, v) for k, v in scope["headers"] if k not in (b"content-type", b"content-length")]
        scope = dict(scope, headers=rest + [(b"content-type", b"application/json"),
                                            (b"content-length", str(len(body)).encode())])
        scope[_FHIR_NOTES] = notes      # the route puts them first among the result's warnings
        sent = False

        async def replay():
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def tell_skipped(message):
            if message["type"] == "http.response.start":
                message = dict(message, headers=[*message.get("headers", []),
                                                 (b"x-skipped-resources", str(skipped).encode())])
            await send(message)

        await self.app(scope, replay, tell_skipped)


class _BodyTooLarge(Exception):
    pass


async def _send_json(send, status: int, payload: dict) -> None:
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _host_and_port(value: str) -> tuple[str, int | None] | None:
    """``(name, port or None)`` of a ``Host`` header (``name``, ``name:port``, ``[v6]``,
    ``[v6]:port``), the name in lower case without brackets; None when it is not of that form."""
    value = value.strip().lower()
    if value.startswith("["):
        name, bracket, rest = value[1:].partition("]")
        if not bracket:
            return None
    else:
        name, colon, port = value.partition(":")
        rest = colon + port
    if not rest:
        return name, None
    digits = rest[1:]
    if not rest.startswith(":") or not (digits.isascii() and digits.isdigit()) or len(digits) > 5:
        return None
    return name, int(digits)


def check_allowed_hosts(names) -> tuple[str, ...]:
    """The host names a server is allowed to answer to besides this machine's (lower case, an
    IPv6 address without brackets), each checked: a bare name or address, no scheme, path,
    port or wildcard (a name allows every port)."""
    if names is None:
        return ()
    if isinstance(names, str):
        names = [names]
    out = []
    for given in names:
        text = given.strip().lower() if isinstance(given, str) else ""
        if text.startswith("[") and text.endswith("]") or text.count(":") > 1:
            bracketed = text.startswith("[") and text.endswith("]")
            bare, pattern = text[1:-1] if bracketed else text, r"[0-9a-f:.]+"   # an IPv6 address
        else:
            bare, pattern = text, r"[a-z0-9._-]+"                     # a name or an IPv4 address
        if not re.fullmatch(pattern, bare) or bare.strip(".:") == "":
            raise InvalidInputError(
                f"{argument_name('allowed_hosts', 'an allowed host')} {given!r} is not a host name: give the name "
                "only, as it appears in the address bar without scheme, port or path (every port is allowed for "
                "it), e.g. clinic-pc.example.org or 10.0.0.5")
        out.append(bare)
    return tuple(dict.fromkeys(out))


class HostCheckMiddleware:
    """Answer only requests whose ``Host`` header names this server (see the module
    docstring): a loopback name or the address the connection reached (``scope["server"]``),
    or the name the server was bound to (``bound``), each with the port listened on; or one of
    ``allowed_hosts`` on any port. Others get 421 with the API's error body. Pure ASGI, outside
    every route, so one check guards the page, the API and the OpenAPI description alike."""

    def __init__(self, app, allowed_hosts=(), bound=None):
        self.app = app
        self.allowed = frozenset(check_allowed_hosts(allowed_hosts))    # idempotent on checked names
        self.bound = None if bound is None else bound.strip("[]").lower()

    def _accepts(self, host: str, server) -> bool:
        parsed = _host_and_port(host)
        if parsed is None:
            return False
        name, port = parsed
        if name in self.allowed:
            return True
        own = set(LOOPBACK_HOSTS) | ({self.bound} if self.bound else set())
        if server is None:                 # a Unix socket: no port to compare
            return name in own
        own.add(str(server[0]).lower())
        return name in own and (port if port is not None else 80) == server[1]

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        values = [v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"host"]
        server = scope.get("server")
        if len(values) == 1 and self._accepts(values[0], server):
            await self.app(scope, receive, send)
            return
        here = f"{server[1]}" if server else ""
        where = f"http://127.0.0.1:{here}/ or http://localhost:{here}/" if here else "http://localhost/"
        shown = "no Host header" if not values else (
            f"the Host header {values[0][:100]!r}" if len(values) == 1 else "more than one Host header")
        text = (f"this server answers only requests addressed to itself, and this request has {shown}: "
                f"open the page at {where} on the machine that runs it; if that name is one of yours "
                "(a reverse proxy, a name on your network), start the server with --allowed-host NAME "
                "(create_app(allowed_hosts=[NAME]) in Python)")
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await _send_json(send, 421, {"message": text, "detail": text})


class SecurityHeadersMiddleware:
    """Add :data:`SECURITY_HEADERS` to every HTTP response (pure ASGI: also to the refusals
    that the body limit sends before the application runs). A header the application set
    itself is kept."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in SECURITY_HEADERS if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on, and a size limit for, the request headers.

    uvicorn times out idle keep-alive connections but not a client that sends its headers one
    byte at a time ("slowloris"): such a client would hold a connection forever. Here a timer
    starts when the connection opens (and again when the first byte of a following request
    arrives) and is cancelled once h11 has the complete headers; if it fires first the client
    gets ``408 Request Timeout`` and the connection is closed. A request line plus headers
    longer than :attr:`max_header_bytes` gets ``431`` and the connection is closed (h11's own
    limit, ``h11_max_incomplete_event_size``, only applies to headers arriving in pieces).
    """

    header_timeout = HEADER_TIMEOUT_S
    max_header_bytes = MAX_HEADER_BYTES

    def connection_made(self, transport):
        self._header_timer = None
        super().connection_made(transport)
        self._arm_header_timer()

    def _arm_header_timer(self):
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _cancel_header_timer(self):
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def data_received(self, data):
        if self.conn.their_state is h11.IDLE:  # a request line and headers are arriving
            pending = self.conn.trailing_data[0] + data
            end = pending.find(b"\r\n\r\n")
            if (end + 4 if end >= 0 else len(pending)) > self.max_header_bytes:
                self._refuse(b"431 Request Header Fields Too Large",
                             f"request headers exceed {self.max_header_bytes} bytes")
                return
        super().data_received(data)
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self._arm_header_timer()
        else:
            self._cancel_header_timer()

    def on_response_complete(self):
        self._cancel_header_timer()  # the keep-alive timer takes over until the next byte
        super().on_response_complete()

    def connection_lost(self, exc):
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _headers_too_slow(self):
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self._refuse(b"408 Request Timeout", f"request headers did not arrive within {self.header_timeout:g} seconds")

    def send_400_response(self, msg: str) -> None:
        """A request h11 cannot parse (request line, headers, Content-Length): refused as the
        application refuses, not with uvicorn's plain text without the security headers."""
        self._refuse(b"400 Bad Request", f"the request could not be parsed as HTTP/1.1 ({msg})")

    def _refuse(self, status: bytes, text: str) -> None:
        """Answer ``status`` with the API's error body (``message``, ``detail``) and the security
        headers, then close."""
        self._cancel_header_timer()
        body = json.dumps({"message": text, "detail": text}).encode()
        head = [b"HTTP/1.1 " + status, b"content-type: application/json", b"connection: close",
                b"content-length: " + str(len(body)).encode()]
        head += [name + b": " + value for name, value in SECURITY_HEADERS]
        self.transport.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        self.transport.close()


# --------------------------------------------------------------------------------------
# Batching of concurrent requests
# --------------------------------------------------------------------------------------


#: How long the first queued request waits for others to join its batch (seconds): a few
#: milliseconds of waiting buy larger batches, whose per-patient cost is lower (bench_rest:
#: p95 28-37 ms with no window against 28-33 ms with 2 ms, 20 concurrent clients).
BATCH_WINDOW_S = 0.002


class ScoreBatcher:
    """Scores concurrent requests together, in one vectorised pass (``predict_many``).

    The kinetics fit and the model are vectorised over patients, so scoring twenty patients
    costs much less than twenty times one. Requests wait on the server's event loop
    (:meth:`score_async`, no thread per request); the first one schedules a drain
    :data:`BATCH_WINDOW_S` later, which takes what is queued by then (at most ``max_batch``, patient identifiers distinct within a batch),
    scores it in the batcher's one worker thread (the loop stays free: a liveness probe or
    a request's deadline is not held up by a batch being scored; one batch at a time) and
    hands each request its own :class:`Prediction`. Nothing waits for a batch to fill
    beyond that window. A patient's numbers do not depend on the batch
    (see ``ca125kinetics.predict``); they are those of :func:`ca125kinetics.predict.predict`
    (tested). :meth:`score` is the blocking form for other threads (a loop of its own).
    """

    def __init__(self, bundle, *, max_batch: int = 32, timeout: float = 120.0):
        import threading

        self.bundle = bundle
        self.max_batch = max_batch
        self.timeout = timeout
        self._pending: list = []          # touched only on the loop that serves score_async
        self._scheduled = False
        self._thread_loop = None
        self._lock = threading.Lock()
        self._worker = None               # the one thread that scores this batcher's batches

    async def score_async(self, markers: dict, clinical: dict, allow_imputed: bool = False):
        """Score one patient from a coroutine on the serving loop; raises what scoring raises.

        ``allow_imputed`` as in :func:`ca125kinetics.predict.predict` (a batch holds requests
        with the same value)."""
        import asyncio

        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._pending.append((markers, clinical, future, bool(allow_imputed)))
        if not self._scheduled:
            self._scheduled = True
            loop.call_later(BATCH_WINDOW_S, self._drain, loop)
        return await future

    def score(self, markers: dict, clinical: dict, allow_imputed: bool = False):
        """Score one patient from any thread (blocks until its batch is done).

        Requests from threads are batched on an event loop of their own, run by one
        background thread, with a queue of their own (a queue belongs to one loop).
        """
        import asyncio
        import threading

        with self._lock:
            if self._thread_loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="ca125-score-batcher", daemon=True).start()
                self._thread_loop = (loop, ScoreBatcher(self.bundle, max_batch=self.max_batch, timeout=self.timeout))
        loop, batcher = self._thread_loop
        return asyncio.run_coroutine_threadsafe(batcher.score_async(markers, clinical, allow_imputed),
                                                loop).result(timeout=self.timeout)

    def _take(self) -> list:
        batch, held, ids = [], [], set()
        flag = self._pending[0][3] if self._pending else False
        for item in self._pending:
            pid = item[1].get("patient_id")
            if len(batch) < self.max_batch and pid not in ids and item[3] == flag:
                ids.add(pid)
                batch.append(item)
            else:
                held.append(item)  # same identifier, other allow_imputed, or a full batch: the next drain
        self._pending = held
        return batch

    def _drain(self, loop) -> None:
        """Take a batch and score it in the worker thread; its requests are answered, and the
        next batch taken, when it is done (:meth:`_answer`, back on the loop)."""
        from concurrent.futures import ThreadPoolExecutor

        batch = self._take()
        if self._worker is None:
            self._worker = ThreadPoolExecutor(1, thread_name_prefix="ca125-score")
        done = loop.run_in_executor(self._worker, self._outcomes, batch)
        done.add_done_callback(lambda outcomes: self._answer(loop, batch, outcomes))

    def _outcomes(self, batch: list) -> list:
        """Each request's :class:`Prediction` or the error scoring it raised (worker thread)."""
        from ..predict import predict_many

        allow = bool(batch and batch[0][3])
        try:
            return predict_many([(m, c) for m, c, _, _ in batch], model=self.bundle, allow_imputed=allow)
        except Exception:  # one bad item must not fail the others: score them one by one
            out = []
            for m, c, _, _ in batch:
                try:
                    out.append(predict_many([(m, c)], model=self.bundle, allow_imputed=allow)[0])
                except Exception as exc:  # noqa: BLE001 - handed to the waiting request
                    out.append(exc)
            return out

    def _answer(self, loop, batch: list, outcomes) -> None:
        """Hand each request of ``batch`` its outcome (on the loop), then drain what queued meanwhile."""
        try:
            results = outcomes.result()
        except BaseException as exc:  # noqa: BLE001 - the worker itself failed: every request gets it
            results = [exc] * len(batch)
        for (_, _, future, _), result in zip(batch, results):
            if future.done():        # a request cancelled while waiting (client gone)
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)
        if self._pending:
            loop.call_soon(self._drain, loop)
        else:
            self._scheduled = False


# --------------------------------------------------------------------------------------
# Application
# --------------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def _asset(name: str) -> bytes:
    return resources.files("ca125kinetics.web").joinpath(name).read_bytes()


def _interval_description(bundle) -> dict:
    """What ``p_low``-``p_high`` is, for the page: the percentile interval (``level``) of the
    predictions of ``n_members`` copies of the model refitted on bootstrap resamples of the
    development patients (model uncertainty, not the spread of patients' outcomes)."""
    interval = dict(getattr(bundle, "interval", None) or {})
    members = interval.get("members")
    n = len(members) if members is not None else int(interval.get("n_members", 0) or 0)
    return {"method": "bootstrap_percentile", "level": float(interval.get("level", 0.95)), "n_members": n}


#: What to send, said when the body is not a JSON object at all.
_SEND_ONE_OBJECT = ("send one JSON object with 'samples' (and optionally 'clinical', 'uln', 'treatment_start', "
                    "'patient_id', 'allow_imputed'), as described at /openapi.json")


def _is_json_type(content_type: str | None) -> bool:
    """Whether FastAPI reads a body of this ``Content-Type`` as JSON (``application/json`` or
    ``application/*+json``); any other body reaches the schema as bytes."""
    kind = (content_type or "").split(";")[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))


def _body_message(error: dict, content_type: str | None) -> str | None:
    """The message for a body that is not a JSON object at all (wrong ``Content-Type``, empty,
    an array...): what was sent and what to send, in place of pydantic's 'Input should be a
    valid dictionary'; None for any other error."""
    if tuple(error.get("loc", ())) != ("body",) or error.get("type") not in ("model_attributes_type", "missing"):
        return None
    if error.get("type") == "missing":
        return f"body: the request body is empty; {_SEND_ONE_OBJECT}"
    if not _is_json_type(content_type):
        got = f"Content-Type {content_type.split(';')[0].strip()[:60]!r}" if content_type else "no Content-Type"
        return (f"body: the request body must be JSON sent with Content-Type: application/json (got {got}); "
                f"{_SEND_ONE_OBJECT}")
    value = error.get("input")
    kind = ("array" if isinstance(value, list) else "null" if value is None else "string" if isinstance(value, str)
            else "boolean" if isinstance(value, bool) else "number")
    return f"body: the request body must be one JSON object, got a JSON {kind}; {_SEND_ONE_OBJECT}"


def _error_message(errors: list[dict], content_type: str | None = "application/json") -> str:
    """One readable line from pydantic errors: 'samples.2.ca125: Input should be >= 0'
    (``content_type``: the request's, named when a body that is not JSON is refused)."""
    parts = []
    for e in errors[:3]:
        body = _body_message(e, content_type)
        if body is not None:
            parts.append(body)
            continue
        if e.get("type") == "json_invalid":
            where = e.get("loc", ())[-1] if e.get("loc") else "?"
            reason = (e.get("ctx") or {}).get("error", "")
            parts.append(f"the request body is not valid JSON (at character {where}{': ' + reason if reason else ''})")
            continue
        loc = ".".join(_loc_part(x) for x in e.get("loc", ()) if x != "body")
        msg = e.get("msg", "invalid")
        if e.get("type") == "string_pattern_mismatch" and loc.endswith("figo_stage"):
            # the pattern itself is no message for people
            msg = (f"unknown FIGO stage {e.get('input')!r}; use I, II, III or IV (substages such as IIIC "
                   "accepted, 'FIGO' or 'Stage' before it allowed)")
        elif e.get("type") == "string_pattern_mismatch" and loc == "patient_id":
            msg = (f"{str(e.get('input'))[:_LOC_CHARS]!r} has a character the API does not take; use letters A-Z "
                   "and a-z, digits, spaces, '.', '_' and '-' (at most 64 characters)")
        parts.append(f"{loc or 'body'}: {msg}{_quoted_advice(e, loc)}{_field_suggestion(e)}")
    more = f" (+{len(errors) - 3} more)" if len(errors) > 3 else ""
    return "; ".join(parts) + more


def _quoted_advice(error: dict, loc: str) -> str:
    """How to send a number or a flag that came as JSON text (``"ca125": "400"``): 'Input should
    be a valid number' alone did not say that the quotes were the problem, nor, for ``"<5"``,
    how the API takes a value below the assay's limit. The text is not read as a number: the
    fields are strict, so ``"1,5"`` or ``"5 U/mL"`` are never guessed."""
    text = error.get("input")
    kind = error.get("type")
    if kind == "bool_type" and isinstance(text, (int, float)):       # "allow_imputed": 1
        return f", got the number {text!r}: send true or false"
    if kind in ("float_type", "int_type") and isinstance(text, bool):  # "age": true
        return f", got {str(text).lower()}: send a number"
    if kind not in ("float_type", "int_type", "bool_type") or not isinstance(text, str):
        return ""
    shown = repr(text[:20] + ("..." if len(text) > 20 else ""))
    if kind == "bool_type":
        return f", got the text {shown}: send true or false without quotes"
    if loc.endswith("ca125") and text.strip().startswith("<"):
        return (f", got the text {shown}, a value below the assay's limit: send the limit as a number in 'ca125' "
                "with \"censored\": true (e.g. 5 for '<5')")
    whole = " whole" if kind == "int_type" else ""
    return (f", got the text {shown}: send a{whole} JSON number without quotes, with a point as the decimal mark "
            "and no thousands separator or unit (e.g. 420.5)" if not whole else
            f", got the text {shown}: send a whole JSON number without quotes (e.g. 1)")


def _field_suggestion(error: dict) -> str:
    """' (did you mean 'ecog'?)' for an unknown field that is a near miss of a known one."""
    if error.get("type") != "extra_forbidden" or not error.get("loc"):
        return ""
    from ..io import _suggest_columns

    known = {*Sample.model_fields, *Clinical.model_fields, *ScoreRequest.model_fields}
    names = _suggest_columns(str(error["loc"][-1]), sorted(known))
    return f" (did you mean {' or '.join(map(repr, names))}?)" if names else ""


#: Characters of a field name (a client's key) an error repeats; a longer one is cut.
_LOC_CHARS = 64


def _loc_part(part) -> str:
    """A part of an error's location as text, a client's long key cut to :data:`_LOC_CHARS`."""
    text = str(part)
    return text if len(text) <= _LOC_CHARS else text[:_LOC_CHARS] + "..."


def _plain_errors(errors) -> list[dict]:
    """Pydantic errors without echoing the (possibly large or hostile) input back."""
    out = []
    for e in list(errors)[:20]:
        out.append({"loc": [_loc_part(x) for x in e.get("loc", ())], "msg": str(e.get("msg", ""))[:300],
                    "type": str(e.get("type", ""))})
    return out


def _model_notice(bundle) -> str:
    """The bundle's notice: research software, and trained on synthetic data when it was (the
    texts of :mod:`ca125kinetics.predict`, as every recommendation ends)."""
    from ..predict.decision import _notice

    return _notice(bool(getattr(bundle, "trained_on_synthetic", False)))


def create_app(model=None, *, title: str = "ca125kinetics", body_timeout: float = BODY_TIMEOUT_S,
               drug_codes=None, event_codes=None, allowed_hosts=None, bound_host=None) -> FastAPI:
    """Build the FastAPI app serving ``model`` (verified and loaded now, so errors surface early).

    Parameters
    ----------
    model : None, str, Path or ModelBundle
        As :func:`ca125kinetics.predict.load_model` (None: the shipped default model).
    title : str
        Title of the OpenAPI description.
    body_timeout : float
        Seconds a client has to send the request body (408 afterwards).
    drug_codes : mapping of str to str, optional
        The site's further RxNorm codes of the line's drugs in the FHIR bundles it is sent
        (``POST /api/score`` with ``application/fhir+json``, ``POST /api/fhir/samples``), e.g.
        ``{"597195": "carboplatin"}``, as :func:`ca125kinetics.sources.fhir.read_fhir`;
        checked now. ``GET /api/model`` lists the codes read.
    event_codes : mapping of str to str, optional
        The site's further SNOMED CT codes of exclusion events (procedures) in those bundles,
        e.g. ``{"387713003": "surgery"}``, as :func:`~ca125kinetics.sources.fhir.read_fhir`;
        checked now and listed by ``GET /api/model``.
    allowed_hosts : iterable of str, optional
        Further host names (or addresses) the server answers to, on any port: the name of a
        reverse proxy in front of it, or the machine's name on the clinic network. Without
        them only ``localhost``, ``127.0.0.1``, ``[::1]`` and the address a connection reached
        are answered (with the port listened on); any other ``Host`` gets 421
        (:class:`HostCheckMiddleware`: a page of another site cannot reach this one by DNS
        rebinding). A name is given without scheme, port or path.
    bound_host : str, optional
        The address or name the server was told to listen on (``ca125 serve --host``), answered
        to with the port listened on.
    """
    from ..predict import load_model
    from ..sources._codes import exclusion_events, line_drugs
    from ..task import require_default_task

    # refused here, before the model is loaded
    read_codes, read_events = line_drugs(drug_codes), exclusion_events(event_codes)
    allowed_hosts = check_allowed_hosts(allowed_hosts)
    codes = {k: dict(v) for k, v in (("drug_codes", drug_codes), ("event_codes", event_codes)) if v}
    bundle = load_model(model)
    require_default_task(bundle, "the web page and the REST API serve")
    app = FastAPI(
        docs_url=None, redoc_url=None,  # both load scripts from a CDN, which the CSP forbids
        title=f"{title} scoring API",
        version=str(getattr(bundle, "version", "")),
        description=("Probability of complete resection at secondary cytoreduction from the CA-125 "
                     "series during neoadjuvant chemotherapy, with the GCIG CA-125 rules applied. "
                     + _model_notice(bundle)),
    )
    app.router.route_class = _JSONBodyRoute
    app.state.bundle = bundle
    app.state.batcher = ScoreBatcher(bundle)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        errors = exc.errors()
        return JSONResponse(status_code=422, content={
            "detail": _plain_errors(errors), "message": _error_message(errors, request.headers.get("content-type"))})

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        detail = exc.detail
        message = str(detail)
        if exc.status_code == 400 and "parsing the body" in message:
            message = ("the request body could not be parsed as JSON (malformed, or nested too deeply); "
                       "send one JSON object as described at /openapi.json")
        return JSONResponse(status_code=exc.status_code, content={"detail": detail, "message": message},
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Ca125KineticsError)
    async def _package_error(request: Request, exc: Ca125KineticsError):
        return JSONResponse(status_code=422, content={"detail": str(exc), "message": str(exc).splitlines()[0]})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):  # pragma: no cover - defensive
        _log.exception("unexpected error while serving %s", request.url.path)
        return JSONResponse(status_code=500, content={"detail": "internal error",
                                                      "message": "internal error; see the server log"})

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index():
        return Response(_asset("index.html"), media_type="text/html; charset=utf-8")

    @app.get("/static/app.js", include_in_schema=False)
    def script():
        return Response(_asset("app.js"), media_type="text/javascript; charset=utf-8")

    @app.get("/static/app.css", include_in_schema=False)
    def style():
        return Response(_asset("app.css"), media_type="text/css; charset=utf-8")

    @app.get("/healthz", summary="Liveness probe")
    def healthz():
        return {"status": "ok"}

    @app.get("/api/model", summary="The model being served")
    def model_info():
        b = app.state.bundle
        return {
            "name": str(getattr(b, "name", "")), "version": str(getattr(b, "version", "")),
            "family": str(getattr(b, "model_family", "")), "threshold": float(b.threshold),
            "trained_on_synthetic": bool(getattr(b, "trained_on_synthetic", False)), "notice": _model_notice(b),
            "gcig": b.gcig_settings.to_dict(), "kinetics": b.kinetics_settings.to_dict(),
            "kelim_favourable_score": KELIM_FAVOURABLE_SCORE,
            "interval": _interval_description(b),
            "limits": {"max_samples": MAX_SAMPLES, "max_body_bytes": MAX_BODY_BYTES},
            "fhir_drug_codes": dict(read_codes), "fhir_event_codes": dict(read_events),
        }

    @app.post("/api/score", response_model=ScoreResponse, summary="Score one patient",
              responses={413: {"model": ErrorResponse, "description": "request body too large"},
                         422: {"model": ErrorResponse, "description": "invalid input (field or data contract)"}})
    async def score(req: ScoreRequest, request: Request):
        """Probability of complete resection, KELIM-like kinetics, GCIG response and progression,
        published scores and the recommendation for one patient (same code path as ``predict``)."""
        markers, clinical = request_to_inputs(req)
        result = await app.state.batcher.score_async(markers, clinical, req.allow_imputed)
        if result.status == "invalid_input":
            raise InvalidInputError(_request_terms(result.reason or "invalid input", req))
        content = result.to_dict()
        # a FHIR bundle's reader notes (times in two UTC offsets) come before the scoring's
        content["warnings"] = [*request.scope.get(_FHIR_NOTES, ()), *content["warnings"]]
        return JSONResponse(content=content)

    @app.post("/api/fhir/samples", summary="Read a one-patient FHIR R4 bundle into samples",
              responses={413: {"model": ErrorResponse, "description": "request body too large"},
                         422: {"model": ErrorResponse, "description": "not a readable one-patient FHIR R4 bundle"}})
    async def fhir_samples(request: Request):
        """The samples (dates, values, exclusion events), treatment start and ULN of a one-patient
        FHIR R4 bundle, read by the same reader as ``application/fhir+json`` on ``/api/score``;
        the page fills its form with them. ``skipped_resources`` counts what was not read;
        ``warnings`` are the reader's notes on the patient (times in two UTC offsets)."""
        from ..sources.fhir import score_request_from_fhir

        body, skipped, notes = score_request_from_fhir(await request.body(), max_bytes=MAX_BODY_BYTES, **codes)
        return {**body, "skipped_resources": skipped, "warnings": notes}

    app.add_middleware(FhirBodyMiddleware, codes=codes)
    app.add_middleware(BodyLimitMiddleware, max_bytes=MAX_BODY_BYTES, timeout=body_timeout)
    app.add_middleware(HostCheckMiddleware, allowed_hosts=allowed_hosts, bound=bound_host)  # before any route
    app.add_middleware(SecurityHeadersMiddleware)  # added last: outermost, so it sees every response
    return app


def _no_data_warnings_in_the_log() -> None:
    """The serving process shows no :class:`~ca125kinetics.errors.DataQualityWarning`: its text
    names patients, and the server's stderr is its log, which keeps no request. What such a
    warning says about a request reaches the client in the answer instead (the result's
    ``warnings``, from the reader's notes; ``warnings`` of ``/api/fhir/samples``). One filter
    for the process, set before serving (``warnings.catch_warnings`` around each request
    would not be thread-safe: requests are scored in the batcher's thread)."""
    import warnings

    from ..errors import DataQualityWarning

    warnings.filterwarnings("ignore", category=DataQualityWarning)


def app_from_env() -> FastAPI:
    """App factory for multi-process serving: the model comes from ``$CA125_SERVE_MODEL``, the
    FHIR drug and event codes from ``$CA125_SERVE_FHIR_CODES`` (a JSON object of
    ``drug_codes`` and ``event_codes``), the allowed hosts and the address listened on from
    ``$CA125_SERVE_HOSTS`` (a JSON object of ``allowed_hosts`` and ``bound_host``), as
    :func:`serve` sets them."""
    import os

    _no_data_warnings_in_the_log()     # a worker process of ca125 serve --workers N
    codes = os.environ.get("CA125_SERVE_FHIR_CODES")
    hosts = os.environ.get("CA125_SERVE_HOSTS")
    return create_app(os.environ.get("CA125_SERVE_MODEL") or None, **(json.loads(codes) if codes else {}),
                      **(json.loads(hosts) if hosts else {}))


def uvicorn_limits() -> dict:
    """The uvicorn settings that bound what a client can hold: the h11 protocol with the header
    deadline (:class:`GuardedH11Protocol`), the header size limit, the keep-alive timeout."""
    return {"http": GuardedH11Protocol, "h11_max_incomplete_event_size": MAX_HEADER_BYTES, "timeout_keep_alive": 5}


def _url(host: str, port: int) -> str:
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/"


def serve(*, host: str = "127.0.0.1", port: int = 8000, model=None, workers: int = 1,
          log_level: str = "warning", drug_codes=None, event_codes=None, allowed_hosts=None) -> int:
    """Verify and load the model, bind the port, say where it serves, then run the app with
    uvicorn until interrupted.

    With ``workers > 1`` each worker process loads (and verifies) the model itself.
    ``drug_codes``, ``event_codes`` and ``allowed_hosts`` as :func:`create_app`. ``port`` 0
    lets the system choose a free port; the message names the port bound.
    """
    import os
    import sys

    import uvicorn

    if workers < 1:
        raise InvalidInputError(f"{argument_name('workers')} must be at least 1, got {workers}")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        # the socket's bind() refused it only once the model was loaded, with a traceback
        raise InvalidInputError(f"{argument_name('port')} must be a TCP port from 0 to 65535, got {port!r}")
    _no_data_warnings_in_the_log()
    # verify and load once here, so a bad model (or drug code, or host name) fails before serving
    app = create_app(model, drug_codes=drug_codes, event_codes=event_codes, allowed_hosts=allowed_hosts,
                     bound_host=host)
    b = app.state.bundle
    limits = uvicorn_limits()
    if workers == 1:
        config = uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False, **limits)
    else:
        os.environ["CA125_SERVE_MODEL"] = "" if model is None else os.fspath(model)
        os.environ["CA125_SERVE_FHIR_CODES"] = json.dumps(
            {k: dict(v) for k, v in (("drug_codes", drug_codes), ("event_codes", event_codes)) if v})
        os.environ["CA125_SERVE_HOSTS"] = json.dumps(
            {"allowed_hosts": list(check_allowed_hosts(allowed_hosts)), "bound_host": host})
        config = uvicorn.Config("ca125kinetics.web.app:app_from_env", factory=True, host=host, port=port,
                                workers=workers, log_level=log_level, access_log=False, **limits)
    # bound here, before the message: with port 0 the system chooses the port, and the message
    # names the one bound (it said port 0); listening already, so a client that connects on
    # reading it waits in the queue until the server accepts instead of being refused
    sock = config.bind_socket()
    try:
        sock.listen(config.backlog)
        bound = sock.getsockname()[1]
        print(f"ca125 serve: model {getattr(b, 'name', '')} {getattr(b, 'version', '')} on {_url(host, bound)} "
              f"(Ctrl-C to stop). {_model_notice(b)}", file=sys.stderr, flush=True)
        if workers == 1:
            server = uvicorn.Server(config)
            # the app's answers name the API's fields, not the options of the command that started it (the
            # server's tasks inherit the context in which the command named its arguments by its options)
            with arguments_named({}):
                server.run(sockets=[sock])
            if not server.started:
                return 3            # uvicorn.run's exit status when the server could not start
        else:
            from uvicorn.supervisors import Multiprocess

            Multiprocess(config, sockets=[sock]).run()
    except KeyboardInterrupt:       # as uvicorn.run
        pass
    finally:
        sock.close()
    return 0
