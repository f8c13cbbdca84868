"""The MCP face of the gateway: `tools/list` and `tools/call` over stdio or streamable HTTP.

A call is forwarded to its upstream, with its arguments unchanged, only after the gate allowed
it; every refusal is a tool error (`isError`) whose text the model reads.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import structlog
import uvicorn
from mcp import types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

from behalf.mcp_gateway.config import HttpServing
from behalf.mcp_gateway.gate import Gate, Refused
from behalf.mcp_gateway.upstreams import Upstreams

__all__ = ["build_server", "serve_http", "serve_stdio"]

_log = structlog.get_logger("behalf.mcp_gateway")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


def build_server(gate: Gate, upstreams: Upstreams, *, hide_unpermitted: bool) -> Server[Any]:
    """The low-level MCP server whose two tool handlers go through `gate`."""

    async def list_tools(
        ctx: Any, params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        tools = await upstreams.refresh()
        if hide_unpermitted:
            shown = await gate.visible(tool.name for tool in tools)
            tools = [tool for tool in tools if tool.name in shown]
        return types.ListToolsResult(tools=tools)

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        arguments = params.arguments or {}
        route = await upstreams.route(params.name)
        if route is None:
            return tool_error(f"unknown tool {params.name!r}")
        verdict = await gate.decide(params.name, arguments)
        if isinstance(verdict, Refused):
            return tool_error(verdict.text())
        try:
            return await route.session.call_tool(route.name, params.arguments)
        except Exception as exc:  # the call was allowed; its failure is the tool's result
            _log.warning("upstream_call_failed", tool=params.name, upstream=route.upstream)
            return tool_error(f"the upstream server failed to run the tool: {exc}")

    return Server(
        "behalf-mcp",
        version="0.1.0",
        instructions="Every tool call is checked by Behalf before it runs.",
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


def tool_error(text: str) -> types.CallToolResult:
    """A tool result with `isError` set: the model sees the text, nothing ran upstream."""
    return types.CallToolResult(content=[types.TextContent(text=text)], is_error=True)


async def serve_stdio(server: Server[Any]) -> None:
    """Serve one client on stdin/stdout until it disconnects."""
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


async def serve_http(server: Server[Any], settings: HttpServing, token: str | None) -> None:
    """Serve streamable HTTP at `settings`; with a token, requests must carry it as a bearer."""
    app: App = server.streamable_http_app(streamable_http_path=settings.path, host=settings.host)
    if token:
        app = _require_bearer(app, token)
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, log_config=None, access_log=False
    )
    _log.info("serving_http", host=settings.host, port=settings.port, path=settings.path)
    await uvicorn.Server(config).serve()


def _require_bearer(app: App, token: str) -> App:
    expected = f"Bearer {token}".encode()

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or ()).get(b"authorization", b"")
            if not hmac.compare_digest(given, expected):
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [(b"www-authenticate", b"Bearer"), (b"content-length", b"0")],
                    }
                )
                await send({"type": "http.response.body", "body": b""})
                return
        await app(scope, receive, send)

    return guarded
