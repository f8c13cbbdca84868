"""Reading a resource from an agent's argument: crafted strings are refused, never widened."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from behalf.mcp_gateway.resources import ArgumentRejected, email_domain, host_name, url_host

_LABEL = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
_HOST = (
    st.lists(_LABEL, min_size=1, max_size=4)
    .map(".".join)
    .filter(lambda h: not h.rpartition(".")[2].isdigit())
)
_ALLOWED = "coachella.com"


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://coachella.com/tickets", "coachella.com"),
        ("HTTP://Coachella.COM:8080/x?y=1#z", "coachella.com"),
        ("https://coachella.com/@evil.com", "coachella.com"),
        ("https://coachella.com.evil.com/", "coachella.com.evil.com"),
        ("https://evil.com#@coachella.com", "evil.com"),
        ("https://evil.com?@coachella.com", "evil.com"),
        ("https://xn--bcher-kva.de/", "xn--bcher-kva.de"),
        ("https://[0:0::1]:443/", "[::1]"),
        ("https://192.168.0.1/", "192.168.0.1"),
    ],
)
def test_url_host_reads_the_host_every_parser_reads(url: str, host: str):
    """The host of a plain absolute URL, lower-cased; a path's @ is not user information."""
    assert url_host(url) == host


@pytest.mark.parametrize(
    "url",
    [
        "https://coachella.com@evil.com/",
        "https://user:pw@coachella.com/",
        "https://evil.com\\@coachella.com/",
        "https://evil.com\\.coachella.com/",
        "https:/coachella.com/",
        "https:coachella.com",
        "//coachella.com/",
        "coachella.com/tickets",
        "ftp://coachella.com/",
        "javascript://coachella.com/%0aalert(1)",
        "https://coachella.com./",
        "https://coachella%2ecom/",
        "https://coachella\u3002com/",
        "https://bücher.de/",
        "https://coachella .com/",
        " https://coachella.com/",
        "https://coachella.com\t.evil.com/",
        "https://0x7f.1/",
        "https://127.1/",
        "https://012.0.0.1/",
        "https://coachella.com:/",
        "https://coachella.com:99999/",
        "https://coachella.com:80x/",
        "https://[::1/",
        "https:///",
        "",
    ],
)
def test_url_host_refuses_what_parsers_could_read_differently(url: str):
    """User information, backslashes, missing or other schemes, trailing dots, encoded or
    Unicode dots, spaces, odd numeric hosts and bad ports are refused."""
    with pytest.raises(ArgumentRejected):
        url_host(url)


@pytest.mark.parametrize("value", [None, 42, 7.5, ["https://coachella.com/"], {"url": "x"}, True])
def test_non_strings_are_refused(value: object):
    """Only a string can hold a resource."""
    for read in (url_host, email_domain, host_name):
        with pytest.raises(ArgumentRejected, match="must be a string"):
            read(value)


@pytest.mark.parametrize(
    ("address", "domain"),
    [("ana@example.org", "example.org"), ("Ana.B+tix@Example.ORG", "example.org")],
)
def test_email_domain_reads_the_domain(address: str, domain: str):
    """The lower-cased domain of one plain address."""
    assert email_domain(address) == domain


@pytest.mark.parametrize(
    "address",
    [
        "user@coachella.com@evil.com",
        "user%evil.com@coachella.com",
        "evil.com!user@coachella.com",
        '"a@b"@coachella.com',
        "Ana <ana@evil.com>",
        "ana@coachella.com, bob@evil.com",
        "ana@[10.0.0.1]",
        "ana@coachella.com.",
        "@coachella.com",
        "ana@",
        ".ana@coachella.com",
        "ana..b@coachella.com",
        "ana@coachella\u3002com",
    ],
)
def test_email_domain_refuses_anything_but_one_plain_address(address: str):
    """Extra @s, percent or bang routing, quotes, display names, lists and literals are refused."""
    with pytest.raises(ArgumentRejected):
        email_domain(address)


@given(host=_HOST, other=_HOST, port=st.integers(1, 65535), path=st.text(max_size=20))
def test_an_allowed_host_before_user_information_is_never_read(
    host: str, other: str, port: int, path: str
):
    """`https://<allowed>@<other>` (with or without a port or path) never reads as the allowed
    host: it is refused."""
    with pytest.raises(ArgumentRejected):
        url_host(f"https://{_ALLOWED}:{port}@{other}/{path}")
    with pytest.raises(ArgumentRejected):
        url_host(f"https://{host}@{other}")


@given(host=_HOST, rest=st.sampled_from(["", "/", "/a@b", "?q=@x", "#frag", ":8443/p"]))
def test_a_plain_url_reads_its_own_host(host: str, rest: str):
    """Any plain URL reads as exactly the host written after the scheme, the same as urllib."""
    assert url_host(f"https://{host}{rest}") == host
    assert urlsplit(f"https://{host}{rest}").hostname == host


@given(text=st.text(max_size=60))
def test_whatever_the_text_a_result_is_the_host_written_after_the_scheme(text: str):
    """For arbitrary text, a result is the lower-cased host that follows `scheme://` verbatim,
    ends where the authority ends, and reads back as itself: nothing else is ever returned."""
    for candidate in (text, f"https://{text}", f"https://{_ALLOWED}{text}"):
        try:
            host = url_host(candidate)
        except ArgumentRejected:
            continue
        after = candidate.split("://", 1)[1]
        assert after.lower().startswith(host) or host.startswith("[")
        assert after[len(host) : len(host) + 1] in ("", ":", "/", "?", "#") or host.startswith("[")
        assert url_host(f"http://{host}/") == host


@given(
    local=st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True), domain=_HOST, text=st.text(max_size=30)
)
def test_an_email_domain_is_exactly_what_follows_the_only_at(local: str, domain: str, text: str):
    """A plain address reads as its domain; with arbitrary text appended it reads as exactly
    the text after its one @ or is refused."""
    assert email_domain(f"{local}@{domain}") == domain
    candidate = f"{local}@{domain}{text}"
    try:
        read = email_domain(candidate)
    except ArgumentRejected:
        return
    assume(read)
    assert candidate.count("@") == 1 and read == candidate.split("@")[1].lower()
