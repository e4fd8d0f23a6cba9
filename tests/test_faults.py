"""Fault injection (docs/api.md Errors: ``storage_error`` for an S3 failure or unreadable parquet,
``database_error``, both 502).

Each fault answers the API's 502 code within a bound derived from the configured timeouts
(a correctness bound, generous on purpose: not a benchmark), and the API recovers fully once the
dependency is back, WITHOUT any cache being reset in between (warm clients, footers and database
connections must heal by themselves):

- S3: a dedicated S3 server stopped and started again; a loopback proxy that delays answers
  beyond S3_REQUEST_TIMEOUT_S, or answers 500 (to every request, or only to object reads so that
  pyarrow's own client is the one failing);
- Postgres: a dedicated server stopped and restarted (the warm connection recovers on the next
  request), and stopped for good (502 until it is back);
- parquet: corrupt, truncated and empty objects; an index.parquet with the wrong schema or
  garbage bytes.
"""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import TEST_BUCKET
from etl_artifacts.s3.artifact_store import artifact_store
from etl_artifacts.s3.layout import RunRef
from etl_artifacts_local.services import EmbeddedPostgres, MotoS3Server, create_bucket
from marked_runs import MarkedRun, delete_marked_run, write_marked_run
from route_helpers import authorized_routes
from security_helpers import S3Proxy, clear_storage_caches
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

RUN_ID = "scheduled__2026-03-14T00:00:00+00:00"
RUN_DATE = dt.date(2026, 3, 14)
CONNECT_TIMEOUT_S = 1.0
# Also the timeout of the healthy requests around each fault (warm-up, recovery): the default is
# generous enough that a loaded machine's moto answers in time; an idle machine may shorten every
# fault (and so the tests) with FAULT_TESTS_S3_TIMEOUT_S=1. The bounds below follow it.
REQUEST_TIMEOUT_S = float(os.environ.get("FAULT_TESTS_S3_TIMEOUT_S", "3.0"))
# Two attempts per client (botocore and pyarrow are both configured with max_attempts=2), a LIST
# then reads, retry back-off: ~16 s at most when the timeouts are honoured. The bound leaves a
# loaded machine room beyond that, and the slow proxy holds each request longer than the bound
# (SLOW_S), so a client that ignored its timeouts still fails the test, whatever the machine's speed.
S3_BOUND_S = 4 * (CONNECT_TIMEOUT_S + REQUEST_TIMEOUT_S) + 22
SLOW_S = S3_BOUND_S + 12
DB_CONNECT_TIMEOUT_S = 2.0
DB_BOUND_S = 2 * DB_CONNECT_TIMEOUT_S + 22

# (what, seconds) of every faulty request, printed at the end of the module (run with -s to see).
MEASURED: list[tuple[str, float]] = []

STORAGE_ROUTES = [r for r in authorized_routes() if r.function in ("PhasesFunction", "ArtifactsFunction")]
RUNS_ROUTES = [r for r in authorized_routes() if r.function == "RunsFunction"]


def _route_paths(run: MarkedRun, routes: list[Any]) -> dict[str, str]:
    paths = {}
    for route in routes:
        path = run.path(route.path)
        if route.path.endswith("/runs"):
            path = path.split("?", 1)[0] + f"?date_from={RUN_DATE}&date_to={RUN_DATE}"
        paths[route.route_key] = path
    return paths


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def assert_502(response: Any, code: str, elapsed: float, bound: float, label: str) -> None:
    assert response.status_code == 502, (label, response.status_code, response.text[:300])
    body = response.json()
    assert body["code"] == code and body["status"] == 502, label
    assert set(body) == {"detail", "code", "status", "request_id"}
    assert elapsed < bound, f"{label}: {elapsed:.1f}s, bound {bound:.0f}s"
    MEASURED.append((label, elapsed))


@pytest.fixture(scope="module", autouse=True)
def _print_measurements() -> Iterator[None]:
    yield
    if MEASURED:
        worst = sorted(MEASURED, key=lambda item: -item[1])[:8]
        print(
            "\nslowest 502s under injected faults:", *(f"  {s:5.2f}s  {what}" for what, s in worst), sep="\n"
        )


