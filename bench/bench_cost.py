"""Scenario 13: what a million requests cost, per route, and the MemorySize each function needs.

Each function runs in a fresh process, as a SnapStart copy does (import and priming first), and
serves the bench's request mix for it several times: its peak memory (``VmHWM``) and the
median duration of each route. GB-seconds per request are that duration (rounded up to the
millisecond, as Lambda bills) times the function's ``MemorySize`` in template.yaml. The dollars
add Lambda arm64 (duration and request), the HTTP API request, the S3 requests a warm request
makes (scenario 10's counts), the rate limiter's DynamoDB write and the authorizer's invocation
(uncached: an upper bound; API Gateway caches its answer per token for ``AuthorizerCacheSeconds``).
Runs is the Postgres-backed function: it searches ``COST_RUNS`` runs of one DAG in an embedded
Postgres (seeded once with ``generate_series``), and no S3 request. Every other function of
template.yaml is listed with the reason it has no per-request row (``NOT_PER_REQUEST``).

Durations here are on this shared 2-core machine, not on Lambda's CPU share: they are estimates
to be checked with AWS Lambda Power Tuning in an account (docs/performance.md).

Run alone: ``python -m bench --only cost``. The child: ``python -m bench.bench_cost --child NAME``.
"""

from __future__ import annotations

import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from bench.timing import REPO_ROOT, BenchOptions, progress, row, target

SCENARIO = "13. Cost"

# Public on-demand prices, us-east-1, as published on the AWS pricing pages on 2026-12-04.
PRICES_DATE = "2026-12-04"
LAMBDA_ARM_GB_S = 0.0000133334  # per GB-second, arm64, first 7.5 billion GB-s a month
LAMBDA_REQUEST = 0.20 / 1e6
HTTP_API_REQUEST = 1.00 / 1e6  # first 300 million a month
S3_GET = 0.0004 / 1000  # GET, HEAD (S3 Standard)
S3_LIST = 0.005 / 1000  # LIST, PUT, COPY, POST
DYNAMODB_WRITE = 0.625 / 1e6  # on-demand write request unit
SNAPSTART_CACHE_GB_S = 0.0000015046  # per GB-second a SnapStart version is cached (3 hours minimum)
SNAPSTART_RESTORE_GB = 0.0001397998  # per GB restored

REPEATS = 5
HEADROOM = 1.5  # MemorySize >= peak memory x this
MIN_MEMORY_MB = 256
# Floors set by CPU rather than memory (Lambda's CPU share grows with MemorySize): decoding parquet
# and matching keywords is CPU-bound (1769 MB is one full vCPU); the authorizer's RS256/ES256 check
# is on the path of every request its cache misses.
CPU_BOUND = {"PhasesFunction": 1769, "AuthorizerFunction": 512}


@dataclass(frozen=True)
class Route:
    function: str
    name: str
    s3_gets: int  # warm, scenario 10 (the S3 cost model)
    s3_lists: int
    authorized: bool = True


ROUTES = (
    Route("PhasesFunction", "phase data page 0", 1, 0),
    Route("PhasesFunction", "phase data, deep page", 1, 0),
    Route("PhasesFunction", "keyword search, needle", 14, 0),
    Route("PhasesFunction", "keyword search, common word", 7, 0),
    Route("ArtifactsFunction", "list artifacts", 0, 1),
    Route("RunsFunction", "runs search (date range)", 0, 0),
    Route("RunsFunction", "runs search, keyword", 0, 0),
    Route("RunsFunction", "one run", 0, 0),
    Route("MetaFunction", "health", 0, 0, authorized=False),
    Route("MetaFunction", "openapi.json", 0, 0, authorized=False),
    Route("AuthorizerFunction", "authorizer (one token check)", 0, 0, authorized=False),
)
FUNCTIONS = ("PhasesFunction", "ArtifactsFunction", "RunsFunction", "MetaFunction", "AuthorizerFunction")
# The functions of template.yaml without a row above, and why.
NOT_PER_REQUEST = {
    "UploadsFunction": "tenants' own artifacts (create, complete, read, download, list; Postgres + S3): "
    "the write side, timed by scenario 11; not in the bench's read mix",
    "LifecycleFunction": "delete/restore/extend-ttl of uploaded artifacts (Postgres only): rare writes, "
    "timed by scenario 12",
    "LinksFunction": "the public share-link redirect (one counted use, a 302 to a presigned GET): rare "
    "next to reads, no authorizer",
    "SealFunction": "sealing a run: once per run (a KMS Sign and one S3 PUT), not per request",
    "SweeperFunction": "scheduled clean-up and the event outbox drain: per schedule, not per request",
    "IndexerFunction": "per indexed attempt, not per request (SQS): scenario 5 measures its time and "
    "memory; at ~150,000 rows/s a 1,000,000-row attempt is ~7 s at 1769 MB, ~12 GB-s, ~$0.16 per "
    "1,000 attempts",
}
# The Runs function's data: one DAG of the bench tenant, seeded once (server-side generate_series).
COST_RUNS = 2_000
COST_DAG_ID = "0c05e7a1-5b1e-4d2a-9f3c-2b7e6d5c4a3f"
COST_RUNS_SQL = """
INSERT INTO etl.logs (id_company, dag_id, run_date, run_id, log)
SELECT CAST(:company AS text), CAST(:dag AS uuid), DATE '2026-01-01' + (g % 300),
       'scheduled__' || g,
       jsonb_build_object(
         'extract', jsonb_build_object(
           'status', CASE WHEN g % 50 = 7 THEN 'error' ELSE 'success' END,
           'message', CASE WHEN g % 50 = 7 THEN 'upstream timeout' ELSE 'extracted ' || g || ' rows' END,
           'total', g, 'attempt', 1, 's3_data_path', NULL),
         'load', jsonb_build_object('status', 'success', 'message', NULL, 'total', g, 'attempt', 1,
                                    's3_data_path', NULL))
FROM generate_series(1, CAST(:runs AS int)) AS g
ON CONFLICT DO NOTHING
"""


