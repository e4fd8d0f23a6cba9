"""Pydantic models of the runs search and summary (docs/api.md) and the validated search input."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from etl_artifacts.s3.layout import RUN_ID_RE, RUN_PHASES

StatusFilter = Literal["all", "success", "error", "running", "skipped"]

MAX_RANGE_DAYS = 366
MAX_RUN_IDS = 100
MAX_KEYWORD_CHARS = 200
MAX_LIMIT = 100


class PhaseSummary(BaseModel):
    """One phase's summary from ``log->'<phase>'``; its inline ``data`` rows are never returned."""

    status: str | None = Field(description="success | error | running | skipped")
    message: str | None = None
    total: int | None = None
    attempt: int | None = None
    s3_data_path: str | None = None

    @classmethod
    def from_log(cls, value: Any) -> PhaseSummary | None:
        """Build from the stored phase object, tolerating values of the wrong JSON type (→ null)
        so one malformed row written by the ETL cannot turn a whole search into a 500."""
        if not isinstance(value, Mapping):
            return None

        def text(key: str) -> str | None:
            item = value.get(key)
            return item if isinstance(item, str) else None

        def integer(key: str) -> int | None:
            item = value.get(key)
            # bool is an int subclass in Python but not a JSON number.
            return item if isinstance(item, int) and not isinstance(item, bool) else None

        return cls(
            status=text("status"),
            message=text("message"),
            total=integer("total"),
            attempt=integer("attempt"),
            s3_data_path=text("s3_data_path"),
        )


class RunPhases(BaseModel):
    event: PhaseSummary | None
    extract: PhaseSummary | None
    transform: PhaseSummary | None
    load: PhaseSummary | None


class SearchRunResult(BaseModel):
    dag_id: uuid.UUID
    date: dt.date
    run_id: str
    created_at: dt.datetime
    updated_at: dt.datetime
    phases: RunPhases


class SearchRunsResponse(BaseModel):
    items: list[SearchRunResult]
    page: int
    limit: int
    total: int
    has_more: bool


class RunSearch(BaseModel):
    """A validated search: the tenant comes from the authorizer, everything else from the query."""

    model_config = ConfigDict(frozen=True)

    id_company: str
    dag_id: uuid.UUID
    date_from: dt.date
    date_to: dt.date
    statuses: dict[str, str] = Field(default_factory=dict, description="phase -> required status")
    keywords: dict[str, str] = Field(default_factory=dict, description="phase -> literal substring")
    run_ids: tuple[str, ...] = ()
    page: int = Field(default=0, ge=0)
    limit: int = Field(default=20, ge=1, le=MAX_LIMIT)


def date_range_is_valid(date_from: dt.date, date_to: dt.date) -> bool:
    return date_from <= date_to and (date_to - date_from).days <= MAX_RANGE_DAYS


def parse_run_ids(raw: str | None) -> tuple[str, ...]:
    """The ``run_ids`` allowlist: comma-separated, entries trimmed, empty ones ignored, duplicates
    dropped (first occurrence kept). Raises ``ValueError`` with a client-facing message."""
    if raw is None:
        return ()
    entries = list(dict.fromkeys(entry.strip() for entry in raw.split(",") if entry.strip()))
    if len(entries) > MAX_RUN_IDS:
        raise ValueError(f"at most {MAX_RUN_IDS} run ids")
    for entry in entries:
        if not RUN_ID_RE.match(entry):
            raise ValueError("each run id must match the run_id pattern")
    return tuple(entries)


def phase_filters(values: Mapping[str, str | None], *, skip: str | None = None) -> dict[str, str]:
    """Keep the filters that constrain something, in phase order."""
    return {
        phase: value for phase in RUN_PHASES if (value := values.get(phase)) is not None and value != skip
    }
