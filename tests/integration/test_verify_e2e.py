"""Verify end to end: real registry, verifier, PostgreSQL and Kafka, audited decisions."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from aiokafka import AIOKafkaConsumer
from envoy.service.auth.v3 import attribute_context_pb2, external_auth_pb2, external_auth_pb2_grpc
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from behalf.v1 import common_pb2, events_pb2, registry_pb2, resources_pb2, verifier_pb2
from tests.harness.decisions import reason_code
from tests.harness.stack import Stack, Tenant, start_stack, stop_stack

pytestmark = pytest.mark.integration

USD = "USD"
_LATEST_REVISION = [0]


def usd(minor: int) -> common_pb2.Money:
    return common_pb2.Money(amount_minor=minor, currency=USD)


@pytest.fixture(scope="module")
async def stack(database_url: str, kafka_bootstrap: str, tmp_path_factory) -> AsyncIterator[Stack]:
    stack = await start_stack(database_url, kafka_bootstrap, tmp_path_factory.mktemp("e2e"))
    yield stack
    await stop_stack(stack)


@pytest.fixture(scope="module")
def tenant(stack: Stack) -> Tenant:
    return stack.create_tenant()


def _agent(stack: Stack, tenant: Tenant, name: str = "ticket-buyer") -> str:
    reply = stack.registry_stub().CreateAgent(
        registry_pb2.CreateAgentRequest(name=name, kind=resources_pb2.AGENT_KIND_NATIVE),
        metadata=tenant.admin,
        timeout=10,
    )
    return reply.agent.agent_id


def _grant(
    stack: Stack, tenant: Tenant, agent_id: str, **fields
) -> registry_pb2.GrantPermissionResponse:
    request = registry_pb2.GrantPermissionRequest(
        agent_id=agent_id,
        allowed_actions=["purchase"],
        resources=["coachella.com"],
        max_amount=usd(80000),
        expires_in=duration_pb2.Duration(seconds=2 * 3600),
    )
    for key, value in fields.items():
        if isinstance(value, list):
            getattr(request, key)[:] = value
        elif hasattr(value, "CopyFrom"):
            getattr(request, key).CopyFrom(value)
        else:
            setattr(request, key, value)
    reply = stack.registry_stub().GrantPermission(request, metadata=tenant.admin, timeout=10)
    _LATEST_REVISION[0] = max(_LATEST_REVISION[0], reply.revision)
    return reply


def _verify(stack: Stack, tenant: Tenant, **fields) -> common_pb2.Decision:
    """Verify at least at the latest grant's revision, so the grant is surely applied."""
    fields.setdefault("min_revision", _LATEST_REVISION[0])
    reply = stack.verifier_stub().Verify(
        verifier_pb2.VerifyRequest(**fields), metadata=tenant.verify, timeout=10
    )
    return reply.decision


async def _consume_decisions(
    stack: Stack, want: set[str], wait_seconds: float = 30
) -> dict[str, events_pb2.DecisionEvent]:
    consumer = AIOKafkaConsumer(
        f"{stack.topic_prefix}.decisions",
        bootstrap_servers=stack.env["BEHALF_KAFKA_BOOTSTRAP"],
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed",
        group_id=f"test-{uuid.uuid4().hex}",
    )
    await consumer.start()
    found: dict[str, events_pb2.DecisionEvent] = {}
    try:
        deadline = time.monotonic() + wait_seconds
        while not want <= set(found) and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    event = events_pb2.DecisionEvent.FromString(record.value)
                    found[event.decision.request_id] = event
    finally:
        await consumer.stop()
    return found


