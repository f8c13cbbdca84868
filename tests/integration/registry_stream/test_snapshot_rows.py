"""The snapshot read's lean permission rows carry what the full row conversion carries."""

from __future__ import annotations

from datetime import UTC, datetime

from behalf.registry.store import policy_reads
from behalf.registry.store.permissions import to_permission
from tests.integration.registry_stream.conftest import Database
from tests.integration.registry_stream.stream_support import create_agent, create_tenant


async def test_snapshot_permission_equals_the_full_conversion(db: Database) -> None:
    """Every field, times to the microsecond and money included, matches `to_permission`."""
    tenant = await create_tenant(db.pool)
    agent, _ = await create_agent(db.pool, tenant)
    times = [
        datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ]
    async with db.pool.acquire() as conn:
        for n, moment in enumerate(times):
            await conn.execute(
                """INSERT INTO permissions (permission_id, tenant_id, agent_id, allowed_actions,
                       blocked_actions, resources, max_amount_minor, max_amount_currency,
                       budget_minor, budget_currency, budget_spent_minor, not_before,
                       expires_at, requires_approval, template_name, template_version,
                       category, revision, created_at)
                   VALUES ($1, $2, $3, '{purchase,browse_web}', '{issue_refund}',
                           '{shop.example.com,*.example.org}', 500, 'USD', 9000, 'EUR', 12,
                           $4, '2099-01-01T00:00:00.000001Z', true, 'purchases', 3,
                           'transactions', 7, $4)""",
                f"prm_{n:020d}",
                tenant,
                agent,
                moment,
            )
        await conn.execute(
            """INSERT INTO permissions (permission_id, tenant_id, agent_id, allowed_actions,
                   category, revision)
               VALUES ('prm_zzzzzzzzzzzzzzzzzzzz', $1, $2, '{read_email}', 'unknown', 8)""",
            tenant,
            agent,
        )
    async with policy_reads.snapshot(db.pool, prefetch=2) as snapshot:
        streamed = [item async for item in snapshot.items]
    lean = [item for item in streamed if item.DESCRIPTOR.name == "Permission"]
    async with db.pool.acquire() as conn:
        rows = await conn.fetch("SELECT * FROM permissions ORDER BY permission_id")
    assert lean == [to_permission(row) for row in rows]
    assert len(lean) == 3
