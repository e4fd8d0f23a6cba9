"""Writing one seeded run: its S3 objects in the documented order (an attempt's metadata last) and its
``etl.logs`` row."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from etl_artifacts.clients import s3_client
from etl_artifacts.config import get_settings, require_bucket
from etl_artifacts.s3.layout import EVENT_KINDS, PHASES, RunRef, attempt_dir, chunk_file, single_file

from etl_artifacts_local.etl_parquet import (
    ERRORS_SCHEMA,
    LOGS_SCHEMA,
    METADATA_SCHEMA,
    QUEUE_DATA_SCHEMA,
)
from etl_artifacts_local.seed_rows import (
    DATA_SCHEMAS,
    EVENT_SCHEMA,
    LOGGERS,
    chunks_of,
    load_row,
    order_rows,
    random_uuid,
    rows_parquet,
    run_rng,
    to_jsonable,
    transform_row,
)
from etl_artifacts_local.seed_scenarios import Scenario, SeededAttempt, SeededRun

PREVIEW_ROWS = 20  # rows copied into etl.logs `data` (docs/architecture.md allows at most 100)
LOG_CHUNK_ROWS = 50
PARQUET_CONTENT_TYPE = "application/vnd.apache.parquet"


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
        self.rng = run_rng(seed, plan.run)
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

        orders = order_rows(
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
        queue_rows = [{"message_id": str(random_uuid(rng)), "received_at": clock, "body": json.dumps(body)}]
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
            attempt.rows = [transform_row(rng, row) for row in produced]
        else:
            batch = rng.randint(1, 99_999)
            attempt.rows = [
                load_row(rng, row, started + duration * (index + 1) / (len(produced) + 1), batch)
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
        for chunk, rows in enumerate(chunks_of(attempt.rows, self.chunk_rows)):
            for group, _ in enumerate(chunks_of(rows, self.row_group_rows)):
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
        for chunk, rows in enumerate(chunks_of(attempt.rows, self.chunk_rows)):
            self._put(
                chunk_file(phase, number, "data", chunk), rows_parquet(rows, schema, self.row_group_rows)
            )
        for chunk, rows in enumerate(chunks_of(attempt.logs, LOG_CHUNK_ROWS)):
            self._put(
                chunk_file(phase, number, "logs", chunk), rows_parquet(rows, LOGS_SCHEMA, LOG_CHUNK_ROWS)
            )
        for chunk, rows in enumerate(chunks_of(attempt.errors, LOG_CHUNK_ROWS)):
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
