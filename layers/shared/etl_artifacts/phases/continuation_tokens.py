"""Continuation tokens of NDJSON logs (docs/api.md): signed, request-bound, chunk-bound.

A token is ``base64url(payload) "." base64url(HMAC-SHA256)`` (``signed_tokens``). The MAC covers the
payload AND the request the token belongs to (``TokenScope``: tenant, run, phase, attempt,
filters, order), recomputed from the request that presents it, so a token replayed for another
tenant, run, phase, attempt, filter set or order fails exactly like a forged or altered one.

The payload is a ``Position``: the chunk the stream stopped in, how far into it, and a digest of
the chunks it has WHOLLY passed (name, ETag and size of each). When the token comes back, those
chunks are listed again and digested; any that changed, vanished or appeared among them makes the
token invalid, so rewriting a passed chunk never silently repeats or drops rows. The chunk the
stream stopped in is not part of the digest: a writer that appends by rewriting its last chunk
makes it grow, and the token continues after the rows it records (it is invalid only if that
chunk now has fewer rows than that, or vanished after rows of it were sent).

- ascending: ``row`` rows of chunk ``chunk`` are behind; chunks numbered below it are passed.
- descending (newest first): rows ``row`` and beyond of chunk ``chunk`` are behind, the rows
  before ``row`` are still to send; chunks numbered above it up to ``top`` (the newest chunk when
  the stream began) are passed. Chunks written after ``top`` are newer than the whole stream.

Pure: no S3, no pyarrow; the caller lists the chunks and counts rows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from etl_artifacts.errors import InvalidContinuationToken, TokenRejected
from etl_artifacts.phases.models import Order
from etl_artifacts.s3.layout import RunRef
from etl_artifacts.signed_tokens import b64url_encode, sign, verified_payload

_VERSION = 2
_DOMAIN = b"etl-artifacts/logs-ndjson\x00"
_DIGEST_BYTES = 16


class ChunkLike(Protocol):
    """What a listed chunk offers (``attempts.S3Object``)."""

    @property
    def key(self) -> str: ...

    @property
    def etag(self) -> str: ...

    @property
    def size(self) -> int: ...

    @property
    def chunk(self) -> int | None: ...


@dataclass(frozen=True)
class TokenScope:
    """The request a token belongs to."""

    run: RunRef
    phase: str
    attempt: int
    level: str | None
    keyword: str | None
    order: Order = "asc"

    def canonical(self) -> bytes:
        fields = [
            _VERSION,
            self.run.id_company,
            str(self.run.dag_id),
            self.run.run_date.isoformat(),
            self.run.run_id,
            self.phase,
            self.attempt,
            self.level,
            self.keyword,
            self.order,
        ]
        return json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class Position:
    order: Order
    chunk: int  # NNN of the chunk the stream stopped in
    row: int  # see the module docstring: rows behind (asc) / rows still to send (desc) of that chunk
    top: int | None  # desc only: the newest chunk when the stream began
    passed: str  # digest of the chunks wholly passed


C = TypeVar("C", bound=ChunkLike)


def _number(obj: ChunkLike) -> int:
    return obj.chunk or 0


def passed_chunks(order: Order, chunks: Sequence[C], chunk: int, top: int | None) -> list[C]:
    """The chunks a stream stopped at ``chunk`` has wholly passed, in chunk order."""
    if order == "asc":
        return [obj for obj in chunks if _number(obj) < chunk]
    ceiling = chunk if top is None else top
    return [obj for obj in chunks if chunk < _number(obj) <= ceiling]


def digest(chunks: Sequence[ChunkLike]) -> str:
    """A digest of the chunks' file names, ETags and sizes, in the order given."""
    entries = [[obj.key.rsplit("/", 1)[-1], obj.etag, obj.size] for obj in chunks]
    raw = json.dumps(entries, separators=(",", ":"), ensure_ascii=False).encode()
    return b64url_encode(hashlib.sha256(raw).digest()[:_DIGEST_BYTES])


def position(
    order: Order, chunks: Sequence[ChunkLike], chunk: int, row: int, top: int | None = None
) -> Position:
    """The position of a stream that stopped at ``(chunk, row)`` over the chunks listed now."""
    top = None if order == "asc" else (chunk if top is None else top)
    return Position(order, chunk, row, top, digest(passed_chunks(order, chunks, chunk, top)))


def verify(pos: Position, chunks: Sequence[C], row_count: Callable[[C], int]) -> None:
    """``InvalidContinuationToken`` unless the chunks listed now still hold what ``pos`` passed.

    ``row_count`` gives a chunk's rows (from its footer); it is called for the stopped-in chunk
    only, and only when rows of it are behind or still counted on.
    """
    if digest(passed_chunks(pos.order, chunks, pos.chunk, pos.top)) != pos.passed:
        raise InvalidContinuationToken()
    if pos.row == 0:
        return
    current = next((obj for obj in chunks if _number(obj) == pos.chunk), None)
    # asc: the rows already sent must still be there; desc: the rows still to send must be.
    if current is None or row_count(current) < pos.row:
        raise InvalidContinuationToken()


# ---------------------------------------------------------------------------------------------
# Encoding
# ---------------------------------------------------------------------------------------------
def _sign(key: bytes, scope: TokenScope, payload: bytes) -> str:
    return sign(key, _DOMAIN, scope.canonical(), payload)


def encode(scope: TokenScope, pos: Position, key: bytes) -> str:
    if pos.order != scope.order:
        raise ValueError("position and scope disagree on the order")
    fields = [_VERSION, pos.chunk, pos.row, pos.top, pos.passed]
    return _sign(key, scope, json.dumps(fields, separators=(",", ":")).encode())


def decode(scope: TokenScope, token: str, key: bytes) -> Position:
    """The position ``token`` carries; ``InvalidContinuationToken`` unless it was issued for ``scope``."""
    try:
        payload = verified_payload(key, _DOMAIN, scope.canonical(), token)
        version, chunk, row, top, passed = json.loads(payload)
    except (TokenRejected, ValueError, TypeError):
        raise InvalidContinuationToken() from None
    if version != _VERSION or not all(type(value) is int and value >= 0 for value in (chunk, row)):
        raise InvalidContinuationToken()
    top_ok = (top is None) if scope.order == "asc" else (type(top) is int and top >= chunk)
    if not top_ok or not isinstance(passed, str):
        raise InvalidContinuationToken()
    return Position(scope.order, chunk, row, top, passed)
