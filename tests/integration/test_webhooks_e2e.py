"""Decisions and lifecycle changes reach a customer endpoint as Standard Webhooks, end to end."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import grpc
import pytest
from standardwebhooks.webhooks import Webhook

from behalf.v1 import (
    dispatcher_pb2,
    dispatcher_pb2_grpc,
    registry_pb2,
    resources_pb2,
)
from tests.harness.receiver import Receiver
from tests.harness.stack import start_stack, stop_stack

pytestmark = pytest.mark.integration


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    recv = Receiver()
    server = await asyncio.start_server(recv.handle, "127.0.0.1", 0)
    recv.port = server.sockets[0].getsockname()[1]
    yield recv
    server.close()


async def test_denied_verify_arrives_signed_and_is_listed(
    database_url: str, kafka_bootstrap: str, receiver: Receiver, tmp_path
) -> None:
    """A real deny is delivered to a real endpoint, verifiable with the standardwebhooks
    library; an endpoint answering 410 is disabled in the registry; the tenant's admin key
    lists the deliveries through the dispatcher."""
    stack = await start_stack(
        database_url,
        kafka_bootstrap,
        tmp_path,
        dispatcher=True,
        overrides=[("BEHALF_WEBHOOK_ALLOW_PRIVATE_TARGETS", "true")],
    )
    try:
        tenant = stack.create_tenant()
        registry = stack.registry_stub()
        endpoint = registry.CreateWebhookEndpoint(
            registry_pb2.CreateWebhookEndpointRequest(
                url=receiver.url("/hooks"), event_types=["verification.*", "agent.disabled"]
            ),
            metadata=tenant.admin,
        )
        gone = registry.CreateWebhookEndpoint(
            registry_pb2.CreateWebhookEndpointRequest(
                url=receiver.url("/gone"), event_types=["verification.denied"]
            ),
            metadata=tenant.admin,
        )

        async def answer_gone(_request, _n):
            return 410, {}

        receiver.behaviours["/gone"] = answer_gone
        agent_id, grant = stack.agent_with_grant(tenant)
        denied = stack.verify_purchase(tenant, agent_id, grant, 90000)
        registry.DisableAgent(
            registry_pb2.DisableAgentRequest(agent_id=agent_id), metadata=tenant.admin
        )

        def types() -> set[str]:
            return {json.loads(r.body)["type"] for r in receiver.on("/hooks")}

        await receiver.wait_for(
            lambda: {"verification.denied", "agent.disabled"} <= types(), within=60
        )
        webhook = Webhook(endpoint.signing_secret)
        for request in receiver.on("/hooks"):
            payload = webhook.verify(request.body, request.headers)
            if payload["type"] == "verification.denied":
                assert payload["data"]["decision"]["request_id"] == denied.request_id
                assert (
                    payload["data"]["decision"]["reason_code"] == "REASON_CODE_AMOUNT_EXCEEDS_LIMIT"
                )
        assert "agent.created" not in types()

        deadline = asyncio.get_running_loop().time() + 30
        while asyncio.get_running_loop().time() < deadline:
            state = registry.GetWebhookEndpoint(
                registry_pb2.GetWebhookEndpointRequest(endpoint_id=gone.endpoint.endpoint_id),
                metadata=tenant.admin,
            ).endpoint
            if state.disabled:
                break
            await asyncio.sleep(0.2)
        assert state.disabled, "an endpoint answering 410 is disabled in the registry"
        assert len(receiver.on("/gone")) == 1

        channel = grpc.insecure_channel(stack.dispatcher.target)
        deliveries = dispatcher_pb2_grpc.DispatcherServiceStub(channel).ListDeliveries(
            dispatcher_pb2.ListDeliveriesRequest(endpoint_id=endpoint.endpoint.endpoint_id),
            metadata=tenant.admin,
            timeout=10,
        )
        assert len(deliveries.deliveries) >= 2
        assert all(d.endpoint_id == endpoint.endpoint.endpoint_id for d in deliveries.deliveries)
        with pytest.raises(grpc.RpcError) as caught:
            dispatcher_pb2_grpc.DispatcherServiceStub(channel).ListDeliveries(
                dispatcher_pb2.ListDeliveriesRequest(), metadata=tenant.verify, timeout=10
            )
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    finally:
        await stop_stack(stack)


async def test_sustained_failure_disables_endpoint_and_says_so(
    database_url: str, kafka_bootstrap: str, receiver: Receiver, tmp_path
) -> None:
    """An endpoint whose every attempt fails for the health window is disabled in the registry,
    and the tenant's other endpoint receives `webhook.endpoint_disabled`."""
    stack = await start_stack(
        database_url,
        kafka_bootstrap,
        tmp_path,
        dispatcher=True,
        overrides=[
            ("BEHALF_WEBHOOK_ALLOW_PRIVATE_TARGETS", "true"),
            ("BEHALF_WEBHOOK_RETRY_TIERS", "1s,2s"),
            ("BEHALF_WEBHOOK_DISABLE_AFTER_FAILING_SECONDS", "2"),
        ],
    )

    async def broken(_request, _n):
        return 500, {}

    receiver.behaviours["/broken"] = broken
    try:
        tenant = stack.create_tenant()
        registry = stack.registry_stub()
        registry.CreateWebhookEndpoint(
            registry_pb2.CreateWebhookEndpointRequest(
                url=receiver.url("/ops"), event_types=["webhook.*"]
            ),
            metadata=tenant.admin,
        )
        failing = registry.CreateWebhookEndpoint(
            registry_pb2.CreateWebhookEndpointRequest(
                url=receiver.url("/broken"), event_types=["agent.created"]
            ),
            metadata=tenant.admin,
        )
        for name in ("noisy-1", "noisy-2", "noisy-3"):
            registry.CreateAgent(
                registry_pb2.CreateAgentRequest(name=name, kind=resources_pb2.AGENT_KIND_NATIVE),
                metadata=tenant.admin,
            )

        def disabled_events() -> list[dict]:
            bodies = [json.loads(r.body) for r in receiver.on("/ops")]
            return [b for b in bodies if b["type"] == "webhook.endpoint_disabled"]

        await receiver.wait_for(lambda: bool(disabled_events()), within=60)
        event = disabled_events()[0]
        assert event["data"]["endpoint"]["endpoint_id"] == failing.endpoint.endpoint_id
        state = registry.GetWebhookEndpoint(
            registry_pb2.GetWebhookEndpointRequest(endpoint_id=failing.endpoint.endpoint_id),
            metadata=tenant.admin,
        ).endpoint
        assert state.disabled
        assert len(receiver.on("/broken")) >= 5
    finally:
        await stop_stack(stack)


