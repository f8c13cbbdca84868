"""The audit publisher against a real broker: decisions queued while a transaction's records
are in flight join that transaction, and every decision acknowledged is committed."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from aiokafka import AIOKafkaConsumer
from prometheus_client import REGISTRY

from behalf.common.kafka import ensure_topics
from behalf.v1 import common_pb2, events_pb2
from behalf.verifier.audit import AuditUnavailable, DecisionPublisher

pytestmark = pytest.mark.integration


def _event(n: int) -> events_pb2.DecisionEvent:
    return events_pb2.DecisionEvent(
        event_id=f"evt_{uuid.uuid4().hex[:20]}",
        tenant_id="ten_" + "a" * 20,
        agent_id="agt_" + "b" * 20,
        action="purchase",
        resource="coachella.com",
        decision=common_pb2.Decision(request_id=f"req_{n}", outcome=common_pb2.OUTCOME_ALLOW),
    )


def _batches() -> tuple[float, float]:
    """(transactions, decisions) the process's audit publishers have committed so far."""
    count = REGISTRY.get_sample_value("behalf_verifier_audit_batch_size_count") or 0.0
    total = REGISTRY.get_sample_value("behalf_verifier_audit_batch_size_sum") or 0.0
    return count, total


async def _yield_until(condition: Callable[[], bool]) -> None:
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


@pytest.fixture
async def topic(kafka_bootstrap: str) -> str:
    name = f"audit-batches-{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_bootstrap, [name], partitions=1, timeout_seconds=30)
    return name


@pytest.fixture
async def publisher(kafka_bootstrap: str, topic: str) -> AsyncIterator[DecisionPublisher]:
    audit = DecisionPublisher(
        kafka_bootstrap, topic, 5.0, transactional_id=f"test-{uuid.uuid4().hex[:8]}", lanes=1
    )
    await audit.start()
    yield audit
    await audit.stop()


async def _committed(kafka_bootstrap: str, topic: str, expected: int) -> list[str]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    seen: list[str] = []
    try:
        async with asyncio.timeout(30):
            while len(seen) < expected:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    for record in records:
                        event = events_pb2.DecisionEvent.FromString(record.value)
                        seen.append(event.decision.request_id)
    finally:
        await consumer.stop()
    return seen


async def test_decisions_queued_during_a_transaction_join_it(
    publisher: DecisionPublisher, kafka_bootstrap: str, topic: str
) -> None:
    transactions, decisions = _batches()
    first = asyncio.ensure_future(publisher.publish(_event(0)))
    await asyncio.sleep(0)  # publish() has queued it
    await _yield_until(publisher._queue.empty)  # the lane took it and opened its transaction
    rest = [asyncio.ensure_future(publisher.publish(_event(n))) for n in range(1, 31)]
    await asyncio.gather(first, *rest)
    after_transactions, after_decisions = _batches()
    assert after_decisions - decisions == 31
    assert after_transactions - transactions == 1  # not one for the first and one for the rest
    committed = await _committed(kafka_bootstrap, topic, 31)
    assert sorted(committed) == sorted(f"req_{n}" for n in range(31))


async def test_a_steady_stream_is_committed_whole(
    publisher: DecisionPublisher, kafka_bootstrap: str, topic: str
) -> None:
    """Decisions trickling in while transactions run: each acknowledged one is committed once,
    and a transaction never outgrows the batch bound."""

    async def trickle(n: int) -> None:
        await asyncio.sleep(n * 0.0005)
        await publisher.publish(_event(n))

    await asyncio.gather(*(trickle(n) for n in range(200)))
    committed = await _committed(kafka_bootstrap, topic, 200)
    assert sorted(committed) == sorted(f"req_{n}" for n in range(200))


