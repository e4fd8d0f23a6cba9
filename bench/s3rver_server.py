"""s3rver (npm) for the S3 cost model: a local S3 server that serves a range from disk in
proportion to the range (moto reads the whole object for every range GET).

It is installed by ``make s3rver`` (also a step of ``make bench``, ``make bench-smoke`` and
``make test``), or by the benchmarks themselves when missing: ``npm ci`` of ``bench/node``'s lock
file into ``.local/s3rver`` (git-ignored). ``python -m bench.s3rver_server --install`` does it.

What it does not emulate, and so what the cost model leaves out: signatures (any credentials
pass), conditional requests (``If-Match``/``If-None-Match`` are ignored), and S3's own first-byte
latency, which the latency proxy (``etl_artifacts_local.s3_proxy``) adds instead.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench.timing import REPO_ROOT, progress

NODE_DIR = REPO_ROOT / "bench" / "node"
INSTALL_DIR = REPO_ROOT / ".local" / "s3rver"
_STAMP = ".installed-lock"  # a copy of the lock file it was installed from


def ensure_s3rver(install_dir: Path = INSTALL_DIR) -> Path:
    """``node_modules`` of s3rver, installed once from the lock file (again when the lock changes)."""
    lock = (NODE_DIR / "package-lock.json").read_bytes()
    stamp = install_dir / _STAMP
    if stamp.exists() and stamp.read_bytes() == lock:
        return install_dir / "node_modules"
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise RuntimeError("the S3 cost model needs Node.js (20+) and npm on PATH to install s3rver")
    progress("installing s3rver (npm ci) into .local/s3rver")
    staging = install_dir.with_name(f".{install_dir.name}.{os.getpid()}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copy2(NODE_DIR / name, staging / name)
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=staging,
        check=True,
        timeout=600,
        stdout=subprocess.DEVNULL,
    )
    (staging / _STAMP).write_bytes(lock)
    shutil.rmtree(install_dir, ignore_errors=True)
    staging.rename(install_dir)
    return install_dir / "node_modules"


@dataclass
class S3rverServer:
    """s3rver in a subprocess on a free loopback port, objects kept in ``directory``."""

    directory: Path
    buckets: tuple[str, ...]
    port: int = 0
    _proc: subprocess.Popen[str] | None = field(default=None, repr=False)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60.0) -> str:
        node_modules = ensure_s3rver()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._proc = subprocess.Popen(
            ["node", str(NODE_DIR / "serve.js"), str(self.directory), *self.buckets],
            stdin=subprocess.PIPE,  # closed when this process ends: the server then exits too
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "NODE_PATH": str(node_modules)},
        )
        assert self._proc.stdout is not None
        ready, _, _ = select.select([self._proc.stdout], [], [], timeout_s)
        line = self._proc.stdout.readline() if ready else ""
        if not line:
            self.stop()
            raise RuntimeError("s3rver did not start in time")
        self.port = int(json.loads(line)["port"])
        return self.endpoint

    def stop(self) -> None:
        if self._proc is not None:
            assert self._proc.stdin is not None and self._proc.stdout is not None
            self._proc.stdin.close()
            self._proc.stdout.close()
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(10)
            self._proc = None


if __name__ == "__main__":
    if sys.argv[1:] != ["--install"]:
        print("usage: python -m bench.s3rver_server --install", file=sys.stderr)
        sys.exit(2)
    print(ensure_s3rver().relative_to(REPO_ROOT))
