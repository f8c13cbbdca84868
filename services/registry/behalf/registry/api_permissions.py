"""RegistryService handlers for permissions, passports and the scope template catalogue."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc

from behalf.common.callers import READ_ROLES, Role
from behalf.common.errors import InvalidArgument, NotFound
from behalf.registry import pages, passport
from behalf.registry import validation as v
from behalf.registry.commands import permissions
from behalf.registry.commands.idempotency import Once
from behalf.registry.handlers import Handlers
from behalf.v1 import registry_pb2 as pb


class PermissionHandlers(Handlers):
    """Permissions (the lines of a passport), passports, and templates."""

    async def GrantPermission(
        self,
        request: pb.GrantPermissionRequest,
        context: grpc.aio.ServicerContext[pb.GrantPermissionRequest, pb.GrantPermissionResponse],
    ) -> pb.GrantPermissionResponse:
        caller = await self._auth(context, Role.ADMIN)
        spec = v.grant(request, now=datetime.now(UTC), catalogue=self._deps.catalogue)
        key = v.idempotency_key(request.idempotency_key)
        once = Once.of(caller.tenant_id, "GrantPermission", key, request)
        return await permissions.grant_permission(self._db, once, caller.tenant_id, spec)

    async def RevokePermission(
        self,
        request: pb.RevokePermissionRequest,
        context: grpc.aio.ServicerContext[pb.RevokePermissionRequest, pb.RevokePermissionResponse],
    ) -> pb.RevokePermissionResponse:
        caller = await self._auth(context, Role.ADMIN)
        permission_id = v.require_id(request.permission_id, "prm", "permission_id")
        wait = v.propagation_wait(request.wait)
        permission = await permissions.revoke_permission(self._db, caller.tenant_id, permission_id)
        return pb.RevokePermissionResponse(
            permission=permission,
            revision=permission.revision,
            propagation=await self._propagation(permission.revision, wait),
        )

    async def GetPermission(
        self,
        request: pb.GetPermissionRequest,
        context: grpc.aio.ServicerContext[pb.GetPermissionRequest, pb.GetPermissionResponse],
    ) -> pb.GetPermissionResponse:
        caller = await self._auth(context, *READ_ROLES)
        permission_id = v.require_id(request.permission_id, "prm", "permission_id")
        permission = await permissions.get_permission(self._db, caller.tenant_id, permission_id)
        return pb.GetPermissionResponse(permission=permission)

    async def ListPermissions(
        self,
        request: pb.ListPermissionsRequest,
        context: grpc.aio.ServicerContext[pb.ListPermissionsRequest, pb.ListPermissionsResponse],
    ) -> pb.ListPermissionsResponse:
        caller = await self._auth(context, *READ_ROLES)
        agent_id = v.optional_id(request.agent_id, "agt", "agent_id")
        page = pages.page_request(
            pages.PERMISSIONS, request.page_token, request.page_size, caller.tenant_id
        )
        items, token = await permissions.list_permissions(
            self._db,
            caller.tenant_id,
            agent_id=agent_id,
            include_inactive=request.include_inactive,
            page=page,
        )
        return pb.ListPermissionsResponse(permissions=items, next_page_token=token)

    async def ExportPassport(
        self,
        request: pb.ExportPassportRequest,
        context: grpc.aio.ServicerContext[pb.ExportPassportRequest, pb.ExportPassportResponse],
    ) -> pb.ExportPassportResponse:
        caller = await self._auth(context, *READ_ROLES)
        agent_id = v.require_id(request.agent_id, "agt", "agent_id")
        valid_for = passport.validity(request.valid_for)
        contents = await permissions.passport_contents(self._db, caller.tenant_id, agent_id)
        signed = self._deps.signer.sign(
            contents.agent,
            contents.permissions,
            revision=contents.revision,
            issued_at=datetime.now(UTC),
            valid_for=valid_for,
        )
        return pb.ExportPassportResponse(
            document=signed.document,
            signature=signed.signature,
            key_id=signed.key_id,
            public_key=signed.public_key,
        )

    async def ListPassportKeys(
        self,
        request: pb.ListPassportKeysRequest,
        context: grpc.aio.ServicerContext[pb.ListPassportKeysRequest, pb.ListPassportKeysResponse],
    ) -> pb.ListPassportKeysResponse:
        caller = await self._auth(context, *READ_ROLES)
        key = self._deps.signer.key_for(caller.tenant_id)
        return pb.ListPassportKeysResponse(
            keys=[pb.PassportKey(key_id=key.key_id, public_key=key.public_key, algorithm="Ed25519")]
        )

    async def ListScopeTemplates(
        self,
        request: pb.ListScopeTemplatesRequest,
        context: grpc.aio.ServicerContext[
            pb.ListScopeTemplatesRequest, pb.ListScopeTemplatesResponse
        ],
    ) -> pb.ListScopeTemplatesResponse:
        await self._auth(context, *READ_ROLES)
        category = v.action_category(request.category)
        templates = self._deps.catalogue.list(category, request.all_versions)
        return pb.ListScopeTemplatesResponse(templates=[t.to_proto() for t in templates])

    async def GetScopeTemplate(
        self,
        request: pb.GetScopeTemplateRequest,
        context: grpc.aio.ServicerContext[pb.GetScopeTemplateRequest, pb.GetScopeTemplateResponse],
    ) -> pb.GetScopeTemplateResponse:
        await self._auth(context, *READ_ROLES)
        v.template_name(request.name, "name")
        if request.version < 0:
            raise InvalidArgument("version", "must be >= 0")
        template = self._deps.catalogue.get(request.name, request.version)
        if template is None:
            raise NotFound(f"scope template {request.name} v{request.version} not found")
        return pb.GetScopeTemplateResponse(template=template.to_proto())
