"""Logs: level/keyword filters pushed into the read, JSON pages, NDJSON with signed continuation
tokens across several responses, and tokens refused when forged, altered or foreign."""

from __future__ import annotations

import base64
import json

import pytest
import requests
from etl_artifacts.api.envelope import NDJSON_ENVELOPE_BYTES
from etl_artifacts.config import get_settings
from etl_artifacts.s3.layout import RunRef
from phases_helpers import LEVELS, logs_table, new_run, phase_path, put_chunks, put_metadata, spy_row_groups

NDJSON = {"Accept": "application/x-ndjson"}


def max_bytes(monkeypatch: pytest.MonkeyPatch, value: int) -> None:
    monkeypatch.setenv("NDJSON_MAX_BYTES", str(value))
    get_settings.cache_clear()  # settings are cached: read the new value on the next request


def _messages(count: int, start: int = 0) -> list[str]:
    return [f"line {i}: processed batch {i % 7}" for i in range(start, start + count)]


@pytest.fixture
def logs_run(api) -> RunRef:
    """300 lines in 2 chunks (row groups of 40); level cycles DEBUG..CRITICAL by line number."""
    run = new_run()
    put_metadata(run)
    put_chunks(
        run,
        "logs",
        [logs_table(_messages(180), start=0), logs_table(_messages(120, 180), start=180)],
        row_group_size=40,
    )
    return run


def lines(response: requests.Response) -> list[dict]:
    return [json.loads(line) for line in response.text.splitlines()]


def follow(api, url: str, params: dict, *, company: str = "acme") -> tuple[list[dict], int]:
    """Every NDJSON row, following continuation tokens; returns the rows and the response count."""
    rows: list[dict] = []
    responses = 0
    token = None
    while True:
        query = dict(params, **({"continuation_token": token} if token else {}))
        response = api.get(url, params=query, headers=NDJSON, company=company)
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"].startswith("application/x-ndjson")
        rows.extend(lines(response))
        responses += 1
        token = response.headers.get("X-Continuation-Token")
        if token is None:
            return rows, responses
        assert responses < 500


# -- JSON pages ------------------------------------------------------------------------------
def test_unfiltered_logs_page(api, logs_run):
    body = api.get(phase_path(logs_run, suffix="/logs"), params={"page": 4, "limit": 40}).json()
    assert body["total_rows"] == 300
    assert [row["message"] for row in body["rows"]] == _messages(40, 160)  # crosses the chunk boundary
    assert body["rows"][0]["timestamp"] == "2026-11-20T10:02:40+00:00"
    assert [c["name"] for c in body["columns"]] == ["timestamp", "level", "logger", "message"]


def test_level_filter_pages(api, logs_run):
    url = phase_path(logs_run, suffix="/logs")
    expected = [m for i, m in enumerate(_messages(300)) if LEVELS[i % 5] == "ERROR"]
    first = api.get(url, params={"level": "ERROR", "limit": 25}).json()
    second = api.get(url, params={"level": "ERROR", "limit": 25, "page": 2}).json()
    assert first["total_rows"] == len(expected) == 60
    assert [row["message"] for row in first["rows"]] == expected[:25]
    assert [row["message"] for row in second["rows"]] == expected[50:]
    assert first["has_more"] is True and second["has_more"] is False
    assert {row["level"] for row in first["rows"]} == {"ERROR"}


def test_keyword_is_case_insensitive_and_combines_with_level(api, logs_run):
    url = phase_path(logs_run, suffix="/logs")
    body = api.get(url, params={"keyword": "BATCH 3", "level": "INFO", "limit": 1000}).json()
    expected = [m for i, m in enumerate(_messages(300)) if "batch 3" in m and LEVELS[i % 5] == "INFO"]
    assert [row["message"] for row in body["rows"]] == expected
    assert body["total_rows"] == len(expected) > 0


