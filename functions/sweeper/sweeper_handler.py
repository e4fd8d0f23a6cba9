"""SweeperFunction entry point (EventBridge Scheduler): the logic lives in the shared layer package."""

from etl_artifacts.lifecycle.sweeper import lambda_handler

__all__ = ["lambda_handler"]
