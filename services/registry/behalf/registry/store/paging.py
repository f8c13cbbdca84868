"""The registry's list cursor, carried in `behalf.common.page_tokens` tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from behalf.common import page_tokens
from behalf.common.page_tokens import BadPageToken

__all__ = ["BadPageToken", "Cursor", "decode", "encode"]


@dataclass(frozen=True)
class Cursor:
    """The last row of the previous page."""

    created_at: datetime
    row_id: str


def encode(kind: str, created_at: datetime, row_id: str) -> str:
    return page_tokens.encode(kind, created_at, row_id)


def decode(kind: str, token: str) -> Cursor | None:
    """None for an empty token; BadPageToken for anything not made by `encode(kind, …)`."""
    position = page_tokens.decode(kind, token)
    return None if position is None else Cursor(position.at, position.row_id)
