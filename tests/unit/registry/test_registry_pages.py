"""Paged lists: page requests are validated, and next-page tokens come from each list's id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from behalf.common.errors import InvalidArgument
from behalf.registry import pages
from behalf.registry.store import paging
from behalf.v1 import resources_pb2

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TENANT, OTHER = "ten_" + "a" * 20, "ten_" + "b" * 20


def _keys(n: int) -> list[tuple[resources_pb2.ApiKey, datetime]]:
    return [
        (resources_pb2.ApiKey(key_id=f"key_{i}", agent_id=f"agt_{i}"), T0 + timedelta(seconds=i))
        for i in range(n)
    ]


def test_a_short_page_is_the_last() -> None:
    """Fewer rows than the fetch size give every row and no next token."""
    page = pages.page_request(pages.API_KEYS, "", 3, TENANT)
    items, token = page.split(_keys(3))
    assert [k.key_id for k in items] == ["key_0", "key_1", "key_2"] and token == ""


def test_the_next_token_names_the_last_item_by_its_own_id() -> None:
    """A full page's token points at its last item's key id (never another id field)."""
    page = pages.page_request(pages.API_KEYS, "", 2, TENANT)
    assert page.fetch == 3
    items, token = page.split(_keys(3))
    assert [k.key_id for k in items] == ["key_0", "key_1"]
    cursor = paging.Cursor(T0 + timedelta(seconds=1), "key_1")
    assert pages.page_request(pages.API_KEYS, token, 2, TENANT).cursor == cursor


def test_a_token_of_another_list_another_tenant_or_garbage_is_refused() -> None:
    """Tokens are bound to their list and tenant; a bad one is INVALID_ARGUMENT on page_token."""
    _items, token = pages.page_request(pages.API_KEYS, "", 2, TENANT).split(_keys(3))
    agents = pages.page_request(pages.AGENTS, "", 1, TENANT).split(
        [(resources_pb2.Agent(agent_id="agt_0"), T0), (resources_pb2.Agent(agent_id="agt_1"), T0)]
    )[1]
    for bad, tenant in ((agents, TENANT), (token, OTHER), ("not a token", TENANT)):
        with pytest.raises(InvalidArgument) as info:
            pages.page_request(pages.API_KEYS, bad, 10, tenant)
        assert info.value.field == "page_token"


def test_the_page_size_is_validated_with_its_default() -> None:
    """0 means the default page size; out of range is refused naming page_size."""
    assert pages.page_request(pages.AGENTS, "", 0, TENANT).limit == 50
    with pytest.raises(InvalidArgument) as info:
        pages.page_request(pages.AGENTS, "", 10_000, TENANT)
    assert info.value.field == "page_size"
