"""Signing in with an admin or audit-read API key, and out again."""

from __future__ import annotations

from aiohttp import web

from behalf.console.backend import BackendError
from behalf.console.sessions import Role
from behalf.console.web import (
    BACKEND,
    SESSIONS,
    form_dict,
    is_local_path,
    redirect,
    render,
    session_of,
    sign_in,
    sign_out,
)
from behalf.v1 import registry_pb2

routes = web.RouteTableDef()
MAX_KEY = 200


def _next(value: str) -> str:
    return value if is_local_path(value) else "/agents"


@routes.get("/")
async def home(request: web.Request) -> web.StreamResponse:
    raise redirect("/agents" if session_of(request) else "/sign-in")


@routes.get("/favicon.ico")
async def favicon(_request: web.Request) -> web.StreamResponse:
    return web.Response(status=204)


@routes.get("/sign-in")
async def sign_in_page(request: web.Request) -> web.StreamResponse:
    errors = {}
    if request.query.get("expired"):
        errors["api_key"] = "Your session ended or your key is no longer accepted; sign in again."
    return render(request, "sign_in.html", next=_next(request.query.get("next", "")), errors=errors)


@routes.post("/sign-in")
async def sign_in_submit(request: web.Request) -> web.StreamResponse:
    data = form_dict(await request.post())
    key = data.get("api_key", "").strip()
    actor = data.get("actor", "").strip()
    target = _next(data.get("next", ""))
    errors: dict[str, str] = {}
    if not key:
        errors["api_key"] = "Enter an admin or audit-read API key."
    elif len(key) > MAX_KEY or not key.isprintable() or " " in key:
        errors["api_key"] = "That does not look like an API key."
    if len(actor) > 100 or not actor.isprintable():
        errors["actor"] = "Your name must be at most 100 printable characters."
    if errors:
        return render(
            request, "sign_in.html", status=400, errors=errors, next=target, form={"actor": actor}
        )
    backend = request.app[BACKEND]
    try:
        tenant = await backend.call(
            backend.registry.GetTenant, registry_pb2.GetTenantRequest(), key
        )
        role = await _role(request, key)
    except BackendError as exc:
        if exc.unauthenticated:
            message = "That key was not accepted: it is unknown or revoked."
        elif exc.code.name == "PERMISSION_DENIED":
            message = "A verify key cannot sign in; use an admin or audit-read key."
        else:
            message = str(exc)
        return render(
            request,
            "sign_in.html",
            status=401,
            errors={"api_key": message},
            next=target,
            form={"actor": actor},
        )
    session = await request.app[SESSIONS].create(
        api_key=key,
        role=role,
        tenant_id=tenant.tenant.tenant_id,
        tenant_name=tenant.tenant.name,
        actor=actor or f"console ({role.replace('_', '-')} key)",
    )
    await sign_in(request, session)
    raise redirect(target)


async def _role(request: web.Request, key: str) -> Role:
    """Admin if the key may list keys (an admin-only read), else audit-read."""
    backend = request.app[BACKEND]
    try:
        await backend.call(
            backend.registry.ListApiKeys, registry_pb2.ListApiKeysRequest(page_size=1), key
        )
    except BackendError as exc:
        if exc.code.name == "PERMISSION_DENIED":
            return "audit_read"
        raise
    return "admin"


@routes.post("/sign-out")
async def sign_out_submit(request: web.Request) -> web.StreamResponse:
    await sign_out(request)
    raise redirect("/sign-in")
