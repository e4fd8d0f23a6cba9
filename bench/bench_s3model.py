"""Scenario 10: the S3 cost model. The pages and search cases of scenarios 1 and 2,
on an S3 that charges like S3: per request, not per object size.

s3rver (npm; it serves a range from disk, in proportion to the range) holds the same data set
and index files; a proxy in front of it (``etl_artifacts_local.s3_proxy``) adds a fixed latency
to every request (``--latency-ms``, default 0 and 20: S3's first-byte latency is tens of ms) and
records each request's start and end. Ours is the API over HTTP (the local gateway in this
process, real authorizer, a keep-alive client); DuckDB 1.4 + httpfs reads the same files through
the same proxy. Both are timed round-robin, warm; the cold cases are a fresh process that
served another attempt first (ours) and a fresh DuckDB connection (DuckDB), with the attempt's
layout file (``index_layout.parquet``, fetched beside the LIST: docs/performance.md "The layout
file") and without it (every footer fetched).

Per case it reports requests, bytes and the depth: the longest chain of requests where each
starts only after the previous one ended, i.e. the round trips the latency is paid for; and at
20 ms per request, where the milliseconds above the round trips go (``bench.breakdown``).

Two data sets at full size, each on its own s3rver: the smaller set (300,000 rows, 6 chunks,
row groups of 10,000) and the bench's own set (``--rows``, default 1,000,000 rows in 10 chunks).
Sizes given on the command line replace both with that one set.

The per-tenant limiter (docs/limits.md) is measured on the same cases: its table is on moto's
server behind a second proxy with the same latency as S3, and the depth counts the requests of
both (S3 and DynamoDB); each case is timed warm with the limiter off and on, interleaved.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from etl_artifacts.parquet.layout_file import LAYOUT_FILE
from etl_artifacts_local.s3_proxy import S3Proxy, Traffic
from etl_artifacts_local.services import MotoS3Server

from bench.bench_pages import run_cold
from bench.bench_search import TRIGRAM_FILE, build_index, duck_sql
from bench.breakdown import Breakdown, breakdown_table, measure_breakdown
from bench.dataset import (
    BENCH_COMPANY,
    COMMON_WORD,
    NEEDLE,
    NO_MATCH,
    DatasetSpec,
    UploadedRun,
    ensure_dataset,
    upload_run,
)
from bench.handler_calls import (
    HandlerResponse,
    check_response,
    forget_metrics,
    lambda_context,
    load_function_handler,
    phase_data_event,
    run_path,
)
from bench.s3rver_server import S3rverServer
from bench.stack import (
    BENCH_BUCKET,
    BENCH_JWT_SECRET,
    duckdb_connect,
    env_override,
    quiet_powertools_env,
    warm_traffic,
)
from bench.timing import (
    BenchOptions,
    Stats,
    fmt_bytes,
    measure_interleaved,
    progress,
    ratio,
    row,
    target,
    traffic_summary,
)

SCENARIO = "10. S3 cost model"
LIMIT = 50
# s3rver checks that the access key exists (its built-in account), not V4 signatures.
S3RVER_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "S3RVER"}
INDEX_FILES = ("index.parquet", TRIGRAM_FILE, LAYOUT_FILE)
TARGET_LATENCY_MS = 20.0
SLOW_MS = 400  # rounds slower than this get at most 5 timed runs
COLD_FOOTERS = "cold footers, deep page"
# The same with the attempt's layout file removed (every footer fetched): the figure before it.
COLD_WITHOUT_LAYOUT = "cold footers, deep page, no layout file"


@dataclass(frozen=True)
class Goal:
    """The targets for a case, at 20 ms per request; ``key`` names it in the run's summary."""

    speedup: float
    max_depth: int | None = None
    key: str | None = None


