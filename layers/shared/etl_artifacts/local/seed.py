"""Demo data that follows CONTRACT §2 (S3 layout, parquet schemas) and §3 (``etl.logs``) exactly.

Several tenants run the same DAGs (multi-tenant Airflow: one DAG id serves every company) over a
range of dates. Each run follows a *scenario* that decides each phase's attempts and statuses,
so the demo covers success, error, running and skipped for every phase, a retried phase (attempt 1
error, attempt 2 success), a manual run without a trigger message, runs still in progress (data
chunks but no ``metadata.parquet`` yet) and a phase with no output rows.

What one phase attempt writes, in this order (``metadata.parquet`` LAST: it marks the attempt
complete, and is what the indexer is triggered by):

- ``data_NNN.parquet``: the phase's output, ``chunk_rows`` rows per chunk, ``row_group_rows`` rows
  per row group, mixed column types (int64, float64 with NaN, strings with nulls,
  timestamp[us, UTC], date32, time64, duration, decimal128, bool, binary, list, struct, map);
- ``logs_NNN.parquet`` (DEBUG..CRITICAL) and ``errors_NNN.parquet`` (RFC 7807 columns; only when
  the attempt had errors);
- ``metadata.parquet``: one row; absent while the attempt is running. ``error_log_count`` counts
  the rows of the attempt's errors chunks.

Everything is derived from ``--seed`` (no clock, no global random state): seeding twice gives the
same objects and rows. A seeded run's prefix is emptied first, so a re-seed never leaves stale
chunks behind.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import math
import random
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from etl_artifacts.clients import s3_client
from etl_artifacts.config import get_settings, require_bucket
from etl_artifacts.db import Database, get_database
from etl_artifacts.layout import EVENT_KINDS, PHASES, RunRef, attempt_dir, chunk_file, single_file
from etl_artifacts.local.contract_parquet import (
    ERRORS_SCHEMA,
    LOGS_SCHEMA,
    METADATA_SCHEMA,
    QUEUE_DATA_SCHEMA,
    UTC_TS,
    parquet_bytes,
)

# The run every walkthrough points at (README, `etl-artifacts dev`, events/*.json): the first
# company's "retried" run on the first DAG, on the last seeded date.
DEMO_COMPANY = "acme"
DEMO_DAG_ID = uuid.UUID("3f2b8c1e-5d4a-4c7b-9e1f-0a2b3c4d5e6f")
DEFAULT_END_DATE = dt.date(2026, 11, 20)
DEMO_RUN_TIME = dt.time(10, 15, 30, 123456)

COMPANY_NAMES = ("acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka")
PREVIEW_ROWS = 20  # rows copied into etl.logs `data` (CONTRACT §3 allows at most 100)
LOG_CHUNK_ROWS = 50
PARQUET_CONTENT_TYPE = "application/vnd.apache.parquet"

EVENT_SCHEMA = pa.schema(
    [
        ("field_set", pa.string()),
        ("source_system", pa.string()),
        ("object_key", pa.string()),
        ("object_size", pa.int64()),
        ("triggered_by", pa.string()),
        ("logical_date", UTC_TS),
        ("params", pa.struct([("full_refresh", pa.bool_()), ("batch_size", pa.int32())])),
    ]
)

# --- the ETL's own output: one schema per phase, mixed types on purpose -----------------------
ADDRESS = pa.struct(
    [("street", pa.string()), ("city", pa.string()), ("zip", pa.string()), ("country", pa.string())]
)
LINE_ITEM = pa.struct([("sku", pa.string()), ("qty", pa.int32()), ("price", pa.float64())])
DATA_SCHEMAS: dict[str, pa.Schema] = {
    "extract": pa.schema(
        [
            ("order_id", pa.int64()),
            ("customer", pa.string()),
            ("amount", pa.float64()),
            ("currency", pa.string()),
            ("ordered_at", UTC_TS),
            ("ship_date", pa.date32()),
            ("unit_price", pa.decimal128(12, 2)),
            ("quantity", pa.int32()),
            ("is_priority", pa.bool_()),
            ("payload", pa.binary()),
            ("tags", pa.list_(pa.string())),
            ("address", ADDRESS),
        ]
    ),
    "transform": pa.schema(
        [
            ("order_id", pa.int64()),
            ("customer", pa.string()),
            ("segment", pa.string()),
            ("amount_usd", pa.decimal128(14, 2)),
            ("fx_rate", pa.float64()),
            ("ordered_at", UTC_TS),
            ("order_day", pa.date32()),
            ("delivery_window", pa.time64("us")),
            ("processing_time", pa.duration("ms")),
            ("is_priority", pa.bool_()),
            ("checksum", pa.binary()),
            ("tags", pa.list_(pa.string())),
            ("line_items", pa.list_(LINE_ITEM)),
        ]
    ),
    "load": pa.schema(
        [
            ("order_id", pa.int64()),
            ("target_table", pa.string()),
            ("action", pa.string()),
            ("loaded_at", UTC_TS),
            ("batch_id", pa.int32()),
            ("amount_usd", pa.decimal128(14, 2)),
            ("row_hash", pa.binary()),
            ("attributes", pa.map_(pa.string(), pa.string())),
            ("warnings", pa.list_(pa.string())),
        ]
    ),
}

CUSTOMERS = (
    "Ada Lovelace",
    "Grace Hopper",
    "Alan Turing",
    "Katherine Johnson",
    "Édouard Lucas",
    "Zoë Müller",
    "Søren Kierkegaard",
    "Łukasz Nowak",
    "Ngozi Okafor",
    "Mei Ling",
    "José Álvarez",
    "Émilie du Châtelet",
    "Hedy Lamarr",
    "Srinivasa Ramanujan",
    "Margaret Hamilton",
    "Björk Guðmundsdóttir",
    "Chidi Anagonye",
    "Anaïs Nin",
    "Dmitri Mendeleev",
    "Frida Kahlo",
    "100% Pure Ltd",
    "under_score Inc",
    "Back\\slash LLC",
)
CITIES = (
    ("Lisboa", "PT"),
    ("São Paulo", "BR"),
    ("Kraków", "PL"),
    ("München", "DE"),
    ("Zürich", "CH"),
    ("Lagos", "NG"),
    ("Osaka", "JP"),
    ("Montréal", "CA"),
    ("Austin", "US"),
    ("Reykjavík", "IS"),
)
STREETS = ("Rua Augusta", "Main Street", "Hauptstraße", "Rue de Rivoli", "Calle Mayor", "Ulica Długa")
CURRENCIES = {"EUR": 1.08, "USD": 1.0, "GBP": 1.27, "JPY": 0.0067, "BRL": 0.2, "CHF": 1.13}
TAGS = ("gift", "express", "b2b", "promo", "fragile", "returning", "vip", "backorder")
SEGMENTS = ("enterprise", "smb", "consumer", "public-sector")
SKUS = ("SKU-1001", "SKU-1002", "SKU-2040", "SKU-3300", "SKU-7777", "SKU-9001")
LOGGERS = {
    "extract": "etl.extract.orders_api",
    "transform": "etl.transform.orders",
    "load": "etl.load.warehouse",
}


# --- scenarios --------------------------------------------------------------------------------
@dataclass(frozen=True)
class PhaseScript:
    """How one phase goes: the status of each attempt (the last one is the phase's status)."""

    attempts: tuple[str, ...] = ()
    skipped: bool = False
    empty: bool = False  # the last attempt produced no rows

    @property
    def status(self) -> str:
        return "skipped" if self.skipped else self.attempts[-1]


@dataclass(frozen=True)
class Scenario:
    name: str
    event: str  # success | error | running | skipped
    phases: dict[str, PhaseScript]  # phases absent from the dict are not present in etl.logs yet
    weight: int
    manual: bool = False


_OK = PhaseScript(("success",))
_SKIP = PhaseScript(skipped=True)
SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "retried", "success", {"extract": _OK, "transform": PhaseScript(("error", "success")), "load": _OK}, 8
    ),
    Scenario("success", "success", {"extract": _OK, "transform": _OK, "load": _OK}, 55),
    Scenario(
        "extract_failed",
        "success",
        {"extract": PhaseScript(("error",)), "transform": _SKIP, "load": _SKIP},
        6,
    ),
    Scenario(
        "load_failed", "success", {"extract": _OK, "transform": _OK, "load": PhaseScript(("error",))}, 6
    ),
    Scenario(
        "transform_failed",
        "success",
        {"extract": _OK, "transform": PhaseScript(("error",)), "load": _SKIP},
        4,
    ),
    Scenario(
        "load_running", "success", {"extract": _OK, "transform": _OK, "load": PhaseScript(("running",))}, 3
    ),
    Scenario("transform_running", "success", {"extract": _OK, "transform": PhaseScript(("running",))}, 5),
    Scenario("extract_running", "success", {"extract": PhaseScript(("running",))}, 3),
    Scenario("event_failed", "error", {"extract": _SKIP, "transform": _SKIP, "load": _SKIP}, 4),
    Scenario("event_running", "running", {}, 2),
    Scenario("manual_no_event", "skipped", {"extract": _OK, "transform": _OK, "load": _OK}, 6, manual=True),
    Scenario(
        "nothing_to_load",
        "success",
        {"extract": _OK, "transform": PhaseScript(("success",), empty=True), "load": _SKIP},
        3,
    ),
)
SCENARIOS_BY_NAME = {scenario.name: scenario for scenario in SCENARIOS}


