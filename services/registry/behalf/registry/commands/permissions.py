"""Permissions (the lines of a passport): grant, revoke, read, list, and the passport's contents."""

from __future__ import annotations

from dataclasses import dataclass

from behalf.common.ids import new_id
from behalf.registry.commands.errors import not_found
from behalf.registry.commands.idempotency import Once, create_once
from behalf.registry.commands.transaction import Db, Outcome, change, unchanged
from behalf.registry.pages import PageRequest
from behalf.registry.store import agents, permissions
from behalf.registry.store._rows import Connection
from behalf.registry.store.outbox import write_event
from behalf.registry.store.revisions import current_revision
from behalf.registry.store.values import GrantSpec
from behalf.v1 import registry_pb2 as pb
from behalf.v1 import resources_pb2


@dataclass(frozen=True)
class PassportContents:
    """An agent and its active permissions, read at one revision."""

    agent: resources_pb2.Agent
    permissions: list[resources_pb2.Permission]
    revision: int


async def grant_permission(
    db: Db, once: Once, tenant_id: str, spec: GrantSpec
) -> pb.GrantPermissionResponse:
    async def grant(conn: Connection, revision: int) -> pb.GrantPermissionResponse:
        if await agents.get(conn, tenant_id, spec.agent_id, for_update=True) is None:
            raise not_found("agent", spec.agent_id)
        permission = await permissions.insert(
            conn, permission_id=new_id("prm"), tenant_id=tenant_id, spec=spec, revision=revision
        )
        await write_event(
            conn,
            tenant_id=tenant_id,
            event_type="permission.granted",
            revision=revision,
            subject=permission,
        )
        return pb.GrantPermissionResponse(permission=permission, revision=revision)

    return await create_once(db, once, pb.GrantPermissionResponse.FromString, grant)


async def revoke_permission(db: Db, tenant_id: str, permission_id: str) -> resources_pb2.Permission:
    """Revoke a permission; revoking a revoked one changes nothing."""

    async def revoke(conn: Connection, revision: int) -> Outcome[resources_pb2.Permission]:
        current = await permissions.get(conn, tenant_id, permission_id, for_update=True)
        if current is None:
            raise not_found("permission", permission_id)
        if current.revoked:
            return unchanged(current)
        permission = await permissions.revoke(conn, tenant_id, permission_id, revision=revision)
        if permission is None:  # the row is locked and was not revoked
            raise not_found("permission", permission_id)
        await write_event(
            conn,
            tenant_id=tenant_id,
            event_type="permission.revoked",
            revision=revision,
            subject=permission,
        )
        return Outcome(permission)

    return await change(db, revoke)


async def get_permission(db: Db, tenant_id: str, permission_id: str) -> resources_pb2.Permission:
    permission = await permissions.get(db.pool, tenant_id, permission_id)
    if permission is None:
        raise not_found("permission", permission_id)
    return permission


async def list_permissions(
    db: Db,
    tenant_id: str,
    *,
    agent_id: str | None,
    include_inactive: bool,
    page: PageRequest[resources_pb2.Permission],
) -> tuple[list[resources_pb2.Permission], str]:
    rows = await permissions.list_page(
        db.pool,
        tenant_id,
        agent_id=agent_id,
        include_inactive=include_inactive,
        after=page.cursor,
        limit=page.fetch,
    )
    return page.split(rows)


async def passport_contents(db: Db, tenant_id: str, agent_id: str) -> PassportContents:
    """The agent and its permissions in force, in one consistent, read-only snapshot. A
    disabled agent, or one in test mode, may do nothing: none of its lines is in force."""
    async with (
        db.pool.acquire() as conn,
        conn.transaction(isolation="repeatable_read", readonly=True),
    ):
        agent = await agents.get(conn, tenant_id, agent_id)
        if agent is None:
            raise not_found("agent", agent_id)
        enforced = not agent.disabled and agent.mode != resources_pb2.AGENT_MODE_TEST
        active = await permissions.active_for_agent(conn, tenant_id, agent_id) if enforced else []
        revision = await current_revision(conn)
    return PassportContents(agent, active, revision)