# -- the child: one function, its mix, its peak memory -------------------------------------------
def _events(function: str, options: BenchOptions) -> dict[str, dict[str, Any]]:
    from bench.dataset import COMMON_WORD, NEEDLE, bench_run_ref
    from bench.handler_calls import API_PREFIX, http_event, phase_data_event, run_path

    run = bench_run_ref()
    if function == "PhasesFunction":
        deep = options.deep_row // 50
        return {
            "phase data page 0": phase_data_event(run, "extract", {"page": 0, "limit": 50}),
            "phase data, deep page": phase_data_event(run, "extract", {"page": deep, "limit": 50}),
            "keyword search, needle": phase_data_event(run, "extract", {"keyword": NEEDLE, "limit": 50}),
            "keyword search, common word": phase_data_event(
                run, "extract", {"keyword": COMMON_WORD, "limit": 50}
            ),
        }
    if function == "ArtifactsFunction":
        route = f"{API_PREFIX}/dags/{{dag_id}}/runs/{{date}}/{{run_id}}/artifacts"
        params = {"dag_id": str(run.dag_id), "date": run.run_date.isoformat(), "run_id": run.run_id}
        return {"list artifacts": http_event(route, f"{run_path(run)}/artifacts", params, None)}
    if function == "RunsFunction":
        route = f"{API_PREFIX}/dags/{{dag_id}}/runs"
        path = f"{API_PREFIX}/dags/{COST_DAG_ID}/runs"
        window = {"date_from": "2026-01-01", "date_to": "2026-12-31", "limit": "20"}
        one = f"{route}/{{date}}/{{run_id}}"
        return {
            "runs search (date range)": http_event(route, path, {"dag_id": COST_DAG_ID}, window),
            "runs search, keyword": http_event(
                route, path, {"dag_id": COST_DAG_ID}, {**window, "extract_keyword": "timeout"}
            ),
            "one run": http_event(
                one,
                f"{path}/2026-01-08/scheduled__7",
                {"dag_id": COST_DAG_ID, "date": "2026-01-08", "run_id": "scheduled__7"},
                None,
            ),
        }
    if function == "MetaFunction":
        return {
            "health": http_event(f"{API_PREFIX}/health", f"{API_PREFIX}/health", {}, None),
            "openapi.json": http_event(f"{API_PREFIX}/openapi.json", f"{API_PREFIX}/openapi.json", {}, None),
        }
    import jwt

    token = jwt.encode(
        {"id_company": "bench-co", "sub": "bench", "exp": int(time.time()) + 3600},
        os.environ["JWT_SECRET"],
        algorithm="HS256",
    )
    return {
        "authorizer (one token check)": {
            "version": "2.0",
            "type": "REQUEST",
            "routeKey": f"GET {API_PREFIX}/whoami",
            "headers": {"authorization": f"Bearer {token}"},
            "identitySource": [f"Bearer {token}"],
        }
    }


