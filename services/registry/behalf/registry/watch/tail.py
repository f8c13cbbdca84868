"""The outbox tail: one reader per registry process, fanned out to every subscribed stream.

    outbox INSERT ──trigger──▶ NOTIFY behalf_outbox ──▶ OutboxTail (also polls every 100 ms)
                                                            │ one query per wake-up, all streams
                                                            ▼
                                          bounded queue per subscription (whole revisions)

Revisions come from one global counter taken under a row lock, so they commit in order and the
tail can read `revision > last` without missing a row. A subscription that falls `max_queued`
revisions behind is marked overflowed and gets nothing more (its stream must resnapshot).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncpg
import structlog

from behalf.common.background import BackgroundTask, Backoff
from behalf.registry.store import policy_reads
from behalf.registry.store.outbox import NOTIFY_CHANNEL
from behalf.registry.store.revisions import current_revision
from behalf.registry.watch.deltas import Batch, build_deltas, mentioned_key_ids

_TAIL_BATCH_ROWS = 2000
_LISTENER_RETRY_SECONDS = 2.0
_BACKOFF_CAP_SECONDS = 5.0
_log = structlog.get_logger("watch")


@dataclass(eq=False)
class Subscription:
    """What the tail hands one stream: whole revisions in order, then None when it stops."""

    name: str
    queue: asyncio.Queue[Batch | None]
    overflowed: bool = False
    closing: bool = False
    rewound: bool = False  # the committed revision went back: the stream must start over


class OutboxTail:
    """Reads the outbox past the last revision it saw, on NOTIFY, on `poke` or every poll."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        database_url: str,
        poll_seconds: float,
        health_seconds: float,
        max_queued: int,
    ) -> None:
        self._pool = pool
        self._database_url = database_url
        self._poll_seconds = poll_seconds
        self._health_seconds = health_seconds
        self._max_queued = max_queued
        self._subscriptions: set[Subscription] = set()
        self._revision = 0
        self._wake = asyncio.Event()
        self._listener: asyncpg.Connection | None = None
        self._listener_retry_at = 0.0
        self._read_at = 0.0
        self._task = BackgroundTask("watch-tail", self._run)

    @property
    def revision(self) -> int:
        """The highest revision read (and fanned out to every subscription)."""
        return self._revision

    def subscribe(self, name: str) -> Subscription:
        """A new subscription: it gets every revision the tail reads from now on."""
        subscription = Subscription(name, asyncio.Queue(self._max_queued))
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    def poke(self) -> None:
        """Read the outbox now, without waiting for the NOTIFY round trip."""
        self._wake.set()

    def is_reading(self) -> bool:
        """Whether the last successful read is recent enough to vouch for the streams."""
        return asyncio.get_running_loop().time() - self._read_at <= self._health_seconds

    async def start(self) -> None:
        """Start tailing from the current revision."""
        self._revision = await current_revision(self._pool)
        self._read_at = asyncio.get_running_loop().time()
        await self._ensure_listener()
        self._task.start()

    async def stop(self) -> None:
        """Stop tailing and tell every subscription (None, or `closing` when its queue is full)."""
        await self._task.stop()
        for subscription in self._subscriptions:
            subscription.closing = True
            if not subscription.queue.full():
                subscription.queue.put_nowait(None)
        if self._listener is not None:
            await self._listener.close(timeout=2)
            self._listener = None

    async def _run(self) -> None:
        backoff = Backoff(self._poll_seconds, _BACKOFF_CAP_SECONDS)
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self._poll_seconds)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self._ensure_listener()
                await self._drain()
                self._read_at = asyncio.get_running_loop().time()
                backoff.reset()
            except Exception as exc:
                _log.warning("watch_tail_failed", error=type(exc).__name__)
                await backoff.sleep()

    async def _drain(self) -> None:
        """Read every outbox row past the tail's revision and fan it out, whole revisions only."""
        while True:
            async with self._pool.acquire() as conn:
                rows, more = await policy_reads.outbox_after(conn, self._revision, _TAIL_BATCH_ROWS)
                credentials = await policy_reads.credentials(conn, mentioned_key_ids(rows))
            if not rows:
                await self._check_not_rewound()
                return
            self._fan_out(build_deltas(rows, credentials))
            if not more:
                return

    async def _check_not_rewound(self) -> None:
        """A database restored to an earlier point (or a failover that lost the last commits)
        puts the committed revision below what the tail has read, and the revisions it
        commits next would never be read. Start over from it, and end every stream so its
        verifier takes a snapshot of what the database now holds."""
        committed = await current_revision(self._pool)
        if committed >= self._revision:
            return
        _log.error("policy_revision_went_back", read=self._revision, committed=committed)
        self._revision = committed
        for subscription in self._subscriptions:
            subscription.rewound = True

    def _fan_out(self, batches: list[Batch]) -> None:
        for batch in batches:
            for subscription in self._subscriptions:
                if subscription.overflowed:
                    continue
                try:
                    subscription.queue.put_nowait(batch)
                except asyncio.QueueFull:
                    subscription.overflowed = True
                    _log.warning("verifier_lagging", verifier_id=subscription.name)
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

    def _on_notify(self, _conn: object, _pid: int, _channel: str, _payload: object) -> None:
        self._wake.set()
