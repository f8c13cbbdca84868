"""The dispatcher service's lifecycle: database, migrations, topics, servicers."""

from __future__ import annotations

import asyncpg

from behalf.common.host import ServiceHost
from behalf.common.kafka import Topics, ensure_topics
from behalf.common.pg import connect_pool, migrate
from behalf.dispatcher.settings import DispatcherSettings
from behalf.v1 import dispatcher_pb2_grpc


class DispatcherService:
    """Wires the dispatcher's servicer to PostgreSQL and Kafka."""

    def __init__(self, settings: DispatcherSettings) -> None:
        self.settings = settings
        self.pool: asyncpg.Pool | None = None

    def register(self, host: ServiceHost) -> None:
        host.add_service(
            dispatcher_pb2_grpc.add_DispatcherServiceServicer_to_server,
            dispatcher_pb2_grpc.DispatcherServiceServicer(),
            "behalf.v1.DispatcherService",
        )

    async def start(self, host: ServiceHost) -> None:
        timeout = self.settings.host.startup_timeout_seconds
        self.pool = await connect_pool(
            self.settings.database_url, schema="dispatcher", timeout_seconds=timeout
        )
        await migrate(self.pool, "behalf.dispatcher")
        kafka = self.settings.kafka
        await ensure_topics(
            kafka.bootstrap,
            Topics(kafka.topic_prefix).all(),
            partitions=kafka.partitions,
            timeout_seconds=timeout,
        )
        await host.set_serving(True)

    async def stop(self) -> None:
        if self.pool is not None:
            await self.pool.close()
