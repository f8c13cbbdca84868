"""Test helpers: write policy rows the way mutations do, serve WatchPolicy, read Kafka topics."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

import asyncpg
import grpc
from aiokafka import AIOKafkaConsumer, ConsumerRecord

from behalf.common.ids import new_id
from behalf.common.interceptors import ObservabilityInterceptor
from behalf.common.kafka import EVENT_ID_HEADER
from behalf.registry.store import outbox, revisions
from behalf.registry.store.agents import to_agent
from behalf.registry.store.approvals import to_approval
from behalf.registry.store.permissions import to_permission
from behalf.registry.watch import WatchHub
from behalf.v1 import internal_pb2, internal_pb2_grpc, resources_pb2


@dataclass
class Database:
    """A test's own registry database."""

    url: str
    pool: asyncpg.Pool


# -- writing policy the way a mutation does: one txn, next revision, row + outbox event --------


async def create_tenant(pool: asyncpg.Pool) -> str:
    tenant_id = new_id("ten")
    await pool.execute("INSERT INTO tenants (tenant_id, name) VALUES ($1, $2)", tenant_id, "t")
    return tenant_id


async def create_agent(pool: asyncpg.Pool, tenant_id: str, name: str = "agent") -> tuple[str, int]:
    async with pool.acquire() as conn, conn.transaction():
        revision = await revisions.next_revision(conn)
        row = await conn.fetchrow(
            """INSERT INTO agents (agent_id, tenant_id, name, kind, labels, revision)
               VALUES ($1, $2, $3, 'native', $4::jsonb, $5) RETURNING *""",
            new_id("agt"),
            tenant_id,
            name,
            json.dumps({"team": "qa"}),
            revision,
        )
        await outbox.write_event(
            conn,
            tenant_id=tenant_id,
            event_type="agent.created",
            revision=revision,
            subject=to_agent(row),
        )
    return row["agent_id"], revision


async def set_disabled(pool: asyncpg.Pool, agent_id: str, disabled: bool) -> int:
    async with pool.acquire() as conn, conn.transaction():
        revision = await revisions.next_revision(conn)
        row = await conn.fetchrow(
            """UPDATE agents SET disabled = $2, revision = $3, updated_at = now()
               WHERE agent_id = $1 RETURNING *""",
            agent_id,
            disabled,
            revision,
        )
        await outbox.write_event(
            conn,
            tenant_id=row["tenant_id"],
            event_type="agent.disabled" if disabled else "agent.enabled",
            revision=revision,
            subject=to_agent(row),
        )
    return revision


async def delete_agent(pool: asyncpg.Pool, agent_id: str) -> int:
    async with pool.acquire() as conn, conn.transaction():
        revision = await revisions.next_revision(conn)
        row = await conn.fetchrow(
            """UPDATE agents SET deleted_at = now(), revision = $2 WHERE agent_id = $1
               RETURNING *""",
            agent_id,
            revision,
        )
        await outbox.write_event(
            conn,
            tenant_id=row["tenant_id"],
            event_type="agent.deleted",
            revision=revision,
            subject=to_agent(row),
        )
    return revision


async def grant(
    pool: asyncpg.Pool,
    tenant_id: str,
    agent_id: str,
    *,
    expires_in: timedelta | None = None,
    revoked: bool = False,
) -> tuple[str, int]:
    async with pool.acquire() as conn, conn.transaction():
        revision = await revisions.next_revision(conn)
        row = await conn.fetchrow(
            """INSERT INTO permissions (permission_id, tenant_id, agent_id, allowed_actions,
                   resources, max_amount_minor, max_amount_currency, expires_at, revoked_at,
                   category, revision)
               VALUES ($1, $2, $3, '{purchase}', '{shop.example.com}', 500, 'USD',
                       now() + $4::interval, CASE WHEN $5 THEN now() END, 'transactions', $6)
               RETURNING *""",
            new_id("prm"),
            tenant_id,
            agent_id,
            expires_in,
            revoked,
            revision,
        )
        await outbox.write_event(
            conn,
            tenant_id=tenant_id,
            event_type="permission.granted",
            revision=revision,
            subject=to_permission(row),
        )
    return row["permission_id"], revision


