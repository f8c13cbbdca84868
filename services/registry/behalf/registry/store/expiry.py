"""Expiry: permissions and approvals whose time has passed, claimed a batch at a time."""

from __future__ import annotations

from behalf.registry.store._rows import Connection, Executor
from behalf.registry.store.approvals import to_approval
from behalf.registry.store.permissions import to_permission
from behalf.v1 import resources_pb2

BATCH = 100

_PERMISSIONS_DUE = """
    NOT expiry_emitted AND revoked_at IS NULL AND expires_at IS NOT NULL AND expires_at <= now()
"""
_APPROVALS_DUE = "state IN ('pending', 'approved') AND expires_at <= now()"


async def permissions_due(conn: Executor) -> bool:
    """A cheap unlocked check: is any permission's expiry not yet emitted?"""
    return bool(
        await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM permissions WHERE {_PERMISSIONS_DUE})")
    )


async def approvals_due(conn: Executor) -> bool:
    """A cheap unlocked check: is any live approval past its expiry?"""
    return bool(
        await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM approvals WHERE {_APPROVALS_DUE})")
    )


async def claim_expired_permissions(
    conn: Connection, revision: int
) -> list[resources_pb2.Permission]:
    """Mark up to a batch of one tenant's due permissions emitted at `revision`, skipping rows
    another transaction holds."""
    rows = await conn.fetch(
        f"""WITH due AS (
                SELECT permission_id FROM permissions
                WHERE {_PERMISSIONS_DUE}
                  AND tenant_id = (SELECT tenant_id FROM permissions
                                   WHERE {_PERMISSIONS_DUE}
                                   ORDER BY expires_at LIMIT 1)
                ORDER BY expires_at LIMIT {BATCH}
                FOR UPDATE SKIP LOCKED)
            UPDATE permissions p SET expiry_emitted = true, revision = $1
            FROM due WHERE p.permission_id = due.permission_id
            RETURNING p.*""",
        revision,
    )
    return [to_permission(row) for row in rows]


async def claim_expired_approvals(conn: Connection) -> list[resources_pb2.Approval]:
    """Mark up to a batch of one tenant's due approvals expired, skipping rows another
    transaction holds."""
    rows = await conn.fetch(
        f"""WITH due AS (
                SELECT approval_id FROM approvals
                WHERE {_APPROVALS_DUE}
                  AND tenant_id = (SELECT tenant_id FROM approvals
                                   WHERE {_APPROVALS_DUE}
                                   ORDER BY expires_at LIMIT 1)
                ORDER BY expires_at LIMIT {BATCH}
                FOR UPDATE SKIP LOCKED)
            UPDATE approvals a SET state = 'expired'
            FROM due WHERE a.approval_id = due.approval_id
            RETURNING a.*, now() AS swept_at""",
    )
    return [to_approval(row, row["swept_at"]) for row in rows]
