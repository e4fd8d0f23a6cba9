"""CONTRACT §5: every refusal is a 401 ErrorResponse with code ``unauthorized``, decided by the
authorizer before any function (or parameter validation) runs."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from conftest import TEST_JWT_SECRET

WHOAMI = "/api/v1/whoami"


def _assert_unauthorized(response):
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == "unauthorized"
    assert body["status"] == 401
    assert set(body) == {"detail", "code", "status", "request_id"}


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _now() -> int:
    return int(time.time())


def test_missing_header(api):
    _assert_unauthorized(api.get(WHOAMI, company=None))


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer ", "Token abc", "bearer a b", "abc"])
def test_malformed_or_non_bearer_header(api, header):
    _assert_unauthorized(api.get(WHOAMI, company=None, headers={"Authorization": header}))


def test_alg_none_is_refused(api):
    token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64({'id_company': 'acme', 'exp': _now() + 60})}."
    _assert_unauthorized(api.get(WHOAMI, token=token))


def test_wrong_key(api, make_token):
    _assert_unauthorized(
        api.get(WHOAMI, token=make_token("acme", secret="another-secret-0123456789abcdefghij"))
    )


def test_expired_beyond_leeway(api, make_token):
    _assert_unauthorized(api.get(WHOAMI, token=make_token("acme", ttl=-120)))


def test_expired_within_leeway_is_accepted(api, make_token):
    assert api.get(WHOAMI, token=make_token("acme", ttl=-5)).status_code == 200


def test_nbf_in_the_future(api, make_token):
    _assert_unauthorized(api.get(WHOAMI, token=make_token("acme", nbf=_now() + 600)))


def test_no_exp(api):
    token = jwt.encode({"id_company": "acme", "sub": "x"}, TEST_JWT_SECRET, algorithm="HS256")
    _assert_unauthorized(api.get(WHOAMI, token=token))


@pytest.mark.parametrize("company", [None, "", "   ", ["acme"], {"a": 1}, True, 1.5])
def test_missing_empty_or_non_scalar_company(api, company):
    now = _now()
    claims = {"sub": "x", "exp": now + 60}
    if company is not None:
        claims["id_company"] = company
    token = jwt.encode(claims, TEST_JWT_SECRET, algorithm="HS256")
    _assert_unauthorized(api.get(WHOAMI, token=token))


def test_tampered_payload(api, make_token):
    header, _, signature = make_token("acme").split(".")
    forged = _b64({"id_company": "other", "exp": _now() + 60})
    _assert_unauthorized(api.get(WHOAMI, token=f"{header}.{forged}.{signature}"))


def test_other_hs_algorithm_is_refused(api):
    token = jwt.encode({"id_company": "acme", "exp": _now() + 60}, TEST_JWT_SECRET, algorithm="HS512")
    _assert_unauthorized(api.get(WHOAMI, token=token))


def test_garbage_token(api):
    _assert_unauthorized(api.get(WHOAMI, token="not.a.jwt"))


def test_oversized_token(api):
    _assert_unauthorized(api.get(WHOAMI, token="a" * 9000))


def test_issuer_and_audience_when_configured(api, make_token, monkeypatch):
    monkeypatch.setenv("JWT_ISSUER", "https://issuer.example")
    monkeypatch.setenv("JWT_AUDIENCE", "etl-artifacts")
    good = make_token("acme", iss="https://issuer.example", aud="etl-artifacts")
    assert api.get(WHOAMI, token=good).status_code == 200
    _assert_unauthorized(
        api.get(WHOAMI, token=make_token("acme", iss="https://evil.example", aud="etl-artifacts"))
    )
    _assert_unauthorized(api.get(WHOAMI, token=make_token("acme", iss="https://issuer.example", aud="other")))
    _assert_unauthorized(api.get(WHOAMI, token=make_token("acme")))


def test_custom_company_claim(api, make_token, monkeypatch):
    monkeypatch.setenv("JWT_COMPANY_CLAIM", "tenant")
    response = api.get(WHOAMI, token=make_token(None, tenant="globex"))
    assert response.status_code == 200
    assert response.json()["id_company"] == "globex"


def test_bad_token_is_401_whatever_the_parameters(api):
    response = api.get("/api/v1/dags/not-a-uuid/runs?limit=99999", token="bad")
    _assert_unauthorized(response)
