"""The audit sink (decisions topic into PostgreSQL) and the ListDecisions / GetDecision queries."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from behalf.common.errors import InvalidArgument, NotFound
from behalf.common.ids import new_id
from behalf.common.kafka import EVENT_TYPE_HEADER, Topics
from behalf.registry.audit import AuditQueries, AuditSink
from behalf.v1 import common_pb2, events_pb2, registry_pb2
from tests.integration.registry_stream.stream_support import Database, wait_until

pytestmark = pytest.mark.integration

BASE = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def decision(
    tenant_id: str,
    *,
    minute: int,
    agent_id: str | None = None,
    outcome: int = common_pb2.OUTCOME_ALLOW,
    reason: int = common_pb2.REASON_CODE_ALLOWED,
) -> events_pb2.DecisionEvent:
    event = events_pb2.DecisionEvent(
        event_id=new_id("evt"),
        tenant_id=tenant_id,
        agent_id=agent_id or new_id("agt"),
        action="purchase",
        resource="shop.example.com",
        decision=common_pb2.Decision(
            request_id=new_id("req"), outcome=outcome, reason_code=reason, policy_revision=7
        ),
    )
    event.decision.decide_time.FromDatetime(BASE + timedelta(minutes=minute))
    return event


async def produce(bootstrap: str, topic: str, events: list[events_pb2.DecisionEvent]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(
                topic,
                event.SerializeToString(),
                key=event.tenant_id.encode(),
                headers=[(EVENT_TYPE_HEADER, b"verification.allowed")],
            )
    finally:
        await producer.stop()


@pytest.fixture
async def sink(db: Database, topics: Topics, kafka_bootstrap: str) -> AsyncIterator[AuditSink]:
    """A running audit sink on the test's decisions topic with its own consumer group."""
    running = AuditSink(
        db.pool,
        bootstrap=kafka_bootstrap,
        topic=topics.decisions,
        group_id=f"audit-{uuid.uuid4().hex[:8]}",
    )
    await running.start()
    yield running
    await running.stop()


async def _rows(db: Database) -> int:
    return await db.pool.fetchval("SELECT count(*) FROM decisions")


async def test_sink_is_idempotent_on_event_id_and_commits_after_insert(
    db: Database, topics: Topics, kafka_bootstrap: str
) -> None:
    """The same DecisionEvent consumed twice is one row, a re-read by a new consumer group
    adds nothing, and the group's committed offsets cover what was stored."""
    tenant = new_id("ten")
    first, other = decision(tenant, minute=1), decision(tenant, minute=2)
    await produce(kafka_bootstrap, topics.decisions, [first, first, other])
    group = f"audit-{uuid.uuid4().hex[:8]}"
    for group_id in (group, f"{group}-again"):
        sink = AuditSink(
            db.pool, bootstrap=kafka_bootstrap, topic=topics.decisions, group_id=group_id
        )
        await sink.start()
        try:

            async def committed_all(group_id: str = group_id) -> bool:
                return await _committed(kafka_bootstrap, topics.decisions, group_id) == 3

            await wait_until(committed_all)
        finally:
            await sink.stop()
        assert await _rows(db) == 2
    row = await db.pool.fetchrow("SELECT * FROM decisions WHERE event_id = $1", first.event_id)
    assert (row["outcome"], row["reason_code"]) == ("OUTCOME_ALLOW", "REASON_CODE_ALLOWED")
    assert row["decided_at"] == BASE + timedelta(minutes=1)
    assert row["request_id"] == first.decision.request_id


async def _committed(bootstrap: str, topic: str, group_id: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id)
    await consumer.start()
    try:
        total = 0
        for partition in range(3):
            total += await consumer.committed(TopicPartition(topic, partition)) or 0
        return total
    finally:
        await consumer.stop()


async def test_sink_skips_records_that_are_not_decision_events(
    db: Database, topics: Topics, kafka_bootstrap: str, sink: AuditSink
) -> None:
    """A record that is not a DecisionEvent is logged and skipped, not retried forever."""
    good = decision(new_id("ten"), minute=3)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topics.decisions, b"\xff\xff not protobuf", key=b"x")
        await producer.send_and_wait(topics.decisions, b"", key=b"x")
    finally:
        await producer.stop()
    await produce(kafka_bootstrap, topics.decisions, [good])

    async def stored() -> bool:
        return await _rows(db) == 1

    await wait_until(stored)


async def test_a_decision_with_an_impossible_time_is_stored_and_holds_up_nothing(
    db: Database, topics: Topics, kafka_bootstrap: str, sink: AuditSink
) -> None:
    """A decide_time past year 9999 or with negative nanos decodes but is no date: the row is
    stored at the broker's time, and the records after it are stored too."""
    tenant = new_id("ten")
    far, odd, after = (decision(tenant, minute=n) for n in (4, 5, 6))
    far.decision.decide_time.seconds = 253_402_300_800
    odd.decision.decide_time.nanos = -5
    await produce(kafka_bootstrap, topics.decisions, [far, odd, after])

    async def stored() -> bool:
        return await _rows(db) == 3

    await wait_until(stored)
    row = await db.pool.fetchrow(
        "SELECT decided_at FROM decisions WHERE event_id = $1", far.event_id
    )
    assert abs(row["decided_at"] - datetime.now(UTC)) < timedelta(minutes=5)


