"""The published OpenAPI document: Powertools' merged document with its leftovers removed, so that
generated clients get clean types (issue 19).

Powertools adds to every validated route a 422 answer with its own ``HTTPValidationError`` (whose
``ValidationError`` lists ``msg`` as required without defining it) and a ``ResponseValidationError``
schema that no route uses. Our routes declare their 422 with ``ValidationErrorResponse``; the
leftovers are rewritten to it or dropped here, in one pass over the finished document.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

SCHEMA_REF = "#/components/schemas/"
# Powertools' validation schemas, replaced by ours (errors.ValidationErrorResponse).
_POWERTOOLS_VALIDATION_REF = SCHEMA_REF + "HTTPValidationError"
_OUR_VALIDATION_REF = SCHEMA_REF + "ValidationErrorResponse"


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _rewrite_refs(node: Any, old: str, new: str) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and value == old:
                node[key] = new
            else:
                _rewrite_refs(value, old, new)
    elif isinstance(node, list):
        for item in node:
            _rewrite_refs(item, old, new)


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """``(method, path, operation)`` for every operation of the document, in document order."""
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if method in ("get", "put", "post", "delete", "patch", "head", "options", "trace"):
                yield method, path, operation


def tidy(document: dict[str, Any]) -> dict[str, Any]:
    """Drop the 422 of operations that take no parameter (nothing to validate: health, whoami),
    point every validation answer at our schema and remove the schemas nothing references."""
    for _method, _path, operation in operations(document):
        if not operation.get("parameters") and "requestBody" not in operation:
            operation.get("responses", {}).pop("422", None)
    _rewrite_refs(document.get("paths", {}), _POWERTOOLS_VALIDATION_REF, _OUR_VALIDATION_REF)

    schemas: dict[str, Any] = document.get("components", {}).get("schemas", {})
    reachable: set[str] = set()
    pending = [ref for ref in _refs(document.get("paths", {})) if ref.startswith(SCHEMA_REF)]
    while pending:
        name = pending.pop()[len(SCHEMA_REF) :]
        if name in reachable or name not in schemas:
            continue
        reachable.add(name)
        pending += [ref for ref in _refs(schemas[name]) if ref.startswith(SCHEMA_REF)]
    for name in list(schemas):
        if name not in reachable:
            del schemas[name]
    return document


def tidy_json(document_json: str) -> str:
    return json.dumps(tidy(json.loads(document_json)), separators=(",", ":"))
