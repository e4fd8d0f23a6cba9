"""What the API answers, as typed values. Each keeps the answer's JSON in ``raw`` (fields the API
adds later are never lost)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

PHASES = ("extract", "transform", "load")


def parse_time(value: str | None) -> dt.datetime | None:
    """An ISO-8601 instant (``Z`` or an offset) as an aware datetime; None stays None."""
    if not value:
        return None
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class WhoAmI:
    id_company: str
    sub: str
    expires_at: dt.datetime | None

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> WhoAmI:
        return cls(str(body["id_company"]), str(body.get("sub") or ""), parse_time(body.get("expires_at")))


@dataclass(frozen=True)
class PhaseSummary:
    status: str | None
    message: str | None
    total: int | None
    attempt: int | None
    s3_data_path: str | None

    @classmethod
    def from_json(cls, body: dict[str, Any] | None) -> PhaseSummary | None:
        if body is None:
            return None
        return cls(
            body.get("status"),
            body.get("message"),
            body.get("total"),
            body.get("attempt"),
            body.get("s3_data_path"),
        )


@dataclass(frozen=True)
class Run:
    """One run of a DAG, as the runs search and the run route answer it."""

    dag_id: str
    date: str
    run_id: str
    created_at: dt.datetime | None
    updated_at: dt.datetime | None
    phases: dict[str, PhaseSummary | None]
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Run:
        phases = body.get("phases") or {}
        return cls(
            dag_id=str(body["dag_id"]),
            date=str(body["date"]),
            run_id=str(body["run_id"]),
            created_at=parse_time(body.get("created_at")),
            updated_at=parse_time(body.get("updated_at")),
            phases={name: PhaseSummary.from_json(phases.get(name)) for name in ("event", *PHASES)},
            raw=body,
        )

    def failed_phases(self) -> list[str]:
        """The phases whose status is ``error``, in pipeline order."""
        return [name for name, summary in self.phases.items() if summary and summary.status == "error"]


@dataclass(frozen=True)
class Artifact:
    """One parquet object of a run's listing, with a presigned URL that downloads it."""

    key: str
    size_bytes: int
    etag: str
    url: str
    expires_at: dt.datetime | None
    artifact_kind: str | None
    phase: str | None
    attempt: int | None
    chunk: int | None
    page_cursor: str | None = None  # the cursor of the listing page that held it
    sha256: str | None = None  # uploaded artifacts: verified by SHA-256 (their ETag is no MD5)
    artifact_id: str | None = None  # uploaded artifacts: fresh URLs come from their record

    @classmethod
    def from_json(cls, body: dict[str, Any], page_cursor: str | None = None) -> Artifact:
        return cls(
            key=str(body["key"]),
            size_bytes=int(body["size_bytes"]),
            etag=str(body.get("etag") or ""),
            url=str(body["url"]),
            expires_at=parse_time(body.get("expires_at")),
            artifact_kind=body.get("artifact_kind"),
            phase=body.get("phase"),
            attempt=body.get("attempt"),
            chunk=body.get("chunk"),
            page_cursor=page_cursor,
        )


@dataclass(frozen=True)
class UploadTarget:
    """Where a pending upload's bytes go: a presigned PUT and the headers it was signed with."""

    method: str
    url: str
    headers: dict[str, str]
    expires_at: dt.datetime | None

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> UploadTarget:
        return cls(
            method=str(body.get("method") or "PUT"),
            url=str(body["url"]),
            headers={str(k): str(v) for k, v in (body.get("headers") or {}).items()},
            expires_at=parse_time(body.get("expires_at")),
        )


@dataclass(frozen=True)
class ArtifactRecord:
    """A file a tenant attached to a run (addressed by ``artifact_id``)."""

    artifact_id: str
    name: str
    status: str
    size_bytes: int
    sha256: str
    content_type: str | None
    artifact_type: str | None
    dag_id: str | None
    date: str | None
    run_id: str | None
    expires_at: dt.datetime | None
    url: str | None
    url_expires_at: dt.datetime | None
    upload: UploadTarget | None
    phase: str | None
    attempt: int | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> ArtifactRecord:
        upload = body.get("upload")
        return cls(
            artifact_id=str(body["artifact_id"]),
            name=str(body.get("name") or ""),
            status=str(body.get("status") or ""),
            size_bytes=int(body.get("size_bytes") or 0),
            sha256=str(body.get("sha256") or ""),
            content_type=body.get("content_type"),
            artifact_type=body.get("artifact_type"),
            dag_id=body.get("dag_id"),
            date=body.get("date"),
            run_id=body.get("run_id"),
            expires_at=parse_time(body.get("expires_at")),
            url=body.get("url"),
            url_expires_at=parse_time(body.get("url_expires_at")),
            upload=UploadTarget.from_json(upload) if isinstance(upload, dict) else None,
            phase=body.get("phase"),
            attempt=body.get("attempt"),
            raw=body,
        )


def uploaded_as_artifact(record: ArtifactRecord) -> Artifact:
    """An active uploaded artifact as a file of the run's download: ``uploads/<id>/<name>``."""
    from etl_artifacts_client.errors import UnsafeKey
    from etl_artifacts_client.paths import check_key

    name = record.name
    try:
        check_key(name)
    except UnsafeKey:
        name = record.artifact_id  # a name that cannot be a file name here: the id stands in
    return Artifact(
        key=f"uploads/{record.artifact_id}/{name}",
        size_bytes=record.size_bytes,
        etag="",
        url=record.url or "",
        expires_at=record.url_expires_at,
        artifact_kind=None,
        phase=record.phase,
        attempt=record.attempt,
        chunk=None,
        sha256=record.sha256,
        artifact_id=record.artifact_id,
    )


@dataclass(frozen=True)
class Link:
    """A share link; ``url`` (with its token) is shown once, at creation."""

    link_id: str
    url: str | None
    expires_at: dt.datetime | None
    max_downloads: int | None
    downloads: int
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Link:
        return cls(
            link_id=str(body["link_id"]),
            url=body.get("url"),
            expires_at=parse_time(body.get("expires_at")),
            max_downloads=body.get("max_downloads"),
            downloads=int(body.get("downloads") or 0),
            raw=body,
        )


@dataclass(frozen=True)
class RunSeal:
    """A sealed run's manifest and the signature over its RFC 8785 canonical JSON."""

    manifest: dict[str, Any]
    algorithm: str
    key_id: str
    signature: str  # base64
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> RunSeal:
        signature = body.get("signature") or {}
        return cls(
            manifest=dict(body["manifest"]),
            algorithm=str(signature.get("algorithm") or ""),
            key_id=str(signature.get("key_id") or ""),
            signature=str(signature.get("value") or ""),
            raw=body,
        )
