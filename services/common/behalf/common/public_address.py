"""The one definition of a public address: where a webhook delivery may connect.

An address is public when it is globally reachable unicast. Refused: private, loopback,
link-local, unspecified, multicast, reserved, shared (100.64/10), documentation and benchmarking
ranges, and every IPv6 address outside global unicast (2000::/3). IPv6 forms that carry an IPv4
address are judged by that IPv4 address: IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible
`::a.b.c.d`, NAT64 `64:ff9b::/96` and 6to4 `2002::/16` (the IPv4 is bits 16-48). Forms whose
IPv4 cannot be read reliably are refused outright: Teredo (`2001::/32`, inside the refused
`2001::/23`) and local-use NAT64 (`64:ff9b:1::/48`). The tables are written out here rather than
taken from `ipaddress.is_global`, whose answers vary between Python patch releases; its flags
only ever refuse more.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

# IANA IPv4 special-purpose registry: the ranges that are not globally reachable unicast.
_REFUSED_V4 = tuple(
    IPv4Network(n)
    for n in (
        "0.0.0.0/8",  # "this network", unspecified
        "10.0.0.0/8",  # private
        "100.64.0.0/10",  # shared address space (carrier-grade NAT)
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local, cloud metadata
        "172.16.0.0/12",  # private
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation
        "192.88.99.0/24",  # deprecated 6to4 relay anycast
        "192.168.0.0/16",  # private
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation
        "203.0.113.0/24",  # documentation
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and the limited broadcast 255.255.255.255
    )
)

_GLOBAL_UNICAST_V6 = IPv6Network("2000::/3")
_REFUSED_V6 = tuple(
    IPv6Network(n)
    for n in (
        "2001::/23",  # IETF protocol assignments, Teredo 2001::/32 among them
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation
    )
)

_V4_MAPPED = IPv6Network("::ffff:0:0/96")
_V4_COMPATIBLE = IPv6Network("::/96")
_NAT64_WELL_KNOWN = IPv6Network("64:ff9b::/96")
_SIX_TO_FOUR = IPv6Network("2002::/16")
_LOW_32_BITS = 0xFFFFFFFF


def is_public_address(ip: str | IPv4Address | IPv6Address) -> bool:
    """Whether a connection to `ip` reaches the public internet; a string must be an address.

    Raises ValueError for a string that is not an IP address (an IPv6 zone is allowed).
    """
    address = ip_address(ip) if isinstance(ip, str) else ip
    if isinstance(address, IPv4Address):
        return _is_public_v4(address)
    embedded = embedded_ipv4(address)
    if embedded is not None:
        return _is_public_v4(embedded)
    if address.scope_id is not None or address not in _GLOBAL_UNICAST_V6:
        return False
    if any(address in network for network in _REFUSED_V6):
        return False
    return _stdlib_agrees(address)


def embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4), else None."""
    if address.scope_id is not None:
        return None
    if address in _V4_MAPPED or address in _V4_COMPATIBLE or address in _NAT64_WELL_KNOWN:
        return IPv4Address(int(address) & _LOW_32_BITS)
    if address in _SIX_TO_FOUR:
        return IPv4Address((int(address) >> 80) & _LOW_32_BITS)
    return None


def _is_public_v4(address: IPv4Address) -> bool:
    if any(address in network for network in _REFUSED_V4):
        return False
    return _stdlib_agrees(address)


def _stdlib_agrees(address: IPv4Address | IPv6Address) -> bool:
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_unspecified
        or address.is_multicast
        or address.is_reserved
    )
