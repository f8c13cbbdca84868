"""Asking for decisions and reading their effects, as the threat tests do over and over."""

from __future__ import annotations

from behalf.v1 import common_pb2, registry_pb2, verifier_pb2
from tests.harness.stack import Stack, Tenant, bearer


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
