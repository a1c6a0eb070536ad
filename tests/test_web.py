"""Tests of the web API (web/app.py) with FastAPI's TestClient: the happy path, the same numbers
as ``predict``, bad payloads -> 4xx (never 500) with a clear message, the OpenAPI description."""

from __future__ import annotations

import importlib
import json
import threading

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings, strategies as st

from ca125kinetics.cli.serve import add_serve_arguments
from ca125kinetics.web import create_app
from ca125kinetics.errors import DataQualityWarning
from ca125kinetics.web.app import (MAX_BODY_BYTES, MAX_HEADER_BYTES, MAX_SAMPLES, SECURITY_HEADERS,
                                   BodyLimitMiddleware, GuardedH11Protocol, ScoreBatcher, ScoreRequest,
                                   request_to_inputs, uvicorn_limits)
from test_predict import CLINICAL, WORKED, build_small_model

P = importlib.import_module("ca125kinetics.predict")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_small_model(tmp_path_factory.mktemp("web") / "model")[0]


@pytest.fixture(scope="module")
def client(model_dir):
    with TestClient(create_app(model_dir), raise_server_exceptions=False) as c:
        yield c


def _request(**changes):
    body = {"patient_id": "w1", "samples": [{"day": d, "ca125": v} for d, v in zip(WORKED["day"], WORKED["ca125"])],
            "clinical": dict(CLINICAL)}
    body.update(changes)
    return body


def test_score_returns_the_numbers_of_predict(client, model_dir):
    resp = client.post("/api/score", json=_request())
    assert resp.status_code == 200, resp.text
    data = resp.json()
    alone = P.predict({"patient_id": "w1", **WORKED}, dict(CLINICAL, patient_id="w1"), model=model_dir)
    assert data == json.loads(json.dumps(alone.to_dict()))
    assert data["gcig"]["status"] == "response" and data["gcig"]["confirmation_day"] == 63
    assert data["decision"] in ("resectable", "not_resectable")
    assert len(data["curve"]) == 51 and data["curve"][0]["day"] == 0
    assert [s["day"] for s in data["series"]] == WORKED["day"]


@pytest.mark.parametrize("field", ["figo_stage", "recurrence_pattern", "recist"])
def test_an_empty_category_is_unknown_as_predict_reads_it(client, model_dir, field):
    """figo_stage "" was refused (422, a pattern error) where predict, the CLI and the API's other
    category fields read empty text as unknown."""
    clinical = dict(CLINICAL, **{field: ""})
    resp = client.post("/api/score", json=_request(clinical=clinical))
    assert resp.status_code == 200, resp.text
    alone = P.predict({"patient_id": "w1", **WORKED}, dict(clinical, patient_id="w1"), model=model_dir)
    assert resp.json() == json.loads(json.dumps(alone.to_dict()))


def test_an_unknown_figo_stage_is_named_in_words_not_by_the_pattern(client):
    """An API client sent figo_stage "3" and got the reader's regular expression as the message."""
    resp = client.post("/api/score", json=_request(clinical=dict(CLINICAL, figo_stage="3")))
    assert resp.status_code == 422
    assert resp.json()["message"] == ("clinical.figo_stage: unknown FIGO stage '3'; use I, II, III or IV (substages "
                                      "such as IIIC accepted, 'FIGO' or 'Stage' before it allowed)")


def test_a_figo_stage_written_in_full_is_read_as_the_readers_read_it(client):
    # 'FIGO stage IIIA1(ii)' (20 characters) is a FIGO 2014 substage; the API took 12 at most
    resp = client.post("/api/score", json=_request(clinical=dict(CLINICAL, figo_stage="FIGO stage IIIA1(ii)")))
    assert resp.status_code == 200, resp.text
    same = client.post("/api/score", json=_request(clinical=dict(CLINICAL, figo_stage="III"))).json()
    assert resp.json()["probability"] == same["probability"]


def test_dates_are_days_from_treatment_start(client):
    by_day = client.post("/api/score", json=_request()).json()
    dates = [{"date": d, "ca125": v} for d, v in zip(["2025-03-03", "2025-03-24", "2025-04-14", "2025-05-05"],
                                                     WORKED["ca125"])]
    by_date = client.post("/api/score", json=_request(treatment_start="2025-03-03", samples=dates)).json()
    assert by_date["probability"] == by_day["probability"]
    assert [s["day"] for s in by_date["series"]] == [0, 21, 42, 63]


def test_censored_value_and_uln(client):
    samples = [{"day": -2, "ca125": 300}, {"day": 21, "ca125": 80}, {"day": 42, "ca125": 20},
               {"day": 63, "ca125": 5, "censored": True}]
    data = client.post("/api/score", json=_request(samples=samples, uln=30.0)).json()
    assert data["series"][-1] == {"day": 63, "ca125": 5.0, "censored": True, "event": None}
    assert data["gcig"]["uln"] == 30.0 and data["gcig"]["category"] == "CR"
    assert any("below the assay limit" in w for w in data["warnings"])


def test_a_censored_value_is_scored_to_the_last_bit_as_predict_scores_it(client, model_dir):
    """A censored 35.000001 was passed on as the text '<35' (format 'g', 6 digits): at ULN 35
    the confirming value became 'within the normal range', the category CR instead of PR, and
    every number differed from predict's and ca125 score's."""
    from ca125kinetics.predict import predict

    samples = [{"day": -5, "ca125": 400}, {"day": 21, "ca125": 150}, {"day": 49, "ca125": 35.000001, "censored": True}]
    data = client.post("/api/score", json=_request(samples=samples)).json()
    alone = predict({"patient_id": "w1", "day": [-5, 21, 49], "ca125": [400, 150, "<35.000001"]}, dict(CLINICAL),
                    model=model_dir)
    assert data["series"][-1]["ca125"] == 35.000001
    assert data["gcig"]["category"] == alone.gcig["category"] == "PR"
    assert data["probability"] == alone.probability


