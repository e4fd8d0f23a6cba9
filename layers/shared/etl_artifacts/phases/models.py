"""Response models of the Phases family (docs/api.md). Pydantic only: cheap to import."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

# Rows or lines oldest first (asc) or newest first (desc).
Order = Literal["asc", "desc"]

# The media types of data, errors and logs pages (docs/api.md); JSON is the default.
JSON_MEDIA_TYPE = "application/json"
NDJSON_MEDIA_TYPE = "application/x-ndjson"
CSV_MEDIA_TYPE = "text/csv"
CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
ARROW_MEDIA_TYPE = "application/vnd.apache.arrow.stream"
PAGE_MEDIA_TYPES = (JSON_MEDIA_TYPE, CSV_MEDIA_TYPE, ARROW_MEDIA_TYPE)


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
