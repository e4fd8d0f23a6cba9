"""The objects an indexer trigger event names, whatever its shape (pure functions, no I/O).

Accepted shapes (docs/architecture.md and direct bucket notifications):

- EventBridge ``Object Created`` from ``aws.s3``: ``detail.bucket.name``, ``detail.object.key``;
- S3 event notification: ``Records[].s3.bucket.name`` / ``Records[].s3.object.key``;
- either of them as the JSON body of an SQS message (and an SNS envelope's ``Message`` inside it).

S3 notifications URL-encode keys (form encoding: a space is ``+``), so they are decoded. EventBridge
sends keys as they are; a key with ``%`` in it is decoded too, since no key of docs/architecture.md
contains ``%`` otherwise. ``s3:TestEvent`` messages and unrelated events name no object.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, unquote_plus

from etl_artifacts.errors import UnreadableEvent


@dataclass(frozen=True)
class ObjectRef:
    bucket: str
    key: str


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def objects_in(payload: Any) -> list[ObjectRef]:
    """Every (bucket, key) named by an event payload (already parsed JSON)."""
    payload = _as_dict(payload)
    found: list[ObjectRef] = []
    if payload.get("detail-type") == "Object Created" or payload.get("source") == "aws.s3":
        detail = _as_dict(payload.get("detail"))
        bucket = _as_dict(detail.get("bucket")).get("name")
        key = _as_dict(detail.get("object")).get("key")
        if isinstance(bucket, str) and isinstance(key, str):
            found.append(ObjectRef(bucket, unquote(key) if "%" in key else key))
        return found
    if isinstance(payload.get("Message"), str):  # SNS envelope
        return objects_in(parse_body(payload["Message"]))
    for record in payload.get("Records") or []:
        record = _as_dict(record)
        if "s3" in record:
            s3 = _as_dict(record["s3"])
            bucket = _as_dict(s3.get("bucket")).get("name")
            key = _as_dict(s3.get("object")).get("key")
            if isinstance(bucket, str) and isinstance(key, str):
                found.append(ObjectRef(bucket, unquote_plus(key)))
        elif record.get("eventSource") == "aws:sqs" and isinstance(record.get("body"), str):
            found.extend(objects_in(parse_body(record["body"])))
    return found


def parse_body(body: str) -> Any:
    try:
        return json.loads(body)
    except ValueError as exc:
        raise UnreadableEvent("message body is not JSON") from exc


def is_sqs_batch(event: Any) -> bool:
    records = _as_dict(event).get("Records") or []
    return bool(records) and all(_as_dict(r).get("eventSource") == "aws:sqs" for r in records)
