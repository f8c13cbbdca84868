"""Builds the console's aiohttp application and runs it until SIGTERM."""

from __future__ import annotations

import asyncio
import signal
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import structlog
from aiohttp import web

from behalf.console import (
    views_agents,
    views_approvals,
    views_auth,
    views_decisions,
    views_passport,
    views_testlinks,
    views_webhooks,
)
from behalf.console.backend import Backend
from behalf.console.sessions import MemorySessionStore, SessionStore
from behalf.console.sessions_pg import PostgresSessionStore
from behalf.console.settings import ConsoleSettings, is_loopback
from behalf.console.testlinks import LinkCodec
from behalf.console.web import (
    BACKEND,
    HEALTH_PATH,
    JINJA,
    LINKS,
    SESSIONS,
    SETTINGS,
    csrf_middleware,
    jinja_environment,
    security_middleware,
    session_middleware,
)

_log = structlog.get_logger("console")
MAX_BODY = 64 * 1024


@dataclass
class Health:
    """What `/healthz` answers: 503 from the moment a drain begins."""

    serving: bool = True


HEALTH = web.AppKey("health", Health)


def create_app(
    settings: ConsoleSettings,
    backend: Backend | None = None,
    sessions: SessionStore | None = None,
) -> web.Application:
    """The console application; `backend` and `sessions` may be replaced in tests."""
    app = web.Application(
        middlewares=[security_middleware, session_middleware, csrf_middleware],
        client_max_size=MAX_BODY,
    )
    app[SETTINGS] = settings
    app[SESSIONS] = sessions if sessions is not None else session_store(settings)
    app[HEALTH] = Health()
    app[BACKEND] = backend or Backend(
        registry=settings.registry_target,
        dispatcher=settings.dispatcher_target,
        verifier=settings.verifier_target,
        timeout_seconds=settings.rpc_timeout_seconds,
        tls=settings.channel_tls,
    )
    app[LINKS] = LinkCodec(settings.secret)
    app[JINJA] = jinja_environment()
    for module in (
        views_auth,
        views_agents,
        views_passport,
        views_testlinks,
        views_approvals,
        views_decisions,
        views_webhooks,
    ):
        app.router.add_routes(module.routes)
    app.router.add_get(HEALTH_PATH, _healthz)
    app.router.add_static("/static", Path(str(files("behalf.console") / "static")))
    app.on_startup.append(_start)
    app.on_cleanup.append(_close)
    return app


def session_store(settings: ConsoleSettings) -> SessionStore:
    """PostgreSQL when a database URL is set; otherwise this process's memory (loopback)."""
    if settings.database_url is None:
        return MemorySessionStore(
            idle_seconds=settings.session_idle_seconds, max_seconds=settings.session_max_seconds
        )
    return PostgresSessionStore(
        settings.database_url,
        secret=settings.secret,
        idle_seconds=settings.session_idle_seconds,
        max_seconds=settings.session_max_seconds,
        startup_timeout_seconds=settings.startup_timeout_seconds,
    )


async def _healthz(request: web.Request) -> web.StreamResponse:
    """200 while serving, 503 once draining; no session, no log line, no dependency checks."""
    serving = request.app[HEALTH].serving
    return web.Response(text="ok" if serving else "draining", status=200 if serving else 503)


async def _start(app: web.Application) -> None:
    await app[SESSIONS].start()
    await app[BACKEND].start()


async def _close(app: web.Application) -> None:
    await app[BACKEND].close()
    await app[SESSIONS].close()


async def serve(settings: ConsoleSettings) -> None:
    """Listen until SIGTERM or SIGINT, then finish in-flight requests within the grace."""
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=settings.grace_seconds)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    _log.info(
        "listening",
        host=settings.host,
        port=settings.port,
        sessions="postgresql" if settings.database_url else "memory",
        secure_cookies=settings.cookie_secure,
    )
    if not settings.cookie_secure and not is_loopback(settings.host):
        _log.warning("secure_cookies_off", reason="BEHALF_CONSOLE_SECURE_COOKIES=false")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    _log.info("stopping")
    app[HEALTH].serving = False
    await runner.cleanup()
