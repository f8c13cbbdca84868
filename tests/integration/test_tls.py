"""Every gRPC hop over TLS, and under mutual TLS only callers holding a client certificate;
the verifier's HTTP/JSON port serves the same TLS from the same files."""

from __future__ import annotations

import asyncio
import http.client
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from behalf.v1 import (
    common_pb2,
    dispatcher_pb2,
    dispatcher_pb2_grpc,
    registry_pb2,
)
from tests.harness.certs import TlsFiles, issue
from tests.harness.receiver import Receiver
from tests.harness.stack import Stack, start_stack, stop_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return issue(tmp_path_factory.mktemp("tls"))


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    recv = Receiver()
    server = await asyncio.start_server(recv.handle, "127.0.0.1", 0)
    recv.port = server.sockets[0].getsockname()[1]
    yield recv
    server.close()


async def _tls_stack(
    database_url: str, kafka_bootstrap: str, log_dir: Path, certs: TlsFiles, *, mutual: bool
) -> Stack:
    return await start_stack(
        database_url,
        kafka_bootstrap,
        log_dir,
        dispatcher=True,
        overrides=[
            ("BEHALF_WEBHOOK_ALLOW_PRIVATE_TARGETS", "true"),
            *certs.env(mutual=mutual),
        ],
    )


async def _verify_mutate_and_deliver(stack: Stack, receiver: Receiver) -> None:
    """A tenant, an agent and a grant (registry mutations), an allowed Verify (verifier, which
    reads the registry's stream), its webhook (dispatcher, which reads the registry's targets),
    and the delivery listed by the dispatcher: every hop on the stack's own credentials."""
    tenant = stack.create_tenant()
    endpoint = stack.registry_stub().CreateWebhookEndpoint(
        registry_pb2.CreateWebhookEndpointRequest(
            url=receiver.url("/hooks"), event_types=["verification.allowed"]
        ),
        metadata=tenant.admin,
        timeout=10,
    )
    agent_id, grant = stack.agent_with_grant(tenant)
    decision = stack.verify_purchase(tenant, agent_id, grant, 10000)
    assert decision.outcome == common_pb2.OUTCOME_ALLOW, decision

    def delivered() -> bool:
        return any(
            json.loads(r.body)["data"]["decision"]["request_id"] == decision.request_id
            for r in receiver.on("/hooks")
        )

    await receiver.wait_for(delivered, within=60, what="the verification.allowed webhook")
    dispatcher = dispatcher_pb2_grpc.DispatcherServiceStub(stack.channel(stack.dispatcher.target))
    deliveries = dispatcher.ListDeliveries(
        dispatcher_pb2.ListDeliveriesRequest(endpoint_id=endpoint.endpoint.endpoint_id),
        metadata=tenant.admin,
        timeout=10,
    )
    assert deliveries.deliveries


def _refused(call: Callable[[], object]) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE, caught.value


def _openapi(url: str, context: ssl.SSLContext | None = None) -> int:
    with urllib.request.urlopen(f"{url}/openapi.json", timeout=5, context=context) as reply:
        return int(reply.status)


def _http_refused(url: str, context: ssl.SSLContext | None = None) -> None:
    with pytest.raises((urllib.error.URLError, ssl.SSLError, http.client.HTTPException, OSError)):
        _openapi(url, context)


def _health(channel: grpc.Channel) -> Callable[[], object]:
    return lambda: health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(), timeout=5
    )


async def test_verify_mutation_and_webhook_over_tls(
    database_url: str, kafka_bootstrap: str, receiver: Receiver, certs: TlsFiles, tmp_path: Path
) -> None:
    """With TLS on every service, a Verify, registry mutations and a webhook delivery all work,
    and a plaintext client is refused by each listener."""
    stack = await _tls_stack(database_url, kafka_bootstrap, tmp_path, certs, mutual=False)
    try:
        await _verify_mutate_and_deliver(stack, receiver)
        for process in (stack.registry, stack.verifiers[0], stack.dispatcher):
            assert process is not None
            _refused(_health(grpc.insecure_channel(process.target)))
        https = stack.verifiers[0].http_url.replace("http://", "https://")
        trusting = ssl.create_default_context(cafile=certs.ca)
        assert _openapi(https, trusting) == 200
        _http_refused(stack.verifiers[0].http_url)  # plaintext
        _http_refused(https, ssl.create_default_context())  # a CA it does not trust
    finally:
        await stop_stack(stack)


async def test_mutual_tls_admits_only_holders_of_a_client_certificate(
    database_url: str, kafka_bootstrap: str, receiver: Receiver, certs: TlsFiles, tmp_path: Path
) -> None:
    """With a client CA on every listener the services reach each other by their client
    certificates and the same flows work; a client with no certificate, with one another CA
    signed, or in plaintext is refused at the handshake (UNAVAILABLE), and so is a verifier
    started without its certificate."""
    stack = await _tls_stack(database_url, kafka_bootstrap, tmp_path, certs, mutual=True)
    try:
        await _verify_mutate_and_deliver(stack, receiver)

        stranger = issue(tmp_path / "stranger")
        wrong_ca = grpc.ssl_channel_credentials(
            certs.ca.read_bytes(),
            stranger.client_key.read_bytes(),
            stranger.client_cert.read_bytes(),
        )
        for process in (stack.registry, stack.verifiers[0], stack.dispatcher):
            assert process is not None
            target = process.target
            for channel in (
                grpc.secure_channel(target, certs.credentials()),
                grpc.secure_channel(target, wrong_ca),
                grpc.insecure_channel(target),
            ):
                _refused(_health(channel))
        https = stack.verifiers[0].http_url.replace("http://", "https://")
        holder = ssl.create_default_context(cafile=certs.ca)
        holder.load_cert_chain(certs.client_cert, certs.client_key)
        assert _openapi(https, holder) == 200
        _http_refused(https, ssl.create_default_context(cafile=certs.ca))  # no certificate
        tenant = stack.create_tenant("other")  # a valid API key is not enough without one
        _refused(
            lambda: stack.registry_stub(certs.credentials()).ListAgents(
                registry_pb2.ListAgentsRequest(), metadata=tenant.admin, timeout=5
            )
        )

        with pytest.raises(RuntimeError, match="cannot start"):
            stack.start_verifier(
                BEHALF_TLS_CLIENT_CERT_FILE="",
                BEHALF_TLS_CLIENT_KEY_FILE="",
                BEHALF_STARTUP_TIMEOUT_SECONDS="3",
            )
    finally:
        await stop_stack(stack)
