"""Pure registry pieces: keys, secret box, webhook URLs, templates, page tokens, validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf import duration_pb2

from behalf.common.callers import KeyScope, Role, key_digest
from behalf.common.errors import InvalidArgument, PermissionDenied, Unauthenticated
from behalf.registry import validation as v
from behalf.registry.keys import Authenticator, generate_key
from behalf.registry.passport import PassportSigner
from behalf.registry.secret_box import DecryptionError, SecretBox, new_webhook_secret
from behalf.registry.store import paging
from behalf.registry.store.values import StoredKey
from behalf.registry.templates import CATALOGUE, Catalogue
from behalf.registry.webhook_urls import InvalidWebhookUrl, validate_webhook_url
from behalf.v1 import common_pb2, registry_pb2

MASTER = bytes(range(32))


def test_generated_keys_are_prefixed_random_and_hashed() -> None:
    """Keys read bhk_<role>_…, differ every time, and store only their SHA-256."""
    a, b = generate_key(Role.AUDIT_READ), generate_key(Role.AUDIT_READ)
    assert a.secret.startswith("bhk_audit_") and len(a.secret) == len("bhk_audit_") + 43
    assert a.secret != b.secret and a.secret_hash == key_digest(a.secret)
    assert a.display_prefix == a.secret[: len("bhk_audit_") + 4]


async def test_authenticator_maps_keys_and_refuses_others() -> None:
    """A known key yields its caller; unknown or malformed keys are Unauthenticated."""
    key = generate_key(Role.VERIFY)

    async def lookup(digest: bytes) -> StoredKey | None:
        if digest != key.secret_hash:
            return None
        return StoredKey("key_1", "ten_1", Role.VERIFY, digest, KeyScope(agent_id="agt_1"))

    auth = Authenticator(lookup)
    caller = await auth.authenticate([("authorization", f"Bearer {key.secret}")])
    assert (caller.tenant_id, caller.role) == ("ten_1", Role.VERIFY)
    assert caller.scope == KeyScope(agent_id="agt_1"), "the key's scope reaches the handlers"
    with pytest.raises(PermissionDenied):
        caller.require(Role.ADMIN)
    for token in (generate_key(Role.VERIFY).secret, "garbage"):
        with pytest.raises(Unauthenticated):
            await auth.authenticate([("authorization", f"Bearer {token}")])


def test_secret_box_round_trips_and_binds_associated_data() -> None:
    """Ciphertexts decrypt only under the same key, purpose and associated data."""
    box = SecretBox(MASTER, "webhook-secrets")
    sealed = box.encrypt(b"hello", b"row-1")
    assert box.decrypt(sealed, b"row-1") == b"hello" and b"hello" not in sealed
    with pytest.raises(DecryptionError):
        box.decrypt(sealed, b"row-2")
    with pytest.raises(DecryptionError):
        SecretBox(MASTER, "other").decrypt(sealed, b"row-1")
    assert new_webhook_secret().startswith("whsec_")


def test_passport_keys_are_deterministic_per_master_key_and_tenant() -> None:
    """Every replica derives a tenant's signing key from the same master key; each tenant has
    a key of its own, so the keys published to one verify none of another's passports."""
    acme, other = "ten_" + "a" * 20, "ten_" + "b" * 20
    assert PassportSigner(MASTER).key_for(acme) == PassportSigner(MASTER).key_for(acme)
    assert PassportSigner(MASTER).key_for(acme).public_key != (
        PassportSigner(bytes(32)).key_for(acme).public_key
    )
    assert (
        PassportSigner(MASTER).key_for(acme).key_id != PassportSigner(MASTER).key_for(other).key_id
    )


@pytest.mark.parametrize(
    "url", ["https://hooks.example.com/x", "https://8.8.8.8/x", "https://[2001:4860::8888]/"]
)
def test_public_webhook_urls_pass(url: str) -> None:
    """Public https URLs are accepted."""
    assert validate_webhook_url(url, allow_private=False) == url


@pytest.mark.parametrize(
    "url", ["https://172.16.0.1/", "https://[fe80::1]/", "https://api.localhost/", "http://x.io/"]
)
def test_private_webhook_urls_fail_unless_allowed(url: str) -> None:
    """Private, link-local, localhost and plain-http URLs need the development setting."""
    with pytest.raises(InvalidWebhookUrl):
        validate_webhook_url(url, allow_private=False)
    assert validate_webhook_url(url, allow_private=True) == url


@pytest.mark.parametrize(
    "url",
    [
        # localhost and 127.0.0.1 in full-width letters and digits
        "https://\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54/hook",
        "https://\uff11\uff12\uff17.\uff10.\uff10.\uff11/hook",
        "https://localhost%2e/hook",
        "https://127.0.0.1%2e/hook",
        "https://bücher.example/hook",
        "https://hooks..example.org/hook",  # an empty label
        "https://" + "a" * 64 + ".example.org/hook",  # a label of 64: no DNS name
        "https://" + "a." * 127 + "org/hook",  # 257 in all
    ],
)
def test_a_host_other_parsers_read_otherwise_is_refused(url: str) -> None:
    """Hosts that URL parsers map (full-width letters and digits) or decode (`%2e`), or that no
    DNS query can carry, are refused even in development, where private targets are allowed:
    only a plain ASCII DNS name is read alike by every parser and resolver."""
    for allow_private in (False, True):
        with pytest.raises(InvalidWebhookUrl, match="ASCII"):
            validate_webhook_url(url, allow_private=allow_private)
    for fine in ("https://xn--bcher-kva.example/hook", "https://" + "a" * 63 + ".example/"):
        assert validate_webhook_url(fine, allow_private=False) == fine


