"""A failing endpoint's breaker sets deliveries aside in PostgreSQL; reclaim delivers them later."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import pytest

from behalf.v1 import common_pb2
from tests.integration.dispatcher.conftest import (
    decision_event,
    dispatcher_env,
    publish,
    run_dispatcher,
)

pytestmark = pytest.mark.integration


class FlakyEndpoint:
    """A receiver path, registered as an endpoint, that answers 503 until it is `healthy`."""

    def __init__(self, receiver, registry, path: str) -> None:
        self.healthy = False
        receiver.behaviours[path] = self.answer
        registry.add(receiver.url(path))

    async def answer(self, _request, _n: int) -> tuple[int, dict[str, str]]:
        return (200, {}) if self.healthy else (503, {})


def breaker_env(dispatcher_db, kafka_bootstrap, prefix, registry, **overrides: str):
    """A dispatcher whose breakers open after two failures, one attempt at a time."""
    return dispatcher_env(
        dispatcher_db,
        kafka_bootstrap,
        prefix,
        registry.port,
        BEHALF_WEBHOOK_BREAKER_FAILURES="2",
        BEHALF_WEBHOOK_ENDPOINT_CONCURRENCY="1",
        **overrides,
    )


async def test_open_breaker_parks_and_reclaim_delivers_after_recovery(
    dispatcher_db, kafka_bootstrap, prefix, registry, receiver, producer
):
    """An endpoint answering 503 opens its breaker after two failures; the other events are
    left pending without an attempt, and the events that come while it is open are parked
    (one compact record per batch, no delivery rows). Once it recovers every event arrives,
    one webhook-id per delivery, each delivery succeeded."""
    flaky = FlakyEndpoint(receiver, registry, "/flaky")
    env = breaker_env(
        dispatcher_db,
        kafka_bootstrap,
        prefix,
        registry,
        BEHALF_WEBHOOK_BREAKER_COOLDOWN_SECONDS="60",
        BEHALF_WEBHOOK_RECLAIM_AFTER_SECONDS="2",
        BEHALF_WEBHOOK_RETRY_TIERS="1s,2s,3s,4s,5s",
    )
    events = [decision_event(common_pb2.OUTCOME_ALLOW) for _ in range(30)]
    later = [decision_event(common_pb2.OUTCOME_ALLOW) for _ in range(10)]
    expected = {e.event_id for e in events + later}

    def received() -> set[str]:
        return {json.loads(r.body)["data"]["event_id"] for r in receiver.on("/flaky")}

    async with run_dispatcher(env):
        for event in events:
            await publish(producer, f"{prefix}.decisions", event, "verification.allowed")
        await receiver.wait_for(lambda: len(receiver.on("/flaky")) >= 2, within=20)
        await asyncio.sleep(3)  # the two failures' retries come back to an open breaker
        for event in later:
            await publish(producer, f"{prefix}.decisions", event, "verification.allowed")
        conn = await asyncpg.connect(dispatcher_db)
        try:
            for _ in range(100):
                parked = await conn.fetchval("SELECT sum(size) FROM dispatcher.parked_deliveries")
                rows = await conn.fetch("SELECT event_id FROM dispatcher.deliveries")
                if parked + len(rows) == len(expected):
                    break
                await asyncio.sleep(0.1)
        finally:
            await conn.close()
    assert parked + len(rows) == len(expected)
    assert not {e.event_id for e in later} & {r["event_id"] for r in rows}  # all parked
    assert len(receiver.on("/flaky")) == 2  # every other delivery was set aside unattempted
    flaky.healthy = True
    async with run_dispatcher(env):  # a fresh breaker; reclaim finds the pending deliveries
        await receiver.wait_for(lambda: received() >= expected, within=60, what="every event")
        conn = await asyncpg.connect(dispatcher_db)
        try:
            for _ in range(100):
                states = dict(
                    await conn.fetch(
                        "SELECT state, count(*) FROM dispatcher.deliveries GROUP BY state"
                    )
                )
                if states == {"succeeded": 40}:
                    break
                await asyncio.sleep(0.2)
            webhook_ids = {
                r["webhook_id"]
                for r in await conn.fetch("SELECT webhook_id FROM dispatcher.deliveries")
            }
        finally:
            await conn.close()
    assert states == {"succeeded": 40}
    assert {r.headers["webhook-id"] for r in receiver.on("/flaky")} == webhook_ids


async def test_a_cooled_breaker_probes_with_one_parked_delivery_and_then_unparks_the_rest(
    dispatcher_db, kafka_bootstrap, prefix, registry, receiver, producer
):
    """No new event needed: once the breaker has cooled down, reclaim unparks one delivery as
    its probe (not a backlog for an endpoint that may still be down); while the endpoint
    fails, the rest stays parked; when a probe succeeds, the rest is delivered."""
    probed = FlakyEndpoint(receiver, registry, "/probed")
    env = breaker_env(
        dispatcher_db,
        kafka_bootstrap,
        prefix,
        registry,
        BEHALF_WEBHOOK_BREAKER_COOLDOWN_SECONDS="2",
        BEHALF_WEBHOOK_RECLAIM_AFTER_SECONDS="1",
        BEHALF_WEBHOOK_RETRY_TIERS="600s",  # the first failures stay away from the breaker
    )
    first = [decision_event(common_pb2.OUTCOME_ALLOW) for _ in range(2)]
    parked = [decision_event(common_pb2.OUTCOME_ALLOW) for _ in range(20)]

    async def counts(conn: asyncpg.Connection) -> tuple[int, int]:
        size = await conn.fetchval("SELECT sum(size) FROM dispatcher.parked_deliveries")
        return size or 0, await conn.fetchval("SELECT count(*) FROM dispatcher.deliveries")

    async with run_dispatcher(env):
        for event in first:
            await publish(producer, f"{prefix}.decisions", event, "verification.allowed")
        await receiver.wait_for(lambda: len(receiver.on("/probed")) >= 2, within=20)
        await asyncio.sleep(0.2)  # both failures recorded: the breaker is open
        for event in parked:
            await publish(producer, f"{prefix}.decisions", event, "verification.allowed")
        conn = await asyncpg.connect(dispatcher_db)
        try:
            await receiver.wait_for(
                lambda: len(receiver.on("/probed")) >= 3, within=20, what="a probe"
            )
            size, rows = await counts(conn)
            assert size + rows == 22  # nothing lost
            assert size >= 20 - 2  # the probe took one (and perhaps the next cooldown's)
            probed.healthy = True
            await receiver.wait_for(
                lambda: (
                    {e.event_id for e in parked}
                    <= {json.loads(r.body)["data"]["event_id"] for r in receiver.on("/probed")}
                ),
                within=30,
                what="every parked event",
            )
            assert (await counts(conn))[0] == 0
        finally:
            await conn.close()
