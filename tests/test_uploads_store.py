"""The uploaded artifacts' table and store, on the real embedded Postgres: the migration is
idempotent and every index leads with the tenant, rows stay within their tenant, a create holds
the run check, the name check and the per-run limit, and a list page is read in index order."""

from __future__ import annotations

import datetime as dt
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from etl_artifacts.config import get_settings
from etl_artifacts.postgres.db import connect, get_database
from etl_artifacts.postgres.migrations import MIGRATIONS, UPLOADS_TABLE, migrate
from etl_artifacts.s3.layout import RunRef
from etl_artifacts.uploads.dal import InsertOutcome, ListQuery, UploadRecords, list_statement
from uploads_helpers import new_run, plan_nodes, stored

pytestmark = pytest.mark.usefixtures("base_env")


def test_migration_is_idempotent_and_every_index_leads_with_the_tenant() -> None:
    db = get_database()
    # Given the schema already migrated / When migrate runs again / Then nothing is applied
    assert migrate(db) == []
    # And re-running the statements of the uploads migration changes nothing (IF NOT EXISTS)
    [uploads] = [m for m in MIGRATIONS if m.name == "uploaded artifacts"]
    for statement in uploads.statements:
        db.run(statement)
    rows, _ = db.run(
        """SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index AS x
           JOIN pg_class AS i ON i.oid = x.indexrelid
           WHERE x.indrelid = CAST(:table AS regclass)""",
        table=UPLOADS_TABLE,
    )
    assert len(rows) >= 5
    for name, definition in rows:
        columns = definition.split("(", 1)[1]
        assert columns.startswith("id_company"), (name, definition)


def test_a_row_is_found_only_within_its_tenant() -> None:
    store = UploadRecords()
    run = new_run("store-a")
    row = stored(run, derived_from=["extract/attempt=1/data_000.parquet"], metadata={"k": [1, "two"]})
    assert store.insert(row, run_max=10).outcome is InsertOutcome.CREATED
    found = store.get("store-a", row.artifact_id)
    assert found is not None and found.record == row.record and found.s3_key == row.s3_key
    assert store.get("store-b", row.artifact_id) is None


def test_a_create_needs_the_run_of_the_tenant_in_etl_logs() -> None:
    store = UploadRecords()
    run = new_run("store-a")
    other_tenant = RunRef("store-b", run.dag_id, run.run_date, run.run_id)
    assert store.insert(stored(other_tenant), run_max=10).outcome is InsertOutcome.RUN_NOT_FOUND
    missing = RunRef("store-a", uuid.uuid4(), run.run_date, run.run_id)
    assert store.insert(stored(missing), run_max=10).outcome is InsertOutcome.RUN_NOT_FOUND


def test_a_name_is_unique_among_the_runs_artifacts_that_are_not_deleted() -> None:
    store = UploadRecords()
    run = new_run("store-a")
    first = stored(run, "same.txt")
    assert store.insert(first, run_max=10).outcome is InsertOutcome.CREATED
    assert store.insert(stored(run, "same.txt"), run_max=10).outcome is InsertOutcome.NAME_TAKEN
    # Once the first is deleted the name is free again
    assert store.set_status("store-a", first.artifact_id, "deleted", from_status="active") is not None
    assert store.insert(stored(run, "same.txt"), run_max=10).outcome is InsertOutcome.CREATED


