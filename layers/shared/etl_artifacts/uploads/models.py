"""Pydantic models of uploaded artifacts (docs/uploads.md): the record, the create body, the
upload instructions and the list page.

The create body is validated here, field by field, with pydantic's error shape (a 422 whose ``loc``
names the field). What depends on configuration (``UPLOAD_MAX_BYTES``, ``ARTIFACT_MAX_TTL_DAYS``)
or on the database (``derived_from`` ids of the tenant) is checked by the service.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import re
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    SerializerFunctionWrapHandler,
    StrictBool,
    StrictStr,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import CoreSchema, core_schema

from etl_artifacts.uploads.ids import ARTIFACT_ID_PREFIX

ArtifactStatus = Literal["pending", "active", "deleted", "expired"]
STATUSES: tuple[str, ...] = ("pending", "active", "deleted", "expired")
Phase = Literal["extract", "transform", "load"]

MAX_NAME_CHARS = 255
MAX_METADATA_BYTES = 8 * 1024
MAX_DERIVED_FROM = 100
MAX_KEY_BYTES = 1024
INLINE_MAX_BYTES = 4 * 1024 * 1024
MAX_INT32 = 2_147_483_647
ARTIFACT_TYPE_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
_ARTIFACT_TYPE_RE = re.compile(r"\A[a-z0-9][a-z0-9_.-]{0,63}\Z")
_SHA256_RE = re.compile(r"\A[0-9a-fA-F]{64}\Z")
# RFC 9110, section 8.3.1: type "/" subtype *( OWS ";" OWS parameter ), tokens of tchar, values token or
# quoted-string.
_TCHARS = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = r'"(?:[\t !#-\[\]-~]|\\[\t !-~])*"'
_MEDIA_TYPE_RE = re.compile(rf"\A{_TCHARS}/{_TCHARS}(?:[ \t]*;[ \t]*{_TCHARS}=(?:{_TCHARS}|{_QUOTED}))*\Z")
MAX_CONTENT_TYPE_CHARS = 255


# The same rules as JSON Schema patterns, for the OpenAPI document (the validators above enforce them;
# pydantic's own regex engine has no surrogate ranges). Control characters: Unicode Cc; lone
# surrogates cannot be stored as UTF-8.
_NOT_CONTROL = r"\x00-\x1f\x7f-\x9f\ud800-\udfff"
MEDIA_TYPE_PATTERN = rf"{_TCHARS}/{_TCHARS}(?:[ \t]*;[ \t]*{_TCHARS}=(?:{_TCHARS}|{_QUOTED}))*"
NAME_PATTERN = f"^[^/\\\\{_NOT_CONTROL}]+$"
SHA256_PATTERN = "^[0-9a-fA-F]{64}$"
BASE64_PATTERN = "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
DERIVED_PATTERN = f"^(?!/)(?!.*//)(?!.*/$)(?!(?:.*/)?\\.\\.?(?:/|$))[^{_NOT_CONTROL}]{{1,1024}}$"
DEFAULT_UPLOAD_MAX_BYTES = 5 * 1024**3
DEFAULT_MAX_TTL_DAYS = 400


def _json_integer(value: Any) -> Any:
    """A JSON number with no fraction (``12.0``) is an integer, as JSON Schema counts it."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


@dataclass(frozen=True)
class JsonInt:
    """Annotation of a JSON integer within ``ge``..``le``: never a string or a boolean, and ``12.0``
    counts as 12. The bounds live on the integer schema itself, so the OpenAPI document states them
    as ``minimum``/``maximum`` (a bound set around a before-validator is documented as ``ge``)."""

    ge: int | None = None
    le: int | None = None

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_before_validator_function(
            _json_integer, core_schema.int_schema(ge=self.ge, le=self.le, strict=True)
        )


def is_media_type(value: str) -> bool:
    return len(value) <= MAX_CONTENT_TYPE_CHARS and _MEDIA_TYPE_RE.match(value) is not None


