"""From a tool call to its Verify question: exact amounts, and no argument read loosely."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from behalf import Money
from behalf.mcp_gateway.config import (
    AmountMapping,
    CurrencyMapping,
    Extract,
    ResourceMapping,
    ToolPolicy,
    Units,
)
from behalf.mcp_gateway.mapping import Question, question_for
from behalf.mcp_gateway.resources import ArgumentRejected

BUY = ToolPolicy(
    tool="buy_ticket",
    action="purchase",
    resource=ResourceMapping(argument="url", extract=Extract.URL_HOST),
    amount=AmountMapping(argument="price"),
    currency=CurrencyMapping(constant="USD"),
)
URL = "https://coachella.com/t"


@pytest.mark.parametrize(
    ("price", "minor"),
    [
        (799.99, 79999),
        ("799.99", 79999),
        (800, 80000),
        ("800.0", 80000),
        (0.1, 10),
    ],
)
def test_major_unit_amounts_convert_exactly(price: object, minor: int):
    """Numbers and decimal strings in major units become exact minor units, floats through
    their shortest decimal form."""
    question = question_for(BUY, {"url": URL, "price": price})
    assert question == Question("purchase", "coachella.com", Money(minor, "USD"))


@pytest.mark.parametrize(
    "price",
    [
        *(None, True, "cheap", "799.999", -1, "-0.01", float("nan"), float("inf"), [799], {"v": 1}),
        # Strings another parser reads otherwise: "1.500" is 1500 where "." groups thousands.
        *("1.500", "800.000", "1e2", "1_000", " 5", "5 ", "+5", "05", ".5", "5.", "\u0665"),
    ],
)
def test_an_amount_that_cannot_be_read_exactly_refuses_the_call(price: object):
    """A missing, boolean, non-numeric, over-precise, negative or non-finite amount is refused,
    naming the argument; it never becomes a call without an amount."""
    arguments: dict[str, Any] = {"url": URL}
    if price is not None:
        arguments["price"] = price
    with pytest.raises(ArgumentRejected, match="'price'"):
        question_for(BUY, arguments)


def test_minor_units_take_integers_only():
    """With units: minor, 79999 is 799.99 USD and "79999" or 799.5 are refused."""
    policy = ToolPolicy(
        "t",
        "purchase",
        amount=AmountMapping("cents", Units.MINOR),
        currency=CurrencyMapping(constant="USD"),
    )
    assert question_for(policy, {"cents": 79999}).amount == Money(79999, "USD")
    for bad in ("79999", 799.5):
        with pytest.raises(ArgumentRejected):
            question_for(policy, {"cents": bad})


def test_a_currency_argument_is_checked_and_blamed():
    """A currency taken from an argument must be its code as written (the tool receives it as
    it is); anything else names that argument."""
    policy = ToolPolicy(
        "t",
        "purchase",
        amount=AmountMapping("price"),
        currency=CurrencyMapping(argument="currency"),
    )
    assert question_for(policy, {"price": "5", "currency": "JPY"}).amount == Money(5, "JPY")
    for spelt_otherwise in ("jpy", " JPY", "JPY\n", "DOGE"):
        with pytest.raises(ArgumentRejected, match="'currency'"):
            question_for(policy, {"price": "5", "currency": spelt_otherwise})
    with pytest.raises(ArgumentRejected, match="'currency'"):
        question_for(policy, {"price": "5", "currency": 840})
    with pytest.raises(ArgumentRejected, match="'price'"):
        question_for(policy, {"price": "0.5", "currency": "JPY"})


def test_resources_come_from_a_constant_an_argument_or_nowhere():
    """A constant is used as given, an argument is read strictly, and no mapping asks with no
    resource; a missing or crafted resource argument refuses the call."""
    constant = ToolPolicy("t", "browse_web", resource=ResourceMapping(constant="coachella.com"))
    assert question_for(constant, {}).resource == "coachella.com"
    assert question_for(ToolPolicy("t", "generate_summary"), {}).resource == ""
    mail = ToolPolicy(
        "t", "send_email", ResourceMapping(argument="to", extract=Extract.EMAIL_DOMAIN)
    )
    assert question_for(mail, {"to": "ana@example.org"}).resource == "example.org"
    for arguments in ({}, {"to": None}, {"to": "ana@example.org@evil.com"}, {"to": ["a@b.c"]}):
        with pytest.raises(ArgumentRejected, match="'to'"):
            question_for(mail, arguments)


@given(price=st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False))
def test_any_two_decimal_price_is_asked_as_exactly_that_amount(price: Any):
    """Every price with at most two decimals, as a string or as a float, is asked exactly."""
    minor = int(price * 100)
    assert question_for(BUY, {"url": URL, "price": str(price)}).amount == Money(minor, "USD")
    # Up to 12 significant digits: the float's shortest decimal form is the price itself.
    as_float = float(price)
    assert question_for(BUY, {"url": URL, "price": as_float}).amount == Money(minor, "USD")


BUY_MANY = ToolPolicy(
    tool="buy_ticket",
    action="purchase",
    resource=ResourceMapping(argument="url", extract=Extract.URL_HOST),
    amount=AmountMapping(argument="price", times="quantity"),
    currency=CurrencyMapping(constant="USD"),
    unchecked_arguments=frozenset({"note"}),
)


def test_a_count_multiplies_the_amount_verify_is_asked_about():
    """Each ticket under the limit, many tickets over it: Verify sees the whole charge."""
    asked = question_for(BUY_MANY, {"url": URL, "price": "799.99", "quantity": 1000})
    assert asked.amount == Money(79_999_000, "USD")
    assert question_for(BUY_MANY, {"url": URL, "price": 5, "quantity": 0}).amount == Money(0, "USD")
    for quantity in (None, -1, 1.5, "2", True, [2]):
        with pytest.raises(ArgumentRejected, match="'quantity'"):
            question_for(BUY_MANY, {"url": URL, "price": "1", "quantity": quantity})
    with pytest.raises(ArgumentRejected, match=r"'price'.*too large"):
        question_for(BUY_MANY, {"url": URL, "price": "92233720368547758", "quantity": 2})


def test_an_argument_the_policy_does_not_know_refuses_the_call():
    """The agent cannot change what the call does beside what Verify was asked about."""
    ask = {"url": URL, "price": "10", "quantity": 1}
    assert question_for(BUY_MANY, {**ask, "note": "gift"}).amount == Money(1000, "USD")
    for extra in ({"vip": True}, {"Quantity": 9}, {"ship_to": None}):
        with pytest.raises(ArgumentRejected, match=repr(next(iter(extra)))):
            question_for(BUY_MANY, {**ask, **extra})
    with pytest.raises(ArgumentRejected, match="'quantity'"):
        question_for(BUY, {"url": URL, "price": "10", "quantity": 1})  # BUY reads no count
