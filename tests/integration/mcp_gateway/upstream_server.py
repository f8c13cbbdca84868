"""A small real MCP server behind the gateway in tests: it records every call it receives.

Each call appends one JSON line `{"tool": ..., "arguments": {...}}` to the file named by
RECORD_FILE, so a test can tell exactly which calls got through and with what arguments.
Run with no arguments for stdio, or `--http PORT` for streamable HTTP on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import MCPServer

server = MCPServer("recording-upstream")


def _record(tool: str, arguments: dict[str, Any]) -> str:
    with Path(os.environ["RECORD_FILE"]).open("a", encoding="utf-8") as file:
        file.write(json.dumps({"tool": tool, "arguments": arguments}) + "\n")
    return f"{tool} done"


@server.tool()
def buy_ticket(url: str, price: float | str, quantity: int = 1) -> str:
    """Buy tickets at the page `url` for `price` (USD, major units) each."""
    return _record("buy_ticket", {"url": url, "price": price, "quantity": quantity})


@server.tool()
def refund(url: str, amount: str) -> str:
    """Refund `amount` USD for an order placed at `url`."""
    return _record("refund", {"url": url, "amount": amount})


@server.tool()
def send_email(to: str, subject: str, body: str) -> str:
    """Send an e-mail."""
    return _record("send_email", {"to": to, "subject": subject, "body": body})


@server.tool()
def search_events(query: str) -> str:
    """Search for events (harmless: listed as unrestricted)."""
    return _record("search_events", {"query": query})


@server.tool()
def delete_account(user: str) -> str:
    """Delete a user's account (never mapped: the gateway must refuse it)."""
    return _record("delete_account", {"user": user})


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
