"""The ImportError a guard module raises when its framework is not installed."""

from __future__ import annotations

__all__ = ["missing_extra"]


def missing_extra(module: str, framework: str, extra: str) -> ImportError:
    """An ImportError that names the extra to install."""
    return ImportError(
        f"{module} needs {framework}, which is not installed: pip install 'behalf[{extra}]'"
    )
