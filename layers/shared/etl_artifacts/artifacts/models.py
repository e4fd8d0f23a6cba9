"""Response models of the artifacts routes (docs/api.md Artifacts)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

DEFAULT_LIST_LIMIT = 1000  # also the largest: one S3 LIST page holds at most 1,000 keys


class ArtifactItem(BaseModel):
    key: str = Field(description="Key relative to the run prefix, e.g. `extract/attempt=1/data_000.parquet`.")
    artifact_kind: str | None = Field(description="Kind the key maps to; null for files no kind maps to.")
    phase: str | None
    attempt: int | None
    chunk: int | None
    size_bytes: int
    last_modified: dt.datetime
    etag: str = Field(description="S3 ETag without quotes.")
    url: str = Field(description="Presigned GET URL of exactly this object.")
    expires_at: dt.datetime = Field(description="Signing time plus the URL's lifetime.")


class RunArtifactsResponse(BaseModel):
    dag_id: str
    date: dt.date
    run_id: str
    count: int = Field(description="Number of items in this response (this page).")
    artifacts: list[ArtifactItem]
    next_cursor: str | None = Field(
        default=None,
        description="Send back as `cursor` (with the same `limit`) for the next page; null when complete.",
    )


class PresignedUrlResponse(BaseModel):
    url: str
    expires_in: int
    expires_at: dt.datetime
    artifact_kind: str
    key: str
    size_bytes: int
    last_modified: dt.datetime
    etag: str
