"""Asking for decisions and reading their effects, as the threat tests do over and over."""

from __future__ import annotations

import time

from behalf.v1 import common_pb2, registry_pb2, resources_pb2, verifier_pb2
from tests.harness.stack import Stack, Tenant, bearer


def new_agent(stack: Stack, tenant: Tenant) -> str:
    """A new native agent of the tenant; its id."""
    reply = stack.registry_stub().CreateAgent(
        registry_pb2.CreateAgentRequest(name="agent", kind=resources_pb2.AGENT_KIND_NATIVE),
        metadata=tenant.admin,
        timeout=10,
    )
    return str(reply.agent.agent_id)


def usd(minor: int) -> common_pb2.Money:
    """An amount in US dollars, in cents."""
    return common_pb2.Money(amount_minor=minor, currency="USD")


def verify_as(stack: Stack, key: str, **fields: object) -> common_pb2.Decision:
    """The first verifier's decision on a VerifyRequest of `fields`, asked with `key`."""
    reply = stack.verifier_stub().Verify(
        verifier_pb2.VerifyRequest(**fields),  # type: ignore[arg-type]
        metadata=bearer(key),
        timeout=10,
    )
    decision: common_pb2.Decision = reply.decision
    return decision


def reason_code(decision: common_pb2.Decision) -> str:
    """`AMOUNT_EXCEEDS_LIMIT` for REASON_CODE_AMOUNT_EXCEEDS_LIMIT."""
    return common_pb2.ReasonCode.Name(decision.reason_code).removeprefix("REASON_CODE_")


def spent(stack: Stack, tenant: Tenant, permission_id: str) -> int:
    """What the permission's budget has spent, as the registry says now."""
    reply = stack.registry_stub().GetPermission(
        registry_pb2.GetPermissionRequest(permission_id=permission_id),
        metadata=tenant.admin,
        timeout=10,
    )
    return int(reply.permission.budget_spent_minor)


def wait_audited(stack: Stack, tenant: Tenant, request_id: str, count: int = 1) -> None:
    """Wait until the tenant's audit trail holds `count` decisions with this request id."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        listed = stack.registry_stub().ListDecisions(
            registry_pb2.ListDecisionsRequest(request_id=request_id, page_size=min(count, 500)),
            metadata=tenant.admin,
            timeout=10,
        )
        if len(listed.decisions) >= count:
            return
        time.sleep(0.1)
    raise TimeoutError(f"{count} decisions for {request_id} never reached the audit trail")
