"""Retention: finished deliveries (succeeded or dead), with their attempts and payloads, are
deleted `BEHALF_WEBHOOK_RETENTION_DAYS` after they were made (0 keeps them for ever). A delivery
still pending or retrying is never deleted, however old. A dead one can be redriven only while
it is kept.

Tenant by tenant, so each batch is a range of the (tenant_id, created_at) index; the tenants are
found by skipping through that index, not by reading every row. Several replicas may prune at
once: they delete disjoint or already-deleted rows.
"""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import structlog

from behalf.common.background import BackgroundTask, every
from behalf.common.pg import delete_in_batches

_log = structlog.get_logger("retention")

BATCH = 2000

_TENANTS = """
    WITH RECURSIVE tenant AS (
        (SELECT tenant_id FROM deliveries ORDER BY tenant_id LIMIT 1)
        UNION ALL
        SELECT (SELECT d.tenant_id FROM deliveries d
                WHERE d.tenant_id > tenant.tenant_id ORDER BY d.tenant_id LIMIT 1)
        FROM tenant WHERE tenant.tenant_id IS NOT NULL)
    SELECT tenant_id FROM tenant WHERE tenant_id IS NOT NULL"""
# At most $1 finished deliveries of tenant $3 made more than $2 ago, their attempts first.
_FINISHED = """
    WITH doomed AS (
        SELECT delivery_id FROM deliveries
        WHERE tenant_id = $3 AND created_at < now() - $2::interval
          AND state IN ('succeeded', 'dead')
        LIMIT $1),
    attempts AS (
        DELETE FROM delivery_attempts a USING doomed WHERE a.delivery_id = doomed.delivery_id)
    DELETE FROM deliveries WHERE delivery_id IN (SELECT delivery_id FROM doomed)"""


class DeliveryRetention:
    """Deletes finished deliveries past their retention every interval."""

    def __init__(
        self, pool: asyncpg.Pool, keep: timedelta | None, *, interval_seconds: float = 3600.0
    ) -> None:
        self._pool = pool
        self._keep = keep
        self._task = BackgroundTask(
            "delivery-retention", every(interval_seconds, self.prune, _log, "prune_failed")
        )

    def start(self) -> None:
        if self._keep is not None:
            self._task.start()

    async def stop(self) -> None:
        await self._task.stop()

    async def prune(self) -> int:
        """Delete every finished delivery past its retention now; how many."""
        if self._keep is None:
            return 0
        deleted = 0
        for row in await self._pool.fetch(_TENANTS):
            deleted += await delete_in_batches(
                self._pool, _FINISHED, self._keep, row["tenant_id"], batch=BATCH
            )
        if deleted:
            _log.info("deliveries_pruned", count=deleted)
        return deleted
