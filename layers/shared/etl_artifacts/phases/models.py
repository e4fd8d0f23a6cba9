"""Response models of the Phases family (CONTRACT §4). Pydantic only: cheap to import."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ColumnInfo(BaseModel):
    name: str
    type: str = Field(description="Arrow type of the column, e.g. `int64`, `timestamp[us, tz=UTC]`.")


class ParquetPageResponse(BaseModel):
    columns: list[ColumnInfo]
    rows: list[dict[str, Any]]
    page: int
    limit: int
    total_rows: int
    has_more: bool


class EventResponse(BaseModel):
    queue_data: list[dict[str, Any]] | None = Field(description="Rows of event/queue_data.parquet, or null.")
    event: list[dict[str, Any]] | None = Field(description="Rows of event/event.parquet, or null.")
