"""The agent picks request ids and replays requests: an id names one request, an approval one use.

Each test is an attack from issue 12 against the real registry, verifier, PostgreSQL and Kafka,
driven only through the verify key an agent holds (and the admin key a human holds).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from envoy.service.auth.v3 import attribute_context_pb2, external_auth_pb2, external_auth_pb2_grpc

from behalf.common.ids import new_id
from behalf.v1 import common_pb2, registry_pb2, resources_pb2
from tests.harness.decisions import new_agent, reason_code, spent, usd, verify_as
from tests.harness.stack import Stack, Tenant, coachella_grant, start_stack, stop_stack

pytestmark = pytest.mark.integration
USD = "USD"


@pytest.fixture(scope="module")
async def stack(database_url: str, kafka_bootstrap: str, tmp_path_factory) -> AsyncIterator[Stack]:
    stack = await start_stack(database_url, kafka_bootstrap, tmp_path_factory.mktemp("ids"))
    yield stack
    await stop_stack(stack)


@pytest.fixture(scope="module")
def tenant(stack: Stack) -> Tenant:
    return stack.create_tenant("replayers")


def _grant(stack: Stack, tenant: Tenant, request: registry_pb2.GrantPermissionRequest) -> int:
    """Grant and return the revision it committed at."""
    reply = stack.registry_stub().GrantPermission(request, metadata=tenant.admin, timeout=10)
    return int(reply.revision)


def _approval_of(stack: Stack, tenant: Tenant, agent_id: str) -> str:
    """The id of the agent's one pending approval."""
    listed = stack.registry_stub().ListApprovals(
        registry_pb2.ListApprovalsRequest(
            agent_id=agent_id, state=resources_pb2.APPROVAL_STATE_PENDING
        ),
        metadata=tenant.admin,
        timeout=10,
    )
    (approval,) = listed.approvals
    return str(approval.approval_id)


def _rid() -> str:
    return f"req-{uuid.uuid4().hex}"


def test_a_replayed_approval_cannot_buy_something_else(stack: Stack, tenant: Tenant) -> None:
    """An approval consumed by request R allows R once; R replayed for another resource and a
    far larger amount is REQUEST_ID_REUSED, and a fresh id carrying the approval is
    APPROVAL_INVALID."""
    agent_id = new_agent(stack, tenant)
    revision = _grant(
        stack,
        tenant,
        coachella_grant(
            agent_id,
            allowed_actions=["issue_refund"],
            resources=["x.example", "y.example"],
            max_amount=usd(1_000_000),
            requires_approval=True,
        ),
    )
    asked = {
        "agent_id": agent_id,
        "action": "issue_refund",
        "resource": "x.example",
        "amount": usd(100),
        "min_revision": revision,
    }
    pending = verify_as(stack, tenant.verify_key, request_id=_rid(), **asked)
    assert pending.outcome == common_pb2.OUTCOME_REQUIRE_APPROVAL
    stack.registry_stub().ResolveApproval(
        registry_pb2.ResolveApprovalRequest(
            approval_id=pending.approval_id, approve=True, resolved_by="ops@example.com"
        ),
        metadata=tenant.admin,
        timeout=10,
    )
    request_id = _rid()
    used = verify_as(
        stack, tenant.verify_key, request_id=request_id, approval_id=pending.approval_id, **asked
    )
    assert (used.outcome, reason_code(used)) == (common_pb2.OUTCOME_ALLOW, "APPROVAL_CONSUMED")

    retried = verify_as(
        stack, tenant.verify_key, request_id=request_id, approval_id=pending.approval_id, **asked
    )
    assert (retried.outcome, reason_code(retried)) == (
        common_pb2.OUTCOME_ALLOW,
        "APPROVAL_CONSUMED",
    )

    bigger = {**asked, "resource": "y.example", "amount": usd(999_999)}
    replayed = verify_as(
        stack, tenant.verify_key, request_id=request_id, approval_id=pending.approval_id, **bigger
    )
    assert (replayed.outcome, reason_code(replayed)) == (
        common_pb2.OUTCOME_DENY,
        "REQUEST_ID_REUSED",
    )
    fresh = verify_as(
        stack, tenant.verify_key, request_id=_rid(), approval_id=pending.approval_id, **bigger
    )
    assert (fresh.outcome, reason_code(fresh)) == (common_pb2.OUTCOME_DENY, "APPROVAL_INVALID")


