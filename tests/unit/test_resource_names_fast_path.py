"""The ASCII fast path of resource-name normalization agrees with the full parser everywhere."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from behalf.common import resource_names
from behalf.common.resource_names import (
    InvalidResourceName,
    normalize_pattern,
    normalize_resource,
    resource_matches,
)

# Characters that stress the fast path's edges: LDH, dots, case, IPv4 digits and hex, the
# ACE prefix, URL delimiters, and look-alikes that UTS46 maps onto ASCII.
_ALPHABET = "abcxnz019-.X:/@*[]%\\ \u3002\uff0e\uff41\u0131\u00df\u200b\u0430"
RAW = st.text(alphabet=_ALPHABET, max_size=24)
LABEL = st.from_regex(r"[a-z0-9][a-z0-9-]{0,64}", fullmatch=True)
NAME = st.lists(LABEL, min_size=1, max_size=5).map(".".join)


def full(raw: str) -> str | None:
    """The full path's answer: the normalized name, or None when it refuses."""
    try:
        return resource_names._normalize_resource_full(raw)
    except InvalidResourceName:
        return None


def public(raw: str) -> str | None:
    """What normalize_resource (with the fast path) answers: the name, or None when refused."""
    try:
        return normalize_resource(raw)
    except InvalidResourceName:
        return None


@settings(max_examples=3000)
@given(st.one_of(RAW, NAME))
@example("xn--bcher-kva.example")
@example("xn--bcher-kvA.example")
@example("ab--cd.example")
@example("shop.example.0x1f")
@example("1.2.3.4")
@example("10.0.0.010")
@example("a" * 64 + ".com")
@example(("a" * 63 + ".") * 4)
def test_fast_path_equals_full_path(raw: str) -> None:
    """For every input the fast path answers exactly what the full parser answers."""
    assert public(raw) == full(raw)
    if resource_names._is_canonical_ldh(raw):
        assert full(raw) == raw


@settings(max_examples=1000)
@given(st.one_of(RAW, NAME))
def test_fast_path_pattern_equals_full_path(suffix: str) -> None:
    """A wildcard over a fast-path name normalizes as if the full path had read its suffix."""
    raw = "*." + suffix
    try:
        got: str | None = normalize_pattern(raw)
    except InvalidResourceName:
        got = None
    expected = full(suffix)
    if expected is None:
        assert got is None
    else:
        assert got in (None, "*." + expected)


@pytest.mark.parametrize(
    "crafted",
    [
        "shop\u3002example.com",  # ideographic full stop: a dot to UTS46, not to the regex
        "shop\uff0eexample.com",  # full-width full stop
        "SHOP.example.com",  # upper case: the full path folds it
        "sh\u0430p.example.com",  # Cyrillic a
        "shop.example.com.",  # trailing dot
        "xn--shp-7cd.example.com",  # an A-label taken on trust would skip IDNA's checks
        "shop.example.com:443",
        "shop.example.0x7f",
    ],
)
def test_crafted_name_does_not_match_a_grant_it_should_not(crafted: str) -> None:
    """An agent's look-alike resource never takes the fast path to a grant for another host."""
    grant = normalize_pattern("shop.example.com")
    try:
        resource = normalize_resource(crafted)
    except InvalidResourceName:
        return
    assert resource == full(crafted)
    assert resource_matches(grant, resource) == (resource == "shop.example.com")
