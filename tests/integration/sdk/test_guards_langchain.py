"""LangChain guard: a fake chat model's tool calls, run as an agent loop runs them
(`tool.invoke(tool_call)`), reach a guarded tool's body only when the real verifier allows."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import BaseTool, ToolException, tool

from behalf.guards.langchain import GuardedTool, guarded_tool
from tests.harness.stack import Stack, Tenant
from tests.integration.sdk.guard_support import (
    CRAFTED,
    Purchases,
    approve,
    async_client,
    blocking_client,
    buyer,
    down_client,
    fields,
    guard_options,
)

pytestmark = pytest.mark.integration


def purchase_tool(purchases: Purchases) -> BaseTool:
    @tool
    def buy_tickets(vendor: str, amount: str | None = None) -> str:
        """Buy tickets from a vendor for an amount in USD."""
        return purchases.buy(vendor, amount)

    return buy_tickets


def scripted_model(name: str, *calls: dict[str, Any]) -> FakeMessagesListChatModel:
    """A chat model that asks for one tool call per turn with each of `calls`, then stops."""
    turns: list[BaseMessage] = [
        AIMessage("", tool_calls=[{"name": name, "args": args, "id": f"call_{n}"}])
        for n, args in enumerate(calls)
    ]
    return FakeMessagesListChatModel(responses=[*turns, AIMessage("done")])


def run_loop(guarded: BaseTool, *calls: dict[str, Any]) -> list[ToolMessage]:
    """The agent loop, sync: the model's tool calls go to `guarded.invoke`; the tool messages
    the model got back."""
    model, messages = scripted_model(guarded.name, *calls), [HumanMessage("buy")]
    while True:
        reply = model.invoke(messages)
        messages.append(reply)
        if not isinstance(reply, AIMessage) or not reply.tool_calls:
            break
        messages += [guarded.invoke({**call, "type": "tool_call"}) for call in reply.tool_calls]
    assert messages[-1].content == "done"
    return [m for m in messages if isinstance(m, ToolMessage)]


async def arun_loop(guarded: BaseTool, *calls: dict[str, Any]) -> list[ToolMessage]:
    """`run_loop` with `ainvoke`."""
    model, messages = scripted_model(guarded.name, *calls), [HumanMessage("buy")]
    while True:
        reply = await model.ainvoke(messages)
        messages.append(reply)
        if not isinstance(reply, AIMessage) or not reply.tool_calls:
            break
        for call in reply.tool_calls:
            messages.append(await guarded.ainvoke({**call, "type": "tool_call"}))
    return [m for m in messages if isinstance(m, ToolMessage)]


def test_sync_body_runs_on_allow_and_not_on_deny(stack: Stack, tenant: Tenant):
    """With the blocking client: an allowed purchase runs with the model's arguments; over the
    limit the model gets an error ToolMessage with the reason code and request id."""
    agent_id, revision = buyer(stack, tenant)
    purchases = Purchases()
    with blocking_client(stack, tenant) as client:
        guarded = guarded_tool(
            client, purchase_tool(purchases), **guard_options(agent_id, revision)
        )
        assert isinstance(guarded, GuardedTool) and guarded.name == "buy_tickets"
        assert guarded.tool_call_schema.model_json_schema()["properties"].keys() == {
            "vendor",
            "amount",
        }
        allowed, over = run_loop(
            guarded,
            {"vendor": "coachella.com", "amount": "799.99"},
            {"vendor": "coachella.com", "amount": "800.01"},
        )
    assert purchases.calls == [{"vendor": "coachella.com", "amount": "799.99"}]
    assert (allowed.status, allowed.content) == (
        "success",
        "bought tickets from coachella.com for 799.99 USD",
    )
    assert over.status == "error" and over.tool_call_id == "call_1"
    assert fields(str(over.content))["reason_code"] == "AMOUNT_EXCEEDS_LIMIT"
    assert fields(str(over.content))["request_id"].startswith("req_")


async def test_async_approval_flow_passes_once(stack: Stack, tenant: Tenant):
    """With the asyncio client: REQUIRE_APPROVAL names the approval; while it pends the same
    call is refused (APPROVAL_PENDING); approved, it runs once; the next needs a new one."""
    agent_id, revision = buyer(stack, tenant, requires_approval=True)
    purchases = Purchases()
    call = {"vendor": "coachella.com", "amount": "40.00"}
    async with async_client(stack, tenant) as client:
        guarded = guarded_tool(
            client, purchase_tool(purchases), **guard_options(agent_id, revision)
        )
        required, pending = await arun_loop(guarded, call, call)
        approval_id = fields(str(required.content))["approval_id"]
        assert required.status == pending.status == "error"
        assert fields(str(required.content))["outcome"] == "REQUIRE_APPROVAL"
        assert fields(str(pending.content))["approval_id"] == approval_id
        assert fields(str(pending.content))["reason_code"] == "APPROVAL_PENDING"
        assert purchases.calls == []
        approve(stack, tenant, approval_id)
        passed, again = await arun_loop(guarded, call, call)
    assert passed.status == "success" and purchases.calls == [call]
    assert fields(str(again.content))["reason_code"] == "APPROVAL_REQUIRED"


async def test_verifier_down_runs_nothing(tenant: Tenant):
    """An unreachable verifier is an error ToolMessage, never a call of the body."""
    purchases = Purchases()
    async with down_client(tenant) as client:
        guarded = guarded_tool(client, purchase_tool(purchases), **guard_options("agt_x", 0))
        [output] = await arun_loop(guarded, {"vendor": "coachella.com", "amount": "1.00"})
    assert output.status == "error"
    assert fields(str(output.content))["reason_code"] == "VERIFICATION_UNAVAILABLE"
    assert purchases.calls == []


async def test_crafted_arguments_never_reach_the_body(stack: Stack, tenant: Tenant):
    """Threat: over the limit, a look-alike host, URLs with userinfo, no amount (also when the
    currency follows the amount, so the verifier itself sees none), bad amounts: all refused,
    the body never runs."""
    agent_id, revision = buyer(stack, tenant)
    purchases = Purchases()
    no_currency = {
        **guard_options(agent_id, revision),
        "currency": lambda amount=None, **_: "USD" if amount else None,
    }
    async with async_client(stack, tenant) as client:
        guarded = guarded_tool(
            client, purchase_tool(purchases), **guard_options(agent_id, revision)
        )
        outputs = await arun_loop(guarded, *[call for call, _ in CRAFTED])
        lenient = guarded_tool(client, purchase_tool(purchases), **no_currency)
        [no_amount] = await arun_loop(lenient, {"vendor": "coachella.com"})
    assert purchases.calls == []
    assert [fields(str(o.content))["reason_code"] for o in outputs] == [c for _, c in CRAFTED]
    assert all(o.status == "error" for o in outputs)
    assert fields(str(no_amount.content))["outcome"] == "DENY", no_amount.content


def test_errors_of_the_body_follow_the_wrapped_tools_policy(stack: Stack, tenant: Tenant):
    """A ToolException of the body itself is handled as the wrapped tool says (its own text),
    not dressed up as a refusal; an unhandled one propagates."""
    agent_id, revision = buyer(stack, tenant)

    @tool
    def sold_out(vendor: str, amount: str | None = None) -> str:
        """Buy tickets from a vendor."""
        raise ToolException("sold out")

    with blocking_client(stack, tenant) as client:
        options = guard_options(agent_id, revision)
        call = {"vendor": "coachella.com", "amount": "10.00"}
        handled = guarded_tool(
            client, sold_out.model_copy(update={"handle_tool_error": True}), **options
        )
        [message] = run_loop(handled, call)
        assert (message.status, message.content) == ("error", "sold out")
        with pytest.raises(ToolException, match="sold out"):
            guarded_tool(client, sold_out, **options).invoke(call)
