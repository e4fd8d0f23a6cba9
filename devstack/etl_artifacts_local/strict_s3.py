"""An S3 as strict as AWS on presigned uploads: LocalStack's S3, run on the host without Docker.

moto's server stores a presigned PUT whose body does not match its signed
``x-amz-checksum-sha256``. LocalStack's S3 (``S3_SKIP_SIGNATURE_VALIDATION=0``) refuses it, and a
changed signed header, an expired URL and a forged signature, as AWS does, so the upload path is
proven against it (docs/local-stack.md says what it checks and what it does not; the fixtures
``strict_s3``, ``strict_bucket`` and ``on_strict_s3`` of the tests use this class).

LocalStack runs on Python 3.13 here and pins its own boto3, so it lives in a virtualenv of its own,
``.local/tools/localstack`` at the repository root, made by ``make strict-s3``; this module
starts ``python -m localstack.runtime.main`` from there with S3 as its only service.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from etl_artifacts_local.services import ServerExitedEarly, local_aws_environment, start_on_a_free_port
from etl_artifacts_local.template import default_template_path

# LocalStack validates a presigned URL with the secret of the access key that signed it; a key it
# did not issue is checked against this fixed secret, so local clients must sign with it.
SECRET_ACCESS_KEY = "test"  # noqa: S105 - a fixed local dummy, never a real credential
INSTALL_HINT = "run `make strict-s3` (needs Python 3.13 as python3.13, or set PYTHON313)"


# `python -m localstack.runtime.main`, but its huge heap is frozen at exit: the interpreter's final
# garbage collection otherwise takes seconds after LocalStack has shut down cleanly.
_LAUNCHER = (
    "import atexit, gc, runpy; atexit.register(gc.freeze); "
    "runpy.run_module('localstack.runtime.main', run_name='__main__', alter_sys=True)"
)


def default_localstack_python() -> Path:
    """The interpreter of the virtualenv ``make strict-s3`` creates at the repository root."""
    return default_template_path().parent / ".local" / "tools" / "localstack" / "bin" / "python"


class StrictS3NotInstalled(RuntimeError):
    """LocalStack's virtualenv is missing."""


@dataclass
class StrictS3Server:
    """LocalStack's S3 in its own process group, its files (log, state, spilled objects) under
    ``directory``; ``start()`` returns once S3 itself answers, ``stop()`` ends the whole group."""

    directory: Path
    host: str = "127.0.0.1"
    port: int = 0
    python: Path = field(default_factory=default_localstack_python)
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The server's process id (its process group's too) while it runs."""
        return self._proc.pid if self._proc is not None else None

    @property
    def log_path(self) -> Path:
        return self.directory / "localstack.log"

    def aws_environment(self, bucket: str) -> dict[str, str]:
        """The local AWS variables for this server (the secret it validates presigned URLs with)."""
        return {
            **local_aws_environment(self.endpoint, bucket),
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        }

    def start(self, timeout_s: float = 120.0) -> str:
        if not self.python.exists():
            raise StrictS3NotInstalled(f"LocalStack is not installed: {INSTALL_HINT}")
        failure = f"LocalStack's S3 exited during start-up (see {self.log_path})"
        return start_on_a_free_port(self, lambda: self._start_once(timeout_s), failure)

    def _environment(self) -> dict[str, str]:
        tmp = self.directory / "tmp"
        root = self.directory / "fs"
        # Nothing is persisted: what a killed earlier run left behind is only litter.
        for leftover in (tmp, root):
            shutil.rmtree(leftover, ignore_errors=True)
        tmp.mkdir(parents=True)
        # The index of AWS's service specifications, built once by `make strict-s3` (as LocalStack's
        # own image does at build time); without it every start spends seconds building it again.
        static = root / "usr" / "lib" / "localstack"
        static.mkdir(parents=True)
        for built in self._static_files():
            shutil.copyfile(built, static / built.name)
        return {
            # Its own interpreter and packages only: nothing of the caller's virtualenv.
            **{k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))},
            "SERVICES": "s3",
            "EAGER_SERVICE_LOADING": "1",  # S3 loads before the health check answers, not on first use
            "GATEWAY_LISTEN": f"{self.host}:{self.port}",
            "S3_SKIP_SIGNATURE_VALIDATION": "0",
            "PERSISTENCE": "0",
            # A container (this one, a CI runner) would make it use /var/lib/localstack: host layout.
            "OVERRIDE_IN_DOCKER": "0",
            "FILESYSTEM_ROOT": str(self.directory / "fs"),
            "TMPDIR": str(tmp),  # objects over 512 KiB spill to temporary files here
            # Nothing leaves the machine: no DNS server, no certificate download, no analytics.
            "DNS_ADDRESS": "0",
            "SKIP_SSL_CERT_DOWNLOAD": "1",
            "DISABLE_EVENTS": "1",
        }

    def _static_files(self) -> list[Path]:
        # The virtualenv's own filesystem root: <venv>/fs, where `make strict-s3` builds them.
        built = self.python.parent.parent / "fs" / "usr" / "lib" / "localstack"
        return sorted(built.glob("*.dill"))

    def _start_once(self, timeout_s: float) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self._proc = subprocess.Popen(
            [str(self.python), "-c", _LAUNCHER],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self._environment(),
            cwd=self.directory,
            start_new_session=True,  # its own process group, so stop() ends every child too
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._close()
                raise ServerExitedEarly
            if self._s3_running():
                return self.endpoint
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"LocalStack's S3 did not start in time (see {self.log_path})")

    def _s3_running(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint}/_localstack/health", timeout=5) as answer:  # noqa: S310 - loopback only
                services = json.load(answer).get("services", {})
        except (urllib.error.URLError, OSError, ValueError):
            return False
        return services.get("s3") == "running"

    def stop(self) -> None:
        if self._proc is not None:
            try:
                os.killpg(self._proc.pid, signal.SIGTERM)
                self._proc.wait(15)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait(5)
        self._close()

    def _close(self) -> None:
        self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