BENCH_GOALS = {
    "page 0": Goal(1.5),
    "deep page": Goal(5.0, max_depth=2),
    "needle": Goal(15.0, max_depth=3, key="bench-needle"),
    "common word": Goal(4.0, key="bench-common"),
    "no match": Goal(20.0),
}
SMALLER_GOALS = {
    "page 0": Goal(2.0, key="smaller-page0"),
    "deep page": Goal(8.0, max_depth=2, key="smaller-deep"),
    "needle": Goal(12.0, max_depth=3, key="smaller-needle"),
    "common word": Goal(5.0, key="smaller-common"),
    "no match": Goal(20.0),
}
# A cold instance's deep page: the attempt's layout in one file beside the index, read with the LIST.
COLD_MAX_DEPTH = 2
COLD_MAX_REQUESTS = 3
BREAKDOWN_CASES = ("page 0", "deep page", "needle", "common word")


@dataclass(frozen=True)
class DataSet:
    name: str
    options: BenchOptions
    goals: dict[str, Goal]
    cold_keys: bool  # its cold deep page is the summary's


def data_sets(options: BenchOptions) -> list[DataSet]:
    """The smaller set and the bench set at full size; else the one set the options describe."""
    full = BenchOptions()
    smaller = options.with_changes(rows=300_000, chunks=6, row_group_size=10_000)
    sizes = (options.rows, options.chunks, options.row_group_size)
    if not options.smoke and sizes == (full.rows, full.chunks, full.row_group_size):
        return [
            DataSet("smaller set", smaller, SMALLER_GOALS, cold_keys=False),
            DataSet("bench set", options, BENCH_GOALS, cold_keys=True),
        ]
    if sizes == (smaller.rows, smaller.chunks, smaller.row_group_size):
        return [DataSet("smaller set", options, SMALLER_GOALS, cold_keys=False)]
    return [DataSet(f"{options.rows:,} rows", options, BENCH_GOALS, cold_keys=True)]


# The limiter's cases: pages, an indexed search, and one answered from warm caches alone.
LIMITER_CASES = ("page 0", "deep page", "needle", "no match")
LIMITER_TABLE = "bench-limits"


@dataclass
class Measured:
    ours: Stats
    duck: Stats
    ours_traffic: Traffic
    duck_traffic: Traffic


# -- the S3 server and our API -------------------------------------------------------------------
@contextmanager
def s3rver_with_run(options: BenchOptions) -> Iterator[tuple[S3rverServer, UploadedRun]]:
    """s3rver in a temporary directory, holding the data set and its index files."""
    import boto3

    spec = DatasetSpec.from_options(options)
    dataset = ensure_dataset(spec, options.data_dir)
    directory = Path(tempfile.mkdtemp(prefix="etl-bench-s3rver-"))
    progress("starting s3rver")
    server = S3rverServer(directory / "objects", (BENCH_BUCKET,))
    try:
        server.start()
        with env_override(**_environment(server.endpoint)):
            client = boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1")
            uploaded = upload_run(dataset, client, BENCH_BUCKET, "s3rver")
            _put_index(uploaded, client)
        yield server, uploaded
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


def _environment(endpoint: str) -> dict[str, str]:
    """The runner's environment (as ``shared_s3`` sets it for moto) pointed at ``endpoint``."""
    import os

    from etl_artifacts_local.services import local_aws_environment

    return {
        **local_aws_environment(endpoint, BENCH_BUCKET),
        **quiet_powertools_env(),
        "JWT_SECRET": os.environ.get("JWT_SECRET", BENCH_JWT_SECRET),
        **S3RVER_CREDENTIALS,
    }


