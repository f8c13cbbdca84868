"""The shared consume-and-commit loop: offsets, pauses, retries and commits without a broker."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition

from behalf.common import consume
from behalf.common.consume import ConsumeLoop, Offsets, RetryLater, pause_plan

TP = TopicPartition("t", 0)
OTHER = TopicPartition("t", 1)


def test_commit_stops_at_the_oldest_record_still_being_handled():
    """A partition's commit never passes a record whose handler has not returned."""
    offsets = Offsets()
    for n in range(5):
        offsets.take(TP, n)
    offsets.finish(TP, 0)
    offsets.finish(TP, 2)
    assert offsets.to_commit() == {TP: 1}
    offsets.finish(TP, 1)
    offsets.finish(TP, 3)
    offsets.finish(TP, 4)
    assert offsets.to_commit() == {TP: 5}


def test_an_offset_committed_is_not_committed_again():
    """Only partitions whose committable offset moved are committed."""
    offsets = Offsets()
    offsets.take(TP, 0)
    offsets.finish(TP, 0)
    offsets.committed(offsets.to_commit())
    assert offsets.to_commit() == {}


def test_a_held_record_is_where_reading_resumes():
    """A record not yet due is neither handled nor committed past."""
    offsets = Offsets()
    offsets.take(TP, 7)
    offsets.finish(TP, 7)
    offsets.hold(TP, 8)
    assert offsets.to_commit() == {TP: 8}


def test_a_forgotten_partition_ignores_late_finishes():
    """Work finishing after its partition was revoked does not bring the partition back."""
    offsets = Offsets()
    offsets.take(TP, 0)
    offsets.forget([TP])
    offsets.finish(TP, 0)
    assert TP not in offsets
    assert offsets.to_commit() == {}


def test_pause_plan_pauses_everything_when_saturated_and_only_waiters_otherwise():
    """Saturation pauses every assigned partition; otherwise only those waiting stay paused."""
    assigned = {TP, OTHER}
    assert pause_plan(assigned, set(), [], saturated=True) == ({TP, OTHER}, set())
    assert pause_plan(assigned, {TP, OTHER}, [OTHER], saturated=False) == (set(), {TP})
    assert pause_plan(assigned, set(), [TopicPartition("gone", 0)], saturated=False) == (
        set(),
        set(),
    )


@dataclass
class _Record:
    offset: int
    topic: str = "t"
    partition: int = 0
    headers: list[Any] = field(default_factory=list)


class _FakeConsumer:
    """Hands out each queued batch once, then nothing; records commits."""

    def __init__(self, batches: list[list[_Record]]) -> None:
        self.batches = batches
        self.commits: list[dict[Any, int]] = []
        self.stopped = False

    def subscribe(self, topics: list[str], listener: Any) -> None:
        self.listener = listener

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[Any, list[_Record]]:
        await asyncio.sleep(0.001)
        return {TP: self.batches.pop(0)} if self.batches else {}

    async def commit(self, offsets: dict[Any, int]) -> None:
        self.commits.append(dict(offsets))

    def assignment(self) -> set[Any]:
        return {TP}

    def paused(self) -> set[Any]:
        return set()

    def pause(self, *tps: Any) -> None: ...
    def resume(self, *tps: Any) -> None: ...
    async def stop(self) -> None:
        self.stopped = True


async def _until(condition: Any) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never held")


async def test_batches_are_retried_until_handled_then_committed(monkeypatch):
    """A failing batch is retried (nothing committed meanwhile) and committed once handled."""
    monkeypatch.setattr(consume, "RETRY_FIRST_SECONDS", 0.01)
    consumer = _FakeConsumer([[_Record(0), _Record(1)]])
    seen: list[list[int]] = []

    async def handler(records: list[Any]) -> None:
        seen.append([r.offset for r in records])
        if len(seen) < 3:
            if len(seen) == 1:
                raise RetryLater("not yet")
            raise RuntimeError("transient")
        assert consumer.commits == []

    loop = ConsumeLoop("test", consumer, ["t"], handler)  # type: ignore[arg-type]
    run = asyncio.create_task(loop.run())
    await _until(lambda: consumer.commits)
    loop.stop()
    await run
    assert seen == [[0, 1]] * 3
    assert consumer.commits == [{TP: 2}]
    assert consumer.stopped


