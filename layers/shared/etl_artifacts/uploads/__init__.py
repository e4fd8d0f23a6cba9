"""Artifacts tenants attach to a run (docs/uploads.md): the record, its storage and its S3 bytes."""
