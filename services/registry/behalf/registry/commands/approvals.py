"""Approvals: verifiers create and consume them; admins list, read and resolve them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from behalf.common.errors import FailedPrecondition, ResourceExhausted
from behalf.common.ids import new_id
from behalf.registry.commands.errors import not_found
from behalf.registry.commands.request_ids import claim
from behalf.registry.commands.transaction import Db, Outcome, change
from behalf.registry.pages import PageRequest
from behalf.registry.store import approvals, permissions
from behalf.registry.store._rows import Connection
from behalf.registry.store.outbox import write_event
from behalf.registry.store.request_ids import RequestFacts
from behalf.registry.store.revisions import current_revision
from behalf.v1 import registry_pb2 as pb
from behalf.v1 import resources_pb2


@dataclass(frozen=True)
class Resolution:
    """A validated human decision on an approval."""

    approve: bool
    resolved_by: str
    resolved_by_key_id: str
    comment: str


async def list_approvals(
    db: Db,
    tenant_id: str,
    *,
    state: int | None,
    agent_id: str | None,
    page: PageRequest[resources_pb2.Approval],
) -> tuple[list[resources_pb2.Approval], str]:
    rows = await approvals.list_page(
        db.pool, tenant_id, state=state, agent_id=agent_id, before=page.cursor, limit=page.fetch
    )
    return page.split(rows)


async def get_approval(
    db: Db,
    tenant_id: str,
    approval_id: str,
    *,
    agent_id: str | None = None,
    test_mode_only: bool = False,
) -> resources_pb2.Approval:
    """The tenant's approval; with `agent_id` (a key bound to one agent), only that agent's,
    and another agent's reads as missing, as another tenant's does. A test-mode-only key reads
    none: test decisions create no approvals."""
    if test_mode_only:
        raise not_found("approval", approval_id)
    approval = await approvals.get(db.pool, tenant_id, approval_id)
    if approval is None or (agent_id is not None and approval.agent_id != agent_id):
        raise not_found("approval", approval_id)
    return approval


async def resolve_approval(
    db: Db, tenant_id: str, approval_id: str, resolution: Resolution
) -> pb.ResolveApprovalResponse:
    """Approve or deny a pending, unexpired approval; anything else fails its precondition."""

    async def resolve(conn: Connection, revision: int) -> Outcome[pb.ResolveApprovalResponse]:
        approval = await approvals.resolve(
            conn,
            tenant_id,
            approval_id,
            approve=resolution.approve,
            resolved_by=resolution.resolved_by,
            resolved_by_key_id=resolution.resolved_by_key_id,
            comment=resolution.comment,
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
        return Outcome(pb.ResolveApprovalResponse(approval=approval, revision=revision))

    return await change(db, resolve)


async def request_approval(
    db: Db, facts: RequestFacts, window: timedelta
) -> resources_pb2.Approval:
    """A pending approval for exactly this request; the same request id returns it again.

    An approval is not policy: it takes no policy revision (so one tenant's flood of
    approvals never queues behind, or in front of, another tenant's mutations) and sends
    verifiers nothing. Its `approval.requested` event is stamped with the current revision
    and reaches webhooks through the outbox like every other event.
    """
    expires_at = datetime.now(UTC) + window
    async with db.pool.acquire() as conn:
        permission = await permissions.get(conn, facts.tenant_id, facts.permission_id)
        if permission is None or permission.agent_id != facts.agent_id:
            raise not_found("permission", facts.permission_id)
        await claim(conn, facts)
        async with conn.transaction():
            try:
                approval, created = await approvals.insert_if_new(
                    conn, approval_id=new_id("apr"), request=facts, expires_at=expires_at
                )
            except approvals.TooManyPending:
                raise ResourceExhausted(
                    f"the agent has {approvals.MAX_PENDING_PER_AGENT} approvals pending"
                ) from None
            if created:
                await write_event(
                    conn,
                    tenant_id=facts.tenant_id,
                    event_type="approval.requested",
                    revision=await current_revision(conn),
                    subject=approval,
                )
    return approval


async def consume_approval(
    db: Db, approval_id: str, facts: RequestFacts
) -> tuple[bool, resources_pb2.Approval]:
    """Consume an approved approval for exactly this request, at most once; returns whether
    it was consumed and the approval as it stands."""
    async with db.pool.acquire() as conn:
        await claim(conn, facts)  # first: a request naming no approval binds its id too
        approval = await approvals.get(conn, facts.tenant_id, approval_id)
        if approval is None:
            raise not_found("approval", approval_id)
        consumed = await approvals.consume(conn, approval_id=approval_id, request=facts)
        if consumed:
            approval = await approvals.get(conn, facts.tenant_id, approval_id) or approval
    return consumed, approval
