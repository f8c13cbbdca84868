"""The expiry sweeper: `permission.expired` and `approval.expired`, once each, on any replica.

Each sweep takes the next policy revision first, then claims due rows of one tenant with
`FOR UPDATE SKIP LOCKED`, marks them and writes their events, all in one transaction. Taking the
revision first serialises the sweepers of two replicas (the second one sees the rows already
marked) and cannot deadlock with a mutation that locks a permission row before the revision: the
sweeper skips rows another transaction holds. A sweep that finds nothing rolls back, so it
spends no revision, and a cheap unlocked check skips the transaction when nothing is due.
"""

from __future__ import annotations

import asyncio

import asyncpg
import structlog

from behalf.registry import changes
from behalf.registry.store.approvals import to_approval
from behalf.registry.store.permissions import to_permission

_BATCH = 100
_log = structlog.get_logger("sweeper")

_PERMISSIONS_DUE = """
    NOT expiry_emitted AND revoked_at IS NULL AND expires_at IS NOT NULL AND expires_at <= now()
"""
_APPROVALS_DUE = "state IN ('pending', 'approved') AND expires_at <= now()"


class _Rollback(Exception):
    """Nothing was due after all: undo the revision taken."""


class ExpirySweeper:
    """Emits expiry events for permissions and approvals whose time has passed."""

    def __init__(self, pool: asyncpg.Pool, *, interval_seconds: float = 1.0) -> None:
        self._pool = pool
        self._interval = interval_seconds
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start sweeping every interval."""
        self._task = asyncio.create_task(self._run(), name="expiry-sweeper")

    async def stop(self) -> None:
        """Stop sweeping (a sweep in flight rolls back)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception as exc:
                _log.warning("sweep_failed", error=type(exc).__name__)
            await asyncio.sleep(self._interval)

    async def sweep(self) -> int:
        """Emit every due expiry now; return how many events were written."""
        written = 0
        while (count := await self._sweep_permissions()) > 0:
            written += count
        while (count := await self._sweep_approvals()) > 0:
            written += count
        return written

    async def _sweep_permissions(self) -> int:
        async with self._pool.acquire() as conn:
            if not await conn.fetchval(
                f"SELECT EXISTS (SELECT 1 FROM permissions WHERE {_PERMISSIONS_DUE})"
            ):
                return 0
            try:
                async with conn.transaction():
                    revision = await changes.next_revision(conn)
                    rows = await conn.fetch(
                        f"""WITH due AS (
                                SELECT permission_id FROM permissions
                                WHERE {_PERMISSIONS_DUE}
                                  AND tenant_id = (SELECT tenant_id FROM permissions
                                                   WHERE {_PERMISSIONS_DUE}
                                                   ORDER BY expires_at LIMIT 1)
                                ORDER BY expires_at LIMIT {_BATCH}
                                FOR UPDATE SKIP LOCKED)
                            UPDATE permissions p SET expiry_emitted = true, revision = $1
                            FROM due WHERE p.permission_id = due.permission_id
                            RETURNING p.*""",
                        revision,
                    )
                    if not rows:
                        raise _Rollback
                    for row in rows:
                        await changes.write_event(
                            conn,
                            tenant_id=row["tenant_id"],
                            event_type="permission.expired",
                            revision=revision,
                            subject=to_permission(row),
                        )
            except _Rollback:
                return 0
        _log.info("permissions_expired", count=len(rows), revision=revision)
        return len(rows)

    async def _sweep_approvals(self) -> int:
        async with self._pool.acquire() as conn:
            if not await conn.fetchval(
                f"SELECT EXISTS (SELECT 1 FROM approvals WHERE {_APPROVALS_DUE})"
            ):
                return 0
            try:
                async with conn.transaction():
                    revision = await changes.next_revision(conn)
                    rows = await conn.fetch(
                        f"""WITH due AS (
                                SELECT approval_id FROM approvals
                                WHERE {_APPROVALS_DUE}
                                  AND tenant_id = (SELECT tenant_id FROM approvals
                                                   WHERE {_APPROVALS_DUE}
                                                   ORDER BY expires_at LIMIT 1)
                                ORDER BY expires_at LIMIT {_BATCH}
                                FOR UPDATE SKIP LOCKED)
                            UPDATE approvals a SET state = 'expired'
                            FROM due WHERE a.approval_id = due.approval_id
                            RETURNING a.*, now() AS swept_at""",
                    )
                    if not rows:
                        raise _Rollback
                    for row in rows:
                        await changes.write_event(
                            conn,
                            tenant_id=row["tenant_id"],
                            event_type="approval.expired",
                            revision=revision,
                            subject=to_approval(row, row["swept_at"]),
                        )
            except _Rollback:
                return 0
        _log.info("approvals_expired", count=len(rows), revision=revision)
        return len(rows)
