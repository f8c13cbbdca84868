"""Deliveries to a failing endpoint are parked compactly, listed as pending, and unparked into
rows with the same ids once the endpoint is no longer failing (real PostgreSQL)."""

from __future__ import annotations

import asyncpg
import pytest

from behalf.common.ids import is_id
from behalf.common.pg import connect_pool, load_migrations, migrate
from behalf.dispatcher.batch_store import BatchStore
from behalf.dispatcher.payloads import WebhookMessage
from behalf.dispatcher.store import DeliveryFilter, DeliveryStore

pytestmark = pytest.mark.integration

TENANT, OTHER_TENANT = "ten_parking", "ten_elsewhere"
UP, DOWN, ALSO_DOWN = "whe_up", "whe_down", "whe_alsodown"


def message(n: int) -> WebhookMessage:
    return WebhookMessage(f"evt_{n}", TENANT, "verification.allowed", f'{{"n":{n}}}'.encode())


async def parked_sizes(pool: asyncpg.Pool) -> dict[str, list[int]]:
    records = await pool.fetch("SELECT endpoint_id, size FROM parked_deliveries ORDER BY park_id")
    sizes: dict[str, list[int]] = {}
    for r in records:
        sizes.setdefault(r["endpoint_id"], []).append(r["size"])
    return sizes


async def rows_of(pool: asyncpg.Pool, endpoint_id: str) -> dict[str, asyncpg.Record]:
    records = await pool.fetch(
        "SELECT * FROM deliveries WHERE endpoint_id = $1 ORDER BY event_id", endpoint_id
    )
    return {r["event_id"]: r for r in records}


async def test_a_batch_parks_one_record_per_failing_endpoint_and_lists_it_as_pending(pool):
    batches, store = BatchStore(pool), DeliveryStore(pool)
    fanout = [(message(n), [UP, DOWN]) for n in range(3)]

    rows = await batches.create_for_events(fanout, parked={DOWN})

    assert sorted(r.event_id for r in rows) == ["evt_0", "evt_1", "evt_2"]
    assert {r.endpoint_id for r in rows} == {UP}
    assert await rows_of(pool, DOWN) == {}
    assert await parked_sizes(pool) == {DOWN: [3]}
    listed = await store.list_deliveries(TENANT, DeliveryFilter(endpoint_id=DOWN), None, 10)
    assert sorted(d.event_id for d in listed) == ["evt_0", "evt_1", "evt_2"]
    assert {d.state for d in listed} == {"pending"}
    assert len({d.delivery_id for d in listed}) == len({d.webhook_id for d in listed}) == 3
    found = await store.get_with_attempts(TENANT, listed[0].delivery_id)
    assert found is not None and found[0].webhook_id == listed[0].webhook_id
    assert await store.get_with_attempts(OTHER_TENANT, listed[0].delivery_id) is None
    everything = await store.list_deliveries(TENANT, DeliveryFilter(), None, 10)
    assert len(everything) == 6
    assert await store.list_deliveries(TENANT, DeliveryFilter(state="succeeded"), None, 10) == []


async def test_unpark_makes_rows_with_the_listed_ids_for_endpoints_not_failing(pool):
    batches, store = BatchStore(pool), DeliveryStore(pool)
    await batches.create_for_events(
        [(message(n), [DOWN, ALSO_DOWN]) for n in range(3)], parked={DOWN, ALSO_DOWN}
    )
    listed = await store.list_deliveries(TENANT, DeliveryFilter(endpoint_id=DOWN), None, 10)

    assert await batches.unpark(60, [], 1000) == 0  # too young: its endpoint may still fail
    made = await batches.unpark(0, [ALSO_DOWN], 1000)

    assert made == 3
    rows = await rows_of(pool, DOWN)
    assert {(d.event_id, d.delivery_id, d.webhook_id) for d in listed} == {
        (e, r["delivery_id"], r["webhook_id"]) for e, r in rows.items()
    }
    assert {r["state"] for r in rows.values()} == {"pending"}
    assert {e: bytes(r["payload"]) for e, r in rows.items()} == {
        f"evt_{n}": message(n).body for n in range(3)
    }
    assert await parked_sizes(pool) == {ALSO_DOWN: [3]}  # still failing here: left parked
    # The reclaim pass that follows (same age) claims them: they keep the record's time.
    reclaimed = await batches.reclaim(0, [], 100)
    assert {r.delivery_id for r in reclaimed} == {r["delivery_id"] for r in rows.values()}
    # The event again, its endpoint no longer failing: the same delivery, the same webhook id.
    again = await batches.create_for_events([(message(0), [DOWN])])
    assert [(r.delivery_id, r.webhook_id) for r in again] == [
        (rows["evt_0"]["delivery_id"], rows["evt_0"]["webhook_id"])
    ]


