"""Approvals (internal create and consume, public list, get, resolve) and budget reservations."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from behalf.registry.store import approvals as store_approvals
from behalf.registry.store import budgets as store_budgets
from behalf.v1 import common_pb2 as common
from behalf.v1 import internal_pb2 as ipb
from behalf.v1 import registry_pb2 as pb
from behalf.v1 import resources_pb2 as res
from tests.integration.registry.support import Registry, Tenant, fails, new_agent

pytestmark = pytest.mark.integration
C = grpc.StatusCode


# What the Verify behind a reservation asked (with its agent, the request id names this).
_ASKED = {"action": "purchase", "resource": "shop.example.com"}


def usd(amount: int) -> common.Money:
    return common.Money(amount_minor=amount, currency="USD")


def _reserve(
    tenant: Tenant, permission: res.Permission, request_id: str, amount: int
) -> ipb.ReserveBudgetRequest:
    """What a verifier sends to reserve `amount` (USD minor units) for `request_id`."""
    return ipb.ReserveBudgetRequest(
        tenant_id=tenant.tenant_id,
        permission_id=permission.permission_id,
        amount=usd(amount),
        request_id=request_id,
        agent_id=permission.agent_id,
        **_ASKED,
    )


def _release(
    tenant: Tenant, permission: res.Permission, request_id: str, claim: str
) -> ipb.ReleaseBudgetRequest:
    """What a verifier sends to give back `claim` on `request_id`'s reservation."""
    return ipb.ReleaseBudgetRequest(
        tenant_id=tenant.tenant_id,
        permission_id=permission.permission_id,
        request_id=request_id,
        claim=claim,
    )


async def _setup(registry: Registry, **grant: object) -> tuple[Tenant, res.Agent, res.Permission]:
    tenant = await registry.tenant()
    agent, permission = await _agent_with_grant(tenant, **grant)
    return tenant, agent, permission


async def _agent_with_grant(tenant: Tenant, **grant: object) -> tuple[res.Agent, res.Permission]:
    agent = await new_agent(tenant)
    granted = await tenant.admin.GrantPermission(
        pb.GrantPermissionRequest(
            agent_id=agent.agent_id,
            allowed_actions=["purchase"],
            resources=["shop.example.com"],
            **grant,  # type: ignore[arg-type]
        )
    )
    return agent, granted.permission


def _approval_request(
    tenant: Tenant, agent: res.Agent, permission: res.Permission, request_id: str = "req-1"
) -> ipb.CreateApprovalRequest:
    return ipb.CreateApprovalRequest(
        tenant_id=tenant.tenant_id,
        agent_id=agent.agent_id,
        action="purchase",
        resource="shop.example.com",
        amount=usd(500),
        permission_id=permission.permission_id,
        request_id=request_id,
    )


def _consume(
    tenant: Tenant, agent: res.Agent, approval: res.Approval, request_id: str, **overrides: object
) -> ipb.ConsumeApprovalRequest:
    fields: dict[str, object] = {
        "tenant_id": tenant.tenant_id,
        "approval_id": approval.approval_id,
        "permission_id": approval.permission_id,
        "agent_id": agent.agent_id,
        "action": "purchase",
        "resource": "shop.example.com",
        "amount": usd(500),
        "request_id": request_id,
    }
    fields.update(overrides)
    return ipb.ConsumeApprovalRequest(**fields)  # type: ignore[arg-type]


