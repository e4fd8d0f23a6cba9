"""The indexer (docs/architecture.md): builds ``index.parquet`` and ``index_trigrams.parquet`` for a
completed phase attempt. ``builder`` does the work; ``events`` reads the trigger events;
``handler`` is the Lambda entry point (SQS batch with partial failures)."""
