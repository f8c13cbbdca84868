"""Reading a resource out of an agent's tool argument without ever reading more than is there.

The agent writes the arguments, so it may craft them for two parsers to disagree: the gateway
reading one host while the upstream tool connects to another (`https://coachella.com@evil.com/`,
`https://evil.com\\@coachella.com/`, `user@coachella.com.evil.com`, `user%evil.com@x`).
Rather than guess, these functions accept only a conservative subset that every parser reads
the same way, and refuse the rest (`ArgumentRejected`): printable ASCII without spaces or
backslashes, an explicit `http`/`https` scheme, no user information, hosts of plain LDH labels,
a canonical dotted quad or a bracketed IPv6 address, no percent-encoding in a host, no trailing
dot, and e-mail addresses of one `@` with a plain local part. An internationalized host must be
given in its A-label form (`xn--...`). The verifier then canonicalizes the host again with the
product's one WHATWG-aligned parser; a URL is also cross-checked against `urllib`.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

__all__ = ["ArgumentRejected", "email_domain", "host_name", "url_host"]

MAX_URL_LENGTH = 2048
MAX_EMAIL_LENGTH = 320
MAX_HOST_LENGTH = 253

_PRINTABLE = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no space
_SCHEME = re.compile(r"(?i)(https?)://")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_NUMERIC_LABEL = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)")
_PORT = re.compile(r"[0-9]{1,5}")
_LOCAL_PART = re.compile(r"[A-Za-z0-9_+\-]+(?:\.[A-Za-z0-9_+\-]+)*")


class ArgumentRejected(ValueError):
    """The argument cannot be read as a resource without risk of reading it wrong."""


def url_host(value: object) -> str:
    """The lower-case host of an absolute http(s) URL, or `ArgumentRejected`."""
    text = _text(value, MAX_URL_LENGTH, "a URL")
    if "\\" in text:
        raise ArgumentRejected("backslashes are not allowed in a URL")
    scheme = _SCHEME.match(text)
    if scheme is None:
        raise ArgumentRejected("must be an absolute http:// or https:// URL")
    rest = text[scheme.end() :]
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if "@" in authority:
        raise ArgumentRejected("user information (@) is not allowed in a URL")
    host, port = _split_port(authority)
    if port is not None and (not _PORT.fullmatch(port) or not 0 < int(port) < 65536):
        raise ArgumentRejected("the port must be a number from 1 to 65535")
    canonical = host_name(host)
    # A second parser must read the same host; anything it reads differently is refused.
    try:
        parsed = urlsplit(text)
        other = parsed.hostname
        other_port = parsed.port
    except ValueError:
        raise ArgumentRejected("the URL does not parse") from None
    if other is None or _comparable(other) != canonical or (port is None) != (other_port is None):
        raise ArgumentRejected("the URL's host is ambiguous")
    return canonical


def _comparable(host: str) -> str:
    """urllib's host in our canonical form (it drops an IPv6 address's brackets)."""
    if ":" not in host:
        return host.lower()
    try:
        return f"[{ipaddress.IPv6Address(host).compressed}]"
    except ValueError:
        return host


def email_domain(value: object) -> str:
    """The lower-case domain of one plain e-mail address (`local@domain`), or `ArgumentRejected`.

    No display names, quoted or percent-routed local parts, address lists or IP literals."""
    text = _text(value, MAX_EMAIL_LENGTH, "an e-mail address")
    local, at, domain = text.partition("@")
    if not at or "@" in domain:
        raise ArgumentRejected("must be one address with exactly one @")
    if not _LOCAL_PART.fullmatch(local):
        raise ArgumentRejected("the part before @ may hold only letters, digits and . _ + -")
    if domain.startswith("["):
        raise ArgumentRejected("an address literal is not allowed as the domain")
    return host_name(domain)


def host_name(value: object) -> str:
    """A bare host name (LDH labels, a dotted quad or a bracketed IPv6), lower-cased."""
    text = _text(value, MAX_HOST_LENGTH + 2, "a host name")
    if text.startswith("["):
        if not text.endswith("]"):
            raise ArgumentRejected("an IPv6 address must be in brackets")
        try:
            address = ipaddress.IPv6Address(text[1:-1])
        except ValueError:
            raise ArgumentRejected("not an IPv6 address") from None
        return f"[{address.compressed}]"
    host = text.lower()
    if len(host) > MAX_HOST_LENGTH or not host:
        raise ArgumentRejected(f"a host name has 1 to {MAX_HOST_LENGTH} characters")
    labels = host.split(".")
    if not all(_LABEL.fullmatch(label) for label in labels):
        raise ArgumentRejected(
            "a host name is dot-separated labels of a-z, 0-9 and inner hyphens "
            "(no trailing dot, no percent-encoding; internationalized names as xn--)"
        )
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        try:
            if str(ipaddress.IPv4Address(host)) != host:
                raise ValueError(host)
        except ValueError:
            raise ArgumentRejected("a numeric host must be a canonical dotted quad") from None
    return host


def _text(value: object, limit: int, what: str) -> str:
    if not isinstance(value, str):
        raise ArgumentRejected(f"must be a string holding {what}, not {_kind(value)}")
    if not value or len(value) > limit:
        raise ArgumentRejected(f"must be {what} of 1 to {limit} characters")
    if not _PRINTABLE.fullmatch(value):
        raise ArgumentRejected("only printable ASCII without spaces is allowed")
    return value


def _split_port(authority: str) -> tuple[str, str | None]:
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            raise ArgumentRejected("an IPv6 address must be in brackets")
        host, rest = authority[: end + 1], authority[end + 1 :]
        if not rest:
            return host, None
        if not rest.startswith(":"):
            raise ArgumentRejected("unexpected text after the IPv6 address")
        return host, rest[1:]
    host, colon, port = authority.partition(":")
    return host, (port if colon else None)


def _kind(value: object) -> str:
    return "nothing" if value is None else type(value).__name__