def child(function: str, options: BenchOptions) -> dict[str, Any]:
    from etl_artifacts.snapstart import run_init

    from bench.handler_calls import lambda_context, load_function_handler

    handler = load_function_handler(function)
    run_init()
    events = _events(function, options)
    durations: dict[str, list[float]] = {name: [] for name in events}
    for _ in range(REPEATS + 1):
        for name, event in events.items():
            started = time.perf_counter()
            result = handler(event, lambda_context(function))
            durations[name].append((time.perf_counter() - started) * 1000)
            status = result.get("statusCode", 200) if isinstance(result, dict) else 500
            if status != 200 and result.get("isAuthorized") is not True:
                raise RuntimeError(f"{function} {name} answered {status}")
    peak_mb = peak_memory_mb()
    # The first round is the first request after init: the warm median is what is billed most.
    return {
        "peak_mb": peak_mb,
        "median_ms": {name: statistics.median(values[1:]) for name, values in durations.items()},
    }


def peak_memory_mb() -> float:
    """This process's peak resident memory. ``VmHWM`` rather than ``ru_maxrss``: Linux carries
    ``ru_maxrss`` over ``execve``, so a child started by a big parent would report the parent's."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _run_child(function: str, options: BenchOptions) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.bench_cost", "--child", function, json.dumps(_options(options))]
    done = subprocess.run(
        command, cwd=REPO_ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=900, check=False
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        last = (done.stderr.strip().splitlines() or [""])[-1].replace(str(REPO_ROOT), ".")
        raise RuntimeError(f"cost child {function} failed (exit {done.returncode}): {last[:200]}")
    return json.loads(lines[-1])  # type: ignore[no-any-return]


def _options(options: BenchOptions) -> dict[str, Any]:
    return {"rows": options.rows, "chunks": options.chunks, "row_group_size": options.row_group_size}


# -- pricing ---------------------------------------------------------------------------------------
def memory_sizes() -> dict[str, int]:
    from etl_artifacts_local.template import load_template

    template = load_template()
    default = int(template.raw["Globals"]["Function"]["MemorySize"])
    resources = template.raw["Resources"]
    return {
        name: int(resources[name]["Properties"].get("MemorySize", default)) for name in template.functions
    }


def recommended_mb(function: str, peak_mb: float) -> int:
    """Peak memory with headroom, in 64 MB steps, at least 256 MB; never below a CPU floor."""
    by_memory = max(MIN_MEMORY_MB, math.ceil(peak_mb * HEADROOM / 64) * 64)
    return max(by_memory, CPU_BOUND.get(function, 0))


def per_million(route: Route, duration_ms: float, memory_mb: int, authorizer: float) -> dict[str, float]:
    gb_s = math.ceil(duration_ms) / 1000 * memory_mb / 1024
    lambda_cost = (gb_s * LAMBDA_ARM_GB_S + LAMBDA_REQUEST) * 1e6
    api = HTTP_API_REQUEST * 1e6 if route.function != "AuthorizerFunction" else 0.0
    s3 = (route.s3_gets * S3_GET + route.s3_lists * S3_LIST) * 1e6
    limiter = DYNAMODB_WRITE * 1e6 if route.authorized else 0.0
    auth = authorizer if route.authorized else 0.0
    return {
        "gb_s": gb_s,
        "lambda": lambda_cost,
        "api": api,
        "s3": s3,
        "dynamodb": limiter,
        "authorizer": auth,
        "total": lambda_cost + api + s3 + limiter + auth,
    }


def seed_runs() -> None:
    """The Runs function's DAG in the shared embedded Postgres (idempotent), on a connection
    without the API's statement timeout (the keyword indexes take every insert)."""
    from bench.bench_runs import admin_connection
    from bench.dataset import BENCH_COMPANY
    from bench.stack import shared_postgres

    shared_postgres()
    with admin_connection() as conn:
        conn.run(COST_RUNS_SQL, company=BENCH_COMPANY, dag=COST_DAG_ID, runs=COST_RUNS)


