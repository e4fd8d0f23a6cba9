"""Sealing a run: the manifest of what it delivered, signed by KMS, stored once (irreversible).

A seal takes the run's lock (the one creates take, ``uploads.dal.run_lock``) for its whole
transaction, and delete and restore take it too: no artifact appears, goes or comes back between
the manifest's listing and the seal's commit, and none changes after it (409 ``run_sealed``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from etl_artifacts.clients import s3_client
from etl_artifacts.config import get_settings, require_bucket
from etl_artifacts.errors import RunNotFound, RunNotSealed, RunSealed
from etl_artifacts.lifecycle import outbox
from etl_artifacts.lifecycle.kms_signer import sign_manifest
from etl_artifacts.lifecycle.manifest_signature import canonical_bytes
from etl_artifacts.lifecycle.models import RunSeal
from etl_artifacts.postgres.db import Database, get_database
from etl_artifacts.postgres.migrations import UPLOADS_TABLE
from etl_artifacts.s3.layout import RunRef
from etl_artifacts.s3.listing import list_prefix, strip_etag

MANIFEST_VERSION = 1
_WHERE_RUN = "id_company = :company AND dag_id = :dag AND run_date = :day AND run_id = :run"


def _run_params(run: RunRef) -> dict[str, Any]:
    return {"company": run.id_company, "dag": run.dag_id, "day": run.run_date, "run": run.run_id}


def lock_run(db: Database, run: RunRef) -> None:
    """Inside a transaction: hold the run's lock until it ends."""
    from etl_artifacts.uploads.dal import run_lock

    lock = run_lock(run)
    db.run(lock.sql, **lock.params)


def ensure_not_sealed(db: Database, run: RunRef) -> None:
    """Inside a transaction, for delete and restore: lock the run, then 409 if it is sealed."""
    from etl_artifacts.uploads.dal import run_is_sealed

    lock_run(db, run)
    if run_is_sealed(db, run):
        raise RunSealed()


def _seal_of(rows: list[list[Any]]) -> RunSeal | None:
    if not rows:
        return None
    manifest, key_id, value = rows[0]
    return RunSeal.model_validate(
        {"manifest": json.loads(manifest), "signature": {"key_id": key_id, "value": value}}
    )


_SELECT_SEAL = f"SELECT manifest, key_id, signature FROM etl.run_seals WHERE {_WHERE_RUN}"  # noqa: S608


def get_manifest(run: RunRef) -> RunSeal:
    """The run's seal; 404 ``run_not_sealed`` (also for another tenant's run, or no run at all)."""
    rows, _ = get_database().read(_SELECT_SEAL, **_run_params(run))
    seal = _seal_of(rows)
    if seal is None:
        raise RunNotSealed()
    return seal


def _parquet_objects(run: RunRef) -> list[dict[str, Any]]:
    settings = get_settings()
    prefix = run.prefix(settings.artifacts_prefix)
    return [
        {
            "key": item["Key"][len(prefix) :],
            "size_bytes": int(item["Size"]),
            "etag": strip_etag(item.get("ETag")),
        }
        for item in list_prefix(s3_client(), require_bucket(settings), prefix)
        if item["Key"].endswith(".parquet")
    ]


def _active_artifacts(db: Database, run: RunRef) -> list[dict[str, Any]]:
    rows, _ = db.run(
        f"""SELECT artifact_id, name, size_bytes, sha256 FROM {UPLOADS_TABLE}
            WHERE {_WHERE_RUN} AND status = 'active' AND (expires_at IS NULL OR expires_at > now())
            ORDER BY artifact_id""",  # noqa: S608 - constants only
        **_run_params(run),
    )
    return [{"artifact_id": r[0], "name": r[1], "size_bytes": int(r[2]), "sha256": r[3]} for r in rows]


def seal_run(run: RunRef, sealed_by: str) -> RunSeal:
    """Seal the run once; sealing it again answers the same seal. 404 ``run_not_found`` when the
    run is not in ``etl.logs`` for this tenant."""
    db = get_database()
    with db.transaction():
        lock_run(db, run)
        existing = _seal_of(db.run(_SELECT_SEAL, **_run_params(run))[0])
        if existing is not None:
            return existing
        if not db.run(f"SELECT 1 FROM etl.logs WHERE {_WHERE_RUN}", **_run_params(run))[0]:  # noqa: S608
            raise RunNotFound()
        sealed_at = datetime.now(UTC)
        manifest = {
            "manifest_version": MANIFEST_VERSION,
            "dag_id": str(run.dag_id),
            "date": run.run_date.isoformat(),
            "run_id": run.run_id,
            "sealed_at": sealed_at.isoformat().replace("+00:00", "Z"),
            "sealed_by": sealed_by,
            "parquet": _parquet_objects(run),
            "artifacts": _active_artifacts(db, run),
        }
        signature = sign_manifest(manifest)
        db.run(
            """INSERT INTO etl.run_seals
                 (id_company, dag_id, run_date, run_id, manifest, key_id, signature, sealed_at)
               VALUES (:company, :dag, :day, :run, :manifest, :key_id, :value, :sealed_at)""",
            **_run_params(run),
            manifest=canonical_bytes(manifest).decode("utf-8"),
            key_id=signature["key_id"],
            value=signature["value"],
            sealed_at=sealed_at,
        )
        event = outbox.record_event(
            db,
            run.id_company,
            "run.sealed",
            {"dag_id": str(run.dag_id), "date": run.run_date.isoformat(), "run_id": run.run_id},
        )
    outbox.publish_soon([event])
    return RunSeal.model_validate({"manifest": manifest, "signature": signature})
