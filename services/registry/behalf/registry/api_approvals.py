"""RegistryService handlers for approvals: list, get (verify keys too), resolve."""

from __future__ import annotations

import grpc

from behalf.common.callers import READ_ROLES, Role
from behalf.registry import pages
from behalf.registry import validation as v
from behalf.registry.commands import approvals
from behalf.registry.commands.approvals import Resolution
from behalf.registry.handlers import Handlers
from behalf.v1 import registry_pb2 as pb


class ApprovalHandlers(Handlers):
    """Human decisions on requests that required approval."""

    async def ListApprovals(
        self,
        request: pb.ListApprovalsRequest,
        context: grpc.aio.ServicerContext[pb.ListApprovalsRequest, pb.ListApprovalsResponse],
    ) -> pb.ListApprovalsResponse:
        caller = await self._auth(context, *READ_ROLES)
        state = v.approval_state(request.state)
        agent_id = v.optional_id(request.agent_id, "agt", "agent_id")
        page = pages.page_request(
            pages.APPROVALS, request.page_token, request.page_size, caller.tenant_id
        )
        items, token = await approvals.list_approvals(
            self._db, caller.tenant_id, state=state, agent_id=agent_id, page=page
        )
        return pb.ListApprovalsResponse(approvals=items, next_page_token=token)

    async def GetApproval(
        self,
        request: pb.GetApprovalRequest,
        context: grpc.aio.ServicerContext[pb.GetApprovalRequest, pb.GetApprovalResponse],
    ) -> pb.GetApprovalResponse:
        caller = await self._auth(context, Role.ADMIN, Role.AUDIT_READ, Role.VERIFY)
        approval_id = v.require_id(request.approval_id, "apr", "approval_id")
        approval = await approvals.get_approval(
            self._db,
            caller.tenant_id,
            approval_id,
            agent_id=caller.scope.agent_id,
            test_mode_only=caller.scope.test_mode_only,
        )
        return pb.GetApprovalResponse(approval=approval)

    async def ResolveApproval(
        self,
        request: pb.ResolveApprovalRequest,
        context: grpc.aio.ServicerContext[pb.ResolveApprovalRequest, pb.ResolveApprovalResponse],
    ) -> pb.ResolveApprovalResponse:
        caller = await self._auth(context, Role.ADMIN)
        approval_id = v.require_id(request.approval_id, "apr", "approval_id")
        resolution = Resolution(
            approve=request.approve,
            resolved_by=v.name(request.resolved_by, "resolved_by"),
            resolved_by_key_id=caller.key_id,
            comment=v.description(request.comment, "comment"),
        )
        return await approvals.resolve_approval(self._db, caller.tenant_id, approval_id, resolution)
