"""Opaque, prefixed, random ids: `agt_…`, `prm_…`, `req_…`."""

from __future__ import annotations

import re
import secrets

_ID_BODY_LENGTH = 20
ID_PATTERN = re.compile(r"^[a-z]{3}_[0-9a-z]{20}$")
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_ID_SPACE = 36**_ID_BODY_LENGTH


def new_id(prefix: str) -> str:
    """Return `<prefix>_` followed by 20 random base-36 characters (about 103 bits)."""
    # One draw from the OS, then base 36: ids are made on the Verify hot path.
    number = int.from_bytes(secrets.token_bytes(13)) % _ID_SPACE
    digits = []
    for _ in range(_ID_BODY_LENGTH):
        number, digit = divmod(number, 36)
        digits.append(_ALPHABET[digit])
    return f"{prefix}_{''.join(digits)}"


def is_id(value: str, prefix: str) -> bool:
    """Tell whether `value` is well-formed as an id with this prefix."""
    return value.startswith(prefix + "_") and ID_PATTERN.fullmatch(value) is not None
