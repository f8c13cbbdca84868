"""The verifier's credential index: streamed keys become behalf.common Callers, found by digest."""

from __future__ import annotations

from typing import Any

import pytest

from behalf.common.callers import UNSCOPED, Caller, KeyScope, Role, key_digest
from behalf.common.errors import PermissionDenied, Unauthenticated
from behalf.v1 import internal_pb2, resources_pb2
from behalf.verifier.credentials import CredentialIndex, require_key_scope, require_verify_role

TENANT = "ten_" + "a" * 20
AGENT = "agt_" + "b" * 20


def credential(
    secret: str, key_id: str, role: int = resources_pb2.ROLE_VERIFY, **fields: Any
) -> internal_pb2.ApiKeyCredential:
    return internal_pb2.ApiKeyCredential(
        key_id=key_id,
        tenant_id=TENANT,
        role=role,
        secret_sha256=key_digest(secret),
        **fields,
    )


def test_a_streamed_key_authenticates_as_its_caller() -> None:
    """A key's secret finds a Caller with the key's tenant, id, role and no scope."""
    index = CredentialIndex([credential("s1", "key_1", resources_pb2.ROLE_ADMIN)])
    assert index.authenticate("s1") == Caller(TENANT, "key_1", Role.ADMIN)
    assert index.authenticate("s1").scope is UNSCOPED


def test_revoked_and_unknown_role_keys_are_not_indexed() -> None:
    """A revoked key and a key whose role the verifier does not know both fail as unknown."""
    index = CredentialIndex(
        [
            credential("gone", "key_1", revoked=True),
            credential("odd", "key_2", resources_pb2.ROLE_UNSPECIFIED),
        ]
    )
    assert len(index) == 0
    for secret in ("gone", "odd"):
        with pytest.raises(Unauthenticated, match="invalid API key"):
            index.authenticate(secret)


def test_changes_replace_and_revoke_by_key_id() -> None:
    """A change to a key id drops its old secret; a revoked change removes the key."""
    index = CredentialIndex([credential("old", "key_1"), credential("other", "key_2")])
    rotated = index.with_changes(
        [credential("new", "key_1"), credential("other", "key_2", revoked=True)]
    )
    assert rotated.authenticate("new").key_id == "key_1"
    for secret in ("old", "other"):
        with pytest.raises(Unauthenticated):
            rotated.authenticate(secret)
    assert index.authenticate("old").key_id == "key_1"  # the old index is untouched


def test_only_verify_and_admin_keys_may_verify() -> None:
    """An audit-read key is refused Verify; verify and admin keys pass."""
    for role in (Role.VERIFY, Role.ADMIN):
        require_verify_role(Caller(TENANT, "key_1", role))
    with pytest.raises(PermissionDenied, match="may not call Verify"):
        require_verify_role(Caller(TENANT, "key_1", Role.AUDIT_READ))


def test_a_test_link_key_is_held_to_test_mode_and_its_agent() -> None:
    """A streamed test-link key carries its scope: test mode only, about its one agent."""
    index = CredentialIndex([credential("t", "key_1", test_mode_only=True, agent_id=AGENT)])
    caller = index.authenticate("t")
    assert caller.scope == KeyScope(test_mode_only=True, agent_id=AGENT)
    require_key_scope(caller, agent_id=AGENT, test_mode=True)
    with pytest.raises(PermissionDenied, match="test-mode"):
        require_key_scope(caller, agent_id=AGENT, test_mode=False)
    with pytest.raises(PermissionDenied, match="bound to"):
        require_key_scope(caller, agent_id="agt_" + "c" * 20, test_mode=True)
