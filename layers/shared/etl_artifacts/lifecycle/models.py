"""Inputs and outputs of the lifecycle routes (docs/lifecycle.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

LINK_DEFAULT_EXPIRES_S = 7 * 86_400
LINK_MAX_EXPIRES_S = 30 * 86_400


class SealSignature(BaseModel):
    algorithm: Literal["ECDSA_SHA_256"] = "ECDSA_SHA_256"
    key_id: str
    value: str = Field(
        description="Base64 of the DER-encoded ECDSA signature over the manifest's RFC 8785 form."
    )


class RunSeal(BaseModel):
    manifest: dict[str, Any] = Field(
        description="`dag_id`, `date`, `run_id`, `sealed_at`, `sealed_by`, `parquet` (every parquet object "
        "under the run: `key`, `size_bytes`, `etag`) and `artifacts` (every active uploaded artifact: "
        "`artifact_id`, `name`, `size_bytes`, `sha256`)."
    )
    signature: SealSignature


class ManifestKey(BaseModel):
    key_id: str
    algorithm: Literal["ECDSA_SHA_256"] = "ECDSA_SHA_256"
    public_key_pem: str


class ManifestKeysResponse(BaseModel):
    keys: list[ManifestKey]


class ExtendTtlRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ttl_days: int = Field(
        ge=1,
        description="`expires_at` becomes max(current, now + ttl_days); at most `ARTIFACT_MAX_TTL_DAYS` "
        "(400 unless configured), else 422 `ttl_exceeds_limit`.",
        # The bound is configuration, checked per request; the document states the default.
        json_schema_extra={"maximum": 400},
    )


class CreateLinkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expires_in: int = Field(
        default=LINK_DEFAULT_EXPIRES_S,
        ge=1,
        le=LINK_MAX_EXPIRES_S,
        description="Seconds the link works: default 7 days, at most 30 days.",
    )
    max_downloads: int | None = Field(
        default=None,
        ge=1,
        le=2_147_483_647,
        description="Uses before the link stops working; null: no limit.",
    )


class LinkRecord(BaseModel):
    link_id: str
    artifact_id: str
    expires_at: datetime
    max_downloads: int | None
    downloads: int
    status: Literal["active", "expired", "revoked", "exhausted"]
    created_at: datetime
    created_by: str
    revoked_at: datetime | None


class CreatedLink(BaseModel):
    link_id: str
    url: str = Field(description="The public link (shown once: only its hash is stored).")
    expires_at: datetime
    max_downloads: int | None
    downloads: int = 0


class LinksResponse(BaseModel):
    items: list[LinkRecord]


# Where a followed share link leads (no docstring: it would become the schema's description).
class LinkRedirect(BaseModel):
    url: str
    expires_at: str