def test_catalogue_covers_six_categories_with_versions() -> None:
    """The catalogue spans all six categories; version 0 means latest."""
    catalogue = Catalogue()
    assert {t.category for t in CATALOGUE} == set(range(1, 7))
    assert catalogue.get("transactions.purchase").version == 2  # type: ignore[union-attr]
    assert catalogue.get("transactions.purchase", 1).version == 1  # type: ignore[union-attr]
    assert catalogue.get("nope") is None
    assert all(t.resources_required for t in CATALOGUE if t.amounts_apply)


def test_page_tokens_round_trip_and_are_list_specific() -> None:
    """A token decodes to its cursor only for the list that issued it."""
    now = datetime.now(UTC)
    token = paging.encode("agents", now, "agt_x")
    assert paging.decode("agents", token) == paging.Cursor(now, "agt_x")
    assert paging.decode("agents", "") is None
    for bad in ("!!", "e30", paging.encode("permissions", now, "x")):
        with pytest.raises(paging.BadPageToken):
            paging.decode("agents", bad)


@pytest.mark.parametrize("name", ["", "purchases", "Data_access.read", "a." + "b" * 300, "a.b\x00"])
def test_a_template_name_out_of_its_grammar_is_refused(name: str) -> None:
    """Template names are dotted lower-case words; anything else is the field's fault."""
    with pytest.raises(InvalidArgument) as info:
        v.template_name(name, "template_name")
    assert info.value.field == "template_name"
    assert v.template_name("admin_workflows.operator", "name") == "admin_workflows.operator"


def test_grant_validation_applies_template_and_names_fields() -> None:
    """A template grant fills defaults; a contradiction names the field."""
    now = datetime.now(UTC)
    request = registry_pb2.GrantPermissionRequest(
        agent_id="agt_" + "a" * 20, template_name="transactions.refunds", resources=["x.com"]
    )
    spec = v.grant(request, now=now, catalogue=Catalogue())
    assert spec.requires_approval and spec.category == common_pb2.ACTION_CATEGORY_TRANSACTIONS
    assert spec.expires_at == now + timedelta(days=7)
    request.blocked_actions.append("issue_refund")
    with pytest.raises(InvalidArgument) as info:
        v.grant(request, now=now, catalogue=Catalogue())
    assert info.value.field == "blocked_actions"


@pytest.mark.parametrize("code", ["USD", "EUR", "JPY"])
def test_known_currencies_pass(code: str) -> None:
    """ISO-4217 codes in upper case are accepted."""
    assert v.currency(code, "c") == code


@pytest.mark.parametrize("code", ["", "usd", "US", "XXX1", "ABC"])
def test_unknown_currencies_fail(code: str) -> None:
    """Anything but a known upper-case ISO-4217 code is refused, naming the field."""
    with pytest.raises(InvalidArgument) as info:
        v.currency(code, "max_amount.currency")
    assert info.value.field == "max_amount.currency"


@pytest.mark.parametrize(
    ("check", "field"),
    [
        (lambda: v.description("a\x00b"), "description"),
        (lambda: v.description("ring\x07", "comment"), "comment"),
        (lambda: v.labels({"team": "x\x00"}), "labels['team']"),
        (lambda: v.labels({"team": "x\ny"}), "labels['team']"),
        (lambda: v.name("shop\x7f"), "name"),
        (lambda: v.name("shop\x9b31mper"), "name"),  # C1 CSI: a terminal escape, like ESC [
        (lambda: v.description("ok\x85", "comment"), "comment"),
        (lambda: v.name("shop\u202egnp.exe"), "name"),  # a right-to-left override
        (lambda: v.name("agent\u200b", "resolved_by"), "resolved_by"),  # zero-width space
        (lambda: v.labels({"team": "a\u2066b"}), "labels['team']"),  # an isolate
        (lambda: v.description("line\u2028break"), "description"),
    ],
)
def test_hidden_characters_are_refused_naming_the_field(check, field: str) -> None:
    """A NUL (which PostgreSQL refuses in text, so an INTERNAL error), another control, or a
    character that hides or reorders what a person reads (bidi, zero-width) is InvalidArgument
    naming the field; a description keeps its line breaks and tabs."""
    with pytest.raises(InvalidArgument) as info:
        check()
    assert info.value.field == field
    assert v.description("line one\r\n\tline two") == "line one\r\n\tline two"
    assert v.name("Café bot ☕") == "Café bot ☕"


@pytest.mark.parametrize("seconds", [2**62, 2**63 - 1, -(2**62)])
def test_an_out_of_range_duration_names_the_field(seconds: int) -> None:
    """A Duration no timedelta can hold is InvalidArgument, not an OverflowError (INTERNAL)."""
    request = registry_pb2.GrantPermissionRequest(
        agent_id="agt_" + "a" * 20, allowed_actions=["purchase"], resources=["x.com"]
    )
    request.expires_in.seconds = seconds
    with pytest.raises(InvalidArgument) as info:
        v.grant(request, now=datetime.now(UTC), catalogue=Catalogue())
    assert info.value.field == "expires_in"
    wait = duration_pb2.Duration(seconds=seconds)
    with pytest.raises(InvalidArgument) as info:
        v.bounded_duration(wait, "wait.timeout", default=timedelta(1), maximum=timedelta(2))
    assert info.value.field == "wait.timeout"
