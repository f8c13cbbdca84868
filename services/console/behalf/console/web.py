"""The HTTP shell: app state, rendering, sessions and CSRF, security headers, error pages."""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
import structlog
from aiohttp import web

from behalf.console import present
from behalf.console.backend import Backend, BackendError
from behalf.console.sessions import (
    Session,
    SessionStore,
    csrf_token,
    csrf_valid,
    looks_like_session_id,
    new_session_id,
)
from behalf.console.settings import ConsoleSettings
from behalf.console.testlinks import LinkCodec

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_log = structlog.get_logger("console.http")

SESSION_COOKIE = "behalf_console"
# A Secure session cookie carries the `__Host-` prefix: browsers take such a cookie only from
# this host, over https, without Domain, so a sibling subdomain or a plain-http page cannot plant
# one (cookie tossing) that the console would read as the session, signed in as someone else.
SECURE_SESSION_COOKIE = "__Host-" + SESSION_COOKIE


def session_cookie(secure: bool) -> str:
    """The session cookie's name, for cookies that are Secure or not."""
    return SECURE_SESSION_COOKIE if secure else SESSION_COOKIE


CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
HEALTH_PATH = "/healthz"

SETTINGS = web.AppKey("settings", ConsoleSettings)
SESSIONS = web.AppKey("sessions", SessionStore)
BACKEND = web.AppKey("backend", Backend)
LINKS = web.AppKey("links", LinkCodec)
JINJA = web.AppKey("jinja", jinja2.Environment)
SID = web.RequestKey("sid", str)
SET_SID = web.RequestKey("set_sid", str)
SESSION: web.RequestKey[Session | None] = web.RequestKey("session")


def jinja_environment() -> jinja2.Environment:
    """Templates from the package, always autoescaped, undefined names an error."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("behalf.console", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(present.FILTERS)
    env.tests.update(present.TESTS)
    return env


def session_of(request: web.Request) -> Session | None:
    session: Session | None = request.get(SESSION)
    return session


def render(
    request: web.Request, template: str, *, status: int = 200, **context: Any
) -> web.Response:
    """A full page (or fragment) with the session, CSRF token and flashes filled in."""
    session = session_of(request)
    page = (
        request.app[JINJA]
        .get_template(template)
        .render(
            session=session,
            csrf=csrf_token(request.app[SETTINGS].secret, request[SID]),
            flashes=session.take_flashes() if session else [],
            path=request.path,
            now=datetime.now(UTC),
            errors=context.pop("errors", {}),
            form=context.pop("form", {}),
            **context,
        )
    )
    return web.Response(text=page, status=status, content_type="text/html", charset="utf-8")


# One slash, then printable ASCII with no backslash: the URL library drops tabs and line
# breaks, so "/\t/evil.example" would leave as the protocol-relative "//evil.example".
_LOCAL_PATH = re.compile(r"/(?![/\\])[\x21-\x5b\x5d-\x7e]*")


def is_local_path(location: str) -> bool:
    """`location` names a path on this console, however a browser or URL library reads it."""
    return _LOCAL_PATH.fullmatch(location) is not None


def redirect(location: str) -> web.HTTPSeeOther:
    """A 303 to a same-origin path (never to a caller-chosen absolute URL)."""
    return web.HTTPSeeOther(location if is_local_path(location) else "/")


def require_session(request: web.Request) -> Session:
    """The signed-in session, or a redirect to the sign-in page that comes back here."""
    session = session_of(request)
    if session is None:
        raise redirect(f"/sign-in?next={quote(request.path_qs, safe='/')}")
    return session


def require_admin(request: web.Request) -> Session:
    session = require_session(request)
    if not session.is_admin:
        raise web.HTTPForbidden(
            text=_error_page(request, 403, "Your audit-read key may look but not change."),
            content_type="text/html",
        )
    return session


async def sign_in(request: web.Request, session: Session) -> None:
    """Bind a new session to the browser under a fresh id (the old one is dropped)."""
    await request.app[SESSIONS].delete(request[SID])
    request[SID] = session.session_id
    request[SET_SID] = session.session_id
    request[SESSION] = session


async def sign_out(request: web.Request) -> None:
    """Delete the session (its stored row too) and give the browser a fresh id."""
    await request.app[SESSIONS].delete(request[SID])
    request[SID] = request[SET_SID] = new_session_id()
    request[SESSION] = None


def _error_page(request: web.Request, status: int, message: str) -> str:
    try:
        return (
            request.app[JINJA]
            .get_template("error.html")
            .render(
                session=session_of(request),
                csrf=csrf_token(request.app[SETTINGS].secret, request.get(SID, "")),
                flashes=[],
                path=request.path,
                now=datetime.now(UTC),
                status=status,
                message=message,
            )
        )
    except Exception:  # the error page itself must not fail
        return f"<!doctype html><title>{status}</title><p>{status}</p>"


def error_response(request: web.Request, status: int, message: str) -> web.Response:
    return web.Response(
        text=_error_page(request, status, message), status=status, content_type="text/html"
    )


@web.middleware
async def security_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Security headers and no caching on every answer; errors as pages; an access log line
    that names the route, never the raw path (test-link tokens travel in paths)."""
    started = time.perf_counter()
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        response = web.Response(
            status=exc.status, reason=exc.reason, headers=exc.headers, body=exc.body
        )
    except BackendError as exc:
        response = await _backend_failure(request, exc)
    except Exception:
        _log.exception("unhandled_error", route=_route(request))
        response = error_response(request, 500, "Something went wrong on our side.")
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    if not request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-store"
    _set_cookie(request, response)
    if request.path == HEALTH_PATH:
        return response
    _log.info(
        "http",
        method=request.method,
        route=_route(request),
        status=response.status,
        ms=round((time.perf_counter() - started) * 1000, 1),
    )
    return response


