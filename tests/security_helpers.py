"""Helpers shared by the hardening suites (security, fuzz, faults): a spy on the functions the
local gateway invokes, a loopback JWKS server, concrete sample requests for every template route,
log capture with leak patterns, and spies on the S3 keys boto3 and pyarrow actually request.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote

import pytest
from etl_artifacts.local.s3_proxy import S3Proxy

# -- functions reached ---------------------------------------------------------------------------------


class InvocationSpy:
    """Records the logical id of every function the local gateway invokes."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def wrap(self, invoke: Callable[..., Any]) -> Callable[..., Any]:
        def spy(spec: Any, event: dict[str, Any]) -> Any:
            with self._lock:
                self.calls.append(spec.logical_id)
            return invoke(spec, event)

        return spy

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()

    @property
    def functions(self) -> set[str]:
        with self._lock:
            return set(self.calls)


@pytest.fixture
def invocations(monkeypatch: pytest.MonkeyPatch) -> InvocationSpy:
    """Spy on the gateway's ``invoke`` (it imported the name, so the gateway's binding is patched)."""
    from etl_artifacts.local import gateway

    spy = InvocationSpy()
    monkeypatch.setattr(gateway, "invoke", spy.wrap(gateway.invoke))
    return spy


# -- JWT material -------------------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(data: dict[str, Any]) -> str:
    return b64url(json.dumps(data, separators=(",", ":")).encode())


