"""RegistryService: the public gRPC API. Each handler authenticates, validates, calls the
store in one transaction, and converts back; errors are domain errors the interceptor maps.

Handlers are grouped by concept in `api_agents`, `api_permissions`, `api_approvals` and
`api_webhooks`; this module adds tenants, keys, audit queries and verifier status.
"""

from __future__ import annotations

import asyncpg
import grpc

from behalf.common.errors import InvalidArgument
from behalf.common.ids import new_id
from behalf.registry import keys
from behalf.registry import validation as v
from behalf.registry.api_agents import AgentHandlers
from behalf.registry.api_approvals import ApprovalHandlers
from behalf.registry.api_permissions import PermissionHandlers
from behalf.registry.api_support import RegistryDeps, Unchanged, cursor, next_token, not_found
from behalf.registry.api_webhooks import WebhookHandlers
from behalf.registry.changes import current_revision, next_revision, write_event
from behalf.registry.identities import PUBLIC_SERVICE, method
from behalf.registry.keys import Role
from behalf.registry.store import agents, tenants
from behalf.registry.verifier_status import as_seen_by_tenant
from behalf.v1 import registry_pb2 as pb
from behalf.v1 import registry_pb2_grpc, resources_pb2

__all__ = ["RegistryApi", "RegistryDeps", "create_tenant_with_admin_key"]

READ = (Role.ADMIN, Role.AUDIT_READ)
OPERATOR_SCOPE = ""
_CREATE_TENANT = method(PUBLIC_SERVICE, "CreateTenant")  # the operator credential only


async def write_key_event(
    conn: asyncpg.Connection, *, event_type: str, revision: int, api_key: resources_pb2.ApiKey
) -> None:
    """Outbox row for an API key change (never its secret), so verifiers learn of it."""
    await write_event(
        conn, tenant_id=api_key.tenant_id, event_type=event_type, revision=revision, subject=api_key
    )


async def insert_api_key(
    conn: asyncpg.Connection,
    *,
    tenant_id: str,
    name: str,
    role: Role,
    revision: int,
    scope: keys.KeyScope = keys.UNSCOPED,
) -> tuple[resources_pb2.ApiKey, str]:
    """Create a key and its `api_key.created` event; returns the key and its secret."""
    new_key = keys.generate_key(role)
    api_key = await tenants.insert_key(
        conn,
        key_id=new_id("key"),
        tenant_id=tenant_id,
        name=name,
        role=role,
        display_prefix=new_key.display_prefix,
        secret_hash=new_key.secret_hash,
        test_mode_only=scope.test_mode_only,
        agent_id=scope.agent_id,
    )
    await write_key_event(conn, event_type="api_key.created", revision=revision, api_key=api_key)
    return api_key, new_key.secret


def _key_scope(request: pb.CreateApiKeyRequest, role: Role) -> keys.KeyScope:
    """What a new key is limited to; test-mode-only and agent-bound keys are verify keys."""
    agent_id = v.optional_id(request.agent_id, "agt", "agent_id")
    if (request.test_mode_only or agent_id) and role is not Role.VERIFY:
        field = "test_mode_only" if request.test_mode_only else "agent_id"
        raise InvalidArgument(field, "only a ROLE_VERIFY key can be limited this way")
    return keys.KeyScope(test_mode_only=request.test_mode_only, agent_id=agent_id)


async def create_tenant_with_admin_key(
    conn: asyncpg.Connection, name: str, key_name: str = "first admin key"
) -> pb.CreateTenantResponse:
    """Insert a tenant and its first admin key, at a new revision (call inside a transaction)."""
    revision = await next_revision(conn)
    tenant = await tenants.insert_tenant(conn, new_id("ten"), name)
    api_key, secret = await insert_api_key(
        conn, tenant_id=tenant.tenant_id, name=key_name, role=Role.ADMIN, revision=revision
    )
    return pb.CreateTenantResponse(tenant=tenant, admin_key=api_key, admin_key_secret=secret)


