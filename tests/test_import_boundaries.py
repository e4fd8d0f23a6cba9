"""Cold start is paid in imports (scenario 6): which heavy libraries each function loads.

Each case starts a fresh interpreter, imports one function's handler module the way Lambda does
(its CodeUri on sys.path), and lists the top-level modules that import pulled in. Meta, Runs and
the authorizer must load neither pyarrow nor the AWS SDK; Artifacts needs boto3 but not pyarrow;
Phases (and the indexer) may load both. Times are measured in bench/, not asserted here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from etl_artifacts_local.template import TemplateSpec, load_template

REPO_ROOT = Path(__file__).resolve().parents[1]
PYARROW = {"pyarrow"}
# botocore's bare package is allowed everywhere: Powertools' package __init__ imports it to decide
# whether to add its User-Agent hook (~0.5 ms, nothing of the SDK). Its submodules (session,
# client, ...) and boto3 are the cost that must not be paid where S3 is never used.
AWS_SDK = {"boto3", "botocore.*", "s3transfer"}
# Function -> top-level modules its handler import must not load.
FORBIDDEN: dict[str, set[str]] = {
    "MetaFunction": PYARROW | AWS_SDK,
    "RunsFunction": PYARROW | AWS_SDK,
    "AuthorizerFunction": PYARROW | AWS_SDK,
    "ArtifactsFunction": PYARROW,
    "UploadsFunction": PYARROW,
    # The lifecycle routes reach boto3 (presigning, KMS, EventBridge) only inside a request.
    "LifecycleFunction": PYARROW | AWS_SDK,
    "LinksFunction": PYARROW | AWS_SDK,
    "SealFunction": PYARROW | AWS_SDK,
    "SweeperFunction": PYARROW,
    "PhasesFunction": set(),
    "IndexerFunction": set(),
}
SECRET = "boundary-test-secret-0123456789-abcdefghij"

# Runs in the fresh interpreter: import the handler, optionally exercise it, report sys.modules.
PROBE = textwrap.dedent(
    """
    import importlib, json, os, sys, time
    code_dir, module_name, exercise = sys.argv[1], sys.argv[2], sys.argv[3]
    sys.path.insert(0, code_dir)
    module = importlib.import_module(module_name)
    imported = sorted(sys.modules)
    answers = []
    if exercise == "meta":
        # The merged OpenAPI document loads every family's route module: still no heavy imports.
        class Context:
            function_name = "meta"; memory_limit_in_mb = 512; aws_request_id = "probe"
            invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:meta"
        for path in ("/api/v1/health", "/api/v1/openapi.json"):
            event = {"version": "2.0", "routeKey": "GET " + path, "rawPath": path, "rawQueryString": "",
                     "headers": {}, "isBase64Encoded": False,
                     "requestContext": {"http": {"method": "GET", "path": path, "sourceIp": "127.0.0.1"},
                                        "requestId": "probe", "routeKey": "GET " + path, "stage": "$default"}}
            answers.append(module.lambda_handler(event, Context())["statusCode"])
    elif exercise == "authorizer":
        import jwt
        token = jwt.encode({"id_company": "acme", "exp": int(time.time()) + 60}, os.environ["JWT_SECRET"])
        answers.append(module.lambda_handler({"headers": {"authorization": "Bearer " + token}}, None))
    after = sorted(sys.modules)
    print(json.dumps({"imported": imported, "after_requests": after, "answers": answers}))
    """
)


@pytest.fixture(scope="module")
def spec() -> TemplateSpec:
    return load_template(REPO_ROOT / "template.yaml")


def _loaded(forbidden: set[str], modules: list[str]) -> list[str]:
    """Modules of ``modules`` that ``forbidden`` names: "pkg" means pkg and its submodules,
    "pkg.*" only its submodules."""
    hits = []
    for name in modules:
        for rule in forbidden:
            if rule.endswith(".*"):
                if name.startswith(rule[:-1]):
                    hits.append(name)
            elif name == rule or name.startswith(rule + "."):
                hits.append(name)
    return sorted(set(hits))


def _lambda_environment(spec: TemplateSpec, logical_id: str) -> dict[str, str]:
    """The function's plain-string variables from the template (Globals, then its own), as in AWS."""
    variables = {
        **spec.raw["Globals"]["Function"]["Environment"]["Variables"],
        **spec.functions[logical_id].environment,
    }
    return {key: value for key, value in variables.items() if isinstance(value, str)}


def _probe(spec: TemplateSpec, logical_id: str, exercise: str = "") -> dict[str, Any]:
    function = spec.functions[logical_id]
    # What the function has in AWS (its template variables, inside Lambda) and nothing of the test
    # session: no local endpoints; a JWT key for the authorizer; metrics off to keep stdout clean.
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "DATABASE_", "JWT_"))
    }
    env.update(_lambda_environment(spec, logical_id))
    env.update(
        AWS_LAMBDA_FUNCTION_NAME=f"etl-artifacts-{logical_id}",
        JWT_SECRET=SECRET,
        ARTIFACTS_BUCKET="boundary-test",
        POWERTOOLS_METRICS_DISABLED="true",
        POWERTOOLS_LOG_LEVEL="WARNING",
    )
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(function.code_uri), function.module, exercise],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"importing {function.module} failed:\n{result.stderr[-3000:]}"
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


def test_every_function_has_a_boundary() -> None:
    assert set(FORBIDDEN) == set(load_template(REPO_ROOT / "template.yaml").functions)


@pytest.mark.parametrize("logical_id", sorted(FORBIDDEN))
def test_handler_import_stays_within_its_boundary(spec: TemplateSpec, logical_id: str) -> None:
    # When the function's handler module is imported in a fresh interpreter (a cold start)
    report = _probe(spec, logical_id)
    # Then the heavy libraries it has no use for are not loaded
    assert _loaded(FORBIDDEN[logical_id], report["imported"]) == []
    assert "etl_artifacts" in report["imported"]


def test_meta_serves_health_and_the_merged_openapi_without_pyarrow_or_boto3(spec: TemplateSpec) -> None:
    # Given a cold Meta function / When it answers /health and builds the merged OpenAPI document
    report = _probe(spec, "MetaFunction", "meta")
    # Then both answer and neither pyarrow nor boto3 got loaded (every route module imports cheaply)
    assert report["answers"] == [200, 200]
    assert _loaded(PYARROW | {"boto3", "s3transfer"}, report["after_requests"]) == []


def test_meta_first_request_does_not_load_the_aws_sdk(spec: TemplateSpec) -> None:
    # Powertools' Tracer imports aws_xray_sdk.core, whose sampler imports botocore's session and
    # client: Meta (and Runs) run with the SDK tracer off (template), so a cold request skips it.
    assert _lambda_environment(spec, "MetaFunction")["POWERTOOLS_TRACE_DISABLED"] == "true"
    assert _lambda_environment(spec, "RunsFunction")["POWERTOOLS_TRACE_DISABLED"] == "true"
    report = _probe(spec, "MetaFunction", "meta")
    assert _loaded(AWS_SDK, report["after_requests"]) == []


def test_authorizer_verifies_a_token_without_heavy_imports(spec: TemplateSpec) -> None:
    report = _probe(spec, "AuthorizerFunction", "authorizer")
    assert report["answers"][0]["isAuthorized"] is True
    assert _loaded(PYARROW | AWS_SDK, report["after_requests"]) == []
