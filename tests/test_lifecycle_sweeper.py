"""The sweeper: removes exactly the objects whose time is up (expired, deleted past the restore
window, pending uploads older than 24 h), never the writer's parquet; idempotent; two sweeps at
once remove each object once; ``--dry-run`` changes nothing."""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from typing import Any

import pytest
from etl_artifacts.lifecycle import sweeper
from etl_artifacts.lifecycle.artifact_states import delete_artifact
from etl_artifacts.postgres.db import Database, get_database
from etl_artifacts.uploads.dal import UploadRecords
from etl_artifacts_local.cli import main
from lifecycle_helpers import days, object_exists, run_with_parquet, uploaded

pytestmark = pytest.mark.usefixtures("base_env")


def _status(company: str, artifact_id: str) -> str:
    found = UploadRecords().get(company, artifact_id)
    assert found is not None
    return found.record.status


def test_sweep_now_in_the_future_removes_exactly_the_expired_objects_and_leaves_the_parquet(
    capsys: pytest.CaptureFixture[str],
) -> None:
    company = f"sw-{uuid.uuid4().hex[:6]}"
    now = dt.datetime.now(dt.UTC)
    run, parquet = run_with_parquet(company)
    soon = uploaded(run, "soon.md", expires_at=now + days(10))
    later = uploaded(run, "later.md", expires_at=now + days(100))
    forever = uploaded(run, "primary.pdf", is_primary_deliverable=True)
    deleted = uploaded(run, "deleted.md", expires_at=now + days(300))
    abandoned = uploaded(run, "abandoned.bin", status="pending", created_at=now - days(2))
    # 24 h old at the sweep's instant too: every upload still pending then is abandoned
    fresh_pending = uploaded(run, "fresh.bin", status="pending", expires_at=now + days(90))
    delete_artifact(company, deleted.artifact_id)  # restorable for 30 days
    # When the sweep judges expiry 50 days ahead
    at = (now + days(50)).isoformat()
    assert main(["sweep", "--now", at]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["dry_run"] is False and report["complete"] is True
    # Then exactly the expired, the deleted-past-window and the abandoned objects are gone
    for gone in (soon, deleted, abandoned, fresh_pending):
        assert not object_exists(gone.s3_key), gone.record.name
    for kept in (later, forever):
        assert object_exists(kept.s3_key), kept.record.name
    assert all(object_exists(key) for key in parquet)
    assert _status(company, soon.artifact_id) == "expired"
    assert _status(company, abandoned.artifact_id) == "expired"
    assert _status(company, deleted.artifact_id) == "deleted"
    assert _status(company, later.artifact_id) == "active"
    # And a second sweep at the same instant changes nothing of these
    assert main(["sweep", "--now", at]) == 0
    capsys.readouterr()
    for kept in (later, forever):
        assert object_exists(kept.s3_key)
    assert all(object_exists(key) for key in parquet)


def test_a_dry_run_counts_and_changes_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    company = f"sw-{uuid.uuid4().hex[:6]}"
    now = dt.datetime.now(dt.UTC)
    run, _ = run_with_parquet(company)
    due = uploaded(run, "due.md", expires_at=now + days(1))
    at = (now + days(2)).isoformat()
    assert main(["sweep", "--dry-run", "--now", at]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["dry_run"] is True and report["expired"] >= 1 and report["objects_removed"] == 0
    assert object_exists(due.s3_key) and _status(company, due.artifact_id) == "active"


def test_the_links_of_swept_artifacts_are_revoked() -> None:
    from etl_artifacts.lifecycle.links import create_link
    from etl_artifacts.lifecycle.models import CreateLinkRequest

    company = f"sw-{uuid.uuid4().hex[:6]}"
    now = dt.datetime.now(dt.UTC)
    run, _ = run_with_parquet(company)
    artifact = uploaded(run, "shared.md", expires_at=now + days(3))
    link = create_link(company, "alice", artifact.artifact_id, CreateLinkRequest(), "http://local/api/v1")
    sweeper.sweep(now + days(4))
    rows, _ = get_database().run(
        "SELECT revoked_at FROM etl.artifact_links WHERE link_id = :l", l=link.link_id
    )
    assert rows[0][0] is not None


def test_two_sweeps_at_once_remove_each_object_once(monkeypatch: pytest.MonkeyPatch) -> None:
    company = f"sw-{uuid.uuid4().hex[:6]}"
    now = dt.datetime.now(dt.UTC)
    run, parquet = run_with_parquet(company)
    artifacts = [uploaded(run, f"f{i:02}.md", expires_at=now + days(1)) for i in range(40)]
    removed: list[str] = []
    lock = threading.Lock()
    original = sweeper._remove_objects

    def spy(keys: list[str]) -> set[str]:
        with lock:
            removed.extend(keys)
        return original(keys)

    monkeypatch.setattr(sweeper, "_remove_objects", spy)
    reports: list[Any] = []
    barrier = threading.Barrier(2)

    def run_sweep() -> None:
        barrier.wait()
        reports.append(sweeper.sweep(now + days(2), batch=5, db=Database()))

    threads = [threading.Thread(target=run_sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    mine = [k for k in removed if k.startswith(run.prefix())]
    assert sorted(mine) == sorted(a.s3_key for a in artifacts)  # each once, none twice
    assert all(not object_exists(a.s3_key) for a in artifacts)
    assert all(object_exists(key) for key in parquet)
    assert len(reports) == 2
