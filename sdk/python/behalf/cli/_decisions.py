"""Verify and the audit trail: `behalf verify`, `behalf decisions list|follow`."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.text import Text

from behalf import (
    ActionDenied,
    ApprovalRequired,
    Behalf,
    BehalfError,
    Decision,
)
from behalf.cli._context import (
    EXIT_APPROVAL,
    EXIT_DENY,
    MAX_INT64,
    Limit,
    PageToken,
    Settings,
    as_dict,
    emit,
    enum_name,
    enum_value,
    money,
    parse_pairs,
    parse_time,
    settings,
    shown,
    stderr,
    stdout,
)
from behalf.v1 import common_pb2, events_pb2, registry_pb2

decisions = typer.Typer(help="The audit trail of Verify decisions.", no_args_is_help=True)

_DECISION_COLUMNS = (
    ("time", lambda r: r.get("decision", {}).get("decide_time")),
    ("request_id", lambda r: r.get("decision", {}).get("request_id")),
    ("agent_id", lambda r: r.get("agent_id")),
    ("action", lambda r: r.get("action")),
    ("resource", lambda r: r.get("resource")),
    ("amount", lambda r: money(r.get("amount"))),
    ("outcome", lambda r: _outcome(r)),
    ("reason", lambda r: enum_name(r.get("decision", {}).get("reason_code"), "REASON_CODE_")),
    ("risk", lambda r: enum_name(r.get("decision", {}).get("risk"), "RISK_")),
)


def _outcome(row: dict[str, Any]) -> str:
    """The outcome, marked TEST for a test decision: it authorized nothing."""
    decision = row.get("decision", {})
    outcome = enum_name(decision.get("outcome"), "OUTCOME_")
    return f"TEST {outcome}" if row.get("test_mode") or decision.get("test_mode") else outcome


def verify(
    ctx: typer.Context,
    agent_id: Annotated[str, typer.Argument(help="Agent id (agt_…)")],
    action: Annotated[str, typer.Argument(help="Action, e.g. purchase")],
    resource: Annotated[str, typer.Option(help="Host or vendor")] = "",
    amount: Annotated[str | None, typer.Option(help='Major units, e.g. "799.99"')] = None,
    currency: Annotated[str | None, typer.Option(help="ISO-4217 code")] = None,
    context: Annotated[list[str] | None, typer.Option(help="key=value, repeatable")] = None,
    min_revision: Annotated[
        int, typer.Option(help="Reflect at least this revision", min=0, max=MAX_INT64)
    ] = 0,
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
        Text.assemble(
            (outcome, f"bold {color}"),
            " ",
            shown(decision.reason_code),
            ": ",
            shown(decision.reason),
        )
    )
    extras = ("risk", "request_id", "permission_id", "approval_id", "policy_revision")
    for key in extras:
        if data.get(key):
            stdout.print(Text.assemble(f"  {key}: ", shown(data[key])))


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
# How far before the newest decision printed `follow` reads again: the audit trail takes a
# decision in up to about a second after it was decided, and after a registry restart later.
FOLLOW_LOOKBACK = timedelta(seconds=10)
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
        request.start_time.FromDatetime(parse_time(since, "--since"))
    if until:
        request.end_time.FromDatetime(parse_time(until, "--until"))
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
    count: Annotated[int, typer.Option(help="Stop after this many (0: never)", min=0)] = 0,
) -> None:
    """Print new decisions as they are audited (polls ListDecisions); Ctrl-C stops."""
    s = settings(ctx)
    seen: set[str] = set()
    start = parse_time(since, "--since")
    shown = 0
    status = None if s.json else stderr.status("following decisions… (Ctrl-C stops)")
    if status is not None:
        status.start()
    try:
        while True:
            request = _decisions_request(agent, outcome, reason, "", 500)
            request.start_time.FromDatetime(start - FOLLOW_LOOKBACK)
            listed = _every_page(s, request)
            fresh = [d for d in reversed(listed) if d.event_id not in seen]
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


def _every_page(
    s: Settings, request: registry_pb2.ListDecisionsRequest
) -> list[events_pb2.DecisionEvent]:
    """Every decision the request matches, newest first, however many pages: a burst of
    decisions never pushes one out of what `follow` prints."""
    found: list[events_pb2.DecisionEvent] = []
    while True:
        reply = s.call(s.registry_stub().ListDecisions, request)
        found.extend(reply.decisions)
        if not reply.next_page_token:
            return found
        request.page_token = reply.next_page_token


def _print_event(s: Settings, row: dict[str, Any]) -> None:
    if s.json:
        print(json.dumps(row), flush=True)
        return
    cells = [shown(get(row) or "") for _, get in _DECISION_COLUMNS]
    stdout.print(Text("  ").join(cells))


def register(app: typer.Typer) -> None:
    """Add these commands to the root app."""
    app.command("verify")(verify)
    app.add_typer(decisions, name="decisions")
