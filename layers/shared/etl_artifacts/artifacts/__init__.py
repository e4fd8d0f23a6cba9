"""Artifacts family: list a run's parquet objects with presigned GET URLs, presign one artifact.

``models`` (pydantic only) is what the route module imports at load time; ``presign`` and
``service`` pull in botocore lazily, so building the merged OpenAPI document stays cheap.
This package never imports pyarrow.
"""
