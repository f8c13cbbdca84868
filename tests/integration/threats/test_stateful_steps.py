"""The stateful steps hold where they take effect: a budget spent and an approval consumed only
under a grant still in force, by the registry's clock, and one approval per request.

Each test is one attack by an agent holding a verify key (and, where a test models a Verify in
flight between decide and reserve, the registry's internal RPC as a verifier calls it).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf import duration_pb2, timestamp_pb2

from behalf.registry.store.budgets import MAX_CLAIMS_HELD
from behalf.v1 import (
    common_pb2,
    internal_pb2,
    internal_pb2_grpc,
    registry_pb2,
    resources_pb2,
)
from tests.harness.decisions import new_agent, reason_code, spent, usd, verify_as
from tests.harness.processes import VERIFIER_TOKEN
from tests.harness.stack import Stack, Tenant, bearer, coachella_grant, start_stack, stop_stack

pytestmark = pytest.mark.integration
USD = "USD"


@pytest.fixture(scope="module")
async def stack(database_url: str, kafka_bootstrap: str, tmp_path_factory) -> AsyncIterator[Stack]:
    stack = await start_stack(database_url, kafka_bootstrap, tmp_path_factory.mktemp("review"))
    yield stack
    await stop_stack(stack)


@pytest.fixture(scope="module")
def tenant(stack: Stack) -> Tenant:
    return stack.create_tenant("reviewed")


def _rid() -> str:
    return f"req-{uuid.uuid4().hex}"


def _grant(stack: Stack, tenant: Tenant, agent_id: str, **fields: object):
    return stack.registry_stub().GrantPermission(
        coachella_grant(agent_id, **fields), metadata=tenant.admin, timeout=10
    )


def _approve(stack: Stack, tenant: Tenant, approval_id: str) -> None:
    stack.registry_stub().ResolveApproval(
        registry_pb2.ResolveApprovalRequest(
            approval_id=approval_id, approve=True, resolved_by="ops@example.com"
        ),
        metadata=tenant.admin,
        timeout=10,
    )


def _approval_state(stack: Stack, tenant: Tenant, approval_id: str) -> str:
    reply = stack.registry_stub().GetApproval(
        registry_pb2.GetApprovalRequest(approval_id=approval_id), metadata=tenant.admin, timeout=10
    )
    return resources_pb2.ApprovalState.Name(reply.approval.state).removeprefix("APPROVAL_STATE_")


def _internal(stack: Stack) -> internal_pb2_grpc.RegistryInternalServiceStub:
    """The registry's internal API, as a verifier calls it."""
    return internal_pb2_grpc.RegistryInternalServiceStub(
        stack.channel(stack.registry.internal_target)
    )


def _reserve(
    stack: Stack,
    tenant: Tenant,
    agent_id: str,
    permission_id: str,
    amount: int,
    request_id: str,
) -> internal_pb2.ReserveBudgetResponse:
    """ReserveBudget exactly as a verifier sends it for this request."""
    return _internal(stack).ReserveBudget(
        internal_pb2.ReserveBudgetRequest(
            tenant_id=tenant.tenant_id,
            permission_id=permission_id,
            amount=usd(amount),
            request_id=request_id,
            agent_id=agent_id,
            action="purchase",
            resource="coachella.com",
        ),
        metadata=bearer(VERIFIER_TOKEN),
        timeout=10,
    )


def _release(
    stack: Stack, tenant: Tenant, permission_id: str, request_id: str, claim: bytes
) -> None:
    """ReleaseBudget as a verifier sends it when its caller did not get the allow."""
    _internal(stack).ReleaseBudget(
        internal_pb2.ReleaseBudgetRequest(
            tenant_id=tenant.tenant_id,
            permission_id=permission_id,
            request_id=request_id,
            claim=claim,
        ),
        metadata=bearer(VERIFIER_TOKEN),
        timeout=10,
    )


