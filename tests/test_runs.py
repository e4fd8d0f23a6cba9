"""Runs family (docs/architecture.md, docs/api.md) against a real Postgres through the local gateway
with real JWTs: every search filter alone and combined, literal keyword matching, tenant isolation,
pagination edges, every 422, the summary with an encoded run_id, index use, and a database outage."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from etl_artifacts.config import get_settings
from etl_artifacts.postgres.db import connect, get_database, reset_database
from etl_artifacts.runs.models import RunSearch
from etl_artifacts.runs.query import search_statement
from etl_artifacts_local.services import free_port
from runs_helpers import delete_dags, fresh_dag, insert_run, phase, run_ids_of, run_path, search_path

DAG = uuid.uuid4()
MANUAL = "manual__2026-03-03T10:00:00+00:00"
MARCH = {"date_from": "2026-03-01", "date_to": "2026-03-31"}
PHASE_FIELDS = {"status", "message", "total", "attempt", "s3_data_path"}


@pytest.fixture(scope="module", autouse=True)
def seeded(base_env: dict[str, str]) -> Iterator[uuid.UUID]:
    """Given one DAG of tenant ``acme`` and the same dag_id/run_id under tenant ``globex``."""
    runs = [
        (
            "2026-03-01",
            "run-a",
            {
                "event": phase("success"),
                "extract": phase(
                    "success", message="500 doneYx", total=3, data=[{"city": "Paris"}, {"n": 1}]
                ),
                "transform": phase("error", message="boom", total=None, attempt=2),
            },
        ),
        (
            "2026-03-02",
            "run-b",
            {
                "event": phase("success"),
                "extract": phase("error", message="50% done_x"),
                "transform": phase("success"),
                "load": phase("success", s3_data_path="s3://bucket/acme/load/"),
            },
        ),
        (
            "2026-03-02",
            "run-c",
            {
                "event": phase("running"),
                "extract": phase("success", data=[{"path": "C:\\temp"}]),
            },
        ),
        ("2026-03-02", "Run-B", {"event": phase("success"), "extract": phase("skipped", message=None)}),
        ("2026-03-03", MANUAL, {p: phase("skipped") for p in ("event", "extract", "transform", "load")}),
        ("2025-01-01", "run-old", {"event": phase("success")}),
    ]
    for run_date, run_id, log in runs:
        insert_run("acme", DAG, run_date, run_id, log)
    insert_run("globex", DAG, "2026-03-01", "run-a", {"event": phase("error", message="globex-secret")})
    yield DAG
    delete_dags([DAG])


def search(api, company: str = "acme", **params):
    response = api.get(search_path(DAG, **{**MARCH, **params}), company=company)
    assert response.status_code == 200, response.text
    return response.json()


def assert_validation_422(response, *loc: str) -> None:
    assert response.status_code == 422
    body = response.json()
    assert isinstance(body["detail"], list)
    assert any(tuple(item["loc"][: len(loc)]) == loc for item in body["detail"]), body


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"detail", "code", "status", "request_id"}
    assert (body["code"], body["status"]) == (code, status)


# -- search: shape, order, date range ----------------------------------------------------


def test_search_returns_runs_newest_first_in_byte_order(api):
    body = search(api)
    # Byte order: "run-c" > "run-b" > "Run-B" ('r' 0x72 > 'R' 0x52), unlike a linguistic collation.
    assert run_ids_of(body) == [MANUAL, "run-c", "run-b", "Run-B", "run-a"]
    assert (body["page"], body["limit"], body["total"], body["has_more"]) == (0, 20, 5, False)


def test_search_result_shape_has_phase_summaries_without_data(api):
    item = next(i for i in search(api)["items"] if i["run_id"] == "run-a")
    assert set(item) == {"dag_id", "date", "run_id", "created_at", "updated_at", "phases"}
    assert (item["dag_id"], item["date"]) == (str(DAG), "2026-03-01")
    assert dt.datetime.fromisoformat(item["created_at"]).tzinfo is not None
    assert item["phases"]["extract"] == {
        "status": "success",
        "message": "500 doneYx",
        "total": 3,
        "attempt": 1,
        "s3_data_path": "s3://bucket/some/path/",
    }
    assert item["phases"]["transform"]["total"] is None
    assert item["phases"]["load"] is None
    assert all(set(p) == PHASE_FIELDS for p in item["phases"].values() if p is not None)
    assert "Paris" not in json.dumps(item)  # inline data rows are searched, never returned


def test_date_range_is_inclusive(api):
    body = search(api, date_from="2026-03-02", date_to="2026-03-02")
    assert run_ids_of(body) == ["run-c", "run-b", "Run-B"]
    assert run_ids_of(search(api, date_from="2025-01-01", date_to="2025-01-01")) == ["run-old"]


def test_range_of_exactly_366_days_is_accepted(api):
    body = search(api, date_from="2025-03-01", date_to="2026-03-02")
    assert body["total"] == 4


# -- status filters ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"event_status": "running"}, ["run-c"]),
        ({"extract_status": "error"}, ["run-b"]),
        ({"transform_status": "error"}, ["run-a"]),
        ({"load_status": "success"}, ["run-b"]),  # runs without a load phase never match a status
        ({"load_status": "skipped"}, [MANUAL]),
        ({"event_status": "all", "load_status": "all"}, [MANUAL, "run-c", "run-b", "Run-B", "run-a"]),
        ({"event_status": "success", "extract_status": "skipped"}, ["Run-B"]),
        ({"extract_status": "success", "transform_status": "error"}, ["run-a"]),
        ({"transform_status": "running"}, []),
    ],
)
def test_status_filters(api, params, expected):
    body = search(api, **params)
    assert run_ids_of(body) == expected
    assert body["total"] == len(expected)


# -- keyword filters -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"extract_keyword": "PARIS"}, ["run-a"]),  # case-insensitive, found in the inline data rows
        ({"transform_keyword": "boom"}, ["run-a"]),
        ({"event_keyword": "running"}, ["run-c"]),
        ({"load_keyword": "acme/load"}, ["run-b"]),
        ({"event_keyword": "globex-secret"}, []),  # another tenant's text
        ({"extract_keyword": "50%"}, ["run-b"]),  # "%" is literal: "500 ..." does not match
        ({"extract_keyword": "done_x"}, ["run-b"]),  # "_" is literal: "doneYx" does not match
        ({"extract_keyword": "\\"}, ["run-c"]),  # a backslash is literal, not an escape of what follows
        ({"extract_keyword": "c:\\\\TEMP"}, ["run-c"]),  # JSON text escapes the stored backslash
        ({"extract_keyword": '"status": "skipped"'}, ["Run-B", MANUAL][::-1]),  # the phase's JSON text
        ({"extract_keyword": "%"}, ["run-b"]),
        ({"extract_keyword": "_"}, [MANUAL, "run-c", "run-b", "Run-B", "run-a"]),  # "s3_data_path" key
    ],
)
def test_keyword_filters_are_literal_and_case_insensitive(api, params, expected):
    body = search(api, **params)
    assert run_ids_of(body) == expected
    assert body["total"] == len(expected)


def test_keywords_of_several_phases_combine(api):
    assert run_ids_of(search(api, event_keyword="success", extract_keyword="error")) == ["run-b"]
    assert run_ids_of(search(api, event_keyword="success", extract_keyword="paris", load_keyword="x")) == []


def test_every_filter_combined(api):
    params = {
        "date_from": "2026-03-01",
        "date_to": "2026-03-02",
        "event_status": "success",
        "extract_status": "error",
        "transform_status": "success",
        "load_status": "success",
        "extract_keyword": "50% DONE",
        "load_keyword": "acme",
        "run_ids": "run-b, run-c",
        "limit": 1,
    }
    body = search(api, **params)
    assert run_ids_of(body) == ["run-b"]
    assert (body["total"], body["has_more"]) == (1, False)
    assert run_ids_of(search(api, **{**params, "run_ids": "run-c"})) == []


# -- run_ids allowlist ---------------------------------------------------------------------


def test_run_ids_allowlist_trims_and_ignores_empty_entries(api):
    assert run_ids_of(search(api, run_ids=f" run-a ,,{MANUAL}, ,run-zzz,")) == [MANUAL, "run-a"]


def test_run_ids_allowlist_is_exact_and_case_sensitive(api):
    assert run_ids_of(search(api, run_ids="run-b")) == ["run-b"]
    assert run_ids_of(search(api, run_ids="RUN-B,run")) == []


def test_empty_run_ids_is_no_filter(api):
    assert search(api, run_ids=" , ,")["total"] == 5


def test_hundred_run_ids_are_accepted(api):
    ids = ["run-a", *[f"other-{i}" for i in range(99)]]
    assert run_ids_of(search(api, run_ids=",".join(ids))) == ["run-a"]


@pytest.mark.parametrize(
    "run_ids", [",".join(f"r{i}" for i in range(101)), "run-a,bad/id", "run a", "x" * 251]
)
def test_invalid_run_ids_are_422(api, run_ids):
    assert_validation_422(api.get(search_path(DAG, **MARCH, run_ids=run_ids)), "query", "run_ids")


# -- pagination ----------------------------------------------------------------------------


def test_pages_walk_the_whole_result(api):
    first = search(api, limit=2)
    second = search(api, limit=2, page=1)
    last = search(api, limit=2, page=2)
    assert (run_ids_of(first), first["has_more"], first["total"]) == ([MANUAL, "run-c"], True, 5)
    assert (run_ids_of(second), second["has_more"]) == (["run-b", "Run-B"], True)
    assert (run_ids_of(last), last["has_more"], last["total"]) == (["run-a"], False, 5)


def test_exactly_full_last_page_has_no_more(api):
    body = search(api, limit=5)
    assert (len(body["items"]), body["has_more"]) == (5, False)
    body = search(api, limit=4)
    assert (len(body["items"]), body["has_more"]) == (4, True)


@pytest.mark.parametrize("page", [3, 1000, 10**12, 10**30])
def test_page_past_the_end_is_empty_with_the_right_total(api, page):
    body = search(api, limit=2, page=page)
    assert (body["items"], body["page"], body["total"], body["has_more"]) == ([], page, 5, False)


def test_empty_result(api):
    body = search(api, date_from="2020-01-01", date_to="2020-01-31")
    assert (body["items"], body["total"], body["has_more"]) == ([], 0, False)


def test_limit_bounds(api):
    assert search(api, limit=1)["limit"] == 1
    assert search(api, limit=100)["limit"] == 100


# -- 422s ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"date_to": "2026-03-31"}, ("query", "date_from")),
        ({"date_from": "2026-03-01"}, ("query", "date_to")),
        ({"date_from": "2026-13-01", "date_to": "2026-03-31"}, ("query", "date_from")),
        ({"date_from": "yesterday", "date_to": "2026-03-31"}, ("query", "date_from")),
        ({**MARCH, "page": "-1"}, ("query", "page")),
        ({**MARCH, "page": "abc"}, ("query", "page")),
        ({**MARCH, "limit": "0"}, ("query", "limit")),
        ({**MARCH, "limit": "101"}, ("query", "limit")),
        ({**MARCH, "event_status": "done"}, ("query", "event_status")),
        ({**MARCH, "extract_status": "SUCCESS"}, ("query", "extract_status")),
        ({**MARCH, "transform_status": ""}, ("query", "transform_status")),
        ({**MARCH, "load_status": "failed"}, ("query", "load_status")),
        ({**MARCH, "event_keyword": ""}, ("query", "event_keyword")),
        ({**MARCH, "extract_keyword": "x" * 201}, ("query", "extract_keyword")),
        ({**MARCH, "transform_keyword": "a\x00b"}, ("query", "transform_keyword")),
        ({**MARCH, "load_keyword": ""}, ("query", "load_keyword")),
    ],
)
def test_invalid_parameters_are_422_in_validation_shape(api, params, loc):
    assert_validation_422(api.get(search_path(DAG, **params)), *loc)


def test_keyword_of_200_chars_is_accepted(api):
    assert search(api, load_keyword="x" * 200)["total"] == 0


def test_invalid_dag_id_is_422(api):
    response = api.get(search_path("not-a-uuid", **MARCH))  # type: ignore[arg-type]
    assert_validation_422(response, "path", "dag_id")


@pytest.mark.parametrize(
    ("date_from", "date_to"),
    [("2026-03-02", "2026-03-01"), ("2025-03-01", "2026-03-03"), ("2020-01-01", "2026-01-01")],
)
def test_bad_date_range_is_422_invalid_date_range(api, date_from, date_to):
    response = api.get(search_path(DAG, date_from=date_from, date_to=date_to))
    assert_error(response, 422, "invalid_date_range")


def test_authorization_runs_before_validation(api):
    response = api.get(search_path("not-a-uuid", date_from="bad"), company=None)  # type: ignore[arg-type]
    assert_error(response, 401, "unauthorized")


# -- tenant isolation ----------------------------------------------------------------------


def test_tenants_see_only_their_own_runs(api):
    body = search(api, company="globex")
    assert run_ids_of(body) == ["run-a"]
    assert body["items"][0]["phases"]["event"]["message"] == "globex-secret"
    assert body["items"][0]["phases"]["extract"] is None
    assert search(api, company="nobody")["total"] == 0
    assert search(api, company="globex", extract_keyword="paris")["total"] == 0


def test_summary_is_per_tenant(api):
    acme = api.get(run_path(DAG, "2026-03-01", "run-a"), company="acme").json()
    globex = api.get(run_path(DAG, "2026-03-01", "run-a"), company="globex").json()
    assert acme["phases"]["transform"]["message"] == "boom"
    assert globex["phases"]["event"]["message"] == "globex-secret"
    assert globex["phases"]["transform"] is None
    assert_error(api.get(run_path(DAG, "2026-03-02", "run-b"), company="globex"), 404, "run_not_found")


# -- summary -------------------------------------------------------------------------------


def test_summary_with_plus_and_colon_sent_percent_encoded(api):
    path = run_path(DAG, "2026-03-03", MANUAL)
    assert "%2B" in path and "%3A" in path
    response = api.get(path)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["run_id"], body["date"], body["dag_id"]) == (MANUAL, "2026-03-03", str(DAG))
    assert {name: p["status"] for name, p in body["phases"].items()} == dict.fromkeys(
        ("event", "extract", "transform", "load"), "skipped"
    )


def test_summary_equals_the_search_item(api):
    item = next(i for i in search(api)["items"] if i["run_id"] == "run-b")
    assert api.get(run_path(DAG, "2026-03-02", "run-b")).json() == item


@pytest.mark.parametrize(
    ("run_date", "run_id"),
    [
        ("2026-03-01", "run-b"),
        ("2026-03-02", "run-zzz"),
        ("2026-03-02", "RUN-B"),
        ("2026-03-03", "manual__x"),
    ],
)
def test_summary_of_missing_run_is_404(api, run_date, run_id):
    assert_error(api.get(run_path(DAG, run_date, run_id)), 404, "run_not_found")


def test_summary_of_unknown_dag_is_404(api):
    assert_error(api.get(run_path(uuid.uuid4(), "2026-03-01", "run-a")), 404, "run_not_found")


@pytest.mark.parametrize(
    ("dag_id", "run_date", "run_id", "loc"),
    [
        ("nope", "2026-03-01", "run-a", ("path", "dag_id")),
        (str(DAG), "2026-02-30", "run-a", ("path", "date")),
        (str(DAG), "03-01-2026", "run-a", ("path", "date")),
        (str(DAG), "2026-03-01", "run%20a", ("path", "run_id")),
        (str(DAG), "2026-03-01", "run%2Fa", ("path", "run_id")),
        (str(DAG), "2026-03-01", "x" * 251, ("path", "run_id")),
    ],
)
def test_summary_invalid_path_is_422(api, dag_id, run_date, run_id, loc):
    response = api.get(f"/api/v1/dags/{dag_id}/runs/{run_date}/{run_id}")
    assert_validation_422(response, *loc)


# -- robustness ----------------------------------------------------------------------------


def test_malformed_phase_values_are_read_as_absent_or_null(api):
    with fresh_dag() as dag:
        insert_run(
            "acme",
            dag,
            "2026-03-05",
            "odd",
            {
                "event": "not an object",
                "extract": {"status": 7, "total": "12", "attempt": True, "message": None, "data": [1, 2]},
            },
        )
        response = api.get(search_path(dag, **MARCH))
        assert response.status_code == 200, response.text
        phases = response.json()["items"][0]["phases"]
        assert phases["event"] is None
        assert phases["extract"] == dict.fromkeys(PHASE_FIELDS)


def test_database_down_is_502_without_driver_text(api, monkeypatch):
    # Given a DATABASE_URL pointing at a closed port,
    monkeypatch.setenv("DATABASE_URL", f"postgresql://etl:hunter2@127.0.0.1:{free_port()}/etl")
    get_settings.cache_clear()
    reset_database()
    try:
        # when searching or reading a summary,
        responses = [api.get(search_path(DAG, **MARCH)), api.get(run_path(DAG, "2026-03-01", "run-a"))]
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
        reset_database()
    # then both answer 502 database_error with a fixed text only.
    for response in responses:
        assert_error(response, 502, "database_error")
        text = response.text.lower()
        assert not any(
            word in text for word in ("hunter2", "127.0.0.1", "refused", "select", "pg8000", "errno")
        )
    assert search(api)["total"] == 5  # and the next request reconnects to the real database


# -- index use -----------------------------------------------------------------------------


SECONDARY_INDEXES_SQL = """SELECT i.relname, pg_get_indexdef(i.oid)
FROM pg_index AS x JOIN pg_class AS i ON i.oid = x.indexrelid
WHERE x.indrelid = CAST('etl.logs' AS regclass)
  AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c WHERE c.conindid = x.indexrelid)"""


def _plan_nodes(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _plan_nodes(value)
    elif isinstance(node, list):
        for value in node:
            yield from _plan_nodes(value)


@pytest.mark.slow
def test_keyword_plan_binds_the_tenant_in_every_index_condition(base_env):
    """Given two tenants running the same DAG id, B holding the word in 20,000 runs and A in one of
    its 2,000 (seeded inside a transaction rolled back afterwards), the plan of A's keyword search
    reads the tenant-keyed GIN index with A's keys, and every index condition binds id_company: no
    lookup gathers B's matches to filter them afterwards (the issue-12 timing oracle)."""
    # Its own connection: seeding outlasts the API's statement and socket timeouts.
    settings = get_settings().model_copy(update={"db_statement_timeout_ms": 600_000})
    db = connect(settings)
    dag = uuid.UUID(hashlib.md5(b"explain-dag", usedforsecurity=False).hexdigest())
    word = "ZzNeEdLe"
    db.run("BEGIN")
    try:
        # Bulk load as a migration would meet it: the indexes are built over the rows afterwards.
        indexes = db.run(SECONDARY_INDEXES_SQL)
        for name, _ in indexes:
            db.run(f'DROP INDEX etl."{name}"')
        db.run(
            """INSERT INTO etl.logs (id_company, dag_id, run_date, run_id, log)
               SELECT CASE WHEN g % 11 = 0 THEN 'explain-a' ELSE 'explain-b' END, CAST(:dag AS uuid),
                      DATE '2026-01-01' + g % 365, 'run-' || g,
                      jsonb_build_object('extract', jsonb_build_object(
                        'status', 'success', 'total', g,
                        'message', CASE WHEN g % 11 <> 0 OR g = 4400 THEN 'found the ' || :word || ' here'
                                        ELSE 'extracted ' || g || ' rows' END,
                        'data', jsonb_build_array(jsonb_build_object('id', g, 'token', md5(g::text)))))
               FROM generate_series(1, 22000) AS g""",
            dag=str(dag),
            word=word.lower(),
        )
        for _, definition in indexes:
            db.run(definition)
        db.run("ANALYZE etl.logs")
        search = RunSearch(
            id_company="explain-a",
            dag_id=dag,
            date_from=dt.date(2026, 1, 1),
            date_to=dt.date(2026, 12, 31),
            keywords={"extract": word},
        )
        statement = search_statement(search)
        plan = db.run("EXPLAIN (FORMAT JSON) " + statement.sql, **statement.params)[0][0]
        nodes = list(_plan_nodes(plan))
        assert "logs_extract_tenant_keys_idx" in {node.get("Index Name") for node in nodes}
        conditions = [node["Index Cond"] for node in nodes if "Index Cond" in node]
        assert conditions and all("id_company" in condition for condition in conditions), conditions
        # The keys looked up are A's own: the same keyword under tenant B has other keys.
        [keys_condition] = [c for c in conditions if "keyword_keys" in c]
        looked_up = re.search(r"'(\{[^}]*\})'::bigint\[\]", keys_condition)
        own, other = (
            db.run(
                "SELECT CAST(etl.keyword_keys(:c, CAST(:d AS uuid), :w) AS text)",
                c=company,
                d=str(dag),
                w=word,
            )[0][0]
            for company in ("explain-a", "explain-b")
        )
        assert looked_up is not None and looked_up.group(1) == own != other
        rows = db.run(statement.sql, **statement.params)
        assert [(row[0], row[3]) for row in rows] == [(1, "run-4400")]
    finally:
        db.run("ROLLBACK")
        db.close()
    rows, _ = get_database().run("SELECT count(*) FROM etl.logs WHERE id_company LIKE 'explain-%'")
    assert rows == [[0]]


