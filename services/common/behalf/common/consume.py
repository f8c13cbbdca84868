"""One Kafka consume-and-commit loop: poll, handle, commit only what was handled.

    consumer ──getmany──▶ units of work ──handler (retried with capped backoff)──▶ done
       ▲  pause: a record not due yet,                                              │
       │  or too much in flight             commit, per partition: up to the oldest │
       └─────────────────────────────────── record not handled yet ◀────────────────┘

A unit is either a whole poll (`per_record=False`: one handler call sees each partition's records
in offset order, and the next poll waits for it) or one record (`per_record=True`: records are
handled concurrently, so a slow one blocks none behind it, and at most `max_in_flight` at once).

At-least-once: a partition's committed offset never passes a record whose handler has not
returned, so a crash, a stop or a rebalance re-delivers at most unfinished work; handlers must be
idempotent. With a `commit_interval`, a running loop commits at most that often (a stop, a drain
or a rebalance still commits everything handled): each commit is a request the broker's group
coordinator writes to its log, and a loop polling a busy topic would otherwise send one per poll.
A handler that raises is retried until it returns (`RetryLater` quietly, anything else logged),
except while stopping, when its records are left for the next consumer.

With a `due` function, a record due in the future stops its partition: the loop seeks back to it,
pauses the partition and keeps polling the others; it resumes when the record is due. aiokafka
rebalances eagerly, which forgets pauses, so the rebalance listener re-applies them; a revoked
partition's in-flight work gets `drain_seconds` to finish and what finished is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from behalf.common.background import Backoff
from behalf.common.kafka import PLAINTEXT, KafkaSecurity

# aiokafka ships no type information: a record is Any at this boundary.
Record = Any
Handler = Callable[[list[Record]], Awaitable[None]]
# When a record may be handled (seconds since the epoch), or None for now.
DueTime = Callable[[Record], float | None]

RETRY_FIRST_SECONDS = 0.2
RETRY_CAP_SECONDS = 5.0
_log = structlog.get_logger("consume")


class RetryLater(Exception):
    """Raised by a handler whose record cannot be handled yet; retried quietly with backoff."""


# -- offsets (pure) ---------------------------------------------------------------------------


@dataclass
class PartitionOffsets:
    """One assigned partition: offsets being handled, where reading resumes, what is committed."""

    next_offset: int | None = None
    in_flight: set[int] = field(default_factory=set)
    committed: int | None = None

    def committable(self) -> int | None:
        """The offset to commit: the oldest one still being handled, else where reading resumes."""
        if self.in_flight:
            return min(self.in_flight)
        return self.next_offset


class Offsets:
    """Per-partition offsets of one consumer; commits never pass an unhandled record."""

    def __init__(self) -> None:
        self._partitions: dict[TopicPartition, PartitionOffsets] = {}

    def take(self, tp: TopicPartition, offset: int) -> None:
        """The record at `offset` is being handled; reading goes on after it."""
        state = self._partitions.setdefault(tp, PartitionOffsets())
        state.in_flight.add(offset)
        state.next_offset = offset + 1

    def hold(self, tp: TopicPartition, offset: int) -> None:
        """Reading resumes at `offset` (a record not due yet): nothing from it on is handled."""
        self._partitions.setdefault(tp, PartitionOffsets()).next_offset = offset

    def finish(self, tp: TopicPartition, offset: int) -> None:
        """The record at `offset` was handled (a no-op for a partition since revoked)."""
        state = self._partitions.get(tp)
        if state is not None:
            state.in_flight.discard(offset)

    def to_commit(self, only: Iterable[TopicPartition] | None = None) -> dict[TopicPartition, int]:
        """The offsets to commit now: each partition's committable one, if it moved."""
        wanted = None if only is None else set(only)
        offsets: dict[TopicPartition, int] = {}
        for tp, state in self._partitions.items():
            if wanted is not None and tp not in wanted:
                continue
            position = state.committable()
            if position is not None and position != state.committed:
                offsets[tp] = position
        return offsets

    def committed(self, offsets: dict[TopicPartition, int]) -> None:
        for tp, position in offsets.items():
            state = self._partitions.get(tp)
            if state is not None:
                state.committed = position

    def forget(self, partitions: Iterable[TopicPartition]) -> None:
        for tp in partitions:
            self._partitions.pop(tp, None)

    def __contains__(self, tp: object) -> bool:
        return tp in self._partitions

    def partitions(self) -> set[TopicPartition]:
        return set(self._partitions)


