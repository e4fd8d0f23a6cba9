"""A demo uploaded artifact on the walkthrough run, at a fixed id, so that ``make dev``, docs/uploads.md
and ``events/uploads_*.json`` have one to read. Written as a create would write it (row pending,
bytes checked by S3, then active); doing it again changes nothing."""

from __future__ import annotations

import datetime as dt
import hashlib

from etl_artifacts.config import get_settings, require_bucket
from etl_artifacts.layout import RunRef
from etl_artifacts.uploads.dal import ArtifactStore, InsertOutcome, StoredArtifact
from etl_artifacts.uploads.models import ArtifactRecord
from etl_artifacts.uploads.storage import UploadStorage, upload_key

DEMO_ARTIFACT_ID = "art_01KA0000000000000000000001"
DEMO_REPORT = b"# Quality report\n\nEvery row of the load phase passed its checks.\n"


def seed_demo_upload(run: RunRef, store: ArtifactStore | None = None) -> str:
    """The demo report of ``run`` (whose etl.logs row must exist); returns its id."""
    store = store or ArtifactStore()
    if store.get(run.id_company, DEMO_ARTIFACT_ID) is not None:
        return DEMO_ARTIFACT_ID
    settings = get_settings()
    sha256 = hashlib.sha256(DEMO_REPORT).hexdigest()
    created_at = dt.datetime.combine(run.run_date, dt.time(11), dt.UTC)
    stored = StoredArtifact(
        id_company=run.id_company,
        record=ArtifactRecord(
            artifact_id=DEMO_ARTIFACT_ID,
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
        s3_key=upload_key(run, DEMO_ARTIFACT_ID, settings.artifacts_prefix),
    )
    outcome = store.insert(stored, settings.run_max_artifacts).outcome
    if outcome is not InsertOutcome.CREATED:
        raise RuntimeError(f"the demo artifact could not be recorded: {outcome.value}")
    UploadStorage(require_bucket(settings)).put(stored.s3_key, DEMO_REPORT, "text/markdown", sha256)
    store.set_status(run.id_company, DEMO_ARTIFACT_ID, "active", from_status="pending")
    return DEMO_ARTIFACT_ID
