"""Cursors of the artifacts listing (docs/api.md Artifacts): opaque, HMAC-SHA256 signed, bound.

A cursor is ``base64url(payload) "." base64url(mac)`` where the payload is ``[version, key]``:
the last key (relative to the run prefix) that the previous LIST page returned, which the next
LIST starts after. The MAC covers the payload AND what the cursor is bound to (tenant, dag_id,
date, run_id, limit), recomputed from the request that presents it, so a cursor replayed for
another tenant, run or ``limit`` fails exactly like a forged or altered one.

Decoding is strict: only the canonical unpadded base64url text this module writes is accepted,
and the MAC is checked before the payload is parsed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re

from etl_artifacts.config import get_settings
from etl_artifacts.errors import InvalidCursor
from etl_artifacts.layout import RunRef

_VERSION = 1
_DOMAIN = b"etl-artifacts/artifacts-list\x00"
_B64URL_RE = re.compile(r"\A[A-Za-z0-9_-]+\Z")
_MAC_BYTES = hashlib.sha256().digest_size
# S3 keys are at most 1,024 bytes; a payload holding one, JSON-escaped, stays below ~2,800
# characters. The bound also keeps a request line (4-byte characters, percent-encoded) inside
# the 64 KiB that HTTP servers accept, so an oversized cursor is our 422, never a server's 414.
MAX_CURSOR_CHARS = 4_096


def _scope(run: RunRef, limit: int) -> bytes:
    fields = [_VERSION, run.id_company, str(run.dag_id), run.run_date.isoformat(), run.run_id, limit]
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()


def _mac(run: RunRef, limit: int, payload: bytes) -> bytes:
    message = _DOMAIN + _scope(run, limit) + b"\x00" + payload
    return hmac.new(get_settings().hmac_key, message, hashlib.sha256).digest()


def encode_part(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_part(text: str) -> bytes:
    """Strict base64url: the alphabet only, no padding, and the one canonical spelling."""
    if not _B64URL_RE.match(text):
        raise InvalidCursor()
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidCursor() from None
    if encode_part(raw) != text:  # e.g. non-zero trailing bits: another spelling of the same bytes
        raise InvalidCursor()
    return raw


def encode_cursor(run: RunRef, limit: int, after_key: str) -> str:
    payload = json.dumps([_VERSION, after_key], separators=(",", ":"), ensure_ascii=False).encode()
    return f"{encode_part(payload)}.{encode_part(_mac(run, limit, payload))}"


def decode_cursor(run: RunRef, limit: int, cursor: str) -> str:
    """The relative key the next page starts after; ``InvalidCursor`` unless issued for this scope."""
    if len(cursor) > MAX_CURSOR_CHARS or cursor.count(".") != 1:
        raise InvalidCursor()
    payload_text, mac_text = cursor.split(".")
    payload, mac = decode_part(payload_text), decode_part(mac_text)
    if len(mac) != _MAC_BYTES or not hmac.compare_digest(mac, _mac(run, limit, payload)):
        raise InvalidCursor()
    try:
        version, after_key = json.loads(payload)
    except (ValueError, TypeError):
        raise InvalidCursor() from None
    if version != _VERSION or not isinstance(after_key, str) or not after_key:
        raise InvalidCursor()
    return after_key