@pytest.fixture
def s3_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3_CONNECT_TIMEOUT_S", str(CONNECT_TIMEOUT_S))
    monkeypatch.setenv("S3_REQUEST_TIMEOUT_S", str(REQUEST_TIMEOUT_S))


def _company(label: str) -> str:
    return f"faults-{label}-{uuid.uuid4().hex[:8]}"


# -- S3 server stopped ------------------------------------------------------------------------------


@pytest.fixture
def dedicated_s3(
    base_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, s3_timeouts: None
) -> Iterator[MotoS3Server]:
    server = MotoS3Server()
    server.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", server.endpoint)
    clear_storage_caches()
    create_bucket(TEST_BUCKET)
    yield server
    server.stop()
    clear_storage_caches()


@pytest.mark.slow
def test_s3_server_stopped_then_back(api, dedicated_s3: MotoS3Server):
    run = write_marked_run(RunRef(_company("s3stop"), uuid.uuid4(), RUN_DATE, RUN_ID), with_log=False)
    checked = ("/artifacts", "/phases/{phase}", "/phases/{phase}/errors", "/event")
    paths = {k: v for k, v in _route_paths(run, STORAGE_ROUTES).items() if k.endswith(checked)}
    for label, path in paths.items():
        assert api.get(path, company=run.ref.id_company).status_code == 200, label

    # When the S3 server goes away, every storage route answers storage_error within the bound.
    dedicated_s3.stop()
    for label, path in paths.items():
        response, elapsed = timed(lambda p=path: api.get(p, company=run.ref.id_company))
        assert_502(response, "storage_error", elapsed, S3_BOUND_S, f"S3 stopped: {label}")

    # When it is back (same endpoint; moto keeps no data, so the writer writes again), the warm
    # clients and caches recover by themselves.
    port = dedicated_s3.port
    dedicated_s3.port = port
    dedicated_s3.start()
    create_bucket(TEST_BUCKET)
    write_marked_run(run.ref, with_log=False)
    for label, path in paths.items():
        response = api.get(path, company=run.ref.id_company)
        assert response.status_code == 200, (label, response.text[:300])
        assert run.marker in response.text


# -- S3 slow or failing, through a proxy ---------------------------------------------------------------


@pytest.fixture
def proxied_run(
    base_env: dict[str, str], s3_proxy: S3Proxy, monkeypatch: pytest.MonkeyPatch, s3_timeouts: None
) -> Iterator[MarkedRun]:
    run = write_marked_run(RunRef(_company("proxy"), uuid.uuid4(), RUN_DATE, RUN_ID), with_log=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_proxy.endpoint)
    clear_storage_caches()
    s3_proxy.mode, s3_proxy.only = "pass", None
    yield run
    s3_proxy.mode, s3_proxy.only = "pass", None
    monkeypatch.undo()
    clear_storage_caches()
    delete_marked_run(run.ref)


def _object_reads(request: Any) -> bool:
    """GET of an object (pyarrow's reads, presigning's HEAD is not one): LISTs still work."""
    return request.method == "GET" and "list-type" not in request.query and request.key.endswith(".parquet")