def test_every_search_index_leads_with_the_tenant(base_env):
    """Migration 5 replaced the (dag_id, trigram) indexes; running the migrations again changes nothing."""
    from etl_artifacts.postgres.migrations import migrate

    rows, _ = get_database().run(SECONDARY_INDEXES_SQL)
    definitions = {str(name): str(definition) for name, definition in rows}
    assert not [name for name in definitions if "trgm" in name]
    for phase_name in ("event", "extract", "transform", "load"):
        assert (
            f"gin (etl.keyword_keys(id_company, dag_id, ((log -> '{phase_name}'::text))::text))"
            in definitions[f"logs_{phase_name}_tenant_keys_idx"]
        )
    # Every other index is a btree whose first column is the tenant.
    for name, definition in definitions.items():
        if "keyword_keys" not in definition:
            assert "USING btree (id_company," in definition, name
    assert migrate(get_database()) == []


def test_planner_knows_a_dag_belongs_to_one_tenant(base_env):
    # Migration 3: without these statistics the planner underestimates a DAG's rows and skips
    # the trigram index at scale (bench/bench_runs.py shows the difference).
    rows, _ = get_database().run(
        "SELECT stxkind FROM pg_statistic_ext WHERE stxname = 'logs_company_dag_stats'"
    )
    assert rows and set(rows[0][0]) >= {"d", "f"}
