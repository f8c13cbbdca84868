"""Kafka consumer loops: concurrent handling, in-order commits, due-time gating by pausing.

One loop per consumer group. Records are handled concurrently (so a slow endpoint never blocks
the others behind it), but a partition's offset is committed only up to its oldest record whose
outcome is not yet durable. With `gate_on_due`, a record whose `due-time` header lies in the
future stops its partition: the loop seeks back to it, pauses the partition and keeps polling;
it resumes when the record is due. aiokafka rebalances eagerly, which forgets pauses, so the
rebalance listener re-applies them to partitions that come back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import ConsumerRecord

from behalf.common.kafka import PLAINTEXT, KafkaSecurity
from behalf.dispatcher.tasks import due_seconds

Handler = Callable[[ConsumerRecord], Awaitable[None]]


class RetryLater(Exception):
    """Raised by a handler whose record cannot be handled yet; retried quietly with backoff."""


_log = structlog.get_logger("consumer")
_POLL_MS = 100
_RETRY_BACKOFF_MAX = 5.0


@dataclass
class _Partition:
    """Offsets of one assigned partition: handled-but-unfinished, and where reading resumes."""

    next_offset: int | None = None
    in_flight: set[int] = field(default_factory=set)
    committed: int | None = None

    def committable(self) -> int | None:
        if self.in_flight:
            return min(self.in_flight)
        return self.next_offset


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, loop: ConsumerLoop) -> None:
        self._loop = loop

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._loop.partitions_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._loop.partitions_assigned(set(assigned))


class ConsumerLoop:
    """Runs one consumer until `stop()`; `handler` must be idempotent (at-least-once)."""

    def __init__(
        self,
        name: str,
        consumer: AIOKafkaConsumer,
        topics: list[str],
        handler: Handler,
        *,
        gate_on_due: bool = False,
        max_in_flight: int = 1000,
        drain_seconds: float = 20.0,
    ) -> None:
        self.name = name
        self._consumer = consumer
        self._topics = topics
        self._handler = handler
        self._gate = gate_on_due
        self._max_in_flight = max_in_flight
        self._drain_seconds = drain_seconds
        self._partitions: dict[TopicPartition, _Partition] = {}
        self._waiting: dict[TopicPartition, float] = {}
        self._tasks: dict[asyncio.Task[None], TopicPartition] = {}
        self._stopping = asyncio.Event()
        self.assigned = asyncio.Event()

    async def consumer_start(self) -> None:
        """Connect the consumer (separately from `run`, so startup can retry it)."""
        await self._consumer.start()

    async def run(self) -> None:
        """Subscribe and consume until stopped; then finish in-flight work and commit."""
        self._consumer.subscribe(self._topics, listener=_Listener(self))
        try:
            while not self._stopping.is_set():
                self._apply_pauses()
                batches = await self._consumer.getmany(timeout_ms=_POLL_MS, max_records=500)
                for tp, records in batches.items():
                    self._take(tp, records)
                await self._commit()
        finally:
            await self._drain(set(self._partitions))
            await self._consumer.stop()

    def stop(self) -> None:
        self._stopping.set()

    # -- reading -----------------------------------------------------------------------------

    def _take(self, tp: TopicPartition, records: list[ConsumerRecord]) -> None:
        state = self._partitions.setdefault(tp, _Partition())
        now = time.time()
        for record in records:
            if self._gate:
                due = due_seconds(record.headers)
                if due is not None and due > now:
                    self._consumer.seek(tp, record.offset)
                    self._consumer.pause(tp)
                    self._waiting[tp] = due
                    state.next_offset = record.offset
                    return
            state.in_flight.add(record.offset)
            state.next_offset = record.offset + 1
            task = asyncio.create_task(self._handle(record))
            self._tasks[task] = tp
            task.add_done_callback(lambda t, o=record.offset, s=state: self._done(t, o, s))

    def _done(self, task: asyncio.Task[None], offset: int, state: _Partition) -> None:
        self._tasks.pop(task, None)
        if not task.cancelled() and task.exception() is None:
            state.in_flight.discard(offset)

    async def _handle(self, record: ConsumerRecord) -> None:
        """Run the handler until it succeeds; transient failures are retried with backoff."""
        delay = 0.2
        while True:
            try:
                await self._handler(record)
                return
            except RetryLater as exc:
                _log.debug("handler_waiting", loop=self.name, reason=str(exc))
                if self._stopping.is_set():
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_BACKOFF_MAX)
            except Exception:
                _log.exception(
                    "handler_failed", loop=self.name, topic=record.topic, offset=record.offset
                )
                if self._stopping.is_set():
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_BACKOFF_MAX)

    def _apply_pauses(self) -> None:
        now = time.time()
        for tp, due in list(self._waiting.items()):
            if due <= now:
                del self._waiting[tp]
        assignment = self._consumer.assignment()
        if len(self._tasks) >= self._max_in_flight:
            wanted = set(assignment)
        else:
            wanted = {tp for tp in self._waiting if tp in assignment}
        paused = self._consumer.paused()
        to_resume = paused - wanted
        to_pause = wanted - paused
        if to_resume:
            self._consumer.resume(*to_resume)
        if to_pause:
            self._consumer.pause(*to_pause)

    # -- committing --------------------------------------------------------------------------

    async def _commit(self, only: set[TopicPartition] | None = None) -> None:
        offsets: dict[TopicPartition, int] = {}
        for tp, state in self._partitions.items():
            if only is not None and tp not in only:
                continue
            position = state.committable()
            if position is not None and position != state.committed:
                offsets[tp] = position
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            _log.warning("commit_failed", loop=self.name, error=type(exc).__name__)
            return
        for tp, position in offsets.items():
            self._partitions[tp].committed = position

    # -- rebalancing -------------------------------------------------------------------------

    async def partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        """Let in-flight work of revoked partitions finish (bounded), commit, forget them."""
        await self._drain(revoked)
        for tp in revoked:
            self._partitions.pop(tp, None)

    def partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        """Forget waits of partitions that moved away; pause again those still waiting."""
        for tp in list(self._waiting):
            if tp not in assigned:
                del self._waiting[tp]
        still_waiting = [tp for tp in assigned if tp in self._waiting]
        if still_waiting:
            self._consumer.pause(*still_waiting)
        self.assigned.set()

    async def _drain(self, partitions: set[TopicPartition]) -> None:
        tasks = [t for t, tp in self._tasks.items() if tp in partitions]
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=self._drain_seconds)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        await self._commit(partitions)


def new_consumer(
    bootstrap: str, group_id: str, *, client_id: str, security: KafkaSecurity = PLAINTEXT
) -> AIOKafkaConsumer:
    """A consumer that never commits by itself and starts new groups at the earliest offset."""
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group_id,
        client_id=client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        # Verifiers audit in transactions; an aborted one was answered as a deny.
        isolation_level="read_committed",
        max_poll_interval_ms=300_000,
        session_timeout_ms=10_000,
        heartbeat_interval_ms=3_000,
        **security.client_options(),
    )
