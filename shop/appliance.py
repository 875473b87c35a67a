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

    with db.session_scope() as session:
        admin = users.bootstrap_admin(session=session)
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


def start_sandbox() -> subprocess.Popen[bytes] | None:
    """Start the offline Stripe sandbox unless one already answers at STRIPE_API_BASE."""
    settings = get_settings()
    base = settings.stripe_api_base.rstrip("/")
    if _sandbox_answers(base):
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
        f"http://127.0.0.1:{settings.port}/api/webhooks/stripe",
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
    _prepare_database()
    sandbox = start_sandbox() if settings.sandbox_mode else None
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
