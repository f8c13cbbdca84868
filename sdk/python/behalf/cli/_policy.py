"""Policy commands: tenants, keys, agents, permissions, templates, approvals."""

from __future__ import annotations

import getpass
from typing import Annotated, Any

import typer
from google.protobuf import duration_pb2

from behalf._exceptions import AuthenticationError
from behalf._money import Money
from behalf.cli._context import (
    as_dict,
    emit,
    enum_name,
    enum_value,
    money,
    parse_duration,
    parse_pairs,
    parse_time,
    settings,
)
from behalf.v1 import common_pb2, registry_pb2, resources_pb2

tenants = typer.Typer(help="Tenants (creating one needs the service token).", no_args_is_help=True)
keys = typer.Typer(help="API keys of your tenant.", no_args_is_help=True)
agents = typer.Typer(
    help="Agents: create, list, show, disable (kill switch), enable.", no_args_is_help=True
)
permissions = typer.Typer(
    help="Permissions: the lines of an agent's passport.", no_args_is_help=True
)
templates = typer.Typer(help="The scope template catalogue.", no_args_is_help=True)
approvals = typer.Typer(help="Human approvals of requests that need one.", no_args_is_help=True)

AgentArg = Annotated[str, typer.Argument(help="Agent id (agt_…)")]
Limit = Annotated[int, typer.Option(help="Page size, 1..500")]
PageToken = Annotated[str, typer.Option(help="From a previous page")]
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
_APPROVAL_COLUMNS = (
    ("approval_id", lambda r: r.get("approval_id")),
    ("state", lambda r: enum_name(r.get("state"), "APPROVAL_STATE_")),
    ("agent_id", lambda r: r.get("agent_id")),
    ("action", lambda r: r.get("action")),
    ("resource", lambda r: r.get("resource")),
    ("amount", lambda r: money(r.get("amount"))),
    ("expire_time", lambda r: r.get("expire_time")),
)


def _wait(enabled: bool) -> registry_pb2.PropagationWait | None:
    return registry_pb2.PropagationWait(enabled=True) if enabled else None


@tenants.command("create")
def tenants_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Display name")],
    service_token: Annotated[
        str | None, typer.Option(help="Operator credential (env BEHALF_SERVICE_TOKEN)")
    ] = None,
    idempotency_key: Annotated[str, typer.Option(help="Repeat-safe key")] = "",
) -> None:
    """Create a tenant and its first admin key (the secret is shown once)."""
    s = settings(ctx)
    token = service_token or s.service_token
    if not token:
        raise AuthenticationError("tenants create needs --service-token or BEHALF_SERVICE_TOKEN")
    request = registry_pb2.CreateTenantRequest(name=name, idempotency_key=idempotency_key)
    emit(s, s.call(s.registry_stub().CreateTenant, request, key=token))


@tenants.command("show")
def tenants_show(ctx: typer.Context) -> None:
    """Your tenant and its current policy revision."""
    s = settings(ctx)
    emit(s, s.call(s.registry_stub().GetTenant, registry_pb2.GetTenantRequest()))


@keys.command("create")
def keys_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Label")],
    role: Annotated[str, typer.Option(help="admin, verify or audit-read")] = "verify",
) -> None:
    """Create an API key; its secret is printed once."""
    s = settings(ctx)
    value = enum_value(resources_pb2.Role, "ROLE_", role, "role")
    request = registry_pb2.CreateApiKeyRequest(name=name, role=value)  # type: ignore[arg-type]
    emit(s, s.call(s.registry_stub().CreateApiKey, request))


@keys.command("list")
def keys_list(ctx: typer.Context, limit: Limit = 50, page_token: PageToken = "") -> None:
    """List API keys (never their secrets)."""
    s = settings(ctx)
    request = registry_pb2.ListApiKeysRequest(page_size=limit, page_token=page_token)
    reply = s.call(s.registry_stub().ListApiKeys, request)
    emit(
        s,
        reply,
        _rows(reply, "api_keys"),
        (
            ("key_id", lambda r: r.get("key_id")),
            ("name", lambda r: r.get("name")),
            ("role", lambda r: enum_name(r.get("role"), "ROLE_")),
            ("prefix", lambda r: r.get("display_prefix")),
            ("revoked", lambda r: r.get("revoke_time")),
        ),
    )


