"""Which credentials a channel gets: TLS, except plaintext to loopback or when the caller opts out.

The rule, the same as the TypeScript SDK's `isLoopbackTarget`: a target that stays on this
machine (`localhost`, `127.0.0.0/8`, `::1`, a `unix:` socket, e.g. a sidecar) may be plaintext;
every other target gets TLS with the system roots, so an API key never crosses a network in
clear text by accident. Plaintext elsewhere takes an explicit opt-out: `insecure=True` (SDK),
`--insecure` (CLI) or `BEHALF_INSECURE=1` (both). Caller-given credentials (a private CA,
mutual TLS) always win. The SDK and the CLI both call `channel_credentials`.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path

import grpc

__all__ = [
    "INSECURE_ENV",
    "channel_credentials",
    "insecure_from_env",
    "is_loopback_target",
    "tls_credentials",
]

INSECURE_ENV = "BEHALF_INSECURE"
_SCHEME = re.compile(r"^(?:dns|ipv4|ipv6):(?://[^/]*/)?", re.IGNORECASE)
_BRACKETED = re.compile(r"^\[([^\]]+)\](?::\d*)?$")
_PORT = re.compile(r":\d*$")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})
_LOOPBACK_V4 = ipaddress.ip_network("127.0.0.0/8")
_LOOPBACK_V6 = ipaddress.IPv6Address("::1")


def is_loopback_target(target: str) -> bool:
    """True for a gRPC target that stays on this machine: loopback hosts and unix sockets.

    Every address of a list (`ipv4:127.0.0.1:1,10.0.0.1:2`) must be loopback.
    """
    target = target.strip()
    if target.startswith("unix:"):
        return True
    addresses = _SCHEME.sub("", target, count=1).split(",")
    return all(_is_loopback_host(_host(address)) for address in addresses)


def _host(address: str) -> str:
    bracketed = _BRACKETED.fullmatch(address)
    if bracketed:
        return bracketed.group(1)
    if address.count(":") > 1:
        return address  # a bare IPv6 address
    return _PORT.sub("", address)


def _is_loopback_host(host: str) -> bool:
    host = host.lower()
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv4Address):
        return address in _LOOPBACK_V4
    return address == _LOOPBACK_V6


def insecure_from_env(environ: Mapping[str, str] | None = None) -> bool:
    """`BEHALF_INSECURE` as a bool (1/true/yes/on, 0/false/no/off or unset); else ValueError."""
    value = (os.environ if environ is None else environ).get(INSECURE_ENV, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{INSECURE_ENV} must be 1 or 0")


def tls_credentials(ca_file: str | Path | None = None) -> grpc.ChannelCredentials:
    """TLS credentials: the system roots, or the PEM roots in `ca_file`."""
    roots = Path(ca_file).read_bytes() if ca_file is not None else None
    return grpc.ssl_channel_credentials(root_certificates=roots)


def channel_credentials(
    target: str,
    credentials: grpc.ChannelCredentials | None = None,
    *,
    insecure: bool = False,
) -> grpc.ChannelCredentials | None:
    """The credentials for a channel to `target`; None means plaintext.

    Explicit `credentials` win (even over `insecure`); `insecure` makes every target
    plaintext; otherwise a loopback target is plaintext and any other gets TLS with the system
    roots.
    """
    if credentials is not None:
        return credentials
    if insecure or is_loopback_target(target):
        return None
    return grpc.ssl_channel_credentials()
