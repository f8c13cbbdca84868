"""Approvals past their window read as expired and can be neither resolved nor consumed."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from behalf.v1 import internal_pb2 as ipb
from behalf.v1 import registry_pb2 as pb
from behalf.v1 import resources_pb2 as res
from tests.integration.registry.support import Registry, fails, new_agent

pytestmark = pytest.mark.integration


@pytest.fixture
def approval_window_seconds() -> float:
    """A window short enough to pass within the test."""
    return 0.5


async def test_expired_approval_cannot_be_resolved_or_used(registry: Registry) -> None:
    """After the configured window an approval is EXPIRED: resolve fails, consume refuses."""
    tenant = await registry.tenant()
    agent = await new_agent(tenant)
    permission = (
        await tenant.admin.GrantPermission(
            pb.GrantPermissionRequest(
                agent_id=agent.agent_id,
                allowed_actions=["purchase"],
                requires_approval=True,
                resources=["*"],
            )
        )
    ).permission
    approval = (
        await registry.as_verifier().CreateApproval(
            ipb.CreateApprovalRequest(
                tenant_id=tenant.tenant_id,
                agent_id=agent.agent_id,
                action="purchase",
                resource="shop.example.com",
                permission_id=permission.permission_id,
                request_id="r1",
            )
        )
    ).approval
    await asyncio.sleep(0.7)
    got = await tenant.admin.GetApproval(pb.GetApprovalRequest(approval_id=approval.approval_id))
    assert got.approval.state == res.APPROVAL_STATE_EXPIRED
    expired = await tenant.admin.ListApprovals(
        pb.ListApprovalsRequest(state=res.APPROVAL_STATE_EXPIRED)
    )
    assert [a.approval_id for a in expired.approvals] == [approval.approval_id]
    await fails(
        tenant.admin.ResolveApproval(
            pb.ResolveApprovalRequest(
                approval_id=approval.approval_id, approve=True, resolved_by="a"
            )
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        "APPROVAL_STATE_EXPIRED",
    )
