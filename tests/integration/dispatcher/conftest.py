"""Dispatcher integration fixtures: a local HTTP receiver, a fake registry, a fresh database."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import grpc
import pytest
from aiokafka import AIOKafkaProducer
from google.protobuf.timestamp_pb2 import Timestamp

from behalf.common.config import Env
from behalf.common.host import ServiceHost
from behalf.common.kafka import EVENT_TYPE_HEADER
from behalf.common.pg import connect_pool, migrate
from behalf.dispatcher.app import DispatcherService
from behalf.dispatcher.settings import DispatcherSettings
from behalf.v1 import common_pb2, events_pb2, internal_pb2, internal_pb2_grpc, resources_pb2
from tests.harness.infra import create_database_from_template, drop_database
from tests.harness.receiver import Receiver

SERVICE_TOKEN = "dispatcher-test-service-token-0001"  # conftest may be imported twice
TENANT = "ten_" + "a" * 20
OTHER_TENANT = "ten_" + "z" * 20
ADMIN_KEY = "bhk_admin_" + "A" * 43  # TENANT's admin key in the fake registry
OTHER_ADMIN_KEY = "bhk_admin_" + "Z" * 43  # OTHER_TENANT's


def bearer(key: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    recv = Receiver()
    server = await asyncio.start_server(recv.handle, "127.0.0.1", 0)
    recv.port = server.sockets[0].getsockname()[1]
    yield recv
    server.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(server.wait_closed(), 1)


# -- fake registry ---------------------------------------------------------------------------


class FakeRegistry(internal_pb2_grpc.RegistryInternalServiceServicer):
    """ListWebhookTargets and AuthenticateApiKey from in-memory tables; checks the service
    credential."""

    def __init__(self) -> None:
        self.targets: dict[str, list[internal_pb2.WebhookTarget]] = {}
        self.keys: dict[str, tuple[str, int]] = {
            ADMIN_KEY: (TENANT, resources_pb2.ROLE_ADMIN),
            OTHER_ADMIN_KEY: (OTHER_TENANT, resources_pb2.ROLE_ADMIN),
        }
        self.calls = 0
        self.port = 0

    def add(
        self,
        url: str,
        *,
        secrets_: list[str] | None = None,
        event_types: list[str] | None = None,
        tenant_id: str = TENANT,
        disabled: bool = False,
    ) -> tuple[str, list[str]]:
        endpoint_id = "whe_" + uuid.uuid4().hex[:20]
        keys = secrets_ or [new_secret()]
        self.targets.setdefault(tenant_id, []).append(
            internal_pb2.WebhookTarget(
                endpoint=resources_pb2.WebhookEndpoint(
                    endpoint_id=endpoint_id,
                    tenant_id=tenant_id,
                    url=url,
                    event_types=event_types or [],
                    disabled=disabled,
                ),
                signing_secrets=keys,
            )
        )
        return endpoint_id, keys

    async def AuthenticateApiKey(self, request, context):
        """The tenant and role of a key in `keys`; any other key is refused, as the registry
        would."""
        if (("authorization", f"Bearer {SERVICE_TOKEN}")) not in context.invocation_metadata():
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "service credential required")
        if request.api_key not in self.keys:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "invalid API key")
        tenant_id, role = self.keys[request.api_key]
        return internal_pb2.AuthenticateApiKeyResponse(
            key_id="key_" + "k" * 20, tenant_id=tenant_id, role=role
        )

    async def ListWebhookTargets(self, request, context):
        if (("authorization", f"Bearer {SERVICE_TOKEN}")) not in context.invocation_metadata():
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "service credential required")
        self.calls += 1
        return internal_pb2.ListWebhookTargetsResponse(
            targets=self.targets.get(request.tenant_id, [])
        )


@contextlib.asynccontextmanager
async def serving(fake: FakeRegistry) -> AsyncIterator[FakeRegistry]:
    """`fake` served as the registry's internal API on a port of its own (`fake.port`)."""
    server = grpc.aio.server()
    internal_pb2_grpc.add_RegistryInternalServiceServicer_to_server(fake, server)
    fake.port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield fake
    finally:
        await server.stop(0)


