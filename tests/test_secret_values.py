"""Secrets read at run time: the ARNs the template passes, read through Powertools Parameters from
moto's Secrets Manager (its server, over HTTP), cached, and never written to an answer or a log.

Locally the plain variables (JWT_SECRET, CURSOR_SECRET, DATABASE_URL) keep working; these tests
unset them and give only the ARNs, as in AWS.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import jwt
import pytest
from etl_artifacts.auth import authorizer_response
from etl_artifacts.config import get_settings
from etl_artifacts.errors import ConfigurationError
from etl_artifacts.postgres.db import connection_params
from etl_artifacts.secret_values import reset_secret_cache
from etl_artifacts_local.services import MotoS3Server

JWT_KEY = "jwt-key-from-secrets-manager-0123456789-abcdefghijklmnop"
ROTATED_KEY = "rotated-jwt-key-0123456789-abcdefghijklmnopqrstuvwxyz0123"


@pytest.fixture
def secrets_manager(
    s3_server: MotoS3Server, base_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    """moto's server (the same process serves every service) as Secrets Manager; no plain secrets."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", s3_server.endpoint)
    for name in ("JWT_SECRET", "CURSOR_SECRET", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    reset_secret_cache()
    get_settings.cache_clear()
    yield boto3.client("secretsmanager", endpoint_url=s3_server.endpoint, region_name="us-east-1")
    reset_secret_cache()


def _create(client: Any, value: str) -> str:
    name = f"etl-artifacts-test-{time.monotonic_ns()}"
    return str(client.create_secret(Name=name, SecretString=value)["ARN"])


def _token(key: str, company: str = "acme") -> str:
    return jwt.encode(
        {"id_company": company, "sub": "u", "exp": int(time.time()) + 300}, key, algorithm="HS256"
    )


def _authorize(token: str) -> dict[str, Any]:
    return authorizer_response({"headers": {"authorization": f"Bearer {token}"}})


def test_authorizer_verifies_with_the_key_read_from_jwt_secret_arn(secrets_manager, monkeypatch):
    # Given only the secret's ARN, as the template passes it
    arn = _create(secrets_manager, JWT_KEY)
    monkeypatch.setenv("JWT_SECRET_ARN", arn)
    # Then a token signed with the secret's value is accepted, one signed with another key is not
    answer = _authorize(_token(JWT_KEY))
    assert answer["isAuthorized"] is True and answer["context"]["id_company"] == "acme"
    assert _authorize(_token(ROTATED_KEY)) == {
        "isAuthorized": False,
        "context": {"error_description": "the token signature could not be verified"},
    }


def test_the_secret_is_cached_and_a_rotation_is_seen_once_the_cache_expires(secrets_manager, monkeypatch):
    arn = _create(secrets_manager, JWT_KEY)
    monkeypatch.setenv("JWT_SECRET_ARN", arn)
    assert _authorize(_token(JWT_KEY))["isAuthorized"] is True
    # When the secret is rotated
    secrets_manager.put_secret_value(SecretId=arn, SecretString=ROTATED_KEY)
    # Then the warm function keeps its cached key (no Secrets Manager call per request) ...
    assert _authorize(_token(JWT_KEY))["isAuthorized"] is True
    # ... and uses the new one once the cache (max_age 300 s) is gone, without a deploy
    reset_secret_cache()
    assert _authorize(_token(ROTATED_KEY))["isAuthorized"] is True
    assert _authorize(_token(JWT_KEY))["isAuthorized"] is False


def test_cursor_key_is_read_from_cursor_secret_arn(secrets_manager, monkeypatch):
    arn = _create(secrets_manager, "cursor-key-0123456789")
    monkeypatch.setenv("CURSOR_SECRET_ARN", arn)
    monkeypatch.setenv("JWT_SECRET", "another-key-that-must-not-be-used")
    get_settings.cache_clear()
    assert get_settings().hmac_key == b"etl-artifacts-cursor:cursor-key-0123456789"


def test_database_credentials_come_from_db_secret_arn_and_the_proxy_endpoint_replaces_the_host(
    secrets_manager, monkeypatch
):
    secret = {"host": "db.internal", "port": 5432, "username": "api", "password": "pw", "dbname": "etl"}
    monkeypatch.setenv("DB_SECRET_ARN", _create(secrets_manager, json.dumps(secret)))
    params = connection_params(get_settings())
    assert (params.host, params.port, params.user, params.password, params.database) == (
        "db.internal", 5432, "api", "pw", "etl",
    )  # fmt: skip
    assert params.via_proxy is False
    monkeypatch.setenv("DB_PROXY_ENDPOINT", "etl.proxy-abc.eu-west-1.rds.amazonaws.com")
    get_settings.cache_clear()
    params = connection_params(get_settings())
    assert (params.host, params.port, params.user, params.via_proxy) == (
        "etl.proxy-abc.eu-west-1.rds.amazonaws.com", 5432, "api", True,
    )  # fmt: skip
    assert params.needs_tls


def test_an_unreadable_secret_is_a_configuration_error_without_its_arn(secrets_manager, monkeypatch, caplog):
    missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:does-not-exist-AbCdEf"
    monkeypatch.setenv("JWT_SECRET_ARN", missing)
    # The authorizer fails (API Gateway answers 500) rather than refusing every token as 401.
    with pytest.raises(ConfigurationError) as raised:
        _authorize(_token(JWT_KEY))
    assert "does-not-exist" not in str(raised.value)
    assert "does-not-exist" not in caplog.text