# What each fault is checked on: the LIST/HEAD paths (boto3) when every request fails, the object
# reads (pyarrow's own client, a warm footer still reads row groups) when only those fail.
# (Each family's code paths, not every route: timeouts make every check cost seconds.)
EVERY_REQUEST = ["/artifacts/{artifact_kind}", "/phases/{phase}/logs"]
OBJECT_READS = ["/phases/{phase}/data", "data keyword", "/event"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fault", "scope"),
    [
        ("slow", "every request"),
        ("slow", "object reads only"),
        ("error", "every request"),
        ("error", "object reads only"),
    ],
)
def test_s3_slow_or_failing_is_502_within_the_timeout_then_recovers(api, s3_proxy, proxied_run, fault, scope):
    company = proxied_run.ref.id_company
    paths = {
        label.split("{run_id}", 1)[1]: path
        for label, path in _route_paths(proxied_run, STORAGE_ROUTES).items()
    }
    paths["data keyword"] = paths["/phases/{phase}/data"] + "?keyword=row%201"
    checks = {label: paths[label] for label in (EVERY_REQUEST if scope == "every request" else OBJECT_READS)}
    # Warm up: footers, handles and clients cached while S3 is healthy.
    for label, path in checks.items():
        assert api.get(path, company=company).status_code == 200, label

    s3_proxy.delay_s = SLOW_S
    s3_proxy.only = _object_reads if scope == "object reads only" else None
    s3_proxy.mode = fault
    for label, path in checks.items():
        response, elapsed = timed(lambda p=path: api.get(p, company=company))
        assert_502(response, "storage_error", elapsed, S3_BOUND_S, f"S3 {fault}, {scope}: {label}")

    s3_proxy.mode = "pass"
    for label, path in checks.items():
        response = api.get(path, company=company)
        assert response.status_code == 200, (label, response.text[:300])
        assert proxied_run.marker in response.text


# -- Postgres stopped and restarted --------------------------------------------------------------------


@pytest.fixture(scope="module")
def dedicated_pg(
    tmp_path_factory: pytest.TempPathFactory, base_env: dict[str, str]
) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path_factory.mktemp("faults-pg") / "data")
    server.start()
    yield server
    server.stop()


def _start_again(server: EmbeddedPostgres) -> None:
    """Start the stopped server with the options it was first started with (same socket)."""
    server._server.ensure_postgres_running()


class InThreadGateway:
    """Requests dispatched in the CALLING thread: the Runs function's thread-local (warm)
    connection is the one reused from request to request, as in a warm Lambda."""

    def __init__(self, make_token: Callable[..., str]) -> None:
        from etl_artifacts_local.gateway import LocalGateway

        self.gateway = LocalGateway()
        self.make_token = make_token

    def get(self, path: str, company: str) -> Any:
        base, _, query = path.partition("?")
        environ = EnvironBuilder(
            path=base, query_string=query, headers={"Authorization": f"Bearer {self.make_token(company)}"}
        ).get_environ()
        environ["RAW_URI"] = path
        response = self.gateway.dispatch(Request(environ))
        return _Answer(response.status_code, response.get_data(as_text=True))


class _Answer:
    def __init__(self, status_code: int, text: str) -> None:
        self.status_code = status_code
        self.text = text

    def json(self) -> Any:
        import json

        return json.loads(self.text)


@pytest.mark.slow
def test_postgres_restart_and_outage(api, make_token, dedicated_pg, monkeypatch):
    from etl_artifacts.postgres.db import get_database, reset_database
    from etl_artifacts.postgres.migrations import migrate

    monkeypatch.setenv("DATABASE_URL", dedicated_pg.url)
    monkeypatch.setenv("DB_CONNECT_TIMEOUT_S", str(DB_CONNECT_TIMEOUT_S))
    reset_database()
    migrate(get_database())
    run = write_marked_run(RunRef(_company("pg"), uuid.uuid4(), RUN_DATE, RUN_ID))
    company = run.ref.id_company
    paths = _route_paths(run, RUNS_ROUTES)
    warm = InThreadGateway(make_token)
    try:
        database = get_database()
        for label, path in paths.items():
            assert warm.get(path, company).status_code == 200, label
        connection = database._local.conn
        assert connection is not None  # the warm connection of this thread

        # Restarted between two requests: the warm connection is dead, the next request still works.
        dedicated_pg.pg_ctl("-w", "stop")
        _start_again(dedicated_pg)
        for label, path in paths.items():
            response = warm.get(path, company)
            assert response.status_code == 200, (label, response.text)
            assert run.marker in response.text
        assert database._local.conn is not connection  # it was re-opened, transparently

        # Down: database_error within the bound, in the warm thread and through the HTTP gateway.
        dedicated_pg.pg_ctl("-w", "stop")
        for label, path in paths.items():
            for client in (warm, api):
                response, elapsed = timed(lambda c=client, p=path: c.get(p, company=company))
                assert response.status_code == 502, (label, response.text)
                assert response.json()["code"] == "database_error"
                assert elapsed < DB_BOUND_S, f"{label}: {elapsed:.1f}s"
                MEASURED.append((f"Postgres stopped: {label}", elapsed))

        # Back: full recovery on the next request, nothing reset in between.
        _start_again(dedicated_pg)
        for label, path in paths.items():
            for client in (warm, api):
                response = client.get(path, company=company)
                assert response.status_code == 200, (label, response.text)
                assert run.marker in response.text
    finally:
        _start_again(dedicated_pg)
        delete_marked_run(run.ref)
        reset_database()