async def test_per_record_commits_wait_for_a_slow_record():
    """Records are handled concurrently, and the commit waits for the slow earlier one."""
    consumer = _FakeConsumer([[_Record(0), _Record(1)]])
    release = asyncio.Event()

    async def handler(records: list[Any]) -> None:
        if records[0].offset == 0:
            await release.wait()

    loop = ConsumeLoop("test", consumer, ["t"], handler, per_record=True)  # type: ignore[arg-type]
    run = asyncio.create_task(loop.run())
    await asyncio.sleep(0.1)
    assert all(c == {TP: 0} for c in consumer.commits)
    release.set()
    await _until(lambda: consumer.commits and consumer.commits[-1] == {TP: 2})
    loop.stop()
    await run
    assert consumer.commits[-1] == {TP: 2}


async def test_stop_leaves_unhandled_records_uncommitted():
    """A record whose handler keeps failing when the loop stops is left for the next consumer."""
    consumer = _FakeConsumer([[_Record(0)]])

    async def handler(records: list[Any]) -> None:
        raise RetryLater("never")

    loop = ConsumeLoop("test", consumer, ["t"], handler, per_record=True, drain_seconds=2)  # type: ignore[arg-type]
    run = asyncio.create_task(loop.run())
    await asyncio.sleep(0.05)
    loop.stop()
    await run
    assert all(c == {TP: 0} for c in consumer.commits)
    assert consumer.stopped


async def test_two_batches_in_flight_overlap_and_commit_in_order():
    """With two polls in flight the second is handled while the first still runs, a third
    waits until one of them ends, and the commit never passes an unfinished batch."""
    consumer = _FakeConsumer([[_Record(0), _Record(1)], [_Record(2)], [_Record(3)]])
    release = asyncio.Event()
    started: list[int] = []

    async def handler(records: list[Any]) -> None:
        started.append(records[0].offset)
        if records[0].offset in (0, 2):
            await release.wait()

    loop = ConsumeLoop("test", consumer, ["t"], handler, batches_in_flight=2)  # type: ignore[arg-type]
    run = asyncio.create_task(loop.run())
    await _until(lambda: started == [0, 2])
    await asyncio.sleep(0.1)
    assert started == [0, 2]  # the third poll waits: two are in flight
    assert all(c == {TP: 0} for c in consumer.commits)
    release.set()
    await _until(lambda: consumer.commits and consumer.commits[-1] == {TP: 4})
    loop.stop()
    await run
    assert started == [0, 2, 3]


async def test_one_batch_in_flight_by_default():
    """By default the next poll is handled only after the previous one's handler returned."""
    consumer = _FakeConsumer([[_Record(0)], [_Record(1)]])
    release = asyncio.Event()
    started: list[int] = []

    async def handler(records: list[Any]) -> None:
        started.append(records[0].offset)
        if records[0].offset == 0:
            await release.wait()

    loop = ConsumeLoop("test", consumer, ["t"], handler)  # type: ignore[arg-type]
    run = asyncio.create_task(loop.run())
    await _until(lambda: started == [0])
    await asyncio.sleep(0.1)
    assert started == [0]
    release.set()
    await _until(lambda: consumer.commits and consumer.commits[-1] == {TP: 2})
    loop.stop()
    await run
    assert started == [0, 1]


async def test_a_commit_interval_commits_at_most_that_often_and_everything_at_stop():
    """With a commit interval, polls handled in quick succession share one commit; stopping
    commits whatever was handled since, without waiting for the interval."""
    consumer = _FakeConsumer([[_Record(n)] for n in range(5)])
    handled: list[int] = []

    async def handler(records: list[Any]) -> None:
        handled.append(records[0].offset)

    loop = ConsumeLoop("test", consumer, ["t"], handler, commit_interval=60.0)  # type: ignore[arg-type]
    run = asyncio.create_task(loop.run())
    await _until(lambda: handled == [0, 1, 2, 3, 4])
    await asyncio.sleep(0.05)
    assert consumer.commits == [{TP: 1}]  # the first poll's; the others wait for the interval
    loop.stop()
    await run
    assert consumer.commits == [{TP: 1}, {TP: 5}]
