"""Retention against the real PostgreSQL: rows past their time go, everything else stays."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest

from behalf.registry import retention
from behalf.registry.retention import Retention, RetentionSettings

pytestmark = pytest.mark.integration

ACME, OTHER = "ten_" + "a" * 20, "ten_" + "b" * 20


async def _decisions(pool: asyncpg.Pool, tenant_id: str, *ages_in_days: int) -> None:
    await pool.executemany(
        """INSERT INTO decisions (event_id, tenant_id, request_id, agent_id, outcome,
               reason_code, decided_at, payload)
           VALUES ($1, $2, 'req', 'agt', 'ALLOW', 'ALLOWED', now() - $3::interval, '')""",
        [
            (f"evt_{tenant_id}_{n}", tenant_id, timedelta(days=age))
            for n, age in enumerate(ages_in_days)
        ],
    )


async def _ages(pool: asyncpg.Pool, table: str, column: str) -> list[int]:
    rows = await pool.fetch(
        f"SELECT extract(day FROM now() - {column})::int AS age FROM {table} ORDER BY age"
    )
    return [row["age"] for row in rows]


@pytest.fixture
async def pool(registry_pool: asyncpg.Pool) -> asyncpg.Pool:
    await registry_pool.executemany(
        "INSERT INTO tenants (tenant_id, name) VALUES ($1, $2)", [(ACME, "acme"), (OTHER, "b")]
    )
    return registry_pool


async def test_the_audit_trail_is_kept_for_its_retention_and_by_default_for_ever(pool) -> None:
    """Decisions older than the retention go, in every tenant, however many; without one set,
    none ever do."""
    await _decisions(pool, ACME, 1, 399, 401, 800)
    await _decisions(pool, OTHER, 402)
    assert (await Retention(pool, RetentionSettings()).prune())["decisions"] == 0
    assert len(await _ages(pool, "decisions", "decided_at")) == 5
    kept_400_days = RetentionSettings(audit=timedelta(days=400))
    assert (await Retention(pool, kept_400_days).prune())["decisions"] == 3
    assert await _ages(pool, "decisions", "decided_at") == [1, 399]


async def test_a_backlog_larger_than_a_batch_goes_in_batches(pool, monkeypatch) -> None:
    monkeypatch.setattr(retention, "BATCH", 2)
    await _decisions(pool, ACME, *([500] * 5), 3)
    kept = RetentionSettings(audit=timedelta(days=30))
    assert (await Retention(pool, kept).prune())["decisions"] == 5
    assert await _ages(pool, "decisions", "decided_at") == [3]


async def test_the_outbox_keeps_what_the_relay_or_a_tail_may_still_read(pool) -> None:
    """A published row older than a week goes; an unpublished one stays however old (the relay
    has not sent it), and so does every row after it."""
    rows = [  # (age in days, published)
        (30, True),
        (20, True),
        (10, False),
        (9, True),
        (1, True),
        (0, False),
    ]
    for n, (age, published) in enumerate(rows):
        await pool.execute(
            """INSERT INTO outbox (event_id, tenant_id, event_type, revision, payload,
                   created_at, published_at)
               VALUES ($1, $2, 'agent.created', $3, '', now() - $4::interval,
                       CASE WHEN $5 THEN now() END)""",
            f"evt_{n}",
            ACME,
            n + 1,
            timedelta(days=age),
            published,
        )
    assert (await Retention(pool, RetentionSettings()).prune())["outbox"] == 2
    assert await _ages(pool, "outbox", "created_at") == [0, 1, 9, 10]


async def test_idempotency_keys_go_once_they_answer_for_nothing(pool) -> None:
    for key, age in (("old", timedelta(hours=25)), ("new", timedelta(hours=23))):
        await pool.execute(
            """INSERT INTO idempotency_keys (tenant_id, operation, idempotency_key,
                   request_hash, response, created_at)
               VALUES ($1, 'CreateAgent', $2, '', '', now() - $3::interval)""",
            ACME,
            key,
            age,
        )
    assert (await Retention(pool, RetentionSettings()).prune())["idempotency_keys"] == 1
    assert [r["idempotency_key"] for r in await pool.fetch("SELECT * FROM idempotency_keys")] == [
        "new"
    ]
