"""The framework guards read a tool call as the MCP gateway does: an argument the mapping
neither checks nor lists as unchecked refuses the call before any Verify, a count multiplies
the amount, and a whole number is major units in every framework."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
from agents import FunctionTool, function_tool
from agents.tool_context import ToolContext
from langchain_core.tools import BaseTool, tool

from behalf import AsyncBehalf, Money
from behalf.guards import langchain as lc_guards
from behalf.guards import openai_agents as oa_guards
from tests.unit.sdk.fake_server import Fake, decision

# LangChain fills in defaults, so every parameter of a LangChain tool is an argument of every call.
OPTIONS: dict[str, Any] = {
    "agent_id": "agt_1",
    "action": "purchase",
    "resource": lambda vendor, **_: vendor,
    "amount": lambda amount, **_: amount,
    "currency": "USD",
}

# A tool call: (the guarded tool of one framework, its arguments) -> what the model got back.
Call = Callable[[Any, dict[str, Any]], Awaitable[str]]


def _client(fake: Fake) -> AsyncBehalf:
    return AsyncBehalf("k", target=fake.target, registry_target=fake.target, retries=0)


def _fields(text: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)


def _openai_buy(ran: list[dict[str, Any]]) -> FunctionTool:
    @function_tool
    def buy(vendor: str, amount: int | str, quantity: int = 1, note: str = "") -> str:
        """Buy tickets."""
        ran.append({"vendor": vendor, "amount": amount, "quantity": quantity})
        return "bought"

    return buy


def _langchain_buy(ran: list[dict[str, Any]]) -> BaseTool:
    @tool
    async def buy(vendor: str, amount: int | str, quantity: int = 1, note: str = "") -> str:
        """Buy tickets."""
        ran.append({"vendor": vendor, "amount": amount, "quantity": quantity})
        return "bought"

    return buy


async def _call_openai(guarded: FunctionTool, arguments: dict[str, Any]) -> str:
    text = json.dumps(arguments)
    context = ToolContext(context=None, tool_name="buy", tool_call_id="c1", tool_arguments=text)
    return str(await guarded.on_invoke_tool(context, text))


async def _call_langchain(guarded: BaseTool, arguments: dict[str, Any]) -> str:
    call = {"name": guarded.name, "args": arguments, "id": "c1", "type": "tool_call"}
    return str((await guarded.ainvoke(call)).content)


FRAMEWORKS = [
    pytest.param(oa_guards.guarded_tool, _openai_buy, _call_openai, id="openai"),
    pytest.param(lc_guards.guarded_tool, _langchain_buy, _call_langchain, id="langchain"),
]


@pytest.mark.parametrize(("wrap", "make", "call"), FRAMEWORKS)
async def test_an_argument_the_mapping_does_not_check_refuses_the_call(
    fake: Fake, wrap, make, call
) -> None:
    """`quantity: 100` beside a mapped price is refused (ARGUMENT_REJECTED, naming it): no
    Verify is sent and the tool does not run."""
    fake.script(decision("ALLOW"))
    ran: list[dict[str, Any]] = []
    client = _client(fake)
    guarded = wrap(client, make(ran), **OPTIONS, unchecked_arguments=["note"])
    text = await call(guarded, {"vendor": "coachella.com", "amount": "10.00", "quantity": 100})
    await client.close()
    fields = _fields(text)
    assert (fields["outcome"], fields["reason_code"]) == ("ERROR", "ARGUMENT_REJECTED")
    assert fields["argument"] == "quantity"
    assert ran == [] and fake.requests == []


@pytest.mark.parametrize(("wrap", "make", "call"), FRAMEWORKS)
async def test_arguments_listed_as_unchecked_pass_and_no_others(
    fake: Fake, wrap, make, call
) -> None:
    """With `unchecked_arguments=["note"]` a call carrying a note runs; without it the same
    call is refused, naming the note."""
    fake.script(decision("ALLOW"), decision("ALLOW"))
    ran: list[dict[str, Any]] = []
    client = _client(fake)
    tool = make(ran)
    listed = wrap(client, tool, **OPTIONS, times="quantity", unchecked_arguments=["note"])
    unlisted = wrap(client, tool, **OPTIONS, times="quantity")
    noted = {"vendor": "coachella.com", "amount": "10.00", "quantity": 1, "note": "for Ana"}
    assert await call(listed, noted) == "bought"
    refused = await call(unlisted, noted)
    await client.close()
    assert (_fields(refused)["reason_code"], _fields(refused)["argument"]) == (
        "ARGUMENT_REJECTED",
        "note",
    )
    assert len(ran) == 1 and len(fake.requests) == 1


@pytest.mark.parametrize(("wrap", "make", "call"), FRAMEWORKS)
async def test_times_multiplies_the_verified_amount(fake: Fake, wrap, make, call) -> None:
    """`times="quantity"` checks the count: 3 tickets at 10.00 are verified as 30.00 USD."""
    fake.script(decision("ALLOW"))
    ran: list[dict[str, Any]] = []
    client = _client(fake)
    guarded = wrap(client, make(ran), **OPTIONS, times="quantity", unchecked_arguments=["note"])
    text = await call(guarded, {"vendor": "coachella.com", "amount": "10.00", "quantity": 3})
    await client.close()
    assert text == "bought" and ran[0]["quantity"] == 3
    assert (fake.requests[0].amount.amount_minor, fake.requests[0].amount.currency) == (3000, "USD")


@pytest.mark.parametrize("count", [-1, True, 2.5, "3", None])
async def test_a_count_that_is_not_a_non_negative_integer_refuses_the_call(
    fake: Fake, count: object
) -> None:
    """A negative, boolean, fractional, string or null count is refused before any Verify."""
    fake.script(decision("ALLOW"))
    ran: list[dict[str, Any]] = []

    @tool
    async def buy(vendor: str, amount: str, quantity: Any = 1) -> str:
        """Buy tickets."""
        ran.append({"quantity": quantity})
        return "bought"

    client = _client(fake)
    guarded = lc_guards.guarded_tool(client, buy, **OPTIONS, times="quantity")
    text = await _call_langchain(
        guarded, {"vendor": "coachella.com", "amount": "10.00", "quantity": count}
    )
    await client.close()
    assert _fields(text)["reason_code"] == "ARGUMENT_REJECTED"
    assert _fields(text)["argument"] == "quantity"
    assert ran == [] and fake.requests == []


async def test_a_currency_and_url_the_mapping_does_not_read_refuse_the_call(fake: Fake) -> None:
    """`pay(payee, amount, currency, url)` mapped with a constant USD: a call naming KWD and an
    attacker's URL is refused, never verified as USD for the payee."""
    fake.script(decision("ALLOW"))
    ran: list[str] = []

    @function_tool
    def pay(payee: str, amount: str, currency: str = "USD", url: str = "") -> str:
        """Pay."""
        ran.append(currency)
        return "paid"

    client = _client(fake)
    options = {**OPTIONS, "resource": lambda payee, **_: payee}
    guarded = oa_guards.guarded_tool(client, pay, **options)
    arguments = {"payee": "coachella.com", "amount": "900.000", "currency": "KWD", "url": "x"}
    text = await _call_openai(guarded, arguments)
    await client.close()
    assert _fields(text)["reason_code"] == "ARGUMENT_REJECTED"
    assert _fields(text)["argument"] == "currency"
    assert ran == [] and fake.requests == []


