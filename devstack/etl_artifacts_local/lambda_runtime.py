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
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from etl_artifacts.observability import logger

from etl_artifacts_local.template import FunctionSpec

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
    """Run one invocation in this process (tests, ``invoke``): serialised, see above. The context
    reports the function's Timeout, but nothing stops a handler that overruns it (ProcessInvoker does)."""
    handler = load_handler(spec)
    with _one_at_a_time:
        try:
            return handler(event, LocalLambdaContext(function_name=spec.logical_id, timeout_s=spec.timeout_s))
        finally:
            # In Lambda the logger's invocation keys (function name, request id, cold start) end with
            # the execution environment. Here every function shares this process's logger: they end
            # with the invocation, or the next line this process logs (the gateway's own, say
            # about another function's timeout) would name the function that ran last.
            logger.clear_state()


class InvocationFailed(Exception):
    """The invocation produced no result: it timed out, its process died, or the handler raised.

    ``reason`` is ``timeout``, ``crash`` or the exception's type name; never its message.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _WorkerGone(InvocationFailed):
    """The worker died before it started the event (e.g. killed while idle): nothing ran."""

    def __init__(self) -> None:
        super().__init__("crash")


# A worker's first request imports the function (Lambda's Init phase, limited to 10 s in AWS and not
# counted in the Timeout). Generous here: imports on a busy laptop are no fault of the function.
INIT_TIMEOUT_S = 120.0


def _worker_main(conn: Connection, parent_pid: int, spec: FunctionSpec) -> None:
    """One "execution environment": init first (the handler's import and its SnapStart hooks,
    ``etl_artifacts.snapstart``), then one event at a time, imports and caches kept between events."""
    _exit_with_parent(parent_pid)
    try:
        load_handler(spec)
        from etl_artifacts.snapstart import run_init

        run_init()
    except BaseException as exc:  # an Init failure: every event gets it, as in Lambda
        init_error: str | None = type(exc).__name__
    else:
        init_error = None
    while True:
        try:
            spec, event, timeout_s = conn.recv()
        except EOFError:
            return
        if init_error is not None:
            conn.send(("error", init_error))
            continue
        handler = load_handler(spec)
        # The Timeout counts from here, as Lambda's starts after Init.
        conn.send(("started", None))
        try:
            result = handler(event, LocalLambdaContext(function_name=spec.logical_id, timeout_s=timeout_s))
        except BaseException as exc:
            conn.send(("error", type(exc).__name__))
            continue
        conn.send(("ok", result))


def _exit_with_parent(parent_pid: int) -> None:
    """End this worker when the gateway process is gone (even after SIGKILL).

    Ctrl-C reaches the whole process group; the gateway shuts its workers down itself.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


class _Worker:
    def __init__(self, spec: FunctionSpec) -> None:
        context = multiprocessing.get_context("spawn")  # not fork: the gateway process runs threads
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_worker_main, args=(child, os.getpid(), spec), daemon=True)
        self.process.start()
        child.close()

    def _receive(self, timeout_s: float, started: bool) -> tuple[str, Any]:
        # poll() also returns when the process died (the pipe is at EOF).
        if not self.conn.poll(timeout_s):
            self.kill()
            raise InvocationFailed("timeout")
        try:
            message: tuple[str, Any] = self.conn.recv()
        except (EOFError, OSError):
            self.kill()
            raise (InvocationFailed("crash") if started else _WorkerGone()) from None
        return message

    def run(self, spec: FunctionSpec, event: dict[str, Any], timeout_s: float) -> Any:
        try:
            self.conn.send((spec, event, timeout_s))
        except (BrokenPipeError, OSError):
            self.kill()
            raise _WorkerGone() from None
        status, value = self._receive(INIT_TIMEOUT_S, started=False)
        if status == "started":
            status, value = self._receive(timeout_s, started=True)
        if status != "ok":
            raise InvocationFailed(str(value))
        return value

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def kill(self) -> None:
        # Lambda ends a timed-out environment; the next request gets a fresh one (a cold start).
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()


class _FunctionPool:
    """Up to ``size`` workers of one function; a dead or killed worker is replaced on demand."""

    def __init__(self, spec: FunctionSpec, size: int) -> None:
        self.spec = spec
        self.size = size
        self.idle: list[_Worker] = []
        self.count = 0
        self.ready = threading.Condition()

    def acquire(self) -> _Worker:
        with self.ready:
            while True:
                while self.idle:
                    worker = self.idle.pop()
                    if worker.alive:
                        return worker
                    worker.kill()  # died while idle (e.g. SIGKILL): replace it
                    self.count -= 1
                if self.count < self.size:
                    self.count += 1
                    break
                self.ready.wait()
        try:
            return _Worker(self.spec)
        except BaseException:
            self.release(None)
            raise

    def release(self, worker: _Worker | None) -> None:
        with self.ready:
            if worker is not None and worker.alive:
                self.idle.append(worker)
            else:
                self.count -= 1
            self.ready.notify()

    def close(self) -> None:
        with self.ready:
            workers, self.idle = self.idle, []
        for worker in workers:
            worker.kill()


class ProcessInvoker:
    """Concurrent local invocations as Lambda runs them: per function, up to N worker processes
    (each start is a cold start), one event at a time each, killed at the function's Timeout
    (``timeout_s`` overrides every function's, for tests) and replaced when they die."""

    def __init__(self, max_instances_per_function: int = 4, timeout_s: float | None = None) -> None:
        self.max_instances = max(1, max_instances_per_function)
        self.timeout_s = timeout_s
        self._pools: dict[str, _FunctionPool] = {}
        self._lock = threading.Lock()

    def _pool(self, spec: FunctionSpec) -> _FunctionPool:
        with self._lock:
            pool = self._pools.get(spec.logical_id)
            if pool is None:
                pool = self._pools[spec.logical_id] = _FunctionPool(spec, self.max_instances)
            return pool

    def prestart(self, specs: list[FunctionSpec]) -> None:
        """Start one worker per function now, so that its init (import and SnapStart priming) is
        done before the first request, as a SnapStart version's instances are."""
        for spec in specs:
            pool = self._pool(spec)
            pool.release(pool.acquire())

    def timeout_for(self, spec: FunctionSpec) -> float:
        return self.timeout_s if self.timeout_s is not None else spec.timeout_s

    def __call__(self, spec: FunctionSpec, event: dict[str, Any], timeout_s: float | None = None) -> Any:
        pool = self._pool(spec)
        timeout = timeout_s if timeout_s is not None else self.timeout_for(spec)
        for attempt in range(2):
            worker = pool.acquire()
            try:
                return worker.run(spec, event, timeout)
            except _WorkerGone:
                # A worker that died idle (an OOM kill, SIGKILL) ran nothing: a fresh one takes the event.
                if attempt == 1:
                    raise
            finally:
                pool.release(worker)
        raise AssertionError("unreachable")

    def shutdown(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()
