"""Claims on budget reservations: the secret a reserving call is handed, and what is kept of it.

The registry hands each ReserveBudget call that reserved a claim of its own and keeps only its
digest, so ReleaseBudget gives back exactly the claim its caller was handed: a holder of the
verifier's credential who was not that caller cannot refund an allowed spend.
"""

from __future__ import annotations

import hashlib
import secrets

# token_urlsafe(24): 32 characters, 192 random bits.
_CLAIM_BYTES = 24
CLAIM_MAX_CHARS = 64


def new_claim() -> str:
    return secrets.token_urlsafe(_CLAIM_BYTES)


def claim_digest(claim: str) -> bytes:
    return hashlib.sha256(claim.encode()).digest()
