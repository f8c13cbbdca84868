"""Service identities: who may call which registry RPC with a service credential, and the check.

Three identities, each with its own credential and exactly the RPCs its job needs:

    verifier    the policy stream, budgets, approvals (RegistryInternalService)
    dispatcher  webhook targets, suspending a gone endpoint, resolving a tenant API key
    operator    creating tenants (RegistryService.CreateTenant)

The registry holds only SHA-256 digests of the credentials (a leaked registry configuration
yields nothing that authenticates), several per identity so one can be rotated while the
previous one still works. A method in no identity's list is refused to every identity, so a
new internal RPC is closed until it is added here. No service credential is a tenant API key:
it never reaches a tenant's objects, whatever headers come with it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from behalf.common.auth import bearer_token
from behalf.common.errors import PermissionDenied, Unauthenticated

INTERNAL_SERVICE = "behalf.v1.RegistryInternalService"
PUBLIC_SERVICE = "behalf.v1.RegistryService"
DIGEST_BYTES = hashlib.sha256().digest_size


class Identity(StrEnum):
    """A service (or the operator) that calls the registry with a service credential."""

    VERIFIER = "verifier"
    DISPATCHER = "dispatcher"
    OPERATOR = "operator"


def method(service: str, name: str) -> str:
    """The gRPC method path, `/package.Service/Method`."""
    return f"/{service}/{name}"


def _methods(service: str, *names: str) -> frozenset[str]:
    return frozenset(method(service, name) for name in names)


# The one table of what each identity may call.
ALLOWED_METHODS: Mapping[Identity, frozenset[str]] = MappingProxyType(
    {
        Identity.VERIFIER: _methods(
            INTERNAL_SERVICE,
            "WatchPolicy",
            "ReserveBudget",
            "ReleaseBudget",
            "CheckBudget",
            "CreateApproval",
            "ConsumeApproval",
        ),
        Identity.DISPATCHER: _methods(
            INTERNAL_SERVICE,
            "ListWebhookTargets",
            "SuspendWebhookEndpoint",
            "ReportWebhookHealth",
            "AuthenticateApiKey",
        ),
        Identity.OPERATOR: _methods(PUBLIC_SERVICE, "CreateTenant"),
    }
)


def token_digest(token: str) -> bytes:
    """What the registry stores of a credential: its SHA-256."""
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class ServiceCredentials:
    """The accepted credential digests of each identity (two during a rotation)."""

    digests: Mapping[Identity, tuple[bytes, ...]]

    def __post_init__(self) -> None:
        seen: dict[bytes, Identity] = {}
        for identity, digests in self.digests.items():
            for digest in digests:
                if len(digest) != DIGEST_BYTES:
                    raise ValueError(f"a {identity} credential digest is not a SHA-256")
                if seen.setdefault(digest, identity) is not identity:
                    raise ValueError(f"one credential is both {seen[digest]} and {identity}")

    @classmethod
    def from_tokens(cls, tokens: Mapping[Identity, Sequence[str]]) -> ServiceCredentials:
        """Credentials given in the clear (tests, tools); the registry keeps only digests."""
        return cls({i: tuple(token_digest(t) for t in ts) for i, ts in tokens.items()})

    def identify(self, token: str) -> Identity | None:
        """The identity `token` belongs to; every digest is compared, in constant time."""
        presented = token_digest(token)
        found: Identity | None = None
        for identity, digests in self.digests.items():
            for digest in digests:
                if hmac.compare_digest(presented, digest):
                    found = identity
        return found

    def authorize(self, metadata: Sequence[tuple[str, str | bytes]] | None, rpc: str) -> Identity:
        """The caller's identity if it may call `rpc` (a method path); otherwise
        Unauthenticated (no or an unknown credential) or PermissionDenied (not its RPC)."""
        identity = self.identify(bearer_token(metadata))
        if identity is None:
            raise Unauthenticated("invalid service credential")
        if rpc not in ALLOWED_METHODS.get(identity, frozenset()):
            raise PermissionDenied(f"the {identity} credential may not call {rpc}")
        return identity
