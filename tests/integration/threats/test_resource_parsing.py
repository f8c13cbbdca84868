"""Resource strings that two URL parsers read differently never reach a decision, live."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import grpc
import pytest
from envoy.service.auth.v3 import attribute_context_pb2, external_auth_pb2, external_auth_pb2_grpc

from behalf.v1 import common_pb2, registry_pb2, resources_pb2, verifier_pb2
from tests.harness.stack import Stack, Tenant, start_stack, stop_stack

pytestmark = pytest.mark.integration

# Each is refused by the verifier; a WHATWG parser reads several of them as evil.com.
AMBIGUOUS = [
    "evil.com\\@coachella.com",
    "http://evil.com\\@coachella.com/x",
    "http://coachella.com@evil.com",
    "http://user:pw@coachella.com/",
    "coachella.com%2eevil.com",
    "coachella%2ecom",
    "coachella.com\t",
    "coach\tella.com",
    "coachella.com\nevil.com",
    "http://coach\rella.com/",
    "coach\u200bella.com",
    "coachella\u3002com",
    "coachella\uff0ecom",
    "coachella.com.",
    "0x7f.1",
    "0177.0.0.1",
    "javascript:alert(1)//coachella.com",
    "coachella.com:443",
    "http:coachella.com",
    "http:///coachella.com",
    "//coachella.com",
    "http://:443/",
]
# Each is a well-formed name of another host: decided, and never allowed.
OTHER_HOSTS = [
    "coachella.com.evil.com",
    "evil.com/coachella.com",
    "http://evil.com/?coachella.com",
    "http://evil.com#coachella.com",
    "evilcoachella.com",
]


@pytest.fixture(scope="module")
async def stack(database_url: str, kafka_bootstrap: str, tmp_path_factory) -> AsyncIterator[Stack]:
    stack = await start_stack(database_url, kafka_bootstrap, tmp_path_factory.mktemp("resources"))
    yield stack
    await stop_stack(stack)


@pytest.fixture(scope="module")
def tenant(stack: Stack) -> Tenant:
    return stack.create_tenant("resources")


@pytest.fixture(scope="module")
def buyer(stack: Stack, tenant: Tenant) -> tuple[str, int]:
    """An agent allowed to purchase on coachella.com, and the grant's revision."""
    agent_id, grant = stack.agent_with_grant(tenant)
    return agent_id, grant.revision


def _verify(
    stack: Stack, tenant: Tenant, agent: tuple[str, int], resource: str
) -> common_pb2.Decision:
    agent_id, revision = agent
    request = verifier_pb2.VerifyRequest(
        agent_id=agent_id,
        action="purchase",
        resource=resource,
        amount=common_pb2.Money(amount_minor=100, currency="USD"),
        min_revision=revision,
    )
    return stack.verifier_stub().Verify(request, metadata=tenant.verify, timeout=10).decision


