"""Reading the bearer credential from gRPC metadata."""

from __future__ import annotations

from collections.abc import Iterable

from behalf.common.errors import Unauthenticated

_BEARER = "bearer "


def bearer_token(metadata: Iterable[tuple[str, str | bytes]] | None) -> str:
    """The token of `authorization: Bearer <token>`, or Unauthenticated."""
    for key, value in metadata or ():
        if key == "authorization" and isinstance(value, str):
            if value[: len(_BEARER)].lower() == _BEARER and len(value) > len(_BEARER):
                return value[len(_BEARER) :].strip()
            raise Unauthenticated("authorization metadata must be 'Bearer <key>'")
    raise Unauthenticated("missing authorization metadata")
