"""The invocation's deadline, from the Lambda context (docs/limits.md "Deadline").

``lambda_entry`` starts one :class:`Deadline` per invocation from
``context.get_remaining_time_in_millis()``; long loops call :func:`check_deadline` between units
of work. When too little time is left to do one more unit and still answer, the work stops with
:class:`~etl_artifacts.errors.DeadlineExceeded` (503 + ``Retry-After``) at least ``MARGIN_S``
before the function's Timeout, instead of being killed by Lambda (API Gateway's bare 500).
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from etl_artifacts.errors import DeadlineExceeded

# Time kept for answering after the work stops: rendering the 503, queueing an index build (one
# SQS call with its own short timeout) and Lambda's own return. docs/limits.md asks for >= 1 s.
MARGIN_S = 2.0


class Deadline:
    """Seconds left before the function's Timeout, minus the margin for answering."""

    def __init__(self, remaining_s: float | None, margin_s: float = MARGIN_S) -> None:
        self.margin_s = margin_s
        self._expires = None if remaining_s is None else time.monotonic() + remaining_s

    @classmethod
    def from_context(cls, context: Any) -> Deadline:
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        return cls(remaining() / 1000.0 if callable(remaining) else None)

    def remaining_s(self) -> float:
        """Time left for work (the margin already taken off); infinite without a context."""
        if self._expires is None:
            return float("inf")
        return self._expires - time.monotonic() - self.margin_s

    def check(self, needed_s: float = 0.0) -> None:
        """Raise DeadlineExceeded unless ``needed_s`` more seconds of work still fit."""
        if self.remaining_s() < needed_s:
            raise DeadlineExceeded()


_current: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar("deadline", default=None)
_UNLIMITED = Deadline(None)


@contextmanager
def invocation_deadline(context: Any) -> Iterator[Deadline]:
    """The invocation's deadline while it runs; reset afterwards, so code that runs outside an
    invocation in the same thread (the CLI, tests, a warm process's next event) never sees it."""
    deadline = Deadline.from_context(context)
    token = _current.set(deadline)
    try:
        yield deadline
    finally:
        _current.reset(token)


def current_deadline() -> Deadline:
    """The running invocation's deadline (unlimited outside an invocation: CLI, unit tests)."""
    return _current.get() or _UNLIMITED


def check_deadline(needed_s: float = 0.0) -> None:
    """Stop the current invocation's work when ``needed_s`` more seconds would overrun it."""
    current_deadline().check(needed_s)
