"""Permissions: the lines of an agent's passport."""

from __future__ import annotations

from datetime import datetime
from typing import cast

import asyncpg

from behalf.registry.store._rows import Executor, one, set_money, set_time
from behalf.registry.store.paging import Cursor
from behalf.registry.store.values import GrantSpec
from behalf.v1 import common_pb2, resources_pb2

# The database spelling of each category (policy_reads converts snapshot rows with it too).
# The stubs type an enum's items() as plain ints; they are the enum's values.
CATEGORY_FROM_DB: dict[str, common_pb2.ActionCategory] = {
    name.removeprefix("ACTION_CATEGORY_").lower(): cast("common_pb2.ActionCategory", value)
    for name, value in common_pb2.ActionCategory.items()
    if value != common_pb2.ACTION_CATEGORY_UNSPECIFIED
}
_CATEGORY_TO_DB: dict[int, str] = {v: k for k, v in CATEGORY_FROM_DB.items()}

_ACTIVE = "revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())"


def grant_in_force(tenant_id: str, permission_id: str, agent_id: str | None = None) -> str:
    """SQL that is true while a permission applies, by the database's clock: not revoked,
    inside its not_before/expires_at window, and its agent (`agent_id`, if given) enabled, not
    deleted and enforced (an agent in test mode authorizes nothing). The arguments are SQL
    expressions, such as placeholders. A verifier decides from a snapshot that may be a moment
    behind, so the stateful steps (a budget spent, an approval consumed) check this again where
    they take effect."""
    same_agent = f" AND p.agent_id = {agent_id}" if agent_id is not None else ""
    return f"""EXISTS (SELECT 1 FROM permissions p JOIN agents a USING (agent_id)
    WHERE p.tenant_id = {tenant_id} AND p.permission_id = {permission_id}{same_agent}
      AND p.revoked_at IS NULL AND (p.expires_at IS NULL OR p.expires_at > now())
      AND (p.not_before IS NULL OR p.not_before <= now())
      AND NOT a.disabled AND a.deleted_at IS NULL AND a.mode = 'enforced')"""


def to_permission(row: asyncpg.Record) -> resources_pb2.Permission:
    permission = resources_pb2.Permission(
        permission_id=row["permission_id"],
        tenant_id=row["tenant_id"],
        agent_id=row["agent_id"],
        allowed_actions=row["allowed_actions"],
        blocked_actions=row["blocked_actions"],
        resources=row["resources"],
        budget_spent_minor=row["budget_spent_minor"],
        requires_approval=row["requires_approval"],
        revoked=row["revoked_at"] is not None,
        template_name=row["template_name"],
        template_version=row["template_version"],
        category=CATEGORY_FROM_DB.get(row["category"], common_pb2.ACTION_CATEGORY_UNSPECIFIED),
        revision=row["revision"],
    )
    set_money(permission.max_amount, row["max_amount_minor"], row["max_amount_currency"])
    set_money(permission.budget, row["budget_minor"], row["budget_currency"])
    set_time(permission.not_before, row["not_before"])
    set_time(permission.expires_at, row["expires_at"])
    set_time(permission.revoke_time, row["revoked_at"])
    set_time(permission.create_time, row["created_at"])
    return permission


async def insert(
    conn: Executor, *, permission_id: str, tenant_id: str, spec: GrantSpec, revision: int
) -> resources_pb2.Permission:
    row = await conn.fetchrow(
        """INSERT INTO permissions (
               permission_id, tenant_id, agent_id, allowed_actions, blocked_actions, resources,
               max_amount_minor, max_amount_currency, budget_minor, budget_currency,
               not_before, expires_at, requires_approval, template_name, template_version,
               category, revision)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
           RETURNING *""",
        permission_id,
        tenant_id,
        spec.agent_id,
        list(spec.allowed_actions),
        list(spec.blocked_actions),
        list(spec.resources),
        spec.max_amount.amount_minor if spec.max_amount else None,
        spec.max_amount.currency if spec.max_amount else None,
        spec.budget.amount_minor if spec.budget else None,
        spec.budget.currency if spec.budget else None,
        spec.not_before,
        spec.expires_at,
        spec.requires_approval,
        spec.template_name,
        spec.template_version,
        _CATEGORY_TO_DB.get(spec.category, ""),
        revision,
    )
    return to_permission(one(row))


async def get(
    conn: Executor, tenant_id: str, permission_id: str, *, for_update: bool = False
) -> resources_pb2.Permission | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(
        "SELECT * FROM permissions WHERE tenant_id = $1 AND permission_id = $2" + lock,
        tenant_id,
        permission_id,
    )
    return to_permission(row) if row else None


async def list_page(
    conn: Executor,
    tenant_id: str,
    *,
    agent_id: str | None,
    include_inactive: bool,
    after: Cursor | None,
    limit: int,
) -> list[tuple[resources_pb2.Permission, datetime]]:
    """Oldest first, after the cursor."""
    rows = await conn.fetch(
        f"""SELECT * FROM permissions
            WHERE tenant_id = $1
              AND ($2::text IS NULL OR agent_id = $2)
              AND ($3 OR ({_ACTIVE}))
              AND ($4::timestamptz IS NULL OR (created_at, permission_id) > ($4, $5))
            ORDER BY created_at, permission_id LIMIT $6""",
        tenant_id,
        agent_id,
        include_inactive,
        after.created_at if after else None,
        after.row_id if after else "",
        limit,
    )
    return [(to_permission(r), r["created_at"]) for r in rows]


async def active_for_agent(
    conn: Executor, tenant_id: str, agent_id: str
) -> list[resources_pb2.Permission]:
    rows = await conn.fetch(
        f"""SELECT * FROM permissions WHERE tenant_id = $1 AND agent_id = $2 AND {_ACTIVE}
            ORDER BY created_at, permission_id""",
        tenant_id,
        agent_id,
    )
    return [to_permission(r) for r in rows]


async def revoke(
    conn: Executor, tenant_id: str, permission_id: str, *, revision: int
) -> resources_pb2.Permission | None:
    """Revoke an unrevoked permission; None if there is none to revoke."""
    row = await conn.fetchrow(
        """UPDATE permissions SET revoked_at = now(), revision = $3
           WHERE tenant_id = $1 AND permission_id = $2 AND revoked_at IS NULL RETURNING *""",
        tenant_id,
        permission_id,
        revision,
    )
    return to_permission(row) if row else None


async def revoke_all_for_agent(
    conn: Executor, tenant_id: str, agent_id: str, *, revision: int
) -> list[resources_pb2.Permission]:
    rows = await conn.fetch(
        """UPDATE permissions SET revoked_at = now(), revision = $3
           WHERE tenant_id = $1 AND agent_id = $2 AND revoked_at IS NULL RETURNING *""",
        tenant_id,
        agent_id,
        revision,
    )
    return sorted((to_permission(r) for r in rows), key=lambda p: p.permission_id)