# --- options and results ----------------------------------------------------------------------
class SeedOptions(BaseModel):
    """Size and shape of the demo data set."""

    model_config = ConfigDict(frozen=True)

    companies: int = Field(default=3, ge=1, le=len(COMPANY_NAMES) * 100)
    dags: int = Field(default=2, ge=1, le=100)
    runs: int = Field(default=12, ge=1, le=100_000)  # per company
    rows: int = Field(default=500, ge=0, le=10_000_000)  # output rows of a phase (about)
    days: int = Field(default=14, ge=1, le=3650)
    end_date: dt.date = DEFAULT_END_DATE
    chunk_rows: int = Field(default=200, ge=1)
    row_group_rows: int = Field(default=50, ge=1)
    seed: int = 42
    workers: int = Field(default=4, ge=1, le=64)


class SeededAttempt(BaseModel):
    phase: str
    attempt: int
    status: str
    rows: int
    data_chunks: int
    complete: bool  # metadata.parquet written


class SeededRun(BaseModel):
    id_company: str
    dag_id: uuid.UUID
    date: dt.date
    run_id: str
    scenario: str
    phases: dict[str, str]  # phase -> status, as in etl.logs
    attempts: list[SeededAttempt]
    metadata_keys: list[str]  # full S3 keys of the metadata.parquet written
    objects: int

    @property
    def ref(self) -> RunRef:
        return RunRef(self.id_company, self.dag_id, self.date, self.run_id)


