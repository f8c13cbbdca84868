"""OpenAI Agents SDK guard: a real `Runner.run` with the SDK's scripted model calls a guarded
function tool against the real verifier; the body runs only on ALLOW."""

from __future__ import annotations

import json
from typing import Any

import pytest
from agents import Agent, FunctionTool, RunConfig, Runner, function_tool
from agents.testing import ScriptedModel, assistant_message, function_call

from behalf import AsyncBehalf
from behalf.guards.openai_agents import guarded_tool
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

RUN = RunConfig(tracing_disabled=True)


def purchase_tool(purchases: Purchases) -> FunctionTool:
    @function_tool
    def buy_tickets(vendor: str, amount: str | None = None) -> str:
        """Buy tickets from a vendor for an amount in USD."""
        return purchases.buy(vendor, amount)

    return buy_tickets


async def run_calls(tool: FunctionTool, *calls: dict[str, Any]) -> list[str]:
    """Run an agent whose model calls `tool` once per turn with each of `calls`, then stops;
    what the model got back from each call."""
    steps: list[Any] = [
        [function_call(tool.name, arguments, call_id=f"call_{n}")]
        for n, arguments in enumerate(calls)
    ]
    model = ScriptedModel([*steps, [assistant_message("done")]])
    agent = Agent(name="buyer", instructions="buy tickets", model=model, tools=[tool])
    result = await Runner.run(agent, "buy", run_config=RUN, max_turns=len(calls) + 2)
    assert result.final_output == "done"
    model.assert_complete()
    outputs = [item.output for item in result.new_items if item.type == "tool_call_output_item"]
    assert len(outputs) == len(calls)
    # The model's next turn is given exactly those outputs.
    sent = [i for i in model.calls[-1].input if isinstance(i, dict)]
    assert [i["output"] for i in sent if i.get("type") == "function_call_output"] == outputs
    return [str(output) for output in outputs]


async def test_body_runs_on_allow_with_the_models_arguments(stack: Stack, tenant: Tenant):
    """An allowed purchase runs the tool with the model's arguments, and the model gets its
    result."""
    agent_id, revision = buyer(stack, tenant)
    purchases = Purchases()
    async with async_client(stack, tenant) as client:
        tool = guarded_tool(client, purchase_tool(purchases), **guard_options(agent_id, revision))
        [output] = await run_calls(tool, {"vendor": "coachella.com", "amount": "799.99"})
    assert purchases.calls == [{"vendor": "coachella.com", "amount": "799.99"}]
    assert output == "bought tickets from coachella.com for 799.99 USD"


async def test_deny_tells_the_model_why_and_runs_nothing(stack: Stack, tenant: Tenant):
    """Over the limit and another vendor: the model gets the outcome, reason code, reason and
    request id, and the body never runs; the blocking client guards the same way."""
    agent_id, revision = buyer(stack, tenant)
    purchases = Purchases()
    with blocking_client(stack, tenant) as client:
        tool = guarded_tool(client, purchase_tool(purchases), **guard_options(agent_id, revision))
        over, elsewhere = await run_calls(
            tool,
            {"vendor": "coachella.com", "amount": "800.01"},
            {"vendor": "ticketmaster.com", "amount": "10.00"},
        )
    assert purchases.calls == []
    assert over.startswith("Behalf did not allow this tool call, so the tool did not run.")
    assert fields(over)["outcome"] == "DENY"
    assert fields(over)["reason_code"] == "AMOUNT_EXCEEDS_LIMIT"
    assert fields(over)["reason"] and fields(over)["request_id"].startswith("req_")
    assert fields(elsewhere)["reason_code"] == "RESOURCE_NOT_ALLOWED"