def _put_index(uploaded: UploadedRun, client: Any) -> None:
    """The index files: built once by the project's indexer (against s3rver), then kept beside
    the data set and uploaded again (s3rver's ETags are the MD5s, so the index stays current)."""
    cache = uploaded.dataset.directory / "index"
    if all((cache / name).exists() for name in INDEX_FILES):
        progress("uploading the cached index files to s3rver")
        for name in INDEX_FILES:
            with (cache / name).open("rb") as body:
                client.put_object(Bucket=uploaded.bucket, Key=uploaded.attempt_prefix + name, Body=body)
        return
    progress("building the index on s3rver with the project's indexer")
    built, note = build_index(uploaded)
    if not built:
        raise RuntimeError(note)
    staging = cache.with_name(".index.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    for name in INDEX_FILES:
        client.download_file(uploaded.bucket, uploaded.attempt_prefix + name, str(staging / name))
    shutil.rmtree(cache, ignore_errors=True)
    staging.rename(cache)


@contextmanager
def api_over_http() -> Iterator[str]:
    """The local gateway (template routes, real authorizer, handlers in this process) on a free port."""
    from etl_artifacts_local.gateway import LocalGateway
    from werkzeug.serving import WSGIRequestHandler, make_server

    class Handler(WSGIRequestHandler):
        disable_nagle_algorithm = True  # else ~40 ms of delayed ACK per response (see the S3 proxy)

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access-log line per request
    server = make_server("127.0.0.1", 0, LocalGateway(), threaded=True, request_handler=Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def _token() -> str:
    import os

    import jwt

    now = int(time.time())
    claims = {"id_company": BENCH_COMPANY, "sub": "bench", "iat": now, "exp": now + 6 * 3600}
    return jwt.encode(claims, os.environ["JWT_SECRET"], algorithm="HS256")


class Api:
    """A keep-alive HTTP client of our data route."""

    def __init__(self, base: str, uploaded: UploadedRun) -> None:
        import requests

        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {_token()}"
        self.url = f"{base}{run_path(uploaded.run)}/phases/{uploaded.phase}/data"

    def get(self, **query: Any) -> tuple[dict[str, Any], dict[str, str]]:
        from etl_artifacts.observability import metrics

        response = self.session.get(self.url, params={"limit": LIMIT, **query}, timeout=300)
        forget_metrics(metrics)  # the handler ran in this process
        if response.status_code != 200:
            raise RuntimeError(f"our API answered {response.status_code}")
        return response.json(), {k.lower(): v for k, v in response.headers.items()}


# -- the limiter --------------------------------------------------------------------------------------
@dataclass
class LimiterMeasured:
    without: Stats
    with_limiter: Stats
    s3_only: Traffic  # the warm call without the limiter: S3 requests
    both: Traffic  # with the limiter: S3 and DynamoDB requests together
    dynamodb_requests: int


@contextmanager
def dynamodb_behind_proxy() -> Iterator[S3Proxy]:
    """moto's server (DynamoDB) behind its own latency proxy, holding the limiter's table."""
    from etl_artifacts_local.services import create_rate_limit_table

    server = MotoS3Server()
    progress("starting moto (DynamoDB) for the limiter")
    server.start()
    try:
        local = {**S3RVER_CREDENTIALS, "AWS_REGION": "us-east-1"}
        local["AWS_ENDPOINT_URL_DYNAMODB"] = server.endpoint
        with S3Proxy(server.endpoint) as proxy, env_override(**local):
            create_rate_limit_table(LIMITER_TABLE)
            yield proxy
    finally:
        server.stop()


def _limiter(on: bool) -> None:
    """The limiter on or off for the next call: settings only, so every client stays warm."""
    import os

    from etl_artifacts.config import get_settings

    if on:
        os.environ["RATE_LIMIT_TABLE"] = LIMITER_TABLE
    else:
        os.environ.pop("RATE_LIMIT_TABLE", None)
    get_settings.cache_clear()


def _measure_limiter(
    s3: S3Proxy, dynamodb: S3Proxy, cases: dict[str, tuple[Any, Any]], options: BenchOptions
) -> dict[str, LimiterMeasured]:
    measured: dict[str, LimiterMeasured] = {}
    for case in LIMITER_CASES:
        ours = cases[case][0]

        def without(ours: Callable[[], None] = ours) -> None:
            _limiter(False)
            ours()

        def limited(ours: Callable[[], None] = ours) -> None:
            _limiter(True)
            ours()

        calls = {"without": without, "with": limited}
        timed = measure_interleaved(calls, runs=options.runs, warmup=options.warmup)
        s3_only = warm_traffic(s3, without)
        limited()
        s3.clear()
        dynamodb.clear()
        limited()
        both = Traffic.of([*s3.recorded(), *dynamodb.recorded()])
        measured[case] = LimiterMeasured(
            timed["without"], timed["with"], s3_only, both, len(dynamodb.recorded())
        )
    _limiter(False)
    return measured


def _limiter_lines(results: dict[float, dict[str, LimiterMeasured]]) -> tuple[list[Any], list[Any], Any]:
    rows: list[dict[str, Any]] = []
    targets: list[dict[str, Any]] = []
    table_rows: list[list[str]] = []
    for latency, cases in results.items():
        for case, m in cases.items():
            label = f"{latency:g} ms/request, {case}"
            rows.append(
                row(SCENARIO, f"ours without the limiter, {label}", m.without, traffic_summary(m.s3_only))
            )
            rows.append(
                row(
                    SCENARIO,
                    f"ours with the limiter, {label}",
                    m.with_limiter,
                    f"{traffic_summary(m.both)} (S3 + {m.dynamodb_requests} DynamoDB)",
                )
            )
            table_rows.append(
                [
                    f"{latency:g}",
                    case,
                    f"{m.without.median_ms:.1f} ({m.without.p95_ms:.1f})",
                    f"{m.with_limiter.median_ms:.1f} ({m.with_limiter.p95_ms:.1f})",
                    str(m.s3_only.depth),
                    str(m.both.depth),
                    str(m.dynamodb_requests),
                ]
            )
            if latency == TARGET_LATENCY_MS and m.s3_only.depth:
                targets.append(
                    target(
                        SCENARIO,
                        f"{case}: the limiter adds no round trip in sequence (S3 + DynamoDB depth)",
                        f"depth {m.s3_only.depth} -> {m.both.depth}",
                        m.both.depth <= m.s3_only.depth,
                        f"p50 {m.without.median_ms:.0f} -> {m.with_limiter.median_ms:.0f} ms, "
                        f"p95 {m.without.p95_ms:.0f} -> {m.with_limiter.p95_ms:.0f} ms",
                    )
                )
    table = {
        "title": "Per-tenant limiter: warm answers without and with it (DynamoDB behind the same latency)",
        "columns": [
            "ms/request",
            "case",
            "without: p50 ms (p95)",
            "with: p50 ms (p95)",
            "depth without (S3)",
            "depth with (S3 + DynamoDB)",
            "DynamoDB requests",
        ],
        "rows": table_rows,
        "notes": [
            "The limiter counts each request with one conditional UpdateItem started beside the route's "
            "first S3 request and joined before the answer (docs/limits.md); its table is on moto's server "
            "behind a proxy adding the same latency per request as S3's. An answer that makes no S3 "
            "request at all (every read cached while warm) waits for that one DynamoDB request."
        ],
    }
    return rows, targets, table


# -- the cases ----------------------------------------------------------------------------------------
def _cases(uploaded: UploadedRun, options: BenchOptions, api: Api, con: Any) -> dict[str, tuple[Any, Any]]:
    """case -> (ours, DuckDB): zero-argument calls that check their answers."""
    spec = uploaded.dataset.spec
    deep_page = options.deep_row // LIMIT
    glob = f"read_parquet('{uploaded.data_glob}')"

    def page(number: int) -> Callable[[], None]:
        def ours() -> None:
            body, _ = api.get(page=number)
            if [r["id"] for r in body["rows"][:1]] != [number * LIMIT]:
                raise RuntimeError(f"our page {number} starts at the wrong row")

        return ours

    def duck_page(offset: int) -> Callable[[], None]:
        sql = f"SELECT * FROM {glob} LIMIT {LIMIT} OFFSET {offset}"

        def duck() -> None:
            if con.execute(sql).fetch_arrow_table().column("id")[0].as_py() != offset:
                raise RuntimeError("DuckDB's page starts at the wrong row")

        return duck

    def search(keyword: str, expected: int) -> Callable[[], None]:
        def ours() -> None:
            body, headers = api.get(keyword=keyword, page=0)
            mode = headers.get("x-search-mode")
            if body["total_rows"] != expected or mode != "trigram":
                raise RuntimeError(f"ours {keyword!r}: {body['total_rows']} rows in {mode} mode")

        return ours

    def duck_count(keyword: str, expected: int) -> Callable[[], None]:
        sql = duck_sql(uploaded, keyword, count=True)

        def duck() -> None:
            counted = con.execute(sql).fetchone()
            if counted is None or counted[0] != expected:
                raise RuntimeError(f"DuckDB {keyword!r}: {counted}")

        return duck

    cases: dict[str, tuple[Any, Any]] = {
        "page 0": (page(0), duck_page(0)),
        "deep page": (page(deep_page), duck_page(deep_page * LIMIT)),
    }
    for case, (keyword, expected) in {
        "needle": (NEEDLE, len(spec.needle_rows())),
        "common word": (COMMON_WORD, len(spec.common_rows())),
        "no match": (NO_MATCH, 0),
    }.items():
        cases[case] = (search(keyword, expected), duck_count(keyword, expected))
    return cases


def _measure_warm(
    proxy: S3Proxy, cases: dict[str, tuple[Any, Any]], options: BenchOptions
) -> dict[str, Measured]:
    measured: dict[str, Measured] = {}
    for case, (ours, duck) in cases.items():
        calls = {"ours": ours, "duck": duck}
        first = measure_interleaved(calls, runs=1, warmup=1)
        slow = max(stats.median_ms for stats in first.values()) >= SLOW_MS
        runs = min(options.runs, 5) if slow else options.runs
        timed = measure_interleaved(calls, runs=runs, warmup=0)
        measured[case] = Measured(
            timed["ours"], timed["duck"], warm_traffic(proxy, ours), warm_traffic(proxy, duck)
        )
    return measured


def _measure_cold_without_layout(proxy: S3Proxy, uploaded: UploadedRun, options: BenchOptions) -> Measured:
    """``_measure_cold`` with the attempt's layout file out of the way (put back afterwards)."""
    import boto3

    client = boto3.client("s3", endpoint_url=proxy.endpoint, region_name="us-east-1")
    key = uploaded.attempt_prefix + LAYOUT_FILE
    body = client.get_object(Bucket=uploaded.bucket, Key=key)["Body"].read()
    client.delete_object(Bucket=uploaded.bucket, Key=key)
    try:
        return _measure_cold(proxy, uploaded, options)
    finally:
        client.put_object(Bucket=uploaded.bucket, Key=key, Body=body)


def _measure_cold(proxy: S3Proxy, uploaded: UploadedRun, options: BenchOptions) -> Measured:
    """Ours: a fresh process that served the warm-up attempt first, so only the LIST, the footers
    and the page of the measured attempt are not cached. DuckDB: a fresh connection."""
    deep_page = options.deep_row // LIMIT
    query = {"page": deep_page, "limit": LIMIT}
    ours = run_cold(query, options.cold_runs, prewarm=True)["request"]
    proxy.clear()
    run_cold(query, 0, prewarm=True)
    measured_attempt = f"/attempt={uploaded.attempt}/"
    ours_traffic = Traffic.of(r for r in proxy.recorded() if measured_attempt in r.key)

    sql = f"SELECT * FROM read_parquet('{uploaded.data_glob}') LIMIT {LIMIT} OFFSET {deep_page * LIMIT}"
    samples: list[float] = []
    duck_traffic = Traffic()
    for index in range(options.cold_runs + 1):
        con = duckdb_connect(proxy.endpoint)
        proxy.clear()
        started = time.perf_counter()
        con.execute(sql).fetch_arrow_table()
        elapsed = (time.perf_counter() - started) * 1000
        duck_traffic = proxy.traffic()
        con.close()
        if index:  # the first connection is untimed, as for ours
            samples.append(elapsed)
    return Measured(ours, Stats(samples), ours_traffic, duck_traffic)


def _in_process(uploaded: UploadedRun, options: BenchOptions) -> dict[str, Callable[[], None]]:
    """case -> the Phases handler called in this process with the event the gateway would build."""
    handler = load_function_handler("PhasesFunction")
    queries: dict[str, dict[str, Any]] = {
        "page 0": {"page": 0},
        "deep page": {"page": options.deep_row // LIMIT},
        "needle": {"keyword": NEEDLE, "page": 0},
        "common word": {"keyword": COMMON_WORD, "page": 0},
    }

    def call(query: dict[str, Any]) -> Callable[[], None]:
        event = phase_data_event(uploaded.run, uploaded.phase, {"limit": LIMIT, **query})

        def invoke() -> None:
            # A fresh context per call: its remaining time counts from its creation.
            check_response(HandlerResponse.from_result(handler(event, lambda_context("PhasesFunction"))))

        return invoke

    return {case: call(query) for case, query in queries.items()}


# -- targets and the table ------------------------------------------------------------------------
def _target_lines(
    case: str, result: Measured, latency_ms: float, goal: Goal, set_name: str
) -> list[dict[str, Any]]:
    lines = []
    duck_ms, ours_ms = result.duck.median_ms, result.ours.median_ms
    speedup = ratio(duck_ms, ours_ms)
    needed = duck_ms / goal.speedup
    note = f"ours {ours_ms:.0f} ms, DuckDB {duck_ms:.0f} ms"
    if speedup is not None and speedup < goal.speedup:
        over = ours_ms - needed
        note += (
            f"; missed by {over:.0f} ms: ours must answer in <= {needed:.0f} ms "
            f"(~{over / latency_ms:.1f} round trips of {latency_ms:.0f} ms)"
            if latency_ms
            else f"; missed by {over:.0f} ms (ours must answer in <= {needed:.0f} ms)"
        )
    lines.append(
        target(
            SCENARIO,
            f"{set_name}: {case} >= {goal.speedup:g}x faster than DuckDB ({latency_ms:g} ms per request)",
            f"{speedup:.2f}x" if speedup is not None else "n/a",
            None if speedup is None else speedup >= goal.speedup,
            note,
            key=goal.key,
        )
    )
    if goal.max_depth is not None:
        depth = result.ours_traffic.depth
        depth_note = traffic_summary(result.ours_traffic)
        if depth > goal.max_depth:
            extra = depth - goal.max_depth
            depth_note = (
                f"missed by {extra} round trip{'s' if extra > 1 else ''} "
                f"(~{extra * latency_ms:.0f} ms at {latency_ms:g} ms each); " + depth_note
            )
        lines.append(
            target(
                SCENARIO,
                f"{set_name}: {case} <= {goal.max_depth} sequential round trips",
                f"depth {depth}",
                depth <= goal.max_depth,
                depth_note,
            )
        )
    return lines


def _cold_lines(result: Measured, data_set: DataSet) -> list[dict[str, Any]]:
    """A cold instance's deep page: depth and requests (the layout file's targets)."""
    traffic = result.ours_traffic
    times = f"{result.ours.median_ms:.0f} ms (DuckDB {result.duck.median_ms:.0f} ms)"
    note = f"{traffic_summary(traffic)}; {times}"
    keyed = data_set.cold_keys
    return [
        target(
            SCENARIO,
            f"{data_set.name}: {COLD_FOOTERS} <= {COLD_MAX_DEPTH} round trips",
            f"depth {traffic.depth}",
            traffic.depth <= COLD_MAX_DEPTH,
            note,
            key="cold-deep-depth" if keyed else None,
        ),
        target(
            SCENARIO,
            f"{data_set.name}: {COLD_FOOTERS} <= {COLD_MAX_REQUESTS} requests",
            f"{traffic.requests} requests",
            traffic.requests <= COLD_MAX_REQUESTS,
            note,
            key="cold-deep-requests" if keyed else None,
        ),
    ]


def _requests(traffic: Traffic) -> str:
    return f"{traffic.requests} / {fmt_bytes(traffic.bytes_in)}"


def _table(results: dict[str, dict[float, dict[str, Measured]]], sets: list[DataSet]) -> dict[str, Any]:
    columns = [
        "set",
        "ms/request",
        "case",
        "ours ms (p95)",
        "ours depth",
        "ours requests / read",
        "DuckDB ms (p95)",
        "DuckDB depth",
        "DuckDB requests / read",
        "DuckDB/ours",
        "target",
    ]
    goals = {data_set.name: data_set.goals for data_set in sets}
    rows = []
    for set_name, by_latency in results.items():
        for latency, cases in by_latency.items():
            for case, m in cases.items():
                goal = goals[set_name].get(case)
                aim = ""
                if goal is not None and latency == TARGET_LATENCY_MS:
                    aim = f">= {goal.speedup:g}x" + (f", depth <= {goal.max_depth}" if goal.max_depth else "")
                elif case == COLD_FOOTERS and latency == TARGET_LATENCY_MS:
                    aim = f"depth <= {COLD_MAX_DEPTH}, <= {COLD_MAX_REQUESTS} requests"
                speedup = ratio(m.duck.median_ms, m.ours.median_ms)
                rows.append(
                    [
                        set_name,
                        f"{latency:g}",
                        case,
                        f"{m.ours.median_ms:.1f} ({m.ours.p95_ms:.1f})",
                        str(m.ours_traffic.depth),
                        _requests(m.ours_traffic),
                        f"{m.duck.median_ms:.1f} ({m.duck.p95_ms:.1f})",
                        str(m.duck_traffic.depth),
                        _requests(m.duck_traffic),
                        "n/a" if speedup is None else f"{speedup:.2f}x",
                        aim,
                    ]
                )
    sizes = "; ".join(
        f"{d.name}: {d.options.rows:,} rows in {d.options.chunks} chunks, row groups of "
        f"{d.options.row_group_size:,}, deep page = row {d.options.deep_row:,}"
        for d in sets
    )
    return {
        "title": "S3 cost model (s3rver behind a latency proxy)",
        "columns": columns,
        "rows": rows,
        "notes": [
            f"Sizes: {sizes}. Search keywords in trigram mode, against DuckDB "
            "`count(*)` with ILIKE over every column. Depth: the longest chain of requests where each "
            "starts after the previous one ended (what the latency is paid for). s3rver checks neither "
            "V4 signatures nor If-Match; the proxy adds the latency S3 has and s3rver has not."
        ],
    }


def _measure_set(
    data_set: DataSet, with_limiter: bool
) -> tuple[dict[float, dict[str, Measured]], dict[float, dict[str, LimiterMeasured]], dict[str, Breakdown]]:
    options = data_set.options
    results: dict[float, dict[str, Measured]] = {}
    limited: dict[float, dict[str, LimiterMeasured]] = {}
    breakdown: dict[str, Breakdown] = {}
    with (
        s3rver_with_run(options) as (server, uploaded),
        S3Proxy(server.endpoint) as proxy,
        dynamodb_behind_proxy() as dynamodb,
        env_override(**{**_environment(proxy.endpoint), "AWS_ENDPOINT_URL_DYNAMODB": dynamodb.endpoint}),
        api_over_http() as base,
    ):
        api = Api(base, uploaded)
        con = duckdb_connect(proxy.endpoint)
        cases = _cases(uploaded, options, api, con)
        in_process = _in_process(uploaded, options)
        for latency in options.latencies_ms:
            proxy.latency_s = dynamodb.latency_s = latency / 1000
            progress(f"S3 model, {data_set.name}: {latency:g} ms per request, ours over HTTP and DuckDB")
            results[latency] = _measure_warm(proxy, cases, options)
            if latency == TARGET_LATENCY_MS:
                progress(f"S3 model, {data_set.name}: where the milliseconds go")
                breakdown = {
                    case: measure_breakdown(
                        proxy, cases[case][0], in_process[case], max(3, options.runs), latency
                    )
                    for case in BREAKDOWN_CASES
                }
            if with_limiter:
                progress(f"S3 model, {data_set.name}: {latency:g} ms per request, the limiter off and on")
                limited[latency] = _measure_limiter(proxy, dynamodb, cases, options)
            progress(f"S3 model, {data_set.name}: {latency:g} ms per request, cold, no layout file")
            results[latency][COLD_WITHOUT_LAYOUT] = _measure_cold_without_layout(proxy, uploaded, options)
            progress(f"S3 model, {data_set.name}: {latency:g} ms per request, cold footers")
            results[latency][COLD_FOOTERS] = _measure_cold(proxy, uploaded, options)
        con.close()
    return results, limited, breakdown


def run(smoke: bool, options: BenchOptions | None = None) -> dict[str, Any]:
    options = options or (BenchOptions.smoke_defaults() if smoke else BenchOptions())
    sets = data_sets(options)
    results: dict[str, dict[float, dict[str, Measured]]] = {}
    limited: dict[float, dict[str, LimiterMeasured]] = {}
    breakdowns: dict[str, dict[str, Breakdown]] = {}
    for data_set in sets:
        # The limiter's comparison is on the bench's own set only (it is the same on both).
        with_limiter = data_set is sets[-1]
        measured, limiter_measured, breakdown = _measure_set(data_set, with_limiter)
        results[data_set.name] = measured
        breakdowns[data_set.name] = breakdown
        if with_limiter:
            limited = limiter_measured

    rows: list[dict[str, Any]] = []
    targets: list[dict[str, Any]] = []
    for data_set in sets:
        for latency, cases_measured in results[data_set.name].items():
            for case, m in cases_measured.items():
                label = f"{data_set.name}, {latency:g} ms/request, {case}"
                rows.append(row(SCENARIO, f"ours, {label}", m.ours, traffic_summary(m.ours_traffic)))
                rows.append(row(SCENARIO, f"DuckDB, {label}", m.duck, traffic_summary(m.duck_traffic)))
        at_target = results[data_set.name].get(TARGET_LATENCY_MS)
        for case, goal in data_set.goals.items():
            if at_target is None:
                targets.append(
                    target(SCENARIO, f"{data_set.name}: {case} (20 ms/request)", "n/a", None, "not measured")
                )
            else:
                targets.extend(_target_lines(case, at_target[case], TARGET_LATENCY_MS, goal, data_set.name))
        if at_target is not None:
            targets.extend(_cold_lines(at_target[COLD_FOOTERS], data_set))
    limiter_rows, limiter_targets, limiter_table = _limiter_lines(limited)
    breakdown_tables = [
        {
            **breakdown_table(breakdown, max(3, options.runs)),
            "title": f"Where the milliseconds go above the round trips, {name} "
            f"({TARGET_LATENCY_MS:g} ms per request, warm, medians)",
        }
        for name, breakdown in breakdowns.items()
        if breakdown
    ]
    return {
        "rows": rows + limiter_rows,
        "targets": targets + limiter_targets,
        "tables": [_table(results, sets), *breakdown_tables, limiter_table],
    }
