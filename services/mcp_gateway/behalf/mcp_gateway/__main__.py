"""Entry point of the behalf-mcp console script."""


def main() -> None:
    raise SystemExit("behalf-mcp: not built yet")