def test_model_info_page_and_assets(client):
    info = client.get("/api/model").json()
    assert info["name"] == "test-small" and info["threshold"] == 0.70 and info["trained_on_synthetic"] is True
    assert info["limits"] == {"max_samples": MAX_SAMPLES, "max_body_bytes": MAX_BODY_BYTES}
    # what the page needs to explain the interval and the KELIM-like groups
    assert info["interval"] == {"method": "bootstrap_percentile", "level": 0.95, "n_members": 5}
    assert info["kelim_favourable_score"] == 1.0
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for element in ('id="score-form"', 'id="verdict"', 'id="probability"', 'id="recommendation"', 'id="plot"',
                    "Research software, not a medical device"):
        assert element in page.text
    assert "http://" not in page.text and "https://" not in page.text  # no CDN: works offline
    js = client.get("/static/app.js")
    assert js.status_code == 200 and "fetch(\"/api/score\"" in js.text and "innerHTML" not in js.text
    assert client.get("/static/app.css").status_code == 200
    assert client.get("/healthz").json() == {"status": "ok"}


def test_model_information_says_research_software_and_synthetic(client):
    """GET /api/model (and the OpenAPI description, which carries the model's version) said
    trained_on_synthetic: true in no words; every output of the model says what the
    recommendation ends with, in the package's own texts."""
    from types import SimpleNamespace

    from ca125kinetics.web.app import _model_notice

    notice = f"{P.DISCLAIMER} {P.SYNTHETIC_NOTE}"
    assert client.get("/api/model").json()["notice"] == notice
    assert client.get("/openapi.json").json()["info"]["description"].endswith(notice)
    assert _model_notice(SimpleNamespace(trained_on_synthetic=False)) == P.DISCLAIMER
    # and every score, in a field of its own (a client showing only the probability and the
    # decision had the notice only at the end of the recommendation)
    scored = client.post("/api/score", json=_request()).json()
    assert scored["notice"] == notice and scored["recommendation"].endswith(notice)
    assert "notice" in client.get("/openapi.json").json()["components"]["schemas"]["ScoreResponse"]["required"]


