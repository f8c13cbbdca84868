"""Every dispatcher replica hears of every webhook endpoint change.

The events consumer group hands each lifecycle event to one replica, which turns it into
webhooks and drops its own cached targets for the tenant. Every replica caches targets, though:
one that did not get the event would go on delivering to an endpoint just disabled or deleted,
or signing with a secret just rotated out, until its cache entry expired. So each replica also
reads the lifecycle topic with a consumer of its own (no group: every partition, from the end),
only to drop the cached targets of the tenant whose endpoints changed.
"""

from __future__ import annotations

import structlog
from aiokafka import AIOKafkaConsumer
from google.protobuf.message import DecodeError

from behalf.common.background import BackgroundTask, Backoff
from behalf.common.kafka import KafkaSecurity
from behalf.dispatcher.targets import WEBHOOK_EVENT_PREFIX, TargetCache
from behalf.v1 import events_pb2

_log = structlog.get_logger("dispatcher")


class EndpointChanges:
    """Drops `targets`' entry for a tenant on each of its `webhook.*` lifecycle events."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        targets: TargetCache,
        *,
        client_id: str,
        security: KafkaSecurity,
    ) -> None:
        self._targets = targets
        self._consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            group_id=None,
            client_id=client_id,
            auto_offset_reset="latest",
            enable_auto_commit=False,
            isolation_level="read_committed",
            **security.client_options(),
        )
        self._task = BackgroundTask("endpoint-changes", self._run)

    async def start(self) -> None:
        """Hear every change committed from now on (each partition's end is fixed here)."""
        await self._consumer.start()
        for partition in self._consumer.assignment():
            await self._consumer.position(partition)
        self._task.start()

    async def stop(self) -> None:
        await self._task.stop()
        await self._consumer.stop()

    async def _run(self) -> None:
        backoff = Backoff(0.2, 5.0)
        while True:
            try:
                batches = await self._consumer.getmany(timeout_ms=1000)
            except Exception as exc:  # the broker away: the cache TTL bounds what is missed
                _log.warning("endpoint_changes_read_failed", error=type(exc).__name__)
                await backoff.sleep()
                continue
            backoff.reset()
            for records in batches.values():
                for record in records:
                    self._apply(record.value)

    def _apply(self, value: bytes) -> None:
        try:
            event = events_pb2.LifecycleEvent.FromString(value)
        except DecodeError:
            return
        if event.type.startswith(WEBHOOK_EVENT_PREFIX) and event.tenant_id:
            self._targets.invalidate(event.tenant_id)