def test_a_replayed_budget_reservation_cannot_spend_more(stack: Stack, tenant: Tenant) -> None:
    """0.01 USD reserved under R; R replayed for ten billion dollars is REQUEST_ID_REUSED and the
    budget does not move; R replayed as it was is the original ALLOW without spending again."""
    agent_id = new_agent(stack, tenant)
    granted = stack.registry_stub().GrantPermission(
        coachella_grant(agent_id, max_amount=None, budget=usd(100_000)),
        metadata=tenant.admin,
        timeout=10,
    )
    permission_id = granted.permission.permission_id
    asked = {
        "agent_id": agent_id,
        "action": "purchase",
        "resource": "coachella.com",
        "min_revision": granted.revision,
    }
    request_id = _rid()
    first = verify_as(stack, tenant.verify_key, request_id=request_id, amount=usd(1), **asked)
    assert first.outcome == common_pb2.OUTCOME_ALLOW
    huge = verify_as(
        stack, tenant.verify_key, request_id=request_id, amount=usd(1_000_000_000_000), **asked
    )
    assert (huge.outcome, reason_code(huge)) == (common_pb2.OUTCOME_DENY, "REQUEST_ID_REUSED")
    elsewhere = verify_as(
        stack,
        tenant.verify_key,
        request_id=request_id,
        amount=usd(1),
        **{**asked, "resource": "www.coachella.com"},
    )
    assert elsewhere.outcome == common_pb2.OUTCOME_DENY
    same = verify_as(stack, tenant.verify_key, request_id=request_id, amount=usd(1), **asked)
    assert (same.outcome, reason_code(same)) == (common_pb2.OUTCOME_ALLOW, "ALLOWED")
    assert spent(stack, tenant, permission_id) == 1


def test_a_request_id_cannot_be_reused_after_a_denial(stack: Stack, tenant: Tenant) -> None:
    """A request id first used for an over-budget spend stays bound to it: reusing it for a
    spend that would fit is REQUEST_ID_REUSED, not a second chance under the same id."""
    agent_id = new_agent(stack, tenant)
    granted = stack.registry_stub().GrantPermission(
        coachella_grant(agent_id, max_amount=None, budget=usd(500)),
        metadata=tenant.admin,
        timeout=10,
    )
    asked = {
        "agent_id": agent_id,
        "action": "purchase",
        "resource": "coachella.com",
        "min_revision": granted.revision,
    }
    request_id = _rid()
    over = verify_as(stack, tenant.verify_key, request_id=request_id, amount=usd(501), **asked)
    assert reason_code(over) == "BUDGET_EXHAUSTED"
    reused = verify_as(stack, tenant.verify_key, request_id=request_id, amount=usd(5), **asked)
    assert (reused.outcome, reason_code(reused)) == (common_pb2.OUTCOME_DENY, "REQUEST_ID_REUSED")


def test_a_request_id_denied_for_an_approval_that_does_not_exist_stays_bound(
    stack: Stack, tenant: Tenant
) -> None:
    """A request id first sent with a well-formed approval id that names no approval
    (APPROVAL_INVALID) stays bound to that request: reusing it for another amount is
    REQUEST_ID_REUSED, like any denial."""
    agent_id = new_agent(stack, tenant)
    revision = _grant(stack, tenant, coachella_grant(agent_id, requires_approval=True))
    asked = {
        "agent_id": agent_id,
        "action": "purchase",
        "resource": "coachella.com",
        "min_revision": revision,
    }
    request_id = _rid()
    first = verify_as(
        stack,
        tenant.verify_key,
        request_id=request_id,
        approval_id=new_id("apr"),
        amount=usd(100),
        **asked,
    )
    assert (first.outcome, reason_code(first)) == (common_pb2.OUTCOME_DENY, "APPROVAL_INVALID")
    reused = verify_as(stack, tenant.verify_key, request_id=request_id, amount=usd(79_000), **asked)
    assert (reused.outcome, reason_code(reused)) == (common_pb2.OUTCOME_DENY, "REQUEST_ID_REUSED")


async def test_a_replayed_envoy_x_request_id_is_a_new_request(stack: Stack, tenant: Tenant) -> None:
    """Every Check Envoy lets through reaches the upstream, so a replayed `x-request-id` must not
    replay an allow: the agent sends one id again and again, each Check is charged on its own
    until the budget is spent, and one human approval lets one Check through. The caller's id
    follows each audited decision as its context."""
    agent_id = new_agent(stack, tenant)
    granted = stack.registry_stub().GrantPermission(
        coachella_grant(agent_id, max_amount=None, budget=usd(10_000)),
        metadata=tenant.admin,
        timeout=10,
    )
    gated = _grant(
        stack,
        tenant,
        coachella_grant(
            agent_id,
            allowed_actions=["issue_refund"],
            resources=["refunds.example"],
            max_amount=usd(1_000_000),
            requires_approval=True,
        ),
    )
    callers_id = _rid()

    def check(
        action: str, host: str, amount: int, approval_id: str = ""
    ) -> external_auth_pb2.CheckResponse:
        headers = {
            "x-behalf-agent-id": agent_id,
            "x-behalf-action": action,
            "x-behalf-amount-minor": str(amount),
            "x-behalf-currency": USD,
            "x-behalf-min-revision": str(max(granted.revision, gated)),
            "x-request-id": callers_id,
        }
        if approval_id:
            headers["x-behalf-approval-id"] = approval_id
        http = attribute_context_pb2.AttributeContext.HttpRequest(host=host, headers=headers)
        request = external_auth_pb2.CheckRequest(
            attributes=attribute_context_pb2.AttributeContext(
                request=attribute_context_pb2.AttributeContext.Request(http=http)
            )
        )
        channel = grpc.insecure_channel(stack.verifiers[0].target)
        stub = external_auth_pb2_grpc.AuthorizationStub(channel)
        return stub.Check(request, metadata=tenant.verify, timeout=10)

    spends = [check("purchase", "coachella.com", 4_000) for _ in range(3)]
    assert [r.HasField("ok_response") for r in spends] == [True, True, False]
    assert spends[2].denied_response.status.code == 403
    assert "BUDGET_EXHAUSTED" in spends[2].denied_response.body
    assert spent(stack, tenant, granted.permission.permission_id) == 8_000

    pending = json.loads(check("issue_refund", "refunds.example", 100).denied_response.body)
    assert pending["reason_code"] == "APPROVAL_REQUIRED"
    approval_id = _approval_of(stack, tenant, agent_id)
    stack.registry_stub().ResolveApproval(
        registry_pb2.ResolveApprovalRequest(
            approval_id=approval_id, approve=True, resolved_by="ops@example.com"
        ),
        metadata=tenant.admin,
        timeout=10,
    )
    refunds = [check("issue_refund", "refunds.example", 100, approval_id) for _ in range(2)]
    assert refunds[0].HasField("ok_response")
    assert "APPROVAL_INVALID" in refunds[1].denied_response.body

    registry = stack.registry_stub()
    deadline = time.monotonic() + 30
    audited: list[common_pb2.Decision] = []
    while len(audited) < 6 and time.monotonic() < deadline:
        listed = registry.ListDecisions(
            registry_pb2.ListDecisionsRequest(agent_id=agent_id), metadata=tenant.admin, timeout=5
        )
        audited = [
            d.decision for d in listed.decisions if d.context.get("x-request-id") == callers_id
        ]
        await asyncio.sleep(0.2)
    assert len(audited) == 6
    assert len({d.request_id for d in audited}) == 6
    assert callers_id not in {d.request_id for d in audited}


