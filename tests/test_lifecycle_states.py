"""Soft delete and restore at the logic level: a restore returns the state the delete left, a name
taken meanwhile refuses it, and the per-run limit still holds."""

from __future__ import annotations

import uuid

import pytest
from etl_artifacts.errors import ArtifactAlreadyExists, RunArtifactLimit
from etl_artifacts.lifecycle.artifact_states import delete_artifact, restore_artifact
from etl_artifacts.uploads.dal import UploadRecords
from lifecycle_helpers import uploaded, use_env
from uploads_helpers import new_run

pytestmark = pytest.mark.usefixtures("base_env")


def _company() -> str:
    return f"st-{uuid.uuid4().hex[:6]}"


def test_a_deleted_pending_upload_is_restored_pending() -> None:
    company = _company()
    pending = uploaded(new_run(company), "later.bin", status="pending", put=False)
    delete_artifact(company, pending.artifact_id)
    found = UploadRecords().get(company, pending.artifact_id)
    assert found is not None and found.record.status == "deleted"
    assert restore_artifact(company, pending.artifact_id).record.status == "pending"


def test_a_name_taken_meanwhile_refuses_the_restore() -> None:
    company = _company()
    run = new_run(company)
    first = uploaded(run, "report.md")
    delete_artifact(company, first.artifact_id)
    uploaded(run, "report.md")  # the name is free while the first is deleted
    with pytest.raises(ArtifactAlreadyExists):
        restore_artifact(company, first.artifact_id)


def test_a_restore_counts_against_the_per_run_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    company = _company()
    run = new_run(company)
    first = uploaded(run, "a.md")
    delete_artifact(company, first.artifact_id)
    uploaded(run, "b.md")
    use_env(monkeypatch, RUN_MAX_ARTIFACTS="1")
    with pytest.raises(RunArtifactLimit):
        restore_artifact(company, first.artifact_id)
