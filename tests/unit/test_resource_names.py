"""Tests for normalizing resource names and patterns and matching them."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from behalf.common.resource_names import (
    InvalidResourceName,
    is_wildcard,
    normalize_grant_pattern,
    normalize_pattern,
    normalize_resource,
    resource_matches,
)


def fullwidth(ascii_text: str) -> str:
    """Spell printable ASCII with its full-width Unicode forms (U+FF01..U+FF5E)."""
    return "".join(chr(ord(ch) + 0xFEE0) for ch in ascii_text)


# IDNA refuses "--" in a label's 3rd and 4th characters (reserved for "xn--" and the like).
LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True).filter(
    lambda label: label[2:4] != "--"
)
HOST = (
    st.lists(LABEL, min_size=1, max_size=4)
    .map(".".join)
    # A numeric or hex last label ("10", "0x", "0x1f") reads as IPv4 to URL parsers: refused.
    .filter(lambda h: re.fullmatch(r"[0-9]+|0x[0-9a-f]*", h.rsplit(".", 1)[-1]) is None)
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("example.com", "example.com"),
        ("Example.COM", "example.com"),
        ("https://Shop.Example.com:8443/cart?x=1#top", "shop.example.com"),
        ("HTTP://shop.example.com", "shop.example.com"),
        ("shop.example.com/path", "shop.example.com"),
        ("shop.example.com?q=1#top", "shop.example.com"),
        ("https://shop.example.com:443", "shop.example.com"),
        ("bücher.de", "xn--bcher-kva.de"),
        ("XN--BCHER-KVA.de", "xn--bcher-kva.de"),
        ("faß.de", "xn--fa-hia.de"),
        (fullwidth("example") + "." + fullwidth("com"), "example.com"),
        ("stripe", "stripe"),
        ("1.2.3.4", "1.2.3.4"),
        ("http://1.2.3.4:80/x", "1.2.3.4"),
        ("https://[2001:DB8::1]:443/x", "[2001:db8::1]"),
        ("[2001:DB8::1]", "[2001:db8::1]"),
    ],
)
def test_normalize_resource_canonical_forms(raw: str, expected: str) -> None:
    """Names, URLs, IDNs and IP literals normalize to one canonical lower-case host."""
    assert normalize_resource(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "exa mple.com",
        " example.com",
        "a..b",
        "example.com..",
        ".example.com",
        "http://",
        "example.com:http",
        "-bad.com",
        "ex_ample.com",
        "ex!ample.com",
        "xn--zz.com",
        "a" * 64 + ".com",
        ".".join(["a" * 60] * 5),
        "01.2.3.4",
        "0x7f.1",
        "123",
        "1::2::3",
        "[::1",
        "ex\u200dample.com",
        "example.com.",
        "example。com",
        fullwidth("example.com"),
        "https://user:pw@shop.example.com/",
        "shop.example.com:443",
        "[2001:db8::1]:443",
        "2001:db8::1",
        "*",
    ],
)
def test_normalize_resource_rejects_malformed_names(raw: str) -> None:
    """Malformed, over-long, ambiguous and invalid IDNA names raise InvalidResourceName."""
    with pytest.raises(InvalidResourceName):
        normalize_resource(raw)


@pytest.mark.parametrize(
    "invisible",
    ["\u3164", "\u115f", "\u034f", "\ufe0f"],
    ids=["hangul-filler", "choseong-filler", "grapheme-joiner", "variation-selector"],
)
def test_a_host_with_an_invisible_letter_or_mark_is_refused(invisible: str) -> None:
    """Letters and marks that show as nothing are not control or format characters, and UTS46
    deletes them: `coachella<U+3164>.com` would be read as coachella.com here and as another
    host by a parser that does not map it. Refused, naming the character."""
    with pytest.raises(InvalidResourceName, match=f"U\\+{ord(invisible):04X}"):
        normalize_resource(f"https://coachella{invisible}.com/checkout")


def test_invalid_resource_name_is_a_value_error() -> None:
    """InvalidResourceName is a ValueError so generic validation code can catch it."""
    assert issubclass(InvalidResourceName, ValueError)


def test_name_of_exactly_253_characters_is_accepted() -> None:
    """The 253-character limit is inclusive."""
    name = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])
    assert len(name) == 253
    assert normalize_resource(name) == name


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("a" + "\u0301" * 505, "longer than 253"),  # the agent's 4 ms of mapping per call
        ("\u00bd" * 506, "longer than 253"),
        ("https://" + "b\u00fccher." * 40 + "example/x", "longer than 253"),
        (".".join(["\u4e00" * 64, "example"]), "label is longer than 63"),
    ],
)
def test_a_crafted_long_host_is_refused_before_it_is_mapped(raw: str, problem: str) -> None:
    """An agent's resource whose host is longer than any name (or has a label longer than any
    label) is refused as written, before the per-character UTS46 mapping and Punycode."""
    with pytest.raises(InvalidResourceName, match=problem):
        normalize_resource(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("*", "*"),
        ("*.example.com", "*.example.com"),
        ("*.Example.COM", "*.example.com"),
        ("*.bücher.de", "*.xn--bcher-kva.de"),
        ("shop.example.com", "shop.example.com"),
    ],
)
def test_normalize_pattern_canonical_forms(raw: str, expected: str) -> None:
    """Patterns normalize like names, keeping a lone `*` or a leading `*.` label."""
    assert normalize_pattern(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "**",
        "*.Example.COM.",
        "*.com",
        "*example.com",
        "a.*.com",
        "*.*.com",
        "**.example.com",
        "*.1.2.3.4",
        "*.https://example.com",
        "*.example.com/path",
        "ex*ample.com",
        "*.",
    ],
)
def test_normalize_pattern_rejects_bad_wildcards(raw: str) -> None:
    """Only a whole leftmost `*` label followed by two or more labels is a valid wildcard."""
    with pytest.raises(InvalidResourceName):
        normalize_pattern(raw)


def test_is_wildcard_tells_patterns_apart() -> None:
    """is_wildcard is true for `*.` patterns only."""
    assert is_wildcard("*.example.com")
    assert not is_wildcard("example.com")


@pytest.mark.parametrize(
    ("pattern", "resource", "expected"),
    [
        ("example.com", "example.com", True),
        ("example.com", "a.example.com", False),
        ("*.example.com", "a.example.com", True),
        ("*.example.com", "a.b.example.com", True),
        ("*.example.com", "example.com", False),
        ("*.example.com", "evilexample.com", False),
        ("*.example.com", "example.com.evil.net", False),
        ("*.example.com", "a.example.co", False),
        ("*.example.com", "", False),
        ("*.example.com", "xn--xample-2of.com", False),
        ("*", "example.com", True),
        ("*", "", True),
    ],
)
def test_resource_matches_exact_and_strict_subdomains(
    pattern: str, resource: str, expected: bool
) -> None:
    """Exact patterns match themselves; wildcards match strict subdomains, never substrings."""
    assert resource_matches(pattern, resource) is expected


LOOKALIKES = [
    "example.com",
    "EXAMPLE.COM.",
    "example.com.evil.net",
    "a.example.com.evil.net",
    "evilexample.com",
    "a.evilexample.com",
    "a.\u0435xample.com",  # Cyrillic e
    "a.examp1e.com",
    "a.example.co",
    "https://example.com/a.example.com",
    "a.example.com@evil.net",
]


@pytest.mark.parametrize("raw", LOOKALIKES)
def test_wildcard_rejects_lookalikes_after_normalizing(raw: str) -> None:
    """Look-alikes of a subdomain of example.com are refused or never match `*.example.com`."""
    try:
        resource = normalize_resource(raw)
    except InvalidResourceName:
        return
    assert not resource_matches(normalize_pattern("*.example.com"), resource)


@pytest.mark.parametrize(
    "raw",
    [
        "A.Example.COM",
        "https://a.example.com:8443/x",
        ".".join(fullwidth(label) for label in ("a", "example", "com")),
    ],
)
def test_wildcard_matches_spellings_of_a_real_subdomain(raw: str) -> None:
    """Case, URL and full-width-letter spellings of a.example.com all match."""
    assert resource_matches(normalize_pattern("*.example.com"), normalize_resource(raw))


@given(HOST)
def test_normalize_resource_is_idempotent(host: str) -> None:
    """Normalizing a normalized name returns it unchanged."""
    once = normalize_resource(host)
    assert normalize_resource(once) == once


@given(
    st.sampled_from(["", "http://", "HTTPS://"]),
    HOST,
    st.sampled_from(["", "/path?q=1", "#top"]),
    st.booleans(),
)
def test_spelling_variants_normalize_alike(
    scheme: str, host: str, suffix: str, upper: bool
) -> None:
    """Upper case, a scheme, a port (with a scheme) or a path do not change the normalized name."""
    port = ":8080" if scheme else ""
    raw = scheme + (host.upper() if upper else host) + port + suffix
    assert normalize_resource(raw) == normalize_resource(host)


@given(st.text(min_size=1, max_size=40))
def test_normalize_resource_never_crashes(raw: str) -> None:
    """Any text either normalizes or raises InvalidResourceName, never another error."""
    try:
        normalized = normalize_resource(raw)
    except InvalidResourceName:
        return
    assert normalized == normalized.lower()
    assert " " not in normalized


@given(st.text(min_size=1, max_size=30), st.sampled_from(["example.com", "a.b.example.org"]))
def test_wildcard_match_is_label_based(prefix: str, suffix: str) -> None:
    """A wildcard match always means the resource's labels end with the suffix's labels."""
    try:
        resource = normalize_resource(prefix + suffix)
    except InvalidResourceName:
        return
    matched = resource_matches("*." + suffix, resource)
    labels, suffix_labels = resource.split("."), suffix.split(".")
    expected = len(labels) > len(suffix_labels) and labels[-len(suffix_labels) :] == suffix_labels
    assert matched is expected


@given(HOST)
def test_wildcard_never_matches_its_own_apex(host: str) -> None:
    """`*.x` never matches x itself."""
    apex = normalize_resource(host + ".example.com")
    assert not resource_matches("*." + apex, apex)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://Shop.Example.COM", "shop.example.com"),
        ("https://shop.example.com/", "shop.example.com"),
        ("shop.example.com/", "shop.example.com"),
        ("*.Vendor.io", "*.vendor.io"),
        ("*", "*"),
        ("[2001:DB8::1]", "[2001:db8::1]"),
    ],
)
def test_a_grant_may_spell_a_host_as_a_url(raw: str, expected: str) -> None:
    assert normalize_grant_pattern(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "https://shop.example.com/cart",
        "shop.example.com/cart",
        "https://shop.example.com?only=tickets",
        "https://shop.example.com/#tickets",
        "https://shop.example.com:8443",
        "https://[2001:db8::1]:8443/",
        "http://shop.example.com//",
    ],
)
def test_a_grant_that_would_cover_more_than_it_says_is_refused(raw: str) -> None:
    """A resource being checked drops its path and port; a grant that named one would widen to
    the whole host, so it is refused instead, naming the host it would have covered."""
    assert normalize_pattern(raw)  # what it used to be granted as
    with pytest.raises(InvalidResourceName, match="would cover all of"):
        normalize_grant_pattern(raw)


@given(st.text(min_size=1, max_size=40))
def test_a_grant_pattern_is_a_pattern_or_refused(raw: str) -> None:
    """Whatever a grant accepts, it accepts as the same pattern it would be read as."""
    try:
        granted = normalize_grant_pattern(raw)
    except InvalidResourceName:
        return
    assert granted == normalize_pattern(raw)
    assert "?" not in raw and "#" not in raw