async def create_approval(
    pool: asyncpg.Pool, tenant_id: str, agent_id: str, *, state: str, expires_in: timedelta
) -> str:
    """Like CreateApproval: no revision of its own, its event stamped with the current one."""
    async with pool.acquire() as conn, conn.transaction():
        revision = await revisions.current_revision(conn)
        row = await conn.fetchrow(
            """INSERT INTO approvals (approval_id, tenant_id, agent_id, action, resource,
                   permission_id, state, request_id, expires_at)
               VALUES ($1, $2, $3, 'purchase', 'shop.example.com', 'prm_x', $4, $5,
                       now() + $6::interval)
               RETURNING *, now() AS at""",
            new_id("apr"),
            tenant_id,
            agent_id,
            state,
            new_id("req"),
            expires_in,
        )
        await outbox.write_event(
            conn,
            tenant_id=tenant_id,
            event_type="approval.requested",
            revision=revision,
            subject=to_approval(row, row["at"]),
        )
    return row["approval_id"]


async def resolve_approval(pool: asyncpg.Pool, tenant_id: str, approval_id: str) -> int:
    """Like ResolveApproval: approve at a new revision (no policy change); returns it."""
    async with pool.acquire() as conn, conn.transaction():
        revision = await revisions.next_revision(conn)
        row = await conn.fetchrow(
            """UPDATE approvals SET state = 'approved', resolved_at = now(), resolved_by = 'a'
               WHERE approval_id = $1 RETURNING *, now() AS at""",
            approval_id,
        )
        await outbox.write_event(
            conn,
            tenant_id=tenant_id,
            event_type="approval.resolved",
            revision=revision,
            subject=to_approval(row, row["at"]),
        )
    return revision


async def outbox_rows(pool: asyncpg.Pool, event_type: str | None = None) -> list[asyncpg.Record]:
    return await pool.fetch(
        """SELECT seq, event_id, tenant_id, event_type, revision, payload, published_at
           FROM outbox WHERE $1::text IS NULL OR event_type = $1 ORDER BY seq""",
        event_type,
    )


# -- a real gRPC server and client for WatchPolicy ---------------------------------------------


class WatchOnlyServicer(internal_pb2_grpc.RegistryInternalServiceServicer):
    """RegistryInternalService with only WatchPolicy, delegated to a WatchHub."""

    def __init__(self, hub: WatchHub) -> None:
        self.hub = hub

    async def WatchPolicy(self, request_iterator, context):
        async for response in self.hub.serve(request_iterator, context):
            yield response