def pause_plan(
    assignment: set[TopicPartition],
    paused: set[TopicPartition],
    waiting: Iterable[TopicPartition],
    *,
    saturated: bool,
) -> tuple[set[TopicPartition], set[TopicPartition]]:
    """(to pause, to resume): every assigned partition while saturated, else those waiting."""
    wanted = set(assignment) if saturated else {tp for tp in waiting if tp in assignment}
    return wanted - paused, paused - wanted


# -- the loop ---------------------------------------------------------------------------------


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped (Any)
    def __init__(self, loop: ConsumeLoop) -> None:
        self._loop = loop

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._loop.partitions_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._loop.partitions_assigned(set(assigned))


class ConsumeLoop:
    """Runs one consumer until `stop()` (or cancellation); `handler` must be idempotent."""

    def __init__(
        self,
        name: str,
        consumer: AIOKafkaConsumer,
        topics: list[str],
        handler: Handler,
        *,
        per_record: bool = False,
        due: DueTime | None = None,
        max_in_flight: int = 1000,
        drain_seconds: float = 20.0,
        poll_ms: int = 100,
        max_records: int = 500,
        batches_in_flight: int = 1,
        commit_interval: float = 0.0,
    ) -> None:
        self.name = name
        self.consumer = consumer
        self._topics = topics
        self._handler = handler
        self._per_record = per_record
        self._due = due
        self._max_in_flight = max_in_flight
        self._drain_seconds = drain_seconds
        self._poll_ms = poll_ms
        self._max_records = max_records
        self._batches_in_flight = max(batches_in_flight, 1)
        self._commit_interval = commit_interval
        self._next_commit = 0.0  # time.monotonic() after which a running loop commits again
        self._offsets = Offsets()
        self._waiting: dict[TopicPartition, float] = {}
        self._tasks: dict[asyncio.Task[bool], set[TopicPartition]] = {}
        self._stopping = asyncio.Event()
        self.assigned = asyncio.Event()

    async def start_consumer(self) -> None:
        """Connect the consumer (separately from `run`, so startup can retry it)."""
        await self.consumer.start()

    async def run(self) -> None:
        """Subscribe and consume until stopped; then finish in-flight work, commit, disconnect.
        A failed poll raises (after the same clean-up): the caller decides what comes next."""
        self.consumer.subscribe(self._topics, listener=_Listener(self))
        try:
            while not self._stopping.is_set():
                self._apply_pauses()
                batches = await self.consumer.getmany(
                    timeout_ms=self._poll_ms, max_records=self._max_records
                )
                ready = [r for tp, records in batches.items() for r in self._take(tp, records)]
                if self._per_record:
                    for record in ready:
                        self._spawn([record])
                elif ready:
                    self._spawn(ready)
                    await self._await_batch_room()
                if time.monotonic() >= self._next_commit:
                    await self._commit()
        finally:
            self._stopping.set()
            await self._drain(self._offsets.partitions())
            await self.close()

    async def _await_batch_room(self) -> None:
        """Wait until fewer than `batches_in_flight` polls are being handled. With more than
        one, the next poll's handling (its database write, say) overlaps the end of this one's;
        offsets are still committed in order, each once every record before it is done."""
        while len(self._tasks) >= self._batches_in_flight:
            await asyncio.wait(set(self._tasks), return_when=asyncio.FIRST_COMPLETED)

    def stop(self) -> None:
        """End `run` after the current poll; in-flight work gets `drain_seconds` to finish."""
        self._stopping.set()

    async def close(self) -> None:
        """Disconnect the consumer (idempotent; errors are of no use to anyone now)."""
        with contextlib.suppress(Exception):
            await self.consumer.stop()

    # -- reading -----------------------------------------------------------------------------

    def _take(self, tp: TopicPartition, records: list[Record]) -> list[Record]:
        """The records to handle now: up to the first one not yet due, which pauses `tp`."""
        now = time.time()
        for n, record in enumerate(records):
            due = self._due(record) if self._due is not None else None
            if due is not None and due > now:
                self.consumer.seek(tp, record.offset)
                self.consumer.pause(tp)
                self._waiting[tp] = due
                self._offsets.hold(tp, record.offset)
                return records[:n]
            self._offsets.take(tp, record.offset)
        return records

    def _spawn(self, records: list[Record]) -> asyncio.Task[bool]:
        task = asyncio.create_task(self._handle(records))
        self._tasks[task] = {TopicPartition(r.topic, r.partition) for r in records}
        task.add_done_callback(lambda t: self._done(t, records))
        return task

    def _done(self, task: asyncio.Task[bool], records: list[Record]) -> None:
        self._tasks.pop(task, None)
        if task.cancelled() or task.exception() is not None or not task.result():
            return
        for record in records:
            self._offsets.finish(TopicPartition(record.topic, record.partition), record.offset)

    async def _handle(self, records: list[Record]) -> bool:
        """Run the handler until it returns; False if stopping cut the retries short."""
        backoff = Backoff(RETRY_FIRST_SECONDS, RETRY_CAP_SECONDS)
        while True:
            try:
                await self._handler(records)
                return True
            except RetryLater as exc:
                _log.debug("handler_waiting", loop=self.name, reason=str(exc))
            except Exception:
                first = records[0]
                _log.exception(
                    "handler_failed",
                    loop=self.name,
                    topic=first.topic,
                    partition=first.partition,
                    offset=first.offset,
                    records=len(records),
                )
            if self._stopping.is_set():
                return False
            await backoff.sleep()

    def _apply_pauses(self) -> None:
        now = time.time()
        for tp, due in list(self._waiting.items()):
            if due <= now:
                del self._waiting[tp]
        to_pause, to_resume = pause_plan(
            set(self.consumer.assignment()),
            set(self.consumer.paused()),
            self._waiting,
            saturated=len(self._tasks) >= self._max_in_flight,
        )
        if to_resume:
            self.consumer.resume(*to_resume)
        if to_pause:
            self.consumer.pause(*to_pause)

    # -- committing --------------------------------------------------------------------------

    async def _commit(self, only: set[TopicPartition] | None = None) -> None:
        """Commit what was handled; a failed commit is retried with the next one."""
        offsets = self._offsets.to_commit(only)
        if not offsets:
            return
        self._next_commit = time.monotonic() + self._commit_interval
        try:
            await self.consumer.commit(offsets)
        except KafkaError as exc:  # CommitFailedError after a rebalance among them
            _log.warning("commit_failed", loop=self.name, error=type(exc).__name__)
            return
        self._offsets.committed(offsets)

    # -- rebalancing -------------------------------------------------------------------------

    async def partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        """Let in-flight work of revoked partitions finish (bounded), commit, forget them."""
        await self._drain(revoked)
        self._offsets.forget(revoked)

    def partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        """Forget waits of partitions that moved away; pause again those still waiting."""
        for tp in list(self._waiting):
            if tp not in assigned:
                del self._waiting[tp]
        still_waiting = [tp for tp in assigned if tp in self._waiting]
        if still_waiting:
            self.consumer.pause(*still_waiting)
        self.assigned.set()

    async def _drain(self, partitions: set[TopicPartition]) -> None:
        tasks = [t for t, tps in self._tasks.items() if tps & partitions]
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=self._drain_seconds)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        await self._commit(partitions)


