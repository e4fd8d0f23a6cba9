"""Per-tenant limits (docs/limits.md, "Rate limits") against DynamoDB served by moto's server over
HTTP (the session's server: one moto server serves every service), through the local gateway.

Windows are made very long (RATE_LIMIT_RPS tiny) so that no test depends on when it runs; the
lease tests pass their clock explicitly instead of sleeping.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow as pa
import pytest
import requests
from etl_artifacts.clients import reset_clients
from etl_artifacts.config import get_settings
from etl_artifacts.observability import metrics
from etl_artifacts.ratelimit.limit_store import LimitStore, ScanLease, ScansBusy
from etl_artifacts.ratelimit.tenant_gate import STORE_FAILURE_METRIC
from etl_artifacts_local.s3_proxy import S3Proxy, S3Request
from etl_artifacts_local.services import create_rate_limit_table, free_port
from phases_helpers import logs_table, new_run, phase_path, put_chunks, put_metadata
from serve_helpers import serving

# One window of 30,000 s: a test never sees two.
LONG_WINDOW = {"RATE_LIMIT_RPS": "0.0001"}
RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


def _configure(monkeypatch: pytest.MonkeyPatch, **variables: str) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    reset_clients()


@pytest.fixture
def table(base_env: dict[str, str], s3_server: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh limiter table on the moto server; the API's limits point at it."""
    name = f"limits-{uuid.uuid4().hex[:12]}"
    # Generous timeouts: a loaded machine must not make the limiter fail open here.
    _configure(
        monkeypatch,
        AWS_ENDPOINT_URL_DYNAMODB=s3_server.endpoint,
        RATE_LIMIT_TABLE=name,
        RATE_LIMIT_TIMEOUT_S="5",
    )
    create_rate_limit_table(name)
    return name


def instance(endpoint: str, table: str, **settings: Any) -> LimitStore:
    """Another function instance: its own boto3 session and client, its own memory."""
    import boto3

    client = boto3.session.Session().client("dynamodb", region_name="us-east-1", endpoint_url=endpoint)
    options = {"rps": 0.0001, "burst": 200, "max_scans": 4, **settings}
    return LimitStore(lambda: client, table, **options)


