"""One role vocabulary: the contract's roles round-trip and `require` refuses other roles."""

import pytest

from behalf.common.callers import READ_ROLES, VERIFY_ROLES, Caller, Role, key_digest
from behalf.common.errors import PermissionDenied
from behalf.v1 import resources_pb2


@pytest.mark.parametrize("role", list(Role))
def test_every_role_round_trips_through_the_contract(role: Role):
    assert Role.from_proto(role.to_proto()) is role


def test_unspecified_and_unknown_roles_are_none():
    assert Role.from_proto(resources_pb2.ROLE_UNSPECIFIED) is None
    assert Role.from_proto(999) is None


def test_require_allows_listed_roles_and_refuses_others_naming_the_role():
    audit = Caller(tenant_id="ten_1", key_id="key_1", role=Role.AUDIT_READ)
    audit.require(*READ_ROLES)
    with pytest.raises(PermissionDenied, match="audit_read"):
        audit.require(*VERIFY_ROLES)


def test_key_digest_is_sha256_of_the_text():
    expected = "57fc66a59c13fc4b6f4b482f92a902196d04329eda6ff5532d8f9a90217873f4"
    assert key_digest("bhk_x").hex() == expected
