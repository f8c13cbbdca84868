"""Retention of deliveries against the real PostgreSQL: finished ones past their time go with
their attempts; a delivery still owed to its endpoint stays however old."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest

from behalf.dispatcher import retention
from behalf.dispatcher.retention import DeliveryRetention

pytestmark = pytest.mark.integration

ACME, OTHER = "ten_" + "a" * 20, "ten_" + "b" * 20


async def _delivery(
    pool: asyncpg.Pool, delivery_id: str, tenant_id: str, state: str, age_days: int
) -> None:
    await pool.execute(
        """INSERT INTO deliveries (delivery_id, tenant_id, endpoint_id, event_id, event_type,
               webhook_id, state, payload, created_at)
           VALUES ($1, $2, 'whe_1', $1, 'verification.denied', $1, $3, '{}',
                   now() - $4::interval)""",
        delivery_id,
        tenant_id,
        state,
        timedelta(days=age_days),
    )
    await pool.execute(
        """INSERT INTO delivery_attempts (delivery_id, attempt_number, attempted_at, status_code,
               latency_ms)
           VALUES ($1, 1, now(), 500, 1.0)""",
        delivery_id,
    )


async def _left(pool: asyncpg.Pool) -> tuple[list[str], list[str]]:
    deliveries = await pool.fetch("SELECT delivery_id FROM deliveries ORDER BY delivery_id")
    attempts = await pool.fetch("SELECT delivery_id FROM delivery_attempts ORDER BY delivery_id")
    return [r["delivery_id"] for r in deliveries], [r["delivery_id"] for r in attempts]


async def test_finished_deliveries_past_their_retention_go_with_their_attempts(
    pool, monkeypatch
) -> None:
    monkeypatch.setattr(retention, "BATCH", 2)
    for n in range(3):
        await _delivery(pool, f"dlv_old_ok_{n}", ACME, "succeeded", 40)
    await _delivery(pool, "dlv_old_dead", OTHER, "dead", 31)
    await _delivery(pool, "dlv_old_pending", ACME, "pending", 90)
    await _delivery(pool, "dlv_old_retrying", OTHER, "retrying", 90)
    await _delivery(pool, "dlv_new_ok", ACME, "succeeded", 29)
    assert await DeliveryRetention(pool, timedelta(days=30)).prune() == 4
    kept = ["dlv_new_ok", "dlv_old_pending", "dlv_old_retrying"]
    assert await _left(pool) == (kept, kept)


async def test_without_a_retention_nothing_is_deleted(pool) -> None:
    await _delivery(pool, "dlv_ancient", ACME, "succeeded", 3000)
    assert await DeliveryRetention(pool, None).prune() == 0
    assert await _left(pool) == (["dlv_ancient"], ["dlv_ancient"])
