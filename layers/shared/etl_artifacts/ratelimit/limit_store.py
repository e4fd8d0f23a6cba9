"""The per-tenant counters and scan leases in DynamoDB (docs/limits.md, "Rate limits").

One table, partition key ``pk`` (string), TTL attribute ``expires_at`` (Unix seconds):

- ``rate#<window>#<shard>#t:<tenant>``: requests of one tenant in one fixed window of
  ``burst / rps`` seconds, counted by one conditional ``UpdateItem`` (``ADD n 1`` only while
  ``n < cap``): one round trip, atomic across every instance, no read-modify-write. A tenant's
  window is split over ``shards`` items whose caps add up to ``burst``, so that one tenant at its
  burst never puts more writes on one item than a partition takes.
- ``scan#<slot>#t:<tenant>``: ``max_scans`` lease slots; a slot is taken by a conditional update that
  succeeds only when the slot is free or its lease has expired, so a lease of an instance that
  died frees itself; it is released by a delete conditioned on its holder.

The tenant is the last part of every key: the parts before it are digits, so no tenant can name
another tenant's item. A tenant id too long for a key (DynamoDB takes 2,048 bytes) is replaced by
``h:<sha256>`` (``t:`` and ``h:`` keep the two forms apart). Every call raises ``LimitStoreError``
when DynamoDB fails; the caller fails open (``etl_artifacts.ratelimit.tenant_gate``).
"""

from __future__ import annotations

import hashlib
import math
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from etl_artifacts.errors import LimitStoreError

# Writes one counter item takes per second, at most: a partition serves 1,000 WCU/s and splits
# for heat between items, never inside one; this leaves room for refused writes and leases.
SHARD_WRITES_PER_S = 250
# DynamoDB's TTL deletes within days; the window's own key already stops it from being reused.
COUNTER_TTL_SLACK_S = 60
# Retry-After of too_many_scans: a lease's expiry is its worst case, scans usually end sooner.
SCAN_RETRY_AFTER_MAX_S = 10
_MAX_REMEMBERED = 4096
_MAX_TENANT_BYTES = 1024


def tenant_key(tenant: str) -> str:
    """The tenant's part of a key (see the module's docstring)."""
    raw = tenant.encode("utf-8", "surrogatepass")
    if len(raw) <= _MAX_TENANT_BYTES:
        return "t:" + tenant
    return "h:" + hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class Quota:
    """The tenant's rate limit state after counting one request."""

    limit: int
    remaining: int
    reset: int  # Unix seconds when the window ends
    allowed: bool
    retry_after: int  # seconds until the window ends (at least 1)

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }


@dataclass(frozen=True)
class ScanLease:
    key: str
    holder: str


@dataclass(frozen=True)
class ScansBusy:
    """Every slot is held by a running lease; the soonest expires in ``retry_after`` seconds."""

    retry_after: int


def _conditional_failure(exc: Exception) -> bool:
    response = getattr(exc, "response", None) or {}
    return bool((response.get("Error") or {}).get("Code") == "ConditionalCheckFailedException")


