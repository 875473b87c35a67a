"""Command line: `python -m shop migrate|seed|check-config`."""

from __future__ import annotations

import argparse
import sys

from shop import db
from shop.settings import get_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shop", description="Shop maintenance.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply database migrations up to the newest")
    commands.add_parser("seed", help="add the demo catalog where it is missing")
    commands.add_parser("check-config", help="load the settings and print where data lives")
    args = parser.parse_args(argv)

    if args.command == "migrate":
        db.migrate()
        print("database is at the newest migration")
    elif args.command == "seed":
        from shop.services.seed import seed_demo

        with db.session_scope() as session:
            added = seed_demo(session=session)
        print(f"demo catalog ready ({added} products added)")
    elif args.command == "check-config":
        settings = get_settings()
        print(f"environment: {settings.shop_env}")
        print(f"data dir:    {settings.data_dir}")
        print(f"public url:  {settings.public_url}")
        print(f"stripe:      {'sandbox' if settings.sandbox_mode else 'live keys'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
