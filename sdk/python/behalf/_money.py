"""Amounts as integer minor units of an ISO-4217 currency; exact, never via float.

`to_minor_units(Decimal("799.99"), "USD") == 79999`. An `int` is already in minor units.
A `str` or `Decimal` is a major-unit amount, converted with the currency's minor-unit exponent
and refused (`InvalidRequest`) if it has more decimals than the currency allows. A `float` is
refused with `TypeError`: 0.1 + 0.2 is not 0.3, and money must not depend on it.

An amount a tool call carries is read by `tool_amount` instead: there a whole number is major
units (the model's `{"amount": 500}` is 500.00 to the tool), as the MCP gateway reads it.
"""

from __future__ import annotations

import decimal
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, get_args

from behalf._errors import InvalidRequest

__all__ = [
    "ISO_4217",
    "AmountLike",
    "Money",
    "Units",
    "is_currency",
    "minor_unit_exponent",
    "to_minor_units",
    "tool_amount",
]

# ISO-4217 currencies whose minor unit is not 1/100 (the standard's list one). Everything else
# uses 2, including the codes the standard gives no minor unit (gold, test codes).
_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(
        "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split(), 0
    ),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
    **dict.fromkeys("CLF UYW".split(), 4),
}
# ISO-4217 alphabetic codes of current currencies (plus funds, precious metals and test codes):
# the one table. The services check currencies against it too (behalf.common.currencies).
ISO_4217 = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN
    BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP
    ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK
    JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK
    MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN
    PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB
    TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XAG
    XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XTS XUA XXX YER ZAR ZMW ZWG ZWL
    """.split()
)
_INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class Money:
    """An amount in integer minor units of one currency (79999 USD cents = 799.99 USD)."""

    amount_minor: int
    currency: str

    @classmethod
    def of(cls, amount: AmountLike, currency: str) -> Money:
        """`Money.of("799.99", "USD")`: convert exactly, as `to_minor_units` does."""
        code = normalize_currency(currency)
        return cls(to_minor_units(amount, code), code)

    def __str__(self) -> str:
        exponent = minor_unit_exponent(self.currency)
        major = Decimal(self.amount_minor).scaleb(-exponent)
        return f"{major:.{exponent}f} {self.currency}"


AmountLike = int | Decimal | str | Money

# What a tool's amount argument counts: "major" (799.99; a whole number 500 is 500.00) or
# "minor" (integer minor units, 79999). The MCP gateway's `units:` names the same two.
Units = Literal["major", "minor"]
UNITS: tuple[Units, ...] = get_args(Units)


def minor_unit_exponent(currency: str) -> int:
    """How many decimals the currency's minor unit has (JPY 0, USD 2, KWD 3)."""
    return _EXPONENTS.get(currency.upper(), 2)


def is_currency(code: str) -> bool:
    """Tell whether `code` is an ISO-4217 alphabetic code (upper case, exactly as listed)."""
    return code in ISO_4217


def normalize_currency(currency: str) -> str:
    """Upper-case ISO-4217 alphabetic code, or `InvalidRequest`."""
    if not isinstance(currency, str):
        raise TypeError(f"currency must be a str, not {type(currency).__name__}")
    code = currency.strip()
    code = code.upper() if code.isascii() else code  # a long s upper-cases to S: no lookalikes
    if not is_currency(code):
        raise InvalidRequest(
            f"currency must be a 3-letter ISO-4217 code, got {currency!r}", field="currency"
        )
    return code


