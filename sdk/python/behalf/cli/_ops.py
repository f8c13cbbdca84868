"""Operations commands: verify, decisions, webhooks, deliveries, passports."""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from google.protobuf import duration_pb2, timestamp_pb2

from behalf._client import Behalf
from behalf._exceptions import ActionDenied, ApprovalRequired, BehalfError, PassportError
from behalf._models import Decision
from behalf._passport import DEFAULT_MAX_AGE, SignedPassport
from behalf.cli._context import (
    EXIT_APPROVAL,
    EXIT_DENY,
    Settings,
    as_dict,
    emit,
    enum_name,
    enum_value,
    money,
    parse_duration,
    parse_pairs,
    parse_time,
    settings,
    stderr,
    stdout,
)
from behalf.v1 import common_pb2, dispatcher_pb2, registry_pb2

decisions = typer.Typer(help="The audit trail of Verify decisions.", no_args_is_help=True)
webhooks = typer.Typer(help="Webhook endpoints and their signing secrets.", no_args_is_help=True)
deliveries = typer.Typer(help="Webhook deliveries, attempts and redrive.", no_args_is_help=True)
passport = typer.Typer(help="Signed passports: export and verify offline.", no_args_is_help=True)

Limit = Annotated[int, typer.Option(help="Page size, 1..500")]
PageToken = Annotated[str, typer.Option(help="From a previous page")]
EndpointArg = Annotated[str, typer.Argument(help="Endpoint id (whe_…)")]

_DECISION_COLUMNS = (
    ("time", lambda r: r.get("decision", {}).get("decide_time")),
    ("request_id", lambda r: r.get("decision", {}).get("request_id")),
    ("agent_id", lambda r: r.get("agent_id")),
    ("action", lambda r: r.get("action")),
    ("resource", lambda r: r.get("resource")),
    ("amount", lambda r: money(r.get("amount"))),
    ("outcome", lambda r: enum_name(r.get("decision", {}).get("outcome"), "OUTCOME_")),
    ("reason", lambda r: enum_name(r.get("decision", {}).get("reason_code"), "REASON_CODE_")),
    ("risk", lambda r: enum_name(r.get("decision", {}).get("risk"), "RISK_")),
)
_ENDPOINT_COLUMNS = (
    ("endpoint_id", lambda r: r.get("endpoint_id")),
    ("url", lambda r: r.get("url")),
    ("event_types", lambda r: r.get("event_types") or "*"),
    ("disabled", lambda r: r.get("disabled", False)),
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


def verify(
    ctx: typer.Context,
    agent_id: Annotated[str, typer.Argument(help="Agent id (agt_…)")],
    action: Annotated[str, typer.Argument(help="Action, e.g. purchase")],
    resource: Annotated[str, typer.Option(help="Host or vendor")] = "",
    amount: Annotated[str | None, typer.Option(help='Major units, e.g. "799.99"')] = None,
    currency: Annotated[str | None, typer.Option(help="ISO-4217 code")] = None,
    context: Annotated[list[str] | None, typer.Option(help="key=value, repeatable")] = None,
    min_revision: Annotated[int, typer.Option(help="Reflect at least this revision")] = 0,
    approval_id: Annotated[str, typer.Option(help="An approved approval to consume")] = "",
    request_id: Annotated[str | None, typer.Option(help="Idempotency id")] = None,
) -> None:
    """One-off Verify. Exit 0 allowed, 1 denied, 2 approval required, 3 error."""
    s = settings(ctx)
    if not s.api_key:
        raise BehalfError("no API key: pass --api-key or set BEHALF_API_KEY")
    code = 0
    with Behalf(
        s.api_key,
        target=s.verifier,
        registry_target=s.registry,
        timeout=s.timeout,
        credentials=s.credentials,
        insecure=s.insecure,
    ) as client:
        try:
            decision = client.verify(
                agent_id,
                action,
                resource=resource,
                amount=amount,
                currency=currency,
                context=parse_pairs(context, "context"),
                min_revision=min_revision,
                approval_id=approval_id,
                request_id=request_id,
            )
        except ApprovalRequired as exc:
            decision, code = exc.decision, EXIT_APPROVAL
        except ActionDenied as exc:
            decision, code = exc.decision, EXIT_DENY
    _print_decision(s, decision)
    raise typer.Exit(code)


def _print_decision(s: Settings, decision: Decision) -> None:
    data = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in vars(decision).items()}
    if s.json:
        emit(s, data)
        return
    color = {"ALLOW": "green", "DENY": "red"}.get(decision.outcome, "yellow")
    outcome = decision.outcome
    if decision.test_mode:  # authorizes nothing, whatever the outcome says
        color, outcome = "yellow", f"TEST {outcome} (authorizes nothing)"
    stdout.print(
        f"[bold {color}]{outcome}[/] {decision.reason_code}: {decision.reason}",
        highlight=False,
    )
    extras = ("risk", "request_id", "permission_id", "approval_id", "policy_revision")
    for key in extras:
        if data.get(key):
            stdout.print(f"  {key}: {data[key]}", highlight=False)


