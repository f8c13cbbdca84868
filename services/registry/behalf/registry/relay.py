"""The outbox relay: publishes committed outbox rows to the lifecycle topic in seq order.

Exactly one replica relays at a time: the holder of a PostgreSQL session advisory lock, taken
with `pg_try_advisory_lock` on a dedicated connection that also LISTENs for new rows and runs
every outbox query, so a replica that loses its connection (and with it the lock) cannot mark
rows any more. The others retry the lock and take over when the holder's session ends.

Delivery is at least once, never reordered per tenant: a batch is sent in seq order through one
idempotent acks=all producer (key = tenant id, so one tenant is one partition), and only the
prefix of rows the broker acked is marked published. Anything after the first failure is sent
again from that row, after a backoff; a crash between the broker's ack and the UPDATE re-sends
rows, which consumers deduplicate by the `event-id` header.
"""

from __future__ import annotations

import asyncio
import contextlib
import warnings
import zlib

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer

from behalf.common.background import BackgroundTask, Backoff
from behalf.common.kafka import EVENT_ID_HEADER, EVENT_TYPE_HEADER, PLAINTEXT, KafkaSecurity
from behalf.registry.store import outbox
from behalf.registry.store._rows import Connection

LOCK_KEY = zlib.crc32(b"behalf.registry.outbox_relay") & 0x7FFFFFFF
_BATCH_ROWS = 500
_MAX_BACKOFF_SECONDS = 5.0
_log = structlog.get_logger("relay")


class OutboxRelay:
    """Relays the outbox to Kafka while this replica holds the relay lock."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        bootstrap: str,
        topic: str,
        poll_seconds: float = 0.2,
        lock_retry_seconds: float = 1.0,
        security: KafkaSecurity = PLAINTEXT,
    ) -> None:
        self._pool = pool
        self._bootstrap = bootstrap
        self._security = security
        self._topic = topic
        self._poll_seconds = poll_seconds
        self._lock_retry_seconds = lock_retry_seconds
        self._backoff_cap = max(_MAX_BACKOFF_SECONDS, poll_seconds)
        self._wake = asyncio.Event()
        self._task = BackgroundTask("outbox-relay", self._run)
        self._producer: AIOKafkaProducer | None = None
        self.is_leader = False

    async def start(self) -> None:
        """Start competing for the relay lock, and relay while holding it."""
        self._task.start()

    async def stop(self) -> None:
        """Stop relaying and give the lock up."""
        await self._task.stop()

    def _backoff(self) -> Backoff:
        return Backoff(first=self._poll_seconds, cap=self._backoff_cap)

    async def _run(self) -> None:
        backoff = self._backoff()
        while True:
            try:
                conn = await self._pool.acquire()
                try:
                    if await outbox.try_lock(conn, LOCK_KEY):
                        backoff.reset()
                        await self._lead(conn)
                finally:
                    with warnings.catch_warnings():
                        # A connection lost while leading still has its LISTEN callback.
                        warnings.simplefilter("ignore", asyncpg.InterfaceWarning)
                        await self._pool.release(conn)
                await asyncio.sleep(self._lock_retry_seconds)
            except Exception as exc:
                _log.warning("relay_failed", error=type(exc).__name__)
                await backoff.sleep()

    async def _lead(self, conn: Connection) -> None:
        """Relay until the connection fails or the task is cancelled; then unlock."""
        self.is_leader = True
        _log.info("relay_leading")
        await conn.add_listener(outbox.NOTIFY_CHANNEL, self._on_notify)
        try:
            await self._relay(conn)
        finally:
            self.is_leader = False
            await self._stop_producer()
            with contextlib.suppress(Exception):
                await conn.remove_listener(outbox.NOTIFY_CHANNEL, self._on_notify)
            if not conn.is_closed():
                with contextlib.suppress(Exception):
                    await outbox.unlock(conn, LOCK_KEY)

    async def _relay(self, conn: Connection) -> None:
        backoff = self._backoff()
        while True:
            self._wake.clear()
            rows = await outbox.unpublished(conn, _BATCH_ROWS)
            if not rows:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll_seconds)
                continue
            if self._producer is None:
                self._producer = await self._start_producer()
                if self._producer is None:
                    await backoff.sleep()
                    continue
            acked = await self._publish(self._producer, rows)
            if acked:
                await outbox.mark_published(conn, [row["seq"] for row in rows[:acked]])
            if acked < len(rows):
                # The producer's state after a failed send is unknown: start a fresh one.
                await self._stop_producer()
                await backoff.sleep()
            else:
                backoff.reset()

    async def _stop_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await producer.stop()

    async def _start_producer(self) -> AIOKafkaProducer | None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            acks="all",
            enable_idempotence=True,
            request_timeout_ms=10_000,
            linger_ms=0,
            **self._security.client_options(),
        )
        try:
            await producer.start()
        except Exception as exc:
            _log.warning("relay_kafka_unavailable", error=type(exc).__name__)
            with contextlib.suppress(Exception):
                await producer.stop()
            return None
        return producer

    async def _publish(self, producer: AIOKafkaProducer, rows: list[asyncpg.Record]) -> int:
        """Send rows in order; return how many leading rows the broker acked."""
        futures: list[asyncio.Future[object]] = []
        try:
            for row in rows:
                futures.append(
                    await producer.send(
                        self._topic,
                        value=row["payload"],
                        key=row["tenant_id"].encode(),
                        headers=[
                            (EVENT_TYPE_HEADER, row["event_type"].encode()),
                            (EVENT_ID_HEADER, row["event_id"].encode()),
                        ],
                    )
                )
        except Exception as exc:
            _log.warning("relay_send_failed", error=type(exc).__name__)
        results = await asyncio.gather(*futures, return_exceptions=True)
        acked = 0
        for result in results:
            if isinstance(result, BaseException):
                _log.warning("relay_send_failed", error=type(result).__name__)
                break
            acked += 1
        return acked

    def _on_notify(self, _conn: Connection, _pid: int, _channel: str, _payload: object) -> None:
        self._wake.set()
