"""The one page-token codec: round trips, list binding, and strict refusal of anything else."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from behalf.common import page_tokens
from behalf.common.page_tokens import BadPageToken, Position

NOW = datetime(2026, 12, 4, 18, 0, 0, 123456, tzinfo=UTC)


def _token(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def test_round_trip_keeps_the_exact_position() -> None:
    """Decoding an encoded position gives back the same microsecond and row id."""
    token = page_tokens.encode("agents", NOW, "agt_x")
    assert page_tokens.decode("agents", token) == Position(NOW, "agt_x")


def test_round_trip_normalises_other_time_zones() -> None:
    """A time in another zone comes back as the same instant."""
    there = NOW.astimezone(timezone(timedelta(hours=-5)))
    position = page_tokens.decode("deliveries", page_tokens.encode("deliveries", there, "dlv_y"))
    assert position is not None
    assert position.at == NOW


def test_empty_token_is_the_first_page() -> None:
    """An empty token decodes to None, the start of the list."""
    assert page_tokens.decode("agents", "") is None


def test_token_is_url_safe_without_padding() -> None:
    """Tokens use the base64url alphabet and carry no '=' padding."""
    token = page_tokens.encode("decisions:abc", NOW, "evt_z")
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_token_for_one_kind_is_refused_by_another() -> None:
    """A token issued by one list is refused by every other list."""
    token = page_tokens.encode("api_keys", NOW, "key_x")
    with pytest.raises(BadPageToken, match="another list"):
        page_tokens.decode("agents", token)


@pytest.mark.parametrize(
    "token",
    [
        "!!",
        "garbage!",
        "not-a-token",
        "e30",  # {}
        "eyJ0Ijoid2hhdCJ9",  # {"t":"what"}
        _token(["agents", NOW.isoformat(), "agt_x"]),
        _token({"k": "agents", "t": "1", "i": "agt_x"}),
        _token({"k": "agents", "t": 1.5, "i": "agt_x"}),
        _token({"k": "agents", "t": True, "i": "agt_x"}),
        _token({"k": "agents", "t": 1, "i": 7}),
        _token({"k": "agents", "t": 1, "i": ""}),
        _token({"k": "agents", "t": 1, "i": "x" * 65}),
        _token({"k": "agents", "t": 1, "i": "\u0000"}),  # PostgreSQL text refuses NUL
        _token({"k": "agents", "t": 1, "i": "agt_\u00e9"}),
        _token({"k": 1, "t": 1, "i": "agt_x"}),
        _token({"k": "agents", "t": 1, "i": "agt_x", "extra": 0}),
        _token({"k": "agents", "t": 10**30, "i": "agt_x"}),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        "A" * 2000,
        base64.urlsafe_b64encode(b"[" * 700).decode(),
    ],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    """Bad base64, bad JSON, the wrong shape and the wrong types are all BadPageToken."""
    with pytest.raises(BadPageToken):
        page_tokens.decode("agents", token)


@given(st.text())
def test_decode_raises_only_bad_page_token(token: str) -> None:
    """Decoding any string either succeeds or raises BadPageToken, never anything else."""
    try:
        page_tokens.decode("agents", token)
    except BadPageToken:
        pass


@given(
    st.dictionaries(
        st.sampled_from(["k", "t", "i", "x"]),
        st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text()),
    )
)
def test_decode_raises_only_bad_page_token_on_json_objects(value: dict[str, object]) -> None:
    """Well-formed JSON of any shape near a real token also decodes or raises BadPageToken."""
    try:
        page_tokens.decode("agents", _token(value))
    except BadPageToken:
        pass
