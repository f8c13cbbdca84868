"""Reading the bearer credential from gRPC metadata."""

from __future__ import annotations

from collections.abc import Iterable

from behalf.common.errors import Unauthenticated

_BEARER = "bearer "


def bearer_token(metadata: Iterable[tuple[str, str | bytes]] | None) -> str:
    """The token of `authorization: Bearer <token>`, or Unauthenticated."""
    for key, value in metadata or ():
        if key == "authorization" and isinstance(value, str):
            # Every credential we issue is ASCII; an HTTP header may carry any bytes, which
            # nothing downstream (hashing, comparing) should have to handle.
            token = value[len(_BEARER) :].strip()
            if value[: len(_BEARER)].lower() == _BEARER and token and token.isascii():
                return token
            raise Unauthenticated("authorization metadata must be 'Bearer <key>'")
    raise Unauthenticated("missing authorization metadata")