async def test_approval_lifecycle(registry: Registry) -> None:
    """An approval is created once per request id, listed, approved, and consumed exactly once."""
    tenant, agent, permission = await _setup(registry, requires_approval=True)
    internal = registry.as_verifier()
    created = await internal.CreateApproval(_approval_request(tenant, agent, permission))
    again = await internal.CreateApproval(_approval_request(tenant, agent, permission))
    approval = created.approval
    assert again.approval == approval and approval.state == res.APPROVAL_STATE_PENDING
    assert approval.approval_id.startswith("apr_") and approval.amount.amount_minor == 500

    pending = await tenant.audit.ListApprovals(
        pb.ListApprovalsRequest(state=res.APPROVAL_STATE_PENDING)
    )
    assert [a.approval_id for a in pending.approvals] == [approval.approval_id]
    polled = await tenant.verify.GetApproval(
        pb.GetApprovalRequest(approval_id=approval.approval_id)
    )
    assert polled.approval.state == res.APPROVAL_STATE_PENDING

    early = await internal.ConsumeApproval(_consume(tenant, agent, approval, "req-2"))
    assert not early.consumed and early.state == res.APPROVAL_STATE_PENDING

    resolved = await tenant.admin.ResolveApproval(
        pb.ResolveApprovalRequest(
            approval_id=approval.approval_id,
            approve=True,
            resolved_by="ana@example.com",
            comment="ok",
        )
    )
    assert resolved.approval.state == res.APPROVAL_STATE_APPROVED
    assert resolved.approval.resolved_by == "ana@example.com" and resolved.revision > 0
    keys = await tenant.admin.ListApiKeys(pb.ListApiKeysRequest())
    admin_keys = {k.key_id for k in keys.api_keys if k.role == res.ROLE_ADMIN}
    assert resolved.approval.resolved_by_key_id in admin_keys
    await fails(
        tenant.admin.ResolveApproval(
            pb.ResolveApprovalRequest(
                approval_id=approval.approval_id, approve=False, resolved_by="b"
            )
        ),
        C.FAILED_PRECONDITION,
        "APPROVAL_STATE_APPROVED",
    )
    for n, wrong in enumerate(
        (
            {"action": "issue_refund"},
            {"resource": "other.example.com"},
            {"amount": usd(501)},
            {"amount": common.Money(amount_minor=500, currency="EUR")},
            {"permission_id": "prm_" + "0" * 20},
        )
    ):
        miss = await internal.ConsumeApproval(
            _consume(tenant, agent, approval, f"req-x{n}", **wrong)
        )
        assert not miss.consumed and miss.state == res.APPROVAL_STATE_APPROVED
    used = await internal.ConsumeApproval(_consume(tenant, agent, approval, "req-3"))
    assert used.consumed and used.state == res.APPROVAL_STATE_CONSUMED
    retry = await internal.ConsumeApproval(_consume(tenant, agent, approval, "req-3"))
    assert retry.consumed
    other = await internal.ConsumeApproval(_consume(tenant, agent, approval, "req-4"))
    assert not other.consumed
    types = [e for e, _, _ in await registry.outbox()]
    assert types.count("approval.requested") == 1 and types.count("approval.resolved") == 1


async def test_approval_is_consumed_once_under_concurrency(registry: Registry) -> None:
    """Fifty concurrent consumers of one approved approval: exactly one wins."""
    tenant, agent, permission = await _setup(registry, requires_approval=True)
    internal = registry.as_verifier()
    approval = (
        await internal.CreateApproval(_approval_request(tenant, agent, permission))
    ).approval
    await tenant.admin.ResolveApproval(
        pb.ResolveApprovalRequest(approval_id=approval.approval_id, approve=True, resolved_by="a")
    )
    results = await asyncio.gather(
        *(internal.ConsumeApproval(_consume(tenant, agent, approval, f"r{i}")) for i in range(50))
    )
    assert sum(r.consumed for r in results) == 1


async def test_denied_approval_cannot_be_consumed(registry: Registry) -> None:
    """A denied approval is never consumed."""
    tenant, agent, permission = await _setup(registry, requires_approval=True)
    internal = registry.as_verifier()
    approval = (
        await internal.CreateApproval(_approval_request(tenant, agent, permission))
    ).approval
    denied = await tenant.admin.ResolveApproval(
        pb.ResolveApprovalRequest(approval_id=approval.approval_id, approve=False, resolved_by="a")
    )
    assert denied.approval.state == res.APPROVAL_STATE_DENIED
    result = await internal.ConsumeApproval(_consume(tenant, agent, approval, "r"))
    assert not result.consumed and result.state == res.APPROVAL_STATE_DENIED


@pytest.mark.parametrize("withdrawn", ["permission revoked", "agent disabled"])
async def test_an_approval_is_not_consumed_under_a_withdrawn_grant(
    registry: Registry, withdrawn: str
) -> None:
    """An approved approval, then its grant revoked or its agent disabled: a verifier still
    deciding from an older snapshot cannot consume it, nor have a retry of an earlier consumer
    answered yes."""
    tenant, agent, permission = await _setup(registry, requires_approval=True)
    internal = registry.as_verifier()
    approvals = []
    for request_id in ("first", "second"):
        created = await internal.CreateApproval(
            _approval_request(tenant, agent, permission, request_id)
        )
        await tenant.admin.ResolveApproval(
            pb.ResolveApprovalRequest(
                approval_id=created.approval.approval_id, approve=True, resolved_by="a"
            )
        )
        approvals.append(created.approval)
    used = await internal.ConsumeApproval(_consume(tenant, agent, approvals[0], "r1"))
    assert used.consumed
    if withdrawn == "permission revoked":
        await tenant.admin.RevokePermission(
            pb.RevokePermissionRequest(permission_id=permission.permission_id)
        )
    else:
        await tenant.admin.DisableAgent(pb.DisableAgentRequest(agent_id=agent.agent_id))
    late = await internal.ConsumeApproval(_consume(tenant, agent, approvals[1], "r2"))
    assert not late.consumed and late.state == res.APPROVAL_STATE_APPROVED
    retry = await internal.ConsumeApproval(_consume(tenant, agent, approvals[0], "r1"))
    assert not retry.consumed


