"""The expiry sweeper: `permission.expired` and `approval.expired`, once each, on any replica.

Each sweep takes the next policy revision first, then claims due rows of one tenant with
`FOR UPDATE SKIP LOCKED`, marks them and writes their events, all in one transaction. Taking the
revision first serialises the sweepers of two replicas (the second one sees the rows already
marked) and cannot deadlock with a mutation that locks a permission row before the revision: the
sweeper skips rows another transaction holds. A sweep that finds nothing rolls back, so it
spends no revision, and a cheap unlocked check skips the transaction when nothing is due.
"""

from __future__ import annotations

import asyncpg
import structlog

from behalf.common.background import BackgroundTask, every
from behalf.registry.commands.transaction import Db, Outcome, change
from behalf.registry.store import expiry
from behalf.registry.store._rows import Connection
from behalf.registry.store.outbox import write_event

_log = structlog.get_logger("sweeper")


class ExpirySweeper:
    """Emits expiry events for permissions and approvals whose time has passed."""

    def __init__(self, pool: asyncpg.Pool, *, interval_seconds: float = 1.0) -> None:
        self._db = Db(pool)
        self._task = BackgroundTask(
            "expiry-sweeper", every(interval_seconds, self.sweep, _log, "sweep_failed")
        )

    async def start(self) -> None:
        """Start sweeping every interval."""
        self._task.start()

    async def stop(self) -> None:
        """Stop sweeping (a sweep in flight rolls back)."""
        await self._task.stop()

    async def sweep(self) -> int:
        """Emit every due expiry now; return how many events were written."""
        written = 0
        while (count := await self._sweep_permissions()) > 0:
            written += count
        while (count := await self._sweep_approvals()) > 0:
            written += count
        return written

    async def _sweep_permissions(self) -> int:
        if not await expiry.permissions_due(self._db.pool):
            return 0

        async def sweep(conn: Connection, revision: int) -> Outcome[int]:
            expired = await expiry.claim_expired_permissions(conn, revision)
            for permission in expired:
                await write_event(
                    conn,
                    tenant_id=permission.tenant_id,
                    event_type="permission.expired",
                    revision=revision,
                    subject=permission,
                )
            if expired:
                _log.info("permissions_expired", count=len(expired), revision=revision)
            return Outcome(len(expired), changed=bool(expired))

        return await change(self._db, sweep)

    async def _sweep_approvals(self) -> int:
        if not await expiry.approvals_due(self._db.pool):
            return 0

        async def sweep(conn: Connection, revision: int) -> Outcome[int]:
            expired = await expiry.claim_expired_approvals(conn)
            for approval in expired:
                await write_event(
                    conn,
                    tenant_id=approval.tenant_id,
                    event_type="approval.expired",
                    revision=revision,
                    subject=approval,
                )
            if expired:
                _log.info("approvals_expired", count=len(expired), revision=revision)
            return Outcome(len(expired), changed=bool(expired))

        return await change(self._db, sweep)
