"""Cursors of the uploaded artifacts' lists: opaque, HMAC-SHA256 signed, bound to tenant and filters.

The construction of every token (``signed_tokens``): ``base64url(payload) "." base64url(mac)``,
payload ``[version, created_at, artifact_id]`` -- the keyset position of the last
item sent. The MAC covers the payload and the scope it was issued for (the tenant and every filter,
recomputed from the request that presents it), so a cursor replayed for another tenant or other
filters fails exactly like a forged or altered one: 422 ``invalid_cursor``.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from etl_artifacts.config import get_settings
from etl_artifacts.errors import InvalidCursor, TokenRejected
from etl_artifacts.signed_tokens import sign, verified_payload
from etl_artifacts.uploads.ids import is_artifact_id

_VERSION = 1
_DOMAIN = b"etl-artifacts/uploads-list\x00"
# A payload is a timestamp and an id (~80 characters): anything longer is not ours.
MAX_CURSOR_CHARS = 512


def _scope(scope: dict[str, Any]) -> bytes:
    return json.dumps([_VERSION, scope], sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def encode_cursor(scope: dict[str, Any], created_at: dt.datetime, artifact_id: str) -> str:
    payload = json.dumps([_VERSION, created_at.isoformat(), artifact_id], separators=(",", ":")).encode()
    return sign(get_settings().hmac_key, _DOMAIN, _scope(scope), payload)


def decode_cursor(scope: dict[str, Any], cursor: str) -> tuple[dt.datetime, str]:
    """The keyset position to continue after; ``InvalidCursor`` unless issued for this scope."""
    try:
        payload = verified_payload(get_settings().hmac_key, _DOMAIN, _scope(scope), cursor, MAX_CURSOR_CHARS)
        version, created_at, artifact_id = json.loads(payload)
        position = dt.datetime.fromisoformat(created_at)
    except (TokenRejected, ValueError, TypeError):
        raise InvalidCursor() from None
    if version != _VERSION or position.tzinfo is None or not is_artifact_id(str(artifact_id)):
        raise InvalidCursor()
    return position, artifact_id
