"""Passport verification: a registry-signed passport verifies against a trusted key; its own
key is never trusted, and tampering, another key, age, expiry and malformed documents are
refused."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from typer.testing import CliRunner

from behalf import PassportError, SignedPassport, verify_passport
from behalf._passport import DEFAULT_MAX_AGE, _b64url, key_id_of
from behalf.cli import app
from behalf.registry.passport import PassportSigner
from behalf.v1 import common_pb2, resources_pb2

ISSUED = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
SOON = ISSUED + timedelta(minutes=1)


def _signed(
    master: bytes = b"m" * 32,
    valid_for: timedelta = timedelta(hours=1),
    agent: resources_pb2.Agent | None = None,
) -> SignedPassport:
    signer = PassportSigner(master)
    agent = agent or resources_pb2.Agent(agent_id="agt_1", tenant_id="ten_1", name="buyer")
    permission = resources_pb2.Permission(
        permission_id="prm_1",
        agent_id="agt_1",
        allowed_actions=["purchase"],
        resources=["coachella.com"],
        max_amount=common_pb2.Money(amount_minor=80000, currency="USD"),
    )
    permission.expires_at.FromDatetime(ISSUED + timedelta(hours=2))
    signed = signer.sign(agent, [permission], revision=42, issued_at=ISSUED, valid_for=valid_for)
    return SignedPassport(signed.document, signed.signature, signed.key_id, signed.public_key)


def _self_signed(body: dict) -> SignedPassport:
    """`body` signed by a fresh key that names itself and travels with the passport."""
    key = Ed25519PrivateKey.generate()
    public = key.public_key()
    body = {**body, "key_id": key_id_of(public)}
    document = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return SignedPassport(document, _b64url(key.sign(document)), body["key_id"], _b64url(raw))


def test_registry_signed_passport_verifies() -> None:
    """The registry's own signer produces a passport the SDK verifies and parses."""
    signed = _signed(valid_for=timedelta(hours=4))
    passport = signed.verify(signed.public_key, now=SOON)
    assert (passport.agent_id, passport.tenant_id, passport.revision) == ("agt_1", "ten_1", 42)
    assert passport.issued_at == ISSUED and passport.key_id == signed.key_id
    assert passport.expires_at == ISSUED + timedelta(hours=4)
    assert passport.permissions[0]["max_amount"] == {"amount_minor": "80000", "currency": "USD"}
    assert len(passport.active_permissions(ISSUED + timedelta(hours=1))) == 1
    assert passport.active_permissions(ISSUED + timedelta(hours=3)) == ()  # the line expired


def test_published_keys_by_id_or_as_a_list_are_trusted() -> None:
    """The registry's keys as ListPassportKeys returns them (id to key), or a list, verify."""
    signed = _signed()
    other = _signed(b"o" * 32)
    published = {signed.key_id: signed.public_key, other.key_id: other.public_key}
    assert signed.verify(published, now=SOON).agent_id == "agt_1"
    assert signed.verify([other.public_key, signed.public_key], now=SOON).revision == 42
    with pytest.raises(PassportError, match="not trusted"):
        signed.verify({other.key_id: other.public_key}, now=SOON)


def test_a_published_key_under_the_wrong_id_is_refused() -> None:
    """A key mapping whose id is not the key's own id is a misconfiguration, not a trust."""
    signed = _signed()
    with pytest.raises(PassportError, match="does not match its key id"):
        signed.verify({signed.key_id: _signed(b"o" * 32).public_key}, now=SOON)


def test_verify_without_a_trusted_key_raises() -> None:
    """With no pinned or fetched key, verify refuses rather than trust the passport's own key."""
    with pytest.raises(PassportError, match="no trusted key"):
        _signed().verify(now=SOON)


def test_a_self_signed_passport_is_refused() -> None:
    """A passport signed by a fresh key that embeds its own public key verifies against
    nothing: not with no key, and not with the real pinned key."""
    real = _signed()
    forged = _self_signed(json.loads(real.document))
    with pytest.raises(PassportError, match="no trusted key"):
        forged.verify(now=SOON)
    with pytest.raises(PassportError, match="not trusted"):
        forged.verify(real.public_key, now=SOON)
    with pytest.raises(PassportError, match="not trusted"):
        forged.verify({real.key_id: real.public_key}, now=SOON)
    with pytest.raises(PassportError, match="not trusted"):
        SignedPassport.from_json(forged.to_json()).verify(real.public_key, now=SOON)


