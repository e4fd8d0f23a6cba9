"""Continuation tokens of NDJSON logs (docs/api.md): signed, request-bound, chunk-bound.

A token is ``base64url(payload) "." base64url(HMAC-SHA256)``, both unpadded. The MAC covers the
payload AND the request the token belongs to (``TokenScope``: tenant, run, phase, attempt,
filters, order), recomputed from the request that presents it, so a token replayed for another
tenant, run, phase, attempt, filter set or order fails exactly like a forged or altered one.
Decoding is strict: only the base64url alphabet, canonical encodings, one dot.

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

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from etl_artifacts.errors import InvalidContinuationToken
from etl_artifacts.layout import RunRef
from etl_artifacts.phases.models import Order

_VERSION = 2
_DOMAIN = b"etl-artifacts/logs-ndjson\x00"
_B64URL = re.compile(r"^[A-Za-z0-9_-]+$")
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
    return _b64encode(hashlib.sha256(raw).digest()[:_DIGEST_BYTES])


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
def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    """Strict unpadded base64url: the alphabet only, and the one canonical spelling of the bytes.

    ``base64.urlsafe_b64decode`` silently skips characters outside the alphabet (``!!!``) and
    accepts non-zero trailing bits: neither may yield a valid token.
    """
    if not _B64URL.match(text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64encode(raw) != text:
        raise ValueError("not canonical")
    return raw


def _mac(key: bytes, scope: TokenScope, payload: bytes) -> bytes:
    message = _DOMAIN + scope.canonical() + b"\x00" + payload
    return hmac.new(key, message, hashlib.sha256).digest()


def encode(scope: TokenScope, pos: Position, key: bytes) -> str:
    if pos.order != scope.order:
        raise ValueError("position and scope disagree on the order")
    fields = [_VERSION, pos.chunk, pos.row, pos.top, pos.passed]
    payload = json.dumps(fields, separators=(",", ":")).encode()
    return f"{_b64encode(payload)}.{_b64encode(_mac(key, scope, payload))}"


def decode(scope: TokenScope, token: str, key: bytes) -> Position:
    """The position ``token`` carries; ``InvalidContinuationToken`` unless it was issued for ``scope``."""
    try:
        payload_text, mac_text = token.split(".")
        payload = _b64decode(payload_text)
        mac = _b64decode(mac_text)
    except (ValueError, binascii.Error):
        raise InvalidContinuationToken() from None
    if not hmac.compare_digest(mac, _mac(key, scope, payload)):
        raise InvalidContinuationToken()
    try:
        version, chunk, row, top, passed = json.loads(payload)
    except (ValueError, TypeError):
        raise InvalidContinuationToken() from None
    if version != _VERSION or not all(type(value) is int and value >= 0 for value in (chunk, row)):
        raise InvalidContinuationToken()
    top_ok = (top is None) if scope.order == "asc" else (type(top) is int and top >= chunk)
    if not top_ok or not isinstance(passed, str):
        raise InvalidContinuationToken()
    return Position(scope.order, chunk, row, top, passed)
