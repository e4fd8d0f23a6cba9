"""The raw event read the way API Gateway meant it: the route it chose with its path values, and
the query string decoded once, strictly (docs/limits.md). Nothing is ever decoded twice."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, unquote_plus

from aws_lambda_powertools.event_handler import content_types

from etl_artifacts.errors import QueryNotUtf8

# Characters a path value keeps when re-encoded for routing: those of the API's patterns.
_ROUTING_SAFE = "-._~:+"


def routing_event(event: dict[str, Any]) -> dict[str, Any]:
    """The event Powertools routes: the route API Gateway chose, with its decoded path values.

    API Gateway decodes the path once (docs/limits.md): ``rawPath`` holds ``a/b`` for ``a%2Fb``, which
    no route template matches. So the function routes what API Gateway routed -- its ``routeKey``
    filled with ``pathParameters`` -- each value re-encoded only where it leaves the API's
    characters. Nothing is ever decoded here: a value holding ``%`` or any other stray character
    reaches its check as ``%XX`` and is a 422, never a second decoding.
    """
    route_key = event.get("routeKey") or ""
    params = event.get("pathParameters") or {}
    _, _, template = route_key.partition(" ")
    if not params or not template.startswith("/"):
        return event
    path = template
    for name, value in params.items():
        path = path.replace("{" + name + "}", quote(str(value), safe=_ROUTING_SAFE))
    return {**event, "rawPath": path}


def query_parameters(raw_query: str) -> dict[str, str]:
    """``rawQueryString`` decoded once, strictly: ``+`` is a space, ``%XX`` a byte, and the bytes of
    every name and value must be UTF-8 (else QueryNotUtf8: ``%FF`` or an encoded surrogate such
    as ``%ED%A0%80`` never becomes U+FFFD). A name given twice has its values joined by commas,
    as API Gateway joins them."""
    params: dict[str, str] = {}
    for piece in raw_query.split("&"):
        if not piece:
            continue
        raw_name, _, raw_value = piece.partition("=")
        try:
            name = unquote_plus(raw_name, errors="strict")
        except UnicodeDecodeError:
            raise QueryNotUtf8(None) from None
        try:
            value = unquote_plus(raw_value, errors="strict")
        except UnicodeDecodeError:
            raise QueryNotUtf8(name) from None
        params[name] = f"{params[name]},{value}" if name in params else value
    return params


def strict_query(event: dict[str, Any]) -> dict[str, Any]:
    """The event with ``queryStringParameters`` decoded from ``rawQueryString`` by
    :func:`query_parameters`: how API Gateway decodes bytes that are not UTF-8 is not documented,
    so the functions read the query as the client encoded it (``rawQueryString`` stays encoded)."""
    if "rawQueryString" not in event:
        return event
    params = query_parameters(str(event.get("rawQueryString") or ""))
    strict = {key: value for key, value in event.items() if key != "queryStringParameters"}
    if params:
        strict["queryStringParameters"] = params
    return strict


def not_utf8_answer(exc: QueryNotUtf8) -> dict[str, Any]:
    # pydantic's own error for bytes that are not a string; the value is never echoed.
    loc = ["query"] if exc.name is None else ["query", exc.name]
    item = {
        "loc": loc,
        "msg": "Input should be a valid string, unable to parse raw data as a unicode string",
        "type": "string_unicode",
    }
    return {
        "statusCode": 422,
        "headers": {"Content-Type": content_types.APPLICATION_JSON},
        "body": json.dumps({"detail": [item]}, separators=(",", ":")),
        "isBase64Encoded": False,
    }