def test_concurrent_creates_never_pass_the_per_run_limit() -> None:
    store = UploadRecords()
    run = new_run("store-a")
    rows = [stored(run, f"file-{n}.txt") for n in range(12)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = list(pool.map(lambda row: store.insert(row, run_max=5).outcome, rows))
    assert outcomes.count(InsertOutcome.CREATED) == 5
    assert outcomes.count(InsertOutcome.RUN_FULL) == 7


def test_derived_ids_must_be_the_tenants() -> None:
    store = UploadRecords()
    mine, theirs = new_run("store-a"), new_run("store-b")
    own, foreign = stored(mine, "own.txt"), stored(theirs, "foreign.txt")
    assert store.insert(own, run_max=10).outcome is InsertOutcome.CREATED
    assert store.insert(foreign, run_max=10).outcome is InsertOutcome.CREATED
    derived = ["extract/attempt=1/data_000.parquet", own.artifact_id, foreign.artifact_id]
    result = store.insert(stored(mine, "derived.txt", derived_from=derived), run_max=10)
    assert result.outcome is InsertOutcome.UNKNOWN_DERIVED_IDS and result.unknown_positions == (2,)


def test_keyset_pages_walk_the_dag_newest_first_without_gaps() -> None:
    store = UploadRecords()
    run = new_run("store-a")
    base = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)
    rows = [stored(run, f"f{n}.txt", created_at=base + dt.timedelta(seconds=n // 2)) for n in range(7)]
    for row in rows:
        assert store.insert(row, run_max=100).outcome is InsertOutcome.CREATED
    expected = [
        r.artifact_id for r in sorted(rows, key=lambda r: (r.record.created_at, r.artifact_id), reverse=True)
    ]
    seen: list[str] = []
    after = None
    while True:
        page, more = store.list_page(ListQuery(id_company="store-a", dag_id=run.dag_id, limit=3, after=after))
        seen += [item.artifact_id for item in page]
        if not more:
            break
        after = (page[-1].record.created_at, page[-1].artifact_id)
    assert seen == expected


@pytest.mark.slow
@pytest.mark.parametrize(
    "query",
    [
        {"dag": True},
        {"dag": False},
        {"dag": True, "run": True},
        {"dag": True, "after": True, "artifact_type": "report", "name_prefix": "f"},
    ],
    ids=["dag", "tenant", "run", "dag-filtered-after"],
)
def test_every_list_plan_binds_the_tenant_in_its_index_condition(query: dict[str, Any]) -> None:
    """Another tenant's 50,000 rows in the same DAG and the caller's 2,000: the plan reads one of
    the table's indexes with id_company in its Index Cond (never a scan that filters tenants)."""
    settings = get_settings().model_copy(update={"db_statement_timeout_ms": 600_000})
    db = connect(settings)
    dag = uuid.uuid4()
    db.run("BEGIN")
    try:
        db.run(
            f"""INSERT INTO {UPLOADS_TABLE} (id_company, artifact_id, dag_id, run_date, run_id, name,
                  artifact_type, content_type, size_bytes, sha256, status, created_at, created_by, s3_key)
                SELECT CASE WHEN g % 26 = 0 THEN 'explain-a' ELSE 'explain-b' END,
                       'art_' || lpad(g::text, 26, '0'), CAST(:dag AS uuid), DATE '2026-01-01' + g % 50,
                       'run-' || (g % 50), 'f' || g, 'report', 'text/plain', 3, repeat('a', 64),
                       'active', TIMESTAMPTZ '2026-01-01' + g * INTERVAL '1 second', 'x', 'k/' || g
                FROM generate_series(1, 52000) AS g""",  # noqa: S608 - constants only
            dag=str(dag),
        )
        db.run(f"ANALYZE {UPLOADS_TABLE}")
        list_query = ListQuery(
            id_company="explain-a",
            dag_id=dag if query.get("dag") else None,
            run_date=dt.date(2026, 1, 1) if query.get("run") else None,
            run_id="run-0" if query.get("run") else None,
            artifact_type=query.get("artifact_type"),
            name_prefix=query.get("name_prefix"),
            after=(dt.datetime(2026, 1, 1, 10, tzinfo=dt.UTC), "art_9") if query.get("after") else None,
        )
        statement = list_statement(list_query)
        plan = db.run("EXPLAIN (FORMAT JSON) " + statement.sql, **statement.params)[0][0]
        nodes = list(plan_nodes(plan))
        scans = [node for node in nodes if "Scan" in str(node.get("Node Type", ""))]
        assert scans and all(node["Node Type"] != "Seq Scan" for node in scans), scans
        conditions = [node["Index Cond"] for node in nodes if "Index Cond" in node]
        assert conditions and all("id_company" in condition for condition in conditions), conditions
    finally:
        db.run("ROLLBACK")
        db.close()
