"""An agent in manual test mode cannot act, however its caller asks: over gRPC every decision
is a test decision (budget read, never spent), Envoy's Check lets nothing through, and the HTTP
API says allowed: false. UpdateAgent moves it to enforcement (and back), at a revision a caller
can wait for, with an agent.updated lifecycle event."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import AsyncIterator

import grpc
import pytest
from envoy.service.auth.v3 import attribute_context_pb2, external_auth_pb2, external_auth_pb2_grpc

from behalf.v1 import common_pb2, registry_pb2, resources_pb2, verifier_pb2
from tests.harness.stack import Stack, Tenant, coachella_grant, start_stack, stop_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def stack(database_url: str, kafka_bootstrap: str, tmp_path_factory) -> AsyncIterator[Stack]:
    stack = await start_stack(database_url, kafka_bootstrap, tmp_path_factory.mktemp("modes"))
    yield stack
    await stop_stack(stack)


@pytest.fixture(scope="module")
def tenant(stack: Stack) -> Tenant:
    return stack.create_tenant("modes")


def _external_in_test_mode(stack: Stack, tenant: Tenant) -> tuple[str, int]:
    registry = stack.registry_stub()
    agent = registry.CreateAgent(
        registry_pb2.CreateAgentRequest(
            name="zapier",
            kind=resources_pb2.AGENT_KIND_EXTERNAL,
            mode=resources_pb2.AGENT_MODE_TEST,
        ),
        metadata=tenant.admin,
        timeout=10,
    ).agent
    assert agent.mode == resources_pb2.AGENT_MODE_TEST
    budget = common_pb2.Money(amount_minor=10_000, currency="USD")
    grant = registry.GrantPermission(
        coachella_grant(agent.agent_id, budget=budget), metadata=tenant.admin, timeout=10
    )
    return agent.agent_id, grant.revision


def _verify(
    stack: Stack, tenant: Tenant, agent_id: str, revision: int, amount: int
) -> common_pb2.Decision:
    request = verifier_pb2.VerifyRequest(
        agent_id=agent_id,
        action="purchase",
        resource="coachella.com",
        amount=common_pb2.Money(amount_minor=amount, currency="USD"),
        min_revision=revision,
    )
    return stack.verifier_stub().Verify(request, metadata=tenant.verify, timeout=10).decision


def _check(stack: Stack, tenant: Tenant, agent_id: str) -> external_auth_pb2.CheckResponse:
    http = attribute_context_pb2.AttributeContext.HttpRequest(
        method="POST",
        host="coachella.com",
        path="/checkout",
        headers={
            "x-behalf-agent-id": agent_id,
            "x-behalf-action": "purchase",
            "x-behalf-amount-minor": "100",
            "x-behalf-currency": "USD",
        },
    )
    request = external_auth_pb2.CheckRequest(
        attributes=attribute_context_pb2.AttributeContext(
            request=attribute_context_pb2.AttributeContext.Request(http=http)
        )
    )
    with grpc.insecure_channel(stack.verifiers[0].target) as channel:
        stub = external_auth_pb2_grpc.AuthorizationStub(channel)
        return stub.Check(request, metadata=tenant.verify, timeout=10)


def _http_allowed(stack: Stack, tenant: Tenant, agent_id: str, revision: int) -> dict[str, object]:
    body = {
        "agentId": agent_id,
        "action": "purchase",
        "vendor": "coachella.com",
        "amount": "1.00",
        "currency": "USD",
        "minRevision": revision,
    }
    request = urllib.request.Request(
        f"{stack.verifiers[0].http_url}/v1/verify",
        data=json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {tenant.verify_key}",
            "Content-Type": "application/json",
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        decided: dict[str, object] = json.loads(reply.read())
    return decided


def _mode(
    stack: Stack, tenant: Tenant, agent_id: str, mode: int
) -> registry_pb2.UpdateAgentResponse:
    return stack.registry_stub().UpdateAgent(
        registry_pb2.UpdateAgentRequest(agent_id=agent_id, mode=mode),
        metadata=tenant.admin,
        timeout=10,
    )


def test_an_agent_in_test_mode_cannot_act_then_moves_to_enforcement(
    stack: Stack, tenant: Tenant
) -> None:
    agent_id, revision = _external_in_test_mode(stack, tenant)
    # The whole budget, asked as a real request, five times: each a test decision, none spent.
    for _ in range(5):
        decision = _verify(stack, tenant, agent_id, revision, 10_000)
        assert decision.outcome == common_pb2.OUTCOME_ALLOW and decision.test_mode
    check = _check(stack, tenant, agent_id)
    assert check.HasField("denied_response") and check.status.message == "TEST_MODE"
    assert json.loads(check.denied_response.body)["reason_code"] == "TEST_MODE"
    http = _http_allowed(stack, tenant, agent_id, revision)
    assert http["allowed"] is False and http["testMode"] is True and http["outcome"] == "ALLOW"

    enforced = _mode(stack, tenant, agent_id, resources_pb2.AGENT_MODE_ENFORCED)
    assert enforced.agent.mode == resources_pb2.AGENT_MODE_ENFORCED
    assert enforced.revision > revision
    real = _verify(stack, tenant, agent_id, enforced.revision, 10_000)
    assert real.outcome == common_pb2.OUTCOME_ALLOW and not real.test_mode
    spent = _verify(stack, tenant, agent_id, enforced.revision, 1)  # the test runs spent nothing
    assert spent.reason_code == common_pb2.REASON_CODE_BUDGET_EXHAUSTED
    assert _http_allowed(stack, tenant, agent_id, enforced.revision)["allowed"] is False

    back = _mode(stack, tenant, agent_id, resources_pb2.AGENT_MODE_TEST)
    again = _verify(stack, tenant, agent_id, back.revision, 1)
    assert again.test_mode
    unchanged = _mode(stack, tenant, agent_id, resources_pb2.AGENT_MODE_TEST)
    assert unchanged.revision == back.revision  # nothing changed, nothing committed


def test_update_agent_sets_what_it_names_and_refuses_the_rest(stack: Stack, tenant: Tenant) -> None:
    registry = stack.registry_stub()
    agent_id, _ = _external_in_test_mode(stack, tenant)
    updated = registry.UpdateAgent(
        registry_pb2.UpdateAgentRequest(
            agent_id=agent_id,
            description="books tickets",
            labels={"team": "events"},
            replace_labels=True,
        ),
        metadata=tenant.admin,
        timeout=10,
    ).agent
    assert (updated.description, dict(updated.labels)) == ("books tickets", {"team": "events"})
    assert updated.mode == resources_pb2.AGENT_MODE_TEST  # left as it was
    for request, field in (
        (registry_pb2.UpdateAgentRequest(agent_id=agent_id, mode=7), "mode"),
        (registry_pb2.UpdateAgentRequest(agent_id=agent_id, labels={"a": "b"}), "replace_labels"),
        (registry_pb2.UpdateAgentRequest(agent_id=agent_id, description="x" * 2001), "description"),
        (registry_pb2.UpdateAgentRequest(agent_id="nope"), "agent_id"),
    ):
        with pytest.raises(grpc.RpcError) as refused:
            registry.UpdateAgent(request, metadata=tenant.admin, timeout=10)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
        assert refused.value.details().startswith(field)  # type: ignore[attr-defined]
    with pytest.raises(grpc.RpcError) as refused:
        registry.UpdateAgent(
            registry_pb2.UpdateAgentRequest(agent_id=agent_id, mode=1),
            metadata=tenant.verify,
            timeout=10,
        )
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED  # type: ignore[attr-defined]
