"""Verify over HTTP/JSON, for agents and tools that speak only HTTP (ChatGPT Actions, Zapier).

`POST /v1/verify` runs the same pipeline as the gRPC Verify (authenticate, validate, decide,
audit before allow): every decision is a 200 whose `allowed` is true only for an ALLOW, so a
stale or unreachable dependency is a decision, not an error a careless client could read as
"carry on". Errors are for requests that got no decision: 400 names the JSON field, 401 a bad
key, 403 a key whose role or scope may not verify this, 413 a body over 64 KiB, 415 a body
that is not JSON, 429 a tenant with too many calls in flight (admission.py).
`GET /v1/approvals/{id}` reads an approval (approval_reads.py) so an HTTP client can wait for a
human. `GET /openapi.json` describes it all (openapi.py).
"""

from __future__ import annotations

import ssl
import time
import uuid
from typing import Any

import structlog
from aiohttp import web
from prometheus_client import Histogram

from behalf.common.auth import bearer_token
from behalf.common.errors import (
    BehalfError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
)
from behalf.verifier.api import Verifier
from behalf.verifier.approval_reads import ApprovalReads
from behalf.verifier.http_body import (
    MAX_BODY_BYTES,
    approval_body,
    decision_body,
    json_field,
    parse_verify_body,
)
from behalf.verifier.openapi import OPENAPI

HTTP_SECONDS = Histogram(
    "behalf_http_seconds",
    "HTTP API latency by route and status.",
    ["route", "status"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
_log = structlog.get_logger("http")
# An idle kept-alive connection is closed after this (aiohttp's default is an hour), so idle
# connections cannot pile up; longer than load balancers' idle timeouts (AWS 60 s, Google Cloud
# 600 s), so a balancer never sends on a connection this end is closing.
HTTP_KEEPALIVE_SECONDS = 630.0


def _error(status: int, code: str, message: str, field: str | None = None) -> web.Response:
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    if field is not None:
        body["error"]["field"] = field
    if status >= 500 or status == 429:  # not a decision: say so where a careless client looks
        body["allowed"] = False
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return web.json_response(body, status=status, headers=headers)


# A request that got no decision (or no approval): its status and error code.
_REFUSALS: dict[type[BehalfError], tuple[int, str]] = {
    InvalidArgument: (400, "invalid_argument"),
    Unauthenticated: (401, "unauthenticated"),
    PermissionDenied: (403, "permission_denied"),
    NotFound: (404, "not_found"),
    ResourceExhausted: (429, "resource_exhausted"),
}


def _refused(exc: BehalfError) -> web.Response:
    status, code = _REFUSALS.get(type(exc), (503, "unavailable"))
    if isinstance(exc, InvalidArgument):
        field = json_field(exc.field)
        return _error(status, code, f"{field}: {exc.problem}", field)
    return _error(status, code, str(exc))


def _bearer(request: web.Request) -> str:
    """The key of the request's `Authorization: Bearer <key>` header, by the gRPC metadata rule
    (one header; several are refused)."""
    return bearer_token(
        ("authorization", value) for value in request.headers.getall("Authorization", [])
    )


class HttpVerifyApi:
    """The HTTP routes over the verifier's pipeline."""

    def __init__(self, verifier: Verifier, approvals: ApprovalReads) -> None:
        self._verifier = verifier
        self._approvals = approvals

    def application(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[self._observe])
        app.router.add_post("/v1/verify", self.verify)
        app.router.add_get("/v1/approvals/{approval_id}", self.approval)
        app.router.add_get("/openapi.json", self.openapi)
        return app

    async def verify(self, request: web.Request) -> web.Response:
        if request.content_type != "application/json":
            return _error(415, "unsupported_media_type", "send Content-Type: application/json")
        try:
            token = _bearer(request)
            raw = await request.read()
            decision = await self._verifier.verify(token, parse_verify_body(raw))
        except web.HTTPRequestEntityTooLarge:
            return _error(413, "too_large", f"the body is larger than {MAX_BODY_BYTES} bytes")
        except BehalfError as exc:
            return _refused(exc)
        return web.json_response(decision_body(decision))

    async def approval(self, request: web.Request) -> web.Response:
        """One approval, so an HTTP client can wait for a human's answer."""
        try:
            token = _bearer(request)
            caller = self._verifier.known_caller(token)
            with self._verifier.in_flight(caller.tenant_id):
                approval = await self._approvals.get(token, request.match_info["approval_id"])
        except BehalfError as exc:
            return _refused(exc)
        return web.json_response(approval_body(approval))

    async def openapi(self, request: web.Request) -> web.Response:
        return web.json_response(OPENAPI)

    @web.middleware
    async def _observe(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Access log and latency; a crash is a 500 that still says `allowed: false`."""
        started = time.perf_counter()
        request_id = request.headers.get("X-Request-Id", "")[:128] or uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(http=request.path, request_id=request_id)
        route = request.match_info.route.resource
        name = route.canonical if route is not None else "unmatched"
        status = 500
        try:
            response: web.StreamResponse = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        except Exception:
            _log.exception("http_crashed")
            return _error(500, "internal", "internal error")
        finally:
            elapsed = time.perf_counter() - started
            HTTP_SECONDS.labels(name, str(status)).observe(elapsed)
            _log.debug("http_done", status=status, ms=round(elapsed * 1000, 3))
            structlog.contextvars.unbind_contextvars("http", "request_id")


class HttpListener:
    """The aiohttp server on its own port; shares it with sibling workers (SO_REUSEPORT). It
    serves TLS (mutual too) from the same files as the gRPC listener when they are set."""

    def __init__(
        self, api: HttpVerifyApi, host: str, port: int, tls: ssl.SSLContext | None = None
    ) -> None:
        self._runner = web.AppRunner(
            api.application(), access_log=None, keepalive_timeout=HTTP_KEEPALIVE_SECONDS
        )
        self._host = host
        self._port = port
        self._tls = tls

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, self._host, self._port, ssl_context=self._tls, reuse_port=True
        )
        await site.start()
        scheme = "https" if self._tls else "http"
        _log.info("listening", http=f"{scheme}://{self._host}:{self._port}")

    async def stop(self) -> None:
        await self._runner.cleanup()
