"""Queue an index build for an attempt that has no current index (CONTRACT §9 "Deadline").

The message is the EventBridge ``Object Created`` event the indexer already receives for a new
``metadata.parquet`` (``etl_artifacts.indexing.events``), sent to ``INDEX_QUEUE_URL``: the
indexer cannot tell it from S3's own, so nothing new is trusted on its side.
"""

from __future__ import annotations

import json

from etl_artifacts.attempts import AttemptObjects
from etl_artifacts.config import get_settings
from etl_artifacts.observability import logger


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


def queue_index_build(objects: AttemptObjects) -> bool:
    """Send one build request for ``objects``' attempt; ``False`` when not configured or refused.

    Best effort: a failure is logged (type only) and the caller still answers its 503.
    """
    queue_url = get_settings().index_queue_url
    if not queue_url or objects.metadata is None:
        # No queue, or an attempt still running: the indexer builds on metadata.parquet only.
        return False
    from etl_artifacts.clients import sqs_client

    try:
        sqs_client().send_message(
            QueueUrl=queue_url, MessageBody=index_build_message(objects.bucket, objects.metadata.key)
        )
    except Exception as exc:  # botocore errors, timeouts: the 503 stands without the build
        logger.warning("index build not queued", extra={"error_type": type(exc).__name__})
        return False
    return True
