"""Cursors of the artifacts listing (docs/api.md Artifacts): opaque, HMAC-SHA256 signed, bound.

A cursor is ``base64url(payload) "." base64url(mac)`` where the payload is ``[version, key]``:
the last key (relative to the run prefix) that the previous LIST page returned, which the next
LIST starts after. The MAC covers the payload AND what the cursor is bound to (tenant, dag_id,
date, run_id, limit), recomputed from the request that presents it, so a cursor replayed for
another tenant, run or ``limit`` fails exactly like a forged or altered one.

Encoding and the strict decoding are ``signed_tokens``'.
"""

from __future__ import annotations

import json

from etl_artifacts.config import get_settings
from etl_artifacts.errors import InvalidCursor, TokenRejected
from etl_artifacts.s3.layout import RunRef
from etl_artifacts.signed_tokens import sign, verified_payload

_VERSION = 1
_DOMAIN = b"etl-artifacts/artifacts-list\x00"
# S3 keys are at most 1,024 bytes; a payload holding one, JSON-escaped, stays below ~2,800
# characters. The bound also keeps a request line (4-byte characters, percent-encoded) inside
# the 64 KiB that HTTP servers accept, so an oversized cursor is our 422, never a server's 414.
MAX_CURSOR_CHARS = 4_096


def _scope(run: RunRef, limit: int) -> bytes:
    fields = [_VERSION, run.id_company, str(run.dag_id), run.run_date.isoformat(), run.run_id, limit]
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()


def encode_cursor(run: RunRef, limit: int, after_key: str) -> str:
    payload = json.dumps([_VERSION, after_key], separators=(",", ":"), ensure_ascii=False).encode()
    return sign(get_settings().hmac_key, _DOMAIN, _scope(run, limit), payload)


def decode_cursor(run: RunRef, limit: int, cursor: str) -> str:
    """The relative key the next page starts after; ``InvalidCursor`` unless issued for this scope."""
    try:
        payload = verified_payload(
            get_settings().hmac_key, _DOMAIN, _scope(run, limit), cursor, MAX_CURSOR_CHARS
        )
        version, after_key = json.loads(payload)
    except (TokenRejected, ValueError, TypeError):
        raise InvalidCursor() from None
    if version != _VERSION or not isinstance(after_key, str) or not after_key:
        raise InvalidCursor()
    return after_key
