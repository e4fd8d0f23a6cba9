"""Events: written to the outbox with the change, sent to EventBridge (moto's server) at least once,
none lost while EventBridge is down; off when EVENT_BUS_NAME is unset."""

from __future__ import annotations

import uuid

import pytest
from etl_artifacts.lifecycle import outbox
from etl_artifacts.lifecycle.artifact_states import delete_artifact, restore_artifact
from etl_artifacts.postgres.db import get_database
from etl_artifacts_local.services import free_port
from lifecycle_helpers import Bus, create_bus, uploaded, use_env
from uploads_helpers import new_run

pytestmark = pytest.mark.usefixtures("base_env")


def _queued(company: str) -> int:
    rows, _ = get_database().run("SELECT count(*) FROM etl.event_outbox WHERE id_company = :c", c=company)
    return int(rows[0][0])


@pytest.fixture
def bus(s3_server, monkeypatch: pytest.MonkeyPatch) -> Bus:  # type: ignore[no-untyped-def]
    created = create_bus(s3_server.endpoint, f"bus-{uuid.uuid4().hex[:8]}")
    use_env(monkeypatch, AWS_ENDPOINT_URL_EVENTBRIDGE=s3_server.endpoint, EVENT_BUS_NAME=created.name)
    return created


def test_a_change_sends_its_event_at_once_with_ids_and_tenant_only(bus: Bus) -> None:
    company = f"ev-{uuid.uuid4().hex[:6]}"
    artifact = uploaded(new_run(company))
    delete_artifact(company, artifact.artifact_id)
    [event] = bus.received()
    assert event["source"] == "etl-artifacts"
    assert event["detail-type"] == "artifact.deleted"
    detail = event["detail"]
    assert detail["id_company"] == company and detail["artifact_id"] == artifact.artifact_id
    assert set(detail) == {"event_id", "id_company", "artifact_id", "dag_id", "date", "run_id"}
    assert _queued(company) == 0


def test_an_eventbridge_outage_loses_no_event(bus: Bus, s3_server, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    company = f"ev-{uuid.uuid4().hex[:6]}"
    run = new_run(company)
    first, second = uploaded(run, "a.md"), uploaded(run, "b.md")
    # Given EventBridge unreachable (nothing listens on that port)
    use_env(monkeypatch, AWS_ENDPOINT_URL_EVENTBRIDGE=f"http://127.0.0.1:{free_port()}")
    # When changes happen, the requests still succeed and their events wait in the outbox
    delete_artifact(company, first.artifact_id)
    delete_artifact(company, second.artifact_id)
    restore_artifact(company, first.artifact_id)
    assert _queued(company) == 3
    assert outbox.drain().sent == 0
    assert _queued(company) == 3
    # Then once EventBridge is back, a drain sends every one of them, and the outbox is empty
    use_env(monkeypatch, AWS_ENDPOINT_URL_EVENTBRIDGE=s3_server.endpoint)
    drained = outbox.drain()
    assert drained.sent >= 3
    assert _queued(company) == 0
    received = [e for e in bus.received() if e["detail"]["id_company"] == company]
    assert sorted(e["detail-type"] for e in received) == [
        "artifact.deleted",
        "artifact.deleted",
        "artifact.restored",
    ]
    assert len({e["detail"]["event_id"] for e in received}) == 3


def test_events_are_off_without_a_bus(monkeypatch: pytest.MonkeyPatch) -> None:
    use_env(monkeypatch, EVENT_BUS_NAME=None)
    company = f"ev-{uuid.uuid4().hex[:6]}"
    artifact = uploaded(new_run(company))
    delete_artifact(company, artifact.artifact_id)
    assert _queued(company) == 0


def test_concurrent_drains_send_each_event_once(bus: Bus, s3_server, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import threading

    company = f"ev-{uuid.uuid4().hex[:6]}"
    run = new_run(company)
    use_env(monkeypatch, AWS_ENDPOINT_URL_EVENTBRIDGE=f"http://127.0.0.1:{free_port()}")
    artifacts = [uploaded(run, f"f{i}.md") for i in range(25)]
    for artifact in artifacts:
        delete_artifact(company, artifact.artifact_id)
    assert _queued(company) == 25
    use_env(monkeypatch, AWS_ENDPOINT_URL_EVENTBRIDGE=s3_server.endpoint)
    from etl_artifacts.postgres.db import Database

    results = []
    threads = [threading.Thread(target=lambda: results.append(outbox.drain(Database()))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert _queued(company) == 0
    received = [e for e in bus.received() if e["detail"]["id_company"] == company]
    assert len(received) == 25
    assert len({e["detail"]["event_id"] for e in received}) == 25
