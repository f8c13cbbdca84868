"""What an agent's verify key reaches at the registry, against the real registry, verifier,
PostgreSQL and Kafka.

The agent is the adversary: it holds a verify key (bound to it or not, test-mode-only or not),
calls every registry RPC with it, picks approval ids and request ids. It may read its own
approvals and nothing else, change nothing, and touch nothing of another agent or tenant.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from behalf.v1 import common_pb2, registry_pb2, resources_pb2, verifier_pb2
from tests.harness.decisions import reason_code, usd
from tests.harness.stack import Stack, Tenant, bearer, coachella_grant, start_stack, stop_stack

pytestmark = pytest.mark.integration
C = grpc.StatusCode
_SERVICE = registry_pb2.DESCRIPTOR.services_by_name["RegistryService"]


@pytest.fixture(scope="module")
async def stack(
    database_url: str, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    stack = await start_stack(database_url, kafka_bootstrap, tmp_path_factory.mktemp("reach"))
    yield stack
    await stop_stack(stack)


@pytest.fixture(scope="module")
def tenant(stack: Stack) -> Tenant:
    return stack.create_tenant("reach")


def _agent(stack: Stack, tenant: Tenant, name: str = "agent") -> str:
    reply = stack.registry_stub().CreateAgent(
        registry_pb2.CreateAgentRequest(name=name, kind=resources_pb2.AGENT_KIND_NATIVE),
        metadata=tenant.admin,
        timeout=10,
    )
    return str(reply.agent.agent_id)


def _grant(stack: Stack, tenant: Tenant, agent_id: str, **fields: object) -> int:
    reply = stack.registry_stub().GrantPermission(
        coachella_grant(agent_id, **fields), metadata=tenant.admin, timeout=10
    )
    return int(reply.revision)


def _key(
    stack: Stack, tenant: Tenant, *, agent_id: str = "", test_mode_only: bool = False
) -> registry_pb2.CreateApiKeyResponse:
    return stack.create_api_key(
        tenant, agent_id=agent_id, test_mode_only=test_mode_only, name="agent key"
    )


def _verify(stack: Stack, key: str, **fields: Any) -> common_pb2.Decision:
    fields.setdefault("action", "purchase")
    fields.setdefault("resource", "coachella.com")
    reply = stack.verifier_stub().Verify(
        verifier_pb2.VerifyRequest(**fields), metadata=bearer(key), timeout=10
    )
    decision: common_pb2.Decision = reply.decision
    return decision


def _pending_approval(stack: Stack, key: str, agent_id: str, revision: int) -> str:
    decision = _verify(
        stack,
        key,
        agent_id=agent_id,
        amount=usd(100),
        min_revision=revision,
        request_id=f"req-{uuid.uuid4().hex}",
    )
    assert decision.outcome == common_pb2.OUTCOME_REQUIRE_APPROVAL, decision
    assert decision.approval_id
    return str(decision.approval_id)


def _status(call: Any, request: Any, key: str) -> C:
    try:
        call(request, metadata=bearer(key), timeout=10)
    except grpc.RpcError as exc:
        return exc.code()
    return C.OK


def _revision(stack: Stack, tenant: Tenant) -> int:
    reply = stack.registry_stub().GetTenant(
        registry_pb2.GetTenantRequest(), metadata=tenant.admin, timeout=10
    )
    return int(reply.revision)


def test_every_registry_rpc_but_get_approval_refuses_every_kind_of_verify_key(
    stack: Stack, tenant: Tenant
) -> None:
    """The agent calls each RegistryService method with its verify key (unbound, bound to it,
    test-mode-only, both): every one but GetApproval is PERMISSION_DENIED (CreateTenant, an
    operator RPC, UNAUTHENTICATED), before any field is looked at. Enumerated from the proto,
    so a new RPC is covered the day it is added."""
    agent_id = _agent(stack, tenant, "caller")
    keys = {
        "unbound": tenant.verify_key,
        "bound": _key(stack, tenant, agent_id=agent_id).secret,
        "bound test-mode-only": _key(stack, tenant, agent_id=agent_id, test_mode_only=True).secret,
        "test-mode-only": _key(stack, tenant, test_mode_only=True).secret,
    }
    registry = stack.registry_stub()
    reached = []
    for kind, key in keys.items():
        for method in _SERVICE.methods:
            if method.name == "GetApproval":
                continue
            request = getattr(registry_pb2, method.input_type.name)()
            expected = C.UNAUTHENTICATED if method.name == "CreateTenant" else C.PERMISSION_DENIED
            got = _status(getattr(registry, method.name), request, key)
            if got != expected:
                reached.append((kind, method.name, got))
    assert reached == []


def test_an_agent_cannot_approve_or_widen_its_own_passport(stack: Stack, tenant: Tenant) -> None:
    """Prompt-injected, the agent holding a key bound to it approves its own pending approval,
    grants itself a larger permission, mints itself an unbound key, re-enables itself, disables
    a rival, and registers a webhook to siphon decisions: each is PERMISSION_DENIED, the
    approval stays pending (a Verify carrying it is not allowed) and the policy revision does
    not move."""
    agent_id = _agent(stack, tenant, "ambitious")
    rival = _agent(stack, tenant, "rival")
    revision = _grant(stack, tenant, agent_id, requires_approval=True)
    bound = _key(stack, tenant, agent_id=agent_id)
    approval_id = _pending_approval(stack, bound.secret, agent_id, max(revision, bound.revision))
    before = _revision(stack, tenant)
    registry = stack.registry_stub()
    attempts = [
        (
            registry.ResolveApproval,
            registry_pb2.ResolveApprovalRequest(
                approval_id=approval_id, approve=True, resolved_by="alice@example.com"
            ),
        ),
        (
            registry.GrantPermission,
            coachella_grant(agent_id, max_amount=usd(10**12), requires_approval=False),
        ),
        (
            registry.CreateApiKey,
            registry_pb2.CreateApiKeyRequest(name="wider", role=resources_pb2.ROLE_VERIFY),
        ),
        (
            registry.RevokeApiKey,
            registry_pb2.RevokeApiKeyRequest(key_id=bound.api_key.key_id),
        ),
        (registry.EnableAgent, registry_pb2.EnableAgentRequest(agent_id=agent_id)),
        (
            registry.UpdateAgent,
            registry_pb2.UpdateAgentRequest(
                agent_id=agent_id, mode=resources_pb2.AGENT_MODE_ENFORCED
            ),
        ),
        (registry.DisableAgent, registry_pb2.DisableAgentRequest(agent_id=rival)),
        (
            registry.CreateWebhookEndpoint,
            registry_pb2.CreateWebhookEndpointRequest(url="https://attacker.example/hook"),
        ),
    ]
    for call, request in attempts:
        assert _status(call, request, bound.secret) == C.PERMISSION_DENIED, type(request)
    read = registry.GetApproval(
        registry_pb2.GetApprovalRequest(approval_id=approval_id),
        metadata=bearer(bound.secret),
        timeout=10,
    )
    assert read.approval.state == resources_pb2.APPROVAL_STATE_PENDING
    assert _revision(stack, tenant) == before
    decision = _verify(
        stack,
        bound.secret,
        agent_id=agent_id,
        amount=usd(100),
        approval_id=approval_id,
        request_id=f"req-{uuid.uuid4().hex}",
    )
    assert decision.outcome != common_pb2.OUTCOME_ALLOW, decision


def test_a_bound_key_reads_its_own_agents_approvals_and_nothing_else(
    stack: Stack, tenant: Tenant
) -> None:
    """The agent learns approval ids of another agent of its tenant and of another tenant, and
    makes one up: over gRPC and over the verifier's HTTP `GET /v1/approvals/{id}` (which asks
    the registry with the caller's key) each reads exactly like an id that does not exist;
    its own approval it reads. A test-mode-only key bound to it reads none: its decisions
    create no approvals, so no real one is its to read."""
    mine, theirs = _agent(stack, tenant, "mine"), _agent(stack, tenant, "theirs")
    revision = max(
        _grant(stack, tenant, mine, requires_approval=True),
        _grant(stack, tenant, theirs, requires_approval=True),
    )
    bound = _key(stack, tenant, agent_id=mine).secret
    created = _key(stack, tenant, agent_id=mine, test_mode_only=True)
    bound_test, revision = created.secret, max(revision, created.revision)
    own = _pending_approval(stack, bound, mine, revision)
    other_agents = _pending_approval(stack, tenant.verify_key, theirs, revision)
    other = stack.create_tenant("elsewhere")
    foreign_agent = _agent(stack, other, "foreign")
    foreign_revision = _grant(stack, other, foreign_agent, requires_approval=True)
    foreign = _pending_approval(stack, other.verify_key, foreign_agent, foreign_revision)
    made_up = "apr_" + "a" * 20

    registry = stack.registry_stub()

    def grpc_read(key: str, approval_id: str) -> tuple[C, str]:
        try:
            reply = registry.GetApproval(
                registry_pb2.GetApprovalRequest(approval_id=approval_id),
                metadata=bearer(key),
                timeout=10,
            )
        except grpc.RpcError as exc:
            return exc.code(), exc.details() or ""
        return C.OK, reply.approval.agent_id

    def http_read(key: str, approval_id: str) -> int:
        request = urllib.request.Request(
            f"{stack.verifiers[0].http_url}/v1/approvals/{approval_id}",
            headers={"Authorization": f"Bearer {key}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                json.loads(response.read())
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)

    assert grpc_read(bound, own) == (C.OK, mine)
    assert http_read(bound, own) == 200
    for key in (bound, bound_test):
        for approval_id in (other_agents, foreign, made_up, *([own] if key == bound_test else [])):
            assert grpc_read(key, approval_id) == (C.NOT_FOUND, f"approval {approval_id} not found")
            assert http_read(key, approval_id) == 404
    # An unbound key of this tenant reads its tenant's approvals, never another tenant's.
    assert grpc_read(tenant.verify_key, other_agents) == (C.OK, theirs)
    assert grpc_read(tenant.verify_key, foreign) == (C.NOT_FOUND, f"approval {foreign} not found")


def test_a_bound_key_cannot_squat_another_agents_request_id(stack: Stack, tenant: Tenant) -> None:
    """The platform names requests after its own objects (`order-<id>`), which the agent
    can see or guess. The agent, with a key bound to it alone, sends a Verify about itself
    under the request id the platform will use for another agent's purchase. While the
    registry claimed request ids per tenant, the other agent's legitimate, in-budget purchase
    was then DENY REQUEST_ID_REUSED: a key bound to one agent denied another agent's requests.
    Request ids are claimed per agent now, and the other agent's purchase is allowed."""
    squatter, victim = _agent(stack, tenant, "squatter"), _agent(stack, tenant, "victim")
    revision = max(
        _grant(stack, tenant, squatter, requires_approval=True),
        _grant(stack, tenant, victim, max_amount=None, budget=usd(10_000)),
    )
    created = _key(stack, tenant, agent_id=squatter)
    bound, revision = created.secret, max(revision, created.revision)
    order_request_id = f"order-{uuid.uuid4().hex[:8]}"
    squat = _verify(
        stack,
        bound,
        agent_id=squatter,
        amount=usd(100),
        request_id=order_request_id,
        min_revision=revision,
    )
    assert squat.outcome == common_pb2.OUTCOME_REQUIRE_APPROVAL, squat
    honest = _verify(
        stack,
        tenant.verify_key,
        agent_id=victim,
        amount=usd(100),
        request_id=order_request_id,
        min_revision=revision,
    )
    assert (honest.outcome, reason_code(honest)) == (common_pb2.OUTCOME_ALLOW, "ALLOWED"), (
        reason_code(honest)
    )


