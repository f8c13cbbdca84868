"""One tenant's flood of stateful steps waits behind itself, not ahead of other tenants."""

from __future__ import annotations

import asyncio

from behalf.common.tenant_turns import TenantTurns


async def test_a_flooding_tenant_holds_only_its_turns_and_others_go_at_once() -> None:
    turns = TenantTurns(turns_per_tenant=2)
    release = asyncio.Event()
    holding = 0

    async def flood_call() -> None:
        nonlocal holding
        async with turns.turn("ten_flood"):
            holding += 1
            await release.wait()
            holding -= 1

    flood = [asyncio.create_task(flood_call()) for _ in range(50)]
    await asyncio.sleep(0)
    assert holding == 2 and turns.waiting_or_holding("ten_flood") == 50
    async with asyncio.timeout(1):  # another tenant is not queued behind the 48 waiting
        async with turns.turn("ten_other"):
            assert turns.waiting_or_holding("ten_other") == 1
    release.set()
    await asyncio.gather(*flood)
    assert turns.waiting_or_holding("ten_flood") == 0 and turns._queues == {}


async def test_a_cancelled_waiter_gives_up_its_place_and_its_memory() -> None:
    turns = TenantTurns(turns_per_tenant=1)
    release = asyncio.Event()

    async def hold() -> None:
        async with turns.turn("ten_a"):
            await release.wait()

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(hold())
    await asyncio.sleep(0)
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert turns.waiting_or_holding("ten_a") == 1
    release.set()
    await holder
    assert turns._queues == {}
