"""ISO-4217 alphabetic codes of current currencies (plus funds, precious metals and test codes)."""

from __future__ import annotations

# One table, defined in the SDK (which every service already imports for the wire contract,
# and which must not import service code), so a client and every service accept the same codes.
from behalf._money import ISO_4217, is_currency, minor_unit_exponent

__all__ = ["ISO_4217", "is_currency", "minor_unit_exponent"]
