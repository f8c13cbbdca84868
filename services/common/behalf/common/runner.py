"""Process entry: load settings, run the service in its host, exit with a one-line reason."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, TypeVar

import structlog
import uvloop

from behalf.common.config import ConfigError, Env
from behalf.common.host import BindError, ServiceHost
from behalf.common.logging import configure_logging
from behalf.common.settings import HostSettings
from behalf.common.startup import StartupError
from behalf.common.tracing import configure_tracing, shutdown_tracing
from behalf.common.workers import Supervision, die_with_parent, supervise, worker_index

_log = structlog.get_logger("runner")


class ServiceSettings(Protocol):
    """What the runner needs from a service's settings."""

    @property
    def host(self) -> HostSettings: ...


class Service(Protocol):
    """A service's lifecycle inside its host."""

    def register(self, host: ServiceHost) -> None:
        """Add the service's gRPC servicers to the host."""

    async def start(self, host: ServiceHost) -> None:
        """Connect dependencies (raise StartupError when they stay away), then report SERVING."""

    async def stop(self) -> None:
        """Release dependencies after the host has drained."""


S = TypeVar("S", bound=ServiceSettings)
T = TypeVar("T")


def run_on(event_loop: str, main: Coroutine[Any, Any, T]) -> T:
    """Run `main` to completion on a new loop of the kind BEHALF_EVENT_LOOP names."""
    if event_loop == "uvloop":
        return uvloop.run(main)
    return asyncio.run(main)


def _exit(name: str, reason: str, code: int) -> None:
    print(f"{name}: {reason}", file=sys.stderr, flush=True)
    sys.exit(code)


async def serve(
    name: str, settings: ServiceSettings, service: Service, *, bind_when_ready: bool = False
) -> None:
    """Run until SIGTERM or SIGINT, then drain in-flight RPCs and stop.

    A lone process listens from the start and reports NOT_SERVING until its dependencies are
    ready. A worker sharing its port with others (`bind_when_ready`) listens only once ready,
    so the kernel hands its connections to workers that can serve them meanwhile."""
    hs = settings.host
    host = ServiceHost(
        name,
        host=hs.host,
        port=hs.grpc_port,
        metrics_port=hs.metrics_port,
        grace_seconds=hs.grace_seconds,
        max_receive_bytes=hs.max_receive_bytes,
        max_concurrent_rpcs=hs.max_concurrent_rpcs,
        tls=hs.tls,
    )
    service.register(host)
    host.install_signal_handlers()
    if not bind_when_ready:
        await host.start()
    starting = asyncio.create_task(service.start(host))
    stopping = asyncio.create_task(host.wait_for_stop())
    try:
        done, _ = await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if starting in done:
            starting.result()
            if bind_when_ready:
                await host.start()
                await host.set_serving(True)
            await stopping
        else:
            starting.cancel()
    finally:
        stopping.cancel()
        await host.drain()
        await service.stop()
    _log.info("stopped")


def run_service(
    name: str,
    load_settings: Callable[[Env], S],
    build: Callable[[S], Service],
    *,
    workers: Callable[[S], int] | None = None,
) -> None:
    """Console entry point shared by the services. With `workers` giving more than one, this
    process supervises that many copies of itself on one port (behalf.common.workers)."""
    env = Env()
    try:
        settings = load_settings(env)
        index = worker_index(env)
    except ConfigError as exc:
        _exit(name, f"invalid configuration: {exc}", 2)
        return
    configure_logging(name, settings.host.log_level)
    count = workers(settings) if workers is not None else 1
    if count > 1:
        hs = settings.host
        plan = Supervision(f"behalf.{name}", count, hs.host, hs.metrics_port, hs.grace_seconds)
        try:
            sys.exit(supervise(plan))
        except ConfigError as exc:
            _exit(name, f"cannot start: {exc}", 1)
    if index is not None:
        die_with_parent()
        structlog.contextvars.bind_contextvars(worker=index)
    try:
        configure_tracing(name)  # off unless OTEL_* asks for it (behalf.common.tracing)
        main = serve(name, settings, build(settings), bind_when_ready=index is not None)
        run_on(settings.host.event_loop, main)
    except ConfigError as exc:
        _exit(name, f"invalid configuration: {exc}", 2)
    except (BindError, StartupError) as exc:
        _exit(name, f"cannot start: {exc}", 1)
    except KeyboardInterrupt:
        pass
    finally:
        shutdown_tracing()
