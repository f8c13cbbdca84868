"""A whole Behalf stack of real processes on a fresh database and topic prefix, for e2e tests."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import grpc
from google.protobuf import duration_pb2

from behalf.v1 import (
    common_pb2,
    registry_pb2,
    registry_pb2_grpc,
    resources_pb2,
    verifier_pb2,
    verifier_pb2_grpc,
)
from tests.harness.infra import database_url as with_database
from tests.harness.infra import drop_database
from tests.harness.processes import (
    OPERATOR_TOKEN,
    ServiceProcess,
    base_env,
    client_credentials,
    start_service,
)


def bearer(key: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)


def coachella_grant(agent_id: str, **fields: object) -> registry_pb2.GrantPermissionRequest:
    """The seed's grant: purchase on coachella.com up to 800.00 USD for an hour. Keyword
    arguments override fields; a value of None clears one (e.g. `max_amount=None`)."""
    request = registry_pb2.GrantPermissionRequest(
        agent_id=agent_id,
        allowed_actions=["purchase"],
        resources=["coachella.com"],
        max_amount=common_pb2.Money(amount_minor=80000, currency="USD"),
        expires_in=duration_pb2.Duration(seconds=3600),
    )
    for key, value in fields.items():
        if value is None:
            request.ClearField(key)
        elif isinstance(value, list):
            getattr(request, key)[:] = value
        elif hasattr(value, "CopyFrom"):
            getattr(request, key).CopyFrom(value)
        else:
            setattr(request, key, value)
    return request


@dataclass
class Tenant:
    """A tenant created through the registry, with an admin key and a verify key."""

    tenant_id: str
    admin_key: str
    verify_key: str

    @property
    def admin(self) -> tuple[tuple[str, str], ...]:
        return bearer(self.admin_key)

    @property
    def verify(self) -> tuple[tuple[str, str], ...]:
        return bearer(self.verify_key)


@dataclass
class Stack:
    """Registry and verifiers (and optionally a dispatcher) as real processes."""

    admin_url: str
    database: str
    env: dict[str, str]
    log_dir: Path
    registry: ServiceProcess
    verifiers: list[ServiceProcess] = field(default_factory=list)
    dispatcher: ServiceProcess | None = None

    @property
    def topic_prefix(self) -> str:
        return self.env["BEHALF_TOPIC_PREFIX"]

    def channel(
        self, target: str, credentials: grpc.ChannelCredentials | None = None
    ) -> grpc.Channel:
        """A channel to `target` with `credentials`, by default the stack's own: plaintext, or
        TLS (with the services' client certificate) when its services serve TLS."""
        credentials = credentials or client_credentials(self.env)
        if credentials is None:
            return grpc.insecure_channel(target)
        return grpc.secure_channel(target, credentials)

    def registry_stub(
        self, credentials: grpc.ChannelCredentials | None = None
    ) -> registry_pb2_grpc.RegistryServiceStub:
        return registry_pb2_grpc.RegistryServiceStub(
            self.channel(self.registry.target, credentials)
        )

    def verifier_stub(
        self, index: int = 0, credentials: grpc.ChannelCredentials | None = None
    ) -> verifier_pb2_grpc.VerifierServiceStub:
        channel = self.channel(self.verifiers[index].target, credentials)
        return verifier_pb2_grpc.VerifierServiceStub(channel)

    def create_tenant(self, name: str = "acme") -> Tenant:
        registry = self.registry_stub()
        created = registry.CreateTenant(
            registry_pb2.CreateTenantRequest(name=name), metadata=bearer(OPERATOR_TOKEN), timeout=10
        )
        verify = registry.CreateApiKey(
            registry_pb2.CreateApiKeyRequest(name="verify", role=resources_pb2.ROLE_VERIFY),
            metadata=bearer(created.admin_key_secret),
            timeout=10,
        )
        return Tenant(created.tenant.tenant_id, created.admin_key_secret, verify.secret)

    def create_api_key(
        self,
        tenant: Tenant,
        *,
        role: resources_pb2.Role = resources_pb2.ROLE_VERIFY,
        agent_id: str = "",
        test_mode_only: bool = False,
        name: str = "key",
    ) -> registry_pb2.CreateApiKeyResponse:
        """A new key of the tenant (by default a verify key), bound to `agent_id` if given: its
        secret, description and the revision it was created at."""
        created: registry_pb2.CreateApiKeyResponse = self.registry_stub().CreateApiKey(
            registry_pb2.CreateApiKeyRequest(
                name=name, role=role, agent_id=agent_id, test_mode_only=test_mode_only
            ),
            metadata=tenant.admin,
            timeout=10,
        )
        return created

    def agent_with_grant(
        self, tenant: Tenant, name: str = "buyer", **grant_fields: object
    ) -> tuple[str, registry_pb2.GrantPermissionResponse]:
        """A new native agent with `coachella_grant(**grant_fields)`."""
        registry = self.registry_stub()
        agent = registry.CreateAgent(
            registry_pb2.CreateAgentRequest(name=name, kind=resources_pb2.AGENT_KIND_NATIVE),
            metadata=tenant.admin,
            timeout=10,
        ).agent
        grant = registry.GrantPermission(
            coachella_grant(agent.agent_id, **grant_fields), metadata=tenant.admin, timeout=10
        )
        return agent.agent_id, grant

    def verify_purchase(
        self,
        tenant: Tenant,
        agent_id: str,
        grant: registry_pb2.GrantPermissionResponse,
        amount_minor: int,
    ) -> common_pb2.Decision:
        """Verify a USD purchase on coachella.com at the grant's revision (the seed's question)."""
        return (
            self.verifier_stub()
            .Verify(
                verifier_pb2.VerifyRequest(
                    agent_id=agent_id,
                    action="purchase",
                    resource="coachella.com",
                    amount=common_pb2.Money(amount_minor=amount_minor, currency="USD"),
                    min_revision=grant.revision,
                ),
                metadata=tenant.verify,
                timeout=10,
            )
            .decision
        )

    def start_verifier(self, **overrides: str) -> ServiceProcess:
        process = start_service(
            "verifier",
            self.env,
            self.log_dir,
            BEHALF_REGISTRY_INTERNAL_TARGET=self.registry.internal_target,
            BEHALF_REGISTRY_TARGET=self.registry.target,
            **overrides,
        )
        process.wait_serving()
        self.verifiers.append(process)
        return process

    def stop(self) -> None:
        for process in [*self.verifiers, self.registry, self.dispatcher]:
            if process is not None:
                process.kill()


async def start_stack(
    admin_url: str,
    kafka_bootstrap: str,
    log_dir: Path,
    *,
    verifiers: int = 1,
    dispatcher: bool = False,
    overrides: Sequence[tuple[str, str]] = (),
) -> Stack:
    """Create a fresh database, then start the registry, verifiers and maybe a dispatcher."""
    database = f"e2e_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()
    env = base_env(
        with_database(admin_url, database), kafka_bootstrap, f"e2e{uuid.uuid4().hex[:8]}"
    )
    env.update(dict(overrides))
    registry = start_service("registry", env, log_dir)
    registry.wait_serving()
    stack = Stack(admin_url, database, env, log_dir, registry)
    for _ in range(verifiers):
        stack.start_verifier()
    if dispatcher:
        stack.dispatcher = start_service(
            "dispatcher", env, log_dir, BEHALF_REGISTRY_INTERNAL_TARGET=registry.internal_target
        )
        stack.dispatcher.wait_serving()
    return stack


async def stop_stack(stack: Stack) -> None:
    stack.stop()
    await drop_database(stack.admin_url, stack.database)
