"""Artifact ids: ``art_`` + a ULID (48-bit millisecond time, 80 random bits, Crockford base32).

Twelve lines do not justify a runtime dependency in the layer; the ULID spec is fixed.
"""

from __future__ import annotations

import re
import secrets
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ARTIFACT_ID_PREFIX = "art_"
# 26 characters; the first is at most 7 (a ULID is 128 bits).
ARTIFACT_ID_RE = re.compile(r"\Aart_[0-7][0-9A-HJKMNP-TV-Z]{25}\Z")


def new_artifact_id(now_ms: int | None = None, randomness: int | None = None) -> str:
    """A new id for ``now_ms`` (default: now); ``randomness`` (80 bits) only for fixed demo data."""
    random_part = secrets.randbits(80) if randomness is None else randomness & ((1 << 80) - 1)
    value = ((time.time_ns() // 1_000_000 if now_ms is None else now_ms) << 80) | random_part
    chars = [_CROCKFORD[(value >> shift) & 31] for shift in range(125, -5, -5)]
    return ARTIFACT_ID_PREFIX + "".join(chars)


def is_artifact_id(value: str) -> bool:
    return ARTIFACT_ID_RE.match(value) is not None