async def _load(
    db: Database, bootstrap: str, topics: Topics, events: list[events_pb2.DecisionEvent]
) -> None:
    await produce(bootstrap, topics.decisions, events)

    async def stored() -> bool:
        return await _rows(db) == len(events)

    await wait_until(stored)


async def test_list_decisions_filters_and_pages(
    db: Database, topics: Topics, kafka_bootstrap: str, sink: AuditSink
) -> None:
    """ListDecisions returns only the tenant's decisions, newest first, filtered by agent,
    outcome, reason, time range and request id, and pages through them without gaps."""
    tenant, stranger = new_id("ten"), new_id("ten")
    agent = new_id("agt")
    events = [
        decision(
            tenant,
            minute=i,
            agent_id=agent if i % 3 == 0 else None,
            outcome=common_pb2.OUTCOME_DENY if i % 2 else common_pb2.OUTCOME_ALLOW,
            reason=common_pb2.REASON_CODE_NO_PERMISSION
            if i % 2
            else common_pb2.REASON_CODE_ALLOWED,
        )
        for i in range(30)
    ]
    events.append(decision(stranger, minute=5, agent_id=agent))
    await _load(db, kafka_bootstrap, topics, events)
    queries = AuditQueries(db.pool)
    mine = sorted(
        (e for e in events if e.tenant_id == tenant),
        key=lambda e: e.decision.decide_time.ToDatetime(),
        reverse=True,
    )

    async def ids(**filters: object) -> list[str]:
        response = await queries.list_decisions(
            tenant, registry_pb2.ListDecisionsRequest(**filters)
        )
        assert not response.next_page_token
        return [d.event_id for d in response.decisions]

    assert await ids(page_size=500) == [e.event_id for e in mine]
    assert await ids(agent_id=agent) == [e.event_id for e in mine if e.agent_id == agent]
    assert await ids(outcome=common_pb2.OUTCOME_DENY) == [
        e.event_id for e in mine if e.decision.outcome == common_pb2.OUTCOME_DENY
    ]
    assert await ids(reason_code=common_pb2.REASON_CODE_ALLOWED) == [
        e.event_id for e in mine if e.decision.reason_code == common_pb2.REASON_CODE_ALLOWED
    ]
    window = registry_pb2.ListDecisionsRequest()
    window.start_time.FromDatetime(BASE + timedelta(minutes=10))
    window.end_time.FromDatetime(BASE + timedelta(minutes=20))
    windowed = await queries.list_decisions(tenant, window)
    assert [d.event_id for d in windowed.decisions] == [e.event_id for e in mine[10:20]]
    target = mine[4]
    assert await ids(request_id=target.decision.request_id) == [target.event_id]
    assert await ids(request_id=events[-1].decision.request_id) == []

    pages, token = [], ""
    while True:
        response = await queries.list_decisions(
            tenant, registry_pb2.ListDecisionsRequest(page_size=7, page_token=token)
        )
        pages.append([d.event_id for d in response.decisions])
        token = response.next_page_token
        if not token:
            break
    assert [len(p) for p in pages] == [7, 7, 7, 7, 2]
    assert [i for p in pages for i in p] == [e.event_id for e in mine]

    first_page = await queries.list_decisions(
        tenant, registry_pb2.ListDecisionsRequest(page_size=3)
    )
    with pytest.raises(InvalidArgument) as raised:
        await queries.list_decisions(
            tenant,
            registry_pb2.ListDecisionsRequest(
                agent_id=agent, page_token=first_page.next_page_token
            ),
        )
    assert raised.value.field == "page_token"
    with pytest.raises(InvalidArgument) as raised:
        await queries.list_decisions(
            stranger, registry_pb2.ListDecisionsRequest(page_token=first_page.next_page_token)
        )
    assert raised.value.field == "page_token"


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"page_size": 501}, "page_size"),
        ({"page_size": -1}, "page_size"),
        ({"page_token": "not-a-token"}, "page_token"),
        ({"page_token": "eyJ0Ijoid2hhdCJ9"}, "page_token"),
        ({"agent_id": "bogus"}, "agent_id"),
        ({"outcome": 99}, "outcome"),
        ({"reason_code": 999}, "reason_code"),
        ({"request_id": "\x00"}, "request_id"),  # PostgreSQL text refuses NUL: no INTERNAL
        ({"request_id": "req 1"}, "request_id"),
        ({"request_id": "r" * 129}, "request_id"),
    ],
)
async def test_list_decisions_rejects_bad_input(
    db: Database, request_fields: dict[str, object], field: str
) -> None:
    """Malformed ListDecisions input is INVALID_ARGUMENT naming the field."""
    with pytest.raises(InvalidArgument) as raised:
        await AuditQueries(db.pool).list_decisions(
            new_id("ten"), registry_pb2.ListDecisionsRequest(**request_fields)
        )
    assert raised.value.field == field


