"""WatchPolicy streams: hello in; snapshot, deltas and heartbeats out; acks in.

    serve(): hello ─▶ subscribe to the tail ─▶ snapshot at R ─▶ deltas > R from the queue,
             heartbeats every period; acks read concurrently on the same stream

Every revision the tail reads becomes at least one PolicyDelta (per tenant, in outbox order);
revisions with no agent or permission change (approval resolutions, webhook endpoints) are sent
as deltas with no changes, so a verifier's applied revision can always reach the registry's
current one and `wait_for_acks` can succeed for any mutation. Creating an approval takes no
revision and reaches no verifier. Heartbeats are sent only while the tail is reading the outbox
successfully. Acks are tracked per connected stream in this process only: with two registry
replicas each hub reports the verifiers connected to it.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
import grpc
import structlog

from behalf.common.errors import InvalidArgument, Unavailable
from behalf.registry.store import policy_reads
from behalf.registry.watch.deltas import CHUNK_MAX_BYTES, delta_parts, snapshot_chunks
from behalf.registry.watch.tail import OutboxTail, Subscription
from behalf.v1 import internal_pb2, registry_pb2

_MAX_VERIFIER_ID = 200
_log = structlog.get_logger("watch")


@dataclass(eq=False)
class _Stream:
    """One connected verifier stream."""

    verifier_id: str
    subscription: Subscription
    connect_time: datetime = field(default_factory=lambda: datetime.now(UTC))
    acked_revision: int = 0
    last_ack_time: datetime | None = None


class WatchHub:
    """Serves WatchPolicy streams from one shared tail of the outbox, and tracks their acks."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        database_url: str,
        tail_pool: asyncpg.Pool | None = None,
        heartbeat_seconds: float = 1.0,
        snapshot_chunk_size: int = 5000,
        delta_part_bytes: int = CHUNK_MAX_BYTES,
        poll_seconds: float = 0.1,
        max_queued_revisions: int = 10_000,
    ) -> None:
        self._pool = pool
        self._heartbeat_seconds = heartbeat_seconds
        self._chunk_size = max(1, snapshot_chunk_size)
        self._delta_part_bytes = delta_part_bytes
        # Heartbeats vouch that the tail is reading the outbox: once it has failed for this
        # long they stop, so a verifier's staleness bound trips instead of trusting old policy.
        # The tail reads on `tail_pool` when given, so no snapshot being sent can hold up the
        # revisions (and heartbeats) every stream waits for.
        self._tail = OutboxTail(
            tail_pool or pool,
            database_url=database_url,
            poll_seconds=poll_seconds,
            health_seconds=max(heartbeat_seconds, 3 * poll_seconds),
            max_queued=max_queued_revisions,
        )
        self._streams: dict[int, _Stream] = {}
        self._keys = itertools.count(1)
        self._changed = asyncio.Event()

    @property
    def current_revision(self) -> int:
        """The highest revision the tail has read (and fanned out to every stream)."""
        return self._tail.revision

    def poke(self) -> None:
        """A mutation just committed in this process: read the outbox now, without waiting
        for the NOTIFY round trip (which still wakes the other replicas)."""
        self._tail.poke()

    async def start(self) -> None:
        """Start tailing from the current revision."""
        await self._tail.start()

    async def stop(self) -> None:
        """Stop tailing and end every stream with UNAVAILABLE, so verifiers reconnect elsewhere."""
        await self._tail.stop()

    def verifiers(self) -> list[registry_pb2.VerifierStatus]:
        """Every verifier connected to this registry replica."""
        statuses = []
        for stream in self._streams.values():
            status = registry_pb2.VerifierStatus(
                verifier_id=stream.verifier_id, acked_revision=stream.acked_revision
            )
            status.connect_time.FromDatetime(stream.connect_time)
            if stream.last_ack_time is not None:
                status.last_ack_time.FromDatetime(stream.last_ack_time)
            statuses.append(status)
        return statuses

    async def wait_for_acks(
        self,
        revision: int,
        timeout: float,  # noqa: ASYNC109 - the contract's name for a bounded wait
    ) -> registry_pb2.Propagation:
        """Wait until every connected verifier has acked `revision`, or `timeout` seconds pass.
        With no verifier connected, everything connected has acked: all_acked is true."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, timeout)
        while True:
            streams = list(self._streams.values())
            acked = sum(1 for s in streams if s.acked_revision >= revision)
            remaining = deadline - loop.time()
            if acked == len(streams) or remaining <= 0:
                return registry_pb2.Propagation(
                    all_acked=acked == len(streams),
                    acked_verifiers=acked,
                    connected_verifiers=len(streams),
                )
            changed = self._changed
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except TimeoutError:
                pass

    async def serve(
        self,
        request_iterator: AsyncIterator[internal_pb2.WatchPolicyRequest],
        context: grpc.aio.ServicerContext[
            internal_pb2.WatchPolicyRequest, internal_pb2.WatchPolicyResponse
        ],
    ) -> AsyncIterator[internal_pb2.WatchPolicyResponse]:
        """One WatchPolicy stream: hello in; snapshot, deltas and heartbeats out; acks in."""
        requests = aiter(request_iterator)
        hello = await _read_hello(requests)
        verifier_id = hello.verifier_id
        # Subscribe before the snapshot: deltas committed meanwhile wait in the queue, and those
        # already in the snapshot (revision <= R) are skipped below.
        subscription = self._tail.subscribe(verifier_id)
        stream = _Stream(verifier_id, subscription)
        key = next(self._keys)
        self._streams[key] = stream
        self._notify_changed()
        reader = asyncio.create_task(self._read_acks(requests, stream), name="watch-acks")
        _log.info("verifier_connected", verifier_id=verifier_id, streams=len(self._streams))
        try:
            sent = 0
            async with policy_reads.snapshot(self._pool, prefetch=self._chunk_size) as policy:
                async for chunk in snapshot_chunks(policy.revision, policy.items, self._chunk_size):
                    sent = chunk.snapshot_chunk.revision
                    yield chunk
            loop = asyncio.get_running_loop()
            beat_due = loop.time() + self._heartbeat_seconds
            while True:
                if subscription.overflowed:
                    raise Unavailable("verifier fell too far behind; reconnect for a snapshot")
                if subscription.rewound:
                    raise Unavailable("the policy revision went back; reconnect for a snapshot")
                # A heartbeat every period, busy or idle: it names the newest revision, so a
                # verifier still working through its deltas knows that it is behind.
                if loop.time() >= beat_due:
                    beat_due = loop.time() + self._heartbeat_seconds
                    if self._tail.is_reading():
                        yield _heartbeat(max(sent, self._tail.revision))
                try:
                    async with asyncio.timeout_at(beat_due):
                        item = await subscription.queue.get()
                except TimeoutError:
                    continue
                if subscription.closing or item is None:
                    raise Unavailable("registry is shutting down; reconnect")
                revision, messages = item
                if revision <= sent:
                    continue
                for message in messages:
                    if hello.accepts_delta_parts:
                        for part in delta_parts(message, self._delta_part_bytes):
                            yield part
                    else:
                        yield message
                sent = revision
        finally:
            reader.cancel()
            self._tail.unsubscribe(subscription)
            self._streams.pop(key, None)
            self._notify_changed()
            _log.info("verifier_disconnected", verifier_id=verifier_id)

    async def _read_acks(
        self, requests: AsyncIterator[internal_pb2.WatchPolicyRequest], stream: _Stream
    ) -> None:
        try:
            async for request in requests:
                if request.WhichOneof("message") != "ack":
                    continue
                if request.ack.revision > stream.acked_revision:
                    stream.acked_revision = request.ack.revision
                stream.last_ack_time = datetime.now(UTC)
                self._notify_changed()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the client went away; serve() ends with the RPC
            _log.info("watch_ack_reader_ended", error=type(exc).__name__)

    def _notify_changed(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()


def _heartbeat(revision: int) -> internal_pb2.WatchPolicyResponse:
    heartbeat = internal_pb2.WatchHeartbeat(revision=revision)
    heartbeat.server_time.FromDatetime(datetime.now(UTC))
    return internal_pb2.WatchPolicyResponse(heartbeat=heartbeat)


async def _read_hello(
    requests: AsyncIterator[internal_pb2.WatchPolicyRequest],
) -> internal_pb2.WatchHello:
    try:
        first = await anext(requests)
    except StopAsyncIteration:
        raise InvalidArgument("hello", "the first message must be a hello") from None
    if first.WhichOneof("message") != "hello":
        raise InvalidArgument("hello", "the first message must be a hello")
    verifier_id = first.hello.verifier_id
    if not verifier_id.strip() or len(verifier_id) > _MAX_VERIFIER_ID:
        raise InvalidArgument("hello.verifier_id", f"must be 1..{_MAX_VERIFIER_ID} characters")
    return first.hello