class SeedResult(BaseModel):
    companies: list[str]
    dag_ids: list[uuid.UUID]
    date_from: dt.date
    date_to: dt.date
    runs: list[SeededRun]

    @property
    def objects(self) -> int:
        return sum(run.objects for run in self.runs)

    def example(self) -> SeededRun:
        """The walkthrough run: the first company's first run (a retried, fully loaded run)."""
        return self.runs[0]


# --- helpers ----------------------------------------------------------------------------------
def company_names(count: int) -> list[str]:
    names = list(COMPANY_NAMES[:count])
    names += [f"company-{index:03d}" for index in range(len(names) + 1, count + 1)]
    return names


def demo_run_id(day: dt.date) -> str:
    return "manual__" + dt.datetime.combine(day, DEMO_RUN_TIME, dt.UTC).isoformat()


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _run_rng(seed: int, run: RunRef) -> random.Random:
    # String seeds hash with SHA-512: stable across processes and Python versions.
    return random.Random(f"{seed}|{run.id_company}|{run.dag_id}|{run.run_date}|{run.run_id}")


def to_jsonable(value: Any) -> Any:
    """A Python value from a demo row as JSON for etl.logs (the renderings of CONTRACT §4 Values)."""
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {key: to_jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        if value and all(isinstance(item, tuple) and len(item) == 2 for item in value):
            return {str(k): to_jsonable(v) for k, v in value}  # map entries
        return [to_jsonable(item) for item in value]
    return value


def rows_parquet(rows: Sequence[dict[str, Any]], schema: pa.Schema, row_group_rows: int) -> bytes:
    return parquet_bytes(pa.Table.from_pylist(list(rows), schema=schema), max(1, row_group_rows))


def _chunks(rows: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


# --- the ETL's rows ---------------------------------------------------------------------------
def _orders(rng: random.Random, count: int, first_id: int, day: dt.date) -> list[dict[str, Any]]:
    """Extract output: raw orders from a source system, with the gaps real sources have."""
    day_start = dt.datetime.combine(day, dt.time(), dt.UTC)
    rows = []
    for index in range(count):
        city, country = rng.choice(CITIES)
        ordered_at = day_start - dt.timedelta(
            seconds=rng.randrange(3 * 86400), microseconds=rng.randrange(10**6)
        )
        quantity = rng.randint(1, 12)
        unit_price = Decimal(rng.randrange(99, 99_999)).scaleb(-2)
        rows.append(
            {
                "order_id": first_id + index,
                "customer": rng.choice(CUSTOMERS) if rng.random() > 0.06 else None,
                "amount": float(unit_price * quantity) if rng.random() > 0.04 else math.nan,
                "currency": rng.choice(tuple(CURRENCIES)),
                "ordered_at": ordered_at,
                "ship_date": ordered_at.date() + dt.timedelta(days=rng.randint(1, 7))
                if rng.random() > 0.1
                else None,
                "unit_price": unit_price,
                "quantity": quantity,
                "is_priority": rng.random() < 0.2,
                "payload": rng.randbytes(rng.randint(4, 16)),
                "tags": rng.sample(TAGS, k=rng.randint(0, 3)) if rng.random() > 0.05 else None,
                "address": {
                    "street": f"{rng.randint(1, 300)} {rng.choice(STREETS)}",
                    "city": city,
                    "zip": f"{rng.randint(1000, 99999):05d}",
                    "country": country,
                }
                if rng.random() > 0.03
                else None,
            }
        )
    return rows


def _transform_row(rng: random.Random, order: dict[str, Any]) -> dict[str, Any]:
    fx = CURRENCIES[order["currency"]]
    amount = order["amount"]
    amount_usd = None if math.isnan(amount) else Decimal(str(round(amount * fx, 2))).quantize(Decimal("0.01"))
    items = [
        {"sku": rng.choice(SKUS), "qty": rng.randint(1, 4), "price": round(rng.uniform(1, 500), 2)}
        for _ in range(rng.randint(1, 3))
    ]
    return {
        "order_id": order["order_id"],
        "customer": order["customer"].strip() if order["customer"] else None,
        "segment": rng.choice(SEGMENTS),
        "amount_usd": amount_usd,
        "fx_rate": math.nan if amount_usd is None else fx,
        "ordered_at": order["ordered_at"],
        "order_day": order["ordered_at"].date(),
        "delivery_window": dt.time(rng.randint(8, 19), rng.choice((0, 30)), 0, rng.randrange(10**6)),
        "processing_time": dt.timedelta(milliseconds=rng.randint(3, 5000)),
        "is_priority": order["is_priority"],
        "checksum": hashlib.blake2b(str(order["order_id"]).encode(), digest_size=8).digest(),
        "tags": order["tags"],
        "line_items": items,
    }


def _load_row(rng: random.Random, row: dict[str, Any], loaded_at: dt.datetime, batch: int) -> dict[str, Any]:
    warnings = ["amount_usd is null"] if row["amount_usd"] is None else ([] if rng.random() > 0.1 else None)
    return {
        "order_id": row["order_id"],
        "target_table": "warehouse.fact_orders",
        "action": "update" if rng.random() < 0.25 else "insert",
        "loaded_at": loaded_at,
        "batch_id": batch,
        "amount_usd": row["amount_usd"],
        "row_hash": hashlib.blake2b(repr(sorted(row.items())).encode(), digest_size=12).digest(),
        "attributes": [("segment", row["segment"]), ("source", "orders_api")],
        "warnings": warnings,
    }


# --- writing one run --------------------------------------------------------------------------
@dataclass(frozen=True)
class RunPlan:
    run: RunRef
    scenario: Scenario
    rows: int
    started_at: dt.datetime
    showcase: bool = False


@dataclass
class _Attempt:
    phase: str
    attempt: int
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime
    rows: list[dict[str, Any]]
    logs: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    message: str | None = None


class RunWriter:
    """Writes one run's objects (metadata of an attempt last) and returns its etl.logs row."""

    def __init__(self, plan: RunPlan, seed: int, chunk_rows: int, row_group_rows: int) -> None:
        self.plan = plan
        self.rng = _run_rng(seed, plan.run)
        self.chunk_rows = chunk_rows
        self.row_group_rows = row_group_rows
        settings = get_settings()
        self.bucket = require_bucket(settings)
        self.prefix = plan.run.prefix(settings.artifacts_prefix)
        self.client = s3_client()
        self.objects = 0

    # -- S3 -------------------------------------------------------------------------------------
    def _put(self, relative_key: str, body: bytes) -> None:
        self.client.put_object(
            Bucket=self.bucket, Key=self.prefix + relative_key, Body=body, ContentType=PARQUET_CONTENT_TYPE
        )
        self.objects += 1

    def _clear_prefix(self) -> None:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})

    def s3_url(self, relative_key: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}{relative_key}"

    # -- the run --------------------------------------------------------------------------------
    def write(self) -> tuple[SeededRun, dict[str, Any], dt.datetime]:
        """Write the run; returns (summary, etl.logs `log` JSON, updated_at)."""
        self._clear_prefix()
        plan, rng = self.plan, self.rng
        log: dict[str, Any] = {}
        clock = plan.started_at
        log["event"], clock = self._write_event(clock)

        orders = _orders(
            rng,
            max(0, plan.rows + rng.randint(-plan.rows // 10, plan.rows // 10)),
            rng.randrange(10_000, 900_000) * 10,
            plan.run.run_date,
        )
        summaries: list[SeededAttempt] = []
        metadata_keys: list[str] = []
        upstream: list[dict[str, Any]] = orders
        for phase in PHASES:
            script = plan.scenario.phases.get(phase)
            if script is None:
                continue
            if script.skipped:
                log[phase] = self._skipped(phase)
                continue
            for number, status in enumerate(script.attempts, start=1):
                clock += dt.timedelta(seconds=rng.randint(5, 90) if number > 1 else rng.randint(1, 10))
                last = number == len(script.attempts)
                attempt = self._run_attempt(
                    phase, number, status, clock, upstream, empty=script.empty and last
                )
                clock = attempt.finished_at
                complete = status != "running"
                self._write_attempt(attempt, complete)
                if complete:
                    metadata_keys.append(self.prefix + single_file(phase, number, "metadata"))
                summaries.append(
                    SeededAttempt(
                        phase=phase,
                        attempt=number,
                        status=status,
                        rows=len(attempt.rows),
                        data_chunks=self._chunk_count(attempt.rows),
                        complete=complete,
                    )
                )
                if last:
                    log[phase] = self._phase_summary(attempt)
                    upstream = attempt.rows
        run = plan.run
        seeded = SeededRun(
            id_company=run.id_company,
            dag_id=run.dag_id,
            date=run.run_date,
            run_id=run.run_id,
            scenario=plan.scenario.name,
            phases={phase: value["status"] for phase, value in log.items()},
            attempts=summaries,
            metadata_keys=metadata_keys,
            objects=self.objects,
        )
        return seeded, log, clock

    def _chunk_count(self, rows: Sequence[Any]) -> int:
        return math.ceil(len(rows) / self.chunk_rows)

    def _skipped(self, phase: str) -> dict[str, Any]:
        upstream = "the trigger event" if self.plan.scenario.event == "error" else "an upstream phase"
        reason = (
            "no rows to load"
            if phase == "load" and self.plan.scenario.name == "nothing_to_load"
            else (f"{upstream} failed")
        )
        return {
            "status": "skipped",
            "message": f"Skipped: {reason}",
            "total": None,
            "attempt": None,
            "s3_data_path": None,
        }

    def _write_event(self, clock: dt.datetime) -> tuple[dict[str, Any], dt.datetime]:
        rng, run, status = self.rng, self.plan.run, self.plan.scenario.event
        if status == "skipped":
            return {
                "status": "skipped",
                "message": "Manual run: no trigger message",
                "total": None,
                "attempt": None,
                "s3_data_path": None,
            }, clock
        object_key = f"incoming/orders/{run.run_date.isoformat()}/orders_{rng.randrange(1, 999):03d}.csv"
        body = {
            "id_company": run.id_company,
            "dag_id": str(run.dag_id),
            "source": "s3",
            "object": object_key,
            "size": rng.randint(10_000, 5_000_000),
        }
        if status == "error":
            body.pop("object")  # the malformed message that made the event phase fail
        queue_rows = [{"message_id": str(_uuid(rng)), "received_at": clock, "body": json.dumps(body)}]
        queue_key = EVENT_KINDS["event-queue-data"]
        self._put(queue_key, rows_parquet(queue_rows, QUEUE_DATA_SCHEMA, self.row_group_rows))
        clock += dt.timedelta(seconds=rng.randint(1, 5))
        if status != "success":
            message = (
                "Malformed trigger message: 'object' is missing"
                if status == "error"
                else "Processing trigger"
            )
            return {
                "status": status,
                "message": message,
                "total": None,
                "attempt": 1,
                "s3_data_path": self.s3_url(queue_key),
            }, clock
        event_rows = [
            {
                "field_set": field_set,
                "source_system": "orders_api",
                "object_key": object_key,
                "object_size": body["size"],
                "triggered_by": "queue" if field_set == "trigger" else None,
                "logical_date": dt.datetime.combine(run.run_date, dt.time(), dt.UTC),
                "params": {"full_refresh": rng.random() < 0.1, "batch_size": rng.choice((500, 1000, 5000))}
                if field_set == "options"
                else None,
            }
            for field_set in ("trigger", "options")
        ]
        event_key = EVENT_KINDS["event-event"]
        self._put(event_key, rows_parquet(event_rows, EVENT_SCHEMA, self.row_group_rows))
        summary = {
            "status": "success",
            "message": f"Trigger for {object_key}",
            "total": len(event_rows),
            "attempt": 1,
            "s3_data_path": self.s3_url(event_key),
            "data": [to_jsonable(row) for row in event_rows],
        }
        return summary, clock

    def _run_attempt(
        self,
        phase: str,
        number: int,
        status: str,
        started: dt.datetime,
        upstream: list[dict[str, Any]],
        *,
        empty: bool,
    ) -> _Attempt:
        rng = self.rng
        attempt = _Attempt(phase, number, status, started, started, rows=[])
        # Rows rejected by validation (logged as row errors) do not reach the output.
        rejected: set[int] = set()
        if phase != "load" and len(upstream) > 10 and status != "running":
            rejected = {rng.randrange(len(upstream)) for _ in range(rng.choice((0, 0, 1, 2, 3)))}
        if self.plan.showcase and phase == "extract" and len(upstream) > 2:
            rejected |= {1}  # the walkthrough run always has an errors chunk to show
        produced = [row for index, row in enumerate(upstream) if index not in rejected]
        if empty:
            produced = []
        if status == "error":
            produced = produced[: int(len(produced) * rng.uniform(0.2, 0.6))]
        elif status == "running":
            produced = produced[: int(len(produced) * rng.uniform(0.3, 0.8))]
        duration = dt.timedelta(seconds=rng.randint(20, 60) + len(upstream) * rng.uniform(0.002, 0.02))
        attempt.finished_at = started + duration

        if phase == "extract":
            attempt.rows = produced
        elif phase == "transform":
            attempt.rows = [_transform_row(rng, row) for row in produced]
        else:
            batch = rng.randint(1, 99_999)
            attempt.rows = [
                _load_row(rng, row, started + duration * (index + 1) / (len(produced) + 1), batch)
                for index, row in enumerate(produced)
            ]
        self._errors(attempt, [upstream[index] for index in sorted(rejected)])
        self._logs(attempt, len(upstream))
        attempt.message = self._message(attempt, len(upstream))
        return attempt

    def _errors(self, attempt: _Attempt, rejected: list[dict[str, Any]]) -> None:
        span = attempt.finished_at - attempt.started_at
        for index, row in enumerate(rejected):
            attempt.errors.append(
                {
                    "error_type": "/errors/row-validation",
                    "error_title": "Row failed validation",
                    "error_status": 422,
                    "error_detail": f"order_id={row['order_id']}: amount must be a finite number "
                    f"(customer {row.get('customer') or 'unknown'!s})",
                    "traceback": None,
                    "occurred_at": attempt.started_at + span * (index + 1) / (len(rejected) + 2),
                    "row_ref": f"order_id={row['order_id']}",
                }
            )
        if attempt.status == "error":
            kind = self.rng.choice(("timeout", "schema"))
            title, status, detail, exc = (
                (
                    "Upstream source timed out",
                    504,
                    "GET /v2/orders?page=7 did not answer within 30 s",
                    "TimeoutError: The read operation timed out",
                )
                if kind == "timeout"
                else (
                    "Schema mismatch",
                    500,
                    "column 'unit_price' changed type from decimal to string",
                    "ValueError: cannot cast string to decimal128(12, 2)",
                )
            )
            attempt.errors.append(
                {
                    "error_type": f"/errors/{'upstream-timeout' if kind == 'timeout' else 'schema-mismatch'}",
                    "error_title": title,
                    "error_status": status,
                    "error_detail": detail,
                    "traceback": (
                        "Traceback (most recent call last):\n"
                        f'  File "dags/orders_etl.py", line {self.rng.randint(40, 400)}, in {attempt.phase}\n'
                        "    batch = source.read(page)\n"
                        f"{exc}"
                    ),
                    "occurred_at": attempt.finished_at,
                    "row_ref": None,
                }
            )

    def _logs(self, attempt: _Attempt, inputs: int) -> None:
        name = LOGGERS[attempt.phase]
        start, end = attempt.started_at, attempt.finished_at
        run_id, phase, number = self.plan.run.run_id, attempt.phase, attempt.attempt
        lines: list[tuple[str, str]] = [
            ("INFO", f"Starting {phase} attempt {number} of run {run_id}"),
            ("DEBUG", f"Connection pool ready (size={self.rng.choice((2, 4, 8))}); {inputs} input rows"),
        ]
        if number > 1:
            lines.append(("WARNING", f"Retrying {phase}: attempt {number - 1} failed"))
        for chunk, rows in enumerate(_chunks(attempt.rows, self.chunk_rows)):
            for group, _ in enumerate(_chunks(rows, self.row_group_rows)):
                lines.append(("DEBUG", f"data_{chunk:03d}: row group {group} flushed"))
            lines.append(
                (
                    "INFO",
                    f"Wrote {chunk_file(phase, number, 'data', chunk).rsplit('/', 1)[1]} ({len(rows)} rows)",
                )
            )
        nulls = sum(1 for row in attempt.rows if row.get("customer", "") is None)
        if nulls:
            lines.append(("WARNING", f"{nulls} rows have no customer; kept with customer = null"))
        for error in attempt.errors:
            if error["row_ref"]:
                lines.append(("ERROR", f"Rejected row {error['row_ref']}: {error['error_title'].lower()}"))
        if attempt.status == "error":
            failure = attempt.errors[-1]
            lines.append(("ERROR", f"{failure['error_title']}: {failure['error_detail']}"))
            lines.append(("CRITICAL", f"Aborting {phase} attempt {number}: unrecoverable error"))
        elif attempt.status == "success":
            lines.append(
                (
                    "INFO",
                    f"Finished {phase}: {len(attempt.rows)} rows in {(end - start).total_seconds():.1f} s",
                )
            )
        step = (end - start) / (len(lines) + 1)
        attempt.logs = [
            {"timestamp": start + step * index, "level": level, "logger": name, "message": message}
            for index, (level, message) in enumerate(lines)
        ]

    def _message(self, attempt: _Attempt, inputs: int) -> str | None:
        verb = {"extract": "Extracted", "transform": "Transformed", "load": "Loaded"}[attempt.phase]
        if attempt.status == "success":
            return (
                f"{verb} {len(attempt.rows)} of {inputs} rows"
                if attempt.phase != "extract"
                else (f"{verb} {len(attempt.rows)} rows from orders_api")
            )
        if attempt.status == "error":
            failure = attempt.errors[-1]
            return f"{failure['error_title']}: {failure['error_detail']}"
        return f"{attempt.phase.capitalize()} in progress: {len(attempt.rows)} rows so far"

    def _write_attempt(self, attempt: _Attempt, complete: bool) -> None:
        phase, number = attempt.phase, attempt.attempt
        schema = DATA_SCHEMAS[phase]
        for chunk, rows in enumerate(_chunks(attempt.rows, self.chunk_rows)):
            self._put(
                chunk_file(phase, number, "data", chunk), rows_parquet(rows, schema, self.row_group_rows)
            )
        for chunk, rows in enumerate(_chunks(attempt.logs, LOG_CHUNK_ROWS)):
            self._put(
                chunk_file(phase, number, "logs", chunk), rows_parquet(rows, LOGS_SCHEMA, LOG_CHUNK_ROWS)
            )
        for chunk, rows in enumerate(_chunks(attempt.errors, LOG_CHUNK_ROWS)):
            self._put(
                chunk_file(phase, number, "errors", chunk), rows_parquet(rows, ERRORS_SCHEMA, LOG_CHUNK_ROWS)
            )
        if not complete:
            return  # a running attempt has no metadata yet
        metadata = {
            "phase": phase,
            "attempt": number,
            "status": attempt.status,
            "started_at": attempt.started_at,
            "finished_at": attempt.finished_at,
            "row_count": len(attempt.rows),
            "data_chunks": self._chunk_count(attempt.rows),
            "log_count": len(attempt.logs),
            "error_log_count": len(attempt.errors),
            "message": attempt.message,
        }
        self._put(single_file(phase, number, "metadata"), rows_parquet([metadata], METADATA_SCHEMA, 1))

    def _phase_summary(self, attempt: _Attempt) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "status": attempt.status,
            "message": attempt.message,
            "total": len(attempt.rows) if attempt.status != "running" else None,
            "attempt": attempt.attempt,
            "s3_data_path": self.s3_url(attempt_dir(attempt.phase, attempt.attempt)),
        }
        if attempt.status == "success":
            summary["data"] = [to_jsonable(row) for row in attempt.rows[:PREVIEW_ROWS]]
        return summary


# --- etl.logs ---------------------------------------------------------------------------------
UPSERT_SQL = """
INSERT INTO etl.logs (id_company, dag_id, run_date, run_id, log, created_at, updated_at)
VALUES (:id_company, CAST(:dag_id AS uuid), :run_date, :run_id, CAST(:log AS jsonb), :created_at, :updated_at)
ON CONFLICT (id_company, dag_id, run_date, run_id)
DO UPDATE SET log = EXCLUDED.log, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at
"""


def upsert_log(
    db: Database, run: RunRef, log: dict[str, Any], created_at: dt.datetime, updated_at: dt.datetime
) -> None:
    db.run(
        UPSERT_SQL,
        id_company=run.id_company,
        dag_id=str(run.dag_id),
        run_date=run.run_date,
        run_id=run.run_id,
        log=json.dumps(log, ensure_ascii=False),
        created_at=created_at,
        updated_at=updated_at,
    )


# --- planning and entry points ----------------------------------------------------------------
def _pick_scenario(rng: random.Random) -> Scenario:
    return rng.choices(SCENARIOS, weights=[scenario.weight for scenario in SCENARIOS])[0]


def plan_runs(options: SeedOptions) -> tuple[list[str], list[uuid.UUID], list[RunPlan]]:
    """Every run to write, decided up front from the seed (so the writing may run in threads)."""
    rng = random.Random(options.seed)
    companies = company_names(options.companies)
    dag_ids = [DEMO_DAG_ID] + [_uuid(rng) for _ in range(options.dags - 1)]
    plans: list[RunPlan] = []
    used: set[tuple[str, uuid.UUID, dt.date, str]] = set()
    for company_index, company in enumerate(companies):
        for index in range(options.runs):
            showcase = company_index == 0 and index == 0
            # Each tenant's first runs walk through every scenario; the rest are drawn by weight.
            scenario = SCENARIOS[index] if index < len(SCENARIOS) else _pick_scenario(rng)
            dag_id = DEMO_DAG_ID if showcase else rng.choice(dag_ids)
            day = (
                options.end_date
                if showcase
                else options.end_date - dt.timedelta(days=rng.randrange(options.days))
            )
            manual = scenario.manual or showcase or rng.random() < 0.2
            while True:
                if showcase:
                    run_id = demo_run_id(day)
                    started = dt.datetime.combine(day, DEMO_RUN_TIME, dt.UTC)
                elif manual:
                    started = dt.datetime.combine(day, dt.time(), dt.UTC) + dt.timedelta(
                        seconds=rng.randrange(86_400), microseconds=rng.randrange(1, 10**6)
                    )
                    run_id = f"manual__{started.isoformat()}"
                else:
                    started = dt.datetime.combine(day, dt.time(rng.randrange(24)), dt.UTC)
                    run_id = f"scheduled__{started.isoformat()}"
                key = (company, dag_id, day, run_id)
                if key not in used:
                    used.add(key)
                    break
                manual = True  # a second run in the same scheduled slot was started by hand
            rows = options.rows if showcase else max(0, int(options.rows * rng.uniform(0.5, 1.5)))
            plans.append(RunPlan(RunRef(company, dag_id, day, run_id), scenario, rows, started, showcase))
    return companies, dag_ids, plans


def _write_plan(plan: RunPlan, options: SeedOptions) -> tuple[SeededRun, dict[str, Any], dt.datetime]:
    return RunWriter(plan, options.seed, options.chunk_rows, options.row_group_rows).write()


def seed(
    options: SeedOptions | None = None,
    progress: Callable[[str], None] | None = None,
    db: Database | None = None,
) -> SeedResult:
    """Write the demo data set (S3 objects, then each run's etl.logs row); returns what was written.

    Needs ARTIFACTS_BUCKET (existing), S3 access and DATABASE_URL with the schema migrated.
    """
    options = options or SeedOptions()
    db = db or get_database()
    companies, dag_ids, plans = plan_runs(options)
    s3_client()  # create the shared (thread-safe) client once, before the threads race to build it
    runs: list[SeededRun] = []
    every = max(1, len(plans) // 20)
    # Objects are written in threads (S3 PUTs wait on the network; pyarrow releases the GIL);
    # rows go to Postgres from this thread, in plan order.
    with ThreadPoolExecutor(max_workers=options.workers, thread_name_prefix="seed") as pool:
        for number, (seeded, log, updated_at) in enumerate(
            pool.map(lambda p: _write_plan(p, options), plans), 1
        ):
            plan = plans[number - 1]
            upsert_log(db, plan.run, log, plan.started_at, updated_at)
            runs.append(seeded)
            if progress and (number % every == 0 or number == len(plans)):
                progress(
                    f"run {number}/{len(plans)}: {seeded.id_company} {seeded.date} {seeded.run_id} "
                    f"({seeded.scenario}, {seeded.objects} objects)"
                )
    return SeedResult(
        companies=companies,
        dag_ids=dag_ids,
        date_from=options.end_date - dt.timedelta(days=options.days - 1),
        date_to=options.end_date,
        runs=runs,
    )


def seed_run(
    run: RunRef,
    scenario: str = "retried",
    *,
    rows: int = 120,
    seed: int = 42,
    chunk_rows: int = 50,
    row_group_rows: int = 20,
    db: Database | None = None,
) -> SeededRun:
    """Write one run of the given scenario at exactly ``run`` (S3 + etl.logs); tests and events use it."""
    script = SCENARIOS_BY_NAME[scenario]
    day = dt.datetime.combine(run.run_date, dt.time(), dt.UTC)
    started = day + dt.timedelta(hours=10)
    plan = RunPlan(run, script, rows, started, showcase=True)
    seeded, log, updated_at = RunWriter(plan, seed, chunk_rows, row_group_rows).write()
    upsert_log(db or get_database(), run, log, started, updated_at)
    return seeded
