"""Passport verification: a registry-signed passport verifies; tampering, another key, a
wrong key id, age and malformed envelopes are refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from behalf import PassportError, SignedPassport, verify_passport
from behalf._passport import _b64url
from behalf.registry.passport import PassportSigner
from behalf.v1 import common_pb2, resources_pb2

ISSUED = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def _signed(master: bytes = b"m" * 32) -> SignedPassport:
    signer = PassportSigner(master)
    agent = resources_pb2.Agent(agent_id="agt_1", tenant_id="ten_1", name="buyer")
    permission = resources_pb2.Permission(
        permission_id="prm_1",
        agent_id="agt_1",
        allowed_actions=["purchase"],
        resources=["coachella.com"],
        max_amount=common_pb2.Money(amount_minor=80000, currency="USD"),
    )
    permission.expires_at.FromDatetime(ISSUED + timedelta(hours=2))
    signed = signer.sign(agent, [permission], revision=42, issued_at=ISSUED)
    return SignedPassport(signed.document, signed.signature, signed.key_id, signed.public_key)


def test_registry_signed_passport_verifies() -> None:
    """The registry's own signer produces a passport the SDK verifies and parses."""
    signed = _signed()
    passport = signed.verify(signed.public_key, now=ISSUED + timedelta(minutes=1))
    assert (passport.agent_id, passport.tenant_id, passport.revision) == ("agt_1", "ten_1", 42)
    assert passport.issued_at == ISSUED and passport.key_id == signed.key_id
    assert passport.permissions[0]["max_amount"] == {"amount_minor": "80000", "currency": "USD"}
    assert len(passport.active_permissions(ISSUED + timedelta(hours=1))) == 1
    assert passport.active_permissions(ISSUED + timedelta(hours=3)) == ()


def test_any_changed_byte_is_detected() -> None:
    """Changing the document (a higher limit, say) breaks the signature."""
    signed = _signed()
    forged = signed.document.replace(b'"80000"', b'"99999"')
    assert forged != signed.document
    with pytest.raises(PassportError, match="signature"):
        verify_passport(forged, signed.signature, signed.public_key, now=ISSUED)
    flipped = bytearray(signed.document)
    flipped[len(flipped) // 2] ^= 1
    with pytest.raises(PassportError):
        verify_passport(bytes(flipped), signed.signature, signed.public_key, now=ISSUED)


def test_another_key_is_refused() -> None:
    """A passport checked against a different key (another registry) fails."""
    signed = _signed()
    other = _signed(b"o" * 32)
    with pytest.raises(PassportError):
        verify_passport(signed.document, signed.signature, other.public_key, now=ISSUED)


def test_a_forger_signing_with_their_own_key_fails_against_the_pinned_key() -> None:
    """Re-signing a forged document with a new key only verifies against that new key."""
    signed = _signed()
    body = json.loads(signed.document)
    body["permissions"][0]["max_amount"]["amount_minor"] = "99999999"
    forged = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    key = Ed25519PrivateKey.generate()
    signature = _b64url(key.sign(forged))
    with pytest.raises(PassportError):
        verify_passport(forged, signature, signed.public_key, now=ISSUED)
    own = _b64url(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    with pytest.raises(PassportError, match="another signing key"):  # key_id in body mismatches
        verify_passport(forged, signature, own, now=ISSUED)


def test_too_old_or_future_passports_are_refused() -> None:
    """max_age bounds a passport's age; one issued in the future is refused."""
    signed = _signed()
    later = ISSUED + timedelta(hours=2)
    with pytest.raises(PassportError, match="expired"):
        signed.verify(max_age=timedelta(hours=1), now=later)
    assert signed.verify(max_age=timedelta(hours=3), now=later).revision == 42
    with pytest.raises(PassportError, match="future"):
        signed.verify(now=ISSUED - timedelta(hours=1))


def test_wrong_key_id_and_garbage_are_refused() -> None:
    """A mismatching key id, a garbage signature or key, and a bad envelope all raise."""
    signed = _signed()
    with pytest.raises(PassportError):
        verify_passport(signed.document, signed.signature, signed.public_key, key_id="psk_x")
    with pytest.raises(PassportError):
        verify_passport(signed.document, "!!notbase64", signed.public_key)
    with pytest.raises(PassportError):
        verify_passport(signed.document, signed.signature, "c2hvcnQ")
    with pytest.raises(PassportError):
        SignedPassport.from_json("{}")


def test_envelope_round_trips() -> None:
    """to_json / from_json keep the document's exact bytes."""
    signed = _signed()
    again = SignedPassport.from_json(signed.to_json())
    assert again == signed
    assert again.verify(now=ISSUED).agent_id == "agt_1"
