"""JWT attack matrix through the local gateway (docs/security.md), beyond the basics of test_auth.py.

Every refused token is a 401 ``unauthorized`` ErrorResponse, and the spy on the gateway's
``invoke`` proves that nothing but the authorizer ran: no route function ever sees a refused
request, whatever the route and whatever its (even invalid) parameters.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest
from conftest import TEST_JWT_SECRET
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from etl_artifacts.config import get_settings
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from route_helpers import authorized_routes, sample_path
from security_helpers import InvocationSpy, JwksServer, b64url, b64url_json, raw_token

WHOAMI = "/api/v1/whoami"
AUTHORIZER = "AuthorizerFunction"
ROUTES = authorized_routes()
ROUTE_IDS = [r.route_key for r in ROUTES]


def _now() -> int:
    return int(time.time())


def _claims(company: Any = "acme", **extra: Any) -> dict[str, Any]:
    now = _now()
    claims = {"id_company": company, "sub": "attacker", "iat": now, "exp": now + 600, **extra}
    return {k: v for k, v in claims.items() if v is not None}


def _hs(
    claims: dict[str, Any],
    secret: str | bytes = TEST_JWT_SECRET,
    alg: str = "HS256",
    headers: dict[str, Any] | None = None,
) -> str:
    return jwt.encode(claims, secret, algorithm=alg, headers=headers)


def _hmac_sign(header: dict[str, Any], claims: dict[str, Any], key: bytes) -> str:
    """HS256 by hand: pyjwt rightly refuses PEM public keys as HMAC secrets, an attacker does not."""
    signing_input = f"{b64url_json(header)}.{b64url_json(claims)}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def assert_refused(response: Any, spy: InvocationSpy) -> None:
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["code"] == "unauthorized"
    assert body["status"] == 401
    assert set(body) == {"detail", "code", "status", "request_id"}
    assert response.headers["Content-Type"].startswith("application/json")
    # Nothing but the authorizer ran (and not even it without an Authorization header).
    assert spy.functions <= {AUTHORIZER}, spy.calls


# -- keys ------------------------------------------------------------------------------------------


class Keys:
    def __init__(self) -> None:
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.attacker_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.rsa_public_pem = self.rsa.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def jwks(self) -> list[dict[str, Any]]:
        rsa_jwk = json.loads(RSAAlgorithm.to_jwk(self.rsa.public_key()))
        ec_jwk = json.loads(ECAlgorithm.to_jwk(self.ec.public_key()))
        return [
            {**rsa_jwk, "kid": "rsa-1", "use": "sig", "alg": "RS256"},
            {**ec_jwk, "kid": "ec-1", "use": "sig", "alg": "ES256"},
        ]

    def rs256(
        self,
        claims: dict[str, Any],
        kid: str = "rsa-1",
        alg: str = "RS256",
        key: Any = None,
        headers: dict[str, Any] | None = None,
    ) -> str:
        return jwt.encode(claims, key or self.rsa, algorithm=alg, headers={"kid": kid, **(headers or {})})

    def es256(self, claims: dict[str, Any], kid: str = "ec-1") -> str:
        return jwt.encode(claims, self.ec, algorithm="ES256", headers={"kid": kid})


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys()


@pytest.fixture(scope="module")
def jwks_server(keys: Keys) -> Iterator[JwksServer]:
    server = JwksServer(keys.jwks()).start()
    yield server
    server.stop()


@pytest.fixture
def jwks_env(jwks_server: JwksServer, monkeypatch: pytest.MonkeyPatch) -> JwksServer:
    # JWT_SECRET stays set: with a JWKS configured, HS256 must be refused even with that secret.
    monkeypatch.setenv("JWT_JWKS_URL", jwks_server.url)
    return jwks_server


# -- the HS256 configuration (the default test environment) ----------------------------------------


def _alg_none_tokens() -> dict[str, Callable[[], str]]:
    def none_with(alg: str, signature: bytes = b"") -> Callable[[], str]:
        return lambda: raw_token({"alg": alg, "typ": "JWT"}, _claims(), signature)

    def none_with_valid_hmac() -> str:
        header = {"alg": "none", "typ": "JWT"}
        return _hmac_sign(header, _claims(), TEST_JWT_SECRET.encode())

    return {
        "alg-None": none_with("None"),
        "alg-NONE": none_with("NONE"),
        "alg-nOnE": none_with("nOnE"),
        "alg-none-junk-signature": none_with("none", b"junk"),
        "alg-none-with-real-hmac": none_with_valid_hmac,
        "alg-empty": none_with(""),
        "alg-missing": lambda: raw_token({"typ": "JWT"}, _claims()),
    }


BAD_HS_TOKENS: dict[str, Callable[[], str]] = {
    **_alg_none_tokens(),
    "hs384-right-secret": lambda: _hs(_claims(), alg="HS384"),
    "hs256-secret-prefix": lambda: _hs(_claims(), secret=TEST_JWT_SECRET[:-1]),
    "hs256-empty-secret": lambda: _hmac_sign({"alg": "HS256", "typ": "JWT"}, _claims(), b""),
    "expired-beyond-leeway": lambda: _hs(_claims(exp=_now() - 31 - 5)),
    "expired-long-ago": lambda: _hs(_claims(exp=1)),
    "nbf-future-beyond-leeway": lambda: _hs(_claims(nbf=_now() + 31 + 60)),
    "no-exp": lambda: _hs({"id_company": "acme", "sub": "x", "iat": _now()}),
    "exp-null": lambda: _hs({"id_company": "acme", "exp": None}),
    "exp-not-a-number": lambda: _hs(_claims(exp="tomorrow")),
    "exp-absurdly-far": lambda: _hs(_claims(exp=10**15)),
    "exp-infinite": lambda: _hmac_sign(
        {"alg": "HS256", "typ": "JWT"}, {"id_company": "acme", "exp": 1e400}, TEST_JWT_SECRET.encode()
    ),
    "company-missing": lambda: _hs(_claims(company=None)),
    "company-empty": lambda: _hs(_claims(company="")),
    "company-array": lambda: _hs(_claims(company=["acme", "globex"])),
    "company-array-single": lambda: _hs(_claims(company=["acme"])),
    "company-empty-array": lambda: _hs(_claims(company=[])),
    "company-object": lambda: _hs(_claims(company={"id": "acme"})),
    "company-bool": lambda: _hs(_claims(company=False)),
    "company-slash": lambda: _hs(_claims(company="acme/../globex")),
    "company-dotdot": lambda: _hs(_claims(company="..")),
    "company-dot": lambda: _hs(_claims(company=".")),
    "company-control-char": lambda: _hs(_claims(company="acme\nglobex")),
    "company-nul": lambda: _hs(_claims(company="acme\x00")),
    "tampered-payload-company": lambda: _tamper_payload(_hs(_claims()), company="globex"),
    "tampered-payload-exp": lambda: _tamper_payload(_hs(_claims(exp=_now() - 3600)), exp=_now() + 3600),
    "tampered-header-alg": lambda: _tamper_header(_hs(_claims()), alg="HS384"),
    "signature-bit-flipped": lambda: _flip_signature(_hs(_claims())),
    "signature-stripped": lambda: _hs(_claims()).rsplit(".", 1)[0] + ".",
    "signature-truncated": lambda: _hs(_claims())[:-4],
    "four-segments": lambda: _hs(_claims()) + ".AAAA",
    "jwe-shaped": lambda: ".".join(["eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0", "", "AAAA", "AAAA", "AAAA"]),
    "payload-not-json": lambda: _hmac_sign_raw(b'{"alg":"HS256"}', b"not json"),
    "payload-json-array": lambda: _hmac_sign_raw(b'{"alg":"HS256"}', b'["id_company","acme"]'),
    "oversized-valid-signature": lambda: _hs(_claims(padding="x" * 9000)),
    "rs256-when-hs-configured": None,  # filled in by the keys fixture (needs an RSA key)
}


def _tamper_payload(token: str, **changes: Any) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    return f"{header}.{b64url_json(claims)}.{signature}"


def _tamper_header(token: str, **changes: Any) -> str:
    header, payload, signature = token.split(".")
    fields = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    fields.update(changes)
    return f"{b64url_json(fields)}.{payload}.{signature}"


def _flip_signature(token: str) -> str:
    head, _, signature = token.rpartition(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[0] ^= 0x01
    return f"{head}.{b64url(bytes(raw))}"


def _hmac_sign_raw(header: bytes, payload: bytes) -> str:
    signing_input = f"{b64url(header)}.{b64url(payload)}"
    signature = hmac.new(TEST_JWT_SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


@pytest.mark.parametrize("case", sorted(BAD_HS_TOKENS))
def test_refused_tokens_never_reach_a_function(api, invocations, keys, case):
    # Given a token forged, malformed or outside the policy
    factory = BAD_HS_TOKENS[case]
    token = keys.rs256(_claims()) if factory is None else factory()
    # When it calls a protected route, Then the authorizer alone answers 401
    assert_refused(api.get(WHOAMI, token=token), invocations)
    assert AUTHORIZER in invocations.functions or len(token) > 8192


ROUTE_ATTACKS: dict[str, Callable[[], str]] = {
    "alg-none": BAD_HS_TOKENS["alg-None"],
    "wrong-key": lambda: _hs(_claims(), secret="attacker-secret-0123456789-abcdefghijklmnop"),
    "expired": BAD_HS_TOKENS["expired-beyond-leeway"],
    "tampered": BAD_HS_TOKENS["tampered-payload-company"],
    "company-array": BAD_HS_TOKENS["company-array"],
}


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
@pytest.mark.parametrize("attack", sorted(ROUTE_ATTACKS))
def test_every_route_refuses_before_any_function(api, invocations, route, attack):
    token = ROUTE_ATTACKS[attack]()
    assert_refused(api.request(route.method, sample_path(route.path), token=token), invocations)


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
def test_bad_token_wins_over_bad_parameters(api, invocations, route):
    # Invalid dag_id, date, run_id and query: authorization still answers first.
    path = sample_path(
        route.path,
        dag_id="not-a-uuid",
        date="2026-02-30",
        encoded_run_id="..%2F..%2Fetc",
        phase="nope",
        artifact_kind="nope",
    )
    path += ("&" if "?" in path else "?") + "limit=999999&page=-1"
    assert_refused(api.request(route.method, path, token=ROUTE_ATTACKS["wrong-key"]()), invocations)


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
def test_no_authorization_header_invokes_nothing(api, invocations, route):
    assert_refused(api.request(route.method, sample_path(route.path), company=None), invocations)
    assert invocations.calls == []


def test_a_valid_token_does_reach_the_function(api, invocations, make_token):
    # The control: the spy sees the route function when the token is good.
    response = api.get(WHOAMI, token=make_token("acme"))
    assert response.status_code == 200
    assert invocations.calls == [AUTHORIZER, "MetaFunction"]


# -- where the token is carried ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "Basic {token}",
        "Token {token}",
        "JWT {token}",
        "Digest {token}",
        "{token}",
        "Bearer: {token}",
        "Bearer\t{token}",
        "Bearer {token} extra",
        "Bearer {token},Bearer {token}",
        "BearerX {token}",
    ],
)
def test_valid_token_in_a_non_bearer_scheme_is_refused(api, invocations, make_token, header):
    token = make_token("acme")
    response = api.get(WHOAMI, company=None, headers={"Authorization": header.format(token=token)})
    assert_refused(response, invocations)


def test_bearer_scheme_is_case_insensitive(api, make_token):
    # RFC 7235: the scheme is case-insensitive; the control for the refusals above.
    response = api.get(WHOAMI, company=None, headers={"Authorization": f"bearer {make_token('acme')}"})
    assert response.status_code == 200


@pytest.mark.parametrize("where", ["query", "cookie", "x-header"])
def test_token_outside_the_authorization_header_is_ignored(api, invocations, make_token, where):
    token = make_token("acme")
    kwargs: dict[str, Any] = {}
    if where == "query":
        kwargs["params"] = {"access_token": token, "token": token}
    elif where == "cookie":
        kwargs["headers"] = {"Cookie": f"access_token={token}; Authorization=Bearer%20{token}"}
    else:
        kwargs["headers"] = {"X-Authorization": f"Bearer {token}", "X-Amzn-Oidc-Data": token}
    assert_refused(api.get(WHOAMI, company=None, **kwargs), invocations)
    assert invocations.calls == []


def test_two_authorization_headers_are_refused(gateway_url, make_token, invocations):
    # Duplicate headers are joined with commas (as API Gateway does): never "the first one wins".
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(gateway_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.putrequest("GET", WHOAMI)
        conn.putheader("Authorization", f"Bearer {make_token('acme')}")
        conn.putheader("Authorization", f"Bearer {make_token('globex')}")
        conn.endheaders()
        response = conn.getresponse()
        body = json.loads(response.read())
    finally:
        conn.close()
    assert response.status == 401
    assert body["code"] == "unauthorized"
    assert invocations.functions <= {AUTHORIZER}


def test_configuration_without_any_key_refuses_everything(api, invocations, make_token, monkeypatch):
    monkeypatch.delenv("JWT_SECRET")
    assert_refused(api.get(WHOAMI, token=make_token("acme")), invocations)


def test_leeway_is_configurable(api, invocations, make_token, monkeypatch):
    monkeypatch.setenv("JWT_LEEWAY_S", "0")
    assert_refused(api.get(WHOAMI, token=make_token("acme", ttl=-2)), invocations)


def test_wrong_issuer_or_audience_on_every_family(api, invocations, make_token, monkeypatch):
    monkeypatch.setenv("JWT_ISSUER", "https://issuer.example")
    monkeypatch.setenv("JWT_AUDIENCE", "etl-artifacts")
    for route in ROUTES:
        path = sample_path(route.path)
        for claims in (
            {"iss": "https://issuer.example.evil", "aud": "etl-artifacts"},
            {"iss": "https://issuer.example", "aud": ["other", "another"]},
            {"aud": "etl-artifacts"},  # no iss at all
            {"iss": "https://issuer.example"},  # no aud at all
        ):
            invocations.clear()
            assert_refused(api.request(route.method, path, token=make_token("acme", **claims)), invocations)
    good = make_token("acme", iss="https://issuer.example", aud=["other", "etl-artifacts"])
    assert api.get(WHOAMI, token=good).status_code == 200


# -- the JWKS configuration (RS256 / ES256) ------------------------------------------------------------


def test_rs256_and_es256_from_jwks_are_accepted(api, jwks_env, keys, invocations):
    for token in (keys.rs256(_claims("acme")), keys.es256(_claims("globex"))):
        invocations.clear()
        response = api.get(WHOAMI, token=token)
        assert response.status_code == 200, response.text
        assert invocations.calls == [AUTHORIZER, "MetaFunction"]
    assert api.get(WHOAMI, token=keys.es256(_claims("globex"))).json()["id_company"] == "globex"


def _jwks_attacks(keys: Keys, attacker_jwks_url: str) -> dict[str, str]:
    claims = _claims("acme")
    hs_header = {"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}
    rsa_jwk_json = json.dumps(keys.jwks()[0]).encode()
    rsa_der = keys.rsa.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    attacker_jwk = json.loads(RSAAlgorithm.to_jwk(keys.attacker_rsa.public_key()))
    return {
        # HS/RS key confusion: the verifier's public key used as an HMAC secret.
        "hs256-signed-with-rsa-public-pem": _hmac_sign(hs_header, claims, keys.rsa_public_pem),
        "hs256-rsa-public-pem-stripped": _hmac_sign(hs_header, claims, keys.rsa_public_pem.strip()),
        "hs256-signed-with-rsa-public-der": _hmac_sign(hs_header, claims, rsa_der),
        "hs256-signed-with-rsa-jwk-json": _hmac_sign(hs_header, claims, rsa_jwk_json),
        # The HS secret is not a credential once a JWKS is configured.
        "hs256-with-jwt-secret": _hs(claims, headers={"kid": "rsa-1"}),
        "hs256-with-jwt-secret-no-kid": _hs(claims),
        "none-with-kid": raw_token({"alg": "none", "kid": "rsa-1"}, claims),
        "rs256-attacker-key-real-kid": keys.rs256(claims, key=keys.attacker_rsa),
        "rs256-unknown-kid": keys.rs256(claims, kid="nope"),
        "rs256-no-kid": jwt.encode(claims, keys.rsa, algorithm="RS256"),
        "rs256-kid-of-ec-key": keys.rs256(claims, kid="ec-1"),
        "es256-kid-of-rsa-key": jwt.encode(claims, keys.ec, algorithm="ES256", headers={"kid": "rsa-1"}),
        "rs384-real-key": keys.rs256(claims, alg="RS384"),
        "rs512-real-key": keys.rs256(claims, alg="RS512"),
        "ps256-real-key": keys.rs256(claims, alg="PS256"),
        "jku-attacker-jwks": keys.rs256(
            claims, kid="attacker", key=keys.attacker_rsa, headers={"jku": attacker_jwks_url}
        ),
        "embedded-jwk-attacker": keys.rs256(
            claims,
            kid="attacker",
            key=keys.attacker_rsa,
            headers={"jwk": {**attacker_jwk, "kid": "attacker"}},
        ),
        "x5u-attacker": keys.rs256(
            claims, kid="attacker", key=keys.attacker_rsa, headers={"x5u": attacker_jwks_url}
        ),
        "rs256-expired": keys.rs256(_claims("acme", exp=_now() - 3600)),
        "rs256-nbf-future": keys.rs256(_claims("acme", nbf=_now() + 3600)),
        "rs256-no-exp": keys.rs256({"id_company": "acme"}),
        "rs256-company-array": keys.rs256(_claims(["acme"])),
        "es256-tampered": _tamper_payload(keys.es256(claims), id_company="globex"),
        "kid-path-traversal": keys.rs256(claims, kid="../../etc/passwd"),
    }


def test_jwks_attack_matrix(api, jwks_env, keys, invocations):
    attacker = JwksServer(
        [
            {
                **json.loads(RSAAlgorithm.to_jwk(keys.attacker_rsa.public_key())),
                "kid": "attacker",
                "alg": "RS256",
            }
        ]
    ).start()
    try:
        attacks = _jwks_attacks(keys, attacker.url)
        for name, token in attacks.items():
            invocations.clear()
            response = api.get(WHOAMI, token=token)
            assert response.status_code == 401, name
            assert_refused(response, invocations)
        # Header-supplied key locations are never followed.
        assert attacker.hits == 0
    finally:
        attacker.stop()


def test_jwks_unreachable_is_401_not_500(api, invocations, keys, monkeypatch):
    from etl_artifacts_local.services import free_port

    monkeypatch.setenv("JWT_JWKS_URL", f"http://127.0.0.1:{free_port()}/.well-known/jwks.json")
    assert_refused(api.get(WHOAMI, token=keys.rs256(_claims())), invocations)


def test_jwks_document_garbage_is_401(api, invocations, keys, monkeypatch):
    server = JwksServer([{"kty": "RSA", "kid": "rsa-1", "n": "!!", "e": "AQAB"}, {"nonsense": True}]).start()
    try:
        monkeypatch.setenv("JWT_JWKS_URL", server.url)
        assert_refused(api.get(WHOAMI, token=keys.rs256(_claims())), invocations)
    finally:
        server.stop()


# -- claims taken exactly as written ------------------------------------------------

# Each was accepted (and trimmed, or let through) before: now 401.
UNWRITTEN_COMPANIES = {
    "trailing-space": "acme ",
    "leading-tab": "\tacme",
    "trailing-newline": "acme\n",
    "line-separator": "acme\u2028",
    "paragraph-separator": "acme\u2029",
    "ideographic-space": "\u3000acme",
    "no-break-space": "acme\u00a0",
    "c1-control": "acme\x9b42",
    "del": "acme\x7f",
    "zero-width-space": "ac\u200bme",
    "bidi-override": "\u202eacme",
    "bom": "\ufeffacme",
    "private-use": "acme\ue000",
    "unassigned": "acme\u0378",
    "lone-surrogate": "\ud800",
    "surrogate-inside": "ac\udfffme",
    "too-long": "a" * 257,
    "only-spaces": "   ",
}


@pytest.mark.parametrize("case", sorted(UNWRITTEN_COMPANIES))
def test_company_claim_is_taken_exactly_as_written(api, invocations, case):
    token = _hs(_claims(UNWRITTEN_COMPANIES[case]))
    assert_refused(api.get(WHOAMI, token=token), invocations)


@pytest.mark.parametrize("company", ["acme", "Acme Corp", "société-générale", "a" * 256, 42, "acme.eu"])
def test_written_companies_are_accepted_as_is(api, company):
    response = api.get(WHOAMI, token=_hs(_claims(company)))
    assert response.status_code == 200, response.text
    assert response.json()["id_company"] == str(company)


@pytest.mark.parametrize("sub", ["\ud800", "x" * 257, " tester", "a\u2028b", 12345, ["a"]])
def test_sub_claim_is_checked_like_the_company(api, invocations, sub):
    assert_refused(api.get(WHOAMI, token=_hs(_claims(sub=sub))), invocations)


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
def test_time_claims_must_be_numbers(api, invocations, claim):
    # pyjwt alone takes int("...") of a numeric string, and true as 1.
    value = str(_now() + 600 if claim == "exp" else _now() - 10)
    assert_refused(api.get(WHOAMI, token=_hs(_claims(**{claim: value}))), invocations)
    assert_refused(api.get(WHOAMI, token=_hs(_claims(**{claim: True}))), invocations)


def test_a_fractional_exp_is_a_number(api):
    response = api.get(WHOAMI, token=_hs(_claims(exp=_now() + 600.5)))
    assert response.status_code == 200, response.text


def test_exp_beyond_the_maximum_lifetime_is_refused(api, invocations, monkeypatch):
    day = 86_400
    assert api.get(WHOAMI, token=_hs(_claims(exp=_now() + day - 60))).status_code == 200
    invocations.clear()
    assert_refused(api.get(WHOAMI, token=_hs(_claims(exp=_now() + day + 3600))), invocations)
    monkeypatch.setenv("JWT_MAX_LIFETIME_S", "300")
    get_settings.cache_clear()
    invocations.clear()
    assert_refused(api.get(WHOAMI, token=_hs(_claims(exp=_now() + 600))), invocations)
    assert api.get(WHOAMI, token=_hs(_claims(exp=_now() + 200))).status_code == 200


@pytest.mark.parametrize("aud", ["etl-artifacts", ["etl-artifacts"], "", []])
def test_aud_without_a_configured_audience_is_refused(api, invocations, aud):
    # RFC 7519 4.1.3: without JWT_AUDIENCE this API cannot identify itself in any aud.
    assert_refused(api.get(WHOAMI, token=_hs(_claims(aud=aud))), invocations)


def test_lone_surrogate_company_on_storage_routes_is_401_without_logging_errors(api, invocations, capfd):
    token = _hs(_claims("\ud800"))
    for route in ROUTES:
        invocations.clear()
        assert_refused(api.request(route.method, sample_path(route.path), token=token), invocations)
    assert "Logging error" not in capfd.readouterr().err


def test_a_lone_surrogate_in_a_log_record_is_written_escaped(capfd):
    import io

    from etl_artifacts.observability import logger

    # A strict UTF-8 stream, as Lambda's stdout: a raw lone surrogate cannot be written to it.
    stream = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict", write_through=True)
    handler = logger.registered_handler
    previous = handler.setStream(stream)  # type: ignore[attr-defined]
    try:
        logger.warning("probe", extra={"value": "x\ud800y", "city": "Zürich"})
    finally:
        handler.setStream(previous)  # type: ignore[attr-defined]
    assert "Logging error" not in capfd.readouterr().err
    line = stream.buffer.getvalue().decode("utf-8")  # type: ignore[attr-defined]
    record = json.loads(line)
    assert record["message"] == "probe"
    assert record["value"] == "x\ud800y" and record["city"] == "Zürich"
    assert "Zürich" in line  # non-ASCII stays readable