async def test_a_delivery_that_has_a_row_already_keeps_it_when_a_parked_copy_unparks(pool):
    """The event was delivered (its row has webhook-id A), then came again while the endpoint
    failed: unparking adds no second delivery with another webhook id."""
    batches = BatchStore(pool)
    [first] = await batches.create_for_events([(message(7), [DOWN])])
    await batches.create_for_events([(message(7), [DOWN]), (message(8), [DOWN])], parked={DOWN})

    assert await batches.unpark(0, [], 1000) == 1  # only evt_8 is new

    rows = await rows_of(pool, DOWN)
    assert sorted(rows) == ["evt_7", "evt_8"]
    assert rows["evt_7"]["webhook_id"] == first.webhook_id
    assert await parked_sizes(pool) == {}


async def test_unpark_takes_whole_records_oldest_first_up_to_the_limit(pool):
    batches = BatchStore(pool)
    for batch in range(3):
        fanout = [(message(10 * batch + n), [DOWN]) for n in range(2)]
        await batches.create_for_events(fanout, parked={DOWN})

    assert await batches.unpark(0, [], 3) == 4  # records of 2: the second crosses the limit
    assert sorted(await rows_of(pool, DOWN)) == ["evt_0", "evt_1", "evt_10", "evt_11"]
    assert await batches.unpark(0, [], 3) == 2
    assert await parked_sizes(pool) == {}
    assert await batches.unpark(0, [], 3) == 0


async def test_a_probe_unparks_only_the_oldest_delivery_of_each_endpoint(pool):
    """An endpoint whose breaker has cooled down gets one delivery to probe with, not a
    backlog: the rest stays parked until the probe closes the breaker."""
    batches, store = BatchStore(pool), DeliveryStore(pool)
    await batches.create_for_events(
        [(message(n), [DOWN, ALSO_DOWN]) for n in range(2)], parked={DOWN, ALSO_DOWN}
    )
    await batches.create_for_events([(message(5), [DOWN])], parked={DOWN})
    await pool.execute("UPDATE parked_deliveries SET created_at = now() - interval '1 minute'")
    listed = await store.list_deliveries(TENANT, DeliveryFilter(endpoint_id=DOWN), None, 10)

    assert await batches.unpark_probes([]) == []
    [probe] = await batches.unpark_probes([DOWN, UP])

    assert (probe.event_id, probe.endpoint_id, probe.state) == ("evt_0", DOWN, "pending")
    assert probe.payload == message(0).body
    assert sorted(await rows_of(pool, DOWN)) == ["evt_0"]
    assert await parked_sizes(pool) == {DOWN: [1, 1], ALSO_DOWN: [2]}
    again = await store.list_deliveries(TENANT, DeliveryFilter(endpoint_id=DOWN), None, 10)
    assert sorted(d.event_id for d in again) == ["evt_0", "evt_1", "evt_5"]  # none lost
    probes = await batches.unpark_probes([DOWN, ALSO_DOWN])
    assert sorted((p.endpoint_id, p.event_id) for p in probes) == [
        (ALSO_DOWN, "evt_0"),
        (DOWN, "evt_1"),
    ]
    assert await parked_sizes(pool) == {DOWN: [1], ALSO_DOWN: [1]}  # the emptied one is gone
    assert [p.event_id for p in await batches.unpark_probes([DOWN])] == ["evt_5"]
    assert await parked_sizes(pool) == {ALSO_DOWN: [1]}
    rows = await rows_of(pool, DOWN)
    assert {e: bytes(r["payload"]) for e, r in rows.items()} == {
        e: message(int(e[4:])).body for e in ("evt_0", "evt_1", "evt_5")
    }
    assert {(d.event_id, d.delivery_id, d.webhook_id) for d in listed} == {
        (e, r["delivery_id"], r["webhook_id"]) for e, r in rows.items()
    }
    # Parked a minute ago but touched now: no reclaim pass (of another replica) takes a probe
    # being queued.
    assert await batches.reclaim(30, [], 100) == []


async def test_endpoints_parked_for_the_same_events_share_them_and_ids_derive_from_the_key(pool):
    """The events go once per group; each endpoint still gets its own record, with exactly
    the events it is parked for, and every listing shows the same ids for a parked delivery."""
    batches, store = BatchStore(pool), DeliveryStore(pool)
    fanout = [(message(n), [UP, DOWN, ALSO_DOWN]) for n in range(3)]
    fanout.append((message(3), [DOWN]))  # ALSO_DOWN does not take this event's type

    rows = await batches.create_for_events(fanout, parked={DOWN, ALSO_DOWN})

    assert sorted(r.event_id for r in rows) == ["evt_0", "evt_1", "evt_2"]
    records = await pool.fetch(
        "SELECT endpoint_id, size, event_ids, payloads FROM parked_deliveries ORDER BY endpoint_id"
    )
    assert [(r["endpoint_id"], r["size"], r["event_ids"]) for r in records] == [
        (ALSO_DOWN, 3, ["evt_0", "evt_1", "evt_2"]),
        (DOWN, 4, ["evt_0", "evt_1", "evt_2", "evt_3"]),
    ]
    assert [bytes(p) for p in records[1]["payloads"]] == [message(n).body for n in range(4)]
    listings = [
        await store.list_deliveries(TENANT, DeliveryFilter(state="pending"), None, 20)
        for _ in range(2)
    ]
    parked = {(d.event_id, d.endpoint_id): d for d in listings[0] if d.endpoint_id != UP}
    assert len(parked) == 7
    assert {(d.event_id, d.endpoint_id, d.delivery_id, d.webhook_id) for d in listings[0]} == {
        (d.event_id, d.endpoint_id, d.delivery_id, d.webhook_id) for d in listings[1]
    }
    assert all(is_id(d.delivery_id, "dlv") and is_id(d.webhook_id, "msg") for d in parked.values())
    assert len({d.delivery_id for d in parked.values()}) == 7  # per event and endpoint
    assert len({d.webhook_id for d in parked.values()}) == 7
    assert parked[("evt_0", DOWN)].webhook_id != parked[("evt_0", ALSO_DOWN)].webhook_id