def _consume_in_flight(stack: Stack, tenant: Tenant, approval_id: str, **request: object) -> bool:
    """A verifier's ConsumeApproval of a purchase (`request`: agent_id, resource, amount,
    request_id, permission_id) for a Verify it decided from an older snapshot; whether the
    approval was consumed."""
    reply = _internal(stack).ConsumeApproval(
        internal_pb2.ConsumeApprovalRequest(
            tenant_id=tenant.tenant_id,
            approval_id=approval_id,
            action="purchase",
            **request,  # type: ignore[arg-type]
        ),
        metadata=bearer(VERIFIER_TOKEN),
        timeout=10,
    )
    return bool(reply.consumed)


def _reserve_in_flight(
    stack: Stack,
    tenant: Tenant,
    agent_id: str,
    permission_id: str,
    amount: int,
    request_id: str | None = None,
) -> bool:
    """A verifier's ReserveBudget for a Verify it decided from a snapshot a moment older than
    the registry's state (the request is in flight between decide and reserve); a fresh
    request id unless one is given (a replay). Whether it reserved; a refusal
    (FAILED_PRECONDITION, NOT_FOUND) counts as not reserved."""
    try:
        reply = _reserve(stack, tenant, agent_id, permission_id, amount, request_id or _rid())
    except grpc.RpcError as exc:
        assert exc.code() in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND)
        return False
    return bool(reply.reserved)


def test_a_budget_reserved_in_flight_after_disable_takes_nothing(
    stack: Stack, tenant: Tenant
) -> None:
    """Attack: race DisableAgent. The agent's Verify is decided from a snapshot that still shows
    it enabled, and its ReserveBudget reaches the registry after the disable committed. The
    registry re-checks revocation on reserve (and, for approvals, the whole grant and agent,
    `_GRANT_IN_FORCE`), so it must refuse here too: a disabled agent spends nothing."""
    agent_id = new_agent(stack, tenant)
    granted = _grant(stack, tenant, agent_id, max_amount=None, budget=usd(10_000))
    permission_id = granted.permission.permission_id
    stack.registry_stub().DisableAgent(
        registry_pb2.DisableAgentRequest(agent_id=agent_id), metadata=tenant.admin, timeout=10
    )
    assert not _reserve_in_flight(stack, tenant, agent_id, permission_id, 5_000)
    assert spent(stack, tenant, permission_id) == 0


def test_a_budget_reserved_outside_the_validity_window_takes_nothing(
    stack: Stack, tenant: Tenant
) -> None:
    """Attack: the time edges. A Verify decided while the grant was valid by the verifier's
    clock (skewed, or just before expires_at) reserves after the grant expired, or before its
    not_before by the registry's clock. Like ConsumeApproval, ReserveBudget must check
    not_before <= now() < expires_at, or a grant's budget is spent outside its life."""
    agent_id = new_agent(stack, tenant)
    later = timestamp_pb2.Timestamp()
    later.FromDatetime(datetime.now(UTC) + timedelta(hours=1))
    future = _grant(stack, tenant, agent_id, max_amount=None, budget=usd(10_000), not_before=later)
    assert not _reserve_in_flight(stack, tenant, agent_id, future.permission.permission_id, 100)
    assert spent(stack, tenant, future.permission.permission_id) == 0

    short = _grant(
        stack,
        tenant,
        agent_id,
        max_amount=None,
        budget=usd(10_000),
        expires_in=duration_pb2.Duration(seconds=1),
    )
    time.sleep(1.5)
    assert not _reserve_in_flight(stack, tenant, agent_id, short.permission.permission_id, 100)
    assert spent(stack, tenant, short.permission.permission_id) == 0


