"""Artifacts logic: one LIST page of the run prefix, or one HEAD, plus local presigning.

S3 is reached only through the ``ArtifactStore`` (its boto3 client, bucket and prefix, taken once
per request); botocore failures become ``StorageError`` through ``etl_artifacts.storage_errors``.
A HEAD answering 404 is an absent artifact, not a failure.
"""

from __future__ import annotations

from typing import Any

from etl_artifacts.artifacts.listing_cursor import decode_cursor, encode_cursor
from etl_artifacts.artifacts.models import (
    DEFAULT_LIST_LIMIT,
    ArtifactItem,
    PresignedUrlResponse,
    RunArtifactsResponse,
)
from etl_artifacts.artifacts.presign import GetObjectPresigner, download_filename, tenant_presigner
from etl_artifacts.errors import ArtifactNotFound
from etl_artifacts.s3.artifact_store import ArtifactStore, artifact_store
from etl_artifacts.s3.layout import RunRef, key_for_kind, parquet_artifact
from etl_artifacts.s3.listing import strip_etag
from etl_artifacts.storage_errors import storage_errors

_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


def _presigner(store: ArtifactStore, run: RunRef, expires_in: int) -> GetObjectPresigner:
    tenant_prefix = f"{store.prefix}{run.id_company}/"
    return tenant_presigner(store, tenant_prefix, expires_in)


def _list_page(store: ArtifactStore, prefix: str, limit: int, start_after: str | None) -> dict[str, Any]:
    """ONE ``ListObjectsV2`` call: at most ``limit`` keys after ``start_after``, in key order."""
    params: dict[str, Any] = {"Bucket": store.bucket, "Prefix": prefix, "MaxKeys": limit}
    if start_after is not None:
        params["StartAfter"] = start_after
    with storage_errors("artifacts LIST"):
        return dict(store.s3.list_objects_v2(**params))


def list_run_artifacts(
    run: RunRef, limit: int = DEFAULT_LIST_LIMIT, cursor: str | None = None
) -> RunArtifactsResponse:
    """One page of the run's ``.parquet`` objects, sorted by key, each with a presigned GET URL.

    A page is one S3 LIST of at most ``limit`` keys (S3 returns keys in order), so a response's
    cost and size are bounded whatever the run holds; objects that are not parquet use up their
    place in the page, so ``count`` may be below ``limit`` while ``next_cursor`` is set. A run
    without objects (including another tenant's run: the prefix is the caller's) is an empty list,
    never an error.
    """
    store = artifact_store()
    prefix = run.prefix(store.prefix)
    after = None if cursor is None else prefix + decode_cursor(run, limit, cursor)
    page = _list_page(store, prefix, limit, after)
    contents: list[dict[str, Any]] = page.get("Contents", [])
    objects = [item for item in contents if item["Key"].endswith(".parquet")]
    items: list[ArtifactItem] = []
    # Signing is local, but botocore can still fail (e.g. no credentials to sign with).
    with storage_errors("presign"):
        presigner = _presigner(store, run, store.settings.presign_default_ttl)
        for item in objects:
            ref = parquet_artifact(item["Key"][len(prefix) :])
            signed = presigner.presign(item["Key"], download_filename(run, ref))
            items.append(
                ArtifactItem(
                    key=ref.key,
                    artifact_kind=ref.artifact_kind,
                    phase=ref.phase,
                    attempt=ref.attempt,
                    chunk=ref.chunk,
                    size_bytes=int(item.get("Size", 0)),
                    last_modified=item["LastModified"],
                    etag=strip_etag(item.get("ETag")),
                    url=signed.url,
                    expires_at=signed.expires_at,
                )
            )
    next_cursor = None
    if page.get("IsTruncated") and contents:
        next_cursor = encode_cursor(run, limit, contents[-1]["Key"][len(prefix) :])
    return RunArtifactsResponse(
        dag_id=str(run.dag_id),
        date=run.run_date,
        run_id=run.run_id,
        count=len(items),
        artifacts=items,
        next_cursor=next_cursor,
    )


def _head(store: ArtifactStore, key: str) -> dict[str, Any]:
    from botocore.exceptions import ClientError

    with storage_errors("artifact HEAD"):
        try:
            return dict(store.s3.head_object(Bucket=store.bucket, Key=key))
        except ClientError as exc:
            error = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if str(error.get("Code")) in _NOT_FOUND_CODES or status == 404:
                raise ArtifactNotFound() from exc
            raise


def presign_run_artifact(
    run: RunRef, artifact_kind: str, attempt: int, chunk: int, expires_in: int
) -> PresignedUrlResponse:
    """A presigned GET URL for one artifact (a kind the route has checked), after a HEAD that
    proves it exists.

    ``attempt`` is ignored for event kinds, ``chunk`` for kinds that are not chunked.
    """
    store = artifact_store()
    relative = key_for_kind(artifact_kind, attempt, chunk)
    key = run.prefix(store.prefix) + relative
    head = _head(store, key)
    ref = parquet_artifact(relative)
    with storage_errors("presign"):
        signed = _presigner(store, run, expires_in).presign(key, download_filename(run, ref))
    return PresignedUrlResponse(
        url=signed.url,
        expires_in=signed.expires_in,
        expires_at=signed.expires_at,
        artifact_kind=artifact_kind,
        key=relative,
        size_bytes=int(head.get("ContentLength", 0)),
        last_modified=head["LastModified"],
        etag=strip_etag(head.get("ETag")),
    )