async def consume_forever(
    make_loop: Callable[[], ConsumeLoop], *, failure_event: str = "consumer_failed"
) -> None:
    """Run loops one after another until cancelled or stopped: a loop whose consumer cannot
    start or whose poll fails is replaced by a fresh one after a capped backoff."""
    backoff = Backoff(RETRY_FIRST_SECONDS, RETRY_CAP_SECONDS)
    while True:
        loop = make_loop()
        try:
            await loop.start_consumer()
            backoff.reset()
            await loop.run()
            return
        except Exception as exc:
            _log.warning(failure_event, loop=loop.name, error=type(exc).__name__)
        finally:
            await loop.close()
        await backoff.sleep()


@dataclass(frozen=True)
class FetchBatching:
    """A fetch the broker answers once `min_bytes` are there or after `max_wait_ms`: for a
    reader that can wait, fewer and larger fetches, each a request the broker handles."""

    min_bytes: int
    max_wait_ms: int


def new_consumer(
    bootstrap: str,
    group_id: str,
    *,
    client_id: str | None = None,
    security: KafkaSecurity = PLAINTEXT,
    fetch: FetchBatching | None = None,
) -> AIOKafkaConsumer:
    """A consumer that never commits by itself, starts new groups at the earliest offset and
    reads only committed transactions (verifiers audit in transactions; an aborted one was
    answered as a deny). Without `fetch`, each fetch is answered as soon as one record is
    there."""
    options: dict[str, Any] = {} if client_id is None else {"client_id": client_id}
    if fetch is not None:
        options |= {"fetch_min_bytes": fetch.min_bytes, "fetch_max_wait_ms": fetch.max_wait_ms}
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        max_poll_interval_ms=300_000,
        session_timeout_ms=10_000,
        heartbeat_interval_ms=3_000,
        **options,
        **security.client_options(),
    )
