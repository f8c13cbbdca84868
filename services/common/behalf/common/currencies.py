"""ISO-4217 alphabetic codes of current currencies (plus funds, precious metals and test codes)."""

from __future__ import annotations

# One table, defined in the SDK (which every service already imports for the wire contract,
# and which must not import service code), so a client and every service accept the same codes.
from decimal import Decimal

from behalf._money import (
    ISO_4217,
    is_currency,
    minor_unit_exponent,
    to_minor_units,
    tool_decimal,
)

__all__ = ["ISO_4217", "is_currency", "major_to_minor", "minor_unit_exponent", "plain_decimal"]


def major_to_minor(major: Decimal | str | int, currency: str) -> int:
    """Exact integer minor units of a major-unit amount ("799.99" USD is 79999; an int is whole
    major units here, where the SDK's to_minor_units reads it as minor units), by the SDK's
    rule; a ValueError says why not (too many decimals, negative, not finite, too large)."""
    return to_minor_units(Decimal(major) if isinstance(major, int) else major, currency)


def plain_decimal(text: str, currency: str) -> str:
    """`text` when it is a plain ASCII decimal (`12.50`) with no more decimals than `currency`
    has, as written; else a ValueError. Other parsers read the other forms differently
    (`1.500` as 1,500 where `.` groups thousands; `1_000`, `1e3`, non-ASCII digits, padding),
    so an amount written as text is taken only in the form every reader agrees on: the rule
    of the SDK's tool guards and MCP gateway."""
    return tool_decimal(text, currency)
