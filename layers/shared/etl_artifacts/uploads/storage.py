"""The S3 side of uploaded artifacts: presigned PUTs that S3 itself checks, small PUTs, HEAD with
the checksum, GET, DELETE, and presigned GETs that download under the artifact's name.

Keys are only ever ``{run prefix}uploads/{artifact_id}`` (built by ``upload_key``), never a client
path. botocore failures become ``StorageError`` through ``etl_artifacts.storage_errors``; nothing
logs a key or a URL.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from etl_artifacts.artifacts.presign import SignedUrl, signed_url
from etl_artifacts.clients import s3_client
from etl_artifacts.config import get_settings
from etl_artifacts.s3.layout import RunRef
from etl_artifacts.storage_errors import storage_errors
from etl_artifacts.uploads.models import UploadInstructions

UPLOADS_DIR = "uploads/"
_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
_FALLBACK_FILENAME_CHARS = re.compile(r"[^A-Za-z0-9._ ()-]+")


def upload_key(run: RunRef, artifact_id: str, artifacts_prefix: str) -> str:
    return f"{run.prefix(artifacts_prefix)}{UPLOADS_DIR}{artifact_id}"


def sha256_base64(sha256_hex: str) -> str:
    """The form S3 takes and returns in ``x-amz-checksum-sha256``."""
    return base64.b64encode(bytes.fromhex(sha256_hex)).decode("ascii")


def content_disposition(name: str) -> str:
    """``attachment`` with the artifact's name: an ASCII fallback and the exact name (RFC 6266, 8187)."""
    fallback = _FALLBACK_FILENAME_CHARS.sub("_", name).strip() or "download"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


@dataclass(frozen=True)
class StoredObject:
    size_bytes: int
    sha256_base64: str | None  # None: S3 holds no SHA-256 checksum for the object


def _is_not_found(exc: Any) -> bool:
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return str(error.get("Code")) in _NOT_FOUND_CODES or status == 404


class UploadStorage:
    """One bucket's uploaded objects, through the function's S3 client."""

    def __init__(self, bucket: str) -> None:
        self.bucket = bucket

    def presign_put(
        self, key: str, content_type: str, size_bytes: int, sha256_hex: str, expires_in: int
    ) -> UploadInstructions:
        """A SigV4 presigned PUT whose signed headers are the type, the length and the SHA-256:
        S3 refuses a request that changes any of them, and bytes that do not hash to it (BadDigest)."""
        checksum = sha256_base64(sha256_hex)
        with storage_errors("uploads presign_put"):
            url = s3_client().generate_presigned_url(
                "put_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": key,
                    "ContentType": content_type,
                    "ContentLength": size_bytes,
                    "ChecksumSHA256": checksum,
                },
                ExpiresIn=expires_in,
            )
        signed = signed_url(url, expires_in)
        return UploadInstructions(
            url=signed.url,
            headers={
                "Content-Type": content_type,
                "Content-Length": str(size_bytes),
                "x-amz-checksum-sha256": checksum,
            },
            expires_at=signed.expires_at,
        )

    def put(self, key: str, data: bytes, content_type: str, sha256_hex: str) -> None:
        """A small object in one PUT, checked by S3 against its SHA-256."""
        with storage_errors("uploads put"):
            s3_client().put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentType=content_type,
                # The algorithm named as well as the value: S3 then keeps the checksum for HEAD.
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=sha256_base64(sha256_hex),
            )

    def head(self, key: str) -> StoredObject | None:
        """Size and SHA-256 as S3 holds them (checksum mode), or ``None`` when there is no object."""
        from botocore.exceptions import ClientError

        with storage_errors("uploads head"):
            try:
                answer = s3_client().head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
            except ClientError as exc:
                if _is_not_found(exc):
                    return None
                raise
        checksum = answer.get("ChecksumSHA256")
        # A multipart object's checksum is a checksum of part checksums ("...-N"): not the file's.
        if checksum is not None and (
            answer.get("ChecksumType", "FULL_OBJECT") != "FULL_OBJECT" or "-" in checksum
        ):
            checksum = None
        return StoredObject(size_bytes=int(answer.get("ContentLength", 0)), sha256_base64=checksum)

    def get(self, key: str) -> bytes | None:
        from botocore.exceptions import ClientError

        with storage_errors("uploads get"):
            try:
                answer = s3_client().get_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                if _is_not_found(exc):
                    return None
                raise
            body = answer["Body"]
            try:
                return bytes(body.read())
            finally:
                body.close()

    def delete(self, key: str) -> None:
        with storage_errors("uploads delete"):
            s3_client().delete_object(Bucket=self.bucket, Key=key)

    def presign_get(self, run: RunRef, key: str, name: str, content_type: str, expires_in: int) -> SignedUrl:
        """A GET URL that downloads as an attachment named ``name`` with the recorded type.

        Signed like the run artifacts' URLs: with a role session narrowed to the caller's tenant
        when one is configured (``presign_credentials``), and valid no longer than it.
        """
        from etl_artifacts.artifacts.presign_credentials import signing_identity
        from etl_artifacts.s3.artifact_store import artifact_store

        tenant_prefix = f"{get_settings().artifacts_prefix}{run.id_company}/"
        with storage_errors("uploads presign_get"):
            identity = signing_identity(artifact_store(), self.bucket, tenant_prefix, expires_in)
            lifetime = identity.lifetime(expires_in)
            url = identity.client.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": key,
                    "ResponseContentDisposition": content_disposition(name),
                    "ResponseContentType": content_type,
                },
                ExpiresIn=lifetime,
            )
        return signed_url(url, lifetime)