def _check_name(value: str) -> str:
    if "/" in value or "\\" in value:
        raise ValueError("name must not contain '/' or '\\'")
    if any(unicodedata.category(char) in ("Cc", "Cs") for char in value):
        raise ValueError("name must not contain control characters")
    return value


def check_derived_key(value: str) -> str:
    """A key relative to the run prefix: no absolute path, no dot segment, no control character."""
    segments = value.split("/")
    if (
        not value
        or len(value.encode()) > MAX_KEY_BYTES
        or value.startswith("/")
        or any(segment in ("", ".", "..") for segment in segments)
        or any(unicodedata.category(char) in ("Cc", "Cs") for char in value)
    ):
        raise ValueError(f"each entry must be a key under the run prefix or an {ARTIFACT_ID_PREFIX} id")
    return value


class CreateArtifactRequest(BaseModel):
    """The writable fields of a record and, for small files, the bytes inline."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[
        StrictStr,
        Field(min_length=1, max_length=MAX_NAME_CHARS, json_schema_extra={"pattern": NAME_PATTERN}),
    ]
    artifact_type: Annotated[StrictStr, Field(pattern=ARTIFACT_TYPE_PATTERN, examples=["report"])]
    content_type: Annotated[
        StrictStr,
        Field(
            max_length=MAX_CONTENT_TYPE_CHARS,
            examples=["text/markdown"],
            json_schema_extra={"pattern": f"^{MEDIA_TYPE_PATTERN}$"},
        ),
    ]
    size_bytes: Annotated[
        int,
        JsonInt(ge=0),
        Field(
            description="At most `UPLOAD_MAX_BYTES` (5 GiB unless configured).",
            json_schema_extra={"maximum": DEFAULT_UPLOAD_MAX_BYTES},
        ),
    ]
    sha256: Annotated[
        StrictStr,
        Field(
            description="64 hex digits: the SHA-256 of the bytes.",
            json_schema_extra={"pattern": SHA256_PATTERN},
        ),
    ]
    phase: Phase | None = None
    attempt: Annotated[int, JsonInt(ge=1, le=MAX_INT32)] | None = None
    is_primary_deliverable: StrictBool = False
    derived_from: Annotated[
        list[Annotated[StrictStr, Field(json_schema_extra={"pattern": DERIVED_PATTERN})]],
        Field(max_length=MAX_DERIVED_FROM),
    ] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict, description="A JSON object of at most 8 KiB.")
    ttl_days: (
        Annotated[
            int,
            JsonInt(ge=1),
            Field(
                description="At most `ARTIFACT_MAX_TTL_DAYS` (400 unless configured).",
                json_schema_extra={"maximum": DEFAULT_MAX_TTL_DAYS},
            ),
        ]
        | None
    ) = None
    content: StrictStr | None = Field(default=None, description="The bytes as UTF-8 text (at most 4 MiB).")
    content_base64: (
        Annotated[
            StrictStr,
            Field(
                description="The bytes in base64 (at most 4 MiB).",
                json_schema_extra={"pattern": BASE64_PATTERN},
            ),
        ]
        | None
    ) = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _check_name(value)

    @field_validator("content_type")
    @classmethod
    def _content_type(cls, value: str) -> str:
        if not is_media_type(value):
            raise ValueError("content_type must be a media type: type/subtype with optional parameters")
        return value

    @field_validator("sha256")
    @classmethod
    def _sha256(cls, value: str) -> str:
        if not _SHA256_RE.match(value):
            raise ValueError("sha256 must be 64 hexadecimal digits")
        return value.lower()

    @field_validator("derived_from")
    @classmethod
    def _derived_from(cls, value: list[str]) -> list[str]:
        return [check_derived_key(entry) for entry in value]

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(canonical_json(value)) > MAX_METADATA_BYTES:
            raise ValueError(f"metadata must be at most {MAX_METADATA_BYTES} bytes of JSON")
        return value

    @field_validator("content")
    @classmethod
    def _content(cls, value: str | None) -> str | None:
        if value is not None and len(value.encode("utf-8", "surrogatepass")) > INLINE_MAX_BYTES:
            raise ValueError("inline content is at most 4 MiB; upload larger files with the presigned URL")
        return value

    @field_validator("content_base64")
    @classmethod
    def _content_base64(cls, value: str | None) -> str | None:
        if value is None:
            return value
        # 4 MiB decoded is at most this much base64 (checked before decoding anything).
        if len(value) > (INLINE_MAX_BYTES + 2) // 3 * 4:
            raise ValueError("inline content is at most 4 MiB; upload larger files with the presigned URL")
        try:
            decoded = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("content_base64 must be standard base64") from None
        if len(decoded) > INLINE_MAX_BYTES:
            raise ValueError("inline content is at most 4 MiB; upload larger files with the presigned URL")
        return value

    @model_validator(mode="after")
    def _one_inline_form(self) -> CreateArtifactRequest:
        if self.content is not None and self.content_base64 is not None:
            raise ValueError("send either content or content_base64, not both")
        return self

    def inline_bytes(self) -> bytes | None:
        if self.content is not None:
            return self.content.encode("utf-8", "surrogatepass")
        if self.content_base64 is not None:
            return base64.b64decode(self.content_base64, validate=True)
        return None

    @property
    def derived_ids(self) -> list[str]:
        return [entry for entry in self.derived_from if entry.startswith(ARTIFACT_ID_PREFIX)]


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def request_fingerprint(run_path: list[str], body: CreateArtifactRequest) -> str:
    """What an Idempotency-Key is bound to: the run and the body's values (not their spelling)."""
    digest = hashlib.sha256(canonical_json(run_path))
    digest.update(b"\x00")
    digest.update(canonical_json(body.model_dump(mode="json")))
    return digest.hexdigest()


