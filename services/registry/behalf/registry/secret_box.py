"""Encryption at rest under the master key (AES-256-GCM), and webhook signing secrets.

Each purpose gets its own key, derived from the master key with HKDF-SHA256, so one master key
in the environment never encrypts two kinds of data directly. Ciphertexts are
`12-byte nonce || ciphertext || 16-byte tag`; the associated data binds a ciphertext to the row
it belongs to, so ciphertexts cannot be swapped between rows.
"""

from __future__ import annotations

import base64
import os
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

WEBHOOK_SECRET_PREFIX = "whsec_"
_NONCE_BYTES = 12


class DecryptionError(ValueError):
    """A ciphertext is corrupt, or was made under another key or for another row."""


def derive_key(master_key: bytes, purpose: str, length: int = 32) -> bytes:
    """A subkey of the master key for one purpose (HKDF-SHA256, no salt, purpose as info)."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=purpose.encode()).derive(
        master_key
    )


class SecretBox:
    """AES-GCM encryption under a key derived from the master key for `purpose`."""

    def __init__(self, master_key: bytes, purpose: str) -> None:
        if len(master_key) != 32:
            raise ValueError("the master key must be 32 bytes")
        self._aead = AESGCM(derive_key(master_key, f"behalf/secret-box/{purpose}/v1"))

    def encrypt(self, plaintext: bytes, associated_data: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, associated_data)

    def decrypt(self, ciphertext: bytes, associated_data: bytes) -> bytes:
        nonce, body = ciphertext[:_NONCE_BYTES], ciphertext[_NONCE_BYTES:]
        try:
            return self._aead.decrypt(nonce, body, associated_data)
        except InvalidTag:
            raise DecryptionError("ciphertext does not authenticate") from None


def new_webhook_secret() -> str:
    """`whsec_` and the base64 of 32 random bytes (the Standard Webhooks format)."""
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()
