"""`behalf-bootstrap`: create a tenant and its first admin key directly in the database.

Applies the registry's migrations first, then prints the tenant id, key id and the key itself,
once, as one JSON line on stdout (the key is not stored anywhere in the clear). Reads
BEHALF_DATABASE_URL unless --database-url is given.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from behalf.common.config import ConfigError, Env
from behalf.common.errors import InvalidArgument
from behalf.common.pg import connect_pool, migrate
from behalf.common.startup import StartupError
from behalf.registry import validation
from behalf.registry.commands.tenants import create_tenant
from behalf.registry.commands.transaction import Db
from behalf.registry.store import SCHEMA


async def bootstrap(
    database_url: str, name: str, *, timeout_seconds: float = 30.0
) -> dict[str, str]:
    """Create the tenant and key; return what to print."""
    pool = await connect_pool(database_url, schema=SCHEMA, timeout_seconds=timeout_seconds)
    try:
        await migrate(pool, "behalf.registry")
        created = await create_tenant(Db(pool), name)
    finally:
        await pool.close()
    return {
        "tenant_id": created.tenant.tenant_id,
        "tenant_name": created.tenant.name,
        "key_id": created.admin_key.key_id,
        "api_key": created.admin_key_secret,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="behalf-bootstrap", description=__doc__)
    parser.add_argument("--name", default="Demo tenant", help="tenant display name")
    parser.add_argument("--database-url", default=None, help="default: $BEHALF_DATABASE_URL")
    args = parser.parse_args(argv)
    try:
        url = args.database_url or Env().str("BEHALF_DATABASE_URL")
        name = validation.name(args.name)
        result = asyncio.run(bootstrap(url, name))
    except (ConfigError, InvalidArgument) as exc:
        print(f"behalf-bootstrap: {exc}", file=sys.stderr)
        sys.exit(2)
    except StartupError as exc:
        print(f"behalf-bootstrap: cannot start: {exc}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
