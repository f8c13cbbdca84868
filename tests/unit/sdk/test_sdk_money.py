"""Amount conversion: Decimal and str convert exactly with the currency's exponent; floats and
inexact amounts are refused."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from behalf import InvalidRequest, Money, minor_unit_exponent, to_minor_units

CURRENCIES = ["USD", "EUR", "JPY", "KWD", "BHD", "JOD", "OMR", "TND", "IQD", "LYD", "GBP"]


@given(minor=st.integers(min_value=0, max_value=2**63 - 1), currency=st.sampled_from(CURRENCIES))
def test_decimal_to_minor_is_exact(minor: int, currency: str) -> None:
    """Any minor amount written as a major-unit Decimal (or str) converts back exactly."""
    major = Decimal(minor).scaleb(-minor_unit_exponent(currency))
    assert to_minor_units(major, currency) == minor
    assert to_minor_units(str(major), currency) == minor
    assert to_minor_units(minor, currency) == minor


@given(value=st.floats(allow_nan=True, allow_infinity=True), currency=st.sampled_from(CURRENCIES))
def test_floats_are_rejected(value: float, currency: str) -> None:
    """Every float is a TypeError, whatever its value."""
    with pytest.raises(TypeError):
        to_minor_units(value, currency)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("799.99", "USD", 79999),
        (Decimal("800"), "USD", 80000),
        ("799.990", "USD", 79999),
        ("1.234", "KWD", 1234),
        ("500", "JPY", 500),
        ("0", "USD", 0),
        ("1e2", "USD", 10000),
        (Decimal("1.0000000000000000000000000000000000"), "USD", 100),
        ("1" + "0" * 5000 + "e-5000", "USD", 100),  # past int()'s 4,300-digit limit, still 1
        ("500000", "UGX", 500000),  # ISO 4217: the Ugandan shilling has no minor unit
        ("1.2345", "CLF", 12345),  # and the Chilean unidad de fomento four
    ],
)
def test_examples(amount, currency: str, minor: int) -> None:
    """Known conversions, including trailing zeros beyond the exponent."""
    assert to_minor_units(amount, currency) == minor


@pytest.mark.parametrize(
    ("amount", "currency"),
    [
        ("799.999", "USD"),
        ("1.5", "JPY"),
        ("1.2345", "KWD"),
        ("-1", "USD"),
        (-1, "USD"),
        ("NaN", "USD"),
        ("Infinity", "USD"),
        ("abc", "USD"),
        ("1.0000000000000000000000000001", "USD"),
        (2**63, "USD"),
        ("1e30", "USD"),
        ("1" * 5000, "USD"),
        ("0." + "1" * 5000, "USD"),
        ("1.5", "UGX"),
    ],
)
def test_inexact_negative_or_malformed_amounts_are_refused(amount, currency: str) -> None:
    """Too many decimals, negatives, non-numbers and overflows raise InvalidRequest."""
    with pytest.raises(InvalidRequest) as caught:
        to_minor_units(amount, currency)
    assert caught.value.field == "amount"


def test_bools_are_rejected() -> None:
    """True is not 1 cent."""
    with pytest.raises(TypeError):
        to_minor_units(True, "USD")


def test_money_of_and_str() -> None:
    """Money.of converts exactly and prints in major units."""
    assert Money.of("799.99", "usd") == Money(79999, "USD")
    assert str(Money(1234, "KWD")) == "1.234 KWD"
    assert str(Money(500, "JPY")) == "500 JPY"
    with pytest.raises(InvalidRequest):
        Money.of("1", "US")
