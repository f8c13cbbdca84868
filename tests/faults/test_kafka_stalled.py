"""Kafka stalled (SIGSTOP) past the audit deadline: a request denied AUDIT_UNAVAILABLE gives
back what it took, and its retry under the same request id, once the broker is back, is
decided afresh and spends the budget once."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from behalf.v1 import common_pb2, registry_pb2, resources_pb2
from tests.harness.decisions import reason_code, spent, usd, verify_as
from tests.harness.infra import KafkaServer, PostgresServer
from tests.harness.stack import coachella_grant, start_stack, stop_stack

AUDIT_TIMEOUT_SECONDS = 2.0
AMOUNT = 1_000


async def test_a_request_denied_while_kafka_stalls_passes_under_its_id_once_it_is_back(
    shared_postgres: PostgresServer, own_kafka: KafkaServer, tmp_path: Path
) -> None:
    stack = await start_stack(
        shared_postgres.url,
        own_kafka.bootstrap,
        tmp_path,
        overrides=[("BEHALF_AUDIT_TIMEOUT_SECONDS", str(AUDIT_TIMEOUT_SECONDS))],
    )
    frozen = False
    try:
        tenant = stack.create_tenant("stalled")
        registry = stack.registry_stub()
        agent_id = registry.CreateAgent(
            registry_pb2.CreateAgentRequest(name="agent", kind=resources_pb2.AGENT_KIND_NATIVE),
            metadata=tenant.admin,
            timeout=10,
        ).agent.agent_id
        granted = registry.GrantPermission(
            coachella_grant(agent_id, max_amount=None, budget=usd(100_000)),
            metadata=tenant.admin,
            timeout=10,
        )
        permission_id = granted.permission.permission_id
        asked = {
            "agent_id": agent_id,
            "action": "purchase",
            "resource": "coachella.com",
            "amount": usd(AMOUNT),
            "min_revision": granted.revision,
        }
        request_id = f"req-{uuid.uuid4().hex}"
        own_kafka.freeze()
        frozen = True
        denied = await asyncio.to_thread(
            verify_as, stack, tenant.verify_key, request_id=request_id, **asked
        )
        own_kafka.thaw()
        frozen = False
        assert (denied.outcome, reason_code(denied)) == (
            common_pb2.OUTCOME_DENY,
            "AUDIT_UNAVAILABLE",
        )
        assert spent(stack, tenant, permission_id) == 0

        retried = common_pb2.Decision()
        for _ in range(60):  # until the lane's producer is replaced and answers again
            retried = await asyncio.to_thread(
                verify_as, stack, tenant.verify_key, request_id=request_id, **asked
            )
            if reason_code(retried) != "AUDIT_UNAVAILABLE":
                break
            await asyncio.sleep(0.5)
        assert (retried.outcome, reason_code(retried)) == (common_pb2.OUTCOME_ALLOW, "ALLOWED")
        assert spent(stack, tenant, permission_id) == AMOUNT
    finally:
        if frozen:
            own_kafka.thaw()
        await stop_stack(stack)