async def test_a_steady_stream_does_not_hold_back_the_first_decisions(
    publisher: DecisionPublisher, kafka_bootstrap: str, topic: str
) -> None:
    """Latecomers join a transaction for a bounded number of rounds only: with decisions
    arriving five a millisecond, the first one is committed long before the stream ends, in
    one of many transactions rather than one that keeps growing."""
    transactions, _ = _batches()
    first = asyncio.ensure_future(publisher.publish(_event(0)))
    stream: list[asyncio.Future[None]] = []
    first_done_at = None
    for n in range(1, 101):
        stream += [asyncio.ensure_future(publisher.publish(_event(5 * n + i))) for i in range(5)]
        await asyncio.sleep(0.001)
        if first.done() and first_done_at is None:
            first_done_at = n
    await asyncio.gather(first, *stream)
    assert first_done_at is not None and first_done_at < 100
    after, _ = _batches()
    assert after - transactions >= 5
    committed = await _committed(kafka_bootstrap, topic, 501)
    assert len(set(committed)) == 501


async def test_transactions_take_the_lanes_producers_in_turn(
    publisher: DecisionPublisher, kafka_bootstrap: str, topic: str
) -> None:
    """Back to back, each transaction begins on the producer that did not just commit (whose
    last transaction's markers had time to be written), and every decision is committed."""
    committed_by: list[str] = []
    for slot in publisher._slots():
        assert slot.producer is not None
        commit = slot.producer.commit_transaction

        async def counted(commit=commit, name: str = slot.transactional_id) -> None:
            await commit()
            committed_by.append(name)

        slot.producer.commit_transaction = counted  # type: ignore[method-assign]
    for n in range(4):
        await publisher.publish(_event(n))
    first, second = (slot.transactional_id for slot in publisher._slots())
    assert committed_by == [first, second, first, second]
    assert sorted(await _committed(kafka_bootstrap, topic, 4)) == [f"req_{n}" for n in range(4)]


async def test_a_failed_commit_on_one_producer_denies_its_decisions_and_commits_nothing_of_them(
    publisher: DecisionPublisher, kafka_bootstrap: str, topic: str
) -> None:
    """The decisions of a transaction whose commit fails are refused (the caller answers
    DENY) and never appear as committed, whichever producer it was on; the lane's other
    producer carries on, and the failed one is replaced (fencing what it left open)."""
    failing = publisher._slots()[0]
    assert failing.producer is not None

    async def refused_commit() -> None:
        raise RuntimeError("the broker refused the commit")

    failing.producer.commit_transaction = refused_commit  # type: ignore[method-assign]
    with pytest.raises(AuditUnavailable) as caught:
        await publisher.publish(_event(0))
    # Asked to commit and not confirmed: the caller is denied but keeps what it took.
    assert caught.value.maybe_committed
    await asyncio.wait_for(publisher.publish(_event(1)), timeout=10)  # the other producer
    await asyncio.wait_for(publisher.publish(_event(2)), timeout=10)  # the replaced one
    assert sorted(await _committed(kafka_bootstrap, topic, 2)) == ["req_1", "req_2"]


async def test_a_decision_whose_caller_left_before_it_was_sent_is_never_audited(
    publisher: DecisionPublisher, kafka_bootstrap: str, topic: str
) -> None:
    """The caller's deadline passes (grpc.aio cancels the handler) while its decision waits
    behind a transaction in flight: it is withdrawn, told so, and never committed; the
    decisions around it are."""
    withdrawn: list[str] = []
    first = asyncio.ensure_future(publisher.publish(_event(0)))
    await asyncio.sleep(0)
    await _yield_until(publisher._queue.empty)  # the lane took it and opened its transaction
    left = asyncio.ensure_future(
        publisher.publish(_event(1), on_withdrawn=lambda: withdrawn.append("req_1"))
    )
    await asyncio.sleep(0)  # queued, not yet drained into the transaction
    left.cancel()
    with pytest.raises(asyncio.CancelledError):
        await left
    await first
    await publisher.publish(_event(2))
    # The first two committed records, in partition order: req_1 would be among them.
    committed = await _committed(kafka_bootstrap, topic, 2)
    assert sorted(committed) == ["req_0", "req_2"] and withdrawn == ["req_1"]
