"""RegistryService handlers for webhook endpoints; secrets are shown once and kept encrypted."""

from __future__ import annotations

import grpc

from behalf.common.callers import READ_ROLES, Role
from behalf.common.errors import InvalidArgument
from behalf.registry import pages
from behalf.registry import validation as v
from behalf.registry.commands import webhooks
from behalf.registry.commands.idempotency import Once
from behalf.registry.commands.webhooks import NewEndpoint
from behalf.registry.handlers import Handlers
from behalf.registry.webhook_urls import InvalidWebhookUrl, validate_webhook_url
from behalf.v1 import registry_pb2 as pb


class WebhookHandlers(Handlers):
    """Webhook endpoints."""

    async def CreateWebhookEndpoint(
        self,
        request: pb.CreateWebhookEndpointRequest,
        context: grpc.aio.ServicerContext[
            pb.CreateWebhookEndpointRequest, pb.CreateWebhookEndpointResponse
        ],
    ) -> pb.CreateWebhookEndpointResponse:
        caller = await self._auth(context, Role.ADMIN)
        try:
            url = validate_webhook_url(
                request.url, allow_private=self._deps.allow_private_webhook_urls
            )
        except InvalidWebhookUrl as exc:
            raise InvalidArgument("url", str(exc)) from None
        new = NewEndpoint(
            url=url,
            event_types=v.event_types(request.event_types),
            description=v.description(request.description),
            rate_limit_per_second=v.rate_limit(request.rate_limit_per_second),
        )
        key = v.idempotency_key(request.idempotency_key)
        once = Once.of(caller.tenant_id, "CreateWebhookEndpoint", key, request)
        return await webhooks.create_endpoint(
            self._db, self._deps.webhook_box, once, caller.tenant_id, new
        )

    async def GetWebhookEndpoint(
        self,
        request: pb.GetWebhookEndpointRequest,
        context: grpc.aio.ServicerContext[
            pb.GetWebhookEndpointRequest, pb.GetWebhookEndpointResponse
        ],
    ) -> pb.GetWebhookEndpointResponse:
        caller = await self._auth(context, *READ_ROLES)
        endpoint_id = v.require_id(request.endpoint_id, "whe", "endpoint_id")
        endpoint = await webhooks.get_endpoint(self._db, caller.tenant_id, endpoint_id)
        return pb.GetWebhookEndpointResponse(endpoint=endpoint)

    async def ListWebhookEndpoints(
        self,
        request: pb.ListWebhookEndpointsRequest,
        context: grpc.aio.ServicerContext[
            pb.ListWebhookEndpointsRequest, pb.ListWebhookEndpointsResponse
        ],
    ) -> pb.ListWebhookEndpointsResponse:
        caller = await self._auth(context, *READ_ROLES)
        page = pages.page_request(
            pages.WEBHOOK_ENDPOINTS, request.page_token, request.page_size, caller.tenant_id
        )
        items, token = await webhooks.list_endpoints(self._db, caller.tenant_id, page)
        return pb.ListWebhookEndpointsResponse(endpoints=items, next_page_token=token)

    async def DisableWebhookEndpoint(
        self,
        request: pb.DisableWebhookEndpointRequest,
        context: grpc.aio.ServicerContext[
            pb.DisableWebhookEndpointRequest, pb.DisableWebhookEndpointResponse
        ],
    ) -> pb.DisableWebhookEndpointResponse:
        caller = await self._auth(context, Role.ADMIN)
        endpoint_id = v.require_id(request.endpoint_id, "whe", "endpoint_id")
        state = await webhooks.set_endpoint_disabled(
            self._db, caller.tenant_id, endpoint_id, disabled=True
        )
        return pb.DisableWebhookEndpointResponse(endpoint=state.endpoint, revision=state.revision)

    async def SetWebhookRateLimit(
        self,
        request: pb.SetWebhookRateLimitRequest,
        context: grpc.aio.ServicerContext[
            pb.SetWebhookRateLimitRequest, pb.SetWebhookRateLimitResponse
        ],
    ) -> pb.SetWebhookRateLimitResponse:
        caller = await self._auth(context, Role.ADMIN)
        endpoint_id = v.require_id(request.endpoint_id, "whe", "endpoint_id")
        rate = v.rate_limit(request.rate_limit_per_second)
        state = await webhooks.set_rate_limit(self._db, caller.tenant_id, endpoint_id, rate)
        return pb.SetWebhookRateLimitResponse(endpoint=state.endpoint, revision=state.revision)

    async def EnableWebhookEndpoint(
        self,
        request: pb.EnableWebhookEndpointRequest,
        context: grpc.aio.ServicerContext[
            pb.EnableWebhookEndpointRequest, pb.EnableWebhookEndpointResponse
        ],
    ) -> pb.EnableWebhookEndpointResponse:
        caller = await self._auth(context, Role.ADMIN)
        endpoint_id = v.require_id(request.endpoint_id, "whe", "endpoint_id")
        state = await webhooks.set_endpoint_disabled(
            self._db, caller.tenant_id, endpoint_id, disabled=False
        )
        return pb.EnableWebhookEndpointResponse(endpoint=state.endpoint, revision=state.revision)

    async def RotateWebhookSecret(
        self,
        request: pb.RotateWebhookSecretRequest,
        context: grpc.aio.ServicerContext[
            pb.RotateWebhookSecretRequest, pb.RotateWebhookSecretResponse
        ],
    ) -> pb.RotateWebhookSecretResponse:
        caller = await self._auth(context, Role.ADMIN)
        endpoint_id = v.require_id(request.endpoint_id, "whe", "endpoint_id")
        overlap = v.bounded_duration(
            request.overlap, "overlap", default=v.DEFAULT_OVERLAP, maximum=v.MAX_OVERLAP
        )
        return await webhooks.rotate_secret(
            self._db, self._deps.webhook_box, caller.tenant_id, endpoint_id, overlap
        )

    async def DeleteWebhookEndpoint(
        self,
        request: pb.DeleteWebhookEndpointRequest,
        context: grpc.aio.ServicerContext[
            pb.DeleteWebhookEndpointRequest, pb.DeleteWebhookEndpointResponse
        ],
    ) -> pb.DeleteWebhookEndpointResponse:
        caller = await self._auth(context, Role.ADMIN)
        endpoint_id = v.require_id(request.endpoint_id, "whe", "endpoint_id")
        revision = await webhooks.delete_endpoint(self._db, caller.tenant_id, endpoint_id)
        return pb.DeleteWebhookEndpointResponse(revision=revision)
