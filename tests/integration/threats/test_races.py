"""Timing attacks on the decision path: an agent races the requests it controls (request ids,
amounts, approvals, client deadlines) across two verifier processes, against the real registry,
PostgreSQL and Kafka. (Stale snapshots between decide and the stateful steps:
test_stateful_steps.py.)
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest

from behalf.v1 import (
    common_pb2,
    registry_pb2,
    resources_pb2,
    verifier_pb2,
    verifier_pb2_grpc,
)
from tests.harness.decisions import new_agent, spent, usd, verify_as
from tests.harness.stack import Stack, Tenant, bearer, coachella_grant, start_stack, stop_stack

pytestmark = pytest.mark.integration
ALLOW = common_pb2.OUTCOME_ALLOW


@pytest.fixture(scope="module")
async def stack(database_url: str, kafka_bootstrap: str, tmp_path_factory) -> AsyncIterator[Stack]:
    stack = await start_stack(
        database_url, kafka_bootstrap, tmp_path_factory.mktemp("rr-safe"), verifiers=2
    )
    yield stack
    await stop_stack(stack)


@pytest.fixture(scope="module")
def tenant(stack: Stack) -> Tenant:
    return stack.create_tenant("race-safe")


def _rid() -> str:
    return f"req-{uuid.uuid4().hex}"


class _Verifiers:
    """Async stubs on both verifiers; calls alternate between them."""

    def __init__(self, stack: Stack, key: str) -> None:
        self._channels = [grpc.aio.insecure_channel(v.target) for v in stack.verifiers]
        self._stubs = [verifier_pb2_grpc.VerifierServiceStub(c) for c in self._channels]
        self._metadata = bearer(key)

    async def verify(
        self, index: int, deadline: float = 30, **fields: object
    ) -> common_pb2.Decision | None:
        """The decision, or None when the call ended without one (its deadline passed)."""
        try:
            reply = await self._stubs[index % len(self._stubs)].Verify(
                verifier_pb2.VerifyRequest(**fields),  # type: ignore[arg-type]
                metadata=self._metadata,
                timeout=deadline,
            )
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED, exc
            return None
        return reply.decision

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()


async def test_one_request_id_raced_with_two_amounts_spends_one_of_them(
    stack: Stack, tenant: Tenant
) -> None:
    """40 concurrent Verifies under one request id on two verifiers, half for 1.00 USD and half
    for 500.00 USD: every ALLOW is for the amount that bound the id, the rest are
    REQUEST_ID_REUSED, and the budget is spent exactly once."""
    agent_id = new_agent(stack, tenant)
    granted = stack.registry_stub().GrantPermission(
        coachella_grant(agent_id, max_amount=None, budget=usd(1_000_000)),
        metadata=tenant.admin,
        timeout=10,
    )
    request_id = _rid()
    amounts = [100 if i % 2 else 50_000 for i in range(40)]
    verifiers = _Verifiers(stack, tenant.verify_key)
    try:
        decisions = await asyncio.gather(
            *(
                verifiers.verify(
                    i,
                    agent_id=agent_id,
                    action="purchase",
                    resource="coachella.com",
                    amount=usd(a),
                    request_id=request_id,
                    min_revision=granted.revision,
                )
                for i, a in enumerate(amounts)
            )
        )
    finally:
        await verifiers.close()
    allowed = {a for a, d in zip(amounts, decisions, strict=True) if d and d.outcome == ALLOW}
    assert len(allowed) == 1, allowed
    reused = [
        d for d in decisions if d and d.reason_code == common_pb2.REASON_CODE_REQUEST_ID_REUSED
    ]
    assert len(reused) == 20
    assert spent(stack, tenant, granted.permission.permission_id) == allowed.pop()


async def test_min_revision_of_disable_is_never_allowed_on_either_verifier(
    stack: Stack, tenant: Tenant
) -> None:
    """A flood of Verifies on two verifiers while DisableAgent runs; every one that carries the
    disable's revision as min_revision is not ALLOW (STALE_POLICY or AGENT_DISABLED)."""
    agent_id = new_agent(stack, tenant)
    granted = stack.registry_stub().GrantPermission(
        coachella_grant(agent_id), metadata=tenant.admin, timeout=10
    )
    verifiers = _Verifiers(stack, tenant.verify_key)
    asked = {
        "agent_id": agent_id,
        "action": "purchase",
        "resource": "coachella.com",
        "amount": usd(100),
    }
    disabled_at: list[int] = []
    pinned: list[common_pb2.Decision | None] = []
    stop = asyncio.Event()

    async def flood(index: int) -> None:
        while not stop.is_set():
            if disabled_at:
                pinned.append(await verifiers.verify(index, min_revision=disabled_at[0], **asked))
            else:
                await verifiers.verify(index, min_revision=granted.revision, **asked)

    async def disable() -> None:
        await asyncio.sleep(0.3)
        reply = await asyncio.to_thread(
            stack.registry_stub().DisableAgent,
            registry_pb2.DisableAgentRequest(agent_id=agent_id),
            metadata=tenant.admin,
            timeout=10,
        )
        disabled_at.append(reply.revision)
        await asyncio.sleep(1.0)
        stop.set()

    try:
        await asyncio.gather(*(flood(i) for i in range(8)), disable())
    finally:
        await verifiers.close()
    assert pinned
    assert not [d for d in pinned if d is None or d.outcome == ALLOW]


