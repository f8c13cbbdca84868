"""Fixtures for the registry API tests: a migrated template database, a fresh copy per test,
and an in-process registry behind the real host: the public API on one free port, the internal
API on another, each service identity with its own credential."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import AsyncIterator

import asyncpg
import grpc
import pytest

from behalf.common.host import ServiceHost
from behalf.common.pg import connect_pool, migrate
from behalf.registry.api import RegistryApi
from behalf.registry.app import INTERNAL_LISTENER
from behalf.registry.deps import RegistryDeps
from behalf.registry.identities import Identity, ServiceCredentials
from behalf.registry.internal_api import InternalDeps, RegistryInternalApi
from behalf.registry.keys import Authenticator
from behalf.registry.passport import PassportSigner
from behalf.registry.secret_box import SecretBox
from behalf.registry.store import tenants
from behalf.registry.store.values import StoredKey
from behalf.v1 import internal_pb2, internal_pb2_grpc, registry_pb2_grpc
from tests.harness.infra import create_database_from_template, drop_database
from tests.harness.infra import database_url as with_database
from tests.integration.registry.support import FakeAudit, FakeWatcher, Registry

pytestmark = pytest.mark.integration

TOKENS = {i: f"{i}-" + base64.b64encode(os.urandom(24)).decode() for i in Identity}
CREDENTIALS = ServiceCredentials.from_tokens({i: [t] for i, t in TOKENS.items()})
MASTER_KEY = os.urandom(32)


@pytest.fixture(scope="session")
async def registry_api_template(database_url: str) -> AsyncIterator[str]:
    """A database with every registry migration applied, copied by each test."""
    name = f"regapi_tmpl_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(database_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    pool = await connect_pool(
        with_database(database_url, name), schema="registry", timeout_seconds=30
    )
    try:
        await migrate(pool, "behalf.registry")
    finally:
        await pool.close()
    yield name
    await drop_database(database_url, name)


@pytest.fixture
async def registry_pool(
    database_url: str, registry_api_template: str
) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a fresh copy of the migrated template."""
    name = f"regapi_{uuid.uuid4().hex[:12]}"
    url = await create_database_from_template(database_url, registry_api_template, name)
    pool = await connect_pool(url, schema="registry", timeout_seconds=30, max_size=40)
    try:
        yield pool
    finally:
        await pool.close()
        await drop_database(database_url, name)


class _NoStream:
    """The watch stream is the hub's; these tests only check that it is guarded."""

    async def serve(
        self, request_iterator: object, context: object
    ) -> AsyncIterator[internal_pb2.WatchPolicyResponse]:
        yield internal_pb2.WatchPolicyResponse(heartbeat=internal_pb2.WatchHeartbeat(revision=0))


def build_servicers(
    pool: asyncpg.Pool,
    watcher: FakeWatcher,
    audit: FakeAudit,
    *,
    allow_private_webhook_urls: bool = False,
    approval_window_seconds: float = 900,
) -> tuple[RegistryApi, RegistryInternalApi]:
    from datetime import timedelta

    async def lookup(secret_hash: bytes) -> StoredKey | None:
        return await tenants.find_key(pool, secret_hash)

    authenticator = Authenticator(lookup)
    webhook_box = SecretBox(MASTER_KEY, "webhook-secrets")
    api = RegistryApi(
        RegistryDeps(
            pool=pool,
            authenticator=authenticator,
            credentials=CREDENTIALS,
            webhook_box=webhook_box,
            idempotency_box=SecretBox(MASTER_KEY, "idempotent-responses"),
            signer=PassportSigner(MASTER_KEY),
            watcher=watcher,
            audit=audit,
            allow_private_webhook_urls=allow_private_webhook_urls,
        )
    )
    internal = RegistryInternalApi(
        InternalDeps(
            pool=pool,
            credentials=CREDENTIALS,
            webhook_box=webhook_box,
            stream=_NoStream(),
            authenticator=authenticator,
            approval_window=timedelta(seconds=approval_window_seconds),
        )
    )
    return api, internal


@pytest.fixture
def approval_window_seconds() -> float:
    """Approval window of the test registry; override in a module to test expiry."""
    return 900


@pytest.fixture
async def registry(
    registry_pool: asyncpg.Pool, approval_window_seconds: float
) -> AsyncIterator[Registry]:
    """The registry servicers in a real ServiceHost (so errors go through the interceptor)."""
    watcher, audit = FakeWatcher(), FakeAudit()
    api, internal = build_servicers(
        registry_pool, watcher, audit, approval_window_seconds=approval_window_seconds
    )
    host = ServiceHost(
        "registry-test", host="127.0.0.1", port=0, metrics_port=None, grace_seconds=0
    )
    host.add_service(
        registry_pb2_grpc.add_RegistryServiceServicer_to_server, api, "behalf.v1.RegistryService"
    )
    host.add_listener(INTERNAL_LISTENER, 0)
    host.add_service(
        internal_pb2_grpc.add_RegistryInternalServiceServicer_to_server,
        internal,
        "behalf.v1.RegistryInternalService",
        listener=INTERNAL_LISTENER,
    )
    await host.start()
    await host.set_serving(True)
    public = grpc.aio.insecure_channel(f"127.0.0.1:{host.bound_port}")
    internal_channel = grpc.aio.insecure_channel(f"127.0.0.1:{host.port_of(INTERNAL_LISTENER)}")
    try:
        yield Registry(public, internal_channel, registry_pool, TOKENS, watcher, audit)
    finally:
        await public.close()
        await internal_channel.close()
        await host.drain()