class LimitStore:
    """Counters and leases of one table, with this instance's memory of full windows."""

    def __init__(
        self,
        client: Callable[[], Any],
        table: str,
        *,
        rps: float,
        burst: int,
        max_scans: int,
        shards: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self.table = table
        self.rps = rps
        self.burst = burst
        self.max_scans = max_scans
        self.window_s = burst / rps
        # A whole burst may arrive within one second; the sustained rate never goes above it.
        self.shards = shards or max(1, math.ceil(max(burst, rps) / SHARD_WRITES_PER_S))
        self.shards = min(self.shards, burst)  # every shard holds at least one request
        self.clock = clock
        # (tenant, window) -> shards known to be full: once all are, refuse without a call.
        self._full: OrderedDict[tuple[str, int], set[int]] = OrderedDict()
        self._lock = threading.Lock()

    # -- the rate limit ------------------------------------------------------------------------
    def _window(self, now: float) -> tuple[int, int]:
        """(window number, window end in Unix seconds, rounded up)."""
        number = math.floor(now / self.window_s)
        return number, math.ceil((number + 1) * self.window_s)

    def _cap(self, shard: int) -> int:
        return self.burst // self.shards + (1 if shard < self.burst % self.shards else 0)

    def _quota(self, now: float, remaining: int, allowed: bool) -> Quota:
        _, reset = self._window(now)
        return Quota(self.burst, max(0, remaining), reset, allowed, max(1, math.ceil(reset - now)))

    def _open_shards(self, tenant: str, number: int) -> list[int]:
        with self._lock:
            full = self._full.get((tenant, number), set())
        return [shard for shard in range(self.shards) if shard not in full]

    def _remember_full(self, tenant: str, number: int, shard: int) -> None:
        with self._lock:
            self._full.setdefault((tenant, number), set()).add(shard)
            self._full.move_to_end((tenant, number))
            while len(self._full) > _MAX_REMEMBERED:
                self._full.popitem(last=False)

    def connect(self) -> None:
        """Create the client (the first one imports boto3): not part of any call's time."""
        self._client()

    def full_allowance(self, now: float | None = None) -> Quota:
        """The quota shown when the count is unknown (the store failed): the window's whole burst."""
        return self._quota(self.clock() if now is None else now, self.burst, allowed=True)

    def known_full(self, tenant: str, now: float | None = None) -> Quota | None:
        """The refusal, when this instance already knows the tenant's window is used up (no call)."""
        now = self.clock() if now is None else now
        number, _ = self._window(now)
        return None if self._open_shards(tenant, number) else self._quota(now, 0, allowed=False)

    def count_request(self, tenant: str, now: float | None = None) -> Quota:
        """Count one request of ``tenant``: one conditional UpdateItem on one shard of its window."""
        now = self.clock() if now is None else now
        number, reset = self._window(now)
        shards = self._open_shards(tenant, number)
        if not shards:
            return self._quota(now, 0, allowed=False)
        shard = random.choice(shards)
        cap = self._cap(shard)
        window_key = f"{round(self.window_s * 1000)}:{number}"
        try:
            answer = self._client().update_item(
                TableName=self.table,
                Key={"pk": {"S": f"rate#{window_key}#{shard}#{tenant_key(tenant)}"}},
                UpdateExpression="ADD n :one SET expires_at = if_not_exists(expires_at, :ttl)",
                ConditionExpression="attribute_not_exists(n) OR n < :cap",
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":cap": {"N": str(cap)},
                    ":ttl": {"N": str(reset + COUNTER_TTL_SLACK_S)},
                },
                ReturnValues="UPDATED_NEW",
            )
        except Exception as exc:
            if not _conditional_failure(exc):
                raise LimitStoreError(type(exc).__name__) from exc
            self._remember_full(tenant, number, shard)
            return self._quota(now, 0, allowed=False)
        used = int(answer["Attributes"]["n"]["N"])
        if used >= cap:
            self._remember_full(tenant, number, shard)
        # Exact with one shard; with several, this shard's share scaled to the whole window.
        remaining = min(self.burst - used, (cap - used) * self.shards)
        return self._quota(now, remaining, allowed=True)

    # -- scan leases ---------------------------------------------------------------------------
    def acquire_scan(
        self, tenant: str, holder: str, lease_s: float, now: float | None = None
    ) -> ScanLease | ScansBusy:
        """Take a free (or expired) slot of ``tenant`` for ``lease_s`` seconds."""
        now = self.clock() if now is None else now
        slots = list(range(self.max_scans))
        random.shuffle(slots)  # concurrent requests of a tenant rarely try the same slot first
        soonest: float | None = None
        for slot in slots:
            key = f"scan#{slot}#{tenant_key(tenant)}"
            try:
                self._client().update_item(
                    TableName=self.table,
                    Key={"pk": {"S": key}},
                    UpdateExpression="SET holder = :me, expires_at = :exp",
                    ConditionExpression="attribute_not_exists(holder) OR expires_at < :now",
                    ExpressionAttributeValues={
                        ":me": {"S": holder},
                        ":exp": {"N": str(math.ceil(now + lease_s))},
                        ":now": {"N": str(math.floor(now))},
                    },
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except Exception as exc:
                if not _conditional_failure(exc):
                    raise LimitStoreError(type(exc).__name__) from exc
                held = (getattr(exc, "response", None) or {}).get("Item") or {}
                expires = float((held.get("expires_at") or {}).get("N", now + SCAN_RETRY_AFTER_MAX_S))
                soonest = expires if soonest is None else min(soonest, expires)
                continue
            return ScanLease(key, holder)
        wait = math.ceil((soonest if soonest is not None else now) - now)
        return ScansBusy(min(max(1, wait), SCAN_RETRY_AFTER_MAX_S))

    def release_scan(self, lease: ScanLease) -> None:
        """Free the slot, unless its lease expired and another request took it meanwhile."""
        try:
            self._client().delete_item(
                TableName=self.table,
                Key={"pk": {"S": lease.key}},
                ConditionExpression="holder = :me",
                ExpressionAttributeValues={":me": {"S": lease.holder}},
            )
        except Exception as exc:
            if not _conditional_failure(exc):
                raise LimitStoreError(type(exc).__name__) from exc
