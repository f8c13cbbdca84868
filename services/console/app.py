"""Builds the console's aiohttp application and runs it until SIGTERM."""

from __future__ import annotations

import asyncio
import signal
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
from behalf.console.sessions import SessionStore
from behalf.console.settings import ConsoleSettings
from behalf.console.testlinks import LinkCodec
from behalf.console.web import (
    BACKEND,
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


def create_app(settings: ConsoleSettings, backend: Backend | None = None) -> web.Application:
    """The console application; `backend` may be replaced in tests."""
    app = web.Application(
        middlewares=[security_middleware, session_middleware, csrf_middleware],
        client_max_size=MAX_BODY,
    )
    app[SETTINGS] = settings
    app[SESSIONS] = SessionStore(
        idle_seconds=settings.session_idle_seconds, max_seconds=settings.session_max_seconds
    )
    app[BACKEND] = backend or Backend(
        registry=settings.registry_target,
        dispatcher=settings.dispatcher_target,
        verifier=settings.verifier_target,
        timeout_seconds=settings.rpc_timeout_seconds,
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
    app.router.add_static("/static", Path(str(files("behalf.console") / "static")))
    app.on_startup.append(_start_backend)
    app.on_cleanup.append(_close_backend)
    return app


async def _start_backend(app: web.Application) -> None:
    await app[BACKEND].start()


async def _close_backend(app: web.Application) -> None:
    await app[BACKEND].close()


async def serve(settings: ConsoleSettings) -> None:
    """Listen until SIGTERM or SIGINT, then finish in-flight requests within the grace."""
    runner = web.AppRunner(
        create_app(settings), access_log=None, shutdown_timeout=settings.grace_seconds
    )
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    _log.info("listening", host=settings.host, port=settings.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    _log.info("stopping")
    await runner.cleanup()
