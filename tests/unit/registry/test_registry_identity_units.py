"""Service identities: the credential check, rotation, and the registry's identity settings."""

from __future__ import annotations

import base64
import hashlib

import pytest

from behalf.common.config import ConfigError, Env
from behalf.common.errors import PermissionDenied, Unauthenticated
from behalf.registry.identities import (
    INTERNAL_SERVICE,
    PUBLIC_SERVICE,
    Identity,
    ServiceCredentials,
    method,
)
from behalf.registry.settings import DEFAULT_INTERNAL_PORT, RegistrySettings

OLD, NEW = "verifier-old-" + "o" * 32, "verifier-new-" + "n" * 32
DISPATCHER, OPERATOR = "dispatcher-" + "d" * 32, "operator-" + "p" * 32
CREDENTIALS = ServiceCredentials.from_tokens(
    {
        Identity.VERIFIER: [NEW, OLD],
        Identity.DISPATCHER: [DISPATCHER],
        Identity.OPERATOR: [OPERATOR],
    }
)
WATCH = method(INTERNAL_SERVICE, "WatchPolicy")
TARGETS = method(INTERNAL_SERVICE, "ListWebhookTargets")
CREATE_TENANT = method(PUBLIC_SERVICE, "CreateTenant")


def _bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def _hex(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def test_both_credentials_of_a_rotation_are_accepted() -> None:
    """During a rotation the new and the previous verifier credential both authenticate."""
    assert CREDENTIALS.authorize(_bearer(NEW), WATCH) is Identity.VERIFIER
    assert CREDENTIALS.authorize(_bearer(OLD), WATCH) is Identity.VERIFIER


def test_an_identity_is_refused_what_its_table_does_not_list() -> None:
    """The verifier may not list webhook targets nor create tenants; the operator may not
    stream policy; the dispatcher may not create tenants."""
    for token, rpc in ((NEW, TARGETS), (NEW, CREATE_TENANT), (OPERATOR, WATCH)):
        with pytest.raises(PermissionDenied):
            CREDENTIALS.authorize(_bearer(token), rpc)
    with pytest.raises(PermissionDenied):
        CREDENTIALS.authorize(_bearer(DISPATCHER), CREATE_TENANT)


def test_an_rpc_in_no_list_is_refused_to_everyone() -> None:
    """A method the table does not name (a new internal RPC) is closed to every identity."""
    for token in (NEW, DISPATCHER, OPERATOR):
        with pytest.raises(PermissionDenied):
            CREDENTIALS.authorize(_bearer(token), method(INTERNAL_SERVICE, "DropEverything"))


def test_missing_or_unknown_credentials_are_unauthenticated() -> None:
    """No metadata, another scheme, and a token nobody holds are Unauthenticated."""
    for metadata in ((), (("authorization", f"Basic {NEW}"),), _bearer(NEW + "x")):
        with pytest.raises(Unauthenticated):
            CREDENTIALS.authorize(metadata, WATCH)


def test_one_credential_cannot_be_two_identities() -> None:
    """The same secret listed for two identities is refused when the credentials are built."""
    with pytest.raises(ValueError, match="both"):
        ServiceCredentials.from_tokens({Identity.VERIFIER: [NEW], Identity.DISPATCHER: [NEW]})


ENV = {
    "BEHALF_KAFKA_BOOTSTRAP": "127.0.0.1:9092",
    "BEHALF_DATABASE_URL": "postgresql://localhost/behalf",
    "BEHALF_MASTER_KEY": base64.b64encode(bytes(32)).decode(),
    "BEHALF_VERIFIER_TOKEN_DIGESTS": f"{_hex(NEW)}, {_hex(OLD).upper()}",
    "BEHALF_DISPATCHER_TOKEN_DIGESTS": _hex(DISPATCHER),
    "BEHALF_OPERATOR_TOKEN_DIGESTS": _hex(OPERATOR),
}


def test_settings_read_digests_per_identity_and_the_internal_port() -> None:
    """The registry reads comma-separated SHA-256 digests (any case) per identity, and listens
    for the internal API on its own port, 50054 by default."""
    settings = RegistrySettings.from_env(Env(ENV))
    assert settings.credentials == CREDENTIALS
    assert settings.internal_port == DEFAULT_INTERNAL_PORT == 50054
    assert settings.host.grpc_port == 50051


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"BEHALF_OPERATOR_TOKEN_DIGESTS": ""}, "BEHALF_OPERATOR_TOKEN_DIGESTS is required"),
        ({"BEHALF_VERIFIER_TOKEN_DIGESTS": OPERATOR}, "BEHALF_VERIFIER_TOKEN_DIGESTS must be"),
        ({"BEHALF_DISPATCHER_TOKEN_DIGESTS": "ab" * 31}, "BEHALF_DISPATCHER_TOKEN_DIGESTS must"),
        ({"BEHALF_DISPATCHER_TOKEN_DIGESTS": _hex(OPERATOR)}, "must not share a digest"),
        ({"BEHALF_INTERNAL_PORT": "50051"}, "BEHALF_INTERNAL_PORT must differ"),
    ],
)
def test_settings_refuse_bad_identity_configuration(overrides: dict, message: str) -> None:
    """A missing, malformed or shared digest, or an internal port equal to the public one, is a
    one-line ConfigError that never echoes a credential."""
    with pytest.raises(ConfigError, match=message) as caught:
        RegistrySettings.from_env(Env({**ENV, **overrides}))
    assert OPERATOR not in str(caught.value)
