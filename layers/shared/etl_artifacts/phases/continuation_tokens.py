"""Continuation tokens of NDJSON logs (CONTRACT §4): opaque, HMAC-SHA256 signed, request-bound.

A token is ``base64url(position) "." base64url(mac)``. The position is the first row not yet sent
(``[chunk NNN, row within chunk]``). The MAC covers the position AND the request it belongs to
(tenant, dag_id, date, run_id, phase, attempt, level, keyword), which are recomputed from the
request that presents the token, so a token replayed for another tenant, run, phase, attempt or
filter set fails verification exactly like a forged or altered one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass

from etl_artifacts.config import get_settings
from etl_artifacts.errors import InvalidContinuationToken
from etl_artifacts.layout import RunRef

_VERSION = 1
_DOMAIN = b"etl-artifacts/logs-ndjson\x00"


@dataclass(frozen=True)
class TokenScope:
    """What a token is bound to."""

    run: RunRef
    phase: str
    attempt: int
    level: str | None
    keyword: str | None

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
        ]
        return json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(scope: TokenScope, payload: bytes) -> bytes:
    message = _DOMAIN + scope.canonical() + b"\x00" + payload
    return hmac.new(get_settings().hmac_key, message, hashlib.sha256).digest()


def encode(scope: TokenScope, position: tuple[int, int]) -> str:
    payload = json.dumps([_VERSION, position[0], position[1]], separators=(",", ":")).encode()
    return f"{_b64encode(payload)}.{_b64encode(_mac(scope, payload))}"


def decode(scope: TokenScope, token: str) -> tuple[int, int]:
    """The position carried by ``token``; ``InvalidContinuationToken`` unless it was issued for ``scope``."""
    try:
        payload_text, mac_text = token.split(".")
        payload = _b64decode(payload_text)
        mac = _b64decode(mac_text)
    except (ValueError, binascii.Error):
        raise InvalidContinuationToken() from None
    if not hmac.compare_digest(mac, _mac(scope, payload)):
        raise InvalidContinuationToken()
    try:
        version, chunk, row = json.loads(payload)
    except (ValueError, TypeError):
        raise InvalidContinuationToken() from None
    valid = version == _VERSION and all(type(v) is int and v >= 0 for v in (chunk, row))
    if not valid:
        raise InvalidContinuationToken()
    return chunk, row