def test_openapi_describes_the_api_and_its_limits(client):
    spec = client.get("/openapi.json").json()
    assert set(spec["paths"]) >= {"/api/score", "/api/model", "/healthz"}
    post = spec["paths"]["/api/score"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/ScoreRequest")
    samples = spec["components"]["schemas"]["ScoreRequest"]["properties"]["samples"]
    assert samples["maxItems"] == MAX_SAMPLES and samples["minItems"] == 1
    assert {"413", "422"} <= set(post["responses"])
    # Swagger UI and ReDoc load scripts from a CDN, which the CSP forbids: not served
    assert client.get("/docs").status_code == 404 and client.get("/redoc").status_code == 404


HEADERS = {"content-type": "application/json"}

BAD = [
    ("not json", b"{not json", 422, "the request body is not valid JSON (at character 1: Expecting property"),
    ("empty", b"", 422, "body: the request body is empty"),
    ("array", b"[1, 2]", 422, "must be one JSON object, got a JSON array"),
    ("no samples", b'{"samples": []}', 422, "at least 1 item"),
    ("nan", b'{"samples": [{"day": 0, "ca125": NaN}]}', 422, "finite number"),
    ("infinity", b'{"samples": [{"day": 0, "ca125": Infinity}]}', 422, "finite number"),
    ("negative", b'{"samples": [{"day": 0, "ca125": -5}]}', 422, "greater than or equal to 0"),
    ("string value", b'{"samples": [{"day": 0, "ca125": "12"}]}', 422, "valid number"),
    ("bool ecog", b'{"samples": [{"day": 0, "ca125": 5}], "clinical": {"ecog": true}}', 422, "valid integer"),
    ("fractional day", b'{"samples": [{"day": 1.5, "ca125": 5}]}', 422, "valid integer"),
    ("day out of range", b'{"samples": [{"day": 5000, "ca125": 5}]}', 422, "less than or equal to 1830"),
    ("unknown field", b'{"samples": [{"day": 0, "ca125": 5}], "evil": 1}', 422, "evil: Extra inputs"),
    ("unknown stage", b'{"samples": [{"day": 0, "ca125": 5}], "clinical": {"figo_stage": "V"}}', 422, "figo_stage"),
    ("unknown substage", b'{"samples": [{"day": 0, "ca125": 5}], "clinical": {"figo_stage": "IA9"}}', 422,
     "clinical.figo_stage"),
    ("script id", b'{"patient_id": "<script>", "samples": [{"day": 0, "ca125": 5}]}', 422, "patient_id"),
    ("day and date", b'{"samples": [{"day": 0, "date": "2024-01-01", "ca125": 5}]}', 422, "exactly one of"),
    ("dates without start", b'{"samples": [{"date": "2024-01-01", "ca125": 5}]}', 422, "treatment_start"),
    ("event only", b'{"samples": [{"day": 0, "event": "surgery"}]}', 422, "at least one CA-125 value"),
    ("duplicate day", b'{"samples": [{"day": 0, "ca125": 5}, {"day": 0, "ca125": 6}]}', 422,
     "two or more CA-125 samples on day 0"),
    ("dates far out", b'{"treatment_start": "1900-01-01", "samples": [{"date": "2024-01-01", "ca125": 5}]}', 422,
     "outside the plausible range"),
    ("too many samples", json.dumps({"samples": [{"day": d, "ca125": 50.0} for d in range(MAX_SAMPLES + 1)]}).encode(),
     422, f"at most {MAX_SAMPLES} items"),
    # JSON keeps the last of two equal keys: the first value would be dropped without a word
    ("key twice in a sample", b'{"samples": [{"day": 0, "ca125": 400, "ca125": 4}]}', 422,
     "'ca125' is given twice"),
    ("key twice in clinical", b'{"samples": [{"day": 0, "ca125": 5}], "clinical": {"ecog": 0, "ecog": 3}}', 422,
     "'ecog' is given twice"),
    # a number is not a date (pydantic reads 1706572800 and "1706572800" as Unix seconds)
    ("date as a number", b'{"treatment_start": "2024-01-01", "samples": [{"date": 1706572800, "ca125": 5}]}', 422,
     "samples.0.date: Value error, give the date as text YYYY-MM-DD"),
    ("date as digits", b'{"treatment_start": "2024-01-01", "samples": [{"date": "1706572800", "ca125": 5}]}', 422,
     "samples.0.date: Value error, give the date as text YYYY-MM-DD"),
    ("start as a number", b'{"treatment_start": 1706572800, "samples": [{"date": "2024-01-01", "ca125": 5}]}', 422,
     "treatment_start: Value error, give the date as text YYYY-MM-DD"),
    ("deep nesting", b"[" * 20000 + b"]" * 20000, 400, "could not be parsed"),
    ("huge integer", b'{"samples": [{"day": ' + b"9" * 5000 + b', "ca125": 5}]}', 400, "could not be parsed"),
    ("text/plain", b'{"samples": [{"day": 0, "ca125": 5}]}', 422, "sent with Content-Type: application/json"),
]


@pytest.mark.parametrize("name, body, status, message", BAD, ids=[b[0] for b in BAD])
def test_bad_payloads_get_4xx_with_a_clear_message(client, name, body, status, message):
    headers = {"content-type": "text/plain"} if name == "text/plain" else HEADERS
    resp = client.post("/api/score", content=body, headers=headers)
    assert resp.status_code == status, resp.text
    assert message in resp.json()["message"]


def test_oversized_bodies_are_refused_and_the_server_keeps_serving(client):
    big = b'{"samples": [' + b'{"day": 1, "ca125": 5},' * 20000 + b'{"day": 2, "ca125": 5}]}'
    assert len(big) > MAX_BODY_BYTES
    resp = client.post("/api/score", content=big, headers=HEADERS)
    assert resp.status_code == 413 and "exceeds the limit" in resp.json()["message"]

    def chunks():  # no Content-Length: counted while streaming
        yield b'{"samples": ['
        for _ in range(20000):
            yield b'{"day": 1, "ca125": 5},'
        yield b"]}"

    resp = client.post("/api/score", content=chunks(), headers=HEADERS)
    assert resp.status_code == 413
    resp = client.post("/api/score", content=b"{}", headers={**HEADERS, "content-length": "abc"})
    assert resp.status_code == 400
    assert client.post("/api/score", json=_request()).status_code == 200


def test_concurrent_requests_are_batched_and_each_gets_its_own_answer(model_dir):
    bundle = P.load_model(model_dir)
    batcher = ScoreBatcher(bundle)
    series = {f"p{i}": {"patient_id": [f"p{i}"] * 4, "day": [-1, 21, 42, 63],
                        "ca125": [300.0 + 50 * i, 150.0 + 10 * i, 80.0, 40.0 + i]} for i in range(8)}
    results: dict[str, object] = {}

    def work(pid):
        results[pid] = batcher.score(series[pid], {"patient_id": pid, "age": 50.0 + len(pid)})

    threads = [threading.Thread(target=work, args=(pid,)) for pid in series]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert set(results) == set(series)
    for pid, result in results.items():
        alone = P.predict(series[pid], {"patient_id": pid, "age": 50.0 + len(pid)}, model=bundle)
        assert result.patient_id == pid
        assert result.gcig["baseline_value"] == series[pid]["ca125"][0]
        assert result.probability == pytest.approx(alone.probability, rel=1e-7)
    # the same identifier twice is never put in one batch
    twice = [None, None]

    def same(i):
        twice[i] = batcher.score(series["p0"], {"patient_id": "p0"})

    pair = [threading.Thread(target=same, args=(i,)) for i in range(2)]
    for t in pair:
        t.start()
    for t in pair:
        t.join(60)
    assert twice[0].probability == twice[1].probability


def test_serve_arguments_default_to_loopback():
    import argparse

    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    args = parser.parse_args([])
    assert (args.host, args.port, args.model, args.workers) == ("127.0.0.1", 8000, None, 1)
    assert args.allowed_hosts == []
    args = parser.parse_args(["--allowed-host", "a.example", "--allowed-host", "b.example"])
    assert args.allowed_hosts == ["a.example", "b.example"]


# ----------------------------------------------------------------------------- hardening


@pytest.mark.parametrize("method,path,kwargs", [
    ("get", "/", {}), ("get", "/static/app.js", {}), ("get", "/api/model", {}), ("get", "/healthz", {}),
    ("get", "/openapi.json", {}), ("get", "/no-such-page", {}),
    ("post", "/api/score", {"json": _request()}),
    ("post", "/api/score", {"json": {"samples": []}}),
    ("post", "/api/score", {"content": b"x" * (MAX_BODY_BYTES + 1), "headers": HEADERS}),
])
def test_every_response_carries_the_security_headers(client, method, path, kwargs):
    resp = getattr(client, method)(path, **kwargs)
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["referrer-policy"] == "no-referrer"
    assert resp.headers["cache-control"] == "no-store"
    csp = resp.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert {name.decode() for name, _ in SECURITY_HEADERS} <= set(resp.headers)


def _run_asgi(app, scope, messages, *, hang_after=None):
    """Run an ASGI app on ``messages``; after ``hang_after`` messages receive() never returns."""
    import asyncio

    sent = []

    async def main():
        queue = list(messages)

        async def receive():
            if hang_after is not None and len(messages) - len(queue) >= hang_after:
                await asyncio.Event().wait()
            return queue.pop(0) if queue else {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)

        await app(scope, receive, send)

    asyncio.run(main())
    return sent


def test_a_body_that_trickles_in_gets_408():
    reached = []

    async def app(scope, receive, send):  # reads the whole body, like FastAPI
        while True:
            message = await receive()
            if not message.get("more_body"):
                break
        reached.append(True)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    scope = {"type": "http", "method": "POST", "path": "/api/score", "headers": [(b"content-length", b"100")]}
    first = {"type": "http.request", "body": b"{", "more_body": True}
    sent = _run_asgi(BodyLimitMiddleware(app, timeout=0.05), scope, [first], hang_after=1)
    assert sent[0]["status"] == 408 and not reached
    assert b"did not arrive within 0.05 seconds" in sent[1]["body"]
    # a body that arrives is served normally
    whole = [first, {"type": "http.request", "body": b"}", "more_body": False}]
    assert _run_asgi(BodyLimitMiddleware(app, timeout=5), scope, whole)[0]["status"] == 200 and reached


@pytest.fixture()
def live_server(model_dir):
    """uvicorn on a free loopback port with the limits of ``ca125 serve`` (header deadline 0.3 s)."""
    import socket
    import time

    import uvicorn

    class QuickGuard(GuardedH11Protocol):
        header_timeout = 0.3

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    limits = dict(uvicorn_limits(), http=QuickGuard)
    server = uvicorn.Server(uvicorn.Config(create_app(model_dir), log_level="critical", **limits))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield sock.getsockname()
    server.should_exit = True
    thread.join(30)
    sock.close()


def _exchange(address, data: bytes) -> bytes:
    import socket

    with socket.create_connection(address) as conn:
        conn.settimeout(30)  # a guard against a hang, not a limit being tested
        conn.sendall(data)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _exchange_in_pieces(address, pieces) -> bytes:
    import socket

    with socket.create_connection(address) as conn:
        conn.settimeout(30)
        try:
            for piece in pieces:
                conn.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server refused and closed before the last piece
        chunks = []
        try:
            while chunk := conn.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            pass
    return b"".join(chunks)


def test_slow_headers_get_408_and_the_connection_is_closed(live_server):
    reply = _exchange(live_server, b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # headers never finish
    assert reply.startswith(b"HTTP/1.1 408") and b"x-content-type-options: nosniff" in reply


@pytest.mark.parametrize("request_bytes, status", [
    (b"POST /api/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: abc\r\n\r\n{}",
     b"400"),
    (b"NOT AN HTTP REQUEST\r\n\r\n", b"400"),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * (MAX_HEADER_BYTES + 10) + b"\r\n\r\n", b"431"),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\n", b"408"),
])
def test_a_refusal_before_the_application_is_json_with_the_security_headers(live_server, request_bytes, status):
    """docs/web.md: every refusal is JSON with 'message' and 'detail', and every response
    carries the security headers; also what the server refuses before the application runs
    (a bad Content-Length or request line reached uvicorn's plain-text 400 without them)."""
    reply = _exchange(live_server, request_bytes)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 " + status)
    assert b"x-content-type-options: nosniff" in head.lower() and b"content-security-policy" in head.lower()
    assert b"content-type: application/json" in head.lower()
    answer = json.loads(body)
    assert set(answer) == {"message", "detail"} and answer["message"]


def test_oversized_headers_are_refused_and_normal_requests_are_served(live_server):
    big = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * (MAX_HEADER_BYTES + 10) + b"\r\n\r\n"
    assert _exchange(live_server, big).startswith(b"HTTP/1.1 431")
    trickled = _exchange_in_pieces(live_server, [big[:9000], big[9000:]])
    assert trickled.startswith(b"HTTP/1.1 431") or trickled.startswith(b"HTTP/1.1 400")
    host = b"Host: 127.0.0.1:%d\r\n" % live_server[1]
    ok = _exchange(live_server, b"GET /healthz HTTP/1.1\r\n" + host + b"Connection: close\r\n\r\n")
    assert ok.startswith(b"HTTP/1.1 200") and ok.endswith(b'{"status":"ok"}')
    # a body larger than the header limit, sent with the headers in one piece, is not headers
    body = json.dumps(_request()).encode() + b" " * (2 * MAX_HEADER_BYTES)
    post = _exchange(live_server, b"POST /api/score HTTP/1.1\r\n" + host + b"Connection: close\r\n"
                     b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode()
                     + b"\r\n\r\n" + body)
    assert post.startswith(b"HTTP/1.1 200") and b'"patient_id":"w1"' in post


def _ask(address, host: bytes | None, method: bytes = b"GET", path: bytes = b"/api/model", body: bytes = b""):
    """(status, JSON answer) of one request with the Host header ``host`` (None: none at all)."""
    head = method + b" " + path + b" HTTP/1.1\r\n" + (b"" if host is None else b"Host: " + host + b"\r\n")
    if body:
        head += b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
    reply = _exchange(address, head + b"Connection: close\r\n\r\n" + body)
    status, _, rest = reply.partition(b"\r\n")
    return int(status.split()[1]), json.loads(rest.partition(b"\r\n\r\n")[2])


@pytest.mark.parametrize("host", [b"127.0.0.1:{port}", b"localhost:{port}", b"LocalHost:{port}", b"[::1]:{port}"])
def test_this_machines_names_with_the_port_are_answered(live_server, host):
    status, answer = _ask(live_server, host.replace(b"{port}", b"%d" % live_server[1]))
    assert status == 200 and answer["name"] == "test-small"


@pytest.mark.parametrize("host", [b"attacker.example:{port}", b"attacker.example", b"localhost:{other}",
                                  b"127.0.0.1", b"127.0.0.1.attacker.example:{port}", b"localhost.:{port}",
                                  b"127.0.0.1:{port}@x", b"", None])
def test_a_request_naming_another_host_is_refused(live_server, host):
    """DNS rebinding: a page of attacker.example whose name was made to resolve to 127.0.0.1
    sent patients to the local server and read the results (the server answered any Host).
    Now every route refuses a Host that is not this server's, with the port it listens on."""
    port = live_server[1]
    if host is not None:
        host = host.replace(b"{port}", b"%d" % port).replace(b"{other}", b"%d" % (port % 60000 + 1))
    for method, path, body in ((b"GET", b"/api/model", b""), (b"GET", b"/", b""),
                               (b"POST", b"/api/score", json.dumps(_request()).encode())):
        status, answer = _ask(live_server, host, method, path, body)
        assert status in (400, 421), (host, path, status)
        if host is not None:                     # h11 itself refuses an HTTP/1.1 request without Host
            assert status == 421 and "patient_id" not in answer
            assert answer["message"].startswith("this server answers only requests addressed to itself")
            assert f"open the page at http://127.0.0.1:{port}/" in answer["message"]
            assert "--allowed-host NAME" in answer["message"]


def test_allowed_hosts_are_answered_on_any_port_and_checked(model_dir, monkeypatch):
    from ca125kinetics.errors import InvalidInputError
    from ca125kinetics.web.app import app_from_env

    app = create_app(model_dir, allowed_hosts=["Clinic-PC.example.org", "[fe80::1]"])
    with TestClient(app, base_url="http://clinic-pc.example.org:8443") as c:
        assert c.get("/api/model").status_code == 200
        assert c.get("/api/model", headers={"host": "[fe80::1]:80"}).status_code == 200
        refused = c.get("/api/model", headers={"host": "other.example.org:8443"})
        assert refused.status_code == 421 and "--allowed-host" in refused.json()["message"]
        for name, value in SECURITY_HEADERS:              # the refusal carries them too
            assert refused.headers[name.decode()] == value.decode()
    # the workers of ca125 serve --workers N build their app from the environment serve() sets
    monkeypatch.setenv("CA125_SERVE_MODEL", str(model_dir))
    monkeypatch.setenv("CA125_SERVE_HOSTS", json.dumps({"allowed_hosts": ["clinic-pc"], "bound_host": "127.0.0.1"}))
    with TestClient(app_from_env(), base_url="http://clinic-pc:8000") as c:
        assert c.get("/api/model").status_code == 200
        assert c.get("/api/model", headers={"host": "other:8000"}).status_code == 421
    for bad in ("http://clinic-pc", "clinic-pc:8443", "clinic-pc/x", "*", "", " ", "a b", "[fe80::1"):
        with pytest.raises(InvalidInputError, match="is not a host name: give the name only"):
            create_app(model_dir, allowed_hosts=[bad])


def test_missing_clinical_factors_withhold_the_decision_unless_allowed(client):
    body = _request(clinical={})
    data = client.post("/api/score", json=body).json()
    assert data["status"] == "insufficient" and data["decision"] == "insufficient_information"
    assert data["reason"].startswith("insufficient information: give age, ecog") and data["probability"] is not None
    data = client.post("/api/score", json={**body, "allow_imputed": True}).json()
    assert data["status"] == "ok" and data["decision"] in ("resectable", "not_resectable")
    resp = client.post("/api/score", json={**body, "allow_imputed": "yes"})
    assert resp.status_code == 422 and "allow_imputed" in resp.json()["message"]


def test_no_ca125_after_the_first_dose_withholds_the_decision_unless_allowed(client, model_dir):
    """A baseline only: the kinetics, the model's main predictor, are imputed (rule 5)."""
    body = _request(samples=[{"day": -3, "ca125": 400}])
    data = client.post("/api/score", json=body).json()
    assert data["status"] == "insufficient" and data["decision"] == "insufficient_information"
    assert data["reason"].startswith("insufficient information: give the on-treatment CA-125 values")
    assert data["probability"] is not None
    alone = P.predict({"patient_id": "w1", "day": [-3], "ca125": [400.0]}, dict(CLINICAL, patient_id="w1"),
                      model=model_dir)
    assert data == json.loads(json.dumps(alone.to_dict()))
    data = client.post("/api/score", json={**body, "allow_imputed": True}).json()
    assert data["status"] == "ok" and data["decision"] in ("resectable", "not_resectable")
    assert "kinetics imputed" in data["recommendation"]


def test_mixed_allow_imputed_requests_are_batched_apart(model_dir):
    """Concurrent requests with different allow_imputed each get their own answer."""
    import asyncio

    batcher = ScoreBatcher(P.load_model(model_dir))
    markers = {"patient_id": ["b1"] * 4, **WORKED}

    async def both():
        return await asyncio.gather(batcher.score_async(markers, {"patient_id": "b1"}, False),
                                    batcher.score_async(dict(markers, patient_id=["b2"] * 4), {"patient_id": "b2"}, True))

    first, second = asyncio.run(both())
    assert first.status == "insufficient" and second.status == "ok"


def test_data_contract_errors_name_the_field_of_the_request(client):
    # the reader's "row 1, column 'day'" is the request's samples.1.day (and samples.0.date for a
    # sample given by date): an API client is told where, in its own terms
    dup = client.post("/api/score", json=_request(samples=[{"day": -3, "ca125": 400}, {"day": 21, "ca125": 180},
                                                           {"day": 21, "ca125": 170}]))
    assert dup.status_code == 422
    message = dup.json()["message"]
    assert message.startswith("invalid input: samples.1.day: two or more CA-125 samples on day 21") and \
        "samples.2.day: two or more" in message and "row " not in message
    far = client.post("/api/score", json=_request(treatment_start="2024-06-01",
                                                  samples=[{"date": "2010-01-01", "ca125": 400}]))
    assert far.status_code == 422
    assert far.json()["message"].startswith("invalid input: samples.0.date: day -5265 is outside the plausible range")


_ANY = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=False, allow_infinity=False),
                 st.text(max_size=12), st.sampled_from(["<5", "2024-01-01", "IIIC", "PR", "single", "surgery"]),
                 st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
