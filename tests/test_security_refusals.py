"""Refusals and odd requests, answered alike everywhere (docs/security.md).

Tokens that repeat a JSON key are refused; every 401 (the local gateway's and a function's own)
is an ErrorResponse written like every other one, with ``WWW-Authenticate`` naming the rule that
failed and no value; ``expires_at`` is written alike in whoami and the authorizer context; a
gzip 413 says it varies on ``Accept-Encoding``; query bytes that are not UTF-8 are a 422; the
local gateway answers a request line it cannot parse in JSON and never logs a query string; its
own log lines never carry the logger context of the last function run in its process.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import socket
import string
import time
from typing import Any

import pyarrow as pa
import pytest
from conftest import REPO_ROOT, TEST_JWT_SECRET
from etl_artifacts import auth
from etl_artifacts.api.raw_request import query_parameters
from etl_artifacts.config import get_settings
from etl_artifacts.errors import QueryNotUtf8
from etl_artifacts_local.gateway import LocalGateway, make_gateway_server
from etl_artifacts_local.lambda_runtime import InvocationFailed, invoke
from etl_artifacts_local.template import FunctionSpec, load_template
from phases_helpers import new_run, phase_path, put_chunks, put_metadata
from plugins.leak_guard import capture_logs
from security_helpers import b64url
from werkzeug.test import Client

WHOAMI = "/api/v1/whoami"
UNSIGNED = b64url(b'{"alg":"none"}') + "." + b64url(b'{"id_company":"acme"}') + "."


def _compact(response: Any) -> str:
    return json.dumps(response.json(), separators=(",", ":"))


def _hs256(header_json: str, payload_json: str, secret: str = TEST_JWT_SECRET) -> str:
    """A token signed over JSON written by hand (json.dumps cannot repeat a key)."""
    signing_input = f"{b64url(header_json.encode())}.{b64url(payload_json.encode())}"
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def _challenge(rule: str) -> str:
    return f'Bearer error="invalid_token", error_description="{rule}"'


def assert_refused(response: Any, rule: str) -> None:
    """The documented 401: an ErrorResponse written as every other, naming ``rule``."""
    assert response.status_code == 401, response.text
    body = response.json()
    assert set(body) == {"detail", "code", "status", "request_id"}
    assert (body["code"], body["status"]) == ("unauthorized", 401)
    assert body["detail"].endswith(f": {rule}.")
    assert response.text == _compact(response)  # compact, as the functions write every error
    assert response.headers["WWW-Authenticate"] == _challenge(rule)
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["Cache-Control"] == "no-store"


# -- repeated keys ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "payload"),
    [
        # The last value wins in json.loads: this token used to be tenant acme's.
        ('{"alg":"HS256","typ":"JWT"}', '{"id_company":"globex","sub":"s","exp":%d,"id_company":"acme"}'),
        ('{"alg":"HS256","typ":"JWT"}', '{"id_company":"acme","exp":%d,"exp":%d}'),
        ('{"alg":"HS256","alg":"HS256","typ":"JWT"}', '{"id_company":"acme","exp":%d}'),
        ('{"alg":"HS256","typ":"JWT","typ":"JWT"}', '{"id_company":"acme","exp":%d}'),
        ('{"alg":"HS256","typ":"JWT"}', '{"id_company":"acme","exp":%d,"ctx":{"a":1,"a":2}}'),
    ],
)
def test_a_token_that_repeats_a_key_is_refused(api, invocations, header, payload):
    exp = int(time.time()) + 600
    token = _hs256(header, payload % ((exp,) * payload.count("%d")))
    response = api.get(WHOAMI, token=token)
    assert_refused(response, auth.DUPLICATE_KEY)
    assert invocations.functions <= {"AuthorizerFunction"}


def test_the_same_token_without_repeats_is_accepted(api):
    exp = int(time.time()) + 600
    token = _hs256('{"alg":"HS256","typ":"JWT"}', f'{{"id_company":"acme","sub":"s","exp":{exp}}}')
    response = api.get(WHOAMI, token=token)
    assert response.status_code == 200, response.text
    assert response.json()["id_company"] == "acme"


# -- which rule failed -----------------------------------------------------------------------------


def _now() -> int:
    return int(time.time())


# (case, make_token arguments, the rule named); times relative to now.
CASES: list[tuple[str, dict[str, Any], str]] = [
    ("expired", {"ttl": -600}, auth.EXPIRED),
    ("not yet valid", {"nbf": 600}, auth.NOT_YET_VALID),
    ("wrong key", {"secret": "another-secret-0123456789-abcdefghijklmnopqrstuvwxyz"}, auth.SIGNATURE),
    ("company missing", {"company": None}, auth.CLAIM),
    ("company with a space", {"company": "acme-secret-name "}, auth.CLAIM),
    ("sub not a string", {"sub": 42}, auth.CLAIM),
    ("too long-lived", {"ttl": 10 * 86400}, auth.LIFETIME),
    ("audience without JWT_AUDIENCE", {"aud": "other-service"}, auth.AUDIENCE),
]


@pytest.mark.parametrize(("name", "spec", "rule"), CASES, ids=[c[0] for c in CASES])
def test_every_401_names_the_rule_that_failed_and_no_value(api, make_token, name, spec, rule):
    arguments = dict(spec)
    if "nbf" in arguments:
        arguments["nbf"] = _now() + arguments["nbf"]
    company = arguments.pop("company", "acme")
    token = make_token(company, **arguments)
    response = api.get(WHOAMI, token=token)
    assert_refused(response, rule)
    assert "acme-secret-name" not in response.headers["WWW-Authenticate"] + response.text
    assert token not in response.text


@pytest.mark.parametrize(
    ("authorization", "rule"),
    [
        (None, auth.MISSING),
        ("Basic YWNtZTpzZWNyZXQ=", auth.MISSING),
        ("Bearer not-a-jwt", auth.MALFORMED),
        ("Bearer a.b.c", auth.MALFORMED),
        (f"Bearer {UNSIGNED}", auth.ALGORITHM),
    ],
)
def test_missing_malformed_and_unsigned_tokens_name_their_rule(api, authorization, rule):
    headers = {"Authorization": authorization} if authorization else {}
    assert_refused(api.get(WHOAMI, company=None, headers=headers), rule)


def test_wrong_issuer_and_audience_name_their_rule(api, make_token, monkeypatch):
    monkeypatch.setenv("JWT_ISSUER", "https://issuer.example")
    monkeypatch.setenv("JWT_AUDIENCE", "etl-artifacts")
    get_settings.cache_clear()
    good = {"iss": "https://issuer.example", "aud": "etl-artifacts"}
    assert api.get(WHOAMI, token=make_token("acme", **good)).status_code == 200
    assert_refused(api.get(WHOAMI, token=make_token("acme", **{**good, "iss": "x"})), auth.ISSUER)
    assert_refused(api.get(WHOAMI, token=make_token("acme", **{**good, "aud": "x"})), auth.AUDIENCE)
    assert_refused(api.get(WHOAMI, token=make_token("acme", aud="etl-artifacts")), auth.ISSUER)
    assert_refused(api.get(WHOAMI, token=make_token("acme", iss="https://issuer.example")), auth.AUDIENCE)


def test_every_rule_is_a_valid_rfc6750_error_description():
    # error_description: %x20-21 / %x23-5B / %x5D-7E (no quote, no backslash).
    for rule in auth.TOKEN_RULES:
        assert all(0x20 <= ord(c) <= 0x7E and c not in '"\\' for c in rule), rule


def _template_function(logical_id: str) -> FunctionSpec:
    return load_template().functions[logical_id]


def test_a_functions_own_401_is_written_like_the_gateways(api, base_env):
    """A function refuses a request whose authorizer context lacks the company (never in AWS's normal
    flow, but the path exists): same shape, same challenge."""
    event = json.loads((REPO_ROOT / "events" / "meta_whoami.json").read_text(encoding="utf-8"))
    event["requestContext"]["authorizer"]["lambda"].pop("id_company", None)
    result = invoke(_template_function("MetaFunction"), event)
    assert result["statusCode"] == 401
    headers = {k.lower(): v for k, v in result["headers"].items()}
    assert headers["www-authenticate"] == _challenge(auth.CLAIM)
    body = json.loads(result["body"])
    assert set(body) == {"detail", "code", "status", "request_id"} and body["code"] == "unauthorized"
    assert result["body"] == json.dumps(body, separators=(",", ":"))


def test_expires_at_is_written_alike_in_the_context_and_whoami(api, make_token):
    token = make_token("acme", ttl=600)
    answer = auth.authorizer_response({"headers": {"authorization": f"Bearer {token}"}})
    whoami = api.get(WHOAMI, token=token).json()
    assert answer["context"]["expires_at"] == whoami["expires_at"]
    assert whoami["expires_at"].endswith("Z") and "+00:00" not in whoami["expires_at"]


# -- 413 under gzip --------------------------------------------------------------------------------


def test_a_gzip_413_varies_on_accept_encoding(api):
    """Random text barely compresses: 700 rows of 12 KB overflow the payload even gzipped."""
    run = new_run()
    put_metadata(run)
    rnd = random.Random(11)
    blobs = ["".join(rnd.choices(string.ascii_letters + string.digits, k=12_000)) for _ in range(700)]
    put_chunks(run, "data", [pa.table({"id": list(range(700)), "blob": blobs})])
    url = phase_path(run, suffix="/data")
    for encoding in ("gzip", "identity"):
        response = api.get(url, params={"limit": 1000}, headers={"Accept-Encoding": encoding})
        assert response.status_code == 413, (encoding, response.text[:200])
        assert response.json()["code"] == "response_too_large"
        vary = {name.strip() for name in response.headers["Vary"].split(",")}
        assert {"Accept-Encoding", "Accept"} <= vary, encoding


# -- query bytes that are not UTF-8 ----------------------------------------------------------------


@pytest.mark.parametrize("encoded", ["%FF", "%ED%A0%80", "ok%C3", "%C0%80"])
def test_query_values_that_are_not_utf8_are_422(api, encoded):
    run = new_run()
    put_metadata(run)
    url = phase_path(run, suffix="/logs") + f"?keyword={encoded}&limit=5"
    response = api.get(url)
    assert response.status_code == 422, response.text
    assert response.json() == {
        "detail": [
            {
                "loc": ["query", "keyword"],
                "msg": "Input should be a valid string, unable to parse raw data as a unicode string",
                "type": "string_unicode",
            }
        ]
    }
    assert "\ufffd" not in response.text
    # A name that is not UTF-8 is refused too, and a bad token still wins (authorization first).
    assert api.get(phase_path(run, suffix="/logs") + f"?{encoded}=1").json()["detail"][0]["loc"] == ["query"]
    assert api.get(url, token="not-a-jwt").status_code == 401


def test_utf8_query_values_still_work(api):
    run = new_run()
    put_metadata(run)
    from phases_helpers import logs_table

    put_chunks(run, "logs", [logs_table(["été chaud", "hiver"])])
    response = api.get(phase_path(run, suffix="/logs") + "?keyword=%C3%A9t%C3%A9")
    assert response.status_code == 200, response.text
    assert [row["message"] for row in response.json()["rows"]] == ["été chaud"]


def test_query_parameters_decode_once_and_strictly():
    assert query_parameters("a=1+2&b=%2B&a=3&empty=&bare") == {
        "a": "1 2,3",
        "b": "+",
        "empty": "",
        "bare": "",
    }
    assert query_parameters("k=%25FF") == {"k": "%FF"}  # decoded once: a literal %FF
    for raw, name in (("k=%FF", "k"), ("%FF=1", None), ("k=%ED%B0%80", "k")):
        with pytest.raises(QueryNotUtf8) as caught:
            query_parameters(raw)
        assert caught.value.name == name


# -- the local gateway's own answers and logs -------------------------------------------------------


@pytest.fixture
def logged_gateway(base_env):
    """The development server as ``serve`` runs it (the access-log handler), in this process."""
    import threading

    server = make_gateway_server("127.0.0.1", 0, LocalGateway())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()
    server.server_close()


def _raw_request(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


NEEDLE = "needle-7f3a"


@pytest.mark.parametrize(
    "request_line",
    [
        f"GET /api/v1/health?keyword='{NEEDLE}' HTTP/1.1x",  # bad version, quoted with ' by the stdlib
        f'GET /api/v1/health?keyword="{NEEDLE}" extra HTTP/1.1',  # bad syntax (four words)
        f"GET /api/v1/health?q={NEEDLE} HTTP/2.0",  # a version this server does not speak
    ],
)
def test_a_malformed_request_line_is_answered_in_json_that_echoes_nothing(logged_gateway, request_line):
    with capture_logs() as logs:
        raw = _raw_request(logged_gateway, request_line.encode() + b"\r\nHost: x\r\n\r\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.split(b" ", 2)[1] in (b"400", b"505"), raw[:200]
    assert b"content-type: application/json" in head.lower()
    assert set(json.loads(body)) == {"message"}
    assert NEEDLE.encode() not in raw
    assert not [line for _, line in logs.lines if NEEDLE in line]
    assert NEEDLE not in "".join(logs.printed)  # type: ignore[attr-defined]


def test_the_access_log_never_holds_a_query_string(logged_gateway):
    with capture_logs() as logs:
        for query in (f"keyword='{NEEDLE}'", f'keyword="{NEEDLE}"', f"keyword={NEEDLE}%27"):
            raw = _raw_request(
                logged_gateway,
                f"GET /api/v1/health?{query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode(),
            )
            assert raw.startswith(b"HTTP/1.1 200")
    access = [line for name, line in logs.lines if name == "werkzeug"]
    assert any("GET /api/v1/health 200" in line for line in access)
    assert not [line for _, line in logs.lines if NEEDLE in line]


class _TimesOut:
    """An invoker whose functions all time out but the authorizer, which runs in this process."""

    def timeout_for(self, spec: FunctionSpec) -> float:
        return spec.timeout_s

    def __call__(self, spec: FunctionSpec, event: dict[str, Any], timeout_s: float | None = None) -> Any:
        if spec.logical_id == "AuthorizerFunction":
            return invoke(spec, event)
        raise InvocationFailed("timeout")


def test_the_gateways_failure_line_names_the_function_that_failed_only(base_env, make_token, capsys):
    # The dev stack indexes its seed in the gateway's process before serving: the indexer ran here last.
    invoke(_template_function("IndexerFunction"), {"Records": []})
    run = new_run()
    client = Client(LocalGateway(invoker=_TimesOut()))  # type: ignore[arg-type]
    with capture_logs() as logs:
        response = client.get(
            phase_path(run, suffix="/data"), headers={"Authorization": f"Bearer {make_token('acme')}"}
        )
    assert response.status_code == 500
    failed = [line for _, line in logs.lines if '"function failed"' in line or "function failed" in line]
    assert failed, logs.lines
    assert all('"function":"PhasesFunction"' in line for line in failed), failed
    assert not [line for line in failed if "IndexerFunction" in line], failed
