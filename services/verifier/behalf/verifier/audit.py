"""Publishing decisions to Kafka in short transactions: no allow without an audit record, and no
audit record of an allow the caller never got.

Decisions queue up while transactions are in flight and go out together in the next one a lane
picks up (batching under load comes for free). A lane commits one transaction at a time, taking
two producers in turn; a few lanes run in parallel. A batch is committed only if everything in
it reaches the broker before the earliest deadline in it; otherwise the transaction is never
committed, its callers get `AuditUnavailable`, and a fresh producer with the same transactional
id fences the old one, which makes the broker abort whatever the old one left open. Readers of
the decisions topic (the audit sink, the dispatcher) use `isolation_level="read_committed"`, so
they never see a decision the caller was told had failed.

Once a batch's records are on the broker, its commit is waited for (up to a longer bound) rather
than abandoned at the deadline, since a slow broker may still apply it. A commit that was asked
for and not confirmed (no answer within the bound, an error, a broker that died after applying
it) stays ambiguous, and fails safe: the caller is denied while the audit may show an allow,
and `AuditUnavailable.maybe_committed` tells it to keep what the decision took (its budget
claim), so the ledger never gives back a spend the audit shows.

A caller that gives up (its deadline passed, and grpc.aio cancelled the handler) before its
record was sent is dropped from the queue: no allow is audited that nobody got, and the caller
learns that it was withdrawn (`publish`'s `on_withdrawn`), to give back what its decision took.
Once its record is sent it may still commit, like any record whose answer is lost on the way.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.producer import sender as aiokafka_sender
from prometheus_client import Counter, Histogram

from behalf.common.background import BackgroundTask, Backoff
from behalf.common.event_types import header_type
from behalf.common.kafka import EVENT_ID_HEADER, EVENT_TYPE_HEADER, PLAINTEXT, KafkaSecurity
from behalf.common.tracing import Headers, producer_span
from behalf.v1 import events_pb2

AUDIT_FAILURES = Counter(
    "behalf_verifier_audit_publish_failures_total", "Decisions that could not be audited."
)
AUDIT_BATCH = Histogram(
    "behalf_verifier_audit_batch_size",
    "Decisions per audit transaction.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)
AUDIT_COMMIT_SECONDS = Histogram(
    "behalf_verifier_audit_commit_seconds",
    "One audit transaction, begin to committed (what each audited decision waits for).",
    buckets=(
        0.001,
        0.002,
        0.003,
        0.004,
        0.005,
        0.0075,
        0.01,
        0.015,
        0.02,
        0.03,
        0.05,
        0.1,
        0.25,
        0.5,
        1,
        2.5,
        5,
    ),
)
_log = structlog.get_logger("audit")
MAX_BATCH = 512
# Rounds of latecomers a transaction takes in before its commit: each adds one produce round
# trip for the decisions already in it, so a steady stream cannot postpone their commit.
JOIN_ROUNDS = 2

# A lane begins its next transaction as soon as the last one commits, before the broker has
# written that one's markers, so the first AddPartitionsToTxn is often refused with
# CONCURRENT_TRANSACTIONS (KAFKA-5477). aiokafka retries it after a hard-coded 20 ms
# (BACKOFF_OVERRIDE), which set the verifier's p99 under load; the markers take 1-3 ms on a
# healthy broker, so retry after 2 ms. Measured: back-to-back transactions on one producer
# p50 25 ms -> 4.7 ms (docs/benchmarks.md, `verify`). tests/unit/verifier checks that the
# constant still exists, so an aiokafka upgrade that renames it fails there, not silently.
CONCURRENT_TRANSACTIONS_RETRY_SECONDS = 0.002
aiokafka_sender.BACKOFF_OVERRIDE = CONCURRENT_TRANSACTIONS_RETRY_SECONDS
# Better still, a lane takes its transactions in turn on two producers, so the next one begins
# on a producer whose last transaction's markers had a whole transaction's time to be written.
# Measured back to back on an idle broker (8 records each): one producer p50 4.6-4.9 ms and
# p99 6.5-10.7 ms, 2.2-2.9 ms of broker CPU per transaction; two in turn p50 2.1-2.3 ms and
# p99 3.3-4.1 ms, 1.8-2.0 ms of broker CPU (the refused AddPartitionsToTxn and its retries are
# gone). Still one transaction at a time per lane, so batches stay as large.
PRODUCERS_PER_LANE = 2
RETRY_BACKOFF_MS = 10


class AuditUnavailable(Exception):
    """The decision was not durably audited in time. `maybe_committed`: its commit was asked
    for and not answered, so the audit may yet show it (what it took must not be given back)."""

    def __init__(self, message: str, *, maybe_committed: bool = False) -> None:
        super().__init__(message)
        self.maybe_committed = maybe_committed


@dataclass(slots=True)
class _Pending:
    event: events_pb2.DecisionEvent
    deadline: float
    done: asyncio.Future[None]
    trace_headers: Headers  # the Verify's trace context (`traceparent`), when tracing is on
    sent: bool = False  # handed to a producer: from then on it may commit

    @property
    def withdrawn(self) -> bool:
        """Its caller gave up waiting before the record was sent."""
        return self.done.cancelled() and not self.sent


@dataclass(slots=True)
class _Slot:
    """One transactional producer of a lane (None while it is being replaced)."""

    transactional_id: str
    producer: AIOKafkaProducer | None = None


class DecisionPublisher:
    """Audits DecisionEvents through a few transactional, idempotent, acks=all producers."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        timeout_seconds: float,
        *,
        transactional_id: str,
        lanes: int = 1,
        security: KafkaSecurity = PLAINTEXT,
    ) -> None:
        self._bootstrap = bootstrap
        self._security = security
        self._topic = topic
        self._timeout = timeout_seconds
        self._commit_bound = max(5.0, 2 * timeout_seconds)
        self._lanes = [
            [_Slot(f"{transactional_id}-{n}-{k}") for k in range(PRODUCERS_PER_LANE)]
            for n in range(lanes)
        ]
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._tasks = [
            BackgroundTask(f"audit-{transactional_id}-{n}", functools.partial(self._run, lane))
            for n, lane in enumerate(self._lanes)
        ]

    async def start(self) -> None:
        """Connect every producer (raises while the broker is unreachable), then start the
        lanes."""
        for slot in self._slots():
            if slot.producer is None:
                slot.producer = await self._new_producer(slot.transactional_id)
        for task in self._tasks:
            task.start()

    async def stop(self) -> None:
        await asyncio.gather(*(task.stop() for task in self._tasks))
        for pending in self._drain():
            _fail(pending)
        for slot in self._slots():
            if slot.producer is not None:
                await slot.producer.stop()

    def _slots(self) -> list[_Slot]:
        return [slot for lane in self._lanes for slot in lane]

    async def publish(
        self,
        event: events_pb2.DecisionEvent,
        *,
        on_withdrawn: Callable[[], None] | None = None,
    ) -> None:
        """Return once the decision is committed; raise AuditUnavailable otherwise. If the
        caller is cancelled before its record is sent, the record never will be, and
        `on_withdrawn` is called (synchronously, as the cancellation goes through)."""
        if not any(task.running for task in self._tasks):
            AUDIT_FAILURES.inc()
            raise AuditUnavailable("audit publisher not running")
        loop = asyncio.get_running_loop()
        with producer_span(self._topic, event.event_id) as trace_headers:
            deadline = time.monotonic() + self._timeout
            pending = _Pending(event, deadline, loop.create_future(), trace_headers)
            self._queue.put_nowait(pending)
            try:
                await pending.done
            except asyncio.CancelledError:
                if pending.withdrawn and on_withdrawn is not None:
                    on_withdrawn()
                raise

    async def _run(self, lane: list[_Slot]) -> None:
        """Commit the queued decisions one transaction at a time, each on the lane's next
        producer in turn. (Letting the next transaction send while one waits for its commit
        was measured too: lower peak and higher p99, so not kept.)"""
        for slot in itertools.cycle(lane):
            batch = await self._take()
            if not batch:
                continue
            started = time.perf_counter()
            ended = await self._transact(slot, batch)
            if ended is _Ended.COMMITTED:
                AUDIT_BATCH.observe(len(batch))
                AUDIT_COMMIT_SECONDS.observe(time.perf_counter() - started)
                for pending in batch:
                    if not pending.done.done():
                        pending.done.set_result(None)
            else:
                for pending in batch:
                    _fail(pending, maybe_committed=ended is _Ended.UNANSWERED)
                await self._replace_producer(slot)

    async def _take(self) -> list[_Pending]:
        """The next batch: what is queued (waiting for at least one), less what is too late."""
        first = await self._queue.get()
        now, live = time.monotonic(), []
        for pending in [first, *self._drain(MAX_BATCH - 1)]:
            if pending.done.cancelled():
                continue  # withdrawn: its caller left before anything was sent
            if pending.deadline > now:
                live.append(pending)
            else:
                _fail(pending)
        return live

    async def _transact(self, slot: _Slot, batch: list[_Pending]) -> _Ended:
        """One transaction for the batch, which grows by the decisions queued while its records
        are in flight: until the commit is requested they can still join this transaction, so
        they need not wait for it to end and then for one of their own.

        Every record must reach the broker before the earliest deadline in the batch (the
        first decision's: later ones have later deadlines); once they have, the commit is given
        `commit_bound` to answer, because giving up on a commit the broker may still apply is
        what would audit an allow nobody got."""
        producer = slot.producer
        if producer is None:
            return _Ended.ABORTED
        deadline = min(p.deadline for p in batch)
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout_at(loop.time() + (deadline - time.monotonic())):
                await producer.begin_transaction()
                joining, rounds = batch[:], 0
                while joining:
                    joining = [p for p in joining if not p.done.cancelled()]
                    for pending in joining:
                        pending.sent = True
                    sent = [
                        await producer.send(self._topic, **_record(p.event, p.trace_headers))
                        for p in joining
                    ]
                    await asyncio.gather(*sent)
                    rounds += 1
                    if rounds > JOIN_ROUNDS:  # a steady stream must not hold the first ones
                        break
                    joining = self._drain(MAX_BATCH - len(batch))
                    batch.extend(joining)
        except Exception as exc:
            _log.warning("audit_publish_failed", error=type(exc).__name__, batch=len(batch))
            return _Ended.ABORTED
        try:
            async with asyncio.timeout(self._commit_bound):
                await producer.commit_transaction()
        except Exception as exc:
            # The broker may still apply a commit it was asked for: the callers are denied,
            # and what their decisions took stays taken.
            _log.warning("audit_commit_unanswered", error=type(exc).__name__, batch=len(batch))
            return _Ended.UNANSWERED
        return _Ended.COMMITTED

    async def _replace_producer(self, slot: _Slot) -> None:
        """Drop this producer without committing; its successor's start fences it, which
        aborts its open transaction on the broker. Retried until the broker answers."""
        old, slot.producer = slot.producer, None
        if old is not None:
            try:
                await asyncio.wait_for(old.stop(), timeout=1.0)
            except Exception:
                pass
        backoff = Backoff(first=0.1, cap=2.0)
        while slot.producer is None:
            try:
                slot.producer = await self._new_producer(slot.transactional_id)
            except Exception as exc:
                _log.warning("audit_producer_unavailable", error=type(exc).__name__)
                for pending in self._drain():
                    _fail(pending)
                await backoff.sleep()

    async def _new_producer(self, transactional_id: str) -> AIOKafkaProducer:
        producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            acks="all",
            enable_idempotence=True,
            transactional_id=transactional_id,
            transaction_timeout_ms=max(10_000, int(self._timeout * 4000)),
            linger_ms=0,
            max_batch_size=512 * 1024,
            request_timeout_ms=max(1000, int(self._timeout * 1000)),
            retry_backoff_ms=RETRY_BACKOFF_MS,
            **self._security.client_options(),
        )
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        return producer

    def _drain(self, limit: int | None = None) -> list[_Pending]:
        taken: list[_Pending] = []
        while not self._queue.empty() and (limit is None or len(taken) < limit):
            taken.append(self._queue.get_nowait())
        return taken


class _Ended(enum.Enum):
    """How a transaction ended."""

    COMMITTED = enum.auto()
    ABORTED = enum.auto()  # never asked to commit: fencing aborts it
    UNANSWERED = enum.auto()  # asked to commit, no answer: it may yet be applied


def _fail(pending: _Pending, *, maybe_committed: bool = False) -> None:
    if not pending.done.done():
        AUDIT_FAILURES.inc()
        pending.done.set_exception(
            AuditUnavailable("decision not audited in time", maybe_committed=maybe_committed)
        )


def _record(event: events_pb2.DecisionEvent, trace_headers: Headers = ()) -> dict[str, object]:
    event_type = header_type(event)
    return {
        "value": event.SerializeToString(),
        "key": event.tenant_id.encode(),
        "headers": [
            (EVENT_TYPE_HEADER, event_type.encode()),
            (EVENT_ID_HEADER, event.event_id.encode()),
            *trace_headers,
        ],
    }
