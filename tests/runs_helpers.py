"""Seeding helpers for the runs tests: rows of ``etl.logs`` written with parameterised SQL."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, urlencode

from etl_artifacts.postgres.db import get_database

RUNS = "/api/v1/dags/{dag_id}/runs"


def phase(
    status: str = "success",
    *,
    message: str | None = "ok",
    total: int | None = 10,
    attempt: int | None = 1,
    s3_data_path: str | None = "s3://bucket/some/path/",
    data: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A phase object as the ETL writes it (docs/architecture.md)."""
    obj: dict[str, Any] = {
        "status": status,
        "message": message,
        "total": total,
        "attempt": attempt,
        "s3_data_path": s3_data_path,
        **extra,
    }
    if data is not None:
        obj["data"] = data
    return obj


def insert_run(
    company: str, dag_id: uuid.UUID, run_date: dt.date | str, run_id: str, log: dict[str, Any]
) -> None:
    get_database().run(
        """INSERT INTO etl.logs (id_company, dag_id, run_date, run_id, log)
           VALUES (:company, :dag_id, :run_date, :run_id, CAST(:log AS jsonb))""",
        company=company,
        dag_id=dag_id,
        run_date=dt.date.fromisoformat(run_date) if isinstance(run_date, str) else run_date,
        run_id=run_id,
        log=json.dumps(log),
    )


def delete_dags(dag_ids: Iterable[uuid.UUID]) -> None:
    get_database().run(
        "DELETE FROM etl.logs WHERE dag_id = ANY(CAST(:ids AS uuid[]))", ids=[str(d) for d in dag_ids]
    )


@contextmanager
def fresh_dag() -> Iterator[uuid.UUID]:
    """A DAG id no other test uses; its rows (every tenant) are deleted afterwards."""
    dag_id = uuid.uuid4()
    try:
        yield dag_id
    finally:
        delete_dags([dag_id])


def search_path(dag_id: uuid.UUID, **params: Any) -> str:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return RUNS.format(dag_id=dag_id) + (f"?{query}" if query else "")


def run_path(dag_id: uuid.UUID, run_date: str, run_id: str) -> str:
    # Percent-encoded exactly once, as the API asks clients to do ("+" -> %2B, ":" -> %3A).
    return f"{RUNS.format(dag_id=dag_id)}/{run_date}/{quote(run_id, safe='')}"


def run_ids_of(body: dict[str, Any]) -> list[str]:
    return [item["run_id"] for item in body["items"]]
