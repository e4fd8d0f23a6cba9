"""Queue an index build for an attempt that has no current index (docs/limits.md "Deadline").

The message is the EventBridge ``Object Created`` event the indexer already receives for a new
``metadata.parquet`` (``etl_artifacts.indexing.events``), sent to ``INDEX_QUEUE_URL``: the
indexer cannot tell it from S3's own, so nothing new is trusted on its side.
"""

from __future__ import annotations

import json
import time

from etl_artifacts.clients import sqs_client
from etl_artifacts.config import get_settings
from etl_artifacts.observability import logger
from etl_artifacts.s3.artifact_store import ArtifactStore
from etl_artifacts.s3.attempts import AttemptObjects


def index_build_message(bucket: str, metadata_key: str) -> str:
    return json.dumps(
        {
            "version": "0",
            "source": "aws.s3",
            "detail-type": "Object Created",
            "detail": {
                "bucket": {"name": bucket},
                "object": {"key": metadata_key},
                "reason": "etl-artifacts",
            },
        },
        separators=(",", ":"),
    )


def _first_in_window(store: ArtifactStore, objects: AttemptObjects, window_s: int) -> bool:
    """True (and remembered) unless a build for these very chunks was queued within the window.

    ``store.recent_builds``: per attempt, its data chunks as listed and when the build was queued.
    """
    sources, now = objects.sources_json(), time.monotonic()
    return store.recent_builds.put_unless(
        objects.prefix, (sources, now), lambda seen: seen[0] == sources and now - seen[1] < window_s
    )


def queue_index_build(store: ArtifactStore, objects: AttemptObjects) -> bool:
    """Send one build request for ``objects``' attempt; ``False`` when not configured or refused.

    Called only for an attempt without a current index. Not sent again for the same data chunks
    within ``INDEX_QUEUE_DEDUP_S`` (docs/limits.md "Index builds"): ``True`` then too, a build is
    on its way. Best effort: a failure is logged (type only) and the caller still answers its 503.
    """
    settings = get_settings()
    queue_url = settings.index_queue_url
    if not queue_url or objects.metadata is None:
        # No queue, or an attempt still running: the indexer builds on metadata.parquet only.
        return False
    if not _first_in_window(store, objects, settings.index_queue_dedup_s):
        return True
    try:
        sqs_client().send_message(
            QueueUrl=queue_url, MessageBody=index_build_message(objects.bucket, objects.metadata.key)
        )
    except Exception as exc:  # botocore errors, timeouts: the 503 stands without the build
        logger.warning("index build not queued", extra={"error_type": type(exc).__name__})
        store.recent_builds.pop(objects.prefix)  # the next request tries again
        return False
    return True