def _refused(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    return caught.value


def test_the_exact_host_is_allowed(stack: Stack, tenant: Tenant, buyer: tuple[str, int]) -> None:
    """The granted host, spelled as a bare name or an https URL, is allowed."""
    for resource in ("coachella.com", "HTTPS://Coachella.COM/tickets?id=1"):
        assert _verify(stack, tenant, buyer, resource).outcome == common_pb2.OUTCOME_ALLOW


@pytest.mark.parametrize("resource", AMBIGUOUS)
def test_ambiguous_resources_are_invalid_argument(
    stack: Stack, tenant: Tenant, buyer: tuple[str, int], resource: str
) -> None:
    """An ambiguous resource string is INVALID_ARGUMENT naming `resource`, never a decision."""
    error = _refused(lambda: _verify(stack, tenant, buyer, resource))
    assert (error.details() or "").startswith("resource:")


@pytest.mark.parametrize("resource", OTHER_HOSTS)
def test_other_hosts_are_denied(
    stack: Stack, tenant: Tenant, buyer: tuple[str, int], resource: str
) -> None:
    """A well-formed resource naming another host is denied RESOURCE_NOT_ALLOWED."""
    decision = _verify(stack, tenant, buyer, resource)
    assert decision.outcome == common_pb2.OUTCOME_DENY
    assert decision.reason_code == common_pb2.REASON_CODE_RESOURCE_NOT_ALLOWED


def test_envoy_check_refuses_an_ambiguous_resource_header(
    stack: Stack, tenant: Tenant, buyer: tuple[str, int]
) -> None:
    """Through Envoy's Check, an ambiguous `x-behalf-resource` is a 400, never an allow."""
    agent_id, revision = buyer
    http = attribute_context_pb2.AttributeContext.HttpRequest(
        host="coachella.com",
        headers={
            "x-behalf-resource": "http://evil.com\\@coachella.com/x",
            "x-behalf-amount-minor": "100",
            "x-behalf-currency": "USD",
            "x-behalf-min-revision": str(revision),
        },
    )
    request = external_auth_pb2.CheckRequest(
        attributes=attribute_context_pb2.AttributeContext(
            request=attribute_context_pb2.AttributeContext.Request(http=http),
            context_extensions={"agent_id": agent_id, "action": "purchase"},
        )
    )
    stub = external_auth_pb2_grpc.AuthorizationStub(
        grpc.insecure_channel(stack.verifiers[0].target)
    )
    reply = stub.Check(request, metadata=tenant.verify, timeout=10)
    assert reply.HasField("denied_response") and not reply.HasField("ok_response")
    assert reply.denied_response.status.code == 400
    assert json.loads(reply.denied_response.body)["reason"].startswith("x-behalf-resource:")


def test_a_grant_with_an_ambiguous_resource_is_invalid_argument(
    stack: Stack, tenant: Tenant
) -> None:
    """GrantPermission refuses an ambiguous resource pattern, naming its index."""
    bad = ["evil.com\\@coachella.com"]
    error = _refused(lambda: stack.agent_with_grant(tenant, "bad-pattern", resources=bad))
    assert (error.details() or "").startswith("resources[0]:")


def test_a_grant_without_resources_is_invalid_argument(stack: Stack, tenant: Tenant) -> None:
    """GrantPermission with no resources is INVALID_ARGUMENT on `resources`, pointing at "*"."""
    error = _refused(lambda: stack.agent_with_grant(tenant, "no-resources", resources=[]))
    details = error.details() or ""
    assert details.startswith("resources:") and '"*"' in details


def test_a_template_grant_without_resources_is_invalid_argument(
    stack: Stack, tenant: Tenant
) -> None:
    """A scope template never supplies resources: a template grant without them is refused."""
    registry = stack.registry_stub()
    agent = registry.CreateAgent(
        registry_pb2.CreateAgentRequest(name="reader", kind=resources_pb2.AGENT_KIND_NATIVE),
        metadata=tenant.admin,
        timeout=10,
    ).agent
    request = registry_pb2.GrantPermissionRequest(
        agent_id=agent.agent_id, template_name="data_access.read"
    )
    error = _refused(lambda: registry.GrantPermission(request, metadata=tenant.admin, timeout=10))
    assert (error.details() or "").startswith("resources:")


def test_a_star_grant_allows_any_well_formed_resource(stack: Stack, tenant: Tenant) -> None:
    """A grant on "*" allows any well-formed resource and still refuses ambiguous ones."""
    agent_id, grant = stack.agent_with_grant(tenant, "anywhere", resources=["*"])
    assert list(grant.permission.resources) == ["*"]
    agent = (agent_id, grant.revision)
    for resource in ("coachella.com", "evil.com", "https://shop.example.org/cart"):
        assert _verify(stack, tenant, agent, resource).outcome == common_pb2.OUTCOME_ALLOW
    _refused(lambda: _verify(stack, tenant, agent, "http://evil.com\\@coachella.com/x"))


def test_star_mixed_with_names_is_invalid_argument(stack: Stack, tenant: Tenant) -> None:
    """The "*" pattern must be a grant's only resource; next to a name it is INVALID_ARGUMENT."""
    error = _refused(
        lambda: stack.agent_with_grant(tenant, "mixed", resources=["*", "coachella.com"])
    )
    assert (error.details() or "").startswith("resources:")