def to_minor_units(amount: AmountLike, currency: str) -> int:
    """Integer minor units of `amount` in `currency`; exact or `InvalidRequest`; floats are a
    `TypeError`. A `Money` must already be in `currency`."""
    if isinstance(amount, bool) or isinstance(amount, float):
        raise TypeError(
            f"amount must be int minor units, Decimal or str, not {type(amount).__name__}; "
            'floats are inexact: pass Decimal("799.99") or "799.99"'
        )
    if isinstance(amount, Money):
        if amount.currency != normalize_currency(currency):
            raise InvalidRequest(
                f"amount is in {amount.currency}, not {currency}", field="amount.currency"
            )
        return _checked(amount.amount_minor)
    if isinstance(amount, int):
        return _checked(amount)
    if isinstance(amount, str):
        try:
            amount = Decimal(amount.strip())
        except decimal.InvalidOperation as exc:
            raise InvalidRequest(f"amount {amount!r} is not a number", field="amount") from exc
    if not isinstance(amount, Decimal):
        raise TypeError(
            f"amount must be int minor units, Decimal or str, not {type(amount).__name__}"
        )
    if not amount.is_finite():
        raise InvalidRequest(f"amount {amount} is not finite", field="amount")
    exponent = minor_unit_exponent(currency)
    # Integer arithmetic on the digits, so no Decimal context can round.
    sign, digits, exp = amount.as_tuple()
    assert isinstance(exp, int)  # finite
    all_digits = "".join(map(str, digits))
    significant = all_digits.rstrip("0")  # 799.990 is 799.99
    if not significant:
        return 0
    shift = exp + (len(all_digits) - len(significant)) + exponent
    if shift < 0:
        raise InvalidRequest(
            f"amount {amount} has more than {exponent} decimals for {currency.upper()}",
            field="amount",
        )
    # Never more than an int64's 19 digits reach int(), which refuses 4,300 and more.
    if len(significant) + shift > 19:
        raise InvalidRequest("amount is too large", field="amount")
    minor = int(significant) * 10**shift
    return _checked(-minor if sign else minor)


def tool_amount(value: object, units: Units = "major", currency: str | None = None) -> AmountLike:
    """An amount as a tool call carries it, in the form `to_minor_units` reads exactly: in
    "major" units a whole number is a major-unit amount (500 is 500.00, as the model and the
    tool read it; never 500 cents); in "minor" units it must be an integer. A `Money` is taken
    as it is. A string must be a plain decimal (`tool_decimal`). A boolean is a `TypeError`,
    and so is anything `to_minor_units` refuses."""
    if isinstance(value, bool):
        raise TypeError("an amount must be a number, not a boolean")
    if isinstance(value, Money):
        return value
    if units == "minor":
        if not isinstance(value, int):
            raise TypeError("an amount in minor units must be an integer")
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        return tool_decimal(value, currency)
    if isinstance(value, Decimal):
        return value
    raise TypeError(
        f"an amount must be a whole number, a Decimal or a decimal string, "
        f"not {type(value).__name__}"
    )


# A tool's amount as text: ASCII digits and at most one point, nothing else. Every parser
# reads these alike; "1.500" is 1500 where "." groups thousands, and "1e3", "1_000",
# Arabic-Indic digits or padding read otherwise elsewhere (TypeScript's parseMajorUnits agrees).
_PLAIN_DECIMAL = re.compile(r"(0|[1-9][0-9]*)(\.[0-9]+)?")


def tool_decimal(text: str, currency: str | None = None) -> str:
    """`text` when it is a plain decimal with no more decimals than `currency` has (when
    given), else `InvalidRequest` on `amount`."""
    if not _PLAIN_DECIMAL.fullmatch(text):
        raise InvalidRequest(
            f"amount {text!r} must be a plain decimal such as 12.50", field="amount"
        )
    decimals = len(text.partition(".")[2])
    if currency is not None and decimals > minor_unit_exponent(currency):
        raise InvalidRequest(
            f"amount {text!r} has more decimals than {currency} has, which some tools read"
            " as a thousands separator",
            field="amount",
        )
    return text


def _checked(minor: int) -> int:
    if minor < 0:
        raise InvalidRequest("amount must be >= 0", field="amount")
    if minor > _INT64_MAX:
        raise InvalidRequest("amount is too large", field="amount")
    return minor
