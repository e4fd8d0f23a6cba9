"""Load: ``etl-artifacts serve`` in a subprocess, 20 concurrent clients over loopback
mixing every route of the API, for a bounded time (at most 60 s) and a bounded request count;
``--smoke`` sends a fixed number of requests instead (each client the whole mix once), so what it
checks does not depend on how fast the machine is.

Each client is a thread with its own keep-alive HTTP session and a real HS256 token; requests
are taken round-robin from a mix that covers the whole API: health, whoami, runs search (plain
and keyword), one run, the event, a phase's metadata, data pages (plain and keyword), errors,
logs (JSON and NDJSON), the artifacts list and a presigned URL. Every answer must be a 200 with
the expected content type: anything else (or a transport error) counts as an error.

Reported: per route the median and p95 latency seen by the client, the whole mix's throughput,
and the target "0 errors". The local server is a development gateway (threads in one Python
process, functions in-process, moto's S3 server and embedded Postgres on the same 2 cores):
latencies are an upper bound for a warm Lambda, not its measure.

``python -m bench.load [--smoke] [--duration S] [--clients N] [--output FILE]`` (writes
``bench/results/load.md`` unless ``--output -``). A failed request is reported with its case,
HTTP status, content type and error code.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bench.dataset import BENCH_COMPANY
from bench.handler_calls import API_PREFIX
from bench.stack import quiet_powertools_env, shared_postgres, shared_s3
from bench.timing import REPO_ROOT, Stats, progress, row, target

SCENARIO = "load"
CLIENTS = 20
FULL_DURATION_S = 30.0
MAX_DURATION_S = 60.0  # hard bound, whatever is asked
MAX_REQUESTS = 50_000
# Generous: with 20 clients on a loaded 2-core machine a request may queue behind busy workers.
CLIENT_TIMEOUT_S = 120
RESULTS_FILE = REPO_ROOT / "bench" / "results" / "load.md"
LOAD_DAG_ID = "5b0d7c4e-9a1f-4f3e-8d2c-6e7f8a9b0c1d"
LOAD_DATE = "2026-11-20"
LOAD_RUN_IDS = ("scheduled__2026-11-20T00:00:00+00:00", "manual__2026-11-20T06:30:00.5+00:00")
NDJSON = "application/x-ndjson"


@dataclass(frozen=True)
class Request:
    case: str
    path: str
    accept: str = "application/json"
    authorized: bool = True


def request_mix() -> list[Request]:
    """One request per case: every route of the API, plain and with its filters."""
    runs = f"{API_PREFIX}/dags/{LOAD_DAG_ID}/runs"
    mix = [
        Request("health", f"{API_PREFIX}/health", authorized=False),
        Request("whoami", f"{API_PREFIX}/whoami"),
        Request("runs search", f"{runs}?date_from=2026-11-01&date_to=2026-11-30&limit=20"),
        Request(
            "runs search keyword", f"{runs}?date_from=2026-11-01&date_to=2026-11-30&extract_keyword=success"
        ),
    ]
    for index, run_id in enumerate(LOAD_RUN_IDS):
        run = f"{runs}/{LOAD_DATE}/{quote(run_id, safe='')}"
        suffix = "" if index == 0 else " (2nd run)"
        mix += [
            Request(f"run{suffix}", run),
            Request(f"event{suffix}", f"{run}/event"),
            Request(f"phase metadata{suffix}", f"{run}/phases/extract"),
            Request(f"data page{suffix}", f"{run}/phases/extract/data?page=1&limit=50"),
            Request(f"data keyword{suffix}", f"{run}/phases/transform/data?keyword=sku-1002&limit=20"),
            Request(f"errors{suffix}", f"{run}/phases/transform/errors?attempt=1"),
            Request(f"logs{suffix}", f"{run}/phases/load/logs?level=INFO"),
            Request(f"logs ndjson{suffix}", f"{run}/phases/extract/logs", accept=NDJSON),
            Request(f"artifacts list{suffix}", f"{run}/artifacts"),
            Request(f"presign{suffix}", f"{run}/artifacts/extract-data?chunk=0&expires_in=60"),
        ]
    return mix


@dataclass
class Outcome:
    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    requests: int = 0
    elapsed_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, case: str, ms: float, ok: bool, why: str = "") -> None:
        with self.lock:
            self.requests += 1
            self.latencies_ms[case].append(ms)
            if not ok:
                self.errors[f"{case}: {why}"] += 1

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


# -- the server under load ---------------------------------------------------------------------------


def _seed() -> None:
    """Two runs of the demo scenario 'retried' (every phase, a retried attempt), S3 + etl.logs."""
    import datetime as dt
    import uuid

    from etl_artifacts.s3.layout import RunRef
    from etl_artifacts_local.seed import seed_run

    for index, run_id in enumerate(LOAD_RUN_IDS):
        ref = RunRef(BENCH_COMPANY, uuid.UUID(LOAD_DAG_ID), dt.date.fromisoformat(LOAD_DATE), run_id)
        seed_run(ref, "retried", rows=600, seed=7 + index, chunk_rows=200, row_group_rows=50)


def _token() -> str:
    import jwt

    now = int(time.time())
    claims = {"id_company": BENCH_COMPANY, "sub": "load", "iat": now, "exp": now + 3600}
    return jwt.encode(claims, os.environ["JWT_SECRET"], algorithm="HS256")


@contextmanager
def served() -> Iterator[str]:
    """``etl-artifacts serve`` on a free loopback port, configured from this environment."""
    import requests
    from etl_artifacts_local.services import free_port

    port = free_port()
    env = {**os.environ, **quiet_powertools_env()}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "etl_artifacts_local.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=REPO_ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError("etl-artifacts serve exited during start-up")
            try:
                if requests.get(f"{base}{API_PREFIX}/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("etl-artifacts serve did not answer in time")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


# -- the clients ----------------------------------------------------------------------------------------


def _client(
    base: str,
    token: str,
    mix: list[Request],
    offset: int,
    deadline: float,
    outcome: Outcome,
    budget: threading.Semaphore,
) -> None:
    import requests

    session = requests.Session()
    index = offset
    while time.monotonic() < deadline and budget.acquire(blocking=False):
        request = mix[index % len(mix)]
        index += 1
        headers = {"Accept": request.accept}
        if request.authorized:
            headers["Authorization"] = f"Bearer {token}"
        started = time.perf_counter()
        try:
            response = session.get(base + request.path, headers=headers, timeout=CLIENT_TIMEOUT_S)
            body = response.content
            ms = (time.perf_counter() - started) * 1000
            content_type = response.headers.get("Content-Type", "")
            ok = response.status_code == 200 and content_type.startswith(request.accept) and bool(body)
            outcome.add(request.case, ms, ok, "" if ok else _why(response.status_code, content_type, body))
        except requests.RequestException as exc:
            ms = (time.perf_counter() - started) * 1000
            outcome.add(request.case, ms, False, f"{type(exc).__name__} after {ms / 1000:.1f} s")


def _why(status: int, content_type: str, body: bytes) -> str:
    """Status, content type and the error's code (or the start of the body) of a failed answer."""
    try:
        answer = json.loads(body)
        error = answer.get("code") or answer.get("message") or answer.get("detail")
    except (ValueError, AttributeError):
        error = None
    return f"{status} {content_type or 'no content type'} {error or body[:80]!r}"