def _decisions_request(
    agent: str, outcome: str | None, reason: str | None, request_id: str, limit: int
) -> registry_pb2.ListDecisionsRequest:
    return registry_pb2.ListDecisionsRequest(
        agent_id=agent,
        outcome=enum_value(common_pb2.Outcome, "OUTCOME_", outcome, "outcome"),  # type: ignore[arg-type]
        reason_code=enum_value(common_pb2.ReasonCode, "REASON_CODE_", reason, "reason"),  # type: ignore[arg-type]
        request_id=request_id,
        page_size=limit,
    )


Agent = Annotated[str, typer.Option("--agent", help="Only this agent")]
Outcome = Annotated[str | None, typer.Option(help="allow, deny or require-approval")]
Reason = Annotated[str | None, typer.Option(help="Reason code, e.g. amount-exceeds-limit")]


@decisions.command("list")
def decisions_list(
    ctx: typer.Context,
    agent: Agent = "",
    outcome: Outcome = None,
    reason: Reason = None,
    since: Annotated[str | None, typer.Option(help="ISO time or a duration ago (1h)")] = None,
    until: Annotated[str | None, typer.Option(help="ISO time or a duration ago")] = None,
    request_id: Annotated[str, typer.Option(help="Only this request")] = "",
    limit: Limit = 50,
    page_token: PageToken = "",
) -> None:
    """List audited decisions, newest first."""
    s = settings(ctx)
    request = _decisions_request(agent, outcome, reason, request_id, limit)
    request.page_token = page_token
    if since:
        request.start_time.FromDatetime(parse_time(since))
    if until:
        request.end_time.FromDatetime(parse_time(until))
    reply = s.call(s.registry_stub().ListDecisions, request)
    emit(s, reply, [as_dict(d) for d in reply.decisions], _DECISION_COLUMNS)


@decisions.command("follow")
def decisions_follow(
    ctx: typer.Context,
    agent: Agent = "",
    outcome: Outcome = None,
    reason: Reason = None,
    interval: Annotated[float, typer.Option(help="Seconds between polls")] = 1.0,
    since: Annotated[str, typer.Option(help="Start this long ago (or ISO time)")] = "0s",
    count: Annotated[int, typer.Option(help="Stop after this many (0: never)")] = 0,
) -> None:
    """Print new decisions as they are audited (polls ListDecisions); Ctrl-C stops."""
    s = settings(ctx)
    seen: set[str] = set()
    start = parse_time(since)
    shown = 0
    status = None if s.json else stderr.status("following decisions… (Ctrl-C stops)")
    if status is not None:
        status.start()
    try:
        while True:
            request = _decisions_request(agent, outcome, reason, "", 500)
            request.start_time.FromDatetime(start - timedelta(seconds=2))
            reply = s.call(s.registry_stub().ListDecisions, request)
            fresh = [d for d in reversed(reply.decisions) if d.event_id not in seen]
            for event in fresh:
                seen.add(event.event_id)
                _print_event(s, as_dict(event))
                shown += 1
                if event.decision.HasField("decide_time"):
                    start = max(start, event.decision.decide_time.ToDatetime(tzinfo=UTC))
                if count and shown >= count:
                    return
            time.sleep(interval)
    except KeyboardInterrupt:
        return
    finally:
        if status is not None:
            status.stop()