@pytest.mark.parametrize(
    ("keyword", "expected"),
    [
        ("100%", ["100% done"]),
        ("a_b", ["a_b"]),
        ("%", ["100% done"]),
        ("_", ["a_b"]),
        (".*", ["literal .* here"]),
        ("\\d", ["back\\d"]),
        ("(", ["paren ( open"]),
        ("ÉTÉ", ["été chaud"]),
    ],
)
def test_keyword_is_a_literal_substring(api, keyword, expected):
    run = new_run()
    put_metadata(run)
    messages = [
        "100% done",
        "1000 done",
        "a_b",
        "axb",
        "literal .* here",
        "back\\d",
        "paren ( open",
        "été chaud",
    ]
    put_chunks(run, "logs", [logs_table(messages)])
    body = api.get(phase_path(run, suffix="/logs"), params={"keyword": keyword}).json()
    assert [row["message"] for row in body["rows"]] == expected
    assert body["total_rows"] == len(expected)


def test_level_statistics_skip_row_groups(api, monkeypatch):
    """Row groups whose level min/max exclude the level are never read; only level is read."""
    run = new_run()
    put_metadata(run)
    levels = ["DEBUG"] * 50 + ["INFO"] * 50 + ["CRITICAL"] * 10 + ["INFO"] * 40
    put_chunks(run, "logs", [logs_table([f"m{i}" for i in range(150)], levels)], row_group_size=50)
    url = phase_path(run, suffix="/logs")
    with spy_row_groups(monkeypatch) as spy:
        body = api.get(url, params={"level": "CRITICAL"}).json()
    assert [row["message"] for row in body["rows"]] == [f"m{i}" for i in range(100, 110)]
    filter_reads = [(groups, columns) for _, groups, columns in spy.calls if columns is not None]
    assert filter_reads == [([2], ["level"])]  # row groups 0 (DEBUG) and 1 (INFO) skipped
    # The page's rows come from that row group only.
    assert [groups for _, groups, columns in spy.calls if columns is None] == [[2]]
    with spy_row_groups(monkeypatch) as spy:
        again = api.get(url, params={"level": "CRITICAL", "page": 0}).json()
    assert again == body
    assert all(columns is None for _, _, columns in spy.calls)  # matches were cached while warm


def test_keyword_without_matches(api, logs_run):
    body = api.get(phase_path(logs_run, suffix="/logs"), params={"keyword": "nothing like this"}).json()
    assert body["rows"] == [] and body["total_rows"] == 0 and body["has_more"] is False
    response = api.get(phase_path(logs_run, suffix="/logs"), params={"keyword": "nope"}, headers=NDJSON)
    assert response.status_code == 200 and response.text == ""
    assert "X-Continuation-Token" not in response.headers


# -- NDJSON ----------------------------------------------------------------------------------
def test_ndjson_in_one_response_when_it_fits(api, logs_run):
    response = api.get(phase_path(logs_run, suffix="/logs"), headers=NDJSON)
    assert response.status_code == 200
    rows = lines(response)
    assert [row["message"] for row in rows] == _messages(300)
    assert rows[0] == {
        "timestamp": "2026-11-20T10:00:00+00:00",
        "level": "DEBUG",
        "logger": "etl.extract",
        "message": "line 0: processed batch 0",
    }
    assert "X-Continuation-Token" not in response.headers


def test_ndjson_continues_across_several_responses(api, logs_run, monkeypatch):
    max_bytes(monkeypatch, 2000)
    rows, responses = follow(api, phase_path(logs_run, suffix="/logs"), {})
    assert [row["message"] for row in rows] == _messages(300)
    assert responses >= 10


def test_ndjson_bodies_fit_the_limit(api, logs_run, monkeypatch):
    max_bytes(monkeypatch, 1500)
    response = api.get(
        phase_path(logs_run, suffix="/logs"), headers={**NDJSON, "Accept-Encoding": "identity"}
    )
    # NDJSON_MAX_BYTES bounds the whole Lambda payload: the body gets what the envelope leaves.
    # It is counted as Lambda counts it: JSON-escaped (every quote of the lines costs two bytes).
    body_budget = 1500 - NDJSON_ENVELOPE_BYTES
    escaped = len(json.dumps(response.text)) - 2
    assert body_budget - 150 < escaped <= body_budget
    assert response.content.endswith(b"\n")


