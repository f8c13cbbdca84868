"""What the policy watch reads: outbox rows by revision, key credentials, and the whole policy
at one revision (agents, permissions and keys, from one REPEATABLE READ read-only transaction)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
from google.protobuf.timestamp_pb2 import Timestamp

from behalf.common.callers import Role
from behalf.registry.store._rows import Connection, set_money
from behalf.registry.store.agents import to_agent
from behalf.registry.store.outbox import CARRIES_A_REVISION
from behalf.registry.store.permissions import CATEGORY_FROM_DB
from behalf.registry.store.revisions import current_revision
from behalf.v1 import common_pb2, internal_pb2, resources_pb2

_KEY_COLUMNS = "key_id, tenant_id, role, secret_hash, revoked_at, test_mode_only, agent_id"
_OUTBOX_COLUMNS = "revision, tenant_id, event_type, payload"
# A snapshot's permissions are all unrevoked; times come as integer microseconds since the
# epoch, which skips a datetime per timestamp (the registry streams a million of these).
_SNAPSHOT_PERMISSION_COLUMNS = """permission_id, tenant_id, agent_id, allowed_actions,
    blocked_actions, resources, max_amount_minor, max_amount_currency, budget_minor,
    budget_currency, budget_spent_minor, requires_approval, template_name, template_version,
    category, revision,
    (extract(epoch FROM not_before) * 1000000)::bigint AS not_before_us,
    (extract(epoch FROM expires_at) * 1000000)::bigint AS expires_at_us,
    (extract(epoch FROM created_at) * 1000000)::bigint AS created_at_us"""

PolicyItem = resources_pb2.Agent | resources_pb2.Permission | internal_pb2.ApiKeyCredential


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One outbox row that took a policy revision."""

    revision: int
    tenant_id: str
    event_type: str
    payload: bytes


@dataclass(frozen=True)
class PolicySnapshot:
    """The policy at `revision`: agents, then permissions, then keys, each in id order."""

    revision: int
    items: AsyncIterator[PolicyItem]


def to_credential(row: asyncpg.Record) -> internal_pb2.ApiKeyCredential:
    """What a verifier needs to authenticate a key: its digest, never the key."""
    return internal_pb2.ApiKeyCredential(
        key_id=row["key_id"],
        tenant_id=row["tenant_id"],
        role=Role(row["role"]).to_proto(),
        secret_sha256=bytes(row["secret_hash"]),
        revoked=row["revoked_at"] is not None,
        test_mode_only=row["test_mode_only"],
        agent_id=row["agent_id"] or "",
    )


def snapshot_permission(row: asyncpg.Record) -> resources_pb2.Permission:
    """An unrevoked permission row of a snapshot read: what `to_permission` makes of it."""
    permission = resources_pb2.Permission(
        permission_id=row["permission_id"],
        tenant_id=row["tenant_id"],
        agent_id=row["agent_id"],
        allowed_actions=row["allowed_actions"],
        blocked_actions=row["blocked_actions"],
        resources=row["resources"],
        budget_spent_minor=row["budget_spent_minor"],
        requires_approval=row["requires_approval"],
        template_name=row["template_name"],
        template_version=row["template_version"],
        category=CATEGORY_FROM_DB.get(row["category"], common_pb2.ACTION_CATEGORY_UNSPECIFIED),
        revision=row["revision"],
    )
    set_money(permission.max_amount, row["max_amount_minor"], row["max_amount_currency"])
    set_money(permission.budget, row["budget_minor"], row["budget_currency"])
    _set_micros(permission.not_before, row["not_before_us"])
    _set_micros(permission.expires_at, row["expires_at_us"])
    _set_micros(permission.create_time, row["created_at_us"])
    return permission


def _set_micros(target: Timestamp, micros: int | None) -> None:
    if micros is not None:
        target.seconds, fraction = divmod(micros, 1_000_000)
        target.nanos = fraction * 1000


def _entry(row: asyncpg.Record) -> OutboxEntry:
    return OutboxEntry(row["revision"], row["tenant_id"], row["event_type"], row["payload"])


async def outbox_after(
    conn: Connection, revision: int, limit: int
) -> tuple[list[OutboxEntry], bool]:
    """Outbox rows past `revision`, in (revision, seq) order and whole revisions only, and
    whether more may follow. One revision larger than `limit` is read whole on its own."""
    rows = await conn.fetch(
        f"""SELECT {_OUTBOX_COLUMNS} FROM outbox
           WHERE revision > $1 AND {CARRIES_A_REVISION}
           ORDER BY revision, seq LIMIT $2""",
        revision,
        limit,
    )
    full = len(rows) == limit
    if full:
        last = rows[-1]["revision"]
        whole = [r for r in rows if r["revision"] != last]
        rows = whole or await conn.fetch(
            f"""SELECT {_OUTBOX_COLUMNS} FROM outbox
               WHERE revision = $1 AND {CARRIES_A_REVISION} ORDER BY seq""",
            last,
        )
    return [_entry(row) for row in rows], full


async def credentials(
    conn: Connection, key_ids: Iterable[str]
) -> dict[str, internal_pb2.ApiKeyCredential]:
    """The current credentials of these keys, by key id (unknown ids are left out)."""
    wanted = list(key_ids)
    if not wanted:
        return {}
    found = await conn.fetch(
        f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE key_id = ANY($1::text[])", wanted
    )
    return {row["key_id"]: to_credential(row) for row in found}


@asynccontextmanager
async def snapshot(pool: asyncpg.Pool, prefetch: int) -> AsyncIterator[PolicySnapshot]:
    """The whole policy at one revision; its items are read while the context is open."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        yield PolicySnapshot(await current_revision(conn), _items(conn, prefetch))


async def _items(conn: Connection, prefetch: int) -> AsyncIterator[PolicyItem]:
    async for row in conn.cursor(
        "SELECT * FROM agents WHERE deleted_at IS NULL ORDER BY agent_id", prefetch=prefetch
    ):
        yield to_agent(row)
    async for row in conn.cursor(
        f"""SELECT {_SNAPSHOT_PERMISSION_COLUMNS} FROM permissions
            WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
              AND EXISTS (SELECT 1 FROM agents a
                          WHERE a.agent_id = permissions.agent_id
                            AND a.deleted_at IS NULL)
            ORDER BY permission_id""",
        prefetch=prefetch,
    ):
        yield snapshot_permission(row)
    async for row in conn.cursor(
        f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE revoked_at IS NULL ORDER BY key_id",
        prefetch=prefetch,
    ):
        yield to_credential(row)