def run(smoke: bool, options: BenchOptions | None = None) -> dict[str, Any]:
    from bench.bench_s3model import _environment, s3rver_with_run
    from bench.stack import env_override

    options = options or (BenchOptions.smoke_defaults() if smoke else BenchOptions())
    seed_runs()
    sizes = memory_sizes()
    measured: dict[str, dict[str, Any]] = {}
    # On s3rver (scenario 10's S3, with the index files), not moto: moto reads a whole object
    # for every range GET, which at full size pushes a keyword search past its deadline.
    with s3rver_with_run(options) as (server, _), env_override(**_environment(server.endpoint)):
        for function in FUNCTIONS:
            progress(f"cost: {function}, {REPEATS} rounds of its mix in a fresh process")
            measured[function] = _run_child(function, options)

    auth_route = ROUTES[-1]
    auth_ms = measured["AuthorizerFunction"]["median_ms"][auth_route.name]
    authorizer = per_million(auth_route, auth_ms, sizes["AuthorizerFunction"], 0.0)["lambda"]
    rows: list[dict[str, Any]] = []
    cost_rows: list[list[str]] = []
    for route in ROUTES:
        duration = measured[route.function]["median_ms"][route.name]
        cost = per_million(route, duration, sizes[route.function], authorizer)
        cost_rows.append(
            [
                route.name,
                route.function.removesuffix("Function"),
                f"{sizes[route.function]}",
                f"{duration:.1f}",
                f"{cost['gb_s']:.5f}",
                f"{cost['lambda']:.2f}",
                f"{cost['api']:.2f}",
                f"{cost['s3']:.2f}",
                f"{cost['dynamodb']:.2f}",
                f"{cost['authorizer']:.2f}",
                f"**{cost['total']:.2f}**",
            ]
        )
    memory_rows: list[list[str]] = []
    targets: list[dict[str, Any]] = []
    for function in FUNCTIONS:
        peak = float(measured[function]["peak_mb"])
        advice = recommended_mb(function, peak)
        size = sizes[function]
        restore = size / 1024 * SNAPSTART_RESTORE_GB * 1e6
        cache_month = size / 1024 * SNAPSTART_CACHE_GB_S * 30 * 86400
        memory_rows.append(
            [
                function.removesuffix("Function"),
                f"{peak:.0f}",
                f"{size}",
                f"{advice}",
                f"{cache_month:.2f}",
                f"{restore:.0f}",
            ]
        )
        rows.append(
            row(
                SCENARIO,
                f"{function.removesuffix('Function')} peak memory",
                None,
                f"MemorySize {size} MB",
                value=round(peak),
                unit="MB",
            )
        )
        targets.append(
            target(
                SCENARIO,
                f"{function.removesuffix('Function')} MemorySize fits its peak memory x {HEADROOM}",
                f"{size} MB for a {peak:.0f} MB peak (recommended {advice} MB)",
                size >= peak * HEADROOM,
                "" if size >= peak * HEADROOM else "raise MemorySize in template.yaml",
            )
        )
    tables = [
        {
            "title": "Dollars per million requests, per route (us-east-1, arm64)",
            "columns": [
                "route",
                "function",
                "MemorySize MB",
                "median ms",
                "GB-s / request",
                "Lambda $",
                "HTTP API $",
                "S3 $",
                "DynamoDB $",
                "authorizer $",
                "total $",
            ],
            "rows": cost_rows,
            "notes": [
                f"Prices of {PRICES_DATE}: Lambda arm64 ${LAMBDA_ARM_GB_S} per GB-s and $0.20 per million "
                "requests; HTTP API $1.00 per million; S3 GET $0.0004 and LIST $0.005 per 1,000; DynamoDB "
                "on-demand $0.625 per million writes (the rate limiter's one write per authorized request). "
                "The authorizer column assumes no cache hit (an upper bound). Durations are this machine's "
                "medians (shared, noisy), not Lambda's.",
            ],
        },
        {
            "title": "Peak memory and MemorySize per function (SnapStart charges at that size)",
            "columns": [
                "function",
                "peak MB",
                "MemorySize MB",
                "recommended MB",
                "SnapStart cache $ / version-month",
                "SnapStart restore $ / million restores",
            ],
            "rows": memory_rows,
            "notes": [
                f"Recommended: peak x {HEADROOM} in 64 MB steps, at least {MIN_MEMORY_MB} MB; Phases keeps "
                "1769 MB (one vCPU) for decoding, the authorizer 512 MB (its key check is on every uncached "
                "request's path). SnapStart: cache $0.0000015046 per GB-s, restore "
                "$0.0001397998 per GB.",
            ],
        },
    ]
    tables.append(
        {
            "title": "Functions of template.yaml without a per-request row",
            "columns": ["function", "MemorySize MB", "why"],
            "rows": [
                [name.removesuffix("Function"), str(sizes.get(name, "-")), why]
                for name, why in NOT_PER_REQUEST.items()
            ],
            "notes": [],
        }
    )
    uncovered = sorted(set(sizes) - set(FUNCTIONS) - set(NOT_PER_REQUEST))
    targets.append(
        target(
            SCENARIO,
            "every function of template.yaml has a cost row or a stated reason",
            f"{len(ROUTES)} routes of {len(FUNCTIONS)} functions priced, {len(NOT_PER_REQUEST)} with a "
            f"reason, {len(uncovered)} uncovered",
            not uncovered,
            ", ".join(uncovered) or "Runs (Postgres-backed) included",
            key="cost-table",
        )
    )
    return {"rows": rows, "targets": targets, "tables": tables}


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        given = json.loads(sys.argv[3])
        child_options = BenchOptions().with_changes(**given)
        print(json.dumps(child(sys.argv[2], child_options)), flush=True)
    else:
        print("usage: python -m bench.bench_cost --child FUNCTION OPTIONS_JSON", file=sys.stderr)
        sys.exit(2)
