"""Normalizing resource names and `*.suffix` patterns, and matching one against the other.

This is the product's one resource-name parser. A resource is a bare host (`shop.example.com`,
`[2001:db8::1]`) or an http(s) URL, and its normalized form is the host a WHATWG URL parser
(browsers, Node's `new URL`, most HTTP clients) reads from it. Anything two parsers could read
differently is refused rather than guessed at: backslashes, user information (`@`), whitespace
and control or invisible characters, percent-encoding in the host, characters that map to a
dot, trailing dots, numeric hosts other than a canonical dotted quad, ports without a scheme,
other schemes, and empty hosts. Every name that passes is parsed a second time with ada (the
WHATWG parser Node.js uses) and must come out as the same host.
"""

from __future__ import annotations

import ipaddress
import re

import ada_url
import idna

from behalf.common.visible_text import describe, first_hidden

MAX_NAME_LENGTH = 253
MAX_LABEL_LENGTH = 63
MAX_INPUT_LENGTH = 4 * MAX_NAME_LENGTH
WILDCARD_PREFIX = "*."
ANY_RESOURCE = "*"

# WHATWG's scheme state: a scheme is read from any input that starts like this.
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
_ALLOWED_SCHEMES = frozenset({"http", "https"})
_AUTHORITY_END = re.compile(r"[/?#]")
_PORT = re.compile(r"^[0-9]{1,5}$")
_DOTTED_QUAD = re.compile(r"^[0-9]+(\.[0-9]+){3}$")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_LDH = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
# A name already in canonical form: lowercase LDH labels of 1 to 63 characters that neither
# start nor end with '-'. Names the registry stored are in this form (unless IDNA A-labels).
_CANONICAL_LDH = re.compile(
    r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
)


class InvalidResourceName(ValueError):
    """A resource name or pattern cannot be normalized; the message says why."""


def normalize_resource(raw: str) -> str:
    """Return the canonical host of a bare host name or an http(s) URL.

    Scheme, port, path, query and fragment are dropped; a host name is mapped with UTS46 (case
    and width folding) and encoded to IDNA A-labels; an IPv4 address must be a canonical dotted
    quad; an IPv6 address is written in brackets, as WHATWG serializes it. The result is the
    WHATWG host of `raw` (read as `http://` + `raw` when it has no scheme), or it is refused.
    """
    if _is_canonical_ldh(raw):
        return raw  # the full path maps such a name to itself (a property test holds it to that)
    return _normalize_resource_full(raw)


def _is_canonical_ldh(raw: str) -> bool:
    """Cheap check that `raw` is a plain ASCII host name the full path would return unchanged.

    Refuses (to the full path) anything with `--` (A-labels, the reserved third and fourth
    positions), a numeric last label (IPv4 forms) and anything over the length limit.
    """
    if len(raw) > MAX_NAME_LENGTH or "--" in raw or _CANONICAL_LDH.fullmatch(raw) is None:
        return False
    return _NUMERIC_LABEL.match(raw.rpartition(".")[2]) is None


def _normalize_resource_full(raw: str) -> str:
    """`normalize_resource` without the fast path: split, map, encode, cross-check with ada."""
    url, host = _split(raw)
    whatwg = _whatwg_host(url, raw)
    if host.startswith("["):
        canonical = _ipv6(host, whatwg, raw)
    else:
        canonical = _ipv4(host) or _normalize_hostname(host, raw)
    if canonical != whatwg:
        raise InvalidResourceName(f"{raw!r}: URL parsers would read its host differently")
    return canonical


