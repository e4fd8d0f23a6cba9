"""The sweeper: removes the bytes of artifacts whose time is up, in bounded batches.

Three kinds of rows are due at ``now``:

- ``expired``: active or pending with ``expires_at <= now`` -> object removed, status ``expired``,
  ``artifact.expired`` event (for artifacts that were active);
- ``abandoned``: pending uploads created more than 24 h before ``now`` -> object removed (a PUT
  that was never completed), status ``expired``;
- ``deleted``: deleted with ``restorable_until <= now`` and bytes still there -> object removed,
  ``purged_at`` set (the row stays: reads answer 410 ``artifact_deleted``, restore 410).

Each batch is one transaction that claims its rows with ``FOR UPDATE SKIP LOCKED``, removes their
objects and marks them: sweeps running at once take disjoint rows, so each object is removed once,
and a sweep cut short (timeout) leaves the rest for the next run. Only the server-chosen
``uploads/<artifact_id>`` key of a row is ever removed: never the writer's parquet. The links of
swept artifacts are revoked, and the event outbox is drained at the end.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from etl_artifacts.config import get_settings, require_bucket
from etl_artifacts.lifecycle import outbox
from etl_artifacts.observability import logger, metrics
from etl_artifacts.postgres.db import Database, get_database
from etl_artifacts.postgres.migrations import UPLOADS_TABLE
from etl_artifacts.storage_errors import storage_errors

ABANDONED_AFTER = timedelta(hours=24)
DEFAULT_BATCH = 200
# S3 DeleteObjects takes at most 1,000 keys.
_DELETE_MAX_KEYS = 1000


@dataclass(frozen=True)
class _Due:
    name: str
    where: str
    set_clause: str
    event: bool


_KINDS = (
    _Due(
        "expired",
        "status IN ('active', 'pending') AND expires_at <= :now",
        "status = 'expired', purged_at = :now",
        event=True,
    ),
    _Due(
        "abandoned",
        "status = 'pending' AND created_at <= :abandoned_before",
        "status = 'expired', expires_at = least(expires_at, :now), purged_at = :now",
        event=False,
    ),
    _Due(
        "deleted",
        "status = 'deleted' AND restorable_until <= :now AND purged_at IS NULL",
        "purged_at = :now",
        event=False,
    ),
)


@dataclass
class SweepReport:
    now: str
    dry_run: bool
    expired: int = 0
    abandoned: int = 0
    deleted: int = 0
    objects_removed: int = 0
    events_sent: int = 0
    complete: bool = True
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _is_upload_key(key: str, artifact_id: str) -> bool:
    return key.endswith(f"/uploads/{artifact_id}") and not key.endswith(".parquet")


def _remove_objects(keys: list[str]) -> set[str]:
    """Delete ``keys``; the ones S3 confirmed (a missing key counts: removal is idempotent)."""
    from etl_artifacts.clients import s3_client

    bucket = require_bucket(get_settings())
    removed: set[str] = set()
    for chunk in _chunks(keys, _DELETE_MAX_KEYS):
        with storage_errors("delete objects"):
            answer = s3_client().delete_objects(
                Bucket=bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True}
            )
        failed = {str(error.get("Key")) for error in answer.get("Errors") or []}
        removed.update(k for k in chunk if k not in failed)
    return removed


def _params(now: datetime) -> dict[str, Any]:
    return {"now": now, "abandoned_before": now - ABANDONED_AFTER}


def _count(db: Database, kind: _Due, now: datetime) -> int:
    rows, _ = db.read(f"SELECT count(*) FROM {UPLOADS_TABLE} WHERE {kind.where}", **_params(now))  # noqa: S608
    return int(rows[0][0])


def _sweep_batch(db: Database, kind: _Due, now: datetime, batch: int) -> tuple[int, int]:
    """One transaction: claim up to ``batch`` due rows, remove their objects, mark them.
    Returns (rows claimed, objects removed)."""
    with db.transaction():
        rows, _ = db.run(
            f"""SELECT id_company, artifact_id, s3_key, status, dag_id, run_date, run_id
                FROM {UPLOADS_TABLE} WHERE {kind.where}
                ORDER BY id_company, artifact_id LIMIT :batch FOR UPDATE SKIP LOCKED""",  # noqa: S608
            batch=batch,
            **_params(now),
        )
        if not rows:
            return 0, 0
        keys = [row[2] for row in rows if _is_upload_key(row[2], row[1])]
        removed = _remove_objects(keys)
        done = [row for row in rows if row[2] in removed or row[2] not in keys]
        if not done:
            return len(rows), 0
        companies = [row[0] for row in done]
        ids = [row[1] for row in done]
        db.run(
            f"""UPDATE {UPLOADS_TABLE} AS t SET {kind.set_clause}, updated_at = :now
                FROM unnest(CAST(:companies AS text[]), CAST(:ids AS text[])) AS d (id_company, artifact_id)
                WHERE t.id_company = d.id_company AND t.artifact_id = d.artifact_id""",  # noqa: S608
            companies=companies,
            ids=ids,
            now=now,
        )
        # A link outlives nothing it points at.
        db.run(
            """UPDATE etl.artifact_links AS l SET revoked_at = :now
               FROM unnest(CAST(:companies AS text[]), CAST(:ids AS text[])) AS d (id_company, artifact_id)
               WHERE l.id_company = d.id_company AND l.artifact_id = d.artifact_id
                 AND l.revoked_at IS NULL""",
            companies=companies,
            ids=ids,
            now=now,
        )
        if kind.event:
            for company, artifact_id, _key, status, dag_id, run_date, run_id in done:
                if status == "active":
                    outbox.record_event(
                        db,
                        company,
                        "artifact.expired",
                        {
                            "artifact_id": artifact_id,
                            "dag_id": str(dag_id),
                            "date": run_date.isoformat(),
                            "run_id": run_id,
                        },
                    )
        return len(rows), len(removed)


def sweep(
    now: datetime | None = None,
    *,
    dry_run: bool = False,
    batch: int = DEFAULT_BATCH,
    should_stop: Callable[[], bool] = lambda: False,
    db: Database | None = None,
) -> SweepReport:
    """One sweep at ``now`` (the clock by default). ``dry_run`` counts what is due, changes nothing."""
    started = time.monotonic()
    now = now or datetime.now(UTC)
    db = db or get_database()
    report = SweepReport(now=now.isoformat(), dry_run=dry_run)
    for kind in _KINDS:
        if dry_run:
            setattr(report, kind.name, _count(db, kind, now))
            continue
        while True:
            if should_stop():
                report.complete = False
                break
            claimed, removed = _sweep_batch(db, kind, now, batch)
            setattr(report, kind.name, getattr(report, kind.name) + claimed)
            report.objects_removed += removed
            if claimed < batch:
                break
    if not dry_run and not should_stop():
        drained = outbox.drain(db, should_stop=should_stop)
        report.events_sent = drained.sent
        report.failures.extend(drained.errors)
    report.seconds = round(time.monotonic() - started, 3)
    from aws_lambda_powertools.metrics import MetricUnit

    metrics.add_metric(name="SweptObjects", unit=MetricUnit.Count, value=report.objects_removed)
    logger.info("sweep", extra={k: v for k, v in report.as_dict().items() if k != "failures"})
    return report


@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The scheduled function: a sweep within the invocation's time (a minute spared), or with
    ``{"task": "publish-events"}`` only a drain of the event outbox."""
    remaining_ms = context.get_remaining_time_in_millis if context is not None else (lambda: 900_000)
    should_stop: Callable[[], bool] = lambda: remaining_ms() < 60_000  # noqa: E731
    if (event or {}).get("task") == "publish-events":
        drained = outbox.drain(should_stop=should_stop)
        return {"events_sent": drained.sent, "events_failed": drained.failed}
    return sweep(should_stop=should_stop).as_dict()
