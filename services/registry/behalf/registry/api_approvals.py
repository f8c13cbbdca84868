"""RegistryService handlers for approvals: list, get (verify keys too), resolve."""

from __future__ import annotations

import asyncpg
import grpc

from behalf.common.errors import FailedPrecondition
from behalf.registry import validation as v
from behalf.registry.api_support import Handlers, cursor, next_token, not_found
from behalf.registry.changes import write_event
from behalf.registry.keys import Role
from behalf.registry.store import approvals
from behalf.v1 import registry_pb2 as pb
from behalf.v1 import resources_pb2

READ = (Role.ADMIN, Role.AUDIT_READ)


class ApprovalHandlers(Handlers):
    """Human decisions on requests that required approval."""

    async def ListApprovals(
        self, request: pb.ListApprovalsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListApprovalsResponse:
        caller = await self._auth(context, *READ)
        state = v.approval_state(request.state)
        agent_id = v.optional_id(request.agent_id, "agt", "agent_id")
        limit = v.page(request.page_size)
        before = cursor("approvals", request.page_token)
        rows = await approvals.list_page(
            self._pool,
            caller.tenant_id,
            state=state,
            agent_id=agent_id,
            before=before,
            limit=limit + 1,
        )
        return pb.ListApprovalsResponse(
            approvals=[a for a, _ in rows[:limit]],
            next_page_token=next_token("approvals", rows, limit),
        )

    async def GetApproval(
        self, request: pb.GetApprovalRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetApprovalResponse:
        caller = await self._auth(context, Role.ADMIN, Role.AUDIT_READ, Role.VERIFY)
        approval_id = v.require_id(request.approval_id, "apr", "approval_id")
        approval = await approvals.get(self._pool, caller.tenant_id, approval_id)
        if approval is None:
            raise not_found("approval", approval_id)
        return pb.GetApprovalResponse(approval=approval)

    async def ResolveApproval(
        self, request: pb.ResolveApprovalRequest, context: grpc.aio.ServicerContext
    ) -> pb.ResolveApprovalResponse:
        caller = await self._auth(context, Role.ADMIN)
        tenant_id = caller.tenant_id
        approval_id = v.require_id(request.approval_id, "apr", "approval_id")
        resolved_by = v.name(request.resolved_by, "resolved_by")
        comment = v.description(request.comment, "comment")

        async def resolve(conn: asyncpg.Connection, revision: int) -> pb.ResolveApprovalResponse:
            approval = await approvals.resolve(
                conn,
                tenant_id,
                approval_id,
                approve=request.approve,
                resolved_by=resolved_by,
                resolved_by_key_id=caller.key_id,
                comment=comment,
            )
            if approval is None:
                current = await approvals.get(conn, tenant_id, approval_id)
                if current is None:
                    raise not_found("approval", approval_id)
                state = resources_pb2.ApprovalState.Name(current.state)
                raise FailedPrecondition(
                    f"approval {approval_id} is {state}; only a pending, unexpired approval "
                    "can be resolved"
                )
            await write_event(
                conn,
                tenant_id=tenant_id,
                event_type="approval.resolved",
                revision=revision,
                subject=approval,
            )
            return pb.ResolveApprovalResponse(approval=approval, revision=revision)

        return await self._mutate(resolve)
