"""Normalizing resource names and `*.suffix` patterns, and matching one against the other."""

from __future__ import annotations

import ipaddress
import re

import idna

MAX_NAME_LENGTH = 253
MAX_LABEL_LENGTH = 63
WILDCARD_PREFIX = "*."

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_PORT = re.compile(r"^[0-9]{1,5}$")
_NOT_IN_BARE_HOST = re.compile(r"[:/?#@\[\]]")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")


class InvalidResourceName(ValueError):
    """A resource name or pattern cannot be normalized; the message says why."""


def normalize_resource(raw: str) -> str:
    """Return the canonical form of a host or vendor name.

    Accepts a bare name or a URL: the scheme, userinfo, port, path, query, fragment and one
    trailing dot are dropped; the host is mapped with UTS46 (case folding, width folding) and
    encoded to IDNA A-labels. IP literals are kept in their canonical lower-case form.
    """
    host = _extract_host(raw)
    ip = _parse_ip(host)
    if ip is not None:
        return ip
    return _normalize_hostname(host, raw)


def normalize_pattern(raw: str) -> str:
    """Return the canonical form of a resource pattern: a name, or `*.` and a name of 2+ labels."""
    if raw.startswith(WILDCARD_PREFIX):
        suffix = raw[len(WILDCARD_PREFIX) :]
        if "*" in suffix:
            raise InvalidResourceName(f"{raw!r}: '*' may only be the whole leftmost label")
        if _NOT_IN_BARE_HOST.search(suffix):
            raise InvalidResourceName(f"{raw!r}: a wildcard pattern must be a bare host name")
        host = _extract_host(suffix)
        if _parse_ip(host) is not None:
            raise InvalidResourceName(f"{raw!r}: a wildcard cannot precede an IP address")
        normalized = _normalize_hostname(host, raw)
        if normalized.count(".") < 1:
            raise InvalidResourceName(f"{raw!r}: a wildcard needs at least two labels after '*.'")
        pattern = WILDCARD_PREFIX + normalized
        if len(pattern) > MAX_NAME_LENGTH:
            raise InvalidResourceName(f"{raw!r}: longer than {MAX_NAME_LENGTH} characters")
        return pattern
    if "*" in raw:
        raise InvalidResourceName(f"{raw!r}: '*' may only be the whole leftmost label, as '*.'")
    return normalize_resource(raw)


def is_wildcard(pattern: str) -> bool:
    """Tell whether a normalized pattern is a `*.suffix` wildcard rather than an exact name."""
    return pattern.startswith(WILDCARD_PREFIX)


def resource_matches(pattern: str, resource: str) -> bool:
    """Tell whether a normalized pattern covers a normalized resource.

    An exact pattern matches only itself; `*.example.com` matches strict subdomains such as
    `a.example.com` and `a.b.example.com`, never `example.com` itself and never by substring.
    """
    if pattern.startswith(WILDCARD_PREFIX):
        suffix = pattern[1:]  # ".example.com": the label boundary is part of the suffix
        return len(resource) > len(suffix) and resource.endswith(suffix)
    return pattern == resource


def _extract_host(raw: str) -> str:
    """Strip scheme, userinfo, port, path, query and fragment; return the host part."""
    if not raw:
        raise InvalidResourceName("resource name is empty")
    if any(ch.isspace() for ch in raw):
        raise InvalidResourceName(f"{raw!r}: contains whitespace")
    if len(raw) > 4 * MAX_NAME_LENGTH:
        raise InvalidResourceName(f"resource name is longer than {4 * MAX_NAME_LENGTH} characters")
    rest = _SCHEME.sub("", raw, count=1)
    for delimiter in "/?#":
        rest = rest.split(delimiter, 1)[0]
    authority = rest.rpartition("@")[2]
    if authority.startswith("["):
        host, bracket, after = authority[1:].partition("]")
        if not bracket or (after and not (after[0] == ":" and _PORT.match(after[1:]))):
            raise InvalidResourceName(f"{raw!r}: malformed bracketed IP address")
        return host
    if authority.count(":") == 1:
        authority, _, port = authority.partition(":")
        if not _PORT.match(port):
            raise InvalidResourceName(f"{raw!r}: port must be 1 to 5 digits")
    if not authority:
        raise InvalidResourceName(f"{raw!r}: no host name")
    return authority


def _parse_ip(host: str) -> str | None:
    """Return the canonical text of an IP literal, or None when the host is not one."""
    try:
        return ipaddress.ip_address(host).compressed
    except ValueError:
        if ":" in host:
            raise InvalidResourceName(f"{host!r}: not a valid IPv6 address") from None
        return None


def _normalize_hostname(host: str, raw: str) -> str:
    """UTS46-map, validate and IDNA-encode a host name, dropping one trailing dot."""
    try:
        mapped = idna.uts46_remap(host, std3_rules=True, transitional=False)
    except idna.IDNAError as exc:
        raise InvalidResourceName(f"{raw!r}: not a valid host name ({exc})") from None
    if mapped.endswith("."):
        mapped = mapped[:-1]
    labels = mapped.split(".")
    if any(not label for label in labels):
        raise InvalidResourceName(f"{raw!r}: empty label")
    try:
        encoded = [idna.alabel(label).decode("ascii") for label in labels]
    except idna.IDNAError as exc:
        raise InvalidResourceName(f"{raw!r}: not a valid host name ({exc})") from None
    if any(len(label) > MAX_LABEL_LENGTH for label in encoded):
        raise InvalidResourceName(f"{raw!r}: a label is longer than {MAX_LABEL_LENGTH} characters")
    name = ".".join(encoded)
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidResourceName(f"{raw!r}: longer than {MAX_NAME_LENGTH} characters")
    if _NUMERIC_LABEL.match(encoded[-1]):
        # WHATWG URL parsers read a numeric last label as IPv4 (octal/hex forms included);
        # refusing it keeps "010.0.0.1" from meaning two different hosts.
        raise InvalidResourceName(f"{raw!r}: looks like an IP address but is not a valid one")
    return name
