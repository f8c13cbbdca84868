"""The upstream MCP servers: connect (stdio child or streamable HTTP), list and call their tools.

Each upstream's tools are exposed under `tool_prefix + name`; two upstreams exposing the same
name is an error, so a call never reaches a server it was not meant for. A stdio child gets
only the MCP SDK's safe default environment plus what the configuration gives it: the gateway's
verify key is never passed on.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass

import httpx2
from mcp import ClientSession, StdioServerParameters, stdio_client, types
from mcp.client.streamable_http import streamable_http_client

from behalf.mcp_gateway.config import (
    ConfigError,
    HttpUpstream,
    StdioUpstream,
    Upstream,
    environ_value,
)

__all__ = ["Route", "UpstreamError", "Upstreams"]

_CLIENT_INFO = types.Implementation(name="behalf-mcp", version="0.1.0")
_MAX_PAGES = 100


class UpstreamError(RuntimeError):
    """An upstream server misbehaved (duplicate tool names, a failed connection)."""


@dataclass(frozen=True)
class Route:
    """Where an exposed tool lives: its upstream's session and its name there."""

    upstream: str
    session: ClientSession
    name: str


class Upstreams:
    """Open sessions to every upstream; the exposed tools and where each one goes."""

    def __init__(self, sessions: Mapping[str, tuple[Upstream, ClientSession]]) -> None:
        self._sessions = dict(sessions)
        self._routes: dict[str, Route] = {}
        self._tools: list[types.Tool] = []

    @classmethod
    async def connect(cls, upstreams: tuple[Upstream, ...], stack: AsyncExitStack) -> Upstreams:
        """Connect to each upstream; `stack` closes the sessions (and stops the children)."""
        sessions: dict[str, tuple[Upstream, ClientSession]] = {}
        for upstream in upstreams:
            try:
                if isinstance(upstream, HttpUpstream):
                    client = await stack.enter_async_context(_http_client(upstream))
                    transport = streamable_http_client(upstream.url, http_client=client)
                else:
                    transport = stdio_client(_stdio_parameters(upstream))
                read, write = await stack.enter_async_context(transport)
                session = await stack.enter_async_context(
                    ClientSession(read, write, client_info=_CLIENT_INFO)
                )
                await session.initialize()
            except ConfigError:
                raise
            except Exception as exc:
                raise UpstreamError(f"upstream {upstream.name!r}: cannot connect: {exc}") from exc
            sessions[upstream.name] = (upstream, session)
        return cls(sessions)

    async def refresh(self) -> list[types.Tool]:
        """List every upstream's tools again; the exposed tools, renamed with their prefixes."""
        routes: dict[str, Route] = {}
        tools: list[types.Tool] = []
        for upstream, session in self._sessions.values():
            for tool in await _list_all(session):
                exposed = upstream.tool_prefix + tool.name
                if exposed in routes:
                    other = routes[exposed].upstream
                    raise UpstreamError(
                        f"tool {exposed!r} is exposed by both {other!r} and {upstream.name!r}; "
                        "give one of them a tool_prefix"
                    )
                routes[exposed] = Route(upstream.name, session, tool.name)
                tools.append(tool.model_copy(update={"name": exposed}))
        self._routes, self._tools = routes, tools
        return list(tools)

    @property
    def tools(self) -> list[types.Tool]:
        """The exposed tools as last listed."""
        return list(self._tools)

    async def route(self, exposed: str) -> Route | None:
        """Where the exposed tool lives; a tool unseen so far triggers one fresh listing."""
        if exposed not in self._routes:
            await self.refresh()
        return self._routes.get(exposed)


async def _list_all(session: ClientSession) -> list[types.Tool]:
    tools: list[types.Tool] = []
    cursor: str | None = None
    for _ in range(_MAX_PAGES):
        params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
        page = await session.list_tools(params=params)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if not cursor:
            break
    return tools


def _stdio_parameters(upstream: StdioUpstream) -> StdioServerParameters:
    env = {name: os.environ[name] for name in upstream.inherit_env if name in os.environ}
    env.update(upstream.env)
    return StdioServerParameters(
        command=upstream.command, args=list(upstream.args), env=env, cwd=upstream.cwd
    )


def _http_client(upstream: HttpUpstream) -> httpx2.AsyncClient:
    headers = dict(upstream.headers)
    for header, variable in upstream.headers_from_env.items():
        where = f"upstreams.{upstream.name}.headers_from_env.{header}"
        headers[header] = environ_value(variable, where)
    # The MCP SDK's own defaults: 30 s to connect and write, 300 s to read a stream.
    return httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=300.0))
