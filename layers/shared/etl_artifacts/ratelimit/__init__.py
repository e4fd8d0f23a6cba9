"""Per-tenant limits (docs/limits.md, "Rate limits"): requests per second and concurrent scans,
counted across every function instance in a DynamoDB table; fail open when it is unavailable.

Importing this package is cheap (no boto3: the client is created by the first count).

- ``limit_store``: ``LimitStore`` — the table's fixed-window counters (sharded) and scan leases.
- ``tenant_gate``: ``invocation_gate`` (opened by ``api.entry.lambda_entry`` for every tenant
  request) and ``scan_lease`` (around expensive work).
"""
