"""Following a running attempt's logs (docs/api.md), tokens bound to the chunks they passed and
NDJSON counted as Lambda's payload: over HTTP through the local gateway, real S3 server. The
``etl-artifacts logs`` command is the client's
(tests/client/test_client_logs.py)."""

from __future__ import annotations

import json

import pytest
import requests
from etl_artifacts.api.envelope import NDJSON_ENVELOPE_BYTES
from etl_artifacts.clients import s3_client
from etl_artifacts.config import get_settings
from etl_artifacts.s3.layout import RunRef, chunk_file
from phases_helpers import (
    expected_lines,
    logs_table,
    new_run,
    phase_path,
    put_chunks,
    put_logs,
    put_metadata,
    running_attempt,
)

NDJSON = {"Accept": "application/x-ndjson"}


def max_bytes(monkeypatch: pytest.MonkeyPatch, value: int) -> None:
    monkeypatch.setenv("NDJSON_MAX_BYTES", str(value))
    get_settings.cache_clear()


def text_of(response: requests.Response) -> str:
    return response.content.decode("utf-8")  # NDJSON is UTF-8 (requests would guess Latin-1)


def lines(response: requests.Response) -> list[str]:
    return [json.loads(line)["message"] for line in text_of(response).split("\n") if line]


@pytest.fixture
def running(api) -> RunRef:
    return running_attempt()


def get(api, run: RunRef, token: str | None = None, **params: object) -> requests.Response:
    query = {**params, **({"continuation_token": token} if token else {})}
    response = api.get(phase_path(run, suffix="/logs"), params=query, headers=NDJSON)
    return response


def test_following_returns_exactly_the_appended_rows_then_ends(api, running):
    first = get(api, running)
    assert first.status_code == 200 and lines(first) == expected_lines(0, 10)
    token = first.headers["X-Continuation-Token"]  # running: always a token

    nothing = get(api, running, token)
    assert lines(nothing) == [] and nothing.headers["X-Continuation-Token"]
    token = nothing.headers["X-Continuation-Token"]

    put_logs(running, 1, 10, 5)  # a new chunk
    appended = get(api, running, token)
    assert lines(appended) == expected_lines(10, 15)
    token = appended.headers["X-Continuation-Token"]

    put_logs(running, 1, 10, 12)  # the writer rewrote its last chunk with more lines
    grown = get(api, running, token)
    assert lines(grown) == expected_lines(15, 22)
    token = grown.headers["X-Continuation-Token"]

    put_logs(running, 1, 10, 15)
    put_logs(running, 2, 25, 3)
    put_metadata(running)  # complete: the rest, then no token
    last = get(api, running, token)
    assert lines(last) == expected_lines(22, 28)
    assert "X-Continuation-Token" not in last.headers


def test_completed_attempt_answers_without_a_token_once_everything_was_sent(api, running):
    token = get(api, running).headers["X-Continuation-Token"]
    put_metadata(running)
    done = get(api, running, token)
    assert done.status_code == 200 and lines(done) == [] and "X-Continuation-Token" not in done.headers


def test_following_with_a_filter_and_a_body_limit(api, running, monkeypatch):
    max_bytes(monkeypatch, 700)
    put_logs(running, 0, 0, 60, row_group_size=7)
    seen: list[str] = []
    token = None
    for step in range(60):
        response = get(api, running, token, level="INFO")
        assert response.status_code == 200, response.text
        seen.extend(lines(response))
        token = response.headers.get("X-Continuation-Token")
        if token is None:
            break
        if step == 3:
            put_logs(running, 1, 60, 40, row_group_size=9)
        if step == 8:
            put_metadata(running)
    assert token is None
    assert seen == [m for i, m in enumerate(expected_lines(0, 100)) if i % 5 == 1]


