"""Benchmark of the REST API (``ca125 serve``): latency under concurrency, and hostile payloads.

Target (issue "predict()"): 2,000 requests from 20 concurrent clients on loopback with
p95 <= 50 ms and no errors; malformed, oversized or hostile payloads get 4xx with a clear
message, never a 500, and the server keeps serving.

The server runs in its own process on ``127.0.0.1`` (a free port; never another interface).
Clients are asyncio tasks sharing one ``httpx.AsyncClient`` (20 connections). Every request
scores a *distinct-ish* patient (cycling through patients of the committed synthetic cohort),
so a cache could not help. Bounded in count (``--requests``) and time (``--time-limit``).

Baseline measured in the same run: ``GET /healthz`` with the same concurrency and count -- the
cost of HTTP, the framework and the client on this machine, without scoring. The load comes
from aiohttp (``pip install -e .[bench]``; it also comes with mlflow), the hostile payloads
from httpx.

Usage::

    python benchmarks/bench_rest.py [--model DIR|URI] [--requests 2000] [--concurrency 20]

Prints a table; writes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COHORT = ROOT / "data" / "synthetic" / "default"
HOST = "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _payloads(n: int) -> list[dict]:
    """Score requests of ``n`` distinct patients of the committed cohort."""
    import pandas as pd

    markers = pd.read_csv(COHORT / "markers.csv", dtype={"patient_id": str}, keep_default_na=False,
                          na_values=[""])
    clinical = pd.read_csv(COHORT / "clinical.csv", dtype={"patient_id": str}).set_index("patient_id")
    out = []
    for pid, g in markers.groupby("patient_id", sort=True):
        samples = []
        for day, value, event in zip(g["day"], g["ca125"], g.get("event", [None] * len(g))):
            s = {"day": int(day)}
            if isinstance(value, str) and value.startswith("<"):
                s.update(ca125=float(value[1:]), censored=True)
            elif isinstance(value, str) or (value == value and value is not None):
                s["ca125"] = float(value)
            if isinstance(event, str) and event:
                s["event"] = event
            samples.append(s)
        c = clinical.loc[pid]
        clin = {}
        for col, cast in (("age", float), ("ecog", int), ("ascites_ml", float), ("figo_stage", str),
                          ("primary_residual_disease", int), ("pfi_months", float),
                          ("recurrence_pattern", str), ("recist", str)):
            v = c[col]
            if not pd.isna(v):
                clin[col] = cast(v)
        if "uln" in g and g["uln"].nunique() == 1:
            uln = float(g["uln"].iloc[0])
        else:
            uln = None
        body = {"patient_id": pid, "samples": samples, "clinical": clin}
        if uln is not None:
            body["uln"] = uln
        out.append(body)
        if len(out) >= n:
            break
    return out


def _start_server(port: int, model) -> subprocess.Popen:
    code = ("import sys; from ca125kinetics.web.app import serve; "
            f"sys.exit(serve(host={HOST!r}, port={port}, model={model!r}, log_level='warning'))")
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)


async def _wait_ready(base: str, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"server exited early:\n{proc.stderr.read()}")
            try:
                if (await client.get(base + "/healthz", timeout=2)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit("server did not become ready in time")


async def _load(base: str, make_request, n: int, concurrency: int, time_limit: float):
    """Run ``n`` requests with ``concurrency`` workers; (latencies ms, statuses, errors, wall s).

    The load generator is aiohttp (one session, ``concurrency`` keep-alive connections): it
    shares the two cores with the server, and httpx's client spends several times more CPU per
    request than the server does (measured: ``/healthz`` at ~320 req/s with httpx against
    ~2,000 with aiohttp on the same server), so it would measure the client.
    """
    import aiohttp

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors: list[str] = []
    counter = iter(range(n))
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=60.0)
    async with aiohttp.ClientSession(base, connector=connector, timeout=timeout) as client:
        async def worker():
            for i in counter:
                t = time.perf_counter()
                try:
                    status, text = await make_request(client, i)
                    statuses[status] = statuses.get(status, 0) + 1
                    if status != 200:
                        errors.append(f"HTTP {status}: {text[:160]}")
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                latencies.append((time.perf_counter() - t) * 1000)

        t0 = time.perf_counter()
        try:
            await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(concurrency))), time_limit)
        except asyncio.TimeoutError:
            errors.append(f"time limit of {time_limit:.0f} s reached after {len(latencies)} requests")
        wall = time.perf_counter() - t0
    return latencies, statuses, errors, wall


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


HOSTILE = [
    ("not JSON", b"{not json", "application/json", None),
    ("empty body", b"", "application/json", None),
    ("JSON null", b"null", "application/json", None),
    ("JSON array", b"[1, 2, 3]", "application/json", None),
    ("deeply nested arrays (100k levels)", b"[" * 30000 + b"]" * 30000, "application/json", None),
    ("deeply nested objects", b'{"a":' * 5000 + b"1" + b"}" * 5000, "application/json", None),
    ("1 MB body", b'{"samples": [' + b'{"day": 1, "ca125": 5},' * 45000 + b'{"day": 2, "ca125": 5}]}',
     "application/json", None),
    ("1 MB body, chunked (no Content-Length)", None, "application/json", "chunked"),
    ("lying Content-Length", b'{"samples": []}', "application/json", "lie"),
    ("too many samples (201)", json.dumps({"samples": [{"day": d, "ca125": 100.0} for d in range(201)]}).encode(),
     "application/json", None),
    ("NaN value", b'{"samples": [{"day": 0, "ca125": NaN}]}', "application/json", None),
    ("Infinity value", b'{"samples": [{"day": 0, "ca125": Infinity}]}', "application/json", None),
    ("huge number", b'{"samples": [{"day": 0, "ca125": 1e400}]}', "application/json", None),
    ("huge integer day", b'{"samples": [{"day": ' + b"9" * 5000 + b', "ca125": 5}]}', "application/json", None),
    ("negative CA-125", b'{"samples": [{"day": 0, "ca125": -5}]}', "application/json", None),
    ("string CA-125", b'{"samples": [{"day": 0, "ca125": "abc"}]}', "application/json", None),
    ("boolean ECOG", b'{"samples": [{"day": 0, "ca125": 5}], "clinical": {"ecog": true}}', "application/json", None),
    ("unknown field", b'{"samples": [{"day": 0, "ca125": 5}], "evil": 1}', "application/json", None),
    ("script in patient_id", b'{"patient_id": "<script>alert(1)</script>", "samples": [{"day": 0, "ca125": 5}]}',
     "application/json", None),
    ("10 kB patient_id", json.dumps({"patient_id": "x" * 10000, "samples": [{"day": 0, "ca125": 5}]}).encode(),
     "application/json", None),
    ("NUL bytes", b'{"patient_id": "a\\u0000b", "samples": [{"day": 0, "ca125": 5}]}', "application/json", None),
    ("invalid UTF-8", b'{"patient_id": "\xff\xfe", "samples": [{"day": 0, "ca125": 5}]}', "application/json", None),
    ("duplicate sample day", b'{"samples": [{"day": 0, "ca125": 5}, {"day": 0, "ca125": 6}]}', "application/json",
     None),
    ("dates without treatment_start", b'{"samples": [{"date": "2024-01-01", "ca125": 5}]}', "application/json",
     None),
    ("impossible date", b'{"treatment_start": "2024-02-30", "samples": [{"date": "2024-01-01", "ca125": 5}]}',
     "application/json", None),
    ("day far out of range via dates",
     b'{"treatment_start": "1900-01-01", "samples": [{"date": "2024-01-01", "ca125": 5}]}', "application/json", None),
    ("zero ULN", b'{"uln": 0, "samples": [{"day": 0, "ca125": 5}]}', "application/json", None),
    ("form-encoded body", b"samples=1", "application/x-www-form-urlencoded", None),
    ("text/plain body", b'{"samples": [{"day": 0, "ca125": 5}]}', "text/plain", None),
]


async def _raw_lie(base: str, body: bytes) -> tuple[int, str]:
    """POST with ``Content-Length: 10`` but a longer body, over a raw connection."""
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(b"POST /api/score HTTP/1.1\r\nHost: " + f"{host}:{port}".encode() + b"\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 10\r\nConnection: close\r\n\r\n"
                     + body)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(65536), 30)
    finally:
        writer.close()
    head, _, payload = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1]) if head.startswith(b"HTTP/") else -1
    try:
        data = json.loads(payload.decode("utf-8", "replace"))
        message = data.get("message") or str(data.get("detail"))
    except (ValueError, AttributeError):
        message = payload[:100].decode("utf-8", "replace")
    return status, message[:100]


async def _hostile(base: str) -> list[tuple[str, int, str]]:
    import httpx

    results = []
    async with httpx.AsyncClient(base_url=base, timeout=60.0) as client:
        for name, body, ctype, mode in HOSTILE:
            headers = {"content-type": ctype}
            try:
                if mode == "chunked":
                    async def gen():
                        yield b'{"samples": ['
                        for _ in range(45000):
                            yield b'{"day": 1, "ca125": 5},'
                        yield b'{"day": 2, "ca125": 5}]}'
                    resp = await client.post("/api/score", content=gen(), headers=headers)
                elif mode == "lie":
                    # declares 10 bytes, sends more (HTTP clients refuse to: a raw socket)
                    status, message = await _raw_lie(base, body)
                    results.append((name, status, message))
                    continue
                else:
                    resp = await client.post("/api/score", content=body, headers=headers)
                try:
                    message = resp.json().get("message") or str(resp.json().get("detail"))
                except (ValueError, AttributeError):
                    message = resp.text[:100]
                results.append((name, resp.status_code, str(message)[:100]))
            except Exception as exc:  # noqa: BLE001 - a client-side failure is reported, not fatal
                results.append((name, -1, f"{type(exc).__name__}: {exc}"[:100]))
    return results


async def _main_async(args) -> int:
    import httpx

    port = _free_port()
    base = f"http://{HOST}:{port}"
    proc = _start_server(port, args.model)
    try:
        await _wait_ready(base, proc)
        payloads = _payloads(args.patients)
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            model = (await client.get("/api/model")).json()
            for body in payloads[:10]:  # warm-up
                await client.post("/api/score", json=body)
        print(f"server {base} (own process), model {model['name']} {model['version']} ({model['family']}); "
              f"{len(payloads)} distinct patients, {args.requests} requests, {args.concurrency} concurrent clients")

        async def score(client, i):
            async with client.post("/api/score", json=payloads[i % len(payloads)]) as resp:
                return resp.status, await resp.text()

        async def health(client, i):
            async with client.get("/healthz") as resp:
                return resp.status, await resp.text()

        base_lat, base_st, base_err, base_wall = await _load(base, health, args.requests, args.concurrency,
                                                             args.time_limit)
        lat, st, err, wall = await _load(base, score, args.requests, args.concurrency, args.time_limit)
        b95 = _pct(base_lat, 0.95)
        print(f"\n{'':<40} {'n':>6} {'p50 ms':>9} {'p95 ms':>9} {'max ms':>9} {'req/s':>8} {'errors':>7} {'p95 vs base':>12}")
        for name, l_, e_, w_ in (("POST /api/score [target p95 50 ms]", lat, err, wall),
                                 ("baseline: GET /healthz", base_lat, base_err, base_wall)):
            if not l_:
                print(f"{name:<40} no request completed")
                continue
            print(f"{name:<40} {len(l_):>6} {statistics.median(l_):9.1f} {_pct(l_, 0.95):9.1f} {max(l_):9.1f} "
                  f"{len(l_) / w_:8.1f} {len(e_):>7} {_pct(l_, 0.95) / b95:11.1f}x")
        print(f"  statuses: score {st}, healthz {base_st}")
        for e in (err + base_err)[:5]:
            print(f"  error: {e}")

        print("\nhostile and malformed payloads (expect 4xx, never 5xx; server keeps serving):")
        results = await _hostile(base)
        bad = 0
        for name, status, message in results:
            ok = 400 <= status < 500
            bad += not ok
            print(f"  {'ok ' if ok else 'BAD'} {status:>4}  {name:<40} {message}")
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            after = await client.post("/api/score", json=payloads[0])
        alive = after.status_code == 200 and proc.poll() is None
        print(f"  server still serving after the hostile payloads: {'yes' if alive else 'NO'} "
              f"(HTTP {after.status_code})")
        return 0 if (alive and bad == 0 and not err) else 1
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model directory or MLflow URI (default: the shipped model)")
    parser.add_argument("--requests", type=int, default=2000, help="requests per run (default 2000)")
    parser.add_argument("--concurrency", type=int, default=20, help="concurrent clients (default 20)")
    parser.add_argument("--patients", type=int, default=200, help="distinct patients cycled (default 200)")
    parser.add_argument("--time-limit", type=float, default=600.0, help="seconds per load run (default 600)")
    args = parser.parse_args(argv)
    if not (1 <= args.requests <= 100_000 and 1 <= args.concurrency <= 200):
        parser.error("--requests must be 1..100000 and --concurrency 1..200")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPU(s), load average "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return asyncio.run(_main_async(args))


if __name__ == "__main__":
    sys.exit(main())
