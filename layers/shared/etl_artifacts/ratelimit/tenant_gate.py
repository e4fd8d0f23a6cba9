"""The limiter of one invocation (docs/limits.md, "Rate limits").

``lambda_entry`` opens a :class:`TenantGate` for every tenant request when ``RATE_LIMIT_TABLE`` is
set: the request is counted on the shared I/O pool while the route does its own first storage
call, and the count is joined only when the answer is ready (``finish``), so the limiter adds no
round trip in sequence. A write is the exception: it waits for the count before it runs, since a
write that took effect must not be answered 429. Expensive work (``scan_lease``) joins the count
first and then takes one of the tenant's ``TENANT_MAX_SCANS`` leases.

Fail open: a store that fails, or has not answered ``2 x RATE_LIMIT_TIMEOUT_S`` after the route
is done (one attempt's connect and read timeouts; creating the client on a cold start is not
counted), lets the request go on; the ``RateLimitStoreFailures`` metric counts it (an alarm
watches it).
"""

from __future__ import annotations

import contextvars
import math
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from etl_artifacts.config import Settings, get_settings
from etl_artifacts.deadline import MARGIN_S, current_deadline
from etl_artifacts.errors import ApiError, ConfigurationError, LimitStoreError, RateLimited, TooManyScans
from etl_artifacts.observability import logger, metrics
from etl_artifacts.ratelimit.limit_store import LimitStore, Quota, ScanLease, ScansBusy