@keys.command("revoke")
def keys_revoke(ctx: typer.Context, key_id: Annotated[str, typer.Argument()]) -> None:
    """Revoke a key; it authenticates nothing afterwards."""
    s = settings(ctx)
    emit(s, s.call(s.registry_stub().RevokeApiKey, registry_pb2.RevokeApiKeyRequest(key_id=key_id)))


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
    emit(s, reply, _rows(reply, "agents"), _AGENT_COLUMNS)


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
    template_version: Annotated[int, typer.Option(help="0 means latest")] = 0,
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
        request.expires_in.CopyFrom(
            duration_pb2.Duration(seconds=int(parse_duration(expires_in).total_seconds()))
        )
    if expires_at:
        request.expires_at.FromDatetime(parse_time(expires_at))
    if not_before:
        request.not_before.FromDatetime(parse_time(not_before))
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
    emit(s, reply, _rows(reply, "permissions"), _PERMISSION_COLUMNS)


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
    emit(s, reply, _rows(reply, "templates"), columns)


@templates.command("show")
def templates_show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument()],
    version: Annotated[int, typer.Option(help="0 means latest")] = 0,
) -> None:
    """Show one template version."""
    s = settings(ctx)
    request = registry_pb2.GetScopeTemplateRequest(name=name, version=version)
    emit(s, s.call(s.registry_stub().GetScopeTemplate, request))


@approvals.command("list")
def approvals_list(
    ctx: typer.Context,
    state: Annotated[str | None, typer.Option(help="pending, approved, denied, …")] = None,
    agent: Annotated[str, typer.Option(help="Only this agent's")] = "",
    limit: Limit = 50,
    page_token: PageToken = "",
) -> None:
    """List approvals, newest first."""
    s = settings(ctx)
    request = registry_pb2.ListApprovalsRequest(
        state=enum_value(resources_pb2.ApprovalState, "APPROVAL_STATE_", state, "state"),  # type: ignore[arg-type]
        agent_id=agent,
        page_size=limit,
        page_token=page_token,
    )
    reply = s.call(s.registry_stub().ListApprovals, request)
    emit(s, reply, _rows(reply, "approvals"), _APPROVAL_COLUMNS)


@approvals.command("show")
def approvals_show(ctx: typer.Context, approval_id: Annotated[str, typer.Argument()]) -> None:
    """Show one approval."""
    s = settings(ctx)
    request = registry_pb2.GetApprovalRequest(approval_id=approval_id)
    emit(s, s.call(s.registry_stub().GetApproval, request))


def _resolve(ctx: typer.Context, approval_id: str, approve: bool, by: str, comment: str) -> None:
    s = settings(ctx)
    request = registry_pb2.ResolveApprovalRequest(
        approval_id=approval_id, approve=approve, resolved_by=by or _whoami(), comment=comment
    )
    emit(s, s.call(s.registry_stub().ResolveApproval, request))


By = Annotated[str, typer.Option(help="Who decides (default: your user name)")]
Comment = Annotated[str, typer.Option(help="Why")]


@approvals.command("approve")
def approvals_approve(
    ctx: typer.Context,
    approval_id: Annotated[str, typer.Argument()],
    by: By = "",
    comment: Comment = "",
) -> None:
    """Approve a pending request (usable once, before it expires)."""
    _resolve(ctx, approval_id, True, by, comment)


@approvals.command("deny")
def approvals_deny(
    ctx: typer.Context,
    approval_id: Annotated[str, typer.Argument()],
    by: By = "",
    comment: Comment = "",
) -> None:
    """Deny a pending request."""
    _resolve(ctx, approval_id, False, by, comment)


def _whoami() -> str:
    try:
        return getpass.getuser() or "cli"
    except (KeyError, OSError):
        return "cli"


def _rows(reply: object, field: str) -> list[dict[str, Any]]:
    return [as_dict(item) for item in getattr(reply, field)]


def register(app: typer.Typer) -> None:
    """Add these groups to the root app."""
    app.add_typer(tenants, name="tenants")
    app.add_typer(keys, name="keys")
    app.add_typer(agents, name="agents")
    app.add_typer(permissions, name="permissions")
    app.add_typer(templates, name="templates")
    app.add_typer(approvals, name="approvals")
