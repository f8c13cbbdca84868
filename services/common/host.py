"""The gRPC server host every service runs in: health, reflection, metrics, graceful drain."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Sequence
from typing import Any

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import start_http_server

from behalf.common.interceptors import ObservabilityInterceptor
from behalf.common.tls import ServerTls

_log = structlog.get_logger("host")

# What a server may send (a WatchPolicy snapshot chunk holds up to 5,000 permissions), and the
# default bounds on what it accepts before any handler (or API key check) runs.
MAX_SEND_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_RECEIVE_BYTES = 4 * 1024 * 1024
DEFAULT_MAX_CONCURRENT_RPCS = 1000


class BindError(RuntimeError):
    """A listening port could not be bound."""


class ServiceHost:
    """Owns one grpc.aio server plus the health and metrics endpoints around it.

    Health is NOT_SERVING from start until `set_serving(True)`, which a service calls once its
    dependencies are ready, and again NOT_SERVING as soon as a drain begins.

    gRPC itself refuses, with RESOURCE_EXHAUSTED and before decoding, a message larger than
    `max_receive_bytes` and a call beyond `max_concurrent_rpcs` in flight (long-lived streams
    count for as long as they are open), so an unauthenticated caller costs little.

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
        self._port = port
        self._metrics_port = metrics_port
        self._grace_seconds = grace_seconds
        self._service_names: list[str] = []
        self._health = health.aio.HealthServicer()
        self._stopping = asyncio.Event()
        self._metrics_server: Any = None
        self.bound_port = 0
        self.server = grpc.aio.server(
            interceptors=[ObservabilityInterceptor(name), *interceptors],
            maximum_concurrent_rpcs=max_concurrent_rpcs,
            options=[
                ("grpc.max_receive_message_length", max_receive_bytes),
                ("grpc.max_send_message_length", MAX_SEND_BYTES),
                ("grpc.so_reuseport", 1),
                ("grpc.keepalive_permit_without_calls", 1),
                ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
            ],
        )

    def add_service(
        self, register: Callable[[Any, grpc.aio.Server], None], servicer: Any, full_name: str
    ) -> None:
        """Register a servicer, and list it in reflection and health."""
        register(servicer, self.server)
        self._service_names.append(full_name)

    async def start(self) -> None:
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self.server)
        reflection.enable_server_reflection(
            (*self._service_names, health.SERVICE_NAME, reflection.SERVICE_NAME), self.server
        )
        address = f"{self._host}:{self._port}"
        try:
            if self.tls is None:
                self.bound_port = self.server.add_insecure_port(address)
            else:
                self.bound_port = self.server.add_secure_port(address, self.tls.credentials())
        except RuntimeError as exc:
            raise BindError(f"cannot listen on {address}") from exc
        if self.bound_port == 0:
            raise BindError(f"cannot listen on {address}")
        await self.set_serving(False)
        await self.server.start()
        if self._metrics_port is not None:
            try:
                self._metrics_server, _ = start_http_server(self._metrics_port, self._host)
            except OSError as exc:
                raise BindError(
                    f"cannot serve metrics on {self._host}:{self._metrics_port}"
                ) from exc
        _log.info(
            "listening",
            grpc=f"{self._host}:{self.bound_port}",
            metrics=self._metrics_port,
            services=self._service_names,
            tls="off" if self.tls is None else "mutual" if self.tls.mutual else "on",
        )

    async def set_serving(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ("", *self._service_names):
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
        await self.server.stop(self._grace_seconds)
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