def drive(
    base: str,
    *,
    clients: int,
    duration_s: float | None = None,
    requests_per_client: int | None = None,
    max_requests: int = MAX_REQUESTS,
) -> Outcome:
    """Load for ``duration_s`` seconds, or (``requests_per_client``) a fixed number of requests per
    client: then every request is answered or fails on its own timeout, whatever the machine's speed."""
    mix = request_mix()
    token = _token()
    # Warm every route once (cold imports and footers are not what this measures).
    warm = Outcome()
    _client(base, token, mix, 0, math.inf, warm, threading.Semaphore(len(mix)))
    if warm.error_count:
        raise RuntimeError(f"warm-up failed: {dict(warm.errors)}")
    outcome = Outcome()
    started = time.monotonic()
    if requests_per_client is None:
        deadline = started + min(duration_s or FULL_DURATION_S, MAX_DURATION_S)
        shared = threading.Semaphore(max_requests)
        budgets = [shared] * clients
    else:
        deadline = math.inf
        budgets = [threading.Semaphore(requests_per_client) for _ in range(clients)]
    threads = [
        threading.Thread(
            target=_client, args=(base, token, mix, i * 3, deadline, outcome, budgets[i]), daemon=True
        )
        for i in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    outcome.elapsed_s = time.monotonic() - started
    return outcome


# -- the scenario -------------------------------------------------------------------------------------


def _result(outcome: Outcome, clients: int) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    everything: list[float] = []
    for case in (r.case for r in request_mix()):
        samples = outcome.latencies_ms.get(case, [])
        everything += samples
        rows.append(row(SCENARIO, case, Stats(samples) if samples else None, note=f"{clients} clients"))
    throughput = outcome.requests / outcome.elapsed_s if outcome.elapsed_s else 0.0
    rows.insert(
        0,
        row(
            SCENARIO,
            "all routes (mix)",
            Stats(everything) if everything else None,
            note=f"{clients} clients, {outcome.elapsed_s:.1f} s, {throughput:.0f} req/s",
        ),
    )
    errors = outcome.error_count
    detail = "" if not errors else "; ".join(f"{k} x{v}" for k, v in sorted(outcome.errors.items()))
    targets = [
        target(SCENARIO, "0 errors", f"{errors} errors in {outcome.requests} requests", errors == 0, detail),
    ]
    return {"rows": rows, "targets": targets}


def run(smoke: bool, *, clients: int = CLIENTS, duration_s: float | None = None) -> dict[str, Any]:
    """The benchmark runner's entry point (see bench/__main__.py).

    ``smoke`` without a duration: every client sends the whole mix once (each route ``clients``
    times), the 1-client pass once more; else a time window."""
    shared_s3()
    shared_postgres()
    progress("load: seeding two runs")
    _seed()
    rounds = len(request_mix()) if smoke and duration_s is None else None
    duration = duration_s if duration_s is not None else FULL_DURATION_S
    with served() as base:
        if rounds is not None:
            progress(f"load: {clients} clients x {rounds} requests against etl-artifacts serve")
            outcome = drive(base, clients=clients, requests_per_client=rounds)
            single = drive(base, clients=1, requests_per_client=rounds)
        else:
            progress(f"load: {clients} clients for {duration:.0f} s against etl-artifacts serve")
            outcome = drive(base, clients=clients, duration_s=duration)
            # The same mix from one client: service time without queueing, for comparison.
            single = drive(base, clients=1, duration_s=min(5.0, duration / 3))
    result = _result(outcome, clients)
    everything = [ms for samples in single.latencies_ms.values() for ms in samples]
    throughput = single.requests / single.elapsed_s if single.elapsed_s else 0.0
    result["rows"].insert(
        1,
        row(
            SCENARIO,
            "all routes (mix), 1 client",
            Stats(everything) if everything else None,
            note=f"1 client, {single.elapsed_s:.1f} s, {throughput:.0f} req/s, {single.error_count} errors",
        ),
    )
    if single.error_count:
        result["targets"][0]["met"] = False
        errors = "; ".join(f"{k} x{v}" for k, v in sorted(single.errors.items()))
        result["targets"][0]["note"] += f" 1-client pass: {single.error_count} errors: {errors}"
    return result


def render_markdown(result: dict[str, Any], *, clients: int, duration_s: float | None) -> str:
    import platform

    how = "--smoke" if duration_s is None else f"--duration {duration_s:.0f}"
    lines = [
        "# Load: 20 concurrent clients against `etl-artifacts serve`",
        "",
        f"`python -m bench.load {how} --clients {clients}` on {platform.system()} "
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; the server, "
        "moto's S3 server, embedded Postgres and the clients share the machine. Latency is what a client "
        "saw (loopback HTTP through the local gateway, authorizer included). `serve` runs each function "
        "in up to 4 worker processes (like Lambda instances), all on 2 cores shared with S3 and Postgres, "
        "so with 20 clients part of a request's latency is waiting for a core or a worker: the 1-client "
        "row is the service time.",
        "",
        "| case | median ms | p95 ms | requests | note |",
        "|---|---:|---:|---:|---|",
    ]
    for r in result["rows"]:
        median = "n/a" if r["median_ms"] is None else f"{r['median_ms']:.1f}"
        p95 = "n/a" if r["p95_ms"] is None else f"{r['p95_ms']:.1f}"
        lines.append(f"| {r['case']} | {median} | {p95} | {r['runs']} | {r['note']} |")
    lines += ["", "| target | measured | met | note |", "|---|---|---|---|"]
    for t in result["targets"]:
        lines.append(
            f"| {t['target']} | {t['measured']} | {'yes' if t['met'] else 'NO'} | {t.get('note', '')} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a fixed number of requests (each client sends the whole mix once) instead of "
        f"{FULL_DURATION_S:.0f} s",
    )
    parser.add_argument("--duration", type=float, help=f"seconds of load (at most {MAX_DURATION_S:.0f})")
    parser.add_argument(
        "--clients", type=int, default=CLIENTS, help=f"concurrent clients (default {CLIENTS})"
    )
    parser.add_argument("--output", default=str(RESULTS_FILE), help="markdown results file, '-' for none")
    parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    args = parser.parse_args(argv)
    duration = (
        None if args.smoke and not args.duration else min(args.duration or FULL_DURATION_S, MAX_DURATION_S)
    )
    result = run(args.smoke, clients=args.clients, duration_s=duration)
    markdown = render_markdown(result, clients=args.clients, duration_s=duration)
    if args.json:
        print(json.dumps(result))
    else:
        print(markdown)
    if args.output != "-":
        Path(args.output).write_text(markdown, encoding="utf-8")
    return 0 if all(t["met"] for t in result["targets"]) else 1


if __name__ == "__main__":
    sys.exit(main())