# -- tokens bound to the chunks they passed ----------------------------------------------------
def test_rewriting_a_passed_chunk_invalidates_the_token(api, running, monkeypatch):
    put_logs(running, 1, 10, 10)
    put_metadata(running)
    # A body of 150 bytes: one line per response (a line alone larger than that would be omitted).
    max_bytes(monkeypatch, NDJSON_ENVELOPE_BYTES + 150)
    first = get(api, running)
    token = first.headers["X-Continuation-Token"]
    rows = len(lines(first))
    # Walk on until the stream has wholly passed logs_000.
    while rows <= 10:
        response = get(api, running, token)
        rows += len(lines(response))
        token = response.headers["X-Continuation-Token"]
    put_logs(running, 0, 0, 10, row_group_size=3)  # same rows, rewritten: another ETag
    refused = get(api, running, token)
    assert refused.status_code == 422 and refused.json()["code"] == "invalid_continuation_token"


def test_a_vanished_passed_chunk_invalidates_the_token(api, running):
    put_logs(running, 1, 10, 10)
    token = get(api, running).headers["X-Continuation-Token"]  # stopped at the end of logs_001
    settings = get_settings()
    key = running.prefix(settings.artifacts_prefix) + chunk_file("extract", 1, "logs", 0)
    s3_client().delete_object(Bucket=settings.artifacts_bucket, Key=key)
    refused = get(api, running, token)
    assert refused.status_code == 422 and refused.json()["code"] == "invalid_continuation_token"


def test_a_shrunk_stopped_in_chunk_invalidates_the_token(api, running):
    token = get(api, running).headers["X-Continuation-Token"]  # all 10 lines of logs_000 sent
    put_logs(running, 0, 0, 4)
    refused = get(api, running, token)
    assert refused.status_code == 422 and refused.json()["code"] == "invalid_continuation_token"


@pytest.mark.parametrize("where", [3, -3, "dot"])
def test_junk_inserted_into_a_token_is_refused(api, running, where):
    token = get(api, running).headers["X-Continuation-Token"]
    positions = {"dot": token.index("."), 3: 3, -3: len(token) - 3}
    position = positions[where]
    junk = token[:position] + "!!!" + token[position:]
    refused = get(api, running, junk)
    assert refused.status_code == 422 and refused.json()["code"] == "invalid_continuation_token"


# -- NDJSON counted as Lambda's payload -------------------------------------------------------
def escaped_size(text: str) -> int:
    """The body as Lambda's payload counts it (docs/limits.md): JSON-escaped, non-ASCII as \\uXXXX."""
    return len(json.dumps(text, ensure_ascii=True)) - 2


@pytest.mark.parametrize("accept_encoding", ["identity", "gzip"])
def test_awkward_ndjson_fits_the_payload_limit_and_delivers_every_row_once(api, monkeypatch, accept_encoding):
    run = new_run()
    put_metadata(run)
    awkward = [
        '{"json": "inside", "quote": "\\"", "path": "C:\\\\tmp"}' * 3,
        "control \x01\x02\x1f and tab\t and newline\n end, separators \u2028 \u2029 \x85 \x1c",
        "non-ASCII é ü ß 漢字 😀 " * 4,
        '"' * 50 + "\\" * 50,
    ]
    messages = [f"{i}: {awkward[i % len(awkward)]}" for i in range(400)]
    put_chunks(
        run, "logs", [logs_table(messages[:250]), logs_table(messages[250:], start=250)], row_group_size=60
    )
    limit = 6000
    max_bytes(monkeypatch, limit)
    seen: list[str] = []
    token = None
    for _ in range(400):
        query = {"continuation_token": token} if token else {}
        response = api.get(
            phase_path(run, suffix="/logs"),
            params=query,
            headers={**NDJSON, "Accept-Encoding": accept_encoding},
        )
        assert response.status_code == 200, response.text
        assert escaped_size(text_of(response)) <= limit
        seen.extend(lines(response))
        token = response.headers.get("X-Continuation-Token")
        if token is None:
            break
    assert seen == messages
