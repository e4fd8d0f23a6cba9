"""Helpers for tests/test_layer_build.py: find a python3.13, and a probe that runs inside a built layer.

The probe (``python3.13 -I -S tests/layer_helpers.py ...``) sees what a Lambda function sees:
its code directory, then the layer's ``python/`` folder, then the interpreter's standard library,
then a "runtime" folder standing in for the SDK the Lambda runtime ships (boto3, botocore,
s3transfer, urllib3). ``-I -S`` keep this virtualenv and every site-packages out. It therefore
uses only the standard library until it has set up that path, and prints one JSON report.
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import os
import pkgutil
import shutil
import subprocess
import sys
import tempfile
import traceback
import uuid
from pathlib import Path
from typing import Any

# Packages the Lambda python runtime provides; the layer must not ship them.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "urllib3")
SAMPLE_PATH_VALUES = {
    "dag_id": "0b6f3c1e-2d4a-4f7b-9c8e-1a2b3c4d5e6f",
    "date": "2026-11-20",
    "run_id": "manual__2026-11-20T10%3A15%3A30.123456%2B00%3A00",
    "phase": "extract",
    "artifact_kind": "extract-data",
}


# --- Used by the tests (virtualenv side) ---------------------------------------------------------


def find_python313() -> str | None:
    """A working python3.13: on PATH, or under pyenv's versions (its shim may point elsewhere)."""
    candidates = [shutil.which("python3.13")]
    pyenv = shutil.which("pyenv")
    if pyenv:
        root = subprocess.run([pyenv, "root"], capture_output=True, text=True, check=False).stdout.strip()
        if root:
            candidates += sorted(str(p) for p in Path(root, "versions").glob("3.13*/bin/python3.13"))
    for candidate in candidates:
        if not candidate:
            continue
        probe = subprocess.run(
            [candidate, "-I", "-S", "-c", "import sys; print(sys.version_info[:2] == (3, 13))"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == "True":
            return candidate
    return None


def runtime_sdk_dir(target: Path) -> Path:
    """A folder holding what the Lambda runtime provides, linked from this virtualenv."""
    import importlib.util

    target.mkdir(parents=True, exist_ok=True)
    for name in RUNTIME_PROVIDED:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.submodule_search_locations, name
        link = target / name
        if not link.exists():
            link.symlink_to(Path(next(iter(spec.submodule_search_locations))), target_is_directory=True)
    return target


def run_probe(
    python: str, *, function_dir: Path, handler: str, layer: Path, runtime: Path, routes: list[list[str]],
    libraries: bool, env: dict[str, str],
) -> dict[str, Any]:  # fmt: skip
    command = [
        python, "-I", "-S", __file__,
        "--function-dir", str(function_dir), "--handler", handler,
        "--layer", str(layer), "--runtime", str(runtime), "--routes", json.dumps(routes),
    ]  # fmt: skip
    if libraries:
        command.append("--libraries")
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, check=False)
    assert result.returncode == 0, f"probe crashed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


# --- The probe (python3.13 side: standard library until the layer is on the path) ----------------


class _Context:
    """The attributes of the Lambda context object that Powertools reads."""

    function_name = "probe"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:probe"
    log_group_name = "/aws/lambda/probe"
    log_stream_name = "probe"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def _http_event(method: str, path_template: str) -> dict[str, Any]:
    params = {name: SAMPLE_PATH_VALUES[name] for name in SAMPLE_PATH_VALUES if f"{{{name}}}" in path_template}
    # Decoded, as API Gateway hands it over (docs/limits.md).
    raw_path = path_template.format(**params).replace("%3A", ":").replace("%2B", "+")
    query = {"date_from": "2026-11-01", "date_to": "2026-11-30"} if path_template.endswith("/runs") else {}
    authorizer = {"id_company": "probe-co", "sub": "probe", "expires_at": "2099-01-01T00:00:00+00:00"}
    return {
        "version": "2.0",
        "routeKey": f"{method} {path_template}",
        "rawPath": raw_path,
        "rawQueryString": "&".join(f"{k}={v}" for k, v in query.items()),
        "queryStringParameters": query or None,
        "pathParameters": {k: v.replace("%3A", ":").replace("%2B", "+") for k, v in params.items()} or None,
        "headers": {"accept": "application/json", "host": "probe"},
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "probe",
            "authorizer": {"lambda": authorizer},
            "domainName": "probe",
            "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "requestId": str(uuid.uuid4()),
            "routeKey": f"{method} {path_template}",
            "stage": "$default",
            "time": "20/Nov/2026:10:15:30 +0000",
            "timeEpoch": 1795169730000,
        },
        "isBase64Encoded": False,
    }


def _invoke_routes(handler: Any, routes: list[list[str]]) -> list[dict[str, Any]]:
    answers = []
    for method, path in routes:
        result = handler(_http_event(method, path), _Context())
        answer = {"route": f"{method} {path}", "status": result.get("statusCode")}
        answers.append({**answer, "body": str(result.get("body"))[:300]})
    return answers


def _invoke_authorizer(handler: Any) -> dict[str, Any]:
    import jwt  # from the layer

    now = int(__import__("time").time())
    token = jwt.encode({"id_company": "probe-co", "sub": "probe", "exp": now + 600}, os.environ["JWT_SECRET"])
    allowed = handler({"type": "REQUEST", "headers": {"authorization": f"Bearer {token}"}}, _Context())
    refused = handler({"type": "REQUEST", "headers": {"authorization": "Bearer not-a-jwt"}}, _Context())
    return {"allowed": allowed, "refused": refused}