def test_ndjson_with_filters_and_continuation(api, logs_run, monkeypatch):
    max_bytes(monkeypatch, 700)
    params = {"level": "WARNING", "keyword": "Batch 2"}
    rows, responses = follow(api, phase_path(logs_run, suffix="/logs"), params)
    expected = [m for i, m in enumerate(_messages(300)) if LEVELS[i % 5] == "WARNING" and "batch 2" in m]
    assert [row["message"] for row in rows] == expected
    assert responses > 1


def _omitted(row: int, size: int, chunk: int, phase: str = "extract") -> dict:
    marker = {"reason": "row_too_large", "row": row, "bytes": size, "artifact_kind": f"{phase}-logs"}
    return {"_omitted": {**marker, "chunk": chunk}}


def _line_bytes(messages: list[str], index: int) -> int:
    """UTF-8 bytes of row ``index`` of ``logs_table(messages)`` as one NDJSON line (no newline)."""
    row = {
        "timestamp": f"2026-11-20T10:00:{index:02d}+00:00",
        "level": LEVELS[index % 5],
        "logger": "etl.extract",
        "message": messages[index],
    }
    return len(json.dumps(row, separators=(",", ":"), ensure_ascii=False).encode())


def test_a_row_larger_than_any_response_is_omitted_and_the_stream_goes_on(api):
    """A 7,000,000-byte message used to make every request 413 (no token to get past it)."""
    run = new_run()
    put_metadata(run)
    messages = ["before", "x" * 7_000_000, "after"]
    put_chunks(run, "logs", [logs_table(messages)])
    url = phase_path(run, suffix="/logs")
    marker = _omitted(1, _line_bytes(messages, 1), 0)
    for encoding in ("identity", "gzip"):
        for order in ("asc", "desc"):
            response = api.get(url, params={"order": order}, headers={**NDJSON, "Accept-Encoding": encoding})
            assert response.status_code == 200, (encoding, order, response.text[:200])
            assert "X-Continuation-Token" not in response.headers
            rows = lines(response)
            expected = [messages[0], marker, messages[2]]
            got = [row.get("message", row) for row in rows]
            assert got == (expected if order == "asc" else expected[::-1]), (encoding, order)


def test_the_logs_command_prints_an_omitted_row_as_such():
    from etl_artifacts_client.cli import format_log

    line = format_log(_omitted(4, 7_000_092, 2, "load"))
    assert line == "[row 4 of chunk 2 of load-logs omitted: 7000092 bytes; download the chunk to read it]"


def _follow_with(api, url: str, params: dict, headers: dict) -> tuple[list[dict], int]:
    rows: list[dict] = []
    responses = 0
    token = None
    while True:
        query = dict(params, **({"continuation_token": token} if token else {}))
        response = api.get(url, params=query, headers=headers)
        assert response.status_code == 200, response.text[:300]
        rows.extend(lines(response))
        responses += 1
        token = response.headers.get("X-Continuation-Token")
        if token is None:
            return rows, responses
        assert responses < 200


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("encoding", ["identity", "gzip"])
def test_rows_too_large_are_omitted_across_continuation_tokens(api, monkeypatch, order, encoding):
    run = new_run()
    put_metadata(run)
    first = [("z" * 3000 if i == 3 else f"first {i}") for i in range(10)]
    second = [("y" * 3000 if i == 5 else f"second {i}") for i in range(10)]
    put_chunks(run, "logs", [logs_table(first), logs_table(second)])
    max_bytes(monkeypatch, 1000)  # a body of ~490 bytes: a few small rows, never a 3,000-byte one
    rows, responses = _follow_with(
        api,
        phase_path(run, suffix="/logs"),
        {"order": order},
        {**NDJSON, "Accept-Encoding": encoding},
    )
    expected: list = [*first[:3], _omitted(3, _line_bytes(first, 3), 0), *first[4:]]
    expected += [*second[:5], _omitted(5, _line_bytes(second, 5), 1), *second[6:]]
    got = [row.get("message", row) for row in rows]
    assert got == (expected if order == "asc" else expected[::-1])
    assert responses > 3


def test_ndjson_is_gzipped_when_accepted(api, logs_run):
    response = api.get(phase_path(logs_run, suffix="/logs"), headers={**NDJSON, "Accept-Encoding": "gzip"})
    assert response.headers["Content-Encoding"] == "gzip"
    assert len(lines(response)) == 300


