"""Retention: what the registry keeps grows with use, so rows past their time are deleted.

- The audit trail (`decisions`): after `BEHALF_AUDIT_RETENTION_DAYS`, when set; by default it is
  kept for ever (deleting audit records is the operator's choice, and the decisions topic has a
  retention of its own).
- The outbox: a published row older than `OUTBOX_KEEP` is read by nobody (the relay has sent it;
  a watch tail reads the newest rows, and a verifier that reconnects takes a snapshot).
- Idempotency keys: after the 24 hours they answer for (`store.idempotency.RETENTION`).

Rows go in batches of `BATCH` (`delete_in_batches`). Several replicas may prune at once: they
delete disjoint or already-deleted rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import asyncpg
import structlog

from behalf.common.background import BackgroundTask, every
from behalf.common.pg import delete_in_batches
from behalf.registry.store import idempotency

_log = structlog.get_logger("retention")

BATCH = 5000
OUTBOX_KEEP = timedelta(days=7)


@dataclass(frozen=True)
class RetentionSettings:
    """How long the audit trail is kept (None: for ever), and how often to prune."""

    audit: timedelta | None = None
    interval_seconds: float = 3600.0


class Retention:
    """Deletes rows past their retention every interval, on any replica."""

    def __init__(self, pool: asyncpg.Pool, settings: RetentionSettings) -> None:
        self._pool = pool
        self._settings = settings
        self._task = BackgroundTask(
            "retention", every(settings.interval_seconds, self.prune, _log, "prune_failed")
        )

    async def start(self) -> None:
        self._task.start()

    async def stop(self) -> None:
        await self._task.stop()

    async def prune(self) -> dict[str, int]:
        """Delete every row past its retention now; how many of each kind."""
        deleted = {
            "decisions": await self._prune_decisions(),
            "outbox": await delete_in_batches(self._pool, _OUTBOX, OUTBOX_KEEP, batch=BATCH),
            "idempotency_keys": await delete_in_batches(
                self._pool, _IDEMPOTENCY_KEYS, idempotency.RETENTION, batch=BATCH
            ),
        }
        if any(deleted.values()):
            _log.info("pruned", **deleted)
        return deleted

    async def _prune_decisions(self) -> int:
        keep = self._settings.audit
        if keep is None:
            return 0
        # Tenant by tenant, so each batch is a range of the (tenant_id, decided_at) index.
        tenants = await self._pool.fetch("SELECT tenant_id FROM tenants")
        deleted = 0
        for row in tenants:
            deleted += await delete_in_batches(
                self._pool, _DECISIONS, keep, row["tenant_id"], batch=BATCH
            )
        return deleted


# Each deletes at most $1 rows older than $2 (an interval), and for decisions of tenant $3.
_DECISIONS = """
    DELETE FROM decisions WHERE event_id IN (
        SELECT event_id FROM decisions
        WHERE tenant_id = $3 AND decided_at < now() - $2::interval
        LIMIT $1)"""
# The oldest rows first, and only up to the first one that must stay: the scan never walks the
# rows that are kept.
_OUTBOX = """
    DELETE FROM outbox WHERE seq IN (
        SELECT seq FROM outbox
        WHERE seq < coalesce(
            (SELECT min(seq) FROM outbox
             WHERE published_at IS NULL OR created_at >= now() - $2::interval),
            (SELECT max(seq) + 1 FROM outbox))
        ORDER BY seq
        LIMIT $1)"""
_IDEMPOTENCY_KEYS = """
    DELETE FROM idempotency_keys WHERE ctid IN (
        SELECT ctid FROM idempotency_keys WHERE created_at < now() - $2::interval LIMIT $1)"""
