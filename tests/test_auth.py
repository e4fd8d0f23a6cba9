"""The token rules of docs/security.md, on ``auth.bearer_token`` and ``auth.verify_token`` (pure:
no server). Every refusal class is also proven over HTTP once, through the real authorizer in
front of every route, in test_security_jwt.py; here only what the claim configuration changes
goes through the gateway."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest
from conftest import TEST_JWT_SECRET
from etl_artifacts.auth import bearer_token, verify_token
from etl_artifacts.config import Settings
from etl_artifacts.errors import Unauthorized

WHOAMI = "/api/v1/whoami"


def _settings(**variables: str) -> Settings:
    return Settings.model_validate({"JWT_SECRET": TEST_JWT_SECRET, **variables})


def _token(claims: dict[str, Any], *, secret: str = TEST_JWT_SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=algorithm)


def _claims(company: Any = "acme", **claims: Any) -> dict[str, Any]:
    return {"id_company": company, "sub": "tester", "exp": int(time.time()) + 60, **claims}


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "header", [None, "", "Basic abc", "Bearer", "Bearer ", "Token abc", "bearer a b", "abc"]
)
def test_malformed_or_non_bearer_header_is_refused(header):
    with pytest.raises(Unauthorized):
        bearer_token(header)


def test_bearer_token_is_taken_from_the_header():
    assert bearer_token("bearer  abc.def.ghi ") == "abc.def.ghi"


def test_oversized_token_is_refused_before_parsing():
    with pytest.raises(Unauthorized):
        bearer_token("Bearer " + "a" * 9000)


def test_a_valid_token_gives_its_company_and_subject():
    principal = verify_token(_token(_claims()), _settings())
    assert (principal.id_company, principal.sub) == ("acme", "tester")


def test_expired_within_the_leeway_is_accepted():
    assert verify_token(_token(_claims(exp=int(time.time()) - 5)), _settings()).id_company == "acme"


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda: _token(_claims(), secret="another-secret-0123456789abcdefghij"), id="wrong-key"),
        pytest.param(lambda: _token(_claims(), algorithm="HS512"), id="other-hs-algorithm"),
        pytest.param(lambda: f"{_b64({'alg': 'none'})}.{_b64(_claims())}.", id="alg-none"),
        pytest.param(lambda: _token(_claims(exp=int(time.time()) - 120)), id="expired"),
        pytest.param(lambda: _token(_claims(nbf=int(time.time()) + 600)), id="nbf-future"),
        pytest.param(lambda: _token({"id_company": "acme", "sub": "x"}), id="no-exp"),
        pytest.param(lambda: "not.a.jwt", id="garbage"),
    ],
)
def test_bad_tokens_are_refused(token):
    with pytest.raises(Unauthorized):
        verify_token(token(), _settings())


@pytest.mark.parametrize("company", [None, "", "   ", ["acme"], {"a": 1}, True, 1.5])
def test_missing_empty_or_non_scalar_company_is_refused(company):
    claims = _claims(company)
    if company is None:
        del claims["id_company"]
    with pytest.raises(Unauthorized):
        verify_token(_token(claims), _settings())


def test_issuer_and_audience_when_configured():
    settings = _settings(JWT_ISSUER="https://issuer.example", JWT_AUDIENCE="etl-artifacts")
    good = _claims(iss="https://issuer.example", aud="etl-artifacts")
    assert verify_token(_token(good), settings).id_company == "acme"
    for bad in (
        _claims(iss="https://evil.example", aud="etl-artifacts"),
        _claims(iss="https://issuer.example", aud="other"),
        _claims(),
    ):
        with pytest.raises(Unauthorized):
            verify_token(_token(bad), settings)


def test_custom_company_claim(api, make_token, monkeypatch):
    monkeypatch.setenv("JWT_COMPANY_CLAIM", "tenant")
    response = api.get(WHOAMI, token=make_token(None, tenant="globex"))
    assert response.status_code == 200
    assert response.json()["id_company"] == "globex"
