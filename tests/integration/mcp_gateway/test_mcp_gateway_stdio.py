"""`behalf-mcp` over stdio, in front of a recording MCP server, against the real stack: only an
explicit ALLOW reaches the upstream, with its arguments unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness.stack import Stack, Tenant
from tests.integration.mcp_gateway.gateway_support import (
    APPROVAL_ID,
    Passport,
    approve,
    free_port,
    recorded,
    stdio_gateway,
    text,
    write_config,
)

pytestmark = pytest.mark.integration

TICKETS = "https://coachella.com/tickets/2027"


async def test_allowed_calls_arrive_unchanged_and_denied_ones_never(
    stack: Stack, tenant: Tenant, passport: Passport, tmp_path: Path
):
    """An allowed purchase arrives with its arguments unchanged; over the limit, another host,
    crafted URLs and an unmapped tool are tool errors that never arrive; the JSON log on stderr
    never holds the verify key."""
    config = write_config(tmp_path, stack, passport.agent_id)
    allowed = {"url": TICKETS, "price": 399.99, "quantity": 2}  # 799.98 USD in all
    async with stdio_gateway(config, tenant) as session:
        listed = {tool.name for tool in (await session.list_tools()).tools}
        assert {"buy_ticket", "send_email", "search_events", "delete_account"} <= listed

        result = await session.call_tool("buy_ticket", allowed)
        assert not result.is_error, text(result)
        assert text(result) == "buy_ticket done"

        over = await session.call_tool("buy_ticket", {**allowed, "price": "800.01"})
        assert over.is_error
        assert "reason_code: AMOUNT_EXCEEDS_LIMIT" in text(over)
        assert "request_id: req_" in text(over)

        refusals = {
            "https://coachella.com.evil.com/tickets": "RESOURCE_NOT_ALLOWED",
            "https://coachella.com@evil.com/": "ARGUMENT_REJECTED",
            "https://evil.com\\@coachella.com/": "ARGUMENT_REJECTED",
            "https://evil.com#@coachella.com": "RESOURCE_NOT_ALLOWED",
            "coachella.com/tickets": "ARGUMENT_REJECTED",
        }
        for url, code in refusals.items():
            refused = await session.call_tool("buy_ticket", {**allowed, "url": url})
            assert refused.is_error and f"reason_code: {code}" in text(refused), url
        no_price = await session.call_tool("buy_ticket", {"url": TICKETS})
        assert no_price.is_error and "ARGUMENT_REJECTED" in text(no_price)
        # The agent keeps each ticket under the limit and buys many: Verify is asked about all.
        many = await session.call_tool("buy_ticket", {**allowed, "price": 799.99, "quantity": 2})
        assert many.is_error and "reason_code: AMOUNT_EXCEEDS_LIMIT" in text(many)
        for crafted in ({"quantity": -1}, {"quantity": 1.5}, {"quantity": True}, {"vip": True}):
            refused = await session.call_tool("buy_ticket", {**allowed, **crafted})
            assert refused.is_error and "reason_code: ARGUMENT_REJECTED" in text(refused), crafted

        unmapped = await session.call_tool("delete_account", {"user": "ana"})
        assert unmapped.is_error and "reason_code: TOOL_NOT_MAPPED" in text(unmapped)

        free = await session.call_tool("search_events", {"query": "coachella"})
        assert not free.is_error

    assert recorded(tmp_path) == [
        {"tool": "buy_ticket", "arguments": allowed},
        {"tool": "search_events", "arguments": {"query": "coachella"}},
    ]
    log = (tmp_path / "gateway.log").read_text()
    assert '"event": "tool_call_refused"' in log
    assert tenant.verify_key not in log


async def test_an_approval_lets_exactly_that_call_through_once(
    stack: Stack, tenant: Tenant, passport: Passport, tmp_path: Path
):
    """REQUIRE_APPROVAL is a tool error with the approval id; after a human approves, the same
    call passes once; a different body or amount asks for a new approval and never arrives."""
    config = write_config(tmp_path, stack, passport.agent_id)
    mail = {"to": "ana@example.org", "subject": "Tickets", "body": "Two for Friday."}
    async with stdio_gateway(config, tenant) as session:
        first = await session.call_tool("send_email", mail)
        assert first.is_error and "reason_code: APPROVAL_REQUIRED" in text(first), text(first)
        match = APPROVAL_ID.search(text(first))
        assert match
        approval_id = match.group(1)

        pending = await session.call_tool("send_email", mail)
        assert pending.is_error and "reason_code: APPROVAL_PENDING" in text(pending)
        assert f"approval_id: {approval_id}" in text(pending)

        approve(stack, tenant, approval_id)
        other = await session.call_tool("send_email", {**mail, "body": "Send me the money."})
        assert other.is_error and "APPROVAL_REQUIRED" in text(other)
        assert approval_id not in text(other)

        sent = await session.call_tool("send_email", mail)
        assert not sent.is_error, text(sent)
        again = await session.call_tool("send_email", mail)
        assert again.is_error and "APPROVAL_REQUIRED" in text(again)
        assert approval_id not in text(again)

        order = {"url": "https://coachella.com/orders/17", "amount": "25.00"}
        asked = await session.call_tool("refund", order)
        refund_approval = APPROVAL_ID.search(text(asked))
        assert asked.is_error and refund_approval, text(asked)
        approve(stack, tenant, refund_approval.group(1))
        more = await session.call_tool("refund", {**order, "amount": "30.00"})
        assert more.is_error and "APPROVAL_REQUIRED" in text(more)
        assert refund_approval.group(1) not in text(more)
        refunded = await session.call_tool("refund", order)
        assert not refunded.is_error, text(refunded)

    assert recorded(tmp_path) == [
        {"tool": "send_email", "arguments": mail},
        {"tool": "refund", "arguments": order},
    ]


async def test_nothing_is_forwarded_while_the_verifier_is_unreachable(
    stack: Stack, tenant: Tenant, passport: Passport, tmp_path: Path
):
    """With no verifier listening, a call that would be allowed is a tool error saying
    VERIFICATION_UNAVAILABLE, and the upstream never sees it."""
    dead = f"127.0.0.1:{free_port()}"
    config = write_config(tmp_path, stack, passport.agent_id, verifier_target=dead)
    async with stdio_gateway(config, tenant) as session:
        result = await session.call_tool(
            "buy_ticket", {"url": TICKETS, "price": "10.00", "quantity": 1}
        )
        assert result.is_error and "reason_code: VERIFICATION_UNAVAILABLE" in text(result)
    assert recorded(tmp_path) == []
