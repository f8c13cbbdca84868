"""Validating webhook endpoint URLs: http(s) only, and no private or local targets.

IP literals must be public addresses by `behalf.common.public_address` (the one definition the
dispatcher also uses, so IPv6 forms embedding an IPv4 address are judged by that address);
`localhost` and `*.localhost` are refused by name. A host name must be plain ASCII (an
internationalized name in its `xn--` form): URL parsers map full-width letters and decode
`%2e`, so `localhost` in full-width letters would be read as localhost by them and as
something else here. Host names are not resolved here (DNS can change after validation
anyway): the dispatcher resolves and checks at every attempt and connects only to the address
that passed.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from behalf.common.public_address import is_public_address

MAX_URL_LENGTH = 2048
_NUMERIC_LAST_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$", re.I)
_HOST_NAME = re.compile(r"[a-z0-9_-]{1,63}(\.[a-z0-9_-]{1,63})*")  # DNS: labels of 1-63
MAX_HOST_LENGTH = 253


class InvalidWebhookUrl(ValueError):
    """The URL is malformed or targets a refused address; the message says why."""


def validate_webhook_url(raw: str, *, allow_private: bool) -> str:
    """Return the URL unchanged if acceptable, else raise InvalidWebhookUrl.

    `allow_private` is the development setting: it also allows plain http.
    """
    if not raw:
        raise InvalidWebhookUrl("is required")
    if len(raw) > MAX_URL_LENGTH:
        raise InvalidWebhookUrl(f"must be at most {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in raw):
        raise InvalidWebhookUrl("must not contain whitespace or control characters")
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as exc:
        raise InvalidWebhookUrl(f"is malformed ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"}:
        raise InvalidWebhookUrl("must be an http or https URL")
    if scheme == "http" and not allow_private:
        raise InvalidWebhookUrl("must use https")
    if parts.username is not None or parts.password is not None:
        raise InvalidWebhookUrl("must not carry credentials")
    if port == 0:
        raise InvalidWebhookUrl("has an invalid port")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise InvalidWebhookUrl("has no host")
    is_name = len(host) <= MAX_HOST_LENGTH and _HOST_NAME.fullmatch(host)
    if not is_name and not _is_ip_literal(host):
        raise InvalidWebhookUrl(
            "must have a host of ASCII letters, digits, '-', '_' and dots (labels of 1-63,"
            " 253 in all), or an IP address (an internationalized name in its xn-- form)"
        )
    if not allow_private:
        _refuse_local_host(host)
    return raw


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _refuse_local_host(host: str) -> None:
    if host == "localhost" or host.endswith(".localhost"):
        raise InvalidWebhookUrl("must not target localhost")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if _NUMERIC_LAST_LABEL.fullmatch(host.rsplit(".", 1)[-1]):
            # "2130706433" or "0x7f.1" read as IPv4 by URL parsers; refuse the ambiguity.
            raise InvalidWebhookUrl("has a numeric host that is not a plain IP address") from None
        return
    if not is_public_address(address):
        raise InvalidWebhookUrl("must not target a private, loopback or link-local address")
