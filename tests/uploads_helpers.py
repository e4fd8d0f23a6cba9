"""Helpers of the uploads tests: runs in ``etl.logs``, records for the store, and route paths."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from etl_artifacts.s3.layout import RunRef
from etl_artifacts.uploads.dal import StoredArtifact
from etl_artifacts.uploads.ids import new_artifact_id
from etl_artifacts.uploads.models import ArtifactRecord
from runs_helpers import insert_run, phase

RUN_DATE = dt.date(2026, 11, 20)
RUN_ID = "manual__2026-11-20T10:00:00+00:00"


def new_run(company: str = "acme", run_id: str = RUN_ID, run_date: dt.date = RUN_DATE) -> RunRef:
    """A run of its own (fresh DAG id) recorded in etl.logs for ``company``."""
    run = RunRef(company, uuid.uuid4(), run_date, run_id)
    insert_run(company, run.dag_id, run_date, run_id, {"extract": phase()})
    return run


def run_path(run: RunRef, suffix: str = "/artifacts") -> str:
    return f"/api/v1/dags/{run.dag_id}/runs/{run.run_date.isoformat()}/{quote(run.run_id, safe='')}{suffix}"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def create_body(data: bytes, name: str = "report.md", **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "artifact_type": "report",
        "content_type": "text/markdown",
        "size_bytes": len(data),
        "sha256": sha256_hex(data),
        **fields,
    }


def stored(
    run: RunRef,
    name: str = "report.md",
    *,
    status: str = "active",
    created_at: dt.datetime | None = None,
    **fields: Any,
) -> StoredArtifact:
    """A row for the store directly (no S3): what a create would write."""
    artifact_id = new_artifact_id()
    record = ArtifactRecord(
        artifact_id=artifact_id,
        dag_id=run.dag_id,
        date=run.run_date,
        run_id=run.run_id,
        phase=fields.pop("phase", None),
        attempt=fields.pop("attempt", None),
        name=name,
        artifact_type=fields.pop("artifact_type", "report"),
        content_type="text/plain",
        size_bytes=3,
        sha256=sha256_hex(b"abc"),
        digest="sha256:" + sha256_hex(b"abc"),
        status=status,  # type: ignore[arg-type]
        is_primary_deliverable=fields.pop("is_primary_deliverable", False),
        derived_from=fields.pop("derived_from", []),
        metadata=fields.pop("metadata", {}),
        created_at=created_at or dt.datetime.now(dt.UTC),
        created_by="tester",
        expires_at=fields.pop("expires_at", None),
        deleted_at=None,
        restorable_until=None,
    )
    assert not fields, fields
    return StoredArtifact(
        id_company=run.id_company, record=record, s3_key=f"{run.prefix()}uploads/{artifact_id}"
    )


def plan_nodes(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from plan_nodes(value)
    elif isinstance(node, list):
        for value in node:
            yield from plan_nodes(value)