@pytest.fixture
async def registry() -> AsyncIterator[FakeRegistry]:
    async with serving(FakeRegistry()) as fake:
        yield fake


# -- database, topics, dispatcher ------------------------------------------------------------


@pytest.fixture
async def dispatcher_db(database_url: str) -> AsyncIterator[str]:
    name = f"dsp_{uuid.uuid4().hex[:12]}"
    url = await create_database_from_template(database_url, "template1", name)
    yield url
    await drop_database(database_url, name)


@pytest.fixture
def prefix() -> str:
    return f"dsp{uuid.uuid4().hex[:10]}"


def dispatcher_env(
    db_url: str, kafka_bootstrap: str, prefix: str, registry_port: int, **overrides: str
) -> dict[str, str]:
    env = {
        "BEHALF_DATABASE_URL": db_url,
        "BEHALF_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "BEHALF_TOPIC_PREFIX": prefix,
        "BEHALF_TOPIC_PARTITIONS": "3",
        "BEHALF_REGISTRY_INTERNAL_TARGET": f"127.0.0.1:{registry_port}",
        "BEHALF_DISPATCHER_TOKEN": SERVICE_TOKEN,
        "BEHALF_GRPC_PORT": "0",
        "BEHALF_METRICS_PORT": "0",
        "BEHALF_WEBHOOK_RETRY_TIERS": "1s,2s",
        "BEHALF_WEBHOOK_TIMEOUT_SECONDS": "3",
        "BEHALF_WEBHOOK_CONNECT_TIMEOUT_SECONDS": "3",
        "BEHALF_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
        "BEHALF_DISPATCHER_GROUP": f"{prefix}-dispatcher",
        "BEHALF_STARTUP_TIMEOUT_SECONDS": "30",
        "BEHALF_GRACE_SECONDS": "1",
    }
    env.update(overrides)
    return env


@dataclass
class Running:
    """An in-process dispatcher and its host."""

    service: DispatcherService
    host: ServiceHost

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.host.bound_port}"


@contextlib.asynccontextmanager
async def run_dispatcher(env: dict[str, str]) -> AsyncIterator[Running]:
    settings = DispatcherSettings.from_env(Env(env))
    service = DispatcherService(settings)
    host = ServiceHost("dispatcher", host="127.0.0.1", port=0, metrics_port=None, grace_seconds=1)
    service.register(host)
    await host.start()
    try:
        await service.start(host)
        for loop in service.loops:
            await asyncio.wait_for(loop.assigned.wait(), 30)
        yield Running(service, host)
    finally:
        await host.drain()
        await service.stop()


@pytest.fixture
def env(dispatcher_db, kafka_bootstrap, prefix, registry) -> dict[str, str]:
    return dispatcher_env(dispatcher_db, kafka_bootstrap, prefix, registry.port)


# -- producing events ------------------------------------------------------------------------


def decision_event(outcome: int = common_pb2.OUTCOME_DENY, tenant_id: str = TENANT):
    now = Timestamp()
    now.GetCurrentTime()
    return events_pb2.DecisionEvent(
        event_id="evt_" + uuid.uuid4().hex[:20],
        tenant_id=tenant_id,
        agent_id="agt_" + "b" * 20,
        action="purchase",
        resource="shop.example.com",
        decision=common_pb2.Decision(request_id="req_1", outcome=outcome, decide_time=now),
    )


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    p = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True)
    await p.start()
    yield p
    await p.stop()


async def publish(producer: AIOKafkaProducer, topic: str, event, event_type: str) -> None:
    await producer.send_and_wait(
        topic,
        event.SerializeToString(),
        key=event.tenant_id.encode(),
        headers=[(EVENT_TYPE_HEADER, event_type.encode())],
    )


@pytest.fixture
async def pool(dispatcher_db: str) -> AsyncIterator[asyncpg.Pool]:
    """The dispatcher's tables, migrated, in a database of this test's own."""
    pool = await connect_pool(dispatcher_db, schema="dispatcher", timeout_seconds=10)
    await migrate(pool, "behalf.dispatcher")
    yield pool
    await pool.close()