#: Longest wait for the client to exist (a cold start imports boto3) when there is no deadline.
CLIENT_WAIT_S = 30.0
#: A lease outlives its request by this much (the request ends at its deadline at the latest).
LEASE_MARGIN_S = 5.0
#: Lease length when the invocation has no deadline (CLI, tests): the API functions' Timeout.
DEFAULT_LEASE_S = 30.0
STORE_FAILURE_METRIC = "RateLimitStoreFailures"
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Module-level on purpose: one limiter per limit configuration for the process (it remembers the
# tenants' full windows across requests); reset_clients() forgets it with the DynamoDB client.
_stores: dict[tuple[Any, ...], LimitStore] = {}
_stores_lock = threading.Lock()
_current: contextvars.ContextVar[TenantGate | None] = contextvars.ContextVar("tenant_gate", default=None)


def store_for(settings: Settings) -> LimitStore | None:
    """The process's store for these settings (it remembers full windows), None when limits are off."""
    if not settings.rate_limit_table:
        return None
    from etl_artifacts.clients import dynamodb_client

    s = settings
    key = (s.rate_limit_table, s.rate_limit_rps, s.rate_limit_burst, s.tenant_max_scans)
    with _stores_lock:
        if key not in _stores:
            _stores[key] = LimitStore(
                dynamodb_client,
                settings.rate_limit_table,
                rps=settings.rate_limit_rps,
                burst=settings.rate_limit_burst,
                max_scans=settings.tenant_max_scans,
            )
        return _stores[key]


def _bounded(wait_s: float) -> float:
    """``wait_s``, or less near the deadline: the answer still leaves a second before the timeout."""
    left = current_deadline().remaining_s() + MARGIN_S - 1.0
    return max(0.0, min(wait_s, left))


def forget_stores() -> None:
    with _stores_lock:
        _stores.clear()


def _submit(function: Callable[..., Any], *args: Any) -> Future[Any]:
    from etl_artifacts.parquet.pool import executor

    return executor().submit(function, *args)


class TenantGate:
    """One tenant request's count and leases; ``finish`` puts the limit on its answer."""

    def __init__(self, store: LimitStore, tenant: str, wait_s: float) -> None:
        self.store = store
        self.tenant = tenant
        self.wait_s = wait_s
        self.quota: Quota | None = store.known_full(tenant)
        self.failures: list[str] = []
        self._connected = threading.Event()
        self._count: Future[Quota] | None = None
        self._releases: list[Future[None]] = []
        if self.quota is None:
            self._count = _submit(self._counted)
        else:
            self._connected.set()  # refused from memory: no call to wait for

    def _counted(self) -> Quota:
        try:
            self.store.connect()
        finally:
            self._connected.set()
        return self.store.count_request(self.tenant)

    def _failed(self, exc: BaseException) -> None:
        # Any failure of the store fails open; the reason is the exception's type, never its text.
        if isinstance(exc, FutureTimeout):
            self.failures.append("timeout")
        else:
            self.failures.append(str(exc) if isinstance(exc, LimitStoreError) else type(exc).__name__)

    def _joined(self, future: Future[Any]) -> Any:
        self._connected.wait(_bounded(CLIENT_WAIT_S))
        try:
            return future.result(timeout=_bounded(self.wait_s))
        except Exception as exc:
            self._failed(exc)
            return None

    def decision(self) -> Quota | None:
        """The count of this request (joined once); None when the store failed or was slow."""
        if self._count is not None:
            future, self._count = self._count, None
            self.quota = self._joined(future)
        return self.quota

    def refused(self) -> RateLimited | None:
        """The refusal already known before the route runs (a write's count, or a window this
        instance knows is used up): the route is then not run at all."""
        if self.quota is not None and not self.quota.allowed:
            return RateLimited(retry_after=self.quota.retry_after)
        return None

    def check(self) -> None:
        """Raise RateLimited when this request is over the tenant's rate."""
        quota = self.decision()
        if quota is not None and not quota.allowed:
            raise RateLimited(retry_after=quota.retry_after)

    @contextmanager
    def scan_lease(self) -> Iterator[None]:
        self.check()  # a refused request does no expensive work
        remaining = current_deadline().remaining_s()
        lease_s = (DEFAULT_LEASE_S if math.isinf(remaining) else max(remaining, 0.0)) + LEASE_MARGIN_S
        lease: ScanLease | None = None
        try:
            taken = self.store.acquire_scan(self.tenant, uuid.uuid4().hex, lease_s)
        except Exception as exc:
            self._failed(exc)
        else:
            if isinstance(taken, ScansBusy):
                raise TooManyScans(retry_after=taken.retry_after)
            lease = taken
        try:
            yield
        finally:
            if lease is not None:
                # Released while the answer is rendered; joined in finish().
                self._releases.append(_submit(self.store.release_scan, lease))

    def finish(self, result: dict[str, Any], render: Callable[[ApiError], dict[str, Any]]) -> dict[str, Any]:
        """The answer with the tenant's X-RateLimit-* headers, or 429 when the count refused it."""
        quota = self.decision()
        for release in self._releases:
            self._joined(release)
        if quota is not None and not quota.allowed and result.get("statusCode") != 429:
            result = render(RateLimited(retry_after=quota.retry_after))
        if quota is None:  # unknown (fail open)
            quota = self.store.full_allowance()
        for reason in self.failures:
            # The exception type only: never a key (it holds the tenant) or an endpoint.
            logger.warning("rate limit store failed; request let through", extra={"reason": reason})
            metrics.add_metric(name=STORE_FAILURE_METRIC, unit=MetricUnit.Count, value=1)
        return {**result, "headers": {**(result.get("headers") or {}), **quota.headers()}}


def open_gate(event: dict[str, Any]) -> TenantGate | None:
    """Start counting a tenant request (None for public routes, or when limits are off)."""
    context = ((event.get("requestContext") or {}).get("authorizer") or {}).get("lambda") or {}
    tenant = context.get("id_company")
    if not isinstance(tenant, str) or not tenant:
        return None
    try:
        settings = get_settings()
    except ConfigurationError:
        return None  # the route meets the same error and answers it (500 internal_error)
    store = store_for(settings)
    if store is None:
        return None
    gate = TenantGate(store, tenant, wait_s=2 * settings.rate_limit_timeout_s)
    method = (((event.get("requestContext") or {}).get("http") or {}).get("method") or "GET").upper()
    if method not in _READ_METHODS:
        gate.decision()  # a write waits for its count (see the module's docstring)
    return gate


@contextmanager
def invocation_gate(event: dict[str, Any]) -> Iterator[TenantGate | None]:
    gate = open_gate(event)
    token = _current.set(gate)
    try:
        yield gate
    finally:
        _current.reset(token)


@contextmanager
def scan_lease() -> Iterator[None]:
    """Around expensive work of a tenant request: at most TENANT_MAX_SCANS at once (429 beyond)."""
    gate = _current.get()
    if gate is None:
        yield
        return
    with gate.scan_lease():
        yield