def test_a_bound_key_learns_nothing_from_another_agents_request_id(
    stack: Stack, tenant: Tenant
) -> None:
    """An info leak: the agent, with a key bound to it alone, probes request ids
    (`order-<n>`) in Verifies about itself: an id another agent's spend already used answers
    DENY REQUEST_ID_REUSED, a fresh one REQUIRE_APPROVAL, so the agent learned which orders
    another agent had acted on. Now another agent's request ids mean nothing to it, and the
    probe answers as a fresh id does."""
    prober, spender = _agent(stack, tenant, "prober"), _agent(stack, tenant, "spender")
    revision = max(
        _grant(stack, tenant, prober, requires_approval=True),
        _grant(stack, tenant, spender, max_amount=None, budget=usd(10_000)),
    )
    used = f"order-{uuid.uuid4().hex[:8]}"
    spent = _verify(
        stack,
        tenant.verify_key,
        agent_id=spender,
        amount=usd(100),
        request_id=used,
        min_revision=revision,
    )
    assert spent.outcome == common_pb2.OUTCOME_ALLOW, reason_code(spent)
    created = _key(stack, tenant, agent_id=prober)
    bound, revision = created.secret, max(revision, created.revision)
    probe = {"agent_id": prober, "amount": usd(100), "min_revision": revision}
    fresh = _verify(stack, bound, request_id=f"order-{uuid.uuid4().hex[:8]}", **probe)
    assert fresh.outcome == common_pb2.OUTCOME_REQUIRE_APPROVAL, reason_code(fresh)
    probed = _verify(stack, bound, request_id=used, **probe)
    assert (probed.outcome, reason_code(probed)) == (fresh.outcome, reason_code(fresh))