def test_a_replay_carrying_a_second_approval_does_not_spend_it(
    stack: Stack, tenant: Tenant
) -> None:
    """Attack: approval_id is not in the request-id digest. Request R is allowed with approval
    A; R is replayed (same content) carrying approval B, which a human approved for another
    request of the same content. The replay must not consume B (it is already allowed by A and
    buys nothing new), and B must still allow the request it was approved for."""
    agent_id = new_agent(stack, tenant)
    granted = _grant(stack, tenant, agent_id, requires_approval=True)
    asked = {
        "agent_id": agent_id,
        "action": "purchase",
        "resource": "coachella.com",
        "amount": usd(100),
        "min_revision": granted.revision,
    }
    first = verify_as(stack, tenant.verify_key, request_id=_rid(), **asked)
    second = verify_as(stack, tenant.verify_key, request_id=_rid(), **asked)
    assert first.outcome == second.outcome == common_pb2.OUTCOME_REQUIRE_APPROVAL
    approval_a, approval_b = first.approval_id, second.approval_id
    assert approval_a != approval_b
    _approve(stack, tenant, approval_a)
    _approve(stack, tenant, approval_b)

    request_id = _rid()
    used = verify_as(
        stack, tenant.verify_key, request_id=request_id, approval_id=approval_a, **asked
    )
    assert (used.outcome, reason_code(used)) == (common_pb2.OUTCOME_ALLOW, "APPROVAL_CONSUMED")
    replay = verify_as(
        stack, tenant.verify_key, request_id=request_id, approval_id=approval_b, **asked
    )
    assert _approval_state(stack, tenant, approval_b) == "APPROVED", (
        f"the replay of an allowed request id consumed a second approval ({reason_code(replay)})"
    )
    fresh = verify_as(stack, tenant.verify_key, request_id=_rid(), approval_id=approval_b, **asked)
    assert (fresh.outcome, reason_code(fresh)) == (common_pb2.OUTCOME_ALLOW, "APPROVAL_CONSUMED")


def test_racing_fresh_request_ids_spend_one_approval_once(stack: Stack, tenant: Tenant) -> None:
    """Attack: race one approved approval with 12 concurrent Verifies, each a fresh request id
    of exactly the approved content. Exactly one is allowed; the others are APPROVAL_INVALID."""
    agent_id = new_agent(stack, tenant)
    granted = _grant(stack, tenant, agent_id, requires_approval=True, budget=usd(1_000_000))
    asked = {
        "agent_id": agent_id,
        "action": "purchase",
        "resource": "coachella.com",
        "amount": usd(500),
        "min_revision": granted.revision,
    }
    pending = verify_as(stack, tenant.verify_key, request_id=_rid(), **asked)
    _approve(stack, tenant, pending.approval_id)
    with ThreadPoolExecutor(max_workers=12) as pool:
        decisions = list(
            pool.map(
                lambda _: verify_as(
                    stack,
                    tenant.verify_key,
                    request_id=_rid(),
                    approval_id=pending.approval_id,
                    **asked,
                ),
                range(12),
            )
        )
    allowed = [d for d in decisions if d.outcome == common_pb2.OUTCOME_ALLOW]
    assert len(allowed) == 1
    assert {reason_code(d) for d in decisions if d.outcome != common_pb2.OUTCOME_ALLOW} == {
        "APPROVAL_INVALID"
    }
    assert spent(stack, tenant, granted.permission.permission_id) == 500