@pytest.fixture
def metric_names(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    names: list[str] = []
    original = metrics.add_metric

    def spy(name: str, *args: Any, **kwargs: Any) -> Any:
        names.append(name)
        return original(name, *args, **kwargs)

    monkeypatch.setattr(metrics, "add_metric", spy)
    return names


def _tenant() -> str:
    return f"tenant-{uuid.uuid4().hex[:8]}"


def _data_run(company: str) -> Any:
    run = new_run(company)
    put_metadata(run)
    table = pa.table({"id": pa.array(range(20), pa.int64()), "name": [f"row-{i}" for i in range(20)]})
    put_chunks(run, "data", [table, table])
    put_chunks(run, "logs", [logs_table(["a needle", "b"]), logs_table(["c", "needle d"], start=2)])
    return run


# -- headers ----------------------------------------------------------------------------------------
def test_every_tenant_answer_carries_the_rate_limit_headers(api, table, monkeypatch):
    _configure(monkeypatch, RATE_LIMIT_BURST="50", **LONG_WINDOW)
    company = _tenant()
    first = api.get("/api/v1/whoami", company=company)
    second = api.get("/api/v1/whoami", company=company)
    missing = api.get(phase_path(new_run(company), suffix="/data"), company=company)
    assert first.status_code == second.status_code == 200
    assert missing.status_code == 404
    for response in (first, second, missing):
        assert all(name in response.headers for name in RATE_HEADERS), response.headers
        assert response.headers["X-RateLimit-Limit"] == "50"
        assert int(response.headers["X-RateLimit-Reset"]) > time.time()
    assert [int(r.headers["X-RateLimit-Remaining"]) for r in (first, second, missing)] == [49, 48, 47]
    # Public routes are nobody's: not counted.
    assert "X-RateLimit-Limit" not in api.get("/api/v1/health", company=None).headers


def test_no_headers_when_limits_are_off(api, base_env, monkeypatch):
    monkeypatch.delenv("RATE_LIMIT_TABLE", raising=False)
    get_settings.cache_clear()
    response = api.get("/api/v1/whoami")
    assert response.status_code == 200
    assert "X-RateLimit-Limit" not in response.headers


# -- rate ---------------------------------------------------------------------------------------------
def test_past_the_burst_answers_429_rate_limited_with_retry_after(api, table, monkeypatch):
    _configure(monkeypatch, RATE_LIMIT_BURST="3", **LONG_WINDOW)
    company, other = _tenant(), _tenant()
    answers = [api.get("/api/v1/whoami", company=company) for _ in range(5)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429, 429]
    refused = answers[3]
    body = refused.json()
    assert body["code"] == "rate_limited" and body["status"] == 429
    retry = int(refused.headers["Retry-After"])
    assert body["retry_after_seconds"] == retry and 1 <= retry <= 30_000
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert refused.headers["X-RateLimit-Reset"] == answers[0].headers["X-RateLimit-Reset"]
    assert refused.headers["Cache-Control"] == "no-store"
    # Another tenant has its own allowance.
    assert api.get("/api/v1/whoami", company=other).status_code == 200


def test_counters_are_shared_by_two_instances(s3_server, table):
    """Two separately configured clients (two function instances) share one allowance: sharded over
    4 items, exactly ``burst`` requests pass in a window, whichever instance counted them."""
    first = instance(s3_server.endpoint, table, burst=10, shards=4)
    second = instance(s3_server.endpoint, table, burst=10, shards=4)
    company, now = _tenant(), 1_000.0
    allowed = [(first if n % 2 else second).count_request(company, now).allowed for n in range(40)]
    assert sum(allowed) == 10
    assert first.count_request(company, now).allowed is False
    # The next window starts afresh.
    assert second.count_request(company, now + first.window_s).allowed is True


def test_default_settings_need_one_counter_item_and_shard_a_larger_burst(s3_server, table):
    assert instance(s3_server.endpoint, table, rps=100, burst=200).shards == 1
    assert instance(s3_server.endpoint, table, rps=100, burst=2_000).shards == 8


def test_a_tenant_known_to_be_over_is_refused_without_a_call_or_the_route(
    api, table, s3_server, via_proxy, monkeypatch
):
    """A refused write costs a write unit: once an instance knows the window is full it stops asking
    DynamoDB (and reading S3) for that tenant until the window ends."""
    company = _tenant()
    run = _data_run(company)
    with S3Proxy(s3_server.endpoint) as dynamodb:
        _configure(
            monkeypatch, AWS_ENDPOINT_URL_DYNAMODB=dynamodb.endpoint, RATE_LIMIT_BURST="1", **LONG_WINDOW
        )
        assert api.get(phase_path(run, suffix="/data"), company=company).status_code == 200
        assert api.get(phase_path(run, suffix="/data"), company=company).status_code == 429
        dynamodb.clear()
        via_proxy.clear()
        refused = api.get(phase_path(run, suffix="/data"), company=company)
        assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"
        assert int(refused.headers["Retry-After"]) >= 1
        assert dynamodb.recorded() == [] and via_proxy.recorded() == []


def test_a_write_waits_for_its_count_before_it_runs(table, monkeypatch):
    """A write must not take effect and then be answered 429: its count is decided before the route."""
    from etl_artifacts.errors import RateLimited
    from etl_artifacts.ratelimit.tenant_gate import open_gate

    _configure(monkeypatch, RATE_LIMIT_BURST="1", **LONG_WINDOW)
    company = _tenant()

    def event(method: str) -> dict[str, Any]:
        context = {"http": {"method": method}, "authorizer": {"lambda": {"id_company": company}}}
        return {"requestContext": context}

    first = open_gate(event("POST"))
    assert first is not None and first.quota is not None and first.refused() is None
    second = open_gate(event("PUT"))
    assert second is not None and isinstance(second.refused(), RateLimited)
    assert open_gate({"requestContext": {"http": {"method": "GET"}}}) is None  # no tenant: public


def test_a_tenant_id_too_long_for_a_key_is_counted_under_its_digest(s3_server, table):
    from etl_artifacts.ratelimit.limit_store import tenant_key

    long_id = "x" * 5_000
    assert tenant_key("acme") == "t:acme"
    assert tenant_key(long_id).startswith("h:") and len(tenant_key(long_id)) == 66
    store = instance(s3_server.endpoint, table, burst=2)
    assert [store.count_request(long_id, 10.0).allowed for _ in range(3)] == [True, True, False]


# -- scans ---------------------------------------------------------------------------------------------
def test_scans_beyond_tenant_max_scans_answer_429_too_many_scans(api, table, s3_server, monkeypatch):
    _configure(monkeypatch, TENANT_MAX_SCANS="1", **LONG_WINDOW)
    company = _tenant()
    run = _data_run(company)
    # Another instance is scanning for the same tenant.
    elsewhere = instance(s3_server.endpoint, table, max_scans=1)
    lease = elsewhere.acquire_scan(company, "other-instance", 20)
    assert isinstance(lease, ScanLease)

    scan = api.get(phase_path(run, suffix="/data"), params={"keyword": "row-1"}, company=company)
    assert scan.status_code == 429, scan.text
    assert scan.json()["code"] == "too_many_scans"
    assert 1 <= int(scan.headers["Retry-After"]) == scan.json()["retry_after_seconds"] <= 10
    assert all(name in scan.headers for name in RATE_HEADERS)
    filtered = api.get(phase_path(run, suffix="/logs"), params={"keyword": "needle"}, company=company)
    assert filtered.json()["code"] == "too_many_scans"
    # Cheap requests go on; so do another tenant's scans.
    assert api.get(phase_path(run, suffix="/data"), company=company).status_code == 200
    assert api.get(phase_path(run, suffix="/logs"), company=company).status_code == 200

    elsewhere.release_scan(lease)
    scan = api.get(phase_path(run, suffix="/data"), params={"keyword": "row-1"}, company=company)
    assert scan.status_code == 200 and scan.headers["X-Search-Mode"] == "scan"
    assert scan.json()["total_rows"] == 2 * 11  # row-1, row-10 .. row-19 in each chunk
    # Our lease was released when the scan ended: the other instance takes the slot at once.
    assert isinstance(elsewhere.acquire_scan(company, "other-instance", 20), ScanLease)


def test_concurrent_scans_beyond_tenant_max_scans_answer_too_many_scans(
    base_env, s3_server, make_token, tmp_path, monkeypatch
):
    """Two instances (worker processes of ``serve``) scan for one tenant at once, with one scan
    allowed: the first holds its lease while its reads are held back, the second is refused."""
    name = f"limits-{uuid.uuid4().hex[:12]}"
    _configure(monkeypatch, AWS_ENDPOINT_URL_DYNAMODB=s3_server.endpoint)
    create_rate_limit_table(name)
    company = _tenant()
    run = _data_run(company)
    release = threading.Event()

    def hold_data_reads(request: S3Request) -> bool:
        if "/data_" in request.key:
            release.wait(120)
        return False  # then pass it on

    headers = {"Authorization": f"Bearer {make_token(company)}"}
    with S3Proxy(s3_server.endpoint) as proxy:
        proxy.only = hold_data_reads
        env = {
            **os.environ,
            "AWS_ENDPOINT_URL_S3": proxy.endpoint,
            "RATE_LIMIT_TABLE": name,
            "TENANT_MAX_SCANS": "1",
            "RATE_LIMIT_TIMEOUT_S": "5",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            **LONG_WINDOW,
        }
        with (
            serving(["--timeout", "120"], env, tmp_path / "serve.log") as base,
            ThreadPoolExecutor(1) as background,
        ):
            url = base + phase_path(run, suffix="/data")
            scan = {"keyword": "row-1"}
            first = background.submit(requests.get, url, params=scan, headers=headers, timeout=180)
            deadline = time.monotonic() + 150
            while time.monotonic() < deadline and not any("/data_" in r.key for r in proxy.recorded()):
                time.sleep(0.05)
            try:
                second = requests.get(url, params=scan, headers=headers, timeout=180)
                logs = requests.get(base + phase_path(run, suffix="/logs"), headers=headers, timeout=180)
            finally:
                release.set()
            assert second.status_code == 429, second.text
            assert second.json()["code"] == "too_many_scans"
            assert int(second.headers["Retry-After"]) >= 1
            assert logs.status_code == 200  # a cheap request of the same tenant goes on
            assert first.result().status_code == 200
            assert first.result().headers["X-Search-Mode"] == "scan"
            # The first scan's lease was released with its answer.
            assert requests.get(url, params=scan, headers=headers, timeout=180).status_code == 200


def test_a_lease_of_a_dead_instance_expires(s3_server, table):
    dead = instance(s3_server.endpoint, table, max_scans=1)
    alive = instance(s3_server.endpoint, table, max_scans=1)
    company = _tenant()
    held = dead.acquire_scan(company, "dead", lease_s=10, now=1_000.0)
    assert isinstance(held, ScanLease)  # ... and the instance dies without releasing it
    busy = alive.acquire_scan(company, "alive", lease_s=10, now=1_001.0)
    assert busy == ScansBusy(retry_after=9)
    taken = alive.acquire_scan(company, "alive", lease_s=10, now=1_011.5)
    assert isinstance(taken, ScanLease)
    # A late release of the expired lease never frees the slot its successor holds.
    dead.release_scan(held)
    assert isinstance(dead.acquire_scan(company, "third", lease_s=10, now=1_012.0), ScansBusy)


# -- fail open ------------------------------------------------------------------------------------------
def test_unreachable_store_fails_open_with_a_metric(api, base_env, monkeypatch, metric_names):
    closed = f"http://127.0.0.1:{free_port()}"
    _configure(monkeypatch, AWS_ENDPOINT_URL_DYNAMODB=closed, RATE_LIMIT_TABLE="limits-unreachable")
    company = _tenant()
    response = api.get("/api/v1/whoami", company=company)
    assert response.status_code == 200, response.text
    assert response.headers["X-RateLimit-Limit"] == "200"
    assert STORE_FAILURE_METRIC in metric_names
    run = _data_run(company)
    metric_names.clear()
    scan = api.get(phase_path(run, suffix="/data"), params={"keyword": "row-1"}, company=company)
    assert scan.status_code == 200 and scan.headers["X-Search-Mode"] == "scan"
    assert metric_names.count(STORE_FAILURE_METRIC) == 2  # the count and the lease


def test_a_bad_setting_is_left_to_the_routes_configuration_error(table, monkeypatch):
    """The gate opens before the resolver: it must not turn a configuration error (answered 500
    ``internal_error`` by the route's error mapping) into a failed invocation."""
    from etl_artifacts.ratelimit.tenant_gate import open_gate

    _configure(monkeypatch, RATE_LIMIT_RPS="fast")
    event = {"requestContext": {"http": {"method": "GET"}, "authorizer": {"lambda": {"id_company": "acme"}}}}
    assert open_gate(event) is None


# -- no round trip in sequence ----------------------------------------------------------------------------
def test_the_count_overlaps_the_routes_first_storage_call(api, table, s3_server, via_proxy, monkeypatch):
    """DynamoDB holds the count until S3 has seen the route's first request: were the count waited
    for before the route ran, that request would never come (and the test would see it)."""
    company = _tenant()
    run = _data_run(company)
    via_proxy.clear()
    overlapped = threading.Event()

    def hold_until_s3_is_called(_: S3Request) -> bool:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not via_proxy.recorded():
            time.sleep(0.005)
        if via_proxy.recorded():
            overlapped.set()
        return False

    with S3Proxy(s3_server.endpoint) as dynamodb:
        dynamodb.only = hold_until_s3_is_called
        _configure(monkeypatch, AWS_ENDPOINT_URL_DYNAMODB=dynamodb.endpoint, **LONG_WINDOW)
        response = api.get(phase_path(run, suffix="/data"), company=company)
        assert len(dynamodb.recorded()) == 1
    assert response.status_code == 200
    assert response.headers["X-RateLimit-Remaining"] == "199"
    assert overlapped.is_set()


# -- the deployed table ---------------------------------------------------------------------------------
def _policy_statements(resources: dict[str, Any], logical_id: str) -> list[dict[str, Any]]:
    statements = []
    for policy in resources[logical_id]["Properties"].get("Policies") or []:
        if policy == {"Ref": "RateLimitCountPolicy"}:
            policy = resources["RateLimitCountPolicy"]["Properties"]["PolicyDocument"]
        if isinstance(policy, dict):
            statements += [s for s in policy.get("Statement") or [] if isinstance(s, dict)]
    return [s for s in statements if "RateLimitTable" in str(s.get("Resource"))]


def test_template_declares_an_on_demand_table_with_ttl_and_least_privilege():
    from etl_artifacts_local.template import load_template

    spec = load_template()
    resources = spec.raw["Resources"]
    table = resources["RateLimitTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    variables = spec.raw["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["RATE_LIMIT_TABLE"] == {"Ref": "RateLimitTable"}
    assert {"RATE_LIMIT_RPS", "RATE_LIMIT_BURST", "TENANT_MAX_SCANS"} <= set(variables)
    granted: dict[str, set[tuple[str, str]]] = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for statement in _policy_statements(resources, logical_id):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            keys = statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
            granted.setdefault(logical_id, set()).update((a, k) for a in actions for k in keys)
    count = {("dynamodb:UpdateItem", "rate#*")}
    leases = {("dynamodb:UpdateItem", "scan#*"), ("dynamodb:DeleteItem", "scan#*")}
    # Every tenant route counts; only Phases scans; the authorizer, the public link redirect, the
    # sweeper and the indexer get nothing.
    assert granted == {
        "MetaFunction": count,
        "RunsFunction": count,
        "ArtifactsFunction": count,
        "PhasesFunction": count | leases,
        "UploadsFunction": count,
        "LifecycleFunction": count,
        "SealFunction": count,
    }
    alarm = resources["RateLimitStoreAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("EtlArtifacts", STORE_FAILURE_METRIC)
    exposed = resources["HttpApi"]["Properties"]["CorsConfiguration"]["ExposeHeaders"]
    assert {*RATE_HEADERS, "Retry-After"} <= set(exposed)
