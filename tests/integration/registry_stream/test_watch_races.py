"""The order revisions reach a verifier in, when they commit around a snapshot and one another
(real hubs, PostgreSQL)."""

from __future__ import annotations

import asyncio

import pytest

from behalf.registry.store import outbox, revisions
from behalf.registry.store.agents import to_agent
from behalf.registry.watch import WatchHub
from tests.integration.registry_stream.stream_support import (
    Database,
    WatchClient,
    create_agent,
    create_tenant,
    set_disabled,
    watch_server,
)

pytestmark = pytest.mark.integration


async def _disable_slowly(
    db: Database, agent: str, hold: asyncio.Event, taken: asyncio.Event
) -> int:
    """DisableAgent that takes its revision, then waits for `hold` before writing and committing."""
    async with db.pool.acquire() as conn, conn.transaction():
        revision = await revisions.next_revision(conn)
        taken.set()
        await hold.wait()
        row = await conn.fetchrow(
            """UPDATE agents SET disabled = true, revision = $2, updated_at = now()
               WHERE agent_id = $1 RETURNING *""",
            agent,
            revision,
        )
        await outbox.write_event(
            conn,
            tenant_id=row["tenant_id"],
            event_type="agent.disabled",
            revision=revision,
            subject=to_agent(row),
        )
    return revision


async def test_a_snapshot_read_while_a_revision_is_uncommitted_gets_it_as_a_delta(
    db: Database, hub: WatchHub
) -> None:
    tenant = await create_tenant(db.pool)
    agent, _ = await create_agent(db.pool, tenant)
    hold, taken = asyncio.Event(), asyncio.Event()
    writer = asyncio.create_task(_disable_slowly(db, agent, hold, taken))
    await taken.wait()
    async with watch_server(hub) as target:
        client = WatchClient(target, accepts_delta_parts=True)
        try:
            snapshot = await client.read_snapshot()
            assert not snapshot.agents[agent].disabled
            hold.set()
            revision = await writer
            assert snapshot.revision == revision - 1
            delta = await client.next_delta()
            assert delta.revision == revision
            assert delta.changes[0].agent_upserted.disabled
        finally:
            await client.close()


async def test_a_lower_revision_committing_late_is_never_overtaken(
    db: Database, hub: WatchHub
) -> None:
    """A writer holds revision R+1 for a second before committing; the next writer's revision
    waits on the revision row's lock, so R+2 cannot become visible (and be streamed) first."""
    tenant = await create_tenant(db.pool)
    slow_agent, _ = await create_agent(db.pool, tenant, "slow")
    fast_agent, _ = await create_agent(db.pool, tenant, "fast")
    async with watch_server(hub) as target:
        client = WatchClient(target, accepts_delta_parts=True)
        try:
            await client.read_snapshot()
            hold, taken = asyncio.Event(), asyncio.Event()
            slow = asyncio.create_task(_disable_slowly(db, slow_agent, hold, taken))
            await taken.wait()
            fast = asyncio.create_task(set_disabled(db.pool, fast_agent, True))
            await asyncio.sleep(1.0)
            assert not fast.done(), "the second writer waits for the first's revision lock"
            hold.set()
            first, second = await slow, await fast
            assert second == first + 1
            assert [(await client.next_delta()).revision for _ in range(2)] == [first, second]
        finally:
            await client.close()
