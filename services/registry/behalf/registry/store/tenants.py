"""Tenants and their API keys."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from behalf.common.callers import KeyScope, Role
from behalf.registry.store._rows import Executor, one, set_time
from behalf.registry.store.outbox import CARRIES_A_REVISION
from behalf.registry.store.paging import Cursor
from behalf.registry.store.values import StoredKey
from behalf.v1 import resources_pb2


def to_tenant(row: asyncpg.Record) -> resources_pb2.Tenant:
    tenant = resources_pb2.Tenant(tenant_id=row["tenant_id"], name=row["name"])
    set_time(tenant.create_time, row["created_at"])
    return tenant


def to_api_key(row: asyncpg.Record) -> resources_pb2.ApiKey:
    key = resources_pb2.ApiKey(
        key_id=row["key_id"],
        tenant_id=row["tenant_id"],
        name=row["name"],
        role=Role(row["role"]).to_proto(),
        display_prefix=row["display_prefix"],
        test_mode_only=row["test_mode_only"],
        agent_id=row["agent_id"] or "",
    )
    set_time(key.create_time, row["created_at"])
    set_time(key.revoke_time, row["revoked_at"])
    return key


async def insert_tenant(conn: Executor, tenant_id: str, name: str) -> resources_pb2.Tenant:
    row = await conn.fetchrow(
        "INSERT INTO tenants (tenant_id, name) VALUES ($1, $2) RETURNING *", tenant_id, name
    )
    return to_tenant(one(row))


async def latest_revision(conn: Executor, tenant_id: str) -> int:
    """The last policy revision that changed this tenant (0 if none did)."""
    revision: int = await conn.fetchval(
        f"""SELECT coalesce(max(revision), 0) FROM outbox
            WHERE tenant_id = $1 AND {CARRIES_A_REVISION}""",
        tenant_id,
    )
    return revision


async def get_tenant(conn: Executor, tenant_id: str) -> resources_pb2.Tenant | None:
    row = await conn.fetchrow("SELECT * FROM tenants WHERE tenant_id = $1", tenant_id)
    return to_tenant(row) if row else None


async def insert_key(
    conn: Executor,
    *,
    key_id: str,
    tenant_id: str,
    name: str,
    role: Role,
    display_prefix: str,
    secret_hash: bytes,
    test_mode_only: bool = False,
    agent_id: str | None = None,
) -> resources_pb2.ApiKey:
    row = await conn.fetchrow(
        """INSERT INTO api_keys (key_id, tenant_id, name, role, display_prefix, secret_hash,
               test_mode_only, agent_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *""",
        key_id,
        tenant_id,
        name,
        role.value,
        display_prefix,
        secret_hash,
        test_mode_only,
        agent_id,
    )
    return to_api_key(one(row))


async def find_key(conn: Executor, secret_hash: bytes) -> StoredKey | None:
    """The unrevoked key with this hash."""
    row = await conn.fetchrow(
        """SELECT key_id, tenant_id, role, secret_hash, test_mode_only, agent_id FROM api_keys
           WHERE secret_hash = $1 AND revoked_at IS NULL""",
        secret_hash,
    )
    if row is None:
        return None
    return StoredKey(
        row["key_id"],
        row["tenant_id"],
        Role(row["role"]),
        bytes(row["secret_hash"]),
        KeyScope(test_mode_only=row["test_mode_only"], agent_id=row["agent_id"]),
    )


async def list_keys(
    conn: Executor, tenant_id: str, *, after: Cursor | None, limit: int
) -> list[tuple[resources_pb2.ApiKey, datetime]]:
    rows = await conn.fetch(
        """SELECT * FROM api_keys WHERE tenant_id = $1
             AND ($2::timestamptz IS NULL OR (created_at, key_id) > ($2, $3))
           ORDER BY created_at, key_id LIMIT $4""",
        tenant_id,
        after.created_at if after else None,
        after.row_id if after else "",
        limit,
    )
    return [(to_api_key(r), r["created_at"]) for r in rows]


async def revoke_key(conn: Executor, tenant_id: str, key_id: str) -> resources_pb2.ApiKey | None:
    """Revoke an unrevoked key; None if the tenant has no such key or it is revoked already."""
    row = await conn.fetchrow(
        """UPDATE api_keys SET revoked_at = now()
           WHERE tenant_id = $1 AND key_id = $2 AND revoked_at IS NULL RETURNING *""",
        tenant_id,
        key_id,
    )
    return to_api_key(row) if row else None


async def revoke_keys_bound_to(
    conn: Executor, tenant_id: str, agent_id: str
) -> list[resources_pb2.ApiKey]:
    """Revoke every unrevoked key bound to the agent."""
    rows = await conn.fetch(
        """UPDATE api_keys SET revoked_at = now()
           WHERE tenant_id = $1 AND agent_id = $2 AND revoked_at IS NULL RETURNING *""",
        tenant_id,
        agent_id,
    )
    return [to_api_key(row) for row in rows]


async def get_key(conn: Executor, tenant_id: str, key_id: str) -> resources_pb2.ApiKey | None:
    row = await conn.fetchrow(
        "SELECT * FROM api_keys WHERE tenant_id = $1 AND key_id = $2", tenant_id, key_id
    )
    return to_api_key(row) if row else None
