"""The outbox relay against real PostgreSQL and Kafka: order, restarts and two replicas."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import asyncpg
import pytest
from aiokafka import ConsumerRecord

from behalf.common.kafka import EVENT_ID_HEADER, Topics
from behalf.registry.relay import LOCK_KEY, OutboxRelay
from behalf.v1 import events_pb2
from tests.harness.infra import free_port
from tests.integration.registry_stream.stream_support import (
    Database,
    create_agent,
    create_tenant,
    header,
    outbox_rows,
    read_topic,
    set_disabled,
    wait_until,
)

pytestmark = pytest.mark.integration


async def _write_events(pool: asyncpg.Pool, tenants: list[str], per_tenant: int) -> None:
    """Interleave mutations of several tenants from concurrent writers."""

    async def writer(tenant: str) -> None:
        agent, _ = await create_agent(pool, tenant)
        for i in range(per_tenant - 1):
            await set_disabled(pool, agent, i % 2 == 0)

    await asyncio.gather(*(writer(t) for t in tenants))


async def _all_published(pool: asyncpg.Pool) -> bool:
    return not await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")


def _assert_in_order_per_tenant(
    records: list[ConsumerRecord[bytes, bytes]], rows: list[asyncpg.Record], *, exactly_once: bool
) -> None:
    """Every outbox row is on the topic; per tenant, first occurrences follow outbox seq order."""
    by_partition: dict[int, list[ConsumerRecord[bytes, bytes]]] = defaultdict(list)
    for record in records:
        by_partition[record.partition].append(record)
    seen: set[str] = set()
    per_tenant: dict[str, list[str]] = defaultdict(list)
    for partition_records in by_partition.values():
        for record in sorted(partition_records, key=lambda r: r.offset):
            event_id = header(record, EVENT_ID_HEADER)
            if event_id in seen:
                assert not exactly_once, f"{event_id} published twice"
                continue
            seen.add(event_id)
            per_tenant[record.key.decode()].append(event_id)
    expected: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        expected[row["tenant_id"]].append(row["event_id"])
    assert dict(per_tenant) == dict(expected)


async def test_relay_publishes_rows_with_key_headers_and_payload(
    db: Database, topics: Topics, kafka_bootstrap: str
) -> None:
    """Each outbox row becomes one record keyed by tenant, carrying the payload and the
    event-type and event-id headers, and is then marked published."""
    tenant = await create_tenant(db.pool)
    agent, _ = await create_agent(db.pool, tenant)
    await set_disabled(db.pool, agent, True)
    relay = OutboxRelay(db.pool, bootstrap=kafka_bootstrap, topic=topics.lifecycle)
    await relay.start()
    try:
        await wait_until(lambda: _all_published(db.pool))
    finally:
        await relay.stop()
    rows = await outbox_rows(db.pool)
    records = await read_topic(
        kafka_bootstrap, topics.lifecycle, until_event_ids={r["event_id"] for r in rows}
    )
    assert [header(r, "event-type") for r in records] == ["agent.created", "agent.disabled"]
    assert {r.key for r in records} == {tenant.encode()}
    assert [r.value for r in records] == [row["payload"] for row in rows]
    event = events_pb2.LifecycleEvent.FromString(records[1].value)
    assert event.agent.disabled and event.revision == rows[1]["revision"]
    _assert_in_order_per_tenant(records, rows, exactly_once=True)


async def test_relay_killed_mid_stream_and_restarted_loses_nothing(
    db: Database, topics: Topics, kafka_bootstrap: str
) -> None:
    """A relay whose connection is killed, and another that is cancelled, mid-stream: after a
    restart every outbox row is on the topic, in commit order per tenant."""
    tenants = [await create_tenant(db.pool) for _ in range(4)]
    relay = OutboxRelay(db.pool, bootstrap=kafka_bootstrap, topic=topics.lifecycle)
    await relay.start()
    writing = asyncio.create_task(_write_events(db.pool, tenants, per_tenant=150))

    async def some_published() -> bool:
        return bool(
            await db.pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NOT NULL")
        )

    await wait_until(some_published)
    # A crash of its database session: the lock goes with it and the relay must recover.
    killed = await db.pool.fetchval(
        """SELECT pg_terminate_backend(pid) FROM pg_locks
           WHERE locktype = 'advisory' AND objid = $1 AND granted""",
        LOCK_KEY,
    )
    assert killed
    await asyncio.sleep(0.3)
    # Then the process itself dies mid-batch.
    await relay.stop()
    assert await db.pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")

    restarted = OutboxRelay(db.pool, bootstrap=kafka_bootstrap, topic=topics.lifecycle)
    await restarted.start()
    try:
        await writing
        await wait_until(lambda: _all_published(db.pool), seconds=60)
    finally:
        await restarted.stop()
    rows = await outbox_rows(db.pool)
    assert len(rows) == 600
    records = await read_topic(
        kafka_bootstrap, topics.lifecycle, until_event_ids={r["event_id"] for r in rows}
    )
    _assert_in_order_per_tenant(records, rows, exactly_once=False)


async def test_two_relays_publish_each_row_once_in_order_and_fail_over(
    db: Database, topics: Topics, kafka_bootstrap: str
) -> None:
    """Two relays at once: only the lock holder publishes, each row exactly once and in order;
    when it stops, the other takes over and publishes the rest."""
    tenants = [await create_tenant(db.pool) for _ in range(3)]
    relays = [
        OutboxRelay(
            db.pool, bootstrap=kafka_bootstrap, topic=topics.lifecycle, lock_retry_seconds=0.2
        )
        for _ in range(2)
    ]
    for relay in relays:
        await relay.start()
    try:
        await _write_events(db.pool, tenants, per_tenant=60)
        await wait_until(lambda: _all_published(db.pool))
        leaders = [r for r in relays if r.is_leader]
        assert len(leaders) == 1
        await leaders[0].stop()
        [survivor] = [r for r in relays if r is not leaders[0]]
        await _write_events(db.pool, tenants, per_tenant=20)
        await wait_until(lambda: _all_published(db.pool))
        assert survivor.is_leader
    finally:
        for relay in relays:
            await relay.stop()
    rows = await outbox_rows(db.pool)
    records = await read_topic(
        kafka_bootstrap, topics.lifecycle, until_event_ids={r["event_id"] for r in rows}
    )
    assert len(records) == len(rows) == 240
    _assert_in_order_per_tenant(records, rows, exactly_once=True)


async def test_relay_keeps_rows_while_kafka_is_unreachable(
    db: Database, topics: Topics, kafka_bootstrap: str
) -> None:
    """While Kafka cannot be reached the relay retries and marks nothing published; once a relay
    reaches the broker every row goes out, in order."""
    tenant = await create_tenant(db.pool)
    await _write_events(db.pool, [tenant], per_tenant=5)
    stranded = OutboxRelay(db.pool, bootstrap=f"127.0.0.1:{free_port()}", topic=topics.lifecycle)
    await stranded.start()
    await asyncio.sleep(1.5)
    assert stranded.is_leader
    await stranded.stop()
    assert await db.pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 5

    relay = OutboxRelay(db.pool, bootstrap=kafka_bootstrap, topic=topics.lifecycle)
    await relay.start()
    try:
        await wait_until(lambda: _all_published(db.pool))
    finally:
        await relay.stop()
    rows = await outbox_rows(db.pool)
    records = await read_topic(
        kafka_bootstrap, topics.lifecycle, until_event_ids={r["event_id"] for r in rows}
    )
    _assert_in_order_per_tenant(records, rows, exactly_once=True)
