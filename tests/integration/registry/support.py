"""Helpers for the registry API tests: authenticated stubs, a tenant with keys, fakes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import asyncpg
import grpc
import pytest

from behalf.registry.identities import Identity
from behalf.v1 import internal_pb2_grpc, registry_pb2, registry_pb2_grpc, resources_pb2


class Authed:
    """A stub whose every call carries `authorization: Bearer <token>`."""

    def __init__(self, stub: Any, token: str | None) -> None:
        self._stub = stub
        self._token = token

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._stub, name)
        metadata = () if self._token is None else (("authorization", f"Bearer {self._token}"),)

        def call(request: Any, **kwargs: Any) -> Any:
            return method(request, metadata=metadata, **kwargs)

        return call


async def fails(awaitable: Any, code: grpc.StatusCode, *needles: str) -> str:
    """Await a call that must fail with `code` and a message containing every needle."""
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await awaitable
    assert info.value.code() == code, (info.value.code(), info.value.details())
    details = info.value.details() or ""
    for needle in needles:
        assert needle in details, details
    return details


@dataclass
class FakeWatcher:
    """Stands in for the watch hub: every wait is acked at once by one verifier."""

    waits: list[tuple[int, float]] = field(default_factory=list)
    pokes: int = 0

    async def wait_for_acks(self, revision: int, timeout: float) -> registry_pb2.Propagation:  # noqa: ASYNC109
        self.waits.append((revision, timeout))
        return registry_pb2.Propagation(all_acked=True, acked_verifiers=1, connected_verifiers=1)

    def verifiers(self) -> list[registry_pb2.VerifierStatus]:
        return [registry_pb2.VerifierStatus(verifier_id="fake-verifier", acked_revision=7)]

    def poke(self) -> None:
        self.pokes += 1


@dataclass
class FakeAudit:
    """Stands in for the audit queries; records the tenant each call was scoped to."""

    tenants: list[str] = field(default_factory=list)

    async def list_decisions(
        self, tenant_id: str, request: registry_pb2.ListDecisionsRequest
    ) -> registry_pb2.ListDecisionsResponse:
        self.tenants.append(tenant_id)
        return registry_pb2.ListDecisionsResponse()

    async def get_decision(self, tenant_id: str, request_id: str) -> Any:
        return self._missing(tenant_id)

    async def get_event(self, tenant_id: str, event_id: str) -> Any:
        return self._missing(tenant_id)

    async def get_asking(self, tenant_id: str, approval_id: str) -> Any:
        return self._missing(tenant_id)

    def _missing(self, tenant_id: str) -> Any:
        from behalf.common.errors import NotFound

        self.tenants.append(tenant_id)
        raise NotFound("decision not found")


@dataclass
class Tenant:
    """A tenant with one stub per role."""

    tenant_id: str
    admin_secret: str
    admin: Authed
    audit: Authed
    verify: Authed
    audit_secret: str
    verify_secret: str


@dataclass
class Registry:
    """A running registry on a fresh database: the public API on `channel`, the internal API on
    `internal_channel`, and each service identity's credential in `tokens`."""

    channel: grpc.aio.Channel
    internal_channel: grpc.aio.Channel
    pool: asyncpg.Pool
    tokens: dict[Identity, str]
    watcher: FakeWatcher
    audit: FakeAudit

    @property
    def operator_token(self) -> str:
        return self.tokens[Identity.OPERATOR]

    def public(self, token: str | None) -> Authed:
        return Authed(registry_pb2_grpc.RegistryServiceStub(self.channel), token)

    def internal(self, token: str | None) -> Authed:
        """The internal API with `token` (None: no credential at all)."""
        return Authed(internal_pb2_grpc.RegistryInternalServiceStub(self.internal_channel), token)

    def as_verifier(self) -> Authed:
        return self.internal(self.tokens[Identity.VERIFIER])

    def as_dispatcher(self) -> Authed:
        return self.internal(self.tokens[Identity.DISPATCHER])

    async def tenant(self, name: str = "Acme") -> Tenant:
        created = await self.public(self.operator_token).CreateTenant(
            registry_pb2.CreateTenantRequest(name=name)
        )
        admin = self.public(created.admin_key_secret)
        audit = await admin.CreateApiKey(
            registry_pb2.CreateApiKeyRequest(name="auditor", role=resources_pb2.ROLE_AUDIT_READ)
        )
        verify = await admin.CreateApiKey(
            registry_pb2.CreateApiKeyRequest(name="verifier", role=resources_pb2.ROLE_VERIFY)
        )
        return Tenant(
            tenant_id=created.tenant.tenant_id,
            admin_secret=created.admin_key_secret,
            admin=admin,
            audit=self.public(audit.secret),
            verify=self.public(verify.secret),
            audit_secret=audit.secret,
            verify_secret=verify.secret,
        )

    async def outbox(self) -> list[tuple[str, int, str]]:
        """(event_type, revision, tenant_id) of every outbox row, in commit order."""
        rows = await self.pool.fetch(
            "SELECT event_type, revision, tenant_id FROM outbox ORDER BY seq"
        )
        return [(r["event_type"], r["revision"], r["tenant_id"]) for r in rows]


async def new_agent(tenant: Tenant, name: str = "shopper", **kwargs: Any) -> resources_pb2.Agent:
    response = await tenant.admin.CreateAgent(
        registry_pb2.CreateAgentRequest(
            name=name, kind=kwargs.pop("kind", resources_pb2.AGENT_KIND_NATIVE), **kwargs
        )
    )
    agent: resources_pb2.Agent = response.agent
    return agent