class ArtifactRecord(BaseModel):
    """An uploaded artifact as every route returns it."""

    artifact_id: str = Field(examples=["art_01JEXAMPLE0000000000000000"])
    dag_id: uuid.UUID
    date: dt.date
    run_id: str
    phase: str | None
    attempt: int | None
    name: str
    artifact_type: str
    content_type: str
    size_bytes: int
    sha256: str = Field(description="64 lower-case hex digits.")
    digest: str = Field(description="`sha256:<hex>`.")
    status: ArtifactStatus
    is_primary_deliverable: bool
    derived_from: list[str]
    metadata: dict[str, Any]
    created_at: dt.datetime
    created_by: str = Field(description="The `sub` of the token that created it.")
    expires_at: dt.datetime | None
    deleted_at: dt.datetime | None
    restorable_until: dt.datetime | None


class UploadInstructions(BaseModel):
    """How to send the bytes: a SigV4 presigned PUT that S3 accepts only with exactly these headers."""

    method: Literal["PUT"] = "PUT"
    url: str
    headers: dict[str, str] = Field(
        description="Send exactly these: `Content-Type`, `Content-Length`, `x-amz-checksum-sha256` (base64)."
    )
    expires_at: dt.datetime


class ArtifactView(ArtifactRecord):
    """A record plus, when active, a presigned GET ``url``; while pending, a fresh ``upload``."""

    url: str | None = Field(default=None, description="Presigned GET of the bytes (active only).")
    url_expires_at: dt.datetime | None = None
    upload: UploadInstructions | None = Field(
        default=None, description="Where to PUT the bytes (pending only)."
    )

    @model_serializer(mode="wrap")
    def _only_present_extras(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # The record's fields always (null included); url, url_expires_at and upload only when set.
        data: dict[str, Any] = handler(self)
        for name in _VIEW_EXTRAS:
            if data.get(name) is None:
                data.pop(name, None)
        return data


_VIEW_EXTRAS = ("url", "url_expires_at", "upload")


class DownloadRedirect(BaseModel):
    """The body of the download's 302 (its ``Location`` is ``url``)."""

    url: str
    expires_in: int
    expires_at: dt.datetime


class ArtifactListResponse(BaseModel):
    items: list[ArtifactView]
    next_cursor: str | None = Field(
        default=None, description="Send back as `cursor` (same filters) for the next page; null at the end."
    )
