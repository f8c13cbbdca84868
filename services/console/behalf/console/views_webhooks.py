"""Webhook endpoints (add, rotate the secret, disable, enable) and their deliveries (redrive)."""

from __future__ import annotations

from aiohttp import web

from behalf.common.event_types import DECISION_TYPES, TEST_DECISION_TYPES
from behalf.common.ids import is_id
from behalf.console import forms
from behalf.console.backend import BackendError
from behalf.console.web import (
    BACKEND,
    form_dict,
    redirect,
    render,
    require_admin,
    require_session,
)
from behalf.v1 import dispatcher_pb2, registry_pb2

routes = web.RouteTableDef()


def _endpoint_id(request: web.Request) -> str:
    endpoint_id = request.match_info["endpoint_id"]
    if not is_id(endpoint_id, "whe"):
        raise web.HTTPNotFound()
    return endpoint_id


async def _list_page(request: web.Request, **extra: object) -> web.Response:
    session = require_session(request)
    backend = request.app[BACKEND]
    listed = await backend.call(
        backend.registry.ListWebhookEndpoints,
        registry_pb2.ListWebhookEndpointsRequest(page_size=500),
        session.api_key,
    )
    return render(
        request,
        "webhooks.html",
        endpoints=list(listed.endpoints),
        decision_types=DECISION_TYPES,
        test_types=TEST_DECISION_TYPES,
        **extra,  # type: ignore[arg-type]
    )


@routes.get("/webhooks")
async def webhooks(request: web.Request) -> web.StreamResponse:
    return await _list_page(request)


@routes.post("/webhooks")
async def add(request: web.Request) -> web.StreamResponse:
    session = require_admin(request)
    data = form_dict(await request.post())
    checked = forms.webhook_form(data)
    if checked.ok:
        assert checked.value is not None
        backend = request.app[BACKEND]
        try:
            created = await backend.call(
                backend.registry.CreateWebhookEndpoint, checked.value, session.api_key
            )
        except BackendError as exc:
            if exc.code.name != "INVALID_ARGUMENT":
                raise
            checked.errors["url" if exc.field == "url" else "form"] = str(exc)
        else:
            endpoint_id = created.endpoint.endpoint_id
            session.once[f"secret:{endpoint_id}"] = created.signing_secret
            session.flash("ok", "Endpoint added. Copy its signing secret now: it is shown once.")
            raise redirect(f"/webhooks/{endpoint_id}")
    response = await _list_page(request, errors=checked.errors, form=data)
    response.set_status(400)
    return response


@routes.get("/webhooks/{endpoint_id}")
async def endpoint(request: web.Request) -> web.StreamResponse:
    session = require_session(request)
    endpoint_id = _endpoint_id(request)
    backend = request.app[BACKEND]
    found = await backend.call(
        backend.registry.GetWebhookEndpoint,
        registry_pb2.GetWebhookEndpointRequest(endpoint_id=endpoint_id),
        session.api_key,
    )
    deliveries = await backend.call(
        backend.dispatcher.ListDeliveries,
        dispatcher_pb2.ListDeliveriesRequest(endpoint_id=endpoint_id, page_size=100),
        session.api_key,
    )
    return render(
        request,
        "endpoint.html",
        endpoint=found.endpoint,
        deliveries=list(deliveries.deliveries),
        secret=session.once.pop(f"secret:{endpoint_id}", ""),
    )


@routes.post("/webhooks/{endpoint_id}/rotate")
async def rotate(request: web.Request) -> web.StreamResponse:
    session = require_admin(request)
    endpoint_id = _endpoint_id(request)
    backend = request.app[BACKEND]
    done = await backend.call(
        backend.registry.RotateWebhookSecret,
        registry_pb2.RotateWebhookSecretRequest(endpoint_id=endpoint_id),
        session.api_key,
    )
    session.once[f"secret:{endpoint_id}"] = done.signing_secret
    session.flash(
        "ok", "Secret rotated; the previous one keeps signing for 24 hours. Copy the new one now."
    )
    raise redirect(f"/webhooks/{endpoint_id}")


@routes.post("/webhooks/{endpoint_id}/{action:disable|enable}")
async def toggle(request: web.Request) -> web.StreamResponse:
    session = require_admin(request)
    endpoint_id = _endpoint_id(request)
    backend = request.app[BACKEND]
    if request.match_info["action"] == "disable":
        await backend.call(
            backend.registry.DisableWebhookEndpoint,
            registry_pb2.DisableWebhookEndpointRequest(endpoint_id=endpoint_id),
            session.api_key,
        )
        session.flash("ok", "Endpoint disabled; it receives nothing until enabled.")
    else:
        await backend.call(
            backend.registry.EnableWebhookEndpoint,
            registry_pb2.EnableWebhookEndpointRequest(endpoint_id=endpoint_id),
            session.api_key,
        )
        session.flash("ok", "Endpoint enabled.")
    raise redirect(f"/webhooks/{endpoint_id}")


@routes.post("/webhooks/{endpoint_id}/redrive")
async def redrive_endpoint(request: web.Request) -> web.StreamResponse:
    session = require_admin(request)
    endpoint_id = _endpoint_id(request)
    backend = request.app[BACKEND]
    done = await backend.call(
        backend.dispatcher.Redrive,
        dispatcher_pb2.RedriveRequest(endpoint_id=endpoint_id),
        session.api_key,
    )
    session.flash("ok", f"{done.redriven_count} dead deliveries queued again.")
    raise redirect(f"/webhooks/{endpoint_id}")


@routes.get("/deliveries")
async def deliveries(request: web.Request) -> web.StreamResponse:
    session = require_session(request)
    state = request.query.get("state", "")
    query = dispatcher_pb2.ListDeliveriesRequest(page_size=200)
    if state in forms.DELIVERY_STATES:
        # protoc's .pyi types EnumTypeWrapper.Value as int, not the enum's ValueType
        query.state = dispatcher_pb2.DeliveryState.Value(f"DELIVERY_STATE_{state}")  # type: ignore[assignment]
    else:
        state = ""
    backend = request.app[BACKEND]
    listed = await backend.call(backend.dispatcher.ListDeliveries, query, session.api_key)
    return render(
        request,
        "deliveries.html",
        deliveries=list(listed.deliveries),
        state=state,
        states=forms.DELIVERY_STATES,
    )


def _delivery_id(request: web.Request) -> str:
    delivery_id = request.match_info["delivery_id"]
    if not is_id(delivery_id, "dlv"):
        raise web.HTTPNotFound()
    return delivery_id


@routes.get("/deliveries/{delivery_id}")
async def delivery(request: web.Request) -> web.StreamResponse:
    session = require_session(request)
    backend = request.app[BACKEND]
    found = await backend.call(
        backend.dispatcher.GetDelivery,
        dispatcher_pb2.GetDeliveryRequest(delivery_id=_delivery_id(request)),
        session.api_key,
    )
    return render(request, "delivery.html", delivery=found.delivery)


@routes.post("/deliveries/{delivery_id}/redrive")
async def redrive(request: web.Request) -> web.StreamResponse:
    session = require_admin(request)
    delivery_id = _delivery_id(request)
    backend = request.app[BACKEND]
    done = await backend.call(
        backend.dispatcher.Redrive,
        dispatcher_pb2.RedriveRequest(delivery_id=delivery_id),
        session.api_key,
    )
    session.flash("ok", f"{done.redriven_count} delivery queued again.")
    raise redirect(f"/deliveries/{delivery_id}")