@contextlib.asynccontextmanager
async def watch_server(hub: WatchHub) -> AsyncIterator[str]:
    """Serve the hub on a free port of 127.0.0.1; yield the target address."""
    server = grpc.aio.server(interceptors=[ObservabilityInterceptor("registry")])
    internal_pb2_grpc.add_RegistryInternalServiceServicer_to_server(WatchOnlyServicer(hub), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(grace=None)


@dataclass
class Snapshot:
    revision: int
    chunks: int
    agents: dict[str, resources_pb2.Agent] = field(default_factory=dict)
    permissions: dict[str, resources_pb2.Permission] = field(default_factory=dict)


class WatchClient:
    """A verifier's side of WatchPolicy: sends hello and acks, reads what the registry sends."""

    def __init__(
        self, target: str, verifier_id: str = "verifier-test", *, accepts_delta_parts: bool = False
    ) -> None:
        self._channel = grpc.aio.insecure_channel(target)
        self._outgoing: asyncio.Queue[internal_pb2.WatchPolicyRequest | None] = asyncio.Queue()
        hello = internal_pb2.WatchHello(
            verifier_id=verifier_id, accepts_delta_parts=accepts_delta_parts
        )
        self._outgoing.put_nowait(internal_pb2.WatchPolicyRequest(hello=hello))
        stub = internal_pb2_grpc.RegistryInternalServiceStub(self._channel)
        self.call = stub.WatchPolicy(self._requests())

    async def _requests(self) -> AsyncIterator[internal_pb2.WatchPolicyRequest]:
        while (request := await self._outgoing.get()) is not None:
            yield request

    def ack(self, revision: int) -> None:
        self._outgoing.put_nowait(
            internal_pb2.WatchPolicyRequest(ack=internal_pb2.WatchAck(revision=revision))
        )

    async def read(self, seconds: float = 10.0) -> internal_pb2.WatchPolicyResponse:
        message = await asyncio.wait_for(self.call.read(), seconds)
        assert message is not grpc.aio.EOF, "stream ended"
        return message

    async def read_snapshot(self, seconds: float = 10.0) -> Snapshot:
        snapshot: Snapshot | None = None
        while True:
            message = await self.read(seconds)
            assert message.WhichOneof("message") == "snapshot_chunk", message
            chunk = message.snapshot_chunk
            if snapshot is None:
                snapshot = Snapshot(revision=chunk.revision, chunks=0)
            assert chunk.revision == snapshot.revision
            snapshot.chunks += 1
            snapshot.agents.update({a.agent_id: a for a in chunk.agents})
            snapshot.permissions.update({p.permission_id: p for p in chunk.permissions})
            if chunk.last:
                return snapshot

    async def next_delta(self, seconds: float = 10.0) -> internal_pb2.PolicyDelta:
        """The next delta, skipping heartbeats."""
        deadline = time.monotonic() + seconds
        while True:
            message = await self.read(max(0.01, deadline - time.monotonic()))
            if message.WhichOneof("message") == "delta":
                return message.delta

    async def close(self) -> None:
        self._outgoing.put_nowait(None)
        self.call.cancel()
        await self._channel.close()


# -- reading a whole topic back ------------------------------------------------------------------


async def read_topic(
    bootstrap: str, topic: str, *, until_event_ids: set[str], seconds: float = 60.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of `topic` from the start, in partition order, once all ids were seen."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        records: list[ConsumerRecord[bytes, bytes]] = []
        seen: set[str] = set()
        deadline = time.monotonic() + seconds
        while not until_event_ids <= seen:
            assert time.monotonic() < deadline, f"missing {len(until_event_ids - seen)} events"
            batches = await consumer.getmany(timeout_ms=500)
            for batch in batches.values():
                for record in batch:
                    records.append(record)
                    seen.add(dict(record.headers)[EVENT_ID_HEADER].decode())
        return records
    finally:
        await consumer.stop()


def header(record: ConsumerRecord[bytes, bytes], name: str) -> str:
    return dict(record.headers)[name].decode()


async def wait_until(predicate, seconds: float = 30.0, interval: float = 0.05) -> None:
    """Poll an async predicate until it is true."""
    deadline = time.monotonic() + seconds
    while not await predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(interval)


def ago(seconds: float) -> timedelta:
    return timedelta(seconds=-seconds)


async def revoke_all(pool: asyncpg.Pool, agent_id: str) -> int:
    """Revoke every live permission of an agent at one revision (as deleting the agent does)."""
    async with pool.acquire() as conn, conn.transaction():
        revision = await revisions.next_revision(conn)
        rows = await conn.fetch(
            """UPDATE permissions SET revoked_at = now(), revision = $2
               WHERE agent_id = $1 AND revoked_at IS NULL RETURNING *""",
            agent_id,
            revision,
        )
        for row in rows:
            await outbox.write_event(
                conn,
                tenant_id=row["tenant_id"],
                event_type="permission.revoked",
                revision=revision,
                subject=to_permission(row),
            )
    return revision
