"""``etl-artifacts serve`` as a subprocess, for the tests that need the local server's process model."""

from __future__ import annotations

import re
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from conftest import REPO_ROOT

CLI = Path(sys.executable).with_name("etl-artifacts")


@contextmanager
def serving(args: list[str], env: dict[str, str], log: Path) -> Iterator[str]:
    """``etl-artifacts serve --port 0 ARGS``; yields its base URL, stops it (SIGTERM) afterwards."""
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            [str(CLI), "serve", "--port", "0", *args],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        try:
            assert proc.stdout is not None
            ready, _, _ = select.select([proc.stdout], [], [], 120)
            assert ready, "serve did not start"
            match = re.search(r"(http://127\.0\.0\.1:\d+)/api/v1", proc.stdout.readline())
            assert match, log.read_text()
            yield match.group(1)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
