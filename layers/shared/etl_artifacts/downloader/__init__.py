"""``etl-artifacts download``: a whole run's artifacts through the API (CONTRACT §11).

A consumer's tool, not part of any Lambda function: it needs ``requests`` and ``rich`` (the ``cli``
extra), never bucket credentials. It talks to the API only; the bytes come from the presigned URLs
the API hands out.

- ``api``: the API client (listing pages through ``next_cursor``, fresh URLs for one artifact).
- ``transfer``: one file: skip when verified, resume with a ranged GET, verify size and MD5,
  write atomically, re-ask for an expired URL, bounded retries.
- ``command``: the argparse command, the parallel pool, the progress bar and the summary.
"""
