"""`behalf-mcp --transport http` in front of an upstream reached over streamable HTTP, against
the real stack: the same gate, a bearer token at the door, and tools/list filtering."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx2
import pytest

from tests.harness.stack import Stack, Tenant
from tests.integration.mcp_gateway.gateway_support import (
    GATEWAY,
    UPSTREAM,
    Passport,
    child,
    free_port,
    gateway_env,
    http_session,
    recorded,
    text,
    write_config,
)

pytestmark = pytest.mark.integration

TOKEN = "gateway-test-token"


async def test_streamable_http_both_ways_with_a_token_and_hidden_tools(
    stack: Stack, tenant: Tenant, passport: Passport, tmp_path: Path
):
    """Over HTTP on both sides: a request without the token is refused with 401; tools/list
    hides a tool whose action the agent holds no permission for; an allowed purchase arrives
    unchanged, an over-limit one and a call of the hidden tool never arrive."""
    upstream_port, gateway_port = free_port(), free_port()
    config = write_config(
        tmp_path,
        stack,
        passport.agent_id,
        upstream_url=f"http://127.0.0.1:{upstream_port}/mcp",
        hide_unpermitted_tools=True,
        http={"port": gateway_port, "token_env": "MCP_TEST_TOKEN"},
        more_tools={
            "delete_account": {"action": "delete_records", "unchecked_arguments": ["user"]}
        },
    )
    upstream_env = {"RECORD_FILE": str(tmp_path / "calls.jsonl")}
    gateway = [str(GATEWAY), "--config", str(config), "--transport", "http"]
    url = f"http://127.0.0.1:{gateway_port}/mcp"
    with (
        child(
            [sys.executable, str(UPSTREAM), "--http", str(upstream_port)],
            upstream_env,
            upstream_port,
            tmp_path / "upstream.log",
        ),
        child(
            gateway,
            {**gateway_env(tenant), "MCP_TEST_TOKEN": TOKEN},
            gateway_port,
            tmp_path / "gateway.log",
        ),
    ):
        async with httpx2.AsyncClient() as plain:
            refused = await plain.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
        assert refused.status_code == 401

        async with http_session(url, TOKEN) as session:
            listed = {tool.name for tool in (await session.list_tools()).tools}
            assert listed == {"buy_ticket", "refund", "send_email", "search_events"}

            purchase = {"url": "https://COACHELLA.com:443/t?x=1", "price": "120", "quantity": 1}
            allowed = await session.call_tool("buy_ticket", purchase)
            assert not allowed.is_error, text(allowed)
            over = await session.call_tool("buy_ticket", {**purchase, "price": 900})
            assert over.is_error and "AMOUNT_EXCEEDS_LIMIT" in text(over)
            hidden = await session.call_tool("delete_account", {"user": "ana"})
            assert hidden.is_error and "reason_code: NO_PERMISSION" in text(hidden)

    assert recorded(tmp_path) == [{"tool": "buy_ticket", "arguments": purchase}]
