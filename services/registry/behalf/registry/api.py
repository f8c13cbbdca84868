"""RegistryService: the public gRPC API. Each handler authenticates, validates, calls one
command and converts back; errors are domain errors the interceptor maps.

Handlers are grouped by concept in `api_agents`, `api_permissions`, `api_approvals` and
`api_webhooks`; this module adds tenants, keys, audit queries and verifier status.
"""

from __future__ import annotations

import grpc

from behalf.common.callers import READ_ROLES, KeyScope, Role
from behalf.common.errors import InvalidArgument
from behalf.registry import pages
from behalf.registry import validation as v
from behalf.registry.api_agents import AgentHandlers
from behalf.registry.api_approvals import ApprovalHandlers
from behalf.registry.api_permissions import PermissionHandlers
from behalf.registry.api_webhooks import WebhookHandlers
from behalf.registry.commands import keys, tenants
from behalf.registry.commands.idempotency import Once
from behalf.registry.deps import RegistryDeps
from behalf.registry.handlers import metadata
from behalf.registry.identities import PUBLIC_SERVICE, method
from behalf.registry.verifier_status import as_seen_by_tenant
from behalf.v1 import registry_pb2 as pb
from behalf.v1 import registry_pb2_grpc

__all__ = ["RegistryApi", "RegistryDeps"]

_CREATE_TENANT = method(PUBLIC_SERVICE, "CreateTenant")  # the operator credential only


def _key_scope(request: pb.CreateApiKeyRequest, role: Role) -> KeyScope:
    """What a new key is limited to; test-mode-only and agent-bound keys are verify keys."""
    agent_id = v.optional_id(request.agent_id, "agt", "agent_id")
    if (request.test_mode_only or agent_id) and role is not Role.VERIFY:
        field = "test_mode_only" if request.test_mode_only else "agent_id"
        raise InvalidArgument(field, "only a ROLE_VERIFY key can be limited this way")
    return KeyScope(test_mode_only=request.test_mode_only, agent_id=agent_id)


class RegistryApi(
    AgentHandlers,
    PermissionHandlers,
    ApprovalHandlers,
    WebhookHandlers,
    registry_pb2_grpc.RegistryServiceServicer,
):
    """The RegistryService servicer."""

    async def CreateTenant(
        self,
        request: pb.CreateTenantRequest,
        context: grpc.aio.ServicerContext[pb.CreateTenantRequest, pb.CreateTenantResponse],
    ) -> pb.CreateTenantResponse:
        self._deps.credentials.authorize(metadata(context), _CREATE_TENANT)
        name = v.name(request.name)
        key = v.idempotency_key(request.idempotency_key)
        once = Once.of(tenants.OPERATOR_SCOPE, "CreateTenant", key, request)
        return await tenants.create_tenant(self._db, name, once)

    async def GetTenant(
        self,
        request: pb.GetTenantRequest,
        context: grpc.aio.ServicerContext[pb.GetTenantRequest, pb.GetTenantResponse],
    ) -> pb.GetTenantResponse:
        caller = await self._auth(context, *READ_ROLES)
        tenant, revision = await tenants.get_tenant(self._db, caller.tenant_id)
        return pb.GetTenantResponse(tenant=tenant, revision=revision)

    async def CreateApiKey(
        self,
        request: pb.CreateApiKeyRequest,
        context: grpc.aio.ServicerContext[pb.CreateApiKeyRequest, pb.CreateApiKeyResponse],
    ) -> pb.CreateApiKeyResponse:
        caller = await self._auth(context, Role.ADMIN)
        name = v.name(request.name)
        role = Role.from_proto(request.role)
        if role is None:
            raise InvalidArgument("role", "must be ROLE_ADMIN, ROLE_VERIFY or ROLE_AUDIT_READ")
        scope = _key_scope(request, role)
        key = v.idempotency_key(request.idempotency_key)
        once = Once.of(caller.tenant_id, "CreateApiKey", key, request)
        return await keys.create_key(
            self._db, once, caller.tenant_id, name=name, role=role, scope=scope
        )

    async def ListApiKeys(
        self,
        request: pb.ListApiKeysRequest,
        context: grpc.aio.ServicerContext[pb.ListApiKeysRequest, pb.ListApiKeysResponse],
    ) -> pb.ListApiKeysResponse:
        caller = await self._auth(context, Role.ADMIN)
        page = pages.page_request(
            pages.API_KEYS, request.page_token, request.page_size, caller.tenant_id
        )
        items, token = await keys.list_keys(self._db, caller.tenant_id, page)
        return pb.ListApiKeysResponse(api_keys=items, next_page_token=token)

    async def RevokeApiKey(
        self,
        request: pb.RevokeApiKeyRequest,
        context: grpc.aio.ServicerContext[pb.RevokeApiKeyRequest, pb.RevokeApiKeyResponse],
    ) -> pb.RevokeApiKeyResponse:
        caller = await self._auth(context, Role.ADMIN)
        key_id = v.require_id(request.key_id, "key", "key_id")
        return await keys.revoke_key(self._db, caller.tenant_id, key_id)

    async def ListDecisions(
        self,
        request: pb.ListDecisionsRequest,
        context: grpc.aio.ServicerContext[pb.ListDecisionsRequest, pb.ListDecisionsResponse],
    ) -> pb.ListDecisionsResponse:
        caller = await self._auth(context, *READ_ROLES)
        v.optional_id(request.agent_id, "agt", "agent_id")
        v.page(request.page_size)
        return await self._deps.audit.list_decisions(caller.tenant_id, request)

    async def CountDecisions(
        self,
        request: pb.CountDecisionsRequest,
        context: grpc.aio.ServicerContext[pb.CountDecisionsRequest, pb.CountDecisionsResponse],
    ) -> pb.CountDecisionsResponse:
        caller = await self._auth(context, *READ_ROLES)
        return await self._deps.audit.count_decisions(caller.tenant_id, request)

    async def GetDecision(
        self,
        request: pb.GetDecisionRequest,
        context: grpc.aio.ServicerContext[pb.GetDecisionRequest, pb.GetDecisionResponse],
    ) -> pb.GetDecisionResponse:
        caller = await self._auth(context, *READ_ROLES)
        asked = [f for f in ("request_id", "event_id", "approval_id") if getattr(request, f)]
        if len(asked) != 1:
            raise InvalidArgument(
                asked[-1] if asked else "request_id",
                "name exactly one of request_id, event_id and approval_id",
            )
        audit, tenant_id = self._deps.audit, caller.tenant_id
        if request.event_id:
            decision = await audit.get_event(tenant_id, request.event_id)
        elif request.approval_id:
            decision = await audit.get_asking(tenant_id, request.approval_id)
        else:
            decision = await audit.get_decision(tenant_id, request.request_id)
        return pb.GetDecisionResponse(decision=decision)

    async def ListVerifiers(
        self,
        request: pb.ListVerifiersRequest,
        context: grpc.aio.ServicerContext[pb.ListVerifiersRequest, pb.ListVerifiersResponse],
    ) -> pb.ListVerifiersResponse:
        caller = await self._auth(context, *READ_ROLES)
        revision = await tenants.latest_revision(self._db, caller.tenant_id)
        return pb.ListVerifiersResponse(
            verifiers=[as_seen_by_tenant(s, revision) for s in self._deps.watcher.verifiers()],
            current_revision=revision,
        )
