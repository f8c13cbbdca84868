"""Webhook commands: `behalf webhooks ...`, `behalf deliveries ...`."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from google.protobuf import duration_pb2, timestamp_pb2

from behalf.cli._context import (
    Limit,
    PageToken,
    as_dict,
    emit,
    enum_name,
    enum_value,
    parse_duration,
    parse_time,
    settings,
)
from behalf.v1 import dispatcher_pb2, registry_pb2

webhooks = typer.Typer(help="Webhook endpoints and their signing secrets.", no_args_is_help=True)
deliveries = typer.Typer(help="Webhook deliveries, attempts and redrive.", no_args_is_help=True)

EndpointArg = Annotated[str, typer.Argument(help="Endpoint id (whe_…)")]
_ENDPOINT_COLUMNS = (
    ("endpoint_id", lambda r: r.get("endpoint_id")),
    ("url", lambda r: r.get("url")),
    ("event_types", lambda r: r.get("event_types") or "*"),
    ("disabled", lambda r: r.get("disabled", False)),
    ("success", lambda r: _success(r.get("health"))),
    ("breaker", lambda r: enum_name(r.get("health", {}).get("breaker_state"), "BREAKER_STATE_")),
    ("last_error", lambda r: r.get("health", {}).get("last_error", "")),
    ("description", lambda r: r.get("description")),
)
_DELIVERY_COLUMNS = (
    ("delivery_id", lambda r: r.get("delivery_id")),
    ("endpoint_id", lambda r: r.get("endpoint_id")),
    ("event_type", lambda r: r.get("event_type")),
    ("state", lambda r: enum_name(r.get("state"), "DELIVERY_STATE_")),
    ("attempts", lambda r: r.get("attempt_count", 0)),
    ("last_status", lambda r: r.get("last_status_code")),
    ("last_error", lambda r: r.get("last_error")),
)


@webhooks.command("add")
def webhooks_add(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="https:// URL")],
    event: Annotated[list[str] | None, typer.Option(help="Event type filter, repeatable")] = None,
    description: Annotated[str, typer.Option()] = "",
    idempotency_key: Annotated[str, typer.Option(help="Repeat-safe key")] = "",
) -> None:
    """Add an endpoint; its signing secret (whsec_…) is printed once."""
    s = settings(ctx)
    request = registry_pb2.CreateWebhookEndpointRequest(
        url=url, event_types=event or [], description=description, idempotency_key=idempotency_key
    )
    emit(s, s.call(s.registry_stub().CreateWebhookEndpoint, request))


def _success(health: dict[str, Any] | None) -> str:
    """ "99.5% of 200" over the dispatchers' window, or "" when none has reported."""
    if not health:
        return ""
    attempts = int(health.get("attempts", 0))  # MessageToDict gives int64 as a string
    return f"{health.get('success_rate', 0.0) * 100:.1f}% of {attempts}"


@webhooks.command("list")
def webhooks_list(ctx: typer.Context, limit: Limit = 50, page_token: PageToken = "") -> None:
    """List endpoints (never their secrets)."""
    s = settings(ctx)
    request = registry_pb2.ListWebhookEndpointsRequest(page_size=limit, page_token=page_token)
    reply = s.call(s.registry_stub().ListWebhookEndpoints, request)
    emit(s, reply, [as_dict(e) for e in reply.endpoints], _ENDPOINT_COLUMNS)


@webhooks.command("rotate")
def webhooks_rotate(
    ctx: typer.Context,
    endpoint_id: EndpointArg,
    overlap: Annotated[str, typer.Option(help="Old secret keeps signing this long")] = "24h",
) -> None:
    """Rotate the signing secret; the new one is printed once."""
    s = settings(ctx)
    seconds = int(parse_duration(overlap, "--overlap").total_seconds())
    request = registry_pb2.RotateWebhookSecretRequest(
        endpoint_id=endpoint_id, overlap=duration_pb2.Duration(seconds=seconds)
    )
    emit(s, s.call(s.registry_stub().RotateWebhookSecret, request))