def test_any_changed_byte_is_detected() -> None:
    """Changing the document (a higher limit, say) breaks the signature."""
    signed = _signed()
    forged = signed.document.replace(b'"80000"', b'"99999"')
    assert forged != signed.document
    with pytest.raises(PassportError, match="signature"):
        verify_passport(forged, signed.signature, signed.public_key, now=SOON)
    flipped = bytearray(signed.document)
    flipped[len(flipped) // 2] ^= 1
    with pytest.raises(PassportError):
        verify_passport(bytes(flipped), signed.signature, signed.public_key, now=SOON)


def test_another_key_is_refused() -> None:
    """A passport checked against a different key (another registry) fails."""
    signed = _signed()
    other = _signed(b"o" * 32)
    with pytest.raises(PassportError):
        verify_passport(signed.document, signed.signature, other.public_key, now=SOON)


def test_a_forger_reusing_the_registry_key_id_fails() -> None:
    """Re-signing a forged document that still names the registry's key fails against that key
    and is not trusted under the forger's own key."""
    signed = _signed()
    body = json.loads(signed.document)
    body["permissions"][0]["max_amount"]["amount_minor"] = "99999999"
    forged = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    key = Ed25519PrivateKey.generate()
    signature = _b64url(key.sign(forged))
    with pytest.raises(PassportError, match="signature"):
        verify_passport(forged, signature, signed.public_key, now=SOON)
    own = _b64url(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    with pytest.raises(PassportError, match="not trusted"):
        verify_passport(forged, signature, own, now=SOON)


def test_a_passport_past_its_signed_expiry_is_refused() -> None:
    """Past `expires_at` a passport is refused even with no max age."""
    signed = _signed(valid_for=timedelta(days=7))
    assert signed.verify(signed.public_key, max_age=None, now=ISSUED + timedelta(days=6))
    with pytest.raises(PassportError, match="expired"):
        signed.verify(signed.public_key, max_age=None, now=ISSUED + timedelta(days=7))


def test_default_max_age_is_one_hour() -> None:
    """Without `max_age`, a passport older than an hour is refused though its expiry is later."""
    assert DEFAULT_MAX_AGE == timedelta(hours=1)
    signed = _signed(valid_for=timedelta(days=1))
    assert signed.verify(signed.public_key, now=ISSUED + timedelta(minutes=59)).revision == 42
    with pytest.raises(PassportError, match="max age"):
        signed.verify(signed.public_key, now=ISSUED + timedelta(minutes=61))
    later = ISSUED + timedelta(hours=2)
    with pytest.raises(PassportError, match="max age"):
        signed.verify(signed.public_key, max_age=timedelta(hours=1), now=later)
    assert signed.verify(signed.public_key, max_age=timedelta(hours=3), now=later).revision == 42


def test_a_passport_issued_in_the_future_is_refused() -> None:
    """A passport issued beyond the clock skew ahead of now is refused."""
    signed = _signed()
    assert signed.verify(signed.public_key, now=ISSUED - timedelta(minutes=4))
    with pytest.raises(PassportError, match="future"):
        signed.verify(signed.public_key, now=ISSUED - timedelta(hours=1))


def test_missing_or_inverted_expires_at_is_refused() -> None:
    """A document without `expires_at` (signed before it existed), or expiring before it was
    issued, is refused though correctly signed by a trusted key."""
    key = Ed25519PrivateKey.generate()
    public = key.public_key()
    body = json.loads(_signed().document)
    body["key_id"] = key_id_of(public)
    for change, message in ((None, "no expires_at"), ("2024-12-31T00:00:00Z", "not after")):
        if change is None:
            body.pop("expires_at")
        else:
            body["expires_at"] = change
        document = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        with pytest.raises(PassportError, match=message):
            verify_passport(document, _b64url(key.sign(document)), public, now=SOON)


def test_wrong_documents_and_garbage_are_refused() -> None:
    """A mismatching key id, a wrong document type, malformed JSON or fields, a garbage
    signature or key, and a bad envelope all raise PassportError."""
    signed = _signed()
    key = Ed25519PrivateKey.generate()
    public = key.public_key()

    def signed_by_key(document: bytes) -> None:
        verify_passport(document, _b64url(key.sign(document)), public, now=SOON)

    body = json.loads(signed.document)
    body["key_id"] = key_id_of(public)
    for document in (
        b"{not json",
        b"[]",
        json.dumps({**body, "type": "behalf.other/v1"}).encode(),
        json.dumps({**body, "revision": "many"}).encode(),
        json.dumps({**body, "agent": "agt_1"}).encode(),
        json.dumps({**body, "issued_at": "yesterday"}).encode(),
        json.dumps({**body, "permissions": [{"expires_at": "soon"}]}).encode(),
    ):
        with pytest.raises(PassportError):
            signed_by_key(document)
    with pytest.raises(PassportError, match="another signing key"):
        verify_passport(
            signed.document, signed.signature, signed.public_key, key_id="psk_x", now=SOON
        )
    with pytest.raises(PassportError):
        verify_passport(signed.document, "!!notbase64", signed.public_key, now=SOON)
    with pytest.raises(PassportError):
        verify_passport(signed.document, signed.signature, "c2hvcnQ", now=SOON)
    with pytest.raises(PassportError):
        verify_passport(signed.document, signed.signature, 42, now=SOON)  # type: ignore[arg-type]
    with pytest.raises(PassportError):
        SignedPassport.from_json("{}")


def test_nothing_is_in_force_once_the_passport_itself_expired() -> None:
    """A verified passport kept past its signed expiry vouches for nothing: that expiry is what
    bounds how long a revocation can be missed."""
    signed = _signed(valid_for=timedelta(minutes=30))
    passport = signed.verify(signed.public_key, now=SOON)
    assert len(passport.active_permissions(ISSUED + timedelta(minutes=29))) == 1
    assert passport.active_permissions(ISSUED + timedelta(minutes=30)) == ()


@pytest.mark.parametrize(
    "agent",
    [
        resources_pb2.Agent(agent_id="agt_1", tenant_id="ten_1", disabled=True),
        resources_pb2.Agent(
            agent_id="agt_1", tenant_id="ten_1", mode=resources_pb2.AGENT_MODE_TEST
        ),
    ],
)
def test_a_disabled_or_test_mode_agent_has_nothing_in_force(agent: resources_pb2.Agent) -> None:
    """Even a passport that lists lines (signed by a registry before it left them out) vouches
    for none of them when its agent is disabled or in test mode."""
    signed = _signed(agent=agent)
    passport = signed.verify(signed.public_key, now=SOON)
    assert passport.permissions and not passport.enforced
    assert passport.active_permissions(SOON) == ()


def test_not_yet_started_permissions_are_not_active() -> None:
    """`active_permissions` leaves out a permission before its `not_before`."""
    signed = _signed(valid_for=timedelta(hours=3))
    body = json.loads(signed.document)
    body["permissions"][0]["not_before"] = "2025-01-01T13:00:00Z"
    key = Ed25519PrivateKey.generate()
    body["key_id"] = key_id_of(key.public_key())
    document = json.dumps(body).encode()
    passport = verify_passport(document, _b64url(key.sign(document)), key.public_key(), now=SOON)
    assert passport.active_permissions(SOON) == ()
    assert len(passport.active_permissions(ISSUED + timedelta(minutes=90))) == 1


def test_envelope_round_trips() -> None:
    """to_json / from_json keep the document's exact bytes."""
    signed = _signed()
    again = SignedPassport.from_json(signed.to_json())
    assert again == signed
    assert again.verify(signed.public_key, now=SOON).agent_id == "agt_1"


async def test_cli_verify_pins_a_key_and_never_trusts_the_envelopes(tmp_path: Path) -> None:
    """`behalf passport verify` accepts a fresh passport under a pinned key, and refuses a
    self-signed one, or any passport when it has neither a pinned key nor an API key."""
    now = datetime.now(UTC)
    signer = PassportSigner(b"m" * 32)
    agent = resources_pb2.Agent(agent_id="agt_1", tenant_id="ten_1", name="buyer")
    real = signer.sign(agent, [], revision=1, issued_at=now)
    good = tmp_path / "good.json"
    good.write_text(
        SignedPassport(real.document, real.signature, real.key_id, real.public_key).to_json()
    )
    forged = tmp_path / "forged.json"
    forged.write_text(_self_signed(json.loads(real.document)).to_json())
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(app, list(args), env={"BEHALF_API_KEY": ""})

    ok = await asyncio.to_thread(
        run, "--json", "passport", "verify", str(good), "--public-key", real.public_key
    )
    assert ok.exit_code == 0, ok.output
    assert (
        json.loads(ok.stdout)["expires_at"]
        == (
            datetime.fromisoformat(json.loads(real.document)["expires_at"].replace("Z", "+00:00"))
        ).isoformat()
    )
    refused = await asyncio.to_thread(
        run, "passport", "verify", str(forged), "--public-key", real.public_key
    )
    assert refused.exit_code == 3
    unpinned = await asyncio.to_thread(run, "passport", "verify", str(good))
    assert unpinned.exit_code == 3 and "no trusted key" in unpinned.output