# -- continuation tokens ---------------------------------------------------------------------
@pytest.fixture
def token(api, logs_run, monkeypatch) -> str:
    max_bytes(monkeypatch, 1000)
    response = api.get(phase_path(logs_run, suffix="/logs"), params={"level": "INFO"}, headers=NDJSON)
    assert response.status_code == 200
    return response.headers["X-Continuation-Token"]


def _refused(response: requests.Response) -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "invalid_continuation_token" and body["status"] == 422


def test_valid_token_resumes_where_the_last_response_stopped(api, logs_run, token, monkeypatch):
    max_bytes(monkeypatch, 5000000)
    url = phase_path(logs_run, suffix="/logs")
    first = lines(api.get(url, params={"level": "INFO"}, headers=NDJSON))
    max_bytes(monkeypatch, 5000000)
    rest = lines(api.get(url, params={"level": "INFO", "continuation_token": token}, headers=NDJSON))
    everything = [m for i, m in enumerate(_messages(300)) if LEVELS[i % 5] == "INFO"]
    assert len(first) == 60
    assert [row["message"] for row in rest] == everything[len(everything) - len(rest) :]
    assert 0 < len(rest) < 60


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: "A" + t[1:] if t[0] != "A" else "B" + t[1:],  # payload altered
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature altered
        lambda t: t.split(".")[0],  # signature removed
        lambda t: "garbage",
        lambda t: "é.ü",
        lambda t: t + "." + t,
    ],
)
def test_forged_or_altered_tokens_are_refused(api, logs_run, token, mutate):
    url = phase_path(logs_run, suffix="/logs")
    _refused(api.get(url, params={"level": "INFO", "continuation_token": mutate(token)}, headers=NDJSON))


def test_forged_position_with_a_guessed_signature_is_refused(api, logs_run, token):
    _, signature = token.split(".")
    forged = base64.urlsafe_b64encode(b"[1,0,0]").rstrip(b"=").decode() + "." + signature
    url = phase_path(logs_run, suffix="/logs")
    _refused(api.get(url, params={"level": "INFO", "continuation_token": forged}, headers=NDJSON))


def test_foreign_tokens_are_refused(api, logs_run, token):
    url = phase_path(logs_run, suffix="/logs")
    other_run = new_run()
    put_metadata(other_run)
    put_chunks(other_run, "logs", [logs_table(_messages(10))])
    cases = [
        (url, {"level": "INFO"}, "globex"),  # another tenant, same path
        (phase_path(other_run, suffix="/logs"), {"level": "INFO"}, "acme"),  # another run
        (phase_path(logs_run, "transform", "/logs"), {"level": "INFO"}, "acme"),  # another phase
        (url, {"level": "INFO", "attempt": 2}, "acme"),  # another attempt
        (url, {"level": "ERROR"}, "acme"),  # other filters
        (url, {}, "acme"),
        (url, {"level": "INFO", "keyword": "batch"}, "acme"),
    ]
    for path, params, company in cases:
        response = api.get(
            path, params={**params, "continuation_token": token}, headers=NDJSON, company=company
        )
        _refused(response)


def test_token_is_opaque_and_carries_no_secrets(token, logs_run):
    assert logs_run.run_id not in token and "acme" not in token
    assert len(token) < 200


def test_cursor_key_requires_a_secret(monkeypatch):
    """A JWKS URL or bucket name is public: continuation tokens are never signed with them."""
    from etl_artifacts.errors import ConfigurationError

    monkeypatch.delenv("JWT_SECRET", raising=False)
    monkeypatch.delenv("CURSOR_SECRET", raising=False)
    monkeypatch.setenv("JWT_JWKS_URL", "https://issuer.example/.well-known/jwks.json")
    get_settings.cache_clear()
    with pytest.raises(ConfigurationError):
        _ = get_settings().hmac_key
    monkeypatch.setenv("CURSOR_SECRET", "a-real-secret")
    get_settings.cache_clear()
    assert get_settings().hmac_key.endswith(b"a-real-secret")