async def test_seed_example_is_decided_and_audited(stack: Stack, tenant: Tenant) -> None:
    """799.99 allowed, 800.01 and ticketmaster.com denied, expiry and disable honoured, all
    on the decisions topic and then in the audit table under the same request id."""
    agent_id = _agent(stack, tenant)
    _grant(stack, tenant, agent_id)
    short_agent = _agent(stack, tenant, "short-lived")
    _grant(stack, tenant, short_agent, expires_in=duration_pb2.Duration(seconds=2))

    allowed = _verify(
        stack,
        tenant,
        agent_id=agent_id,
        action="purchase",
        resource="coachella.com",
        amount=usd(79999),
    )
    over = _verify(
        stack,
        tenant,
        agent_id=agent_id,
        action="purchase",
        resource="coachella.com",
        amount=usd(80001),
    )
    elsewhere = _verify(
        stack,
        tenant,
        agent_id=agent_id,
        action="purchase",
        resource="ticketmaster.com",
        amount=usd(100),
    )
    await asyncio.sleep(2.5)
    expired = _verify(
        stack,
        tenant,
        agent_id=short_agent,
        action="purchase",
        resource="coachella.com",
        amount=usd(100),
    )
    disabled_reply = stack.registry_stub().DisableAgent(
        registry_pb2.DisableAgentRequest(agent_id=agent_id), metadata=tenant.admin, timeout=10
    )
    disabled = _verify(
        stack,
        tenant,
        agent_id=agent_id,
        action="purchase",
        resource="coachella.com",
        amount=usd(100),
        min_revision=disabled_reply.revision,
    )

    assert allowed.outcome == common_pb2.OUTCOME_ALLOW, allowed
    assert reason_code(over) == "AMOUNT_EXCEEDS_LIMIT"
    assert reason_code(elsewhere) == "RESOURCE_NOT_ALLOWED"
    assert reason_code(expired) == "PERMISSION_EXPIRED"
    assert reason_code(disabled) == "AGENT_DISABLED"
    assert disabled.policy_revision >= disabled_reply.revision
    decisions = [allowed, over, elsewhere, expired, disabled]
    request_ids = {d.request_id for d in decisions}

    on_topic = await _consume_decisions(stack, request_ids)
    assert request_ids <= set(on_topic)
    for decision in decisions:
        assert on_topic[decision.request_id].decision.reason_code == decision.reason_code

    registry = stack.registry_stub()
    deadline = time.monotonic() + 30
    audited: dict[str, registry_pb2.GetDecisionResponse] = {}
    while len(audited) < len(decisions) and time.monotonic() < deadline:
        for decision in decisions:
            if decision.request_id in audited:
                continue
            try:
                audited[decision.request_id] = registry.GetDecision(
                    registry_pb2.GetDecisionRequest(request_id=decision.request_id),
                    metadata=tenant.admin,
                    timeout=5,
                )
            except grpc.RpcError as exc:
                assert exc.code() == grpc.StatusCode.NOT_FOUND
        await asyncio.sleep(0.2)
    assert set(audited) == request_ids
    for decision in decisions:
        assert audited[decision.request_id].decision.decision.outcome == decision.outcome


def test_approval_flow_allows_once(stack: Stack, tenant: Tenant) -> None:
    """REQUIRE_APPROVAL, approve, the retried verify is allowed once and denied after."""
    agent_id = _agent(stack, tenant, "needs-approval")
    _grant(stack, tenant, agent_id, requires_approval=True)
    ask = {
        "agent_id": agent_id,
        "action": "purchase",
        "resource": "coachella.com",
        "amount": usd(5000),
    }
    first = _verify(stack, tenant, **ask)
    assert first.outcome == common_pb2.OUTCOME_REQUIRE_APPROVAL
    assert first.approval_id
    stack.registry_stub().ResolveApproval(
        registry_pb2.ResolveApprovalRequest(
            approval_id=first.approval_id, approve=True, resolved_by="ops@example.com"
        ),
        metadata=tenant.admin,
        timeout=10,
    )
    retried = _verify(stack, tenant, approval_id=first.approval_id, **ask)
    assert retried.outcome == common_pb2.OUTCOME_ALLOW, retried
    assert reason_code(retried) == "APPROVAL_CONSUMED"
    again = _verify(stack, tenant, approval_id=first.approval_id, **ask)
    assert again.outcome == common_pb2.OUTCOME_DENY
    assert reason_code(again) == "APPROVAL_INVALID"


