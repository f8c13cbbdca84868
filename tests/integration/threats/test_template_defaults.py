"""The brief's promises hold from the scope templates alone: read-only data access stays
read-only beside a broader grant, and sending a message asks a human first."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from behalf.v1 import common_pb2, registry_pb2, resources_pb2, verifier_pb2
from tests.harness.stack import Stack, Tenant, start_stack, stop_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def stack(database_url: str, kafka_bootstrap: str, tmp_path_factory) -> AsyncIterator[Stack]:
    stack = await start_stack(database_url, kafka_bootstrap, tmp_path_factory.mktemp("templates"))
    yield stack
    await stop_stack(stack)


@pytest.fixture(scope="module")
def tenant(stack: Stack) -> Tenant:
    return stack.create_tenant("templates")


def _agent(stack: Stack, tenant: Tenant, name: str) -> str:
    return (
        stack.registry_stub()
        .CreateAgent(
            registry_pb2.CreateAgentRequest(name=name, kind=resources_pb2.AGENT_KIND_NATIVE),
            metadata=tenant.admin,
            timeout=10,
        )
        .agent.agent_id
    )


def _grant(stack: Stack, tenant: Tenant, **fields: object) -> registry_pb2.GrantPermissionResponse:
    return stack.registry_stub().GrantPermission(
        registry_pb2.GrantPermissionRequest(**fields),  # type: ignore[arg-type]
        metadata=tenant.admin,
        timeout=10,
    )


def _verify(
    stack: Stack, tenant: Tenant, agent_id: str, action: str, resource: str, revision: int
) -> common_pb2.Decision:
    request = verifier_pb2.VerifyRequest(
        agent_id=agent_id, action=action, resource=resource, min_revision=revision
    )
    return stack.verifier_stub().Verify(request, metadata=tenant.verify, timeout=10).decision


def test_read_only_data_access_blocks_what_a_broader_grant_allows(
    stack: Stack, tenant: Tenant
) -> None:
    """The agent holds data_access.read on mail.example.com and, separately, a grant that
    lists export and delete there: reads are allowed, the writes stay blocked."""
    agent_id = _agent(stack, tenant, "reader")
    read = _grant(
        stack,
        tenant,
        agent_id=agent_id,
        template_name="data_access.read",
        resources=["mail.example.com"],
    )
    assert read.permission.template_version == 2
    assert "export_data" in read.permission.blocked_actions
    broader = _grant(
        stack,
        tenant,
        agent_id=agent_id,
        allowed_actions=["export_data", "delete_records", "edit_record", "read_email"],
        resources=["*.example.com", "mail.example.com"],
    )
    revision = broader.revision
    allowed = _verify(stack, tenant, agent_id, "read_email", "mail.example.com", revision)
    assert allowed.outcome == common_pb2.OUTCOME_ALLOW
    for action in ("export_data", "delete_records", "edit_record"):
        denied = _verify(stack, tenant, agent_id, action, "mail.example.com", revision)
        assert (denied.outcome, denied.reason_code) == (
            common_pb2.OUTCOME_DENY,
            common_pb2.REASON_CODE_ACTION_BLOCKED,
        ), action
    # Where the read-only grant does not apply, the broader one still does.
    elsewhere = _verify(stack, tenant, agent_id, "export_data", "crm.example.com", revision)
    assert elsewhere.outcome == common_pb2.OUTCOME_ALLOW


def test_a_read_only_grant_cannot_list_a_blocked_action(stack: Stack, tenant: Tenant) -> None:
    agent_id = _agent(stack, tenant, "sneaky")
    with pytest.raises(grpc.RpcError) as refused:
        _grant(
            stack,
            tenant,
            agent_id=agent_id,
            template_name="data_access.read",
            allowed_actions=["read_email", "export_data"],
            resources=["mail.example.com"],
        )
    error = refused.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert error.details().startswith("blocked_actions")  # type: ignore[attr-defined]


def test_sending_a_message_requires_approval_by_default(stack: Stack, tenant: Tenant) -> None:
    agent_id = _agent(stack, tenant, "messenger")
    send = _grant(
        stack,
        tenant,
        agent_id=agent_id,
        template_name="messaging.send",
        resources=["slack.com", "gmail.com"],
    )
    assert send.permission.template_version == 2 and send.permission.requires_approval
    for action, resource in (("send_email", "gmail.com"), ("post_slack", "slack.com")):
        decision = _verify(stack, tenant, agent_id, action, resource, send.revision)
        assert decision.outcome == common_pb2.OUTCOME_REQUIRE_APPROVAL, action
        assert decision.approval_id.startswith("apr_")
    # An operator who wants no approval says so on the grant.
    quiet = _agent(stack, tenant, "notifier")
    unattended = _grant(
        stack,
        tenant,
        agent_id=quiet,
        template_name="messaging.send",
        resources=["slack.com"],
        requires_approval=False,
    )
    decision = _verify(stack, tenant, quiet, "post_slack", "slack.com", unattended.revision)
    assert decision.outcome == common_pb2.OUTCOME_ALLOW
