"""The dispatcher service's lifecycle: database, migrations, topics, consumers, servicers."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
import time
from typing import Any

import asyncpg
import grpc
import structlog
from aiokafka import AIOKafkaProducer

from behalf.common import tracing
from behalf.common.background import BackgroundTask
from behalf.common.host import ServiceHost
from behalf.common.kafka import Topics, ensure_topics
from behalf.common.pg import connect_pool, migrate
from behalf.common.startup import retry_until
from behalf.common.tls import open_channel
from behalf.dispatcher.api import DispatcherServicer, Redriver
from behalf.dispatcher.auth import Authenticator, RegistryKeyAuthenticator
from behalf.dispatcher.batch_store import BatchStore
from behalf.dispatcher.consumer import ConsumerLoop, new_consumer
from behalf.dispatcher.delivery import HttpDeliverer
from behalf.dispatcher.delivery_spans import TracedDeliverer
from behalf.dispatcher.endpoint_changes import EndpointChanges
from behalf.dispatcher.endpoint_health import EndpointHealth
from behalf.dispatcher.health_report import RegistryHealthReporter, health_requests
from behalf.dispatcher.pipeline import Pipeline, SuspensionAwareSource
from behalf.dispatcher.retention import DeliveryRetention
from behalf.dispatcher.settings import DispatcherSettings
from behalf.dispatcher.store import DeliveryStore
from behalf.dispatcher.targets import RegistryTargetSource, TargetCache, TargetSource
from behalf.dispatcher.tasks import KafkaTaskSink
from behalf.dispatcher.writer import OutcomeWriter
from behalf.v1 import dispatcher_pb2_grpc

_log = structlog.get_logger("dispatcher")
logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per POST otherwise


class DispatcherService:
    """Wires consumers, the HTTP deliverer and the servicer to PostgreSQL, Kafka and the registry.

    `target_source` and `authenticator` may be injected (tests); by default they talk to the
    registry with the service credential.
    """

    def __init__(
        self,
        settings: DispatcherSettings,
        *,
        target_source: TargetSource | None = None,
        authenticator: Authenticator | None = None,
    ) -> None:
        self.settings = settings
        self.topics = Topics(settings.kafka.topic_prefix, retry_tiers=settings.retry_tiers)
        self.pool: asyncpg.Pool | None = None
        self.store = DeliveryStore()
        self.batches = BatchStore()
        self._writer: OutcomeWriter | None = None
        self._pipeline: Pipeline | None = None
        self._reclaimer: BackgroundTask | None = None
        self._retention: DeliveryRetention | None = None
        self._health_reports: BackgroundTask | None = None
        self._endpoint_changes: EndpointChanges | None = None
        self._target_source = target_source
        self._auth = authenticator
        self._sink = KafkaTaskSink()
        self._channel: grpc.aio.Channel | None = None
        self._producer: AIOKafkaProducer | None = None
        self._deliverer: HttpDeliverer | None = None
        self.loops: list[ConsumerLoop] = []
        self._runs: list[asyncio.Task[None]] = []
        self._stopping = False

    def register(self, host: ServiceHost) -> None:
        if self._auth is None:
            self._channel = self._registry_channel()
            self._auth = RegistryKeyAuthenticator(self._channel, self.settings.service_token)
        redriver = Redriver(self.store, self._sink, self.topics.retry(self.topics.retry_tiers[0]))
        host.add_service(
            dispatcher_pb2_grpc.add_DispatcherServiceServicer_to_server,
            DispatcherServicer(self._auth, self.store, redriver),
            "behalf.v1.DispatcherService",
        )

    def _registry_channel(self) -> grpc.aio.Channel:
        # A tenant's targets come in one reply (up to MAX_ENDPOINTS_PER_TENANT endpoints, with
        # their secrets): never refused by gRPC's default 4 MiB limit.
        return open_channel(
            self.settings.registry_target,
            self.settings.channel_tls,
            options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)],
        )

    async def start(self, host: ServiceHost) -> None:
        settings = self.settings
        timeout = settings.host.startup_timeout_seconds
        self.pool = await connect_pool(
            settings.database_url, schema="dispatcher", timeout_seconds=timeout, max_size=20
        )
        self.store.attach(self.pool)
        self.batches.attach(self.pool)
        await migrate(self.pool, "behalf.dispatcher")
        kafka = settings.kafka
        await ensure_topics(
            kafka.bootstrap,
            self.topics.all(),
            partitions=kafka.partitions,
            timeout_seconds=timeout,
            security=kafka.security,
        )
        self._producer = AIOKafkaProducer(
            bootstrap_servers=kafka.bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=2,
            **kafka.security.client_options(),
        )
        await retry_until(
            f"Kafka at {kafka.bootstrap}", self._producer.start, timeout_seconds=timeout
        )
        self._sink.attach(self._producer)
        source = self._target_source
        if source is None:
            if self._channel is None:
                self._channel = self._registry_channel()
            source = RegistryTargetSource(self._channel, settings.service_token)
        targets = TargetCache(
            SuspensionAwareSource(source, self.store), ttl_seconds=settings.target_cache_seconds
        )
        self._deliverer = (TracedDeliverer if tracing.enabled() else HttpDeliverer)(
            settings.delivery
        )
        self._writer = OutcomeWriter(self.batches, self._sink)
        self._writer.start()
        pipeline = self._pipeline = Pipeline(
            store=self.store,
            batches=self.batches,
            writer=self._writer,
            targets=targets,
            deliverer=self._deliverer,
            lanes=settings.lanes(),
            policy=settings.policy(),
            topics=self.topics,
            report_gone=source.suspend if isinstance(source, RegistryTargetSource) else None,
            health=EndpointHealth(settings.disable_after_failing_seconds),
        )
        client = f"dispatcher-{socket.gethostname()}-{os.getpid()}"
        self._endpoint_changes = EndpointChanges(
            kafka.bootstrap,
            self.topics.lifecycle,
            targets,
            client_id=f"{client}-endpoint-changes",
            security=kafka.security,
        )
        await retry_until(
            "Kafka endpoint changes", self._endpoint_changes.start, timeout_seconds=timeout
        )
        if isinstance(source, RegistryTargetSource) and self._channel is not None:
            self._health_reports = self._health_reporting(pipeline, client)
            self._health_reports.start()
        group = settings.consumer_group
        self.loops.append(
            ConsumerLoop(
                "events",
                new_consumer(
                    kafka.bootstrap, f"{group}.events", client_id=client, security=kafka.security
                ),
                [self.topics.decisions, self.topics.lifecycle],
                batch_handler=lambda rs: pipeline.handle_sources(
                    [(r.topic, r.value, r.headers) for r in rs]
                ),
                max_in_flight=settings.max_in_flight,
                drain_seconds=settings.delivery.total_timeout_seconds + 5,
                # The next poll's INSERT runs while this one's deliveries still wait for lane
                # room, so a lane does not run dry during the write (measured: a burst beside
                # broken endpoints, whose rows make each INSERT three times larger).
                batches_in_flight=2,
            )
        )
        for tier in settings.retry_tiers:
            self.loops.append(
                ConsumerLoop(
                    f"retry.{tier}",
                    new_consumer(
                        kafka.bootstrap,
                        f"{group}.retry.{tier}",
                        client_id=client,
                        security=kafka.security,
                    ),
                    [self.topics.retry(tier)],
                    functools.partial(_handle_task_record, pipeline, tier),
                    gate_on_due=True,
                    max_in_flight=settings.max_in_flight,
                    drain_seconds=settings.delivery.total_timeout_seconds + 5,
                )
            )
        for loop in self.loops:
            await retry_until(
                f"Kafka consumer {loop.name}", loop.consumer_start, timeout_seconds=timeout
            )
            # A plain task, not a BackgroundTask: stop() lets each loop drain (loop.stop() and
            # wait) rather than cancelling it.
            run = asyncio.create_task(loop.run(), name=f"consumer-{loop.name}")
            run.add_done_callback(functools.partial(self._loop_ended, host=host))
            self._runs.append(run)
        reclaim_after = settings.delivery.reclaim_after_seconds

        async def reclaim() -> None:
            while True:
                await asyncio.sleep(min(reclaim_after / 4, 5.0))
                try:
                    await pipeline.reclaim(reclaim_after)
                    await pipeline.report_suspensions()
                except Exception as exc:  # PostgreSQL away: the next round tries again
                    _log.warning("reclaim_failed", error=type(exc).__name__)

        self._reclaimer = BackgroundTask("reclaim-deliveries", reclaim)
        self._reclaimer.start()
        self._retention = DeliveryRetention(self.pool, settings.retention)
        self._retention.start()
        await host.set_serving(True)
        _log.info("dispatcher_ready", tiers=list(settings.retry_tiers))

    def _health_reporting(self, pipeline: Pipeline, dispatcher_id: str) -> BackgroundTask:
        assert self._channel is not None
        reporter = RegistryHealthReporter(self._channel, self.settings.service_token)
        interval = self.settings.health_report_seconds

        async def report() -> None:
            while True:
                await asyncio.sleep(interval)
                stats = pipeline.stats.snapshot(time.time())
                window = pipeline.stats.window_seconds
                try:
                    for request in health_requests(
                        dispatcher_id, stats, pipeline.lanes.breaker, window
                    ):
                        await reporter.send(request)
                except Exception as exc:  # the next round reports again; never stop reporting
                    _log.warning("health_report_failed", error=type(exc).__name__)

        return BackgroundTask("report-endpoint-health", report)

    def _loop_ended(self, task: asyncio.Task[None], host: ServiceHost) -> None:
        """A consumer loop that ends on its own is a failure: stop the process to restart it."""
        if self._stopping or task.cancelled():
            return
        _log.error("consumer_loop_ended", loop=task.get_name(), error=repr(task.exception()))
        host.request_stop()

    async def stop(self) -> None:
        self._stopping = True
        for loop in self.loops:
            loop.stop()
        if self._runs:
            await asyncio.gather(*self._runs, return_exceptions=True)
        if self._reclaimer is not None:
            await self._reclaimer.stop()
        if self._retention is not None:
            await self._retention.stop()
        if self._health_reports is not None:
            await self._health_reports.stop()
        if self._endpoint_changes is not None:
            await self._endpoint_changes.stop()
        if self._pipeline is not None:
            await self._pipeline.lanes.stop(self.settings.delivery.total_timeout_seconds)
        if self._writer is not None:
            await self._writer.stop()
        if self._deliverer is not None:
            await self._deliverer.close()
        if self._producer is not None:
            await self._producer.stop()
        if self._channel is not None:
            await self._channel.close()
        if self.pool is not None:
            await self.pool.close()


async def _handle_task_record(pipeline: Pipeline, tier: str, record: Any) -> None:
    """A retry tier's record (an aiokafka ConsumerRecord) through the pipeline."""
    await pipeline.handle_task(tier, record.value, record.headers)