def test_test_mode_leaves_an_approved_approval_and_the_budget_unspent(
    stack: Stack, tenant: Tenant
) -> None:
    """Attack: spend a human's approval (or budget) with a test-mode request. A test-mode
    Verify carrying an approved approval authorizes nothing, consumes nothing and reserves
    nothing; the approval then allows the real request once."""
    agent_id = new_agent(stack, tenant)
    granted = _grant(stack, tenant, agent_id, requires_approval=True, budget=usd(1_000))
    asked = {
        "agent_id": agent_id,
        "action": "purchase",
        "resource": "coachella.com",
        "amount": usd(700),
        "min_revision": granted.revision,
    }
    pending = verify_as(stack, tenant.verify_key, request_id=_rid(), **asked)
    _approve(stack, tenant, pending.approval_id)
    request_id = _rid()
    tested = verify_as(
        stack,
        tenant.verify_key,
        request_id=request_id,
        approval_id=pending.approval_id,
        test_mode=True,
        **asked,
    )
    assert tested.test_mode and tested.outcome != common_pb2.OUTCOME_ALLOW
    assert _approval_state(stack, tenant, pending.approval_id) == "APPROVED"
    assert spent(stack, tenant, granted.permission.permission_id) == 0
    real = verify_as(
        stack, tenant.verify_key, request_id=request_id, approval_id=pending.approval_id, **asked
    )
    assert (real.outcome, reason_code(real)) == (common_pb2.OUTCOME_ALLOW, "APPROVAL_CONSUMED")
    assert spent(stack, tenant, granted.permission.permission_id) == 700


def _allowed_purchase(stack: Stack, tenant: Tenant, **grant: object) -> tuple[str, str, str]:
    """A budgeted grant and one allowed 10.00 USD purchase under a request id: (agent, grant,
    request id)."""
    agent_id = new_agent(stack, tenant)
    granted = _grant(stack, tenant, agent_id, max_amount=None, budget=usd(100_000), **grant)
    request_id = _rid()
    first = verify_as(
        stack,
        tenant.verify_key,
        agent_id=agent_id,
        action="purchase",
        resource="coachella.com",
        amount=usd(1_000),
        request_id=request_id,
        min_revision=granted.revision,
    )
    assert (first.outcome, reason_code(first)) == (common_pb2.OUTCOME_ALLOW, "ALLOWED")
    return agent_id, granted.permission.permission_id, request_id


@pytest.mark.parametrize("change", ["disable", "revoke", "expire"])
def test_a_replay_reserved_after_the_grant_stopped_applying_takes_nothing(
    stack: Stack, tenant: Tenant, change: str
) -> None:
    """Attack: replay an allowed request id while DisableAgent or RevokePermission lands, or
    as the grant expires, to a verifier still deciding from the older snapshot. Its
    ReserveBudget for the same request id must be refused as a fresh one is, or that verifier
    answers ALLOW to a disabled agent or under a revoked or expired grant."""
    grant = {"expires_in": duration_pb2.Duration(seconds=2)} if change == "expire" else {}
    agent_id, permission_id, request_id = _allowed_purchase(stack, tenant, **grant)
    registry = stack.registry_stub()
    if change == "disable":
        registry.DisableAgent(
            registry_pb2.DisableAgentRequest(agent_id=agent_id), metadata=tenant.admin, timeout=10
        )
    elif change == "revoke":
        registry.RevokePermission(
            registry_pb2.RevokePermissionRequest(permission_id=permission_id),
            metadata=tenant.admin,
            timeout=10,
        )
    else:
        time.sleep(2.5)
    assert not _reserve_in_flight(stack, tenant, agent_id, permission_id, 1_000, request_id)
    assert spent(stack, tenant, permission_id) == 1_000


