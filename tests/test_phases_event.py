"""The event route: queue_data.parquet and event.parquet read concurrently; 404 only when both miss."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pyarrow as pa
import pytest
from etl_artifacts.phases import event as event_module
from phases_helpers import new_run, put_bytes, put_table, run_path

UTC = dt.UTC


def queue_table() -> pa.Table:
    return pa.table(
        {
            "message_id": ["m-1"],
            "received_at": pa.array(
                [dt.datetime(2026, 11, 20, 10, 0, 0, 5, tzinfo=UTC)], pa.timestamp("us", tz="UTC")
            ),
            "body": ['{"dag": "x", "files": 3}'],
        }
    )


def event_table() -> pa.Table:
    return pa.table(
        {"field": ["a", "b"], "value": pa.array([1.5, None]), "when": pa.array([dt.date(2026, 11, 20)] * 2)}
    )


def test_both_files(api):
    run = new_run()
    put_table(run, "event/queue_data.parquet", queue_table())
    put_table(run, "event/event.parquet", event_table())
    response = api.get(run_path(run, "/event"))
    assert response.status_code == 200
    assert response.json() == {
        "queue_data": [
            {
                "message_id": "m-1",
                "received_at": "2026-11-20T10:00:00.000005+00:00",
                "body": '{"dag": "x", "files": 3}',
            }
        ],
        "event": [
            {"field": "a", "value": 1.5, "when": "2026-11-20"},
            {"field": "b", "value": None, "when": "2026-11-20"},
        ],
    }


@pytest.mark.parametrize("present", ["queue_data", "event"])
def test_one_file_only(api, present):
    run = new_run()
    table = queue_table() if present == "queue_data" else event_table()
    put_table(run, f"event/{present}.parquet", table)
    body = api.get(run_path(run, "/event")).json()
    assert body[present] and len(body[present]) == table.num_rows
    missing = "event" if present == "queue_data" else "queue_data"
    assert body[missing] is None


def test_neither_file_is_404(api):
    run = new_run()
    response = api.get(run_path(run, "/event"))
    assert response.status_code == 404
    assert response.json()["code"] == "artifact_not_found"


def test_other_tenant_gets_404(api):
    run = new_run()
    put_table(run, "event/event.parquet", event_table())
    assert api.get(run_path(run, "/event"), company="globex").status_code == 404


def test_corrupt_event_file_is_502(api):
    run = new_run()
    put_table(run, "event/queue_data.parquet", queue_table())
    put_bytes(run, "event/event.parquet", b"PAR1 broken")
    response = api.get(run_path(run, "/event"))
    assert response.status_code == 502
    assert response.json()["code"] == "storage_error"


def test_files_are_read_concurrently(api, monkeypatch):
    """Each read waits until the other has started: a sequential reader would time out."""
    run = new_run()
    put_table(run, "event/queue_data.parquet", queue_table())
    put_table(run, "event/event.parquet", event_table())
    barrier = threading.Barrier(2, timeout=30)  # generous: starting a thread never takes this long
    real = event_module._read
    threads: set[str] = set()

    def meeting(filesystem: Any, key: str):
        threads.add(threading.current_thread().name)
        barrier.wait()
        return real(filesystem, key)

    monkeypatch.setattr(event_module, "_read", meeting)
    response = api.get(run_path(run, "/event"))
    assert response.status_code == 200, response.text
    assert response.json()["event"] and response.json()["queue_data"]
    assert len(threads) == 2
