"""Opaque, prefixed, random ids: `agt_…`, `prm_…`, `req_…`."""

from __future__ import annotations

import re
import secrets

_ID_BODY_LENGTH = 20
# Ids made before base 32 used all of [0-9a-z]; they stay valid.
ID_PATTERN = re.compile(r"^[a-z]{3}_[0-9a-z]{20}$")
# A random byte's low 5 bits pick one of 32 characters: one uniform character per byte, mapped
# by `bytes.translate` in C (ids are made on the Verify hot path, and twice per webhook).
_CHARACTER_OF_BYTE = bytes(b"abcdefghijklmnopqrstuvwxyz234567"[b % 32] for b in range(256))


def new_id(prefix: str) -> str:
    """Return `<prefix>_` followed by 20 random characters of [a-z2-7] (100 bits)."""
    body = secrets.token_bytes(_ID_BODY_LENGTH).translate(_CHARACTER_OF_BYTE)
    return f"{prefix}_{body.decode('ascii')}"


def new_ids(prefix: str, count: int) -> list[str]:
    """`count` new ids from one draw from the OS (a webhook batch makes two per delivery)."""
    step = _ID_BODY_LENGTH
    text = secrets.token_bytes(step * count).translate(_CHARACTER_OF_BYTE).decode("ascii")
    return [f"{prefix}_{text[i : i + step]}" for i in range(0, step * count, step)]


def is_id(value: str, prefix: str) -> bool:
    """Tell whether `value` is well-formed as an id with this prefix."""
    return value.startswith(prefix + "_") and ID_PATTERN.fullmatch(value) is not None


# A caller's own request id (Verify's idempotency and audit key), or one `new_id("req")` made.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
REQUEST_ID_RULE = "must be 1 to 128 of A-Z a-z 0-9 . _ : -"


def is_request_id(value: str) -> bool:
    return REQUEST_ID.fullmatch(value) is not None
