"""Presigned URLs with their true lifetime: signed with AssumeRole sessions (moto's STS, over
HTTP) whose session policy allows GetObject on the caller's tenant prefix only, cached per tenant,
and never outliving those credentials (``expires_at`` = min(requested, credentials' expiry)).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
import requests
from artifacts_helpers import new_run, query_params
from etl_artifacts.artifacts import presign_credentials
from etl_artifacts.artifacts.presign_credentials import tenant_session_policy
from etl_artifacts.artifacts.service import presign_run_artifact
from etl_artifacts.clients import sts_client
from etl_artifacts_local.services import MotoS3Server

ROLE_ARN = "arn:aws:iam::123456789012:role/etl-artifacts-presign"
DATA_KEY = "extract/attempt=1/data_000.parquet"


@pytest.fixture
def assume_calls(
    s3_server: MotoS3Server, base_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> list[Any]:
    """PRESIGN_ROLE_ARN set and STS at moto's server; records every AssumeRole request."""
    monkeypatch.setenv("PRESIGN_ROLE_ARN", ROLE_ARN)
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", s3_server.endpoint)
    calls: list[dict[str, Any]] = []
    client = sts_client()
    original = client.assume_role

    def assume_role(**kwargs: Any) -> Any:
        answer = original(**kwargs)
        calls.append({**kwargs, "AccessKeyId": answer["Credentials"]["AccessKeyId"],
                      "Expiration": answer["Credentials"]["Expiration"]})  # fmt: skip
        return answer

    monkeypatch.setattr(client, "assume_role", assume_role)
    return calls


def _presign(company: str, expires_in: int) -> tuple[Any, bytes]:
    stored = new_run(company)
    body = stored.put(DATA_KEY)
    return presign_run_artifact(stored.run, "extract-data", 1, 0, expires_in), body


def test_urls_are_signed_by_a_tenant_scoped_role_session(assume_calls):
    # When a tenant asks for a URL
    answer, body = _presign("acme", 600)
    # Then it was signed with a role session (its key and token), valid for what was asked
    (call,) = assume_calls
    params = query_params(answer.url)
    assert params["X-Amz-Credential"].startswith(call["AccessKeyId"] + "/")
    assert "X-Amz-Security-Token" in params
    assert answer.expires_in == 600 and int(params["X-Amz-Expires"]) == 600
    assert answer.expires_at <= call["Expiration"]
    # And the session policy allows GetObject under exactly that tenant's prefix
    policy = json.loads(call["Policy"])
    (statement,) = policy["Statement"]
    assert statement["Action"] == "s3:GetObject"
    assert statement["Resource"] == "arn:aws:s3:::test-artifacts/acme/*"
    assert call["RoleArn"] == ROLE_ARN and call["DurationSeconds"] <= 3600
    # And the URL downloads the object byte for byte
    assert requests.get(answer.url, timeout=30).content == body


def test_sessions_are_cached_per_tenant(assume_calls):
    _presign("acme", 300)
    _presign("acme", 600)
    assert len(assume_calls) == 1
    _presign("globex", 300)
    assert len(assume_calls) == 2
    assert json.loads(assume_calls[1]["Policy"])["Statement"][0]["Resource"].endswith("/globex/*")


def test_a_url_never_outlives_its_credentials(assume_calls, monkeypatch):
    # Given role sessions that last 15 minutes
    monkeypatch.setattr(presign_credentials, "SESSION_DURATION_S", 900)
    # When an hour is asked for
    answer, _ = _presign("acme", 3600)
    # Then the URL says (and is signed for) what the credentials allow, not what was asked
    (call,) = assume_calls
    assert answer.expires_in <= 900
    assert int(query_params(answer.url)["X-Amz-Expires"]) == answer.expires_in
    assert answer.expires_at <= call["Expiration"]


def test_a_cached_session_too_short_for_the_request_is_replaced(assume_calls, monkeypatch):
    monkeypatch.setattr(presign_credentials, "SESSION_DURATION_S", 900)
    _presign("acme", 60)
    # 900 s sessions cannot serve 1,000 s: a fresh one is assumed (and caps the URL)
    answer, _ = _presign("acme", 1000)
    assert len(assume_calls) == 2
    assert answer.expires_in <= 900


def test_without_a_presign_role_the_function_client_signs(base_env, monkeypatch):
    monkeypatch.delenv("PRESIGN_ROLE_ARN", raising=False)
    answer, _ = _presign("acme", 1234)
    assert answer.expires_in == 1234
    assert answer.expires_at - dt.datetime.now(dt.UTC) <= dt.timedelta(seconds=1234)


@pytest.mark.parametrize(
    ("tenant_prefix", "expected"),
    [
        ("acme/", "arn:aws:s3:::b/acme/*"),
        ("p/acme/", "arn:aws:s3:::b/p/acme/*"),
        # IAM wildcards and policy variables in a tenant id are literals, not patterns.
        ("a*b?c$d/", "arn:aws:s3:::b/a${*}b${?}c${$}d/*"),
        ("${aws:username}/", "arn:aws:s3:::b/${$}{aws:username}/*"),
    ],
)
def test_session_policy_names_the_tenant_prefix_literally(tenant_prefix, expected):
    policy = json.loads(tenant_session_policy("aws", "b", tenant_prefix))
    assert policy["Statement"] == [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": expected}]