_SAMPLE = st.one_of(
    st.fixed_dictionaries({"day": st.integers(-400, 2000), "ca125": st.floats(0, 2e6)}),
    st.dictionaries(st.sampled_from(["day", "date", "ca125", "censored", "event", "Day", "ca_125"]), _ANY, max_size=4))
_CLINICAL = st.dictionaries(st.sampled_from(["age", "ecog", "ascites_ml", "figo_stage", "primary_residual_disease",
                                             "pfi_months", "recurrence_pattern", "recist", "ECOG"]), _ANY, max_size=8)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(samples=st.lists(_SAMPLE, min_size=0, max_size=6), clinical=_CLINICAL,
       extra=st.dictionaries(st.sampled_from(["treatment_start", "uln", "allow_imputed", "patient_id"]), _ANY,
                             max_size=2))
def test_no_request_body_gets_a_server_error(client, samples, clinical, extra):
    # whatever a client sends: a 4xx with the error shape, or a result carrying the disclaimer
    resp = client.post("/api/score", json={"patient_id": "f", "samples": samples, "clinical": clinical, **extra})
    assert resp.status_code in (200, 400, 413, 422), resp.text
    data = resp.json()
    if resp.status_code == 200:
        assert data["recommendation"].endswith("Research software, not a medical device. Model trained on "
                                               "synthetic data.")
        assert data["notice"] == "Research software, not a medical device. Model trained on synthetic data."
    else:
        assert set(data) == {"detail", "message"} and data["message"]


