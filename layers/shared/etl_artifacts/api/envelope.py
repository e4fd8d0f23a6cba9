"""The one response path of every function: content negotiation, gzip, caching headers, the
Lambda response budget and the 413's advice (docs/limits.md).

Routes never write ``Vary``, ``Cache-Control`` or a budget themselves: they return their answer
and leave :class:`Hints` on the invocation -- which request headers chose it (:func:`negotiate`),
that it must never be stored (:func:`never_store`), what to download when it cannot fit
(:func:`advise_too_large`, :func:`advise_page`) -- and :func:`fit_result` applies the rules.

Lambda returns at most 6,291,456 bytes of response payload: the JSON document it serializes from
the handler's result (``statusCode``, ``headers``, ``body``, ``isBase64Encoded``). This module counts
that document the strict way -- the body JSON-escaped with every non-ASCII character as ``\\uXXXX``,
or base64 when compressed -- so no answer ever exceeds it. ``fit_result`` is applied to every
result in :func:`etl_artifacts.api.entry.lambda_entry`; routes never measure anything themselves.

For streaming producers (NDJSON) the cost of one piece of body is :func:`body_cost`, and the room
for an NDJSON body is :func:`ndjson_budget` (docs/limits.md, "Inside AWS's limits").
"""

from __future__ import annotations

import base64
import bisect
import contextvars
import gzip
import json
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from etl_artifacts.api.negotiation import _QVALUE  # the RFC 9110 qvalue, one definition
from etl_artifacts.config import get_settings
from etl_artifacts.errors import ResponseTooLarge
from etl_artifacts.payload import (  # noqa: F401 - re-exported: the response path's counting
    ENVELOPE_RESERVE,
    LAMBDA_PAYLOAD_MAX,
    base64_cost,
    body_budget,
    body_cost,
    payload_size,
)

GZIP_LEVEL = 6

# The part of an NDJSON answer's Lambda payload that is not its body: statusCode, the headers
# (Content-Type, a continuation token of ~150 characters, Cache-Control, Vary, Content-Encoding)
# and isBase64Encoded come to ~350 bytes; NDJSON_MAX_BYTES bounds the whole payload (docs/limits.md).
NDJSON_ENVELOPE_BYTES = 512


@dataclass
class Hints:
    """What a route tells the response path about the invocation's answer, besides the answer.

    Request-scoped (:func:`begin_invocation`): a route may raise after negotiating, and its error
    answer still varies by what was negotiated.
    """

    # Request headers the answer was chosen by (``Vary``; ``Accept-Encoding`` is the envelope's own).
    varies: set[str] = field(default_factory=set)
    # Never stored by a cache even when no tenant asked (a public answer holding a presigned URL).
    no_store: bool = False
    # The 413's detail whatever the answer's shape (nothing smaller than all of it exists).
    too_large_detail: str | None = None
    # A page of this artifact kind: a 413 names the largest ``limit`` that fits, else its chunks.
    page_kind: str | None = None


_hints: contextvars.ContextVar[Hints | None] = contextvars.ContextVar("hints", default=None)


def begin_invocation() -> Hints:
    """Fresh hints for the invocation that starts (what :func:`fit_result` is then given)."""
    hints = Hints()
    _hints.set(hints)
    return hints


def _current() -> Hints:
    hints = _hints.get()
    if hints is None:  # outside an invocation (a unit test calling a route's helper)
        hints = begin_invocation()
    return hints


def never_store() -> None:
    """The answer must never be stored by a browser or a shared cache (``Cache-Control: no-store``)."""
    _current().no_store = True


def advise_too_large(detail: str) -> None:
    """The 413's detail if the answer cannot fit in one response."""
    _current().too_large_detail = detail


def advise_page(artifact_kind: str) -> None:
    """The answer is a page of ``artifact_kind``'s rows: a 413 gives the largest ``limit`` that
    fits, or, when not even one row does, points at that kind's chunks."""
    _current().page_kind = artifact_kind


def ndjson_budget() -> int:
    """The body cost (see :func:`body_cost`) an NDJSON answer may have: ``NDJSON_MAX_BYTES`` of
    payload, never more than Lambda can return, less what is not the body."""
    payload = min(get_settings().ndjson_max_bytes, body_budget())
    return max(payload - NDJSON_ENVELOPE_BYTES, 1)


