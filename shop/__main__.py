"""Command line: `python -m shop run|migrate|seed|check-config|…` (see `--help`)."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from pydantic import ValidationError

from shop import db
from shop.settings import Settings, describe_problems, get_settings


def _data_dir_problem(settings: Settings) -> str | None:
    """Why the shop cannot keep its data in SHOP_DATA_DIR (made if missing), or None. Said
    here, in one line, rather than as the database's "unable to open database file"."""
    try:
        data_dir = settings.ensure_data_dir()
        with tempfile.TemporaryFile(dir=data_dir):
            pass
    except OSError as exc:
        user = f"uid {os.getuid()}" if hasattr(os, "getuid") else "this user"
        return f"{settings.data_dir} cannot be written by {user} ({exc.strerror or exc})"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shop", description="Shop maintenance.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply database migrations up to the newest")
    commands.add_parser("seed", help="add the demo catalog where it is missing")
    commands.add_parser("check-config", help="load the settings and print where data lives")
    commands.add_parser(
        "reconcile", help="repair orders, refunds and events that Stripe webhooks missed"
    )
    run_parser = commands.add_parser(
        "run", help="migrate, seed, start the Stripe sandbox if needed, and serve the shop"
    )
    run_parser.add_argument("--dev", action="store_true", help="hot-reloading dev server")
    jobs_parser = commands.add_parser("jobs", help="list the periodic jobs or run one now")
    jobs_commands = jobs_parser.add_subparsers(dest="jobs_command", required=True)
    jobs_commands.add_parser("list", help="name and interval of every periodic job")
    run_job = jobs_commands.add_parser("run", help="run one job now, whatever the schedule")
    run_job.add_argument("name")
    backup = commands.add_parser(
        "backup", help="write an archive of the database, uploaded files and generated secrets"
    )
    backup.add_argument("--to", type=Path, help="the folder to write it to (default BACKUP_DIR)")
    restore = commands.add_parser(
        "restore", help="replace the database and files with a backup's (stop the shop first)"
    )
    restore.add_argument("archive", type=Path)
    restore.add_argument(
        "--force", action="store_true", help="replace a database in use (backed up first)"
    )
    _add_account_commands(commands)
    args = parser.parse_args(argv)
    # Every command needs the settings: a refused one is one line each, naming the setting and
    # never its value (they include secrets), and exit code 2.
    try:
        settings = get_settings()
    except ValidationError as exc:
        for line in describe_problems(exc):
            print(line, file=sys.stderr)
        return 2
    if args.command != "check-config":
        problem = _data_dir_problem(settings)
        if problem is not None:
            print(f"setting SHOP_DATA_DIR: {problem}", file=sys.stderr)
            return 2

    if args.command in ACCOUNT_COMMANDS:
        return _run_account_command(args)
    if args.command == "run":
        from shop.appliance import run

        return run(dev=args.dev)
    if args.command == "jobs":
        return _run_jobs_command(args)
    if args.command == "reconcile":
        return _reconcile()
    if args.command in ("backup", "restore"):
        return _backup_command(args)
    if args.command == "migrate":
        db.migrate()
        print("database is at the newest migration")
    elif args.command == "seed":
        from shop.services.catalog_cache import bump_catalog_version
        from shop.services.seed import seed_demo

        with db.session_scope() as session:
            added = seed_demo(session=session)
        bump_catalog_version()
        print(f"demo catalog ready ({added} products added)")
    elif args.command == "check-config":
        settings = get_settings()
        print(f"environment: {settings.shop_env}")
        print(f"data dir:    {settings.data_dir}")
        print(f"public url:  {settings.public_url}")
        print(f"stripe:      {'sandbox' if settings.sandbox_mode else 'live keys'}")
        from shop.services.backups import backup_dir

        print(f"backups:     {backup_dir()}")
    return 0


def _backup_command(args: argparse.Namespace) -> int:
    from shop.services import backups

    try:
        if args.command == "backup":
            made = backups.create_backup(directory=args.to)
            where = (
                "files are in object storage: back them up there"
                if made.files_in_object_storage
                else f"{made.files} files"
            )
            print(
                f"backup written: {made.path} ({made.size_bytes:,} bytes; {made.database}, {where})"
            )
            return 0
        restored = backups.restore_backup(archive=args.archive, force=args.force)
    except backups.BackupFailed as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    if restored.replaced_backup:
        print(f"what was replaced is kept in {restored.replaced_backup}")
    schema = (
        f"schema {restored.revision}"
        if restored.revision == restored.migrated_to
        else f"migrated from schema {restored.revision} to {restored.migrated_to}"
    )
    print(
        f"restored {args.archive.name}: {restored.database} database ({schema}), "
        f"{restored.files} files"
    )
    return 0