def test_a_budget_or_approval_taken_in_flight_after_the_agent_moved_to_test_mode_is_not(
    stack: Stack, tenant: Tenant
) -> None:
    """Attack: race UpdateAgent(mode=TEST). An agent in test mode authorizes nothing; a Verify
    decided as live on a verifier that has not applied the change yet must neither spend the
    budget nor a human's approval where those take effect."""
    agent_id = new_agent(stack, tenant)
    budgeted = _grant(stack, tenant, agent_id, max_amount=None, budget=usd(10_000))
    approved = _grant(stack, tenant, agent_id, requires_approval=True, resources=["example.org"])
    pending = verify_as(
        stack,
        tenant.verify_key,
        request_id=_rid(),
        agent_id=agent_id,
        action="purchase",
        resource="example.org",
        amount=usd(100),
        min_revision=approved.revision,
    )
    assert pending.outcome == common_pb2.OUTCOME_REQUIRE_APPROVAL
    _approve(stack, tenant, pending.approval_id)
    stack.registry_stub().UpdateAgent(
        registry_pb2.UpdateAgentRequest(agent_id=agent_id, mode=resources_pb2.AGENT_MODE_TEST),
        metadata=tenant.admin,
        timeout=10,
    )
    budget_id = budgeted.permission.permission_id
    assert not _reserve_in_flight(stack, tenant, agent_id, budget_id, 5_000)
    assert spent(stack, tenant, budget_id) == 0
    assert not _consume_in_flight(
        stack,
        tenant,
        pending.approval_id,
        agent_id=agent_id,
        resource="example.org",
        amount=usd(100),
        request_id=_rid(),
        permission_id=approved.permission.permission_id,
    )
    assert _approval_state(stack, tenant, pending.approval_id) == "APPROVED"


def test_claims_given_back_after_a_claimless_replay_was_allowed_refund_nothing(
    stack: Stack, tenant: Tenant
) -> None:
    """Attack: spend the budget twice. The agent replays request R (the whole budget) 64 times
    at once, so 64 calls in flight each hold a claim on R's reservation, and once more: past
    the claim cap the 65th is allowed with no claim of its own. The 64 are then denied (their
    audit failed) and give their claims back. The 65th's ALLOW was delivered, so the budget
    must stay spent: a fresh purchase of the whole budget is BUDGET_EXHAUSTED."""
    budget = 1_000
    agent_id = new_agent(stack, tenant)
    granted = _grant(stack, tenant, agent_id, max_amount=None, budget=usd(budget))
    permission_id = granted.permission.permission_id
    request_id = _rid()
    claims = []
    for _ in range(MAX_CLAIMS_HELD):
        reply = _reserve(stack, tenant, agent_id, permission_id, budget, request_id)
        assert reply.reserved and reply.claim
        claims.append(reply.claim)
    asked = {
        "agent_id": agent_id,
        "action": "purchase",
        "resource": "coachella.com",
        "amount": usd(budget),
        "min_revision": granted.revision,
    }
    allowed = verify_as(stack, tenant.verify_key, request_id=request_id, **asked)
    assert allowed.outcome == common_pb2.OUTCOME_ALLOW
    for claim in claims:
        _release(stack, tenant, permission_id, request_id, claim)
    assert spent(stack, tenant, permission_id) == budget
    again = verify_as(stack, tenant.verify_key, request_id=_rid(), **asked)
    assert (again.outcome, reason_code(again)) == (common_pb2.OUTCOME_DENY, "BUDGET_EXHAUSTED")


def test_a_request_whose_claim_was_given_back_can_pass_under_its_id_later(
    stack: Stack, tenant: Tenant
) -> None:
    """A Verify of R reserves, its audit fails (AUDIT_UNAVAILABLE, transient) and its claim is
    given back; the SDK retries with the same request id. The retry takes the budget again and
    is allowed, once: the amount is spent once, not twice and not never."""
    agent_id = new_agent(stack, tenant)
    granted = _grant(stack, tenant, agent_id, max_amount=None, budget=usd(100_000))
    permission_id = granted.permission.permission_id
    request_id = _rid()
    reserved = _reserve(stack, tenant, agent_id, permission_id, 1_000, request_id)
    assert reserved.reserved and reserved.claim
    _release(stack, tenant, permission_id, request_id, reserved.claim)
    assert spent(stack, tenant, permission_id) == 0
    asked = {
        "agent_id": agent_id,
        "action": "purchase",
        "resource": "coachella.com",
        "amount": usd(1_000),
        "min_revision": granted.revision,
    }
    retried = verify_as(stack, tenant.verify_key, request_id=request_id, **asked)
    assert (retried.outcome, reason_code(retried)) == (common_pb2.OUTCOME_ALLOW, "ALLOWED")
    replayed = verify_as(stack, tenant.verify_key, request_id=request_id, **asked)
    assert replayed.outcome == common_pb2.OUTCOME_ALLOW
    assert spent(stack, tenant, permission_id) == 1_000


