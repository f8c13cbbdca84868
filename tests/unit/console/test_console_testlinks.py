"""Manual test link tokens: signed, encrypted, expiring, scoped, and refused when tampered."""

from __future__ import annotations

import pytest

from behalf.console.testlinks import (
    LinkCodec,
    LinkExpired,
    LinkInvalid,
    ManualTestLink,
    key_name,
    new_link_id,
    parse_key_name,
)

SECRET = b"s" * 40
AGENT = "agt_" + "a" * 20


def link(expires_at: int = 2_000_000_000) -> ManualTestLink:
    return ManualTestLink(
        link_id=new_link_id(),
        tenant_id="ten_" + "t" * 20,
        agent_id=AGENT,
        agent_name="Travel <assistant>",
        key_id="key_" + "k" * 20,
        expires_at=expires_at,
        api_key="bhk_verify_" + "v" * 43,
    )


def test_round_trip_restores_every_field() -> None:
    """A token decodes to exactly the link it was made from, key included."""
    original = link()
    assert LinkCodec(SECRET).decode(LinkCodec(SECRET).encode(original), now=0) == original


def test_the_key_is_not_readable_in_the_token() -> None:
    """The verify key travels encrypted: its text is nowhere in the token."""
    original = link()
    token = LinkCodec(SECRET).encode(original)
    assert original.api_key not in token
    assert "vvvvvvvv" not in token
    assert "api_key" not in repr(original) and original.api_key not in repr(original)


def test_expired_token_is_refused() -> None:
    """At or after its expiry a token is refused as expired."""
    codec = LinkCodec(SECRET)
    token = codec.encode(link(expires_at=1000))
    codec.decode(token, now=999)
    with pytest.raises(LinkExpired):
        codec.decode(token, now=1000)


@pytest.mark.parametrize("position", [3, 20, 60, -5])
def test_any_changed_character_is_refused(position: int) -> None:
    """Flipping one character anywhere makes the token invalid."""
    token = LinkCodec(SECRET).encode(link())
    flipped = "A" if token[position] != "A" else "B"
    tampered = token[:position] + flipped + token[position + 1 :]
    with pytest.raises(LinkInvalid):
        LinkCodec(SECRET).decode(tampered, now=0)


def test_another_secret_is_refused() -> None:
    """A token made under another console secret does not verify."""
    token = LinkCodec(b"x" * 40).encode(link())
    with pytest.raises(LinkInvalid):
        LinkCodec(SECRET).decode(token, now=0)


@pytest.mark.parametrize("token", ["", "v1..", "v2.a.b", "a.b", "v1." + "A" * 5000 + ".x"])
def test_malformed_tokens_are_refused(token: str) -> None:
    """Garbage, wrong versions and oversize tokens are invalid, never a crash."""
    with pytest.raises(LinkInvalid):
        LinkCodec(SECRET).decode(token, now=0)


def test_key_names_round_trip_and_ignore_other_keys() -> None:
    """A link key's name yields its link, agent and expiry; other names yield None."""
    link_id = new_link_id()
    assert parse_key_name(key_name(link_id, AGENT, 1234)) == (link_id, AGENT, 1234)
    assert parse_key_name("verify") is None
    assert parse_key_name(f"console-test-link {link_id} agt_bad exp=1") is None