def normalize_pattern(raw: str) -> str:
    """Return the canonical form of a resource pattern.

    A pattern is `*` (any resource), `*.` and a bare host name of two or more labels (its strict
    subdomains), or a resource (that exact host).
    """
    if raw == ANY_RESOURCE:
        return ANY_RESOURCE
    if raw.startswith(WILDCARD_PREFIX):
        suffix = raw[len(WILDCARD_PREFIX) :]
        if "*" in suffix:
            raise InvalidResourceName(f"{raw!r}: '*' may only be the whole leftmost label")
        if any(ch in suffix for ch in ":/?#[]"):
            raise InvalidResourceName(f"{raw!r}: a wildcard pattern must be a bare host name")
        host = normalize_resource(suffix)
        if _is_ip(host):
            raise InvalidResourceName(f"{raw!r}: a wildcard cannot precede an IP address")
        if "." not in host:
            raise InvalidResourceName(f"{raw!r}: a wildcard needs at least two labels after '*.'")
        pattern = WILDCARD_PREFIX + host
        if len(pattern) > MAX_NAME_LENGTH:
            raise InvalidResourceName(f"{raw!r}: longer than {MAX_NAME_LENGTH} characters")
        return pattern
    if "*" in raw:
        raise InvalidResourceName(
            f"{raw!r}: '*' is either the whole pattern or the whole leftmost label, as '*.'"
        )
    return normalize_resource(raw)


def normalize_grant_pattern(raw: str) -> str:
    """`normalize_pattern` for a pattern being granted. A grant names hosts, so a port, path,
    query or fragment written into one is refused: dropping it, as a resource being checked
    drops it, would silently widen `https://shop.example/cart` to all of `shop.example`."""
    pattern = normalize_pattern(raw)
    scheme = _SCHEME.match(raw)
    rest = raw[scheme.end() + 2 :] if scheme is not None else raw
    authority = _AUTHORITY_END.split(rest, maxsplit=1)[0]
    if rest[len(authority) :] not in ("", "/"):
        raise InvalidResourceName(
            f"{raw!r}: a grant names hosts, not paths or queries; this one would cover all of"
            f" {pattern}"
        )
    if _split_port(authority, raw)[1] is not None:
        raise InvalidResourceName(
            f"{raw!r}: a grant names hosts, not ports; this one would cover all of {pattern}"
        )
    return pattern


def is_wildcard(pattern: str) -> bool:
    """Tell whether a normalized pattern is a `*.suffix` wildcard rather than an exact name."""
    return pattern.startswith(WILDCARD_PREFIX)


def resource_matches(pattern: str, resource: str) -> bool:
    """Tell whether a normalized pattern covers a normalized resource.

    `*` matches every resource; an exact pattern matches only itself; `*.example.com` matches
    strict subdomains such as `a.example.com` and `a.b.example.com`, never `example.com` itself
    and never by substring.
    """
    if pattern == ANY_RESOURCE:
        return True
    if pattern.startswith(WILDCARD_PREFIX):
        suffix = pattern[1:]  # ".example.com": the label boundary is part of the suffix
        return len(resource) > len(suffix) and resource.endswith(suffix)
    return pattern == resource


def _split(raw: str) -> tuple[str, str]:
    """Refuse ambiguous input; return the URL a WHATWG parser should read, and its raw host."""
    if not raw:
        raise InvalidResourceName("resource name is empty")
    if len(raw) > MAX_INPUT_LENGTH:
        raise InvalidResourceName(f"resource name is longer than {MAX_INPUT_LENGTH} characters")
    if first_hidden(raw, spaces=False) is not None:
        raise InvalidResourceName(
            f"{raw!r}: contains whitespace, a control character or an invisible character"
        )
    if "\\" in raw:
        raise InvalidResourceName(f"{raw!r}: contains '\\', which URL parsers read as '/'")
    if "@" in raw:
        raise InvalidResourceName(f"{raw!r}: contains '@' (user information is not allowed)")
    scheme = _SCHEME.match(raw)
    if scheme is not None:
        if scheme.group(1).lower() not in _ALLOWED_SCHEMES:
            raise InvalidResourceName(
                f"{raw!r}: reads as a URL with scheme {scheme.group(1)!r}; use a bare host "
                "name, or an http:// or https:// URL (a port needs one)"
            )
        rest = raw[scheme.end() :]
        if not rest.startswith("//") or rest.startswith("///"):
            raise InvalidResourceName(f"{raw!r}: the scheme must be followed by '//' and a host")
        url, rest = raw, rest[2:]
    else:
        url, rest = "http://" + raw, raw
    authority = _AUTHORITY_END.split(rest, maxsplit=1)[0]
    host, port = _split_port(authority, raw)
    if port is not None and scheme is None:
        raise InvalidResourceName(f"{raw!r}: a port needs a scheme, as in https://host:port")
    if not host:
        raise InvalidResourceName(f"{raw!r}: no host name")
    if "%" in host:
        raise InvalidResourceName(f"{raw!r}: percent-encoding is not allowed in a host name")
    return url, host


