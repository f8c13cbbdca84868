"""The one public-address check, for the registry's URL validation and the dispatcher's connect."""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from behalf.common.public_address import embedded_ipv4, is_public_address
from behalf.registry.webhook_urls import InvalidWebhookUrl, validate_webhook_url


def _mapped(v4: IPv4Address) -> IPv6Address:
    return IPv6Address(0xFFFF << 32 | int(v4))


def _compatible(v4: IPv4Address) -> IPv6Address:
    return IPv6Address(int(v4))


def _nat64(v4: IPv4Address) -> IPv6Address:
    return IPv6Address(int(IPv6Address("64:ff9b::")) | int(v4))


def _six_to_four(v4: IPv4Address) -> IPv6Address:
    return IPv6Address(0x2002 << 112 | int(v4) << 80 | 1)


def _nat64_local(v4: IPv4Address) -> IPv6Address:
    return IPv6Address(int(IPv6Address("64:ff9b:1::")) | int(v4))


def _teredo(v4: IPv4Address) -> IPv6Address:
    # 2001:0:<server v4>:<flags>:<port ^ ffff>:<client v4 ^ ffffffff>
    return IPv6Address(0x20010000 << 96 | 0xC0000201 << 64 | (int(v4) ^ 0xFFFFFFFF))


EMBEDDINGS: dict[str, Callable[[IPv4Address], IPv6Address]] = {
    "mapped": _mapped,
    "compatible": _compatible,
    "nat64": _nat64,
    "6to4": _six_to_four,
}
ALWAYS_REFUSED: dict[str, Callable[[IPv4Address], IPv6Address]] = {
    "nat64-local-use": _nat64_local,
    "teredo": _teredo,
}
REFUSED_V4 = ("127.0.0.1", "10.0.0.1", "169.254.169.254")
PUBLIC_V4 = "93.184.216.34"
PUBLIC_V6 = "2606:2800:220:1:248:1893:25c8:1946"


@pytest.mark.parametrize("v4", REFUSED_V4)
@pytest.mark.parametrize("form", [None, *EMBEDDINGS, *ALWAYS_REFUSED])
def test_every_form_of_a_refused_ipv4_is_refused(v4: str, form: str | None) -> None:
    """127.0.0.1, 10.0.0.1 and 169.254.169.254 are refused plain and in every IPv6 embedding."""
    address = IPv4Address(v4)
    candidate = address if form is None else {**EMBEDDINGS, **ALWAYS_REFUSED}[form](address)
    assert not is_public_address(candidate)
    assert not is_public_address(str(candidate))


@pytest.mark.parametrize(
    "address", ["64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::1", "::a9fe:a9fe", "::ffff:a9fe:a9fe"]
)
def test_the_issue_examples_reach_metadata_and_are_refused(address: str) -> None:
    """The NAT64, 6to4, compatible and mapped spellings of 169.254.169.254 are refused."""
    assert embedded_ipv4(IPv6Address(address)) == IPv4Address("169.254.169.254")
    assert not is_public_address(address)


@pytest.mark.parametrize(
    "address",
    [
        "0.0.0.0",
        "100.64.0.1",
        "172.16.0.1",
        "192.168.1.1",
        "192.0.0.9",
        "192.0.2.1",
        "198.18.0.1",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::",
        "::1",
        "fe80::1",
        "fe80::1%eth0",
        "fec0::1",
        "fc00::1",
        "fd12:3456::1",
        "ff02::1",
        "100::1",
        "2001:db8::1",
        "2001:2::1",
        "3fff::1",
        "5f00::1",
    ],
)
def test_non_global_ranges_are_refused(address: str) -> None:
    """Unspecified, shared, private, documentation, multicast, reserved and local v6 are refused."""
    assert not is_public_address(address)


@pytest.mark.parametrize("form", [None, *EMBEDDINGS])
def test_public_addresses_pass_plain_and_embedded(form: str | None) -> None:
    """A public IPv4 passes plain and in the embeddings that carry it; a public IPv6 passes."""
    address = IPv4Address(PUBLIC_V4)
    assert is_public_address(address if form is None else EMBEDDINGS[form](address))
    assert is_public_address(PUBLIC_V6) and is_public_address(IPv6Address(PUBLIC_V6))


@pytest.mark.parametrize("form", list(ALWAYS_REFUSED))
def test_teredo_and_local_nat64_are_refused_even_around_a_public_ipv4(form: str) -> None:
    """Teredo and local-use NAT64 are refused outright, whatever IPv4 they carry."""
    assert not is_public_address(ALWAYS_REFUSED[form](IPv4Address(PUBLIC_V4)))


@given(st.ip_addresses(v=4), st.sampled_from(sorted(EMBEDDINGS)))
def test_an_embedded_ipv4_is_judged_as_itself(v4: IPv4Address, form: str) -> None:
    """Any IPv4 gets the same verdict plain and in a mapped, compatible, NAT64 or 6to4 form."""
    embedded = EMBEDDINGS[form](v4)
    assert embedded_ipv4(embedded) == v4
    assert is_public_address(embedded) == is_public_address(v4)


@given(st.ip_addresses(v=6))
def test_only_global_unicast_or_a_public_embedding_passes(v6: IPv6Address) -> None:
    """An IPv6 address passes only inside 2000::/3 or when it embeds a public IPv4."""
    if is_public_address(v6):
        embedded = embedded_ipv4(v6)
        assert (embedded is not None and is_public_address(embedded)) or int(v6) >> 125 == 1


def test_a_string_that_is_no_address_is_an_error() -> None:
    """A host name is not an address: the caller must resolve it first."""
    with pytest.raises(ValueError):
        is_public_address("hooks.example.com")


@pytest.mark.parametrize(
    "host", ["[64:ff9b::a9fe:a9fe]", "[2002:a9fe:a9fe::1]", "[::a9fe:a9fe]", "[2001::1]"]
)
def test_webhook_urls_use_the_same_check(host: str) -> None:
    """The registry refuses URLs whose IP literal embeds a refused IPv4, as the dispatcher does."""
    with pytest.raises(InvalidWebhookUrl, match="private"):
        validate_webhook_url(f"https://{host}/hook", allow_private=False)
    assert validate_webhook_url(f"https://{host}/hook", allow_private=True)
    assert validate_webhook_url(f"https://[{PUBLIC_V6}]/hook", allow_private=False)
