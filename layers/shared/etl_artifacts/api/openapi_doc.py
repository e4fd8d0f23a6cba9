"""The published OpenAPI document: Powertools' merged document tidied in one pass, so that
generated clients get clean types (docs/api.md, "Generated clients").

- Powertools adds to every validated route a 422 answer with its own ``HTTPValidationError`` (whose
  ``ValidationError`` lists ``msg`` as required without defining it) and a ``ResponseValidationError``
  schema that no route uses. Our routes declare their 422 with ``ValidationErrorResponse``; the
  leftovers are rewritten to it or dropped.
- An enum that parameters share (the phase, the artifact kind, the status filter) is inlined by
  pydantic into every parameter; generators then make one class per operation
  (``GetPhaseDataPhase``, ``GetPhaseLogsPhase``...). Each becomes one component here.
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


# Parameter name -> (component, its description). Every parameter of that name holds the same enum.
SHARED_ENUMS: dict[str, tuple[str, str]] = {
    "phase": ("Phase", "A phase of a run that has outputs."),
    "artifact_kind": ("ArtifactKind", "`{phase}-{name}`, or `event-queue-data`, `event-event`."),
    "event_status": ("StatusFilter", "`all`, or the status a phase must have."),
    "extract_status": ("StatusFilter", "`all`, or the status a phase must have."),
    "transform_status": ("StatusFilter", "`all`, or the status a phase must have."),
    "load_status": ("StatusFilter", "`all`, or the status a phase must have."),
    "level": ("LogLevel", "A log row's level."),
    "order": ("LogsOrder", "`asc`: oldest row first; `desc`: newest row first."),
    "status": ("ArtifactStatus", "An uploaded artifact's status."),
    "is_primary_deliverable": ("Flag", "`true` or `false`."),
    "include_urls": ("Flag", "`true` or `false`."),
    "csv_formulas": ("CsvFormulas", "`escape`: formula-like text cells get a leading `'`; `raw`: as stored."),
}


def _share_enums(document: dict[str, Any]) -> None:
    """Replace each parameter's inline enum by a reference to its one component (SHARED_ENUMS)."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for method, path, operation in operations(document):
        for param in operation.get("parameters", []):
            shared = SHARED_ENUMS.get(param.get("name", ""))
            if shared is None:
                continue
            name, description = shared
            schema = param["schema"]
            # The enum itself, or the non-null option of `anyOf: [enum, null]` (an optional filter).
            options = schema.get("anyOf", [schema])
            holder = next((option for option in options if "enum" in option), None)
            if holder is None:
                continue
            component = {"type": "string", "enum": holder["enum"], "title": name, "description": description}
            if schemas.setdefault(name, component) != component:
                raise ValueError(f"{method.upper()} {path}: `{param['name']}` differs from the {name} enum")
            for key in ("type", "enum", "title"):
                holder.pop(key, None)
            holder["$ref"] = SCHEMA_REF + name
            schema.pop("title", None)


def _share_property_enums(document: dict[str, Any]) -> None:
    """A model property named like a shared parameter, holding exactly that enum (a record's `phase`,
    its `status`), points at the same component: one class per idea in a generated client."""
    schemas = document.get("components", {}).get("schemas", {})
    for model in list(schemas.values()):
        for prop_name, prop in (model.get("properties") or {}).items():
            shared = SHARED_ENUMS.get(prop_name)
            if shared is None or shared[0] not in schemas:
                continue
            holder = next((option for option in prop.get("anyOf", [prop]) if "enum" in option), None)
            if holder is None or holder["enum"] != schemas[shared[0]]["enum"]:
                continue
            for key in ("type", "enum", "title"):
                holder.pop(key, None)
            holder["$ref"] = SCHEMA_REF + shared[0]


def tidy(document: dict[str, Any]) -> dict[str, Any]:
    """Drop the 422 of operations that take no parameter (nothing to validate: health, whoami),
    point every validation answer at our schema, share the parameters' enums as components and
    remove the schemas nothing references."""
    for _method, _path, operation in operations(document):
        if not operation.get("parameters") and "requestBody" not in operation:
            operation.get("responses", {}).pop("422", None)
    _rewrite_refs(document.get("paths", {}), _POWERTOOLS_VALIDATION_REF, _OUR_VALIDATION_REF)
    _share_enums(document)
    _share_property_enums(document)

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


def json_first(document_json: str) -> str:
    """The document with ``application/json`` first among each answer's media types: Swagger UI asks
    for the first one by default, and JSON is the API's default (the published order puts text first
    for generated clients, see ``phases_routes``)."""
    document = json.loads(document_json)
    for _method, _path, operation in operations(document):
        for response in operation.get("responses", {}).values():
            content = response.get("content")
            if content and "application/json" in content:
                response["content"] = {"application/json": content.pop("application/json"), **content}
    return json.dumps(document, separators=(",", ":"))
