"""Leak checks (docs/api.md Errors: "No stack trace, SQL, bucket name, credential or presigned URL
ever appears in an error body or a log line").

A broad sweep of requests -- good and bad, every route family, with faults injected (database
unreachable with a password in its URL, S3 unreachable, S3 answering 500, a function crashing
with secrets in its exception text, an invalid configuration) -- runs while every log record of
the service logger (used by the functions AND the local gateway) is collected, and while the
exact text Powertools' own stdout handler printed is teed and checked line by line. No log
line and no error body may hold a JWT, a presigned signature, a password, the DATABASE_URL, the
bucket name, SQL text or a stack trace.

(The suite-wide ``leak_guard`` fixture of security_helpers, re-exported by conftest.py, applies
the same check to every test of the suite; the positive controls here prove the detector works.)
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import TEST_BUCKET
from etl_artifacts.s3.layout import RunRef
from etl_artifacts_local.gateway import AWS_FAILED_INVOCATION
from etl_artifacts_local.services import free_port
from marked_runs import MarkedRun, delete_marked_run, write_marked_run
from plugins.leak_guard import body_leaks, capture_logs, find_leaks, log_leaks
from route_helpers import authorized_routes, sample_path, template_routes
from security_helpers import clear_storage_caches

RUN_ID = "scheduled__2026-03-14T00:00:00+00:00"
RUN_DATE = dt.date(2026, 3, 14)
RUN = "/api/v1/dags/{dag_id}/runs/{date}/{run_id}"
# One route per storage code path (LIST then pyarrow; pyarrow alone; LIST; HEAD).
STORAGE_ENDS = ("/phases/{phase}/logs", "/event", "/artifacts", "/artifacts/{artifact_kind}")
STORAGE_PATHS = {f"GET {RUN}{end}" for end in STORAGE_ENDS}
DB_PASSWORD = "Sw0rdfish-canary-7731"
BAD_DATABASE_URL = f"postgresql://canary_user:{DB_PASSWORD}@127.0.0.1:{{port}}/etl"
CRASH_TEXT = (
    "SELECT * FROM etl.logs WHERE id_company = 'x' -- s3://{bucket}/x?X-Amz-Signature=abc "
    "password={password} Traceback (most recent call last)"
)


@pytest.fixture(scope="module")
def run(base_env: dict[str, str]) -> Iterator[MarkedRun]:
    marked = write_marked_run(RunRef(f"leaks-{uuid.uuid4().hex[:8]}", uuid.uuid4(), RUN_DATE, RUN_ID))
    yield marked
    delete_marked_run(marked.ref)


class Sweep:
    """Requests made, and every (label, status, body) answered."""

    def __init__(self, api: Any, company: str) -> None:
        self.api = api
        self.company = company
        self.answers: list[tuple[str, int, str]] = []
        self.tokens: list[str] = []

    def get(self, label: str, path: str, **kwargs: Any) -> Any:
        if "token" not in kwargs and kwargs.get("company", self.company) is not None:
            kwargs["token"] = self.api.make_token(kwargs.pop("company", self.company))
        if kwargs.get("token"):
            self.tokens.append(kwargs["token"])
        response = self.api.get(path, **kwargs)
        self.answers.append((label, response.status_code, response.text))
        return response


def _routes_paths(run: MarkedRun) -> list[tuple[str, str]]:
    paths = []
    for route in authorized_routes():
        path = run.path(route.path) if route.is_run_scoped or "{dag_id}" in route.path else route.path
        if route.path.endswith("/runs"):
            path = sample_path(route.path, dag_id=str(run.ref.dag_id)).replace(
                "date_from=2026-01-01&date_to=2026-12-31", f"date_from={RUN_DATE}&date_to={RUN_DATE}"
            )
        paths.append((route.route_key, path))
    return paths


def _sweep_requests(sweep: Sweep, run: MarkedRun) -> None:
    paths = _routes_paths(run)
    for label, path in paths:
        sweep.get(f"ok {label}", path)
        sweep.get(f"ndjson {label}", path, headers={"Accept": "application/x-ndjson"})
        sweep.get(
            f"bad token {label}", path, token=sweep.api.make_token(run.ref.id_company, secret="nope" * 8)
        )
        sweep.get(f"no token {label}", path, company=None)
        sweep.get(f"expired {label}", path, token=sweep.api.make_token(run.ref.id_company, ttl=-3600))
        sweep.get(f"other tenant {label}", path, company="leaks-someone-else")
        bad = path.replace(run.encoded_run_id, "..%2Fx").replace(str(run.ref.dag_id), "not-a-uuid")
        sweep.get(f"bad params {label}", bad + ("&" if "?" in bad else "?") + "limit=0&page=-1")
        missing = path.replace(run.encoded_run_id, "never__ran")
        sweep.get(f"missing run {label}", missing)
    for route in template_routes():
        if not route.authorized:
            sweep.get(f"public {route.route_key}", route.path, company=None)
    sweep.get("unknown route", "/api/v1/nope")
    sweep.get("unknown kind", run.path("/api/v1/dags/{dag_id}/runs/{date}/{run_id}/artifacts/extract-nope"))
    sweep.get("presign", run.path("/api/v1/dags/{dag_id}/runs/{date}/{run_id}/artifacts/extract-data"))
    sweep.get(
        "keyword",
        run.path("/api/v1/dags/{dag_id}/runs/{date}/{run_id}/phases/load/data") + "?keyword=SELECT ",
    )
    sweep.get(
        "search keyword",
        f"/api/v1/dags/{run.ref.dag_id}/runs?date_from={RUN_DATE}&date_to={RUN_DATE}&load_keyword=SELECT%20*",
    )
    sweep.get(
        "bad continuation",
        run.path("/api/v1/dags/{dag_id}/runs/{date}/{run_id}/phases/extract/logs")
        + "?continuation_token=eyJhbGciOiJIUzI1NiJ9.eyJ4IjoxfQ.sig",
        headers={"Accept": "application/x-ndjson"},
    )


def _check(sweep: Sweep, collector_lines: list[tuple[str, str]], env: dict[str, str]) -> None:
    # collector_lines also holds what Powertools' own handler printed, line by line.
    problems = log_leaks(collector_lines, env, TEST_BUCKET)
    for label, status, body in sweep.answers:
        problems += [f"{label} -> {status}: {leak}" for leak in body_leaks(status, body, env, TEST_BUCKET)]
        if status >= 400:
            assert "Traceback" not in body and 'File "' not in body, label
    assert problems == []
    # Every token the sweep sent is absent from every log line.
    everything = "\n".join(line for _, line in collector_lines)
    assert not any(token in everything for token in sweep.tokens)


def test_sweep_of_every_family_leaks_nothing(api, run):
    sweep = Sweep(api, run.ref.id_company)
    with capture_logs() as collector:
        _sweep_requests(sweep, run)
    # The sweep did exercise what it claims: successes, refusals, validation errors, absences.
    statuses = {status for _, status, _ in sweep.answers}
    assert {200, 401, 404, 422} <= statuses
    assert any("X-Amz-Signature" in body for _, status, body in sweep.answers if status == 200)
    assert collector.lines  # request log lines were collected
    assert collector.printed  # and what Powertools printed was seen too
    _check(sweep, collector.lines, dict(os.environ))


def _check_fault(sweep: Sweep, collector: Any, env: dict[str, str]) -> None:
    """Nothing leaked, and the crash text itself is nowhere: neither its message nor its password."""
    _check(sweep, collector.lines, env)
    everything = "\n".join(line for _, line in collector.lines)
    assert DB_PASSWORD not in everything and "most recent call last" not in everything


def _fault_env(bad_db: str | None = None) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": bad_db or BAD_DATABASE_URL.format(port=free_port())}


RUN_PATH = "/api/v1/dags/{dag_id}/runs/{date}/{run_id}"


def _one_internal_error(sweep: Sweep, monkeypatch: pytest.MonkeyPatch, label: str, path: str) -> None:
    """One request under the fault ``monkeypatch`` holds: a 500 internal_error that leaks nothing."""
    with capture_logs() as collector:
        sweep.get(label, path)
    monkeypatch.undo()
    (_, status, body) = sweep.answers[-1]
    assert status == 500 and '"internal_error"' in body, body
    _check_fault(sweep, collector, _fault_env())


def _one_failed_invocation(sweep: Sweep, monkeypatch: pytest.MonkeyPatch, label: str, path: str) -> None:
    """One request under the fault: the invocation failed, so API Gateway's own answer (the local
    gateway is as strict as AWS), and nothing leaks."""
    with capture_logs() as collector:
        sweep.get(label, path)
    monkeypatch.undo()
    (_, status, body) = sweep.answers[-1]
    assert (status, body) == AWS_FAILED_INVOCATION, body
    _check_fault(sweep, collector, _fault_env())


@pytest.mark.slow
def test_database_down_leaks_nothing(api, run, monkeypatch):
    from etl_artifacts.postgres.db import reset_database

    sweep = Sweep(api, run.ref.id_company)
    bad_db = BAD_DATABASE_URL.format(port=free_port())
    # Given the database unreachable, its URL holding a password
    monkeypatch.setenv("DATABASE_URL", bad_db)
    monkeypatch.setenv("DB_CONNECT_TIMEOUT_S", "2")
    reset_database()
    runs_routes = {r.route_key for r in authorized_routes() if r.function == "RunsFunction"}
    with capture_logs() as collector:
        for label, path in _routes_paths(run):
            if label in runs_routes:  # the others never touch the database
                sweep.get(f"db down {label}", path)
    monkeypatch.undo()
    reset_database()
    # Then every Runs route answers database_error, and nothing leaked
    assert {label for label, _, _ in sweep.answers} == {f"db down {route}" for route in runs_routes}
    for label, status, body in sweep.answers:
        assert status == 502 and '"database_error"' in body, (label, body)
    _check_fault(sweep, collector, _fault_env(bad_db))


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["down", "error"])
def test_s3_fault_leaks_nothing(api, run, s3_proxy, monkeypatch, mode):
    # Given S3 unreachable, or answering 500 (boto3 and pyarrow both)
    sweep = Sweep(api, run.ref.id_company)
    endpoint = f"http://127.0.0.1:{free_port()}" if mode == "down" else s3_proxy.endpoint
    s3_proxy.mode = "error"
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint)
    monkeypatch.setenv("S3_CONNECT_TIMEOUT_S", "1")
    monkeypatch.setenv("S3_REQUEST_TIMEOUT_S", "2")
    clear_storage_caches()
    with capture_logs() as collector:
        for label, path in _routes_paths(run):
            if label in STORAGE_PATHS:
                sweep.get(f"s3 {mode} {label}", path)
    monkeypatch.undo()
    s3_proxy.mode = "pass"
    clear_storage_caches()
    # Then every storage route answers storage_error, and nothing leaked
    assert {label for label, _, _ in sweep.answers} >= {f"s3 {mode} {route}" for route in STORAGE_PATHS}
    for label, status, body in sweep.answers:
        assert status == 502 and '"storage_error"' in body, (label, body)
    _check_fault(sweep, collector, _fault_env())


@pytest.mark.slow
def test_function_crash_leaks_nothing(api, run, monkeypatch):
    from etl_artifacts_local import gateway

    # Given a function crashing with secrets in its exception text (the gateway's own handler)
    sweep = Sweep(api, run.ref.id_company)
    crash = CRASH_TEXT.format(bucket=TEST_BUCKET, password=DB_PASSWORD)
    real_invoke = gateway.invoke

    def crashing(spec: Any, event: dict[str, Any]) -> Any:
        if spec.logical_id != "AuthorizerFunction":
            raise RuntimeError(crash)
        return real_invoke(spec, event)

    monkeypatch.setattr(gateway, "invoke", crashing)
    _one_failed_invocation(sweep, monkeypatch, "function crash", _routes_paths(run)[0][1])


@pytest.mark.slow
def test_logic_crash_leaks_nothing(api, run, monkeypatch):
    import etl_artifacts.artifacts.service as artifacts_service

    # Given route logic raising an unexpected error (the resolver's catch-all handler)
    sweep = Sweep(api, run.ref.id_company)
    crash = CRASH_TEXT.format(bucket=TEST_BUCKET, password=DB_PASSWORD)

    def boom(*_: Any, **__: Any) -> Any:
        raise ValueError(crash)

    monkeypatch.setattr(artifacts_service, "list_run_artifacts", boom)
    _one_internal_error(sweep, monkeypatch, "logic crash", run.path(f"{RUN_PATH}/artifacts"))


@pytest.mark.slow
def test_bad_configuration_leaks_nothing(api, run, monkeypatch):
    # Given an invalid configuration (it breaks the authorizer too: a failed invocation)
    sweep = Sweep(api, run.ref.id_company)
    monkeypatch.setenv("PRESIGN_DEFAULT_TTL", "99999")
    clear_storage_caches()
    _one_failed_invocation(sweep, monkeypatch, "bad config", run.path(f"{RUN_PATH}/artifacts/extract-data"))
    clear_storage_caches()


# -- the detector itself --------------------------------------------------------------------------------


def test_detector_flags_what_it_must(make_token):
    env = {"DATABASE_URL": "postgresql://u:pw-123456@h/db", "JWT_SECRET": "jwt-secret-abcdef"}
    token = make_token("acme")
    samples = {
        "JWT": f"token {token}",
        "presigned URL signature": "https://s3/x?X-Amz-Signature=abcdef",
        "bucket name": f"s3://{TEST_BUCKET}/key",
        "SQL text": "SELECT id FROM etl.logs",
        "stack trace": 'Traceback (most recent call last):\n  File "x.py", line 1',
        "database password": "connecting with pw-123456",
        "DATABASE_URL": "postgresql://u:pw-123456@h/db",
        "JWT_SECRET": "jwt-secret-abcdef",
    }
    for expected, text in samples.items():
        assert expected in find_leaks(text, env, bucket=TEST_BUCKET), expected
    assert find_leaks('{"level":"INFO","message":"request","status":200}', env, bucket=TEST_BUCKET) == []


def test_capture_sees_service_gateway_and_printed_lines(api, make_token, leak_guard):
    from etl_artifacts.observability import logger

    token = make_token("acme")
    canary = f"leak-canary-{uuid.uuid4().hex}"
    # These canaries are deliberate: the suite-wide guard must not fail this test for them.
    leak_guard.ignore.append(canary)
    with capture_logs() as collector:
        logger.info(f"canary {canary}", extra={"leaked": token})
        try:
            raise ValueError(canary)
        except ValueError:
            logger.exception(f"canary-exception {canary}")
        logging.getLogger("some.library").warning("library canary %s %s", canary, token)
        api.get("/api/v1/whoami")
    leaks = log_leaks(collector.lines, dict(os.environ), TEST_BUCKET)
    assert any(problem.startswith("etl-artifacts: JWT") for problem in leaks)
    assert any("stack trace" in problem for problem in leaks)
    assert any(problem.startswith("some.library: JWT") for problem in leaks)
    assert any(name == "etl-artifacts" and "GET /api/v1/whoami" in line for name, line in collector.lines)
    printed = "".join(collector.printed)
    assert token in printed and "Traceback" in printed  # what Powertools printed is seen as printed
    # The suite-wide guard saw the canaries as well (it wraps this test too).
    assert any(canary in line for _, line in leak_guard.lines)
