"""A demo uploaded artifact on the walkthrough run, at an id fixed by the run, so that ``make dev``,
docs/uploads.md and ``events/uploads_*.json`` have one to read. Written as a create would write it
(row pending, bytes checked by S3, then active); doing it again only puts back bytes that are missing."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

from etl_artifacts.config import get_settings, require_bucket
from etl_artifacts.s3.layout import RunRef
from etl_artifacts.uploads.dal import InsertOutcome, StoredArtifact, UploadRecords
from etl_artifacts.uploads.ids import new_artifact_id
from etl_artifacts.uploads.models import ArtifactRecord
from etl_artifacts.uploads.storage import UploadStorage, upload_key

DEMO_REPORT = b"# Quality report\n\nEvery row of the load phase passed its checks.\n"


def demo_artifact_id(run: RunRef) -> str:
    """The demo report's id: its creation time (11:00 on the run's date) and bits of the run's key."""
    created_at = dt.datetime.combine(run.run_date, dt.time(11), dt.UTC)
    key = json.dumps([run.id_company, str(run.dag_id), run.run_date.isoformat(), run.run_id]).encode()
    bits = int.from_bytes(hashlib.sha256(key).digest()[:10], "big")
    return new_artifact_id(int(created_at.timestamp() * 1000), randomness=bits)


def seed_demo_upload(run: RunRef, store: UploadRecords | None = None) -> str:
    """The demo report of ``run`` (whose etl.logs row must exist); returns its id."""
    store = store or UploadRecords()
    settings = get_settings()
    storage = UploadStorage(require_bucket(settings))
    artifact_id = demo_artifact_id(run)
    sha256 = hashlib.sha256(DEMO_REPORT).hexdigest()
    existing = store.get(run.id_company, artifact_id)
    if existing is not None:
        if storage.head(existing.s3_key) is None:  # the same rows, another bucket or prefix
            storage.put(existing.s3_key, DEMO_REPORT, "text/markdown", sha256)
        return artifact_id
    created_at = dt.datetime.combine(run.run_date, dt.time(11), dt.UTC)
    stored = StoredArtifact(
        id_company=run.id_company,
        record=ArtifactRecord(
            artifact_id=artifact_id,
            dag_id=run.dag_id,
            date=run.run_date,
            run_id=run.run_id,
            phase="load",
            attempt=1,
            name="quality-report.md",
            artifact_type="report",
            content_type="text/markdown",
            size_bytes=len(DEMO_REPORT),
            sha256=sha256,
            digest=f"sha256:{sha256}",
            status="pending",
            is_primary_deliverable=True,
            derived_from=["load/attempt=1/metadata.parquet"],
            metadata={"checks": 3},
            created_at=created_at,
            created_by="seed",
            expires_at=None,
            deleted_at=None,
            restorable_until=None,
        ),
        s3_key=upload_key(run, artifact_id, settings.artifacts_prefix),
    )
    outcome = store.insert(stored, settings.run_max_artifacts).outcome
    if outcome is not InsertOutcome.CREATED:
        raise RuntimeError(f"the demo artifact could not be recorded: {outcome.value}")
    storage.put(stored.s3_key, DEMO_REPORT, "text/markdown", sha256)
    store.set_status(run.id_company, artifact_id, "active", from_status="pending")
    return artifact_id
