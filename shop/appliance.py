"""`python -m shop run`: the appliance in one command.

Migrates, seeds the demo catalog (outside production), makes sure an admin exists, starts
the bundled Stripe sandbox when no Stripe key is configured, then serves the shop until
interrupted, stopping the sandbox with it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx

from shop import db
from shop.settings import get_settings

ROOT = Path(__file__).resolve().parent.parent


class StartRefused(Exception):
    """A setting stops the shop from starting; the message names it, in one line."""


def _prepare_database() -> None:
    settings = get_settings()
    db.migrate()
    if settings.shop_env != "production":
        from shop.services.catalog_cache import bump_catalog_version
        from shop.services.seed import seed_demo

        with db.session_scope() as session:
            seed_demo(session=session)
        bump_catalog_version()
    from shop.services import users
    from shop.services.errors import ShopError

    with db.session_scope() as session:
        try:
            admin = users.bootstrap_admin(session=session)
        except ShopError as exc:
            # SHOP_ADMIN_EMAIL / SHOP_ADMIN_PASSWORD refused (a common or short password): name
            # the setting, never its value, instead of a traceback and a restart loop.
            name = exc.field if exc.field and exc.field.isupper() else "SHOP_ADMIN_PASSWORD"
            raise StartRefused(f"setting {name}: {exc.message}") from exc
        if admin is not None:
            print(f"Admin account: {admin.email} (password from SHOP_ADMIN_PASSWORD)")
        elif settings.shop_env != "production":
            created = users.bootstrap_demo_admin(session=session)
            if created is not None:
                # Shown once, on the terminal of the person who started the shop; never logged.
                print(f"Demo admin created: {created[0]} / password {created[1]}")


def _sandbox_answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/_sandbox/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _webhook_url() -> str:
    return f"http://127.0.0.1:{get_settings().port}/api/webhooks/stripe"


def _foreign_sandbox(base: str) -> str | None:
    """Where the sandbox answering at `base` sends its webhooks, when that is not this shop
    (another shop started it, for another port or with another signing secret); else None."""
    try:
        response = httpx.get(f"{base}/_sandbox/webhooks", timeout=2)
        status = response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        status = None
    if not isinstance(status, dict):
        return None  # cannot tell (not our sandbox's control page): keep using it
    url = str(status.get("webhook_url") or "")
    secret = status.get("webhook_secret")
    if url != _webhook_url():
        return url or "nowhere"
    if secret is not None and secret != get_settings().effective_stripe_webhook_secret:
        return f"{url}, signed with another shop's secret"
    return None


def start_sandbox() -> subprocess.Popen[bytes] | None:
    """Start the offline Stripe sandbox unless one already answers at STRIPE_API_BASE; refuse
    one that another shop started (its webhooks would go to that shop)."""
    settings = get_settings()
    base = settings.stripe_api_base.rstrip("/")
    if _sandbox_answers(base):
        elsewhere = _foreign_sandbox(base)
        if elsewhere is not None:
            raise StartRefused(
                f"setting STRIPE_API_BASE: a Stripe sandbox started by another shop already "
                f"answers at {base} (it sends webhooks to {elsewhere}); stop that shop, or set "
                "STRIPE_API_BASE to a free port for this one (e.g. http://127.0.0.1:12112)"
            )
        print(f"Stripe sandbox already running at {base}")
        return None
    parsed = urlparse(base)
    command = [
        sys.executable,
        "-m",
        "stripe_sandbox",
        "--host",
        parsed.hostname or "127.0.0.1",
        "--port",
        str(parsed.port or 12111),
        "--data",
        str(settings.data_dir / "stripe_sandbox.sqlite3"),
        "--webhook-url",
        _webhook_url(),
    ]
    # The signing secret goes through the environment, not argv, so `ps` never shows it.
    env = {**os.environ, "STRIPE_SANDBOX_WEBHOOK_SECRET": settings.effective_stripe_webhook_secret}
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if _sandbox_answers(base):
            print(f"Stripe sandbox running at {base} (payments are simulated)")
            return process
        if process.poll() is not None:
            raise SystemExit("the Stripe sandbox failed to start; see its output above")
        time.sleep(0.2)
    process.terminate()
    raise SystemExit(f"the Stripe sandbox did not answer at {base} within 20 s")


def run(*, dev: bool = False) -> int:
    settings = get_settings()
    try:
        _prepare_database()
        sandbox = start_sandbox() if settings.sandbox_mode else None
    except StartRefused as exc:
        print(str(exc), file=sys.stderr)
        return 2
    if dev:
        command = [
            sys.executable,
            "-m",
            "reflex",
            "run",
            "--env",
            "dev",
            "--backend-port",
            str(settings.port),
        ]
    else:
        command = ["bash", str(ROOT / "scripts" / "serve.sh")]
    env = {**os.environ, "PORT": str(settings.port)}
    print(f"{settings.shop_name} is starting on {settings.public_url}")
    server = subprocess.Popen(command, cwd=ROOT, env=env)

    def stop(_signum: int, _frame: object) -> None:
        server.terminate()

    signal.signal(signal.SIGTERM, stop)
    try:
        return server.wait()
    except KeyboardInterrupt:
        server.terminate()
        return server.wait()
    finally:
        if sandbox is not None:
            sandbox.terminate()
            try:
                sandbox.wait(timeout=10)
            except subprocess.TimeoutExpired:
                sandbox.kill()