def _exercise_libraries(layer: Path) -> dict[str, Any]:
    """Import every module of our package and use each third-party library the functions use."""
    import etl_artifacts

    failures: dict[str, str] = {}
    modules = [m.name for m in pkgutil.walk_packages(etl_artifacts.__path__, "etl_artifacts.")]
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:
            failures[name] = traceback.format_exc(limit=3)

    checks: dict[str, Any] = {}
    import decimal
    from datetime import UTC, datetime

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds
    import pyarrow.fs
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "id": pa.array([1, 2, 3], pa.int64()),
            "at": pa.array([datetime(2026, 11, 20, tzinfo=UTC)] * 3, pa.timestamp("us", tz="UTC")),
            "amount": pa.array([decimal.Decimal("1.50")] * 3, pa.decimal128(10, 2)),
            "tags": pa.array([["a"], [], None], pa.list_(pa.string())),
            "text": pa.array(["Needle", "hay", None]),
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=2)
    parquet = pq.ParquetFile(io.BytesIO(sink.getvalue()))
    checks["row_groups"] = parquet.metadata.num_row_groups
    back = parquet.read_row_group(1)
    checks["roundtrip"] = back.column("id").to_pylist()
    checks["match"] = pc.sum(pc.match_substring(pc.utf8_lower(table["text"]), "needle")).as_py()
    with tempfile.TemporaryDirectory() as tmp:
        pq.write_table(table, f"{tmp}/part.parquet")
        checks["dataset_rows"] = ds.dataset(tmp, format="parquet").count_rows()

    # pyarrow's own S3 client and boto3 (from the runtime folder) against the test S3 server.
    from etl_artifacts.clients import s3_client
    from etl_artifacts.config import get_settings
    from etl_artifacts.s3.artifact_store import artifact_store

    bucket, key = get_settings().artifacts_bucket, f"layer-probe/{uuid.uuid4()}.parquet"
    pq.write_table(table, f"{bucket}/{key}", filesystem=artifact_store().filesystem)
    with artifact_store().filesystem.open_input_file(f"{bucket}/{key}") as handle:
        checks["s3_rows"] = pq.ParquetFile(handle).metadata.num_rows
    checks["s3_head_bytes"] = s3_client().head_object(Bucket=bucket, Key=key)["ContentLength"]
    s3_client().delete_object(Bucket=bucket, Key=key)

    # Postgres through pg8000 (scramp/asn1crypto) and the project's reconnecting wrapper.
    from etl_artifacts.postgres.db import get_database

    checks["db"] = get_database().run("SELECT 1 AS one")[0][0][0] if os.environ.get("DATABASE_URL") else None

    # JWKS algorithms need cryptography's compiled bindings.
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    for name, key_obj in (
        ("RS256", rsa.generate_private_key(65537, 2048)),
        ("ES256", ec.generate_private_key(ec.SECP256R1())),
    ):
        token = jwt.encode({"sub": "x"}, key_obj, algorithm=name)
        checks[name] = jwt.decode(token, key_obj.public_key(), algorithms=[name])["sub"]

    # The X-Ray SDK behind Powertools' Tracer (functions run with Tracing: Active).
    import aws_xray_sdk.core  # noqa: F401
    from aws_lambda_powertools import Tracer
    from aws_lambda_powertools.utilities import parameters  # noqa: F401  (DB secret)

    Tracer(service="probe", auto_patch=False)
    checks["tracer"] = True
    return {"modules": modules, "failures": failures, "checks": checks}


def _origins(function_dir: Path, layer: Path, runtime: Path) -> dict[str, list[str]]:
    """Where each loaded module came from; 'elsewhere' must stay empty (no leaks from a venv)."""
    stdlib = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve()}
    buckets: dict[str, list[str]] = {
        "function": [],
        "layer": [],
        "runtime": [],
        "stdlib": [],
        "elsewhere": [],
    }
    for name, module in sorted(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not file or "." in name or name in ("__main__", "__mp_main__"):
            continue
        path = Path(file).resolve()
        for bucket, root in (("function", function_dir), ("layer", layer), ("runtime", runtime)):
            if path.is_relative_to(root.resolve()) or Path(file).is_relative_to(root):
                buckets[bucket].append(name)
                break
        else:
            is_stdlib = (
                any(path.is_relative_to(root) for root in stdlib) and "site-packages" not in path.parts
            )
            buckets["stdlib" if is_stdlib else "elsewhere"].append(f"{name}={file}")
    return buckets


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--function-dir", type=Path, required=True)
    parser.add_argument("--handler", required=True)
    parser.add_argument("--layer", type=Path, required=True)
    parser.add_argument("--runtime", type=Path, required=True)
    parser.add_argument("--routes", default="[]")
    parser.add_argument("--libraries", action="store_true")
    args = parser.parse_args()

    # Lambda's order: function code, the layer, the standard library, the runtime's SDK.
    sys.path[:0] = [str(args.function_dir), str(args.layer)]
    sys.path.append(str(args.runtime))
    report: dict[str, Any] = {"python": list(sys.version_info[:3])}
    module_name, attribute = args.handler.rsplit(".", 1)
    handler = getattr(importlib.import_module(module_name), attribute)
    report["imported"] = sorted(name for name in sys.modules if "." not in name)
    routes = json.loads(args.routes)
    if routes:
        report["answers"] = _invoke_routes(handler, routes)
    if module_name == "authorizer_handler":
        report["authorizer"] = _invoke_authorizer(handler)
    if args.libraries:
        report["libraries"] = _exercise_libraries(args.layer)
    report["origins"] = _origins(args.function_dir, args.layer, args.runtime)
    print(json.dumps(report, default=str))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