def raw_token(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    """A JWT assembled by hand (for tokens no library would sign)."""
    return f"{b64url_json(header)}.{b64url_json(payload)}.{b64url(signature)}"


class _LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True


def _serve_loopback(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    """A threaded HTTP server on a free loopback port, serving in a daemon thread."""
    server = _LoopbackServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _shut_down(server: ThreadingHTTPServer | None) -> None:
    if server is not None:
        server.shutdown()
        server.server_close()


@dataclass
class JwksServer:
    """A JWKS document served from a loopback ``http.server`` thread."""

    keys: list[dict[str, Any]]
    hits: int = 0
    _server: ThreadingHTTPServer | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/.well-known/jwks.json"

    def start(self) -> JwksServer:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits += 1
                body = json.dumps({"keys": outer.keys}).encode()
                self.send_response(200 if self.path.endswith("/jwks.json") else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

        self._server = _serve_loopback(Handler)
        return self

    def stop(self) -> None:
        _shut_down(self._server)
        self._server = None


# -- routes --------------------------------------------------------------------------------------------

SAMPLE_DAG = "7d0c2a9e-3b1f-4e7a-9c55-2f8e1d6b4a10"
SAMPLE_DATE = "2026-03-14"
SAMPLE_RUN_ID = "scheduled__2026-03-14T00:00:00+00:00"


def encode_run_id(run_id: str) -> str:
    """Percent-encode a run id exactly once, as CONTRACT §4 asks clients to."""
    return quote(run_id, safe="")


def sample_path(
    template_path: str,
    *,
    dag_id: str = SAMPLE_DAG,
    date: str = SAMPLE_DATE,
    run_id: str = SAMPLE_RUN_ID,
    phase: str = "extract",
    artifact_kind: str = "extract-data",
    encoded_run_id: str | None = None,
) -> str:
    """A concrete request path for a template route (with the query a search needs)."""
    path = (
        template_path.replace("{dag_id}", dag_id)
        .replace("{date}", date)
        .replace("{run_id}", encoded_run_id if encoded_run_id is not None else encode_run_id(run_id))
        .replace("{phase}", phase)
        .replace("{artifact_kind}", artifact_kind)
    )
    if template_path.endswith("/runs"):
        path += "?date_from=2026-01-01&date_to=2026-12-31"
    return path


@dataclass(frozen=True)
class Route:
    route_key: str
    path: str  # API Gateway syntax
    function: str
    authorized: bool

    @property
    def is_run_scoped(self) -> bool:
        return "{run_id}" in self.path


def template_routes() -> list[Route]:
    from etl_artifacts.local.template import load_template

    return [Route(r.route_key, r.path, r.function, r.authorized) for r in load_template().routes]


def authorized_routes() -> list[Route]:
    return [r for r in template_routes() if r.authorized]


# -- log capture and leak patterns -----------------------------------------------------------------

JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
TRACEBACK_RE = re.compile(r"Traceback \(most recent call last\)|File \"[^\"]+\", line \d+")
SQL_RE = re.compile(r"\b(SELECT|INSERT INTO|UPDATE etl\.|DELETE FROM)\s", re.IGNORECASE)
PRESIGNED_RE = re.compile(r"X-Amz-(Signature|Credential)=", re.IGNORECASE)


def secret_values(env: dict[str, str]) -> dict[str, str]:
    """Values that must never be logged or returned, from the test environment."""
    from urllib.parse import urlsplit

    secrets = {
        "JWT_SECRET": env.get("JWT_SECRET", ""),
        "AWS_SECRET_ACCESS_KEY": env.get("AWS_SECRET_ACCESS_KEY", ""),
        "DATABASE_URL": env.get("DATABASE_URL", ""),
    }
    url = env.get("DATABASE_URL") or ""
    parts = urlsplit(url)
    if parts.password:
        secrets["database password"] = parts.password
    if "host=" in url:
        # The socket directory is a filesystem path of the database host.
        secrets["database socket dir"] = url.split("host=", 1)[1].split("&", 1)[0]
    return {name: value for name, value in secrets.items() if value}


def find_leaks(
    text: str,
    env: dict[str, str],
    *,
    bucket: str | None,
    allow_presigned: bool = False,
    check_sql: bool = True,
    check_traceback: bool = True,
    check_jwt: bool = True,
) -> list[str]:
    """Names of what leaks in ``text`` (empty when clean). Never returns the leaked value itself."""
    found = [name for name, value in secret_values(env).items() if value in text]
    if check_jwt and JWT_RE.search(text):
        found.append("JWT")
    if check_traceback and TRACEBACK_RE.search(text):
        found.append("stack trace")
    if check_sql and SQL_RE.search(text):
        found.append("SQL text")
    if not allow_presigned and PRESIGNED_RE.search(text):
        found.append("presigned URL signature")
    if bucket and not allow_presigned and bucket in text:
        found.append("bucket name")
    return found


class LineCollector(logging.Handler):
    """Formats every record with the formatter the real handler uses, so ``extra`` keys count."""

    def __init__(self, formatter: logging.Formatter | None) -> None:
        super().__init__(level=logging.DEBUG)
        if formatter is not None:
            self.setFormatter(formatter)
        self.lines: list[tuple[str, str]] = []  # (logger name, formatted line)
        # Lines holding one of these strings are deliberate canaries (the detector's own tests).
        self.ignore: list[str] = []
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # a record that cannot be formatted is still inspected raw
            line = f"{record.getMessage()} {record.__dict__}"
        if record.exc_info and "Traceback" not in line:
            line += "\n" + logging.Formatter().formatException(record.exc_info)
        with self._guard:
            self.lines.append((record.name, line))


# Loggers whose records are our own lines (the service logger, used by the functions and the
# local gateway) or could carry request material (the development server's access log).
SERVICE_LOGGER = "etl-artifacts"
ACCESS_LOGGER = "werkzeug"


class _Tee:
    """A stream that records what is written and passes it on (Powertools' stdout handler)."""

    def __init__(self, inner: Any, sink: list[str]) -> None:
        self._inner = inner
        self._sink = sink

    def write(self, text: str) -> int:
        self._sink.append(text)
        return self._inner.write(text)

    def flush(self) -> None:
        self._inner.flush()


@contextmanager
def capture_logs() -> Iterator[LineCollector]:
    """Collect every line of the service logger (all levels), of any other logger at WARNING+,
    and the exact text the service logger's own handlers printed (``collector.printed``)."""
    from etl_artifacts.observability import logger as service_logger

    collector = LineCollector(service_logger.registered_formatter)
    printed: list[str] = []
    collector.printed = printed  # type: ignore[attr-defined]
    service = logging.getLogger(SERVICE_LOGGER)
    root = logging.getLogger()
    access = logging.getLogger(ACCESS_LOGGER)
    saved_level = service.level
    # Tee the real handlers' streams: what Powertools prints is checked as printed.
    teed = [h for h in service.handlers if isinstance(h, logging.StreamHandler)]
    saved_streams = [h.stream for h in teed]
    for handler in teed:
        handler.setStream(_Tee(handler.stream, printed))
    service.setLevel(logging.DEBUG)
    service.addHandler(collector)
    # The service logger propagates; the root collector sees the other libraries only.
    root_collector = LineCollector(None)
    root_collector.addFilter(lambda record: not record.name.startswith(SERVICE_LOGGER))
    root_collector.setLevel(logging.WARNING)
    root.addHandler(root_collector)
    access.addHandler(collector)
    try:
        yield collector
    finally:
        service.removeHandler(collector)
        service.setLevel(saved_level)
        for handler, stream in zip(teed, saved_streams, strict=True):
            handler.setStream(stream)
        root.removeHandler(root_collector)
        access.removeHandler(collector)
        collector.lines.extend(root_collector.lines)
        collector.lines.extend(
            (SERVICE_LOGGER, line) for line in "".join(printed).splitlines() if line.strip()
        )


def log_leaks(lines: list[tuple[str, str]], env: dict[str, str], bucket: str | None) -> list[str]:
    problems: list[str] = []
    for name, line in lines:
        if name == ACCESS_LOGGER:
            # The development server's access log prints request paths and query strings: what a
            # client put there (a keyword, even a token sent where none belongs) is not ours to
            # hide, but configuration secrets must never appear.
            leaks = find_leaks(
                line,
                env,
                bucket=None,
                allow_presigned=True,
                check_sql=False,
                check_traceback=True,
                check_jwt=False,
            )
        else:
            leaks = find_leaks(line, env, bucket=bucket)
        if leaks:
            problems.append(f"{name}: {', '.join(leaks)} in a log line")
    return problems


def body_leaks(status: int, body: str, env: dict[str, str], bucket: str | None) -> list[str]:
    """Error bodies carry nothing but the contract's fields; success bodies never carry secrets.

    (Success bodies legitimately hold presigned URLs, and data rows may hold anything the ETL
    wrote, including tracebacks in errors chunks: only configuration secrets and JWTs are checked.)
    """
    if status >= 400:
        return find_leaks(body, env, bucket=bucket)
    return find_leaks(body, env, bucket=None, allow_presigned=True, check_sql=False, check_traceback=False)


class ResponseRecorder:
    """Every (status, body) the in-process local gateway answered, across threads."""

    def __init__(self) -> None:
        self.responses: list[tuple[str, int, str]] = []  # (route or path, status, body)
        self._lock = threading.Lock()

    def add(self, where: str, status: int, body: str) -> None:
        with self._lock:
            self.responses.append((where, status, body))

    def drain(self) -> list[tuple[str, int, str]]:
        with self._lock:
            taken, self.responses = self.responses, []
        return taken


RESPONSES = ResponseRecorder()


@pytest.fixture(scope="session", autouse=True)
def _record_gateway_responses() -> Iterator[None]:
    """Wrap the local gateway's dispatch for the whole session: every answer is inspected."""
    from etl_artifacts.local.gateway import LocalGateway

    original = LocalGateway.dispatch

    def dispatch(self: Any, request: Any) -> Any:
        response = original(self, request)
        try:
            body = response.get_data(as_text=True)
        except Exception:  # a streamed body is not read here
            body = ""
        RESPONSES.add(f"{request.method} {request.path}", response.status_code, body)
        return response

    LocalGateway.dispatch = dispatch  # type: ignore[method-assign]
    yield
    LocalGateway.dispatch = original  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def leak_guard(_record_gateway_responses: None) -> Iterator[LineCollector]:
    """Suite-wide leak check (re-exported by conftest.py, so it wraps EVERY test): all log lines
    of the service logger and every gateway answer of the test are scanned for JWTs, presigned
    signatures, secrets, the database URL and password, the bucket name, SQL text and stack traces.
    A leak fails the test that caused it (at teardown), naming what leaked but never the value.
    """
    import os

    RESPONSES.drain()
    with capture_logs() as collector:
        yield collector
    env = dict(os.environ)
    bucket = env.get("ARTIFACTS_BUCKET") or None
    lines = [(n, line) for n, line in collector.lines if not any(c in line for c in collector.ignore)]
    problems = log_leaks(lines, env, bucket)
    for where, status, body in RESPONSES.drain():
        problems += [
            f"{where} -> {status}: {leak} in the body" for leak in body_leaks(status, body, env, bucket)
        ]
    if problems:
        pytest.fail("leak check: " + "; ".join(sorted(set(problems))), pytrace=False)


# -- S3 keys actually requested, and S3 faults (the proxy itself: etl_artifacts.local.s3_proxy) --


def outside_prefix(targets: list[str], bucket: str, allowed_prefix: str) -> list[str]:
    """Requested targets that are not in ``bucket`` under ``allowed_prefix`` (or that try to climb)."""
    bad = []
    for target in targets:
        expected = f"{bucket}/{allowed_prefix}"
        segments = target.split("/")
        if not target.startswith(expected) or ".." in segments or "." in segments[1:] or "\x00" in target:
            bad.append(target)
    return bad


# -- tenant-marked runs -------------------------------------------------------------------------------

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass
class MarkedRun:
    """A run whose every string value carries ``marker`` (the tenant's name), so a response that
    shows another tenant's data is caught by a plain substring check."""

    ref: Any  # RunRef
    marker: str
    keys: dict[str, bytes] = field(default_factory=dict)  # relative key -> bytes written

    @property
    def encoded_run_id(self) -> str:
        return encode_run_id(self.ref.run_id)

    def path(self, template_path: str, **kwargs: Any) -> str:
        return sample_path(
            template_path,
            dag_id=str(self.ref.dag_id),
            date=self.ref.run_date.isoformat(),
            run_id=self.ref.run_id,
            **kwargs,
        )


def _parquet(table: Any, row_group_size: int | None = None) -> bytes:
    import io

    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=row_group_size)
    return sink.getvalue()


def marked_tables(marker: str, phase: str, *, rows_per_chunk: int = 30, chunks: int = 2) -> dict[str, Any]:
    """The parquet tables of one complete phase attempt (CONTRACT §2 schemas), metadata last."""
    import datetime as dt

    import pyarrow as pa

    ts = pa.timestamp("us", tz="UTC")
    start = dt.datetime(2026, 3, 14, 10, 0, tzinfo=dt.UTC)
    tables: dict[str, Any] = {}
    for chunk in range(chunks):
        ids = list(range(chunk * rows_per_chunk, (chunk + 1) * rows_per_chunk))
        tables[f"data_{chunk:03d}"] = pa.table(
            {
                "id": pa.array(ids, pa.int64()),
                "owner": pa.array([marker] * len(ids)),
                "note": pa.array([f"{marker} {phase} row {i} 100% _under\\score" for i in ids]),
                "amount": pa.array([i * 1.5 for i in ids], pa.float64()),
            }
        )
    log_count = 12
    tables["logs_000"] = pa.table(
        {
            "timestamp": pa.array([start + dt.timedelta(seconds=i) for i in range(log_count)], ts),
            "level": pa.array([LEVELS[i % len(LEVELS)] for i in range(log_count)]),
            "logger": pa.array([f"etl.{phase}"] * log_count),
            "message": pa.array([f"{marker} {phase} log line {i}" for i in range(log_count)]),
        }
    )
    tables["errors_000"] = pa.table(
        {
            "error_type": pa.array(["about:blank"] * 2),
            "error_title": pa.array(["Bad row"] * 2),
            "error_status": pa.array([422, 422], pa.int32()),
            "error_detail": pa.array([f"{marker} rejected row {i}" for i in range(2)]),
            "traceback": pa.array([None, None], pa.string()),
            "occurred_at": pa.array([start, start], ts),
            "row_ref": pa.array(["0", "1"]),
        }
    )
    tables["metadata"] = pa.table(
        {
            "phase": pa.array([phase]),
            "attempt": pa.array([1], pa.int32()),
            "status": pa.array(["success"]),
            "started_at": pa.array([start], ts),
            "finished_at": pa.array([start + dt.timedelta(minutes=5)], ts),
            "row_count": pa.array([rows_per_chunk * chunks], pa.int64()),
            "data_chunks": pa.array([chunks], pa.int32()),
            "log_count": pa.array([log_count], pa.int64()),
            "error_log_count": pa.array([2], pa.int64()),
            "message": pa.array([f"{marker} {phase} done"]),
        }
    )
    return tables


def write_marked_run(
    ref: Any, marker: str | None = None, *, with_log: bool = True, rows_per_chunk: int = 30, chunks: int = 2
) -> MarkedRun:
    """Write a complete run (event files, three phases at attempt 1, ``etl.logs`` row) for ``ref``."""
    import datetime as dt

    import pyarrow as pa
    from etl_artifacts.clients import s3_client
    from etl_artifacts.config import get_settings
    from etl_artifacts.db import get_database
    from etl_artifacts.layout import PHASES, attempt_dir
    from etl_artifacts.local.seed import upsert_log

    marker = marker or ref.id_company
    settings = get_settings()
    bucket = settings.artifacts_bucket
    prefix = ref.prefix(settings.artifacts_prefix)
    client = s3_client()
    run = MarkedRun(ref, marker)
    ts = pa.timestamp("us", tz="UTC")
    start = dt.datetime(2026, 3, 14, 9, 0, tzinfo=dt.UTC)

    def put(relative_key: str, body: bytes) -> None:
        client.put_object(Bucket=bucket, Key=prefix + relative_key, Body=body)
        run.keys[relative_key] = body

    put(
        "event/queue_data.parquet",
        _parquet(
            pa.table(
                {
                    "message_id": pa.array([f"msg-{marker}"]),
                    "received_at": pa.array([start], ts),
                    "body": pa.array([json.dumps({"tenant": marker, "object": "orders.csv"})]),
                }
            )
        ),
    )
    put(
        "event/event.parquet",
        _parquet(
            pa.table(
                {
                    "field_set": pa.array(["orders"]),
                    "tenant_note": pa.array([marker]),
                    "size": pa.array([123], pa.int64()),
                }
            )
        ),
    )
    log: dict[str, Any] = {
        "event": {
            "status": "success",
            "message": f"{marker} event",
            "total": 1,
            "attempt": None,
            "s3_data_path": f"s3://{bucket}/{prefix}event/",
        },
    }
    for phase in PHASES:
        tables = marked_tables(marker, phase, rows_per_chunk=rows_per_chunk, chunks=chunks)
        metadata = tables.pop("metadata")
        for name, table in tables.items():
            put(f"{attempt_dir(phase, 1)}{name}.parquet", _parquet(table, row_group_size=10))
        put(f"{attempt_dir(phase, 1)}metadata.parquet", _parquet(metadata))
        log[phase] = {
            "status": "success",
            "message": f"{marker} {phase} done",
            "total": rows_per_chunk * chunks,
            "attempt": 1,
            "s3_data_path": f"s3://{bucket}/{prefix}{attempt_dir(phase, 1)}",
            "data": [{"owner": marker, "id": i} for i in range(3)],
        }
    if with_log:
        upsert_log(get_database(), ref, log, start, start + dt.timedelta(minutes=20))
    return run


def delete_marked_run(ref: Any) -> None:
    from etl_artifacts.clients import s3_client
    from etl_artifacts.config import get_settings
    from etl_artifacts.db import get_database

    settings = get_settings()
    client = s3_client()
    prefix = ref.prefix(settings.artifacts_prefix)
    listed = client.list_objects_v2(Bucket=settings.artifacts_bucket, Prefix=prefix).get("Contents", [])
    if listed:
        client.delete_objects(
            Bucket=settings.artifacts_bucket, Delete={"Objects": [{"Key": o["Key"]} for o in listed]}
        )
    get_database().run(
        "DELETE FROM etl.logs WHERE id_company = :c AND dag_id = CAST(:d AS uuid) AND run_date = :day "
        "AND run_id = :r",
        c=ref.id_company,
        d=str(ref.dag_id),
        day=ref.run_date,
        r=ref.run_id,
    )


def without_request_id(body: Any, replacements: dict[str, str] | None = None) -> Any:
    """A JSON body with ``request_id`` dropped and the given strings replaced (for comparing shapes)."""
    text = json.dumps(body, sort_keys=True)
    for old, new in (replacements or {}).items():
        text = text.replace(old, new)
    value = json.loads(text)
    if isinstance(value, dict):
        value.pop("request_id", None)
    return value


@pytest.fixture(scope="module")
def s3_proxy(s3_server: Any) -> Iterator[S3Proxy]:
    """A recording proxy in front of the session's S3 server (point AWS_ENDPOINT_URL_S3 at it)."""
    proxy = S3Proxy(s3_server.endpoint).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def via_proxy(s3_proxy: S3Proxy, monkeypatch: pytest.MonkeyPatch) -> S3Proxy:
    """This test's S3 traffic (boto3 and pyarrow, in every gateway thread) goes through the proxy."""
    from etl_artifacts.clients import reset_clients
    from etl_artifacts.config import get_settings

    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_proxy.endpoint)
    get_settings.cache_clear()
    reset_clients()
    clear_storage_caches()
    s3_proxy.mode = "pass"
    s3_proxy.clear()
    return s3_proxy


def clear_storage_caches() -> None:
    """Forget every warm-function cache of the package (footers, open S3 handles, match lists):
    a test that changes the S3 endpoint or breaks S3 must not be answered from a warm cache."""
    import sys

    from etl_artifacts.clients import reset_clients
    from etl_artifacts.config import get_settings

    get_settings.cache_clear()
    reset_clients()
    for name, module in list(sys.modules.items()):
        clear = getattr(module, "clear_cache", None)
        if name.startswith("etl_artifacts.") and callable(clear):
            clear()


class SqlSpy:
    """Every statement the package ran through ``Database.run``, with its bound parameters."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self.statements.clear()

    def unscoped(self, company: str) -> list[str]:
        """Statements on etl.logs that do not filter by ``id_company`` bound to ``company``."""
        bad = []
        with self._lock:
            for sql, params in self.statements:
                if "etl.logs" not in sql:
                    continue
                if "id_company" not in sql or company not in [
                    v for v in params.values() if isinstance(v, str)
                ]:
                    bad.append(sql.split("\n", 1)[0][:60])
        return bad


@pytest.fixture
def sql_spy(monkeypatch: pytest.MonkeyPatch) -> SqlSpy:
    from etl_artifacts.db import Database

    spy = SqlSpy()
    original = Database.run

    def run(self: Any, sql: str, **params: Any) -> Any:
        with spy._lock:
            spy.statements.append((sql, dict(params)))
        return original(self, sql, **params)

    monkeypatch.setattr(Database, "run", run)
    return spy
