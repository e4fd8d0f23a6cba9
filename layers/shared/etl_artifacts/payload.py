"""Lambda's response payload, counted the strict way (docs/limits.md): the JSON document serialized
from a handler result, its body JSON-escaped with every non-ASCII character as ``\\uXXXX``, or
base64 when compressed. Pure functions, shared by the response path (``api.envelope``), the
NDJSON producer and the local gateway.
"""

from __future__ import annotations

import json
from typing import Any

LAMBDA_PAYLOAD_MAX = 6_291_456
# Room kept for what a producer cannot know when it counts its body: the headers added after it
# (Content-Encoding, Vary, Cache-Control, X-Continuation-Token, ...) and the envelope's keys.
ENVELOPE_RESERVE = 8_192


def body_cost(text: str) -> int:
    """Bytes ``text`` adds to the payload as part of a JSON-escaped body (non-ASCII as ``\\uXXXX``).

    Additive: the cost of a body is the sum of the costs of its pieces, so a producer can count
    row by row (an NDJSON line costs ``body_cost(line + "\\n")``).
    """
    return len(json.dumps(text)) - 2


def base64_cost(raw_size: int) -> int:
    """Bytes a binary (or compressed) body of ``raw_size`` bytes adds to the payload as base64."""
    return 4 * ((raw_size + 2) // 3)


def payload_size(result: dict[str, Any]) -> int:
    """The size of the JSON document Lambda serializes from a handler ``result``."""
    body = result.get("body")
    if not isinstance(body, str):
        return len(json.dumps(result, default=str))
    return len(json.dumps({**result, "body": ""}, default=str)) + body_cost(body)


def body_budget(headers: dict[str, str] | None = None) -> int:
    """Largest body cost (see :func:`body_cost`) a 200 answer with ``headers`` can carry."""
    empty = {"statusCode": 200, "headers": headers or {}, "body": "", "isBase64Encoded": False}
    envelope = payload_size(empty)
    return LAMBDA_PAYLOAD_MAX - envelope - ENVELOPE_RESERVE
