"""The policy watch stream: one shared outbox tail per registry, fanned out to verifier streams.

    outbox INSERT ──trigger──▶ NOTIFY behalf_outbox ──▶ WatchHub._tail (also polls every 200 ms)
                                                            │ one query per wake-up, all streams
                                                            ▼
                      bounded queue per stream ──▶ serve(): snapshot at R, then deltas > R,
                                                            heartbeats when idle; acks read
                                                            concurrently on the same stream

Revisions come from one global counter taken under a row lock, so they commit in order and the
tail can read `revision > last` without missing a row. Every revision the tail reads becomes at
least one PolicyDelta (per tenant, in outbox order); revisions with no agent or permission change
(approval resolutions, webhook endpoints) are sent as deltas with no changes, so a verifier's
applied revision can always reach the registry's current one and `wait_for_acks` can succeed for
any mutation. Creating an approval takes no revision and reaches no verifier. Heartbeats are sent
only while the tail is reading the outbox successfully. Acks are tracked per connected stream in
this process only: with two registry replicas each hub reports the verifiers connected to it.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
import grpc
import structlog

from behalf.common.errors import InvalidArgument, Unavailable
from behalf.registry import changes
from behalf.registry.keys import Role
from behalf.registry.store.agents import to_agent
from behalf.registry.store.outbox import CARRIES_A_REVISION
from behalf.registry.store.permissions import to_permission
from behalf.v1 import events_pb2, internal_pb2, registry_pb2

NOTIFY_CHANNEL = "behalf_outbox"
_MAX_VERIFIER_ID = 200
_TAIL_BATCH_ROWS = 2000
_LISTENER_RETRY_SECONDS = 2.0
_log = structlog.get_logger("watch")

_Batch = tuple[int, list[internal_pb2.WatchPolicyResponse]]


@dataclass(eq=False)
class _Stream:
    """One connected verifier stream."""

    key: int
    verifier_id: str
    queue: asyncio.Queue[_Batch | None]
    connect_time: datetime = field(default_factory=lambda: datetime.now(UTC))
    acked_revision: int = 0
    last_ack_time: datetime | None = None
    overflowed: bool = False
    closing: bool = False


_KEY_COLUMNS = "key_id, tenant_id, role, secret_hash, revoked_at, test_mode_only, agent_id"


def to_credential(row: asyncpg.Record) -> internal_pb2.ApiKeyCredential:
    """What a verifier needs to authenticate a key: its digest, never the key."""
    return internal_pb2.ApiKeyCredential(
        key_id=row["key_id"],
        tenant_id=row["tenant_id"],
        role=Role(row["role"]).to_proto(),
        secret_sha256=bytes(row["secret_hash"]),
        revoked=row["revoked_at"] is not None,
        test_mode_only=row["test_mode_only"],
        agent_id=row["agent_id"] or "",
    )


async def credentials_for(
    conn: asyncpg.Connection, rows: Sequence[asyncpg.Record]
) -> dict[str, internal_pb2.ApiKeyCredential]:
    """Current credentials of the keys that api_key.* outbox rows mention. Keys only ever go
    from active to revoked, and revocation has its own later row, so reading now is safe."""
    key_ids = [
        events_pb2.LifecycleEvent.FromString(r["payload"]).api_key.key_id
        for r in rows
        if r["event_type"].startswith("api_key.")
    ]
    if not key_ids:
        return {}
    found = await conn.fetch(
        f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE key_id = ANY($1::text[])", key_ids
    )
    return {row["key_id"]: to_credential(row) for row in found}


def _change(
    event_type: str,
    payload: bytes,
    credentials: dict[str, internal_pb2.ApiKeyCredential],
) -> internal_pb2.PolicyChange | None:
    """The PolicyChange an outbox row carries, or None for a row that changes no policy."""
    if not event_type.startswith(("agent.", "permission.", "api_key.")):
        return None
    event = events_pb2.LifecycleEvent.FromString(payload)
    subject = event.WhichOneof("subject")
    if subject == "api_key":
        credential = credentials.get(event.api_key.key_id)
        return (
            None if credential is None else internal_pb2.PolicyChange(api_key_upserted=credential)
        )
    if subject == "agent":
        if event_type == "agent.deleted":
            return internal_pb2.PolicyChange(agent_deleted=event.agent.agent_id)
        return internal_pb2.PolicyChange(agent_upserted=event.agent)
    if subject == "permission":
        return internal_pb2.PolicyChange(permission_upserted=event.permission)
    return None


def build_deltas(
    rows: Sequence[asyncpg.Record],
    credentials: dict[str, internal_pb2.ApiKeyCredential] | None = None,
) -> list[_Batch]:
    """Group outbox rows (ordered by revision, seq) into per-revision lists of deltas, one delta
    per tenant in order of first appearance."""
    batches: list[_Batch] = []
    deltas: dict[str, internal_pb2.PolicyDelta] = {}
    revision = None
    for row in rows:
        if row["revision"] != revision:
            if revision is not None:
                batches.append((revision, _wrap(deltas)))
            revision, deltas = row["revision"], {}
        tenant_id = row["tenant_id"]
        delta = deltas.get(tenant_id)
        if delta is None:
            delta = deltas[tenant_id] = internal_pb2.PolicyDelta(
                revision=row["revision"], tenant_id=tenant_id
            )
        try:
            change = _change(row["event_type"], row["payload"], credentials or {})
        except Exception:
            _log.exception("outbox_row_undecodable", revision=revision, tenant_id=tenant_id)
            change = None
        if change is not None:
            delta.changes.append(change)
    if revision is not None:
        batches.append((revision, _wrap(deltas)))
    return batches


def _wrap(deltas: dict[str, internal_pb2.PolicyDelta]) -> list[internal_pb2.WatchPolicyResponse]:
    return [internal_pb2.WatchPolicyResponse(delta=d) for d in deltas.values()]


class WatchHub:
    """Serves WatchPolicy streams from one shared tail of the outbox, and tracks their acks."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        database_url: str,
        heartbeat_seconds: float = 1.0,
        snapshot_chunk_size: int = 5000,
        poll_seconds: float = 0.1,
        max_queued_revisions: int = 10_000,
    ) -> None:
        self._pool = pool
        self._database_url = database_url
        self._heartbeat_seconds = heartbeat_seconds
        self._chunk_size = max(1, snapshot_chunk_size)
        self._poll_seconds = poll_seconds
        self._max_queued = max_queued_revisions
        self._streams: dict[int, _Stream] = {}
        self._keys = itertools.count(1)
        self._revision = 0
        self._wake = asyncio.Event()
        self._changed = asyncio.Event()
        self._listener: asyncpg.Connection | None = None
        self._listener_retry_at = 0.0
        self._task: asyncio.Task[None] | None = None
        self._tail_read_at = 0.0
        # Heartbeats vouch that the tail is reading the outbox: once it has failed for this
        # long they stop, so a verifier's staleness bound trips instead of trusting old policy.
        self._tail_health_seconds = max(heartbeat_seconds, 3 * poll_seconds)

    @property
    def current_revision(self) -> int:
        """The highest revision the tail has read (and fanned out to every stream)."""
        return self._revision

    def poke(self) -> None:
        """A mutation just committed in this process: read the outbox now, without waiting
        for the NOTIFY round trip (which still wakes the other replicas)."""
        self._wake.set()

    async def start(self) -> None:
        """Start tailing from the current revision."""
        self._revision = await changes.current_revision(self._pool)
        self._tail_read_at = asyncio.get_running_loop().time()
        await self._ensure_listener()
        self._task = asyncio.create_task(self._tail(), name="watch-tail")

    async def stop(self) -> None:
        """Stop tailing and end every stream with UNAVAILABLE, so verifiers reconnect elsewhere."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        for stream in self._streams.values():
            stream.closing = True
            if not stream.queue.full():
                stream.queue.put_nowait(None)
        if self._listener is not None:
            await self._listener.close(timeout=2)
            self._listener = None

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
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[internal_pb2.WatchPolicyResponse]:
        """One WatchPolicy stream: hello in; snapshot, deltas and heartbeats out; acks in."""
        requests = aiter(request_iterator)
        verifier_id = await _read_hello(requests)
        stream = _Stream(
            key=next(self._keys), verifier_id=verifier_id, queue=asyncio.Queue(self._max_queued)
        )
        # Subscribe before the snapshot: deltas committed meanwhile wait in the queue, and those
        # already in the snapshot (revision <= R) are skipped below.
        self._streams[stream.key] = stream
        self._notify_changed()
        reader = asyncio.create_task(self._read_acks(requests, stream), name="watch-acks")
        _log.info("verifier_connected", verifier_id=verifier_id, streams=len(self._streams))
        try:
            sent = 0
            async for chunk in self._snapshot():
                sent = chunk.snapshot_chunk.revision
                yield chunk
            while True:
                if stream.overflowed:
                    raise Unavailable("verifier fell too far behind; reconnect for a snapshot")
                try:
                    item = await asyncio.wait_for(stream.queue.get(), self._heartbeat_seconds)
                except TimeoutError:
                    if self._tail_is_reading():
                        yield self._heartbeat(max(sent, self._revision))
                    continue
                if stream.closing or item is None:
                    raise Unavailable("registry is shutting down; reconnect")
                revision, messages = item
                if revision <= sent:
                    continue
                for message in messages:
                    yield message
                sent = revision
        finally:
            reader.cancel()
            self._streams.pop(stream.key, None)
            self._notify_changed()
            _log.info("verifier_disconnected", verifier_id=verifier_id)

    # -- the tail ----------------------------------------------------------------------------

    async def _tail(self) -> None:
        backoff = self._poll_seconds
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self._poll_seconds)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self._ensure_listener()
                await self._drain()
                self._tail_read_at = asyncio.get_running_loop().time()
                backoff = self._poll_seconds
            except Exception as exc:
                _log.warning("watch_tail_failed", error=type(exc).__name__)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    def _tail_is_reading(self) -> bool:
        return asyncio.get_running_loop().time() - self._tail_read_at <= self._tail_health_seconds

    async def _drain(self) -> None:
        """Read every outbox row past the tail's revision and fan it out, whole revisions only."""
        while True:
            async with self._pool.acquire() as conn:
                rows = await conn.fetch(
                    f"""SELECT revision, tenant_id, event_type, payload FROM outbox
                       WHERE revision > $1 AND {CARRIES_A_REVISION}
                       ORDER BY revision, seq LIMIT $2""",
                    self._revision,
                    _TAIL_BATCH_ROWS,
                )
                full = len(rows) == _TAIL_BATCH_ROWS
                if full:
                    last = rows[-1]["revision"]
                    whole = [r for r in rows if r["revision"] != last]
                    rows = whole or await conn.fetch(
                        f"""SELECT revision, tenant_id, event_type, payload FROM outbox
                           WHERE revision = $1 AND {CARRIES_A_REVISION} ORDER BY seq""",
                        last,
                    )
                credentials = await credentials_for(conn, rows)
            if not rows:
                return
            self._fan_out(build_deltas(rows, credentials))
            if not full:
                return

    def _fan_out(self, batches: list[_Batch]) -> None:
        for batch in batches:
            for stream in self._streams.values():
                if stream.overflowed:
                    continue
                try:
                    stream.queue.put_nowait(batch)
                except asyncio.QueueFull:
                    stream.overflowed = True
                    _log.warning("verifier_lagging", verifier_id=stream.verifier_id)
            self._revision = batch[0]

    async def _ensure_listener(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            return
        loop = asyncio.get_running_loop()
        if loop.time() < self._listener_retry_at:
            return
        self._listener_retry_at = loop.time() + _LISTENER_RETRY_SECONDS
        try:
            conn = await asyncpg.connect(self._database_url, timeout=5)
            await conn.add_listener(NOTIFY_CHANNEL, self._on_notify)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            _log.warning("watch_listener_unavailable", error=type(exc).__name__)
            return
        self._listener = conn
        self._wake.set()  # catch up on anything committed while not listening

    def _on_notify(
        self, _conn: asyncpg.Connection, _pid: int, _channel: str, _payload: str
    ) -> None:
        self._wake.set()

    # -- per stream --------------------------------------------------------------------------

    async def _snapshot(self) -> AsyncIterator[internal_pb2.WatchPolicyResponse]:
        """The whole policy at one revision, from one REPEATABLE READ read-only transaction."""
        size = self._chunk_size
        async with (
            self._pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            revision = await changes.current_revision(conn)
            ready: internal_pb2.PolicySnapshotChunk | None = None
            chunk = internal_pb2.PolicySnapshotChunk(revision=revision)
            count = 0
            agents = conn.cursor(
                "SELECT * FROM agents WHERE deleted_at IS NULL ORDER BY agent_id",
                prefetch=size,
            )
            async for row in agents:
                chunk.agents.append(to_agent(row))
                count += 1
                if count == size:
                    if ready is not None:
                        yield internal_pb2.WatchPolicyResponse(snapshot_chunk=ready)
                    ready, count = chunk, 0
                    chunk = internal_pb2.PolicySnapshotChunk(revision=revision)
            permissions = conn.cursor(
                """SELECT * FROM permissions
                    WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
                      AND EXISTS (SELECT 1 FROM agents a
                                  WHERE a.agent_id = permissions.agent_id
                                    AND a.deleted_at IS NULL)
                    ORDER BY permission_id""",
                prefetch=size,
            )
            async for row in permissions:
                chunk.permissions.append(to_permission(row))
                count += 1
                if count == size:
                    if ready is not None:
                        yield internal_pb2.WatchPolicyResponse(snapshot_chunk=ready)
                    ready, count = chunk, 0
                    chunk = internal_pb2.PolicySnapshotChunk(revision=revision)
            keys = conn.cursor(
                f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE revoked_at IS NULL ORDER BY key_id",
                prefetch=size,
            )
            async for row in keys:
                chunk.api_keys.append(to_credential(row))
                count += 1
                if count == size:
                    if ready is not None:
                        yield internal_pb2.WatchPolicyResponse(snapshot_chunk=ready)
                    ready, count = chunk, 0
                    chunk = internal_pb2.PolicySnapshotChunk(revision=revision)
        if ready is not None and count:
            yield internal_pb2.WatchPolicyResponse(snapshot_chunk=ready)
            ready = None
        final = chunk if ready is None else ready
        final.last = True
        yield internal_pb2.WatchPolicyResponse(snapshot_chunk=final)

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

    def _heartbeat(self, revision: int) -> internal_pb2.WatchPolicyResponse:
        heartbeat = internal_pb2.WatchHeartbeat(revision=revision)
        heartbeat.server_time.FromDatetime(datetime.now(UTC))
        return internal_pb2.WatchPolicyResponse(heartbeat=heartbeat)

    def _notify_changed(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()


async def _read_hello(requests: AsyncIterator[internal_pb2.WatchPolicyRequest]) -> str:
    try:
        first = await anext(requests)
    except StopAsyncIteration:
        raise InvalidArgument("hello", "the first message must be a hello") from None
    if first.WhichOneof("message") != "hello":
        raise InvalidArgument("hello", "the first message must be a hello")
    verifier_id = first.hello.verifier_id
    if not verifier_id.strip() or len(verifier_id) > _MAX_VERIFIER_ID:
        raise InvalidArgument("hello.verifier_id", f"must be 1..{_MAX_VERIFIER_ID} characters")
    return verifier_id
