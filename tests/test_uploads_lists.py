"""The uploaded artifacts' lists, DAG-wide and tenant-wide: every filter, newest first, keyset pages
through an opaque cursor bound to the tenant and the filters, and never another tenant's rows."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest
from etl_artifacts.s3.layout import RunRef
from etl_artifacts.uploads.dal import InsertOutcome, StoredArtifact, UploadRecords
from runs_helpers import insert_run, phase
from test_uploads import Uploads
from uploads_helpers import stored


@pytest.fixture
def tenant() -> str:
    """A tenant of its own per test: the tenant-wide list sees only this test's rows."""
    return f"lister-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def uploads(gateway_url: str, make_token: Callable[..., str], tenant: str) -> Uploads:
    return Uploads(gateway_url, make_token, company=tenant)


def _insert(row: StoredArtifact) -> StoredArtifact:
    assert UploadRecords().insert(row, run_max=1000).outcome is InsertOutcome.CREATED
    return row


@pytest.fixture
def catalogue(tenant: str) -> dict[str, Any]:
    """Two DAGs of the tenant (runs on three dates), and a run of another tenant in one of them."""
    dag_a, dag_b = uuid.uuid4(), uuid.uuid4()
    runs = {
        "a1": RunRef(tenant, dag_a, dt.date(2026, 11, 1), "run-1"),
        "a2": RunRef(tenant, dag_a, dt.date(2026, 11, 10), "run-2"),
        "b1": RunRef(tenant, dag_b, dt.date(2026, 11, 20), "run-1"),
        # Another tenant, same DAG id, date and run id
        "x1": RunRef("intruder", dag_a, dt.date(2026, 11, 1), "run-1"),
    }
    for run in runs.values():
        insert_run(run.id_company, run.dag_id, run.run_date, run.run_id, {"extract": phase()})
    base = dt.datetime(2026, 11, 21, 9, tzinfo=dt.UTC)
    rows = {
        "a1-report": _insert(stored(runs["a1"], "report_100%.md", created_at=base, phase="extract")),
        "a1-shot": _insert(
            stored(
                runs["a1"],
                "screen.png",
                created_at=base + dt.timedelta(minutes=1),
                artifact_type="screenshot",
            )
        ),
        "a2-pdf": _insert(
            stored(
                runs["a2"],
                "report_x.pdf",
                created_at=base + dt.timedelta(minutes=2),
                is_primary_deliverable=True,
            )
        ),
        "a2-pending": _insert(
            stored(runs["a2"], "late.csv", status="pending", created_at=base + dt.timedelta(minutes=3))
        ),
        "b1-csv": _insert(
            stored(runs["b1"], "export.csv", created_at=base + dt.timedelta(minutes=4), phase="load")
        ),
        "x1-secret": _insert(stored(runs["x1"], "report_100%.md", created_at=base + dt.timedelta(minutes=5))),
    }
    return {"dag_a": dag_a, "dag_b": dag_b, "rows": rows}


def _ids(answer: Any) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [item["artifact_id"] for item in answer.json()["items"]]


def test_each_filter_selects_exactly_its_artifacts_newest_first(
    uploads: Uploads, catalogue: dict[str, Any]
) -> None:
    rows = catalogue["rows"]
    dag_a = f"/api/v1/dags/{catalogue['dag_a']}/artifacts"

    def ids(*names: str) -> list[str]:
        return [rows[name].artifact_id for name in names]

    assert _ids(uploads.get(dag_a)) == ids("a2-pdf", "a1-shot", "a1-report")
    assert _ids(uploads.get("/api/v1/artifacts")) == ids("b1-csv", "a2-pdf", "a1-shot", "a1-report")
    cases: list[tuple[str, dict[str, str], list[str]]] = [
        (dag_a, {"date_from": "2026-11-05"}, ids("a2-pdf")),
        (dag_a, {"date_to": "2026-11-05"}, ids("a1-shot", "a1-report")),
        (dag_a, {"date": "2026-11-01", "run_id": "run-1"}, ids("a1-shot", "a1-report")),
        (dag_a, {"phase": "extract"}, ids("a1-report")),
        (dag_a, {"artifact_type": "screenshot"}, ids("a1-shot")),
        (dag_a, {"status": "pending"}, ids("a2-pending")),
        (dag_a, {"is_primary_deliverable": "true"}, ids("a2-pdf")),
        (dag_a, {"is_primary_deliverable": "false"}, ids("a1-shot", "a1-report")),
        # A literal prefix: % and _ are characters, not wildcards
        (dag_a, {"name_prefix": "report_1"}, ids("a1-report")),
        (dag_a, {"name_prefix": "report_"}, ids("a2-pdf", "a1-report")),
        (dag_a, {"name_prefix": "report%"}, []),
        ("/api/v1/artifacts", {"dag_id": str(catalogue["dag_b"])}, ids("b1-csv")),
        ("/api/v1/artifacts", {"date": "2026-11-20", "run_id": "run-1"}, ids("b1-csv")),
        ("/api/v1/artifacts", {"run_id": "run-1"}, ids("b1-csv", "a1-shot", "a1-report")),
    ]
    for path, query, expected in cases:
        assert _ids(uploads.get(f"{path}?{urlencode(query)}")) == expected, query


