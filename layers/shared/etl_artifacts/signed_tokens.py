"""The one codec of the opaque tokens the API hands out (list cursors, log continuation tokens).

A token is ``base64url(payload) "." base64url(HMAC-SHA256)``, both unpadded. The MAC covers a
domain (which kind of token), the scope the token was issued for (recomputed from the request
that presents it) and the payload, so a token replayed for another tenant, run or filter set fails
exactly like a forged or altered one. Decoding is strict: one dot, the base64url alphabet only
(anchored ``\\A...\\Z``: ``$`` would let a trailing newline through), the one canonical spelling
of the bytes, and the MAC checked before the payload is parsed. What the payload means is the
caller's; every refusal here is ``TokenRejected``, which the caller turns into its own 422.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re

from etl_artifacts.errors import TokenRejected

_B64URL = re.compile(r"\A[A-Za-z0-9_-]+\Z")
_MAC_BYTES = hashlib.sha256().digest_size


def b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict unpadded base64url: the alphabet only, and the one canonical spelling of the bytes.

    ``base64.urlsafe_b64decode`` silently skips characters outside the alphabet (``!!!``) and
    accepts non-zero trailing bits: neither may yield a valid token.
    """
    if not _B64URL.match(text):
        raise TokenRejected("not base64url")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise TokenRejected("not base64url") from None
    if b64url_encode(raw) != text:
        raise TokenRejected("not canonical")
    return raw


def _mac(key: bytes, domain: bytes, scope: bytes, payload: bytes) -> bytes:
    return hmac.new(key, domain + scope + b"\x00" + payload, hashlib.sha256).digest()


def sign(key: bytes, domain: bytes, scope: bytes, payload: bytes) -> str:
    """The token carrying ``payload``, valid for ``scope`` only."""
    return f"{b64url_encode(payload)}.{b64url_encode(_mac(key, domain, scope, payload))}"


def verified_payload(
    key: bytes, domain: bytes, scope: bytes, token: str, max_chars: int | None = None
) -> bytes:
    """The payload of ``token`` once its MAC checks out for ``scope``; ``TokenRejected`` otherwise."""
    if (max_chars is not None and len(token) > max_chars) or token.count(".") != 1:
        raise TokenRejected("malformed")
    payload_text, mac_text = token.split(".")
    payload, mac = b64url_decode(payload_text), b64url_decode(mac_text)
    if len(mac) != _MAC_BYTES or not hmac.compare_digest(mac, _mac(key, domain, scope, payload)):
        raise TokenRejected("bad signature")
    return payload