async def _backend_failure(request: web.Request, exc: BackendError) -> web.StreamResponse:
    if exc.unauthenticated and session_of(request) is not None:
        await sign_out(request)
        return redirect("/sign-in?expired=1")
    status = 404 if exc.not_found else 403 if exc.code.name == "PERMISSION_DENIED" else 502
    if exc.code.name in {"INVALID_ARGUMENT", "FAILED_PRECONDITION", "ALREADY_EXISTS"}:
        status = 400
    return error_response(request, status, str(exc))


def _route(request: web.Request) -> str:
    info = request.match_info.route.resource if request.match_info.route else None
    return info.canonical if info is not None else "unmatched"


def _set_cookie(request: web.Request, response: web.StreamResponse) -> None:
    sid = request.get(SET_SID)
    if sid is None:
        return
    secure = request.app[SETTINGS].cookie_secure
    response.set_cookie(
        session_cookie(secure),
        sid,
        httponly=True,
        samesite="Strict",
        secure=secure,
        path="/",
    )


@web.middleware
async def session_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every browser gets an opaque id cookie; it maps to a Session only once signed in.

    The session is read once before the handler and what the handler changed in it (flashes,
    show-once values) is saved after it, also when it ends in a redirect or an error.
    """
    if request.path == HEALTH_PATH:
        return await handler(request)
    sid = request.cookies.get(session_cookie(request.app[SETTINGS].cookie_secure), "")
    if not looks_like_session_id(sid):
        sid = new_session_id()
        request[SET_SID] = sid
    request[SID] = sid
    store = request.app[SESSIONS]
    needs_session = not request.path.startswith("/static/") and SET_SID not in request
    request[SESSION] = await store.get(sid) if needs_session else None
    try:
        return await handler(request)
    finally:
        session = session_of(request)
        if session is not None:
            await store.save(session)


@web.middleware
async def csrf_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """State-changing requests need a same-origin Origin (when sent) and the form's token."""
    if request.method in SAFE_METHODS:
        return await handler(request)
    origin = request.headers.get("Origin")
    if origin is not None and urlsplit(origin).netloc != request.host:
        return error_response(request, 403, "Cross-site request refused.")
    form = await request.post()
    token = form.get("csrf_token")
    if not isinstance(token, str) or not csrf_valid(
        request.app[SETTINGS].secret, request[SID], token
    ):
        return error_response(
            request,
            403,
            "The form's security token is missing or out of date (CSRF check failed). "
            "Reload the page and try again.",
        )
    return await handler(request)


def form_dict(data: Any) -> dict[str, str]:
    """A posted form as plain strings (files and repeated fields are not used here)."""
    return {k: v for k, v in data.items() if isinstance(v, str)}
