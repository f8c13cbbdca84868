"""Turns at a shared resource for one tenant: a few at once, the rest of its calls waiting
behind its own.

A pool shared first come, first served (the registry's database connections for budgets and
approvals, the dispatcher's DNS lookup threads) lets one tenant's flood queue every other
tenant's calls behind it. Here each tenant's calls beyond a few wait behind that tenant's own,
so another tenant waits for at most that few.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

# Of the registry's internal pool's 10 connections, what one tenant's stateful steps may hold
# at once (the default).
TURNS_PER_TENANT = 4


@dataclass
class _Queue:
    turns: asyncio.Semaphore
    users: int = field(default=0)


class TenantTurns:
    """A few turns per tenant; a tenant with no call in flight holds no memory."""

    def __init__(self, turns_per_tenant: int = TURNS_PER_TENANT) -> None:
        self._turns_per_tenant = turns_per_tenant
        self._queues: dict[str, _Queue] = {}

    @asynccontextmanager
    async def turn(self, tenant_id: str) -> AsyncIterator[None]:
        queue = self._queues.get(tenant_id)
        if queue is None:
            queue = self._queues[tenant_id] = _Queue(asyncio.Semaphore(self._turns_per_tenant))
        queue.users += 1
        try:
            async with queue.turns:
                yield
        finally:
            queue.users -= 1
            if not queue.users:
                del self._queues[tenant_id]

    def waiting_or_holding(self, tenant_id: str) -> int:
        queue = self._queues.get(tenant_id)
        return queue.users if queue else 0