def test_a_new_key_works_at_the_revision_it_was_created(stack: Stack, tenant: Tenant) -> None:
    """CreateApiKey returns its revision; a Verify carrying it as min_revision authenticates
    with the brand-new key, and one carrying RevokeApiKey's revision no longer does."""
    agent_id = new_agent(stack, tenant)
    registry = stack.registry_stub()
    created = registry.CreateApiKey(
        registry_pb2.CreateApiKeyRequest(name="fresh", role=resources_pb2.ROLE_VERIFY),
        metadata=tenant.admin,
        timeout=10,
    )
    assert created.revision > 0
    decision = verify_as(
        stack,
        created.secret,
        agent_id=agent_id,
        action="purchase",
        resource="coachella.com",
        min_revision=created.revision,
    )
    assert reason_code(decision) == "NO_PERMISSION"
    revoked = registry.RevokeApiKey(
        registry_pb2.RevokeApiKeyRequest(key_id=created.api_key.key_id),
        metadata=tenant.admin,
        timeout=10,
    )
    assert revoked.revision > created.revision
    with pytest.raises(grpc.RpcError) as caught:
        verify_as(
            stack,
            created.secret,
            agent_id=agent_id,
            action="purchase",
            resource="coachella.com",
            min_revision=revoked.revision,
        )
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_approvals_flood_takes_no_revision_from_other_tenants(stack: Stack, tenant: Tenant) -> None:
    """A hundred fresh request ids asking for approval leave the policy revision where it was:
    one tenant's approvals neither queue behind nor fan out to other tenants' policy."""
    agent_id = new_agent(stack, tenant)
    revision = _grant(stack, tenant, coachella_grant(agent_id, requires_approval=True))
    before = stack.registry_stub().GetTenant(
        registry_pb2.GetTenantRequest(), metadata=tenant.admin, timeout=10
    )
    for _ in range(100):
        decision = verify_as(
            stack,
            tenant.verify_key,
            request_id=_rid(),
            agent_id=agent_id,
            action="purchase",
            resource="coachella.com",
            amount=usd(100),
            min_revision=revision,
        )
        assert decision.outcome == common_pb2.OUTCOME_REQUIRE_APPROVAL
    after = stack.registry_stub().GetTenant(
        registry_pb2.GetTenantRequest(), metadata=tenant.admin, timeout=10
    )
    assert after.revision == before.revision


def test_another_tenants_request_id_is_not_taken(stack: Stack, tenant: Tenant) -> None:
    """Request ids are per tenant: an agent that copies another tenant's request id for its own
    spend neither blocks that tenant nor learns anything from the id; both are allowed."""
    other = stack.create_tenant("bystanders")
    request_id = _rid()
    for owner in (tenant, other):
        agent_id = new_agent(stack, owner)
        granted = stack.registry_stub().GrantPermission(
            coachella_grant(agent_id, max_amount=None, budget=usd(1_000)),
            metadata=owner.admin,
            timeout=10,
        )
        decision = verify_as(
            stack,
            owner.verify_key,
            request_id=request_id,
            agent_id=agent_id,
            action="purchase",
            resource="coachella.com",
            amount=usd(10 if owner is tenant else 20),
            min_revision=granted.revision,
        )
        assert (decision.outcome, reason_code(decision)) == (common_pb2.OUTCOME_ALLOW, "ALLOWED")
