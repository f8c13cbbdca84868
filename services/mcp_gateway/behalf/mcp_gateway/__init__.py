"""behalf-mcp: an MCP gateway that runs Verify before forwarding each tools/call upstream."""
