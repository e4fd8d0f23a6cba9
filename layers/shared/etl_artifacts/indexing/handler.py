"""IndexerFunction: SQS batches of S3 "Object Created" events -> index the phase attempts.

One SQS message = one unit of work: Powertools' ``BatchProcessor`` reports the messages that
raised in ``batchItemFailures`` (``ReportBatchItemFailures``), so SQS retries only those and,
after ``maxReceiveCount``, moves them to the dead-letter queue. Outcomes per object:

- indexed: metrics ``RowsIndexed``, ``IndexBytesWritten``, ``IndexDurationMs``;
- attempt without metadata.parquet: a no-op with a log line (not an error);
- key outside a tenant run's ``…/attempt=N/metadata.parquet``, or another bucket than
  ``ARTIFACTS_BUCKET``: refused with a warning and never retried (it can only fail again);
- index already current (a build queued twice, an event delivered again): skipped, a log line;
- data that would decode past ``DECODE_MAX_BYTES`` (a decompression bomb, docs/limits.md): a
  logged permanent failure (metric ``IndexRefusedTooExpensive``), reported as processed: retrying
  can only fail again;
- S3 failure or an unreadable data chunk: the message fails (retried, then DLQ).

A direct S3 notification event (no SQS) is processed the same way; a failure raises so the
asynchronous invocation is retried.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from etl_artifacts.config import get_settings, require_bucket
from etl_artifacts.deadline import invocation_deadline
from etl_artifacts.errors import TooExpensive, UnreadableEvent
from etl_artifacts.indexing.events import ObjectRef, is_sqs_batch, objects_in, parse_body
from etl_artifacts.observability import logger, metrics
from etl_artifacts.s3.layout import parse_metadata_key

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
_pool_configured = False


def _configure_once() -> None:
    global _pool_configured
    if not _pool_configured:
        from etl_artifacts.indexing.builder import use_indexer_memory_pool

        use_indexer_memory_pool()
        _pool_configured = True


def index_object(ref: ObjectRef) -> bool:
    """Index the attempt whose metadata.parquet ``ref`` names; ``False`` when refused or no-op."""
    try:
        return _index_object(ref)
    except TooExpensive:
        logger.error(
            "indexing refused: the data decodes past DECODE_MAX_BYTES", extra={"error_type": "TooExpensive"}
        )
        metrics.add_metric(name="IndexRefusedTooExpensive", unit=MetricUnit.Count, value=1)
        return False
    except Exception as exc:
        # Type only: driver messages name the bucket and key.
        logger.error("indexing failed", extra={"error_type": type(exc).__name__})
        metrics.add_metric(name="IndexFailures", unit=MetricUnit.Count, value=1)
        raise


def _index_object(ref: ObjectRef) -> bool:
    from etl_artifacts.indexing.builder import index_attempt

    settings = get_settings()
    if ref.bucket != require_bucket(settings):
        logger.warning("event for another bucket refused")
        metrics.add_metric(name="IndexRequestsRefused", unit=MetricUnit.Count, value=1)
        return False
    location = parse_metadata_key(ref.key, settings.artifacts_prefix)
    if location is None:
        logger.warning("key is not a phase attempt's metadata.parquet under a tenant run; refused")
        metrics.add_metric(name="IndexRequestsRefused", unit=MetricUnit.Count, value=1)
        return False
    logger.append_keys(phase=location.phase, attempt=location.attempt)
    try:
        result = index_attempt(ref.bucket, location)
    finally:
        logger.remove_keys(["phase", "attempt"])
    if result is None or result.skipped:
        return False
    metrics.add_metric(name="RowsIndexed", unit=MetricUnit.Count, value=result.rows)
    metrics.add_metric(name="IndexBytesWritten", unit=MetricUnit.Bytes, value=result.bytes_written)
    metrics.add_metric(name="IndexDurationMs", unit=MetricUnit.Milliseconds, value=result.seconds * 1000)
    return True


def record_handler(record: SQSRecord) -> int:
    try:
        payload = parse_body(record.body)
    except UnreadableEvent:
        logger.warning("SQS message body is not JSON; ignored")
        return 0
    indexed = 0
    for ref in objects_in(payload):
        indexed += int(index_object(ref))
    return indexed


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    _configure_once()
    metrics.add_metric(name="IndexerInvocations", unit=MetricUnit.Count, value=1)
    # A build that cannot finish stops at a deadline check (a failed message, retried) before
    # Lambda would kill the whole batch.
    with invocation_deadline(context):
        return _handle(event, context)


def _handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if is_sqs_batch(event):
        response = process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
        return dict(response)
    # A direct S3 notification / EventBridge invocation: nothing to report per item, so a failure
    # raises (the asynchronous invocation is retried).
    indexed = sum(int(index_object(ref)) for ref in objects_in(event))
    return {"indexed": indexed, "batchItemFailures": []}
