"""An agent-written tool call reaches the tool only with what Verify was asked about, read the
way the tool will read it: amounts, currencies, names, duplicate keys, cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from mcp import types

from behalf import ActionDenied, Decision
from behalf.mcp_gateway.config import (
    AmountMapping,
    CurrencyMapping,
    Extract,
    ResourceMapping,
    StdioUpstream,
    ToolPolicy,
)
from behalf.mcp_gateway.gate import Gate
from behalf.mcp_gateway.mapping import question_for
from behalf.mcp_gateway.resources import ArgumentRejected
from behalf.mcp_gateway.server import build_server
from behalf.mcp_gateway.upstreams import Upstreams

BUY = ToolPolicy(
    tool="buy",
    action="purchase",
    resource=ResourceMapping(argument="url", extract=Extract.URL_HOST),
    amount=AmountMapping(argument="price"),
    currency=CurrencyMapping(argument="currency"),
)
URL = "https://coachella.com/t"


@pytest.mark.parametrize("price", ["1.500", "2.000"])
def test_a_price_another_locale_reads_a_thousand_times_larger_is_refused(price: str):
    """Attack: {"price": "1.500", "currency": "USD"}. The gateway reads 1.50 USD (Decimal drops
    the zero third decimal), but a de-DE tool (or any parser that reads '.' as a thousands
    separator) charges 1500. More decimals than the currency has, even zeros, is a string two
    parsers read differently; the TypeScript SDK's parseMajorUnits already refuses it."""
    with pytest.raises(ArgumentRejected, match="'price'"):
        question_for(BUY, {"url": URL, "price": price, "currency": "USD"})


@pytest.mark.parametrize("currency", [" USD", "USD\n", "jpy"])
def test_a_currency_spelt_otherwise_than_verified_is_refused(currency: str):
    """Attack: {"price": "1000", "currency": "jpy"} or " USD". Verify is asked about the
    normalized code (1000 JPY, about 7 USD) but the raw string is forwarded; a tool that does
    not recognise it exactly (dict lookup with a default, case-sensitive match) charges in
    another currency. Only the canonical code may pass (or the gateway must forward it)."""
    with pytest.raises(ArgumentRejected, match="'currency'"):
        question_for(BUY, {"url": URL, "price": "1000", "currency": currency})


# --- the MCP face: the real call_tool handler with a fake upstream and a fake Verify ---------


@dataclass
class FakeSession:
    tools: list[str]
    calls: list[tuple[str, Any]] = field(default_factory=list)

    async def list_tools(self, params: Any = None) -> types.ListToolsResult:
        return types.ListToolsResult(
            tools=[types.Tool(name=n, input_schema={"type": "object"}) for n in self.tools]
        )

    async def call_tool(self, name: str, arguments: Any = None) -> types.CallToolResult:
        self.calls.append((name, arguments))
        return types.CallToolResult(content=[types.TextContent(text="ran")])


@dataclass
class SlowVerify:
    started: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    asked: list[str] = field(default_factory=list)

    async def verify(self, agent_id: str, action: str, **_: Any) -> Decision:
        self.asked.append(action)
        self.started.set()
        await self.release.wait()
        return Decision("req_1", "ALLOW", "ALLOWED", "ok", "LOW")

    async def check(self, agent_id: str, action: str, *, resource: str = "") -> Decision:
        raise ActionDenied(Decision("req_2", "DENY", "NO_PERMISSION", "no", "LOW", test_mode=True))

    async def get_approval(self, approval_id: str) -> Any:
        raise AssertionError("no approval expected")


def _handler(client: Any, session: FakeSession, policies: Mapping[str, ToolPolicy]) -> Any:
    upstream = StdioUpstream(name="shop", command="true")
    upstreams = Upstreams({"shop": (upstream, session)})  # type: ignore[dict-item]
    gate = Gate(client, "agt_1", policies, unrestricted=["search"])
    server = build_server(gate, upstreams, hide_unpermitted=False)
    entry = server.get_request_handler("tools/call")
    assert entry is not None
    return entry.handler


async def test_a_call_cancelled_while_verify_runs_is_never_forwarded():
    """Attack: send tools/call, then notifications/cancelled (or drop the connection) while
    Verify is in flight; the handler is cancelled and must not forward the call."""
    client, session = SlowVerify(), FakeSession(["buy"])
    call_tool = _handler(client, session, {"buy": BUY})
    params = types.CallToolRequestParams(
        name="buy", arguments={"url": URL, "price": "10.00", "currency": "USD"}
    )
    task = asyncio.create_task(call_tool(None, params))
    await asyncio.wait_for(client.started.wait(), 5)
    task.cancel()
    client.release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0)
    assert session.calls == []


@pytest.mark.parametrize("name", ["BUY", "buy ", "bu\u0443", "shop.buy", "search\u200b"])
async def test_a_tool_never_listed_under_that_name_is_not_forwarded(name: str):
    """Attack: call a mapped or unrestricted tool under a case, whitespace, look-alike or
    qualified alias, hoping the upstream resolves it to the real tool while the gateway finds
    no policy (or an unrestricted one). Nothing is verified or forwarded."""
    client, session = SlowVerify(), FakeSession(["buy", "search"])
    call_tool = _handler(client, session, {"buy": BUY})
    params = types.CallToolRequestParams(
        name=name, arguments={"url": URL, "price": "10.00", "currency": "USD"}
    )
    result = await call_tool(None, params)
    assert result.is_error
    assert session.calls == [] and client.asked == []


async def test_an_allowed_call_is_forwarded_with_exactly_the_verified_arguments():
    """Attack: duplicate keys / NaN / huge numbers in the JSON. Whatever the gate read is
    what is forwarded (same dict, same upstream name), so Verify saw what the tool gets."""
    client, session = SlowVerify(), FakeSession(["buy"])
    client.release.set()
    call_tool = _handler(client, session, {"buy": BUY})
    raw = (
        '{"name":"buy","arguments":{"url":"https://evil.com/","url":"' + URL + '",'
        '"price":"10.00","currency":"USD"}}'
    )
    params = types.CallToolRequestParams.model_validate_json(raw)
    result = await call_tool(None, params)
    assert not result.is_error
    assert session.calls == [("buy", {"url": URL, "price": "10.00", "currency": "USD"})]
