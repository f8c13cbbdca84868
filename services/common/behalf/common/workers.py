"""N worker processes of one service on one port (`SO_REUSEPORT`), under a small supervisor.

The supervisor starts `python -m behalf.<service>` N times with `BEHALF_WORKER_INDEX` set. Each
worker is a whole service process (its own event loop, policy stream, producers) that joins
the shared port only once it can serve (`runner.serve`), so the kernel never hands a
connection to a worker still starting. Every server sets `grpc.so_reuseport`.

Metrics: the workers record into prometheus_client's multiprocess directory
(behalf.common.metrics_dir) and the supervisor alone serves `/metrics` on the service's
metrics port, summed (or min/max, as each gauge declares) over the workers: one scrape target
per pod, as with one process.

A worker that exits on its own takes the pod down: the supervisor stops the others and exits
with the worker's code, so the orchestrator restarts the whole pod rather than running it
short-handed. SIGTERM and SIGINT are passed on to every worker, which drain as one process
would. If the supervisor itself is killed, each worker gets SIGTERM from the kernel
(PR_SET_PDEATHSIG), so no worker outlives it holding the port.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import FrameType
from wsgiref.simple_server import WSGIServer

import structlog
from prometheus_client import CollectorRegistry, multiprocess, start_http_server

from behalf.common.config import ConfigError, Env
from behalf.common.metrics_dir import metrics_directory

WORKER_INDEX = "BEHALF_WORKER_INDEX"
_MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
_PR_SET_PDEATHSIG = 1
_POLL_SECONDS = 0.2
_log = structlog.get_logger("workers")


def default_worker_count() -> int:
    """The CPUs this process may run on (its affinity mask), at least one. In a container
    with a CPU limit but no cpuset, set the count explicitly to the limit."""
    return max(1, len(os.sched_getaffinity(0)))


def worker_count(env: Env, name: str, *, grpc_port: int) -> int:
    """`name` (e.g. BEHALF_VERIFIER_WORKERS), default the CPU count; 1 inside a worker."""
    if worker_index(env) is not None:
        return 1
    count = env.int(name, default_worker_count(), minimum=1, maximum=256)
    if count > 1 and grpc_port == 0:
        raise ConfigError(f"{name}={count} needs a fixed BEHALF_GRPC_PORT (workers share it)")
    return count


def worker_index(env: Env) -> int | None:
    """This process's index among its supervisor's workers, or None when it is not a worker."""
    raw = env.str(WORKER_INDEX, "")
    if not raw:
        return None
    return env.int(WORKER_INDEX, 0, minimum=0, maximum=255)


def die_with_parent() -> None:
    """Ask the kernel for SIGTERM when the supervisor dies (Linux; elsewhere a no-op)."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() == 1:  # the supervisor died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


@dataclass(frozen=True)
class Supervision:
    """What the supervisor needs: the module to run, how many, where metrics are served."""

    module: str  # e.g. "behalf.verifier"
    count: int
    metrics_host: str
    metrics_port: int | None
    grace_seconds: float


def supervise(plan: Supervision, environ: Mapping[str, str] | None = None) -> int:
    """Run the workers until a signal or a worker's exit; return the exit code."""
    with metrics_directory() as metrics_dir:
        return _supervise(plan, environ, metrics_dir)


def _supervise(plan: Supervision, environ: Mapping[str, str] | None, metrics_dir: str) -> int:
    base_env = dict(os.environ if environ is None else environ)
    stop_requested: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop_requested.append(signum)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    workers: list[subprocess.Popen[bytes]] = []
    metrics_server: WSGIServer | None = None
    try:
        for index in range(plan.count):
            env = {
                **base_env,
                WORKER_INDEX: str(index),
                _MULTIPROC_DIR: metrics_dir,
                "BEHALF_METRICS_PORT": "0",  # the supervisor serves the pod's metrics
            }
            workers.append(subprocess.Popen([sys.executable, "-m", plan.module], env=env))
        if plan.metrics_port is not None:
            metrics_server = _serve_metrics(plan.metrics_host, plan.metrics_port, metrics_dir)
        _log.info("workers_started", count=plan.count, pids=[w.pid for w in workers])
        code = _wait(workers, stop_requested, metrics_dir)
        _stop(workers, plan.grace_seconds, metrics_dir)
        return code
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
        if metrics_server is not None:
            metrics_server.shutdown()
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _serve_metrics(host: str, port: int, metrics_dir: str) -> WSGIServer:
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=metrics_dir)  # type: ignore[no-untyped-call]
    try:
        server, _ = start_http_server(port, host, registry=registry)
    except OSError as exc:
        raise ConfigError(f"cannot serve metrics on {host}:{port}") from exc
    return server


def _wait(workers: list[subprocess.Popen[bytes]], stop: list[int], metrics_dir: str) -> int:
    """Block until a stop signal (0) or the first worker to exit (its code, at least 1)."""
    while not stop:
        for worker in workers:
            code = worker.poll()
            if code is not None:
                _log.error("worker_exited", pid=worker.pid, code=code)
                _mark_dead(worker.pid, metrics_dir)
                return code or 1
        time.sleep(_POLL_SECONDS)
    return 0


def _stop(workers: list[subprocess.Popen[bytes]], grace_seconds: float, metrics_dir: str) -> None:
    """SIGTERM every live worker; SIGKILL whatever is left after the grace period and a bit."""
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds + 5.0
    for worker in workers:
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.wait(timeout=max(0.0, deadline - time.monotonic()))
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        _mark_dead(worker.pid, metrics_dir)


def _mark_dead(pid: int, metrics_dir: str) -> None:
    multiprocess.mark_process_dead(pid, metrics_dir)  # type: ignore[no-untyped-call]