def test_near_miss_field_names_are_suggested(client):
    resp = client.post("/api/score", json=_request(clinical={"ECOG": 1}))
    assert resp.status_code == 422
    assert resp.json()["message"] == "clinical.ECOG: Extra inputs are not permitted (did you mean 'ecog'?)"


@pytest.mark.parametrize("recist, pattern", [(" pr ", "Single"), ("sd", "CARCINOMATOSIS"), ("", "multiple")])
def test_category_fields_are_read_as_the_readers_read_them(client, model_dir, recist, pattern):
    # the API refused "pr" and "Single", which predict() and the clinical table read as PR and
    # single: one patient got two answers depending on the way in
    clinical = dict(CLINICAL, recist=recist, recurrence_pattern=pattern)
    resp = client.post("/api/score", json=_request(clinical=clinical))
    assert resp.status_code == 200, resp.text
    alone = P.predict({"patient_id": "w1", **WORKED}, dict(clinical, patient_id="w1"), model=model_dir)
    assert resp.json() == json.loads(json.dumps(alone.to_dict()))
    bad = client.post("/api/score", json=_request(clinical=dict(CLINICAL, recist="partial")))
    assert bad.status_code == 422 and "recist" in bad.json()["message"]


def test_the_api_limits_are_the_readers_limits():
    # the schema's bounds were typed in a second time beside the readers' rules
    from ca125kinetics.io import CLINICAL_NUMBERS, DAY_RANGE
    from ca125kinetics.markers import CA125
    from ca125kinetics.web.app import Clinical, Sample

    props = Clinical.model_json_schema()["properties"]
    for name in ("age", "ecog", "ascites_ml", "primary_residual_disease", "pfi_months"):
        bounds = next(a for a in props[name]["anyOf"] if a.get("type") != "null")
        assert (bounds["minimum"], bounds["maximum"]) == (CLINICAL_NUMBERS[name].low, CLINICAL_NUMBERS[name].high)
    sample = Sample.model_json_schema()["properties"]
    day = next(a for a in sample["day"]["anyOf"] if a.get("type") != "null")
    ca125 = next(a for a in sample["ca125"]["anyOf"] if a.get("type") != "null")
    assert (day["minimum"], day["maximum"]) == DAY_RANGE and ca125["maximum"] == CA125.plausible_max


