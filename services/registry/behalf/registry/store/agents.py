"""Agents: acting identities; deleted ones are kept (soft delete) but never returned."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime

import asyncpg

from behalf.registry.store._rows import Executor, one, set_time
from behalf.registry.store.paging import Cursor
from behalf.v1 import resources_pb2

_KIND_TO_DB: dict[int, str] = {
    resources_pb2.AGENT_KIND_NATIVE: "native",
    resources_pb2.AGENT_KIND_EXTERNAL: "external",
}
_KIND_FROM_DB: dict[str, resources_pb2.AgentKind] = {
    "native": resources_pb2.AGENT_KIND_NATIVE,
    "external": resources_pb2.AGENT_KIND_EXTERNAL,
}
MODE_TO_DB: dict[int, str] = {
    resources_pb2.AGENT_MODE_ENFORCED: "enforced",
    resources_pb2.AGENT_MODE_TEST: "test",
}
_MODE_FROM_DB: dict[str, resources_pb2.AgentMode] = {
    "enforced": resources_pb2.AGENT_MODE_ENFORCED,
    "test": resources_pb2.AGENT_MODE_TEST,
}


def to_agent(row: asyncpg.Record) -> resources_pb2.Agent:
    agent = resources_pb2.Agent(
        agent_id=row["agent_id"],
        tenant_id=row["tenant_id"],
        name=row["name"],
        kind=_KIND_FROM_DB[row["kind"]],
        description=row["description"],
        labels=json.loads(row["labels"]),
        disabled=row["disabled"],
        revision=row["revision"],
        mode=_MODE_FROM_DB[row["mode"]],
    )
    set_time(agent.create_time, row["created_at"])
    set_time(agent.update_time, row["updated_at"])
    return agent


async def insert(
    conn: Executor,
    *,
    agent_id: str,
    tenant_id: str,
    name: str,
    kind: int,
    description: str,
    labels: Mapping[str, str],
    revision: int,
    mode: int = resources_pb2.AGENT_MODE_ENFORCED,
) -> resources_pb2.Agent:
    row = await conn.fetchrow(
        """INSERT INTO agents
               (agent_id, tenant_id, name, kind, description, labels, revision, mode)
           VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8) RETURNING *""",
        agent_id,
        tenant_id,
        name,
        _KIND_TO_DB[kind],
        description,
        json.dumps(dict(labels)),
        revision,
        MODE_TO_DB[mode],
    )
    return to_agent(one(row))


async def get(
    conn: Executor, tenant_id: str, agent_id: str, *, for_update: bool = False
) -> resources_pb2.Agent | None:
    """The tenant's live (not deleted) agent; another tenant's id gives None, like a missing one."""
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(
        "SELECT * FROM agents WHERE tenant_id = $1 AND agent_id = $2 AND deleted_at IS NULL" + lock,
        tenant_id,
        agent_id,
    )
    return to_agent(row) if row else None


async def list_page(
    conn: Executor,
    tenant_id: str,
    *,
    kind: int | None,
    disabled: bool | None,
    labels: Mapping[str, str],
    after: Cursor | None,
    limit: int,
) -> list[tuple[resources_pb2.Agent, datetime]]:
    """Oldest first, after the cursor."""
    rows = await conn.fetch(
        """SELECT * FROM agents
           WHERE tenant_id = $1 AND deleted_at IS NULL
             AND ($2::text IS NULL OR kind = $2)
             AND ($3::boolean IS NULL OR disabled = $3)
             AND labels @> $4::jsonb
             AND ($5::timestamptz IS NULL OR (created_at, agent_id) > ($5, $6))
           ORDER BY created_at, agent_id LIMIT $7""",
        tenant_id,
        _KIND_TO_DB[kind] if kind is not None else None,
        disabled,
        json.dumps(dict(labels)),
        after.created_at if after else None,
        after.row_id if after else "",
        limit,
    )
    return [(to_agent(r), r["created_at"]) for r in rows]


async def set_disabled(
    conn: Executor, tenant_id: str, agent_id: str, *, disabled: bool, revision: int
) -> resources_pb2.Agent | None:
    row = await conn.fetchrow(
        """UPDATE agents SET disabled = $3, revision = $4, updated_at = now()
           WHERE tenant_id = $1 AND agent_id = $2 AND deleted_at IS NULL RETURNING *""",
        tenant_id,
        agent_id,
        disabled,
        revision,
    )
    return to_agent(row) if row else None


async def update(
    conn: Executor,
    tenant_id: str,
    agent_id: str,
    *,
    mode: int,
    description: str,
    labels: Mapping[str, str],
    revision: int,
) -> resources_pb2.Agent | None:
    row = await conn.fetchrow(
        """UPDATE agents SET mode = $3, description = $4, labels = $5::jsonb, revision = $6,
                             updated_at = now()
           WHERE tenant_id = $1 AND agent_id = $2 AND deleted_at IS NULL RETURNING *""",
        tenant_id,
        agent_id,
        MODE_TO_DB[mode],
        description,
        json.dumps(dict(labels)),
        revision,
    )
    return to_agent(row) if row else None


async def mark_deleted(
    conn: Executor, tenant_id: str, agent_id: str, *, revision: int
) -> resources_pb2.Agent | None:
    row = await conn.fetchrow(
        """UPDATE agents SET deleted_at = now(), updated_at = now(), revision = $3
           WHERE tenant_id = $1 AND agent_id = $2 AND deleted_at IS NULL RETURNING *""",
        tenant_id,
        agent_id,
        revision,
    )
    return to_agent(row) if row else None
