"""What a tenant may see of the verifier fleet: whether each verifier has its changes, no more.

Verifier ids name hosts and the global revision counts every tenant's changes, so a tenant sees
stable pseudonyms, its own latest revision, and each verifier's ack capped at that revision.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from behalf.v1 import registry_pb2

# Per registry process: pseudonyms are stable while it runs and reveal nothing about host names.
_PSEUDONYM_KEY = secrets.token_bytes(32)


def pseudonym(verifier_id: str) -> str:
    """A stable, opaque name for a verifier (the same id gives the same name in this process)."""
    digest = hmac.new(_PSEUDONYM_KEY, verifier_id.encode(), hashlib.sha256).hexdigest()
    return f"verifier-{digest[:12]}"


def as_seen_by_tenant(
    status: registry_pb2.VerifierStatus, tenant_revision: int
) -> registry_pb2.VerifierStatus:
    """The status with its id pseudonymized and its ack capped at the tenant's revision."""
    seen = registry_pb2.VerifierStatus()
    seen.CopyFrom(status)
    seen.verifier_id = pseudonym(status.verifier_id)
    seen.acked_revision = min(status.acked_revision, tenant_revision)
    return seen