def test_a_whole_number_written_as_a_float_is_read_as_the_readers_read_it(client):
    # ECOG 1.0 and residual disease 0.0 are whole numbers (the MLflow model takes doubles): the
    # same answer as 1 and 0; 1.5, true and "1" are still refused
    body = _request()
    whole = _request(clinical=dict(body["clinical"], ecog=float(body["clinical"]["ecog"]),
                                   primary_residual_disease=float(body["clinical"]["primary_residual_disease"])))
    a, b = client.post("/api/score", json=body), client.post("/api/score", json=whole)
    assert a.status_code == b.status_code == 200 and a.json()["probability"] == b.json()["probability"]
    for bad in (1.5, True, "1"):
        r = client.post("/api/score", json=_request(clinical=dict(body["clinical"], ecog=bad)))
        assert r.status_code == 422 and r.json()["message"].startswith("clinical.ecog:"), bad


def test_a_whole_day_written_as_a_float_is_read_as_the_readers_read_it(client):
    """Day 21.0 is day 21 for predict and ca125 score (the data contract asks for a whole
    number); the API refused it. 21.5, true and "21" are still refused."""
    body = _request()
    as_floats = _request(samples=[dict(s, day=float(s["day"])) for s in body["samples"]])
    a, b = client.post("/api/score", json=body), client.post("/api/score", json=as_floats)
    assert a.status_code == b.status_code == 200 and a.json()["probability"] == b.json()["probability"]
    for bad in (21.5, True, "21"):
        samples = [dict(body["samples"][0], day=bad), *body["samples"][1:]]
        r = client.post("/api/score", json=_request(samples=samples))
        assert r.status_code == 422 and r.json()["message"].startswith("samples.0.day"), (bad, r.json())


def test_a_samples_assay_and_uln_are_read_as_a_markers_table_reads_them(client, model_dir):
    """The API took neither (422 'Extra inputs are not permitted'), so an assay change that
    makes the CLI's GCIG response not evaluable was scored as a response: the same patient,
    two answers. A sample's assay and ULN are now the table's columns; a sample without a
    ULN takes the request's."""
    from ca125kinetics.predict import predict

    clinical = {"age": 65, "ecog": 0, "ascites_ml": 0, "pfi_months": 14, "figo_stage": "III",
                "primary_residual_disease": 0, "recurrence_pattern": "multiple", "recist": "SD"}
    days, values = [-3, 21, 42, 63], [400.0, 150.0, 100.0, 20.0]
    for extra, table in ((dict(assay=list("AAAB")), dict(assay=list("AAAB"))),
                         (dict(uln=[35.0, 35.0, 35.0, None]), dict(uln=[35.0, 35.0, 35.0, 30.0]))):
        name, cells = next(iter(extra.items()))
        samples = [{"day": d, "ca125": v, **({name: c} if c is not None else {})}
                   for d, v, c in zip(days, values, cells)]
        body = {"patient_id": "q", "samples": samples, "clinical": clinical, "uln": 30}
        r = client.post("/api/score", json=body)
        assert r.status_code == 200, r.text
        direct = predict({"day": days, "ca125": values, **table, **({} if name == "uln" else {"uln": [30.0] * 4})},
                         clinical, model=model_dir)
        got = r.json()
        assert got["gcig"]["status"] == direct.gcig["status"] == "not_evaluable", name
        assert got["probability"] == direct.probability and got["decision"] == direct.decision
    r = client.post("/api/score", json={"samples": [{"day": 0, "ca125": 100, "uln": 0}]})
    assert r.status_code == 422 and "samples.0.uln" in r.text
    # CEA's 5 ng/mL as a CA-125 ULN: below the plausible CA-125 limits (10 to 1000 U/mL)
    for body in ({"samples": [{"day": 0, "ca125": 100, "uln": 5.0}]}, {"samples": [{"day": 0, "ca125": 100}], "uln": 5.0}):
        r = client.post("/api/score", json=body)
        assert r.status_code == 422 and "greater than or equal to 10" in r.text, r.text


def test_a_batch_is_scored_off_the_event_loop_and_requests_queue_meanwhile(model_dir, monkeypatch):
    """Scoring ran on the serving loop itself: while a batch was scored, /healthz and every
    other request waited (1.8-3.5 s in a burst of 64 requests). The batch is scored in the
    batcher's worker thread; a request arriving meanwhile is answered in the next batch."""
    import asyncio
    import importlib

    predict_module = importlib.import_module("ca125kinetics.predict")    # the package, not the function
    batcher = ScoreBatcher(P.load_model(model_dir))
    scored_on, real = [], predict_module.predict_many

    def spy(*args, **kwargs):
        scored_on.append(threading.get_ident())
        return real(*args, **kwargs)

    monkeypatch.setattr(predict_module, "predict_many", spy)

    async def run():
        loop_thread = threading.get_ident()
        first = asyncio.ensure_future(batcher.score_async({"patient_id": ["q1"] * 4, **WORKED}, {"patient_id": "q1"}))
        await asyncio.sleep(0.05)          # the first batch is being scored (or done)
        second = await batcher.score_async({"patient_id": ["q2"] * 4, **WORKED}, {"patient_id": "q2"})
        return loop_thread, await first, second

    loop_thread, first, second = asyncio.run(run())
    assert (first.patient_id, second.patient_id) == ("q1", "q2")
    assert scored_on and loop_thread not in scored_on and len(set(scored_on)) == 1   # one worker thread