class RegistryApi(
    AgentHandlers,
    PermissionHandlers,
    ApprovalHandlers,
    WebhookHandlers,
    registry_pb2_grpc.RegistryServiceServicer,
):
    """The RegistryService servicer."""

    async def CreateTenant(
        self, request: pb.CreateTenantRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateTenantResponse:
        self._deps.credentials.authorize(context.invocation_metadata(), _CREATE_TENANT)
        name = v.name(request.name)

        async def create(conn: asyncpg.Connection, _revision: int) -> pb.CreateTenantResponse:
            return await create_tenant_with_admin_key(conn, name)

        return await self._create_once(
            OPERATOR_SCOPE,
            "CreateTenant",
            request,
            pb.CreateTenantResponse.FromString,
            create,
            with_revision=False,
            shown_once=("admin_key_secret",),
        )

    async def GetTenant(
        self, request: pb.GetTenantRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetTenantResponse:
        caller = await self._auth(context, *READ)
        tenant = await tenants.get_tenant(self._pool, caller.tenant_id)
        if tenant is None:
            raise not_found("tenant", caller.tenant_id)
        revision = await tenants.latest_revision(self._pool, caller.tenant_id)
        return pb.GetTenantResponse(tenant=tenant, revision=revision)

    async def CreateApiKey(
        self, request: pb.CreateApiKeyRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateApiKeyResponse:
        caller = await self._auth(context, Role.ADMIN)
        name = v.name(request.name)
        role = Role.from_proto(request.role)
        if role is None:
            raise InvalidArgument("role", "must be ROLE_ADMIN, ROLE_VERIFY or ROLE_AUDIT_READ")
        scope = _key_scope(request, role)

        async def create(conn: asyncpg.Connection, revision: int) -> pb.CreateApiKeyResponse:
            if scope.agent_id and await agents.get(conn, caller.tenant_id, scope.agent_id) is None:
                raise not_found("agent", scope.agent_id)
            api_key, secret = await insert_api_key(
                conn,
                tenant_id=caller.tenant_id,
                name=name,
                role=role,
                revision=revision,
                scope=scope,
            )
            return pb.CreateApiKeyResponse(api_key=api_key, secret=secret, revision=revision)

        response = await self._create_once(
            caller.tenant_id,
            "CreateApiKey",
            request,
            pb.CreateApiKeyResponse.FromString,
            create,
            shown_once=("secret",),
        )
        self._deps.watcher.poke()
        return response

    async def ListApiKeys(
        self, request: pb.ListApiKeysRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListApiKeysResponse:
        caller = await self._auth(context, Role.ADMIN)
        limit = v.page(request.page_size)
        after = cursor("api_keys", request.page_token)
        rows = await tenants.list_keys(self._pool, caller.tenant_id, after=after, limit=limit + 1)
        return pb.ListApiKeysResponse(
            api_keys=[k for k, _ in rows[:limit]],
            next_page_token=next_token("api_keys", rows, limit),
        )

    async def RevokeApiKey(
        self, request: pb.RevokeApiKeyRequest, context: grpc.aio.ServicerContext
    ) -> pb.RevokeApiKeyResponse:
        caller = await self._auth(context, Role.ADMIN)
        key_id = v.require_id(request.key_id, "key", "key_id")
        tenant_id = caller.tenant_id

        async def revoke(conn: asyncpg.Connection, revision: int) -> pb.RevokeApiKeyResponse:
            api_key = await tenants.revoke_key(conn, tenant_id, key_id)
            if api_key is None:
                current = await tenants.get_key(conn, tenant_id, key_id)
                if current is None:
                    raise not_found("API key", key_id)
                # Revoked already, at or before the current revision.
                raise Unchanged(
                    pb.RevokeApiKeyResponse(api_key=current, revision=await current_revision(conn))
                )
            await write_key_event(
                conn, event_type="api_key.revoked", revision=revision, api_key=api_key
            )
            return pb.RevokeApiKeyResponse(api_key=api_key, revision=revision)

        return await self._mutate(revoke)

    async def ListDecisions(
        self, request: pb.ListDecisionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListDecisionsResponse:
        caller = await self._auth(context, *READ)
        v.optional_id(request.agent_id, "agt", "agent_id")
        v.page(request.page_size)
        return await self._deps.audit.list_decisions(caller.tenant_id, request)

    async def GetDecision(
        self, request: pb.GetDecisionRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetDecisionResponse:
        caller = await self._auth(context, *READ)
        if not request.request_id:
            raise InvalidArgument("request_id", "is required")
        if len(request.request_id) > 128:
            raise InvalidArgument("request_id", "must be at most 128 characters")
        decision = await self._deps.audit.get_decision(caller.tenant_id, request.request_id)
        return pb.GetDecisionResponse(decision=decision)

    async def ListVerifiers(
        self, request: pb.ListVerifiersRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListVerifiersResponse:
        caller = await self._auth(context, *READ)
        revision = await tenants.latest_revision(self._pool, caller.tenant_id)
        return pb.ListVerifiersResponse(
            verifiers=[as_seen_by_tenant(s, revision) for s in self._deps.watcher.verifiers()],
            current_revision=revision,
        )
