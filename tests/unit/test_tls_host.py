"""A ServiceHost with TLS: who may connect, what a handler learns of the caller, rotation."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from behalf.common.host import ServiceHost
from behalf.common.tls import ChannelTls, ServerTls, open_channel
from behalf.console.backend import Backend, BackendError
from behalf.v1 import registry_pb2
from tests.harness.certs import SERVICE_IDENTITY, TlsFiles, issue

WHOAMI = "/behalf.test.Whoami/Get"
# A fresh subchannel per test channel: each handshake here must be a new one.
_OPTIONS = [("grpc.use_local_subchannel_pool", 1)]


async def _whoami(_request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    return b",".join(context.peer_identities() or [])


def _register_whoami(handler: grpc.GenericRpcHandler, server: grpc.aio.Server) -> None:
    server.add_generic_rpc_handlers((handler,))


async def _host(tls: ServerTls) -> ServiceHost:
    host = ServiceHost(
        "test", host="127.0.0.1", port=0, metrics_port=None, grace_seconds=0, tls=tls
    )
    whoami = grpc.method_handlers_generic_handler(
        "behalf.test.Whoami", {"Get": grpc.unary_unary_rpc_method_handler(_whoami)}
    )
    host.add_service(_register_whoami, whoami, "behalf.test.Whoami")
    await host.start()
    await host.set_serving(True)
    return host


async def _health(host: ServiceHost, credentials: grpc.ChannelCredentials | None) -> int:
    target = f"127.0.0.1:{host.bound_port}"
    channel = (
        grpc.aio.insecure_channel(target, options=_OPTIONS)
        if credentials is None
        else grpc.aio.secure_channel(target, credentials, options=_OPTIONS)
    )
    async with channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=5
        )
        return int(reply.status)


async def _refused(host: ServiceHost, credentials: grpc.ChannelCredentials | None) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _health(host, credentials)
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE


@pytest.fixture
def files(tmp_path: Path) -> TlsFiles:
    return issue(tmp_path / "tls")


@pytest.fixture
async def tls_host(files: TlsFiles) -> AsyncIterator[ServiceHost]:
    host = await _host(ServerTls(files.server_cert, files.server_key))
    yield host
    await host.drain()


@pytest.fixture
async def mtls_host(files: TlsFiles) -> AsyncIterator[ServiceHost]:
    host = await _host(ServerTls(files.server_cert, files.server_key, files.client_ca))
    yield host
    await host.drain()


SERVING = health_pb2.HealthCheckResponse.SERVING


async def test_tls_listener_serves_only_tls(
    tls_host: ServiceHost, files: TlsFiles, tmp_path: Path
) -> None:
    """A client trusting the CA is served; a plaintext client and one trusting another CA are
    refused as UNAVAILABLE."""
    assert await _health(tls_host, files.credentials()) == SERVING
    await _refused(tls_host, None)
    await _refused(tls_host, issue(tmp_path / "other").credentials())


async def test_mutual_tls_requires_a_client_certificate_from_the_client_ca(
    mtls_host: ServiceHost, files: TlsFiles, tmp_path: Path
) -> None:
    """With a client CA a caller presenting its certificate is served; one with no certificate,
    or with a certificate another CA signed, fails the handshake."""
    assert await _health(mtls_host, files.credentials(client=True)) == SERVING
    await _refused(mtls_host, files.credentials())
    stranger = issue(tmp_path / "stranger")
    await _refused(
        mtls_host,
        grpc.ssl_channel_credentials(
            files.ca.read_bytes(),
            stranger.client_key.read_bytes(),
            stranger.client_cert.read_bytes(),
        ),
    )
    await _refused(mtls_host, None)


async def test_handler_sees_the_client_certificate_as_the_callers_identity(
    mtls_host: ServiceHost, files: TlsFiles
) -> None:
    """Under mutual TLS a handler reads the client certificate's name as the peer identity,
    through a channel that `open_channel` built from the services' settings."""
    tls = ChannelTls(files.ca, files.client_cert, files.client_key)
    async with open_channel(f"127.0.0.1:{mtls_host.bound_port}", tls, options=_OPTIONS) as ch:
        identity = await ch.unary_unary(WHOAMI)(b"", timeout=5)
    assert identity == SERVICE_IDENTITY.encode()


async def test_plaintext_open_channel_without_tls_settings(tmp_path: Path) -> None:
    """`open_channel` without TLS settings dials plaintext, which a plaintext host serves."""
    host = ServiceHost("test", host="127.0.0.1", port=0, metrics_port=None, grace_seconds=0)
    await host.start()
    await host.set_serving(True)
    try:
        async with open_channel(f"127.0.0.1:{host.bound_port}", None) as channel:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=5
            )
        assert reply.status == SERVING
    finally:
        await host.drain()


async def test_rotated_files_are_served_to_new_connections(files: TlsFiles, tmp_path: Path) -> None:
    """Replacing the certificate and key is picked up at the next handshake; a certificate
    whose key has not arrived yet leaves the previous pair in service."""
    host = await _host(ServerTls(files.server_cert, files.server_key))
    try:
        old = files.credentials()
        assert await _health(host, old) == SERVING
        rotated = issue(tmp_path / "rotated")

        shutil.copyfile(rotated.server_cert, files.server_cert)  # the key is still the old one
        assert await _health(host, old) == SERVING
        await _refused(host, rotated.credentials())

        shutil.copyfile(rotated.server_key, files.server_key)
        assert await _health(host, rotated.credentials()) == SERVING
        await _refused(host, old)
    finally:
        await host.drain()


async def test_console_backend_dials_with_its_tls_settings(
    mtls_host: ServiceHost, files: TlsFiles
) -> None:
    """The console's channels complete a mutual-TLS handshake with its TLS settings (the host
    answers UNIMPLEMENTED, having no registry on it) and fail it without them (UNAVAILABLE)."""
    target = f"127.0.0.1:{mtls_host.bound_port}"
    for tls, code in [
        (ChannelTls(files.ca, files.client_cert, files.client_key), grpc.StatusCode.UNIMPLEMENTED),
        (None, grpc.StatusCode.UNAVAILABLE),
    ]:
        backend = Backend(
            registry=target, dispatcher=target, verifier=target, timeout_seconds=5, tls=tls
        )
        await backend.start()
        try:
            with pytest.raises(BackendError) as caught:
                await backend.call(
                    backend.registry.ListAgents, registry_pb2.ListAgentsRequest(), "key"
                )
            assert caught.value.code is code
        finally:
            await backend.close()