def test_an_unknown_key_is_not_echoed_in_full(client):
    """A 60,000-character key came back twice in full (a 120 kB reply), though the errors are
    said not to echo the input."""
    r = client.post("/api/score", json={"samples": [{"day": 0, "ca125": 1}], "clinical": {"ecog" * 15000: 1}})
    assert r.status_code == 422 and len(r.content) < 2000
    assert r.json()["detail"][0]["loc"][-1] == "ecog" * 16 + "..."


@pytest.mark.parametrize("content_type, body, expected", [
    ("text/plain", b'{"samples": [{"day": 0, "ca125": 5}]}',
     "body: the request body must be JSON sent with Content-Type: application/json (got Content-Type 'text/plain')"),
    (None, b'{"samples": [{"day": 0, "ca125": 5}]}',
     "body: the request body must be JSON sent with Content-Type: application/json (got no Content-Type)"),
    ("application/x-www-form-urlencoded", b"samples=1",
     "body: the request body must be JSON sent with Content-Type: application/json (got Content-Type "
     "'application/x-www-form-urlencoded')"),
    ("application/json", b"[1, 2]", "body: the request body must be one JSON object, got a JSON array"),
    ("application/json", b"null", "body: the request body must be one JSON object, got a JSON null"),
    ("application/json", b"", "body: the request body is empty"),
])
def test_a_body_that_is_not_a_json_object_is_told_how_to_send_one(client, content_type, body, expected):
    """A client sending the JSON as text/plain (or with no Content-Type) was told 'body: Input
    should be a valid dictionary or object to extract fields from', which does not say that the
    header is what is wrong, nor what to send."""
    headers = {} if content_type is None else {"content-type": content_type}
    resp = client.post("/api/score", content=body, headers=headers)
    assert resp.status_code == 422
    message = resp.json()["message"]
    assert message.startswith(expected), message
    assert "'samples'" in message and "/openapi.json" in message
    assert resp.json()["detail"][0]["loc"] == ["body"]


@pytest.mark.parametrize("sample, field", [({"day": 21, "ca125": 0}, "samples.1.ca125: CA-125 value 0.0: no assay"),
                                           ({"day": 21, "ca125": 0, "censored": True}, "samples.1.ca125: CA-125 value")])
def test_a_value_of_0_is_told_how_to_send_a_value_below_the_limit_in_the_api(client, sample, field):
    """A CA-125 of 0 was refused telling the client to send '<5' (the markers table's text),
    which the API refuses in turn ('Input should be a valid number'): the API's way is the limit
    with "censored": true."""
    resp = client.post("/api/score", json=_request(samples=[{"day": -3, "ca125": 400}, sample]))
    assert resp.status_code == 422
    message = resp.json()["message"]
    assert field in message
    assert "'<5'" not in message.replace("(e.g. 5 for '<5')", "")
    assert "the limit in 'ca125' with \"censored\": true (e.g. 5 for '<5')" in message
    assert "cell" not in message


def test_two_samples_on_one_day_are_told_the_api_takes_one_per_day(client):
    """The reader's advice to aggregate with duplicates='mean' (read_markers, ca125 gcig
    --duplicates) names options a request does not have."""
    resp = client.post("/api/score", json=_request(samples=[{"day": -3, "ca125": 400}, {"day": 21, "ca125": 150},
                                                            {"day": 21, "ca125": 140}]))
    assert resp.status_code == 422
    message = resp.json()["message"]
    assert message.startswith("invalid input: samples.1.day: two or more CA-125 samples on day 21")
    assert "remove the extra sample(s) (the API takes one sample per day" in message
    assert "duplicates=" not in message and "--duplicates" not in message


@pytest.mark.parametrize("patient_id", ["Zoë-1", "MRN:123", "a/b"])
def test_a_patient_id_in_other_characters_is_told_which_are_accepted(client, patient_id):
    """An identifier with a character outside the schema's pattern was refused with the regular
    expression itself ("String should match pattern '^[A-Za-z0-9_.\\- ]+$'")."""
    resp = client.post("/api/score", json=_request(patient_id=patient_id))
    assert resp.status_code == 422
    assert resp.json()["message"] == (
        f"patient_id: {patient_id!r} has a character the API does not take; use letters A-Z and a-z, digits, "
        "spaces, '.', '_' and '-' (at most 64 characters)")


def test_a_date_with_a_time_is_read_as_predict_reads_it(client, model_dir):
    """predict (and a markers file) read '2025-03-03T10:30:00' as its date, the time dropped; the
    API refused it ('Datetimes provided to dates should have zero time') but took
    '2025-03-03T00:00:00+09:00': one patient, two answers depending on the way in."""
    dates = ["2025-03-03T10:30:00", "2025-03-24T23:59:00+05:00", "2025-04-14 08:00", "2025-05-05T00:00:00Z"]
    samples = [{"date": d, "ca125": v} for d, v in zip(dates, WORKED["ca125"])]
    resp = client.post("/api/score", json=_request(treatment_start="2025-03-03T18:00:00", samples=samples))
    assert resp.status_code == 200, resp.text
    alone = P.predict({"patient_id": "w1", "date": dates, "ca125": WORKED["ca125"]},
                      dict(CLINICAL, patient_id="w1", treatment_start="2025-03-03T18:00:00"), model=model_dir)
    assert resp.json() == json.loads(json.dumps(alone.to_dict()))
    assert [s["day"] for s in resp.json()["series"]] == [0, 21, 42, 63]


@pytest.mark.parametrize("change, expected", [
    (lambda b: b["samples"][1].update(ca125="180"),
     "samples.1.ca125: Input should be a valid number, got the text '180': send a JSON number without quotes, "
     "with a point as the decimal mark and no thousands separator or unit (e.g. 420.5)"),
    (lambda b: b["samples"][1].update(ca125="<5"),
     "samples.1.ca125: Input should be a valid number, got the text '<5', a value below the assay's limit: send "
     "the limit as a number in 'ca125' with \"censored\": true (e.g. 5 for '<5')"),
    (lambda b: b["clinical"].update(ecog="1"),
     "clinical.ecog: Input should be a valid integer, got the text '1': send a whole JSON number without quotes"),
    (lambda b: b["clinical"].update(age=True), "clinical.age: Input should be a valid number, got true: send a number"),
    (lambda b: b.update(allow_imputed=1), "allow_imputed: Input should be a valid boolean, got the number 1: send "
     "true or false"),
    (lambda b: b.update(allow_imputed="yes"), "allow_imputed: Input should be a valid boolean, got the text 'yes': "
     "send true or false without quotes"),
])
def test_a_number_or_flag_sent_as_text_is_told_how_to_send_it(client, change, expected):
    """'samples.1.ca125: Input should be a valid number' for "180" or "<5" did not say that the
    quotes were the problem, nor how the API takes a value below the limit. Still refused (the
    fields are strict: "1,5" is never guessed), now with the way to send it."""
    body = _request()
    change(body)
    resp = client.post("/api/score", json=body)
    assert resp.status_code == 422
    assert resp.json()["message"].startswith(expected), resp.json()["message"]


