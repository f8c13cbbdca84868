"""`authorization: Bearer <key>` from gRPC metadata or HTTP headers, one rule for every service."""

from __future__ import annotations

import pytest

from behalf.common.auth import bearer_token
from behalf.common.errors import Unauthenticated

KEY = "bhk_verify_" + "A" * 43


def test_the_one_bearer_header_gives_its_key() -> None:
    assert bearer_token([("authorization", f"Bearer {KEY}")]) == KEY
    assert bearer_token([("x-other", "v"), ("authorization", f"bearer  {KEY} ")]) == KEY


@pytest.mark.parametrize(
    "second", [f"Bearer {KEY}", "Bearer bhk_verify_" + "B" * 43, "Basic dXNlcjpwYXNz"]
)
def test_two_authorization_entries_are_refused_whichever_comes_first(second: str) -> None:
    """The agent sends two: a proxy or rate limiter in front may count one (the last, or both
    joined) while the service would decide as the other, so neither is taken."""
    for metadata in (
        [("authorization", f"Bearer {KEY}"), ("authorization", second)],
        [("authorization", second), ("authorization", f"Bearer {KEY}")],
    ):
        with pytest.raises(Unauthenticated, match="one authorization"):
            bearer_token(metadata)


@pytest.mark.parametrize(
    "metadata",
    [[], [("authorization", "Basic x")], [("authorization", "Bearer ")], [("authorization", b"x")]],
)
def test_anything_else_is_unauthenticated(metadata: list[tuple[str, str | bytes]]) -> None:
    with pytest.raises(Unauthenticated):
        bearer_token(metadata)
