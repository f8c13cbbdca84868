"""Reading the bearer credential from gRPC metadata."""

from __future__ import annotations

from collections.abc import Iterable

from behalf.common.errors import Unauthenticated

_BEARER = "bearer "


def bearer_token(metadata: Iterable[tuple[str, str | bytes]] | None) -> str:
    """The token of the one `authorization: Bearer <token>`, or Unauthenticated. Two are
    refused: proxies and gateways in front disagree on which one counts (first, last, joined),
    so what they checked would not be what is decided."""
    values = [value for key, value in metadata or () if key == "authorization"]
    if len(values) > 1:
        raise Unauthenticated("send one authorization header, not several")
    if not values:
        raise Unauthenticated("missing authorization metadata")
    value = values[0]
    # Every credential we issue is ASCII; an HTTP header may carry any bytes, which nothing
    # downstream (hashing, comparing) should have to handle.
    if isinstance(value, str):
        token = value[len(_BEARER) :].strip()
        if value[: len(_BEARER)].lower() == _BEARER and token and token.isascii():
            return token
    raise Unauthenticated("authorization metadata must be 'Bearer <key>'")
