"""The curated public API: `__all__` lists exactly the public names, and they all resolve."""

from __future__ import annotations

import types

import behalf
import behalf._exceptions as exceptions


def test_all_is_honest() -> None:
    """Every name in `__all__` exists, and every public name is in `__all__`."""
    modules = {n for n, v in vars(behalf).items() if isinstance(v, types.ModuleType)}
    public = {name for name in vars(behalf) if not name.startswith("_")} - modules
    assert set(behalf.__all__) - {"__version__"} - modules == public
    for name in behalf.__all__:
        assert getattr(behalf, name) is not None


def test_private_modules_export_through_the_package() -> None:
    """Each exception in `_exceptions.__all__` is re-exported from `behalf`."""
    assert set(exceptions.__all__) <= set(behalf.__all__)


def test_exception_tree() -> None:
    """Everything derives from BehalfError; InvalidRequest is a ValueError too."""
    for name in exceptions.__all__:
        assert issubclass(getattr(behalf, name), behalf.BehalfError)
    assert issubclass(behalf.InvalidRequest, ValueError)
    assert issubclass(behalf.ApprovalTimeout, TimeoutError)


def test_generated_contract_stays_importable() -> None:
    """`behalf.v1` is still the generated contract."""
    from behalf.v1 import verifier_pb2

    assert behalf.v1.verifier_pb2 is verifier_pb2