def test_an_action_on_no_resource_goes_through_budget_and_approval(
    stack: Stack, tenant: Tenant
) -> None:
    """A "*" grant covers an action on no resource (resource ""); its budget and its approval
    steps hold at the registry like any other, with their own reasons."""
    agent_id = _agent(stack, tenant, "tipper")
    _grant(stack, tenant, agent_id, allowed_actions=["tip"], resources=["*"], budget=usd(500))
    tip = {"agent_id": agent_id, "action": "tip", "resource": "", "amount": usd(300)}
    assert reason_code(_verify(stack, tenant, **tip)) == "ALLOWED"
    assert reason_code(_verify(stack, tenant, **tip)) == "BUDGET_EXHAUSTED"

    asker = _agent(stack, tenant, "asker")
    _grant(stack, tenant, asker, allowed_actions=["tip"], resources=["*"], requires_approval=True)
    first = _verify(stack, tenant, **{**tip, "agent_id": asker})
    assert first.outcome == common_pb2.OUTCOME_REQUIRE_APPROVAL and first.approval_id, first
    stack.registry_stub().ResolveApproval(
        registry_pb2.ResolveApprovalRequest(
            approval_id=first.approval_id, approve=True, resolved_by="ops@example.com"
        ),
        metadata=tenant.admin,
        timeout=10,
    )
    approved = _verify(stack, tenant, **{**tip, "agent_id": asker}, approval_id=first.approval_id)
    assert reason_code(approved) == "APPROVAL_CONSUMED"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"agent_id": "", "action": "purchase"}, "agent_id"),
        ({"agent_id": "agt_bad", "action": "purchase"}, "agent_id"),
        ({"action": ""}, "action"),
        ({"action": "purchase", "amount": common_pb2.Money(amount_minor=5)}, "amount.currency"),
        ({"action": "purchase", "amount": usd(-5)}, "amount.amount_minor"),
        ({"action": "purchase", "resource": "bad host"}, "resource"),
        ({"action": "purchase", "context": {str(i): "v" for i in range(40)}}, "context"),
    ],
)
def test_malformed_verify_is_invalid_argument(stack: Stack, tenant: Tenant, fields, field) -> None:
    """The live verifier answers INVALID_ARGUMENT naming the field, in its text and as a
    google.rpc.BadRequest detail, never a decision."""
    request = {"agent_id": "agt_" + "0" * 20, **fields}
    with pytest.raises(grpc.RpcError) as caught:
        _verify(stack, tenant, **request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith(field)
    status = rpc_status.from_call(caught.value)
    bad_request = error_details_pb2.BadRequest()
    assert status is not None and status.details[0].Unpack(bad_request)
    assert [violation.field for violation in bad_request.field_violations] == [field]


def test_bad_key_is_unauthenticated(stack: Stack) -> None:
    """A missing or unknown key gets UNAUTHENTICATED and no decision."""
    stub = stack.verifier_stub()
    request = verifier_pb2.VerifyRequest(agent_id="agt_" + "0" * 20, action="purchase")
    for metadata in ((), (("authorization", "Bearer bhk_nope"),)):
        with pytest.raises(grpc.RpcError) as caught:
            stub.Verify(request, metadata=metadata, timeout=5)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_another_tenants_agent_is_not_found(stack: Stack, tenant: Tenant) -> None:
    """An agent of another tenant is AGENT_NOT_FOUND, exactly like one that does not exist."""
    other = stack.create_tenant("other")
    foreign = _agent(stack, other, "theirs")
    _grant(stack, other, foreign)
    decision = _verify(
        stack, tenant, agent_id=foreign, action="purchase", resource="coachella.com", amount=usd(1)
    )
    missing = _verify(
        stack,
        tenant,
        agent_id="agt_" + "0" * 20,
        action="purchase",
        resource="coachella.com",
        amount=usd(1),
    )
    assert reason_code(decision) == reason_code(missing) == "AGENT_NOT_FOUND"
    assert decision.reason == missing.reason
    assert foreign not in decision.reason


def _check(
    stack: Stack, tenant: Tenant, agent_id: str, amount: str
) -> external_auth_pb2.CheckResponse:
    stub = external_auth_pb2_grpc.AuthorizationStub(
        grpc.insecure_channel(stack.verifiers[0].target)
    )
    http = attribute_context_pb2.AttributeContext.HttpRequest(
        host="coachella.com",
        headers={
            "x-behalf-amount-minor": amount,
            "x-behalf-currency": "USD",
            "x-behalf-min-revision": str(_LATEST_REVISION[0]),
        },
    )
    request = external_auth_pb2.CheckRequest(
        attributes=attribute_context_pb2.AttributeContext(
            request=attribute_context_pb2.AttributeContext.Request(http=http),
            context_extensions={"agent_id": agent_id, "action": "purchase"},
        )
    )
    return stub.Check(request, metadata=tenant.verify, timeout=10)


def test_ext_authz_allows_and_denies(stack: Stack, tenant: Tenant) -> None:
    """Envoy's Check through the xds-protos stub: allow adds headers, deny is a 403 JSON body."""
    agent_id = _agent(stack, tenant, "mesh-agent")
    _grant(stack, tenant, agent_id)
    allowed = _check(stack, tenant, agent_id, "100")
    assert allowed.HasField("ok_response")
    headers = {h.header.key: h.header.value for h in allowed.ok_response.headers}
    assert headers["x-behalf-risk"].startswith("RISK_")
    assert headers["x-behalf-request-id"]
    denied = _check(stack, tenant, agent_id, "90000")
    assert denied.HasField("denied_response")
    assert denied.denied_response.status.code == 403
    body = json.loads(denied.denied_response.body)
    assert body["reason_code"] == "AMOUNT_EXCEEDS_LIMIT"
    assert body["request_id"]


def test_test_mode_has_no_side_effects(stack: Stack, tenant: Tenant) -> None:
    """A test-mode verify is decided as usual but creates no approval and is marked a test."""
    agent_id = _agent(stack, tenant, "tested-by-a-human")
    _grant(stack, tenant, agent_id, requires_approval=True)
    decision = _verify(
        stack,
        tenant,
        agent_id=agent_id,
        action="purchase",
        resource="coachella.com",
        amount=usd(100),
        test_mode=True,
    )
    assert decision.outcome == common_pb2.OUTCOME_REQUIRE_APPROVAL
    assert decision.test_mode
    assert decision.approval_id == ""
    pending = stack.registry_stub().ListApprovals(
        registry_pb2.ListApprovalsRequest(agent_id=agent_id), metadata=tenant.admin, timeout=10
    )
    assert list(pending.approvals) == []
    events = asyncio.run(_consume_decisions(stack, {decision.request_id}))
    assert events[decision.request_id].test_mode