# --------------------------------------------------------------------------------------
# What a reader notices about a patient: in the answer, never in the server's log
# --------------------------------------------------------------------------------------

_PARTIAL_ULN = {"patient_id": "MRN-0042-SMITH", "clinical": {"age": 65, "ecog": 0},
                "samples": [{"day": -3, "ca125": 400, "uln": 30}, {"day": 21, "ca125": 150},
                            {"day": 42, "ca125": 100}, {"day": 63, "ca125": 20}]}
_ULN_NOTE = ("no ULN given for 3 sample(s) (day 21, day 42, day 63) while the patient's other samples give one: "
             "those are read with the default ULN 35 U/mL")
_OFFSETS_NOTE = "times written in more than one UTC offset (+00:00, -05:00): each day is the day as written"


def _two_offsets_bundle(pid="MRN-0042-SMITH"):
    """One patient's FHIR bundle whose sample times are written in two UTC offsets."""
    quantity = {"unit": "U/mL", "system": "http://unitsofmeasure.org", "code": "U/mL"}

    def obs(oid, value, when):
        return {"resourceType": "Observation", "id": oid, "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "10334-1"}]},
                "subject": {"reference": f"Patient/{pid}"}, "effectiveDateTime": when,
                "valueQuantity": {"value": value, **quantity}, "referenceRange": [{"high": {"value": 35, **quantity}}]}

    dose = {"resourceType": "MedicationAdministration", "id": "ma", "status": "completed",
            "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                      "code": "40048"}]},
            "subject": {"reference": f"Patient/{pid}"}, "effectiveDateTime": "2025-01-03"}
    samples = [obs("a", 400.0, "2025-01-01T22:00:00-05:00"), obs("b", 150.0, "2025-01-24T03:00:00Z"),
               obs("c", 100.0, "2025-02-14"), obs("d", 20.0, "2025-03-07")]
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in (*samples, dose)]}


@pytest.mark.filterwarnings("ignore::ca125kinetics.errors.DataQualityWarning")  # create_app in this process
def test_a_readers_note_is_in_the_answer_as_predict_says_it(client, model_dir):
    """Samples without a ULN beside one with a ULN are read with the default, so the patient has
    two ULNs: the reader said so in a Python warning only, which the server wrote to its log
    (naming the patient) and the client never saw. The note is now the result's warning, the
    same from predict and from the API."""
    r = client.post("/api/score", json=_PARTIAL_ULN)
    assert r.status_code == 200, r.text
    got = r.json()["warnings"]
    assert any(w.startswith(_ULN_NOTE) for w in got), got
    markers, _ = request_to_inputs(ScoreRequest.model_validate(_PARTIAL_ULN))
    with pytest.warns(DataQualityWarning, match="uln is empty"):
        direct = P.predict(markers, dict(_PARTIAL_ULN["clinical"], patient_id="MRN-0042-SMITH"), model=model_dir)
    assert got == list(direct.warnings)
    # a patient whose samples all give their ULN (or none does) gets no such note
    same = dict(_PARTIAL_ULN, samples=[dict(s, uln=30) for s in _PARTIAL_ULN["samples"]])
    assert not any("no ULN given" in w for w in client.post("/api/score", json=same).json()["warnings"])


@pytest.mark.filterwarnings("ignore::ca125kinetics.errors.DataQualityWarning")  # create_app in this process
def test_a_fhir_bundles_note_is_in_the_answer(client):
    """Times in two UTC offsets: the FHIR reader's warning named the patient in the server's
    log; the answers of /api/fhir/samples and /api/score (a bundle) now say it."""
    body = json.dumps(_two_offsets_bundle())
    head = {"content-type": "application/fhir+json"}
    samples = client.post("/api/fhir/samples", content=body, headers=head)
    assert samples.status_code == 200, samples.text
    assert [w[:len(_OFFSETS_NOTE)] for w in samples.json()["warnings"]] == [_OFFSETS_NOTE]
    scored = client.post("/api/score", content=body, headers=head)
    assert scored.status_code == 200, scored.text
    assert scored.json()["warnings"][0].startswith(_OFFSETS_NOTE)


def test_the_servers_log_names_no_patient(model_dir):
    """``ca125 serve`` wrote the readers' DataQualityWarnings, which name the patient, to its
    stderr (its log): 'ca125: note: markers mapping: uln is empty ... (first: patient
    'MRN-0042-SMITH')'. The server keeps no request; the answer carries the note instead."""
    import re
    import signal
    import subprocess
    import sys
    import urllib.request

    proc = subprocess.Popen([sys.executable, "-m", "ca125kinetics.cli", "serve", "--model", str(model_dir),
                             "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        found = re.search(r"on (http://127\.0\.0\.1:\d+/)", line)
        assert found, line + (proc.stderr.read() if proc.poll() is not None else "")

        def post(path, body: bytes, kind: str) -> dict:
            req = urllib.request.Request(found[1] + path, data=body, headers={"Content-Type": kind})
            with urllib.request.urlopen(req, timeout=60) as resp:
                return json.loads(resp.read())

        scored = post("api/score", json.dumps(_PARTIAL_ULN).encode(), "application/json")
        bundle = json.dumps(_two_offsets_bundle()).encode()
        read = post("api/fhir/samples", bundle, "application/fhir+json")
        from_bundle = post("api/score", bundle, "application/fhir+json")
    finally:
        proc.send_signal(signal.SIGINT)
        _, log = proc.communicate(timeout=60)
    assert any(w.startswith(_ULN_NOTE) for w in scored["warnings"]), scored["warnings"]
    assert read["warnings"][0].startswith(_OFFSETS_NOTE) and from_bundle["warnings"][0].startswith(_OFFSETS_NOTE)
    assert "MRN-0042" not in line + log, log
