"""A verifier attached to a registry replica whose outbox tail has stopped, beside a healthy
replica (real hubs, real PostgreSQL, real PolicyWatcher)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from behalf.common.pg import connect_pool
from behalf.registry.watch import WatchHub
from behalf.verifier.outcomes import Outcome, ReasonCode
from tests.integration.registry_stream.stream_support import (
    Database,
    create_agent,
    create_tenant,
    grant,
    wait_until,
    watch_server,
)
from tests.integration.registry_stream.test_watch_staleness import (
    purchase,
    verifier,
)

pytestmark = pytest.mark.integration


async def test_a_verifier_leaves_a_replica_that_stopped_vouching_for_a_healthy_one(
    db: Database,
) -> None:
    """Replica A's tail cannot read the outbox (its tail pool is exhausted; PostgreSQL and
    replica B are fine). A stops its heartbeats, as designed, so the verifier attached to it
    goes stale. But A's process is alive: its stream stays open and answers keepalives.

    A stream that sends nothing for a staleness bound is abandoned, and the verifier
    reconnects (through the Service, to a healthy replica) instead of denying every request
    STALE_POLICY until someone restarts A."""
    tail_pool_a = await connect_pool(db.url, schema="registry", timeout_seconds=30, max_size=1)
    hub_a = WatchHub(db.pool, database_url=db.url, heartbeat_seconds=0.2, tail_pool=tail_pool_a)
    hub_b = WatchHub(db.pool, database_url=db.url, heartbeat_seconds=0.2)
    for hub in (hub_a, hub_b):
        await hub.start()
    tenant = await create_tenant(db.pool)
    agent, _ = await create_agent(db.pool, tenant, "buyer")
    await grant(db.pool, tenant, agent)
    try:
        async with (
            watch_server(hub_a) as target_a,
            watch_server(hub_b) as target_b,
            verifier([target_a, target_b], timedelta(seconds=3)) as (watcher, stub),
        ):
            await asyncio.wait_for(watcher.wait_ready(), 10)
            assert await purchase(watcher, tenant, agent) == (Outcome.ALLOW, ReasonCode.ALLOWED)

            async def attached() -> bool:
                return len(hub_a.verifiers()) == 1

            await wait_until(attached, seconds=5)
            async with tail_pool_a.acquire():  # A's tail is stuck from now on
                await asyncio.sleep(8.0)
                outcome = await purchase(watcher, tenant, agent)
                print(
                    f"\nafter 8 s: {stub.calls} WatchPolicy call(s), "
                    f"silent_for={watcher.freshness.silent_for}, {outcome}"
                )
                assert stub.calls >= 2, "the verifier never left the silent stream"
                assert outcome == (Outcome.ALLOW, ReasonCode.ALLOWED)
    finally:
        for hub in (hub_a, hub_b):
            await hub.stop()
        await tail_pool_a.close()