async def test_records_parked_with_drawn_ids_become_rows_with_those_ids_on_upgrade(
    dispatcher_db: str,
):
    """Migration 6 drops the drawn ids from parked records: the records parked before it
    (their ids perhaps listed already) become pending rows with those ids, none lost."""
    pool = await connect_pool(dispatcher_db, schema="dispatcher", timeout_seconds=10)
    try:
        async with pool.acquire() as conn:
            await conn.execute(
                "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            for migration in load_migrations("behalf.dispatcher"):
                if migration.version < 6:
                    await conn.execute(migration.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                        migration.version,
                        migration.name,
                    )
            await conn.execute(
                """INSERT INTO parked_deliveries (tenant_id, endpoint_id, size, delivery_ids,
                       webhook_ids, event_ids, event_types, payloads)
                   VALUES ($1, $2, 2, $3, $4, $5, $6, $7)""",
                TENANT,
                DOWN,
                ["dlv_aaaaaaaaaaaaaaaaaaaa", "dlv_bbbbbbbbbbbbbbbbbbbb"],
                ["msg_aaaaaaaaaaaaaaaaaaaa", "msg_bbbbbbbbbbbbbbbbbbbb"],
                ["evt_0", "evt_1"],
                ["verification.allowed"] * 2,
                [message(0).body, message(1).body],
            )

        applied = await migrate(pool, "behalf.dispatcher")
        assert applied[:2] == [6, 7] and applied == sorted(applied)

        rows = await rows_of(pool, DOWN)
        assert {e: (r["delivery_id"], r["webhook_id"], r["state"]) for e, r in rows.items()} == {
            "evt_0": ("dlv_aaaaaaaaaaaaaaaaaaaa", "msg_aaaaaaaaaaaaaaaaaaaa", "pending"),
            "evt_1": ("dlv_bbbbbbbbbbbbbbbbbbbb", "msg_bbbbbbbbbbbbbbbbbbbb", "pending"),
        }
        assert bytes(rows["evt_1"]["payload"]) == message(1).body
        assert await parked_sizes(pool) == {}
    finally:
        await pool.close()


async def test_reclaim_takes_a_retrying_delivery_whose_task_was_lost(pool):
    """A retry task that came before its attempt was recorded (the write stalled) is dropped
    after a while; its delivery stays `retrying`, long past due, with no task. Reclaim makes it
    pending and offers it again; one whose task may still come (not yet that late) it leaves."""
    batches = BatchStore(pool)
    [lost, waiting, due_later] = await batches.create_for_events(
        [(message(n), [UP]) for n in range(3)]
    )
    await pool.execute(
        """UPDATE deliveries SET state = 'retrying', attempt_count = 1,
               next_attempt_at = now() + make_interval(secs => (
                   CASE delivery_id WHEN $1 THEN -600 WHEN $2 THEN -60 ELSE 300 END)),
               updated_at = now() - interval '1 hour'""",
        lost.delivery_id,
        waiting.delivery_id,
    )

    assert await batches.reclaim(30, [], 100) == []  # only pending rows, unless asked
    assert await batches.reclaim(30, [lost.delivery_id], 100, retry_lost_after_seconds=150) == []
    [reclaimed] = await batches.reclaim(30, [], 100, retry_lost_after_seconds=150)

    assert (reclaimed.delivery_id, reclaimed.state) == (lost.delivery_id, "pending")
    assert reclaimed.webhook_id == lost.webhook_id and reclaimed.attempt_count == 1
    states = {r["delivery_id"]: r["state"] for r in await pool.fetch("SELECT * FROM deliveries")}
    assert states == {
        lost.delivery_id: "pending",
        waiting.delivery_id: "retrying",
        due_later.delivery_id: "retrying",
    }
    # Touched now: the next pass (here or in another replica) does not take it again.
    assert await batches.reclaim(30, [], 100, retry_lost_after_seconds=150) == []