# -- Accept / Accept-Encoding (RFC 9110 §12.4) ------------------------------------------------------


def quality_list(header: str | None) -> list[tuple[str, float]]:
    """``(coding, q)`` pairs of an ``Accept-Encoding`` value, lower-cased; an invalid q-value counts
    as 0 (media ranges of ``Accept`` are parsed by ``etl_artifacts.api.negotiation``)."""
    items: list[tuple[str, float]] = []
    for part in (header or "").split(","):
        token, *params = (piece.strip() for piece in part.split(";"))
        if not token:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                value = value.strip()
                q = float(value) if _QVALUE.match(value) else 0.0
        items.append((token.lower(), q))
    return items


def negotiate(accept: str | None, offers: Sequence[str]) -> str:
    """The offer the client prefers (``offers[0]`` is the default), by the one Accept parser
    (``etl_artifacts.api.negotiation``); recorded so that the answer carries ``Vary: Accept``."""
    from etl_artifacts.api.negotiation import negotiate as negotiate_media

    _current().varies.add("Accept")
    return negotiate_media(accept, offers)


def admits_gzip(accept_encoding: str | None) -> bool:
    codings = quality_list(accept_encoding)
    for candidate in ("gzip", "x-gzip", "*"):
        qs = [q for token, q in codings if token == candidate]
        if qs:
            return max(qs) > 0
    return False


# -- The response path -------------------------------------------------------------------------


