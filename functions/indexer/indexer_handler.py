"""IndexerFunction entry point: the logic lives in the shared layer package."""

from etl_artifacts.indexing.handler import lambda_handler

__all__ = ["lambda_handler"]
