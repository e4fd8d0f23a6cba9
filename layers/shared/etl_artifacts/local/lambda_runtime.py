"""Run a function's handler in-process, the way the Lambda runtime would (no Docker)."""

from __future__ import annotations

import importlib
import multiprocessing
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from etl_artifacts.local.template import FunctionSpec

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class LocalLambdaContext:
    """The attributes of the Lambda context object that Powertools and handlers read."""

    function_name: str
    memory_limit_in_mb: int = 1024
    timeout_s: float = 29.0
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"
    function_version: str = "$LATEST"
    _started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:local:000000000000:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_s - (time.monotonic() - self._started)) * 1000))


_handlers: dict[str, Handler] = {}


def load_handler(spec: FunctionSpec) -> Handler:
    """Import ``CodeUri/<module>.py`` (module names are unique per function) and return the handler."""
    if spec.logical_id not in _handlers:
        code_dir = str(spec.code_uri)
        if code_dir not in sys.path:
            sys.path.insert(0, code_dir)
        module = importlib.import_module(spec.module)
        _handlers[spec.logical_id] = getattr(module, spec.attribute)
    return _handlers[spec.logical_id]


# A Lambda execution environment handles one event at a time, in its own process. Here every
# function shares one process, and Powertools keeps the current event in class-level state
# (``BaseRouter.current_event``, shared by every resolver): concurrent local requests would read
# each other's event (tenant, headers). So the local runtime runs one invocation at a time.
_one_at_a_time = threading.RLock()


def invoke(spec: FunctionSpec, event: dict[str, Any]) -> Any:
    """Run one invocation in this process (tests, ``invoke``): serialised, see above."""
    handler = load_handler(spec)
    with _one_at_a_time:
        return handler(event, LocalLambdaContext(function_name=spec.logical_id))


def _invoke_in_worker(spec: FunctionSpec, event: dict[str, Any]) -> Any:
    # A worker process is one "execution environment": it runs one event at a time and keeps
    # its imports, clients and caches warm between events, exactly like a Lambda instance.
    return load_handler(spec)(event, LocalLambdaContext(function_name=spec.logical_id))


def _exit_with_parent(parent_pid: int) -> None:
    """Worker initializer: end this worker when the gateway process is gone (even after SIGKILL).

    Ctrl-C reaches the whole process group; the gateway shuts its workers down itself.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


class ProcessInvoker:
    """Concurrent local invocations: per function, a pool of worker processes started on demand
    (each start is a cold start), so requests run in parallel without sharing Powertools' state."""

    def __init__(self, max_instances_per_function: int = 4) -> None:
        self.max_instances = max(1, max_instances_per_function)
        self._pools: dict[str, ProcessPoolExecutor] = {}
        self._lock = threading.Lock()

    def _pool(self, spec: FunctionSpec) -> ProcessPoolExecutor:
        with self._lock:
            pool = self._pools.get(spec.logical_id)
            if pool is None:
                # spawn, not fork: the gateway process runs threads.
                pool = ProcessPoolExecutor(
                    self.max_instances,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_exit_with_parent,
                    initargs=(os.getpid(),),
                )
                self._pools[spec.logical_id] = pool
            return pool

    def __call__(self, spec: FunctionSpec, event: dict[str, Any]) -> Any:
        return self._pool(spec).submit(_invoke_in_worker, spec, event).result()

    def shutdown(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.shutdown(wait=True, cancel_futures=True)
