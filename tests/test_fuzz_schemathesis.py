"""Fuzzing with schemathesis against the served OpenAPI document (``/api/v1/openapi.json``) of a
live local gateway, with a valid token.

Every documented operation is fuzzed with positive cases (valid by the schema), negative cases
(invalid by the schema) and positive cases aimed at real runs (seeded data, so pages, searches,
presigned URLs and summaries are actually rendered). Every response goes through schemathesis'
checks: no 5xx, status codes, content types, headers and bodies as documented, invalid input
rejected, valid input accepted, and auth enforced. At least 1,000 cases in total.

All failures are collected and reported together (each with the curl line to reproduce it).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from etl_artifacts.s3.layout import RunRef
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from marked_runs import delete_marked_run, write_marked_run
from route_helpers import template_routes
from schemathesis.checks import negative_data_rejection, positive_data_acceptance
from schemathesis.generation import GenerationMode

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:No application metrics to publish")]

COMPANY = f"fuzz-{uuid.uuid4().hex[:8]}"
RUN_DATE = dt.date(2026, 3, 14)
RUN_IDS = ("scheduled__2026-03-14T00:00:00+00:00", "manual__2026-03-14T08:30:00.5+00:00")
EXAMPLES_PER_OPERATION = 80  # ~2,200 cases in all (the floor is 1,000)
MIN_TOTAL_CASES = 1000

# Operations the OpenAPI document does not describe on purpose (the document itself, its UI).
UNDOCUMENTED = {"GET /api/v1/openapi.json", "GET /api/v1/docs"}
OPERATIONS = [r.route_key for r in template_routes() if r.route_key not in UNDOCUMENTED]

CASES: Counter[str] = Counter()
STATUSES: Counter[tuple[str, int]] = Counter()


@pytest.fixture(scope="module")
def seeded(base_env: dict[str, str]) -> Iterator[uuid.UUID]:
    dag_id = uuid.uuid4()
    runs = [write_marked_run(RunRef(COMPANY, dag_id, RUN_DATE, run_id)) for run_id in RUN_IDS]
    yield dag_id
    for run in runs:
        delete_marked_run(run.ref)


@pytest.fixture(scope="module")
def schema(gateway_url: str, seeded: uuid.UUID) -> Any:
    return schemathesis.openapi.from_url(f"{gateway_url}/api/v1/openapi.json")


@pytest.fixture(scope="module")
def token(make_token: Any) -> str:
    # Long-lived enough for the whole module.
    return make_token(COMPANY, ttl=3600)


def _operation(schema: Any, route_key: str) -> Any:
    method, path = route_key.split(" ", 1)
    return schema[path][method]


def _strategies(operation: Any, dag_id: uuid.UUID) -> Any:
    strategies = [
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    ]
    names = {parameter.name for parameter in operation.iter_parameters()}
    if {"dag_id", "date", "run_id"} <= names:
        # Aimed at the seeded runs: only the remaining parameters are generated.
        strategies += [
            operation.as_strategy(
                GenerationMode.POSITIVE,
                path_parameters={"dag_id": str(dag_id), "date": RUN_DATE.isoformat(), "run_id": run_id},
            )
            for run_id in RUN_IDS
        ]
    elif "dag_id" in names:
        strategies.append(
            operation.as_strategy(GenerationMode.POSITIVE, path_parameters={"dag_id": str(dag_id)})
        )
    return st.one_of(*strategies)


def _semantic_refusal(response: Any, case: Any) -> bool:
    """A 422 for a rule no JSON schema can state, and the request really breaks it."""
    if response.status_code != 422:
        return False
    try:
        body = response.json()
        code = body.get("code")
    except (ValueError, AttributeError):
        return False
    columns = str((case.query or {}).get("columns", ""))
    if code == "unknown_column":
        # Names only the attempt's data can confirm.
        return bool(columns)
    if code is None and [item.get("loc") for item in body.get("detail", [])] == [["query", "columns"]]:
        names = columns.split(",")
        return len(set(names)) != len(names)  # each name once: no JSON schema says that of a list in a string
    if code == "invalid_continuation_token":
        # An opaque HMAC token: a generated one is forged by definition.
        return bool((case.query or {}).get("continuation_token"))
    if code == "invalid_cursor":  # the artifacts listing's cursor: issued by the API, never guessed
        return bool((case.query or {}).get("cursor"))
    if code == "invalid_date_range":
        query = case.query or {}
        try:
            date_from = dt.date.fromisoformat(str(query["date_from"]))
            date_to = dt.date.fromisoformat(str(query["date_to"]))
        except (KeyError, ValueError):
            return False
        return date_from > date_to or (date_to - date_from).days > 366
    return False


def positive_data_acceptance_but_semantic_rules(ctx: Any, response: Any, case: Any) -> bool | None:
    """schemathesis' positive_data_acceptance, except for the API's cross-field/opaque rules
    (date_from <= date_to within 366 days; continuation tokens and cursors are issued, not guessed;
    `columns` names the attempt's columns, each once)."""
    if _semantic_refusal(response, case):
        return None
    return positive_data_acceptance(ctx, response, case)


def negative_data_rejection_but_open_query(ctx: Any, response: Any, case: Any) -> bool | None:
    """schemathesis' negative_data_rejection, except for query parameters the operation does not
    name: the API ignores them, as API Gateway and most HTTP APIs do (a cache-buster ``?_=1`` is
    not an error), while every parameter it does name is validated strictly."""
    known = {
        parameter.name for parameter in case.operation.iter_parameters() if parameter.location == "query"
    }
    if set(case.query or {}) - known:
        return None
    return negative_data_rejection(ctx, response, case)


def _failure_key(exc: BaseException) -> str:
    """One key per kind of failure (check title and the answer's status/code), not per case."""
    import json
    import re

    found = exc.exceptions if isinstance(exc, BaseExceptionGroup) else [exc]
    titles = sorted({getattr(failure, "title", None) or type(failure).__name__ for failure in found})
    status = re.search(r"\[(\d{3})\]", str(exc))
    body = re.search(r"`(\{.*?\})`", str(exc))
    detail = ""
    if body:
        try:
            parsed = json.loads(body.group(1))
            detail = parsed.get("code") or str(
                [tuple(item.get("loc", ())) for item in parsed.get("detail", [])]
            )
        except (ValueError, AttributeError):
            detail = body.group(1)[:80]
    return f"{' + '.join(titles)} [{status.group(1) if status else '?'}] {detail}"


def test_every_route_of_the_template_is_documented(schema):
    for route_key in OPERATIONS:
        assert _operation(schema, route_key) is not None, route_key


@pytest.mark.parametrize("route_key", OPERATIONS)
def test_fuzz_operation(schema, gateway_url, seeded, token, route_key):
    operation = _operation(schema, route_key)
    session = requests.Session()
    failures: dict[str, str] = {}
    lock = threading.Lock()

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,  # the same cases on every run: a CI failure reproduces locally
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_strategies(operation, seeded))
    def fuzz(case: Any) -> None:
        CASES[route_key] += 1
        try:
            response = case.call_and_validate(
                base_url=gateway_url,
                session=session,
                headers={"Authorization": f"Bearer {token}"},
                excluded_checks=[positive_data_acceptance, negative_data_rejection],
                additional_checks=[
                    positive_data_acceptance_but_semantic_rules,
                    negative_data_rejection_but_open_query,
                ],
            )
            STATUSES[(route_key, response.status_code)] += 1
        except (AssertionError, BaseExceptionGroup) as exc:
            text = str(exc)
            with lock:
                failures.setdefault(_failure_key(exc), text[-700:])

    started = time.monotonic()
    fuzz()
    elapsed = time.monotonic() - started
    # An operation without parameters (health, whoami) has a single distinct case.
    minimum = 50 if any(True for _ in operation.iter_parameters()) else 1
    assert CASES[route_key] >= minimum, f"only {CASES[route_key]} cases generated for {route_key}"
    assert not failures, (
        f"{route_key}: {len(failures)} distinct failures in {elapsed:.0f}s:\n\n"
        + "\n\n".join(f"=== {key}\n{detail}" for key, detail in failures.items())
    )


def test_fuzzing_ran_at_least_a_thousand_cases():
    if not CASES:
        pytest.skip("the fuzz tests did not run in this session")
    total = sum(CASES.values())
    print(
        f"\nschemathesis: {total} cases over {len(CASES)} operations; statuses: "
        + ", ".join(
            f"{status}x{count}"
            for status, count in sorted(
                Counter(
                    {s: sum(c for (_, s2), c in STATUSES.items() if s2 == s) for _, s in STATUSES}
                ).items()
            )
        )
    )
    assert total >= MIN_TOTAL_CASES
    # Cases did reach real data, not only refusals.
    assert sum(count for (_, status), count in STATUSES.items() if status == 200) >= 200
