"""Paged lists: page requests are validated, and next-page tokens come from each list's id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from behalf.common.errors import InvalidArgument
from behalf.registry import pages
from behalf.registry.store import paging
from behalf.v1 import resources_pb2

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _keys(n: int) -> list[tuple[resources_pb2.ApiKey, datetime]]:
    return [
        (resources_pb2.ApiKey(key_id=f"key_{i}", agent_id=f"agt_{i}"), T0 + timedelta(seconds=i))
        for i in range(n)
    ]


def test_a_short_page_is_the_last() -> None:
    """Fewer rows than the fetch size give every row and no next token."""
    page = pages.page_request(pages.API_KEYS, "", 3)
    items, token = page.split(_keys(3))
    assert [k.key_id for k in items] == ["key_0", "key_1", "key_2"] and token == ""


def test_the_next_token_names_the_last_item_by_its_own_id() -> None:
    """A full page's token points at its last item's key id (never another id field)."""
    page = pages.page_request(pages.API_KEYS, "", 2)
    assert page.fetch == 3
    items, token = page.split(_keys(3))
    assert [k.key_id for k in items] == ["key_0", "key_1"]
    assert paging.decode("api_keys", token) == paging.Cursor(T0 + timedelta(seconds=1), "key_1")
    assert pages.page_request(pages.API_KEYS, token, 2).cursor == paging.decode("api_keys", token)


def test_a_token_of_another_list_or_garbage_is_refused_naming_page_token() -> None:
    """Tokens are bound to their list; a bad one is INVALID_ARGUMENT on page_token."""
    token = paging.encode("agents", T0, "agt_1")
    for bad in (token, "not a token"):
        with pytest.raises(InvalidArgument) as info:
            pages.page_request(pages.API_KEYS, bad, 10)
        assert info.value.field == "page_token"


def test_the_page_size_is_validated_with_its_default() -> None:
    """0 means the default page size; out of range is refused naming page_size."""
    assert pages.page_request(pages.AGENTS, "", 0).limit == 50
    with pytest.raises(InvalidArgument) as info:
        pages.page_request(pages.AGENTS, "", 10_000)
    assert info.value.field == "page_size"
