"""The registry service's lifecycle: database, migrations, topics, servicers."""

from __future__ import annotations

import asyncpg

from behalf.common.host import ServiceHost
from behalf.common.kafka import Topics, ensure_topics
from behalf.common.pg import connect_pool, migrate
from behalf.registry.settings import RegistrySettings
from behalf.v1 import internal_pb2_grpc, registry_pb2_grpc


class RegistryService:
    """Wires the registry's servicers to PostgreSQL and Kafka."""

    def __init__(self, settings: RegistrySettings) -> None:
        self.settings = settings
        self.pool: asyncpg.Pool | None = None

    def register(self, host: ServiceHost) -> None:
        host.add_service(
            registry_pb2_grpc.add_RegistryServiceServicer_to_server,
            registry_pb2_grpc.RegistryServiceServicer(),
            "behalf.v1.RegistryService",
        )
        host.add_service(
            internal_pb2_grpc.add_RegistryInternalServiceServicer_to_server,
            internal_pb2_grpc.RegistryInternalServiceServicer(),
            "behalf.v1.RegistryInternalService",
        )

    async def start(self, host: ServiceHost) -> None:
        timeout = self.settings.host.startup_timeout_seconds
        self.pool = await connect_pool(
            self.settings.database_url, schema="registry", timeout_seconds=timeout
        )
        await migrate(self.pool, "behalf.registry")
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
