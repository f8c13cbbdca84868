"""RegistryService handlers for permissions, passports and the scope template catalogue."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import grpc

from behalf.common.errors import InvalidArgument, NotFound
from behalf.common.ids import new_id
from behalf.registry import passport
from behalf.registry import validation as v
from behalf.registry.api_support import Handlers, Unchanged, cursor, next_token, not_found
from behalf.registry.changes import current_revision, write_event
from behalf.registry.keys import Role
from behalf.registry.store import agents, permissions
from behalf.v1 import registry_pb2 as pb
from behalf.v1 import resources_pb2

READ = (Role.ADMIN, Role.AUDIT_READ)


class PermissionHandlers(Handlers):
    """Permissions (the lines of a passport), passports, and templates."""

    async def GrantPermission(
        self, request: pb.GrantPermissionRequest, context: grpc.aio.ServicerContext
    ) -> pb.GrantPermissionResponse:
        caller = await self._auth(context, Role.ADMIN)
        spec = v.grant(request, now=datetime.now(UTC), catalogue=self._deps.catalogue)

        async def grant(conn: asyncpg.Connection, revision: int) -> pb.GrantPermissionResponse:
            if await agents.get(conn, caller.tenant_id, spec.agent_id, for_update=True) is None:
                raise not_found("agent", spec.agent_id)
            permission = await permissions.insert(
                conn,
                permission_id=new_id("prm"),
                tenant_id=caller.tenant_id,
                spec=spec,
                revision=revision,
            )
            await write_event(
                conn,
                tenant_id=caller.tenant_id,
                event_type="permission.granted",
                revision=revision,
                subject=permission,
            )
            return pb.GrantPermissionResponse(permission=permission, revision=revision)

        return await self._create_once(
            caller.tenant_id,
            "GrantPermission",
            request,
            pb.GrantPermissionResponse.FromString,
            grant,
        )

    async def RevokePermission(
        self, request: pb.RevokePermissionRequest, context: grpc.aio.ServicerContext
    ) -> pb.RevokePermissionResponse:
        caller = await self._auth(context, Role.ADMIN)
        tenant_id = caller.tenant_id
        permission_id = v.require_id(request.permission_id, "prm", "permission_id")
        wait = v.propagation_wait(request.wait)

        async def revoke(conn: asyncpg.Connection, revision: int) -> resources_pb2.Permission:
            current = await permissions.get(conn, tenant_id, permission_id, for_update=True)
            if current is None:
                raise not_found("permission", permission_id)
            if current.revoked:
                raise Unchanged(current)
            permission = await permissions.revoke(conn, tenant_id, permission_id, revision=revision)
            assert permission is not None
            await write_event(
                conn,
                tenant_id=tenant_id,
                event_type="permission.revoked",
                revision=revision,
                subject=permission,
            )
            return permission

        permission = await self._mutate(revoke)
        return pb.RevokePermissionResponse(
            permission=permission,
            revision=permission.revision,
            propagation=await self._propagation(permission.revision, wait),
        )

    async def GetPermission(
        self, request: pb.GetPermissionRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetPermissionResponse:
        caller = await self._auth(context, *READ)
        permission_id = v.require_id(request.permission_id, "prm", "permission_id")
        permission = await permissions.get(self._pool, caller.tenant_id, permission_id)
        if permission is None:
            raise not_found("permission", permission_id)
        return pb.GetPermissionResponse(permission=permission)

    async def ListPermissions(
        self, request: pb.ListPermissionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListPermissionsResponse:
        caller = await self._auth(context, *READ)
        agent_id = v.optional_id(request.agent_id, "agt", "agent_id")
        limit = v.page(request.page_size)
        after = cursor("permissions", request.page_token)
        rows = await permissions.list_page(
            self._pool,
            caller.tenant_id,
            agent_id=agent_id,
            include_inactive=request.include_inactive,
            after=after,
            limit=limit + 1,
        )
        return pb.ListPermissionsResponse(
            permissions=[p for p, _ in rows[:limit]],
            next_page_token=next_token("permissions", rows, limit),
        )

    async def ExportPassport(
        self, request: pb.ExportPassportRequest, context: grpc.aio.ServicerContext
    ) -> pb.ExportPassportResponse:
        caller = await self._auth(context, *READ)
        agent_id = v.require_id(request.agent_id, "agt", "agent_id")
        valid_for = passport.validity(request.valid_for)
        async with (
            self._pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            agent = await agents.get(conn, caller.tenant_id, agent_id)
            if agent is None:
                raise not_found("agent", agent_id)
            active = await permissions.active_for_agent(conn, caller.tenant_id, agent_id)
            revision = await current_revision(conn)
        signed = self._deps.signer.sign(
            agent, active, revision=revision, issued_at=datetime.now(UTC), valid_for=valid_for
        )
        return pb.ExportPassportResponse(
            document=signed.document,
            signature=signed.signature,
            key_id=signed.key_id,
            public_key=signed.public_key,
        )

    async def ListPassportKeys(
        self, request: pb.ListPassportKeysRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListPassportKeysResponse:
        await self._auth(context, *READ)
        signer = self._deps.signer
        return pb.ListPassportKeysResponse(
            keys=[
                pb.PassportKey(
                    key_id=signer.key_id, public_key=signer.public_key, algorithm="Ed25519"
                )
            ]
        )

    async def ListScopeTemplates(
        self, request: pb.ListScopeTemplatesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListScopeTemplatesResponse:
        await self._auth(context, *READ)
        category = v.action_category(request.category)
        templates = self._deps.catalogue.list(category, request.all_versions)
        return pb.ListScopeTemplatesResponse(templates=[t.to_proto() for t in templates])

    async def GetScopeTemplate(
        self, request: pb.GetScopeTemplateRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetScopeTemplateResponse:
        await self._auth(context, *READ)
        if not request.name:
            raise InvalidArgument("name", "is required")
        if request.version < 0:
            raise InvalidArgument("version", "must be >= 0")
        template = self._deps.catalogue.get(request.name, request.version)
        if template is None:
            raise NotFound(f"scope template {request.name[:200]} v{request.version} not found")
        return pb.GetScopeTemplateResponse(template=template.to_proto())
