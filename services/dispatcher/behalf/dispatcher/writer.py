"""Outcomes written in batches: retry and dead-letter tasks produced together, then one
transaction for every attempt and park collected meanwhile.

    lanes, handlers ──submit──▶ buffer ──every few ms──▶ produce tasks (acks=all) ──▶ one PG txn

The order per delivery is the one a crash needs: the task is in Kafka before the state that
says it is there. A crash before the transaction leaves the delivery open in PostgreSQL (it is
attempted again, with the same webhook id); a task whose attempt was never recorded is
recognised by its attempt number.

A write PostgreSQL refuses (a value it cannot store) is found by halving the batch, written
again without its text, and given up on only if even that is refused, so one bad outcome never
holds up the others.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime

import asyncpg
import structlog

from behalf.common import tracing
from behalf.common.background import Backoff
from behalf.dispatcher import metrics
from behalf.dispatcher.batch_store import AttemptWrite, BatchStore, ParkWrite
from behalf.dispatcher.store import DEAD
from behalf.dispatcher.tasks import Headers, TaskSink, task_for
from behalf.v1 import events_pb2

_log = structlog.get_logger("dispatcher")

# What PostgreSQL (or asyncpg's encoding, client side) says about values, not about the
# connection: retrying the same batch can never succeed.
_REFUSED = (
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
    asyncpg.ProgramLimitExceededError,
)
_UNSTORABLE = "the endpoint's text for this outcome could not be stored"


@dataclass(frozen=True)
class Enqueue:
    """The retry or dead-letter record that goes with a write."""

    topic: str
    attempt: int
    due: datetime


@dataclass
class _Op:
    write: AttemptWrite | ParkWrite
    enqueue: Enqueue | None
    label: str  # the metrics outcome once written
    reason: str
    done: asyncio.Future[bool] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    # The submitter's trace context, carried on the retry record (nothing while tracing is off).
    trace_headers: tracing.Headers = field(default_factory=tracing.context_headers)


class OutcomeWriter:
    """Buffers writes and flushes them together; `submit` returns a future of "it changed"."""

    def __init__(
        self, store: BatchStore, sink: TaskSink, *, max_batch: int = 2000, linger: float = 0.005
    ) -> None:
        self._store = store
        self._sink = sink
        self._max_batch = max_batch
        self._linger = linger
        self._buffer: list[_Op] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outcome-writer")

    def submit(
        self, write: AttemptWrite | ParkWrite, enqueue: Enqueue | None, label: str, reason: str = ""
    ) -> asyncio.Future[bool]:
        op = _Op(write, enqueue, label, reason)
        self._buffer.append(op)
        self._wake.set()
        return op.done

    async def stop(self) -> None:
        """Flush what is buffered, then end."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        backoff = Backoff(0.05, 2.0)
        while True:
            if not self._buffer:
                if self._stopping:
                    return
                self._wake.clear()
                await self._wake.wait()
                await asyncio.sleep(self._linger)
            batch = _one_per_delivery(self._buffer[: self._max_batch])
            taken: set[int] = set()
            try:
                await self._flush_isolating(batch, taken)
            except Exception:
                _log.exception("outcome_write_failed", writes=len(batch) - len(taken))
                self._buffer = [op for op in self._buffer if id(op) not in taken]
                if self._stopping:
                    for op in self._buffer:
                        if not op.done.done():
                            op.done.set_result(False)
                    return
                await backoff.sleep()
                continue
            backoff.reset()
            self._buffer = [op for op in self._buffer if id(op) not in taken]

    async def _flush_isolating(
        self, batch: list[_Op], taken: set[int], *, send_tasks: bool = True
    ) -> None:
        """Flush `batch`, adding each op it settles to `taken`. A batch PostgreSQL refuses is
        halved until each refused write stands alone, and that one is written without its text.
        Its tasks are in Kafka by then (they go first), so the halves do not send them again."""
        try:
            await self._flush(batch, send_tasks=send_tasks)
        except _REFUSED:
            if len(batch) > 1:
                half = len(batch) // 2
                await self._flush_isolating(batch[:half], taken, send_tasks=False)
                await self._flush_isolating(batch[half:], taken, send_tasks=False)
                return
            await self._flush_refused(batch[0])
        taken.update(id(op) for op in batch)

    async def _flush_refused(self, op: _Op) -> None:
        """One write PostgreSQL refused: again without the endpoint's text (the state change
        and attempt count are what delivery needs), else not at all (the delivery stays open,
        and reclaim offers it again)."""
        row = op.write.row
        try:
            await self._flush([replace(op, write=_without_text(op.write))], send_tasks=False)
            metrics.REFUSED_WRITES.labels("without_text").inc()
            _log.warning("outcome_stored_without_text", delivery_id=row.delivery_id)
        except _REFUSED:
            metrics.REFUSED_WRITES.labels("dropped").inc()
            _log.exception("outcome_write_dropped", delivery_id=row.delivery_id)
            if not op.done.done():
                op.done.set_result(False)

    async def _flush(self, batch: list[_Op], *, send_tasks: bool = True) -> None:
        by_topic: dict[str, list[tuple[events_pb2.DeliveryTask, Headers]]] = defaultdict(list)
        for op in batch:
            if op.enqueue is not None and send_tasks:
                e = op.enqueue
                task, headers = task_for(op.write.row, e.attempt, e.due)
                by_topic[e.topic].append((task, [*headers, *op.trace_headers]))
        if by_topic:
            await asyncio.gather(*(self._sink.send(t, items) for t, items in by_topic.items()))
        changed = await self._store.write(
            [op.write for op in batch if isinstance(op.write, AttemptWrite)],
            [op.write for op in batch if isinstance(op.write, ParkWrite)],
        )
        for op in batch:
            row = op.write.row
            written = row.delivery_id in changed
            if written:
                metrics.DELIVERIES.labels(op.label).inc()
                if op.write.state == DEAD:
                    metrics.DEAD_LETTERS.inc()
                    _log.warning(
                        "delivery_dead",
                        delivery_id=row.delivery_id,
                        endpoint_id=row.endpoint_id,
                        tenant_id=row.tenant_id,
                        reason=op.reason,
                    )
            if not op.done.done():
                op.done.set_result(written)


def _without_text(write: AttemptWrite | ParkWrite) -> AttemptWrite | ParkWrite:
    if isinstance(write, ParkWrite):
        return replace(write, reason=_UNSTORABLE)
    return replace(write, outcome=replace(write.outcome, error=_UNSTORABLE, response_body=""))


def _one_per_delivery(ops: list[_Op]) -> list[_Op]:
    """The first write of each delivery (a later one waits for the next flush)."""
    seen: set[str] = set()
    batch = []
    for op in ops:
        if op.write.row.delivery_id not in seen:
            seen.add(op.write.row.delivery_id)
            batch.append(op)
    return batch
