"""With the Kafka broker down, allows turn into AUDIT_UNAVAILABLE denies, and recover; an agent
replaying an allowed request id meanwhile gets no budget back."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from behalf.v1 import common_pb2, verifier_pb2
from tests.harness.infra import KafkaServer, start_kafka
from tests.harness.stack import Stack, start_stack, stop_stack

pytestmark = pytest.mark.integration


@pytest.fixture
async def own_broker(infra_base_dir: Path) -> AsyncIterator[KafkaServer]:
    if os.environ.get("BEHALF_KAFKA_BOOTSTRAP"):
        pytest.skip("needs a broker this test can stop; BEHALF_KAFKA_BOOTSTRAP points elsewhere")
    server = start_kafka(infra_base_dir / "kafka-audit")
    yield server
    server.stop()


async def test_allows_fail_closed_while_kafka_is_down(
    database_url: str, own_broker: KafkaServer, tmp_path
) -> None:
    """No allow is returned while decisions cannot be audited; service resumes by itself."""
    stack: Stack = await start_stack(
        database_url,
        own_broker.bootstrap,
        tmp_path,
        overrides=[("BEHALF_AUDIT_TIMEOUT_SECONDS", "1")],
    )
    try:
        tenant = stack.create_tenant()
        agent_id, grant = stack.agent_with_grant(tenant)
        request = verifier_pb2.VerifyRequest(
            agent_id=agent_id,
            action="purchase",
            resource="coachella.com",
            amount=common_pb2.Money(amount_minor=100, currency="USD"),
            min_revision=grant.revision,
        )
        verifier = stack.verifier_stub()

        def decide() -> common_pb2.Decision:
            return verifier.Verify(request, metadata=tenant.verify, timeout=15).decision

        # An agent whose passport holds 100.00 USD in all spends it, with a request id it chose.
        spender_id, budgeted = stack.agent_with_grant(
            tenant, "spender", budget=common_pb2.Money(amount_minor=10000, currency="USD")
        )

        # Another whose first spend cannot be audited: its whole budget comes back.
        saver_id, saved = stack.agent_with_grant(
            tenant, "saver", budget=common_pb2.Money(amount_minor=10000, currency="USD")
        )

        def spend(request_id: str, agent_id: str = spender_id) -> common_pb2.Decision:
            spending = verifier_pb2.VerifyRequest(
                agent_id=agent_id,
                action="purchase",
                resource="coachella.com",
                amount=common_pb2.Money(amount_minor=10000, currency="USD"),
                request_id=request_id,
                min_revision=max(budgeted.revision, saved.revision),
            )
            return verifier.Verify(spending, metadata=tenant.verify, timeout=15).decision

        assert decide().outcome == common_pb2.OUTCOME_ALLOW
        assert spend("spend-1").outcome == common_pb2.OUTCOME_ALLOW

        own_broker.stop()
        during = [decide() for _ in range(3)]
        assert all(d.outcome == common_pb2.OUTCOME_DENY for d in during)
        assert all(d.reason_code == common_pb2.REASON_CODE_AUDIT_UNAVAILABLE for d in during)
        assert stack.verifiers[0].process.poll() is None
        # It replays the allowed request while nothing can be audited: denied, and the verifier
        # gives back this call's claim on the reservation, not the spend the first call made.
        replayed = spend("spend-1")
        assert replayed.reason_code == common_pb2.REASON_CODE_AUDIT_UNAVAILABLE
        unaudited = spend("save-1", saver_id)
        assert unaudited.reason_code == common_pb2.REASON_CODE_AUDIT_UNAVAILABLE

        own_broker.start()
        deadline = time.monotonic() + 90
        outcome = common_pb2.OUTCOME_DENY
        while time.monotonic() < deadline and outcome != common_pb2.OUTCOME_ALLOW:
            outcome = decide().outcome
            await asyncio.sleep(0.5)
        assert outcome == common_pb2.OUTCOME_ALLOW
        # The budget is still spent: a new request for it is denied, the original still stands.
        again = spend("spend-2")
        assert again.outcome == common_pb2.OUTCOME_DENY, "a failed replay refunded the budget"
        assert again.reason_code == common_pb2.REASON_CODE_BUDGET_EXHAUSTED
        assert spend("spend-1").outcome == common_pb2.OUTCOME_ALLOW
        # The verifier gave back the claim it was handed for the spend nobody got.
        assert spend("save-2", saver_id).outcome == common_pb2.OUTCOME_ALLOW
    finally:
        await stop_stack(stack)
