"""Test mode authorizes nothing, against the real services: budgets are read and never spent,
test-link keys get nothing but test decisions about their one agent, and test decisions reach
only the webhook endpoints that subscribe to them by name."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from aiokafka import AIOKafkaConsumer
from standardwebhooks.webhooks import Webhook

from behalf.common.kafka import EVENT_TYPE_HEADER
from behalf.v1 import common_pb2, events_pb2, registry_pb2, verifier_pb2
from tests.harness.decisions import reason_code, usd
from tests.harness.receiver import Receiver
from tests.harness.stack import Stack, Tenant, bearer, start_stack, stop_stack

pytestmark = pytest.mark.integration

BUDGET = 10_000  # 100.00 USD over the permission's life


@pytest.fixture(scope="module")
async def stack(database_url: str, kafka_bootstrap: str, tmp_path_factory) -> AsyncIterator[Stack]:
    stack = await start_stack(
        database_url,
        kafka_bootstrap,
        tmp_path_factory.mktemp("test-mode"),
        dispatcher=True,
        overrides=[("BEHALF_WEBHOOK_ALLOW_PRIVATE_TARGETS", "true")],
    )
    yield stack
    await stop_stack(stack)


@pytest.fixture(scope="module")
def tenant(stack: Stack) -> Tenant:
    return stack.create_tenant("test-mode")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    recv = Receiver()
    server = await asyncio.start_server(recv.handle, "127.0.0.1", 0)
    recv.port = server.sockets[0].getsockname()[1]
    yield recv
    server.close()


def _verify(
    stack: Stack,
    metadata: tuple[tuple[str, str], ...],
    agent_id: str,
    minor: int,
    revision: int,
    **fields: object,
) -> common_pb2.Decision:
    request = verifier_pb2.VerifyRequest(
        agent_id=agent_id,
        action="purchase",
        resource="coachella.com",
        amount=usd(minor),
        min_revision=revision,
        **fields,
    )
    return stack.verifier_stub().Verify(request, metadata=metadata, timeout=10).decision


def _refusal(call) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value.code()


def _test_link_key(stack: Stack, tenant: Tenant, agent_id: str) -> tuple[str, int]:
    """A verify key that is test_mode_only and bound to `agent_id`: its secret and revision."""
    created = stack.create_api_key(tenant, agent_id=agent_id, test_mode_only=True, name="test link")
    assert created.api_key.test_mode_only and created.api_key.agent_id == agent_id
    return created.secret, created.revision


async def test_test_mode_reads_the_budget_and_never_spends_it(stack: Stack, tenant: Tenant) -> None:
    """A test-mode Verify past what is left of a budget is DENY BUDGET_EXHAUSTED marked as a
    test, one within it allows as a test, and neither moves the budget."""
    agent_id, grant = stack.agent_with_grant(tenant, "budgeted", budget=usd(BUDGET))
    spent = _verify(stack, tenant.verify, agent_id, 6_000, grant.revision)
    assert spent.outcome == common_pb2.OUTCOME_ALLOW and not spent.test_mode
    left = BUDGET - 6_000

    over = _verify(stack, tenant.verify, agent_id, left + 1, grant.revision, test_mode=True)
    assert over.outcome == common_pb2.OUTCOME_DENY
    assert reason_code(over) == "BUDGET_EXHAUSTED"
    assert over.test_mode
    for _ in range(3):
        fits = _verify(stack, tenant.verify, agent_id, left, grant.revision, test_mode=True)
        assert fits.outcome == common_pb2.OUTCOME_ALLOW and fits.test_mode, reason_code(fits)

    real = _verify(stack, tenant.verify, agent_id, left, grant.revision)
    assert real.outcome == common_pb2.OUTCOME_ALLOW and not real.test_mode, reason_code(real)
    after = _verify(stack, tenant.verify, agent_id, 1, grant.revision)
    assert reason_code(after) == "BUDGET_EXHAUSTED"


async def test_a_test_mode_only_key_is_refused_outside_test_mode(
    stack: Stack, tenant: Tenant
) -> None:
    """A test_mode_only key asking without test_mode is PERMISSION_DENIED; with it, it gets a
    test decision."""
    agent_id, grant = stack.agent_with_grant(tenant, "linked")
    secret, revision = _test_link_key(stack, tenant, agent_id)
    at = max(revision, grant.revision)
    code = _refusal(lambda: _verify(stack, bearer(secret), agent_id, 100, at))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    decision = _verify(stack, bearer(secret), agent_id, 100, at, test_mode=True)
    assert decision.outcome == common_pb2.OUTCOME_ALLOW and decision.test_mode


async def test_a_test_mode_only_key_is_refused_another_agent(stack: Stack, tenant: Tenant) -> None:
    """A key bound to one agent is PERMISSION_DENIED about any other agent, even in test mode."""
    agent_id, grant = stack.agent_with_grant(tenant, "bound")
    other_id, other_grant = stack.agent_with_grant(tenant, "other")
    secret, revision = _test_link_key(stack, tenant, agent_id)
    at = max(revision, grant.revision, other_grant.revision)
    code = _refusal(lambda: _verify(stack, bearer(secret), other_id, 100, at, test_mode=True))
    assert code == grpc.StatusCode.PERMISSION_DENIED


async def test_test_decisions_carry_the_test_event_type(stack: Stack, tenant: Tenant) -> None:
    """On the decisions topic a test decision's event-type header is `verification.test.*`."""
    agent_id, grant = stack.agent_with_grant(tenant, "headers")
    real_id, test_id = f"real-{uuid.uuid4().hex}", f"test-{uuid.uuid4().hex}"
    _verify(stack, tenant.verify, agent_id, 100, grant.revision, request_id=real_id)
    _verify(stack, tenant.verify, agent_id, 100, grant.revision, request_id=test_id, test_mode=True)
    consumer = AIOKafkaConsumer(
        f"{stack.topic_prefix}.decisions",
        bootstrap_servers=stack.env["BEHALF_KAFKA_BOOTSTRAP"],
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed",
        group_id=f"test-{uuid.uuid4().hex}",
    )
    await consumer.start()
    types: dict[str, str] = {}
    try:
        deadline = time.monotonic() + 30
        while not {real_id, test_id} <= set(types) and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    event = events_pb2.DecisionEvent.FromString(record.value)
                    headers = dict(record.headers)
                    types[event.decision.request_id] = headers[EVENT_TYPE_HEADER].decode()
    finally:
        await consumer.stop()
    assert types.get(real_id) == "verification.allowed"
    assert types.get(test_id) == "verification.test.allowed"