async def test_a_currency_the_mapping_reads_is_verified(fake: Fake) -> None:
    """Mapped (`currency=lambda currency, **_: currency`), the same call is asked about
    900.000 KWD."""
    fake.script(decision("ALLOW"))

    @function_tool
    def pay(payee: str, amount: str, currency: str = "USD") -> str:
        """Pay."""
        return "paid"

    client = _client(fake)
    options = {
        **OPTIONS,
        "resource": lambda payee, **_: payee,
        "currency": lambda currency, **_: currency,
    }
    guarded = oa_guards.guarded_tool(client, pay, **options)
    arguments = {"payee": "coachella.com", "amount": "900.000", "currency": "KWD"}
    assert await _call_openai(guarded, arguments) == "paid"
    await client.close()
    assert (fake.requests[0].amount.amount_minor, fake.requests[0].amount.currency) == (
        900000,
        "KWD",
    )


async def test_langchain_whole_number_amount_is_major_units(fake: Fake) -> None:
    """`buy(amount: int)` called with 500 is verified as 500.00 USD (50000 minor units), as
    the OpenAI guard and the gateway read it; never as 500 cents."""
    fake.script(decision("ALLOW"))
    ran: list[int] = []

    @tool
    async def buy(vendor: str, amount: int) -> str:
        """Buy tickets for `amount` US dollars."""
        ran.append(amount)
        return "bought"

    client = _client(fake)
    guarded = lc_guards.guarded_tool(client, buy, **OPTIONS)
    assert await _call_langchain(guarded, {"vendor": "coachella.com", "amount": 500}) == "bought"
    await client.close()
    assert fake.requests[0].amount.amount_minor == 50000 and ran == [500]


