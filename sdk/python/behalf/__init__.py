"""Behalf: permission passports for AI agents.

The generated v1 contract lives in `behalf.v1`; the services (their own distributions) in
`behalf.registry`, `behalf.verifier`, `behalf.dispatcher` and `behalf.console`.

The SDK: ask before the agent acts, and let anything but an explicit allow raise.

    from behalf import Behalf, ActionDenied

    with Behalf(api_key="bhk_...", target="127.0.0.1:50052") as behalf:
        behalf.verify(agent_id, "purchase", resource="coachella.com",
                      amount="799.99", currency="USD")   # returns the Decision, or raises
        behalf.check(agent_id, "purchase", resource="coachella.com",
                     amount="799.99", currency="USD")    # test mode: the Decision, never acted on

The exception tree is drawn in `behalf._exceptions`; gRPC statuses become those exceptions in
`behalf._status`, where `bad_request_field` reads the field at fault from a status's
google.rpc.BadRequest details (public, for code that calls the contract's stubs itself). The
CLI is `behalf.cli`.
"""

import pkgutil

from behalf import v1
from behalf._blocking import Behalf
from behalf._client import DEFAULT_TIMEOUT, AsyncBehalf
from behalf._exceptions import (
    ActionDenied,
    ApprovalRejected,
    ApprovalRequired,
    ApprovalTimeout,
    AuthenticationError,
    BehalfError,
    Conflict,
    InvalidRequest,
    NotFound,
    PassportError,
    TestModeDecision,
    VerificationUnavailable,
)
from behalf._guard import Guard, guard
from behalf._models import Approval, Decision
from behalf._money import Money, minor_unit_exponent, to_minor_units
from behalf._passport import Passport, SignedPassport, verify_passport
from behalf._status import bad_request_field

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_TIMEOUT",
    "ActionDenied",
    "Approval",
    "ApprovalRejected",
    "ApprovalRequired",
    "ApprovalTimeout",
    "AsyncBehalf",
    "AuthenticationError",
    "Behalf",
    "BehalfError",
    "Conflict",
    "Decision",
    "Guard",
    "InvalidRequest",
    "Money",
    "NotFound",
    "Passport",
    "PassportError",
    "SignedPassport",
    "TestModeDecision",
    "VerificationUnavailable",
    "__version__",
    "bad_request_field",
    "guard",
    "minor_unit_exponent",
    "to_minor_units",
    "v1",
    "verify_passport",
]


# The services' distributions (behalf-common, behalf-registry, ...) install `behalf.<service>`
# beside this package; in a workspace checkout each lives in its own folder on sys.path. The
# list is extended in place so the module's spec (which static tools read) sees them too.
__path__[:] = pkgutil.extend_path(__path__, __name__)
