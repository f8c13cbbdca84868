"""RegistryService handlers for webhook endpoints; secrets are shown once and kept encrypted."""

from __future__ import annotations

import asyncpg
import grpc

from behalf.common.errors import InvalidArgument
from behalf.common.ids import new_id
from behalf.registry import validation as v
from behalf.registry.api_support import Handlers, Unchanged, cursor, next_token, not_found
from behalf.registry.changes import write_event
from behalf.registry.keys import Role
from behalf.registry.secret_box import new_webhook_secret
from behalf.registry.store import webhooks
from behalf.registry.webhook_urls import InvalidWebhookUrl, validate_webhook_url
from behalf.v1 import registry_pb2 as pb
from behalf.v1 import resources_pb2

READ = (Role.ADMIN, Role.AUDIT_READ)


def secret_aad(endpoint_id: str) -> bytes:
    """Associated data binding a secret's ciphertext to its endpoint."""
    return f"webhook-secret/{endpoint_id}".encode()


class WebhookHandlers(Handlers):
    """Webhook endpoints."""

    async def CreateWebhookEndpoint(
        self, request: pb.CreateWebhookEndpointRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateWebhookEndpointResponse:
        caller = await self._auth(context, Role.ADMIN)
        try:
            url = validate_webhook_url(
                request.url, allow_private=self._deps.allow_private_webhook_urls
            )
        except InvalidWebhookUrl as exc:
            raise InvalidArgument("url", str(exc)) from None
        event_types = v.event_types(request.event_types)
        description = v.description(request.description)

        async def create(
            conn: asyncpg.Connection, revision: int
        ) -> pb.CreateWebhookEndpointResponse:
            endpoint_id = new_id("whe")
            secret = new_webhook_secret()
            endpoint = await webhooks.insert(
                conn,
                endpoint_id=endpoint_id,
                tenant_id=caller.tenant_id,
                url=url,
                event_types=event_types,
                description=description,
                secret_ciphertext=self._deps.webhook_box.encrypt(
                    secret.encode(), secret_aad(endpoint_id)
                ),
            )
            await write_event(
                conn,
                tenant_id=caller.tenant_id,
                event_type="webhook.endpoint_created",
                revision=revision,
                subject=endpoint,
            )
            return pb.CreateWebhookEndpointResponse(
                endpoint=endpoint, signing_secret=secret, revision=revision
            )

        return await self._create_once(
            caller.tenant_id,
            "CreateWebhookEndpoint",
            request,
            pb.CreateWebhookEndpointResponse.FromString,
            create,
            shown_once=("signing_secret",),
        )

    async def GetWebhookEndpoint(
        self, request: pb.GetWebhookEndpointRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetWebhookEndpointResponse:
        caller = await self._auth(context, *READ)
        endpoint_id = v.require_id(request.endpoint_id, "whe", "endpoint_id")
        endpoint = await webhooks.get(self._pool, caller.tenant_id, endpoint_id)
        if endpoint is None:
            raise not_found("webhook endpoint", endpoint_id)
        return pb.GetWebhookEndpointResponse(endpoint=endpoint)

    async def ListWebhookEndpoints(
        self, request: pb.ListWebhookEndpointsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListWebhookEndpointsResponse:
        caller = await self._auth(context, *READ)
        limit = v.page(request.page_size)
        after = cursor("webhook_endpoints", request.page_token)
        rows = await webhooks.list_page(self._pool, caller.tenant_id, after=after, limit=limit + 1)
        return pb.ListWebhookEndpointsResponse(
            endpoints=[e for e, _ in rows[:limit]],
            next_page_token=next_token("webhook_endpoints", rows, limit),
        )

    async def _set_endpoint_disabled(
        self, tenant_id: str, endpoint_id: str, disabled: bool
    ) -> tuple[resources_pb2.WebhookEndpoint, int]:
        event_type = "webhook.endpoint_disabled" if disabled else "webhook.endpoint_enabled"

        async def change(
            conn: asyncpg.Connection, revision: int
        ) -> tuple[resources_pb2.WebhookEndpoint, int]:
            found = await webhooks.set_disabled(conn, tenant_id, endpoint_id, disabled=disabled)
            if found is None:
                raise not_found("webhook endpoint", endpoint_id)
            endpoint, changed = found
            if not changed:
                raise Unchanged((endpoint, revision - 1))  # the revision before ours
            await write_event(
                conn,
                tenant_id=tenant_id,
                event_type=event_type,
                revision=revision,
                subject=endpoint,
            )
            return endpoint, revision

        return await self._mutate(change)

    async def DisableWebhookEndpoint(
        self, request: pb.DisableWebhookEndpointRequest, context: grpc.aio.ServicerContext
    ) -> pb.DisableWebhookEndpointResponse:
        caller = await self._auth(context, Role.ADMIN)
        endpoint_id = v.require_id(request.endpoint_id, "whe", "endpoint_id")
        endpoint, revision = await self._set_endpoint_disabled(caller.tenant_id, endpoint_id, True)
        return pb.DisableWebhookEndpointResponse(endpoint=endpoint, revision=revision)

    async def EnableWebhookEndpoint(
        self, request: pb.EnableWebhookEndpointRequest, context: grpc.aio.ServicerContext
    ) -> pb.EnableWebhookEndpointResponse:
        caller = await self._auth(context, Role.ADMIN)
        endpoint_id = v.require_id(request.endpoint_id, "whe", "endpoint_id")
        endpoint, revision = await self._set_endpoint_disabled(caller.tenant_id, endpoint_id, False)
        return pb.EnableWebhookEndpointResponse(endpoint=endpoint, revision=revision)

    async def RotateWebhookSecret(
        self, request: pb.RotateWebhookSecretRequest, context: grpc.aio.ServicerContext
    ) -> pb.RotateWebhookSecretResponse:
        caller = await self._auth(context, Role.ADMIN)
        tenant_id = caller.tenant_id
        endpoint_id = v.require_id(request.endpoint_id, "whe", "endpoint_id")
        overlap = v.bounded_duration(
            request.overlap, "overlap", default=v.DEFAULT_OVERLAP, maximum=v.MAX_OVERLAP
        )
        box = self._deps.webhook_box

        async def rotate(conn: asyncpg.Connection, revision: int) -> pb.RotateWebhookSecretResponse:
            previous = await webhooks.current_ciphertext(conn, tenant_id, endpoint_id)
            if previous is None:
                raise not_found("webhook endpoint", endpoint_id)
            secret = new_webhook_secret()
            endpoint = await webhooks.rotate(
                conn,
                tenant_id,
                endpoint_id,
                secret_ciphertext=box.encrypt(secret.encode(), secret_aad(endpoint_id)),
                previous_ciphertext=previous,
                overlap_seconds=overlap.total_seconds(),
            )
            assert endpoint is not None
            await write_event(
                conn,
                tenant_id=tenant_id,
                event_type="webhook.endpoint_rotated",
                revision=revision,
                subject=endpoint,
            )
            return pb.RotateWebhookSecretResponse(
                endpoint=endpoint, signing_secret=secret, revision=revision
            )

        return await self._mutate(rotate)

    async def DeleteWebhookEndpoint(
        self, request: pb.DeleteWebhookEndpointRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteWebhookEndpointResponse:
        caller = await self._auth(context, Role.ADMIN)
        endpoint_id = v.require_id(request.endpoint_id, "whe", "endpoint_id")

        async def delete(conn: asyncpg.Connection, revision: int) -> int:
            endpoint = await webhooks.mark_deleted(conn, caller.tenant_id, endpoint_id)
            if endpoint is None:
                raise not_found("webhook endpoint", endpoint_id)
            await write_event(
                conn,
                tenant_id=caller.tenant_id,
                event_type="webhook.endpoint_deleted",
                revision=revision,
                subject=endpoint,
            )
            return revision

        return pb.DeleteWebhookEndpointResponse(revision=await self._mutate(delete))
