"""ETL Run Artifacts API: the shared layer package used by every Lambda function."""

__version__ = "0.1.0"
