"""Through Envoy the agent names itself: it must not be able to name another agent.

The agent sends the proxied request, so `x-behalf-agent-id` is its claim. A route that requires
the agent's own key (`agent_key: required`) checks the request as the agent that key is bound
to, whatever the agent claims, and only with Envoy's own key of the same tenant. Every test
drives the real verifier, registry, PostgreSQL and Kafka through Envoy's Check, as the agent
would: with the headers it chooses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from envoy.service.auth.v3 import attribute_context_pb2, external_auth_pb2, external_auth_pb2_grpc

from behalf.v1 import common_pb2, registry_pb2, resources_pb2
from tests.harness.stack import Stack, Tenant, bearer, start_stack, stop_stack

pytestmark = pytest.mark.integration

AGENT_KEY = "x-behalf-agent-key"
REQUIRED = {"action": "purchase", "agent_key": "required"}


@pytest.fixture(scope="module")
async def stack(database_url: str, kafka_bootstrap: str, tmp_path_factory) -> AsyncIterator[Stack]:
    stack = await start_stack(database_url, kafka_bootstrap, tmp_path_factory.mktemp("agent-keys"))
    yield stack
    await stop_stack(stack)


@pytest.fixture(scope="module")
def tenant(stack: Stack) -> Tenant:
    return stack.create_tenant("envoy-fronted")


def _bound_key(stack: Stack, tenant: Tenant, agent_id: str) -> registry_pb2.CreateApiKeyResponse:
    """A new verify key bound to `agent_id` (its secret, key id and revision)."""
    return stack.create_api_key(tenant, agent_id=agent_id, name="agent's own")


def _check(
    stack: Stack,
    envoy_key: str,
    headers: dict[str, str],
    extensions: dict[str, str],
    revision: int,
    amount_minor: int = 500,
) -> external_auth_pb2.CheckResponse:
    """A Check for a USD purchase on coachella.com carrying the agent's `headers`."""
    http = attribute_context_pb2.AttributeContext.HttpRequest(
        host="coachella.com",
        headers={
            "x-behalf-amount-minor": str(amount_minor),
            "x-behalf-currency": "USD",
            "x-behalf-min-revision": str(revision),
            **headers,
        },
    )
    request = external_auth_pb2.CheckRequest(
        attributes=attribute_context_pb2.AttributeContext(
            request=attribute_context_pb2.AttributeContext.Request(http=http),
            context_extensions=extensions,
        )
    )
    stub = external_auth_pb2_grpc.AuthorizationStub(
        grpc.insecure_channel(stack.verifiers[0].target)
    )
    return stub.Check(request, metadata=bearer(envoy_key), timeout=10)


def _status(reply: external_auth_pb2.CheckResponse) -> int:
    return 200 if reply.HasField("ok_response") else int(reply.denied_response.status.code)


def _upstream_headers(reply: external_auth_pb2.CheckResponse) -> dict[str, str]:
    return {h.header.key: h.header.value for h in reply.ok_response.headers}


def test_an_agent_cannot_check_as_another_agent_of_its_tenant(stack: Stack, tenant: Tenant) -> None:
    """The small agent (10.00 USD) holds its own key and claims the big one (800.00 USD): every
    way of naming the big agent is refused, and its key lets through only its own passport."""
    small, small_grant = stack.agent_with_grant(
        tenant, "small", max_amount=common_pb2.Money(amount_minor=1_000, currency="USD")
    )
    big, big_grant = stack.agent_with_grant(tenant, "big")
    created = _bound_key(stack, tenant, small)
    key = created.secret
    revision = max(small_grant.revision, big_grant.revision, created.revision)

    def check(headers: dict[str, str], extensions: dict[str, str], amount: int = 50_000):
        return _check(stack, tenant.verify_key, headers, extensions, revision, amount)

    claims_big = {"x-behalf-agent-id": big}
    # Without the key the route refuses the claim outright; before, this was an ALLOW.
    assert _status(check(claims_big, REQUIRED)) == 401
    # With its key, naming the big agent in a header or (on a route of its own) by the route.
    assert _status(check({AGENT_KEY: key, **claims_big}, REQUIRED)) == 403
    assert _status(check({AGENT_KEY: key}, {**REQUIRED, "agent_id": big})) == 403
    # Its own passport: 500.00 is past its limit, 5.00 is allowed as the small agent.
    exceeded = check({AGENT_KEY: key}, REQUIRED)
    assert _status(exceeded) == 403
    assert b"AMOUNT_EXCEEDS_LIMIT" in exceeded.denied_response.body.encode()
    allowed = check({AGENT_KEY: key}, REQUIRED, amount=500)
    assert _status(allowed) == 200
    permission_id = _upstream_headers(allowed)["x-behalf-permission-id"]
    assert permission_id == small_grant.permission.permission_id
    # The key never reaches the application.
    assert list(allowed.ok_response.headers_to_remove) == [AGENT_KEY]
    # A route that does not require the key still decides as the key when one is sent.
    assert _status(check({AGENT_KEY: key, **claims_big}, {"action": "purchase"})) == 403


def test_only_a_bound_key_of_envoys_own_tenant_names_the_agent(
    stack: Stack, tenant: Tenant
) -> None:
    """Keys that could name any agent, or an agent of another tenant whose passport would let
    it into this tenant's application, are refused: unbound, admin, another tenant's, revoked,
    made up; Envoy's own key must be a good verify key of the tenant, and an agent's key never
    widens it."""
    registry = stack.registry_stub()
    agent, grant = stack.agent_with_grant(tenant, "mesh agent")
    key = _bound_key(stack, tenant, agent).secret
    other = stack.create_tenant("another")
    foreign_agent, _ = stack.agent_with_grant(other, "foreign")
    foreign_key = _bound_key(stack, other, foreign_agent).secret
    revoked = _bound_key(stack, tenant, agent)
    audit_reader = stack.create_api_key(tenant, role=resources_pb2.ROLE_AUDIT_READ)
    # Envoy keys scoped to test mode, or to another agent, stay as narrow with an agent's key.
    test_only = stack.create_api_key(tenant, test_mode_only=True)
    other_agent, _ = stack.agent_with_grant(tenant, "another agent")
    bound_elsewhere = _bound_key(stack, tenant, other_agent)
    # Every change above is committed at or before the revocation's revision.
    revision = registry.RevokeApiKey(
        registry_pb2.RevokeApiKeyRequest(key_id=revoked.api_key.key_id),
        metadata=tenant.admin,
        timeout=10,
    ).revision
    assert revision > grant.revision

    def status(envoy_key: str, agent_key: str, extensions: dict[str, str] = REQUIRED) -> int:
        return _status(_check(stack, envoy_key, {AGENT_KEY: agent_key}, extensions, revision))

    assert status(tenant.verify_key, key) == 200
    for refused in (tenant.verify_key, tenant.admin_key, foreign_key, revoked.secret, "bhk_x"):
        assert status(tenant.verify_key, refused) == 401, refused[:12]
    # Another tenant's Envoy cannot pass this tenant's agent in, nor a key of no tenant.
    assert status(other.verify_key, key) == 401
    assert status("bhk_made_up", key) == 401
    # Envoy's key must be allowed to ask for decisions: an audit reader's is not.
    assert status(audit_reader.secret, key) == 403
    assert status(test_only.secret, key) == 403
    assert status(bound_elsewhere.secret, key) == 403
    # A route that misspells the requirement fails closed.
    assert status(tenant.verify_key, key, {"action": "purchase", "agent_key": "yes"}) == 400
