"""The framework guards (`behalf.guards`): loaded only on demand, named extras when missing, and
a tool body that never runs on a test-mode decision, a failing mapping or a misused client."""

from __future__ import annotations

import asyncio
import importlib
import subprocess
import sys
from typing import Any

import grpc
import pytest
from agents import Agent, RunConfig, Runner, function_tool
from agents.testing import ScriptedModel, assistant_message, function_call
from langchain_core.tools import tool

from behalf import AsyncBehalf, Behalf
from behalf.guards import Refusal
from behalf.guards import langchain as lc_guards
from behalf.guards import openai_agents as oa_guards
from behalf.v1 import resources_pb2
from tests.unit.sdk.fake_server import Fake, decision

OPTIONS = {
    "agent_id": "agt_1",
    "action": "purchase",
    "resource": lambda vendor, **_: vendor,
    "amount": lambda amount, **_: amount,
    "currency": "USD",
}
CALL = {"vendor": "coachella.com", "amount": "10.00"}


def _client(fake: Fake) -> AsyncBehalf:
    return AsyncBehalf("k", target=fake.target, registry_target=fake.target, retries=0)


def _fields(text: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)


def test_importing_behalf_loads_no_framework() -> None:
    """`import behalf` and `import behalf.guards` import neither agents nor langchain_core."""
    code = (
        "import sys, behalf, behalf.guards; "
        "assert not {'agents', 'langchain_core', 'openai'} & set(sys.modules), sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.parametrize(
    ("module", "framework", "extra"),
    [("openai_agents", "agents", "openai-agents"), ("langchain", "langchain_core", "langchain")],
)
def test_a_missing_framework_names_its_extra(monkeypatch, module, framework, extra) -> None:
    """Without its framework a guard module raises ImportError naming `pip install
    'behalf[<extra>]'`."""
    for name in [n for n in sys.modules if n == framework or n.startswith(f"{framework}.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, f"behalf.guards.{module}")
    with pytest.raises(ImportError, match=rf"pip install 'behalf\[{extra}\]'"):
        importlib.import_module(f"behalf.guards.{module}")


async def test_openai_tool_never_runs_on_a_test_mode_decision(fake: Fake) -> None:
    """A test-mode ALLOW authorizes nothing: the model reads outcome TEST_MODE, nothing runs."""
    fake.script(decision("ALLOW", test_mode=True))
    ran: list[str] = []

    @function_tool
    def buy(vendor: str, amount: str) -> str:
        """Buy."""
        ran.append(vendor)
        return "bought"

    client = _client(fake)
    guarded = oa_guards.guarded_tool(client, buy, **OPTIONS)
    model = ScriptedModel([[function_call("buy", CALL, call_id="c1")], [assistant_message("ok")]])
    result = await Runner.run(
        Agent(name="b", model=model, tools=[guarded]),
        "buy",
        run_config=RunConfig(tracing_disabled=True),
    )
    [output] = [i.output for i in result.new_items if i.type == "tool_call_output_item"]
    assert _fields(str(output))["outcome"] == "TEST_MODE" and ran == []
    await client.close()


async def test_openai_tool_is_verified_for_the_whole_number_the_model_sent(fake: Fake) -> None:
    """{"amount": 500} is 500.00 to the tool, as 500.0 is: Verify is asked about 500.00 USD,
    never 500 cents."""
    fake.script(decision("DENY", "AMOUNT_EXCEEDS_LIMIT"), decision("DENY", "AMOUNT_EXCEEDS_LIMIT"))

    @function_tool
    def buy(vendor: str, amount: float) -> str:
        """Buy."""
        return "bought"

    client = _client(fake)
    guarded = oa_guards.guarded_tool(client, buy, **OPTIONS)
    calls = [
        [function_call("buy", {"vendor": "coachella.com", "amount": 500}, call_id="c1")],
        [function_call("buy", {"vendor": "coachella.com", "amount": 500.0}, call_id="c2")],
        [assistant_message("ok")],
    ]
    await Runner.run(
        Agent(name="b", model=ScriptedModel(calls), tools=[guarded]),
        "buy",
        run_config=RunConfig(tracing_disabled=True),
    )
    assert [r.amount.amount_minor for r in fake.requests] == [50000, 50000]
    await client.close()


async def test_langchain_tool_never_runs_on_a_test_mode_decision(fake: Fake) -> None:
    """The same for a LangChain tool, through the blocking client (off the fake's loop)."""
    fake.script(decision("REQUIRE_APPROVAL", "APPROVAL_REQUIRED", test_mode=True))
    ran: list[str] = []

    @tool
    def buy(vendor: str, amount: str) -> str:
        """Buy."""
        ran.append(vendor)
        return "bought"

    with Behalf("k", target=fake.target, registry_target=fake.target, retries=0) as client:
        guarded = lc_guards.guarded_tool(client, buy, **OPTIONS)
        call = {"name": "buy", "args": CALL, "id": "c1", "type": "tool_call"}
        message = await asyncio.to_thread(guarded.invoke, call)
    assert message.status == "error" and ran == []
    assert _fields(message.content)["outcome"] == "TEST_MODE"


async def test_a_failing_mapping_sends_nothing_and_runs_nothing(fake: Fake) -> None:
    """A mapping callable that raises (it reads a field the call lacks) refuses the call before any
    Verify is sent."""
    fake.script(decision("ALLOW"))
    ran: list[str] = []

    @tool
    async def buy(vendor: str, amount: str | None = None) -> str:
        """Buy."""
        ran.append(vendor)
        return "bought"

    client = _client(fake)
    options = {**OPTIONS, "amount": lambda amount, **a: a["price"]}  # a field the tool lacks
    guarded = lc_guards.guarded_tool(client, buy, **options)
    call = {"name": "buy", "args": {"vendor": "x.com"}, "id": "c1", "type": "tool_call"}
    message = await guarded.ainvoke(call)
    assert _fields(message.content)["reason_code"] == "ARGUMENTS_UNMAPPED"
    assert "KeyError" in message.content and ran == [] and fake.requests == []
    await client.close()


def test_sync_langchain_call_with_the_asyncio_client_fails_before_running(fake: Fake) -> None:
    """`invoke` needs the blocking client: with AsyncBehalf it raises TypeError, nothing runs."""
    ran: list[str] = []

    @tool
    def buy(vendor: str, amount: str) -> str:
        """Buy."""
        ran.append(vendor)
        return "bought"

    guarded = lc_guards.guarded_tool(_client(fake), buy, **OPTIONS)
    with pytest.raises(TypeError, match="blocking Behalf client"):
        guarded.invoke(CALL)
    assert ran == []


async def test_a_remembered_approval_is_read_before_it_is_sent(fake: Fake) -> None:
    """After REQUIRE_APPROVAL the same call is refused without a Verify while the approval
    pends, carries the approval id once it is approved, and runs the body once."""
    pending, approved = resources_pb2.APPROVAL_STATE_PENDING, resources_pb2.APPROVAL_STATE_APPROVED
    fake.approval_states[:] = [pending, approved]
    fake.script(
        decision("REQUIRE_APPROVAL", "APPROVAL_REQUIRED", approval_id="apr_1"),
        decision("ALLOW", "APPROVAL_CONSUMED"),
        decision("REQUIRE_APPROVAL", "APPROVAL_REQUIRED", approval_id="apr_2"),
    )
    ran: list[str] = []

    @tool
    async def buy(vendor: str, amount: str) -> str:
        """Buy."""
        ran.append(vendor)
        return "bought"

    client = _client(fake)
    guarded = lc_guards.guarded_tool(client, buy, **OPTIONS)
    outputs = [await guarded.ainvoke(CALL) for _ in range(4)]
    await client.close()
    assert [r.approval_id for r in fake.requests] == ["", "apr_1", ""]
    assert ran == ["coachella.com"] and outputs[2] == "bought"
    assert _fields(str(outputs[1]))["reason_code"] == "APPROVAL_PENDING"


def test_refusal_message_lists_what_the_model_needs() -> None:
    """The text names outcome, reason code, reason, request id and approval id, one per line."""
    refusal = Refusal("REQUIRE_APPROVAL", "APPROVAL_REQUIRED", "needs a human", "req_1", "apr_1")
    assert _fields(refusal.message) == {
        "outcome": "REQUIRE_APPROVAL",
        "reason_code": "APPROVAL_REQUIRED",
        "reason": "needs a human",
        "request_id": "req_1",
        "approval_id": "apr_1",
    }


def test_guarded_tool_refuses_what_is_not_a_tool() -> None:
    """Each framework's guarded_tool takes only its own tool type."""
    client = AsyncBehalf("k", target="127.0.0.1:1")
    with pytest.raises(TypeError):
        oa_guards.guarded_tool(client, lambda: None, **OPTIONS)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        lc_guards.guarded_tool(client, lambda: None, **OPTIONS)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (grpc.StatusCode.UNAVAILABLE, "VERIFICATION_UNAVAILABLE"),
        (grpc.StatusCode.UNAUTHENTICATED, "AUTHENTICATION_FAILED"),
        (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REQUEST"),
    ],
)
async def test_no_decision_is_an_error_refusal(fake: Fake, status, code) -> None:
    """An error status instead of a decision refuses the call with outcome ERROR."""
    fake.script(status)
    ran: list[str] = []

    @tool
    async def buy(vendor: str, amount: str) -> str:
        """Buy."""
        ran.append(vendor)
        return "bought"

    client = _client(fake)
    guarded = lc_guards.guarded_tool(client, buy, **OPTIONS)
    message = await guarded.ainvoke({"name": "buy", "args": CALL, "id": "c1", "type": "tool_call"})
    await client.close()
    assert (_fields(message.content)["outcome"], _fields(message.content)["reason_code"]) == (
        "ERROR",
        code,
    )
    assert ran == []


@pytest.mark.parametrize("module", [oa_guards, lc_guards])
def test_request_id_is_not_a_tool_guard_option(module) -> None:
    """The agent writes the arguments, so a request id derived from them (or a fixed one) would
    let identical calls share one decision and budget reservation: `request_id` is refused."""
    client = AsyncBehalf("k", target="127.0.0.1:1")

    @function_tool
    def buy_oa(vendor: str, amount: str, order_ref: str) -> str:
        """Buy."""
        return "bought"

    @tool
    def buy_lc(vendor: str, amount: str, order_ref: str) -> str:
        """Buy."""
        return "bought"

    buy = buy_oa if module is oa_guards else buy_lc
    with pytest.raises(TypeError, match="context"):
        module.guarded_tool(client, buy, **OPTIONS, request_id=lambda order_ref, **_: order_ref)


async def test_identical_tool_calls_send_fresh_request_ids(fake: Fake) -> None:
    """Three identical calls are three Verify requests, each with its own new request id."""
    fake.script(decision("ALLOW"), decision("ALLOW"), decision("ALLOW"))

    @tool
    async def buy(vendor: str, amount: str) -> str:
        """Buy."""
        return "bought"

    client = _client(fake)
    guarded = lc_guards.guarded_tool(client, buy, **OPTIONS)
    for _ in range(3):
        await guarded.ainvoke(CALL)
    await client.close()
    ids = [r.request_id for r in fake.requests]
    assert len(set(ids)) == 3 and all(i.startswith("req_") for i in ids)


@pytest.mark.parametrize(
    ("outcome", "test_mode", "expected"),
    [
        ("DENY", False, "DENY"),
        ("REQUIRE_APPROVAL", False, "REQUIRE_APPROVAL"),
        ("ALLOW", True, "TEST_MODE"),
    ],
)
async def test_a_lax_verifier_never_runs_the_tool(outcome, test_mode, expected) -> None:
    """A verifier object that returns a non-ALLOW (or test-mode) decision instead of raising
    still refuses the call: the tool guard checks the decision itself."""
    from behalf import Decision

    class Lax:
        async def verify(self, agent_id: str, action: str, *args: Any, **options: Any) -> Decision:
            return Decision(options.get("request_id", ""), outcome, "", "", "", test_mode=test_mode)

    ran: list[str] = []

    @tool
    async def buy(vendor: str, amount: str) -> str:
        """Buy."""
        ran.append(vendor)
        return "bought"

    guarded = lc_guards.guarded_tool(Lax(), buy, **OPTIONS)
    message = await guarded.ainvoke({"name": "buy", "args": CALL, "id": "c1", "type": "tool_call"})
    assert _fields(message.content)["outcome"] == expected and ran == []
