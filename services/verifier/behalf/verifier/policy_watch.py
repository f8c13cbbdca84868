"""Keeps the verifier's policy current: the registry's watch stream, applied and acked."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import grpc
import structlog
from prometheus_client import Gauge

from behalf.common.background import BackgroundTask, Backoff
from behalf.v1 import internal_pb2, internal_pb2_grpc
from behalf.verifier.credentials import CredentialIndex
from behalf.verifier.engine import Freshness
from behalf.verifier.snapshot import PolicySnapshot, apply_delta
from behalf.verifier.snapshot_build import SnapshotBuilder

_log = structlog.get_logger("policy_watch")

# With several worker processes (behalf.common.workers) a pod reports its least advanced and
# its stalest worker; the staleness is refreshed by a timer because a multiprocess gauge
# cannot be computed at scrape time.
SNAPSHOT_REVISION = Gauge(
    "behalf_verifier_snapshot_revision", "Policy revision applied.", multiprocess_mode="livemin"
)
SNAPSHOT_PERMISSIONS = Gauge(
    "behalf_verifier_snapshot_permissions", "Permissions held.", multiprocess_mode="livemax"
)
STALENESS_SECONDS = Gauge(
    "behalf_verifier_staleness_seconds",
    "Seconds since the registry was last heard from.",
    multiprocess_mode="livemax",
)
STALENESS_REFRESH_SECONDS = 1.0
CLOCK_SKEW_SECONDS = Gauge(
    "behalf_verifier_clock_skew_seconds",
    "How far the verifier's wall clock was from the registry's at the last heartbeat.",
    multiprocess_mode="livemax",
)


@dataclass(frozen=True, slots=True)
class PolicyState:
    """Everything Verify reads, swapped in with one assignment.

    `tenants_at_revision`: whose deltas at the snapshot's revision are in it; None after a full
    snapshot, which holds every tenant's. One revision may change several tenants, each in a
    delta of its own at that revision, so "at or below the revision" does not mean applied.
    """

    snapshot: PolicySnapshot
    credentials: CredentialIndex
    tenants_at_revision: frozenset[str] | None = None


class PolicyWatcher:
    """Holds the current `PolicyState`; a background task follows the registry's stream.

    Reconnects with backoff; each reconnect starts from a fresh snapshot. `_heard_at` is when
    the registry last vouched for the state Verify answers from (monotonic): for a snapshot,
    when its first chunk arrived (the registry had just read it, however long the rest took);
    then each heartbeat, which names the newest committed revision, once the deltas up to it
    are applied (at the heartbeat's time: a verifier that applies deltas late is behind, and
    ages). Deltas alone vouch for nothing: they say what changed, not that nothing else has. A
    stream that sends nothing for a staleness bound is abandoned for a new one (which may reach
    another registry replica). The chunks of a snapshot still being received vouch for
    nothing: until it is swapped in, Verify answers from the old state, which keeps ageing.
    Each heartbeat also carries the registry's wall clock, and `_clock_skew` is how far ours
    was from it: a grant's start and expiry are read on our clock.
    """

    def __init__(
        self,
        channel: grpc.aio.Channel,
        *,
        service_token: str,
        verifier_id: str,
        staleness_bound: timedelta,
    ) -> None:
        # protoc's _pb2_grpc modules carry no annotations.
        self._stub = internal_pb2_grpc.RegistryInternalServiceStub(channel)  # type: ignore[no-untyped-call]
        self._metadata = (("authorization", f"Bearer {service_token}"),)
        self._verifier_id = verifier_id
        self._staleness_bound = staleness_bound
        self.state: PolicyState | None = None
        self._heard_at: float | None = None
        self._clock_skew = timedelta(0)
        self._changed = asyncio.Condition()
        self._releasing: set[asyncio.Task[None]] = set()
        self._task = BackgroundTask("policy-watch", self._follow_forever)
        self._staleness_task = BackgroundTask("staleness-gauge", self._report_staleness)

    @property
    def freshness(self) -> Freshness:
        return Freshness(self._silent_for(), self._staleness_bound, self._clock_skew)

    @property
    def ready(self) -> bool:
        return self.state is not None

    def start(self) -> None:
        self._task.start()
        self._staleness_task.start()

    async def stop(self) -> None:
        await self._staleness_task.stop()
        await self._task.stop()

    async def _report_staleness(self) -> None:
        while True:
            STALENESS_SECONDS.set(self._silent_for().total_seconds())
            await asyncio.sleep(STALENESS_REFRESH_SECONDS)

    async def wait_ready(self) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.state is not None)

    async def wait_for_revision(self, revision: int, wait_seconds: float) -> bool:
        """Wait up to `wait_seconds` for the applied revision to reach `revision`."""

        def reached() -> bool:
            return self.state is not None and self.state.snapshot.revision >= revision

        if reached():
            return True
        try:
            async with asyncio.timeout(wait_seconds):
                async with self._changed:
                    await self._changed.wait_for(reached)
        except TimeoutError:
            return False
        return True

    async def _follow_forever(self) -> None:
        backoff = Backoff(first=0.1, cap=2.0)
        while True:
            try:
                await self._follow_once()
                backoff.reset()
            except grpc.aio.AioRpcError as exc:
                _log.warning("watch_disconnected", code=exc.code().name, retry_in=backoff.delay)
            except ConnectionError as exc:
                _log.warning("watch_abandoned", reason=str(exc), retry_in=backoff.delay)
            except Exception:
                _log.exception("watch_failed", retry_in=backoff.delay)
            await backoff.sleep()

    async def _follow_once(self) -> None:
        acks: asyncio.Queue[int] = asyncio.Queue()

        async def requests() -> AsyncIterator[internal_pb2.WatchPolicyRequest]:
            yield internal_pb2.WatchPolicyRequest(
                hello=internal_pb2.WatchHello(
                    verifier_id=self._verifier_id, accepts_delta_parts=True
                )
            )
            while True:
                revision = await acks.get()
                yield internal_pb2.WatchPolicyRequest(ack=internal_pb2.WatchAck(revision=revision))

        call = self._stub.WatchPolicy(requests(), metadata=self._metadata)
        builder: SnapshotBuilder | None = None
        credentials: list[internal_pb2.ApiKeyCredential] = []
        read_at = 0.0  # when the snapshot being received began to arrive
        installed = False  # this stream's snapshot is the state Verify answers from
        parts = DeltaParts()
        heartbeat: tuple[int, float] | None = None  # the newest not yet caught up with
        try:
            async for message in _within(call, self._staleness_bound):
                kind = message.WhichOneof("message")
                if kind == "snapshot_chunk":
                    chunk = message.snapshot_chunk
                    if builder is None:
                        builder, read_at = SnapshotBuilder(chunk.revision), time.monotonic()
                        _log.info("snapshot_started", revision=chunk.revision)
                    # Converted as it arrives, a turn of the event loop every few milliseconds:
                    # Verify keeps answering from the current state meanwhile.
                    await _cooperatively(builder.add(chunk))
                    credentials.extend(chunk.api_keys)
                    if chunk.last:
                        await _cooperatively(builder.finish())
                        state = PolicyState(builder.result(), CredentialIndex(credentials))
                        builder, credentials = None, []
                        if self.state is not None:
                            self._release(self.state.snapshot)
                        await self._swap(state)
                        installed, self._heard_at = True, read_at
                        # The snapshot lives until the next one: keep the cyclic GC from
                        # walking its millions of objects on every full collection
                        # (refcounting still frees them when a later snapshot replaces it).
                        gc.freeze()
                        acks.put_nowait(state.snapshot.revision)
                        _log.info(
                            "snapshot_applied",
                            revision=state.snapshot.revision,
                            permissions=state.snapshot.permission_count,
                            api_keys=len(state.credentials),
                        )
                elif kind == "delta" and installed and self.state is not None:
                    delta = parts.whole(message.delta)
                    if delta is not None:
                        await self._swap(_applied(self.state, delta))
                        acks.put_nowait(delta.revision)
                elif kind == "heartbeat":
                    self._set_clock_skew(message.heartbeat)
                    if installed:
                        heartbeat = (message.heartbeat.revision, time.monotonic())
                if heartbeat is not None and self.state is not None:
                    head, said_at = heartbeat
                    if self.state.snapshot.revision >= head:
                        self._heard_at, heartbeat = said_at, None
        finally:
            call.cancel()

    def _set_clock_skew(self, heartbeat: internal_pb2.WatchHeartbeat) -> None:
        if not heartbeat.HasField("server_time"):
            return
        try:
            skew = abs(datetime.now(UTC) - heartbeat.server_time.ToDatetime(tzinfo=UTC))
        except (ValueError, OverflowError):
            skew = timedelta.max  # no clock at all: as far off as can be, so stale
        too_far = skew > self._staleness_bound
        if too_far != (self._clock_skew > self._staleness_bound):
            log = _log.warning if too_far else _log.info
            log("clock_skew", seconds=round(skew.total_seconds(), 3), beyond_bound=too_far)
        self._clock_skew = skew
        CLOCK_SKEW_SECONDS.set(skew.total_seconds())

    def _release(self, snapshot: PolicySnapshot) -> None:
        """Free a replaced snapshot a slice at a time once nothing else holds it.

        Dropping a million-permission snapshot at once frees millions of objects in one
        refcount cascade, a half-second pause for every request. Holding its buckets here makes
        dropping the snapshot itself cheap; they are then let go 64 at a time, a turn of the
        event loop between slices. Requests still deciding on the old snapshot keep it whole.
        """
        buckets: list[object] = [*snapshot.agents.buckets(), *snapshot.permission_owners.buckets()]
        task = asyncio.create_task(_let_go(buckets))
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)

    async def _swap(self, state: PolicyState) -> None:
        self.state = state
        SNAPSHOT_REVISION.set(state.snapshot.revision)
        SNAPSHOT_PERMISSIONS.set(state.snapshot.permission_count)
        async with self._changed:
            self._changed.notify_all()

    def _silent_for(self) -> timedelta:
        """Since the registry last vouched for the current state; forever before it has."""
        if self._heard_at is None:
            return timedelta.max
        return timedelta(seconds=time.monotonic() - self._heard_at)


async def _within(
    call: AsyncIterator[internal_pb2.WatchPolicyResponse], bound: timedelta
) -> AsyncIterator[internal_pb2.WatchPolicyResponse]:
    """The stream's messages, each within `bound` of the last: a registry that has sent
    nothing for that long (not even a heartbeat) vouches for nothing, so leave it."""
    messages = aiter(call)
    while True:
        try:
            async with asyncio.timeout(bound.total_seconds()):
                message = await anext(messages)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise ConnectionError("the registry sent nothing for a staleness bound") from None
        yield message


async def _let_go(buckets: list[object], step: int = 64, grace_seconds: float = 1.0) -> None:
    """Drop references to `buckets` a slice at a time, a turn of the event loop between."""
    await asyncio.sleep(grace_seconds)  # requests that took the old state finish with it
    while buckets:
        del buckets[-step:]
        await asyncio.sleep(0)


async def _cooperatively(steps: Iterator[None]) -> None:
    """Run a snapshot build's steps, giving the event loop a turn between steps.

    What a step built lives as long as the snapshot, so it is moved out of the cyclic GC's
    reach at once (`gc.freeze`, constant time): otherwise collections keep walking the young
    entries and, through them, touching the frozen ones, a tenth of a million-permission build
    and, at its end, a quarter-second pause. Anything else young at that moment is frozen
    too, as it already was by the freeze after each swap.
    """
    for _ in steps:
        gc.freeze()
        await asyncio.sleep(0)
    gc.freeze()


class DeltaParts:
    """A tenant's changes at one revision, which the registry may send in several deltas (each
    but the last `continued`): applied and acknowledged together, never a part on its own."""

    def __init__(self) -> None:
        self._parts: list[internal_pb2.PolicyDelta] = []

    def whole(self, delta: internal_pb2.PolicyDelta) -> internal_pb2.PolicyDelta | None:
        """The whole delta once its last part is in; None while parts are still coming. A part
        of another revision or tenant before the last one is a broken stream (reconnect)."""
        if self._parts and (delta.revision, delta.tenant_id) != (
            self._parts[0].revision,
            self._parts[0].tenant_id,
        ):
            raise ConnectionError("the registry interleaved the parts of two deltas")
        if delta.continued:
            self._parts.append(delta)
            return None
        if not self._parts:
            return delta
        whole = internal_pb2.PolicyDelta(revision=delta.revision, tenant_id=delta.tenant_id)
        for part in [*self._parts, delta]:
            whole.changes.extend(part.changes)
        self._parts = []
        return whole


def _applied(state: PolicyState, delta: internal_pb2.PolicyDelta) -> PolicyState:
    """Apply a delta's policy changes to the snapshot and its key changes to the credentials,
    unless they are in it already."""
    revision = state.snapshot.revision
    at_revision = state.tenants_at_revision
    if delta.revision < revision or (
        delta.revision == revision and (at_revision is None or delta.tenant_id in at_revision)
    ):
        return state
    tenants = (
        frozenset({delta.tenant_id})
        if delta.revision > revision
        else (at_revision or frozenset()) | {delta.tenant_id}
    )
    key_changes = [c.api_key_upserted for c in delta.changes if c.HasField("api_key_upserted")]
    if key_changes:
        policy_only = internal_pb2.PolicyDelta(revision=delta.revision, tenant_id=delta.tenant_id)
        policy_only.changes.extend(c for c in delta.changes if not c.HasField("api_key_upserted"))
        delta = policy_only
    credentials = state.credentials.with_changes(key_changes) if key_changes else state.credentials
    return PolicyState(apply_delta(state.snapshot, delta), credentials, tenants)
