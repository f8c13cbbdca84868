"""One tenant's webhook endpoints against every other tenant's deliveries: real Kafka and
PostgreSQL, a local receiver, a fake registry. The attacker is a tenant admin, who chooses its
endpoints' URLs, how they answer and how many events its agents make."""

from __future__ import annotations

import asyncio
import time

import pytest

from behalf.v1 import common_pb2
from tests.harness.receiver import Received
from tests.integration.dispatcher.conftest import (
    OTHER_TENANT,
    TENANT,
    decision_event,
    dispatcher_env,
    publish,
    run_dispatcher,
)

pytestmark = pytest.mark.integration

ATTACKER, VICTIM = TENANT, OTHER_TENANT
STALL_SECONDS = 0.5
SLOW_SECONDS = 0.4  # each answer comes before the stall time: the lane counts as draining
FLOOD = 40


async def _slow_ok(_request: Received, _n: int) -> tuple[int, dict[str, str]]:
    await asyncio.sleep(SLOW_SECONDS)
    return 200, {}


async def test_an_endpoint_that_answers_late_does_not_hold_up_other_tenants_deliveries(
    dispatcher_db, kafka_bootstrap, prefix, registry, receiver, producer
):
    """The attack: the attacker's endpoint answers every POST with 200, but only just before
    it would count as hanging, one request at a time, and its agents flood events. Its lane
    is full and draining slowly; intake used to wait for room in it for each of the
    attacker's deliveries while every tenant's deliveries queued behind (FLOOD x 0.4 s here).
    Now intake queues what has room first, and a tenant's deliveries wait for full lanes two
    stall periods per poll in all, so the victim's delivery goes at once (or after the
    attacker's wait in the poll before), and the attacker's overflow waits its turn on the
    retry tiers: every one of its deliveries still arrives."""
    env = dispatcher_env(
        dispatcher_db,
        kafka_bootstrap,
        prefix,
        registry.port,
        BEHALF_WEBHOOK_ENDPOINT_CONCURRENCY="2",
        BEHALF_WEBHOOK_ENDPOINT_QUEUE_LIMIT="2",
        BEHALF_WEBHOOK_STALL_SECONDS=str(STALL_SECONDS),
        BEHALF_TOPIC_PARTITIONS="1",  # the victim's event after the attacker's, in one poll
    )
    registry.add(receiver.url("/attacker"), tenant_id=ATTACKER)
    registry.add(receiver.url("/victim"), tenant_id=VICTIM)
    receiver.behaviours["/attacker"] = _slow_ok
    async with run_dispatcher(env):
        flood = [decision_event(common_pb2.OUTCOME_DENY, tenant_id=ATTACKER) for _ in range(FLOOD)]
        for event in flood:
            await publish(producer, f"{prefix}.decisions", event, "verification.denied")
        victim = decision_event(common_pb2.OUTCOME_DENY, tenant_id=VICTIM)
        await publish(producer, f"{prefix}.decisions", victim, "verification.denied")
        published = time.monotonic()
        await receiver.wait_for(lambda: receiver.on("/victim"), within=30, what="the victim")
        arrived = receiver.on("/victim")[0].at
        # Counted rather than timed, so a loaded machine slows both sides alike: intake that
        # waits for room for each of the attacker's deliveries in turn lets ~36 of them reach
        # the slow endpoint before the victim's (7.2 s when it was measured); now only what
        # fits the lane and one poll's waits does.
        ahead = {r.headers["webhook-id"] for r in receiver.on("/attacker") if r.at < arrived}
        assert len(ahead) < FLOOD // 2, (
            f"the victim's delivery waited {arrived - published:.1f} s, behind {len(ahead)} of "
            "the attacker's deliveries to its slow endpoint"
        )
        # Nothing is lost: the attacker's deliveries all arrive, deferred while its lane was full.
        await receiver.wait_for(
            lambda: len({r.headers["webhook-id"] for r in receiver.on("/attacker")}) >= FLOOD,
            within=60,
            what="every attacker delivery",
        )
