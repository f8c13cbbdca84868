"""The policy revision going back (a point-in-time restore as docs/operations.md
"What a restore means" describes it, or a failover to an asynchronous standby that lost the
last commits) while the registry replicas keep running (real hub, PostgreSQL, PolicyWatcher)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from behalf.registry.watch import WatchHub
from behalf.verifier.outcomes import Outcome, ReasonCode
from tests.integration.registry_stream.stream_support import (
    Database,
    create_agent,
    create_tenant,
    grant,
    set_disabled,
    watch_server,
)
from tests.integration.registry_stream.test_watch_staleness import (
    purchase,
    verifier,
)

pytestmark = pytest.mark.integration


async def test_a_revocation_reapplied_after_a_restore_reaches_the_verifiers(
    db: Database,
) -> None:
    """The runbook: restore to an earlier point, re-apply the revocations made since, restart
    the verifiers so they take a fresh snapshot. The registry replicas are not restarted.

    Setup: the policy reaches revision R0 (agent `buyer` enabled, with a grant), then three
    more revisions are committed and streamed (the registry's tail is at R0+3). The database
    is put back to R0 (here in place: outbox rows and the revision counter after R0 removed,
    which is the state a restore to that point yields). A verifier starts (snapshot at R0).
    The operator re-applies the revocation: DisableAgent(buyer) commits at R0+1.

    The running registry's tail finds the committed revision below what it has read, starts
    over from it and ends its streams, so the re-applied revocation reaches the verifier: it
    answers AGENT_DISABLED, never the rolled-back ALLOW."""
    hub = WatchHub(db.pool, database_url=db.url, heartbeat_seconds=0.2)
    await hub.start()
    tenant = await create_tenant(db.pool)
    buyer, _ = await create_agent(db.pool, tenant, "buyer")
    other, _ = await create_agent(db.pool, tenant, "other")
    _, restored_to = await grant(db.pool, tenant, buyer)
    for i in range(3):  # committed, streamed, then lost by the restore
        await set_disabled(db.pool, other, i % 2 == 0)

    async def tail_at(revision: int) -> bool:
        return hub.current_revision >= revision

    for _ in range(100):
        if await tail_at(restored_to + 3):
            break
        await asyncio.sleep(0.05)
    assert hub.current_revision == restored_to + 3

    # The restore (to just after revision R0).
    async with db.pool.acquire() as conn, conn.transaction():
        await conn.execute("DELETE FROM outbox WHERE revision > $1", restored_to)
        await conn.execute("UPDATE policy_revision SET revision = $1", restored_to)
        await conn.execute("UPDATE agents SET disabled = false WHERE agent_id = $1", other)

    try:
        async with (
            watch_server(hub) as target,
            verifier([target], timedelta(seconds=2)) as (watcher, _stub),
        ):
            await asyncio.wait_for(watcher.wait_ready(), 10)
            assert watcher.state is not None and watcher.state.snapshot.revision == restored_to
            disabled_at = await set_disabled(db.pool, buyer, True)  # re-applied revocation
            assert disabled_at == restored_to + 1
            await asyncio.sleep(3.0)  # longer than the 2 s bound
            state = watcher.state
            outcome = await purchase(watcher, tenant, buyer)
            print(
                f"\nverifier at {state.snapshot.revision}, disable at {disabled_at}, "
                f"silent_for={watcher.freshness.silent_for}: {outcome}"
            )
            assert outcome == (Outcome.DENY, ReasonCode.AGENT_DISABLED)
    finally:
        await hub.stop()
