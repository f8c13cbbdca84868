"""The `behalf` command line: every operator task against the registry, verifier and dispatcher.

Exit codes: 0 success (for `verify`: allowed), 1 denied, 2 approval required, 3 any error
(bad flag, bad key, unreachable service). Errors are one line on stderr.
"""

from behalf.cli._app import app

__all__ = ["app"]
