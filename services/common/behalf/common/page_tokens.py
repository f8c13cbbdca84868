"""Opaque page tokens: base64url JSON of a keyset position (a time and a row id) and its list."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_TOKEN_LENGTH = 1024  # far above any token we issue; bounds the work spent on garbage
_MAX_ROW_ID_LENGTH = 64
_KEYS = {"k", "t", "i"}


class BadPageToken(ValueError):
    """The token was not issued by this list: malformed, or made for another one."""


@dataclass(frozen=True)
class Position:
    """The last row of the previous page: its sort time and its id (the tie-breaker)."""

    at: datetime
    row_id: str


def encode(kind: str, at: datetime, row_id: str) -> str:
    """A token for the page after the row (`at`, `row_id`) of the list named `kind`."""
    micros = (at - _EPOCH) // timedelta(microseconds=1)
    raw = json.dumps({"k": kind, "t": micros, "i": row_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(kind: str, token: str) -> Position | None:
    """None for an empty token; BadPageToken for anything not made by `encode(kind, …)`."""
    if not token:
        return None
    if len(token) > _MAX_TOKEN_LENGTH:
        raise BadPageToken("malformed page token")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError) as exc:
        raise BadPageToken("malformed page token") from exc
    if not isinstance(data, dict) or data.keys() != _KEYS:
        raise BadPageToken("malformed page token")
    token_kind, micros, row_id = data["k"], data["t"], data["i"]
    if (
        not isinstance(token_kind, str)
        or type(micros) is not int
        or not isinstance(row_id, str)
        or not 0 < len(row_id) <= _MAX_ROW_ID_LENGTH
        or not (row_id.isascii() and row_id.isprintable())  # PostgreSQL text refuses NUL
    ):
        raise BadPageToken("malformed page token")
    if token_kind != kind:
        raise BadPageToken("page token is for another list")
    try:
        at = _EPOCH + timedelta(microseconds=micros)
    except OverflowError as exc:
        raise BadPageToken("malformed page token") from exc
    return Position(at, row_id)
