"""The expiry sweeper: permission.expired and approval.expired, once each, even with two."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from behalf.registry.sweeper import ExpirySweeper
from behalf.registry.watch import WatchHub
from behalf.v1 import events_pb2, resources_pb2
from tests.integration.registry_stream.stream_support import (
    Database,
    WatchClient,
    create_agent,
    create_approval,
    create_tenant,
    grant,
    outbox_rows,
    wait_until,
    watch_server,
)

pytestmark = pytest.mark.integration


async def test_two_sweepers_emit_each_permission_expiry_once(db: Database) -> None:
    """Expired permissions of two tenants each get exactly one permission.expired, written at a
    new revision that the permission row carries; live and revoked ones get none."""
    tenants = [await create_tenant(db.pool) for _ in range(2)]
    expired, untouched = [], []
    for tenant in tenants:
        agent, _ = await create_agent(db.pool, tenant)
        for _ in range(30):
            expired.append(
                (await grant(db.pool, tenant, agent, expires_in=timedelta(seconds=-1)))[0]
            )
        untouched.append((await grant(db.pool, tenant, agent, expires_in=timedelta(hours=1)))[0])
        untouched.append((await grant(db.pool, tenant, agent))[0])
        untouched.append(
            (await grant(db.pool, tenant, agent, expires_in=timedelta(seconds=-1), revoked=True))[0]
        )
    sweepers = [ExpirySweeper(db.pool) for _ in range(2)]
    await asyncio.gather(*(s.sweep() for s in sweepers for _ in range(3)))

    rows = await outbox_rows(db.pool, "permission.expired")
    events = [events_pb2.LifecycleEvent.FromString(r["payload"]) for r in rows]
    assert sorted(e.permission.permission_id for e in events) == sorted(expired)
    for row, event in zip(rows, events, strict=True):
        assert row["tenant_id"] == event.tenant_id == event.permission.tenant_id
        stored = await db.pool.fetchrow(
            "SELECT expiry_emitted, revision FROM permissions WHERE permission_id = $1",
            event.permission.permission_id,
        )
        assert stored["expiry_emitted"] and stored["revision"] == event.revision == row["revision"]
    assert not await db.pool.fetchval(
        "SELECT count(*) FROM permissions WHERE expiry_emitted AND permission_id = ANY($1)",
        untouched,
    )
    assert await ExpirySweeper(db.pool).sweep() == 0


async def test_sweeper_expires_live_approvals_once(db: Database) -> None:
    """Pending and approved approvals past their expiry become expired with one approval.expired
    each; resolved, consumed and unexpired ones are left alone."""
    tenant = await create_tenant(db.pool)
    agent, _ = await create_agent(db.pool, tenant)
    past, future = timedelta(seconds=-1), timedelta(hours=1)
    due = [
        await create_approval(db.pool, tenant, agent, state=state, expires_in=past)
        for state in ("pending", "approved")
    ]
    kept = [
        await create_approval(db.pool, tenant, agent, state="denied", expires_in=past),
        await create_approval(db.pool, tenant, agent, state="consumed", expires_in=past),
        await create_approval(db.pool, tenant, agent, state="pending", expires_in=future),
    ]
    sweepers = [ExpirySweeper(db.pool) for _ in range(2)]
    await asyncio.gather(*(s.sweep() for s in sweepers for _ in range(3)))

    events = [
        events_pb2.LifecycleEvent.FromString(r["payload"])
        for r in await outbox_rows(db.pool, "approval.expired")
    ]
    assert sorted(e.approval.approval_id for e in events) == sorted(due)
    assert {e.approval.state for e in events} == {resources_pb2.APPROVAL_STATE_EXPIRED}
    states = dict(await db.pool.fetch("SELECT approval_id, state FROM approvals"))
    assert [states[a] for a in due] == ["expired", "expired"]
    assert [states[a] for a in kept] == ["denied", "consumed", "pending"]


async def test_running_sweeper_expiry_reaches_a_verifier_as_a_delta(db: Database) -> None:
    """A started sweeper emits the expiry shortly after the permission expires, and the
    watch stream carries it to a verifier as a permission upsert."""
    tenant = await create_tenant(db.pool)
    agent, _ = await create_agent(db.pool, tenant)
    permission, _ = await grant(db.pool, tenant, agent, expires_in=timedelta(seconds=0.5))
    hub = WatchHub(db.pool, database_url=db.url)
    sweeper = ExpirySweeper(db.pool, interval_seconds=0.05)
    await hub.start()
    try:
        async with watch_server(hub) as target:
            client = WatchClient(target)
            try:
                snapshot = await client.read_snapshot()
                assert permission in snapshot.permissions
                await sweeper.start()
                delta = await client.next_delta(seconds=10)
                assert delta.changes[0].permission_upserted.permission_id == permission

                async def emitted() -> bool:
                    return len(await outbox_rows(db.pool, "permission.expired")) == 1

                await wait_until(emitted)
                await asyncio.sleep(0.3)
                assert len(await outbox_rows(db.pool, "permission.expired")) == 1
            finally:
                await client.close()
    finally:
        await sweeper.stop()
        await hub.stop()
