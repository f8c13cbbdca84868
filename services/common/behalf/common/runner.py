"""Process entry: load settings, run the service in its host, exit with a one-line reason."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Protocol, TypeVar

import structlog

from behalf.common.config import ConfigError, Env
from behalf.common.host import BindError, ServiceHost
from behalf.common.logging import configure_logging
from behalf.common.settings import HostSettings
from behalf.common.startup import StartupError

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


def _exit(name: str, reason: str, code: int) -> None:
    print(f"{name}: {reason}", file=sys.stderr, flush=True)
    sys.exit(code)


async def serve(name: str, settings: ServiceSettings, service: Service) -> None:
    """Run until SIGTERM or SIGINT, then drain in-flight RPCs and stop."""
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
    await host.start()
    starting = asyncio.create_task(service.start(host))
    stopping = asyncio.create_task(host.wait_for_stop())
    try:
        done, _ = await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if starting in done:
            starting.result()
            await stopping
        else:
            starting.cancel()
    finally:
        stopping.cancel()
        await host.drain()
        await service.stop()
    _log.info("stopped")


def run_service(
    name: str, load_settings: Callable[[Env], S], build: Callable[[S], Service]
) -> None:
    """Console entry point shared by the three services."""
    try:
        settings = load_settings(Env())
    except ConfigError as exc:
        _exit(name, f"invalid configuration: {exc}", 2)
        return
    configure_logging(name, settings.host.log_level)
    try:
        asyncio.run(serve(name, settings, build(settings)))
    except ConfigError as exc:
        _exit(name, f"invalid configuration: {exc}", 2)
    except (BindError, StartupError) as exc:
        _exit(name, f"cannot start: {exc}", 1)
    except KeyboardInterrupt:
        pass
