"""SnapStart priming and refresh (etl_artifacts.snapstart): each runs without storage, a database
or the network, and a restored copy gets fresh credentials, connections and random state."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from etl_artifacts import clients, snapstart

REPO = Path(__file__).resolve().parents[2]

_CHILD = """
import json, sys
sys.path.insert(0, {code_dir!r})
import {module}
from etl_artifacts import clients, snapstart
snapstart.run_init()
print(json.dumps(sorted(m for m in ("pyarrow", "boto3", "jwt", "pg8000") if m in sys.modules)))
"""


@pytest.mark.parametrize(
    ("function", "loaded"),
    [
        ("phases", ["boto3", "pyarrow"]),
        ("artifacts", ["boto3"]),
        ("runs", ["pg8000"]),
        ("meta", []),
        ("authorizer", ["jwt"]),
        ("uploads", ["boto3", "pg8000"]),
        ("lifecycle", ["boto3", "pg8000"]),
        ("links", ["boto3", "pg8000"]),
        ("seal", ["boto3", "pg8000"]),
    ],
)
def test_each_functions_init_primes_what_its_first_request_needs_and_nothing_else(
    function: str, loaded: list[str]
) -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_REGION": "us-east-1",
        "ARTIFACTS_BUCKET": "priming-bucket",
        "AWS_ACCESS_KEY_ID": "priming",
        "AWS_SECRET_ACCESS_KEY": "priming",
        "POWERTOOLS_METRICS_DISABLED": "true",
        # Nothing answers here: priming must not send a request.
        "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    }
    code = _CHILD.format(code_dir=str(REPO / "functions" / function), module=f"{function}_handler")
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == loaded


def test_refresh_after_restore_rebuilds_the_arrow_file_system_and_reseeds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("ARTIFACTS_BUCKET", "priming-bucket")
    from etl_artifacts.config import get_settings
    from etl_artifacts.s3.artifact_store import artifact_store, reset_store

    get_settings.cache_clear()
    try:
        before = artifact_store().filesystem
        random.seed(1)
        first = random.random()
        random.seed(1)
        snapstart.refresh_after_restore()
        assert random.random() != first
        assert artifact_store().filesystem is not before
    finally:
        reset_store()
        get_settings.cache_clear()


@pytest.fixture
def unreachable_s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Settings and clients for an S3 that answers nothing (a request sent fails at once)."""
    from etl_artifacts.config import get_settings

    for name, value in {
        "AWS_REGION": "us-east-1",
        "ARTIFACTS_BUCKET": "priming-bucket",
        "AWS_ACCESS_KEY_ID": "priming",
        "AWS_SECRET_ACCESS_KEY": "priming",
        "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9",
        "S3_MAX_ATTEMPTS": "1",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    clients.reset_clients()
    try:
        yield
    finally:
        clients.reset_clients()
        get_settings.cache_clear()


def test_s3_priming_runs_the_calls_offline_and_leaves_the_client_sending(unreachable_s3: None) -> None:
    from etl_artifacts.errors import StorageError
    from etl_artifacts.s3.listing import list_prefix

    # Nothing listens on the endpoint: the LIST, HEAD and GET of priming were answered offline.
    snapstart.prime_s3()
    # Afterwards the same client sends again (and fails here): no canned answer is left behind.
    with pytest.raises(StorageError):
        list_prefix(clients.s3_client(), "priming-bucket", "run/")


def test_the_tracer_is_primed_only_where_the_function_traces(monkeypatch: pytest.MonkeyPatch) -> None:
    from etl_artifacts.observability import get_tracer

    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    get_tracer.cache_clear()
    snapstart.prime_tracer()
    assert get_tracer.cache_info().currsize == 0  # outside Lambda the X-Ray SDK stays unimported
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "priming")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "false")
    try:
        snapstart.prime_tracer()
        assert get_tracer.cache_info().currsize == 1
    finally:
        get_tracer.cache_clear()


def test_the_secrets_client_is_primed_where_a_secret_is_read_and_no_secret_is_fetched(
    unreachable_s3: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aws_lambda_powertools.utilities import parameters
    from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS
    from etl_artifacts.config import get_settings

    parameters.clear_caches()
    snapstart.prime_secrets()
    assert "secrets" not in DEFAULT_PROVIDERS  # no secret configured: nothing built
    arn = "arn:aws:secretsmanager:us-east-1:000000000000:secret:priming"
    monkeypatch.setenv("DB_SECRET_ARN", arn)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")  # Lambda sets it; Powertools' client reads it
    # Nothing answers here: fetching the secret would fail the priming.
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://127.0.0.1:9")
    get_settings.cache_clear()
    try:
        snapstart.prime_secrets()
        assert "secrets" in DEFAULT_PROVIDERS
        assert DEFAULT_PROVIDERS["secrets"].store == {}  # nothing fetched
    finally:
        parameters.clear_caches()


def test_the_resolver_primer_answers_every_route_without_storage() -> None:
    from etl_artifacts.api.meta_routes import app

    # Meta's routes include the merged OpenAPI document: the heaviest first request of all.
    snapstart.resolver_primer(app)()


def test_a_local_worker_runs_its_functions_init_before_it_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    from etl_artifacts_local.lambda_runtime import ProcessInvoker
    from etl_artifacts_local.template import load_template

    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    spec = load_template().functions["MetaFunction"]
    route = "GET /api/v1/health"
    event = {
        "version": "2.0",
        "routeKey": route,
        "rawPath": "/api/v1/health",
        "rawQueryString": "",
        "headers": {},
        "requestContext": {
            "http": {
                "method": "GET",
                "path": "/api/v1/health",
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
            },
            "requestId": "test",
            "routeKey": route,
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }
    invoker = ProcessInvoker(1)
    try:
        # The worker starts, imports the handler and runs its SnapStart hooks (priming every route
        # of Meta, the merged OpenAPI document included) before this request reaches it.
        invoker.prestart([spec])
        result = invoker(spec, event)
    finally:
        invoker.shutdown()
    assert result["statusCode"] == 200
    assert json.loads(result["body"]) == {"status": "ok"}