def _header(headers: dict[str, Any], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return str(value)
    return None


def _add_vary(headers: dict[str, Any], names: set[str]) -> None:
    present = [v.strip() for v in (_header(headers, "Vary") or "").split(",") if v.strip()]
    merged = present + [n for n in sorted(names) if n.lower() not in {p.lower() for p in present}]
    for key in [k for k in headers if k.lower() == "vary"]:
        del headers[key]
    if merged:
        headers["Vary"] = ", ".join(merged)


def _raw_body(result: dict[str, Any]) -> bytes:
    body = result.get("body") or ""
    return base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()


def _gzip(raw: bytes) -> bytes:
    return gzip.compress(raw, compresslevel=GZIP_LEVEL, mtime=0)


def fit_result(
    event: dict[str, Any],
    result: dict[str, Any],
    too_large: Callable[[ResponseTooLarge], dict[str, Any]],
    hints: Hints,
) -> dict[str, Any]:
    """Headers, compression and the payload limit for one handler result (docs/api.md, docs/limits.md).

    ``too_large`` renders the 413 (the caller owns the error shape and the request id); ``hints``
    are the invocation's (:func:`begin_invocation`).
    """
    headers: dict[str, Any] = dict(result.get("headers") or {})
    request_headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    tenant_answer = bool(((event.get("requestContext") or {}).get("authorizer") or {}).get("lambda"))
    if tenant_answer or hints.no_store:
        # Tenant data and presigned URLs: never stored by a browser or a shared cache.
        for key in [k for k in headers if k.lower() == "cache-control"]:
            del headers[key]
        headers["Cache-Control"] = "no-store"
    gzip_ok = admits_gzip(request_headers.get("accept-encoding"))
    body = result.get("body") or ""
    compressible = bool(body) and _header(headers, "Content-Encoding") is None
    if compressible:
        _add_vary(headers, {"Accept-Encoding", *hints.varies})
    elif hints.varies:
        _add_vary(headers, set(hints.varies))
    result = {**result, "headers": headers}

    original = None if result.get("isBase64Encoded") else body
    if compressible and gzip_ok:
        result = {
            **result,
            "headers": {**headers, "Content-Encoding": "gzip"},
            "body": base64.b64encode(_gzip(_raw_body(result))).decode("ascii"),
            "isBase64Encoded": True,
        }
    if payload_size(result) <= LAMBDA_PAYLOAD_MAX:
        return result
    answer = too_large(_too_large_error(result, gzip_ok, original, hints))
    if compressible:
        # Whether the answer fits depended on Accept-Encoding (gzip) and on what was negotiated.
        answer["headers"] = dict(answer.get("headers") or {})
        _add_vary(answer["headers"], {"Accept-Encoding", *hints.varies})
    return answer


# -- 413: what would fit -----------------------------------------------------------------------


class _PageLayout:
    """Where a JSON page's rows are in its (already rendered) body: ``{"columns":[..],"rows":[..],..}``."""

    def __init__(self, body: str, head_end: int, spans: list[tuple[int, int]], tail_start: int) -> None:
        self.body = body
        self.head = body[:head_end]
        self.spans = spans
        self.tail = body[tail_start:]

    @classmethod
    def parse(cls, body: str) -> _PageLayout | None:
        decoder = json.JSONDecoder()
        opening = '{"columns":'
        if not body.startswith(opening):
            return None
        try:
            _, pos = decoder.raw_decode(body, len(opening))
            if not body.startswith(',"rows":[', pos):
                return None
            head_end = pos = pos + len(',"rows":[')
            spans: list[tuple[int, int]] = []
            while body[pos] != "]":
                _, end = decoder.raw_decode(body, pos)
                spans.append((pos, end))
                pos = end + 1 if body[end] == "," else end
            return cls(body, head_end, spans, pos)
        except (ValueError, IndexError):
            return None

    def tail_for(self, rows: int) -> str:
        """What follows the rows in a body of ``rows`` rows (from ``]``)."""
        tail = re.sub(r'"limit":\d+', f'"limit":{rows}', self.tail, count=1)
        # "false" is the longer of the two: the count never under-estimates.
        return re.sub(r'"has_more":true', '"has_more":false', tail, count=1)

    def body_with(self, rows: int) -> str:
        tail = self.tail_for(rows)
        if rows == 0:
            return self.head + tail
        return self.head + self.body[self.spans[0][0] : self.spans[rows - 1][1]] + tail


# Compressed bytes zlib may still hold before a flush (a block of at most 16K symbols): below this
# distance from the budget, every row boundary is measured exactly.
_PENDING_BOUND = 1 << 20


def _max_rows_gzip(layout: _PageLayout, budget: int) -> int:
    """Largest k whose k-row body, gzipped and base64-encoded, costs at most ``budget``.

    One streaming pass over the rows already rendered (deflate's output does not depend on how
    its input is cut): near the budget, a copy of the compressor is flushed with the page's tail
    at each row boundary, which gives the exact size of that candidate body.
    """
    raw_budget = (budget // 4) * 3  # base64 of c bytes is 4 * ceil(c / 3)
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
    emitted = len(compressor.compress(layout.head.encode()))
    best = 0
    for k, (start, end) in enumerate(layout.spans, start=1):
        emitted += len(compressor.compress((b"," if k > 1 else b"") + layout.body[start:end].encode()))
        if emitted > raw_budget:
            break
        if emitted <= raw_budget - _PENDING_BOUND:
            best = k  # even with everything zlib still holds, it fits
            continue
        probe = compressor.copy()
        if emitted + len(probe.compress(layout.tail_for(k).encode()) + probe.flush()) <= raw_budget:
            best = k
    return best


def _max_limit(layout: _PageLayout, envelope: int, gzip_ok: bool) -> int | None:
    budget = LAMBDA_PAYLOAD_MAX - envelope
    if not layout.spans:
        return None
    if gzip_ok:
        return _max_rows_gzip(layout, budget) or None
    # Escaping is per character: the cost of k rows is the sum of theirs, exactly.
    fixed = body_cost(layout.body_with(0))
    prefix = [0]
    for start, end in layout.spans:
        prefix.append(prefix[-1] + body_cost(layout.body[start:end]) + 1)  # the row and its comma
    return min(bisect.bisect_right(prefix, budget - fixed) - 1, len(layout.spans)) or None


def _too_large_error(
    result: dict[str, Any], gzip_ok: bool, body: str | None, hints: Hints
) -> ResponseTooLarge:
    if hints.too_large_detail is not None:
        return ResponseTooLarge(hints.too_large_detail)
    layout = _PageLayout.parse(body) if body is not None else None
    if layout is None:
        return ResponseTooLarge()
    envelope = payload_size({**result, "body": ""}) + ENVELOPE_RESERVE
    max_limit = _max_limit(layout, envelope, gzip_ok)
    if max_limit is not None:
        return ResponseTooLarge(
            f"This page does not fit in one response; at most limit={max_limit} does.", max_limit=max_limit
        )
    if hints.page_kind is None:
        return ResponseTooLarge()
    kind = hints.page_kind
    return ResponseTooLarge(
        "Not even one row of this page fits in one response: download the attempt's chunks as the "
        f"`{kind}` artifact (GET .../artifacts/{kind}/download?chunk=N)."
    )
