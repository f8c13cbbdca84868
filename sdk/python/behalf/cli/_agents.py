"""Agent, permission and scope template commands: `behalf agents|permissions|templates ...`."""

from __future__ import annotations

from typing import Annotated

import typer
from google.protobuf import duration_pb2

from behalf import Money
from behalf.cli._context import (
    MAX_INT32,
    Limit,
    PageToken,
    emit,
    enum_name,
    enum_value,
    money,
    parse_duration,
    parse_pairs,
    parse_time,
    rows,
    settings,
)
from behalf.v1 import common_pb2, registry_pb2, resources_pb2

agents = typer.Typer(
    help="Agents: create, list, show, disable (kill switch), enable.", no_args_is_help=True
)
permissions = typer.Typer(
    help="Permissions: the lines of an agent's passport.", no_args_is_help=True
)
templates = typer.Typer(help="The scope template catalogue.", no_args_is_help=True)

AgentArg = Annotated[str, typer.Argument(help="Agent id (agt_…)")]
Wait = Annotated[bool, typer.Option(help="Wait until every verifier applied it")]

_AGENT_COLUMNS = (
    ("agent_id", lambda r: r.get("agent_id")),
    ("name", lambda r: r.get("name")),
    ("kind", lambda r: enum_name(r.get("kind"), "AGENT_KIND_")),
    ("disabled", lambda r: r.get("disabled", False)),
    ("revision", lambda r: r.get("revision")),
)
_PERMISSION_COLUMNS = (
    ("permission_id", lambda r: r.get("permission_id")),
    ("agent_id", lambda r: r.get("agent_id")),
    ("allow", lambda r: r.get("allowed_actions")),
    ("block", lambda r: r.get("blocked_actions")),
    ("resources", lambda r: r.get("resources") or "(none)"),
    ("max", lambda r: money(r.get("max_amount"))),
    ("expires_at", lambda r: r.get("expires_at")),
    ("approval", lambda r: r.get("requires_approval", False)),
    ("revoked", lambda r: r.get("revoked", False)),
)


def _wait(enabled: bool) -> registry_pb2.PropagationWait | None:
    return registry_pb2.PropagationWait(enabled=True) if enabled else None


@agents.command("create")
def agents_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Display name")],
    kind: Annotated[str, typer.Option(help="native or external")] = "native",
    description: Annotated[str, typer.Option()] = "",
    label: Annotated[list[str] | None, typer.Option(help="key=value, repeatable")] = None,
    idempotency_key: Annotated[str, typer.Option(help="Repeat-safe key")] = "",
) -> None:
    """Create an agent."""
    s = settings(ctx)
    request = registry_pb2.CreateAgentRequest(
        name=name,
        kind=enum_value(resources_pb2.AgentKind, "AGENT_KIND_", kind, "kind"),  # type: ignore[arg-type]
        description=description,
        labels=parse_pairs(label, "label"),
        idempotency_key=idempotency_key,
    )
    emit(s, s.call(s.registry_stub().CreateAgent, request))


@agents.command("list")
def agents_list(
    ctx: typer.Context,
    kind: Annotated[str | None, typer.Option(help="native or external")] = None,
    disabled: Annotated[bool | None, typer.Option("--disabled/--enabled", help="Filter")] = None,
    label: Annotated[list[str] | None, typer.Option(help="key=value, repeatable")] = None,
    limit: Limit = 50,
    page_token: PageToken = "",
) -> None:
    """List agents."""
    s = settings(ctx)
    request = registry_pb2.ListAgentsRequest(
        kind=enum_value(resources_pb2.AgentKind, "AGENT_KIND_", kind, "kind"),  # type: ignore[arg-type]
        labels=parse_pairs(label, "label"),
        page_size=limit,
        page_token=page_token,
    )
    if disabled is not None:
        request.disabled = disabled
    reply = s.call(s.registry_stub().ListAgents, request)
    emit(s, reply, rows(reply, "agents"), _AGENT_COLUMNS)


@agents.command("show")
def agents_show(ctx: typer.Context, agent_id: AgentArg) -> None:
    """Show one agent."""
    s = settings(ctx)
    emit(s, s.call(s.registry_stub().GetAgent, registry_pb2.GetAgentRequest(agent_id=agent_id)))


@agents.command("disable")
def agents_disable(ctx: typer.Context, agent_id: AgentArg, wait: Wait = False) -> None:
    """Disable an agent (the kill switch); prints the revision to pass as --min-revision."""
    s = settings(ctx)
    request = registry_pb2.DisableAgentRequest(agent_id=agent_id, wait=_wait(wait))
    emit(s, s.call(s.registry_stub().DisableAgent, request))


@agents.command("enable")
def agents_enable(ctx: typer.Context, agent_id: AgentArg) -> None:
    """Re-enable a disabled agent."""
    s = settings(ctx)
    request = registry_pb2.EnableAgentRequest(agent_id=agent_id)
    emit(s, s.call(s.registry_stub().EnableAgent, request))


