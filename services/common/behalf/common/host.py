"""The gRPC server host every service runs in: health, reflection, metrics, graceful drain."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from prometheus_client import start_http_server

from behalf.common.interceptors import ObservabilityInterceptor
from behalf.common.open_streams import OpenStreamQuota
from behalf.common.reflection import enable_reflection
from behalf.common.tls import ServerTls
from behalf.common.tracing import server_interceptors

_log = structlog.get_logger("host")

# What a server may send (a WatchPolicy snapshot chunk holds up to 5,000 permissions), and the
# default bounds on what it accepts before any handler (or API key check) runs.
MAX_SEND_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_RECEIVE_BYTES = 4 * 1024 * 1024
DEFAULT_MAX_CONCURRENT_RPCS = 1000
MAX_CONNECTION_IDLE_MS = 5 * 60 * 1000
MAIN = "main"  # the listener on the service's own port


class BindError(RuntimeError):
    """A listening port could not be bound."""


@dataclass
class _Listener:
    """One grpc.aio server on one port, and the services registered on it."""

    server: grpc.aio.Server
    port: int
    services: list[str] = field(default_factory=list)
    bound_port: int = 0


class ServiceHost:
    """Owns one grpc.aio server plus the health and metrics endpoints around it.

    A service may add a further listener (`add_listener`) for RPCs the main port must not
    serve, like the registry's internal API: its own server on its own port, with the same
    interceptors, limits, TLS and health.

    Health is NOT_SERVING from start until `set_serving(True)`, which a service calls once its
    dependencies are ready, and again NOT_SERVING as soon as a drain begins.

    gRPC itself refuses, with RESOURCE_EXHAUSTED and before decoding, a message larger than
    `max_receive_bytes` and a call beyond `max_concurrent_rpcs` in flight (long-lived streams
    count for as long as they are open, so the streams anyone may open, health Watch and
    reflection, are few and short: `OpenStreamQuota`), so an unauthenticated caller costs
    little; a connection with no call open is closed after `MAX_CONNECTION_IDLE_MS`.

    With `tls` the port serves TLS only (mutual TLS when it names a client CA); without it,
    plaintext, for loopback development.
    """

    def __init__(
        self,
        name: str,
        *,
        host: str,
        port: int,
        metrics_port: int | None,
        grace_seconds: float,
        interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
        max_receive_bytes: int = DEFAULT_MAX_RECEIVE_BYTES,
        max_concurrent_rpcs: int = DEFAULT_MAX_CONCURRENT_RPCS,
        tls: ServerTls | None = None,
    ) -> None:
        self.name = name
        self.tls = tls
        self._host = host
        self._metrics_port = metrics_port
        self._grace_seconds = grace_seconds
        self._health = health.aio.HealthServicer()
        self._stopping = asyncio.Event()
        self._metrics_server: Any = None
        self._new_server = partial(
            grpc.aio.server,
            # Tracing's first, so the access log and errors are inside the RPC's span. The quota
            # on streams anyone may open counts across the host's listeners.
            interceptors=[
                *server_interceptors(),
                ObservabilityInterceptor(name),
                OpenStreamQuota(),
                *interceptors,
            ],
            maximum_concurrent_rpcs=max_concurrent_rpcs,
            options=[
                ("grpc.max_receive_message_length", max_receive_bytes),
                ("grpc.max_send_message_length", MAX_SEND_BYTES),
                ("grpc.so_reuseport", 1),
                ("grpc.keepalive_permit_without_calls", 1),
                ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
                # A connection with no call open for this long is closed (clients reconnect
                # unnoticed), so idle connections cannot pile up; open streams are not idle.
                ("grpc.max_connection_idle_ms", MAX_CONNECTION_IDLE_MS),
            ],
        )
        self.server = self._new_server()
        self._listeners = {MAIN: _Listener(self.server, port)}

    @property
    def bound_port(self) -> int:
        """The main listener's port (known after `start`)."""
        return self._listeners[MAIN].bound_port

    def port_of(self, listener: str) -> int:
        """The port a listener is bound to (known after `start`)."""
        return self._listeners[listener].bound_port

    def add_listener(self, name: str, port: int) -> None:
        """A further port, `name`, with its own server; its services are not on the main one."""
        if name in self._listeners:
            raise ValueError(f"listener {name!r} exists already")
        self._listeners[name] = _Listener(self._new_server(), port)

    def add_service(
        self,
        register: Callable[[Any, grpc.aio.Server], None],
        servicer: Any,
        full_name: str,
        *,
        listener: str = MAIN,
    ) -> None:
        """Register a servicer on a listener (the main one unless named), and list it in that
        listener's reflection and in health."""
        target = self._listeners[listener]
        register(servicer, target.server)
        target.services.append(full_name)

    def _bind(self, listener: _Listener) -> None:
        address = f"{self._host}:{listener.port}"
        server = listener.server
        try:
            if self.tls is None:
                listener.bound_port = server.add_insecure_port(address)
            else:
                listener.bound_port = server.add_secure_port(address, self.tls.credentials())
        except RuntimeError as exc:
            raise BindError(f"cannot listen on {address}") from exc
        if listener.bound_port == 0:
            raise BindError(f"cannot listen on {address}")

    async def start(self) -> None:
        for listener in self._listeners.values():
            health_pb2_grpc.add_HealthServicer_to_server(self._health, listener.server)
            enable_reflection((*listener.services, health.SERVICE_NAME), listener.server)
            self._bind(listener)
        await self.set_serving(False)
        for listener in self._listeners.values():
            await listener.server.start()
        if self._metrics_port is not None:
            try:
                self._metrics_server, _ = start_http_server(self._metrics_port, self._host)
            except OSError as exc:
                raise BindError(
                    f"cannot serve metrics on {self._host}:{self._metrics_port}"
                ) from exc
        for name, listener in self._listeners.items():
            _log.info(
                "listening",
                listener=name,
                grpc=f"{self._host}:{listener.bound_port}",
                metrics=self._metrics_port,
                services=listener.services,
                tls="off" if self.tls is None else "mutual" if self.tls.mutual else "on",
            )

    async def set_serving(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        names = [name for listener in self._listeners.values() for name in listener.services]
        for name in ("", *names):
            await self._health.set(name, status)

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._stopping.set)

    def request_stop(self) -> None:
        self._stopping.set()

    async def wait_for_stop(self) -> None:
        await self._stopping.wait()

    async def drain(self) -> None:
        """Report NOT_SERVING, let in-flight RPCs finish within the grace period, then stop."""
        _log.info("draining", grace_seconds=self._grace_seconds)
        await self._health.enter_graceful_shutdown()
        await asyncio.gather(
            *(listener.server.stop(self._grace_seconds) for listener in self._listeners.values())
        )
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