@webhooks.command("disable")
def webhooks_disable(ctx: typer.Context, endpoint_id: EndpointArg) -> None:
    """Disable an endpoint."""
    s = settings(ctx)
    request = registry_pb2.DisableWebhookEndpointRequest(endpoint_id=endpoint_id)
    emit(s, s.call(s.registry_stub().DisableWebhookEndpoint, request))


@webhooks.command("enable")
def webhooks_enable(ctx: typer.Context, endpoint_id: EndpointArg) -> None:
    """Enable an endpoint."""
    s = settings(ctx)
    request = registry_pb2.EnableWebhookEndpointRequest(endpoint_id=endpoint_id)
    emit(s, s.call(s.registry_stub().EnableWebhookEndpoint, request))


@deliveries.command("list")
def deliveries_list(
    ctx: typer.Context,
    endpoint: Annotated[str, typer.Option(help="Only this endpoint")] = "",
    event: Annotated[str, typer.Option(help="Only this source event id")] = "",
    state: Annotated[str | None, typer.Option(help="pending, retrying, succeeded, dead")] = None,
    limit: Limit = 50,
    page_token: PageToken = "",
) -> None:
    """List deliveries, newest first."""
    s = settings(ctx)
    request = dispatcher_pb2.ListDeliveriesRequest(
        endpoint_id=endpoint,
        event_id=event,
        state=enum_value(dispatcher_pb2.DeliveryState, "DELIVERY_STATE_", state, "state"),  # type: ignore[arg-type]
        page_size=limit,
        page_token=page_token,
    )
    reply = s.call(s.dispatcher_stub().ListDeliveries, request)
    emit(s, reply, [as_dict(d) for d in reply.deliveries], _DELIVERY_COLUMNS)


@deliveries.command("show")
def deliveries_show(ctx: typer.Context, delivery_id: Annotated[str, typer.Argument()]) -> None:
    """Show one delivery with every attempt."""
    s = settings(ctx)
    request = dispatcher_pb2.GetDeliveryRequest(delivery_id=delivery_id)
    reply = s.call(s.dispatcher_stub().GetDelivery, request)
    if s.json:
        emit(s, reply)
        return
    row = as_dict(reply.delivery)
    attempts = row.pop("attempts", [])
    emit(s, row)
    columns = (
        ("#", lambda r: r.get("attempt_number")),
        ("time", lambda r: r.get("attempt_time")),
        ("status", lambda r: r.get("status_code")),
        ("latency", lambda r: r.get("latency")),
        ("error", lambda r: r.get("error")),
    )
    emit(s, {}, attempts, columns, title="attempts")


@deliveries.command("redrive")
def deliveries_redrive(
    ctx: typer.Context,
    delivery_id: Annotated[str | None, typer.Argument(help="One dead delivery")] = None,
    endpoint: Annotated[str | None, typer.Option(help="Every dead one of this endpoint")] = None,
    since: Annotated[str | None, typer.Option(help="With --endpoint: died since")] = None,
) -> None:
    """Send dead deliveries again, with the same webhook id."""
    s = settings(ctx)
    if bool(delivery_id) == bool(endpoint):
        raise typer.BadParameter("give exactly one of DELIVERY_ID or --endpoint")
    request = dispatcher_pb2.RedriveRequest()
    if delivery_id:
        request.delivery_id = delivery_id
    else:
        request.endpoint_id = endpoint or ""
        if since:
            stamp = timestamp_pb2.Timestamp()
            stamp.FromDatetime(parse_time(since, "--since"))
            request.since_time.CopyFrom(stamp)
    emit(s, s.call(s.dispatcher_stub().Redrive, request))


def register(app: typer.Typer) -> None:
    """Add these groups to the root app."""
    app.add_typer(webhooks, name="webhooks")
    app.add_typer(deliveries, name="deliveries")
