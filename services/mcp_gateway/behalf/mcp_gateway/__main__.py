"""Entry point of the behalf-mcp console script: `behalf-mcp --config gateway.yaml`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from contextlib import AsyncExitStack
from dataclasses import replace
from pathlib import Path

import grpc
import structlog

from behalf import AsyncBehalf, BehalfError
from behalf.mcp_gateway.config import ConfigError, GatewayConfig, environ_value
from behalf.mcp_gateway.config_file import load_config
from behalf.mcp_gateway.gate import Gate
from behalf.mcp_gateway.logs import configure_logging
from behalf.mcp_gateway.server import build_server, serve_http, serve_stdio
from behalf.mcp_gateway.upstreams import UpstreamError, Upstreams

_log = structlog.get_logger("behalf.mcp_gateway")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="behalf-mcp",
        description="An MCP gateway: every tools/call is verified by Behalf before it runs.",
    )
    parser.add_argument("--config", required=True, type=Path, help="the gateway's YAML file")
    parser.add_argument(
        "--transport",
        choices=("stdio", "http"),
        default="stdio",
        help="serve MCP clients on stdin/stdout (default) or streamable HTTP",
    )
    parser.add_argument("--host", help="HTTP listen address (overrides http.host)")
    parser.add_argument("--port", type=int, help="HTTP port (overrides http.port)")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        raise SystemExit(f"behalf-mcp: {args.config}: {exc}") from None
    if args.host or args.port:
        config = _with_listener(config, args.host, args.port)
    try:
        asyncio.run(_run(config, args.transport))
    except (ConfigError, UpstreamError, BehalfError) as exc:
        raise SystemExit(f"behalf-mcp: {exc}") from None
    except KeyboardInterrupt:
        pass


async def _run(config: GatewayConfig, transport: str) -> None:
    settings = config.verifier
    api_key = environ_value(settings.api_key_env, "verifier.api_key_env")
    token = None
    if transport == "http" and config.http.token_env:
        token = environ_value(config.http.token_env, "http.token_env")
    credentials = None
    if settings.ca_file is not None:
        credentials = grpc.ssl_channel_credentials(settings.ca_file.read_bytes())
    async with AsyncExitStack() as stack:
        client = AsyncBehalf(
            api_key,
            target=settings.target,
            registry_target=settings.registry_target,
            timeout=settings.timeout_seconds,
            credentials=credentials,
            insecure=settings.insecure,
        )
        stack.push_async_callback(client.close)
        upstreams = await Upstreams.connect(config.upstreams, stack)
        tools = await upstreams.refresh()
        _log.info(
            "gateway_ready",
            agent_id=config.agent_id,
            upstreams=[u.name for u in config.upstreams],
            tools=len(tools),
            unmapped=sorted(
                t.name
                for t in tools
                if t.name not in config.tools and t.name not in config.unrestricted_tools
            ),
        )
        gate = Gate(client, config.agent_id, config.tools, config.unrestricted_tools)
        server = build_server(gate, upstreams, hide_unpermitted=config.hide_unpermitted_tools)
        # Under stdio the gateway stops when its client closes stdin (SIGTERM's default ends it
        # at once: a stdio upstream then reads end-of-file and exits too); uvicorn handles
        # SIGTERM and SIGINT under HTTP. Either way the stack then closes every upstream.
        if transport == "http":
            await serve_http(server, config.http, token)
        else:
            await serve_stdio(server)
        _log.info("gateway_stopping")


def _with_listener(config: GatewayConfig, host: str | None, port: int | None) -> GatewayConfig:
    http = replace(config.http, host=host or config.http.host, port=port or config.http.port)
    return replace(config, http=http)


if __name__ == "__main__":
    main(sys.argv[1:])
