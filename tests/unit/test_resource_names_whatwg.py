"""Resource names against a WHATWG URL parser (ada, as in Node.js): no string reads two ways."""

from __future__ import annotations

import re

import ada_url
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from behalf.common.resource_names import (
    InvalidResourceName,
    normalize_pattern,
    normalize_resource,
    resource_matches,
)

# Generation is cheap; a loaded shared machine must not fail the run on timing alone.
FAST = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
PATTERNS = ("coachella.com", "*.coachella.com", "evil.com", "127.0.0.1", "[::1]")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")

SCHEMES = st.sampled_from(
    [
        *("", "", "http://", "https://", "HTTP://", "http:", "http:/", "http:///", "//", "/"),
        *("javascript:", "ftp://", "file://", "ws://", "data:", "blob:http://"),
    ]
)
FULLWIDTH_COACHELLA = "".join(chr(ord(ch) + 0xFEE0) for ch in "coachella")
HOSTS = st.sampled_from(
    [
        *("coachella.com", "evil.com", "a.coachella.com", "coachella.com.evil.com", "coachella"),
        *("127.0.0.1", "0x7f.1", "0177.0.0.1", "2130706433", "127.1", "[::1]", "::1", "[::1"),
        *("b\u00fccher.de", "xn--bcher-kva.de", "com", ""),
        *(FULLWIDTH_COACHELLA, FULLWIDTH_COACHELLA + "\uff0e\uff43\uff4f\uff4d"),
    ]
)
NOISE = st.sampled_from(
    [
        *("\\", "@", "%", "%2e", "%2E", "%40", "%5c", "%00", ":", ":80", ":99999", "/", "?", "#"),
        *("\t", "\n", "\r", " ", "\x00", "\x7f", "\u3002", "\uff0e", "\uff61", "\u2024"),
        *("\uff0f", "\u200b", "\u00ad", "\u2488", "\ufeff", ".", "..", "*", "[", "]", "-"),
        *("user:pw@", "a"),
    ]
)
PIECES = st.one_of(HOSTS, NOISE)
MIXED = st.builds(
    lambda scheme, pieces: scheme + "".join(pieces), SCHEMES, st.lists(PIECES, max_size=6)
)
# Mostly well-formed: a plain scheme and host, then one odd separator and more pieces.
NEAR_VALID = st.builds(
    lambda scheme, host, port, separator, tail: scheme + host + port + separator + "".join(tail),
    st.sampled_from(["", "http://", "https://", "HTTP://"]),
    HOSTS,
    st.sampled_from(["", "", ":80", ":443"]),
    st.sampled_from(["", "", "/", "?", "#", "\\", "@", "%2e", ".", ":", "\t"]),
    st.lists(PIECES, max_size=3),
)
ADVERSARIAL = st.one_of(MIXED, NEAR_VALID)
ANY_TEXT = st.one_of(ADVERSARIAL, st.text(max_size=30))


def whatwg_host(raw: str) -> str | None:
    """The host ada reads: from `raw` as a URL if it has a scheme, else from `http://` + raw."""
    url = raw if SCHEME.match(raw) else "http://" + raw
    try:
        return ada_url.URL(url).hostname
    except ValueError:
        return None


def host_matches(pattern: str, host: str | None) -> bool:
    """Exact host, or a strict subdomain for `*.` patterns, decided on the WHATWG host alone."""
    if host is None:
        return False
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and len(host) > len(pattern) - 1
    return host == pattern


@settings(max_examples=1000, **FAST)
@given(ADVERSARIAL, st.sampled_from(PATTERNS))
@example("evil.com\\@coachella.com", "coachella.com")
@example("http://evil.com\\@coachella.com/x", "coachella.com")
@example("http://coachella.com@evil.com", "coachella.com")
@example("coachella.com%2eevil.com", "coachella.com")
@example("http://0x7f.1/", "127.0.0.1")
def test_a_match_means_the_whatwg_host_matches(raw: str, pattern: str) -> None:
    """Whenever a resource matches a pattern, the host a WHATWG parser reads matches it too."""
    try:
        resource = normalize_resource(raw)
    except InvalidResourceName:
        return
    if resource_matches(normalize_pattern(pattern), resource):
        assert host_matches(pattern, whatwg_host(raw)), (raw, resource, whatwg_host(raw))


@settings(max_examples=1000, **FAST)
@given(ANY_TEXT)
def test_an_accepted_name_is_its_whatwg_host(raw: str) -> None:
    """An accepted resource normalizes to exactly the host ada reads, and the only error raised
    is InvalidResourceName."""
    try:
        resource = normalize_resource(raw)
    except InvalidResourceName:
        return
    assert resource == whatwg_host(raw)
    assert normalize_resource(resource) == resource


@settings(max_examples=300, **FAST)
@given(ANY_TEXT)
def test_normalize_pattern_raises_only_invalid_resource_name(raw: str) -> None:
    """Any text normalizes as a pattern or raises InvalidResourceName, never another error."""
    try:
        pattern = normalize_pattern(raw)
    except InvalidResourceName:
        return
    assert normalize_pattern(pattern) == pattern


@pytest.mark.parametrize(
    "raw",
    [
        "evil.com\\@coachella.com",
        "http://evil.com\\@coachella.com/x",
        "http://coachella.com@evil.com",
        "http://user:pw@coachella.com/",
        "coachella.com%2eevil.com",
        "coachella%2Ecom",
        "http://coachella.com%00.evil.com",
        "coachella.com\t",
        "coach\tella.com",
        "coachella.com\nevil.com",
        "http://coach\rella.com",
        " coachella.com",
        "coachella.com\u00a0",
        "coach\u00adella.com",
        "coach\u200bella.com",
        "coachella\u3002com",
        "coachella\uff0ecom",
        "coachella\uff61com",
        "evil.com\uff0fcoachella.com",
        "coachella.com.",
        "http://coachella.com./",
        "0x7f.1",
        "0177.0.0.1",
        "2130706433",
        "127.1",
        "127.0.0.01",
        "http://0x7f000001/",
        "javascript:alert(1)",
        "data:text/html,coachella.com",
        "ftp://coachella.com/",
        "file:///etc/passwd",
        "coachella.com:443",
        "http:coachella.com",
        "http:/coachella.com",
        "http:///coachella.com",
        "//coachella.com",
        "http://",
        "http://:80/",
        "http://coachella.com:/",
        "http://coachella.com:99999/",
        "http://coachella.com:80:80/",
        "[::1]:80",
        "::1",
        "http://[fe80::1%25eth0]/",
        "http://[1.2.3.4]/",
    ],
)
def test_ambiguous_forms_are_refused(raw: str) -> None:
    """Backslashes, userinfo, controls, encoded or look-alike dots, numeric tricks, other schemes,
    empty hosts and stray colons raise InvalidResourceName."""
    with pytest.raises(InvalidResourceName):
        normalize_resource(raw)


@settings(max_examples=400, **FAST)
@given(ANY_TEXT)
def test_a_normalized_name_normalizes_to_itself(raw: str) -> None:
    """Normalizing is idempotent, so the registry can refuse any resource a verifier sends that
    is not already in normal form."""
    try:
        normalized = normalize_resource(raw)
    except InvalidResourceName:
        return
    assert normalize_resource(normalized) == normalized
