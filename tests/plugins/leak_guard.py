"""The suite-wide leak guard (docs/api.md "Errors": nothing leaks), as a pytest plugin.

Every test is wrapped: the log lines of the service and access loggers and every answer of the
in-process local gateway are scanned for JWTs, presigned signatures, secrets, the database URL,
the bucket name, SQL text and stack traces; a leak fails the test that caused it. The scanners
(``find_leaks``, ``capture_logs``, ``log_leaks``, ``body_leaks``) are also used directly by the
security suites.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
TRACEBACK_RE = re.compile(r"Traceback \(most recent call last\)|File \"[^\"]+\", line \d+")
SQL_RE = re.compile(r"\b(SELECT|INSERT INTO|UPDATE etl\.|DELETE FROM)\s", re.IGNORECASE)
PRESIGNED_RE = re.compile(r"X-Amz-(Signature|Credential)=", re.IGNORECASE)


def secret_values(env: dict[str, str]) -> dict[str, str]:
    """Values that must never be logged or returned, from the test environment."""
    from urllib.parse import urlsplit

    secrets = {
        "JWT_SECRET": env.get("JWT_SECRET", ""),
        "AWS_SECRET_ACCESS_KEY": env.get("AWS_SECRET_ACCESS_KEY", ""),
        "DATABASE_URL": env.get("DATABASE_URL", ""),
    }
    url = env.get("DATABASE_URL") or ""
    parts = urlsplit(url)
    if parts.password:
        secrets["database password"] = parts.password
    if "host=" in url:
        # The socket directory is a filesystem path of the database host.
        secrets["database socket dir"] = url.split("host=", 1)[1].split("&", 1)[0]
    return {name: value for name, value in secrets.items() if value}


def find_leaks(
    text: str,
    env: dict[str, str],
    *,
    bucket: str | None,
    allow_presigned: bool = False,
    check_sql: bool = True,
    check_traceback: bool = True,
    check_jwt: bool = True,
) -> list[str]:
    """Names of what leaks in ``text`` (empty when clean). Never returns the leaked value itself."""
    found = [name for name, value in secret_values(env).items() if value in text]
    if check_jwt and JWT_RE.search(text):
        found.append("JWT")
    if check_traceback and TRACEBACK_RE.search(text):
        found.append("stack trace")
    if check_sql and SQL_RE.search(text):
        found.append("SQL text")
    if not allow_presigned and PRESIGNED_RE.search(text):
        found.append("presigned URL signature")
    if bucket and not allow_presigned and bucket in text:
        found.append("bucket name")
    return found


class LineCollector(logging.Handler):
    """Formats every record with the formatter the real handler uses, so ``extra`` keys count."""

    def __init__(self, formatter: logging.Formatter | None) -> None:
        super().__init__(level=logging.DEBUG)
        if formatter is not None:
            self.setFormatter(formatter)
        self.lines: list[tuple[str, str]] = []  # (logger name, formatted line)
        # Lines holding one of these strings are deliberate canaries (the detector's own tests).
        self.ignore: list[str] = []
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # a record that cannot be formatted is still inspected raw
            line = f"{record.getMessage()} {record.__dict__}"
        if record.exc_info and "Traceback" not in line:
            line += "\n" + logging.Formatter().formatException(record.exc_info)
        with self._guard:
            self.lines.append((record.name, line))


# Loggers whose records are our own lines (the service logger, used by the functions and the
# local gateway) or could carry request material (the development server's access log).
SERVICE_LOGGER = "etl-artifacts"
ACCESS_LOGGER = "werkzeug"


class _Tee:
    """A stream that records what is written and passes it on (Powertools' stdout handler)."""

    def __init__(self, inner: Any, sink: list[str]) -> None:
        self._inner = inner
        self._sink = sink

    def write(self, text: str) -> int:
        self._sink.append(text)
        return self._inner.write(text)

    def flush(self) -> None:
        self._inner.flush()


@contextmanager
def capture_logs() -> Iterator[LineCollector]:
    """Collect every line of the service logger (all levels), of any other logger at WARNING+,
    and the exact text the service logger's own handlers printed (``collector.printed``)."""
    from etl_artifacts.observability import logger as service_logger

    collector = LineCollector(service_logger.registered_formatter)
    printed: list[str] = []
    collector.printed = printed  # type: ignore[attr-defined]
    service = logging.getLogger(SERVICE_LOGGER)
    root = logging.getLogger()
    access = logging.getLogger(ACCESS_LOGGER)
    saved_level = service.level
    # Tee the real handlers' streams: what Powertools prints is checked as printed.
    teed = [h for h in service.handlers if isinstance(h, logging.StreamHandler)]
    saved_streams = [h.stream for h in teed]
    for handler in teed:
        handler.setStream(_Tee(handler.stream, printed))
    service.setLevel(logging.DEBUG)
    service.addHandler(collector)
    # The service logger propagates; the root collector sees the other libraries only.
    root_collector = LineCollector(None)
    root_collector.addFilter(lambda record: not record.name.startswith(SERVICE_LOGGER))
    root_collector.setLevel(logging.WARNING)
    root.addHandler(root_collector)
    access.addHandler(collector)
    try:
        yield collector
    finally:
        service.removeHandler(collector)
        service.setLevel(saved_level)
        for handler, stream in zip(teed, saved_streams, strict=True):
            handler.setStream(stream)
        root.removeHandler(root_collector)
        access.removeHandler(collector)
        collector.lines.extend(root_collector.lines)
        collector.lines.extend(
            (SERVICE_LOGGER, line) for line in "".join(printed).splitlines() if line.strip()
        )


def log_leaks(lines: list[tuple[str, str]], env: dict[str, str], bucket: str | None) -> list[str]:
    problems: list[str] = []
    for name, line in lines:
        if name == ACCESS_LOGGER:
            # The development server's access log prints request paths and query strings: what a
            # client put there (a keyword, even a token sent where none belongs) is not ours to
            # hide, but configuration secrets must never appear.
            leaks = find_leaks(
                line,
                env,
                bucket=None,
                allow_presigned=True,
                check_sql=False,
                check_traceback=True,
                check_jwt=False,
            )
        else:
            leaks = find_leaks(line, env, bucket=bucket)
        if leaks:
            problems.append(f"{name}: {', '.join(leaks)} in a log line")
    return problems


def body_leaks(status: int, body: str, env: dict[str, str], bucket: str | None) -> list[str]:
    """Error bodies carry nothing but the API's fields; success bodies never carry secrets.

    (Success bodies legitimately hold presigned URLs, and data rows may hold anything the ETL
    wrote, including tracebacks in errors chunks: only configuration secrets and JWTs are checked.)
    """
    if status >= 400:
        return find_leaks(body, env, bucket=bucket)
    return find_leaks(body, env, bucket=None, allow_presigned=True, check_sql=False, check_traceback=False)


class ResponseRecorder:
    """Every (status, body) the in-process local gateway answered, across threads."""

    def __init__(self) -> None:
        self.responses: list[tuple[str, int, str]] = []  # (route or path, status, body)
        self._lock = threading.Lock()

    def add(self, where: str, status: int, body: str) -> None:
        with self._lock:
            self.responses.append((where, status, body))

    def drain(self) -> list[tuple[str, int, str]]:
        with self._lock:
            taken, self.responses = self.responses, []
        return taken


RESPONSES = ResponseRecorder()


@pytest.fixture(scope="session", autouse=True)
def _record_gateway_responses() -> Iterator[None]:
    """Wrap the local gateway's dispatch for the whole session: every answer is inspected."""
    from etl_artifacts_local.gateway import LocalGateway

    original = LocalGateway.dispatch

    def dispatch(self: Any, request: Any) -> Any:
        response = original(self, request)
        try:
            body = response.get_data(as_text=True)
        except Exception:  # a streamed body is not read here
            body = ""
        RESPONSES.add(f"{request.method} {request.path}", response.status_code, body)
        return response

    LocalGateway.dispatch = dispatch  # type: ignore[method-assign]
    yield
    LocalGateway.dispatch = original  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def leak_guard(_record_gateway_responses: None) -> Iterator[LineCollector]:
    """Suite-wide leak check (this plugin is loaded by conftest.py, so it wraps EVERY test): all log lines
    of the service logger and every gateway answer of the test are scanned for JWTs, presigned
    signatures, secrets, the database URL and password, the bucket name, SQL text and stack traces.
    A leak fails the test that caused it (at teardown), naming what leaked but never the value.
    """
    import os

    RESPONSES.drain()
    with capture_logs() as collector:
        yield collector
    env = dict(os.environ)
    bucket = env.get("ARTIFACTS_BUCKET") or None
    lines = [(n, line) for n, line in collector.lines if not any(c in line for c in collector.ignore)]
    problems = log_leaks(lines, env, bucket)
    for where, status, body in RESPONSES.drain():
        problems += [
            f"{where} -> {status}: {leak} in the body" for leak in body_leaks(status, body, env, bucket)
        ]
    if problems:
        pytest.fail("leak check: " + "; ".join(sorted(set(problems))), pytrace=False)