async def test_list_decisions_rejects_an_empty_time_range(db: Database) -> None:
    """An end_time not after start_time is INVALID_ARGUMENT on end_time."""
    request = registry_pb2.ListDecisionsRequest()
    request.start_time.FromDatetime(BASE)
    request.end_time.FromDatetime(BASE)
    with pytest.raises(InvalidArgument) as raised:
        await AuditQueries(db.pool).list_decisions(new_id("ten"), request)
    assert raised.value.field == "end_time"


async def test_get_decision_is_scoped_to_the_tenant(
    db: Database, topics: Topics, kafka_bootstrap: str, sink: AuditSink
) -> None:
    """GetDecision returns the tenant's decision by request id; another tenant's request id
    and an unknown one are both NOT_FOUND."""
    tenant, other = new_id("ten"), new_id("ten")
    event = decision(tenant, minute=1)
    await _load(db, kafka_bootstrap, topics, [event])
    queries = AuditQueries(db.pool)
    assert await queries.get_decision(tenant, event.decision.request_id) == event
    for tenant_id, request_id in ((other, event.decision.request_id), (tenant, new_id("req"))):
        with pytest.raises(NotFound) as raised:
            await queries.get_decision(tenant_id, request_id)
        assert str(raised.value) == "decision not found"
    # By its event id: exactly that decision, and only in its tenant.
    assert await queries.get_event(tenant, event.event_id) == event
    with pytest.raises(NotFound):
        await queries.get_event(other, event.event_id)
    for no_request_id in ("", "\x00", "req 1", "r" * 129):
        with pytest.raises(InvalidArgument) as invalid:
            await queries.get_decision(tenant, no_request_id)
        assert invalid.value.field == "request_id"


async def test_count_decisions_buckets_the_window_in_postgresql(
    db: Database, topics: Topics, kafka_bootstrap: str, sink: AuditSink
) -> None:
    """CountDecisions counts the tenant's decisions by outcome in equal buckets, agrees with
    counting the listed rows, respects the filters and the window's edges, and never counts
    another tenant's."""
    tenant, stranger = new_id("ten"), new_id("ten")
    agent = new_id("agt")
    events = [
        decision(
            tenant,
            minute=i,
            agent_id=agent if i % 4 == 0 else None,
            outcome=(common_pb2.OUTCOME_ALLOW, common_pb2.OUTCOME_DENY)[i % 2],
            reason=(common_pb2.REASON_CODE_ALLOWED, common_pb2.REASON_CODE_NO_PERMISSION)[i % 2],
        )
        for i in range(60)
    ]
    events += [decision(stranger, minute=i) for i in range(10)]
    await _load(db, kafka_bootstrap, topics, events)
    queries = AuditQueries(db.pool)

    def window(**fields: object) -> registry_pb2.CountDecisionsRequest:
        request = registry_pb2.CountDecisionsRequest(**fields)  # type: ignore[arg-type]
        request.start_time.FromDatetime(BASE + timedelta(minutes=10))
        request.end_time.FromDatetime(BASE + timedelta(minutes=40))
        return request

    counted = await queries.count_decisions(tenant, window(buckets=6))
    got = {(c.bucket_start.ToDatetime(tzinfo=UTC), c.outcome): c.count for c in counted.counts}
    expected: dict[tuple[datetime, int], int] = {}
    for minute in range(10, 40):  # the end is exclusive
        key = (
            BASE + timedelta(minutes=10 + 5 * ((minute - 10) // 5)),
            events[minute].decision.outcome,
        )
        expected[key] = expected.get(key, 0) + 1
    assert got == expected
    assert sum(got.values()) == 30

    by_agent = await queries.count_decisions(tenant, window(buckets=1, agent_id=agent))
    assert sum(c.count for c in by_agent.counts) == len([m for m in range(10, 40) if m % 4 == 0])
    denials = await queries.count_decisions(
        tenant, window(buckets=3, reason_code=common_pb2.REASON_CODE_NO_PERMISSION)
    )
    assert {c.outcome for c in denials.counts} == {common_pb2.OUTCOME_DENY}
    assert sum(c.count for c in denials.counts) == 15

    for fields, field in (
        ({"buckets": 0}, "buckets"),
        ({"buckets": 289}, "buckets"),
        ({"buckets": 4, "agent_id": "nope"}, "agent_id"),
    ):
        with pytest.raises(InvalidArgument) as refused:
            await queries.count_decisions(tenant, window(**fields))
        assert refused.value.field == field
    backwards = window(buckets=2)
    backwards.end_time.FromDatetime(BASE)
    with pytest.raises(InvalidArgument, match="end_time"):
        await queries.count_decisions(tenant, backwards)
    with pytest.raises(InvalidArgument, match="start_time"):
        await queries.count_decisions(tenant, registry_pb2.CountDecisionsRequest(buckets=2))
