"""Tenant and API key commands: `behalf tenants ...`, `behalf keys ...`."""

from __future__ import annotations

from typing import Annotated

import typer

from behalf import AuthenticationError
from behalf.cli._context import (
    Limit,
    PageToken,
    emit,
    enum_name,
    enum_value,
    rows,
    settings,
)
from behalf.v1 import registry_pb2, resources_pb2

tenants = typer.Typer(help="Tenants (creating one needs the service token).", no_args_is_help=True)
keys = typer.Typer(help="API keys of your tenant.", no_args_is_help=True)


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
    agent: Annotated[
        str, typer.Option(help="Bind the key to this agent: it may only ask about that agent")
    ] = "",
) -> None:
    """Create an API key; its secret is printed once. An agent's own key is a verify key bound
    to it (`--agent`): what it holds to be checked through Envoy, or to call Verify itself."""
    s = settings(ctx)
    value = enum_value(resources_pb2.Role, "ROLE_", role, "role")
    request = registry_pb2.CreateApiKeyRequest(
        name=name,
        role=value,  # type: ignore[arg-type]
        agent_id=agent,
    )
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
        rows(reply, "api_keys"),
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


def register(app: typer.Typer) -> None:
    """Add these groups to the root app."""
    app.add_typer(tenants, name="tenants")
    app.add_typer(keys, name="keys")
