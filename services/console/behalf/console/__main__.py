"""`behalf-console`: run the web console."""

from __future__ import annotations

import asyncio
import sys

from behalf.common.config import ConfigError, Env
from behalf.common.logging import configure_logging
from behalf.common.startup import StartupError
from behalf.console.app import serve
from behalf.console.settings import ConsoleSettings


def main() -> None:
    try:
        settings = ConsoleSettings.from_env(Env())
    except ConfigError as exc:
        print(f"console: invalid configuration: {exc}", file=sys.stderr, flush=True)
        sys.exit(2)
    configure_logging("console", settings.log_level)
    try:
        asyncio.run(serve(settings))
    except OSError as exc:
        print(f"console: cannot start: {exc.strerror or exc}", file=sys.stderr, flush=True)
        sys.exit(1)
    except StartupError as exc:
        print(f"console: cannot start: {exc}", file=sys.stderr, flush=True)
        sys.exit(1)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
