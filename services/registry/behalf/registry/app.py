"""The registry service's lifecycle: database, migrations, topics, servicers, background tasks."""

from __future__ import annotations

from datetime import timedelta

import asyncpg

from behalf.common.host import ServiceHost
from behalf.common.kafka import Topics, ensure_topics
from behalf.common.pg import connect_pool, migrate
from behalf.registry.api import RegistryApi
from behalf.registry.audit import AuditQueries, AuditSink
from behalf.registry.deps import InternalDeps, RegistryDeps
from behalf.registry.internal_api import RegistryInternalApi
from behalf.registry.keys import Authenticator
from behalf.registry.passport import PassportSigner
from behalf.registry.relay import OutboxRelay
from behalf.registry.retention import Retention
from behalf.registry.secret_box import SecretBox
from behalf.registry.settings import RegistrySettings
from behalf.registry.store import SCHEMA, tenants
from behalf.registry.store.values import StoredKey
from behalf.registry.sweeper import ExpirySweeper
from behalf.registry.watch import WatchHub
from behalf.v1 import internal_pb2_grpc, registry_pb2_grpc

AUDIT_GROUP_SUFFIX = "registry-audit"
INTERNAL_LISTENER = "internal"  # RegistryInternalService: verifiers and dispatchers only


class RegistryService:
    """Wires the registry's servicers to PostgreSQL and Kafka."""

    def __init__(self, settings: RegistrySettings) -> None:
        self.settings = settings
        self.pool: asyncpg.Pool | None = None
        self.public_pool: asyncpg.Pool | None = None
        self.stream_pools: list[asyncpg.Pool] = []
        self.api = RegistryApi()
        self.internal_api = RegistryInternalApi()
        self._tasks: list[WatchHub | OutboxRelay | AuditSink | ExpirySweeper | Retention] = []

    def register(self, host: ServiceHost) -> None:
        host.add_service(
            registry_pb2_grpc.add_RegistryServiceServicer_to_server,
            self.api,
            "behalf.v1.RegistryService",
        )
        host.add_listener(INTERNAL_LISTENER, self.settings.internal_port)
        host.add_service(
            internal_pb2_grpc.add_RegistryInternalServiceServicer_to_server,
            self.internal_api,
            "behalf.v1.RegistryInternalService",
            listener=INTERNAL_LISTENER,
        )

    async def start(self, host: ServiceHost) -> None:
        settings = self.settings
        timeout = settings.host.startup_timeout_seconds
        pool = await connect_pool(settings.database_url, schema=SCHEMA, timeout_seconds=timeout)
        self.pool = pool
        await migrate(pool, "behalf.registry")
        # Tenant-facing calls get connections of their own: verifiers' stateful steps, the
        # audit sink and the relay (a flood of one tenant's approvals and decisions) share the
        # other pool, so another tenant's DisableAgent never queues behind them for one.
        public_pool = await connect_pool(
            settings.database_url, schema=SCHEMA, timeout_seconds=timeout
        )
        self.public_pool = public_pool
        # And the policy stream its own, so revocations and heartbeats reach verifiers however
        # busy the stateful steps are: snapshots for connecting verifiers on a few, the outbox
        # tail every stream follows on one of its own.
        snapshot_pool = await connect_pool(
            settings.database_url, schema=SCHEMA, timeout_seconds=timeout, max_size=4
        )
        tail_pool = await connect_pool(
            settings.database_url, schema=SCHEMA, timeout_seconds=timeout, max_size=1
        )
        self.stream_pools = [snapshot_pool, tail_pool]
        kafka = settings.kafka
        topics = Topics(kafka.topic_prefix)
        # Only the topics the registry uses: under ACLs it can see no others (the dispatcher
        # creates its retry and dead-letter topics itself).
        await ensure_topics(
            kafka.bootstrap,
            [topics.decisions, topics.lifecycle],
            partitions=kafka.partitions,
            timeout_seconds=timeout,
            security=kafka.security,
        )

        async def lookup(secret_hash: bytes) -> StoredKey | None:
            return await tenants.find_key(public_pool, secret_hash)

        authenticator = Authenticator(lookup)
        webhook_box = SecretBox(settings.master_key, "webhook-secrets")
        hub = WatchHub(snapshot_pool, database_url=settings.database_url, tail_pool=tail_pool)
        self.api.attach(
            RegistryDeps(
                pool=public_pool,
                authenticator=authenticator,
                credentials=settings.credentials,
                webhook_box=webhook_box,
                idempotency_box=SecretBox(settings.master_key, "idempotent-responses"),
                signer=PassportSigner(settings.master_key),
                watcher=hub,
                audit=AuditQueries(public_pool),
                allow_private_webhook_urls=settings.allow_private_webhook_urls,
            )
        )
        self.internal_api.attach(
            InternalDeps(
                pool=pool,
                credentials=settings.credentials,
                webhook_box=webhook_box,
                stream=hub,
                authenticator=authenticator,
                approval_window=timedelta(seconds=settings.approval_window_seconds),
            )
        )
        self._tasks = [
            hub,
            OutboxRelay(
                pool, bootstrap=kafka.bootstrap, topic=topics.lifecycle, security=kafka.security
            ),
            AuditSink(
                pool,
                bootstrap=kafka.bootstrap,
                topic=topics.decisions,
                group_id=f"{kafka.topic_prefix}.{AUDIT_GROUP_SUFFIX}",
                security=kafka.security,
            ),
            ExpirySweeper(pool),
            Retention(pool, settings.retention),
        ]
        for task in self._tasks:
            await task.start()
        await host.set_serving(True)

    async def stop(self) -> None:
        for task in reversed(self._tasks):
            await task.stop()
        self._tasks = []
        for pool in (*self.stream_pools, self.public_pool, self.pool):
            if pool is not None:
                await pool.close()