async def test_only_explicit_subscribers_receive_test_decisions(
    stack: Stack, receiver: Receiver
) -> None:
    """Endpoints subscribed to everything, `*` or `verification.*` get the real decision but no
    test decision; one subscribed to `verification.test.allowed` gets only the test one."""
    tenant = stack.create_tenant("webhooks")  # its own, so no other test's decision arrives
    registry = stack.registry_stub()
    endpoints = {
        "/everything": [],
        "/star": ["*"],
        "/verification": ["verification.*"],
        "/tests": ["verification.test.allowed"],
    }
    secrets = {}
    for path, event_types in endpoints.items():
        created = registry.CreateWebhookEndpoint(
            registry_pb2.CreateWebhookEndpointRequest(
                url=receiver.url(path), event_types=event_types
            ),
            metadata=tenant.admin,
            timeout=10,
        )
        secrets[path] = created.signing_secret
    agent_id, grant = stack.agent_with_grant(tenant, "webhooks")
    test = _verify(stack, tenant.verify, agent_id, 100, grant.revision, test_mode=True)
    real = _verify(stack, tenant.verify, agent_id, 90_000, grant.revision)
    assert test.test_mode and test.outcome == common_pb2.OUTCOME_ALLOW
    assert real.outcome == common_pb2.OUTCOME_DENY

    def decisions(path: str) -> dict[str, str]:
        bodies = [json.loads(r.body) for r in receiver.on(path)]
        return {
            b["data"]["decision"]["request_id"]: b["type"]
            for b in bodies
            if b["type"].startswith("verification.")
        }

    broad = ("/everything", "/star", "/verification")
    await receiver.wait_for(
        lambda: (
            all(real.request_id in decisions(p) for p in broad)
            and test.request_id in decisions("/tests")
        ),
        within=60,
        what="the real deny at every broad endpoint and the test allow at /tests",
    )
    await asyncio.sleep(2)  # a test decision sent anyway would have arrived by now
    for path in broad:
        assert decisions(path) == {real.request_id: "verification.denied"}, path
    assert decisions("/tests") == {test.request_id: "verification.test.allowed"}
    (delivered,) = [r for r in receiver.on("/tests") if b"verification." in r.body]
    payload = Webhook(secrets["/tests"]).verify(delivered.body, delivered.headers)
    assert payload["data"]["decision"]["test_mode"] is True
    assert payload["data"]["test_mode"] is True
