"""The audit trail against an agent that floods test decisions, and a stray record on the
decisions topic: counts are of real decisions, the decision that asked for an approval is always
found, and one record the database cannot store never stops the trail for every tenant."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer

from behalf.common.kafka import Topics
from behalf.v1 import common_pb2, events_pb2, registry_pb2, verifier_pb2
from tests.harness.decisions import usd, wait_audited
from tests.harness.stack import Stack, Tenant, start_stack, stop_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def stack(database_url: str, kafka_bootstrap: str, tmp_path_factory) -> AsyncIterator[Stack]:
    stack = await start_stack(
        database_url, kafka_bootstrap, tmp_path_factory.mktemp("audit-trail"), verifiers=1
    )
    yield stack
    await stop_stack(stack)


@pytest.fixture(scope="module")
def tenant(stack: Stack) -> Tenant:
    return stack.create_tenant("audit-trail")


def _verify(stack: Stack, tenant: Tenant, **fields: object) -> common_pb2.Decision:
    request = verifier_pb2.VerifyRequest(**fields)  # type: ignore[arg-type]
    return stack.verifier_stub().Verify(request, metadata=tenant.verify, timeout=10).decision


def _allows_counted(stack: Stack, tenant: Tenant, agent_id: str) -> int:
    now = datetime.now(UTC)
    request = registry_pb2.CountDecisionsRequest(buckets=1, agent_id=agent_id)
    request.start_time.FromDatetime(now - timedelta(hours=1))
    request.end_time.FromDatetime(now + timedelta(hours=1))
    reply = stack.registry_stub().CountDecisions(request, metadata=tenant.admin, timeout=10)
    return sum(c.count for c in reply.counts if c.outcome == common_pb2.OUTCOME_ALLOW)


def _purchase(agent_id: str, revision: int, request_id: str, minor: int) -> dict[str, object]:
    return {
        "agent_id": agent_id,
        "action": "purchase",
        "resource": "coachella.com",
        "amount": usd(minor),
        "min_revision": revision,
        "request_id": request_id,
    }


async def test_test_decisions_are_not_counted_as_real_ones(stack: Stack, tenant: Tenant) -> None:
    """One real ALLOW and three test ALLOWs (any verify key may ask for a test): the chart's
    CountDecisions counts one allow (before, four, with nothing telling them apart)."""
    agent_id, grant = stack.agent_with_grant(tenant, "counted")
    real_id, test_id = f"real-{uuid.uuid4().hex[:8]}", f"test-{uuid.uuid4().hex[:8]}"
    real = _verify(stack, tenant, **_purchase(agent_id, grant.revision, real_id, 100))
    assert real.outcome == common_pb2.OUTCOME_ALLOW and not real.test_mode
    for _ in range(3):
        test = _verify(
            stack, tenant, test_mode=True, **_purchase(agent_id, grant.revision, test_id, 100)
        )
        assert test.outcome == common_pb2.OUTCOME_ALLOW and test.test_mode
    wait_audited(stack, tenant, real_id, 1)
    wait_audited(stack, tenant, test_id, 3)
    assert _allows_counted(stack, tenant, agent_id) == 1


async def test_test_decisions_cannot_hide_the_decision_that_asked_for_an_approval(
    stack: Stack, tenant: Tenant
) -> None:
    """The agent sends 100 test requests under request id R, then the real one under R, which
    asks a human: GetDecision(approval_id), the console's link from the approval to what the
    agent asked and why, finds it (before, NOT_FOUND: the lookup read the 100 oldest
    REQUIRE_APPROVAL rows under R, all of them tests)."""
    agent_id, grant = stack.agent_with_grant(tenant, "asker", requires_approval=True)
    request_id = f"ask-{uuid.uuid4().hex[:8]}"
    fields = _purchase(agent_id, grant.revision, request_id, 5000)
    for _ in range(100):
        test = _verify(stack, tenant, test_mode=True, **fields)
        assert test.outcome == common_pb2.OUTCOME_REQUIRE_APPROVAL and test.test_mode
    real = _verify(stack, tenant, context={"why": "customer asked"}, **fields)
    assert real.outcome == common_pb2.OUTCOME_REQUIRE_APPROVAL and real.approval_id
    wait_audited(stack, tenant, request_id, 101)
    found = stack.registry_stub().GetDecision(
        registry_pb2.GetDecisionRequest(approval_id=real.approval_id),
        metadata=tenant.admin,
        timeout=10,
    )
    assert found.decision.decision.approval_id == real.approval_id
    assert found.decision.context["why"] == "customer asked"


def _event(tenant_id: str, request_id: str) -> events_pb2.DecisionEvent:
    event = events_pb2.DecisionEvent(
        event_id=f"evt_{uuid.uuid4().hex[:20]}",
        tenant_id=tenant_id,
        agent_id="agt_" + "p" * 20,
        action="purchase",
        resource="coachella.com",
        decision=common_pb2.Decision(
            request_id=request_id,
            outcome=common_pb2.OUTCOME_DENY,
            reason_code=common_pb2.REASON_CODE_NO_PERMISSION,
        ),
    )
    event.decision.decide_time.FromDatetime(datetime.now(UTC))
    return event


async def test_a_record_no_index_can_hold_never_stops_the_trail(
    stack: Stack, tenant: Tenant, kafka_bootstrap: str
) -> None:
    """A record that decodes but whose request id is longer than an index entry can hold (a
    buggy or older verifier, a stray producer: ours cap request ids at 128) is followed by an
    ordinary decision. The bad record is skipped and logged; the next one reaches the trail
    (before, the insert failed with program_limit_exceeded, which the sink took for an
    unavailable database and retried for ever, so no decision of any tenant was stored)."""
    after = f"after-poison-{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for event in (_event(tenant.tenant_id, "x" * 9000), _event(tenant.tenant_id, after)):
            await producer.send_and_wait(
                Topics(stack.topic_prefix).decisions,
                event.SerializeToString(),
                key=event.tenant_id.encode(),
            )
    finally:
        await producer.stop()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        listed = stack.registry_stub().ListDecisions(
            registry_pb2.ListDecisionsRequest(request_id=after), metadata=tenant.admin, timeout=10
        )
        if listed.decisions:
            return
        await asyncio.sleep(0.3)
    pytest.fail("a decision after the record the database cannot hold never reached the trail")