def _reconcile() -> int:
    from shop.services.reconciliation import run_reconciliation

    summary = run_reconciliation(trigger="cli")
    print(
        f"checked {summary.orders_checked} orders, {summary.events_checked} events, "
        f"{summary.refunds_checked} refunds; repaired {summary.repaired_count}"
    )
    for item in summary.repaired:
        print(
            f"  {item['kind']} {item['order_number'] or '-'} {item['reference']}: {item['action']}"
        )
    print(
        f"webhook backlog: {summary.backlog_undelivered} undelivered, "
        f"{summary.backlog_unprocessed} unprocessed"
    )
    if summary.error:
        print(f"error: {summary.error}", file=sys.stderr)
        return 1
    return 0


def _run_jobs_command(args: argparse.Namespace) -> int:
    from shop import jobs

    if args.jobs_command == "list":
        for job in jobs.JOBS.values():
            print(f"{job.name:<24} every {job.every}")
        return 0
    if args.name not in jobs.JOBS:
        print(f"no job named {args.name!r}; see `python -m shop jobs list`", file=sys.stderr)
        return 2
    try:
        result = jobs.run_now(args.name)
    except jobs.JobFailed as exc:
        print(f"error: job {args.name} failed: {exc}", file=sys.stderr)
        return 1
    print(f"job {args.name} done: {jobs.describe_result(result)}")
    return 0


ACCOUNT_COMMANDS = {"users", "audit", "bootstrap-admin"}


def _add_account_commands(commands: argparse._SubParsersAction) -> None:
    users = commands.add_parser("users", help="create accounts, grant and revoke roles, disable")
    users_commands = users.add_subparsers(dest="users_command", required=True)
    create = users_commands.add_parser("create", help="create an account (email verified)")
    create.add_argument("email")
    create.add_argument("--role", action="append", help="role to grant (repeatable)")
    create.add_argument("--name")
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    for name, text in (("grant", "grant a role"), ("revoke", "revoke a role")):
        sub = users_commands.add_parser(name, help=text)
        sub.add_argument("email")
        sub.add_argument("role")
    for name, text in (("disable", "disable and sign out"), ("enable", "enable again")):
        users_commands.add_parser(name, help=text).add_argument("email")
    users_commands.add_parser("list", help="list accounts and their roles")
    audit = commands.add_parser("audit", help="the audit log")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    audit_commands.add_parser("verify", help="check the hash chain; report the first bad row")
    bootstrap = commands.add_parser(
        "bootstrap-admin",
        help="create/update the admin from SHOP_ADMIN_EMAIL/SHOP_ADMIN_PASSWORD",
    )
    bootstrap.add_argument(
        "--demo",
        action="store_true",
        help="without those settings, create admin@example.com with a random password (once)",
    )


def _run_account_command(args: argparse.Namespace) -> int:
    from shop.services import audit, users
    from shop.services.errors import ShopError

    try:
        with db.session_scope() as session:
            if args.command == "audit":
                report = audit.verify_chain(session=session)
                if report.ok:
                    print(f"audit chain ok ({report.rows_checked} rows)")
                    return 0
                print(
                    f"audit chain BROKEN at row {report.first_bad_id}: {report.problem} "
                    f"({report.rows_checked} rows before it are intact)"
                )
                return 1
            if args.command == "bootstrap-admin":
                admin = users.bootstrap_admin(session=session)
                if admin is not None:
                    print(f"admin {admin.email} is ready")
                elif args.demo:
                    created = users.bootstrap_demo_admin(session=session)
                    if created:
                        print(f"demo admin created: {created[0]} / password: {created[1]}")
                        print("(shown once; change it after signing in)")
                    else:
                        print(f"demo admin {users.DEMO_ADMIN_EMAIL} already exists")
                else:
                    print("SHOP_ADMIN_EMAIL and SHOP_ADMIN_PASSWORD are not set (use --demo)")
                return 0
            command = args.users_command
            if command == "list":
                items, _total = users.list_users(session=session, limit=10_000)
                for item in items:
                    state = "" if item.is_active else " (disabled)"
                    print(f"{item.id}\t{item.email}\t{','.join(item.roles)}{state}")
                return 0
            if command == "create":
                password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else None
                user = users.create_account(
                    session=session,
                    email=args.email,
                    password=password,
                    roles=tuple(args.role or ["customer"]),
                    name=args.name,
                )
                note = "" if password else " (no password: use the reset link to set one)"
                print(f"created {user.email} (id {user.id}){note}")
                return 0
            user = users.user_by_email(session=session, email=args.email)
            if command == "grant":
                changed = users.grant_role(session=session, user=user, role=args.role)
                print(f"{'granted' if changed else 'already had'} {args.role}: {user.email}")
            elif command == "revoke":
                changed = users.revoke_role(session=session, user=user, role=args.role)
                print(f"{'revoked' if changed else 'did not have'} {args.role}: {user.email}")
            elif command in ("disable", "enable"):
                users.set_active(session=session, user=user, active=command == "enable")
                print(f"{command}d {user.email}")
    except ShopError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
