"""Benchmark suite of the ETL Run Artifacts API: ``python -m bench --help``.

Benchmarks are not tests: they print numbers and check targets, they never fail on a time.
Each scenario module exposes ``run(smoke: bool) -> {"rows": [...], "targets": [...]}``.
"""
