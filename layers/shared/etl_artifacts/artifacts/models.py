"""Response models of the artifacts routes (CONTRACT §4 Artifacts)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field


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
    count: int
    artifacts: list[ArtifactItem]


class PresignedUrlResponse(BaseModel):
    url: str
    expires_in: int
    expires_at: dt.datetime
    artifact_kind: str
    key: str
    size_bytes: int
    last_modified: dt.datetime
    etag: str
