"""Opaque page tokens: base64url of a keyset position (creation time and id) and its list."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime


class BadPageToken(ValueError):
    """The token was not issued by this list."""


@dataclass(frozen=True)
class Cursor:
    """The last row of the previous page."""

    created_at: datetime
    row_id: str


def encode(kind: str, created_at: datetime, row_id: str) -> str:
    raw = json.dumps([kind, created_at.isoformat(), row_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(kind: str, token: str) -> Cursor | None:
    """None for an empty token; BadPageToken for anything not made by `encode(kind, …)`."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        token_kind, created_at, row_id = json.loads(raw)
        if token_kind != kind or not isinstance(row_id, str):
            raise BadPageToken("page token is for another list")
        parsed = datetime.fromisoformat(created_at)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise BadPageToken("malformed page token") from exc
    if parsed.tzinfo is None:
        raise BadPageToken("malformed page token")
    return Cursor(parsed, row_id)