def test_another_tenants_rows_never_appear(uploads: Uploads, catalogue: dict[str, Any]) -> None:
    secret = catalogue["rows"]["x1-secret"].artifact_id
    for path in (f"/api/v1/dags/{catalogue['dag_a']}/artifacts", "/api/v1/artifacts"):
        for query in ("", "?name_prefix=report", "?status=active&limit=200"):
            assert secret not in _ids(uploads.get(path + query))


def test_pages_follow_the_cursor_without_gaps_or_repeats(uploads: Uploads, catalogue: dict[str, Any]) -> None:
    path = f"/api/v1/dags/{catalogue['dag_a']}/artifacts"
    everything = _ids(uploads.get(path))
    seen: list[str] = []
    query = "?limit=1"
    while True:
        answer = uploads.get(path + query)
        seen += _ids(answer)
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            break
        query = f"?limit=1&{urlencode({'cursor': cursor})}"
    assert seen == everything and len(seen) == 3


def test_a_cursor_works_only_for_its_tenant_and_filters(
    uploads: Uploads, catalogue: dict[str, Any], gateway_url: str, make_token: Callable[..., str]
) -> None:
    path = f"/api/v1/dags/{catalogue['dag_a']}/artifacts"
    cursor = uploads.get(path + "?limit=1").json()["next_cursor"]
    assert cursor
    other_tenant = Uploads(gateway_url, make_token, company="intruder")
    attempts = [
        (other_tenant, path, {"cursor": cursor}),
        (uploads, path, {"cursor": cursor, "phase": "extract"}),
        (uploads, f"/api/v1/dags/{catalogue['dag_b']}/artifacts", {"cursor": cursor}),
        (uploads, "/api/v1/artifacts", {"cursor": cursor}),
        (uploads, path, {"cursor": cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")}),
        (uploads, path, {"cursor": "not-a-cursor"}),
    ]
    for client, target, query in attempts:
        answer = client.get(f"{target}?{urlencode(query)}")
        assert answer.status_code == 422 and answer.json()["code"] == "invalid_cursor", query
    # The same filters with another limit continue where it stopped
    assert uploads.get(f"{path}?{urlencode({'cursor': cursor, 'limit': 5})}").status_code == 200


def test_include_urls_adds_a_url_to_active_items_only(uploads: Uploads, catalogue: dict[str, Any]) -> None:
    path = f"/api/v1/dags/{catalogue['dag_a']}/artifacts"
    plain = uploads.get(path).json()["items"]
    assert all("url" not in item and "upload" not in item for item in plain)
    with_urls = uploads.get(path + "?include_urls=true").json()["items"]
    assert with_urls and all(item["url"].startswith("http") for item in with_urls)
    pending = uploads.get(path + "?include_urls=true&status=pending").json()["items"]
    assert pending and all("url" not in item for item in pending)


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("date_from=2026-11-10&date_to=2026-11-01", "invalid_date_range"),
        ("date_from=2025-01-01&date_to=2026-11-01", "invalid_date_range"),
        ("run_id=..", None),
        ("date=2026-11-01&run_id=bad%2Frun", None),
        ("limit=0", None),
        ("limit=201", None),
        ("limit=1_0", None),
        ("status=gone", None),
        ("phase=event", None),
        ("is_primary_deliverable=1", None),
        ("include_urls=yes", None),
        ("artifact_type=Bad", None),
        ("name_prefix=", None),
        ("date_from=2026-1-1", None),
    ],
)
def test_bad_list_parameters_are_422(
    uploads: Uploads, catalogue: dict[str, Any], query: str, code: str | None
) -> None:
    answer = uploads.get(f"/api/v1/dags/{catalogue['dag_a']}/artifacts?{query}")
    assert answer.status_code == 422, answer.text
    if code is None:
        assert isinstance(answer.json()["detail"], list)
    else:
        assert answer.json()["code"] == code