@pytest.mark.parametrize(("wrap", "make", "call"), FRAMEWORKS)
async def test_units_minor_reads_a_whole_number_as_minor_units(
    fake: Fake, wrap, make, call
) -> None:
    """A tool that takes integer cents says `units="minor"`: 79999 is 799.99 USD."""
    fake.script(decision("ALLOW"))
    client = _client(fake)
    unchecked = ["quantity", "note"]
    guarded = wrap(client, make([]), **OPTIONS, units="minor", unchecked_arguments=unchecked)
    await call(guarded, {"vendor": "coachella.com", "amount": 79999})
    await client.close()
    assert fake.requests[0].amount.amount_minor == 79999


async def test_a_money_amount_is_taken_as_it_is(fake: Fake) -> None:
    """A mapping that returns `Money` (or a Decimal) is not reinterpreted."""
    fake.script(decision("ALLOW"), decision("ALLOW"))
    client = _client(fake)
    for amount in (lambda amount, **_: Money(int(amount), "USD"), lambda amount, **_: Decimal(7)):
        options = {**OPTIONS, "amount": amount, "unchecked_arguments": ["quantity", "note"]}
        guarded = lc_guards.guarded_tool(client, _langchain_buy([]), **options)
        await _call_langchain(guarded, {"vendor": "coachella.com", "amount": "799"})
    await client.close()
    assert [r.amount.amount_minor for r in fake.requests] == [799, 700]


async def test_a_langchain_string_input_is_checked_by_its_argument_name(fake: Fake) -> None:
    """`tool.ainvoke("coachella.com")` for a one-argument tool reaches the mapping as
    `vendor`, so it is checked like the keyword call."""
    fake.script(decision("ALLOW"))

    @tool
    async def visit(vendor: str) -> str:
        """Visit a vendor."""
        return f"visited {vendor}"

    client = _client(fake)
    guarded = lc_guards.guarded_tool(
        client, visit, agent_id="agt_1", action="browse", resource=lambda vendor: vendor
    )
    assert await guarded.ainvoke("coachella.com") == "visited coachella.com"
    await client.close()
    assert fake.requests[0].resource == "coachella.com"


def test_guard_options_are_checked_when_the_tool_is_wrapped() -> None:
    """`unchecked_arguments` as one string, an unknown `units` and a non-string `times` are
    TypeErrors up front, not a guard that checks something else."""
    client = AsyncBehalf("k", target="127.0.0.1:1")
    buy = _langchain_buy([])
    for bad in ({"unchecked_arguments": "note"}, {"units": "cents"}, {"times": 3}):
        with pytest.raises(TypeError):
            lc_guards.guarded_tool(client, buy, **OPTIONS, **bad)