@permissions.command("grant")
def permissions_grant(
    ctx: typer.Context,
    agent_id: AgentArg,
    template: Annotated[str, typer.Option(help="Scope template, e.g. transactions.purchase")] = "",
    template_version: Annotated[int, typer.Option(help="0 means latest", min=0, max=MAX_INT32)] = 0,
    allow: Annotated[list[str] | None, typer.Option(help="Allowed action (repeatable)")] = None,
    block: Annotated[list[str] | None, typer.Option(help="Blocked action (repeatable)")] = None,
    vendor: Annotated[
        list[str] | None, typer.Option("--vendor", "--resource", help="Resource (repeatable)")
    ] = None,
    max_amount: Annotated[str | None, typer.Option(help='Per-action limit, e.g. "800.00"')] = None,
    budget: Annotated[str | None, typer.Option(help="Cumulative budget, e.g. 5000")] = None,
    currency: Annotated[str | None, typer.Option(help="ISO-4217 code of the amounts")] = None,
    expires_in: Annotated[str | None, typer.Option(help="Lifetime, e.g. 2h, 7d")] = None,
    expires_at: Annotated[str | None, typer.Option(help="ISO 8601 expiry")] = None,
    not_before: Annotated[str | None, typer.Option(help="ISO 8601 start")] = None,
    requires_approval: Annotated[
        bool | None, typer.Option("--requires-approval/--no-requires-approval")
    ] = None,
    idempotency_key: Annotated[str, typer.Option(help="Repeat-safe key")] = "",
) -> None:
    """Grant a permission, from a template with overrides or from explicit fields."""
    s = settings(ctx)
    request = registry_pb2.GrantPermissionRequest(
        agent_id=agent_id,
        template_name=template,
        template_version=template_version,
        allowed_actions=allow or [],
        blocked_actions=block or [],
        resources=vendor or [],
        idempotency_key=idempotency_key,
    )
    for name, amount in (("max_amount", max_amount), ("budget", budget)):
        if amount is not None:
            if not currency:
                raise typer.BadParameter(f"--{name.replace('_', '-')} needs --currency")
            value = Money.of(amount, currency)
            getattr(request, name).CopyFrom(
                common_pb2.Money(amount_minor=value.amount_minor, currency=value.currency)
            )
    if expires_in:
        lifetime = parse_duration(expires_in, "--expires-in")
        request.expires_in.CopyFrom(duration_pb2.Duration(seconds=int(lifetime.total_seconds())))
    if expires_at:
        request.expires_at.FromDatetime(parse_time(expires_at, "--expires-at"))
    if not_before:
        request.not_before.FromDatetime(parse_time(not_before, "--not-before"))
    if requires_approval is not None:
        request.requires_approval = requires_approval
    emit(s, s.call(s.registry_stub().GrantPermission, request))


@permissions.command("revoke")
def permissions_revoke(
    ctx: typer.Context, permission_id: Annotated[str, typer.Argument()], wait: Wait = False
) -> None:
    """Revoke a permission."""
    s = settings(ctx)
    request = registry_pb2.RevokePermissionRequest(permission_id=permission_id, wait=_wait(wait))
    emit(s, s.call(s.registry_stub().RevokePermission, request))


@permissions.command("list")
def permissions_list(
    ctx: typer.Context,
    agent: Annotated[str, typer.Option(help="Only this agent's")] = "",
    all_: Annotated[bool, typer.Option("--all", help="Include revoked and expired")] = False,
    limit: Limit = 50,
    page_token: PageToken = "",
) -> None:
    """List permissions."""
    s = settings(ctx)
    request = registry_pb2.ListPermissionsRequest(
        agent_id=agent, include_inactive=all_, page_size=limit, page_token=page_token
    )
    reply = s.call(s.registry_stub().ListPermissions, request)
    emit(s, reply, rows(reply, "permissions"), _PERMISSION_COLUMNS)


@permissions.command("show")
def permissions_show(ctx: typer.Context, permission_id: Annotated[str, typer.Argument()]) -> None:
    """Show one permission."""
    s = settings(ctx)
    request = registry_pb2.GetPermissionRequest(permission_id=permission_id)
    emit(s, s.call(s.registry_stub().GetPermission, request))


@templates.command("list")
def templates_list(
    ctx: typer.Context,
    category: Annotated[str | None, typer.Option(help="e.g. transactions, messaging")] = None,
    all_versions: Annotated[bool, typer.Option(help="Every version")] = False,
) -> None:
    """List scope templates."""
    s = settings(ctx)
    request = registry_pb2.ListScopeTemplatesRequest(
        category=enum_value(common_pb2.ActionCategory, "ACTION_CATEGORY_", category, "category"),  # type: ignore[arg-type]
        all_versions=all_versions,
    )
    reply = s.call(s.registry_stub().ListScopeTemplates, request)
    columns = (
        ("name", lambda r: r.get("name")),
        ("version", lambda r: r.get("version")),
        ("category", lambda r: enum_name(r.get("category"), "ACTION_CATEGORY_")),
        ("allow", lambda r: r.get("allowed_actions")),
        ("block", lambda r: r.get("blocked_actions")),
        ("description", lambda r: r.get("description")),
    )
    emit(s, reply, rows(reply, "templates"), columns)


@templates.command("show")
def templates_show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument()],
    version: Annotated[int, typer.Option(help="0 means latest", min=0, max=MAX_INT32)] = 0,
) -> None:
    """Show one template version."""
    s = settings(ctx)
    request = registry_pb2.GetScopeTemplateRequest(name=name, version=version)
    emit(s, s.call(s.registry_stub().GetScopeTemplate, request))


def register(app: typer.Typer) -> None:
    """Add these groups to the root app."""
    app.add_typer(agents, name="agents")
    app.add_typer(permissions, name="permissions")
    app.add_typer(templates, name="templates")