def _print_event(s: Settings, row: dict[str, Any]) -> None:
    if s.json:
        print(json.dumps(row), flush=True)
        return
    cells = [str(get(row) or "") for _, get in _DECISION_COLUMNS]
    stdout.print("  ".join(cells), highlight=False)


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
    seconds = int(parse_duration(overlap).total_seconds())
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
            stamp.FromDatetime(parse_time(since))
            request.since_time.CopyFrom(stamp)
    emit(s, s.call(s.dispatcher_stub().Redrive, request))


@passport.command("export")
def passport_export(
    ctx: typer.Context,
    agent_id: Annotated[str, typer.Argument(help="Agent id (agt_…)")],
    out: Annotated[Path | None, typer.Option(help="Write the envelope here")] = None,
    valid_for: Annotated[
        str | None, typer.Option(help="Signed validity, e.g. 24h; default 1h, at most 7d")
    ] = None,
) -> None:
    """Export an agent's signed passport as a JSON envelope (stdout or --out)."""
    s = settings(ctx)
    request = registry_pb2.ExportPassportRequest(agent_id=agent_id)
    if valid_for:
        request.valid_for.FromTimedelta(parse_duration(valid_for))
    reply = s.call(s.registry_stub().ExportPassport, request)
    signed = SignedPassport(reply.document, reply.signature, reply.key_id, reply.public_key)
    if out is None:
        print(signed.to_json())
        return
    out.write_text(signed.to_json() + "\n")
    expires = json.loads(reply.document).get("expires_at")
    stderr.print(
        f"wrote {out} (key {signed.key_id}, public key {signed.public_key}, expires {expires})"
    )


@passport.command("verify")
def passport_verify(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Envelope from `passport export` (- for stdin)")],
    public_key: Annotated[
        str | None,
        typer.Option(
            help="Pinned registry key (base64url); default: the registry's published keys, "
            "fetched with the API key"
        ),
    ] = None,
    max_age: Annotated[
        str | None, typer.Option(help="Refuse if issued longer ago, e.g. 24h; default 1h")
    ] = None,
) -> None:
    """Check a passport's signature by a trusted key, its age and its expiry; exit 0 valid, 3
    invalid. The key inside the envelope is never trusted."""
    s = settings(ctx)
    text = sys.stdin.read() if str(file) == "-" else file.read_text()
    signed = SignedPassport.from_json(text)
    trusted: str | dict[str, str] = public_key or _published_passport_keys(s)
    checked = signed.verify(
        trusted, max_age=parse_duration(max_age) if max_age else DEFAULT_MAX_AGE
    )
    emit(
        s,
        {
            "valid": True,
            "agent_id": checked.agent_id,
            "tenant_id": checked.tenant_id,
            "revision": checked.revision,
            "issued_at": checked.issued_at.isoformat(),
            "expires_at": checked.expires_at.isoformat(),
            "key_id": checked.key_id,
            "permissions": list(checked.permissions),
        },
    )


def _published_passport_keys(s: Settings) -> dict[str, str]:
    """The registry's passport keys by key id, fetched with the configured API key."""
    if not s.api_key:
        raise PassportError(
            "no trusted key: pass --public-key, or an API key to fetch the registry's keys"
        )
    reply = s.call(s.registry_stub().ListPassportKeys, registry_pb2.ListPassportKeysRequest())
    return {key.key_id: key.public_key for key in reply.keys}


def register(app: typer.Typer) -> None:
    """Add these commands to the root app."""
    app.command("verify")(verify)
    app.add_typer(decisions, name="decisions")
    app.add_typer(webhooks, name="webhooks")
    app.add_typer(deliveries, name="deliveries")
    app.add_typer(passport, name="passport")