async def test_endpoint_health_is_listed_from_the_dispatchers_attempts(
    database_url: str, kafka_bootstrap: str, receiver: Receiver, tmp_path
) -> None:
    """ListWebhookEndpoints shows what the dispatcher saw: every attempt to the healthy endpoint
    succeeded and its breaker is closed; the endpoint answering 503 succeeded never, its last
    error is that 503 and its breaker is open."""
    stack = await start_stack(
        database_url,
        kafka_bootstrap,
        tmp_path,
        dispatcher=True,
        overrides=[
            ("BEHALF_WEBHOOK_ALLOW_PRIVATE_TARGETS", "true"),
            ("BEHALF_WEBHOOK_BREAKER_FAILURES", "2"),
            ("BEHALF_WEBHOOK_BREAKER_COOLDOWN_SECONDS", "60"),
            ("BEHALF_WEBHOOK_HEALTH_REPORT_SECONDS", "0.2"),
        ],
    )

    async def unavailable(_request, _n):
        return 503, {}

    receiver.behaviours["/down"] = unavailable
    try:
        tenant = stack.create_tenant()
        registry = stack.registry_stub()
        for path in ("/up", "/down"):
            registry.CreateWebhookEndpoint(
                registry_pb2.CreateWebhookEndpointRequest(
                    url=receiver.url(path), event_types=["agent.created"]
                ),
                metadata=tenant.admin,
            )
        for n in range(3):
            registry.CreateAgent(
                registry_pb2.CreateAgentRequest(
                    name=f"agent-{n}", kind=resources_pb2.AGENT_KIND_NATIVE
                ),
                metadata=tenant.admin,
            )
        await receiver.wait_for(lambda: len(receiver.on("/up")) >= 3, within=60)

        def health() -> dict[str, resources_pb2.WebhookEndpointHealth]:
            listed = registry.ListWebhookEndpoints(
                registry_pb2.ListWebhookEndpointsRequest(), metadata=tenant.admin
            )
            return {e.url.rsplit("/", 1)[1]: e.health for e in listed.endpoints}

        deadline = asyncio.get_running_loop().time() + 30
        while asyncio.get_running_loop().time() < deadline:
            shown = health()
            if shown["up"].attempts >= 3 and shown["down"].breaker_state == (
                resources_pb2.BREAKER_STATE_OPEN
            ):
                break
            await asyncio.sleep(0.2)
        up, down = shown["up"], shown["down"]
        assert (up.attempts, up.successes, up.success_rate) == (3, 3, 1.0)
        assert up.breaker_state == resources_pb2.BREAKER_STATE_CLOSED and not up.last_error
        assert down.attempts == len(receiver.on("/down")) >= 2
        assert (down.successes, down.success_rate) == (0, 0.0)
        assert (down.last_error, down.last_error_status_code) == ("HTTP 503", 503)
        assert down.breaker_state == resources_pb2.BREAKER_STATE_OPEN
        assert down.HasField("last_error_time") and not down.HasField("last_success_time")
    finally:
        await stop_stack(stack)
