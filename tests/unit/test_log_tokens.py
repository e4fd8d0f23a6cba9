"""Continuation tokens bound to the chunks they passed (docs/api.md): unit tests
of the pure token module, no S3."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from dataclasses import dataclass, replace

import pytest
from etl_artifacts.errors import InvalidContinuationToken
from etl_artifacts.phases import continuation_tokens as tokens
from etl_artifacts.s3.layout import RunRef

KEY = b"unit-test-key"
RUN = RunRef("acme", uuid.UUID(int=7), dt.date(2026, 11, 20), "manual__1")


@dataclass(frozen=True)
class Chunk:
    chunk: int
    etag: str = "e"
    size: int = 100
    rows: int = 10

    @property
    def key(self) -> str:
        return f"acme/x/extract/attempt=1/logs_{self.chunk:03d}.parquet"


def scope(**changes: object) -> tokens.TokenScope:
    base = tokens.TokenScope(run=RUN, phase="extract", attempt=1, level=None, keyword=None)
    return replace(base, **changes)  # type: ignore[arg-type]


def rows(chunk: tokens.ChunkLike) -> int:
    assert isinstance(chunk, Chunk)
    return chunk.rows


CHUNKS = [Chunk(0, "a"), Chunk(1, "b"), Chunk(2, "c")]


def test_round_trip_asc():
    pos = tokens.position("asc", CHUNKS, 2, 4)
    token = tokens.encode(scope(), pos, KEY)
    assert tokens.decode(scope(), token, KEY) == pos
    tokens.verify(pos, CHUNKS, rows)


def test_round_trip_desc():
    pos = tokens.position("desc", CHUNKS, 0, 3, top=2)
    token = tokens.encode(scope(order="desc"), pos, KEY)
    assert tokens.decode(scope(order="desc"), token, KEY) == pos
    tokens.verify(pos, CHUNKS, rows)


@pytest.mark.parametrize(
    "changed",
    [
        [Chunk(0, "a"), Chunk(1, "B"), Chunk(2, "c")],  # passed chunk rewritten (ETag)
        [Chunk(0, "a", size=101), Chunk(1, "b"), Chunk(2, "c")],  # passed chunk of another size
        [Chunk(0, "a"), Chunk(2, "c")],  # passed chunk vanished
        [Chunk(0, "a"), Chunk(1, "b")],  # stopped-in chunk vanished after rows of it were sent
        [Chunk(0, "a"), Chunk(1, "b"), Chunk(2, "c", rows=3)],  # stopped-in chunk shrank
    ],
)
def test_asc_token_refused_when_what_it_passed_changed(changed):
    pos = tokens.position("asc", CHUNKS, 2, 4)
    with pytest.raises(InvalidContinuationToken):
        tokens.verify(pos, changed, rows)


def test_asc_token_survives_growth_of_the_stopped_in_chunk_and_new_chunks():
    pos = tokens.position("asc", CHUNKS, 2, 10)
    grown = [Chunk(0, "a"), Chunk(1, "b"), Chunk(2, "c2", size=180, rows=18), Chunk(3, "d")]
    tokens.verify(pos, grown, rows)


def test_asc_token_refused_when_a_chunk_appears_among_the_passed_ones():
    pos = tokens.position("asc", [Chunk(0, "a"), Chunk(2, "c")], 2, 0)
    with pytest.raises(InvalidContinuationToken):
        tokens.verify(pos, [Chunk(0, "a"), Chunk(1, "b"), Chunk(2, "c")], rows)


def test_desc_token_binds_the_newer_chunks_only_up_to_top():
    pos = tokens.position("desc", CHUNKS, 1, 5, top=2)
    tokens.verify(pos, [*CHUNKS, Chunk(3, "new")], rows)  # written after the stream began
    tokens.verify(pos, [Chunk(0, "changed"), Chunk(1, "b"), Chunk(2, "c")], rows)  # not yet read
    with pytest.raises(InvalidContinuationToken):
        tokens.verify(pos, [Chunk(0, "a"), Chunk(1, "b"), Chunk(2, "C")], rows)


def test_digest_ignores_the_prefix_but_not_the_file_name():
    @dataclass(frozen=True)
    class Moved(Chunk):
        @property
        def key(self) -> str:
            return f"elsewhere/logs_{self.chunk:03d}.parquet"

    assert tokens.digest([Chunk(0)]) == tokens.digest([Moved(0)])
    assert tokens.digest([Chunk(0)]) != tokens.digest([Chunk(1)])


@pytest.mark.parametrize(
    "other",
    [
        scope(order="desc"),
        scope(level="INFO"),
        scope(keyword="x"),
        scope(attempt=2),
        scope(phase="load"),
        scope(run=replace(RUN, id_company="globex")),
        scope(run=replace(RUN, run_id="manual__2")),
    ],
)
def test_token_is_bound_to_its_request(other):
    token = tokens.encode(scope(), tokens.position("asc", CHUNKS, 1, 0), KEY)
    with pytest.raises(InvalidContinuationToken):
        tokens.decode(other, token, KEY)


def test_token_is_bound_to_the_key():
    token = tokens.encode(scope(), tokens.position("asc", CHUNKS, 1, 0), KEY)
    with pytest.raises(InvalidContinuationToken):
        tokens.decode(scope(), token, b"another key")


def _junk_variants(token: str) -> list[str]:
    payload, mac = token.split(".")
    return [
        payload[:5] + "!!!" + payload[5:] + "." + mac,  # skipped by a lenient decoder
        payload + "." + mac[:5] + "!!!" + mac[5:],
        payload + "==." + mac,  # padding is not part of the format
        payload + "." + mac + "=",
        payload + " ." + mac,
        payload.replace("-", "+").replace("_", "/") + "." + mac,
        payload + "." + mac + ".",
        "." + mac,
        payload + ".",
        payload[:-1] + "." + mac,  # truncated
    ]


def test_strict_base64_refuses_inserted_junk():
    token = tokens.encode(scope(), tokens.position("asc", CHUNKS, 1, 7), KEY)
    for variant in _junk_variants(token):
        if variant == token:
            continue
        with pytest.raises(InvalidContinuationToken):
            tokens.decode(scope(), variant, KEY)


def test_non_canonical_trailing_bits_are_refused():
    token = tokens.encode(scope(), tokens.position("asc", CHUNKS, 1, 7), KEY)
    payload, mac = token.split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    # The MAC is 32 bytes: 43 characters whose last one carries 2 unused bits.
    last = alphabet.index(mac[-1])
    tweaked = mac[:-1] + alphabet[last ^ 1]
    assert base64.urlsafe_b64decode(tweaked + "=") == base64.urlsafe_b64decode(mac + "=")
    with pytest.raises(InvalidContinuationToken):
        tokens.decode(scope(), payload + "." + tweaked, KEY)


@pytest.mark.parametrize(
    "fields",
    [
        [1, 0, 0],  # the old format
        [2, -1, 0, None, "x"],
        [2, 0, True, None, "x"],
        [2, 0, 0, 5, "x"],  # asc positions carry no top
        [2, 0, 0, None, None],
        [2, "0", 0, None, "x"],
    ],
)
def test_malformed_payloads_are_refused_even_when_signed(fields):
    payload = json.dumps(fields, separators=(",", ":")).encode()
    token = tokens._sign(KEY, scope(), payload)
    with pytest.raises(InvalidContinuationToken):
        tokens.decode(scope(), token, KEY)


def test_desc_payload_needs_a_top_at_or_above_its_chunk():
    payload = json.dumps([2, 3, 1, 2, "x"], separators=(",", ":")).encode()
    desc = scope(order="desc")
    token = tokens._sign(KEY, desc, payload)
    with pytest.raises(InvalidContinuationToken):
        tokens.decode(desc, token, KEY)