def _split_port(authority: str, raw: str) -> tuple[str, str | None]:
    """Split `host[:port]` or `[ipv6][:port]`; a port is 1 to 5 digits, at most 65535."""
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            raise InvalidResourceName(f"{raw!r}: malformed bracketed IP address")
        host, after = authority[: end + 1], authority[end + 1 :]
        if after and not after.startswith(":"):
            raise InvalidResourceName(f"{raw!r}: malformed bracketed IP address")
        port = after[1:] if after else None
    elif ":" in authority:
        if _bare_ipv6(authority):
            raise InvalidResourceName(f"{raw!r}: write an IPv6 address in brackets, as [::1]")
        host, _, port = authority.partition(":")
    else:
        host, port = authority, None
    if port is not None and (not _PORT.match(port) or int(port) > 65535):
        raise InvalidResourceName(f"{raw!r}: a port must be a number from 0 to 65535")
    return host, port


def _bare_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _whatwg_host(url: str, raw: str) -> str:
    """The host ada (a WHATWG URL parser) reads from `url`."""
    try:
        return ada_url.URL(url).hostname
    except ValueError:
        raise InvalidResourceName(f"{raw!r}: not a valid URL or host name") from None


def _ipv6(host: str, whatwg: str, raw: str) -> str:
    """A bracketed IPv6 address, in WHATWG's serialization, once both parsers agree on it."""
    try:
        address = ipaddress.IPv6Address(host[1:-1])
    except ValueError:
        raise InvalidResourceName(f"{raw!r}: not a valid IPv6 address") from None
    if not whatwg.startswith("[") or ipaddress.IPv6Address(whatwg[1:-1]) != address:
        raise InvalidResourceName(f"{raw!r}: URL parsers would read its host differently")
    return whatwg


def _ipv4(host: str) -> str | None:
    """The host if it is a canonical dotted quad, else None (other numeric forms fail later)."""
    if not _DOTTED_QUAD.match(host):
        return None
    try:
        address = ipaddress.IPv4Address(host)  # refuses leading zeros and octets over 255
    except ValueError:
        return None
    return host if str(address) == host else None


def _is_ip(host: str) -> bool:
    return host.startswith("[") or _ipv4(host) is not None


def _normalize_hostname(host: str, raw: str) -> str:
    """UTS46-map, validate and IDNA-encode a host name."""
    if host.endswith("."):
        raise InvalidResourceName(f"{raw!r}: a trailing dot is not allowed")
    if len(host) > MAX_NAME_LENGTH:
        # Refused as written, before mapping costs microseconds a character: only characters
        # UTS46 ignores could shorten it to a valid name.
        raise InvalidResourceName(f"{raw!r}: longer than {MAX_NAME_LENGTH} characters")
    try:
        for ch in dict.fromkeys(ch for ch in host if not ch.isascii()):  # each once, in order
            mapped = idna.uts46_remap(ch, std3_rules=True, transitional=False)
            if not mapped:
                # Letters and marks that show as nothing (U+3164, U+034F, variation selectors):
                # mapping deletes them, where a parser that does not map reads another host.
                raise InvalidResourceName(
                    f"{raw!r}: {describe(ch)} is invisible and dropped from host names"
                )
            if any(m.isascii() and m not in _LDH for m in mapped.lower()):
                raise InvalidResourceName(
                    f"{raw!r}: {ch!r} maps to {mapped!r}; write ASCII punctuation as itself"
                )
        mapped = idna.uts46_remap(host, std3_rules=True, transitional=False)
        labels = mapped.split(".")
        if any(not label for label in labels):
            raise InvalidResourceName(f"{raw!r}: empty label")
        if any(len(label) > MAX_LABEL_LENGTH for label in labels):  # before Punycode's cost
            raise InvalidResourceName(
                f"{raw!r}: a label is longer than {MAX_LABEL_LENGTH} characters"
            )
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
