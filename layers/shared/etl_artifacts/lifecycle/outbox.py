"""Events through an outbox: written in the transaction of the change that caused them, sent to
EventBridge afterwards, at least once.

``record_event`` adds a row inside the caller's transaction (nothing when ``EVENT_BUS_NAME`` is
unset: events are off). After the commit the request tries to send its own rows at once
(``publish_soon``: one short attempt, never an error to the caller); whatever is left -- EventBridge
down, throttled, the function timed out -- is sent by ``drain`` (the sweeper and the publisher
schedule). Rows are claimed with ``FOR UPDATE SKIP LOCKED``, so drains running at once never send
the same row together, and deleted once EventBridge has accepted them. Each event carries a stable
``event_id`` so a consumer can drop a repeat.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from etl_artifacts.clients import events_client
from etl_artifacts.config import get_settings
from etl_artifacts.observability import logger
from etl_artifacts.postgres.db import Database, get_database

EVENT_SOURCE = "etl-artifacts"
DETAIL_TYPES = frozenset(
    {
        "artifact.created",
        "artifact.deleted",
        "artifact.restored",
        "artifact.expired",
        "run.sealed",
        "link.created",
    }
)
# PutEvents takes at most 10 entries per call.
BATCH = 10


@dataclass
class DrainResult:
    sent: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def events_enabled() -> bool:
    return bool(get_settings().event_bus_name)


def record_event(db: Database, id_company: str, detail_type: str, detail: dict[str, Any]) -> int | None:
    """Queue one event in the caller's open transaction; its outbox id. The detail holds ids and the
    tenant only: never a URL or a token."""
    if detail_type not in DETAIL_TYPES:
        raise ValueError(f"unknown event type {detail_type}")
    if not events_enabled():
        return None
    event_id = uuid.uuid4()
    body = {"event_id": str(event_id), "id_company": id_company, **detail}
    rows, _ = db.run(
        """INSERT INTO etl.event_outbox (event_id, id_company, detail_type, detail)
           VALUES (:event_id, :company, :detail_type, :detail) RETURNING id""",
        event_id=event_id,
        company=id_company,
        detail_type=detail_type,
        detail=json.dumps(body, separators=(",", ":"), sort_keys=True),
    )
    return int(rows[0][0])


def _entry(bus: str, detail_type: str, detail: str, created_at: datetime) -> dict[str, Any]:
    return {
        "Source": EVENT_SOURCE,
        "DetailType": detail_type,
        "Detail": detail,
        "EventBusName": bus,
        "Time": created_at,
    }


def _send_batch(db: Database, ids: list[int] | None, result: DrainResult) -> bool:
    """Claim and send one batch; False when there was nothing to send or the send failed."""
    from botocore.exceptions import BotoCoreError, ClientError

    bus = get_settings().event_bus_name
    assert bus is not None
    with db.transaction():
        rows, _ = db.run(
            """SELECT id, detail_type, detail, created_at FROM etl.event_outbox
               WHERE (CAST(:ids AS bigint[]) IS NULL OR id = ANY(CAST(:ids AS bigint[])))
               ORDER BY id LIMIT :batch FOR UPDATE SKIP LOCKED""",
            ids=ids,
            batch=BATCH,
        )
        if not rows:
            return False
        try:
            answer = events_client().put_events(Entries=[_entry(bus, row[1], row[2], row[3]) for row in rows])
        except (BotoCoreError, ClientError) as exc:
            # Left in the outbox (counted, so a stuck row is visible); the next drain sends it.
            db.run(
                "UPDATE etl.event_outbox SET attempts = attempts + 1 WHERE id = ANY(CAST(:ids AS bigint[]))",
                ids=[row[0] for row in rows],
            )
            result.failed += len(rows)
            result.errors.append(type(exc).__name__)
            logger.warning(
                "events not sent yet", extra={"error_type": type(exc).__name__, "events": len(rows)}
            )
            return False
        entries = answer.get("Entries") or []
        sent = [row[0] for row, entry in zip(rows, entries, strict=False) if not entry.get("ErrorCode")]
        unsent = [row[0] for row in rows if row[0] not in set(sent)]
        if sent:
            db.run("DELETE FROM etl.event_outbox WHERE id = ANY(CAST(:ids AS bigint[]))", ids=sent)
        if unsent:
            db.run(
                "UPDATE etl.event_outbox SET attempts = attempts + 1 WHERE id = ANY(CAST(:ids AS bigint[]))",
                ids=unsent,
            )
        result.sent += len(sent)
        result.failed += len(unsent)
        return not unsent


def drain(
    db: Database | None = None,
    *,
    ids: list[int] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> DrainResult:
    """Send queued events (only ``ids`` when given) in batches until none is left, a send fails,
    or ``should_stop()`` says time is up."""
    result = DrainResult()
    if not events_enabled():
        return result
    db = db or get_database()
    while not should_stop() and _send_batch(db, ids, result):
        pass
    return result


def publish_soon(ids: list[int | None]) -> None:
    """After the commit: try once to send this request's events. Never fails the request."""
    own = [i for i in ids if i is not None]
    if not own:
        return
    started = time.monotonic()
    try:
        # Bounded: at most a few batches of this request's own rows, a few seconds in all.
        drain(ids=own, should_stop=lambda: time.monotonic() - started > 3.0)
    except Exception as exc:
        logger.warning("events left in the outbox", extra={"error_type": type(exc).__name__})
