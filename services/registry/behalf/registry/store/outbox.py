"""The outbox: lifecycle events written in the transaction of their change, relayed later."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg

from behalf.common.ids import new_id
from behalf.registry.store._rows import Connection
from behalf.v1 import events_pb2, resources_pb2

# Rows that took a policy revision of their own. `approval.requested` rows are stamped with the
# revision current when they were written (creating an approval changes no policy and takes no
# revision), so readers that follow revisions skip them.
CARRIES_A_REVISION = "event_type <> 'approval.requested'"

# Woken by a trigger on every insert (see the migrations).
NOTIFY_CHANNEL = "behalf_outbox"

Subject = (
    resources_pb2.ApiKey
    | resources_pb2.Agent
    | resources_pb2.Permission
    | resources_pb2.Approval
    | resources_pb2.WebhookEndpoint
)

_SUBJECT_FIELD: dict[type[Subject], str] = {
    resources_pb2.ApiKey: "api_key",
    resources_pb2.Agent: "agent",
    resources_pb2.Permission: "permission",
    resources_pb2.Approval: "approval",
    resources_pb2.WebhookEndpoint: "endpoint",
}


async def write_event(
    conn: Connection,
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


async def try_lock(conn: Connection, key: int) -> bool:
    """Take the session advisory lock `key` if nobody holds it."""
    return bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", key))


async def unlock(conn: Connection, key: int) -> None:
    await conn.execute("SELECT pg_advisory_unlock($1)", key)


async def unpublished(conn: Connection, limit: int) -> list[asyncpg.Record]:
    """The oldest rows not yet published, in seq order."""
    return await conn.fetch(
        """SELECT seq, event_id, tenant_id, event_type, payload FROM outbox
           WHERE published_at IS NULL ORDER BY seq LIMIT $1""",
        limit,
    )


async def mark_published(conn: Connection, seqs: Sequence[int]) -> None:
    await conn.execute(
        "UPDATE outbox SET published_at = now() WHERE seq = ANY($1::bigint[])", list(seqs)
    )