async def test_approval_required_then_the_same_call_passes_once(stack: Stack, tenant: Tenant):
    """REQUIRE_APPROVAL gives the model the approval id; the same call while it is pending is
    refused (APPROVAL_PENDING); once a human approves it the same call runs, exactly once."""
    agent_id, revision = buyer(stack, tenant, requires_approval=True)
    purchases = Purchases()
    call = {"vendor": "coachella.com", "amount": "25.00"}
    async with async_client(stack, tenant) as client:
        tool = guarded_tool(client, purchase_tool(purchases), **guard_options(agent_id, revision))
        required, pending = await run_calls(tool, call, call)
        approval_id = fields(required)["approval_id"]
        assert fields(required)["outcome"] == "REQUIRE_APPROVAL"
        assert fields(required)["reason_code"] == "APPROVAL_REQUIRED"
        assert approval_id.startswith("apr_") and "same call again" in required
        assert fields(pending)["reason_code"] == "APPROVAL_PENDING"
        assert fields(pending)["approval_id"] == approval_id
        assert purchases.calls == []

        approve(stack, tenant, approval_id)
        passed, again = await run_calls(tool, call, call)
    assert passed == "bought tickets from coachella.com for 25.00 USD"
    assert purchases.calls == [call]
    assert fields(again)["reason_code"] == "APPROVAL_REQUIRED"
    assert fields(again)["approval_id"] != approval_id


async def test_a_denied_approval_is_forgotten(stack: Stack, tenant: Tenant):
    """After a human denies the approval, the same call asks for a new approval, which then
    pends."""
    agent_id, revision = buyer(stack, tenant, requires_approval=True)
    purchases = Purchases()
    call = {"vendor": "coachella.com", "amount": "30.00"}
    async with async_client(stack, tenant) as client:
        tool = guarded_tool(client, purchase_tool(purchases), **guard_options(agent_id, revision))
        [required] = await run_calls(tool, call)
        approve(stack, tenant, fields(required)["approval_id"], approve=False)
        fresh, pending = await run_calls(tool, call, call)
    assert fields(fresh)["reason_code"] == "APPROVAL_REQUIRED"
    assert fields(fresh)["approval_id"] not in ("", fields(required)["approval_id"])
    assert fields(pending)["reason_code"] == "APPROVAL_PENDING"
    assert fields(pending)["approval_id"] == fields(fresh)["approval_id"]
    assert purchases.calls == []


async def test_verifier_down_runs_nothing(tenant: Tenant):
    """With no verifier to ask, the model is told so and the body does not run."""
    purchases = Purchases()
    client: AsyncBehalf = down_client(tenant)
    async with client:
        tool = guarded_tool(client, purchase_tool(purchases), **guard_options("agt_x", 0))
        [output] = await run_calls(tool, {"vendor": "coachella.com", "amount": "1.00"})
    assert fields(output)["outcome"] == "ERROR"
    assert fields(output)["reason_code"] == "VERIFICATION_UNAVAILABLE"
    assert purchases.calls == []


async def test_crafted_arguments_never_reach_the_body(stack: Stack, tenant: Tenant):
    """Threat: the model crafts arguments to get past the guard (over the limit, a look-alike
    host, URLs with userinfo, no amount, a negative or over-precise amount, not an object, a
    number instead of a string); every call is refused and the body never runs."""
    agent_id, revision = buyer(stack, tenant)
    purchases = Purchases()
    async with async_client(stack, tenant) as client:
        tool = guarded_tool(client, purchase_tool(purchases), **guard_options(agent_id, revision))
        number = {"vendor": "coachella.com", "amount": 800.01}  # a JSON number: exact, over
        outputs = await run_calls(tool, *[call for call, _ in CRAFTED], number)
        [not_an_object] = await run_raw(tool, json.dumps(["coachella.com", "10.00"]))
    assert purchases.calls == []
    expected = [code for _, code in CRAFTED] + ["AMOUNT_EXCEEDS_LIMIT"]
    assert [fields(output)["reason_code"] for output in outputs] == expected
    assert fields(not_an_object)["reason_code"] == "ARGUMENTS_UNMAPPED"


async def run_raw(tool: FunctionTool, arguments: str) -> list[str]:
    """Like `run_calls`, with the arguments as raw JSON text."""
    model = ScriptedModel(
        [[function_call(tool.name, arguments, call_id="call_raw")], [assistant_message("done")]]
    )
    agent = Agent(name="buyer", model=model, tools=[tool])
    result = await Runner.run(agent, "buy", run_config=RUN)
    return [str(i.output) for i in result.new_items if i.type == "tool_call_output_item"]
