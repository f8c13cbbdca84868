"""Many concurrent verifies against one budget, across two verifiers, never overspend it."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import grpc
import pytest

from behalf.v1 import common_pb2, registry_pb2, verifier_pb2, verifier_pb2_grpc
from tests.harness.stack import Stack, start_stack, stop_stack

pytestmark = pytest.mark.integration

BUDGET = 5_000


@pytest.fixture
async def stack(database_url: str, kafka_bootstrap: str, tmp_path) -> AsyncIterator[Stack]:
    stack = await start_stack(database_url, kafka_bootstrap, tmp_path, verifiers=2)
    yield stack
    await stop_stack(stack)


async def test_sum_of_allowed_amounts_never_exceeds_budget(stack: Stack) -> None:
    """160 concurrent purchases of 1.00 to 4.00 USD against a 50.00 USD budget, split across two
    verifiers: the allowed amounts add up to at most the budget, the rest are BUDGET_EXHAUSTED."""
    tenant = stack.create_tenant()
    registry = stack.registry_stub()
    agent_id, grant = stack.agent_with_grant(
        tenant,
        "spender",
        max_amount=None,
        budget=common_pb2.Money(amount_minor=BUDGET, currency="USD"),
    )
    rng = random.Random(7)
    amounts = [rng.randint(100, 400) for _ in range(160)]
    channels = [grpc.aio.insecure_channel(v.target) for v in stack.verifiers]
    stubs = [verifier_pb2_grpc.VerifierServiceStub(c) for c in channels]

    async def spend(index: int, amount: int) -> common_pb2.Decision:
        reply = await stubs[index % 2].Verify(
            verifier_pb2.VerifyRequest(
                agent_id=agent_id,
                action="purchase",
                resource="coachella.com",
                amount=common_pb2.Money(amount_minor=amount, currency="USD"),
                min_revision=grant.revision,
            ),
            metadata=tenant.verify,
            timeout=30,
        )
        return reply.decision

    try:
        decisions = await asyncio.gather(*(spend(i, a) for i, a in enumerate(amounts)))
    finally:
        for channel in channels:
            await channel.close()
    allowed = [a for a, d in zip(amounts, decisions, strict=True) if d.outcome == 1]
    exhausted = [d for d in decisions if d.reason_code == common_pb2.REASON_CODE_BUDGET_EXHAUSTED]
    assert sum(allowed) <= BUDGET
    assert sum(allowed) > BUDGET - 400, "the budget was not used up"
    assert len(allowed) + len(exhausted) == len(amounts)
    assert len({d.verifier_id for d in decisions}) == 2, "both verifiers decided"
    spent = registry.GetPermission(
        registry_pb2.GetPermissionRequest(permission_id=grant.permission.permission_id),
        metadata=tenant.admin,
    ).permission.budget_spent_minor
    assert spent == sum(allowed)