async def test_an_agent_cannot_bury_the_approval_queue(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An agent asking with fresh request ids gets at most the cap of pending approvals (here
    3): the next is RESOURCE_EXHAUSTED and sends no webhook, a retry of one of them still
    answers, another agent is not held to this one's count, and a resolved one frees a place."""
    monkeypatch.setattr(store_approvals, "MAX_PENDING_PER_AGENT", 3)
    tenant, agent, permission = await _setup(registry, requires_approval=True)
    internal = registry.as_verifier()
    asked = await asyncio.gather(
        *(
            internal.CreateApproval(_approval_request(tenant, agent, permission, f"q{i}"))
            for i in range(8)
        ),
        return_exceptions=True,
    )
    made = [a for a in asked if not isinstance(a, BaseException)]
    refused = [a for a in asked if isinstance(a, grpc.aio.AioRpcError)]
    assert (len(made), len(refused)) == (3, 5), asked  # concurrent requests count in turn
    assert all(r.code() == C.RESOURCE_EXHAUSTED for r in refused)
    await fails(
        internal.CreateApproval(_approval_request(tenant, agent, permission, "q9")),
        C.RESOURCE_EXHAUSTED,
        "3 approvals pending",
    )
    retry = await internal.CreateApproval(
        _approval_request(tenant, agent, permission, made[1].approval.request_id)
    )
    assert retry.approval == made[1].approval
    other_agent, other_permission = await _agent_with_grant(tenant, requires_approval=True)
    await internal.CreateApproval(
        _approval_request(tenant, other_agent, other_permission, "other-q0")
    )
    await tenant.admin.ResolveApproval(
        pb.ResolveApprovalRequest(
            approval_id=made[0].approval.approval_id, approve=False, resolved_by="a"
        )
    )
    freed = await internal.CreateApproval(_approval_request(tenant, agent, permission, "q-after"))
    assert freed.approval.state == res.APPROVAL_STATE_PENDING
    types = [e for e, _, _ in await registry.outbox()]
    assert types.count("approval.requested") == 5


async def test_approval_roles_validation_and_isolation(registry: Registry) -> None:
    """Verify keys may only get approvals; bad fields name themselves; other tenants see none."""
    tenant, agent, permission = await _setup(registry, requires_approval=True)
    internal = registry.as_verifier()
    approval = (
        await internal.CreateApproval(_approval_request(tenant, agent, permission))
    ).approval
    await fails(tenant.verify.ListApprovals(pb.ListApprovalsRequest()), C.PERMISSION_DENIED)
    await fails(
        tenant.audit.ResolveApproval(
            pb.ResolveApprovalRequest(
                approval_id=approval.approval_id, approve=True, resolved_by="a"
            )
        ),
        C.PERMISSION_DENIED,
    )
    await fails(
        tenant.admin.ResolveApproval(
            pb.ResolveApprovalRequest(approval_id=approval.approval_id, approve=True)
        ),
        C.INVALID_ARGUMENT,
        "resolved_by",
    )
    await fails(
        tenant.admin.ResolveApproval(
            pb.ResolveApprovalRequest(
                approval_id=approval.approval_id, approve=True, resolved_by="a", comment="c" * 2001
            )
        ),
        C.INVALID_ARGUMENT,
        "comment",
    )
    await fails(
        tenant.admin.ListApprovals(pb.ListApprovalsRequest(state=42)), C.INVALID_ARGUMENT, "state"
    )
    other = await registry.tenant("Other")
    missing = "apr_" + "0" * 20
    for approval_id in (approval.approval_id, missing):
        assert (
            await fails(
                other.admin.GetApproval(pb.GetApprovalRequest(approval_id=approval_id)), C.NOT_FOUND
            )
            == f"approval {approval_id} not found"
        )
        await fails(
            other.admin.ResolveApproval(
                pb.ResolveApprovalRequest(approval_id=approval_id, approve=True, resolved_by="a")
            ),
            C.NOT_FOUND,
        )
    assert not (await other.admin.ListApprovals(pb.ListApprovalsRequest())).approvals
    wrong_tenant = _approval_request(tenant, agent, permission, "req-9")
    wrong_tenant.tenant_id = other.tenant_id
    await fails(internal.CreateApproval(wrong_tenant), C.NOT_FOUND)
    bad = _approval_request(tenant, agent, permission)
    bad.action = "Buy Now"
    await fails(internal.CreateApproval(bad), C.INVALID_ARGUMENT, "action")
    await fails(
        registry.internal(tenant.admin_secret).CreateApproval(
            _approval_request(tenant, agent, permission)
        ),
        C.UNAUTHENTICATED,
    )


async def test_a_key_bound_to_one_agent_reads_only_that_agents_approvals(
    registry: Registry,
) -> None:
    """An agent holding a key bound to it guesses or learns another agent's approval id: the
    registry answers as if there were none."""
    tenant, agent, permission = await _setup(registry, requires_approval=True)
    internal = registry.as_verifier()
    own = (await internal.CreateApproval(_approval_request(tenant, agent, permission))).approval
    other_agent = await new_agent(tenant, "other")
    other_permission = (
        await tenant.admin.GrantPermission(
            pb.GrantPermissionRequest(
                agent_id=other_agent.agent_id,
                allowed_actions=["purchase"],
                resources=["shop.example.com"],
                requires_approval=True,
            )
        )
    ).permission
    theirs = (
        await internal.CreateApproval(
            _approval_request(tenant, other_agent, other_permission, "req-2")
        )
    ).approval
    bound_key = await tenant.admin.CreateApiKey(
        pb.CreateApiKeyRequest(name="bound", role=res.ROLE_VERIFY, agent_id=agent.agent_id)
    )
    bound = registry.public(bound_key.secret)

    message = await fails(
        bound.GetApproval(pb.GetApprovalRequest(approval_id=theirs.approval_id)), C.NOT_FOUND
    )
    assert message == f"approval {theirs.approval_id} not found"
    read = await bound.GetApproval(pb.GetApprovalRequest(approval_id=own.approval_id))
    assert read.approval.agent_id == agent.agent_id
    # A verify key bound to no agent still reads every agent's approvals in its tenant.
    read = await tenant.verify.GetApproval(pb.GetApprovalRequest(approval_id=theirs.approval_id))
    assert read.approval.agent_id == other_agent.agent_id


async def test_budget_200_concurrent_reservations_exactly_8_succeed(registry: Registry) -> None:
    """200 concurrent reservations of 100 against a budget of 800: exactly 8 succeed."""
    tenant, _, permission = await _setup(registry, budget=usd(800))
    internal = registry.as_verifier()
    results = await asyncio.gather(
        *(
            internal.ReserveBudget(
                ipb.ReserveBudgetRequest(
                    tenant_id=tenant.tenant_id,
                    permission_id=permission.permission_id,
                    amount=usd(100),
                    request_id=f"req-{i}",
                    agent_id=permission.agent_id,
                    **_ASKED,
                )
            )
            for i in range(200)
        )
    )
    assert sum(r.reserved for r in results) == 8
    got = await tenant.admin.GetPermission(
        pb.GetPermissionRequest(permission_id=permission.permission_id)
    )
    assert got.permission.budget_spent_minor == 800


async def test_budget_reservation_is_idempotent_and_release_gives_back_once(
    registry: Registry,
) -> None:
    """Reserving twice with one request id reserves once; releasing returns it exactly once."""
    tenant, _, permission = await _setup(registry, budget=usd(1000))
    internal = registry.as_verifier()

    def reserve(request_id: str, amount: int = 300) -> ipb.ReserveBudgetRequest:
        return _reserve(tenant, permission, request_id, amount)

    first = await internal.ReserveBudget(reserve("a"))
    second = await internal.ReserveBudget(reserve("a"))
    assert first.reserved and second.reserved and first.remaining.amount_minor == 700
    assert second.remaining.amount_minor == 700
    too_much = await internal.ReserveBudget(reserve("b", 701))
    assert not too_much.reserved and too_much.remaining.amount_minor == 700
    assert first.claim and second.claim and first.claim != second.claim
    assert not too_much.claim

    def release(claim: str) -> ipb.ReleaseBudgetRequest:
        return _release(tenant, permission, "a", claim)

    # Both calls answered `reserved` for "a"; each gives its own claim back once, the last the
    # amount.
    assert not (await internal.ReleaseBudget(release(first.claim))).released
    assert not (await internal.ReleaseBudget(release(first.claim))).released
    assert (await internal.ReleaseBudget(release(second.claim))).released
    assert not (await internal.ReleaseBudget(release(second.claim))).released
    await fails(internal.ReleaseBudget(release("")), C.INVALID_ARGUMENT, "claim")
    await fails(internal.ReleaseBudget(release("c" * 65)), C.INVALID_ARGUMENT, "claim")
    assert (await internal.ReserveBudget(reserve("c", 1000))).reserved
    await fails(
        internal.ReserveBudget(
            ipb.ReserveBudgetRequest(
                tenant_id=tenant.tenant_id,
                permission_id=permission.permission_id,
                amount=common.Money(amount_minor=5, currency="EUR"),
                request_id="d",
                agent_id=permission.agent_id,
                **_ASKED,
            )
        ),
        C.FAILED_PRECONDITION,
    )
    for bad, field in (
        (reserve("e", -1), "amount.amount_minor"),
        (
            ipb.ReserveBudgetRequest(
                tenant_id=tenant.tenant_id, permission_id=permission.permission_id, request_id="x"
            ),
            "amount",
        ),
        (
            ipb.ReserveBudgetRequest(
                tenant_id="t", permission_id=permission.permission_id, amount=usd(1), request_id="x"
            ),
            "tenant_id",
        ),
        (reserve(""), "request_id"),
    ):
        await fails(internal.ReserveBudget(bad), C.INVALID_ARGUMENT, field)
    other = await registry.tenant("Other")
    foreign = reserve("f")
    foreign.tenant_id = other.tenant_id
    assert (
        await fails(internal.ReserveBudget(foreign), C.NOT_FOUND)
        == f"permission {permission.permission_id} not found"
    )


async def test_a_retry_that_cannot_stand_never_refunds_what_an_allowed_call_spent(
    registry: Registry,
) -> None:
    """The agent spends the whole budget with request id r-1 (allowed), then replays r-1, many
    times at once, while audits fail: each replay's claim is given back, the spend is not."""
    tenant, _, permission = await _setup(registry, budget=usd(10000))
    internal = registry.as_verifier()

    def reserve(request_id: str) -> ipb.ReserveBudgetRequest:
        return _reserve(tenant, permission, request_id, 10000)

    def release(claim: str) -> ipb.ReleaseBudgetRequest:
        return _release(tenant, permission, "r-1", claim)

    assert (await internal.ReserveBudget(reserve("r-1"))).reserved  # allowed and audited

    async def replay_that_fails_its_audit() -> bool:
        replay = await internal.ReserveBudget(reserve("r-1"))
        assert replay.reserved
        return bool((await internal.ReleaseBudget(release(replay.claim))).released)

    refunds = await asyncio.gather(*(replay_that_fails_its_audit() for _ in range(20)))
    assert not any(refunds)
    fresh = await internal.ReserveBudget(reserve("r-2"))
    assert not fresh.reserved and fresh.remaining.amount_minor == 0


async def test_the_verifier_credential_alone_cannot_refund_an_allowed_spend(
    registry: Registry,
) -> None:
    """Whoever holds the verifier's service credential (not the verifier process that made the
    reservation) tries to give back an allowed spend: with no claim, a made-up one, the claim of
    another request, or claims of its own from replays of the request id, released over and over.
    The spend stays spent."""
    tenant, _, permission = await _setup(registry, budget=usd(10000))
    internal = registry.as_verifier()

    def reserve(request_id: str, amount: int) -> ipb.ReserveBudgetRequest:
        return _reserve(tenant, permission, request_id, amount)

    def release(request_id: str, claim: str) -> ipb.ReleaseBudgetRequest:
        return _release(tenant, permission, request_id, claim)

    spent = await internal.ReserveBudget(reserve("r-spent", 9000))  # allowed and audited
    assert spent.reserved and spent.remaining.amount_minor == 1000
    other = await internal.ReserveBudget(reserve("r-other", 1000))
    assert other.reserved and other.remaining.amount_minor == 0
    await fails(internal.ReleaseBudget(release("r-spent", "")), C.INVALID_ARGUMENT, "claim")
    attempts = [release("r-spent", "x" * 32), release("r-spent", other.claim)]
    for _ in range(5):
        replay = await internal.ReserveBudget(reserve("r-spent", 9000))
        assert replay.reserved and replay.claim != spent.claim
        attempts += [release("r-spent", replay.claim)] * 3
    refunds = [(await internal.ReleaseBudget(attempt)).released for attempt in attempts]
    assert not any(refunds)
    fresh = await internal.ReserveBudget(reserve("r-fresh", 1))
    assert not fresh.reserved and fresh.remaining.amount_minor == 0
    # The verifier that holds the claims gives them back: the amounts return, each once.
    assert (await internal.ReleaseBudget(release("r-other", other.claim))).released
    assert (await internal.ReleaseBudget(release("r-spent", spent.claim))).released
    assert (await internal.ReserveBudget(reserve("r-last", 10000))).reserved


async def test_replays_past_the_claim_cap_get_the_outcome_without_a_claim(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An agent replaying one request id cannot grow its reservation without bound: past the
    cap a replay is still reserved (the original outcome) but holds no claim, so it has nothing
    to give back; and since its caller may have been allowed, the claims handed out no longer
    return the amount, even the last."""
    monkeypatch.setattr(store_budgets, "MAX_CLAIMS_HELD", 3)
    tenant, _, permission = await _setup(registry, budget=usd(1000))
    internal = registry.as_verifier()
    reserve = _reserve(tenant, permission, "r-many", 1000)
    replies = [await internal.ReserveBudget(reserve) for _ in range(5)]
    assert all(r.reserved for r in replies)
    claims = [r.claim for r in replies]
    assert all(claims[:3]) and claims[3:] == ["", ""]
    digests = await registry.pool.fetchval(
        "SELECT cardinality(claim_digests) FROM budget_reservations WHERE request_id = 'r-many'"
    )
    assert digests == 3

    releases = [_release(tenant, permission, "r-many", claim) for claim in claims[:3]]
    released = [(await internal.ReleaseBudget(r)).released for r in releases]
    assert released == [False, False, False]
    spent = await registry.pool.fetchval(
        "SELECT budget_spent_minor FROM permissions WHERE permission_id = $1",
        permission.permission_id,
    )
    assert spent == 1000


async def test_a_request_id_names_one_request_in_every_stateful_step(registry: Registry) -> None:
    """Reusing a request id for other content is ALREADY_EXISTS and spends nothing."""
    tenant, agent, permission = await _setup(registry, budget=usd(1000))
    internal = registry.as_verifier()
    asked = ipb.ReserveBudgetRequest(
        tenant_id=tenant.tenant_id,
        permission_id=permission.permission_id,
        amount=usd(1),
        request_id="req-r",
        agent_id=agent.agent_id,
        **_ASKED,
    )
    assert (await internal.ReserveBudget(asked)).reserved
    assert (await internal.ReserveBudget(asked)).remaining.amount_minor == 999
    for field, value in (
        ("amount", usd(999)),
        ("resource", "other.example.com"),
        ("action", "issue_refund"),
    ):
        replayed = ipb.ReserveBudgetRequest()
        replayed.CopyFrom(asked)
        if field == "amount":
            replayed.amount.CopyFrom(value)  # type: ignore[arg-type]
        else:
            setattr(replayed, field, value)
        await fails(internal.ReserveBudget(replayed), C.ALREADY_EXISTS, "request_id")
    spent = await tenant.admin.GetPermission(
        pb.GetPermissionRequest(permission_id=permission.permission_id)
    )
    assert spent.permission.budget_spent_minor == 1

    first = _approval_request(tenant, agent, permission, "req-a")
    await internal.CreateApproval(first)
    other_amount = _approval_request(tenant, agent, permission, "req-a")
    other_amount.amount.amount_minor = 999_999
    await fails(internal.CreateApproval(other_amount), C.ALREADY_EXISTS, "request_id")


async def test_creating_an_approval_takes_no_policy_revision(registry: Registry) -> None:
    """An approval is not policy: creating one leaves the global revision where it was."""
    tenant, agent, permission = await _setup(registry, requires_approval=True)
    before = await registry.pool.fetchval("SELECT revision FROM policy_revision")
    created = await registry.as_verifier().CreateApproval(
        _approval_request(tenant, agent, permission, "req-no-revision")
    )
    assert created.approval.state == res.APPROVAL_STATE_PENDING
    assert await registry.pool.fetchval("SELECT revision FROM policy_revision") == before
    stamped = await registry.pool.fetchval(
        "SELECT revision FROM outbox WHERE event_type = 'approval.requested' AND tenant_id = $1",
        tenant.tenant_id,
    )
    assert stamped == before