# -- unreadable parquet -----------------------------------------------------------------------------


@pytest.fixture
def stored_run(base_env: dict[str, str]) -> Iterator[MarkedRun]:
    clear_storage_caches()
    run = write_marked_run(RunRef(_company("parquet"), uuid.uuid4(), RUN_DATE, RUN_ID), with_log=False)
    yield run
    delete_marked_run(run.ref)


def _put(run: MarkedRun, relative_key: str, body: bytes) -> None:
    from etl_artifacts.clients import s3_client

    s3_client().put_object(Bucket=TEST_BUCKET, Key=run.ref.prefix() + relative_key, Body=body)


def _truncated(body: bytes) -> bytes:
    return body[: len(body) // 2]


def _garbage(body: bytes) -> bytes:
    return b"PAR1" + bytes(range(256)) * 4 + b"PAR1"


def _bad_footer(body: bytes) -> bytes:
    # Intact magic bytes and footer length, the whole footer scrambled: the reader must refuse it.
    length = int.from_bytes(body[-8:-4], "little")
    return body[: -8 - length] + bytes((i * 7 + 3) % 256 for i in range(length)) + body[-8:]


RUN = "/api/v1/dags/{dag_id}/runs/{date}/{run_id}"
UNREADABLE = {
    # (object replaced, how, route read, extra query)
    "metadata-garbage": ("extract/attempt=1/metadata.parquet", _garbage, RUN + "/phases/extract", ""),
    "metadata-empty": ("extract/attempt=1/metadata.parquet", lambda _: b"", RUN + "/phases/extract", ""),
    "data-truncated": ("extract/attempt=1/data_000.parquet", _truncated, RUN + "/phases/extract/data", ""),
    "data-bad-footer": (
        "extract/attempt=1/data_001.parquet",
        _bad_footer,
        RUN + "/phases/extract/data",
        "?page=1&limit=30",
    ),
    "data-truncated-keyword": (
        "transform/attempt=1/data_001.parquet",
        _truncated,
        RUN + "/phases/transform/data",
        "?keyword=row",
    ),
    "logs-garbage": ("load/attempt=1/logs_000.parquet", _garbage, RUN + "/phases/load/logs", ""),
    "logs-garbage-ndjson": (
        "load/attempt=1/logs_000.parquet",
        _garbage,
        RUN + "/phases/load/logs",
        "?ndjson",
    ),
    "errors-truncated": (
        "extract/attempt=1/errors_000.parquet",
        _truncated,
        RUN + "/phases/extract/errors",
        "",
    ),
    "event-garbage": ("event/event.parquet", _garbage, RUN + "/event", ""),
    "queue-data-truncated": ("event/queue_data.parquet", _truncated, RUN + "/event", ""),
}


@pytest.mark.parametrize("case", sorted(UNREADABLE))
def test_unreadable_parquet_is_502_then_recovers(api, stored_run, case, monkeypatch):
    # A warm function reuses a completed attempt's listing for a while (its chunks do not change);
    # this test rewrites one all the same, so the listing is not reused here.
    monkeypatch.setattr("etl_artifacts.s3.attempts.LISTING_TTL_S", 0.0)
    relative_key, spoil, route, query = UNREADABLE[case]
    company = stored_run.ref.id_company
    headers = {"Accept": "application/x-ndjson"} if query == "?ndjson" else {}
    path = stored_run.path(route) + ("" if query == "?ndjson" else query)
    good = stored_run.keys[relative_key]
    assert api.get(path, company=company, headers=headers).status_code == 200  # warm: footers cached

    _put(stored_run, relative_key, spoil(good))
    response, elapsed = timed(lambda: api.get(path, company=company, headers=headers))
    assert_502(response, "storage_error", elapsed, S3_BOUND_S, case)

    _put(stored_run, relative_key, good)
    response = api.get(path, company=company, headers=headers)
    assert response.status_code == 200, response.text[:300]
    assert stored_run.marker in response.text


def test_logs_chunk_with_a_foreign_schema_is_not_a_500(api, stored_run):
    # Readable parquet, but not the logs schema of docs/architecture.md: never an internal error.
    import pyarrow as pa
    from etl_artifacts_local.etl_parquet import parquet_bytes

    _put(
        stored_run,
        "extract/attempt=1/logs_000.parquet",
        parquet_bytes(pa.table({"x": [1, 2], "y": ["a", "b"]})),
    )
    path = stored_run.path(RUN + "/phases/extract/logs")
    for query in ("", "?level=ERROR", "?keyword=a"):
        for headers in ({}, {"Accept": "application/x-ndjson"}):
            response = api.get(path + query, company=stored_run.ref.id_company, headers=headers)
            assert response.status_code in (200, 502), (query, response.status_code, response.text[:200])


def _index_with_sources(run: MarkedRun, table: Any) -> bytes:
    from etl_artifacts.s3.attempts import list_attempt
    from etl_artifacts.search.index_format import SOURCES_METADATA_KEY
    from etl_artifacts_local.etl_parquet import parquet_bytes

    sources = list_attempt(artifact_store(), run.ref, "extract", 1).sources_json()
    return parquet_bytes(table.replace_schema_metadata({SOURCES_METADATA_KEY: sources.encode()}))


def test_index_with_the_wrong_schema_falls_back_to_the_scan_answer(api, stored_run):
    import pyarrow as pa

    path = stored_run.path(RUN + "/phases/extract/data") + "?keyword=row%201&limit=100"
    company = stored_run.ref.id_company
    scanned = api.get(path, company=company)
    assert scanned.status_code == 200 and scanned.headers["X-Search-Mode"] == "scan"

    # "Current" by its sources (docs/architecture.md), but not an index: the same answer, found by scanning.
    wrong = pa.table({"chunk": pa.array(["x"]), "row": pa.array([1.5]), "text": pa.array(["row 1"])})
    _put(stored_run, "extract/attempt=1/index.parquet", _index_with_sources(stored_run, wrong))
    response, elapsed = timed(lambda: api.get(path, company=company))
    assert response.status_code == 200, response.text[:300]
    assert response.headers["X-Search-Mode"] == "scan"
    assert response.json() == scanned.json()
    assert elapsed < S3_BOUND_S


def test_index_of_garbage_bytes_is_502_then_recovers(api, stored_run):
    path = stored_run.path(RUN + "/phases/extract/data") + "?keyword=row%201"
    company = stored_run.ref.id_company
    _put(stored_run, "extract/attempt=1/index.parquet", _garbage(b""))
    response, elapsed = timed(lambda: api.get(path, company=company))
    # An index that cannot even be opened is an unreadable object (storage_error) -- or ignored.
    if response.status_code == 200:
        assert response.headers["X-Search-Mode"] == "scan"
    else:
        assert_502(response, "storage_error", elapsed, S3_BOUND_S, "garbage index")
    # Removing it restores the scan answer.
    from etl_artifacts.clients import s3_client

    s3_client().delete_object(
        Bucket=TEST_BUCKET, Key=stored_run.ref.prefix() + "extract/attempt=1/index.parquet"
    )
    response = api.get(path, company=company)
    assert response.status_code == 200
    assert response.json()["total_rows"] > 0
