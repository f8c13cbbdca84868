"""Recording a committed change: bump the policy revision and write its outbox row, in one txn."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from behalf.common.ids import new_id
from behalf.v1 import events_pb2, resources_pb2

Subject = (
    resources_pb2.ApiKey
    | resources_pb2.Agent
    | resources_pb2.Permission
    | resources_pb2.Approval
    | resources_pb2.WebhookEndpoint
)

_SUBJECT_FIELD = {
    resources_pb2.ApiKey: "api_key",
    resources_pb2.Agent: "agent",
    resources_pb2.Permission: "permission",
    resources_pb2.Approval: "approval",
    resources_pb2.WebhookEndpoint: "endpoint",
}


async def next_revision(conn: asyncpg.Connection) -> int:
    """Take the next global policy revision. Holds the row lock until the transaction ends, so
    revisions (and outbox seqs) are in commit order. Call inside a transaction."""
    revision: int = await conn.fetchval(
        "UPDATE policy_revision SET revision = revision + 1 RETURNING revision"
    )
    return revision


async def current_revision(conn: asyncpg.Connection | asyncpg.Pool) -> int:
    """The latest committed policy revision."""
    revision: int = await conn.fetchval("SELECT revision FROM policy_revision")
    return revision


async def write_event(
    conn: asyncpg.Connection,
    *,
    tenant_id: str,
    event_type: str,
    revision: int,
    subject: Subject,
) -> events_pb2.LifecycleEvent:
    """Append one lifecycle event to the outbox at `revision` (already taken in this txn)."""
    event = events_pb2.LifecycleEvent(
        event_id=new_id("evt"), tenant_id=tenant_id, type=event_type, revision=revision
    )
    event.occur_time.FromDatetime(datetime.now(UTC))
    getattr(event, _SUBJECT_FIELD[type(subject)]).CopyFrom(subject)
    await conn.execute(
        """INSERT INTO outbox (event_id, tenant_id, event_type, revision, payload)
           VALUES ($1, $2, $3, $4, $5)""",
        event.event_id,
        tenant_id,
        event_type,
        revision,
        event.SerializeToString(),
    )
    return event