async def test_one_request_id_raced_with_two_approvals_spends_one(
    stack: Stack, tenant: Tenant
) -> None:
    """Two approved approvals for the same content; one request id sent at once on both
    verifiers, carrying one approval each (several times): at most one approval is consumed."""
    agent_id = new_agent(stack, tenant)
    granted = stack.registry_stub().GrantPermission(
        coachella_grant(agent_id, requires_approval=True), metadata=tenant.admin, timeout=10
    )
    asked = {
        "agent_id": agent_id,
        "action": "purchase",
        "resource": "coachella.com",
        "amount": usd(100),
        "min_revision": granted.revision,
    }
    approvals = []
    for _ in range(2):
        pending = verify_as(stack, tenant.verify_key, request_id=_rid(), **asked)
        assert pending.outcome == common_pb2.OUTCOME_REQUIRE_APPROVAL
        stack.registry_stub().ResolveApproval(
            registry_pb2.ResolveApprovalRequest(
                approval_id=pending.approval_id, approve=True, resolved_by="ops@example.com"
            ),
            metadata=tenant.admin,
            timeout=10,
        )
        approvals.append(pending.approval_id)
    request_id = _rid()
    verifiers = _Verifiers(stack, tenant.verify_key)
    try:
        await asyncio.gather(
            *(
                verifiers.verify(i, request_id=request_id, approval_id=approvals[i % 2], **asked)
                for i in range(12)
            )
        )
    finally:
        await verifiers.close()
    states = [
        stack.registry_stub()
        .GetApproval(
            registry_pb2.GetApprovalRequest(approval_id=a), metadata=tenant.admin, timeout=10
        )
        .approval.state
        for a in approvals
    ]
    assert states.count(resources_pb2.APPROVAL_STATE_CONSUMED) == 1, states


async def test_client_deadlines_never_refund_a_delivered_allow(
    stack: Stack, tenant: Tenant
) -> None:
    """300 purchases of 1.00-4.00 USD against a 100.00 USD budget on two verifiers, each with a
    random client deadline of 0.2-3 times a concurrent Verify's latency here (many are cancelled
    mid-flight, some while their budget claim is held): what the ALLOWs delivered add up to is
    at most what the budget shows spent, and that is at most the budget."""
    agent_id = new_agent(stack, tenant)
    budget = 10_000
    granted = stack.registry_stub().GrantPermission(
        coachella_grant(agent_id, max_amount=None, budget=usd(budget)),
        metadata=tenant.admin,
        timeout=10,
    )
    rng = random.Random(11)
    verifiers = _Verifiers(stack, tenant.verify_key)
    # Deadlines around what a concurrent budgeted Verify takes here, so that many calls are
    # cancelled in each phase: before reserving, holding a claim, and waiting on the audit.
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.gather(
        *(
            verifiers.verify(
                i,
                agent_id=agent_id,
                action="purchase",
                resource="coachella.com",
                amount=usd(0),
                min_revision=granted.revision,
            )
            for i in range(20)
        )
    )
    typical = loop.time() - started
    calls = [(rng.randint(100, 400), rng.uniform(0.2, 3.0) * typical) for _ in range(300)]
    try:
        decisions = await asyncio.gather(
            *(
                verifiers.verify(
                    i,
                    deadline=deadline,
                    agent_id=agent_id,
                    action="purchase",
                    resource="coachella.com",
                    amount=usd(amount),
                    min_revision=granted.revision,
                )
                for i, (amount, deadline) in enumerate(calls)
            )
        )
    finally:
        await verifiers.close()
    await asyncio.sleep(2)  # background releases of withdrawn calls land
    delivered = sum(
        a for (a, _), d in zip(calls, decisions, strict=True) if d and d.outcome == ALLOW
    )
    now_spent = spent(stack, tenant, granted.permission.permission_id)
    print(
        f"typical={typical:.3f}s delivered={delivered} spent={now_spent} "
        f"cancelled={decisions.count(None)}"
    )
    assert delivered <= now_spent <= budget
