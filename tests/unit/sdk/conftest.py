"""Fixtures for the SDK unit tests."""

from tests.unit.sdk.fake_server import fake

__all__ = ["fake"]
