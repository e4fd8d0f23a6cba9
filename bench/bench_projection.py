"""Scenario 9: column projection, a 2-column page against the full page.

A page of ``limit=1000`` rows at the deep row of scenario 1 through the real Phases handler,
warm (footers cached): every column (``SELECT *``) against ``columns=id,amount``; DuckDB doing
the same two queries over the same files. A separate untimed pass through the counting proxy
reports the S3 bytes each case reads: a projection fetches only those columns' chunks.

Run alone: ``python -m bench --only projection``.
"""

from __future__ import annotations

from typing import Any

from etl_artifacts_local.s3_proxy import S3Proxy, Traffic

from bench.dataset import UploadedRun, uploaded_run
from bench.handler_calls import (
    HandlerResponse,
    check_response,
    lambda_context,
    load_function_handler,
    phase_data_event,
)
from bench.stack import duckdb_connect, s3_endpoint, shared_s3, warm_traffic
from bench.timing import (
    BenchOptions,
    fmt_bytes,
    fmt_ratio,
    measure_interleaved,
    progress,
    ratio,
    row,
    target,
    traffic_summary,
)

SCENARIO = "9. Column projection"
FUNCTION = "PhasesFunction"
LIMIT = 1000
COLUMNS = ("id", "amount")


def _ours(uploaded: UploadedRun, page: int, columns: tuple[str, ...] | None) -> Any:
    handler = load_function_handler(FUNCTION)
    query: dict[str, Any] = {"page": page, "limit": LIMIT}
    if columns:
        query["columns"] = ",".join(columns)

    def call() -> HandlerResponse:
        event = phase_data_event(uploaded.run, uploaded.phase, query)
        return check_response(HandlerResponse.from_result(handler(event, lambda_context(FUNCTION))))

    return call


def _duck(con: Any, uploaded: UploadedRun, offset: int, columns: tuple[str, ...] | None) -> Any:
    select = ", ".join(columns) if columns else "*"
    sql = f"SELECT {select} FROM read_parquet('{uploaded.data_glob}') LIMIT {LIMIT} OFFSET {offset}"

    def call() -> Any:
        return con.execute(sql).fetch_arrow_table()

    return call


def _check(response: HandlerResponse, columns: tuple[str, ...] | None, first_id: int) -> None:
    body = response.body if isinstance(response.body, dict) else {}
    rows = body.get("rows") or []
    names = [c.get("name") for c in body.get("columns") or []]
    if columns and names != list(columns):
        raise RuntimeError(f"projection not applied: columns {names}")
    if len(rows) != LIMIT or rows[0].get("id") != first_id:
        raise RuntimeError("wrong page content")


def _traffic(uploaded: UploadedRun, page: int, options: BenchOptions) -> dict[str, Traffic]:
    """S3 requests and bytes of one warm request per case (after a warm-up)."""
    counted: dict[str, Traffic] = {}
    with S3Proxy(shared_s3().endpoint) as proxy:
        with s3_endpoint(proxy.endpoint):
            for label, columns in (("full", None), ("2 columns", COLUMNS)):
                counted[f"ours {label}"] = warm_traffic(proxy, _ours(uploaded, page, columns))
        con = duckdb_connect(proxy.endpoint)
        for label, columns in (("full", None), ("2 columns", COLUMNS)):
            counted[f"duckdb {label}"] = warm_traffic(proxy, _duck(con, uploaded, page * LIMIT, columns))
        con.close()
    return counted


def run(smoke: bool, options: BenchOptions | None = None) -> dict[str, Any]:
    options = options or (BenchOptions.smoke_defaults() if smoke else BenchOptions())
    uploaded = uploaded_run(options)
    page = options.deep_row // LIMIT
    first_id = page * LIMIT

    progress("projection: checking both pages")
    calls: dict[str, Any] = {}
    for label, columns in (("full", None), ("2 columns", COLUMNS)):
        ours = _ours(uploaded, page, columns)
        _check(ours(), columns, first_id)
        calls[f"ours {label}"] = ours
    con = duckdb_connect(shared_s3().endpoint)
    for label, columns in (("full", None), ("2 columns", COLUMNS)):
        calls[f"duckdb {label}"] = _duck(con, uploaded, first_id, columns)

    progress("projection: our handler and DuckDB, warm, interleaved")
    timed = measure_interleaved(calls, runs=options.runs, warmup=options.warmup)
    con.close()
    progress("projection: counting S3 bytes (untimed pass)")
    traffic = _traffic(uploaded, page, options)

    rows: list[dict[str, Any]] = []
    what = f"{LIMIT} rows at row {first_id:,}"
    for label in ("full", "2 columns"):
        for side in ("ours", "duckdb"):
            case = f"{'ours' if side == 'ours' else 'DuckDB'} warm, {label} ({what})"
            counted = traffic[f"{side} {label}"]
            rows.append(row(SCENARIO, case, timed[f"{side} {label}"], traffic_summary(counted)))

    full, projected = traffic["ours full"], traffic["ours 2 columns"]
    byte_ratio = ratio(projected.bytes_in, full.bytes_in)
    time_ratio = ratio(timed["ours 2 columns"].median_ms, timed["ours full"].median_ms)
    targets = [
        target(
            SCENARIO,
            f"columns={','.join(COLUMNS)} reads fewer S3 bytes than the full page",
            f"{fmt_bytes(projected.bytes_in)} vs {fmt_bytes(full.bytes_in)} ({fmt_ratio(byte_ratio)})",
            None if byte_ratio is None else byte_ratio < 1.0,
            f"time {fmt_ratio(time_ratio)} of the full page's",
        )
    ]
    return {"rows": rows, "targets": targets}