def test_a_replayed_approval_consumption_after_disable_is_refused(
    stack: Stack, tenant: Tenant
) -> None:
    """The approvals counterpart: request R consumed an approval and was allowed; after
    DisableAgent, R's ConsumeApproval replayed by a verifier deciding from an older snapshot is
    refused (`_GRANT_IN_FORCE` in its `again` query)."""
    agent_id = new_agent(stack, tenant)
    granted = _grant(stack, tenant, agent_id, requires_approval=True)
    asked = {
        "agent_id": agent_id,
        "action": "purchase",
        "resource": "coachella.com",
        "amount": usd(100),
        "min_revision": granted.revision,
    }
    pending = verify_as(stack, tenant.verify_key, request_id=_rid(), **asked)
    _approve(stack, tenant, pending.approval_id)
    request_id = _rid()
    used = verify_as(
        stack, tenant.verify_key, request_id=request_id, approval_id=pending.approval_id, **asked
    )
    assert used.outcome == common_pb2.OUTCOME_ALLOW
    stack.registry_stub().DisableAgent(
        registry_pb2.DisableAgentRequest(agent_id=agent_id), metadata=tenant.admin, timeout=10
    )
    assert not _consume_in_flight(
        stack,
        tenant,
        pending.approval_id,
        agent_id=agent_id,
        resource="coachella.com",
        amount=usd(100),
        request_id=request_id,
        permission_id=granted.permission.permission_id,
    )


def test_an_exhausted_budget_neither_asks_a_human_nor_spends_an_approval(
    stack: Stack, tenant: Tenant
) -> None:
    """Attack: get a human to approve, or burn a human's approval on, a spend the budget can
    no longer cover. Two 600.00 purchases are each approved while the 1,000.00 budget could
    still cover either; the first is used. The second, presented with its approval, is
    BUDGET_EXHAUSTED and its approval stays unspent; a third asked afresh is BUDGET_EXHAUSTED
    and files no approval."""
    agent_id = new_agent(stack, tenant)
    granted = _grant(
        stack, tenant, agent_id, requires_approval=True, max_amount=None, budget=usd(100_000)
    )
    asked = {
        "agent_id": agent_id,
        "action": "purchase",
        "resource": "coachella.com",
        "amount": usd(60_000),
        "min_revision": granted.revision,
    }
    first = verify_as(stack, tenant.verify_key, request_id=_rid(), **asked)
    second = verify_as(stack, tenant.verify_key, request_id=_rid(), **asked)
    assert first.outcome == second.outcome == common_pb2.OUTCOME_REQUIRE_APPROVAL
    _approve(stack, tenant, first.approval_id)
    _approve(stack, tenant, second.approval_id)
    used = verify_as(
        stack, tenant.verify_key, request_id=_rid(), approval_id=first.approval_id, **asked
    )
    assert (used.outcome, reason_code(used)) == (common_pb2.OUTCOME_ALLOW, "APPROVAL_CONSUMED")

    late = verify_as(
        stack, tenant.verify_key, request_id=_rid(), approval_id=second.approval_id, **asked
    )
    assert (late.outcome, reason_code(late)) == (common_pb2.OUTCOME_DENY, "BUDGET_EXHAUSTED")
    assert _approval_state(stack, tenant, second.approval_id) == "APPROVED"
    third = verify_as(stack, tenant.verify_key, request_id=_rid(), **asked)
    assert (third.outcome, reason_code(third)) == (common_pb2.OUTCOME_DENY, "BUDGET_EXHAUSTED")
    assert not third.approval_id
    assert spent(stack, tenant, granted.permission.permission_id) == 60_000
