"""Tenant isolation matrix (docs/architecture.md; docs/api.md: "Another tenant's run is exactly as
absent as a run that does not exist").

Two companies hold a run with the SAME dag_id/date/run_id; every string value of each tenant's
data carries its own company name, so a single substring check catches any cross-tenant row,
object, URL or summary. For every route of the template:

- each tenant sees its own data and never the other's;
- a run that exists only for the other tenant answers exactly like a run that exists nowhere
  (same status, code and body, modulo request_id and the run id itself);
- every S3 request made on a tenant's behalf (on the wire, through a recording proxy) stays
  under that tenant's prefix.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import pytest
import requests
from conftest import TEST_BUCKET
from etl_artifacts.s3.layout import RunRef
from marked_runs import MarkedRun, delete_marked_run, without_request_id, write_marked_run
from route_helpers import Route, authorized_routes, encode_run_id
from security_helpers import S3Proxy, outside_prefix

RUN_ID = "scheduled__2026-03-14T00:00:00+00:00"
ONLY_B_RUN_ID = "manual__2026-03-14T08:30:00.5+00:00"
NOWHERE_RUN_ID = "manual__2026-03-14T09:45:00.25+00:00"
RUN_DATE = dt.date(2026, 3, 14)

# Every route that reads a tenant's data: the run-scoped ones and the runs search. Uploaded
# artifacts live in their own table and are addressed by id: their isolation (the same 404 for
# another tenant's id, lists and cursors within the tenant, every plan bound to id_company) is
# proven in tests/test_uploads*.py; seals and manifests (Postgres records) in
# tests/test_lifecycle_routes.py and tests/test_lifecycle_seal.py.
DATA_ROUTES: list[Route] = [
    r
    for r in authorized_routes()
    if "{dag_id}" in r.path and r.function not in ("UploadsFunction", "SealFunction")
]
ROUTE_IDS = [
    r.route_key.split(" ", 1)[1].replace("/api/v1/dags/{dag_id}/runs", "") or "/runs" for r in DATA_ROUTES
]


@dataclass
class Tenants:
    a: MarkedRun
    b: MarkedRun
    only_b: MarkedRun
    dag_id: uuid.UUID

    @property
    def company_a(self) -> str:
        return self.a.ref.id_company

    @property
    def company_b(self) -> str:
        return self.b.ref.id_company


@pytest.fixture(scope="module")
def tenants(base_env: dict[str, str]) -> Iterator[Tenants]:
    suffix = uuid.uuid4().hex[:8]
    dag_id = uuid.uuid4()
    company_a, company_b = f"tenant-alpha-{suffix}", f"tenant-bravo-{suffix}"
    a = write_marked_run(RunRef(company_a, dag_id, RUN_DATE, RUN_ID))
    b = write_marked_run(RunRef(company_b, dag_id, RUN_DATE, RUN_ID))
    only_b = write_marked_run(RunRef(company_b, dag_id, RUN_DATE, ONLY_B_RUN_ID))
    yield Tenants(a, b, only_b, dag_id)
    for run in (a, b, only_b):
        delete_marked_run(run.ref)


def _path(route: Route, dag_id: uuid.UUID, run_id: str, **kwargs: str) -> str:
    path = (
        route.path.replace("{dag_id}", str(dag_id))
        .replace("{date}", RUN_DATE.isoformat())
        .replace("{run_id}", encode_run_id(run_id))
        .replace("{phase}", kwargs.get("phase", "extract"))
        .replace("{artifact_kind}", kwargs.get("artifact_kind", "extract-data"))
    )
    if route.path.endswith("/runs"):
        path += f"?date_from={RUN_DATE}&date_to={RUN_DATE}&run_ids={quote(run_id, safe='')}"
    return path


@pytest.mark.parametrize("route", DATA_ROUTES, ids=ROUTE_IDS)
def test_each_tenant_sees_only_its_own_data(api, tenants, via_proxy: S3Proxy, sql_spy, route):
    for mine, theirs in ((tenants.a, tenants.b), (tenants.b, tenants.a)):
        via_proxy.clear()
        sql_spy.clear()
        # Given both tenants hold this very run, When one of them reads it
        response = api.get(_path(route, tenants.dag_id, RUN_ID), company=mine.ref.id_company)
        # Then it gets its own data, and nothing of the other tenant's
        assert response.status_code == 200, (route.route_key, response.text)
        assert mine.marker in response.text
        assert theirs.marker not in response.text
        # And every S3 request made for it stayed under its own prefix
        assert outside_prefix(via_proxy.targets(), TEST_BUCKET, f"{mine.ref.id_company}/") == []
        if route.function == "RunsFunction":
            # Runs read etl.logs only, every statement bound to the caller's company
            assert via_proxy.targets() == []
            assert sql_spy.statements
            assert sql_spy.unscoped(mine.ref.id_company) == []
        else:
            # Storage routes read S3 only (the proxy proves it saw their requests)
            assert via_proxy.targets()
            assert [sql for sql, _ in sql_spy.statements if "etl.logs" in sql] == []


@pytest.mark.parametrize("route", DATA_ROUTES, ids=ROUTE_IDS)
def test_other_tenants_run_is_exactly_as_absent_as_a_missing_one(api, tenants, via_proxy, route):
    # ONLY_B_RUN_ID exists for B alone; NOWHERE_RUN_ID exists for nobody.
    via_proxy.clear()
    foreign = api.get(_path(route, tenants.dag_id, ONLY_B_RUN_ID), company=tenants.company_a)
    missing = api.get(_path(route, tenants.dag_id, NOWHERE_RUN_ID), company=tenants.company_a)
    assert foreign.status_code == missing.status_code, route.route_key
    assert foreign.status_code in (200, 404), foreign.text
    assert foreign.headers.get("Content-Type") == missing.headers.get("Content-Type")
    names = {
        ONLY_B_RUN_ID: "<run>",
        NOWHERE_RUN_ID: "<run>",
        encode_run_id(ONLY_B_RUN_ID): "<run>",
        encode_run_id(NOWHERE_RUN_ID): "<run>",
    }
    assert without_request_id(foreign.json(), names) == without_request_id(missing.json(), names)
    assert tenants.only_b.marker not in foreign.text
    assert outside_prefix(via_proxy.targets(), TEST_BUCKET, f"{tenants.company_a}/") == []
    # The control: B itself does see that run.
    own = api.get(_path(route, tenants.dag_id, ONLY_B_RUN_ID), company=tenants.company_b)
    assert own.status_code == 200, own.text
    assert tenants.only_b.marker in own.text


def test_a_tenant_without_any_data_sees_nothing_anywhere(api, tenants):
    stranger = f"tenant-charlie-{uuid.uuid4().hex[:8]}"
    for route in DATA_ROUTES:
        response = api.get(_path(route, tenants.dag_id, RUN_ID), company=stranger)
        assert tenants.company_a not in response.text and tenants.company_b not in response.text
        if route.path.endswith("/runs"):
            assert response.status_code == 200
            assert response.json()["total"] == 0
        elif route.path.endswith("/artifacts"):
            assert response.json()["count"] == 0
        else:
            assert response.status_code == 404, (route.route_key, response.text)


def test_search_lists_only_the_callers_runs(api, tenants):
    path = f"/api/v1/dags/{tenants.dag_id}/runs?date_from={RUN_DATE}&date_to={RUN_DATE}&limit=100"
    a_runs = api.get(path, company=tenants.company_a).json()
    b_runs = api.get(path, company=tenants.company_b).json()
    assert [item["run_id"] for item in a_runs["items"]] == [RUN_ID]
    assert a_runs["total"] == 1
    assert sorted(item["run_id"] for item in b_runs["items"]) == sorted([RUN_ID, ONLY_B_RUN_ID])
    # The other tenant's run ids in the allowlist and its marker as keyword find nothing.
    by_id = api.get(f"{path}&run_ids={quote(ONLY_B_RUN_ID, safe='')}", company=tenants.company_a).json()
    assert by_id["total"] == 0 and by_id["items"] == []
    for phase in ("event", "extract", "transform", "load"):
        found = api.get(f"{path}&{phase}_keyword={tenants.company_b}", company=tenants.company_a).json()
        assert found["total"] == 0, phase


def test_keyword_search_in_data_never_matches_the_other_tenants_rows(api, tenants):
    data = _path(next(r for r in DATA_ROUTES if r.path.endswith("/data")), tenants.dag_id, RUN_ID)
    theirs = api.get(f"{data}?keyword={tenants.company_b}", company=tenants.company_a)
    assert theirs.status_code == 200, theirs.text
    assert theirs.json()["total_rows"] == 0
    mine = api.get(f"{data}?keyword={tenants.company_a}", company=tenants.company_a)
    assert mine.json()["total_rows"] == 60


def test_presigned_urls_download_only_the_callers_own_objects(api, tenants):
    listing = _path(next(r for r in DATA_ROUTES if r.path.endswith("/artifacts")), tenants.dag_id, RUN_ID)
    for run in (tenants.a, tenants.b):
        body = api.get(listing, company=run.ref.id_company).json()
        assert body["count"] == len(run.keys)
        for item in body["artifacts"]:
            assert run.ref.id_company in item["url"]
            downloaded = requests.get(item["url"], timeout=30)
            assert downloaded.status_code == 200
            assert downloaded.content == run.keys[item["key"]]


def test_continuation_token_of_one_tenant_is_refused_for_the_other(api, tenants, monkeypatch):
    monkeypatch.setenv("NDJSON_MAX_BYTES", "300")
    logs = _path(next(r for r in DATA_ROUTES if r.path.endswith("/logs")), tenants.dag_id, RUN_ID)
    ndjson = {"Accept": "application/x-ndjson"}
    first = api.get(logs, company=tenants.company_a, headers=ndjson)
    assert first.status_code == 200, first.text
    token = first.headers["X-Continuation-Token"]
    # The same run (same dag/date/run_id/phase/filters) of the other tenant: the token is foreign.
    stolen = api.get(logs, company=tenants.company_b, headers=ndjson, params={"continuation_token": token})
    assert stolen.status_code == 422
    assert stolen.json()["code"] == "invalid_continuation_token"
    assert tenants.company_a not in stolen.text
    # The control: the owner may continue.
    resumed = api.get(logs, company=tenants.company_a, headers=ndjson, params={"continuation_token": token})
    assert resumed.status_code == 200
    assert tenants.company_b not in resumed.text


def test_artifacts_prefix_scopes_every_request(api, base_env, via_proxy, monkeypatch):
    # With ARTIFACTS_PREFIX set, a tenant's requests stay under "<prefix><company>/".
    monkeypatch.setenv("ARTIFACTS_PREFIX", "sec-tenants/")
    company = f"tenant-delta-{uuid.uuid4().hex[:8]}"
    run = write_marked_run(RunRef(company, uuid.uuid4(), RUN_DATE, RUN_ID), with_log=False)
    try:
        via_proxy.clear()
        for route in DATA_ROUTES:
            if route.function == "RunsFunction":
                continue  # etl.logs is not keyed by the prefix
            response = api.get(_path(route, run.ref.dag_id, RUN_ID), company=company)
            assert response.status_code == 200, (route.route_key, response.text)
        targets = via_proxy.targets()
        assert targets
        assert outside_prefix(targets, TEST_BUCKET, f"sec-tenants/{company}/") == []
    finally:
        delete_marked_run(run.ref)


def test_concurrent_requests_of_two_tenants_never_cross(api, tenants):
    # The local gateway runs requests in threads while each family's resolver is one object (as a
    # Lambda instance is): a request must never see another in-flight request's tenant or headers.
    from concurrent.futures import ThreadPoolExecutor

    logs = _path(next(r for r in DATA_ROUTES if r.path.endswith("/logs")), tenants.dag_id, RUN_ID)
    listing = _path(next(r for r in DATA_ROUTES if r.path.endswith("/artifacts")), tenants.dag_id, RUN_ID)
    plan = []
    for i in range(120):
        mine, theirs = (tenants.a, tenants.b) if i % 2 else (tenants.b, tenants.a)
        ndjson = i % 3 == 0
        plan.append((mine.ref.id_company, theirs.ref.id_company, "/api/v1/whoami", False))
        plan.append((mine.ref.id_company, theirs.ref.id_company, listing, False))
        plan.append((mine.ref.id_company, theirs.ref.id_company, logs, ndjson))

    def call(item: tuple[str, str, str, bool]) -> str | None:
        company, other, path, ndjson = item
        headers = {"Accept": "application/x-ndjson"} if ndjson else {}
        response = api.get(path, company=company, headers=headers)
        wanted = "application/x-ndjson" if ndjson else "application/json"
        if response.status_code != 200 or not response.headers["Content-Type"].startswith(wanted):
            return f"{path}: {response.status_code} {response.headers['Content-Type']}"
        if company not in response.text or other in response.text:
            return f"{path}: tenant crossed"
        return None

    with ThreadPoolExecutor(max_workers=12) as pool:
        problems = [problem for problem in pool.map(call, plan) if problem]
    assert problems == []
